"""Tests of the tests for 08-transformer: the solution gets full marks, the stubs get none,
students' mistakes lose points and correct alternatives keep them; on a GPU, the solution's
modules equal the built-ins on CUDA.

The solution, stub, mistake and alternative tests are the shared ones (``tests/chapters/standard.py``).
A mistake in one function only needs that function's test cells, so with ``cut=True`` each mistake
(and alternative) runs a copy of the source notebook cut down to the setup, the solution cells up to
that function and that function's test cells (``tests.harness.cut_notebook``): the same check,
several times faster than running the whole notebook each time.
"""
from __future__ import annotations

import pytest
import torch

from tests.harness import Mistake, edit, graded_ids, run_notebook, source_notebook
from tests.harness import tests_of as _tests_of  # (renamed so that pytest does not collect it)
from tests.chapters.standard import notebook_for, solution_run, standard_tests

A = "08-transformer"
FUNCTIONS = ["layer_norm", "multi_head_attention", "feed_forward", "encoder_block",
             "MultiHeadAttention", "EncoderBlock", "DecoderBlock"]
CUT = True  # mistakes and alternatives run on notebooks cut down to their function


# ----------------------------------------------------------------------------- NumPy

LAYER_NORM = '''
def layer_norm(X, gamma, beta, eps=1e-5):
    mu = X.mean(axis=-1, keepdims=True)
    var = ((X - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (X - mu) / np.sqrt(var + eps) + beta
'''

MHA = '''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d_k = D // n_heads
    def split(Z):
        return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)
    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    top = S.max(axis=-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(top), top, 0.0))
    total = E.sum(axis=-1, keepdims=True)
    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0)
    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))
    return concat @ W_o, A
'''

ENCODER = '''
def encoder_block(X, params, n_heads, mask=None):
    p = params
    attended, _ = multi_head_attention(X, X, p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, mask)
    H = layer_norm(X + attended, p["ln1_gamma"], p["ln1_beta"])
    return layer_norm(H + feed_forward(H, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln2_gamma"], p["ln2_beta"])
'''

# ----------------------------------------------------------------------------- PyTorch

MHA_TORCH = '''
class MultiHeadAttention(torch.nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.W_q, self.W_k, self.W_v, self.W_o = (
            torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(d_model, d_model))) for _ in range(4))

    def forward(self, X_q, X_kv, mask=None):
        N, T_q, D = X_q.shape
        T_kv, h = X_kv.shape[1], self.n_heads
        d_k = D // h
        Q = (X_q @ self.W_q).view(N, T_q, h, d_k).transpose(1, 2)
        K = (X_kv @ self.W_k).view(N, T_kv, h, d_k).transpose(1, 2)
        V = (X_kv @ self.W_v).view(N, T_kv, h, d_k).transpose(1, 2)
        S = Q @ K.transpose(-2, -1) / math.sqrt(d_k)
        if mask is not None:
            S = S.masked_fill(~mask, float("-inf"))
        A = torch.softmax(S, dim=-1).nan_to_num(0.0)
        heads = (A @ V).transpose(1, 2).reshape(N, T_q, D)
        return heads @ self.W_o, A
'''

ENCODER_TORCH = '''
class EncoderBlock(torch.nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = torch.nn.LayerNorm(d_model)
        self.ln2 = torch.nn.LayerNorm(d_model)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.ReLU(), torch.nn.Linear(d_ff, d_model))

    def forward(self, X, mask=None):
        H = self.ln1(X + self.attn(X, X, mask)[0])
        return self.ln2(H + self.ff(H))
'''

DECODER_TORCH = '''
class DecoderBlock(torch.nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads)
        self.cross_attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = torch.nn.LayerNorm(d_model)
        self.ln2 = torch.nn.LayerNorm(d_model)
        self.ln3 = torch.nn.LayerNorm(d_model)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.ReLU(), torch.nn.Linear(d_ff, d_model))

    def forward(self, Y, memory, tgt_mask=None, memory_mask=None):
        H = self.ln1(Y + self.self_attn(Y, Y, tgt_mask)[0])
        H = self.ln2(H + self.cross_attn(H, memory, memory_mask)[0])
        return self.ln3(H + self.ff(H))
'''


