"""Exact constrained speculative decoding (ALGORITHMS.md §4): D1 and D2 rounds and the sequence loop.

A *round* drafts up to ``k`` tokens (from a :mod:`corral.drafters` drafter; tokens the grammar forces are drafted
for free), scores all ``k + 1`` positions with one target forward pass (``Sequence.extend_scored``), keeps the
verified prefix and one more token, and rolls the target's KV cache and the matcher back to it. Drafted tokens
advance the matcher only temporarily; nothing is committed unverified.

* **D1** (:func:`d1_round`): masked speculative sampling. The mask at each draft position is computed once and
  shared by the draft and the target; the draft law ``q_c`` is the draft's distribution (or a point mass for
  n-gram, fast-forward and forced drafts) under the same constrained law as the target (mask, temperature, top-k,
  top-p: :func:`corral.samplers.masking.constrained_law`), and Leviathan's rule on ``(p_c, q_c)`` emits tokens
  with law ``p_c`` at every position: the token stream has exactly the law of
  :func:`corral.samplers.masking.sample_sequence`. Greedy: accept iff the draft is the target's constrained argmax.
* **D2** (:func:`d2_round`): Gumbel-coupled verification with AWRS. Draft and target share the Gumbel keys
  ``G(stream, position)``; every emitted token is the argmax of ``log p + G`` over the valid tokens, i.e. the token
  non-speculative AWRS (:func:`corral.samplers.awrs.awrs_sample_sequence`) emits for the same stream, whatever the
  drafter, the draft length or the policy. No masks are needed (constraint checks only).

Both rounds return the block's log-weight increment (``Σ log Z_p`` for D1, exact; ``Σ log Ẑ`` for D2, properly
weighted), so a round is also an SMC proposal step (:class:`~corral.samplers.speculative_smc.SpeculativeProposal`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from corral.errors import GenerationError
from corral.runtime.free import FreeMatcher
from corral.samplers.masking import _as_numpy, constrained_law, sample_token, validate_sampling

__all__ = [
    "RoundResult",
    "SpecOutput",
    "SpecStats",
    "d1_round",
    "d2_round",
    "speculative_sample_sequence",
    "leviathan_step",
]

_FREE_KINDS = ("forced", "ff", "ngram")


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

    def _count(self, kind: str, accepted: bool) -> None:
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
    """

    tokens: list[int]
    delta_logw: float = 0.0
    logprob: float = 0.0
    model_logprob: float = 0.0
    n_drafted: int = 0
    n_accepted: int = 0
    dead: bool = False
    raw_logprob: float = 0.0


@dataclass
class SpecOutput:
    """What :func:`speculative_sample_sequence` returns (a superset of ``SampleOutput``).

    Attributes
    ----------
    tokens : list of int
        Generated tokens; ends with EOS when ``status == "complete"``.
    status : str
        ``"complete"``, ``"length"`` or ``"dead"`` (D2 only: no valid continuation).
    logprob : float
        Log-probability under the sampling law (see :class:`RoundResult`).
    model_logprob : float
        Log-probability under the model.
    log_weight : float
        Sum of the rounds' ``delta_logw``: the importance weight that corrects ``ℓ`` into ``π``.
    stats : SpecStats
    first_token_s : float
        Seconds until the first round ended.
    """

    tokens: list[int] = field(default_factory=list)
    status: str = "length"
    logprob: float = 0.0
    model_logprob: float = 0.0
    log_weight: float = 0.0
    stats: SpecStats = field(default_factory=SpecStats)
    first_token_s: float = 0.0


# ---------------------------------------------------------------------------------------------------------------
# helpers


def _uniform(generator) -> float:
    return float(torch.rand(1, generator=generator, dtype=torch.float64))


def _sample_ids(ids: np.ndarray, logp: np.ndarray, generator) -> int:
    """Inverse-CDF draw (the same scheme as ``sample_token``); returns an index into ``ids``."""
    if ids.size == 1:
        return 0
    cdf = np.cumsum(np.exp(logp))
    u = _uniform(generator) * cdf[-1]
    return min(int(np.searchsorted(cdf, u, side="right")), ids.size - 1)


