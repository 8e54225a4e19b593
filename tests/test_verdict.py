"""The grade of one test cell (autograder/judge/verdict.py): a pure function of what the judge saw."""
import pytest

from autograder.judge.verdict import verdict
from autograder.protocol import CellError, RunFindings, WireError
from autograder.records import CellVerdict, Status

ERR = CellError("CheckError", "rnn_step(...) is wrong.")


def test_a_cell_that_raised_nothing_gets_its_points():
    assert verdict("t", 2, None) == CellVerdict("t", 2.0, 2.0, Status.PASSED, "")


def test_a_cell_that_raised_gets_nothing_and_says_why():
    v = verdict("t", 2, ERR)
    assert (v.score, v.max_score, v.status) == (0.0, 2.0, "failed")
    assert v.message == "CheckError: rnn_step(...) is wrong."


def test_an_edited_test_cell_is_flagged_but_graded_as_the_course_wrote_it():
    assert verdict("t", 1, None, "edited").score == 1.0
    v = verdict("t", 1, ERR, "edited")
    assert (v.score, v.status) == (0.0, "tampered") and v.message.startswith("the test cell was edited")


def test_a_test_cell_of_another_release_is_outdated():
    v = verdict("t", 1, None, "outdated")
    assert (v.score, v.status) == (1.0, "outdated") and "another release" in v.message


def test_flags_change_the_status_never_the_score():
    passed = verdict("t", 3, None, None, ["line 2: sets np.allclose"])
    failed = verdict("t", 3, ERR, "outdated", ["line 2: sets np.allclose"])
    assert (passed.score, passed.status) == (3.0, "tampered") and "np.allclose" in passed.message
    assert (failed.score, failed.status) == (0.0, "tampered")


def test_long_errors_are_cut_and_rows_have_the_csv_columns():
    v = verdict("t", 1, CellError("ValueError", "x" * 2000))
    assert len(v.message) <= 500
    assert set(v.to_json()) == {"grade_id", "score", "max_score", "status", "message", "cause", "mistake", "flag"}
    assert CellVerdict.from_json(v.to_json()) == v and v.to_json()["status"] == "failed"


def test_a_failure_says_why_and_a_flag_what_flagged_it():
    v = verdict("t", 1, CellError("CheckError", "...", mistake="W_hh is transposed"), "edited")
    assert (v.cause, v.mistake, v.flag) == ("mistake", "W_hh is transposed", "edited")
    assert (verdict("t", 1, None, None, ["line 2: sets np.allclose"]).flag, verdict("t", 1, None).cause) == ("code", "")


def test_a_refused_record_costs_the_cell_and_names_what_ran():
    run = RunFindings("RNN", ("it ran aten::rnn_tanh (behind torch.nn.RNN), the built-in this exercise re-implements",))
    v = verdict("t", 2, None, None, (), run)
    assert (v.score, v.status) == (0.0, "failed")
    assert v.message.startswith("RNN is not your own work") and "aten::rnn_tanh" in v.message
    assert (v.cause, v.flag) == ("not own work", "")


def test_a_tampered_record_costs_the_cell_and_is_flagged():
    run = RunFindings("RNN", (), "the recorder of PyTorch's operators was stopped or replaced while the tests ran")
    v = verdict("t", 2, None, None, (), run)
    assert (v.score, v.status) == (0.0, "tampered") and "stopped" in v.message
    assert (v.cause, v.flag) == ("not own work", "recorder")


def test_a_clean_record_changes_nothing():
    assert verdict("t", 2, None, None, (), RunFindings("RNN", ())) == verdict("t", 2, None)


def test_findings_cross_as_plain_data():
    run = RunFindings("f", ("a", "b"), None)
    assert RunFindings.from_json(run.to_json()) == run
    for junk in ({"refused": ["x"]}, "junk", {"function": "f", "refused": "x", "tampered": None}):
        with pytest.raises(WireError):
            RunFindings.from_json(junk)
