"""The paper's Figure 4: the reward distribution over training.

(a) A fixed log-sigmoid utility: open-ended and closed-ended prompts both move to the
one optimum of (5) (their W1 to it falls, and so does their W1 to each other): collapse.
(b) Prompt-aware training (x for closed-ended prompts, -1/x for open-ended ones): each
type moves to its own optimum and the two stay apart.
Left: the W1 distances against the training step; right: the mean sorted-reward profile
of each type at the first, a middle and the last evaluation, over the optima (dashed).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rcollapse.figures import style
from rcollapse.figures import training as T
from rcollapse.figures.registry import register

TYPE_COLOURS = {"open": style.OKABE_ITO["blue"], "closed": style.OKABE_ITO["vermillion"]}
ROWS = ((T.COLLAPSING_UTILITY, "fixed utility"), ("prompt-aware", "prompt-aware"))


def from_run(run: T.Run) -> dict:
    """One row of Figure 4: W1 over training, and profiles at three evaluations."""
    rows = run.metrics
    picks = sorted({0, len(rows) // 2, len(rows) - 1})
    series = {key: [row.get(key) for row in rows] for key in (
        "w1_to_optimum_open_train", "w1_to_optimum_closed_train", "w1_open_vs_closed_train",
        "w1_to_optimum_test")}
    return {"utility": run.utility, "label": run.label, "source": str(run.path),
            "steps": [row["step"] for row in rows], "series": series,
            "profiles": [{"step": rows[k]["step"],
                          "open": rows[k].get("profile_open_train"),
                          "closed": rows[k].get("profile_closed_train")} for k in picks],
            "optimum": {t: rows[-1].get(f"optimum_{t}") for t in ("open", "closed")}}


def compute(*, quick: bool, source=None, runs=None) -> dict:
    if source is not None:
        found = T.find_runs(source)
        chosen = [next((r for r in found if r.utility == u), None) for u, _ in ROWS]
        if all(r is None for r in chosen):
            chosen = found[:2]
        return {"rows": [from_run(r) for r in chosen if r is not None]}
    made = T.ensure_runs([u for u, _ in ROWS], root=runs, quick=quick)
    return {"rows": [from_run(T.read_run(made[u])) for u, _ in ROWS]}


def example() -> dict:
    """Synthetic histories (no training)."""
    two = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    uniform = np.linspace(1, 0, 8).tolist()
    steps = [0, 50, 100, 150]
    out = []
    for utility, opt_open in ((T.COLLAPSING_UTILITY, two), ("prompt-aware", uniform)):
        series = {"w1_to_optimum_open_train": [0.4, 0.2, 0.1, 0.03],
                  "w1_to_optimum_closed_train": [0.4, 0.2, 0.08, 0.02],
                  "w1_open_vs_closed_train": [0.01, 0.05, 0.1, 0.2 if opt_open is uniform else 0.01],
                  "w1_to_optimum_test": [0.4, 0.25, 0.15, 0.1]}
        mid = (np.linspace(0.6, 0.4, 8)).tolist()
        out.append({"utility": utility, "label": utility, "source": "synthetic", "steps": steps,
                    "series": series,
                    "profiles": [{"step": 0, "open": mid, "closed": mid},
                                 {"step": 150, "open": opt_open, "closed": two}],
                    "optimum": {"open": opt_open, "closed": two}})
    return {"rows": out}


@register("fig4", paper_ref="Figure 4", compute=compute, example=example,
          seconds=(30, 1000), tags=("training",),
          description="(a) fixed log-sigmoid collapses, (b) prompt-aware stays apart")
def make_figure(data: dict) -> Figure:
    rows = data["rows"]
    fig, axes = style.new_figure(len(rows), 2, width=style.PAGE, height=2.4 * len(rows))
    for r, (row, letter) in enumerate(zip(rows, "ab")):
        ax = axes[r, 0]
        s = row["series"]
        for key, label, colour, ls in (
                ("w1_to_optimum_open_train", "open-ended: $W_1$ to its optimum",
                 TYPE_COLOURS["open"], "-"),
                ("w1_to_optimum_closed_train", "closed-ended: $W_1$ to its optimum",
                 TYPE_COLOURS["closed"], "-"),
                ("w1_open_vs_closed_train", "$W_1$ open vs closed", style.OKABE_ITO["green"], "--"),
                ("w1_to_optimum_test", "held-out: $W_1$ to the optimum", "0.4", ":")):
            ys = [np.nan if v is None else v for v in s.get(key, [])]
            if ys and not all(np.isnan(ys)):
                ax.plot(row["steps"], ys, color=colour, linestyle=ls, marker=".",
                        markersize=3, label=label)
        ax.set_xlabel("training step")
        ax.set_ylabel("$W_1$ distance")
        ax.set_ylim(bottom=0)
        title = "prompt-aware" if row["utility"] == "prompt-aware" else row["label"]
        style.panel_letter(ax, letter, title=title)
        ax.legend(fontsize=6, loc="upper right")
        ax = axes[r, 1]
        alphas = np.linspace(0.35, 1.0, len(row["profiles"]))
        for prof, alpha in zip(row["profiles"], alphas):
            for kind in ("open", "closed"):
                ys = prof.get(kind)
                if ys:
                    ax.plot(np.linspace(0, 1, len(ys)), ys, color=TYPE_COLOURS[kind],
                            alpha=float(alpha), linewidth=1.0,
                            label=f"{kind}, step {prof['step']}")
        for kind, opt in row["optimum"].items():
            if opt:
                ax.plot(np.linspace(0, 1, len(opt)), opt, color=TYPE_COLOURS[kind],
                        linestyle="--", linewidth=1.4, marker="o", markersize=2.5)
        ax.set_xlabel("rank (best 0 to worst 1)")
        ax.set_ylabel("mean reward")
        ax.set_ylim(-0.03, 1.03)
        ax.legend(fontsize=5.5, ncol=2, loc="lower left")
    return fig
