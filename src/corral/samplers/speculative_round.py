"""What a speculative round reports (:class:`RoundResult`, :class:`SpecStats`) and what D1 and D2 rounds share.

A round (:func:`corral.samplers.speculative_d1.d1_round`, :func:`corral.samplers.speculative_d2.d2_round`) drafts
tokens, verifies them with one target forward pass and keeps the verified prefix plus one token. Its
:class:`RoundResult` carries the block's log-weight increment, so a round is also an SMC proposal step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from corral.samplers.steps import Step

__all__ = ["FREE_KINDS", "RoundResult", "SpecStats", "fit_logprobs"]

#: Proposal kinds that cost no draft forward pass (the adaptive length policy treats them as free).
FREE_KINDS = ("forced", "ff", "ngram")


@dataclass
class SpecStats:
    """Counters and timers of a speculative run.

    Attributes
    ----------
    rounds : int
        Rounds (= target forward passes for verification).
    target_forwards : int
        Target forward passes (one per round).
    drafted, accepted : int
        Draft tokens proposed and accepted (all kinds).
    emitted : int
        Tokens emitted (accepted drafts plus one corrected or bonus token per round).
    by_kind : dict
        ``kind -> [drafted, accepted]`` for ``"forced"``, ``"ff"``, ``"ngram"``, ``"model"``.
    draft_s, verify_s, mask_s : float
        Seconds in drafters (draft forwards, look-ups, sampling ``q``), in verification (target forward and
        acceptance tests), in constraint masks/checks.
    """

    rounds: int = 0
    target_forwards: int = 0
    drafted: int = 0
    accepted: int = 0
    emitted: int = 0
    by_kind: dict = field(default_factory=dict)
    draft_s: float = 0.0
    verify_s: float = 0.0
    mask_s: float = 0.0

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drafted (``nan`` when nothing was drafted)."""
        return self.accepted / self.drafted if self.drafted else float("nan")

    @property
    def mean_accepted_length(self) -> float:
        """Mean accepted drafts per round."""
        return self.accepted / self.rounds if self.rounds else 0.0

    @property
    def tokens_per_target_forward(self) -> float:
        """Emitted tokens per target forward pass."""
        return self.emitted / self.target_forwards if self.target_forwards else 0.0

    def as_dict(self) -> dict:
        """Plain dict of every counter and derived rate."""
        return {
            "rounds": self.rounds,
            "target_forwards": self.target_forwards,
            "drafted": self.drafted,
            "accepted": self.accepted,
            "emitted": self.emitted,
            "acceptance_rate": self.acceptance_rate,
            "mean_accepted_length": self.mean_accepted_length,
            "tokens_per_target_forward": self.tokens_per_target_forward,
            "by_kind": {k: list(v) for k, v in self.by_kind.items()},
            "draft_s": self.draft_s,
            "verify_s": self.verify_s,
            "mask_s": self.mask_s,
        }

    def count_draft(self, kind: str, accepted: bool) -> None:
        """Count one verified draft of this kind (in the totals and in ``by_kind``)."""
        row = self.by_kind.setdefault(kind, [0, 0])
        row[0] += 1
        row[1] += int(accepted)
        self.drafted += 1
        self.accepted += int(accepted)


@dataclass
class RoundResult:
    """One speculative round.

    Attributes
    ----------
    tokens : list of int
        Emitted tokens (may end with EOS).
    delta_logw : float
        Log-weight increment of the block: D1 ``Σ log Z_p`` (exact), D2 ``Σ log Ẑ`` (AWRS estimates); weights are
        for the tempered model and meaningless for greedy/top-k/top-p. ``-inf`` when the particle died (D2).
    logprob : float
        Log-probability of the tokens under the sampling law (D1: exact ``Σ log p_c``; D2: ``model - delta``).
    model_logprob : float
        Log-probability under the model (D1: raw model; D2: tempered model).
    n_drafted, n_accepted : int
    dead : bool
        No valid continuation (D2 only; D1 raises ``GenerationError`` as masked decoding does).
    raw_logprob : float
        Log-probability under the raw (untempered) model.
    steps : list of Step
        One :class:`~corral.samplers.steps.Step` per emitted token: the accepted drafts (``draft`` = their kind),
        then the corrected or bonus token. ``rejected_drafts``: single drafts, 1 on the corrected token that
        replaces a rejected draft, else 0; tree rounds (``draft_tree=``), the candidates rejected at that node, which
        may be several and may sit on an accepted draft too (D1: those tested before the outcome; D2: every child
        that is not the emitted token).
    """

    tokens: list[int]
    delta_logw: float = 0.0
    logprob: float = 0.0
    model_logprob: float = 0.0
    n_drafted: int = 0
    n_accepted: int = 0
    dead: bool = False
    raw_logprob: float = 0.0
    steps: list[Step] = field(default_factory=list)


def fit_logprobs(lp: np.ndarray, size: int) -> np.ndarray:
    """A draft's log-probabilities trimmed or padded (with ``-inf``, same dtype) to the target's ``size``."""
    if lp.size == size:
        return lp
    if lp.size > size:
        return lp[:size]
    return np.concatenate([lp, np.full(size - lp.size, -np.inf, dtype=lp.dtype)])
