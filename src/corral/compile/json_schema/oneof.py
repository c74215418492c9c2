"""``oneOf`` in the JSON Schema compiler: "exactly one alternative" by construction.

:func:`one_of` and :func:`not_one_of` are the handlers of ``oneOf`` and ``not oneOf`` in
:mod:`~corral.compile.json_schema.logic`; they recurse through ``b.expand`` and ``b.negate``.

Each alternative is analysed together with the keywords beside the ``oneOf`` (:mod:`~corral.compile.json_schema
.disjoint`): kinds that two alternatives accept entirely are excluded (two alternatives match); a pair of
alternatives proven disjoint needs nothing; for the others, alternative ``A`` is conjoined with the negation of
``B`` *relative to A* (:func:`negate_within`): ``oneOf [A, B]`` is ``(A ∧ ¬B) ∨ (B ∧ ¬A)``, where ``¬B`` only
needs to be exact on the instances of ``A`` (and of the keywords beside the ``oneOf``) of the kinds on which ``A``
and ``B`` may share one. So a keyword of ``B`` that only restricts other kinds is dropped, ``required``/
``properties`` of ``B`` negate into "absent or outside the schema" per name, a property's value is negated relative
to what ``A`` says of it, and where ``A`` allows finitely many keys, "some key outside ``B``'s properties" is the
union of ``required`` of those keys (``additionalProperties``/``patternProperties``/``propertyNames`` of ``B``).
Strings, numbers and the other scalars negate exactly through the internal keywords (a string alternative's
pattern becomes an automaton difference), the rest through ``b.negate``.
"""

from __future__ import annotations

import json
import re
import weakref

from corral.compile.json_schema.checks import check_keywords
from corral.compile.json_schema.disjoint import (Context, flatten, item_parts, kinds_of, overlap, type_kinds,
                                                 universal)
from corral.compile.json_schema.dnf import EVERY_KIND, MAX_ALTERNATIVES, RESTRICTS, Sub, alternatives, conjoin
from corral.compile.json_schema.merge import merge
from corral.compile.json_schema.negations import Negated
from corral.compile.json_schema.objects import key_language
from corral.compile.json_schema.scalars import content_of
from corral.compile.json_schema.strings import format_content, key_matches
from corral.compile.json_schema.vocab import BY_TYPE, NON_INTEGER, NOT_ENUM, NOT_FORMAT, SOME_KEY, is_annotation, ptr
from corral.errors import SchemaError

__all__ = ["one_of", "not_one_of", "negate_within", "product", "excluded_values"]

_NUMBERS = frozenset({"int", "frac"})
_OBJECT_KEYS = ("properties", "required", "additionalProperties", "patternProperties", "propertyNames")
_COMPANIONS = {"if": ("then", "else")}


def _kinds_dnf(kinds, pointer: str):
    """A union of conjunctions of the instances of the given kinds (``int`` alone: ``integer``)."""
    types = [t for t in ("null", "boolean", "object", "array", "string") if t in kinds]
    if "frac" in kinds:
        types.append("number")
    elif "int" in kinds:
        types.append("integer")
    return [[({"type": types}, pointer)]] if types else []


def _base(b, node, pointer: str, key: str):
    """The keywords of ``node`` beside ``key`` (a synthetic schema at ``pointer``, for the analysis)."""
    base = {k: v for k, v in node.items() if k != key}
    for table in (b.origin, b.prop_ptrs):
        if id(node) in table:
            table[id(base)] = table[id(node)]
    b.keep.append(base)
    return base


def _one_of_plan(b, node, pointer: str, key: str, alts, ptrs):
    """(the flattened conjunction of each alternative with the keywords beside the ``oneOf``, kinds that two
    alternatives accept entirely, {(i, j): kinds on which i and j are not proven disjoint})."""
    base = _base(b, node, pointer, key) if isinstance(node, dict) else {}
    conjs = [flatten(b, [(base, pointer), (a, p)]) for a, p in zip(alts, ptrs)]
    univ = [universal(b, a, p) for a, p in zip(alts, ptrs)]
    both = set()
    for i in range(len(alts)):
        for j in range(i + 1, len(alts)):
            both |= univ[i] & univ[j]
    rest = {}
    for i in range(len(alts)):
        for j in range(i + 1, len(alts)):
            r = overlap(b, conjs[i], conjs[j]) - both
            if r & _NUMBERS:
                r |= _NUMBERS - both
            if r:
                rest[(i, j)] = r
    return conjs, both, rest


