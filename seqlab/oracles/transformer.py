"""Chapter 08-transformer: layer norm, multi-head attention and the Transformer blocks, by
``torch.nn.functional.layer_norm``, ``torch.nn.MultiheadAttention`` and
``torch.nn.TransformerEncoderLayer`` / ``TransformerDecoderLayer`` with copied weights.

How the course's weights map onto the built-ins (no attention biases, post-norm, no dropout):

| course | built-in |
| --- | --- |
| ``W_q, W_k, W_v`` ``(D, D)``, ``X @ W_q`` | ``in_proj_weight = cat(W_qᵀ, W_kᵀ, W_vᵀ)`` ``(3D, D)``, ``in_proj_bias = 0`` |
| ``W_o`` ``(D, D)`` | ``out_proj.weight = W_oᵀ``, ``out_proj.bias = 0`` |
| ``W_1 (D, d_ff), b_1, W_2 (d_ff, D), b_2`` | ``linear1.weight = W_1ᵀ``, ``linear1.bias = b_1``, ``linear2`` likewise |
| ``ln1_gamma, ln1_beta`` (``ln2``, ``ln3``) | ``norm1.weight, norm1.bias`` (``norm2``, ``norm3``) |
| ``mask`` (True = may attend), broadcasting to ``(N, n_heads, T_q, T_kv)`` | ``attn_mask = ~mask`` of shape ``(N * n_heads, T_q, T_kv)`` |

A query row whose keys are all masked out gives NaN in the built-ins; the course's contract gives
zeros there (weights of zero, so an output of zero), and the oracles return zeros.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._torch import lazy_mistakes, n, t
from ._torch import own_parameters  # noqa: F401 - tests load their own weights into a student's module

# ----------------------------------------------------------------------------- helpers


def _as_tensor(x, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


def _built_in_mask(mask, N: int, n_heads: int, T_q: int, T_kv: int) -> torch.Tensor | None:
    """The course's mask (True = may attend, broadcasting to (N, h, T_q, T_kv)) as the
    built-ins want it: True = blocked, shape (N * h, T_q, T_kv)."""
    if mask is None:
        return None
    if isinstance(mask, torch.Tensor):
        allowed = mask.to(torch.bool)
    else:
        allowed = torch.as_tensor(np.array(mask, dtype=bool))
    allowed = torch.broadcast_to(allowed, (N, n_heads, T_q, T_kv)).reshape(N * n_heads, T_q, T_kv)
    return ~allowed


def _zero_nan(x: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(x, nan=0.0)


def load_attention_weights(mha: torch.nn.MultiheadAttention, W_q, W_k, W_v, W_o) -> torch.nn.MultiheadAttention:
    """Copy course-layout ``(D, D)`` weights into an ``nn.MultiheadAttention``; zero its biases."""
    with torch.no_grad():
        w = mha.in_proj_weight
        mha.in_proj_weight.copy_(torch.cat([_as_tensor(W, w).T for W in (W_q, W_k, W_v)], dim=0))
        mha.out_proj.weight.copy_(_as_tensor(W_o, w).T)
        if mha.in_proj_bias is not None:
            mha.in_proj_bias.zero_()
        if mha.out_proj.bias is not None:
            mha.out_proj.bias.zero_()
    return mha


def _get(source, name: str):
    """``source[name]`` for a params dict, ``getattr`` for a module."""
    return source[name] if isinstance(source, dict) else getattr(source, name)


# ----------------------------------------------------------------------------- layer norm


def layer_norm(X, gamma, beta, eps=1e-5) -> np.ndarray:
    """Layer norm over the last axis, by ``F.layer_norm`` (biased variance)."""
    X = t(X)
    return n(F.layer_norm(X, X.shape[-1:], t(gamma), t(beta), eps))


@lazy_mistakes
def layer_norm_mistakes(X, gamma, beta, eps=1e-5) -> dict:
    """What ``layer_norm`` returns under the usual slips."""
    X, gamma, beta = map(np.asarray, (X, gamma, beta))
    D = X.shape[-1]
    # Dividing by D - 1 scales the variance by D / (D - 1); the same as the biased norm with
    # a smaller eps, shrunk by sqrt((D - 1) / D).
    shrink = np.sqrt((D - 1) / D)
    out = {
        "unbiased variance (divided by D - 1, as np.std(ddof=1) or torch.var() do): "
        "layer norm divides by D": layer_norm(X, gamma * shrink, beta, eps * (D - 1) / D),
        "eps is missing under the square root": layer_norm(X, gamma, beta, 0.0),
        "gamma and beta are swapped": layer_norm(X, beta, gamma, eps),
        "gamma and beta are not applied": layer_norm(X, np.ones_like(gamma), np.zeros_like(beta), eps),
        "beta is missing: the result is gamma * (normalised X) + beta": layer_norm(X, gamma, np.zeros_like(beta), eps),
        "gamma is missing: the result is gamma * (normalised X) + beta": layer_norm(X, np.ones_like(gamma), beta, eps),
        "gamma and beta were applied before normalising: they come after it, gamma * (normalised X) + beta":
            layer_norm(X * gamma + beta, np.ones_like(gamma), np.zeros_like(beta), eps),
    }
    if X.ndim >= 2:
        Xt = t(np.swapaxes(X, -1, -2))
        normed = np.swapaxes(n(F.layer_norm(Xt, Xt.shape[-1:], eps=eps)), -1, -2)
        out["normalised over the wrong axis (axis -2, time): normalise each row over its features"] = normed * gamma + beta
    if X.ndim >= 3:
        Xb = t(np.moveaxis(X, 0, -1))
        normed = np.moveaxis(n(F.layer_norm(Xb, Xb.shape[-1:], eps=eps)), -1, 0)
        out["normalised over axis 0, the batch: normalise each row over its features (the last axis)"] = (
            normed * gamma + beta)
    std = np.sqrt(np.var(X, axis=-1, keepdims=True))          # the biased standard deviation
    out["eps is added outside the square root: divide by sqrt(var + eps), not sqrt(var) + eps"] = (
        layer_norm(X, np.ones_like(gamma), np.zeros_like(beta), 0.0) * std / (std + eps) * gamma + beta)
    var_eps = np.var(X, axis=-1, keepdims=True) + eps
    out["divided by the variance: divide by its square root, the standard deviation sqrt(var + eps)"] = (
        layer_norm(X, np.ones_like(gamma), np.zeros_like(beta), eps) * np.sqrt(var_eps) / var_eps * gamma + beta)
    if X.ndim >= 2:
        whole = n(F.layer_norm(t(X.reshape(-1)), (X.size,), eps=eps)).reshape(X.shape)
        out["the mean and variance were taken over the whole array: layer norm normalises each row over its "
            "features, the last axis (axis=-1, keepdims=True)"] = whole * gamma + beta
    return out


# ----------------------------------------------------------------------------- multi-head attention


def torch_multihead(W_q, W_k, W_v, W_o, n_heads: int, dtype=torch.float64) -> torch.nn.MultiheadAttention:
    """An ``nn.MultiheadAttention(D, n_heads, bias=False, batch_first=True)`` holding these weights.

    Accepts arrays or tensors (then on their device)."""
    W_q = torch.as_tensor(W_q, dtype=dtype)
    D = W_q.shape[0]
    mha = torch.nn.MultiheadAttention(D, n_heads, bias=False, batch_first=True, dtype=dtype, device=W_q.device)
    return load_attention_weights(mha, W_q, W_k, W_v, W_o)


def multihead_reference(mha: torch.nn.MultiheadAttention, X_q, X_kv, mask=None):
    """``(out (N, T_q, D), A (N, h, T_q, T_kv))`` of the built-in on batched tensors, with the
    course's mask convention; rows with no allowed key are zeros (the built-in gives NaN)."""
    N, T_q, _ = X_q.shape
    T_kv = X_kv.shape[1]
    attn_mask = _built_in_mask(mask, N, mha.num_heads, T_q, T_kv)
    if attn_mask is not None:
        attn_mask = attn_mask.to(X_q.device)
    out, A = mha(X_q, X_kv, X_kv, attn_mask=attn_mask, need_weights=True, average_attn_weights=False)
    return _zero_nan(out), _zero_nan(A)


