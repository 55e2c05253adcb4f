"""The pictures of ``rcollapse diagnose``, drawn from its report.json (``Diagnosis.to_json()``).

- ``make_profiles``: observed normalized profiles (best first, in the ranking's order)
  over the fitted optimum of (5), one panel per most common n;
- ``make_fit``: the fit's criterion (aligned W1, ``empirical.diagnose_fit``) against
  the parameter of each family (dial coordinate a, log-sigmoid s), with the fit and its
  bootstrap interval;
- ``make_calibration``: the Bradley-Terry reliability diagram and the margin histogram.

``draw_report_plots(report, DIR)`` writes profiles.png, fit.png and calibration.png.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rcollapse.figures import style
from rcollapse.figures.io import write_png

__all__ = ["draw_report_plots", "make_calibration", "make_fit", "make_profiles"]

#: At most this many prompts drawn per panel, and this many panels (most common n first).
MAX_LINES = 40
MAX_PANELS = 4


def make_profiles(report: dict) -> Figure:
    counts = Counter(row["n"] for row in report["prompts"])
    ns = sorted(n for n, _ in counts.most_common(MAX_PANELS))
    fig, axes = style.new_figure(1, len(ns), width=style.PAGE, height=2.4, sharey=True)
    spec = report["fit"]["spec"]
    for ax, n, letter in zip(axes[0], ns, "abcd"):
        rows = [np.asarray(r["profile"], float) for r in report["prompts"] if r["n"] == n]
        x = np.arange(1, n + 1)
        for s in rows[:MAX_LINES]:
            ax.plot(x, s, color="0.7", linewidth=0.5, alpha=0.7)
        ax.plot(x, np.mean(rows, axis=0), color=style.OKABE_ITO["blue"], linewidth=1.5,
                marker="o", markersize=2.5, label="observed mean")
        ax.plot(x, report["optima"][str(n)], color=style.THEORY, linestyle="--", linewidth=1.2,
                label=f"optimum of (5), {spec}")
        ax.set_xlabel("rank (1 = best)")
        style.panel_letter(ax, letter, title=f"n = {n} ({counts[n]} prompts)")
    axes[0, 0].set_ylabel("normalized reward")
    style.legend_below(fig, ncol=2)
    return fig


def make_fit(report: dict) -> Figure:
    fit = report["fit"]
    fig, axes = style.new_figure(1, 2, width=style.PAGE, height=2.4, sharey=True)
    for ax, (fam, curve), letter in zip(axes[0], fit["curve"].items(), "ab"):
        x = np.asarray(curve["coordinate"], float)
        if fam == "log-sigmoid":
            x = np.exp(x)
            ax.set_xscale("log")
        ax.plot(x, curve["w1"], color=style.OKABE_ITO["blue"], marker="o", markersize=2)
        chosen = (fam == "dial") == (fit["coordinate"] == "a")
        if chosen:
            ax.axvline(fit["parameter"], color=style.THEORY, linestyle="--", linewidth=0.9,
                       label=f"fit {fit['spec']}")
            if fit["interval"]:
                ax.axvspan(*fit["interval"], color=style.OKABE_ITO["orange"], alpha=0.3,
                           label="95% bootstrap interval")
            ax.legend(fontsize=6)
        if fam == "dial":
            ax.axvline(0.5, color="0.6", linewidth=0.6, linestyle=":")
        ax.set_xlabel("dial a (power < 1/2 = log < neg-power)" if fam == "dial" else "log-sigmoid s")
        style.panel_letter(ax, letter, title=fam)
    axes[0, 0].set_ylabel("mean aligned W1 to the optimum")
    return fig


def make_calibration(report: dict) -> Figure:
    cal = report["calibration"]
    fig, axes = style.new_figure(1, 2, width=style.PAGE, height=2.6)
    ax = axes[0, 0]
    bins = cal["reliability"]
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=0.8)
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins],
            color=style.OKABE_ITO["vermillion"], marker="o", markersize=3)
    ax.set_xlabel(r"$p = \sigma(r_i - r_j)$ (bin mean)")
    ax.set_ylabel("share of pairs ranked this way")
    style.panel_letter(ax, "a", title=f"ECE {cal['ece']:.3f}, Brier {cal['brier']:.3f}")
    hist = cal["margin_histogram"]
    edges = np.asarray(hist["edges"], float)
    axes[0, 1].bar(edges[:-1], hist["counts"], width=np.diff(edges), align="edge",
                   color=style.OKABE_ITO["blue"], edgecolor="white", linewidth=0.3)
    axes[0, 1].set_xlabel(f"margin $r_i - r_j$ ({cal['scale']})")
    axes[0, 1].set_ylabel("pairs")
    style.panel_letter(axes[0, 1], "b", title="margins of ranked pairs")
    return fig


def draw_report_plots(report: dict, out) -> list[Path]:
    """profiles.png, fit.png, calibration.png in ``out``; returns the paths."""
    out = Path(out)
    return [write_png(make, report, out / name) for make, name in
            ((make_profiles, "profiles.png"), (make_fit, "fit.png"),
             (make_calibration, "calibration.png"))]
