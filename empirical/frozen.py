"""The frozen-encoder track (``--freeze``): a head trained on cached embeddings.

Each (prompt, completion) pair is encoded once by the backbone (``empirical.embeddings``:
the pooled representation its classification head reads, cached on disk); only a head
is trained on it, with the loss of ``--loss`` from ``trainer.LOSSES`` (minus the utility
(1), Bradley-Terry or Plackett-Luce), AdamW, the ``--scheduler`` schedule and gradient
clipping at ``--max-grad-norm``. ``--head``: ``linear`` (Linear(d, 1)) or
``mlp:N`` (Linear(d, N), GELU, Linear(N, 1)), each on the embedding standardized by the
training embeddings' per-feature mean and standard deviation (a frozen encoder's pooled
features differ little between completions: on tiny, U = log, 64 prompts, 40 epochs, a
linear head without it stayed at train W1 to the optimum >= 0.27 (flat rewards: 0.33)
for lr 0.01, 0.1 and 1; with it, lr 0.01 reached 0.07). The reward is
sigmoid(head(embedding)).

The run directory is the one ``train.train`` writes (config.json, metrics.jsonl,
rewards.jsonl, summary.json with the verdict, metrics.png; ``run_dir`` writes them),
with ``checkpoints/head-K.pt`` (head, optimizer, scheduler and torch RNG states at each
evaluation K) and ``model/head.pt`` + ``model/head.json``. The batches of step s are a
function of (seed, s) alone, so a resume from the last checkpoint reproduces the
uninterrupted run.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from rcollapse.empirical.run_dir import (append_jsonl, finish, truncate_jsonl, write_config)
from rcollapse.outputs import write_json

__all__ = ["RankingObjective", "head_optimizer", "make_head", "parse_head", "run_frozen"]


def parse_head(spec: str) -> int | None:
    """The hidden width of a ``--head`` spec: None for ``linear``, N for ``mlp:N`` (N >= 1).

    >>> parse_head("mlp:512"), parse_head("linear")
    (512, None)
    """
    if spec == "linear":
        return None
    name, _, width = str(spec).partition(":")
    if name == "mlp" and width.isdigit() and int(width) >= 1:
        return int(width)
    raise ValueError(f"--head {spec!r}: valid: linear or mlp:N with N an integer >= 1")


def make_head(spec: str, embeddings, *, seed: int):
    """The head of ``spec`` on (m, d) training ``embeddings``, initialized from ``seed``:
    each feature is first standardized by its mean and standard deviation over
    ``embeddings`` (fixed buffers, saved with the head), then ``Linear(d, 1)`` or
    ``Linear(d, N), GELU, Linear(N, 1)``."""
    import torch
    from torch import nn

    class Standardize(nn.Module):
        def __init__(self, x):
            super().__init__()
            self.register_buffer("mean", x.mean(0))
            self.register_buffer("std", x.std(0, unbiased=False).clamp_min(1e-6))

        def forward(self, x):
            return (x - self.mean) / self.std

    torch.manual_seed(seed)
    x = torch.as_tensor(embeddings, dtype=torch.float32)
    width, dim = parse_head(spec), x.shape[1]
    if width is None:
        return nn.Sequential(Standardize(x), nn.Linear(dim, 1))
    return nn.Sequential(Standardize(x), nn.Linear(dim, width), nn.GELU(), nn.Linear(width, 1))


def _schedule(n_prompts: int, config) -> tuple[int, int]:
    """(optimizer steps per epoch, total steps), as ``transformers.Trainer`` counts them."""
    batches = math.ceil(n_prompts / config.batch)
    per_epoch = max(1, batches // config.grad_accum)
    if config.steps is not None:
        return per_epoch, config.steps
    return per_epoch, math.ceil(config.epochs * per_epoch)


def _step_batches(step: int, n_prompts: int, config, per_epoch: int) -> list[np.ndarray]:
    """The prompt indices of each accumulated batch of optimizer step ``step`` (0-based):
    epoch e's order is a permutation seeded by (seed, e)."""
    epoch, within = divmod(step, per_epoch)
    order = np.random.default_rng([config.seed, epoch]).permutation(n_prompts)
    first = within * config.grad_accum
    return [order[b * config.batch:(b + 1) * config.batch]
            for b in range(first, first + config.grad_accum) if b * config.batch < n_prompts]


def _last_checkpoint(out: Path) -> Path | None:
    found = sorted((out / "checkpoints").glob("head-*.pt"),
                   key=lambda p: int(p.stem.split("-")[1]))
    return found[-1] if found else None


def _save_checkpoint(out: Path, step: int, head, opt, sched, keep: int) -> None:
    import torch

    folder = out / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    state = {"step": step, "head": head.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state()}
    torch.save(state, folder / f"head-{step}.tmp")
    (folder / f"head-{step}.tmp").replace(folder / f"head-{step}.pt")
    for old in sorted(folder.glob("head-*.pt"), key=lambda p: int(p.stem.split("-")[1]))[:-keep]:
        old.unlink()


