"""The one-call public API: :func:`generate` and its :class:`Result`.

This module imports nothing heavy at import time (``torch`` and ``transformers`` are imported on the first call),
so ``import corral`` stays cheap.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from corral.errors import ConfigurationError, GenerationError

__all__ = ["Result", "generate", "clear_caches", "load_model", "compile_constraint"]

#: The JSON layout of ``schema=`` outputs when ``whitespace`` is not given: ``json.dumps``' default separators.
DEFAULT_LAYOUT = "spaced"

_MODEL_CACHE_SIZE = 4
_GRAMMAR_CACHE_SIZE = 32
_COMPILED_CACHE_SIZE = 16

_lock = threading.RLock()
_models: OrderedDict = OrderedDict()  # key -> (pinned objects, HFModel)
_grammars: OrderedDict = OrderedDict()  # (source key) -> Grammar
_compiled: OrderedDict = OrderedDict()  # (constraint key, vocab fingerprint) -> CompiledGrammar


@dataclass
class Result:
    """The outcome of :func:`generate`.

    Attributes
    ----------
    text : str
        The generated text, without the prompt and without EOS. When ``status == "complete"`` and a constraint was
        given, the text is in the constraint's language.
    token_ids : list of int
        The generated token ids; the last one is the EOS token when ``status == "complete"``.
    status : str
        ``"complete"``: the model emitted EOS (and the text is valid). ``"length"``: ``max_tokens`` (or the model's
        context) ran out first; the text is then an unfinished prefix and is **not** valid (undecodable bytes are
        replaced by U+FFFD). ``"invalid"``: only with ``lenient=True``, a complete output of the widened schema
        that fails validation against the real one.
    logprob : float
        Log-probability of ``token_ids`` under the law they were sampled from (the masked, tempered and truncated
        next-token laws; 0 for greedy decoding).
    timings : dict of str to float
        ``load_s`` (model load, 0 when cached), ``compile_s`` (constraint compile, 0 when cached),
        ``first_token_s`` (prefill and first token), ``total_s`` (the whole call) and ``tokens_per_s`` (generated
        tokens per second of generation, first token included).
    value : object or None
        With ``schema=``: the parsed, validated output (a model instance for a pydantic model) when complete;
        otherwise ``None``.
    model_logprob : float
        Log-probability of ``token_ids`` under the raw, unconstrained model.
    particles : list of (str, list of int, float, str) or None
        ``method="smc"`` only: the final weighted particle set, one ``(text, token_ids, log_weight, status)`` per
        particle (``log_weight = -inf`` for particles that died or ran out of tokens). For every resampling
        scheme the weights average to ``Ẑ``: ``log_z = log mean exp(log_weight)``.
    posterior : dict of str to float or None
        ``method="smc"`` only: the posterior over distinct output texts (normalised particle weights summed by
        text, complete particles only), by decreasing probability.
    log_z : float or None
        ``method="smc"``: ``log Ẑ``, an unbiased (in ``Ẑ``) estimate of the probability that the (tempered) model's
        output is in the language within ``max_tokens``. ``method="awrs"``: the sequence's log importance weight
        ``Σ_t log Ẑ_t`` (the same estimate with one particle).
    stats : dict
        ``method="awrs"``/``"smc"``: ``checks_per_token``, ``n_checks``, ``n_rejects``, ``n_fallbacks``,
        ``n_tokens`` and, for SMC, ``ess_trace``, ``n_resamples``, ``n_steps``, ``n_forward``. Empty for ``"lcd"``.
    """

    text: str
    token_ids: list[int]
    status: str
    logprob: float
    timings: dict[str, float] = field(default_factory=dict)
    value: object | None = None
    model_logprob: float = 0.0
    particles: list | None = None
    posterior: dict | None = None
    log_z: float | None = None
    stats: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """``True`` when generation ended with EOS (``status == "complete"``)."""
        return self.status == "complete"

    def __str__(self) -> str:
        return self.text


def clear_caches() -> None:
    """Forget every cached model, compiled grammar and drafter."""
    with _lock:
        _models.clear()
        _grammars.clear()
        _compiled.clear()


def _lru_get(cache: OrderedDict, key):
    value = cache.get(key)
    if value is not None:
        cache.move_to_end(key)
    return value


def _lru_put(cache: OrderedDict, key, value, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def load_model(model=None):
    """Load a model through the cache that :func:`generate` uses.

    Parameters
    ----------
    model : None, str, os.PathLike, HFModel, PreTrainedModel tuple
        As the ``model`` argument of :func:`generate`.

    Returns
    -------
    corral.models.hf.HFModel
    """
    from corral.models.hf import HFModel

    if isinstance(model, HFModel):
        return model
    if model is None:
        key, pinned = ("default",), ()
    elif isinstance(model, (str, os.PathLike)):
        name = os.fspath(model)
        path = Path(name).expanduser()
        key, pinned = (("path", str(path.resolve())) if path.exists() else ("hub", name)), ()
    elif isinstance(model, tuple):
        key, pinned = ("objects",) + tuple(id(m) for m in model), model
    else:
        raise ConfigurationError(
            "model must be None (the embedded default), a folder, a hub name, an HFModel or a "
            f"(model, tokenizer) tuple; got {type(model).__name__} (wrap a loaded model with HFModel.load)"
        )
    with _lock:
        hit = _lru_get(_models, key)
        if hit is not None and all(a is b for a, b in zip(hit[0], pinned)):
            return hit[1]
        loaded = HFModel.load(model)
        _lru_put(_models, key, (pinned, loaded), _MODEL_CACHE_SIZE)
        return loaded


def _grammar_from(source):
    """Resolve ``grammar=`` (Grammar, Lark text, .lark path or shipped name) to a Grammar, cached by source."""
    from corral.compile.grammar import Grammar, grammar_from_source

    if isinstance(source, Grammar):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigurationError(
            "grammar must be a Grammar, Lark text, a .lark path, a shipped grammar name or a CompiledGrammar; "
            f"got {type(source).__name__}"
        )
    text = os.fspath(source)
    stamp = None
    try:
        if len(text) < 4096 and "\n" not in text and Path(text).is_file():
            stamp = Path(text).stat().st_mtime_ns
    except OSError:
        pass
    key = (text, stamp)
    with _lock:
        hit = _lru_get(_grammars, key)
    if hit is not None:
        return hit
    grammar = grammar_from_source(source)
    with _lock:
        _lru_put(_grammars, key, grammar, _GRAMMAR_CACHE_SIZE)
    return grammar


def _constraint_key(grammar=None, regex=None, choices=None):
    given = [name for name, v in (("grammar", grammar), ("regex", regex), ("choices", choices)) if v is not None]
    if len(given) > 1:
        raise ConfigurationError(f"pass at most one of grammar=, regex= and choices= (got {', '.join(given)})")
    if regex is not None:
        if not isinstance(regex, str):
            raise ConfigurationError(f"regex must be a string, got {type(regex).__name__}")
        return ("regex", regex)
    if choices is not None:
        if isinstance(choices, (str, bytes)) or not all(isinstance(c, str) for c in choices):
            raise ConfigurationError("choices must be a list of strings")
        choices = tuple(choices)
        if not choices:
            raise ConfigurationError("choices must not be empty")
        return ("choices", choices)
    if grammar is not None:
        return ("grammar", grammar)
    return None


def compile_constraint(vocab, *, grammar=None, regex=None, choices=None):
    """Compile a constraint for a vocabulary, through the cache that :func:`generate` uses.

    Parameters
    ----------
    vocab : corral.tokens.vocabulary.Vocabulary
    grammar, regex, choices
        At most one, as in :func:`generate`. A ``grammar`` object with a ``matcher()`` method (a
        :class:`~corral.runtime.matcher.CompiledGrammar`) is returned as it is.

    Returns
    -------
    CompiledGrammar or None
        ``None`` when no constraint is given.

    Raises
    ------
    ValueError
        More than one constraint, or a malformed one (``GrammarError`` and ``RegexError`` are ``ValueError`` s).
    """
    key = _constraint_key(grammar, regex, choices)
    if key is None:
        return None
    kind, arg = key
    if kind == "grammar" and callable(getattr(arg, "matcher", None)):
        other = getattr(getattr(arg, "vocab", None), "fingerprint", None)
        if other is not None and other != vocab.fingerprint:
            raise ConfigurationError("the CompiledGrammar was compiled for another vocabulary than the model's")
        return arg
    from corral.compile.grammar import Grammar
    from corral.runtime.matcher import CompiledGrammar

    if kind == "regex":
        ckey, build = key, lambda: Grammar.from_regex(arg)
    elif kind == "choices":
        ckey, build = key, lambda: Grammar.from_choices(list(arg))
    else:
        g = _grammar_from(arg)
        try:
            ckey = ("lark", g.to_lark(), g.start, getattr(g, "allow_nullable_terminals", None))
        except Exception:  # a grammar that cannot be printed is compiled without caching
            return CompiledGrammar(g, vocab)
        build = lambda: g  # noqa: E731
    full_key = (ckey, vocab.fingerprint)
    with _lock:
        hit = _lru_get(_compiled, full_key)
    if hit is not None:
        return hit
    compiled = CompiledGrammar(build(), vocab)
    with _lock:
        _lru_put(_compiled, full_key, compiled, _COMPILED_CACHE_SIZE)
    return compiled


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
) -> Result:
    """Generate text from a prompt, optionally constrained to a grammar, a regex or a list of choices.

    Only tokens that keep the text a prefix of the language are ever chosen, and EOS only when the text is
    complete, so a ``"complete"`` result is always in the language. Three samplers:

    * ``method="lcd"`` (default): masked decoding. Each token is drawn from the model's next-token law restricted
      to the allowed tokens (the locally constrained law ``ℓ``, which is *not* the model conditioned on the
      constraint when the constraint has dead ends).
    * ``method="awrs"``: the same law ``ℓ``, sampled by adaptive weighted rejection sampling (checks only the
      tokens it visits, usually 2 per token, instead of computing a full mask); ``Result.log_z`` is the sequence's
      importance weight for ``π``.
    * ``method="smc"``: sequential Monte Carlo with ``particles`` AWRS particles, resampled when the effective
      sample size drops below ``ess_threshold * particles``. Targets the model conditioned on the constraint,
      ``π(y) ∝ p(y) 1[y ∈ L, |y| <= max_tokens]`` (consistent as ``particles`` grows). ``Result.text`` is **one
      output drawn from the posterior** (by the seed); ``Result.posterior``, ``Result.particles`` and
      ``Result.log_z`` hold the rest.

    Parameters
    ----------
    prompt : str or list of int
        Plain text (encoded with the model's tokenizer and its default special tokens), or token ids.
    model : None, str, os.PathLike, HFModel or tuple, optional
        ``None``: the embedded default model. A local model folder, a Hugging Face hub name, an
        :class:`~corral.models.hf.HFModel` (use ``HFModel.load(..., device="cuda")`` for a GPU), or a
        ``(PreTrainedModel, tokenizer)`` tuple. Loaded models are cached between calls.
    grammar : Grammar, str, os.PathLike or CompiledGrammar, optional
        A :class:`~corral.compile.grammar.Grammar`, Lark text, a ``.lark`` file, a shipped grammar name (``"json"``)
        or an already compiled grammar.
    regex : str, optional
        A Python regular expression the whole output must match.
    choices : list of str, optional
        The output must be exactly one of these strings.
    schema : dict, str, os.PathLike or pydantic model class, optional
        A JSON Schema (object, JSON text or file path) or a pydantic v2 model class. The output is compact JSON
        that validates; ``Result.value`` is the parsed object (a model instance for a pydantic model), checked
        with ``jsonschema`` before it is returned. Only the keywords of
        :func:`corral.compile.json_schema.schema_to_grammar` are supported so far; any other raises
        ``SchemaError`` (kind ``"unsupported"``) naming it and its JSON pointer.
    max_tokens : int
        Most tokens to generate (EOS included); ``>= 1``.
    temperature : float or None
        0 or ``None`` for greedy decoding.
    top_k : int, optional
        Keep the k most likely allowed tokens.
    top_p : float, optional
        Nucleus sampling on the constrained law, in ``(0, 1]``.
    seed : int, optional
        Seed for reproducible output; ``None`` draws a fresh seed.
    method : {"lcd", "awrs", "smc"}
        The sampler (see above).
    particles : int, optional
        ``method="smc"``: number of particles (default 16).
    ess_threshold : float
        ``method="smc"``: resample when ``ESS < ess_threshold * particles`` (in ``[0, 1]``; 0 = importance
        sampling).
    resampling : {"stratified", "systematic", "multinomial", "residual", "optimal"}
        ``method="smc"``: the resampling scheme. ``"optimal"`` lists every allowed token of every particle (one
        mask per particle and step instead of AWRS) and keeps at most ``particles`` children by Fearnhead-Clifford
        resampling: the lowest-variance choice, exact when the language has at most ``particles`` outputs
        (:mod:`corral.samplers.smc_optimal`); not with ``draft=`` or ``critic=``.
    critic : callable, optional
        ``method="smc"``: ``critic(token_ids, done) -> float``, a log potential (twist): the target becomes
        ``π(y) exp(critic(y, True))``; intermediate values only steer resampling.
    draft : None, "auto", "ngram", "forced", "model", HFModel, str or os.PathLike, optional
        Speculative decoding (same output law, fewer target forward passes): drafts are proposed and the target
        verifies a block of them in one pass. ``None``: no speculation. ``"auto"``: grammar fast-forward (tokens the
        constraint forces), an n-gram drafter that learns online from the outputs, and the embedded draft model
        when the target is the embedded model. ``"ngram"``, ``"forced"``: one of those alone. A model (or a local
        folder) sharing the target's vocabulary: that draft model. Verification is D1 (masked speculative sampling,
        exact for ``"lcd"`` with any temperature/top-k/top-p) and, with ``"awrs"``/``"smc"``, D2 (Gumbel-coupled
        AWRS: for a fixed seed the output does not depend on the drafter). ``Result.stats`` then holds the
        acceptance rate, mean accepted length, tokens per target forward, and draft and verify time.
    whitespace : {"compact", "spaced", "pretty", "free"} or int
        ``schema=`` only: the JSON layout. ``"spaced"`` (the default, also for ``None``): exactly ``json.dumps(x)``
        (``", "`` and ``": "``, the layout language models write). ``"compact"``: no whitespace. ``"pretty"``: exactly
        ``json.dumps(x, indent=2)``. ``"free"`` or ``n``: at most 4 (``n``) whitespace characters between tokens.
        Never unbounded.
    lenient : bool
        ``schema=`` only: drop unsupported keywords instead of raising (this widens the schema, so one
        ``SchemaRelaxedWarning`` lists each dropped keyword and its pointer). An output that then fails validation
        gets status ``"invalid"`` and no ``value``.
    registry : mapping or referencing.Registry, optional
        ``schema=`` only: remote documents for ``$ref`` (URI -> schema).
    property_order, integral_floats, formats, strict_keywords
        ``schema=`` only: passed to :func:`~corral.compile.json_schema.schema_to_grammar`. ``property_order="any"``
        lets the model write an object's keys in any order (each once; in objects of more than 10 names a declared
        name may repeat, see ``schema_to_grammar``); ``integral_floats=True`` accepts ``1.0``
        where an integer is allowed; ``formats="annotate"`` makes ``format`` an annotation (also when validating
        the output); ``strict_keywords=True`` makes an unknown keyword an error (by default it is an annotation,
        and one that looks like a misspelt keyword, e.g. ``"propertis"``, gets a ``SchemaKeywordWarning``).
    draft_length : "adaptive" or int
        Tokens drafted per round: ``"adaptive"`` stops drafting when the predicted probability that the block
        gets a rejection passes a threshold (learned online; forced tokens count as certain), an int is fixed.

    Notes
    -----
    With ``"awrs"`` and ``"smc"``, ``temperature`` divides the model's logits and ``π``/``ℓ`` refer to the tempered
    model; ``temperature=0`` is greedy with ``"awrs"`` and an error with ``"smc"``. ``top_k``/``top_p`` are only
    supported by ``"lcd"`` (a truncated law has no faithful target): they raise ``ValueError`` otherwise.

    Returns
    -------
    Result

    Raises
    ------
    ValueError
        More than one of ``grammar``/``regex``/``choices``, or a bad parameter.
    GrammarError, RegexError
        The constraint is malformed.
    ModelError
        The model cannot be loaded.
    GenerationError
        The prompt is longer than the model's context.
    """
    from corral.samplers.masking import validate_sampling

    t_start = time.perf_counter()
    schema_dict = schema_model = None
    if schema is not None:
        if grammar is not None or regex is not None or choices is not None:
            raise ConfigurationError("pass at most one of grammar=, regex=, choices= and schema=")
        from corral.compile.json_schema import resolve_schema, schema_to_grammar

        schema_dict, schema_model = resolve_schema(schema)
        grammar = schema_to_grammar(schema_dict, whitespace=DEFAULT_LAYOUT if whitespace is None else whitespace,
                                    registry=registry, lenient=bool(lenient),
                                    property_order=property_order, integral_floats=integral_floats,
                                    formats=formats, strict_keywords=strict_keywords)
    elif whitespace is not None or lenient or registry is not None or property_order != "schema" \
            or integral_floats or formats != "assert" or strict_keywords:
        raise ConfigurationError("whitespace=, lenient=, registry=, property_order=, integral_floats=, formats= and "
                         "strict_keywords= apply to schema= only")
    _constraint_key(grammar, regex, choices)  # argument errors before any loading
    validate_sampling(temperature, top_k, top_p)
    if isinstance(max_tokens, bool) or int(max_tokens) != max_tokens or max_tokens < 1:
        raise ConfigurationError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
    _check_seed(seed)
    if draft is not None:
        from corral.drafters.policy import make_policy

        make_policy(draft_length)  # ConfigurationError now, not after the model is loaded
    particles = _check_method(method, particles, temperature, top_k, top_p, ess_threshold, resampling, critic)

    import torch

    from corral.runtime.free import FreeMatcher
    from corral.samplers.masking import sample_sequence

    lm = load_model(model)
    t_loaded = time.perf_counter()
    compiled = compile_constraint(lm.vocab, grammar=grammar, regex=regex, choices=choices)
    t_compiled = time.perf_counter()

    if isinstance(prompt, str):
        prompt_ids = lm.encode(prompt)
    elif isinstance(prompt, (list, tuple)) and all(isinstance(t, int) for t in prompt):
        prompt_ids = list(prompt)
    else:
        raise ConfigurationError(f"prompt must be a string or a list of token ids, got {type(prompt).__name__}")
    seq = lm.start(prompt_ids)

    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed) % (2**63))
    matcher = compiled.matcher() if compiled is not None else FreeMatcher(lm.vocab, lm.eos_token_ids)
    t_gen = time.perf_counter()
    extra: dict = {}
    drafter = _drafter(draft, lm) if draft is not None else None
    if drafter is not None and method != "smc":
        out, extra = _run_speculative(seq, compiled, lm, drafter, method, draft_length, int(max_tokens),
                                      temperature, top_k, top_p, gen, seed)
    elif method == "lcd":
        out = sample_sequence(
            seq,
            matcher,
            max_tokens=int(max_tokens),
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            generator=gen,
            eos_token_ids=lm.eos_token_ids,
        )
    elif method == "awrs":
        out, extra = _run_awrs(seq, matcher, lm, int(max_tokens), temperature, seed)
    else:
        proposal = None
        if draft is not None and resampling == "optimal":
            raise ConfigurationError("resampling='optimal' expands every token itself: it takes no draft=")
        if draft is not None:
            from corral.samplers.speculative_smc import SpeculativeProposal

            proposal = SpeculativeProposal(lambda: _drafter(draft, lm), verify="d2",
                                           draft_length=draft_length, temperature=float(temperature), seed=seed,
                                           eos_token_ids=lm.eos_token_ids)
        out, extra = _run_smc(lm, prompt_ids, matcher, int(max_tokens), temperature, seed, particles,
                              ess_threshold, resampling, critic, compiled is not None, proposal)
    t_end = time.perf_counter()

    text = _decode(lm, out.tokens, out.status == "complete", compiled is not None)

    gen_s = t_end - t_gen
    timings = {
        "load_s": t_loaded - t_start,
        "compile_s": t_compiled - t_loaded,
        "first_token_s": out.first_token_s,
        "total_s": t_end - t_start,
        # SMC: tokens generated over all particles
        "tokens_per_s": (extra.get("stats", {}).get("n_tokens", len(out.tokens)) if method == "smc"
                         else len(out.tokens)) / gen_s if gen_s > 0 else 0.0,
    }
    value = None
    status = out.status
    if schema_dict is not None and status == "complete":
        value = _schema_value(text, schema_dict, schema_model, registry=registry, lenient=bool(lenient),
                              formats=formats)
        if value is _INVALID:
            status, value = "invalid", None
    return Result(
        text=text,
        token_ids=list(out.tokens),
        status=status,
        logprob=out.logprob,
        timings=timings,
        value=value,
        model_logprob=out.model_logprob,
        **extra,
    )


def _check_seed(seed) -> None:
    """``seed`` must be ``None`` or an integer (a numpy integer too); anything else is a ``ConfigurationError``."""
    import numbers

    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigurationError(f"seed must be an integer or None, got {seed!r} ({type(seed).__name__})")


_METHODS = ("lcd", "awrs", "smc")
_DEFAULT_PARTICLES = 16


def _check_method(method, particles, temperature, top_k, top_p, ess_threshold, resampling, critic):
    """Validate the sampler options; the number of particles to use (``None`` unless SMC)."""
    if method not in _METHODS:
        raise ConfigurationError(f"unknown method {method!r}; choose one of {', '.join(map(repr, _METHODS))}")
    if method != "smc":
        if particles is not None:
            raise ConfigurationError(f"particles= is for method='smc' (got method={method!r})")
        if critic is not None:
            raise ConfigurationError(f"critic= is for method='smc' (got method={method!r})")
    if method == "lcd":
        return None
    if top_k is not None or top_p is not None:
        raise ConfigurationError(f"top_k/top_p are not supported with method={method!r} (a truncated law has no faithful "
                         "target); use method='lcd' or drop them")
    if method == "awrs":
        return None
    if not temperature:
        raise ConfigurationError("method='smc' needs temperature > 0")
    if particles is None:
        particles = _DEFAULT_PARTICLES
    if isinstance(particles, bool) or not isinstance(particles, (int,)) or particles < 1:
        raise ConfigurationError(f"particles must be an integer >= 1, got {particles!r}")
    if isinstance(ess_threshold, bool) or not (0.0 <= float(ess_threshold) <= 1.0):
        raise ConfigurationError(f"ess_threshold must be in [0, 1], got {ess_threshold!r}")
    from corral.samplers.resampling import RESAMPLERS

    if resampling not in RESAMPLERS and resampling != "optimal":
        raise ConfigurationError(f"unknown resampling scheme {resampling!r}; choose one of optimal, {', '.join(RESAMPLERS)}")
    if resampling == "optimal" and critic is not None:
        raise ConfigurationError("resampling='optimal' takes no critic=")
    if critic is not None and not callable(critic):
        raise ConfigurationError("critic must be a callable (token_ids, done) -> float")
    return int(particles)


def _decode(lm, tokens, complete: bool, constrained: bool) -> str:
    """Text of generated tokens (strict UTF-8 for a complete constrained output, which must be valid)."""
    data = lm.vocab.decode(tokens)
    if complete:
        try:
            return data.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            if constrained:
                raise GenerationError(f"a complete constrained output is not valid UTF-8 ({exc}): {data!r}") from exc
    return data.decode("utf-8", errors="replace")


def _seed_stream(seed) -> int:
    """A 63-bit Gumbel stream id from the seed (fresh when ``seed`` is None)."""
    import numpy as np

    ss = np.random.SeedSequence(None if seed is None else int(seed) % (2**63))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _drafter(draft, lm):
    """A fresh drafter for ``draft`` on ``lm``, built for this call alone.

    Nothing a drafter learns (the n-gram table, the draft model's cache) carries over between calls, so the output
    for a seed does not depend on what was generated before or in another thread. Building one costs ~1 ms (the
    embedded draft model itself is loaded once per process).
    """
    from corral.drafters import make_drafter

    keywords = ("auto", "ngram", "forced", "fastforward", "model")
    if isinstance(draft, os.PathLike) or (isinstance(draft, str) and draft not in keywords
                                          and Path(draft).expanduser().is_dir()):
        draft = load_model(draft)  # a draft model folder is loaded once, through the model cache
    return make_drafter(draft, lm)


def _run_speculative(seq, compiled, lm, drafter, method, draft_length, max_tokens, temperature, top_k, top_p,
                     gen, seed):
    """Speculative decoding: D1 for method="lcd", D2 (same tokens as plain AWRS for the seed) for "awrs"."""
    from corral.samplers.masking import SampleOutput
    from corral.samplers.speculative import speculative_sample_sequence

    verify = "d2" if method == "awrs" else "d1"
    out = speculative_sample_sequence(
        seq, compiled.matcher() if compiled is not None else None, drafter=drafter, verify=verify,
        draft_length=draft_length, max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
        generator=gen, stream=_seed_stream(seed) if verify == "d2" else None, eos_token_ids=lm.eos_token_ids,
    )
    res = SampleOutput(tokens=list(out.tokens), status=out.status, logprob=out.logprob,
                       model_logprob=out.model_logprob, first_token_s=out.first_token_s)
    extra = {"stats": out.stats.as_dict()}
    if verify == "d2":
        extra["log_z"] = out.log_weight
    return res, extra


def _run_awrs(seq, matcher, lm, max_tokens, temperature, seed):
    """method="awrs": one AWRS sequence (law ℓ); Result extras: log_z (its weight) and stats."""
    from corral.samplers.awrs import DEFAULT_MAX_REJECTS, awrs_sample_sequence
    from corral.samplers.masking import SampleOutput

    run = awrs_sample_sequence(
        seq, matcher, max_tokens=max_tokens, temperature=float(temperature or 0.0), stream=_seed_stream(seed),
        max_rejects=DEFAULT_MAX_REJECTS, eos_token_ids=lm.eos_token_ids,
    )
    status = "complete" if run.status == "complete" else "length"
    out = SampleOutput(tokens=list(run.tokens), status=status, logprob=0.0 if not temperature else run.logprob,
                       model_logprob=run.model_logprob, first_token_s=run.first_token_s)
    n_tok = max(len(run.tokens), 1)
    stats = {"checks_per_token": run.n_checks / n_tok, "n_checks": run.n_checks, "n_rejects": run.n_rejects,
             "n_fallbacks": run.n_fallbacks, "n_tokens": len(run.tokens)}
    return out, {"log_z": run.log_weight, "stats": stats}


def _run_smc(lm, prompt_ids, matcher, max_tokens, temperature, seed, particles, ess_threshold, resampling,
             critic, constrained, proposal=None):
    """method="smc": run SMC, draw Result's output from the posterior; extras: particles, posterior, log_z, stats."""
    import math

    import numpy as np

    from corral.samplers.masking import SampleOutput
    from corral.samplers.smc import smc

    base = _seed_stream(seed)
    res = smc(lm, prompt_ids, matcher, particles=particles, max_tokens=max_tokens, temperature=float(temperature),
              ess_threshold=float(ess_threshold), resampling=resampling, critic=critic, seed=base, proposal=proposal)
    texts = [_decode(lm, [t for t in p.tokens if t not in lm.eos_token_ids] if p.status == "complete" else p.tokens,
                     p.status == "complete", constrained) for p in res.particles]
    text_of = {id(p): t for p, t in zip(res.particles, texts)}
    posterior = res.posterior(key=lambda p: text_of[id(p)])
    chosen = res.sample(np.random.default_rng(base ^ 0x5EED))
    if chosen is None:  # every particle died: report the longest unfinished one
        chosen = max(res.particles, key=lambda p: len(p.tokens))
        status, logprob = "length", -math.inf
    else:
        status = "complete" if chosen.status == "complete" else "length"
        logprob = math.log(posterior[text_of[id(chosen)]])
    out = SampleOutput(tokens=list(chosen.tokens), status=status, logprob=logprob,
                       model_logprob=chosen.model_logprob, first_token_s=0.0)
    stats = {
        "checks_per_token": res.checks_per_token, "n_checks": res.n_checks, "n_rejects": res.n_rejects,
        "n_fallbacks": res.n_fallbacks, "n_tokens": res.n_tokens, "ess_trace": list(res.ess_trace),
        "n_resamples": res.n_resamples, "n_steps": res.n_steps, "n_forward": res.n_forward,
    }
    parts = [(t, list(p.tokens), float(p.log_weight), p.status) for p, t in zip(res.particles, texts)]
    return out, {"particles": parts, "posterior": posterior, "log_z": res.log_z, "stats": stats}


_INVALID = object()


def _schema_value(text: str, schema, model, *, registry=None, lenient: bool = False, formats: str = "assert"):
    """Parse and validate a complete schema-constrained output; a failure here is a bug, reported loudly, except
    in lenient mode (the schema was widened), where it returns ``_INVALID``."""
    import json

    from corral.compile.json_schema import validate_instance

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenerationError(f"a complete schema-constrained output is not JSON ({exc}): {text!r}") from exc
    errors = validate_instance(schema, value, registry=registry, formats=formats)
    if errors and lenient:
        return _INVALID
    if errors:
        raise GenerationError(f"a complete schema-constrained output fails validation at {errors}: {text!r}")
    return model.model_validate(value) if model is not None else value
