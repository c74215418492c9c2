"""Merging one conjunction of the JSON Schema compiler (the parts of an ``allOf``) into one schema, where that is
exact: one small merger per keyword (:data:`MERGERS`), then the checks across keywords (:data:`FINISHERS`).

Types intersect, bounds take the tightest value, ``required`` and ``dependentRequired`` unite, ``enum``/``const``
intersect, integer ``multipleOf`` values take their lcm, property schemas conjoin, patterns accumulate,
``items`` schemas conjoin when no part has positional items, ``patternProperties`` unite, ``propertyNames``
conjoin, ``additionalProperties`` conjoin where that is exact beside the other parts' patterns
(:func:`_finish_objects`), ``items``/``contains`` only together with the ``prefixItems`` of their own part and
``minContains``/``maxContains`` with their part's ``contains``; any other keyword must be equal in every part that
has it; otherwise the conjunction is unsupported.
"""

from __future__ import annotations

import json
import math

from corral.compile.json_schema.dnf import Sub
from corral.compile.json_schema.strings import key_matches
from corral.compile.json_schema.vocab import (INTERNAL, MAX_OF, MIN_OF, NON_INTEGER, PATTERNS, SUPPORTED, TYPES, dump,
                                              is_annotation, ptr, type_set)
from corral.errors import SchemaError

__all__ = ["merge", "MERGERS", "FINISHERS"]


class _Merge:
    """The merge of one conjunction in progress: the merged keywords, where each came from, and what the
    :data:`FINISHERS` check across keywords."""

    def __init__(self, b, parts, pointer: str) -> None:
        self.b, self.parts, self.pointer = b, parts, pointer
        self.merged: dict = {}
        self.origin: dict = {}  # keyword -> pointer of the schema it came from
        self.type_sets: list[set[str]] = []
        self.props: dict[str, list] = {}  # name -> [(schema, pointer, part index)]
        self.owner: dict = {}  # keyword -> indices of the parts it came from (for additionalProperties/items)
        self.item_vals: list = []  # schema-form items of every part (they conjoin when no part has positional items)
        self.plain_items = all(isinstance(sub, dict) and "prefixItems" not in sub
                               and isinstance(sub.get("items", True), (dict, bool, Sub)) for sub, _ in parts)
        self.objects: dict[int, dict] = {}  # part -> patternProperties/additionalProperties/propertyNames
        # the part being read: its index, the schema and the pointer of the keyword
        self.index, self.sub, self.kptr = 0, None, ""

    @property
    def at(self) -> str:
        """Pointer of the schema holding the keyword being read."""
        return self.kptr.rsplit("/", 1)[0]

    def refuse(self, why: str):
        """Raise: the conjunction cannot be merged exactly."""
        raise SchemaError(f"allOf cannot be merged exactly: {why}", pointer=self.pointer, keyword="allOf",
                          kind="unsupported")


def merge(b, parts, pointer: str):
    """Merge located atoms into one schema, if that is exact (unsupported otherwise)."""
    if not parts:
        return {}
    if len(parts) == 1:
        return parts[0][0]
    m = _Merge(b, parts, pointer)
    for index, (sub, sptr) in enumerate(parts):
        if not isinstance(sub, dict):
            raise SchemaError("a schema must be an object or a boolean", pointer=sptr)
        m.index, m.sub = index, sub
        for key, value in sub.items():
            if is_annotation(key):
                continue
            m.kptr = b.kp(sub, sptr, key)
            if isinstance(key, str) and key not in SUPPORTED:
                raise SchemaError(f"keyword {key!r} is not supported", pointer=m.kptr, keyword=key, kind="unsupported")
            MERGERS.get(key, _merge_equal)(m, key, value)
    for finish in FINISHERS:
        finish(m)
    b.keep.append(m.merged)
    b.origin[id(m.merged)] = m.origin
    return m.merged


def merge_or_false(b, parts, pointer: str):
    """:func:`merge`, or ``False`` (the schema no value satisfies) when the parts contradict each other."""
    try:
        return merge(b, parts, pointer)
    except SchemaError as exc:
        if exc.kind == "unsatisfiable":
            return False
        raise


# ------------------------------------------------------------------ one merger per keyword

def _first(m: _Merge, key, value) -> bool:
    """Store the first value of ``key``; whether there was none before."""
    if key in m.merged:
        return False
    m.merged[key], m.origin[key] = value, m.at
    return True


