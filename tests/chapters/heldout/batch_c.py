"""Held-out student mistakes, batch C (chapters 01-08): written after batch B was measured and
tuned on, and measured once, untuned, as the second honest estimate of how the course names
mistakes nobody tuned for. Each hint was chosen before the messages were read.

``python -m tests.chapters.standard --heldout tests/chapters/heldout/batch_c.py [ID ...]``
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

_ENCODER_INIT = '''
class EncoderBlock(torch.nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = torch.nn.LayerNorm(d_model)
        self.ln2 = torch.nn.LayerNorm(d_model)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.ReLU(), torch.nn.Linear(d_ff, d_model))
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

_MHA_SPLIT = '''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d_k = D // n_heads
    def split(Z):
        return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)
    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
'''

HELDOUT = {
    "01-one-hot": {
        "one_hot": {
            "a bool array": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    return np.eye(vocab_size, dtype=bool)[indices]
""", hint="float"),
            "rows indexed with range(len(indices)) (1-D only)": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    X = np.zeros((len(indices), vocab_size))
    X[range(len(indices)), indices] = 1.0
    return X
""", hint="indices.shape"),
        },
        "one_hot_torch": {
            "scatter_ with the indices' own dtype (int32 fails)": Mistake("""
def one_hot_torch(indices, vocab_size):
    X = torch.zeros(*indices.shape, vocab_size, device=indices.device)
    return X.scatter_(-1, indices.unsqueeze(-1), 1.0)
""", hint="int64"),
        },
        "embedding_lookup": {
            "np.take along axis 1": Mistake("""
def embedding_lookup(indices, E):
    return np.take(E, np.asarray(indices), axis=1)
""", hint="rows"),
        },
        "build_vocab": {
            "the first token skipped": Mistake("""
def build_vocab(tokens):
    vocab = {}
    for tok in tokens[1:]:
        if tok not in vocab:
            vocab[tok] = len(vocab)
    return vocab
""", hint="first"),
        },
    },
    "02-rnn": {
        "rnn_step": {
            "W_xh multiplied from the left (np.dot(W_xh, x_t))": Mistake("""
def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    return np.tanh(np.dot(W_xh, x_t.T).T + h_prev @ W_hh + b_h)
""", hint="transposed"),
        },
        "rnn_forward": {
            "H preallocated, step 0 reads H[:, -1] (zeros) instead of h0": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    N, T, _ = X.shape
    H = np.zeros((N, T, h0.shape[1]))
    for s in range(T):
        H[:, s] = rnn_step(X[:, s], H[:, s - 1], W_xh, W_hh, b_h)
    return H
""", hint="h0"),
        },
        "rnn_outputs": {
            "log-softmax returned": Mistake("""
def rnn_outputs(H, W_hy, b_y):
    z = H @ W_hy + b_y
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))
""", hint="softmax"),
        },
        "RNN": {
            "loops over X.shape[0] steps": Mistake(_RNN_INIT + """
    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[0]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint="X.shape[1]"),
            "b_h initialised to zeros": Mistake("""
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        self.W_xh = torch.nn.Parameter(torch.empty(input_size, hidden_size).uniform_(-bound, bound))
        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_h = torch.nn.Parameter(torch.zeros(hidden_size))

    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", caught_by=("test_RNN_visible",), hint="uniform"),
        },
    },
    "03-bptt": {
        "rnn_step_backward": {
            "(1 - h_t)**2 for the tanh derivative": Mistake("""
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = dh_t * (1 - h_t) ** 2
    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)
""", hint="1 - h_t"),
        },
        "rnn_backward": {
            "db_h summed over every axis (a number)": Mistake("""
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), 0.0
    dh_next = np.zeros_like(h0)
    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db.sum()
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="(H,)"),
            "the output gradient of the step before (dH[:, s - 1])": Mistake("""
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s - 1] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="off by one"),
        },
        "truncated_rnn_backward": {
            "chunks of k - 1 steps": Mistake("""
def truncated_rnn_backward(dH, X, h0, H, W_xh, W_hh, k):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    step = max(k - 1, 1)
    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        if s > 0 and s % step == 0:
            dh_next = np.zeros_like(dh_next)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="chunks"),
        },
        "tbptt_forward": {
            "chunks made with torch.split(X, k) (the batch axis)": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    out = []
    h = h0
    for chunk in torch.split(X, k):
        H_chunk, h = rnn(chunk, h)
        out.append(H_chunk)
        h = h.detach()
    return torch.cat(out, dim=1)
""", hint="dim=1"),
        },
        "numerical_gradient": {
            "/ 2 * h without parentheses": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old - h
        fm = f(x)
        x[idx] = old
        grad[idx] = (fp - fm) / 2 * h
    return grad
""", hint="2 * h"),
        },
    },
    "04-gradients": {
        "hidden_jacobian": {
            "1 / cosh(h_t)**2 (the derivative at h_t, not at a)": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return (1 / np.cosh(h_t) ** 2)[:, :, None] * W_hh.T[None]
""", hint="tanh"),
        },
        "gradient_norms_through_time": {
            "starts from ones instead of dh_T": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g = np.ones_like(dh_T)
    out = [np.linalg.norm(g)]
    for s in range(H.shape[1] - 1, 0, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh.T
        out.append(np.linalg.norm(g))
    return np.array(out[::-1])
""", hint="dh_T"),
        },
        "clip_grad_norm": {
            "the L1 norm": Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(sum(np.abs(g).sum() for g in grads))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads], total
""", hint="L1"),
        },
        "clip_grad_value": {
            "returns a generator": Mistake("""
def clip_grad_value(grads, clip_value):
    return (np.clip(g, -clip_value, clip_value) for g in grads)
""", hint="list"),
        },
        "clip_grad_norm_torch": {
            "factor clamped with min=1 (never scales down)": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g.mul_(torch.clamp(max_norm / (total + 1e-6), min=1.0))
    return total
""", hint="max=1"),
        },
    },
    "05-lstm": {
        "sigmoid": {
            "exp(-x) / (1 + exp(-x))": Mistake("""
def sigmoid(x):
    e = np.exp(-x)
    return e / (1 + e)
""", hint="sign"),
        },
        "lstm_step": {
            "the forget gate scales g, the input gate c_prev": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    i, f, g, o = np.split(x_t @ W_x + h_prev @ W_h + b, 4, axis=1)
    c = sigmoid(f) * np.tanh(g) + sigmoid(i) * c_prev
    return sigmoid(o) * np.tanh(c), c
""", hint="c_prev"),
            "H read from x_t.shape[1]": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    H = x_t.shape[1]
    a = x_t @ W_x + h_prev @ W_h + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2*H])
    g, o = np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:4*H])
    c = f * c_prev + i * g
    return o * np.tanh(c), c
