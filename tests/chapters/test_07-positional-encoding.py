"""Tests of the tests for 07-positional-encoding: the solution gets full marks, the stubs get none,
students' mistakes lose points and correct alternatives keep them."""
import numpy as np
import pytest
import torch

from seqlab.oracles import positional as oracle
from tests.chapters.standard import solution_run, standard_tests
from tests.harness import Mistake, check_alternative, edit, run_notebook, source_notebook

A = "07-positional-encoding"

MISTAKES = {
    "sinusoidal_pe": {
        "positions from 1": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(1, num_positions + 1)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
""", hint='counted from 1'),
        "exponent over the dimension index j/d": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    j = np.arange(d_model)
    ang = pos / base ** (j / d_model)
    return np.where(j % 2 == 0, np.sin(ang), np.cos(ang))
""", hint='column index j'),
        "sin and cos swapped": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.cos(ang), np.sin(ang)
    return PE
""", hint='swapped'),
        "sin and cos concatenated in halves": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)
""", hint='second half'),
        "base 1000": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / 1000 ** (np.arange(0, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
""", hint='base 1000'),
        "exponent k/d over the pair index": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(d_model // 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
""", hint='k/d'),
        "no ValueError for an odd d_model": Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2] = np.sin(ang)
    PE[:, 1::2] = np.cos(ang)[:, : d_model // 2]
    return PE
""", hint='even'),
    },
    "add_positional_encoding": {
        "positions from 1": Mistake("""
def add_positional_encoding(X):
    T, D = X.shape[-2:]
    return X + sinusoidal_pe(T + 1, D)[1:]
""", hint='counted from 1'),
        "the batch axis taken as time": Mistake("""
def add_positional_encoding(X):
    return X + sinusoidal_pe(X.shape[0], X.shape[-1])
""", hint='X.shape[-2]'),
        "changes X in place": Mistake("""
def add_positional_encoding(X):
    X += sinusoidal_pe(*X.shape[-2:])
    return X
""", hint='new array'),
        "scales X by sqrt(d) first": Mistake("""
def add_positional_encoding(X):
    T, D = X.shape[-2:]
    return X * np.sqrt(D) + sinusoidal_pe(T, D)
""", hint='sqrt(d)'),
        "arguments of sinusoidal_pe swapped": Mistake("""
def add_positional_encoding(X):
    T, D = X.shape[-2:]
    return X + sinusoidal_pe(D, T)
""", hint='sinusoidal_pe(T, D)'),
    },
    "pe_shift_matrix": {
        "transposed blocks (shifts backwards)": Mistake("""
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = offset * base ** (-np.arange(0, d_model, 2) / d_model)
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), -np.sin(w[k])], [np.sin(w[k]), np.cos(w[k])]]
    return M
""", hint='backwards'),
        "offset ignored": Mistake("""
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = base ** (-np.arange(0, d_model, 2) / d_model)
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), np.sin(w[k])], [-np.sin(w[k]), np.cos(w[k])]]
    return M
""", hint='offset is ignored'),
        "base 1000": Mistake("""
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = offset * 1000.0 ** (-np.arange(0, d_model, 2) / d_model)
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), np.sin(w[k])], [-np.sin(w[k]), np.cos(w[k])]]
    return M
""", hint='base 1000'),
        "exponent over the dimension index j/d": Mistake("""
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = offset * base ** (-np.arange(d_model) / d_model)
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        a, b = w[2 * k], w[2 * k + 1]
        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(a), np.sin(a)], [-np.sin(b), np.cos(b)]]
    return M
""", hint='angle'),
        "blocks for a table in halves": Mistake("""
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = offset * base ** (-np.arange(0, d_model, 2) / d_model)
    C, S = np.diag(np.cos(w)), np.diag(np.sin(w))
    return np.block([[C, S], [-S, C]])
