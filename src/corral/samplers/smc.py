"""Sequential Monte Carlo over particles: globally faithful constrained sampling (ALGORITHMS.md §2).

Target: ``π(y) ∝ p(y) · 1[y ∈ L]`` (``p`` the model, tempered if ``temperature != 1``), restricted to
``|y| <= max_tokens`` (EOS included), times ``exp(critic(y))`` when a critic is given.

``N`` particles are extended together. Each step, the *proposal* extends every live particle (default: one AWRS
token per particle, all from one batched forward pass) and returns its weight increment ``ΔlogW`` (``log Ẑ`` of the
step). When the effective sample size ``1/ΣW²`` falls below ``ess_threshold · N``, the population is resampled
(stratified by default); children get forked matchers, forked model rows and *fresh* Gumbel streams, and every weight
is set to the mean weight (``logsumexp(logw) - log N``) so that ``Ẑ = mean_i exp(logw_i)`` stays an unbiased
estimate of ``Z = Σ_{y ∈ L} p(y)``. At the last position allowed by ``max_tokens`` (or the context) only EOS may be
proposed and the weight takes ``p(EOS | x)`` (the importance correction for the truncated target); a particle that
is not complete then dies (weight ``-inf``).

Plug-in point (:class:`Proposal`): anything with ``start(model, prompt_ids, n)``, ``extend(particles, budgets)`` and
``select(rows)`` can replace the AWRS step, e.g. a speculative-decoding round that returns a block of tokens whose
``ΔlogW`` is the sum of the per-token ``log Ẑ``. See ``docs/INTERFACES.md`` (samplers).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from corral.errors import ConfigurationError
from corral.samplers.awrs import (DEFAULT_MAX_REJECTS, awrs_step, eos_only, gumbel_keys, logsumexp, matcher_hooks,
                                  tempered)
from corral.samplers.masking import checked_logprobs
from corral.samplers.particles import Particle, SMCResult, check_counts, check_temperature, prompt_and_horizon
from corral.samplers.resampling import RESAMPLERS, ess, normalized_weights, resample
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.protocols import ConstraintState, LanguageModel

__all__ = ["AWRSProposal", "Extension", "Particle", "Proposal", "SMCResult", "smc"]


@dataclass
class Extension:
    """What a proposal did to one particle in one step.

    Attributes
    ----------
    tokens : list of int
        Tokens appended (possibly a block; empty only together with ``delta_logw = -inf``, a dead particle). If it
        ends with EOS the particle is complete.
    delta_logw : float
        Weight increment (``Σ log Ẑ`` over the tokens; ``-inf`` for no valid continuation).
    model_logprob : float
        Log-probability of ``tokens`` under the raw (untempered) model.
    n_checks, n_rejects, n_fallbacks : int
        Constraint work of the step.
    stats : dict
        Anything else the proposal wants to report (summed over the run into ``SMCResult.proposal_stats``).
    steps : list of Step or None
        One :class:`~corral.samplers.steps.Step` per token, kept by the particle; ``None``: derived from the other
        fields (one token: its log-probability and checks; a block: log-probabilities unknown, ``nan``).
    """

    tokens: list[int]
    delta_logw: float
    model_logprob: float = 0.0
    n_checks: int = 0
    n_rejects: int = 0
    n_fallbacks: int = 0
    stats: dict = field(default_factory=dict)
    steps: list[Step] | None = None

    def token_steps(self) -> list[Step]:
        """``steps``, or steps derived from the other fields when the proposal gave none."""
        if self.steps is not None:
            return self.steps
        if len(self.tokens) == 1:
            return [Step(self.tokens[0], self.model_logprob, None, self.n_checks, self.n_rejects)]
        return [Step(t, math.nan, None, None, None) for t in self.tokens]


class Proposal(Protocol):
    """How particles are extended (the SMC plug-in point).

    The SMC loop calls :meth:`start` once, then per step :meth:`extend` on the live particles (in the order of the
    proposal's rows) and :meth:`select` with the rows that continue (after dropping finished particles and
    resampling). The proposal owns the model state (rows) and advances each particle's ``matcher`` over the tokens it
    returns; the loop does the bookkeeping (``tokens``, ``log_weight``, ``status``, twists, resampling).

    Proper weighting is the contract: for every particle, ``E[exp(delta_logw) · 1{tokens = b}] = p(b | x) c(x, b)``
    summed appropriately, i.e. ``(tokens, delta_logw)`` is properly weighted for the model's law of the block times
    the constraint's viability, and a block ending in EOS is weighted for the complete text.
    """

    def start(self, model: LanguageModel, prompt_ids: list[int], n: int) -> None:
        """Set up ``n`` rows on the prompt."""

    def extend(self, particles: list[Particle], budgets: list[int]) -> list[Extension]:
        """Extend each live particle; ``budgets[i] >= 1`` is how many tokens (EOS included) particle ``i`` may
        still take; with budget 1 only EOS may be proposed (weighted by its probability)."""

    def select(self, rows: list[int]) -> None:
        """New row ``i`` continues old row ``rows[i]`` (rows may repeat or disappear)."""


class AWRSProposal:
    """The default proposal: one AWRS token per live particle, all rows from one batched forward pass.

    Parameters
    ----------
    temperature : float
        ``> 0``; the model's log-probabilities are divided by it.
    max_rejects : int or None
        Rejections before the exact full-mask fallback (``matcher.mask``); ``None`` disables it.
    eos_token_ids : collection of int, optional
        Default: the model's.
    per_row : bool
        Use per-row sequences even for an HF model (see :func:`corral.models.batch.make_batch`).
    """

    def __init__(self, *, temperature: float = 1.0, max_rejects: int | None = DEFAULT_MAX_REJECTS,
                 eos_token_ids: Collection[int] | None = None, per_row: bool = False) -> None:
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ConfigurationError(f"AWRS proposals need a finite temperature > 0, got {temperature!r}")
        self.temperature = float(temperature)
        self.max_rejects = max_rejects
        self.eos_token_ids = eos_token_ids
        self.per_row = per_row
        self.batch = None

    def start(self, model: LanguageModel, prompt_ids: Sequence[int], n: int) -> None:
        """Open ``n`` rows (an :class:`~corral.models.batch.HFBatch` for HF models)."""
        from corral.models.batch import make_batch

        self.batch = make_batch(model, prompt_ids, n, per_row=self.per_row)
        if self.eos_token_ids is None:
            self.eos_token_ids = frozenset(model.eos_token_ids)
        self._eos_list = sorted(self.eos_token_ids)

    def extend(self, particles: list[Particle], budgets: list[int]) -> list[Extension]:
        """One AWRS step per particle (keys from the particle's Gumbel stream at its position)."""
        logprobs = checked_logprobs(self.batch.logprobs())
        out = []
        feed = []
        for i, p in enumerate(particles):
            full = tempered(logprobs[i], self.temperature)
            logw = eos_only(full, self._eos_list) if budgets[i] <= 1 else full
            keys = logw + gumbel_keys(p.stream, len(p.tokens), logw.size)
            mask = getattr(p.matcher, "mask", None)
            st = awrs_step(logw, p.matcher.check, keys=keys,
                           max_rejects=self.max_rejects if mask is not None else None, full_mask=mask,
                           **matcher_hooks(p.matcher))
            if st.token is None:
                out.append(Extension([], -math.inf, 0.0, st.n_checks, st.n_rejects, int(st.fallback)))
                feed.append(self._eos_list[0])
                continue
            tok = st.token
            p.matcher.advance(tok)
            mlp = float(logprobs[i][tok])
            out.append(Extension([tok], st.log_z, mlp, st.n_checks, st.n_rejects, int(st.fallback)))
            feed.append(tok)
        self.batch.append(feed)
        return out

    def select(self, rows: list[int]) -> None:
        """Reorder the model rows (a batched-cache ``index_select`` for HF models)."""
        self.batch.select(rows)

    @property
    def n_forward(self) -> int | None:
        """Batched forward passes so far (HF batches), if known."""
        return getattr(self.batch, "n_forward", None)


def smc(
    model: LanguageModel,
    prompt_ids: Sequence[int],
    matcher: ConstraintState,
    *,
    particles: int,
    max_tokens: int,
    temperature: float = 1.0,
    ess_threshold: float = 0.5,
    resampling: str = "stratified",
    proposal: Proposal | None = None,
    critic: Callable[[list[int], bool], float] | None = None,
    twist: Callable[[list[int]], float] | None = None,
    seed: int | None = None,
    max_rejects: int | None = DEFAULT_MAX_REJECTS,
    eos_token_ids: Collection[int] | None = None,
) -> SMCResult:
    """Run SMC with ``particles`` particles.

    Parameters
    ----------
    model : LanguageModel
        The target model (``start``, ``eos_token_ids``, ``max_length``, ``vocab``): an HFModel, a ToyModel or
        compatible.
    prompt_ids : sequence of int
    matcher : ConstraintState
        The constraint at the start (forked per particle): ``check``, ``advance``, ``fork``, ``mask``,
        ``is_complete``.
    particles : int
        ``N >= 1``.
    max_tokens : int
        Most tokens per particle, EOS included (``>= 1``); the target is restricted to such outputs.
    temperature : float
        ``> 0``; the target is the tempered model (logits divided by it).
    ess_threshold : float
        Resample when ``ESS < ess_threshold · N``; in ``[0, 1]``; 0 never resamples (importance sampling), 1
        resamples whenever the weights are not all equal.
    resampling : {"stratified", "systematic", "multinomial", "residual", "optimal"}
        ``"optimal"``: every allowed token of every particle is listed (one full mask per particle and step, no
        AWRS) and Fearnhead-Clifford resampling keeps at most ``N`` children without replacement; see
        :mod:`corral.samplers.smc_optimal` (far lower variance: exact when the language has at most ``N``
        outputs). ``ess_threshold``, ``max_rejects`` and ``proposal``/``critic`` do not apply.
    proposal : Proposal, optional
        Default: :class:`AWRSProposal` (one AWRS token per step, batched forward).
    critic : callable, optional
        ``critic(tokens, done) -> float``: a log potential (twist). Intermediate values are added and removed at
        the next step (they only steer resampling); the value at completion stays, so the target becomes
        ``π(y) · exp(critic(y, True))``.
    twist : callable, optional
        ``twist(tokens) -> log ψ(tokens)`` of an unfinished prefix, e.g. an
        :class:`~corral.samplers.asap_trie.AsapTrie` learned by ASAp (``ψ ≈ EFG``). Each step multiplies the weight
        by ``ψ(y≤t)/ψ(y<t)`` (it steers resampling) and a complete particle drops it, so the target is unchanged
        and ``Ẑ`` stays unbiased whatever the twist (ALGORITHMS.md §4.5); a good one lowers the variance.
    seed : int, optional
        Seeds the Gumbel streams and the resampling.
    max_rejects : int or None
        For the default proposal: rejections before the exact full-mask fallback.
    eos_token_ids : collection of int, optional

    Returns
    -------
    SMCResult

    Raises
    ------
    ValueError
        Bad ``particles``, ``max_tokens``, ``ess_threshold``, ``temperature`` or ``resampling``.
    """
    _check_arguments(particles, max_tokens, ess_threshold, resampling, proposal, critic, temperature)
    if twist is not None and resampling == "optimal":
        raise ConfigurationError("resampling='optimal' expands every allowed token itself: no twist=")
    critic = _with_twist(critic, twist)
    if resampling == "optimal":
        from corral.samplers.smc_optimal import smc_optimal

        return smc_optimal(model, prompt_ids, matcher, particles=particles, max_tokens=max_tokens,
                           temperature=temperature, seed=seed, eos_token_ids=eos_token_ids)
    t0 = time.perf_counter()
    n = int(particles)
    eos = frozenset(model.eos_token_ids if eos_token_ids is None else eos_token_ids)
    rng = np.random.default_rng(seed)
    prompt, horizon = prompt_and_horizon(model, prompt_ids, max_tokens)
    if proposal is None:
        proposal = AWRSProposal(temperature=temperature, max_rejects=max_rejects, eos_token_ids=eos)
    proposal.start(model, prompt, n)
    pop = [Particle([], matcher.fork(), 0.0, _fresh_stream(rng)) for _ in range(n)]
    res = SMCResult(particles=pop, log_z=0.0)
    live = list(range(n))  # particle index of each proposal row
    while live:
        _extend(proposal, pop, live, horizon, eos, critic, res)
        pop, live, rows = _reweight(pop, live, rng, resampling, ess_threshold, res)
        if rows is None:
            break
        proposal.select(rows)
    res.particles = pop
    res.log_z = logsumexp([p.log_weight for p in pop]) - math.log(n)
    res.n_forward = getattr(proposal, "n_forward", None)
    res.wall_s = time.perf_counter() - t0
    return res


def _check_arguments(particles: int, max_tokens: int, ess_threshold: float, resampling: str,
                     proposal: Proposal | None, critic: Callable | None, temperature: float) -> None:
    """ConfigurationError for the bad arguments of :func:`smc`."""
    check_counts(particles, max_tokens)
    if not (0.0 <= ess_threshold <= 1.0):
        raise ConfigurationError(f"ess_threshold must be in [0, 1], got {ess_threshold!r}")
    if resampling == "optimal":
        if proposal is not None or critic is not None:
            raise ConfigurationError("resampling='optimal' expands every allowed token itself: no proposal= or critic=")
    elif resampling not in RESAMPLERS:
        raise ConfigurationError(f"unknown resampling scheme {resampling!r}; "
                                 f"choose one of optimal, {', '.join(RESAMPLERS)}")
    check_temperature(temperature)


def _with_twist(critic: Callable[[list[int], bool], float] | None,
                twist: Callable[[list[int]], float] | None) -> Callable[[list[int], bool], float] | None:
    """The log potential the loop applies: the critic's, plus ``log ψ`` on unfinished prefixes only (0 once
    complete: the twist is removed at the end, so it never changes the target)."""
    if twist is None:
        return critic

    def potential(tokens: list[int], done: bool) -> float:
        base = 0.0 if critic is None else float(critic(tokens, done))
        return base if done else base + float(twist(tokens))

    return potential


def _fresh_stream(rng: np.random.Generator) -> int:
    """A new Gumbel stream id (drawn from the run's generator, which also drives resampling)."""
    return int(rng.integers(0, 2**63))


def _extend(proposal: Proposal, pop: list[Particle], live: list[int], horizon: int, eos: frozenset[int],
            critic: Callable[[list[int], bool], float] | None, res: SMCResult) -> None:
    """One proposal step: extend the live particles (``pop[i]`` for ``i`` in ``live``) and update their weights."""
    budgets = [horizon - len(pop[i].tokens) for i in live]
    exts = proposal.extend([pop[i] for i in live], budgets)
    if len(exts) != len(live):
        raise RuntimeError(f"the proposal returned {len(exts)} extensions for {len(live)} particles")
    res.n_steps += 1
    for i, ext, budget in zip(live, exts, budgets):
        _apply(pop[i], ext, budget, horizon, eos, critic, res)


def _apply(p: Particle, ext: Extension, budget: int, horizon: int, eos: frozenset[int],
           critic: Callable[[list[int], bool], float] | None, res: SMCResult) -> None:
    """Apply one extension to particle ``p``: tokens, weight, status and the critic's twist; count its work."""
    if critic is not None:
        p.log_weight -= p.twist
        p.twist = 0.0
    res.n_checks += ext.n_checks
    res.n_rejects += ext.n_rejects
    res.n_fallbacks += ext.n_fallbacks
    res.n_tokens += max(len(ext.tokens), 1)
    for k, v in ext.stats.items():
        res.proposal_stats[k] = res.proposal_stats.get(k, 0) + v
    if not ext.tokens or ext.delta_logw == -math.inf:
        p.tokens.extend(ext.tokens)
        p.log_weight = -math.inf
        p.status = "length" if budget <= 1 else "dead"  # forced EOS refused: not complete in time
        return
    p.tokens.extend(ext.tokens)
    p.steps.extend(ext.token_steps())
    p.log_weight += ext.delta_logw
    p.model_logprob += ext.model_logprob
    if p.tokens[-1] in eos:
        p.status = "complete"
    elif len(p.tokens) >= horizon:
        p.status = "length"  # a proposal overshot its budget without EOS: not a valid output
        p.log_weight = -math.inf
    if critic is not None and p.log_weight > -math.inf:
        score = float(critic(list(p.tokens), p.status == "complete"))
        p.log_weight += score
        if p.live:
            p.twist = score


def _reweight(pop: list[Particle], live: list[int], rng: np.random.Generator, scheme: str, ess_threshold: float,
              res: SMCResult) -> tuple[list[Particle], list[int], list[int] | None]:
    """After a step: record the ESS and resample when it is low; the population, its live indices and the rows.

    ``rows[j]`` is the proposal row the ``j``-th live particle continues; ``None`` when every weight is ``-inf``
    (every live particle is then marked dead and the run ends).
    """
    n = len(pop)
    logw = np.array([p.log_weight for p in pop])
    rows_of = {i: r for r, i in enumerate(live)}
    if not np.any(logw > -np.inf):
        for p in pop:
            if p.live:
                p.status = "dead"
        return pop, [], None
    cur_ess = ess(logw)
    res.ess_trace.append(cur_ess)
    still = [i for i in live if pop[i].live]
    if not (still and ess_threshold > 0 and cur_ess < ess_threshold * n):
        return pop, still, [rows_of[i] for i in still]
    anc = resample(normalized_weights(logw), rng, scheme)
    mean = logsumexp(logw) - math.log(n)
    new = []
    for a in anc:
        q = pop[int(a)]
        new.append(Particle(list(q.tokens), q.matcher.fork(), mean, _fresh_stream(rng), q.status,
                            q.twist, q.model_logprob, list(q.steps)))
    rows = [rows_of[int(a)] for a, q in zip(anc, new) if q.live]
    res.n_resamples += 1
    return new, [j for j, q in enumerate(new) if q.live], rows
