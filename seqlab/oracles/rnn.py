"""Chapter 02-rnn: the Elman RNN by ``torch.nn.RNN`` / ``torch.nn.RNNCell`` with copied weights.

The course writes ``h_t = tanh(x_t @ W_xh + h_prev @ W_hh + b_h)`` with ``W_xh (D, H)``;
PyTorch stores the transposes: ``weight_ih = W_xhᵀ``, ``weight_hh = W_hhᵀ``, and two
biases whose sum is ``b_h`` (we put ``b_h`` in ``bias_ih`` and zeros in ``bias_hh``).
"""
import numpy as np
import torch

from seqlab.given import rnn_forward  # the forward by nn.RNN, shared with later chapters' demos

from ._torch import lazy_mistakes, load_course_weights, n, t
from ._torch import own_parameters  # noqa: F401 - tests load their own weights into a student's module


def load_rnn_weights(rnn: torch.nn.Module, W_xh, W_hh, b_h) -> torch.nn.Module:
    """Copy course-layout weights into an ``nn.RNN`` (layer 0) or ``nn.RNNCell``; returns it."""
    return load_course_weights(rnn, W_xh, W_hh, b_h)


def torch_rnn(W_xh, W_hh, b_h, dtype=torch.float64) -> torch.nn.RNN:
    """An ``nn.RNN(batch_first=True)`` computing the course's recurrence with these weights."""
    W_xh, W_hh, b_h = (torch.as_tensor(w, dtype=dtype) for w in (W_xh, W_hh, b_h))
    D, H = W_xh.shape
    rnn = torch.nn.RNN(D, H, batch_first=True, dtype=dtype, device=W_xh.device)
    return load_rnn_weights(rnn, W_xh, W_hh, b_h)


def rnn_step(x_t, h_prev, W_xh, W_hh, b_h) -> np.ndarray:
    """One step, ``(N, D), (N, H) -> (N, H)``, by ``nn.RNNCell``."""
    W_xh = np.asarray(W_xh)
    cell = torch.nn.RNNCell(*W_xh.shape, dtype=torch.float64)
    load_rnn_weights(cell, t(W_xh), t(W_hh), t(b_h))
    with torch.no_grad():
        return n(cell(t(x_t), t(h_prev)))


def rnn_outputs(H, W_hy, b_y) -> np.ndarray:
    """Logits ``(N, T, K)`` from hidden states ``(N, T, H)``, by ``F.linear``."""
    return n(torch.nn.functional.linear(t(H), t(W_hy).T, t(b_y)))


def _activation_swaps(h: np.ndarray) -> dict:
    """Results of the same pre-activation through the wrong nonlinearity (recovered by arctanh)."""
    pre = np.arctanh(np.clip(h, -1 + 1e-15, 1 - 1e-15))
    return {
        "sigmoid used instead of tanh": 1.0 / (1.0 + np.exp(-pre)),
        "the tanh is missing": pre,
        "ReLU used instead of tanh": np.maximum(pre, 0.0),
    }


@lazy_mistakes
def rnn_step_mistakes(x_t, h_prev, W_xh, W_hh, b_h) -> dict:
    """What ``rnn_step`` returns under the usual slips (swaps need square weights)."""
    W_xh, W_hh, b_h = map(np.asarray, (W_xh, W_hh, b_h))
    out = {"the bias b_h is missing": rnn_step(x_t, h_prev, W_xh, W_hh, 0 * b_h)}
    if W_xh.shape == W_hh.shape:
        out["W_xh and W_hh are swapped"] = rnn_step(x_t, h_prev, W_hh, W_xh, b_h)
    if W_xh.shape[0] == W_xh.shape[1]:
        out["W_xh is transposed: use x_t @ W_xh, with W_xh of shape (D, H)"] = rnn_step(
            x_t, h_prev, W_xh.T, W_hh, b_h
        )
    out["W_hh is transposed: use h_prev @ W_hh"] = rnn_step(x_t, h_prev, W_xh, W_hh.T, b_h)
    if W_xh.shape[0] == W_xh.shape[1]:
        out["W_xh and W_hh are both transposed: the course multiplies on the right, x_t @ W_xh + h_prev @ W_hh"] = (
            rnn_step(x_t, h_prev, W_xh.T, W_hh.T, b_h))
    out["h_prev is ignored"] = rnn_step(x_t, 0 * np.asarray(h_prev), W_xh, W_hh, b_h)
    out["b_h is added after the tanh: it belongs inside, tanh(x_t @ W_xh + h_prev @ W_hh + b_h)"] = (
        rnn_step(x_t, h_prev, W_xh, W_hh, 0 * b_h) + b_h)
    out.update(_activation_swaps(rnn_step(x_t, h_prev, W_xh, W_hh, b_h)))
    return out


