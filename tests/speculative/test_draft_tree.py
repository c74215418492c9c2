"""Multi-draft (tree) speculative decoding is exact (ALGORITHMS.md §4; corral.samplers.speculative_tree).

* One node, exact enumeration: recursive rejection sampling over k = 1..4 candidates (drawn without replacement, with
  replacement, or deterministic top-k) emits a token with law ``p_c`` to 1e-12, for good, bad and adversarial
  drafters and every sampling law; the naive rule "accept each candidate against the original p, first accepted
  wins" (negative control) is exact at k = 1 and far off for k >= 2.
* Whole sequences on a ToyModel: D1 tree rounds pass a chi-square test against the enumerated LCD law ``ℓ``; the
  negative control fails the same test.
* D1 with ``draft_tree=1`` makes exactly the draws of single-draft D1; greedy trees give greedy decoding's tokens; D2
  trees give plain AWRS's tokens and weights for every stream, drafter and shape.
* Tree scoring: one target pass (toy and Hugging Face), the HF tree mask matches chain scoring, the KV cache keeps
  the accepted path; the per-branch fallback gives the same tokens; bad ``draft_tree`` values are clear errors;
  ``generate(draft_tree=...)`` and ``--draft-tree`` reach the tree rounds.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from corral.drafters import CompositeDrafter, FastForwardDrafter, ModelDrafter, NGramDrafter
from corral.errors import ConfigurationError
from corral.models.toy import ToyModel
from corral.samplers import speculative_tree_rrs as rrs
from corral.samplers.awrs import awrs_sample_sequence
from corral.samplers.masking import constrained_law, sample_sequence
from corral.samplers.speculative import speculative_sample_sequence
from corral.samplers.speculative_tree import parse_tree_shape
from test_speculative import (  # the toy pair, constraint and law checks of the speculative suite
    EOS,
    TARGET_FN,
    TOKENS,
    bad_draft,
    chi_square_p,
    compiled,  # noqa: F401 - fixture
    good_draft,
    lcd_law,
    target_model,
)

def _good(model):
    return ModelDrafter(good_draft())


def _bad(model):
    return ModelDrafter(bad_draft())


def _adversarial(model):
    """A draft that prefers what the target finds least likely."""
    return ModelDrafter(ToyModel(TOKENS, lambda ctx: -2.0 * TARGET_FN(ctx)))


def _all(model):
    return CompositeDrafter([FastForwardDrafter(model.vocab), NGramDrafter(model.vocab, order=3, min_feature=0.6),
                             _good(model)])


# ------------------------------------------------------------------------------------------------------------------
# one node, exact enumeration


def enumerate_candidates(q_ids, q_logp, k, scheme):
    """Every candidate tuple a node can get, with its probability."""
    if scheme == "top":
        return [(rrs.top_candidates(q_ids, q_logp, k), 1.0)]
    if scheme == "iid":
        cands = [(rrs.Candidate(int(t), q_ids, q_logp), math.exp(lq)) for t, lq in zip(q_ids, q_logp)]
        return [([c for c, _ in combo], math.prod(p for _, p in combo)) for combo in itertools.product(cands, repeat=k)]
    out = []  # without replacement

    def rec(law, prefix, prob):
        if law is None or len(prefix) == k:
            out.append((prefix, prob))
            return
        ids, logp = law
        for t, lq in zip(ids, logp):
            rec(rrs.without(ids, logp, int(t)), prefix + [rrs.Candidate(int(t), ids, logp)], prob * math.exp(lq))

    rec((q_ids, q_logp), [], 1.0)
    return out


def node_law(p_ids, p_logp, cand_sets, size):
    """Exact law of the token a node emits: the mixture over candidate tuples of the acceptance chain's outcomes."""
    law = np.zeros(size)
    for cands, prob in cand_sets:
        mass = prob
        residual = (p_ids, p_logp)
        for c, (acc, residual) in zip(cands, rrs.acceptance_chain((p_ids, p_logp), cands, size)):
            law[c.token] += mass * acc
            mass *= 1 - acc
        law[residual[0]] += mass * np.exp(residual[1])
    return law


