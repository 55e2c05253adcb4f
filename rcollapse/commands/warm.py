"""``rcollapse warm --members M --backbone tiny|minilm|PATH --utility SPEC|prompt-aware --out DIR``.

WARM (Ramé et al. 2024): fine-tunes M reward models from one shared initialization
(differing in seed and data order; with ``--diversity lr-spread|paper`` in learning rate
and dropout), through the same code as ``rcollapse train``, or with ``--freeze`` trains M
heads on a frozen encoder's cached embeddings; averages their weights (``warm``), builds
the greedy soup and the prediction ensemble; measures linear mode connectivity, accuracy
on held-out, shifted and label-noise test sets, best-of-N to N = 500, reward collapse and
inference cost; all of it ``--repeats K`` times, and tests WARM's four claims (report.md's
first table). DIR gets report.json, report.md, lmc.png and best_of_n.png. The default
experiment: ``rcollapse warm --backbone minilm --freeze --out DIR``
(an mlp:64 head per member, M = 4, --noise 0 0.25, 3 repeats; with --threads 1, 9 min 53 s
with an empty embedding cache, 113 s with it filled, on 2 shared cores: README). ``--resume DIR``
continues a killed run from any folder (warm_config.json keeps --data's absolute path and
SHA-256, and changed data is refused): finished members are kept; it takes only
``--jobs`` and ``--no-progress``.
"""

from __future__ import annotations

import argparse

from rcollapse.empirical.config import cli_fields


class _Flatten(argparse.Action):
    """``--noise 0 0.1 0.25`` and ``--noise 0,0.1,0.25``: one tuple of every value given."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, tuple(v for group in values for v in group))


def add_arguments(parser):
    from dataclasses import fields

    from rcollapse.empirical.config import TrainConfig, add_arguments as config_arguments
    from rcollapse.empirical.warm_config import MEMBER_OPTIONS, WarmConfig, member_defaults

    # flags, help and defaults: WarmConfig's fields; --noise takes several values
    config_arguments(parser, WarmConfig, names=[f for f in cli_fields(WarmConfig) if f != "noise"])
    noise = next(f for f in fields(WarmConfig) if f.name == "noise")
    parser.add_argument("--noise", nargs="+", action=_Flatten, metavar="P",
                        type=noise.metadata["check"].parse, default=None,
                        help=noise.metadata["help"] + " (default 0 0.25; also P,P,...)")
    parser.add_argument("--out", metavar="DIR", help="run directory (must not exist)")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the WARM run in DIR; takes only --jobs and --no-progress")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (the members' Trainer bars too)")
    members = parser.add_argument_group(
        "every member's training", "as in rcollapse train (WARM needs --lr > 0)")
    config_arguments(members, TrainConfig, names=MEMBER_OPTIONS, defaults=member_defaults())


def run(args) -> int:
    from rcollapse.cli import InputError
    from rcollapse.empirical.warm_config import MEMBER_OPTIONS, WarmConfig, member_defaults

    given = {f: getattr(args, f) for f in cli_fields(WarmConfig) if getattr(args, f) is not None}
    train = {f: getattr(args, f) for f in MEMBER_OPTIONS if getattr(args, f) is not None}
    if args.resume is not None:
        refused = [f"--{k.replace('_', '-')}" for k in (*given, *train) if k != "jobs"]
        refused += ["--out"] if args.out is not None else []
        if refused:
            raise InputError(f"--resume DIR takes no other options but --jobs and "
                             f"--no-progress, got {', '.join(refused)} (the run's "
                             "warm_config.json is used)")
    elif args.out is None:
        raise InputError("--out DIR is required (or --resume DIR)")

    import dataclasses

    from rcollapse.empirical.warm import resolve_config, run_warm
    from rcollapse.outputs import check_output_dir

    if args.resume is not None:  # run_warm validates the config before any work
        config = resolve_config(None, args.resume, resume=True)
        if args.jobs is not None:
            config = dataclasses.replace(config, jobs=args.jobs)
        out = args.resume
    else:
        check_output_dir(args.out, must_not_exist=True)
        config = WarmConfig(**given, train=dataclasses.replace(member_defaults(), **train))
        out = args.out
    report = run_warm(config, out, resume=args.resume is not None,
                      progress=not args.no_progress)
    from rcollapse.figures.warm import draw_run_plots

    draw_run_plots(report, out)  # lmc.png, best_of_n.png: the figures' own drawings

    acc = report["accuracy"]
    print(f"{out}: report.json, report.md, lmc.png" +
          (", best_of_n.png" if "picked" in report["best_of_n"] else ""))
    for row in report["claims"]:
        print(f"claim {row['claim']}: {row['verdict']}")
    print(f"LMC barrier (members 0, 1), mean over {report['repeats']} repeat(s): "
          f"{report['lmc']['barrier']:.4g}")
    for name in ("members_mean", "warm", "greedy", "ensemble"):
        print(f"accuracy {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in acc[name].items()))
    t = report["inference_seconds"]
    if t:
        print(f"inference, s per 1000 completions: warm {t['warm']:.3f}, ensemble "
              f"{t['ensemble']:.3f} (ratio {t['ratio_warm_to_ensemble']:.3f})")
    return 0