def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    """``(out (..., T_q, D), A (..., n_heads, T_q, T_kv))`` by ``nn.MultiheadAttention``."""
    X_q, X_kv = np.asarray(X_q), np.asarray(X_kv)
    lead, (T_q, D), T_kv = X_q.shape[:-2], X_q.shape[-2:], X_kv.shape[-2]
    N = int(np.prod(lead, dtype=int))
    if mask is not None:  # broadcast against the scores (..., h, T_q, T_kv), then flatten the batch
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), lead + (n_heads, T_q, T_kv)).reshape(N, n_heads, T_q, T_kv)
    mha = torch_multihead(W_q, W_k, W_v, W_o, n_heads)
    with torch.no_grad():
        out, A = multihead_reference(mha, t(X_q.reshape(N, T_q, D)), t(X_kv.reshape(N, T_kv, D)), mask)
    return n(out).reshape(lead + (T_q, D)), n(A).reshape(lead + (n_heads, T_q, T_kv))


def _strided_heads(D: int, n_heads: int) -> np.ndarray:
    """Column order that turns 'head h owns columns h, h + n_heads, ...' into contiguous blocks."""
    d_k = D // n_heads
    return np.array([j * n_heads + h for h in range(n_heads) for j in range(d_k)])


@lazy_mistakes
def _multi_head_attention_mistakes(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None) -> dict:
    """label -> (out, A) under the usual slips, from the oracle fed altered inputs."""
    W_q, W_k, W_v, W_o = map(np.asarray, (W_q, W_k, W_v, W_o))
    D = W_q.shape[0]
    d_k = D // n_heads
    f = multi_head_attention
    out = {}
    if n_heads > 1:
        p = _strided_heads(D, n_heads)
        out["heads split along the wrong axis: head h must use feature columns [h*d_k, (h+1)*d_k) "
            "(reshape (..., T, D) to (..., T, n_heads, d_k), then move the head axis before T)"] = f(
            X_q, X_kv, W_q[:, p], W_k[:, p], W_v[:, p], W_o[p], n_heads, mask)
    if n_heads > 1:
        out["heads split by a plain reshape to (..., n_heads, T, d_k), which mixes time steps and features: "
            "reshape to (..., T, n_heads, d_k), then move the head axis before T"] = _reshaped_heads(
            X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask)
    out["the output projection W_o is missing: concatenate the heads, then multiply by W_o"] = f(
        X_q, X_kv, W_q, W_k, W_v, np.eye(D), n_heads, mask)
    if n_heads > 1:
        out["scores divided by sqrt(D) instead of sqrt(d_k) = sqrt(D / n_heads)"] = f(
            X_q, X_kv, W_q * np.sqrt(d_k / D), W_k, W_v, W_o, n_heads, mask)
    out["scores not divided by sqrt(d_k)"] = f(X_q, X_kv, W_q * np.sqrt(d_k), W_k, W_v, W_o, n_heads, mask)
    out["W_q and W_k are swapped"] = f(X_q, X_kv, W_k, W_q, W_v, W_o, n_heads, mask)
    out["weights transposed: use X @ W_q with W_q of shape (D, D)"] = f(
        X_q, X_kv, W_q.T, W_k.T, W_v.T, W_o.T, n_heads, mask)
    if mask is not None:
        out["the mask is ignored"] = f(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, None)
        out["the mask is inverted: True means 'may attend'"] = f(
            X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, ~np.asarray(mask, dtype=bool))
    if np.shape(X_q) == np.shape(X_kv):
        out["X_q and X_kv are swapped: queries come from X_q, keys and values from X_kv"] = f(
            X_kv, X_q, W_q, W_k, W_v, W_o, n_heads, mask)
    right_out, right_A = f(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask)
    if n_heads > 1 and d_k != n_heads:
        out["scores divided by sqrt(n_heads): divide them by sqrt(d_k), d_k = D / n_heads the width of a head"] = f(
            X_q, X_kv, W_q * np.sqrt(d_k / n_heads), W_k, W_v, W_o, n_heads, mask)
    for dim, label in [(-2, "the softmax runs over the queries (axis -2): it runs over the keys, the last axis"),
                       (-3, "the softmax runs over the heads (axis -3, dim 1 of (N, n_heads, T_q, T_kv)): it runs "
                            "over the keys, the last axis")]:
        if dim == -2 or n_heads > 1:
            out[label] = _with_weights(X_kv, W_v, W_o, n_heads, _softmax_along(X_q, X_kv, W_q, W_k, n_heads, mask, dim))
    out["the weights were divided by sqrt(d_k) after the softmax: divide the scores, before the softmax"] = (
        _with_weights(X_kv, W_v, W_o, n_heads, f(X_q, X_kv, W_q * np.sqrt(d_k), W_k, W_v, W_o, n_heads, mask)[1] / np.sqrt(d_k)))
    if np.shape(X_q)[-2] != np.shape(X_kv)[-2] and (mask is None or np.shape(mask)[-1] == 1):
        out["the keys and values were made from X_q: they come from X_kv (queries from X_q)"] = f(
            X_q, X_q, W_q, W_k, W_v, W_o, n_heads, mask)
    if mask is not None:
        free_A = f(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, None)[1]
        A_after = free_A * np.broadcast_to(np.asarray(mask, dtype=bool), free_A.shape)
        out["the mask was applied after the softmax: set masked scores to -inf before it"] = _with_weights(
            X_kv, W_v, W_o, n_heads, A_after)
    if d_k != n_heads and (mask is None or np.ndim(mask) < 3 or np.shape(mask)[-3] == 1):
        out["n_heads and d_k are swapped: there are n_heads heads, each of width d_k = D // n_heads"] = f(
            X_q, X_kv, W_q, W_k, W_v, W_o, d_k, mask)
    if n_heads > 1:
        out["the attention weights were averaged over the heads (nn.MultiheadAttention's default): A holds one "
            "(T_q, T_kv) matrix per head, (..., n_heads, T_q, T_kv)"] = (right_out, right_A.mean(axis=-3))
        merged = _reshaped_heads(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask, split=False)
        out["the heads were merged back by a plain reshape of (..., n_heads, T_q, d_k): move the head axis after "
            "T_q first (swapaxes), then reshape to (..., T_q, D)"] = merged
        if mask is None and np.shape(X_q)[-2] == np.shape(X_kv)[-2]:
            out["the head axis was not moved before T: after reshape(..., T, n_heads, d_k), swap axes -2 and -3 so "
                "that each head attends over the time steps"] = _unmoved_heads(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads)
    if mask is not None:
        empty = ~np.broadcast_to(np.asarray(mask, dtype=bool), right_A.shape).any(axis=-1, keepdims=True)
        if empty.any():
            T_kv = right_A.shape[-1]
            out["a query with no allowed key attends to all keys uniformly (masked with a large negative number "
                "instead of -inf): its weights and output must be zeros"] = _with_weights(
                X_kv, W_v, W_o, n_heads, np.where(empty, 1.0 / T_kv, right_A))
    return out