def _merge_equal(m: _Merge, key, value) -> None:
    """Any keyword: the same value in every part (a synthetic value, from a negation, only the same object)."""
    if _first(m, key, value) or value is m.merged[key]:
        return
    if _synthetic(value) or _synthetic(m.merged[key]) or \
            dump(value, m.kptr, key) != dump(m.merged[key], m.origin[key], key):
        m.refuse(f"{key!r} appears in two parts with different values")


def _synthetic(value) -> bool:
    """Whether ``value`` is or holds a synthetic schema (:class:`~corral.compile.json_schema.dnf.Sub`)."""
    if isinstance(value, Sub):
        return True
    if isinstance(value, list):
        return any(_synthetic(v) for v in value)
    if isinstance(value, dict):
        return any(_synthetic(v) for v in value.values())
    return False


def _merge_type(m: _Merge, key, value) -> None:
    m.type_sets.append(type_set(value, m.kptr))
    m.origin[key] = m.at


def _merge_properties(m: _Merge, key, value) -> None:
    if not isinstance(value, dict):
        raise SchemaError("properties must be an object", pointer=m.kptr, keyword=key)
    pp = m.b.prop_ptrs.get(id(m.sub), {})
    for p, v in value.items():
        m.props.setdefault(p, []).append((v, pp.get(p) or ptr(m.kptr, p), m.index))


def _trivial(value) -> bool:
    return value is True or (isinstance(value, dict) and all(is_annotation(k) for k in value))


_GROUPS = {k: ("items", "prefixItems", "additionalItems") for k in ("items", "prefixItems", "additionalItems")}


def _merge_owned(m: _Merge, key, value) -> None:
    """A keyword that applies relative to its part's companions (``items`` after the part's ``prefixItems``...):
    kept once when the same with the same companions, else recorded as owned by its part."""
    first = next(iter(m.owner.get(key, ())), None)
    if first is not None and all(_same(m.parts[first][0].get(g), m.sub.get(g)) for g in _GROUPS.get(key, (key,))):
        return  # the same constraint twice (with the same companions): once is exact
    m.owner.setdefault(key, set()).add(m.index)
    _merge_equal(m, key, value)


def _collect_object(m: _Merge, key, value) -> None:
    """``patternProperties``, ``additionalProperties``, ``propertyNames``: kept per part, merged together by
    :func:`_finish_objects`."""
    if key == "patternProperties" and not isinstance(value, dict):
        raise SchemaError("patternProperties must be an object", pointer=m.kptr, keyword=key)
    m.objects.setdefault(m.index, {})[key] = (value, m.kptr)


def _merge_items(m: _Merge, key, value) -> None:
    if _trivial(value):
        return
    if m.plain_items:
        m.item_vals.append((value, m.kptr))
        return
    _merge_owned(m, key, value)


def _merge_additional_items(m: _Merge, key, value) -> None:
    """``additionalItems``: only beside array-form ``items`` (draft-07); otherwise it constrains nothing."""
    if isinstance(m.sub.get("items"), list):
        _merge_owned(m, key, value)


def _merge_unique_items(m: _Merge, key, value) -> None:
    if value is not False:
        _merge_equal(m, key, value)


def _merge_enum(m: _Merge, key, value) -> None:
    if _first(m, "enum", value):
        return
    if not isinstance(value, list) or not isinstance(m.merged["enum"], list):
        raise SchemaError("enum must be an array", pointer=m.kptr, keyword="enum")
    mine = {dump(v, m.kptr, "enum") for v in value}
    m.merged["enum"] = [v for v in m.merged["enum"] if dump(v, m.kptr, "enum") in mine]


def _merge_pattern(m: _Merge, key, value) -> None:
    if not _first(m, key, value):
        _merge_list(m, PATTERNS, [value])


def _merge_list(m: _Merge, key, value) -> None:
    """An internal list keyword (negated values, patterns, ...): the lists concatenate."""
    m.merged[key] = list(m.merged.get(key, [])) + list(value)


def _merge_non_integer(m: _Merge, key, value) -> None:
    m.merged[key] = True


def _merge_bound(m: _Merge, key, value) -> None:
    """A lower bound takes the largest value, an upper bound the smallest."""
    if _first(m, key, value):
        return
    for v in (value, m.merged[key]):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SchemaError(f"{key} must be a number", pointer=m.kptr, keyword=key)
    better = max if key in MAX_OF else min
    if better(value, m.merged[key]) != m.merged[key]:
        m.merged[key], m.origin[key] = value, m.at


