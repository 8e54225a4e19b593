"""Chapter 04-gradients: Jacobians of the RNN step by autograd, gradient clipping by PyTorch.

- ``hidden_jacobian``: ``torch.autograd.functional.jacobian`` of an ``nn.RNNCell`` step with
  the course's ``W_hh`` copied in. The cell only sees ``h_t`` and ``W_hh``, so it is given the
  pre-activation ``arctanh(h_t)`` as its input (``weight_ih = I``) and evaluated at
  ``h_{t-1} = 0``: its output is ``h_t`` again, and its Jacobian with respect to ``h_{t-1}`` is
  the one of the real step (it depends on ``h_t`` and ``W_hh`` only).
- ``hidden_gradients``: ``dL/dh_t`` for every t by ``backward()`` through a chain of such
  cells that reproduces the states ``H`` exactly (same trick, one input per step).
- ``clip_grad_norm`` / ``clip_grad_value``: ``torch.nn.utils.clip_grad_norm_`` /
  ``clip_grad_value_`` on tensors holding copies of the arrays.

Row (code) form: ``J[n, i, j] = dh_t[n, i] / dh_{t-1}[n, j]``, i.e. the lecture's column-form
Jacobian for each sequence of the batch.
"""
import numpy as np
import torch

from ..testing import to_numpy
from ._torch import lazy_mistakes, n, t

_EPS = 1e-15


def _cell(W_hh) -> torch.nn.RNNCell:
    """A tanh ``nn.RNNCell`` computing ``tanh(u + h_prev @ W_hh)`` for an input ``u (N, H)``."""
    W_hh = t(W_hh)
    H = W_hh.shape[0]
    cell = torch.nn.RNNCell(H, H, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.eye(H, dtype=torch.float64))
        cell.weight_hh.copy_(W_hh.T)  # PyTorch stores W_hhᵀ
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    return cell


def _pre(h) -> torch.Tensor:
    """The pre-activation whose tanh is ``h``."""
    return torch.atanh(t(np.clip(h, -1 + _EPS, 1 - _EPS)))


def hidden_jacobian(h_t, W_hh) -> np.ndarray:
    """``(N, H), (H, H) -> (N, H, H)``: ``J[n] = dh_t[n] / dh_{t-1}[n]`` by autograd."""
    cell = _cell(W_hh)
    pre = _pre(h_t)
    out = []
    for u in pre:  # one sequence at a time: the Jacobian of one step, (H,) -> (H,)
        def step(h_prev, u=u):
            return cell(u[None], h_prev[None])[0]

        out.append(torch.autograd.functional.jacobian(step, torch.zeros_like(u)))
    return n(torch.stack(out)) if out else np.zeros((0,) + np.shape(W_hh))


def hidden_gradients(H, W_hh, dh_T) -> np.ndarray:
    """``dL/dh_t`` for t = 1..T, shape ``(N, T, H)``, for ``L = sum(dh_T * h_T)`` (a loss at the
    last step only), by ``backward()`` through ``nn.RNNCell`` steps that reproduce ``H``."""
    H_ = t(H)
    W = t(W_hh)
    cell = _cell(W)
    N, T, _ = H_.shape
    with torch.no_grad():
        # input of step s (code index) so that the cell maps H[:, s-1] to exactly H[:, s]
        U = _pre(H_.numpy()) - torch.cat([torch.zeros_like(H_[:, :1]), H_[:, :-1] @ W], dim=1)
    h = H_[:, 0].clone().requires_grad_(True)
    states = [h]
    for s in range(1, T):
        h = cell(U[:, s], h)
        h.retain_grad()
        states.append(h)
    (h * t(dh_T)).sum().backward()
    return n(torch.stack([s.grad for s in states], dim=1))


def gradient_norms_through_time(H, W_hh, dh_T) -> np.ndarray:
    """``(T,)``: entry t-1 is the Frobenius norm of the ``(N, H)`` gradient ``dL/dh_t``."""
    G = hidden_gradients(H, W_hh, dh_T)
    return np.sqrt((G ** 2).sum(axis=(0, 2)))


def flat(arrays) -> np.ndarray:
    """All arrays of a list (or tensors) raveled and joined into one 1-D array, to compare lists."""
    return np.concatenate([np.ravel(to_numpy(a)) for a in arrays]) if len(arrays) else np.zeros(0)


def _torch_grads(grads) -> list:
    """Parameters (float64 CPU) whose ``.grad`` holds a copy of each array."""
    params = []
    for g in grads:
        p = torch.zeros(np.shape(g), dtype=torch.float64, requires_grad=True)
        p.grad = t(g).reshape(p.shape).clone()
        params.append(p)
    return params


