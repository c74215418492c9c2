"""Digit automata as grammar rules: a product table over a few ASCII symbols (digits, ``-``, ``.``), minimised and
emitted as a right-linear grammar (one nonterminal per state, one rule per transition). The integer remainder
automaton of :mod:`~corral.compile.json_schema.numbers` and the decimal one of
:mod:`~corral.compile.json_schema.decimal_multiples` both end here."""

from __future__ import annotations

import numpy as np

from corral.automata.bytedfa import minimize_tables

__all__ = ["char_class", "table_rules"]


def char_class(chars: list[int]) -> str:
    """A regex character class for the ASCII bytes ``chars`` (the character itself, escaped, for one)."""
    if len(chars) == 1:
        c = chr(chars[0])
        return "\\" + c if c in "-.\\[]^" else c
    return "[" + "".join("\\" + chr(c) if chr(c) in "-\\[]^" else chr(c) for c in chars) + "]"


def table_rules(b, table: list[list[int]], final, symbols: list[int], prefix: str) -> str | None:
    """The nonterminal of state 0 of the automaton ``table`` (rows: states, columns: ``symbols``, -1: no move;
    ``final``: accepting states), minimised and emitted through the builder ``b`` (None: the language is empty).

    Parameters
    ----------
    b : Builder
        Gives fresh nonterminals (``b.nt(prefix)``), terminals (``b.term``) and rules (``b.rule``).
    table : list of list of int
    final : array of bool
    symbols : list of int
        The byte of each column.
    prefix : str
        The nonterminals' name prefix.
    """
    t, a = minimize_tables(np.array(table, dtype=np.int64), np.asarray(final, dtype=bool))
    if not a.any():
        return None
    names = [b.nt(prefix) for _ in range(len(a))]
    for j in range(len(a)):
        if a[j]:
            b.rule(names[j])
        targets: dict[int, list[int]] = {}
        for c, nxt in enumerate(t[j].tolist()):
            if nxt >= 0:
                targets.setdefault(nxt, []).append(symbols[c])
        for nxt, chars in targets.items():
            b.rule(names[j], b.term(char_class(chars)), names[nxt])
    return names[0]
