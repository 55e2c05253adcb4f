"""``rcollapse figures [--out DIR] [--only NAME ...] [--quick] [--recompute] [--list]
[--from RUNS | --paper-scale]``.

Regenerates the paper's figures as PNG and PDF in ``--out`` (default ``out/figures``),
each with its data cached as JSON beside it. A cached figure is re-plotted without
recomputation unless ``--recompute`` is given. The training figures (fig1, fig3, fig4,
warm-lmc, warm-bon) read runs of ``rcollapse train`` / ``rcollapse warm``: the user's,
with ``--from RUNS`` (a run folder, or a folder of runs), or else runs they make once
under ``OUT/runs`` (tiny model with ``--quick``, all-MiniLM-L6-v2 otherwise).
``--paper-scale`` makes the runs of Figures 1, 3 and 4 at the paper's scale (8,192 +
16 prompts, 1,000 steps) on the frozen-encoder track (``rcollapse train --preset
paper-frozen``), under ``OUT/runs/paper-scale``, and draws the figures from them.
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
    parser.add_argument("--paper-scale", action="store_true",
                        help="make the runs of fig1, fig3 and fig4 at the paper's scale on the "
                             "frozen-encoder track (train --preset paper-frozen: 8192 prompts, "
                             "1000 steps; about 15 min for the embeddings, then 1-2 min a run "
                             "on 2 CPU cores) and draw those figures from them")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _paper_scale(args, names):
    """``--paper-scale``: the figures it draws and the folder of the runs it made."""
    from pathlib import Path

    from rcollapse.cli import InputError
    from rcollapse.figures.build import runs_folder
    from rcollapse.figures.training import PAPER_SCALE_FIGURES, ensure_paper_scale_runs

    if args.source is not None or args.quick:
        raise InputError("--paper-scale makes its own runs: drop --from and --quick")
    names = names or ["fig3", "fig4"]
    other = [n for n in names if n not in PAPER_SCALE_FIGURES]
    if other:
        raise InputError(f"--paper-scale --only {' '.join(other)}: valid: "
                         + ", ".join(PAPER_SCALE_FIGURES))
    utilities = list(dict.fromkeys(u for n in names for u in PAPER_SCALE_FIGURES[n]))
    print(f"figures --paper-scale: {len(utilities)} runs under {Path(runs_folder(args.out))}"
          "/paper-scale (made once; reused or resumed afterwards)", flush=True)
    folder = ensure_paper_scale_runs(utilities, root=runs_folder(args.out),
                                     progress=not args.no_progress)
    return [get(n) for n in names], str(folder)


def run(args) -> int:
    if not args.list:
        check_output_dir(args.out)  # before any work: one line and exit 2 if it cannot be
    if args.list:
        for spec in all_figures():
            print(f"{spec.name:<12} {spec.paper_ref:<30} {spec.description}")
        return 0
    names = list(dict.fromkeys(args.only)) if args.only else None  # in order, once each
    specs = [get(name) for name in names] if names else all_figures()
    if args.paper_scale:
        specs, args.source = _paper_scale(args, names)
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
