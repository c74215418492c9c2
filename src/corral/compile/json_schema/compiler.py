"""JSON Schema (draft 2020-12, with draft-07 spellings) to :class:`~corral.compile.grammar.Grammar`.

Language
--------
The grammar of a schema generates JSON text (compact by default; see ``whitespace`` of :func:`schema_to_grammar`)
such that:

* every generated text parses to an instance that is valid against the schema (soundness), and
* the *canonical text* of every valid instance is generated (completeness), where the canonical text is
  ``json.dumps(x, separators=(",", ":"), ensure_ascii=False)`` with object keys ordered as below.

Choices that make the output canonical (documented narrowings, never widenings):

* Strings are spelled canonically (see :mod:`corral.compile.json_schema.regexes`); lone surrogates never appear.
* ``"type": "integer"`` generates integer literals only (``1``, never ``1.0`` or ``1e0``); with
  ``integral_floats=True`` also the canonical float spelling ``N.0`` (and ``-0.0``) for ``|N| <= 2^53``.
  ``not: {type: integer}`` generates only spellings that parse to a non-integral float: plain decimals with at most
  15 significant digits (``0.25``) and ``d.ddde-k`` (``1.5e-07``), never ``1.0``, ``1.5e1`` or
  ``1.0000000000000001`` (which parses to ``1.0``).
* ``enum``/``const`` values are generated exactly as their compact ``json.dumps`` literal (object literals keep their
  key order); with ``integral_floats=True`` an integral number also in its other canonical spellings (``1`` and
  ``1.0``, ``0``/``0.0``/``-0.0``), and with ``property_order="any"`` object literals in any key order. An ``enum``
  beside other keywords keeps the values that satisfy them.
* ``format`` is dropped everywhere with ``formats="annotate"``; a root ``$schema`` naming a custom meta-schema is
  honoured through its ``$vocabulary`` (found in ``registry``): keywords of the standard vocabularies it leaves out
  are annotations; an unknown meta-schema or a required unknown vocabulary is unsupported.
* With ``property_order="any"``, an object's keys come in any order, each declared name at most once for objects of at
  most 10 names; larger objects track only their required names and let declared names repeat (the last value wins and
  is valid); with ``minProperties`` above 1, or more than 12 required names (or 2^required x names over 80,000 rules),
  they fall back to the schema order below, with a :class:`SchemaNarrowedWarning`. By default, object properties
  appear in schema order (each optional one may be absent), then the names that ``required`` or ``dependentRequired``
  mention but ``properties`` does not (in order of first mention), followed by the other keys, if
  ``patternProperties``/``additionalProperties`` allow them (those keys are distinct from the declared ones). Keys
  matching several patterns get all their schemas; ``propertyNames`` restricts every key. Key languages are made
  disjoint exactly with automata (:mod:`corral.automata.dfa`).
* ``type: number`` (or no ``type``) with ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``
  generates integer literals in canonical form (no ``-0``) and float literals that are plain decimals (magnitude 0 or
  in ``[1e-5, 1e17]``) or scientific with one non-zero integer digit (``1.5e-07``): every ``repr`` of a float has
  one of these forms. A float literal is generated iff its decimal value lies between the ``repr`` of the smallest
  and of the largest float satisfying the bounds, so, float parsing being monotone, it parses to a valid float, and
  the canonical text of every valid float is generated (integer literals are compared exactly). Bounds beyond
  ``1e100`` in magnitude are unsupported.
* Numbers otherwise may use any JSON number syntax.
* Applicators are rewritten into a union of conjunctions (:mod:`corral.compile.json_schema.logic`): ``allOf``,
  ``$ref`` beside other keywords (draft 2020-12; ignored siblings before draft 2019-09), ``anyOf``, ``not``
  (negation of ``type``, ``enum``/``const``, bounds, ``pattern``, ``required``, ``properties``, the
  applicators, and of :mod:`~corral.compile.json_schema.negations`: ``contains`` with its counts, ``items`` with no
  positional item before it (or ``false``), ``prefixItems``, ``propertyNames`` ("some key outside it"),
  ``patternProperties: {P: false}``, ``additionalProperties: false``, ``dependentRequired``/``dependentSchemas``;
  each negation is exact, a value schema other than ``false`` under ``patternProperties``/``additionalProperties``
  is unsupported since a text may repeat a key), ``if``/``then``/``else`` as ``(if ∧ then) ∨ (¬if ∧ else)``,
  ``dependentSchemas`` as ``(a absent) ∨ (a present ∧ schema)``. Each conjunction is merged into one schema when
  that is exact (:mod:`corral.compile.json_schema.merge`): types intersect, bounds take the tightest value,
  ``required`` unites, property schemas conjoin, patterns accumulate, ``patternProperties`` unite,
  ``propertyNames`` conjoin, ``additionalProperties`` conjoin and apply to the other parts' patterns where exact
  (``false`` beside foreign patterns becomes a key restriction), ``items`` only together with the ``prefixItems``
  of its own part, any other keyword in at most one part (or equal in all); otherwise it is unsupported.
* ``oneOf`` (:mod:`corral.compile.json_schema.oneof`): each alternative is analysed together with the keywords
  beside the ``oneOf`` (its ``allOf`` parts and ``$ref`` targets too). Kinds of instances (null, boolean, object,
  array, string, number) that two alternatives accept entirely are excluded. Every other pair of alternatives is
  either provably disjoint on the remaining kinds (no common kind, through ``anyOf``/``oneOf``/``if``/``not``,
  ``integer`` overlapping ``number`` and integral floats counting as integers; disjoint ``enum``/``const`` values
  compared like jsonschema, ``1 == 1.0``; objects with a property one requires whose schemas are provably
  disjoint, or one requiring a property the other forbids, or disjoint property-count ranges; disjoint number,
  length or item-count ranges or first items; string constraints whose automata intersect emptily), or each is
  conjoined with the negation of the other *relative to it* (``oneOf [A, B]`` = ``(A ∧ ¬B) ∨ (B ∧ ¬A)``, where
  ``¬B`` need only be exact on A's instances: keywords of other kinds dropped, keywords A has too dropped,
  ``required``/``properties`` per name, a property's value or the items relative to A's, "some key outside B's
  properties" over the keys A allows when finitely many, ``format``/``pattern``/``enum`` of strings as automata
  differences, object and array ``enum`` values by how an instance differs, a recursive schema's negation through
  one lazily compiled symbol), where that is exact; otherwise it is unsupported, naming both alternatives.
  ``not oneOf`` is "no alternative, or two" by the same analysis.
* ``minProperties`` above 1 needs that no key outside the declared properties be allowed (a repeated additional
  key would make the parsed object smaller than the text); ``minProperties: 1`` is "at least one member", exact
  with any keys (a text with a member never parses to an empty object); ``maxProperties`` is counted exactly
  either way.
* ``contains`` with ``minContains``/``maxContains`` counts the items that match (items split exactly into those
  that match and those that match the negation of ``contains``; unsupported where that negation is).
* ``format`` is an assertion (as with a format checker), for the formats of
  :mod:`corral.compile.json_schema.formats` (which documents the reference of each); the other formats a draft
  defines (``regex``, ``idn-email``, ``idn-hostname``, draft-03's ``color``...) are unsupported. A format name no
  draft defines and jsonschema does not check (``"topic"``, ``"path"``) is an annotation, as for the validator
  (python-jsonschema passes any instance of a format it does not know): it adds no constraint, and one
  :class:`FormatAnnotationWarning` names each such format and its pointer (never silently wider);
  ``formats="strict"`` makes it unsupported instead.
* ``uniqueItems: true`` is exact when at most one item is allowed or when every item position takes finitely many
  values (``enum``/``const``, ``boolean``, ``null``, through ``$ref``/``anyOf``/``allOf``): one nonterminal per set
  of values used, values equal as for jsonschema (``1 == 1.0``, objects whatever their key order, every spelling of
  a value counting as that value), at most 12 values (more under a small ``maxItems``,
  :mod:`~corral.compile.json_schema.unique_items`); otherwise it is unsupported (not context-free).
* ``$ref`` resolves JSON pointers, ``$anchor`` (and draft-07 ``"$id": "#name"``), ``$id``-relative URIs of
  embedded resources and remote documents of the caller's ``registry``; recursion has no depth limit (except in
  the ``pretty`` layout, see :func:`schema_to_grammar`).
"""

