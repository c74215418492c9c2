"""Validate JSON Lines against a JSON Schema, for pipelines: :func:`validate_jsonl` (and ``corral validate``).

Each non-empty line is one record. A record is ``valid``, ``invalid`` (with the errors' instance and schema-keyword
JSON pointers) or ``malformed`` (not UTF-8 or not JSON; with the error and its 1-based column in that line: the
byte column for a byte that is not UTF-8, the character column for a JSON error). Files and standard input are read
line by line as bytes (lines end at ``\\n``; a ``\\n`` or ``\\r\\n`` terminator is not part of the record), so one bad
line never stops the rest. Validation uses :mod:`jsonschema` with the draft the schema's ``$schema`` names (Draft
2020-12 by default) and formats as assertions, checked consistently with the compiler: the formats of
:mod:`corral.compile.json_schema.formats` by their exact regexes (``hostname`` by the full RFC 1123 rules, which
accept everything the compiler generates), the others by jsonschema's format checker.

``corral validate --schema S FILE`` prints the invalid and malformed records (with their errors), then a summary
line such as ``3 records: 2 valid, 1 invalid, 0 malformed``; ``--all`` prints every record. With ``--json`` it prints
one JSON object per printed record (again only the invalid and malformed ones unless ``--all``), then
``{"summary": {...}}``. Exit status: 0 when every record is valid, 1 when some record is invalid or malformed, 2 on
bad input (usage, unreadable file, bad schema).
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from corral.errors import SchemaError

__all__ = ["validate_jsonl", "iter_validate", "ValidationReport", "RecordResult", "make_validator",
           "format_summary"]


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def make_validator(schema):
    """A jsonschema validator for ``schema`` (its ``$schema`` draft, else 2020-12) with :func:`~corral.compile.json_schema.formats.format_checker`.

    Parameters
    ----------
    schema : dict, bool, str, os.PathLike or pydantic model class
        As :func:`corral.compile.json_schema.resolve_schema` takes it.

    Returns
    -------
    jsonschema.protocols.Validator
        An instance of a private copy of the draft's class whose ``evolve`` is memoized (see :func:`_memoized`):
        the same errors as the draft's own class, sooner.

    Raises
    ------
    SchemaError
        The schema cannot be read, or is not a valid schema for its draft (kind ``invalid``).
    """
    import jsonschema
    from jsonschema import validators

    from corral.compile.json_schema.formats import format_checker
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
    return _memoized(cls)(schema, format_checker=format_checker(cls))


_EVOLVE_CACHE_SIZE = 4096


def _memoized(cls):
    """A private copy of the validator class ``cls`` (:func:`jsonschema.validators.extend`, not registered for any
    ``$schema``) whose ``evolve`` is memoized.

    jsonschema's ``descend`` makes a new validator (``evolve(schema=..., _resolver=...)``) for every subschema it
    applies to every instance: a good part of the time on small records. ``evolve`` is a pure function of the
    validator and the changes, and validators are not changed once made, so the copy reuses the validator it made
    for the same (validator, schema, resolver) objects: the same verdicts and errors, sooner. The cache keeps those
    objects alive (so their ids stay theirs), and is emptied at 4096 entries (``$ref`` lookups make new resolvers).
    """
    from jsonschema import validators

    fast = validators.extend(cls)
    evolve = fast.evolve
    cache: dict = {}

    def memoized_evolve(self, **changes):
        if not changes.keys() <= {"schema", "_resolver"}:
            return evolve(self, **changes)
        schema, resolver = changes.get("schema"), changes.get("_resolver")
        key = (id(self), id(schema), id(resolver))
        hit = cache.get(key)
        if hit is None:
            if len(cache) >= _EVOLVE_CACHE_SIZE:
                cache.clear()
            hit = cache[key] = (self, schema, resolver, evolve(self, **changes))
        return hit[3]

    fast.evolve = memoized_evolve
    return fast


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
        For ``malformed``: why the line is not UTF-8 or not JSON, with its 1-based column in the line (e.g.
        ``"invalid UTF-8 byte 0xff at column 12"``, a byte column, or ``"expecting value at column 88"``, a
        character column).
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

    def to_text(self) -> str:
        """This record for people: ``line N: STATUS``, the parse error, and one ``  at POINTER: ...`` line per error.

        Returns
        -------
        str
            E.g. ``"line 3: invalid\\n  at /a: -1 is less than the minimum of 0 (schema /properties/a/minimum)"``.
        """
        if self.status == "malformed":
            return f"line {self.line}: malformed: {self.parse_error}"
        rows = [f"line {self.line}: {self.status}"]
        rows += [f"  at {e['instance'] or '/'}: {e['message']} (schema {e['schema'] or '/'})" for e in self.errors]
        return "\n".join(rows)


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


def format_summary(summary: dict) -> str:
    """The summary line of ``corral validate``.

    Parameters
    ----------
    summary : dict
        ``{"records", "valid", "invalid", "malformed"}`` counts, as :meth:`ValidationReport.summary` gives them.

    Returns
    -------
    str
        E.g. ``"1 record: 1 valid, 0 invalid, 0 malformed"`` or ``"2 records: 1 valid, 0 invalid, 1 malformed"``.

    Examples
    --------
    >>> format_summary({"records": 1, "valid": 1, "invalid": 0, "malformed": 0})
    '1 record: 1 valid, 0 invalid, 0 malformed'
    """
    noun = "record" if summary["records"] == 1 else "records"
    return "{records} {noun}: {valid} valid, {invalid} invalid, {malformed} malformed".format(noun=noun, **summary)


def _lines(source) -> Iterator[bytes | str]:
    """The lines of ``source`` with their terminators: bytes from a path, stdin or bytes; as given from an iterable."""
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) == "-":
            yield from getattr(sys.stdin, "buffer", sys.stdin)  # a text stream without a buffer gives str
            return
        with open(source, "rb") as f:
            yield from f
        return
    if isinstance(source, (bytes, bytearray)):
        yield from io.BytesIO(source)
        return
    yield from source


def _text(line: bytes | str) -> str:
    """The line decoded from UTF-8, without its ``\\n`` or ``\\r\\n`` terminator (UnicodeDecodeError if not UTF-8)."""
    if not isinstance(line, str):
        line = line.decode("utf-8")
    if line.endswith("\n"):
        line = line[:-2] if line.endswith("\r\n") else line[:-1]
    return line


def _decode_error(exc: UnicodeDecodeError) -> str:
    """``invalid UTF-8 byte 0xff at column 12`` (the 1-based byte column in the line)."""
    return f"invalid UTF-8 byte 0x{exc.object[exc.start]:02x} at column {exc.start + 1}"


def _json_error(exc: json.JSONDecodeError) -> str:
    """``expecting value at column 88`` (the 1-based character column in the line)."""
    msg = exc.msg[:-3] if exc.msg.endswith(" at") else exc.msg  # "Unterminated string starting at" etc.
    return f"{msg[:1].lower()}{msg[1:]} at column {exc.pos + 1}"


def _not_json(name: str):
    """``parse_constant`` for :func:`json.loads`: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259)."""
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    """``parse_float`` for :func:`json.loads`: a number past a double's range (``1e999``) is refused rather than
    read as infinity, which jsonschema cannot validate (``multipleOf`` raises on it)."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of the range of a double")
    return value


