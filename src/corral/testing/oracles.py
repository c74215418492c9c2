"""Membership oracles from lark's Earley parser (``lexer="dynamic_complete"``, the language semantics corral
implements), to check a constraint's ``is_complete()`` against. lark is imported on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    import lark

    from corral.compile.grammar import Grammar


def lark_oracle(grammar: Grammar | str, *, start: str | None = None) -> Callable[[str], bool]:
    """A membership oracle from lark's Earley parser, with the language semantics corral implements.

    Parameters
    ----------
    grammar : Grammar or str
        A grammar (printed with :meth:`Grammar.to_lark`) or Lark text.
    start : str, optional
        The start rule; default: the grammar's (``"start"`` for text).

    Returns
    -------
    callable
        ``oracle(text) -> bool``: whether ``text`` is in the language. Its ``parser`` attribute is the
        ``lark.Lark`` instance (``parser="earley", lexer="dynamic_complete"``).
    """
    import lark

    if isinstance(grammar, str):
        text, start = grammar, start or "start"
    else:
        text, start = grammar.to_lark(), start or grammar.start
    parser = lark.Lark(text, parser="earley", lexer="dynamic_complete", start=start)

    def oracle(s: str) -> bool:
        return lark_accepts(parser, s)

    oracle.parser = parser
    return oracle


def lark_accepts(parser: lark.Lark, text: str) -> bool:
    """Whether a ``lark.Lark`` parser parses ``text`` (any ``LarkError`` counts as a rejection).

    Parameters
    ----------
    parser : lark.Lark
    text : str

    Returns
    -------
    bool
    """
    import lark

    try:
        parser.parse(text)
        return True
    except lark.exceptions.LarkError:
        return False
