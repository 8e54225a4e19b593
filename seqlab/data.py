"""Small synthetic data sets shipped with the course (no downloads).

Each generator is deterministic in its ``seed`` and returns NumPy arrays.
"""
from __future__ import annotations

import numpy as np

# --- "we saw this saw": is each word a verb? -------------------------------------------
# Sentences of five words from three templates. "saw" is a verb after a subject and a noun
# after a determiner or adjective, so a model that looks at one word at a time cannot tag
# it; one that remembers the previous word can.
SAW_WORDS = {
    "subject": ["we", "they", "you", "i"],
    "verb": ["saw", "cut", "see"],
    "det": ["this", "the", "a", "that"],
    "adj": ["old", "big", "sharp"],
    "noun": ["saw", "wood", "tree", "apple"],
}
#: The vocabulary of the task; index = position in this list.
SAW_VOCAB = ["<pad>"] + sorted({w for words in SAW_WORDS.values() for w in words})
_TEMPLATES = [
    ["subject", "verb", "det", "adj", "noun"],  # we saw this old saw
    ["det", "adj", "noun", "verb", "noun"],     # the old saw cut wood
    ["det", "noun", "verb", "det", "noun"],     # the saw cut the tree
]


def saw_tagging(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` five-word sentences and their verb tags.

    Returns:
    - tokens: int64 array (n, 5) of indices into ``SAW_VOCAB``
    - is_verb: int64 array (n, 5), 1 where the word is used as a verb
    """
    rng = np.random.default_rng(seed=seed)
    index = {w: i for i, w in enumerate(SAW_VOCAB)}
    tokens = np.zeros((n, 5), dtype=np.int64)
    is_verb = np.zeros((n, 5), dtype=np.int64)
    for row in range(n):
        template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
        for t, role in enumerate(template):
            words = SAW_WORDS[role]
            tokens[row, t] = index[words[rng.integers(len(words))]]
            is_verb[row, t] = role == "verb"
    return tokens, is_verb


def decode(tokens: np.ndarray, vocab: list[str] = SAW_VOCAB) -> list[str]:
    """Sentences (strings) from rows of token indices."""
    return [" ".join(vocab[i] for i in row if vocab[i] != "<pad>") for row in np.atleast_2d(tokens)]


# --- reverse a sequence: a sequence-to-sequence task for the Transformer (chapter 08) ------
#: Token ids of the reversal task: 0 is padding (unused by fixed-length sequences), 1 starts
#: the decoder's input, and 2, 3, ... are the symbols to reverse.
REVERSE_PAD, REVERSE_BOS = 0, 1


def reverse_task(n: int, length: int = 10, n_symbols: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random sequences and the same sequences reversed.

    Returns:
    - src: int64 array (n, length), symbols drawn uniformly from ``2 .. 2 + n_symbols - 1``
    - tgt: int64 array (n, length), ``tgt[i] = src[i, ::-1]``

    The vocabulary has ``n_symbols + 2`` tokens (``REVERSE_PAD`` and ``REVERSE_BOS`` first).
    Different seeds give (practically) disjoint sets: there are ``n_symbols ** length``
    possible sequences.
    """
    rng = np.random.default_rng(seed=seed)
    src = rng.integers(2, 2 + n_symbols, size=(n, length), dtype=np.int64)
    return src, np.ascontiguousarray(src[:, ::-1])


# --- remember the first token: a long-range task (chapter 05) ------------------------------
def first_token_recall(n: int, T: int, n_symbols: int = 4, n_noise: int = 4,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of ``T`` tokens whose label is their FIRST token.

    Token 0..n_symbols-1 are the symbols to remember; n_symbols..n_symbols+n_noise-1 are
    distractors. Position 0 holds a random symbol, positions 1..T-1 random distractors, so
    the answer is read at step T and must be carried across T - 1 steps. Chance level is
    ``1 / n_symbols``.

    Returns:
    - tokens: int64 array (n, T), values in [0, n_symbols + n_noise)
    - labels: int64 array (n,), values in [0, n_symbols): equal to tokens[:, 0]
    """
    rng = np.random.default_rng(seed=seed)
    tokens = rng.integers(n_symbols, n_symbols + n_noise, size=(n, T))
    tokens[:, 0] = rng.integers(0, n_symbols, size=n)
    return tokens.astype(np.int64), tokens[:, 0].astype(np.int64).copy()
