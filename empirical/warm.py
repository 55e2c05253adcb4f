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
    data/                     train_p0.jsonl, train_p0.25.jsonl, eval.json
    members/p0/member_0/ ...  rcollapse train run directories
    models/p0/warm/, greedy/  averaged models (safetensors, AutoModelForSequenceClassification)
    report.json, report.md, lmc.png, best_of_n.png
"""

from __future__ import annotations

import contextvars
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rcollapse.empirical.soup import (
    average_state_dicts,
    best_of_n,
    check_same_architecture,
    greedy_soup,
    interpolate_state_dicts,
    loss_barrier,
    state_fingerprint,
)
from rcollapse.empirical.warm_config import (  # noqa: F401  (re-exported)
    WarmConfig,
    WarmInputError,
    resolve_config,
    validate,
)
from rcollapse.outputs import atomic_write_text, check_output_dir, write_json

__all__ = [
    "REPORT_KEYS",
    "WarmConfig",
    "WarmInputError",
    "member_seeds_and_rates",
    "prepare_run",
    "run_warm",
]

#: The keys of report.json.
REPORT_KEYS = ("lmc", "accuracy", "best_of_n", "collapse", "inference_seconds")
#: Lengths (words) of the distribution-shift completions: never seen in training (10..80).
SHIFT_LENGTHS = tuple(range(2, 10)) + tuple(range(82, 101))


def _noise_label(p: float) -> str:
    return f"p{p:g}"


def member_seeds_and_rates(config: WarmConfig, base_lr: float) -> list[tuple[int, float]]:
    """(seed, learning rate) per member: seeds seed + 1 + i; with ``lr_spread`` the rates
    are log-uniform over [base_lr / 2, 2 base_lr], else all base_lr.

    >>> member_seeds_and_rates(WarmConfig(members=3, lr_spread=True), 1e-4)
    [(1, 5e-05), (2, 0.0001), (3, 0.0002)]
    """
    m = config.members
    out = []
    for i in range(m):
        lr = base_lr * 2.0 ** (2.0 * i / (m - 1) - 1.0) if config.lr_spread else base_lr
        out.append((config.seed + 1 + i, float(f"{lr:.6g}")))
    return out


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
    words (training saw 10..80). Best-of-N pool: per held-out prompt, ``pool`` candidates
    cut to distinct random lengths of 1..100 words, true reward = length.
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
    for ex in test:
        words = _answer_words(ex)
        usable = [k for k in SHIFT_LENGTHS if k <= len(words)]
        lengths = sorted(rng.choice(usable, size=8, replace=False).tolist(), reverse=True)
        shift.append(RankingExample(ex.prompt, [" ".join(words[:k]) for k in lengths],
                                    [float(k) for k in lengths], ex.prompt_type,
                                    ex.open_endedness))
        top = min(100, len(words))
        lengths = rng.choice(np.arange(1, top + 1), size=config.pool, replace=False).tolist()
        pool["prompts"].append(ex.prompt)
        pool["completions"].append([" ".join(words[:k]) for k in lengths])
        pool["true"].append([float(k) for k in lengths])
        pool["types"].append(ex.prompt_type)
    return {"train": train, "val": val, "held_out": test, "shift": shift, "pool": pool}


# --------------------------------------------------------------------------------------
# The run directory, the shared initialization and the members
# --------------------------------------------------------------------------------------
def _train_defaults(config: WarmConfig) -> dict:
    """TrainConfig fields every member shares (the user's ``train`` overrides on top)."""
    d = {"utility": config.utility, "prompts": None, "eval_prompts": 32}
    d.update(config.train)
    return d


def member_train_configs(config: WarmConfig, run_dir: Path, p: float) -> list:
    """The TrainConfig of each member at noise level p: the shared init as backbone, the
    (possibly corrupted) training JSONL, the validation JSONL as its monitor's test set,
    seed ``seed + 1 + i`` (data order) and, with ``lr_spread``, its own learning rate."""
    from rcollapse.empirical.train import TrainConfig

    base = _train_defaults(config)
    base_lr = float(base.get("lr", TrainConfig.lr))
    out = []
    for seed, lr in member_seeds_and_rates(config, base_lr):
        fields_ = dict(base)
        fields_.update(backbone=str(run_dir / "init"), seed=seed, lr=lr,
                       data=str(run_dir / "data" / f"train_{_noise_label(p)}.jsonl"),
                       test_data=str(run_dir / "data" / "val.jsonl"))
        out.append(TrainConfig(**fields_))
    return out


def prepare_run(config: WarmConfig, out_dir, *, resume: bool = False) -> dict:
    """Check every input, then write the config, the data and the shared initialization.

    Everything that can be refused is refused here, before any training: M < 2 and other
    bad values, an existing DIR without ``resume``, a missing DIR (or a different
    config) with ``resume``, a backbone that cannot load, and members whose starting
    weights would not be the shared initialization. Returns the prepared data.
    """
    from rcollapse.empirical.data import write_jsonl
    from rcollapse.empirical.losses import floor_for
    from rcollapse.empirical.model import load_reward_model, resolve_backbone
    from rcollapse.empirical.train import file_record, prompt_specs

    run_dir = Path(out_dir)
    if not resume:
        check_output_dir(run_dir, flag="--out", must_not_exist=True)
    if config is None:
        raise WarmInputError("a WarmConfig is needed unless resuming")
    validate(config)
    resolve_backbone(config.backbone)
    data = prepare_data(config)
    every = data["train"] + data["val"] + data["held_out"] + (data["shift"] or [])
    for ex, spec in zip(every, prompt_specs(every, config.utility)):  # names FILE:LINE
        floor_for(spec, ex.n)  # solves (5) for each (U, n); refuses an untrainable one

    import torch

    init_dir = run_dir / "init"
    if not (init_dir / "fingerprint.json").is_file():
        model, tokenizer = load_reward_model(config.backbone, seed=config.seed,
                                             dropout=config.train.get("dropout", 0.0))
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
    fingerprint = json.loads((init_dir / "fingerprint.json").read_text())["sha256"]

    write_jsonl(run_dir / "data" / "val.jsonl", data["val"])
    write_jsonl(run_dir / "data" / "held_out.jsonl", data["held_out"])
    if data["shift"] is not None:
        write_jsonl(run_dir / "data" / "shift.jsonl", data["shift"])
        write_json(run_dir / "data" / "pool.json", data["pool"], indent=None)
    data["corrupted"] = {}
    for p in config.noise:
        examples, corrupted = corrupt_rankings(data["train"], p, seed=config.seed)
        write_jsonl(run_dir / "data" / f"train_{_noise_label(p)}.jsonl", examples)
        data["corrupted"][_noise_label(p)] = corrupted

    # every member starts from the shared initialization: load what train() will load
    for p in config.noise:
        for i, tc in enumerate(member_train_configs(config, run_dir, p)):
            tc.validate()
            torch.manual_seed(12345)
            model, _ = load_reward_model(tc.backbone, seed=tc.seed, dropout=tc.dropout)
            got = state_fingerprint(model.state_dict())
            del model
            if got != fingerprint:
                raise WarmInputError(
                    f"member {i} (seed {tc.seed}) would not start from the shared "
                    f"initialization {init_dir} (weights differ); members must share "
                    "the architecture and the initialization")
        break  # the noise levels share the same member configs apart from the data file
    return data


def _member_dir(run_dir: Path, p: float, i: int) -> Path:
    return run_dir / "members" / _noise_label(p) / f"member_{i}"


def _threads_per_job(jobs: int) -> int:
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


def train_members(config: WarmConfig, run_dir, *, progress: bool = True) -> list[list[Path]]:
    """Train every member that has not finished (resuming an interrupted one), one after
    another (``jobs`` = 1, in this process) or ``jobs`` processes at a time, each with
    cores / jobs torch and BLAS threads (and its own GPU when there are several).
    Returns the member run directories, per noise level."""
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    todo = []
    dirs = []
    for p in config.noise:
        row = []
        for i, tc in enumerate(member_train_configs(config, run_dir, p)):
            d = _member_dir(run_dir, p, i)
            row.append(d)
            if not (d / "summary.json").is_file():
                todo.append((tc, d))
        dirs.append(row)
    threads = _threads_per_job(config.jobs)
    bar = tqdm(total=len(todo), desc="WARM members", unit="model", disable=not progress)
    _MEMBER_PROGRESS.set(progress)
    if config.jobs == 1:
        for tc, d in todo:
            tc.threads = tc.threads or threads
            d.parent.mkdir(parents=True, exist_ok=True)
            _train_one(tc, d)
            bar.update(1)
        bar.close()
        return dirs

    gpus = _gpu_count()
    running: dict[int, tuple] = {}
    queue = list(todo)
    failures = []
    while queue or running:
        while queue and len(running) < config.jobs:
            slot = next(s for s in range(config.jobs) if s not in running)
            tc, d = queue.pop(0)
            tc.threads = tc.threads or threads
            d.parent.mkdir(parents=True, exist_ok=True)
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
                [sys.executable, "-c", "from rcollapse.empirical.warm import _member_main; "
                 "_member_main()", str(spec)], stdout=log, stderr=subprocess.STDOUT, env=env)
            running[slot] = (proc, d, log)
        time.sleep(0.5)
        for slot, (proc, d, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[slot]
                bar.update(1)
                if proc.returncode != 0:
                    failures.append(f"{d} (exit {proc.returncode}, log {d.parent / (d.name + '.log')})")
    bar.close()
    if failures:
        raise RuntimeError(f"{len(failures)} member(s) failed: {failures[0]}")
    return dirs


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------
class _Scorer:
    """Scores fixed lists of (prompt, completion) pairs with any state dict of one
    architecture, through ``model.reward_logits`` (the code that scores during training)."""

    def __init__(self, model, tokenizer, sets: dict, *, batch_size: int, max_length: int):
        self.model, self.tokenizer = model, tokenizer
        self.texts = sets
        self.batch_size, self.max_length = batch_size, max_length

    def logits(self, state_dict, names) -> dict:
        from rcollapse.empirical.model import reward_logits

        self.model.load_state_dict(state_dict)
        return {name: reward_logits(self.model, self.tokenizer, self.texts[name],
                                    batch_size=self.batch_size, max_length=self.max_length)
                for name in names}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def _lookup(texts: dict, rewards: dict):
    """A monitor scorer that returns precomputed rewards of known (prompt, completion) pairs."""
    table = {}
    for name, flat in rewards.items():
        for t, r in zip(texts[name], flat):
            table[t] = float(r)
    return lambda pairs: np.array([table[t] for t in pairs])


def _flat_texts(examples) -> list[tuple[str, str]]:
    return [(ex.prompt, c) for ex in examples for c in ex.completions]


def _utility_loss(z, examples, specs) -> float:
    """Minus the overall utility (1) per prompt (the trained objective) at logits z."""
    import torch

    from rcollapse.empirical.losses import utility_loss

    sizes = [ex.n for ex in examples]
    return float(utility_loss(torch.as_tensor(np.asarray(z), dtype=torch.float64), sizes, specs))


def _load_state(model_dir: Path):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
    model.eval()
    return model, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _metrics_row(monitor, lookup) -> dict:
    monitor.scorer = lookup
    return monitor.evaluate(None, None)


def evaluate_condition(config: WarmConfig, run_dir: Path, p: float, member_dirs, data, *,
                       progress: bool = True, time_inference: bool = False) -> dict:
    """Combine and evaluate the members trained at noise level p (on clean test data)."""
    import torch
    from tqdm.auto import tqdm

    from rcollapse.empirical.losses import prompt_utility
    from rcollapse.empirical.model import reward_scores
    from rcollapse.empirical.monitor import CollapseMonitor

    label = _noise_label(p)
    m = len(member_dirs)
    loaded = [_load_state(d / "model") for d in member_dirs]
    states = [s for _, s in loaded]
    check_same_architecture(states, names=[f"member {i}" for i in range(m)])
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(run_dir / "init"))
    skeleton, _ = _load_state(member_dirs[0] / "model")
    max_length = int(config.train.get("max_length", 256))

    test_sets = ["held_out"] + (["shift"] if data["shift"] is not None else [])
    texts = {name: _flat_texts(data[name]) for name in ["val", *test_sets]}
    if data["pool"] is not None:
        texts["pool"] = [(pr, c) for pr, comps in zip(data["pool"]["prompts"],
                                                      data["pool"]["completions"]) for c in comps]
    scorer = _Scorer(skeleton, tokenizer, texts, batch_size=config.batch_size,
                     max_length=max_length)
    names = list(texts)
    val_specs = [prompt_utility(ex, config.utility) for ex in data["val"]]
    monitor = CollapseMonitor({name: data[name] for name in ["val", *test_sets]},
                              utility=config.utility, scorer=lambda t: None)
    val_monitor = CollapseMonitor({"val": data["val"]}, utility=config.utility,
                                  scorer=lambda t: None)
    n_lambdas = config.lambdas
    steps = m + 1 + m + 1 + n_lambdas  # members, warm, greedy's m candidates, greedy, LMC
    bar = tqdm(total=steps, desc=f"WARM evaluate {label}", unit="model", disable=not progress)

    logits, rows = {}, {}

    def score(name, state):
        logits[name] = scorer.logits(state, names)
        rewards = {k: _sigmoid(v) for k, v in logits[name].items()}
        rows[name] = _metrics_row(monitor, _lookup(texts, rewards))
        rows[name]["val_loss"] = _utility_loss(logits[name]["val"], data["val"], val_specs)
        bar.update(1)

    for i in range(m):
        score(f"member_{i}", states[i])
    warm_state = average_state_dicts(states, names=[f"member {i}" for i in range(m)])
    score("warm", warm_state)

    def val_utility(state):
        z = scorer.logits(state, ["val"])["val"]
        bar.update(1)
        return -_utility_loss(z, data["val"], val_specs)

    greedy_state, record = greedy_soup(
        states, accuracy=[rows[f"member_{i}"]["accuracy_val"] for i in range(m)],
        utility=val_utility)
    score("greedy", greedy_state)
    ens = {k: np.mean([_sigmoid(logits[f"member_{i}"][k]) for i in range(m)], axis=0)
           for k in names}
    rows["ensemble"] = _metrics_row(monitor, _lookup(texts, ens))
    rows["ensemble"]["val_loss"] = None  # an ensemble of rewards has no logits of its own

    # linear mode connectivity between members 0 and 1
    lambdas = np.linspace(0.0, 1.0, n_lambdas)
    lmc_loss, lmc_acc = [], []
    for lam in lambdas:
        z = scorer.logits(interpolate_state_dicts(states[0], states[1], lam), ["val"])["val"]
        lmc_loss.append(_utility_loss(z, data["val"], val_specs))
        lmc_acc.append(_metrics_row(val_monitor, _lookup({"val": texts["val"]},
                                                          {"val": _sigmoid(z)}))["accuracy_val"])
        bar.update(1)
    bar.close()
    lmc = {"lambdas": lambdas.tolist(), "loss": lmc_loss, "accuracy": lmc_acc,
           "barrier": loss_barrier(lambdas, lmc_loss), "members": [0, 1],
           "set": "val", "noise": p}

    # save the averaged models (safetensors, loadable by AutoModelForSequenceClassification)
    for name, state in (("warm", warm_state), ("greedy", greedy_state)):
        skeleton.load_state_dict(state)
        out = run_dir / "models" / label / name
        skeleton.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
    write_json(run_dir / "models" / label / "greedy" / "soup.json",
               {"order": record.order, "kept": record.kept, "trace": record.trace})
    write_json(run_dir / "models" / label / "ensemble.json",
               {"members": [str(d / "model") for d in member_dirs],
                "rule": "mean of the members' rewards sigmoid(logit)"})

    model_names = [f"member_{i}" for i in range(m)] + ["warm", "greedy", "ensemble"]
    result = {"label": label, "noise": p, "lmc": lmc, "rows": rows, "models": model_names,
              "greedy": {"order": record.order, "kept": record.kept},
              "corrupted_train_rankings": len(data["corrupted"][label])}
    if data["pool"] is not None:
        true = np.asarray(data["pool"]["true"])
        bon = {}
        for name in model_names:
            r = ens["pool"] if name == "ensemble" else _sigmoid(logits[name]["pool"])
            bon[name] = best_of_n(r.reshape(true.shape), true, config.best_of, seed=config.seed)
        result["best_of_n"] = bon

    if time_inference:
        timing_texts = texts.get("pool") or texts["held_out"]
        skeleton.load_state_dict(warm_state)
        members = [model for model, _ in loaded]
        for model in [skeleton, *members]:  # one warm-up batch each, not timed
            reward_scores(model, tokenizer, timing_texts[:8], batch_size=config.batch_size,
                          max_length=max_length)
        t0 = time.perf_counter()
        reward_scores(skeleton, tokenizer, timing_texts, batch_size=config.batch_size,
                      max_length=max_length)
        t_warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        np.mean([reward_scores(model, tokenizer, timing_texts, batch_size=config.batch_size,
                               max_length=max_length) for model in members], axis=0)
        t_ens = time.perf_counter() - t0
        k = len(timing_texts)
        result["inference_seconds"] = {
            "warm": 1000.0 * t_warm / k, "ensemble": 1000.0 * t_ens / k,
            "ratio_warm_to_ensemble": t_warm / t_ens, "members": m, "completions": k,
            "unit": "seconds per 1000 completions", "threads": torch.get_num_threads(),
            "device": str(next(skeleton.parameters()).device)}
    return result


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------
def build_report(config: WarmConfig, results: list[dict]) -> dict:
    """report.json from the evaluated conditions (the first one is the clean run)."""
    first = results[0]
    models = first["models"] + ["members_mean"]
    accuracy = {name: {} for name in models}
    collapse = {}
    for res in results:
        suffix = "" if res is results[0] else f"_noise{res['noise']:g}"
        sets = [k[len("accuracy_"):] for k in res["rows"]["warm"]
                if k.startswith("accuracy_") and k != "accuracy_val"]
        for name in res["models"]:
            for s in sets:
                accuracy[name][s + suffix] = res["rows"][name][f"accuracy_{s}"]
        members = [n for n in res["models"] if n.startswith("member_")]
        for s in sets:
            accuracy["members_mean"][s + suffix] = float(np.mean(
                [res["rows"][n][f"accuracy_{s}"] for n in members]))
        collapse[res["label"]] = {
            name: {key: res["rows"][name].get(f"{key}_held_out") for key in
                   ("w1_to_optimum", "w1_open_vs_closed", "spread", "w1_to_optimum_open",
                    "w1_to_optimum_closed")} | {"val_loss": res["rows"][name]["val_loss"]}
            for name in res["models"]}
    if "best_of_n" in first:
        any_model = next(iter(first["best_of_n"].values()))
        best = {"N": [int(n) for n in config.best_of], "oracle": any_model["oracle"],
                "random": any_model["random"], "true_reward": "length in words",
                "picked": {res["label"]: {name: v["picked"] for name, v in res["best_of_n"].items()}
                           for res in results}}
    else:
        best = {"skipped": "best-of-N needs candidates with true rewards: built-in data only"}
    lmc = dict(first["lmc"])
    lmc["by_noise"] = {res["label"]: res["lmc"] for res in results}
    timing = next((res["inference_seconds"] for res in results if "inference_seconds" in res), None)
    return {
        "lmc": lmc,
        "accuracy": accuracy,
        "best_of_n": best,
        "collapse": collapse,
        "inference_seconds": timing,
        "greedy": {res["label"]: res["greedy"] for res in results},
        "config": config.to_json(),
        "test_sets": {
            "held_out": "prompts whose head words training never saw, completions of 10..80 words",
            "shift": "the held-out prompts, completions of 8 lengths drawn from 2..9 and "
                     "82..100 words (training saw 10..80)",
            "_noiseP": "members trained with a fraction P of training rankings corrupted "
                       "(two completions swapped), evaluated on the clean set",
        },
    }


