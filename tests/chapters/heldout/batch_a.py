"""Held-out student mistakes, batch A (chapters 01-08): written before the oracles' mistake
tables and messages were tuned, measured, then used for the tuning.

``python -m tests.chapters.standard --heldout tests/chapters/heldout/batch_a.py [ID ...]``
prints how many of them get a failure message that names them. Each hint was chosen before the
messages were read: the words a good message would use.
"""
from tests.harness import Mistake

HELDOUT = {
    "01-one-hot": {
        "one_hot_torch": {
            "torch.eye(V) indexed by the indices (eye on the default device)": Mistake("""
def one_hot_torch(indices, vocab_size):
    return torch.eye(vocab_size)[indices]
""", hint="device"),
            "int32 result (.int())": Mistake("""
def one_hot_torch(indices, vocab_size):
    return (indices.unsqueeze(-1) == torch.arange(vocab_size, device=indices.device)).int()
""", hint="float32"),
            "torch.arange(V) without device": Mistake("""
def one_hot_torch(indices, vocab_size):
    return (indices.unsqueeze(-1) == torch.arange(vocab_size)).float()
""", hint="device"),
            "zeros in the indices' dtype, then scatter (int64 result)": Mistake("""
def one_hot_torch(indices, vocab_size):
    X = torch.zeros(*indices.shape, vocab_size, dtype=indices.dtype, device=indices.device)
    return X.scatter_(-1, indices.long().unsqueeze(-1), 1)
""", hint="float32"),
        },
        "one_hot": {
            "range check with > instead of >=": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() > vocab_size):
        raise ValueError("bad index")
    X = np.zeros(indices.shape + (vocab_size,))
    np.put_along_axis(X, indices[..., None], 1.0, axis=-1)
    return X
""", caught_by=("test_one_hot_visible",), hint="ValueError"),
            "X[indices] = 1 sets whole rows": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    X = np.zeros((indices.size, vocab_size))
    X[indices.ravel()] = 1.0
    return X.reshape(indices.shape + (vocab_size,))
""", hint="row"),
        },
        "embedding_lookup": {
            "indices @ E (the indices used as a vector)": Mistake("""
def embedding_lookup(indices, E):
    return np.asarray(indices) @ E
""", hint="one_hot"),
        },
        "build_vocab": {
            "most frequent token first": Mistake("""
def build_vocab(tokens):
    from collections import Counter
    return {tok: i for i, (tok, _) in enumerate(Counter(tokens).most_common())}
""", hint="frequen"),
        },
    },
    "02-rnn": {
        "rnn_step": {
            "concatenated weights stacked in the wrong order": Mistake("""
def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    return np.tanh(np.concatenate([x_t, h_prev], axis=1) @ np.concatenate([W_hh, W_xh], axis=0) + b_h)
""", hint="swapped"),
        },
        "rnn_forward": {
            "keeps only the last state": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h = h0
    for s in range(X.shape[1]):
        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)
    return h
""", hint="last"),
            "H allocated with X's shape (N, T, D)": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    H = np.zeros_like(X)
    h = h0
    for s in range(X.shape[1]):
        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)
        H[:, s] = h
    return H
""", hint="(N, T, H)"),
            "loops over the batch axis (X[s])": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for s in range(X.shape[1]):
        h = rnn_step(X[s], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states, axis=1)
