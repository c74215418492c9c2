"""The server's parts without a server: request translation, stop strings over token boundaries, the error format,
and ``corral serve`` as a process (starts on loopback, answers, stops on SIGINT; a taken port exits 2)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server tests need the server extra (fastapi)")
pytest.importorskip("uvicorn", reason="the server tests need the server extra (uvicorn)")


from corral.errors import SchemaError
from corral.server.errors import APIError, from_exception
from corral.server.protocol import parse_request
from corral.server.text import TextStream


def test_json_schema_translation_honours_strict():
    schema = {"type": "object"}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    req = parse_request({"messages": [{"role": "user", "content": "a"}], "response_format": fmt}, "chat")
    assert req.constraint.schema == schema and req.constraint_param == "response_format.json_schema.schema"
    assert not req.schema_options.lenient
    fmt["json_schema"]["strict"] = False
    assert parse_request({"messages": [{"role": "user", "content": "a"}], "response_format": fmt},
                         "chat").schema_options.lenient


def test_bundled_imports_are_fine():
    req = parse_request({"prompt": "a", "grammar": "%import common.INT\nstart: INT"}, "completion")
    assert "%import common.INT" in req.constraint.grammar


def test_request_fields_become_options():
    req = parse_request({"prompt": ["a", "b"], "n": 2, "seed": 5, "max_tokens": 7, "temperature": 0, "top_p": 0.9,
                         "stop": "\n", "stream": True, "stream_options": {"include_usage": True},
                         "method": "lcd"}, "completion")
    assert req.prompts == ["a", "b"] and req.n == 2 and req.seed == 5 and req.stop == ("\n",)
    assert req.options == {"max_tokens": 7, "temperature": 0.0, "top_p": 0.9, "method": "lcd"}
    assert req.stream and req.include_usage
    chat = parse_request({"messages": [{"role": "developer", "content": [{"type": "text", "text": "x"},
                                                                         {"type": "text", "text": "y"}]}],
                          "max_completion_tokens": 3, "response_format": {"type": "text"}}, "chat")
    assert chat.prompts == [[{"role": "system", "content": "xy"}]] and chat.options == {"max_tokens": 3}
    assert chat.constraint.kind is None


def test_json_object_is_an_object_schema():
    req = parse_request({"prompt": "a", "response_format": {"type": "json_object"}}, "completion")
    assert req.constraint.schema == {"type": "object"}


@pytest.mark.parametrize("body, param", [
    ({"prompt": "a", "regex": "x", "grammar": "json"}, "regex"),
    ({"prompt": "a", "grammar": "no_such_grammar"}, "grammar"),
    ({"prompt": "a", "grammar": "%import .secrets (KEY)\nstart: KEY"}, "grammar"),  # reads a .lark file here
    ({"prompt": "a", "grammar": "C:grammars/x.lark"}, "grammar"),
    ({"prompt": "a", "choices": []}, "choices"),
    ({"prompt": "a", "stop": ["a"] * 5}, "stop"),
    ({"prompt": "a", "n": 17}, "n"),
    ({"prompt": "a", "stream": "yes"}, "stream"),
    ({"prompt": "a", "logprobs": 3}, "logprobs"),
])
def test_refusals_name_the_field(body, param):
    with pytest.raises(APIError) as info:
        parse_request(body, "completion")
    assert info.value.status == 400 and info.value.param == param


@pytest.mark.parametrize("extra, options", [
    ({"method": "asap", "n": 3}, {"method": "asap"}),
    ({"draft": "model", "draft_tree": 3}, {"draft": "model", "draft_tree": 3}),
    ({"draft": "ngram", "draft_tree": [2, 2], "method": "awrs"}, {"draft": "ngram", "draft_tree": (2, 2),
                                                                 "method": "awrs"}),
    ({"draft": "model", "switching": "entropy"}, {"draft": "model", "switching": "entropy"}),
    ({"draft": "model", "switching": {"type": "entropy", "threshold": 0.5, "window": 2}},
     {"draft": "model", "switching": "entropy", "switch_threshold": 0.5, "switch_window": 2}),
    ({"draft": "model", "switching": {"type": "entropy", "threshold": float("inf")}},
     {"draft": "model", "switching": "entropy", "switch_threshold": float("inf")}),
])
def test_speculation_and_asap_fields_become_options(extra, options):
    for body, endpoint in (({"prompt": "a", **extra}, "completion"),
                           ({"messages": [{"role": "user", "content": "a"}], **extra}, "chat")):
        assert parse_request(body, endpoint).options == options


@pytest.mark.parametrize("extra, param, words", [
    ({"method": "asap", "samples": 3}, "samples", "n choices"),
    ({"method": "asap", "trie": {}}, "trie", "trie"),
    ({"method": "asap", "draft": "ngram"}, "draft", "asap"),
    ({"method": "asap", "temperature": 0}, "temperature", "temperature > 0"),
    ({"draft_tree": 2}, "draft_tree", "needs a draft"),
    ({"draft": "ngram", "draft_tree": 0}, "draft_tree", ">= 1"),
    ({"draft": "ngram", "draft_tree": True}, "draft_tree", ">= 1"),
    ({"draft": "ngram", "draft_tree": []}, "draft_tree", "non-empty list"),
    ({"draft": "ngram", "draft_tree": [2, "2"]}, "draft_tree", "non-empty list"),
    ({"draft": "ngram", "draft_tree": 2, "method": "smc"}, "draft_tree", "'lcd' or 'awrs'"),
    ({"draft": "model", "draft_tree": 2, "switching": "entropy"}, "draft_tree", "without switching"),
    ({"switching": "entropy"}, "switching", "draft: 'model'"),
    ({"switching": "entropy", "draft": "ngram"}, "switching", "draft: 'model'"),
    ({"switching": "entropy", "draft": "model", "method": "awrs"}, "switching", "lossy"),
    ({"switching": "always", "draft": "model"}, "switching", "'entropy'"),
    ({"switching": True, "draft": "model"}, "switching", "'entropy'"),
    ({"switching": {"threshold": 1.0}, "draft": "model"}, "switching.type", "'entropy'"),
    ({"switching": {"type": "entropy", "threshold": "high"}, "draft": "model"}, "switching.threshold", "nats"),
    ({"switching": {"type": "entropy", "threshold": float("nan")}, "draft": "model"}, "switching.threshold", "nats"),
    ({"switching": {"type": "entropy", "window": 0}, "draft": "model"}, "switching.window", ">= 1"),
    ({"switching": {"type": "entropy", "window": 1.5}, "draft": "model"}, "switching.window", ">= 1"),
    ({"switching": {"type": "entropy", "size": 3}, "draft": "model"}, "switching.size", "type, threshold, window"),
])
def test_speculation_and_asap_refusals_name_the_field(extra, param, words):
    for body, endpoint in (({"prompt": "a", **extra}, "completion"),
                           ({"messages": [{"role": "user", "content": "a"}], **extra}, "chat")):
        with pytest.raises(APIError) as info:
            parse_request(body, endpoint)
        assert info.value.status == 400 and info.value.param == param and words in info.value.message, \
            info.value.message


def test_corral_stats_report_switching_shares_and_the_asap_trie():
    from types import SimpleNamespace

    from corral.server.service import corral_stats

    switched = SimpleNamespace(stats={"switching": {"small_tokens": 3, "large_tokens": 1, "share_large": 0.25}})
    assert corral_stats(switched, lossy=True) == {"switching": {"lossy": True, "small_tokens": 3, "large_tokens": 1,
                                                                "share_large": 0.25, "share_small": 0.75}}
    assert corral_stats(SimpleNamespace(stats={}), lossy=True) == {"switching": {"lossy": True}}  # cut at a stop
    asap = SimpleNamespace(stats={"root_theta": 0.5, "trie_samples": 2, "samples": [], "n_tokens": 4})
    assert corral_stats(asap) == {"asap": {"root_theta": 0.5, "trie_samples": 2}}
    assert corral_stats(SimpleNamespace(stats={"n_checks": 3})) is None and corral_stats(object()) is None


def _stream(pieces, stop):
    token_bytes = [p.encode() for p in pieces] + [b""]
    return TextStream(token_bytes, {len(pieces)}, stop), len(pieces)


def test_stop_string_split_over_tokens_is_never_sent():
    ts, eos = _stream(["Hel", "lo, ST", "OP here", "!"], ["STOP"])
    sent = [ts.push(0), ts.push(1), ts.push(2)]
    assert ts.stopped and "".join(sent) == "Hello, " and ts.n_tokens == 3
    assert ts.push(3) == "" and ts.finish() == ""


def test_text_without_stop_is_passed_on_and_completed_by_the_result():
    ts, eos = TextStream([b"a", b"\xc3", b"\xa9b", b""], {3}), 3  # a character split over two tokens
    assert ts.push(0) == "a" and ts.push(1) == "" and ts.push(2) == "\u00e9b" and ts.push(eos) == ""
    assert ts.finish("a\u00e9b") == "" and ts.text == "a\u00e9b"


def test_schema_error_body_has_pointer_and_keyword():
    error = from_exception(SchemaError("bad", pointer="/properties/a/type", keyword="type"),
                           param="response_format.json_schema.schema")
    body = error.body()["error"]
    assert error.status == 400 and body["param"] == "response_format.json_schema.schema/properties/a/type"
    assert body["keyword"] == "type" and body["pointer"] == "/properties/a/type" and "'type'" in body["message"]
    crash = from_exception(KeyError("secret"))
    assert crash.status == 500 and "secret" not in crash.message and "KeyError" in crash.message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_starts_answers_and_stops(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "corral", "serve", "--port", str(port), "--max-batch", "2",
                             "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate(timeout=10)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                    health = json.load(response)
                break
            except OSError:
                assert time.monotonic() < deadline, "corral serve did not start"
                time.sleep(0.2)
        assert health["status"] == "ok" and health["max_batch"] == 2 and health["model"] == "corral-default"
        other = subprocess.run([sys.executable, "-m", "corral", "serve", "--port", str(port)],  # taken
                               capture_output=True, text=True, timeout=120)
        assert other.returncode == 2 and other.stderr.startswith("corral: error: cannot listen"), other.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and f"127.0.0.1:{port}" in err


@pytest.mark.slow
def test_load_test_smoke(tmp_path):
    """``benchmarks/load_test.py`` on a tiny workload: every response valid, none lost (exit status 0)."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "load_test.py"
    out = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, str(script), "--requests", "16", "--clients", "8", "--modes", "continuous",
                           "--time-limit", "120", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summaries = json.loads(out.read_text())["summaries"]
    assert [s["mode"] for s in summaries] == ["continuous (cold)", "continuous (warm)"]
    assert all(s["ok"] == 16 and s["invalid"] == 0 and s["lost"] == 0 for s in summaries)


def test_serve_without_the_server_extra_names_it(tmp_path):
    (tmp_path / "fastapi").mkdir()
    (tmp_path / "fastapi" / "__init__.py").write_text("raise ImportError('No module named fastapi')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "corral", "serve", "--port", "0"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 2 and "server extra" in proc.stderr and "pip install 'corral[server]'" in proc.stderr
    assert proc.stderr.startswith("corral: error:") and "Traceback" not in proc.stderr


def test_compile_budget_is_the_servers():
    """The server's compile budget (10 s unless given) applies to every request; a bad value is a clear error."""
    from corral.budget import CompileBudget
    from corral.errors import ConfigurationError
    from corral.generator import Generator
    from corral.server.app import SERVER_COMPILE_BUDGET, create_app

    gen = Generator()
    app = create_app(gen, batched=False)
    assert app.state.service.compile_budget == CompileBudget(seconds=SERVER_COMPILE_BUDGET)
    assert create_app(gen, batched=False, compile_budget=0.5).state.service.compile_budget.seconds == 0.5
    with pytest.raises(ConfigurationError, match="compile_budget"):
        create_app(gen, batched=False, compile_budget="soon")