def _with_weights(X_kv, W_v, W_o, n_heads, A) -> tuple:
    """``(out, A)`` of multi-head attention whose weights are ``A (..., n_heads, T_q, T_kv)``: the heads'
    weighted sums of the values, concatenated, times ``W_o`` (by ``F.linear``)."""
    V = F.linear(t(X_kv), t(W_v).T)                                          # (..., T_kv, D)
    lead, T_kv, D = V.shape[:-2], V.shape[-2], V.shape[-1]
    heads = V.reshape(*lead, T_kv, n_heads, D // n_heads).transpose(-2, -3)   # (..., h, T_kv, d_k)
    concat = (t(A) @ heads).transpose(-2, -3)                                # (..., T_q, h, d_k)
    return n(F.linear(concat.reshape(*concat.shape[:-2], D), t(W_o).T)), np.asarray(A)


def _softmax_along(X_q, X_kv, W_q, W_k, n_heads, mask, dim: int) -> np.ndarray:
    """The weights when the softmax of the masked, scaled scores runs along ``dim`` (NaN -> 0)."""
    Q, K = F.linear(t(X_q), t(W_q).T), F.linear(t(X_kv), t(W_k).T)
    D = Q.shape[-1]
    d_k = D // n_heads
    Q, K = (Z.reshape(*Z.shape[:-1], n_heads, d_k).transpose(-2, -3) for Z in (Q, K))
    S = Q @ K.transpose(-2, -1) / d_k ** 0.5
    if mask is not None:
        S = S.masked_fill(~torch.as_tensor(np.asarray(mask, dtype=bool)), float("-inf"))
    return n(torch.softmax(S, dim=dim).nan_to_num(0.0))


def _unmoved_heads(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads) -> tuple:
    """``(out, A)`` when the heads are split with reshape(..., T, n_heads, d_k) and not moved before T: the
    softmax then runs over the heads of each time step, ``A (..., T, n_heads, n_heads)``."""
    X_q, X_kv = t(X_q), t(X_kv)
    D = X_q.shape[-1]
    d_k = D // n_heads
    Q, K, V = ((Z @ t(W)).reshape(*Z.shape[:-1], n_heads, d_k) for Z, W in ((X_q, W_q), (X_kv, W_k), (X_kv, W_v)))
    A = torch.softmax(Q @ K.transpose(-2, -1) / d_k ** 0.5, dim=-1)
    return n((A @ V).reshape(*X_q.shape[:-1], D) @ t(W_o)), n(A)


def _reshaped_heads(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None, split: bool = True) -> tuple:
    """``(out, A)`` when the heads are split by ``reshape(..., n_heads, T, d_k)`` straight from
    ``(..., T, D)`` and merged back the same way (or, ``split=False``, split right and only merged
    that way), by ``scaled_dot_product_attention``."""
    X_q, X_kv = t(X_q), t(X_kv)
    lead, T_q, T_kv, D = X_q.shape[:-2], X_q.shape[-2], X_kv.shape[-2], X_q.shape[-1]
    d_k = D // n_heads
    Q, K, V = (Z @ t(W) for Z, W in ((X_q, W_q), (X_kv, W_k), (X_kv, W_v)))
    if split:
        Q, K, V = (Z.reshape(*lead, n_heads, Z.shape[-2], d_k) for Z in (Q, K, V))
    else:
        Q, K, V = (Z.reshape(*lead, Z.shape[-2], n_heads, d_k).transpose(-2, -3) for Z in (Q, K, V))
    attn_mask = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
    eye = torch.eye(T_kv, dtype=Q.dtype).expand(*Q.shape[:-2], T_kv, T_kv)
    A = _zero_nan(F.scaled_dot_product_attention(Q, K, eye, attn_mask=attn_mask))
    heads = A @ V
    return n(heads.reshape(*lead, T_q, D) @ t(W_o)), n(A)


@lazy_mistakes
def multi_head_attention_mistakes(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None) -> dict:
    """What ``multi_head_attention(...)[0]`` (the output) returns under the usual slips."""
    return {k: v[0] for k, v in _multi_head_attention_mistakes(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask).items()}


@lazy_mistakes
def attention_weights_mistakes(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None) -> dict:
    """What ``multi_head_attention(...)[1]`` (the weights A) returns under the usual slips."""
    return {k: v[1] for k, v in _multi_head_attention_mistakes(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask).items()
            if "W_o" not in k}


# ----------------------------------------------------------------------------- feed-forward


def feed_forward(X, W_1, b_1, W_2, b_2) -> np.ndarray:
    """``Linear -> ReLU -> Linear`` by ``F.linear`` and ``F.relu``."""
    return n(F.linear(F.relu(F.linear(t(X), t(W_1).T, t(b_1))), t(W_2).T, t(b_2)))


@lazy_mistakes
def feed_forward_mistakes(X, W_1, b_1, W_2, b_2) -> dict:
    W_1, b_1, W_2, b_2 = map(np.asarray, (W_1, b_1, W_2, b_2))
    no_relu = n(F.linear(F.linear(t(X), t(W_1).T, t(b_1)), t(W_2).T, t(b_2)))
    extra = {}
    if np.ndim(X) >= 2:
        extra["np.max(h, 0) takes the maximum over axis 0 (the batch): the ReLU is the elementwise np.maximum(h, 0)"] = (
            n(F.linear(torch.amax(F.linear(t(X), t(W_1).T, t(b_1)), dim=0), t(W_2).T, t(b_2))))
    extra["b_1 was used as the ReLU's threshold, np.maximum(X @ W_1, b_1): add it first, np.maximum(X @ W_1 + b_1, 0)"] = (
        n(F.linear(torch.maximum(F.linear(t(X), t(W_1).T), t(b_1)), t(W_2).T, t(b_2))))
    if W_1.shape[0] == W_1.shape[1]:
        extra["W_1 and W_2 are swapped: ReLU(X @ W_1 + b_1) @ W_2 + b_2"] = feed_forward(X, W_2, b_1, W_1, b_2)
    return extra | {
        "b_1 is added after the ReLU: it goes inside, ReLU(X @ W_1 + b_1)":
            feed_forward(X, W_1, 0 * b_1, W_2, b_2) + b_1 @ W_2,
        "sigmoid instead of ReLU: the hidden layer is ReLU(X @ W_1 + b_1)":
            n(F.linear(torch.sigmoid(F.linear(t(X), t(W_1).T, t(b_1))), t(W_2).T, t(b_2))),
        "the ReLU is missing": no_relu,
        "a ReLU was applied to the output too": np.maximum(feed_forward(X, W_1, b_1, W_2, b_2), 0.0),
        "the bias b_1 is missing": feed_forward(X, W_1, 0 * b_1, W_2, b_2),
        "the bias b_2 is missing": feed_forward(X, W_1, b_1, W_2, 0 * b_2),
    }


# ----------------------------------------------------------------------------- encoder and decoder layers

ENCODER_PARAMS = ("W_q", "W_k", "W_v", "W_o", "ln1_gamma", "ln1_beta", "W_1", "b_1", "W_2", "b_2",
                  "ln2_gamma", "ln2_beta")


def _load_ff_norms(layer, W_1, b_1, W_2, b_2, norms) -> None:
    w = layer.linear1.weight
    with torch.no_grad():
        layer.linear1.weight.copy_(_as_tensor(W_1, w).T)
        layer.linear1.bias.copy_(_as_tensor(b_1, w))
        layer.linear2.weight.copy_(_as_tensor(W_2, w).T)
        layer.linear2.bias.copy_(_as_tensor(b_2, w))
        for norm, (gamma, beta) in norms.items():
            getattr(layer, norm).weight.copy_(_as_tensor(gamma, w))
            getattr(layer, norm).bias.copy_(_as_tensor(beta, w))


def encoder_layer_from_params(params: dict, n_heads: int, norm_first: bool = False,
                              dtype=torch.float64) -> torch.nn.TransformerEncoderLayer:
    """An ``nn.TransformerEncoderLayer`` (post-norm unless ``norm_first``) holding ``params``
    (the keys of ``encoder_block``)."""
    W_q = torch.as_tensor(params["W_q"], dtype=dtype)
    D, d_ff = W_q.shape[0], np.shape(params["W_1"])[1]
    layer = torch.nn.TransformerEncoderLayer(D, n_heads, d_ff, dropout=0.0, batch_first=True,
                                             norm_first=norm_first, dtype=dtype, device=W_q.device)
    load_attention_weights(layer.self_attn, params["W_q"], params["W_k"], params["W_v"], params["W_o"])
    _load_ff_norms(layer, params["W_1"], params["b_1"], params["W_2"], params["b_2"],
                   {"norm1": (params["ln1_gamma"], params["ln1_beta"]),
                    "norm2": (params["ln2_gamma"], params["ln2_beta"])})
    return layer


def encoder_reference(layer: torch.nn.TransformerEncoderLayer, X: torch.Tensor, mask=None) -> torch.Tensor:
    """The built-in encoder layer on a batch ``X (N, T, D)`` with the course's mask convention."""
    N, T, _ = X.shape
    src_mask = _built_in_mask(mask, N, layer.self_attn.num_heads, T, T)
    return layer(X, src_mask=None if src_mask is None else src_mask.to(X.device))


def encoder_block(X, params, n_heads, mask=None) -> np.ndarray:
    """A post-norm encoder block by ``nn.TransformerEncoderLayer`` (no dropout, no attention biases)."""
    return _encoder_block(X, params, n_heads, mask)


def _encoder_block(X, params, n_heads, mask=None, norm_first=False) -> np.ndarray:
    X = np.asarray(X)
    lead, (T, D) = X.shape[:-2], X.shape[-2:]
    N = int(np.prod(lead, dtype=int))
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), lead + (n_heads, T, T)).reshape(N, n_heads, T, T)
    layer = encoder_layer_from_params(params, n_heads, norm_first=norm_first)
    with torch.no_grad():
        return n(encoder_reference(layer, t(X.reshape(N, T, D)), mask)).reshape(X.shape)


