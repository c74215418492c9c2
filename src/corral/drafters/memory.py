"""What ``draft="auto"`` learned, shared by the requests whose drafts cannot change their output.

``corral.generate`` makes a drafter per call, so an :class:`~corral.drafters.auto.AutoDrafter` would relearn each
arm's acceptance (and how often it proposes anything) in every request, and a short request ends before it has
learned that a drafter does not pay. Where the drafts cannot change the output (greedy masked decoding, where every
drafter gives the same tokens, and AWRS with D2, the same tokens for a seed), the estimates (acceptance, how often
each arm proposes, when to probe an unused arm; with ``profile="measure"`` also the costs timed online) are kept per
target, draft model, constraint and regime (``"greedy"`` or ``"d2"``) in this process and shared by the requests that
match. Only the drafts and speed statistics of a result then depend on the requests before it (the same for the same
sequence of requests); its tokens never do. With masked
decoding at a temperature above 0 the drafts choose among outputs of the same law, so each request learns alone
(and a seed gives the same text in every process).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from corral.drafters.choice import Acceptance

__all__ = ["Learned", "fresh", "shared"]

#: Most (target, draft model, constraint, regime) entries kept; the oldest is dropped first.
MAX_ENTRIES = 64

_lock = threading.Lock()
_entries: "OrderedDict[tuple, tuple[tuple, Learned]]" = OrderedDict()


@dataclass
class Learned:
    """Per-arm estimates of an auto drafter.

    Attributes
    ----------
    acceptance : Acceptance
        Predicted acceptance per drafter kind.
    avail : dict
        ``arm -> [proposals, consultations]`` (decayed): how often the arm proposes anything.
    costs : Costs or None
        The costs timed online (``profile="measure"``; ``None`` until a request sets them up).
    probe_gap : dict
        ``arm -> rounds`` between probes of an unused arm (backs off while its probes fail).
    """

    acceptance: Acceptance
    avail: dict
    costs: Any = None
    probe_gap: dict = field(default_factory=dict)


def fresh(arms, priors: dict) -> Learned:
    """Estimates at their priors for ``arms`` (a model arm is assumed to always propose, a look-up half the time)."""
    return Learned(Acceptance(priors), {name: [1.0, 1.0] if name == "model" else [0.5, 1.0] for name in arms})


def shared(target: Any, draft_key: Any, grammar: Any, regime: str, arms, priors: dict) -> Learned:
    """The estimates shared by the requests of ``target``, draft model ``draft_key``, constraint ``grammar`` and
    ``regime`` in this process (made at their priors on first use). The entry holds references to the three objects,
    so an identity is never taken for another's after garbage collection."""
    objects = (target, draft_key, grammar)
    key = (id(target), id(draft_key), id(grammar), regime, tuple(arms))
    with _lock:
        hit = _entries.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], objects)):
            _entries.move_to_end(key)
            return hit[1]
        learned = fresh(arms, priors)
        _entries[key] = (objects, learned)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
        return learned


def clear() -> None:
    """Forget every shared estimate (tests; or to measure a first request again)."""
    with _lock:
        _entries.clear()
