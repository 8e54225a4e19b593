"""Tests of the tests for 04-gradients: the solution gets full marks, the stubs get none,
students' mistakes lose points and correct alternatives keep them."""
import numpy as np
import pytest
import torch

from tests.chapters.standard import solution_run, standard_tests
from tests.harness import Mistake

A = "04-gradients"

MISTAKES = {
    "hidden_jacobian": {
        "W_hh not transposed (the lecture's column-form W_hh copied into row-form code)": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return (1 - h_t ** 2)[:, :, None] * W_hh[None]
""", hint='W_hh is not transposed'),
        "diag(1 - h²) on the wrong side": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return W_hh.T[None] * (1 - h_t ** 2)[:, None, :]
""", hint='wrong side'),
        "tanh derivative missing": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return np.repeat(W_hh.T[None], h_t.shape[0], axis=0)
""", hint='1 - h_t² is missing'),
        "1 - h instead of 1 - h²": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return (1 - h_t)[:, :, None] * W_hh.T[None]
""", hint='written 1 - h_t'),
        "tanh applied again: 1 - tanh(h_t)²": Mistake("""
def hidden_jacobian(h_t, W_hh):
    return (1 - np.tanh(h_t) ** 2)[:, :, None] * W_hh.T[None]
""", hint='tanh was applied to h_t again'),
    },
    "gradient_norms_through_time": {
        "reversed order (entry 0 is h_T)": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.linalg.norm(dh_T)]
    for s in range(H.shape[1] - 1, 0, -1):
        g = np.einsum("ni,nij->nj", g, hidden_jacobian(H[:, s], W_hh))
        out.append(np.linalg.norm(g))
    return np.array(out)
""", hint='reversed'),
        "W_hh not transposed in the backward step": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.linalg.norm(dh_T)]
    for s in range(H.shape[1] - 1, 0, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh
        out.append(np.linalg.norm(g))
    return np.array(out[::-1])
""", hint='W_hh is not transposed'),
        "derivative taken at h_{t-1} (off by one step)": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.linalg.norm(dh_T)]
    for s in range(H.shape[1] - 1, 0, -1):
        g = np.einsum("ni,nij->nj", g, hidden_jacobian(H[:, s - 1], W_hh))
        out.append(np.linalg.norm(g))
    return np.array(out[::-1])
""", hint='taken at h_{t-1}'),
        "per-sequence norms averaged over the batch": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.linalg.norm(dh_T, axis=1).mean()]
    for s in range(H.shape[1] - 1, 0, -1):
        g = np.einsum("ni,nij->nj", g, hidden_jacobian(H[:, s], W_hh))
        out.append(np.linalg.norm(g, axis=1).mean())
    return np.array(out[::-1])
""", hint='averaged'),
        "T + 1 entries (a norm for h_0 too)": Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.linalg.norm(dh_T)]
    for s in range(H.shape[1] - 1, -1, -1):
        g = np.einsum("ni,nij->nj", g, hidden_jacobian(H[:, s], W_hh))
        out.append(np.linalg.norm(g))
    return np.array(out[::-1])
""", hint='one norm too many'),
    },
    "clip_grad_norm": {
        "the lecture's snippet: squared norm compared and divided by": Mistake("""
def clip_grad_norm(grads, max_norm):
    grad_norm = sum(np.sum(g * g) for g in grads)
    if grad_norm > max_norm:
        return [g * (max_norm / grad_norm) for g in grads], float(np.sqrt(grad_norm))
    return [g.copy() for g in grads], float(np.sqrt(grad_norm))
""", hint='SQUARED norm'),
        "each array clipped by its own norm": Mistake("""
def clip_grad_norm(grads, max_norm):
    out = []
    for g in grads:
        n = np.linalg.norm(g)
        out.append(g * min(1.0, max_norm / (n + 1e-6)))
    return out, float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
""", hint='its own norm'),
        "scales up small gradients (no min(1, ...))": Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    return [g * (max_norm / (total + 1e-6)) for g in grads], total
""", hint='scaled UP'),
        "modifies the inputs in place": Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    for g in grads:
        g *= min(1.0, max_norm / (total + 1e-6))
    return grads, total
