"""Held-out student mistakes, batch D (chapters 01-08): written after batches A, B and C were tuned
on, and kept out of every tuning: measured once, as the last honest estimate, and left here for the
next engineer to measure against (tune on it only after writing a fresh batch to replace it).
Each hint was chosen before the messages were read.

``python -m tests.chapters.standard --heldout tests/chapters/heldout/batch_d.py [ID ...]``
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

_MHA_NUMPY = '''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d_k = D // n_heads
    def split(Z):
        return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)
    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
'''

HELDOUT = {
    "01-one-hot": {
        "one_hot": {
            "X[..., indices] = 1 (columns set in every row)": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    X = np.zeros(indices.shape + (vocab_size,))
    X[..., indices] = 1.0
    return X
""", hint="column"),
        },
        "one_hot_torch": {
            "float64 from torch.eye(...).double()": Mistake("""
def one_hot_torch(indices, vocab_size):
    return torch.eye(vocab_size, device=indices.device)[indices.long()].double()
""", hint="float32"),
        },
        "embedding_lookup": {
            "one_hot with V taken from E.shape[1]": Mistake("""
def embedding_lookup(indices, E):
    idx = np.asarray(indices)
    return (idx[..., None] == np.arange(E.shape[1])).astype(float) @ E
""", hint="E.shape[0]"),
        },
        "build_vocab": {
            "index -> token, the mapping inverted": Mistake("""
def build_vocab(tokens):
    vocab = {}
    for tok in tokens:
        if tok not in vocab.values():
            vocab[len(vocab)] = tok
    return vocab
""", hint="inverted"),
        },
    },
    "02-rnn": {
        "rnn_step": {
            "tanh of each term": Mistake("def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n"
                                         "    return np.tanh(x_t @ W_xh) + np.tanh(h_prev @ W_hh) + b_h", hint="tanh"),
        },
        "rnn_forward": {
            "stacked along the last axis (N, H, T)": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for s in range(X.shape[1]):
        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states, axis=-1)
""", hint="swapped"),
        },
        "rnn_outputs": {
            "the first step only": Mistake("def rnn_outputs(H, W_hy, b_y):\n    return H[:, :1] @ W_hy + b_y", hint="first"),
        },
        "RNN": {
            "h_T returned as the first state": Mistake(_RNN_INIT + """
    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), states[0]
