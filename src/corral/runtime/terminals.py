"""The byte DFAs of a grammar's terminals, as :class:`~corral.runtime.matcher.CompiledGrammar` needs them."""

from __future__ import annotations

from corral.budget import BudgetExceeded, checkpoint
from corral.errors import GrammarError, RegexError

__all__ = ["terminal_dfas"]


def terminal_dfas(grammar, names: list[str]) -> tuple[list, list]:
    """The byte DFA of every terminal in ``names`` then of the ignored ones, and each one's token-table cache key.

    Raises GrammarError for a terminal that matches nothing, or the empty string where the grammar does not allow
    it; past the compile budget (time or states), the grammar's ``too_complex`` error for that terminal
    (:meth:`~corral.compile.grammar.Grammar.too_complex`).
    """
    from corral.automata.operations import without_empty_string
    from corral.automata.regex import compile_regex

    dfas, cache_keys = [], []
    for name in names + list(grammar.ignore):
        term = grammar.terminals[name]
        try:
            checkpoint()
            dfa = compile_regex(term.pattern, term.flags)
        except BudgetExceeded as exc:
            raise grammar.too_complex(name, exc.what) from None
        except RegexError as exc:
            if exc.construct == "size":
                raise grammar.too_complex(name, str(exc)) from None
            raise
        if dfa.is_empty:
            raise GrammarError(f"terminal {name} matches no string")
        key = (term.pattern, term.flags)
        if bool(dfa.accepting[0]):
            if not getattr(grammar, "allow_nullable_terminals", False):
                raise GrammarError(f"terminal {name} matches the empty string, which is not supported")
            dfa = without_empty_string(dfa)  # the grammar spells the empty match out (Grammar.from_regex)
            key = ((term.pattern, "non-empty"), term.flags)
        dfas.append(dfa)
        cache_keys.append(key)
    return dfas, cache_keys
