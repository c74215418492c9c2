"""Sample texts through real tokenizers: accepted token by token and complete; mutations that lark rejects are
rejected by the Matcher at some step or at EOS (and mutations lark accepts are accepted).

Samples: outlines' ``cfg_samples`` (JSON, arithmetic) and lark's composition example (``storage.lark`` with
``combined_csv_and_json.txt``), tokenized with gpt2, llama2 and llama3.
"""

from __future__ import annotations

import functools
import random
import zlib

import numpy as np
import pytest
from tokenizers import Tokenizer

from corral.compile.grammar import Grammar, load_lark_file
from corral.runtime.matcher import CompiledGrammar
from corral.testing import lark_oracle
from corral.tokens.vocabulary import Vocabulary

from conftest import DATA_DIR, GRAMMARS_DIR, shared_path, tokenizer_path

TOKENIZERS = ["gpt2", "llama2", "llama3"]


def _samples():
    """(case id, grammar path relative to the data dir or repo, sample path relative to the data dir)."""
    cases = []
    cfg = "grammars/outlines/tests/cfg_samples"
    for name in ["outlines.generate.samplers.mypy.json.test", "simple_fruit.json.test",
                 "simple_fruit_no_indent.json.test"]:
        cases.append((f"outlines-json/{name}", ("data", "grammars/outlines/src/outlines/grammars/json.lark"),
                      f"{cfg}/json/{name}"))
        cases.append((f"corral-json/{name}", ("repo", "json.lark"), f"{cfg}/json/{name}"))
    for name in ["lots_of_ops.arithmetic.test", "simple_math.arithmetic.test"]:
        cases.append((f"outlines-arith/{name}", ("data", "grammars/outlines/src/outlines/grammars/arithmetic.lark"),
                      f"{cfg}/arithmetic/{name}"))
    cases.append(("lark-storage", ("data", "grammars/lark/examples/composition/storage.lark"),
                  "grammars/lark/examples/composition/combined_csv_and_json.txt"))
    return cases


CASES = _samples()


@functools.lru_cache(maxsize=None)
def _vocab(name: str):
    path = tokenizer_path(name)
    return Vocabulary.from_huggingface(path), Tokenizer.from_file(str(path / "tokenizer.json"))


@functools.lru_cache(maxsize=4)
def _compiled(where: str, rel: str, tok_name: str):
    path = (DATA_DIR / rel) if where == "data" else (GRAMMARS_DIR / rel)
    if where == "data":
        shared_path(rel, base=DATA_DIR)
    grammar = load_lark_file(path) if where == "data" else Grammar.from_lark(path.read_text())
    vocab, _ = _vocab(tok_name)
    return CompiledGrammar(grammar, vocab), lark_oracle(grammar)


def _sample_text(sample: str, oracle) -> str:
    """The sample text; outlines' arithmetic samples end with a newline their grammar does not allow."""
    text = shared_path(sample, base=DATA_DIR).read_text()
    return text if oracle(text) else text.strip()


def _run_tokens(cg, ids) -> tuple[bool, int]:
    """(accepted, step): accepted iff every token is allowed and EOS is allowed at the end."""
    m = cg.matcher()
    for i, t in enumerate(ids):
        if not m.check(t):
            return False, i
        m.advance(t)
    return m.is_complete(), len(ids)


def _mutate(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text))
    op = rng.choice(["delete", "insert", "replace", "swap"])
    c = rng.choice(text)
    if op == "delete":
        return text[:i] + text[i + 1:]
    if op == "insert":
        return text[:i] + c + text[i:]
    if op == "replace":
        return text[:i] + c + text[i + 1:]
    j = min(i + 1, len(text) - 1)
    return text[:i] + text[j] + text[i] + text[j + 1:]