""", hint='one half'),
    },
    "SinusoidalPositionalEncoding": {
        "a Parameter instead of a buffer": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.pe = torch.nn.Parameter(torch.tensor(sinusoidal_pe(max_len, d_model, base), dtype=torch.float32))

    def forward(self, X):
        return X + self.pe[: X.shape[1]].to(X.dtype)
""", hint='register_buffer'),
        "a plain attribute instead of a buffer": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.pe = torch.tensor(sinusoidal_pe(max_len, d_model, base), dtype=torch.float32)

    def forward(self, X):
        return X + self.pe[: X.shape[1]].to(X.dtype)
""", hint='register_buffer'),
        "positions from 1": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        table = torch.tensor(sinusoidal_pe(max_len + 1, d_model, base)[1:], dtype=torch.float32)
        self.register_buffer("pe", table)

    def forward(self, X):
        return X + self.pe[: X.shape[1]].to(X.dtype)
""", hint='counted from 1'),
        "sin and cos swapped": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        table = torch.tensor(sinusoidal_pe(max_len, d_model, base), dtype=torch.float32)
        self.register_buffer("pe", table.reshape(max_len, -1, 2).flip(-1).reshape(max_len, d_model))

    def forward(self, X):
        return X + self.pe[: X.shape[1]].to(X.dtype)
""", hint='swapped'),
        "float64 table upcasts float32 inputs": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.register_buffer("pe", torch.from_numpy(sinusoidal_pe(max_len, d_model, base)))

    def forward(self, X):
        return X + self.pe[: X.shape[1]]
""", hint='dtype'),
        "table built in forward on the default device": Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.register_buffer("pe", torch.tensor(sinusoidal_pe(max_len, d_model, base), dtype=torch.float32))

    def forward(self, X):
        T, D = X.shape[-2:]
        return X + torch.tensor(sinusoidal_pe(T, D), dtype=X.dtype)
""", hint='device'),
    },
}

# Not the student's own work: the first line of every test cell of the function says so. (PyTorch has
# no positional encoding, so a table computed with torch is a correct alternative, not a mistake.)
MISTAKES["sinusoidal_pe"]["calls the course's reference answer"] = Mistake("""
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    return oracle.written_table(num_positions, d_model, base)
""", hint="reference")
MISTAKES["SinusoidalPositionalEncoding"]["calls the course's reference answer"] = Mistake("""
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.register_buffer("pe", torch.as_tensor(oracle.written_table(max_len, d_model, base)))

    def forward(self, X):
        return X + self.pe[:X.shape[-2]].to(X.dtype)
""", hint="reference")

# Correct sources that the mistakes below change a line or two of.
_TABLE = """
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd d_model")
    pos = np.arange(num_positions)[:, None]
    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)
    PE = np.zeros((num_positions, d_model))
    PE[:, 0::2], PE[:, 1::2] = np.sin(ang), np.cos(ang)
    return PE
"""
_SHIFT = """
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = offset * base ** (-np.arange(0, d_model, 2) / d_model)
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), np.sin(w[k])], [-np.sin(w[k]), np.cos(w[k])]]
    return M
"""
_LAYER = """
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.register_buffer("pe", torch.tensor(sinusoidal_pe(max_len, d_model, base), dtype=torch.float32))

    def forward(self, X):
        return X + self.pe[: X.shape[1]].to(X.dtype)
"""

# Issue 19, held-out batch A: mistakes written before the messages that name them were tuned
MISTAKES["sinusoidal_pe"].update({
    'integer division in the exponent (2 * k // d)': Mistake(edit(_TABLE,
        '    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)', '    ang = pos / base ** (np.arange(0, d_model, 2) // d_model)'), hint='integer division'),
    'multiplied by base^(2k/d) instead of divided': Mistake(edit(_TABLE,
        '    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)', '    ang = pos * base ** (np.arange(0, d_model, 2) / d_model)'), hint='divide'),
    'float32 table': Mistake(edit(_TABLE,
        '    PE = np.zeros((num_positions, d_model))', '    PE = np.zeros((num_positions, d_model), dtype=np.float32)'), hint='float64'),
})
MISTAKES["add_positional_encoding"].update({
    'T and D read as X.shape[1], X.shape[2]': Mistake("""