def run_frozen(config, out, training, test_ex, *, saved, effective, overrides, device,
               precision, progress, callbacks, notes, t0, cache=None) -> Path:
    """``train.train``'s run once every input was checked, on the frozen track.
    ``callbacks``: callables, each called with the step after each checkpoint."""
    import torch

    from rcollapse.empirical.embeddings import backbone_key, build_embeddings
    from rcollapse.empirical.monitor import CollapseMonitor
    train_ex, train_specs, floors = training
    if not all(callable(cb) for cb in callbacks):
        raise ValueError("train --freeze: callbacks are callables of the step (no TrainerCallback)")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    pairs = [(ex.prompt, c) for ex in train_ex + test_ex for c in ex.completions]
    table = build_embeddings(pairs, backbone=config.backbone, seed=config.seed,
                             max_length=config.max_length, cache=cache,
                             threads=config.threads, precision=config.encoder_precision,
                             progress=progress)
    x_train = torch.from_numpy(table.rows(
        [(ex.prompt, c) for ex in train_ex for c in ex.completions])).to(device)
    head = make_head(config.head, x_train, seed=config.seed).to(device)

    def score(texts):
        with torch.no_grad():
            x = torch.from_numpy(table.rows(texts)).to(device)
            return torch.sigmoid(head(x).reshape(-1)).double().cpu().numpy()

    monitor = CollapseMonitor({"train": train_ex, "test": test_ex}, utility=config.utility,
                              max_prompts=config.eval_prompts, scorer=score)
    per_epoch, total = _schedule(len(train_ex), config)
    opt, sched = head_optimizer(head.parameters(), config, total, lr=config.lr)
    start = 0
    checkpoint = _last_checkpoint(out) if saved is not None else None
    if checkpoint is not None:
        state = torch.load(checkpoint, weights_only=False)
        head.load_state_dict(state["head"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start = state["step"]
    if saved is not None:
        truncate_jsonl(out / "metrics.jsonl", start)
        truncate_jsonl(out / "rewards.jsonl", start)
    write_config(out, config, saved, effective, last_step=start, overrides=overrides)

    objective = RankingObjective(train_ex, train_specs, floors, config)
    losses = []
    for step in range(start, total):
        opt.zero_grad()
        batches = _step_batches(step, len(train_ex), config, per_epoch)
        for prompts in batches:
            loss = objective(head, x_train, prompts)
            (loss / len(batches)).backward()
            losses.append(float(loss.detach()))
        torch.nn.utils.clip_grad_norm_(head.parameters(), config.max_grad_norm)
        opt.step()
        sched.step()
        if (step + 1) % config.eval_every == 0 or step + 1 == total:
            row = monitor.evaluate(step=step + 1, loss=float(np.mean(losses)) if losses else None)
            losses = []
            append_jsonl(out / "metrics.jsonl", [row])
            append_jsonl(out / "rewards.jsonl", monitor.rewards_record(step + 1))
            _save_checkpoint(out, step + 1, head, opt, sched, config.save_total_limit)
            for cb in callbacks:
                cb(step + 1)
    _save_head(out, head, config, backbone_key(config.backbone, seed=config.seed), table.dim)
    finish(out, config, effective, notes, resumed=saved is not None, world_size=1,
           device=device, t0=t0)
    return out


def head_optimizer(params, config, total: int, *, lr: float):
    """AdamW on ``params`` at ``lr`` with ``config``'s weight decay, and ``config``'s
    schedule over ``total`` steps with its warmup (``warmup_steps``, else the fraction
    ``warmup_ratio`` of ``total``)."""
    import torch
    from transformers import get_scheduler

    opt = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    warmup = config.warmup_steps or math.ceil(config.warmup_ratio * total)
    sched = get_scheduler(config.scheduler, opt, num_warmup_steps=warmup,
                          num_training_steps=total)
    return opt, sched


class RankingObjective:
    """The loss ``config.loss`` (``trainer.LOSSES``) of a head on the embeddings of
    ``examples`` (rows: each ranking's completions in order), for a batch of prompt
    indices: ``objective(head, x, prompts)``; ``specs`` and ``floors``: each prompt's
    utility and its training floor."""

    def __init__(self, examples, specs, floors, config):
        from rcollapse.empirical.trainer import LOSSES

        self.examples, self.floors, self.loss = examples, floors, LOSSES[config.loss]
        spec_list = sorted(set(specs))
        self.ids = [spec_list.index(s) for s in specs]
        self.owner = SimpleNamespace(specs=spec_list, center_coefficient=config.center_coefficient)
        self.offsets = np.concatenate([[0], np.cumsum([ex.n for ex in examples])])

    def __call__(self, head, x, prompts):
        import torch

        rows = np.concatenate([np.arange(self.offsets[p], self.offsets[p + 1]) for p in prompts])
        z = head(x[torch.from_numpy(rows)]).reshape(-1).float()
        return self.loss(self.owner, z, {
            "ranking_sizes": [self.examples[p].n for p in prompts],
            "spec_ids": [self.ids[p] for p in prompts],
            "floors": [float(self.floors[p]) for p in prompts]})


def _save_head(out: Path, head, config, key: str, dim: int) -> None:
    import torch

    (out / "model").mkdir(parents=True, exist_ok=True)
    torch.save(head.state_dict(), out / "model" / "head.pt")
    write_json(out / "model" / "head.json", {"head": config.head, "dim": dim,
                                             "backbone": config.backbone, "embeddings": key,
                                             "max_length": config.max_length})
