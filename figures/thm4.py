"""Theorem 4: the mass of the atoms of the log-sigmoid limit against sigma.

For U = log sigmoid(x / sigma) the limit has atoms at 0 and 1 of equal mass. Three
things are drawn against sigma (log axis): Theorem 4's lower bound
U'(1) / (U'(0) + U'(1)) (theory.limits), the exact mass from the n = inf solver
(solvers.solve_limit), and the share of the rewards at 0 in the optimum of (5) at finite
n (solvers.solve). As sigma grows U tends to a linear utility, whose limit has atoms of
mass 1/2.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rcollapse.figures import style
from rcollapse.figures.compute import atom_at, atom_masses, limit_measure, optimum
from rcollapse.figures.progress import track
from rcollapse.figures.registry import register
from rcollapse.theory.derivations import theorem4_bound

SIGMAS = {True: np.geomspace(0.05, 20, 9), False: np.geomspace(0.05, 20, 17)}
FINITE_N = {True: (8, 100, 1000), False: (8, 100, 1000, 2000)}


def _spec(sigma: float) -> str:
    return f"log-sigmoid:{sigma:.6g}"


def compute(*, quick: bool) -> dict:
    sigmas = [float(f"{s:.4g}") for s in SIGMAS[quick]]
    ns = FINITE_N[quick]
    bound, exact = [], []
    finite = {str(n): [] for n in ns}
    for s in track(sigmas, desc="thm4 sigma"):
        spec = _spec(s)
        bound.append(float(theorem4_bound(spec)))
        exact.append(atom_at(limit_measure(spec), 0.0))
        for n in ns:
            m0, m1 = atom_masses(optimum(spec, n).rewards)
            finite[str(n)].append(0.5 * (m0 + m1))  # the two atoms are equal (symmetry)
    return {"sigmas": sigmas, "bound": bound, "exact": exact, "finite": finite}


def example() -> dict:
    """Small synthetic data in the shape of ``compute``'s (no solver)."""
    s = np.geomspace(0.05, 20, 7)
    bound = 1 / (1 + np.exp(1 / s)) / (0.5 + 1 / (1 + np.exp(1 / s)))
    exact = np.minimum(bound * 1.1, 0.5)
    return {"sigmas": s.tolist(), "bound": bound.tolist(), "exact": exact.tolist(),
            "finite": {"8": (np.round(exact * 8) / 8).tolist(), "100": exact.tolist()}}


@register("thm4", paper_ref="Theorem 4", compute=compute, example=example, seconds=(15, 50),
          description="log-sigmoid atom mass vs sigma: bound, exact (n = inf), finite n")
def make_figure(data: dict) -> Figure:
    fig, axes = style.new_figure(width=style.COLUMN, height=2.9)
    ax = axes[0, 0]
    s = np.asarray(data["sigmas"], dtype=float)
    colors = style.series_colors(len(data["finite"]) + 1)
    ax.axhline(0.5, color="0.6", linewidth=0.7, linestyle=":", zorder=1)
    ax.text(s[0], 0.505, r"$\sigma\to\infty$: linear, mass $1/2$", fontsize=6.5,
            color="0.35", va="bottom")
    ax.plot(s, data["exact"], color=style.THEORY, linewidth=1.4,
            label=r"exact, $n=\infty$ solver")
    ax.plot(s, data["bound"], color=style.THEORY, linestyle="--", linewidth=1.2,
            label="Theorem 4 lower bound")
    for k, (n, masses) in enumerate(data["finite"].items()):
        ax.plot(s, masses, linestyle="none", marker=style.MARKERS[k], color=colors[k],
                markerfacecolor="none", markeredgewidth=0.9, label=f"$n={n}$")
    ax.set_xscale("log")
    ax.set_ylim(0, 0.56)
    ax.set_xlabel(r"scale $\sigma$ of $U(x)=\log\,\mathrm{sigmoid}(x/\sigma)$")
    ax.set_ylabel(r"atom mass $\mu(\{0\})=\mu(\{1\})$")
    style.legend_below(fig, ncol=3)
    return fig
