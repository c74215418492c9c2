"""Lark front end: Lark grammar text -> IR symbols (:class:`~corral.compile.symbols.Rule`,
:class:`~corral.compile.symbols.Terminal`), from which :meth:`corral.compile.grammar.Grammar.from_lark` and
:func:`corral.compile.grammar.load_lark_file` build a :class:`~corral.compile.grammar.Grammar`; and back
(:func:`format_lark_text`, the text :meth:`~corral.compile.grammar.Grammar.to_lark` prints).

The text is parsed and expanded by the installed ``lark`` package's own loader (``lark.load_grammar``), so every
Lark feature it implements is supported exactly as Lark does it: rules, terminals, string and regex literals with
flags, ``?`` ``*`` ``+`` ``[]``, ranges ``x~n`` and ``x~n..m``, templates, ``%import`` (including Lark's own
``common.lark``), ``%ignore``, ``%override`` and ``%extend``. ``%declare`` is accepted only for the terminals
of an indentation post-lexer (``_INDENT``/``_DEDENT``, see :mod:`corral.compile.indentation`):
:func:`parse_lark_grammar` returns the declared names, :func:`parse_lark_text` rejects them.

Every error becomes a :class:`corral.errors.GrammarError` with ``line`` and ``column`` where they can be found
(chained from the original exception; :mod:`corral.compile.lark_errors`, which finds them with
:mod:`corral.compile.lark_locate`); no lark exception escapes. Printing symbols back as Lark text is
:mod:`corral.compile.lark_format`; the names this module has always offered from there are importable here too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from corral.compile.lark_errors import MAX_BACKSLASH_RUN  # noqa: F401 - importable here, as before
from corral.compile.lark_errors import declare_error, refuse_backslash_runs, translate_lark_error
from corral.compile.lark_format import format_lark_text, lark_names, lark_terminal_body
from corral.compile.lark_locate import locate_definition, locate_symbol, locate_terminal
from corral.compile.symbols import Rule, Terminal
from corral.errors import GrammarError

__all__ = [
    "parse_lark_text",
    "parse_lark_grammar",
    "declare_error",
    "format_lark_text",
    "lark_names",
    "lark_terminal_body",
    "locate_symbol",
    "locate_definition",
    "locate_terminal",
    "rewrite_lark_idioms",
    "terminal_from_lark",
]


def parse_lark_text(
    text: str,
    *,
    start: str = "start",
    source_name: str | None = None,
    import_paths: Sequence[str | Path] = (),
) -> tuple[list[Rule], dict[str, Terminal], tuple[str, ...]]:
    """Parse Lark text with lark's loader and convert the expanded BNF into IR symbols (no DFA check).

    :meth:`corral.compile.grammar.Grammar.from_lark` builds the grammar from them.

    Parameters
    ----------
    text : str
        The Lark grammar.
    start : str
        The start rule.
    source_name : str, optional
        The file name; relative imports resolve against its folder.
    import_paths : sequence of str or Path
        Extra folders for ``%import``.

    Returns
    -------
    tuple
        ``(rules, terminals, ignore)``: the BNF rules, the terminals by name and the ignored terminal names.

    Raises
    ------
    GrammarError
        On any problem, with ``line``/``column`` where known.
    """
    rules, terminals, ignore, declared = parse_lark_grammar(text, start=start, source_name=source_name,
                                                           import_paths=import_paths)
    if declared:
        raise declare_error(text, declared, source_name)
    return rules, terminals, ignore


def parse_lark_grammar(
    text: str,
    *,
    start: str = "start",
    source_name: str | None = None,
    import_paths: Sequence[str | Path] = (),
) -> tuple[list[Rule], dict[str, Terminal], tuple[str, ...], tuple[str, ...]]:
    """Like :func:`parse_lark_text`, but the names a ``%declare`` introduces are returned instead of rejected.

    Returns
    -------
    tuple
        ``(rules, terminals, ignore, declared)``: as :func:`parse_lark_text`, and the declared names (rules may
        use them; a post-lexer must produce them).

    Raises
    ------
    GrammarError
        On any problem, with ``line``/``column`` where known.
    """
    if not isinstance(text, str):
        raise GrammarError(f"a Lark grammar must be a str, not {type(text).__name__}")
    refuse_backslash_runs(text, source_name)
    terms, rules, ignore, declared = _load(text, start, source_name, import_paths)
    terminals = {str(t.name): terminal_from_lark(t) for t in terms}
    ir_rules = [Rule(str(r.origin.name), tuple(str(s.name) for s in r.expansion)) for r in rules]
    return ir_rules, terminals, tuple(str(n) for n in ignore), declared


def _load(text: str, start: str, source_name: str | None, import_paths: Sequence[str | Path]):
    """:func:`_run_lark`, with every failure as a GrammarError (lark's through
    :func:`~corral.compile.lark_errors.translate_lark_error`)."""
    try:
        return _run_lark(text, start, source_name, import_paths)
    except GrammarError:
        raise
    except RecursionError as exc:
        raise GrammarError("grammar is too deeply nested for lark's loader", source_name=source_name) from exc
    except Exception as exc:  # every lark failure (and anything else) becomes a GrammarError
        raise translate_lark_error(exc, text, source_name) from exc


def _run_lark(text: str, start: str, source_name: str | None, import_paths: Sequence[str | Path]):
    """Run lark's loader on ``text`` for the rule ``start``: ``(terminal defs, rules, ignored names, declared
    names)``; GrammarError for a declared rule or an undefined start rule."""
    from lark.load_grammar import load_grammar

    lark_source = source_name if source_name else "<grammar>"
    lark_grammar, _used = load_grammar(text, lark_source, [str(p) for p in import_paths], False)
    declared = tuple(str(name) for name, (tree, _prio) in lark_grammar.term_defs if tree is None)
    declared_rules = [str(name) for name, _params, tree, _opts in lark_grammar.rule_defs if tree is None]
    if declared_rules:
        raise declare_error(text, declared + tuple(declared_rules), source_name)
    rule_names = [str(name) for name, _params, _tree, _opts in lark_grammar.rule_defs]
    if start not in rule_names:
        shown = ", ".join(n for n in rule_names if "__" not in n[1:])
        raise GrammarError(f"the start rule {start!r} is not defined (rules: {shown or 'none'})",
                           source_name=source_name)
    return (*lark_grammar.compile([start], set()), declared)


def terminal_from_lark(t) -> Terminal:
    """A lark ``TerminalDef`` as a corral :class:`~corral.compile.symbols.Terminal`: a string literal escaped (and
    kept as the literal), a regex with lark's idioms rewritten (:func:`rewrite_lark_idioms`)."""
    from lark.lexer import PatternStr

    pat, name = t.pattern, str(t.name)
    flags = frozenset(str(f) for f in pat.flags)
    if isinstance(pat, PatternStr):
        return Terminal(name, re.escape(str(pat.value)), flags, str(pat.value), int(t.priority))
    return Terminal(name, rewrite_lark_idioms(str(pat.value), flags), flags, None, int(t.priority))


