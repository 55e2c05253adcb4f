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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from rcollapse.empirical.data import build_length_dataset, load_jsonl, split_examples
from rcollapse.empirical.losses import (LOSSES, floor_for, prompt_utility, reference_optimum,
                                        validate_utility)
from rcollapse.outputs import check_output_dir, write_json

__all__ = ["TrainConfig", "train", "load_examples", "METRIC_KEYS", "RESUME_OPTIONS",
           "file_record", "check_file_record", "prompt_specs", "small_splits",
           "split_warnings", "metrics_figure", "plot_metrics"]

#: The keys every metrics.jsonl row and summary.json have.
METRIC_KEYS = ("step", "loss", "w1_to_optimum_train", "w1_to_optimum_test",
               "w1_open_vs_closed_train", "w1_open_vs_closed_test", "accuracy_train",
               "accuracy_test")
#: TrainConfig fields a resume may change: they leave the result as it was (threads
#: reorder float sums only; a device must resolve to the run's device and precision).
RESUME_OPTIONS = ("threads", "device")
#: Keys of config.json that record the run rather than configure it.
RECORD_KEYS = ("files", "effective", "resumes")
#: A split with fewer prompts than this of a type (or in all, untyped) gets a warning.
MIN_PROMPTS_PER_TYPE = 8


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as config.json)."""

    utility: str = "log-sigmoid:1"  # a utility spec, 'prompt-aware' or 'prompt-aware-dial'
    loss: str = "utility"  # 'utility' (1), 'bt' (TRL's pairwise) or 'plackett-luce'
    backbone: str = "tiny"  # 'tiny', 'minilm' or a local Hugging Face model directory
    prompts: int | None = 64  # training prompts (built-in data), or at most this many of --data
    test_prompts: int = 16  # held-out prompts of the built-in data (the paper: 16)
    epochs: float = 40.0  # passes over the training prompts
    lr: float = 1e-3  # AdamW learning rate
    batch: int = 8  # prompts (whole rankings) per device per step
    grad_accum: int = 1  # gradient accumulation steps
    seed: int = 0  # data, initialization, data order
    eval_every: int = 50  # evaluate (and checkpoint) every K optimizer steps
    data: str | None = None  # a JSONL of rankings / TRL pairs; None: the built-in data
    test_data: str | None = None  # held-out JSONL; None: test_fraction of --data, or built-in test
    test_fraction: float = 0.1  # --data without --test-data: the fraction held out
    center_coefficient: float = 0.0  # --loss bt: TRL's center_rewards_coefficient
    scheduler: str = "linear"  # a transformers lr_scheduler_type (linear decay to 0)
    warmup_steps: int = 0  # linear warmup steps
    weight_decay: float = 0.0  # AdamW weight decay
    max_length: int = 256  # tokens per (prompt, completion)
    eval_prompts: int = 256  # prompts per split the monitor scores at each evaluation
    device: str = "auto"  # 'auto' (CUDA when present), 'cpu' or 'cuda'
    precision: str = "auto"  # 'auto' (bf16/fp16 on CUDA, fp32 on CPU), 'fp32', 'bf16', 'fp16'
    dropout: float | None = 0.0  # backbone dropout override; None keeps the backbone's
    threads: int | None = None  # torch threads per process; None: torch's default
    save_total_limit: int = 2  # checkpoints kept

    def validate(self) -> "TrainConfig":
        """Refuse bad values with one line naming the value and the valid range."""
        self.utility = validate_utility(self.utility)
        if self.loss not in LOSSES:
            raise ValueError(f"--loss {self.loss!r}: valid: {', '.join(LOSSES)}")
        for name in ("prompts",):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"--{name} {v!r}: valid: an integer >= 1")
        for name in ("test_prompts", "batch", "grad_accum", "eval_every", "max_length",
                     "eval_prompts"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"--{name.replace('_', '-')} {v!r}: valid: an integer >= 1")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"--seed {self.seed!r}: valid: an integer >= 0")
        for name, lo in (("lr", 0.0), ("epochs", 0.0), ("weight_decay", 0.0),
                         ("center_coefficient", 0.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo:
                raise ValueError(f"--{name.replace('_', '-')} {v!r}: valid: a finite number >= {lo:g}")
        if self.epochs == 0:
            raise ValueError("--epochs 0: valid: a finite number > 0")
        if self.center_coefficient and self.loss != "bt":
            raise ValueError("--center-coefficient is for --loss bt")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"--device {self.device!r}: valid: auto, cpu, cuda")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"--precision {self.precision!r}: valid: auto, fp32, bf16, fp16")
        if self.dropout is not None and not (0.0 <= self.dropout < 1.0):
            raise ValueError(f"--dropout {self.dropout!r}: valid: a number in [0, 1)")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"--threads {self.threads!r}: valid: an integer >= 1")
        f = self.test_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < f < 1.0:
            raise ValueError(f"--test-fraction {f!r}: valid: a number in (0, 1)")
        if self.warmup_steps < 0:
            raise ValueError(f"--warmup-steps {self.warmup_steps!r}: valid: an integer >= 0")
        for name in ("data", "test_data"):
            v = getattr(self, name)
            if v is not None and not Path(v).is_file():
                raise ValueError(f"--{name.replace('_', '-')} {v}: no such file")
        if self.test_data is not None and self.data is None:
            raise ValueError("--test-data needs --data")
        from rcollapse.empirical.model import resolve_backbone

        resolve_backbone(self.backbone)  # a missing model directory, refused now
        return self

    @classmethod
    def from_json(cls, obj: dict) -> "TrainConfig":
        """The config of a config.json (its record keys, ``RECORD_KEYS``, are not config)."""
        obj = {k: v for k, v in obj.items() if k not in RECORD_KEYS}
        known = {f.name for f in fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"config.json: unknown keys {sorted(unknown)}")
        return cls(**obj)

    def with_absolute_paths(self) -> "TrainConfig":
        """The same config with its data files and a backbone folder as absolute paths."""
        paths = {name: str(Path(getattr(self, name)).resolve()) for name in ("data", "test_data")
                 if getattr(self, name) is not None}
        if self.backbone not in ("tiny", "minilm"):
            paths["backbone"] = str(Path(self.backbone).resolve())
        return replace(self, **paths)


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


# --------------------------------------------------------------------------------------
# The run's record: its data files, the prompts it used, and what they can tell
# --------------------------------------------------------------------------------------
def file_record(path) -> dict:
    """{"path": the absolute path, "sha256": the file's SHA-256}: what a run directory
    keeps of each data file, so that a resume finds it from any folder and refuses it
    changed."""
    p = Path(path).resolve()
    digest = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(p), "sha256": digest.hexdigest()}


def check_file_record(flag: str, record: dict, *, run) -> None:
    """Refuse (ValueError, one line naming the file) a data file that is gone or changed
    since the run in ``run`` started."""
    path, then = Path(record["path"]), record["sha256"]
    if not path.is_file():
        raise ValueError(f"--resume {run}: {flag} {path} is gone; the run needs the file it "
                         f"started with (SHA-256 {then[:16]}...)")
    now = file_record(path)["sha256"]
    if now != then:
        raise ValueError(f"--resume {run}: {flag} {path} changed since the run started "
                         f"(SHA-256 {then[:16]}... then, {now[:16]}... now); restore it, "
                         "or start a new run")


def _data_files(config: TrainConfig) -> dict:
    return {name: file_record(getattr(config, name)) for name in ("data", "test_data")
            if getattr(config, name) is not None}


def prompt_specs(examples, utility: str) -> list[str]:
    """Each prompt's U (``losses.prompt_utility``); a refusal names the prompt's FILE:LINE."""
    specs = []
    for ex in examples:
        try:
            specs.append(prompt_utility(ex, utility))
        except ValueError as err:
            raise ValueError(f"{ex.source}: {err}" if ex.source else str(err)) from None
    return specs


def _type_counts(examples) -> dict:
    counts = {"open": 0, "closed": 0, "untyped": 0}
    for ex in examples:
        counts[ex.prompt_type or "untyped"] += 1
    return counts


def _split_record(config: TrainConfig, train_ex, test_ex, device: str, precision: str) -> dict:
    """config.json's ``effective``: what the run used, beside what was asked."""
    if config.data is None:
        held_out = "the built-in test split (--test-prompts)"
    elif config.test_data is None:
        held_out = f"--test-fraction {config.test_fraction:g} of --data"
    else:
        held_out = "--test-data"
    return {"train_prompts": len(train_ex), "test_prompts": len(test_ex),
            "test_fraction": len(test_ex) / (len(train_ex) + len(test_ex)),
            "held_out": held_out,
            "types": {"train": _type_counts(train_ex), "test": _type_counts(test_ex)},
            "small_splits": small_splits(train_ex, test_ex),
            "device": device, "precision": precision}


def _more_prompts_hint(config: TrainConfig, split: str, size: int) -> str:
    if split == "train":
        if config.data is None:
            return f"train on more with --prompts N (now {config.prompts})"
        return f"give --data more prompts (--prompts caps them, now {config.prompts})"
    if config.data is None:
        return f"hold out more with --test-prompts N (now {config.test_prompts})"
    if config.test_data is None:
        return (f"hold out more with --test-fraction F (now {config.test_fraction:g}: "
                f"{size} prompts) or --test-data FILE")
    return f"give --test-data {config.test_data} more prompts"


def small_splits(train_ex, test_ex) -> dict:
    """{split: its prompt counts in words} for each split with fewer than
    ``MIN_PROMPTS_PER_TYPE`` prompts of a type (of all, when untyped)."""
    out = {}
    for split, examples in (("train", train_ex), ("test", test_ex)):
        c = _type_counts(examples)
        if c["open"] + c["closed"]:
            if min(c["open"], c["closed"]) < MIN_PROMPTS_PER_TYPE:
                out[split] = f"{c['open']} open and {c['closed']} closed prompts"
        elif len(examples) < MIN_PROMPTS_PER_TYPE:
            out[split] = f"{len(examples)} prompts"
    return out


def split_warnings(config: TrainConfig, train_ex, test_ex) -> list[str]:
    """One line per split in ``small_splits``: its metrics, W1 open vs closed above all,
    rest on too few prompts to judge; the line says how to get more."""
    out = []
    for split, counts in small_splits(train_ex, test_ex).items():
        size = len(train_ex if split == "train" else test_ex)
        typed = "open" in counts
        what = "its W1 open vs closed and per-type W1s" if typed else "its W1 to the optimum"
        out.append(f"the {'held-out' if split == 'test' else split} split has {counts} (fewer "
                   f"than {MIN_PROMPTS_PER_TYPE}{' of a type' if typed else ''}): {what} rest "
                   f"on too few prompts to judge; {_more_prompts_hint(config, split, size)}")
    return out


# --------------------------------------------------------------------------------------
# Dataset, collator and trainer
# --------------------------------------------------------------------------------------
class RankingDataset:
    """Whole rankings, tokenized: item k = {'features': [per completion], 'spec_id': int}."""

    def __init__(self, examples, specs, spec_index, tokenizer, max_length):
        from rcollapse.empirical.model import encode_pairs

        texts = [(ex.prompt, c) for ex in examples for c in ex.completions]
        enc = encode_pairs(tokenizer, texts, max_length=max_length)
        keys = list(enc.keys())
        self.items, k = [], 0
        for ex, spec in zip(examples, specs):
            feats = [{key: enc[key][k + i] for key in keys} for i in range(ex.n)]
            self.items.append({"features": feats, "spec_id": spec_index[spec]})
            k += ex.n

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        return self.items[k]


class RankingCollator:
    """Flattens a batch of rankings (varying n) into one padded batch of completions,
    with ``ranking_sizes`` (B,) and ``spec_ids`` (B,)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, batch):
        import torch

        flat = [f for item in batch for f in item["features"]]
        out = self.tokenizer.pad(flat, padding=True, return_tensors="pt")
        out = dict(out)
        out["ranking_sizes"] = torch.tensor([len(item["features"]) for item in batch])
        out["spec_ids"] = torch.tensor([item["spec_id"] for item in batch])
        return out


def _ranking_trainer_class():
    from transformers import Trainer

    from rcollapse.empirical.losses import bt_loss, plackett_luce_loss, utility_loss

    class RankingTrainer(Trainer):
        """``Trainer`` whose loss is computed on whole rankings (see ``empirical.losses``)."""

        loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by accumulation

        def __init__(self, *a, specs, loss_name, center_coefficient=0.0, **kw):
            super().__init__(*a, **kw)
            self.specs = list(specs)
            self.loss_name = loss_name
            self.center_coefficient = center_coefficient
            self._loss_sum = 0.0
            self._loss_count = 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            sizes = inputs.pop("ranking_sizes")
            spec_ids = inputs.pop("spec_ids")
            outputs = model(**inputs)
            z = outputs.logits.reshape(-1).float()
            if self.loss_name == "utility":
                loss = utility_loss(z, sizes.tolist(), [self.specs[i] for i in spec_ids.tolist()])
            elif self.loss_name == "bt":
                loss = bt_loss(z, sizes.tolist(), center_coefficient=self.center_coefficient)
            else:
                loss = plackett_luce_loss(z, sizes.tolist())
            if model.training:
                self._loss_sum += float(loss.detach())
                self._loss_count += 1
            return (loss, outputs) if return_outputs else loss

        def pop_mean_loss(self):
            """The mean training loss since the last call (None if no step)."""
            if not self._loss_count:
                return None
            value = self._loss_sum / self._loss_count
            self._loss_sum, self._loss_count = 0.0, 0
            return value

    return RankingTrainer


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------
def _truncate_jsonl(path: Path, max_step: int) -> None:
    if not path.exists():
        return
    from rcollapse.outputs import atomic_write_text

    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= max_step]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def _append_jsonl(path: Path, rows) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, allow_nan=False) + "\n")
        fh.flush()


def _resolve_device(config: TrainConfig) -> tuple[str, str]:
    """(device, precision) that ``config.device`` and ``config.precision`` resolve to here."""
    import torch

    cuda = torch.cuda.is_available()
    if config.device == "cuda" and not cuda:
        raise ValueError("--device cuda: no CUDA device is available; valid: auto, cpu")
    use_cuda = cuda and config.device != "cpu"
    precision = config.precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if use_cuda else "fp32"
    if precision != "fp32" and not use_cuda:
        raise ValueError(f"--precision {precision}: mixed precision needs CUDA; valid on CPU: fp32")
    return ("cuda" if use_cuda else "cpu"), precision


def _training_args(config: TrainConfig, run_dir: Path, *, device: str, precision: str,
                   progress: bool):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=config.batch,
        gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs,
        learning_rate=config.lr,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="steps",
        save_steps=config.eval_every,
        save_total_limit=config.save_total_limit,
        logging_steps=config.eval_every,
        eval_strategy="no",
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=device == "cpu",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        disable_tqdm=not progress,
        ddp_find_unused_parameters=False,
    )


def _config_in_checkpoints(config_json: dict):
    """A callback that writes the run's config.json into each checkpoint folder as well."""
    from transformers import TrainerCallback

    class ConfigInCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if folder.is_dir():
                    write_json(folder / "train_config.json", config_json)

    return ConfigInCheckpoint()


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _warn(line: str) -> None:
    if _is_main_process():
        print(f"warning: {line}", file=sys.stderr, flush=True)


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


def _open_run(config: TrainConfig | None, out: Path, *, resume: bool, overrides: dict):
    """(config, the saved config.json or None): a new run's config with absolute paths, or
    a resumed run's saved one with ``overrides`` applied; every refusal happens here."""
    if not resume:
        if config is None:
            raise ValueError("train: a config is needed unless resuming")
        if overrides:
            raise ValueError("train: overrides are for a resume; put them in the config")
        if _is_main_process():  # under torchrun, rank 0 checks and creates the directory
            check_output_dir(out, must_not_exist=True)
        return config.validate().with_absolute_paths(), None
    refused = [f"--{name.replace('_', '-')}" for name in overrides if name not in RESUME_OPTIONS]
    if refused:
        raise ValueError(
            f"--resume {out}: {', '.join(refused)} would change the result (the run's "
            f"config.json is used); valid with --resume: "
            f"{', '.join('--' + o for o in RESUME_OPTIONS)}, --no-progress")
    if not (out / "config.json").is_file():
        raise ValueError(f"--resume {out}: not a run directory (no config.json)")
    if (out / "summary.json").exists():
        raise ValueError(f"--resume {out}: the run already finished (summary.json exists)")
    saved = json.loads((out / "config.json").read_text())
    config = TrainConfig.from_json(saved)
    for name, value in overrides.items():
        setattr(config, name, value)
    for name, rec in saved.get("files", {}).items():
        check_file_record(f"--{name.replace('_', '-')}", rec, run=out)
    return config.validate(), saved


def _check_device(saved: dict, out: Path, device: str, precision: str, *, given: bool) -> None:
    """A resume runs on the run's device and precision: refused if ``--device`` changes
    them, a warning if this machine does."""
    was = saved.get("effective", {})
    if "device" not in was or (was["device"], was["precision"]) == (device, precision):
        return
    change = (f"the run trained on {was['device']} in {was['precision']}; this resume would "
              f"run on {device} in {precision}, which changes the numerics")
    if given:
        raise ValueError(f"--resume {out} --device: {change}; valid: a --device that "
                         f"resolves to {was['device']}")
    _warn(f"--resume {out}: {change}")


def _write_config(out: Path, config: TrainConfig, saved, effective: dict, *, last_step: int,
                  overrides: dict) -> dict:
    """Write config.json (a new run) or add this resume to it; return what was written."""
    if saved is None:
        config_json = {**asdict(config), "files": _data_files(config), "effective": effective}
    else:
        config_json = dict(saved)
        config_json["resumes"] = list(saved.get("resumes", [])) + [
            {"from_step": last_step, "options": dict(overrides)}]
    if _is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", config_json)
    return config_json


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
    config, saved = _open_run(config, out, resume=resume, overrides=overrides)

    # ---- data, utilities and device: every refusal happens here, before training ---------
    train_ex, test_ex = load_examples(config)  # DataError (a ValueError) names file:line
    train_specs = prompt_specs(train_ex, config.utility)
    test_specs = prompt_specs(test_ex, config.utility)
    for ex, spec in zip(train_ex + test_ex, train_specs + test_specs):
        floor_for(spec, ex.n)  # solves (5) for every (U, n); refuses an untrainable one
        reference_optimum(spec, ex.n)
    device, precision = _resolve_device(config)
    if resume:
        _check_device(saved, out, device, precision, given="device" in overrides)
    notes = split_warnings(config, train_ex, test_ex)
    for line in notes:
        _warn(line)
    effective = _split_record(config, train_ex, test_ex, device, precision)
    with _transformers_bars(progress):
        return _run(config, out, train_ex, train_specs, test_ex, saved=saved, effective=effective,
                    overrides=overrides, device=device, precision=precision, progress=progress,
                    callbacks=callbacks, notes=notes, t0=t0)


def _run(config, out, train_ex, train_specs, test_ex, *, saved, effective, overrides, device,
         precision, progress, callbacks, notes, t0) -> Path:
    """The training itself, once every input was checked (see ``train``)."""
    import torch
    from transformers import PrinterCallback, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    from rcollapse.empirical.model import load_reward_model
    from rcollapse.empirical.monitor import CollapseMonitor

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    model, tokenizer = load_reward_model(config.backbone, seed=config.seed, dropout=config.dropout)
    args = _training_args(config, out, device=device, precision=precision, progress=progress)
    checkpoint, last_step = None, 0
    if saved is not None:
        ckpt_dir = out / "checkpoints"
        checkpoint = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
        last_step = int(checkpoint.rsplit("-", 1)[1]) if checkpoint else 0
        if _is_main_process():
            _truncate_jsonl(out / "metrics.jsonl", last_step)
            _truncate_jsonl(out / "rewards.jsonl", last_step)
    config_json = _write_config(out, config, saved, effective, last_step=last_step,
                                overrides=overrides)

    spec_list = sorted(set(train_specs))
    dataset = RankingDataset(train_ex, train_specs, {s: k for k, s in enumerate(spec_list)},
                             tokenizer, config.max_length)
    monitor = CollapseMonitor({"train": train_ex, "test": test_ex}, utility=config.utility,
                              tokenizer=tokenizer, max_prompts=config.eval_prompts,
                              max_length=config.max_length)

    def on_evaluate(row, mon):
        _append_jsonl(out / "metrics.jsonl", [row])
        _append_jsonl(out / "rewards.jsonl", mon.rewards_record(row["step"]))

    holder = {}
    cb = monitor.callback(every=config.eval_every, on_evaluate=on_evaluate,
                          loss_fn=lambda: holder["t"].pop_mean_loss())
    trainer = _ranking_trainer_class()(
        model=model, args=args, train_dataset=dataset, data_collator=RankingCollator(tokenizer),
        processing_class=tokenizer, callbacks=[cb, _config_in_checkpoints(config_json), *callbacks],
        specs=spec_list, loss_name=config.loss, center_coefficient=config.center_coefficient)
    if not progress:
        trainer.remove_callback(PrinterCallback)  # it prints each log dict instead of a bar
    holder["t"] = trainer
    trainer.train(resume_from_checkpoint=checkpoint)

    trainer.save_model(str(out / "model"))  # every process calls it; the main one writes
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out / "model"))
        _finish(out, config, effective, notes, resumed=saved is not None,
                world_size=int(args.world_size), device=str(args.device), t0=t0)
    return out


