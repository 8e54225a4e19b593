"""Tests of the tests for 09-language-model: the solution gets full marks, the stubs get none,
students' mistakes lose points and every failure message names the mistake (``Mistake(hint=...)``),
correct alternatives keep their points; the data pipeline carries state across batches; the oracles
agree with independent computations; on a GPU, the solution runs on CUDA.

The solution, stub, mistake and alternative tests are the shared ones (``tests/chapters/standard.py``),
with ``cut=True``: each mistake runs the source notebook cut down to its function. Every graded cell
comes before the training experiments, so those run only in the full-notebook tests (quick mode).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.harness import Mistake, edit, graded_ids, source_notebook
from tests.harness import tests_of as _tests_of  # (renamed so that pytest does not collect it)
from tests.chapters.standard import solution_run, standard_tests

A = "09-language-model"
FUNCTIONS = ["perplexity", "sample_next", "greedy_decode", "beam_search", "KVCache"]
CUT = True  # mistakes and alternatives run on notebooks cut down to their function


# ----------------------------------------------------------------------------- correct versions, as a student writes them

PERPLEXITY = '''
def perplexity(logits, targets):
    m = logits.max(axis=-1, keepdims=True)
    log_norm = m[..., 0] + np.log(np.exp(logits - m).sum(axis=-1))
    true_logit = np.take_along_axis(logits, np.asarray(targets)[..., None], axis=-1)[..., 0]
    ce = log_norm - true_logit
    return float(np.exp(ce.mean()))
'''

SAMPLE = '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    z = logits / temperature
    if top_k is not None:
        kth = torch.topk(z, top_k, dim=-1).values[:, -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    probs = torch.softmax(z, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
'''

GREEDY = '''
def greedy_decode(next_logits, prompt, n_new):
    seqs = prompt
    for _ in range(n_new):
        nxt = next_logits(seqs).argmax(dim=-1)
        seqs = torch.cat([seqs, nxt[:, None]], dim=1)
    return seqs
'''

BEAM = '''
def beam_search(next_logits, prompt, max_new, beam_width, eos_id=None, alpha=1.0):
    beams = prompt[None, :]
    totals = torch.zeros(1, dtype=torch.float64, device=prompt.device)
    finished = []
    for step in range(1, max_new + 1):
        log_p = torch.log_softmax(next_logits(beams).double(), dim=-1)
        Vv = log_p.shape[-1]
        cand = (totals[:, None] + log_p).flatten()
        best = torch.topk(cand, min(beam_width, cand.numel()))
        parent, token = best.indices // Vv, best.indices % Vv
        beams = torch.cat([beams[parent], token[:, None]], dim=1)
        totals = best.values
        done = token == eos_id if eos_id is not None else torch.zeros_like(token, dtype=torch.bool)
        if step == max_new:
            done = torch.ones_like(done)
        for i in torch.nonzero(done).flatten().tolist():
            finished.append((totals[i].item() / step ** alpha, beams[i]))
        beams, totals = beams[~done], totals[~done]
        if len(beams) == 0:
            break
    score, tokens = max(finished, key=lambda f: f[0])
    return tokens, score
'''

KVCACHE = '''
class KVCache:
    def __init__(self):
        self.K = None
        self.V = None

    def __len__(self):
        return 0 if self.K is None else self.K.shape[-2]

    def attend(self, q_t, k_t, v_t):
        self.K = k_t if self.K is None else torch.cat([self.K, k_t], dim=-2)
        self.V = v_t if self.V is None else torch.cat([self.V, v_t], dim=-2)
        scores = q_t @ self.K.transpose(-2, -1) / math.sqrt(q_t.shape[-1])
        return torch.softmax(scores, dim=-1) @ self.V
'''

MISTAKES = {
    "perplexity": {
        "no max-subtraction (overflows at logits near 1e4)": Mistake(
            edit(PERPLEXITY, "m[..., 0] + np.log(np.exp(logits - m).sum(axis=-1))", "np.log(np.exp(logits).sum(axis=-1))"),
            hint="subtract each row's max before exp"),
        "sum instead of mean (exp of the sum)": Mistake(
            edit(PERPLEXITY, "return float(np.exp(ce.mean()))", "return float(np.exp(ce.sum()))"), hint="exp of the SUM"),
        "mean over the wrong axis": Mistake(
            edit(PERPLEXITY, "return float(np.exp(ce.mean()))", "return np.exp(ce.mean(axis=0))"), hint="the mean over the wrong axis"),
        "mean of the per-token exp": Mistake(
            edit(PERPLEXITY, "return float(np.exp(ce.mean()))", "return float(np.mean(np.exp(ce)))"), hint="per-token exp(cross-entropy)"),
        "log2 inside, exp outside": Mistake(
            edit(PERPLEXITY, "ce = log_norm - true_logit", "ce = (log_norm - true_logit) / np.log(2)"), hint="log2 (bits) inside"),
        "natural log inside, 2 ** outside": Mistake(
            edit(PERPLEXITY, "return float(np.exp(ce.mean()))", "return float(2 ** ce.mean())"), hint="natural log inside, 2** outside"),
    },
    "sample_next": {
        "temperature multiplied": Mistake(edit(SAMPLE, "z = logits / temperature", "z = logits * temperature"),
                                        hint="temperature multiplied"),
        "top-k keeps the smallest": Mistake(edit(SAMPLE, "torch.topk(z, top_k, dim=-1).values", "torch.topk(z, top_k, dim=-1, largest=False).values",
                                               "z.masked_fill(z < kth,", "z.masked_fill(z > kth,"), hint="the k SMALLEST logits"),
        "softmax over the batch axis": Mistake(edit(SAMPLE, "torch.softmax(z, dim=-1)", "torch.softmax(z, dim=0)"),
                                             hint="softmax over the batch axis"),
        "the full distribution renormalised (top_k ignored)": Mistake(
            edit(SAMPLE, "probs = torch.softmax(z, dim=-1)", "probs = torch.softmax(logits / temperature, dim=-1)"),
            hint="top_k ignored"),
        "float indices": Mistake(edit(SAMPLE, ".squeeze(-1)", ".squeeze(-1).to(logits.dtype)"), hint="return int64 indices"),
    },
    "greedy_decode": {
        "prediction not fed back": Mistake(edit(GREEDY, "next_logits(seqs)", "next_logits(prompt)"), hint="not fed back"),
        "argmin instead of argmax": Mistake(edit(GREEDY, ".argmax(dim=-1)", ".argmin(dim=-1)"), hint="the smallest logit was picked"),
        "the prompt dropped": Mistake(edit(GREEDY, "return seqs", "return seqs[:, prompt.shape[1]:]"), hint="the prompt is missing"),
        "argmax over the batch axis": Mistake(edit(GREEDY, ".argmax(dim=-1)", ".argmax(dim=0)"), hint="over each row's logits"),
    },
    "beam_search": {
        "no length normalisation": Mistake(edit(BEAM, "totals[i].item() / step ** alpha", "totals[i].item()"),
                                         hint="no length normalisation"),
        "only the best beam kept (greedy)": Mistake(edit(BEAM, "min(beam_width, cand.numel())", "1"), hint="only the best beam was kept"),
        "finished beams not stopped at EOS": Mistake(
            edit(BEAM, "done = token == eos_id if eos_id is not None else torch.zeros_like(token, dtype=torch.bool)",
                 "done = torch.zeros_like(token, dtype=torch.bool)"), hint="not stopped at EOS"),
        # probabilities multiplied, the log taken at the end: exact on short searches, 0 (log 0 = -inf) on
        # long ones, so only the hidden tests (a 300-token search) can tell
        "scores multiplied as probabilities (underflow)": Mistake(
            edit(BEAM, "totals = torch.zeros(1, dtype=torch.float64, device=prompt.device)",
                 "totals = torch.ones(1, dtype=torch.float64, device=prompt.device)",
                 "log_p = torch.log_softmax(next_logits(beams).double(), dim=-1)",
                 "log_p = torch.softmax(next_logits(beams).double(), dim=-1)",
                 "cand = (totals[:, None] + log_p).flatten()", "cand = (totals[:, None] * log_p).flatten()",
                 "totals[i].item() / step ** alpha", "math.log(totals[i].item()) / step ** alpha if totals[i].item() > 0 else -math.inf"),
            hint="a product of 300 probabilities underflows", caught_by=("test_beam_search_hidden",)),
    },
    "KVCache": {
        "keys appended but values recomputed": Mistake(
            edit(KVCACHE, "self.V = v_t if self.V is None else torch.cat([self.V, v_t], dim=-2)",
                 "self.V = v_t.expand_as(self.K)  # every position's value taken from the new token"),
            hint="the values recomputed from the new token alone"),
        "position offset wrong": Mistake(
            edit(KVCACHE, "return 0 if self.K is None else self.K.shape[-2]", "return 1 if self.K is None else self.K.shape[-2] + 1"),
            hint="position offset wrong"),
        "causal mask applied inside the cached step": Mistake(
            edit(KVCACHE, "return torch.softmax(scores, dim=-1) @ self.V",
                 "mask = torch.ones(1, scores.shape[-1], dtype=torch.bool, device=scores.device).tril()\n"
                 "        return torch.softmax(scores.masked_fill(~mask, float('-inf')), dim=-1) @ self.V"),
            hint="a causal mask applied inside the cached step"),
        "scores not scaled": Mistake(edit(KVCACHE, " / math.sqrt(q_t.shape[-1])", ""), hint="not divided by sqrt(d_k)"),
    },
}

# Not the student's own work: the first line of every test cell of the function says so.
MISTAKES["perplexity"]["calls the built-in F.cross_entropy"] = Mistake("""
def perplexity(logits, targets):
    logits, targets = torch.as_tensor(logits), torch.as_tensor(targets)
    return float(torch.exp(F.cross_entropy(logits.flatten(0, 1), targets.flatten())))