def plot_lmc(report: dict, path) -> Path:
    """A PNG of the loss and accuracy along the segment, per noise level (reads the report)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, c in report["lmc"]["by_noise"].items():
        lam, loss = np.asarray(c["lambdas"]), np.asarray(c["loss"])
        line = a1.plot(lam, loss, marker="o", ms=3, label=f"{label}: barrier {c['barrier']:.3g}")[0]
        a1.plot(lam, (1 - lam) * loss[0] + lam * loss[-1], ":", color=line.get_color())
        a2.plot(lam, c["accuracy"], marker="o", ms=3, color=line.get_color(), label=label)
    a1.set_xlabel("lambda  (theta = (1 - lambda) theta_1 + lambda theta_2)")
    a1.set_ylabel("validation loss  -(1) per prompt")
    a1.set_title("linear mode connectivity (dotted: straight line)")
    a1.legend()
    a2.set_xlabel("lambda")
    a2.set_ylabel("pairwise accuracy (validation)")
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_best_of_n(report: dict, path) -> Path:
    """A PNG of best-of-N: true reward of the pick against N, per model and noise level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = report["best_of_n"]
    picked = best["picked"]
    fig, axes = plt.subplots(1, len(picked), figsize=(5.5 * len(picked), 4), squeeze=False)
    for ax, (label, by_model) in zip(axes[0], picked.items()):
        ax.plot(best["N"], best["oracle"], "k--", label="oracle")
        ax.plot(best["N"], best["random"], "k:", label="random pick")
        for name, ys in by_model.items():
            style = dict(lw=2.5) if name in ("warm", "ensemble", "greedy") else dict(lw=0.8, alpha=0.6)
            ax.plot(best["N"], ys, marker="o", ms=3, label=name, **style)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N candidates")
        ax.set_ylabel("true reward of the pick (words)")
        ax.set_title(f"best-of-N, members trained at {label}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def report_markdown(report: dict) -> str:
    """report.md: the tables a person reads first."""
    acc = report["accuracy"]
    sets = list(next(iter(acc.values())))
    lines = ["# WARM report", "",
             f"Config: {json.dumps(report['config'])}", "",
             "## Pairwise ranking accuracy (test sets; `_noiseP`: members trained on "
             "corrupted rankings, evaluated clean)", "",
             "| model | " + " | ".join(sets) + " |", "|---" * (len(sets) + 1) + "|"]
    for name, row in acc.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(s)) for s in sets) + " |")
    lmc = report["lmc"]
    lines += ["", "## Linear mode connectivity (members 0 and 1, validation set)", ""]
    for label, c in lmc["by_noise"].items():
        lines.append(f"- {label}: barrier {c['barrier']:.4g}; loss at lambda 0, 0.5, 1: "
                     f"{c['loss'][0]:.4f}, {c['loss'][len(c['loss']) // 2]:.4f}, {c['loss'][-1]:.4f}")
    best = report["best_of_n"]
    if "picked" in best:
        lines += ["", "## Best-of-N: mean true reward (words) of the pick", "",
                  "| noise | model | " + " | ".join(f"N={n}" for n in best["N"]) + " |",
                  "|---|---" + "|---" * len(best["N"]) + "|",
                  "| | oracle | " + " | ".join(f"{v:.1f}" for v in best["oracle"]) + " |"]
        for label, by_model in best["picked"].items():
            for name, ys in by_model.items():
                lines.append(f"| {label} | {name} | " + " | ".join(f"{v:.1f}" for v in ys) + " |")
    lines += ["", "## Collapse on the held-out prompts", "",
              "| noise | model | W1 to optimum of (5) | W1 open vs closed | spread | val loss |",
              "|---|---|---|---|---|---|"]
    for label, by_model in report["collapse"].items():
        for name, c in by_model.items():
            lines.append(f"| {label} | {name} | {_fmt(c['w1_to_optimum'], 4)} | "
                         f"{_fmt(c['w1_open_vs_closed'], 4)} | {_fmt(c['spread'], 4)} | "
                         f"{_fmt(c['val_loss'], 4)} |")
    t = report["inference_seconds"]
    if t:
        lines += ["", "## Inference", "",
                  f"Seconds per 1000 completions ({t['completions']} completions, "
                  f"{t['threads']} threads, {t['device']}): warm {t['warm']:.3f}, "
                  f"ensemble of {t['members']} {t['ensemble']:.3f} "
                  f"(ratio {t['ratio_warm_to_ensemble']:.3f})."]
    return "\n".join(lines) + "\n"


def run_warm(config: WarmConfig | None, out_dir, *, resume: bool = False,
             progress: bool = True) -> dict:
    """The whole run: check, prepare, train the members, combine, evaluate, report.

    ``resume``: continue the run in ``out_dir`` (finished members are kept, an unfinished
    one resumes from its checkpoint); ``config`` None means the saved one.

    Returns the report (also saved as DIR/report.json with DIR/report.md, lmc.png and
    best_of_n.png)."""
    run_dir = Path(out_dir)
    config = resolve_config(config, run_dir, resume=resume)
    data = prepare_run(config, run_dir, resume=resume)
    dirs = train_members(config, run_dir, progress=progress)
    import torch

    torch.set_num_threads(_threads_per_job(1))
    results = [evaluate_condition(config, run_dir, p, d, data, progress=progress,
                                  time_inference=(k == 0))
               for k, (p, d) in enumerate(zip(config.noise, dirs))]
    report = build_report(config, results)
    write_json(run_dir / "report.json", report)
    plot_lmc(report, run_dir / "lmc.png")
    if "picked" in report["best_of_n"]:
        plot_best_of_n(report, run_dir / "best_of_n.png")
    atomic_write_text(run_dir / "report.md", report_markdown(report))
    return report
