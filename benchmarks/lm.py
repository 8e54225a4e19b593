"""Benchmark: what the key/value cache of chapter 09 buys, per generated token, against the length.

Greedy generation with the chapter's ``CharTransformer`` (``seqlab.charlm``: ``nn.TransformerEncoderLayer``
blocks, causal mask; the notebook's size, d_model 48, 2 blocks, d_ff 96, with ``max_len`` raised to
1024 so that lengths beyond the trained window can be measured) in three ways:

- recomputing the whole prefix at every step (``model(seqs)``);
- ``CharTransformer.step`` with the solution's ``KVCache``, which grows its keys and values with
  ``torch.cat`` (every step copies the whole cache);
- ``CharTransformer.step`` with a cache preallocated for the longest sequence (each step writes one
  row), attending exactly as the solution does.

The solution is loaded by executing the chapter's source notebook (``tests.harness.run_notebook``,
training cells skipped). The model is untrained (random weights, eval mode): the cost of a step does
not depend on what the weights say. ``seqlab.charlm.time_generation`` times every step (median of 3
runs); the table gives, at a few positions t, the median time of the 16 steps up to t, and the
ratios. Prints markdown tables from one run of a minute or two on two cores. Never asserts timings.

Usage: python benchmarks/lm.py
"""
from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from seqlab.charlm import CachedDecoder, CharTransformer, time_generation
from tests.harness import run_notebook, source_notebook

A = "09-language-model"
VOCAB, LENGTH = 62, 1024
CONFIG = dict(d_model=48, n_heads=4, d_ff=96, n_layers=2, max_len=LENGTH)   # the notebook's Transformer, longer
MARKS = [64, 128, 256, 512, 1023]
BAND = 16


class PreallocatedCache:
    """Keys and values written into buffers made once for ``capacity`` positions; attention as the
    solution's ``KVCache`` computes it (scaled scores, softmax over the keys, weighted sum)."""

    def __init__(self, capacity: int):
        self.capacity, self.t, self.K, self.V = capacity, 0, None, None

    def __len__(self) -> int:
        return self.t

    def attend(self, q_t, k_t, v_t):
        if self.K is None:
            self.K, self.V = (x.new_empty(*x.shape[:2], self.capacity, x.shape[-1]) for x in (k_t, v_t))
        self.K[..., self.t, :], self.V[..., self.t, :] = k_t[..., 0, :], v_t[..., 0, :]
        self.t += 1
        keys, values = self.K[..., :self.t, :], self.V[..., :self.t, :]
        weights = torch.softmax(q_t @ keys.transpose(-2, -1) / math.sqrt(q_t.shape[-1]), dim=-1)
        return weights @ values


def load_solution() -> dict:
    run = run_notebook(source_notebook(A), hidden=False, skip_tags=("long-experiment",))
    return run.namespace


def near(seconds: list[float], t: int) -> float:
    """The median time of the steps that wrote positions t - BAND + 1 .. t (seconds[i] wrote position i + 1)."""
    return statistics.median(seconds[max(0, t - BAND):t])


def main() -> None:
    torch.set_num_threads(1)      # what the notebook uses; small matrices run fastest on one thread
    KVCache = load_solution()["KVCache"]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"Greedy generation of {LENGTH - 1} characters after a 1-character prompt, CharTransformer {CONFIG}, "
          f"batch 1, untrained, torch {torch.__version__}, {torch.get_num_threads()} CPU thread")
    print()
    print("| device | position t | recompute (ms/step) | KV cache, torch.cat (ms/step) | KV cache, preallocated (ms/step) "
          "| recompute / cat | recompute / preallocated |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    totals = []
    for device in devices:
        torch.manual_seed(0)
        model = CharTransformer(VOCAB, **CONFIG).to(device).eval()
        prompt = torch.zeros(1, 1, dtype=torch.int64, device=device)
        cat = CachedDecoder(model, KVCache)
        pre = CachedDecoder(model, lambda: PreallocatedCache(LENGTH))
        runs = {
            "recompute": time_generation(lambda seqs: model(seqs)[0][:, -1], lambda: None, prompt, LENGTH - 1),
            "cat": time_generation(cat, cat.reset, prompt, LENGTH - 1),
            "preallocated": time_generation(pre, pre.reset, prompt, LENGTH - 1),
        }
        same = all(torch.equal(r.tokens, runs["recompute"].tokens) for r in runs.values())
        rec, cat_s, pre_s = (runs[k].seconds for k in ("recompute", "cat", "preallocated"))
        for t in MARKS:
            print(f"| {device.type} | {t} | {1e3 * near(rec, t):.2f} | {1e3 * near(cat_s, t):.2f} | {1e3 * near(pre_s, t):.2f} "
                  f"| {near(rec, t) / near(cat_s, t):.1f}x | {near(rec, t) / near(pre_s, t):.1f}x |", flush=True)
        totals.append((device.type, sum(rec), sum(cat_s), sum(pre_s), same))
    print()
    print(f"| device | all {LENGTH - 1} characters: recompute (s) | KV cache, torch.cat (s) | KV cache, preallocated (s) "
          "| same characters |")
    print("| --- | ---: | ---: | ---: | --- |")
    for device, rec, cat_s, pre_s, same in totals:
        print(f"| {device} | {rec:.2f} | {cat_s:.2f} ({rec / cat_s:.1f}x) | {pre_s:.2f} ({rec / pre_s:.1f}x) | {same} |")


if __name__ == "__main__":
    main()
