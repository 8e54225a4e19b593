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
FUNCTIONS = ["perplexity", "sample_next", "greedy_decode", "beam_search", "CharRNN", "KVCache", "train_step"]
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
def sample_next(logits, temperature=1.0, top_k=None, generator=None, top_p=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    z = logits / temperature
    if top_k is not None:
        kth = torch.topk(z, top_k, dim=-1).values[:, -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    probs = torch.softmax(z, dim=-1)
    if top_p is not None:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        before = sorted_p.cumsum(dim=-1) - sorted_p
        sorted_p = sorted_p.masked_fill(before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p)
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

# A search that fills every slot with a live beam: the finished extensions among the best beam_width are set
# aside, and the next-best extensions that do not end take their places (as Hugging Face's generator does).
BEAM_REFILL = '''
def beam_search(next_logits, prompt, max_new, beam_width, eos_id=None, alpha=1.0):
    live, done = [([], 0.0)], []
    for step in range(1, max_new + 1):
        seqs = torch.stack([torch.cat([prompt, prompt.new_tensor(c, dtype=prompt.dtype)]) for c, _ in live])
        rows = torch.log_softmax(next_logits(seqs).double(), dim=-1).tolist()
        cands = sorted(((c + [tok], s + lp) for (c, s), row in zip(live, rows) for tok, lp in enumerate(row)),
                       key=lambda item: -item[1])
        live = []
        for rank, (c, s) in enumerate(cands):
            if step == max_new:
                if rank < beam_width:
                    done.append((s / len(c) ** alpha, c))
            elif eos_id is not None and c[-1] == eos_id:
                if rank < beam_width:
                    done.append((s / len(c) ** alpha, c))
            elif len(live) < beam_width:
                live.append((c, s))
        if not live:
            break
    score, best = max(done, key=lambda item: item[0])
    return torch.cat([prompt, prompt.new_tensor(best, dtype=prompt.dtype)]), score
'''

CHAR_RNN = '''
class CharRNN(torch.nn.Module):
    def __init__(self, vocab_size, hidden_size, embed_size=32):
        super().__init__()
        b = 1 / math.sqrt(hidden_size)
        self.E = torch.nn.Parameter(torch.randn(vocab_size, embed_size))
        self.W_xh = torch.nn.Parameter(torch.empty(embed_size, hidden_size).uniform_(-b, b))
        self.W_hh = torch.nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-b, b))
        self.b_h = torch.nn.Parameter(torch.empty(hidden_size).uniform_(-b, b))
        self.W_hy = torch.nn.Parameter(torch.empty(hidden_size, vocab_size).uniform_(-b, b))
        self.b_y = torch.nn.Parameter(torch.empty(vocab_size).uniform_(-b, b))

    def forward(self, tokens, h0=None):
        N, T = tokens.shape
        h = h0 if h0 is not None else torch.zeros(N, self.W_hh.shape[0], dtype=self.W_hh.dtype, device=self.W_hh.device)
        outputs = []
        for t in range(T):
            x_t = self.E[tokens[:, t]]
            h = torch.tanh(x_t @ self.W_xh + h @ self.W_hh + self.b_h)
            outputs.append(h @ self.W_hy + self.b_y)
        return torch.stack(outputs, dim=1), h
'''

TRAIN_STEP = '''
def train_step(model, optimizer, x, y, state=None, clip=1.0):
    logits, state = model(x, state)
    V = logits.shape[-1]
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    if isinstance(state, tuple):
        state = tuple(s.detach() for s in state)
    elif state is not None:
        state = state.detach()
    return loss.item(), norm.item(), state
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
        "a minus sign dropped": Mistake(
            edit(PERPLEXITY, "ce = log_norm - true_logit", "ce = true_logit - log_norm  # log p(target)"),
            hint="a minus sign dropped"),
        "fancy indexing picks every target everywhere": Mistake(
            edit(PERPLEXITY, "np.take_along_axis(logits, np.asarray(targets)[..., None], axis=-1)[..., 0]", "logits[..., targets]"),
            hint="logits[..., targets] (fancy indexing)"),
        "the mean over all V classes": Mistake(
            edit(PERPLEXITY, "ce = log_norm - true_logit", "ce = log_norm[..., None] - logits  # every class's -log p"),
            hint="the mean over all V classes"),
    },
    "sample_next": {
        "temperature multiplied": Mistake(edit(SAMPLE, "z = logits / temperature", "z = logits * temperature"),
                                        hint="temperature multiplied"),
        "temperature applied after the softmax": Mistake(
            edit(SAMPLE, "z = logits / temperature", "z = logits",
                 "probs = torch.softmax(z, dim=-1)", "probs = torch.softmax(z, dim=-1) / temperature"),
            hint="after the softmax"),
        "temperature=0 not special-cased": Mistake(
            edit(SAMPLE, "    if temperature == 0:\n        return logits.argmax(dim=-1)\n", ""), hint="temperature=0 means greedy"),
        "top-k keeps the smallest": Mistake(edit(SAMPLE, "torch.topk(z, top_k, dim=-1).values", "torch.topk(z, top_k, dim=-1, largest=False).values",
                                               "z.masked_fill(z < kth,", "z.masked_fill(z > kth,"), hint="the k SMALLEST logits"),
        "top-k keeps k-1 (<= instead of <)": Mistake(edit(SAMPLE, "z.masked_fill(z < kth,", "z.masked_fill(z <= kth,"),
                                                   hint="z <= kth"),
        "top-k drops the ties with the k-th": Mistake(
            edit(SAMPLE, "kth = torch.topk(z, top_k, dim=-1).values[:, -1:]\n        z = z.masked_fill(z < kth, float(\"-inf\"))",
                 "keep = torch.topk(z, top_k, dim=-1).indices\n"
                 "        z = torch.full_like(z, float(\"-inf\")).scatter(-1, keep, z.gather(-1, keep))"),
            hint="ties with the k-th logit dropped"),
        "softmax over the batch axis": Mistake(edit(SAMPLE, "torch.softmax(z, dim=-1)", "torch.softmax(z, dim=0)"),
                                             hint="softmax over the batch axis"),
        "the full distribution renormalised (top_k ignored)": Mistake(
            edit(SAMPLE, "probs = torch.softmax(z, dim=-1)", "probs = torch.softmax(logits / temperature, dim=-1)"),
            hint="top_k ignored"),
        "float indices": Mistake(edit(SAMPLE, ".squeeze(-1)", ".squeeze(-1).to(logits.dtype)"), hint="return int64 indices"),
        "top_p: the index that crosses it left out": Mistake(
            edit(SAMPLE, "before = sorted_p.cumsum(dim=-1) - sorted_p", "before = sorted_p.cumsum(dim=-1)"),
            hint="crosses it"),
        "top_p ignored": Mistake(edit(SAMPLE, "    if top_p is not None:", "    if False:"), hint="top_p ignored"),
        "top_p keeps the least likely": Mistake(
            edit(SAMPLE, "probs.sort(dim=-1, descending=True)", "probs.sort(dim=-1)"), hint="the LEAST likely"),
        "top_p applied before the temperature": Mistake(
            edit(SAMPLE, "sorted_p, idx = probs.sort(dim=-1, descending=True)",
                 "sorted_p, idx = torch.softmax(z * temperature, dim=-1).sort(dim=-1, descending=True)",
                 "sorted_p = sorted_p.masked_fill(before >= top_p, 0.0)\n"
                 "        probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p)",
                 "keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, idx, before < top_p)\n"
                 "        probs = probs * keep"),
            hint="top_p applied before the temperature"),
    },
    "greedy_decode": {
        "prediction not fed back": Mistake(edit(GREEDY, "next_logits(seqs)", "next_logits(prompt)"), hint="not fed back"),
        "argmin instead of argmax": Mistake(edit(GREEDY, ".argmax(dim=-1)", ".argmin(dim=-1)"), hint="the smallest logit was picked"),
        "the prompt dropped": Mistake(edit(GREEDY, "return seqs", "return seqs[:, prompt.shape[1]:]"), hint="the prompt is missing"),
        "argmax over the batch axis": Mistake(edit(GREEDY, ".argmax(dim=-1)", ".argmax(dim=0)"), hint="over each row's logits"),
        "only the last token fed": Mistake(edit(GREEDY, "next_logits(seqs)", "next_logits(seqs[:, -1:])"),
                                         hint="only the last token was fed"),
    },
    "beam_search": {
        "no length normalisation": Mistake(edit(BEAM, "totals[i].item() / step ** alpha", "totals[i].item()"),
                                         hint="no length normalisation"),
        "the prompt counted in the length": Mistake(
            edit(BEAM, "totals[i].item() / step ** alpha", "totals[i].item() / beams[i].shape[0] ** alpha"),
            hint="the prompt was counted in the length"),
        "only the best beam kept (greedy)": Mistake(edit(BEAM, "min(beam_width, cand.numel())", "1"), hint="only the best beam was kept"),
        "finished beams not stopped at EOS": Mistake(
            edit(BEAM, "done = token == eos_id if eos_id is not None else torch.zeros_like(token, dtype=torch.bool)",
                 "done = torch.zeros_like(token, dtype=torch.bool)"), hint="not stopped at EOS"),
        "a finished beam's slot refilled": Mistake(BEAM_REFILL, hint="slot was refilled"),
        "finished sequences dropped": Mistake(
            edit(BEAM, "            finished.append((totals[i].item() / step ** alpha, beams[i]))",
                 "            if eos_id is None or token[i].item() != eos_id:     # keep only sequences that did not end\n"
                 "                finished.append((totals[i].item() / step ** alpha, beams[i]))"),
            hint="sequences ending in eos_id were dropped"),
        "stops at the first finished beam": Mistake(
            edit(BEAM, "        if len(beams) == 0:\n            break", "        if finished:\n            break"),
            hint="stopped at the first finished beam"),
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
    "CharRNN": {
        "read-out from h_{t-1}": Mistake(
            edit(CHAR_RNN, "            h = torch.tanh(x_t @ self.W_xh + h @ self.W_hh + self.b_h)\n"
                           "            outputs.append(h @ self.W_hy + self.b_y)",
                 "            outputs.append(h @ self.W_hy + self.b_y)\n"
                 "            h = torch.tanh(x_t @ self.W_xh + h @ self.W_hh + self.b_h)"),
            hint="the state BEFORE reading x_t"),
        "only the last state kept": Mistake(
            edit(CHAR_RNN, "            outputs.append(h @ self.W_hy + self.b_y)\n        return torch.stack(outputs, dim=1), h",
                 "        logits = h @ self.W_hy + self.b_y\n        return logits[:, None].expand(N, T, -1), h"),
            hint="only the last state was kept"),
        "W_hh transposed": Mistake(edit(CHAR_RNN, "h @ self.W_hh", "h @ self.W_hh.T"), hint="W_hh transposed"),
        "tanh missing": Mistake(edit(CHAR_RNN, "h = torch.tanh(x_t @ self.W_xh + h @ self.W_hh + self.b_h)",
                                     "h = x_t @ self.W_xh + h @ self.W_hh + self.b_h"), hint="tanh missing"),
        "the read-out bias left out": Mistake(edit(CHAR_RNN, "outputs.append(h @ self.W_hy + self.b_y)", "outputs.append(h @ self.W_hy)"),
                                            hint="the read-out bias b_y left out"),
        "h0 ignored": Mistake(edit(CHAR_RNN, "h = h0 if h0 is not None else torch.zeros", "h = torch.zeros"), hint="h0 ignored"),
        "h0 made on the CPU in float32": Mistake(
            edit(CHAR_RNN, "torch.zeros(N, self.W_hh.shape[0], dtype=self.W_hh.dtype, device=self.W_hh.device)",
                 "torch.zeros(N, self.W_hh.shape[0])"),
            hint="created with the wrong dtype", caught_by=("test_CharRNN_visible",)),
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
        "attends before appending": Mistake(
            edit(KVCACHE, "        self.K = k_t if self.K is None else torch.cat([self.K, k_t], dim=-2)\n"
                          "        self.V = v_t if self.V is None else torch.cat([self.V, v_t], dim=-2)\n"
                          "        scores = q_t @ self.K.transpose(-2, -1) / math.sqrt(q_t.shape[-1])\n"
                          "        return torch.softmax(scores, dim=-1) @ self.V",
                 "        K = k_t if self.K is None else self.K          # the keys so far (only the new one at the start)\n"
                 "        V = v_t if self.V is None else self.V\n"
                 "        out = torch.softmax(q_t @ K.transpose(-2, -1) / math.sqrt(q_t.shape[-1]), dim=-1) @ V\n"
                 "        self.K = k_t if self.K is None else torch.cat([self.K, k_t], dim=-2)\n"
                 "        self.V = v_t if self.V is None else torch.cat([self.V, v_t], dim=-2)\n"
                 "        return out"),
            hint="attended before they were appended"),
        "the cache grown on the wrong axis": Mistake(
            edit(KVCACHE, "torch.cat([self.K, k_t], dim=-2)", "torch.cat([self.K, k_t], dim=-1)",
                 "torch.cat([self.V, v_t], dim=-2)", "torch.cat([self.V, v_t], dim=-1)"),
            hint="appended along the feature axis"),
        "K.T on the 4-D cache": Mistake(edit(KVCACHE, "self.K.transpose(-2, -1)", "self.K.T"), hint="K.T reverses all four axes"),
    },
    "train_step": {
        "zero_grad forgotten (gradients accumulate)": Mistake(edit(TRAIN_STEP, "    optimizer.zero_grad()\n", ""),
                                                              hint="the gradients of the previous step were added"),
        "no clipping": Mistake(edit(TRAIN_STEP, "norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)",
                                    "norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float('inf'))"),
                               hint="the gradients were not clipped"),
        "clipped after the update": Mistake(
            edit(TRAIN_STEP, "    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n    optimizer.step()\n",
                 "    optimizer.step()\n    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n"),
            hint="clipped after optimizer.step()"),
        "the loss summed": Mistake(edit(TRAIN_STEP, "F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))",
                                        "F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction='sum')"),
                                   hint="the loss was summed"),
        "the norm after clipping": Mistake(
            edit(TRAIN_STEP, "    optimizer.step()\n",
                 "    optimizer.step()\n    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))\n"),
            hint="the norm AFTER clipping"),
        "the state not detached": Mistake(
            edit(TRAIN_STEP, "    if isinstance(state, tuple):\n        state = tuple(s.detach() for s in state)\n"
                             "    elif state is not None:\n        state = state.detach()\n", ""),
            hint="detach the state"),
        "a tuple state detached as a tensor": Mistake(
            edit(TRAIN_STEP, "    if isinstance(state, tuple):\n        state = tuple(s.detach() for s in state)\n"
                             "    elif state is not None:", "    if state is not None:"),
            hint="the LSTM's state is a tuple"),
        "cross_entropy on (N, T, V) logits": Mistake(
            edit(TRAIN_STEP, "F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))", "F.cross_entropy(logits, y)"),
            hint="flatten them to (N * T, V)"),
        "the loss returned as a tensor": Mistake(edit(TRAIN_STEP, "return loss.item(),", "return loss,"),
                                               hint="a Python float"),
        "the state not passed to the model": Mistake(edit(TRAIN_STEP, "logits, state = model(x, state)", "logits, state = model(x)"),
                                                     hint="the state was not passed on"),
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

MISTAKES["CharRNN"]["calls torch.nn.RNN"] = Mistake("""
class CharRNN(torch.nn.Module):
    def __init__(self, vocab_size, hidden_size, embed_size=32):
        super().__init__()
        self.E = torch.nn.Parameter(torch.randn(vocab_size, embed_size))
        self.rnn = torch.nn.RNN(embed_size, hidden_size, batch_first=True)
        self.W_hy = torch.nn.Parameter(torch.zeros(hidden_size, vocab_size))
        self.b_y = torch.nn.Parameter(torch.zeros(vocab_size))

    def forward(self, tokens, h0=None):
        H, h_T = self.rnn(self.E[tokens], None if h0 is None else h0[None])
        return H @ self.W_hy + self.b_y, h_T[0]
""", hint="not your own work")

ALTERNATIVES = {
    # log-sum-exp by np.logaddexp, fancy indexing for the true logits
    "perplexity": '''
def perplexity(logits, targets):
    N, T, _ = logits.shape
    log_norm = np.logaddexp.reduce(logits, axis=-1)
    picked = logits[np.arange(N)[:, None], np.arange(T)[None, :], targets]
    return float(np.exp(np.sum(log_norm - picked) / (N * T)))
''',
    # the Gumbel-max trick, a sort for top-k (ties by comparing with the k-th value) and a loop over rows for top-p
    "sample_next": '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None, top_p=None):
    if temperature == 0:
        return torch.max(logits, dim=1).indices
    z = logits / temperature
    if top_k is not None and top_k < z.shape[1]:
        kth = torch.sort(z, dim=1, descending=True).values[:, top_k - 1:top_k]
        z = torch.where(z >= kth, z, torch.full_like(z, -float("inf")))
    if top_p is not None:
        p = torch.softmax(z, dim=1)
        for n in range(z.shape[0]):
            order = torch.argsort(p[n], descending=True)
            total = 0.0
            for rank, i in enumerate(order.tolist()):
                if total >= top_p:
                    z[n, order[rank:]] = -float("inf")
                    break
                total += p[n, i].item()
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
    # one-hot @ E (chapter 01), one step at a time with torch.addmm, the read-out once over all states
    "CharRNN": '''
class CharRNN(torch.nn.Module):
    def __init__(self, vocab_size, hidden_size, embed_size=32):
        super().__init__()
        k = hidden_size ** -0.5
        def U(*shape):
            return torch.nn.Parameter(2 * k * torch.rand(*shape) - k)
        self.E = torch.nn.Parameter(torch.randn(vocab_size, embed_size))
        self.W_xh, self.W_hh, self.b_h = U(embed_size, hidden_size), U(hidden_size, hidden_size), U(hidden_size)
        self.W_hy, self.b_y = U(hidden_size, vocab_size), U(vocab_size)

    def forward(self, tokens, h0=None):
        X = F.one_hot(tokens, self.E.shape[0]).to(self.E.dtype) @ self.E
        h = self.W_hh.new_zeros(tokens.shape[0], self.W_hh.shape[0]) if h0 is None else h0
        hs = []
        for t in range(tokens.shape[1]):
            h = torch.tanh(torch.addmm(self.b_h, X[:, t], self.W_xh) + h @ self.W_hh)
            hs.append(h)
        return torch.einsum("nth,hv->ntv", torch.stack(hs, 1), self.W_hy) + self.b_y, h
''',
    # the classes moved to axis 1 for cross_entropy, the norm computed by hand before clip_grad_norm_,
    # the state detached by a recursive helper
    "train_step": '''
def _detach(state):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(_detach(s) for s in state)
    return state.detach()


def train_step(model, optimizer, x, y, state=None, clip=1.0):
    optimizer.zero_grad(set_to_none=False)
    logits, new_state = model(x, state)
    loss = F.cross_entropy(logits.transpose(1, 2), y)
    loss.backward()
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None))
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return float(loss), float(total), _detach(new_state)
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
    assert "brute force and beam search agree: [1, 2, 2, 2, 2, 0]" in out
    assert "| Transformer |" in out and "| LSTM |" in out and "| RNN (yours) |" in out
    assert "the same characters: True" in out       # cached generation equals recomputation
    assert "frequencies for [2, 1, 1, 1, 0], top_k=2:" in out


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


