"""``oneOf`` in the JSON Schema compiler: proofs that alternatives are disjoint (kind by kind) and the exact
``(A ∧ ¬B) ∨ (B ∧ ¬A)`` fallback. :func:`one_of` and :func:`not_one_of` are the handlers of ``oneOf`` and
``not oneOf`` in :mod:`~corral.compile.json_schema.logic`; they recurse through ``b.expand`` and ``b.negate``."""

from __future__ import annotations

import itertools
import json

from corral.compile.json_schema.dnf import (COMBINATORS, EVERY_KIND, MAX_ALTERNATIVES, RESTRICTS, alternatives,
                                            checked_negation, conjoin, count_range, disjoint_ranges, number_range)
from corral.compile.json_schema.scalars import content_dfa
from corral.compile.json_schema.strings import key_matches, string_content
from corral.compile.json_schema.vocab import NOT_PATTERN, PATTERNS, is_annotation, ptr, type_of
from corral.errors import SchemaError

__all__ = ["one_of", "not_one_of"]


def _follow(b, node, pointer: str):
    """Follow a chain of bare ``$ref`` schemas (for the disjointness check)."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node and pointer not in seen:
        seen.add(pointer)
        node, pointer = b.refs.resolve(node["$ref"], ptr(pointer, "$ref"), pointer)
    return node


def _values(node) -> set[str] | None:
    """Equality keys (jsonschema's equality: 1 == 1.0, true != 1) of the enum/const values, None if neither."""
    def norm(v):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, list):
            return [norm(e) for e in v]
        if isinstance(v, dict):
            return {k: norm(e) for k, e in v.items()}
        return v

    if not isinstance(node, dict) or not ("enum" in node or "const" in node):
        return None
    sets = []
    if "enum" in node and isinstance(node["enum"], list):
        sets.append({json.dumps(norm(v), sort_keys=True) for v in node["enum"]})
    if "const" in node:
        sets.append({json.dumps(norm(node["const"]), sort_keys=True)})
    return set.intersection(*sets) if sets else None


