""":func:`cost_profile`: the costs of drafting and verifying (:class:`~corral.drafters.costs.CostProfile`), measured
once per process, model pair and constraint, inside a short speculative run.

The run is D1 with sampling from the request's context under a copy of its constraint state; its rounds draft 0, 1,
2, 4 and 8 tokens in turn (from the draft model, or by repeating the last allowed token when there is none), so each
draft and each draft position pays all the loop's work (the constraint's masks and roll-backs, rows, acceptance
tests, caches evicted by the other model's pass), not only the model passes. ``a``, ``d`` and ``b`` are fitted by
least squares to the median time of each draft length (medians, so that a round stalled by another process does not
count).
"""

from __future__ import annotations

import math
import statistics
import threading
from typing import Any

from corral.drafters.costs import CostProfile, clock_for

__all__ = ["cost_profile"]

_lock = threading.Lock()
_profiles: dict[tuple, tuple[tuple, CostProfile]] = {}


def _quantized(x: float) -> float:
    """``x`` rounded to a quarter of a binary octave (a re-measured profile then rarely changes a choice)."""
    return 2.0 ** (round(4.0 * math.log2(x)) / 4.0) if x > 1e-6 else 0.0


def _probe_ids(model: Any, n: int = 8) -> list[int]:
    """``n`` token ids that are not EOS (the first few of the vocabulary)."""
    eos = set(getattr(model, "eos_token_ids", ()) or ())
    size = getattr(getattr(model, "vocab", None), "size", 64)
    ids = [i for i in range(min(size, 64)) if i not in eos] or [0]
    return [ids[i % len(ids)] for i in range(n)]


class _Timed:
    """Wraps a drafter (or drafts the last token again): the time of each proposal, and per round the number of
    drafts and the time spent outside the drafter."""

    def __init__(self, inner: Any, clock) -> None:
        self.inner, self.cost, self.clock = inner, 0.0, clock
        self.consults: list[float] = []
        self.rounds: list[tuple[int, float]] = []
        self._t0, self._spent, self._k = None, 0.0, 0

    def begin(self, prompt_ids) -> None:
        """Start a sequence (its first round includes the prompt pass: not timed)."""
        if self.inner is not None:
            self.inner.begin(prompt_ids)
        self._t0 = None

    def propose(self, ctx, matcher, mask):
        """The inner drafter's proposal (or the last token again when allowed), timed."""
        from corral.protocols import Proposal

        t0 = self.clock()
        if self.inner is not None:
            prop = self.inner.propose(ctx, matcher, mask)
        else:
            ok = mask[ctx[-1]] if mask is not None else matcher.check(ctx[-1])
            prop = Proposal("ngram", token=ctx[-1]) if ok else None
        dt = self.clock() - t0
        self.consults.append(dt)
        self._spent += dt
        self._k += prop is not None
        return prop

    def observe(self, ctx) -> None:
        """End of a round."""
        if self.inner is not None:
            self.inner.observe(ctx)
        now = self.clock()
        if self._t0 is not None:
            self.rounds.append((self._k, now - self._t0 - self._spent))
        self._t0, self._spent, self._k = now, 0.0, 0


#: Draft lengths of the calibration rounds, in turn.
CYCLE = (0, 1, 2, 4, 8)


class _Cycle:
    """Draft length policy of the calibration run: rounds of :data:`CYCLE` drafts in turn."""

    def __init__(self) -> None:
        self.i = -1

    def keep_going(self, n_drafted: int, survival: float, cost: float = 0.0) -> bool:
        """``n_drafted`` below this round's length (the next length at each round's first position)."""
        if n_drafted == 0:
            self.i += 1
        return n_drafted < CYCLE[self.i % len(CYCLE)]

    def predict(self, kind: str, feature: float) -> float:
        """Unused: 1."""
        return 1.0

    def update(self, kind: str, feature: float, accepted: bool) -> None:
        """Nothing to learn."""


def _median(xs: list[float], default: float) -> float:
    """The median of ``xs`` (``default`` when empty)."""
    return statistics.median(xs) if xs else default


