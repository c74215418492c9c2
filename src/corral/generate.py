"""The one-call public API: :func:`generate` (and :func:`stream`, its streaming form), a thin wrapper over a
process-wide :class:`~corral.generator.Generator` per model, and the helpers that share its caches
(:func:`load_model`, :func:`clear_caches`).

This module imports nothing heavy at import time (``torch`` and ``transformers`` are imported on the first call),
so ``import corral`` stays cheap.
"""

from __future__ import annotations

import inspect

from corral.chat import make_prompt
from corral.constraint import Constraint
from corral.errors import ConfigurationError
from corral.generator import default_generator, drop_default_generators
from corral.options import GenerateOptions, option_names, options_doc
from corral.result import Result
from corral.streaming import Stream

__all__ = ["generate", "stream", "load_model", "clear_caches"]


def generate(
    prompt=None,
    *,
    messages=None,
    system=None,
    stream: bool = False,
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
    twist=None,
    samples: int | None = None,
    trie=None,
    draft=None,
    draft_length="adaptive",
    draft_tree=None,
    switching=None,
    switch_threshold: float = 1.0,
    switch_window: int = 4,
    whitespace=None,
    lenient: bool = False,
    registry=None,
    property_order: str = "schema",
    integral_floats: bool = False,
    formats: str = "assert",
    strict_keywords: bool = False,
    compile_budget=None,
) -> Result | Stream:
    """Generate text from a prompt, optionally constrained to a grammar, a regex, a list of choices or a JSON Schema.

    Only tokens that keep the text a prefix of the language are chosen, and EOS only when it is complete, so a
    ``"complete"`` result is always in the language. ``method``: ``"lcd"`` masked decoding (law ``ℓ``), ``"awrs"``
    (``ℓ`` by rejection, with the sequence's importance weight in ``Result.log_z``), ``"smc"`` (particles targeting
    the model conditioned on the constraint, ``π(y) ∝ p(y) 1[y ∈ L]``; ``Result.text`` is one posterior draw),
    ``"asap"`` (``samples`` ASAp draws learning in a ``trie``; their law approaches ``π``; ``Result.text`` is the
    last).
    This is ``default_generator(model).generate(...)``; hold a :class:`~corral.generator.Generator` to own caches.

    Parameters
    ----------
    prompt : str or list of int, optional
        Text (encoded with the model's tokenizer and its default special tokens), or token ids. Exactly one of
        ``prompt`` and ``messages``.
    messages : list of dict, optional
        A chat: ``[{"role": "system" | "user" | "assistant" | "tool", "content": str}, ...]``, rendered with the
        tokenizer's own chat template (``apply_chat_template(add_generation_prompt=True)``; :mod:`corral.chat`).
        A tokenizer without a template is a ``ConfigurationError``; the embedded model has one.
    system : str, optional
        A system message, put first. With a prompt string instead of ``messages``, the call becomes a chat whose
        user message is the prompt (not with token ids).
    stream : bool
        ``True``: return a :class:`~corral.streaming.Stream` instead, an iterator of ``StreamChunk(text,
        token_ids)`` as the output is generated, with this ``Result`` in ``.result`` at the end (:func:`stream`).
    model : None, str, os.PathLike, HFModel or tuple, optional
        ``None``: the embedded default model; a local folder, a hub name, an :class:`~corral.models.hf.HFModel`
        or a ``(PreTrainedModel, tokenizer)`` tuple. Loaded models are cached between calls.
    grammar, regex, choices, schema
        At most one: the constraint (:class:`~corral.constraint.Constraint`). ``schema=`` outputs are validated
        JSON (``Result.value``); an unsupported keyword raises ``SchemaError`` naming it and its JSON pointer.
    max_tokens, temperature, ... compile_budget
        The options, each documented once in :mod:`corral.options` and listed below; the CLI has a flag for each.

    Returns ``Result`` (a ``Stream`` with ``stream=True``). Raises ``ConfigurationError`` (a bad argument, bad
    messages, a tokenizer without a chat template), ``GrammarError``, ``RegexError`` or
    ``SchemaError`` (a malformed or unsupported constraint, or kind ``"too_complex"`` past ``compile_budget``),
    ``ModelError`` or ``GenerationError`` (the prompt is
    longer than the model's context).
    """
    arguments = locals()  # every parameter, by name: nothing else is defined yet
    options = GenerateOptions.from_kwargs(**{name: arguments[name] for name in option_names()})
    constraint = Constraint(grammar=grammar, regex=regex, choices=choices, schema=schema)
    prompt = make_prompt(prompt, messages=messages, system=system)
    if not isinstance(stream, bool):
        raise ConfigurationError(f"stream must be True or False, got {stream!r}")
    generator = default_generator(model)
    if stream:
        return generator.run_stream(prompt, constraint, options)
    return generator.run(prompt, constraint, options)


generate.__doc__ += "\n    Options\n    -------\n" + options_doc() + "\n"


def stream(prompt=None, **kwargs) -> Stream:
    """``generate(prompt, ..., stream=True)``: the output as it is generated.

    Takes every argument of :func:`generate` but ``stream``. Everything before sampling (checks, loading,
    compiling, the prompt) runs in the call, whose errors it raises; sampling runs as the stream is iterated.

    Returns
    -------
    Stream
        An iterator of :class:`~corral.streaming.StreamChunk` ``(text, token_ids)``: the texts join into
        ``Result.text`` (never split inside a UTF-8 character) and the ids into ``Result.token_ids``; the
        :class:`~corral.result.Result` is ``.result`` once it is exhausted. ``method="smc"`` gives its whole output
        as one chunk at the end; speculative decoding gives each verified round as one chunk. Closing it (``break``
        out of the loop, ``with``, ``.close()``) stops the generation. See :mod:`corral.streaming`.

    Examples
    --------
    >>> for chunk in corral.stream("Write a sentence:\\n", seed=0, max_tokens=20):  # doctest: +SKIP
    ...     print(chunk.text, end="", flush=True)
    """
    if "stream" in kwargs:
        raise ConfigurationError("corral.stream() always streams: drop stream=")
    return generate(prompt, stream=True, **kwargs)


stream.__signature__ = inspect.signature(generate).replace(
    parameters=[p for p in inspect.signature(generate).parameters.values() if p.name != "stream"],
    return_annotation="Stream")


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
    from corral.automata import lexemes, regex
    from corral.compile import symbols
    from corral.runtime import engine
    from corral.tokens import index

    drop_default_generators()
    for module in (regex, lexemes, symbols, engine, index):
        module.clear_caches()
