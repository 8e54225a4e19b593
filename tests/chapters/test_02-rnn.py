"""Tests of the tests for 02-rnn, plus the PyTorch module on the meta device and on CUDA."""

import pytest
import torch

from tests.attack_cells import attack_cells
from tests.chapters.standard import solution_run, standard_tests
from tests.harness import Mistake, edit

A = "02-rnn"

_RNN_HEAD = """
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        self.W_xh = torch.nn.Parameter(torch.empty(input_size, hidden_size).uniform_(-bound, bound))
        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
"""

MISTAKES = {
    "rnn_step": {
        "swapped weights": Mistake("def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(x_t @ W_hh + h_prev @ W_xh + b_h)", hint='swapped'),
        "transposed W_hh": Mistake("def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(x_t @ W_xh + h_prev @ W_hh.T + b_h)", hint='W_hh is transposed'),
        "missing bias": Mistake("def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(x_t @ W_xh + h_prev @ W_hh)", hint='bias b_h is missing'),
        "sigmoid instead of tanh": Mistake("def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    return 1 / (1 + np.exp(-(x_t @ W_xh + h_prev @ W_hh + b_h)))", hint='sigmoid'),
        "tanh outside the bias": Mistake("def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(x_t @ W_xh + h_prev @ W_hh) + b_h", hint='after the tanh'),
        "both weights transposed": Mistake("def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b_h)", hint='transposed'),
    },
    "rnn_forward": {
        "h0 included in H": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    states = [h0]
    for s in range(X.shape[1]):
        states.append(rnn_step(X[:, s], states[-1], W_xh, W_hh, b_h))
    return np.stack(states, axis=1)
""", hint='includes h_0'),
        "state not carried over": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    return np.stack([rnn_step(X[:, s], h0, W_xh, W_hh, b_h) for s in range(X.shape[1])], axis=1)
""", hint='not carried over'),
        "stored before the update (h_0..h_{T-1})": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for s in range(X.shape[1]):
        states.append(h)
        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)
    return np.stack(states, axis=1)