@pytest.mark.parametrize("tok_name", TOKENIZERS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_sample_accepted_token_by_token(case, tok_name):
    _, (where, rel), sample = case
    cg, oracle = _compiled(where, rel, tok_name)
    text = _sample_text(sample, oracle)
    vocab, tok = _vocab(tok_name)
    ids = tok.encode(text, add_special_tokens=False).ids
    decoded = vocab.decode(ids).decode()
    # sentencepiece tokenizers (llama2) add a leading space; the oracle judges the text the tokens spell.
    assert decoded in (text, " " + text)
    if decoded != text and not oracle(decoded):
        # The dummy-prefix space makes this text invalid for this grammar: the matcher must reject it too.
        assert _run_tokens(cg, ids)[0] is False
        return
    assert oracle(decoded), "sample rejected by lark itself"
    m = cg.matcher()
    for i, t in enumerate(ids):
        assert m.mask()[t], f"token {i} ({vocab.token_str(t)}) rejected after {decoded[:40]!r}..."
        m.advance(t)
    assert m.is_complete()


@pytest.mark.parametrize("tok_name", TOKENIZERS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_mutated_samples_agree_with_lark(case, tok_name):
    _, (where, rel), sample = case
    text = shared_path(sample, base=DATA_DIR).read_text()
    if len(text) > 3000:
        text = text[:3000]  # keep lark's parse of each mutation fast; a truncated text is itself a mutation
    cg, oracle = _compiled(where, rel, tok_name)
    vocab, tok = _vocab(tok_name)
    rng = random.Random(zlib.crc32(f"{case[0]}{tok_name}".encode()))
    rejected = 0
    for _ in range(12):
        mutated = _mutate(text, rng)
        ids = tok.encode(mutated, add_special_tokens=False).ids
        decoded = vocab.decode(ids).decode()
        expect = oracle(decoded)
        got, step = _run_tokens(cg, ids)
        assert got == expect, f"matcher {'accepts' if got else 'rejects'} (step {step}) a mutation lark " \
                              f"{'accepts' if expect else 'rejects'}"
        rejected += not expect
    assert rejected > 0, "no mutation was rejected: the test has no power"


@pytest.mark.parametrize("tok_name", TOKENIZERS)
def test_mask_equals_check_on_every_token_of_a_real_vocabulary(tok_name):
    """At several points of a sample, ``mask()[t] == check(t)`` for every token of the real vocabulary."""
    cg, oracle = _compiled("repo", "json.lark", tok_name)
    vocab, tok = _vocab(tok_name)
    text = _sample_text("grammars/outlines/tests/cfg_samples/json/simple_fruit.json.test", oracle)
    ids = tok.encode(text, add_special_tokens=False).ids
    m = cg.matcher()
    points = {round(k * len(ids) / 10) for k in range(11)} | {1, 2, 3}
    for i in range(len(ids) + 1):
        if i in points:
            mask = m.mask()
            check = np.array([m.check(t) for t in range(vocab.size)])
            bad = np.flatnonzero(mask != check)
            assert not bad.size, f"mask and check disagree at step {i} on {[vocab.token_str(t) for t in bad[:5]]}"
        if i < len(ids):
            m.advance(ids[i])


@pytest.mark.parametrize("tok_name", TOKENIZERS + ["qwen3"])
@pytest.mark.parametrize("grammar", ["json.lark", "sql.lark", "arithmetic.lark"])
def test_random_walk_on_a_real_vocabulary(tok_name, grammar):
    """Walk random allowed tokens (any token the mask allows, however odd): full mask == check at every step and
    rollback is the identity."""
    cg, oracle = _compiled("repo", grammar, tok_name)
    vocab = cg.vocab
    rng = random.Random(zlib.crc32(f"{tok_name}{grammar}".encode()))
    m = cg.matcher()
    for step in range(8):
        mask = m.mask()
        check = np.array([m.check(t) for t in range(vocab.size)])
        assert np.array_equal(mask, check), f"step {step}: {np.flatnonzero(mask != check)[:5]}"
        allowed = [t for t in np.flatnonzero(mask) if t not in vocab.eos_token_ids]
        if not allowed:
            break
        tok = int(rng.choice(allowed))
        key = m.state_key()
        m.advance(tok)
        m.rollback(1)
        assert m.state_key() == key
        m.advance(tok)
    assert m.num_tokens >= 1
