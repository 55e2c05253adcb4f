"""Watching reward collapse during training: ``CollapseMonitor`` and its TrainerCallback.

Theorem 1 (Song et al. 2023): a model near the maximum of (1) gives every prompt the same
sorted rewards, the optimum r* of (5). Every K steps the monitor scores each train and
held-out prompt's completions (reward = sigmoid(logit)), sorts them, and logs, per split:

- ``w1_to_optimum_<split>``: the mean over prompts of the W1 distance between the
  prompt's sorted rewards s and the optimum r* of (5) for that prompt's U at its n,
  mean_i |s_i - r*_i| (the solves come from ``rcollapse.solvers.solve``, cached by
  (U, n)); where the optimum is not unique (U = x at odd n: the middle reward is free),
  the distance to the nearest optimum;
- ``w1_open_vs_closed_<split>``: W1 between the mean sorted-reward profiles (mean
  quantile functions) of open- and closed-ended prompts (None if a type is missing), and
  ``w1_open_vs_closed_optimum_<split>``, the same for the prompts' optima of (5);
- ``w1_flat_to_optimum_<split>``: the same mean W1 for flat rewards (every reward 1/2,
  the constant profile nearest to r*, whose median is 1/2 by the symmetry of Lemma 4.1):
  how far a model that ranks nothing is from the optimum, the scale of the verdict;
- ``spread_<split>``: the mean within-prompt standard deviation of the rewards;
- ``accuracy_<split>``: pairwise ranking accuracy over all i < j pairs (ties count 1/2);
- ``profile_open_<split>``, ``profile_closed_<split>``: the mean sorted profiles (at the
  type's most common n), and ``optimum_open``, ``optimum_closed``: r* for that type's U.

TRL's and OpenRLHF's trainers log only min, mean and max reward. To watch your own
reward-model trainer::

    monitor = CollapseMonitor({"train": train_examples, "test": test_examples},
                              utility="log-sigmoid:1", tokenizer=tokenizer)
    trainer = Trainer(..., callbacks=[monitor.callback(every=50)])
    trainer.train();  monitor.history[-1]["w1_to_optimum_test"]
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from rcollapse.empirical.losses import prompt_utility, reference_optimum

__all__ = ["APART_FRACTION", "COLLAPSE_FRACTION", "CollapseMonitor", "collapse_metrics",
           "collapse_verdict", "mean_quantile_profile", "w1_to_optimum"]

#: A split has collapsed onto the optimum of (5) when its W1 to the optimum is at most this
#: fraction of ``w1_flat_to_optimum`` (the W1 of flat rewards, a model that ranks nothing):
#: the model has gone 90% of the way from ranking nothing to the optimum.
COLLAPSE_FRACTION = 0.1
#: Prompt-aware training keeps the types apart when W1 open vs closed is at least this
#: fraction of ``w1_open_vs_closed_optimum`` (what exact collapse onto each prompt's own
#: optimum gives: the most that training toward (1) can reach).
APART_FRACTION = 0.5
#: Below this ceiling the optima of the two types coincide (n = 2 has one optimum for
#: every U): no verdict on keeping the types apart.
MIN_CEILING = 0.01


def w1_to_optimum(sorted_rewards, spec: str) -> float:
    """W1 between one prompt's sorted rewards (best first) and the optimum of (5) for U at
    that n: mean_i |s_i - r*_i| (to the nearest optimum when it is not unique).

    >>> round(w1_to_optimum([1.0, 0.5, 0.0], "log"), 12)
    0.0
    """
    s = np.asarray(sorted_rewards, dtype=float)
    sol = reference_optimum(spec, len(s))
    diff = np.abs(s - sol.rewards)
    if not sol.unique:
        if sol.spec != "linear" or len(s) % 2 == 0:
            raise ValueError(f"utility {spec} at n = {len(s)}: the optimum of (5) is not unique")
        diff[len(s) // 2] = 0.0  # U = x, n odd: the middle reward is free in [0, 1]
    return float(diff.mean())


def mean_quantile_profile(sorted_list, *, grid: int | None = None) -> np.ndarray:
    """The mean over prompts of each prompt's quantile function, sorted best first, at
    ``grid`` levels (default: the lcm of the n's when it is at most 5040, else 5040).
    With one n it is the mean sorted profile."""
    ns = sorted({len(s) for s in sorted_list})
    if grid is None:
        grid = math.lcm(*ns)
        if grid > 5040:
            grid = 5040
    out = np.zeros(grid)
    for s in sorted_list:
        s = np.asarray(s, dtype=float)
        idx = np.minimum((np.arange(grid) + 0.5) * len(s) // grid, len(s) - 1).astype(int)
        out += s[idx]
    return out / len(sorted_list)


def _modal_profile(sorted_list):
    n = Counter(len(s) for s in sorted_list).most_common(1)[0][0]
    return n, np.mean([s for s in sorted_list if len(s) == n], axis=0)


def collapse_metrics(sorted_rewards, specs, types, *, suffix: str) -> dict:
    """The monitor's metrics for one split, from each prompt's sorted rewards (best
    first) and rank-order rewards' accuracy computed by the caller."""
    w1 = [w1_to_optimum(s, spec) for s, spec in zip(sorted_rewards, specs)]
    out = {
        f"w1_to_optimum_{suffix}": float(np.mean(w1)),
        f"w1_flat_to_optimum_{suffix}": float(np.mean(
            [w1_to_optimum(np.full(len(s), 0.5), spec) for s, spec in zip(sorted_rewards, specs)])),
        f"spread_{suffix}": float(np.mean([np.std(s) for s in sorted_rewards])),
    }
    by_type = {t: [s for s, tt in zip(sorted_rewards, types) if tt == t] for t in ("open", "closed")}
    if by_type["open"] and by_type["closed"]:
        grid = math.lcm(*sorted({len(s) for s in sorted_rewards}))
        grid = min(grid, 5040)
        qo = mean_quantile_profile(by_type["open"], grid=grid)
        qc = mean_quantile_profile(by_type["closed"], grid=grid)
        out[f"w1_open_vs_closed_{suffix}"] = float(np.mean(np.abs(qo - qc)))
        # the same statistic for the optima of (5) of these prompts: what full collapse
        # onto each prompt's own optimum would give (with mixed n it is below the n = 8 value)
        ref = {t: [reference_optimum(spec, len(s)).rewards for s, spec, tt
                   in zip(sorted_rewards, specs, types) if tt == t] for t in ("open", "closed")}
        ro = mean_quantile_profile(ref["open"], grid=grid)
        rc = mean_quantile_profile(ref["closed"], grid=grid)
        out[f"w1_open_vs_closed_optimum_{suffix}"] = float(np.mean(np.abs(ro - rc)))
    else:
        out[f"w1_open_vs_closed_{suffix}"] = None
        out[f"w1_open_vs_closed_optimum_{suffix}"] = None
    for t in ("open", "closed"):
        rows = by_type[t]
        out[f"profile_{t}_{suffix}"] = _modal_profile(rows)[1].tolist() if rows else None
        out[f"w1_to_optimum_{t}_{suffix}"] = (
            float(np.mean([w for w, tt in zip(w1, types) if tt == t])) if rows else None)
    return out


def _split_verdict(row: dict, split: str, *, prompt_aware: bool) -> dict:
    """The verdict on one split of a metrics row (see ``collapse_verdict``)."""
    w1, flat = row.get(f"w1_to_optimum_{split}"), row.get(f"w1_flat_to_optimum_{split}")
    apart = row.get(f"w1_open_vs_closed_{split}")
    ceiling = row.get(f"w1_open_vs_closed_optimum_{split}")
    out = {"w1_to_optimum": w1, "w1_flat_to_optimum": flat, "relative_w1": None,
           "collapsed": None, "w1_open_vs_closed": apart, "w1_open_vs_closed_optimum": ceiling,
           "apart_fraction": None, "kept_apart": None}
    if w1 is None or not flat:
        return {**out, "text": "not measured"}
    rel = w1 / flat
    out.update(relative_w1=rel, collapsed=rel <= COLLAPSE_FRACTION)
    where = f"W1 to the optimum {w1:.3f}, {rel:.1%} of flat rewards' {flat:.3f}"
    if not prompt_aware:
        state = "collapsed onto U's optimum" if out["collapsed"] else "not collapsed"
        return {**out, "text": f"{state} ({where})"}
    state = "on each type's optimum" if out["collapsed"] else "not on the types' optima"
    if apart is None or ceiling is None:
        return {**out, "text": f"{state} ({where}); types not compared: the split lacks "
                               "open or closed prompts"}
    if ceiling < MIN_CEILING:
        return {**out, "text": f"{state} ({where}); types cannot be kept apart here: their "
                               f"optima are {ceiling:.3f} apart at these n (measured "
                               f"{apart:.3f})"}
    frac = apart / ceiling
    out.update(apart_fraction=frac, kept_apart=frac >= APART_FRACTION)
    if round(apart, 3) > round(ceiling, 3):  # off the optima (the ceiling is theirs)
        types = f"types {apart:.3f} apart, more than the {ceiling:.3f} of their optima"
    else:
        types = (f"types {'kept apart' if out['kept_apart'] else 'not kept apart'}, "
                 f"{apart:.3f} of a possible {ceiling:.3f}")
    return {**out, "text": f"{types}; {state} ({where})"}


def collapse_verdict(row: dict, *, utility: str, caveats: dict | None = None) -> dict:
    """Did training collapse? A verdict per split from one metrics row, with its numbers.

    Theorem 1: near the maximum of (1) every prompt's sorted rewards sit on the optimum
    r* of (5). A split has *collapsed* when ``w1_to_optimum`` <= ``COLLAPSE_FRACTION`` x
    ``w1_flat_to_optimum`` (flat rewards, a model that ranks nothing, are the scale).
    Under ``prompt-aware`` utilities (section 3.2) the aim is the opposite for the types:
    they are *kept apart* when ``w1_open_vs_closed`` >= ``APART_FRACTION`` x
    ``w1_open_vs_closed_optimum``, the value at the optima (no verdict on the types when
    that ceiling is under ``MIN_CEILING`` or a type is missing). ``caveats`` (split ->
    words, e.g. a split of too few prompts) go into that split's text. ``line`` says it
    all in words.

    >>> row = {"w1_to_optimum_train": 0.01, "w1_flat_to_optimum_train": 0.25}
    >>> collapse_verdict(row, utility="log")["line"]
    "verdict (U = log): train: collapsed onto U's optimum (W1 to the optimum 0.010, 4.0% of flat rewards' 0.250)"
    """
    prompt_aware = utility in ("prompt-aware", "prompt-aware-dial")
    splits = {s: _split_verdict(row, s, prompt_aware=prompt_aware) for s in ("train", "test")
              if f"w1_to_optimum_{s}" in row}
    for s, words in (caveats or {}).items():
        if s in splits:
            splits[s] = {**splits[s], "caveat": words,
                         "text": f"{splits[s]['text']} [{words}]"}
    line = f"verdict (U = {utility}): " + "; ".join(f"{'held-out' if s == 'test' else s}: {v['text']}"
                                   for s, v in splits.items())
    rule = (f"collapsed: W1 to the optimum of (5) <= {COLLAPSE_FRACTION:g} x that of flat "
            "rewards (all 1/2)")
    if prompt_aware:
        rule += (f"; types kept apart: W1 open vs closed >= {APART_FRACTION:g} x its value at "
                 f"the optima (when those are >= {MIN_CEILING:g} apart)")
    return {"utility": utility, "rule": rule, "collapse_fraction": COLLAPSE_FRACTION,
            "apart_fraction": APART_FRACTION if prompt_aware else None, **splits, "line": line}


class CollapseMonitor:
    """Collapse metrics of a reward model on ranked prompts, every K steps.

    ``splits``: split name -> list of ``RankingExample`` (e.g. {"train": ..., "test": ...});
    ``utility``: a spec, ``prompt-aware`` or ``prompt-aware-dial`` (the U whose optimum is
    the reference; for a model trained with another loss, a reference only);
    ``max_prompts``: evaluate at most this many prompts per split (the first ones);
    ``record_prompts``: how many prompts per split ``rewards_record`` keeps;
    ``fit``: also log, per split, the U whose optimum of (5) best explains the profiles
    (``fit_SPLIT``: its spec, ``fit_w1_SPLIT``: the fit's residual; by
    :func:`rcollapse.empirical.diagnose_fit.fit_utility`, without the bootstrap), the
    inverse problem of ``rcollapse diagnose`` watched during training.
    The reward model is scored through ``reward_scores`` (sigmoid of the logit).
    """

    def __init__(self, splits, *, utility: str, tokenizer=None, max_prompts: int | None = None,
                 batch_size: int = 64, max_length: int = 256, record_prompts: int = 64,
                 scorer=None, fit: bool = False):
        self.splits = {k: list(v)[:max_prompts] if max_prompts else list(v)
                       for k, v in splits.items()}
        self.utility = utility
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.record_prompts = record_prompts
        self.scorer = scorer
        self.specs = {k: [prompt_utility(ex, utility) for ex in v] for k, v in self.splits.items()}
        for k, v in self.splits.items():  # solve every (U, n) once, before training
            for ex, spec in zip(v, self.specs[k]):
                reference_optimum(spec, ex.n)
        self.history: list[dict] = []
        self.last_rewards: dict[str, list[np.ndarray]] = {}
        self.fit = fit
        self._fit_cache = None  # the optima the fits use, solved once per (U, n)

    # ---- scoring -----------------------------------------------------------------
    def _scores(self, model, tokenizer, examples) -> list[np.ndarray]:
        texts = [(ex.prompt, c) for ex in examples for c in ex.completions]
        if self.scorer is not None:
            flat = np.asarray(self.scorer(texts), dtype=float)
        else:
            from rcollapse.empirical.model import reward_scores

            flat = reward_scores(model, tokenizer, texts, batch_size=self.batch_size,
                                 max_length=self.max_length)
        out, k = [], 0
        for ex in examples:
            out.append(flat[k:k + ex.n])
            k += ex.n
        return out

    def optimum_profiles(self) -> dict:
        """r* of the reference U for each prompt type (at that type's most common n)."""
        out = {}
        for t in ("open", "closed"):
            pairs = [(ex.n, spec) for split in self.splits for ex, spec in
                     zip(self.splits[split], self.specs[split]) if ex.prompt_type == t]
            if not pairs:
                out[f"optimum_{t}"] = None
                continue
            n, spec = Counter(pairs).most_common(1)[0][0]
            out[f"optimum_{t}"] = reference_optimum(spec, n).rewards.tolist()
        return out

    def evaluate(self, model=None, tokenizer=None, *, step: int | None = None,
                 loss: float | None = None) -> dict:
        """One row of metrics (also appended to ``history``)."""
        tokenizer = tokenizer or self.tokenizer
        row = {"step": step, "loss": loss}
        self.last_rewards = {}
        for split, examples in self.splits.items():
            rewards = self._scores(model, tokenizer, examples)  # rank order, best first
            self.last_rewards[split] = rewards
            correct = total = 0.0
            for r in rewards:
                i, j = np.triu_indices(len(r), k=1)
                correct += np.sum(r[i] > r[j]) + 0.5 * np.sum(r[i] == r[j])
                total += len(i)
            sorted_rewards = [-np.sort(-r) for r in rewards]
            types = [ex.prompt_type for ex in examples]
            row.update(collapse_metrics(sorted_rewards, self.specs[split], types, suffix=split))
            row[f"accuracy_{split}"] = float(correct / total)
            if self.fit:
                row.update(self._fitted_utility(rewards, split))
        row.update(self.optimum_profiles())
        self.history.append(row)
        return row

    def _fitted_utility(self, rewards, split: str) -> dict:
        """The U whose optimum best explains ``rewards`` (rank order, one array a prompt)."""
        from rcollapse.empirical.diagnose import normalized_profile
        from rcollapse.empirical.diagnose_fit import OptimumCache, fit_utility

        if self._fit_cache is None:
            self._fit_cache = OptimumCache()
        fit = fit_utility([normalized_profile(r) for r in rewards], bootstrap=0, cache=self._fit_cache)
        return {f"fit_{split}": fit["spec"], f"fit_w1_{split}": float(fit["w1"])}

    def rewards_record(self, step: int) -> list[dict]:
        """Per split, the sorted rewards of up to ``record_prompts`` prompts of the last
        evaluation: {"step", "split", "prompt_type": [...], "sorted_rewards": [[...]]}."""
        out = []
        for split, rewards in self.last_rewards.items():
            k = self.record_prompts
            out.append({
                "step": step,
                "split": split,
                "prompt_type": [ex.prompt_type for ex in self.splits[split][:k]],
                "sorted_rewards": [(-np.sort(-r)).tolist() for r in rewards[:k]],
            })
        return out

    def callback(self, *, every: int, on_evaluate=None, loss_fn=None):
        """A ``transformers.TrainerCallback`` that evaluates every ``every`` optimizer
        steps and at the end of training; ``on_evaluate(row, monitor)`` is called with each
        row (on the main process only)."""
        return _make_callback(self, every=every, on_evaluate=on_evaluate, loss_fn=loss_fn)


def _make_callback(monitor, *, every, on_evaluate, loss_fn):
    from transformers import TrainerCallback

    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every {every!r}: valid: an integer >= 1")

    class CollapseCallback(TrainerCallback):
        """Runs ``CollapseMonitor.evaluate`` every K steps (main process only)."""

        def __init__(self):
            self.monitor = monitor
            self.last_step = None

        def _run(self, args, state, model, tokenizer):
            if self.last_step == state.global_step:
                return
            self.last_step = state.global_step
            if not state.is_world_process_zero:
                return
            if loss_fn is not None:
                loss = loss_fn()
            else:
                losses = [h["loss"] for h in state.log_history if "loss" in h]
                loss = float(losses[-1]) if losses else None
            row = monitor.evaluate(model, tokenizer or monitor.tokenizer,
                                   step=state.global_step, loss=loss)
            if on_evaluate is not None:
                on_evaluate(row, monitor)

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kw):
            if state.global_step % every == 0:
                self._run(args, state, model, processing_class)

        def on_train_end(self, args, state, control, model=None, processing_class=None, **kw):
            self._run(args, state, model, processing_class)

    return CollapseCallback()
