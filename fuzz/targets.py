"""The fuzz targets: functions of ``bytes`` that feed hostile input to one corral front end and check the result.

Each target returns normally or raises a :class:`corral.errors.CorralError` on input corral rejects; anything else
it raises is a finding (see :mod:`fuzz.harness`). Inputs are decoded with ``surrogateescape`` where text is needed,
so invalid UTF-8 becomes lone surrogates (which JSON can also spell, ``"\\udc80"``). Every choice a target makes
(options, which tokens to walk) is a function of the input bytes, so a saved input replays exactly.

* ``regex``: a Python regex (:meth:`Grammar.from_regex`) and the same text as an ECMAScript ``pattern`` of a string
  schema; each compiled on a small vocabulary and walked a few tokens, with Python's ``re`` as the oracle for
  ``is_complete()`` (both directions for the Python path; for ``pattern``, a complete text must be a JSON string
  that ``re.search`` matches, where Python's ``re`` reads the pattern at all).
* ``lark``: Lark grammar text (:meth:`Grammar.from_lark`) compiled on :func:`synthetic_vocab_for` the grammar and
  walked, with lark's Earley parser as the oracle for ``is_complete()``.
* ``schema``: a JSON Schema (the input is JSON text; options such as ``whitespace`` come from a hash of the input)
  through :func:`schema_to_grammar`, compiled and walked; a complete text must be JSON that validates.
* ``validate``: ``corral validate`` on lines of bytes: the first line is the schema when it is a JSON object or
  boolean (else one of :data:`VALIDATE_SCHEMAS`, chosen by a hash, and every line is data); checks the records
  (one per non-empty line, in order) and that each prints as the command line prints it (UTF-8 text, JSON).
* ``matcher``: a fixed grammar (byte 0 picks one of :data:`MATCHER_GRAMMARS`) driven by the other bytes: advance
  an allowed token, EOS, roll back, fork, advance a disallowed token, full invariant checks
  (:func:`corral.testing.assert_step_invariants`); masks compared with the pure-Python engine in lockstep, rollback
  compared with the recorded history, a complete text checked against the grammar's oracle.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["TARGETS", "Target", "get_target", "clear_caches", "preload"]

_CACHE: dict = {}


def clear_caches() -> None:
    """Forget the compiled grammars and vocabularies the targets keep between inputs."""
    _CACHE.clear()


def _cached(key, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _rng(data: bytes, salt: str = "") -> random.Random:
    return random.Random(hashlib.sha1(salt.encode() + data).digest())


def _h(data: bytes) -> int:
    return zlib.crc32(data)


# ---------------------------------------------------------------------------------------------------- vocabularies

def regex_vocab():
    """EOS, the ASCII letters, digits and punctuation regexes use, and UTF-8 pieces (é, €, a stray 0xff) as bytes."""
    from corral.testing import synthetic_vocab

    return _cached("regex_vocab", lambda: synthetic_vocab(
        b"ab01 -_.@:/\\\"\n\xc3\xa9\xe2\x82\xac\xff", extra=["é", "€", "aa", "abc", "0000"], seed=1))


def json_vocab():
    """EOS, the bytes of JSON texts (structure, short strings and numbers, escapes) and JSON keywords."""
    from corral.testing import synthetic_vocab

    return _cached("json_vocab", lambda: synthetic_vocab(
        b'{}[]:," ab01-.eE+\n\\u\xc3\xa9', extra=["true", "false", "null", '"a"', '"b"', '":', '",', "\\u00e9",
                                                   "  ", "\n  ", "12", "0.5", "1e5", "-1", "@", "T", "Z", "/"],
        seed=2))


# ---------------------------------------------------------------------------------------------------- a short walk

def _decode(vocab, ids) -> bytes:
    return vocab.decode([int(t) for t in ids])


def walk(cg, rng: random.Random, steps: int, oracle: Callable[[bytes], bool | None] | None = None,
         p_eos: float = 0.35, sample: int = 48) -> tuple[list[int], bool]:
    """Walk up to ``steps`` allowed tokens from the start, checking a sample of ``mask()[t] == check(t)``, EOS iff
    ``is_complete()`` and ``oracle(text)`` (when it answers) against ``is_complete()``.

    Returns the tokens taken and whether the walk ended with EOS.
    """
    m = cg.matcher()
    vocab = cg.vocab
    eos = set(int(e) for e in vocab.eos_token_ids)
    taken: list[int] = []
    for step in range(steps + 1):
        mask = np.asarray(m.mask())
        size = mask.shape[0]
        ids = rng.sample(range(size), min(sample, size)) + np.flatnonzero(mask)[:sample].tolist()
        for t in ids:
            got = bool(m.check(int(t)))
            assert got == bool(mask[t]), (f"mask and check disagree on token {t} ({vocab.token_bytes[t]!r}) after "
                                          f"{_decode(vocab, taken)!r}: mask {bool(mask[t])}, check {got}")
        complete = m.is_complete()
        for e in eos:
            assert bool(mask[e]) == complete, f"EOS allowed is {bool(mask[e])} but is_complete() is {complete}"
        if oracle is not None:
            want = oracle(_decode(vocab, taken))
            assert want is None or want == complete, (
                f"is_complete() is {complete} but the oracle says {want} for {_decode(vocab, taken)!r}")
        allowed = np.flatnonzero(mask)
        others = [int(t) for t in allowed if int(t) not in eos]
        if step == steps or not allowed.size:  # a dead end is possible: the small vocabulary lacks some bytes
            break
        if complete and (rng.random() < p_eos or not others):
            e = min(eos)
            m.advance(e)
            taken.append(e)
            assert not np.asarray(m.mask()).any(), "a token is allowed after EOS"
            return taken, True
        tok = rng.choice(others)
        m.advance(tok)
        taken.append(tok)
    return taken, False


# ---------------------------------------------------------------------------------------------------- a. regex

def _py_regex_oracle(pattern: str):
    compiled = re.compile(pattern)

    def oracle(text: bytes):
        if len(text) > 12:  # Python's backtracking can take exponential time ((a*)*b): short texts only
            return None
        try:
            s = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return compiled.fullmatch(s) is not None

    return oracle


def _ecma_oracle(pattern: str):
    """For a complete text of the ``pattern`` schema: False when it is not a JSON string, or when it is an ASCII
    string that Python's ``re.search`` does not match (on ASCII, ECMAScript's classes are Python's or narrower;
    skipped where Python's ``re`` cannot read the pattern)."""
    try:
        compiled = re.compile(pattern)
    except (re.error, ValueError, TypeError, OverflowError, RecursionError):
        compiled = None

    def oracle(text: bytes) -> bool:
        try:
            value = json.loads(text.decode("utf-8"))
        except ValueError:
            return False
        if not isinstance(value, str):
            return False
        if compiled is not None and len(value) <= 24 and _ASCII_TEXT.fullmatch(value):
            return compiled.search(value) is not None
        return True

    return oracle


