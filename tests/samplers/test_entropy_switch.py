"""Entropy-adaptive decoding (``switching="entropy"``): exact at the extremes, the predicted law in between.

A toy pair (hash-seeded :class:`~corral.models.toy.ToyModel` s over {a, b, c, ab, EOS}, a finite language) gives
every law exactly: the small and large models' masked-decoding laws ``ℓ`` (:func:`corral.testing.enumerate_laws`) and
the switching process's law (:func:`corral.samplers.entropy_switch_law.switching_law`). Threshold ``+inf`` must be
masked decoding with the small model and ``-inf`` (or 0 with a window of 1) with the large one, token for token for
the same generator; in between, sampled runs must fit the enumerated switching law (chi-square) and fail the other
laws (negative controls), and their TV to the large model's ``ℓ`` must be the predicted one. Then the statistics,
the steps' sources, the target's scores after its catch-up passes (toy and embedded pair), and the refusals.
"""

from __future__ import annotations

import math

import pytest
import torch

import corral
from corral.compile.grammar import Grammar
from corral.errors import ConfigurationError
from corral.models.toy import ToyModel
from corral.runtime.matcher import CompiledGrammar
from corral.samplers.entropy_switch import EntropyRule, masked_entropy, switching_sample_sequence
from corral.samplers.entropy_switch_law import switching_law
from corral.samplers.masking import sample_sequence
from corral.testing import chi2_pvalue, enumerate_laws, tv

TOKENS = ["a", "b", "c", "ab"]
LANGUAGE = ["a", "ab", "abc", "b", "bb", "bca", "cab", "ccc", "cb"]
INF = math.inf
ALPHA, POWER = 1e-3, 1e-6  # fixed seeds: the must-pass p-values are above ALPHA, the negative controls below POWER
N = 3000


@pytest.fixture(scope="module")
def pair():
    small = ToyModel.random(TOKENS, seed=3, scale=1.5)
    large = ToyModel.random(TOKENS, seed=11, scale=1.5)
    compiled = CompiledGrammar(Grammar.from_choices(LANGUAGE), large.vocab)
    return small, large, compiled, enumerate_laws(small, compiled)[0], enumerate_laws(large, compiled)[0]


def _switch(pair, threshold, window, seed):
    small, large, compiled, _, _ = pair
    gen = torch.Generator().manual_seed(seed)
    return switching_sample_sequence(large.start(), small.start(), compiled.matcher(), threshold=threshold,
                                     window=window, max_tokens=64, generator=gen)


@pytest.mark.parametrize("threshold, window, which", [(INF, 1, "small"), (INF, 3, "small"), (-INF, 1, "large"),
                                                      (-INF, 4, "large"), (0.0, 1, "large")])
def test_extreme_thresholds_are_masked_decoding_with_one_model(pair, threshold, window, which):
    small, large, compiled, ell_small, ell_large = pair
    model = small if which == "small" else large
    for seed in range(40):
        plain = sample_sequence(model.start(), compiled.matcher(), max_tokens=64,
                                generator=torch.Generator().manual_seed(seed))
        out = _switch(pair, threshold, window, seed)
        assert out.tokens == plain.tokens and out.logprob == pytest.approx(plain.logprob, abs=1e-9)
        if math.isinf(threshold):
            assert out.stats["share_large"] == (1.0 if which == "large" else 0.0)
        else:  # H = 0: the small model writes only the tokens the constraint forces (entropy 0), as the target would
            assert all(s.n_allowed == 1 for s in out.steps if s.draft == "small")
    exact = switching_law(small, large, compiled, threshold=threshold, window=window).law
    ell = ell_small if which == "small" else ell_large
    assert set(exact) == set(ell) and tv(exact, ell) < 1e-6  # float32 round trip of the logits as in sampling


@pytest.mark.parametrize("threshold, window, other", [(0.8, 1, (0.6, 2)), (0.6, 2, (0.6, 1))])
def test_intermediate_threshold_samples_the_enumerated_switching_law(pair, threshold, window, other):
    """``other``: the (threshold, window) of a switching law that differs (TV about 0.2), a negative control."""
    small, large, compiled, ell_small, ell_large = pair
    exact = switching_law(small, large, compiled, threshold=threshold, window=window)
    wrong = switching_law(small, large, compiled, threshold=other[0], window=other[1]).law
    runs = [_switch(pair, threshold, window, 1000 + i) for i in range(N)]
    samples = [tuple(r.tokens) for r in runs]
    empirical = {k: samples.count(k) / N for k in set(samples)}
    p_exact, p_small = chi2_pvalue(samples, exact.law), chi2_pvalue(samples, ell_small)
    p_wrong = chi2_pvalue(samples, wrong)
    tv_exact, tv_seen = tv(exact.law, ell_large), tv(empirical, ell_large)
    share = sum(r.stats["large_tokens"] for r in runs) / sum(len(r.tokens) for r in runs)
    print(f"H={threshold} W={window}: p(switch law)={p_exact:.3g} p(ell small)={p_small:.3g} p(H, W = {other})="
          f"{p_wrong:.3g}; TV to ell large exact {tv_exact:.4f} sampled {tv_seen:.4f}; share large exact "
          f"{exact.share_large:.3f} sampled {share:.3f}")
    assert 0 < exact.share_large < 1 and tv_exact > 0.03 and tv(exact.law, ell_small) > 0.3
    assert p_exact > ALPHA
    assert p_small < POWER and p_wrong < POWER
    assert abs(tv_seen - tv_exact) < 0.04 and abs(share - exact.share_large) < 0.03


