"""Tests of the tests for 06-self-attention: the solution gets full marks, the stubs get none,
students' mistakes lose points and correct alternatives keep them; on a GPU, the solution's
PyTorch layer equals the built-in on CUDA."""
import math

import numpy as np
import pytest
import torch

from seqlab.oracles import attention as oracle
from tests.chapters.standard import solution_run, standard_tests
from tests.harness import Mistake, edit, run_notebook, source_notebook

A = "06-self-attention"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The notebook works on tiny tensors: one intra-op thread is faster, and on a busy machine
    much faster (no thread pool to wake up for every small kernel)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

MISTAKES = {
    "project_qkv": {
        "Q and K swapped": Mistake("""
def project_qkv(X, W_q, W_k, W_v):
    return X @ W_k, X @ W_q, X @ W_v
""", hint='Q and K are swapped'),
        "transposed weights (lecture's W^q x as X @ W_q.T)": Mistake("""
def project_qkv(X, W_q, W_k, W_v):
    return X @ W_q.T, X @ W_k.T, X @ W_v.T
""", hint='transposed'),
        "returned in the order Q, V, K": Mistake("""
def project_qkv(X, W_q, W_k, W_v):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    return Q, V, K
""", hint='wrong order'),
        "batch axes flattened and not restored": Mistake("""
def project_qkv(X, W_q, W_k, W_v):
    X2 = X.reshape(-1, X.shape[-1])
    return X2 @ W_q, X2 @ W_k, X2 @ W_v
""", hint='batch axes'),
    },
    "attention_scores": {
        "missing scale": Mistake("""
def attention_scores(Q, K, scaled=True):
    return Q @ np.swapaxes(K, -1, -2)
""", hint='scale is missing'),
        "divided by d_k instead of sqrt(d_k)": Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ np.swapaxes(K, -1, -2)
    return S / Q.shape[-1] if scaled else S
""", hint='divided by d_k'),
        "Q and K swapped (K Q^T)": Mistake("""
def attention_scores(Q, K, scaled=True):
    S = K @ np.swapaxes(Q, -1, -2)
    return S / np.sqrt(Q.shape[-1]) if scaled else S
""", hint='Q and K are swapped'),
        "divided by sqrt(T) (wrong axis for d_k)": Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ np.swapaxes(K, -1, -2)
    return S / np.sqrt(Q.shape[-2]) if scaled else S
""", hint='sqrt(T)'),
        "K.T reverses the batch axes too": Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ K.T
    return S / np.sqrt(Q.shape[-1]) if scaled else S
""", hint='.T was used on a batch'),
        "scaled flag ignored (always scaled)": Mistake("""
def attention_scores(Q, K, scaled=True):
    return Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
""", hint='scaled=False'),
    },
    "softmax": {
        "overflow: no maximum subtracted": Mistake("""
def softmax(S, axis=-1):
    e = np.exp(S)
    return e / e.sum(axis=axis, keepdims=True)
""", hint='overflow'),
        "wrong axis (hard-coded to the last one)": Mistake("""
def softmax(S, axis=-1):
    S = np.asarray(S)
    m = np.max(S, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(S - m)
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1.0)
""", hint='wrong axis'),
        "normalised over the whole array": Mistake("""
def softmax(S, axis=-1):
    S = np.asarray(S)
    e = np.exp(S - np.max(S[np.isfinite(S)], initial=0.0))
    return e / max(e.sum(), 1e-300)
""", hint='whole array'),
        "NaN on a row of only -inf (maximum not guarded)": Mistake("""
def softmax(S, axis=-1):
    e = np.exp(S - np.max(S, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
""", hint='all -inf'),
        "keepdims forgotten": Mistake("""
def softmax(S, axis=-1):
    S = np.asarray(S)
    m = np.max(S, axis=axis)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(S - m)
    total = e.sum(axis=axis)
    return e / np.where(total > 0, total, 1.0)
""", hint='keepdims'),
    },
    "aggregate": {
        "A transposed": Mistake("""
def aggregate(A, V):
    return np.swapaxes(A, -1, -2) @ V
""", hint='transposed'),
        "np.dot mixes the batch axes": Mistake("""
def aggregate(A, V):
    return np.dot(A, V)
""", hint='batch axes'),
        "weights ignored (sum of the values)": Mistake("""
def aggregate(A, V):
    return np.ones_like(A) @ V
""", hint='weights are ignored'),
        "elementwise weights on the wrong axis": Mistake("""
def aggregate(A, V):
    return (A[..., :, :, None] * V[..., :, None, :]).sum(axis=-2)
""", hint='its own value'),
    },
    "causal_mask": {
        "inverted (True = may not attend)": Mistake("""
def causal_mask(T):
    return np.triu(np.ones((T, T), dtype=bool), k=1)
""", hint='inverted'),
        "diagonal missing": Mistake("""
def causal_mask(T):
    return np.tril(np.ones((T, T), dtype=bool), k=-1)
""", hint='diagonal is missing'),
        "upper triangle": Mistake("""
def causal_mask(T):
    return np.triu(np.ones((T, T), dtype=bool))
""", hint='upper triangle'),
        "float mask": Mistake("""
def causal_mask(T):
    return np.tril(np.ones((T, T)))
""", hint='bool'),
    },
    "self_attention": {
        "mask applied after the softmax": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    A = softmax(attention_scores(Q, K, scaled))
    if mask is not None:
        A = A * mask
    return A @ V, A
""", hint='after the softmax'),
        "mask inverted": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled)
    if mask is not None:
        S = np.where(mask, -np.inf, S)
    A = softmax(S)
    return A @ V, A
""", hint='inverted'),
        "scaled by sqrt(d_model)": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = Q @ np.swapaxes(K, -1, -2)
    if scaled:
        S = S / np.sqrt(X.shape[-1])
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    A = softmax(S)
    return A @ V, A
""", hint='sqrt(D)'),
        "missing scale": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled=False)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    A = softmax(S)
    return A @ V, A
