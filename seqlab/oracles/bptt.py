"""Chapter 03-bptt: gradients of the tanh RNN by autograd through ``nn.RNN`` / ``nn.RNNCell``
with copied weights, and truncated gradients by detaching the built-in's state between chunks.

Every backward oracle differentiates the scalar ``L = sum(H * dH)`` (``dH`` is the gradient
arriving at each hidden state from that step's output), so its gradients are exactly what a
hand-written backward pass must return. The forward weights ``W_xh, W_hh, b_h`` are passed in
(the exercise functions receive the forward states ``H`` instead of ``b_h``).

``*_mistakes`` functions return ``{description: value}``: the autograd oracle run with
altered inputs (a detached state in the wrong place, a dropped gradient, one sample at a time),
so a failing test can name the mistake. Tuple-valued results are indexed with :func:`pick`.
"""
import numpy as np
import torch

from ._torch import LazyMistakes, _Deferred, lazy_mistakes, n, t
from ._torch import own_parameters  # noqa: F401 - tests load their own weights into a student's module
from .rnn import load_rnn_weights, torch_rnn

__all__ = [
    "rnn_step_backward", "rnn_backward", "truncated_rnn_backward", "sliding_window_rnn_backward",
    "rnn_step_backward_mistakes", "rnn_backward_mistakes", "truncated_rnn_backward_mistakes",
    "pick", "GRAD_NAMES", "STEP_GRAD_NAMES", "gradient_test_function", "cube_sum",
    "numerical_gradient_mistakes", "relative_error", "check_gradients", "grads_of", "chunk_cuts", "restarted_chunks",
]

#: Names of the five results of ``rnn_backward`` / ``truncated_rnn_backward``, in order.
GRAD_NAMES = ("dX", "dh0", "dW_xh", "dW_hh", "db_h")
#: Names of the five results of ``rnn_step_backward``, in order.
STEP_GRAD_NAMES = ("dx_t", "dh_prev", "dW_xh", "dW_hh", "db_h")


def pick(mistakes, i: int) -> LazyMistakes:
    """``{label: value[i]}`` from ``{label: tuple}``: the mistakes of one result (read when needed)."""
    return LazyMistakes(_Deferred(lambda: {label: value[i] for label, value in mistakes.items()}, (), {}))


def relative_error(a, b) -> float:
    """max |a - b| / max(|a| + |b|, 1e-12): the usual number of a gradient check."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)))


# ----------------------------------------------------------------------------- one step

def rnn_step_backward(dh_t, x_t, h_prev, W_xh, W_hh, b_h):
    """``(dx_t, dh_prev, dW_xh, dW_hh, db_h)`` of ``sum(h_t * dh_t)``, by autograd through
    ``nn.RNNCell`` holding the course's weights."""
    W_xh = np.asarray(W_xh)
    cell = torch.nn.RNNCell(*W_xh.shape, dtype=torch.float64)
    load_rnn_weights(cell, t(W_xh), t(W_hh), t(b_h))
    x, h = t(x_t).requires_grad_(), t(h_prev).requires_grad_()
    (cell(x, h) * t(dh_t)).sum().backward()
    # nn.RNNCell stores W_xhᵀ and W_hhᵀ, so their gradients come back transposed
    return n(x.grad), n(h.grad), n(cell.weight_ih.grad.T), n(cell.weight_hh.grad.T), n(cell.bias_ih.grad)


def _linear_step_backward(dh_t, x_t, h_prev, W_xh, W_hh):
    """Gradients of ``sum((x_t W_xh + h_prev W_hh) * dh_t)``: the step without its tanh."""
    x, h = t(x_t).requires_grad_(), t(h_prev).requires_grad_()
    Wx, Wh = t(W_xh).requires_grad_(), t(W_hh).requires_grad_()
    b = torch.zeros(Wx.shape[1], dtype=torch.float64, requires_grad=True)
    pre = torch.nn.functional.linear(x, Wx.T) + torch.nn.functional.linear(h, Wh.T) + b
    (pre * t(dh_t)).sum().backward()
    return n(x.grad), n(h.grad), n(Wx.grad), n(Wh.grad), n(b.grad)


