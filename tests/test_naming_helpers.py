"""The message helpers that name a mistake: shape slips, causes of raised errors, the tensor-making
calls that leave out the device or dtype, and mistakes that give the same wrong value.

Each test is what a student sees after a slip, read from the message a check raises."""
from __future__ import annotations

import importlib.util
import textwrap

import numpy as np
import pytest
import torch

from seqlab import diagnose, factories
from seqlab.testing import CheckError, call_checked, check_close, check_shape, meta_default_device


def _student_module(tmp_path, source: str, name: str = "student_cells"):
    """A module written to a file, as a notebook cell is: inspect.getsource can read it back."""
    path = tmp_path / f"{name}.py"
    path.write_text("import torch\nimport numpy as np\n" + textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckError) as e:
        fn(*args, **kwargs)
    return str(e.value)


# ----------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("expected,got,words", [
    ((2, 4, 3), (2, 3), ("axis 1 (length 4) is missing", "only the last time step")),
    ((2, 3, 4), (6, 4), ("flattened", "(2, 3)")),
    ((2, 4, 5), (1, 2, 4, 5), ("extra axis 0 of length 1", "(1, N, H)")),
    ((5,), (5, 4), ("extra axis 1 of length 4", "norm of the whole array")),
    ((3, 5), (5, 3), ("transposed",)),
    ((2, 4, 3), (4, 2, 3), ("axes 0 and 1 are swapped",)),
    ((2, 7, 4), (2, 6, 4), ("one entry too few", "off by one")),
    ((4, 4), (4, 8), ("twice as long", "concatenated")),
])
def test_a_wrong_shape_is_named_by_how_it_differs(expected, got, words):
    message = _message(check_close, "H", np.zeros(got), np.zeros(expected))
    assert all(w in message for w in words), message


def test_a_width_off_by_one_is_not_called_an_off_by_one_step():
    """(T, d_v) against (T, T): the widths differ by one by coincidence, not by a missing step."""
    assert diagnose.shape_slip((4, 5), (4, 4)) == ""
    assert "off by one" not in _message(check_shape, "out", np.zeros((4, 4)), (4, 5))


def test_check_shape_names_a_mistake_by_its_values():
    A = np.arange(8.0).reshape(2, 4)
    message = _message(check_shape, "A", A.mean(axis=0), (2, 4), mistakes={"averaged over the heads": A.mean(axis=0)})
    assert "likely mistake: averaged over the heads" in message


# ----------------------------------------------------------------------------- values

_E = np.random.default_rng(0).normal(size=(2, 5, 3))
_FIRST_WRONG = _E.copy()
_FIRST_WRONG[:, 0] = 7.0


@pytest.mark.parametrize("got,words", [
    (np.zeros_like(_E), ("every value is 0",)),
    (-_E, ("wrong sign",)),
    (_E / 5, ("0.2 = 1/5 times", "a mean where a sum belongs")),
    (np.concatenate([np.zeros((2, 1, 3)), _E[:, :-1]], axis=1), ("shifted one step along axis 1", "off by one")),
    (_FIRST_WRONG, ("only entries [0] along axis 1", "first step")),
])
def test_wrong_values_of_the_right_shape_are_named_by_how_they_relate(got, words):
    message = _message(check_close, "H", got, _E)
    assert all(w in message for w in words), message


def test_a_named_mistake_comes_before_what_the_values_say():
    message = _message(check_close, "db_h", _E / 5, _E, mistakes={"db_h is averaged over the batch": _E / 5})
    assert "likely mistake: db_h is averaged over the batch" in message and "times the right one" not in message


# ----------------------------------------------------------------------------- coinciding mistakes

def test_two_mistakes_that_give_the_same_value_are_both_named():
    expected, wrong = np.zeros(3), np.ones(3)
    message = _message(check_close, "out", wrong, expected,
                       mistakes={"masked scores set to 0": wrong, "masked with -1e9": wrong, "the scale is missing": -wrong})
    assert "masked scores set to 0" in message and "masked with -1e9" in message
    assert "the scale is missing" not in message


# ----------------------------------------------------------------------------- raised errors

@pytest.mark.parametrize("error,words", [
    (ValueError("could not broadcast input array from shape (3,4) into shape (3,2)"), ("preallocated", "(N, T, H)")),
    (TypeError("only 0-dimensional arrays can be converted to Python scalars"), ("math.exp", "np.exp")),
    (ValueError("array split does not result in an equal division"), ("axis=-1",)),
    (ValueError("not enough values to unpack (expected 4, got 2)"), ("dim=-1",)),
    (TypeError("unsupported operand type(s) for +: 'Tensor' and 'tuple'"), ("(out, A)", "[0]")),
    (ValueError("axes don't match array"), ("np.swapaxes(K, -1, -2)",)),
    (RuntimeError("view size is not compatible with input tensor's size and stride"), (".reshape",)),
    (RuntimeError("stack expects each tensor to be equal size, but got [4, 3] at entry 0 and [4, 4] at entry 1"),
     ("different shapes",)),
    (ValueError("setting an array element with a sequence. The requested array has an inhomogeneous shape"),
     ("different shapes",)),
    (AttributeError("'NoneType' object has no attribute 'mul_'"), (".grad is None",)),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 3x5)"), ("A @ V, not V @ A", ".T was used on a batch")),
    (RuntimeError("The size of tensor a (4) must match the size of tensor b (6) at non-singleton dimension 1"),
     ("incompatible shapes",)),
])
def test_a_raised_error_gets_its_usual_cause(error, words):
    cause = diagnose.error_cause(error)
    assert all(w in cause for w in words), cause


