"""Chapter 01-one-hot: one-hot vectors and embedding lookups by ``torch.nn.functional``."""
from collections import Counter

import numpy as np
import torch.nn.functional as F

from ._torch import lazy_mistakes, n, t

#: The lecture's vocabulary and its one-hot table (rows: apple, we, this, saw).
LECTURE_TOKENS = ["apple", "we", "this", "saw"]
LECTURE_TABLE = np.eye(4)


def one_hot(indices, vocab_size: int) -> np.ndarray:
    """``indices.shape + (V,)`` float64 one-hot array, by ``F.one_hot``."""
    return n(F.one_hot(t(indices).long(), vocab_size)).astype(np.float64)


def embedding_lookup(indices, E) -> np.ndarray:
    """Rows of ``E (V, d)`` picked by ``indices``, by ``F.embedding``: shape ``indices.shape + (d,)``."""
    return n(F.embedding(t(indices).long(), t(E)))


@lazy_mistakes
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
    if idx.ndim > 1:
        out["the indices were flattened: keep their shape and add the one-hot axis last, indices.shape + (V,)"] = (
            one_hot(idx.ravel(), vocab_size))
    if idx.size and idx.max() < idx.size:  # X[indices] = 1 on an (n, V) array picks rows by the index values
        rows = np.zeros((idx.size, vocab_size))
        rows[np.unique(idx)] = 1.0
        out["X[indices] = 1 fills whole rows (the index values pick rows): row t needs a single 1, in column "
            "indices[t] (X[np.arange(T), indices] = 1)"] = rows.reshape(idx.shape + (vocab_size,))
    return out


@lazy_mistakes
def embedding_lookup_mistakes(indices, E) -> dict:
    """Lookups a student gets with the usual slips."""
    idx, E = np.asarray(indices), np.asarray(E)
    out = {"off by one: row indices + 1 of E was used": embedding_lookup((idx + 1) % E.shape[0], E)}
    if E.shape[0] == E.shape[1]:
        out["E is transposed: the rows of E are the embeddings, not its columns"] = embedding_lookup(idx, E.T)
    if idx.ndim > 1:
        out["the indices were flattened: the result has shape indices.shape + (d,)"] = embedding_lookup(idx.ravel(), E)
    if idx.ndim == 1 and idx.shape[0] == E.shape[0]:
        out["the indices were multiplied with E as numbers (indices @ E): each index picks a row, E[indices], "
            "which is one_hot(indices, V) @ E"] = idx @ E
    return out


@lazy_mistakes
def build_vocab_mistakes(tokens, expected: dict) -> dict:
    """Vocabularies a student gets with the usual slips, given the tokens and the right answer
    ``expected`` (written out in the test: the lecture's table or a small sentence)."""
    first_position = {}
    for i, tok in enumerate(tokens):
        first_position.setdefault(tok, i)
    by_last = list(dict.fromkeys(reversed(list(tokens))))
    by_count = [tok for tok, _ in Counter(tokens).most_common()]  # ties keep their first-appearance order
    last_position = {tok: i for i, tok in enumerate(tokens)}
    skipped = {}
    for tok in list(tokens)[1:]:
        skipped.setdefault(tok, len(skipped))
    return {
        "the first token was skipped: every distinct token gets an index, the first one 0": skipped,
        "each token got the position of its last appearance: a new token gets the next free index, and a "
        "repeated token keeps the index it got first": last_position,
        "the tokens are ordered by frequency, most common first: index them by first appearance instead":
            {tok: i for i, tok in enumerate(by_count)},
        "the indices start at 1: the first token gets index 0": {k: v + 1 for k, v in expected.items()},
        "the tokens were sorted: index them in the order of their first appearance":
            {tok: i for i, tok in enumerate(sorted(expected))},
        "each token got its position in the list, leaving gaps after a repeat: a new token gets the next free index":
            first_position,
        "the order is by last appearance: a repeated token keeps the index of its first appearance":
            {tok: i for i, tok in enumerate(by_last)},
    }



@lazy_mistakes
def vocab_order_mistakes(tokens) -> dict:
    """The order of the distinct tokens (by index) under the usual slips that reorder them."""
    first = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    wrong = build_vocab_mistakes.eager(tokens, first)
    return {label: sorted(vocab, key=vocab.get) for label, vocab in wrong.items()
            if sorted(vocab, key=vocab.get) != list(first)}
