"""corral: exact, faithful and fast structured-output generation.

Quick start::

    import corral
    result = corral.generate("The answer is ", regex=r"[0-9]+")
    print(result.text, result.status)
    corral.generate(messages=[{"role": "user", "content": "Hi"}])   # a chat, through the tokenizer's template
    for chunk in corral.stream("Write a sentence:\n"):              # the text as it is generated
        print(chunk.text, end="")

``import corral`` is cheap: ``torch`` and ``transformers`` are imported on first use, and the classes below are
loaded lazily on first attribute access.
"""

from corral.errors import (
    ConfigurationError,
    CorralError,
    GenerationError,
    GrammarError,
    ModelError,
    RegexError,
    SchemaError,
    VocabularyError,
)

# ``corral.generate`` is both a submodule and the function; importing the function here (the submodule imports
# nothing heavy) makes ``corral.generate`` the function for good.
from corral.generate import generate, stream
from corral.result import Result

__version__ = "0.1.0"

_LAZY = {
    "Grammar": "corral.compile.grammar",
    "Vocabulary": "corral.tokens.vocabulary",
    "CompiledGrammar": "corral.runtime.matcher",
    "Matcher": "corral.runtime.matcher",
    "HFModel": "corral.models.hf",
    "Generator": "corral.generator",
    "GenerateOptions": "corral.options",
    "validate_jsonl": "corral.validate",
    "generate_batch": "corral.batching.api",
}

__all__ = [
    "generate",
    "stream",
    "generate_batch",
    "Generator",
    "GenerateOptions",
    "Result",
    "validate_jsonl",
    "Grammar",
    "Vocabulary",
    "CompiledGrammar",
    "Matcher",
    "HFModel",
    "CorralError",
    "GrammarError",
    "RegexError",
    "VocabularyError",
    "SchemaError",
    "ModelError",
    "ConfigurationError",
    "GenerationError",
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'corral' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
