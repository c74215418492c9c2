"""Array branch of the JSON Schema compiler: ``prefixItems``/``items``, item counts and ``contains`` counting."""

from __future__ import annotations

from corral.compile.json_schema import layout
from corral.compile.json_schema.checks import count
from corral.compile.json_schema.dnf import Sub
from corral.compile.json_schema.vocab import MAX_COUNT
from corral.errors import SchemaError

__all__ = ["compile_array"]


def compile_array(b, node, pointer) -> str:
    """The nonterminal of the arrays ``node`` allows: one state per (position, items matching ``contains``)."""
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
    if node.get("uniqueItems", False) is True and (hi is None or hi > 1):
        raise SchemaError("uniqueItems is not context-free (only supported when at most one item is allowed)",
                          pointer=kp("uniqueItems"), keyword="uniqueItems", kind="unsupported")
    n = b.nt("array")
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
    cptr = kp("contains")
    choices: dict[int, list[tuple[str, int]]] = {}

    def options(j: int) -> list[tuple[str, int]]:  # (element nonterminal, contains increment) at position j
        key = j if j < k else k
        if key not in choices:
            sch, sp = slots[j] if j < k else rest
            if not split:
                opts = [(b.attempt(b.child, sch, sp), 0)]
            else:
                yes = Sub("all", [(sch, sp), (contains, cptr)])
                no = Sub("all", [(sch, sp), (Sub("not", [(contains, cptr)]), cptr)])
                opts = [(b.attempt(b.child, yes, sp), 1), (b.attempt(b.child, no, sp), 0)]
            choices[key] = [(sym, inc) for sym, inc in opts if sym is not None]
        return choices[key]

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
