"""The class report (autograder/report/): the counting on hand-made cells.csv and mistakes.csv, the
mistake carried as data from the check that named it, excerpts, pages and plots.

The end-to-end test (a batch graded through the CLI, the report opened in Chromium) is
tests/site/test_class_report.py.
"""
from __future__ import annotations

import csv
import dataclasses
import re
import shutil

import numpy as np
import pytest

from autograder import report as class_report
from autograder.judge.verdict import verdict
from autograder.forkserver.shell import check_finding
from autograder.protocol import CellError
from autograder.records import CellVerdict, JobResult, NotebookResult, Status
from autograder.report.causes import blame_answer_faults, classify, function_of
from autograder.report.counts import Finding, count, findings_of_mistakes, mistakes_rows
from autograder.report.excerpts import REDACTED, anonymiser, choose
from autograder.report.pages import CSP, STYLE, RunFacts, all_pages
from autograder.report.plots import score_histogram
from autograder.report.theme import DARK, LIGHT
from autograder.results import read_csv, write_csv
from seqlab.testing import CheckError, call_checked, check_close, check_implemented, check_own_work

# ---------------------------------------------------------------- a hand-made class
#
# 02-rnn, four test cells (6 points), seven students:
#   s_a  everything right, but the scan flagged the code (status tampered, full score)
#   s_b  rnn_step with W_hh transposed; rnn_forward calls it, so its tests name the same mistake
#   s_c  rnn_step: the visible test names W_hh transposed, the hidden test names nothing
#   s_d  rnn_step without the bias; rnn_forward: visible test unnamed, hidden test timed out
#   s_e  no submission;  s_f  the release stub;  s_g  not a valid notebook
# 01-one-hot, one test cell: s_a right, s_b wrong with no name (the other students are not in it).

