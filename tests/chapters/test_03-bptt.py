"""Tests of the tests for 03-bptt: the solution gets full marks, the stubs get none,
students' mistakes lose points and correct alternatives keep them."""
import numpy as np
import pytest
import torch

from tests.chapters.standard import solution_run, standard_tests
from tests.harness import Mistake, edit, run_notebook, source_notebook

A = "03-bptt"
#: cells that grade nothing: the training run and the students' own gradient check (both run in
#: test_solution_gets_full_marks); skipped when trying mistakes and alternatives, to keep this file fast
SKIP = ("long-experiment", "gradient-check")

# A full rnn_backward / truncated_rnn_backward written by a student, with one slot changed.
_BACKWARD = """
def {name}(dH, X, h0, H, W_xh, W_hh{k_arg}):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in {order}:
        h_prev = {h_prev}
        dx, dh_prev, dWx, dWh, db = rnn_step_backward({upstream}, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh {acc} dWx
        dW_hh {acc} dWh
        db_h {acc} db
        dh_next = {carry}
    return dX, {dh0}, dW_xh, dW_hh, db_h
"""
_RIGHT = dict(order="reversed(range(T))", h_prev="H[:, s - 1] if s > 0 else h0", upstream="dH[:, s] + dh_next",
              acc="+=", carry="dh_prev", dh0="dh_next")
_TRUNC_CARRY = "np.zeros_like(dh_prev) if s > 0 and s % k == 0 else dh_prev"


def backward(**changes):
    return _BACKWARD.format(**{"name": "rnn_backward", "k_arg": "", **_RIGHT, **changes})


def truncated(**changes):
    return _BACKWARD.format(**{"name": "truncated_rnn_backward", "k_arg": ", k", **_RIGHT,
                               "carry": _TRUNC_CARRY, **changes})


_STEP = """
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = {da}
    return {dx}, {dh}, {dWx}, {dWh}, {db}
"""
_STEP_RIGHT = dict(da="dh_t * (1 - h_t ** 2)", dx="da @ W_xh.T", dh="da @ W_hh.T", dWx="x_t.T @ da",
                   dWh="h_prev.T @ da", db="da.sum(axis=0)")


def step(**changes):
    return _STEP.format(**{**_STEP_RIGHT, **changes})


_TBPTT = """
def tbptt_forward(rnn, X, h0, k):
    out = []
    h = {h0}
    for start in range(0, X.shape[1], {stride}):
        H_chunk, h = rnn(X[:, start:start + {width}], h)
        out.append({append})
        h = {carry}
    return torch.cat(out, dim=1)
"""
_TBPTT_RIGHT = dict(h0="h0", stride="k", width="k", append="H_chunk", carry="h.detach()")


def tbptt(**changes):
    return _TBPTT.format(**{**_TBPTT_RIGHT, **changes})