def _names_this(exc: SchemaError, optr: str) -> bool:
    """Whether ``exc`` already is the error of the ``oneOf`` at ``optr`` (met again while negating itself)."""
    return exc.keyword == "oneOf" and exc.pointer == optr and "not provably disjoint" in exc.message


def _not_disjoint(ptrs, pair, optr: str, exc: SchemaError | None = None):
    i, j = sorted(pair)
    why = f" (and the exact rewrite failed: {exc.message})" if exc is not None else ""
    return SchemaError(f"oneOf alternatives {ptrs[i]} and {ptrs[j]} are not provably disjoint{why}",
                       pointer=optr, keyword="oneOf", kind="unsupported")


def one_of(b, node, pointer: str, key: str, seen):
    """``oneOf`` of ``node`` as a union of conjunctions, exactly: the factor list of the ``oneOf`` expander (see
    :data:`~corral.compile.json_schema.logic.EXPANDERS`).

    Kinds that two alternatives accept entirely are excluded (two alternatives match). Alternative ``i`` is
    conjoined with the negation of each alternative ``j`` it is not proven disjoint from, relative to ``i`` and to
    the keywords beside the ``oneOf`` (:func:`negate_within`) on the kinds they may share, and with "another kind"
    where ``i`` has instances of other kinds. Raises SchemaError (unsupported, at the ``oneOf``, naming the two
    alternatives) where a negation is not exact.
    """
    memo = _MEMO.setdefault(b, {})
    if (id(node), pointer) in memo:  # the same synthetic schemas each time: a recursion through them closes
        return memo[(id(node), pointer)]
    alts, ptrs = alternatives(b, node, pointer, key)
    optr = b.kp(node, pointer, key)
    conjs, both, rest = _one_of_plan(b, node, pointer, key, alts, ptrs)
    pair = None
    try:
        out = []
        for i, (s, p) in enumerate(zip(alts, ptrs)):
            if conjs[i] is None:
                continue  # no instance satisfies this alternative beside the other keywords
            mine = kinds_of(b, conjs[i]) - both
            pieces = [b.expand(s, p, seen)]
            for j in range(len(alts)):
                shared = rest.get((min(i, j), max(i, j)), set()) & mine
                if j == i or not shared:
                    continue
                pair = (i, j)
                pieces.append(_excluding(b, alts[j], ptrs[j], Context(b, conjs[i], shared), mine - shared, seen))
            mine_out = product(b, pieces, optr)
            if len(pieces) > 1:
                _mergeable(b, mine_out, optr)
            pair = None
            out += mine_out
            if len(out) > MAX_ALTERNATIVES:
                raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives", pointer=optr, keyword="oneOf",
                                  kind="unsupported")
        if both:
            out = conjoin([_kinds_dnf(EVERY_KIND - both, optr), out], optr, "oneOf")
        memo[(id(node), pointer)] = [out]
        b.keep.append(node)
        return [out]
    except SchemaError as exc:
        if exc.kind != "unsupported" or not rest or _names_this(exc, optr):
            raise
        raise _not_disjoint(ptrs, pair or next(iter(rest)), optr, exc) from None


