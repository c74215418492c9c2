"""The compiled mask engine (``corral._engine``) against the Python matcher, its executable specification.

Two compiled grammars per case, ``CompiledGrammar(g, vocab)`` (the engine) and ``CompiledGrammar(g, vocab,
native=False)`` (Python), walked in lock step: at every step the packed masks, ``is_complete()``, ``check(t)`` on a
sample of tokens (allowed and not) and the rejection groups of ``check_group(t)`` (what AWRS drops) must be
identical. Cases: every shipped grammar and every supported shared Lark grammar (random walks over allowed
tokens), every schema of the JSON Schema Test Suite (its instances, byte by byte), and a sample of MaskBench
schemas with their instances (llama3 tokens, MaskBench's layout).
"""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest

from conftest import DATA_DIR, shared_path, tokenizer_path
from corral.runtime.engine import NATIVE_ENGINE
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

pytestmark = pytest.mark.skipif(not NATIVE_ENGINE, reason="corral._engine is not built (or CORRAL_PURE_PYTHON=1)")

BYTES = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])


def _pair(grammar, vocab):
    return CompiledGrammar(grammar, vocab), CompiledGrammar(grammar, vocab, native=False)


def _assert_same_step(mn, mp, rng: random.Random, n_checks: int, n_groups: int) -> np.ndarray:
    """Compare the two matchers at their current state; returns the allowed token ids."""
    a, b = mn.mask_packed(), mp.mask_packed()
    assert np.array_equal(a, b), "packed masks differ"
    assert mn.is_complete() == mp.is_complete()
    allowed = np.flatnonzero(mp.mask())
    size = mp.vocab_size
    sample = [rng.randrange(size) for _ in range(n_checks)]
    sample += [int(t) for t in rng.sample(list(allowed), min(len(allowed), 4))]
    for t in sample:
        assert mn.check(t) == mp.check(t), f"check({t}) differs"
    refused = [t for t in sample if not mp.check(t)][:n_groups]
    for t in refused:
        gn, gp = mn.check_group(t), mp.check_group(t)
        assert (gn is None) == (gp is None)
        if gp is not None:  # the same group, part by part (all_ids() would sort the whole vocabulary)
            assert np.array_equal(gn.ids, gp.ids) and len(gn.parts) == len(gp.parts)
            assert (gn.first_allowed is None) == (gp.first_allowed is None)
            assert gp.first_allowed is None or np.array_equal(gn.first_allowed, gp.first_allowed)
            assert all(np.array_equal(a, b) for a, b in zip(gn.parts, gp.parts)), f"rejection group of {t}"
    return allowed


def _walk_tokens(pair, tokens, rng, n_checks=16, n_groups=2):
    """Lock-step walk along ``tokens`` (stops at the first disallowed one), comparing every state."""
    mn, mp = pair[0].matcher(), pair[1].matcher()
    for t in tokens:
        _assert_same_step(mn, mp, rng, n_checks, n_groups)
        if not mp.check(t):
            return
        mn.advance(t)
        mp.advance(t)
    _assert_same_step(mn, mp, rng, n_checks, n_groups)


def _random_walk(pair, rng, steps: int, n_checks=16):
    """Lock-step walk over random allowed tokens (EOS avoided while anything else is allowed)."""
    mn, mp = pair[0].matcher(), pair[1].matcher()
    eos = set(pair[1].vocab.eos_token_ids)
    for _ in range(steps):
        allowed = _assert_same_step(mn, mp, rng, n_checks, 2)
        choices = [int(t) for t in allowed if int(t) not in eos]
        if not choices:
            return
        t = rng.choice(choices)
        mn.advance(t)
        mp.advance(t)
        assert mn.state_key() is not None
    # rollback and fork keep the two in step
    k = min(3, mn.num_tokens)
    mn.rollback(k)
    mp.rollback(k)
    _assert_same_step(mn.fork(), mp.fork(), rng, n_checks, 2)


@pytest.fixture(scope="module")
def gpt2():
    return Vocabulary.from_huggingface(str(tokenizer_path("gpt2")))


@pytest.mark.parametrize("name", ["json", "arithmetic", "csv", "sql", "smiles"])
def test_shipped_grammars_on_gpt2(name, gpt2):
    from corral.compile.grammar import grammar_from_source, list_shipped_grammars

    if name not in list_shipped_grammars():
        pytest.skip(f"no shipped grammar {name}")
    pair = _pair(grammar_from_source(name), gpt2)
    for seed in range(3):
        _random_walk(pair, random.Random(seed), steps=25)


def test_every_shipped_grammar_is_covered():
    from corral.compile.grammar import list_shipped_grammars

    missing = set(list_shipped_grammars()) - {"json", "arithmetic", "csv", "sql", "smiles"}
    assert not missing, f"add {sorted(missing)} to test_shipped_grammars_on_gpt2"


def _shared_grammar_files():
    from test_shared_grammars import FILES

    return FILES


