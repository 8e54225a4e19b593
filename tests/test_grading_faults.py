"""The grader's promises, on one batch of bad submissions built from solutions/01-one-hot.

Each submission is the solution notebook with one fault (or one attempt at tampering); each is
asserted to get exactly the points its code earns and the expected status per test cell, next
to a correct control at full marks in the same batch. The course's files, the other students'
submissions and the gradebook are hashed before and after. Chapter 01's test cells, in order:
build_vocab visible (1 point) and hidden (2), one_hot (1, 2), embedding_lookup (1, 2),
one_hot_torch (1, 2): 12 points.
"""
from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils as nbutils

from autograder.results import COST_COLUMNS
from tests.harness import ROOT, source_notebook

A = "01-one-hot"
IDS = ["test_build_vocab_visible", "test_build_vocab_hidden", "test_one_hot_visible", "test_one_hot_hidden",
       "test_embedding_lookup_visible", "test_embedding_lookup_hidden", "test_one_hot_torch_visible",
       "test_one_hot_torch_hidden"]
POINTS = dict(zip(IDS, [1, 2, 1, 2, 1, 2, 1, 2]))
BV, OH, EL, OHT = IDS[0:2], IDS[2:4], IDS[4:6], IDS[6:8]


def _nb():
    return nbformat.read(source_notebook(A), as_version=4)


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _in_body(nb, gid, code):
    """Insert ``code`` (indented 4) at the start of the solution body of cell ``gid``."""
    c = _cell(nb, gid)
    body = "".join("    " + line + "\n" for line in code.strip("\n").splitlines())
    c.source = c.source.replace("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n" + body, 1)
    return nb


def _append(nb, code):
    nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb


WRONG_VOCAB = "return {}"
WRONG_ONE_HOT = "return np.zeros(np.asarray(indices).shape + (vocab_size,))"


