"""SMC with exhaustive expansion and optimal (Fearnhead-Clifford) resampling: unbiased resampling, exactness when
the language fits in N particles, E[Ẑ] = Z and a posterior that approaches π when it does not, a negative control
(keeping the N heaviest children, as a beam does, is biased), and the generate() integration."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from corral.compile.grammar import Grammar
from corral.models.toy import ToyModel
from corral.runtime.matcher import CompiledGrammar
from corral.testing import enumerate_laws, tv
from corral.samplers.smc import smc
from corral.samplers.smc_optimal import optimal_resample

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

TOKENS = ["a", "b", "c", "ab"]
LANGUAGE = ["a", "ab", "abc", "b", "bb", "bca", "cab", "ccc", "cb"]


@pytest.fixture(scope="module")
def toy():
    model = ToyModel.random(TOKENS, seed=3, scale=1.5)
    compiled = CompiledGrammar(Grammar.from_choices(LANGUAGE), model.vocab)
    ell, pi, log_z = enumerate_laws(model, compiled)
    return model, compiled, pi, log_z


@pytest.fixture(scope="module")
def json_case():
    """The JSON Schema constraint of the faithfulness benchmark: 1,008 tokenizations, TV(ℓ, π) = 0.87."""
    from faithfulness import constraints, guided_model

    name, kind, grammar, toks, seed = next(c for c in constraints() if c[1] == "schema")
    model, compiled = guided_model(toks, grammar, seed=seed)
    ell, pi, log_z = enumerate_laws(model, compiled)
    return model, compiled, ell, pi, log_z


def test_optimal_resample_is_unbiased_and_without_replacement():
    rng = np.random.default_rng(0)
    log_w = np.append(np.log([0.4, 0.2, 0.1, 0.1, 0.08, 0.06, 0.04, 0.02, 1e-9]), -np.inf)
    n, reps = 4, 20000
    total = np.zeros(log_w.size)
    for _ in range(reps):
        idx, new = optimal_resample(log_w, n, rng)
        assert idx.size == n and len(set(idx.tolist())) == n and 9 not in idx
        assert 0 in idx and new[list(idx).index(0)] == pytest.approx(log_w[0])  # above c: kept as is
        np.add.at(total, idx, np.exp(new))
    mean = total / reps
    w = np.exp(log_w)
    se = np.sqrt(w * 0.4 / reps) + 1e-12  # each new weight is 0 or c <= 0.4
    assert np.all(np.abs(mean - w) < 4 * se + 1e-9), (mean, w)
    small = np.log(np.array([0.5, 0.5]))
    idx, new = optimal_resample(small, 4, rng)
    assert sorted(idx.tolist()) == [0, 1] and np.allclose(new, small)


def test_exact_when_the_language_fits(toy):
    """With N at least the number of outputs, no resampling ever happens: posterior = π, Ẑ = Z to 1e-12."""
    model, compiled, pi, log_z = toy
    res = smc(model, [], compiled.matcher(), particles=64, max_tokens=16, resampling="optimal", seed=0)
    post = res.posterior()
    assert set(post) == set(pi)
    assert max(abs(post[k] - pi[k]) for k in pi) < 1e-12
    assert abs(res.log_z - log_z) < 1e-12
    assert res.n_resamples == 0 and all(p.status == "complete" for p in res.particles)


def test_unbiased_z_and_faithful_posterior_when_it_does_not_fit(json_case):
    """N = 16 and 64 on 1,008 outputs: E[Ẑ] = Z within 3 standard errors; the run-averaged posterior (the law
    of one draw) gets within TV 0.06 of π at N = 64, where masked decoding is 0.87 away."""
    model, compiled, ell, pi, log_z = json_case
    assert tv(ell, pi) > 0.8
    for n, runs, bound in ((16, 60, None), (64, 30, 0.06)):
        zs, avg = [], {}
        for r in range(runs):
            res = smc(model, [], compiled.matcher(), particles=n, max_tokens=64, resampling="optimal", seed=r)
            zs.append(math.exp(res.log_z - log_z))
            for k, w in res.posterior().items():
                avg[k] = avg.get(k, 0.0) + w / runs
        z = np.array(zs)
        assert abs(z.mean() - 1) < 3 * z.std(ddof=1) / math.sqrt(runs) + 1e-9, (n, z.mean())
        if bound is not None:
            assert tv(avg, pi) < bound, tv(avg, pi)


def test_negative_control_beam_is_biased(json_case):
    """Keeping the N heaviest children (a beam, not unbiased) with the same N is far from π and biases Ẑ down:
    the comparison the optimal scheme must win."""
    import corral.samplers.smc_optimal as so

    model, compiled, ell, pi, log_z = json_case

    def beam(log_w, n, rng):
        alive = np.flatnonzero(log_w > -np.inf)
        top = alive[np.argsort(-log_w[alive])[:n]]
        return top, log_w[top]

    original = so.optimal_resample
    so.optimal_resample = beam
    try:
        res = smc(model, [], compiled.matcher(), particles=64, max_tokens=64, resampling="optimal", seed=0)
    finally:
        so.optimal_resample = original
    assert res.log_z < log_z - 0.05
    assert tv(res.posterior(), pi) > 0.1


def test_dead_ends_and_arguments(toy):
    model, compiled, pi, log_z = toy
    res = smc(model, [], compiled.matcher(), particles=8, max_tokens=1, resampling="optimal", seed=0)
    assert res.log_z == -math.inf and res.particles and all(p.log_weight == -math.inf for p in res.particles)
    with pytest.raises(ValueError, match="critic"):
        smc(model, [], compiled.matcher(), particles=8, max_tokens=4, resampling="optimal", critic=lambda t, d: 0.0)
    with pytest.raises(ValueError, match="particles"):
        smc(model, [], compiled.matcher(), particles=0, max_tokens=4, resampling="optimal")


def test_generate_with_optimal_resampling():
    import corral

    r = corral.generate("Colors: ", choices=["red", "green", "blue"], method="smc", particles=8,
                        resampling="optimal", seed=0, max_tokens=8)
    assert r.status == "complete" and r.text in ("red", "green", "blue")
    assert abs(sum(r.posterior.values()) - 1) < 1e-9
    with pytest.raises(ValueError, match="draft"):
        corral.generate("x", choices=["a"], method="smc", resampling="optimal", draft="ngram", max_tokens=4)


@pytest.mark.parametrize("resampling", ["optimal", "multinomial", "stratified", "systematic"])
def test_particle_weights_average_to_z_for_every_scheme(toy, resampling):
    """One convention: for every resampling scheme the reported particle weights average to Ẑ, so pooling the
    particle sets of runs by concatenation gives the mean of their Ẑs (a sum convention would be off by N)."""
    from corral.samplers.resampling import RESAMPLERS

    assert resampling == "optimal" or resampling in RESAMPLERS
    model, compiled, pi, log_z = toy
    runs = []
    for seed in range(3):
        for n in (2, 5):  # below the number of outputs, so resampling happens
            res = smc(model, [], compiled.matcher(), particles=n, max_tokens=16, resampling=resampling, seed=seed)
            w = np.array([p.log_weight for p in res.particles])
            assert res.log_z == pytest.approx(np.logaddexp.reduce(w) - math.log(len(w)), abs=1e-9)
            runs.append(res)
    pooled = np.concatenate([[p.log_weight for p in r.particles] for r in runs])
    sizes = [len(r.particles) for r in runs]
    # the pooled mean equals the size-weighted mean of the runs' Ẑ
    want = np.logaddexp.reduce([r.log_z + math.log(k) for r, k in zip(runs, sizes)]) - math.log(sum(sizes))
    assert np.logaddexp.reduce(pooled) - math.log(pooled.size) == pytest.approx(want, abs=1e-9)
