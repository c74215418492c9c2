"""The whitespace symbols of a grammar, for the unbounded-whitespace check: rules whose every string is whitespace,
the edges ``A -> B`` of ``A: a B b`` where ``a`` (or ``b``) is whitespace symbols only, and the whitespace terminals
below a rule."""

from __future__ import annotations

__all__ = ["whitespace_derivations", "whitespace_edges", "terminals_below"]


def terminals_below(rules, members: set[str], pure: set[str], ws_terms: set[str]) -> list[str]:
    """The whitespace terminals that the rules of ``members`` use, directly or through whitespace-only rules."""
    by_lhs: dict[str, list] = {}
    for lhs, rhs in rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    seen, stack, found = set(members), list(members), set()
    while stack:
        for rhs in by_lhs.get(stack.pop(), ()):
            for s in rhs:
                if s in ws_terms:
                    found.add(s)
                elif s in pure and s not in seen:
                    seen.add(s)
                    stack.append(s)
    return sorted(found)


def whitespace_derivations(rules, ws_terms: set[str]) -> tuple[set[str], set[str]]:
    """The whitespace symbols: whitespace terminals and rules whose every string is whitespace (possibly empty);
    and those of them that derive a non-empty string."""
    by_lhs: dict[str, list] = {}
    for lhs, rhs in rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    pure = set(ws_terms) | set(by_lhs)
    changed = True
    while changed:  # greatest fixpoint: drop rules with an alternative that is not all whitespace symbols
        changed = False
        for lhs in list(pure - ws_terms):
            if any(s not in pure for rhs in by_lhs[lhs] for s in rhs):
                pure.discard(lhs)
                changed = True
    some = set(ws_terms)
    changed = True
    while changed:
        changed = False
        for lhs in pure - some:
            if any(s in some for rhs in by_lhs[lhs] for s in rhs):
                some.add(lhs)
                changed = True
    return pure, some


def whitespace_edges(rules, maybe: set[str], some: set[str], reverse: bool):
    """Edges ``A -> B`` for ``A: a B b`` with ``a`` (``b`` when ``reverse``) whitespace-only, and the edges where it
    is non-empty."""
    edges: dict[str, set[str]] = {}
    pumping: set[tuple[str, str]] = set()
    for lhs, rhs in rules:
        seq = tuple(reversed(rhs)) if reverse else rhs
        grows = False
        for s in seq:
            edges.setdefault(lhs, set()).add(s)
            if grows:
                pumping.add((lhs, s))
            if s not in maybe:
                break
            grows = grows or s in some
    return edges, pumping
