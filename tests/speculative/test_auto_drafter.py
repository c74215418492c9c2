"""``draft="auto"``: the cost model's choices (synthetic costs and acceptances) and the output law it leaves alone.

* :func:`best_option`: a slow drafter with low acceptance is dropped, a cheap accurate one kept, an accurate one
  kept even when it costs something, nothing drafted when nothing pays, and a draft stops where the round's rate
  peaks.
* :class:`AutoDrafter` on the toy pair, with fixed costs: it learns to drop a costly drafter whose drafts are
  rejected, keeps a cheap exact one, and drafts (almost) nothing when no drafter pays.
* Exactness: whatever ``auto`` proposes at a position, D1's one-step law is ``p_c`` to 1e-12 (exact enumeration);
  a choice made after seeing the position's verification outcome (the negative control) is far off. D1 and D2
  sequences follow the LCD law (chi-square), D2 gives the very tokens of plain AWRS, greedy gives greedy decoding,
  and a seed fixes the D1 output of a fresh ``make_drafter("auto")`` whatever ran before.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_speculative import (  # the exactness helpers of the speculative suite
    EOS,
    N_SEQ,
    P_MIN,
    chi_square_p,
    compiled,  # noqa: F401 - fixture
    good_draft,
    lcd_law,
    one_step_law,
    sample_counts,
    target_model,
)

from corral.drafters import AutoDrafter, FastForwardDrafter, ModelDrafter, NGramDrafter, make_drafter
from corral.drafters.base import Drafter
from corral.drafters.choice import Option, best_option
from corral.drafters.costs import CostProfile, Costs
from corral.protocols import Proposal
from corral.samplers.awrs import awrs_sample_sequence
from corral.samplers.masking import constrained_law, sample_sequence
from corral.samplers.speculative import speculative_sample_sequence
from corral.samplers.speculative_d1 import leviathan_step

# ------------------------------------------------------------------------------------------------------------------
# the decision rule on synthetic numbers (unit: a round without drafts costs 1)


def test_slow_drafter_with_low_acceptance_is_dropped():
    slow = Option("model", accept=0.3, cost=0.5)
    assert best_option(1.0, 1.0, 1.0, 0.1, [slow]) is None  # (1 + 0.3) / 1.6 < 1: plain decoding is faster


def test_cheap_accurate_drafter_is_kept_and_preferred():
    slow = Option("model", accept=0.3, cost=0.5)
    cheap = Option("ngram", accept=0.9, cost=0.003)
    assert best_option(1.0, 1.0, 1.0, 0.1, [slow, cheap]) is cheap


def test_accurate_drafter_worth_its_cost_beats_a_free_poor_one():
    model = Option("model", accept=0.95, cost=0.15)
    poor = Option("ngram", accept=0.2, cost=0.0)
    assert best_option(1.0, 1.0, 1.0, 0.1, [model, poor]) is model


def test_no_drafting_when_nothing_pays():
    options = [Option("model", accept=0.4, cost=0.6), Option("ngram", accept=0.05, cost=0.0),
               Option("ff", accept=0.5, cost=0.6, avail=0.2)]
    assert best_option(1.0, 1.0, 1.0, 0.5, options) is None


def test_a_draft_stops_where_the_round_rate_peaks():
    """Drafting with acceptance 0.8 at cost 0.15 + 0.1 per position: the greedy rule stops at the best length."""
    alpha, c, b = 0.8, 0.15, 0.1
    s, e, cost, k = 1.0, 1.0, 1.0, 0
    while best_option(e, cost, s, b, [Option("model", alpha, c)]) is not None:
        s *= alpha
        e += s
        cost += c + b
        k += 1
    rates = [sum(alpha ** i for i in range(n + 1)) / (1 + n * (c + b)) for n in range(20)]
    assert k == int(np.argmax(rates)) and k > 1


# ------------------------------------------------------------------------------------------------------------------
# AutoDrafter on the toy pair with fixed costs (sampled D1: the costs stay frozen, the run is deterministic)

PROFILE = CostProfile(target_s=1.0, per_token=0.05, draft={"worst": 0.3, "exact": 0.02})


class WorstToken(Drafter):
    """Proposes the allowed token the target likes least: its drafts are mostly rejected."""

    def __init__(self, model) -> None:
        self.model = model

    def propose(self, ctx, matcher, mask):
        """The least likely allowed token."""
        lp = self.model.logprobs_of(ctx).numpy()
        allowed = np.flatnonzero(mask[: lp.size])
        return Proposal("worst", token=int(allowed[np.argmin(lp[allowed])]), feature=0.5)


def _exact_arm():
    """A draft model that is the target itself: every draft is accepted."""
    return ModelDrafter(target_model())


def _run(compiled, auto, n, *, temperature=1.0, verify="d1", seed=0):
    """``n`` sequences with one drafter; per-sequence stats."""
    model = target_model()
    gen = torch.Generator().manual_seed(seed)
    outs = []
    for i in range(n):
        outs.append(speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=auto, verify=verify,
                                                max_tokens=10, temperature=temperature, generator=gen, stream=i))
    return outs


def _kind(outs, kind):
    """Drafts of ``kind`` over the runs."""
    return sum(o.stats.by_kind.get(kind, [0, 0])[0] for o in outs)


def test_auto_learns_to_drop_a_costly_rejected_drafter(compiled):
    auto = AutoDrafter([("worst", WorstToken(target_model()))], profile=PROFILE)
    early = _run(compiled, auto, 10)
    late = _run(compiled, auto, 200, seed=1)
    rounds = sum(o.stats.rounds for o in late)
    assert _kind(early, "worst") >= 1  # tried while its acceptance was unknown (prior 0.5 pays at cost 0.3)
    assert auto.acceptance.mean("worst") < 0.4
    assert _kind(late, "worst") <= rounds / auto.probe_every + 2  # then only probed, once per probe_every rounds
    assert auto.rounds > auto.probe_every * 3  # (several probes happened)


def test_auto_keeps_a_cheap_exact_drafter_and_prefers_it(compiled):
    auto = AutoDrafter([("worst", WorstToken(target_model())), ("exact", _exact_arm())], profile=PROFILE)
    outs = _run(compiled, auto, 200)
    exact, worst = _kind(outs, "model"), _kind(outs, "worst")
    assert exact > 10 * max(worst, 1)
    assert np.mean([o.stats.tokens_per_target_forward for o in outs]) > 2.0


def test_auto_drafts_nothing_when_nothing_pays(compiled):
    costly = CostProfile(target_s=1.0, per_token=0.5, draft={"worst": 0.5})
    auto = AutoDrafter([("worst", WorstToken(target_model()))], profile=costly)
    outs = _run(compiled, auto, 200)
    rounds = sum(o.stats.rounds for o in outs)
    assert _kind(outs, "worst") <= rounds / auto.probe_every + 1  # probes only (forced tokens are still drafted)


def test_auto_profiles_default_and_measured(compiled):
    model = target_model()
    auto = make_drafter("auto", model)
    assert isinstance(auto, AutoDrafter) and list(auto.arms) == ["ff", "ngram"]  # no draft model for a toy target
    assert auto._profile([EOS], compiled.matcher()) == CostProfile(draft={})  # fixed: the same in every process
    measured = AutoDrafter(list(auto.arms.items()), target=model, profile="measure")
    m = compiled.matcher()
    prof = measured._profile([EOS], m)
    assert prof is measured._profile([EOS], compiled.matcher())  # measured once per target and grammar
    assert 0.0 <= prof.per_token < 10.0 and prof.target_s > 0
    assert m.mask().tolist() == compiled.matcher().mask().tolist()  # the request's state is not advanced


def test_timed_costs_take_their_scale_from_the_first_round():
    costs = Costs(CostProfile(start=0.5, per_token=0.1), timed=True)
    costs.observe_draft("model", 1.0)  # no scale yet: ignored
    assert costs.draft_cost("model") == pytest.approx(0.2)
    costs.observe_round(2, 0.0034)  # a + d + 2 b = 1.7 units = 3.4 ms: a unit is 2 ms
    assert costs.a == pytest.approx(0.002) and costs.draft_cost("model") == pytest.approx(0.0004)
    for _ in range(100):  # a slower machine: a = 4 ms, d = 1 ms, b = 1 ms
        for k in (0, 1, 3):
            costs.observe_round(k, 0.004 + (0.001 if k else 0.0) + 0.001 * k)
    assert costs.round_cost(0) == pytest.approx(0.004, rel=0.2) and costs.round_cost(3) == pytest.approx(0.008, rel=0.2)


# ------------------------------------------------------------------------------------------------------------------
# exactness


def _auto(model):
    return AutoDrafter([("ff", FastForwardDrafter(model.vocab)), ("ngram", NGramDrafter(model.vocab, order=3)),
                        ("model", ModelDrafter(good_draft()))], profile=CostProfile(per_token=0.1,
                                                                                   draft={"model": 0.1}))


def _contexts(compiled, max_len=6):
    """Every reachable (context, matcher) of the toy language up to ``max_len`` tokens, EOS excluded."""
    out, stack = [], [([EOS], compiled.matcher())]
    while stack:
        ctx, m = stack.pop()
        out.append((ctx, m))
        if len(ctx) > max_len:
            continue
        for t in np.flatnonzero(m.mask()):
            if int(t) != EOS:
                m2 = m.fork()
                m2.advance(int(t))
                stack.append((ctx + [int(t)], m2))
    return out


def _draft_law(prop, mask):
    """The draft law ``(q_ids, q_logp)`` of a proposal and the tokens it may draft with their probabilities."""
    if prop.token is not None:
        return None, None, [(int(prop.token), 1.0)]
    q_ids, q_logp = constrained_law(prop.logprobs, mask)
    return q_ids, q_logp, list(zip(q_ids.tolist(), np.exp(q_logp)))


def test_d1_one_step_law_whatever_auto_proposes(compiled):
    """At every reachable position, with the drafter's estimates trained and untrained, Leviathan's rule on what
    ``auto`` proposes gives exactly ``p_c`` (the choice only picks ``q``)."""
    model = target_model()
    trained = _auto(model)
    _run(compiled, trained, 100)
    worst, n = 0.0, 0
    for auto in (_auto(model), trained):
        for ctx, m in _contexts(compiled):
            mask = m.mask()
            p_ids, p_logp = constrained_law(model.logprobs_of(ctx), mask)
            size = mask.size
            auto.begin(ctx)
            prop = auto.propose(ctx, m, mask)
            if prop is None:
                continue
            q_ids, q_logp, tokens = _draft_law(prop, mask)
            law = one_step_law(p_ids, p_logp, q_ids, q_logp, size, tokens)
            pc = np.zeros(size)
            pc[p_ids] = np.exp(p_logp)
            worst = max(worst, 0.5 * np.abs(law - pc).sum())
            n += 1
    assert n > 10 and worst < 1e-12, (n, worst)


def test_one_step_negative_control_choice_after_the_outcome_fails(compiled):
    """A rule that looks at the position's verification outcome (on rejection, draft again from another drafter)
    is not exact: the test above would catch a cost model that used the current round's outcome."""
    model = target_model()
    worst = 0.0
    for ctx, m in _contexts(compiled):
        mask = m.mask()
        if np.count_nonzero(mask) < 2:
            continue
        p_ids, p_logp = constrained_law(model.logprobs_of(ctx), mask)
        q_ids, q_logp = constrained_law(good_draft().logprobs_of(ctx), mask)
        size = mask.size
        pc = np.zeros(size)
        pc[p_ids] = np.exp(p_logp)
        retry = one_step_law(p_ids, p_logp, q_ids, q_logp, size, [])  # zeros
        for t, qt in zip(q_ids.tolist(), np.exp(q_logp)):
            a, _, _ = leviathan_step(p_ids, p_logp, q_ids, q_logp, t, size)
            retry[t] += qt * a
            u = int(p_ids[np.argmin(p_logp)])  # the fallback: a point-mass draft of another drafter
            retry += qt * (1 - a) * one_step_law(p_ids, p_logp, None, None, size, [(u, 1.0)])
        worst = max(worst, 0.5 * np.abs(retry - pc).sum())
    assert worst > 0.05, worst


