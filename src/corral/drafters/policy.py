"""Draft length policies: fixed length, or a SpecDec++-style threshold on the predicted rejection probability.

A policy only sees draft-side information (the proposals and the history of past verifications), so it cannot
change the output law: D1 is Leviathan's rule per position whatever the length, and D2's output does not depend on
the drafts at all.
"""

from __future__ import annotations

from corral.errors import ConfigurationError

__all__ = ["FixedPolicy", "AdaptivePolicy", "make_policy"]


class FixedPolicy:
    """Draft exactly ``length`` tokens per round (fewer when the drafter runs dry or EOS is drafted).

    Parameters
    ----------
    length : int
        Draft tokens per round (``>= 0``; 0 = no speculation).
    """

    def __init__(self, length: int) -> None:
        if int(length) != length or length < 0:
            raise ConfigurationError(f"draft length must be an integer >= 0, got {length!r}")
        self.length = int(length)

    def keep_going(self, n_drafted: int, survival: float, cost: float = 0.0) -> bool:
        """Whether to draft one more token."""
        return n_drafted < self.length

    def predict(self, kind: str, feature: float) -> float:
        """Predicted acceptance probability (unused by a fixed policy: 1)."""
        return 1.0

    def update(self, kind: str, feature: float, accepted: bool) -> None:
        """No learning."""

    def __repr__(self) -> str:
        return f"FixedPolicy({self.length})"


class AdaptivePolicy:
    """Stop drafting when the predicted probability that the block gets a rejection exceeds a threshold.

    ``survival`` (``S``) is the predicted probability that every draft so far is accepted: the product of the
    per-position predictions ``â``. Drafting continues while ``1 - S <= h`` (SpecDec++'s optimal threshold rule).
    The threshold is stricter for expensive drafts: a position drafted by a model costs a draft forward, so the
    effective threshold is ``h_free`` for free drafts (n-gram, fast-forward, forced) and ``h_model`` for a model.

    ``â`` is estimated online, per proposal kind, from the acceptance history: the feature (a model's ``q_c(t)``,
    an n-gram's frequency) is binned and each bin keeps a Beta posterior of its acceptance rate, with a prior mean
    equal to the feature itself (for a model draft, ``q_c(t)`` is an unbiased-ish guess of ``min(1, p_c/q_c)``).
    Forced tokens (mask of size one) are certain: ``â = 1``.

    Parameters
    ----------
    h_model : float
        Threshold when the next draft is expected from a model.
    h_free : float
        Threshold for table look-up drafts.
    max_length : int
        Hard cap on drafts per round.
    n_bins : int
        Feature bins per kind.
    prior_strength : float
        Pseudo-observations of the prior.
    """

    def __init__(self, h_model: float = 0.7, h_free: float = 0.6, max_length: int = 12, n_bins: int = 10,
                 prior_strength: float = 2.0) -> None:
        self.h_model = float(h_model)
        self.h_free = float(h_free)
        self.max_length = int(max_length)
        self.n_bins = int(n_bins)
        self.prior = float(prior_strength)
        self.stats: dict[tuple[str, int], list[float]] = {}

    def _bin(self, feature: float) -> int:
        """The feature's bin (features are clipped to ``[0, 1]``)."""
        f = min(max(float(feature), 0.0), 1.0)
        return min(int(f * self.n_bins), self.n_bins - 1)

    def keep_going(self, n_drafted: int, survival: float, cost: float = 0.0) -> bool:
        """Whether to draft one more token, given the survival probability so far and the next draft's cost."""
        if n_drafted >= self.max_length:
            return False
        h = self.h_model if cost > 0 else self.h_free
        return 1.0 - survival <= h

    def predict(self, kind: str, feature: float) -> float:
        """Predicted acceptance probability of a draft of this kind and feature."""
        if kind == "forced":
            return 1.0
        row = self.stats.get((kind, self._bin(feature)))
        prior_mean = min(max(float(feature), 0.02), 0.98)
        a = self.prior * prior_mean
        if row is None:
            return prior_mean
        return (a + row[0]) / (self.prior + row[1])

    def update(self, kind: str, feature: float, accepted: bool) -> None:
        """Record one verified draft."""
        if kind == "forced":
            return
        key = (kind, self._bin(feature))
        row = self.stats.get(key)
        if row is None:
            row = self.stats[key] = [0.0, 0.0]
        # Exponential forgetting keeps the estimate adaptive (the acceptance rate drifts along a document).
        row[0] = 0.98 * row[0] + float(accepted)
        row[1] = 0.98 * row[1] + 1.0

    def __repr__(self) -> str:
        return f"AdaptivePolicy(h_model={self.h_model}, h_free={self.h_free}, max_length={self.max_length})"


def make_policy(draft_length: str | int | FixedPolicy | AdaptivePolicy | None, drafter: object = None, *,
                timed: bool | str = False) -> FixedPolicy | AdaptivePolicy:
    """The draft length policy of one request.

    ``"adaptive"`` (or ``None``) -> the drafter's own policy when it has one (``drafter.length_policy(timed)``, e.g.
    :class:`~corral.drafters.auto.AutoDrafter`, which stops drafting on its cost model), else
    :class:`AdaptivePolicy`; an int -> :class:`FixedPolicy`; a policy object is returned as it is. ``timed``: the
    drafts cannot change the output of this request (``"d2"``, ``"greedy"``, or ``True``), so the drafter may share
    what it learned with earlier requests and steer by measured times.
    """
    if draft_length is None or draft_length == "adaptive":
        own = getattr(drafter, "length_policy", None)
        return own(timed) if own is not None else AdaptivePolicy()
    if isinstance(draft_length, (FixedPolicy, AdaptivePolicy)) or hasattr(draft_length, "keep_going"):
        return draft_length
    if isinstance(draft_length, bool) or not isinstance(draft_length, int):
        raise ConfigurationError(f"draft_length must be 'adaptive', an int or a policy, got {draft_length!r}")
    return FixedPolicy(draft_length)
