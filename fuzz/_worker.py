"""One libFuzzer process (atheris) for one target; started by :mod:`fuzz.campaign`, not by hand.

``FUZZ_TARGET=... FUZZ_STATS=... FUZZ_BAD_LOG=... fuzz/worker.sh [libFuzzer arguments...]``: the target, where to
write the exec count and where to log the SHA-1 of findings come from the environment, so that libFuzzer can run
``fuzz/worker.sh`` again with its own arguments (``-merge=1`` does).

corral (and lark for the ``lark`` target) is imported inside atheris' instrumentation, so libFuzzer sees its
branch coverage. Every input goes through :func:`fuzz.harness.run_one`: a finding is saved in
``findings/<target>/`` and the process goes on (libFuzzer itself only stops on a signal, a native hang past
``-timeout`` or memory past ``-rss_limit_mb``, and then writes its own ``crash-``/``timeout-``/``oom-`` file). The
SHA-1 of every finding's input goes to ``BAD_LOG``, so that the campaign can take it out of the corpus (atheris does
not pass a target's ``-1`` on to libFuzzer). Inputs already saved as findings are skipped (not run), so that a seed
that hangs in native code does not stop every restart at the same place.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path


#: Resident memory (MiB) past which a worker clears corral's caches, then restarts; libFuzzer's -rss_limit_mb
#: (higher) still catches a single input that blows up.
SOFT_RSS_MIB = int(os.environ.get("FUZZ_SOFT_RSS_MIB", "1536"))


def _rss_mib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2 ** 20


def _malloc_trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> None:
    name = os.environ["FUZZ_TARGET"]
    stats_path = os.environ.get("FUZZ_STATS", os.devnull)
    bad_log = os.environ.get("FUZZ_BAD_LOG", os.devnull)
    libfuzzer_args = argv[1:]

    import atheris

    from fuzz import harness, targets

    target = targets.get_target(name)
    with atheris.instrument_imports(include=list(target.instrument)):
        targets.preload(name)
    limit = float(os.environ.get("FUZZ_TIME_LIMIT", harness.DEFAULT_TIME_LIMIT))
    state = {"execs": 0, "findings": 0, "saved": 0, "skipped": 0, "last": time.monotonic()}
    # the saved findings (libFuzzer's native hangs and crashes among them) are not run again: a seed that hangs
    # in native code would otherwise stop every restart at the same place
    skip = {hashlib.sha1(p.read_bytes()).digest() for p in harness.input_files(harness.FINDINGS_DIR / name)}

    def write_stats() -> None:
        if stats_path == os.devnull:
            return
        tmp = stats_path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({k: v for k, v in state.items() if k != "last"}, fh)
        os.replace(tmp, stats_path)

    def one(data: bytes) -> None:
        state["execs"] += 1
        if skip and hashlib.sha1(data).digest() in skip:
            state["skipped"] += 1
            return
        finding = harness.run_one(target.fn, data, limit)
        if finding is not None:
            state["findings"] += 1
            with open(bad_log, "a") as fh:
                fh.write(hashlib.sha1(data).hexdigest() + "\n")
            path = harness.save_finding(name, data, finding)
            if path is not None:
                state["saved"] += 1
                print(f"FINDING {path.name} {finding.summary()}", file=sys.stderr, flush=True)
        if state["execs"] % 16 == 0 and _rss_mib() > SOFT_RSS_MIB:
            harness.clear_caches()  # corral's caches are bounded by entries, not bytes: big automata pile up
            _malloc_trim()  # freed memory stays resident (fragmented heap) until trimmed
            if _rss_mib() > SOFT_RSS_MIB:
                write_stats()
                print(f"worker: {_rss_mib()} MiB resident after clearing the caches; restarting", file=sys.stderr,
                      flush=True)
                os._exit(0)  # the campaign starts a fresh worker (libFuzzer's own limit would blame this input)
        now = time.monotonic()
        if now - state["last"] > 1.0:
            state["last"] = now
            write_stats()

    kwargs = {}
    if target.json_input:
        from fuzz.mutators import mutate_schema

        kwargs["custom_mutator"] = mutate_schema
    atheris.Setup([str(Path(__file__).with_name("worker.sh")), *libfuzzer_args], one, **kwargs)
    write_stats()
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
