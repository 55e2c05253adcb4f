"""``RankingTrainer``: ``transformers.Trainer`` on whole rankings, as TRL's RewardTrainer.

The dataset holds whole rankings, tokenized, with each prompt's utility and its floor
(``losses.floor_for``, computed once when the dataset is built); the collator flattens a
batch of rankings of varying n into one padded batch of completions; ``compute_loss``
takes the loss of ``--loss`` from the table ``LOSSES``. The Trainer owns the loop, mixed
precision, accumulation, schedules, checkpoints, resume and data parallelism.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from transformers import Trainer, TrainerCallback, TrainingArguments

from rcollapse.empirical.losses import bt_loss, plackett_luce_loss, utility_loss
from rcollapse.outputs import write_json

__all__ = ["LOSSES", "ConfigInCheckpoint", "RankingCollator", "RankingDataset",
           "RankingTrainer", "resolve_device", "training_arguments"]

#: --loss name -> the loss of a batch: f(trainer, z, batch), with z the logits (flat) and
#: batch the collator's ``ranking_sizes``, ``spec_ids`` and ``floors`` as lists.
LOSSES = {
    "utility": lambda t, z, b: utility_loss(z, b["ranking_sizes"],
                                            [t.specs[i] for i in b["spec_ids"]],
                                            floors=b["floors"]),
    "bt": lambda t, z, b: bt_loss(z, b["ranking_sizes"],
                                  center_coefficient=t.center_coefficient),
    "plackett-luce": lambda t, z, b: plackett_luce_loss(z, b["ranking_sizes"]),
}
#: The collator's keys that describe the rankings rather than feed the model.
RANKING_KEYS = ("ranking_sizes", "spec_ids", "floors")


class RankingDataset:
    """Whole rankings, tokenized: item k = {'features': [per completion], 'spec_id': int,
    'floor': float}, ``floors[k]`` being prompt k's ``floor_for(spec, n)``."""

    def __init__(self, examples, specs, floors, spec_index, tokenizer, max_length):
        from rcollapse.empirical.model import encode_pairs

        texts = [(ex.prompt, c) for ex in examples for c in ex.completions]
        enc = encode_pairs(tokenizer, texts, max_length=max_length)
        keys = list(enc.keys())
        self.items, k = [], 0
        for ex, spec, floor in zip(examples, specs, floors, strict=True):
            feats = [{key: enc[key][k + i] for key in keys} for i in range(ex.n)]
            self.items.append({"features": feats, "spec_id": spec_index[spec],
                               "floor": float(floor)})
            k += ex.n

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        return self.items[k]


class RankingCollator:
    """Flattens a batch of rankings (varying n) into one padded batch of completions,
    with ``ranking_sizes`` (B,), ``spec_ids`` (B,) and ``floors`` (B,)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, batch):
        import torch

        flat = [f for item in batch for f in item["features"]]
        out = dict(self.tokenizer.pad(flat, padding=True, return_tensors="pt"))
        out["ranking_sizes"] = torch.tensor([len(item["features"]) for item in batch])
        out["spec_ids"] = torch.tensor([item["spec_id"] for item in batch])
        out["floors"] = torch.tensor([item["floor"] for item in batch], dtype=torch.float64)
        return out


class RankingTrainer(Trainer):
    """``Trainer`` whose loss is computed on whole rankings: ``LOSSES[loss_name]``."""

    loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by accumulation

    def __init__(self, *args, specs, loss_name: str, center_coefficient: float = 0.0, **kw):
        if loss_name not in LOSSES:
            raise ValueError(f"--loss {loss_name!r}: valid: {', '.join(LOSSES)}")
        super().__init__(*args, **kw)
        self.specs = list(specs)
        self.loss_name = loss_name
        self.center_coefficient = center_coefficient
        self._loss_sum = 0.0
        self._loss_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        batch = {key: inputs.pop(key).tolist() for key in RANKING_KEYS}
        outputs = model(**inputs)
        loss = LOSSES[self.loss_name](self, outputs.logits.reshape(-1).float(), batch)
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


class ConfigInCheckpoint(TrainerCallback):
    """Writes the run's config.json into each checkpoint folder as well."""

    def __init__(self, config_json: dict):
        self.config_json = config_json

    def on_save(self, args, state, control, **kw):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                write_json(folder / "train_config.json", self.config_json)


def resolve_device(config) -> tuple[str, str]:
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


def _warmup(config) -> dict:
    """The Trainer's warmup arguments: ``warmup_steps``, or the fraction ``warmup_ratio``
    (transformers 5 takes a fraction as a float ``warmup_steps``; 4.x as ``warmup_ratio``)."""
    if config.warmup_steps or not config.warmup_ratio:
        return {"warmup_steps": config.warmup_steps}
    if "warmup_ratio" in inspect.signature(TrainingArguments).parameters:
        return {"warmup_ratio": config.warmup_ratio}
    return {"warmup_steps": config.warmup_ratio}


def training_arguments(config, run_dir: Path, *, device: str, precision: str,
                       progress: bool) -> TrainingArguments:
    """The Trainer's arguments for a ``TrainConfig``: checkpoints under run_dir/checkpoints
    every ``eval_every`` steps, the run's seed for data order and initialization."""
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=config.batch,
        gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs,
        max_steps=config.steps if config.steps is not None else -1,
        max_grad_norm=config.max_grad_norm,
        learning_rate=config.lr,
        lr_scheduler_type=config.scheduler,
        **_warmup(config),
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
