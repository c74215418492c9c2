"""Masked sampling: support, exact law (temperature, top-k, top-p on the constrained law), seeding, dead ends."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from corral.errors import GenerationError
from corral.samplers.masking import (
    constrained_law,
    constrained_logprobs,
    sample_sequence,
    sample_token,
    validate_sampling,
)


class Borderline(Exception):
    """A truncation threshold is within rounding error of a probability: both answers are right."""


def reference_law(logprobs: np.ndarray, mask: np.ndarray, temperature, top_k, top_p) -> np.ndarray:
    """The documented law, written independently: float64 probabilities over all ids."""
    lp = np.asarray(logprobs, dtype=np.float64)
    allowed = np.flatnonzero(mask)
    if not temperature:
        best = allowed[np.argmax(lp[allowed])]
        out = np.zeros(len(lp))
        out[best] = 1.0
        return out
    z = lp[allowed] / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    if top_k is not None and top_k < len(allowed):
        kth = np.sort(p)[::-1][top_k - 1]
        if np.any((np.abs(p - kth) < 1e-9 * kth) & (p != kth)):
            raise Borderline
        p = np.where(p >= kth * (1 - 1e-12), p, 0.0)
        p /= p.sum()
    if top_p is not None and top_p < 1:
        order = sorted(range(len(p)), key=lambda i: (-p[i], i))
        mass, keep = 0.0, np.zeros(len(p), dtype=bool)
        for rank, i in enumerate(order):
            if p[i] == 0:
                break
            if rank > 0 and abs(mass - top_p) < 1e-9:
                raise Borderline
            if rank == 0 or mass < top_p:
                keep[i] = True
            mass += p[i]
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    out = np.zeros(len(lp))
    out[allowed] = p
    return out


def logits_and_mask(draw_logits, draw_mask):
    logits = torch.tensor(draw_logits, dtype=torch.float32)
    return torch.log_softmax(logits, dim=0), np.array(draw_mask, dtype=bool)


problem = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-20, 20, allow_nan=False, width=32), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n).filter(any),
        st.one_of(st.none(), st.just(0.0), st.floats(0.05, 5.0)),
        st.one_of(st.none(), st.integers(1, 10)),
        st.one_of(st.none(), st.floats(0.05, 1.0)),
        st.integers(0, 2**32 - 1),
    )
)


@settings(max_examples=150, deadline=None)
@given(problem)
def test_never_samples_a_masked_token_and_law_matches_reference(case):
    raw, mask_list, temperature, top_k, top_p, seed = case
    lp, mask = logits_and_mask(raw, mask_list)
    gen = torch.Generator().manual_seed(seed)
    token, logprob, model_lp = sample_token(lp, mask, temperature=temperature, top_k=top_k, top_p=top_p, generator=gen)
    assert mask[token]
    assert model_lp == pytest.approx(float(lp[token]))
    law = np.exp(constrained_logprobs(lp, mask, temperature=temperature, top_k=top_k, top_p=top_p))
    assert law[~mask].sum() == 0
    assert law.sum() == pytest.approx(1.0, abs=1e-9)
    assert law[token] > 0
    assert logprob == pytest.approx(math.log(law[token]), abs=1e-9)
    try:
        ref = reference_law(lp.numpy(), mask, temperature, top_k, top_p)
    except Borderline:
        assume(False)
    np.testing.assert_allclose(law, ref, atol=1e-6)


def test_greedy_is_argmax_of_masked_logits():
    rng = np.random.default_rng(0)
    for _ in range(50):
        lp = torch.log_softmax(torch.tensor(rng.normal(size=30) * 3, dtype=torch.float32), dim=0)
        mask = rng.random(30) < 0.3
        mask[rng.integers(30)] = True
        expected = int(np.flatnonzero(mask)[np.argmax(lp.numpy()[mask])])
        for temperature in (0, 0.0, None):
            token, logprob, _ = sample_token(lp, mask, temperature=temperature)
            assert token == expected
            assert logprob == 0.0


def test_top_k_and_top_p_apply_to_the_constrained_law():
    # Unconstrained, tokens 0 and 1 dominate; the mask removes them, so top-k/top-p must act on 2..5.
    probs = np.array([0.5, 0.3, 0.08, 0.06, 0.04, 0.02])
    lp = torch.tensor(np.log(probs), dtype=torch.float32)
    mask = np.array([False, False, True, True, True, True])
    law = np.exp(constrained_logprobs(lp, mask, top_k=2))
    np.testing.assert_allclose(law, [0, 0, 0.08 / 0.14, 0.06 / 0.14, 0, 0], atol=1e-6)
    # constrained law: 0.4, 0.3, 0.2, 0.1 -> top_p=0.6 keeps the first two (0.4 < 0.6, 0.7 >= 0.6 stops).
    law = np.exp(constrained_logprobs(lp, mask, top_p=0.6))
    np.testing.assert_allclose(law, [0, 0, 4 / 7, 3 / 7, 0, 0], atol=1e-6)
    law = np.exp(constrained_logprobs(lp, mask, top_p=0.7))
    np.testing.assert_allclose(law, [0, 0, 4 / 7, 3 / 7, 0, 0], atol=1e-6)
    law = np.exp(constrained_logprobs(lp, mask, top_p=0.71))
    np.testing.assert_allclose(law, [0, 0, 4 / 9, 3 / 9, 2 / 9, 0], atol=1e-6)
    # temperature 2 on the constrained law: p ∝ sqrt(p)
    law = np.exp(constrained_logprobs(lp, mask, temperature=2.0))
    s = np.sqrt(probs[2:])
    np.testing.assert_allclose(law[2:], s / s.sum(), atol=1e-6)


def test_empirical_frequencies_follow_the_law():
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    lp = torch.tensor(np.log(probs), dtype=torch.float32)
    mask = np.array([True, False, True, True])
    gen = torch.Generator().manual_seed(1)
    counts = np.zeros(4)
    n = 4000
    for _ in range(n):
        counts[sample_token(lp, mask, generator=gen)[0]] += 1
    expected = np.array([0.125, 0, 0.375, 0.5])
    assert counts[1] == 0
    assert np.all(np.abs(counts / n - expected) < 0.03)


def test_seeded_reproducibility():
    lp = torch.log_softmax(torch.randn(100, generator=torch.Generator().manual_seed(3)), dim=0)
    mask = np.ones(100, dtype=bool)

    def draw(seed):
        gen = torch.Generator().manual_seed(seed)
        return [sample_token(lp, mask, temperature=1.3, top_p=0.9, generator=gen)[0] for _ in range(30)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_all_false_mask_raises():
    lp = torch.log_softmax(torch.zeros(5), dim=0)
    with pytest.raises(GenerationError, match="no allowed token"):
        sample_token(lp, np.zeros(5, dtype=bool))


def test_allowed_tokens_with_zero_probability_are_never_sampled():
    lp = torch.tensor([0.0, float("-inf"), float("-inf")])
    assert sample_token(lp, np.array([True, True, False]))[0] == 0
    with pytest.raises(GenerationError):
        sample_token(lp, np.array([False, True, True]))


def test_mask_longer_or_shorter_than_vocabulary():
    lp = torch.log_softmax(torch.zeros(6), dim=0)
    ids, _ = constrained_law(lp, np.array([False, True, False, False, False, False, True, True]))
    assert ids.tolist() == [1]  # trimmed: ids >= 6 ignored
    ids, _ = constrained_law(lp, np.array([False, True, True]))
    assert ids.tolist() == [1, 2]  # padded with False


@pytest.mark.parametrize(
    "kwargs",
    [dict(temperature=-1), dict(temperature=float("nan")), dict(top_k=0), dict(top_k=1.5), dict(top_p=0), dict(top_p=1.5)],
)
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        validate_sampling(**kwargs)


class _FakeModel:
    eos_token_ids = frozenset({0})


class _FakeSequence:
    """Next-token law depends only on the sequence length."""

    def __init__(self, table, max_length=None):
        self.model = _FakeModel()
        self.tokens = [5]
        self.table = table
        self.max_length = max_length

    def logprobs(self):
        return self.table[min(len(self.tokens) - 1, len(self.table) - 1)]

    def append(self, token):
        self.tokens.append(token)


class _CountMatcher:
    """Language: exactly `n` copies of token 1 (bytes irrelevant here); vocabulary of 3 tokens, EOS = 0."""

    def __init__(self, n):
        self.n, self.seen, self.done = n, 0, False

    def mask(self):
        return np.array([self.seen == self.n, self.seen < self.n, False])

    def advance(self, token):
        assert self.mask()[token]
        if token == 0:
            self.done = True
        else:
            self.seen += 1

    def is_complete(self):
        return self.seen == self.n


def test_sample_sequence_complete_and_logprobs():
    table = [torch.log(torch.tensor([0.2, 0.3, 0.5]))]
    seq = _FakeSequence(table)
    out = sample_sequence(seq, _CountMatcher(3), max_tokens=10, generator=torch.Generator().manual_seed(0))
    assert out.status == "complete"
    assert out.tokens == [1, 1, 1, 0]
    assert seq.tokens == [5, 1, 1, 1]  # EOS is not appended to the sequence
    assert out.logprob == pytest.approx(0.0)  # every step was forced
    assert out.model_logprob == pytest.approx(3 * math.log(0.3) + math.log(0.2), rel=1e-6)


def test_sample_sequence_length_status():
    table = [torch.log(torch.tensor([0.2, 0.3, 0.5]))]
    out = sample_sequence(_FakeSequence(table), _CountMatcher(3), max_tokens=2)
    assert out.status == "length" and out.tokens == [1, 1]
    # the model's context (3 tokens: the prompt and two more) runs out before EOS
    out = sample_sequence(_FakeSequence(table, max_length=3), _CountMatcher(3), max_tokens=10)
    assert out.status == "length" and out.tokens == [1, 1, 1]


@pytest.mark.parametrize("seed", range(6))
def test_top_p_on_large_vocabularies(seed):
    # more allowed tokens than the top-p candidate pre-selection (1024): fast path and its fall-backs
    rng = np.random.default_rng(seed)
    n = 3000
    logits = rng.normal(size=n) * (4.0 if seed % 2 else 0.5)
    if seed >= 4:
        logits = np.round(logits)  # many ties, including at the candidate boundary
    lp = torch.log_softmax(torch.tensor(logits, dtype=torch.float32), dim=0)
    mask = rng.random(n) < 0.8
    for top_p in (0.1, 0.5, 0.9, 0.99):
        for temperature in (1.0, 0.7):
            try:
                ref = reference_law(lp.numpy(), mask, temperature, None, top_p)
            except Borderline:
                continue
            law = np.exp(constrained_logprobs(lp, mask, temperature=temperature, top_p=top_p))
            np.testing.assert_allclose(law, ref, atol=1e-9)