""", hint='in place'),
        "returns the norm after clipping": Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    out = [g * min(1.0, max_norm / (total + 1e-6)) for g in grads]
    return out, float(np.sqrt(sum(np.sum(g ** 2) for g in out)))
""", hint='AFTER clipping'),
    },
    "clip_grad_value": {
        "only the upper bound": Mistake("""
def clip_grad_value(grads, clip_value):
    return [np.minimum(g, clip_value) for g in grads]
""", hint='only the upper bound'),
        "modifies the inputs in place": Mistake("""
def clip_grad_value(grads, clip_value):
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)
    return grads
""", hint=('in place', 'new array')),
        "clips by norm instead of by value": Mistake("""
def clip_grad_value(grads, clip_value):
    total = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    return [g * min(1.0, clip_value / (total + 1e-6)) for g in grads]
""", hint='clipped by norm'),
        "one concatenated array instead of a list": Mistake("""
def clip_grad_value(grads, clip_value):
    return np.clip(np.concatenate([g.ravel() for g in grads]), -clip_value, clip_value)
""", hint='one array per gradient'),
    },
    "clip_grad_norm_torch": {
        "the lecture's snippet: squared norm": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    params = [p for p in parameters if p.grad is not None]
    sq = sum((p.grad ** 2).sum() for p in params)
    if sq > max_norm:
        for p in params:
            p.grad.mul_(max_norm / sq)
    return sq.sqrt()
""", hint='SQUARED norm'),
        "generator used twice (the second pass clips nothing)": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in parameters if p.grad is not None))
    for p in parameters:
        if p.grad is not None:
            p.grad.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", hint=('in place', 'generator is empty')),
        "not in place (rebinds a local name)": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g = g * torch.clamp(max_norm / (total + 1e-6), max=1.0)
    return total
""", hint=('in place', 'generator is empty')),
        "accumulator created on the default device": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.zeros(())
    for g in grads:
        total = total + (g ** 2).sum()
    total = total.sqrt()
    for g in grads:
        g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", hint='device='),
        "norm rebuilt with torch.tensor(total.item())": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return torch.tensor(total.item())
""", hint="device="),
        "returns a Python float": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))
    for g in grads:
        g.mul_(min(1.0, max_norm / (total + 1e-6)))
    return total
""", caught_by=("test_clip_grad_norm_torch_visible", "test_clip_grad_norm_torch_hidden"), hint='as a tensor'),
    },
}

# Not the student's own work: the first line of every test cell of the function says so.
MISTAKES["clip_grad_norm_torch"]["calls the built-in clip_grad_norm_"] = Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
""", hint="re-implements")
MISTAKES["clip_grad_norm"]["calls the course's reference answer"] = Mistake("""
def clip_grad_norm(grads, max_norm):
    return oracle.clip_grad_norm(grads, max_norm)
""", hint="reference")

# Issue 19, held-out batch A: mistakes written before the messages that name them were tuned
MISTAKES["hidden_jacobian"].update({
    'np.diag on the whole batch': Mistake("""
def hidden_jacobian(h_t, W_hh):
    return np.diag(1 - h_t ** 2) @ W_hh.T
""", hint='np.diag'),
    'only the first sequence': Mistake("""
def hidden_jacobian(h_t, W_hh):
    return np.diag(1 - h_t[0] ** 2) @ W_hh.T
""", hint='batch'),
})
MISTAKES["gradient_norms_through_time"].update({
    'norm per hidden unit (axis=0)': Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.linalg.norm(dh_T, axis=0)]
    for s in range(H.shape[1] - 1, 0, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh.T
        out.append(np.linalg.norm(g, axis=0))
    return np.array(out[::-1])
""", hint='Frobenius'),
})
MISTAKES["clip_grad_norm"].update({
    'np.linalg.norm(grads) on a list of arrays of different shapes': Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.linalg.norm(grads))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads], total