# Lark's string idiom `D.*?(?<!\\)(\\\\)*?D` (common.ESCAPED_STRING, python's STRING): lazy, so lark's lexer ends
# the lexeme at the first unescaped delimiter D. An optional `(?!DD)` (no triple quotes) may follow the opening D.
_LAZY_STRING = re.compile(r"""(?P<d>["'])(?:\(\?!(?P=d)(?P=d)\))?\.\*\?\(\?<!\\\\\)\(\\\\\\\\\)\*\?(?P=d)""")
# The same idiom with a greedy `.*`, preceded by any character except a backslash.
_GREEDY_TAIL = re.compile(r"""(?<=[^\\])\.\*\(\?<!\\\\\)\(\\\\\\\\\)\*\??""")
# Lark's common.C_COMMENT: lazy, so the comment ends at the first */.
_C_COMMENT = "/\\*(.|\n)*?\\*/"
_C_COMMENT_EXACT = r"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/"


def rewrite_lark_idioms(pattern: str, flags: frozenset[str] = frozenset()) -> str:
    r"""Replace lark's lookbehind/lazy string and comment idioms by equivalent plain regexes.

    Under corral's semantics a lexeme must *fully* match its terminal, so lazy quantifiers mean nothing (the
    lookarounds themselves compile exactly). Lark's own terminals rely on laziness: ``ESCAPED_STRING`` is
    ``".*?(?<!\\)(\\\\)*?"``, which lark's lexer ends at the first unescaped quote. This rewrites:

    * ``D.*?(?<!\\)(\\\\)*?D`` (``D`` a quote, optionally with ``(?!DD)`` after the opening one) into
      ``D(?:[^D\\\n]|\\.)*D``: exactly the lexemes lark's lexer produces;
    * ``.*(?<!\\)(\\\\)*`` after a non-backslash character into ``(?:.*[^\\\n])?(?:\\\\)*`` (the same
      full-match language);
    * lark's ``C_COMMENT`` ``/\*(.|\n)*?\*/`` into a comment that ends at the first ``*/``.

    Other patterns are returned unchanged.

    Parameters
    ----------
    pattern : str
        A terminal's regex as lark produced it.
    flags : frozenset of str
        Its flags (nothing is rewritten under ``s`` or ``x``).

    Returns
    -------
    str
    """
    if "s" in flags or "x" in flags:
        return pattern
    if pattern == _C_COMMENT:
        return _C_COMMENT_EXACT
    if "(?<!" not in pattern:
        return pattern

    def lazy(m: re.Match) -> str:
        d = m.group("d")
        return d + r"(?:[^" + d + r"\\\n]|\\.)*" + d

    pattern = _LAZY_STRING.sub(lazy, pattern)
    return _GREEDY_TAIL.sub(lambda m: r"(?:.*[^\\\n])?(?:\\\\)*", pattern)
