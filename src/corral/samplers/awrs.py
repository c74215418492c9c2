"""Adaptive weighted rejection sampling (AWRS): exact constrained next-token samples with proper weights.

One step (:func:`awrs_step`) visits tokens in decreasing order of Gumbel-perturbed keys ``logp + G`` (Gumbel top-k,
i.e. sampling *without replacement* from the model's law), tests the constraint only on the tokens it visits, and
returns the first valid one. That token is an exact draw from the locally constrained law
``p_c(y) = p(y) c(y) / Z`` (Gumbel-max restricted to the valid set). Alongside it comes an estimate ``Ẑ`` of the
local normaliser ``Z = Σ_y p(y) c(y)`` (the recursive estimator, ALGORITHMS.md §1) such that the pair is *properly
weighted*::

    E[ Ẑ · 1{y = t} ] = p(t) c(t)      for every token t.

This is what makes sequence-level importance weights ``W(y) = Π_t Ẑ_t`` correct the locally constrained (LCD) law
``ℓ`` into the global target ``π(y) ∝ p(y) 1[y ∈ L]`` (:mod:`corral.samplers.smc`). The tests in
``tests/test_awrs.py`` check the identity by enumerating every visiting order on random tiny instances.

Recursive estimator: after rejecting tokens of total probability ``R`` and accepting ``y``, test the successor
``y'`` (the next token in key order): ``Ẑ / Z0 = 1 - R`` if ``y'`` is valid or there is none, else ``p(y)``.
So a step costs at least two checks (accept + successor) except when the accepted token is the last candidate.

Groups of rejections: with ``check_group`` (``Matcher.check_group``), one rejected token also names tokens it proves
invalid: those that share a prefix of its bytes and then take a byte no lexeme thread can take there (after ``{"``
where the key must be ``name``, every token not starting with ``n``). They leave the unexamined set at once, their
mass joins ``R``, and they are never checked. The returned token is unchanged (it is the first *valid* token in key
order), and the weight stays properly weighted: the recursion ``E f = P(x) f(x) + (1 - P(x)) E[f | X ≠ x]`` holds
for any unexamined set, so removing known-invalid tokens from it (a set fixed by what was visited, never by unvisited
keys) keeps ``E[Ẑ 1{y=t}] = p(t) c(t)``. ``tests/test_awrs.py`` enumerates it with random groups.

Exact fallback: after ``max_rejects`` rejections, the full mask is computed once, the token returned is the argmax of
the keys over the valid tokens (the token the loop would have reached) and ``Ẑ`` is the exact ``Z``.

EOS is an ordinary token; the caller's ``check`` returns ``is_complete()`` for it (``Matcher.check`` does).
Weights are float64 log values; ``-inf`` marks a particle with no valid continuation.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = [
    "AWRSStep",
    "AWRSSequence",
    "DEFAULT_MAX_REJECTS",
    "awrs_step",
    "awrs_sample_sequence",
    "gumbel_keys",
    "logsumexp",
    "matcher_hooks",
]

#: Rejections after which :func:`awrs_sample_sequence` and the SMC proposal switch to the exact full mask.
DEFAULT_MAX_REJECTS = 32

_SMALL_V = 64  # vocabularies up to this size are sorted at once; larger ones are visited in argpartition chunks
_FIRST_CHUNK = 16
_TINY = -np.finfo(np.float64).max  # a finite key below every real key (keeps -inf for "not a candidate")
_M64 = (1 << 64) - 1


@dataclass
class AWRSStep:
    """The outcome of one :func:`awrs_step`.

    Attributes
    ----------
    token : int or None
        The sampled token; ``None`` when no candidate token is valid.
    log_z : float
        Log of the estimate ``Ẑ`` of ``Σ_y exp(logw[y]) c(y)`` (float64; ``-inf`` when ``token`` is ``None``).
    n_checks : int
        Constraint checks made (the full mask of the fallback is not counted).
    n_rejects : int
        Tokens visited and found invalid.
    fallback : bool
        Whether the exact full-mask fallback was used.
    """

    token: int | None
    log_z: float
    n_checks: int = 0
    n_rejects: int = 0
    fallback: bool = False


def logsumexp(x) -> float:
    """float64 ``log Σ exp(x)`` (``-inf`` for an empty or all ``-inf`` input)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size == 0:
        return -math.inf
    m = float(x.max())
    if m == -math.inf:
        return -math.inf
    if m == math.inf:
        return math.inf
    return m + math.log(float(np.exp(x - m).sum()))


