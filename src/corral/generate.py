"""The one-call public API: :func:`generate`, a thin wrapper over a process-wide :class:`~corral.generator.Generator`
per model, and the helpers that share its caches (:func:`load_model`, :func:`clear_caches`).

This module imports nothing heavy at import time (``torch`` and ``transformers`` are imported on the first call),
so ``import corral`` stays cheap.
"""

from __future__ import annotations

from corral.constraint import Constraint
from corral.generator import default_generator, drop_default_generators
from corral.options import GenerateOptions, option_names, options_doc
from corral.result import Result

__all__ = ["generate", "load_model", "clear_caches"]


def generate(
    prompt,
    *,
    model=None,
    grammar=None,
    regex=None,
    choices=None,
    schema=None,
    max_tokens: int = 256,
    temperature: float | None = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    method: str = "lcd",
    particles: int | None = None,
    ess_threshold: float = 0.5,
    resampling: str = "stratified",
    critic=None,
    draft=None,
    draft_length="adaptive",
    whitespace=None,
    lenient: bool = False,
    registry=None,
    property_order: str = "schema",
    integral_floats: bool = False,
    formats: str = "assert",
    strict_keywords: bool = False,
    compile_budget=None,
) -> Result:
    """Generate text from a prompt, optionally constrained to a grammar, a regex, a list of choices or a JSON Schema.

    Only tokens that keep the text a prefix of the language are chosen, and EOS only when it is complete, so a
    ``"complete"`` result is always in the language. ``method``: ``"lcd"`` masked decoding (law ``ℓ``), ``"awrs"``
    (``ℓ`` by rejection, with the sequence's importance weight in ``Result.log_z``), ``"smc"`` (particles targeting
    the model conditioned on the constraint, ``π(y) ∝ p(y) 1[y ∈ L]``; ``Result.text`` is one posterior draw).
    This is ``default_generator(model).generate(...)``; hold a :class:`~corral.generator.Generator` to own caches.

    Parameters
    ----------
    prompt : str or list of int
        Text (encoded with the model's tokenizer and its default special tokens), or token ids.
    model : None, str, os.PathLike, HFModel or tuple, optional
        ``None``: the embedded default model; a local folder, a hub name, an :class:`~corral.models.hf.HFModel`
        or a ``(PreTrainedModel, tokenizer)`` tuple. Loaded models are cached between calls.
    grammar, regex, choices, schema
        At most one: the constraint (:class:`~corral.constraint.Constraint`). ``schema=`` outputs are validated
        JSON (``Result.value``); an unsupported keyword raises ``SchemaError`` naming it and its JSON pointer.
    max_tokens, temperature, ... compile_budget
        The options, each documented once in :mod:`corral.options` and listed below; the CLI has a flag for each.

    Returns ``Result``. Raises ``ConfigurationError`` (a bad argument), ``GrammarError``, ``RegexError`` or
    ``SchemaError`` (a malformed or unsupported constraint, or kind ``"too_complex"`` past ``compile_budget``),
    ``ModelError`` or ``GenerationError`` (the prompt is
    longer than the model's context).
    """
    arguments = locals()  # every parameter, by name: nothing else is defined yet
    options = GenerateOptions.from_kwargs(**{name: arguments[name] for name in option_names()})
    constraint = Constraint(grammar=grammar, regex=regex, choices=choices, schema=schema)
    return default_generator(model).run(prompt, constraint, options)


generate.__doc__ += "\n    Options\n    -------\n" + options_doc() + "\n"


def load_model(model=None):
    """The model :func:`generate` uses for ``model=`` (loaded once and cached).

    Returns
    -------
    LanguageModel
        An :class:`~corral.models.hf.HFModel` unless a loaded model was given.
    """
    return default_generator(model).model


def clear_caches() -> None:
    """Forget every process-wide cache: the generators (loaded models, parsed grammars, compiled constraints) and
    the tables shared by all grammars (regex DFAs, token tables by vocabulary)."""
    from corral.automata import regex
    from corral.compile import symbols
    from corral.runtime import engine
    from corral.tokens import index

    drop_default_generators()
    for module in (regex, symbols, engine, index):
        module.clear_caches()
