"""The checks of a grammar's terminals: their definitions when a :class:`~corral.compile.grammar.Grammar` is
normalized (:func:`check_terminal_definitions`), position anchors refused in Lark grammars (:func:`refuse_anchors`),
and the compilation of every terminal to a byte DFA (:func:`compile_terminals`, the body of
:meth:`~corral.compile.grammar.Grammar.check_terminals`).

Each takes the grammar ``g`` and raises through its ``_error`` (or ``too_complex``), so that the errors carry the
line and column of the terminal in the grammar's Lark text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.budget import BudgetExceeded, checkpoint
from corral.compile.symbols import REGEX_ERRORS, Terminal, regex_anchor, regex_matches_empty
from corral.errors import GrammarError, RegexError

if TYPE_CHECKING:  # pragma: no cover
    from corral.automata.bytedfa import ByteDFA

__all__ = ["check_terminal_definitions", "refuse_anchors", "compile_terminals"]

_FLAG_CHARS = "imsxu"


def check_terminal_definitions(g) -> None:
    """GrammarError for a terminal of ``g`` that is not a :class:`Terminal` under its own name, has unsupported
    regex flags or an invalid regex, or matches the empty string (unless ``g.allow_nullable_terminals``)."""
    for key, term in g.terminals.items():
        checkpoint()
        if not isinstance(term, Terminal) or term.name != key:
            raise GrammarError(f"terminals[{key!r}] must be a Terminal named {key!r}")
        bad = set(term.flags) - set(_FLAG_CHARS)
        if bad:
            raise g._error(f"terminal {key!r} has unsupported regex flags {sorted(bad)}", terminal=key)
        try:
            nullable = regex_matches_empty(term.pattern, term.flags)
        except REGEX_ERRORS as exc:
            raise g._error(f"terminal {key!r} has an invalid regex {term.pattern!r}: {exc}",
                           terminal=key) from exc
        if nullable and not g.allow_nullable_terminals:
            raise g._error(f"terminal {key!r} matches the empty string", terminal=key)


def refuse_anchors(g) -> None:
    """GrammarError for a terminal with a position anchor: lark matches terminals against the whole input, so
    ``/..$/`` only matches at the end of the text, a meaning a token-level terminal cannot carry."""
    for name, term in g.terminals.items():
        anchor = regex_anchor(term.pattern, term.flags) if term.literal is None else None
        if anchor is not None:
            raise g._error(f"terminal {name!r} uses the anchor {anchor}, which in Lark refers to the whole "
                           "input rather than the lexeme: not supported (a terminal always matches whole "
                           "lexemes, so an anchor at its ends can be dropped)", terminal=name)


def compile_terminals(g) -> "dict[str, ByteDFA] | None":
    """The byte DFA of every terminal of ``g`` (cached on the grammar), or ``None`` when the regex compiler is not
    installed (see :meth:`corral.compile.grammar.Grammar.check_terminals`)."""
    try:
        from corral.automata.regex import compile_regex
    except ImportError as exc:  # the regex compiler is optional for this check
        if getattr(exc, "name", None) not in (None, "corral.automata.regex", "corral.automata"):
            raise
        return None
    out = {}
    for name, term in g.terminals.items():
        dfa = g._dfa_cache.get(term)
        if dfa is None:
            checkpoint()
            dfa = _checked_dfa(g, name, term, compile_regex)
            g._dfa_cache[term] = dfa
        out[name] = dfa
    return out


def _checked_dfa(g, name: str, term: Terminal, compile_regex) -> "ByteDFA":
    """The DFA of the terminal ``name``; an error where it runs past the compile budget, uses an unsupported regex
    construct, has an empty language, or matches the empty string."""
    try:
        dfa = compile_regex(term.pattern, term.flags)
    except BudgetExceeded as exc:
        raise g.too_complex(name, exc.what) from None
    except RegexError as exc:
        if exc.construct == "size":
            raise g.too_complex(name, str(exc)) from None
        raise g._error(f"terminal {name!r} uses an unsupported regex: {exc}", terminal=name) from exc
    if dfa.is_empty:
        raise g._error(f"terminal {name!r} matches nothing (its language is empty)", terminal=name,
                       kind="empty_language")
    if bool(dfa.accepting[0]) and not g.allow_nullable_terminals:
        raise g._error(f"terminal {name!r} matches the empty string", terminal=name)
    return dfa