def gumbel_keys(stream: int, position: int, size: int) -> np.ndarray:
    """Counter-based standard Gumbel noise ``G(stream, position)``.

    The same ``(stream, position)`` always gives the same vector (numpy's Philox keyed by the pair), so a particle's
    noise at a position can be recomputed anywhere: by the speculative verifier (shared noise between draft and
    target, ALGORITHMS.md §4.3) and by SMC particles (one stream per particle; children of a resampled particle get
    fresh streams).

    Parameters
    ----------
    stream : int
        Stream id (taken modulo 2**64).
    position : int
        Position in the stream, e.g. the number of tokens generated so far (taken modulo 2**64).
    size : int
        Vector length (the vocabulary size).

    Returns
    -------
    numpy.ndarray
        float64 ``[size]`` i.i.d. standard Gumbel draws. Keys for :func:`awrs_step` are ``logp + gumbel_keys(...)``.
    """
    local = _philox.__dict__
    gen = local.get("gen")
    if gen is None:
        gen = local["gen"] = np.random.Generator(np.random.Philox(0))
    # Re-keying one Philox (key = (stream, position), counter 0) is 4x cheaper than constructing one.
    gen.bit_generator.state = {
        "bit_generator": "Philox",
        "state": {"counter": np.zeros(4, np.uint64),
                  "key": np.array([int(stream) & _M64, int(position) & _M64], dtype=np.uint64)},
        "buffer": np.zeros(4, np.uint64),
        "buffer_pos": 4,
        "has_uint32": 0,
        "uinteger": 0,
    }
    return -np.log(gen.standard_exponential(int(size)))


_philox = threading.local()


def _visit_order(work: np.ndarray, n: int):
    """Yield the ``n`` candidate indices of ``work`` (entries ``> -inf``) by decreasing value, ties by index.

    ``work`` is consumed (visited entries are set to ``-inf``). Small arrays are sorted at once; large ones are
    visited in geometrically growing ``argpartition`` chunks, so a step that accepts early touches ``O(V)`` once.
    """
    for chunk in _order_chunks(work, n):
        yield from chunk.tolist()


def _order_chunks(work: np.ndarray, n: int):
    """The visit order of :func:`_visit_order` as consecutive index arrays."""
    if n <= 0:
        return
    size = work.size
    if size <= _SMALL_V or n <= _FIRST_CHUNK:
        if n == size:
            yield np.lexsort((np.arange(size), -work))
            return
        idx = np.flatnonzero(work > -np.inf)
        yield idx[np.lexsort((idx, -work[idx]))]
        return
    k = _FIRST_CHUNK
    left = n
    while left > 0:
        k = min(k, left)
        if k == left:
            top = np.flatnonzero(work > -np.inf)
        else:
            top = np.argpartition(work, size - k)[size - k:]
        top = top[np.lexsort((top, -work[top]))]
        work[top] = -np.inf
        left -= top.size
        yield top
        k *= 4


