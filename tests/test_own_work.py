"""An answer that calls the course's reference answers or the built-in it re-implements earns no
points: the static reading of ``seqlab.ownwork`` and the checks of ``seqlab.testing`` built on it."""
from __future__ import annotations

import textwrap

import pytest

from seqlab import ownwork, testing
from seqlab.testing import CheckError, check_implemented, check_own_work

SETUP = """\
%pip install -q seqlab
!ls
import numpy as np
import torch
from seqlab.oracles import rnn as oracle
from seqlab.testing import check_implemented
"""
LSTM = ["torch.nn.LSTM", "torch.nn.LSTMCell"]


def found(name: str, *cells: str, forbidden=LSTM, setup: str = SETUP) -> list[str]:
    return ownwork.violations(name, [setup, *map(textwrap.dedent, cells)], forbidden)


@pytest.mark.parametrize("imports,use", [
    ("import torch.nn as nn", "nn.LSTM(3, 4)"),
    ("from torch import nn", "nn.LSTM(3, 4)"),
    ("from torch.nn import LSTM as L", "L(3, 4)"),
    ("import torch.nn", "torch.nn.LSTM(3, 4)"),
    ("", "torch.nn.modules.rnn.LSTM(3, 4)"),          # the private home of the public class
    ("from torch import nn", 'getattr(nn, "LSTM")(3, 4)'),
    ("", '__import__("torch").nn.LSTM(3, 4)'),
    ("import importlib", 'importlib.import_module("torch.nn").LSTM(3, 4)'),
    ("from importlib import import_module", 'import_module("torch.nn.modules.rnn").LSTMCell(3, 4)'),
    ("from torch.nn import *", "LSTMCell(3, 4)"),
    ("builtin = torch.nn.LSTM", "builtin(3, 4)"),      # a global alias
])
def test_every_way_of_naming_a_builtin_is_found(imports, use):
    student = f"""
{imports}
class LSTM(torch.nn.Module):
    def __init__(self, D, H):
        super().__init__()
        self.core = {use}
"""
    [message] = found("LSTM", student)
    assert message.startswith("line 6: LSTM uses ") and "the built-in this exercise re-implements" in message
    assert "torch.nn.LSTM" in message


@pytest.mark.parametrize("setup_line,use", [
    ("from seqlab.oracles import rnn as oracle", "oracle.rnn_step"),
    ("from seqlab import oracles", "oracles.rnn.rnn_step"),
    ("import seqlab.oracles.rnn", "seqlab.oracles.rnn.rnn_step"),
    ("from seqlab.oracles.rnn import rnn_step as ref", "ref"),
    ("import importlib", 'importlib.import_module("seqlab.oracles.rnn").rnn_step'),
    ("import seqlab", 'getattr(seqlab, "oracles").rnn.rnn_step'),
    ("from seqlab.oracles.rnn import *", "rnn_forward"),
])
def test_every_way_of_naming_an_oracle_is_found(setup_line, use):
    student = f"""
def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    return {use}(x_t, h_prev, W_xh, W_hh, b_h)
"""
    [message] = found("rnn_step", student, forbidden=(), setup=setup_line)
    assert message.startswith("line 3: rnn_step calls ") and "the course's reference answer (seqlab.oracles)" in message


def test_the_message_names_the_call_and_its_line():
    student = """
    def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
        return oracle.rnn_step(x_t, h_prev, W_xh, W_hh, b_h)
    """
    assert found("rnn_step", student) == [
        "line 3: rnn_step calls oracle.rnn_step, the course's reference answer (seqlab.oracles)"]


def test_a_builtin_written_under_another_name_shows_its_public_name():
    student = """
    import torch.nn as nn
    class LSTM(torch.nn.Module):
        def __init__(self, D, H):
            super().__init__()
            self.core = nn.LSTM(D, H)
    """
    assert found("LSTM", student) == [
        "line 6: LSTM uses nn.LSTM (torch.nn.LSTM), the built-in this exercise re-implements"]


def test_a_helper_that_calls_the_oracle_is_followed_and_named():
    helper = """
    def step(*args):
        return oracle.rnn_step(*args)
    """
    student = """
    def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
        return step(x_t, h_prev, W_xh, W_hh, b_h)
    """
    assert found("rnn_step", helper, student) == [
        "line 3 (in step, which rnn_step uses): rnn_step calls oracle.rnn_step, "
        "the course's reference answer (seqlab.oracles)"]


