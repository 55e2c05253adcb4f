"""Convergence of the reward distribution to its limit, as n grows.

For each family, the KS and W1 distances (theory.distances) between the optimum of (5)
at n (solvers.solve) and the limiting measure (theory.limits; for log-sigmoid the exact
one, from solvers.solve_limit), on log-log axes. A line fitted over n >= N_FIT gives the
empirical rate: distance ~ c n^-p.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rcollapse.figures import style
from rcollapse.figures.compute import distances, limit_measure, loglog_rate, optimum
from rcollapse.figures.progress import track
from rcollapse.figures.registry import register

SPECS = ("power:0.5", "log", "neg-power:0.5", "neg-power:2", "log-sigmoid:1")
#: quick: up to 512; full: up to 10^6 (from 10^5 on by the fast method, figures.compute).
NS = {True: (8, 16, 32, 64, 128, 256, 512),
      False: (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 10_000, 100_000, 1_000_000)}
N_FIT = 32  # the fit leaves out the smallest n, before the asymptotic regime
METRICS = (("ks", "KS distance"), ("w1", r"$W_1$ distance"))


def compute(*, quick: bool) -> dict:
    ns = list(NS[quick])
    series = []
    for spec in track(SPECS, desc="convergence"):
        measure = limit_measure(spec)
        ks, w1 = [], []
        for n in ns:
            k, w = distances(optimum(spec, n).rewards, measure)
            ks.append(k)
            w1.append(w)
        series.append({"spec": spec, "limit": measure.describe(), "ks": ks, "w1": w1,
                       "fit": {"ks": loglog_rate(ns, ks, n_min=N_FIT),
                               "w1": loglog_rate(ns, w1, n_min=N_FIT)}})
    return {"ns": ns, "n_fit": N_FIT, "series": series}


def example() -> dict:
    """Small synthetic data in the shape of ``compute``'s (no solver)."""
    ns = [8, 16, 32, 64, 128]
    series = []
    for k, spec in enumerate(SPECS):
        ks = [0.5 / n * (1 + 0.1 * k) for n in ns]
        w1 = [0.2 / n ** 1.5 * (1 + 0.1 * k) for n in ns]
        series.append({"spec": spec, "limit": "Beta", "ks": ks, "w1": w1,
                       "fit": {"ks": loglog_rate(ns, ks, n_min=32),
                               "w1": loglog_rate(ns, w1, n_min=32)}})
    return {"ns": ns, "n_fit": 32, "series": series}


def _rate(fit: dict) -> str:
    return "" if fit.get("rate") is None else f" $n^{{-{fit['rate']:.2f}}}$"


@register("convergence", paper_ref="Theorems 2-5 (rates)", compute=compute, example=example,
          seconds=(10, 1800), description="KS and W1 to the limit vs n, log-log, fitted rates")
def make_figure(data: dict) -> Figure:
    ns = np.asarray(data["ns"], dtype=float)
    fig, axes = style.new_figure(1, 2, width=style.PAGE, height=3.0)
    colors = style.series_colors(len(data["series"]))
    for j, (key, name) in enumerate(METRICS):
        ax = axes[0, j]
        for k, s in enumerate(data["series"]):
            values = np.array([np.nan if v is None else v for v in s[key]], dtype=float)
            fit = s["fit"][key]
            ax.plot(ns, values, color=colors[k], marker=style.MARKERS[k], linewidth=0.9,
                    markerfacecolor="none", markeredgewidth=0.9, markersize=4.5,
                    label=f"{style.label_for(s['spec'])}:{_rate(fit)}")
            if fit.get("rate") is not None:
                nn = ns[ns >= fit["n_min"]]
                ax.plot(nn, fit["c"] * nn ** -fit["rate"], color=colors[k], linewidth=0.6,
                        linestyle=":", zorder=1)
        style.n_axis(ax, ns)
        ax.set_yscale("log")
        ax.set_ylabel(f"{name} to the limit")
        style.panel_letter(ax, "ab"[j], title=name)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  title=f"fitted rate over $n\\geq{data['n_fit']}$ (dotted)",
                  columnspacing=1.0)
    return fig