def awrs_step(
    logw,
    check: Callable[[int], bool],
    *,
    keys=None,
    rng: np.random.Generator | None = None,
    max_rejects: int | None = None,
    full_mask: Callable[[], np.ndarray] | None = None,
    check_group: Callable[[int], np.ndarray | None] | None = None,
    implied: Callable[[int, int], bool] | None = None,
) -> AWRSStep:
    """One AWRS step: an exact draw from the constrained law and a properly weighted estimate of its normaliser.

    Parameters
    ----------
    logw : array_like
        float64 ``[V]`` unnormalised log-weights (e.g. the model's log-probabilities, tempered). ``-inf`` = pruned
        (never a candidate; its mass is not part of the normaliser).
    check : callable
        ``check(token) -> bool``, the constraint's prefix-viability test; for EOS it must return whether the text is
        complete (pass ``matcher.check``).
    keys : array_like, optional
        Precomputed perturbed keys ``[V]`` with the semantics of ``logp + G`` (``G`` i.i.d. standard Gumbel; any
        constant shift of ``logp`` gives the same order), e.g. ``logw + gumbel_keys(stream, position, V)``. Tokens
        are visited by decreasing key (ties by increasing id). Proper weighting holds when the keys are Gumbel
        perturbations of ``logw`` independent of everything else; keys without noise (``keys=logw``) give the
        greedy constrained token.
    rng : numpy.random.Generator, optional
        Source of the Gumbel noise when ``keys`` is not given (default: a fresh unseeded generator).
    max_rejects : int, optional
        After this many rejections, switch to the exact fallback (requires ``full_mask``). ``None``: never.
    full_mask : callable, optional
        ``full_mask() -> bool [V]``: the valid tokens (``mask()[t] == check(t)``), used by the fallback.
    check_group : callable, optional
        ``check_group(token) -> None`` if the token is valid, else an int array of tokens that are all invalid and
        include it, or a :class:`~corral.runtime.matcher.Rejection` (``Matcher.check_group``: every token sharing
        a prefix of the rejected token's bytes and then a dead byte; its first-byte part is applied once a step).
        Used instead of ``check``: the whole group leaves the candidates at once, its mass joins the rejected mass,
        and its members are never checked. The token is the same as with ``check``; the weight stays properly
        weighted (removing known-invalid tokens from the unexamined set keeps the recursive identity
        ``E[Ẑ 1{y=t}] = p(t) c(t)``; see tests/test_awrs.py). Only checked tokens count as checks and rejections.
    implied : callable, optional
        ``implied(valid_token, other) -> bool``: ``True`` only if ``other`` is valid whenever ``valid_token`` is
        (``Matcher.implied``: ``other``'s bytes are a prefix of ``valid_token``'s, and viability is prefix-closed).
        The successor of an accepted token is then known valid without a check. Same token, same weight.

    Returns
    -------
    AWRSStep
        ``token`` is the argmax of ``keys`` over the valid candidate tokens (in all cases, fallback included);
        ``log_z`` is ``log Ẑ`` with ``E[Ẑ 1{token = t}] = exp(logw[t]) c(t)``; ``token is None`` and
        ``log_z = -inf`` when no candidate is valid.

    Raises
    ------
    ValueError
        Shapes disagree, ``logw`` contains NaN or ``+inf``, or ``max_rejects`` is given without ``full_mask``.
    """
    logw = np.asarray(logw, dtype=np.float64).reshape(-1)
    size = logw.size
    if not (logw < np.inf).all():
        raise ValueError("logw must not contain NaN or +inf")
    if max_rejects is not None:
        if full_mask is None:
            raise ValueError("max_rejects needs full_mask (the exact fallback)")
        if int(max_rejects) != max_rejects or max_rejects < 0:
            raise ValueError(f"max_rejects must be an integer >= 0 or None, got {max_rejects!r}")
    cand = logw > -np.inf
    n_cand = int(np.count_nonzero(cand))
    if n_cand == 0:
        return AWRSStep(None, -math.inf)
    m = logw.max()
    log_z0 = float(m + np.log(np.exp(logw - m).sum()))
    logp = logw - log_z0
    if keys is None:
        if rng is None:
            rng = np.random.default_rng()
        work = logp + rng.gumbel(size=size)
    else:
        work = np.array(keys, dtype=np.float64).reshape(-1)
        if work.size != size:
            raise ValueError(f"keys has {work.size} entries, logw has {size}")
        bad = ~(work > -np.inf)  # NaN or -inf keys of candidates: visited last
        if bad.any():
            work[bad] = _TINY
    work[~cand] = -np.inf
    # the original keys: for the fallback's argmax, and for restarting the visit order on fewer tokens
    keys_kept = work.copy() if max_rejects is not None or check_group is not None else None
    chunks = _order_chunks(work, n_cand)
    buffer: list[int] = []
    n_checks = n_rejects = 0
    rejected: list[int] = []
    rej_mass = 0.0
    drop = _Dropped(size, logp, cand) if check_group is not None else None

    def valid(t: int) -> bool:
        nonlocal rej_mass, chunks, buffer
        if drop is None:
            return bool(check(t))
        group = check_group(t)
        if group is None:
            return True
        first_before = drop.dead_first is None
        rej_mass += drop.add(group, t)
        if first_before and drop.dead_first is not None:
            # Most of the vocabulary may just have gone: visit the rest in a fresh order over the survivors (every
            # token visited so far was rejected, hence dropped), instead of cutting chunks of the whole vocabulary.
            idx = np.flatnonzero(drop.kept())
            sub = keys_kept[idx]
            chunks = (idx[c] for c in _order_chunks(sub, idx.size))
            buffer = []
        return False

    def visit():
        """The next candidate in key order that has not been dropped (chunks are filtered as they are cut)."""
        nonlocal buffer
        while True:
            while buffer:
                t = buffer.pop()
                if drop is None or not drop.has(t):
                    return t
            chunk = next(chunks, None)
            if chunk is None:
                return None
            if drop is not None:
                chunk = chunk[drop.kept_among(chunk)]
            buffer = chunk[::-1].tolist()

    def log_rest() -> float:
        if drop is None:
            return _log_rest(logp, cand, rejected, rej_mass)
        if rej_mass < 0.5:
            return math.log1p(-rej_mass) if rej_mass > 0 else 0.0
        return logsumexp(logp[drop.kept()])

    y = visit()
    while y is not None:
        if max_rejects is not None and n_rejects >= max_rejects:
            return _fallback(logp, log_z0, cand, keys_kept, full_mask, n_checks, n_rejects)
        n_checks += 1
        if valid(y):
            succ = visit()
            if succ is None or (implied is not None and implied(y, succ)):
                est = log_rest()
            else:
                n_checks += 1
                est = log_rest() if valid(succ) else float(logp[y])
            return AWRSStep(int(y), log_z0 + est, n_checks, n_rejects, False)
        n_rejects += 1
        if drop is None:
            rejected.append(y)
            rej_mass += math.exp(float(logp[y]))
        y = visit()
    return AWRSStep(None, -math.inf, n_checks, n_rejects, False)


