"""Why is this string rejected? :func:`check_text` runs a text through a grammar byte by byte and says whether it is
accepted, a valid prefix (incomplete), or rejected at an offset, with the line and column, the longest accepted
prefix and what the grammar expected there (terminal names and example characters). :func:`check_texts` does it for
many strings with an expected verdict each, as a table a notebook cell shows and a test asserts.

The check runs the Python specification of the matcher (``CompiledGrammar(..., native=False)``) over a byte
vocabulary, so the lexeme threads of the last viable state name the terminals in progress or expected next.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["Diagnosis", "CheckTable", "check_text", "check_texts"]

_BYTES_EOS = 256
_COMPILED: "OrderedDict[int, tuple]" = OrderedDict()  # id(grammar) -> (grammar, CompiledGrammar), a few kept
_COMPILED_MAX = 8
_EXAMPLES = 12  # example next characters shown at most


@dataclass(frozen=True)
class Diagnosis:
    """The verdict of a grammar on one text.

    Attributes
    ----------
    text : str
        The text checked (bytes are decoded with ``errors="replace"`` for display).
    status : {"accepted", "incomplete", "rejected"}
        In the language; a valid prefix that is not complete; or no completion exists.
    offset : int
        Where the verdict is read: for ``"rejected"``, the character offset of the first character after which no
        completion exists (the longest accepted prefix is ``text[:offset]``); else ``len(text)``.
    byte_offset : int
        The same in UTF-8 bytes.
    line, column : int
        1-based position of ``offset``.
    expected : tuple of str
        The terminals in progress or allowed to start at ``offset`` (ignored terminals marked ``(ignored)``).
    examples : tuple of str
        Some characters (or ``\\xNN`` bytes) that may come at ``offset``, and ``"<end>"`` when the text may end there.
    """

    text: str
    status: str
    offset: int
    byte_offset: int
    line: int
    column: int
    expected: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the text is in the language."""
        return self.status == "accepted"

    @property
    def prefix(self) -> str:
        """The longest accepted prefix (the whole text unless rejected)."""
        return self.text[:self.offset]

    def __str__(self) -> str:
        if self.status == "accepted":
            return f"accepted: {self.text!r}"
        where = f"at offset {self.offset} (line {self.line}, column {self.column})"
        what = f"expected {', '.join(self.expected) or 'nothing'}"
        more = f"; could continue with {' '.join(self.examples)}" if self.examples else ""
        if self.status == "incomplete":
            return f"incomplete: {self.text!r} is a valid prefix; {what} {where}{more}"
        return f"rejected {where}: {self.text[self.offset:self.offset + 1]!r} after {self.prefix!r}; {what}{more}"

    def __repr__(self) -> str:
        return f"Diagnosis({self})"

    def _repr_html_(self) -> str:
        """The notebook display: the text with the failing position marked (:mod:`corral.authoring.html`)."""
        from corral.authoring.html import diagnosis_html
        return diagnosis_html(self)


@dataclass(frozen=True)
class CheckTable:
    """Verdicts on many strings, each with the verdict it should get (:func:`check_texts`).

    Attributes
    ----------
    rows : tuple of (Diagnosis, bool)
        Each diagnosis with whether the text was expected to be accepted.
    """

    rows: tuple = field(default_factory=tuple)

    @property
    def failures(self) -> list:
        """The rows whose verdict differs from the expected one."""
        return [(d, want) for d, want in self.rows if d.ok != want]

    @property
    def all_ok(self) -> bool:
        """Whether every verdict is the expected one."""
        return not self.failures

    def assert_ok(self) -> None:
        """AssertionError listing the unexpected verdicts (for a test or a notebook cell)."""
        if self.failures:
            lines = [f"expected {'valid' if want else 'invalid'}, got {d}" for d, want in self.failures]
            raise AssertionError(f"{len(lines)} of {len(self.rows)} strings got an unexpected verdict:\n  "
                                 + "\n  ".join(lines))

    def __str__(self) -> str:
        out = [f"{'':<6}{'expected':<10}{'got':<14}text"]
        for d, want in self.rows:
            mark = "ok" if d.ok == want else "FAIL"
            got = d.status if d.status != "rejected" else f"rejected@{d.offset}"
            out.append(f"{mark:<6}{'valid' if want else 'invalid':<10}{got:<14}{d.text!r}")
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"CheckTable({len(self.rows)} strings, {len(self.failures)} unexpected)\n{self}"

    def _repr_html_(self) -> str:
        """The notebook display: a table of verdicts, unexpected ones highlighted (:mod:`corral.authoring.html`)."""
        from corral.authoring.html import check_table_html
        return check_table_html(self)


