"""``rcollapse verify [--full] [--out FILE] [--only NAME ...]``: the package's main job.

Runs every claim check of :mod:`rcollapse.verify`, prints one row per check (claim,
where in the paper, predicted, measured, tolerance, status; rendered by
:func:`rcollapse.verify.render_rows`), writes the report as JSON
(default ``./verify.json``, overwritten: it is the latest report, written through a
unique temporary file) and exits 1 if any check fails or errors. The output path and
``--only`` are checked before any work. Progress goes to stderr.

The report carries its provenance (commit, machine, threads): the README's summary line
is generated from ``benchmarks/results/verify.json`` (``rcollapse verify --out
benchmarks/results/verify.json``, then ``python -m rcollapse.benchmarks.readme``).
"""

from __future__ import annotations

import sys
import time

from rcollapse import verify as V


def add_arguments(parser):
    parser.add_argument("--full", action="store_true",
                        help=f"larger n (n = {', '.join(map(str, V.FULL.ns))}; the convergence checks on to "
                             f"n = {', '.join(map(str, V.FULL.large_ns))} by the fast method) and a finer "
                             f"n = inf grid")
    parser.add_argument("--out", default="verify.json", metavar="FILE",
                        help="where to write the JSON report (default: ./verify.json)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only these checks (a name or a prefix: derivation, limit:, thm4, ...)")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--readme", action="store_true",
                        help="also record the report as benchmarks/results/verify.json and rewrite the "
                             "README's summary line (a whole default run, in a source checkout)")


def _progress_bar(total: int):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None, lambda name: print(f"  {name}", file=sys.stderr)
    bar = tqdm(total=total, file=sys.stderr, unit="check", leave=False, dynamic_ncols=True)
    state = {"started": False}

    def step(name):
        if state["started"]:
            bar.update(1)
        state["started"] = True
        bar.set_description(name)

    return bar, step


def run(args) -> int:
    if args.list:
        print("\n".join(V.CHECKS))
        return 0
    from rcollapse.benchmarks.provenance import provenance
    from rcollapse.benchmarks.results import plain
    from rcollapse.outputs import check_output_file, write_json

    config = V.FULL if args.full else V.DEFAULT
    out = check_output_file(args.out, flag="--out")
    selected = V.CHECKS if args.only is None else V.check_names(args.only)
    root = None
    if args.readme:
        if args.only is not None:
            raise ValueError("--readme with --only: the README's line reports a whole run; drop --only")
        from rcollapse.benchmarks.readme import check_record_paths

        root = check_record_paths("verify")
    measured = provenance()  # the code as it is when the checks start
    bar, step = _progress_bar(len(selected))
    t0 = time.perf_counter()
    try:
        rows = V.run_checks(config, only=args.only, progress=step)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    print(V.render_rows(rows))
    print("\n" + V.render_summary(rows, config, seconds))
    summary = V.summary(rows)
    report = V.report(rows, config, seconds)
    report["provenance"] = measured
    report["command"] = "rcollapse verify" + (" --full" if args.full else "") \
        + ("" if args.only is None else " --only " + " ".join(args.only))
    write_json(out, plain(report))
    print(f"report: {out}")
    if root is not None:
        from rcollapse.benchmarks.readme import record

        record("verify", report, "verify-summary", root)
    return 0 if summary["all_passed"] else 1
