"""WARM's members: their data, their configs, and their training (one process per job).

The data of a run (``prepare_data``: training, validation, held-out, shifted and
best-of-N rankings; ``corrupt_rankings`` for label noise), each member's ``TrainConfig``
(``member_train_configs``: the shared initialization as backbone, seed ``seed + 1 + i``,
with ``lr_spread`` its own learning rate) and ``train_members``, which trains them with
``rcollapse.empirical.train`` one after another or ``jobs`` processes at a time.
"""

from __future__ import annotations

import contextvars
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from rcollapse.empirical.warm_config import (PAPER_DROPOUTS, PAPER_LR_FACTORS, WarmConfig,
                                             WarmInputError, diversity_of)
from rcollapse.outputs import write_json

__all__ = [
    "SHIFT_LENGTHS",
    "corrupt_rankings",
    "best_of_n_pool",
    "member_hyperparameters",
    "member_seeds_and_rates",
    "member_train_configs",
    "noise_label",
    "prepare_data",
    "threads_per_job",
    "train_members",
]

#: Lengths (words) of the distribution-shift completions: never seen in training (10..80).
SHIFT_LENGTHS = tuple(range(2, 10)) + tuple(range(82, 101))


def noise_label(p: float) -> str:
    """The name of noise level p in the run's paths and in report.json's keys.

    >>> noise_label(0.0), noise_label(0.25)
    ('p0', 'p0.25')
    """
    return f"p{p:g}"


def member_hyperparameters(config: WarmConfig, base_lr: float,
                           base_dropout: float | None) -> list[dict]:
    """Each member's ``seed``, ``lr`` and ``dropout`` (``diversity_of(config)``): seeds
    seed + 1 + i; ``seed``: base_lr and base_dropout; ``lr-spread``: rates log-uniform
    over [base_lr / 2, 2 base_lr]; ``paper``: lr = base_lr x a factor drawn from
    ``PAPER_LR_FACTORS`` and dropout drawn from ``PAPER_DROPOUTS`` (WARM's grid), both
    from the member's seed.

    >>> [h["lr"] for h in member_hyperparameters(WarmConfig(members=3, lr_spread=True), 1e-4, 0.0)]
    [5e-05, 0.0001, 0.0002]
    """
    m, kind = config.members, diversity_of(config)
    out = []
    for i in range(m):
        seed, lr, dropout = config.seed + 1 + i, base_lr, base_dropout
        if kind == "lr-spread":
            lr = base_lr * 2.0 ** (2.0 * i / (m - 1) - 1.0)
        elif kind == "paper":
            rng = np.random.default_rng([seed, 41])
            lr = base_lr * PAPER_LR_FACTORS[int(rng.integers(len(PAPER_LR_FACTORS)))]
            dropout = PAPER_DROPOUTS[int(rng.integers(len(PAPER_DROPOUTS)))]
        out.append({"seed": seed, "lr": float(f"{lr:.6g}"), "dropout": dropout})
    return out


def member_seeds_and_rates(config: WarmConfig, base_lr: float) -> list[tuple[int, float]]:
    """(seed, learning rate) per member (``member_hyperparameters``).

    >>> member_seeds_and_rates(WarmConfig(members=3, lr_spread=True), 1e-4)
    [(1, 5e-05), (2, 0.0001), (3, 0.0002)]
    """
    return [(h["seed"], h["lr"]) for h in member_hyperparameters(config, base_lr, None)]


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
def corrupt_rankings(examples, p: float, *, seed: int):
    """A fraction p of the rankings (chosen at random) with two completions swapped.

    Returns (examples, indices of the corrupted ones). ``true_rewards`` follow their
    completions, so a corrupted ranking is no longer sorted by true reward.
    """
    from rcollapse.empirical.data import RankingExample

    rng = np.random.default_rng([int(seed), 11])
    k = int(round(p * len(examples)))
    chosen = sorted(rng.choice(len(examples), size=k, replace=False).tolist()) if k else []
    out = list(examples)
    for idx in chosen:
        ex = examples[idx]
        i, j = rng.choice(ex.n, size=2, replace=False)
        comp = list(ex.completions)
        comp[i], comp[j] = comp[j], comp[i]
        tr = None
        if ex.true_rewards is not None:
            tr = list(ex.true_rewards)
            tr[i], tr[j] = tr[j], tr[i]
        out[idx] = RankingExample(ex.prompt, comp, tr, ex.prompt_type, ex.open_endedness)
    return out, chosen


def _answer_words(ex) -> list[str]:
    return max(ex.completions, key=lambda c: len(c.split())).split()