MISTAKES = {
    "layer_norm": {
        "unbiased variance (ddof=1)": Mistake(edit(LAYER_NORM, "var = ((X - mu) ** 2).mean(axis=-1, keepdims=True)",
                                           "var = X.var(axis=-1, ddof=1, keepdims=True)"), hint='unbiased variance'),
        "eps outside the square root": Mistake(edit(LAYER_NORM, "np.sqrt(var + eps)", "(np.sqrt(var) + eps)"), hint='outside the square root'),
        "normalised over the batch axis": Mistake(edit(LAYER_NORM, "axis=-1", "axis=0"), hint='normalised over'),
        "gamma and beta swapped": Mistake(edit(LAYER_NORM, "return gamma * (X - mu) / np.sqrt(var + eps) + beta",
                                       "return beta * (X - mu) / np.sqrt(var + eps) + gamma"), hint='gamma and beta are swapped'),
    },
    "multi_head_attention": {
        "heads split along the wrong axis (reshape straight to (..., n_heads, T, d_k))": Mistake(edit(
            MHA, "return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)",
            "return Z.reshape(Z.shape[:-2] + (n_heads, Z.shape[-2], d_k))",
            "concat = np.swapaxes(A @ V, -2, -3)\n    concat = concat.reshape(concat.shape[:-2] + (D,))",
            "concat = (A @ V).reshape(X_q.shape)"), hint='plain reshape'),
        "heads take strided feature columns": Mistake(edit(
            MHA, "return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)",
            "return np.moveaxis(Z.reshape(Z.shape[:-1] + (d_k, n_heads)), -1, -3)",
            "concat = np.swapaxes(A @ V, -2, -3)\n    concat = concat.reshape(concat.shape[:-2] + (D,))",
            "concat = np.moveaxis(A @ V, -3, -1)\n    concat = concat.reshape(concat.shape[:-2] + (D,))"), hint='feature columns [h*d_k, (h+1)*d_k)'),
        "missing output projection": Mistake(edit(MHA, "return concat @ W_o, A", "return concat, A"), hint='W_o is missing'),
        "scaled by sqrt(D)": Mistake(edit(MHA, "/ np.sqrt(d_k)", "/ np.sqrt(D)"), hint='sqrt(D) instead of sqrt(d_k)'),
        "mask inverted": Mistake(edit(MHA, "np.where(mask, S, -np.inf)", "np.where(mask, -np.inf, S)"), hint='inverted'),
    },
    "feed_forward": {
        "ReLU missing": Mistake("def feed_forward(X, W_1, b_1, W_2, b_2):\n    return (X @ W_1 + b_1) @ W_2 + b_2\n", hint='ReLU is missing'),
        "ReLU on the output too": Mistake("def feed_forward(X, W_1, b_1, W_2, b_2):\n"
                                  "    return np.maximum(np.maximum(X @ W_1 + b_1, 0) @ W_2 + b_2, 0)\n", hint='output too'),
        "b_1 added after the ReLU": Mistake("def feed_forward(X, W_1, b_1, W_2, b_2):\n"
                                    "    return (np.maximum(X @ W_1, 0) + b_1) @ W_2 + b_2\n", hint='after the ReLU'),
        "sigmoid instead of ReLU": Mistake("def feed_forward(X, W_1, b_1, W_2, b_2):\n"
                                   "    return 1 / (1 + np.exp(-(X @ W_1 + b_1))) @ W_2 + b_2\n", hint='sigmoid'),
    },
    "encoder_block": {
        "residual added after the norm": Mistake(edit(
            ENCODER, 'H = layer_norm(X + attended, p["ln1_gamma"], p["ln1_beta"])',
            'H = X + layer_norm(attended, p["ln1_gamma"], p["ln1_beta"])',
            'return layer_norm(H + feed_forward(H, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln2_gamma"], p["ln2_beta"])',
            'return H + layer_norm(feed_forward(H, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln2_gamma"], p["ln2_beta"])'), hint='after the norm'),
        "pre-norm": Mistake('''
def encoder_block(X, params, n_heads, mask=None):
    p = params
    Z = layer_norm(X, p["ln1_gamma"], p["ln1_beta"])
    X = X + multi_head_attention(Z, Z, p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, mask)[0]
    Z = layer_norm(X, p["ln2_gamma"], p["ln2_beta"])
    return X + feed_forward(Z, p["W_1"], p["b_1"], p["W_2"], p["b_2"])
''', hint='pre-norm'),
        "second residual adds the block's input X": Mistake(edit(ENCODER, "return layer_norm(H + feed_forward", "return layer_norm(X + feed_forward"), hint='second residual'),
        "mask not passed on": Mistake(edit(ENCODER, "n_heads, mask)", "n_heads)"), hint='mask is ignored'),
    },
    "MultiHeadAttention": {
        "heads split along the wrong axis (view without transpose)": Mistake(edit(
            MHA_TORCH, ".view(N, T_q, h, d_k).transpose(1, 2)", ".view(N, h, T_q, d_k)",
            ".view(N, T_kv, h, d_k).transpose(1, 2)", ".view(N, h, T_kv, d_k)",
            "(A @ V).transpose(1, 2).reshape(N, T_q, D)", "(A @ V).reshape(N, T_q, D)"), hint='plain reshape'),
        "missing output projection": Mistake(edit(MHA_TORCH, "return heads @ self.W_o, A", "return heads, A"), hint='W_o is missing'),
        "scaled by sqrt(D)": Mistake(edit(MHA_TORCH, "/ math.sqrt(d_k)", "/ math.sqrt(D)"), hint='sqrt(D) instead of sqrt(d_k)'),
        "mask inverted": Mistake(edit(MHA_TORCH, "masked_fill(~mask,", "masked_fill(mask,"), hint='inverted'),
        "scale created on the default device": Mistake(edit(MHA_TORCH, "/ math.sqrt(d_k)", "/ torch.tensor(float(d_k)).sqrt()"), hint='device'),
    },
    "EncoderBlock": {
        "pre-norm": Mistake(edit(ENCODER_TORCH, "H = self.ln1(X + self.attn(X, X, mask)[0])\n        return self.ln2(H + self.ff(H))",
                         "Z = self.ln1(X)\n        H = X + self.attn(Z, Z, mask)[0]\n        return H + self.ff(self.ln2(H))"), hint='pre-norm'),
        "residual added after the norm": Mistake(edit(ENCODER_TORCH, "H = self.ln1(X + self.attn(X, X, mask)[0])\n        return self.ln2(H + self.ff(H))",
                                              "H = X + self.ln1(self.attn(X, X, mask)[0])\n        return H + self.ln2(self.ff(H))"), hint='after the norm'),
        "mask not passed on": Mistake(edit(ENCODER_TORCH, "self.attn(X, X, mask)", "self.attn(X, X)"), hint='mask is ignored'),
        "no residual around the feed-forward": Mistake(edit(ENCODER_TORCH, "return self.ln2(H + self.ff(H))", "return self.ln2(self.ff(H))"), hint='no residual around the feed-forward'),
    },
    "DecoderBlock": {
        "causal mask missing in the self-attention": Mistake(edit(DECODER_TORCH, "self.self_attn(Y, Y, tgt_mask)", "self.self_attn(Y, Y)"), hint='causal mask is missing'),
        "cross-attention reads the decoder's own states instead of the memory": Mistake(edit(
            DECODER_TORCH, "self.cross_attn(H, memory, memory_mask)", "self.cross_attn(H, H)"), hint='own states'),
        "pre-norm": Mistake(edit(DECODER_TORCH,
                         "H = self.ln1(Y + self.self_attn(Y, Y, tgt_mask)[0])\n"
                         "        H = self.ln2(H + self.cross_attn(H, memory, memory_mask)[0])\n"
                         "        return self.ln3(H + self.ff(H))",
                         "Z = self.ln1(Y)\n        H = Y + self.self_attn(Z, Z, tgt_mask)[0]\n"
                         "        H = H + self.cross_attn(self.ln2(H), memory, memory_mask)[0]\n"
                         "        return H + self.ff(self.ln3(H))"), hint='pre-norm'),
        "residual added after the norm": Mistake(edit(DECODER_TORCH, "H = self.ln1(Y + self.self_attn(Y, Y, tgt_mask)[0])",
                                              "H = Y + self.ln1(self.self_attn(Y, Y, tgt_mask)[0])"), hint='after the norm'),
        "memory_mask ignored": Mistake(edit(DECODER_TORCH, "self.cross_attn(H, memory, memory_mask)", "self.cross_attn(H, memory)"), hint='memory_mask is ignored'),
    },
}

