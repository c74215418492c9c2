"""Printing grammar symbols back as Lark text (the text :meth:`corral.compile.grammar.Grammar.to_lark` prints):
the Lark spelling of a terminal's body (:func:`lark_terminal_body`), valid Lark names for every symbol
(:func:`lark_names`) and the whole grammar (:func:`format_lark_text`).
"""

from __future__ import annotations

import re
from typing import Sequence

from corral.compile.symbols import Rule, Terminal

__all__ = ["format_lark_text", "lark_names", "lark_terminal_body"]


# ---------------------------------------------------------------------- printing terminals back as Lark

_REGEX_META = set(".^$*+?{}[]\\|()/-#&~ ")


def _lark_regex_char(ch: str) -> str:
    """Spell one character inside a Lark ``/.../`` literal so that lark hands it to ``re`` unchanged in meaning."""
    if ch in _REGEX_META:
        return "\\" + ch
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    if ch == "\f":
        return "\\f"
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"\\x{ord(ch):02x}"  # lark decodes it to the raw character, which re reads literally
    return ch


def _lark_regex_body(pattern: str) -> str:
    """Escape a Python regex for a Lark ``/.../`` literal.

    Lark turns the escapes ``\\x``, ``\\u``, ``\\U`` into raw characters before giving the text to ``re`` (so
    ``\\x2e`` would become a wildcard); they are decoded here and re-escaped as needed. ``/`` is escaped, and raw
    newlines (not allowed by Lark outside verbose mode) become ``\\n``.
    """
    out = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            width = {"x": 2, "u": 4, "U": 8}.get(nxt)
            digits = pattern[i + 2:i + 2 + width] if width else ""
            if width and len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                out.append(_lark_regex_char(chr(int(digits, 16))))
                i += 2 + width
                continue
            # "\\<control char>" means the character itself; lark needs it spelled as an escape
            out.append(_lark_regex_char(nxt) if ord(nxt) < 0x20 or ord(nxt) == 0x7F else "\\" + nxt)
            i += 2
            continue
        if ch == "/":
            out.append("\\/")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(_lark_regex_char(ch) if ch in "\n\r\t\f" else f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _lark_string_body(text: str) -> str:
    """Escape literal text for a Lark ``"..."`` string."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def lark_terminal_body(term: Terminal) -> str:
    """The Lark spelling of a terminal's body: a ``"..."`` string literal when exact, else a ``/.../flags`` regex."""
    if term.literal is not None and set(term.flags) <= {"i"} and term.literal:
        return '"' + _lark_string_body(term.literal) + '"' + ("i" if "i" in term.flags else "")
    return "/" + _lark_regex_body(term.pattern) + "/" + "".join(sorted(term.flags))


# ---------------------------------------------------------------------- printing a grammar back as Lark

_RULE_NAME = re.compile(r"_?[a-z][_a-z0-9]*\Z")
_TERM_NAME = re.compile(r"_?[A-Z][_A-Z0-9]*\Z")


def lark_names(start: str, rules: Sequence[Rule], terminals: dict[str, Terminal],
               declared: Sequence[str] = ()) -> dict[str, str]:
    """The Lark name of every symbol of a grammar, as :func:`format_lark_text` prints it.

    Valid Lark names are kept; names that are not (or start with ``__``, which Lark reserves) are renamed to unused
    valid ones, and the start rule is always ``start``.

    Parameters
    ----------
    start : str
        The start nonterminal.
    rules : sequence of Rule
        The rules (their left-hand sides are the nonterminals, named in rule order).
    terminals : dict of str to Terminal
        The terminals by name.
    declared : sequence of str
        Declared terminals (``%declare``, produced by a post-lexer), named like terminals.

    Returns
    -------
    dict of str to str
        IR name -> Lark name.
    """
    names: dict[str, str] = {start: "start"}
    used = {"start"}
    todo = []
    symbols = [(n, False) for n in dict.fromkeys(r.lhs for r in rules) if n != start]
    symbols += [(n, True) for n in (*terminals, *declared)]
    for name, is_term in symbols:
        if _valid_name(name, is_term) and name not in used:
            names[name] = name
            used.add(name)
        else:
            todo.append((name, is_term))
    for name, is_term in todo:
        names[name] = _fresh_name(name, is_term, used)
        used.add(names[name])
    return names


def _valid_name(name: str, is_term: bool) -> bool:
    """Whether ``name`` is a valid Lark terminal (or rule) name that Lark does not reserve (``__``)."""
    return bool((_TERM_NAME if is_term else _RULE_NAME).match(name)) and not name.startswith("__")


def _fresh_name(name: str, is_term: bool, used: set) -> str:
    """A valid Lark name for ``name`` outside ``used``: its letters, digits and underscores, upper case for a
    terminal and lower case for a rule, numbered ``_2``, ``_3``, ... past the names taken."""
    base = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or ("T" if is_term else "r")
    base = base.upper() if is_term else base.lower()
    if not base[0].isalpha():
        base = ("T_" if is_term else "r_") + base
    cand, k = base, 1
    while cand in used:
        k += 1
        cand = f"{base}_{k}"
    return cand


def format_lark_text(start: str, rules: Sequence[Rule], terminals: dict[str, Terminal],
                     ignore: Sequence[str] = (), declared: Sequence[str] = ()) -> str:
    """Print grammar symbols as Lark text with the same language (the body of
    :meth:`corral.compile.grammar.Grammar.to_lark`).

    Symbols are renamed with :func:`lark_names`, so the start rule is printed as ``start`` and
    ``parse_lark_text(format_lark_text(...))`` round-trips.

    Parameters
    ----------
    start : str
        The start nonterminal (printed first).
    rules : sequence of Rule
        Plain BNF rules; the alternatives of a nonterminal are printed together, in rule order.
    terminals : dict of str to Terminal
        The terminals by name (printed with :func:`lark_terminal_body`).
    ignore : sequence of str
        The ignored terminals (``%ignore``).
    declared : sequence of str
        The declared terminals (``%declare``).

    Returns
    -------
    str
    """
    names = lark_names(start, rules, terminals, declared)
    lines = ["// generated by corral from its grammar IR", ""] + _rule_lines(start, rules, names)
    if terminals:
        lines.append("")
    for name, term in terminals.items():
        prio = f".{term.priority}" if term.priority else ""
        lines.append(f"{names[name]}{prio}: {lark_terminal_body(term)}")
    for name in ignore:
        lines.append(f"%ignore {names[name]}")
    if declared:
        lines.append("%declare " + " ".join(names[n] for n in declared))
    return "\n".join(lines).rstrip() + "\n"


def _rule_lines(start: str, rules: Sequence[Rule], names: dict[str, str]) -> list[str]:
    """The rules as Lark lines under their ``names``: the start rule first, the alternatives of a nonterminal
    together (``|`` lines), in rule order."""
    lines = []
    by_lhs: dict[str, list[Rule]] = {}
    for r in rules:
        by_lhs.setdefault(r.lhs, []).append(r)
    order = [start] + [lhs for lhs in by_lhs if lhs != start]
    for lhs in order:
        alts = [" ".join(names[s] for s in r.rhs) for r in by_lhs[lhs]]
        head = f"{names[lhs]}: "
        lines.append(head + alts[0])
        lines.extend(" " * (len(head) - 2) + "| " + a for a in alts[1:])
    return lines
