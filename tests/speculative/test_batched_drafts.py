"""Batched drafting of tree branches (corral.drafters.lean_batch, Drafter.propose_many).

* The lean GPT-2 runner scores several branches over a shared prefix in one forward (:class:`LeanTree`) with the
  log-probabilities of one-at-a-time chains (random branches of different lengths, new nodes several deep, repeated
  calls that reuse cached nodes); adopting an accepted branch into the sequence gives the chain's cache.
* ``ModelDrafter.propose_many`` equals one ``propose`` per context, counts one forward per batch, and falls back to
  one at a time where it cannot batch; ``Drafter.propose_many``'s default, ``CompositeDrafter`` and
  ``propose_batch`` give what ``propose`` gives.
* Tree rounds grow breadth first: one ``propose_many`` per depth; with the embedded pair, greedy trees give greedy
  decoding's tokens and D2 trees plain AWRS's tokens.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from corral.compile.grammar import Grammar
from corral.drafters import CompositeDrafter, FastForwardDrafter, ModelDrafter, NGramDrafter
from corral.drafters.base import Drafter, propose_batch
from corral.drafters.lean_batch import LeanTree, common_prefix
from corral.models.toy import ToyModel
from corral.protocols import Proposal
from corral.runtime.matcher import CompiledGrammar
from corral.samplers.speculative import speculative_sample_sequence

ATOL = RTOL = 1e-5


@pytest.fixture(scope="module")
def embedded():
    from corral.models.hf import HFModel, default_model_path

    torch.set_num_threads(1)
    return HFModel.load(None), HFModel.load(default_model_path("draft"))


@pytest.fixture(scope="module")
def lean(embedded):
    from corral.drafters.model import LeanGPT2

    return LeanGPT2(embedded[1])


def _chain(lean, ctx):
    """Log-probabilities after ``ctx`` by the plain incremental forward, one token at a time."""
    seq = lean.start(ctx[:1])
    for t in ctx[1:]:
        seq.logprobs()
        seq.append(t)
    return seq.logprobs()


def _close(a, b):
    assert torch.allclose(a, b, atol=ATOL, rtol=RTOL), float((a - b).abs().max())


def test_common_prefix():
    assert common_prefix([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix([[1, 2, 3]]) == 3
    assert common_prefix([[5], [1, 2]]) == 0


@pytest.mark.parametrize("seed", range(4))
def test_tree_forward_matches_chains(lean, seed):
    """Random branches of different lengths over a shared prefix, fed in rounds (each round adds 1 to 3 tokens to
    some branches, new branches split off old ones): every row equals the chain's, to float tolerance."""
    rng = random.Random(seed)
    V = lean.vocab.size
    prefix = [rng.randrange(V) for _ in range(rng.randrange(1, 30))]
    seq = lean.start(prefix)
    seq.logprobs()
    tree = LeanTree(seq)
    branches = [[rng.randrange(V)] for _ in range(rng.randrange(2, 6))]
    for _ in range(4):
        ctxs = [prefix + b for b in branches]
        assert all(tree.covers(c) for c in ctxs) and tree.new_slots(ctxs) <= tree.room
        before = tree.n_forward
        for ctx, lp in zip(ctxs, tree.logprobs(ctxs)):
            _close(lp, _chain(lean, ctx))
        assert tree.n_forward == before + 1  # one forward for every new node
        grown = [b + [rng.randrange(V) for _ in range(rng.randrange(1, 4))] for b in branches]
        split = [b[:rng.randrange(1, len(b) + 1)] + [rng.randrange(V)] for b in branches[:2]]
        branches = grown + split
    done = ctxs[-1]
    assert tree.new_slots([done]) == 0
    before = tree.n_forward
    _close(tree.logprobs([done])[0], _chain(lean, done))  # cached: no forward
    assert tree.n_forward == before