""", hint="h_T"),
            "the input multiplied by W_hh": Mistake(_RNN_INIT + """
    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_hh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint="W_xh"),
        },
    },
    "03-bptt": {
        "rnn_step_backward": {
            "dx_t through W_hh": Mistake("""
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = dh_t * (1 - h_t ** 2)
    return da @ W_hh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)
""", hint="W_xh"),
        },
        "rnn_backward": {
            "weight gradients averaged over time": Mistake("""
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx / T
        dW_hh += dWh / T
        db_h += db / T
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="sum"),
            "dX stored only after the loop (the last step visited)": Mistake("""
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    dX[:, s] = dx
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="dX"),
        },
        "truncated_rnn_backward": {
            "only the last k steps get gradients": Mistake("""
def truncated_rnn_backward(dH, X, h0, H, W_xh, W_hh, k):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in range(T - 1, max(T - 1 - k, -1), -1):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next if T <= k else np.zeros_like(h0), dW_xh, dW_hh, db_h
""", hint="chunk"),
        },
        "tbptt_forward": {
            "every chunk starts from h0": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    out = []
    for start in range(0, X.shape[1], k):
        H_chunk, _ = rnn(X[:, start:start + k], h0)
        out.append(H_chunk)
    return torch.cat(out, dim=1)
""", hint="carried"),
        },
        "numerical_gradient": {
            "x restored to old + h": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old - h
        fm = f(x)
        x[idx] = old + h
        grad[idx] = (fp - fm) / (2 * h)
    return grad
""", hint="restore"),
        },
    },
    "04-gradients": {
        "hidden_jacobian": {
            "the derivative on the columns": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return (1 - h_t ** 2)[:, None, :] * W_hh[None]
""", hint="transposed"),
        },
        "gradient_norms_through_time": {
            "squared norms": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.sum(dh_T ** 2)]
    for s in range(H.shape[1] - 1, 0, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh.T
        out.append(np.sum(g ** 2))
    return np.array(out[::-1])
""", hint="square root"),
        },
        "clip_grad_norm": {
            "factor total / max_norm (inverted)": Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    factor = total / max_norm if total > max_norm else 1.0
    return [g * factor for g in grads], total
""", hint="max_norm / "),
        },
        "clip_grad_norm_torch": {
            "norm returned as a new float32 tensor": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = sum(float((g ** 2).sum()) for g in grads) ** 0.5
    for g in grads:
        g.mul_(min(1.0, max_norm / (total + 1e-6)))
    return torch.tensor(total, device=grads[0].device, dtype=torch.float32)
""", hint="dtype"),
        },
    },
    "05-lstm": {
        "sigmoid": {
            "an if on the whole array": Mistake("""
def sigmoid(x):
    if x >= 0:
        return 1 / (1 + np.exp(-x))
    return np.exp(x) / (1 + np.exp(x))
""", hint="np.where"),
        },
        "lstm_step": {
            "h_prev multiplied by W_x and x_t by W_h": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    i, f, g, o = np.split(h_prev @ W_x + x_t @ W_h + b, 4, axis=1)
    c = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c
""", hint="swapped"),
        },
        "lstm_forward": {
            "C holds tanh(c_t)": Mistake("""
def lstm_forward(X, h0, c0, W_x, W_h, b):
    h, c, hs, cs = h0, c0, [], []
    for s in range(X.shape[1]):
        h, c = lstm_step(X[:, s], h, c, W_x, W_h, b)
        hs.append(h); cs.append(np.tanh(c))
    return np.stack(hs, 1), np.stack(cs, 1)
""", hint="tanh"),
        },
        "gru_step": {
            "the r block used for z too": Mistake("""
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    ax, ah = x_t @ W_x + b_x, h_prev @ W_h + b_h
    r = sigmoid(ax[:, :H] + ah[:, :H])
    z = r
    n = np.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])
    return (1 - z) * n + z * h_prev
""", hint="z"),
        },
        "LSTM": {
            "the given state ignored": Mistake(_LSTM_INIT + """
    def forward(self, X, state=None):
        N, T, _ = X.shape
        Hd = self.W_h.shape[0]
        h, c = X.new_zeros(N, Hd), X.new_zeros(N, Hd)
        outs = []
        for s in range(T):
            i, f, g, o = (X[:, s] @ self.W_x + h @ self.W_h + self.b).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1), (h, c)
""", hint="state"),
        },
    },
    "06-self-attention": {
        "project_qkv": {
            "V made with W_v.T": Mistake("""
def project_qkv(X, W_q, W_k, W_v):
    return X @ W_q, X @ W_k, X @ W_v.T
""", hint="transposed"),
        },
        "attention_scores": {
            "K.swapaxes(0, 1)": Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ K.swapaxes(0, 1)
    return S / np.sqrt(Q.shape[-1]) if scaled else S
""", hint="last two"),
        },
        "softmax": {
            "scores clipped to [-500, 500] instead of shifted": Mistake("""
def softmax(S, axis=-1):
    e = np.exp(np.clip(S, -500, 500))
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1.0)
""", hint="maximum"),
        },
        "aggregate": {
            "the weighted sum divided by T_kv": Mistake("""
def aggregate(A, V):
    return (A @ V) / A.shape[-1]
""", hint="sum"),
        },
        "causal_mask": {
            "np.tri(T) (floats)": Mistake("""
def causal_mask(T):
    return np.tri(T)
""", hint="bool"),
        },
        "self_attention": {
            "the mask added to the scores": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled)
    if mask is not None:
        S = S + mask
    A = softmax(S)
    return A @ V, A
