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

# Issue 19, held-out batch A: mistakes written before the messages that name them were tuned
MISTAKES["one_hot_torch"].update({
    'torch.eye(V) indexed by the indices (eye on the default device)': Mistake("""
def one_hot_torch(indices, vocab_size):
    return torch.eye(vocab_size)[indices]
""", hint='device'),
    'int32 result (.int())': Mistake("""
def one_hot_torch(indices, vocab_size):
    return (indices.unsqueeze(-1) == torch.arange(vocab_size, device=indices.device)).int()
""", hint='float32'),
    'torch.arange(V) without device': Mistake("""
def one_hot_torch(indices, vocab_size):
    return (indices.unsqueeze(-1) == torch.arange(vocab_size)).float()
""", hint='device'),
    "zeros in the indices' dtype, then scatter (int64 result)": Mistake("""
def one_hot_torch(indices, vocab_size):
    X = torch.zeros(*indices.shape, vocab_size, dtype=indices.dtype, device=indices.device)
    return X.scatter_(-1, indices.long().unsqueeze(-1), 1)
""", hint='float32'),
})
MISTAKES["one_hot"].update({
    'range check with > instead of >=': Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() > vocab_size):
        raise ValueError("bad index")
    X = np.zeros(indices.shape + (vocab_size,))
    np.put_along_axis(X, indices[..., None], 1.0, axis=-1)
    return X
""", caught_by=('test_one_hot_visible',), hint='ValueError'),
    'X[indices] = 1 sets whole rows': Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    X = np.zeros((indices.size, vocab_size))
    X[indices.ravel()] = 1.0
    return X.reshape(indices.shape + (vocab_size,))
""", hint='row'),
})
MISTAKES["embedding_lookup"].update({
    'indices @ E (the indices used as a vector)': Mistake("""
def embedding_lookup(indices, E):
    return np.asarray(indices) @ E
""", hint='one_hot'),
})
MISTAKES["build_vocab"].update({
    'most frequent token first': Mistake("""
def build_vocab(tokens):
    from collections import Counter
    return {tok: i for i, (tok, _) in enumerate(Counter(tokens).most_common())}
""", hint='frequen'),
})

# Issue 19, held-out batch B: mistakes written before the messages that name them were tuned
MISTAKES["one_hot_torch"].update({
    'flattened, not reshaped back': Mistake("""
def one_hot_torch(indices, vocab_size):
    flat = indices.reshape(-1).long()
    X = torch.zeros(flat.numel(), vocab_size, device=indices.device)
    X[torch.arange(flat.numel(), device=indices.device), flat] = 1.0
    return X
""", hint='flattened'),
    'bool result': Mistake("""
def one_hot_torch(indices, vocab_size):
    return indices.unsqueeze(-1) == torch.arange(vocab_size, device=indices.device)
""", hint='float32'),
})
MISTAKES["one_hot"].update({
    "array in the indices' integer dtype": Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    X = np.zeros(indices.shape + (vocab_size,), dtype=indices.dtype)
    np.put_along_axis(X, indices[..., None], 1, axis=-1)
    return X
""", hint='float'),
})
MISTAKES["embedding_lookup"].update({
    'E[indices].T': Mistake("""
def embedding_lookup(indices, E):
    return E[np.asarray(indices)].T
""", hint='transposed'),
})
MISTAKES["build_vocab"].update({
    'each token gets the position of its last appearance': Mistake("""
def build_vocab(tokens):
    return {tok: i for i, tok in enumerate(tokens)}
""", hint='last'),
})

# Issue 19, held-out batch C: mistakes written before the messages that name them were tuned
MISTAKES["one_hot"].update({
    'a bool array': Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    return np.eye(vocab_size, dtype=bool)[indices]
""", hint='float'),
    'rows indexed with range(len(indices)) (1-D only)': Mistake("""
def one_hot(indices, vocab_size):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):
        raise ValueError("bad index")
    X = np.zeros((len(indices), vocab_size))
    X[range(len(indices)), indices] = 1.0
    return X
""", hint='indices.shape'),
})
MISTAKES["embedding_lookup"].update({
    'np.take along axis 1': Mistake("""
def embedding_lookup(indices, E):
    return np.take(E, np.asarray(indices), axis=1)
""", hint='rows'),
})
MISTAKES["build_vocab"].update({
    'the first token skipped': Mistake("""
def build_vocab(tokens):
    vocab = {}
    for tok in tokens[1:]:
        if tok not in vocab:
            vocab[tok] = len(vocab)
    return vocab
""", hint='first'),
})

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