def test_helpers_that_call_each_other_end():
    student = """
    def ping(n):
        return pong(n - 1) if n else 0
    def pong(n):
        return ping(n)
    def rnn_step(x):
        return rnn_step(x) + ping(3)
    """
    assert found("rnn_step", student) == []
    assert found("rnn_step", student.replace("return ping(n)", "return oracle.rnn_step(n)")) == [
        "line 5 (in pong, which rnn_step uses): rnn_step calls oracle.rnn_step, "
        "the course's reference answer (seqlab.oracles)"]


def test_the_last_definition_counts():
    old = """
    def rnn_step(x):
        return oracle.rnn_step(x)
    """
    new = """
    def rnn_step(x):
        return np.tanh(x)
    """
    assert found("rnn_step", old, new) == []
    assert len(found("rnn_step", new, old)) == 1


def test_a_name_rebound_to_the_oracle_after_its_definition_is_found():
    student = """
    def rnn_step(x):
        return np.tanh(x)
    rnn_step = oracle.rnn_step
    """
    assert found("rnn_step", student) == [
        "line 4: rnn_step is oracle.rnn_step, the course's reference answer (seqlab.oracles)"]


def test_a_correct_solution_is_not_flagged():
    student = """
    class LSTM(torch.nn.Module):
        def __init__(self, D, H):
            super().__init__()
            self.W = torch.nn.Parameter(torch.empty(D, 4 * H).uniform_(-0.1, 0.1))
        def forward(self, X):
            i, f, g, o = (X @ self.W).chunk(4, dim=-1)
            return torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g))
    """
    assert found("LSTM", student) == []


def test_a_students_own_function_named_like_a_builtin_is_not_flagged():
    local = """
    def one_hot_torch(indices, V):
        def one_hot(i, n):
            return (i.unsqueeze(-1) == torch.arange(n, device=i.device)).float()
        return one_hot(indices, V)
    """
    top_level = """
    from torch.nn.functional import one_hot
    def one_hot(i, n):
        return (i.unsqueeze(-1) == torch.arange(n, device=i.device)).float()
    def one_hot_torch(indices, V):
        return one_hot(indices, V)
    """
    forbidden = ["torch.nn.functional.one_hot"]
    assert found("one_hot_torch", local, forbidden=forbidden) == []
    assert found("one_hot_torch", top_level, forbidden=forbidden) == []
    assert len(found("one_hot_torch", top_level.replace("def one_hot(i, n)", "def mine(i, n)"),
                     forbidden=forbidden)) == 1


def test_a_forbidden_module_forbids_all_of_it_and_a_specific_entry_is_named_first():
    student = """
    def softmax(S, axis=-1):
        P = torch.softmax(torch.as_tensor(S), dim=axis)
        return P.numpy()
    """
    assert found("softmax", student, forbidden=["torch.softmax", "torch"]) == [
        "line 3: softmax uses torch.softmax, the built-in this exercise re-implements",
        "line 3: softmax uses torch.as_tensor, from torch, which this exercise is written without"]


def test_magics_do_not_break_the_reading_and_syntax_errors_give_nothing():
    student = """
    %time x = 1
    !echo hi
    def rnn_step(x):
        return oracle.rnn_step(x)
    """
    assert found("rnn_step", student) == [
        "line 5: rnn_step calls oracle.rnn_step, the course's reference answer (seqlab.oracles)"]
    assert found("rnn_step", "def rnn_step(x):\n    return oracle.rnn_step(x\n") == []
    assert found("rnn_step", "x = 1\n") == []


def test_an_argument_default_and_a_local_alias_are_followed():
    student = """
    class LSTM(torch.nn.Module):
        def make(self, D, H, mod=torch.nn):
            cls = mod.LSTM
            return cls(D, H)
    """
    assert [m.split(":")[0] for m in found("LSTM", student)] == ["line 4", "line 5"]


# ----------------------------------------------------------------------------- seqlab.testing


def _define(source: str, namespace: dict) -> None:
    """Run ``source`` as a notebook cell would, keeping ``In`` as IPython (and tests/harness.py) do."""
    namespace.setdefault("In", [""]).append(source)
    exec(compile(source, f"<cell {len(namespace['In'])}>", "exec"), namespace)


