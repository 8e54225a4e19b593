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
    rng = np.random.default_rng(seed)
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
