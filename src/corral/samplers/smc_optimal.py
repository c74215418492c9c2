"""SMC with exhaustive expansion and optimal resampling (Fearnhead & Clifford, 2003), for token-level constraints.

The state space of a constrained decoder is discrete and each step's successors can be listed exactly: a particle
``x`` (weight ``w``) has one child ``x·t`` per allowed token ``t`` (the matcher's mask, EOS iff complete), of weight
``w · p(t | x)`` (``p`` tempered like the AWRS proposal: ``logprobs / temperature``). Listing every child leaves no
proposal noise. When there are more than ``N`` children, *optimal resampling* keeps ``N`` of them without
replacement: with ``c`` the solution of ``Σ_j min(1, w_j / c) = N``, every child with ``w_j >= c`` is kept with its
weight, and the others are kept with probability ``w_j / c`` (systematic sampling over them, so exactly the missing
number is drawn, none twice) and then weigh ``c``. Each child's expected weight is unchanged, so
``Ẑ = Σ_i w_i`` over the final particles is an unbiased estimate of ``Z = Σ_{y ∈ L, |y| <= max_tokens} p(y)`` and the
normalised weights form a properly weighted sample of ``π(y) ∝ p(y) 1[y ∈ L]``. Among unbiased resampling schemes
that keep at most ``N`` distinct particles, this one minimises the expected squared error of the weights
(Fearnhead & Clifford); when the language has at most ``N`` outputs it is exact (every output, its exact weight).

Cost: one full mask per live particle and step (no AWRS rejection loop), and the model rows of the kept children
(one batched forward per step). Completed particles are carried with their weight and compete in resampling.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from corral.samplers.awrs import eos_only, logsumexp, tempered
from corral.samplers.masking import checked_logprobs
from corral.samplers.particles import Particle, SMCResult, check_counts, check_temperature, prompt_and_horizon
from corral.samplers.resampling import ess
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.protocols import ConstraintState, LanguageModel

__all__ = ["optimal_resample", "smc_optimal"]


def optimal_resample(log_w: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Fearnhead-Clifford resampling of ``len(log_w)`` weighted items down to at most ``n``, unbiasedly.

    Parameters
    ----------
    log_w : float64 array
        Log weights (``-inf`` allowed: never kept).
    n : int
        Most items to keep.
    rng : numpy.random.Generator

    Returns
    -------
    (indices, new log weights)
        Kept items (each at most once) and their log weights: unchanged for items with ``w >= c``, ``log c``
        for the others, so that ``E[new weight of item j] = w_j``.
    """
    log_w = np.asarray(log_w, dtype=np.float64)
    alive = np.flatnonzero(log_w > -np.inf)
    if alive.size <= n:
        return alive, log_w[alive]
    m = float(log_w[alive].max())
    w = np.exp(log_w[alive] - m)  # relative weights, max 1
    order = np.argsort(-w)
    ws = w[order]
    # c solves k + tail_k / c = n where the k largest weights are kept whole (w >= c) and tail_k is the rest's sum
    tail = np.concatenate([np.cumsum(ws[::-1])[::-1], [0.0]])  # tail[k] = Σ_{j >= k} ws[j]
    c = None
    for k in range(n):
        cand = tail[k] / (n - k)
        if ws[k] < cand or (ws[k] == cand):
            c = cand
            break
    if c is None:  # pragma: no cover - k = n-1 always satisfies ws[n-1] <= tail[n-1] / 1
        c = tail[n - 1]
    big = ws >= c
    keep = list(order[big])
    small = order[~big]
    need = n - len(keep)
    if need > 0 and small.size:
        probs = w[small] / c  # each < 1, sums to ``need``
        u = rng.random()
        edges = np.cumsum(probs)
        picks = np.searchsorted(edges, u + np.arange(need), side="right")
        picks = np.unique(np.minimum(picks, small.size - 1))
        keep_small = small[picks]
    else:
        keep_small = np.array([], dtype=np.int64)
    idx = np.concatenate([np.asarray(keep, dtype=np.int64), keep_small.astype(np.int64)])
    new_log = np.concatenate([log_w[alive[np.asarray(keep, dtype=np.int64)]],
                              np.full(keep_small.size, math.log(c) + m)])
    return alive[idx], new_log