@lazy_mistakes
def encoder_block_mistakes(X, params, n_heads, mask=None) -> dict:
    """What ``encoder_block`` returns under the usual slips, built from the built-ins."""
    p = {k: np.asarray(v) for k, v in params.items()}

    def mha(Z):
        return multi_head_attention(Z, Z, p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, mask)[0]

    def ffn(Z):
        return feed_forward(Z, p["W_1"], p["b_1"], p["W_2"], p["b_2"])

    def norm(Z, i):
        return layer_norm(Z, p[f"ln{i}_gamma"], p[f"ln{i}_beta"])

    X = np.asarray(X)
    after_norm = X + norm(mha(X), 1)              # the sub-layer is normalised, the residual added after
    no_residual = norm(mha(X), 1)
    swapped = dict(p, ln1_gamma=p["ln2_gamma"], ln1_beta=p["ln2_beta"], ln2_gamma=p["ln1_gamma"], ln2_beta=p["ln1_beta"])
    out = {
        "pre-norm (x + sublayer(LN(x))): this block is post-norm, LN(x + sublayer(x)), as in the paper":
            _encoder_block(X, p, n_heads, mask, norm_first=True),
        "residual added after the norm (x + LN(sublayer(x))): add x first, then normalise":
            after_norm + norm(ffn(after_norm), 2),
        "no residual connections": norm(ffn(no_residual), 2),
        "ln1 and ln2 swapped": _encoder_block(X, swapped, n_heads, mask),
    }
    H = norm(X + mha(X), 1)
    out["the second residual adds the block's input X: it adds H, the output of the first sub-layer"] = (
        norm(X + ffn(H), 2))
    out["no residual around the feed-forward: LN(H + FFN(H))"] = norm(ffn(H), 2)
    out["ln1's gamma and beta were used for the second norm too: it has its own, ln2_gamma and ln2_beta"] = (
        norm(H + ffn(H), 1))
    H_ff = norm(X + ffn(X), 1)
    out["the sub-layers are in the wrong order: attention first (with ln1), then the feed-forward (with ln2)"] = (
        norm(H_ff + mha(H_ff), 2))
    H_free = norm(mha(X), 1)
    out["no residual around the attention: LN(X + attention(X)), the input X added back"] = norm(H_free + ffn(H_free), 2)
    if mask is not None:
        out["the mask is ignored (not passed on to the attention)"] = _encoder_block(X, p, n_heads, None)
    return out


