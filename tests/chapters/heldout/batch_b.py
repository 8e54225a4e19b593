"""Held-out student mistakes, batch B (chapters 01-08): written together with batch A, before
any tuning, and kept out of it: its naming rate is measured once, after batch A's tuning, as the
honest estimate of how the course names mistakes nobody tuned for.

``python -m tests.chapters.standard --heldout tests/chapters/heldout/batch_b.py [ID ...]``
"""
from tests.harness import Mistake

_RNN_INIT = """
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        self.W_xh = torch.nn.Parameter(torch.empty(input_size, hidden_size).uniform_(-bound, bound))
        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
"""

_LSTM_INIT = """
class LSTM(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = hidden_size ** -0.5
        self.W_x = torch.nn.Parameter(torch.empty(input_size, 4 * hidden_size).uniform_(-k, k))
        self.W_h = torch.nn.Parameter(torch.empty(hidden_size, 4 * hidden_size).uniform_(-k, k))
        self.b = torch.nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))
"""

_MHA_INIT = '''
class MultiHeadAttention(torch.nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.W_q, self.W_k, self.W_v, self.W_o = (
            torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(d_model, d_model))) for _ in range(4))
'''

_DECODER_INIT = '''
class DecoderBlock(torch.nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads)
        self.cross_attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = torch.nn.LayerNorm(d_model)
        self.ln2 = torch.nn.LayerNorm(d_model)
        self.ln3 = torch.nn.LayerNorm(d_model)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.ReLU(), torch.nn.Linear(d_ff, d_model))
'''

_ENCODER_INIT = '''
class EncoderBlock(torch.nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = torch.nn.LayerNorm(d_model)
        self.ln2 = torch.nn.LayerNorm(d_model)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.ReLU(), torch.nn.Linear(d_ff, d_model))
'''

HELDOUT = {
    "01-one-hot": {
        "one_hot_torch": {
            "flattened, not reshaped back": Mistake("""
def one_hot_torch(indices, vocab_size):
    flat = indices.reshape(-1).long()
    X = torch.zeros(flat.numel(), vocab_size, device=indices.device)
    X[torch.arange(flat.numel(), device=indices.device), flat] = 1.0
    return X
""", hint="flattened"),
            "bool result": Mistake("""
def one_hot_torch(indices, vocab_size):
    return indices.unsqueeze(-1) == torch.arange(vocab_size, device=indices.device)
""", hint="float32"),
        },
        "one_hot": {
            "array in the indices' integer dtype": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    X = np.zeros(indices.shape + (vocab_size,), dtype=indices.dtype)
    np.put_along_axis(X, indices[..., None], 1, axis=-1)
    return X
""", hint="float"),
        },
        "embedding_lookup": {
            "E[indices].T": Mistake("""
def embedding_lookup(indices, E):
    return E[np.asarray(indices)].T
""", hint="transposed"),
        },
        "build_vocab": {
            "each token gets the position of its last appearance": Mistake("""
def build_vocab(tokens):
    return {tok: i for i, tok in enumerate(tokens)}
""", hint="last"),
        },
    },
    "02-rnn": {
        "rnn_step": {
            "the tanh is missing": Mistake("def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n"
                                           "    return x_t @ W_xh + h_prev @ W_hh + b_h", hint="tanh"),
        },
        "rnn_forward": {
            "returns the list of states": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for s in range(X.shape[1]):
        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)
        states.append(h)
    return states
""", hint="axis 1"),
            "runs backwards in time": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for s in reversed(range(X.shape[1])):
        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states[::-1], axis=1)
""", hint="backwards"),
        },
        "rnn_outputs": {
            "bias added before the product": Mistake("def rnn_outputs(H, W_hy, b_y):\n    return (H + b_y) @ W_hy", hint="b_y"),
        },
        "RNN": {
            "W_xh transposed in forward": Mistake(_RNN_INIT + """
    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh.T + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint="transposed"),
            "W_hh initialised as the identity": Mistake("""
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        self.W_xh = torch.nn.Parameter(torch.empty(input_size, hidden_size).uniform_(-bound, bound))
        self.W_hh = torch.nn.Parameter(torch.eye(hidden_size))
        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", caught_by=("test_RNN_visible", "test_RNN_hidden"), hint="uniform"),
        },
    },
    "03-bptt": {
        "rnn_step_backward": {
            "dh_prev uses W_xh": Mistake("""
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = dh_t * (1 - h_t ** 2)
    return da @ W_xh.T, da @ W_xh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)