def _run(target: Any, timer: _Timed, matcher: Any, prompt: list[int], max_tokens: int) -> None:
    """Calibration runs from ``prompt`` (under copies of ``matcher``, or none) until ``max_tokens`` tokens."""
    import torch

    from corral.samplers.speculative import speculative_sample_sequence

    counter = getattr(target, "n_forward", None)
    policy, done = _Cycle(), 0
    for seed in range(8):
        m = matcher.fork() if matcher is not None else None
        out = speculative_sample_sequence(target.start(prompt), m, drafter=timer, draft_length=policy, verify="d1",
                                          max_tokens=max_tokens - done, temperature=1.0,
                                          eos_token_ids=None if m is not None else (),
                                          generator=torch.Generator().manual_seed(seed))
        done += len(out.tokens)
        if done >= max_tokens or out.status == "dead":
            break
    if counter is not None:
        target.n_forward = counter  # calibration passes are not generation passes


def _measure(target: Any, runner: Any, max_tokens: int, matcher: Any = None, prompt: list[int] | None = None
             ) -> CostProfile:
    """One calibration (see the module docstring)."""
    from corral.drafters.model import ModelDrafter

    timer = _Timed(ModelDrafter(runner, lean=False) if runner is not None else None, clock_for(target))
    _run(target, timer, matcher, list(prompt) if prompt else _probe_ids(target), max_tokens)
    a, d, b = _fit(timer.rounds)
    draft = {"model": _median(timer.consults, 0.0) / a} if runner is not None else {}
    return CostProfile(target_s=a, start=d / a, per_token=b / a, draft=draft)


def _fit(rounds: list[tuple[int, float]]) -> tuple[float, float, float]:
    """``a``, ``d``, ``b`` by least squares on the median time of each draft length (medians: a stalled round does
    not move them)."""
    from corral.drafters.costs import Costs, _features, _solve3

    xx, xy = [[1e-9 * (i == j) for j in range(3)] for i in range(3)], [0.0] * 3
    for k in sorted({k for k, _ in rounds}):
        Costs._add(xx, xy, _features(k), _median([t for kk, t in rounds if kk == k], 0.0), 1.0)
    a, d, b = _solve3(xx, xy) if len({k for k, _ in rounds} | {0}) >= 3 else (1e-3, 0.0, 0.0)
    return max(a, 1e-9), max(d, 0.0), max(b, 0.0)


def cost_profile(target: Any, draft_model: Any = None, *, key: Any = None, matcher: Any = None,
                 prompt: list[int] | None = None, loop_tokens: int = 120) -> CostProfile:
    """The profile of ``target`` and ``draft_model`` under ``matcher``'s constraint, measured at the first call for
    this triple (from ``prompt`` and the matcher's state), then cached.

    Parameters
    ----------
    target : LanguageModel
        The target model (``start``, ``logprobs``, ``extend_scored``).
    draft_model : LanguageModel, optional
        The draft model as the drafter runs it (e.g. :class:`~corral.drafters.model.LeanGPT2`); ``None``: no model
        arm.
    key : object, optional
        Whose identity stands for the draft model in the cache (default ``draft_model``; a drafter wraps the same
        model in a new runner per call).
    matcher : ConstraintState, optional
        A state of the constraint (copied with ``fork``, never advanced); its ``compiled`` grammar keys the cache.
        ``None`` (or a state without ``fork``): no constraint.
    prompt : list of int, optional
        Where the calibration run starts (the context of ``matcher``); default a few token ids.
    loop_tokens : int
        Tokens of the calibration run.

    Returns
    -------
    CostProfile
        Ratios quantized to a quarter octave; the same object for every later call with this triple.
    """
    key = draft_model if key is None else key
    if matcher is not None and not hasattr(matcher, "fork"):
        matcher = None
    grammar = getattr(matcher, "compiled", None) if matcher is not None else None
    ident = (id(target), id(key), id(grammar) if grammar is not None else None)
    with _lock:
        hit = _profiles.get(ident)
        if hit is not None and all(x is y for x, y in zip(hit[0], (target, key, grammar))):
            return hit[1]
        p = _measure(target, draft_model, loop_tokens, matcher, prompt if matcher is not None else None)
        prof = CostProfile(p.target_s, _quantized(p.start), _quantized(p.per_token),
                           {k: _quantized(v) for k, v in p.draft.items()})
        _profiles[ident] = ((target, key, grammar), prof)
        return prof