def _numpy(x):
    return None if x is None else (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x))


@lazy_mistakes
def attention_module_mistakes(module, X_q, X_kv, n_heads: int, mask=None) -> dict:
    """``multi_head_attention_mistakes`` for a ``MultiHeadAttention`` module's weights (course layout)."""
    W = [_numpy(getattr(module, name)) for name in ("W_q", "W_k", "W_v", "W_o")]
    if any(w.ndim != 2 or w.shape[0] != w.shape[1] for w in W):
        return {}
    m = _numpy(mask)
    return multi_head_attention_mistakes(_numpy(X_q), _numpy(X_kv), *W, n_heads, None if m is None else m.astype(bool))


@lazy_mistakes
def attention_module_weights_mistakes(module, X_q, X_kv, n_heads: int, mask=None) -> dict:
    """``attention_weights_mistakes`` (the weights ``A``) for a ``MultiHeadAttention`` module's weights."""
    W = [_numpy(getattr(module, name)) for name in ("W_q", "W_k", "W_v", "W_o")]
    if any(w.ndim != 2 or w.shape[0] != w.shape[1] for w in W):
        return {}
    m = _numpy(mask)
    return attention_weights_mistakes(_numpy(X_q), _numpy(X_kv), *W, n_heads, None if m is None else m.astype(bool))


