"""benchmarks/ttfm.py runs on a MaskBench-shaped folder, writes its JSON and compares two runs."""

from __future__ import annotations

import json

from conftest import load_script, tokenizer_path


def test_ttfm_runs_and_compares(tmp_path, capsys):
    """Two schemas that compile and one that does not: the compiled ones get a time per phase; a second run
    compared with the first reports the geometric mean over both schemas."""
    data = tmp_path / "data"
    data.mkdir()
    records = [{"id": "a", "schema": {"type": "object", "properties": {"x": {"type": "integer"}}}, "tests": []},
               {"id": "b", "schema": {"enum": ["p", "q"]}, "tests": []},
               {"id": "c", "schema": {"type": "nonsense"}, "tests": []}]
    (data / "Mini.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    ttfm = load_script("benchmarks/ttfm.py", "ttfm_bench")
    args = ["--data", str(data), "--tokenizer", str(tokenizer_path("gpt2")), "--limit", "3"]
    assert ttfm.main(args + ["--json", str(tmp_path / "one.json")]) == 0
    one = json.loads((tmp_path / "one.json").read_text())
    assert set(one) == {"a", "b"} and set(one["a"]) == set(ttfm.PHASES)
    assert ttfm.main(args + ["--compare", str(tmp_path / "one.json")]) == 0
    assert "2 schemas in both runs" in capsys.readouterr().out