""", hint="h_prev.shape"),
        },
        "gru_step": {
            "b_h left out of r and z": Mistake("""
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    ax, hw = x_t @ W_x + b_x, h_prev @ W_h
    r, z = sigmoid(ax[:, :H] + hw[:, :H]), sigmoid(ax[:, H:2*H] + hw[:, H:2*H])
    n = np.tanh(ax[:, 2*H:] + r * (hw[:, 2*H:] + b_h[2*H:]))
    return (1 - z) * n + z * h_prev
""", hint="b_h"),
        },
        "LSTM": {
            "returns (H, h_T, c_T) flat": Mistake(_LSTM_INIT + """
    def forward(self, X, state=None):
        N, T, _ = X.shape
        Hd = self.W_h.shape[0]
        h, c = state if state is not None else (X.new_zeros(N, Hd), X.new_zeros(N, Hd))
        outs = []
        for s in range(T):
            i, f, g, o = (X[:, s] @ self.W_x + h @ self.W_h + self.b).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1), h, c
""", hint="(h_T, c_T)"),
            "bias added twice": Mistake(_LSTM_INIT + """
    def forward(self, X, state=None):
        N, T, _ = X.shape
        Hd = self.W_h.shape[0]
        h, c = state if state is not None else (X.new_zeros(N, Hd), X.new_zeros(N, Hd))
        x_gates = X @ self.W_x + self.b
        outs = []
        for s in range(T):
            i, f, g, o = (x_gates[:, s] + h @ self.W_h + self.b).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1), (h, c)
""", hint="bias"),
        },
    },
    "06-self-attention": {
        "project_qkv": {
            "K made with W_q": Mistake("""
def project_qkv(X, W_q, W_k, W_v):
    return X @ W_q, X @ W_q, X @ W_v
""", hint="W_k"),
        },
        "attention_scores": {
            "divided by sqrt(Q.shape[0])": Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ np.swapaxes(K, -1, -2)
    return S / np.sqrt(Q.shape[0]) if scaled else S
""", hint="d_k"),
        },
        "softmax": {
            "divided by the norm instead of the sum": Mistake("""
def softmax(S, axis=-1):
    S = np.asarray(S)
    m = np.max(S, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(S - m)
    total = np.linalg.norm(e, axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1.0)
""", hint="sum"),
        },
        "aggregate": {
            "A @ V.T": Mistake("""
def aggregate(A, V):
    return A @ np.swapaxes(V, -1, -2)
""", hint="A @ V"),
        },
        "causal_mask": {
            "one step of the future allowed (k=1)": Mistake("""
def causal_mask(T):
    return np.tril(np.ones((T, T), dtype=bool), k=1)
""", hint="j <= i"),
        },
        "self_attention": {
            "the weights divided by sqrt(d_k) after the softmax": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled=False)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    A = softmax(S)
    if scaled:
        A = A / np.sqrt(Q.shape[-1])
    return A @ V, A