""", hint="X[:, s]"),
            "first step skipped (range(1, T))": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for s in range(1, X.shape[1]):
        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states, axis=1)
""", hint="first"),
        },
        "rnn_outputs": {
            "batch and time axes flattened and not restored": Mistake("""
def rnn_outputs(H, W_hy, b_y):
    return H.reshape(-1, H.shape[-1]) @ W_hy + b_y
""", hint="flattened"),
        },
        "RNN": {
            "h0 made as (1, N, H), nn.RNN's layout": Mistake("""
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        self.W_xh = torch.nn.Parameter(torch.empty(input_size, hidden_size).uniform_(-bound, bound))
        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, X, h0=None):
        h = X.new_zeros(1, X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint="(N, H)"),
            "h0 made like X[:, 0] (width D)": Mistake("""
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        self.W_xh = torch.nn.Parameter(torch.empty(input_size, hidden_size).uniform_(-bound, bound))
        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, X, h0=None):
        h = torch.zeros_like(X[:, 0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint="(N, H)"),
            "h0 = torch.zeros(N, H, device=X.device): float32 whatever X is": Mistake("""
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        self.W_xh = torch.nn.Parameter(torch.empty(input_size, hidden_size).uniform_(-bound, bound))
        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, X, h0=None):
        h = torch.zeros(X.shape[0], self.W_hh.shape[0], device=X.device) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint="dtype"),
            "keeps only the last state": Mistake("""
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        self.W_xh = torch.nn.Parameter(torch.empty(input_size, hidden_size).uniform_(-bound, bound))
        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
        return h, h
""", hint="last"),
        },
    },
    "03-bptt": {
        "rnn_step_backward": {
            "db_h summed over the wrong axis": Mistake("""
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = dh_t * (1 - h_t ** 2)
    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=1)
""", hint="axis 0"),
            "db_h averaged over the batch": Mistake("""
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = dh_t * (1 - h_t ** 2)
    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.mean(axis=0)
""", hint="mean"),
            "dx_t uses W_xh untransposed": Mistake("""
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = dh_t * (1 - h_t ** 2)
    return da @ W_xh, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)
""", hint="W_xh"),
            "dh_prev multiplied by the previous step's tanh derivative too": Mistake("""
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = dh_t * (1 - h_t ** 2)
    return da @ W_xh.T, (da @ W_hh.T) * (1 - h_prev ** 2), x_t.T @ da, h_prev.T @ da, da.sum(axis=0)
""", hint="h_prev"),
        },
        "rnn_backward": {
            "h_prev = H[:, s - 1] also at s = 0 (H[:, -1] instead of h0)": Mistake("""
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in reversed(range(T)):
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], H[:, s - 1], H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="h0"),
            "step 0 skipped (range(T - 1, 0, -1))": Mistake("""
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in range(T - 1, 0, -1):
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], H[:, s - 1], H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="step 0"),
            "dH never added: only the carried gradient goes in": Mistake("""
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = dH[:, -1]
    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="last step"),
        },
        "truncated_rnn_backward": {
            "the boundary step's own output gradient dropped with the carried one": Mistake("""
def truncated_rnn_backward(dH, X, h0, H, W_xh, W_hh, k):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        upstream = dH[:, s] + dh_next
        if s < T - 1 and (s + 1) % k == 0:
            upstream = np.zeros_like(upstream)
        dx, dh_next, dWx, dWh, db = rnn_step_backward(upstream, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next, dW_xh, dW_hh, db_h
""", hint="boundary"),
        },
        "tbptt_forward": {
            "each chunk's last state appended after detaching": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    out = []
    h = h0
    for start in range(0, X.shape[1], k):
        H_chunk, h = rnn(X[:, start:start + k], h)
        h = h.detach()
        out.append(H_chunk[:, :-1])
        out.append(h[:, None])
    return torch.cat(out, dim=1)
""", hint="boundary"),
            "last, shorter chunk dropped": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    out = []
    h = h0
    for start in range(0, X.shape[1] - k + 1, k):
        H_chunk, h = rnn(X[:, start:start + k], h)
        out.append(H_chunk)
        h = h.detach()
    return torch.cat(out, dim=1)
""", hint="shorter"),
            "starts from zeros instead of h0": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    out = []
    h = torch.zeros_like(h0)
    for start in range(0, X.shape[1], k):
        H_chunk, h = rnn(X[:, start:start + k], h)
        out.append(H_chunk)
        h = h.detach()
    return torch.cat(out, dim=1)