def _kinds(node) -> set[str]:
    """Kinds of instances (``int`` includes integral floats, ``frac`` the other numbers) the schema may accept."""
    every = {"null", "boolean", "object", "array", "string", "int", "frac"}
    if node is True or not isinstance(node, dict):
        return every if node is not False else set()
    kinds = set(every)
    t = node.get("type")
    if t is not None:
        ts = [t] if isinstance(t, str) else (t if isinstance(t, list) else [])
        kinds = set()
        for x in ts:
            kinds |= {"int", "frac"} if x == "number" else {"int"} if x == "integer" else {x}
    values = [node["const"]] if "const" in node else []
    if isinstance(node.get("enum"), list):
        values += node["enum"]
    if "enum" in node or "const" in node:
        vk = set()
        for v in values:
            k = type_of(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else (
                "int" if float(v).is_integer() else "frac")
            vk.add(k)
        kinds &= vk
    return kinds


def _exact(b, node, pointer: str):
    """Follow bare ``$ref`` chains only where the referring schema equals its target (None: a cycle)."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        if not (b.refs.ignores_ref_siblings() or all(is_annotation(k) for k in node if k != "$ref")):
            break
        if pointer in seen:
            return None
        seen.add(pointer)
        node, pointer = b.refs.resolve(node["$ref"], ptr(pointer, "$ref"), pointer)
    return node


def _universal(b, node, pointer: str) -> set[str]:
    """Kinds (see :func:`_kinds`) all of whose instances ``node`` accepts (a subset of the true set).

    ``int`` and ``frac`` are reported together or not at all (integral floats are integers for jsonschema and
    not for the compiler, so the two are never told apart here).
    """
    node = _exact(b, node, pointer)
    if node is True:
        return set(EVERY_KIND)
    if not isinstance(node, dict) or "enum" in node or "const" in node:
        return set()
    if any(k in COMBINATORS or k == "$dynamicRef" for k in node):
        return set()
    kinds = _kinds(node)
    for key, value in node.items():
        if key == "type" or is_annotation(key):
            continue
        if key in ("items", "additionalProperties", "additionalItems") and value is True:
            continue
        if key == "uniqueItems" and value is False:
            continue
        kinds -= RESTRICTS.get(key, EVERY_KIND)
    if not {"int", "frac"} <= kinds:
        kinds -= {"int", "frac"}
    return kinds


def _overlap(b, a, aptr: str, c, cptr: str, depth: int = 0) -> set[str]:
    """Kinds on which ``a`` and ``c`` may share an instance (every other kind is proven disjoint)."""
    a, c = _follow(b, a, aptr), _follow(b, c, cptr)
    if a is False or c is False:
        return set()
    common = _kinds(a) & _kinds(c)
    if not common or not (isinstance(a, dict) and isinstance(c, dict)):
        return common
    va, vc = _values(a), _values(c)
    if va is not None and vc is not None and not (va & vc):
        return set()
    if "object" in common and _objects_disjoint(b, a, aptr, c, cptr, depth):
        common.discard("object")
    if "array" in common and disjoint_ranges(count_range(a, "minItems", "maxItems"),
                                              count_range(c, "minItems", "maxItems")):
        common.discard("array")
    if common & {"int", "frac"} and disjoint_ranges(number_range(a), number_range(c)):
        common -= {"int", "frac"}
    if "string" in common and _strings_disjoint(b, a, aptr, c, cptr):
        common.discard("string")
    if depth < 4:  # a schema implies each of its allOf parts
        for x, xptr, y, yptr, swap in ((a, aptr, c, cptr, False), (c, cptr, a, aptr, True)):
            subs = x.get("allOf")
            if isinstance(subs, list):
                for i, sub in enumerate(subs):
                    if not common:
                        return common
                    sp = ptr(xptr, "allOf", i)
                    common &= _overlap(b, y, yptr, sub, sp, depth + 1) if swap else \
                        _overlap(b, sub, sp, y, yptr, depth + 1)
    return common


def _objects_disjoint(b, a, aptr, c, cptr, depth: int) -> bool:
    """Whether no object satisfies both ``a`` and ``c``: disjoint property counts, a property both require with
    disjoint schemas, or one required by one and forbidden by the other."""
    ra, rc = a.get("required", []), c.get("required", [])
    pa, pc = a.get("properties", {}), c.get("properties", {})
    if not (isinstance(ra, list) and isinstance(rc, list) and isinstance(pa, dict) and isinstance(pc, dict)):
        return False
    if disjoint_ranges(count_range(a, "minProperties", "maxProperties", len(set(ra))),
                       count_range(c, "minProperties", "maxProperties", len(set(rc)))):
        return True
    if depth < 4:
        for p in set(ra) & set(rc):
            if isinstance(p, str) and p in pa and p in pc and \
                    not _overlap(b, pa[p], ptr(aptr, "properties", p), pc[p], ptr(cptr, "properties", p), depth + 1):
                return True
    # a property required by one and forbidden by the other
    for x, xptr, y, yptr in ((a, aptr, c, cptr), (c, cptr, a, aptr)):
        py = y.get("properties", {})
        for r in x.get("required", []):
            if not isinstance(r, str):
                continue
            if r in py:
                if _follow(b, py[r], ptr(yptr, "properties", r)) is False:
                    return True
                continue
            if _follow(b, y.get("additionalProperties", True), ptr(yptr, "additionalProperties")) is not False:
                continue
            pats = y.get("patternProperties") or {}
            try:
                if not isinstance(pats, dict) or any(key_matches(q, r, yptr) for q in pats):
                    continue
            except SchemaError:
                continue
            return True
    return False


def _strings_disjoint(b, a, aptr, c, cptr) -> bool:
    """Whether the string constraints of ``a`` and ``c`` have disjoint languages (their automata intersect emptily)."""
    from corral.automata.operations import dfa_intersection

    keys = {"minLength", "maxLength", "pattern", "format", PATTERNS, NOT_PATTERN}
    sa, sc = ({k: v for k, v in n.items() if k in keys} for n in (a, c))
    if not sa or not sc:
        return False
    try:
        ca, cc = string_content(b, sa, aptr), string_content(b, sc, cptr)
        if ca is None or cc is None:
            return True
        return not dfa_intersection(content_dfa(ca), content_dfa(cc)).accepting.any()
    except (SchemaError, MemoryError, ValueError, RecursionError):
        return False


def _kinds_dnf(kinds, pointer: str):
    """A union of conjunctions of the instances of the given kinds (``int``/``frac`` together)."""
    types = [t for t in ("null", "boolean", "object", "array", "string") if t in kinds]
    if {"int", "frac"} <= set(kinds):
        types.append("number")
    return [[({"type": types}, pointer)]] if types else []


def _one_of_plan(b, alts, ptrs):
    """(kinds that two alternatives accept entirely, {(i, j): kinds where i and j are not proven disjoint})."""
    univ = [_universal(b, a, p) for a, p in zip(alts, ptrs)]
    both = set()
    for i, j in itertools.combinations(range(len(alts)), 2):
        both |= univ[i] & univ[j]
    rest = {}
    for i, j in itertools.combinations(range(len(alts)), 2):
        r = _overlap(b, alts[i], ptrs[i], alts[j], ptrs[j]) - both
        if r & {"int", "frac"}:
            r |= {"int", "frac"} - both
        if r:
            rest[(i, j)] = r
    return both, rest


def _not_disjoint(ptrs, rest, optr: str, exc: SchemaError | None = None):
    i, j = next(iter(rest))
    why = f" (and the exact rewrite failed: {exc.message})" if exc is not None else ""
    return SchemaError(f"oneOf alternatives {ptrs[i]} and {ptrs[j]} are not provably disjoint{why}",
                       pointer=optr, keyword="oneOf", kind="unsupported")


def one_of(b, node, pointer: str, key: str, seen):
    """``oneOf`` of ``node`` as a union of conjunctions, exactly: the factor list of the ``oneOf`` expander (see
    :data:`~corral.compile.json_schema.logic.EXPANDERS`).

    Kinds that two alternatives accept entirely are excluded (two alternatives match). Every other pair of
    alternatives is proven disjoint (:func:`_overlap`); alternative ``i`` is conjoined with the negation of each
    alternative it may overlap, i.e. ``oneOf [A, B]`` is ``(A ∧ ¬B) ∨ (B ∧ ¬A)`` where needed.
    """
    alts, ptrs = alternatives(b, node, pointer, key)
    optr = b.kp(node, pointer, key)
    both, rest = _one_of_plan(b, alts, ptrs)
    try:
        out = []
        for i, (s, p) in enumerate(zip(alts, ptrs)):
            need = [j for j in range(len(alts)) if (min(i, j), max(i, j)) in rest]
            pieces = [b.expand(s, p, seen)] + [checked_negation(b.negate(alts[j], ptrs[j], seen), ptrs[j])
                                               for j in need]
            out += conjoin(pieces, optr, "oneOf")
            if len(out) > MAX_ALTERNATIVES:
                raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives", pointer=optr, keyword="oneOf",
                                  kind="unsupported")
        if both:
            out = conjoin([_kinds_dnf(EVERY_KIND - both, optr), out], optr, "oneOf")
        return [out]
    except SchemaError as exc:
        if exc.kind != "unsupported" or not rest:
            raise
        raise _not_disjoint(ptrs, rest, optr, exc) from None


def not_one_of(b, key, value, optr: str, seen, node, pointer):
    """``not oneOf``: no alternative matches, or two do (the ``oneOf`` negator, see
    :data:`~corral.compile.json_schema.logic.NEGATORS`)."""
    alts, ptrs = value, [ptr(optr, i) for i in range(len(value))]
    both, rest = _one_of_plan(b, alts, ptrs)
    try:
        out = conjoin([checked_negation(b.negate(s, p, seen), p) for s, p in zip(alts, ptrs)], optr, "oneOf")
        out += _kinds_dnf(both, optr)
        for i, j in rest:
            out += conjoin([b.expand(alts[i], ptrs[i], seen), b.expand(alts[j], ptrs[j], seen)], optr, "oneOf")
        return out
    except SchemaError as exc:
        if exc.kind != "unsupported" or not rest:
            raise
        raise _not_disjoint(ptrs, rest, optr, exc) from None
