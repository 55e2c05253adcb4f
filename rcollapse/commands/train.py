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

import math


def add_arguments(parser):
    parser.add_argument("--utility", metavar="SPEC",
                        help="linear, log, power:g, neg-power:g, log-sigmoid:s, prompt-aware "
                             "(U = x closed, -1/x open) or prompt-aware-dial (open-endedness "
                             "score in [-1, 1] -> Beta(a, a) target); default log-sigmoid:1")
    parser.add_argument("--loss", choices=("utility", "bt", "plackett-luce"), default=None,
                        help="utility: (1) with U (default); bt: TRL's pairwise "
                             "-log sigmoid(z_i - z_j) over all pairs; plackett-luce: listwise")
    parser.add_argument("--backbone", metavar="NAME",
                        help="tiny (random, for tests), minilm (all-MiniLM-L6-v2) or a local "
                             "Hugging Face model directory (default tiny)")
    parser.add_argument("--prompts", type=int, metavar="N",
                        help="training prompts (built-in data), or at most N of --data (default 64)")
    parser.add_argument("--test-prompts", type=int, metavar="N", help="held-out built-in prompts (16)")
    parser.add_argument("--epochs", type=float, metavar="E", help="passes over the data (40)")
    parser.add_argument("--data", metavar="FILE.jsonl",
                        help='rankings {"prompt", "completions": [best, ..., worst]} or TRL '
                             'pairs {"prompt", "chosen", "rejected"}, each with "type": '
                             '"open"|"closed" for prompt-aware; --test-fraction held out')
    parser.add_argument("--test-data", metavar="FILE.jsonl", help="held-out rankings for --data")
    parser.add_argument("--test-fraction", type=float, metavar="F",
                        help="--data without --test-data: the fraction held out (0.1)")
    parser.add_argument("--lr", type=float, help="learning rate (1e-3)")
    parser.add_argument("--batch", type=int, help="prompts per device per step (8)")
    parser.add_argument("--grad-accum", type=int, help="gradient accumulation steps (1)")
    parser.add_argument("--eval-every", type=int, metavar="K",
                        help="evaluate collapse and checkpoint every K steps (50)")
    parser.add_argument("--eval-prompts", type=int, metavar="N",
                        help="prompts per split scored at each evaluation (256)")
    parser.add_argument("--seed", type=int, help="fixes data, initialization and order (0)")
    parser.add_argument("--center-coefficient", type=float,
                        help="--loss bt: TRL's center_rewards_coefficient (0)")
    parser.add_argument("--scheduler", help="learning-rate schedule (linear (default), constant, cosine, ...)")
    parser.add_argument("--warmup-steps", type=int, help="linear warmup steps (0)")
    parser.add_argument("--max-length", type=int, help="tokens per (prompt, completion) (256)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="auto: CUDA when present")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                        help="auto: bf16/fp16 on CUDA, fp32 on CPU")
    parser.add_argument("--threads", type=int, help="torch threads per process")
    parser.add_argument("--out", metavar="DIR", help="run directory (must not exist)")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the run in DIR from its last checkpoint; takes only "
                             "--threads, --device and --no-progress")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (the Trainer's and transformers' too)")


#: CLI flag -> TrainConfig field.
_FIELDS = ("utility", "loss", "backbone", "prompts", "test_prompts", "epochs", "data",
           "test_data", "test_fraction", "lr", "batch", "grad_accum", "eval_every",
           "eval_prompts", "seed", "center_coefficient", "scheduler", "warmup_steps",
           "max_length", "device", "precision", "threads")


def run(args) -> int:
    from rcollapse.cli import InputError

    given = {f: getattr(args, f) for f in _FIELDS if getattr(args, f) is not None}
    if args.resume is not None:
        if args.out is not None:
            raise InputError(f"--resume {args.resume} --out {args.out}: a resume writes into "
                             "its own run directory; drop --out")
    elif args.out is None:
        raise InputError("--out DIR is required (or --resume DIR)")
    elif "test_fraction" in given and (args.data is None or args.test_data is not None):
        raise InputError("--test-fraction is for --data without --test-data")
    for name in ("lr", "epochs", "center_coefficient"):
        v = given.get(name)
        if v is not None and (not math.isfinite(v) or v < 0):
            raise InputError(f"--{name.replace('_', '-')} {v}: valid: a finite number >= 0")

    import json
    import os
    import sys

    from rcollapse.empirical.train import TrainConfig, train
    from rcollapse.outputs import check_output_dir

    progress = not args.no_progress
    if args.resume is not None:  # train() refuses, by name, an option that changes the result
        out = train(None, args.resume, resume=True, overrides=given, progress=progress)
    else:
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 creates it
            check_output_dir(args.out, must_not_exist=True)
        config = TrainConfig(**given).validate()
        out = train(config, args.out, progress=progress)
    if int(os.environ.get("RANK", "0")) == 0:
        summary = json.loads((out / "summary.json").read_text())
        keys = ("w1_to_optimum_train", "w1_to_optimum_test", "w1_open_vs_closed_train",
                "w1_open_vs_closed_test", "accuracy_train", "accuracy_test", "seconds")
        print(f"{out}: " + ", ".join(
            f"{k} {summary[k]:.4f}" if isinstance(summary.get(k), float) else f"{k} {summary.get(k)}"
            for k in keys))
        for line in summary.get("warnings", []) if progress else ():  # bars hid the first
            print(f"warning: {line}", file=sys.stderr)
        print(summary["verdict"]["line"])
    return 0
