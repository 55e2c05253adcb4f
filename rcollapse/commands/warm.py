"""``rcollapse warm --members M --backbone tiny|minilm|PATH --utility SPEC|prompt-aware --out DIR``.

WARM (Ramé et al. 2024): fine-tunes M reward models from one shared initialization
(differing in seed and data order, and with ``--lr-spread`` in learning rate), through
the same code as ``rcollapse train``; averages their weights (``warm``), builds the
greedy soup and the prediction ensemble; measures linear mode connectivity, accuracy on
held-out, shifted and label-noise test sets, best-of-N, reward collapse and inference
cost. DIR gets report.json, report.md, lmc.png and best_of_n.png. ``--resume DIR``
continues a killed run from any folder (warm_config.json keeps --data's absolute path and
SHA-256, and changed data is refused): finished members are kept; it takes only
``--jobs`` and ``--no-progress``.
"""

from __future__ import annotations

import math


def add_arguments(parser):
    parser.add_argument("--members", type=int, metavar="M", help="reward models to average (M >= 2; 4)")
    parser.add_argument("--backbone", metavar="NAME",
                        help="tiny (random, for tests), minilm (all-MiniLM-L6-v2) or a local "
                             "Hugging Face model directory (default tiny)")
    parser.add_argument("--utility", metavar="SPEC",
                        help="a utility spec (linear, log, power:g, neg-power:g, log-sigmoid:s) "
                             "or prompt-aware (default log-sigmoid:0.25)")
    parser.add_argument("--data", metavar="FILE.jsonl",
                        help="your rankings (or TRL pairs) instead of the built-in length data; "
                             "shift and best-of-N then are skipped")
    parser.add_argument("--out", metavar="DIR", help="run directory (must not exist)")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the WARM run in DIR; takes only --jobs and --no-progress")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (the members' Trainer bars too)")
    parser.add_argument("--jobs", type=int, metavar="J",
                        help="members trained at once, each in its own process with cores/J "
                             "threads (1)")
    parser.add_argument("--lr-spread", action="store_true", default=None,
                        help="members' learning rates log-uniform over [lr/2, 2 lr]")
    parser.add_argument("--prompts", type=int, metavar="N", help="training prompts, built-in data (256)")
    parser.add_argument("--eval-prompts", type=int, metavar="N",
                        help="prompts in each of the validation and held-out sets (32)")
    parser.add_argument("--noise", metavar="P[,P...]",
                        help="fractions of training rankings corrupted, one member set each "
                             "(default 0,0.25)")
    parser.add_argument("--pool", type=int, help="best-of-N candidates per prompt (48)")
    parser.add_argument("--seed", type=int, help="shared init, data and noise; member i: seed+1+i (0)")
    parser.add_argument("--epochs", type=float, help="members' passes over the data (rcollapse train's default)")
    parser.add_argument("--lr", type=float, help="members' learning rate (rcollapse train's default)")
    parser.add_argument("--batch", type=int, help="prompts per step (rcollapse train's default)")
    parser.add_argument("--eval-every", type=int, metavar="K",
                        help="members checkpoint and log collapse every K steps")
    parser.add_argument("--scheduler", help="learning-rate schedule (rcollapse train's default)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="auto: CUDA when present")


_WARM_FIELDS = ("members", "backbone", "utility", "data", "prompts", "eval_prompts", "pool",
                "seed", "lr_spread")
_TRAIN_FIELDS = ("epochs", "lr", "batch", "eval_every", "scheduler", "device")


def _noise(text: str) -> tuple:
    from rcollapse.cli import InputError

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--noise {text}: valid: comma-separated fractions in [0, 1)") from None
    return values


def run(args) -> int:
    from rcollapse.cli import InputError

    given = {f: getattr(args, f) for f in _WARM_FIELDS if getattr(args, f) is not None}
    train = {f: getattr(args, f) for f in _TRAIN_FIELDS if getattr(args, f) is not None}
    if args.noise is not None:
        given["noise"] = _noise(args.noise)
    if args.resume is not None:
        refused = [f"--{k.replace('_', '-')}" for k in (*given, *train)]
        refused += ["--out"] if args.out is not None else []
        if refused:
            raise InputError(f"--resume DIR takes no other options but --jobs and "
                             f"--no-progress, got {', '.join(refused)} (the run's "
                             "warm_config.json is used)")
    elif args.out is None:
        raise InputError("--out DIR is required (or --resume DIR)")
    for name in ("lr", "epochs"):
        v = train.get(name)
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise InputError(f"--{name} {v}: valid: a finite number > 0")
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs {args.jobs}: valid: an integer >= 1")

    import dataclasses

    from rcollapse.empirical.warm import WarmConfig, resolve_config, run_warm
    from rcollapse.outputs import check_output_dir

    if args.resume is not None:
        config = resolve_config(None, args.resume, resume=True)
        if args.jobs is not None:
            config = dataclasses.replace(config, jobs=args.jobs)
        out = args.resume
    else:
        check_output_dir(args.out, must_not_exist=True)
        if args.jobs is not None:
            given["jobs"] = args.jobs
        config = WarmConfig(**given, train=train)
        out = args.out
    report = run_warm(config, out, resume=args.resume is not None,
                      progress=not args.no_progress)
    from rcollapse.figures.warm import draw_run_plots

    draw_run_plots(report, out)  # lmc.png, best_of_n.png: the figures' own drawings

    acc = report["accuracy"]
    print(f"{out}: report.json, report.md, lmc.png" +
          (", best_of_n.png" if "picked" in report["best_of_n"] else ""))
    print(f"LMC barrier (members 0, 1): {report['lmc']['barrier']:.4g}")
    for name in ("members_mean", "warm", "greedy", "ensemble"):
        print(f"accuracy {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in acc[name].items()))
    t = report["inference_seconds"]
    if t:
        print(f"inference, s per 1000 completions: warm {t['warm']:.3f}, ensemble "
              f"{t['ensemble']:.3f} (ratio {t['ratio_warm_to_ensemble']:.3f})")
    return 0
