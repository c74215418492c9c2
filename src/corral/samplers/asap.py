"""ASAp: adaptive sampling with approximate expected futures (grammar-aligned decoding, Park et al. 2024;
ALGORITHMS.md §3), ``method="asap"``.

Samples are drawn one after another in one :class:`~corral.samplers.asap_trie.AsapTrie`. At each prefix ``x`` the
next token is drawn with probability ``∝ p(y | x) θ(x·y)`` over the allowed tokens, where ``θ`` estimates the
expected future grammaticality; a prefix visited for the first time is expanded (one forward pass and one mask) and
``θ`` is updated up to the root. The first sample is masked decoding (law ``ℓ``); as the trie covers the language
the law of the next sample approaches ``π(y) ∝ p(y) 1[y ∈ L]``.

Guarantee, stated plainly: the samples are **neither independent nor exact** at any finite count; the law of the
``k``-th sample converges to ``π`` (within ``max_tokens``) as the trie covers the support, and ``θ(root)`` is an
upper bound on ``Z`` that falls to it. For draws that are consistent at any trie, use the trie as an SMC twist
(``smc(..., twist=trie)``).

Only prefixes never visited cost a forward pass: the model sequence and the constraint state are moved along the
trie (cropped and rolled back to the common prefix) only when a new prefix is expanded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from corral.errors import ConfigurationError, GenerationError
from corral.samplers.asap_trie import TWIST_FLOOR, AsapTrie, _Node
from corral.samplers.awrs import as_float64, logsumexp
from corral.samplers.masking import SampleOutput, checked_logprobs
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.protocols import ConstraintState, ModelSequence

__all__ = ["AsapTrie", "TWIST_FLOOR", "asap_samples"]


class _Cursor:
    """The model sequence and the constraint state, moved to the prefix being expanded (cropped and rolled back to
    the common prefix with where they are, then extended)."""

    def __init__(self, seq: ModelSequence, matcher: ConstraintState) -> None:
        self.seq, self.matcher, self.path = seq, matcher, []

    def goto(self, path: Sequence[int]) -> None:
        """Move to ``path`` (tokens after the prompt)."""
        common = 0
        for a, b in zip(self.path, path):
            if a != b:
                break
            common += 1
        back = len(self.path) - common
        if back:
            self.matcher.rollback(back)
            self.seq.crop(back)
        for t in path[common:]:
            self.matcher.advance(t)
            self.seq.append(t)
        self.path = list(path)


def asap_samples(seq: ModelSequence, matcher: ConstraintState, trie: AsapTrie, *, samples: int, max_tokens: int,
                 temperature: float = 1.0, generator: torch.Generator | None = None,
                 eos_token_ids: Collection[int] | None = None) -> list[SampleOutput]:
    """Draw ``samples`` ASAp samples in ``trie`` (updated in place), one after another.

    Parameters
    ----------
    seq : ModelSequence
        Positioned after the prompt; used as a cursor (it ends at some visited prefix).
    matcher : ConstraintState
        The constraint at the start of the output (with ``rollback``); used as a cursor too.
    trie : AsapTrie
        Where the samples learn; bound to the prompt, the horizon and the temperature on first use.
    samples : int
        ``>= 1``.
    max_tokens : int
        Most tokens per sample, EOS included (cut by the model's context). At the last position only EOS is
        allowed, so the trie learns ``π`` within ``max_tokens`` (a prefix that cannot end in time is a dead end).
    temperature : float
        ``> 0``; the model's log-probabilities are divided by it.
    generator : torch.Generator, optional
        One uniform draw per token.
    eos_token_ids : collection of int, optional
        Default: the model's.

    Returns
    -------
    list of SampleOutput
        In the order drawn. ``status`` is ``"complete"`` or ``"length"`` (the sample reached a dead end: no text of
        the language fits in ``max_tokens`` from there); ``logprob`` is under the law each token was drawn from.

    Raises
    ------
    ConfigurationError
        Bad ``samples``, ``max_tokens`` or ``temperature``, or a trie bound to another prompt or setting.
    GenerationError
        The prompt fills the model's context.
    """
    _check_arguments(samples, max_tokens, temperature)
    eos = frozenset(seq.model.eos_token_ids if eos_token_ids is None else eos_token_ids)
    horizon = _horizon(seq, max_tokens)
    trie.bind((tuple(seq.tokens), horizon, float(temperature), tuple(sorted(eos))))
    cursor = _Cursor(seq, matcher)
    return [_draw(trie, cursor, horizon, eos, float(temperature), generator) for _ in range(int(samples))]


def _check_arguments(samples: int, max_tokens: int, temperature: float) -> None:
    """ConfigurationError for bad arguments of :func:`asap_samples`."""
    for name, value in (("samples", samples), ("max_tokens", max_tokens)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ConfigurationError(f"{name} must be an integer >= 1, got {value!r}")
    if temperature is None or not (temperature > 0 and math.isfinite(temperature)):
        raise ConfigurationError(f"ASAp needs a finite temperature > 0, got {temperature!r}")


def _horizon(seq: ModelSequence, max_tokens: int) -> int:
    """Most tokens a sample may take: ``max_tokens``, cut by the model's context."""
    horizon = int(max_tokens)
    if seq.max_length is not None:
        horizon = min(horizon, seq.max_length - len(seq) + 1)
        if horizon < 1:
            raise GenerationError(f"the prompt has {len(seq)} tokens; the context holds {seq.max_length}")
    return horizon


def _draw(trie: AsapTrie, cursor: _Cursor, horizon: int, eos: frozenset[int], temperature: float,
          generator: torch.Generator | None) -> SampleOutput:
    """One sample: walk down from the root drawing ``∝ p·θ``, expanding the prefixes never visited."""
    out, node, path = SampleOutput(), trie.root, []
    t0 = time.perf_counter()
    while True:
        if not node.expanded:
            cursor.goto(path)
            _expand(trie, node, cursor, len(path) + 1 >= horizon, eos, temperature)
        w = node.p * node.theta
        total = float(w.sum())
        if not total > 0:  # a dead end: every allowed continuation has θ = 0
            trie.set_theta(node, 0.0)
            break
        i = _pick(w, total, generator)
        token = int(node.ids[i])
        _record(out, node, i, math.log(w[i] / total), temperature, t0)
        if token in eos:
            out.status = "complete"
            break
        node = node.child(i)
        path.append(token)
    trie.n_samples += 1
    return out


def _expand(trie: AsapTrie, node: _Node, cursor: _Cursor, last: bool, eos: frozenset[int],
            temperature: float) -> None:
    """One forward pass and one mask at the cursor: record ``node``'s allowed children and their ``p``."""
    lp = as_float64(checked_logprobs(cursor.seq.logprobs()))
    allowed = np.flatnonzero(_bool_mask(cursor.matcher.mask(), lp.size))
    n_allowed = allowed.size
    if last:  # only EOS may end a sample at its last position
        allowed = allowed[np.isin(allowed, list(eos))]
    scaled = lp / temperature if temperature != 1.0 else lp
    log_norm = logsumexp(scaled)
    logp = scaled[allowed] - log_norm
    keep = logp > -np.inf
    trie.expand(node, allowed[keep], np.exp(logp[keep]), log_norm, n_allowed)


def _bool_mask(mask, size: int) -> np.ndarray:
    """A matcher's mask as a bool vector of ``size`` entries (trimmed, or padded with ``False``)."""
    m = np.asarray(mask, dtype=bool).reshape(-1)[:size]
    return m if m.size == size else np.concatenate([m, np.zeros(size - m.size, dtype=bool)])


def _pick(w: np.ndarray, total: float, generator: torch.Generator | None) -> int:
    """Index drawn with probability ``w / total`` (one uniform draw; none when there is one choice)."""
    if w.size == 1:
        return 0
    u = float(torch.rand(1, generator=generator, dtype=torch.float64)) * total
    cdf = np.cumsum(w)
    i = int(np.searchsorted(cdf, u, side="right"))
    while i >= w.size or w[i] <= 0:  # u at the very top, or on a zero-weight child: step back
        i = min(i, w.size) - 1
    return i


def _record(out: SampleOutput, node: _Node, i: int, logprob: float, temperature: float, t0: float) -> None:
    """Append token ``i`` of ``node`` to ``out`` with its log-probabilities and its step record."""
    token = int(node.ids[i])
    model_lp = temperature * (math.log(float(node.p[i])) + node.log_norm)
    if not out.tokens:
        out.first_token_s = time.perf_counter() - t0
    out.tokens.append(token)
    out.logprob += logprob
    out.model_logprob += model_lp
    out.steps.append(Step(token, model_lp, node.n_allowed))