""", hint="W_hh"),
            "db_h without the tanh derivative": Mistake("""
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = dh_t * (1 - h_t ** 2)
    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, dh_t.sum(axis=0)
""", hint="tanh derivative"),
        },
        "rnn_backward": {
            "dW_xh reset inside the loop": Mistake("""
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_hh, db_h = np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in reversed(range(T)):
        dW_xh = np.zeros_like(W_xh)
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="overwritten"),
        },
        "truncated_rnn_backward": {
            "cut placed at s % k == 1": Mistake("""
def truncated_rnn_backward(dH, X, h0, H, W_xh, W_hh, k):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        if s > 1 and s % k == 1:
            dh_next = np.zeros_like(dh_next)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="one step late"),
        },
        "tbptt_forward": {
            "chunks joined along the batch axis": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    out = []
    h = h0
    for start in range(0, X.shape[1], k):
        H_chunk, h = rnn(X[:, start:start + k], h)
        out.append(H_chunk)
        h = h.detach()
    return torch.cat(out)
""", hint="dim=1"),
            "the state is not passed to the next chunk": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    out = []
    for start in range(0, X.shape[1], k):
        H_chunk, _ = rnn(X[:, start:start + k], h0 if start == 0 else None)
        out.append(H_chunk)
    return torch.cat(out, dim=1)
""", hint="state"),
        },
        "numerical_gradient": {
            "x restored only after the + step": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old
        x[idx] -= h
        fm = f(x)
        grad[idx] = (fp - fm) / (2 * h)
    return grad
""", hint="restore"),
        },
    },
    "04-gradients": {
        "hidden_jacobian": {
            "h_t**2 instead of 1 - h_t**2": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return (h_t ** 2)[:, :, None] * W_hh.T[None]
""", hint="1 - h_t"),
        },
        "gradient_norms_through_time": {
            "one step short: the loop stops before h_1": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    T = H.shape[1]
    norms = np.zeros(T)
    g = dh_T
    norms[-1] = np.linalg.norm(g)
    for s in range(T - 1, 1, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh.T
        norms[s - 1] = np.linalg.norm(g)
    return norms
""", hint="h_1"),
            "per-sequence norms summed": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.linalg.norm(dh_T, axis=1).sum()]
    for s in range(H.shape[1] - 1, 0, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh.T
        out.append(np.linalg.norm(g, axis=1).sum())
    return np.array(out[::-1])
""", hint="summed"),
        },
        "clip_grad_norm": {
            "squares the sums instead of summing the squares": Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g) ** 2 for g in grads)))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads], total
""", hint="square"),
        },
        "clip_grad_value": {
            "returns a tuple": Mistake("""
def clip_grad_value(grads, clip_value):
    return tuple(np.clip(g, -clip_value, clip_value) for g in grads)
""", hint="list"),
        },
        "clip_grad_norm_torch": {
            "parameters without .grad not skipped when scaling": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    params = list(parameters)
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in params if p.grad is not None))
    for p in params:
        p.grad.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", hint="None"),
        },
    },
    "05-lstm": {
        "sigmoid": {
            "0.5 * (1 + tanh(x)): the half is missing inside": Mistake("""
def sigmoid(x):
    return 0.5 * (1 + np.tanh(x))
""", hint="x / 2"),
        },
        "lstm_step": {
            "tanh on the new cell state": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    i, f, g, o = np.split(x_t @ W_x + h_prev @ W_h + b, 4, axis=1)
    c = np.tanh(sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g))
    return sigmoid(o) * np.tanh(c), c
""", hint="tanh"),
        },
        "lstm_forward": {
            "the hidden state is not carried over (the cell state is)": Mistake("""
def lstm_forward(X, h0, c0, W_x, W_h, b):
    c, hs, cs = c0, [], []
    for s in range(X.shape[1]):
        h, c = lstm_step(X[:, s], h0, c, W_x, W_h, b)
        hs.append(h); cs.append(c)
    return np.stack(hs, 1), np.stack(cs, 1)
""", hint="hidden state is not carried"),
        },
        "gru_step": {
            "tanh for the update gate": Mistake("""
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    ax, ah = x_t @ W_x + b_x, h_prev @ W_h + b_h
    r, z = sigmoid(ax[:, :H] + ah[:, :H]), np.tanh(ax[:, H:2*H] + ah[:, H:2*H])
    n = np.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])
    return (1 - z) * n + z * h_prev
