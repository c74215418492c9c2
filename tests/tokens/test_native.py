"""The compiled hot loops (``corral._native``) against their Python specifications, on real vocabularies.

The table build (trie walk) is compared with the numpy DFA runs in ``tests/tokens/test_index.py``; here: the suffix ids,
the class groups, the remainder runs of ``explore``, the packed-mask batch copy, and that the module is built.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tokenizer_path
from corral.automata.regex import compile_regex
from corral.tokens import native
from corral.tokens.index import TokenIndex
from corral.tokens.vocabulary import Vocabulary


@pytest.fixture(scope="module", params=["gpt2", "llama3"])
def vocab(request):
    return Vocabulary.from_huggingface(str(tokenizer_path(request.param)))


def test_native_module_is_built():
    """``pip install -e .`` builds the extension; the Python fallbacks are the specification, not the product."""
    assert native.NATIVE, "corral._native is missing: reinstall with pip install -e ."


def test_suffix_ids_match_the_specification(vocab):
    bm = np.ascontiguousarray(vocab.byte_matrix)
    lengths = vocab.lengths.astype(np.int64)
    got, starts = native.suffix_ids(bm, lengths)
    want = native.suffix_ids_py(bm, lengths, starts, np.empty_like(got))
    assert np.array_equal(got, want)
    # spot check against the token bytes: the suffix of length len-o of token t spells a token or nothing
    tb = vocab.token_bytes
    ids = {b: i for i, b in reversed(list(enumerate(tb))) if b and vocab.lengths[i] > 0}
    rng = np.random.default_rng(0)
    for t in rng.choice(np.flatnonzero(lengths > 0), 300, replace=False).tolist():
        for o in range(int(lengths[t])):
            assert got[starts[t] + o] == ids.get(tb[t][o:], -1)


@pytest.mark.parametrize("pattern", [r"[a-z]+", r'"(?:[^"\\]|\\.)*"', r"[0-9]+(\.[0-9]+)?", r"\s+"])
def test_class_groups_match_the_specification(vocab, pattern):
    from corral.tokens.index import _byte_classes

    cls, _ = _byte_classes(compile_regex(pattern).transitions)
    bm = np.ascontiguousarray(vocab.byte_matrix)
    lengths = vocab.lengths.astype(np.int64)
    order = np.flatnonzero(lengths > 0)[::-1].copy()
    got, n = native.class_groups(bm, lengths, order, cls.astype(np.uint8))
    want, m = native.class_groups_py(bm, lengths, order, cls.astype(np.uint8), np.empty(len(order), np.int64))
    assert n == m and np.array_equal(got, want)


@pytest.mark.parametrize("pattern", [r'"(?:[^"\\]|\\.)*"', r"[ \t\n]+", r"-?[0-9]+", r'"a"|"ab"|[,:]'])
def test_remainder_runs_match_the_numpy_runs(vocab, pattern):
    dfa = compile_regex(pattern)
    index = TokenIndex([dfa], vocab.byte_matrix, vocab.lengths, fingerprint=vocab.fingerprint)
    rng = np.random.default_rng(1)
    ids = rng.choice(index.candidates, 4000)
    offs = (rng.random(4000) * index.lengths[ids]).astype(np.int64)
    pos = rng.permutation(4000).astype(np.int64)
    for state in range(min(dfa.n_states, 3)):
        v1 = np.zeros(4000, dtype=bool)
        e1 = native.run_suffixes(index._trans[0], index._acc8[0], index.bm, index.lengths, ids, offs, pos, state, v1)
        v2 = np.zeros(4000, dtype=bool)
        e2 = index._run(index._trans[0], index._acc[0], ids, offs, state, viable_out=v2, pos_map=pos)
        assert np.array_equal(v1, v2)
        assert sorted(zip(*map(np.ndarray.tolist, e1))) == sorted(zip(*map(np.ndarray.tolist, e2)))


def test_copy_rows():
    rows = [np.arange(i, i + 7, dtype=np.int32) for i in range(5)]
    out = np.full((6, 7), -1, dtype=np.int32)
    native.copy_rows(rows, out)
    assert np.array_equal(out[:5], np.stack(rows)) and (out[5] == -1).all()
    with pytest.raises(ValueError):
        native.copy_rows([np.zeros(3, np.int32)], out)


def test_trie_walk_skips_dead_branches_and_reports_ends(vocab):
    """A literal terminal's table from its start state: the tokens that are prefixes of it are inside, tokens that
    extend it end there; the same as the numpy build."""
    dfa = compile_regex('"name"')
    index = TokenIndex([dfa], vocab.byte_matrix, vocab.lengths, fingerprint=vocab.fingerprint)
    inside, e_ids, e_offs = native.trie_table(index._va.trie(), index._trans[0], index._acc8[0], 0)
    for t in np.flatnonzero(inside).tolist():
        assert b'"name"'.startswith(vocab.token_bytes[t])
    for t, o in zip(e_ids.tolist(), e_offs.tolist()):
        assert vocab.token_bytes[t][:o] == b'"name"' and len(vocab.token_bytes[t]) > o
    ref = index._build_py(0, 0)
    assert np.array_equal(inside, ref.inside)
    assert sorted(zip(e_ids.tolist(), e_offs.tolist())) == sorted(zip(ref.end_ids.tolist(), ref.end_offsets.tolist()))


def _walk_masks(compiled, walks):
    """Masks (packed) along each token walk (tokens taken while allowed), and the completion flags."""
    out = []
    for toks in walks:
        m = compiled.matcher()
        for t in toks:
            out.append((m.mask_packed().copy(), m.is_complete()))
            if not m.check(t):
                break
            m.advance(t)
        out.append((m.mask_packed().copy(), m.is_complete()))
    return out


def _pure(monkeypatch):
    """Switch the token index to its Python specification, with fresh table caches."""
    from collections import OrderedDict

    import corral.tokens.index as index_module

    monkeypatch.setattr(native, "NATIVE", False)
    monkeypatch.setattr(index_module, "_SHARED", OrderedDict())


def _maskbench_sample(n_per_subset: int = 2):
    import json

    from conftest import shared_path

    out = []
    for path in sorted(shared_path("data", "jsonschemabench", "maskbench").glob("*.jsonl"))[:6]:
        with open(path) as f:
            for i, line in enumerate(f):
                if i >= n_per_subset:
                    break
                out.append(json.loads(line))
    return out


def _cases(vocab):
    """(grammar, token walks): each shipped grammar with random walks (they stop at the first disallowed token,
    so they compare the first masks), and a sample of MaskBench schemas with their instances' tokens."""
    import json
    import random
    import warnings

    from tokenizers import Tokenizer

    from corral.compile.grammar import grammar_from_source, list_shipped_grammars
    from corral.compile.json_schema import schema_to_grammar

    rng = random.Random(0)
    cases = [(grammar_from_source(name), [[rng.randrange(vocab.size) for _ in range(6)] for _ in range(2)])
             for name in list_shipped_grammars()]
    hf = Tokenizer.from_file(str(tokenizer_path("llama3") / "tokenizer.json"))
    for rec in _maskbench_sample():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grammar = schema_to_grammar(rec["schema"], whitespace="spaced")
        except ValueError:
            continue
        walks = [hf.encode(json.dumps(t["data"]), add_special_tokens=False).ids for t in rec["tests"][:2]]
        cases.append((grammar, walks))
    return cases


