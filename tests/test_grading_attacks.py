"""The grader's trust boundary, attacked: one batch of submissions built from solutions/02-rnn.

Each attack (tests/attacks/, one file a submission) is the solution notebook with a WRONG
``rnn_step`` (the bias is missing) plus code that tries to make the course's tests pass anyway:
rebinding the checks and NumPy's comparisons from a thread, a SIGALRM timer, an audit hook, a
finalizer or ``__del__`` run by the cyclic collector, from inside ``rnn_step`` itself through
module dicts, a result object that claims equality, the reference answer swapped for the
student's, a module class that outlives a restore of its dict, or an input the function zeroes
in place so that a reference computed after the call agrees. Each must cost exactly the two
``rnn_step`` cells and nothing else. Answers that are not the student's own work get 0 for their
function: ``oracle.rnn_step`` called plainly (the message names it) or by computed names, and
``torch.nn.RNN`` behind a computed name in ``RNN``. Returns too deep or too large to cross to the
judge cost those cells only, and a correct solution with threads of its own gets full marks.

The own-work rule at run time (kernel/recorder.py, judge/operators.py): answers that the text rule
lets through (checked below) but whose calls run the built-in all the same lose their function's
cells: ``nn.RNN`` found by a walk of ``torch.nn.Module.__subclasses__()`` and run by
``torch.func.functional_call``, ATen's ``rnn_tanh`` taken from ``torch._C``'s table by a computed
name or run by one dispatch key's kernel around the dispatcher, ``nn.RNN`` run on a thread pool made
in an earlier cell, and a NumPy ``rnn_step`` computed by PyTorch's Tensor found among ``object``'s
subclasses. Stopping the profiler, or turning record functions off around ``nn.RNN``, is tampering:
those cells score 0 with status ``tampered``.

No attack uses a name the static scan flags (``autograder/judge/scan.py``; checked below), so every
lost cell's status is ``failed`` (or ``tampered`` where the record says so) and every other cell's is
``passed``. The expected outcomes follow the grading rules (DESIGN.md, "How grading decides"), not
what a grader prints today.
Chapter 02's test cells, in order: rnn_step visible (1 point) and hidden (2), rnn_forward (1, 2),
rnn_outputs (1, 1), RNN (2, 2): 12 points.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.judge.scan import scan
from seqlab import ownwork
from tests.attack_cells import attack_cells
from tests.harness import ROOT, source_notebook
from tests.test_grading_faults import _cell, _hash_tree, _read

pytestmark = pytest.mark.slow

A = "02-rnn"
IDS = ["test_rnn_step_visible", "test_rnn_step_hidden", "test_rnn_forward_visible", "test_rnn_forward_hidden",
       "test_rnn_outputs_visible", "test_rnn_outputs_hidden", "test_RNN_visible", "test_RNN_hidden"]
POINTS = dict(zip(IDS, [1, 2, 1, 2, 1, 1, 2, 2]))
STEP, FORWARD, OUTPUTS, MODULE = IDS[0:2], IDS[2:4], IDS[4:6], IDS[6:8]

#: student -> (the file in tests/attacks/ its cells come from, or None for the solution; the cells it loses;
#: their status, "failed" unless given)
CASES = {
    "control": (None, []),
    "unrelated": (None, []),  # a bystander whose files and gradebook record must come out as they went in
    "oracle-call": ("oracle_call", STEP),
    "oracle-dynamic": ("oracle_dynamic", STEP),
    "builtin-dynamic": ("builtin_dynamic", MODULE),
    "thread": ("thread", STEP),
    "itimer": ("itimer", STEP),
    "audit-hook": ("audit_hook", STEP),
    "finalizer": ("finalizer", STEP),
    "del-hook": ("del_hook", STEP),
    "module-dicts": ("module_dicts", STEP),
    "liar": ("liar", STEP),
    "deep-return": ("deep_return", FORWARD),
    "huge-return": ("huge_return", OUTPUTS),
    "own-threads": ("own_threads", []),
    "oracle-swap": ("oracle_swap", STEP),
    "module-class": ("module_class", STEP),
    "mutate-inputs": ("mutate_inputs", STEP),
    "builtin-subclasses": ("builtin_subclasses", MODULE),
    "builtin-torch-c": ("builtin_torch_c", MODULE),
    "builtin-dispatch-key": ("builtin_dispatch_key", MODULE),
    "thread-pool": ("thread_pool", MODULE),
    "numpy-slips": ("numpy_slips", STEP),
    "profiler-off": ("profiler_off", MODULE, "tampered"),
    "record-functions-off": ("record_functions_off", MODULE, "tampered"),
}

#: Attacks only the run-time record catches: the text rule lets each through.
RUNTIME = ["builtin-subclasses", "builtin-torch-c", "builtin-dispatch-key", "thread-pool", "numpy-slips",
           "profiler-off", "record-functions-off"]
#: What the feedback of each says (the operator, the door, the tampering).
RUNTIME_MESSAGES = {"builtin-subclasses": "aten::rnn_tanh (behind torch.nn.RNN)",
                    "builtin-torch-c": "aten::rnn_tanh (behind torch.nn.RNN)",
                    "builtin-dispatch-key": "ran an operator around PyTorch",
                    "thread-pool": "aten::rnn_tanh (behind torch.nn.RNN)",
                    "numpy-slips": "written in NumPy alone",
                    "profiler-off": "stopped or replaced",
                    "record-functions-off": "_enable_record_function"}
FORBIDDEN = {"RNN": ("torch.nn.RNN", "torch.nn.RNNCell", "torch.rnn_tanh", "torch.rnn_relu", "torch.rnn_tanh_cell",
                     "torch.rnn_relu_cell", "torch._VF"), "rnn_step": ("torch",)}

#: Attacks on the checks themselves: their rnn_step misses the bias, and the judge's own check must say so.
BIASLESS = ["thread", "itimer", "audit-hook", "finalizer", "del-hook", "module-dicts", "oracle-swap", "module-class"]

def _submission(name: str | None):
    nb = nbformat.read(source_notebook(A), as_version=4)
    for gid, src in (attack_cells(name) if name else {}).items():
        _cell(nb, gid).source = src
    return nb


def expected(student: str) -> dict[str, tuple[float, str]]:
    _, lost, *status = CASES[student]
    return {g: (0.0, status[0] if status else "failed") if g in lost else (float(POINTS[g]), "passed") for g in IDS}


def _page(graded, student: str) -> str:
    return (graded["out"] / "feedback" / student / A / f"{A}.html").read_text()


def _grade(batch: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out), "--assignment", A,
                           "--workers", "2", "--cell-timeout", "30", "--memory-mb", "1024"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attacks")
    batch, out = tmp / "submitted", tmp / "out"
    for student, (name, *_) in CASES.items():
        (batch / student / A).mkdir(parents=True)
        nbformat.write(_submission(name), batch / student / A / f"{A}.ipynb")
    course = [ROOT / d for d in ("solutions", "notebooks", "autograder", "seqlab")]
    before = _hash_tree(*course), _hash_tree(batch / "unrelated")
    proc = _grade(batch, out)
    after = _hash_tree(*course), _hash_tree(batch / "unrelated")
    return dict(proc=proc, out=out, before=before, after=after, cells=_read(out / "cells.csv") if (out / "cells.csv").exists() else [])


@pytest.mark.parametrize("student", [s for s, (name, *_) in CASES.items() if name])
def test_the_scan_sees_nothing_so_lost_cells_are_failed_not_tampered(student):
    """Why ``expected`` says ``failed``: no attack cell uses a name scan.py flags."""
    for gid, src in attack_cells(CASES[student][0]).items():
        assert scan(src) == [], f"{student}/{gid}: the scan now flags it; expect 'tampered' for its cells"


@pytest.mark.parametrize("student", RUNTIME)
def test_the_text_rule_lets_the_runtime_attacks_through(student):
    """Why these need the record: reading the code finds nothing forbidden in them."""
    setup = next(c.source for c in nbformat.read(source_notebook(A), as_version=4).cells
                 if (c.metadata.get("nbgrader") or {}).get("grade_id") == "setup")
    for gid, src in attack_cells(CASES[student][0]).items():
        if gid in FORBIDDEN:
            assert ownwork.violations(gid, [setup, src], FORBIDDEN[gid]) == [], f"{student}/{gid}: the text rule sees it"


@pytest.mark.parametrize("student", RUNTIME)
def test_the_record_names_what_ran(graded, student):
    """The feedback says which operator ran, which door was opened, or how the recorder was switched off."""
    assert RUNTIME_MESSAGES[student] in _page(graded, student)


@pytest.mark.parametrize("student", list(CASES))
def test_each_submission_earns_exactly_what_its_code_earns(graded, student):
    assert graded["cells"], graded["proc"].stderr[-3000:]
    got = {r["grade_id"]: (float(r["score"]), r["status"]) for r in graded["cells"] if r["student_id"] == student}
    wrong = [f"{g}: expected {want}, got {got.get(g)}" for g, want in expected(student).items() if got.get(g) != want]
    assert not wrong, f"{student}:\n" + "\n".join(wrong)


def test_the_run_succeeds_and_the_control_gets_full_marks(graded):
    assert graded["proc"].returncode == 0, graded["proc"].stderr[-3000:]
    grades = {r["student_id"]: float(r["score"]) for r in _read(graded["out"] / "grades.csv")}
    assert grades["control"] == grades["unrelated"] == grades["own-threads"] == 12


def test_every_submission_ran_to_the_end(graded):
    """No cell of any submission raised: each attack was really made, none stopped at an error of its own."""
    broken = [s for s in CASES if "Traceback (most recent call last)" in _page(graded, s)]
    assert not broken


@pytest.mark.parametrize("student", BIASLESS)
def test_the_judge_names_the_missing_bias(graded, student):
    """The lost cells were decided by the course's own check, on the student's values."""
    assert "the bias b_h is missing" in _page(graded, student)


def test_changing_an_argument_in_place_is_refused_by_name(graded):
    """The judge's arrays never take the kernel's changes: the call that zeroed its b_h is refused."""
    assert "changed the values of an argument it was given" in _page(graded, "mutate-inputs")


def test_the_oracle_call_is_named_in_the_feedback(graded):
    """The refusal names the call. Source cells are highlighted token by token, so ``oracle.rnn_step``
    appears whole in a page only in a message (the control's page, whose tests call it, shows that)."""
    assert "oracle.rnn_step" not in _page(graded, "control")
    assert "oracle.rnn_step" in _page(graded, "oracle-call")


def test_course_files_untouched(graded):
    changed = sorted(p for p in graded["before"][0].keys() | graded["after"][0].keys()
                     if graded["before"][0].get(p) != graded["after"][0].get(p))
    # (an engineer editing the tree during the run trips this too: rerun on a quiet checkout)
    assert not changed, f"course files changed while grading: {changed[:10]}"


def test_unrelated_student_untouched(graded):
    from nbgrader.api import Gradebook

    assert graded["before"][1] == graded["after"][1], "the unrelated student's submission changed"
    with Gradebook(f"sqlite:///{graded['out'] / 'gradebook.db'}", "seq-models-from-scratch") as gb:
        sub = gb.find_submission(A, "unrelated")
        assert sub.score == sub.max_score == 12
        assert {g.name: g.score for g in sub.notebooks[0].grades} == {g: POINTS[g] for g in IDS}