""", hint='h_0..h_{T-1}'),
        "time and batch axes mixed up": Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for s in range(X.shape[1]):
        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states, axis=0)
""", hint='time and batch axes'),
    },
    "rnn_outputs": {
        "missing bias": Mistake("def rnn_outputs(H, W_hy, b_y):\n    return H @ W_hy", hint='bias b_y is missing'),
        "softmax applied": Mistake("def rnn_outputs(H, W_hy, b_y):\n    z = H @ W_hy + b_y\n    e = np.exp(z - z.max(-1, keepdims=True))\n    return e / e.sum(-1, keepdims=True)", hint='softmax'),
        "transposed W_hy": Mistake("def rnn_outputs(H, W_hy, b_y):\n    return H @ W_hy.T + b_y", hint='transposed'),
        "only the last step": Mistake("def rnn_outputs(H, W_hy, b_y):\n    return H[:, -1:] @ W_hy + b_y", hint='last step'),
    },
    "RNN": {
        "h0 created on the default device": Mistake(_RNN_HEAD + """
    def forward(self, X, h0=None):
        h = torch.zeros(X.shape[0], self.W_hh.shape[0], dtype=X.dtype) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint='device'),
        "W_hh transposed in forward": Mistake(_RNN_HEAD + """
    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh.T + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint='W_hh is transposed'),
        "returns H including h0": Mistake(_RNN_HEAD + """
    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = [h]
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint='includes h_0'),
        "h0 = torch.zeros(N, H): no dtype, no device": Mistake(_RNN_HEAD + """
    def forward(self, X, h0=None):
        h = torch.zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint="dtype"),
        "weights initialised with torch.randn": Mistake(edit(_RNN_HEAD, ".uniform_(-bound, bound)", ".normal_()") + """
    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint="[-1/sqrt(H), 1/sqrt(H)]"),
        "PyTorch's weight layout (H, D)": Mistake("""
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        self.W_xh = torch.nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh.T + h @ self.W_hh.T + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
""", hint='transposed'),
    },
}

# Not the student's own work: the first line of every test cell of the function says so.
MISTAKES["RNN"]["calls the built-in nn.RNN"] = Mistake("""
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.core = torch.nn.RNN(input_size, hidden_size, batch_first=True)

    def forward(self, X, h0=None):
        H, h_T = self.core(X, None if h0 is None else h0[None])
        return H, h_T[0]
""", hint="re-implements")
# The attack suite's RNN (tests/attacks/builtin_dynamic.py): nn.RNN reached by a computed name and
# run by torch.func.functional_call on the course's parameters.
MISTAKES["RNN"]["nn.RNN behind a computed name, run by functional_call"] = Mistake(
    attack_cells("builtin_dynamic")["RNN"],
    hint="looks up a name at run time")
MISTAKES["rnn_step"]["calls the course's reference answer"] = Mistake("""
def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    return oracle.rnn_step(x_t, h_prev, W_xh, W_hh, b_h)
""", hint="reference")

# Correct sources that the mistakes below change a line or two of.
_FORWARD = """
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for s in range(X.shape[1]):
        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states, axis=1)
"""
_MODULE = _RNN_HEAD + """
    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        states = []
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
            states.append(h)
        return torch.stack(states, dim=1), h
"""

# Issue 19, held-out batch A: mistakes written before the messages that name them were tuned
MISTAKES["rnn_step"].update({
    'concatenated weights stacked in the wrong order': Mistake("""
def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    return np.tanh(np.concatenate([x_t, h_prev], axis=1) @ np.concatenate([W_hh, W_xh], axis=0) + b_h)
""", hint='swapped'),
})
MISTAKES["rnn_forward"].update({
    'keeps only the last state': Mistake(edit(_FORWARD,
        '    h, states = h0, []', '    h = h0',
        """        states.append(h)
    return np.stack(states, axis=1)""", '    return h'), hint='last'),
    "H allocated with X's shape (N, T, D)": Mistake(edit(_FORWARD,
        '    h, states = h0, []', """    H = np.zeros_like(X)
    h = h0""",
        """        states.append(h)
    return np.stack(states, axis=1)""", """        H[:, s] = h
    return H"""), hint='(N, T, H)'),
    'loops over the batch axis (X[s])': Mistake(edit(_FORWARD,
        '        h = rnn_step(X[:, s], h, W_xh, W_hh, b_h)', '        h = rnn_step(X[s], h, W_xh, W_hh, b_h)'), hint='X[:, s]'),
    'first step skipped (range(1, T))': Mistake(edit(_FORWARD,
        '    for s in range(X.shape[1]):', '    for s in range(1, X.shape[1]):'), hint='first'),
})
MISTAKES["rnn_outputs"].update({
    'batch and time axes flattened and not restored': Mistake("""
def rnn_outputs(H, W_hy, b_y):
    return H.reshape(-1, H.shape[-1]) @ W_hy + b_y
""", hint='flattened'),
})
MISTAKES["RNN"].update({
    "h0 made as (1, N, H), nn.RNN's layout": Mistake(edit(_MODULE,
        '        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0', '        h = X.new_zeros(1, X.shape[0], self.W_hh.shape[0]) if h0 is None else h0'), hint='(N, H)'),
    'h0 made like X[:, 0] (width D)': Mistake(edit(_MODULE,
        '        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0', '        h = torch.zeros_like(X[:, 0]) if h0 is None else h0'), hint='(N, H)'),
    'h0 = torch.zeros(N, H, device=X.device): float32 whatever X is': Mistake(edit(_MODULE,
        '        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0', '        h = torch.zeros(X.shape[0], self.W_hh.shape[0], device=X.device) if h0 is None else h0'),
        caught_by=('test_RNN_visible',), hint='dtype'),  # the hidden test's float64 runs all pass h0
    'keeps only the last state': Mistake(_RNN_HEAD + """
    def forward(self, X, h0=None):
        h = X.new_zeros(X.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)
        return h, h
""", hint='last'),
})

# Issue 19, held-out batch B: mistakes written before the messages that name them were tuned
MISTAKES["rnn_step"].update({
    'the tanh is missing': Mistake("""def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    return x_t @ W_xh + h_prev @ W_hh + b_h""", hint='tanh'),
})
MISTAKES["rnn_forward"].update({
    'returns the list of states': Mistake(edit(_FORWARD,
        '    return np.stack(states, axis=1)', '    return states'), hint='axis 1'),
    'runs backwards in time': Mistake(edit(_FORWARD,
        '    for s in range(X.shape[1]):', '    for s in reversed(range(X.shape[1])):',
        '    return np.stack(states, axis=1)', '    return np.stack(states[::-1], axis=1)'), hint='backwards'),
})
MISTAKES["rnn_outputs"].update({
    'bias added before the product': Mistake("""def rnn_outputs(H, W_hy, b_y):
    return (H + b_y) @ W_hy""", hint='b_y'),
})
MISTAKES["RNN"].update({
    'W_xh transposed in forward': Mistake(edit(_MODULE,
        '            h = torch.tanh(X[:, s] @ self.W_xh + h @ self.W_hh + self.b_h)', '            h = torch.tanh(X[:, s] @ self.W_xh.T + h @ self.W_hh + self.b_h)'), hint='transposed'),
    'W_hh initialised as the identity': Mistake(edit(_MODULE,
        '        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))', '        self.W_hh = torch.nn.Parameter(torch.eye(hidden_size))'), caught_by=('test_RNN_visible', 'test_RNN_hidden'), hint='uniform'),
})

# Issue 19, held-out batch C: mistakes written before the messages that name them were tuned
MISTAKES["rnn_step"].update({
    'W_xh multiplied from the left (np.dot(W_xh, x_t))': Mistake("""
def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    return np.tanh(np.dot(W_xh, x_t.T).T + h_prev @ W_hh + b_h)
""", hint='transposed'),
})
MISTAKES["rnn_forward"].update({
    'H preallocated, step 0 reads H[:, -1] (zeros) instead of h0': Mistake("""
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    N, T, _ = X.shape
    H = np.zeros((N, T, h0.shape[1]))
    for s in range(T):
        H[:, s] = rnn_step(X[:, s], H[:, s - 1], W_xh, W_hh, b_h)
    return H
""", hint='h0'),
})
MISTAKES["rnn_outputs"].update({
    'log-softmax returned': Mistake("""
def rnn_outputs(H, W_hy, b_y):
    z = H @ W_hy + b_y
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))
""", hint='softmax'),
})
MISTAKES["RNN"].update({
    'loops over X.shape[0] steps': Mistake(edit(_MODULE,
        '        for s in range(X.shape[1]):', '        for s in range(X.shape[0]):'), hint='X.shape[1]'),
    'b_h initialised to zeros': Mistake(edit(_MODULE,
        '        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))', '        self.b_h = torch.nn.Parameter(torch.zeros(hidden_size))'), caught_by=('test_RNN_visible',), hint='uniform'),
})

ALTERNATIVES = {
    "rnn_step": "def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(np.einsum('nd,dh->nh', x_t, W_xh) + np.einsum('nk,kh->nh', h_prev, W_hh) + b_h)",
    "rnn_forward": """
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    N, T, _ = X.shape
    H = np.empty((N, T, h0.shape[1]), dtype=X.dtype)
    h = h0
    for t in range(T):
        h = np.tanh(X[:, t] @ W_xh + h @ W_hh + b_h)
        H[:, t] = h
    return H