@pytest.mark.slow
def test_native_and_python_engines_give_identical_masks(monkeypatch):
    """On llama3, the same packed mask and completion flag at every step with the compiled engine and with the
    Python matcher on the numpy tables: shipped grammars and MaskBench schemas (MaskBench's layout, their
    instances). ``tests/runtime/test_engine.py`` compares the engine with the Python matcher in more depth."""
    from corral.runtime.matcher import CompiledGrammar

    vocab = Vocabulary.from_huggingface(str(tokenizer_path("llama3")))
    cases = _cases(vocab)
    assert len(cases) >= 8
    native_masks = [_walk_masks(CompiledGrammar(g, vocab), w) for g, w in cases]
    _pure(monkeypatch)
    python_masks = [_walk_masks(CompiledGrammar(g, vocab, native=False), w) for g, w in cases]
    for a, b in zip(native_masks, python_masks):
        assert len(a) == len(b)
        for (ma, ca), (mb, cb) in zip(a, b):
            assert ca == cb and np.array_equal(ma, mb)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to block numbering (and the same dead states)."""
    if not np.array_equal(a < 0, b < 0):
        return False
    live = a >= 0
    pairs = set(zip(a[live].tolist(), b[live].tolist()))
    return len(pairs) == len(set(a[live].tolist())) == len(set(b[live].tolist()))


@pytest.mark.parametrize("method", ["moore", "hopcroft"])
def test_refine_partition_matches_the_numpy_rounds(method):
    from corral.automata.bytedfa import refine_partition_py

    rng = np.random.default_rng(7)
    for _ in range(300):
        n, w = int(rng.integers(1, 80)), int(rng.integers(1, 6))
        t = rng.integers(-1, n, size=(n, w))
        part = rng.integers(-1, 3, size=n)
        got = native.refine_partition(t, part, method)
        assert _same_partition(got, refine_partition_py(t, part)), (t, part)
    # a chain: n rounds for Moore, one pass for Hopcroft; all states distinct
    n = 2000
    t = np.arange(1, n + 1).reshape(n, 1)
    t[-1, 0] = -1
    part = np.zeros(n, dtype=np.int64)
    part[-1] = 1
    assert len(set(native.refine_partition(t, part, method).tolist())) == n


def test_minimised_dfas_equal_the_numpy_minimisation(monkeypatch):
    """Regex DFAs built natively (subset construction and minimisation in C) equal those built in Python (both
    canonically numbered)."""
    from corral.automata import regex as regex_module

    patterns = [r"[a-z]+@[a-z]+\.(com|org)", r"(ab|a)*b?c{2,5}", r'"(?:[^"\\]|\\.){0,20}"', r"(foo|bar|baz|qux)+",
                r"(a|b)*a(a|b){8}", r"\d{1,3}(\.\d{1,3}){3}", r"[\u0400-\u04ff]+x|[^\x00-\x7f]{2}", r"(?i)straße|ǅ+"]
    native_dfas = [regex_module._compile_cached.__wrapped__(p, frozenset()) for p in patterns]
    monkeypatch.setattr(native, "NATIVE", False)
    for p, d in zip(patterns, native_dfas):
        ref = regex_module._compile_cached.__wrapped__(p, frozenset())
        assert np.array_equal(ref.transitions, d.transitions) and np.array_equal(ref.accepting, d.accepting), p


def test_determinize_refuses_past_the_state_budget():
    """The subset construction stops at its state budget (an exponential blow-up is an error, not a hang)."""
    from corral.automata import regex as regex_module
    from corral.errors import RegexError

    with pytest.raises(RegexError, match="too large"):
        regex_module._compile_cached.__wrapped__(r"(a|b)*a(a|b){20}", frozenset())


@pytest.mark.parametrize("pattern", [r"[a-z]+@[a-z]+\.(?:com|org)", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}",
                                     r'"(?:[^"\\]|\\.)*"', r"(?:é|日|[A-F0-9])*"])
def test_column_classes_match_sorting_the_columns(pattern, monkeypatch):
    """The byte classes from the C passes equal those of sorting the columns (the specification), on real DFAs
    and on random tables with repeated columns; without the module (or on a collision) the specification is used."""
    from corral.tokens.index import _byte_classes, _byte_classes_py

    rng = np.random.default_rng(0)
    table = rng.integers(-1, 40, size=(40, 256)).astype(np.int32)
    table[:, 100:180] = table[:, [7]]
    for t in (compile_regex(pattern).transitions, table):
        cls, n = _byte_classes(t)
        want, n_want = _byte_classes_py(t)
        assert n == n_want and np.array_equal(cls, want)
    monkeypatch.setattr(native, "column_classes", lambda t: None)
    assert np.array_equal(_byte_classes(table)[0], _byte_classes_py(table)[0])


def test_minimize_dfa_matches_the_numpy_minimisation():
    """The C minimisation gives the very tables of the numpy one: random tables (unreachable and dead states,
    repeated columns, an empty language, narrow tables) and unminimised copies of real DFAs."""
    from corral.automata.bytedfa import minimize_tables, minimize_tables_py

    rng = np.random.default_rng(3)
    tables = []
    for i in range(300):
        n = int(rng.integers(1, 50))
        t = rng.integers(-1, n, size=(n, 256))
        t[rng.random((n, 256)) < 0.9] = -1
        if i % 3 == 0:
            t[:, 100:200] = t[:, [5]]
        tables.append((t, rng.random(n) < (0.0 if i % 50 == 0 else 0.3)))
    for i in range(100):  # narrow tables (a column per symbol, as the JSON Schema digit rules build them)
        n, w = int(rng.integers(1, 30)), int(rng.integers(1, 12))
        t = rng.integers(-1, n, size=(n, w))
        t[rng.random((n, w)) < 0.5] = -1
        tables.append((t, rng.random(n) < 0.3))
    for pattern in [r'"(?:[^"\\]|\\.)*"', r"[a-z]{1,9}@[a-z]{2,5}\.com", r"(?:é|日|[A-F0-9])*", r"\d{4}-\d{2}-\d{2}"]:
        d = compile_regex(pattern)
        tables.append((np.vstack([d.transitions, d.transitions]), np.concatenate([d.accepting, d.accepting])))
    for t, acc in tables:
        got, want = minimize_tables(t, acc), minimize_tables_py(t, acc)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        assert got[0].dtype == want[0].dtype and got[1].dtype == want[1].dtype
