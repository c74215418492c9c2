"""The particles of SMC and what an SMC run returns: :class:`Particle`, :class:`SMCResult`, and the argument checks
shared by :func:`corral.samplers.smc.smc` and :func:`corral.samplers.smc_optimal.smc_optimal`."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from corral.errors import ConfigurationError, GenerationError
from corral.samplers.resampling import normalized_weights
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.protocols import ConstraintState, LanguageModel

__all__ = ["Particle", "SMCResult", "check_counts", "check_temperature", "prompt_and_horizon"]


@dataclass
class Particle:
    """One weighted hypothesis.

    Attributes
    ----------
    tokens : list of int
        Generated tokens (prompt excluded); the last is EOS when ``status == "complete"``.
    matcher : ConstraintState
        Its constraint state (advanced over ``tokens``; forked on resampling).
    log_weight : float
        float64 log importance weight (``-inf``: dead).
    stream : int
        Its Gumbel stream id (:func:`corral.samplers.awrs.gumbel_keys`); fresh for every child after resampling.
    status : str
        ``"live"``, ``"complete"`` (EOS), ``"dead"`` (no valid continuation) or ``"length"`` (not complete when
        ``max_tokens`` or the context ran out; weight ``-inf``).
    twist : float
        The critic's intermediate potential currently included in ``log_weight``.
    model_logprob : float
        Log-probability of ``tokens`` under the raw (untempered) model.
    steps : list of Step
        One :class:`~corral.samplers.steps.Step` per token of ``tokens`` (raw model log-probability, and the AWRS
        checks where the proposal reports them per token).
    """

    tokens: list[int]
    matcher: ConstraintState
    log_weight: float = 0.0
    stream: int = 0
    status: str = "live"
    twist: float = 0.0
    model_logprob: float = 0.0
    steps: list[Step] = field(default_factory=list)

    @property
    def live(self) -> bool:
        """Whether the particle is still being extended."""
        return self.status == "live"


@dataclass
class SMCResult:
    """What :func:`~corral.samplers.smc.smc` returns: a weighted particle set.

    Attributes
    ----------
    particles : list of Particle
        The final population (complete particles carry the posterior; dead ones have weight ``-inf``). One
        convention for every resampling scheme: the weights *average* to ``Ẑ`` (``log_z = log mean_i
        exp(log_weight_i)`` over ``particles``), so particle sets of several runs pool by concatenation.
    log_z : float
        ``log Ẑ``, ``Ẑ = mean_i exp(logw_i)``: an unbiased estimate of ``Z = Σ_{y ∈ L, |y| <= max_tokens} p(y)``
        (times ``exp(critic)`` with a critic); ``-inf`` when every particle died.
    ess_trace : list of float
        ESS (``1/ΣW²``, in particles) after each step's reweighting, before resampling.
    n_resamples : int
        How many steps resampled.
    n_steps : int
        SMC steps (proposal calls).
    n_tokens : int
        Tokens proposed over all particles.
    n_checks, n_rejects, n_fallbacks : int
        Constraint work over all particles.
    n_forward : int or None
        Batched forward passes (when the proposal reports it).
    wall_s : float
        Seconds spent in :func:`~corral.samplers.smc.smc`.
    proposal_stats : dict
        Sums of the proposals' ``Extension.stats``.
    """

    particles: list[Particle]
    log_z: float
    ess_trace: list[float] = field(default_factory=list)
    n_resamples: int = 0
    n_steps: int = 0
    n_tokens: int = 0
    n_checks: int = 0
    n_rejects: int = 0
    n_fallbacks: int = 0
    n_forward: int | None = None
    wall_s: float = 0.0
    proposal_stats: dict = field(default_factory=dict)

    @property
    def checks_per_token(self) -> float:
        """Constraint checks per proposed token."""
        return self.n_checks / self.n_tokens if self.n_tokens else 0.0

    def weights(self) -> np.ndarray:
        """Normalised particle weights ``W_i`` (all zero when every particle died)."""
        return normalized_weights([p.log_weight for p in self.particles])

    def posterior(self, key: Callable[[Particle], Hashable] | None = None) -> dict:
        """The posterior over distinct outputs: ``{key(particle): Σ W_i}`` over particles of positive weight.

        Parameters
        ----------
        key : callable, optional
            Default: ``tuple(particle.tokens)`` (the token sequence, EOS included). Pass a decoder to merge token
            sequences with the same text.

        Returns
        -------
        dict
            Sorted by decreasing probability.
        """
        key = key or (lambda p: tuple(p.tokens))
        out: dict = {}
        for p, w in zip(self.particles, self.weights()):
            if w > 0:
                k = key(p)
                out[k] = out.get(k, 0.0) + float(w)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def sample(self, rng: np.random.Generator | None = None) -> Particle | None:
        """One particle drawn with probability ``W_i`` (``None`` when every particle died).

        A draw from the SMC posterior: consistent for ``π`` as ``N`` grows, with an ``O(1/N)`` bias.
        """
        w = self.weights()
        if not w.sum() > 0:
            return None
        rng = rng if rng is not None else np.random.default_rng()
        return self.particles[int(rng.choice(len(w), p=w))]


def check_counts(particles: int, max_tokens: int) -> None:
    """ValueError unless ``particles`` and ``max_tokens`` are integers >= 1."""
    if isinstance(particles, bool) or int(particles) != particles or particles < 1:
        raise ConfigurationError(f"particles must be an integer >= 1, got {particles!r}")
    if isinstance(max_tokens, bool) or int(max_tokens) != max_tokens or max_tokens < 1:
        raise ConfigurationError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")


def check_temperature(temperature: float | None) -> None:
    """ValueError unless ``temperature`` is finite and > 0."""
    if temperature is None or not (temperature > 0 and math.isfinite(temperature)):
        raise ConfigurationError(f"SMC needs a finite temperature > 0, got {temperature!r}")


def prompt_and_horizon(model: LanguageModel, prompt_ids: Sequence[int], max_tokens: int) -> tuple[list[int], int]:
    """The prompt (BOS when empty) and the most tokens a particle may take (``max_tokens``, cut by the context);
    GenerationError when the prompt fills the context."""
    prompt = [int(t) for t in prompt_ids] or [int(model.bos_token_id)]
    horizon = int(max_tokens)
    if model.max_length is not None:
        horizon = min(horizon, model.max_length - len(prompt) + 1)
        if horizon < 1:
            raise GenerationError(f"the prompt has {len(prompt)} tokens; the context holds {model.max_length}")
    return prompt, horizon