MISTAKES = {
    "rnn_step_backward": {
        "tanh derivative from h_prev": Mistake(step(da="dh_t * (1 - h_prev ** 2)"), hint='uses h_prev'),
        "tanh derivative as 1 - tanh(h_t)**2 (tanh applied twice)": Mistake(step(da="dh_t * (1 - np.tanh(h_t) ** 2)"), hint='tanh applied twice'),
        "tanh derivative missing": Mistake(step(da="dh_t"), hint='tanh derivative'),
        "W_hh not transposed in dh_prev": Mistake(step(dh="da @ W_hh"), hint='W_hh untransposed'),
        "db_h not summed over the batch": Mistake(step(db="da"), hint='not summed over the batch'),
        "dW_hh from h_t instead of h_prev": Mistake(step(dWh="h_t.T @ da"), hint='dW_hh uses h_t'),
        "dW_xh without the tanh derivative": Mistake(step(dWx="x_t.T @ dh_t"), hint='tanh derivative'),
    },
    "rnn_backward": {
        "no gradient carried from h_t to h_{t-1}": Mistake(backward(upstream="dH[:, s]"), hint='no gradient flows'),
        "only the last step's output gradient used": Mistake(backward(upstream="dh_next + dH[:, -1] * (s == T - 1)"), hint='only the last step'),
        "loops forward in time": Mistake(backward(order="range(T)"), hint='forward in time'),
        "off by one: h_prev is H[:, s]": Mistake(backward(h_prev="H[:, s]"), hint='off by one'),
        "weight gradients overwritten, not summed over time": Mistake(backward(acc="="), hint='overwritten'),
        "dh0 returned as zeros": Mistake(backward(dh0="np.zeros_like(h0)"), hint='dh0 is zero'),
    },
    "numerical_gradient": {
        "forward differences": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    fx = f(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        grad[idx] = (f(x) - fx) / h
        x[idx] = old
    return grad
""", hint='forward differences'),
        "divides by h instead of 2h": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old - h
        fm = f(x)
        x[idx] = old
        grad[idx] = (fp - fm) / h
    return grad
""", hint='instead of 2h'),
        "x not restored": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        x[idx] += h
        fp = f(x)
        x[idx] -= 2 * h
        fm = f(x)
        grad[idx] = (fp - fm) / (2 * h)
    return grad
""", hint='restore'),
        "fixed step, ignores h": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += 1e-5
        xm[idx] -= 1e-5
        grad[idx] = (f(xp) - f(xm)) / 2e-5
    return grad
""", hint='step h is ignored'),
        "only 1-D x (flat gradient)": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    flat = x.reshape(-1)
    grad = np.zeros(flat.size)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f(x)
        flat[i] = old - h
        fm = f(x)
        flat[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad
""", hint='flattened'),
        "perturbs every entry at once": Mistake("""
def numerical_gradient(f, x, h=1e-5):
    return np.full(x.shape, (f(x + h) - f(x - h)) / (2 * h))
""", hint='one entry'),
    },
    "truncated_rnn_backward": {
        "k ignored (full BPTT)": Mistake(truncated(carry="dh_prev"), hint='k has no effect'),
        "cuts at s = 0 too (dh0 zero)": Mistake(truncated(carry="np.zeros_like(dh_prev) if s % k == 0 else dh_prev"), hint='h_0 is cut off'),
        "cuts one step early": Mistake(truncated(carry="np.zeros_like(dh_prev) if (s + 1) % k == 0 else dh_prev"), hint='one step early'),
        "chunks counted from the end": Mistake(truncated(
            carry="np.zeros_like(dh_prev) if s > 0 and (T - s) % k == 0 else dh_prev"), hint='from the end'),
        "sliding window of k steps (the lecture's tau)": Mistake("""
def truncated_rnn_backward(dH, X, h0, H, W_xh, W_hh, k):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh0 = np.zeros_like(h0)
    for t in range(T):
        g = dH[:, t]
        for s in range(t, max(-1, t - k), -1):
            h_prev = H[:, s - 1] if s > 0 else h0
            dx, g, dWx, dWh, db = rnn_step_backward(g, X[:, s], h_prev, H[:, s], W_xh, W_hh)
            dX[:, s] += dx
            dW_xh += dWx
            dW_hh += dWh
            db_h += db
        if t - k < 0:
            dh0 += g
    return dX, dh0, dW_xh, dW_hh, db_h
""", hint='sliding window'),
    },
    "tbptt_forward": {
        "no detach (full BPTT)": Mistake(tbptt(carry="h"), hint='k has no effect'),
        "h0 detached too": Mistake(tbptt(h0="h0.detach()"), hint='h_0 is cut off'),
        "detaches every step": Mistake(tbptt(stride="1", width="1"), hint='every step'),
        "returned states detached": Mistake(tbptt(append="H_chunk.detach()"), hint='not the hidden states you return'),
        "chunks of k + 1 steps": Mistake(tbptt(stride="k + 1", width="k + 1"), hint='k + 1'),
        "output preallocated with torch.zeros (no device)": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    N, T, _ = X.shape
    out = torch.zeros(N, T, h0.shape[1], dtype=X.dtype)
    h = h0
    for start in range(0, T, k):
        H_chunk, h = rnn(X[:, start:start + k], h)
        out[:, start:start + k] = H_chunk
        h = h.detach()
    return out
""", hint="device"),
        "one call over the whole X": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    H_all, _ = rnn(X, h0)
    return H_all
""", hint='k has no effect'),
    },
}

# Not the student's own work: the first line of every test cell of the function says so.
MISTAKES["rnn_step_backward"]["PyTorch's autograd instead of the chain rule"] = Mistake("""
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    x, h, Wx, Wh = (torch.tensor(a, requires_grad=True) for a in (x_t, h_prev, W_xh, W_hh))
    b = torch.zeros(Wh.shape[1], dtype=Wh.dtype, requires_grad=True)
    torch.tanh(x @ Wx + h @ Wh + b).backward(torch.as_tensor(dh_t))
    return tuple(a.grad.numpy() for a in (x, h, Wx, Wh, b))
""", hint="written without")
MISTAKES["rnn_backward"]["calls the course's reference answer"] = Mistake("""
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    return oracle.rnn_backward(dH, X, h0, W_xh, W_hh, np.zeros(W_hh.shape[1]))
""", hint="reference")

# Correct sources, written the way most students write the loop, that the mistakes below change.
_LOOP = """
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])
    dh_next = np.zeros_like(h0)
    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        dX[:, s] = dx
        dW_xh += dWx
        dW_hh += dWh
        db_h += db
    return dX, dh_next, dW_xh, dW_hh, db_h