@lazy_mistakes
def rnn_step_backward_mistakes(dh_t, x_t, h_prev, W_xh, W_hh, b_h) -> dict:
    """What ``rnn_step_backward`` returns under the usual slips (tuples, see :func:`pick`)."""
    dh_t, x_t, h_prev, W_xh, W_hh, b_h = map(np.asarray, (dh_t, x_t, h_prev, W_xh, W_hh, b_h))
    right = rnn_step_backward(dh_t, x_t, h_prev, W_xh, W_hh, b_h)
    per_sample = [rnn_step_backward(dh_t[i:i + 1], x_t[i:i + 1], h_prev[i:i + 1], W_xh, W_hh, b_h)
                  for i in range(len(x_t))]
    db_rows = np.stack([g[4] for g in per_sample], axis=0)                # (N, H): one row per sample
    out = {
        "the tanh derivative (1 - h_t**2) is missing": _linear_step_backward(dh_t, x_t, h_prev, W_xh, W_hh),
        "db_h is not summed over the batch: it must have shape (H,)": right[:4] + (db_rows,),
        "all gradients are zero": tuple(np.zeros_like(g) for g in right),
    }
    if W_xh.shape[0] == W_xh.shape[1]:
        out["dW_xh is transposed: it must be x_tᵀ @ (local gradient), shape (D, H)"] = (
            right[0], right[1], right[2].T, right[3], right[4])
    out["dW_hh is transposed: it must be h_prevᵀ @ (local gradient)"] = (
        right[0], right[1], right[2], right[3].T, right[4])
    h_t = np.tanh(x_t @ W_xh + h_prev @ W_hh + b_h)
    local = dh_t * (1 - h_t ** 2)                      # the gradient at the pre-activation
    out["the tanh derivative uses h_prev: it is 1 - h_t**2, with h_t the output of this step"] = (
        _linear_step_backward(dh_t * (1 - h_prev ** 2), x_t, h_prev, W_xh, W_hh))
    out["tanh applied twice: h_t is already tanh(a), so the derivative is 1 - h_t**2, not 1 - tanh(h_t)**2"] = (
        _linear_step_backward(dh_t * (1 - np.tanh(h_t) ** 2), x_t, h_prev, W_xh, W_hh))
    out["dh_prev uses W_hh untransposed: it is (local gradient) @ W_hhᵀ"] = (
        right[0], local @ W_hh, right[2], right[3], right[4])
    out["dW_hh uses h_t: it is h_prevᵀ @ (local gradient), with the state that went into the step"] = (
        right[0], right[1], right[2], h_t.T @ local, right[4])
    out["the tanh derivative is written (1 - h_t)**2: it is 1 - h_t**2"] = _linear_step_backward(
        dh_t * (1 - h_t) ** 2, x_t, h_prev, W_xh, W_hh)
    out["db_h is averaged over the batch (a mean): the loss sums over the batch, so db_h sums too (axis 0)"] = (
        right[:4] + (right[4] / len(x_t),))
    out["db_h is summed over axis 1 (the hidden units): sum the local gradient over the batch, axis 0, "
        "to get shape (H,)"] = right[:4] + (local.sum(axis=1),)
    if W_xh.shape[0] == W_xh.shape[1]:
        out["dx_t uses W_xh untransposed: it is (local gradient) @ W_xhᵀ"] = (local @ W_xh,) + right[1:]
    out["dh_prev uses W_xh: the gradient that reaches h_prev goes back through W_hh, (local gradient) @ W_hhᵀ"] = (
        right[0], local @ W_xh.T, right[2], right[3], right[4])
    out["dh_prev was also multiplied by 1 - h_prev**2: that derivative belongs to the previous step's "
        "backward pass, which applies it to the gradient it receives"] = (
        right[0], right[1] * (1 - h_prev ** 2), right[2], right[3], right[4])
    return out


# ----------------------------------------------------------------------------- sequences

def _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, cuts=()):
    """Gradients of ``sum(H * dH)`` through ``nn.RNN``, with the hidden state detached before
    every code step ``s`` in ``cuts`` (``0`` in ``cuts`` detaches ``h0`` itself)."""
    dH, X, h0 = map(np.asarray, (dH, X, h0))
    T = X.shape[1]
    rnn = torch_rnn(t(W_xh), t(W_hh), t(b_h))
    Xt, h0t = t(X).requires_grad_(), t(h0).requires_grad_()
    bounds = sorted({0, T} | {int(c) for c in cuts if 0 < c < T})
    h = h0t[None]                                                          # (1, N, H) as nn.RNN wants
    chunks = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if a in cuts:
            h = h.detach()
        H_chunk, h = rnn(Xt[:, a:b], h)
        chunks.append(H_chunk)
    (torch.cat(chunks, dim=1) * t(dH)).sum().backward()
    dh0 = h0t.grad if h0t.grad is not None else torch.zeros_like(h0t)
    dX = Xt.grad if Xt.grad is not None else torch.zeros_like(Xt)
    grads = [rnn.weight_ih_l0.grad, rnn.weight_hh_l0.grad, rnn.bias_ih_l0.grad]
    grads = [g if g is not None else torch.zeros_like(p)
             for g, p in zip(grads, [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0])]
    return n(dX), n(dh0), n(grads[0].T), n(grads[1].T), n(grads[2])


