"""Theorems 2 and 3: the optimum of (5) at n = 1000 against the predicted Beta laws.

Top row, Theorem 2: U = x^gamma, limit Beta((1 - gamma)/2, (1 - gamma)/2). Bottom row,
Theorem 3: U = log x, limit Beta(1/2, 1/2) (the arcsine law); U = -x^(-gamma) with
0 < gamma < 1, limit Beta((1 + gamma)/2, (1 + gamma)/2); gamma >= 1, limit uniform.
Each panel gives the KS distance between the optimum and the predicted law.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from rcollapse.figures import style
from rcollapse.figures.compute import distances, limit_measure, measure_curve, optimum
from rcollapse.figures.progress import track
from rcollapse.figures.registry import register

ROWS = (
    ("Theorem 2", ("power:0.25", "power:0.5", "power:0.75")),
    ("Theorem 3", ("log", "neg-power:0.5", "neg-power:1")),
)
N = {True: 1000, False: 1000}  # the theorem's picture is at n = 1000 in both modes
BINS = 25
DENSITY_CAP = 4.0


def compute(*, quick: bool) -> dict:
    n = N[quick]
    rows = []
    for theorem, specs in ROWS:
        panels = []
        for spec in track(specs, desc=f"{theorem} solves"):
            sol = optimum(spec, n)
            measure = limit_measure(spec)
            ks, w1 = distances(sol.rewards, measure)
            panels.append({"spec": spec, "rewards": sol.rewards, "kkt": sol.kkt_residual,
                           "limit": measure_curve(measure), "ks": ks, "w1": w1})
        rows.append({"theorem": theorem, "panels": panels})
    return {"n": n, "rows": rows}


def example() -> dict:
    """Small synthetic data in the shape of ``compute``'s (no solver)."""
    from scipy import stats

    x = np.linspace(0.01, 0.99, 60)
    rows = []
    for theorem, specs in ROWS:
        panels = []
        for spec in specs:
            law = stats.beta(0.4, 0.4)
            panels.append({"spec": spec, "rewards": law.ppf((np.arange(80) + 0.5) / 80),
                           "limit": {"describe": "Beta(0.4, 0.4)", "atoms": [],
                                     "x": x, "density": law.pdf(x)},
                           "ks": 0.01, "w1": 0.001})
        rows.append({"theorem": theorem, "panels": panels})
    from rcollapse.figures.io import to_jsonable

    return to_jsonable({"n": 80, "rows": rows})


@register("thm2-3", paper_ref="Theorems 2 and 3", compute=compute, example=example,
          seconds=(15, 15), description="n = 1000 optimum vs the Beta limits (and arcsine for log)")
def make_figure(data: dict) -> Figure:
    rows = data["rows"]
    ncols = max(len(r["panels"]) for r in rows)
    fig, axes = style.new_figure(len(rows), ncols, width=style.PAGE, height=4.3)
    bins = np.linspace(0.0, 1.0, BINS + 1)
    fill = style.OKABE_ITO["sky"]
    letters = iter("abcdefghijkl")
    for i, row in enumerate(rows):
        for j, panel in enumerate(row["panels"]):
            ax = axes[i, j]
            ax.hist(panel["rewards"], bins=bins, density=True, color=fill, alpha=0.55,
                    edgecolor="white", linewidth=0.4)
            style.plot_measure(ax, panel["limit"], color=style.THEORY, linestyle="-",
                               linewidth=1.2)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, DENSITY_CAP)
            style.panel_letter(ax, next(letters),
                               title=f"{row['theorem']}: {style.label_for(panel['spec'])}")
            ax.text(0.5, 0.97, f"{panel['limit']['describe']}\nKS $={panel['ks']:.3f}$",
                    transform=ax.transAxes, ha="center", va="top", fontsize=7)
            ax.set_xlabel(r"reward $r$")
        axes[i, 0].set_ylabel("density")
        for j in range(len(row["panels"]), ncols):
            axes[i, j].set_visible(False)
    handles = [Patch(facecolor=fill, alpha=0.55, label=f"optimum of (5), $n={data['n']}$"),
               Line2D([], [], color=style.THEORY, label="predicted limit (theory)")]
    style.legend_below(fig, handles, [h.get_label() for h in handles], ncol=2)
    return fig
