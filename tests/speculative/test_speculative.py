"""Exactness of constrained speculative decoding (ALGORITHMS.md §4, §5 items 2, 4, 5, 6).

* D1's one-step law equals ``p_c`` to 1e-12 (exact enumeration over the draft), for model drafts, point-mass drafts
  and unmasked drafts, with temperature / top-k / top-p / greedy; the unnormalised acceptance ratio (negative
  control) is far off.
* Sequence samples of D1 and D2 on a tiny ToyModel pair pass a chi-square test against the exact LCD law ``ℓ``
  (enumerated); the negative control sampler fails it.
* D2 is drafter-invariant: identical tokens and weights for a fixed stream across drafters and draft lengths, equal
  to non-speculative AWRS.
* SMC with a speculative proposal estimates ``Z = Σ_{y ∈ L} p(y)`` without bias.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from corral.compile.grammar import Grammar
from corral.drafters import CompositeDrafter, FastForwardDrafter, ModelDrafter, NGramDrafter
from corral.models.toy import ToyModel
from corral.runtime.matcher import CompiledGrammar
from corral.samplers import speculative_d1 as spec
from corral.samplers.awrs import awrs_sample_sequence
from corral.samplers.masking import constrained_law, constrained_logprobs, sample_sequence
from corral.samplers.speculative import speculative_sample_sequence
from corral.samplers.speculative_d1 import leviathan_step
from corral.samplers.speculative_smc import SpeculativeProposal

TOKENS = ["a", "b", "c", "ab"]
PATTERN = r"(ab|ba|c)(a|b)?c"
EOS = len(TOKENS)


def hashed_logits(seed: int, scale: float):
    def fn(ctx):
        digest = hashlib.sha256(repr((seed, ctx)).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        return scale * rng.standard_normal(len(TOKENS) + 1)

    return fn


TARGET_FN = hashed_logits(1, 1.5)


def target_model():
    return ToyModel(TOKENS, TARGET_FN)


def good_draft():
    noise = hashed_logits(3, 0.4)
    return ToyModel(TOKENS, lambda ctx: TARGET_FN(ctx) + noise(ctx))


def bad_draft():
    return ToyModel(TOKENS, hashed_logits(2, 2.0))


@pytest.fixture(scope="module")
def compiled():
    return CompiledGrammar(Grammar.from_regex(PATTERN), target_model().vocab)


def lcd_law(model, compiled, *, temperature=1.0, top_k=None, top_p=None, max_len=8) -> dict:
    """Exact ℓ over complete token sequences by enumeration."""
    out: dict = {}

    def rec(ctx, m, prob):
        law = np.exp(constrained_logprobs(model.logprobs_of(ctx), m.mask(), temperature=temperature, top_k=top_k,
                                          top_p=top_p))
        for t in np.flatnonzero(law > 0):
            t = int(t)
            if t == EOS:
                out[tuple(ctx[1:]) + (EOS,)] = out.get(tuple(ctx[1:]) + (EOS,), 0.0) + prob * law[t]
            elif len(ctx) < max_len:
                m2 = m.fork()
                m2.advance(t)
                rec(ctx + [t], m2, prob * law[t])

    rec([EOS], compiled.matcher(), 1.0)
    return out


def chi_square_p(counts: dict, law: dict, n: int) -> float:
    """Chi-square goodness of fit (cells with expected < 5 pooled); p-value by Wilson–Hilferty."""
    assert set(counts) <= set(law), f"samples outside the support: {set(counts) - set(law)}"
    exp_small = obs_small = 0.0
    stat, cells = 0.0, 0
    for y, p in law.items():
        e, o = n * p, counts.get(y, 0)
        if e < 5:
            exp_small += e
            obs_small += o
            continue
        stat += (o - e) ** 2 / e
        cells += 1
    if exp_small > 0:
        stat += (obs_small - exp_small) ** 2 / exp_small
        cells += 1
    k = cells - 1
    z = ((stat / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return 0.5 * math.erfc(z / math.sqrt(2))


def sample_counts(compiled, n, *, drafter_fn, verify="d1", draft_length="adaptive", seed=0, **kw) -> dict:
    model = target_model()
    gen = torch.Generator().manual_seed(seed)
    counts: dict = {}
    drafter = drafter_fn(model)
    for i in range(n):
        out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=drafter, verify=verify,
                                          draft_length=draft_length, max_tokens=10, generator=gen,
                                          stream=seed * 1_000_003 + i, **kw)
        assert out.status == "complete"
        key = tuple(out.tokens)
        counts[key] = counts.get(key, 0) + 1
    return counts


def _good(model):
    return ModelDrafter(good_draft())


def _bad(model):
    return ModelDrafter(bad_draft())


def _free(model):
    return CompositeDrafter([FastForwardDrafter(model.vocab), NGramDrafter(model.vocab, order=3)])


def _all(model):
    return CompositeDrafter([FastForwardDrafter(model.vocab), NGramDrafter(model.vocab, order=3, min_feature=0.6),
                             ModelDrafter(good_draft())])


# ------------------------------------------------------------------------------------------------------------------
# one step, exact


def one_step_law(p_ids, p_logp, q_ids, q_logp, size, token_list):
    """Exact output law of one D1 position: Σ_t q(t) [a(t) δ_t + (1 - a(t)) residual_t]."""
    law = np.zeros(size)
    for t, qt in token_list:
        a, r_ids, r_p = leviathan_step(p_ids, p_logp, q_ids, q_logp, t, size)
        law[t] += qt * a
        if a < 1:
            law[r_ids] += qt * (1 - a) * r_p / r_p.sum()
    return law


PARAMS = [dict(), dict(temperature=0.6), dict(temperature=1.7, top_k=3), dict(top_p=0.7), dict(temperature=0),
          dict(temperature=0.8, top_k=4, top_p=0.9)]


@pytest.mark.parametrize("params", PARAMS)
def test_d1_one_step_law_is_exactly_p_c(params):
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(60):
        size = int(rng.integers(2, 12))
        lp = torch.log_softmax(torch.tensor(rng.normal(size=size) * 2), 0)
        lq = torch.log_softmax(torch.tensor(rng.normal(size=size) * 2), 0)
        mask = rng.random(size) < 0.6
        mask[rng.integers(size)] = True
        p_ids, p_logp = constrained_law(lp, mask, **params)
        pc = np.zeros(size)
        pc[p_ids] = np.exp(p_logp)
        # masked model draft (the draft law gets the same processing)
        q_ids, q_logp = constrained_law(lq, mask, **params)
        law = one_step_law(p_ids, p_logp, q_ids, q_logp, size, zip(q_ids.tolist(), np.exp(q_logp)))
        worst = max(worst, 0.5 * np.abs(law - pc).sum())
        # unmasked draft (only the target masked): still exact
        u_ids, u_logp = constrained_law(lq, None, **params)
        law = one_step_law(p_ids, p_logp, u_ids, u_logp, size, zip(u_ids.tolist(), np.exp(u_logp)))
        worst = max(worst, 0.5 * np.abs(law - pc).sum())
        # point-mass drafts (n-gram / fast-forward): each allowed token in turn
        for t in np.flatnonzero(mask):
            law = one_step_law(p_ids, p_logp, None, None, size, [(int(t), 1.0)])
            worst = max(worst, 0.5 * np.abs(law - pc).sum())
    assert worst < 1e-12, worst


def test_d1_one_step_negative_control_unnormalised_ratio_fails():
    """Leviathan with the unnormalised p·c in place of p_c is not exact (ALGORITHMS.md §4.2)."""
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(60):
        size = int(rng.integers(3, 12))
        lp = torch.log_softmax(torch.tensor(rng.normal(size=size) * 2), 0)
        lq = torch.log_softmax(torch.tensor(rng.normal(size=size) * 2), 0)
        mask = rng.random(size) < 0.5
        mask[:2] = True
        p_ids, p_logp = constrained_law(lp, mask)
        pc = np.zeros(size)
        pc[p_ids] = np.exp(p_logp)
        raw = lp.numpy().astype(np.float64)[p_ids]  # p·c without renormalisation
        q_ids, q_logp = constrained_law(lq, mask)
        law = one_step_law(p_ids, raw, q_ids, q_logp, size, zip(q_ids.tolist(), np.exp(q_logp)))
        worst = max(worst, 0.5 * np.abs(law - pc).sum())
    assert worst > 0.1, worst


# ------------------------------------------------------------------------------------------------------------------
# sequences, chi-square against ℓ

N_SEQ = 1500
P_MIN = 1e-4  # fixed seeds: deterministic; Bonferroni-style margin over the ~8 tests below


@pytest.mark.parametrize("drafter_fn,length", [(_good, "adaptive"), (_bad, 3), (_free, "adaptive"), (_all, 5)])
def test_d1_sequences_follow_lcd_law(compiled, drafter_fn, length):
    law = lcd_law(target_model(), compiled)
    counts = sample_counts(compiled, N_SEQ, drafter_fn=drafter_fn, draft_length=length, seed=1)
    p = chi_square_p(counts, law, N_SEQ)
    assert p > P_MIN, p


def test_d1_sequences_follow_lcd_law_with_temperature_and_top_k(compiled):
    law = lcd_law(target_model(), compiled, temperature=0.7, top_k=2)
    counts = sample_counts(compiled, N_SEQ, drafter_fn=_good, draft_length=4, seed=2, temperature=0.7, top_k=2)
    p = chi_square_p(counts, law, N_SEQ)
    assert p > P_MIN, p


def test_d1_sequence_negative_control_fails(compiled, monkeypatch):
    """Unnormalised p·c in the acceptance ratio: the chi-square test must reject (the test has power)."""

    def unnormalised(lp, mask, temperature, top_k, top_p):
        ids = np.flatnonzero(mask)
        return ids, np.asarray(lp, dtype=np.float64)[ids]

    monkeypatch.setattr(spec, "_target_law", unnormalised)
    law = lcd_law(target_model(), compiled)
    counts = sample_counts(compiled, N_SEQ, drafter_fn=_bad, draft_length=4, seed=3)
    p = chi_square_p(counts, law, N_SEQ)
    assert p < 1e-6, p


def test_d2_sequences_follow_lcd_law(compiled):
    law = lcd_law(target_model(), compiled)
    counts = sample_counts(compiled, N_SEQ, drafter_fn=_all, verify="d2", seed=4)
    p = chi_square_p(counts, law, N_SEQ)
    assert p > P_MIN, p


def test_d1_without_drafter_is_masked_decoding(compiled):
    model = target_model()
    for seed in range(40):
        a = sample_sequence(model.start(()), compiled.matcher(), max_tokens=10,
                            generator=torch.Generator().manual_seed(seed))
        b = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=None, max_tokens=10,
                                        generator=torch.Generator().manual_seed(seed))
        assert a.tokens == b.tokens and a.status == b.status
        assert b.logprob == pytest.approx(a.logprob, abs=1e-9)
        assert b.stats.tokens_per_target_forward == 1.0


def test_d1_greedy_equals_greedy_masked_decoding(compiled):
    model = target_model()
    ref = sample_sequence(model.start(()), compiled.matcher(), max_tokens=10, temperature=0)
    for fn in (_good, _bad, _free, _all):
        out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=fn(model), max_tokens=10,
                                          temperature=0, draft_length=3)
        assert out.tokens == ref.tokens


# ------------------------------------------------------------------------------------------------------------------
# D2 drafter invariance


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_d2_drafter_invariance(compiled, temperature):
    model = target_model()
    drafters = [lambda: None, lambda: _good(model), lambda: _bad(model),
                lambda: NGramDrafter(model.vocab, order=3), lambda: FastForwardDrafter(model.vocab),
                lambda: _all(model)]
    lengths = list(range(1, 9)) + ["adaptive"]
    n_drafted = 0
    for stream in range(25):
        ref = awrs_sample_sequence(model.start(()), compiled.matcher(), max_tokens=10, temperature=temperature,
                                   stream=stream)
        for make in drafters:
            for length in lengths:
                out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=make(), verify="d2",
                                                  draft_length=length, max_tokens=10, temperature=temperature,
                                                  stream=stream)
                n_drafted += out.stats.drafted
                assert out.tokens == ref.tokens, (stream, make, length)
                assert out.log_weight == pytest.approx(ref.log_weight, abs=1e-12)
    assert n_drafted > 1000  # the drafters did draft


# ------------------------------------------------------------------------------------------------------------------
# SMC composition


def exact_z(model, compiled, max_len=8) -> float:
    """Z = Σ_{y ∈ L} p(y) by enumeration (raw model)."""

    def rec(ctx, m):
        lp = model.logprobs_of(ctx).numpy()
        total = 0.0
        for t in range(len(lp)):
            if not m.check(t):
                continue
            if t == EOS:
                total += math.exp(lp[t])
            elif len(ctx) < max_len:
                m2 = m.fork()
                m2.advance(t)
                total += math.exp(lp[t]) * rec(ctx + [t], m2)
        return total

    return rec([EOS], compiled.matcher())


@pytest.mark.parametrize("verify", ["d1", "d2"])
def test_smc_with_speculative_proposal_is_unbiased(compiled, verify):
    from corral.samplers.smc import smc

    model = target_model()
    z = exact_z(model, compiled)
    ests = []
    for seed in range(300):
        prop = SpeculativeProposal(lambda: _all(model), verify=verify, seed=seed)
        res = smc(model, (), compiled.matcher(), particles=3, max_tokens=10, proposal=prop, seed=seed)
        ests.append(math.exp(res.log_z))
    ests = np.array(ests)
    se = ests.std(ddof=1) / math.sqrt(len(ests))
    assert abs(ests.mean() - z) < 5 * se + 1e-12, (ests.mean(), z, se)
    assert z < 0.9  # non-trivial: the constraint removes mass
