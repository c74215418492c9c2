"""The options of :func:`corral.generate`, grouped, with their defaults, checks and documentation in one place.

Six groups, each a frozen dataclass that checks itself when built: :class:`SamplingOptions` (length, temperature,
truncation, seed, sampler), :class:`SMCOptions`, :class:`ASAPOptions`, :class:`SpeculationOptions`,
:class:`SchemaOptions` and :class:`CompileOptions`.
:class:`GenerateOptions` holds one of each and checks what spans groups (``particles=`` only with SMC...). The
Python API and the command line build them the same way: from flat keyword names (:meth:`GenerateOptions.from_kwargs`,
:meth:`GenerateOptions.from_cli`), and the command line's flags, help and the docstring of :func:`corral.generate`
are generated from the fields' metadata (:func:`add_cli_arguments`, :func:`options_doc`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from corral.errors import ConfigurationError

__all__ = [
    "SamplingOptions",
    "SMCOptions",
    "ASAPOptions",
    "SpeculationOptions",
    "CompileOptions",
    "SchemaOptions",
    "GenerateOptions",
    "OPTION_GROUPS",
    "METHODS",
    "option_names",
    "add_cli_arguments",
    "options_doc",
]

#: The samplers ``method=`` chooses from (:data:`corral.runners.SAMPLERS` runs them).
METHODS = ("lcd", "awrs", "smc", "asap")
DEFAULT_PARTICLES = 16
#: The JSON layout of ``schema=`` outputs when ``whitespace`` is not given: ``json.dumps``' default separators.
DEFAULT_LAYOUT = "spaced"


def _opt(default, doc: str, *, help: str, metavar: str | None = None, cli: Callable | None = None,
         choices: tuple | None = None, flag: bool = False):
    """A dataclass field with its documentation (``doc``), its command-line help and how the CLI parses it."""
    meta = {"doc": doc, "help": help, "metavar": metavar, "cli": cli, "choices": choices, "flag": flag}
    return field(default=default, metadata=meta)


def _int_or_name(text: str):
    """``"4"`` -> 4, anything else unchanged (``--whitespace``, ``--draft-length``)."""
    return int(text) if text.strip().isdigit() else text


def _tree_arg(text: str):
    """``"4"`` -> 4, ``"2,2"`` -> ``(2, 2)``, anything else unchanged (``--draft-tree``; checked by the option)."""
    parts = text.split(",")
    if len(parts) > 1 and all(p.strip().isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return _int_or_name(text)


def _json_arg(text: str):
    """A JSON file or JSON text (``--registry``)."""
    import json
    import os

    try:
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as fh:
                return json.load(fh)
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"--registry must be a JSON file or JSON text mapping URIs to schemas: {exc}") from exc


def _imported(flag: str) -> Callable[[str], Any]:
    """The parser of ``--<flag> module:name``: the object ``name`` of the imported ``module``."""

    def parse(text: str):
        import importlib

        module, _, name = text.partition(":")
        if not module or not name:
            raise ConfigurationError(f"--{flag} must be 'module:name', got {text!r}")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"--{flag} {text!r}: {exc}") from exc

    return parse


_callable_arg = _imported("critic")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class SamplingOptions:
    """How each token is drawn: length, temperature, truncation, seed and the sampler (checked when built)."""

    max_tokens: int = _opt(256, "Most tokens to generate (EOS included); ``>= 1``.", metavar="N",
                           help="most tokens to generate (256)", cli=int)
    temperature: float | None = _opt(
        1.0, "Divides the logits; 0 or ``None`` for greedy decoding (an error with ``method='smc'``).",
        metavar="T", help="0 for greedy (default 1.0)", cli=float)
    top_k: int | None = _opt(None, "Keep the k most likely allowed tokens (``method='lcd'`` only).", metavar="K",
                             help="keep the K most likely allowed tokens", cli=int)
    top_p: float | None = _opt(None, "Nucleus sampling on the constrained law, in ``(0, 1]`` (``'lcd'`` only).",
                               metavar="P", help="nucleus sampling threshold in (0, 1]", cli=float)
    seed: int | None = _opt(None, "Seed for reproducible output; ``None`` draws a fresh seed.", metavar="S",
                            help="random seed for reproducible output", cli=int)
    method: str = _opt(
        "lcd", "The sampler: ``'lcd'`` masked decoding (law ℓ), ``'awrs'`` adaptive weighted rejection sampling "
        "(law ℓ, with its importance weight in ``Result.log_z``), ``'smc'`` particles targeting the model "
        "conditioned on the constraint (π), ``'asap'`` ASAp samples learning in a trie (their law approaches π as "
        "the trie covers the language; neither independent nor exact).", choices=METHODS,
        help="sampler: lcd (masked decoding, default), awrs (same law, by rejection), smc (particles; samples the "
             "model conditioned on the constraint), asap (samples learning a trie; approaches that law)")

    def __post_init__(self) -> None:
        from corral.samplers.masking import validate_sampling

        if not _is_int(self.max_tokens) or self.max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if self.seed is not None and not _is_int(self.seed):
            raise ConfigurationError(f"seed must be an integer or None, got {self.seed!r} ({type(self.seed).__name__})")
        if self.method not in METHODS:
            raise ConfigurationError(f"unknown method {self.method!r}; choose one of {', '.join(map(repr, METHODS))}")
        validate_sampling(self.temperature, self.top_k, self.top_p)


@dataclass(frozen=True)
class SMCOptions:
    """Sequential Monte Carlo (``method='smc'``): particles, resampling and an optional critic."""

    particles: int | None = _opt(None, "Number of particles (default 16).", metavar="N",
                                 help="number of SMC particles (16)", cli=int)
    ess_threshold: float = _opt(
        0.5, "Resample when ``ESS < ess_threshold * particles`` (in ``[0, 1]``; 0 = importance sampling).",
        metavar="F", help="resample when ESS < F * particles (0.5)", cli=float)
    resampling: str = _opt(
        "stratified", "``'stratified'``, ``'systematic'``, ``'multinomial'``, ``'residual'`` or ``'optimal'`` "
        "(Fearnhead-Clifford: lists every allowed token of every particle; exact when the language has at most "
        "``particles`` outputs; no ``draft=`` or ``critic=``).",
        choices=("stratified", "systematic", "multinomial", "residual", "optimal"),
        help="SMC resampling; optimal lists every allowed token (exact for small languages)")
    critic: Callable | None = _opt(
        None, "``critic(token_ids, done) -> float``, a log potential (twist): the target becomes "
        "``π(y) exp(critic(y, True))``; intermediate values only steer resampling.", metavar="MODULE:FUNC",
        help="a twist function critic(token_ids, done) -> float, imported from MODULE", cli=_callable_arg)
    twist: Callable | None = _opt(
        None, "``twist(token_ids) -> float``, ``log ψ`` of an unfinished prefix, e.g. the "
        ":class:`~corral.samplers.asap_trie.AsapTrie` of ``method='asap'``: the weights take ``ψ(y≤t)/ψ(y<t)`` and "
        "the twist is removed at the end, so the target stays π; a good twist lowers the variance, any positive "
        "one is consistent.", metavar="MODULE:NAME",
        help="an SMC twist twist(token_ids) -> log psi (e.g. an AsapTrie), imported from MODULE",
        cli=_imported("twist"))

    def __post_init__(self) -> None:
        from corral.samplers.resampling import RESAMPLERS

        if self.particles is not None and (not _is_int(self.particles) or self.particles < 1):
            raise ConfigurationError(f"particles must be an integer >= 1, got {self.particles!r}")
        if isinstance(self.ess_threshold, bool) or not isinstance(self.ess_threshold, numbers.Real) \
                or not 0.0 <= float(self.ess_threshold) <= 1.0:
            raise ConfigurationError(f"ess_threshold must be in [0, 1], got {self.ess_threshold!r}")
        if self.resampling not in RESAMPLERS and self.resampling != "optimal":
            raise ConfigurationError(f"unknown resampling scheme {self.resampling!r}; choose one of optimal, "
                                     f"{', '.join(RESAMPLERS)}")
        if self.critic is not None and not callable(self.critic):
            raise ConfigurationError("critic must be a callable (token_ids, done) -> float")
        if self.twist is not None and not callable(self.twist):
            raise ConfigurationError("twist must be a callable token_ids -> float (an AsapTrie is one)")
        if self.resampling == "optimal" and (self.critic is not None or self.twist is not None):
            raise ConfigurationError("resampling='optimal' takes no critic= or twist=")

    @property
    def n_particles(self) -> int:
        """``particles``, or the default (16)."""
        return DEFAULT_PARTICLES if self.particles is None else int(self.particles)


@dataclass(frozen=True)
class ASAPOptions:
    """ASAp (``method='asap'``): how many samples, and the trie they learn in."""

    samples: int | None = _opt(
        None, "Samples drawn one after another, each learning in the trie (default 1); ``Result.text`` is the "
        "last, ``Result.stats['samples']`` lists them all.", metavar="K",
        help="ASAp samples drawn in one trie (1)", cli=int)
    trie: Any = _opt(
        None, "The :class:`~corral.samplers.asap_trie.AsapTrie` to learn in, updated in place so that later calls "
        "continue (one per prompt, constraint, max_tokens and temperature); ``None``: a fresh one, dropped after "
        "the call.", metavar="MODULE:NAME", help="an AsapTrie to learn in, imported from MODULE",
        cli=_imported("trie"))

    def __post_init__(self) -> None:
        if self.samples is not None and (not _is_int(self.samples) or self.samples < 1):
            raise ConfigurationError(f"samples must be an integer >= 1, got {self.samples!r}")
        if self.trie is not None:
            from corral.samplers.asap_trie import AsapTrie

            if not isinstance(self.trie, AsapTrie):
                raise ConfigurationError(f"trie must be an AsapTrie, got {type(self.trie).__name__}")

    @property
    def n_samples(self) -> int:
        """``samples``, or the default (1)."""
        return 1 if self.samples is None else int(self.samples)


@dataclass(frozen=True)
class SpeculationOptions:
    """Speculative decoding: what drafts, and how long a draft is."""

    draft: Any = _opt(
        None, "``None``: no speculation. ``'auto'``: at each position, grammar fast-forward, an online n-gram drafter, "
        "the embedded draft model (when the target is the embedded model) or none, whichever is expected to give the "
        "most tokens per second. ``'ngram'``, ``'forced'``: one of those alone. A model "
        "(HFModel or a local folder) sharing the target's vocabulary: that draft model. Same output law; "
        "``Result.stats`` gets acceptance figures.", metavar="D",
        help="speculative decoding: auto (cost-aware choice of fast-forward, n-gram, embedded draft model or none), "
             "ngram, forced, model, or a "
             "draft model folder sharing the target's vocabulary; same output law")
    draft_length: Any = _opt(
        "adaptive", "Tokens drafted per round: ``'adaptive'`` (stop drafting when a rejection becomes likely, "
        "learned online) or a fixed integer >= 1.", metavar="K",
        help="tokens drafted per round: adaptive (default) or an integer", cli=_int_or_name)
    draft_tree: Any = _opt(
        None, "Multi-draft (tree) speculation: ``k`` candidate tokens at the root (distinct: drawn without "
        "replacement from the draft, its top ``k`` when greedy), each continued as a chain; or a tuple of children "
        "per node at each depth, e.g. ``(2, 2)``. One target pass scores the whole tree; verification keeps the "
        "exact law (D1: recursive rejection sampling per node; ``method='awrs'``: the same tokens as plain AWRS). "
        "``None``: single drafts. Needs ``draft=``; methods ``'lcd'`` and ``'awrs'``.", metavar="K",
        help="multi-draft speculation: K candidates at the root then chains, or K1,K2,... children per node by "
             "depth; same output law", cli=_tree_arg)
    switching: str | None = _opt(
        None, "``'entropy'``: entropy-adaptive decoding, **lossy** (the output law is not the target's): the small "
        "model of ``draft=`` writes while the rolling mean entropy of its masked next-token law is at most "
        "``switch_threshold``, the target above it (:mod:`corral.samplers.entropy_switch`); ``method='lcd'`` only; "
        "``Result.stats['switching']`` gives each model's share of the tokens.", choices=("entropy",),
        help="entropy: lossy entropy-adaptive decoding (the draft model writes while it is sure, the target when "
             "not); method lcd only")
    switch_threshold: float = _opt(1.0, "Nats: the target writes when the mean entropy is above it (``±inf``).",
                                   metavar="H", help="with --switching: entropy threshold in nats (1.0)", cli=float)
    switch_window: int = _opt(4, "Positions whose entropies are averaged (``>= 1``).", metavar="W",
                              help="with --switching: entropies averaged (4)", cli=int)

    def __post_init__(self) -> None:
        from corral.samplers.switching_options import validate_switching

        validate_switching(self.switching, self.switch_threshold, self.switch_window)
        if self.draft is not None:
            from corral.drafters.policy import make_policy

            make_policy(self.draft_length)  # ConfigurationError now, not after the model is loaded
        if self.draft_tree is not None:
            from corral.samplers.speculative_tree import parse_tree_shape

            parse_tree_shape(self.draft_tree)
            if self.draft is None:
                raise ConfigurationError("draft_tree= needs draft= (what drafts the tree)")


@dataclass(frozen=True)
class SchemaOptions:
    """How ``schema=`` compiles (passed to :func:`~corral.compile.json_schema.schema_to_grammar`)."""

    whitespace: Any = _opt(
        None, "The JSON layout: ``'spaced'`` (default; exactly ``json.dumps(x)``), ``'compact'`` (none), "
        "``'pretty'`` (``json.dumps(x, indent=2)``), ``'free'`` or ``n`` (at most 4, or ``n``, whitespace "
        "characters between tokens).", metavar="W",
        help="with --schema: spaced (default: json.dumps' ', ' and ': '), compact, pretty (json.dumps indent=2), free, "
             "or a bound N", cli=_int_or_name)
    lenient: bool = _opt(
        False, "Drop unsupported keywords instead of raising (widens the schema: one ``SchemaRelaxedWarning`` "
        "lists them); an output that then fails validation gets status ``'invalid'``.", flag=True,
        help="with --schema: drop unsupported keywords with a warning instead of failing")
    registry: Any = _opt(None, "Remote documents for ``$ref`` (mapping URI -> schema, or a referencing.Registry).",
                         metavar="FILE|JSON", help="with --schema: a JSON object (file or text) mapping $ref URIs to schemas",
                         cli=_json_arg)
    property_order: str = _opt(
        "schema", "``'any'`` lets the model write an object's keys in any order (each once).",
        choices=("schema", "any"), help="with --schema: object keys in schema order (default) or in any order")
    integral_floats: bool = _opt(False, "Accept ``1.0`` where an integer is allowed.", flag=True,
                                 help="with --schema: also accept 1.0 where an integer is allowed (jsonschema counts it)")
    formats: str = _opt(
        "assert", "``'assert'`` (default): ``format`` asserts the formats corral knows; an unknown format name (one no "
        "draft defines, e.g. ``'topic'``) is an annotation, as validators read it, reported with its pointer in a "
        "``corral.compile.json_schema.FormatAnnotationWarning`` (never silently wider). ``'strict'``: an unknown "
        "format is a SchemaError. "
        "``'annotate'``: every ``format`` is an annotation (also when validating).",
        choices=("assert", "strict", "annotate"),
        help="with --schema: format as an assertion (assert, default: an unknown format name is an annotation, with "
             "a warning), strict (an unknown format is an error) or annotate (every format an annotation, draft "
             "2020-12)")
    strict_keywords: bool = _opt(
        False, "Make an unknown keyword an error (by default an annotation; a likely misspelling warns).",
        flag=True, help="with --schema: an unknown keyword is an error (by default an annotation; a likely misspelling gets a "
             "warning)")

    @property
    def layout(self):
        """``whitespace``, or the default layout (``'spaced'``)."""
        return DEFAULT_LAYOUT if self.whitespace is None else self.whitespace

    def is_default(self) -> bool:
        """Whether every option has its default (the only valid state without ``schema=``)."""
        return self == SchemaOptions()

    def compile_kwargs(self) -> dict:
        """The keyword arguments of ``schema_to_grammar``."""
        return {"whitespace": self.layout, "registry": self.registry, "lenient": bool(self.lenient),
                "property_order": self.property_order, "integral_floats": self.integral_floats,
                "formats": self.formats, "strict_keywords": self.strict_keywords}


def _budget_arg(text: str):
    """``"10"`` -> 10.0 seconds, ``"unlimited"`` unchanged (``--compile-budget``)."""
    try:
        return float(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class CompileOptions:
    """How much compiling the constraint may take (any constraint: schema, grammar, regex, choices)."""

    compile_budget: Any = _opt(
        None, "The time (and automaton size) compiling the constraint may take, up to its first mask: seconds, "
        "a dict ``{'seconds': s, 'states': n}``, ``'unlimited'`` or a ``corral.budget.CompileBudget`` (default 4 "
        "s and 50,000 states per automaton). Past it, a SchemaError or GrammarError of kind ``'too_complex'`` "
        "naming the schema pointer and keyword (or the grammar line).", metavar="SECONDS",
        help="seconds that compiling the constraint may take (default 4), or 'unlimited'; past it the compile "
             "fails with a too_complex error", cli=_budget_arg)

    def __post_init__(self) -> None:
        from corral.budget import CompileBudget

        try:
            CompileBudget.of(self.compile_budget)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(str(exc)) from None

    @property
    def budget(self):
        """The :class:`~corral.budget.CompileBudget`."""
        from corral.budget import CompileBudget

        return CompileBudget.of(self.compile_budget)


#: Group name -> option class, in the order of GenerateOptions' fields.
OPTION_GROUPS = {"sampling": SamplingOptions, "smc": SMCOptions, "asap": ASAPOptions,
                 "speculation": SpeculationOptions, "schema": SchemaOptions, "compile": CompileOptions}


def option_names() -> list[str]:
    """Every option's keyword name, group by group."""
    return [f.name for cls in OPTION_GROUPS.values() for f in fields(cls)]


