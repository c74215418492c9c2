"""Drafters (n-gram, grammar fast-forward, draft model), the draft-length policies, and the embedded-pair path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from corral.compile.grammar import Grammar
from corral.drafters import (
    AdaptivePolicy,
    CompositeDrafter,
    FastForwardDrafter,
    FixedPolicy,
    ModelDrafter,
    NGramDrafter,
    make_drafter,
    make_policy,
)
from corral.drafters.forced import forced_bytes
from corral.models.toy import ToyModel
from corral.runtime.matcher import CompiledGrammar

def test_ngram_proposes_most_frequent_allowed_continuation():
    toy = ToyModel.random(["x", "y", "z", "w"], seed=0)
    d = NGramDrafter(toy.vocab, order=2)
    d.begin([0, 1, 2, 0, 1, 3, 0, 1, 2])  # x y z x y w x y z
    mask = np.ones(toy.vocab.size, dtype=bool)
    p = d.propose([3, 0, 1], None, mask)
    assert p.kind == "ngram" and p.token == 2 and 0 < p.feature < 1
    mask[2] = False  # z forbidden: the next most frequent allowed continuation
    assert d.propose([3, 0, 1], None, mask).token == 3
    assert d.propose([3], None, np.ones(toy.vocab.size, bool)).token == 0  # order-1 back-off
    d.observe([0, 1, 2, 0, 1, 3, 0, 1, 2, 3, 3, 3, 3])  # online update
    assert d.propose([3, 3], None, np.ones(toy.vocab.size, bool)).token == 3
    strict = NGramDrafter(toy.vocab, order=2, min_feature=0.9)
    strict.begin([0, 1, 2, 0, 1, 3])
    assert strict.propose([0, 1], None, np.ones(toy.vocab.size, bool)) is None


def test_fast_forward_forced_bytes_and_back_off():
    toks = ["h", "e", "l", "o", "he", "hel", "lo", "llo", "a", "b", "loa"]
    toy = ToyModel.random(toks, seed=0)
    cg = CompiledGrammar(Grammar.from_lark('start: "hello" NAME\nNAME: /[ab]+/'), toy.vocab)
    m = cg.matcher()
    assert forced_bytes(m) == b"hello"
    ff = FastForwardDrafter(toy.vocab)
    plan = ff.plan(m, m.mask())
    data = b"".join(toy.vocab.token_bytes[t] for t in plan)
    assert b"hello".startswith(data) and data  # a tokenization of a prefix of the forced string
    assert not data.endswith(b"lo")  # "lo" could grow into "loa" across the boundary: backed off
    # proposals follow the plan while the context does; never a token the mask forbids
    ctx = [toy.eos_token_id]
    for t in plan:
        p = ff.propose(ctx, m, m.mask())
        assert p is not None and p.kind == "ff" and p.token == t and m.check(t)
        m.advance(t)
        ctx.append(t)
    m.advance(toks.index("lo"))
    assert forced_bytes(m) == b""  # NAME may take a or b: nothing forced
    assert ff.propose(ctx + [toks.index("lo")], m, m.mask()) is None


def test_policies():
    fixed = make_policy(3)
    assert isinstance(fixed, FixedPolicy)
    assert [fixed.keep_going(n, 0.0) for n in range(5)] == [True, True, True, False, False]
    pol = make_policy("adaptive")
    assert isinstance(pol, AdaptivePolicy)
    assert pol.predict("forced", 0.1) == 1.0  # forced tokens are certain
    before = pol.predict("model", 0.85)
    for _ in range(30):
        pol.update("model", 0.85, False)
    assert pol.predict("model", 0.85) < 0.2 < before  # learns from the acceptance history
    assert pol.keep_going(0, 1.0, cost=1.0)
    assert not pol.keep_going(1, 0.1, cost=1.0)  # predicted rejection probability 0.9 > h
    assert not pol.keep_going(pol.max_length, 1.0)
    with pytest.raises(ValueError):
        make_policy("often")


@pytest.fixture(scope="module")
def embedded():
    from corral.models.hf import HFModel, default_model_path

    torch.set_num_threads(1)
    target = HFModel.load(None)
    draft = HFModel.load(default_model_path("draft"))
    return target, draft


def test_make_drafter(embedded):
    target, draft = embedded
    assert make_drafter(None, target) is None
    assert isinstance(make_drafter("ngram", target), NGramDrafter)
    assert isinstance(make_drafter("forced", target), FastForwardDrafter)
    auto = make_drafter("auto", target)
    assert isinstance(auto, CompositeDrafter)
    kinds = [type(d) for d in auto.drafters]
    assert kinds == [FastForwardDrafter, NGramDrafter, ModelDrafter]
    assert isinstance(make_drafter(draft, target), ModelDrafter)
    toy = ToyModel.random(["a", "b"], seed=0)
    auto_toy = make_drafter("auto", toy)  # not the embedded target: no draft model
    assert [type(d) for d in auto_toy.drafters] == [FastForwardDrafter, NGramDrafter]
    with pytest.raises(ValueError):
        make_drafter(toy, target)  # another vocabulary
    with pytest.raises(ValueError):
        make_drafter("sometimes", target)


def test_lean_gpt2_matches_hugging_face(embedded):
    from corral.drafters.model import LeanGPT2

    for model in embedded:
        assert LeanGPT2.supports(model)
        lean = LeanGPT2(model)
        ids = model.encode("Write an SQL query:\n")
        a, b = model.start(ids), lean.start(ids)
        for step in range(12):
            la, lb = a.logprobs(), b.logprobs()
            assert torch.allclose(la, lb, atol=1e-4)
            tok = int(la.argmax())
            a.append(tok)
            b.append(tok)
            if step == 5:
                a.crop(2)
                b.crop(2)
            if step == 8:
                a.extend([5, 6])
                b.extend([5, 6])


PERSON = r"""
start: "{\"name\":" STRING ",\"age\":" INT (",\"email\":" STRING)? "}"
STRING: /"[a-zA-Z .@]{1,30}"/
INT: /[0-9]{1,3}/
"""


def test_embedded_pair_speculative_json(embedded):
    from corral.samplers.masking import sample_sequence
    from corral.samplers.speculative import speculative_sample_sequence

    target, _ = embedded
    cg = CompiledGrammar(Grammar.from_lark(PERSON), target.vocab)
    ids = target.encode("Generate a JSON object describing a person:\n")
    # greedy: speculation returns exactly greedy masked decoding
    ref = sample_sequence(target.start(ids), cg.matcher(), max_tokens=80, temperature=0)
    out = speculative_sample_sequence(target.start(ids), cg.matcher(), drafter=make_drafter("auto", target),
                                      max_tokens=80, temperature=0)
    assert out.tokens == ref.tokens
    assert out.stats.tokens_per_target_forward > 1.5
    # sampling: valid, complete, statistics consistent
    gen = torch.Generator().manual_seed(0)
    drafter = make_drafter("auto", target)
    for verify in ("d1", "d2"):
        out = speculative_sample_sequence(target.start(ids), cg.matcher(), drafter=drafter, verify=verify,
                                          max_tokens=200, generator=gen, stream=1)
        assert out.status == "complete"
        data = target.vocab.decode(out.tokens)
        assert cg.accepts(data)
        # the grammar admits ages with leading zeros ("age":00), which JSON does not: check its keys, not json.loads
        assert data.startswith(b'{"name":"') and b'","age":' in data
        st = out.stats
        assert st.emitted == len(out.tokens) and st.rounds == st.target_forwards
        assert 0 <= st.accepted <= st.drafted and st.tokens_per_target_forward >= 1
