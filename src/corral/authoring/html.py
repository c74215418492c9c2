"""Rich display: the HTML a notebook shows for grammars, compiled grammars, matchers and text diagnoses, and the
short plain ``repr`` of the same objects.

The renderers (:func:`grammar_html`, :func:`compiled_html`, :func:`matcher_html`, :func:`diagnosis_html`,
:func:`check_table_html`) return a well-formed fragment: every tag closed, attributes quoted, only numeric character
references, user text escaped (``<script>`` in a literal or a checked text shows as text), control characters and
lone surrogates written as ``\\xNN`` / ``\\uNNNN``. So ``xml.etree.ElementTree.fromstring("<div>" + html +
"</div>")`` parses it. Styles are inline (no CSS classes, no scripts), with translucent backgrounds and opacity
rather than fixed text colours, so the output reads in light and dark notebook themes. Large objects are truncated
(at most :data:`MAX_ROWS` lines or rows per block, long lines cut), so a grammar of thousands of rules still
renders at once.

This module imports nothing from ``corral``: it reads its arguments by attribute (duck typing), so the classes it
renders can import it from their ``__repr__`` methods without an import cycle.
"""

from __future__ import annotations

import html as _html
import os
import re

__all__ = ["MAX_ROWS", "escape", "badge", "table", "code_block", "marked_text", "grammar_html", "compiled_html",
           "matcher_html", "diagnosis_html", "check_table_html", "grammar_repr", "compiled_repr", "matcher_repr"]

MAX_ROWS = 200  # lines of a code block, rows of a table
_MAX_LINE = 300  # characters of one line or table cell
_MAX_TOKENS = 30  # allowed tokens a matcher shows
_MAX_TEXT = 2000  # characters of a text shown before (and a quarter of it after) the marked position

# Colours: translucent backgrounds over the theme's own text colour, solid badges with white text.
_GREEN, _AMBER, _RED, _GREY = "#2e7d32", "#b26a00", "#c62828", "#616161"
_OK_BG, _BAD_BG, _WARN_BG = "rgba(46,160,67,0.22)", "rgba(229,57,53,0.55)", "rgba(255,167,38,0.35)"
_ROW_BAD = "rgba(229,57,53,0.14)"
_BORDER = "rgba(127,127,127,0.35)"
_FONT = "font-family:monospace"
_BOX = f"border:1px solid {_BORDER};border-radius:4px;padding:6px 8px;margin:4px 0"

# Characters XML 1.0 cannot carry (C0 controls but tab and newline, DEL and C1 controls, surrogates, U+FFFE/F) and
# carriage returns (XML parsers turn them into newlines): written as Python escapes.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _py_escape(match) -> str:
    c = ord(match.group())
    if c == 0x0D:
        return "\\r"
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def escape(text) -> str:
    """Escape text for HTML content or a quoted attribute value.

    Parameters
    ----------
    text : object
        The text (anything else is ``str()``-ed first).

    Returns
    -------
    str
        ``&``, ``<``, ``>`` and both quotes as character references; control characters, carriage returns and lone
        surrogates as ``\\r``, ``\\xNN`` or ``\\uNNNN`` text.
    """
    return _UNSAFE.sub(_py_escape, _html.escape(str(text), quote=True))


def _clip(text: str, limit: int = _MAX_LINE) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _visible(text: str) -> str:
    """Whitespace made visible for a token chip: space, newline, tab, carriage return as symbols."""
    return text.replace(" ", "\u2423").replace("\n", "\u21b5").replace("\t", "\u21e5").replace("\r", "\u240d")


def _code(text, title: str | None = None) -> str:
    """An inline ``<code>`` chip of escaped ``text``."""
    tip = f' title="{escape(title)}"' if title else ""
    return (f'<code style="{_FONT};background:rgba(127,127,127,0.15);border-radius:3px;padding:0 3px;'
            f'white-space:pre"{tip}>{escape(text)}</code>')


