"""AWRS step: proper weighting proven by exact enumeration of every visiting order (ALGORITHMS.md §5.1).

For random tiny instances (vocabulary of at most 6), every without-replacement order of the candidate tokens is
enumerated with its Plackett-Luce probability; the keys that realise the order are passed to ``awrs_step`` and
``E[Ẑ·1{y=t}]`` is computed exactly. It must equal ``p(t)c(t)`` to 1e-12 (normalised ``p``), with pruning, EOS as the
only valid token, no valid token (weight -inf) and the full-mask fallback after K rejections.
"""

from __future__ import annotations

import itertools
import math
import zlib

import numpy as np
import pytest

from corral.runtime.matcher import Rejection
from corral.samplers.awrs import AWRSStep, awrs_step, gumbel_keys, logsumexp

MAX_ERR = {"value": 0.0}


def plackett_luce_orders(logp: np.ndarray, cand: list[int]):
    """Every order of ``cand`` with its probability under sampling without replacement from ``exp(logp)``."""
    p = np.exp(logp)
    for perm in itertools.permutations(cand):
        prob = 1.0
        for i, y in enumerate(perm):
            prob *= p[y] / float(p[list(perm[i:])].sum())  # remaining mass summed directly (no cancellation)
        yield perm, prob


def enumerate_step(logw, valid, *, max_rejects=None, pruned_key=50.0, groups=None, strict=True):
    """Exact ``E[Ẑ 1{y=t}]`` (vector over t), ``P(y=None)``, and the expected check count."""
    logw = np.asarray(logw, dtype=np.float64)
    size = logw.size
    cand = [t for t in range(size) if logw[t] > -np.inf]
    logp = logw - logsumexp(logw)
    expect = np.zeros(size)
    p_none = 0.0
    checks = 0.0
    full_mask = (lambda: np.array(valid, dtype=bool)) if max_rejects is not None else None
    for perm, prob in plackett_luce_orders(logp, cand):
        keys = np.full(size, pruned_key)  # pruned tokens get the largest keys: they must still be skipped
        for rank, y in enumerate(perm):
            keys[y] = -float(rank)
        check_group = None if groups is None else (lambda t: None if valid[t] else groups[t])
        st = awrs_step(logw, lambda t: bool(valid[t]), keys=keys, max_rejects=max_rejects, full_mask=full_mask,
                       check_group=check_group)
        checks += prob * st.n_checks
        if st.token is None:
            assert st.log_z == -math.inf
            p_none += prob
            continue
        assert valid[st.token]
        # the returned token is the argmax of the keys over the valid candidates
        best = max((t for t in cand if valid[t]), key=lambda t: keys[t])
        assert st.token == best or not strict
        expect[st.token] += prob * math.exp(st.log_z - logsumexp(logw))
    return expect, p_none, checks


def target(logw, valid):
    logp = np.asarray(logw) - logsumexp(logw)
    return np.where(np.asarray(valid, dtype=bool), np.exp(logp), 0.0)


def random_instance(rng, size, *, prune=False, eos_only=False, none_valid=False):
    logw = rng.normal(size=size) * rng.choice([0.5, 2.0, 4.0]) + rng.normal() * 3
    if prune:
        k = rng.integers(1, size - 1)
        logw[rng.choice(size, size=k, replace=False)] = -np.inf
    cand = np.flatnonzero(logw > -np.inf)
    valid = rng.random(size) < 0.5
    if eos_only:
        valid[:] = False
        valid[size - 1] = True  # EOS is the last id; its check is is_complete()
        logw[size - 1] = rng.normal()
        cand = np.flatnonzero(logw > -np.inf)
    elif none_valid:
        valid[cand] = False
    elif not valid[cand].any():
        valid[rng.choice(cand)] = True
    return logw, valid


def random_groups(rng, valid):
    """For each invalid token, a fixed random set of invalid tokens containing it (what ``check_group`` returns)."""
    bad = np.flatnonzero(~np.asarray(valid, dtype=bool))
    return {int(t): np.array(sorted({int(t)} | {int(u) for u in bad if rng.random() < 0.5}), dtype=np.int64)
            for t in bad}


def first_byte_groups(rng, valid, logw):
    """Rejection groups with a first-byte part: tokens get first bytes in {0, 1, 2} (-1 for one EOS-like id), a
    random set of bytes is dead (its tokens become invalid), and each rejection also names a random invalid set."""
    size = len(valid)
    fb = rng.integers(0, 3, size=size).astype(np.int16)
    fb[size - 1] = -1
    dead = rng.random(3) < 0.4
    valid = np.asarray(valid, dtype=bool) & ~((fb >= 0) & dead[np.maximum(fb, 0)])
    cand = np.flatnonzero(np.asarray(logw) > -np.inf)
    if not valid[cand].any():  # keep one valid candidate: its first byte is -1 (like EOS) or a live byte
        c = int(rng.choice(cand))
        valid[c] = True
        live = np.flatnonzero(~dead)
        fb[c] = int(rng.choice(live)) if live.size else -1
    ids = random_groups(rng, valid)
    allowed = np.ones(256, dtype=bool)
    allowed[:3] = ~dead
    groups = {t: Rejection(g, allowed, fb) for t, g in ids.items()}
    return valid, groups