"""
_TRUNCATED_LOOP = edit(_LOOP, "rnn_backward(dH, X, h0, H, W_xh, W_hh):", "truncated_rnn_backward(dH, X, h0, H, W_xh, W_hh, k):")

# Issue 19, held-out batch A: mistakes written before the messages that name them were tuned
MISTAKES["rnn_step_backward"].update({
    'db_h summed over the wrong axis': Mistake(edit(step(),
        '    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)', '    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=1)'), hint='axis 0'),
    'db_h averaged over the batch': Mistake(edit(step(),
        '    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)', '    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.mean(axis=0)'), hint='averaged'),
    'dx_t uses W_xh untransposed': Mistake(edit(step(),
        '    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)', '    return da @ W_xh, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)'), hint='W_xh'),
    "dh_prev multiplied by the previous step's tanh derivative too": Mistake(edit(step(),
        '    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)', '    return da @ W_xh.T, (da @ W_hh.T) * (1 - h_prev ** 2), x_t.T @ da, h_prev.T @ da, da.sum(axis=0)'), hint='h_prev'),
})
MISTAKES["rnn_backward"].update({
    'h_prev = H[:, s - 1] also at s = 0 (H[:, -1] instead of h0)': Mistake(edit(_LOOP,
        """        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)""", '        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], H[:, s - 1], H[:, s], W_xh, W_hh)'), hint='h0'),
    'step 0 skipped (range(T - 1, 0, -1))': Mistake(edit(_LOOP,
        """    for s in reversed(range(T)):
        h_prev = H[:, s - 1] if s > 0 else h0
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)""", """    for s in range(T - 1, 0, -1):
        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], H[:, s - 1], H[:, s], W_xh, W_hh)"""), hint='step 0'),
    'dH never added: only the carried gradient goes in': Mistake(edit(_LOOP,
        '    dh_next = np.zeros_like(h0)', '    dh_next = dH[:, -1]',
        '        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)', '        dx, dh_next, dWx, dWh, db = rnn_step_backward(dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)'), hint='last step'),
})
MISTAKES["truncated_rnn_backward"].update({
    "the boundary step's own output gradient dropped with the carried one": Mistake(edit(_TRUNCATED_LOOP,
        '        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)', """        upstream = dH[:, s] + dh_next
        if s < T - 1 and (s + 1) % k == 0:
            upstream = np.zeros_like(upstream)
        dx, dh_next, dWx, dWh, db = rnn_step_backward(upstream, X[:, s], h_prev, H[:, s], W_xh, W_hh)"""), hint='boundary'),
})
MISTAKES["tbptt_forward"].update({
    "each chunk's last state appended after detaching": Mistake("""