""", hint="h0"),
        },
        "numerical_gradient": {
            "perturbs a copy but evaluates f at x": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        grad[idx] = (f(x) - f(x)) / (2 * h)
    return grad
""", hint="zero"),
        },
    },
    "04-gradients": {
        "hidden_jacobian": {
            "np.diag on the whole batch": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return np.diag(1 - h_t ** 2) @ W_hh.T
""", hint="np.diag"),
            "only the first sequence": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return np.diag(1 - h_t[0] ** 2) @ W_hh.T
""", hint="batch"),
        },
        "gradient_norms_through_time": {
            "norm per hidden unit (axis=0)": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.linalg.norm(dh_T, axis=0)]
    for s in range(H.shape[1] - 1, 0, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh.T
        out.append(np.linalg.norm(g, axis=0))
    return np.array(out[::-1])
""", hint="Frobenius"),
        },
        "clip_grad_norm": {
            "np.linalg.norm(grads) on a list of arrays of different shapes": Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.linalg.norm(grads))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads], total
""", hint="different shapes"),
            "returns (total_norm, clipped)": Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    return total, [g * min(1.0, max_norm / (total + 1e-6)) for g in grads]
""", hint="order"),
        },
        "clip_grad_value": {
            "clips the absolute value (signs lost)": Mistake("""
def clip_grad_value(grads, clip_value):
    return [np.minimum(np.abs(g), clip_value) for g in grads]
""", hint="sign"),
        },
        "clip_grad_norm_torch": {
            "norm from Python floats, returned with torch.tensor": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = sum(float((g ** 2).sum()) for g in grads) ** 0.5
    for g in grads:
        g.mul_(min(1.0, max_norm / (total + 1e-6)))
    return torch.tensor(total)
""", hint="device"),
            "scales the weights (p.data) instead of the gradients": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    params = [p for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in params))
    for p in params:
        p.data.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", hint="p.grad"),
            "torch.stack of gradients of different shapes": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.stack(grads).norm()
    for g in grads:
        g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", hint="different shapes"),
            "accumulator in float64 whatever the gradients' dtype": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.zeros((), dtype=torch.float64, device=grads[0].device)
    for g in grads:
        total = total + (g ** 2).sum()
    total = total.sqrt()
    for g in grads:
        g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", hint="dtype"),
        },
    },
    "05-lstm": {
        "sigmoid": {
            "math.exp (one number only)": Mistake("""
def sigmoid(x):
    import math
    return 1 / (1 + math.exp(-x))
""", hint="np.exp"),
        },
        "lstm_step": {
            "gates split along the batch axis": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    a = x_t @ W_x + h_prev @ W_h + b
    i, f, g, o = np.split(a, 4, axis=0)
    c = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c
""", hint="axis"),
        },
        "lstm_forward": {
            "keeps only the last states": Mistake("""
def lstm_forward(X, h0, c0, W_x, W_h, b):
    h, c = h0, c0
    for s in range(X.shape[1]):
        h, c = lstm_step(X[:, s], h, c, W_x, W_h, b)
    return h, c
""", hint="last"),
        },
        "gru_step": {
            "reset gate applied to the input part": Mistake("""
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    ax, ah = x_t @ W_x + b_x, h_prev @ W_h + b_h
    r, z = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2*H] + ah[:, H:2*H])
    n = np.tanh(r * ax[:, 2*H:] + ah[:, 2*H:])
    return (1 - z) * n + z * h_prev
""", hint="reset gate"),
        },
        "LSTM": {
            "state made as (1, N, H), nn.LSTM's layout": Mistake("""
class LSTM(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = hidden_size ** -0.5
        self.W_x = torch.nn.Parameter(torch.empty(input_size, 4 * hidden_size).uniform_(-k, k))
        self.W_h = torch.nn.Parameter(torch.empty(hidden_size, 4 * hidden_size).uniform_(-k, k))
        self.b = torch.nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))

    def forward(self, X, state=None):
        N, T, _ = X.shape
        Hd = self.W_h.shape[0]
        if state is None:
            h = c = X.new_zeros(1, N, Hd)
        else:
            h, c = state
        outs = []
        for s in range(T):
            i, f, g, o = (X[:, s] @ self.W_x + h @ self.W_h + self.b).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1), (h, c)