def _key(value):
    """A hashable key of a plain or synthetic schema value (synthetic schemas by identity)."""
    if isinstance(value, dict):
        return ("d",) + tuple(sorted((repr(k), _key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("l",) + tuple(_key(v) for v in value)
    if isinstance(value, Sub):
        return ("s", id(value))
    return ("v", repr(value))


def _conj_key(b, conj):
    """A hashable key of a conjunction: its atoms' values and the base URIs their references resolve against."""
    return tuple(sorted((_key(atom), b.refs.base_for(p)) for atom, p in conj))


def product(b, factors, pointer: str):
    """The union of conjunctions equivalent to the conjunction of the unions ``factors`` (``b``: the builder), with
    a conjunction that several factors share taken out first (``(c ∨ X) ∧ (c ∨ Y) = c ∨ (X ∧ Y)``): the plain
    distribution (:func:`~corral.compile.json_schema.dnf.conjoin`) of ten negations of two or three cases each is
    beyond any limit, while they often share a case (the same discriminating property present).

    Raises SchemaError (unsupported, at ``pointer``) beyond :data:`~corral.compile.json_schema.dnf.MAX_ALTERNATIVES`.
    """
    if any(not f for f in factors):
        return []
    factors = [f for f in factors if all(c for c in f)]  # a factor holding the empty conjunction is true
    if len(factors) < 2:
        return [list(c) for c in factors[0]] if factors else [[]]
    keyed = [{_conj_key(b, c): c for c in f} for f in factors]
    counts: dict = {}
    for f in keyed:
        for k in f:
            counts[k] = counts.get(k, 0) + 1
    k, n = max(counts.items(), key=lambda kv: (kv[1], -len(kv[0])))
    if n < 2:
        return conjoin(factors, pointer, "oneOf")
    shared = next(f[k] for f in keyed if k in f)
    holding = [[c for ck, c in f.items() if ck != k] for f in keyed if k in f]
    others = [list(f.values()) for f in keyed if k not in f]
    out = [list(shared) + c for c in product(b, others, pointer)] if others else [list(shared)]
    out += product(b, holding + others, pointer)
    if len(out) > MAX_ALTERNATIVES:
        raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives after distributing the negations",
                          pointer=pointer, keyword="oneOf", kind="unsupported")
    return out


def _mergeable(b, dnf, pointer: str) -> None:
    """Raise (unsupported) where a conjunction of ``dnf`` cannot be merged into one schema (two ``contains``...),
    so that the error names the alternatives (an unsatisfiable conjunction is only dropped later)."""
    for conj in dnf:
        try:
            merged = merge(b, conj, pointer)
        except SchemaError as exc:
            if exc.kind != "unsatisfiable":
                raise
            continue
        if isinstance(merged, dict) and merged.get(NON_INTEGER) and any(k in merged for k in BY_TYPE["integer"]) \
                and type_kinds({"type": merged.get("type", "number")}) & {"frac"}:
            raise SchemaError("non-integral numbers within bounds (a negated type: integer beside minimum or "
                              "maximum) are not supported", pointer=pointer, keyword="oneOf", kind="unsupported")


def _excluding(b, alt, aptr: str, ctx: Context, outside, seen):
    """The instances of the context that ``alt`` rejects, or of the kinds ``outside`` (a union of conjunctions)."""
    neg = _checked(negate_within(b, alt, aptr, ctx, seen), aptr)
    if outside:
        return _kinds_dnf(outside, aptr) + conjoin([_kinds_dnf(ctx.kinds, aptr), neg], aptr, "oneOf")
    return neg


def not_one_of(b, key, value, optr: str, seen, node, pointer):
    """``not oneOf``: no alternative matches, or two do (the ``oneOf`` negator, see
    :data:`~corral.compile.json_schema.logic.NEGATORS`); pairs proven disjoint beside the other keywords of
    ``node`` never both match (outside those keywords, their own negation holds)."""
    if not isinstance(value, list) or not value:
        raise SchemaError(f"{key} must be a non-empty array", pointer=optr, keyword=key)
    alts, ptrs = value, [ptr(optr, i) for i in range(len(value))]
    _, both, rest = _one_of_plan(b, node, pointer, key, alts, ptrs)
    ctx = Context(b, flatten(b, [(_base(b, node, pointer, key), pointer)]) or [])
    try:
        out = conjoin([_checked(negate_within(b, s, p, ctx, seen), p) for s, p in zip(alts, ptrs)], optr, "oneOf")
        out += _kinds_dnf(both, optr)
        for i, j in rest:
            out += conjoin([b.expand(alts[i], ptrs[i], seen), b.expand(alts[j], ptrs[j], seen)], optr, "oneOf")
        return out
    except SchemaError as exc:
        if exc.kind != "unsupported" or not rest or _names_this(exc, optr):
            raise
        raise _not_disjoint(ptrs, next(iter(rest)), optr, exc) from None


# ------------------------------------------------------------------ negation relative to a context

def _excludes_composite(node, seen: set) -> bool:
    """Whether a negation result excludes an object or array value (a negated ``enum``/``const``), which the
    object and array compilers do not read (``seen``: the synthetic schemas visited)."""
    if isinstance(node, Sub):
        if id(node) in seen:
            return False
        seen.add(id(node))
        return any(_excludes_composite(n, seen) for n, _ in node.parts)
    if not isinstance(node, dict):
        return False
    if any(isinstance(v, (list, dict)) for v in node.get(NOT_ENUM, ())):
        return True
    for key, value in node.items():
        if isinstance(value, Sub) and _excludes_composite(value, seen):
            return True
        if key in ("properties", "patternProperties") and isinstance(value, dict) and \
                any(isinstance(v, Sub) and _excludes_composite(v, seen) for v in value.values()):
            return True
        if isinstance(value, list) and key in ("prefixItems", "items") and \
                any(isinstance(v, Sub) and _excludes_composite(v, seen) for v in value):
            return True
    return False


def _checked(dnf, pointer: str):
    """``dnf`` (a negation used by ``oneOf``), unless it excludes an object or array value (which computes the
    lazy negations it holds)."""
    seen: set = set()
    if any(_excludes_composite(n, seen) for conj in dnf for n, _ in conj):
        raise SchemaError("the negation excludes an object or array value (enum/const), which is not supported",
                          pointer=pointer, keyword="oneOf", kind="unsupported")
    return dnf


def _prune(dnf, kinds):
    """The conjunctions of ``dnf`` that may hold an instance of ``kinds`` (by their atoms' ``type``)."""
    return [conj for conj in dnf if all(not (isinstance(n, dict) and "type" in n) or type_kinds({"type": n["type"]})
                                        & kinds for n, _ in conj)]


def _standard(b, node: dict, pointer: str, keys, seen, kinds, origin=None):
    """``b.negate`` of the keywords ``keys`` of ``node`` (with their companions), pruned to ``kinds``; ``origin``:
    the schema whose keyword pointers ``node`` shares (default ``node``)."""
    keys = list(keys) + [c for k in keys for c in _COMPANIONS.get(k, ()) if c in node]
    piece = {k: node[k] for k in dict.fromkeys(keys)}
    for table in (b.origin, b.prop_ptrs):
        if id(origin or node) in table:
            table[id(piece)] = table[id(origin or node)]
    b.keep.append(piece)
    return _prune(b.negate(piece, pointer, seen), kinds)


def negate_within(b, node, pointer: str, ctx: Context, seen: frozenset = frozenset()):
    """The union of conjunctions of the instances of the context ``ctx`` that ``node`` rejects: a negation of
    ``node`` that is exact on every instance ``ctx`` describes (its kinds, its finite key set, its required names,
    what it says of each property's value); outside them it may differ.

    Nothing where the context implies ``node``, everything where no instance of the context satisfies it
    (:func:`~corral.compile.json_schema.disjoint.overlap`). Keywords that only restrict kinds outside
    ``ctx.kinds``, and keywords a part of the context has with the same value, are dropped; ``allOf``, ``anyOf``,
    ``$ref`` and ``not`` recurse; ``required``/``properties`` negate per name (:func:`_negate_object`), and so do
    ``additionalProperties``/``patternProperties``/``propertyNames`` where the context allows finitely many keys;
    ``items`` relative to the context's items, ``enum``/``const`` value by value (:func:`_negate_values`),
    ``format`` by the internal ``NOT_FORMAT``; every other keyword through ``b.negate``. Raises SchemaError
    (unsupported) where that is not exact.
    """
    if node is True:
        return []
    if node is False:
        return [[]]
    if not isinstance(node, dict):
        return _prune(b.negate(node, pointer, seen), ctx.kinds)
    if pointer in seen:
        raise SchemaError("negating a recursive schema is not supported", pointer=pointer, keyword="not",
                          kind="unsupported")
    check_keywords(b, node, pointer)
    if any(part is node for part, _ in ctx.parts or ()):
        return []  # the context implies the schema
    if not overlap(b, ctx.parts or [], flatten(b, [(node, pointer)])) & ctx.kinds:
        return [[]]  # no instance of the context satisfies the schema
    inner = seen | {pointer}
    if "$ref" in node and b.refs.ignores_ref_siblings():
        target, tptr = b.refs.resolve(node["$ref"], b.kp(node, pointer, "$ref"), pointer)
        return negate_within(b, target, tptr, ctx, inner)
    objects = "object" in ctx.kinds
    out, rest = [], []
    for key, value in node.items():
        if is_annotation(key) or key in ("then", "else") or (key in RESTRICTS and not RESTRICTS[key] & ctx.kinds):
            continue
        kp = b.kp(node, pointer, key)
        if (objects and key in _OBJECT_KEYS) or _implied(b, node, key, value, kp, ctx):
            continue
        if key == "items" and isinstance(value, (dict, bool)) and not isinstance(node.get("prefixItems"), list):
            out += _negate_items(b, value, kp, ctx, inner)
        elif key in ("enum", "const"):
            out += _negate_values(b, node[key] if key == "enum" else [value], kp, ctx)
        elif key == "format":  # numbers have no format (jsonschema checks strings only)
            out += _negate_format(b, node, pointer, kp) if "string" in ctx.kinds else []
        elif key == "$ref":
            target, tptr = b.refs.resolve(value, kp, pointer)
            out += negate_within(b, target, tptr, ctx, inner)
        elif key == "allOf" and isinstance(value, list):
            for i, s in enumerate(value):
                out += negate_within(b, s, ptr(kp, i), ctx, inner)
        elif key == "anyOf" and isinstance(value, list) and value:
            out += product(b, [negate_within(b, s, ptr(kp, i), ctx, inner) for i, s in enumerate(value)], kp)
        elif key == "not":
            out += _prune(b.expand(value, kp, inner), ctx.kinds)
        else:
            rest.append(key)
        if len(out) > MAX_ALTERNATIVES:
            raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives in a negation", pointer=kp,
                              keyword="oneOf", kind="unsupported")
    if objects:
        out += _negate_object(b, node, pointer, ctx, inner)
        keys = [k for k in ("additionalProperties", "patternProperties", "propertyNames") if k in node and not
                _implied(b, node, k, node[k], b.kp(node, pointer, k), ctx)]
        if keys and ctx.names is None:  # with the declared names only (their values are negated above)
            stub = {**{k: node[k] for k in keys}, "properties": dict.fromkeys(node.get("properties", {}), True)}
            out += _standard(b, stub, pointer, list(stub), seen, ctx.kinds, node)
    if rest:
        out += _standard(b, node, pointer, rest, seen, ctx.kinds)
    return out


def _implied(b, node: dict, key, value, kp: str, ctx: Context) -> bool:
    """Whether a part of the context has the keyword ``key`` with the same value (then no instance of the context
    violates it): plain JSON, equal as text, under the same base URI."""
    if not isinstance(key, str) or key.startswith("unevaluated"):  # those depend on every sibling
        return False
    for part, pp in ctx.parts or ():
        if key in part and _same(part[key], value) and b.refs.base_for(b.kp(part, pp, key)) == b.refs.base_for(kp) \
                and all(_same(part.get(c, _ABSENT), node.get(c, _ABSENT)) for c in _DEPENDS.get(key, ())):
            return True
    return False


_ABSENT = object()
# keyword -> the keywords its meaning depends on (equal values only imply each other with equal companions)
_DEPENDS = {"additionalProperties": ("properties", "patternProperties"), "additionalItems": ("items",),
            "items": ("prefixItems",), "contains": ("minContains", "maxContains"), "minContains": ("contains",),
            "maxContains": ("contains",), "if": ("then", "else"), "then": ("if",), "else": ("if",)}


def _same(x, y) -> bool:
    """Whether two keyword values are the same plain JSON (never for synthetic schemas)."""
    if x is y:
        return True
    try:
        return json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True)
    except (TypeError, ValueError):
        return False


