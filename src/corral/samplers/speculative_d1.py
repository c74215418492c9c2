"""D1 speculative rounds: masked speculative sampling (ALGORITHMS.md §4).

The mask at each draft position is computed once and shared by the draft and the target; the draft law ``q_c`` is
the draft's distribution (or a point mass for n-gram, fast-forward and forced drafts) under the same constrained law
as the target (mask, temperature, top-k, top-p: :func:`corral.samplers.masking.constrained_law`), and Leviathan's
rule on ``(p_c, q_c)`` (:func:`leviathan_step`) emits tokens with law ``p_c`` at every position: the token stream has
exactly the law of :func:`corral.samplers.masking.sample_sequence`. Greedy: accept iff the draft is the target's
constrained argmax. The round's log-weight increment is ``Σ log Z_p`` (exact).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np
import torch

from corral.errors import GenerationError
from corral.samplers.awrs import logsumexp
from corral.samplers.masking import _as_numpy, checked_logprobs, constrained_law, sample_token
from corral.samplers.speculative_round import FREE_KINDS, RoundResult, SpecStats, fit_logprobs
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.drafters.policy import AdaptivePolicy, FixedPolicy
    from corral.protocols import ConstraintState, Drafter, ModelSequence

__all__ = ["d1_round", "leviathan_step"]


def _uniform(generator: torch.Generator | None) -> float:
    """One float64 uniform draw in ``[0, 1)``."""
    return float(torch.rand(1, generator=generator, dtype=torch.float64))


def _sample_ids(ids: np.ndarray, logp: np.ndarray, generator: torch.Generator | None) -> int:
    """Inverse-CDF draw (the same scheme as ``sample_token``); returns an index into ``ids``."""
    if ids.size == 1:
        return 0
    cdf = np.cumsum(np.exp(logp))
    u = _uniform(generator) * cdf[-1]
    return min(int(np.searchsorted(cdf, u, side="right")), ids.size - 1)


def _log_z(lp32: np.ndarray, mask: np.ndarray, temperature: float | None) -> float:
    """``log Σ_{mask} p_T`` for the tempered model law (0 when greedy: weights are meaningless there)."""
    if not temperature:
        return 0.0
    lw = lp32.astype(np.float64) / float(temperature)
    m = np.asarray(mask, dtype=bool)[: lw.size]
    return logsumexp(lw[: m.size][m]) - logsumexp(lw)


def _mask_count_one(mask: np.ndarray) -> int | None:
    """The single allowed token of ``mask``, or ``None`` when zero or several are allowed."""
    nz = np.flatnonzero(mask)
    return int(nz[0]) if nz.size == 1 else None


def _target_law(lp, mask, temperature, top_k, top_p):
    """The target's constrained law at one position: masked decoding's law (``constrained_law``)."""
    return constrained_law(lp, mask, temperature=temperature, top_k=top_k, top_p=top_p)


def leviathan_step(p_ids: np.ndarray, p_logp: np.ndarray, q_ids: np.ndarray | None, q_logp: np.ndarray | None,
                   token: int, size: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Leviathan's rule at one position for the pair ``(p_c, q_c)``.

    Parameters
    ----------
    p_ids, p_logp : numpy.ndarray
        The target's constrained law (support ids, increasing, and float64 log-probabilities).
    q_ids, q_logp : numpy.ndarray or None
        The draft's constrained law; ``None`` for a point mass on ``token`` (n-gram, fast-forward, forced).
    token : int
        The drafted token (in the support of ``q``).
    size : int
        Vocabulary size.

    Returns
    -------
    accept : float
        ``min(1, p_c(token) / q_c(token))``.
    r_ids, r_p : numpy.ndarray
        The residual law ``norm(max(0, p_c - q_c))`` (ids and probabilities, not necessarily normalised) to sample
        from on rejection.
    """
    pos = int(np.searchsorted(p_ids, token))
    p_t = math.exp(float(p_logp[pos])) if pos < p_ids.size and p_ids[pos] == token else 0.0
    if q_ids is None:
        q_t = 1.0
    else:
        q_t = math.exp(float(q_logp[int(np.searchsorted(q_ids, token))]))
    accept = min(1.0, p_t / q_t)
    pc = np.zeros(size)
    pc[p_ids] = np.exp(p_logp)
    if q_ids is None:
        pc[token] = max(0.0, pc[token] - 1.0)
    else:
        q = np.zeros(size)
        q[q_ids] = np.exp(q_logp)
        pc = np.maximum(pc - q, 0.0)
    r_ids = np.flatnonzero(pc > 0)
    if r_ids.size == 0:  # only reached when accept == 1 (nothing to correct): any law will do
        return accept, p_ids, np.exp(p_logp)
    return accept, r_ids, pc[r_ids]