def test_sampling_oracle_keeps_ties_and_the_crossing_index():
    from seqlab.oracles import lm
    # top_k=2 of [2, 1, 1, 1, 0]: the three 1s are tied with the 2nd largest, so all stay (by hand: softmax of 2, 1, 1, 1)
    e = np.exp([2.0, 1.0, 1.0, 1.0])
    assert np.allclose(lm.sampling_probs(np.array([[2.0, 1.0, 1.0, 1.0, 0.0]]), 1.0, 2), [list(e / e.sum()) + [0.0]])
    # top_p over probabilities 0.5, 0.3, 0.15, 0.05: the smallest set reaching p, the crossing index included
    logits = np.log([[0.5, 0.3, 0.15, 0.05]])
    assert np.allclose(lm.sampling_probs(logits, 1.0, None, 0.6), [[0.5 / 0.8, 0.3 / 0.8, 0.0, 0.0]])
    assert np.allclose(lm.sampling_probs(logits, 1.0, None, 0.81), [[0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0]])
    assert np.allclose(lm.sampling_probs(logits, 1.0, None, 1e-9), [[1.0, 0.0, 0.0, 0.0]])
    # after top_k=3 the nucleus is chosen among the renormalised three: 0.5/0.95 = 0.53 < 0.55, so two stay
    assert np.allclose(lm.sampling_probs(logits, 1.0, 3, 0.55), [[0.5 / 0.8, 0.3 / 0.8, 0.0, 0.0]])