def add_positional_encoding(X):
    return X + sinusoidal_pe(X.shape[1], X.shape[2])
""", hint='X.shape[-2]'),
    'table concatenated instead of added': Mistake("""
def add_positional_encoding(X):
    T, D = X.shape[-2:]
    return np.concatenate([X, np.broadcast_to(sinusoidal_pe(T, D), X.shape)], axis=-1)
""", hint='add'),
})
MISTAKES["pe_shift_matrix"].update({
    'integer division in the exponent': Mistake(edit(_SHIFT,
        '    w = offset * base ** (-np.arange(0, d_model, 2) / d_model)', '    w = offset / base ** (np.arange(0, d_model, 2) // d_model)'), hint='integer division'),
})
MISTAKES["SinusoidalPositionalEncoding"].update({
    'table sliced by the batch size': Mistake(edit(_LAYER,
        '        return X + self.pe[: X.shape[1]].to(X.dtype)', '        return X + self.pe[: X.shape[0]].to(X.dtype)'), hint='X.shape[1]'),
})

# Issue 19, held-out batch B: mistakes written before the messages that name them were tuned
MISTAKES["sinusoidal_pe"].update({
    'num_positions in the exponent instead of d_model': Mistake(edit(_TABLE,
        '    ang = pos / base ** (np.arange(0, d_model, 2) / d_model)', '    ang = pos / base ** (np.arange(0, d_model, 2) / num_positions)'), hint='d_model'),
    'the odd check inverted': Mistake(edit(_TABLE,
        """    if d_model % 2:
        raise ValueError("odd d_model")""", """    if d_model % 2 == 0:
        raise ValueError("d_model must be even")"""), hint='odd'),
})
MISTAKES["SinusoidalPositionalEncoding"].update({
    'the whole table added (not sliced to T)': Mistake(edit(_LAYER,
        '        return X + self.pe[: X.shape[1]].to(X.dtype)', '        return X + self.pe.to(X.dtype)'), hint='[:T]'),
})
MISTAKES["pe_shift_matrix"].update({
    'offset in the exponent': Mistake(edit(_SHIFT,
        '    w = offset * base ** (-np.arange(0, d_model, 2) / d_model)', '    w = base ** (-offset * np.arange(0, d_model, 2) / d_model)'), hint='offset'),
})

# Issue 19, held-out batch C: mistakes written before the messages that name them were tuned
MISTAKES["sinusoidal_pe"].update({
    'the table transposed (d_model, num_positions)': Mistake(edit(_TABLE,
        '    return PE', '    return PE.T'), hint='transposed'),
})
MISTAKES["add_positional_encoding"].update({
    'returns the table alone': Mistake("""
def add_positional_encoding(X):
    T, D = X.shape[-2:]
    return np.broadcast_to(sinusoidal_pe(T, D), X.shape).copy()
""", hint='X +'),
})
MISTAKES["pe_shift_matrix"].update({
    'the minus sign missing in the blocks': Mistake(edit(_SHIFT,
        '        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), np.sin(w[k])], [-np.sin(w[k]), np.cos(w[k])]]', '        M[2*k:2*k+2, 2*k:2*k+2] = [[np.cos(w[k]), np.sin(w[k])], [np.sin(w[k]), np.cos(w[k])]]'), hint='sign'),
})
MISTAKES["SinusoidalPositionalEncoding"].update({
    'max_len ignored (d_model rows)': Mistake(edit(_LAYER,
        '        self.register_buffer("pe", torch.tensor(sinusoidal_pe(max_len, d_model, base), dtype=torch.float32))', '        self.register_buffer("pe", torch.tensor(sinusoidal_pe(d_model, d_model, base), dtype=torch.float32))'), hint='max_len'),
})

ALTERNATIVES = {
    # loops over positions and pairs, math.sin per entry
    "sinusoidal_pe": """
