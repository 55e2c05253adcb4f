"""``rcollapse bench SUITE [--out DIR] [--max-n N] [--budget S] [--readme] [--force]``.

Suites (``benchmarks/``): ``solvers`` (newton against cvxpy and lbfgs, problem (5)),
``limit`` (the n = inf solver against the grid), ``atoms`` (the log-sigmoid atom mass by
two methods), ``spectral`` (the spectral n = inf solver's convergence in the degree).
Each prints its table and writes a new timestamped JSON (and, for ``solvers``, a log-log
PNG) in ``--out``. ``--readme`` also records the results, with their commit, machine and
thread counts, as ``benchmarks/results/SUITE.json`` and rewrites the README's part
generated from them (``spectral``: ``benchmarks/results/limit_spectral.json``, no
generated part yet). Output paths are checked before any work.
"""

from __future__ import annotations

import shlex
import sys

from rcollapse.cli import InputError

SUITES = ("solvers", "limit", "atoms", "spectral")
#: The results file of ``spectral --readme`` (not a generated README part).
SPECTRAL_RESULTS = "benchmarks/results/limit_spectral.json"


def add_arguments(parser):
    parser.add_argument("suite", choices=SUITES, help="which benchmark to run")
    parser.add_argument("--out", default="out/bench", metavar="DIR",
                        help="directory for the JSON and PNG (default: out/bench)")
    parser.add_argument("--max-n", type=int, default=None, metavar="N",
                        help="solvers: skip the sizes above N (default: all, up to 10000); "
                             "atoms: Newton's n (default 10000)")
    parser.add_argument("--budget", type=float, default=120.0, metavar="S",
                        help="solvers: a method stops after its first run longer than S seconds (default 120)")
    parser.add_argument("--tol", type=float, default=1e-6, metavar="T",
                        help="solvers: the KKT residual every method must reach (default 1e-6)")
    parser.add_argument("--readme", action="store_true",
                        help="record the results as benchmarks/results/SUITE.json and rewrite the README's "
                             "part made from them (in a source checkout)")
    parser.add_argument("--force", action="store_true",
                        help="allow replacing an existing results file of the same name")
    parser.add_argument("--large", action="store_true",
                        help="solvers only: the fast method (Newton-CG on fast sums) against "
                        "dense Newton from n = 10^3 to 10^6 (or --max-n), log-log time and slopes; "
                        "each run also times its error bound (fast sums for the fast method)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _command(args) -> str:
    parts = ["rcollapse", "bench", args.suite]
    if args.max_n is not None:
        parts += ["--max-n", str(args.max_n)]
    if args.large:
        parts += ["--large", "--budget", f"{args.budget:g}"]
    elif args.suite == "solvers":
        parts += ["--budget", f"{args.budget:g}", "--tol", f"{args.tol:g}"]
    return shlex.join(parts + (["--readme"] if args.readme else []))


def _large(args) -> int:
    """``rcollapse bench solvers --large``: n up to 10^6, solve and error bound timed."""
    from rcollapse.benchmarks.large import SIZES, UTILITIES, format_table, run_large
    from rcollapse.benchmarks.readme import check_record_paths, record

    if args.max_n is not None and args.max_n < min(SIZES):
        raise InputError(f"--max-n {args.max_n} is out of range for --large; valid: >= {min(SIZES)}")
    if not args.budget > 0:
        raise InputError(f"--budget {args.budget} is out of range; valid: > 0 seconds")
    sizes = [n for n in SIZES if args.max_n is None or n <= args.max_n]
    root = check_record_paths("large") if args.readme else None
    data = run_large(UTILITIES, sizes, out=args.out, budget=args.budget,
                     progress=not args.no_progress)
    print(format_table(data))
    print(f"\nsaved {data['json']} and {data['png']}", file=sys.stderr)
    if root is not None:
        data["command"] = _command(args)
        record("large", {k: v for k, v in data.items() if k not in ("json", "png")},
               "bench-large", root)
    return 0


def run(args) -> int:
    import datetime as dt

    from rcollapse.benchmarks.readme import check_record_paths, record
    from rcollapse.outputs import check_output_dir

    if args.large and args.suite != "solvers":
        raise InputError(f"--large is for the solvers suite, not {args.suite}")
    if args.large:
        return _large(args)
    if args.suite == "solvers" and args.max_n is not None:
        from rcollapse.benchmarks.solvers import SIZES

        if args.max_n < min(SIZES):
            raise InputError(f"--max-n {args.max_n} is out of range; valid: >= {min(SIZES)}")
    if args.suite == "atoms" and args.max_n is not None and not 200 <= args.max_n <= 20000:
        raise InputError(f"--max-n {args.max_n} is out of range for atoms; valid: 200 <= N <= 20000")
    if not 0 < args.tol < 1:
        raise InputError(f"--tol {args.tol} is out of range; valid: 0 < T < 1")
    if not args.budget > 0:
        raise InputError(f"--budget {args.budget} is out of range; valid: > 0 seconds")
    out_dir = check_output_dir(args.out, flag="--out")
    if args.suite == "spectral":
        return _spectral(args, out_dir)
    root = check_record_paths(args.suite) if args.readme else None
    command = _command(args)
    progress = not args.no_progress

    if args.suite == "solvers":
        import json

        from rcollapse.benchmarks import solvers as bench

        try:
            path = bench.main(out_dir=out_dir, max_n=args.max_n, budget=args.budget, force=args.force,
                              tol=args.tol, progress=progress, command=command)
        except FileExistsError as err:
            raise InputError(str(err)) from None
        if root is not None:
            record("solvers", json.loads(path.read_text()), "bench-solvers", root)
        return 0

    from rcollapse.benchmarks.results import plain
    from rcollapse.outputs import write_json

    if args.suite == "limit":
        from rcollapse.benchmarks import limit as bench

        data = bench.run_limit_benchmark(progress=progress)
        part = "bench-limit"
    else:
        from rcollapse.benchmarks import atoms as bench

        data = bench.run_atoms(n=args.max_n or bench.NEWTON_N, progress=progress)
        part = "atoms"
    data["command"] = command
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{args.suite}-{stamp}.json"
    if path.exists() and not args.force:
        raise InputError(f"{path} exists; not overwriting it (use --force)")
    write_json(path, plain(data))
    print(bench.format_table(data))
    print(f"\nsaved {path}", file=sys.stderr)
    if root is not None:
        record(args.suite, data, part, root)
    return 0


def _spectral(args, out_dir) -> int:
    """``rcollapse bench spectral``: the convergence table in the degree; ``--readme``
    saves it as SPECTRAL_RESULTS in the checkout."""
    import datetime as dt

    from rcollapse.benchmarks import limit_spectral as bench
    from rcollapse.benchmarks.results import checkout, plain
    from rcollapse.outputs import check_output_file, write_json

    if args.max_n is not None:
        raise InputError("--max-n is not used by the spectral suite")
    target = None
    if args.readme:
        target = checkout() / SPECTRAL_RESULTS
        check_output_file(target, flag="--readme")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"spectral-{stamp}.json"
    if path.exists() and not args.force:
        raise InputError(f"{path} exists; not overwriting it (use --force)")
    data = bench.run_spectral_benchmark(progress=not args.no_progress)
    data["command"] = _command(args)
    write_json(path, plain(data))
    print(bench.format_table(data))
    print(f"\nsaved {path}", file=sys.stderr)
    if target is not None:
        write_json(target, plain(data))
        print(f"recorded {target}", file=sys.stderr)
    return 0
