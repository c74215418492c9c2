"""``draft="auto"``: pick, at every draft position, the drafter (or none) that maximises expected tokens per second.

:class:`AutoDrafter` holds several drafters (*arms*: grammar fast-forward, the n-gram table, a draft model). At each
position it predicts the acceptance of each arm's proposals (and, once an arm is consulted, of its proposal in
hand) (:class:`~corral.drafters.choice.Acceptance`, learned from the verification outcomes, and
how often each arm has a proposal at all), and extends the draft with the option that raises the round's expected
tokens per unit of cost the most (consulting an arm first when that is the best option), or stops
(:func:`~corral.drafters.choice.best_option`; costs from :class:`~corral.drafters.costs.Costs`). Stopping before
the first draft is plain decoding, so a drafter that costs more than it saves is dropped; an arm left unused is
consulted again after ``probe_every`` rounds so that its estimates stay fresh (twice as long after each probe
whose draft was rejected, up to ``MAX_PROBE_GAP`` times).

Exactness is untouched: the choice uses only draft-side information and past verification outcomes, and
verification (D1: Leviathan's rule per position; D2: shared Gumbel keys) gives the law of decoding without drafts
whatever is drafted. Where the costs come from: :mod:`corral.drafters.costs` (times measured online for D2 and
greedy D1, where the drafts cannot change the output; a fixed profile for D1 with sampling, so that a seed fixes the
output in every process).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corral.drafters.base import CompositeDrafter, Drafter
from corral.drafters.choice import Acceptance, Option, best_option
from corral.drafters.calibrate import cost_profile
from corral.drafters.costs import CostProfile, Costs, clock_for
from corral.drafters.memory import fresh, shared

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

    from corral.protocols import ConstraintState, Proposal

__all__ = ["AutoDrafter", "AutoLengthPolicy"]

#: Prior acceptance per kind (before any verification).
PRIORS = {"ff": 0.9, "ngram": 0.5, "model": 0.6}
#: Longest wait between probes of an arm whose probed drafts keep being rejected, in units of ``probe_every``.
MAX_PROBE_GAP = 16


@dataclass
class _Round:
    """What the drafter knows about the round in progress."""

    start: int  # committed tokens when the round began
    t0: float  # clock reading when it began
    seen: int = 0  # positions folded into survival and expected
    survival: float = 1.0  # predicted probability that every draft so far is accepted
    expected: float = 1.0  # expected tokens the round emits
    spent: float = 0.0  # predicted cost of the consultations so far
    spent_s: float = 0.0  # their measured seconds
    drafts: dict = field(default_factory=dict)  # position -> [kind, token or None, accept, feature or None]
    pos: int = 0  # position being drafted (linked policy)
    n_drafted: int = 0  # drafts the round reported (linked policy)
    asked: bool = False  # the drafter was asked for a proposal this round
    probe: str | None = None  # the arm probed at the first position, if any
    first: bool | None = None  # whether the first draft was accepted (once verified)
    timed: bool = True  # its time is a sample of the round cost (not the first round: it includes the prompt)


class AutoDrafter(CompositeDrafter):
    """Cost-aware choice among drafters (see the module docstring).

    Parameters
    ----------
    arms : list of (str, Drafter)
        Named drafters, e.g. ``[("ff", FastForwardDrafter), ("ngram", NGramDrafter), ("model", ModelDrafter)]``.
    target : LanguageModel, optional
        The target (its clock; and the measured profile with ``profile="measure"``).
    profile : CostProfile, "measure" or None
        The costs relative to a plain round (:class:`~corral.drafters.costs.CostProfile`; ``None``: its defaults).
        ``"measure"``: measured on this machine once per process, target, draft model and constraint
        (:func:`~corral.drafters.calibrate.cost_profile`, about half a second), closer to this machine's costs but
        then D1 with sampling gives a seed's tokens only within a process.
    profile_key : object, optional
        Identity of the draft model in the measured profiles' cache (default: the model arm's runner).
    max_length : int
        Most draft positions per round.
    probe_every : int
        Rounds after which an arm not consulted since is consulted once (exploration).
    """

    def __init__(self, arms: Sequence[tuple[str, Drafter]], *, target: Any = None,
                 profile: CostProfile | str | None = None, profile_key: Any = None, max_length: int = 16,
                 probe_every: int = 8) -> None:
        super().__init__([d for _, d in arms])
        self.arms = {name: d for name, d in arms}
        self.target, self.profile_key = target, profile_key
        if isinstance(profile, str) and profile != "measure":
            raise ValueError(f"profile must be a CostProfile, 'measure' or None, got {profile!r}")
        self.profile = CostProfile() if profile is None else profile
        self.max_length, self.probe_every = int(max_length), int(probe_every)
        self._own = fresh(self.arms, PRIORS)  # this drafter's estimates (requests whose drafts shape the output)
        self.learned = self._own  # the estimates this request uses (this drafter's own, or shared ones)
        self.kind_of = {name: name for name in self.arms}  # the kind of each arm's proposals, once seen
        self.last_consult = dict.fromkeys(self.arms, 0)
        self.costs: Costs | None = None
        self._costs_key: tuple | None = None
        self._setup = True
        self.rounds = 0
        self._mode = (False, False, None)  # (timed, linked, regime) of the next request, set by length_policy
        self.timed = self.linked = False
        self.regime: str | None = None  # "greedy" / "d2": the drafts cannot change the output (shared estimates)
        self.clock = clock_for(target) if target is not None else time.perf_counter
        self._round = _Round(0, 0.0, timed=False)

    @property
    def acceptance(self) -> Acceptance:
        """Predicted acceptance per drafter kind (of the estimates this request uses)."""
        return self.learned.acceptance

    @property
    def avail(self) -> dict:
        """``arm -> [proposals, consultations]``: how often each arm proposes anything."""
        return self.learned.avail

    # -------------------------------------------------------------------------------------------- request life
    def length_policy(self, timed: bool = False) -> AutoLengthPolicy:
        """The draft length policy for the next request: this drafter decides the length (see :func:`make_policy`).

        ``timed``: the drafts cannot change the output (``"d2"``, ``"greedy"``, or any true value), so the acceptance
        estimates are shared with the earlier requests of the same target, draft model, constraint and regime
        (:mod:`corral.drafters.memory`): the tokens never depend on them, the drafts and speed statistics depend on
        the requests before (the same for the same sequence of requests). With ``profile="measure"`` the costs are
        also timed online there (then the drafts vary from run to run). Otherwise (D1 with sampling) the drafter
        learns alone, so a seed gives the same drafts and statistics in every run.
        """
        regime = (timed if isinstance(timed, str) else "free") if timed else None
        self._mode = (bool(timed) and self.profile == "measure", True, regime)
        return AutoLengthPolicy(self)

    def begin(self, prompt_ids: Sequence[int]) -> None:
        """Start a request: the arms begin; the costs are set up at its first proposal (they depend on the
        constraint)."""
        super().begin(prompt_ids)
        (self.timed, self.linked, self.regime), self._mode = self._mode, (False, False, None)
        self._round = _Round(len(prompt_ids), self.clock(), timed=False)
        self._setup = True

    def _set_costs(self, ctx: list[int], matcher: ConstraintState | None) -> None:
        """(Re)build the cost estimates when the mode or the constraint differs from the previous request's; take the
        request's acceptance estimates (this drafter's own, or the shared ones where drafts cannot change the
        output)."""
        self._setup = False
        learned = self._own
        if self.regime is not None:  # drafts cannot change the output: estimates shared across requests
            learned = shared(self.target, self.profile_key, getattr(matcher, "compiled", None), self.regime,
                             list(self.arms), PRIORS)
        self.learned = learned
        if self.timed:  # costs timed online (profile="measure"), shared with the estimates
            if learned.costs is None:
                learned.costs = Costs(self._profile(ctx, matcher), timed=True)
            self.costs, self._costs_key = learned.costs, None
            return
        measured = self.profile == "measure"
        key = (self.timed, id(getattr(matcher, "compiled", None)) if measured else None)
        if self.costs is None or key != self._costs_key:
            self.costs = Costs(self._profile(ctx, matcher), timed=self.timed)
            self._costs_key = key

    def _profile(self, ctx: list[int], matcher: ConstraintState | None) -> CostProfile:
        """The given profile, or the one measured for this target, draft model and constraint."""
        if isinstance(self.profile, CostProfile) or self.target is None:
            return self.profile if isinstance(self.profile, CostProfile) else CostProfile()
        runner = getattr(self.arms.get("model"), "model", None)
        return cost_profile(self.target, runner, key=self.profile_key if runner is not None else None,
                            matcher=matcher, prompt=ctx)

    def observe(self, ctx: list[int]) -> None:
        """End of a round: the arms learn the committed tokens; acceptance (unless the policy reported it) and
        costs are updated."""
        super().observe(ctx)
        r = self._round
        if not self.linked:
            self._learn(ctx)
        if r.probe is not None and r.first is not None:
            self._back_off(r.probe, r.first)
        if self.timed and r.timed and self.costs is not None:
            self.costs.observe_round(r.n_drafted, self.clock() - r.t0 - r.spent_s)
        self.rounds += 1
        self._round = _Round(len(ctx), self.clock())

    def _back_off(self, arm: str, accepted: bool) -> None:
        """After a probe of ``arm``: probe it again after ``probe_every`` rounds if its draft was accepted, else
        after twice the last gap (at most ``MAX_PROBE_GAP`` times ``probe_every``), so that an arm that does not pay
        costs ever less to watch."""
        gaps = self.learned.probe_gap
        gap = gaps.get(arm, self.probe_every)
        gaps[arm] = self.probe_every if accepted else min(2 * gap, MAX_PROBE_GAP * self.probe_every)

    def _learn(self, ctx: list[int]) -> None:
        """Acceptance of this round's drafts whose token is known, in order, up to the first rejection."""
        r = self._round
        for p in sorted(r.drafts):
            kind, token, _, feature = r.drafts[p]
            if token is None or r.start + p >= len(ctx):
                return
            accepted = ctx[r.start + p] == token
            if p == 0:
                r.first = accepted
            self.acceptance.update(kind, feature, accepted)
            if not accepted:
                return

    # -------------------------------------------------------------------------------------------- one position
    def propose(self, ctx: list[int], matcher: ConstraintState | None, mask: np.ndarray | None) -> Proposal | None:
        """The proposal of the option with the best expected rate, or ``None`` when stopping pays more."""
        if self._setup:
            self._set_costs(ctx, matcher)
        r = self._catch_up(ctx)
        pos = len(ctx) - r.start
        first, r.asked = not r.asked, True
        if pos >= self.max_length:
            return None
        pending = list(self.arms)
        gaps = self.learned.probe_gap
        probe = next((a for a in pending if self.rounds - self.last_consult[a] >= gaps.get(a, self.probe_every)), None)
        if first and probe is not None:
            pending.remove(probe)
            prop = self._consult(probe, ctx, matcher, mask)
            if prop is not None:
                r.probe = probe
                return self._take(pos, probe, prop, self._accept(prop))
        options: list[Option] = []
        while True:
            opts = options + [Option(a, self.acceptance.optimistic(self.kind_of[a]), self.costs.draft_cost(a),
                                     self._avail(a)) for a in pending]
            best = best_option(r.expected, self.costs.round_cost(pos) + r.spent, r.survival, self.costs.b, opts,
                               start=0.0 if pos else self.costs.d)
            if best is None:
                return None
            if best.proposal is not None:
                return self._take(pos, best.name, best.proposal, best.accept)
            pending.remove(best.name)
            self._offer(options, best.name, self._consult(best.name, ctx, matcher, mask))

    def _catch_up(self, ctx: list[int]) -> _Round:
        """Fold the positions drafted since the last call into the round's survival and expected tokens (a position
        this drafter did not propose was forced by the grammar: acceptance 1)."""
        r = self._round
        n = len(ctx) - r.start
        if n < r.seen:  # not the round we knew (a new sequence without begin): start afresh
            r = self._round = _Round(len(ctx), self.clock(), timed=False)
            n = 0
        for p in range(r.seen, n):
            d = r.drafts.get(p)
            if d is not None and d[1] is None:
                d[1] = ctx[r.start + p]  # the token the round drew from a model's distribution
            r.survival *= d[2] if d is not None else 1.0
            r.expected += r.survival
        r.seen = n
        return r

    def _consult(self, name: str, ctx, matcher, mask) -> Proposal | None:
        """Ask arm ``name``; its cost (predicted and measured) is charged to the round."""
        r = self._round
        t0 = self.clock()
        prop = self.arms[name].propose(ctx, matcher, mask)
        dt = self.clock() - t0
        r.spent += self.costs.draft_cost(name)
        r.spent_s += dt
        self.costs.observe_draft(name, dt)
        row = self.avail[name]
        row[0] = 0.95 * row[0] + float(prop is not None)
        row[1] = 0.95 * row[1] + 1.0
        self.last_consult[name] = self.rounds
        if prop is not None:
            self.kind_of[name] = prop.kind
        return prop

    def _avail(self, name: str) -> float:
        """Predicted probability that arm ``name`` proposes something."""
        num, den = self.avail[name]
        return num / den

    def _accept(self, prop: Proposal) -> float:
        """Predicted acceptance of a proposal. A distribution's feature is known only after the round draws, so it
        gets the estimate the arm was consulted on (:meth:`Acceptance.optimistic`): with a lower one a consulted
        arm could be dropped at once, its consultation paid for nothing, round after round."""
        if prop.token is not None:
            return self.acceptance.of(prop.kind, prop.feature)
        return self.acceptance.optimistic(prop.kind)

    def _offer(self, options: list[Option], name: str, prop: Proposal | None) -> None:
        """Add a proposal in hand to the options (the arm's cost and yield for the positions after it)."""
        if prop is not None:
            options.append(Option(name, self._accept(prop), 0.0, 1.0, prop, self.costs.draft_cost(name),
                                  self._avail(name)))

    def _take(self, pos: int, name: str, prop: Proposal, accept: float) -> Proposal:
        """Record the chosen proposal at ``pos`` and return it."""
        feature = prop.feature if prop.token is not None else None
        self._round.drafts[pos] = [prop.kind, prop.token, accept, feature]
        return prop

    def _drafted(self, kind: str, feature: float) -> float:
        """The round drafted a token of ``kind`` at the policy's position; its predicted acceptance."""
        r = self._round
        r.n_drafted += 1
        d = r.drafts.get(r.pos)
        if d is None or d[0] != kind:
            return self.acceptance.of(kind, feature)
        if d[3] is None:  # a model draft: its feature (q of the drawn token) refines the prediction
            d[2], d[3] = self.acceptance.of(kind, feature), feature
        return d[2]

    def __repr__(self) -> str:
        return f"AutoDrafter({list(self.arms)}, {self.costs!r})"