def _cases(paths):
    """student -> (notebook or raw text, extra files, {grade_id: (score, status)} for cells that differ from passed)."""
    fail = lambda ids: {g: (0, "failed") for g in ids}  # noqa: E731 - a one-line table helper, read beside the table
    cases = {}
    cases["control"] = (_nb(), {}, {})
    cases['zoë, "d\'Artagnan"'] = (_nb(), {}, {})  # an id a spreadsheet must read back intact

    nb = _nb()
    _cell(nb, "build_vocab").source = "def build_vocab(tokens)\n    return {}\n"
    cases["syntax-error"] = (nb, {}, fail(BV))

    cases["hang"] = (_in_body(_nb(), "build_vocab", "if not tokens:\n    while True:\n        pass"), {}, fail(BV[1:]))
    cases["kernel-exit"] = (_in_body(_nb(), "embedding_lookup", "import os\nif E.shape == (9, 4):\n    os._exit(1)"), {}, fail(EL[1:]))
    cases["segfault"] = (_in_body(_nb(), "one_hot_torch", "import os, signal\nif vocab_size == 13:\n    os.kill(os.getpid(), signal.SIGSEGV)"),
                         {}, fail(OHT[1:]))
    cases["sys-exit"] = (_append(_in_body(_nb(), "build_vocab", "import sys\nif not tokens:\n    sys.exit(0)"), "raise SystemExit"),
                         {}, fail(BV[1:]))
    cases["output-flood"] = (_append(_nb(), "import sys\nfor _ in range(3000):\n    print('x' * 100_000)\nsys.stderr.write('y' * 10**7)"), {}, {})
    cases["input"] = (_in_body(_nb(), "build_vocab", "name = input('your name? ')"), {}, fail(BV))
    cases["not-json"] = ('{"cells": [', {}, {g: (0, "invalid") for g in IDS})

    nb = _nb()
    for c in nb.cells:
        c.metadata.pop("nbgrader", None)
    cases["lost-metadata"] = (nb, {}, {})

    nb = _nb()
    nb.cells.remove(_cell(nb, "test_one_hot_visible"))
    _cell(nb, "embedding_lookup").metadata["nbgrader"]["grade_id"] = "my_embedding"
    _cell(nb, "test_build_vocab_visible").metadata["nbgrader"]["grade_id"] = "renamed_test"
    cases["deleted-renamed"] = (nb, {}, {})

    shadow = b"raise SystemExit('a student file shadowed a course module')\n"
    cases["shadow-modules"] = (_nb(), {"torch.py": shadow, "numpy.py": shadow, "seqlab.py": shadow,
                                       "seqlab/__init__.py": shadow, "autograder/__init__.py": shadow}, {})

    probe = f"""
import os
leaks = []
for p in {[paths['solution'], paths['other'], paths['gradebook']]!r}:
    try:
        open(p, 'rb').read(1)
        leaks.append('read ' + p)
    except OSError:
        pass
for p in {[paths['solution'], paths['course_py'], paths['other']]!r}:
    try:
        open(p, 'a').write('# tampered')
        leaks.append('wrote ' + p)
    except OSError:
        pass
    try:
        os.remove(p)
        leaks.append('removed ' + p)
    except OSError:
        pass
print('leaks:', leaks)
"""
    nb = _append(_nb(), probe)
    _in_body(nb, "build_vocab", "if leaks:\n    return {}")  # only correct when nothing leaked
    nb.cells.insert(2, nb.cells.pop())  # the probe runs before build_vocab is defined
    if os.geteuid() == 0:  # without root there is no separate user or mount namespace to keep files out of reach
        cases["file-access"] = (nb, {}, {})

    cases["memory-hog"] = (_in_body(_nb(), "one_hot_torch", "if vocab_size == 13:\n    hog = np.ones(1 << 29)"), {}, fail(OHT[1:]))
    bomb = ("import os, threading, time\n"
            "threading.Thread(target=lambda: [time.sleep(0.01) for _ in iter(int, 1)], daemon=False).start()\n"
            "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    cases["fork-bomb"] = (_append(_nb(), bomb), {}, {})

    # ---- tampering: graded as the course's tests say, flagged tampered
    nb = _nb()
    _in_body(nb, "build_vocab", WRONG_VOCAB)
    _cell(nb, "test_build_vocab_visible").source = "print('build_vocab: visible tests passed')"
    _cell(nb, "test_build_vocab_hidden").source = "pass"
    cases["edited-tests"] = (nb, {}, {g: (0, "tampered") for g in BV})

    tampered_all = lambda lost: {g: (0 if g in lost else POINTS[g], "tampered") for g in IDS}  # noqa: E731 - as fail above
    nb = _in_body(_nb(), "one_hot", WRONG_ONE_HOT)
    _append(nb, "np.allclose = lambda *a, **k: True")
    nb.cells.insert(8, nb.cells.pop())  # right after the one_hot cell
    cases["patch-allclose"] = (nb, {}, tampered_all(OH + EL[:1]))

    nb = _in_body(_nb(), "one_hot", WRONG_ONE_HOT)
    _cell(nb, "one_hot").source += "\nget_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n"
    # the student's own kernel now turns every later cell of theirs into `pass`: nothing after it is defined
    cases["input-transformer"] = (nb, {}, tampered_all(OH + EL + OHT))

    nb = _in_body(_nb(), "build_vocab", WRONG_VOCAB)
    _cell(nb, "build_vocab").source += ("\nimport seqlab.testing\nseqlab.testing.check_equal = lambda *a, **k: None\n"
                                        "check_equal = lambda *a, **k: None\n")
    cases["patch-helpers"] = (nb, {}, tampered_all(BV))

    nb = _in_body(_nb(), "build_vocab", WRONG_VOCAB)
    _cell(nb, "build_vocab").source += "\nprint('build_vocab: visible tests passed')\n"
    cases["fake-success"] = (nb, {}, tampered_all(BV))

    nb = _nb()  # a result that says it equals anything: not data, so the judge gets a proxy, not a dict
    _cell(nb, "build_vocab").source = ("class Anything(dict):\n    def __eq__(self, other):\n        return True\n"
                                       "    def __ne__(self, other):\n        return False\n\n"
                                       "def build_vocab(tokens):\n    return Anything()\n")
    cases["fool-equality"] = (nb, {}, {BV[0]: (0, "failed"), BV[1]: (0, "failed")})

    nb = _nb()  # a test cell of an earlier release: its own checksum matches its text
    c = _cell(nb, "test_build_vocab_visible")
    c.source = "# (release of last term)\n" + c.source
    c.metadata["nbgrader"]["checksum"] = nbutils.compute_checksum(c)
    cases["outdated"] = (nb, {}, {BV[0]: (1, "outdated")})
    return cases


def _hash_tree(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _grade(batch, out, *extra):
    return subprocess.run([sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out), "--assignment", A,
                           "--workers", "2", "--cell-timeout", "8", "--memory-mb", "1024", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def _read(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _untimed(path):
    """summary.csv's rows without its timings, which a regrade changes."""
    return [{k: v for k, v in r.items() if k not in ("seconds", "bridge_seconds")} for r in _read(path)]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    batch, out = tmp / "submitted", tmp / "out"
    paths = {"solution": str(ROOT / "solutions" / A / f"{A}.ipynb"), "other": str(batch / "control" / A / f"{A}.ipynb"),
             "gradebook": str(out / "gradebook.db"), "course_py": str(ROOT / "autograder" / "course.py")}
    cases = _cases(paths)
    for student, (nb, files, _) in cases.items():
        d = batch / student / A
        d.mkdir(parents=True)
        if isinstance(nb, str):
            (d / f"{A}.ipynb").write_text(nb)
        else:
            nbformat.write(nb, d / f"{A}.ipynb")
        for rel, data in files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_bytes(data)
    # what the probes attack (notebooks/ is left out: other tools regenerate it while tests run)
    guarded = [ROOT / "solutions" / A, ROOT / "solutions" / "02-rnn", ROOT / "autograder"]
    before = _hash_tree(*guarded), _hash_tree(batch)
    proc = _grade(batch, out)
    after = _hash_tree(*guarded), _hash_tree(batch)
    return dict(proc=proc, out=out, batch=batch, cases=cases, before=before, after=after,
                cells=_read(out / "cells.csv"), grades=_read(out / "grades.csv"))


def test_every_case_gets_exactly_what_its_code_earns(graded):
    assert graded["cells"], graded["proc"].stderr[-3000:]
    got = {(r["student_id"], r["grade_id"]): (float(r["score"]), r["status"]) for r in graded["cells"]}
    wrong = []
    for student, (_, _, expected) in graded["cases"].items():
        for g in IDS:
            want = expected.get(g, (POINTS[g], "passed"))
            if got.get((student, g)) != (float(want[0]), want[1]):
                wrong.append(f"{student} {g}: expected {want}, got {got.get((student, g))}")
    assert not wrong, "\n".join(wrong) + "\n" + graded["proc"].stderr[-3000:]


def test_control_gets_full_marks_in_the_same_batch(graded):
    (row,) = [r for r in graded["grades"] if r["student_id"] == "control"]
    assert float(row["score"]) == float(row["max_score"]) == 12
    (odd,) = [r for r in graded["grades"] if r["student_id"] == 'zoë, "d\'Artagnan"']
    assert float(odd["score"]) == 12


def test_course_files_and_other_submissions_untouched(graded):
    assert graded["before"][0] == graded["after"][0], "course files changed"
    assert graded["before"][1] == graded["after"][1], "submissions changed"


def test_no_student_process_survives(graded):
    import pwd

    users = [p.pw_uid for p in pwd.getpwall() if p.pw_name.startswith("seqgrade-w")]
    left = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if d.stat().st_uid in users:
                    left.append(d.name)
            except OSError:
                pass
    assert not left


def test_output_flood_is_capped_in_the_feedback(graded):
    page = graded["out"] / "feedback" / "output-flood" / A / f"{A}.html"
    assert page.stat().st_size < 2_000_000
    assert "characters of output were dropped by the grader" in page.read_text()


def test_exit_status_and_messages(graded):
    proc = graded["proc"]
    assert proc.returncode == 1  # the not-JSON notebook could not be graded
    assert "not-json/01-one-hot/01-one-hot.ipynb: not a valid notebook" in proc.stderr
    assert "graded " in proc.stderr and "ETA" in proc.stderr  # the progress bar is on stderr
    assert "graded " not in proc.stdout


def test_summary_written_and_printed(graded):
    rows = _read(graded["out"] / "summary.csv")
    total = next(r for r in rows if r["assignment"] == A and r["item"] == "total")
    assert int(total["students"]) == len(graded["cases"])
    lost = {r["item"]: int(r["lost"]) for r in rows if r["item"] != "total"}
    expected_lost = {g: sum(1 for _, _, exp in graded["cases"].values() if exp.get(g, (POINTS[g],))[0] < POINTS[g]) for g in IDS}
    assert lost == expected_lost
    assert float(total["seconds"]) > 0  # the cost columns: on the total row only; bridge_* blank until a result carries them
    assert all(r[k] == "" for r in rows if r["item"] != "total" for k in COST_COLUMNS)
    assert all(total[k] == "" or float(total[k]) >= 0 for k in COST_COLUMNS)
    assert any(line.startswith(f"{A}: {len(graded['cases'])} students, mean") for line in graded["proc"].stdout.splitlines())


def test_gradebook_has_the_scores(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['out'] / 'gradebook.db'}", "seq-models-from-scratch") as gb:
        assert gb.find_submission(A, "control").score == 12
        assert gb.find_submission(A, "syntax-error").score == 9


def test_feedback_never_shows_hidden_tests(graded):
    """Pages of submissions whose hidden tests failed (a hang, a dead kernel, the memory cap) or passed
    show the hidden cells' scores and messages, never their source. (These submissions are built from the
    solutions, so their own answer cells are shown: only hidden-test lines count here.)"""
    from tests.leaks import find_leaks, secret_lines

    hidden = {line: src for line, src in secret_lines().items() if "hidden" in src and src.startswith(A)}
    pages = [graded["out"] / "feedback" / s / A / f"{A}.html" for s in ("control", "hang", "kernel-exit", "memory-hog")]
    assert hidden and all(p.exists() for p in pages)
    assert not find_leaks(pages, hidden)
    hang = pages[1].read_text()
    assert "TimeoutError: this cell ran longer than" in hang and "Traceback (most recent call last)" not in hang


def test_only_regrades_one_student_and_regrading_is_idempotent(graded):
    out = graded["out"]
    cells_before = (out / "cells.csv").read_bytes()
    grades_before = (out / "grades.csv").read_bytes()
    feedback_other = (out / "feedback" / "syntax-error" / A / f"{A}.html").stat().st_mtime_ns
    proc = _grade(graded["batch"], out, "--only", "control", "--force")  # --force: a real regrade, not the stored result
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "cells.csv").read_bytes() == cells_before
    assert (out / "grades.csv").read_bytes() == grades_before
    assert (out / "feedback" / "syntax-error" / A / f"{A}.html").stat().st_mtime_ns == feedback_other


def test_cluster_gives_identical_rows_and_regrading_is_idempotent(graded, tmp_path):
    """--cluster on a local Dask cluster of two workers: the same rows as the local pool gave;
    then a full local regrade into the same output folder: byte-identical CSVs."""
    distributed = pytest.importorskip("distributed")
    students = ["control", "input", "edited-tests"]
    batch = tmp_path / "submitted"
    for s in students:
        shutil.copytree(graded["batch"] / s, batch / s)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        proc = _grade(batch, tmp_path / "out", "--cluster", cluster.scheduler_address)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("cells.csv", "grades.csv"):
        local = [r for r in _read(graded["out"] / name) if r["student_id"] in students]
        assert _read(tmp_path / "out" / name) == local
    # and a full regrade of the same batch, locally, into the same folder gives byte-identical files
    # (summary.csv but for its timings)
    files = {name: (tmp_path / "out" / name).read_bytes() for name in ("cells.csv", "grades.csv")}
    summary = _untimed(tmp_path / "out" / "summary.csv")
    proc = _grade(batch, tmp_path / "out", "--force")  # --force: grade again rather than reuse the stored results
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {name: (tmp_path / "out" / name).read_bytes() for name in files} == files
    assert _untimed(tmp_path / "out" / "summary.csv") == summary