CELLS_CSV = """\ufeff"student_id","assignment","notebook","grade_id","score","max_score","status"
"s_a","01-one-hot","01-one-hot","test_one_hot_visible",1.0,1.0,"passed"
"s_a","02-rnn","02-rnn","test_rnn_step_visible",1.0,1.0,"tampered"
"s_a","02-rnn","02-rnn","test_rnn_step_hidden",2.0,2.0,"tampered"
"s_a","02-rnn","02-rnn","test_rnn_forward_visible",1.0,1.0,"tampered"
"s_a","02-rnn","02-rnn","test_rnn_forward_hidden",2.0,2.0,"tampered"
"s_b","01-one-hot","01-one-hot","test_one_hot_visible",0.0,1.0,"failed"
"s_b","02-rnn","02-rnn","test_rnn_step_visible",0.0,1.0,"failed"
"s_b","02-rnn","02-rnn","test_rnn_step_hidden",0.0,2.0,"failed"
"s_b","02-rnn","02-rnn","test_rnn_forward_visible",0.0,1.0,"failed"
"s_b","02-rnn","02-rnn","test_rnn_forward_hidden",0.0,2.0,"failed"
"s_c","02-rnn","02-rnn","test_rnn_step_visible",0.0,1.0,"failed"
"s_c","02-rnn","02-rnn","test_rnn_step_hidden",0.0,2.0,"failed"
"s_c","02-rnn","02-rnn","test_rnn_forward_visible",1.0,1.0,"passed"
"s_c","02-rnn","02-rnn","test_rnn_forward_hidden",2.0,2.0,"passed"
"s_d","02-rnn","02-rnn","test_rnn_step_visible",0.0,1.0,"failed"
"s_d","02-rnn","02-rnn","test_rnn_step_hidden",0.0,2.0,"failed"
"s_d","02-rnn","02-rnn","test_rnn_forward_visible",0.0,1.0,"failed"
"s_d","02-rnn","02-rnn","test_rnn_forward_hidden",0.0,2.0,"failed"
"s_e","02-rnn","02-rnn","test_rnn_step_visible",0.0,1.0,"missing"
"s_e","02-rnn","02-rnn","test_rnn_step_hidden",0.0,2.0,"missing"
"s_e","02-rnn","02-rnn","test_rnn_forward_visible",0.0,1.0,"missing"
"s_e","02-rnn","02-rnn","test_rnn_forward_hidden",0.0,2.0,"missing"
"s_f","02-rnn","02-rnn","test_rnn_step_visible",0.0,1.0,"failed"
"s_f","02-rnn","02-rnn","test_rnn_step_hidden",0.0,2.0,"failed"
"s_f","02-rnn","02-rnn","test_rnn_forward_visible",0.0,1.0,"failed"
"s_f","02-rnn","02-rnn","test_rnn_forward_hidden",0.0,2.0,"failed"
"s_g","02-rnn","02-rnn","test_rnn_step_visible",0.0,1.0,"invalid"
"s_g","02-rnn","02-rnn","test_rnn_step_hidden",0.0,2.0,"invalid"
"s_g","02-rnn","02-rnn","test_rnn_forward_visible",0.0,1.0,"invalid"
"s_g","02-rnn","02-rnn","test_rnn_forward_hidden",0.0,2.0,"invalid"
"""
T = "W_hh is transposed: use h_prev @ W_hh"
B = "the bias b_h is missing"
MISTAKES_CSV = f"""\ufeff"student_id","assignment","function","grade_id","mistake"
"s_b","01-one-hot","one_hot","test_one_hot_visible",""
"s_b","02-rnn","rnn_step","test_rnn_step_visible","{T}"
"s_b","02-rnn","rnn_step","test_rnn_step_hidden","{T}"
"s_b","02-rnn","rnn_forward","test_rnn_forward_visible","{T}"
"s_b","02-rnn","rnn_forward","test_rnn_forward_hidden","{T}"
"s_c","02-rnn","rnn_step","test_rnn_step_visible","{T}"
"s_c","02-rnn","rnn_step","test_rnn_step_hidden",""
"s_d","02-rnn","rnn_step","test_rnn_step_visible","{B}"
"s_d","02-rnn","rnn_step","test_rnn_step_hidden","{B}"
"s_d","02-rnn","rnn_forward","test_rnn_forward_visible",""
"""
#: What cells.csv and mistakes.csv do not hold: the causes that are not the code, and the flags.
OTHER_FINDINGS = [
    Finding("s_d", "02-rnn", "02-rnn", "test_rnn_forward_hidden", "time-out"),
    *[Finding("s_f", "02-rnn", "02-rnn", g, "not written") for g in
      ("test_rnn_step_visible", "test_rnn_step_hidden", "test_rnn_forward_visible", "test_rnn_forward_hidden")],
    *[Finding("s_a", "02-rnn", "02-rnn", g, flag="code") for g in
      ("test_rnn_step_visible", "test_rnn_step_hidden", "test_rnn_forward_visible", "test_rnn_forward_hidden")],
]
#: The answer cells kept with the results: s_b's and s_c's rnn_step differ only in the id in a
#: comment and trailing blanks, so they are one excerpt written by two students.
ANSWERS = {
    ("s_b", "02-rnn", "rnn_step"): "def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(x_t @ W_xh + h_prev @ W_hh.T + b_h)  # S_B's try\n",
    ("s_c", "02-rnn", "rnn_step"): "def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):  \n    return np.tanh(x_t @ W_xh + h_prev @ W_hh.T + b_h)  # s_c's try\n\n",
    ("s_b", "02-rnn", "rnn_forward"): "def rnn_forward(X, h0, W_xh, W_hh, b_h):\n    ...  # correct, calls rnn_step\n",
    ("s_d", "02-rnn", "rnn_step"): "def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    # </code></pre><script>alert('s_d')</script>\n    return np.tanh(x_t @ W_xh + h_prev @ W_hh)\n",
}
STUDENTS = ["s_a", "s_b", "s_c", "s_d", "s_e", "s_f", "s_g"]


@pytest.fixture
def tables(tmp_path):
    """The two hand-made CSV files, read back as the report reads them."""
    (tmp_path / "cells.csv").write_text(CELLS_CSV, encoding="utf-8")
    (tmp_path / "mistakes.csv").write_text(MISTAKES_CSV, encoding="utf-8")
    cells = read_csv(tmp_path / "cells.csv")
    with (tmp_path / "mistakes.csv").open(encoding="utf-8-sig", newline="") as f:
        mistakes = list(csv.DictReader(f))
    return cells, mistakes


@pytest.fixture
def reports(tables):
    cells, mistakes = tables
    return {r.assignment: r for r in count(cells, findings_of_mistakes(cells, mistakes) + OTHER_FINDINGS, ANSWERS)}


def test_scores_count_a_missing_submission_as_zero_and_say_how_many(reports):
    r = reports["02-rnn"]
    assert (r.students, r.no_submission, r.submitted, r.max_score) == (7, 1, 6, 6.0)
    assert r.mean == pytest.approx(9 / 7) and r.median == 0.0           # as summary.csv: s_a 6, s_c 3, the rest 0
    assert r.scores == (0.0, 0.0, 0.0, 0.0, 3.0, 6.0)                   # s_e is not plotted
    assert r.submitted_mean == pytest.approx(1.5) and r.submitted_median == 0.0


