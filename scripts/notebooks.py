"""Execute the notebooks in ``notebooks/`` with a real Jupyter kernel, and compare their outputs with the committed ones.

    python scripts/notebooks.py                 # re-execute every notebook in place (commit the result)
    python scripts/notebooks.py --check         # execute copies; exit 1 when an output differs from the committed one
    python scripts/notebooks.py quickstart      # just that notebook (a name or a path)

A notebook is executed by ``nbclient`` with the ``python3`` kernel of this interpreter (``ipykernel``), from the
``notebooks/`` folder, and fails on the first error. The comparison (:func:`normalized`) is exact except for what
cannot repeat: execution counts, memory addresses (``0x7f...``), image bytes (a plot must still be there, as an
image), durations and rates (``2.3 s``, ``364 tokens/s``: the header of a displayed result), and, in cells tagged
``timing``, every number (wall-clock figures). ``tests/notebooks`` runs the check.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TIMEOUT_S = 300  # per cell
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
# a duration or a rate wherever it is printed (Result headers show the call's wall time and tokens/s)
_TIMING = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s?(?:s|ms|µs|tokens/s)\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
# tqdm (imported by transformers) warns in every kernel without ipywidgets; the warning names a local path
_QUIET = "ignore:IProgress not found"
_IMAGES = ("image/png", "image/svg+xml", "image/jpeg")
# Kernels compute with one thread: with two, torch's reductions can split differently on a busy machine, and a
# probability shown to four decimals moved (0.9052 / 0.9051) between runs of the same code.
_THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def notebook_paths(names=()) -> list[Path]:
    """The notebooks named (a name without ``.ipynb``, or a path), or all of ``notebooks/``, sorted."""
    if not names:
        return sorted(NOTEBOOKS.glob("*.ipynb"))
    return [Path(n) if n.endswith(".ipynb") else NOTEBOOKS / f"{n}.ipynb" for n in names]


def execute(path: Path, timeout: int = TIMEOUT_S):
    """The notebook at ``path`` executed top to bottom (an ``nbformat`` node; the file is not written).

    Raises ``nbclient.exceptions.CellExecutionError`` on the first cell that raises."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("PYTHONWARNINGS", _QUIET)  # the kernel inherits it
    for name in _THREADS:  # one thread: float sums in the same order however loaded the machine is
        os.environ.setdefault(name, "1")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def _mask_text(text: str, timing: bool) -> str:
    text = _TIMING.sub("#t", _ADDRESS.sub("0x?", text))
    return _NUMBER.sub("#", text) if timing else text


def _output(out: dict, timing: bool) -> dict:
    """One output with what cannot repeat masked."""
    kind = out.get("output_type")
    if kind == "stream":
        return {"stream": out.get("name"), "text": _mask_text("".join(out.get("text", "")), timing)}
    if kind == "error":
        return {"error": out.get("ename"), "value": out.get("evalue")}
    shown = {}
    for mime, value in sorted(out.get("data", {}).items()):
        text = "".join(value) if isinstance(value, list) else str(value)
        shown[mime] = "<image>" if mime in _IMAGES else _mask_text(text, timing)
    return {kind: shown}


def normalized(nb) -> list[dict]:
    """Each code cell's source and masked outputs (consecutive stream outputs merged), for comparison."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        timing = "timing" in cell.get("metadata", {}).get("tags", [])
        outs: list[dict] = []
        for out in cell.get("outputs", []):
            item = _output(out, timing)
            if outs and "stream" in item and outs[-1].get("stream") == item["stream"]:
                outs[-1] = {**outs[-1], "text": outs[-1]["text"] + item["text"]}
            else:
                outs.append(item)
        cells.append({"source": cell.source, "outputs": outs})
    return cells


def differences(committed, executed) -> list[str]:
    """Human-readable differences between the normalized outputs of two versions of a notebook (empty: same)."""
    a, b = normalized(committed), normalized(executed)
    if [c["source"] for c in a] != [c["source"] for c in b]:
        return ["the cells' sources differ"]
    out = []
    for i, (ca, cb) in enumerate(zip(a, b)):
        if ca["outputs"] != cb["outputs"]:
            diff = difflib.unified_diff(repr(ca["outputs"]).split("\\n"), repr(cb["outputs"]).split("\\n"),
                                        "committed", "re-executed", lineterm="", n=1)
            out.append(f"code cell {i + 1}:\n" + "\n".join(list(diff)[:40]))
    return out


def _strip_volatile(nb) -> None:
    """Drop per-run metadata (execution timestamps) so that re-executing an unchanged notebook leaves the file as
    it was."""
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)


def main(argv=None) -> int:
    """Command line: execute notebooks in place, or ``--check`` them against the committed outputs."""
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook names or paths (default: all of notebooks/)")
    parser.add_argument("--check", action="store_true", help="compare with the committed outputs; write nothing")
    args = parser.parse_args(argv)
    status = 0
    for path in notebook_paths(args.names):
        t0 = time.perf_counter()
        nb = execute(path)
        took = time.perf_counter() - t0
        if args.check:
            diffs = differences(nbformat.read(path, as_version=4), nb)
            status |= bool(diffs)
            print(f"{path.name}: {took:.1f} s, " + ("outputs match" if not diffs else "DIFFERS\n" + "\n".join(diffs)))
        else:
            _strip_volatile(nb)
            nbformat.write(nb, path)
            print(f"{path.name}: executed in {took:.1f} s, written")
    return status


if __name__ == "__main__":
    sys.exit(main())