def clip_grad_norm(grads, max_norm) -> tuple:
    """``(clipped, total_norm)`` by ``torch.nn.utils.clip_grad_norm_`` (global L2 norm)."""
    params = _torch_grads(grads)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm) if params else torch.tensor(0.0)
    return [n(p.grad) for p in params], float(total)


def clip_grad_value(grads, clip_value) -> list:
    """Each array clipped to ``[-clip_value, clip_value]`` by ``torch.nn.utils.clip_grad_value_``."""
    params = _torch_grads(grads)
    if params:
        torch.nn.utils.clip_grad_value_(params, clip_value)
    return [n(p.grad) for p in params]


# --- what the usual slips give ---------------------------------------------------------------

@lazy_mistakes
def hidden_jacobian_mistakes(h_t, W_hh) -> dict:
    h_t, W_hh = np.asarray(h_t), np.asarray(W_hh)
    J = hidden_jacobian(h_t, W_hh)
    out = {
        "W_hh is not transposed: in row form J = diag(1 - h_t²) W_hhᵀ, "
        "so J[n, i, j] = (1 - h_t[n, i]²) W_hh[j, i]": hidden_jacobian(h_t, W_hh.T),
        "the Jacobian is transposed: row i of J[n] must hold the derivatives of h_t[n, i]":
            np.swapaxes(J, -1, -2),
        "diag(1 - h²) is on the wrong side: scale the rows of W_hhᵀ (J[n, i, j] = (1 - h_t[n, i]²) W_hh[j, i])":
            np.swapaxes(hidden_jacobian(h_t, W_hh.T), -1, -2),
        "the tanh derivative 1 - h_t² is missing": hidden_jacobian(np.zeros_like(h_t), W_hh),
        "tanh was applied to h_t again: h_t already is tanh(a), so tanh'(a) = 1 - h_t²":
            hidden_jacobian(np.tanh(h_t), W_hh),
        # the rows of the Jacobian at h_t = 0 (pure W_hhᵀ), scaled by the wrong factor
        "the tanh derivative is written 1 - h_t: it is 1 - h_t² (h_t = tanh(a))":
            (1 - h_t)[..., None] * hidden_jacobian(np.zeros_like(h_t), W_hh),
        "only the first sequence of the batch: J has one (H, H) matrix per sequence, shape (N, H, H)": J[0],
        "the tanh derivative is written h_t²: it is 1 - h_t² (h_t = tanh(a))":
            (h_t ** 2)[..., None] * hidden_jacobian(np.zeros_like(h_t), W_hh),
    }
    diagonal = np.diagonal(1 - h_t ** 2)             # what np.diag gives for a 2-D array
    if diagonal.shape[0] == W_hh.shape[0]:
        out["np.diag was applied to the whole (N, H) batch, which gives its diagonal: J has one matrix "
            "diag(1 - h_t[n]²) W_hhᵀ per sequence n"] = diagonal @ hidden_jacobian(np.zeros_like(h_t[:1]), W_hh)[0]
    return out


@lazy_mistakes
def gradient_norms_mistakes(H, W_hh, dh_T) -> dict:
    H, W_hh, dh_T = map(np.asarray, (H, W_hh, dh_T))
    G = hidden_gradients(H, W_hh, dh_T)
    norms = np.sqrt((G ** 2).sum(axis=(0, 2)))
    shifted = np.concatenate([H[:, :1], H[:, :-1]], axis=1)  # h_t replaced by h_{t-1}
    return {
        "the order is reversed: entry t-1 belongs to h_t, so the last entry is ‖dh_T‖": norms[::-1],
        "W_hh is not transposed in the backward step: dL/dh_{t-1} = (dL/dh_t * (1 - h_t²)) @ W_hhᵀ":
            gradient_norms_through_time(H, W_hh.T, dh_T),
        "the tanh derivative 1 - h_t² is missing": gradient_norms_through_time(0 * H, W_hh, dh_T),
        "the tanh derivative is taken at h_{t-1}: going from h_t back to h_{t-1} uses 1 - h_t²":
            gradient_norms_through_time(shifted, W_hh, dh_T),
        "squared norms: take the square root": norms ** 2,
        "the per-sequence norms are averaged: use the Frobenius norm of the whole (N, H) gradient":
            np.sqrt((G ** 2).sum(axis=2)).mean(axis=0),
        "the per-sequence norms are summed: use the Frobenius norm of the whole (N, H) gradient":
            np.sqrt((G ** 2).sum(axis=2)).sum(axis=0),
        # the step from h_1 back to h_0 depends on h_1 only, so any state stands in for h_0
        "there is one norm too many: entry t-1 belongs to h_t for t = 1..T, and h_0 gets none":
            gradient_norms_through_time(np.concatenate([np.zeros_like(H[:, :1]), H], axis=1), W_hh, dh_T),
        "a norm per hidden unit (over the batch only): entry t-1 is the Frobenius norm of the whole (N, H) "
        "gradient, over the batch and the units": np.sqrt((G ** 2).sum(axis=0)),
        "the gradient started from ones: the gradient at h_T is dh_T, the one given":
            gradient_norms_through_time(H, W_hh, np.ones_like(dh_T)),
        "the loop stops one step early: the norm at h_1 (entry 0) is missing; go back from h_T all the way to h_1":
            np.concatenate([[0.0], norms[1:]]),
        "a norm per sequence: entry t-1 is the Frobenius norm of the whole (N, H) gradient, over the batch "
        "and the units": np.sqrt((G ** 2).sum(axis=2)).T,
    }


