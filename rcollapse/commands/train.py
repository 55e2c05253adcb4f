"""``rcollapse train --utility SPEC|prompt-aware --backbone tiny|minilm|PATH --out DIR``.

Trains a reward model on rankings (the built-in length dataset of section 5.2, or
``--data FILE.jsonl``) with the utility loss (1), TRL's pairwise loss (``--loss bt``) or
the Plackett-Luce likelihood, and logs reward collapse every ``--eval-every`` steps.
``--resume DIR`` continues a killed run from its last checkpoint, from any folder (the
run keeps its data files' absolute paths and SHA-256s, and refuses changed data); it
takes only the options that leave the result as it was (``--threads``, ``--device``
where it resolves to the run's device and precision, ``--no-progress``). A run directory
is never overwritten. The last line printed is the verdict: collapsed or not, types kept
apart or not (``monitor.collapse_verdict``). Multi-process: ``torchrun --nproc_per_node
2 -m rcollapse train ...``.
"""

from __future__ import annotations


def add_arguments(parser):
    from rcollapse.empirical.config import TrainConfig, add_arguments as config_arguments

    config_arguments(parser, TrainConfig)  # flags, help and defaults: TrainConfig's fields
    parser.add_argument("--preset", metavar="NAME", default=None,
                        help="paper: the official configuration of section 5.2 (lr 1e-5, "
                             "1000 steps of 1 prompt x 8 accumulation, warmup 0.1, weight "
                             "decay 0.01, clipping 2.0, fp16 on CUDA, 512 tokens, 8192 + 16 "
                             "prompts); flags given beside it win; on CPU it first prints how "
                             "long the run would take")
    parser.add_argument("--out", metavar="DIR", help="run directory (must not exist)")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the run in DIR from its last checkpoint; takes only "
                             "--threads, --device and --no-progress")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (the Trainer's and transformers' too)")


def run(args) -> int:
    from rcollapse.cli import InputError
    from rcollapse.empirical.config import TrainConfig, cli_fields

    given = {f: getattr(args, f) for f in cli_fields(TrainConfig) if getattr(args, f) is not None}
    if args.resume is not None:
        if args.out is not None:
            raise InputError(f"--resume {args.resume} --out {args.out}: a resume writes into "
                             "its own run directory; drop --out")
    elif args.out is None:
        raise InputError("--out DIR is required (or --resume DIR)")
    elif "test_fraction" in given and (args.data is None or args.test_data is not None):
        raise InputError("--test-fraction is for --data without --test-data")
    if args.preset is not None:
        if args.resume is not None:
            raise InputError(f"--preset {args.preset} --resume: a resume keeps its run's "
                             "configuration; drop --preset")
        given = _preset(args.preset, given)

    import os

    from rcollapse.empirical.train import train

    progress = not args.no_progress
    if args.resume is not None:  # train() refuses, by name, an option that changes the result
        out = train(None, args.resume, resume=True, overrides=given, progress=progress)
    else:  # train() checks the directory, then validates the config, before any work
        out = train(TrainConfig(**given), args.out, progress=progress)
    if int(os.environ.get("RANK", "0")) == 0:
        _print_summary(out, progress)
    return 0


def _preset(name: str, given: dict) -> dict:
    """The preset's values under the flags given; on CPU (fine-tuning), the estimate first."""
    from rcollapse.cli import InputError
    from rcollapse.empirical.config import TrainConfig
    from rcollapse.empirical.preset import apply_preset, estimate_seconds, format_estimate

    import torch

    cuda = torch.cuda.is_available() and given.get("device") != "cpu"
    try:
        values = apply_preset(name, given, cuda=cuda)
        config = TrainConfig(**values).validate()
    except ValueError as err:
        raise InputError(str(err)) from None
    if not cuda and not config.freeze:
        from rcollapse.empirical.train import load_examples

        train_ex, _ = load_examples(config)
        print(format_estimate(estimate_seconds(config, train_ex), backbone=config.backbone),
              flush=True)
    return values


def _print_summary(out, progress: bool) -> None:
    """The run's final metrics, its warnings (when bars may have hidden them) and the
    verdict, last."""
    import json
    import sys

    summary = json.loads((out / "summary.json").read_text())
    keys = ("w1_to_optimum_train", "w1_to_optimum_test", "w1_open_vs_closed_train",
            "w1_open_vs_closed_test", "accuracy_train", "accuracy_test", "seconds")
    print(f"{out}: " + ", ".join(
        f"{k} {summary[k]:.4f}" if isinstance(summary.get(k), float) else f"{k} {summary.get(k)}"
        for k in keys))
    for line in summary.get("warnings", []) if progress else ():  # bars hid the first
        print(f"warning: {line}", file=sys.stderr)
    print(summary["verdict"]["line"])