def _errors(validator, instance) -> list[dict]:
    """The instance's validation errors as dicts, sorted by instance path (empty when valid)."""
    errors = list(validator.iter_errors(instance))
    if errors:
        errors.sort(key=lambda e: list(map(str, e.absolute_path)))
    return [{"instance": _pointer(e.absolute_path), "schema": _pointer(e.absolute_schema_path),
             "keyword": e.validator, "message": e.message} for e in errors]


def iter_validate(schema, source) -> Iterator[RecordResult]:
    """Validate record by record (lazily); see :func:`validate_jsonl`.

    Parameters
    ----------
    schema, source
        As for :func:`validate_jsonl` (``schema`` may also be a validator from :func:`make_validator`).

    Yields
    ------
    RecordResult

    Raises
    ------
    SchemaError
        As for :func:`validate_jsonl` (an unresolvable ``$ref`` when the first record reaches it).
    """
    from referencing.exceptions import Unresolvable

    validator = schema if callable(getattr(schema, "iter_errors", None)) else make_validator(schema)
    for number, line in enumerate(_lines(source), 1):
        try:
            text = _text(line)
        except UnicodeDecodeError as exc:
            yield RecordResult(number, "malformed", parse_error=_decode_error(exc))
            continue
        if not text.strip():
            continue
        try:
            instance = json.loads(text, parse_constant=_not_json, parse_float=_finite_float)
        except json.JSONDecodeError as exc:
            yield RecordResult(number, "malformed", parse_error=_json_error(exc))
            continue
        except (ValueError, RecursionError) as exc:  # an integer of > 4300 digits, a number past a double's range,
            # NaN or Infinity, nesting deeper than Python's stack
            yield RecordResult(number, "malformed", parse_error=f"not readable as JSON here: {exc}")
            continue
        try:
            errors = _errors(validator, instance)
        except RecursionError:
            yield RecordResult(number, "malformed", parse_error="nested too deeply to validate")
            continue
        except Unresolvable as exc:  # a $ref to nowhere, found only when a record reaches it: the schema is bad
            raise SchemaError(f"cannot resolve a $ref: {exc}", keyword="$ref") from None
        yield RecordResult(number, "invalid" if errors else "valid", errors)


def validate_jsonl(schema, source: str | os.PathLike | bytes | Iterable[str | bytes]) -> ValidationReport:
    """Validate each line of a JSON Lines file against a schema.

    Parameters
    ----------
    schema : dict, bool, str, os.PathLike or pydantic model class
        A schema object, JSON text, a path to a schema file, or a pydantic v2 model class.
    source : str, os.PathLike, bytes or iterable of str or bytes
        A path (``"-"``: standard input), the data as bytes, or the lines themselves (e.g. an open file or a list).
        Files, standard input and bytes are read as bytes and split at ``\\n``; a ``\\n`` or ``\\r\\n`` at the
        end of a line is dropped. Empty lines are skipped; line numbers count every line from 1.

    Returns
    -------
    ValidationReport
        One :class:`RecordResult` per non-empty line: ``valid``, ``invalid`` with its errors' JSON pointers, or
        ``malformed`` with the error and its column in the line (``"invalid UTF-8 byte 0xff at column 12"``, a
        byte column; ``"expecting value at column 88"``, a character column). Malformed lines are not fatal.

    Raises
    ------
    SchemaError
        The schema cannot be read or is not a valid schema (kind ``invalid``), or has a ``$ref`` that cannot be
        resolved (raised when the first record reaches it, since references are resolved lazily).
    OSError
        The data file cannot be read.

    Examples
    --------
    >>> report = validate_jsonl({"type": "integer"}, ["1", "x", '"a"'])
    >>> report.summary()
    {'records': 3, 'valid': 1, 'invalid': 1, 'malformed': 1}
    """
    return ValidationReport(list(iter_validate(schema, source)))
