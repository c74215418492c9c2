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
``tests/samplers/test_awrs.py`` check the identity by enumerating every visiting order on random tiny instances.

Recursive estimator: after rejecting tokens of total probability ``R`` and accepting ``y``, test the successor
``y'`` (the next token in key order): ``Ẑ / Z0 = 1 - R`` if ``y'`` is valid or there is none, else ``p(y)``.
So a step costs at least two checks (accept + successor) except when the accepted token is the last candidate.

Groups of rejections: with ``check_group`` (``Matcher.check_group``), one rejected token also names tokens it proves
invalid: those that share a prefix of its bytes and then take a byte no lexeme thread can take there (after ``{"``
where the key must be ``name``, every token not starting with ``n``). They leave the unexamined set at once, their
mass joins ``R``, and they are never checked. The returned token is unchanged (it is the first *valid* token in key
order), and the weight stays properly weighted: the recursion ``E f = P(x) f(x) + (1 - P(x)) E[f | X ≠ x]`` holds
for any unexamined set, so removing known-invalid tokens from it (a set fixed by what was visited, never by unvisited
keys) keeps ``E[Ẑ 1{y=t}] = p(t) c(t)``. ``tests/samplers/test_awrs.py`` enumerates it with random groups.

Exact fallback: after ``max_rejects`` rejections, the full mask is computed once, the token returned is the argmax of
the keys over the valid tokens (the token the loop would have reached) and ``Ẑ`` is the exact ``Z``.

EOS is an ordinary token; the caller's ``check`` returns ``is_complete()`` for it (``Matcher.check`` does).
Weights are float64 log values; ``-inf`` marks a particle with no valid continuation.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from corral.protocols import GroupedConstraintState
from corral.samplers.awrs_visit import DroppedTokens, order_chunks
from corral.samplers.masking import checked_logprobs
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch
    from numpy.typing import ArrayLike

    from corral.protocols import ConstraintState, ModelSequence
    from corral.runtime.states import Rejection

__all__ = [
    "AWRSStep",
    "AWRSSequence",
    "DEFAULT_MAX_REJECTS",
    "awrs_step",
    "awrs_sample_sequence",
    "as_float64",
    "eos_only",
    "gumbel_keys",
    "logsumexp",
    "matcher_hooks",
    "tempered",
]

#: Rejections after which :func:`awrs_sample_sequence` and the SMC proposal switch to the exact full mask.
DEFAULT_MAX_REJECTS = 32

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


def logsumexp(x: ArrayLike) -> float:
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


def awrs_step(
    logw: ArrayLike,
    check: Callable[[int], bool],
    *,
    keys: ArrayLike | None = None,
    rng: np.random.Generator | None = None,
    max_rejects: int | None = None,
    full_mask: Callable[[], np.ndarray] | None = None,
    check_group: Callable[[int], np.ndarray | Rejection | None] | None = None,
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
        ``E[Ẑ 1{y=t}] = p(t) c(t)``; see tests/samplers/test_awrs.py). Only checked tokens count as checks and rejections.
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
    _check_step_arguments(logw, max_rejects, full_mask)
    cand = logw > -np.inf
    n_cand = int(np.count_nonzero(cand))
    if n_cand == 0:
        return AWRSStep(None, -math.inf)
    m = logw.max()
    log_z0 = float(m + np.log(np.exp(logw - m).sum()))
    logp = logw - log_z0
    work = _perturbed_keys(logp, cand, keys, rng)
    # the original keys: for the fallback's argmax, and for restarting the visit order on fewer tokens
    keys_kept = work.copy() if max_rejects is not None or check_group is not None else None
    visit = _Candidates(work, n_cand, logp, cand, check, check_group, keys_kept)
    y = visit.next_token()
    while y is not None:
        if max_rejects is not None and visit.n_rejects >= max_rejects:
            return _fallback(logp, log_z0, cand, keys_kept, full_mask, visit.n_checks, visit.n_rejects)
        if visit.check(y):
            succ = visit.next_token()
            if succ is None or (implied is not None and implied(y, succ)):
                est = visit.log_rest()
            else:
                est = visit.log_rest() if visit.check(succ) else float(logp[y])
            return AWRSStep(int(y), log_z0 + est, visit.n_checks, visit.n_rejects, False)
        visit.reject(y)
        y = visit.next_token()
    return AWRSStep(None, -math.inf, visit.n_checks, visit.n_rejects, False)


def _check_step_arguments(logw: np.ndarray, max_rejects: int | None, full_mask: Callable | None) -> None:
    """ValueError for the bad arguments of :func:`awrs_step` (NaN or ``+inf`` weights, a fallback without mask)."""
    if not (logw < np.inf).all():
        raise ValueError("logw must not contain NaN or +inf")
    if max_rejects is not None:
        if full_mask is None:
            raise ValueError("max_rejects needs full_mask (the exact fallback)")
        if int(max_rejects) != max_rejects or max_rejects < 0:
            raise ValueError(f"max_rejects must be an integer >= 0 or None, got {max_rejects!r}")


def _perturbed_keys(logp: np.ndarray, cand: np.ndarray, keys: ArrayLike | None,
                    rng: np.random.Generator | None) -> np.ndarray:
    """The step's working keys: ``keys`` (or ``logp`` plus fresh Gumbel noise), ``-inf`` outside the candidates."""
    size = logp.size
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
    return work


class _Candidates:
    """The unexamined candidates of one :func:`awrs_step`, visited by decreasing key, and the mass rejected so far.

    With ``check_group``, a rejection drops its whole group (:class:`~corral.samplers.awrs_visit.DroppedTokens`):
    dropped tokens are skipped by :meth:`next_token` and their mass joins the rejected mass at once.
    """

    def __init__(self, work: np.ndarray, n: int, logp: np.ndarray, cand: np.ndarray, check: Callable[[int], bool],
                 check_group: Callable | None, keys: np.ndarray | None) -> None:
        self.logp, self.cand, self.keys = logp, cand, keys
        self._check, self._check_group = check, check_group
        self.chunks = order_chunks(work, n)
        self.buffer: list[int] = []
        self.n_checks = self.n_rejects = 0
        self.rejected: list[int] = []
        self.rej_mass = 0.0
        self.drop = DroppedTokens(logp.size, logp, cand) if check_group is not None else None

    def check(self, t: int) -> bool:
        """Whether ``t`` is valid (one check); an invalid token's group is dropped."""
        self.n_checks += 1
        drop = self.drop
        if drop is None:
            return bool(self._check(t))
        group = self._check_group(t)
        if group is None:
            return True
        first_before = drop.dead_first is None
        self.rej_mass += drop.add(group, t)
        if first_before and drop.dead_first is not None:
            # Most of the vocabulary may just have gone: visit the rest in a fresh order over the survivors (every
            # token visited so far was rejected, hence dropped), instead of cutting chunks of the whole vocabulary.
            idx = np.flatnonzero(drop.kept())
            sub = self.keys[idx]
            self.chunks = (idx[c] for c in order_chunks(sub, idx.size))
            self.buffer = []
        return False

    def reject(self, t: int) -> None:
        """Count the visited token ``t`` as rejected (its mass joins the rejected mass when groups are not used)."""
        self.n_rejects += 1
        if self.drop is None:
            self.rejected.append(t)
            self.rej_mass += math.exp(float(self.logp[t]))

    def next_token(self) -> int | None:
        """The next candidate in key order that has not been dropped (chunks are filtered as they are cut)."""
        drop = self.drop
        while True:
            while self.buffer:
                t = self.buffer.pop()
                if drop is None or not drop.has(t):
                    return t
            chunk = next(self.chunks, None)
            if chunk is None:
                return None
            if drop is not None:
                chunk = chunk[drop.kept_among(chunk)]
            self.buffer = chunk[::-1].tolist()

    def log_rest(self) -> float:
        """``log(1 - R)``: log of the probability mass of the candidates not rejected."""
        if self.drop is None:
            return _log_rest(self.logp, self.cand, self.rejected, self.rej_mass)
        if self.rej_mass < 0.5:
            return math.log1p(-self.rej_mass) if self.rej_mass > 0 else 0.0
        return logsumexp(self.logp[self.drop.kept()])


def matcher_hooks(matcher: ConstraintState) -> dict:
    """The optional :func:`awrs_step` arguments a matcher supports (``check_group``, ``implied``), as keywords.

    Every caller in corral passes the same hooks, so AWRS, SMC and D2 verification make identical steps. A
    :class:`~corral.protocols.GroupedConstraintState` supports both; any other state neither.
    """
    if isinstance(matcher, GroupedConstraintState):
        return {"check_group": matcher.check_group, "implied": matcher.implied}
    return {}


def _log_rest(logp: np.ndarray, cand: np.ndarray, rejected: list[int], rej_mass: float) -> float:
    """``log(1 - R)``: log of the probability mass of the candidates not rejected (precise even when R ≈ 1)."""
    if not rejected:
        return 0.0
    if rej_mass < 0.5:
        return math.log1p(-rej_mass)
    keep = cand.copy()
    keep[rejected] = False
    return logsumexp(logp[keep])


def _fallback(logp: np.ndarray, log_z0: float, cand: np.ndarray, keys: np.ndarray, full_mask: Callable[[], np.ndarray],
              n_checks: int, n_rejects: int) -> AWRSStep:
    """The exact fallback: the argmax of ``keys`` over the valid candidates of the full mask, and the exact ``Z``."""
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
    steps : list of Step
        One :class:`~corral.samplers.steps.Step` per token: its raw model log-probability and the step's checks and
        rejections (the checks of a final step that found no valid token are in ``n_checks`` only).
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
    steps: list[Step] = field(default_factory=list)

    @property
    def logprob(self) -> float:
        """Estimate of ``log ℓ(tokens)`` under the tempered law: ``Σ_t log p_T(y_t) - log_weight`` (the exact
        ``log ℓ`` when every step fell back to the full mask, since ``Ẑ`` is then exact)."""
        return self.tempered_logprob - self.log_weight


def as_float64(logprobs: torch.Tensor | ArrayLike) -> np.ndarray:
    """A model's next-token log-probabilities (torch tensor or array) as a float64 numpy vector."""
    try:
        import torch

        if isinstance(logprobs, torch.Tensor):
            return logprobs.detach().reshape(-1).to("cpu", torch.float64).numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(logprobs, dtype=np.float64).reshape(-1)


def tempered(logprobs: torch.Tensor | ArrayLike, temperature: float) -> np.ndarray:
    """float64 ``logprobs / temperature`` (unnormalised tempered log-weights; ``temperature > 0``)."""
    lw = as_float64(logprobs)
    if temperature != 1.0:
        lw = lw / float(temperature)
    return lw


def eos_only(logw: np.ndarray, eos_ids: Collection[int]) -> np.ndarray:
    """``logw`` with every token but the EOS ids pruned (the forced-EOS step at ``max_tokens``)."""
    out = np.full_like(logw, -np.inf)
    ids = [e for e in eos_ids if 0 <= e < logw.size]
    out[ids] = logw[ids]
    return out


def awrs_sample_sequence(
    seq: ModelSequence,
    matcher: ConstraintState,
    *,
    max_tokens: int,
    temperature: float = 1.0,
    stream: int | None = None,
    rng: np.random.Generator | None = None,
    max_rejects: int | None = DEFAULT_MAX_REJECTS,
    eos_token_ids: Collection[int] | None = None,
    force_eos: bool = False,
    on_tokens: Callable[[list[int]], None] | None = None,
) -> AWRSSequence:
    """Generate one sequence with AWRS steps: a draw from the LCD law ``ℓ`` with its importance weight for ``π``.

    The token sequence has exactly the law of masked decoding (:func:`corral.samplers.masking.sample_sequence` at the
    same temperature, without top-k/top-p); ``log_weight`` is ``Σ_t log Ẑ_t``, properly weighted for
    ``p(y) 1[y ∈ L]`` (tempered model).

    Parameters
    ----------
    seq : ModelSequence
        Model sequence after the prompt (``logprobs()``, ``append``, ``tokens``, ``max_length``, ``model``).
    matcher : ConstraintState
        ``check``, ``advance``, ``mask`` (for the fallback) and ``is_complete``; a
        :class:`~corral.protocols.GroupedConstraintState` also gets the ``check_group`` and ``implied`` hooks.
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
    on_tokens : callable, optional
        Called with ``[token]`` as each token (EOS included) is accepted, before the next forward pass (streaming,
        :mod:`corral.streaming`); an exception it raises stops generation and propagates.

    Returns
    -------
    AWRSSequence
    """
    _check_sequence_arguments(max_tokens, temperature)
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
        lp = as_float64(checked_logprobs(seq.logprobs()))
        full = lp if greedy else tempered(lp, temperature)
        last = force_eos and pos == horizon - 1
        logw = eos_only(full, eos) if last else full
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
        tok = _record_step(out, st, lp, full, temperature, last)
        if tok is None:
            return out
        matcher.advance(tok)
        if on_tokens is not None:
            on_tokens([tok])
        if tok in eos:
            out.status = "complete"
            return out
        seq.append(tok)
    out.status = "length"
    return out


def _check_sequence_arguments(max_tokens: int, temperature: float) -> None:
    """ValueError unless ``max_tokens`` is an integer >= 0 and ``temperature`` a finite number >= 0."""
    if int(max_tokens) != max_tokens or max_tokens < 0:
        raise ValueError(f"max_tokens must be an integer >= 0, got {max_tokens!r}")
    if temperature is None or temperature < 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")


def _record_step(out: AWRSSequence, st: AWRSStep, lp: np.ndarray, full: np.ndarray, temperature: float,
                 last: bool) -> int | None:
    """Add one step to ``out`` (counters, weight, log-probabilities, token); ``None`` when the sequence ended there.

    ``lp`` holds the raw model's log-probabilities, ``full`` the tempered ones; ``last`` marks the forced-EOS step,
    where no valid token means ``"length"`` rather than ``"dead"``.
    """
    out.n_checks += st.n_checks
    out.n_rejects += st.n_rejects
    out.n_fallbacks += int(st.fallback)
    if st.token is None:
        out.status = "dead" if not last else "length"
        out.log_weight = -math.inf
        return None
    tok = st.token
    greedy = temperature == 0
    out.log_weight += st.log_z
    model_lp = float(lp[tok])
    out.model_logprob += model_lp
    out.tempered_logprob += float(full[tok]) - (logsumexp(full) if not greedy and temperature != 1 else 0.0)
    out.tokens.append(tok)
    out.steps.append(Step(tok, model_lp, None, st.n_checks, st.n_rejects))
    return tok