def prepare_data(config: WarmConfig) -> dict:
    """Every ranking a run uses: ``train`` (clean), ``val`` (greedy soup, LMC), ``held_out``,
    ``shift`` (None with --data) and the best-of-N ``pool`` (None with --data).

    Built-in data: training prompts from the train split; validation and held-out test are
    disjoint sets of test-split prompts (head words never trained on). Shift: the
    held-out prompts with completions cut to 8 lengths drawn from 2..9 and 82..100
    words (training saw 10..80). Best-of-N pool: for each of the first ``bon_prompts``
    held-out prompts, ``pool`` candidates (``best_of_n_pool``), true reward = length.
    A user's JSONL: ``eval_prompts`` prompts (at most a quarter of the file each) are held
    out for validation and for test; the rest train.
    """
    from rcollapse.empirical.data import RankingExample, build_length_dataset, load_jsonl

    e = config.eval_prompts
    if config.data is not None:
        examples = load_jsonl(config.data)
        if len(examples) < 3:
            raise WarmInputError(f"--data {config.data}: {len(examples)} prompts; valid: at least 3 "
                                 "(training, validation and test need one each)")
        k = min(e, max(1, len(examples) // 4))
        order = np.random.default_rng([int(config.seed), 23]).permutation(len(examples)).tolist()
        val = [examples[i] for i in order[:k]]
        test = [examples[i] for i in order[k:2 * k]]
        train = [examples[i] for i in sorted(order[2 * k:])]
        return {"train": train, "val": val, "held_out": test, "shift": None, "pool": None}

    train = build_length_dataset(config.prompts, seed=config.seed, split="train")
    held = build_length_dataset(2 * e, seed=config.seed, split="test")
    val, test = held[:e], held[e:]
    rng = np.random.default_rng([int(config.seed), 17])
    shift, pool = [], {"prompts": [], "completions": [], "true": [], "types": []}
    for idx, ex in enumerate(test):
        words = _answer_words(ex)
        usable = [k for k in SHIFT_LENGTHS if k <= len(words)]
        lengths = sorted(rng.choice(usable, size=8, replace=False).tolist(), reverse=True)
        shift.append(RankingExample(ex.prompt, [" ".join(words[:k]) for k in lengths],
                                    [float(k) for k in lengths], ex.prompt_type,
                                    ex.open_endedness))
        if idx < config.bon_prompts:
            completions, true = best_of_n_pool(words, config.pool,
                                               seed=[int(config.seed), 19, idx])
            pool["prompts"].append(ex.prompt)
            pool["completions"].append(completions)
            pool["true"].append(true)
            pool["types"].append(ex.prompt_type)
    return {"train": train, "val": val, "held_out": test, "shift": shift, "pool": pool}


#: The chance that a word of a noised truncation in the best-of-N pool is replaced.
POOL_WORD_NOISE = 0.15


def best_of_n_pool(words: list[str], size: int, *, seed) -> tuple[list[str], list[float]]:
    """``size`` candidates for one prompt, with their true rewards (length in words):
    candidate j is the first k = 1 + (j mod L) words of the reference answer (L =
    min(100, its length)); in round v = j // L >= 1 each of its words is replaced, with
    chance ``POOL_WORD_NOISE``, by a word drawn from the answer. So the pool holds every
    truncation once, then noised copies of each length: a proxy can prefer one copy to
    another of the same true reward, which best-of-N at large N exploits.

    >>> best_of_n_pool("a b c".split(), 4, seed=0)[1]
    [1.0, 2.0, 3.0, 1.0]
    """
    top = min(100, len(words))
    rng = np.random.default_rng(seed)
    completions, true = [], []
    for j in range(size):
        k, round_ = 1 + j % top, j // top
        cut = list(words[:k])
        if round_:
            swap = rng.random(k) < POOL_WORD_NOISE
            for i in np.flatnonzero(swap):
                cut[i] = words[int(rng.integers(len(words)))]
        completions.append(" ".join(cut))
        true.append(float(k))
    return completions, true


# --------------------------------------------------------------------------------------
# The members: configs and training
# --------------------------------------------------------------------------------------
def member_train_configs(config: WarmConfig, run_dir: Path, p: float) -> list:
    """The TrainConfig of each member at noise level p: the shared init as backbone, the
    (possibly corrupted) training JSONL, the validation JSONL as its monitor's test set,
    seed ``seed + 1 + i`` (data order) and, with ``lr_spread``, its own learning rate."""
    return [replace(config.train, utility=config.utility, backbone=str(run_dir / "init"),
                    seed=h["seed"], lr=h["lr"], dropout=h["dropout"],
                    data=str(run_dir / "data" / f"train_{noise_label(p)}.jsonl"),
                    test_data=str(run_dir / "data" / "val.jsonl"))
            for h in member_hyperparameters(config, config.train.lr, config.train.dropout)]


def _member_dir(run_dir: Path, p: float, i: int) -> Path:
    return run_dir / "members" / noise_label(p) / f"member_{i}"


def threads_per_job(jobs: int) -> int:
    """Torch and BLAS threads of each of ``jobs`` members trained at once: the cores this
    process may use, divided by ``jobs`` (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // jobs)


#: Whether a member trained in this process shows the Trainer's bars (``train_members``
#: sets it from its ``progress``).
_MEMBER_PROGRESS = contextvars.ContextVar("member_progress", default=True)


def _train_one(train_config, member_dir: Path) -> None:
    """Train (or resume) one member in this process."""
    from rcollapse.empirical.train import train

    progress = _MEMBER_PROGRESS.get()
    if (member_dir / "summary.json").is_file():
        return
    if member_dir.exists() and not (member_dir / "config.json").is_file():
        if any(member_dir.iterdir()):
            raise RuntimeError(f"{member_dir}: not a run directory; remove it to retrain the member")
        member_dir.rmdir()
    if (member_dir / "config.json").is_file():
        train(None, member_dir, resume=True, progress=progress)
    else:
        train(train_config, member_dir, progress=progress)


def _member_main() -> None:
    """Entry point of a member process: ``python -c ... SPEC.json``."""
    from rcollapse.empirical.train import TrainConfig

    spec = json.loads(Path(sys.argv[1]).read_text())
    _MEMBER_PROGRESS.set(bool(spec.get("progress", True)))
    _train_one(TrainConfig(**spec["config"]), Path(spec["dir"]))


def _unfinished_members(config: WarmConfig, run_dir: Path) -> tuple[list, list]:
    """(member directories per noise level, [(TrainConfig, directory)] not yet finished)."""
    todo, dirs = [], []
    for p in config.noise:
        row = []
        for i, tc in enumerate(member_train_configs(config, run_dir, p)):
            d = _member_dir(run_dir, p, i)
            row.append(d)
            if not (d / "summary.json").is_file():
                todo.append((tc, d))
        dirs.append(row)
    return dirs, todo


def train_members(config: WarmConfig, run_dir, *, progress: bool = True) -> list[list[Path]]:
    """Train every member that has not finished (resuming an interrupted one), one after
    another (``jobs`` = 1, in this process) or ``jobs`` processes at a time, each with
    cores / jobs torch and BLAS threads (and its own GPU when there are several).
    Returns the member run directories, per noise level."""
    from tqdm.auto import tqdm

    dirs, todo = _unfinished_members(config, Path(run_dir))
    threads = threads_per_job(config.jobs)
    for tc, d in todo:
        tc.threads = tc.threads or threads
        d.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(todo), desc="WARM members", unit="model", disable=not progress)
    _MEMBER_PROGRESS.set(progress)
    if config.jobs == 1:
        for tc, d in todo:
            _train_one(tc, d)
            bar.update(1)
    else:
        failures = _train_in_processes(todo, jobs=config.jobs, progress=progress,
                                       done=lambda: bar.update(1))
        if failures:
            bar.close()
            raise RuntimeError(f"{len(failures)} member(s) failed: {failures[0]}")
    bar.close()
    return dirs


# The members' process pool is written by hand, not a concurrent.futures.ProcessPoolExecutor:
# each member needs its own environment before Python starts (OMP/OPENBLAS/MKL_NUM_THREADS
# fix BLAS's threads when numpy loads, CUDA_VISIBLE_DEVICES its GPU, by the slot it runs
# in), its output in its own log file (file descriptors 1 and 2), and a member that dies
# (killed, out of memory) must not take the others with it, as a broken pool would.
def _launch_member(tc, d: Path, *, slot: int, gpus: int, progress: bool):
    """Start one member's process (``_member_main``); returns (process, its open log)."""
    spec = d.parent / f"{d.name}.spec.json"
    write_json(spec, {"config": asdict(tc), "dir": str(d), "progress": progress})
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(tc.threads)
    env["TOKENIZERS_PARALLELISM"] = "false"
    if gpus > 1:
        env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
    log = open(d.parent / f"{d.name}.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from rcollapse.empirical.warm_members import _member_main; "
         "_member_main()", str(spec)], stdout=log, stderr=subprocess.STDOUT, env=env)
    return proc, log


def _train_in_processes(todo: list, *, jobs: int, progress: bool, done) -> list[str]:
    """Train the members of ``todo``, ``jobs`` processes at a time; ``done()`` after each.
    Returns one line per member whose process failed (all others still finish)."""
    gpus = _gpu_count()
    running: dict[int, tuple] = {}
    queue = list(todo)
    failures = []
    while queue or running:
        while queue and len(running) < jobs:
            slot = next(s for s in range(jobs) if s not in running)
            tc, d = queue.pop(0)
            running[slot] = (*_launch_member(tc, d, slot=slot, gpus=gpus, progress=progress), d)
        time.sleep(0.5)
        for slot, (proc, log, d) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[slot]
                done()
                if proc.returncode != 0:
                    failures.append(f"{d} (exit {proc.returncode}, log {d.parent / (d.name + '.log')})")
    return failures


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
