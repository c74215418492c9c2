"""SMC machinery: resampling schemes, batching (one forward per step), streams, the proposal plug-in, the batched HF
cache, and the ``generate(method=...)`` integration. Faithfulness itself is in ``test_faithfulness_exact.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from corral.compile.grammar import Grammar
from corral.errors import GenerationError
from corral.models.batch import HFBatch, SequenceBatch, make_batch
from corral.models.toy import ToyModel
from corral.runtime.matcher import CompiledGrammar
from corral.samplers.awrs import awrs_step, eos_only, gumbel_keys
from corral.samplers.resampling import RESAMPLERS, ess, normalized_weights, resample
from corral.samplers.smc import AWRSProposal, Extension, SMCResult, smc

TOKENS = ["a", "b", "c", "ab"]
LANGUAGE = ["a", "ab", "abc", "b", "bb", "bca", "cab", "ccc", "cb"]


@pytest.fixture(scope="module")
def toy():
    model = ToyModel.random(TOKENS, seed=3, scale=1.5)
    return model, CompiledGrammar(Grammar.from_choices(LANGUAGE), model.vocab)


@pytest.mark.parametrize("scheme", sorted(RESAMPLERS))
def test_resampling_is_unbiased(scheme):
    rng = np.random.default_rng(0)
    w = normalized_weights(np.array([math.log(0.5), math.log(0.05), math.log(0.3), -math.inf, math.log(0.15)]))
    reps = 4000
    counts = np.zeros(5)
    for _ in range(reps):
        a = resample(w, rng, scheme)
        assert a.shape == (5,) and a.min() >= 0 and a.max() < 5 and np.all(np.diff(a) >= 0)
        counts += np.bincount(a, minlength=5)
    mean = counts / reps
    assert counts[3] == 0
    assert np.all(np.abs(mean - 5 * w) < 0.06), (scheme, mean, 5 * w)


def test_resampling_errors_and_ess():
    with pytest.raises(ValueError, match="unknown resampling"):
        resample([1.0], np.random.default_rng(), "nope")
    with pytest.raises(ValueError):
        resample([0.0, 0.0], np.random.default_rng())
    assert ess([0.0, 0.0, 0.0, 0.0]) == pytest.approx(4.0)
    assert ess([0.0, -np.inf]) == pytest.approx(1.0)
    assert ess([-np.inf, -np.inf]) == 0.0


def test_one_batched_forward_per_step_and_determinism(toy):
    model, compiled = toy
    before = model.n_forward
    res = smc(model, [], compiled.matcher(), particles=16, max_tokens=64, seed=3)
    assert model.n_forward - before == res.n_steps  # one logprobs_batch call per step for all live particles
    again = smc(model, [], compiled.matcher(), particles=16, max_tokens=64, seed=3)
    assert [p.tokens for p in res.particles] == [p.tokens for p in again.particles]
    assert res.log_z == again.log_z
    assert isinstance(res, SMCResult) and len(res.ess_trace) == res.n_steps
    assert abs(sum(res.posterior().values()) - 1) < 1e-12
    for p in res.particles:
        assert p.status == "complete" and p.tokens[-1] == model.eos_token_id
        text = model.vocab.decode(p.tokens).decode()
        assert text in LANGUAGE
    assert res.checks_per_token > 0


def test_children_get_fresh_streams(toy):
    model, compiled = toy
    res = smc(model, [], compiled.matcher(), particles=32, max_tokens=64, seed=1, ess_threshold=1.0)
    assert res.n_resamples > 0
    streams = [p.stream for p in res.particles]
    assert len(set(streams)) == len(streams)


def test_all_particles_die_at_max_tokens(toy):
    model, compiled = toy
    # every string of the language needs >= 1 token before EOS: with max_tokens=1 the forced EOS is never valid
    res = smc(model, [], compiled.matcher(), particles=4, max_tokens=1, seed=0)
    assert res.log_z == -math.inf and res.posterior() == {} and res.sample() is None
    assert all(p.status == "length" for p in res.particles)


def test_argument_errors(toy):
    model, compiled = toy
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="particles"):
            smc(model, [], compiled.matcher(), particles=bad, max_tokens=5)
    with pytest.raises(ValueError, match="resampling"):
        smc(model, [], compiled.matcher(), particles=2, max_tokens=5, resampling="bogus")
    with pytest.raises(ValueError, match="ess_threshold"):
        smc(model, [], compiled.matcher(), particles=2, max_tokens=5, ess_threshold=1.5)
    with pytest.raises(ValueError, match="temperature"):
        smc(model, [], compiled.matcher(), particles=2, max_tokens=5, temperature=0)
    with pytest.raises(ValueError, match="max_tokens"):
        smc(model, [], compiled.matcher(), particles=2, max_tokens=0)


class TwoTokenBlocks:
    """A plug-in proposal: two AWRS tokens per call on per-row sequences (rows of different lengths), the weight
    increment being the sum of the two log Ẑ - the shape of a speculative-decoding round."""

    def start(self, model, prompt_ids, n):
        self.batch = make_batch(model, prompt_ids, n, per_row=True)
        self.eos = sorted(model.eos_token_ids)

    def extend(self, particles, budgets):
        out = []
        for i, p in enumerate(particles):
            seq = self.batch.sequence(i)
            toks, dlw = [], 0.0
            for j in range(min(2, budgets[i])):
                lw = seq.logprobs().numpy()
                if budgets[i] - j <= 1:
                    lw = eos_only(lw, self.eos)
                st = awrs_step(lw, p.matcher.check, keys=lw + gumbel_keys(p.stream, len(p.tokens) + j, lw.size))
                if st.token is None:
                    dlw = -math.inf
                    break
                p.matcher.advance(st.token)
                toks.append(st.token)
                dlw += st.log_z
                if st.token in self.eos:
                    break
                seq.append(st.token)
            out.append(Extension(toks if dlw > -math.inf else [], dlw, stats={"blocks": 1}))
        return out

    def select(self, rows):
        self.batch.select(rows)


def test_block_proposal_plug_in(toy):
    from test_faithfulness_exact import enumerate_laws, tv

    model, compiled = toy
    _, pi, log_z = enumerate_laws(model, compiled)
    zs, avg = [], {}
    runs = 200
    for r in range(runs):
        res = smc(model, [], compiled.matcher(), particles=8, max_tokens=64, seed=r, proposal=TwoTokenBlocks())
        assert res.proposal_stats["blocks"] > 0
        zs.append(math.exp(res.log_z))
        for k, w in res.posterior().items():
            avg[k] = avg.get(k, 0.0) + w / runs
    zs = np.array(zs)
    zscore = (zs.mean() - math.exp(log_z)) / (zs.std() / math.sqrt(runs))
    assert abs(zscore) < 3
    assert tv(avg, pi) < 0.08


def test_sequence_batch_select_forks(toy):
    model, _ = toy
    b = SequenceBatch.start(model, [], 2)
    b.append([0, 1])
    b.select([1, 1, 0])
    b.append([2, 3, 2])
    assert [b.tokens(i)[1:] for i in range(3)] == [[1, 2], [1, 3], [0, 2]]
    lp = b.logprobs()
    assert lp.shape == (3, model.vocab.size) and lp.dtype == np.float64


# ----------------------------------------------------------------------------- embedded HF model

@pytest.fixture(scope="module")
def hf():
    from corral.generate import load_model

    try:
        return load_model()
    except Exception as exc:  # pragma: no cover - a checkout without the embedded data
        pytest.skip(f"embedded model unavailable: {exc}")


def test_hf_batch_matches_single_sequences(hf):
    prompt = hf.encode("Write a date:\n")
    b = make_batch(hf, prompt, 3)
    assert isinstance(b, HFBatch)
    ref = hf.start(prompt)
    assert np.abs(b.logprobs() - ref.logprobs().double().numpy()).max() < 1e-5
    b.append([5, 6, 7])
    b.logprobs()
    b.select([2, 0, 2, 1])
    b.append([8, 9, 10, 11])
    lp = b.logprobs()
    for row, toks in enumerate([[7, 8], [5, 9], [7, 10], [6, 11]]):
        s = ref.fork()
        s.extend(toks)
        assert np.abs(lp[row] - s.logprobs().double().numpy()).max() < 1e-4
    assert b.n_forward == 3
    b.select([])
    assert b.n_rows == 0
    with pytest.raises(GenerationError):
        b.logprobs()


def test_generate_methods(hf):
    from corral.generate import generate

    regex = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    import re

    r = generate("Write a date:\n", regex=regex, method="awrs", seed=1, max_tokens=20)
    assert r.status == "complete" and re.fullmatch(regex, r.text)
    assert r.stats["n_checks"] > 0 and r.log_z is not None and r.particles is None
    r = generate("Write a date:\n", regex=regex, method="smc", particles=4, seed=1, max_tokens=20)
    assert r.status == "complete" and re.fullmatch(regex, r.text)
    assert len(r.particles) == 4 and abs(sum(r.posterior.values()) - 1) < 1e-9 and r.text in r.posterior
    assert r.log_z <= 0 and r.stats["n_forward"] == r.stats["n_steps"]
    for text, ids, lw, status in r.particles:
        assert status == "complete" and re.fullmatch(regex, text)
    again = generate("Write a date:\n", regex=regex, method="smc", particles=4, seed=1, max_tokens=20)
    assert again.text == r.text and again.posterior == r.posterior
    # greedy AWRS is greedy masked decoding
    a = generate("Write a date:\n", regex=regex, method="awrs", temperature=0, max_tokens=20)
    b = generate("Write a date:\n", regex=regex, method="lcd", temperature=0, max_tokens=20)
    assert a.token_ids == b.token_ids
    # unconstrained SMC works too
    r = generate("Write a date:\n", method="smc", particles=2, seed=0, max_tokens=5)
    assert len(r.particles) == 2


def test_generate_method_errors(hf):
    from corral.generate import generate

    with pytest.raises(ValueError, match="unknown method"):
        generate("x", method="beam")
    with pytest.raises(ValueError, match="particles"):
        generate("x", method="lcd", particles=4)
    with pytest.raises(ValueError, match="particles"):
        generate("x", method="smc", particles=0)
    with pytest.raises(ValueError, match="top_k"):
        generate("x", method="smc", top_k=5)
    with pytest.raises(ValueError, match="top_k"):
        generate("x", method="awrs", top_p=0.9)
    with pytest.raises(ValueError, match="temperature"):
        generate("x", method="smc", temperature=0)
    with pytest.raises(ValueError, match="ess_threshold"):
        generate("x", method="smc", ess_threshold=2)
    with pytest.raises(ValueError, match="resampling"):
        generate("x", method="smc", resampling="x")
