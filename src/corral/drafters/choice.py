"""The cost model's decision: which drafter (if any) extends the draft, from expected tokens per unit of cost.

A round that has drafted ``n`` positions so far emits ``E = 1 + Σ_{i≤n} S_i`` tokens on average, where ``S_i`` is the
predicted probability that the first ``i`` drafts are all accepted (the product of the per-position acceptance
predictions), and costs ``C`` (``a + d + b n`` for the verification side, :class:`~corral.drafters.costs.Costs`, plus
what the drafters were paid). Extending the draft with an option of acceptance ``α``, yield ``π`` (the chance that it
proposes anything) and cost ``c`` by ``m`` positions gives ``E + S Σ_{j≤m} (πα)^j`` tokens for
``C + Σ_{j≤m} π^{j-1} (c + π b)`` (plus ``d`` when the round has no draft yet). :func:`best_option` takes the
option whose best ``m`` gives the highest rate, or none when stopping (``E / C``) is at least as good. Looking ``m``
positions ahead matters at the first position, where ``d`` is paid once for the whole draft; further on the gains
``S_i α`` shrink and one position ahead decides the same. With ``n = 0`` the comparison is against a round without
drafts: a drafter is used only when it is predicted to pay for itself.

:class:`Acceptance` predicts ``α`` per drafter kind from the verification outcomes so far (optimistically by one
standard error for a drafter not consulted yet at this position).
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.drafters.policy import AdaptivePolicy

__all__ = ["Acceptance", "Option", "best_option", "option_rate", "round_rate"]


@dataclass
class Option:
    """One way to extend the draft.

    Attributes
    ----------
    name : str
        The drafter (arm) it comes from.
    accept : float
        Predicted probability that its draft is accepted.
    cost : float
        Draft-side cost still to pay for this position (0 for a proposal in hand).
    avail : float
        Probability that it yields a draft at this position (1 for a proposal in hand).
    proposal : object
        The proposal in hand, ``None`` for a drafter not yet consulted.
    next_cost, next_avail : float or None
        Cost and yield of the arm at the positions after this one (default: ``cost`` and ``avail``).
    """

    name: str
    accept: float
    cost: float
    avail: float = 1.0
    proposal: object = None
    next_cost: float | None = None
    next_avail: float | None = None


def round_rate(expected: float, cost: float) -> float:
    """Expected tokens per unit of cost of a round."""
    return expected / cost


def option_rate(expected: float, cost: float, survival: float, per_token: float, o: Option, horizon: int) -> float:
    """The best rate over ``1..horizon`` more positions drafted from option ``o`` (see the module docstring)."""
    best = 0.0
    c_next = o.cost if o.next_cost is None else o.next_cost
    p_next = o.avail if o.next_avail is None else o.next_avail
    reach, c, p = 1.0, o.cost, o.avail  # reach: probability that this position gets drafted at all
    for _ in range(max(horizon, 1)):
        cost += reach * (c + p * per_token)
        survival *= p * o.accept
        expected += survival
        reach *= p
        best = max(best, round_rate(expected, cost))
        c, p = c_next, p_next
    return best


def best_option(expected: float, cost: float, survival: float, per_token: float, options: list[Option], *,
                start: float = 0.0, horizon: int = 8) -> Option | None:
    """The option with the best rate, or ``None`` to stop.

    Parameters
    ----------
    expected : float
        ``E``: expected tokens of the round as drafted so far.
    cost : float
        ``C``: the round's predicted cost so far (verification with the current drafts, drafters consulted).
    survival : float
        ``S``: predicted probability that every draft so far is accepted.
    per_token : float
        ``b``: verification cost of one more draft position.
    options : list of Option
    start : float
        ``d``, when the round has no draft yet: paid by whichever option drafts first.
    horizon : int
        Most positions looked ahead.

    Returns
    -------
    Option or None
        ``None`` when no option raises the rate above ``E / C`` (ties stop).
    """
    best, best_rate = None, round_rate(expected, cost)
    for o in options:
        rate = option_rate(expected, cost + start, survival, per_token, o, horizon)
        if rate > best_rate:
            best, best_rate = o, rate
    return best


class Acceptance:
    """Predicted acceptance per drafter kind: a decayed Beta mean per kind (before a proposal is seen), refined by
    the proposal's feature (:class:`~corral.drafters.policy.AdaptivePolicy`'s binned estimates) once it is.

    Parameters
    ----------
    priors : dict
        ``kind -> prior mean`` (default 0.5).
    strength : float
        Pseudo-observations of the prior.
    decay : float
        Weight kept by past outcomes at each new one.
    """

    def __init__(self, priors: dict | None = None, *, strength: float = 4.0, decay: float = 0.98) -> None:
        self.priors = dict(priors or {})
        self.strength = float(strength)
        self.decay = float(decay)
        self.kinds: dict[str, list[float]] = {}
        self.bins = AdaptivePolicy()

    def _row(self, kind: str) -> list[float]:
        """``[accepted, seen]`` of ``kind``, starting at the prior."""
        row = self.kinds.get(kind)
        if row is None:
            row = self.kinds[kind] = [self.strength * self.priors.get(kind, 0.5), self.strength]
        return row

    def mean(self, kind: str) -> float:
        """Predicted acceptance of the next proposal of ``kind`` before it is seen."""
        if kind == "forced":
            return 1.0
        num, den = self._row(kind)
        return num / den

    def optimistic(self, kind: str) -> float:
        """:meth:`mean` plus one standard error: an arm whose estimate fell by bad luck is not dropped for good
        (its standard error stays while it is not used, and its next outcomes correct it)."""
        if kind == "forced":
            return 1.0
        num, den = self._row(kind)
        m = num / den
        return min(m + (m * (1.0 - m) / den) ** 0.5, 1.0)

    def of(self, kind: str, feature: float | None) -> float:
        """Predicted acceptance of a proposal of ``kind`` with ``feature`` (:meth:`mean` when ``None``)."""
        if feature is None or kind == "forced":
            return self.mean(kind)
        return self.bins.predict(kind, feature)

    def update(self, kind: str, feature: float | None, accepted: bool) -> None:
        """Record one verified draft."""
        if kind == "forced":
            return
        row = self._row(kind)
        row[0] = self.decay * row[0] + float(accepted)
        row[1] = self.decay * row[1] + 1.0
        if feature is not None:
            self.bins.update(kind, feature, accepted)
