"""Tests of the tests for 05-lstm: the solution gets full marks, the stubs get none,
students' mistakes (gate by gate) lose points and correct alternatives keep them."""
import pytest
import torch

from tests.chapters.standard import solution_run, standard_tests
from tests.harness import Mistake, as_mistake, edit, run_notebook, source_notebook

A = "05-lstm"
CONTRACT = ["sigmoid", "lstm_step", "lstm_forward", "gru_step", "LSTM"]

MISTAKES = {
    "sigmoid": {
        "tanh where sigmoid belongs": Mistake("""
def sigmoid(x):
    return np.tanh(x)
""", hint='tanh'),
        "the minus sign is missing": Mistake("""
def sigmoid(x):
    return 1 / (1 + np.exp(x))
""", hint='minus sign'),
        "exp(x) / (1 + exp(x)) gives NaN for large x": Mistake("""
def sigmoid(x):
    e = np.exp(x)
    return e / (1 + e)
""", hint='overflows'),
        "clips the input to [-10, 10] to avoid the overflow": Mistake("""
def sigmoid(x):
    return 1 / (1 + np.exp(-np.clip(x, -10, 10)))
""", hint='clipped'),
    },
    "lstm_step": {
        "wrong gate order: the lecture's i, f, o, g": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    H = h_prev.shape[1]
    a = x_t @ W_x + h_prev @ W_h + b
    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2*H]), sigmoid(a[:, 2*H:3*H])
    g = np.tanh(a[:, 3*H:])
    c = f * c_prev + i * g
    return o * np.tanh(c), c
""", hint='order (i, f, o, g)'),
        "missing forget gate": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    H = h_prev.shape[1]
    a = x_t @ W_x + h_prev @ W_h + b
    i, g, o = sigmoid(a[:, :H]), np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:])
    c = c_prev + i * g
    return o * np.tanh(c), c
""", hint='forget gate'),
        "tanh where sigmoid belongs (forget gate)": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    H = h_prev.shape[1]
    a = x_t @ W_x + h_prev @ W_h + b
    i, f = sigmoid(a[:, :H]), np.tanh(a[:, H:2*H])
    g, o = np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:])
    c = f * c_prev + i * g
    return o * np.tanh(c), c
""", hint='forget gate f uses tanh'),
        "tanh where sigmoid belongs (all gates)": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    i, f, g, o = np.split(np.tanh(x_t @ W_x + h_prev @ W_h + b), 4, axis=1)
    c = f * c_prev + i * g
    return o * np.tanh(c), c
""", hint='every gate uses tanh'),
        "h_t computed from c_{t-1}": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    H = h_prev.shape[1]
    a = x_t @ W_x + h_prev @ W_h + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2*H])
    g, o = np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:])
    h = o * np.tanh(c_prev)
    return h, f * c_prev + i * g
