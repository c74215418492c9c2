"""corral.validate_jsonl and ``corral validate``: per-record results, pointers, malformed lines, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

import corral
from corral.cli import main
from corral.errors import SchemaError
from corral.validate import format_checker, validate_jsonl

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
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_human_and_json(tmp_path, capsys, monkeypatch):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(LINES) + "\n")
    code, out, _ = _cli(["validate", "--schema", json.dumps(SCHEMA), str(data)], capsys=capsys)
    assert code == 1
    assert "line 1: valid" in out and "line 3: invalid" in out and "line 4: malformed" in out
    assert "at /tags/1:" in out and "(schema /properties/tags/items/type)" in out
    assert out.strip().endswith("6 records: 2 valid, 3 invalid, 1 malformed")
    code, out, _ = _cli(["validate", "--schema", json.dumps(SCHEMA), str(data), "--json"], capsys=capsys)
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