from __future__ import annotations

from corral.compile.grammar import Grammar
from corral.compile.json_schema.builder import Builder
from corral.budget import budget_scope
from corral.errors import GrammarError, SchemaError, warn_caller

__all__ = ["schema_to_grammar", "SchemaRelaxedWarning", "SchemaNarrowedWarning", "SchemaKeywordWarning",
           "FormatAnnotationWarning"]


class FormatAnnotationWarning(UserWarning):
    """A schema's ``format`` names a format corral does not know (no draft defines it, jsonschema does not check it):
    with ``formats="assert"`` (the default) it compiled as an annotation, adding no constraint, as a validator
    treats it. The message names the format and its schema pointer; ``formats="strict"`` makes it an error."""


class SchemaRelaxedWarning(UserWarning):
    """Issued once by ``schema_to_grammar(..., lenient=True)`` listing the keywords it dropped (and their pointers)."""


class SchemaKeywordWarning(UserWarning):
    """Issued once by ``schema_to_grammar`` listing the unknown keywords that look like misspelt known ones (e.g.
    ``propertis``), with their pointers and the likely intended keyword: they are ignored as annotations, so the
    language is probably wider than meant."""


class SchemaNarrowedWarning(UserWarning):
    """Issued once by ``schema_to_grammar`` when an option could not be honoured everywhere (e.g. an object too
    large for ``property_order="any"``): the language is narrower than asked (never wider)."""