def _fit(lp: np.ndarray, size: int) -> np.ndarray:
    if lp.size == size:
        return lp
    if lp.size > size:
        return lp[:size]
    return np.concatenate([lp, np.full(size - lp.size, -np.inf, dtype=lp.dtype)])


def _logsumexp(x: np.ndarray) -> float:
    if x.size == 0:
        return -math.inf
    m = float(x.max())
    if m == -math.inf:
        return -math.inf
    return m + math.log(float(np.exp(x - m).sum()))


def _log_z(lp32: np.ndarray, mask, temperature) -> float:
    """``log Σ_{mask} p_T`` for the tempered model law (0 when greedy: weights are meaningless there)."""
    if not temperature:
        return 0.0
    lw = lp32.astype(np.float64) / float(temperature)
    m = np.asarray(mask, dtype=bool)[: lw.size]
    return _logsumexp(lw[: m.size][m]) - _logsumexp(lw)


def _mask_count_one(mask) -> int | None:
    """The single allowed token of ``mask``, or ``None`` when zero or several are allowed."""
    nz = np.flatnonzero(mask)
    return int(nz[0]) if nz.size == 1 else None


def _target_law(lp, mask, temperature, top_k, top_p):
    """The target's constrained law at one position: masked decoding's law (``constrained_law``)."""
    return constrained_law(lp, mask, temperature=temperature, top_k=top_k, top_p=top_p)


def leviathan_step(p_ids, p_logp, q_ids, q_logp, token: int, size: int):
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


# ---------------------------------------------------------------------------------------------------------------
# D1


