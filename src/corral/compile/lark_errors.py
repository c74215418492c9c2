"""Errors of the Lark front end: every failure of lark's grammar loader translated into a
:class:`~corral.errors.GrammarError` with the line and column of the problem where they can be found
(:func:`translate_lark_error`), the error for ``%declare`` without a post-lexer (:func:`declare_error`), and the
guard against the backslash runs on which lark's grammar reader takes exponential time
(:func:`refuse_backslash_runs`).
"""

from __future__ import annotations

import re
from typing import Sequence

from corral.compile.lark_locate import (line_col, locate_declare, locate_definition, locate_import,
                                        locate_symbol)
from corral.errors import GrammarError

__all__ = ["declare_error", "refuse_backslash_runs", "translate_lark_error", "MAX_BACKSLASH_RUN"]

_DECLARE_MESSAGE = "declared terminals need a postlexer, which is not supported"


def declare_error(text: str | None, declared: Sequence[str], source_name: str | None = None) -> GrammarError:
    """The error for declared names (``%declare``) that no post-lexer produces, at the ``%declare`` line."""
    loc = locate_declare(text, list(declared)) if text else None
    if set(declared) <= {"_INDENT", "_DEDENT"}:
        hint = ("; the indentation post-lexer (postlex='auto') needs a newline terminal _NEWLINE or _NL, or pass "
                "postlex=corral.compile.indentation.Indentation(newline=...)")
    else:
        hint = "; only the indentation post-lexer's _INDENT and _DEDENT are supported"
    return GrammarError(f"{_DECLARE_MESSAGE} (%declare {' '.join(declared)}){hint}",
                        line=loc[0] if loc else None, column=loc[1] if loc else None, source_name=source_name)


# lark's grammar reader matches string and regex literals with a regex that backtracks exponentially over a run of
# backslashes in a literal that does not end (0.05 s for 24 of them, minutes for 40): longer runs are refused.
MAX_BACKSLASH_RUN = 24
_BACKSLASH_RUN = re.compile(r"\\{%d,}" % (MAX_BACKSLASH_RUN + 1))


def refuse_backslash_runs(text: str, source_name: str | None) -> None:
    """GrammarError (with its line and column) for a run of more than :data:`MAX_BACKSLASH_RUN` backslashes."""
    m = _BACKSLASH_RUN.search(text)
    if m is not None:
        line, column = line_col(text, m.start())
        raise GrammarError(f"a run of {len(m.group())} backslashes: lark's grammar reader takes exponential time on "
                           f"long runs, so at most {MAX_BACKSLASH_RUN} in a row are accepted (write a repeated "
                           "escape as a group, e.g. (?:\\\\){20})", line=line, column=column,
                           source_name=source_name)


_LINE_COL = re.compile(r"line (\d+),? column (\d+)")


def translate_lark_error(exc: BaseException, text: str, source_name: str | None) -> GrammarError:
    """The GrammarError for an exception raised while lark's loader read ``text``: a syntax error, an ``%import``
    whose file is missing, or any other loader error, at its line and column where they can be found."""
    from lark.exceptions import UnexpectedInput

    if isinstance(exc, UnexpectedInput):
        return _syntax_error(exc, source_name)
    if isinstance(exc, OSError):
        return _import_error(exc, text, source_name)
    return _loader_error(exc, text, source_name)


def _syntax_error(exc: BaseException, source_name: str | None) -> GrammarError:
    """A syntax error of lark's grammar parser, at the line and column it reports (when they are valid)."""
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    if not isinstance(line, int) or line < 1:
        line = column = None
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    message = f"syntax error in the grammar: {first}"
    return GrammarError(message, line=line, column=column, source_name=source_name)


def _import_error(exc: OSError, text: str, source_name: str | None) -> GrammarError:
    """An ``%import`` whose grammar file was not found, at the ``%import`` that names it."""
    module = getattr(exc, "filename", None) or str(exc)
    module = str(module)
    stem = module[:-5] if module.endswith(".lark") else module
    dotted = stem.replace("/", ".").replace("\\", ".")
    loc = locate_import(text, dotted)
    return GrammarError(f"cannot import grammar {dotted!r}: file not found (searched the import paths, the "
                        "grammar's folder and lark's own grammars)",
                        line=loc[0] if loc else None, column=loc[1] if loc else None, source_name=source_name)


def _loader_error(exc: BaseException, text: str, source_name: str | None) -> GrammarError:
    """Any other loader error: the first paragraph of its message, at the line and column the message gives
    (taken out of it), else where the names it quotes are found."""
    from lark.exceptions import LarkError

    line = column = None
    raw = str(exc.args[0]) if isinstance(exc, LarkError) and exc.args else str(exc)
    if isinstance(exc, LarkError) and len(exc.args) > 1 and isinstance(exc.args[1], Exception):
        raw = f"bad literal {exc.args[0]!r} ({exc.args[1]})"
    message = raw.split("\n\n")[0].strip() or type(exc).__name__
    m = _LINE_COL.search(message)
    if m:
        line, column = int(m.group(1)), int(m.group(2))
        message = _without_location(message, text, line, column)
    else:
        loc = _locate_from_message(text, message)
        if loc:
            line, column = loc
    if not isinstance(exc, LarkError):
        message = f"lark could not load the grammar ({type(exc).__name__}): {message}"
    return GrammarError(message, line=line, column=column, source_name=source_name)


def _without_location(message: str, text: str, line: int, column: int) -> str:
    """``message`` without lark's "at line L column C"; a bare "Unexpected input" names the character there."""
    message = re.sub(r",? at line \d+,? column \d+( in [^:]*)?:?", "", message).strip()
    if message == "Unexpected input":
        lines = text.splitlines()
        if 0 < line <= len(lines) and 0 < column <= len(lines[line - 1]):
            message += f" {lines[line - 1][column - 1]!r} in the grammar text"
    return message


def _locate_from_message(text: str, message: str) -> tuple[int, int] | None:
    """Where the name a loader message quotes (or the text in parentheses at its end) is in ``text``."""
    quoted = re.findall(r"'([^'\s]+)'", message)
    if "defined more than once" in message and quoted:
        return locate_definition(text, quoted[0], last=True)
    if "used but not defined" in message and quoted:
        return locate_symbol(text, quoted[0], skip_definitions=True)
    if quoted:
        loc = locate_definition(text, quoted[0]) or locate_symbol(text, quoted[0])
        if loc:
            return loc
    m = re.search(r"\(([^()]+)\)\s*$", message)
    if m:
        inner = m.group(1).strip()
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", inner):
            loc = locate_definition(text, inner) or locate_symbol(text, inner)
            if loc:
                return loc
        pos = text.find(inner)
        if pos >= 0:
            return line_col(text, pos)
    return None