# Not the student's own work: the first line of every test cell of the function says so.
MISTAKES["layer_norm"]["calls the built-in F.layer_norm"] = Mistake("""
def layer_norm(X, gamma, beta, eps=1e-5):
    t = torch.as_tensor
    return torch.nn.functional.layer_norm(t(X), X.shape[-1:], t(gamma), t(beta), eps).numpy()
""", hint="re-implements")
MISTAKES["layer_norm"]["calls the course's reference answer"] = Mistake("""
def layer_norm(X, gamma, beta, eps=1e-5):
    return oracle.layer_norm(X, gamma, beta, eps)
""", hint="reference")

# Issue 19, held-out batch A: mistakes written before the messages that name them were tuned
MISTAKES["layer_norm"].update({
    'divided by the variance, not the standard deviation': Mistake(edit(LAYER_NORM,
        '    return gamma * (X - mu) / np.sqrt(var + eps) + beta', '    return gamma * (X - mu) / (var + eps) + beta'), hint='square root'),
    'mean and variance over the whole array': Mistake("""
def layer_norm(X, gamma, beta, eps=1e-5):
    return gamma * (X - X.mean()) / np.sqrt(X.var() + eps) + beta
""", hint='last axis'),
})
MISTAKES["multi_head_attention"].update({
    'head axis not moved before T': Mistake(edit(MHA,
        '        return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)', '        return Z.reshape(Z.shape[:-1] + (n_heads, d_k))',
        """    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))""", '    concat = (A @ V).reshape(X_q.shape[:-1] + (D,))'), hint='head axis'),
    'heads merged by a plain reshape (split right)': Mistake(edit(MHA,
        """    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))""", '    concat = (A @ V).reshape(X_q.shape[:-1] + (D,))'), hint='merge'),
    'attention weights averaged over the heads': Mistake(edit(MHA,
        '    return concat @ W_o, A', '    return concat @ W_o, A.mean(axis=-3)'), hint='average'),
    'n_heads and d_k swapped': Mistake(edit(MHA,
        '    d_k = D // n_heads', """    d_k = n_heads
    h = D // n_heads""",
        '        return np.swapaxes(Z.reshape(Z.shape[:-1] + (n_heads, d_k)), -2, -3)', '        return np.swapaxes(Z.reshape(Z.shape[:-1] + (h, d_k)), -2, -3)'), hint='n_heads'),
})
MISTAKES["feed_forward"].update({
    'W_1 and W_2 swapped': Mistake("""def feed_forward(X, W_1, b_1, W_2, b_2):
    return np.maximum(X @ W_2 + b_1, 0) @ W_1 + b_2
""", hint='swapped'),
})
MISTAKES["encoder_block"].update({
    "ln1's parameters used for both norms": Mistake(edit(ENCODER,
        '    return layer_norm(H + feed_forward(H, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln2_gamma"], p["ln2_beta"])', '    return layer_norm(H + feed_forward(H, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln1_gamma"], p["ln1_beta"])'), hint='ln2'),
})
MISTAKES["MultiHeadAttention"].update({
    'view after transpose (not contiguous)': Mistake(edit(MHA_TORCH,
        '        heads = (A @ V).transpose(1, 2).reshape(N, T_q, D)', '        heads = (A @ V).transpose(1, 2).view(N, T_q, D)'), hint='reshape'),
    'attention weights averaged over the heads': Mistake(edit(MHA_TORCH,
        '        return heads @ self.W_o, A', '        return heads @ self.W_o, A.mean(dim=1)'), hint='average'),
    'masked with -1e9 (a fully masked row attends uniformly)': Mistake(edit(MHA_TORCH,
        """            S = S.masked_fill(~mask, float("-inf"))
        A = torch.softmax(S, dim=-1).nan_to_num(0.0)""", """            S = S.masked_fill(~mask, -1e9)
        A = torch.softmax(S, dim=-1)"""), caught_by=('test_MultiHeadAttention_hidden',), hint='no allowed key'),
})
MISTAKES["EncoderBlock"].update({
    "attention's (out, A) added as it is": Mistake(edit(ENCODER_TORCH,
        '        H = self.ln1(X + self.attn(X, X, mask)[0])', '        H = self.ln1(X + self.attn(X, X, mask))'), hint='(out, A)'),
})
MISTAKES["DecoderBlock"].update({
    'cross-attention with the memory as queries': Mistake(edit(DECODER_TORCH,
        '        H = self.ln2(H + self.cross_attn(H, memory, memory_mask)[0])', '        H = self.ln2(H + self.cross_attn(memory, H, memory_mask)[0])'), hint='queries'),
    'masks swapped between self- and cross-attention': Mistake(edit(DECODER_TORCH,
        """        H = self.ln1(Y + self.self_attn(Y, Y, tgt_mask)[0])
        H = self.ln2(H + self.cross_attn(H, memory, memory_mask)[0])""", """        H = self.ln1(Y + self.self_attn(Y, Y, memory_mask)[0])
        H = self.ln2(H + self.cross_attn(H, memory, tgt_mask)[0])"""), hint='swapped'),
})

