"""Chapter 09-language-model: perplexity, sampling, decoding and the key/value cache, by
PyTorch built-ins, brute force and recomputation.

| exercise | oracle |
| --- | --- |
| ``perplexity`` | ``exp(torch.nn.functional.cross_entropy(...))`` |
| ``sample_next`` | the probabilities ``torch.distributions.Categorical`` gives to ``logits / T`` with every logit that k others beat set to ``-inf`` (top-k, ties with the k-th kept) and, for ``top_p``, every index whose more likely indices already hold ``top_p`` of the mass left out; the test compares them with the frequencies of many seeded draws |
| ``greedy_decode`` | a property: every new token is the ``argmax`` of the logits after the prefix before it |
| ``beam_search`` | brute force: the log-probability of *every* continuation of a tiny vocabulary, scored and ranked |
| ``KVCache`` | ``scaled_dot_product_attention(..., is_causal=True)`` recomputed over the whole prefix |
| ``CharRNN`` | ``nn.Embedding``, ``nn.RNN`` and ``F.linear`` with the test's own weights copied in |
| ``train_step`` | the same step by built-ins on a copy of the model: ``F.cross_entropy``, autograd, ``clip_grad_norm_``, ``torch.optim.AdamW`` |

As in the other oracle modules, each ``*_mistakes`` function returns ``{description: value}``:
what the exercise returns under a common slip, from the oracle fed altered inputs (logits
multiplied instead of divided, negated, a function frozen at its prompt, a mask that hides all
but the first key, ...). No exercise's answer is written out here. Beam search's rule for finished
beams is checked on a worked example in the notebook's tests, whose outcome under each rule is
worked out there by hand, not by a second beam search.

A *next-token function* ``next_logits(seqs) -> logits`` maps a batch of token sequences
``(B, t)`` int64 to the logits of the token that follows each, ``(B, V)``; every decoder of the
chapter takes one, so a model, a bigram table or a hand-made test case can be plugged in.
"""
from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ._torch import lazy_mistakes, n, t
from ._torch import own_parameters  # noqa: F401 - tests load their own weights into a student's module

NextLogits = Callable[[torch.Tensor], torch.Tensor]

# ----------------------------------------------------------------------------- perplexity


def perplexity(logits, targets) -> float:
    """``exp`` of the mean cross-entropy over all ``N * T`` positions, by ``F.cross_entropy``.

    ``logits (N, T, V)``, ``targets (N, T)`` integers; NumPy or tensors; float64."""
    logits, targets = t(logits), torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    V = logits.shape[-1]
    return math.exp(F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)).item())


