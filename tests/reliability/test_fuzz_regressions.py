"""Replay the fuzz corpora and every saved fuzz finding (issue 14): a fixed finding stays fixed.

Each target replays in its own process (``python -m fuzz --replay``), so that a native crash or hang fails one
test instead of the session: every input in ``fuzz/findings/<target>/`` and a fixed sample of at most 50 corpus
inputs (within a few seconds per target). Findings listed in ``fuzz/known_issues.json`` (reported, not yet fixed)
may still fail. Needs no atheris. See ``fuzz/README.md``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))

from fuzz import harness  # noqa: E402
from fuzz.targets import TARGETS  # noqa: E402

SAMPLE, SECONDS_PER_TARGET = 50, 6


def _replay(name: str) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src"),
                                                       os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "fuzz", "--replay", "--target", name, "--sample", str(SAMPLE),
                           "--seconds", str(SECONDS_PER_TARGET), "--json"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip(), f"replay of {name} died (status {done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", list(TARGETS))
def test_replay_findings_and_corpus_sample(name):
    results = _replay(name)
    summary = next(r for r in results if "replayed" in r)
    assert summary["replayed"]["corpus"] > 0 or not harness.input_files(harness.CORPUS_DIR / name)
    failures = [r for r in results if r.get("failure") and not r["known"]]
    assert not failures, "\n\n".join(f"{r['file']}: {r['failure']}\n{r['trace']}" for r in failures)


# ------------------------------------------------------------------ the harness itself

def test_harness_classifies_errors():
    from corral.errors import GrammarError

    def raises(exc):
        def target(data):
            raise exc
        return target

    assert harness.run_one(raises(GrammarError("bad")), b"") is None
    assert harness.run_one(lambda data: None, b"") is None
    crash = harness.run_one(raises(KeyError("k")), b"")
    assert crash.kind == "crash" and crash.signature.startswith("crash-KeyError-")
    plain = harness.run_one(raises(ValueError("v")), b"")
    assert plain.kind == "crash"


def test_harness_time_limit_is_a_hang():
    def spin(data):
        while True:
            pass

    finding = harness.run_one(spin, b"", time_limit=0.2)
    assert finding.kind == "hang" and finding.seconds >= 0.2


def test_targets_reject_nothing_they_should_accept():
    """A few ordinary inputs run clean through every target."""
    good = {"regex": b"[a-z]{2,4}", "lark": b'start: "a" B\nB: /[0-9]+/\n', "schema": b'{"type": "integer"}',
            "validate": b'{"type": "integer"}\n1\n"x"\n', "matcher": bytes([0, 0, 1, 6, 3, 4, 5, 7, 6])}
    assert set(good) == set(TARGETS)
    for name, data in good.items():
        assert harness.run_one(TARGETS[name].fn, data) is None, name


def test_schema_mutator_keeps_json():
    import random

    from fuzz.mutators import mutate_json

    rng = random.Random(0)
    doc = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    for _ in range(200):
        doc = mutate_json(doc, rng)
        json.loads(json.dumps(doc))
        if len(json.dumps(doc)) > 4000:
            doc = {"type": "string"}
