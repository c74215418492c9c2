"""From what a caller gives (a prompt string, token ids, chat messages, or a request dict with its own constraint
and options) to an engine :class:`~corral.batching.request.Request`: checked options, the encoded prompt, the
compiled constraint (compiled once per batch for every row that shares it, through the
:class:`~corral.generator.Generator`'s caches) and, for ``schema=`` rows, the parse-and-validate step of
:func:`corral.generate`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import fields, replace

from corral.constraint import Constraint
from corral.errors import ConfigurationError
from corral.options import GenerateOptions, SchemaOptions, option_names

__all__ = ["RowPreparer", "CONSTRAINT_KEYS", "PROMPT_KEYS", "encode_prompt"]

#: The keys of a request dict that give its constraint (at most one).
CONSTRAINT_KEYS = ("grammar", "regex", "choices", "schema")
#: The keys of a request dict that give its prompt (``prompt`` or ``messages``, and ``system``), and its id.
PROMPT_KEYS = ("id", "prompt", "messages", "system")
_SCHEMA_OPTIONS = tuple(f.name for f in fields(SchemaOptions))


def encode_prompt(lm, prompt) -> list[int]:
    """Token ids of one prompt: a string, token ids, chat messages (a list of dicts) or a ``ChatPrompt``.

    Parameters
    ----------
    lm : LanguageModel
    prompt : str, list of int, list of dict or corral.chat.ChatPrompt

    Returns
    -------
    list of int

    Raises
    ------
    ConfigurationError
        Another type, token ids outside the vocabulary, bad messages or a tokenizer without a chat template.
    """
    from corral.chat import ChatPrompt, render_messages

    if isinstance(prompt, ChatPrompt):
        return prompt.ids(lm)
    if isinstance(prompt, str):
        return lm.encode(prompt)
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(m, Mapping) for m in prompt):
        return render_messages(lm, list(prompt))
    if isinstance(prompt, (list, tuple)) and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        bad = [t for t in prompt if not 0 <= t < lm.vocab.size]
        if bad:
            raise ConfigurationError(f"prompt token ids must be in [0, {lm.vocab.size}) for this model's "
                                     f"vocabulary; got {bad[:5]}")
        return list(prompt)
    raise ConfigurationError("a prompt must be a string, a list of token ids, a list of chat messages or a request "
                             f"dict; got {type(prompt).__name__}")


def _key(value):
    """A cache key for a constraint value or option: its canonical JSON, else the object's identity."""
    try:
        return ("json", json.dumps(value, sort_keys=True))
    except (TypeError, ValueError):
        return ("id", id(value))


def _check_lcd(options: GenerateOptions) -> None:
    if options.sampling.method != "lcd":
        raise ConfigurationError(f"batches sample with masked decoding: method='lcd' only (got "
                                 f"{options.sampling.method!r}); run method={options.sampling.method!r} with "
                                 "corral.generate, one call per prompt")
    if options.speculation.draft is not None:
        raise ConfigurationError("batches do not speculate: drop draft=")