def test_d1_sequences_with_auto_follow_lcd_law(compiled):
    law = lcd_law(target_model(), compiled)
    counts = sample_counts(compiled, N_SEQ, drafter_fn=_auto, seed=11)
    assert chi_square_p(counts, law, N_SEQ) > P_MIN


def test_d2_sequences_with_auto_follow_lcd_law_and_match_awrs(compiled):
    law = lcd_law(target_model(), compiled)
    counts = sample_counts(compiled, N_SEQ, drafter_fn=_auto, verify="d2", seed=12)
    assert chi_square_p(counts, law, N_SEQ) > P_MIN
    model = target_model()
    auto = _auto(model)
    for stream in range(30):
        ref = awrs_sample_sequence(model.start(()), compiled.matcher(), max_tokens=10, stream=stream)
        out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=auto, verify="d2",
                                          max_tokens=10, stream=stream)
        assert out.tokens == ref.tokens
        assert out.log_weight == pytest.approx(ref.log_weight, abs=1e-12)


def test_greedy_auto_is_greedy_decoding(compiled):
    model = target_model()
    ref = sample_sequence(model.start(()), compiled.matcher(), max_tokens=10, temperature=0)
    auto = _auto(model)
    for _ in range(5):
        out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=auto, max_tokens=10,
                                          temperature=0)
        assert out.tokens == ref.tokens