_ASCII_TEXT = re.compile(r"[\t\n\r -~]*")


def _ecma_check(cg, rng, pattern: str) -> None:
    """Walk the ``pattern`` schema's grammar; a complete text must be a JSON string matching the pattern."""
    oracle = _ecma_oracle(pattern)
    for _ in range(2):
        taken, ended = walk(cg, rng, 8)
        if ended:
            text = _decode(cg.vocab, taken[:-1])
            assert oracle(text), f"complete text {text!r} is not a JSON string matching {pattern!r}"


def target_regex(data: bytes) -> None:
    from corral.compile.grammar import Grammar
    from corral.compile.json_schema import schema_to_grammar
    from corral.errors import CorralError
    from corral.runtime.matcher import CompiledGrammar

    text = _text(data)
    try:
        g = Grammar.from_regex(text)
    except CorralError:
        g = None
    if g is not None:
        cg = CompiledGrammar(g, regex_vocab())
        walk(cg, _rng(data, "py"), 6, oracle=_py_regex_oracle(text))
    try:
        sg = schema_to_grammar({"type": "string", "pattern": text})
    except CorralError:
        return
    _ecma_check(CompiledGrammar(sg, json_vocab()), _rng(data, "ecma"), text)


# ---------------------------------------------------------------------------------------------------- b. lark

