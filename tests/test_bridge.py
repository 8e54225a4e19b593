"""The bridge between the judge and the student's kernel (autograder/protocol.py, wire.py, kernel/servant.py,
judge/bridge.py): what crosses, and how.

The kernel here is a subprocess serving a socket (as the grader's kernel does, without the sandbox);
this test process plays the judge. The full path (fork server, sandbox, CLI) is covered by
tests/test_bridge_chapters.py and tests/test_grading_faults.py.
"""
from __future__ import annotations

import base64
import io
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from autograder import protocol, wire
from autograder.judge.bridge import BridgeError, Link, Remote, RemoteError
from autograder.judge.main import bind_names
from tests.harness import ROOT

KERNEL = textwrap.dedent("""
    import socket, sys
    from autograder.forkserver import shell as shells
    from autograder.kernel.servant import Servant, poison_oracles
    sock = socket.socket(fileno=int(sys.argv[1]))
    poison_oracles()
    Servant(sock, shells.new_shell(), shells.run_cell, 100_000).serve()
""")


@pytest.fixture(scope="module")
def kernel():
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([sys.executable, "-c", KERNEL, str(theirs.fileno())], pass_fds=(theirs.fileno(),), cwd=ROOT)
    theirs.close()
    link = Link(ours)
    ns: dict = {}

    def run(source: str) -> dict:
        link.cells.append(source)
        reply = link.request(protocol.RunCell(textwrap.dedent(source)))
        assert reply.get("cell_error") is None, reply["cell_error"]
        bind_names(ns, reply.get("names"), lambda name: True, link)
        return ns

    yield run, link
    ours.close()
    proc.wait(timeout=10)


# ---------------------------------------------------------------- the wire format alone

def _roundtrip(x):
    refs = []
    enc = wire.Encoder(lambda obj: pytest.fail(f"not data: {obj!r}"))
    return wire.Decoder(lambda tag, msg: pytest.fail("no references here"), on_leaf=lambda o, m: refs.append(o))(enc(x))


def test_data_crosses_as_itself():
    g = torch.Generator().manual_seed(3)
    x = [None, True, 3, 2.5, float("inf"), "s", (1, 2), {"a": [1], 3: (4,)}, {1, 2}, frozenset({3}),
         torch.float64, torch.device("cpu"), torch.Size([2, 3]), slice(1, None, 2), range(0, 5, 2), Ellipsis]
    assert _roundtrip(x) == x
    a = np.arange(6.0).reshape(2, 3)[:, ::2]  # not contiguous
    b = _roundtrip(a)
    assert b.dtype == a.dtype and np.array_equal(a, b)
    assert _roundtrip(np.float32(1.5)) == np.float32(1.5) and type(_roundtrip(np.float32(1.5))) is np.float32
    assert _roundtrip(np.array(2.0)).shape == ()
    assert torch.equal(_roundtrip(g).get_state(), g.get_state())


def test_tensors_keep_dtype_device_grad_and_parameterness():
    p = torch.nn.Parameter(torch.randn(2, 3, dtype=torch.float64))
    p.grad = torch.ones(2, 3, dtype=torch.float64)
    q = _roundtrip(p)
    assert type(q) is torch.nn.Parameter and q.requires_grad and q.dtype == torch.float64
    assert torch.equal(q, p) and torch.equal(q.grad, p.grad)
    bf = _roundtrip(torch.ones(3, dtype=torch.bfloat16))
    assert bf.dtype == torch.bfloat16
    m = _roundtrip(torch.empty(4, 5, device="meta"))
    assert m.device.type == "meta" and m.shape == (4, 5)
    assert _roundtrip(torch.tensor(3.0)).shape == ()


@pytest.mark.parametrize("bad", [
    [1, 2],                                  # a bare list is not a wire value
    {"zz": 1},                               # an unknown tag
    {"L": "not a list"},
    {"dt": "Tensor"},                        # only the dtypes the format names
    {"dv": "cuda:" + "0" * 100},
    {"tn": None, "dt": "float32", "dev": "cpu", "shape": [2]},      # data missing
    {"rg": [0, "5", 1]},
])
def test_malformed_values_are_refused(bad):
    with pytest.raises(wire.WireError):
        wire.Decoder(lambda tag, msg: None)(bad)


def test_pickled_arrays_are_refused_not_loaded():
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError):
        wire.Decoder(lambda tag, msg: None)({"nd": base64.b64encode(buf.getvalue()).decode()})


def test_deep_and_huge_values_are_refused():
    deep = {"L": []}
    node = deep
    for _ in range(wire.MAX_DEPTH + 5):
        node["L"].append({"L": []})
        node = node["L"][0]
    with pytest.raises(wire.WireError):
        wire.Decoder(lambda tag, msg: None)(deep)
    nested: list = []
    for _ in range(wire.MAX_DEPTH + 5):
        nested = [nested]
    with pytest.raises(wire.WireError):
        wire.Encoder(lambda obj: None)(nested)


# ---------------------------------------------------------------- through a kernel

