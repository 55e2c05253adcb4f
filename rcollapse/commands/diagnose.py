"""``rcollapse diagnose (--model DIR --data FILE | --rewards FILE) [--utility SPEC] --out DIR``.

Has this reward model collapsed, and onto which utility's optimum of (5)? Scores a local
Hugging Face reward model (one label; or a run directory of ``rcollapse train``) on the
rankings of ``--data`` (the JSONL that ``rcollapse train`` reads), or reads rewards scored
elsewhere (``--rewards``: one prompt a line, ``{"prompt", "rewards": [best, ..., worst],
"type": "open"|"closed" (optional)}``). Writes report.json, report.md, profiles.png,
fit.png and calibration.png into a new folder (an existing one is refused); ``--json``
prints report.json on stdout. See ``rcollapse.empirical.diagnose``.
"""

from __future__ import annotations


def add_arguments(parser):
    source = parser.add_argument_group("what to diagnose (one of)")
    source.add_argument("--model", metavar="DIR",
                        help="a local one-label AutoModelForSequenceClassification folder, or a "
                             "run directory of rcollapse train (needs --data)")
    source.add_argument("--rewards", metavar="FILE",
                        help="JSONL of scores, one prompt a line: {\"prompt\", \"rewards\": "
                             "[best, ..., worst], \"type\" (optional)}")
    parser.add_argument("--data", metavar="FILE",
                        help="rankings JSONL to score with --model (rcollapse train's format)")
    parser.add_argument("--utility", metavar="SPEC",
                        help="also measure the distance to the collapse this U predicts "
                             "(a spec, prompt-aware or prompt-aware-dial)")
    parser.add_argument("--out", metavar="DIR", help="report folder (must not exist)")
    parser.add_argument("--json", action="store_true", help="print report.json on stdout")
    parser.add_argument("--bootstrap", type=int, default=200, metavar="B",
                        help="bootstrap resamples of prompts for the fit's interval "
                             "(default 200; 0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and shuffles")
    parser.add_argument("--batch-size", type=int, default=64, help="scoring batch size (--model)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check(args):
    from pathlib import Path

    from rcollapse.cli import InputError
    from rcollapse.outputs import check_output_dir

    if (args.model is None) == (args.rewards is None):
        raise InputError("give exactly one of --model DIR (with --data FILE) or --rewards FILE")
    if args.model is not None and args.data is None:
        raise InputError(f"--model {args.model}: needs --data FILE (the rankings to score)")
    if args.rewards is not None and args.data is not None:
        raise InputError("--data is for --model; --rewards FILE holds the prompts already")
    if args.model is not None and not Path(args.model).is_dir():
        raise InputError(f"--model {args.model}: no such folder")
    if args.out is None and not args.json:
        raise InputError("give --out DIR (a new folder) or --json")
    if args.out is not None:
        if Path(args.out).exists():
            raise InputError(f"--out {args.out}: already exists; a report is never overwritten "
                             "(choose a new folder)")
        check_output_dir(args.out)
    if not 0 <= args.bootstrap <= 100000:
        raise InputError(f"--bootstrap {args.bootstrap}: valid: 0 to 100000")
    if args.batch_size < 1:
        raise InputError(f"--batch-size {args.batch_size}: valid: at least 1")


def run(args) -> int:
    _check(args)
    import json

    from rcollapse.empirical.diagnose import diagnose
    from rcollapse.empirical.diagnose_report import write_report

    source = args.rewards if args.rewards is not None else args.model
    diagnosis = diagnose(source, args.data, utility=args.utility, bootstrap=args.bootstrap,
                         seed=args.seed, progress=not args.no_progress,
                         batch_size=args.batch_size)
    report = diagnosis.to_json()
    if args.out is not None:
        from rcollapse.figures.diagnose import draw_report_plots

        write_report(diagnosis, args.out)
        draw_report_plots(report, args.out)
    if args.json:
        print(json.dumps(report))
        return 0
    fit, ci = report["fit"], report["collapse_index"]
    iv = fit["interval"]
    print(f"{args.out}: report.json, report.md, profiles.png, fit.png, calibration.png")
    print(f"collapse index {ci['index'] if ci['index'] is None else round(ci['index'], 4)}; "
          f"fit {fit['spec']} ({fit['coordinate']} = {fit['parameter']:.4g}"
          + (f", interval [{iv[0]:.4g}, {iv[1]:.4g}]" if iv else "") + f"), W1 {fit['w1']:.4f}"
          + ("" if fit["identifiable"] else "; not identifiable: no prompt has n >= 4"))
    ovc = report["open_vs_closed"]
    if ovc:
        print(f"open vs closed: W1 {ovc['w1_open_vs_closed']:.4f} of a possible "
              f"{ovc['ceiling']:.4f}; fits open {ovc['fits']['open']['spec']}, closed "
              f"{ovc['fits']['closed']['spec']}")
    if report["utility_check"]:
        uc = report["utility_check"]
        print(f"U = {uc['utility']}: W1 to its optimum {uc['w1_to_optimum']:.4f} "
              f"({uc['relative_w1']:.1%} of flat rewards'): "
              + ("collapsed" if uc["collapsed"] else "not collapsed"))
    return 0