""", hint='computed from c_prev'),
        "returns (c_t, h_t)": Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    H = h_prev.shape[1]
    a = x_t @ W_x + h_prev @ W_h + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2*H])
    g, o = np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:])
    c = f * c_prev + i * g
    return c, o * np.tanh(c)
""", hint='swapped'),
    },
    "lstm_forward": {
        "the states are not carried over": Mistake("""
def lstm_forward(X, h0, c0, W_x, W_h, b):
    out = [lstm_step(X[:, s], h0, c0, W_x, W_h, b) for s in range(X.shape[1])]
    return np.stack([h for h, c in out], 1), np.stack([c for h, c in out], 1)
""", hint='not carried over'),
        "the cell state is reset every step": Mistake("""
def lstm_forward(X, h0, c0, W_x, W_h, b):
    h, hs, cs = h0, [], []
    for s in range(X.shape[1]):
        h, c = lstm_step(X[:, s], h, c0, W_x, W_h, b)
        hs.append(h); cs.append(c)
    return np.stack(hs, 1), np.stack(cs, 1)
""", hint='cell state is not carried over'),
        "H and C include h0 and c0": Mistake("""
def lstm_forward(X, h0, c0, W_x, W_h, b):
    h, c, hs, cs = h0, c0, [h0], [c0]
    for s in range(X.shape[1]):
        h, c = lstm_step(X[:, s], h, c, W_x, W_h, b)
        hs.append(h); cs.append(c)
    return np.stack(hs, 1), np.stack(cs, 1)
""", hint='steps 1..T'),
        "returns (C, H)": Mistake("""
def lstm_forward(X, h0, c0, W_x, W_h, b):
    h, c, hs, cs = h0, c0, [], []
    for s in range(X.shape[1]):
        h, c = lstm_step(X[:, s], h, c, W_x, W_h, b)
        hs.append(h); cs.append(c)
    return np.stack(cs, 1), np.stack(hs, 1)
""", hint='swapped'),
    },
    "gru_step": {
        "z and 1 - z swapped": Mistake("""
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    ax, ah = x_t @ W_x + b_x, h_prev @ W_h + b_h
    r, z = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2*H] + ah[:, H:2*H])
    n = np.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])
    return z * n + (1 - z) * h_prev
""", hint='z and 1 - z are swapped'),
        "reset gate applied before W_hn (the original paper's form)": Mistake("""
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    ax, ah = x_t @ W_x + b_x, h_prev @ W_h + b_h
    r, z = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2*H] + ah[:, H:2*H])
    n = np.tanh(ax[:, 2*H:] + (r * h_prev) @ W_h[:, 2*H:] + b_h[2*H:])
    return (1 - z) * n + z * h_prev
""", hint='before W_hn'),
        "blocks read as z, r, n": Mistake("""
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    ax, ah = x_t @ W_x + b_x, h_prev @ W_h + b_h
    z, r = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2*H] + ah[:, H:2*H])
    n = np.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])
    return (1 - z) * n + z * h_prev
""", hint='(z, r, n)'),
        "b_hn added outside the reset gate": Mistake("""
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    ax, hw = x_t @ W_x + b_x, h_prev @ W_h
    r = sigmoid(ax[:, :H] + hw[:, :H] + b_h[:H])
    z = sigmoid(ax[:, H:2*H] + hw[:, H:2*H] + b_h[H:2*H])
    n = np.tanh(ax[:, 2*H:] + b_h[2*H:] + r * hw[:, 2*H:])
    return (1 - z) * n + z * h_prev
""", hint='b_hn is added outside'),
    },
}

_LSTM_INIT = """
class LSTM(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = hidden_size ** -0.5
        self.W_x = torch.nn.Parameter(torch.empty(input_size, 4 * hidden_size).uniform_(-k, k))
        self.W_h = torch.nn.Parameter(torch.empty(hidden_size, 4 * hidden_size).uniform_(-k, k))
        self.b = torch.nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))
"""


def _lstm_module(init_state: str, step: str, init: str = _LSTM_INIT) -> str:
    """A student's LSTM module: ``init_state`` sets h, c when state is None; ``step`` updates h, c from a."""
    return init + f"""
    def forward(self, X, state=None):
        N, T, _ = X.shape
        Hd = self.W_h.shape[0]
        if state is None:
{init_state}
        else:
            h, c = state
        outs = []
        for s in range(T):
            a = X[:, s] @ self.W_x + h @ self.W_h + self.b
{step}
            outs.append(h)
        return torch.stack(outs, 1), (h, c)
"""


_ZEROS = "            h = c = torch.zeros(N, Hd, device=X.device, dtype=X.dtype)"
_RIGHT = """            i, f, g, o = a.chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)"""

MISTAKES["LSTM"] = {
    "wrong gate order: the lecture's i, f, o, g": Mistake(_lstm_module(_ZEROS, """            i, f, o, g = a.chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)"""), hint='order (i, f, o, g)'),
    "missing forget gate": Mistake(_lstm_module(_ZEROS, """            i, f, g, o = a.chunk(4, -1)
            c = c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)"""), hint='forget gate'),
    "h_t computed from c_{t-1}": Mistake(_lstm_module(_ZEROS, """            i, f, g, o = a.chunk(4, -1)
            h = torch.sigmoid(o) * torch.tanh(c)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)"""), hint='computed from c_prev'),
    "initial state torch.zeros(N, H): no dtype, no device": Mistake(_lstm_module(
        "            h = c = torch.zeros(N, Hd)", _RIGHT), hint="dtype"),
    "initial state created on the default device": Mistake(_lstm_module(
        "            h = c = torch.zeros(N, Hd, dtype=X.dtype)", _RIGHT), hint='device'),
    "weights stored the way PyTorch stores them, (4H, D)": Mistake(_lstm_module(_ZEROS, """            i, f, g, o = a.chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)""", init="""
class LSTM(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5  # (4H, D) and (4H, H), as nn.LSTM's weight_ih_l0 and weight_hh_l0
        self.W_x = torch.nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.W_h = torch.nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        self.b = torch.nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
""").replace("X[:, s] @ self.W_x + h @ self.W_h", "X[:, s] @ self.W_x.T + h @ self.W_h.T"), hint='transposed'),
}