def _more(n: int, what: str) -> str:
    return f'<div style="opacity:0.6;font-style:italic">\u2026 {n} more {what}</div>'


def badge(label: str, colour: str = _GREY) -> str:
    """A small coloured label (white text on ``colour``).

    Parameters
    ----------
    label : str
        The text (escaped).
    colour : str
        A CSS colour for the background.

    Returns
    -------
    str
        A ``<span>`` element.
    """
    return (f'<span style="background:{colour};color:#fff;border-radius:3px;padding:1px 6px;'
            f'font-size:0.85em;font-weight:bold">{escape(label)}</span>')


def table(header, rows, *, limit: int = MAX_ROWS, row_styles=None) -> str:
    """An HTML table; rows past ``limit`` are summarised as "... N more rows".

    Parameters
    ----------
    header : sequence of str or None
        Column titles (plain text, escaped); ``None`` for no header row.
    rows : sequence of sequence of str
        The cells, as HTML fragments: escape user text with :func:`escape` first.
    limit : int
        Most rows shown.
    row_styles : sequence of str or None, optional
        An inline style per row (``""`` for none), e.g. a background for failures.

    Returns
    -------
    str
        A ``<table>`` element, followed by the truncation note when rows were left out.
    """
    rows = list(rows)
    styles = list(row_styles) if row_styles is not None else [""] * len(rows)
    cell = f"border-top:1px solid {_BORDER};padding:1px 8px;vertical-align:top;text-align:left"
    out = ['<table style="border-collapse:collapse;margin:4px 0">']
    if header is not None:
        out += ["<thead><tr>", *(f'<th style="{cell}">{escape(h)}</th>' for h in header),
                "</tr></thead>"]
    out.append("<tbody>")
    for row, style in zip(rows[:limit], styles):
        out.append(f'<tr style="{style}">' if style else "<tr>")
        out += [f'<td style="{cell}">{c}</td>' for c in row]  # one style per cell: no CSS classes
        out.append("</tr>")
    out.append("</tbody></table>")
    if len(rows) > limit:
        out.append(_more(len(rows) - limit, "rows"))
    return "".join(out)