""", hint='scale is missing'),
        "Q and K swapped in the scores": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(K, Q, scaled)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    A = softmax(S)
    return A @ V, A
""", hint='Q and K are swapped'),
        "softmax over the wrong axis": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    A = softmax(S, axis=-2)
    return A @ V, A
""", hint='softmax runs over the queries'),
        "overflow on large scores (own softmax without the maximum)": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled)
    e = np.exp(S)
    if mask is not None:
        e = np.where(mask, e, 0.0)
    A = e / np.maximum(e.sum(axis=-1, keepdims=True), 1e-300)
    return A @ V, A
""", hint='overflow'),
        "masked with -1e9 (a fully masked row attends uniformly)": Mistake("""
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled)
    if mask is not None:
        S = np.where(mask, S, -1e9)
    A = softmax(S)
    return A @ V, A
""", hint='no allowed key'),
    },
    "self_attention_torch": {
        "created on the default device (torch.full)": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = torch.where(mask, S, torch.full(S.shape, float("-inf"), dtype=S.dtype))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
""", hint='device'),
        "NaN on a fully masked row (torch.softmax as is)": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1)
    return A @ V, A
""", hint='fully masked row'),
        "mask applied after the softmax": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    A = torch.softmax(S, dim=-1)
    if mask is not None:
        A = A * mask
    return A @ V, A
""", hint='after the softmax'),
        "scaled by sqrt(d_model)": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(X.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
""", hint='sqrt(D)'),
        "mask inverted": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(mask, float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
""", hint='inverted'),
        "computes in float64 whatever the input": Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    X, W_q, W_k, W_v = X.double(), W_q.double(), W_k.double(), W_v.double()
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
""", hint='dtype'),
    },
}

# Not the student's own work: the first line of every test cell of the function says so.
MISTAKES["self_attention_torch"]["calls the built-in scaled_dot_product_attention"] = Mistake("""
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    A = torch.softmax(S if mask is None else S.masked_fill(~mask, float("-inf")), dim=-1).nan_to_num(0.0)
    out = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask, scale=None if scaled else 1.0)
    return out.nan_to_num(0.0), A
""", hint="re-implements")
MISTAKES["softmax"]["calls the course's reference answer"] = Mistake("""
def softmax(S, axis=-1):
    return oracle.softmax(S, axis)
""", hint="reference")

# Correct sources that the mistakes below change a line or two of.
_SELF_ATTENTION = """
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = project_qkv(X, W_q, W_k, W_v)
    S = attention_scores(Q, K, scaled)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    A = softmax(S)
    return A @ V, A
"""
_SELF_ATTENTION_TORCH = """
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return A @ V, A
"""
_SOFTMAX = """
def softmax(S, axis=-1):
    S = np.asarray(S)
    m = np.max(S, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(S - m)
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1.0)
"""

