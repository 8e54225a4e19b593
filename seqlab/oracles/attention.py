"""Chapter 06-self-attention: reference results from PyTorch built-ins.

Every result here comes from a built-in, never from a second copy of the exercise:

- projections by ``F.linear`` (PyTorch stores ``W_qᵀ`` where the course stores ``W_q``);
- scores ``q_i · k_j`` by ``F.bilinear`` with an identity weight (a bilinear form ``qᵀ I k``);
- softmax by ``torch.softmax``;
- weighted sums by ``F.linear`` (``A @ V`` is ``F.linear(A, Vᵀ)``);
- the causal mask by ``nn.Transformer.generate_square_subsequent_mask`` (``0`` where allowed);
- attention outputs by ``F.scaled_dot_product_attention``, and attention weights by the same
  call with the identity matrix as values (each output row is then the row of weights).

Masks follow the course convention: boolean, ``True`` = may attend, broadcast against the
scores ``(..., T_q, T_kv)``. The contract gives zeros on a query row with no allowed key,
where some built-ins give NaN; the oracles here follow the contract.
"""
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from ._torch import lazy_mistakes, n, t

#: The lecture's weighted-sum example: values v^1, v^2, v^3 (as rows), weights a, result s.
LECTURE_VALUES = np.array([[1.0, 2.0], [1.0, 0.0], [0.0, 2.0]])
LECTURE_WEIGHTS = np.array([0.5, 0.2, 0.3])
LECTURE_SUM = np.array([0.7, 1.6])


def _one_thread(fn):
    """Run ``fn`` with one intra-op thread: the oracles work on tiny tensors, where the fused
    attention kernel's thread pool costs far more than it saves (tens of ms per call on a busy
    2-core machine, against microseconds on one thread)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
    return wrapper


def _tensor(x):
    """A float64 CPU tensor from an array, or a copy of a tensor moved to the CPU."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return x.double() if x.is_floating_point() else x
    return t(x)


def _mask(mask):
    if mask is None:
        return None
    return _tensor(np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask, dtype=bool))


# --- step 1: projections ------------------------------------------------------------------

def project_qkv(X, W_q, W_k, W_v):
    """``(Q, K, V)`` for ``X (..., T, D)`` and course-layout weights ``(D, d)``, by ``F.linear``."""
    X = _tensor(X)
    return tuple(n(F.linear(X, _tensor(W).T)) for W in (W_q, W_k, W_v))


@lazy_mistakes
def project_qkv_mistakes(X, W_q, W_k, W_v) -> dict:
    """What ``project_qkv`` returns under the usual slips (each value is a 3-tuple)."""
    Q, K, V = project_qkv(X, W_q=W_q, W_k=W_k, W_v=W_v)
    out = {
        "Q and K are swapped (W_q and W_k mixed up)": (K, Q, V),
        "the results are returned in the wrong order: return (Q, K, V)": (Q, V, K),
        "W_v was used for the keys": (Q, V, V),
    }
    if np.ndim(X) > 2:   # leading axes merged into one and not restored
        flat = np.reshape(X, (-1, np.shape(X)[-1]))
        out["the batch axes were flattened: keep the leading batch axes of X and project only the last axis"] = (
            project_qkv(flat, W_q, W_k, W_v))
    if np.shape(W_q)[0] == np.shape(W_q)[1]:
        out["the weights are transposed: use X @ W_q with W_q of shape (D, d_k)"] = project_qkv(
            X, np.swapaxes(W_q, 0, 1), np.swapaxes(W_k, 0, 1), np.swapaxes(W_v, 0, 1) if np.shape(W_v)[0] == np.shape(W_v)[1] else W_v
        )
    return out


# --- step 2: scores -------------------------------------------------------------------------