def code_block(text: str, *, start: int = 1, limit: int = MAX_ROWS) -> str:
    """Text in a ``<pre>`` block with line numbers; lines past ``limit`` summarised, long lines cut.

    Parameters
    ----------
    text : str
        The text (escaped).
    start : int
        The number of the first line.
    limit : int
        Most lines shown.

    Returns
    -------
    str
        A ``<pre>`` element, followed by the truncation note when lines were left out.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    width = len(str(start + min(len(lines), limit) - 1))
    num = "opacity:.5;user-select:none"
    body = "\n".join(f'<span style="{num}">{i:>{width}} </span>{escape(_clip(line))}'
                     for i, line in enumerate(lines[:limit], start))
    out = f'<pre style="{_FONT};{_BOX};overflow-x:auto;line-height:1.35">{body}</pre>'
    return out + (_more(len(lines) - limit, "lines") if len(lines) > limit else "")


def marked_text(text: str, offset: int, *, status: str = "rejected", inline: bool = False,
                context: int = _MAX_TEXT) -> str:
    """Text with a position marked: the accepted prefix on green, the character at ``offset`` on red, outlined and
    underlined (whitespace shown as a symbol), or a caret where more text is expected, the rest greyed.

    Parameters
    ----------
    text : str
        The text (escaped).
    offset : int
        The marked character offset (``len(text)`` marks the end).
    status : {"rejected", "incomplete", "accepted"}
        ``"rejected"`` marks the character at ``offset`` as failing; ``"incomplete"`` marks the end as where more
        text is expected; ``"accepted"`` marks nothing.
    inline : bool
        A ``<span>`` on one line (newlines and tabs shown as symbols) instead of a ``<pre>`` block.
    context : int
        Characters shown before ``offset`` (a quarter as many after it); the rest is cut with an ellipsis.

    Returns
    -------
    str
        A ``<pre>`` (or ``<span>``) element; the failing character is the one element with a ``title`` starting
        ``"rejected"``.
    """
    offset = max(0, min(offset, len(text)))
    lo, hi = max(0, offset - context), min(len(text), offset + 1 + context // 4)
    show = (lambda s: s.replace("\n", "\u21b5").replace("\t", "\u21e5")) if inline else (lambda s: s)
    head = "\u2026" if lo > 0 else ""
    tail = "\u2026" if hi < len(text) else ""
    prefix, rest = text[lo:offset], text[offset:hi]
    parts = [f'<span style="opacity:0.5">{head}</span>' if head else ""]
    if prefix:
        parts.append(f'<span style="background:{_OK_BG}">{escape(show(prefix))}</span>')
    if status == "rejected" and rest:
        ch = rest[0]
        shown = _visible(ch) + ("\n" if ch == "\n" and not inline else "") if ch.isspace() else ch
        parts.append(f'<span title="rejected here: {escape(repr(ch))}" style="background:{_BAD_BG};'
                     f'outline:1px solid {_RED};font-weight:bold;text-decoration:underline wavy {_RED}">'
                     f'{escape(shown)}</span>')
        rest = rest[1:]
    elif status == "incomplete" or (status == "rejected" and not rest):
        parts.append(f'<span title="more text expected here" style="background:{_WARN_BG};font-weight:bold">'
                     f'\u2038</span>')
    if rest:
        parts.append(f'<span style="opacity:0.5">{escape(show(rest))}</span>')
    if tail:
        parts.append(f'<span style="opacity:0.5">{tail}</span>')
    body = "".join(parts)
    if inline:
        return f'<span style="{_FONT};white-space:pre">{body}</span>'
    return f'<pre style="{_FONT};{_BOX};white-space:pre-wrap;word-break:break-all">{body}</pre>'


# ---------------------------------------------------------------------------------------------------- grammars

_DEFINITION = re.compile(r"\s*[?!]?([A-Za-z_][A-Za-z_0-9]*)(?:\.-?\d+)?\s*:")


def _origin(grammar) -> str | None:
    """Where a grammar came from: its file name, "JSON Schema", "Lark text", or None."""
    name = getattr(grammar, "source_name", None)
    if name:
        return os.path.basename(str(name)) or str(name)
    if getattr(grammar, "origins", None):
        return "JSON Schema"
    return "Lark text" if getattr(grammar, "source", None) else None


def _lark_text(grammar) -> tuple[str, str]:
    """``(title, text)``: the Lark source the author wrote, else the grammar printed as Lark."""
    if getattr(grammar, "source", None):
        return "source", grammar.source
    try:
        return "as Lark (generated)", grammar.to_lark()
    except Exception:  # a display must not raise: fall back to the plain rules
        return "rules", "\n".join(f"{r.lhs}: {' '.join(r.rhs)}" for r in getattr(grammar, "rules", ()))


def _terminal_cell(term) -> str:
    """A terminal as written: its literal in quotes, else ``/regex/flags`` (a plain ``<code>``: tables are long)."""
    if term.literal is not None:
        return f"<code>{escape(_clip(repr(term.literal)))}</code>"
    flags = "".join(sorted(term.flags or ()))
    return f"<code>{escape(_clip(f'/{term.pattern}/{flags}'))}</code>"


def grammar_repr(grammar) -> str:
    """A one-line summary of a grammar, e.g. ``Grammar(start='start', 12 rules, 7 terminals, source='json.lark')``.

    Parameters
    ----------
    grammar : Grammar

    Returns
    -------
    str
    """
    parts = [f"start={getattr(grammar, 'start', None)!r}", f"{len(getattr(grammar, 'rules', ()))} rules",
             f"{len(getattr(grammar, 'terminals', ()))} terminals"]
    if getattr(grammar, "ignore", ()):
        parts.append(f"ignore={_clip(repr(tuple(grammar.ignore)), 60)}")
    origin = _origin(grammar)
    if origin:
        parts.append(f"source={_clip(origin, 60)!r}")
    return f"Grammar({', '.join(parts)})"


def _grammar_header(grammar) -> str:
    rules = getattr(grammar, "rules", ())
    n_nt = len({r.lhs for r in rules})
    items = [f"start {_code(grammar.start)}", f"{len(rules)} rules ({n_nt} nonterminals)",
             f"{len(grammar.terminals)} terminals"]
    if grammar.ignore:
        items.append("ignore " + " ".join(_code(n) for n in grammar.ignore))
    origin = _origin(grammar)
    if origin:
        full = getattr(grammar, "source_name", None)
        items.append(f'from <span title="{escape(full or origin)}">{escape(origin)}</span>')
    return "<div><b>Grammar</b>: " + " \u00b7 ".join(items) + "</div>"


def grammar_html(grammar) -> str:
    """HTML for a :class:`~corral.compile.grammar.Grammar`: a summary line, the Lark source with line numbers (or
    the grammar printed as Lark when it has no source), the line of each rule and a table of the terminals.

    Parameters
    ----------
    grammar : Grammar

    Returns
    -------
    str
        A well-formed HTML fragment (see the module docstring); at most :data:`MAX_ROWS` source lines and terminal
        rows.
    """
    title, text = _lark_text(grammar)
    lines = {}
    for i, line in enumerate(text.split("\n"), 1):
        m = _DEFINITION.match(line)
        if m and m.group(1) not in lines:
            lines[m.group(1)] = i
    defined = [n for n in dict.fromkeys(r.lhs for r in getattr(grammar, "rules", ())) if n in lines]
    index = " ".join(f"<code>{escape(n)}</code>&#160;{lines[n]}" for n in defined[:MAX_ROWS // 2])
    if len(defined) > MAX_ROWS // 2:
        index += f" \u2026 {len(defined) - MAX_ROWS // 2} more"
    rule_lines = (f'<div style="line-height:1.6"><span style="opacity:0.7">rules (line): </span>{index}</div>'
                  if index else "")
    ignored = set(grammar.ignore)
    rows = [(f"<code>{escape(name)}</code>", _terminal_cell(term), "ignored" if name in ignored else "",
             str(lines[name]) if name in lines else "")
            for name, term in grammar.terminals.items()]
    return (f'<div style="{_BOX}">{_grammar_header(grammar)}'
            f'<div style="opacity:0.7;margin-top:4px">{escape(title)}</div>{code_block(text)}'
            f'{rule_lines}'
            f'<div style="opacity:0.7">terminals</div>'
            f'{table(("name", "pattern or literal", "ignored", "line"), rows, limit=MAX_ROWS // 2)}</div>')


# ---------------------------------------------------------------------------------------------------- runtime

def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"


def compiled_repr(cg) -> str:
    """A one-line summary of a compiled grammar, e.g. ``CompiledGrammar(Grammar(...), vocab=50257, native)``.

    Parameters
    ----------
    cg : CompiledGrammar

    Returns
    -------
    str
    """
    engine = "native" if getattr(cg, "native", False) else "python"
    eos = _clip(repr([int(e) for e in cg.eos_ids]), 40)
    return f"CompiledGrammar({grammar_repr(cg.grammar)}, vocab={cg.size}, eos={eos}, {engine})"


def compiled_html(cg) -> str:
    """HTML for a :class:`~corral.runtime.matcher.CompiledGrammar`: the vocabulary, EOS ids, engine, cached masks
    and memory, then the grammar (collapsed).

    Parameters
    ----------
    cg : CompiledGrammar

    Returns
    -------
    str
        A well-formed HTML fragment; nothing is computed beyond what the compiled grammar holds.
    """
    vocab = cg.vocab
    eos = [int(e) for e in cg.eos_ids]
    rows = [("vocabulary", f"{cg.size} ids, longest token {int(getattr(vocab, 'max_len', 0))} bytes"),
            ("EOS ids", escape(", ".join(map(str, eos[:20])) + (" \u2026" if len(eos) > 20 else "") or "none")),
            ("terminals", f"{cg.n_terminals} (+{len(cg.ignore_ids)} ignored)"),
            ("engine", badge("native", _GREEN) if cg.native else badge("python", _GREY)),
            ("cached masks", str(len(getattr(cg, "_packed_cache", ()))))]
    try:
        mem = cg.memory()
        rows.append(("memory", escape(", ".join(f"{k} {_kib(v)}" for k, v in mem.items()))))
        rows.append(("token tables", str(cg.index.n_tables)))
    except Exception:  # a display must not raise
        pass
    return (f'<div style="{_BOX}"><div><b>CompiledGrammar</b></div>{table(None, rows)}'
            f'<details><summary>{escape(grammar_repr(cg.grammar))}</summary>{grammar_html(cg.grammar)}</details>'
            f'</div>')


def _consumed(m) -> tuple[list, bool]:
    """The tokens advanced so far (oldest first), read from the matcher's state chain, and whether EOS ended it."""
    tokens, st = [], m._state
    while st.parent is not None:
        tokens.append(st.token)
        st = st.parent
    return tokens[::-1], m.is_terminated()