def test_a_seed_fixes_the_sampled_d1_output_of_a_fresh_auto(compiled):
    model = target_model()

    def run(seed):
        """A fresh auto drafter's D1 sample for ``seed``."""
        return speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=make_drafter("auto", model),
                                           max_tokens=10, generator=torch.Generator().manual_seed(seed)).tokens

    first = [run(s) for s in range(20)]
    assert [run(s) for s in range(20)] == first


# ------------------------------------------------------------------------------------------------------------------
# what auto learned, shared by requests whose drafts cannot change the output (corral.drafters.memory)


CHEAP = CostProfile(target_s=1.0, start=0.05, per_token=0.05, draft={"worst": 0.05})  # drafting looks worth a try


def _fresh_worst(model):
    """A new auto drafter per request (as ``corral.generate`` makes one) whose only arm is mostly rejected."""
    return AutoDrafter([("worst", WorstToken(model))], target=model, profile=CHEAP, profile_key="worst-arm")


def test_greedy_requests_share_what_auto_learned(compiled):
    """Fresh drafters, greedy: the second request starts from what the first learned (the shared estimates), so a
    rejected arm is dropped across short requests; the tokens are greedy decoding's every time."""
    from corral.drafters import memory

    memory.clear()
    model = target_model()
    ref = sample_sequence(model.start(()), compiled.matcher(), max_tokens=10, temperature=0).tokens
    autos, drafted = [], []
    for _ in range(40):
        auto = _fresh_worst(model)
        out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=auto, max_tokens=10,
                                          temperature=0)
        assert out.tokens == ref
        autos.append(auto)
        drafted.append(_kind([out], "worst"))
    assert autos[0].acceptance is autos[-1].acceptance  # one shared estimate
    assert autos[-1].acceptance.mean("worst") < 0.4
    assert sum(drafted[-20:]) < sum(drafted[:20])  # fewer drafts once learned
    assert sum(drafted[-20:]) <= 20 * 10 / autos[-1].probe_every + 2


