"""Chapter 06 benchmark: the course's hand-written self-attention against PyTorch's fused one.

Times ``self_attention_torch`` from the solution notebook of 06-self-attention (loaded by
executing that notebook, so this file holds no copy of the answer) against the same layer built
from ``torch.nn.functional.scaled_dot_product_attention``: the same three projections, then the
fused kernel. Both get a causal mask, float32, batch N = 8, width D = d_k = d_v = 64. The
hand-written layer also returns its (N, T, T) weights, which it has to materialise anyway; the
fused kernel never does.

One run, on the CPU and (when there is one) on CUDA; prints a markdown table of the best times
and of the ratio hand-written / built-in, for the README. Takes well under a minute on 2 cores.

    python benchmarks/attention.py              # PyTorch's default number of CPU threads
    python benchmarks/attention.py --threads 1  # one CPU thread: steadier on a busy machine
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402 - after the repository joins sys.path
import torch.nn.functional as F  # noqa: E402 - after the repository joins sys.path

from tests.harness import run_notebook, source_notebook  # noqa: E402 - after the repository joins sys.path

N, D = 8, 64
LENGTHS = (64, 256, 1024)


def load_solution():
    """``self_attention_torch`` as the solution notebook defines it."""
    run = run_notebook(source_notebook("06-self-attention"), hidden=False, skip_tags=("long-experiment",))
    return run.namespace["self_attention_torch"]


def builtin_layer(X, W_q, W_k, W_v, mask):
    Q, K, V = (F.linear(X, W.T) for W in (W_q, W_k, W_v))
    return F.scaled_dot_product_attention(Q, K, V, attn_mask=mask)


def paired_times(fn_a, fn_b, device, rounds=15, budget_s=4.0):
    """Best wall time (seconds) of ``fn_a()`` and of ``fn_b()``, measured in alternation.

    The minimum over rounds, not the mean: on a shared machine other processes only ever add
    time, and alternating the two keeps slow phases of the machine from favouring one side.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for fn in (fn_a, fn_b, fn_a, fn_b):  # warm-up (allocator, kernel selection, thread pool)
        fn()
        sync()
    best = [float("inf"), float("inf")]
    start = time.perf_counter()
    for r in range(rounds):
        for i, fn in enumerate((fn_a, fn_b)):
            t0 = time.perf_counter()
            fn()
            sync()
            best[i] = min(best[i], time.perf_counter() - t0)
        if r >= 2 and time.perf_counter() - start > budget_s:
            break
    return best


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    mine = load_solution()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        g = torch.Generator(device=device).manual_seed(0)
        for T in LENGTHS:
            X = torch.randn(N, T, D, generator=g, device=device)
            W = [torch.randn(D, D, generator=g, device=device) / D ** 0.5 for _ in range(3)]
            mask = torch.ones(T, T, dtype=torch.bool, device=device).tril()
            with torch.no_grad():
                out, _ = mine(X, *W, mask=mask)
                ref = builtin_layer(X, *W, mask)
                torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)  # same layer, or no timing
                t_mine, t_ref = paired_times(lambda: mine(X, *W, mask=mask), lambda: builtin_layer(X, *W, mask), device)
            name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''})"
            rows.append((name, T, 1e3 * t_mine, 1e3 * t_ref, t_mine / t_ref))
    print(f"Self-attention, causal mask, float32, N={N}, D=d_k=d_v={D}, torch {torch.__version__}\n")
    print("| device | T | hand-written `self_attention_torch` (ms) | `scaled_dot_product_attention` (ms) | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, T, a, b, r in rows:
        print(f"| {name} | {T} | {a:.3f} | {b:.3f} | {r:.2f}× |")


if __name__ == "__main__":
    main()
