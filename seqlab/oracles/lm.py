"""Chapter 09-language-model: perplexity, sampling, decoding and the key/value cache, by
PyTorch built-ins, brute force and recomputation.

| exercise | oracle |
| --- | --- |
| ``perplexity`` | ``exp(torch.nn.functional.cross_entropy(...))`` |
| ``sample_next`` | the probabilities ``torch.distributions.Categorical`` gives to ``logits / T`` with all but the top k set to ``-inf``; the test compares them with the frequencies of many seeded draws |
| ``greedy_decode`` | a property: every new token is the ``argmax`` of the logits after the prefix before it |
| ``beam_search`` | brute force: the log-probability of *every* continuation of a tiny vocabulary, scored and ranked |
| ``KVCache`` | ``scaled_dot_product_attention(..., is_causal=True)`` recomputed over the whole prefix |

As in the other oracle modules, each ``*_mistakes`` function returns ``{description: value}``:
what the exercise returns under a common slip, from the oracle fed altered inputs (logits
multiplied instead of divided, negated, a function frozen at its prompt, a mask that hides all
but the first key, ...). No exercise's answer is written out here.

A *next-token function* ``next_logits(seqs) -> logits`` maps a batch of token sequences
``(B, t)`` int64 to the logits of the token that follows each, ``(B, V)``; every decoder of the
chapter takes one, so a model, a bigram table or a hand-made test case can be plugged in.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ._torch import lazy_mistakes, n, t

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
    with np.errstate(over="ignore"):
        out = {
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


def _top_k_masked(logits: torch.Tensor, top_k: int | None, largest: bool = True) -> torch.Tensor:
    """``logits`` with every entry outside the top ``top_k`` of its row set to ``-inf``."""
    if top_k is None or top_k >= logits.shape[-1]:
        return logits
    keep = torch.topk(logits, top_k, dim=-1, largest=largest).indices
    masked = torch.full_like(logits, -math.inf)
    return masked.scatter(-1, keep, logits.gather(-1, keep))


def sampling_probs(logits, temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """``(N, V)`` probabilities with which ``sample_next`` must draw each index: the softmax of
    ``logits / temperature`` over the top ``top_k`` entries of each row (zero elsewhere), by
    ``torch.distributions.Categorical``. ``temperature=0`` puts all mass on the argmax."""
    logits = t(logits)
    if temperature == 0:
        return n(F.one_hot(logits.argmax(-1), logits.shape[-1]).to(torch.float64))
    return n(torch.distributions.Categorical(logits=_top_k_masked(logits / temperature, top_k)).probs)


@lazy_mistakes
def sampling_mistakes(logits, temperature: float = 1.0, top_k: int | None = None) -> dict:
    """Draw probabilities under the usual slips of ``sample_next``."""
    logits = t(logits)
    out = {}
    if temperature not in (0, 1):
        out["temperature multiplied: divide the logits by the temperature"] = sampling_probs(
            n(logits * temperature * temperature), temperature, top_k)
    if top_k is not None and top_k < logits.shape[-1]:
        out["top-k kept the k SMALLEST logits: keep the k largest (torch.topk's default)"] = n(
            torch.distributions.Categorical(logits=_top_k_masked(logits / temperature, top_k, largest=False)).probs)
        out["top_k ignored: the whole distribution was sampled; set every logit outside the top k to -inf"] = \
            sampling_probs(n(logits), temperature, None)
    if logits.shape[0] > 1:
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
                     alpha: float = 1.0, stop_at_eos: bool = True) -> tuple[torch.Tensor, float]:
    """The best sequence (prompt + continuation) over ALL continuations, and its normalised score."""
    candidates = continuation_log_probs(next_logits, prompt, max_new, eos_id, stop_at_eos)
    cont, total = max(candidates, key=lambda c: normalised_score(c[1], len(c[0]), alpha))
    return torch.cat([prompt, prompt.new_tensor(cont)]), normalised_score(total, len(cont), alpha)


@lazy_mistakes
def beam_search_mistakes(next_logits: NextLogits, prompt: torch.Tensor, max_new: int, eos_id: int | None,
                         alpha: float = 1.0) -> dict:
    """The sequence ``beam_search`` returns under the usual slips (brute force on altered settings)."""
    out = {}
    if alpha != 0:
        out["no length normalisation: rank finished sequences by total log-probability / length ** alpha"] = \
            brute_force_best(next_logits, prompt, max_new, eos_id, alpha=0.0)[0]
    greedy = greedy_reference(next_logits, prompt[None], 1)[0]
    while len(greedy) < len(prompt) + max_new and (eos_id is None or greedy[-1].item() != eos_id):
        greedy = greedy_reference(next_logits, greedy[None], 1)[0]
    out["only the best beam was kept (that is greedy decoding): keep beam_width candidates at every step"] = greedy
    if eos_id is not None:
        out["finished beams were not stopped at EOS: a beam that produced eos_id is complete"] = \
            brute_force_best(next_logits, prompt, max_new, eos_id, alpha, stop_at_eos=False)[0]
    return out


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
