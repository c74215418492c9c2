"""corral.validate_jsonl and ``corral validate``: per-record results, pointers, malformed lines, exit codes."""

from __future__ import annotations

import glob
import io
import json
import subprocess
import sys
import warnings
from json.encoder import encode_basestring

import pytest

import corral
import corral.validate as validate_module
from conftest import shared_path
from corral.cli import main
from corral.errors import SchemaError
from corral.compile.json_schema.formats import format_checker
from corral.validate import make_validator, validate_jsonl

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0},
                                           "tags": {"type": "array", "items": {"type": "string"}},
                                           "when": {"type": "string", "format": "date-time"},
                                           "a/b": {"type": "string", "format": "hostname"}},
          "required": ["a"], "additionalProperties": False}
LINES = ['{"a": 1}', "", '{"a": -1, "tags": ["x", 2]}', "{not json", "   ", '{"a": 2, "when": "2020-01-01T00:00:00Z"}',
         '{"a": 0, "when": "2020-13-01T00:00:00Z", "a/b": "-bad"}', '{"b": 1}']


def test_python_api_records_and_pointers():
    report = validate_jsonl(SCHEMA, LINES)
    assert report.summary() == {"records": 6, "valid": 2, "invalid": 3, "malformed": 1}
    assert not report.ok
    by_line = {r.line: r for r in report.records}
    assert sorted(by_line) == [1, 3, 4, 6, 7, 8]  # empty lines skipped, numbering kept
    assert by_line[1].status == "valid" and by_line[6].status == "valid"
    errs = {(e["instance"], e["schema"], e["keyword"]) for e in by_line[3].errors}
    assert errs == {("/a", "/properties/a/minimum", "minimum"),
                    ("/tags/1", "/properties/tags/items/type", "type")}
    assert by_line[4].status == "malformed" and "column" in by_line[4].parse_error
    errs = {(e["instance"], e["schema"]) for e in by_line[7].errors}
    assert errs == {("/when", "/properties/when/format"), ("/a~1b", "/properties/a~1b/format")}
    assert {e["keyword"] for e in by_line[8].errors} == {"required", "additionalProperties"}
    assert by_line[3].to_json()["valid"] is False and "parse_error" in by_line[4].to_json()


def test_sources_and_schema_kinds(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("1\n\n\"x\"\n", encoding="utf-8")
    schema_file = tmp_path / "s.json"
    schema_file.write_text('{"type": "integer"}')
    for schema in ({"type": "integer"}, str(schema_file), schema_file, '{"type": "integer"}'):
        for source in (data, str(data), data.read_bytes(), io.StringIO(data.read_text()), ["1", "", '"x"']):
            assert validate_jsonl(schema, source).summary() == {"records": 2, "valid": 1, "invalid": 1,
                                                                "malformed": 0}
    assert corral.validate_jsonl is validate_jsonl


def test_pydantic_model_schema():
    pydantic = pytest.importorskip("pydantic")

    class M(pydantic.BaseModel):
        x: int = pydantic.Field(ge=0)

    report = validate_jsonl(M, ['{"x": 1}', '{"x": -1}', "{}"])
    assert [r.status for r in report.records] == ["valid", "invalid", "invalid"]


def test_bad_schema_and_draft():
    with pytest.raises(SchemaError) as info:
        validate_jsonl({"type": 5}, ["1"])
    assert info.value.kind == "invalid"
    with pytest.raises(SchemaError):
        validate_jsonl("{not json", ["1"])
    # the $schema the schema declares picks the draft: draft-07 reads array-form items as a tuple
    d7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "integer"}],
          "additionalItems": False}
    assert [r.status for r in validate_jsonl(d7, ["[1]", "[1, 2]", '["a"]']).records] == ["valid", "invalid",
                                                                                          "invalid"]


def test_formats_are_assertions_consistent_with_the_compiler():
    fc = format_checker()
    assert fc.conforms("2020-02-29", "date") and not fc.conforms("2021-02-29", "date")
    assert fc.conforms("23:59:60Z", "time") and not fc.conforms("22:59:60Z", "time")
    assert fc.conforms("a.b-c.com", "hostname") and not fc.conforms("a..b", "hostname")
    assert not fc.conforms("a" * 64, "hostname") and not fc.conforms(".".join(["a" * 63] * 4), "hostname")
    assert fc.conforms("/a~0\"", "json-pointer") and not fc.conforms("/~2", "json-pointer")
    assert fc.conforms("http://x/y", "uri") and not fc.conforms("x y", "uri")
    assert fc.conforms(5, "uri")  # formats only constrain strings