class AutoLengthPolicy:
    """The draft length policy of a request drafted by an :class:`AutoDrafter`: the drafter stops the draft itself
    (by proposing nothing), so this only caps the length and passes the round's reports to the drafter.

    Parameters
    ----------
    drafter : AutoDrafter
    """

    def __init__(self, drafter: AutoDrafter) -> None:
        self.drafter = drafter

    def keep_going(self, n_drafted: int, survival: float, cost: float = 0.0) -> bool:
        """Whether to draft position ``n_drafted`` (below the drafter's ``max_length``)."""
        self.drafter._round.pos = n_drafted
        return n_drafted < self.drafter.max_length

    def predict(self, kind: str, feature: float) -> float:
        """Predicted acceptance of the token just drafted (the drafter records its feature)."""
        return self.drafter._drafted(kind, feature)

    def update(self, kind: str, feature: float, accepted: bool) -> None:
        """Record one verified draft in the drafter's acceptance estimates (the first of a round also decides when
        a probed arm is probed again)."""
        r = self.drafter._round
        if r.first is None:
            r.first = accepted
        self.drafter.acceptance.update(kind, None if kind == "forced" else feature, accepted)

    def __repr__(self) -> str:
        return f"AutoLengthPolicy(max_length={self.drafter.max_length})"
