"""The design card's limit against the correct one, at gamma = 0.5.

The project's design card writes the limit of Theorem 2 as "Beta(1-γ/2, 1-γ/2)"; the
correct law is Beta((1-γ)/2, (1-γ)/2) (MATH.md, Theorem 2). Both densities are drawn
over the histogram of the optimum of (5) at n = 1000, with their KS distances to it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from rcollapse.figures import style
from rcollapse.figures.compute import distances, limit_measure, measure_curve, optimum
from rcollapse.figures.registry import register

GAMMA = 0.5
N = 1000
BINS = 25


def compute(*, quick: bool) -> dict:
    spec = f"power:{GAMMA:g}"
    sol = optimum(spec, N)
    from rcollapse.theory.limits import design_card_measure  # the card's (wrong) formula, for show

    correct, card = limit_measure(spec), design_card_measure(spec)
    ks_c, w1_c = distances(sol.rewards, correct)
    ks_w, w1_w = distances(sol.rewards, card)
    return {"spec": spec, "gamma": GAMMA, "n": N, "rewards": sol.rewards,
            "correct": {**measure_curve(correct), "ks": ks_c, "w1": w1_c},
            "card": {**measure_curve(card), "ks": ks_w, "w1": w1_w}}


def example() -> dict:
    """Small synthetic data in the shape of ``compute``'s (no solver)."""
    from scipy import stats

    x = np.linspace(0.01, 0.99, 60)
    right, wrong = stats.beta(0.25, 0.25), stats.beta(0.75, 0.75)
    return {"spec": "power:0.5", "gamma": 0.5, "n": 100,
            "rewards": right.ppf((np.arange(100) + 0.5) / 100).tolist(),
            "correct": {"describe": "Beta(0.25, 0.25)", "atoms": [], "x": x.tolist(),
                        "density": right.pdf(x).tolist(), "ks": 0.005, "w1": 0.001},
            "card": {"describe": "Beta(0.75, 0.75)", "atoms": [], "x": x.tolist(),
                     "density": wrong.pdf(x).tolist(), "ks": 0.2, "w1": 0.08}}


@register("card", paper_ref="Theorem 2 vs the design card", compute=compute,
          example=example, seconds=(3, 3),
          description="design card's Beta(1-g/2, 1-g/2) vs correct Beta((1-g)/2, (1-g)/2)")
def make_figure(data: dict) -> Figure:
    fig, axes = style.new_figure(width=style.COLUMN, height=3.2)
    ax = axes[0, 0]
    fill = style.OKABE_ITO["sky"]
    ax.hist(data["rewards"], bins=np.linspace(0, 1, BINS + 1), density=True, color=fill,
            alpha=0.55, edgecolor="white", linewidth=0.4)
    g = data["gamma"]
    correct, card = data["correct"], data["card"]
    style.plot_measure(ax, correct, color=style.OKABE_ITO["blue"], linestyle="-",
                       label=r"correct: $\mathrm{Beta}((1-\gamma)/2,(1-\gamma)/2)$" "\n"
                       f"= {correct['describe']}, KS $={correct['ks']:.3f}$")
    style.plot_measure(ax, card, color=style.OKABE_ITO["vermillion"], linestyle="--",
                       label=r"design card: $\mathrm{Beta}(1-\gamma/2,1-\gamma/2)$" "\n"
                       f"= {card['describe']}, KS $={card['ks']:.3f}$")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 3.5)
    ax.set_xlabel(r"reward $r$")
    ax.set_ylabel("density")
    ax.set_title(f"$U(x)=x^{{\\gamma}}$, $\\gamma={g:g}$, $n={data['n']}$", loc="left")
    handles, labels = ax.get_legend_handles_labels()
    hist = Patch(facecolor=fill, alpha=0.55, label=f"optimum of (5), $n={data['n']}$")
    style.legend_below(fig, [hist, *handles], [hist.get_label(), *labels], ncol=1)
    return fig
