"""WARM on a frozen encoder (``--freeze``): the members are heads on cached embeddings.

Every text of the run (training, validation, held-out, shift, the best-of-N pool) is
encoded once by the backbone (``empirical.embeddings.build_embeddings``; the cache is
keyed by text, so repeats and noise levels reuse it). Each member is a head
(``frozen.make_head``: standardization, then ``linear`` or ``mlp:N``) with a dropout
layer on its standardized embedding input (p = the member's dropout; 0 unless
``--diversity paper``), trained with the loss of ``--loss`` by AdamW, the
``--scheduler`` schedule and clipping at --max-grad-norm, as ``frozen.run_frozen`` trains.

The shared initialization (one per repeat and noise level) is the head drawn from the
repeat's seed; with ``--init probe`` that head after a linear probe: only its last
Linear layer trained (the rest kept at the drawn init) on that noise level's training
rankings with the members' base --lr and --epochs, as WARM and DiWA start from a
linear-probed classifier. Every member of a noise level starts from it exactly.

With a ``linear`` head, the reward logit is linear in the weights, so averaging weights
gives exactly the average of the members' logits: WARM then equals the ensemble of
logits (not of sigmoid rewards) and WARM against the ensemble says little; an ``mlp:N``
head is nonlinear in its weights and makes the comparison informative.

Layout per repeat: ``members/pP/init.pt`` (the shared head), ``members/pP/member_i/
head.pt`` + ``member.json`` (its seed, lr, dropout; a finished member is kept on
resume), ``models/pP/warm.pt``, ``greedy.pt``, ``soup.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from rcollapse.empirical.warm_config import WarmConfig
from rcollapse.empirical.warm_evaluation import eval_texts, evaluate_states
from rcollapse.empirical.warm_members import member_hyperparameters, noise_label
from rcollapse.outputs import write_json

__all__ = ["HeadScorer", "build_head", "embed_run", "evaluate_heads", "train_head",
           "train_head_members"]


def embed_run(config: WarmConfig, data: dict, *, progress: bool = True):
    """The embedding table of every text of the run (``build_embeddings``), with the
    backbone of ``config`` and its --seed (the tiny backbone's weights come from it)."""
    from rcollapse.empirical.embeddings import build_embeddings

    pairs = [(ex.prompt, c) for ex in data["train"] for c in ex.completions]
    for texts in eval_texts(data).values():
        pairs += texts
    return build_embeddings(pairs, backbone=config.backbone, seed=config.seed,
                            max_length=config.train.max_length, threads=config.train.threads,
                            precision=config.train.encoder_precision, progress=progress)


def build_head(spec: str, x_train, *, seed: int, dropout: float = 0.0):
    """``frozen.make_head(spec, x_train, seed=seed)`` with ``Dropout(dropout)`` after its
    standardization: the same tensors (so members average) whatever the dropout."""
    from torch import nn

    from rcollapse.empirical.frozen import make_head

    layers = list(make_head(spec, x_train, seed=seed))
    return nn.Sequential(layers[0], nn.Dropout(float(dropout or 0.0)), *layers[1:])


def train_head(head, x, examples, train, *, lr: float, seed: int, params=None) -> float:
    """Train ``head`` on the embeddings ``x`` (rows: each ranking's completions in order)
    of ``examples`` with ``train``'s loss, epochs (or steps), batch, scheduler, warmup,
    weight decay and gradient clipping (no accumulation); the
    batches of epoch e are a permutation seeded by (seed, e). ``params``: the tensors
    the optimizer steps (all by default). Returns the mean loss of the last epoch."""
    import torch

    from rcollapse.empirical.frozen import RankingObjective, head_optimizer
    from rcollapse.empirical.losses import floor_for
    from rcollapse.empirical.train import prompt_specs

    specs = prompt_specs(examples, train.utility)
    floors = [floor_for(s, ex.n) for s, ex in zip(specs, examples)]
    objective = RankingObjective(examples, specs, floors, train)
    per_epoch = math.ceil(len(examples) / train.batch)
    total = train.steps or math.ceil(train.epochs * per_epoch)
    params = list(head.parameters() if params is None else params)
    opt, sched = head_optimizer(params, train, total, lr=lr)
    torch.manual_seed(seed)  # dropout masks
    head.train()
    losses = []
    for step in range(total):
        epoch, within = divmod(step, per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(examples))
        prompts = order[within * train.batch:(within + 1) * train.batch]
        loss = objective(head, x, prompts)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, train.max_grad_norm)
        opt.step()
        sched.step()
        losses = ([] if within == 0 else losses) + [float(loss.detach())]
    head.eval()
    return float(np.mean(losses)) if losses else float("nan")