# Issue 19, held-out batch A: mistakes written before the messages that name them were tuned
MISTAKES["attention_scores"].update({
    'K.transpose(0, 2, 1): only works for 3 axes': Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ K.transpose(0, 2, 1)
    return S / np.sqrt(Q.shape[-1]) if scaled else S
""", hint='swapaxes'),
    'divided by sqrt(T_kv)': Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ np.swapaxes(K, -1, -2)
    return S / np.sqrt(K.shape[-2]) if scaled else S
""", hint='sqrt(T'),
})
MISTAKES["softmax"].update({
    'the maximum of the whole array subtracted': Mistake(edit(_SOFTMAX,
        """    m = np.max(S, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(S - m)""", """    finite = S[np.isfinite(S)]
    e = np.exp(S - (finite.max() if finite.size else 0.0))"""), hint='each'),
    'maximum over the last axis, sum over the given axis': Mistake(edit(_SOFTMAX,
        '    m = np.max(S, axis=axis, keepdims=True)', '    m = np.max(S, axis=-1, keepdims=True)'), hint='maximum'),
})
MISTAKES["aggregate"].update({
    'V @ A': Mistake("""
def aggregate(A, V):
    return V @ A
""", hint='A @ V'),
})
MISTAKES["self_attention"].update({
    'masked scores multiplied by the mask (set to 0, not -inf)': Mistake(edit(_SELF_ATTENTION,
        '        S = np.where(mask, S, -np.inf)', '        S = S * mask'), hint='-inf'),
    'softmax over axis 0': Mistake(edit(_SELF_ATTENTION,
        '    A = softmax(S)', '    A = softmax(S, axis=0)'), hint='axis'),
    'returns (A, out)': Mistake(edit(_SELF_ATTENTION,
        '    return A @ V, A', '    return A, A @ V'), hint='swapped'),
})
MISTAKES["self_attention_torch"].update({
    'scale made with torch.tensor (default device)': Mistake(edit(_SELF_ATTENTION_TORCH,
        '    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)', """    S = Q @ K.transpose(-2, -1)
    if scaled:
        S = S / torch.sqrt(torch.tensor(Q.shape[-1], dtype=S.dtype))"""), hint='device'),
    'K.T on a batch': Mistake(edit(_SELF_ATTENTION_TORCH,
        '    S = Q @ K.transpose(-2, -1) / (math.sqrt(Q.shape[-1]) if scaled else 1.0)', '    S = Q @ K.T / (math.sqrt(Q.shape[-1]) if scaled else 1.0)'), hint='.T'),
    'zeros for empty rows made with torch.zeros(A.shape)': Mistake(edit(_SELF_ATTENTION_TORCH,
        '    A = torch.softmax(S, dim=-1).nan_to_num(0.0)', """    A = torch.softmax(S, dim=-1)
    if mask is not None:
        A = torch.where(mask.any(-1, keepdim=True), A, torch.zeros(A.shape))"""), hint='device'),
    'softmax over dim 1': Mistake(edit(_SELF_ATTENTION_TORCH,
        '    A = torch.softmax(S, dim=-1).nan_to_num(0.0)', '    A = torch.softmax(S, dim=1).nan_to_num(0.0)'), hint='queries'),
})

# Issue 19, held-out batch B: mistakes written before the messages that name them were tuned
MISTAKES["project_qkv"].update({
    'returns a list': Mistake("""
def project_qkv(X, W_q, W_k, W_v):
    return [X @ W_q, X @ W_k, X @ W_v]
""", caught_by=('test_project_qkv_visible',), hint='tuple'),
})
MISTAKES["attention_scores"].update({
    'einsum with the output indices swapped': Mistake("""
def attention_scores(Q, K, scaled=True):
    S = np.einsum("...id,...jd->...ji", Q, K)
    return S / np.sqrt(Q.shape[-1]) if scaled else S
""", hint='Q and K are swapped'),
})
MISTAKES["softmax"].update({
    'an all -inf maximum replaced by nan_to_num': Mistake(edit(_SOFTMAX,
        """    m = np.max(S, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)""", '    m = np.nan_to_num(np.max(S, axis=axis, keepdims=True))',
        """    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1.0)""", '    return e / e.sum(axis=axis, keepdims=True)'), hint='all -inf'),
})
MISTAKES["aggregate"].update({
    'A.T @ V': Mistake("""
def aggregate(A, V):
    return A.T @ V
""", hint='transposed'),
})
MISTAKES["causal_mask"].update({
    'integer mask': Mistake("""
def causal_mask(T):
    return np.tril(np.ones((T, T), dtype=int))
""", hint='bool'),
})
MISTAKES["self_attention"].update({
    'divided by sqrt(d_v)': Mistake(edit(_SELF_ATTENTION,
        '    S = attention_scores(Q, K, scaled)', """    S = attention_scores(Q, K, scaled=False)
    if scaled:
        S = S / np.sqrt(V.shape[-1])"""), hint='d_k'),
})
MISTAKES["self_attention_torch"].update({
    '-inf as a torch.tensor on the default device': Mistake(edit(_SELF_ATTENTION_TORCH,
        '        S = S.masked_fill(~mask, float("-inf"))', '        S = torch.where(mask, S, torch.tensor(float("-inf")))'), hint='device'),
    'masked scores filled with 0': Mistake(edit(_SELF_ATTENTION_TORCH,
        """        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)""", """        S = S.masked_fill(~mask, 0.0)
    A = torch.softmax(S, dim=-1)"""), hint='-inf'),
})