# Not the student's own work: the first line of every test cell of the function says so.
MISTAKES["LSTM"]["calls the built-in nn.LSTM"] = Mistake("""
class LSTM(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.core = torch.nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, X, state=None):
        H, (h, c) = self.core(X, None if state is None else (state[0][None], state[1][None]))
        return H, (h[0], c[0])
""", hint="re-implements")
MISTAKES["lstm_step"]["calls the course's reference answer"] = Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    return oracle.lstm_step(x_t, h_prev, c_prev, W_x, W_h, b)
""", hint="reference")

# Correct sources that the mistakes below change a line or two of.
_MODULE = _LSTM_INIT + """
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
        return torch.stack(outs, 1), (h, c)
"""
_GRU = """
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    ax, ah = x_t @ W_x + b_x, h_prev @ W_h + b_h
    r, z = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2*H] + ah[:, H:2*H])
    n = np.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])
    return (1 - z) * n + z * h_prev
"""

# Issue 19, held-out batch A: mistakes written before the messages that name them were tuned
MISTAKES["sigmoid"].update({
    'math.exp (one number only)': Mistake("""
def sigmoid(x):
    import math
    return 1 / (1 + math.exp(-x))
""", hint='np.exp'),
})
MISTAKES["lstm_step"].update({
    'gates split along the batch axis': Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    a = x_t @ W_x + h_prev @ W_h + b
    i, f, g, o = np.split(a, 4, axis=0)
    c = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c
""", hint='axis'),
})
MISTAKES["lstm_forward"].update({
    'keeps only the last states': Mistake("""
def lstm_forward(X, h0, c0, W_x, W_h, b):
    h, c = h0, c0
    for s in range(X.shape[1]):
        h, c = lstm_step(X[:, s], h, c, W_x, W_h, b)
    return h, c
""", hint='last'),
})
MISTAKES["gru_step"].update({
    'reset gate applied to the input part': Mistake(edit(_GRU,
        '    n = np.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])', '    n = np.tanh(r * ax[:, 2*H:] + ah[:, 2*H:])'), hint='reset gate'),
})
MISTAKES["LSTM"].update({
    "state made as (1, N, H), nn.LSTM's layout": Mistake(edit(_MODULE,
        '        h, c = state if state is not None else (X.new_zeros(N, Hd), X.new_zeros(N, Hd))', """        if state is None:
            h = c = X.new_zeros(1, N, Hd)
        else:
            h, c = state"""), hint='(N, H)'),
    'gates chunked along the batch axis': Mistake(edit(_MODULE,
        '            i, f, g, o = (X[:, s] @ self.W_x + h @ self.W_h + self.b).chunk(4, -1)', '            i, f, g, o = (X[:, s] @ self.W_x + h @ self.W_h + self.b).chunk(4, 0)'), hint='dim'),
    'zeros(N, H, device=X.device): float32 whatever X is': Mistake(edit(_MODULE,
        '        h, c = state if state is not None else (X.new_zeros(N, Hd), X.new_zeros(N, Hd))', """        if state is None:
            state = (torch.zeros(N, Hd, device=X.device), torch.zeros(N, Hd, device=X.device))
        h, c = state"""), caught_by=('test_LSTM_visible',), hint='dtype'),  # the hidden float64 runs all pass a state
})