def rnn_backward(dH, X, h0, W_xh, W_hh, b_h):
    """Full BPTT: ``(dX, dh0, dW_xh, dW_hh, db_h)`` of ``sum(H * dH)`` by autograd through ``nn.RNN``."""
    return _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h)


def chunk_cuts(T: int, k: int) -> set:
    """Code steps where the state is detached in chunked truncation: k, 2k, ... below T."""
    return set(range(k, T, k))


def truncated_rnn_backward(dH, X, h0, W_xh, W_hh, b_h, k):
    """Chunked truncated BPTT by autograd: ``nn.RNN`` run chunk by chunk over code steps
    ``[0, k), [k, 2k), ...``, its state detached between chunks."""
    return _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, chunk_cuts(np.shape(X)[1], k))


def restarted_chunks(X, h0, W_xh, W_hh, b_h, k) -> np.ndarray:
    """The states ``(N, T, H)`` when every chunk after the first starts again from zeros (the state is
    never passed on to the next chunk), by ``nn.RNN``."""
    X, h0 = np.asarray(X), np.asarray(h0)
    rnn = torch_rnn(t(W_xh), t(W_hh), t(b_h))
    with torch.no_grad():
        parts = [rnn(t(X[:, a:a + k]), t(h0 if a == 0 else np.zeros_like(h0))[None])[0] for a in range(0, X.shape[1], k)]
    return n(torch.cat(parts, dim=1))


def sliding_window_rnn_backward(dH, X, h0, W_xh, W_hh, b_h, k):
    """The lecture's truncation ("going back only τ = k steps"): the gradient of step ``s``'s
    output reaches the steps ``s, s-1, ..., s-k+1`` and no further. By autograd: for every
    ``s``, ``nn.RNN`` is rerun over that window from the detached state before it."""
    dH, X, h0 = map(np.asarray, (dH, X, h0))
    T = X.shape[1]
    rnn = torch_rnn(t(W_xh), t(W_hh), t(b_h))
    with torch.no_grad():
        H_all, _ = rnn(t(X), t(h0)[None])                                  # (N, T, H), no graph
    Xt, h0t = t(X).requires_grad_(), t(h0).requires_grad_()
    loss = 0.0
    for s in range(T):
        start = max(0, s - k + 1)
        h_start = h0t if start == 0 else H_all[:, start - 1]               # (N, H), detached unless h0
        _, h_s = rnn(Xt[:, start:s + 1], h_start[None])                    # h_s: (1, N, H)
        loss = loss + (h_s[0] * t(dH[:, s])).sum()
    loss.backward()
    dh0 = h0t.grad if h0t.grad is not None else torch.zeros_like(h0t)
    return (n(Xt.grad), n(dh0), n(rnn.weight_ih_l0.grad.T), n(rnn.weight_hh_l0.grad.T),
            n(rnn.bias_ih_l0.grad))


def _chained_backward(dH, X, h0, H, W_xh, W_hh, order, h_prev_of, accumulate=True):
    """What a loop of step backwards gives when it visits the steps in ``order``, takes
    ``h_prev_of(s)`` as the state before step ``s`` and (unless ``accumulate``) overwrites the weight
    gradients: each step's gradients by autograd through the linear part of the step, with the tanh
    derivative ``1 - h_t**2`` taken from the given ``H``. Used only to name mistakes."""
    dX, grads = np.zeros_like(X), [np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_hh.shape[0])]
    carried = np.zeros_like(h0)
    for s in order:
        local = (dH[:, s] + carried) * (1 - H[:, s] ** 2)
        dx, carried, *dW = _linear_step_backward(local, X[:, s], h_prev_of(s), W_xh, W_hh)
        dX[:, s] = dx
        grads = [g + d for g, d in zip(grads, dW)] if accumulate else dW
    return (dX, carried, *grads)