def _cli(args, stdin=None, capsys=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_human_and_json(tmp_path, capsys, monkeypatch):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(LINES) + "\n")
    code, out, _ = _cli(["validate", "--schema", json.dumps(SCHEMA), str(data), "--all"], capsys=capsys)
    assert code == 1
    assert "line 1: valid" in out and "line 3: invalid" in out and "line 4: malformed" in out
    assert "at /tags/1:" in out and "(schema /properties/tags/items/type)" in out
    assert out.strip().endswith("6 records: 2 valid, 3 invalid, 1 malformed")
    code, out, _ = _cli(["validate", "--schema", json.dumps(SCHEMA), str(data), "--json", "--all"], capsys=capsys)
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 1 and len(rows) == 7 and rows[-1] == {"summary": {"records": 6, "valid": 2, "invalid": 3,
                                                                      "malformed": 1}}
    assert rows[0] == {"line": 1, "status": "valid", "valid": True, "errors": []}
    assert rows[2]["status"] == "malformed" and rows[2]["line"] == 4
    code, out, _ = _cli(["validate", "--schema", '{"type":"integer"}', "-"], stdin="1\n2\n", capsys=capsys,
                        monkeypatch=monkeypatch)
    assert code == 0 and "2 records: 2 valid, 0 invalid, 0 malformed" in out


def test_cli_usage_errors(tmp_path, capsys):
    code, out, err = _cli(["validate", "--schema", '{"type": 5}', "-"], capsys=capsys)
    assert code == 2 and "invalid" in err and out == ""
    code, out, err = _cli(["validate", "--schema", '{"type": "integer"}', str(tmp_path / "missing.jsonl")],
                          capsys=capsys)
    assert code == 2 and "missing.jsonl" in err
    code, _, err = _cli(["validate", "--schema", str(tmp_path / "nope.json"), "-"], capsys=capsys)
    assert code == 2 and "cannot read schema" in err
    with pytest.raises(SystemExit) as info:
        main(["validate", "x.jsonl"])  # --schema is required
    assert info.value.code == 2


