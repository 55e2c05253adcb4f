"""Named training configurations: ``rcollapse train --preset paper``.

``paper`` is the official configuration of section 5.2 of Song et al. (2023) (DeBERTa-v3
reward model, one prompt of 8 completions per device and 8 accumulation steps, 1,000
optimizer steps): lr 1e-5, warmup over 10% of the steps, weight decay 0.01, gradient
clipping at norm 2.0, fp16 on CUDA, 512 tokens per (prompt, completion), 8,192 training
and 16 held-out prompts. The preset fixes the optimization; ``--backbone`` (a local
DeBERTa-v3-base directory, as the paper used) and ``--utility`` stay the user's. The
paper's utilities are :data:`PAPER_UTILITIES`. A flag given beside ``--preset`` wins over
the preset's value.

On a CPU the preset first measures one optimizer step of the run's own model and data
and says how long the run would take (:func:`estimate_seconds`), then starts.
"""

from __future__ import annotations

import math
import time

__all__ = ["CUDA_PRECISION", "PAPER_UTILITIES", "PRESETS", "apply_preset", "estimate_seconds", "format_estimate"]

#: The utilities of the paper's section 5.2 experiments: x, -1/(x + 0.1) and
#: log(x + 0.1) (continued below the training floor, as every utility here is), log
#: sigmoid(4x), and the adaptive (prompt-aware) rule.
PAPER_UTILITIES = ("linear", "expr:-1/(x + 1/10)", "expr:log(x + 1/10)", "log-sigmoid:0.25",
                   "prompt-aware")

_PAPER = dict(lr=1e-5, steps=1000, batch=1, grad_accum=8, warmup_ratio=0.1, weight_decay=0.01,
              max_grad_norm=2.0, max_length=512, prompts=8192, test_prompts=16,
              scheduler="linear", eval_every=50)
#: name -> TrainConfig values. ``paper-frozen``: the paper's scale (8,192 + 16 prompts,
#: 1,000 steps of 8 prompts, its schedule, decay, clipping and 512 tokens) on the
#: frozen-encoder track, which a CPU can run: minilm encoded once in bf16, an MLP head,
#: the 8 prompts of a step in one batch, at a head's learning rate.
PRESETS = {
    "paper": _PAPER,
    "paper-frozen": {**_PAPER, "backbone": "minilm", "freeze": True, "head": "mlp:256",
                     "encoder_precision": "bf16", "batch": 8, "grad_accum": 1, "lr": 3e-3,
                     "eval_every": 100},
}
#: Mixed precision of a preset on CUDA (fp32 on a CPU).
CUDA_PRECISION = {"paper": "fp16"}


def apply_preset(name: str, given: dict, *, cuda: bool) -> dict:
    """The TrainConfig values of preset ``name`` under the flags ``given`` (which win), with
    its mixed precision when the run will be on CUDA (``cuda``).

    >>> apply_preset("paper", {"lr": 3e-5}, cuda=False)["lr"]
    3e-05
    >>> [apply_preset("paper", {}, cuda=c)["precision"] for c in (False, True)]
    ['fp32', 'fp16']
    """
    if name not in PRESETS:
        raise ValueError(f"--preset {name!r}: valid: " + ", ".join(sorted(PRESETS)))
    precision = CUDA_PRECISION.get(name, "auto") if cuda else "fp32"
    return {**PRESETS[name], "precision": precision, **given}


def estimate_seconds(config, train_examples, *, repeats: int = 2) -> dict:
    """Time one optimizer step of ``config`` (its backbone, batch, accumulation and
    ``max_length``, on its first training prompts, forward and backward on the CPU) and
    scale it to the run: ``steps`` x that time. Returns the measured step, the steps and
    the estimate in seconds (evaluations not included)."""
    import torch

    from rcollapse.empirical.model import load_reward_model

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    model, tokenizer = load_reward_model(config.backbone, seed=config.seed)
    model.train()
    per_step = config.batch * config.grad_accum
    prompts = [train_examples[k % len(train_examples)] for k in range(per_step)]
    times = []
    for _ in range(repeats):  # the first pays for allocation: the last is the estimate
        t0 = time.perf_counter()
        for ex in prompts:
            enc = tokenizer([ex.prompt] * ex.n, list(ex.completions), padding=True,
                            truncation="longest_first", max_length=config.max_length,
                            return_tensors="pt")
            model(**enc).logits.sum().backward()
        times.append(time.perf_counter() - t0)
    steps = config.steps if config.steps is not None else math.ceil(
        config.epochs * len(train_examples) / per_step)
    return {"step_seconds": times[-1], "steps": steps, "seconds": times[-1] * steps}


def format_estimate(estimate: dict, *, backbone: str) -> str:
    """One line: the measured step and the time the run would take on this CPU."""
    total = estimate["seconds"]
    shown = (f"{total / 3600:.1f} h" if total >= 3600 else
             f"{total / 60:.1f} min" if total >= 120 else f"{total:.0f} s")
    return (f"--preset paper on CPU with --backbone {backbone}: one step measured at "
            f"{estimate['step_seconds']:.2f} s, so {estimate['steps']} steps take about "
            f"{shown} (evaluations not included); a GPU, --freeze or --steps N shortens it")
