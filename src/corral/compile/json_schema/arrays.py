"""Array branch of the JSON Schema compiler: ``prefixItems``/``items``, item counts, ``contains`` counting and
``uniqueItems`` over finitely many item values (:mod:`~corral.compile.json_schema.unique_items`)."""

from __future__ import annotations

from corral.compile.json_schema import layout
from corral.compile.json_schema.checks import count
from corral.compile.json_schema.dnf import Sub
from corral.compile.json_schema.unique_items import MAX_UNIQUE_TRANSITIONS, finite_values, group_values, \
    unique_transitions
from corral.compile.json_schema.vocab import MAX_COUNT
from corral.errors import SchemaError

__all__ = ["compile_array"]


def compile_array(b, node, pointer) -> str:
    """The nonterminal of the arrays ``node`` allows: one state per (position, items matching ``contains``), or with
    ``uniqueItems`` per (set of item values used, items matching ``contains``)."""
    kp = lambda k, *rest: b.kp(node, pointer, k, *rest)  # noqa: E731
    prefix, pre_key = node.get("prefixItems", []), "prefixItems"
    items, items_key = node.get("items", True), "items"
    if isinstance(items, list):  # draft-07 tuple form
        if "prefixItems" in node:
            raise SchemaError("items as an array together with prefixItems", pointer=kp("items"),
                              keyword="items")
        prefix, pre_key = items, "items"
        items, items_key = node.get("additionalItems", True), "additionalItems"
    lo = count(b, node, pointer, "minItems", 0)
    hi = count(b, node, pointer, "maxItems")
    k = len(prefix)
    slots = [(s, kp(pre_key, i)) for i, s in enumerate(prefix)]
    rest = (items, kp(items_key)) if items is not False else None
    if rest is None:
        hi = k if hi is None else min(hi, k)
    contains = node.get("contains")
    min_c = count(b, node, pointer, "minContains", 1) if contains is not None else 0
    max_c = count(b, node, pointer, "maxContains") if contains is not None else None
    if contains is True:  # every item matches
        lo, hi = max(lo, min_c), max_c if hi is None else (hi if max_c is None else min(hi, max_c))
        contains, min_c, max_c = None, 0, None
    elif contains is False:
        if min_c > 0:
            return b.never()
        contains, min_c, max_c = None, 0, None
    split = contains is not None and (min_c > 0 or max_c is not None)
    if split and max_c is not None and max_c > MAX_COUNT:
        max_c = None if max_c >= (hi if hi is not None else max_c + 1) else max_c
    unique = node.get("uniqueItems", False) is True and (hi is None or hi > 1)
    n = b.nt("array")
    values: list[list] = []  # with uniqueItems, the distinct item values (each a group of equal values)
    if unique:
        values = _unique_values(b, node, pointer, slots, rest, hi)
        hi = len(values) if hi is None else min(hi, len(values))
    if hi is not None and lo > hi:
        b.rule(n, b.never())
        return n
    loop = max(k, lo, 1)
    if hi is not None and hi - loop > MAX_COUNT:
        raise SchemaError(f"maxItems more than {MAX_COUNT} beyond the other bounds is not supported",
                          pointer=kp("maxItems"), keyword="maxItems", kind="unsupported")
    cap = (max_c if max_c is not None else min_c) if split else 0
    if split and cap > MAX_COUNT:
        raise SchemaError(f"minContains/maxContains above {MAX_COUNT} are not supported",
                          pointer=kp("minContains"), keyword="minContains", kind="unsupported")
    options = _element_options(b, slots, rest, (contains, kp("contains")) if split else None, values)
    if unique:
        _unique_tails(b, n, values, options, lo, hi, min_c, max_c, cap)
        return n

    tails: dict[tuple[int, int], str] = {}
    todo: list[tuple[int, int]] = []

    def tail(i: int, c: int) -> str:  # elements after the first i ones, c items matched so far (capped)
        j = loop if hi is None and i >= loop else i
        if (j, c) not in tails:
            tails[(j, c)] = b.nt("items")
            todo.append((j, c))
        return tails[(j, c)]

    b.rule(n, b.lit("["), tail(0, 0))
    while todo:  # the rules of each tail, without recursion (maxItems: 1000 is a chain of 1000 tails)
        j, c = todo.pop()
        t = tails[(j, c)]
        if j >= lo and c >= min_c:
            b.rule(t, *layout.close(b, "]", j > 0))
        if hi is None or j < hi:
            for sym, inc in options(j):
                c2 = c + inc
                if max_c is not None and c2 > max_c:
                    continue
                c2 = min(c2, cap) if max_c is None else c2
                b.rule(t, *layout.sep(b, j > 0), sym, tail(j + 1, c2))
        b.rule(t, b.never())
    return n