""", hint="(N, H)"),
            "gates chunked along the batch axis": Mistake("""
class LSTM(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = hidden_size ** -0.5
        self.W_x = torch.nn.Parameter(torch.empty(input_size, 4 * hidden_size).uniform_(-k, k))
        self.W_h = torch.nn.Parameter(torch.empty(hidden_size, 4 * hidden_size).uniform_(-k, k))
        self.b = torch.nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))

    def forward(self, X, state=None):
        N, T, _ = X.shape
        Hd = self.W_h.shape[0]
        h, c = state if state is not None else (X.new_zeros(N, Hd), X.new_zeros(N, Hd))
        outs = []
        for s in range(T):
            i, f, g, o = (X[:, s] @ self.W_x + h @ self.W_h + self.b).chunk(4, 0)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1), (h, c)
""", hint="dim"),
            "zeros(N, H, device=X.device): float32 whatever X is": Mistake("""
class LSTM(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = hidden_size ** -0.5
        self.W_x = torch.nn.Parameter(torch.empty(input_size, 4 * hidden_size).uniform_(-k, k))
        self.W_h = torch.nn.Parameter(torch.empty(hidden_size, 4 * hidden_size).uniform_(-k, k))
        self.b = torch.nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))

    def forward(self, X, state=None):
        N, T, _ = X.shape
        Hd = self.W_h.shape[0]
        if state is None:
            state = (torch.zeros(N, Hd, device=X.device), torch.zeros(N, Hd, device=X.device))
        h, c = state
        outs = []
        for s in range(T):
            i, f, g, o = (X[:, s] @ self.W_x + h @ self.W_h + self.b).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1), (h, c)
""", hint="dtype"),
        },
    },
    "06-self-attention": {
        "attention_scores": {
            "K.transpose(0, 2, 1): only works for 3 axes": Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ K.transpose(0, 2, 1)
    return S / np.sqrt(Q.shape[-1]) if scaled else S
""", hint="swapaxes"),
            "divided by sqrt(T_kv)": Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ np.swapaxes(K, -1, -2)
    return S / np.sqrt(K.shape[-2]) if scaled else S
""", hint="sqrt(T"),
        },
        "softmax": {
            "the maximum of the whole array subtracted": Mistake("""
def softmax(S, axis=-1):
    S = np.asarray(S)
    finite = S[np.isfinite(S)]
    e = np.exp(S - (finite.max() if finite.size else 0.0))
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1.0)
""", hint="each"),
            "maximum over the last axis, sum over the given axis": Mistake("""
def softmax(S, axis=-1):
    S = np.asarray(S)
    m = np.max(S, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(S - m)
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1.0)
""", hint="maximum"),
        },
        "aggregate": {
            "V @ A": Mistake("""
def aggregate(A, V):
    return V @ A
""", hint="A @ V"),
        },
        "self_attention": {
            "masked scores multiplied by the mask (set to 0, not -inf)": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled)
    if mask is not None:
        S = S * mask
    A = softmax(S)
    return A @ V, A
""", hint="-inf"),
            "softmax over axis 0": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    A = softmax(S, axis=0)
    return A @ V, A
""", hint="axis"),
            "returns (A, out)": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    A = softmax(S)
    return A, A @ V
""", hint="swapped"),
        },
        "self_attention_torch": {
            "scale made with torch.tensor (default device)": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1)
    if scaled:
        S = S / torch.sqrt(torch.tensor(Q.shape[-1], dtype=S.dtype))
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
""", hint="device"),
            "K.T on a batch": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.T / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
""", hint=".T"),
            "zeros for empty rows made with torch.zeros(A.shape)": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1)
    if mask is not None:
        A = torch.where(mask.any(-1, keepdim=True), A, torch.zeros(A.shape))
    return A @ V, A
