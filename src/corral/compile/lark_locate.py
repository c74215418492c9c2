"""Locating things in Lark grammar text: where a rule or terminal is defined, where a symbol is first used, and
the ``%declare`` and ``%import`` lines, as 1-based ``(line, column)`` pairs for error messages.

Comments, strings and regex literals are skipped (:func:`code_mask`), so a name inside them is never reported.
"""

from __future__ import annotations

import re

__all__ = ["line_col", "code_mask", "locate_definition", "locate_symbol", "locate_terminal", "locate_declare",
           "locate_import"]


def line_col(text: str, pos: int) -> tuple[int, int]:
    """The 1-based ``(line, column)`` of offset ``pos`` in ``text``."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, column


def code_mask(text: str) -> list[bool]:
    """True at positions that are grammar code (not in a comment, a string or a regex literal)."""
    mask = [True] * len(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif ch in "\"/":
            j = i + 1
            while j < n and text[j] != ch and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
        elif ch == "#" and (i == 0 or text[i - 1] == "\n"):
            j = text.find("\n", i)
            j = n if j < 0 else j
        else:
            i += 1
            continue
        for k in range(i, j):
            mask[k] = False
        i = j
    return mask


def locate_definition(text: str, name: str, *, last: bool = False) -> tuple[int, int] | None:
    """Find where a rule or terminal is defined in Lark text.

    Parameters
    ----------
    text : str
        The Lark grammar.
    name : str
        The rule or terminal name.
    last : bool
        Return the last definition instead of the first.

    Returns
    -------
    tuple of int or None
        ``(line, column)``, 1-based, of the name in its definition, or ``None``.
    """
    pattern = re.compile(r"^[ \t]*(?:%(?:override|extend)[ \t]+)?[!?]?(" + re.escape(name)
                         + r")[ \t]*(?:\{[^}\n]*\})?[ \t]*(?:\.[ \t]*-?\d+)?[ \t]*:", re.M)
    hits = list(pattern.finditer(text))
    if not hits:
        return None
    return line_col(text, (hits[-1] if last else hits[0]).start(1))


def locate_symbol(text: str, name: str, *, skip_definitions: bool = False) -> tuple[int, int] | None:
    """Find the first use of a symbol name in Lark code (not in comments, strings or regexes).

    Parameters
    ----------
    text : str
        The Lark grammar.
    name : str
        The symbol.
    skip_definitions : bool
        Ignore occurrences that are the name being defined.

    Returns
    -------
    tuple of int or None
        ``(line, column)``, 1-based, or ``None``.
    """
    if not name:
        return None
    mask = code_mask(text)
    for m in re.finditer(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", text):
        if not mask[m.start()]:
            continue
        if skip_definitions:
            rest = text[m.end():text.find("\n", m.end()) if "\n" in text[m.end():] else len(text)]
            head = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
            if re.fullmatch(r"[ \t]*[!?]?", head) and re.match(r"[ \t]*(\{[^}]*\})?[ \t]*(\.-?\d+)?[ \t]*:", rest):
                continue
        return line_col(text, m.start())
    return None


def locate_terminal(text: str, name: str, pattern: str | None = None,
                    literal: str | None = None) -> tuple[int, int] | None:
    """Find a terminal in Lark text: its definition, or the literal or regex that created it.

    Parameters
    ----------
    text : str
        The Lark grammar.
    name : str
        The terminal's name.
    pattern : str, optional
        Its regex (used for anonymous ``/.../`` terminals).
    literal : str, optional
        Its literal text (used for anonymous ``"..."`` terminals).

    Returns
    -------
    tuple of int or None
        ``(line, column)``, 1-based, or ``None``.
    """
    loc = locate_definition(text, name)
    if loc:
        return loc
    candidates = []
    if literal is not None:
        candidates += ['"' + literal + '"', '"' + literal.replace("\\", "\\\\").replace('"', '\\"') + '"']
    if pattern is not None:
        candidates += ["/" + pattern + "/", "/" + pattern.replace("/", "\\/") + "/"]
    for cand in candidates:
        pos = text.find(cand)
        if pos >= 0:
            return line_col(text, pos)
    return None


def locate_declare(text: str, names: list[str]) -> tuple[int, int] | None:
    """Where the first ``%declare`` line names one of ``names`` (else where that line starts), or ``None``."""
    for m in re.finditer(r"^[ \t]*%declare\b(.*)$", text, re.M):
        for name in names:
            k = re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", m.group(1))
            if k:
                return line_col(text, m.start(1) + k.start())
        return line_col(text, m.start())
    return None


def locate_import(text: str, dotted: str) -> tuple[int, int] | None:
    """Where the ``%import`` of the grammar ``dotted`` (or of its last component) names it, or ``None``."""
    last = dotted.split(".")[-1]
    for m in re.finditer(r"^[ \t]*%import\b[ \t]*(.*)$", text, re.M):
        path = m.group(1)
        if dotted in path or re.search(r"(?<![A-Za-z0-9_])" + re.escape(last) + r"(?![A-Za-z0-9_])", path):
            return line_col(text, m.start(1))
    return None