def test_check_own_work_fails_with_the_call_and_registers_for_the_hidden_tests():
    namespace: dict = {}
    _define(SETUP.replace("%pip install -q seqlab\n!ls\n", ""), namespace)
    _define("import torch.nn as nn\nclass LSTM(torch.nn.Module):\n    def __init__(self, D, H):\n"
            "        super().__init__()\n        self.core = nn.LSTM(D, H)\n", namespace)
    with pytest.raises(CheckError, match=r"(?s)LSTM is not your own work.*line 5: LSTM uses nn.LSTM"):
        check_own_work(namespace["LSTM"], forbidden=["torch.nn.LSTM"])
    with pytest.raises(CheckError, match="torch.nn.LSTM"):  # a hidden test's first line
        check_implemented(namespace["LSTM"])
    _define("class LSTM(torch.nn.Module):\n    def forward(self, X):\n        return X\n", namespace)
    check_implemented(namespace["LSTM"])
    testing._FORBIDDEN.pop("LSTM")


def test_the_oracle_is_forbidden_without_registration():
    namespace: dict = {}
    _define(SETUP.replace("%pip install -q seqlab\n!ls\n", ""), namespace)
    _define("def rnn_step_x(x_t, h_prev, W_xh, W_hh, b_h):\n    return oracle.rnn_step(x_t, h_prev, W_xh, W_hh, b_h)\n",
            namespace)
    with pytest.raises(CheckError, match="line 2: rnn_step_x calls oracle.rnn_step"):
        check_implemented(namespace["rnn_step_x"])


def test_the_graders_cells_are_read_first_and_find_the_stub():
    def proxy():
        """Stands in for the bridge's handle on a student's function."""

    proxy.__name__ = "rnn_step"
    proxy.__seqlab_cells__ = [SETUP, "def rnn_step(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"]
    with pytest.raises(CheckError, match="not written yet"):
        check_implemented(proxy)
    proxy.__seqlab_cells__ = [SETUP, "def rnn_step(x):\n    return oracle.rnn_step(x)\n"]
    with pytest.raises(CheckError, match="line 2: rnn_step calls oracle.rnn_step"):
        check_implemented(proxy)
    proxy.__seqlab_cells__ = [SETUP, "def rnn_step(x):\n    return np.tanh(x)\n"]
    check_implemented(proxy)


def test_an_oracle_passed_as_the_answer_is_refused():
    from seqlab.oracles import rnn

    with pytest.raises(CheckError, match="reference answer"):
        check_implemented(rnn.rnn_step)


# ----------------------------------------------------------------------------- names out of sight

RNN = ["torch.nn.RNN", "torch.nn.RNNCell", "torch.rnn_tanh", "torch._VF"]
UNSEEN = "an answer must name what it calls, so that the grader can tell it is the student's own work"


@pytest.mark.parametrize("imports,use,words", [
    ("", 'getattr(torch.nn, "R" + "NN")', "looks up a name at run time (getattr(torch.nn, ...))"),
    ("", 'getattr(torch, "rnn_" + "tanh")', "looks up a name at run time (getattr(torch, ...))"),
    ("", 'vars(torch.nn)["R" + "NN"]', "looks up a name at run time (vars(torch.nn)[...])"),
    ("", 'torch.nn.__dict__["R" + "NN"]', "looks up a name at run time (torch.nn.__dict__[...])"),
    ("", 'torch.nn.__getattribute__("R" + "NN")', "looks up a name at run time (torch.nn.__getattribute__(...))"),
    ("import sys", 'sys.modules["torch." + "nn"].RNN', "looks up a name at run time (sys.modules[...])"),
    ("", 'globals()["tor" + "ch"].nn.RNN', "looks up a name at run time (globals()[...])"),
    ("import operator", 'operator.attrgetter("nn." + "RNN")', "looks up a name at run time (operator.attrgetter(...))"),
    ("import importlib", 'importlib.import_module("torch." + "nn").RNN', "imports a module by a computed name"),
    ("", '__import__("tor" + "ch").nn.RNN', "imports a module by a computed name (__import__(...))"),
    ("", 'eval("torch.nn.RNN")', "runs code given as a string (eval)"),
    ("", 'exec("x = 1")', "runs code given as a string (exec)"),
    ("", 'compile("1", "<s>", "eval")', "runs code given as a string (compile)"),
])
def test_a_name_looked_up_at_run_time_is_refused(imports, use, words):
    student = f"""
{imports}
class RNN(torch.nn.Module):
    def forward(self, X):
        core = {use}
        return X
"""
    [message] = found("RNN", student, forbidden=RNN)
    assert message.startswith(f"line 5: RNN {words}") and message.endswith(UNSEEN), message