import math

def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2 == 1:
        raise ValueError("d_model must be even")
    PE = np.zeros((num_positions, d_model))
    for i in range(num_positions):
        for k in range(d_model // 2):
            angle = i / base ** (2 * k / d_model)
            PE[i, 2 * k] = math.sin(angle)
            PE[i, 2 * k + 1] = math.cos(angle)
    return PE
""",
    # works in X's dtype, einsum-free broadcasting through an explicit leading axis
    "add_positional_encoding": """
def add_positional_encoding(X):
    X = np.asarray(X)
    T, D = X.shape[-2], X.shape[-1]
    flat = X.reshape(-1, T, D)
    out = np.stack([x + sinusoidal_pe(T, D) for x in flat])
    return out.reshape(X.shape).astype(X.dtype)
""",
    # blocks by np.kron-free loops over pairs, exp/log form of the frequencies
    "pe_shift_matrix": """
def pe_shift_matrix(offset, d_model, base=10000.0):
    M = np.zeros((d_model, d_model))
    for k in range(d_model // 2):
        w = offset * np.exp(-2 * k / d_model * np.log(base))
        c, s = np.cos(w), np.sin(w)
        M[2 * k:2 * k + 2, 2 * k:2 * k + 2] = np.array([[c, s], [-s, c]])
    return M
""",
    # the PyTorch tutorial's way: float32 angles, exp/log frequencies, buffer (1, max_len, d), not persistent
    "SinusoidalPositionalEncoding": """
import math

class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(base) / d_model))
        pe = torch.zeros(1, max_len, d_model)
        pe[0, :, 0::2] = torch.sin(position * div_term)
        pe[0, :, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x):
        return x + self.pe[:, : x.size(1)].to(x.dtype)
""",
}

#: More correct solutions written differently, each must keep full marks.
MORE_ALTERNATIVES = [
    # torch, then back to NumPy; frequencies by exp/log
    ("sinusoidal_pe", """