def _negate_items(b, value, kp: str, ctx: Context, seen):
    """The arrays of the context with an item that the schema-form ``items`` (without positional items) rejects:
    ``contains`` the negation of ``items`` relative to what the context says of its items."""
    parts = item_parts(b, ctx.parts)
    if parts is None:
        return []  # the arrays of the context have no item
    neg = _negation_schema(b, value, kp, Context(b, parts), seen)
    if neg is False:
        return []
    return [[({"type": "array", "minItems": 1} if neg is True else {"type": "array", "contains": neg}, kp)]]


def _negate_values(b, values, kp: str, ctx: Context):
    """The instances of the context equal to none of ``values`` (an ``enum``): the scalars by the internal
    ``NOT_ENUM``, an array or object value by how an instance may differ from it (:func:`_differs`)."""
    if not isinstance(values, list):
        raise SchemaError("enum must be an array", pointer=kp, keyword="enum")
    scalars = [v for v in values if not isinstance(v, (list, dict))]
    factors = [[[({NOT_ENUM: scalars}, kp)]]] if scalars else []
    factors += [_differs(v, kp, ctx) for v in values if isinstance(v, (list, dict))]
    return _prune(product(b, factors, kp), ctx.kinds)


def excluded_values(b, values: list, kp: str):
    """The union of conjunctions of the instances equal to none of ``values`` (a negated ``enum``/``const``), any
    kind: the scalars by the internal ``NOT_ENUM``, each array or object value by how an instance may differ from
    it (:func:`_differs`; ``NOT_ENUM`` alone only excludes scalars)."""
    scalars = [v for v in values if not isinstance(v, (list, dict))]
    factors = [[[({NOT_ENUM: scalars}, kp)]]] if scalars else []
    factors += [_differs(v, kp, None) for v in values if isinstance(v, (list, dict))]
    return product(b, factors, kp)