@_one_thread
def attention_scores(Q, K, scaled: bool = True, scale: float | None = None) -> np.ndarray:
    """``S[..., i, j] = q_i · k_j`` (times ``scale``, by default ``1/sqrt(d_k)`` when ``scaled``).

    Computed by ``F.bilinear(q, k, I)``, which evaluates ``qᵀ I k`` for every pair (i, j).
    """
    Q, K = _tensor(Q), _tensor(K)
    d_k = Q.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(d_k) if scaled else 1.0
    batch = torch.broadcast_shapes(Q.shape[:-2], K.shape[:-2])
    T_q, T_kv = Q.shape[-2], K.shape[-2]
    q = Q[..., :, None, :].expand(*batch, T_q, T_kv, d_k).reshape(-1, d_k)   # (B*T_q*T_kv, d_k)
    k = K[..., None, :, :].expand(*batch, T_q, T_kv, d_k).reshape(-1, d_k)   # (B*T_q*T_kv, d_k)
    weight = scale * torch.eye(d_k, dtype=Q.dtype)[None]                     # (1, d_k, d_k)
    S = F.bilinear(q, k, weight)                                             # (B*T_q*T_kv, 1)
    return n(S.reshape(*batch, T_q, T_kv))


@lazy_mistakes
def attention_scores_mistakes(Q, K, scaled: bool = True) -> dict:
    """Scores a student gets with the usual slips."""
    d_k, T = np.shape(Q)[-1], np.shape(Q)[-2]
    if not scaled:
        return {"the scores were scaled although scaled=False": attention_scores(Q, K, True),
                "Q and K are swapped: S[i, j] is q_i · k_j, queries along the rows": attention_scores(K, Q, False)}
    return {
        "the scale is missing: divide by sqrt(d_k)": attention_scores(Q, K, False),
        "divided by d_k instead of sqrt(d_k)": attention_scores(Q, K, scale=1.0 / d_k),
        "divided by sqrt(T) instead of sqrt(d_k): d_k is the last axis of Q": attention_scores(Q, K, scale=1.0 / math.sqrt(T)),
        "Q and K are swapped: S[i, j] is q_i · k_j, queries along the rows (S = Q Kᵀ, not K Qᵀ)": attention_scores(K, Q),
        "multiplied by sqrt(d_k) instead of divided": attention_scores(Q, K, scale=math.sqrt(d_k)),
    }


# --- step 3: softmax ------------------------------------------------------------------------

@_one_thread
def softmax(S, axis: int = -1) -> np.ndarray:
    """``torch.softmax`` along ``axis``; a slice that is all ``-inf`` gives zeros (contract)."""
    S = _tensor(S)
    P = torch.softmax(S, dim=axis)
    empty = torch.isneginf(S).all(dim=axis, keepdim=True)                    # nothing to attend to
    return n(torch.where(empty, torch.zeros_like(P), P))


@lazy_mistakes
def softmax_mistakes(S, axis: int = -1) -> dict:
    """Softmaxes a student gets with the usual slips."""
    S = np.asarray(S)
    out = {}
    if S.ndim >= 2:
        other = -2 if axis in (-1, S.ndim - 1) else -1
        out[f"the softmax runs over the wrong axis: normalise along axis={axis}"] = softmax(S, axis=other)
    with np.errstate(all="ignore"):
        finite = np.where(np.isfinite(S), S, 0.0)
        too_big = np.any(np.abs(finite) > 700, axis=axis, keepdims=True)
        has_empty = np.all(np.isneginf(S), axis=axis, keepdims=True)
    if np.isfinite(S).any():
        flat = softmax(np.where(np.isfinite(S), S, -np.inf).reshape(-1), axis=0).reshape(S.shape)
        out["normalised over the whole array: each slice along the axis must sum to 1 (sum with axis=..., "
            "keepdims=True)"] = flat
    with np.errstate(all="ignore"):   # np.exp of the raw scores overflows to inf (inf / inf is NaN)
        e = np.exp(S)
        naive = e / e.sum(axis=axis, keepdims=True)
    if too_big.any():
        out["overflow: np.exp of a large score is inf (and inf / inf is NaN): subtract the maximum along the "
            "axis before np.exp"] = naive
    if S.ndim >= 2 and axis not in (-1, S.ndim - 1):
        with np.errstate(all="ignore"):
            top = np.max(S, axis=-1, keepdims=True)
            e = np.exp(S - np.where(np.isfinite(top), top, 0.0))
            total = e.sum(axis=axis, keepdims=True)
            out["the maximum is taken along another axis than the sum: subtract the maximum along the axis you "
                "normalise over (axis=axis, keepdims=True)"] = e / np.where(total > 0, total, 1.0)
    with np.errstate(all="ignore"):
        e = np.exp(np.where(np.isfinite(S), S, -np.inf) - np.max(np.where(np.isfinite(S), S, 0.0), axis=axis, keepdims=True))
        norm = np.sqrt((e ** 2).sum(axis=axis, keepdims=True))
        out["divided by the norm of the exponentials: divide by their sum, so that they sum to 1"] = (
            e / np.where(norm > 0, norm, 1.0))
    bad = np.where(too_big | has_empty, np.nan, softmax(S, axis))
    if np.isnan(bad).any():
        out["NaN from overflow (or an all -inf row): subtract the maximum before np.exp, "
            "and give a row of all -inf zeros"] = bad
    return out


