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
(chained from the original exception); no lark exception escapes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

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
]

_DECLARE_MESSAGE = "declared terminals need a postlexer, which is not supported"


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
    _refuse_backslash_runs(text, source_name)
    try:
        terms, rules, ignore, declared = _run_lark(text, start, source_name, import_paths)
    except GrammarError:
        raise
    except RecursionError as exc:
        raise GrammarError("grammar is too deeply nested for lark's loader", source_name=source_name) from exc
    except Exception as exc:  # every lark failure (and anything else) becomes a GrammarError
        raise _translate(exc, text, source_name) from exc

    from lark.lexer import PatternStr

    terminals: dict[str, Terminal] = {}
    for t in terms:
        pat, name = t.pattern, str(t.name)
        flags = frozenset(str(f) for f in pat.flags)
        if isinstance(pat, PatternStr):
            terminals[name] = Terminal(name, re.escape(str(pat.value)), flags, str(pat.value), int(t.priority))
        else:
            terminals[name] = Terminal(name, rewrite_lark_idioms(str(pat.value), flags), flags, None,
                                       int(t.priority))
    ir_rules = [Rule(str(r.origin.name), tuple(str(s.name) for s in r.expansion)) for r in rules]
    return ir_rules, terminals, tuple(str(n) for n in ignore), declared


def declare_error(text: str | None, declared: Sequence[str], source_name: str | None = None) -> GrammarError:
    """The error for declared names (``%declare``) that no post-lexer produces, at the ``%declare`` line."""
    loc = _locate_declare(text, list(declared)) if text else None
    if set(declared) <= {"_INDENT", "_DEDENT"}:
        hint = ("; the indentation post-lexer (postlex='auto') needs a newline terminal _NEWLINE or _NL, or pass "
                "postlex=corral.compile.indentation.Indentation(newline=...)")
    else:
        hint = "; only the indentation post-lexer's _INDENT and _DEDENT are supported"
    return GrammarError(f"{_DECLARE_MESSAGE} (%declare {' '.join(declared)}){hint}",
                        line=loc[0] if loc else None, column=loc[1] if loc else None, source_name=source_name)


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


# lark's grammar reader matches string and regex literals with a regex that backtracks exponentially over a run of
# backslashes in a literal that does not end (0.05 s for 24 of them, minutes for 40): longer runs are refused.
MAX_BACKSLASH_RUN = 24
_BACKSLASH_RUN = re.compile(r"\\{%d,}" % (MAX_BACKSLASH_RUN + 1))


def _refuse_backslash_runs(text: str, source_name: str | None) -> None:
    """GrammarError (with its line and column) for a run of more than :data:`MAX_BACKSLASH_RUN` backslashes."""
    m = _BACKSLASH_RUN.search(text)
    if m is not None:
        line, column = _line_col(text, m.start())
        raise GrammarError(f"a run of {len(m.group())} backslashes: lark's grammar reader takes exponential time on "
                           f"long runs, so at most {MAX_BACKSLASH_RUN} in a row are accepted (write a repeated "
                           "escape as a group, e.g. (?:\\\\){20})", line=line, column=column,
                           source_name=source_name)


def _run_lark(text: str, start: str, source_name: str | None, import_paths: Sequence[str | Path]):
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


# ---------------------------------------------------------------------- error translation

_LINE_COL = re.compile(r"line (\d+),? column (\d+)")


