"""One error family: every error corral raises on bad input is a ``CorralError``; argument errors are a
``ConfigurationError`` (also a ``ValueError``); the exported names are exactly the documented ones."""

from __future__ import annotations

import pytest

import corral
from corral import errors

EXPORTED = ["generate", "stream", "generate_batch", "Generator", "GenerateOptions", "Result", "validate_jsonl", "Grammar", "Vocabulary", "CompiledGrammar", "Matcher", "HFModel",
            "CorralError", "GrammarError", "RegexError", "VocabularyError", "SchemaError", "ModelError",
            "ConfigurationError", "GenerationError"]


def test_exported_names():
    """``corral.__all__`` is the public API (a name added or dropped must be a decision, as in httpx)."""
    assert corral.__all__ == EXPORTED
    for name in EXPORTED:
        assert getattr(corral, name) is not None


def test_error_hierarchy():
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.CorralError), name
    for cls in (errors.GrammarError, errors.RegexError, errors.VocabularyError, errors.SchemaError,
                errors.ModelError, errors.ConfigurationError):
        assert issubclass(cls, ValueError), cls
    assert not issubclass(errors.GenerationError, ValueError)


@pytest.mark.parametrize("kwargs", [
    {"regex": "a", "choices": ["a"]},      # two constraints
    {"max_tokens": 0},
    {"max_tokens": -3},
    {"top_p": 0},
    {"top_p": 1.5},
    {"top_k": 0},
    {"temperature": -1},
    {"choices": "abc"},
    {"choices": []},
    {"regex": 5},
    {"seed": "x"},
    {"method": "beam"},
    {"method": "lcd", "particles": 4},
    {"method": "smc", "temperature": 0},
    {"method": "smc", "particles": 0},
    {"method": "smc", "ess_threshold": 2.0},
    {"method": "smc", "resampling": "magic"},
    {"draft": "ngram", "draft_length": "often"},
    {"draft": "ngram", "draft_length": -1},
])
def test_argument_errors_are_configuration_errors(kwargs):
    """Bad arguments raise ``ConfigurationError`` before any model is loaded or run, caught by ``except
    CorralError`` (and by ``except ValueError``)."""
    with pytest.raises(errors.ConfigurationError) as info:
        corral.generate("x", model="/nonexistent/model/folder", **kwargs)
    assert isinstance(info.value, errors.CorralError) and isinstance(info.value, ValueError)