def _differs(value, kp: str, ctx: Context | None):
    """The instances (of the context, when given) that differ from the array or object ``value``: another kind; an
    array of another length or with an item that differs (a one-item array: ``items``, else ``prefixItems``); an
    object without a key of ``value``, with a value that differs, or with another key (a key the context allows,
    else the internal ``SOME_KEY`` over the other names: ``minProperties`` would be inexact beside open keys)."""
    kind = "array" if isinstance(value, list) else "object"
    out = _kinds_dnf((ctx.kinds if ctx is not None else EVERY_KIND) - {kind}, kp)
    if isinstance(value, list):
        n = len(value)
        out += [[({"type": "array", "minItems": n + 1}, kp)]] + ([[({"type": "array", "maxItems": n - 1}, kp)]]
                                                                 if n else [])
        for i, v in enumerate(value):
            item = _other_than(v, kp)
            atom = {"type": "array", "minItems": 1, "maxItems": 1, "items": item} if n == 1 else \
                {"type": "array", "minItems": n, "prefixItems": [True] * i + [item]}
            out.append([(atom, kp)])
        return out
    for k, v in value.items():
        out.append([({"type": "object", "properties": {k: _other_than(v, kp)}}, kp)])
    names = ctx.names if ctx is not None else None
    if names is None:  # another key: minProperties would be inexact beside open keys (a text may repeat a key)
        other = {"type": "object", SOME_KEY: [{"type": "string", NOT_ENUM: list(value)}]} if value else \
            {"type": "object", "minProperties": 1}
        out.append([(other, kp)])
    else:
        out += [[({"type": "object", "required": [n]}, kp)] for n in sorted(names - set(value))]
    return out