# --- step 4: weighted sum -------------------------------------------------------------------

@_one_thread
def aggregate(A, V) -> np.ndarray:
    """``out[..., i, :] = Σ_j A[..., i, j] V[..., j, :]``, by ``F.linear(A, Vᵀ)``."""
    A, V = _tensor(A), _tensor(V)
    if V.ndim == 2:
        return n(F.linear(A, V.T))
    batch = torch.broadcast_shapes(A.shape[:-2], V.shape[:-2])
    A = A.expand(*batch, *A.shape[-2:]).reshape(-1, *A.shape[-2:])           # (B, T_q, T_kv)
    V = V.expand(*batch, *V.shape[-2:]).reshape(-1, *V.shape[-2:])           # (B, T_kv, d_v)
    out = torch.stack([F.linear(a, v.T) for a, v in zip(A, V)])             # (B, T_q, d_v)
    return n(out.reshape(*batch, A.shape[-2], V.shape[-1]))


@lazy_mistakes
def aggregate_mistakes(A, V) -> dict:
    A, V = np.asarray(A), np.asarray(V)
    out = {
        "the weights are ignored (plain sum of the values)": aggregate(np.ones_like(A), V),
        "the weights are ignored (mean of the values)": aggregate(np.ones_like(A) / A.shape[-1], V),
    }
    if A.shape[-1] == A.shape[-2]:
        out["A is transposed: row i of A holds the weights of query i"] = aggregate(np.swapaxes(A, -1, -2), V)
    try:      # weights multiplied into the values elementwise, then summed over the wrong axis
        out["each query got its own value v_i: the weighted sum runs over the keys, out[i] = Σ_j A[i, j] v_j"] = (
            A.sum(axis=-1, keepdims=True) * V)
    except ValueError:
        pass
    if A.ndim == 3 and V.ndim == 3:   # np.dot pairs every A[a] with every V[b]
        out["np.dot mixes the batch axes (out[a, i, b] = A[a, i] @ V[b]): use A @ V, which pairs A[n] with V[n]"] = (
            np.swapaxes(aggregate(A[:, None], V[None]), 1, 2))
    return out


# --- masks ----------------------------------------------------------------------------------

def causal_mask(T: int) -> np.ndarray:
    """``(T, T)`` bool, ``True`` where query i may attend to key j (j <= i).

    From ``nn.Transformer.generate_square_subsequent_mask``, which marks allowed pairs with 0
    and forbidden ones with ``-inf``.
    """
    return n(torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64) == 0)


@lazy_mistakes
def causal_mask_mistakes(T: int) -> dict:
    mask = causal_mask(T)
    return {
        "the mask is inverted: True means 'may attend', so the past and the token itself are True": ~mask,
        "the diagonal is missing: a token may attend to itself": mask & ~np.eye(T, dtype=bool),
        "upper triangle instead of lower: query i may see keys j <= i": mask.T,
        "one step of the future is allowed (k=1): query i may see keys j <= i only": mask | np.eye(T, k=1, dtype=bool),
    }