def draft_logits(kind, lp, rng):
    """good: p plus small noise; bad: independent; adversarial: favours p's least likely tokens."""
    if kind == "good":
        return lp + 0.3 * rng.normal(size=lp.size)
    if kind == "bad":
        return 2.0 * rng.normal(size=lp.size)
    return -3.0 * lp


PARAMS = [dict(), dict(temperature=0.6), dict(temperature=1.7, top_k=3), dict(top_p=0.8), dict(temperature=0)]


def worst_tv(k, scheme, params, kind, trials=25, seed=0):
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(trials):
        size = int(rng.integers(2, 8))
        lp = torch.log_softmax(torch.tensor(rng.normal(size=size) * 2), 0)
        lq = torch.log_softmax(torch.tensor(draft_logits(kind, lp.numpy(), rng)), 0)
        mask = rng.random(size) < 0.7
        mask[rng.integers(size)] = True
        p_ids, p_logp = constrained_law(lp, mask, **params)
        pc = np.zeros(size)
        pc[p_ids] = np.exp(p_logp)
        q_params = dict(params, temperature=params.get("temperature", 1.0) or 1.0)  # greedy: any q is exact
        q_ids, q_logp = constrained_law(lq, mask, **q_params)
        law = node_law(p_ids, p_logp, enumerate_candidates(q_ids, q_logp, k, scheme), size)
        worst = max(worst, 0.5 * np.abs(law - pc).sum())
    return worst


@pytest.mark.parametrize("scheme", ["without", "iid", "top"])
@pytest.mark.parametrize("kind", ["good", "bad", "adversarial"])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_node_law_is_exactly_p_c(k, kind, scheme):
    params = PARAMS if scheme != "iid" or k <= 3 else PARAMS[:2]  # iid enumerates |support|^k tuples
    for i, prm in enumerate(params):
        worst = worst_tv(k, scheme, prm, kind, seed=100 * k + i)
        assert worst < 1e-12, (prm, worst)


@pytest.fixture
def naive(monkeypatch):
    """The negative control: each candidate tested against the original p (first accepted wins); when all are
    rejected, the last candidate's residual ``norm(max(0, p - q_k))``. Exact for k = 1 (Leviathan's rule)."""
    monkeypatch.setattr(rrs, "_next_target", lambda p, residual: p)


@pytest.mark.parametrize("kind", ["good", "bad", "adversarial"])
def test_node_negative_control_is_caught(naive, kind):
    assert worst_tv(1, "without", {}, kind) < 1e-12  # the control is Leviathan's rule at k = 1
    for k in (2, 3, 4):
        assert worst_tv(k, "without", {}, kind) > 0.05, k
    assert worst_tv(3, "iid", {}, kind) > 0.05
    assert worst_tv(2, "top", {}, kind) > 0.05


# ------------------------------------------------------------------------------------------------------------------
# whole sequences: chi-square against ℓ


def sample_counts(compiled, n, *, drafter_fn, tree, draft_length=3, seed=0, **kw):
    model = target_model()
    gen = torch.Generator().manual_seed(seed)
    drafter = drafter_fn(model)
    counts: dict = {}
    forwards = emitted = 0
    for _ in range(n):
        out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=drafter, draft_tree=tree,
                                          draft_length=draft_length, max_tokens=10, generator=gen, **kw)
        assert out.status == "complete"
        counts[tuple(out.tokens)] = counts.get(tuple(out.tokens), 0) + 1
        forwards += out.stats.target_forwards
        emitted += out.stats.emitted
    return counts, emitted / forwards


N_SEQ = 1500
P_MIN = 1e-4  # fixed seeds: deterministic; a Bonferroni-style margin over the tests below


@pytest.mark.parametrize("drafter_fn,tree,length", [(_bad, 4, 3), (_adversarial, 3, 2), (_good, (2, 2), "adaptive"),
                                                    (_all, 2, "adaptive")])
