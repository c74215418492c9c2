"""Bad input everywhere: a table of hostile or malformed inputs over every public entry point and CLI command.

Each row names an entry point, the input, and what must happen: a documented error (a ``CorralError`` subclass, or
the standard ``ValueError`` / ``OSError`` forms documented on the entry point) or a result with a clear status.
Never a crash deep inside (``AttributeError``, ``IndexError``, ``RecursionError``...), never a hang, and never a
traceback from the CLI. ``test_every_entry_point_has_rows`` fails when a public name or a CLI command appears without
rows here.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys

import numpy as np
import pytest

import corral
from corral.cli import build_parser, main
from corral.errors import (ConfigurationError, CorralError, GenerationError, GrammarError, ModelError, RegexError,
                           SchemaError, VocabularyError)
from corral.generator import Generator, default_generator
from corral.models.toy import ToyModel
from corral.options import GenerateOptions
from corral.testing import synthetic_vocab

# Public names that take no user input of their own (exceptions, the result record).
NOT_ENTRY_POINTS = {"Result", "CorralError", "GrammarError", "RegexError", "VocabularyError", "SchemaError",
                    "ModelError", "ConfigurationError", "GenerationError"}
DEEP = 100_000  # nesting depth of the deep inputs
# A pattern whose string language takes seconds to build, and a regex whose DFA has 2^15 states.
HUGE_PATTERN = {"type": "string", "pattern": "^(a|b)*a(a|b){20}$"}  # 2^21 DFA states
HUGE_REGEX = "(a|b)*a(a|b){14}"


def _default():
    return default_generator(None)


def _toy(logits=None, *, eos=True):
    model = ToyModel(["a", "b"], logits or (lambda ctx: np.array([0.0, 0.0, 0.0])))
    if not eos:
        model.eos_token_ids = frozenset()
    return model


def _nan_logits(ctx):
    return np.array([np.nan, 0.0, 0.0])


def _inf_logits(ctx):
    return np.array([np.inf, 0.0, 0.0])


def _junk_file(tmp_path, data: bytes, name="junk.lark"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# (entry point, case, call(tmp_path) -> result, expected exception type or a check of the result)
ROWS = [
    ("generate", "empty prompt", lambda t: corral.generate("", regex="[0-9]+", seed=0, max_tokens=4), "result"),
    ("generate", "prompt longer than the context", lambda t: corral.generate("x " * 5000, regex="[0-9]+"),
     GenerationError),
    ("generate", "huge prompt", lambda t: corral.generate("x" * 300_000, regex="[0-9]+"), GenerationError),
    ("generate", "prompt ids outside the vocabulary", lambda t: corral.generate([10**9], regex="a"),
     ConfigurationError),
    ("generate", "negative prompt id", lambda t: corral.generate([-1], regex="a"), ConfigurationError),
    ("generate", "prompt of another type", lambda t: corral.generate(3.5, regex="a"), ConfigurationError),
    ("generate", "max_tokens 0", lambda t: corral.generate("a", max_tokens=0), ConfigurationError),
    ("generate", "max_tokens negative", lambda t: corral.generate("a", max_tokens=-3), ConfigurationError),
    ("generate", "max_tokens huge", lambda t: corral.generate("a", choices=["x"], max_tokens=10**12, seed=0),
     "complete"),
    ("generate", "temperature NaN", lambda t: corral.generate("a", temperature=float("nan")), ConfigurationError),
    ("generate", "temperature infinite", lambda t: corral.generate("a", temperature=float("inf")),
     ConfigurationError),
    ("generate", "temperature negative", lambda t: corral.generate("a", temperature=-1), ConfigurationError),
    ("generate", "top_p 0", lambda t: corral.generate("a", top_p=0.0), ConfigurationError),
    ("generate", "top_p above 1", lambda t: corral.generate("a", top_p=1.5), ConfigurationError),
    ("generate", "top_p NaN", lambda t: corral.generate("a", top_p=float("nan")), ConfigurationError),
    ("generate", "top_k 0", lambda t: corral.generate("a", top_k=0), ConfigurationError),
    ("generate", "empty language", lambda t: corral.generate("a", regex="[^\\s\\S]"), RegexError),
    ("generate", "empty choices", lambda t: corral.generate("a", choices=[]), ConfigurationError),
    ("generate", "unsatisfiable schema", lambda t: corral.generate("a", schema={"type": "integer", "minimum": 5,
                                                                                 "maximum": 1}), SchemaError),
    ("generate", "schema that is not JSON", lambda t: corral.generate("a", schema="{not json"), SchemaError),
    ("generate", "remote $ref (never fetched)", lambda t: corral.generate(
        "a", schema={"$ref": "https://example.com/schema.json"}), SchemaError),
    ("generate", "grammar text with NUL and junk bytes", lambda t: corral.generate("a", grammar="\x00\xff junk"),
     GrammarError),
    ("generate", "grammar file of binary junk", lambda t: corral.generate(
        "a", grammar=_junk_file(t, bytes(range(256)) * 4)), GrammarError),
    ("generate", "missing model folder", lambda t: corral.generate("a", model=str(t / "missing")), ModelError),
    ("generate", "model of another type", lambda t: corral.generate("a", model=42), ConfigurationError),
    ("generate", "two constraints", lambda t: corral.generate("a", regex="a", choices=["a"]), ConfigurationError),
    ("generate", "compile_budget negative", lambda t: corral.generate("a", regex="a", compile_budget=-1),
     ConfigurationError),
    ("generate", "compile_budget of another type", lambda t: corral.generate("a", regex="a", compile_budget="soon"),
     ConfigurationError),
    ("generate", "schema past the compile budget", lambda t: corral.generate(
        "a", schema=HUGE_PATTERN, compile_budget=0.2), "too_complex"),
    ("generate", "grammar past the compile budget", lambda t: corral.generate(
        "a", grammar=f"start: X\nX: /{HUGE_REGEX}/", compile_budget={"seconds": 60, "states": 1000}),
     "too_complex"),
    ("generate", "neither prompt nor messages", lambda t: corral.generate(regex="a"), ConfigurationError),
    ("generate", "prompt and messages", lambda t: corral.generate(
        "a", messages=[{"role": "user", "content": "a"}]), ConfigurationError),
    ("generate", "messages that are a string", lambda t: corral.generate(messages="hi"), ConfigurationError),
    ("generate", "empty messages", lambda t: corral.generate(messages=[]), ConfigurationError),
    ("generate", "message of another type", lambda t: corral.generate(messages=[("user", "a")]),
     ConfigurationError),
    ("generate", "message with an unknown role", lambda t: corral.generate(
        messages=[{"role": "bot", "content": "a"}]), ConfigurationError),
    ("generate", "message without content", lambda t: corral.generate(messages=[{"role": "user"}]),
     ConfigurationError),
    ("generate", "message content that is not a string", lambda t: corral.generate(
        messages=[{"role": "user", "content": ["a", 3]}]), ConfigurationError),
    ("generate", "system that is not a string", lambda t: corral.generate("a", system=3), ConfigurationError),
    ("generate", "system with prompt ids", lambda t: corral.generate([1], system="x"), ConfigurationError),
    ("generate", "stream that is not a bool", lambda t: corral.generate("a", stream="yes"), ConfigurationError),
    ("stream", "max_tokens 0", lambda t: corral.stream("a", max_tokens=0), ConfigurationError),
    ("stream", "empty language (raised by the call)", lambda t: corral.stream("a", regex="[^\\s\\S]"), RegexError),
    ("stream", "stream= given again", lambda t: corral.stream("a", stream=False), ConfigurationError),
    ("stream", "NaN logits (raised while iterating)", lambda t: list(Generator(_toy(_nan_logits)).generate(
        [0], regex="a+", stream=True)), GenerationError),
    ("stream", "NaN logits (raised by .result)", lambda t: Generator(_toy(_nan_logits)).generate(
        [0], regex="a+", method="smc", stream=True).result, GenerationError),
    ("Generator", "messages with a model without a tokenizer", lambda t: Generator(_toy()).generate(
        messages=[{"role": "user", "content": "a"}]), ConfigurationError),
    ("Generator", "NaN logits (lcd)", lambda t: Generator(_toy(_nan_logits)).generate([0], regex="a+"),
     GenerationError),
    ("Generator", "NaN logits (awrs)", lambda t: Generator(_toy(_nan_logits)).generate([0], regex="a+",
                                                                                        method="awrs"),
     GenerationError),
    ("Generator", "NaN logits (smc)", lambda t: Generator(_toy(_nan_logits)).generate([0], regex="a+",
                                                                                       method="smc"),
     GenerationError),
    ("Generator", "+inf logits (speculative)", lambda t: Generator(_toy(_inf_logits)).generate(
        [0], regex="a+", draft="ngram", seed=0), GenerationError),
    ("Generator", "a model without EOS", lambda t: Generator(_toy(eos=False)).generate([0], regex="a+"),
     ModelError),
    ("Generator", "not a model", lambda t: Generator(object()), ConfigurationError),
    ("Generator", "negative cache size", lambda t: Generator(_toy(), constraint_cache_size=-1),
     ConfigurationError),
    ("Generator", "unknown option", lambda t: Generator(_toy()).generate([0], bogus=1), ConfigurationError),
    ("GenerateOptions", "unknown method", lambda t: GenerateOptions.from_kwargs(method="beam"),
     ConfigurationError),
    ("GenerateOptions", "particles without smc", lambda t: GenerateOptions.from_kwargs(particles=4),
     ConfigurationError),
    ("GenerateOptions", "ess_threshold NaN", lambda t: GenerateOptions.from_kwargs(
        method="smc", ess_threshold=float("nan")), ConfigurationError),
    ("validate_jsonl", "deeply nested record", lambda t: corral.validate_jsonl(
        {"type": "array"}, ["[" * DEEP + "]" * DEEP]), "malformed"),
    ("validate_jsonl", "huge number", lambda t: corral.validate_jsonl({"type": "integer"}, ["1" + "0" * 5000]),
     "malformed"),
    ("validate_jsonl", "binary junk line", lambda t: corral.validate_jsonl({}, [b"\xff\xfe\x00junk"]), "malformed"),
    ("validate_jsonl", "invalid schema", lambda t: corral.validate_jsonl({"type": "nonsense"}, ["1"]), SchemaError),
    ("validate_jsonl", "missing file", lambda t: corral.validate_jsonl({}, str(t / "missing.jsonl")), OSError),
    ("Grammar", "Lark syntax error", lambda t: corral.Grammar.from_lark("start: ???"), GrammarError),
    ("Grammar", "undefined rule", lambda t: corral.Grammar.from_lark("start: foo"), GrammarError),
    ("Grammar", "deeply nested Lark", lambda t: corral.Grammar.from_lark(
        "start: " + "(" * 5000 + '"a"' + ")" * 5000), GrammarError),
    ("Grammar", "unbalanced regex", lambda t: corral.Grammar.from_regex("("), RegexError),
    ("Grammar", "deeply nested regex", lambda t: corral.Grammar.from_regex("(" * 5000 + "a" + ")" * 5000),
     RegexError),
    ("Grammar", "regex whose automaton is too large", lambda t: corral.Grammar.from_regex("a{100000}"),
     RegexError),
    ("Grammar", "choices that are not strings", lambda t: corral.Grammar.from_choices([1, 2]), GrammarError),
    ("Vocabulary", "token of another type", lambda t: corral.Vocabulary.from_token_bytes(["a", 3], [0]),
     VocabularyError),
    ("Vocabulary", "EOS outside the vocabulary", lambda t: corral.Vocabulary.from_token_bytes([b"a"], [5]),
     VocabularyError),
    ("CompiledGrammar", "Lark text instead of a Grammar", lambda t: corral.CompiledGrammar(
        "start: 'a'", synthetic_vocab("ab")), ConfigurationError),
    ("CompiledGrammar", "not a vocabulary", lambda t: corral.CompiledGrammar(
        corral.Grammar.from_regex("a"), "vocab"), ConfigurationError),
    ("Matcher", "advance a token outside the vocabulary", lambda t: corral.CompiledGrammar(
        corral.Grammar.from_regex("a+"), synthetic_vocab("ab")).matcher().advance(10**9), ValueError),
    ("Matcher", "check a negative token", lambda t: corral.CompiledGrammar(
        corral.Grammar.from_regex("a+"), synthetic_vocab("ab")).matcher().check(-1), "false"),
    ("Matcher", "roll back past the start", lambda t: corral.CompiledGrammar(
        corral.Grammar.from_regex("a+"), synthetic_vocab("ab")).matcher().rollback(3), ValueError),
    ("HFModel", "missing folder", lambda t: corral.HFModel.load(str(t / "missing")), ModelError),
    ("HFModel", "folder without a model", lambda t: corral.HFModel.load(str(t)), ModelError),
    ("generate_batch", "prompts that are a string", lambda t: corral.generate_batch("a"), ConfigurationError),
    ("generate_batch", "batch_size 0", lambda t: corral.generate_batch(["a"], batch_size=0), ConfigurationError),
    ("generate_batch", "method smc", lambda t: corral.generate_batch(["a"], method="smc"), ConfigurationError),
    ("generate_batch", "unknown option", lambda t: corral.generate_batch(["a"], bogus=1), ConfigurationError),
    ("generate_batch", "unsatisfiable shared schema", lambda t: corral.generate_batch(
        ["a"], schema={"type": "integer", "minimum": 5, "maximum": 1}), SchemaError),
    ("generate_batch", "bad rows among good ones (the good row)", lambda t: corral.generate_batch(
        [3.5, {"prompt": "a", "bogus": 1}, "a"], regex="[0-9]+", max_tokens=4, seed=0)[2], "result"),
    ("generate_batch", "prompt of another type (its row)", lambda t: corral.generate_batch([3.5])[0], "error"),
    ("generate_batch", "prompt longer than the context (its row)", lambda t: corral.generate_batch(
        ["x " * 5000], regex="[0-9]+")[0], "error"),
    ("generate_batch", "row with a bad schema (its row)", lambda t: corral.generate_batch(
        [{"prompt": "a", "schema": "{not json"}])[0], "error"),
]

# (command, case, argv, exit status)
CLI_ROWS = [
    ("generate", "max-tokens 0", ["generate", "a", "--max-tokens", "0"], 2),
    ("generate", "top-p out of range", ["generate", "a", "--top-p", "2"], 2),
    ("generate", "missing model folder", ["generate", "a", "--model", "{tmp}/missing"], 2),
    ("generate", "binary junk grammar file", ["generate", "a", "--grammar", "{junk}"], 2),
    ("generate", "schema that is not JSON", ["generate", "a", "--schema", "{{not json"], 2),
    ("generate", "critic that cannot be imported", ["generate", "a", "--method", "smc", "--critic", "no:such"], 2),
    ("generate", "registry that is not JSON", ["generate", "a", "--schema", "{{}}", "--registry", "{{x"], 2),
    ("generate", "compile budget that is not a number", ["generate", "a", "--compile-budget", "soon"], 2),
    ("generate", "schema past the compile budget", ["generate", "a", "--compile-budget", "0.2", "--schema",
                                                    '{{"type": "string", "pattern": "^(a|b)*a(a|b){{20}}$"}}'],
     2),
    ("generate", "neither PROMPT nor --messages", ["generate", "--max-tokens", "2"], 2),
    ("generate", "binary junk messages file", ["generate", "--messages", "{junk}"], 2),
    ("generate", "--stream with --json", ["generate", "a", "--stream", "--json"], 2),
    ("validate", "missing file", ["validate", "--schema", "{{}}", "{tmp}/missing.jsonl"], 2),
    ("validate", "schema that is not JSON", ["validate", "--schema", "{{not json", "{deep}"], 2),
    ("validate", "deeply nested and huge records", ["validate", "--schema", "{{}}", "{deep}"], 1),
    ("lint", "missing file", ["lint", "{tmp}/missing.lark"], 2),
    ("lint", "binary junk grammar file", ["lint", "{junk}"], 2),
    ("lint", "a folder instead of a file", ["lint", "{tmp}"], 2),
    ("lint", "syntax error (deeply nested brackets)", ["lint", "{deep}"], 2),
    ("lint", "start rule not defined", ["lint", "json", "--start", "nope"], 2),
    ("generate", "batch input file missing", ["generate", "--input", "{tmp}/missing.jsonl", "--output",
                                              "{tmp}/out.jsonl"], 2),
    ("generate", "batch input without --output", ["generate", "--input", "{deep}"], 2),
    ("generate", "batch input and a PROMPT", ["generate", "a", "--input", "{deep}", "--output", "{tmp}/o.jsonl"], 2),
    ("generate", "batch input that is not JSON Lines (rows reported)", ["generate", "--input", "{deep}", "--output",
                                                                        "{tmp}/out.jsonl"], 3),
    ("generate", "batch input of binary junk (rows reported)", ["generate", "--input", "{junk}", "--output",
                                                                "{tmp}/out.jsonl"], 3),
    # serve: every bad input exits 2 before a server starts (checked before the model loads and the port binds)
    ("serve", "port out of range", ["serve", "--port", "70000"], 2),
    ("serve", "port that is not a number", ["serve", "--port", "http"], 2),
    ("serve", "missing model folder", ["serve", "--model", "{tmp}/missing", "--port", "0"], 2),
    ("serve", "max-batch 0", ["serve", "--max-batch", "0"], 2),
    ("serve", "max-queue 0", ["serve", "--max-queue", "0"], 2),
    ("serve", "request timeout that is not a number", ["serve", "--request-timeout", "soon"], 2),
    ("serve", "compile budget that is not a number", ["serve", "--compile-budget", "soon"], 2),
]


def _entry_points() -> set[str]:
    return {name for name in corral.__all__ if name not in NOT_ENTRY_POINTS}


def _cli_commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_every_entry_point_has_rows():
    """A public name or CLI command without rows in this table is a failure: add its hostile inputs."""
    assert _entry_points() - {row[0] for row in ROWS} == set()
    assert _cli_commands() - {row[0] for row in CLI_ROWS} == set()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing here may reach the network (remote ``$ref`` URIs are resolved only from the caller's registry)."""
    def refuse(*args, **kwargs):
        raise AssertionError("a bad input made corral open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("entry, case, call, expected", ROWS, ids=[f"{r[0]}: {r[1]}" for r in ROWS])
def test_bad_input(entry, case, call, expected, tmp_path):
    if expected == "too_complex":
        with pytest.raises((SchemaError, GrammarError)) as info:
            call(tmp_path)
        assert info.value.kind == "too_complex", info.value
        return
    if isinstance(expected, type):
        with pytest.raises(expected) as info:
            call(tmp_path)
        error = info.value
        assert isinstance(error, CorralError) or expected in (ValueError, OSError), (case, error)
        assert str(error), "an error without a message"
        return
    result = call(tmp_path)
    if expected == "result":
        assert result.status in ("complete", "length")
    elif expected == "complete":
        assert result.status == "complete"
    elif expected == "malformed":
        assert result.records[0].status == "malformed" and result.records[0].parse_error, result
    elif expected == "false":
        assert result is False
    elif expected == "error":  # a batch row that could not run: its own status and message, the batch goes on
        assert result.status == "error" and result.error, result


@pytest.mark.parametrize("command, case, argv, code", CLI_ROWS, ids=[f"{r[0]}: {r[1]}" for r in CLI_ROWS])
def test_cli_bad_input(command, case, argv, code, tmp_path):
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * DEEP + "]" * DEEP + "\n" + "1" + "0" * 5000 + "\n")
    junk = _junk_file(tmp_path, bytes(range(256)) * 4)
    args = [a.format(tmp=tmp_path, junk=junk, deep=deep) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "corral", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, (case, proc.stderr[-500:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    if code == 2:
        assert proc.stderr.startswith("corral: error:"), proc.stderr[-300:]


def test_cli_main_never_raises_on_usage_errors(capsys):
    """argparse usage errors exit with status 2 through SystemExit, with a usage line and no traceback."""
    with pytest.raises(SystemExit) as info:
        main(["generate", "a", "--max-tokens", "many"])
    assert info.value.code == 2 and "invalid int value" in capsys.readouterr().err