def _probe(head, x, examples, train, *, seed: int) -> None:
    """The linear probe: train only ``head``'s last Linear layer, the rest frozen."""
    last = list(head.parameters())[-2:]  # the last Linear's weight and bias
    frozen = [p for p in head.parameters() if all(p is not q for q in last)]
    for p in frozen:
        p.requires_grad_(False)
    try:
        train_head(head, x, examples, train, lr=train.lr, seed=seed, params=last)
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _state(head) -> dict:
    return {k: v.detach().clone() for k, v in head.state_dict().items()}


def train_head_members(config: WarmConfig, run_dir: Path, p: float, examples, table) -> list:
    """The members' state dicts at noise level p (rankings ``examples``), all from one
    shared head (``init.pt``), each with its own seed, lr and dropout
    (``member_hyperparameters``); finished members are read back."""
    import torch

    folder = Path(run_dir) / "members" / noise_label(p)
    folder.mkdir(parents=True, exist_ok=True)
    train = config.train
    if train.threads is not None:
        torch.set_num_threads(train.threads)
    x = torch.from_numpy(table.rows([(ex.prompt, c) for ex in examples for c in ex.completions]))
    head = build_head(train.head, x, seed=config.seed)
    if config.init == "probe":
        _probe(head, x, examples, train, seed=config.seed)
    init = _state(head)
    torch.save(init, folder / "init.pt")
    states = []
    for i, h in enumerate(member_hyperparameters(config, train.lr, train.dropout)):
        out = folder / f"member_{i}"
        if (out / "head.pt").is_file():
            states.append(torch.load(out / "head.pt"))
            continue
        head.load_state_dict(init)
        head[1].p = float(h["dropout"] or 0.0)
        loss = train_head(head, x, examples, train, lr=h["lr"], seed=h["seed"])
        out.mkdir(exist_ok=True)
        write_json(out / "member.json", {**h, "head": train.head, "init": config.init,
                                         "last_epoch_loss": loss})
        states.append(_state(head))
        torch.save(states[-1], out / "head.pt")
    return states


class HeadScorer:
    """``logits(state, names)``: a head's logits on each named set of texts, from their
    cached embeddings (dropout off)."""

    def __init__(self, head, table, texts: dict):
        import torch

        self.head = head
        self.x = {name: torch.from_numpy(table.rows(pairs)) for name, pairs in texts.items()}

    def logits(self, state, names) -> dict:
        import torch

        self.head.load_state_dict(state)
        self.head.eval()
        with torch.no_grad():
            return {name: self.head(self.x[name]).reshape(-1).double().numpy() for name in names}


def evaluate_heads(config: WarmConfig, run_dir: Path, p: float, states: list, data: dict,
                   table, *, progress: bool = True) -> dict:
    """``warm_evaluation.evaluate_states`` for heads; saves ``warm.pt``, ``greedy.pt`` and
    the soup's record under DIR/models/pP."""
    import torch

    x_any = torch.from_numpy(table.rows(eval_texts(data)["val"]))
    scorer = HeadScorer(build_head(config.train.head, x_any, seed=0), table, eval_texts(data))
    result, combined = evaluate_states(config, p, states, data, scorer, progress=progress)
    out = Path(run_dir) / "models" / noise_label(p)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(combined["warm"], out / "warm.pt")
    torch.save(combined["greedy"], out / "greedy.pt")
    rec = combined["record"]
    (out / "soup.json").write_text(json.dumps({"order": rec.order, "kept": rec.kept,
                                               "trace": rec.trace}))
    return result