def test_decisions_follow_the_rule_and_the_target_scores_every_token(pair):
    small, large, compiled, _, _ = pair
    for seed in range(60):
        gen = torch.Generator().manual_seed(seed)
        seq, small_seq = large.start(), small.start()
        out = switching_sample_sequence(seq, small_seq, compiled.matcher(), threshold=0.6, window=2, max_tokens=64,
                                        generator=gen)
        rule = EntropyRule(0.6, 2)
        assert [s.draft is None for s in out.steps] == [rule.push(h) for h in out.entropies]
        ctx = [large.bos_token_id]
        for t, step in zip(out.tokens, out.steps):  # Step.model_logprob: the target's, whoever wrote the token
            assert step.model_logprob == pytest.approx(float(large.logprobs_of(ctx)[t]), abs=1e-6)
            ctx.append(t)
        assert out.model_logprob == pytest.approx(sum(s.model_logprob for s in out.steps))
        assert seq.tokens == small_seq.tokens == ctx[:-1]  # both models saw every token (EOS excepted)


def test_stats_shares_add_up_and_match_the_steps_sources(pair):
    small, large, _, _, _ = pair
    seen = set()
    for seed in range(30):
        r = corral.generate([], model=large, choices=LANGUAGE, draft=small, switching="entropy",
                            switch_threshold=0.6, switch_window=2, seed=seed)
        st = r.stats["switching"]
        assert r.status == "complete" and r.text in LANGUAGE
        assert st["small_tokens"] + st["large_tokens"] == len(r.token_ids) == len(r.steps)
        assert st["share_large"] == pytest.approx(st["large_tokens"] / len(r.token_ids))
        assert st["small_tokens"] == sum(s.source == "draft" and s.draft_kind == "small" for s in r.steps)
        assert r.model_logprob == pytest.approx(sum(math.log(s.prob) for s in r.steps), abs=1e-9)
        seen.add((st["small_tokens"] > 0, st["large_tokens"] > 0))
    assert (True, True) in seen  # some runs mix the two models


def test_streaming_gives_every_token(pair):
    small, large, _, _, _ = pair
    s = corral.stream([], model=large, choices=LANGUAGE, draft=small, switching="entropy", switch_threshold=0.8,
                      switch_window=1, seed=3)
    ids = [t for chunk in s for t in chunk.token_ids]
    assert ids == s.result.token_ids


def test_embedded_pair_stays_in_sync_and_valid():
    """HF KV caches: the target's scores after its catch-up passes equal one fresh scoring of the whole output."""
    from corral.models.hf import default_model_path

    if not (default_model_path("draft") / "config.json").is_file():
        pytest.skip("the embedded models are absent")
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    r = corral.generate("Describe a person as JSON:\n", schema=schema, draft="model", switching="entropy",
                        switch_threshold=0.5, switch_window=2, seed=4, max_tokens=48)
    st = r.stats["switching"]
    assert st["small_tokens"] > 0 and st["large_tokens"] > 0
    from corral.generate import load_model

    lm = load_model()
    prompt = lm.encode("Describe a person as JSON:\n")
    rows = lm.start(prompt).extend_scored(r.token_ids[:-1])
    fresh = sum(float(rows[i, t]) for i, t in enumerate(r.token_ids))
    assert r.model_logprob == pytest.approx(fresh, abs=2e-3)
    if r.status == "complete":
        assert set(r.value) == {"name", "age"}


@pytest.mark.parametrize("kwargs, needle", [
    ({"method": "smc"}, "lossy"), ({"method": "awrs"}, "lossy"), ({"method": "asap"}, "lossy"),
    ({"draft": None}, "small model"), ({"draft": "auto"}, "small model"), ({"draft": "ngram"}, "small model"),
    ({"switching": "mixture"}, "switching must be"), ({"switch_window": 0}, "switch_window"),
    ({"switch_threshold": math.nan}, "switch_threshold"), ({"draft_length": 3}, "draft_length"),
    ({"switching": None, "switch_threshold": 2.0}, "are for switching"),
])
def test_refusals_are_clear(kwargs, needle):
    args = {"draft": "model", "switching": "entropy", **kwargs}
    with pytest.raises(ConfigurationError, match=needle):
        corral.generate("x", regex="a+", max_tokens=4, **args)


def test_masked_entropy():
    lp = torch.log(torch.tensor([0.5, 0.25, 0.25, 0.0]))
    assert masked_entropy(lp, [True, True, True, False]) == pytest.approx(1.5 * math.log(2))
    assert masked_entropy(lp, [False, True, False, False]) == 0.0
    assert masked_entropy(lp, [False, False, False, True]) == INF  # the small model cannot write: the target does