""", hint="sigmoid"),
        },
        "LSTM": {
            "time taken from axis 0 (X is batch first)": Mistake(_LSTM_INIT + """
    def forward(self, X, state=None):
        N, T, _ = X.shape
        Hd = self.W_h.shape[0]
        h, c = state if state is not None else (X.new_zeros(N, Hd), X.new_zeros(N, Hd))
        outs = []
        for s in range(X.shape[0]):
            i, f, g, o = (X[s] @ self.W_x + h @ self.W_h + self.b).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1), (h, c)
""", hint="X[:, s]"),
        },
    },
    "06-self-attention": {
        "project_qkv": {
            "returns a list": Mistake("""
def project_qkv(X, W_q, W_k, W_v):
    return [X @ W_q, X @ W_k, X @ W_v]
""", hint="tuple"),
        },
        "attention_scores": {
            "einsum with the output indices swapped": Mistake("""
def attention_scores(Q, K, scaled=True):
    S = np.einsum("...id,...jd->...ji", Q, K)
    return S / np.sqrt(Q.shape[-1]) if scaled else S
""", hint="Q and K are swapped"),
        },
        "softmax": {
            "an all -inf maximum replaced by nan_to_num": Mistake("""
def softmax(S, axis=-1):
    S = np.asarray(S)
    m = np.nan_to_num(np.max(S, axis=axis, keepdims=True))
    e = np.exp(S - m)
    return e / e.sum(axis=axis, keepdims=True)
""", hint="all -inf"),
        },
        "aggregate": {
            "A.T @ V": Mistake("""
def aggregate(A, V):
    return A.T @ V
""", hint="transposed"),
        },
        "causal_mask": {
            "integer mask": Mistake("""
def causal_mask(T):
    return np.tril(np.ones((T, T), dtype=int))
""", hint="bool"),
        },
        "self_attention": {
            "divided by sqrt(d_v)": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled=False)
    if scaled:
        S = S / np.sqrt(V.shape[-1])
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    A = softmax(S)
    return A @ V, A
""", hint="d_k"),
        },
        "self_attention_torch": {
            "-inf as a torch.tensor on the default device": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = torch.where(mask, S, torch.tensor(float("-inf")))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
""", hint="device"),
            "masked scores filled with 0": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~mask, 0.0)
    A = torch.softmax(S, dim=-1)
    return A @ V, A
""", hint="-inf"),
        },
    },
    "07-positional-encoding": {
        "sinusoidal_pe": {
            "num_positions in the exponent instead of d_model": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) / num_positions)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
""", hint="d_model"),
            "the odd check inverted": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2 == 0:
        raise ValueError("d_model must be even")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
""", hint="odd"),
        },
        "SinusoidalPositionalEncoding": {
            "the whole table added (not sliced to T)": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.register_buffer("pe", torch.tensor(sinusoidal_pe(max_len, d_model, base), dtype=torch.float32))

    def forward(self, X):
        return X + self.pe.to(X.dtype)
""", hint="[:T]"),
        },
        "pe_shift_matrix": {
            "offset in the exponent": Mistake("""
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = base ** (-offset * np.arange(0, d_model, 2) / d_model)
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), np.sin(w[k])], [-np.sin(w[k]), np.cos(w[k])]]
    return M
""", hint="offset"),
        },
    },
    "08-transformer": {
        "layer_norm": {
            "beta left out": Mistake("""
def layer_norm(X, gamma, beta, eps=1e-5):
    mu = X.mean(axis=-1, keepdims=True)
    return gamma * (X - mu) / np.sqrt(X.var(axis=-1, keepdims=True) + eps)
