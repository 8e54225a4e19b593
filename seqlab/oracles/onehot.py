"""Chapter 01-one-hot: one-hot vectors and embedding lookups by ``torch.nn.functional``."""
import numpy as np
import torch.nn.functional as F

from ._torch import n, t

#: The lecture's vocabulary and its one-hot table (rows: apple, we, this, saw).
LECTURE_TOKENS = ["apple", "we", "this", "saw"]
LECTURE_TABLE = np.eye(4)


def one_hot(indices, vocab_size: int) -> np.ndarray:
    """``indices.shape + (V,)`` float64 one-hot array, by ``F.one_hot``."""
    return n(F.one_hot(t(indices).long(), vocab_size)).astype(np.float64)


def embedding_lookup(indices, E) -> np.ndarray:
    """Rows of ``E (V, d)`` picked by ``indices``, by ``F.embedding``: shape ``indices.shape + (d,)``."""
    return n(F.embedding(t(indices).long(), t(E)))


def one_hot_mistakes(indices, vocab_size: int) -> dict:
    """One-hot arrays a student gets with the usual slips."""
    idx = np.asarray(indices)
    out = {}
    if vocab_size > 1:
        out["off by one: the 1 sits at index + 1 (or the vocabulary is counted from 1)"] = np.roll(
            one_hot(idx, vocab_size), 1, axis=-1
        )
    if idx.ndim == 1:
        out["the one-hot matrix is transposed: expected (len(indices), V)"] = one_hot(idx, vocab_size).T
    return out