@dataclass(frozen=True)
class GenerateOptions:
    """Every option of one generation, by group; built checked (also what spans groups)."""

    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    smc: SMCOptions = field(default_factory=SMCOptions)
    asap: ASAPOptions = field(default_factory=ASAPOptions)
    speculation: SpeculationOptions = field(default_factory=SpeculationOptions)
    schema: SchemaOptions = field(default_factory=SchemaOptions)
    compile: CompileOptions = field(default_factory=CompileOptions)

    def __post_init__(self) -> None:
        method, smc, s = self.sampling.method, self.smc, self.sampling
        from corral.samplers.switching_options import check_switching

        check_switching(self)
        if method != "smc":
            for name, default in (("particles", None), ("critic", None), ("twist", None)):
                if getattr(smc, name) is not default:
                    raise ConfigurationError(f"{name}= is for method='smc' (got method={method!r})")
        if method != "asap" and self.asap != ASAPOptions():
            raise ConfigurationError(f"samples= and trie= are for method='asap' (got method={method!r})")
        if method == "asap" and (not s.temperature or self.speculation.draft is not None):
            raise ConfigurationError("method='asap' needs temperature > 0 and takes no draft=")
        if method != "lcd" and (s.top_k is not None or s.top_p is not None):
            raise ConfigurationError(f"top_k/top_p are not supported with method={method!r} (a truncated law has no "
                                     "faithful target); use method='lcd' or drop them")
        if method == "smc" and not s.temperature:
            raise ConfigurationError("method='smc' needs temperature > 0")
        if self.speculation.draft_tree is not None and (method not in ("lcd", "awrs") or self.speculation.switching):
            raise ConfigurationError("draft_tree= is for speculative decoding with method='lcd' or 'awrs'")
        if method == "smc" and smc.resampling == "optimal" and self.speculation.draft is not None:
            raise ConfigurationError("resampling='optimal' expands every token itself: it takes no draft=")

    @classmethod
    def from_kwargs(cls, **kwargs) -> GenerateOptions:
        """Options from flat keyword names (``max_tokens=...``, ``particles=...``); unknown names are an error."""
        unknown = set(kwargs) - set(option_names())
        if unknown:
            raise ConfigurationError(f"unknown option(s) {', '.join(sorted(unknown))}")
        groups = {name: group(**{f.name: kwargs[f.name] for f in fields(group) if f.name in kwargs})
                  for name, group in OPTION_GROUPS.items()}
        return cls(**groups)

    @classmethod
    def from_cli(cls, args) -> GenerateOptions:
        """Options from parsed command-line arguments (:func:`add_cli_arguments` made the parser)."""
        values = {}
        for name in option_names():
            value = getattr(args, name)
            convert = _field(name).metadata["cli"]
            parsed = convert in (int, float)  # argparse converted these already
            values[name] = convert(value) if convert is not None and not parsed and isinstance(value, str) else value
        return cls.from_kwargs(**values)