def _merge_required(m: _Merge, key, value) -> None:
    if _first(m, key, value):
        return
    if not isinstance(value, list) or not isinstance(m.merged[key], list):
        raise SchemaError("required must be an array", pointer=m.kptr, keyword=key)
    m.merged[key] = list(dict.fromkeys(m.merged[key] + value))


def _merge_multiple_of(m: _Merge, key, value) -> None:
    if key in m.merged and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                               for v in (value, m.merged[key])):
        m.merged[key] = math.lcm(value, m.merged[key])  # a multiple of both integers: of their lcm
    else:
        _merge_equal(m, key, value)


def _merge_dependent_required(m: _Merge, key, value) -> None:
    if key in m.merged and isinstance(value, dict) and isinstance(m.merged[key], dict):
        out = dict(m.merged[key])
        for a, bs in value.items():
            out[a] = list(dict.fromkeys(list(out.get(a, [])) + list(bs)))
        m.merged[key] = out
    else:
        _merge_equal(m, key, value)


#: Keyword -> ``merger(m, keyword, value)`` folding one part's value into the merge ``m``; a keyword not listed must
#: be equal in every part (:func:`_merge_equal`).
MERGERS = {
    "type": _merge_type,
    "properties": _merge_properties,
    **dict.fromkeys(("additionalProperties", "patternProperties", "propertyNames"), _collect_object),
    "items": _merge_items,
    **dict.fromkeys(("prefixItems", "contains"), _merge_owned),
    "additionalItems": _merge_additional_items,
    "uniqueItems": _merge_unique_items,
    "enum": _merge_enum,
    "const": lambda m, key, value: _merge_enum(m, "enum", [value]),
    "pattern": _merge_pattern,
    **dict.fromkeys(INTERNAL - {NON_INTEGER}, _merge_list),
    NON_INTEGER: _merge_non_integer,
    **dict.fromkeys(MAX_OF + MIN_OF, _merge_bound),
    "required": _merge_required,
    "multipleOf": _merge_multiple_of,
    "dependentRequired": _merge_dependent_required,
}


# ------------------------------------------------------------------ checks across keywords

def _finish_items(m: _Merge) -> None:
    """Schema-form ``items`` of several parts conjoin."""
    if not m.item_vals:
        return
    live = []
    for v, vp in m.item_vals:
        if not any(_equal_schemas(m.b, v, vp, w, wp) for w, wp in live):
            live.append((v, vp))
    m.merged["items"] = live[0][0] if len(live) == 1 else Sub("all", live)
    m.origin["items"] = live[0][1].rsplit("/", 1)[0]


def _finish_owners(m: _Merge) -> None:
    """A keyword that applies after its part's companions only with those companions (see :func:`_merge_owned`)."""
    for rest, bases in (("items", ("prefixItems",)), ("additionalItems", ("items", "prefixItems"))):
        owners = m.owner.get(rest, set())
        if len(owners) > 1:
            m.refuse(f"{rest} in two parts")
        for base in bases:
            if owners and m.owner.get(base, set()) - owners:
                m.refuse(f"{rest} together with {base} of another part")
    for key in ("prefixItems", "contains"):
        if len(m.owner.get(key, ())) > 1:
            m.refuse(f"{key} in two parts")


_OBJECT_GROUP = ("properties", "patternProperties", "additionalProperties", "propertyNames")