""", hint="before the softmax"),
        },
        "self_attention_torch": {
            "V made with W_k": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_k
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
""", hint="W_v"),
            "the mask remade with torch.tensor (default device)": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~torch.tensor(mask.tolist()), float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
""", hint="device"),
        },
    },
    "07-positional-encoding": {
        "sinusoidal_pe": {
            "the table transposed (d_model, num_positions)": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE.T
""", hint="rows"),
        },
        "add_positional_encoding": {
            "returns the table alone": Mistake("""
def add_positional_encoding(X):
    T, D = X.shape[-2:]
    return np.broadcast_to(sinusoidal_pe(T, D), X.shape).copy()
""", hint="X +"),
        },
        "pe_shift_matrix": {
            "the minus sign missing in the blocks": Mistake("""
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = offset * base ** (-np.arange(0, d_model, 2) / d_model)
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), np.sin(w[k])], [np.sin(w[k]), np.cos(w[k])]]
    return M
""", hint="sign"),
        },
        "SinusoidalPositionalEncoding": {
            "max_len ignored (d_model rows)": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.register_buffer("pe", torch.tensor(sinusoidal_pe(d_model, d_model, base), dtype=torch.float32))

    def forward(self, X):
        return X + self.pe[: X.shape[1]].to(X.dtype)
""", hint="max_len"),
        },
    },
    "08-transformer": {
        "layer_norm": {
            "gamma and beta applied before normalising": Mistake("""
def layer_norm(X, gamma, beta, eps=1e-5):
    Y = gamma * X + beta
    mu = Y.mean(axis=-1, keepdims=True)
    return (Y - mu) / np.sqrt(Y.var(axis=-1, keepdims=True) + eps)
""", hint="after"),
        },
        "multi_head_attention": {
            "V not split into heads": Mistake(_MHA_SPLIT + '''    V = X_kv @ W_v
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    top = S.max(axis=-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(top), top, 0.0))
    total = E.sum(axis=-1, keepdims=True)
    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0)
    concat = np.swapaxes(A @ V[..., None, :, :], -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (-1,))
    return concat @ W_o, A
''', hint="split"),
            "scaled after the softmax": Mistake(_MHA_SPLIT + '''    S = Q @ np.swapaxes(K, -1, -2)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    top = S.max(axis=-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(top), top, 0.0))
    total = E.sum(axis=-1, keepdims=True)
    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0) / np.sqrt(d_k)
    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))
    return concat @ W_o, A
''', hint="before the softmax"),
        },
        "feed_forward": {
            "b_1 as the ReLU's threshold": Mistake("def feed_forward(X, W_1, b_1, W_2, b_2):\n"
                                                   "    return np.maximum(X @ W_1, b_1) @ W_2 + b_2\n", hint="b_1"),
        },
        "encoder_block": {
            "the attention weights A used as the output": Mistake('''
def encoder_block(X, params, n_heads, mask=None):
    p = params
    attended = multi_head_attention(X, X, p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, mask)[1]
    H = layer_norm(X + attended, p["ln1_gamma"], p["ln1_beta"])
    return layer_norm(H + feed_forward(H, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln2_gamma"], p["ln2_beta"])
''', hint="(out, A)"),
        },
        "MultiHeadAttention": {
            "keys and values from X_q": Mistake(_MHA_INIT + '''
    def forward(self, X_q, X_kv, mask=None):
        N, T_q, D = X_q.shape
        h = self.n_heads
        d_k = D // h
        Q = (X_q @ self.W_q).view(N, T_q, h, d_k).transpose(1, 2)
        K = (X_q @ self.W_k).view(N, T_q, h, d_k).transpose(1, 2)
        V = (X_q @ self.W_v).view(N, T_q, h, d_k).transpose(1, 2)
        S = Q @ K.transpose(-2, -1) / math.sqrt(d_k)
        if mask is not None:
            S = S.masked_fill(~mask, float("-inf"))
        A = torch.softmax(S, dim=-1).nan_to_num(0.0)
        heads = (A @ V).transpose(1, 2).reshape(N, T_q, D)
        return heads @ self.W_o, A
''', hint="X_kv"),
            "W_o multiplied from the left": Mistake(_MHA_INIT + '''
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
        return self.W_o @ heads, A
''', hint="order"),
        },
        "EncoderBlock": {
            "feed-forward first, attention second": Mistake(_ENCODER_INIT + '''
    def forward(self, X, mask=None):
        H = self.ln1(X + self.ff(X))
        return self.ln2(H + self.attn(H, H, mask)[0])
''', hint="order"),
        },
        "DecoderBlock": {
            "cross-attention before self-attention": Mistake(_DECODER_INIT + '''
    def forward(self, Y, memory, tgt_mask=None, memory_mask=None):
        H = self.ln1(Y + self.cross_attn(Y, memory, memory_mask)[0])
        H = self.ln2(H + self.self_attn(H, H, tgt_mask)[0])
        return self.ln3(H + self.ff(H))
''', hint="order"),
        },
    },
}
