"""WARM's evaluation of one noise level: the members, their averages and their ensemble.

For the members trained at noise level p, ``evaluate_condition`` (on the clean data):

1. scores each member, ``warm`` (the uniform weight average, WARM, Ramé et al. 2024),
   ``greedy`` (model-soups' greedy soup on the validation set) and ``ensemble`` (the
   mean of the members' rewards) on every set, with the collapse monitor's metrics and
   the validation loss (the trained objective (1), negated, per prompt);
2. measures linear mode connectivity between members 0 and 1 (loss and accuracy along
   (1 - l) theta_1 + l theta_2, and the barrier);
3. saves ``warm`` and ``greedy`` as safetensors, with the soup's record;
4. with the built-in data, best-of-N of every model on the candidate pool;
5. once per run, inference seconds per 1000 completions, ``warm`` against ``ensemble``.

Every model is scored through one network whose state dict is swapped (``_Scorer``), by
``model.reward_logits``, the code that scores during training.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rcollapse.empirical.best_of_n import best_of_n_curves, best_of_n_expectation
from rcollapse.empirical.soup import (
    average_state_dicts,
    check_same_architecture,
    greedy_soup,
    interpolate_state_dicts,
    loss_barrier,
)
from rcollapse.empirical.warm_config import WarmConfig
from rcollapse.empirical.warm_members import noise_label
from rcollapse.outputs import write_json

__all__ = ["eval_texts", "evaluate_condition", "evaluate_states"]


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

    from rcollapse.empirical.losses import floor_for, utility_loss

    sizes = [ex.n for ex in examples]
    floors = [floor_for(spec, n) for spec, n in zip(specs, sizes)]
    return float(utility_loss(torch.as_tensor(np.asarray(z), dtype=torch.float64), sizes, specs,
                              floors=floors))


def _load_state(model_dir: Path):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
    model.eval()
    return model, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _metrics_row(monitor, lookup) -> dict:
    monitor.scorer = lookup
    return monitor.evaluate(None, None)


def eval_texts(data: dict) -> dict:
    """The (prompt, completion) pairs scored per set: val, the test sets, the pool."""
    test_sets = ["held_out"] + (["shift"] if data["shift"] is not None else [])
    texts = {name: _flat_texts(data[name]) for name in ["val", *test_sets]}
    if data["pool"] is not None:
        texts["pool"] = [(pr, c) for pr, comps in zip(data["pool"]["prompts"],
                                                      data["pool"]["completions"]) for c in comps]
    return texts


class _Evaluation:
    """Everything one noise level's models are scored with, and their scores so far:
    ``logits[model][set]`` and ``rows[model]`` (monitor metrics and ``val_loss``)."""

    def __init__(self, config: WarmConfig, data: dict, scorer, *, bar):
        from rcollapse.empirical.losses import prompt_utility
        from rcollapse.empirical.monitor import CollapseMonitor

        self.config, self.data, self.bar = config, data, bar
        self.texts = eval_texts(data)
        self.names = list(self.texts)
        self.scorer = scorer
        self.val_specs = [prompt_utility(ex, config.utility) for ex in data["val"]]
        scored = [name for name in self.names if name != "pool"]
        self.monitor = CollapseMonitor({name: data[name] for name in scored},
                                       utility=config.utility, scorer=lambda t: None)
        self.val_monitor = CollapseMonitor({"val": data["val"]}, utility=config.utility,
                                           scorer=lambda t: None)
        self.logits, self.rows = {}, {}

    def score(self, name: str, state) -> None:
        """Score model ``name`` (a state dict) on every set."""
        self.logits[name] = self.scorer.logits(state, self.names)
        rewards = {k: _sigmoid(v) for k, v in self.logits[name].items()}
        self.rows[name] = _metrics_row(self.monitor, _lookup(self.texts, rewards))
        self.rows[name]["val_loss"] = self.val_loss(self.logits[name]["val"])
        self.bar.update(1)

    def val_loss(self, z) -> float:
        """The validation loss (minus (1) per prompt) at validation logits z."""
        return _utility_loss(z, self.data["val"], self.val_specs)

    def val_utility(self, state) -> float:
        """The greedy soup's criterion: minus the validation loss of a state dict."""
        z = self.scorer.logits(state, ["val"])["val"]
        self.bar.update(1)
        return -self.val_loss(z)

    def val_accuracy(self, z) -> float:
        """Pairwise accuracy on the validation set at validation logits z."""
        lookup = _lookup({"val": self.texts["val"]}, {"val": _sigmoid(z)})
        return _metrics_row(self.val_monitor, lookup)["accuracy_val"]