def _field(name: str):
    """The dataclass field of the option ``name``."""
    for group in OPTION_GROUPS.values():
        for f in fields(group):
            if f.name == name:
                return f
    raise KeyError(name)


def add_cli_arguments(parser) -> None:
    """Add one ``--flag`` per option to an ``argparse`` parser, one argument group per option group."""
    for title, group in OPTION_GROUPS.items():
        section = parser.add_argument_group(f"{title} options")
        for f in fields(group):
            meta, flag = f.metadata, "--" + f.name.replace("_", "-")
            if meta["flag"]:
                section.add_argument(flag, dest=f.name, action="store_true", help=meta["help"])
                continue
            plain = meta["cli"] if meta["cli"] in (int, float) else None  # usage errors from argparse
            section.add_argument(flag, dest=f.name, default=f.default, type=plain, metavar=meta["metavar"],
                                 choices=meta["choices"], help=meta["help"])


def options_doc(indent: str = "    ") -> str:
    """The numpy-style parameter documentation of every option (the docstring of :func:`corral.generate`)."""
    import textwrap

    lines = []
    for title, group in OPTION_GROUPS.items():
        for f in fields(group):
            lines.append(f"{indent}{f.name} : default {f.default!r} ({title})")
            lines += textwrap.wrap(f.metadata["doc"], 112, initial_indent=indent * 2, subsequent_indent=indent * 2)
    return "\n".join(lines)