# Issue 19, held-out batch C: mistakes written before the messages that name them were tuned
MISTAKES["project_qkv"].update({
    'K made with W_q': Mistake("""
def project_qkv(X, W_q, W_k, W_v):
    return X @ W_q, X @ W_q, X @ W_v
""", hint='W_k'),
})
MISTAKES["attention_scores"].update({
    'divided by sqrt(Q.shape[0])': Mistake("""
def attention_scores(Q, K, scaled=True):
    S = Q @ np.swapaxes(K, -1, -2)
    return S / np.sqrt(Q.shape[0]) if scaled else S
""", hint='d_k'),
})
MISTAKES["softmax"].update({
    'divided by the norm instead of the sum': Mistake(edit(_SOFTMAX,
        '    total = e.sum(axis=axis, keepdims=True)', '    total = np.linalg.norm(e, axis=axis, keepdims=True)'), hint='sum'),
})
MISTAKES["aggregate"].update({
    'A @ V.T': Mistake("""
def aggregate(A, V):
    return A @ np.swapaxes(V, -1, -2)
""", hint='A @ V'),
})
MISTAKES["causal_mask"].update({
    'one step of the future allowed (k=1)': Mistake("""
def causal_mask(T):
    return np.tril(np.ones((T, T), dtype=bool), k=1)
""", hint='j <= i'),
})
MISTAKES["self_attention"].update({
    'the weights divided by sqrt(d_k) after the softmax': Mistake(edit(_SELF_ATTENTION,
        '    S = attention_scores(Q, K, scaled)', '    S = attention_scores(Q, K, scaled=False)',
        '    A = softmax(S)', """    A = softmax(S)
    if scaled:
        A = A / np.sqrt(Q.shape[-1])"""), hint='before the softmax'),
})
MISTAKES["self_attention_torch"].update({
    'V made with W_k': Mistake(edit(_SELF_ATTENTION_TORCH,
        '    Q, K, V = X @ W_q, X @ W_k, X @ W_v', '    Q, K, V = X @ W_q, X @ W_k, X @ W_k'), hint='W_v'),
    'the mask remade with torch.tensor (default device)': Mistake(edit(_SELF_ATTENTION_TORCH,
        '        S = S.masked_fill(~mask, float("-inf"))', '        S = S.masked_fill(~torch.tensor(mask.tolist()), float("-inf"))'), hint='device'),
})

ALTERNATIVES = {
    "project_qkv": """
def project_qkv(X, W_q, W_k, W_v):
    return tuple(np.einsum("...td,dk->...tk", X, W) for W in (W_q, W_k, W_v))
""",
    "attention_scores": """
def attention_scores(Q, K, scaled=True):
    S = np.einsum("...id,...jd->...ij", Q, K)
    return S * (1.0 / math.sqrt(Q.shape[-1])) if scaled else S
""",
    "softmax": """
def softmax(S, axis=-1):
    S = np.moveaxis(np.asarray(S), axis, -1)
    out = np.zeros_like(S)
    for idx in np.ndindex(S.shape[:-1]):          # one slice at a time
        row = S[idx]
        if np.all(np.isneginf(row)):
            continue
        e = np.exp(row - row.max())
        out[idx] = e / e.sum()
    return np.moveaxis(out, -1, axis)
""",
    "aggregate": """
def aggregate(A, V):
    return np.einsum("...ij,...jd->...id", A, V)
""",
    "causal_mask": """
def causal_mask(T):
    return np.arange(T)[:, None] >= np.arange(T)[None, :]
""",
    "self_attention": """
def self_attention(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q, K, V = X @ W_q, X @ W_k, X @ W_v
    S = np.einsum("...id,...jd->...ij", Q, K) / (np.sqrt(Q.shape[-1]) if scaled else 1.0)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
        S = np.broadcast_to(S, np.broadcast_shapes(S.shape, np.shape(mask)))
    m = np.max(S, axis=-1, keepdims=True)
    e = np.exp(S - np.where(np.isinf(m), 0.0, m))
    Z = e.sum(axis=-1, keepdims=True)
    A = np.divide(e, Z, out=np.zeros_like(e), where=Z > 0)
    return np.einsum("...ij,...jd->...id", A, V), A
""",
    "self_attention_torch": """
def self_attention_torch(X, W_q, W_k, W_v, mask=None, scaled=True):
    Q = torch.einsum("...td,dk->...tk", X, W_q)
    K = torch.einsum("...td,dk->...tk", X, W_k)
    V = torch.einsum("...td,dv->...tv", X, W_v)
    S = torch.einsum("...id,...jd->...ij", Q, K)
    if scaled:
        S = S * Q.shape[-1] ** -0.5
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    A = torch.softmax(S, dim=-1).nan_to_num(0.0)
    return torch.einsum("...ij,...jd->...id", A, V), A
""",
}