# Issue 19, held-out batch B: mistakes written before the messages that name them were tuned
MISTAKES["layer_norm"].update({
    'beta left out': Mistake(edit(LAYER_NORM,
        """    var = ((X - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (X - mu) / np.sqrt(var + eps) + beta""", '    return gamma * (X - mu) / np.sqrt(X.var(axis=-1, keepdims=True) + eps)'), hint='beta'),
})
MISTAKES["multi_head_attention"].update({
    'mask applied after the softmax': Mistake(edit(MHA,
        '    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)', """    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)
    E = np.exp(S - S.max(axis=-1, keepdims=True))
    A = E / E.sum(axis=-1, keepdims=True)""",
        """        S = np.where(mask, S, -np.inf)
    top = S.max(axis=-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(top), top, 0.0))
    total = E.sum(axis=-1, keepdims=True)
    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0)""", '        A = A * mask'), hint='after the softmax'),
    'scores divided by sqrt(n_heads)': Mistake(edit(MHA,
        '    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)', '    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(n_heads)'), hint='sqrt(d_k)'),
})
MISTAKES["feed_forward"].update({
    'np.max instead of np.maximum': Mistake("""def feed_forward(X, W_1, b_1, W_2, b_2):
    return np.max(X @ W_1 + b_1, 0) @ W_2 + b_2
""", hint='np.maximum'),
})
MISTAKES["encoder_block"].update({
    'the feed-forward reads X instead of H': Mistake(edit(ENCODER,
        '    return layer_norm(H + feed_forward(H, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln2_gamma"], p["ln2_beta"])', '    return layer_norm(H + feed_forward(X, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), p["ln2_gamma"], p["ln2_beta"])'), hint='H'),
})
MISTAKES["MultiHeadAttention"].update({
    'softmax over dim 1 (the heads)': Mistake(edit(MHA_TORCH,
        '        A = torch.softmax(S, dim=-1).nan_to_num(0.0)', '        A = torch.softmax(S, dim=1).nan_to_num(0.0)'), hint='keys'),
    'weights from torch.randn (not Xavier)': Mistake(edit(MHA_TORCH,
        """        self.W_q, self.W_k, self.W_v, self.W_o = (
            torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(d_model, d_model))) for _ in range(4))""", '        self.W_q, self.W_k, self.W_v, self.W_o = (torch.nn.Parameter(torch.randn(d_model, d_model)) for _ in range(4))'), caught_by=('test_MultiHeadAttention_hidden',), hint='xavier'),
})
MISTAKES["EncoderBlock"].update({
    'no residual around the attention': Mistake(edit(ENCODER_TORCH,
        '        H = self.ln1(X + self.attn(X, X, mask)[0])', '        H = self.ln1(self.attn(X, X, mask)[0])'), hint='residual'),
})
MISTAKES["DecoderBlock"].update({
    'ln2 used again where ln3 belongs': Mistake(edit(DECODER_TORCH,
        '        return self.ln3(H + self.ff(H))', '        return self.ln2(H + self.ff(H))'), hint='ln3'),
})

