"""The given parts of chapter 09's character language models: none of them is an exercise.

Chapter 09's notebook, its lecture page, its tests and ``benchmarks/lm.py`` share these, so each is
defined once, here:

- ``CharLSTM`` and ``CharTransformer``: the two models the chapter trains beside the student's own
  ``CharRNN``, built from PyTorch's ``nn.LSTM`` and ``nn.TransformerEncoderLayer`` (the layers
  chapters 05 and 08 proved equal to the students' ``LSTM`` and ``EncoderBlock``); ``CharGRU``
  (``nn.GRU``), whose state is one tensor, for the tests of the training step. Every model has the
  interface ``forward(tokens (N, T), state=None) -> (logits (N, T, V), state)``.
- ``CharTransformer.step(token_t, caches)``: one new position through the Transformer with a
  key/value cache per layer. It calls ``cache.attend(q_t, k_t, v_t)`` and ``len(cache)``, the
  ``KVCache`` interface the students write; this module has no cache of its own.
- ``sinusoid_table``: chapter 07's fixed position encodings, in complex form.
- ``make_optimizer``, ``next_logits_of``, ``count_parameters``, ``bits_per_character``: the small
  helpers of the training loop and the decoders; ``repeated_share`` and ``known_word_share``, two
  measures of generated text (loops, spelling).
- ``CachedDecoder``: a next-token function that runs a ``CharTransformer`` through its caches, so
  the chapter's decoders (``sample_next`` in a loop, ``greedy_decode``) generate with a cache.
- ``time_generation``: seconds per generated token at each position, for recomputation against a
  cache (the page, the notebook and the benchmark measure the cache with it).
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["sinusoid_table", "CharLSTM", "CharGRU", "CharTransformer", "make_optimizer", "next_logits_of",
           "count_parameters", "bits_per_character", "repeated_share", "known_word_share", "CachedDecoder", "StepTimes", "time_generation"]


def sinusoid_table(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """(max_len, d_model) fixed position encodings, row i = position i (from 0): columns 2k, 2k+1 hold
    Im and Re of exp(1j * i * w_k) with w_k = base ** (-2k / d_model), chapter 07's table."""
    w = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(base) / d_model))   # (d/2,)
    phase = torch.outer(torch.arange(max_len, dtype=torch.float64), w)                               # (max_len, d/2)
    unit = torch.polar(torch.ones_like(phase), phase)                                                # e^{i phase}
    return torch.stack([unit.imag, unit.real], dim=-1).flatten(1).float()


class _CharRecurrent(torch.nn.Module):
    """Embedding -> one recurrent layer of ``torch.nn`` (``LAYER``, batch first) -> linear read-out.
    ``forward(tokens, state=None) -> (logits, state)``, the state as the layer gives it."""

    LAYER: type[torch.nn.RNNBase]

    def __init__(self, vocab_size: int, hidden_size: int = 128, embed_size: int = 32):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, embed_size)
        self.rnn = self.LAYER(embed_size, hidden_size, batch_first=True)
        self.readout = torch.nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens, state=None):
        H_states, state = self.rnn(self.embed(tokens), state)     # (N, T, hidden_size): h_1 .. h_T
        return self.readout(H_states), state


class CharLSTM(_CharRecurrent):
    """Embedding -> torch.nn.LSTM -> linear read-out. State: (h, c), each (1, N, hidden_size)."""

    LAYER = torch.nn.LSTM


class CharGRU(_CharRecurrent):
    """Embedding -> torch.nn.GRU (chapter 05's GRU) -> linear read-out. State: h (1, N, hidden_size),
    one tensor (the LSTM's is a pair, the Transformer has none: a training step must handle all three)."""

    LAYER = torch.nn.GRU