def test_functions_are_called_with_data_and_errors_keep_their_class(kernel):
    run, link = kernel
    ns = run("""
        import numpy as np
        def double(x):
            if x is None:
                raise ValueError("no input")
            return x * 2
        class Mine(Exception):
            pass
        def odd():
            raise Mine("mine")
    """)
    assert isinstance(ns["double"], Remote) and ns["double"].__name__ == "double"
    out = ns["double"](np.arange(3.0))
    assert type(out) is np.ndarray and np.array_equal(out, [0.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="no input"):
        ns["double"](None)
    with pytest.raises(RemoteError, match="Mine: mine"):
        ns["odd"]()
    assert "double" in ns["double"].__seqlab_cells__[-1]


def test_a_module_is_driven_through_its_handle_and_gradients_cross(kernel):
    run, link = kernel
    ns = run("""
        import torch
        class Affine(torch.nn.Module):
            def __init__(self, d):
                super().__init__()
                self.W = torch.nn.Parameter(torch.randn(d, d, dtype=torch.float64))
            def forward(self, X):
                return torch.tanh(X @ self.W), X.sum()
    """)
    m = ns["Affine"](3)
    assert isinstance(m, torch.nn.Module) and isinstance(m, Remote)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["W"]
    W = m.W.detach().clone()
    X = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    out, total = m(X)
    (out * torch.arange(6.0, dtype=torch.float64).reshape(2, 3)).sum().backward()
    Wl, Xl = W.clone().requires_grad_(True), X.detach().clone().requires_grad_(True)
    (torch.tanh(Xl @ Wl) * torch.arange(6.0, dtype=torch.float64).reshape(2, 3)).sum().backward()
    assert torch.allclose(X.grad, Xl.grad) and torch.allclose(m.W.grad, Wl.grad)
    # an in-place change of a fetched parameter is written back before the next request
    p = m.W
    with torch.no_grad():
        p.mul_(0)
    assert torch.count_nonzero(m(torch.ones(1, 3, dtype=torch.float64))[0]) == 0
    assert m.double() == m  # the same object in the kernel comes back as the same handle


def test_gradients_and_generator_states_come_back(kernel):
    run, link = kernel
    ns = run("""
        import torch
        def scale_(params, gen):
            for p in params:
                p.grad.mul_(0.5)
            torch.rand(3, generator=gen)
    """)
    lin = torch.nn.Linear(2, 2)
    for q in lin.parameters():
        q.grad = torch.ones_like(q)
    weights = [q.detach().clone() for q in lin.parameters()]
    g = torch.Generator().manual_seed(0)
    ns["scale_"](lin.parameters(), g)  # a generator of parameters, as in a training loop
    assert all(torch.equal(q.grad, torch.full_like(q, 0.5)) for q in lin.parameters())
    assert all(torch.equal(q, w) for q, w in zip(lin.parameters(), weights))
    fresh = torch.Generator().manual_seed(0)
    torch.rand(3, generator=fresh)
    assert torch.equal(g.get_state(), fresh.get_state())


def test_a_call_that_changes_its_arguments_values_is_refused_and_changes_nothing_here(kernel):
    """The judge computes expected values from its own arrays: a student's function that zeroes an
    argument (b_h[...] = 0, then answers without the bias) must not reach them."""
    from seqlab.testing import CheckError

    run, link = kernel
    ns = run("""
        import numpy as np
        def no_bias_(x, b):
            b[...] = 0
            return x + b
        def nudge(x):
            for i in range(x.size):
                old = x.flat[i]
                x.flat[i] = old + 1e-5
                x.flat[i] = x.flat[i] - 1e-5   # put back, up to the last bit
            return x.sum()
    """)
    x, b = np.ones(3), np.arange(3.0)
    with pytest.raises(CheckError, match="in place"):
        ns["no_bias_"](x, b)
    assert np.array_equal(b, [0.0, 1.0, 2.0])
    v = np.random.default_rng(0).normal(size=5)
    assert ns["nudge"](v) == pytest.approx(v.sum())


def test_callbacks_and_the_meta_device(kernel):
    run, link = kernel
    ns = run("""
        import torch
        def apply_twice(f, x):
            return f(f(x))
        def zeros_like_bad(X):
            return torch.zeros(X.shape) + X
    """)
    assert ns["apply_twice"](lambda v: v + 1, 3) == 5
    X = torch.ones(2, 3)
    assert ns["zeros_like_bad"](X).device.type == "cpu"
    with torch.device("meta"):
        with pytest.raises((RuntimeError, NotImplementedError)):
            ns["zeros_like_bad"](X)


def test_course_oracles_are_not_available_in_the_kernel(kernel):
    run, link = kernel
    reply = link.request(protocol.RunCell("from seqlab.oracles import rnn as oracle\noracle.rnn_step(1, 2, 3, 4, 5)"))
    err = reply["cell_error"]
    assert err and err["ename"] == "RuntimeError" and "not available" in err["evalue"]


def test_values_too_large_fail_the_call_not_the_bridge(kernel):
    run, link = kernel
    ns = run("""
        import numpy as np
        def huge():
            return np.zeros(20_000_000)
        def deep():
            x = []
            for _ in range(100_000):
                x = [x]
            return x
        def ok():
            return 1
    """)
    with pytest.raises(ValueError, match="limit"):
        ns["huge"]()
    with pytest.raises(ValueError, match="nested"):
        ns["deep"]()
    assert ns["ok"]() == 1


def test_a_handle_after_its_kernel_ended_says_so():
    ours, theirs = socket.socketpair()
    link = Link(ours)
    r = Remote(link, 1, "function", "f", [])
    theirs.close()
    with pytest.raises(BridgeError):
        r(1)
    with pytest.raises(BridgeError, match="ended"):
        r(2)
    ours.close()
