"""Applicators of the JSON Schema compiler: unions of conjunctions, exact negation, merging, ``oneOf`` disjointness.

:meth:`LogicMixin.expand` rewrites a schema into a union of conjunctions of applicator-free schemas ("atoms"):
``allOf`` and ``$ref`` beside other keywords conjoin, ``anyOf`` (and a provably disjoint ``oneOf``) unite,
``not`` negates exactly (:meth:`LogicMixin.negate`), ``if``/``then``/``else`` is ``(if ∧ then) ∨ (¬if ∧ else)``
and ``dependentSchemas`` is ``(a absent) ∨ (a present ∧ schema)``. :meth:`LogicMixin.merge` turns one conjunction
into one schema when that is exact.
"""

from __future__ import annotations

import json
import math
import re

from corral.errors import SchemaError
from corral.compile.json_schema.dnf import COMBINATORS, MAX_ALTERNATIVES, Sub
from corral.compile.json_schema.oneof import OneOfMixin
from corral.compile.json_schema.vocab import (INTERNAL, MAX_OF, MIN_OF, NON_INTEGER, NOT_ENUM, NOT_MULTIPLE, NOT_PATTERN,
                                              PATTERNS, SUPPORTED, TYPES, dump, is_annotation, ptr)

__all__ = ["LogicMixin"]

_NEGATED_BOUND = {"minLength": ("string", "maxLength", -1), "maxLength": ("string", "minLength", 1),
                  "minItems": ("array", "maxItems", -1), "maxItems": ("array", "minItems", 1),
                  "minProperties": ("object", "maxProperties", -1), "maxProperties": ("object", "minProperties", 1),
                  "minimum": ("number", "exclusiveMaximum", 0), "exclusiveMinimum": ("number", "maximum", 0),
                  "maximum": ("number", "exclusiveMinimum", 0), "exclusiveMaximum": ("number", "minimum", 0)}


def _types_of(value, pointer: str) -> set[str]:
    ts = [value] if isinstance(value, str) else value
    if not isinstance(ts, list) or not ts or not all(isinstance(t, str) and t in TYPES for t in ts):
        raise SchemaError(f"invalid type {value!r}", pointer=pointer, keyword="type")
    out = set(ts)
    return out | ({"integer"} if "number" in out else set())