def sinusoidal_pe(num_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError("odd")
    pos = torch.arange(num_positions, dtype=torch.float64)
    w = torch.exp(-torch.arange(0, d_model, 2, dtype=torch.float64) * np.log(base) / d_model)
    ang = torch.outer(pos, w)
    return torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(num_positions, d_model).numpy()
"""),
    # the lecture page's construction: the matrix exponential of the rotation generator
    ("pe_shift_matrix", """
def pe_shift_matrix(offset, d_model, base=10000.0):
    w = torch.pow(torch.tensor(float(base), dtype=torch.float64), -2 * torch.arange(d_model // 2, dtype=torch.float64) / d_model)
    unit = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    G = torch.block_diag(*[unit * wk for wk in w])
    return torch.linalg.matrix_exp(offset * G).numpy()
"""),
    # the module built on the student's NumPy function, forward by slicing the buffer's time axis
    ("SinusoidalPositionalEncoding", """
class SinusoidalPositionalEncoding(torch.nn.Module):
    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.register_buffer("table", torch.from_numpy(sinusoidal_pe(max_len, d_model, base)).float())

    def forward(self, X):
        return X + self.table[: X.shape[-2]].type_as(X)
"""),
    # einsum with a ones vector over the leading axes, float32 kept as float32
    ("add_positional_encoding", """
def add_positional_encoding(X):
    T, D = X.shape[-2:]
    lead = np.ones(X.shape[:-2], dtype=X.dtype)
    return X + np.einsum("...,td->...td", lead, sinusoidal_pe(T, D).astype(X.dtype))
"""),
]


CONTRACT = ["sinusoidal_pe", "add_positional_encoding", "pe_shift_matrix", "SinusoidalPositionalEncoding"]
globals().update(standard_tests(A, CONTRACT, MISTAKES, ALTERNATIVES))


def test_solution_shows_the_lecture_point():
    # attention alone cannot tell the two "saw" apart; positions can
    out = solution_run(A).stdout
    assert "without positions, the two 'saw' get the same output: True" in out
    assert "with positions, they differ:                           True" in out


@pytest.mark.parametrize("function,source", MORE_ALTERNATIVES, ids=[f for f, _ in MORE_ALTERNATIVES])
def test_more_correct_alternatives_keep_full_marks(function, source):
    check_alternative(A, function, source)


def test_mistake_messages_name_the_mistake():
    """The visible tests' messages say which of the chapter's named mistakes a table looks like."""
    namespace = run_notebook(source_notebook(A), {"sinusoidal_pe": MISTAKES["sinusoidal_pe"]["base 1000"].source}).namespace
    wrong = namespace["sinusoidal_pe"](50, 8)
    with pytest.raises(AssertionError, match="base 1000"):
        oracle.check_sinusoidal_pe("table", wrong, 50, 8)
    for label, phrase in [("positions from 1", "positions counted from 1"), ("sin and cos swapped", "swapped"),
                          ("sin and cos concatenated in halves", "first half"),
                          ("exponent over the dimension index j/d", "column index j")]:
        ns = {"np": np}
        exec(MISTAKES["sinusoidal_pe"][label].source, ns)
        with pytest.raises(AssertionError, match=phrase):
            oracle.check_sinusoidal_pe(label, ns["sinusoidal_pe"](30, 8), 30, 8)


def test_the_oracle_accepts_the_lecture_numbers():
    """The property checks and the lecture's rows agree with each other (no table is built)."""
    rows = np.array([oracle.position_zero(4), oracle.LECTURE_PE1, oracle.LECTURE_PE2])
    oracle.check_sinusoidal_pe("the lecture's rows", rows, 3, 4)
    assert np.allclose(oracle.wavelengths(4), [2 * np.pi, 2 * np.pi * 100])


def _solution_namespace():
    run = run_notebook(source_notebook(A))
    assert not run.failed()
    return run.namespace


@pytest.mark.gpu
def test_layer_on_cuda_matches_cpu_and_the_lecture():
    ns = _solution_namespace()
    layer_cls = ns["SinusoidalPositionalEncoding"]
    cpu = layer_cls(64, max_len=512).double()
    gpu = layer_cls(64, max_len=512).double().to("cuda")
    assert all(b.device.type == "cuda" for b in gpu.buffers())
    X = torch.randn(8, 300, 64, dtype=torch.float64)
    out_gpu = gpu(X.to("cuda"))
    assert out_gpu.device.type == "cuda" and out_gpu.dtype == torch.float64
    torch.testing.assert_close(out_gpu.cpu(), cpu(X), rtol=1e-6, atol=1e-6)
    lecture = torch.tensor(np.array([oracle.position_zero(4), oracle.LECTURE_PE1, oracle.LECTURE_PE2]))
    small = layer_cls(4, max_len=3).to("cuda")
    out = small(torch.zeros(2, 3, 4, device="cuda"))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.cpu().double(), lecture.expand(2, 3, 4), rtol=1e-6, atol=1e-6)


@pytest.mark.gpu
def test_layer_on_cuda_with_float16_inputs():
    ns = _solution_namespace()
    layer = ns["SinusoidalPositionalEncoding"](32, max_len=64).to("cuda")
    X = torch.zeros(2, 64, 32, device="cuda", dtype=torch.float16)
    out = layer(X)
    assert out.dtype == torch.float16 and out.device.type == "cuda"
    oracle.check_sinusoidal_pe("float16 output on CUDA", out[0].float(), 64, 32, rtol=1e-3, atol=2e-3)
