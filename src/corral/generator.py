"""A :class:`Generator`: one model and its caches (grammars, compiled constraints), which runs generations.

:func:`corral.generate` is a thin wrapper that picks a process-wide Generator for the model and calls it. Hold a
Generator yourself to own the caches (size them, clear them, drop them with the object)::

    gen = corral.Generator("path/to/model")
    result = gen.generate("The answer is ", regex=r"[0-9]+", max_tokens=8)

The stages of one call: check the options (:class:`~corral.options.GenerateOptions`), the constraint
(:class:`~corral.constraint.Constraint`) and the prompt (a string, token ids, or chat messages:
:func:`corral.chat.make_prompt`); load the model; compile the constraint for its vocabulary (cached); encode the
prompt (a chat through the tokenizer's template) and start it; run the sampler chosen from
:data:`corral.runners.SAMPLERS`; decode, and for ``schema=`` parse and validate the output into
:class:`~corral.result.Result`. With ``stream=True`` everything up to the sampler runs in the call, and the sampler
runs as the returned :class:`~corral.streaming.Stream` is iterated.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.budget import budget_scope
from corral.chat import ChatPrompt, make_prompt
from corral.constraint import Constraint, source_key
from corral.errors import ConfigurationError, GenerationError, ModelError
from corral.options import GenerateOptions, SchemaOptions
from corral.result import Result
from corral.streaming import Stream

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.protocols import CompiledConstraint, Drafter, LanguageModel
    from corral.runners import Job

__all__ = ["Generator", "LRUCache", "default_generator", "drop_default_generators"]


class LRUCache:
    """A thread-safe mapping that keeps the ``maxsize`` most recently used entries.

    Parameters
    ----------
    maxsize : int
        Most entries kept (``>= 0``; 0 keeps nothing).
    """

    def __init__(self, maxsize: int) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise ConfigurationError(f"cache sizes must be integers >= 0, got {maxsize!r}")
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, default=None):
        """The value for ``key`` (now the most recently used), or ``default``."""
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key, value) -> None:
        """Store ``value`` for ``key``, dropping the least recently used entries past ``maxsize``."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


_DRAFT_KEYWORDS = ("auto", "ngram", "forced", "fastforward", "model")


