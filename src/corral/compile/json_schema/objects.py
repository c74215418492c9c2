"""Object branch of the JSON Schema compiler: declared properties in order, pattern and additional keys,
``propertyNames``, ``dependentRequired``, property counts and required key languages (``SOME_KEY``, from negations:
:mod:`~corral.compile.json_schema.witness`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from corral.compile.json_schema import layout
from corral.compile.json_schema.checks import count, unknown_keyword
from corral.compile.json_schema.key_classes import conj, key_languages, spelled_key_class
from corral.compile.json_schema.oracle import instance_valid
from corral.compile.json_schema.scalars import content_of, key_complement_pattern, regex_of_dfa
from corral.compile.json_schema.strings import key_matches, string_content
from corral.compile.json_schema.vocab import KNOWN, NOT_ENUM, NOT_PATTERN, PATTERNS, SOME_KEY, is_annotation, ptr
from corral.errors import SchemaError

__all__ = ["compile_object", "key_language", "MAX_ANY_ORDER", "MAX_ANY_ORDER_TRACKED"]

MAX_DEPENDENT_NAMES = 12
MAX_ANY_ORDER = 10  # property_order="any": the grammar has a nonterminal per subset of the declared names
MAX_ANY_ORDER_TRACKED = 12  # larger objects: a nonterminal per subset of the required (and dependency) names
MAX_ANY_ORDER_RULES = 80_000  # ... and a rule per (subset, member): at most this many


@dataclass
class _Members:
    """What may stand between the braces of one object schema."""

    names: list  # the declared names, in schema order (then those only required or dependentRequired)
    values: list  # the value nonterminal of each name (None: the name cannot appear)
    classes: list  # (key terminal, value nonterminal) for the keys outside ``names``, disjoint
    required: list
    dreq: dict  # dependentRequired, without names depending on themselves
    lo: int  # minProperties
    hi: int | None  # maxProperties
    # SOME_KEY (witness.py): the mask of every requirement, and the requirements each name / class satisfies
    need: int = 0
    name_masks: list = field(default_factory=list)
    class_masks: list = field(default_factory=list)


def key_language(b, pnames, pointer: str):
    """Content regex of the keys ``propertyNames`` allows: None for all, ``False`` for none."""
    seen = set()
    while isinstance(pnames, dict) and [k for k in pnames if not is_annotation(k)] == ["$ref"] \
            and pointer not in seen:
        seen.add(pointer)
        pnames, pointer = b.refs.resolve(pnames["$ref"], ptr(pointer, "$ref"), pointer)
    if pnames is True:
        return None
    if pnames is False:
        return False
    if not isinstance(pnames, dict):
        raise SchemaError("propertyNames must be a schema", pointer=pointer, keyword="propertyNames")
    for key in pnames:
        if isinstance(key, str) and key not in KNOWN:
            unknown_keyword(b, pnames, pointer, key)
    keys = [k for k in pnames if not is_annotation(k)]
    allowed = ("type", "minLength", "maxLength", "pattern", "format", "enum", "const", PATTERNS, NOT_PATTERN,
               NOT_ENUM)  # the internal ones: key schemas of several allOf parts merged (merge.py)
    bad = [k for k in keys if k not in allowed]
    if bad:
        raise SchemaError(f"propertyNames with {bad[0]!r} is not supported", pointer=pointer,
                          keyword="propertyNames", kind="unsupported")
    if "type" in pnames:
        ts = pnames["type"] if isinstance(pnames["type"], list) else [pnames["type"]]
        if "string" not in ts:
            return False
    if "enum" in pnames or "const" in pnames:
        values = list(pnames.get("enum", [])) if "enum" in pnames else [pnames["const"]]
        if "const" in pnames and "enum" in pnames:
            values = [v for v in values if v == pnames["const"]]
        strings = [v for v in values if isinstance(v, str)]
        rest = {k: pnames[k] for k in keys if k not in ("type", "enum", "const")}
        if rest:
            strings = [v for v in strings if instance_valid(b, rest, pointer, v, pnames)]
        return "|".join(re.escape(content_of(v)) for v in strings) if strings else False
    content = string_content(b, pnames, pointer)
    return False if content is None else content


def _object_keywords(b, node, pointer):
    """``properties``, ``required``, ``additionalProperties``, ``patternProperties``, ``propertyNames`` and
    ``dependentRequired`` of ``node`` (defaults filled in, the last two checked)."""
    patterns = node.get("patternProperties", {})
    dreq = node.get("dependentRequired", {})
    if not isinstance(patterns, dict):
        raise SchemaError("patternProperties must be an object", pointer=b.kp(node, pointer, "patternProperties"),
                          keyword="patternProperties")
    if not isinstance(dreq, dict) or not all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                             for v in dreq.values()):
        raise SchemaError("dependentRequired must map names to arrays of strings",
                          pointer=b.kp(node, pointer, "dependentRequired"), keyword="dependentRequired")
    return (node.get("properties", {}), node.get("required", []), node.get("additionalProperties", True), patterns,
            node.get("propertyNames", True), dreq)


def compile_object(b, node, pointer) -> str:
    """The nonterminal of the objects ``node`` allows: members in schema order (or any order), then other keys."""
    props, required, extra, patterns, pnames, dreq = _object_keywords(b, node, pointer)
    lo = count(b, node, pointer, "minProperties", 0)
    hi = count(b, node, pointer, "maxProperties")
    counted = "minProperties" in node or "maxProperties" in node
    if not props and not required and extra is True and not counted and not patterns and pnames is True \
            and not dreq and not node.get(SOME_KEY):
        return layout.any_object(b)
    dreq = {a: [x for x in bs if x != a] for a, bs in dreq.items()}
    dreq = {a: bs for a, bs in dreq.items() if bs}
    names = list(props)
    for r in list(required) + list(dreq) + [x for bs in dreq.values() for x in bs]:
        if r not in names:
            names.append(r)
    kp = lambda k, *rest: b.kp(node, pointer, k, *rest)  # noqa: E731
    pn = key_language(b, pnames, kp("propertyNames")) if pnames is not True else None
    prop_ptrs = b.prop_ptrs.get(id(node), {})
    values: list[str | None] = []  # the value nonterminal of each name (None where no value is allowed)
    for name in names:  # inline (not a helper): one stack frame fewer per level of nested objects
        parts = []
        if name in props:
            parts.append((props[name], prop_ptrs.get(name) or kp("properties", name)))
        matched = [q for q in patterns if key_matches(q, name, kp("patternProperties", q))]
        parts += [(patterns[q], kp("patternProperties", q)) for q in matched]
        if name not in props and not matched:
            parts.append((extra, kp("additionalProperties")))
        if pn is False or (pn is not None and not re.fullmatch(pn, content_of(name))):
            parts = [(False, kp("propertyNames"))]
        c = conj(parts)
        values.append(None if c is None else b.attempt(b.child, *c))
    n = b.nt("object")
    if any(v is None and name in required for v, name in zip(values, names)):
        b.rule(n, b.never())
        return n
    if node.get(SOME_KEY):  # some key of given languages (a negated propertyNames...): witness.py
        from corral.compile.json_schema.witness import witness_members

        need, name_masks, classes, class_masks = witness_members(b, node, pointer, names, patterns, extra, pn, kp)
    else:
        need, name_masks, class_masks = 0, [0] * len(names), []
        classes = _key_classes(b, node, pointer, names, patterns, extra, pn)
    if lo > 1 and classes:
        # a generated text may repeat an additional key, and its parsed object then has fewer properties (but
        # never none: minProperties 1 is "at least one member", exact whatever the keys)
        raise SchemaError("minProperties above 1 is only supported when no key outside the declared properties "
                          "is allowed", pointer=kp("minProperties"), keyword="minProperties", kind="unsupported")
    relevant = set(dreq) | {x for bs in dreq.values() for x in bs}
    if len(relevant) > MAX_DEPENDENT_NAMES:
        raise SchemaError(f"dependentRequired over more than {MAX_DEPENDENT_NAMES} names is not supported",
                          pointer=kp("dependentRequired"), keyword="dependentRequired", kind="unsupported")
    members = _Members(names, values, classes, required, dreq, lo, hi, need, name_masks,
                       class_masks or [0] * len(classes))
    if b.options.any_order and (len(names) > 1 or (names and classes)) and \
            _in_any_order(b, n, pointer, members, relevant):
        return n
    b.rule(n, b.lit("{"), _in_schema_order(b, members, relevant))
    return n


def _in_any_order(b, n: str, pointer: str, m: _Members, relevant: set) -> bool:
    """Rules ``n -> { members in any order`` where ``property_order="any"`` can be honoured (False: it cannot,
    recorded in ``b.narrowed``)."""
    tracked = set(m.required) | relevant
    if len(m.names) <= MAX_ANY_ORDER:
        b.rule(n, b.lit("{"), _any_order(b, m))
        return True
    if m.lo <= 1 and len(tracked) <= MAX_ANY_ORDER_TRACKED and \
            2 ** len(tracked) * (len(m.names) + len(m.classes)) <= MAX_ANY_ORDER_RULES:
        b.rule(n, b.lit("{"), _any_order(b, m, tracked=tracked))
        return True
    why = "minProperties above 1" if m.lo > 1 else f"{len(tracked)} required names (at most " \
        f"{MAX_ANY_ORDER_TRACKED}, and 2^required x names at most {MAX_ANY_ORDER_RULES})"
    b.narrowed.append((pointer, f"property_order='any': {len(m.names)} property names (more than "
                                f"{MAX_ANY_ORDER}) and {why}: the schema order is kept"))
    return False


def _in_schema_order(b, m: _Members, relevant: set) -> str:
    """Members after ``{`` with the declared names in schema order, then the other keys: one nonterminal per
    (position, started, count, dependentRequired names that still matter)."""
    names, values, dreq, lo, hi = m.names, m.values, m.dreq, m.lo, m.hi
    position = {name: i for i, name in enumerate(names)}
    cap = max(lo, hi or 0)
    extra_rules: dict[tuple[bool, int, int], str] = {}

    def room(c: int) -> bool:
        return hi is None or c < hi

    def extras(started: bool, c: int, w: int) -> str:  # w: the SOME_KEY requirements met so far
        if (started, c, w) not in extra_rules:
            x = extra_rules[(started, c, w)] = b.nt("extra")
            if c >= lo and w == m.need:
                b.rule(x, *layout.close(b, "}", started))
            if room(c):
                for (key, val), cw in zip(m.classes, m.class_masks):
                    b.rule(x, *layout.sep(b, started), key, *layout.colon(b), val,
                           extras(True, min(c + 1, cap), w | cw))
            b.rule(x, b.never())
        return extra_rules[(started, c, w)]

    def matters(x: str, i: int) -> bool:
        return any(position[y] >= i for y in dreq.get(x, ())) or any(
            position[a] >= i for a, bs in dreq.items() if x in bs)

    memo: dict = {}

    def seq(i: int, started: bool, c: int, state: frozenset, w: int) -> str:
        if i == len(names):
            return extras(started, c, w)
        state = frozenset(x for x in state if matters(x, i))
        if (i, started, c, state, w) not in memo:
            s = memo[(i, started, c, state, w)] = b.nt("props")
            name = names[i]
            owed = any(name in dreq.get(a, ()) for a in state)
            if name not in m.required and not owed:
                b.rule(s, seq(i + 1, started, c, state, w))
            earlier_ok = all(y in state for y in dreq.get(name, ()) if position[y] < i)
            if values[i] is not None and room(c) and earlier_ok:
                nxt = state | {name} if name in relevant else state
                b.rule(s, *layout.sep(b, started), *layout.key(b, name), values[i],
                       seq(i + 1, True, min(c + 1, cap), nxt, w | m.name_masks[i]))
            b.rule(s, b.never())
        return memo[(i, started, c, state, w)]

    return seq(0, False, 0, frozenset(), 0)


def _any_order(b, m: _Members, tracked: set | None = None) -> str:
    """Members after ``{`` in any order: one nonterminal per (set of tracked names used, started, count).

    ``tracked=None`` (objects of at most MAX_ANY_ORDER names): every declared name is tracked and appears at
    most once. Otherwise only ``tracked`` (the required and dependentRequired names) are remembered and every
    declared name may also repeat: a repeated key keeps its last value (``json.loads``), which is valid since
    every value is, so the text still validates (sound; complete for every key order of a text without
    repeats); the caller ensures ``lo <= 1``, since repeats make the parsed object smaller than the text (but
    never empty when a member was written). The
    object may close once every required name is used, every dependentRequired of a used name is used and
    the count of members written reaches ``lo``; keys of ``classes`` (outside the declared names) may come
    anywhere.
    """
    lo, hi, required = m.lo, m.hi, m.required
    cap = max(lo, hi or 0)
    memo: dict = {}
    # the symbols of each member, after the first member and as the first one (built once, not per state)
    members = [(name, (*layout.sep(b, True), *layout.key(b, name), value),
                (*layout.sep(b, False), *layout.key(b, name), value),
                tracked is None or name in tracked, wit)
               for name, value, wit in zip(m.names, m.values, m.name_masks) if value is not None]
    others = [((*layout.sep(b, True), key_term, *layout.colon(b), value),
               (*layout.sep(b, False), key_term, *layout.colon(b), value), wit)
              for (key_term, value), wit in zip(m.classes, m.class_masks)]
    needs = [(a, bs) for a, bs in m.dreq.items()]
    close = {started: tuple(layout.close(b, "}", started)) for started in (False, True)}

    def state(used: frozenset, started: bool, c: int, w: int) -> str:  # w: SOME_KEY requirements met
        key = (used, started, c, w)
        if key in memo:
            return memo[key]
        s = memo[key] = b.nt("members")
        done = c >= lo and w == m.need and all(r in used for r in required) and all(
            x in used for a, bs in needs if a in used for x in bs)
        if done:
            b.rule(s, *close[started])
        if hi is None or c < hi:
            nxt_c = min(c + 1, cap)
            for name, later, first, track, wit in members:
                if tracked is None and name in used:
                    continue
                after = used | {name} if track else used
                b.rule(s, *(later if started else first), state(after, True, nxt_c, w | wit))
            for later, first, wit in others:
                b.rule(s, *(later if started else first), state(used, True, nxt_c, w | wit))
        b.rule(s, b.never())
        return s

    return state(frozenset(), False, 0, 0)


def _key_classes(b, node, pointer, names, patterns, extra, pn) -> list[tuple[str, str]]:
    """(key terminal, value nonterminal) for the keys outside ``names``, in disjoint key languages."""
    kp = lambda k, *rest: b.kp(node, pointer, k, *rest)  # noqa: E731
    if pn is False:
        return []
    if not patterns and pn is None:
        if extra is False:
            return []
        c = conj([(extra, kp("additionalProperties"))])
        val = None if c is None else b.attempt(b.child, *c)
        return [] if val is None else [(b.term(key_complement_pattern(names)), val)]
    where = kp("patternProperties") if patterns else kp("propertyNames")
    keyword = "patternProperties" if patterns else "propertyNames"
    classes = key_languages(names, patterns, pn, where, keyword, kp)
    out = []
    for sel, lang in classes:
        parts = [(patterns[q], kp("patternProperties", q)) for q in sel] if sel else \
            [(extra, kp("additionalProperties"))]
        c = conj(parts)
        if c is None:
            continue
        val = b.attempt(b.child, *c)
        spelled = spelled_key_class(names, patterns, pn, sel)
        regex = regex_of_dfa(lang, where, keyword, spelled) if val is not None else None
        if regex is None:
            continue
        out.append((b.term(f'"(?:{regex})"'), val))
    return out
