"""The limit of the normalized optimum (Lemma 4.5): (2 / (n (n-1))) max S, as n grows.

For U = x^gamma the normalized optimum, the mean utility over the n(n-1)/2 pairs at the
optimum of (5) (solvers.solve's objective), tends to pi / (B(a, a) cos(pi gamma / 2)),
a = (1 - gamma)/2. Left: the values against n with the limits dashed. Right: the gap to
the limit on log-log axes, with a fitted rate.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rcollapse.figures import style
from rcollapse.figures.compute import loglog_rate, optimum
from rcollapse.figures.progress import track
from rcollapse.figures.registry import register
from rcollapse.theory.derivations import limit_energy

GAMMAS = (0.25, 0.5, 0.75)
NS = {True: (4, 8, 16, 32, 64, 128, 256, 512), False: (4, 8, 16, 32, 64, 128, 256, 512,
                                                        1024, 2048)}
N_FIT = 32


def compute(*, quick: bool) -> dict:
    ns = list(NS[quick])
    series = []
    for g in track(GAMMAS, desc="energy"):
        spec = f"power:{g:g}"
        values = [2.0 * optimum(spec, n).objective / (n * (n - 1)) for n in ns]
        limit = float(limit_energy(spec))
        gaps = [abs(limit - v) for v in values]
        series.append({"spec": spec, "gamma": g, "values": values, "limit": limit,
                       "gaps": gaps, "fit": loglog_rate(ns, gaps, n_min=N_FIT)})
    return {"ns": ns, "n_fit": N_FIT, "series": series}


def example() -> dict:
    """Small synthetic data in the shape of ``compute``'s (no solver)."""
    ns = [4, 8, 16, 32, 64]
    series = []
    for g in GAMMAS:
        lim = 0.8 - 0.3 * g
        values = [lim + 0.3 / n for n in ns]
        gaps = [abs(lim - v) for v in values]
        series.append({"spec": f"power:{g:g}", "gamma": g, "values": values, "limit": lim,
                       "gaps": gaps, "fit": loglog_rate(ns, gaps, n_min=8)})
    return {"ns": ns, "n_fit": 8, "series": series}


@register("energy", paper_ref="Lemma 4.5 (limit of max S)", compute=compute,
          example=example, seconds=(5, 25),
          description="normalized optimum (2/(n(n-1))) max S vs n and its limit")
def make_figure(data: dict) -> Figure:
    ns = np.asarray(data["ns"], dtype=float)
    fig, axes = style.new_figure(1, 2, width=style.PAGE, height=2.7)
    left, right = axes[0]
    colors = style.series_colors(len(data["series"]))
    for k, s in enumerate(data["series"]):
        c, m = colors[k], style.MARKERS[k]
        fit = s["fit"]
        rate = "" if fit["rate"] is None else f" (gap $\\propto n^{{-{fit['rate']:.2f}}}$)"
        left.plot(ns, s["values"], color=c, marker=m, linewidth=0.9,
                  label=f"{style.label_for(s['spec'])}{rate}")
        left.axhline(s["limit"], color=c, linestyle="--", linewidth=0.9, zorder=1)
        right.plot(ns, s["gaps"], color=c, marker=m, linewidth=0.9)
        if fit["rate"] is not None:
            nn = ns[ns >= fit["n_min"]]
            right.plot(nn, fit["c"] * nn ** -fit["rate"], color=c, linestyle=":",
                       linewidth=0.6, zorder=1)
    left.plot([], [], color="0.3", linestyle="--",
              label=r"limit $\pi/(B(a,a)\cos(\pi\gamma/2))$, $a=(1-\gamma)/2$")
    left.plot([], [], color="0.3", linestyle=":", label=f"fit over $n\\geq{data['n_fit']}$")
    for ax in (left, right):
        style.n_axis(ax, ns)
    left.set_ylabel(r"$2\,\max S\,/\,(n(n-1))$")
    style.panel_letter(left, "a", title="normalized optimum of (5)")
    right.set_yscale("log")
    right.set_ylabel("distance to the limit")
    style.panel_letter(right, "b", title="gap to the limit")
    style.legend_below(fig, ncol=3)
    return fig