def test_adopt_moves_the_branch_into_the_sequence(lean):
    rng = random.Random(7)
    V = lean.vocab.size
    prefix = [rng.randrange(V) for _ in range(12)]
    seq = lean.start(prefix)
    seq.logprobs()
    tree = LeanTree(seq)
    branches = [[rng.randrange(V) for _ in range(4)] for _ in range(3)]
    tree.logprobs([prefix + b[:2] for b in branches])
    tree.logprobs([prefix + b for b in branches])
    accepted = prefix + branches[2][:3]
    assert tree.adopt(accepted + [rng.randrange(V)]) == 3
    assert seq.tokens == accepted and seq.ready
    _close(seq.logprobs(), _chain(lean, accepted))
    for t in (rng.randrange(V), rng.randrange(V)):  # the moved keys and values serve later tokens
        seq.append(t)
        accepted = accepted + [t]
        _close(seq.logprobs(), _chain(lean, accepted))


def test_model_drafter_propose_many_equals_propose(embedded):
    draft = embedded[1]
    batched, single = ModelDrafter(draft), ModelDrafter(draft)
    assert batched.model is not draft  # the lean runner
    rng = random.Random(3)
    prefix = draft.encode("Answer in JSON:\n")
    batched.begin(prefix)
    base_forwards = batched.n_forward
    branches = [[rng.randrange(draft.vocab.size)] for _ in range(4)]
    for depth in range(4):
        ctxs = [prefix + b for b in branches]
        got = batched.propose_many(ctxs, [None] * 4, [None] * 4)
        for ctx, p in zip(ctxs, got):
            assert p.kind == "model"
            _close(p.logprobs, single.propose(ctx, None, None).logprobs)
        branches = [b + [rng.randrange(draft.vocab.size)] for b in branches]
    assert batched.n_forward - base_forwards == 1 + 4  # the prefix, then one batch per depth
    assert batched.n_proposed == 16
    nxt = prefix + branches[1][:2] + [9]  # next round: the accepted branch's cache is kept
    _close(batched.propose(nxt, None, None).logprobs, single.propose(nxt, None, None).logprobs)
    assert batched.tree is None and batched.seq.tokens == nxt


def test_model_drafter_falls_back_one_at_a_time(embedded):
    draft = embedded[1]
    d, ref = ModelDrafter(draft), ModelDrafter(draft)
    limit = d.model.max_length
    cases = [
        [[1, 2, 3], [4, 5, 6]],  # nothing in common
        [[1, 2, 3], [1, 2, 3, 4]],  # one context is the common prefix
        [[1, 2, 3]],  # a single context
        [[1] * (limit + 1), [1] * limit + [2]],  # past the context length
    ]
    for ctxs in cases:
        got = d.propose_many(ctxs, [None] * len(ctxs), [None] * len(ctxs))
        for ctx, p in zip(ctxs, got):
            if len(ctx) > limit:
                assert p is None
            else:
                _close(p.logprobs, ref.propose(ctx, None, None).logprobs)
    toy = ModelDrafter(ToyModel.random(["a", "b"], seed=0))  # not the lean runner: the default loop
    ctxs = [[0, 1], [0, 0]]
    got = toy.propose_many(ctxs, [None, None], [None, None])
    assert [torch.equal(torch.as_tensor(p.logprobs), torch.as_tensor(toy.propose(c, None, None).logprobs))
            for c, p in zip(ctxs, got)] == [True, True]


class _Fixed(Drafter):
    """Proposes ``token`` after contexts of even length, nothing otherwise."""

    def __init__(self, token):
        self.token = token
        self.calls = []

    def propose(self, ctx, matcher, mask):
        self.calls.append(len(ctx))
        return Proposal("ngram", token=self.token, feature=0.5) if len(ctx) % 2 == 0 else None


class _ProtocolOnly:
    """A drafter of the protocol without propose_many."""

    cost = 0.0

    def begin(self, prompt_ids):
        pass

    def propose(self, ctx, matcher, mask):
        return Proposal("ngram", token=len(ctx), feature=1.0)

    def observe(self, ctx):
        pass


