"""``rcollapse figures [--out DIR] [--only NAME ...] [--quick] [--recompute] [--list]
[--from RUNS]``.

Regenerates the paper's figures as PNG and PDF in ``--out`` (default ``out/figures``),
each with its data cached as JSON beside it. A cached figure is re-plotted without
recomputation unless ``--recompute`` is given. The training figures (fig1, fig3, fig4,
warm-lmc, warm-bon) read runs of ``rcollapse train`` / ``rcollapse warm``: the user's,
with ``--from RUNS`` (a run folder, or a folder of runs), or else runs they make once
under ``OUT/runs`` (tiny model with ``--quick``, all-MiniLM-L6-v2 otherwise).
"""

from __future__ import annotations

import time

# Light: the figures room's package loads no matplotlib; the figure modules (matplotlib,
# the solvers) load inside run().
from rcollapse.figures import DEFAULT_OUT, all_figures, build, get
from rcollapse.figures.build import plan
from rcollapse.outputs import check_output_dir


def add_arguments(parser):
    parser.add_argument("--out", metavar="DIR", default=str(DEFAULT_OUT),
                        help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--only", metavar="NAME", nargs="+", default=None,
                        help="make only these figures (see --list)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller n, fewer points, tiny-model training runs: every figure in about 5 minutes")
    parser.add_argument("--recompute", action="store_true",
                        help="recompute the data even when a cached JSON exists")
    parser.add_argument("--list", action="store_true",
                        help="list the figures with their paper reference, and exit")
    parser.add_argument("--from", dest="source", metavar="RUNS", default=None,
                        help="draw the training figures from these runs of rcollapse train / "
                        "warm (a run folder or a folder of runs) instead of making runs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def run(args) -> int:
    if not args.list:
        check_output_dir(args.out)  # before any work: one line and exit 2 if it cannot be
    if args.list:
        for spec in all_figures():
            print(f"{spec.name:<12} {spec.paper_ref:<30} {spec.description}")
        return 0
    names = list(dict.fromkeys(args.only)) if args.only else None  # in order, once each
    specs = [get(name) for name in names] if names else all_figures()
    if args.source is not None:
        from rcollapse.figures.build import check_source, reads_runs

        if names is None:  # --from alone: the training figures
            specs = [s for s in specs if reads_runs(s)]
        check_source(specs, args.source)
    todo, expected = plan(specs, out=args.out, quick=args.quick, recompute=args.recompute,
                          source=args.source)
    mode = "quick" if args.quick else "full"
    print(f"figures: {len(specs)} to make in {args.out} ({mode}); "
          f"{len(todo)} to compute, expected about {_fmt_seconds(expected)} on 2 cores"
          + ("" if len(todo) == len(specs) else f"; {len(specs) - len(todo)} from cache"))
    show = not args.no_progress
    log = print
    if show:
        from tqdm.auto import tqdm

        log = tqdm.write
    start = time.perf_counter()
    build(specs, out=args.out, quick=args.quick, recompute=args.recompute,
          show_progress=show, log=log, source=args.source)
    print(f"figures: done in {_fmt_seconds(time.perf_counter() - start)}")
    return 0