def _finish_objects(m: _Merge) -> None:
    """``patternProperties``, ``additionalProperties`` and ``propertyNames`` of several parts, merged exactly.

    Patterns apply to every key they match whatever the part, so they unite (one pattern of several parts: its
    schemas conjoin); key schemas conjoin (merged as string schemas). ``additionalProperties`` of part i applies to
    the keys outside that part's own properties and patterns: where other parts bring patterns of their own, a
    ``false`` becomes the key schema "a name of part i or a key matching one of its patterns" (``propertyNames``),
    and a schema S (part i without patterns, none of its names matching those patterns) conjoins into each foreign
    pattern's schema; the parts' ``additionalProperties`` then conjoin, and :func:`_finish_properties` gives each
    declared name those of the parts that leave it additional. A schema beside patterns of its own and foreign ones
    is unsupported."""
    if not m.objects:
        return
    parts = _distinct_object_parts(m)
    pats: dict = {}  # pattern -> [(schema, pointer)]
    adds, names_of, key_schemas = {}, {}, []
    for i, kws in parts.items():
        sub = m.parts[i][0]
        pp, pp_ptr = kws.get("patternProperties", ({}, ""))
        add = kws.get("additionalProperties")
        add = None if add is None or _trivial(add[0]) else add
        mine = {q: (v, ptr(pp_ptr, q)) for q, v in pp.items() if add is not None or not _trivial(v)}
        names_of[i] = list(sub.get("properties", {})) if isinstance(sub.get("properties", {}), dict) else []
        if "propertyNames" in kws and kws["propertyNames"][0] is not True:
            key_schemas.append(kws["propertyNames"])
        adds[i] = (add, mine)
    for i, (add, mine) in list(adds.items()):  # additionalProperties: false beside foreign patterns
        foreign = any(q not in mine for j, (_, theirs) in adds.items() if j != i for q in theirs)
        if add is not None and add[0] is False and foreign:
            key_schemas.append((_names_or_patterns(names_of[i], mine), add[1]))
            adds[i] = (None, {q: v for q, v in mine.items() if not _trivial(v[0])})
    for i, (add, mine) in adds.items():
        for q, v in mine.items():
            pats.setdefault(q, []).append(v)
    owners = []
    for i, (add, mine) in adds.items():
        if add is None:
            continue
        owners.append(i)
        foreign = [q for q in pats if q not in mine]
        if foreign and mine:
            m.refuse("additionalProperties together with patternProperties of another part")
        for q in foreign:
            if any(key_matches(q, n, m.pointer) for n in names_of[i]):
                m.refuse(f"additionalProperties together with a pattern of another part ({q!r}) that matches one "
                         "of its properties")
            pats[q].append(add)
    several = len(parts) > 1
    if pats:
        m.merged["patternProperties"] = {q: _conjoined(m, vs, several) for q, vs in pats.items()}
        m.origin["patternProperties"] = pats[next(iter(pats))][0][1].rsplit("/", 2)[0]
    if owners:
        m.merged["additionalProperties"] = _conjoined(m, [adds[i][0] for i in owners], len(owners) > 1)
        m.origin["additionalProperties"] = adds[owners[0]][0][1].rsplit("/", 1)[0]
        m.owner["additionalProperties"] = set(owners)
    if key_schemas:
        m.merged["propertyNames"] = key_schemas[0][0] if len(key_schemas) == 1 else _key_schema(m, key_schemas)
        m.origin["propertyNames"] = key_schemas[0][1].rsplit("/", 1)[0]


def _distinct_object_parts(m: _Merge) -> dict:
    """The parts' object keywords (:attr:`_Merge.objects`), a part whose properties, patterns,
    additionalProperties and propertyNames repeat an earlier part's (same values, same base URI) left out."""
    out: dict = {}
    for i, kws in m.objects.items():
        sub, sp = m.parts[i]
        if not any(all(_same(sub.get(g), m.parts[j][0].get(g)) for g in _OBJECT_GROUP)
                   and m.b.refs.base_for(sp) == m.b.refs.base_for(m.parts[j][1]) for j in out):
            out[i] = kws
    return out


def _conjoined(m: _Merge, located: list, synthetic: bool):
    """The schema of the conjunction of located schemas (a :class:`Sub`, memoised by identity, when ``synthetic``:
    a merged value must not be compiled under the pointer of one part)."""
    live = []
    for v, vp in located:
        if v is False:
            return False
        if v is not True and not any(_equal_schemas(m.b, v, vp, w, wp) for w, wp in live):
            live.append((v, vp))
    if not live:
        return True
    if len(live) == 1 and not synthetic:
        return live[0][0]
    return Sub("all", live)


def _names_or_patterns(names: list, patterns: dict):
    """A key schema: one of ``names``, or a key matching one of ``patterns`` (``False``: no key)."""
    if not patterns:
        return {"enum": list(names)} if names else False
    alts = [f"(?:{q})" for q in patterns] + ([f"^(?:{'|'.join(_ecma_escape(n) for n in names)})$"] if names else [])
    return {"pattern": "|".join(alts)}


def _ecma_escape(text: str) -> str:
    """``text`` as an ECMAScript pattern matching it literally."""
    return "".join("\\" + c if c in "\\^$.|?*+()[]{}/" else c for c in text)