""", hint="-inf"),
        },
        "self_attention_torch": {
            "masked weights zeroed after the softmax": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    A = torch.softmax(S, dim=-1)
    if mask is not None:
        A = A.masked_fill(~mask, 0.0)
    return A @ V, A
""", hint="after the softmax"),
        },
    },
    "07-positional-encoding": {
        "sinusoidal_pe": {
            "the exponent from the odd columns, (2k + 1)/d": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(1, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
""", hint="2k"),
        },
        "add_positional_encoding": {
            "X.shape[-1] for both T and D": Mistake("""
def add_positional_encoding(X):
    D = X.shape[-1]
    return X + sinusoidal_pe(D, D)
""", hint="X.shape[-2]"),
        },
        "pe_shift_matrix": {
            "offset - 1 steps": Mistake("""
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = (offset - 1) * base ** (-np.arange(0, d_model, 2) / d_model)
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), np.sin(w[k])], [-np.sin(w[k]), np.cos(w[k])]]
    return M
""", hint="offset"),
        },
        "SinusoidalPositionalEncoding": {
            "the table sliced along its columns": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.register_buffer("pe", torch.tensor(sinusoidal_pe(max_len, d_model, base), dtype=torch.float32))

    def forward(self, X):
        return X + self.pe[:, : X.shape[1]].to(X.dtype)
""", hint="[:T]"),
        },
    },
    "08-transformer": {
        "layer_norm": {
            "mean per row, variance of the whole array": Mistake("""
def layer_norm(X, gamma, beta, eps=1e-5):
    mu = X.mean(axis=-1, keepdims=True)
    return gamma * (X - mu) / np.sqrt(X.var() + eps) + beta
""", hint="last axis"),
        },
        "multi_head_attention": {
            "NaN on a fully masked row": Mistake(_MHA_NUMPY + '''    if mask is not None:
        S = np.where(mask, S, -np.inf)
    E = np.exp(S - S.max(axis=-1, keepdims=True))
    A = E / E.sum(axis=-1, keepdims=True)
    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))
    return concat @ W_o, A
''', hint="no allowed key"),
        },
        "feed_forward": {
            "ReLU after W_2 instead of after W_1": Mistake("def feed_forward(X, W_1, b_1, W_2, b_2):\n"
                                                           "    return np.maximum((X @ W_1 + b_1) @ W_2 + b_2, 0)\n", hint="ReLU"),
        },
        "encoder_block": {
            "the feed-forward reads the attention output": Mistake('''
def encoder_block(X, params, n_heads, mask=None):
    p = params
    attended, _ = multi_head_attention(X, X, p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, mask)
    H = layer_norm(X + attended, p["ln1_gamma"], p["ln1_beta"])
    return layer_norm(H + feed_forward(attended, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln2_gamma"], p["ln2_beta"])
''', hint="H"),
        },
        "MultiHeadAttention": {
            "V not transposed to heads": Mistake(_MHA_INIT + '''
    def forward(self, X_q, X_kv, mask=None):
        N, T_q, D = X_q.shape
        T_kv, h = X_kv.shape[1], self.n_heads
        d_k = D // h
        Q = (X_q @ self.W_q).view(N, T_q, h, d_k).transpose(1, 2)
        K = (X_kv @ self.W_k).view(N, T_kv, h, d_k).transpose(1, 2)
        V = (X_kv @ self.W_v).view(N, h, T_kv, d_k)
        S = Q @ K.transpose(-2, -1) / math.sqrt(d_k)
        if mask is not None:
            S = S.masked_fill(~mask, float("-inf"))
        A = torch.softmax(S, dim=-1).nan_to_num(0.0)
        heads = (A @ V).transpose(1, 2).reshape(N, T_q, D)
        return heads @ self.W_o, A
''', hint="V"),
        },
        "EncoderBlock": {
            "the second residual adds X": Mistake(_ENCODER_INIT + '''
    def forward(self, X, mask=None):
        H = self.ln1(X + self.attn(X, X, mask)[0])
        return self.ln2(X + self.ff(H))
''', hint="second residual"),
        },
        "DecoderBlock": {
            "tgt_mask given to the cross-attention": Mistake(_DECODER_INIT + '''
    def forward(self, Y, memory, tgt_mask=None, memory_mask=None):
        H = self.ln1(Y + self.self_attn(Y, Y, tgt_mask)[0])
        H = self.ln2(H + self.cross_attn(H, memory, tgt_mask)[0])
        return self.ln3(H + self.ff(H))
''', hint="memory_mask"),
        },
    },
}
