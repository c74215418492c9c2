"""Indentation post-lexers: lark's ``Indenter`` (``PythonIndenter``) as a grammar option.

A Lark grammar for an indentation-sensitive language declares (``%declare``) two terminals that no regex
produces, ``_INDENT`` and ``_DEDENT``; lark's ``Indenter`` post-lexer inserts them after each newline lexeme, from the
indentation that follows it. corral implements that post-lexer in the matcher (:mod:`corral.runtime.indented`);
this module holds its description, :class:`Indentation`, and how a grammar gets one (:func:`resolve_postlex`).

Language with an indenter
-------------------------
A string is in the language iff it can be split into lexemes (any split, as for every grammar; see
:mod:`corral.compile.grammar`) such that

* every lexeme of the newline terminal or of an ignored terminal is *maximal*: the byte after it cannot continue
  it (lark's lexer takes the longest match of ``_NEWLINE: ( /\\r?\\n[\\t ]*/ | COMMENT )+``; for terminals without
  lazy quantifiers the two agree), so a newline lexeme takes the whole indentation after it;
* no ignored lexeme starts with a byte a newline lexeme can start with (lark's lexer tries the newline terminal
  first, so python.lark's ``# comment`` is always part of a newline lexeme and runs to the end of its line); the
  other terminals keep corral's any-split semantics, and
* the terminal sequence, with the ignored lexemes dropped, run through lark's ``Indenter`` algorithm, derives from
  the start rule. That algorithm: outside brackets (``open_parens`` / ``close_parens`` lexemes counted), a newline
  lexeme is passed on, followed by one ``_INDENT`` if the indentation after its last line break (spaces count 1,
  tabs ``tab_len``) is deeper than the top of the indentation stack (pushed), or by one ``_DEDENT`` per level popped
  until the top equals it (any other indentation rejects the text); inside brackets it is dropped. At the end of the
  text one ``_DEDENT`` is emitted per level left on the stack. A newline lexeme without a line break outside
  brackets (a comment at the very end of the text) and a closing bracket at depth 0 reject the text, as they make
  lark's ``Indenter`` fail.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

from corral.errors import ConfigurationError

__all__ = ["Indentation", "PYTHON_INDENTATION", "resolve_postlex"]


@dataclass(frozen=True)
class Indentation:
    """An indentation post-lexer, with the attributes of lark's ``Indenter`` (defaults: ``PythonIndenter``).

    Parameters
    ----------
    newline : str
        The newline terminal (lark's ``NL_type``), e.g. ``_NEWLINE: ( /\\r?\\n[\\t ]*/ | COMMENT )+``. From every
        point inside one of its lexemes, a line break followed by any number of spaces must complete it.
    indent, dedent : str
        The declared terminals the post-lexer inserts (``INDENT_type``, ``DEDENT_type``).
    open_parens, close_parens : tuple of str
        The terminals that open and close a bracket (``OPEN_PAREN_types``, ``CLOSE_PAREN_types``): newlines inside
        brackets are dropped. Names the grammar does not have are ignored.
    tab_len : int
        How many columns a tab counts for.
    """

    newline: str = "_NEWLINE"
    indent: str = "_INDENT"
    dedent: str = "_DEDENT"
    open_parens: tuple[str, ...] = ("LPAR", "LSQB", "LBRACE")
    close_parens: tuple[str, ...] = ("RPAR", "RSQB", "RBRACE")
    tab_len: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "open_parens", tuple(self.open_parens))
        object.__setattr__(self, "close_parens", tuple(self.close_parens))
        if not isinstance(self.tab_len, int) or self.tab_len <= 0:
            raise ConfigurationError(f"Indentation.tab_len must be a positive int, got {self.tab_len!r}")

    @property
    def declared(self) -> tuple[str, str]:
        """The two terminals the post-lexer produces (``indent``, ``dedent``)."""
        return (self.indent, self.dedent)

    @classmethod
    def from_lark(cls, indenter) -> "Indentation":
        """The description of a lark ``Indenter`` subclass or instance (e.g. ``lark.indenter.PythonIndenter()``)."""
        return cls(str(indenter.NL_type), str(indenter.INDENT_type), str(indenter.DEDENT_type),
                   tuple(indenter.OPEN_PAREN_types), tuple(indenter.CLOSE_PAREN_types), int(indenter.tab_len))


PYTHON_INDENTATION = Indentation()
"""lark's ``PythonIndenter``: ``_NEWLINE``, ``_INDENT``/``_DEDENT``, brackets ``LPAR LSQB LBRACE`` and their
closers, tabs of 8."""

# The newline terminal names "auto" recognises (lark's python.lark, and the indented-tree example's and syncode's).
_AUTO_NEWLINES = ("_NEWLINE", "_NL")


def resolve_postlex(postlex, declared: Iterable[str], terminals: Iterable[str]) -> Indentation | None:
    """The indentation post-lexer a grammar gets from the ``postlex=`` argument of ``Grammar.from_lark``.

    Parameters
    ----------
    postlex : "auto", "python", None, Indentation, or a lark ``Indenter`` (class or instance)
        ``"auto"``: lark's ``PythonIndenter`` when the grammar declares exactly ``_INDENT`` and ``_DEDENT`` and has
        a newline terminal ``_NEWLINE`` (or else ``_NL``), no post-lexer otherwise. ``"python"``:
        ``PythonIndenter`` (newline ``_NEWLINE``). ``None``: no post-lexer.
    declared : iterable of str
        The names the grammar declares (``%declare``).
    terminals : iterable of str
        The grammar's terminal names.

    Returns
    -------
    Indentation or None
        The post-lexer's description, or ``None`` for none (the caller checks it covers the declared names).

    Raises
    ------
    ConfigurationError
        ``postlex`` is none of the above.
    """
    if postlex is None or isinstance(postlex, Indentation):
        return postlex
    if isinstance(postlex, str):
        if postlex == "python":
            return PYTHON_INDENTATION
        if postlex == "auto":
            return _auto(set(declared), set(terminals))
        raise ConfigurationError(f"postlex must be 'auto', 'python', None, an Indentation or a lark Indenter, "
                                 f"got {postlex!r}")
    if all(hasattr(postlex, a) for a in ("NL_type", "INDENT_type", "DEDENT_type", "tab_len")):
        return Indentation.from_lark(postlex)
    raise ConfigurationError(f"postlex must be 'auto', 'python', None, an Indentation or a lark Indenter, "
                             f"got {type(postlex).__name__}")


def _auto(declared: set, terminals: set) -> Indentation | None:
    """``PythonIndenter`` (with the newline terminal the grammar has) for ``%declare _INDENT _DEDENT``."""
    if declared != set(PYTHON_INDENTATION.declared):
        return None
    for name in _AUTO_NEWLINES:
        if name in terminals:
            return dataclasses.replace(PYTHON_INDENTATION, newline=name)
    return None