@pytest.mark.parametrize("variant", ["plain", "prune", "eos_only", "fallback0", "fallback1", "fallback2",
                                     "groups", "groups_prune", "groups_fallback1", "first_bytes",
                                     "first_bytes_fallback1"])
def test_proper_weighting_by_enumeration(variant):
    rng = np.random.default_rng(zlib.crc32(variant.encode()))
    worst = 0.0
    for _ in range(15):
        size = int(rng.integers(1 if variant == "plain" else 3, 7))
        logw, valid = random_instance(rng, size, prune=variant.endswith("prune") or ("fallback" in variant
                                                                                    and rng.random() < 0.5),
                                      eos_only=variant == "eos_only")
        max_rejects = int(variant[-1]) if "fallback" in variant else None
        groups = random_groups(rng, valid) if variant.startswith("groups") else None
        if variant.startswith("first_bytes"):
            valid, groups = first_byte_groups(rng, valid, logw)
        expect, p_none, _ = enumerate_step(logw, valid, max_rejects=max_rejects, groups=groups)
        err = float(np.abs(expect - target(logw, valid)).max())
        worst = max(worst, err)
        assert err < 1e-12, (variant, logw, valid, expect, target(logw, valid))
        assert p_none == 0.0
    MAX_ERR["value"] = max(MAX_ERR["value"], worst)
    print(f"max enumeration error ({variant}): {worst:.2e}")


def test_no_valid_token_gives_minus_inf():
    rng = np.random.default_rng(3)
    for _ in range(6):
        size = int(rng.integers(2, 7))
        logw, valid = random_instance(rng, size, none_valid=True)
        for mr in (None, 0, 1):
            expect, p_none, _ = enumerate_step(logw, valid, max_rejects=mr)
            assert np.all(expect == 0) and abs(p_none - 1) < 1e-12
    st = awrs_step(np.full(4, -np.inf), lambda t: True)
    assert st == AWRSStep(None, -math.inf, 0, 0, False)


def test_checks_are_only_on_visited_tokens():
    logw = np.log(np.array([0.7, 0.2, 0.1]))
    seen = []

    def check(t):
        seen.append(t)
        return True

    st = awrs_step(logw, check, keys=np.array([3.0, 2.0, 1.0]))
    # accept token 0, test its successor 1 (valid) -> Ẑ = 1 - R = 1
    assert st.token == 0 and seen == [0, 1] and st.n_checks == 2 and st.n_rejects == 0
    assert abs(st.log_z) < 1e-15
    seen.clear()
    st = awrs_step(logw, lambda t: (seen.append(t), t == 0)[1], keys=np.array([3.0, 2.0, 1.0]))
    # successor invalid -> Ẑ = p(y)
    assert st.token == 0 and abs(st.log_z - math.log(0.7)) < 1e-15 and seen == [0, 1]


def reference_step(logw, valid, keys):
    """The recursive estimator written plainly, with a full sort (the oracle for the chunked visit order)."""
    logp = logw - logsumexp(logw)
    cand = np.flatnonzero(logw > -np.inf)
    order = cand[np.lexsort((cand, -keys[cand]))]
    rej = []
    for i, y in enumerate(order):
        if valid[y]:
            rest = [t for t in cand if t not in set(rej)]
            if i + 1 == len(order) or valid[order[i + 1]]:
                return int(y), logsumexp(logw[rest])
            return int(y), float(logw[y])
        rej.append(y)
    return None, -math.inf


@pytest.mark.parametrize("size", [100, 5000])
def test_chunked_visit_order_matches_full_sort(size):
    rng = np.random.default_rng(size)
    for trial in range(12):
        logw = rng.normal(size=size) * 2
        logw[rng.random(size) < 0.2] = -np.inf
        density = [0.5, 0.01, 0.001, 0.0][trial % 4]
        valid = rng.random(size) < density
        keys = logw + gumbel_keys(trial, 0, size)
        st = awrs_step(logw, lambda t: bool(valid[t]), keys=keys)
        ref = reference_step(logw, valid, keys)
        assert st.token == ref[0]
        if ref[0] is None:
            assert st.log_z == -math.inf
        else:
            assert abs(st.log_z - ref[1]) < 1e-9


def test_fallback_returns_same_token_as_loop():
    rng = np.random.default_rng(7)
    size = 3000
    for trial in range(20):
        logw = rng.normal(size=size)
        valid = rng.random(size) < 0.01
        keys = logw + gumbel_keys(99, trial, size)
        a = awrs_step(logw, lambda t: bool(valid[t]), keys=keys)
        b = awrs_step(logw, lambda t: bool(valid[t]), keys=keys, max_rejects=3, full_mask=lambda: valid)
        assert a.token == b.token and b.fallback
        assert abs(b.log_z - logsumexp(logw[valid])) < 1e-12
        assert b.n_rejects == 3


