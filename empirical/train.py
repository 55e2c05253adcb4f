"""Training reward models on rankings with any utility, on ``transformers.Trainer``.

The loss is minus the overall utility (1) of Song et al. (2023), the mean over the
batch's prompts of sum_{i<j} U(r_i - r_j) with r = sigmoid(logit) (``losses.utility_loss``),
or TRL's pairwise Bradley-Terry loss, or the Plackett-Luce likelihood. The collator
batches whole rankings of varying n. ``transformers.Trainer`` owns the loop: mixed
precision on CUDA, gradient accumulation, schedules, safetensors checkpoints, resume with
optimizer, scheduler and RNG states, and data parallelism under ``torchrun``.

A run directory holds:

- ``config.json``: the ``TrainConfig``;
- ``metrics.jsonl``: one object per evaluation (``CollapseMonitor`` keys: ``step``,
  ``loss``, ``w1_to_optimum_train``, ``w1_to_optimum_test``, ``w1_open_vs_closed_train``,
  ``w1_open_vs_closed_test``, ``accuracy_train``, ``accuracy_test``, spreads, per-type
  W1s, the mean sorted profiles ``profile_{open,closed}_{train,test}`` and the solver's
  ``optimum_open``, ``optimum_closed``);
- ``rewards.jsonl``: per evaluation and split, the sorted rewards of up to 64 prompts;
- ``summary.json``: the final values of the metrics, plus ``seconds``;
- ``checkpoints/checkpoint-K``: the Trainer's checkpoints (safetensors);
- ``model/``: the final model (safetensors), loadable by
  ``AutoModelForSequenceClassification``, and its tokenizer;
- ``metrics.png``: the metrics over training.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from rcollapse.empirical.data import build_length_dataset, load_jsonl, split_examples
from rcollapse.empirical.losses import (LOSSES, floor_for, prompt_utility, reference_optimum,
                                        validate_utility)
from rcollapse.outputs import check_output_dir, write_json

__all__ = ["TrainConfig", "train", "load_examples", "METRIC_KEYS", "plot_metrics"]

#: The keys every metrics.jsonl row and summary.json have.
METRIC_KEYS = ("step", "loss", "w1_to_optimum_train", "w1_to_optimum_test",
               "w1_open_vs_closed_train", "w1_open_vs_closed_test", "accuracy_train",
               "accuracy_test")


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
    test_data: str | None = None  # held-out JSONL; None: 10% of --data, or built-in test
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
        known = {f.name for f in fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"config.json: unknown keys {sorted(unknown)}")
        return cls(**obj)


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
        train, test = split_examples(examples, seed=config.seed)
    if config.prompts is not None:
        train = train[:config.prompts]
    return train, test


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


def _training_args(config: TrainConfig, run_dir: Path):
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    if config.device == "cuda" and not cuda:
        raise ValueError("--device cuda: no CUDA device is available; valid: auto, cpu")
    use_cuda = cuda and config.device != "cpu"
    precision = config.precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if use_cuda else "fp32"
    if precision != "fp32" and not use_cuda:
        raise ValueError(f"--precision {precision}: mixed precision needs CUDA; valid on CPU: fp32")
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
        use_cpu=not use_cuda,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        disable_tqdm=False,
        ddp_find_unused_parameters=False,
    )


def _config_in_checkpoints(config_json: dict):
    """A callback that writes the TrainConfig into each checkpoint folder as well."""
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


def train(config: TrainConfig | None, out_dir, *, resume: bool = False, callbacks=()) -> Path:
    """Train a reward model; return the run directory.

    ``resume``: continue the run in ``out_dir`` from its last checkpoint, with the
    config saved there (``config`` may be None); the final metrics equal those of an
    uninterrupted run. Without ``resume``, ``out_dir`` must not exist (a run is never
    overwritten). Every input is checked before any work.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    if resume:
        if not (out / "config.json").is_file():
            raise ValueError(f"--resume {out}: not a run directory (no config.json)")
        if (out / "summary.json").exists():
            raise ValueError(f"--resume {out}: the run already finished (summary.json exists)")
        config = TrainConfig.from_json(json.loads((out / "config.json").read_text()))
    else:
        if config is None:
            raise ValueError("train: a config is needed unless resuming")
        if _is_main_process():  # under torchrun, rank 0 checks and creates the directory
            check_output_dir(out, must_not_exist=True)
    config.validate()

    # ---- data, utilities and model: every refusal happens here, before training ---------
    train_ex, test_ex = load_examples(config)  # DataError (a ValueError) names file:line
    train_specs = [prompt_utility(ex, config.utility) for ex in train_ex]
    test_specs = [prompt_utility(ex, config.utility) for ex in test_ex]
    for ex, spec in zip(train_ex + test_ex, train_specs + test_specs):
        floor_for(spec, ex.n)  # solves (5) for every (U, n); refuses an untrainable one
        reference_optimum(spec, ex.n)
    spec_list = sorted(set(train_specs))
    spec_index = {s: k for k, s in enumerate(spec_list)}

    import torch
    from transformers import set_seed
    from transformers.trainer_utils import get_last_checkpoint

    from rcollapse.empirical.model import load_reward_model
    from rcollapse.empirical.monitor import CollapseMonitor

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    model, tokenizer = load_reward_model(config.backbone, seed=config.seed, dropout=config.dropout)
    args = _training_args(config, out)

    checkpoint = None
    if resume:
        ckpt_dir = out / "checkpoints"
        checkpoint = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
        last_step = int(checkpoint.rsplit("-", 1)[1]) if checkpoint else 0
        if _is_main_process():
            _truncate_jsonl(out / "metrics.jsonl", last_step)
            _truncate_jsonl(out / "rewards.jsonl", last_step)
    elif _is_main_process():
        out.mkdir(parents=True, exist_ok=False)
        write_json(out / "config.json", asdict(config))

    dataset = RankingDataset(train_ex, train_specs, spec_index, tokenizer, config.max_length)
    monitor = CollapseMonitor({"train": train_ex, "test": test_ex}, utility=config.utility,
                              tokenizer=tokenizer, max_prompts=config.eval_prompts,
                              max_length=config.max_length)

    def on_evaluate(row, mon):
        _append_jsonl(out / "metrics.jsonl", [row])
        _append_jsonl(out / "rewards.jsonl", mon.rewards_record(row["step"]))

    Trainer = _ranking_trainer_class()
    trainer_holder = {}
    save_config = _config_in_checkpoints(asdict(config))
    cb = monitor.callback(every=config.eval_every, on_evaluate=on_evaluate,
                          loss_fn=lambda: trainer_holder["t"].pop_mean_loss())
    trainer = Trainer(model=model, args=args, train_dataset=dataset,
                      data_collator=RankingCollator(tokenizer), processing_class=tokenizer,
                      callbacks=[cb, save_config, *callbacks], specs=spec_list, loss_name=config.loss,
                      center_coefficient=config.center_coefficient)
    trainer_holder["t"] = trainer
    trainer.train(resume_from_checkpoint=checkpoint)

    trainer.save_model(str(out / "model"))  # every process calls it; the main one writes
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out / "model"))
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
                if line.strip()]
        final = rows[-1]
        summary = {k: final.get(k) for k in METRIC_KEYS}
        for k, v in final.items():
            if k.startswith(("spread_", "w1_to_optimum_open", "w1_to_optimum_closed",
                             "w1_open_vs_closed_optimum")):
                summary[k] = v
        summary.update({
            "seconds": time.perf_counter() - t0,
            "resumed": bool(resume),
            "train_prompts": len(train_ex),
            "test_prompts": len(test_ex),
            "utility": config.utility,
            "loss_function": config.loss,
            "backbone": config.backbone,
            "world_size": int(args.world_size),
            "device": str(args.device),
        })
        write_json(out / "summary.json", summary)
        plot_metrics(rows, out / "metrics.png", title=f"{config.loss} {config.utility} "
                     f"{config.backbone}")
    return out


def plot_metrics(rows, path, *, title: str = "") -> Path:
    """A PNG of the metrics over training (reads rows only; computes nothing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    panels = (("W1 to the optimum of (5)", "w1_to_optimum"),
              ("W1 open vs closed", "w1_open_vs_closed"),
              ("pairwise accuracy", "accuracy"))
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (label, key) in zip(axes, panels):
        for split, style in (("train", "-"), ("test", "--")):
            ys = [r.get(f"{key}_{split}") for r in rows]
            if any(y is not None for y in ys):
                ax.plot(steps, [float("nan") if y is None else y for y in ys], style,
                        marker="o", ms=3, label=split)
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.legend()
    axes[3].plot(steps, [float("nan") if r.get("loss") is None else r["loss"] for r in rows],
                 marker="o", ms=3)
    axes[3].set_yscale("symlog")  # -1/x's loss starts in the thousands
    axes[3].set_title("training loss (symlog)")
    axes[3].set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