class LogicMixin(OneOfMixin):
    """Union-of-conjunctions rewriting, negation and merging."""

    @staticmethod
    def is_atom(node) -> bool:
        """Whether ``node`` has no applicator keyword (it compiles directly, type by type)."""
        return isinstance(node, dict) and not any(k in COMBINATORS for k in node)

    # -------------------------------------------------------------- unions of conjunctions

    def _and(self, dnfs, pointer: str, keyword: str):
        out = [[]]
        for d in dnfs:
            out = [a + b for a in out for b in d]
            if len(out) > MAX_ALTERNATIVES:
                raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives after distributing the applicators",
                                  pointer=pointer, keyword=keyword, kind="unsupported")
        return out

    def _piece(self, node: dict, pointer: str, keys) -> tuple[dict, str]:
        part = {k: node[k] for k in keys}
        if id(node) in self._origin or id(node) in self._prop_ptrs:
            self._origin[id(part)] = dict(self._origin.get(id(node), {}))
            if id(node) in self._prop_ptrs:
                self._prop_ptrs[id(part)] = self._prop_ptrs[id(node)]
            self._keep.append(part)
        return part, pointer

    def expand(self, node, pointer: str, seen: frozenset = frozenset()):
        """The union of conjunctions (a list of lists of ``(atom, pointer)``) equivalent to ``node``."""
        if node is True:
            return [[]]
        if node is False:
            return []
        if isinstance(node, Sub):
            if node.kind == "all":
                return self._and([self.expand(n, p, seen) for n, p in node.parts], pointer, "allOf")
            if node.kind == "any":
                return [c for n, p in node.parts for c in self.expand(n, p, seen)]
            n, p = node.parts[0]
            return self.negate(n, p, seen)
        if not isinstance(node, dict):
            raise SchemaError("a schema must be an object or a boolean", pointer=pointer)
        self._check_keywords(node, pointer)
        seen = seen | {pointer}
        kp = lambda k, *rest: self._kp(node, pointer, k, *rest)  # noqa: E731
        if "$ref" in node and self._ignores_ref_siblings():
            target, tptr = self.resolve(node["$ref"], kp("$ref"), pointer)
            return self._expand_ref(target, tptr, seen, kp("$ref"))
        base_keys = [k for k in node if k not in COMBINATORS]
        deps = node.get("dependencies")
        if isinstance(deps, dict):
            arrays = {a: v for a, v in deps.items() if isinstance(v, list)}
            if arrays:
                base_keys.append("dependentRequired")
        base, _ = self._piece({**node, "dependentRequired": {**node.get("dependentRequired", {}),
                                                            **(arrays if isinstance(deps, dict) else {})}}
                              if isinstance(deps, dict) and arrays else node, pointer, base_keys)
        if isinstance(deps, dict) and arrays:
            self._origin.setdefault(id(base), {})["dependentRequired"] = pointer
            self._keep.append(base)
        factors = [[[(base, pointer)]]]
        if "$ref" in node:
            target, tptr = self.resolve(node["$ref"], kp("$ref"), pointer)
            factors.append(self._expand_ref(target, tptr, seen, kp("$ref")))
        for key in ("allOf", "anyOf", "oneOf"):
            if key not in node:
                continue
            alts = node[key]
            if not isinstance(alts, list) or not alts:
                raise SchemaError(f"{key} must be a non-empty array", pointer=kp(key), keyword=key)
            ptrs = [kp(key, i) for i in range(len(alts))]
            if key == "allOf":
                factors += [self.expand(s, p, seen) for s, p in zip(alts, ptrs)]
                continue
            if key == "oneOf":
                factors.append(self._one_of(alts, ptrs, seen, kp(key)))
                continue
            factors.append([c for s, p in zip(alts, ptrs) for c in self.expand(s, p, seen)])
        if "not" in node:
            factors.append(self.negate(node["not"], kp("not"), seen))
        if "if" in node:
            i_s, ip = node["if"], kp("if")
            t_s, tp = node.get("then", True), kp("then")
            e_s, ep = node.get("else", True), kp("else")
            if not (t_s is True and e_s is True):
                yes = self._and([self.expand(i_s, ip, seen), self.expand(t_s, tp, seen)], ip, "if")
                no = self._and([self.negate(i_s, ip, seen), self.expand(e_s, ep, seen)], ip, "if")
                factors.append(yes + no)
        for key in ("dependentSchemas", "dependencies"):
            value = node.get(key)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise SchemaError(f"{key} must be an object", pointer=kp(key), keyword=key)
            for a, s in value.items():
                if isinstance(s, list):
                    continue
                sp = kp(key, a)
                absent = [[({"properties": {a: False}}, sp)]]
                present = self._and([[[({"required": [a]}, sp)]], self.expand(s, sp, seen)], sp, key)
                factors.append(absent + present)
        return self._and(factors, pointer, next((k for k in node if k in COMBINATORS), "allOf"))

    def _expand_ref(self, target, tptr: str, seen, where: str):
        if tptr in seen:
            raise SchemaError("a $ref cycle without an intervening object or array is not supported",
                              pointer=where, keyword="$ref", kind="unsupported")
        return self.expand(target, tptr, seen)

    # -------------------------------------------------------------- negation

    def negate(self, node, pointer: str, seen: frozenset = frozenset()):
        """The union of conjunctions equivalent to ``not node`` (unsupported where that is not exact)."""
        if node is True:
            return []
        if node is False:
            return [[]]
        if isinstance(node, Sub):
            if node.kind == "all":
                return [c for n, p in node.parts for c in self.negate(n, p, seen)]
            if node.kind == "any":
                return self._and([self.negate(n, p, seen) for n, p in node.parts], pointer, "not")
            n, p = node.parts[0]
            return self.expand(n, p, seen)
        if not isinstance(node, dict):
            raise SchemaError("a schema must be an object or a boolean", pointer=pointer)
        self._check_keywords(node, pointer)
        if pointer in seen:
            raise SchemaError("negating a recursive schema is not supported", pointer=pointer, keyword="not",
                              kind="unsupported")
        seen = seen | {pointer}
        out = []
        if "$ref" in node and self._ignores_ref_siblings():
            target, tptr = self.resolve(node["$ref"], self._kp(node, pointer, "$ref"), pointer)
            return self.negate(target, tptr, seen)
        for key, value in node.items():
            if is_annotation(key) or key in ("then", "else"):
                continue
            kp = self._kp(node, pointer, key)

            def atom(d):
                out.append([(d, kp)])

            if key == "type":
                ts = _types_of(value, kp)
                comp = [t for t in TYPES if t not in ts and t not in ("integer", "number")]
                if "number" not in ts:
                    if "integer" in ts:
                        atom({"type": "number", NON_INTEGER: True})
                    else:
                        comp.append("number")
                if comp:
                    atom({"type": comp})
            elif key == "enum":
                if not isinstance(value, list):
                    raise SchemaError("enum must be an array", pointer=kp, keyword="enum")
                atom({NOT_ENUM: list(value)})
            elif key == "const":
                atom({NOT_ENUM: [value]})
            elif key in _NEGATED_BOUND:
                t, other, delta = _NEGATED_BOUND[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise SchemaError(f"{key} must be a number", pointer=kp, keyword=key)
                if delta >= 0 or value + delta >= 0:
                    atom({"type": t, other: value + delta})
            elif key == "multipleOf" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
                atom({"type": "number", NOT_MULTIPLE: [value]})
            elif key == NOT_MULTIPLE:
                for k in value:
                    atom({"type": "number", "multipleOf": k})
            elif key == "pattern":
                atom({"type": "string", NOT_PATTERN: [value]})
            elif key == NOT_PATTERN:
                for p in value:
                    atom({"type": "string", "pattern": p})
            elif key == "required":
                if not isinstance(value, list):
                    raise SchemaError("required must be an array", pointer=kp, keyword=key)
                for a in value:
                    atom({"type": "object", "properties": {a: False}})
            elif key == "properties":
                if not isinstance(value, dict):
                    raise SchemaError("properties must be an object", pointer=kp, keyword=key)
                for p, s in value.items():
                    neg = self.negate(s, ptr(kp, p), seen)
                    if neg:
                        sub = Sub("any", [(Sub("all", conj), ptr(kp, p)) for conj in neg])
                        atom({"type": "object", "properties": {p: sub}, "required": [p]})
            elif key == "uniqueItems" and value is False:
                continue
            elif key == "allOf":
                out += [c for i, s in enumerate(value) for c in self.negate(s, ptr(kp, i), seen)]
            elif key == "anyOf":
                out += self._and([self.negate(s, ptr(kp, i), seen) for i, s in enumerate(value)], kp, key)
            elif key == "oneOf":
                out += self._not_one_of(value, [ptr(kp, i) for i in range(len(value))], seen, kp)
            elif key == "not":
                out += self.expand(value, kp, seen)
            elif key == "$ref":
                target, tptr = self.resolve(value, kp, pointer)
                out += self.negate(target, tptr, seen)
            elif key == "if":
                i_s, t_s, e_s = value, node.get("then", True), node.get("else", True)
                tp, ep = self._kp(node, pointer, "then"), self._kp(node, pointer, "else")
                out += self._and([self.expand(i_s, kp, seen), self.negate(t_s, tp, seen)], kp, "if")
                out += self._and([self.negate(i_s, kp, seen), self.negate(e_s, ep, seen)], kp, "if")
            else:
                raise SchemaError(f"the negation of {key!r} is not supported", pointer=kp,
                                  keyword=key if isinstance(key, str) else "not", kind="unsupported")
            if len(out) > MAX_ALTERNATIVES:
                raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives in a negation", pointer=kp,
                                  keyword="not", kind="unsupported")
        return out

    # -------------------------------------------------------------- merging one conjunction

    def merge(self, parts, pointer: str):
        """Merge located atoms into one schema, if that is exact (unsupported otherwise)."""
        if not parts:
            return {}
        if len(parts) == 1:
            return parts[0][0]
        aptr = pointer

        def refuse(why: str):
            raise SchemaError(f"allOf cannot be merged exactly: {why}", pointer=aptr, keyword="allOf",
                              kind="unsupported")

        merged: dict = {}
        origin: dict = {}
        type_sets = []
        props: dict[str, list] = {}
        owner = {}  # keyword -> index of the part it came from (for additionalProperties/items)
        item_vals = []  # schema-form items of every part (they conjoin when no part has positional items)
        plain_items = all(isinstance(sub, dict) and not any(k in sub for k in ("prefixItems", "additionalItems"))
                          and isinstance(sub.get("items", True), (dict, bool)) for sub, _ in parts)
        for index, (sub, sptr) in enumerate(parts):
            if not isinstance(sub, dict):
                raise SchemaError("a schema must be an object or a boolean", pointer=sptr)
            for key, value in sub.items():
                if is_annotation(key):
                    continue
                kptr = self._kp(sub, sptr, key)
                at = kptr.rsplit("/", 1)[0]
                if isinstance(key, str) and key not in SUPPORTED:
                    raise SchemaError(f"keyword {key!r} is not supported", pointer=kptr, keyword=key,
                                      kind="unsupported")
                if key == "type":
                    type_sets.append(_types_of(value, kptr))
                    origin[key] = at
                    continue
                if key == "properties":
                    if not isinstance(value, dict):
                        raise SchemaError("properties must be an object", pointer=kptr, keyword=key)
                    pp = self._prop_ptrs.get(id(sub), {})
                    for p, v in value.items():
                        props.setdefault(p, []).append((v, pp.get(p) or ptr(kptr, p), index))
                    continue
                if key in ("additionalProperties", "items") and (value is True or (
                        isinstance(value, dict) and all(is_annotation(k) for k in value))):
                    continue
                if key == "items" and plain_items:
                    item_vals.append((value, kptr))
                    continue
                if key == "uniqueItems" and value is False:
                    continue
                if key == "const":
                    key, value = "enum", [value]
                if key in INTERNAL or key == "pattern":
                    if key == "pattern":
                        if "pattern" not in merged:
                            merged["pattern"], origin["pattern"] = value, at
                            continue
                        key, value = PATTERNS, [value]
                    if key == NON_INTEGER:
                        merged[key] = True
                    else:
                        merged[key] = list(merged.get(key, [])) + list(value)
                    continue
                if key in ("additionalProperties", "items", "patternProperties", "prefixItems", "contains",
                           "propertyNames", "additionalItems"):
                    group = _GROUPS.get(key, (key,))
                    first = next(iter(owner.get(key, ())), None)
                    if first is not None and all(_same(parts[first][0].get(g), sub.get(g)) for g in group):
                        continue  # the same constraint twice (with the same companions): once is exact
                    owner.setdefault(key, set()).add(index)
                if key not in merged:
                    merged[key], origin[key] = value, at
                elif key in MAX_OF + MIN_OF:
                    better = max if key in MAX_OF else min
                    for v in (value, merged[key]):
                        if isinstance(v, bool) or not isinstance(v, (int, float)):
                            raise SchemaError(f"{key} must be a number", pointer=kptr, keyword=key)
                    if better(value, merged[key]) != merged[key]:
                        merged[key], origin[key] = value, at
                elif key == "required":
                    if not isinstance(value, list) or not isinstance(merged[key], list):
                        raise SchemaError("required must be an array", pointer=kptr, keyword=key)
                    merged[key] = list(dict.fromkeys(merged[key] + value))
                elif key == "enum":
                    if not isinstance(value, list) or not isinstance(merged[key], list):
                        raise SchemaError("enum must be an array", pointer=kptr, keyword=key)
                    mine = {dump(v, kptr, key) for v in value}
                    merged[key] = [v for v in merged[key] if dump(v, kptr, key) in mine]
                elif key == "multipleOf" and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                 for v in (value, merged[key])):
                    merged[key] = math.lcm(value, merged[key])  # a multiple of both integers: of their lcm
                elif key == "dependentRequired" and isinstance(value, dict) and isinstance(merged[key], dict):
                    out = dict(merged[key])
                    for a, bs in value.items():
                        out[a] = list(dict.fromkeys(list(out.get(a, [])) + list(bs)))
                    merged[key] = out
                elif dump(value, kptr, key) != dump(merged[key], origin[key], key):
                    refuse(f"{key!r} appears in two parts with different values")
        if item_vals:
            live = []
            for v, vp in item_vals:
                if not any(self._equal_schemas(v, vp, w, wp) for w, wp in live):
                    live.append((v, vp))
            merged["items"] = live[0][0] if len(live) == 1 else Sub("all", live)
            origin["items"] = live[0][1].rsplit("/", 1)[0]
        for rest, bases in (("additionalProperties", ("patternProperties",)), ("items", ("prefixItems",)),
                            ("additionalItems", ("items", "prefixItems")),
                            ("maxContains", ("contains",)), ("minContains", ("contains",))):
            owners = owner.get(rest, set())
            if len(owners) > 1 and not (rest == "additionalProperties" and self._same_additional(parts, owners)):
                refuse(f"{rest} in two parts")
            for b in bases:
                if owners and owner.get(b, set()) - owners:
                    refuse(f"{rest} together with {b} of another part")
        for key in ("prefixItems", "contains", "propertyNames", "patternProperties"):
            if len(owner.get(key, ())) > 1:
                refuse(f"{key} in two parts")
        if type_sets:
            allowed = set.intersection(*type_sets)
            if not allowed:
                raise SchemaError("the parts of allOf allow no common type", pointer=aptr, keyword="allOf",
                                  kind="unsatisfiable")
            merged["type"] = [t for t in TYPES if t in allowed]
        if "enum" in merged and not merged["enum"]:
            raise SchemaError("the parts of allOf allow no common value", pointer=aptr, keyword="allOf",
                              kind="unsatisfiable")
        if props:
            out, ptrs = {}, {}
            for p, vals in props.items():
                for add_owner in sorted(owner.get("additionalProperties", ())):
                    pats = parts[add_owner][0].get("patternProperties", {})
                    if all(i != add_owner for _, _, i in vals) and \
                            not any(self._key_matches(q, p, aptr) for q in pats):
                        sub0, sp0 = parts[add_owner]
                        vals = vals + [(sub0["additionalProperties"],
                                        self._kp(sub0, sp0, "additionalProperties"), add_owner)]
                live = []
                for v, vp, _ in vals:
                    if v is not True and not any(self._equal_schemas(v, vp, w, wp) for w, wp in live):
                        live.append((v, vp))
                if any(v is False for v, _ in live):
                    out[p], ptrs[p] = False, live[0][1]
                elif not live:
                    out[p], ptrs[p] = True, vals[0][1]
                elif len(live) == 1:
                    out[p], ptrs[p] = live[0]
                else:
                    out[p], ptrs[p] = Sub("all", live), live[0][1]
            merged["properties"] = out
            self._prop_ptrs[id(merged)] = ptrs
        self._keep.append(merged)
        self._origin[id(merged)] = origin
        return merged

    def _same_additional(self, parts, owners) -> bool:
        """Whether several parts' ``additionalProperties`` may merge: equal values and no ``patternProperties``.

        A key then gets, from each part, its ``properties`` schema there or else that part's
        ``additionalProperties``; keys no part declares get the common value (conjoined with itself).
        """
        subs = [(parts[i][0], parts[i][1]) for i in owners]
        (first, fptr), rest = subs[0], subs[1:]
        return all(not s.get("patternProperties") for s, _ in subs) and all(
            self._equal_schemas(first["additionalProperties"], self._kp(first, fptr, "additionalProperties"),
                                s["additionalProperties"], self._kp(s, sp, "additionalProperties"))
            for s, sp in rest)

    def _equal_schemas(self, a, aptr: str, b, bptr: str) -> bool:
        """Whether two located schemas are the same (equal plain JSON resolved against the same base URI)."""
        if a is b and aptr == bptr:
            return True
        if id(a) in self._origin or id(b) in self._origin or id(a) in self._prop_ptrs or id(b) in self._prop_ptrs:
            return False
        return _same(a, b) and self.base_for(aptr) == self.base_for(bptr)

    def _key_matches(self, pattern, name: str, pointer: str) -> bool:
        from corral.compile.json_schema import regexes as rx

        try:
            regex = rx.pattern_regex(pattern)
        except rx.PatternUnsupported as exc:
            raise SchemaError(f"pattern {pattern!r} cannot be compiled exactly: {exc}", pointer=pointer,
                              keyword="patternProperties", kind="unsupported") from None
        return re.fullmatch(regex, json.dumps(name, ensure_ascii=False)[1:-1]) is not None

    # -------------------------------------------------------------- enum filtering

    def instance_valid(self, rest: dict, pointer: str, value, node) -> bool:
        """Whether ``value`` satisfies the applicator-free keywords ``rest`` (compiler semantics)."""
        plain = _plain(rest)
        if plain is None:
            key = next(iter(rest))
            raise SchemaError(f"enum/const together with {key!r} is not supported",
                              pointer=self._kp(node, pointer, key) if isinstance(key, str) else pointer,
                              keyword=key if isinstance(key, str) else "enum", kind="unsupported")
        return _oracle(plain).is_valid(value)


