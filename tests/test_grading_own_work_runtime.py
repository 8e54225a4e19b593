"""The own-work rule at run time beyond chapter 02 (whose attacks are in test_grading_attacks.py):
answers that the text rule lets through, graded through the CLI beside each chapter's solution.

- 06 ``self_attention_torch`` also runs ATen's private kernel behind ``scaled_dot_product_attention``
  (``torch.ops.aten._scaled_dot_product_flash_attention_for_cpu``), the issue's attack;
- 08 ``MultiHeadAttention`` also runs ``nn.MultiheadAttention``, found by a walk of
  ``torch.nn.Module.__subclasses__()``: a built-in written in Python, seen by its guard. The
  ``EncoderBlock`` and ``DecoderBlock`` of the solution use this class, so they lose theirs too;
- 04 ``clip_grad_norm_torch`` takes its norm from ``torch.nn.utils.get_total_norm``, found in the
  module's table by a name built at run time.

06 and 08 compute their results themselves and run the built-in beside (its result unused), so
that the values are right and only the record can refuse them. Every other cell keeps its points.
"""
from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from autograder.judge.names import forbidden_lists
from seqlab import ownwork
from tests.harness import ROOT, grade_id, source_notebook
from tests.test_grading_faults import _read

pytestmark = pytest.mark.slow

SUBCLASSES = '''

def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)
'''

#: chapter -> (the solution cell it changes, how, the cells it must lose, words of the feedback)
ATTACKS = {
    "06-self-attention": (
        "self_attention_torch",
        lambda src: src.replace("def self_attention_torch(", "def _own(", 1) + '''

def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    q = (X @ W_q).reshape(1, 1, -1, W_q.shape[1])
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, q, q)  # the private kernel, beside
    return _own(X, W_q, W_k, W_v, mask, scaled)
''',
        {"test_self_attention_torch_visible", "test_self_attention_torch_hidden"},
        "aten::_scaled_dot_product_flash_attention_for_cpu"),
    "08-transformer": (
        "MultiHeadAttention",
        lambda src: src.replace("class MultiHeadAttention(", "class _Own(", 1) + SUBCLASSES + '''

class MultiHeadAttention(_Own):
    def forward(self, X_q, X_kv, mask=None):
        builtin = next(c for c in _subclasses(torch.nn.Module) if c.__name__ == "Multihead" + "Attention")
        x = X_q.detach()[:1, :1]
        builtin(x.shape[-1], 1, batch_first=True, dtype=x.dtype, device=x.device)(x, x, x)  # beside
        return super().forward(X_q, X_kv, mask)
''',
        {f"test_{f}_{k}" for f in ("MultiHeadAttention", "EncoderBlock", "DecoderBlock") for k in ("visible", "hidden")},
        "torch.nn.MultiheadAttention"),
    "04-gradients": (
        "clip_grad_norm_torch",
        lambda src: '''def clip_grad_norm_torch(parameters, max_norm):
    params = list(parameters)
    with_grad = [p.grad for p in params if p.grad is not None]
    if not with_grad:
        return torch.zeros((), device=params[0].device if params else None)
    norm = next(f for name, f in vars(torch.nn.utils).items() if name == "get_" + "total_norm")
    total_norm = norm(with_grad)
    factor = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in with_grad:
        g.mul_(factor)
    return total_norm
''',
        {"test_clip_grad_norm_torch_visible", "test_clip_grad_norm_torch_hidden"},
        "get_total_norm"),
}


def _attacked(chapter: str):
    nb = nbformat.read(source_notebook(chapter), as_version=4)
    gid, change, _, _ = ATTACKS[chapter]
    cell = next(c for c in nb.cells if grade_id(c) == gid)
    cell.source = change(cell.source)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own-work-runtime")
    batch, out = tmp / "submitted", tmp / "out"
    for chapter in ATTACKS:
        for student, nb in ((f"control-{chapter}", nbformat.read(source_notebook(chapter), as_version=4)),
                            (f"attack-{chapter}", _attacked(chapter))):
            (batch / student / chapter).mkdir(parents=True)
            nbformat.write(nb, batch / student / chapter / f"{chapter}.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out), "--workers", "2",
                           "--cell-timeout", "60"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    rows = _read(out / "cells.csv") if (out / "cells.csv").exists() else []
    return dict(proc=proc, out=out, rows=rows)


def _cells(graded, student: str, chapter: str) -> dict[str, tuple[float, str]]:
    return {r["grade_id"]: (float(r["score"]), r["status"]) for r in graded["rows"]
            if r["student_id"] == student and r["assignment"] == chapter}


@pytest.mark.parametrize("chapter", list(ATTACKS))
def test_the_text_rule_lets_it_through(chapter):
    nb = _attacked(chapter)
    gid, _, _, _ = ATTACKS[chapter]
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    visible = next(c.source for c in nb.cells if grade_id(c) == f"test_{gid}_visible")
    forbidden = forbidden_lists([visible])[gid]
    assert ownwork.violations(gid, cells, forbidden) == []


@pytest.mark.parametrize("chapter", list(ATTACKS))
def test_the_attack_loses_exactly_its_functions_cells(graded, chapter):
    control, got = _cells(graded, f"control-{chapter}", chapter), _cells(graded, f"attack-{chapter}", chapter)
    assert control and all(status == "passed" for _, status in control.values()), graded["proc"].stderr[-3000:]
    lost = ATTACKS[chapter][2]
    assert got == {g: (0.0, "failed") if g in lost else v for g, v in control.items()}


@pytest.mark.parametrize("chapter", list(ATTACKS))
def test_the_feedback_names_what_ran(graded, chapter):
    page = (graded["out"] / "feedback" / f"attack-{chapter}" / chapter / f"{chapter}.html").read_text()
    assert ATTACKS[chapter][3] in page and "is not your own work" in page
