"""The API's options: one table (:mod:`corral.options`) builds the checks, the CLI flags and the docs; the CLI exposes
every option of ``generate``; a :class:`~corral.generator.Generator` owns bounded, clearable caches."""

from __future__ import annotations

import argparse
import inspect
import sys
import types

import pytest

import corral
from corral.cli import build_parser
from corral.constraint import Constraint
from corral.errors import ConfigurationError
from corral.generator import Generator, LRUCache
from corral.models.toy import ToyModel
from corral.options import OPTION_GROUPS, GenerateOptions, SchemaOptions, option_names

CLI_ONLY = {"help", "json", "prompt",  # the CLI's own flags (and the positional prompt)
            "input", "output", "batch_size"}  # batch mode (corral.batching.jobs), not options of generate()


def _generate_subparser() -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["generate"]


def test_cli_exposes_every_option_of_generate():
    """The CLI's flags of ``corral generate`` and the parameters of ``corral.generate`` are the same list."""
    cli = {a.dest for a in _generate_subparser()._actions} - CLI_ONLY
    api = set(inspect.signature(corral.generate).parameters) - {"prompt"}
    assert cli == api, f"only in the CLI: {sorted(cli - api)}; only in generate(): {sorted(api - cli)}"


def test_generate_defaults_are_the_option_defaults():
    """``generate``'s spelled-out defaults are the option table's (one source of truth, checked)."""
    params = inspect.signature(corral.generate).parameters
    defaults = GenerateOptions.from_kwargs()
    for name in option_names():
        group = next(getattr(defaults, g) for g in OPTION_GROUPS if hasattr(getattr(defaults, g), name))
        assert params[name].default == getattr(group, name), name
    parser_defaults = vars(_generate_subparser().parse_args(["p"]))
    assert GenerateOptions.from_cli(argparse.Namespace(**parser_defaults)) == defaults


def _critic(token_ids, done):
    return 0.0


def test_cli_and_api_build_the_same_options(monkeypatch, tmp_path):
    """The same settings given as flags and as keywords give equal option objects (custom parsers included)."""
    module = types.ModuleType("corral_test_critics")
    module.critic = _critic
    monkeypatch.setitem(sys.modules, "corral_test_critics", module)
    registry = tmp_path / "registry.json"
    registry.write_text('{"https://example.com/s": {"type": "integer"}}')
    argv = ["p", "--max-tokens", "7", "--temperature", "0.5", "--seed", "3", "--method", "smc", "--particles", "4",
            "--ess-threshold", "0.25", "--resampling", "systematic", "--critic", "corral_test_critics:critic",
            "--draft", "ngram", "--draft-length", "3", "--whitespace", "2", "--registry", str(registry),
            "--property-order", "any", "--integral-floats", "--formats", "annotate", "--strict-keywords", "--lenient"]
    from_cli = GenerateOptions.from_cli(_generate_subparser().parse_args(argv))
    from_api = GenerateOptions.from_kwargs(
        max_tokens=7, temperature=0.5, seed=3, method="smc", particles=4, ess_threshold=0.25,
        resampling="systematic", critic=_critic, draft="ngram", draft_length=3, whitespace=2,
        registry={"https://example.com/s": {"type": "integer"}}, property_order="any", integral_floats=True,
        formats="annotate", strict_keywords=True, lenient=True)
    assert from_cli == from_api


@pytest.mark.parametrize("flag, value", [("--critic", "nomodule"), ("--critic", "corral:no_such_name"),
                                         ("--registry", "{not json"), ("--draft-length", "-1"),
                                         ("--draft-length", "x")])
def test_cli_parsed_options_fail_clearly(flag, value, capsys):
    """A flag the option table parses gives one ``corral: error:`` line and exit 2."""
    code = corral.cli.main(["generate", "p", "--draft", "ngram", flag, value])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("corral: error:") and "Traceback" not in err


@pytest.mark.parametrize("kwargs, needle", [
    ({"particles": 4}, "particles="),
    ({"method": "awrs", "top_k": 3}, "top_k"),
    ({"method": "smc", "temperature": 0}, "temperature > 0"),
    ({"method": "smc", "resampling": "optimal", "draft": "ngram"}, "no draft="),
    ({"no_such_option": 1}, "unknown option"),
    ({"max_tokens": 0}, "max_tokens"),
])
def test_options_check_across_groups(kwargs, needle):
    with pytest.raises(ConfigurationError, match=needle):
        GenerateOptions.from_kwargs(**kwargs)


def test_constraint_checks():
    with pytest.raises(ConfigurationError, match="at most one"):
        Constraint(regex="a", choices=["a"])
    with pytest.raises(ConfigurationError, match="schema="):
        Constraint(regex="a", schema={})
    assert Constraint(choices=["a", "b"]).choices == ("a", "b")
    assert Constraint().kind is None and Constraint(regex="a").kind == "regex"


def test_schema_options_need_a_schema():
    gen = Generator(ToyModel.random(["a", "b"], seed=0))
    with pytest.raises(ConfigurationError, match="apply to schema= only"):
        gen.generate([0], regex="a+", whitespace="compact")
    assert SchemaOptions(whitespace="compact").layout == "compact" and SchemaOptions().layout == "spaced"


def test_generator_caches_are_bounded_and_clearable():
    model = ToyModel.random(["a", "b", "ab"], seed=1, eos_bias=1.0)
    gen = Generator(model, constraint_cache_size=2, grammar_cache_size=1)
    for pattern in ("a+", "b+", "(ab)+", "a+"):
        result = gen.generate([0], regex=pattern, max_tokens=8, seed=0)
        assert result.status in ("complete", "length")
        if result.complete:
            assert set(result.text) <= set(pattern)
    assert gen.cache_info() == {"grammars": 0, "constraints": 2}
    again = gen.compile(Constraint(regex="a+"))
    assert gen.compile(Constraint(regex="a+")) is again  # a hit
    gen.generate([0], grammar='start: "a" "b"', max_tokens=4, seed=0)
    gen.generate([0], grammar='start: "b" "a"', max_tokens=4, seed=0)
    assert gen.cache_info() == {"grammars": 1, "constraints": 2}
    gen.clear()
    assert gen.cache_info() == {"grammars": 0, "constraints": 0}
    assert gen.compile(Constraint(regex="a+")) is not again


def test_lru_cache():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2
    with pytest.raises(ConfigurationError):
        LRUCache(-1)


def test_generator_rejects_what_is_not_a_model():
    with pytest.raises(ConfigurationError, match="model must be"):
        Generator(42)


def test_clear_caches_empties_every_process_wide_cache():
    """``clear_caches`` drops the generators and the tables shared between grammars (regex DFAs, token tables)."""
    from corral.automata import regex
    from corral.compile.grammar import Grammar
    from corral.generate import clear_caches
    from corral.runtime import engine
    from corral.runtime.matcher import CompiledGrammar
    from corral.testing import synthetic_vocab
    from corral.tokens import index

    compiled = CompiledGrammar(Grammar.from_regex("(ab)+c?"), synthetic_vocab("abc"))
    compiled.matcher().mask()
    assert regex._compile_cached.cache_info().currsize > 0
    assert index._SHARED or engine._TABLES
    clear_caches()
    assert regex._compile_cached.cache_info().currsize == 0
    assert not index._SHARED and not index._VOCAB and not engine._TABLES and not engine._HUBS
    assert compiled.matcher().mask().any()  # grammars compiled before keep working