@pytest.mark.skipif(not (DATA_DIR / "grammars").exists(), reason=f"no shared grammars under {DATA_DIR}")
def test_shared_lark_grammars():
    """Every shared Lark grammar the front end supports, on a synthetic vocabulary of its literals and
    character pairs (so walks reach deep), four random walks each."""
    import zlib

    from corral.compile.grammar import load_lark_file
    from corral.errors import GrammarError
    from test_shared_grammars import _vocab_for

    done = 0
    for path in _shared_grammar_files():
        try:
            grammar = load_lark_file(path)
            seed = zlib.crc32(path.name.encode())
            pair = _pair(grammar, _vocab_for(grammar, seed))
        except GrammarError:
            continue
        for walk in range(4):
            _random_walk(pair, random.Random(seed + walk), steps=12, n_checks=24)
        done += 1
    assert done >= 20, f"only {done} shared grammars compiled"


def _suite_cases():
    from test_jsts import SUITE

    suite = shared_path(*SUITE)
    if not suite.exists():
        return []
    out = []
    for path in sorted(suite.glob("*.json")):
        for case in json.loads(path.read_text()):
            out.append((path.stem, case))
    return out


def test_json_schema_test_suite_byte_by_byte():
    """Every schema of the suite that compiles, fed its instances byte by byte (compact layout)."""
    from corral.compile.json_schema import schema_to_grammar
    from corral.errors import GrammarError, RegexError, SchemaError

    cases = _suite_cases()
    if not cases:
        pytest.skip("JSON Schema Test Suite not found (set CORRAL_SHARED_DIR)")
    from test_jsts import EXACT

    rng = random.Random(5)
    compiled = 0
    for _, case in cases:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pair = _pair(schema_to_grammar(case["schema"], **EXACT, formats="annotate"), BYTES)
        except (SchemaError, GrammarError, RegexError):
            continue
        compiled += 1
        for test in case["tests"][:3]:
            text = json.dumps(test["data"], separators=(",", ":"), ensure_ascii=False).encode()
            _walk_tokens(pair, list(text), rng, n_checks=8, n_groups=1)
    assert compiled >= 0.65 * len(cases), f"only {compiled} of {len(cases)} suite schemas compiled"


@pytest.mark.slow
def test_maskbench_sample_on_llama3():
    """A sample of MaskBench schemas (one per subset), the first 60 tokens of an instance each in MaskBench's
    layout, llama3 tokens."""
    from tokenizers import Tokenizer

    from corral.compile.json_schema import schema_to_grammar
    from corral.errors import GrammarError, RegexError, SchemaError

    folder = shared_path("data", "jsonschemabench", "maskbench")
    if not folder.exists():
        pytest.skip("MaskBench data not found (set CORRAL_SHARED_DIR)")
    vocab = Vocabulary.from_huggingface(str(tokenizer_path("llama3")))
    hf = Tokenizer.from_file(str(tokenizer_path("llama3") / "tokenizer.json"))
    rng = random.Random(9)
    compiled = 0
    for path in sorted(folder.glob("*.jsonl")):
        with open(path) as f:
            records = [r for r in (json.loads(line) for _, line in zip(range(4), f)) if r["tests"]][:1]
        for rec in records:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    grammar = schema_to_grammar(rec["schema"], whitespace="spaced", property_order="any",
                                                integral_floats=True)
                pair = _pair(grammar, vocab)
            except (SchemaError, GrammarError, RegexError):
                continue
            compiled += 1
            text = json.dumps(rec["tests"][0]["data"], ensure_ascii=False)
            _walk_tokens(pair, hf.encode(text, add_special_tokens=False).ids[:60], rng, n_checks=4, n_groups=1)
    assert compiled >= 6


def test_engine_survives_threads(gpt2):
    """Masks computed from several threads at once (the GIL is released inside) equal the serial ones."""
    from concurrent.futures import ThreadPoolExecutor

    from corral.compile.grammar import grammar_from_source

    grammar = grammar_from_source("json")
    text = '{"a": [1, 2, {"b": "c d"}], "e": null}'
    ids = [i for i in range(gpt2.size) if gpt2.token_bytes[i] and text.encode().startswith(gpt2.token_bytes[i])]
    serial = CompiledGrammar(grammar, gpt2, native=False)

    def masks(cg):
        m, out, data = cg.matcher(), [], text.encode()
        while data:
            out.append(m.mask_packed().copy())
            tok = max((i for i in range(gpt2.size) if gpt2.token_bytes[i] and data.startswith(gpt2.token_bytes[i])),
                      key=lambda i: len(gpt2.token_bytes[i]))
            m.advance(tok)
            data = data[len(gpt2.token_bytes[tok]):]
        out.append(m.mask_packed().copy())
        return out

    assert ids
    want = masks(serial)
    shared = CompiledGrammar(grammar, gpt2)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: masks(shared), range(4)))
    for got in results:
        assert len(got) == len(want) and all(np.array_equal(x, y) for x, y in zip(got, want))


