"""Validate JSON Lines against a JSON Schema, for pipelines: :func:`validate_jsonl` (and ``corral validate``).

Each non-empty line is one record. A record is ``valid``, ``invalid`` (with the errors' instance and schema-keyword
JSON pointers) or ``malformed`` (not JSON; with the parse error). Validation uses :mod:`jsonschema` with the draft
the schema's ``$schema`` names (Draft 2020-12 by default) and formats as assertions, checked consistently with the
compiler: the formats of :mod:`corral.compile.json_schema.formats` by their exact regexes (``hostname`` by the full
RFC 1123 rules, which accept everything the compiler generates), the others by jsonschema's format checker.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from corral.errors import SchemaError

__all__ = ["validate_jsonl", "iter_validate", "ValidationReport", "RecordResult", "format_checker", "make_validator"]


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _hostname_ok(s: str) -> bool:
    """RFC 1123 host name: dot-separated LDH labels of 1-63 characters, no hyphen at either end, <= 253 in all."""
    return len(s) <= 253 and all(_LABEL.fullmatch(label) for label in s.split("."))


def format_checker(cls=None):
    """A :class:`jsonschema.FormatChecker` consistent with the compiler's ``format`` support.

    Parameters
    ----------
    cls : jsonschema validator class, optional
        Whose ``FORMAT_CHECKER`` provides the formats the compiler does not compile (default Draft 2020-12).

    Returns
    -------
    jsonschema.FormatChecker
    """
    import jsonschema

    from corral.compile.json_schema import formats as fmt

    base = (cls or jsonschema.Draft202012Validator).FORMAT_CHECKER
    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = dict(base.checkers)

    def by_regex(regex: str):
        compiled = re.compile(regex)

        def check(instance) -> bool:
            if not isinstance(instance, str):
                return True
            content = json.dumps(instance, ensure_ascii=False)[1:-1]  # the formats are over canonical content
            return compiled.fullmatch(content) is not None

        return check

    for name, regex in fmt.FORMATS.items():
        checker.checkers[name] = (by_regex(regex), ())
    checker.checkers["hostname"] = (lambda x: not isinstance(x, str) or _hostname_ok(x), ())
    return checker


def make_validator(schema):
    """A jsonschema validator for ``schema`` (its ``$schema`` draft, else 2020-12) with :func:`format_checker`.

    Parameters
    ----------
    schema : dict, bool, str, os.PathLike or pydantic model class
        As :func:`corral.compile.json_schema.resolve_schema` takes it.

    Returns
    -------
    jsonschema.protocols.Validator

    Raises
    ------
    SchemaError
        The schema cannot be read, or is not a valid schema for its draft (kind ``invalid``).
    """
    import jsonschema
    from jsonschema import validators

    from corral.compile.json_schema.sources import resolve_schema

    schema, _ = resolve_schema(schema)
    try:
        cls = validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    except Exception as exc:  # an unknown $schema
        raise SchemaError(f"unknown $schema: {exc}", pointer="/$schema", keyword="$schema") from None
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"not a valid schema: {exc.message}", pointer=_pointer(exc.absolute_path),
                          keyword=exc.validator if isinstance(exc.validator, str) else None) from None
    return cls(schema, format_checker=format_checker(cls))


@dataclass
class RecordResult:
    """The outcome for one record (one non-empty line).

    Attributes
    ----------
    line : int
        1-based line number.
    status : str
        ``"valid"``, ``"invalid"`` or ``"malformed"``.
    errors : list of dict
        For ``invalid``: ``{"instance": pointer, "schema": pointer of the failing keyword, "keyword", "message"}``.
    parse_error : str or None
        For ``malformed``: the JSON parse error.
    """

    line: int
    status: str
    errors: list[dict] = field(default_factory=list)
    parse_error: str | None = None

    def to_json(self) -> dict:
        """This record as a JSON-ready dict (``line``, ``status``, ``valid``, ``errors``, ``parse_error``)."""
        out = {"line": self.line, "status": self.status, "valid": self.status == "valid", "errors": self.errors}
        if self.parse_error is not None:
            out["parse_error"] = self.parse_error
        return out


@dataclass
class ValidationReport:
    """All records' results and their counts.

    Attributes
    ----------
    records : list of RecordResult
    """

    records: list[RecordResult] = field(default_factory=list)

    def _count(self, status: str) -> int:
        return sum(r.status == status for r in self.records)

    @property
    def valid(self) -> int:
        """Number of valid records."""
        return self._count("valid")

    @property
    def invalid(self) -> int:
        """Number of records that are JSON but not valid."""
        return self._count("invalid")

    @property
    def malformed(self) -> int:
        """Number of lines that are not JSON."""
        return self._count("malformed")

    @property
    def ok(self) -> bool:
        """Whether every record is valid."""
        return self.valid == len(self.records)

    def summary(self) -> dict:
        """``{"records", "valid", "invalid", "malformed"}`` counts."""
        return {"records": len(self.records), "valid": self.valid, "invalid": self.invalid,
                "malformed": self.malformed}


def _lines(source) -> Iterator[str]:
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) == "-":
            yield from sys.stdin
            return
        with open(source, encoding="utf-8") as f:
            yield from f
        return
    if isinstance(source, (bytes, bytearray)):
        yield from io.StringIO(source.decode("utf-8"))
        return
    for line in source:
        yield line.decode("utf-8") if isinstance(line, (bytes, bytearray)) else line


def iter_validate(schema, source) -> Iterator[RecordResult]:
    """Validate record by record (lazily); see :func:`validate_jsonl`.

    Parameters
    ----------
    schema, source
        As for :func:`validate_jsonl` (``schema`` may also be a validator from :func:`make_validator`).

    Yields
    ------
    RecordResult
    """
    validator = schema if callable(getattr(schema, "iter_errors", None)) else make_validator(schema)
    for number, line in enumerate(_lines(source), 1):
        if not line.strip():
            continue
        try:
            instance = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RecordResult(number, "malformed", parse_error=f"{exc.msg} at column {exc.colno}")
            continue
        errors = [{"instance": _pointer(e.absolute_path), "schema": _pointer(e.absolute_schema_path),
                   "keyword": e.validator, "message": e.message}
                  for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]
        yield RecordResult(number, "invalid" if errors else "valid", errors)


def validate_jsonl(schema, source: str | os.PathLike | Iterable[str]) -> ValidationReport:
    """Validate each line of a JSON Lines file against a schema.

    Parameters
    ----------
    schema : dict, bool, str, os.PathLike or pydantic model class
        A schema object, JSON text, a path to a schema file, or a pydantic v2 model class.
    source : str, os.PathLike, bytes or iterable of str
        A path (``"-"``: standard input), the data as bytes, or the lines themselves (e.g. an open file or a list).
        Empty lines are skipped; line numbers count every line from 1.

    Returns
    -------
    ValidationReport
        One :class:`RecordResult` per non-empty line: ``valid``, ``invalid`` with its errors' JSON pointers, or
        ``malformed`` with the parse error (malformed lines are not fatal).

    Raises
    ------
    SchemaError
        The schema cannot be read or is not a valid schema (kind ``invalid``).
    OSError
        The data file cannot be read.

    Examples
    --------
    >>> report = validate_jsonl({"type": "integer"}, ["1", "x", '"a"'])
    >>> report.summary()
    {'records': 3, 'valid': 1, 'invalid': 1, 'malformed': 1}
    """
    return ValidationReport(list(iter_validate(schema, source)))