@pytest.mark.parametrize("use,path", [
    ('vars(torch.nn)["RNN"]', "torch.nn.RNN"),
    ('torch.nn.__dict__.get("RNN")', "torch.nn.RNN"),
    ('__import__("sys").modules["torch.nn"].RNN', "torch.nn.RNN"),
    ('__import__("operator").attrgetter("nn.RNN")(torch)', "torch.nn.RNN"),
    ("torch.rnn_tanh", "torch.rnn_tanh"),
    ("torch.ops.aten.rnn_tanh.input", "torch.rnn_tanh"),   # the ATen op behind the function
    ("torch.nn.modules.rnn._VF.rnn_tanh", "torch.rnn_tanh"),  # where nn.RNN finds it
    ("torch._VF.gru", "torch._VF"),
])
def test_a_constant_name_is_resolved_as_an_attribute(use, path):
    student = f"""
def RNN(X):
    return {use}(X)
"""
    [message] = found("RNN", student, forbidden=RNN)
    assert message.startswith("line 3: RNN uses ") and path in message, message


def test_a_module_handed_to_a_helper_or_kept_in_a_container_is_refused():
    helper = """
    def pick(module, name):
        return getattr(module, name)
    def RNN(X):
        return pick(torch.nn, "R" + "NN")(X)
    """
    assert found("RNN", helper, forbidden=RNN) == [
        f"line 5: RNN hands over torch.nn as a value, so the names looked up in it are out of sight: {UNSEEN}"]
    kept = """
    LIBRARIES = {"nn": torch.nn}
    def RNN(X):
        return getattr(LIBRARIES["nn"], "R" + "NN")(X)
    """
    [message] = found("RNN", kept, forbidden=RNN)
    assert message.startswith("line 2 (in LIBRARIES, which RNN uses): RNN hands over torch.nn as a value")


def test_a_global_bound_by_a_computed_lookup_is_read_like_a_helper():
    student = """
    builtin = getattr(torch.nn, "R" + "NN")
    def RNN(X):
        return builtin(X)
    RNN_too = getattr(torch.nn, "R" + "NN")
    """
    assert found("RNN", student, forbidden=RNN) == [
        f"line 2 (in builtin, which RNN uses): RNN looks up a name at run time (getattr(torch.nn, ...)): {UNSEEN}"]
    assert found("RNN_too", student, forbidden=RNN) == [
        f"line 5: RNN_too looks up a name at run time (getattr(torch.nn, ...)): {UNSEEN}"]


def test_lookups_in_the_students_own_objects_are_allowed():
    student = """
    import operator
    class MultiHeadAttention(torch.nn.Module):
        def __init__(self, d_model):
            super().__init__()
            for name in ("W_q", "W_k", "W_v"):
                setattr(self, name, torch.nn.Parameter(torch.zeros(d_model, d_model)))
        def forward(self, X, other, xp=np):
            Q, K, V = (X @ getattr(self, name) for name in ("W_q", "W_k", "W_v"))
            extra = getattr(other, "scale", 1.0), getattr(other, other.field), vars(other)[other.field]
            if hasattr(torch, "compile"):
                pass
            return xp.tanh(operator.attrgetter("data")(Q)) + K + V
    """
    assert found("MultiHeadAttention", student, forbidden=["torch.nn.MultiheadAttention"]) == []


def test_the_given_helpers_are_refused_to_every_answer():
    student = """
    from seqlab import given
    def rnn_forward(X, h0, W_xh, W_hh, b_h):
        return given.rnn_forward(X, h0, W_xh, W_hh, b_h)
    """
    assert found("rnn_forward", student, forbidden=()) == [
        "line 4: rnn_forward uses given.rnn_forward, a course helper that computes an earlier chapter's "
        "answer (seqlab.given)"]
    from seqlab import given

    with pytest.raises(CheckError, match="earlier chapter's answer"):
        check_implemented(given.rnn_forward)
