"""The checks every test cell is written with (seqlab/testing.py), one by one: each passes what is
right, and on what is wrong raises a CheckError that says what was expected and what came, names
the likely mistake as data when it can tell, and says why when the cause is not a wrong value.

The messages are asserted by the facts they must carry (names, shapes, indices, the mistake), not
word for word: the wording is the course's to improve.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab import testing
from seqlab.testing import (CheckError, call_checked, check_close, check_dtype, check_equal, check_implemented,
                            check_raises, check_shape, check_tensor_on, check_type, checked, likely_cause,
                            meta_default_device, to_numpy)


def _fails(check, *args, **kwargs) -> CheckError:
    with pytest.raises(CheckError) as e:
        check(*args, **kwargs)
    assert isinstance(e.value, AssertionError)  # a plain assert-based test runner counts it too
    return e.value


def test_every_exported_name_is_a_check_or_a_helper_of_checks():
    assert set(testing.__all__) == {name for name in testing.__all__ if callable(getattr(testing, name))}


def test_to_numpy_copies_tensors_with_grad_lists_and_numbers():
    t = torch.ones(2, 3, requires_grad=True)
    a = to_numpy(t * 2)
    assert isinstance(a, np.ndarray) and a.shape == (2, 3) and (a == 2).all()
    assert to_numpy([1, 2]).tolist() == [1, 2] and to_numpy(3.5).shape == ()


def test_check_type_names_what_came_and_hints_at_a_missing_return():
    check_type("f(x)", np.zeros(2), np.ndarray)
    e = _fails(check_type, "f(x)", [1, 2], (np.ndarray, torch.Tensor))
    assert "f(x)" in str(e) and "ndarray or Tensor" in str(e) and "list" in str(e) and e.mistake is None
    assert "return" in str(_fails(check_type, "f(x)", None, np.ndarray))


def test_check_shape_gives_both_shapes():
    check_shape("H", np.zeros((2, 3, 4)), (2, 3, 4))
    e = _fails(check_shape, "H", np.zeros((3, 2, 4)), (2, 3, 4))
    assert "(2, 3, 4)" in str(e) and "(3, 2, 4)" in str(e)
    assert "return" in str(_fails(check_shape, "H", None, (2,)))


def test_check_dtype_takes_numpy_torch_and_any_float():
    check_dtype("x", np.zeros(2, dtype=np.float64), np.float64)
    check_dtype("t", torch.zeros(2), torch.float32)
    check_dtype("t", torch.zeros(2, dtype=torch.float64), "float")
    e = _fails(check_dtype, "t", torch.zeros(2, dtype=torch.int64), "float")
    assert "floating-point" in str(e) and "int64" in str(e)
    assert "float32" in str(_fails(check_dtype, "x", np.zeros(2), np.float32))


def test_check_close_passes_within_the_tolerances_and_nowhere_else():
    expected = np.linspace(0.0, 1.0, 6).reshape(2, 3)
    check_close("y", expected + 1e-12, expected)
    check_close("y", torch.tensor(expected), expected)  # a tensor against an array
    check_close("y", expected + 1e-3, expected, atol=1e-2)
    off = expected.copy()
    off[0, 1] += 0.25
    off[1, 2] += 0.5
    e = _fails(check_close, "y", off, expected)
    assert "2 of 6 values differ" in str(e) and "index (1, 2)" in str(e) and e.mistake is None


def test_check_close_names_the_first_mistake_whose_value_came_back_and_only_on_a_wrong_answer():
    expected, transposed = np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(3, 2).T
    asked = []

    class Lazy(dict):  # the oracles compute the mistakes' values lazily: a right answer never asks
        def items(self):
            asked.append(True)
            return super().items()

    mistakes = Lazy({"the bias is missing": expected - 1, "W is transposed": transposed})
    check_close("y", expected, expected, mistakes=mistakes)
    assert not asked
    e = _fails(check_close, "y", transposed, expected, mistakes=mistakes)
    assert e.mistake == "W is transposed" and str(e).splitlines()[-1] == "  likely mistake: W is transposed"
    # no listed mistake matches: a value slip is named by how it relates to the answer, else nothing
    assert _fails(check_close, "y", expected * 7, expected, mistakes=mistakes).mistake.startswith("every value is 7 times")
    assert _fails(check_close, "y", np.sin(expected), expected, mistakes=mistakes).mistake is None


def test_check_close_explains_a_wrong_shape_nan_none_and_a_meta_tensor():
    assert "expected shape (2, 3), got (3, 2)" in str(_fails(check_close, "y", np.zeros((3, 2)), np.zeros((2, 3))))
    assert "NaN or inf" in str(_fails(check_close, "y", np.array([np.nan, 1.0]), np.ones(2)))
    assert "return" in str(_fails(check_close, "y", None, np.ones(2)))
    e = _fails(check_close, "y", torch.empty(2, device="meta"), np.ones(2))
    assert "meta" in str(e) and "device=" in e.mistake
    assert "got" in str(_fails(check_close, "y", {"a": 1}, np.ones(2)))


def test_check_equal_compares_plain_values_and_names_a_mistake():
    check_equal("vocab", {"a": 0}, {"a": 0})
    e = _fails(check_equal, "vocab", {"a": 1}, {"a": 0}, mistakes={"indices from 1": {"a": 1}})
    assert "{'a': 0}" in str(e) and "{'a': 1}" in str(e) and e.mistake == "indices from 1"
    assert "0.5" in str(_fails(check_equal, "p", np.float64(0.5), 0.25))  # numbers print plainly


def test_check_raises_wants_that_exception_or_a_subclass():
    check_raises("one_hot(9, 4)", ValueError, int, "x")
    check_raises("f", LookupError, {}.__getitem__, "k")  # KeyError is a LookupError
    assert "nothing was raised" in str(_fails(check_raises, "f", ValueError, lambda: None))
    e = _fails(check_raises, "f", ValueError, lambda: [][1])
    assert "IndexError" in str(e) and "ValueError" in str(e)


def test_meta_default_device_turns_a_device_error_into_a_check_error():
    x = torch.ones(2)
    with meta_default_device("f"):
        assert torch.zeros(2).device.type == "meta"
    with pytest.raises(CheckError) as e:
        with meta_default_device("rnn_forward_torch"):
            _ = x + torch.zeros(2).to("meta").cpu()
    assert "rnn_forward_torch is not device-clean" in str(e.value)
    with pytest.raises(KeyError):  # an error that is not about devices passes through
        with meta_default_device("f"):
            raise KeyError("k")


def test_check_tensor_on_compares_device_and_dtype():
    like = torch.zeros(2, dtype=torch.float64)
    check_tensor_on("h", torch.ones(3, dtype=torch.float64), like)
    assert "float32" in str(_fails(check_tensor_on, "h", torch.ones(3), like))
    assert "Tensor" in str(_fails(check_tensor_on, "h", np.ones(3), like))


def test_check_implemented_fails_a_release_stub_as_not_written():
    namespace: dict = {}
    exec("def stub(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n", namespace)  # a stub as released
    stub = namespace["stub"]
    stub.__seqlab_cells__ = ["def stub(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"]
    e = _fails(check_implemented, stub)
    assert e.cause == "not written" and "stub is not written yet" in str(e)
    written = lambda x: x  # noqa: E731 - a written function, as a test would receive it
    written.__seqlab_cells__ = ["written = lambda x: x"]
    check_implemented(written)


@pytest.mark.parametrize("error,words", [
    (RuntimeError("Expected all tensors to be on the same device, but found at least two devices, meta and cpu!"), "device"),
    (RuntimeError("expected scalar type Double but found Float"), "dtype"),
    (ValueError("matmul: Input operand 1 has a mismatch in its core dimension 0"), "transposed"),
    (ValueError("operands could not be broadcast together with shapes (2,3) (3,2)"), "keepdims"),
    (IndexError("index 5 is out of bounds for axis 0 with size 3"), "out of range"),
    (ZeroDivisionError("division by zero"), ""),
])
def test_likely_cause_reads_what_an_error_inside_the_students_code_means(error, words):
    cause = likely_cause(error)
    assert (words in cause) if words else cause == ""


def test_call_checked_reports_the_students_error_with_its_likely_cause():
    def student(A, B):
        return A @ B

    assert call_checked("f", student, np.ones((2, 3)), np.ones((3, 1))).shape == (2, 1)
    e = _fails(call_checked, "aggregate(A, V)", student, np.ones((2, 3)), np.ones((2, 3)), hint="A @ V")
    assert "aggregate(A, V)" in str(e) and "ValueError" in str(e) and "transposed" in e.mistake and "hint: A @ V" in str(e)
    with pytest.raises(CheckError) as raised:
        call_checked("f", lambda: (_ for _ in ()).throw(NotImplementedError()))
    assert raised.value.cause == "not written"
    inner = CheckError("f is wrong.", mistake="m")
    with pytest.raises(CheckError) as again:
        call_checked("f", lambda: (_ for _ in ()).throw(inner))
    assert again.value is inner  # a check inside passes through as it is


def test_checked_wraps_a_function_so_each_call_is_checked():
    def softmax(S):
        raise IndexError("index 3 is out of bounds for axis 1 with size 3")

    e = _fails(checked(softmax, hint="along the last axis"), np.ones((2, 3)))
    assert str(e).startswith("softmax(...) is wrong.") and "out of range" in e.mistake and "last axis" in str(e)
    assert checked(np.sum)(np.ones(3)) == 3.0


@pytest.mark.parametrize("name", testing.__all__)
def test_the_scan_flags_a_student_who_rebinds_any_of_these(name):
    """The grader's static scan (autograder/judge/scan.py) takes the setup cell's names from this
    module's ``__all__``: a check added here is guarded there with no second list to keep."""
    from autograder.judge.scan import scan

    assert scan(f"{name} = lambda *args, **kwargs: None") == [f"line 1: rebinds {name}"]
    assert scan(f"from seqlab.testing import {name}") == []  # importing it as the setup cell does is fine
