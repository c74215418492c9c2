"""What drafting and verification cost: the profile of a model pair and the online estimates of one request.

The cost-aware drafter (:class:`corral.drafters.auto.AutoDrafter`) compares the expected tokens per second of a
round with and without each draft. A round with ``k`` draft positions costs, outside the drafters,
``round_cost(k) = a + d·[k > 0] + b·k``:

* ``a``: a round without drafts (one target pass over one token, its mask, the sampling);
* ``d``: what drafting at all adds to a round (a multi-token target pass and its rows, roll-backs, crops);
* ``b``: each draft position (a longer target pass, its mask, the acceptance test);

and consulting drafter ``arm`` once costs ``c[arm]`` (a draft model pass, an n-gram look-up, a fast-forward plan).

A :class:`CostProfile` holds them as ratios to ``a``: by default fixed values (measured on the embedded pair on a CPU)
with the draft model's cost from the two models' sizes (:func:`flop_ratio`), so that they are the same in every
process; :func:`corral.drafters.calibrate.cost_profile` measures them on this machine instead (once per process). When
the choices cannot change the output (``timed=True``: D2, greedy D1), :class:`Costs` starts from the profile and
follows the measured time of every consultation and round online (:func:`clock_for`: CPU time for a model on the CPU,
wall-clock time on an accelerator). Where a choice changes which tokens a seed gives (D1 with sampling) the costs
stay at the profile, so that a seed fixes the output, in any process with the default profile (the law never depends
on the costs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CostProfile", "Costs", "clock_for", "flop_ratio"]

#: Cost of consulting a look-up drafter (n-gram, fast-forward), relative to ``a``, before (or without) measurements.
FREE_ARM_COST = 0.02


@dataclass(frozen=True)
class CostProfile:
    """Costs relative to a round without drafts (``a = 1``).

    The defaults are what the speculative loop paid on the embedded pair on a CPU (``benchmarks/speculative.py``,
    :func:`corral.drafters.calibrate.cost_profile`): drafting at all about a third of a plain round, each draft
    position 7%, a draft model pass a fifth.

    Attributes
    ----------
    target_s : float or None
        Seconds of ``a``, the scale of the ``timed`` estimates' prior (``None``: taken from the first timed round).
    start : float
        ``d / a``: what drafting at all adds to a round.
    per_token : float
        ``b / a``: what each draft position adds.
    draft : dict
        ``arm -> c / a`` for drafters that run a model (look-ups default to :data:`FREE_ARM_COST`).
    """

    target_s: float | None = None
    start: float = 0.35
    per_token: float = 0.07
    draft: dict = field(default_factory=lambda: {"model": 0.2})


def flop_ratio(target: Any, draft: Any) -> float | None:
    """Forward FLOPs per token of ``draft`` over ``target`` (``24 L d² + 2 d V`` from their configurations), a
    deterministic proxy of the draft model's cost relative to a target pass; ``None`` without configurations."""
    def flops(model):
        """``24 L d² + 2 d V`` of one model, ``None`` without a configuration."""
        cfg = getattr(getattr(model, "model", None), "config", None)
        layers = getattr(cfg, "n_layer", None) or getattr(cfg, "num_hidden_layers", None)
        width = getattr(cfg, "n_embd", None) or getattr(cfg, "hidden_size", None)
        vocab = getattr(cfg, "vocab_size", None)
        return 24.0 * layers * width * width + 2.0 * width * vocab if layers and width and vocab else None

    ft, fd = flops(target), flops(draft)
    return fd / ft if ft and fd else None


def clock_for(model: Any):
    """The clock that times a model's work: CPU time of this process for a model on the CPU (other processes'
    load then does not count; on a shared machine wall-clock samples of a few milliseconds are mostly noise), wall
    time for an accelerator (whose work is not CPU time)."""
    device = str(getattr(model, "device", "cpu"))
    return time.process_time if device.startswith("cpu") else time.perf_counter


def _features(k: int) -> tuple[float, float, float]:
    """The regressors of ``round_cost(k)``: ``(1, [k > 0], k)``."""
    return 1.0, float(k > 0), float(k)