def _finish(out: Path, config: TrainConfig, effective: dict, notes: list, *, resumed: bool,
            world_size: int, device: str, t0: float) -> None:
    """summary.json (final metrics, verdict, warnings) and metrics.png, from metrics.jsonl."""
    from rcollapse.empirical.monitor import collapse_verdict

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    final = rows[-1]
    summary = {k: final.get(k) for k in METRIC_KEYS}
    for k, v in final.items():
        if k.startswith(("spread_", "w1_to_optimum_open", "w1_to_optimum_closed",
                         "w1_open_vs_closed_optimum", "w1_flat_to_optimum")):
            summary[k] = v
    caveats = {split: f"only {counts}, too few to judge"
               for split, counts in effective["small_splits"].items()}
    verdict = collapse_verdict(final, utility=config.utility, caveats=caveats)
    summary.update({
        "seconds": time.perf_counter() - t0,
        "resumed": resumed,
        "train_prompts": effective["train_prompts"],
        "test_prompts": effective["test_prompts"],
        "test_fraction": effective["test_fraction"],
        "utility": config.utility,
        "loss_function": config.loss,
        "backbone": config.backbone,
        "world_size": world_size,
        "device": device,
        "verdict": verdict,
        "warnings": list(notes),
    })
    write_json(out / "summary.json", summary)
    plot_metrics(rows, out / "metrics.png", verdict=verdict,
                 title=f"{config.loss} {config.utility} {Path(config.backbone).name}")


