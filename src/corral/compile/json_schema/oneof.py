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

The negation relative to a context is :mod:`~corral.compile.json_schema.relative_negation`, the distribution of the
conjunction of unions :mod:`~corral.compile.json_schema.dnf_product`, and the negation of ``enum``/``const`` values
:mod:`~corral.compile.json_schema.value_exclusion`; their public functions are importable from here too.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from corral.compile.json_schema.disjoint import Context, flatten, kinds_of, overlap, type_kinds, universal
from corral.compile.json_schema.dnf import EVERY_KIND, MAX_ALTERNATIVES, Sub, alternatives, conjoin
from corral.compile.json_schema.dnf_product import kinds_dnf, product
from corral.compile.json_schema.merge import merge
from corral.compile.json_schema.relative_negation import negate_within
from corral.compile.json_schema.value_exclusion import excluded_values
from corral.compile.json_schema.vocab import BY_TYPE, NON_INTEGER, NOT_ENUM, ptr
from corral.errors import SchemaError

__all__ = ["one_of", "not_one_of", "negate_within", "product", "excluded_values"]

_NUMBERS = frozenset({"int", "frac"})
#: builder -> {(id of a schema, its pointer): the factors of its oneOf} (kept: the schema is in ``b.keep``)
_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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


@dataclass
class _OneOf:
    """One ``oneOf`` being rewritten: its alternatives and their pointers, the pointer of the ``oneOf``, the analysis
    of :func:`_one_of_plan` (``conjs``, ``both``, ``rest``), and the pair of alternatives being separated (the pair
    an error names)."""

    alts: list
    ptrs: list
    optr: str
    conjs: list
    both: set
    rest: dict
    pair: tuple | None = None


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
    job = _OneOf(alts, ptrs, optr, *_one_of_plan(b, node, pointer, key, alts, ptrs))
    try:
        out = _each_alone(b, job, seen)
        if job.both:
            out = conjoin([kinds_dnf(EVERY_KIND - job.both, optr), out], optr, "oneOf")
        memo[(id(node), pointer)] = [out]
        b.keep.append(node)
        return [out]
    except SchemaError as exc:
        if exc.kind != "unsupported" or not job.rest or _names_this(exc, optr):
            raise
        raise _not_disjoint(ptrs, job.pair or next(iter(job.rest)), optr, exc) from None


def _each_alone(b, job: _OneOf, seen):
    """The union over the alternatives (those with an instance beside the other keywords) of :func:`_alone`."""
    out = []
    for i in range(len(job.alts)):
        if job.conjs[i] is None:
            continue  # no instance satisfies this alternative beside the other keywords
        out += _alone(b, job, i, seen)
        if len(out) > MAX_ALTERNATIVES:
            raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives", pointer=job.optr, keyword="oneOf",
                              kind="unsupported")
    return out


def _alone(b, job: _OneOf, i: int, seen):
    """The instances of alternative ``i`` that no other alternative accepts: ``i`` conjoined with the negation of
    each alternative it may share an instance with, relative to ``i`` on the kinds they share (:func:`_excluding`)."""
    mine = kinds_of(b, job.conjs[i]) - job.both
    pieces = [b.expand(job.alts[i], job.ptrs[i], seen)]
    for j in range(len(job.alts)):
        shared = job.rest.get((min(i, j), max(i, j)), set()) & mine
        if j == i or not shared:
            continue
        job.pair = (i, j)
        ctx = Context(b, job.conjs[i], shared)
        pieces.append(_excluding(b, job.alts[j], job.ptrs[j], ctx, mine - shared, seen))
    out = product(b, pieces, job.optr)
    if len(pieces) > 1:
        _mergeable(b, out, job.optr)
    job.pair = None
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
        return kinds_dnf(outside, aptr) + conjoin([kinds_dnf(ctx.kinds, aptr), neg], aptr, "oneOf")
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
        out += kinds_dnf(both, optr)
        for i, j in rest:
            out += conjoin([b.expand(alts[i], ptrs[i], seen), b.expand(alts[j], ptrs[j], seen)], optr, "oneOf")
        return out
    except SchemaError as exc:
        if exc.kind != "unsupported" or not rest or _names_this(exc, optr):
            raise
        raise _not_disjoint(ptrs, next(iter(rest)), optr, exc) from None


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