def _solve3(m: list[list[float]], v: list[float]) -> list[float]:
    """The solution of the 3x3 system ``m x = v`` (Cramer's rule; ``m`` is positive definite here)."""
    def det(a):
        """The determinant of a 3x3 matrix."""
        return (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))

    d = det(m)
    return [det([[v[r] if c == j else m[r][c] for c in range(3)] for r in range(3)]) / d for j in range(3)]


class Costs:
    """Current estimates of ``a``, ``d``, ``b`` and ``c[arm]``.

    Parameters
    ----------
    profile : CostProfile
        The prior (and, when not ``timed``, the frozen values, with ``a = 1``).
    timed : bool
        Follow measured times online: decayed least squares for ``a``, ``d``, ``b`` (with three pseudo-rounds in
        the profile's proportions, so that a rarely seen ``k`` keeps a sensible value), moving averages for the
        drafters. Only where the drafts cannot change the output: measured times differ between runs.
    decay : float
        Weight kept by past rounds at each new one.
    """

    def __init__(self, profile: CostProfile, *, timed: bool = False, decay: float = 0.9) -> None:
        self.timed = bool(timed)
        self.decay = float(decay)
        self._unscaled = self.timed and profile.target_s is None  # units of a until the first timed round
        scale = profile.target_s if self.timed and not self._unscaled else 1.0
        self.a, self.d, self.b = scale, profile.start * scale, profile.per_token * scale
        self.ratios = (profile.start, profile.per_token)
        self.arm = {k: v * scale for k, v in profile.draft.items()}
        self.free = FREE_ARM_COST * scale
        self._xx = [[0.0] * 3 for _ in range(3)]  # decayed sums of x xᵀ and x y over the measured rounds
        self._xy = [0.0] * 3

    def round_cost(self, k: int) -> float:
        """Predicted cost of a round with ``k`` draft positions, outside the drafters."""
        return self.a + (self.d if k > 0 else 0.0) + self.b * k

    def draft_cost(self, arm: str) -> float:
        """Predicted cost of consulting ``arm`` once."""
        return self.arm.get(arm, self.free)

    def observe_draft(self, arm: str, seconds: float) -> None:
        """One consultation of ``arm`` took ``seconds`` (ignored unless ``timed``)."""
        if self.timed and not self._unscaled:
            old = self.arm.get(arm, self.free)
            self.arm[arm] = 0.8 * old + 0.2 * min(seconds, 2.0 * old + 0.01 * self.a)  # a stall moves it little

    def observe_round(self, k: int, seconds: float) -> None:
        """A round with ``k`` draft positions spent ``seconds`` outside the drafters (ignored unless ``timed``)."""
        if not self.timed or seconds <= 0:
            return
        if self._unscaled:
            self._rescale(seconds / self.round_cost(k))
        self._add(self._xx, self._xy, _features(k), min(seconds, 2.0 * self.round_cost(k)), self.decay)
        xx, xy = [row[:] for row in self._xx], self._xy[:]
        rd, rb = self.ratios
        for kk in (0, 1, 4):
            self._add(xx, xy, _features(kk), self.a * (1.0 + rd * (kk > 0) + rb * kk), 1.0)
        a, d, b = _solve3(xx, xy)
        self.a, self.d, self.b = max(a, 1e-9), max(d, 0.0), max(b, 0.0)

    def _rescale(self, scale: float) -> None:
        """Express every cost in seconds: ``scale`` seconds per unit."""
        self._unscaled = False
        self.a, self.d, self.b, self.free = (x * scale for x in (self.a, self.d, self.b, self.free))
        self.arm = {k: v * scale for k, v in self.arm.items()}

    @staticmethod
    def _add(xx: list[list[float]], xy: list[float], x: tuple, y: float, decay: float) -> None:
        """Decay the sums by ``decay`` and add the observation ``(x, y)``."""
        for i in range(3):
            xy[i] = decay * xy[i] + x[i] * y
            for j in range(3):
                xx[i][j] = decay * xx[i][j] + x[i] * x[j]

    def __repr__(self) -> str:
        arms = ", ".join(f"{k}={v / self.a:.3g}a" for k, v in self.arm.items())
        return f"Costs(a={self.a:.3g}, d={self.d / self.a:.3g}a, b={self.b / self.a:.3g}a, {arms}, timed={self.timed})"