class RowPreparer:
    """Turns batch items into engine requests, sharing compiled constraints between rows.

    Parameters
    ----------
    generator : corral.generator.Generator
        Loads the model and compiles constraints (with its caches).
    constraint : Constraint
        The constraint of rows that do not give their own.
    options : dict
        Flat option keywords (:func:`corral.options.option_names`) for every row; a request dict's own options
        override them. Schema options apply to ``schema=`` rows only.
    system : str, optional
        A system message for every row given as a prompt string or messages (a request dict's own ``"system"``
        wins); each such row becomes a chat.

    Raises
    ------
    ConfigurationError
        Bad options (checked once, here), or a method other than ``"lcd"``.
    """

    def __init__(self, generator, constraint: Constraint, options: Mapping, *, system=None) -> None:
        self.generator = generator
        self.constraint = constraint
        self.options = dict(options)
        self.system = system
        _check_lcd(self.options_for(constraint, {}))
        self._memo: dict = {}

    def options_for(self, constraint: Constraint, own: Mapping) -> GenerateOptions:
        """The checked options of a row with this constraint and its own option keywords."""
        base = dict(self.options)
        if constraint.kind != "schema":  # shared schema options do not concern a grammar row
            for name in _SCHEMA_OPTIONS:
                base.pop(name, None)
        options = GenerateOptions.from_kwargs(**{**base, **own})
        if constraint.kind != "schema" and not options.schema.is_default():
            raise ConfigurationError("whitespace=, lenient=, registry=, property_order=, integral_floats=, "
                                     "formats= and strict_keywords= apply to schema= only")
        return options

    def compiled(self, constraint: Constraint, options: GenerateOptions):
        """``(compiled constraint or None, resolved schema or None, seconds spent compiling)``, memoised."""
        from corral.generator import _resolve_schema

        if constraint.kind is None:
            return None, None, 0.0
        value = getattr(constraint, constraint.kind)
        key = (constraint.kind, _key(value), _key([getattr(options.schema, n) for n in _SCHEMA_OPTIONS]),
               _key(options.compile.compile_budget))
        hit = self._memo.get(key)
        if hit is None:
            self.generator.model  # loaded outside the compile budget (which times compilation only)
            t0 = time.perf_counter()
            schema = _resolve_schema(constraint)
            compiled = self.generator.compile(constraint, options.schema, compile_budget=options.compile.budget)
            hit = (compiled, schema, time.perf_counter() - t0, value)  # value: keeps id() keys valid
            self._memo[key] = hit
            return hit[0], hit[1], hit[2]
        return hit[0], hit[1], 0.0

    def request(self, item, tag=None):
        """The :class:`~corral.batching.request.Request` of one item.

        Parameters
        ----------
        item : str, list of int, list of dict or dict
            A prompt, chat messages, or a request dict: ``{"prompt": ... | "messages": [...], "system"?, "id"?,
            one of "schema"/"grammar"/"regex"/"choices"?, options...}``.
        tag : object
            The request's tag (a dict's ``"id"`` wins).

        Raises
        ------
        CorralError
            Anything wrong with this row (unknown fields, bad options or constraint, a bad prompt).
        """
        from corral.batching.request import Request
        from corral.chat import make_prompt

        own: dict = {}
        constraint = self.constraint
        if isinstance(item, Mapping):
            unknown = sorted(str(k) for k in item if k not in PROMPT_KEYS + CONSTRAINT_KEYS
                             and k not in option_names())
            if unknown:
                raise ConfigurationError(f"unknown field(s) {', '.join(unknown)}")
            tag = item.get("id", tag)
            given = {k: item[k] for k in CONSTRAINT_KEYS if item.get(k) is not None}
            if given:
                constraint = Constraint(**given)
            own = {k: v for k, v in item.items() if k in option_names()}
            prompt = make_prompt(item.get("prompt"), messages=item.get("messages"),
                                 system=item.get("system", self.system))
        elif self.system is not None:
            is_chat = isinstance(item, (list, tuple)) and item and all(isinstance(m, Mapping) for m in item)
            prompt = make_prompt(None if is_chat else item, messages=item if is_chat else None, system=self.system)
        else:
            prompt = item
        options = self.options_for(constraint, own)
        _check_lcd(options)
        compiled, schema, compile_s = self.compiled(constraint, options)
        lm = self.generator.model
        s = options.sampling
        finalize = None if schema is None else _schema_finalizer(schema, options.schema)
        return Request(encode_prompt(lm, prompt), compiled=compiled, max_tokens=s.max_tokens,
                       temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, seed=s.seed, finalize=finalize,
                       tag=tag, timings={"compile_s": compile_s})


def _schema_finalizer(schema, schema_options: SchemaOptions):
    """``finalize(result)``: a complete schema row's text parsed and validated into ``value`` (as
    :func:`corral.generate` does: a failure is a ``GenerationError``, or status ``"invalid"`` when lenient)."""
    from corral.generator import _schema_value

    def finalize(result):
        if result.status != "complete":
            return result
        status, value = _schema_value(result.text, schema, schema_options)
        return replace(result, status=status, value=value)

    return finalize