def block_params(block) -> dict:
    """The ``encoder_block`` params dict (NumPy) of an ``EncoderBlock`` module."""
    a, ff = block.attn, block.ff
    return {k: _numpy(v) for k, v in {
        "W_q": a.W_q, "W_k": a.W_k, "W_v": a.W_v, "W_o": a.W_o,
        "ln1_gamma": block.ln1.weight, "ln1_beta": block.ln1.bias, "W_1": ff[0].weight.T, "b_1": ff[0].bias,
        "W_2": ff[2].weight.T, "b_2": ff[2].bias, "ln2_gamma": block.ln2.weight, "ln2_beta": block.ln2.bias}.items()}


@lazy_mistakes
def encoder_module_mistakes(block, X, n_heads: int, mask=None) -> dict:
    """``encoder_block_mistakes`` for an ``EncoderBlock`` module and tensor inputs."""
    m = _numpy(mask)
    return encoder_block_mistakes(_numpy(X), block_params(block), n_heads, None if m is None else m.astype(bool))


@lazy_mistakes
def decoder_module_mistakes(block, Y, memory, n_heads: int, tgt_mask=None, memory_mask=None) -> dict:
    """What a ``DecoderBlock``'s output is under the usual slips, composed from the oracles of its
    parts (multi-head attention, feed-forward, layer norm) holding the block's weights."""
    Y, M = _numpy(Y), _numpy(memory)
    tm, mm = (None if x is None else _numpy(x).astype(bool) for x in (tgt_mask, memory_mask))
    W_s, W_c = ([_numpy(getattr(a, w)) for w in ("W_q", "W_k", "W_v", "W_o")] for a in (block.self_attn, block.cross_attn))
    ff = block.ff
    W_1, b_1, W_2, b_2 = _numpy(ff[0].weight.T), _numpy(ff[0].bias), _numpy(ff[2].weight.T), _numpy(ff[2].bias)

    def sa(Z, m):
        return multi_head_attention(Z, Z, *W_s, n_heads, m)[0]

    def ca(Z, K, m):
        return multi_head_attention(Z, K, *W_c, n_heads, m)[0]

    def ln(Z, i):
        norm = getattr(block, f"ln{i}")
        return layer_norm(Z, _numpy(norm.weight), _numpy(norm.bias))

    def ffn(Z):
        return feed_forward(Z, W_1, b_1, W_2, b_2)

    def post(first, memory_of, cross_mask, self_mask):
        H1 = first(Y, self_mask)
        H2 = ln(H1 + ca(H1, memory_of(H1), cross_mask), 2)
        return ln(H2 + ffn(H2), 3)

    def right_first(Z, m):
        return ln(Z + sa(Z, m), 1)

    out = {}
    if tm is not None:
        out["the causal mask is missing in the self-attention: pass tgt_mask to it"] = post(
            right_first, lambda H: M, mm, None)
    if mm is not None:
        out["memory_mask is ignored in the cross-attention"] = post(right_first, lambda H: M, None, tm)
    out["the cross-attention reads the decoder's own states: its keys and values come from the memory"] = post(
        right_first, lambda H: H, None, tm)
    out["residual added after the norm (x + LN(sublayer(x))): add x first, then normalise"] = post(
        lambda Z, m: Z + ln(sa(Z, m), 1), lambda H: M, mm, tm)
    H1 = ln(Y + sa(Y, tm), 1)
    H2 = ln(H1 + ca(H1, M, mm), 2)
    out["ln2 was used again where ln3 belongs: the last norm is ln3"] = ln(H2 + ffn(H2), 2)
    C1 = ln(Y + ca(Y, M, mm), 1)
    C2 = ln(C1 + sa(C1, tm), 2)
    out["the sub-layers are in the wrong order: self-attention (ln1), then cross-attention (ln2), then the "
        "feed-forward (ln3)"] = ln(C2 + ffn(C2), 3)
    out["no residual around the feed-forward: LN(H + FFN(H))"] = ln(ffn(H2), 3)
    H1 = Y + sa(ln(Y, 1), tm)
    H2 = H1 + ca(ln(H1, 2), M, mm)
    out["pre-norm (x + sublayer(LN(x))): this block is post-norm, LN(x + sublayer(x)), as in the paper"] = (
        H2 + ffn(ln(H2, 3)))
    return out


