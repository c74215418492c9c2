"""ASAp (``method="asap"``) and its trie as an SMC twist, on toy models whose laws are enumerated exactly
(ALGORITHMS.md §3, §4.5 "Twists", §5.7).

The statistic throughout is the total variation between the empirical law of ``R`` independent draws and the exact
``π``, compared with its null distribution: the same statistic for ``R`` exact draws from ``π``, simulated, cut at
its 99.9% quantile (the *band*). Seeds are fixed, so every test is deterministic.

* (a) The ``K``-th ASAp sample of a fresh trie, over ``R`` independent runs, lies in the band, while the first
  sample (masked decoding, law ``ℓ``) and masked decoding itself stay at ``TV(ℓ, π)``.
* (b) ``θ(root)`` never increases, never falls below ``Z``, and equals ``Z`` once every prefix has been expanded.
* (c) Two deliberately wrong tries (``θ`` not propagated past the parent; dead ends not recorded) fail (a) or (b).
* (d) On a case with a late dead end, SMC twisted by a learned trie lies in the band with 4 particles where untwisted
  SMC is far outside it with 4 and 16; ``E[Ẑ] = Z`` for a good and for a poor twist; a twist left in the final
  weight (not removed at the end) is caught.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from corral.compile.grammar import Grammar
from corral.errors import ConfigurationError
from corral.generator import Generator
from corral.models.toy import ToyModel
from corral.runtime.matcher import CompiledGrammar
from corral.samplers.asap import AsapTrie, asap_samples
from corral.samplers.masking import sample_sequence
from corral.samplers.smc import smc
from corral.testing import enumerate_laws, tv

TOKENS = ["a", "b", "c", "ab"]
LANGUAGE = ["a", "ab", "abc", "b", "bb", "bca", "cab", "ccc", "cb"]
RUNS = 1000  # independent ASAp runs (one draw each from the law of the K-th sample)
K = 60  # samples per run
QUANTILE = 0.999


@pytest.fixture(scope="module")
def toy():
    model = ToyModel.random(TOKENS, seed=3, scale=1.5)
    return model, CompiledGrammar(Grammar.from_choices(LANGUAGE), model.vocab)


def band(pi: dict, m: int, reps: int = 4000) -> float:
    """The 99.9% quantile of TV(empirical law of ``m`` exact draws from ``pi``, ``pi``)."""
    keys = list(pi)
    p = np.array([pi[k] for k in keys])
    rng = np.random.default_rng(0)
    draws = rng.multinomial(m, p, size=reps) / m
    return float(np.quantile(0.5 * np.abs(draws - p).sum(axis=1), QUANTILE))


def outcome(out) -> tuple | str:
    """A sample as a key of the laws: its tokens when complete, ``"length"`` otherwise (outside π's support)."""
    return tuple(out.tokens) if out.status == "complete" else "length"


def empirical(keys) -> dict:
    keys = list(keys)
    law: dict = {}
    for k in keys:
        law[k] = law.get(k, 0.0) + 1.0 / len(keys)
    return law


def kth_laws(model, compiled, max_tokens: int, ks=(1, K), make_trie=AsapTrie, runs: int = RUNS):
    """The empirical law of the ``k``-th sample of a fresh trie, for each ``k`` in ``ks``, over ``runs`` runs."""
    draws = {k: [] for k in ks}
    for r in range(runs):
        outs = asap_samples(model.start(), compiled.matcher(), make_trie(), samples=max(ks), max_tokens=max_tokens,
                            generator=torch.Generator().manual_seed(r))
        for k in ks:
            draws[k].append(outcome(outs[k - 1]))
    return {k: empirical(v) for k, v in draws.items()}


@pytest.mark.parametrize("max_tokens", [64, 3])  # 3 cuts the language: prefixes that cannot end in time are dead ends
def test_kth_sample_law_approaches_pi(toy, max_tokens):
    model, compiled = toy
    ell, pi, _ = enumerate_laws(model, compiled, max_tokens=max_tokens)
    limit = band(pi, RUNS)
    laws = kth_laws(model, compiled, max_tokens)
    masked = empirical(outcome(sample_sequence(model.start(), compiled.matcher(), max_tokens=max_tokens,
                                               generator=torch.Generator().manual_seed(10_000 + r)))
                       for r in range(RUNS))
    print(f"max_tokens {max_tokens}: band {limit:.3f}; TV to π: sample 1 {tv(laws[1], pi):.3f}, sample {K} "
          f"{tv(laws[K], pi):.3f}, masked {tv(masked, pi):.3f}")
    assert tv(laws[K], pi) < limit
    assert tv(laws[1], pi) > 3 * limit and tv(masked, pi) > 3 * limit
    if max_tokens == 64:  # no truncation: ℓ is a law (sums to 1), and the first sample is masked decoding
        assert tv(laws[1], ell) < band(ell, RUNS) and tv(masked, ell) < band(ell, RUNS)
        assert abs(tv(masked, pi) - tv(ell, pi)) < limit


def fully_explored(node) -> bool:
    """Whether every allowed non-EOS child of every expanded prefix below ``node`` has been expanded."""
    for i, token in enumerate(node.ids):
        kid = node.kids.get(i)
        if token != EOS_OF_TOY and (kid is None or not kid.expanded or not fully_explored(kid)):
            return False
    return True


EOS_OF_TOY = len(TOKENS)


def theta_trace(model, compiled, trie, max_tokens: int, samples: int = 3000) -> list[float]:
    """``θ(root)`` after each sample, until the trie is fully explored (at most ``samples`` samples)."""
    thetas = []
    gen = torch.Generator().manual_seed(7)
    for _ in range(samples):
        asap_samples(model.start(), compiled.matcher(), trie, samples=1, max_tokens=max_tokens, generator=gen)
        thetas.append(trie.theta)
        if fully_explored(trie.root):
            break
    return thetas


@pytest.mark.parametrize("max_tokens", [64, 3])
def test_root_theta_falls_to_z(toy, max_tokens):
    model, compiled = toy
    _, _, log_z = enumerate_laws(model, compiled, max_tokens=max_tokens)
    z = math.exp(log_z)
    trie = AsapTrie()
    thetas = theta_trace(model, compiled, trie, max_tokens)
    print(f"max_tokens {max_tokens}: explored after {len(thetas)} samples, {trie}; Z = {z:.6g}")
    assert fully_explored(trie.root)
    assert all(b <= a + 1e-15 for a, b in zip(thetas, thetas[1:]))  # θ only falls
    assert min(thetas) >= z - 1e-13  # an upper bound on Z
    assert thetas[-1] == pytest.approx(z, rel=1e-9, abs=1e-15)
    assert (trie.n_dead_ends > 0) == (max_tokens == 3) and trie.n_samples == len(thetas)


class NoPropagation(AsapTrie):
    """Wrong: θ reaches the parent's child entry, but no ancestor's θ is updated."""

    def set_theta(self, node, value):
        node.value = value
        if node.parent is not None:
            node.parent.theta[node.index] = value


class DeadEndsIgnored(AsapTrie):
    """Wrong: a dead end keeps θ = 1 (the sampler keeps walking into it)."""

    def set_theta(self, node, value):
        if value > 0:
            super().set_theta(node, value)


@pytest.mark.parametrize("wrong, max_tokens", [(NoPropagation, 64), (DeadEndsIgnored, 3)])
def test_wrong_tries_are_caught(toy, wrong, max_tokens):
    """The statistics of (a) and (b) have power: each wrong variant fails at least one of them."""
    model, compiled = toy
    _, pi, log_z = enumerate_laws(model, compiled, max_tokens=max_tokens)
    laws = kth_laws(model, compiled, max_tokens, ks=(K,), make_trie=wrong, runs=400)
    trie = wrong()
    theta_trace(model, compiled, trie, max_tokens, samples=400)
    error = abs(trie.theta / math.exp(log_z) - 1)
    print(f"{wrong.__name__}: TV of sample {K} to π {tv(laws[K], pi):.3f} (band {band(pi, 400):.3f}); "
          f"θ(root)/Z - 1 = {error:.3g}")
    assert tv(laws[K], pi) > 2 * band(pi, 400) and error > 0.01


# (d) A late dead end: the model prefers "a", whose branch looks bad at first (p(c) = 0.02 for three steps); the
# "b" branch looks fine for four steps, then needs "d" (p = 3e-6). π puts ~0.79 on "accc", ℓ ~0.7; untwisted SMC
# resamples the "a" particles away before the dead end shows.
A, B, C, D, EOS = range(5)
LATE_DEAD_END = "accc|b[abc][abc][abc]d"


def _late_logprobs(generated: tuple) -> np.ndarray:
    p = np.full(5, 1e-3)
    if not generated:
        p[[A, B]] = [0.7, 0.3]
    elif generated[0] == A:
        if len(generated) < 4:
            p[[C, A, B]] = [0.02, 0.49, 0.49]
        else:
            p[[EOS, A]] = [0.3, 0.7]
    elif len(generated) < 4:
        p[[A, B, C]] = 0.33
    elif len(generated) == 4:
        p[[D, A, B, C]] = [3e-6, 0.33, 0.33, 0.33]
    else:
        p[[EOS, A]] = [0.5, 0.5]
    return np.log(p / p.sum())


@pytest.fixture(scope="module")
def late():
    model = ToyModel(["a", "b", "c", "d"], lambda ctx: _late_logprobs(ctx[1:]))
    compiled = CompiledGrammar(Grammar.from_regex(LATE_DEAD_END), model.vocab)
    _, pi, log_z = enumerate_laws(model, compiled, max_tokens=8)
    trie = AsapTrie()
    asap_samples(model.start(), compiled.matcher(), trie, samples=100, max_tokens=8,
                 generator=torch.Generator().manual_seed(0))
    assert trie.theta == pytest.approx(math.exp(log_z), rel=1e-6)  # learned: θ ≈ EFG on the whole support
    return model, compiled, pi, log_z, trie


def smc_runs(model, compiled, n: int, runs: int = 300, **kwargs):
    """``(law of one posterior draw per run, log Ẑ per run)`` over ``runs`` seeded SMC runs (max_tokens 8)."""
    rng = np.random.default_rng(1)
    draws, log_zs = [], []
    for r in range(runs):
        res = smc(model, [], compiled.matcher(), particles=n, max_tokens=8, seed=r, **kwargs)
        chosen = res.sample(rng)
        draws.append("dead" if chosen is None else tuple(chosen.tokens))
        log_zs.append(res.log_z)
    return empirical(draws), np.array(log_zs)


def z_score(log_zs: np.ndarray, log_z: float) -> float:
    """``(mean Ẑ - Z) / its standard error``."""
    ratio = np.exp(log_zs - log_z)
    return float((ratio.mean() - 1) / (ratio.std() / math.sqrt(ratio.size) + 1e-300))


def test_twisted_smc_matches_pi_with_fewer_particles(late):
    model, compiled, pi, log_z, trie = late
    limit = band(pi, 300)
    twisted, log_zs = smc_runs(model, compiled, 4, twist=trie)
    plain4, _ = smc_runs(model, compiled, 4)
    plain16, _ = smc_runs(model, compiled, 16)
    print(f"band {limit:.3f}; TV to π: twisted N=4 {tv(twisted, pi):.3f}, untwisted N=4 {tv(plain4, pi):.3f}, "
          f"N=16 {tv(plain16, pi):.3f}; twisted E[Ẑ] z-score {z_score(log_zs, log_z):.2f}, "
          f"mean log Ẑ - log Z {log_zs.mean() - log_z:.4f}")
    assert tv(twisted, pi) < limit
    assert tv(plain4, pi) > 1.5 * limit and tv(plain16, pi) > 1.5 * limit
    assert abs(z_score(log_zs, log_z)) < 4 and abs(log_zs.mean() - log_z) < 0.05


def _random_twist(tokens) -> float:
    """A twist that knows nothing: ``2 N(0, 1)`` seeded by a hash of the prefix."""
    digest = hashlib.sha256(repr(tuple(tokens)).encode()).digest()
    return 2.0 * float(np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal())


@pytest.fixture(scope="module")
def poor_trie(toy):
    """A trie after 3 samples: θ far from EFG (θ(root) ≈ 2.3 Z)."""
    model, compiled = toy
    trie = AsapTrie()
    asap_samples(model.start(), compiled.matcher(), trie, samples=3, max_tokens=8,
                 generator=torch.Generator().manual_seed(0))
    return trie


def test_any_twist_keeps_z_unbiased(toy, poor_trie):
    """A poorly learned trie or a random twist is a bad twist, not a wrong one: ``E[Ẑ] = Z`` (and the poor trie's
    posterior draws stay in the band; the random twist's posterior is consistent only as N grows)."""
    model, compiled = toy
    _, pi, log_z = enumerate_laws(model, compiled, max_tokens=8)
    assert poor_trie.theta > 2 * math.exp(log_z)
    law, log_zs = smc_runs(model, compiled, 4, twist=poor_trie)
    _, random_log_zs = smc_runs(model, compiled, 4, twist=_random_twist)
    print(f"poor trie: TV {tv(law, pi):.3f} (band {band(pi, 300):.3f}), z-score {z_score(log_zs, log_z):.2f}; "
          f"random twist: z-score {z_score(random_log_zs, log_z):.2f}")
    assert tv(law, pi) < band(pi, 300)
    assert abs(z_score(log_zs, log_z)) < 4 and abs(z_score(random_log_zs, log_z)) < 4


def test_twist_left_in_the_final_weight_is_caught(toy, poor_trie, late):
    """Wrong usage: the trie as a critic that keeps ψ of the last prefix in the final weight (not removed)."""

    def kept(trie):
        return lambda tokens, done: trie(tokens[:-1] if done else tokens)

    model, compiled = toy
    _, pi, log_z = enumerate_laws(model, compiled, max_tokens=8)
    law, log_zs = smc_runs(model, compiled, 4, critic=kept(poor_trie))
    late_model, late_compiled, _, late_log_z, late_trie = late
    _, late_log_zs = smc_runs(late_model, late_compiled, 4, critic=kept(late_trie))
    print(f"twist kept: toy TV {tv(law, pi):.3f} (band {band(pi, 300):.3f}), z-score {z_score(log_zs, log_z):.1f}; "
          f"late dead end z-score {z_score(late_log_zs, late_log_z):.1f}")
    assert tv(law, pi) > band(pi, 300)
    assert z_score(log_zs, log_z) < -10 and z_score(late_log_zs, late_log_z) < -10


def test_generate_asap_and_twist_api(toy):
    """``method="asap"`` through :class:`~corral.generator.Generator`: samples, stats, a trie kept across calls,
    seeds; ``twist=`` for SMC; the option checks."""
    model, _ = toy
    gen = Generator(model)
    trie = AsapTrie()
    first = gen.generate([EOS_OF_TOY], choices=LANGUAGE, method="asap", samples=30, trie=trie, seed=1, max_tokens=8)
    assert first.complete and first.text in LANGUAGE and len(first.stats["samples"]) == 30
    assert first.stats["samples"][-1][:2] == [first.text, first.token_ids]
    assert all(status == "complete" and text in LANGUAGE for text, _, status in first.stats["samples"])
    again = gen.generate([EOS_OF_TOY], choices=LANGUAGE, method="asap", samples=30, seed=1, max_tokens=8)
    assert again.stats["samples"] == first.stats["samples"]  # fresh trie, same seed: same draws
    more = gen.generate([EOS_OF_TOY], choices=LANGUAGE, method="asap", samples=5, trie=trie, seed=2, max_tokens=8)
    assert trie.n_samples == 35 and more.stats["root_theta"] == trie.theta <= first.stats["root_theta"]
    twisted = gen.generate([EOS_OF_TOY], choices=LANGUAGE, method="smc", particles=4, twist=trie, seed=0,
                           max_tokens=8)
    assert twisted.complete and twisted.text in LANGUAGE
    with pytest.raises(ConfigurationError, match="another prompt, max_tokens"):
        gen.generate([EOS_OF_TOY], choices=LANGUAGE, method="asap", trie=trie, max_tokens=9)
    for kwargs, needle in [({"method": "lcd", "samples": 3}, "method='asap'"), ({"method": "asap", "trie": {}},
                           "AsapTrie"), ({"method": "asap", "temperature": 0}, "temperature > 0"),
                           ({"method": "awrs", "twist": trie}, "method='smc'"),
                           ({"method": "smc", "twist": trie, "resampling": "optimal"}, "twist="),
                           ({"method": "asap", "samples": 0}, "samples")]:
        with pytest.raises(ConfigurationError, match=needle):
            gen.generate([EOS_OF_TOY], choices=LANGUAGE, max_tokens=8, **kwargs)