def padding_mask(lengths, T: int) -> np.ndarray:
    """``(N, 1, T)`` bool, ``True`` for the first ``lengths[n]`` keys of sequence n."""
    lengths = torch.as_tensor(np.asarray(lengths))
    return n(torch.arange(T)[None, None, :] < lengths[:, None, None])


# --- the whole layer ------------------------------------------------------------------------

@_one_thread
def attention(Q, K, V, mask=None, scaled: bool = True, scale: float | None = None) -> tuple:
    """``(out, A)`` by ``F.scaled_dot_product_attention``; ``A`` is the same call with values = I."""
    Q, K, V = _tensor(Q), _tensor(K), _tensor(V)
    mask = _mask(mask)
    if scale is None:
        scale = 1.0 / math.sqrt(Q.shape[-1]) if scaled else 1.0
    batch = torch.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2],
                                   mask.shape[:-2] if mask is not None else ())
    T_q, T_kv = Q.shape[-2], K.shape[-2]
    Q, K, V = (x.expand(*batch, *x.shape[-2:]) for x in (Q, K, V))
    eye = torch.eye(T_kv, dtype=Q.dtype).expand(*batch, T_kv, T_kv)          # values = I gives A
    if mask is not None:
        mask = mask.expand(*batch, T_q, T_kv)
    out = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask, scale=scale)
    A = F.scaled_dot_product_attention(Q, K, eye, attn_mask=mask, scale=scale)
    if mask is not None:  # the contract: a query with no allowed key gets zeros (not NaN)
        empty = ~mask.any(dim=-1, keepdim=True)
        out, A = out.masked_fill(empty, 0.0), A.masked_fill(empty, 0.0)
    return n(out), n(A)


def self_attention(X, W_q, W_k, W_v, mask=None, scaled: bool = True, scale: float | None = None) -> tuple:
    """``(out, A)`` of one self-attention layer: ``F.linear`` projections, then ``attention``."""
    return attention(*project_qkv(X, W_q, W_k, W_v), mask=mask, scaled=scaled, scale=scale)


