"""Which terminal can follow which in a grammar: a cheap necessary condition on terminal sequences.

:func:`adjacency` computes, for a BNF grammar, the terminals that can start a sentence and, per terminal, the
terminals that can come right after it in some sentential form (the classical FIRST/FOLLOW fixpoint, extended to
terminals through each nonterminal's LAST set). A sequence with a pair outside the relation is in no sentence's
prefix, so :mod:`corral.testing.indent_oracle` drops it without asking lark's Earley parser.
"""

from __future__ import annotations

from corral.authoring.linting.analysis import nullable_symbols

__all__ = ["adjacency"]


def adjacency(rules, start: str, terminals) -> tuple[frozenset, dict]:
    """``(first, follow)``: the terminals a sentence can start with, and terminal -> the terminals that may follow.

    Parameters
    ----------
    rules : iterable of Rule or (lhs, rhs)
        Plain BNF rules.
    start : str
        The start symbol.
    terminals : container of str
        The terminal symbols (every other symbol is a nonterminal).
    """
    pairs = [(r[0], tuple(r[1])) if isinstance(r, tuple) else (r.lhs, r.rhs) for r in rules]
    nullable = nullable_symbols(pairs)
    first = _edge_sets(pairs, terminals, nullable, reverse=False)
    last = _edge_sets(pairs, terminals, nullable, reverse=True)
    follow_nt: dict = {}
    follow_t: dict = {}
    changed = True
    while changed:
        changed = False
        for lhs, rhs in pairs:
            for i, x in enumerate(rhs):
                after = _first_of(rhs[i + 1:], first, terminals, nullable)
                if all(s in nullable for s in rhs[i + 1:]):
                    after = after | follow_nt.get(lhs, frozenset())
                targets = [x] if x in terminals else list(last.get(x, ()))
                if x not in terminals:
                    changed |= _grow(follow_nt, x, after)
                for a in targets:
                    changed |= _grow(follow_t, a, after)
    start_first = first.get(start, frozenset()) if start not in terminals else frozenset([start])
    return start_first, follow_t


def _grow(table: dict, key, items: frozenset) -> bool:
    """``table[key] |= items``; whether it grew."""
    cur = table.get(key, frozenset())
    if items <= cur:
        return False
    table[key] = cur | items
    return True


def _edge_sets(pairs, terminals, nullable, *, reverse: bool) -> dict:
    """Per nonterminal, the terminals its sentences can start with (``reverse``: end with)."""
    sets: dict = {}
    changed = True
    while changed:
        changed = False
        for lhs, rhs in pairs:
            got = _first_of(rhs[::-1] if reverse else rhs, sets, terminals, nullable)
            changed |= _grow(sets, lhs, got)
    return sets


def _first_of(seq, sets, terminals, nullable) -> frozenset:
    """The terminals a sequence of symbols can start with (``sets``: per nonterminal)."""
    out: set = set()
    for s in seq:
        if s in terminals:
            out.add(s)
            break
        out |= sets.get(s, frozenset())
        if s not in nullable:
            break
    return frozenset(out)