def _combine(ev: _Evaluation, states: list) -> tuple:
    """Score the members, ``warm``, ``greedy`` and ``ensemble``; returns (warm state,
    greedy state, the greedy soup's record, the ensemble's rewards per set)."""
    m = len(states)
    for i in range(m):
        ev.score(f"member_{i}", states[i])
    warm_state = average_state_dicts(states, names=[f"member {i}" for i in range(m)])
    ev.score("warm", warm_state)
    greedy_state, record = greedy_soup(
        states, accuracy=[ev.rows[f"member_{i}"]["accuracy_val"] for i in range(m)],
        utility=ev.val_utility)
    ev.score("greedy", greedy_state)
    ens = {k: np.mean([_sigmoid(ev.logits[f"member_{i}"][k]) for i in range(m)], axis=0)
           for k in ev.names}
    ev.rows["ensemble"] = _metrics_row(ev.monitor, _lookup(ev.texts, ens))
    ev.rows["ensemble"]["val_loss"] = None  # an ensemble of rewards has no logits of its own
    return warm_state, greedy_state, record, ens


def _linear_mode_connectivity(ev: _Evaluation, a, b, p: float) -> dict:
    """Validation loss and accuracy along (1 - l) a + l b at ``config.lambdas`` points of
    [0, 1], and the barrier (the largest excess over the straight line)."""
    lambdas = np.linspace(0.0, 1.0, ev.config.lambdas)
    lmc_loss, lmc_acc = [], []
    for lam in lambdas:
        z = ev.scorer.logits(interpolate_state_dicts(a, b, lam), ["val"])["val"]
        lmc_loss.append(ev.val_loss(z))
        lmc_acc.append(ev.val_accuracy(z))
        ev.bar.update(1)
    return {"lambdas": lambdas.tolist(), "loss": lmc_loss, "accuracy": lmc_acc,
            "barrier": loss_barrier(lambdas, lmc_loss), "members": [0, 1],
            "set": "val", "noise": p}


def _save_combined(skeleton, tokenizer, out: Path, warm_state, greedy_state, record,
                   member_dirs) -> None:
    """``out/warm`` and ``out/greedy`` (safetensors, loadable by
    AutoModelForSequenceClassification), the soup's record and the ensemble's members."""
    for name, state in (("warm", warm_state), ("greedy", greedy_state)):
        skeleton.load_state_dict(state)
        skeleton.save_pretrained(str(out / name))
        tokenizer.save_pretrained(str(out / name))
    write_json(out / "greedy" / "soup.json",
               {"order": record.order, "kept": record.kept, "trace": record.trace})
    write_json(out / "ensemble.json",
               {"members": [str(d / "model") for d in member_dirs],
                "rule": "mean of the members' rewards sigmoid(logit)"})


def _best_of_n_by_model(ev: _Evaluation, model_names, ens: dict) -> dict:
    """Best-of-N of each model on the pool, by the unbiased estimator
    (``best_of_n.best_of_n_curves``): true reward (length) and proxy (the model's own
    reward) of its pick per N, with Gao fits; the oracle (the true reward as proxy) and a
    random pick beside them."""
    true = np.asarray(ev.data["pool"]["true"], dtype=float)
    ns = [int(n) for n in ev.config.best_of]
    models = {}
    for name in model_names:
        r = ens["pool"] if name == "ensemble" else _sigmoid(ev.logits[name]["pool"])
        models[name] = best_of_n_curves(np.reshape(r, true.shape), true, ns)
    return {"N": ns, "oracle": best_of_n_expectation(true, true, ns).tolist(),
            "random": [float(true.mean())] * len(ns), "models": models}