def test_reference_training_step_is_the_built_ins_step():
    from seqlab import charlm
    from seqlab.oracles import lm
    torch.manual_seed(0)
    model = charlm.CharLSTM(5, 4, embed_size=3).double()
    before = [p.detach().clone() for p in model.parameters()]
    reference = lm.ReferenceTraining(model, lr=0.01, weight_decay=0.0)
    x, y = torch.randint(5, (2, 6)), torch.randint(5, (2, 6))
    step = reference.step(x, y, None, clip=0.05)
    copy = charlm.CharLSTM(5, 4, embed_size=3).double()
    for p, b in zip(copy.parameters(), before):
        p.data.copy_(b)
    logits, (h, c) = copy(x)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))
    loss.backward()
    assert abs(step.loss - loss.item()) < 1e-12
    grads = torch.cat([p.grad.reshape(-1) for p in copy.parameters()])
    assert abs(step.grad_norm - grads.norm().item()) < 1e-9 and step.grad_norm > 0.05
    assert torch.allclose(step.grads, grads * 0.05 / (grads.norm() + 1e-6))          # clipped to the norm 0.05
    assert torch.equal(step.state[0], h.detach()) and not step.state[0].requires_grad


def test_charlm_helpers():
    from seqlab import charlm
    assert charlm.bits_per_character(62, 10, 10) == pytest.approx(np.log2(62))
    assert charlm.bits_per_character(2 ** 12, 1, 6) == pytest.approx(2.0)            # 12 bits for a 6-character token
    assert charlm.repeated_share("abcabcabc", 3) == pytest.approx(4 / 7)
    assert charlm.repeated_share("abcdefgh", 3) == 0.0
    assert charlm.known_word_share("the LORD saith\nxyz", {"the", "LORD", "saith"}) == 0.75
    with pytest.raises(ValueError, match="max_len"):
        charlm.CharTransformer(5, d_model=8, n_heads=2, max_len=4)(torch.zeros(1, 5, dtype=torch.int64))