def _other_than(value, kp: str):
    """A schema for the values other than ``value``."""
    if not isinstance(value, (list, dict)):
        return Sub("all", [({NOT_ENUM: [value]}, kp)])
    return Sub("any", [(Sub("all", conj), kp) for conj in _differs(value, kp, None)])


def _negate_format(b, node: dict, pointer: str, kp: str):
    """The strings outside a ``format`` (none for a format that is an annotation)."""
    if format_content(b, node, pointer) is None:
        return []
    return [[({"type": "string", NOT_FORMAT: [node["format"]]}, kp)]]


class _LazyNegation(Negated):
    """The negation of a located schema, computed when first read (:func:`negate_within` without a context), so
    that a negation that reaches the schema it negates again (a recursive schema) refers to this same schema (one
    grammar symbol) instead of recursing. Negated again, it is the schema itself (:class:`Negated`)."""

    __slots__ = ("_b", "_parts")

    def __init__(self, b, node, pointer: str) -> None:  # not Sub.__init__: it would compute the parts now
        self.kind, self.original, self._b, self._parts = "any", (node, pointer), b, None

    @property
    def parts(self):
        """The conjunctions of the negation (computed on first use)."""
        if self._parts is None:
            self._parts = ()  # a reference to itself met while computing (never read meanwhile)
            try:
                node, pointer = self.original
                dnf = negate_within(self._b, node, pointer, Context(self._b, [], EVERY_KIND))
            except BaseException:
                self._parts = None
                raise
            self._parts = tuple((Sub("all", conj), pointer) for conj in dnf)
        return self._parts


#: builder -> {(id of a schema, its pointer): the factors of its oneOf} (kept: the schema is in ``b.keep``)
_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: builder -> {pointer: the lazy negation of the schema at that pointer}
_LAZY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _lazy_negation(b, node, pointer: str):
    """The schema ``not node`` (``node`` found at ``pointer``), computed when first read, one per pointer."""
    per = _LAZY.setdefault(b, {})
    if pointer not in per:
        per[pointer] = _LazyNegation(b, node, pointer)
        b.keep.append(per[pointer])
    return per[pointer]