@lazy_mistakes
def self_attention_mistakes(X, W_q, W_k, W_v, mask=None, scaled: bool = True) -> dict:
    """``{mistake: out}`` for the usual slips (compare the layer's output, not its weights)."""
    X, W_q, W_k, W_v = (np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a) for a in (X, W_q, W_k, W_v))
    D, d_k = W_q.shape
    T = X.shape[-2]
    args = (X, W_q, W_k, W_v)
    out = {}
    if scaled:
        out["the scale is missing: divide the scores by sqrt(d_k)"] = self_attention(*args, mask, scaled=False)[0]
        out["divided by sqrt(D) (d_model) instead of sqrt(d_k): d_k is the width of Q"] = self_attention(
            *args, mask, scale=1.0 / math.sqrt(D))[0]
        out["divided by d_k instead of sqrt(d_k)"] = self_attention(*args, mask, scale=1.0 / d_k)[0]
        d_v = W_v.shape[1]
        if d_v != d_k:
            out["divided by sqrt(d_v), the width of V: the scale is sqrt(d_k), the width of Q and K"] = self_attention(
                *args, mask, scale=1.0 / math.sqrt(d_v))[0]
    else:
        out["the scores were scaled although scaled=False"] = self_attention(*args, mask, scaled=True)[0]
    # Swapping W_q and W_k turns the scores Q Kᵀ into K Qᵀ = (Q Kᵀ)ᵀ.
    out["Q and K are swapped in the scores: S = Q Kᵀ, queries along the rows"] = self_attention(
        X, W_k, W_q, W_v, mask, scaled)[0]
    if mask is not None:
        mask = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask, dtype=bool)
        out["the mask is inverted: True means 'may attend'"] = self_attention(*args, ~mask, scaled)[0]
        _, A_free = self_attention(*args, None, scaled)
        V = project_qkv(*args)[2]
        A_after = np.broadcast_to(A_free * mask, np.broadcast_shapes(A_free.shape, mask.shape))
        out["the mask was applied after the softmax: set masked scores to -inf before it"] = aggregate(A_after, V)
        out["a fully masked row gives NaN: it should give zeros"] = np.where(
            np.any(mask, axis=-1, keepdims=True), self_attention(*args, mask, scaled)[0], np.nan)
    Q, K, V = project_qkv(*args)
    S = attention_scores(Q, K, scaled)
    right, A_right = self_attention(*args, mask, scaled)
    if A_right.shape != right.shape or not np.allclose(A_right, right):
        out["out and A are swapped: return (out, A)"] = A_right
    out["V was made with W_k: the values are X @ W_v"] = self_attention(X, W_q, W_k, W_k, mask, scaled)[0]
    if scaled:
        out["the weights were divided by sqrt(d_k) after the softmax: divide the scores, before the softmax"] = (
            self_attention(*args, mask, scaled=False)[1] @ V / math.sqrt(d_k))
    if mask is not None:
        zeroed = np.where(mask, S, 0.0)                      # what S * mask gives: masked scores 0, not -inf
        out["masked scores were set to 0 (S * mask): a score of 0 still gets weight; set them to -inf before the "
            "softmax"] = aggregate(softmax(zeroed), V)
    with np.errstate(all="ignore"):   # np.exp of the raw scores: inf / inf, or 0 / 0, where they are large
        e = np.exp(S) if mask is None else np.where(mask, np.exp(S), 0.0)
        naive = aggregate(e / np.maximum(e.sum(axis=-1, keepdims=True), 1e-300), V)
    if not np.allclose(naive, right, equal_nan=False):
        out["NaN or zeros from overflow: np.exp of a large score is inf (and of a very negative one 0); subtract "
            "each row's maximum before np.exp (or reuse your softmax)"] = naive
    if mask is not None:
        empty = ~np.any(mask, axis=-1, keepdims=True)
        if empty.any():
            uniform = np.broadcast_to(V.mean(axis=-2, keepdims=True), right.shape)
            out["a query with no allowed key attends to all keys uniformly (masked with a large negative number "
                "instead of -inf): it must get zero weights and a zero output"] = np.where(empty, uniform, right)
    # Softmax down the columns (over the queries) instead of along each row.
    Q, K, V = project_qkv(*args)
    S = torch.tensor(attention_scores(Q, K, scaled))
    if mask is not None:
        S = torch.where(torch.as_tensor(mask), S, -math.inf)
    A_cols = torch.softmax(S, dim=-2).nan_to_num(0.0)
    if T > 1:
        out["the softmax runs over the queries (axis -2): each row of A must sum to 1"] = aggregate(n(A_cols), V)
    return out


@_one_thread
def torch_self_attention(X, W_q, W_k, W_v, mask=None, scaled: bool = True):
    """The layer's output as a differentiable tensor on ``X``'s device and dtype (for gradient
    and GPU checks): ``F.linear`` projections, ``F.scaled_dot_product_attention``, and zeros on
    query rows with no allowed key."""
    Q, K, V = (F.linear(X, W.T) for W in (W_q, W_k, W_v))
    scale = 1.0 / math.sqrt(Q.shape[-1]) if scaled else 1.0
    if mask is None:
        return F.scaled_dot_product_attention(Q, K, V, scale=scale)
    batch = torch.broadcast_shapes(Q.shape[:-2], mask.shape[:-2])
    Q, K, V = (x.expand(*batch, *x.shape[-2:]) for x in (Q, K, V))
    mask = mask.expand(*batch, Q.shape[-2], K.shape[-2])
    out = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask, scale=scale)
    return out.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)


def pick(mistakes: dict, i: int) -> dict:
    """Entry ``i`` of every tuple in ``{mistake: (Q, K, V)}`` (to check Q, K and V one by one)."""
    return {label: value[i] for label, value in mistakes.items()}
