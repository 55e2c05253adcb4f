"""WARM in one run: M reward models from one initialization, averaged, against their ensemble.

WARM (Ramé et al. 2024) fine-tunes M reward models from one shared pretrained
initialization and averages their weights, theta_WARM = (1/M) sum_i theta_i. This module
trains the members with ``rcollapse.empirical.train`` (the same code as ``rcollapse
train``), combines them (``empirical/soup.py``) and evaluates, in one run directory:

- models: each member; ``warm`` (the uniform weight average); ``greedy`` (model-soups'
  greedy soup on a validation set); ``ensemble`` (the mean of the members' rewards);
- linear mode connectivity: validation loss (the trained objective (1), negated, per
  prompt) and pairwise accuracy along (1 - l) theta_1 + l theta_2 at 11 values of l,
  and its barrier;
- test sets (built-in data): ``held_out`` (prompts whose head words training never saw),
  ``shift`` (the same prompts, completions cut to lengths training never saw: 8 lengths
  drawn from 2..9 and 82..100 words, against 10..80 in training); and label noise: a
  second set of members trained with a fraction p of the training rankings corrupted
  (two completions swapped), evaluated on the clean test sets;
- best-of-N: for each held-out prompt, a pool of candidates cut to random lengths of
  1..100 words; for N in {1, 2, 4, 8, 16, 32} the model keeps its best-scored of N
  random candidates, scored by the true reward (the length);
- collapse: the monitor's W1 to the optimum of (5) and W1 open vs closed, on held_out;
- inference seconds per 1000 completions, ``warm`` against ``ensemble``, in one process.

Layout of a run directory ``DIR``::

    warm_config.json          the WarmConfig, its --data and a --backbone folder as absolute
                              paths, and "files": --data's path and SHA-256 (a --resume
                              must match the config, and refuses changed data)
    init/                     the shared initialization (safetensors + tokenizer)
    data/                     train_p0.jsonl, train_p0.25.jsonl, val.jsonl, held_out.jsonl,
                              shift.jsonl, pool.json (the last two with the built-in data)
    members/p0/member_0/ ...  rcollapse train run directories
    models/p0/warm/, greedy/  averaged models (safetensors, AutoModelForSequenceClassification)
    report.json, report.md    the report (``warm_report``)
    lmc.png, best_of_n.png    drawn from report.json by ``figures.warm.draw_run_plots``
                              (``rcollapse warm`` does; ``run_warm`` draws nothing)

The parts: ``warm_config`` (``WarmConfig``, its checks, resume), ``warm_members`` (data,
member configs, training, one process per job), ``warm_evaluation`` (one noise level's
models scored, LMC, best-of-N, inference time), ``warm_report`` (report.json, report.md).
This module prepares the run directory and runs the parts in order; it re-exports the
names that callers import from ``rcollapse.empirical.warm``.
"""


from __future__ import annotations

import json
from pathlib import Path

from rcollapse.empirical.soup import state_fingerprint
from rcollapse.empirical.warm_config import (
    WarmConfig,
    WarmInputError,
    resolve_config,
    validate,
)
from rcollapse.empirical.warm_evaluation import evaluate_condition
from rcollapse.empirical.warm_members import (
    SHIFT_LENGTHS,
    corrupt_rankings,
    member_seeds_and_rates,
    member_train_configs,
    noise_label,
    prepare_data,
    threads_per_job,
    train_members,
)
from rcollapse.empirical.warm_report import REPORT_KEYS, build_report, report_markdown
from rcollapse.outputs import atomic_write_text, check_output_dir, write_json

__all__ = [
    "REPORT_KEYS",
    "SHIFT_LENGTHS",
    "WarmConfig",
    "WarmInputError",
    "build_report",
    "corrupt_rankings",
    "evaluate_condition",
    "member_seeds_and_rates",
    "member_train_configs",
    "prepare_data",
    "prepare_run",
    "report_markdown",
    "resolve_config",
    "run_warm",
    "train_members",
    "validate",
]


def _checked_data(config: WarmConfig) -> dict:
    """The run's data (``prepare_data``), once every input is checked: the config's
    values, the backbone, and a trainable (U, n) for every prompt (problem (5) solved)."""
    from rcollapse.empirical.losses import floor_for
    from rcollapse.empirical.model import resolve_backbone
    from rcollapse.empirical.train import prompt_specs

    validate(config)
    resolve_backbone(config.backbone)
    data = prepare_data(config)
    every = data["train"] + data["val"] + data["held_out"] + (data["shift"] or [])
    for ex, spec in zip(every, prompt_specs(every, config.utility)):  # names FILE:LINE
        floor_for(spec, ex.n)  # solves (5) for each (U, n); refuses an untrainable one
    return data


