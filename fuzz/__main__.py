"""``python -m fuzz``: list the targets, run a campaign, replay saved inputs, merge a corpus, shrink a finding.

Examples::

    python -m fuzz --list
    python -m fuzz --target schema --minutes 10 [--workers 2] [-- -only_ascii=1]
    python -m fuzz --replay                          # every finding and the whole corpus, all targets
    python -m fuzz --replay --target regex --sample 50 --seconds 10
    python -m fuzz --merge --target lark             # keep seeds + generated inputs that add coverage
    python -m fuzz --minimize fuzz/findings/schema/crash-0123abcd --target schema
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fuzz import campaign, harness
from fuzz.targets import TARGETS


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="list the targets")
    p.add_argument("--target", action="append", choices=list(TARGETS), help="target (repeat for replay)")
    p.add_argument("--minutes", type=float, default=None, help="campaign length")
    p.add_argument("--workers", type=int, default=1, help="libFuzzer processes (one per core at most)")
    p.add_argument("--time-limit", type=float, default=harness.DEFAULT_TIME_LIMIT,
                   help="seconds of CPU time per input before it counts as a hang (default %(default)s)")
    p.add_argument("--replay", action="store_true", help="replay saved findings and the corpus")
    p.add_argument("--sample", type=int, default=None, help="replay: at most this many corpus inputs per target")
    p.add_argument("--seconds", type=float, default=None, help="replay: corpus time budget per target")
    p.add_argument("--findings-only", action="store_true", help="replay: the findings, not the corpus")
    p.add_argument("--json", action="store_true", help="replay: print the results as JSON")
    p.add_argument("--merge", action="store_true", help="minimize the generated part of a target's corpus")
    p.add_argument("--minimize", type=Path, metavar="FILE", help="shrink a saved input, keeping its finding")
    p.add_argument("--budget", type=float, default=120.0, help="--minimize: seconds (default %(default)s)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("libfuzzer", nargs="*", help="after --: extra libFuzzer arguments")
    args = p.parse_args(argv)

    if args.list:
        for t in TARGETS.values():
            print(f"{t.name:10s} {t.doc}")
        return 0
    if args.replay:
        return campaign.replay(args.target or list(TARGETS), args.sample, args.seconds, args.time_limit, args.json,
                               corpus=not args.findings_only)
    if args.merge or args.minimize:
        if not args.target or len(args.target) != 1:
            p.error("--merge and --minimize need one --target")
        if args.minimize:
            campaign.minimize_file(args.target[0], args.minimize, args.budget, args.time_limit)
        else:
            campaign.merge_corpus(args.target[0], args.time_limit)
        return 0
    if not args.target or args.minutes is None:
        p.error("a campaign needs --target NAME and --minutes N (or use --list / --replay)")
    for name in args.target:
        campaign.run_campaign(name, args.minutes, args.workers, args.time_limit, args.libfuzzer, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