class _Dropped:
    """The candidates an AWRS step has dropped as invalid (``check_group`` groups), and their probability mass.

    Explicit ids are marked in a boolean row. A :class:`~corral.runtime.matcher.Rejection`'s first-byte part (every
    token whose first byte no lexeme thread takes, often most of the vocabulary) is kept as a 256-entry table: its
    mass is summed per first byte in one pass, and visited tokens are tested against it one by one, so a large
    vocabulary is not rewritten at every rejection.
    """

    def __init__(self, size: int, logp: np.ndarray, cand: np.ndarray) -> None:
        self.size, self.logp, self.cand = size, logp, cand
        self.removed = np.zeros(size, dtype=bool)
        self.explicit: list[int] = []
        self.dead_first: np.ndarray | None = None  # bool [256]
        self.first: np.ndarray | None = None  # int [size]: first byte, -1 for none
        self.applied: dict = {}  # id(part) -> part, for the cached parts of Rejections

    def _first_dead(self, ids):
        """bool per id (or for one id): dropped by the first-byte table (``False`` before it came)."""
        if self.dead_first is None:
            return np.zeros(np.shape(ids), dtype=bool)
        f = self.first[ids]
        return (f >= 0) & self.dead_first[np.maximum(f, 0)]

    def has(self, t: int) -> bool:
        """Whether token ``t`` has been dropped."""
        return bool(self.removed[t]) or bool(self._first_dead(t))

    def add(self, group, t: int) -> float:
        """Drop ``group`` (an id array or a Rejection) and token ``t``; the mass newly dropped."""
        mass = 0.0
        first_allowed = getattr(group, "first_allowed", None)
        if first_allowed is not None and self.dead_first is None:
            first = np.asarray(group.first_byte)
            if first.size != self.size:  # (logits wider or narrower than the vocabulary)
                first = np.concatenate([first[:self.size], np.full(max(0, self.size - first.size), -1, first.dtype)])
            self.first, self.dead_first = first, ~np.asarray(first_allowed, dtype=bool)
            p = np.where(self.cand, np.exp(self.logp), 0.0)
            per_byte = np.bincount(first + 1, weights=p, minlength=257)[1:]
            mass += float(per_byte[self.dead_first].sum())
            # tokens dropped earlier by id whose first byte is dead were counted twice: take them out again
            mass -= sum(math.exp(float(self.logp[u])) for u in self.explicit if self._first_dead(u))
            self.explicit = []
        for part in getattr(group, "parts", ()):  # disjoint, cached arrays: one the step has applied is skipped
            if id(part) not in self.applied:
                self.applied[id(part)] = part  # (kept alive, so its id is not reused during the step)
                mass += self._drop(part[part < self.size])
        ids = np.asarray(getattr(group, "ids", group), dtype=np.int64).reshape(-1)
        ids = np.unique(np.append(ids[(ids >= 0) & (ids < self.size)], t))  # the token itself, in any case
        return mass + self._drop(ids)

    def _drop(self, ids: np.ndarray) -> float:
        """Drop the distinct ``ids`` not dropped yet; their mass."""
        ids = ids[self.cand[ids] & ~self.removed[ids]]
        ids = ids[~self._first_dead(ids)]
        self.removed[ids] = True
        if self.dead_first is None:  # needed only to correct the first-byte mass, once it comes
            self.explicit.extend(ids.tolist())
        return float(np.exp(self.logp[ids]).sum())

    def kept_among(self, ids: np.ndarray) -> np.ndarray:
        """bool per id: not dropped."""
        return ~self.removed[ids] & ~self._first_dead(ids)

    def kept(self) -> np.ndarray:
        """bool ``[size]``: the candidates not dropped."""
        return self.cand & self.kept_among(np.arange(self.size))