# Issue 19, held-out batch B: mistakes written before the messages that name them were tuned
MISTAKES["sigmoid"].update({
    '0.5 * (1 + tanh(x)): the half is missing inside': Mistake("""
def sigmoid(x):
    return 0.5 * (1 + np.tanh(x))
""", hint='x / 2'),
})
MISTAKES["lstm_step"].update({
    'tanh on the new cell state': Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    i, f, g, o = np.split(x_t @ W_x + h_prev @ W_h + b, 4, axis=1)
    c = np.tanh(sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g))
    return sigmoid(o) * np.tanh(c), c
""", hint='tanh'),
})
MISTAKES["lstm_forward"].update({
    'the hidden state is not carried over (the cell state is)': Mistake("""
def lstm_forward(X, h0, c0, W_x, W_h, b):
    c, hs, cs = c0, [], []
    for s in range(X.shape[1]):
        h, c = lstm_step(X[:, s], h0, c, W_x, W_h, b)
        hs.append(h); cs.append(c)
    return np.stack(hs, 1), np.stack(cs, 1)
""", hint='hidden state is not carried'),
})
MISTAKES["gru_step"].update({
    'tanh for the update gate': Mistake(edit(_GRU,
        '    r, z = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2*H] + ah[:, H:2*H])', '    r, z = sigmoid(ax[:, :H] + ah[:, :H]), np.tanh(ax[:, H:2*H] + ah[:, H:2*H])'), hint='sigmoid'),
})
MISTAKES["LSTM"].update({
    'time taken from axis 0 (X is batch first)': Mistake(edit(_MODULE,
        """        for s in range(T):
            i, f, g, o = (X[:, s] @ self.W_x + h @ self.W_h + self.b).chunk(4, -1)""", """        for s in range(X.shape[0]):
            i, f, g, o = (X[s] @ self.W_x + h @ self.W_h + self.b).chunk(4, -1)"""), hint='X[:, s]'),
})

# Issue 19, held-out batch C: mistakes written before the messages that name them were tuned
MISTAKES["sigmoid"].update({
    'exp(-x) / (1 + exp(-x))': Mistake("""
def sigmoid(x):
    e = np.exp(-x)
    return e / (1 + e)
""", hint='sigmoid(-x)'),
})
MISTAKES["lstm_step"].update({
    'the forget gate scales g, the input gate c_prev': Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    i, f, g, o = np.split(x_t @ W_x + h_prev @ W_h + b, 4, axis=1)
    c = sigmoid(f) * np.tanh(g) + sigmoid(i) * c_prev
    return sigmoid(o) * np.tanh(c), c
""", hint='order (f, i, g, o)'),
    'H read from x_t.shape[1]': Mistake("""
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    H = x_t.shape[1]
    a = x_t @ W_x + h_prev @ W_h + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2*H])
    g, o = np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:4*H])
    c = f * c_prev + i * g
    return o * np.tanh(c), c
""", hint='h_prev.shape'),
})
MISTAKES["gru_step"].update({
    'b_h left out of r and z': Mistake(edit(_GRU,
        """    ax, ah = x_t @ W_x + b_x, h_prev @ W_h + b_h
    r, z = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2*H] + ah[:, H:2*H])
    n = np.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])""", """    ax, hw = x_t @ W_x + b_x, h_prev @ W_h
    r, z = sigmoid(ax[:, :H] + hw[:, :H]), sigmoid(ax[:, H:2*H] + hw[:, H:2*H])
    n = np.tanh(ax[:, 2*H:] + r * (hw[:, 2*H:] + b_h[2*H:]))"""), hint='b_h'),
})
MISTAKES["LSTM"].update({
    'returns (H, h_T, c_T) flat': Mistake(edit(_MODULE,
        '        return torch.stack(outs, 1), (h, c)', '        return torch.stack(outs, 1), h, c'), hint='(h_T, c_T)'),
    'bias added twice': Mistake(edit(_MODULE,
        '        h, c = state if state is not None else (X.new_zeros(N, Hd), X.new_zeros(N, Hd))', """        h, c = state if state is not None else (X.new_zeros(N, Hd), X.new_zeros(N, Hd))
        x_gates = X @ self.W_x + self.b""",
        '            i, f, g, o = (X[:, s] @ self.W_x + h @ self.W_h + self.b).chunk(4, -1)', '            i, f, g, o = (x_gates[:, s] + h @ self.W_h + self.b).chunk(4, -1)'), hint='bias'),
})