def _byte_compiled(grammar):
    """A Python-engine CompiledGrammar of ``grammar`` over the 256 single bytes (+ EOS), memoised."""
    from corral.runtime.matcher import CompiledGrammar
    from corral.tokens.vocabulary import Vocabulary

    hit = _COMPILED.get(id(grammar))
    if hit is not None and hit[0] is grammar:
        _COMPILED.move_to_end(id(grammar))
        return hit[1]
    vocab = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [_BYTES_EOS])
    cg = CompiledGrammar(grammar, vocab, native=False)
    _COMPILED[id(grammar)] = (grammar, cg)
    while len(_COMPILED) > _COMPILED_MAX:
        _COMPILED.popitem(last=False)
    return cg


def _show_byte(b: int) -> str:
    ch = chr(b)
    return "<space>" if b == 0x20 else ch if 0x20 < b < 0x7F else repr(ch)[1:-1] if b < 0x80 else f"\\x{b:02x}"


def _label(grammar, name: str) -> str:
    """A terminal as an author recognises it: its literal in quotes for a literal terminal with a generated name
    (``T3``, ``__ANON_0``), its regex for another generated one, its name otherwise."""
    ignored = name.endswith(" (ignored)")
    base = name[:-len(" (ignored)")] if ignored else name
    if base not in grammar.terminals and "~" in base:  # a part of a terminal split by follow guards
        base = base.rsplit("~", 1)[0]
        name = base + (" (ignored)" if ignored else "")
    term = grammar.terminals.get(base)
    generated = base.startswith("__") or (base[:1] == "T" and base[1:].isdigit())
    if term is not None and generated:
        shown = repr(term.literal) if term.literal is not None else "/" + (
            term.pattern if len(term.pattern) <= 40 else term.pattern[:37] + "...") + "/"
        return shown + (" (ignored)" if ignored else "")
    return name


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def check_text(grammar, text) -> Diagnosis:
    """Run ``text`` through ``grammar`` and say where and why it fails (see :class:`Diagnosis`).

    Parameters
    ----------
    grammar : Grammar
        A grammar (from Lark text, a regex, choices or :func:`~corral.compile.json_schema.schema_to_grammar`).
    text : str or bytes
        The text.

    Returns
    -------
    Diagnosis
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    shown = text if isinstance(text, str) else data.decode("utf-8", "replace")
    cg = _byte_compiled(grammar)
    state, cut = cg.initial_state, len(data)
    for i in range(len(data)):
        nxt = cg._run(state, data[i:i + 1])[0]
        if not nxt.viable:
            cut = i
            break
        state = nxt
    status = "rejected" if cut < len(data) else "accepted" if state.complete else "incomplete"
    offset = len(data[:cut].decode("utf-8", "ignore")) if isinstance(text, str) else cut
    names = cg.terminal_names
    expected = tuple(sorted({_label(grammar, names[t]) for t, _ in state.threads}))
    allowed = [b for b in range(256) if cg._run(state, bytes([b]))[0].viable]
    examples = tuple(_show_byte(b) for b in allowed[:_EXAMPLES]) + (("<end>",) if state.complete else ())
    line, column = _position(shown, offset)
    return Diagnosis(shown, status, offset, cut, line, column, expected, examples)


def check_texts(grammar, cases) -> CheckTable:
    """Check many texts, each expected valid or invalid: a table of expected vs got (:class:`CheckTable`).

    Parameters
    ----------
    grammar : Grammar
    cases : iterable of str, or of (str, bool), or a mapping str -> bool
        Plain strings are expected to be accepted; pairs and mappings give the expected verdict.

    Returns
    -------
    CheckTable
    """
    items = cases.items() if isinstance(cases, dict) else cases
    rows = []
    for case in items:
        text, want = (case, True) if isinstance(case, (str, bytes)) else case
        rows.append((check_text(grammar, text), bool(want)))
    return CheckTable(tuple(rows))