def test_default_and_composite_propose_many():
    ctxs = [[1, 2], [1, 2, 3], [4], [5, 6, 7, 8]]
    none = [None] * len(ctxs)
    a, b = _Fixed(10), _Fixed(20)
    assert [p and p.token for p in a.propose_many(ctxs, none, none)] == [10, None, None, 10]
    b.propose = lambda ctx, m, k: Proposal("ff", token=len(ctx), feature=1.0)
    comp = CompositeDrafter([a, None, b])
    got = comp.propose_many(ctxs, none, none)
    assert [(p.kind, p.token) for p in got] == [(comp.propose(c, None, None).kind, comp.propose(c, None, None).token)
                                                for c in ctxs]
    assert [p.token for p in propose_batch(_ProtocolOnly(), ctxs, none, none)] == [2, 3, 1, 4]


class _Recorder(Drafter):
    """Wraps a drafter and records the number of contexts of every propose_many call."""

    def __init__(self, inner):
        self.inner = inner
        self.cost = inner.cost
        self.batches = []

    def begin(self, prompt_ids):
        self.inner.begin(prompt_ids)

    def propose(self, ctx, matcher, mask):
        return self.inner.propose(ctx, matcher, mask)

    def propose_many(self, ctxs, matchers, masks):
        self.batches.append(len(ctxs))
        return self.inner.propose_many(ctxs, matchers, masks)


def test_tree_rounds_grow_breadth_first():
    tokens = ["a", "b", "c", "d", "e"]
    model = ToyModel(tokens, lambda ctx: np.linspace(0.0, 1.0, len(tokens) + 1))
    compiled = CompiledGrammar(Grammar.from_regex("[abcde]{8,40}"), model.vocab)
    for verify in ("d1", "d2"):
        rec = _Recorder(ModelDrafter(ToyModel.random(tokens, seed=1)))
        speculative_sample_sequence(model.start(()), compiled.matcher(), drafter=rec, draft_tree=(3, 2),
                                    draft_length=3, max_tokens=12, verify=verify, stream=0,
                                    generator=torch.Generator().manual_seed(0))
        assert rec.batches[:3] == [1, 3, 6], (verify, rec.batches)  # the root, its 3 children, their 2 each


PERSON = r"""
start: "{\"name\":" STRING ",\"age\":" INT (",\"email\":" STRING)? "}"
STRING: /"[a-zA-Z .@]{1,30}"/
INT: /[0-9]{1,3}/
"""


def test_embedded_pair_trees_are_exact(embedded):
    """With the lean draft model batching the branches: greedy trees give greedy decoding's tokens, D2 trees plain
    AWRS's tokens (and weights, to the target's float rounding); the batches do save draft forwards."""
    from corral.samplers.awrs import awrs_sample_sequence
    from corral.samplers.masking import sample_sequence

    target, draft = embedded
    cg = CompiledGrammar(Grammar.from_lark(PERSON), target.vocab)
    ids = target.encode("Generate a JSON object describing a person:\n")
    ref = sample_sequence(target.start(ids), cg.matcher(), max_tokens=60, temperature=0)
    drafter = ModelDrafter(draft)
    out = speculative_sample_sequence(target.start(ids), cg.matcher(), drafter=drafter, max_tokens=60,
                                      temperature=0, draft_length=4, draft_tree=4)
    assert out.tokens == ref.tokens
    assert drafter.n_forward < drafter.n_proposed
    for stream in range(2):
        ref = awrs_sample_sequence(target.start(ids), cg.matcher(), max_tokens=60, stream=stream)
        for tree in (2, (2, 2)):
            out = speculative_sample_sequence(target.start(ids), cg.matcher(), drafter=ModelDrafter(draft),
                                              verify="d2", draft_length=4, draft_tree=tree, max_tokens=60,
                                              stream=stream)
            assert out.tokens == ref.tokens
            # the target scores trees, not single tokens: its float rounding differs slightly
            assert out.log_weight == pytest.approx(ref.log_weight, rel=1e-6)
    auto = CompositeDrafter([FastForwardDrafter(target.vocab), NGramDrafter(target.vocab), ModelDrafter(draft)])
    gen = torch.Generator().manual_seed(0)
    out = speculative_sample_sequence(target.start(ids), cg.matcher(), drafter=auto, max_tokens=60, draft_tree=3,
                                      generator=gen)
    assert out.status == "complete" and cg.accepts(target.vocab.decode(out.tokens))