def test_monte_carlo_with_rng_and_streams():
    """The default noise paths (rng= and gumbel_keys) are Gumbel: E[Ẑ 1{y=t}] = p(t)c(t) within 5 sigma."""
    logw = np.array([0.3, -1.0, 1.2, -0.4, 0.0])
    valid = np.array([True, False, False, True, True])
    tgt = target(logw, valid)
    n = 3000
    for mode in ("rng", "stream"):
        rng = np.random.default_rng(11)
        vals = np.zeros((n, logw.size))
        for i in range(n):
            if mode == "rng":
                st = awrs_step(logw, lambda t: bool(valid[t]), rng=rng)
            else:
                st = awrs_step(logw, lambda t: bool(valid[t]), keys=logw + gumbel_keys(5, i, logw.size))
            vals[i, st.token] = math.exp(st.log_z - logsumexp(logw))
        mean, se = vals.mean(0), vals.std(0) / math.sqrt(n) + 1e-12
        assert np.all(np.abs(mean - tgt) < 5 * se + 1e-12), (mode, mean, tgt, se)


def test_gumbel_keys_are_counter_based():
    a = gumbel_keys(3, 4, 1000)
    assert a.dtype == np.float64 and a.shape == (1000,)
    assert np.array_equal(a, gumbel_keys(3, 4, 1000))
    assert not np.array_equal(a, gumbel_keys(3, 5, 1000))
    assert not np.array_equal(a, gumbel_keys(4, 4, 1000))
    # standard Gumbel: mean = Euler-Mascheroni constant, variance pi^2/6
    big = gumbel_keys(1, 2, 200_000)
    assert abs(big.mean() - 0.5772156649) < 0.01
    assert abs(big.var() - math.pi**2 / 6) < 0.03


def test_errors():
    with pytest.raises(ValueError):
        awrs_step(np.array([0.0, np.nan]), lambda t: True)
    with pytest.raises(ValueError):
        awrs_step(np.zeros(3), lambda t: True, max_rejects=2)
    with pytest.raises(ValueError):
        awrs_step(np.zeros(3), lambda t: True, keys=np.zeros(4))


def test_groups_save_checks_and_a_group_holding_a_valid_token_breaks_weighting():
    """Dropping known-invalid groups never costs checks; a group that wrongly holds a valid token is caught."""
    rng = np.random.default_rng(7)
    worst_bad = 0.0
    for _ in range(20):
        size = int(rng.integers(4, 7))
        logw, valid = random_instance(rng, size)
        groups = random_groups(rng, valid)
        _, _, plain = enumerate_step(logw, valid)
        _, _, grouped = enumerate_step(logw, valid, groups=groups)
        assert grouped <= plain + 1e-12
        good = np.flatnonzero(valid)
        if len(good) >= 2 and groups:
            wrong = {t: np.append(g, good[0]) for t, g in groups.items()}  # negative control
            expect, _, _ = enumerate_step(logw, valid, groups=wrong, strict=False)
            worst_bad = max(worst_bad, float(np.abs(expect - target(logw, valid)).max()))
    assert worst_bad > 1e-3


def test_matcher_rejections_match_their_explicit_groups():
    """awrs_step with Matcher.check_group (and Matcher.implied) (first-byte part kept as a byte table) returns the same token and weight
    as with the same groups spelled out as ids, along random walks of a JSON Schema grammar on a real vocabulary."""
    from transformers import AutoTokenizer

    from corral.compile.json_schema import schema_to_grammar
    from corral.models.hf import default_model_path
    from corral.runtime.matcher import CompiledGrammar
    from corral.tokens.vocabulary import Vocabulary

    vocab = Vocabulary.from_huggingface(AutoTokenizer.from_pretrained(str(default_model_path())))
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
                                               "n": {"type": "integer", "maximum": 130}}, "required": ["name", "n"]}
    compiled = CompiledGrammar(schema_to_grammar(schema), vocab)
    rng = np.random.default_rng(3)
    compared = 0
    for walk in range(6):
        m = compiled.matcher()
        for pos in range(40):
            logw = rng.normal(size=vocab.size) * 3.0
            keys = logw + gumbel_keys(walk, pos, vocab.size)
            a = awrs_step(logw, m.check, keys=keys, check_group=m.check_group)
            b = awrs_step(logw, m.check, keys=keys, check_group=lambda t: (lambda r: None if r is None
                                                                           else r.all_ids())(m.check_group(t)))
            c = awrs_step(logw, m.check, keys=keys)
            d = awrs_step(logw, m.check, keys=keys, check_group=m.check_group, implied=m.implied)
            assert a.token == b.token == c.token == d.token
            assert abs(a.log_z - b.log_z) < 1e-9 and a.n_checks == b.n_checks <= c.n_checks
            assert d.log_z == a.log_z and d.n_checks <= a.n_checks  # a known-valid successor is not checked
            compared += 1
            if a.token is None or m.is_complete() and rng.random() < 0.2:
                break
            m.advance(a.token)
            if m.is_terminated():
                break
    assert compared > 60
