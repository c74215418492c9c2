"""Running one input through a target: the time limit, what counts as a finding, and where findings are saved.

A target is a function of ``bytes``. Running it on one input (:func:`run_one`) gives ``None`` (fine) or a
:class:`Finding`:

* ``crash``: any exception that is not a :class:`corral.errors.CorralError` (``CorralError`` is corral's documented
  answer to bad input; a plain ``ValueError``, ``KeyError``, ``IndexError``, ``RecursionError``, ``TypeError``,
  ``MemoryError`` ... is not);
* ``invariant``: an ``AssertionError`` raised by a target's own checks or by :mod:`corral.testing` (a broken
  matcher invariant or a wrong answer against an oracle);
* ``hang``: the input used more than the time limit of CPU time (``ITIMER_PROF``, so a loaded machine does not make
  a slow input look hung). A hang inside native code that never returns to Python is caught by libFuzzer's own
  ``-timeout`` (a ``timeout-*`` file) instead.

Warnings are ignored. A finding's *signature* (kind, exception type and the innermost frame in corral, lark or the
fuzz package; for a hang, the corral entry point and the subpackage it was in) identifies the bug;
:func:`save_finding` keeps one input per signature, the shortest seen, with the traceback beside it
(``<name>.trace``).
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS_DIR = FUZZ_DIR / "corpus"
FINDINGS_DIR = FUZZ_DIR / "findings"

#: Seconds of CPU time one input may use.
DEFAULT_TIME_LIMIT = 5.0

#: File suffixes in corpus and findings folders that are notes, not inputs.
NOTE_SUFFIXES = (".trace", ".md", ".txt")


class FuzzTimeout(BaseException):
    """Raised by the CPU-time alarm. A ``BaseException``, so that corral's ``except Exception`` never swallows it."""


@dataclass
class Finding:
    """Why one input is a finding: ``kind`` (crash, invariant, hang), the exception and its traceback."""

    kind: str
    error: str
    trace: str
    signature: str
    seconds: float

    def summary(self) -> str:
        return f"{self.kind}: {self.error.splitlines()[0][:300] if self.error else ''} [{self.signature}]"


def _alarm(signum, frame):
    raise FuzzTimeout()


def _frame_key(tb) -> str:
    """``file:function:line`` of the innermost frame in corral, lark or fuzz (the innermost frame otherwise)."""
    frames = traceback.extract_tb(tb)
    chosen = None
    for fr in frames:
        path = fr.filename.replace(os.sep, "/")
        if "/corral/" in path or "/lark/" in path or "/fuzz/" in path:
            chosen = fr
    chosen = chosen or (frames[-1] if frames else None)
    if chosen is None:
        return "?"
    return f"{Path(chosen.filename).name}:{chosen.name}:{chosen.lineno}"


def _hang_key(tb) -> str:
    """Where a hang was: the outermost corral function (the entry point) and the innermost corral subpackage. Not
    the innermost line, which depends on when the alarm fired."""
    corral = [fr for fr in traceback.extract_tb(tb) if "/corral/" in fr.filename.replace(os.sep, "/")]
    if not corral:
        return "?"
    inner = corral[-1].filename.replace(os.sep, "/").rsplit("/corral/", 1)[1].split("/")[0]
    return f"{Path(corral[0].filename).name}:{corral[0].name}>{inner.removesuffix('.py')}"


def classify(exc: BaseException, seconds: float) -> Finding | None:
    """The finding an exception raised by a target stands for, or ``None`` for corral's documented errors."""
    from corral.errors import CorralError

    if isinstance(exc, CorralError):
        return None
    tb = exc.__traceback__
    if isinstance(exc, FuzzTimeout):
        kind, key = "hang", _hang_key(tb)
        error = f"FuzzTimeout: more than the time limit of CPU time (in {key})"
    else:
        kind = "invariant" if isinstance(exc, AssertionError) and _raised_by_checks(tb) else "crash"
        key = _frame_key(tb)
        error = f"{type(exc).__name__}: {exc}"
    trace = "".join(traceback.format_exception(type(exc), exc, tb))
    if len(trace) > 20000:  # a RecursionError: keep both ends
        trace = trace[:8000] + "\n[...]\n" + trace[-8000:]
    sig = f"{kind}-{type(exc).__name__}-{key}"
    return Finding(kind, error, trace, sig, seconds)