def test_d1_tree_sequences_follow_lcd_law(compiled, drafter_fn, tree, length):
    law = lcd_law(target_model(), compiled)
    counts, per_forward = sample_counts(compiled, N_SEQ, drafter_fn=drafter_fn, tree=tree, draft_length=length,
                                        seed=7)
    assert chi_square_p(counts, law, N_SEQ) > P_MIN
    assert per_forward > 1.0


def test_d1_tree_sequences_with_temperature_and_top_k(compiled):
    law = lcd_law(target_model(), compiled, temperature=0.7, top_k=2)
    counts, _ = sample_counts(compiled, N_SEQ, drafter_fn=_bad, tree=3, seed=8, temperature=0.7, top_k=2)
    assert chi_square_p(counts, law, N_SEQ) > P_MIN


def test_d1_tree_sequence_negative_control_fails(compiled, naive):
    law = lcd_law(target_model(), compiled)
    counts, _ = sample_counts(compiled, N_SEQ, drafter_fn=_adversarial, tree=2, seed=9)
    assert chi_square_p(counts, law, N_SEQ) < 1e-12


# ------------------------------------------------------------------------------------------------------------------
# identities


def test_tree_of_one_is_single_draft_d1(compiled):
    """draft_tree=1 draws exactly what single-draft D1 draws: same tokens, weights and target passes."""
    model = target_model()
    for seed in range(30):
        for fn in (_good, _bad, _all):
            runs = [speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=fn(model),
                                                draft_length=3, max_tokens=10, draft_tree=tree,
                                                generator=torch.Generator().manual_seed(seed)) for tree in (None, 1)]
            assert runs[0].tokens == runs[1].tokens
            assert runs[0].log_weight == pytest.approx(runs[1].log_weight, abs=1e-12)
            assert runs[0].stats.target_forwards == runs[1].stats.target_forwards


def test_greedy_tree_equals_greedy_decoding(compiled):
    model = target_model()
    ref = sample_sequence(model.start(()), compiled.matcher(), max_tokens=10, temperature=0)
    for fn in (_good, _bad, _adversarial, _all):
        for tree in (2, 4, (3, 2)):
            out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=fn(model), max_tokens=10,
                                              temperature=0, draft_length=3, draft_tree=tree)
            assert out.tokens == ref.tokens, (fn, tree)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_d2_tree_is_plain_awrs(compiled, temperature):
    model = target_model()
    accepted = 0
    for stream in range(20):
        ref = awrs_sample_sequence(model.start(()), compiled.matcher(), max_tokens=10, temperature=temperature,
                                   stream=stream)
        for fn in (_good, _bad, _adversarial, _all):
            for tree, length in ((2, 3), (4, "adaptive"), ((2, 2), 4)):
                out = speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=fn(model),
                                                  verify="d2", draft_length=length, draft_tree=tree, max_tokens=10,
                                                  temperature=temperature, stream=stream)
                accepted += out.stats.accepted
                assert out.tokens == ref.tokens, (stream, fn, tree)
                assert out.log_weight == pytest.approx(ref.log_weight, abs=1e-12)
    assert accepted > 300  # the trees did get accepted


def test_more_candidates_raise_tokens_per_forward(compiled):
    rates = [sample_counts(compiled, 200, drafter_fn=_bad, tree=k, seed=3)[1] for k in (1, 4)]
    assert rates[1] > rates[0] + 0.1, rates


# ------------------------------------------------------------------------------------------------------------------
# scoring and arguments


class _Plain:
    """A ModelSequence without extend_tree (the per-branch fallback of score_tree)."""

    def __init__(self, seq):
        self._seq = seq

    def __getattr__(self, name):
        if name in ("extend_tree", "keep_tree_path"):
            raise AttributeError(name)
        return getattr(self._seq, name)

    def fork(self):
        return _Plain(self._seq.fork())


def test_fallback_scoring_gives_the_same_tokens(compiled):
    model = target_model()
    for seed in range(10):
        runs = []
        for wrap in (lambda s: s, _Plain):
            seq = wrap(model.start(()))
            out = speculative_sample_sequence(seq, compiled.matcher(), drafter=_bad(model), draft_length=3,
                                              max_tokens=10, draft_tree=3, eos_token_ids=[EOS],
                                              generator=torch.Generator().manual_seed(seed))
            runs.append(out.tokens)
        assert runs[0] == runs[1]