def _key_schema(m: _Merge, located: list):
    """The conjunction of several key schemas (``propertyNames``), as one string schema (bare ``$ref`` followed;
    one with an applicator is unsupported)."""
    from corral.compile.json_schema.dnf import COMBINATORS

    plain = []
    for v, vp in located:
        seen = set()
        while isinstance(v, dict) and [k for k in v if not is_annotation(k)] == ["$ref"] and vp not in seen:
            seen.add(vp)
            v, vp = m.b.refs.resolve(v["$ref"], ptr(vp, "$ref"), vp)
        if v is False:
            return False
        if isinstance(v, dict) and any(k in COMBINATORS for k in v):
            m.refuse("propertyNames of several parts, one with an applicator")
        plain.append((v, vp))
    return merge_or_false(m.b, plain, m.pointer)


def _finish_contains(m: _Merge) -> None:
    """``minContains``/``maxContains`` (merged as bounds): only those of the parts with a ``contains`` count (without
    one they constrain nothing), the tightest of each, and only where that ``contains`` is the merged one."""
    counted = [(sub, sp) for sub, sp in m.parts if isinstance(sub, dict) and "contains" in sub and (
        "minContains" in sub or "maxContains" in sub)]
    for key, best in (("minContains", max), ("maxContains", min)):
        values = [(sub[key], m.b.kp(sub, sp, key)) for sub, sp in counted if key in sub]
        m.merged.pop(key, None)
        if values:
            m.merged[key] = best(v for v, _ in values)
            m.origin[key] = next(p for v, p in values if v == m.merged[key]).rsplit("/", 1)[0]
    where = m.origin.get("contains")
    for sub, sp in counted:
        if not _equal_schemas(m.b, sub["contains"], m.b.kp(sub, sp, "contains"), m.merged["contains"],
                              ptr(where, "contains")):
            m.refuse("minContains/maxContains together with contains of another part")


def _finish_types(m: _Merge) -> None:
    if m.type_sets:
        allowed = set.intersection(*m.type_sets)
        if not allowed:
            raise SchemaError("the parts of allOf allow no common type", pointer=m.pointer, keyword="allOf",
                              kind="unsatisfiable")
        m.merged["type"] = [t for t in TYPES if t in allowed]


def _finish_enum(m: _Merge) -> None:
    if "enum" in m.merged and not m.merged["enum"]:
        raise SchemaError("the parts of allOf allow no common value", pointer=m.pointer, keyword="allOf",
                          kind="unsatisfiable")


def _finish_properties(m: _Merge) -> None:
    """The schemas of each property conjoin, with the ``additionalProperties`` of the parts that do not declare it."""
    if not m.props:
        return
    out, ptrs = {}, {}
    for p, vals in m.props.items():
        for add_owner in sorted(m.owner.get("additionalProperties", ())):
            pats = m.parts[add_owner][0].get("patternProperties", {})
            if all(i != add_owner for _, _, i in vals) and not any(key_matches(q, p, m.pointer) for q in pats):
                sub0, sp0 = m.parts[add_owner]
                vals = vals + [(sub0["additionalProperties"], m.b.kp(sub0, sp0, "additionalProperties"), add_owner)]
        live = []
        for v, vp, _ in vals:
            if v is not True and not any(_equal_schemas(m.b, v, vp, w, wp) for w, wp in live):
                live.append((v, vp))
        if any(v is False for v, _ in live):
            out[p], ptrs[p] = False, live[0][1]
        elif not live:
            out[p], ptrs[p] = True, vals[0][1]
        elif len(live) == 1:
            out[p], ptrs[p] = live[0]
        else:
            out[p], ptrs[p] = Sub("all", live), live[0][1]
    m.merged["properties"] = out
    m.b.prop_ptrs[id(m.merged)] = ptrs


#: Checks and completions after every keyword is merged, in this order (the first failing one names the error).
FINISHERS = (_finish_items, _finish_owners, _finish_objects, _finish_contains, _finish_types, _finish_enum,
             _finish_properties)


def _equal_schemas(b, x, xptr: str, y, yptr: str) -> bool:
    """Whether two located schemas are the same (equal plain JSON resolved against the same base URI)."""
    if x is y and xptr == yptr:
        return True
    if id(x) in b.origin or id(y) in b.origin or id(x) in b.prop_ptrs or id(y) in b.prop_ptrs:
        return False
    return _same(x, y) and b.refs.base_for(xptr) == b.refs.base_for(yptr)


def _same(x, y) -> bool:
    """Whether two plain JSON values are equal as text (False for anything else)."""
    try:
        return json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True)
    except (TypeError, ValueError):
        return False
