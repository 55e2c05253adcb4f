"""The metrics of a training run over its steps: ``metrics_figure`` and ``plot_metrics``.

The figure reads the rows of metrics.jsonl only and computes nothing: W1 to the optimum of
(5) with the verdict's collapse threshold, W1 open vs closed with its ceiling, pairwise
accuracy, and the loss on an axis with labelled ticks.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["metrics_figure", "plot_metrics"]


def _loss_scale(ax, losses) -> None:
    """symlog when the loss spans more than a decade (-1/x's starts in the thousands),
    else linear, so that the axis always carries labelled ticks."""
    from matplotlib.ticker import FuncFormatter, NullFormatter, SymmetricalLogLocator

    finite = [abs(v) for v in losses if v is not None and math.isfinite(v)]
    if finite and max(finite) > 10 * max(min(finite), 1.0):
        ax.set_yscale("symlog")
        ax.yaxis.set_major_locator(SymmetricalLogLocator(base=10, linthresh=1.0, subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title("training loss (symlog)")
    else:
        ax.set_title("training loss")


def plot_metrics(rows, path, *, title: str = "", verdict: dict | None = None) -> Path:
    """metrics.png: ``metrics_figure`` saved as a PNG."""
    fig = metrics_figure(rows, title=title, verdict=verdict)  # selects the Agg backend
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def metrics_figure(rows, *, title: str = "", verdict: dict | None = None):
    """The metrics over training (reads rows only; computes nothing): the verdict's
    collapse threshold (``COLLAPSE_FRACTION`` x W1 of flat rewards) on the W1 panel, the
    ceiling ``w1_open_vs_closed_optimum_*`` on the open-vs-closed panel, the loss on an
    axis with labelled ticks, and the verdict's line under the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rcollapse.empirical.monitor import COLLAPSE_FRACTION

    steps = [r["step"] for r in rows]
    panels = (("W1 to the optimum of (5)", "w1_to_optimum"),
              ("W1 open vs closed", "w1_open_vs_closed"),
              ("pairwise accuracy", "accuracy"))
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    for ax, (label, key) in zip(axes, panels):
        for split, style in (("train", "-"), ("test", "--")):
            ys = [r.get(f"{key}_{split}") for r in rows]
            if any(y is not None for y in ys):
                line = ax.plot(steps, [float("nan") if y is None else y for y in ys], style,
                               marker="o", ms=3, label=split)[0]
                _reference_line(ax, key, split, rows[-1], line.get_color(), COLLAPSE_FRACTION)
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    losses = [r.get("loss") for r in rows]
    axes[3].plot(steps, [float("nan") if v is None else v for v in losses], marker="o", ms=3)
    _loss_scale(axes[3], losses)
    axes[3].set_xlabel("step")
    if verdict is not None:
        title = f"{title}\n{_wrap(verdict['line'], 190)}"
    fig.suptitle(title, fontsize=9 if verdict is not None else None)
    fig.tight_layout()
    return fig


def _reference_line(ax, key: str, split: str, last: dict, color, fraction: float) -> None:
    """The collapse threshold (W1 panel) or the ceiling (open-vs-closed panel), dotted."""
    if key == "w1_to_optimum" and last.get(f"w1_flat_to_optimum_{split}") is not None:
        ax.axhline(fraction * last[f"w1_flat_to_optimum_{split}"], ls=":", color=color,
                   label=f"{split}: collapsed below ({fraction:g} x flat rewards' W1)")
    if key == "w1_open_vs_closed" and last.get(f"w1_open_vs_closed_optimum_{split}") is not None:
        ax.axhline(last[f"w1_open_vs_closed_optimum_{split}"], ls=":", color=color,
                   label=f"{split}: ceiling, the optima's value")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