class Generator:
    """A model with bounded caches of parsed grammars and compiled constraints; :meth:`generate` runs a call.

    Parameters
    ----------
    model : None, str, os.PathLike, HFModel or tuple, optional
        ``None``: the embedded default model. A local model folder, a Hugging Face hub name, a loaded
        :class:`~corral.models.hf.HFModel` (or any :class:`~corral.protocols.LanguageModel`), or a
        ``(PreTrainedModel, tokenizer)`` tuple. Loaded on first use (:attr:`model`).
    grammar_cache_size : int
        Most parsed ``grammar=`` sources kept (Lark text or files, by text and modification time).
    constraint_cache_size : int
        Most compiled constraints kept (by grammar text, regex, choices or schema).
    """

    def __init__(self, model: Any = None, *, grammar_cache_size: int = 32, constraint_cache_size: int = 16) -> None:
        _check_model_spec(model)
        self._spec = model
        self._model: LanguageModel | None = model if _is_loaded(model) else None
        self._load_lock = threading.Lock()
        self._grammars = LRUCache(grammar_cache_size)
        self._compiled = LRUCache(constraint_cache_size)

    @property
    def model(self) -> LanguageModel:
        """The model (loaded on first use; ``ModelError`` when it cannot be)."""
        if self._model is None:
            from corral.models.hf import HFModel

            with self._load_lock:
                if self._model is None:
                    self._model = HFModel.load(self._spec)
        return self._model

    def clear(self) -> None:
        """Forget every cached grammar and compiled constraint (the model stays loaded)."""
        self._grammars.clear()
        self._compiled.clear()

    def cache_info(self) -> dict[str, int]:
        """Entries in each cache: ``grammars`` and ``constraints``."""
        return {"grammars": len(self._grammars), "constraints": len(self._compiled)}

    def generate(self, prompt=None, *, messages=None, system=None, stream: bool = False, grammar=None, regex=None,
                 choices=None, schema=None, **options) -> Result | Stream:
        """Generate from ``prompt`` or chat ``messages``: the arguments and result of :func:`corral.generate`
        (without ``model=``).

        Returns
        -------
        Result or Stream
            A :class:`~corral.streaming.Stream` with ``stream=True``.
        """
        constraint = Constraint(grammar=grammar, regex=regex, choices=choices, schema=schema)
        checked = GenerateOptions.from_kwargs(**options)
        prompt = make_prompt(prompt, messages=messages, system=system)
        if not isinstance(stream, bool):
            raise ConfigurationError(f"stream must be True or False, got {stream!r}")
        return self.run_stream(prompt, constraint, checked) if stream else self.run(prompt, constraint, checked)

    def run(self, prompt, constraint: Constraint, options: GenerateOptions, *, on_tokens=None) -> Result:
        """Run one generation with checked arguments (what :meth:`generate` and :func:`corral.generate` call).

        Parameters
        ----------
        prompt : str, list of int or ChatPrompt
            A prompt string, token ids, or a chat (:func:`corral.chat.make_prompt`).
        constraint : Constraint
        options : GenerateOptions
        on_tokens : callable, optional
            ``on_tokens(token_ids)``, called as the sampler emits tokens (:class:`~corral.runners.Job`).

        Returns
        -------
        Result
        """
        return self._prepare(prompt, constraint, options)(on_tokens)

    def run_stream(self, prompt, constraint: Constraint, options: GenerateOptions) -> Stream:
        """Like :meth:`run`, streamed: everything before sampling runs now (its errors are raised here), the
        sampling as the returned :class:`~corral.streaming.Stream` is iterated.

        Returns
        -------
        Stream
        """
        call = self._prepare(prompt, constraint, options)
        return Stream(call, call.job.lm.vocab.token_bytes)

    def _prepare(self, prompt, constraint: Constraint, options: GenerateOptions) -> _Call:
        """Every stage of a call up to the sampler: checks, model, compiled constraint, prompt sequence."""
        t_start = time.perf_counter()
        if constraint.kind != "schema" and not options.schema.is_default():
            raise ConfigurationError("whitespace=, lenient=, registry=, property_order=, integral_floats=, formats= "
                                     "and strict_keywords= apply to schema= only")
        schema = _resolve_schema(constraint)
        budget = options.compile.budget
        with budget_scope(budget):  # grammar errors before the model loads
            source = self._source(constraint, options.schema, schema)
        t_source = time.perf_counter()
        lm = self.model
        if not lm.eos_token_ids:
            raise ModelError("the model declares no EOS token, so no output could ever end; give its tokenizer or "
                             "config an eos_token_id")
        t_loaded = time.perf_counter()
        with budget_scope(budget, spent=t_source - t_start):  # one budget for the two parts of compilation
            compiled = self._compile(constraint, source)
        t_compiled = time.perf_counter()
        job = self._job(lm, prompt, compiled, options)
        return _Call(job, schema, {"load_s": t_loaded - t_start, "compile_s": t_compiled - t_loaded}, t_start)

    def compile(self, constraint: Constraint, schema_options: SchemaOptions | None = None, *,
                compile_budget=None) -> CompiledConstraint | None:
        """The constraint compiled for the model's vocabulary, through the cache (``None`` when unconstrained),
        within ``compile_budget`` (:mod:`corral.budget`: a ``too_complex`` error past it)."""
        schema = _resolve_schema(constraint)
        with budget_scope(compile_budget):
            return self._compile(constraint, self._source(constraint, schema_options or SchemaOptions(), schema))

    def _compile(self, constraint: Constraint, source) -> CompiledConstraint | None:
        """Compile ``source`` (from :meth:`_source`) for the model's vocabulary, cached by its key."""
        from corral.runtime.matcher import CompiledGrammar

        if constraint.kind is None:
            return None
        vocab = self.model.vocab
        if constraint.is_compiled:
            if constraint.grammar.vocab.fingerprint != vocab.fingerprint:
                raise ConfigurationError("the CompiledGrammar was compiled for another vocabulary than the model's")
            return constraint.grammar
        key, build = source
        if key is None:
            return CompiledGrammar(build(), vocab)
        full_key = (key, vocab.fingerprint)
        hit = self._compiled.get(full_key)
        if hit is None:
            hit = CompiledGrammar(build(), vocab)
            self._compiled.put(full_key, hit)
        return hit

    def _source(self, constraint: Constraint, schema_options: SchemaOptions, schema):
        """``(cache key or None, build)``: ``build()`` returns the constraint's Grammar (regexes and choices are
        parsed on a cache miss only). ``None`` when unconstrained or already compiled."""
        from corral.compile.grammar import Grammar

        kind = constraint.kind
        if kind is None or constraint.is_compiled:
            return None
        if kind == "regex":
            return ("regex", constraint.regex), lambda: Grammar.from_regex(constraint.regex)
        if kind == "choices":
            return ("choices", constraint.choices), lambda: Grammar.from_choices(list(constraint.choices))
        if kind == "schema":
            from corral.compile.json_schema import schema_to_grammar

            grammar = schema_to_grammar(schema[0], **schema_options.compile_kwargs())
        else:
            grammar = self.grammar(constraint.grammar)
        try:
            key = ("lark", grammar.to_lark(), grammar.start, getattr(grammar, "allow_nullable_terminals", None))
        except Exception:  # a grammar that cannot be printed is compiled without caching
            key = None
        return key, lambda: grammar

    def grammar(self, source):
        """``grammar=`` (a Grammar, Lark text, a .lark path or a shipped name) as a Grammar, cached by source."""
        from corral.compile.grammar import Grammar, grammar_from_source

        if isinstance(source, Grammar):
            return source
        key = source_key(source)
        hit = self._grammars.get(key)
        if hit is None:
            hit = grammar_from_source(source)
            self._grammars.put(key, hit)
        return hit

    def _job(self, lm: LanguageModel, prompt, compiled, options: GenerateOptions):
        """Encode the prompt, start the model sequence, seed the generator and build the drafter factory."""
        import torch

        from corral.runners import Job

        if isinstance(prompt, ChatPrompt):
            prompt_ids = prompt.ids(lm)
        elif isinstance(prompt, str):
            prompt_ids = lm.encode(prompt)
        elif isinstance(prompt, (list, tuple)) and all(isinstance(t, int) for t in prompt):
            prompt_ids = list(prompt)
            bad = [t for t in prompt_ids if not 0 <= t < lm.vocab.size]
            if bad:
                raise ConfigurationError(f"prompt token ids must be in [0, {lm.vocab.size}) for this model's "
                                         f"vocabulary; got {bad[:5]}")
        else:
            raise ConfigurationError(f"prompt must be a string or a list of token ids, got {type(prompt).__name__}")
        seq = lm.start(prompt_ids)
        gen = torch.Generator()
        seed = options.sampling.seed
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(seed) % (2**63))
        draft = options.speculation.draft
        make = (lambda: self._drafter(draft, lm)) if draft is not None else None
        return Job(lm=lm, prompt_ids=prompt_ids, seq=seq, compiled=compiled, options=options, generator=gen,
                   make_drafter=make)

    @staticmethod
    def _drafter(draft, lm: LanguageModel) -> Drafter:
        """A fresh drafter for ``draft`` on ``lm``, built for this call alone.

        Nothing a drafter learns (the n-gram table, the draft model's cache) carries over between calls, so the
        output for a seed does not depend on what was generated before or in another thread. A draft model folder
        is loaded once, through the process-wide model cache (:func:`default_generator`).
        """
        from corral.drafters import make_drafter

        if isinstance(draft, os.PathLike) or (isinstance(draft, str) and draft not in _DRAFT_KEYWORDS
                                              and Path(draft).expanduser().is_dir()):
            draft = default_generator(draft).model
        return make_drafter(draft, lm)