def torch_multihead_like(module, n_heads: int) -> torch.nn.MultiheadAttention:
    """The built-in holding the weights of a ``MultiHeadAttention`` module, on its device and dtype."""
    return torch_multihead(*(w.detach() for w in (module.W_q, module.W_k, module.W_v, module.W_o)), n_heads,
                           dtype=module.W_q.dtype)


def torch_encoder_layer(block, n_heads: int, norm_first: bool = False) -> torch.nn.TransformerEncoderLayer:
    """The built-in ``nn.TransformerEncoderLayer`` holding the weights of an ``EncoderBlock``
    (submodules ``attn``, ``ln1``, ``ln2``, ``ff``), on its device and dtype."""
    a, ff = block.attn, block.ff
    params = {"W_q": a.W_q.detach(), "W_k": a.W_k.detach(), "W_v": a.W_v.detach(), "W_o": a.W_o.detach(),
              "ln1_gamma": block.ln1.weight.detach(), "ln1_beta": block.ln1.bias.detach(),
              "W_1": ff[0].weight.detach().T, "b_1": ff[0].bias.detach(),
              "W_2": ff[2].weight.detach().T, "b_2": ff[2].bias.detach(),
              "ln2_gamma": block.ln2.weight.detach(), "ln2_beta": block.ln2.bias.detach()}
    return encoder_layer_from_params(params, n_heads, norm_first=norm_first, dtype=a.W_q.dtype)


