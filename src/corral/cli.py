"""Command line interface: ``corral generate PROMPT [options]``, ``corral validate --schema S FILE`` and
``corral lint FILE`` and ``corral serve --model PATH`` (the OpenAI-compatible server: :mod:`corral.server.command`)
(also ``python -m corral``).

``generate`` takes a chat instead of PROMPT with ``--messages FILE`` (a JSON list of messages) and a system message
with ``--system TEXT`` (with PROMPT, PROMPT becomes the user message): see :mod:`corral.chat`. ``--stream`` prints the
text as it is generated (:mod:`corral.streaming`), then a newline; it does not combine with ``--json``.
``generate --input requests.jsonl --output results.jsonl`` runs many requests batched, one JSON line per row,
resumable (:mod:`corral.batching.jobs`: exit 0 all rows complete, 3 some row not, 2 bad usage, 130 interrupted).

Exit codes of ``generate``: 0 when the output is complete, 3 when ``--max-tokens`` ran out first (the text is then
not valid) or, with ``--lenient``, when the output fails validation, 2 on bad input (the error message is printed to stderr). Exit codes of ``validate``: 0 when every record
is valid, 1 when a record is invalid or malformed, 2 on bad input (usage, unreadable file, bad schema); ``validate``
prints the invalid and malformed records and a summary (``--all``: every record). ``lint`` prints one line per finding
of :func:`corral.authoring.linting.lint` (``no findings`` when there is none); exit codes: 0 no findings, 1 warnings
only, 2 errors (an undefined name, an empty language) or bad input (an unreadable file, a grammar lark cannot parse).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

from corral.errors import ConfigurationError, CorralError
from corral.options import add_cli_arguments

__all__ = ["main", "build_parser"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_LENGTH = 3
EXIT_INVALID = 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``corral`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(prog="corral", description="Exact constrained generation with language models.")
    from corral import __version__

    parser.add_argument("--version", action="version", version=f"corral {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gen = sub.add_parser(
        "generate",
        help="generate text, optionally constrained",
        description="Generate text from PROMPT. Exit status: 0 complete, 3 ran out of tokens, 2 bad input.",
    )
    gen.add_argument("prompt", metavar="PROMPT", nargs="?",
                     help="the prompt text ('-' reads it from stdin); or give --messages")
    group = gen.add_mutually_exclusive_group()
    group.add_argument("--grammar", metavar="FILE|NAME", help="a .lark file or a shipped grammar name (e.g. json)")
    group.add_argument("--regex", metavar="R", help="a regular expression the whole output must match")
    group.add_argument("--choices", metavar="C", nargs="+", help="the output must be one of these strings")
    group.add_argument("--schema", metavar="FILE|JSON", help="a JSON Schema file or JSON text; output validates")
    gen.add_argument("--model", metavar="PATH", help="model folder or hub name (default: the embedded model)")
    add_cli_arguments(gen)  # one flag per option of generate(), from corral.options
    gen.add_argument("--json", action="store_true", help="print a JSON record with status and timings")
    gen.add_argument("--system", metavar="TEXT",
                     help="a system message; with PROMPT the call becomes a chat whose user message is PROMPT "
                          "(rendered with the tokenizer's chat template)")
    gen.add_argument("--messages", metavar="FILE",
                     help="a chat instead of PROMPT: a JSON list of {\"role\": ..., \"content\": ...} messages ('-' "
                          "reads stdin), rendered with the tokenizer's chat template")
    gen.add_argument("--stream", action="store_true",
                     help="print the text as it is generated (SMC: all at the end); not with --json")
    batch = gen.add_argument_group("batch mode (corral.batching.jobs)")
    batch.add_argument("--input", metavar="FILE",
                       help="JSON Lines of requests {\"id\", \"prompt\" | \"messages\", \"schema\" | \"grammar\" | "
                            "\"regex\" | \"choices\", options...} instead of PROMPT; the flags are their defaults")
    batch.add_argument("--output", metavar="FILE",
                       help="with --input: append one JSON line per finished row {\"id\", \"status\", \"text\", "
                            "\"value\", \"error\"}; a rerun skips the ids already there (resume)")
    batch.add_argument("--batch-size", metavar="N", type=int, default=16,
                       help="with --input: most rows generated at once (16)")
    val = sub.add_parser(
        "validate",
        help="validate JSON Lines against a JSON Schema",
        description="Validate each line of FILE (JSON Lines; '-' reads stdin) against a JSON Schema, with formats "
                    "as assertions. Prints the invalid and malformed records (all records with --all), then a "
                    "summary line. A line that is not UTF-8 or not JSON is a malformed record (with its column); "
                    "the rest of the file is still checked. "
                    "Exit status: 0 all valid, 1 some record invalid or malformed, 2 bad input.",
    )
    val.add_argument("--schema", required=True, metavar="FILE|JSON", help="a JSON Schema file or JSON text")
    val.add_argument("file", metavar="FILE", help="the JSON Lines file ('-' reads stdin)")
    val.add_argument("--all", action="store_true",
                     help="print every record, valid ones too (default: only the invalid and malformed ones)")
    val.add_argument("--json", action="store_true",
                     help="print one JSON object per printed record (only the invalid and malformed ones unless "
                          "--all), then a {\"summary\": ...} object")
    lnt = sub.add_parser(
        "lint",
        help="find likely defects in a Lark grammar",
        description="Lint a Lark grammar: unreachable and unproductive rules, undefined names, nullable cycles, "
                    "colliding terminals (with a string both match), terminals that match the empty string, ignored "
                    "terminals that overlap others, unbounded whitespace. Prints one line per finding. "
                    "Exit status: 0 no findings, 1 warnings only, 2 errors or bad input.",
    )
    lnt.add_argument("file", metavar="FILE", help="the .lark file (or the name of a shipped grammar, e.g. json)")
    lnt.add_argument("--start", metavar="NAME", default="start", help="the start rule (default: start)")
    lnt.add_argument("--strict-whitespace", action="store_true",
                     help="also report %%ignore-d whitespace terminals as unbounded whitespace")
    from corral.server.command import add_serve_parser  # no fastapi/uvicorn import until `serve` runs

    add_serve_parser(sub)  # corral serve: the OpenAI-compatible HTTP server (the server extra)
    return parser


def _run_lint(args) -> int:
    import re
    from pathlib import Path

    from corral.authoring.linting import lint

    path = Path(args.file)
    shipped = not os.path.isfile(args.file) and re.fullmatch(r"[A-Za-z0-9_\-]+", args.file)
    report = lint(args.file if shipped else path, start=args.start, strict_whitespace=args.strict_whitespace)
    print(report)
    sys.stdout.flush()
    if report.errors:
        print(f"corral: error: {len(report.errors)} error(s) in the grammar", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_INVALID if report.findings else EXIT_OK


def _run_generate(args) -> int:
    from corral.constraint import Constraint
    from corral.generator import default_generator
    from corral.options import GenerateOptions

    if args.input is not None or args.output is not None:  # batch mode: many requests, one JSON line each
        from corral.batching.jobs import run_batch_command

        return run_batch_command(args)
    if args.stream and args.json:
        raise ConfigurationError("--stream prints the text as it comes and --json one record at the end: give one")
    prompt = _generate_prompt(args)
    options = GenerateOptions.from_cli(args)
    constraint = Constraint(grammar=args.grammar, regex=args.regex, choices=args.choices, schema=args.schema)
    if args.stream:
        result = _print_stream(default_generator(args.model).run_stream(prompt, constraint, options))
    else:
        result = default_generator(args.model).run(prompt, constraint, options)
    if args.json:
        record = {
            "text": result.text,
            "status": result.status,
            "token_ids": result.token_ids,
            "logprob": result.logprob,
            "model_logprob": result.model_logprob,
            "timings": result.timings,
        }
        if args.schema is not None:
            record["value"] = _jsonable(result.value)
        if args.method != "lcd" or args.draft is not None:
            record.update({"log_z": result.log_z, "posterior": result.posterior, "stats": result.stats})
        print(json.dumps(_strict(record), ensure_ascii=False, allow_nan=False))
    elif not args.stream:
        sys.stdout.write(result.text)
        sys.stdout.write("\n")
    sys.stdout.flush()
    if result.status == "invalid":
        print("corral: the output of the leniently compiled schema fails validation against the schema",
              file=sys.stderr)
        return EXIT_LENGTH
    if result.status != "complete":
        print(f"corral: stopped after {len(result.token_ids)} tokens before the output was complete "
              "(raise --max-tokens); the text is not valid", file=sys.stderr)
        return EXIT_LENGTH
    return EXIT_OK


def _generate_prompt(args):
    """The prompt of ``corral generate``: PROMPT (``-``: stdin) or ``--messages FILE``, with ``--system``."""
    from corral.chat import make_prompt

    if (args.prompt is None) == (args.messages is None):
        raise ConfigurationError("give a PROMPT ('-' reads it from stdin) or --messages FILE" if args.prompt is None
                                 else "give a PROMPT or --messages FILE, not both")
    if args.messages is None:
        return make_prompt(sys.stdin.read() if args.prompt == "-" else args.prompt, system=args.system)
    where = "stdin" if args.messages == "-" else repr(args.messages)
    try:
        if args.messages == "-":
            text = sys.stdin.read()
        else:
            with open(args.messages, encoding="utf-8") as fh:
                text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"--messages: cannot read {where}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        messages = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"--messages: {where} is not JSON ({exc})") from exc
    if not isinstance(messages, list):
        raise ConfigurationError(f"--messages: {where} must hold a JSON list of {{\"role\": ..., \"content\": ...}} "
                                 f"objects, not a JSON {type(messages).__name__}")
    return make_prompt(messages=messages, system=args.system)


def _print_stream(stream):
    """Print a :class:`~corral.streaming.Stream`'s text as it comes, then a newline; its ``Result``."""
    printed = False
    try:
        with stream:
            for chunk in stream:
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
                printed = True
            result = stream.result
    except BaseException:
        if printed:  # end the partial line before the error message
            sys.stdout.write("\n")
            sys.stdout.flush()
        raise
    sys.stdout.write("\n")
    sys.stdout.flush()
    return result