# Issue 19, held-out batch C: mistakes written before the messages that name them were tuned
MISTAKES["layer_norm"].update({
    'gamma and beta applied before normalising': Mistake(edit(LAYER_NORM,
        """    mu = X.mean(axis=-1, keepdims=True)
    var = ((X - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (X - mu) / np.sqrt(var + eps) + beta""", """    Y = gamma * X + beta
    mu = Y.mean(axis=-1, keepdims=True)
    return (Y - mu) / np.sqrt(Y.var(axis=-1, keepdims=True) + eps)"""), hint='after'),
})
MISTAKES["multi_head_attention"].update({
    'V not split into heads': Mistake(edit(MHA,
        '    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)', """    Q, K, V = split(X_q @ W_q), split(X_kv @ W_k), split(X_kv @ W_v)
    V = X_kv @ W_v""",
        """    concat = np.swapaxes(A @ V, -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (D,))""", """    concat = np.swapaxes(A @ V[..., None, :, :], -2, -3)
    concat = concat.reshape(concat.shape[:-2] + (-1,))"""), hint='split'),
    'scaled after the softmax': Mistake(edit(MHA,
        '    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)', '    S = Q @ np.swapaxes(K, -1, -2)',
        '    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0)', '    A = np.divide(E, total, out=np.zeros_like(E), where=total > 0) / np.sqrt(d_k)'), hint='before the softmax'),
})
MISTAKES["feed_forward"].update({
    "b_1 as the ReLU's threshold": Mistake("""def feed_forward(X, W_1, b_1, W_2, b_2):
    return np.maximum(X @ W_1, b_1) @ W_2 + b_2
""", hint='b_1'),
})
MISTAKES["encoder_block"].update({
    'the attention weights A used as the output': Mistake(edit(ENCODER,
        '    attended, _ = multi_head_attention(X, X, p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, mask)', '    attended = multi_head_attention(X, X, p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, mask)[1]'), hint='(out, A)'),
})
MISTAKES["MultiHeadAttention"].update({
    'keys and values from X_q': Mistake(edit(MHA_TORCH,
        '        T_kv, h = X_kv.shape[1], self.n_heads', '        h = self.n_heads',
        """        K = (X_kv @ self.W_k).view(N, T_kv, h, d_k).transpose(1, 2)
        V = (X_kv @ self.W_v).view(N, T_kv, h, d_k).transpose(1, 2)""", """        K = (X_q @ self.W_k).view(N, T_q, h, d_k).transpose(1, 2)
        V = (X_q @ self.W_v).view(N, T_q, h, d_k).transpose(1, 2)"""), hint='X_kv'),
    'W_o multiplied from the left': Mistake(edit(MHA_TORCH,
        '        return heads @ self.W_o, A', '        return self.W_o @ heads, A'), hint='order'),
})
MISTAKES["EncoderBlock"].update({
    'feed-forward first, attention second': Mistake(edit(ENCODER_TORCH,
        """        H = self.ln1(X + self.attn(X, X, mask)[0])
        return self.ln2(H + self.ff(H))""", """        H = self.ln1(X + self.ff(X))
        return self.ln2(H + self.attn(H, H, mask)[0])"""), hint='order'),
})
MISTAKES["DecoderBlock"].update({
    'cross-attention before self-attention': Mistake(edit(DECODER_TORCH,
        """        H = self.ln1(Y + self.self_attn(Y, Y, tgt_mask)[0])
        H = self.ln2(H + self.cross_attn(H, memory, memory_mask)[0])""", """        H = self.ln1(Y + self.cross_attn(Y, memory, memory_mask)[0])
        H = self.ln2(H + self.self_attn(H, H, tgt_mask)[0])"""), hint='order'),
})