def _typo_message(typos: dict[str, tuple[str, str]]) -> str:
    """The text of the :class:`SchemaKeywordWarning` for ``typos`` (pointer -> (keyword, suggestion))."""
    items = ", ".join(f"{kw!r} at {p or '/'} (did you mean {guess!r}?)" for p, (kw, guess) in typos.items())
    if len(typos) == 1:
        return f"unknown keyword {items}: ignored as an annotation"
    return f"unknown keywords {items}: ignored as annotations"


def schema_to_grammar(schema, *, whitespace="compact", registry=None, lenient: bool = False,
                      property_order: str = "schema", integral_floats: bool = False,
                      formats: str = "assert", strict_keywords: bool = False, compile_budget=None) -> Grammar:
    """Compile a JSON Schema to a grammar of the JSON texts of its valid instances.

    Parameters
    ----------
    schema : dict or bool
        A draft 2020-12 schema (draft-07 ``definitions``, ``dependencies``, array-form ``items`` with
        ``additionalItems`` are accepted). Supported keywords: ``type``, ``enum``, ``const``, ``properties``,
        ``required``, ``additionalProperties``, ``patternProperties``, ``propertyNames``, ``dependentRequired``,
        ``dependentSchemas``, ``minProperties``/``maxProperties``, ``items``, ``prefixItems``, ``additionalItems``,
        ``minItems``, ``maxItems``, ``contains``/``minContains``/``maxContains``, ``minLength``, ``maxLength``,
        ``pattern``, ``format`` (see :mod:`~corral.compile.json_schema.formats`),
        ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, ``anyOf``, ``allOf``, ``oneOf`` (see the
        module docstring), ``not``, ``if``/``then``/``else``, ``$ref`` (pointers, anchors, ``$id``-relative and
        remote URIs; recursion allowed), plus the annotations; the module docstring has the exact language.
    whitespace : {"compact", "spaced", "pretty", "free"} or int
        The layout of the generated text. ``"compact"`` (default): no whitespace at all (``separators=(",", ":")``).
        ``"spaced"``: exactly ``json.dumps(x, ensure_ascii=False)`` with its default separators (``", "`` between
        members and elements, ``": "`` after keys, nothing else). ``"pretty"``: exactly the layout of ``json.dumps(x,
        indent=2, ensure_ascii=False)`` (a newline and two spaces per nesting level before each member, ``", "`` →
        ``",\\n"``, ``": "`` after keys, ``{}`` and ``[]`` for empty containers); values nested more than
        :data:`~corral.compile.json_schema.layout.MAX_PRETTY_DEPTH` (32) levels deep are not generated in this layout
        (a documented narrowing: the layout ties indentation to depth, which a context-free grammar can only follow to
        a bound). ``"free"`` or an integer ``n >= 1``: at most ``n`` (``"free"``: 4) whitespace characters (space,
        ``\\n``, ``\\t``, ``\\r``) between any two tokens, never before the first or after the last; never unbounded.
    registry : mapping or referencing.Registry, optional
        Remote documents by absolute URI for ``$ref`` (a mapping URI -> schema, or a ``referencing.Registry``).
    lenient : bool
        Instead of raising for an *unsupported* keyword, drop it (which widens the language) and issue one
        :class:`SchemaRelaxedWarning` at the end listing each dropped keyword and its pointer (a ``oneOf`` that is not
        provably disjoint becomes ``anyOf``). Invalid and unsatisfiable schemas still raise.
    property_order : {"schema", "any"}
        ``"schema"`` (default): declared properties in schema order. ``"any"``: any order (``const``/``enum`` objects
        too), exact for validation; objects of more than 10 names track only their required names and may repeat a
        declared name (``json.loads`` keeps the last), or keep the schema order with ``minProperties`` above 1 or
        more than 12 required names (one :class:`SchemaNarrowedWarning` lists those objects).
    integral_floats : bool
        ``True``: integral floats in their canonical spelling (``1.0``, ``-0.0``) are accepted where jsonschema counts
        them as integers or equal to an integer ``const``/``enum`` (up to 2^53; not for integers with ``multipleOf``,
        nor as ``type: integer`` under a draft-04 ``$schema``, where ``1.0`` is no integer). ``False`` (default):
        integers are spelled as integer literals only.
    formats : {"assert", "strict", "annotate"}
        ``"assert"`` (default): ``format`` asserts the formats corral knows; an unknown name (``"topic"``) is an
        annotation, reported in one :class:`FormatAnnotationWarning`. ``"strict"``: an unknown name is unsupported.
        ``"annotate"``: every ``format`` is an annotation. Formats a draft defines that corral does not compile
        (``regex``, ``idn-email``) are unsupported with ``"assert"`` and ``"strict"``.
    strict_keywords : bool
        ``False`` (default): an unknown keyword (one no draft defines) is an annotation, as the specification says;
        one that looks like a misspelt known keyword is listed, with its pointer and the likely keyword, in one
        :class:`SchemaKeywordWarning` (:func:`~corral.compile.json_schema.vocab.suggest_keyword`:
        :func:`difflib.get_close_matches`, cutoff 0.8, over the known keywords that take a value of its JSON type,
        except the metadata annotations such as ``title``/``examples`` and the keywords the ``$schema`` draft leaves
        out; never for ``x-...``, ``discriminator`` or a name with a leading underscore). ``True``: every unknown
        keyword raises a :class:`~corral.errors.SchemaError` (``kind="invalid"``, so ``lenient`` does not drop it),
        except ``x-...`` and ``discriminator`` (OpenAPI, emitted by pydantic). Known annotations (``title``,
        ``$comment``, ``examples``, ...) and other drafts' keywords never count as unknown. Only the subschemas the
        compiler visits are checked (not an unreferenced ``$defs`` entry).

    compile_budget : float, dict, "unlimited" or corral.budget.CompileBudget, optional
        Time and automaton size allowed (:mod:`corral.budget`; default 4 s, 50,000 states); past it a SchemaError of
        kind ``"too_complex"`` at the subschema and keyword. An enclosing budget scope (``generate``) takes over.

    Returns
    -------
    Grammar
        A grammar whose start symbol is ``start``.

    Raises
    ------
    SchemaError
        ``kind="invalid"`` for a malformed schema (or an unknown remote reference, or an unknown keyword with
        ``strict_keywords=True``), ``"unsatisfiable"`` for one no instance satisfies, ``"unsupported"`` for a
        keyword or construct that cannot be compiled exactly, and ``"too_complex"`` past the compile budget, with
        ``keyword`` and the RFC 6901 ``pointer`` of the offending keyword (prefixed by ``URI#`` inside a remote
        document).
    ValueError
        If ``whitespace`` is not one of the values above.
    """
    if not isinstance(schema, (dict, bool)):
        raise SchemaError("a schema must be an object or a boolean", pointer="")
    with budget_scope(compile_budget, error=_too_complex):
        b = Builder(schema, whitespace=whitespace, registry=registry, lenient=lenient,
                    property_order=property_order, integral_floats=integral_floats, formats=formats,
                    strict_keywords=strict_keywords)
        b.rule("start", b.schema(b.root, ""))
        grammar = _grammar(b)
    _warn(b)
    return grammar