@lazy_mistakes
def rnn_backward_mistakes(dH, X, h0, W_xh, W_hh, b_h) -> dict:
    """What ``rnn_backward`` returns under the usual slips (tuples, see :func:`pick`)."""
    dH, X, h0 = np.asarray(dH), np.asarray(X), np.asarray(h0)
    T = X.shape[1]
    last_only = np.zeros_like(dH)
    last_only[:, -1] = dH[:, -1]
    with torch.no_grad():
        H = n(torch_rnn(W_xh, W_hh, b_h)(t(X), t(h0)[None])[0])

    def before(s):
        return H[:, s - 1] if s > 0 else h0

    backwards = range(T - 1, -1, -1)
    right = rnn_backward(dH, X, h0, W_xh, W_hh, b_h)
    return {
        "the loop runs forward in time: backpropagation goes from s = T-1 down to 0":
            _chained_backward(dH, X, h0, H, W_xh, W_hh, range(T), before),
        "off by one: the state before step s is H[:, s-1] (h0 for s = 0), not H[:, s]":
            _chained_backward(dH, X, h0, H, W_xh, W_hh, backwards, lambda s: H[:, s]),
        "the weight gradients are overwritten at every step: add them up (+=) over time":
            _chained_backward(dH, X, h0, H, W_xh, W_hh, backwards, before, accumulate=False),
        "no gradient flows from h_t back to h_{t-1}: add dh_prev of step s to dH[:, s-1]":
            _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, set(range(1, T))),
        "only the last step's gradient dH[:, -1] is used: every step's output sends one":
            rnn_backward(last_only, X, h0, W_xh, W_hh, b_h),
        "dh0 is zero: the gradient that reaches h_0 must be returned":
            _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, {0}),
        "the state before step 0 is h0: H[:, s - 1] at s = 0 is H[:, -1], the LAST state (use h0 there)":
            _chained_backward(dH, X, h0, H, W_xh, W_hh, backwards, lambda s: H[:, s - 1]),
        "off by one: step s adds the output gradient dH[:, s - 1]; its own is dH[:, s]":
            rnn_backward(np.roll(dH, 1, axis=1), X, h0, W_xh, W_hh, b_h),
        "db_h was summed over every axis (one number): sum over the batch only, shape (H,)":
            right[:4] + (float(right[4].sum()),),
        "step 0 is skipped: the backward loop must run down to s = 0, range(T - 1, -1, -1)":
            _chained_backward(dH, X, h0, H, W_xh, W_hh, range(T - 1, 0, -1), before),
    }


@lazy_mistakes
def truncated_rnn_backward_mistakes(dH, X, h0, W_xh, W_hh, b_h, k) -> dict:
    """What ``truncated_rnn_backward`` returns under the usual slips (tuples, see :func:`pick`)."""
    T = np.shape(X)[1]
    right = chunk_cuts(T, k)
    out = {"the chunks have k + 1 steps: detach every k steps, at s = k, 2k, ...":
           _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, chunk_cuts(T, k + 1))} if k + 1 < T else {}
    if k > 2:
        out["the chunks have k - 1 steps: detach every k steps, at s = k, 2k, ..."] = (
            _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, chunk_cuts(T, k - 1)))
    if k > 1:
        out["the state is detached at every step: detach only at the chunk boundaries s = k, 2k, ..."] = (
            _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, set(range(1, T))))
    out |= {
        "k has no effect: this is full BPTT (are the chunks cut along time, X[:, start:start + k] or "
        "torch.split(X, k, dim=1)?)": rnn_backward(dH, X, h0, W_xh, W_hh, b_h),
        "h_0 is cut off too: dh0 must still receive the first chunk's gradient":
            _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, right | {0}),
        "the cuts are one step early: detach before s = k, 2k, ..., not before s = k-1, 2k-1, ...":
            _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, {c - 1 for c in right if c > 1}),
        "the cuts are one step late: the chunks are [0, k), [k, 2k), ...":
            _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, {c + 1 for c in right if c + 1 < T}),
        "the chunks are counted from the end: they start at s = 0, k, 2k, ...":
            _unrolled_backward(dH, X, h0, W_xh, W_hh, b_h, {s for s in range(1, T) if (T - s) % k == 0}),
        "a sliding window of k steps (the lecture's τ): this exercise detaches at chunk boundaries":
            sliding_window_rnn_backward(dH, X, h0, W_xh, W_hh, b_h, k),
    }
    ends = [s for s in range(k - 1, T, k)] + ([T - 1] if (T - 1) % k != k - 1 else [])   # last step of each chunk
    cut_also = np.array(dH, dtype=np.float64, copy=True)
    cut_also[:, [s for s in ends if s < T - 1]] = 0.0
    out["at each chunk boundary the step's own output gradient dH[:, s] was dropped with the carried one: cut "
        "only the gradient carried back into the previous chunk"] = (
        _unrolled_backward(cut_also, X, h0, W_xh, W_hh, b_h, right))
    detached_ends = np.array(dH, dtype=np.float64, copy=True)
    detached_ends[:, ends] = 0.0
    out["the state at each chunk boundary (the chunk's last state) was detached before it was returned, so its "
        "own output gradient is lost: detach only the state carried into the next chunk"] = (
        _unrolled_backward(detached_ends, X, h0, W_xh, W_hh, b_h, right))
    return out