""", hint="beta"),
        },
        "multi_head_attention": {
            "mask applied after the softmax": Mistake('''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d_k = D // n_heads
    def split(Z):
        return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)
    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    E = np.exp(S - S.max(axis=-1, keepdims=True))
    A = E / E.sum(axis=-1, keepdims=True)
    if mask is not None:
        A = A * mask
    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))
    return concat @ W_o, A
''', hint="after the softmax"),
            "scores divided by sqrt(n_heads)": Mistake('''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d_k = D // n_heads
    def split(Z):
        return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)
    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(n_heads)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    top = S.max(axis=-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(top), top, 0.0))
    total = E.sum(axis=-1, keepdims=True)
    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0)
    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))
    return concat @ W_o, A
''', hint="sqrt(d_k)"),
        },
        "feed_forward": {
            "np.max instead of np.maximum": Mistake("def feed_forward(X, W_1, b_1, W_2, b_2):\n"
                                                    "    return np.max(X @ W_1 + b_1, 0) @ W_2 + b_2\n", hint="np.maximum"),
        },
        "encoder_block": {
            "the feed-forward reads X instead of H": Mistake('''
def encoder_block(X, params, n_heads, mask=None):
    p = params
    attended, _ = multi_head_attention(X, X, p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, mask)
    H = layer_norm(X + attended, p["ln1_gamma"], p["ln1_beta"])
    return layer_norm(H + feed_forward(X, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln2_gamma"], p["ln2_beta"])
''', hint="H"),
        },
        "MultiHeadAttention": {
            "softmax over dim 1 (the heads)": Mistake(_MHA_INIT + '''
    def forward(self, X_q, X_kv, mask=None):
        N, T_q, D = X_q.shape
        T_kv, h = X_kv.shape[1], self.n_heads
        d_k = D // h
        Q = (X_q @ self.W_q).view(N, T_q, h, d_k).transpose(1, 2)
        K = (X_kv @ self.W_k).view(N, T_kv, h, d_k).transpose(1, 2)
        V = (X_kv @ self.W_v).view(N, T_kv, h, d_k).transpose(1, 2)
        S = Q @ K.transpose(-2, -1) / math.sqrt(d_k)
        if mask is not None:
            S = S.masked_fill(~mask, float("-inf"))
        A = torch.softmax(S, dim=1).nan_to_num(0.0)
        heads = (A @ V).transpose(1, 2).reshape(N, T_q, D)
        return heads @ self.W_o, A
''', hint="keys"),
            "weights from torch.randn (not Xavier)": Mistake('''
class MultiHeadAttention(torch.nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.W_q, self.W_k, self.W_v, self.W_o = (torch.nn.Parameter(torch.randn(d_model, d_model)) for _ in range(4))

    def forward(self, X_q, X_kv, mask=None):
        N, T_q, D = X_q.shape
        T_kv, h = X_kv.shape[1], self.n_heads
        d_k = D // h
        Q = (X_q @ self.W_q).view(N, T_q, h, d_k).transpose(1, 2)
        K = (X_kv @ self.W_k).view(N, T_kv, h, d_k).transpose(1, 2)
        V = (X_kv @ self.W_v).view(N, T_kv, h, d_k).transpose(1, 2)
        S = Q @ K.transpose(-2, -1) / math.sqrt(d_k)
        if mask is not None:
            S = S.masked_fill(~mask, float("-inf"))
        A = torch.softmax(S, dim=-1).nan_to_num(0.0)
        heads = (A @ V).transpose(1, 2).reshape(N, T_q, D)
        return heads @ self.W_o, A
''', caught_by=("test_MultiHeadAttention_hidden",), hint="xavier"),
        },
        "EncoderBlock": {
            "no residual around the attention": Mistake(_ENCODER_INIT + '''
    def forward(self, X, mask=None):
        H = self.ln1(self.attn(X, X, mask)[0])
        return self.ln2(H + self.ff(H))
''', hint="residual"),
        },
        "DecoderBlock": {
            "ln2 used again where ln3 belongs": Mistake(_DECODER_INIT + '''
    def forward(self, Y, memory, tgt_mask=None, memory_mask=None):
        H = self.ln1(Y + self.self_attn(Y, Y, tgt_mask)[0])
        H = self.ln2(H + self.cross_attn(H, memory, memory_mask)[0])
        return self.ln2(H + self.ff(H))
''', hint="ln3"),
        },
    },
}
