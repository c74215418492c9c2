"""The notebooks (issue 15): each runs top to bottom with a real Jupyter kernel (nbclient + ipykernel), its cells'
own asserts included, and its committed outputs are those of the current code (re-executed outputs match, with
execution counts, addresses, image bytes and the numbers of ``timing`` cells masked: ``scripts/notebooks.py``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import notebooks as runner  # noqa: E402  (scripts/notebooks.py)

nbformat = pytest.importorskip("nbformat", reason="the notebooks need the dev extra (nbformat, nbclient, ipykernel)")
pytest.importorskip("nbclient", reason="the notebooks need the dev extra (nbclient)")
pytest.importorskip("ipykernel", reason="the notebooks need the dev extra (ipykernel)")

PATHS = runner.notebook_paths()
MINUTE = 60.0  # each notebook runs in under a minute (the bar); twice that here for a loaded CI box


def test_there_are_notebooks():
    assert {p.stem for p in PATHS} >= {"quickstart", "lark_authoring", "json_schema", "faithful_sampling",
                                       "speculative_decoding"}


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_and_matches_its_committed_outputs(path):
    committed = nbformat.read(path, as_version=4)
    assert all(c.get("execution_count") for c in committed.cells if c.cell_type == "code"), \
        f"{path.name} is committed unexecuted: run python scripts/notebooks.py {path.stem}"
    t0 = time.perf_counter()
    executed = runner.execute(path)
    took = time.perf_counter() - t0
    diffs = runner.differences(committed, executed)
    assert not diffs, (f"{path.name}: the committed outputs are not those of the current code "
                       f"(re-run python scripts/notebooks.py {path.stem}):\n" + "\n".join(diffs))
    assert took < 2 * MINUTE, f"{path.name} took {took:.0f} s"


def test_masking_keeps_what_matters():
    """The comparison masks only what cannot repeat: a changed word or number in an untagged cell is a difference."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)"), nbformat.v4.new_code_cell("t()", metadata={"tags": ["timing"]})]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="answer 42 at 0x7f00aa11\n")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="took 1.25 s\n")]
    other = nbformat.reads(nbformat.writes(nb), as_version=4)
    other.cells[0].outputs[0].text = "answer 42 at 0x7f00bb22\n"
    other.cells[1].outputs[0].text = "took 3.5 s\n"
    assert runner.differences(nb, other) == []
    other.cells[0].outputs[0].text = "answer 43 at 0x7f00bb22\n"
    assert runner.differences(nb, other)
    other.cells[0].outputs[0].text = "answer 42 at 0x7f00bb22\n"
    other.cells[1].outputs[0].text = "took 3.5 min\n"
    assert runner.differences(nb, other)
    other.cells[1].outputs[0].text = "took 1.25 s\n"
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<b>ok</b> 0.84 s · 95 tokens/s"})]
    other.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<b>ok</b> 0.08 s · 9 tokens/s"})]
    assert runner.differences(nb, other) == []  # durations and rates anywhere
    other.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<b>no</b> 0.08 s · 9 tokens/s"})]
    assert runner.differences(nb, other)