def test_cached_decoder_and_step_timing_agree_with_recomputation():
    from seqlab import charlm

    class SDPACache:                                   # the test's own cache, by the built-in attention
        def __init__(self):
            self.K = self.V = None

        def __len__(self):
            return 0 if self.K is None else self.K.shape[-2]

        def attend(self, q, k, v):
            self.K = k if self.K is None else torch.cat([self.K, k], -2)
            self.V = v if self.V is None else torch.cat([self.V, v], -2)
            return torch.nn.functional.scaled_dot_product_attention(q, self.K, self.V)

    torch.manual_seed(0)
    model = charlm.CharTransformer(7, d_model=8, n_heads=2, d_ff=12, max_len=12).double().eval()
    decoder = charlm.CachedDecoder(model, SDPACache)
    seqs = torch.randint(7, (3, 4))
    torch.testing.assert_close(decoder(seqs), model(seqs)[0][:, -1])
    longer = torch.cat([seqs, torch.randint(7, (3, 1))], dim=1)
    torch.testing.assert_close(decoder(longer), model(longer)[0][:, -1])      # one more position fed
    with pytest.raises(ValueError, match="reset"):
        decoder(seqs)
    slow = charlm.time_generation(lambda s: model(s)[0][:, -1], lambda: None, seqs[:1], 6, repeats=2)
    fast = charlm.time_generation(decoder, decoder.reset, seqs[:1], 6, repeats=2)
    assert slow.positions == fast.positions == [4, 5, 6, 7, 8, 9] and len(fast.seconds) == 6
    assert torch.equal(slow.tokens, fast.tokens)