""", hint="device"),
            "softmax over dim 1": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=1).nan_to_num(0.0)
    return A @ V, A
""", hint="queries"),
        },
    },
    "07-positional-encoding": {
        "sinusoidal_pe": {
            "integer division in the exponent (2 * k // d)": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) // d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
""", hint="integer division"),
            "multiplied by base^(2k/d) instead of divided": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos * base ** (np.arange(0, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
""", hint="divide"),
            "float32 table": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model), dtype=np.float32)
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
""", hint="float64"),
        },
        "add_positional_encoding": {
            "T and D read as X.shape[1], X.shape[2]": Mistake("""
def add_positional_encoding(X):
    return X + sinusoidal_pe(X.shape[1], X.shape[2])
""", hint="X.shape[-2]"),
            "table concatenated instead of added": Mistake("""
def add_positional_encoding(X):
    T, D = X.shape[-2:]
    return np.concatenate([X, np.broadcast_to(sinusoidal_pe(T, D), X.shape)], axis=-1)
""", hint="add"),
        },
        "pe_shift_matrix": {
            "integer division in the exponent": Mistake("""
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = offset / base ** (np.arange(0, d_model, 2) // d_model)
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), np.sin(w[k])], [-np.sin(w[k]), np.cos(w[k])]]
    return M
