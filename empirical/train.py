"""Training reward models on rankings with any utility, on ``transformers.Trainer``.

The loss is minus the overall utility (1) of Song et al. (2023), the mean over the
batch's prompts of sum_{i<j} U(r_i - r_j) with r = sigmoid(logit) (``losses.utility_loss``),
or TRL's pairwise Bradley-Terry loss, or the Plackett-Luce likelihood. The collator
batches whole rankings of varying n. ``transformers.Trainer`` owns the loop: mixed
precision on CUDA, gradient accumulation, schedules, safetensors checkpoints, resume with
optimizer, scheduler and RNG states, and data parallelism under ``torchrun``.

A run directory holds:

- ``config.json``: the ``TrainConfig`` (its data files and a backbone folder as absolute
  paths, so a run resumes from any folder), and beside it the record of the run:
  ``files`` (each data file's absolute path and SHA-256; a resume refuses changed data),
  ``effective`` (the prompts actually used: ``train_prompts``, ``test_prompts``, the
  held-out ``test_fraction``, the count of each prompt type per split, and the device and
  precision the run resolved to) and ``resumes`` (the step and changed options of each
  resume);
- ``metrics.jsonl``: one object per evaluation (``CollapseMonitor`` keys: ``step``,
  ``loss``, ``w1_to_optimum_train``, ``w1_to_optimum_test``, ``w1_open_vs_closed_train``,
  ``w1_open_vs_closed_test``, ``accuracy_train``, ``accuracy_test``, spreads, per-type
  W1s, the mean sorted profiles ``profile_{open,closed}_{train,test}`` and the solver's
  ``optimum_open``, ``optimum_closed``);
- ``rewards.jsonl``: per evaluation and split, the sorted rewards of up to 64 prompts;
- ``summary.json``: the final values of the metrics, plus ``seconds``, the ``verdict``
  (``monitor.collapse_verdict``: collapsed or not, types kept apart or not, with its
  numbers and thresholds) and ``warnings`` (splits too small to judge);
- ``checkpoints/checkpoint-K``: the Trainer's checkpoints (safetensors);
- ``model/``: the final model (safetensors), loadable by
  ``AutoModelForSequenceClassification``, and its tokenizer;
- ``metrics.png``: the metrics over training, with the verdict's thresholds and the
  ceiling ``w1_open_vs_closed_optimum_*``.

A resume may change only options that leave the result as it was (``RESUME_OPTIONS``:
``threads``, and ``device`` where it resolves to the same device and precision) and
whether progress bars show.

The pieces: ``empirical.config`` (``TrainConfig``, its checks and its flags),
``empirical.trainer`` (``RankingTrainer``, the dataset, the collator and the loss table),
``empirical.run_dir`` (the run's record, resume and summary) and
``empirical.metrics_plot`` (metrics.png). This module joins them: ``train``.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from rcollapse.empirical.config import RECORD_KEYS, TrainConfig
from rcollapse.empirical.data import build_length_dataset, load_jsonl, split_examples
from rcollapse.empirical.losses import floor_for, prompt_utility, reference_optimum
from rcollapse.empirical.metrics_plot import metrics_figure, plot_metrics
from rcollapse.empirical.run_dir import (METRIC_KEYS, MIN_PROMPTS_PER_TYPE, RESUME_OPTIONS,
                                         append_jsonl, check_device, check_file_record,
                                         file_record, finish, is_main_process, open_run,
                                         small_splits, split_record, split_warnings,
                                         truncate_jsonl, warn, write_config)

__all__ = ["TrainConfig", "train", "load_examples", "METRIC_KEYS", "MIN_PROMPTS_PER_TYPE",
           "RECORD_KEYS", "RESUME_OPTIONS", "file_record", "check_file_record", "prompt_specs",
           "small_splits", "split_warnings", "metrics_figure", "plot_metrics"]


def load_examples(config: TrainConfig):
    """(train, test) ranking examples for a config."""
    if config.data is None:
        train = build_length_dataset(config.prompts or 64, seed=config.seed, split="train")
        test = build_length_dataset(config.test_prompts, seed=config.seed, split="test")
        return train, test
    examples = load_jsonl(config.data, min_prompts=1 if config.test_data else 2)
    if config.test_data is not None:
        train, test = examples, load_jsonl(config.test_data, min_prompts=1)
    else:
        train, test = split_examples(examples, seed=config.seed,
                                     test_fraction=config.test_fraction)
    if config.prompts is not None:
        train = train[:config.prompts]
    return train, test


def prompt_specs(examples, utility: str) -> list[str]:
    """Each prompt's U (``losses.prompt_utility``); a refusal names the prompt's FILE:LINE."""
    specs = []
    for ex in examples:
        try:
            specs.append(prompt_utility(ex, utility))
        except ValueError as err:
            raise ValueError(f"{ex.source}: {err}" if ex.source else str(err)) from None
    return specs


@contextmanager
def _transformers_bars(show: bool):
    """Turn transformers' own bars (loading and writing weights) off for a block."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if not show:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was and not show:
            hf_logging.enable_progress_bar()