def d1_round(seq: ModelSequence, matcher: ConstraintState, drafter: Drafter | None,
             policy: FixedPolicy | AdaptivePolicy, *, max_drafts: int, temperature: float | None = 1.0,
             top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
             eos: Collection[int] = frozenset(), stats: SpecStats | None = None) -> RoundResult:
    """One D1 round: draft with shared masks, verify with one target pass, roll back to the verified prefix.

    Parameters
    ----------
    seq : ModelSequence
        The target sequence at the committed context (``tokens`` = prompt + committed tokens, EOS excluded).
        On return it holds the emitted tokens too (EOS excluded).
    matcher : ConstraintState
        At the committed context; on return advanced by every emitted token (EOS included).
    drafter : Drafter or None
        ``None``: no drafting at all (one plain masked step, identical to ``sample_sequence``'s).
    policy : FixedPolicy or AdaptivePolicy
        Draft length.
    max_drafts : int
        Hard cap on drafts this round (token budget and context).
    temperature, top_k, top_p
        The target's constrained law (as in :func:`corral.samplers.masking.constrained_law`); the draft's
        distribution gets the same processing.
    generator : torch.Generator or None
    eos : frozenset of int
    stats : SpecStats, optional
        Updated in place.

    Returns
    -------
    RoundResult
    """
    stats = SpecStats() if stats is None else stats
    size = matcher.vocab_size if hasattr(matcher, "vocab_size") else len(matcher.mask())
    law = (temperature, top_k, top_p)
    drafts, meta, masks = _draft(seq, matcher, drafter, policy, max_drafts, size, law, generator, eos, stats)
    tv = time.perf_counter()
    rows = checked_logprobs(seq.extend_scored(drafts))
    stats.target_forwards += 1
    stats.rounds += 1
    res, extra = _verify(rows, drafts, meta, masks, matcher, policy, size, law, generator, eos, stats)
    _commit(seq, matcher, drafts, res, extra, eos, stats)
    stats.verify_s += time.perf_counter() - tv
    return res


def _draft(seq, matcher, drafter, policy, max_drafts, size, law, generator, eos, stats):
    """Draft up to ``max_drafts`` tokens, advancing ``matcher`` over them (it is rolled back after verification).

    Returns the drafts, one ``(kind, feature, q_ids, q_logp)`` per draft (``q_ids`` ``None``: a point mass) and the
    masks computed (one per draft, plus the mask after the last draft when drafting stopped on the drafter).
    """
    ctx = list(seq.tokens)
    drafts: list[int] = []
    meta: list[tuple] = []  # (kind, feature, q_ids, q_logp) ; q_ids None = point mass
    masks: list = []
    survival = 1.0
    cost = getattr(drafter, "cost", 0.0)
    if drafter is None:
        return drafts, meta, masks
    while len(drafts) < max_drafts and policy.keep_going(len(drafts), survival, cost):
        tm = time.perf_counter()
        mask = matcher.mask()
        masks.append(mask)
        forced = _mask_count_one(mask)
        td = time.perf_counter()
        stats.mask_s += td - tm
        drafted = _propose(drafter, ctx, matcher, mask, forced, size, law, generator)
        stats.draft_s += time.perf_counter() - td
        if drafted is None:
            break
        tok, kind, feature, q_ids, q_logp = drafted
        drafts.append(tok)
        meta.append((kind, feature, q_ids, q_logp))
        survival *= policy.predict(kind, feature)
        cost = 0.0 if kind in FREE_KINDS else getattr(drafter, "cost", 0.0)
        tm = time.perf_counter()
        matcher.advance(tok)
        stats.mask_s += time.perf_counter() - tm
        ctx.append(tok)
        if tok in eos:
            break
    return drafts, meta, masks