CONTRACT = ["project_qkv", "attention_scores", "softmax", "aggregate", "causal_mask", "self_attention",
            "self_attention_torch"]
globals().update(standard_tests(A, CONTRACT, MISTAKES, ALTERNATIVES))


def test_solution_reproduces_the_lecture_poll():
    assert "the two outputs are equal: True" in solution_run(A).stdout


def test_float32_inputs_keep_full_marks_in_numpy():
    """The NumPy layer works in the dtype it is given: float32 in, close to the oracle."""
    ns = run_notebook(source_notebook(A), hidden=False).namespace
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 5, 6)).astype(np.float32)
    W = [rng.normal(size=(6, d)).astype(np.float32) for d in (3, 3, 4)]
    out, A_ = ns["self_attention"](X, *W, mask=oracle.causal_mask(5))
    ref_out, ref_A = oracle.self_attention(X, *W, mask=oracle.causal_mask(5))
    np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(A_, ref_A, rtol=1e-4, atol=1e-5)


def test_lecture_numbers():
    """The lecture's weighted sum s = [0.7, 1.6], by the oracle and by the solution."""
    np.testing.assert_allclose(oracle.aggregate(oracle.LECTURE_WEIGHTS[None], oracle.LECTURE_VALUES),
                               oracle.LECTURE_SUM[None], rtol=0, atol=1e-15)
    ns = run_notebook(source_notebook(A), hidden=False).namespace
    np.testing.assert_allclose(ns["aggregate"](oracle.LECTURE_WEIGHTS[None], oracle.LECTURE_VALUES),
                               [[0.7, 1.6]], rtol=0, atol=1e-15)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-6), (torch.float32, 1e-4)])
def test_self_attention_torch_on_cuda_equals_the_builtin(dtype, tol):
    fn = run_notebook(source_notebook(A), hidden=False).namespace["self_attention_torch"]
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    N, T, D, d_k, d_v = 4, 33, 24, 8, 16
    X = torch.randn(N, T, D, generator=g, device=dev, dtype=dtype)
    W = [torch.randn(D, d, generator=g, device=dev, dtype=dtype) / math.sqrt(D) for d in (d_k, d_k, d_v)]
    lengths = torch.tensor([T, 20, 1, 0], device=dev)
    pad = torch.arange(T, device=dev)[None, None, :] < lengths[:, None, None]         # (N, 1, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=dev).tril()
    for mask in (None, causal, pad, causal & pad):
        out, A_ = fn(X, *W, mask=mask)
        assert out.device == X.device and out.dtype == dtype and A_.device == X.device
        ref = oracle.torch_self_attention(X, *W, mask=mask)
        torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
        assert torch.isfinite(out).all()


@pytest.mark.gpu
def test_self_attention_torch_gradients_on_cuda():
    fn = run_notebook(source_notebook(A), hidden=False).namespace["self_attention_torch"]
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(1)
    X = torch.randn(3, 9, 10, generator=g, device=dev, dtype=torch.float64)
    W = [torch.randn(10, d, generator=g, device=dev, dtype=torch.float64) for d in (4, 4, 5)]
    mask = torch.ones(9, 9, dtype=torch.bool, device=dev).tril()
    mine = [p.clone().requires_grad_() for p in (X, *W)]
    ref = [p.clone().requires_grad_() for p in (X, *W)]
    fn(*mine, mask=mask)[0].square().sum().backward()
    oracle.torch_self_attention(*ref, mask=mask).square().sum().backward()
    for a, b in zip(mine, ref):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-8)