@lazy_mistakes
def rnn_forward_mistakes(X, h0, W_xh, W_hh, b_h) -> dict:
    """What ``rnn_forward`` returns under the usual slips."""
    X, h0, W_xh, W_hh, b_h = map(np.asarray, (X, h0, W_xh, W_hh, b_h))
    H = rnn_forward(X, h0, W_xh, W_hh, b_h)
    out = {
        "H includes h_0: it should hold h_1..h_T only, shape (N, T, H)": np.concatenate([h0[:, None], H], axis=1),
        "H holds h_0..h_{T-1}: store each new state after computing it": np.concatenate([h0[:, None], H[:, :-1]], axis=1),
        "the hidden state is not carried over: every step starts from h0": np.stack(
            [rnn_step(X[:, s], h0, W_xh, W_hh, b_h) for s in range(X.shape[1])], axis=1
        ),
        "the bias b_h is missing": rnn_forward(X, h0, W_xh, W_hh, 0 * b_h),
        "W_hh is transposed: use h_prev @ W_hh": rnn_forward(X, h0, W_xh, W_hh.T, b_h),
        "the time and batch axes are swapped: stack the states along axis 1, H is (N, T, H)": np.swapaxes(H, 0, 1),
        "only the last state h_T is returned: H holds every state h_1..h_T, shape (N, T, H)": H[:, -1],
        "the first time step is skipped (the loop starts at 1): H[:, s] is the state after input X[:, s], "
        "for s = 0..T-1": rnn_forward(X[:, 1:], h0, W_xh, W_hh, b_h),
        "the states were made as (1, N, H), the layout of nn.RNN: the course's states are (N, H), so H is "
        "(N, T, H)": np.swapaxes(H, 0, 1)[None],
        "the first step starts from zeros instead of h0 (H[:, s - 1] at s = 0 reads H[:, -1] of an array still "
        "zero): the state before step 0 is h0": rnn_forward(X, 0 * h0, W_xh, W_hh, b_h),
        "the sequence was run backwards in time: step s reads X[:, s] for s = 0, 1, ..., T-1, in that order":
            rnn_forward(np.ascontiguousarray(X[:, ::-1]), h0, W_xh, W_hh, b_h)[:, ::-1],
    }
    if W_xh.shape == W_hh.shape:
        out["W_xh and W_hh are swapped"] = rnn_forward(X, h0, W_hh, W_xh, b_h)
    if W_xh.shape[0] == W_xh.shape[1]:
        out["W_xh and W_hh are both transposed: the course multiplies on the right, x_t @ W_xh + h_prev @ W_hh"] = (
            rnn_forward(X, h0, W_xh.T, W_hh.T, b_h))
    N, T = X.shape[:2]
    if N < T:
        out["the loop runs X.shape[0] times, the batch size: the time steps are axis 1, X.shape[1]"] = (
            rnn_forward(X[:, :N], h0, W_xh, W_hh, b_h))
    out.update(_activation_swaps(H))
    return out


@lazy_mistakes
def rnn_outputs_mistakes(H, W_hy, b_y) -> dict:
    H, W_hy, b_y = map(np.asarray, (H, W_hy, b_y))
    out = {"the bias b_y is missing": rnn_outputs(H, W_hy, 0 * b_y)}
    if W_hy.shape[0] == W_hy.shape[1]:
        out["W_hy is transposed: use H @ W_hy, with W_hy of shape (H, K)"] = rnn_outputs(H, W_hy.T, b_y)
    logits = rnn_outputs(H, W_hy, b_y)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    out["a softmax was applied: rnn_outputs returns the raw logits"] = e / e.sum(-1, keepdims=True)
    out["tanh was applied to the logits: return them raw"] = np.tanh(logits)
    out["a log-softmax was applied: rnn_outputs returns the raw logits"] = np.log(e / e.sum(-1, keepdims=True))
    out["only the last step's logits: rnn_outputs gives one row of logits per time step"] = logits[:, -1:]
    if W_hy.shape[0] == W_hy.shape[1]:
        out["the bias b_y was added before the product, (H + b_y) @ W_hy: it is added after, H @ W_hy + b_y"] = (
            rnn_outputs(H + b_y, W_hy, 0 * b_y))
    return out


@lazy_mistakes
def module_mistakes(model, X, h0) -> dict:
    """``rnn_forward_mistakes`` for a course ``RNN`` module's weights and tensor inputs: what
    its ``forward(X, h0)[0]`` returns under the usual slips."""
    weights = [w.detach().cpu().numpy() for w in (model.W_xh, model.W_hh, model.b_h)]
    if weights[0].shape[0] != X.shape[-1]:  # stored as (H, D): the shapes tell, not the values
        return {}
    return rnn_forward_mistakes(X.detach().cpu().numpy(), h0.detach().cpu().numpy(), *weights)


@lazy_mistakes
def parameter_shape_mistakes(input_size: int, hidden_size: int) -> dict:
    """``{name: shape}`` of the parameters under the usual slips (compare with ``named_parameters``)."""
    D, H = input_size, hidden_size
    return {"the weights are stored as PyTorch stores them, transposed: the course uses W_xh (D, H), "
            "so that x_t @ W_xh works": {"W_xh": (H, D), "W_hh": (H, H), "b_h": (H,)}}
