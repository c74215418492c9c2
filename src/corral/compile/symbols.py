"""The symbols of the grammar IR: :class:`Terminal` (a named regex) and :class:`Rule` (a BNF production), and the
check every terminal's regex goes through when a grammar is built (:func:`regex_matches_empty`).

They sit below both :mod:`corral.compile.grammar` (the :class:`~corral.compile.grammar.Grammar` that holds them) and
:mod:`corral.compile.lark` (the front end that makes them), and are importable from either.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable

__all__ = ["Terminal", "Rule", "inline_flags", "regex_matches_empty", "REGEX_ERRORS", "clear_caches"]

# What ``re.compile`` raises for an invalid pattern (besides ``re.error``, for oversized or pathological ones).
REGEX_ERRORS = (re.error, ValueError, TypeError, OverflowError, RecursionError)


def inline_flags(pattern: str, flags: Iterable[str]) -> str:
    """``pattern`` with ``flags`` inlined as a scoped group, e.g. ``(?i:select)``; unchanged without flags."""
    flags = "".join(sorted(set(flags)))
    return f"(?{flags}:{pattern})" if flags else pattern


@dataclass(frozen=True)
class Terminal:
    """A named terminal: a Python regex (with flags) that one lexeme must match in full.

    Parameters
    ----------
    name : str
        The terminal's name (a key of :attr:`Grammar.terminals`).
    pattern : str
        Python ``re`` syntax. For a string literal this is ``re.escape(literal)``.
    flags : frozenset of str
        Regex flags among ``"i"``, ``"m"``, ``"s"``, ``"x"``, ``"u"``.
    literal : str or None
        The literal text when the terminal is a plain string (``"select"``); ``None`` for a regex. With the
        ``"i"`` flag the literal matches case-insensitively.
    priority : int
        Lark's terminal priority. It does not change the language (see the module docstring).
    """

    name: str
    pattern: str
    flags: frozenset[str] = frozenset()
    literal: str | None = None
    priority: int = 0

    def regex(self) -> str:
        """Return the pattern with its flags inlined, e.g. ``(?i:select)``.

        Returns
        -------
        str
            A Python regex usable with :func:`re.fullmatch`.
        """
        return inline_flags(self.pattern, self.flags)


@dataclass(frozen=True)
class Rule:
    """One BNF production ``lhs -> rhs``.

    Parameters
    ----------
    lhs : str
        The nonterminal being defined.
    rhs : tuple of str
        Symbol names; a name is a terminal iff it is a key of :attr:`Grammar.terminals`. May be empty.
    """

    lhs: str
    rhs: tuple[str, ...]


def regex_anchor(pattern: str, flags: Iterable[str] = ()) -> str | None:
    """The first position anchor (``^``, ``$``, ``\\A``, ``\\Z``) in a regex, or None (also for a pattern that does
    not parse: the regex compiler reports that). In a Lark terminal an anchor refers to the whole input text, not
    to the lexeme, so the Lark front end refuses it."""
    from re import _constants as C
    from re import _parser as P

    names = {C.AT_BEGINNING: "^", C.AT_BEGINNING_STRING: "\\A", C.AT_END: "$", C.AT_END_STRING: "\\Z"}
    try:
        stack = [P.parse(inline_flags(pattern, flags))]
    except REGEX_ERRORS:
        return None
    while stack:
        node = stack.pop()
        if isinstance(node, P.SubPattern):
            node = node.data
        if isinstance(node, (list, tuple)):
            if len(node) == 2 and node[0] is C.AT and node[1] in names:
                return names[node[1]]
            stack.extend(x for x in node if isinstance(x, (list, tuple, P.SubPattern)))
    return None


def regex_matches_empty(pattern: str, flags: Iterable[str]) -> bool:
    """Whether a terminal's regex matches the empty string.

    A pattern whose DFA was registered by a compiler (:func:`corral.automata.regex.register_dfa`) is answered from
    it, a plain literal (:func:`corral.automata.regex.literal_text`, always a valid regex) from its text; otherwise
    Python's ``re`` compiles it (memoised: schema grammars repeat large patterns).

    Parameters
    ----------
    pattern : str
        A Python regex.
    flags : iterable of str
        Its flags (``"i"``, ``"s"``, ...).

    Returns
    -------
    bool

    Raises
    ------
    re.error, ValueError, TypeError, OverflowError, RecursionError
        What ``re.compile`` raises for the pattern when it is invalid (one of :data:`REGEX_ERRORS`).
    """
    from corral.automata.regex import literal_text, registered_dfa

    fs = frozenset(flags)
    text = literal_text(pattern, fs)
    if text is not None:
        return text == ""
    dfa = registered_dfa(pattern, fs)
    if dfa is not None:
        return bool(dfa.accepting[0])
    try:
        return _empty_match_cached(pattern, fs)
    except _InvalidRegex:
        re.compile(inline_flags(pattern, flags))  # raises the error itself (it is not cached)
        raise


class _InvalidRegex(Exception):
    """Raised by ``_empty_match_cached`` for an invalid pattern (not cached by ``lru_cache``)."""


@functools.lru_cache(maxsize=4096)
def _empty_match_cached(pattern: str, flags: frozenset) -> bool:
    """``re.fullmatch(pattern, "")`` under ``flags``; :class:`_InvalidRegex` for an invalid pattern."""
    try:
        return re.compile(inline_flags(pattern, flags)).fullmatch("") is not None
    except REGEX_ERRORS:
        raise _InvalidRegex from None


def clear_caches() -> None:
    """Forget the memoised answers of :func:`regex_matches_empty` (recomputed on the next use)."""
    _empty_match_cached.cache_clear()