# ----------------------------------------------------------------------------- numerical gradient

def cube_sum(x) -> float:
    """``f(x) = sum(x**3)``. Its centred difference with step h is exactly ``3 x**2 + h**2``
    (the h**2 is f'''/6 times h**2), its forward difference ``3 x**2 + 3 x h + h**2``."""
    return float(np.sum(np.asarray(x, dtype=np.float64) ** 3))


def gradient_test_function(shape, seed=0):
    """A smooth scalar function of an array of ``shape`` and its exact gradient by autograd.

    Returns ``(f, grad)``: ``f(x)`` takes a NumPy array and returns a Python float;
    ``grad(x)`` is the autograd gradient of the very same torch computation.
    """
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(*shape, generator=g, dtype=torch.float64)
    B = torch.randn(shape[-1], 3, generator=g, dtype=torch.float64)

    def _f(xt):
        return (torch.tanh(xt @ B).sum() + (A * torch.sin(xt)).sum() + 0.5 * (xt ** 2).sum())

    def f(x):
        return float(_f(t(x)))

    def grad(x):
        xt = t(x).requires_grad_()
        return n(torch.autograd.grad(_f(xt), xt)[0])

    return f, grad


@lazy_mistakes
def numerical_gradient_mistakes(x, h) -> dict:
    """Results of the usual slips for ``f = cube_sum`` (closed forms, see :func:`cube_sum`)."""
    x = np.asarray(x, dtype=np.float64)
    centred = 3 * x ** 2 + h ** 2
    return {
        "forward differences (f(x + h) - f(x)) / h: use centred ones, (f(x + h) - f(x - h)) / (2h)":
            3 * x ** 2 + 3 * x * h + h ** 2,
        "backward differences (f(x) - f(x - h)) / h: use centred ones":
            3 * x ** 2 - 3 * x * h + h ** 2,
        "divided by h instead of 2h": 2 * centred,
        "the step h is ignored (a fixed step is used instead)": 3 * x ** 2 + 1e-10,
        "the gradient is flattened: return an array of x's shape": centred.ravel(),
        "every entry was perturbed at once: move one entry of x at a time": np.full(x.shape, np.sum(centred)),
        "all zeros (or nearly): f was evaluated at the unperturbed x, or the difference was multiplied by h "
        "instead of divided by 2h": np.zeros(x.shape),
        "divided by 2 and then multiplied by h: write (f(x + h) - f(x - h)) / (2 * h), with the parentheses":
            centred * h * h,
    }


# ----------------------------------------------------------------------------- checking helpers

def check_gradients(what: str, got, expected, names=GRAD_NAMES, mistakes=None, *, rtol=1e-7, atol=1e-10):
    """Check a tuple of gradients result by result, each against ``expected[i]``, naming the likely
    mistake of that result (from ``mistakes``, a ``{label: tuple}`` dict)."""
    from seqlab.testing import check_close, check_equal, check_type

    check_type(f"the result of {what}", got, (tuple, list),
               hint=f"return the {len(names)} gradients as a tuple ({', '.join(names)})")
    check_equal(f"the number of results of {what}", len(got), len(names))
    for i, name in enumerate(names):
        check_close(f"{name} from {what}", got[i], expected[i], rtol=rtol, atol=atol,
                    mistakes=pick(mistakes, i) if mistakes else None)


def grads_of(*tensors) -> tuple:
    """NumPy copies of the ``.grad`` of each tensor; zeros where no gradient arrived (``None``)."""
    return tuple(n(x.grad) if x.grad is not None else np.zeros(tuple(x.shape)) for x in tensors)