def d1_round(seq, matcher, drafter, policy, *, max_drafts: int, temperature=1.0, top_k=None, top_p=None,
             generator=None, eos=frozenset(), stats: SpecStats | None = None) -> RoundResult:
    """One D1 round: draft with shared masks, verify with one target pass, roll back to the verified prefix.

    Parameters
    ----------
    seq : Sequence-like
        The target sequence at the committed context (``tokens`` = prompt + committed tokens, EOS excluded).
        On return it holds the emitted tokens too (EOS excluded).
    matcher : Matcher
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
    ctx = list(seq.tokens)
    drafts: list[int] = []
    meta: list[tuple] = []  # (kind, feature, q_ids, q_logp) ; q_ids None = point mass
    masks: list = []
    survival = 1.0
    cost = getattr(drafter, "cost", 0.0)
    if drafter is not None:
        while len(drafts) < max_drafts and policy.keep_going(len(drafts), survival, cost):
            tm = time.perf_counter()
            mask = matcher.mask()
            masks.append(mask)
            forced = _mask_count_one(mask)
            td = time.perf_counter()
            stats.mask_s += td - tm
            q_ids = q_logp = None
            if forced is not None:
                tok, kind, feature = forced, "forced", 1.0
            else:
                prop = drafter.propose(ctx, matcher, mask)
                if prop is None:
                    stats.draft_s += time.perf_counter() - td
                    break
                kind, feature = prop.kind, prop.feature
                if prop.token is not None:
                    tok = int(prop.token)
                    if not (0 <= tok < size and mask[tok]):
                        stats.draft_s += time.perf_counter() - td
                        break
                else:
                    lq = _fit(_as_numpy(prop.logprobs), size)
                    try:
                        q_ids, q_logp = constrained_law(lq, mask, temperature=temperature, top_k=top_k, top_p=top_p)
                    except GenerationError:  # the draft gives every allowed token probability 0
                        stats.draft_s += time.perf_counter() - td
                        break
                    j = _sample_ids(q_ids, q_logp, generator)
                    tok = int(q_ids[j])
                    feature = math.exp(float(q_logp[j]))
            stats.draft_s += time.perf_counter() - td
            drafts.append(tok)
            meta.append((kind, feature, q_ids, q_logp))
            survival *= policy.predict(kind, feature)
            cost = 0.0 if kind in _FREE_KINDS else getattr(drafter, "cost", 0.0)
            tm = time.perf_counter()
            matcher.advance(tok)
            stats.mask_s += time.perf_counter() - tm
            ctx.append(tok)
            if tok in eos:
                break
    k = len(drafts)

    tv = time.perf_counter()
    rows = seq.extend_scored(drafts)
    stats.target_forwards += 1
    stats.rounds += 1
    out: list[int] = []
    res = RoundResult(out, n_drafted=k)
    extra = None
    n_acc = 0
    for i, tok in enumerate(drafts):
        lp = _as_numpy(rows[i])
        ids, logp = _target_law(lp, masks[i], temperature, top_k, top_p)
        kind, feature, q_ids, q_logp = meta[i]
        acc_p, r_ids, r_p = leviathan_step(ids, logp, q_ids, q_logp, tok, size)
        u = _uniform(generator)
        accepted = u < acc_p
        policy.update(kind, feature, accepted)
        stats._count(kind, accepted)
        if accepted:
            out.append(tok)
            res.logprob += float(logp[int(np.searchsorted(ids, tok))])
            res.model_logprob += float(lp[tok])
            res.delta_logw += _log_z(lp, masks[i], temperature)
            n_acc += 1
            continue
        # Rejected: sample the residual norm(max(0, p_c - q_c)).
        cdf = np.cumsum(r_p)
        j = min(int(np.searchsorted(cdf, _uniform(generator) * cdf[-1], side="right")), r_ids.size - 1)
        extra = int(r_ids[j])
        epos = int(np.searchsorted(ids, extra))
        res.logprob += float(logp[epos])
        res.model_logprob += float(lp[extra])
        res.delta_logw += _log_z(lp, masks[i], temperature)
        break
    else:
        if not (k and drafts[-1] in eos):  # bonus token from the last row
            tm = time.perf_counter()
            mask = masks[k] if len(masks) > k else matcher.mask()
            stats.mask_s += time.perf_counter() - tm
            lp = _as_numpy(rows[k])
            extra, lpe, mlp = sample_token(lp, mask, temperature=temperature, top_k=top_k, top_p=top_p,
                                           generator=generator)
            res.logprob += lpe
            res.model_logprob += mlp
            res.delta_logw += _log_z(lp, mask, temperature)
    res.n_accepted = n_acc
    res.raw_logprob = res.model_logprob
    # Roll back to the verified prefix, then commit the extra token.
    tm = time.perf_counter()
    if k - n_acc:
        matcher.rollback(k - n_acc)
    if extra is not None:
        matcher.advance(extra)
        out.append(extra)
    stats.mask_s += time.perf_counter() - tm
    drop = k - n_acc + (1 if n_acc and n_acc == k and drafts[-1] in eos else 0)
    if drop:
        seq.crop(drop)
    if extra is not None and extra not in eos:
        seq.append(extra)
    stats.emitted += len(out)
    stats.verify_s += time.perf_counter() - tv
    return res


# ---------------------------------------------------------------------------------------------------------------
# D2


def _first_valid(keys: np.ndarray, check):
    """The valid token with the largest key (ties by id), visiting tokens lazily in decreasing key order."""
    from corral.samplers.awrs import _visit_order

    work = np.array(keys, dtype=np.float64)
    for t in _visit_order(work, int(np.count_nonzero(work > -np.inf))):
        if check(t):
            return t
    return None


def d2_round(seq, matcher, drafter, policy, *, max_drafts: int, position: int, stream: int, temperature=1.0,
             eos=frozenset(), max_rejects=None, stats: SpecStats | None = None) -> RoundResult:
    """One D2 round: Gumbel-coupled drafting and AWRS verification with shared keys ``G(stream, position + i)``.

    Parameters
    ----------
    seq, matcher, drafter, policy, max_drafts, eos, stats
        As in :func:`d1_round` (the drafter gets ``mask=None``; the matcher's ``check`` is used instead of masks).
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
    from corral.samplers.awrs import as_float64, awrs_step, gumbel_keys, matcher_hooks

    stats = SpecStats() if stats is None else stats
    greedy = not temperature
    ctx = list(seq.tokens)
    drafts: list[int] = []
    meta: list[tuple] = []
    survival = 1.0
    cost = getattr(drafter, "cost", 0.0)

    def keys_for(lw, pos):
        return lw if greedy else lw + gumbel_keys(stream, pos, lw.size)

    if drafter is not None:
        while len(drafts) < max_drafts and policy.keep_going(len(drafts), survival, cost):
            td = time.perf_counter()
            prop = drafter.propose(ctx, matcher, None)
            if prop is None:
                stats.draft_s += time.perf_counter() - td
                break
            kind, feature = prop.kind, prop.feature
            if prop.token is not None:
                tok = int(prop.token)
                stats.draft_s += time.perf_counter() - td
                tm = time.perf_counter()
                ok = matcher.check(tok)
                stats.mask_s += time.perf_counter() - tm
                if not ok:
                    break
            else:
                lq = as_float64(prop.logprobs)
                lq = lq if greedy else lq / float(temperature)
                lq = _fit(lq, matcher.vocab_size) if hasattr(matcher, "vocab_size") else lq
                tok = _first_valid(keys_for(lq, position + len(drafts)), matcher.check)
                stats.draft_s += time.perf_counter() - td
                if tok is None:
                    break
                feature = math.exp(float(lq[tok]) - _logsumexp(lq[lq > -np.inf]))
            drafts.append(tok)
            meta.append((kind, feature))
            survival *= policy.predict(kind, feature)
            cost = 0.0 if kind in _FREE_KINDS else getattr(drafter, "cost", 0.0)
            matcher.advance(tok)
            ctx.append(tok)
            if tok in eos:
                break
    k = len(drafts)

    tv = time.perf_counter()
    rows = seq.extend_scored(drafts)
    stats.target_forwards += 1
    stats.rounds += 1
    if k:
        matcher.rollback(k)
    out: list[int] = []
    res = RoundResult(out, n_drafted=k)
    n_acc = 0
    full_mask = getattr(matcher, "mask", None)
    for i in range(k + 1):
        lp = as_float64(rows[i])
        lw = lp if greedy else lp / float(temperature)
        st = awrs_step(lw, matcher.check, keys=keys_for(lw, position + i),
                       max_rejects=max_rejects if full_mask is not None else None, full_mask=full_mask,
                       **matcher_hooks(matcher))
        if st.token is None:
            res.dead = True
            res.delta_logw = -math.inf
            break
        y = st.token
        out.append(y)
        res.delta_logw += st.log_z
        res.model_logprob += float(lw[y]) - _logsumexp(lw)
        res.raw_logprob += float(lp[y])
        matcher.advance(y)
        if i < k:
            accepted = y == drafts[i]
            policy.update(meta[i][0], meta[i][1], accepted)
            stats._count(meta[i][0], accepted)
            if accepted:
                n_acc += 1
            else:
                break
        if y in eos:
            break
    res.n_accepted = n_acc
    res.logprob = res.model_logprob - res.delta_logw if not res.dead else -math.inf
    # seq holds ctx + drafts: keep ctx + out (EOS excluded).
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


# ---------------------------------------------------------------------------------------------------------------
# sequence loop


def speculative_sample_sequence(
    seq,
    matcher,
    *,
    drafter=None,
    verify: str = "d1",
    draft_length="adaptive",
    max_tokens: int,
    temperature=1.0,
    top_k=None,
    top_p=None,
    generator=None,
    stream: int | None = None,
    eos_token_ids=None,
    max_rejects="default",
) -> SpecOutput:
    """Generate one sequence with speculative rounds until EOS or ``max_tokens``.

    The output law is that of masked decoding: D1 samples exactly
    :func:`corral.samplers.masking.sample_sequence`'s law (same temperature, top-k, top-p; with ``drafter=None``
    even the same tokens for the same generator), D2 exactly
    :func:`corral.samplers.awrs.awrs_sample_sequence`'s tokens for the same ``stream`` (temperature only).

    Parameters
    ----------
    seq : Sequence-like
        Target sequence after the prompt; generated tokens (EOS excluded) are appended.
    matcher : Matcher or None
        The constraint; ``None`` for unconstrained generation (a :class:`~corral.runtime.free.FreeMatcher`).
    drafter : Drafter or None
        From :func:`corral.drafters.make_drafter`. ``begin`` is called here with the prompt.
    verify : {"d1", "d2"}
    draft_length : "adaptive", int, or a policy object
        See :func:`corral.drafters.policy.make_policy`.
    max_tokens : int
        Most tokens to generate, EOS included.
    temperature, top_k, top_p
        D1: as in masked decoding. D2: temperature only (top-k/top-p raise ``ValueError``).
    generator : torch.Generator, optional
        D1's randomness (drafts, acceptance tests, residuals).
    stream : int, optional
        D2's Gumbel stream; default: drawn from ``generator`` (or fresh).
    eos_token_ids : collection of int, optional
        Default ``seq.model.eos_token_ids``.
    max_rejects : int, None or "default"
        D2's AWRS fallback threshold (default :data:`corral.samplers.awrs.DEFAULT_MAX_REJECTS`).

    Returns
    -------
    SpecOutput
    """
    from corral.drafters.policy import make_policy

    validate_sampling(temperature, top_k, top_p)
    if verify not in ("d1", "d2"):
        raise ValueError(f"verify must be 'd1' or 'd2', got {verify!r}")
    if verify == "d2" and (top_k is not None or (top_p is not None and top_p < 1)):
        raise ValueError("D2 (AWRS) verification supports temperature only, not top_k/top_p; use verify='d1'")
    if int(max_tokens) != max_tokens or max_tokens < 0:
        raise ValueError(f"max_tokens must be an integer >= 0, got {max_tokens!r}")
    if max_rejects == "default":
        from corral.samplers.awrs import DEFAULT_MAX_REJECTS

        max_rejects = DEFAULT_MAX_REJECTS
    if verify == "d2" and stream is None:
        stream = int(torch.randint(0, 2**62, (1,), generator=generator))
    policy = make_policy(draft_length)
    eos = frozenset(seq.model.eos_token_ids if eos_token_ids is None else eos_token_ids)
    if matcher is None:
        matcher = FreeMatcher(seq.model.vocab, eos)
    limit = seq.max_length
    out = SpecOutput()
    stats = out.stats
    if drafter is not None:
        drafter.begin(list(seq.tokens))
    t0 = time.perf_counter()
    n = int(max_tokens)
    while len(out.tokens) < n:
        if limit is not None and len(seq.tokens) > limit:
            break  # the context is full
        room = n - len(out.tokens) - 1
        if limit is not None:
            room = min(room, limit - len(seq.tokens))
        if verify == "d1":
            r = d1_round(seq, matcher, drafter, policy, max_drafts=max(room, 0), temperature=temperature,
                         top_k=top_k, top_p=top_p, generator=generator, eos=eos, stats=stats)
        else:
            r = d2_round(seq, matcher, drafter, policy, max_drafts=max(room, 0), position=len(out.tokens),
                         stream=stream, temperature=temperature, eos=eos, max_rejects=max_rejects, stats=stats)
        if not out.tokens:
            out.first_token_s = time.perf_counter() - t0
        out.tokens.extend(r.tokens)
        out.logprob += r.logprob
        out.model_logprob += r.model_logprob
        out.log_weight += r.delta_logw
        if r.dead:
            out.status = "dead"
            return out
        if r.tokens and r.tokens[-1] in eos:
            out.status = "complete"
            return out
        if drafter is not None:
            drafter.observe(seq.tokens)
    return out