def _inference_seconds(ev: _Evaluation, skeleton, tokenizer, warm_state, members: list) -> dict:
    """Seconds per 1000 completions of ``warm`` (one model) and of the ensemble (every
    member, rewards averaged), on the pool (or held_out), after one untimed batch each."""
    import torch

    from rcollapse.empirical.model import reward_scores

    texts = ev.texts.get("pool") or ev.texts["held_out"]
    kw = dict(batch_size=ev.config.batch_size, max_length=ev.config.train.max_length)
    skeleton.load_state_dict(warm_state)
    for model in [skeleton, *members]:  # one warm-up batch each, not timed
        reward_scores(model, tokenizer, texts[:8], **kw)
    t0 = time.perf_counter()
    reward_scores(skeleton, tokenizer, texts, **kw)
    t_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    np.mean([reward_scores(model, tokenizer, texts, **kw) for model in members], axis=0)
    t_ens = time.perf_counter() - t0
    k = len(texts)
    return {"warm": 1000.0 * t_warm / k, "ensemble": 1000.0 * t_ens / k,
            "ratio_warm_to_ensemble": t_warm / t_ens, "members": len(members), "completions": k,
            "unit": "seconds per 1000 completions", "threads": torch.get_num_threads(),
            "device": str(next(skeleton.parameters()).device)}


def evaluate_states(config: WarmConfig, p: float, states: list, data: dict, scorer, *,
                    progress: bool = True) -> tuple[dict, dict]:
    """Combine and evaluate the members' state dicts trained at noise level p, on the
    clean sets, through ``scorer`` (``logits(state, set names) -> {set: logits}``).
    Returns (the result of the noise level, the combined states: ``warm``, ``greedy``,
    ``record`` (the greedy soup's))."""
    from tqdm.auto import tqdm

    label, m = noise_label(p), len(states)
    check_same_architecture(states, names=[f"member {i}" for i in range(m)])
    steps = m + 1 + m + 1 + config.lambdas  # members, warm, greedy's m candidates, greedy, LMC
    bar = tqdm(total=steps, desc=f"WARM evaluate {label}", unit="model", disable=not progress)
    ev = _Evaluation(config, data, scorer, bar=bar)
    warm_state, greedy_state, record, ens = _combine(ev, states)
    lmc = _linear_mode_connectivity(ev, states[0], states[1], p)
    bar.close()
    model_names = [f"member_{i}" for i in range(m)] + ["warm", "greedy", "ensemble"]
    result = {"label": label, "noise": p, "lmc": lmc, "rows": ev.rows, "models": model_names,
              "greedy": {"order": record.order, "kept": record.kept},
              "corrupted_train_rankings": len(data["corrupted"][label])}
    if data["pool"] is not None:
        result["best_of_n"] = _best_of_n_by_model(ev, model_names, ens)
    return result, {"warm": warm_state, "greedy": greedy_state, "record": record, "ev": ev}


def evaluate_condition(config: WarmConfig, run_dir: Path, p: float, member_dirs, data, *,
                       progress: bool = True, time_inference: bool = False) -> dict:
    """Combine and evaluate the fine-tuned members trained at noise level p (on clean
    test data); saves ``warm`` and ``greedy`` under DIR/models/pP."""
    from transformers import AutoTokenizer

    loaded = [_load_state(d / "model") for d in member_dirs]
    states = [s for _, s in loaded]
    tokenizer = AutoTokenizer.from_pretrained(str(run_dir / "init"))
    skeleton, _ = _load_state(member_dirs[0] / "model")
    scorer = _Scorer(skeleton, tokenizer, eval_texts(data), batch_size=config.batch_size,
                     max_length=config.train.max_length)
    result, combined = evaluate_states(config, p, states, data, scorer, progress=progress)
    _save_combined(skeleton, tokenizer, run_dir / "models" / noise_label(p), combined["warm"],
                   combined["greedy"], combined["record"], member_dirs)
    if time_inference:
        result["inference_seconds"] = _inference_seconds(
            combined["ev"], skeleton, tokenizer, combined["warm"], [model for model, _ in loaded])
    return result
