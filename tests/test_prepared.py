"""What a run prepares is kept for the next (autograder/prepared.py), and the grader's processes skip
the imports that cost seconds for nothing they use (autograder/__init__.py)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

from autograder import prepared
from tests.harness import ROOT


def _course(tmp_path):
    root = tmp_path / "course"
    for a in ("01-one-hot", "02-rnn"):
        shutil.copytree(ROOT / "solutions" / a, root / "solutions" / a)
    return root


def test_an_unchanged_course_prepares_from_the_previous_run(tmp_path):
    root = _course(tmp_path)
    db = tmp_path / "gradebook.db"
    db.write_bytes(b"a gradebook")
    notebooks = {"01-one-hot": {"01-one-hot": {"source_json": "s", "release_json": "r", "history": {}}}}
    assert prepared.load(root, ["01-one-hot"]) is None
    prepared.save(root, ["01-one-hot"], db, notebooks)
    ready = prepared.load(root, ["01-one-hot"])
    assert ready.gradebook.read_bytes() == b"a gradebook"
    assert ready.notebooks == {"01-one-hot": {"01-one-hot": {"source_json": "s", "release_json": "r"}}}
    assert prepared.load(root, ["01-one-hot", "02-rnn"]) is None  # another set of assignments


def test_any_change_to_an_assignments_sources_prepares_it_again(tmp_path):
    root = _course(tmp_path)
    before = prepared.key(root, ["02-rnn"])
    nb = root / "solutions" / "02-rnn" / "02-rnn.ipynb"
    nb.write_text(nb.read_text().replace("rnn_step", "rnn_step ", 1))
    assert prepared.key(root, ["02-rnn"]) != before
    assert prepared.key(root, ["01-one-hot"]) == prepared.key(root, ["01-one-hot"])


def test_a_history_is_computed_once_per_commit(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"test_x_visible": ["text"]}

    assert prepared.history(ROOT, "a", "b", compute) == prepared.history(ROOT, "a", "b", compute) == {"test_x_visible": ["text"]}
    assert len(calls) == 1
    for p in (prepared.cache_dir(ROOT) / "history").glob("*-a-b.json"):
        p.unlink()


def test_the_graders_processes_skip_the_costly_imports():
    code = ("import sys, autograder, nbformat, nbgrader.api, nbgrader.apps\n"
            "import json; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rfc3987_syntax', 'jupyter_server') and sys.modules[m] is not None)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