def test_sampled_d1_requests_do_not_share(compiled):
    """With sampling (D1), drafts shape which output of the law comes out, so each request learns alone: a seed
    gives the same tokens and statistics whatever ran before (negative check: in greedy they are shared)."""
    from corral.drafters import memory

    model = target_model()

    def run(seed):
        """A fresh drafter's D1 sample for ``seed``: tokens, drafts."""
        out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=_fresh_worst(model),
                                          max_tokens=10, generator=torch.Generator().manual_seed(seed))
        return out.tokens, _kind([out], "worst")

    memory.clear()
    first = [run(s) for s in range(10)]
    for _ in range(20):  # other requests in between, greedy ones included
        speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=_fresh_worst(model), max_tokens=10,
                                    temperature=0)
    assert [run(s) for s in range(10)] == first
    auto = _fresh_worst(model)
    speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=auto, max_tokens=10,
                                generator=torch.Generator().manual_seed(0))
    assert auto.acceptance is auto._own.acceptance


def test_probes_back_off_while_they_fail():
    """A probed arm whose draft is rejected waits twice as long for its next probe (up to MAX_PROBE_GAP times
    probe_every); an accepted probe brings the gap back to probe_every."""
    from corral.drafters.auto import MAX_PROBE_GAP

    auto = AutoDrafter([("worst", WorstToken(target_model()))], profile=PROFILE)
    gaps = auto.learned.probe_gap
    auto._back_off("worst", False)
    assert gaps["worst"] == 2 * auto.probe_every
    for _ in range(10):
        auto._back_off("worst", False)
    assert gaps["worst"] == MAX_PROBE_GAP * auto.probe_every
    auto._back_off("worst", True)
    assert gaps["worst"] == auto.probe_every