class CharTransformer(torch.nn.Module):
    """Decoder-only Transformer: embeddings + positions -> n_layers causal post-norm blocks -> read-out.

    ``dropout`` acts on the sum of the token and position embeddings here, and in each
    ``nn.TransformerEncoderLayer`` at four places: the attention weights, the attention sub-layer's
    output, the feed-forward network's hidden layer (after the ReLU) and its output, each output just
    before it is added back to the residual stream."""

    def __init__(self, vocab_size: int, d_model: int = 64, n_heads: int = 4, d_ff: int = 128, n_layers: int = 2,
                 max_len: int = 256, dropout: float = 0.0, positions: str = "learned"):
        super().__init__()
        self.max_len, self.positions_kind = max_len, positions
        self.tokens = torch.nn.Embedding(vocab_size, d_model)
        if positions == "learned":
            self.positions = torch.nn.Embedding(max_len, d_model)
        elif positions == "sinusoidal":
            self.register_buffer("pe", sinusoid_table(max_len, d_model))     # fixed: a buffer, not a parameter
        else:
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        self.drop = torch.nn.Dropout(dropout)
        self.layers = torch.nn.ModuleList(
            torch.nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=dropout, batch_first=True)
            for _ in range(n_layers))
        self.readout = torch.nn.Linear(d_model, vocab_size)

    def embed(self, tokens, start: int = 0):
        """(N, T) token ids at positions start .. start + T - 1 -> (N, T, d_model)."""
        if start + tokens.shape[1] > self.max_len:
            raise ValueError(f"positions up to {start + tokens.shape[1] - 1}, but this model has max_len = "
                             f"{self.max_len} (positions 0 .. {self.max_len - 1})")
        steps = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        where = self.positions(steps) if self.positions_kind == "learned" else self.pe[steps].to(self.tokens.weight.dtype)
        return self.drop(self.tokens(tokens) + where)

    def forward(self, tokens, state=None, start: int = 0):
        """Logits at every position of ``tokens (N, T)``, positions numbered from ``start``; no state."""
        T = tokens.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()   # True = may attend
        X = self.embed(tokens, start)
        for layer in self.layers:
            X = layer(X, src_mask=~causal)                   # the built-ins take True = blocked
        return self.readout(X), None

    def step(self, token_t, caches):
        """One new position: token_t (N,) -> logits (N, V). caches: one KVCache per layer, holding the
        keys and values of the positions before; each gets this position's appended. Eval mode only."""
        s = len(caches[0])                                   # the new token's position
        x = self.embed(token_t[:, None], start=s)            # (N, 1, D)
        for layer, cache in zip(self.layers, caches):
            attn = layer.self_attn
            N, D, h = x.shape[0], x.shape[-1], attn.num_heads
            q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)   # (N, 1, D) each
            heads = [z.view(N, 1, h, D // h).transpose(1, 2) for z in (q, k, v)]             # (N, h, 1, d_k)
            a = cache.attend(*heads)                         # (N, h, 1, d_k), over positions 0..s
            x = layer.norm1(x + attn.out_proj(a.transpose(1, 2).reshape(N, 1, D)))
            x = layer.norm2(x + layer.linear2(layer.activation(layer.linear1(x))))
        return self.readout(x[:, 0])


def make_optimizer(model: torch.nn.Module, lr: float = 3e-3, weight_decay: float = 0.01) -> torch.optim.Optimizer:
    """The chapter's optimizer: AdamW over every parameter of ``model``."""
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def next_logits_of(model: torch.nn.Module, context: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The next-token function of a model: logits (float64) after the last ``context`` tokens of each
    sequence, recomputed from scratch (for the recurrent models too, whose state starts at zero)."""
    def next_logits(seqs):
        with torch.no_grad():
            return model(seqs[:, -context:])[0][:, -1].double()
    return next_logits


def count_parameters(model: torch.nn.Module) -> int:
    """How many numbers training adjusts (buffers such as the sinusoid table are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def bits_per_character(perplexity: float, tokens: int, characters: int) -> float:
    """Bits per character of a model whose per-token perplexity is ``perplexity`` on a text of
    ``characters`` characters cut into ``tokens`` tokens: total bits / characters. With one token per
    character it is log2(perplexity); it compares models whatever their tokens."""
    return tokens * math.log2(perplexity) / characters


def repeated_share(generated: str, n: int = 10) -> float:
    """The share of the n-character pieces of ``generated`` that already occurred earlier in it: 0 for
    text that never repeats itself, close to 1 for text caught in a loop."""
    seen, repeats = set(), 0
    for i in range(len(generated) - n + 1):
        repeats += generated[i:i + n] in seen
        seen.add(generated[i:i + n])
    return repeats / max(1, len(generated) - n + 1)


def known_word_share(generated: str, known_words: set[str]) -> float:
    """The share of the words of ``generated`` (split at spaces and newlines) found in ``known_words``."""
    words = generated.split()
    return sum(w in known_words for w in words) / max(1, len(words))


class CachedDecoder:
    """A next-token function ``(N, t) -> (N, V)`` that runs ``model.step`` through one cache per layer
    (``make_cache()`` makes one): each call feeds only the positions the caches have not seen yet, so a
    decoder that passes the whole growing sequence at every step costs one position per step.

    For one batch of sequences that only grows (sampling, greedy decoding); ``reset()`` empties the
    caches for a new batch. Not for beam search, whose rows are reordered between steps."""

    def __init__(self, model: "CharTransformer", make_cache: Callable[[], object]):
        self.model, self.make_cache = model, make_cache
        self.reset()

    def reset(self) -> None:
        self.caches = [self.make_cache() for _ in self.model.layers]

    def __call__(self, seqs: torch.Tensor) -> torch.Tensor:
        seen = len(self.caches[0])
        if seen >= seqs.shape[1]:
            raise ValueError(f"the caches hold {seen} positions and the sequences have {seqs.shape[1]}: "
                             "reset() before a new batch")
        with torch.no_grad():
            for s in range(seen, seqs.shape[1]):
                logits = self.model.step(seqs[:, s], self.caches)
        return logits


@dataclass
class StepTimes:
    """Seconds spent on the step that generated the token at each position (median of the repeats),
    and the tokens generated (to check that two methods agree)."""

    positions: list[int]
    seconds: list[float]
    tokens: torch.Tensor


def time_generation(step: Callable[[torch.Tensor], torch.Tensor], reset: Callable[[], None],
                    prompt: torch.Tensor, n_new: int, repeats: int = 3) -> StepTimes:
    """Greedy generation of ``n_new`` tokens after ``prompt (N, T0)``, timing each step.

    ``reset()`` starts a generation (empties a cache); ``step(seqs)`` gets the sequences so far
    ``(N, t)`` and returns the logits ``(N, V)`` of the next token, by whatever means (recomputing the
    whole prefix, or one cached step). The prompt is read before the clock starts. On a GPU each step
    is synchronised, so a step's time includes its kernels."""
    sync = torch.cuda.synchronize if prompt.device.type == "cuda" else (lambda: None)
    runs, tokens = [], None
    with torch.no_grad():
        for _ in range(repeats):
            reset()
            seqs, times = prompt, []
            logits = step(seqs)
            for _ in range(n_new):
                seqs = torch.cat([seqs, logits.argmax(-1, keepdim=True)], dim=1)
                sync()
                start = time.perf_counter()
                logits = step(seqs)
                sync()
                times.append(time.perf_counter() - start)
            runs.append(times)
            tokens = seqs
    positions = list(range(prompt.shape[1], prompt.shape[1] + n_new))
    return StepTimes(positions, [statistics.median(r[i] for r in runs) for i in range(n_new)], tokens)