def test_toy_tree_is_one_forward_and_keeps_the_path():
    model = target_model()
    seq = model.start([0, 1])
    before = model.n_forward
    rows = seq.extend_tree([2, 3, 1, 0], [-1, 0, -1, 2])
    assert model.n_forward == before + 1 and rows.shape == (5, EOS + 1)
    assert torch.equal(rows[2], model.logprobs_of([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="path"):
        seq.keep_tree_path([1])
    seq.keep_tree_path([2, 3])
    assert seq.tokens == [0, 1, 1, 0]


def test_hf_tree_attention_matches_chains_and_keeps_the_path():
    from corral.models.hf import HFModel
    from corral.models.tree_attention import tree_supported

    m = HFModel.load(None)
    assert tree_supported(m)
    prompt = m.encode("Answer in JSON:\n")
    toks, parents = [11, 22, 33, 44, 55, 66], [-1, 0, 1, -1, 3, 0]
    seq = m.start(prompt)
    seq.logprobs()
    seq.append(7)
    rows = seq.extend_tree(toks, parents)
    for branch in ([0, 1, 2], [3, 4], [0, 5]):
        chain = m.start(prompt + [7]).extend_scored([toks[i] for i in branch])
        assert torch.allclose(rows[[0] + [i + 1 for i in branch]], chain, atol=1e-4)
    seq.keep_tree_path([0, 5])
    seq.append(9)
    ref = m.start(prompt + [7, 11, 66, 9]).logprobs()
    assert torch.allclose(seq.logprobs(), ref, atol=1e-4)
    m._tree_ok = False  # the per-branch fallback scores the same rows
    seq2 = m.start(prompt + [7])
    assert torch.allclose(seq2.extend_tree(toks, parents), rows, atol=1e-4)
    seq2.keep_tree_path([3, 4])
    assert seq2.tokens[-2:] == [44, 55]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, (), (2, 0), "x", "2,,1", (65,), (8, 9)])
def test_bad_draft_tree_is_a_clear_error(bad):
    with pytest.raises(ConfigurationError, match="draft_tree"):
        parse_tree_shape(bad)


def test_tree_shapes():
    assert parse_tree_shape(3) == (3,)
    assert parse_tree_shape("2,2,1") == (2, 2, 1)
    assert parse_tree_shape([4, 2]) == (4, 2)


def test_generate_with_draft_tree_through_the_api():
    """generate(draft=..., draft_tree=...) and --draft-tree: greedy gives greedy decoding's tokens, AWRS the plain
    AWRS tokens for the seed; draft_tree without draft, or with method='smc', is a clear error."""
    import argparse

    import corral
    from corral.cli import build_parser
    from corral.options import GenerateOptions

    arith = "start: e\ne: NUM | e \"+\" e | \"(\" e \")\"\nNUM: /[0-9]+/\n"
    plain = corral.generate("Compute: ", grammar=arith, max_tokens=24, temperature=0)
    tree = corral.generate("Compute: ", grammar=arith, max_tokens=24, temperature=0, draft="model", draft_tree=(2, 2))
    assert tree.token_ids == plain.token_ids and tree.stats["target_forwards"] < len(plain.token_ids)
    awrs = corral.generate("Compute: ", grammar=arith, max_tokens=24, seed=4, method="awrs")
    awrs_tree = corral.generate("Compute: ", grammar=arith, max_tokens=24, seed=4, method="awrs", draft="auto",
                                draft_tree=3)
    assert awrs_tree.token_ids == awrs.token_ids
    for kw in (dict(draft_tree=2), dict(draft="auto", draft_tree=2, method="smc")):
        with pytest.raises(ConfigurationError, match="draft_tree"):
            corral.generate("x", regex="a+", max_tokens=4, **kw)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    args = sub.choices["generate"].parse_args(["p", "--draft", "ngram", "--draft-tree", "2,3"])
    assert GenerateOptions.from_cli(args).speculation.draft_tree == (2, 3)