def _too_complex(exc) -> SchemaError:
    """The error for a compilation past its budget outside any subschema (the grammar's final checks)."""
    return SchemaError(exc.what, pointer="", keyword=exc.keyword, kind="too_complex")


def _grammar(b: Builder) -> Grammar:
    """The grammar of a compilation (SchemaError, unsatisfiable, when its language is empty)."""
    try:
        return Grammar(b.rules, b.terminals, "start", origins=b.origins)
    except GrammarError as exc:
        if exc.kind == "empty_language":
            raise SchemaError("no JSON value satisfies the schema", pointer="", kind="unsatisfiable") from None
        raise


def _warn(b: Builder) -> None:
    """Issue the warnings of a compilation: misspelt keywords, keywords dropped by ``lenient``, options narrowed."""
    if b.typos:
        warn_caller(_typo_message(b.typos), SchemaKeywordWarning)
    if b.relaxed:
        listing = ", ".join(f"{kw} at {p or '/'}" for p, kw in b.relaxed)
        warn_caller(f"lenient schema compilation dropped unsupported keywords (the language is wider): {listing}",
                    SchemaRelaxedWarning)
    if b.annotated_formats:
        listing = ", ".join(f"{name!r} at {p or '/'}" for p, name in b.annotated_formats.items())
        one = len(b.annotated_formats) == 1
        warn_caller(f"format {listing} {'is not a format' if one else 'are not formats'} corral knows: treated as "
                    f"{'an annotation' if one else 'annotations'} (no constraint, as validators treat "
                    f"{'it' if one else 'them'}; formats='strict' refuses {'it' if one else 'them'})",
                    FormatAnnotationWarning)
    if b.narrowed:
        listing = "; ".join(f"{p or '/'}: {why}" for p, why in b.narrowed)
        warn_caller(f"schema compiled narrower than asked: {listing}", SchemaNarrowedWarning)