@lazy_mistakes
def clip_grad_norm_mistakes(grads, max_norm) -> dict:
    """Wrong clipped arrays (concatenated into one flat array, as the tests compare them)."""
    grads = [np.asarray(g, dtype=np.float64) for g in grads]
    _, total = clip_grad_norm(grads, max_norm)
    sq = total ** 2
    out = {
        "the lecture's snippet: it compares the SQUARED norm with max_norm and divides by it; "
        "use the norm itself": flat([g * (max_norm / sq if sq > max_norm else 1.0) for g in grads]),
        "each array is clipped by its own norm: the norm is global, over all arrays together":
            flat([clip_grad_norm([g], max_norm)[0][0] for g in grads]),
        "gradients are scaled UP when the norm is below max_norm: the factor is min(1, max_norm / (norm + 1e-6))":
            flat([g * max_norm / (total + 1e-6) for g in grads]),
        "the 1e-6 is missing: multiply by max_norm / (total_norm + 1e-6), as PyTorch does":
            flat([g * min(1.0, max_norm / total) if total > 0 else g for g in grads]),
    }
    l1 = float(sum(np.abs(g).sum() for g in grads))
    out["the L1 norm (a sum of absolute values) was used: the norm is the L2 norm, sqrt of the sum of squares"] = (
        flat([g * min(1.0, max_norm / (l1 + 1e-6)) for g in grads]))
    sums_squared = float(np.sqrt(sum(np.sum(g) ** 2 for g in grads)))
    out["the sums were squared instead of the entries: the norm is sqrt of the sum of every squared entry, "
        "sqrt(sum(np.sum(g ** 2)))"] = flat([g * min(1.0, max_norm / (sums_squared + 1e-6)) for g in grads])
    return out


@lazy_mistakes
def clip_grad_value_mistakes(grads, clip_value) -> dict:
    grads = [np.asarray(g, dtype=np.float64) for g in grads]
    return {
        "only the upper bound is applied: clip to [-clip_value, clip_value]":
            flat([np.minimum(g, clip_value) for g in grads]),
        "clipped to [0, clip_value]: the lower bound is -clip_value": flat([np.clip(g, 0, clip_value) for g in grads]),
        "the gradients were clipped by norm, not by value": flat(clip_grad_norm(grads, clip_value)[0]),
        "the signs were lost (np.abs): clip each entry to [-clip_value, clip_value], keeping its sign":
            flat([np.abs(g) for g in clip_grad_value(grads, clip_value)]),
    }


@lazy_mistakes
def total_norm_mistakes(grads, max_norm) -> dict:
    """Wrong values of the returned ``total_norm``."""
    clipped, total = clip_grad_norm(grads, max_norm)
    return {
        "the squared norm was returned: take the square root": total ** 2,
        "the norm AFTER clipping was returned: return the norm of the gradients you were given":
            float(np.linalg.norm(flat(clipped))),
        "the largest per-array norm was returned: the norm is global, over all arrays together":
            max(float(np.linalg.norm(np.ravel(g))) for g in grads),
        "the sums were squared instead of the entries: the norm is sqrt of the sum of every squared entry":
            float(np.sqrt(sum(np.sum(g) ** 2 for g in grads))),
        "the L1 norm (a sum of absolute values) was returned: the norm is the L2 norm":
            float(sum(np.abs(g).sum() for g in grads)),
    }


def copy_with_grads(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``model`` whose parameters also hold copies of the ``.grad``s
    (``copy.deepcopy`` leaves them out), to run ``clip_grad_norm_`` on the copy."""
    import copy

    twin = copy.deepcopy(model)
    for p, q in zip(model.parameters(), twin.parameters()):
        q.grad = None if p.grad is None else p.grad.detach().clone()
    return twin