""", hint='different shapes'),
    'returns (total_norm, clipped)': Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    return total, [g * min(1.0, max_norm / (total + 1e-6)) for g in grads]
""", hint='order'),
})
MISTAKES["clip_grad_value"].update({
    'clips the absolute value (signs lost)': Mistake("""
def clip_grad_value(grads, clip_value):
    return [np.minimum(np.abs(g), clip_value) for g in grads]
""", hint='sign'),
})
MISTAKES["clip_grad_norm_torch"].update({
    'norm from Python floats, returned with torch.tensor': Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = sum(float((g ** 2).sum()) for g in grads) ** 0.5
    for g in grads:
        g.mul_(min(1.0, max_norm / (total + 1e-6)))
    return torch.tensor(total)
""", hint='device'),
    'scales the weights (p.data) instead of the gradients': Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    params = [p for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in params))
    for p in params:
        p.data.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", hint='p.grad'),
    'torch.stack of gradients of different shapes': Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.stack(grads).norm()
    for g in grads:
        g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", hint='different shapes'),
    "accumulator in float64 whatever the gradients' dtype": Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.zeros((), dtype=torch.float64, device=grads[0].device)
    for g in grads:
        total = total + (g ** 2).sum()
    total = total.sqrt()
    for g in grads:
        g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", caught_by=('test_clip_grad_norm_torch_hidden',), hint='dtype'),
})

# Issue 19, held-out batch B: mistakes written before the messages that name them were tuned
MISTAKES["hidden_jacobian"].update({
    'h_t**2 instead of 1 - h_t**2': Mistake("""
def hidden_jacobian(h_t, W_hh):
    return (h_t ** 2)[:, :, None] * W_hh.T[None]
""", hint='1 - h_t'),
})
MISTAKES["gradient_norms_through_time"].update({
    'one step short: the loop stops before h_1': Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    T = H.shape[1]
    norms = np.zeros(T)
    g = dh_T
    norms[-1] = np.linalg.norm(g)
    for s in range(T - 1, 1, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh.T
        norms[s - 1] = np.linalg.norm(g)
    return norms
""", hint='h_1'),
    'per-sequence norms summed': Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g, out = dh_T, [np.linalg.norm(dh_T, axis=1).sum()]
    for s in range(H.shape[1] - 1, 0, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh.T
        out.append(np.linalg.norm(g, axis=1).sum())
    return np.array(out[::-1])
""", hint='summed'),
})
MISTAKES["clip_grad_norm"].update({
    'squares the sums instead of summing the squares': Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g) ** 2 for g in grads)))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads], total
""", hint='square'),
})
MISTAKES["clip_grad_value"].update({
    'returns a tuple': Mistake("""
def clip_grad_value(grads, clip_value):
    return tuple(np.clip(g, -clip_value, clip_value) for g in grads)
""", hint='list'),
})
MISTAKES["clip_grad_norm_torch"].update({
    'parameters without .grad not skipped when scaling': Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    params = list(parameters)
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in params if p.grad is not None))
    for p in params:
        p.grad.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
""", caught_by=('test_clip_grad_norm_torch_hidden',), hint='None'),
})

# Issue 19, held-out batch C: mistakes written before the messages that name them were tuned
MISTAKES["hidden_jacobian"].update({
    '1 / cosh(h_t)**2 (the derivative at h_t, not at a)': Mistake("""
def hidden_jacobian(h_t, W_hh):
    return (1 / np.cosh(h_t) ** 2)[:, :, None] * W_hh.T[None]
""", hint='tanh'),
})
MISTAKES["gradient_norms_through_time"].update({
    'starts from ones instead of dh_T': Mistake("""
def gradient_norms_through_time(H, W_hh, dh_T):
    g = np.ones_like(dh_T)
    out = [np.linalg.norm(g)]
    for s in range(H.shape[1] - 1, 0, -1):
        g = (g * (1 - H[:, s] ** 2)) @ W_hh.T
        out.append(np.linalg.norm(g))
    return np.array(out[::-1])
""", hint='dh_T'),
})
MISTAKES["clip_grad_norm"].update({
    'the L1 norm': Mistake("""
def clip_grad_norm(grads, max_norm):
    total = float(sum(np.abs(g).sum() for g in grads))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads], total
""", hint='L1'),
})
MISTAKES["clip_grad_value"].update({
    'returns a generator': Mistake("""
def clip_grad_value(grads, clip_value):
    return (np.clip(g, -clip_value, clip_value) for g in grads)
""", hint='list'),
})
MISTAKES["clip_grad_norm_torch"].update({
    'factor clamped with min=1 (never scales down)': Mistake("""
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g.mul_(torch.clamp(max_norm / (total + 1e-6), min=1.0))
    return total