def _lark_text_oracle(g):
    """lark's Earley parser on the printed grammar as an oracle for short texts (None where lark cannot load it)."""
    try:
        from corral.testing import lark_oracle

        inner = lark_oracle(g)
    except Exception:  # noqa: BLE001 - lark refusing corral's printed grammar is not what this target checks
        return None

    def oracle(text: bytes):
        if len(text) > 12:
            return None
        try:
            s = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return inner(s)

    return oracle


def target_lark(data: bytes) -> None:
    from corral.compile.grammar import Grammar
    from corral.runtime.matcher import CompiledGrammar
    from corral.testing import synthetic_vocab_for

    g = Grammar.from_lark(_text(data))
    vocab = synthetic_vocab_for(g, max_alphabet=12, seed=_h(data) % 7)
    cg = CompiledGrammar(g, vocab)
    rng = _rng(data)
    oracle = _lark_text_oracle(g) if len(data) < 1500 else None
    for _ in range(2):
        walk(cg, rng, 5, oracle=oracle)


# ---------------------------------------------------------------------------------------------------- c. schema

_WHITESPACE = ("compact", "spaced", "pretty", "free", 2, "compact", "spaced")


def schema_options(data: bytes) -> dict:
    """The compiler options for one input, from a hash of it (so every mutation may change them)."""
    h = _h(data)
    return {
        "whitespace": _WHITESPACE[h % len(_WHITESPACE)],
        "property_order": "any" if (h >> 4) % 4 == 0 else "schema",
        "lenient": (h >> 6) % 4 == 0,
        "integral_floats": (h >> 8) % 8 == 0,
        "formats": "annotate" if (h >> 11) % 8 == 0 else "assert",
    }


def target_schema(data: bytes) -> None:
    from corral.compile.json_schema import schema_to_grammar, validate_instance
    from corral.runtime.matcher import CompiledGrammar

    try:
        schema = json.loads(data)
    except (ValueError, RecursionError):
        return  # not JSON: not this target's business
    opts = schema_options(data)
    g = schema_to_grammar(schema, **opts)
    cg = CompiledGrammar(g, json_vocab())
    rng = _rng(data)
    for _ in range(2):
        taken, ended = walk(cg, rng, 24)
        if not ended or opts["lenient"]:
            continue
        text = _decode(cg.vocab, taken[:-1])
        try:
            s = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AssertionError(f"complete text is not UTF-8: {text!r}") from exc
        try:
            instance = json.loads(s)
        except ValueError as exc:
            raise AssertionError(f"complete text is not JSON: {s!r} ({exc})") from exc
        if not _jsonschema_can_judge(schema):
            return
        try:
            errors = validate_instance(schema, instance, formats=opts["formats"])
        except RecursionError:
            return  # jsonschema loops on a schema that refers to itself without consuming input ({"if": {"$ref": "#"}})
        assert not errors, f"complete text {s!r} does not validate ({opts}): {errors[:3]}"


def _jsonschema_can_judge(schema) -> bool:
    """Whether jsonschema itself takes the schema as valid for its draft (else it is no oracle for it: corral may
    compile some schemas that the meta-schema rejects, e.g. with an unknown ``format`` value type)."""
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        return True
    except Exception:  # noqa: BLE001 - any failure: jsonschema cannot judge this schema
        return False


# ---------------------------------------------------------------------------------------------------- d. validate