def tbptt_forward(rnn, X, h0, k):
    out = []
    h = h0
    for start in range(0, X.shape[1], k):
        H_chunk, h = rnn(X[:, start:start + k], h)
        h = h.detach()
        out.append(H_chunk[:, :-1])
        out.append(h[:, None])
    return torch.cat(out, dim=1)
""", hint='boundary'),
    'last, shorter chunk dropped': Mistake(edit(tbptt(),
        '    for start in range(0, X.shape[1], k):', '    for start in range(0, X.shape[1] - k + 1, k):'), hint='shorter'),
    'starts from zeros instead of h0': Mistake(edit(tbptt(),
        '    h = h0', '    h = torch.zeros_like(h0)'), hint='h0'),
})
MISTAKES["numerical_gradient"].update({
    'perturbs a copy but evaluates f at x': Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        grad[idx] = (f(x) - f(x)) / (2 * h)
    return grad
""", hint='zero'),
})

# Issue 19, held-out batch B: mistakes written before the messages that name them were tuned
MISTAKES["rnn_step_backward"].update({
    'dh_prev uses W_xh': Mistake(edit(step(),
        '    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)', '    return da @ W_xh.T, da @ W_xh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)'), hint='W_hh'),
    'db_h without the tanh derivative': Mistake(edit(step(),
        '    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)', '    return da @ W_xh.T, da @ W_hh.T, x_t.T @ da, h_prev.T @ da, dh_t.sum(axis=0)'), hint='tanh derivative'),
})
MISTAKES["rnn_backward"].update({
    'dW_xh reset inside the loop': Mistake(edit(_LOOP,
        '    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])', '    dW_hh, db_h = np.zeros_like(W_hh), np.zeros(W_hh.shape[0])',
        '    for s in reversed(range(T)):', """    for s in reversed(range(T)):
        dW_xh = np.zeros_like(W_xh)"""), hint='overwritten'),
})
MISTAKES["truncated_rnn_backward"].update({
    'cut placed at s % k == 1': Mistake(edit(_TRUNCATED_LOOP,
        '        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)', """        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        if s > 1 and s % k == 1:
            dh_next = np.zeros_like(dh_next)"""), hint='one step late'),
})
MISTAKES["tbptt_forward"].update({
    'chunks joined along the batch axis': Mistake(edit(tbptt(),
        '    return torch.cat(out, dim=1)', '    return torch.cat(out)'), hint='dim=1'),
    'the state is not passed to the next chunk': Mistake("""
def tbptt_forward(rnn, X, h0, k):
    out = []
    for start in range(0, X.shape[1], k):
        H_chunk, _ = rnn(X[:, start:start + k], h0 if start == 0 else None)
        out.append(H_chunk)
    return torch.cat(out, dim=1)
""", hint='state'),
})
MISTAKES["numerical_gradient"].update({
    'x restored only after the + step': Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old
        x[idx] -= h
        fm = f(x)
        grad[idx] = (fp - fm) / (2 * h)
    return grad
""", hint='restore'),
})

# Issue 19, held-out batch C: mistakes written before the messages that name them were tuned
MISTAKES["rnn_step_backward"].update({
    '(1 - h_t)**2 for the tanh derivative': Mistake(edit(step(),
        '    da = dh_t * (1 - h_t ** 2)', '    da = dh_t * (1 - h_t) ** 2'), hint='1 - h_t'),
})
MISTAKES["rnn_backward"].update({
    'db_h summed over every axis (a number)': Mistake(edit(backward(),
        '    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])', '    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), 0.0',
        '        dx, dh_prev, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)', '        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)',
        """        db_h += db
        dh_next = dh_prev""", '        db_h += db.sum()'), hint='(H,)'),
    'the output gradient of the step before (dH[:, s - 1])': Mistake(edit(_LOOP,
        '        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)', '        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s - 1] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)'), hint='off by one'),
})
MISTAKES["truncated_rnn_backward"].update({
    'chunks of k - 1 steps': Mistake(edit(_TRUNCATED_LOOP,
        '    dh_next = np.zeros_like(h0)', """    dh_next = np.zeros_like(h0)
    step = max(k - 1, 1)""",
        '        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)', """        dx, dh_next, dWx, dWh, db = rnn_step_backward(dH[:, s] + dh_next, X[:, s], h_prev, H[:, s], W_xh, W_hh)
        if s > 0 and s % step == 0:
            dh_next = np.zeros_like(dh_next)"""), hint='chunks'),
})
MISTAKES["tbptt_forward"].update({
    'chunks made with torch.split(X, k) (the batch axis)': Mistake(edit(tbptt(),
        """    for start in range(0, X.shape[1], k):
        H_chunk, h = rnn(X[:, start:start + k], h)""", """    for chunk in torch.split(X, k):
        H_chunk, h = rnn(chunk, h)"""), hint='dim=1'),
})
MISTAKES["numerical_gradient"].update({
    '/ 2 * h without parentheses': Mistake("""
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old - h
        fm = f(x)
        x[idx] = old
        grad[idx] = (fp - fm) / 2 * h
    return grad
""", hint='2 * h'),
})

ALTERNATIVES = {
    "rnn_step_backward": """
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    da = dh_t - dh_t * h_t * h_t
    return (np.einsum('nh,dh->nd', da, W_xh), np.einsum('nh,gh->ng', da, W_hh),
            np.einsum('nd,nh->dh', x_t, da), np.einsum('ng,nh->gh', h_prev, da), np.einsum('nh->h', da))
""",
    # the backward loop written without rnn_step_backward, the carried gradient through a list
    "rnn_backward": """
def rnn_backward(dH, X, h0, H, W_xh, W_hh):
    N, T, D = X.shape
    states = [h0] + [H[:, s] for s in range(T)]
    grads = {'x': [None] * T, 'Wx': 0.0, 'Wh': 0.0, 'b': 0.0}
    g = np.zeros_like(h0)
    for t in range(T, 0, -1):
        da = (dH[:, t - 1] + g) * (1 - states[t] ** 2)
        grads['x'][t - 1] = da @ W_xh.T
        grads['Wx'] = grads['Wx'] + np.einsum('nd,nh->dh', X[:, t - 1], da)
        grads['Wh'] = grads['Wh'] + states[t - 1].T @ da
        grads['b'] = grads['b'] + da.sum(0)
        g = da @ W_hh.T
    return np.stack(grads['x'], axis=1), g, grads['Wx'], grads['Wh'], grads['b']
""",
    "numerical_gradient": """
def numerical_gradient(f, x, h=1e-5):
    grad = np.empty_like(x, dtype=float)
    it = np.nditer(x, flags=['multi_index'])
    while not it.finished:
        i = it.multi_index
        e = np.zeros_like(x, dtype=float)
        e[i] = h
        grad[i] = (f(x + e) - f(x - e)) / (2 * h)
        it.iternext()
    return grad
""",
    # calls the student's rnn_backward on each chunk, carrying the chunk's dh0 into nothing
    "truncated_rnn_backward": """
def truncated_rnn_backward(dH, X, h0, H, W_xh, W_hh, k):
    T = X.shape[1]
    totals = None
    parts = []
    for start in range(0, T, k):
        stop = min(start + k, T)
        h_start = h0 if start == 0 else H[:, start - 1]
        dXc, dhc, dWx, dWh, db = rnn_backward(dH[:, start:stop], X[:, start:stop], h_start, H[:, start:stop], W_xh, W_hh)
        parts.append(dXc)
        if start == 0:
            dh0 = dhc
        totals = [dWx, dWh, db] if totals is None else [a + b for a, b in zip(totals, [dWx, dWh, db])]
    return (np.concatenate(parts, axis=1), dh0, *totals)
""",
    "tbptt_forward": """
def tbptt_forward(rnn, X, h0, k):
    pieces = []
    state = h0
    for chunk in torch.split(X, k, dim=1):
        out, last = rnn(chunk, state)
        pieces.append(out)
        state = last.detach()
    return torch.cat(pieces, 1)
""",
}


CONTRACT = ["rnn_step_backward", "rnn_backward", "numerical_gradient", "truncated_rnn_backward", "tbptt_forward"]
globals().update(standard_tests(A, CONTRACT, MISTAKES, ALTERNATIVES, skip_tags=SKIP))


def test_students_gradient_check_reports_tiny_errors():
    """The students' own gradient check (a cell the mistakes skip), run on the solution."""
    run = solution_run(A)
    lines = [line for line in run.stdout.splitlines() if "relative error" in line]
    assert lines
    for line in lines:
        assert float(line.split()[-1]) < 1e-6, line


def test_float32_inputs_keep_working():
    """The solution's NumPy functions work in the dtype they are given."""
    ns = run_notebook(source_notebook(A), skip_tags=SKIP).namespace
    rng = np.random.default_rng(0)
    X, h0, dH = (rng.normal(size=s).astype(np.float32) for s in [(2, 5, 3), (2, 4), (2, 5, 4)])
    W_xh, W_hh = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(4, 4)).astype(np.float32) / 2
    H = np.tanh(np.zeros((2, 5, 4), dtype=np.float32) + 0.5)
    for g in ns["rnn_backward"](dH, X, h0, H, W_xh, W_hh) + ns["truncated_rnn_backward"](dH, X, h0, H, W_xh, W_hh, 2):
        assert g.dtype == np.float32


@pytest.mark.gpu
def test_tbptt_forward_on_cuda_matches_the_builtin():
    from seqlab.oracles import bptt, rnn as rnn_oracle

    ns = run_notebook(source_notebook(A), skip_tags=SKIP).namespace
    RNN, tbptt_forward = ns["RNN"], ns["tbptt_forward"]
    torch.manual_seed(0)
    model = RNN(5, 6).double().cuda()
    X = torch.randn(3, 11, 5, dtype=torch.float64, device="cuda", requires_grad=True)
    h0 = torch.randn(3, 6, dtype=torch.float64, device="cuda", requires_grad=True)
    dH = torch.randn(3, 11, 6, dtype=torch.float64, device="cuda")
    H = tbptt_forward(model, X, h0, 4)
    assert H.device.type == "cuda"
    weights = [p.detach().cpu().numpy() for p in (model.W_xh, model.W_hh, model.b_h)]
    x, h, d = (a.detach().cpu().numpy() for a in (X, h0, dH))
    np.testing.assert_allclose(H.detach().cpu().numpy(), rnn_oracle.rnn_forward(x, h, *weights), rtol=1e-6, atol=1e-9)
    (H * dH).sum().backward()
    expected = bptt.truncated_rnn_backward(d, x, h, *weights, 4)
    for got, want in zip(bptt.grads_of(X, h0, model.W_xh, model.W_hh, model.b_h), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    # float32 on the GPU, under cuDNN
    model32 = RNN(5, 6).cuda()
    X32 = torch.randn(4, 9, 5, device="cuda")
    H32 = tbptt_forward(model32, X32, torch.zeros(4, 6, device="cuda"), 3)
    assert H32.device.type == "cuda" and H32.dtype == torch.float32
    ref = torch.nn.RNN(5, 6, batch_first=True, device="cuda")
    rnn_oracle.load_rnn_weights(ref, model32.W_xh.detach(), model32.W_hh.detach(), model32.b_h.detach())
    torch.testing.assert_close(H32, ref(X32)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_training_cell_runs_on_cuda():
    run = run_notebook(source_notebook(A))
    assert not run.failed() and not run.cell_errors
    assert "k = 20" in run.stdout