def _propose(drafter, ctx, matcher, mask, forced, size, law, generator):
    """One draft token under ``mask``: ``(token, kind, feature, q_ids, q_logp)``, or ``None`` to stop drafting.

    A mask with a single token drafts it for free (``"forced"``); a point-mass proposal must be allowed by the mask;
    a distribution is processed like the target's law (``law = (temperature, top_k, top_p)``) and sampled.
    """
    if forced is not None:
        return forced, "forced", 1.0, None, None
    prop = drafter.propose(ctx, matcher, mask)
    if prop is None:
        return None
    if prop.token is not None:
        tok = int(prop.token)
        if not (0 <= tok < size and mask[tok]):
            return None
        return tok, prop.kind, prop.feature, None, None
    temperature, top_k, top_p = law
    lq = fit_logprobs(_as_numpy(prop.logprobs), size)
    try:
        q_ids, q_logp = constrained_law(lq, mask, temperature=temperature, top_k=top_k, top_p=top_p)
    except GenerationError:  # the draft gives every allowed token probability 0
        return None
    j = _sample_ids(q_ids, q_logp, generator)
    return int(q_ids[j]), prop.kind, math.exp(float(q_logp[j])), q_ids, q_logp


def _verify(rows, drafts, meta, masks, matcher, policy, size, law, generator, eos, stats):
    """Leviathan's rule on each draft against the target's rows; the round so far and the extra token.

    The extra token is the residual draw at the first rejection, else the bonus token from the last row (none when
    the last draft was EOS). ``matcher`` is still advanced over every draft.
    """
    temperature, top_k, top_p = law
    k = len(drafts)
    res = RoundResult([], n_drafted=k)
    for i, tok in enumerate(drafts):
        lp = _as_numpy(rows[i])
        ids, logp = _target_law(lp, masks[i], temperature, top_k, top_p)
        kind, feature, q_ids, q_logp = meta[i]
        acc_p, r_ids, r_p = leviathan_step(ids, logp, q_ids, q_logp, tok, size)
        u = _uniform(generator)
        accepted = u < acc_p
        policy.update(kind, feature, accepted)
        stats.count_draft(kind, accepted)
        n_allowed = int(np.count_nonzero(masks[i]))
        if accepted:
            res.tokens.append(tok)
            res.logprob += float(logp[int(np.searchsorted(ids, tok))])
            res.model_logprob += float(lp[tok])
            res.steps.append(Step(tok, float(lp[tok]), n_allowed, 0, 0, kind))
            res.delta_logw += _log_z(lp, masks[i], temperature)
            res.n_accepted += 1
            continue
        # Rejected: sample the residual norm(max(0, p_c - q_c)).
        cdf = np.cumsum(r_p)
        j = min(int(np.searchsorted(cdf, _uniform(generator) * cdf[-1], side="right")), r_ids.size - 1)
        extra = int(r_ids[j])
        epos = int(np.searchsorted(ids, extra))
        res.logprob += float(logp[epos])
        res.model_logprob += float(lp[extra])
        res.delta_logw += _log_z(lp, masks[i], temperature)
        res.steps.append(Step(extra, float(lp[extra]), n_allowed, 0, 0, None, 1))
        return res, extra
    if k and drafts[-1] in eos:
        return res, None
    # Every draft accepted: the bonus token from the last row.
    tm = time.perf_counter()
    mask = masks[k] if len(masks) > k else matcher.mask()
    stats.mask_s += time.perf_counter() - tm
    lp = _as_numpy(rows[k])
    extra, lpe, mlp = sample_token(lp, mask, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
    res.logprob += lpe
    res.model_logprob += mlp
    res.delta_logw += _log_z(lp, mask, temperature)
    res.steps.append(Step(extra, mlp, int(np.count_nonzero(mask))))
    return res, extra


def _commit(seq, matcher, drafts, res, extra, eos, stats):
    """Roll ``matcher`` and ``seq`` back to the verified prefix, then commit the extra token (if any)."""
    k, n_acc = len(drafts), res.n_accepted
    res.raw_logprob = res.model_logprob
    tm = time.perf_counter()
    if k - n_acc:
        matcher.rollback(k - n_acc)
    if extra is not None:
        matcher.advance(extra)
        res.tokens.append(extra)
    stats.mask_s += time.perf_counter() - tm
    drop = k - n_acc + (1 if n_acc and n_acc == k and drafts[-1] in eos else 0)
    if drop:
        seq.crop(drop)
    if extra is not None and extra not in eos:
        seq.append(extra)
    stats.emitted += len(res.tokens)
