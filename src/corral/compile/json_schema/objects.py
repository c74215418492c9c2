"""Object branch of the JSON Schema compiler: declared properties in order, pattern and additional keys,
``propertyNames``, ``dependentRequired`` and property counts."""

from __future__ import annotations

import re

from corral.errors import SchemaError
from corral.compile.json_schema import regexes as rx
from corral.compile.json_schema.dnf import Sub
from corral.compile.json_schema.scalars import (content_dfa, content_of, key_complement_content_dfa,
                                                key_complement_pattern, regex_of_dfa)
from corral.compile.json_schema.vocab import KNOWN, ptr

__all__ = ["ObjectsMixin"]

MAX_KEY_CLASSES = 64
MAX_DEPENDENT_NAMES = 12
MAX_ANY_ORDER = 10  # property_order="any": the grammar has a nonterminal per subset of the declared names
MAX_ANY_ORDER_TRACKED = 8  # larger objects: a nonterminal per subset of the required (and dependency) names


def _conj(parts):
    """A schema for the conjunction of located schemas (None: it is ``false``)."""
    live = [(s, p) for s, p in parts if s is not True]
    if any(s is False for s, _ in live):
        return None
    if not live:
        return (True, parts[0][1] if parts else "")
    if len(live) == 1:
        return live[0]
    return (Sub("all", live), live[0][1])


