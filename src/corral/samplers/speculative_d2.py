"""D2 speculative rounds: Gumbel-coupled verification with AWRS (ALGORITHMS.md §4.3).

Draft and target share the Gumbel keys ``G(stream, position)``; every emitted token is the argmax of ``log p + G``
over the valid tokens, i.e. the token non-speculative AWRS (:func:`corral.samplers.awrs.awrs_sample_sequence`) emits
for the same stream, whatever the drafter, the draft length or the policy. No masks are needed (constraint checks
only). The round's log-weight increment is ``Σ log Ẑ`` (properly weighted).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from corral.samplers.awrs import as_float64, awrs_step, gumbel_keys, logsumexp, matcher_hooks
from corral.samplers.awrs_visit import visit_order
from corral.samplers.masking import checked_logprobs
from corral.samplers.speculative_round import FREE_KINDS, RoundResult, SpecStats, fit_logprobs
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.drafters.policy import AdaptivePolicy, FixedPolicy
    from corral.protocols import ConstraintState, Drafter, ModelSequence

__all__ = ["awrs_emitter", "d2_round"]


def _first_valid(keys: np.ndarray, check: Callable[[int], bool]) -> int | None:
    """The valid token with the largest key (ties by id), visiting tokens lazily in decreasing key order."""
    work = np.array(keys, dtype=np.float64)
    for t in visit_order(work, int(np.count_nonzero(work > -np.inf))):
        if check(t):
            return t
    return None


def _keys(lw: np.ndarray, stream: int, position: int, greedy: bool) -> np.ndarray:
    """The shared keys at ``position``: ``lw + G(stream, position)`` (``lw`` itself when greedy)."""
    return lw if greedy else lw + gumbel_keys(stream, position, lw.size)


def d2_round(seq: ModelSequence, matcher: ConstraintState, drafter: Drafter | None,
             policy: FixedPolicy | AdaptivePolicy, *, max_drafts: int, position: int, stream: int,
             temperature: float | None = 1.0, eos: Collection[int] = frozenset(), max_rejects: int | None = None,
             stats: SpecStats | None = None) -> RoundResult:
    """One D2 round: Gumbel-coupled drafting and AWRS verification with shared keys ``G(stream, position + i)``.

    Parameters
    ----------
    seq, matcher, drafter, policy, max_drafts, eos, stats
        As in :func:`~corral.samplers.speculative_d1.d1_round` (the drafter gets ``mask=None``; the matcher's
        ``check`` is used instead of masks).
    position : int
        Number of tokens generated before this round (the Gumbel counter of the first position).
    stream : int
        Gumbel stream (the seed).
    temperature : float
        ``> 0`` or 0 (greedy: keys without noise).
    max_rejects : int or None
        AWRS rejections before the exact full-mask fallback (changes only the weight, never the token).

    Returns
    -------
    RoundResult
    """
    stats = SpecStats() if stats is None else stats
    drafts, meta = _draft(seq, matcher, drafter, policy, max_drafts, position, stream, temperature, eos, stats)
    k = len(drafts)
    tv = time.perf_counter()
    rows = checked_logprobs(seq.extend_scored(drafts))
    stats.target_forwards += 1
    stats.rounds += 1
    if k:
        matcher.rollback(k)
    res = _verify(rows, drafts, meta, matcher, policy, position, stream, temperature, eos, max_rejects, stats)
    # seq holds ctx + drafts: keep ctx + out (EOS excluded).
    out, n_acc = res.tokens, res.n_accepted
    keep = n_acc
    if keep and drafts[keep - 1] in eos:
        keep -= 1
    if k - keep:
        seq.crop(k - keep)
    if len(out) > n_acc and out[-1] not in eos:
        seq.append(out[-1])
    stats.emitted += len(out)
    stats.verify_s += time.perf_counter() - tv
    return res


def _draft(seq, matcher, drafter, policy, max_drafts, position, stream, temperature, eos, stats):
    """Draft up to ``max_drafts`` valid tokens, advancing ``matcher`` over them; the drafts and ``(kind, feature)``s."""
    ctx = list(seq.tokens)
    drafts: list[int] = []
    meta: list[tuple] = []
    survival = 1.0
    cost = getattr(drafter, "cost", 0.0)
    if drafter is None:
        return drafts, meta
    while len(drafts) < max_drafts and policy.keep_going(len(drafts), survival, cost):
        drafted = _propose(drafter, ctx, matcher, position + len(drafts), stream, temperature, stats)
        if drafted is None:
            break
        tok, kind, feature = drafted
        drafts.append(tok)
        meta.append((kind, feature))
        survival *= policy.predict(kind, feature)
        cost = 0.0 if kind in FREE_KINDS else getattr(drafter, "cost", 0.0)
        matcher.advance(tok)
        ctx.append(tok)
        if tok in eos:
            break
    return drafts, meta


def _propose(drafter, ctx, matcher, position, stream, temperature, stats):
    """One draft token: ``(token, kind, feature)``, or ``None`` to stop drafting.

    A point-mass proposal must pass ``matcher.check``; a distribution drafts its first valid token under the shared
    keys at ``position`` (the token the target emits there when the two laws agree).
    """
    greedy = not temperature
    td = time.perf_counter()
    prop = drafter.propose(ctx, matcher, None)
    if prop is None:
        stats.draft_s += time.perf_counter() - td
        return None
    kind, feature = prop.kind, prop.feature
    if prop.token is not None:
        tok = int(prop.token)
        stats.draft_s += time.perf_counter() - td
        tm = time.perf_counter()
        ok = matcher.check(tok)
        stats.mask_s += time.perf_counter() - tm
        return (tok, kind, feature) if ok else None
    lq = as_float64(prop.logprobs)
    lq = lq if greedy else lq / float(temperature)
    lq = fit_logprobs(lq, matcher.vocab_size) if hasattr(matcher, "vocab_size") else lq
    tok = _first_valid(_keys(lq, stream, position, greedy), matcher.check)
    stats.draft_s += time.perf_counter() - td
    if tok is None:
        return None
    return tok, kind, math.exp(float(lq[tok]) - logsumexp(lq[lq > -np.inf]))


def awrs_emitter(matcher, *, stream: int, temperature: float | None,
                 max_rejects: int | None) -> Callable[[RoundResult, Any, int], Step | None]:
    """The D2 emit step: ``emit(res, row, position)`` runs AWRS on the target's ``row`` with the shared keys
    ``G(stream, position)``, adds the token and its weights to ``res`` and advances ``matcher`` over it.

    ``emit`` returns the token's :class:`~corral.samplers.steps.Step` (no draft recorded: the caller sets ``draft``
    and ``rejected_drafts``), or ``None`` when no token is valid (``res`` is then dead).
    """
    greedy = not temperature
    full_mask = getattr(matcher, "mask", None)
    hooks = matcher_hooks(matcher)

    def emit(res: RoundResult, row, position: int) -> Step | None:
        """AWRS on ``row`` with the keys at ``position``; see :func:`awrs_emitter`."""
        lp = as_float64(row)
        lw = lp if greedy else lp / float(temperature)
        st = awrs_step(lw, matcher.check, keys=_keys(lw, stream, position, greedy),
                       max_rejects=max_rejects if full_mask is not None else None, full_mask=full_mask, **hooks)
        if st.token is None:
            res.dead = True
            res.delta_logw = -math.inf
            return None
        y = st.token
        res.tokens.append(y)
        res.delta_logw += st.log_z
        res.model_logprob += float(lw[y]) - logsumexp(lw)
        res.raw_logprob += float(lp[y])
        matcher.advance(y)
        return Step(y, float(lp[y]), None, st.n_checks, st.n_rejects)

    return emit


def _verify(rows, drafts, meta, matcher, policy, position, stream, temperature, eos, max_rejects, stats):
    """AWRS at every scored position with the shared keys, until a draft disagrees, EOS, or no valid token.

    ``matcher`` (rolled back to the committed context) is advanced over the emitted tokens.
    """
    k = len(drafts)
    res = RoundResult([], n_drafted=k)
    emit = awrs_emitter(matcher, stream=stream, temperature=temperature, max_rejects=max_rejects)
    for i in range(k + 1):
        step = emit(res, rows[i], position + i)
        if step is None:
            break
        y = step.token
        if i < k:
            accepted = y == drafts[i]
            policy.update(meta[i][0], meta[i][1], accepted)
            stats.count_draft(meta[i][0], accepted)
            res.steps.append(step._replace(draft=meta[i][0] if accepted else None,
                                           rejected_drafts=0 if accepted else 1))
            if not accepted:
                break
            res.n_accepted += 1
        else:
            res.steps.append(step)
        if y in eos:
            break
    res.logprob = res.model_logprob - res.delta_logw if not res.dead else -math.inf
    return res
