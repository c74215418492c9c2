"""Command line interface: ``corral generate PROMPT [options]`` (also ``python -m corral``).

Exit codes: 0 when the output is complete, 3 when ``--max-tokens`` ran out first (the text is then not valid),
2 on bad input (the error message is printed to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys

from corral.errors import CorralError

__all__ = ["main", "build_parser"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_LENGTH = 3


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``corral`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(prog="corral", description="Exact constrained generation with language models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gen = sub.add_parser(
        "generate",
        help="generate text, optionally constrained",
        description="Generate text from PROMPT. Exit status: 0 complete, 3 ran out of tokens, 2 bad input.",
    )
    gen.add_argument("prompt", metavar="PROMPT", help="the prompt text ('-' reads it from stdin)")
    group = gen.add_mutually_exclusive_group()
    group.add_argument("--grammar", metavar="FILE|NAME", help="a .lark file or a shipped grammar name (e.g. json)")
    group.add_argument("--regex", metavar="R", help="a regular expression the whole output must match")
    group.add_argument("--choices", metavar="C", nargs="+", help="the output must be one of these strings")
    group.add_argument("--schema", metavar="FILE|JSON", help="a JSON Schema file or JSON text; output validates")
    gen.add_argument("--model", metavar="PATH", help="model folder or hub name (default: the embedded model)")
    gen.add_argument("--max-tokens", type=int, default=256, metavar="N", help="most tokens to generate (256)")
    gen.add_argument("--temperature", type=float, default=1.0, metavar="T", help="0 for greedy (default 1.0)")
    gen.add_argument("--top-k", type=int, default=None, metavar="K", help="keep the K most likely allowed tokens")
    gen.add_argument("--top-p", type=float, default=None, metavar="P", help="nucleus sampling threshold in (0, 1]")
    gen.add_argument("--seed", type=int, default=None, metavar="S", help="random seed for reproducible output")
    gen.add_argument("--json", action="store_true", help="print a JSON record with status and timings")
    return parser


def _run_generate(args) -> int:
    from corral.generate import generate

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    result = generate(
        prompt,
        model=args.model,
        grammar=args.grammar,
        regex=args.regex,
        choices=args.choices,
        schema=args.schema,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    if args.json:
        record = {
            "text": result.text,
            "status": result.status,
            "token_ids": result.token_ids,
            "logprob": result.logprob,
            "model_logprob": result.model_logprob,
            "timings": result.timings,
        }
        print(json.dumps(record, ensure_ascii=False))
    else:
        sys.stdout.write(result.text)
        sys.stdout.write("\n")
    sys.stdout.flush()
    if result.status != "complete":
        print(f"corral: stopped after {len(result.token_ids)} tokens before the output was complete "
              "(raise --max-tokens); the text is not valid", file=sys.stderr)
        return EXIT_LENGTH
    return EXIT_OK


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
    try:
        if args.command == "generate":
            return _run_generate(args)
    except (CorralError, ValueError) as exc:
        print(f"corral: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_BAD_INPUT  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