class ObjectsMixin:
    """``type: object``."""

    def key_language(self, pnames, pointer: str):
        """Content regex of the keys ``propertyNames`` allows: None for all, ``False`` for none."""
        seen = set()
        while isinstance(pnames, dict) and [k for k in pnames if not self._is_note(k)] == ["$ref"] \
                and pointer not in seen:
            seen.add(pointer)
            pnames, pointer = self.resolve(pnames["$ref"], ptr(pointer, "$ref"), pointer)
        if pnames is True:
            return None
        if pnames is False:
            return False
        if not isinstance(pnames, dict):
            raise SchemaError("propertyNames must be a schema", pointer=pointer, keyword="propertyNames")
        for key in pnames:
            if isinstance(key, str) and key not in KNOWN:
                self._unknown_keyword(pnames, pointer, key)
        keys = [k for k in pnames if not self._is_note(k)]
        allowed = ("type", "minLength", "maxLength", "pattern", "format", "enum", "const")
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
                strings = [v for v in strings if self.instance_valid(rest, pointer, v, pnames)]
            return "|".join(re.escape(content_of(v)) for v in strings) if strings else False
        content = self.string_content(pnames, pointer)
        return False if content is None else content

    def _t_object(self, node, pointer) -> str:
        kp = lambda k, *rest: self._kp(node, pointer, k, *rest)  # noqa: E731
        props = node.get("properties", {})
        required = node.get("required", [])
        extra = node.get("additionalProperties", True)
        patterns = node.get("patternProperties", {})
        pnames = node.get("propertyNames", True)
        dreq = node.get("dependentRequired", {})
        if not isinstance(patterns, dict):
            raise SchemaError("patternProperties must be an object", pointer=kp("patternProperties"),
                              keyword="patternProperties")
        if not isinstance(dreq, dict) or not all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                                 for v in dreq.values()):
            raise SchemaError("dependentRequired must map names to arrays of strings",
                              pointer=kp("dependentRequired"), keyword="dependentRequired")
        lo = self._count(node, pointer, "minProperties", 0)
        hi = self._count(node, pointer, "maxProperties")
        counted = "minProperties" in node or "maxProperties" in node
        if not props and not required and extra is True and not counted and not patterns and pnames is True \
                and not dreq:
            return self.any_object()
        dreq = {a: [b for b in bs if b != a] for a, bs in dreq.items()}
        dreq = {a: bs for a, bs in dreq.items() if bs}
        names = list(props)
        for r in list(required) + list(dreq) + [b for bs in dreq.values() for b in bs]:
            if r not in names:
                names.append(r)
        pn = self.key_language(pnames, kp("propertyNames")) if pnames is not True else None
        prop_ptrs = self._prop_ptrs.get(id(node), {})
        values: list[str | None] = []
        for name in names:
            parts = []
            if name in props:
                parts.append((props[name], prop_ptrs.get(name) or kp("properties", name)))
            matched = [q for q in patterns if self._key_matches(q, name, kp("patternProperties", q))]
            parts += [(patterns[q], kp("patternProperties", q)) for q in matched]
            if name not in props and not matched:
                parts.append((extra, kp("additionalProperties")))
            if pn is False or (pn is not None and not re.fullmatch(pn, content_of(name))):
                parts = [(False, kp("propertyNames"))]
            c = _conj(parts)
            values.append(None if c is None else self._attempt(self.child, *c))
        n = self.nt("object")
        if any(v is None and name in required for v, name in zip(values, names)):
            self.rule(n, self.never())
            return n
        classes = self._key_classes(node, pointer, names, patterns, extra, pn)
        if lo > 0 and classes:
            # a generated text may repeat an additional key, and its parsed object then has fewer properties
            raise SchemaError("minProperties is only supported when no key outside the declared properties is "
                              "allowed", pointer=kp("minProperties"), keyword="minProperties", kind="unsupported")
        relevant = set(dreq) | {b for bs in dreq.values() for b in bs}
        if len(relevant) > MAX_DEPENDENT_NAMES:
            raise SchemaError(f"dependentRequired over more than {MAX_DEPENDENT_NAMES} names is not supported",
                              pointer=kp("dependentRequired"), keyword="dependentRequired", kind="unsupported")
        position = {name: i for i, name in enumerate(names)}
        cap = max(lo, hi or 0)
        extra_rules: dict[tuple[bool, int], str] = {}

        def room(c: int) -> bool:
            return hi is None or c < hi

        def extras(started: bool, c: int) -> str:
            if (started, c) not in extra_rules:
                x = extra_rules[(started, c)] = self.nt("extra")
                if c >= lo:
                    self.rule(x, *self.p_close("}", started))
                if room(c):
                    for key, val in classes:
                        self.rule(x, *self.p_sep(started), key, *self.p_colon(), val,
                                  extras(True, min(c + 1, cap)))
                self.rule(x, self.never())
            return extra_rules[(started, c)]

        def matters(x: str, i: int) -> bool:
            return any(position[b] >= i for b in dreq.get(x, ())) or any(
                position[a] >= i for a, bs in dreq.items() if x in bs)

        if self.any_order and len(names) > 1:
            tracked = set(required) | relevant
            if len(names) <= MAX_ANY_ORDER:
                self.rule(n, self.lit("{"), self._any_order(names, values, classes, required, dreq, lo, hi))
                return n
            if lo == 0 and len(tracked) <= MAX_ANY_ORDER_TRACKED:
                self.rule(n, self.lit("{"), self._any_order(names, values, classes, required, dreq, lo, hi,
                                                            tracked=tracked))
                return n
            why = "minProperties" if lo else f"more than {MAX_ANY_ORDER_TRACKED} required names"
            self.narrowed.append((pointer, f"property_order='any': {len(names)} property names (more than "
                                           f"{MAX_ANY_ORDER}) and {why}: the schema order is kept"))
        memo: dict = {}

        def seq(i: int, started: bool, c: int, state: frozenset) -> str:
            if i == len(names):
                return extras(started, c)
            state = frozenset(x for x in state if matters(x, i))
            if (i, started, c, state) not in memo:
                s = memo[(i, started, c, state)] = self.nt("props")
                name = names[i]
                owed = any(name in dreq.get(a, ()) for a in state)
                if name not in required and not owed:
                    self.rule(s, seq(i + 1, started, c, state))
                earlier_ok = all(b in state for b in dreq.get(name, ()) if position[b] < i)
                if values[i] is not None and room(c) and earlier_ok:
                    nxt = state | {name} if name in relevant else state
                    self.rule(s, *self.p_sep(started), *self.p_key(name), values[i],
                              seq(i + 1, True, min(c + 1, cap), nxt))
                self.rule(s, self.never())
            return memo[(i, started, c, state)]

        self.rule(n, self.lit("{"), seq(0, False, 0, frozenset()))
        return n

    def _any_order(self, names, values, classes, required, dreq, lo: int, hi: int | None,
                   tracked: set | None = None) -> str:
        """Members after ``{`` in any order: one nonterminal per (set of tracked names used, started, count).

        ``tracked=None`` (objects of at most MAX_ANY_ORDER names): every declared name is tracked and appears at
        most once. Otherwise only ``tracked`` (the required and dependentRequired names) are remembered and every
        declared name may also repeat: a repeated key keeps its last value (``json.loads``), which is valid since
        every value is, so the text still validates (sound; complete for every key order of a text without
        repeats); the caller ensures ``lo == 0``, since repeats make the parsed object smaller than the text. The
        object may close once every required name is used, every dependentRequired of a used name is used and
        the count of members written reaches ``lo``; keys of ``classes`` (outside the declared names) may come
        anywhere.
        """
        cap = max(lo, hi or 0)
        memo: dict = {}
        # the symbols of each member, after the first member and as the first one (built once, not per state)
        members = [(name, (*self.p_sep(True), *self.p_key(name), value), (*self.p_sep(False), *self.p_key(name), value),
                    tracked is None or name in tracked) for name, value in zip(names, values) if value is not None]
        others = [((*self.p_sep(True), key_term, *self.p_colon(), value),
                   (*self.p_sep(False), key_term, *self.p_colon(), value)) for key_term, value in classes]
        needs = [(a, bs) for a, bs in dreq.items()]
        close = {started: tuple(self.p_close("}", started)) for started in (False, True)}

        def state(used: frozenset, started: bool, c: int) -> str:
            key = (used, started, c)
            if key in memo:
                return memo[key]
            s = memo[key] = self.nt("members")
            done = c >= lo and all(r in used for r in required) and all(
                b in used for a, bs in needs if a in used for b in bs)
            if done:
                self.rule(s, *close[started])
            if hi is None or c < hi:
                nxt_c = min(c + 1, cap)
                for name, later, first, track in members:
                    if tracked is None and name in used:
                        continue
                    after = used | {name} if track else used
                    self.rule(s, *(later if started else first), state(after, True, nxt_c))
                for later, first in others:
                    self.rule(s, *(later if started else first), state(used, True, nxt_c))
            self.rule(s, self.never())
            return s

        return state(frozenset(), False, 0)

    def _key_classes(self, node, pointer, names, patterns, extra, pn) -> list[tuple[str, str]]:
        """(key terminal, value nonterminal) for the keys outside ``names``, in disjoint key languages."""
        kp = lambda k, *rest: self._kp(node, pointer, k, *rest)  # noqa: E731
        if pn is False:
            return []
        if not patterns and pn is None:
            if extra is False:
                return []
            c = _conj([(extra, kp("additionalProperties"))])
            val = None if c is None else self._attempt(self.child, *c)
            return [] if val is None else [(self.term(key_complement_pattern(names)), val)]
        from corral.automata.operations import dfa_difference, dfa_intersection

        where = kp("patternProperties") if patterns else kp("propertyNames")
        keyword = "patternProperties" if patterns else "propertyNames"
        try:
            base = content_dfa(rx.UNIT + "*")
            if names:
                base = key_complement_content_dfa(names)
            if pn is not None:
                base = dfa_intersection(base, content_dfa(f"(?:{pn})"))
            classes = [((), base)] if not base.is_empty else []
            for q in patterns:
                try:
                    regex = rx.pattern_regex(q)
                except rx.PatternUnsupported as exc:
                    raise SchemaError(f"pattern {q!r} cannot be compiled exactly: {exc}",
                                      pointer=kp("patternProperties", q), keyword="patternProperties",
                                      kind="unsupported") from None
                pdfa = content_dfa(regex)
                new = []
                for sel, lang in classes:
                    inside, outside = dfa_intersection(lang, pdfa), dfa_difference(lang, pdfa)
                    if not inside.is_empty:
                        new.append((sel + (q,), inside))
                    if not outside.is_empty:
                        new.append((sel, outside))
                classes = new
                if len(classes) > MAX_KEY_CLASSES:
                    raise SchemaError(f"more than {MAX_KEY_CLASSES} key classes", pointer=where, keyword=keyword,
                                      kind="unsupported")
        except SchemaError:
            raise
        except (MemoryError, ValueError) as exc:
            raise SchemaError(f"the key languages cannot be computed: {exc}", pointer=where, keyword=keyword,
                              kind="unsupported") from None
        out = []
        for sel, lang in classes:
            parts = [(patterns[q], kp("patternProperties", q)) for q in sel] if sel else \
                [(extra, kp("additionalProperties"))]
            c = _conj(parts)
            if c is None:
                continue
            val = self._attempt(self.child, *c)
            regex = regex_of_dfa(lang, where, keyword) if val is not None else None
            if regex is None:
                continue
            out.append((self.term(f'"(?:{regex})"'), val))
        return out
