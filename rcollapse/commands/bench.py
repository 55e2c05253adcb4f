"""``rcollapse bench solvers [--out DIR] [--max-n N] [--budget S] [--force]``.

The solvers of problem (5) against their peers on this machine (benchmarks/solvers.py):
a table of seconds and KKT residual per method and n, the speed ratios, a JSON file and
a log-log PNG in ``--out`` (a new timestamped pair of files each run).
"""

from __future__ import annotations

from rcollapse.cli import InputError

SUITES = ("solvers",)


def add_arguments(parser):
    parser.add_argument("suite", choices=SUITES, help="which benchmark to run")
    parser.add_argument("--out", default="out/bench", metavar="DIR",
                        help="directory for the JSON and PNG (default: out/bench)")
    parser.add_argument("--max-n", type=int, default=None, metavar="N",
                        help="skip the sizes above N (default: all, up to 10000)")
    parser.add_argument("--budget", type=float, default=120.0, metavar="S",
                        help="a method stops after its first run longer than S seconds (default 120)")
    parser.add_argument("--force", action="store_true",
                        help="allow replacing an existing results file of the same name")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from rcollapse.benchmarks import solvers as bench

    if args.max_n is not None and args.max_n < min(bench.SIZES):
        raise InputError(f"--max-n {args.max_n} is out of range; valid: >= {min(bench.SIZES)}")
    if not args.budget > 0:
        raise InputError(f"--budget {args.budget} is out of range; valid: > 0 seconds")
    try:
        bench.main(out_dir=args.out, max_n=args.max_n, budget=args.budget, force=args.force,
                   progress=not args.no_progress)
    except FileExistsError as err:
        raise InputError(str(err)) from None
    return 0