def matcher_repr(m) -> str:
    """A one-line summary of a matcher, e.g. ``Matcher(3 tokens, 12 bytes consumed, complete=False)`` (no mask is
    computed).

    Parameters
    ----------
    m : Matcher

    Returns
    -------
    str
    """
    tokens, done = _consumed(m)
    n_bytes = len(m.compiled.vocab.decode(tokens))
    state = "terminated" if done else f"complete={m.is_complete()}"
    return f"Matcher({len(tokens)} tokens, {n_bytes} bytes consumed, {state})"


def _token_chip(vocab, t: int) -> str:
    if t in vocab.eos_token_ids:
        return badge(f"EOS {t}", _GREEN)
    b = vocab.token_bytes[t]
    if b is None:
        return _code(f"<{t}>", title=f"token {t}")
    text = b.decode("utf-8", "replace")
    return _code(_clip(_visible(text), 40), title=f"token {t}: {text!r}")


def matcher_html(m) -> str:
    """HTML for a :class:`~corral.runtime.matcher.Matcher`: tokens and bytes consumed, whether the text is complete,
    how many tokens are allowed and the first few of them (whitespace shown), and the text so far.

    Parameters
    ----------
    m : Matcher

    Returns
    -------
    str
        A well-formed HTML fragment; computes the current mask (usually cached already).
    """
    vocab = m.compiled.vocab
    tokens, done = _consumed(m)
    text = vocab.decode(tokens).decode("utf-8", "replace")
    if done:
        status = badge("terminated", _GREY)
    else:
        status = badge("complete", _GREEN) if m.is_complete() else badge("incomplete", _AMBER)
    allowed = m.mask().nonzero()[0]
    chips = " ".join(_token_chip(vocab, int(t)) for t in allowed[:_MAX_TOKENS])
    if len(allowed) > _MAX_TOKENS:
        chips += f' <span style="opacity:0.6">\u2026 {len(allowed) - _MAX_TOKENS} more</span>'
    rows = [("consumed", f"{len(tokens)} tokens, {len(text.encode('utf-8', 'surrogatepass'))} bytes"),
            ("state", status),
            ("allowed", f"{len(allowed)} of {m.vocab_size} tokens"),
            ("next", chips or '<span style="opacity:0.6">nothing</span>')]
    shown = marked_text(text, len(text), status="accepted" if done or m.is_complete() else "incomplete")
    return f'<div style="{_BOX}"><div><b>Matcher</b></div>{table(None, rows)}{shown}</div>'