def _element_options(b, slots: list, rest, contains, values: list):
    """The function ``options(j, group=None)``: the (element nonterminal, ``contains`` increment) pairs at position
    ``j`` (memoised; of the values ``values[group]`` only, with uniqueItems). ``contains``: ``(schema, pointer)``
    when the items matching it are counted (each element is split into those that match and those that do not),
    else None."""
    k, choices = len(slots), {}

    def options(j: int, group=None) -> list[tuple[str, int]]:
        key = (j if j < k else k, group)
        if key not in choices:
            sch, sp = slots[j] if j < k else rest
            if group is not None:
                sch = Sub("all", [(sch, sp), ({"enum": list(values[group])}, sp)])
            if contains is None:
                opts = [(b.attempt(b.child, sch, sp), 0)]
            else:
                yes = Sub("all", [(sch, sp), contains])
                no = Sub("all", [(sch, sp), (Sub("not", [contains]), contains[1])])
                opts = [(b.attempt(b.child, yes, sp), 1), (b.attempt(b.child, no, sp), 0)]
            choices[key] = [(sym, inc) for sym, inc in opts if sym is not None]
        return choices[key]

    return options


def _unique_values(b, node, pointer, slots, rest, hi) -> list[list]:
    """The distinct item values (groups of equal values, :func:`~corral.compile.json_schema.unique_items.group_values`)
    of an array with ``uniqueItems``; unsupported when an item position that can exist has infinitely many values,
    or when the values are too many for :data:`~corral.compile.json_schema.unique_items.MAX_UNIQUE_TRANSITIONS`."""
    where = b.kp(node, pointer, "uniqueItems")
    located = [slots[j] for j in range(len(slots)) if hi is None or j < hi]
    if rest is not None and (hi is None or hi > len(slots)):
        located.append(rest)
    values = []
    for sch, sp in located:
        vals = finite_values(b, sch, sp)
        if vals is None:
            raise SchemaError(f"uniqueItems is only supported when at most one item is allowed or every item takes "
                              f"one of finitely many values (enum/const, boolean, null); the items at {sp or '/'} "
                              f"do not (distinct values of an infinite language are not context-free)",
                              pointer=where, keyword="uniqueItems", kind="unsupported")
        values += vals
    groups = group_values(values)
    if unique_transitions(len(groups), hi, MAX_UNIQUE_TRANSITIONS) > MAX_UNIQUE_TRANSITIONS:
        raise SchemaError(f"uniqueItems over {len(groups)} distinct item values is not supported: tracking the "
                          f"values used needs more than {MAX_UNIQUE_TRANSITIONS} (subset, value) transitions (at "
                          f"most 12 values, or more under a small maxItems)", pointer=where, keyword="uniqueItems",
                          kind="unsupported")
    return groups


def _unique_tails(b, n: str, values: list, options, lo: int, hi: int, min_c: int, max_c, cap: int) -> None:
    """Rules ``n -> [ items ]`` for arrays of distinct values: one nonterminal per (set of value groups used,
    items matching ``contains``); the position is the size of the set."""
    tails: dict[tuple[int, int], str] = {}
    todo: list[tuple[int, int]] = []

    def tail(used: int, c: int) -> str:
        if (used, c) not in tails:
            tails[(used, c)] = b.nt("uitems")
            todo.append((used, c))
        return tails[(used, c)]

    b.rule(n, b.lit("["), tail(0, 0))
    while todo:
        used, c = todo.pop()
        t, j = tails[(used, c)], bin(used).count("1")
        if j >= lo and c >= min_c:
            b.rule(t, *layout.close(b, "]", j > 0))
        if j < hi:
            for g in range(len(values)):
                if used >> g & 1:
                    continue
                for sym, inc in options(j, g):
                    c2 = c + inc
                    if max_c is not None and c2 > max_c:
                        continue
                    c2 = min(c2, cap) if max_c is None else c2
                    b.rule(t, *layout.sep(b, j > 0), sym, tail(used | 1 << g, c2))
        b.rule(t, b.never())