ALTERNATIVES = {
    "layer_norm": '''
def layer_norm(X, gamma, beta, eps=1e-5):
    centred = X - np.mean(X, axis=-1, keepdims=True)
    return centred / np.sqrt(np.var(X, axis=-1, keepdims=True) + eps) * gamma + beta
''',
    # one head at a time, with einsum and slices
    "multi_head_attention": '''
def multi_head_attention(X_q, X_kv, W_q, W_k, W_v, W_o, n_heads, mask=None):
    D = W_q.shape[0]
    d = D // n_heads
    Q, K, V = X_q @ W_q, X_kv @ W_k, X_kv @ W_v
    outs, weights = [], []
    for h in range(n_heads):
        cols = slice(h * d, (h + 1) * d)
        S = np.einsum("...id,...jd->...ij", Q[..., cols], K[..., cols]) / d ** 0.5
        if mask is not None:
            m = np.broadcast_to(mask, S.shape[:-2] + (n_heads,) + S.shape[-2:])[..., h, :, :] if np.ndim(mask) >= 3 else mask
            S = np.where(m, S, -np.inf)
        with np.errstate(invalid="ignore"):
            E = np.exp(S - np.max(S, axis=-1, keepdims=True))
            W = E / E.sum(axis=-1, keepdims=True)
        W = np.nan_to_num(W)
        weights.append(W)
        outs.append(np.einsum("...ij,...jd->...id", W, V[..., cols]))
    return np.concatenate(outs, axis=-1) @ W_o, np.stack(weights, axis=-3)
''',
    "feed_forward": '''
def feed_forward(X, W_1, b_1, W_2, b_2):
    hidden = np.einsum("...d,df->...f", X, W_1) + b_1
    hidden[hidden < 0] = 0
    return np.einsum("...f,fd->...d", hidden, W_2) + b_2
''',
    "encoder_block": '''
def encoder_block(X, params, n_heads, mask=None):
    weights = [params[k] for k in ("W_q", "W_k", "W_v", "W_o")]
    out = X + multi_head_attention(X, X, *weights, n_heads, mask=mask)[0]
    out = layer_norm(out, params["ln1_gamma"], params["ln1_beta"])
    ffn = feed_forward(out, params["W_1"], params["b_1"], params["W_2"], params["b_2"])
    return layer_norm(out + ffn, params["ln2_gamma"], params["ln2_beta"])
''',
    # per-head loop, einsum, the mask applied with torch.where
    "MultiHeadAttention": '''
class MultiHeadAttention(torch.nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        for name in ("W_q", "W_k", "W_v", "W_o"):
            w = torch.empty(d_model, d_model)
            torch.nn.init.xavier_uniform_(w)
            setattr(self, name, torch.nn.Parameter(w))

    def forward(self, X_q, X_kv, mask=None):
        d = X_q.shape[-1] // self.n_heads
        Q, K, V = X_q @ self.W_q, X_kv @ self.W_k, X_kv @ self.W_v
        outs, weights = [], []
        for h in range(self.n_heads):
            c = slice(h * d, (h + 1) * d)
            S = torch.einsum("nid,njd->nij", Q[..., c], K[..., c]) / d ** 0.5
            if mask is not None:
                m = torch.broadcast_to(mask, (S.shape[0], self.n_heads) + S.shape[1:])[:, h]
                S = torch.where(m, S, torch.full_like(S, float("-inf")))
            W = torch.softmax(S, dim=-1)
            W = torch.where(torch.isnan(W), torch.zeros_like(W), W)
            weights.append(W)
            outs.append(W @ V[..., c])
        return torch.cat(outs, dim=-1) @ self.W_o, torch.stack(weights, dim=1)
''',
    "EncoderBlock": edit(ENCODER_TORCH, "H = self.ln1(X + self.attn(X, X, mask)[0])\n        return self.ln2(H + self.ff(H))",
                         "attended, _ = self.attn(X, X, mask=mask)\n        X = self.ln1(attended + X)\n"
                         "        X = self.ln2(self.ff(X) + X)\n        return X"),
    "DecoderBlock": edit(DECODER_TORCH,
                         "H = self.ln1(Y + self.self_attn(Y, Y, tgt_mask)[0])\n"
                         "        H = self.ln2(H + self.cross_attn(H, memory, memory_mask)[0])\n"
                         "        return self.ln3(H + self.ff(H))",
                         "steps = [(self.self_attn, None, tgt_mask, self.ln1), (self.cross_attn, memory, memory_mask, self.ln2)]\n"
                         "        for attn, kv, m, ln in steps:\n"
                         "            Y = ln(Y + attn(Y, Y if kv is None else kv, mask=m)[0])\n"
                         "        return self.ln3(Y + self.ff(Y))"),
}