def train(config: TrainConfig | None, out_dir, *, resume: bool = False, callbacks=(),
          overrides: dict | None = None, progress: bool = True) -> Path:
    """Train a reward model; return the run directory.

    ``resume``: continue the run in ``out_dir`` from its last checkpoint, with the
    config saved there (``config`` may be None), refused if a data file changed; the
    final metrics equal those of an uninterrupted run. ``overrides`` (resume only) may
    set the ``RESUME_OPTIONS``. Without ``resume``, ``out_dir`` must not exist (a run is
    never overwritten). ``progress``: show the Trainer's and transformers' bars. Every
    input is checked before any work; splits too small to judge are warned about.
    """
    t0 = time.perf_counter()
    out, overrides = Path(out_dir), dict(overrides or {})
    config, saved = open_run(config, out, resume=resume, overrides=overrides)

    # ---- data, utilities and device: every refusal happens here, before training ---------
    train_ex, test_ex = load_examples(config)  # DataError (a ValueError) names file:line
    train_specs = prompt_specs(train_ex, config.utility)
    test_specs = prompt_specs(test_ex, config.utility)
    # floor_for solves (5) for every (U, n) and refuses an untrainable one; the loss gets
    # the training prompts' floors, the monitor the optima
    everything = list(zip(train_ex + test_ex, train_specs + test_specs))
    floors = [floor_for(spec, ex.n) for ex, spec in everything]
    for ex, spec in everything:
        reference_optimum(spec, ex.n)
    from rcollapse.empirical.trainer import resolve_device

    device, precision = resolve_device(config)
    if resume:
        check_device(saved, out, device, precision, given="device" in overrides)
    notes = split_warnings(config, train_ex, test_ex)
    for line in notes:
        warn(line)
    effective = split_record(config, train_ex, test_ex, device, precision)
    run = _run
    if config.freeze:  # the frozen-encoder track: a head on cached embeddings
        from rcollapse.empirical.frozen import run_frozen as run
    with _transformers_bars(progress):
        return run(config, out, (train_ex, train_specs, floors[:len(train_ex)]), test_ex,
                   saved=saved, effective=effective, overrides=overrides, device=device,
                   precision=precision, progress=progress, callbacks=callbacks, notes=notes,
                   t0=t0)


def _resume_point(out: Path, saved) -> tuple[str | None, int]:
    """(the last checkpoint, its step) of a resumed run, its JSONL rows cut back to that
    step; (None, 0) for a new run."""
    from transformers.trainer_utils import get_last_checkpoint

    if saved is None:
        return None, 0
    ckpt_dir = out / "checkpoints"
    checkpoint = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    last_step = int(checkpoint.rsplit("-", 1)[1]) if checkpoint else 0
    if is_main_process():
        truncate_jsonl(out / "metrics.jsonl", last_step)
        truncate_jsonl(out / "rewards.jsonl", last_step)
    return checkpoint, last_step


def _run(config, out, training, test_ex, *, saved, effective, overrides, device, precision,
         progress, callbacks, notes, t0) -> Path:
    """The training itself, once every input was checked (see ``train``); ``training`` is
    (the training prompts, their specs, their floors)."""
    import torch
    from transformers import PrinterCallback, set_seed

    from rcollapse.empirical.model import load_reward_model
    from rcollapse.empirical.monitor import CollapseMonitor
    from rcollapse.empirical.trainer import (ConfigInCheckpoint, RankingCollator,
                                             RankingDataset, RankingTrainer,
                                             training_arguments)

    train_ex, train_specs, floors = training
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    model, tokenizer = load_reward_model(config.backbone, seed=config.seed, dropout=config.dropout)
    args = training_arguments(config, out, device=device, precision=precision, progress=progress)
    checkpoint, last_step = _resume_point(out, saved)
    config_json = write_config(out, config, saved, effective, last_step=last_step,
                               overrides=overrides)

    spec_list = sorted(set(train_specs))
    dataset = RankingDataset(train_ex, train_specs, floors,
                             {s: k for k, s in enumerate(spec_list)}, tokenizer, config.max_length)
    monitor = CollapseMonitor({"train": train_ex, "test": test_ex}, utility=config.utility,
                              tokenizer=tokenizer, max_prompts=config.eval_prompts,
                              max_length=config.max_length)

    def on_evaluate(row, mon):
        append_jsonl(out / "metrics.jsonl", [row])
        append_jsonl(out / "rewards.jsonl", mon.rewards_record(row["step"]))

    holder = {}
    cb = monitor.callback(every=config.eval_every, on_evaluate=on_evaluate,
                          loss_fn=lambda: holder["t"].pop_mean_loss())
    trainer = RankingTrainer(
        model=model, args=args, train_dataset=dataset, data_collator=RankingCollator(tokenizer),
        processing_class=tokenizer, callbacks=[cb, ConfigInCheckpoint(config_json), *callbacks],
        specs=spec_list, loss_name=config.loss, center_coefficient=config.center_coefficient)
    if not progress:
        trainer.remove_callback(PrinterCallback)  # it prints each log dict instead of a bar
    holder["t"] = trainer
    trainer.train(resume_from_checkpoint=checkpoint)

    trainer.save_model(str(out / "model"))  # every process calls it; the main one writes
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out / "model"))
        finish(out, config, effective, notes, resumed=saved is not None,
               world_size=int(args.world_size), device=str(args.device), t0=t0)
    return out