class _Call:
    """A prepared call: ``call(on_tokens)`` runs the sampler and returns the :class:`~corral.result.Result`."""

    def __init__(self, job: Job, schema, timings: dict, t_start: float) -> None:
        self.job, self._schema, self._timings, self._t_start = job, schema, timings, t_start

    def __call__(self, on_tokens=None) -> Result:
        from corral.runners import SAMPLERS

        job, schema = self.job, self._schema
        job.on_tokens = on_tokens
        t_gen = time.perf_counter()
        out = SAMPLERS[job.options.sampling.method](job)
        t_end = time.perf_counter()
        text = job.decode(out.tokens, out.status == "complete")
        gen_s = t_end - t_gen
        timings = {**self._timings, "first_token_s": out.first_token_s, "total_s": t_end - self._t_start,
                   "tokens_per_s": out.n_generated / gen_s if gen_s > 0 else 0.0}
        status, value = out.status, None
        if schema is not None and status == "complete":
            status, value = _schema_value(text, schema, job.options.schema)
        return Result(text=text, token_ids=list(out.tokens), status=status, logprob=out.logprob, timings=timings,
                      value=value, model_logprob=out.model_logprob, **out.extras())


def _is_loaded(model) -> bool:
    """Whether ``model`` is a loaded language model (not a name, folder or tuple to load)."""
    from corral.protocols import LanguageModel

    return model is not None and not isinstance(model, (str, os.PathLike, tuple)) and isinstance(model, LanguageModel)