""",
    "rnn_outputs": "def rnn_outputs(H, W_hy, b_y):\n    return np.einsum('nth,hk->ntk', H, W_hy) + b_y",
    "RNN": ["""
class RNN(torch.nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = hidden_size ** -0.5
        self.W_xh = torch.nn.Parameter(torch.rand(input_size, hidden_size) * 2 * k - k)
        self.W_hh = torch.nn.Parameter(torch.rand(hidden_size, hidden_size) * 2 * k - k)
        self.b_h = torch.nn.Parameter(torch.rand(hidden_size) * 2 * k - k)

    def forward(self, X, h0=None):
        if h0 is None:
            h0 = torch.zeros(X.shape[0], self.W_hh.shape[0], device=X.device, dtype=X.dtype)
        H, h = [], h0
        for x_t in X.unbind(dim=1):
            h = torch.tanh(torch.addmm(self.b_h, x_t, self.W_xh) + h @ self.W_hh)
            H.append(h)
        return torch.stack(H, 1), h
""", """
class RNN(torch.nn.Module):
    # Parameters made in a loop and read back by name: lookups in its own object are allowed.
    SHAPES = {"W_xh": ("D", "H"), "W_hh": ("H", "H"), "b_h": ("H",)}

    def __init__(self, input_size, hidden_size):
        super().__init__()
        sizes, bound = {"D": input_size, "H": hidden_size}, hidden_size ** -0.5
        for name, shape in self.SHAPES.items():
            setattr(self, name, torch.nn.Parameter(torch.empty(*(sizes[s] for s in shape)).uniform_(-bound, bound)))

    def forward(self, X, h0=None):
        W_xh, W_hh, b_h = (getattr(self, name) for name in self.SHAPES)
        h = X.new_zeros(X.shape[0], W_hh.shape[0]) if h0 is None else h0
        H = []
        for x_t in X.unbind(dim=1):
            h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)
            H.append(h)
        return torch.stack(H, 1), h
"""],
}

CONTRACT = ["rnn_step", "rnn_forward", "rnn_outputs", "RNN"]
globals().update(standard_tests(A, CONTRACT, MISTAKES, ALTERNATIVES))


def test_module_equals_nn_rnn_in_float64():
    solution = solution_run(A)
    from seqlab.oracles import rnn as oracle

    torch.manual_seed(3)
    model = solution.namespace["RNN"](6, 4).double()
    X, h0 = torch.randn(3, 7, 6, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    H, h_T = model(X, h0)
    H_ref, hT_ref = oracle.torch_rnn(model.W_xh, model.W_hh, model.b_h)(X, h0[None])
    torch.testing.assert_close(H, H_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(h_T, hT_ref[0], rtol=1e-6, atol=1e-6)


def test_module_is_clean_on_the_meta_device():
    solution = solution_run(A)
    model = solution.namespace["RNN"](3, 2)
    X = torch.randn(2, 5, 3)
    with torch.device("meta"):
        H, h_T = model(X)
    assert H.device == X.device and H.shape == (2, 5, 2)


@pytest.mark.gpu
def test_module_runs_on_cuda():
    solution = solution_run(A)
    from seqlab.oracles import rnn as oracle

    torch.manual_seed(4)
    model = solution.namespace["RNN"](5, 8).double().cuda()
    X = torch.randn(4, 9, 5, dtype=torch.float64, device="cuda")
    H, h_T = model(X)
    assert H.device.type == "cuda" and h_T.device.type == "cuda"
    H_ref, _ = oracle.torch_rnn(model.W_xh, model.W_hh, model.b_h)(X)
    torch.testing.assert_close(H, H_ref, rtol=1e-6, atol=1e-6)
