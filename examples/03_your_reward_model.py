# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Your reward model: train it, then ask whether it collapsed
#
# Theorem 1 (Song et al. 2023): a reward model trained to near the maximum of the
# overall utility (1) gives *every* prompt the same sorted rewards, the optimum of (5)
# for its U, whether the prompt is open-ended or closed-ended. Here we train the package's
# tiny backbone (a small transformer built offline, no download) on the paper's
# controlled length dataset (section 5.2: 8 responses per question, the true reward is
# the length) with two utilities, U = log x and U = -1/x, and then diagnose each model as
# we would diagnose a model someone gave us: which utility's optimum do its rewards sit
# on?
#
# The settings are the test suite's fast ones (8 prompts, 60 epochs at lr 3e-3): about
# 10 s a run on one CPU thread. For a real run use `rcollapse train --help`. With so few
# prompts each run warns that its splits hold too few prompts of each type to judge
# open against closed; that comparison is not what we look at here.

# %%
import json
import tempfile
from pathlib import Path

import numpy as np

from rcollapse.empirical.data import build_length_dataset
from rcollapse.empirical.diagnose import diagnose
from rcollapse.empirical.train import TrainConfig, train
from rcollapse.figures import style
from rcollapse.solvers import solve

OUT = Path(tempfile.mkdtemp(prefix="rcollapse-example-03-"))  # runs and figures go here
UTILITIES = ("log", "neg-power:1")
FAST = dict(backbone="tiny", prompts=8, test_prompts=4, batch=4, lr=3e-3, scheduler="linear",
            epochs=60, eval_every=120, seed=1, threads=1)

# %% [markdown]
# ## 1. Train one model per utility
#
# `TrainConfig` holds every option (the same fields as `rcollapse train`'s flags); `train`
# writes a run folder: config.json, metrics.jsonl, summary.json, the model
# (safetensors) and metrics.png. The summary's W1 is the distance of each prompt's sorted
# rewards to the optimum of (5) for the run's U, at the end of training.

# %%
runs, summaries = {}, {}
for u in UTILITIES:
    runs[u] = train(TrainConfig(utility=u, **FAST), OUT / u.replace(":", "_"), progress=False)
    summaries[u] = json.loads((runs[u] / "summary.json").read_text())
    s = summaries[u]
    print(f"{u:>12}: W1 to the optimum (train) {s['w1_to_optimum_train']:.4f}, pair accuracy "
          f"{s['accuracy_train']:.3f}, {s['seconds']:.1f} s")
    # the thresholds of tests/empirical; measured over seeds 0-4: W1 at most 0.0057, accuracy 1.0
    assert s["w1_to_optimum_train"] <= 0.05 and s["accuracy_train"] >= 0.9

# %% [markdown]
# ## 2. Diagnose each model
#
# `diagnose` (the library form of `rcollapse diagnose --model RUN --data FILE`) scores
# the rankings with the model and measures: the collapse index (0 when all prompts have
# the same normalized profile, about 1 for unrelated prompts), the utility whose optimum
# best fits the profiles (fitted on the paper's dial: Beta(a, a) limits, a = 1/2 for
# log x and a = 1 for -1/x; log sigmoid on its own scale), and, given the U we trained
# with, the distance to its optimum against that of flat rewards.
#
# The rankings are the training prompts, written as the JSONL a user would bring. From a
# shell the same diagnosis, with its report folder (report.md, report.json and three
# plots), is `rcollapse diagnose --model RUN --data FILE --utility log --out DIR`.

# %%
rankings = OUT / "train_prompts.jsonl"
rankings.write_text("".join(
    json.dumps({"prompt": ex.prompt, "completions": list(ex.completions), "type": ex.prompt_type}) + "\n"
    for ex in build_length_dataset(FAST["prompts"], seed=FAST["seed"], split="train")))
reports = {u: diagnose(runs[u], rankings, utility=u, bootstrap=0).to_json() for u in UTILITIES}
for u, r in reports.items():
    fit, check = r["fit"], r["utility_check"]
    print(f"{u:>12}: collapse index {r['collapse_index']['index']:.3f}; fitted U {fit['spec']} "
          f"({fit['coordinate']} = {fit['parameter']:.3f}, W1 {fit['w1']:.4f}); "
          f"W1 to {u}'s optimum {check['relative_w1']:.3f} of flat rewards' "
          f"-> collapsed: {check['collapsed']}")

# %% [markdown]
# Both models collapsed (Theorem 1), and the diagnosis tells them apart: the log model's
# fit sits at a = 1/2, the -1/x model's near a = 1 (a uniform profile, Theorem 3).

# %%
# Margins: measured over seeds 0-4 (one thread), the number beside each threshold.
a = {u: reports[u]["fit"]["parameter"] for u in UTILITIES}
for u in UTILITIES:
    assert reports[u]["utility_check"]["collapsed"]  # W1 at most 0.015 of flat rewards' (0.1)
    assert reports[u]["collapse_index"]["index"] < 0.3  # at most 0.057
    assert reports[u]["fit"]["coordinate"] == "a"  # on the dial, 10 of 10
assert abs(a["log"] - 0.5) <= 0.05  # a in 0.492..0.510
assert a["neg-power:1"] >= a["log"] + 0.25  # a in 0.938..1.025; apart at least 0.436

# %% [markdown]
# ## 3. A picture
#
# Each prompt's normalized rewards, best first (grey), their mean (blue), and the
# optimum of (5) at n = 8 for the U each model was trained with (dashed) and for the other
# U (dotted): each model sits on its own utility's optimum, not the other's.

# %%
fig, axes = style.new_figure(1, 2, width=style.PAGE, height=2.6, sharey=True)
rank = np.arange(1, 9)
optima = {u: solve(u, 8).rewards for u in UTILITIES}
for ax, u in zip(axes[0], UTILITIES):
    profiles = np.array([p["profile"] for p in reports[u]["prompts"] if p["n"] == 8])
    for p in profiles:
        ax.plot(rank, p, color="0.7", linewidth=0.6)
    ax.plot(rank, profiles.mean(axis=0), color=style.OKABE_ITO["blue"], marker="o", label="model, mean")
    other = next(v for v in UTILITIES if v != u)
    ax.plot(rank, optima[u], color=style.THEORY, linestyle="--", label=f"optimum of (5), {u}")
    ax.plot(rank, optima[other], color=style.THEORY, linestyle=":", label=f"optimum of (5), {other}")
    ax.set(title=f"trained with U = {u}", xlabel="rank (1 = best)")
    ax.legend(fontsize=7, loc="upper right")
axes[0, 0].set_ylabel("normalized reward")
png = OUT / "two_models.png"
fig.savefig(png)
fig

# %%
summary = {"utilities": list(UTILITIES),
           "w1_to_optimum_train": {u: summaries[u]["w1_to_optimum_train"] for u in UTILITIES},
           "collapse_index": {u: reports[u]["collapse_index"]["index"] for u in UTILITIES},
           "fit": {u: reports[u]["fit"]["spec"] for u in UTILITIES}, "fit_a": a,
           "collapsed": {u: reports[u]["utility_check"]["collapsed"] for u in UTILITIES},
           "figure": str(png)}
print("SUMMARY " + json.dumps(summary))