""", hint="re-implements")
MISTAKES["perplexity"]["calls the course's reference answer"] = Mistake("""
def perplexity(logits, targets):
    return oracle.perplexity(logits, targets)
""", hint="reference")

ALTERNATIVES = {
    # log-sum-exp by np.logaddexp, fancy indexing for the true logits
    "perplexity": '''
def perplexity(logits, targets):
    N, T, _ = logits.shape
    log_norm = np.logaddexp.reduce(logits, axis=-1)
    picked = logits[np.arange(N)[:, None], np.arange(T)[None, :], targets]
    return float(np.exp(np.sum(log_norm - picked) / (N * T)))
''',
    # the Gumbel-max trick and a sort for top-k: other random numbers, the same distribution
    "sample_next": '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return torch.max(logits, dim=1).indices
    z = logits / temperature
    if top_k is not None and top_k < z.shape[1]:
        order = torch.argsort(z, dim=1, descending=True)
        drop = order[:, top_k:]
        z = z.scatter(1, drop, torch.full_like(drop, 0, dtype=z.dtype) - float("inf"))
    u = torch.rand(z.shape, generator=generator, dtype=z.dtype, device=z.device).clamp_min(1e-12)
    return torch.argmax(z - torch.log(-torch.log(u)), dim=1)
''',
    "greedy_decode": '''
def greedy_decode(next_logits, prompt, n_new):
    N, T0 = prompt.shape
    out = torch.empty(N, T0 + n_new, dtype=prompt.dtype, device=prompt.device)
    out[:, :T0] = prompt
    for s in range(T0, T0 + n_new):
        out[:, s] = torch.max(next_logits(out[:, :s]), dim=-1).indices
    return out
''',
    # plain Python lists of hypotheses, sorted
    "beam_search": '''
def beam_search(next_logits, prompt, max_new, beam_width, eos_id=None, alpha=1.0):
    live, done = [([], 0.0)], []
    for step in range(max_new):
        seqs = torch.stack([torch.cat([prompt, prompt.new_tensor(c, dtype=prompt.dtype)]) for c, _ in live])
        rows = torch.log_softmax(next_logits(seqs).double(), dim=-1).tolist()
        cands = [(c + [tok], s + lp) for (c, s), row in zip(live, rows) for tok, lp in enumerate(row)]
        cands.sort(key=lambda item: -item[1])
        live = []
        for c, s in cands[:beam_width]:
            if (eos_id is not None and c[-1] == eos_id) or len(c) == max_new:
                done.append((s / len(c) ** alpha, c))
            else:
                live.append((c, s))
        if not live:
            break
    score, best = max(done, key=lambda item: item[0])
    return torch.cat([prompt, prompt.new_tensor(best, dtype=prompt.dtype)]), score
''',
    # lists of per-step keys and values, einsum
    "KVCache": '''
class KVCache:
    def __init__(self):
        self.keys, self.values = [], []

    @property
    def K(self):
        return torch.cat(self.keys, dim=2) if self.keys else None

    @property
    def V(self):
        return torch.cat(self.values, dim=2) if self.values else None

    def __len__(self):
        return len(self.keys)

    def attend(self, q_t, k_t, v_t):
        self.keys.append(k_t)
        self.values.append(v_t)
        K, V = self.K, self.V
        w = torch.einsum("nhqd,nhkd->nhqk", q_t, K) * q_t.shape[-1] ** -0.5
        return torch.einsum("nhqk,nhkd->nhqd", w.softmax(-1), V)
''',
}


globals().update(standard_tests(A, FUNCTIONS, MISTAKES, ALTERNATIVES, cut=CUT))


def test_every_contract_function_has_a_visible_and_a_hidden_test():
    ids = graded_ids(source_notebook(A))
    for f in FUNCTIONS:
        assert {f"test_{f}_visible", f"test_{f}_hidden"} <= set(_tests_of(f, ids)), f


def test_solution_prints_the_worked_numbers_trains_and_generates():
    out = solution_run(A).stdout
    assert "perplexity of a model that gives every character the same probability: 62.0" in out
    assert "brute force and beam search agree: [1, 2, 2, 2, 0]" in out
    assert "| Transformer |" in out and "| LSTM |" in out and "| RNN |" in out
    assert "same characters: True" in out           # cached generation equals recomputation


# ----------------------------------------------------------------------------- the data pipeline (seqlab.text)


def test_corpus_vocabulary_and_split():
    from seqlab import text
    corpus = text.load_corpus()
    assert len(corpus.encode()) <= 1_000_000 and corpus.isascii()
    vocab = text.CharVocab.from_text(corpus)
    assert len(vocab) == 62 and vocab.chars[:3] == ("I", "n", " ")        # "In the beginning": first appearance
    ids = vocab.encode(corpus)
    assert ids.dtype == np.int64 and vocab.decode(ids[:16]) == corpus[:16]
    train, val = text.train_val_split(ids, 0.1)
    assert len(train) + len(val) == len(ids) and abs(len(val) - len(ids) / 10) <= 1
    assert np.array_equal(np.concatenate([train, val]), ids)               # contiguous: the end is held out


def test_tbptt_batches_carry_each_row_on():
    from seqlab import text
    ids = np.arange(1000, dtype=np.int64)                                  # each id says where it is
    batches = list(text.tbptt_batches(ids, batch_size=4, seq_len=10))
    assert len(batches) == (250 - 1) // 10
    for (x, y), (x_next, _) in zip(batches, batches[1:]):
        assert x.shape == y.shape == (4, 10)
        assert np.array_equal(y, x + 1)                                    # the targets are the next ids
        assert np.array_equal(x_next[:, 0], x[:, -1] + 1)                  # row n goes on where it stopped
    x0 = batches[0][0]
    assert np.array_equal(x0[:, 0], [0, 250, 500, 750])                    # four contiguous streams


def test_eval_and_random_windows_cover_the_text():
    from seqlab import text
    ids = np.arange(101, dtype=np.int64)
    x, y = text.eval_windows(ids, 10)
    assert x.shape == (10, 10) and np.array_equal(x.reshape(-1), np.arange(100)) and np.array_equal(y, x + 1)
    x, y = text.random_windows(ids, 5, 7, np.random.default_rng(0))
    assert x.shape == (5, 7) and np.array_equal(y, x + 1) and np.all(np.diff(x, axis=1) == 1)


# ----------------------------------------------------------------------------- the oracles themselves


def test_oracles_agree_with_independent_computations():
    from seqlab.oracles import lm
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=(2, 3, 4)), rng.integers(0, 4, size=(2, 3))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)             # small logits: the naive way is exact
    expected = np.exp(-np.mean(np.log(np.take_along_axis(p, targets[..., None], -1))))
    assert abs(lm.perplexity(logits, targets) - expected) < 1e-12
    probs = lm.sampling_probs(logits[0], 0.5, 2)
    assert np.allclose(probs.sum(-1), 1) and np.all((probs > 0).sum(-1) == 2)
    # brute force: the number of finished continuations of a vocabulary of 3 with EOS = 0, 3 new tokens
    table = torch.randn(3, 3, dtype=torch.float64)
    conts = lm.continuation_log_probs(lm.bigram_next_logits(table), torch.tensor([1]), 3, eos_id=0)
    assert len(conts) == 1 + 2 * 1 + 2 * 2 * 3                             # EOS at step 1, 2 or 3, or none
    total = sum(np.exp(s) for _, s in conts)
    assert abs(total - 1.0) < 1e-12                                        # they partition all outcomes


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
def test_solution_runs_on_cuda():
    from seqlab.oracles import lm
    ns = solution_run(A).namespace
    cuda = torch.device("cuda")
    logits = torch.randn(4, 9, device=cuda, dtype=torch.float64)
    out = ns["sample_next"](logits, 0.8, 3, generator=torch.Generator(device=cuda).manual_seed(0))
    assert out.device.type == "cuda" and out.dtype == torch.int64
    Q, K, V = (torch.randn(2, 3, 6, 4, device=cuda, dtype=torch.float64) for _ in range(3))
    cache = ns["KVCache"]()
    outs = torch.cat([cache.attend(Q[..., s:s + 1, :], K[..., s:s + 1, :], V[..., s:s + 1, :]) for s in range(6)], dim=-2)
    torch.testing.assert_close(outs, lm.causal_attention(Q, K, V), rtol=1e-9, atol=1e-12)
    model = ns["CharTransformer"](11, d_model=8, n_heads=2, d_ff=16).to(cuda, torch.float64).eval()
    tokens = torch.randint(11, (2, 5), device=cuda)
    caches = [ns["KVCache"]() for _ in model.layers]
    with torch.no_grad():
        steps = torch.stack([model.step(tokens[:, s], caches) for s in range(5)], dim=1)
        torch.testing.assert_close(steps, model(tokens)[0], rtol=1e-9, atol=1e-12)
