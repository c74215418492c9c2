"""``corral generate --input FILE --output FILE``: resumable after a kill or Ctrl-C (no row missing or doubled), bad
rows reported in their own line, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

CMD = [sys.executable, "-m", "corral", "generate"]
SLOW = ["--regex", "([a-z]+ ){8}[a-z]+", "--max-tokens", "40", "--batch-size", "1", "--seed", "0"]


def _write_requests(path, n=12):
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"r{i}", "prompt": f"Story {i}: "}) + "\n")


def _lines(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh.read().splitlines()]  # every line valid JSON


def _default_sigint() -> None:
    """In the child: SIGINT back to its default, so that Python turns it into KeyboardInterrupt even when the test
    runs in a background job (a shell starts those with SIGINT ignored, and Python keeps an ignored SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(inp, out, extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([*CMD, "--input", str(inp), "--output", str(out), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_default_sigint)


def _wait_for_rows(proc, out, n=1, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_text(encoding="utf-8").count("\n") >= n:
            return
        time.sleep(0.01)


def _assert_every_id_once(out, n=12):
    records = _lines(out)
    ids = [r["id"] for r in records]
    assert sorted(ids) == sorted(f"r{i}" for i in range(n)), ids  # none missing, none doubled
    assert all(r["status"] in ("complete", "length") and isinstance(r["text"], str) for r in records)
    return records


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_without_missing_or_doubled_rows(tmp_path, sig):
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    _write_requests(inp)
    proc = _start(inp, out, SLOW)
    _wait_for_rows(proc, out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    first = _lines(out)
    assert 1 <= len(first) < 12  # killed mid-run: the rerun has rows left to do
    if sig == signal.SIGINT and proc.returncode != 0:  # interrupted mid-run (not already finished)
        assert proc.returncode == 130 and "rerun the same command to resume" in err
        assert "Traceback" not in err
    again = subprocess.run([*CMD, "--input", str(inp), "--output", str(out), *SLOW], capture_output=True,
                           text=True, timeout=600)
    assert again.returncode in (0, 3) and "Traceback" not in again.stderr
    records = _assert_every_id_once(out)
    assert records[:len(first)] == first  # finished rows were kept as written
    assert f"{len(first)} already in the output" in again.stderr
    # a third run has nothing left to do
    third = subprocess.run([*CMD, "--input", str(inp), "--output", str(out), *SLOW], capture_output=True, text=True,
                           timeout=600)
    assert _lines(out) == records and "12 already in the output" in third.stderr


def test_bad_rows_are_reported_in_line_and_the_batch_goes_on(tmp_path):
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    lines = [
        json.dumps({"id": 1, "prompt": "Answer: "}),
        "{not json",
        json.dumps({"id": "s", "prompt": "Obj: ", "schema": {"type": "object", "properties": {"a": {"type": "integer"}},
                                                             "required": ["a"]}, "max_tokens": 40}),
        json.dumps({"id": "bad schema", "prompt": "x", "schema": {"type": "integer", "minimum": 5, "maximum": 1}}),
        json.dumps({"id": "bad option", "prompt": "x", "temperature": -1}),
        json.dumps({"id": "unknown", "prompt": "x", "colour": "red"}),
        json.dumps(["a", "list"]),
        "",
        json.dumps({"id": 1, "prompt": "a repeated id"}),
        json.dumps({"prompt": "no id: the line number", "choices": ["x"]}),
    ]
    inp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run([*CMD, "--input", str(inp), "--output", str(out), "--choices", "yes", "no", "--seed", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert "\r" not in proc.stderr  # no progress bar when stderr is not a terminal
    assert "line 9 repeats id 1" in proc.stderr
    by_id = {r["id"]: r for r in _lines(out)}
    assert set(by_id) == {1, 2, "s", "bad schema", "bad option", "unknown", 7, 10}
    assert by_id[1]["status"] == "complete" and by_id[1]["text"] in ("yes", "no")
    assert by_id[10] == {"id": 10, "status": "complete", "text": "x"}
    assert by_id["s"]["status"] != "complete" or isinstance(by_id["s"]["value"]["a"], int)
    assert "not JSON" in by_id[2]["error"] and "not an object" in by_id[7]["error"]
    assert "colour" in by_id["unknown"]["error"] and "temperature" in by_id["bad option"]["error"]
    assert by_id["bad schema"]["status"] == "error" and by_id["bad schema"]["error"]
    # a rerun writes nothing new (errors included: their ids are in the output)
    again = subprocess.run([*CMD, "--input", str(inp), "--output", str(out), "--choices", "yes", "no"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 3 and len(_lines(out)) == 8


def test_truncated_last_line_is_cut_and_all_complete_exits_0(tmp_path):
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    _write_requests(inp, 4)
    out.write_text(json.dumps({"id": "r0", "status": "complete", "text": "kept"}) + "\n" + '{"id": "r1", "sta',
                   encoding="utf-8")
    proc = subprocess.run([*CMD, "--input", str(inp), "--output", str(out), "--choices", "a", "b"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    records = _lines(out)
    assert [r["id"] for r in records][0] == "r0" and records[0]["text"] == "kept"
    assert sorted(r["id"] for r in records) == ["r0", "r1", "r2", "r3"]
    assert all(r["status"] == "complete" and r["text"] in ("a", "b") for r in records[1:])


def test_batch_usage_errors(tmp_path):
    inp = tmp_path / "requests.jsonl"
    _write_requests(inp, 1)
    for argv, message in [(["--input", str(inp)], "--output"), (["x", "--input", str(inp), "--output", "o"], "PROMPT"),
                          (["--input", str(inp), "--output", str(inp)], "must not be"),
                          (["--input", str(inp), "--output", "o", "--batch-size", "0"], "batch-size"),
                          (["--input", str(inp), "--output", str(tmp_path / "o"), "--regex", "("], "")]:
        proc = subprocess.run([*CMD, *argv], capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.startswith("corral: error:") and message in proc.stderr, argv
    assert not (tmp_path / "o").exists() or (tmp_path / "o").read_text() == ""  # nothing written on bad usage
