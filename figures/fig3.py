"""The paper's Figure 3: the reward distribution at the end of training, per utility.

For each utility of the paper (x, log x, -1/x, log sigmoid, prompt-aware), the sorted
rewards of every recorded prompt at the last evaluation, on the training and the
held-out prompts, open-ended against closed-ended, with the solver's optimum of (5) at
that n overlaid (as the official repository's figures do). A fixed utility sends both
prompt types to its one optimum (collapse); prompt-aware keeps them apart.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rcollapse.figures import style
from rcollapse.figures import training as T
from rcollapse.figures.registry import register

TYPE_COLOURS = {"open": style.OKABE_ITO["blue"], "closed": style.OKABE_ITO["vermillion"]}


def _panel(run: T.Run, split: str) -> dict:
    rec = run.last_rewards(split)
    last = run.metrics[-1]
    if rec is None:
        return {"prompts": [], "types": [], "optimum": {}}
    return {"step": rec["step"], "prompts": rec["sorted_rewards"], "types": rec["prompt_type"],
            "optimum": {t: last.get(f"optimum_{t}") for t in ("open", "closed")
                        if last.get(f"optimum_{t}") is not None},
            "w1_to_optimum": last.get(f"w1_to_optimum_{split}"),
            "w1_open_vs_closed": last.get(f"w1_open_vs_closed_{split}")}


def from_runs(runs: list[T.Run]) -> dict:
    """Figure 3's data: per run (utility), the last evaluation's rewards on both splits."""
    order = {u: k for k, u in enumerate(T.FIGURE3_UTILITIES)}
    runs = sorted(runs, key=lambda r: (order.get(r.utility, len(order)), r.label))
    return {"columns": [{"utility": r.utility, "label": r.label, "source": str(r.path),
                         "backbone": r.config.get("backbone"),
                         "train": _panel(r, "train"), "test": _panel(r, "test")}
                        for r in runs]}


def compute(*, quick: bool, source=None, runs=None) -> dict:
    if source is not None:
        return from_runs(T.find_runs(source))
    made = T.ensure_runs(T.FIGURE3_UTILITIES, root=runs, quick=quick)
    return from_runs([T.read_run(made[u]) for u in T.FIGURE3_UTILITIES])


def example() -> dict:
    """Synthetic end-of-training rewards (no training)."""
    rng = np.random.default_rng(1)
    two = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    uniform = np.linspace(1, 0, 8).tolist()
    cols = []
    for utility, opt in (("linear", {"open": two, "closed": two}),
                         ("prompt-aware", {"open": uniform, "closed": two})):
        panel = {}
        for split in ("train", "test"):
            types = ["open", "closed"] * 4
            prompts = [np.clip(np.array(opt[t]) + rng.normal(0, 0.02, 8), 0, 1).tolist()
                       for t in types]
            panel[split] = {"step": 100, "prompts": prompts, "types": types, "optimum": opt,
                            "w1_to_optimum": 0.02, "w1_open_vs_closed": 0.0}
        cols.append({"utility": utility, "label": utility, "source": "synthetic",
                     "backbone": "tiny", **panel})
    return {"columns": cols}


def _title(utility: str, label: str) -> str:
    """U(x) on the first line, its parameter (if any) on the second: columns are narrow."""
    if label != utility or utility == "prompt-aware":
        return label
    try:
        family, param = style.family_label(utility), style.parameter_label(utility)
    except (KeyError, ValueError):
        return utility
    return f"{family}\n{param}" if param else family


@register("fig3", paper_ref="Figure 3", compute=compute, example=example,
          seconds=(120, 4000), tags=("training",),
          description="end-of-training rewards per utility, open vs closed, with the optimum")
def make_figure(data: dict) -> Figure:
    cols = data["columns"]
    fig, axes = style.new_figure(2, len(cols), width=style.PAGE, height=3.9, sharey=True)
    for c, col in enumerate(cols):
        for r, split in enumerate(("train", "test")):
            ax = axes[r, c]
            panel = col[split]
            for rewards, kind in zip(panel["prompts"], panel["types"]):
                x = np.linspace(0, 1, len(rewards))
                ax.plot(x, rewards, color=TYPE_COLOURS.get(kind, style.OKABE_ITO["black"]),
                        linewidth=0.5, alpha=0.35)
            optima = panel["optimum"]
            if len({tuple(v) for v in optima.values()}) == 1:  # one U for every prompt
                optima = {"both": next(iter(optima.values()))}
            for kind, opt in optima.items():
                ax.plot(np.linspace(0, 1, len(opt)), opt,
                        color=TYPE_COLOURS.get(kind, style.THEORY), linestyle="--",
                        linewidth=1.6, marker="o", markersize=2.5)
            if r == 0:
                ax.set_title(_title(col["utility"], col["label"]), loc="left")
            if c == 0:
                ax.set_ylabel(f"{'training' if split == 'train' else 'held-out'} prompts\nreward")
            if panel.get("w1_to_optimum") is not None:
                ax.text(0.97, 0.97, f"$W_1$ to opt. {panel['w1_to_optimum']:.3f}\n"
                        f"open vs closed {panel['w1_open_vs_closed'] or 0:.3f}",
                        transform=ax.transAxes, ha="right", va="top", fontsize=5.5,
                        bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1.0))
            if r == 1:
                ax.set_xlabel("rank (0 = best)")
            ax.set_ylim(-0.03, 1.03)
    handles = [Line2D([], [], color=TYPE_COLOURS["open"], linewidth=0.8, label="open-ended prompt"),
               Line2D([], [], color=TYPE_COLOURS["closed"], linewidth=0.8,
                      label="closed-ended prompt"),
               Line2D([], [], color="0.3", linestyle="--", marker="o", markersize=2.5,
                      label="optimum of (5) for the prompt's U (solver)")]
    style.legend_below(fig, handles, [h.get_label() for h in handles], ncol=3)
    return fig
