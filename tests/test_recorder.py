"""The kernel's recorder (autograder/kernel/recorder.py) in a process of its own, as a kernel has it:
guards installed, the course's Python-level built-ins watched, one window per scenario; the judge's
reading of each record (autograder/judge/operators.py) is what is asserted.

Each scenario reaches a built-in some way a reader of the code might not see; the record names it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from autograder.judge.operators import findings
from tests.harness import ROOT

SCENARIOS = textwrap.dedent('''
    import json, sys, threading
    import numpy as np
    import torch
    from autograder.kernel import recorder as R

    torch.set_num_threads(1)
    R.install_guards()
    R.watch(["torch.nn.MultiheadAttention", "torch.nn.functional.multi_head_attention_forward",
             "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad.clip_grad_norm_"])
    rec = R.Recorder()
    X = torch.randn(2, 5, 3, dtype=torch.float64)
    rnn = torch.nn.RNN(3, 4, batch_first=True).double()
    mha = torch.nn.MultiheadAttention(3, 1, bias=False, batch_first=True).double()
    flat = list(rnn._flat_weights)
    h0 = torch.zeros(1, 2, 4, dtype=torch.float64)
    args = (X, h0, flat, True, 1, 0.0, False, False, True)
    pool = __import__("concurrent.futures").futures.ThreadPoolExecutor(1)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    def own_rnn():
        h, W_ih, W_hh, b = h0[0], flat[0], flat[1], flat[2] + flat[3]
        for s in range(X.shape[1]):
            h = torch.tanh(X[:, s] @ W_ih.T + h @ W_hh.T + b)
        return h

    def meta_own():
        with torch.device("meta"):
            return torch.tanh(torch.zeros(2, 3) @ torch.ones(3, 4))

    def rf_off():
        torch._C._autograd._enable_record_function(False)
        rnn(X)
        torch._C._autograd._enable_record_function(True)

    def stop():
        torch._C._autograd._disable_profiler()
        rnn(X)

    def clip():
        ps = [torch.nn.Parameter(torch.randn(3)) for _ in range(2)]
        for p in ps:
            p.grad = torch.randn(3)
        torch.nn.utils.clip_grad_norm_.__wrapped__(ps, 1.0)

    def new_thread_mha():
        t = threading.Thread(target=lambda: mha(X, X, X))
        t.start()
        t.join()

    cases = {
        "own": own_rnn,
        "meta-own": meta_own,
        "numpy": lambda: np.tanh(np.ones((2, 3))) @ np.ones(3),
        "plain": lambda: rnn(X),
        "subclass-walk": lambda: next(c for c in subclasses(torch.nn.Module) if c.__name__ == "RNN")(3, 4, batch_first=True).double()(X),
        "functional-call": lambda: torch.func.functional_call(rnn, dict(rnn.named_parameters()), (X,)),
        "torch-c": lambda: vars(torch._C._VariableFunctionsClass)["rnn_tanh"](*args),
        "private-kernel": lambda: torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(X[None], X[None], X[None]),
        "decompose": lambda: torch.ops.aten.rnn_tanh.input.decompose(*args),
        "dispatch-key": lambda: torch.ops.aten.rnn_tanh.input._op_dk(torch._C.DispatchKey.CompositeImplicitAutograd, *args),
        "pool": lambda: pool.submit(rnn, X).result(),
        "mha": lambda: mha(X, X, X),
        "mha-new-thread": new_thread_mha,
        "clip-unwrapped": clip,
        "numpy-via-torch": lambda: torch.from_numpy(np.ones(3)).tanh().numpy(),
        "record-functions-off": rf_off,
        "profiler-stopped": stop,
    }
    out = {}
    for name, run in cases.items():
        rec.open("opened")
        torch.ones(3).sin()  # the servant's own work, outside the student's spans
        with rec.student():
            run()
        out[name] = rec.close("closed")
    print(json.dumps(out))
''')

RNN = ("torch.nn.RNN", "torch.nn.RNNCell", "torch.rnn_tanh", "torch._VF")
ATTENTION = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
             "torch.nn.functional.multi_head_attention_forward")
#: scenario -> (the function's forbidden list, what the findings must say: "" none, "refused: <words>", "tampered")
EXPECTED = {
    "own": (RNN, ""), "meta-own": (ATTENTION, ""), "numpy": (("torch",), ""),
    "plain": (RNN, "refused: aten::rnn_tanh"), "subclass-walk": (RNN, "refused: aten::rnn_tanh"),
    "functional-call": (RNN, "refused: aten::rnn_tanh"), "torch-c": (RNN, "refused: aten::rnn_tanh"),
    "private-kernel": (ATTENTION, "refused: _scaled_dot_product_flash_attention_for_cpu"),
    "decompose": (RNN, "refused: dispatcher (decompose)"), "dispatch-key": (RNN, "refused: dispatcher (_op_dk)"),
    "pool": (RNN, "refused: aten::rnn_tanh"), "mha": (ATTENTION, "refused: torch.nn.MultiheadAttention"),
    "mha-new-thread": (ATTENTION, "refused: torch.nn.functional.multi_head_attention_forward"),
    "clip-unwrapped": (("torch.nn.utils.clip_grad_norm_",), "refused: torch.nn.utils.clip_grad_norm_"),
    "numpy-via-torch": (("torch",), "refused: NumPy alone"),
    "record-functions-off": (RNN, "tampered"), "profiler-stopped": (RNN, "tampered"),
}


@pytest.fixture(scope="module")
def records():
    proc = subprocess.run([sys.executable, "-c", SCENARIOS], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_the_record_says_what_ran(records, scenario):
    forbidden, want = EXPECTED[scenario]
    f = findings("f", forbidden, records[scenario], "opened", "closed")
    if want == "":
        assert f.refused == () and f.tampered is None, (f, records[scenario])
    elif want == "tampered":
        assert f.tampered, (f, records[scenario])
    else:
        words = want.split(": ", 1)[1]
        assert f.tampered is None and any(words in r for r in f.refused), (f, records[scenario])


def test_the_servants_own_work_is_left_out(records):
    assert "aten::sin" not in records["own"]["ops"] and "aten::tanh" in records["own"]["ops"]


def test_operators_on_other_threads_are_recorded(records):
    assert records["pool"]["other_threads"] > 0 and "aten::rnn_tanh" in records["pool"]["ops"]