def _write_init(config: WarmConfig, run_dir: Path) -> str:
    """Write warm_config.json and the shared initialization DIR/init (once); returns the
    SHA-256 fingerprint of its weights."""
    from rcollapse.empirical.model import load_reward_model
    from rcollapse.empirical.train import file_record

    init_dir = run_dir / "init"
    if not (init_dir / "fingerprint.json").is_file():
        model, tokenizer = load_reward_model(config.backbone, seed=config.seed,
                                             dropout=config.train.dropout)
        fingerprint = state_fingerprint(model.state_dict())
        run_dir.mkdir(parents=True, exist_ok=True)
        files = {"data": file_record(config.data)} if config.data is not None else {}
        write_json(run_dir / "warm_config.json",
                   {**config.with_absolute_paths().to_json(), "files": files})
        model.save_pretrained(str(init_dir))
        tokenizer.save_pretrained(str(init_dir))
        write_json(init_dir / "fingerprint.json", {"sha256": fingerprint,
                                                   "backbone": config.backbone,
                                                   "seed": config.seed})
        del model
    return json.loads((init_dir / "fingerprint.json").read_text())["sha256"]


def _write_data(config: WarmConfig, run_dir: Path, data: dict) -> None:
    """DIR/data: the evaluation sets and one training file per noise level; records the
    corrupted rankings' indices in ``data["corrupted"][label]``."""
    from rcollapse.empirical.data import write_jsonl

    write_jsonl(run_dir / "data" / "val.jsonl", data["val"])
    write_jsonl(run_dir / "data" / "held_out.jsonl", data["held_out"])
    if data["shift"] is not None:
        write_jsonl(run_dir / "data" / "shift.jsonl", data["shift"])
        write_json(run_dir / "data" / "pool.json", data["pool"], indent=None)
    data["corrupted"] = {}
    for p in config.noise:
        examples, corrupted = corrupt_rankings(data["train"], p, seed=config.seed)
        write_jsonl(run_dir / "data" / f"train_{noise_label(p)}.jsonl", examples)
        data["corrupted"][noise_label(p)] = corrupted


def _check_shared_init(config: WarmConfig, run_dir: Path, fingerprint: str) -> None:
    """Refuse members whose starting weights (loaded as train() will load them) would not
    be the shared initialization."""
    import torch

    from rcollapse.empirical.model import load_reward_model

    # the noise levels share the same member configs apart from the data file
    for i, tc in enumerate(member_train_configs(config, run_dir, config.noise[0])):
        tc.validate()
        torch.manual_seed(12345)
        model, _ = load_reward_model(tc.backbone, seed=tc.seed, dropout=tc.dropout)
        got = state_fingerprint(model.state_dict())
        del model
        if got != fingerprint:
            raise WarmInputError(
                f"member {i} (seed {tc.seed}) would not start from the shared "
                f"initialization {run_dir / 'init'} (weights differ); members must share "
                "the architecture and the initialization")


def prepare_run(config: WarmConfig, out_dir, *, resume: bool = False) -> dict:
    """Check every input, then write the config, the data and the shared initialization.

    Everything that can be refused is refused here, before any training: M < 2 and other
    bad values, an existing DIR without ``resume``, a missing DIR (or a different
    config) with ``resume``, a backbone that cannot load, and members whose starting
    weights would not be the shared initialization. Returns the prepared data.
    """
    run_dir = Path(out_dir)
    if not resume:
        check_output_dir(run_dir, flag="--out", must_not_exist=True)
    if config is None:
        raise WarmInputError("a WarmConfig is needed unless resuming")
    data = _checked_data(config)
    fingerprint = _write_init(config, run_dir)
    _write_data(config, run_dir, data)
    _check_shared_init(config, run_dir, fingerprint)
    return data


def run_warm(config: WarmConfig | None, out_dir, *, resume: bool = False,
             progress: bool = True) -> dict:
    """The whole run: check, prepare, train the members, combine, evaluate, report.

    ``resume``: continue the run in ``out_dir`` (finished members are kept, an unfinished
    one resumes from its checkpoint); ``config`` None means the saved one.

    Returns the report (also saved as DIR/report.json with DIR/report.md). It draws
    nothing: ``figures.warm.draw_run_plots(report, DIR)`` draws lmc.png and best_of_n.png
    from it (``rcollapse warm`` does)."""
    run_dir = Path(out_dir)
    config = resolve_config(config, run_dir, resume=resume)
    data = prepare_run(config, run_dir, resume=resume)
    dirs = train_members(config, run_dir, progress=progress)
    import torch

    torch.set_num_threads(threads_per_job(1))
    results = [evaluate_condition(config, run_dir, p, d, data, progress=progress,
                                  time_inference=(k == 0))
               for k, (p, d) in enumerate(zip(config.noise, dirs))]
    report = build_report(config, results)
    write_json(run_dir / "report.json", report)
    atomic_write_text(run_dir / "report.md", report_markdown(report))
    return report
