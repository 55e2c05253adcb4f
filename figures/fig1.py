"""The paper's Figure 1: each prompt's reward distribution concentrates during training.

The paper trained GPT-Neo-1.3B on StackExchange rankings; here the default is the
pretrained all-MiniLM-L6-v2 on the built-in ranking data (``--quick``: the tiny model),
trained with a fixed log-sigmoid utility, or any run of ``rcollapse train`` given with
``--from DIR``. For a few training prompts, the sorted rewards at each evaluation are
drawn against the training step, beside the optimum of (5) for that prompt's utility and
n (the dashed levels): whatever the prompt, the rewards move to the same levels.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rcollapse.figures import style
from rcollapse.figures import training as T
from rcollapse.figures.registry import register

#: Prompts drawn, half open-ended and half closed-ended where the run has both.
PROMPTS = 4


def _pick(types: list, k: int) -> list[int]:
    opened = [i for i, t in enumerate(types) if t == "open"]
    closed = [i for i, t in enumerate(types) if t == "closed"]
    other = [i for i, t in enumerate(types) if t not in ("open", "closed")]
    picked = opened[: k // 2] + closed[: k - k // 2]
    for i in opened[k // 2:] + closed[k - k // 2:] + other:
        if len(picked) >= k:
            break
        picked.append(i)
    return sorted(picked)[:k]


def from_run(run: T.Run) -> dict:
    """Figure 1's data from one training run: per prompt, its sorted rewards per step."""
    records = sorted((r for r in run.rewards if r["split"] == "train"), key=lambda r: r["step"])
    if not records:
        raise ValueError(f"--from {run.path}: rewards.jsonl holds no training prompts")
    types = records[-1]["prompt_type"]
    chosen = _pick(types, PROMPTS)
    last = run.metrics[-1]
    prompts = []
    for i in chosen:
        kind = types[i]
        steps, rewards = [], []
        for rec in records:
            if i < len(rec["sorted_rewards"]):
                steps.append(rec["step"])
                rewards.append(rec["sorted_rewards"][i])
        optimum = last.get(f"optimum_{kind}") if kind in ("open", "closed") else None
        prompts.append({"type": kind, "steps": steps, "sorted_rewards": rewards,
                        "optimum": optimum})
    return {"utility": run.utility, "label": run.label,
            "backbone": run.config.get("backbone"), "source": str(run.path),
            "prompts": prompts,
            "w1_steps": [row["step"] for row in run.metrics],
            "w1_to_optimum_train": [row.get("w1_to_optimum_train") for row in run.metrics]}


def compute(*, quick: bool, source=None, runs=None) -> dict:
    if source is not None:
        found = T.find_runs(source)
        fixed = [r for r in found if r.utility == T.COLLAPSING_UTILITY] or found
        return from_run(fixed[0])
    made = T.ensure_runs([T.COLLAPSING_UTILITY], root=runs, quick=quick)
    return from_run(T.read_run(made[T.COLLAPSING_UTILITY]))


def example() -> dict:
    """Synthetic rankings that move from random rewards to one profile (no training)."""
    rng = np.random.default_rng(0)
    optimum = [1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0]
    steps = [0, 20, 40, 60, 80]
    prompts = []
    for kind in ("open", "open", "closed", "closed"):
        start = np.sort(rng.uniform(0.3, 0.7, 8))[::-1]
        rows = [((1 - t) * start + t * np.array(optimum)).tolist()
                for t in np.linspace(0, 1, len(steps))]
        prompts.append({"type": kind, "steps": steps, "sorted_rewards": rows,
                        "optimum": optimum})
    return {"utility": "log-sigmoid:0.25", "label": "log-sigmoid:0.25", "backbone": "tiny",
            "source": "synthetic", "prompts": prompts, "w1_steps": steps,
            "w1_to_optimum_train": [0.3, 0.2, 0.1, 0.05, 0.01]}


@register("fig1", paper_ref="Figure 1", compute=compute, example=example,
          seconds=(45, 1000), tags=("training",),
          description="each prompt's rewards concentrate on the optimum of (5) in training")
def make_figure(data: dict) -> Figure:
    prompts = data["prompts"]
    fig, axes = style.new_figure(1, len(prompts) + 1, width=style.PAGE, height=2.5)
    for ax, prompt, letter in zip(axes[0], prompts, "abcdefgh"):
        steps = np.asarray(prompt["steps"], dtype=float)
        rewards = np.asarray(prompt["sorted_rewards"], dtype=float)  # steps x n
        colours = style.series_colors(rewards.shape[1])
        for j in range(rewards.shape[1]):
            ax.plot(steps, rewards[:, j], color=colours[j], linewidth=0.9, marker=".",
                    markersize=2.5)
        for level in prompt.get("optimum") or []:
            ax.axhline(level, color=style.THEORY, linestyle="--", linewidth=0.6, zorder=1)
        style.panel_letter(ax, letter, title=f"{prompt['type']}-ended")
        if ax is not axes[0, 0]:
            ax.tick_params(labelleft=False)
        ax.set_xlabel("training step")
        ax.set_ylim(-0.03, 1.03)
    axes[0, 0].set_ylabel("reward (ranked, best to worst)")
    ax = axes[0, -1]
    ax.plot(data["w1_steps"], data["w1_to_optimum_train"], color=style.OKABE_ITO["blue"],
            marker="o", markersize=2.5)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(r"mean $W_1$ to optimum")
    style.panel_letter(ax, "abcdefgh"[len(prompts)], title="all prompts")
    fig.suptitle(f"{data['label']} ({data['backbone']}): every prompt's rewards move to the "
                 "dashed optimum of (5)", fontsize=8)
    return fig