def matcher_hooks(matcher) -> dict:
    """The optional :func:`awrs_step` arguments a matcher supports (``check_group``, ``implied``), as keywords.

    Every caller in corral passes the same hooks, so AWRS, SMC and D2 verification make identical steps.
    """
    return {name: getattr(matcher, name) for name in ("check_group", "implied") if hasattr(matcher, name)}


def _log_rest(logp: np.ndarray, cand: np.ndarray, rejected: list[int], rej_mass: float) -> float:
    """``log(1 - R)``: log of the probability mass of the candidates not rejected (precise even when R ≈ 1)."""
    if not rejected:
        return 0.0
    if rej_mass < 0.5:
        return math.log1p(-rej_mass)
    keep = cand.copy()
    keep[rejected] = False
    return logsumexp(logp[keep])


def _fallback(logp, log_z0, cand, keys, full_mask, n_checks, n_rejects) -> AWRSStep:
    mask = np.asarray(full_mask(), dtype=bool).reshape(-1)
    size = logp.size
    if mask.size < size:
        mask = np.concatenate([mask, np.zeros(size - mask.size, dtype=bool)])
    valid = mask[:size] & cand
    if not valid.any():
        return AWRSStep(None, -math.inf, n_checks, n_rejects, True)
    ids = np.flatnonzero(valid)
    best = int(ids[np.argmax(keys[ids])])  # argmax returns the first maximum: ties by increasing id
    return AWRSStep(best, log_z0 + logsumexp(logp[ids]), n_checks, n_rejects, True)


# ----------------------------------------------------------------------------------------------------------------
# sequence level


@dataclass
class AWRSSequence:
    """What :func:`awrs_sample_sequence` returns.

    Attributes
    ----------
    tokens : list of int
        The generated tokens; ends with an EOS token when ``status == "complete"``.
    status : str
        ``"complete"`` (EOS), ``"length"`` (``max_tokens`` or the context ran out) or ``"dead"`` (no valid
        continuation; only with a constraint that has true dead ends or a model that gives them probability 0).
    log_weight : float
        ``Σ_t log Ẑ_t``: the importance weight that corrects the locally constrained law ``ℓ`` into the global
        target ``π`` (``E[W·1{y}] = p(y) 1[y ∈ L]`` for complete ``y``); ``-inf`` when dead.
    model_logprob : float
        Log-probability of ``tokens`` under the raw (untempered) model.
    n_checks, n_rejects, n_fallbacks : int
        Totals over the steps.
    tempered_logprob : float
        Log-probability of ``tokens`` under the tempered model (equal to ``model_logprob`` at temperature 1).
    first_token_s : float
        Seconds until the first token was chosen.
    """

    tokens: list[int] = field(default_factory=list)
    status: str = "length"
    log_weight: float = 0.0
    model_logprob: float = 0.0
    n_checks: int = 0
    n_rejects: int = 0
    n_fallbacks: int = 0
    first_token_s: float = 0.0

    tempered_logprob: float = 0.0

    @property
    def logprob(self) -> float:
        """Estimate of ``log ℓ(tokens)`` under the tempered law: ``Σ_t log p_T(y_t) - log_weight`` (the exact
        ``log ℓ`` when every step fell back to the full mask, since ``Ẑ`` is then exact)."""
        return self.tempered_logprob - self.log_weight


def as_float64(logprobs) -> np.ndarray:
    """A model's next-token log-probabilities (torch tensor or array) as a float64 numpy vector."""
    try:
        import torch

        if isinstance(logprobs, torch.Tensor):
            return logprobs.detach().reshape(-1).to("cpu", torch.float64).numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(logprobs, dtype=np.float64).reshape(-1)


def tempered(logprobs, temperature: float) -> np.ndarray:
    """float64 ``logprobs / temperature`` (unnormalised tempered log-weights; ``temperature > 0``)."""
    lw = as_float64(logprobs)
    if temperature != 1.0:
        lw = lw / float(temperature)
    return lw