def _negation_schema(b, node, pointer: str, ctx: Context, seen):
    """A schema for the values of the context that ``node`` rejects: ``False``, ``True`` or a union; the lazy
    ``not`` of ``node`` where negating it now reaches a schema being negated (a recursive schema)."""
    try:
        neg = negate_within(b, node, pointer, ctx, seen)
    except SchemaError as exc:
        if exc.kind != "unsupported" or not exc.message.startswith("negating a recursive schema"):
            raise
        return _lazy_negation(b, node, pointer)
    if not neg:
        return False
    if any(not conj for conj in neg):
        return True
    return Negated(neg, (node, pointer))  # negated again (an array's items split by contains): node itself


def _negate_object(b, node: dict, pointer: str, ctx: Context, seen):
    """The objects of the context that ``required``/``properties`` of ``node`` reject (a required name absent or
    any declared value outside its schema) and, where the context allows finitely many keys, those with a key
    that ``additionalProperties``/``patternProperties``/``propertyNames`` reject."""
    props, required = node.get("properties", {}), node.get("required", [])
    if not isinstance(props, dict):
        raise SchemaError("properties must be an object", pointer=b.kp(node, pointer, "properties"),
                          keyword="properties")
    if not isinstance(required, list):
        raise SchemaError("required must be an array", pointer=b.kp(node, pointer, "required"), keyword="required")
    rp, pp = b.kp(node, pointer, "required"), b.kp(node, pointer, "properties")
    out, done = [], set()
    for r in dict.fromkeys(x for x in required if isinstance(x, str)):
        if r in ctx.required:
            continue  # present in every object of the context: only its value may fail (below)
        sub = ctx.prop(r)
        if sub is None:  # r is never present: every object of the context fails
            return [[({"type": "object"}, rp)]]
        value = _negation_schema(b, props[r], ptr(pp, r), sub, seen) if r in props else False
        done.add(r)
        if value is True:
            return [[({"type": "object"}, rp)]]
        out.append([({"type": "object", "properties": {r: value}}, rp)])  # absent, or present and not valid
    for p, s in props.items():
        sub = ctx.prop(p) if p not in done else None
        value = _negation_schema(b, s, ptr(pp, p), sub, seen) if sub is not None else False
        if value is not False:
            atom = {"type": "object", "required": [p]}
            if value is not True:
                atom["properties"] = {p: value}
            out.append([(atom, pp)])
    if ctx.names is not None:
        out += _negate_keys(b, node, pointer, ctx, seen, props)
    return out


def _negate_keys(b, node: dict, pointer: str, ctx: Context, seen, props):
    """The objects of the context (finitely many keys) with a key that ``patternProperties``,
    ``additionalProperties`` or ``propertyNames`` of ``node`` reject: for each key, it is present and its value
    is outside the schema that applies to it (or the key is outside ``propertyNames``)."""
    pats = node.get("patternProperties", {})
    extra = node.get("additionalProperties", True)
    pnames = node.get("propertyNames", True)
    if not isinstance(pats, dict):
        raise SchemaError("patternProperties must be an object", pointer=b.kp(node, pointer, "patternProperties"),
                          keyword="patternProperties")
    out = []
    for n in sorted(ctx.names):
        sub = ctx.prop(n)
        if sub is None:
            continue
        schemas = [(s, b.kp(node, pointer, "patternProperties", q)) for q, s in pats.items()
                   if key_matches(q, n, b.kp(node, pointer, "patternProperties", q))]
        if n not in props and not schemas:
            schemas.append((extra, b.kp(node, pointer, "additionalProperties")))
        for s, sp in schemas:
            value = _negation_schema(b, s, sp, sub, seen)
            if value is not False:
                atom = {"type": "object", "required": [n]}
                if value is not True:
                    atom["properties"] = {n: value}
                out.append([(atom, sp)])
        if pnames is not True and not _name_allowed(b, pnames, b.kp(node, pointer, "propertyNames"), n):
            out.append([({"type": "object", "required": [n]}, b.kp(node, pointer, "propertyNames"))])
    return out


def _name_allowed(b, pnames, pointer: str, name: str) -> bool:
    """Whether the key ``name`` satisfies the ``propertyNames`` schema ``pnames``."""
    lang = key_language(b, pnames, pointer)
    return lang is None or (lang is not False and re.fullmatch(lang, content_of(name)) is not None)