def torch_decoder_layer(block, n_heads: int, norm_first: bool = False) -> torch.nn.TransformerDecoderLayer:
    """The built-in ``nn.TransformerDecoderLayer`` holding the weights of a ``DecoderBlock``
    (``self_attn``, ``cross_attn``, ``ln1``, ``ln2``, ``ln3``, ``ff``), on its device and dtype."""
    s, c, ff = block.self_attn, block.cross_attn, block.ff
    W = s.W_q
    D, d_ff = W.shape[0], ff[0].weight.shape[0]
    layer = torch.nn.TransformerDecoderLayer(D, n_heads, d_ff, dropout=0.0, batch_first=True,
                                             norm_first=norm_first, dtype=W.dtype, device=W.device)
    load_attention_weights(layer.self_attn, s.W_q.detach(), s.W_k.detach(), s.W_v.detach(), s.W_o.detach())
    load_attention_weights(layer.multihead_attn, c.W_q.detach(), c.W_k.detach(), c.W_v.detach(), c.W_o.detach())
    _load_ff_norms(layer, ff[0].weight.detach().T, ff[0].bias.detach(), ff[2].weight.detach().T, ff[2].bias.detach(),
                   {f"norm{i}": (getattr(block, f"ln{i}").weight.detach(), getattr(block, f"ln{i}").bias.detach())
                    for i in (1, 2, 3)})
    return layer


def decoder_reference(layer: torch.nn.TransformerDecoderLayer, Y: torch.Tensor, memory: torch.Tensor,
                      tgt_mask=None, memory_mask=None) -> torch.Tensor:
    """The built-in decoder layer with the course's mask convention (True = may attend)."""
    N, T_y, _ = Y.shape
    T_m, h = memory.shape[1], layer.self_attn.num_heads
    tm = _built_in_mask(tgt_mask, N, h, T_y, T_y)
    mm = _built_in_mask(memory_mask, N, h, T_y, T_m)
    return layer(Y, memory, tgt_mask=None if tm is None else tm.to(Y.device),
                 memory_mask=None if mm is None else mm.to(Y.device))