def test_a_whole_sequence_where_one_step_belongs_is_read_off_the_arguments():
    X = np.zeros((2, 4, 3))
    cause = diagnose.error_cause(ValueError("operands could not be broadcast together with shapes (4,3) (2,3)"), [X])
    assert "X[:, s]" in cause and "(2, 3)" in cause


def test_a_state_made_like_the_input_is_read_off_the_arguments():
    X = torch.zeros(2, 4, 3)
    cause = diagnose.error_cause(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 5x5)"), [X])
    assert "(N, H) = (2, 5)" in cause


def test_inputs_of_two_lengths_mixed_up_are_read_off_the_arguments():
    Y, memory = torch.zeros(2, 4, 8), torch.zeros(2, 6, 8)
    cause = diagnose.error_cause(
        RuntimeError("The size of tensor a (4) must match the size of tensor b (6) at non-singleton dimension 3"), [Y, memory])
    assert "queries" in cause and "swapped" in cause


def test_k_dot_t_on_a_batch_is_named_from_the_students_code(tmp_path):
    cells = _student_module(tmp_path, """
        def scores(Q, K):
            return Q @ K.T
    """)
    message = _message(call_checked, "scores(Q, K)", cells.scores, torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    assert "K.transpose(-2, -1)" in message


# ----------------------------------------------------------------------------- devices and dtypes

STUDENT = """
    def one_hot_torch(indices, vocab_size):
        return (indices.unsqueeze(-1) == torch.arange(vocab_size)).float()

    class RNN(torch.nn.Module):
        def __init__(self, D, H):
            super().__init__()
            self.W_hh = torch.nn.Parameter(torch.zeros(H, H))     # parameters follow .to(): not listed

        def forward(self, X, h0=None):
            h = torch.zeros(X.shape[0], self.W_hh.shape[0], device=X.device) if h0 is None else h0
            return h @ self.W_hh
"""


def test_the_calls_that_leave_out_the_device_or_dtype_are_listed(tmp_path):
    cells = _student_module(tmp_path, STUDENT)
    [bare] = factories.bare_factories([cells.one_hot_torch])
    assert bare.call == "torch.arange(vocab_size)"
    assert bare.instead == "torch.arange(vocab_size, device=indices.device)"
    assert factories.bare_factories([cells.RNN(3, 4)]) == []                 # it gives the device
    [no_dtype] = factories.bare_factories([cells.RNN(3, 4)], ("dtype",))
    assert no_dtype.where == "forward" and no_dtype.instead.endswith("device=X.device, dtype=X.dtype)")


def test_a_device_slip_names_the_call_that_made_the_tensor(tmp_path):
    cells = _student_module(tmp_path, STUDENT)
    idx = torch.tensor([[1, 2], [0, 3]])

    def run():
        with meta_default_device("one_hot_torch", cells.one_hot_torch):
            cells.one_hot_torch(idx, 4)
    message = _message(run)
    assert "not device-clean" in message and "torch.arange(vocab_size, device=indices.device)" in message


def test_a_dtype_slip_names_the_call_that_made_the_tensor(tmp_path):
    cells = _student_module(tmp_path, STUDENT)
    model = cells.RNN(3, 4).double()
    message = _message(call_checked, "RNN(3, 4)(X)", model, torch.zeros(2, 4, dtype=torch.float64))
    assert "dtype" in message and "dtype=X.dtype" in message


def test_a_shape_error_under_the_meta_device_is_not_blamed_on_the_device():
    def run():
        with meta_default_device("f"):
            torch.ones(2, 3, device="cpu") @ torch.ones(2, 3, device="cpu")
    message = _message(run)
    assert "device-clean" not in message and "matrix product" in message


@pytest.mark.gpu
def test_a_cpu_tensor_mixed_with_cuda_inputs_names_the_call(tmp_path):
    """On a GPU the slip is real, not simulated by the meta device: the call that made the tensor is named."""
    cells = _student_module(tmp_path, STUDENT)
    idx = torch.tensor([[1, 2], [0, 3]], device="cuda")
    message = _message(call_checked, "one_hot_torch(idx, 4)", cells.one_hot_torch, idx, 4)
    assert "device" in message and "torch.arange(vocab_size, device=indices.device)" in message
