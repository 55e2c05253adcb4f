"""Figure 2: the optimum of problem (5) for each family of utilities.

Top row: the sorted rewards r_1 >= ... >= r_8 at n = 8, the paper's setting. Bottom
row: the distribution of the rewards at a large n (a histogram) against the limiting
measure of theory/ (dashed), whose atoms are drawn as spikes with their mass on the
right-hand axis.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rcollapse.figures import style
from rcollapse.figures.compute import atom_masses, limit_measure, measure_curve, optimum
from rcollapse.figures.progress import track
from rcollapse.figures.registry import register

#: The families and parameters of the figure, one column each.
FAMILIES = (
    ("power", ("power:0.25", "power:0.5", "power:0.75")),
    ("neg-power", ("neg-power:0.5", "neg-power:1", "neg-power:2")),
    ("log", ("log",)),
    ("log-sigmoid", ("log-sigmoid:0.25", "log-sigmoid:1", "log-sigmoid:4")),
)
N_SMALL = 8
N_LARGE = {True: 400, False: 2000}  # quick, full
#: Density axis cap: Beta(a, a) with a < 1 is unbounded at the ends.
DENSITY_CAP = 3.5


def _series(spec: str, n_large: int) -> dict:
    small = optimum(spec, N_SMALL)
    large = optimum(spec, n_large)
    return {
        "spec": spec,
        "rewards_small": small.rewards,
        "rewards_large": large.rewards,
        "kkt_small": small.kkt_residual,
        "kkt_large": large.kkt_residual,
        "limit": measure_curve(limit_measure(spec)),
    }


def compute(*, quick: bool) -> dict:
    n_large = N_LARGE[quick]
    specs = [s for _, specs in FAMILIES for s in specs]
    done = {s: _series(s, n_large) for s in track(specs, desc="fig2 solves")}
    return {
        "n_small": N_SMALL,
        "n_large": n_large,
        "families": [{"family": fam, "series": [done[s] for s in specs]}
                     for fam, specs in FAMILIES],
    }


def example() -> dict:
    """Small synthetic data in the shape of ``compute``'s (no solver)."""
    from scipy import stats

    def fake(spec, n):
        a = {"power:0.25": 0.375, "power:0.5": 0.25, "power:0.75": 0.125}.get(spec, 0.6)
        return stats.beta(a, a).ppf((np.arange(n)[::-1] + 0.5) / n)

    fams = []
    for fam, specs in FAMILIES:
        series = []
        for s in specs:
            x = np.linspace(0.01, 0.99, 50)
            limit = {"describe": "Beta", "atoms": [], "atoms_are_lower_bounds": False,
                     "x": x.tolist(), "density": stats.beta(0.6, 0.6).pdf(x).tolist()}
            if fam == "log-sigmoid":
                limit["atoms"] = [[0.0, 0.3], [1.0, 0.3]]
            series.append({"spec": s, "rewards_small": fake(s, 8).tolist(),
                           "rewards_large": fake(s, 60).tolist(), "limit": limit})
        fams.append({"family": fam, "series": series})
    return {"n_small": 8, "n_large": 60, "families": fams}


def _sorted_rewards(ax, series, n_small, colors):
    i = np.arange(1, n_small + 1)
    for k, (s, c) in enumerate(zip(series, colors)):
        ax.plot(i, s["rewards_small"], color=c, marker=style.MARKERS[k],
                label=style.parameter_label(s["spec"]) or style.family_label(s["spec"]))
    ax.set_xticks(i)
    ax.set_ylim(-0.04, 1.04)
    ax.set_xlabel(r"rank $i$")


def _distribution(ax, series, colors, n_large):
    bins = np.linspace(0.0, 1.0, 21)
    has_atoms = any(s["limit"].get("atoms") for s in series)
    atom_ax = None
    if has_atoms:
        atom_ax = ax.twinx()
        atom_ax.spines["right"].set_visible(True)
        atom_ax.set_ylabel("atom mass (dots, crosses)", labelpad=2)
        atom_ax.set_ylim(0, 0.6)
    for k, (s, c) in enumerate(zip(series, colors)):
        r = np.asarray(s["rewards_large"], dtype=float)
        if has_atoms:
            # Rewards on the bounds are the finite-n atoms: drawn as crosses on the spike
            # axis, while the histogram shows the rest (its area is their share of n).
            m0, m1 = atom_masses(r)
            inside = r[(r > 1e-7) & (r < 1 - 1e-7)]
            weights = np.full(inside.size, 1.0 / (r.size * (bins[1] - bins[0])))
            ax.hist(inside, bins=bins, weights=weights, histtype="step", color=c,
                    linewidth=1.0)
            atom_ax.plot([0.0, 1.0], [m0, m1], linestyle="none", marker="x", color=c,
                         markersize=5, clip_on=False, zorder=7)
        else:
            ax.hist(r, bins=bins, density=True, histtype="step", color=c, linewidth=1.0)
        style.plot_measure(ax, s["limit"], color=c, atom_ax=atom_ax)
    ax.set_xlim(-0.02, 1.02)
    top = ax.get_ylim()[1]
    ax.set_ylim(0, min(top, DENSITY_CAP))
    ax.set_xlabel(r"reward $r$")
    return atom_ax


@register("fig2", paper_ref="Figure 2", compute=compute, example=example,
          seconds=(10, 40), description="optimum of (5) per family: n = 8 and large n vs the limit")
def make_figure(data: dict) -> Figure:
    fams = data["families"]
    fig, axes = style.new_figure(2, len(fams), width=style.PAGE, height=4.5)
    for j, fam in enumerate(fams):
        series = fam["series"]
        colors = style.series_colors(len(series))
        top, bottom = axes[0, j], axes[1, j]
        _sorted_rewards(top, series, data["n_small"], colors)
        style.panel_letter(top, "abcdefgh"[j], title=style.family_label(fam["family"]))
        if len(series) > 1:
            # r_i >= 1/2 for i <= n/2 (symmetry, Lemma 4.1): the lower left is always empty.
            top.legend(loc="lower left", borderaxespad=0.2, handlelength=1.5)
        _distribution(bottom, series, colors, data["n_large"])
        style.panel_letter(bottom, "efghijkl"[j], title=f"$n={data['n_large']}$")
    axes[0, 0].set_ylabel(f"reward $r_i$ ($n={data['n_small']}$)")
    axes[1, 0].set_ylabel("density")
    grey = "0.3"
    handles = [
        Line2D([], [], color=grey, marker="o", label=f"optimum of (5), $n={data['n_small']}$"),
        Line2D([], [], color=grey, drawstyle="steps-mid",
               label=f"histogram, $n={data['n_large']}$"),
        Line2D([], [], color=grey, linestyle="--", label="limiting measure"),
        Line2D([], [], color=grey, marker="o", linestyle="-", label="limit atom (mass)"),
        Line2D([], [], color=grey, marker="x", linestyle="none",
               label=f"share at 0 and 1, $n={data['n_large']}$"),
    ]
    style.legend_below(fig, handles, [h.get_label() for h in handles], ncol=3)
    return fig