ALTERNATIVES = {
    "sigmoid": """
def sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(x)))   # tanh never overflows
""",
    "lstm_step": """
def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b):
    a = np.einsum("nd,dk->nk", x_t, W_x) + np.einsum("nh,hk->nk", h_prev, W_h) + b
    i, f, g, o = np.split(a, 4, axis=1)
    c = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c
""",
    "lstm_forward": """
def lstm_forward(X, h0, c0, W_x, W_h, b):
    N, T, _ = X.shape
    H = np.zeros((N, T, h0.shape[1]), dtype=X.dtype)
    C = np.zeros_like(H)
    h, c = h0, c0
    for s in range(T):
        H[:, s], C[:, s] = h, c = lstm_step(X[:, s], h, c, W_x, W_h, b)
    return H, C
""",
    "gru_step": """
def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h):
    (xr, xz, xn), (hr, hz, hn) = np.split(x_t @ W_x + b_x, 3, 1), np.split(h_prev @ W_h + b_h, 3, 1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    return h_prev + (1 - z) * (np.tanh(xn + r * hn) - h_prev)
""",
    "LSTM": """
class LSTM(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = 1 / hidden_size ** 0.5
        self.W_x = torch.nn.Parameter(torch.rand(input_size, 4 * hidden_size) * 2 * k - k)
        self.W_h = torch.nn.Parameter(torch.rand(hidden_size, 4 * hidden_size) * 2 * k - k)
        self.b = torch.nn.Parameter(torch.rand(4 * hidden_size) * 2 * k - k)

    def forward(self, X, state=None):
        N, T, D = X.shape
        Hd = self.W_h.shape[0]
        if state is None:
            state = (torch.zeros(N, Hd, device=X.device, dtype=X.dtype),) * 2
        h, c = state
        W = torch.cat([self.W_x, self.W_h], 0)          # one matmul on [x_t, h_prev]
        outs = []
        for s in range(T):
            a = torch.cat([X[:, s], h], 1) @ W + self.b
            i, f, o = torch.sigmoid(a[:, :Hd]), torch.sigmoid(a[:, Hd:2 * Hd]), torch.sigmoid(a[:, 3 * Hd:])
            c = f * c + i * torch.tanh(a[:, 2 * Hd:3 * Hd])
            h = o * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1), (h, c)
""",
}


#: What the visible test must say about some mistakes: the gate at fault, by name.
NAMED = {
    ("lstm_step", "tanh where sigmoid belongs (forget gate)"): "the forget gate f uses tanh",
    ("lstm_step", "wrong gate order: the lecture's i, f, o, g"): "read in the order (i, f, o, g)",
    ("lstm_step", "tanh where sigmoid belongs (all gates)"): "every gate uses tanh",
    ("lstm_step", "missing forget gate"): "the forget gate is not applied",
    ("lstm_step", "h_t computed from c_{t-1}"): "h_t is computed from c_prev",
    ("lstm_step", "returns (c_t, h_t)"): "h_t and c_t are swapped",
    ("gru_step", "z and 1 - z swapped"): "z and 1 - z are swapped",
    ("sigmoid", "tanh where sigmoid belongs"): "this is tanh",
}


globals().update(standard_tests(A, CONTRACT, MISTAKES, ALTERNATIVES))


def test_the_experiment_runs_its_short_version():
    assert "T =  8  your LSTM, forget bias 0  accuracy on new sequences after 10 steps" in solution_run(A).stdout


@pytest.mark.parametrize("function,label", list(NAMED))
def test_the_visible_test_names_the_gate_at_fault(function, label):
    run = run_notebook(source_notebook(A), {function: as_mistake(MISTAKES[function][label]).source},
                       skip_tags=("long-experiment",))
    assert NAMED[function, label] in run.failures[f"test_{function}_visible"]


# --------------------------------------------------------------------------- on a GPU
@pytest.fixture(scope="module")
def solution_lstm():
    return solution_run(A).namespace["LSTM"]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-6), (torch.float32, 1e-4)])
def test_solution_lstm_on_cuda_equals_nn_lstm(solution_lstm, dtype, tol):
    from seqlab.oracles import lstm as oracle

    torch.manual_seed(0)
    model = solution_lstm(7, 5).to("cuda", dtype)
    X = torch.randn(4, 9, 7, device="cuda", dtype=dtype)
    h0, c0 = torch.randn(2, 4, 5, device="cuda", dtype=dtype)
    H, (hT, cT) = model(X, (h0, c0))
    assert H.device.type == "cuda" and H.dtype == dtype
    reference = oracle.torch_lstm(model.W_x, model.W_h, model.b, dtype=dtype)   # cuDNN when float32
    H_ref, (hT_ref, cT_ref) = reference(X, (h0[None], c0[None]))
    torch.testing.assert_close(H, H_ref, rtol=tol, atol=tol)
    torch.testing.assert_close(cT, cT_ref[0], rtol=tol, atol=tol)
    H.sum().backward()
    H_ref.sum().backward()
    torch.testing.assert_close(model.W_h.grad, reference.weight_hh_l0.grad.T, rtol=10 * tol, atol=10 * tol)
    # no state given: zeros created on the input's device
    assert model(X)[0].device.type == "cuda"
