"""Entropy-adaptive decoding (EAD) under a constraint: a small model writes while it is sure, the target when not.

``generate(..., draft="model", switching="entropy", switch_threshold=H, switch_window=W)``. At every position the
*small* model's masked next-token law is computed (the constraint's mask, untempered, renormalised over the allowed
tokens) and its entropy ``h_t`` (nats). The rule looks at the rolling mean of the last ``W`` entropies (fewer at the
start): when it is ``> H`` the *large* model (the target, masked by the same matcher) draws the token from its
masked law, else the small model draws it from its own. There is no hysteresis: the rule is re-evaluated at every
token, and the window is what smooths it. ``H = +inf`` is masked decoding with the small model alone, ``H = -inf``
(or ``H = 0`` with ``W = 1``, up to tokens the small model is certain of) masked decoding with the target alone.

**This is lossy by design.** The output law is neither the target's masked-decoding law ``ℓ`` nor the conditioned
law ``π``: it is the law of the switching process (:func:`corral.samplers.entropy_switch_law.switching_law` gives
it exactly on toy models). Only masked decoding (``method="lcd"``) runs it; the exact methods (``"awrs"``,
``"smc"``, ``"asap"``) refuse it, and speculative decoding (``draft=`` without ``switching=``) stays exact.

Both models see every token. The small model is fed each token as it is emitted (one incremental forward per
position, which it needs for the entropy anyway). The target's tokens are appended to its sequence as usual; the
small model's tokens wait in a pending list and are fed to the target in one scored pass at the next handover
(``extend_scored``), which also gives their target log-probabilities, and once more at the end, so that
``Result.model_logprob`` and every ``TokenStep.prob`` are the target's, as for the other samplers. Each step
records its source: ``Step.draft == "small"`` for the small model's tokens (``TokenStep.source == "draft"``,
``draft_kind == "small"``), ``None`` for the target's.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from corral.errors import GenerationError
from corral.samplers.masking import (SampleOutput, checked_logprobs, constrained_law, sample_into, stream_token,
                                     validate_sampling)
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

    from corral.protocols import ConstraintState, ModelSequence

__all__ = ["EntropyRule", "SwitchOutput", "masked_entropy", "switching_sample_sequence"]

def masked_entropy(logprobs, mask) -> float:
    """Entropy in nats of the masked, untempered next-token law (``logprobs`` restricted to ``mask``,
    renormalised); 0 when one token is allowed, ``+inf`` when the model gives every allowed token probability 0
    (or none is allowed), so that the target takes over."""
    try:
        _, logp = constrained_law(logprobs, mask, temperature=1.0)
    except GenerationError:
        return math.inf
    return max(0.0, float(-(np.exp(logp) * logp).sum()))


class EntropyRule:
    """The switching rule: the large model writes when the mean of the last ``window`` entropies is ``> threshold``.

    Parameters
    ----------
    threshold : float
        Nats; ``+inf``: never switch, ``-inf``: always.
    window : int
        Entropies averaged (the first positions average the ones there are).
    """

    def __init__(self, threshold: float, window: int) -> None:
        self.threshold = float(threshold)
        self.history: deque[float] = deque(maxlen=int(window))

    def push(self, entropy: float) -> bool:
        """Record the entropy at the next position; whether the large model writes that token."""
        self.history.append(float(entropy))
        return sum(self.history) / len(self.history) > self.threshold


@dataclass
class SwitchOutput(SampleOutput):
    """What :func:`switching_sample_sequence` returns (a :class:`~corral.samplers.masking.SampleOutput` with the
    entropies and the switching statistics).

    Attributes
    ----------
    tokens : list of int
        Ends with EOS when ``status == "complete"``.
    status : str
        ``"complete"`` or ``"length"``.
    logprob : float
        Log-probability of the tokens under the switching process's law (the masked laws they were drawn from).
    model_logprob : float
        Under the raw target model (the small model's tokens scored by the target in batched passes).
    first_token_s : float
    steps : list of Step
        ``draft == "small"`` for the small model's tokens.
    entropies : list of float
        The small model's masked entropy at each position.
    stats : dict
        ``small_tokens``, ``large_tokens``, ``share_large``, ``switches`` (handovers either way),
        ``target_passes``, ``mean_entropy``, ``threshold`` and ``window``.
    """

    entropies: list[float] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


class _Target:
    """The target's sequence, behind by the small model's pending tokens, which it scores when it catches up."""

    def __init__(self, seq: ModelSequence) -> None:
        self.seq, self.pending, self.scores, self.passes = seq, [], [], 0

    def law(self):
        """The target's next-token log-probabilities, after feeding (and scoring) the pending tokens."""
        self.passes += 1
        if not self.pending:
            return checked_logprobs(self.seq.logprobs())
        rows = checked_logprobs(self.seq.extend_scored(self.pending))
        self.scores += [float(rows[i, t]) for i, t in enumerate(self.pending)]
        self.pending = []
        return rows[-1]

    def add(self, token: int, score: float | None, last: bool) -> None:
        """An emitted token: scored (the target's) or pending (the small model's); the last one is not fed."""
        if score is None:
            self.pending.append(token)
            return
        self.scores.append(score)
        if not last:
            self.seq.append(token)

    def finish(self) -> None:
        """Score what is still pending; the last token is scored, not fed (it may be EOS, or fill the context)."""
        if self.pending:
            *self.pending, last = self.pending
            self.scores.append(float(self.law()[last]))


def _padded(logprobs, size: int) -> np.ndarray:
    """The small model's log-probabilities as float64, trimmed or padded with ``-inf`` to the target's vocabulary."""
    from corral.drafters.model import pad_logprobs
    from corral.samplers.masking import _as_numpy

    return pad_logprobs(_as_numpy(logprobs).astype(np.float64), size)


def switching_sample_sequence(
    seq: ModelSequence,
    small_seq: ModelSequence,
    matcher: ConstraintState,
    *,
    threshold: float,
    window: int = 1,
    max_tokens: int,
    temperature: float | None = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    eos_token_ids: Collection[int] | None = None,
    on_tokens: Callable[[list[int]], None] | None = None,
) -> SwitchOutput:
    """Entropy-adaptive masked decoding between a small model and the target (see the module docstring).

    Parameters
    ----------
    seq, small_seq : ModelSequence
        The target's and the small model's sequences, both after the prompt (they must share the vocabulary's ids).
    matcher : ConstraintState
        The constraint; both models are masked by it.
    threshold, window
        The rule (:class:`EntropyRule`).
    max_tokens, temperature, top_k, top_p, generator, eos_token_ids, on_tokens
        As in :func:`corral.samplers.masking.sample_sequence` (each token: one uniform draw from ``generator``,
        so ``threshold=+inf`` gives the tokens of masked decoding with the small model, ``-inf`` with the target,
        for the same generator state).

    Returns
    -------
    SwitchOutput
    """
    validate_sampling(temperature, top_k, top_p)
    eos = frozenset(seq.model.eos_token_ids if eos_token_ids is None else eos_token_ids)
    rule, target, out = EntropyRule(threshold, window), _Target(seq), SwitchOutput()
    size, sources, sizes = seq.model.vocab.size, [], []
    t0 = time.perf_counter()
    for _ in range(int(max_tokens)):
        if _full(seq, len(target.pending)) or _full(small_seq, 0):
            break
        mask = matcher.mask()
        small_lp = _padded(checked_logprobs(small_seq.logprobs()), size)
        out.entropies.append(masked_entropy(small_lp, mask))
        large = rule.push(out.entropies[-1])
        lp = target.law() if large else small_lp
        token, model_lp = sample_into(out, lp, mask, t0, temperature=temperature, top_k=top_k, top_p=top_p,
                                      generator=generator)
        sources.append(large)
        sizes.append(int(np.count_nonzero(mask)))
        matcher.advance(token)
        target.add(token, model_lp if large else None, token in eos)
        if stream_token(out, token, on_tokens, eos):
            break
        small_seq.append(token)
    target.finish()
    _summarise(out, target, sources, sizes, threshold, window)
    return out


def _full(seq: ModelSequence, behind: int) -> bool:
    """Whether the sequence (with ``behind`` tokens it has not been fed yet) fills its model's context."""
    limit = seq.max_length
    return limit is not None and len(seq.tokens) + behind > limit


def _summarise(out: SwitchOutput, target: _Target, sources: list[bool], sizes: list[int], threshold: float,
               window: int) -> None:
    """Fill ``out.steps``, ``out.model_logprob`` and ``out.stats`` once every token has its target score."""
    out.steps = [Step(t, s, n, 0, 0, None if large else "small")
                 for t, s, n, large in zip(out.tokens, target.scores, sizes, sources)]
    out.model_logprob = float(sum(target.scores))
    n_large = sum(sources)
    n = len(sources)
    out.stats = {"small_tokens": n - n_large, "large_tokens": n_large, "share_large": n_large / n if n else 0.0,
                 "switches": sum(a != b for a, b in zip(sources, sources[1:])), "target_passes": target.passes,
                 "mean_entropy": float(np.mean(out.entropies)) if out.entropies else 0.0,
                 "threshold": float(threshold), "window": int(window)}