globals().update(standard_tests(A, FUNCTIONS, MISTAKES, ALTERNATIVES, cut=CUT))


def test_solution_prints_the_worked_numbers_and_trains():
    run = solution_run(A)
    assert "layer_norm([[1, 2, 3, 4]]) = [[-1.342 -0.447  0.447  1.342]]" in run.stdout  # the worked example
    assert "0 held-out sequences also occur in training" in run.stdout
    assert "held-out exact-sequence accuracy" in run.stdout


def test_every_contract_function_has_a_visible_and_a_hidden_test():
    ids = graded_ids(source_notebook(A))
    for f in FUNCTIONS:
        assert {f"test_{f}_visible", f"test_{f}_hidden"} <= set(_tests_of(f, ids)), f


def test_float32_modules_match_the_built_ins_loosely():
    """A correct solution on float32 inputs agrees with the built-ins to float32 precision."""
    ns = run_notebook(notebook_for(A, "DecoderBlock", cut=True)).namespace
    from seqlab.oracles import transformer as oracle
    torch.manual_seed(0)
    block = ns["DecoderBlock"](16, 4, 24)
    Y, M = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    ref = oracle.decoder_reference(oracle.torch_decoder_layer(block, 4), Y, M, causal)
    torch.testing.assert_close(block(Y, M, causal), ref, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-6), (torch.float32, 1e-4)])