def test_each_test_cell_counts_who_lost_it_and_why(reports):
    cells = {c.grade_id: c for c in reports["02-rnn"].cells}
    assert [c.grade_id for c in reports["02-rnn"].cells] == [
        "test_rnn_step_visible", "test_rnn_step_hidden", "test_rnn_forward_visible", "test_rnn_forward_hidden"]
    assert {g: c.lost for g, c in cells.items()} == {
        "test_rnn_step_visible": 6, "test_rnn_step_hidden": 6, "test_rnn_forward_visible": 5, "test_rnn_forward_hidden": 5}
    assert dict(cells["test_rnn_step_visible"].reasons) == {
        "the code is wrong, named": 3, "no submission": 1, "not written (the release stub)": 1, "not a valid notebook": 1}
    assert dict(cells["test_rnn_step_hidden"].reasons)["the code is wrong, no name"] == 1
    assert dict(cells["test_rnn_forward_hidden"].reasons) == {
        "the code is wrong, named": 1, "time-out": 1, "no submission": 1, "not written (the release stub)": 1,
        "not a valid notebook": 1}


def test_named_mistakes_are_counted_per_function_most_frequent_first(reports):
    step, forward = reports["02-rnn"].functions
    assert (step.function, step.failing, step.unnamed, step.not_written) == ("rnn_step", 3, 0, 1)
    assert [(m.text, m.students) for m in step.mistakes] == [(T, 2), (B, 1)]
    # s_d's visible failure is unnamed and the hidden one timed out (not the code): one failing, unnamed
    assert (forward.function, forward.failing, forward.unnamed, forward.not_written) == ("rnn_forward", 2, 1, 1)
    (carried,) = forward.mistakes
    assert (carried.text, carried.students, carried.carried, carried.carried_from) == (T, 1, 1, ("rnn_step",))
    assert carried.excerpts == ()  # s_b's rnn_forward is right: the mistake came from rnn_step
    (one_hot,) = reports["01-one-hot"].functions
    assert (one_hot.failing, one_hot.unnamed, one_hot.mistakes) == (1, 1, ())


def test_excerpts_group_the_same_answer_and_blank_out_student_ids(reports):
    transposed, bias = reports["02-rnn"].functions[0].mistakes
    (excerpt,) = transposed.excerpts
    assert excerpt.students == 2 and not excerpt.cut
    assert excerpt.text.endswith(f"W_hh.T + b_h)  # {REDACTED}'s try")  # S_B (any case) and s_c blanked alike
    assert "<script>" in bias.excerpts[0].text and "s_d" not in bias.excerpts[0].text  # escaped by the page


def test_failures_that_are_not_the_code_are_counted_apart(reports):
    faults = {f.label: (f.submissions, f.cells, f.grade_ids) for f in reports["02-rnn"].faults}
    assert faults == {
        "not a valid notebook": (1, 4, ()),
        "time-out": (1, 1, ("test_rnn_forward_hidden",)),
        "tampering flag: the code reaches for the tools of tampering": (
            1, 4, ("test_rnn_step_visible", "test_rnn_step_hidden", "test_rnn_forward_visible", "test_rnn_forward_hidden")),
    }
    assert "no submission" not in faults  # counted in the scores instead
    assert reports["02-rnn"].faulted == 3  # s_g, s_d, s_a: students, each once


def test_mistakes_csv_is_written_back_byte_for_byte(tables, tmp_path):
    cells, mistakes = tables
    write_csv(tmp_path / "again.csv", class_report.MISTAKES_COLUMNS, mistakes_rows(cells, findings_of_mistakes(cells, mistakes) + OTHER_FINDINGS))
    assert (tmp_path / "again.csv").read_text(encoding="utf-8") == MISTAKES_CSV


# ---------------------------------------------------------------- the pages and the plot

def _pages(reports) -> dict[str, str]:
    run = RunFacts(graded=5, reused=1, workers="2 local workers", seconds_graded=1.25, seconds_all=1.5, grading_wall=4.0)
    return all_pages(tuple(reports.values()), run, "0" * 64, lambda r, t: score_histogram(list(r.scores), r.max_score, 1.0, 0.0, t))


def test_pages_name_no_student_and_escape_what_students_wrote(reports):
    pages = _pages(reports)
    assert set(pages) == {"index.html", "01-one-hot.html", "02-rnn.html"}
    for name, html in pages.items():
        text = re.sub(r'data:image/svg\+xml;base64,[A-Za-z0-9+/=]+', "", html)
        assert not [s for s in STUDENTS if re.search(re.escape(s), text, re.I)], name
        assert "<script" not in html.lower(), name
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;" in pages["02-rnn.html"]