#: Schemas for ``validate`` inputs whose first line is not a schema.
VALIDATE_SCHEMAS = [
    True,
    {"type": "integer", "minimum": 0},
    {"type": "object", "properties": {"a": {"type": "string", "format": "email"}, "b": {"type": "array"}},
     "required": ["a"], "additionalProperties": False},
    {"type": "array", "items": {"type": "number", "multipleOf": 0.5}, "uniqueItems": True},
    {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
    {"anyOf": [{"type": "null"}, {"type": "object", "additionalProperties": {"type": "integer"}}]},
    {"$ref": "#/$defs/n", "$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}},
    {"format": "date-time"}, {"format": "hostname"}, {"format": "ipv6"}, {"format": "uri"}, {"format": "duration"},
    {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
     "dependencies": {"a": ["b"]}, "items": [{"type": "string"}]},
    {"oneOf": [{"const": 1}, {"enum": [1.0, "x", None]}], "not": {"type": "boolean"}},
    {"propertyNames": {"maxLength": 2}, "patternProperties": {"^x": {"type": "string"}}},
]


def target_validate(data: bytes) -> None:
    from corral.validate import format_summary, iter_validate, make_validator

    first, sep, rest = data.partition(b"\n")
    try:
        schema = json.loads(first)
        if not isinstance(schema, (dict, bool)):
            raise ValueError
        lines = rest
    except (ValueError, RecursionError):
        schema = VALIDATE_SCHEMAS[_h(first) % len(VALIDATE_SCHEMAS)]
        lines = data
    validator = make_validator(schema)
    raw = io.BytesIO(lines).readlines()
    expected = []
    for number, line in enumerate(raw, 1):
        try:
            if not line.decode("utf-8").strip():
                continue
        except UnicodeDecodeError:
            pass
        expected.append(number)
    counts = {"records": 0, "valid": 0, "invalid": 0, "malformed": 0}
    got = []
    for rec in iter_validate(validator, lines):
        counts["records"] += 1
        counts[rec.status] += 1
        got.append(rec.line)
        assert rec.status in ("valid", "invalid", "malformed"), rec.status
        if rec.status == "malformed":  # a column, except where Python's json gives none (huge int, deep nesting)
            assert rec.parse_error and ("column" in rec.parse_error or rec.parse_error.startswith(
                ("not readable as JSON here", "nested too deeply"))), f"no column in {rec.parse_error!r}"
        assert (rec.status == "invalid") == bool(rec.errors), f"line {rec.line}: {rec.status} with {rec.errors}"
        # what `corral validate` prints, as UTF-8 (strict: a terminal or a pipe in a UTF-8 locale)
        rec.to_text().encode("utf-8")
        json.dumps(rec.to_json(), ensure_ascii=False).encode("utf-8")
        json.dumps(rec.to_json(), allow_nan=False)
    assert got == expected, f"records on lines {got[:20]}, expected the non-empty lines {expected[:20]}"
    format_summary(counts)


# ---------------------------------------------------------------------------------------------------- e. matcher

#: (name, kind, source) of the grammars the ``matcher`` target drives; byte 0 of an input picks one.
MATCHER_GRAMMARS = [
    ("json", "lark", "json"),
    ("arithmetic", "lark", "arithmetic"),
    ("sql", "lark", "sql"),
    ("csv", "lark", "csv"),
    ("smiles", "lark", "smiles"),
    ("paren", "lark", 'start: "(" start ")" start | \n'),
    ("ambiguous", "lark", 'start: x+\nx: "a" | "aa" | WORD\nWORD: /[ab]+/\n%ignore " "\n'),
    ("regex", "regex", r"[a-z]{1,3}(,[0-9]+)*|é+\.?"),
    ("person", "schema", {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 6}, "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3}}, "required": ["name"]}),
    ("numbers", "schema", {"anyOf": [{"type": "number", "exclusiveMinimum": -1.5, "maximum": 10},
                                     {"type": "string", "pattern": "^a+b?$"}, {"type": "null"}]}),
    ("recursive", "schema", {"$ref": "#/$defs/t", "$defs": {"t": {"type": "object", "properties": {
        "v": {"type": "boolean"}, "k": {"type": "array", "items": {"$ref": "#/$defs/t"}}},
        "additionalProperties": False}}}),
    ("date", "schema", {"type": "string", "format": "date"}),
]


@dataclass
class _Subject:
    name: str
    native: object   # CompiledGrammar (the native engine where built)
    python: object   # CompiledGrammar(native=False)
    oracle: Callable[[bytes], bool | None]


def _matcher_subject(index: int) -> _Subject:
    def make():
        from corral.compile.grammar import Grammar, grammar_from_source
        from corral.compile.json_schema import schema_to_grammar, validate_instance
        from corral.runtime.matcher import CompiledGrammar
        from corral.testing import lark_oracle, synthetic_vocab_for

        name, kind, source = MATCHER_GRAMMARS[index]
        if kind == "lark":
            g = grammar_from_source(source)
            vocab = synthetic_vocab_for(g, max_alphabet=20)
            inner = lark_oracle(g)
            oracle = _utf8_oracle(inner, 16)
        elif kind == "regex":
            g = Grammar.from_regex(source)
            vocab = regex_vocab()
            oracle = _py_regex_oracle(source)
        else:
            g = schema_to_grammar(source)
            vocab = json_vocab()

            def oracle(text: bytes, schema=source):
                try:
                    value = json.loads(text.decode("utf-8"))
                except ValueError:
                    return False
                return not validate_instance(schema, value)
        return _Subject(name, CompiledGrammar(g, vocab), CompiledGrammar(g, vocab, native=False), oracle)

    return _cached(("matcher", index), make)


def _utf8_oracle(inner, limit):
    def oracle(text: bytes):
        if len(text) > limit:
            return None
        try:
            return inner(text.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return oracle


def target_matcher(data: bytes) -> None:
    from corral.testing import assert_step_invariants
    from corral.runtime.packed import pack_mask

    if not data:
        return
    subject = _matcher_subject(data[0] % len(MATCHER_GRAMMARS))
    cg = subject.native
    vocab = cg.vocab
    eos = sorted(int(e) for e in vocab.eos_token_ids)
    m, twin = cg.matcher(), subject.python.matcher()
    history = [(m.state_key(), np.array(m.mask()))]  # history[i]: after i tokens
    taken: list[int] = []
    pos = 1
    full_checks = 3

    def text():
        return _decode(vocab, [t for t in taken if t not in eos])

    def agree(where):
        mask = np.asarray(m.mask())
        assert np.array_equal(mask, twin.mask()), (
            f"{where}: native and Python masks differ after {text()!r} on tokens "
            f"{np.flatnonzero(mask != twin.mask())[:10].tolist()}")
        assert m.is_complete() == twin.is_complete(), f"{where}: native and Python is_complete() differ"
        for e in eos:
            assert bool(mask[e]) == m.is_complete(), f"{where}: EOS {bool(mask[e])} vs is_complete() {m.is_complete()}"
        return mask

    while pos < len(data) and not m.is_terminated():
        op, arg = data[pos] & 7, data[pos] >> 3
        nxt = data[pos + 1] if pos + 1 < len(data) else 0
        pos += 2 if op in (0, 1, 2, 5, 7) else 1
        mask = np.asarray(m.mask())
        allowed = [int(t) for t in np.flatnonzero(mask) if int(t) not in eos]
        if op in (0, 1, 2) and allowed:
            tok = allowed[((arg << 8) | nxt) % len(allowed)]
            assert m.check(tok), f"allowed token {tok} fails check after {text()!r}"
            m.advance(tok)
            twin.advance(tok)
            taken.append(tok)
            history.append((m.state_key(), np.array(m.mask())))
        elif op == 3:
            e = eos[0]
            if m.is_complete():
                m.advance(e)
                twin.advance(e)
                taken.append(e)
                assert not np.asarray(m.mask()).any(), "a token is allowed after EOS"
                assert subject.oracle(text()) is not False, f"complete text {text()!r} rejected by the oracle"
                assert cg.accepts(text()), f"complete text {text()!r} not accepted by CompiledGrammar.accepts"
            else:
                _expect_refusal(m, e, "EOS while incomplete")
        elif op == 4 and len(taken):
            k = min(len(taken), arg % 4 + 1)
            m.rollback(k)
            twin.rollback(k)
            del taken[-k:]
            del history[-k:]
            key, old = history[-1]
            assert m.state_key() == key, f"rollback({k}) does not restore the state key at {text()!r}"
            assert np.array_equal(m.mask(), old), f"rollback({k}) does not restore the mask at {text()!r}"
        elif op == 5 and allowed:
            tok = allowed[((arg << 8) | nxt) % len(allowed)]
            key = m.state_key()
            f = m.fork()
            f.advance(tok)
            assert m.state_key() == key and np.array_equal(m.mask(), mask), "advancing a fork changed the original"
            g = m.fork()
            g.advance(tok)
            assert np.array_equal(f.mask(), g.mask()) and f.state_key() == g.state_key(), "two forks differ"
            f.rollback(1)
            assert np.array_equal(f.mask(), mask), "fork: advance then rollback does not restore the mask"
        elif op == 6:
            if full_checks:  # the full check costs ~20 ms (check_group, implied): a few per input
                full_checks -= 1
                assert_step_invariants(m, all_tokens=vocab.size <= 2048, where=f"matcher {subject.name}")
            agree("op 6")
            assert np.array_equal(m.mask_packed(), pack_mask(mask)), "mask_packed() is not the packed mask"
            forced = m.forced_tokens(4)
            if forced:
                assert m.check(forced[0]) and int(mask.sum()) == 1, "forced token is not the only allowed one"
        elif op == 7:
            banned = np.flatnonzero(~mask)
            if banned.size:
                tok = int(banned[((arg << 8) | nxt) % banned.size])
                assert not m.check(tok)
                _expect_refusal(m, tok, "a disallowed token")
        if m.is_complete() and not m.is_terminated():
            assert subject.oracle(text()) is not False, f"is_complete() but the oracle rejects {text()!r}"
    agree("end")


def _expect_refusal(m, tok: int, what: str) -> None:
    key, mask = m.state_key(), np.array(m.mask())
    try:
        m.advance(tok)
    except ValueError:
        assert m.state_key() == key and np.array_equal(m.mask(), mask), f"refusing {what} changed the state"
        return
    raise AssertionError(f"advance accepted {what} (token {tok})")


# ---------------------------------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class Target:
    """One fuzz target: the function, what it fuzzes, the longest input and the modules to instrument."""

    name: str
    fn: Callable[[bytes], None]
    doc: str
    max_len: int
    instrument: tuple[str, ...] = ("corral",)
    json_input: bool = False  # inputs are JSON texts (the structure-aware mutator and minimizer apply)


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("regex", target_regex, "Python regex and ECMAScript pattern -> grammar -> masks", 512),
    Target("lark", target_lark, "Lark grammar text -> Grammar -> CompiledGrammar -> masks", 4096,
           ("corral", "lark")),
    Target("schema", target_schema, "JSON Schema -> schema_to_grammar -> masks (options from a hash)", 8192,
           json_input=True),
    Target("validate", target_validate, "corral validate: schema line + JSONL byte lines", 4096),
    Target("matcher", target_matcher, "fixed grammars driven by a token stream, invariants checked", 1024),
]}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise SystemExit(f"unknown target {name!r}; targets: {', '.join(TARGETS)}") from None


def preload(name: str) -> None:
    """Import the modules a target runs (inside atheris' instrumentation, so that they are instrumented) and
    build its shared vocabularies and grammars."""
    import importlib
    import pkgutil

    import corral

    skip = ("corral.models", "corral.samplers", "corral.drafters", "corral.generate", "corral.generator",
            "corral.runners", "corral.cli", "corral.__main__")
    for info in pkgutil.walk_packages(corral.__path__, "corral."):
        if info.name.startswith(skip):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - an optional dependency missing: that module is simply not preloaded
            pass
    if "lark" in TARGETS[name].instrument:
        import lark  # noqa: F401
        import lark.load_grammar  # noqa: F401
    if name == "matcher":
        for i in range(len(MATCHER_GRAMMARS)):
            _matcher_subject(i)
    regex_vocab()
    json_vocab()
