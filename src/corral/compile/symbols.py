"""The symbols of the grammar IR: :class:`Terminal` (a named regex) and :class:`Rule` (a BNF production).

They sit below both :mod:`corral.compile.grammar` (the :class:`~corral.compile.grammar.Grammar` that holds them) and
:mod:`corral.compile.lark` (the front end that makes them), and are importable from either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

__all__ = ["Terminal", "Rule", "inline_flags"]


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