def _translate(exc: BaseException, text: str, source_name: str | None) -> GrammarError:
    from lark.exceptions import LarkError, UnexpectedInput

    line = column = None
    if isinstance(exc, UnexpectedInput):
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        if not isinstance(line, int) or line < 1:
            line = column = None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = f"syntax error in the grammar: {first}"
        return GrammarError(message, line=line, column=column, source_name=source_name)
    if isinstance(exc, OSError):
        module = getattr(exc, "filename", None) or str(exc)
        module = str(module)
        stem = module[:-5] if module.endswith(".lark") else module
        dotted = stem.replace("/", ".").replace("\\", ".")
        loc = _locate_import(text, dotted)
        return GrammarError(f"cannot import grammar {dotted!r}: file not found (searched the import paths, the "
                            "grammar's folder and lark's own grammars)",
                            line=loc[0] if loc else None, column=loc[1] if loc else None, source_name=source_name)
    raw = str(exc.args[0]) if isinstance(exc, LarkError) and exc.args else str(exc)
    if isinstance(exc, LarkError) and len(exc.args) > 1 and isinstance(exc.args[1], Exception):
        raw = f"bad literal {exc.args[0]!r} ({exc.args[1]})"
    message = raw.split("\n\n")[0].strip() or type(exc).__name__
    m = _LINE_COL.search(message)
    if m:
        line, column = int(m.group(1)), int(m.group(2))
        message = re.sub(r",? at line \d+,? column \d+( in [^:]*)?:?", "", message).strip()
        if message == "Unexpected input":
            lines = text.splitlines()
            if 0 < line <= len(lines) and 0 < column <= len(lines[line - 1]):
                message += f" {lines[line - 1][column - 1]!r} in the grammar text"
    else:
        loc = _locate_from_message(text, message)
        if loc:
            line, column = loc
    if not isinstance(exc, LarkError):
        message = f"lark could not load the grammar ({type(exc).__name__}): {message}"
    return GrammarError(message, line=line, column=column, source_name=source_name)


def _locate_from_message(text: str, message: str) -> tuple[int, int] | None:
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
            return _line_col(text, pos)
    return None


# ---------------------------------------------------------------------- locating things in Lark text


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, column


def _code_mask(text: str) -> list[bool]:
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
    return _line_col(text, (hits[-1] if last else hits[0]).start(1))


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
    mask = _code_mask(text)
    for m in re.finditer(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", text):
        if not mask[m.start()]:
            continue
        if skip_definitions:
            rest = text[m.end():text.find("\n", m.end()) if "\n" in text[m.end():] else len(text)]
            head = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
            if re.fullmatch(r"[ \t]*[!?]?", head) and re.match(r"[ \t]*(\{[^}]*\})?[ \t]*(\.-?\d+)?[ \t]*:", rest):
                continue
        return _line_col(text, m.start())
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
            return _line_col(text, pos)
    return None


def _locate_declare(text: str, names: list[str]) -> tuple[int, int] | None:
    for m in re.finditer(r"^[ \t]*%declare\b(.*)$", text, re.M):
        for name in names:
            k = re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", m.group(1))
            if k:
                return _line_col(text, m.start(1) + k.start())
        return _line_col(text, m.start())
    return None


def _locate_import(text: str, dotted: str) -> tuple[int, int] | None:
    last = dotted.split(".")[-1]
    for m in re.finditer(r"^[ \t]*%import\b[ \t]*(.*)$", text, re.M):
        path = m.group(1)
        if dotted in path or re.search(r"(?<![A-Za-z0-9_])" + re.escape(last) + r"(?![A-Za-z0-9_])", path):
            return _line_col(text, m.start(1))
    return None


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
        ok = (_TERM_NAME if is_term else _RULE_NAME).match(name) and not name.startswith("__")
        if ok and name not in used:
            names[name] = name
            used.add(name)
        else:
            todo.append((name, is_term))
    for name, is_term in todo:
        base = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or ("T" if is_term else "r")
        base = base.upper() if is_term else base.lower()
        if not base[0].isalpha():
            base = ("T_" if is_term else "r_") + base
        cand, k = base, 1
        while cand in used:
            k += 1
            cand = f"{base}_{k}"
        names[name] = cand
        used.add(cand)
    return names


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
    lines = ["// generated by corral from its grammar IR", ""]
    by_lhs: dict[str, list[Rule]] = {}
    for r in rules:
        by_lhs.setdefault(r.lhs, []).append(r)
    order = [start] + [lhs for lhs in by_lhs if lhs != start]
    for lhs in order:
        alts = [" ".join(names[s] for s in r.rhs) for r in by_lhs[lhs]]
        head = f"{names[lhs]}: "
        lines.append(head + alts[0])
        lines.extend(" " * (len(head) - 2) + "| " + a for a in alts[1:])
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
