"""Follow guards: terminals whose lookahead reaches past the end of their lexemes.

In lark a terminal's regex is matched against the whole input at a position, so a lookahead still undecided at
the end of a lexeme tests the text after it: ``[?](?![a-z])`` is a ``?`` not followed by a letter. The regex
compiler splits such a terminal's lexemes by what must follow them
(:func:`corral.automata.lexemes.lexeme_dfas`): each requirement is a *guard*, a set of allowed next bytes (the end
of the text being allowed too). Here (:func:`plan_guards`):

* a terminal ``T`` keeps its unguarded lexemes, and each guarded part becomes an extra terminal ``T~k``, an alias
  that the Earley columns scan as ``T`` (:attr:`corral.runtime.earley.EarleyTables.aliases`); an ignored
  terminal's guarded parts become extra ignored terminals;
* scanning a guarded part gives a :class:`~corral.runtime.earley.GuardedColumn`, where every lexeme starts in a
  guarded start state: one extra DFA state per guard and terminal, the start state's row restricted to the allowed
  bytes. Everything else (token tables, masks, checks) runs these DFA states as any other.

Exactness of masks needs one more thing: a guard may leave the parser with no way on (``a(?!b)`` before a
terminal that always starts with ``b``), so a lexeme must only start where its end can lead to a complete text.
:class:`corral.runtime.reach.Reach` decides that exactly from the Earley items and the guards (the seeds of a column,
:attr:`corral.runtime.earley.Column.seeds`, keep only such lexemes). Guards must allow the end of the text:
positive lookaheads past the lexeme are refused (GrammarError naming the terminal), as is any guard under a
matcher with its own lexing (the indentation post-lexer's). Grammars with guards use the Python matcher (the
compiled engine has no guards).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from corral.automata.bytedfa import ByteDFA
from corral.errors import GrammarError, RegexError

__all__ = ["GuardPlan", "plan_guards", "install"]

@dataclass
class GuardPlan:
    """The terminals of a grammar with follow guards: ``names`` (the terminal symbols, then the guarded parts
    ``T~k``), ``ignored`` (likewise), ``dfas`` and ``keys`` (per terminal id, each DFA with one extra start state
    per guard), ``aliases`` (part id -> the terminal id it stands for), ``guard_of`` (terminal id -> index into
    ``guards``) and ``starts`` (terminal id -> its start state under each guard, then unguarded; ``-1``: none)."""

    names: list
    ignored: list
    dfas: list
    keys: list
    guards: list
    aliases: dict = field(default_factory=dict)
    guard_of: dict = field(default_factory=dict)
    starts: dict = field(default_factory=dict)


def _parts(grammar, name: str):
    """The lexeme DFAs of terminal ``name`` split by guard, or ``None`` when it has no guard (GrammarError for a
    lookaround the runtime cannot follow)."""
    from corral.automata.lexemes import lexeme_dfas, may_assert

    term = grammar.terminals.get(name)
    if term is None or term.literal is not None or not may_assert(term.pattern, term.flags):
        return None
    try:
        parts = lexeme_dfas(term.pattern, term.flags)
    except RegexError as exc:
        if exc.construct == "size":
            raise grammar.too_complex(name, str(exc)) from None
        raise grammar._error(f"terminal {name!r} uses an unsupported regex: {exc}", terminal=name) from None
    if len(parts) == 1 and parts[0][0] is None:
        return None
    for guard, _ in parts:
        if guard is not None and not guard.end_ok:
            raise grammar._error(f"terminal {name!r} has lexemes that must be {guard.describe()} (a positive "
                                 "lookahead past the end of the lexeme): not supported", terminal=name)
    return parts


def _split(names: list, dfas: list, keys: list, parts: dict, guards: list):
    """The names, DFAs, keys of one list of terminals with the guarded parts appended, and ``(part index in the
    list, original index, guard index)`` for each part."""
    names, dfas, keys, extra = list(names), list(dfas), list(keys), []
    for i in list(parts):
        free = [d for g, d in parts[i] if g is None]
        original = names[i]
        dfas[i] = free[0] if free else ByteDFA.empty(f"<{original}: no unguarded lexeme>")
        keys[i] = ((keys[i][0], "unguarded"), keys[i][1])
        for g, d in parts[i]:
            if g is not None:
                extra.append((len(names), i, guards.index(g)))
                names.append(f"{original}~{guards.index(g)}")
                dfas.append(d)
                keys.append(((keys[i][0][0], "guard", g), keys[i][1]))
    return names, dfas, keys, extra


def _extend(dfa: ByteDFA, guards: list) -> tuple[ByteDFA, tuple]:
    """``dfa`` with one start state per guard appended (the start row restricted to the allowed bytes), and its
    start states under each guard then unguarded (``-1`` where no lexeme can start)."""
    t = dfa.transitions
    rows = [np.where(g.array, t[0], -1) for g in guards]
    n = t.shape[0]
    starts = tuple(n + k if (row >= 0).any() else -1 for k, row in enumerate(rows)) + ((0 if (t[0] >= 0).any()
                                                                                         else -1),)
    table = np.vstack([t] + rows)
    acc = np.concatenate([dfa.accepting, np.zeros(len(guards), dtype=bool)])
    return ByteDFA(table, acc, dfa.pattern), starts


def plan_guards(grammar, names: list, dfas: list, keys: list, *, supported: bool = True) -> GuardPlan | None:
    """The terminals of ``grammar`` with follow guards split out (see the module docstring), from the plain
    ``names`` and the ``dfas`` and cache ``keys`` of ``names`` then of the ignored terminals; ``None`` when no
    terminal has a guard. GrammarError for a lookaround the runtime cannot follow exactly, and for any guard when
    not ``supported`` (a matcher with its own lexing, such as the indentation post-lexer's)."""
    n = len(names)
    ignored = list(grammar.ignore)
    parts = {i: p for i, name in enumerate(names + ignored) if (p := _parts(grammar, name)) is not None}
    if not parts:
        return None
    if not supported:
        name = (names + ignored)[min(parts)]
        raise grammar._error(f"terminal {name!r} has a lookahead past the end of its lexemes, which this matcher "
                             "(with a post-lexer) does not support", terminal=name)
    guards = list(dict.fromkeys(g for p in parts.values() for g, _ in p if g is not None))
    tn, td, tk, t_extra = _split(names, dfas[:n], keys[:n], {i: p for i, p in parts.items() if i < n}, guards)
    ig, idf, ik, i_extra = _split(ignored, dfas[n:], keys[n:], {i - n: p for i, p in parts.items() if i >= n},
                                  guards)
    plan = GuardPlan(tn, ig, [], [], guards)
    plan.aliases = {j: i for j, i, _ in t_extra}
    plan.guard_of = {j: k for j, _, k in t_extra} | {len(tn) + j: k for j, _, k in i_extra}
    for t, (dfa, key) in enumerate(zip(td + idf, tk + ik)):
        ext, plan.starts[t] = _extend(dfa, guards)
        plan.dfas.append(ext)
        plan.keys.append(((key[0], "follow guards", tuple(guards)), key[1]))  # (pattern, flags) keys
    return plan


def install(plan: GuardPlan, tables) -> None:
    """Give the Earley ``tables`` the plan's aliases, guards, start states and
    :class:`~corral.runtime.reach.Reach` (before any column is built); GrammarError when the guards leave the
    language empty."""
    from corral.runtime.reach import Reach

    tables.aliases = dict(plan.aliases)
    tables.guard_of = dict(plan.guard_of)
    tables.guards = list(plan.guards)
    tables.starts = dict(plan.starts)
    tables.reach = Reach(plan, tables)
    initial = tables.initial
    if not initial.complete and not initial.seeds:
        raise GrammarError(f"the grammar's language is empty: the lookaheads past the end of lexemes of "
                           f"{', '.join(sorted({n.split('~')[0] for n in plan.names if '~' in n}))} rule out "
                           "every string", kind="empty_language")
