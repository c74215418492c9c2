"""``oneOf`` in the JSON Schema compiler: proofs that alternatives are disjoint (kind by kind) and the exact
``(A ∧ ¬B) ∨ (B ∧ ¬A)`` fallback, as a mixin of :class:`~corral.compile.json_schema.logic.LogicMixin`."""

from __future__ import annotations

import itertools
import json

from corral.compile.json_schema.dnf import (COMBINATORS, EVERY_KIND, MAX_ALTERNATIVES, RESTRICTS, checked_negation,
                                            count_range, disjoint_ranges, number_range)
from corral.errors import SchemaError
from corral.compile.json_schema.vocab import NOT_PATTERN, PATTERNS, is_annotation, ptr, type_of

__all__ = ["OneOfMixin"]


class OneOfMixin:
    """Disjointness of ``oneOf`` alternatives and the exact compilation of ``oneOf`` / ``not oneOf``."""


    def _follow(self, node, pointer: str):
        """Follow a chain of bare ``$ref`` schemas (for the disjointness check)."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node and pointer not in seen:
            seen.add(pointer)
            node, pointer = self.resolve(node["$ref"], ptr(pointer, "$ref"), pointer)
        return node

    @staticmethod
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

    @staticmethod
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

    def _exact(self, node, pointer: str):
        """Follow bare ``$ref`` chains only where the referring schema equals its target (None: a cycle)."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            if not (self._ignores_ref_siblings() or all(is_annotation(k) for k in node if k != "$ref")):
                break
            if pointer in seen:
                return None
            seen.add(pointer)
            node, pointer = self.resolve(node["$ref"], ptr(pointer, "$ref"), pointer)
        return node

    def _universal(self, node, pointer: str) -> set[str]:
        """Kinds (see :meth:`_kinds`) all of whose instances ``node`` accepts (a subset of the true set).

        ``int`` and ``frac`` are reported together or not at all (integral floats are integers for jsonschema and
        not for the compiler, so the two are never told apart here).
        """
        node = self._exact(node, pointer)
        if node is True:
            return set(EVERY_KIND)
        if not isinstance(node, dict) or "enum" in node or "const" in node:
            return set()
        if any(k in COMBINATORS or k == "$dynamicRef" for k in node):
            return set()
        kinds = self._kinds(node)
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

    def _overlap(self, a, aptr: str, b, bptr: str, depth: int = 0) -> set[str]:
        """Kinds on which ``a`` and ``b`` may share an instance (every other kind is proven disjoint)."""
        a, b = self._follow(a, aptr), self._follow(b, bptr)
        if a is False or b is False:
            return set()
        common = self._kinds(a) & self._kinds(b)
        if not common or not (isinstance(a, dict) and isinstance(b, dict)):
            return common
        va, vb = self._values(a), self._values(b)
        if va is not None and vb is not None and not (va & vb):
            return set()
        if "object" in common and self._objects_disjoint(a, aptr, b, bptr, depth):
            common.discard("object")
        if "array" in common and disjoint_ranges(count_range(a, "minItems", "maxItems"),
                                                  count_range(b, "minItems", "maxItems")):
            common.discard("array")
        if common & {"int", "frac"} and disjoint_ranges(number_range(a), number_range(b)):
            common -= {"int", "frac"}
        if "string" in common and self._strings_disjoint(a, aptr, b, bptr):
            common.discard("string")
        if depth < 4:  # a schema implies each of its allOf parts
            for x, xptr, y, yptr, swap in ((a, aptr, b, bptr, False), (b, bptr, a, aptr, True)):
                subs = x.get("allOf")
                if isinstance(subs, list):
                    for i, sub in enumerate(subs):
                        if not common:
                            return common
                        sp = ptr(xptr, "allOf", i)
                        common &= self._overlap(y, yptr, sub, sp, depth + 1) if swap else \
                            self._overlap(sub, sp, y, yptr, depth + 1)
        return common

    def _objects_disjoint(self, a, aptr, b, bptr, depth: int) -> bool:
        ra, rb = a.get("required", []), b.get("required", [])
        pa, pb = a.get("properties", {}), b.get("properties", {})
        if not (isinstance(ra, list) and isinstance(rb, list) and isinstance(pa, dict) and isinstance(pb, dict)):
            return False
        if disjoint_ranges(count_range(a, "minProperties", "maxProperties", len(set(ra))),
                            count_range(b, "minProperties", "maxProperties", len(set(rb)))):
            return True
        if depth < 4:
            for p in set(ra) & set(rb):
                if isinstance(p, str) and p in pa and p in pb and \
                        not self._overlap(pa[p], ptr(aptr, "properties", p), pb[p], ptr(bptr, "properties", p),
                                          depth + 1):
                    return True
        # a property required by one and forbidden by the other
        for x, xptr, y, yptr in ((a, aptr, b, bptr), (b, bptr, a, aptr)):
            py = y.get("properties", {})
            for r in x.get("required", []):
                if not isinstance(r, str):
                    continue
                if r in py:
                    if self._follow(py[r], ptr(yptr, "properties", r)) is False:
                        return True
                    continue
                if self._follow(y.get("additionalProperties", True), ptr(yptr, "additionalProperties")) is not False:
                    continue
                pats = y.get("patternProperties") or {}
                try:
                    if not isinstance(pats, dict) or any(self._key_matches(q, r, yptr) for q in pats):
                        continue
                except SchemaError:
                    continue
                return True
        return False

    def _strings_disjoint(self, a, aptr, b, bptr) -> bool:
        from corral.compile.json_schema.scalars import content_dfa
        from corral.automata.operations import dfa_intersection

        keys = {"minLength", "maxLength", "pattern", "format", PATTERNS, NOT_PATTERN}
        sa, sb = ({k: v for k, v in n.items() if k in keys} for n in (a, b))
        if not sa or not sb:
            return False
        try:
            ca, cb = self.string_content(sa, aptr), self.string_content(sb, bptr)
            if ca is None or cb is None:
                return True
            return not dfa_intersection(content_dfa(ca), content_dfa(cb)).accepting.any()
        except (SchemaError, MemoryError, ValueError, RecursionError):
            return False

    def _kinds_dnf(self, kinds, pointer: str):
        """A union of conjunctions of the instances of the given kinds (``int``/``frac`` together)."""
        types = [t for t in ("null", "boolean", "object", "array", "string") if t in kinds]
        if {"int", "frac"} <= set(kinds):
            types.append("number")
        return [[({"type": types}, pointer)]] if types else []

    def _one_of_plan(self, alts, ptrs):
        """(kinds that two alternatives accept entirely, {(i, j): kinds where i and j are not proven disjoint})."""
        univ = [self._universal(a, p) for a, p in zip(alts, ptrs)]
        both = set()
        for i, j in itertools.combinations(range(len(alts)), 2):
            both |= univ[i] & univ[j]
        rest = {}
        for i, j in itertools.combinations(range(len(alts)), 2):
            r = self._overlap(alts[i], ptrs[i], alts[j], ptrs[j]) - both
            if r & {"int", "frac"}:
                r |= {"int", "frac"} - both
            if r:
                rest[(i, j)] = r
        return both, rest

    def _not_disjoint(self, ptrs, rest, optr: str, exc: SchemaError | None = None):
        i, j = next(iter(rest))
        why = f" (and the exact rewrite failed: {exc.message})" if exc is not None else ""
        return SchemaError(f"oneOf alternatives {ptrs[i]} and {ptrs[j]} are not provably disjoint{why}",
                           pointer=optr, keyword="oneOf", kind="unsupported")

    def _one_of(self, alts, ptrs, seen, optr: str):
        """``oneOf`` as a union of conjunctions, exactly.

        Kinds that two alternatives accept entirely are excluded (two alternatives match). Every other pair of
        alternatives is proven disjoint (:meth:`_overlap`); alternative ``i`` is conjoined with the negation of each
        alternative it may overlap, i.e. ``oneOf [A, B]`` is ``(A ∧ ¬B) ∨ (B ∧ ¬A)`` where needed.
        """
        both, rest = self._one_of_plan(alts, ptrs)
        try:
            out = []
            for i, (s, p) in enumerate(zip(alts, ptrs)):
                need = [j for j in range(len(alts)) if (min(i, j), max(i, j)) in rest]
                pieces = [self.expand(s, p, seen)] + [checked_negation(self.negate(alts[j], ptrs[j], seen), ptrs[j])
                                                      for j in need]
                out += self._and(pieces, optr, "oneOf")
                if len(out) > MAX_ALTERNATIVES:
                    raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives", pointer=optr, keyword="oneOf",
                                      kind="unsupported")
            if both:
                out = self._and([self._kinds_dnf(EVERY_KIND - both, optr), out], optr, "oneOf")
            return out
        except SchemaError as exc:
            if exc.kind != "unsupported" or not rest:
                raise
            raise self._not_disjoint(ptrs, rest, optr, exc) from None

    def _not_one_of(self, alts, ptrs, seen, optr: str):
        """``not oneOf``: no alternative matches, or two do."""
        both, rest = self._one_of_plan(alts, ptrs)
        try:
            out = self._and([checked_negation(self.negate(s, p, seen), p) for s, p in zip(alts, ptrs)], optr, "oneOf")
            out += self._kinds_dnf(both, optr)
            for i, j in rest:
                out += self._and([self.expand(alts[i], ptrs[i], seen), self.expand(alts[j], ptrs[j], seen)],
                                 optr, "oneOf")
            return out
        except SchemaError as exc:
            if exc.kind != "unsupported" or not rest:
                raise
            raise self._not_disjoint(ptrs, rest, optr, exc) from None