def test_pages_load_nothing_and_allow_only_their_own_style(reports):
    import base64
    import hashlib

    assert f"'sha256-{base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()}'" in CSP
    assert "default-src 'none'" in CSP and "img-src data:" in CSP
    for html in _pages(reports).values():
        assert f'content="{CSP}"' in html and f"<style>{STYLE}</style>" in html
        assert not re.findall(r'(?:src|href|srcset)="(?!data:|[\w.-]+\.html")', html)


def test_the_plot_is_the_same_svg_every_time_in_each_theme():
    light = score_histogram([0, 3, 6, 6], 6, 3.75, 4.5, LIGHT)
    assert light == score_histogram([0, 3, 6, 6], 6, 3.75, 4.5, LIGHT)
    assert light != score_histogram([0, 3, 6, 6], 6, 3.75, 4.5, DARK)
    assert light.startswith(b"<?xml") and b"<dc:date>" not in light and LIGHT.primary.encode() in light


# ---------------------------------------------------------------- written once per change

def _result(student, assignment, rows, answers=None):
    return JobResult(student, assignment, {assignment: NotebookResult(rows, answers=answers or {})}, seconds=1.0)


def test_write_rewrites_the_pages_only_when_what_they_say_changes(tables, tmp_path):
    cells = [c for c in tables[0] if c["assignment"] == "01-one-hot"]
    rows = {s: [CellVerdict("test_one_hot_visible", c["score"], 1.0, Status(c["status"]), "",
                            cause="" if c["score"] else "mistake", mistake="" if c["score"] else "one_hot is wrong")]
            for s, c in ((c["student_id"], c) for c in cells)}
    results = [_result(s, "01-one-hot", r) for s, r in rows.items()]
    published, run = tmp_path / "out", RunFacts(2, 0, "1 local worker", 1.0, 1.0, 2.0)
    published.mkdir()

    def write(results, run):
        staging = tmp_path / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        wrote = class_report.write(staging, published, cells, results, lambda s, a: None, run)
        if wrote:
            shutil.rmtree(published / "report", ignore_errors=True)
            shutil.move(staging / "report", published / "report")
        return wrote, (staging / "mistakes.csv").read_bytes()

    wrote, first = write(results, run)
    assert wrote and (published / "report" / "index.html").exists()
    assert first.decode("utf-8-sig").splitlines()[1] == '"s_b","01-one-hot","one_hot","test_one_hot_visible","one_hot is wrong"'
    before = {p.name: p.read_bytes() for p in (published / "report").iterdir()}
    wrote, again = write(results, RunFacts(0, 2, "none needed (every submission was reused)", None, 1.0, None))
    assert not wrote and again == first  # an unchanged rerun: pages kept as they were, the CSV the same
    assert {p.name: p.read_bytes() for p in (published / "report").iterdir()} == before
    rows["s_b"][0] = dataclasses.replace(rows["s_b"][0], mistake="another mistake")
    wrote, _ = write([_result(s, "01-one-hot", r) for s, r in rows.items()], run)
    assert wrote and "another mistake" in (published / "report" / "01-one-hot.html").read_text()


def test_results_of_students_a_partial_run_left_alone_come_from_the_store(tables):
    cells = [c for c in tables[0] if c["assignment"] == "01-one-hot"]
    row = CellVerdict("test_one_hot_visible", 0.0, 1.0, Status.FAILED, "", cause="mistake", mistake="named")
    stored = {("s_b", "01-one-hot"): _result("s_b", "01-one-hot", [row], {"one_hot": "def one_hot(): ..."})}
    findings, answers = class_report.gather(cells, [], lambda s, a: stored.get((s, a)))
    assert findings == [Finding("s_b", "01-one-hot", "01-one-hot", "test_one_hot_visible", "mistake", "named")]
    assert answers == {("s_b", "01-one-hot", "one_hot"): "def one_hot(): ..."}
    stale = dataclasses.replace(row, score=1.0)  # a stored result that no longer matches cells.csv is not used
    assert class_report.gather(cells, [], lambda s, a: _result(s, a, [stale]))[0] == []


# ---------------------------------------------------------------- the mistake travels as data