def _token_cross_entropy(logits, targets) -> np.ndarray:
    """Per-position cross-entropy ``(N, T)`` in nats, by ``F.cross_entropy(reduction="none")``."""
    logits, targets = t(logits), torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    V = logits.shape[-1]
    return n(F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")).reshape(targets.shape)


@lazy_mistakes
def perplexity_mistakes(logits, targets) -> dict:
    """What ``perplexity`` returns under the usual slips (values from the built-in's per-token
    cross-entropies, combined the wrong way)."""
    ce = _token_cross_entropy(logits, targets)            # (N, T), nats
    log_p = n(F.log_softmax(t(logits), dim=-1))           # (N, T, V)
    picked_everywhere = log_p[..., np.asarray(targets)]   # (N, T, N, T): every target at every position
    with np.errstate(over="ignore"):
        out = {
            "a minus sign dropped: the cross-entropy is -log p(target), a positive number, so perplexity >= 1":
                float(np.exp(-ce.mean())),
            "exp of the SUM of the cross-entropies: perplexity is exp of their MEAN over all N*T positions":
                float(np.exp(ce.sum())),
            "the mean over the wrong axis: average over every position of every sequence, return one float":
                np.exp(ce.mean(axis=0)),
            "the mean of per-sequence perplexities: average the cross-entropy first, then take exp once":
                float(np.mean(np.exp(ce.mean(axis=1)))),
            "the mean of per-token exp(cross-entropy): average the cross-entropy first, then take exp once":
                float(np.mean(np.exp(ce))),
            "log2 (bits) inside, exp outside: use the natural log with exp (or log2 with 2**)":
                float(np.exp(ce.mean() / np.log(2.0))),
            "natural log inside, 2** outside: use the natural log with exp (or log2 with 2**)":
                float(2.0 ** ce.mean()),
            "the mean over all V classes: the cross-entropy reads only the target's log-probability at each "
            "position, -log p[n, t, targets[n, t]]":
                float(np.exp(-log_p.mean())),
            "logits[..., targets] (fancy indexing) picks every target at every position, (N, T, N, T) values: "
            "pick one per position with np.take_along_axis(logits, targets[..., None], axis=-1)":
                float(np.exp(-picked_everywhere.mean())),
        }
    out["the mean over the wrong axis: average over every position of every sequence, return one float "
        "(this looks like the mean over time, one value per sequence)"] = np.exp(ce.mean(axis=1))
    return out


#: What a log-softmax without the max subtracted gives on large logits: exp overflows to inf, and
#: inf - inf or inf / inf turns into NaN.
OVERFLOW_MISTAKES = {
    "overflow: np.exp of large logits is inf; subtract each row's max before exp (log-sum-exp trick)": math.inf,
    "overflow (NaN): np.exp of large logits is inf and inf / inf is NaN; subtract each row's max before exp": math.nan,
}

# ----------------------------------------------------------------------------- sampling
#
# The rules the chapter pins (DESIGN.md): ``top_k`` keeps the k largest logits of each row and every
# logit tied with the k-th; ``top_p`` keeps the smallest set of most likely indices whose probabilities
# reach ``top_p`` (the one that crosses it included), applied after the temperature and ``top_k``.
# Both are written here as properties of each entry, not as the sort a sampler would use: an entry is
# in the top k when fewer than k entries of its row are larger, and in the nucleus when the entries
# more likely than it hold less than ``top_p`` of the mass.


def _beaten_by(z: torch.Tensor) -> torch.Tensor:
    """``(..., V, V)``: ``[..., i, j]`` is True when entry j of the row is larger than entry i."""
    return z[..., None, :] > z[..., :, None]


def _top_k_masked(z: torch.Tensor, top_k: int | None, *, largest: bool = True, ties: str = "keep") -> torch.Tensor:
    """``z`` with every entry outside the top ``top_k`` of its row set to ``-inf``.

    ``ties="keep"``: the chapter's rule, every entry tied with the k-th stays. The other values
    name mistakes: ``"drop"`` keeps exactly k (ties broken by position, as ``torch.topk``'s indices
    do), ``"strict"`` keeps only the entries larger than the k-th (k - 1 of them without ties)."""
    if top_k is None or top_k >= z.shape[-1]:
        return z
    ranked = z if largest else -z
    if ties == "keep":
        keep = _beaten_by(ranked).sum(-1) < top_k
    elif ties == "strict":
        keep = ranked > ranked.sort(-1, descending=True).values[..., top_k - 1:top_k]
    else:
        keep = torch.zeros_like(z, dtype=torch.bool).scatter(-1, torch.topk(ranked, top_k, dim=-1).indices, True)
    return z.masked_fill(~keep, -math.inf)


def _nucleus(probs: torch.Tensor, top_p: float | None, *, crossing: bool = True, least: bool = False) -> torch.Tensor:
    """``probs`` restricted to the nucleus of ``top_p`` (zero elsewhere, not renormalised).

    ``crossing=False`` leaves out the index whose probability crosses ``top_p`` and ``least=True``
    takes the least likely indices first: both name mistakes."""
    if top_p is None:
        return probs
    beaten = _beaten_by(-probs if least else probs)                      # [i, j]: j comes before i
    before = (probs[..., None, :] * beaten).sum(-1)                      # mass of the indices before i
    keep = before < top_p if crossing else before + probs < top_p
    return probs * keep


def _draw_probs(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
                k_slip: dict | None = None, p_slip: dict | None = None) -> torch.Tensor:
    """The draw probabilities of the chapter's rule; ``k_slip`` and ``p_slip`` are keyword arguments
    of ``_top_k_masked`` and ``_nucleus`` that alter one step, to name a mistake."""
    z = _top_k_masked(logits / temperature, top_k, **(k_slip or {}))
    probs = torch.distributions.Categorical(logits=z, validate_args=False).probs   # a slip may mask a whole row: NaN
    kept = _nucleus(probs, top_p, **(p_slip or {}))
    return kept / kept.sum(-1, keepdim=True)


def sampling_probs(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """``(N, V)`` probabilities with which ``sample_next`` must draw each index: the softmax of
    ``logits / temperature`` over the top ``top_k`` entries of each row (ties with the k-th kept),
    then restricted to the nucleus of ``top_p`` and renormalised, by
    ``torch.distributions.Categorical``. ``temperature=0`` puts all mass on the argmax."""
    logits = t(logits)
    if temperature == 0:
        return n(F.one_hot(logits.argmax(-1), logits.shape[-1]).to(torch.float64))
    return n(_draw_probs(logits, temperature, top_k, top_p))


@lazy_mistakes
def sampling_mistakes(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> dict:
    """Draw probabilities under the usual slips of ``sample_next``."""
    logits = t(logits)
    V = logits.shape[-1]
    out = {}
    if temperature not in (0, 1):
        out["temperature multiplied: divide the logits by the temperature"] = sampling_probs(
            n(logits * temperature * temperature), temperature, top_k, top_p)
        out["the temperature was applied to the probabilities after the softmax (sampling renormalises "
            "them, so dividing them changes nothing): divide the LOGITS before the softmax"] = sampling_probs(
            n(logits), 1.0, top_k, top_p)
    if top_k is not None and top_k < V:
        out["top_k kept only the logits larger than the k-th, k-1 of them (z <= kth masked): keep the k largest "
            "and every logit tied with the k-th (mask z < kth)"] = n(_draw_probs(
                logits, temperature, top_k, top_p, k_slip={"ties": "strict"}))
        out["ties with the k-th logit dropped (exactly k kept): keep every logit equal to the k-th largest too"] = n(
            _draw_probs(logits, temperature, top_k, top_p, k_slip={"ties": "drop"}))
        out["top-k kept the k SMALLEST logits: keep the k largest (torch.topk's default)"] = n(_draw_probs(
            logits, temperature, top_k, top_p, k_slip={"largest": False}))
        out["top_k ignored: the whole distribution was sampled; set every logit outside the top k to -inf"] = \
            sampling_probs(n(logits), temperature, None, top_p)
    if top_p is not None:
        out["the index that crosses top_p was left out: keep the most likely indices until their probabilities "
            "reach top_p, the one that crosses it included"] = n(_draw_probs(
                logits, temperature, top_k, top_p, p_slip={"crossing": False}))
        out["top_p kept the LEAST likely indices: sort the probabilities in descending order"] = n(_draw_probs(
            logits, temperature, top_k, top_p, p_slip={"least": True}))
        out["top_p ignored: keep only the most likely indices whose probabilities reach top_p"] = \
            sampling_probs(n(logits), temperature, top_k, None)
        if temperature not in (0, 1):
            nucleus_at_1 = _nucleus(torch.softmax(_top_k_masked(logits, top_k), -1), top_p) > 0
            probs = _draw_probs(logits, temperature, top_k, None) * nucleus_at_1
            out["top_p applied before the temperature: divide by the temperature first, then choose the nucleus "
                "from those probabilities"] = n(probs / probs.sum(-1, keepdim=True))
        if top_k is not None and top_k < V:
            nucleus_all = _nucleus(torch.softmax(logits / temperature, -1), top_p) > 0
            probs = _draw_probs(logits, temperature, top_k, None) * nucleus_all
            out["top_p applied before top_k: keep the top k first, renormalise, then choose the nucleus"] = n(
                probs / probs.sum(-1, keepdim=True))
    if logits.shape[0] > 1 and top_p is None:
        # softmax down the columns; drawing from each row then renormalises that row
        across = torch.softmax(_top_k_masked(logits / temperature, top_k), dim=0)
        out["softmax over the batch axis (dim=0): each row's softmax runs over its V logits (dim=-1)"] = n(
            across / across.sum(-1, keepdim=True))
    return out


def empirical_frequencies(indices, vocab_size: int, group: int) -> np.ndarray:
    """How often each index was drawn: ``indices (R * group,)``, drawn for ``R`` rows of logits each
    repeated ``group`` times in a row (row-major), -> ``(R, vocab_size)`` frequencies."""
    idx = torch.as_tensor(np.asarray(indices), dtype=torch.int64).reshape(-1, group)
    counts = F.one_hot(idx, vocab_size).sum(dim=1).to(torch.float64)
    return n(counts / group)

# ----------------------------------------------------------------------------- greedy decoding


def greedy_next(next_logits: NextLogits, seqs: torch.Tensor, start: int) -> torch.Tensor:
    """For every position ``s >= start`` of ``seqs (N, L)``, the argmax of ``next_logits`` applied to
    ``seqs[:, :s]``: what a greedy decoder must have put there. Positions before ``start`` (the
    prompt) are copied. Checking a decoder's output against this needs no second decoder."""
    expected = seqs.clone()
    with torch.no_grad():
        for s in range(start, seqs.shape[1]):
            expected[:, s] = next_logits(seqs[:, :s]).argmax(-1)
    return expected


def greedy_reference(next_logits: NextLogits, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    """The argmax chain from ``prompt (N, T0)``: ``(N, T0 + n_new)``. It is the definition of greedy
    decoding, used to name mistakes (on altered next-token functions); the tests also check a
    decoder's output by the property of ``greedy_next``."""
    seqs = prompt
    with torch.no_grad():
        for _ in range(n_new):
            seqs = torch.cat([seqs, next_logits(seqs).argmax(-1, keepdim=True)], dim=1)
    return seqs


@lazy_mistakes
def greedy_mistakes(next_logits: NextLogits, prompt: torch.Tensor, n_new: int) -> dict:
    """What ``greedy_decode`` returns under the usual slips, from the argmax chain run on altered
    next-token functions."""
    full = greedy_reference(next_logits, prompt, n_new)
    return {
        "the prediction is not fed back: append each new token and predict the next one from the longer sequence":
            greedy_reference(lambda s: next_logits(prompt), prompt, n_new),
        "only the last token was fed to next_logits: pass the whole sequence so far (prompt and every new token), "
        "a model reads more than the last token":
            greedy_reference(lambda s: next_logits(s[:, -1:]), prompt, n_new),
        "the smallest logit was picked (argmin, or the sort order reversed): greedy takes the argmax":
            greedy_reference(lambda s: -next_logits(s), prompt, n_new),
        "the prompt is missing from the result: return the prompt followed by the new tokens":
            full[:, prompt.shape[1]:],
    }

# ----------------------------------------------------------------------------- beam search


def continuation_log_probs(next_logits: NextLogits, prompt: torch.Tensor, max_new: int, eos_id: int | None,
                           stop_at_eos: bool = True) -> list[tuple[tuple[int, ...], float]]:
    """Every continuation of the 1-D ``prompt`` by 1..``max_new`` tokens and its total log-probability.

    Continuations end at ``eos_id`` (included) or after ``max_new`` tokens, so the list holds the
    finished sequences a beam search of unlimited width would compare. With ``stop_at_eos=False``
    EOS is an ordinary token and only the continuations of exactly ``max_new`` tokens are listed.
    Brute force: ``V + V² + ... + V^max_new`` calls' worth of rows, for tiny vocabularies only.
    """
    done: list[tuple[tuple[int, ...], float]] = []
    live = [((), 0.0)]
    with torch.no_grad():
        for step in range(max_new):
            if not live:
                break
            seqs = torch.stack([torch.cat([prompt, prompt.new_tensor(c)]) for c, _ in live])
            logp = torch.log_softmax(next_logits(seqs).to(torch.float64), dim=-1)   # (B, V)
            grown = []
            for (cont, score), row in zip(live, logp.tolist()):
                for token, lp in enumerate(row):
                    item = (cont + (token,), score + lp)
                    ended = stop_at_eos and eos_id is not None and token == eos_id
                    (done if ended or step == max_new - 1 else grown).append(item)
            live = grown
    return done


def normalised_score(total_log_prob: float, length: int, alpha: float) -> float:
    """The ranking score of a finished sequence: ``total / length ** alpha`` (``alpha = 0``: no
    normalisation; ``alpha = 1``: the mean log-probability per generated token)."""
    return total_log_prob / length ** alpha


def brute_force_best(next_logits: NextLogits, prompt: torch.Tensor, max_new: int, eos_id: int | None,
                     alpha: float = 1.0, stop_at_eos: bool = True, count_prompt: bool = False,
                     drop_finished: bool = False) -> tuple[torch.Tensor, float]:
    """The best sequence (prompt + continuation) over ALL continuations, and its normalised score.
    ``count_prompt=True`` divides by the length with the prompt counted, ``drop_finished=True`` leaves
    out every continuation that contains EOS (two mistakes' rankings)."""
    candidates = continuation_log_probs(next_logits, prompt, max_new, eos_id, stop_at_eos)
    if drop_finished:
        candidates = [c for c in candidates if eos_id not in c[0]]
    extra = len(prompt) if count_prompt else 0
    cont, total = max(candidates, key=lambda c: normalised_score(c[1], len(c[0]) + extra, alpha))
    return torch.cat([prompt, prompt.new_tensor(cont)]), normalised_score(total, len(cont) + extra, alpha)


def best_length(next_logits: NextLogits, prompt: torch.Tensor, max_new: int, eos_id: int | None,
                alpha: float = 1.0) -> int:
    """How many tokens the best continuation has (fewer than ``max_new`` when it ends early at EOS)."""
    return len(brute_force_best(next_logits, prompt, max_new, eos_id, alpha)[0]) - len(prompt)


@lazy_mistakes
def beam_search_mistakes(next_logits: NextLogits, prompt: torch.Tensor, max_new: int, eos_id: int | None,
                         alpha: float = 1.0) -> dict:
    """The sequence ``beam_search`` returns under the usual slips (brute force on altered settings), for a
    beam wide enough to keep every candidate, as the tests' brute-force cases use."""
    out = {}
    if alpha != 0:
        out["the prompt was counted in the length L: L is the number of GENERATED tokens (EOS included, "
            "the prompt not)"] = brute_force_best(next_logits, prompt, max_new, eos_id, alpha, count_prompt=True)[0]
        out["no length normalisation: rank finished sequences by total log-probability / length ** alpha"] = \
            brute_force_best(next_logits, prompt, max_new, eos_id, alpha=0.0)[0]
    greedy = greedy_reference(next_logits, prompt[None], 1)[0]
    while len(greedy) < len(prompt) + max_new and (eos_id is None or greedy[-1].item() != eos_id):
        greedy = greedy_reference(next_logits, greedy[None], 1)[0]
    out["only the best beam was kept (that is greedy decoding): keep beam_width candidates at every step"] = greedy
    if eos_id is not None:
        out["finished beams were not stopped at EOS: a beam that produced eos_id is complete"] = \
            brute_force_best(next_logits, prompt, max_new, eos_id, alpha, stop_at_eos=False)[0]
        out["sequences ending in eos_id were dropped: they are finished candidates, set aside and compared by "
            "their normalised score"] = brute_force_best(next_logits, prompt, max_new, eos_id, alpha, drop_finished=True)[0]
        # with a beam as wide as the vocabulary, the first finished sequence is EOS right after the prompt
        out["the search stopped at the first finished beam: go on while live beams remain"] = \
            torch.cat([prompt, prompt.new_tensor([eos_id])])
    return out


@lazy_mistakes
def beam_score_mistakes(next_logits: NextLogits, prompt: torch.Tensor, max_new: int, eos_id: int | None,
                        alpha: float = 1.0) -> dict:
    """The score ``beam_search`` returns for the best sequence under the usual slips of its formula."""
    tokens, score = brute_force_best(next_logits, prompt, max_new, eos_id, alpha)
    L = len(tokens) - len(prompt)
    total = score * L ** alpha
    return {
        "the score counts the prompt in the length L: divide by L ** alpha with L the generated tokens only":
            total / (L + len(prompt)) ** alpha,
        "the score is not normalised: return total log-probability / L ** alpha": total,
        "the score is a probability, not a log-probability: add log-probabilities": math.exp(score),
    }


#: The mistake of a beam search that refills the slot of a finished beam (Hugging Face's rule, not the chapter's);
#: its outcome on a worked example is found by hand, so the tests give its value themselves.
REFILLED_SLOT = ("a finished beam's slot was refilled from the next-best extensions: keep the beam_width best "
                 "extensions, finished ones included, and extend only those that did not end")


def tree_next_logits(tree: dict[tuple[int, ...], list[float]], prompt_length: int,
                     default: list[float]) -> NextLogits:
    """A next-token function given as a table: ``tree[continuation]`` is the probability of each next
    token after the generated tokens ``continuation`` (a tuple; the prompt's ``prompt_length`` tokens
    are not part of the key), ``default`` after any other. For worked examples of beam search, whose
    outcome is found by hand."""
    def next_logits(seqs):
        rows = [tree.get(tuple(seq[prompt_length:].tolist()), default) for seq in seqs]
        return torch.log(torch.tensor(rows, dtype=torch.float64, device=seqs.device))
    return next_logits


def random_tree(vocab_size: int, depth: int, generator: torch.Generator, scale: float = 1.0) -> dict:
    """A ``tree_next_logits`` table with random probabilities after every continuation shorter than
    ``depth`` (``softmax`` of ``scale`` times normal numbers), drawn in order of length, then of tokens.
    Unlike a bigram, every continuation has its own next-token distribution, so the rankings of
    sequences of different lengths (and the mistakes that change them) come apart."""
    return {prefix: torch.softmax(torch.randn(vocab_size, generator=generator, dtype=torch.float64) * scale, 0).tolist()
            for d in range(depth) for prefix in itertools.product(range(vocab_size), repeat=d)}


def bigram_next_logits(table: torch.Tensor) -> NextLogits:
    """A next-token function that looks only at the last token: ``table[last] (B, V)``."""
    return lambda seqs: table[seqs[:, -1]]


def bigram_with_position(table: torch.Tensor, bonus: torch.Tensor) -> NextLogits:
    """A next-token function reading the last token and the length: ``table[last] + bonus[len]``."""
    return lambda seqs: table[seqs[:, -1]] + bonus[seqs.shape[1] % bonus.shape[0]]

# ----------------------------------------------------------------------------- key/value cache


def causal_attention(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Causal attention recomputed over the whole prefix: ``(N, h, T, d_k)`` by
    ``scaled_dot_product_attention(is_causal=True)``. Row ``s`` is what a cached step must return
    for the query at position ``s``."""
    return F.scaled_dot_product_attention(Q, K, V, is_causal=True)


@lazy_mistakes
def cached_step_mistakes(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, s: int) -> dict:
    """What the cached attention step for position ``s`` returns under the usual slips, ``(N, h, 1, d_k)``,
    by ``scaled_dot_product_attention`` on altered keys, values and masks."""
    q, keys, values = Q[..., s:s + 1, :], K[..., :s + 1, :], V[..., :s + 1, :]
    sdpa = F.scaled_dot_product_attention
    out = {
        "keys appended but the values recomputed from the new token alone: cache V as you cache K":
            sdpa(q, keys, V[..., s:s + 1, :].expand_as(values)),
        "scores not divided by sqrt(d_k)": sdpa(q, keys, values, scale=1.0),
    }
    if s > 0:
        first_only = torch.zeros(1, s + 1, dtype=torch.bool, device=Q.device)
        first_only[0, 0] = True   # tril() of a (1, s+1) mask keeps only the first key
        out["a causal mask applied inside the cached step: the one new query may attend to every cached "
            "position, itself included (no mask)"] = sdpa(q, keys, values, attn_mask=first_only)
        out["the new key and value attended before they were appended: the query must see its own position"] = \
            sdpa(q, K[..., :s, :], V[..., :s, :])
    return out


#: The axes of the cache's 4-D keys and values, by name (for messages).
CACHE_AXES = ("batch", "head", "time", "feature")


def attend_checked(cache, q_t: torch.Tensor, k_t: torch.Tensor, v_t: torch.Tensor, position: int, what: str):
    """``cache.attend(q_t, k_t, v_t)`` for the new position ``position``; an error inside it becomes a
    message that names the likely mistake, read from the keys the cache holds when it failed: grown
    on another axis than time, or (keys of the right shape) ``K.T`` on the 4-D keys."""
    from seqlab.testing import call_checked

    N, h, _, d_k = k_t.shape
    expected = (N, h, position + 1, d_k)
    try:
        return cache.attend(q_t, k_t, v_t)
    except Exception as error:  # noqa: BLE001 - turned into a message below
        failure = error
    K = getattr(cache, "K", None)
    shape = tuple(K.shape) if isinstance(K, torch.Tensor) else None
    grown = [CACHE_AXES[i] for i in range(4) if shape is not None and len(shape) == 4 and shape[i] > expected[i]]
    if grown:
        causes = [(("",), f"the keys were appended along the {' and '.join(grown)} axis: cache.K has shape {shape} "
                          f"after the step at position {position}, expected {expected}; append k_t and v_t along "
                          "the time axis, torch.cat([self.K, k_t], dim=-2)")]
    else:
        causes = [(("must match the size", "size mismatch", "expected size", "cannot be multiplied"),
                   "the keys are 4-D (N, n_heads, t, d_k): swap only their last two axes, K.transpose(-2, -1) "
                   "(K.T reverses all four axes)")]

    def raise_it():
        raise failure

    return call_checked(what, raise_it, causes=causes)

# ----------------------------------------------------------------------------- the character RNN


@dataclass(frozen=True)
class RNNWeights:
    """A character RNN's weights by name, as ``char_rnn`` reads them (a test's ``own_parameters``
    has the same attributes)."""

    E: torch.Tensor
    W_xh: torch.Tensor
    W_hh: torch.Tensor
    b_h: torch.Tensor
    W_hy: torch.Tensor
    b_y: torch.Tensor

    @classmethod
    def of(cls, weights, **changes) -> "RNNWeights":
        """``weights`` (any object with these attributes) with some of them replaced."""
        return cls(**{name: changes.get(name, getattr(weights, name)) for name in cls.__dataclass_fields__})

    def leaves(self) -> "RNNWeights":
        """Copies that require gradients, for a test's own backward pass."""
        return RNNWeights(**{name: getattr(self, name).detach().clone().requires_grad_()
                             for name in self.__dataclass_fields__})


def _rnn_states(weights, X: torch.Tensor, h0: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h_1 .. h_T (N, T, H), h_T (N, H))`` by ``nn.RNN``, its weights swapped for the course's
    (``torch.func.functional_call``, so that gradients reach the tensors in ``weights``)."""
    D, H = weights.W_xh.shape
    rnn = torch.nn.RNN(D, H, batch_first=True, dtype=X.dtype, device=X.device)
    swapped = {"weight_ih_l0": weights.W_xh.T, "weight_hh_l0": weights.W_hh.T, "bias_ih_l0": weights.b_h,
               "bias_hh_l0": torch.zeros_like(weights.b_h)}
    H_states, h_T = torch.func.functional_call(rnn, swapped, (X, None if h0 is None else h0[None]))
    return H_states, h_T[0]


def char_rnn(weights, tokens: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits (N, T, V), h_T (N, H))`` of the course's character RNN with ``weights`` (``E (V, D)``,
    ``W_xh (D, H)``, ``W_hh (H, H)``, ``b_h (H,)``, ``W_hy (H, V)``, ``b_y (V,)``) on ``tokens (N, T)``:
    ``F.embedding``, ``nn.RNN`` and ``F.linear``. Differentiable in the tensors of ``weights``."""
    H_states, h_T = _rnn_states(weights, F.embedding(tokens, weights.E), h0)
    return F.linear(H_states, weights.W_hy.T, weights.b_y), h_T


@lazy_mistakes
def char_rnn_mistakes(weights, tokens: torch.Tensor, h0: torch.Tensor | None = None) -> dict:
    """The logits ``CharRNN.forward`` returns under the usual slips, by ``char_rnn`` on altered weights,
    states or inputs."""
    with torch.no_grad():
        X = F.embedding(tokens, weights.E)
        H_states, h_T = _rnn_states(weights, X, h0)
        start = h0 if h0 is not None else X.new_zeros(tokens.shape[0], weights.W_hh.shape[0])
        h, linear_states = start, []
        for step in range(tokens.shape[1]):                              # the recurrence without tanh
            h = X[:, step] @ weights.W_xh + h @ weights.W_hh + weights.b_h
            linear_states.append(h)

        def read_out(S):
            return F.linear(S, weights.W_hy.T, weights.b_y)

        out = {
            "the read-out used h_{t-1}, the state BEFORE reading x_t: the logits at step t come from h_t":
                read_out(torch.cat([start[:, None], H_states[:, :-1]], dim=1)),
            "only the last state was kept: the logits at every position come from that position's h_t; "
            "collect h_1 .. h_T": read_out(h_T)[:, None].expand(-1, tokens.shape[1], -1),
            "W_hh transposed (h_prev @ W_hh.T): the course multiplies rows on the right, h_prev @ W_hh":
                char_rnn(RNNWeights.of(weights, W_hh=weights.W_hh.T), tokens, h0)[0],
            "tanh missing: h_t = tanh(x_t @ W_xh + h_prev @ W_hh + b_h)": read_out(torch.stack(linear_states, 1)),
            "the hidden bias b_h left out": char_rnn(RNNWeights.of(weights, b_h=0 * weights.b_h), tokens, h0)[0],
            "the read-out bias b_y left out": char_rnn(RNNWeights.of(weights, b_y=0 * weights.b_y), tokens, h0)[0],
        }
        if h0 is not None:
            out["h0 ignored: start from the h0 you are given (zeros only when it is None)"] = \
                char_rnn(weights, tokens, None)[0]
    return out

# ----------------------------------------------------------------------------- the training step


def _flat(tensors) -> torch.Tensor:
    return torch.cat([x.detach().reshape(-1) for x in tensors])


def detached(state):
    """A model's state with every tensor detached (a tensor, a tuple of tensors, or None)."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


@dataclass
class StepResult:
    """What one training step did, by built-ins, and the values the usual slips give instead.

    ``loss``: the mean cross-entropy before the update; ``grad_norm``: the global gradient norm before
    clipping; ``state``: the model's last state, detached; ``grads`` and ``params``: every parameter's
    gradient after clipping and value after the update, flattened in ``named_parameters`` order. Each
    ``*_mistakes`` maps a slip to the value it gives instead."""

    loss: float
    grad_norm: float
    state: object
    grads: torch.Tensor
    params: torch.Tensor
    loss_mistakes: dict
    norm_mistakes: dict
    grad_mistakes: dict
    param_mistakes: dict


class ReferenceTraining:
    """The chapter's training step done by built-ins on the test's own copy of a model: the mean
    ``F.cross_entropy`` over every position, ``zero_grad``, ``backward``, ``clip_grad_norm_`` and an
    ``AdamW`` step, with the optimizer's state kept from one step to the next.

    Beside it runs a twin that clips only after the update (a slip whose effect shows only from the
    second step on, when the optimizer's moments remember the unclipped gradients), from the same
    weights, with a state of its own.

    ``like(model, weights, ...)``: the test builds a model of the student's class and loads the test's
    own weights (``own_parameters``) into it, so both start from the same numbers."""

    def __init__(self, model: torch.nn.Module, lr: float, weight_decay: float):
        self.model = model
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.twin_model, self.twin_optimizer = copy.deepcopy((self.model, self.optimizer))
        self.twin_state = None
        self.last_grads: list[torch.Tensor] | None = None

    @classmethod
    def like(cls, model: torch.nn.Module, weights, lr: float, weight_decay: float) -> "ReferenceTraining":
        model.load_state_dict(weights.state_dict(), strict=False)
        return cls(model, lr, weight_decay)

    @staticmethod
    def _loss(model, x, y, state):
        logits, state_after = model(x, state)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), state_after

    def _twin_step(self, x, y, clip) -> torch.Tensor:
        """The step that clips after the update, in the twin's own world; its parameters after it."""
        loss, state = self._loss(self.twin_model, x, y, self.twin_state)
        self.twin_optimizer.zero_grad()
        loss.backward()
        self.twin_optimizer.step()
        torch.nn.utils.clip_grad_norm_(self.twin_model.parameters(), clip)
        self.twin_state = detached(state)
        return _flat(self.twin_model.parameters())

    def step(self, x: torch.Tensor, y: torch.Tensor, state=None, clip: float = 1.0) -> StepResult:
        params = list(self.model.parameters())
        before = _flat(params)
        loss_mistakes = {}
        if state is not None:
            with torch.no_grad():
                loss_mistakes["the state was not passed on: give the model the state the previous step returned"] = \
                    self._loss(self.model, x, y, None)[0].item()
        loss, new_state = self._loss(self.model, x, y, state)
        loss_mistakes["the loss was summed over the N*T positions (reduction='sum'): train on their MEAN"] = \
            loss.item() * y.numel()
        self.optimizer.zero_grad()
        loss.backward()
        raw = [p.grad.clone() for p in params]
        norm = torch.nn.utils.clip_grad_norm_(params, clip).item()
        grad_mistakes = {"the gradients were not clipped: call clip_grad_norm_(model.parameters(), clip) after "
                         "backward() and before optimizer.step()": _flat(raw),
                         "the parameters have no gradients after the step: call optimizer.zero_grad() first, then "
                         "loss.backward()": torch.zeros_like(before)}
        norm_mistakes = {}
        if self.last_grads is not None:
            summed = [torch.nn.Parameter(torch.zeros_like(g)) for g in raw]     # holders of the summed gradients
            for holder, g, r in zip(summed, self.last_grads, raw):
                holder.grad = g + r
            accumulated = "the gradients of the previous step were added to these: call optimizer.zero_grad() " \
                          "before loss.backward() at every step"
            norm_mistakes[accumulated] = torch.nn.utils.clip_grad_norm_(summed, clip).item()
            grad_mistakes = {accumulated: _flat(h.grad for h in summed), **grad_mistakes}
        self.optimizer.step()
        self.last_grads = [p.grad.clone() for p in params]
        grads = _flat(p.grad for p in params)
        return StepResult(
            loss=loss.item(), grad_norm=norm, state=detached(new_state), grads=grads, params=_flat(params),
            loss_mistakes=loss_mistakes,
            norm_mistakes={**norm_mistakes,
                           "the norm AFTER clipping was returned: return the norm clip_grad_norm_ returns, "
                           "measured before it rescales": torch.linalg.vector_norm(grads).item()},
            grad_mistakes=grad_mistakes,
            param_mistakes={"clipped after optimizer.step(): clip between backward() and step(), so the update "
                            "uses the clipped gradients": self._twin_step(x, y, clip),
                            "the parameters did not change: call optimizer.step()": before})