def smc_optimal(
    model: LanguageModel,
    prompt_ids: Sequence[int],
    matcher: ConstraintState,
    *,
    particles: int,
    max_tokens: int,
    temperature: float = 1.0,
    seed: int | None = None,
    eos_token_ids: Collection[int] | None = None,
) -> SMCResult:
    """SMC over exhaustive expansions with optimal resampling (see the module docstring).

    Parameters
    ----------
    model : LanguageModel
        An HFModel, a ToyModel or compatible.
    prompt_ids : sequence of int
    matcher : ConstraintState
        Needs ``mask``, ``fork``, ``advance``.
    particles : int
        ``N >= 1``: most particles kept after each step.
    max_tokens : int
        Most tokens per output, EOS included; at the last position only EOS is allowed.
    temperature : float
        ``> 0``.
    seed : int, optional
        Seeds the resampling.
    eos_token_ids : collection of int, optional

    Returns
    -------
    SMCResult
        ``particles``: the completed particles (when none completed, up to ``N`` that were left without a valid
        continuation, weight ``-inf``); ``log_z = log Σ_i w_i`` over the kept weights (unbiased ``Ẑ``), the
        particles' ``log_weight`` reported scaled by their count so that they average to ``Ẑ`` as every
        scheme's do (:class:`~corral.samplers.particles.SMCResult`); ``n_checks`` counts full masks;
        ``proposal_stats`` has ``children`` (successors listed) and ``kept``.
    """
    from corral.models.batch import make_batch

    check_counts(particles, max_tokens)
    check_temperature(temperature)
    t0 = time.perf_counter()
    n = int(particles)
    eos = sorted(frozenset(model.eos_token_ids if eos_token_ids is None else eos_token_ids))
    eos_set = frozenset(eos)
    rng = np.random.default_rng(seed)
    prompt, horizon = prompt_and_horizon(model, prompt_ids, max_tokens)
    batch = make_batch(model, prompt, 1)
    live = [Particle([], matcher.fork(), 0.0)]
    done: list = []
    stuck: list = []  # particles left without a valid continuation (reported if nothing completes)
    res = SMCResult(particles=[], log_z=-math.inf)
    res.proposal_stats = {"children": 0, "kept": 0}
    while live:
        logprobs = checked_logprobs(batch.logprobs())
        res.n_steps += 1
        parents, tokens, logws = _children(live, logprobs, temperature, horizon, eos, n, stuck, res)
        cand = np.concatenate(logws + [np.array([q.log_weight for q in done])])
        res.proposal_stats["children"] += int(tokens.size)
        keep, new_log = optimal_resample(cand, n, rng)
        res.proposal_stats["kept"] += int(keep.size)
        if keep.size < cand.size and keep.size:
            res.n_resamples += 1
        live, done, rows, feed = _kept(keep, new_log, parents, tokens, live, done, logprobs, eos_set, res)
        if live:
            batch.select(rows)
            batch.append(feed)
        res.ess_trace.append(ess(new_log))  # of the kept children, as SMCResult documents the field
    res.particles = done or stuck
    res.log_z = logsumexp([p.log_weight for p in done]) if done else -math.inf
    # The weights sum to Ẑ here; report them averaging to it, the convention of every scheme (SMCResult).
    for p in done:
        p.log_weight += math.log(len(done))
    res.n_forward = getattr(batch, "n_forward", None)
    res.wall_s = time.perf_counter() - t0
    return res


def _children(live: list[Particle], logprobs: np.ndarray, temperature: float, horizon: int, eos: list[int], n: int,
              stuck: list[Particle], res: SMCResult) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Every child of every live particle: parent rows, tokens and log weights (one list entry per particle).

    A particle without a child (no allowed token of positive probability) is marked and added to ``stuck`` (up to
    ``n`` of them).
    """
    parents, tokens, logws = [], [], []
    for row, p in enumerate(live):
        lw = tempered(logprobs[row], temperature)
        if horizon - len(p.tokens) <= 1:
            lw = eos_only(lw, eos)
        allowed = np.asarray(p.matcher.mask()[: lw.size], dtype=bool)
        res.n_checks += 1
        ids = np.flatnonzero(allowed & (lw > -np.inf))
        if not ids.size and len(stuck) < n:
            p.status, p.log_weight = ("length" if horizon - len(p.tokens) <= 1 else "dead"), -math.inf
            stuck.append(p)
        parents.append(np.full(ids.size, row))
        tokens.append(ids)
        logws.append(p.log_weight + lw[ids])
    parents = np.concatenate(parents) if parents else np.array([], dtype=np.int64)
    tokens = np.concatenate(tokens) if tokens else np.array([], dtype=np.int64)
    return parents, tokens, logws


def _kept(keep: np.ndarray, new_log: np.ndarray, parents: np.ndarray, tokens: np.ndarray, live: list[Particle],
          done: list[Particle], logprobs: np.ndarray, eos: frozenset[int],
          res: SMCResult) -> tuple[list[Particle], list[Particle], list[int], list[int]]:
    """The kept items as the next population: live children (with their parent rows and tokens to feed) and done ones.

    Item ``j < len(tokens)`` is the child ``tokens[j]`` of ``live[parents[j]]``; a larger ``j`` is the completed
    particle ``done[j - len(tokens)]`` carried over. Returns ``(live, done, rows, feed)``.
    """
    new_live, new_done, rows, feed = [], [], [], []
    for j, lw in zip(keep.tolist(), new_log.tolist()):
        if j >= tokens.size:  # a completed particle carried over
            q = done[j - tokens.size]
            q.log_weight = lw
            new_done.append(q)
            continue
        row, tok = int(parents[j]), int(tokens[j])
        parent = live[row]
        m = parent.matcher.fork()
        m.advance(tok)
        mlp = float(logprobs[row][tok])
        child = Particle(parent.tokens + [tok], m, lw, 0, "live", 0.0, parent.model_logprob + mlp,
                         parent.steps + [Step(tok, mlp, None, None, None)])
        res.n_tokens += 1
        if tok in eos:
            child.status = "complete"
            new_done.append(child)
        else:
            new_live.append(child)
            rows.append(row)
            feed.append(tok)
    return new_live, new_done, rows, feed