def test_batch_fill_computes_uncached_masks(gpt2):
    """fill_packed_masks over matchers in fresh states (nothing cached) equals their masks one by one, for two
    grammars in one batch, with a terminated matcher and a repeated state."""
    from corral.compile.grammar import grammar_from_source
    from corral.runtime.packed import fill_packed_masks

    a, b = CompiledGrammar(grammar_from_source("json"), gpt2), CompiledGrammar(grammar_from_source("csv"), gpt2)
    ref_a, ref_b = CompiledGrammar(a.grammar, gpt2, native=False), CompiledGrammar(b.grammar, gpt2, native=False)
    rng = random.Random(3)
    rows, refs = [], []
    for cg, ref in ((a, ref_a), (b, ref_b), (a, ref_a)):
        m, r = cg.matcher(), ref.matcher()
        for _ in range(rng.randrange(1, 6)):
            t = rng.choice([int(x) for x in np.flatnonzero(r.mask()) if int(x) not in gpt2.eos_token_ids])
            m.advance(t)
            r.advance(t)
        rows.append(m)
        refs.append(r)
    from corral.compile.grammar import Grammar

    done = CompiledGrammar(Grammar.from_regex("a"), gpt2).matcher()
    done.advance(gpt2.token_bytes.index(b"a"))
    done.advance(next(iter(gpt2.eos_token_ids)))
    assert done.is_terminated()
    out = fill_packed_masks(rows + [done, rows[0].fork()])
    for got, r in zip(out, refs + [None, refs[0]]):
        assert np.array_equal(got, r.mask_packed() if r is not None else np.zeros_like(got))


def _plain_table(resolver, terminal, state):
    """A DFA state's table by one plain walk of the whole forest (no hub, no sharing): the reference."""
    f = resolver._forest
    return resolver._walk(terminal, state, 0, f.m)


def _bits(table, size):
    words, ids, nodes = table
    out = np.zeros(size, dtype=bool)
    if words is not None:
        out[:] = np.unpackbits(words.view(np.uint8), bitorder="little")[:size].astype(bool)
    else:
        out[ids] = True
    return out, sorted(nodes.tolist())


@pytest.mark.parametrize("pattern", [
    r'"(?:[^"\\]|\\.){0,40}"',          # a counted string: states share their short tables by depth class
    r'"(?:[^"\\]|\\.){3,}"',
    r'"(?:[^"\\]|\\.)*"',
    r'"(?:name|names|nametag|[^n"\\][^"\\]*|n(?:[^a"\\][^"\\]*)?)"',  # a key-complement-like DFA with a hub
])
def test_shared_tables_equal_plain_walks(pattern, gpt2):
    """Tables built through hubs, depth classes and right-language keys equal a plain walk, state by state (each
    state asked twice, so hubs are built and then used)."""
    from corral.compile.grammar import Grammar
    from corral.runtime.engine import _Resolver

    cg = CompiledGrammar(Grammar.from_regex(pattern), gpt2)
    resolver = _Resolver(cg.index, cg.size)
    from corral.runtime import engine

    n_states = len(cg.index._trans[0])
    cache = cg.index._caches[0]
    hubs = len(engine._HUBS) + sum(1 for k in cache if k[0] == "hub")
    for _ in range(2):
        for key in [k for k in cache if k[0] in ("ctable", "short")]:
            del cache[key]
        engine._TABLES.clear()
        for state in range(n_states):
            got = _bits(resolver.table(0, state), cg.size)
            want = _bits(_plain_table(resolver, 0, state), cg.size)
            assert np.array_equal(got[0], want[0]) and got[1] == want[1], (pattern, state)
    if n_states > 2:  # the string's free state is a hub of its opening state: built on the second ask, used
        assert len(engine._HUBS) + sum(1 for k in cache if k[0] == "hub") > hubs or ("depth classes",) in cache


def test_right_language_keys_and_depth_classes():
    """Equal keys for states with one right language (in different DFAs); depth classes join the states of a
    counted string that agree within the forest's depth and split those that do not."""
    from corral.automata.regex import compile_regex
    from corral.runtime.engine import right_language_key
    from corral.tokens import native

    a, b = compile_regex(r"x[ab]*c"), compile_regex(r"y[ab]*c|zq")
    ka = right_language_key(np.asarray(a.transitions, np.int32), a.accepting.astype(np.uint8), 1)
    kb = right_language_key(np.asarray(b.transitions, np.int32), b.accepting.astype(np.uint8),
                            int(b.transitions[0][ord("y")]))
    k0 = right_language_key(np.asarray(b.transitions, np.int32), b.accepting.astype(np.uint8), 0)
    assert ka == kb and ka != k0
    d = compile_regex(r"a{0,40}")
    trans = np.asarray(d.transitions, np.int64)
    cls = native.refine_partition(trans, d.accepting.astype(np.int64), rounds=16)
    # state k (k a's read) can read 40 - k more: states with at least 16 left agree within 16 bytes
    path = [0]
    for _ in range(40):
        path.append(int(trans[path[-1], ord("a")]))
    assert len({int(cls[s]) for s in path[:25]}) == 1
    assert len({int(cls[s]) for s in path[24:]}) == 17
