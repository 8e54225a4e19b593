"""Text data for chapter 09 (the character language model): the shipped corpus, a character
vocabulary, a held-out split and batches for truncated backpropagation through time.

Everything is deterministic and works on NumPy arrays of token ids; nothing is downloaded
(the corpus ships in ``seqlab/corpus/``, with its source and licence in the README there).

The pipeline, in the order a training loop uses it::

    text = load_corpus()                      # str, 366,194 characters
    vocab = CharVocab.from_text(text)         # V = 62 characters, ids by first appearance
    ids = vocab.encode(text)                  # (L,) int64
    train, val = train_val_split(ids, 0.1)    # the last 10 % is held out, never trained on
    for x, y in tbptt_batches(train, batch_size=32, seq_len=64):   # (32, 64) each, y = x shifted by one
        ...                                   # row n of this batch continues row n of the previous one
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
#: The corpus of chapter 09: Genesis and Exodus, King James Version (public domain).
CORPUS_FILE = CORPUS_DIR / "kjv-genesis-exodus.txt"


def load_corpus(max_chars: int | None = None) -> str:
    """The shipped corpus as one string (verses separated by newlines); its first ``max_chars``
    characters when given."""
    text = CORPUS_FILE.read_text(encoding="utf-8")
    return text if max_chars is None else text[:max_chars]


@dataclass(frozen=True)
class CharVocab:
    """A character vocabulary: ``chars[i]`` is the character with id ``i``.

    Ids are given in order of first appearance in the text, as chapter 01's vocabulary of
    words does (the first character seen gets 0).
    """

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> "CharVocab":
        # dict keys keep insertion order, so this lists each character once, where it first occurs
        return cls(tuple(dict.fromkeys(text)))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def index(self) -> dict[str, int]:
        """character -> id"""
        return {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, text: str) -> np.ndarray:
        """``(len(text),)`` int64 ids; ``KeyError`` for a character outside the vocabulary."""
        index = self.index
        return np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        """The string of a 1-D sequence of ids (list, array or tensor)."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))


def train_val_split(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split a stream of ids into a training part and a held-out validation part.

    The split is contiguous (the last ``val_fraction`` of the text is held out), not a random
    choice of characters or windows: neighbouring windows overlap in content, so a random split
    would let the model see most of the "held-out" text during training.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = int(round(len(ids) * (1.0 - val_fraction)))
    return ids[:cut], ids[cut:]


def batch_streams(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut a stream of ``L`` ids into ``batch_size`` contiguous streams, one per row.

    Returns ``(batch_size, L // batch_size)``: row ``n`` holds ids ``[n*M, (n+1)*M)`` with
    ``M = L // batch_size`` (the last ``L mod batch_size`` ids are dropped). Reading the
    columns left to right, every row is a continuous piece of text.
    """
    M = len(ids) // batch_size
    if M < 2:
        raise ValueError(f"{len(ids)} ids are too few for {batch_size} streams")
    return np.asarray(ids[: batch_size * M], dtype=np.int64).reshape(batch_size, M)


def tbptt_batches(ids: np.ndarray, batch_size: int, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One pass over ``ids`` in batches for truncated BPTT that carry the hidden state across.

    Yields ``(x, y)``, both ``(batch_size, seq_len)`` int64, where ``y[:, t]`` is the character
    that follows ``x[:, t]`` (the targets are the inputs shifted left by one). Row ``n`` of
    batch ``b + 1`` continues row ``n`` of batch ``b`` exactly where it stopped, so the hidden
    state ``h_T`` a recurrent model reaches at the end of batch ``b`` is the right ``h_0`` for
    batch ``b + 1``: pass it on, detached (chapter 03's truncation: gradients stop at the batch
    boundary, the information does not). The last, shorter piece of each row is dropped.
    """
    streams = batch_streams(ids, batch_size)                # (N, M)
    n_batches = (streams.shape[1] - 1) // seq_len           # y needs one id beyond x
    for b in range(n_batches):
        start = b * seq_len
        yield streams[:, start:start + seq_len], streams[:, start + 1:start + seq_len + 1]


def random_windows(ids: np.ndarray, batch_size: int, seq_len: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` windows of ``seq_len`` ids at random places, and their shifted targets.

    For models that start every window from scratch (the Transformer, which has no state to
    carry): ``x, y`` of shape ``(batch_size, seq_len)``, ``y[:, t] = ids[start + t + 1]``.
    """
    starts = rng.integers(0, len(ids) - seq_len - 1, size=batch_size)
    rows = starts[:, None] + np.arange(seq_len)[None, :]
    return ids[rows], ids[rows + 1]


def eval_windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Every position of ``ids`` once, as consecutive windows: ``x, y (n_windows, seq_len)``.

    Used to measure validation perplexity over the whole held-out text (the last partial window
    is dropped).
    """
    n_windows = (len(ids) - 1) // seq_len
    x = np.asarray(ids[: n_windows * seq_len], dtype=np.int64).reshape(n_windows, seq_len)
    y = np.asarray(ids[1: n_windows * seq_len + 1], dtype=np.int64).reshape(n_windows, seq_len)
    return x, y