def test_a_check_that_names_a_mistake_carries_it_and_its_message_is_unchanged():
    with pytest.raises(CheckError) as e:
        check_close("rnn_step(...)", np.ones(3), np.zeros(3), mistakes={"the bias b_h is missing": np.ones(3)})
    assert e.value.mistake == "the bias b_h is missing" and e.value.cause is None
    assert str(e.value).splitlines()[-1] == "  likely mistake: the bias b_h is missing"
    with pytest.raises(CheckError) as e:
        check_close("rnn_step(...)", np.ones(3), np.zeros(3))
    assert e.value.mistake is None


def test_a_stub_and_an_own_work_refusal_say_so_as_data():
    def stub():
        # YOUR CODE HERE
        raise NotImplementedError()

    with pytest.raises(CheckError) as e:
        check_implemented(stub)
    assert e.value.cause == "not written" and "is not written yet" in str(e.value)
    with pytest.raises(CheckError) as e:
        call_checked("stub()", lambda: (_ for _ in ()).throw(NotImplementedError()))
    assert e.value.cause == "not written"

    def uses_torch(x):
        return x
    uses_torch.__seqlab_cells__ = ["import torch\ndef uses_torch(x):\n    return torch.tanh(x)\n"]  # as the bridge gives it

    with pytest.raises(CheckError) as e:
        check_own_work(uses_torch, forbidden=["torch"])
    assert e.value.cause == "not own work" and "is not your own work" in str(e.value)


def test_the_judge_passes_on_a_checks_finding_and_nothing_from_other_errors():
    err = CheckError("f is wrong.\n  likely mistake: swapped", mistake="swapped")
    assert check_finding(err) == {"mistake": "swapped"}
    assert check_finding(CheckError("x", cause="not written")) == {"cause": "not written"}
    assert check_finding(ValueError("likely mistake: swapped")) == {}


@pytest.mark.parametrize("error,cause,mistake", [
    (None, None, None),
    (CellError("CheckError", "...", mistake="swapped"), "mistake", "swapped"),
    (CellError("CheckError", "... likely mistake: swapped"), "mistake", ""),  # the text is never read
    (CellError("ValueError", "shapes"), "mistake", ""),
    (CellError("CheckError", "...", cause="not own work"), "not own work", ""),
    (CellError("NotImplementedError", ""), "not written", ""),
    (CellError("TimeoutError", "this cell ran longer than 120 s"), "time-out", ""),
    (CellError("MemoryError", ""), "memory", ""),
    (CellError("KernelDied", ""), "kernel died", ""),
    (CellError("GraderError", ""), "grader", ""),
])
def test_a_failed_cell_is_classified_from_the_judges_structured_error(error, cause, mistake):
    f = classify(error)
    assert (f.cause, f.mistake) == (cause, mistake) if cause else f is None
    v = verdict("test_rnn_step_visible", 1, error)
    assert (v.cause, v.mistake) == ((cause, mistake) if cause else ("", ""))


def test_a_fault_of_the_answer_cell_explains_its_functions_failures():
    verdicts = [verdict("test_rnn_step_visible", 1, CellError("NameError", "rnn_step")),
                verdict("test_rnn_forward_visible", 1, CellError("CheckError", "", mistake="m"))]
    blamed = blame_answer_faults(verdicts, {"rnn_step": CellError("TimeoutError", ""), "rnn_forward": None})
    assert [(v.cause, v.mistake) for v in blamed] == [("time-out", ""), ("mistake", "m")]


def test_a_test_cell_names_its_function():
    assert [function_of(g) for g in ("test_rnn_step_visible", "test_RNN_hidden", "test_clip_grad_norm_torch_visible",
                                     "setup")] == ["rnn_step", "RNN", "clip_grad_norm_torch", "setup"]


def test_ids_are_blanked_only_where_they_stand_alone():
    blank = anonymiser(["s_b", "kim", "x"])
    assert blank("# by S_B and kim; skim, kim2, x = 1") == f"# by {REDACTED} and {REDACTED}; skim, kim2, x = 1"
    (e,) = choose(["line\n" * 50], blank)
    assert e.cut and e.text.count("\n") == 39


def test_a_renamed_notebook_is_a_fault_not_a_missing_submission(tables):
    cells, mistakes = tables
    findings = findings_of_mistakes(cells, mistakes) + OTHER_FINDINGS
    (r,) = [r for r in count(cells, findings, ANSWERS, problems=[("s_e", "02-rnn")]) if r.assignment == "02-rnn"]
    assert r.no_submission == 0 and r.submitted == 7
    assert ("notebook missing or renamed", 1, 4) in {(f.label, f.submissions, f.cells) for f in r.faults}
    assert dict(r.cells[0].reasons)["notebook missing or renamed"] == 1
