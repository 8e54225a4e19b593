"""The own-work rule at run time, decided in the judge (autograder/judge/operators.py): what a record means."""
from autograder.judge.operators import Signatures, findings, needs_record, python_level

RNN = ("torch.nn.RNN", "torch.nn.RNNCell", "torch.rnn_tanh", "torch._VF")
ATTENTION = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
             "torch.nn.functional.multi_head_attention_forward")


def record(ops=(), calls=(), opened="o", closed="c"):
    return {"marks": [f"open::{opened}", f"close::{closed}"], "ops": list(ops), "calls": list(calls), "other_threads": 0}


def test_the_operators_behind_a_built_in_are_refused_and_named():
    f = findings("RNN", RNN, record(["aten::addmm", "aten::rnn_tanh", "aten::tanh"]), "o", "c")
    assert f.tampered is None and len(f.refused) == 1
    assert "aten::rnn_tanh (behind torch.nn.RNN)" in f.refused[0]


def test_a_private_kernel_is_refused_as_its_public_function():
    sig = Signatures.of(ATTENTION)
    assert sig.operator("aten::_scaled_dot_product_flash_attention_for_cpu") == ATTENTION[0]
    assert sig.operator("aten::scaled_dot_product_attention") == ATTENTION[0]
    assert sig.operator("aten::softmax") is None and sig.operator("aten::bmm") is None


def test_a_function_named_like_its_operator_maps_to_it():
    assert Signatures.of(("torch.nn.functional.one_hot",)).operator("aten::one_hot") == "torch.nn.functional.one_hot"
    assert Signatures.of(("torch.lstm",)).operator("aten::mkldnn_rnn_layer") == "torch.lstm"


def test_a_built_in_written_in_python_is_refused_by_its_guard_under_any_of_its_names():
    sig = Signatures.of(ATTENTION)
    assert sig.python == ATTENTION[1:]
    f = findings("MultiHeadAttention", ATTENTION, record(calls=["py::torch.nn.modules.activation.MultiheadAttention"]), "o", "c")
    assert f.refused and "torch.nn.MultiheadAttention" in f.refused[0]
    clip = ("torch.nn.utils.clip_grad_norm_",)
    assert findings("clip", clip, record(calls=["py::torch.nn.utils.clip_grad.clip_grad_norm_"]), "o", "c").refused


def test_a_numpy_exercise_refuses_any_pytorch_and_allows_none():
    assert findings("rnn_step", ("torch",), record(), "o", "c").refused == ()
    f = findings("rnn_step", ("torch",), record(["aten::tanh"]), "o", "c")
    assert f.refused and "NumPy alone" in f.refused[0]


def test_own_work_with_allowed_operators_passes():
    f = findings("LSTM", ("torch.nn.LSTM",), record(["aten::addmm", "aten::sigmoid", "aten::tanh", "aten::cat"]), "o", "c")
    assert f.refused == () and f.tampered is None


def test_a_door_around_the_dispatcher_is_refused_whatever_the_list():
    f = findings("one_hot_torch", ("torch.nn.functional.one_hot",), record(calls=["door::_op_dk"]), "o", "c")
    assert f.refused and "around PyTorch" in f.refused[0]


def test_missing_marks_and_the_profilers_switches_are_tampering():
    assert findings("RNN", RNN, record(), "o", "other").tampered
    assert findings("RNN", RNN, {"marks": [], "off": "stopped"}, "o", "c").tampered
    assert findings("RNN", RNN, "RemoteError: boom", "o", "c").tampered
    f = findings("RNN", RNN, record(calls=["switch::_enable_record_function"]), "o", "c")
    assert f.tampered and "_enable_record_function" in f.tampered


def test_which_functions_are_recorded_and_which_built_ins_are_watched():
    assert needs_record(("torch",)) and needs_record(RNN) and needs_record(ATTENTION)
    assert not needs_record(()) and not needs_record(("scipy.special.expit",))
    assert python_level([RNN, ATTENTION, ("torch",)]) == sorted(ATTENTION[1:] + ("torch.nn.RNN", "torch.nn.RNNCell"))