def _check_model_spec(model) -> None:
    """A ``model=`` of a type that cannot name or be a model is a ``ConfigurationError``."""
    if model is None or isinstance(model, (str, os.PathLike, tuple)) or _is_loaded(model):
        return
    raise ConfigurationError(
        "model must be None (the embedded default), a folder, a hub name, an HFModel or a "
        f"(model, tokenizer) tuple; got {type(model).__name__} (wrap a loaded model with HFModel.load)"
    )


def _resolve_schema(constraint: Constraint):
    """``(schema dict, pydantic model or None)`` of a ``schema=`` constraint, else ``None``."""
    if constraint.kind != "schema":
        return None
    from corral.compile.json_schema import resolve_schema

    return resolve_schema(constraint.schema)


def _schema_value(text: str, schema, opts: SchemaOptions):
    """``(status, value)`` of a complete schema-constrained output: parsed and validated.

    A failure is a bug, reported loudly as a ``GenerationError``, except in lenient mode (the schema was widened),
    where the status is ``"invalid"`` and the value ``None``.
    """
    import json

    from corral.compile.json_schema import validate_instance

    schema_dict, model = schema
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenerationError(f"a complete schema-constrained output is not JSON ({exc}): {text!r}") from exc
    errors = validate_instance(schema_dict, value, registry=opts.registry, formats=opts.formats)
    if errors and opts.lenient:
        return "invalid", None
    if errors:
        raise GenerationError(f"a complete schema-constrained output fails validation at {errors}: {text!r}")
    return "complete", (model.model_validate(value) if model is not None else value)


#: The process-wide generators, one per model (the models ``generate(model=...)`` loaded), least recently used out.
_GENERATORS = LRUCache(4)


def default_generator(model=None) -> Generator:
    """The process-wide :class:`~corral.generator.Generator` for ``model`` (the same ``model=`` as :func:`generate`),
    created on first use; the four most recently used are kept."""
    key, pinned = _model_key(model)
    hit = _GENERATORS.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], pinned)):
        return hit[1]
    generator = Generator(model)
    _GENERATORS.put(key, (pinned, generator))
    return generator


def _model_key(model) -> tuple:
    """``(cache key, objects that must be the same)`` for a ``model=`` argument."""
    if model is None:
        return ("default",), ()
    if isinstance(model, (str, os.PathLike)):
        name = os.fspath(model)
        path = Path(name).expanduser()
        return (("path", str(path.resolve())) if path.exists() else ("hub", name)), ()
    if isinstance(model, tuple):
        return ("objects",) + tuple(id(m) for m in model), model
    return ("object", id(model)), (model,)


def drop_default_generators() -> None:
    """Forget every process-wide generator (and so the models they loaded and their caches)."""
    _GENERATORS.clear()
