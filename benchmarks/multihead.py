"""Benchmark: the course's hand-written ``MultiHeadAttention`` (chapter 08) against
``torch.nn.MultiheadAttention`` holding the same weights, on the CPU and, when there is one, a GPU.

The solution is loaded by executing the chapter's source notebook (``tests.harness.run_notebook``,
training cells skipped). Prints one small markdown table of times and ratios (hand-written time
divided by built-in time: > 1 means the hand-written module is slower), from one run of well
under a minute. Never asserts timings.

Usage: python benchmarks/multihead.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from seqlab.oracles import transformer as oracle
from tests.harness import run_notebook, source_notebook

A = "08-transformer"
# (N, T, D, n_heads): a small training batch and a longer sequence
SHAPES = [(32, 64, 128, 8), (8, 256, 256, 8)]


def load_solution():
    run = run_notebook(source_notebook(A), hidden=False, skip_tags=("long-experiment",))
    return run.namespace["MultiHeadAttention"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_pair_ms(fn_a, fn_b, device: torch.device, budget_s: float = 2.0) -> tuple[float, float, float]:
    """Median milliseconds of ``fn_a()`` and ``fn_b()`` and the median of their per-repeat ratio.

    The two are timed alternately, so that both see the same machine load (CI machines are shared)."""
    for _ in range(3):  # warm-up
        fn_a()
        fn_b()
    _sync(device)

    def once(fn):
        start = time.perf_counter()
        fn()
        _sync(device)
        return time.perf_counter() - start

    first = once(fn_a) + once(fn_b)
    repeats = max(5, min(60, int(budget_s / max(first, 1e-6))))
    pairs = [(once(fn_a), once(fn_b)) for _ in range(repeats)]
    a, b = zip(*pairs)
    return 1e3 * statistics.median(a), 1e3 * statistics.median(b), statistics.median(x / y for x, y in pairs)


def bench(MultiHeadAttention, device: torch.device, N: int, T: int, D: int, n_heads: int) -> dict:
    torch.manual_seed(0)
    ours = MultiHeadAttention(D, n_heads).to(device)
    builtin = oracle.torch_multihead_like(ours, n_heads)      # same weights, same device, float32
    X = torch.randn(N, T, D, device=device)
    causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
    blocked = ~causal                                          # the built-in's convention

    def fwd_ours():
        with torch.no_grad():
            ours(X, X, causal)

    def fwd_builtin(need_weights):
        def run():
            with torch.no_grad():
                builtin(X, X, X, attn_mask=blocked, need_weights=need_weights, average_attn_weights=False)
        return run

    def train_ours():
        out, _ = ours(X, X, causal)
        out.sum().backward()

    def train_builtin():
        out, _ = builtin(X, X, X, attn_mask=blocked, need_weights=True, average_attn_weights=False)
        out.sum().backward()

    ours_ms, _, fwd = time_pair_ms(fwd_ours, fwd_builtin(True), device)
    _, _, fwd_sdpa = time_pair_ms(fwd_ours, fwd_builtin(False), device)
    _, _, train = time_pair_ms(train_ours, train_builtin, device)
    return {"ours ms": ours_ms, "forward": fwd, "forward sdpa": fwd_sdpa, "train": train}


def main() -> None:
    MultiHeadAttention = load_solution()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"))
    print()
    print("| device | N, T, D, heads | forward: ours / built-in | forward: ours / built-in without weights (SDPA) "
          "| forward + backward: ours / built-in | ours forward (ms) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for device in devices:
        for N, T, D, h in SHAPES:
            t = bench(MultiHeadAttention, device, N, T, D, h)
            print(f"| {device.type} | {N}, {T}, {D}, {h} | {t['forward']:.2f} | {t['forward sdpa']:.2f} "
                  f"| {t['train']:.2f} | {t['ours ms']:.2f} |")


if __name__ == "__main__":
    main()