def _jsonable(value):
    """A schema output's value as JSON data (a pydantic instance through ``model_dump``)."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def _strict(data):
    """``data`` with every non-finite float (an undefined figure such as an acceptance rate of 0/0) as ``None``,
    so that the record is strict JSON."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _strict(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_strict(v) for v in data]
    return data


def _run_validate(args) -> int:
    from corral.validate import format_summary, iter_validate, make_validator

    validator = make_validator(args.schema)  # schema errors: exit 2 before any output
    if args.file != "-" and not os.path.isfile(args.file):
        raise ConfigurationError(f"cannot read {args.file!r}: no such file")
    counts = {"records": 0, "valid": 0, "invalid": 0, "malformed": 0}  # counts only: records are not kept
    write = sys.stdout.write
    for rec in iter_validate(validator, args.file):
        counts["records"] += 1
        counts[rec.status] += 1
        if args.all or rec.status != "valid":
            write((json.dumps(rec.to_json(), ensure_ascii=False) if args.json else rec.to_text()) + "\n")
    print(json.dumps({"summary": counts}) if args.json else format_summary(counts))
    sys.stdout.flush()
    return EXIT_OK if counts["valid"] == counts["records"] else EXIT_INVALID


def main(argv=None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status (argparse usage errors exit with 2 via ``SystemExit``).
    """
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _dispatch(args)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one ``corral: warning:`` line (no source line: the command line is the caller)."""
    print(f"corral: warning: {message} ({category.__name__})", file=sys.stderr)


def _dispatch(args) -> int:
    """Run the chosen command; bad input of any documented kind is one ``corral: error:`` line and exit 2."""
    try:
        if args.command == "generate":
            return _run_generate(args)
        if args.command == "validate":
            return _run_validate(args)
        if args.command == "lint":
            return _run_lint(args)
        if args.command == "serve":
            from corral.server.command import run_serve

            return run_serve(args)
    except (CorralError, ValueError, OSError, UnicodeDecodeError) as exc:
        print(f"corral: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_BAD_INPUT  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