def _same(x, y) -> bool:
    """Whether two plain JSON values are equal as text (False for anything else)."""
    try:
        return json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True)
    except (TypeError, ValueError):
        return False


_GROUPS = {k: ("items", "prefixItems", "additionalItems") for k in ("items", "prefixItems", "additionalItems")}
_GROUPS.update({k: ("properties", "patternProperties", "additionalProperties")
                for k in ("patternProperties", "additionalProperties")})
# ------------------------------------------------------------------ a validator with the compiler's semantics

def _plain(node):
    """``node`` as a plain JSON schema (internal keywords spelled with ``not``/``allOf``), None if it cannot be."""
    if isinstance(node, bool):
        return node
    if isinstance(node, Sub) or not isinstance(node, dict):
        return None
    out: dict = {}
    extra = []
    for k, v in node.items():
        if k == "$ref" or k == "$dynamicRef":
            return None
        if k == NOT_ENUM:
            extra.append({"not": {"enum": v}})
        elif k == NOT_PATTERN:
            extra += [{"not": {"pattern": p}} for p in v]
        elif k == PATTERNS:
            extra += [{"pattern": p} for p in v]
        elif k == NON_INTEGER:
            extra.append({"not": {"type": "integer"}})
        elif k == NOT_MULTIPLE:
            extra += [{"not": {"multipleOf": m}} for m in v]
        elif k in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
            if not isinstance(v, dict):
                return None
            sub = {}
            for name, s in v.items():
                p = _plain(s)
                if p is None:
                    return None
                sub[name] = p
            out[k] = sub
        elif k in ("items", "additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if",
                   "then", "else") and not isinstance(v, list):
            p = _plain(v)
            if p is None:
                return None
            out[k] = p
        elif k in ("allOf", "anyOf", "oneOf", "prefixItems", "items"):
            ps = [_plain(s) for s in v] if isinstance(v, list) else None
            if ps is None or any(p is None for p in ps):
                return None
            out[k] = ps
        elif isinstance(k, str):
            out[k] = v
        else:
            return None
    if extra:
        out = {**out, "allOf": list(out.get("allOf", [])) + extra}
    return out