# ---------------------------------------------------------------------------------------------------- diagnoses

_STATUS = {"accepted": _GREEN, "incomplete": _AMBER, "rejected": _RED}


def diagnosis_html(d) -> str:
    """HTML for a :class:`~corral.authoring.diagnose.Diagnosis`: a status badge, the position, the text with the
    accepted prefix on green and the failing character on red, and what the grammar expected there.

    Parameters
    ----------
    d : Diagnosis

    Returns
    -------
    str
        A well-formed HTML fragment.
    """
    where = (f"line {d.line}, column {d.column} (offset {d.offset}, byte {d.byte_offset})"
             if d.status != "accepted" else f"{len(d.text)} characters")
    out = [f'<div style="{_BOX}"><div>{badge(d.status, _STATUS.get(d.status, _GREY))} {escape(where)}</div>',
           marked_text(d.text, d.offset, status=d.status)]
    if d.status != "accepted":
        expected = " ".join(_code(e) for e in d.expected) or '<span style="opacity:0.6">nothing</span>'
        out.append(f"<div>expected: {expected}</div>")
        if d.examples:
            out.append(f"<div>could continue with: {' '.join(_code(e) for e in d.examples)}</div>")
    out.append("</div>")
    return "".join(out)


def check_table_html(t) -> str:
    """HTML for a :class:`~corral.authoring.diagnose.CheckTable`: one row per text (ok or FAIL, the expected and the
    actual verdict, the text with the failing position marked), unexpected verdicts highlighted.

    Parameters
    ----------
    t : CheckTable

    Returns
    -------
    str
        A well-formed HTML fragment; at most :data:`MAX_ROWS` rows.
    """
    rows, styles = [], []
    for d, want in t.rows:
        good = d.ok == want
        got = d.status if d.status != "rejected" else f"rejected at {d.line}:{d.column}"
        rows.append((badge("ok", _GREEN) if good else badge("FAIL", _RED), "valid" if want else "invalid",
                     escape(got), marked_text(d.text, d.offset, status=d.status, inline=True, context=60)))
        styles.append("" if good else f"background:{_ROW_BAD}")
    bad = len(t.failures)
    head = badge(f"{bad} unexpected", _RED) if bad else badge("all as expected", _GREEN)
    return (f'<div style="{_BOX}"><div><b>CheckTable</b>: {len(t.rows)} strings {head}</div>'
            f'{table(("", "expected", "got", "text"), rows, row_styles=styles)}</div>')


