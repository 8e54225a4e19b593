"""Chapter 05-lstm: LSTM and GRU by ``torch.nn.LSTM`` / ``nn.LSTMCell`` / ``nn.GRUCell`` with copied weights.

The course stores an LSTM's weights as ``W_x (D, 4H)``, ``W_h (H, 4H)``, ``b (4H,)``, gate blocks
of ``H`` columns in PyTorch's order **i, f, g, o**; PyTorch stores the transposes
(``weight_ih = W_xᵀ``, ``weight_hh = W_hᵀ``) and two biases whose sum is ``b`` (we put ``b`` in
``bias_ih`` and zeros in ``bias_hh``). A GRU: ``W_x (D, 3H)``, ``W_h (H, 3H)``, ``b_x``, ``b_h (3H,)``,
blocks r, z, n, exactly PyTorch's ``weight_ih``/``weight_hh``/``bias_ih``/``bias_hh`` transposed.

Mistakes are diagnosed gate by gate. Every wrong answer below is what the built-in returns when
it is given altered weights: blocks permuted (a wrong gate order), one gate's bias pushed to
``±SATURATE`` so the gate is exactly 0 or 1 (a missing gate), one gate's block scaled (used with
``tanh(a) = 2·sigmoid(2a) - 1`` to get a gate that used ``tanh`` where ``sigmoid`` belongs), or the
cell state fed in place of another input. No gate equation is written out here.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from ._torch import lazy_mistakes, load_course_weights, n, t
from ._torch import own_parameters  # noqa: F401 - tests load their own weights into a student's module

#: LSTM gate names in PyTorch's block order, and GRU block names.
LSTM_GATES = ("i", "f", "g", "o")
GRU_BLOCKS = ("r", "z", "n")
#: A pre-activation shift that drives sigmoid to exactly 0 or 1 (and tanh to exactly ±1) in float64.
SATURATE = 1e4


# --------------------------------------------------------------------------- loading weights
def load_lstm_weights(lstm: torch.nn.Module, W_x, W_h, b) -> torch.nn.Module:
    """Copy course-layout weights (gate blocks i, f, g, o) into an ``nn.LSTM`` (layer 0) or
    ``nn.LSTMCell``; returns it."""
    return load_course_weights(lstm, W_x, W_h, b)


def torch_lstm(W_x, W_h, b, dtype=torch.float64) -> torch.nn.LSTM:
    """An ``nn.LSTM(batch_first=True)`` holding the course-layout weights ``W_x (D, 4H)``, ``W_h (H, 4H)``, ``b (4H,)``."""
    W_x, W_h, b = (torch.as_tensor(w, dtype=dtype) for w in (W_x, W_h, b))
    D, H = W_x.shape[0], W_h.shape[0]
    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=dtype, device=W_x.device)
    return load_lstm_weights(lstm, W_x, W_h, b)


def torch_gru_cell(W_x, W_h, b_x, b_h, dtype=torch.float64) -> torch.nn.GRUCell:
    """An ``nn.GRUCell`` holding ``W_x (D, 3H)``, ``W_h (H, 3H)``, ``b_x``, ``b_h (3H,)``."""
    W_x, W_h, b_x, b_h = (torch.as_tensor(w, dtype=dtype) for w in (W_x, W_h, b_x, b_h))
    cell = torch.nn.GRUCell(W_x.shape[0], W_h.shape[0], dtype=dtype, device=W_x.device)
    with torch.no_grad():
        for name, value in [("weight_ih", W_x.T), ("weight_hh", W_h.T), ("bias_ih", b_x), ("bias_hh", b_h)]:
            getattr(cell, name).copy_(value)
    return cell


# --------------------------------------------------------------------------- references
def sigmoid(x) -> np.ndarray:
    """The logistic function by ``torch.sigmoid`` (float64)."""
    return n(torch.sigmoid(t(np.asarray(x, dtype=np.float64))))


_CELLS: dict = {}


def _cell_for(D: int, H: int) -> torch.nn.LSTMCell:
    """A float64 ``nn.LSTMCell(D, H)``, reused (its weights are overwritten before every use)."""
    if (D, H) not in _CELLS:
        _CELLS[(D, H)] = torch.nn.LSTMCell(D, H, dtype=torch.float64, device="cpu")
    return _CELLS[(D, H)]


def lstm_step(x_t, h_prev, c_prev, W_x, W_h, b) -> tuple[np.ndarray, np.ndarray]:
    """One step ``(h_t, c_t)``, each ``(N, H)``, by ``nn.LSTMCell``."""
    cell = load_lstm_weights(_cell_for(np.shape(W_x)[0], np.shape(W_h)[0]), t(W_x), t(W_h), t(b))
    with torch.no_grad():
        h, c = cell(t(x_t), (t(h_prev), t(c_prev)))
    return n(h), n(c)


def lstm_forward(X, h0, c0, W_x, W_h, b) -> tuple[np.ndarray, np.ndarray]:
    """All hidden and cell states ``H, C (N, T, H)`` (h_1..h_T, c_1..c_T) by ``nn.LSTM(batch_first=True)``.

    ``nn.LSTM`` returns every h_t but only the last c_t, so it is run one step at a time,
    carrying its own state, to read every c_t.
    """
    lstm = torch_lstm(t(W_x), t(W_h), t(b))
    X = t(X)
    state = (t(h0)[None], t(c0)[None])  # nn.LSTM wants states as (num_layers=1, N, H)
    Hs, Cs = [], []
    with torch.no_grad():
        for s in range(X.shape[1]):
            out, state = lstm(X[:, s:s + 1], state)
            Hs.append(out[:, 0])
            Cs.append(state[1][0])
    N, Hdim = np.shape(h0)
    if not Hs:
        return np.zeros((N, 0, Hdim)), np.zeros((N, 0, Hdim))
    return n(torch.stack(Hs, 1)), n(torch.stack(Cs, 1))


def gru_step(x_t, h_prev, W_x, W_h, b_x, b_h) -> np.ndarray:
    """One GRU step ``(N, H)`` by ``nn.GRUCell``."""
    cell = torch_gru_cell(t(W_x), t(W_h), t(b_x), t(b_h))
    with torch.no_grad():
        return n(cell(t(x_t), t(h_prev)))


# --------------------------------------------------------------------------- altered weights
def _split(w, k: int) -> list[np.ndarray]:
    return np.split(np.asarray(w, dtype=np.float64), k, axis=-1)


def alter_gates(W_x, W_h, b, order=LSTM_GATES, scale=None, shift=None):
    """Copies of ``W_x, W_h, b`` with gate blocks rearranged, scaled or shifted.

    - ``order``: the block each gate reads, e.g. ``("i", "f", "o", "g")`` makes gate g read
      the o block and gate o the g block (a student who took the lecture's listing order);
    - ``scale``: ``{gate: factor}`` multiplies that gate's pre-activation;
    - ``shift``: ``{gate: value}`` adds to that gate's bias (``±SATURATE`` opens or shuts it).
    """
    scale, shift = scale or {}, shift or {}
    k = len(order)
    names = LSTM_GATES if k == 4 else GRU_BLOCKS
    blocks = [dict(zip(names, _split(w, k))) for w in (W_x, W_h, b)]
    out = []
    for which, parts in enumerate(blocks):
        cols = []
        for gate, source in zip(names, order):
            block = parts[source] * scale.get(gate, 1.0)
            if which == 2:
                block = block + shift.get(gate, 0.0)
            cols.append(block)
        out.append(np.concatenate(cols, axis=-1))
    return tuple(out)


def _order_label(order) -> str:
    got = ", ".join(order)
    return (f"the gate blocks are read in the order ({got}); PyTorch stacks them (i, f, g, o): "
            "i = columns [0, H), f = [H, 2H), g = [2H, 3H), o = [3H, 4H)")


def wrong_gate_orders():
    """Every permutation of (i, f, g, o) but the right one, the lecture's (i, f, o, g) first."""
    lecture = ("i", "f", "o", "g")
    others = [p for p in itertools.permutations(LSTM_GATES) if p not in (LSTM_GATES, lecture)]
    return [lecture] + others


@lazy_mistakes(parts=2)
def lstm_step_mistakes(x_t, h_prev, c_prev, W_x, W_h, b) -> tuple[dict, dict]:
    """What ``lstm_step`` returns under the usual slips: ``(mistakes for h_t, mistakes for c_t)``.

    Each dict maps a description naming the gate at fault to the value that mistake produces.
    """
    x_t, h_prev, c_prev, W_x, W_h, b = (np.asarray(a, dtype=np.float64) for a in (x_t, h_prev, c_prev, W_x, W_h, b))
    S = SATURATE

    def cell(c=c_prev, **alter):
        return lstm_step(x_t, h_prev, c, *alter_gates(W_x, W_h, b, **alter))

    h_true, c_true = cell()
    hm, cm = {}, {}

    def add(label, h, c):
        # a mistake that leaves c_t right is reported on h_t only, and vice versa
        if not np.allclose(c, c_true, rtol=1e-9, atol=1e-12):
            cm[label] = c
        if not np.allclose(h, h_true, rtol=1e-9, atol=1e-12):
            hm[label] = h

    def o_tanh(z):
        """o_t * tanh(z) for any z: the built-in with f open, i shut and z as the cell state."""
        return cell(c=z, shift={"f": S, "i": -S})[0]

    # wrong gate order
    for order in wrong_gate_orders():
        add(_order_label(order), *cell(order=order))
    # missing gates
    add("the forget gate is missing: c_t must be f_t * c_prev + i_t * g_t (got c_t = i_t * g_t)", *cell(shift={"f": -S}))
    add("the forget gate is not applied: c_t must be f_t * c_prev + i_t * g_t (got c_prev + i_t * g_t)", *cell(shift={"f": S}))
    add("the input gate is missing: the candidate g_t must be scaled by i_t", *cell(shift={"i": S}))
    add("the output gate is missing: h_t must be o_t * tanh(c_t)", *cell(shift={"o": S}))
    # h_t from the old cell state
    add("h_t is computed from c_prev: use the NEW cell state, h_t = o_t * tanh(c_t)", o_tanh(c_prev), c_true)
    # tanh where sigmoid belongs, gate by gate (tanh(a) = 2 sigmoid(2a) - 1)
    c_f = cell(c=2 * c_prev, scale={"f": 2.0})[1] - c_prev
    add("the forget gate f uses tanh: f, i and o use sigmoid (only g uses tanh)", o_tanh(c_f), c_f)
    f_c = cell(shift={"i": -S})[1]                          # f_t * c_prev
    g = cell(shift={"f": -S, "i": S})[1]                    # g_t
    c_i = 2 * cell(scale={"i": 2.0})[1] - f_c - g
    add("the input gate i uses tanh: f, i and o use sigmoid (only g uses tanh)", o_tanh(c_i), c_i)
    h_o = 2 * cell(scale={"o": 2.0})[0] - cell(shift={"o": S})[0]
    add("the output gate o uses tanh: f, i and o use sigmoid (only g uses tanh)", h_o, c_true)
    c_all = 2 * cell(scale={"f": 2.0, "i": 2.0})[1] - c_prev - g
    h_all = 2 * cell(c=c_all, shift={"f": S, "i": -S}, scale={"o": 2.0})[0] - np.tanh(c_all)
    add("every gate uses tanh: f, i and o use sigmoid (values in (0, 1)), only g uses tanh", h_all, c_all)
    # sigmoid where tanh belongs (sigmoid(a) = (1 + tanh(a / 2)) / 2)
    i = cell(shift={"f": -S, "g": S})[1]                    # i_t
    c_g = (f_c + i + cell(scale={"g": 0.5})[1]) / 2
    add("the candidate g uses sigmoid: g uses tanh (values in (-1, 1))", o_tanh(c_g), c_g)
    # h_t without the tanh of c_t
    o = cell(c=np.full_like(c_prev, S), shift={"f": S, "i": -S})[0]   # o_t * tanh(S) = o_t
    add("the tanh of the cell state is missing: h_t = o_t * tanh(c_t)", o * c_true, c_true)
    add("tanh was applied to the new cell state: c_t = f_t * c_prev + i_t * g_t as it is (the tanh belongs in h_t)",
        o_tanh(np.tanh(c_true)), np.tanh(c_true))
    # inputs
    add("the bias b is missing", *lstm_step(x_t, h_prev, c_prev, W_x, W_h, 0 * b))
    if W_x.shape == W_h.shape:
        add("W_x and W_h are swapped", *lstm_step(x_t, h_prev, c_prev, W_h, W_x, b))
    add("h_prev is ignored", *lstm_step(x_t, 0 * h_prev, c_prev, W_x, W_h, b))
    # returned in the wrong order
    hm["h_t and c_t are swapped: return (h_t, c_t)"] = c_true
    cm["h_t and c_t are swapped: return (h_t, c_t)"] = h_true
    return hm, cm


@lazy_mistakes(parts=2)
def lstm_forward_mistakes(X, h0, c0, W_x, W_h, b) -> tuple[dict, dict]:
    """What ``lstm_forward`` returns under the usual slips: ``(mistakes for H, mistakes for C)``."""
    X, h0, c0, W_x, W_h, b = (np.asarray(a, dtype=np.float64) for a in (X, h0, c0, W_x, W_h, b))
    H, C = lstm_forward(X, h0, c0, W_x, W_h, b)
    Hm, Cm = {}, {}

    def add(label, Hx, Cx):
        if Cx.shape != C.shape or not np.allclose(Cx, C, rtol=1e-9, atol=1e-12):
            Cm[label] = Cx
        if Hx.shape != H.shape or not np.allclose(Hx, H, rtol=1e-9, atol=1e-12):
            Hm[label] = Hx

    T = X.shape[1]
    add("H and C include h_0 and c_0: they hold steps 1..T only, shape (N, T, H)",
        np.concatenate([h0[:, None], H], 1), np.concatenate([c0[:, None], C], 1))
    add("H and C hold steps 0..T-1: store each new state after computing it",
        np.concatenate([h0[:, None], H[:, :-1]], 1), np.concatenate([c0[:, None], C[:, :-1]], 1))
    steps = [lstm_step(X[:, s], h0, c0, W_x, W_h, b) for s in range(T)]
    add("the state is not carried over: every step starts from (h0, c0)",
        np.stack([s[0] for s in steps], 1), np.stack([s[1] for s in steps], 1))
    h, Hc, Cc = h0, [], []
    for s in range(T):     # the hidden state is carried, the cell state is not
        h, c = lstm_step(X[:, s], h, c0, W_x, W_h, b)
        Hc.append(h)
        Cc.append(c)
    if T:
        add("the cell state is not carried over: every step starts from c0", np.stack(Hc, 1), np.stack(Cc, 1))
    c, Hh, Ch = c0, [], []
    for s in range(T):     # the cell state is carried, the hidden state is not
        h, c = lstm_step(X[:, s], h0, c, W_x, W_h, b)
        Hh.append(h)
        Ch.append(c)
    if T:
        add("the hidden state is not carried over: every step reads h0 instead of the previous h_t",
            np.stack(Hh, 1), np.stack(Ch, 1))
    for order in wrong_gate_orders()[:6]:
        add(_order_label(order), *lstm_forward(X, h0, c0, *alter_gates(W_x, W_h, b, order=order)))
    add("the forget gate is missing: c_t must be f_t * c_prev + i_t * g_t",
        *lstm_forward(X, h0, c0, *alter_gates(W_x, W_h, b, shift={"f": -SATURATE})))
    add("the forget gate is not applied: c_t must be f_t * c_prev + i_t * g_t (got c_prev + i_t * g_t)",
        *lstm_forward(X, h0, c0, *alter_gates(W_x, W_h, b, shift={"f": SATURATE})))
    add("the bias b is missing", *lstm_forward(X, h0, c0, W_x, W_h, 0 * b))
    add("the bias b is added twice (once with the inputs, once in the step): add it once", *lstm_forward(X, h0, c0, W_x, W_h, 2 * b))
    h, c, Hs, Cs = h0, c0, [], []
    late = "h_t is computed from c_prev: use the NEW cell state, h_t = o_t * tanh(c_t)"
    for s in range(T):      # each step's h from the old cell state, fed to the next step
        h, c = lstm_step_mistakes(X[:, s], h, c, W_x, W_h, b)[0][late], lstm_step(X[:, s], h, c, W_x, W_h, b)[1]
        Hs.append(h)
        Cs.append(c)
    if T:
        add(late, np.stack(Hs, 1), np.stack(Cs, 1))
    Hm["H and C are swapped: return (H, C)"] = C
    Cm["H and C are swapped: return (H, C)"] = H
    if T:
        add("only the last states are returned: H and C hold every step 1..T, shape (N, T, H)", H[:, -1], C[:, -1])
    add("the states were made as (1, N, H), the layout of nn.LSTM: the course's states are (N, H), so H is (N, T, H)",
        np.swapaxes(H, 0, 1)[None], np.swapaxes(C, 0, 1)[None])
    return Hm, Cm


@lazy_mistakes(parts=2)
def module_mistakes(model, X, state=None) -> tuple[dict, dict]:
    """``lstm_forward_mistakes`` for a course ``LSTM`` module and tensor inputs:
    ``(mistakes for H, mistakes for c_T)``; empty when the weights are not in the course layout."""
    W_x, W_h, b = (w.detach().cpu().numpy() for w in (model.W_x, model.W_h, model.b))
    X = X.detach().cpu().numpy()
    if W_x.shape[0] != X.shape[-1]:
        return {}, {}
    N, Hd = X.shape[0], W_h.shape[0]
    h0, c0 = ((s.detach().cpu().numpy() for s in state) if state is not None
              else (np.zeros((N, Hd)), np.zeros((N, Hd))))
    Hm, Cm = lstm_forward_mistakes(X, h0, c0, W_x, W_h, b)
    return Hm, {label: C[:, -1] for label, C in Cm.items() if C.ndim == 3 and C.shape[1]}


@lazy_mistakes
def parameter_shape_mistakes(input_size: int, hidden_size: int) -> dict:
    """``{name: shape}`` of the LSTM's parameters under the usual slips."""
    D, H = input_size, hidden_size
    return {"the weights are stored as PyTorch stores them, transposed: the course uses W_x (D, 4H) and "
            "W_h (H, 4H), so that x_t @ W_x works": {"W_x": (4 * H, D), "W_h": (4 * H, H), "b": (4 * H,)}}


@lazy_mistakes
def gru_step_mistakes(x_t, h_prev, W_x, W_h, b_x, b_h) -> dict:
    """What ``gru_step`` returns under the usual slips, each made by altering the built-in's weights."""
    x_t, h_prev, W_x, W_h, b_x, b_h = (np.asarray(a, dtype=np.float64) for a in (x_t, h_prev, W_x, W_h, b_x, b_h))
    S = SATURATE
    out = {}
    true = gru_step(x_t, h_prev, W_x, W_h, b_x, b_h)

    def add(label, value):
        if not np.allclose(value, true, rtol=1e-9, atol=1e-12):
            out[label] = value

    def blocks(w):
        return dict(zip(GRU_BLOCKS, _split(w, 3)))

    def join(parts):
        return np.concatenate([parts[k] for k in GRU_BLOCKS], axis=-1)

    def altered(order=GRU_BLOCKS, negate=(), shift_x=None, zero_h=()):
        ws = []
        for which, w in enumerate((W_x, W_h, b_x, b_h)):
            p = blocks(w)
            p = {k: p[src] for k, src in zip(GRU_BLOCKS, order)}
            p = {k: -v if k in negate else v for k, v in p.items()}
            if which == 2:
                p = {k: v + (shift_x or {}).get(k, 0.0) for k, v in p.items()}
            if which == 3:
                p = {k: 0 * v if k in zero_h else v for k, v in p.items()}
            ws.append(join(p))
        return gru_step(x_t, h_prev, *ws)

    # z and 1 - z swapped: negating z's pre-activation turns z into 1 - z
    add("z and 1 - z are swapped: h_t = (1 - z) * n + z * h_prev, so z = 1 keeps the old state", altered(negate=("z",)))
    add("the blocks are read as (z, r, n); PyTorch stacks them (r, z, n)", altered(order=("z", "r", "n")))
    for order in [("n", "z", "r"), ("r", "n", "z"), ("z", "n", "r"), ("n", "r", "z")]:
        add(f"the blocks are read as ({', '.join(order)}); PyTorch stacks them (r, z, n)", altered(order=order))
    add("the reset gate is missing: n = tanh(x W_xn + b_xn + r * (h_prev W_hn + b_hn))", altered(shift_x={"r": S}))
    b_hn_only = join({k: v if k == "n" else 0 * v for k, v in blocks(b_h).items()})   # (3H,): b_hn, zeros elsewhere
    add("b_hn is added outside the reset gate: it belongs inside r * (h_prev W_hn + b_hn)",
        gru_step(x_t, h_prev, W_x, W_h, b_x + b_hn_only, b_h - b_hn_only))
    # the original paper's form, n = tanh(x W_xn + b_xn + (r * h_prev) W_hn + b_hn): the built-in
    # with r forced open and z shut gives n for the input r * h_prev; r and z come from the weights
    rx, zx, _ = _split(x_t @ W_x + b_x, 3)
    rh, zh, _ = _split(h_prev @ W_h + b_h, 3)
    r, z = sigmoid(rx + rh), sigmoid(zx + zh)
    open_r_shut_z = b_x + np.concatenate([np.full_like(r[0], S), np.full_like(r[0], -S), 0 * r[0]])
    n_paper = gru_step(x_t, r * h_prev, W_x, W_h, open_r_shut_z, b_h)
    add("the reset gate multiplies h_prev before W_hn (the original paper's form); PyTorch applies it "
        "after: r * (h_prev W_hn + b_hn)", (1 - z) * n_paper + z * h_prev)
    ah_n = _split(h_prev @ W_h + b_h, 3)[2]
    ax_n = _split(x_t @ W_x + b_x, 3)[2]
    add("the reset gate multiplies the input part: it multiplies the hidden part, "
        "n = tanh(x W_xn + b_xn + r * (h_prev W_hn + b_hn))", (1 - z) * np.tanh(r * ax_n + ah_n) + z * h_prev)
    rx_, zx_, nx_ = _split(x_t @ W_x + b_x, 3)
    rh_, zh_, nh_ = _split(h_prev @ W_h + b_h, 3)
    z_tanh = np.tanh(zx_ + zh_)
    add("the update gate z uses tanh: r and z use sigmoid, only n uses tanh",
        (1 - z_tanh) * np.tanh(nx_ + r * nh_) + z_tanh * h_prev)
    add("b_h is left out of r and z: each gate adds both biases, r = sigmoid(x W_xr + b_xr + h_prev W_hr + b_hr)",
        (1 - sigmoid(zx_ + zh_ - _split(b_h, 3)[1])) * np.tanh(nx_ + sigmoid(rx_ + rh_ - _split(b_h, 3)[0]) * nh_)
        + sigmoid(zx_ + zh_ - _split(b_h, 3)[1]) * h_prev)
    add("the reset gate r uses tanh: r and z use sigmoid, only n uses tanh",
        (1 - z) * np.tanh(nx_ + np.tanh(rx_ + rh_) * nh_) + z * h_prev)
    add("the hidden bias b_h is ignored", gru_step(x_t, h_prev, W_x, W_h, b_x, 0 * b_h))
    add("the input bias b_x is ignored", gru_step(x_t, h_prev, W_x, W_h, 0 * b_x, b_h))
    if W_x.shape == W_h.shape:
        add("W_x and W_h are swapped", gru_step(x_t, h_prev, W_h, W_x, b_x, b_h))
    return out


@lazy_mistakes
def sigmoid_mistakes(x) -> dict:
    """Values a student's ``sigmoid`` gives under the usual slips, by built-ins on altered inputs."""
    x = np.asarray(x, dtype=np.float64)
    out = {
        "the minus sign is missing: sigmoid(x) = 1 / (1 + exp(-x))": sigmoid(-x),
        "this is tanh, not the sigmoid (tanh has range (-1, 1), sigmoid (0, 1))": n(torch.tanh(t(x))),
        "(1 + tanh(x)) / 2 is sigmoid(2x): the half belongs inside, sigmoid(x) = (1 + tanh(x / 2)) / 2": sigmoid(2 * x),
    }
    with np.errstate(over="ignore"):
        flipped_overflow = np.exp(-x) == np.inf
    if flipped_overflow.any():
        out["exp(-x) / (1 + exp(-x)) is sigmoid(-x), and it overflows for very negative x: sigmoid(x) = "
            "1 / (1 + exp(-x)), or exp(x) / (1 + exp(x)) for negative x"] = np.where(flipped_overflow, np.nan, sigmoid(-x))
    with np.errstate(over="ignore"):
        overflows = np.exp(x) == np.inf
    if overflows.any():
        out["exp(x) overflows for large x (inf / inf is NaN): never take exp of a large positive number, "
            "e.g. use exp(-|x|) and pick the form by the sign of x"] = np.where(overflows, np.nan, sigmoid(x))
    for lim in (5.0, 10.0, 15.0):  # clipping at 20 or more is harmless in float64
        out[f"the input is clipped to [-{lim:g}, {lim:g}]: sigmoid({x.max():g}) must be 1.0 to float64 precision"] = sigmoid(np.clip(x, -lim, lim))
    return out
