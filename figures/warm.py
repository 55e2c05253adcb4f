"""WARM's pictures (Ramé et al. 2024), from the report of ``rcollapse warm``.

- ``warm-lmc``: linear mode connectivity. The validation loss and pairwise accuracy along
  theta(l) = (1 - l) theta_1 + l theta_2 between two members fine-tuned from one shared
  initialization, with the straight line between the endpoint losses; the barrier is
  the largest gap above that line.
- ``warm-bon``: best-of-N. The expected true reward (length) of the completion that
  each reward model picks among N candidates (the unbiased estimator over the pool,
  means over the repeats), against N, for the members, their mean, the weight average
  (``warm``), the greedy soup and the prediction ensemble, beside the oracle and a
  random pick.

The same two drawings are a run's own ``lmc.png`` and ``best_of_n.png``:
``draw_run_plots(report, DIR)`` draws them from the report that ``run_warm`` returns
(``rcollapse warm`` calls it; the empirical room draws nothing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rcollapse.figures import style
from rcollapse.figures.io import write_png
from rcollapse.figures import training as T
from rcollapse.figures.registry import register

COMBINED = {"warm": style.OKABE_ITO["blue"], "greedy": style.OKABE_ITO["green"],
            "ensemble": style.OKABE_ITO["vermillion"], "members_mean": style.OKABE_ITO["black"]}


def noise_text(label: str) -> str:
    """'p0' -> 'clean labels', 'p0.25' -> '25% of rankings corrupted' (report.json's keys)."""
    try:
        p = float(label[1:]) if label.startswith("p") else float(label)
    except ValueError:
        return label
    return "clean labels" if p == 0 else f"{p:.0%} of rankings corrupted"


def _report(*, quick: bool, source, runs) -> T.WarmReport:
    if source is not None:
        return T.read_warm(source)
    return T.read_warm(T.ensure_warm(root=runs, quick=quick))


def lmc_data(report: dict, *, source: str) -> dict:
    """``make_lmc``'s data from a WARM report: one curve per noise level."""
    lmc = report["lmc"]
    curves = lmc.get("by_noise") or {"clean": {k: lmc[k] for k in ("lambdas", "loss", "accuracy",
                                                                   "barrier")}}
    return {"source": source, "curves": curves}


def bon_data(report: dict, *, source: str) -> dict:
    """``make_bon``'s data from a WARM report (ValueError when it has no best-of-N)."""
    best = report["best_of_n"]
    if "picked" not in best:
        raise ValueError(f"--from {source}: the report has no best-of-N ({best.get('skipped')})")
    return {"source": source, "N": best["N"], "oracle": best["oracle"],
            "random": best["random"], "picked": best["picked"]}


def compute_lmc(*, quick: bool, source=None, runs=None) -> dict:
    rep = _report(quick=quick, source=source, runs=runs)
    return lmc_data(rep.report, source=str(rep.path))


def compute_bon(*, quick: bool, source=None, runs=None) -> dict:
    rep = _report(quick=quick, source=source, runs=runs)
    return bon_data(rep.report, source=str(rep.path))


def example_lmc() -> dict:
    lam = np.linspace(0, 1, 11)
    return {"source": "synthetic", "curves": {
        "p0": {"lambdas": lam.tolist(), "loss": (1.0 + 0.05 * np.sin(np.pi * lam)).tolist(),
               "accuracy": (0.9 - 0.01 * np.sin(np.pi * lam)).tolist(), "barrier": 0.05}}}


def example_bon() -> dict:
    N = [1, 2, 4, 8, 16, 32]
    base = np.log2(N)
    return {"source": "synthetic", "N": N, "oracle": (40 + 8 * base).tolist(),
            "random": [40.0] * 6, "picked": {"p0": {
                "member_0": (40 + 5 * base).tolist(), "member_1": (40 + 5.5 * base).tolist(),
                "warm": (40 + 6.5 * base).tolist(), "greedy": (40 + 6.2 * base).tolist(),
                "ensemble": (40 + 6.4 * base).tolist()}}}


@register("warm-lmc", paper_ref="WARM: linear mode connectivity", compute=compute_lmc,
          example=example_lmc, seconds=(150, 5000), tags=("training", "warm"),
          description="loss and accuracy between two fine-tuned members; the barrier")
def make_lmc(data: dict) -> Figure:
    fig, axes = style.new_figure(1, 2, width=style.PAGE, height=2.6)
    colours = style.series_colors(len(data["curves"]))
    for (label, c), colour in zip(data["curves"].items(), colours):
        lam, loss = np.asarray(c["lambdas"], float), np.asarray(c["loss"], float)
        axes[0, 0].plot(lam, loss, color=colour, marker="o", markersize=2.5,
                        label=f"{noise_text(label)}: barrier {c['barrier']:.3g}")
        axes[0, 0].plot(lam, (1 - lam) * loss[0] + lam * loss[-1], color=colour,
                        linestyle=":", linewidth=0.8)
        axes[0, 1].plot(lam, c["accuracy"], color=colour, marker="o", markersize=2.5,
                        label=noise_text(label))
    axes[0, 0].set_xlabel(r"$\lambda$ in $(1-\lambda)\theta_1 + \lambda\theta_2$")
    axes[0, 0].set_ylabel("validation loss, $-$(1) per prompt")
    style.panel_letter(axes[0, 0], "a", title="loss (dotted: straight line)")
    axes[0, 1].set_xlabel(r"$\lambda$")
    axes[0, 1].set_ylabel("pairwise ranking accuracy")
    style.panel_letter(axes[0, 1], "b", title="accuracy")
    for ax in axes[0]:
        ax.legend(fontsize=6)
    return fig


@register("warm-bon", paper_ref="WARM: best-of-N", compute=compute_bon,
          example=example_bon, seconds=(1, 1), tags=("training", "warm"),
          description="true reward of the best-of-N pick for members, warm, greedy, ensemble")
def make_bon(data: dict) -> Figure:
    picked = data["picked"]
    fig, axes = style.new_figure(1, len(picked), width=style.PAGE if len(picked) > 1 else style.COLUMN,
                                 height=2.8, sharey=True)
    N = data["N"]
    for ax, (label, by_model), letter in zip(axes[0], picked.items(), "abcd"):
        ax.plot(N, data["oracle"], color=style.THEORY, linestyle="--", linewidth=1.0,
                label="oracle (longest)")
        ax.plot(N, data["random"], color=style.THEORY, linestyle=":", linewidth=1.0,
                label="random pick")
        for name, ys in by_model.items():
            if name in COMBINED:
                ax.plot(N, ys, color=COMBINED[name], linewidth=1.8, marker="o", markersize=3,
                        label=name)
            else:
                ax.plot(N, ys, color="0.55", linewidth=0.7, alpha=0.8,
                        label="members" if name.endswith("_0") else None)
        ax.set_xscale("log", base=2)
        ax.set_xticks(N, [str(n) for n in N])
        ax.set_xlabel("N candidates")
        style.panel_letter(ax, letter, title=f"members trained on {noise_text(label)}")
    axes[0, 0].set_ylabel("true reward of the pick (words)")
    style.legend_below(fig, ncol=3)
    return fig


def draw_run_plots(report: dict, run_dir) -> list[Path]:
    """A WARM run's own pictures, from its report: ``DIR/lmc.png`` (``make_lmc``) and,
    when the report has best-of-N (built-in data), ``DIR/best_of_n.png`` (``make_bon``).
    Returns the paths written."""
    run_dir = Path(run_dir)
    source = str(run_dir / "report.json")
    paths = [write_png(make_lmc, lmc_data(report, source=source), run_dir / "lmc.png")]
    if "picked" in report["best_of_n"]:
        paths.append(write_png(make_bon, bon_data(report, source=source),
                               run_dir / "best_of_n.png"))
    return paths