def lint_report_html(report) -> str:
    """HTML for a :class:`~corral.authoring.linting.LintReport`: a summary line, then one row per finding (position,
    severity, kind, message, witness), errors in red and warnings in amber.

    Parameters
    ----------
    report : LintReport

    Returns
    -------
    str
        A well-formed HTML fragment; at most :data:`MAX_ROWS` rows.
    """
    rows = []
    for f in report.findings:
        where = "" if f.line is None else f"{f.line}:{f.column}" if f.column is not None else str(f.line)
        rows.append((escape(where), badge(f.severity, _RED if f.severity == "error" else _AMBER), escape(f.kind),
                     escape(f.message), "" if f.witness is None else _code(repr(f.witness))))
    errors, warnings = len(report.errors), len(report.warnings)
    head = badge("no findings", _GREEN) if not rows else (
        badge(f"{errors} error{'s' * (errors != 1)}", _RED) * bool(errors)
        + (" " if errors and warnings else "")
        + badge(f"{warnings} warning{'s' * (warnings != 1)}", _AMBER) * bool(warnings))
    skipped = f" ({report.skipped} checks skipped)" if report.skipped else ""
    body = table(("line:col", "", "kind", "message", "witness"), rows) if rows else ""
    return (f'<div style="{_BOX}"><div><b>lint</b> {escape(report.source_name or "grammar")}: {head}'
            f"{escape(skipped)}</div>{body}</div>")
