"""Tests of the tests for 01-one-hot: the solution gets full marks, the stubs get none,
students' mistakes lose points and correct alternatives keep them."""
from tests.chapters.standard import solution_run, standard_tests
from tests.harness import Mistake

A = "01-one-hot"

MISTAKES = {
    "build_vocab": {
        "indices from 1": Mistake("""
def build_vocab(tokens):
    vocab = {}
    for tok in tokens:
        if tok not in vocab:
            vocab[tok] = len(vocab) + 1
    return vocab
""", hint='start at 1'),
        "sorted instead of first appearance": Mistake("""
def build_vocab(tokens):
    return {tok: i for i, tok in enumerate(sorted(set(tokens)))}
""", hint='sorted'),
        "index of every occurrence (gaps after repeats)": Mistake("""
def build_vocab(tokens):
    vocab = {}
    for i, tok in enumerate(tokens):
        vocab.setdefault(tok, i)
    return vocab
""", hint='gaps after a repeat'),
        "last appearance wins": Mistake("""
def build_vocab(tokens):
    return {tok: i for i, tok in enumerate(dict.fromkeys(reversed(tokens)))}
""", hint='by last appearance'),
    },
    "one_hot": {
        "int dtype": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    return np.eye(vocab_size, dtype=int)[indices]
""", hint='float'),
        "off by one": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    return np.eye(vocab_size)[(indices + 1) % vocab_size]
""", hint='off by one'),
        "only works for 1-D indices": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices).ravel()
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    X = np.zeros((len(indices), vocab_size))
    X[np.arange(len(indices)), indices] = 1.0
    return X
""", hint=('flattened', 'indices.shape + (V,)')),
        "no range check (negative indices wrap around)": Mistake("""
def one_hot(indices, vocab_size):
    return np.eye(vocab_size)[np.asarray(indices)] if np.max(indices, initial=0) < vocab_size else 1 / 0
""", caught_by=("test_one_hot_visible", "test_one_hot_hidden"), hint=('ValueError', 'outside [0, V)')),
        "transposed for a sentence": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    return np.eye(vocab_size)[indices].T
""", hint='transposed'),
    },
    "embedding_lookup": {
        "columns instead of rows": Mistake("""
def embedding_lookup(indices, E):
    return E.T[np.asarray(indices)]
""", hint='rows of E'),
        "off by one": Mistake("""
def embedding_lookup(indices, E):
    return E[(np.asarray(indices) + 1) % E.shape[0]]
""", hint='off by one'),
        "flattened batch": Mistake("""
def embedding_lookup(indices, E):
    return E[np.asarray(indices).ravel()]
""", hint='flattened'),
    },
    "one_hot_torch": {
        "created on the default device": Mistake("""
def one_hot_torch(indices, vocab_size):
    X = torch.zeros(indices.shape + (vocab_size,))
    X.scatter_(-1, indices.long().unsqueeze(-1), 1.0)
    return X
""", hint='device'),
        "int64 result": Mistake("""
def one_hot_torch(indices, vocab_size):
    return (indices.unsqueeze(-1) == torch.arange(vocab_size, device=indices.device)).long()
""", hint=('float32', '.float()')),
        "float64 result": Mistake("""
def one_hot_torch(indices, vocab_size):
    return (indices.unsqueeze(-1) == torch.arange(vocab_size, device=indices.device)).double()
""", hint=('float32', '.float()')),
        "off by one": Mistake("""
def one_hot_torch(indices, vocab_size):
    shifted = (indices.long() + 1) % vocab_size
    return (shifted.unsqueeze(-1) == torch.arange(vocab_size, device=indices.device)).float()
""", hint='off by one'),
    },
}

# Not the student's own work: the first line of every test cell of the function says so.
MISTAKES["one_hot_torch"]["calls the built-in F.one_hot"] = Mistake("""
def one_hot_torch(indices, vocab_size):
    return torch.nn.functional.one_hot(indices.long(), vocab_size).float()
""", hint="re-implements")
MISTAKES["one_hot"]["calls the course's reference answer"] = Mistake("""
def one_hot(indices, vocab_size):
    return oracle.one_hot(indices, vocab_size)
""", hint="reference")

ALTERNATIVES = {
    "build_vocab": """
def build_vocab(tokens):
    return {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
""",
    "one_hot": """
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    bad = (indices < 0) | (indices >= vocab_size)
    if bad.any():
        raise ValueError(f"indices {indices[bad]} not in [0, {vocab_size})")
    return (indices[..., None] == np.arange(vocab_size)).astype(np.float32)
""",
    "embedding_lookup": """
def embedding_lookup(indices, E):
    idx = np.asarray(indices)
    out = np.stack([E[i] for i in idx.ravel()]) if idx.size else np.zeros((0, E.shape[1]))
    return out.reshape(idx.shape + (E.shape[1],))
""",
    "one_hot_torch": """
def one_hot_torch(indices, vocab_size):
    X = torch.zeros(*indices.shape, vocab_size, device=indices.device)
    return X.scatter_(-1, indices.long().unsqueeze(-1), 1.0)
""",
}

CONTRACT = ["build_vocab", "one_hot", "embedding_lookup", "one_hot_torch"]
globals().update(standard_tests(A, CONTRACT, MISTAKES, ALTERNATIVES))


def test_solution_reproduces_the_lecture_point():
    assert "x^2 == x^4: True" in solution_run(A).stdout  # the two "saw" are the same one-hot vector
