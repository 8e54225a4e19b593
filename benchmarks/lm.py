"""Benchmark: what the key/value cache of chapter 09 buys. Greedy generation with the chapter's
``CharTransformer`` (``torch.nn.TransformerEncoderLayer`` blocks, causal mask) by recomputing the
whole prefix at every step, against ``CharTransformer.step`` with the solution's ``KVCache``, for
several lengths, on the CPU and, when there is one, a GPU.

The solution is loaded by executing the chapter's source notebook (``tests.harness.run_notebook``,
training cells skipped). The model is untrained (random weights, eval mode): the cost of a step does
not depend on what the weights say. Prints one markdown table (times, the ratio recompute / cached:
> 1 means the cache is faster, and whether both produced the same tokens), from one run of about a
minute on two cores. Never asserts timings.

Usage: python benchmarks/lm.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.harness import run_notebook, source_notebook

A = "09-language-model"
VOCAB, PROMPT = 62, 16
CONFIG = dict(d_model=64, n_heads=4, d_ff=128, n_layers=2, max_len=1024)   # the notebook's Transformer
LENGTHS = [64, 128, 256]


def load_solution() -> dict:
    run = run_notebook(source_notebook(A), hidden=False, skip_tags=("long-experiment",))
    return run.namespace


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def generate_recompute(model, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    seqs = prompt
    with torch.no_grad():
        for _ in range(n_new):
            seqs = torch.cat([seqs, model(seqs)[0][:, -1].argmax(-1, keepdim=True)], dim=1)
    return seqs


def generate_cached(model, KVCache, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    caches = [KVCache() for _ in model.layers]
    seqs = prompt
    with torch.no_grad():
        for s in range(prompt.shape[1]):
            logits = model.step(prompt[:, s], caches)
        for _ in range(n_new):
            token = logits.argmax(-1)
            seqs = torch.cat([seqs, token[:, None]], dim=1)
            logits = model.step(token, caches)
    return seqs


def time_pair(fn_a, fn_b, device, repeats: int) -> tuple[float, float, float, bool]:
    """Median seconds of fn_a() and fn_b(), timed alternately (both see the same load), the median
    ratio, and whether their outputs agree."""
    same = torch.equal(fn_a(), fn_b())            # also the warm-up
    pairs = []
    for _ in range(repeats):
        times = []
        for fn in (fn_a, fn_b):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
        pairs.append(times)
    a, b = zip(*pairs)
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in pairs), same


def main() -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    ns = load_solution()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"Greedy generation from a {PROMPT}-character prompt, CharTransformer {CONFIG}, batch 1, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print()
    print("| device | new tokens | recompute (s) | KV cache (s) | speed-up | same tokens |")
    print("| --- | --- | --- | --- | --- | --- |")
    for device in devices:
        torch.manual_seed(0)
        model = ns["CharTransformer"](VOCAB, **CONFIG).to(device).eval()
        prompt = torch.randint(VOCAB, (1, PROMPT), device=device)
        for n_new in LENGTHS:
            repeats = 3 if n_new <= 64 else 1
            rec, cached, ratio, same = time_pair(lambda: generate_recompute(model, prompt, n_new),
                                                 lambda: generate_cached(model, ns["KVCache"], prompt, n_new),
                                                 device, repeats)
            print(f"| {device.type} | {n_new} | {rec:.3f} | {cached:.3f} | {ratio:.1f}x | {same} |", flush=True)


if __name__ == "__main__":
    main()