def test_cli_subprocess(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"a": 1}\n{"a": "x"}\n')
    proc = subprocess.run([sys.executable, "-m", "corral", "validate", "--schema", json.dumps(SCHEMA), str(data),
                           "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["summary"]["invalid"] == 1


# One bad byte in line 4 (after "é", two bytes): byte column 22, character column 21. Line 2 is cut short (CRLF).
BAD_BYTES = b'{"a": 1}\r\n{"a": \r\n\n{"a": 2, "tags": ["\xc3\xa9\xff"]}\n{"a": 3}\n'


def test_invalid_utf8_line_is_one_malformed_record(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_bytes(BAD_BYTES)
    for source in (data, str(data), BAD_BYTES, BAD_BYTES.splitlines(keepends=True), io.BytesIO(BAD_BYTES)):
        report = validate_jsonl(SCHEMA, source)
        assert report.summary() == {"records": 4, "valid": 2, "invalid": 0, "malformed": 2}
        by_line = {r.line: r for r in report.records}
        assert by_line[4].parse_error == "invalid UTF-8 byte 0xff at column 22"
        assert by_line[2].parse_error == "expecting value at column 7"  # the \r\n is not part of the line
        assert by_line[1].status == by_line[5].status == "valid"


def test_cli_invalid_utf8_file_and_stdin(tmp_path, capsys, monkeypatch):
    data = tmp_path / "d.jsonl"
    data.write_bytes(BAD_BYTES)
    expected = ["line 2: malformed: expecting value at column 7",
                "line 4: malformed: invalid UTF-8 byte 0xff at column 22",
                "4 records: 2 valid, 0 invalid, 2 malformed"]
    code, out, err = _cli(["validate", "--schema", json.dumps(SCHEMA), str(data)], capsys=capsys)
    assert (code, out.splitlines(), err) == (1, expected, "")
    stdin = io.TextIOWrapper(io.BytesIO(BAD_BYTES), encoding="utf-8")  # read through sys.stdin.buffer
    code, out, err = _cli(["validate", "--schema", json.dumps(SCHEMA), "-"], stdin=stdin, capsys=capsys,
                          monkeypatch=monkeypatch)
    assert (code, out.splitlines(), err) == (1, expected, "")


def test_malformed_columns_are_within_the_line(tmp_path):
    cut = '{"a": 1, "tags": ["' + "x" * 65 + '", '  # cut at column 87
    unterminated = '{"a": 1, "tags": ["' + "y" * 40 + '", "zzz'  # the last string starts at column 63
    assert len(cut) == 87 and unterminated.rindex('"') == 62
    lines = ['{"a": 1}', cut, unterminated, '{"é": }', '{"a": 1} x', '{"a": 1,}']
    expected = {2: "expecting value at column 88", 3: "unterminated string starting at column 63",
                4: "expecting value at column 7", 5: "extra data at column 10",
                6: "expecting property name enclosed in double quotes at column 9"}
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for source in (data, lines, [line + "\n" for line in lines], [line + "\r\n" for line in lines]):
        report = validate_jsonl(SCHEMA, source)
        assert {r.line: r.parse_error for r in report.records if r.status == "malformed"} == expected


def _print_modes(data, capsys, *flags):
    code, out, err = _cli(["validate", "--schema", json.dumps(SCHEMA), str(data), *flags], capsys=capsys)
    assert err == ""
    return code, out.splitlines()


def test_cli_prints_only_problems_unless_all(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(LINES) + "\n")
    code, out = _print_modes(data, capsys)
    assert code == 1 and [x.split(":")[0] for x in out if x.startswith("line")] == ["line 3", "line 4", "line 7",
                                                                                   "line 8"]
    assert "  at /a: -1 is less than the minimum of 0 (schema /properties/a/minimum)" in out
    assert out[-1] == "6 records: 2 valid, 3 invalid, 1 malformed"
    code, out = _print_modes(data, capsys, "--all")
    assert code == 1 and [x for x in out if x.startswith("line")][:2] == ["line 1: valid", "line 3: invalid"]
    code, out = _print_modes(data, capsys, "--json")
    rows = [json.loads(x) for x in out]
    assert [r.get("line") for r in rows] == [3, 4, 7, 8, None] and rows[1]["parse_error"].endswith("column 2")
    assert rows[-1] == {"summary": {"records": 6, "valid": 2, "invalid": 3, "malformed": 1}}
    code, out = _print_modes(data, capsys, "--json", "--all")
    assert [json.loads(x).get("line") for x in out] == [1, 3, 4, 6, 7, 8, None]


def test_cli_summary_plurals(tmp_path, capsys):
    for text, code, summary in (("1\n", 0, "1 record: 1 valid, 0 invalid, 0 malformed"),
                                ("1\n2\n", 0, "2 records: 2 valid, 0 invalid, 0 malformed"),
                                ("", 0, "0 records: 0 valid, 0 invalid, 0 malformed"),
                                ("x\n", 1, "1 record: 0 valid, 0 invalid, 1 malformed")):
        data = tmp_path / "d.jsonl"
        data.write_text(text)
        got, out, _ = _cli(["validate", "--schema", '{"type": "integer"}', str(data)], capsys=capsys)
        assert (got, out.splitlines()[-1]) == (code, summary)
    assert validate_module.format_summary({"records": 1, "valid": 0, "invalid": 1, "malformed": 0}) == (
        "1 record: 0 valid, 1 invalid, 0 malformed")


def _errors(validator, instance):
    try:
        return sorted((tuple(map(str, e.absolute_path)), tuple(map(str, e.absolute_schema_path)), e.message)
                      for e in validator.iter_errors(instance))
    except Exception as exc:  # e.g. a $ref to a remote document
        return type(exc).__name__


@pytest.mark.slow
def test_fast_validator_gives_jsonschemas_errors(monkeypatch):
    """make_validator's memoized ``evolve`` changes no verdict or error: the JSON Schema Test Suite (draft 2020-12,
    formats included), twice over (cold and warm cache), and with a tiny cache that is emptied all the time."""
    import jsonschema

    suite = shared_path("data", "json-schema-test-suite", "pinned_78048ead", "tests", "draft2020-12")
    cases = [c for f in sorted(glob.glob(f"{suite}/**/*.json", recursive=True)) for c in json.load(open(f))]
    assert len(cases) > 300
    for size in (validate_module._EVOLVE_CACHE_SIZE, 2):
        monkeypatch.setattr(validate_module, "_EVOLVE_CACHE_SIZE", size)
        for case in cases:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fast = make_validator(case["schema"])
                except SchemaError:
                    continue
            cls = jsonschema.validators.validator_for(case["schema"], default=jsonschema.Draft202012Validator)
            plain = cls(case["schema"], format_checker=format_checker(cls))
            for test in case["tests"] * 2:
                assert _errors(fast, test["data"]) == _errors(plain, test["data"]), (case["description"], test)


def test_format_content_is_the_json_dumps_content():
    for s in ["", "a.b", 'q"uote', "back\\slash", "tab\t", "\x00\x1f\x7f", "é€😀", "\ud800", "a\u2028b"]:
        assert encode_basestring(s) == json.dumps(s, ensure_ascii=False)
    fc = format_checker()
    assert fc.conforms('"a b"@example.com', "email") and not fc.conforms('"a"b"@example.com', "email")
    assert fc.conforms('/a"b', "json-pointer") and fc.conforms("/a\\b", "json-pointer")


def test_unreadable_records_are_malformed_not_fatal():
    """A huge integer (Python's int digit limit) or nesting deeper than the stack is a malformed line; the file goes
    on."""
    lines = ["1" * 5000, "[" * 100_000 + "]" * 100_000, "2"]
    report = validate_jsonl({"type": "integer"}, lines)
    assert [r.status for r in report.records] == ["malformed", "malformed", "valid"]