def _raised_by_checks(tb) -> bool:
    frames = traceback.extract_tb(tb)
    if not frames:
        return False
    path = frames[-1].filename.replace(os.sep, "/")
    return "/fuzz/" in path or "/corral/testing/" in path


def run_one(target, data: bytes, time_limit: float = DEFAULT_TIME_LIMIT) -> Finding | None:
    """Run ``target(data)`` under a CPU-time limit; the finding, or ``None`` when the input is handled well.

    Must be called from the main thread (it uses ``SIGPROF``). After a hang, corral's process-wide caches are
    cleared, since the interrupted code may have left one half-filled.
    """
    previous = signal.signal(signal.SIGPROF, _alarm)
    start = time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            signal.setitimer(signal.ITIMER_PROF, time_limit)
            try:
                target(data)
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
        return None
    except BaseException as exc:  # noqa: BLE001 - classifying every exception is the point
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        finding = classify(exc, time.process_time() - start)
        if isinstance(exc, (FuzzTimeout, MemoryError)):
            clear_caches()
        return finding
    finally:
        signal.signal(signal.SIGPROF, previous)


def clear_caches() -> None:
    """Clear corral's process-wide caches and the targets' own."""
    try:
        from corral.generate import clear_caches

        clear_caches()
    except Exception:  # noqa: BLE001 - best effort
        pass
    try:
        from fuzz import targets

        targets.clear_caches()
    except Exception:  # noqa: BLE001
        pass


def sig_hash(signature: str) -> str:
    return hashlib.sha1(signature.encode()).hexdigest()[:10]


def save_finding(target_name: str, data: bytes, finding: Finding, folder: Path | None = None) -> Path | None:
    """Save ``data`` as ``<kind>-<signature hash>`` in ``findings/<target>/`` (with ``.trace``), unless an input
    with the same signature is already there and is no longer. Returns the path written, or ``None``."""
    folder = folder or FINDINGS_DIR / target_name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{finding.kind}-{sig_hash(finding.signature)}"
    if path.exists() and len(path.read_bytes()) <= len(data):
        return None
    path.write_bytes(data)
    note = (f"target: {target_name}\nsignature: {finding.signature}\nkind: {finding.kind}\n"
            f"seconds: {finding.seconds:.2f}\ninput: {data[:2000]!r}\n\n{finding.trace}")
    path.with_name(path.name + ".trace").write_text(note, encoding="utf-8", errors="backslashreplace")
    return path


def input_files(folder: Path) -> list[Path]:
    """The inputs of a corpus or findings folder (notes and hidden files left out), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and not p.name.endswith(NOTE_SUFFIXES))


def minimize(target, data: bytes, signature: str, time_limit: float = DEFAULT_TIME_LIMIT,
             budget: float = 60.0) -> bytes:
    """A shorter input with the same finding signature, within ``budget`` seconds: JSON-level reductions first
    when the input is JSON (hoist a child over its parent, drop a member or an element, simplify a leaf), then
    delta debugging on bytes."""
    import json

    from fuzz.mutators import json_reductions

    deadline = time.monotonic() + budget

    def same(candidate: bytes) -> bool:
        f = run_one(target, candidate, time_limit)
        return f is not None and f.signature == signature

    def dump(doc) -> bytes:
        return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")

    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = None
    if doc is not None:
        if len(dump(doc)) <= len(data) and same(dump(doc)):
            data = dump(doc)
        progress = True
        while progress and time.monotonic() < deadline:
            progress = False
            for candidate in json_reductions(doc):
                if time.monotonic() > deadline:
                    break
                b = dump(candidate)
                if len(b) < len(data) and same(b):
                    doc, data, progress = candidate, b, True
                    break
    chunk = max(1, len(data) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i, changed = 0, False
        while i < len(data) and time.monotonic() < deadline:
            candidate = data[:i] + data[i + chunk:]
            if candidate and same(candidate):
                data, changed = candidate, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return data


def print_finding(name: str, path: Path, finding: Finding, out=sys.stdout) -> None:
    print(f"  {name}/{path.name}: {finding.summary()}", file=out)