def test_modules_on_cuda_equal_the_built_ins(dtype, tol):
    from seqlab.oracles import transformer as oracle
    ns = solution_run(A).namespace
    cuda = torch.device("cuda")
    torch.manual_seed(0)
    N, T_y, T_m, D, d_ff, h = 3, 6, 9, 32, 48, 4
    Y = torch.randn(N, T_y, D, device=cuda, dtype=dtype)
    M = torch.randn(N, T_m, D, device=cuda, dtype=dtype)
    causal = torch.ones(T_y, T_y, dtype=torch.bool, device=cuda).tril()
    pad = torch.ones(N, 1, 1, T_m, dtype=torch.bool, device=cuda)
    pad[0, ..., 5:] = False

    mha = ns["MultiHeadAttention"](D, h).to(cuda, dtype)
    out, A_w = mha(Y, M, pad)
    ref_out, ref_A = oracle.multihead_reference(oracle.torch_multihead_like(mha, h), Y, M, pad)
    assert out.device.type == "cuda" and A_w.device.type == "cuda"
    torch.testing.assert_close(out, ref_out, rtol=tol, atol=tol)
    torch.testing.assert_close(A_w, ref_A, rtol=tol, atol=tol)

    enc = ns["EncoderBlock"](D, h, d_ff).to(cuda, dtype)
    torch.testing.assert_close(enc(M, pad), oracle.encoder_reference(oracle.torch_encoder_layer(enc, h), M, pad),
                               rtol=tol, atol=tol)
    dec = ns["DecoderBlock"](D, h, d_ff).to(cuda, dtype)
    ref = oracle.decoder_reference(oracle.torch_decoder_layer(dec, h), Y, M, causal, pad)
    torch.testing.assert_close(dec(Y, M, causal, pad), ref, rtol=tol, atol=tol)