def _loss_scale(ax, losses) -> None:
    """symlog when the loss spans more than a decade (-1/x's starts in the thousands),
    else linear, so that the axis always carries labelled ticks."""
    from matplotlib.ticker import FuncFormatter, NullFormatter, SymmetricalLogLocator

    finite = [abs(v) for v in losses if v is not None and math.isfinite(v)]
    if finite and max(finite) > 10 * max(min(finite), 1.0):
        ax.set_yscale("symlog")
        ax.yaxis.set_major_locator(SymmetricalLogLocator(base=10, linthresh=1.0, subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title("training loss (symlog)")
    else:
        ax.set_title("training loss")


def plot_metrics(rows, path, *, title: str = "", verdict: dict | None = None) -> Path:
    """metrics.png: ``metrics_figure`` saved as a PNG."""
    fig = metrics_figure(rows, title=title, verdict=verdict)  # selects the Agg backend
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def metrics_figure(rows, *, title: str = "", verdict: dict | None = None):
    """The metrics over training (reads rows only; computes nothing): the verdict's
    collapse threshold (``COLLAPSE_FRACTION`` x W1 of flat rewards) on the W1 panel, the
    ceiling ``w1_open_vs_closed_optimum_*`` on the open-vs-closed panel, the loss on an
    axis with labelled ticks, and the verdict's line under the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rcollapse.empirical.monitor import COLLAPSE_FRACTION

    steps = [r["step"] for r in rows]
    panels = (("W1 to the optimum of (5)", "w1_to_optimum"),
              ("W1 open vs closed", "w1_open_vs_closed"),
              ("pairwise accuracy", "accuracy"))
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    for ax, (label, key) in zip(axes, panels):
        for split, style in (("train", "-"), ("test", "--")):
            ys = [r.get(f"{key}_{split}") for r in rows]
            if any(y is not None for y in ys):
                line = ax.plot(steps, [float("nan") if y is None else y for y in ys], style,
                               marker="o", ms=3, label=split)[0]
                _reference_line(ax, key, split, rows[-1], line.get_color(), COLLAPSE_FRACTION)
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    losses = [r.get("loss") for r in rows]
    axes[3].plot(steps, [float("nan") if v is None else v for v in losses], marker="o", ms=3)
    _loss_scale(axes[3], losses)
    axes[3].set_xlabel("step")
    if verdict is not None:
        title = f"{title}\n{_wrap(verdict['line'], 190)}"
    fig.suptitle(title, fontsize=9 if verdict is not None else None)
    fig.tight_layout()
    return fig


def _reference_line(ax, key: str, split: str, last: dict, color, fraction: float) -> None:
    """The collapse threshold (W1 panel) or the ceiling (open-vs-closed panel), dotted."""
    if key == "w1_to_optimum" and last.get(f"w1_flat_to_optimum_{split}") is not None:
        ax.axhline(fraction * last[f"w1_flat_to_optimum_{split}"], ls=":", color=color,
                   label=f"{split}: collapsed below ({fraction:g} x flat rewards' W1)")
    if key == "w1_open_vs_closed" and last.get(f"w1_open_vs_closed_optimum_{split}") is not None:
        ax.axhline(last[f"w1_open_vs_closed_optimum_{split}"], ls=":", color=color,
                   label=f"{split}: ceiling, the optima's value")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