""", hint='max=1'),
})

ALTERNATIVES = {
    "hidden_jacobian": """
def hidden_jacobian(h_t, W_hh):
    return np.einsum("ni,ji->nij", 1 - h_t * h_t, W_hh)
""",
    "gradient_norms_through_time": """
def gradient_norms_through_time(H, W_hh, dh_T):
    N, T, Hn = H.shape
    grads = np.zeros((T, N, Hn))
    grads[T - 1] = dh_T
    for t in reversed(range(1, T)):
        grads[t - 1] = (grads[t] * (1 - H[:, t] ** 2)) @ W_hh.T
    return np.sqrt((grads ** 2).sum(axis=(1, 2)))
""",
    "clip_grad_norm": """
def clip_grad_norm(grads, max_norm):
    total = np.linalg.norm(np.concatenate([g.ravel() for g in grads])) if grads else 0.0
    if total > max_norm:
        return [g * (max_norm / (total + 1e-6)) for g in grads], total
    return [g.copy() for g in grads], total
""",
    "clip_grad_value": """
def clip_grad_value(grads, clip_value):
    return [np.where(g > clip_value, clip_value, np.where(g < -clip_value, -clip_value, g)).astype(g.dtype)
            for g in grads]
""",
    "clip_grad_norm_torch": """
def clip_grad_norm_torch(parameters, max_norm):
    grads = [p.grad for p in list(parameters) if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef
    return total
""",
}


CONTRACT = ["hidden_jacobian", "gradient_norms_through_time", "clip_grad_norm", "clip_grad_value",
            "clip_grad_norm_torch"]
globals().update(standard_tests(A, CONTRACT, MISTAKES, ALTERNATIVES))


def test_notebook_reproduces_the_lectures_numbers():
    stdout = solution_run(A).stdout
    assert "w = 1.01: ‖dL/dh_1‖ = 2.096e+04" in stdout  # 1.01**1000 from gradient_norms_through_time
    assert "w = 0.99: ‖dL/dh_1‖ = 4.317e-05" in stdout


@pytest.mark.gpu
def test_clip_grad_norm_torch_on_cuda_matches_the_built_in():
    """The solution's clipping runs on CUDA gradients and equals torch.nn.utils.clip_grad_norm_."""
    from seqlab.oracles.gradients import copy_with_grads

    ns = solution_run(A).namespace
    torch.manual_seed(0)
    for dtype in (torch.float64, torch.float32):
        model = torch.nn.LSTM(5, 7, batch_first=True).to(device="cuda", dtype=dtype)
        model(torch.randn(3, 4, 5, device="cuda", dtype=dtype))[0].pow(2).sum().mul(10).backward()
        reference = copy_with_grads(model)
        want = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        got = ns["clip_grad_norm_torch"](model.parameters(), 0.5)
        assert got.device == want.device and got.dtype == want.dtype
        tol = dict(rtol=1e-12, atol=0) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(got, want, **tol)
        for p, q in zip(model.parameters(), reference.parameters()):
            torch.testing.assert_close(p.grad, q.grad, **tol)


@pytest.mark.gpu
def test_oracle_jacobian_on_cuda_states_matches_autograd():
    """The notebook's NumPy functions fed with states computed by nn.RNN on CUDA."""
    from seqlab.oracles import gradients as oracle

    ns = solution_run(A).namespace
    torch.manual_seed(1)
    rnn = torch.nn.RNN(6, 5, batch_first=True, dtype=torch.float64, device="cuda")
    with torch.no_grad():
        H = rnn(torch.randn(4, 9, 6, dtype=torch.float64, device="cuda"))[0].cpu().numpy()
    W_hh = rnn.weight_hh_l0.detach().T.cpu().numpy()
    dh_T = np.ones((4, 5))
    np.testing.assert_allclose(ns["hidden_jacobian"](H[:, 3], W_hh), oracle.hidden_jacobian(H[:, 3], W_hh),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ns["gradient_norms_through_time"](H, W_hh, dh_T),
                               oracle.gradient_norms_through_time(H, W_hh, dh_T), rtol=1e-10)
