"""The result of :func:`~corral.authoring.linting.lint`: the :data:`KINDS` of finding, one :class:`Finding` per defect
and the :class:`LintReport` that collects them in order of position (as text, and as an HTML table in notebooks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

__all__ = ["KINDS", "Finding", "LintReport", "sort_findings"]

KINDS = ("undefined", "unproductive", "unreachable", "nullable_cycle", "collision", "empty_terminal",
         "ignored_overlap", "unbounded_whitespace")


@dataclass(frozen=True)
class Finding:
    """One defect found by :func:`lint`.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    severity : {"error", "warning"}
        ``"error"`` for an undefined name or an empty language, else ``"warning"``.
    message : str
        What is wrong.
    line, column : int or None
        1-based position in the grammar text, ``None`` when unknown.
    names : tuple of str
        The rules or terminals involved (lark's names; anonymous terminals have names such as ``LPAR``).
    witness : str or None
        For ``collision`` and ``ignored_overlap``: a string both terminals match.
    source_name : str or None
        The grammar's file name, where known.
    """

    kind: str
    severity: str
    message: str
    line: int | None = None
    column: int | None = None
    names: tuple[str, ...] = ()
    witness: str | None = None
    source_name: str | None = None

    def __str__(self) -> str:
        """``file:line:column: severity [kind] message``, like a compiler's diagnostics."""
        where = self.source_name or "<grammar>"
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        return f"{where}: {self.severity} [{self.kind}] {self.message}"


@dataclass(frozen=True)
class LintReport:
    """The findings of :func:`lint`, in order of position in the grammar.

    Attributes
    ----------
    findings : tuple of Finding
        Every finding.
    source_name : str or None
        The grammar's file name, where known.
    skipped : int
        Terminal checks that could not be decided (a regex construct interegular or corral cannot compile, a
        too large automaton, or the time limit); they are not findings.
    """

    findings: tuple[Finding, ...] = ()
    source_name: str | None = None
    skipped: int = 0

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings of severity ``"error"``."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings of severity ``"warning"``."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """Whether there is no finding at all."""
        return not self.findings

    def __iter__(self) -> Iterator[Finding]:
        """Iterate over the findings."""
        return iter(self.findings)

    def __len__(self) -> int:
        """The number of findings."""
        return len(self.findings)

    def __str__(self) -> str:
        """One line per finding (``"no findings"`` when there is none), and a note on skipped checks."""
        lines = [str(f) for f in self.findings] or ["no findings"]
        if self.skipped:
            lines.append(f"note: {self.skipped} terminal check(s) skipped (regex constructs interegular cannot "
                         "compile, too large automata, or the time limit)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        """A one-line summary: counts of errors and warnings, skipped checks and the source."""
        src = f", source={self.source_name!r}" if self.source_name else ""
        skipped = f", skipped={self.skipped}" if self.skipped else ""
        return f"LintReport({_count(len(self.errors), 'error')}, {_count(len(self.warnings), 'warning')}{skipped}{src})"

    def _repr_html_(self) -> str:
        """An HTML table of the findings (every user text escaped; :func:`corral.authoring.html.lint_report_html`)."""
        from corral.authoring.html import lint_report_html

        return lint_report_html(self)


def _count(n: int, word: str) -> str:
    """``"1 error"``, ``"2 errors"``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def sort_findings(findings) -> tuple[Finding, ...]:
    """Findings in order of position (unknown positions last), then kind."""
    order = {k: i for i, k in enumerate(KINDS)}
    return tuple(sorted(findings, key=lambda f: (f.line is None, f.line or 0, f.column or 0, order[f.kind],
                                                 f.message)))