""", hint="integer division"),
        },
        "SinusoidalPositionalEncoding": {
            "table sliced by the batch size": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.register_buffer("pe", torch.tensor(sinusoidal_pe(max_len, d_model, base), dtype=torch.float32))

    def forward(self, X):
        return X + self.pe[: X.shape[0]].to(X.dtype)
""", hint="X.shape[1]"),
        },
    },
    "08-transformer": {
        "layer_norm": {
            "divided by the variance, not the standard deviation": Mistake("""
def layer_norm(X, gamma, beta, eps=1e-5):
    mu = X.mean(axis=-1, keepdims=True)
    var = ((X - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (X - mu) / (var + eps) + beta
""", hint="square root"),
            "mean and variance over the whole array": Mistake("""
def layer_norm(X, gamma, beta, eps=1e-5):
    return gamma * (X - X.mean()) / np.sqrt(X.var() + eps) + beta
""", hint="last axis"),
        },
        "multi_head_attention": {
            "head axis not moved before T": Mistake('''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d_k = D // n_heads
    def split(Z):
        return Z.reshape(Z.shape[:-1] + (n_heads, d_k))
    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    top = S.max(axis=-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(top), top, 0.0))
    total = E.sum(axis=-1, keepdims=True)
    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0)
    concat = (A @ V).reshape(X_q.shape[:-1] + (D,))
    return concat @ W_o, A
''', hint="head axis"),
            "heads merged by a plain reshape (split right)": Mistake('''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d_k = D // n_heads
    def split(Z):
        return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)
    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    top = S.max(axis=-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(top), top, 0.0))
    total = E.sum(axis=-1, keepdims=True)
    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0)
    concat = (A @ V).reshape(X_q.shape[:-1] + (D,))
    return concat @ W_o, A
''', hint="merge"),
            "attention weights averaged over the heads": Mistake('''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d_k = D // n_heads
    def split(Z):
        return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)
    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    top = S.max(axis=-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(top), top, 0.0))
    total = E.sum(axis=-1, keepdims=True)
    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0)
    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))
    return concat @ W_o, A.mean(axis=-3)
''', hint="average"),
            "n_heads and d_k swapped": Mistake('''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d_k = n_heads
    h = D // n_heads
    def split(Z):
        return np.swapaxes(Z.reshape(Z.shape[:-1] + (h, d_k)), -2, -3)
    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    top = S.max(axis=-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(top), top, 0.0))
    total = E.sum(axis=-1, keepdims=True)
    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0)
    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))
    return concat @ W_o, A
''', hint="n_heads"),
        },
        "feed_forward": {
            "W_1 and W_2 swapped": Mistake("def feed_forward(X, W_1, b_1, W_2, b_2):\n"
                                           "    return np.maximum(X @ W_2 + b_1, 0) @ W_1 + b_2\n", hint="swapped"),
        },
        "encoder_block": {
            "ln1's parameters used for both norms": Mistake('''
def encoder_block(X, params, n_heads, mask=None):
    p = params
    attended, _ = multi_head_attention(X, X, p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, mask)
    H = layer_norm(X + attended, p["ln1_gamma"], p["ln1_beta"])
    return layer_norm(H + feed_forward(H, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln1_gamma"], p["ln1_beta"])
''', hint="ln2"),
        },
        "MultiHeadAttention": {
            "view after transpose (not contiguous)": Mistake('''
class MultiHeadAttention(torch.nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.W_q, self.W_k, self.W_v, self.W_o = (
            torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(d_model, d_model))) for _ in range(4))

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
        heads = (A @ V).transpose(1, 2).view(N, T_q, D)
        return heads @ self.W_o, A
''', hint="reshape"),
            "attention weights averaged over the heads": Mistake('''
class MultiHeadAttention(torch.nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.W_q, self.W_k, self.W_v, self.W_o = (
            torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(d_model, d_model))) for _ in range(4))

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
        return heads @ self.W_o, A.mean(dim=1)
''', hint="average"),
            "masked with -1e9 (a fully masked row attends uniformly)": Mistake('''
class MultiHeadAttention(torch.nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.W_q, self.W_k, self.W_v, self.W_o = (
            torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(d_model, d_model))) for _ in range(4))

    def forward(self, X_q, X_kv, mask=None):
        N, T_q, D = X_q.shape
        T_kv, h = X_kv.shape[1], self.n_heads
        d_k = D // h
        Q = (X_q @ self.W_q).view(N, T_q, h, d_k).transpose(1, 2)
        K = (X_kv @ self.W_k).view(N, T_kv, h, d_k).transpose(1, 2)
        V = (X_kv @ self.W_v).view(N, T_kv, h, d_k).transpose(1, 2)
        S = Q @ K.transpose(-2, -1) / math.sqrt(d_k)
        if mask is not None:
            S = S.masked_fill(~mask, -1e9)
        A = torch.softmax(S, dim=-1)
        heads = (A @ V).transpose(1, 2).reshape(N, T_q, D)
        return heads @ self.W_o, A
''', hint="no allowed key"),
        },
        "EncoderBlock": {
            "attention's (out, A) added as it is": Mistake('''
class EncoderBlock(torch.nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = torch.nn.LayerNorm(d_model)
        self.ln2 = torch.nn.LayerNorm(d_model)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.ReLU(), torch.nn.Linear(d_ff, d_model))

    def forward(self, X, mask=None):
        H = self.ln1(X + self.attn(X, X, mask))
        return self.ln2(H + self.ff(H))
''', hint="(out, A)"),
        },
        "DecoderBlock": {
            "cross-attention with the memory as queries": Mistake('''
class DecoderBlock(torch.nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads)
        self.cross_attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = torch.nn.LayerNorm(d_model)
        self.ln2 = torch.nn.LayerNorm(d_model)
        self.ln3 = torch.nn.LayerNorm(d_model)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.ReLU(), torch.nn.Linear(d_ff, d_model))

    def forward(self, Y, memory, tgt_mask=None, memory_mask=None):
        H = self.ln1(Y + self.self_attn(Y, Y, tgt_mask)[0])
        H = self.ln2(H + self.cross_attn(memory, H, memory_mask)[0])
        return self.ln3(H + self.ff(H))
''', hint="queries"),
            "masks swapped between self- and cross-attention": Mistake('''
class DecoderBlock(torch.nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads)
        self.cross_attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = torch.nn.LayerNorm(d_model)
        self.ln2 = torch.nn.LayerNorm(d_model)
        self.ln3 = torch.nn.LayerNorm(d_model)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.ReLU(), torch.nn.Linear(d_ff, d_model))

    def forward(self, Y, memory, tgt_mask=None, memory_mask=None):
        H = self.ln1(Y + self.self_attn(Y, Y, memory_mask)[0])
        H = self.ln2(H + self.cross_attn(H, memory, tgt_mask)[0])
        return self.ln3(H + self.ff(H))
''', hint="swapped"),
        },
    },
}