def eos_only(logw: np.ndarray, eos_ids) -> np.ndarray:
    """``logw`` with every token but the EOS ids pruned (the forced-EOS step at ``max_tokens``)."""
    out = np.full_like(logw, -np.inf)
    ids = [e for e in eos_ids if 0 <= e < logw.size]
    out[ids] = logw[ids]
    return out


def awrs_sample_sequence(
    seq,
    matcher,
    *,
    max_tokens: int,
    temperature: float = 1.0,
    stream: int | None = None,
    rng: np.random.Generator | None = None,
    max_rejects: int | None = DEFAULT_MAX_REJECTS,
    eos_token_ids=None,
    force_eos: bool = False,
) -> AWRSSequence:
    """Generate one sequence with AWRS steps: a draw from the LCD law ``ℓ`` with its importance weight for ``π``.

    The token sequence has exactly the law of masked decoding (:func:`corral.samplers.masking.sample_sequence` at the
    same temperature, without top-k/top-p); ``log_weight`` is ``Σ_t log Ẑ_t``, properly weighted for
    ``p(y) 1[y ∈ L]`` (tempered model).

    Parameters
    ----------
    seq : Sequence-like
        Model sequence after the prompt (``logprobs()``, ``append``, ``tokens``, ``max_length``, ``model``).
    matcher : Matcher-like
        ``check``, ``advance``, ``mask`` (for the fallback) and ``is_complete``.
    max_tokens : int
        Most tokens to generate, EOS included.
    temperature : float
        ``> 0``: the model's logits are divided by it (``π`` and ``ℓ`` then refer to the tempered model).
        ``0``: greedy (the most likely valid token; weights are then meaningless).
    stream : int, optional
        Gumbel stream id: keys come from :func:`gumbel_keys` ``(stream, position)``, so the output is a function
        of the stream. Otherwise ``rng`` (or a fresh generator) supplies the noise.
    rng : numpy.random.Generator, optional
    max_rejects : int or None
        Rejections before the exact full-mask fallback (``None``: never fall back).
    eos_token_ids : collection of int, optional
        Default: ``seq.model.eos_token_ids``.
    force_eos : bool
        At the last position allowed by ``max_tokens`` (or the context) only EOS is a candidate, and the weight
        takes its probability (the importance correction for ``π`` restricted to ``|y| <= max_tokens``); a
        particle that is then not complete dies. Default ``False`` (the LCD law of masked decoding, which stops
        with ``"length"``).

    Returns
    -------
    AWRSSequence
    """
    if int(max_tokens) != max_tokens or max_tokens < 0:
        raise ValueError(f"max_tokens must be an integer >= 0, got {max_tokens!r}")
    if temperature is None or temperature < 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    eos = frozenset(seq.model.eos_token_ids if eos_token_ids is None else eos_token_ids)
    greedy = temperature == 0
    if rng is None and stream is None:
        rng = np.random.default_rng()
    limit = seq.max_length
    horizon = int(max_tokens)
    if limit is not None:
        horizon = min(horizon, limit - len(seq.tokens) + 1)
    out = AWRSSequence()
    full_mask = getattr(matcher, "mask", None)
    hooks = matcher_hooks(matcher)
    t0 = time.perf_counter()
    for pos in range(max(horizon, 0)):
        lp = as_float64(seq.logprobs())
        full = lp if greedy else tempered(lp, temperature)
        logw = full
        if force_eos and pos == horizon - 1:
            logw = eos_only(logw, eos)
        if greedy:
            keys = logw
        elif stream is not None:
            keys = logw + gumbel_keys(stream, pos, logw.size)
        else:
            keys = logw + rng.gumbel(size=logw.size)
        st = awrs_step(logw, matcher.check, keys=keys, max_rejects=max_rejects if full_mask else None,
                       full_mask=full_mask, **hooks)
        if pos == 0:
            out.first_token_s = time.perf_counter() - t0
        out.n_checks += st.n_checks
        out.n_rejects += st.n_rejects
        out.n_fallbacks += int(st.fallback)
        if st.token is None:
            out.status = "dead" if not (force_eos and pos == horizon - 1) else "length"
            out.log_weight = -math.inf
            return out
        tok = st.token
        out.log_weight += st.log_z
        out.model_logprob += float(lp[tok])
        out.tempered_logprob += float(full[tok]) - (logsumexp(full) if not greedy and temperature != 1 else 0.0)
        out.tokens.append(tok)
        matcher.advance(tok)
        if tok in eos:
            out.status = "complete"
            return out
        seq.append(tok)
    out.status = "length"
    return out