_ORACLE = None


def _oracle(schema):
    global _ORACLE
    if _ORACLE is None:
        import jsonschema
        from jsonschema import validators
        from corral.compile.json_schema import formats as fmt, regexes as rx

        def _d(x):
            return json.dumps(x, separators=(",", ":"), ensure_ascii=False)

        def const(validator, c, instance, schema):
            if _d(instance) != _d(c):
                yield jsonschema.ValidationError("const")

        def enum(validator, es, instance, schema):
            if _d(instance) not in {_d(e) for e in es}:
                yield jsonschema.ValidationError("enum")

        def pattern(validator, p, instance, schema):
            if isinstance(instance, str) and not re.fullmatch(rx.pattern_regex(p), _d(instance)[1:-1]):
                yield jsonschema.ValidationError("pattern")

        def format_(validator, name, instance, schema):
            if isinstance(instance, str):
                regex = fmt.format_regex(name, rx.UNIT)
                if regex is None or not re.fullmatch(regex, _d(instance)[1:-1]):
                    yield jsonschema.ValidationError("format")

        checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
            "integer", lambda c, x: isinstance(x, int) and not isinstance(x, bool))
        _ORACLE = validators.extend(jsonschema.Draft202012Validator,
                                    {"const": const, "enum": enum, "pattern": pattern, "format": format_},
                                    type_checker=checker)
    return _ORACLE(schema)
