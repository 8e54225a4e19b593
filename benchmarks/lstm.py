"""Hand-written LSTM (the 05-lstm solution) against ``torch.nn.LSTM``: forward and forward+backward.

    python benchmarks/lstm.py              # PyTorch's default number of CPU threads
    python benchmarks/lstm.py --threads 1  # one CPU thread: steadier on a busy machine
    python benchmarks/lstm.py --quick      # one small size, fewer repeats

Loads the solution's ``LSTM`` class by executing its cell of ``solutions/05-lstm/05-lstm.ipynb``,
copies the weights into ``nn.LSTM(batch_first=True)`` (so both compute the same thing), and times
both on the CPU, and on CUDA when there is a GPU (where ``nn.LSTM`` runs cuDNN). Prints a markdown
table of the best time of several repeats; the ratio is hand-written time / built-in time,
all timings taken in this one run.
Takes well under a minute.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seqlab.oracles.lstm import load_lstm_weights  # noqa: E402 - after the repository joins sys.path


def solution_lstm_class():
    """The ``LSTM`` class of the source notebook, from its solution cell alone."""
    nb = nbformat.read(ROOT / "solutions" / "05-lstm" / "05-lstm.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "LSTM")
    namespace = {"torch": torch, "np": __import__("numpy")}
    exec(compile(cell.source, "<05-lstm solution: LSTM>", "exec"), namespace)
    return namespace["LSTM"]


def timed(fn, device, repeats):
    """Best wall time of ``fn()`` in milliseconds over ``repeats`` calls, after two warm-up calls."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()
    for _ in range(2):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(1e3 * (time.perf_counter() - t0))
    return min(times)


def bench(device, N, T, D, H, repeats):
    torch.manual_seed(0)
    mine = solution_lstm_class()(D, H).to(device)
    ref = torch.nn.LSTM(D, H, batch_first=True).to(device)
    load_lstm_weights(ref, mine.W_x.detach(), mine.W_h.detach(), mine.b.detach())
    X = torch.randn(N, T, D, device=device)
    with torch.no_grad():  # same weights, same answer (float32)
        assert torch.allclose(mine(X)[0], ref(X)[0], atol=1e-4), "the two LSTMs disagree"

    def forward(model):
        def run():
            with torch.no_grad():
                model(X)
        return run

    def train_step(model):
        def run():
            model.zero_grad(set_to_none=True)
            model(X)[0].sum().backward()
        return run

    rows = []
    for what, make in [("forward", forward), ("forward + backward", train_step)]:
        t_mine, t_ref = timed(make(mine), device, repeats), timed(make(ref), device, repeats)
        rows.append((device.type, what, f"N={N} T={T} D={D} H={H}", t_mine, t_ref, t_mine / t_ref))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--threads", type=int, default=None, help="number of CPU threads for PyTorch")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 5
    sizes = [(32, 50, 32, 64)] if args.quick else [(32, 50, 32, 64), (64, 100, 64, 256)]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = [row for device in devices for size in sizes for row in bench(device, *size, repeats)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"))
    print()
    print("| device | pass | shape | hand-written LSTM (ms) | nn.LSTM (ms) | ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for device, what, shape, t_mine, t_ref, ratio in rows:
        print(f"| {device} | {what} | {shape} | {t_mine:.2f} | {t_ref:.2f} | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
