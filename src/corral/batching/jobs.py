"""The batch command: ``corral generate --input requests.jsonl --output results.jsonl [--batch-size N]``.

Each input line is a JSON object ``{"id": ..., "prompt": ... | "messages": [...], "system"?, "schema" | "grammar" |
"regex" | "choices"?, option: value...}``; the command line's constraint, ``--system`` and option flags are the
defaults of every line. A line without ``"id"`` gets its line number (1-based). Each finished row appends one line
``{"id", "status", "text", "value"?, "error"?}`` to the output and flushes it, so a crash or Ctrl-C loses no
finished row; a rerun reads the output first and skips the ids already there (a truncated last line, from a crash
mid-write, is cut off). A bad line (not JSON, not an object, an unknown field, a bad schema or option, a prompt too
long) gets its ``"status": "error"`` line and the batch goes on. A ``tqdm`` progress bar goes to stderr when stderr is
a terminal; a summary line goes to stderr at the end.

Exit status: 0 when every row of the input has a ``complete`` line in the output, 3 when some row ended otherwise
(``length``, ``error``, ``invalid``, or a repeated id, which is skipped), 2 on bad usage (no input file, bad flags,
a bad shared constraint or model), 130 when interrupted (rerun to resume).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import fields

from corral.errors import ConfigurationError

__all__ = ["run_batch_command", "read_done", "parse_requests", "result_record"]

EXIT_OK, EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 2, 3, 130


def _key(value) -> str:
    """A row id as a comparable key (``1`` and ``"1"`` differ)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def read_done(path: str) -> dict[str, str]:
    """``{id key: status}`` of the rows already in an output file; cuts off a truncated last line.

    Parameters
    ----------
    path : str
        The output file (absent: nothing done).

    Returns
    -------
    dict of str to str
        Keys are the ids' canonical JSON; lines that are not JSON objects with an ``"id"`` are ignored.
    """
    if not os.path.exists(path):
        return {}
    with open(path, "rb") as fh:
        data = fh.read()
    end = data.rfind(b"\n") + 1
    if end < len(data):  # a partial line (a crash mid-write): drop it, so the next append starts a fresh line
        with open(path, "r+b") as fh:
            fh.truncate(end)
        data = data[:end]
    done: dict[str, str] = {}
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and "id" in record:
            done[_key(record["id"])] = str(record.get("status"))
    return done


def parse_requests(path: str):
    """Yield ``(line number, id, request dict or error message)`` for each non-blank line of a JSONL file.

    Parameters
    ----------
    path : str

    Yields
    ------
    (int, object, dict or str)
        The request dict (its ``"id"`` filled in with the line number when absent), or why the line is bad.
    """
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield number, number, f"line {number} is not UTF-8 ({exc.reason} at byte {exc.start})"
                continue
            except (ValueError, RecursionError) as exc:
                yield number, number, f"line {number} is not JSON ({str(exc) or type(exc).__name__})"[:500]
                continue
            if not isinstance(record, dict):
                yield number, number, f"line {number} is a JSON {type(record).__name__}, not an object"
                continue
            record.setdefault("id", number)
            yield number, record["id"], record


def result_record(row_id, result) -> dict:
    """The output line of one row: ``{"id", "status", "text", "value"?, "error"?}``."""
    record = {"id": row_id, "status": result.status, "text": result.text}
    if result.value is not None:
        dump = getattr(result.value, "model_dump", None)
        record["value"] = dump(mode="json") if callable(dump) else result.value
    if getattr(result, "error", None):
        record["error"] = result.error
    return record


def _defaults(args) -> tuple[dict, dict]:
    """The command line's constraint and options, as the defaults of every row (checked: bad flags exit 2)."""
    from corral.options import OPTION_GROUPS, GenerateOptions

    checked = GenerateOptions.from_cli(args)
    options = {f.name: getattr(getattr(checked, group), f.name)
               for group, cls in OPTION_GROUPS.items() for f in fields(cls)}
    constraint = {k: getattr(args, k, None) for k in ("grammar", "regex", "choices", "schema")}
    return {k: v for k, v in constraint.items() if v is not None}, options


def _check_usage(args) -> None:
    if args.output is None or args.input is None:
        raise ConfigurationError("batch mode needs both --input FILE and --output FILE")
    if args.prompt is not None or getattr(args, "messages", None) is not None:
        raise ConfigurationError("--input reads the prompts from FILE: give no PROMPT or --messages")
    if getattr(args, "stream", False) or getattr(args, "json", False):
        raise ConfigurationError("--input writes JSON Lines to --output: --stream and --json do not apply")
    if not os.path.isfile(args.input):
        raise ConfigurationError(f"cannot read --input {args.input!r}: no such file")
    if os.path.exists(args.output) and os.path.samefile(args.input, args.output):
        raise ConfigurationError("--output must not be the --input file")
    if isinstance(args.batch_size, bool) or not isinstance(args.batch_size, int) or args.batch_size < 1:
        raise ConfigurationError(f"--batch-size must be an integer >= 1, got {args.batch_size!r}")


def run_batch_command(args) -> int:
    """Run ``corral generate --input FILE --output FILE`` (see the module docstring).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``generate`` arguments (``input``, ``output``, ``batch_size``, the constraint and option flags,
        ``model``, ``system``).

    Returns
    -------
    int
        The exit status.
    """
    _check_usage(args)
    constraint, options = _defaults(args)
    done = read_done(args.output)
    statuses = dict(done)  # every row of the input -> its status (previous runs and this one)
    todo, bad, repeated, seen = [], [], 0, set()
    for number, row_id, item in parse_requests(args.input):
        key = _key(row_id)
        if key in seen:
            print(f"corral: warning: line {number} repeats id {row_id!r}: skipped", file=sys.stderr)
            repeated += 1
            continue
        seen.add(key)
        if key in done:
            continue
        (bad if isinstance(item, str) else todo).append((row_id, item))
    statuses = {k: v for k, v in statuses.items() if k in seen}
    skipped = len(statuses)
    run = None
    if todo:  # shared errors (constraint, model) exit 2 here, before anything is written
        from corral.batching.api import iter_batch

        run = iter_batch([item for _, item in todo], model=args.model, system=getattr(args, "system", None),
                         batch_size=args.batch_size, tags=lambda i, item: todo[i][0], **constraint, **options)
    bar = _progress(len(todo) + len(bad))
    written = 0
    try:
        with open(args.output, "a", encoding="utf-8") as out:
            def write(row_id, record):
                nonlocal written
                out.write(json.dumps(record, ensure_ascii=False, default=repr) + "\n")
                out.flush()
                statuses[_key(row_id)] = record["status"]
                written += 1
                if bar is not None:
                    bar.update(1)

            for row_id, message in bad:
                write(row_id, {"id": row_id, "status": "error", "text": "", "error": message})
            for index, result in run or ():
                write(todo[index][0], result_record(todo[index][0], result))
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"corral: interrupted after {written} rows; every finished row is in {args.output!r}: rerun the same "
              "command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if bar is not None:
        bar.close()
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"corral: {len(statuses)} rows ({summary or 'none'}); {skipped} already in the output"
          + (f"; {repeated} repeated ids skipped" if repeated else ""), file=sys.stderr)
    complete = all(s == "complete" for s in statuses.values())
    return EXIT_OK if complete and not repeated else EXIT_INCOMPLETE


def _progress(total: int):
    """A tqdm bar on stderr when stderr is a terminal (else ``None``)."""
    if total == 0 or not sys.stderr.isatty():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with transformers
        return None
    return tqdm(total=total, file=sys.stderr, unit="row", desc="corral")
