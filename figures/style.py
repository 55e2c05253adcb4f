"""One style for every figure: sizes, fonts, colours and the paper's symbols.

Sizes are those of a two-column paper: a figure is one column (3.4 in) or the whole page
(7.0 in) wide and is meant to be printed at that size, so the fonts are set in points
for that size (8 pt text, 7 pt ticks and legends). Colours are the Okabe-Ito palette,
safe for the common forms of colour blindness; each series also differs in marker or
line style, so the figures survive black-and-white printing.

Every plot function draws inside :func:`paper_style` (the runner enters it) and makes
its figure with :func:`new_figure`, so that size and layout are the same everywhere.

>>> label_for("power:0.5")
'$x^{\\\\gamma}$, $\\\\gamma=0.5$'
"""

from __future__ import annotations

import contextlib

import matplotlib

matplotlib.use("Agg", force=False)  # headless: the figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = [
    "COLUMN",
    "DPI",
    "MARKERS",
    "OKABE_ITO",
    "PAGE",
    "family_label",
    "label_for",
    "legend_below",
    "n_axis",
    "new_figure",
    "panel_letter",
    "paper_style",
    "parameter_label",
    "plot_measure",
    "series_colors",
]

#: Width of one column and of the whole page of a two-column paper, in inches.
COLUMN = 3.4
PAGE = 7.0
#: Resolution of the PNG files (the PDF files are vector).
DPI = 200

#: Okabe & Ito (2008), "Color Universal Design": distinguishable by colour-blind readers.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
#: The order in which series take colours (yellow last: it is faint on white).
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
#: Colour of theory curves (limits, bounds) drawn over data.
THEORY = "#000000"

_RC = {
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "mathtext.fontset": "dejavusans",
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays text
    "figure.constrained_layout.use": True,
}


@contextlib.contextmanager
def paper_style():
    """Apply the package's matplotlib style for the duration of a ``with`` block."""
    with matplotlib.rc_context(_RC):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = COLUMN,
               height: float | None = None, **subplot_kw) -> tuple[Figure, np.ndarray]:
    """A figure of the given width (``COLUMN`` or ``PAGE``) with a grid of axes.

    Returns ``(fig, axes)`` with ``axes`` always a 2-D array of shape (nrows, ncols).
    The height defaults to a panel aspect of about 0.8.
    """
    if height is None:
        height = max(1.6, 0.8 * width / ncols * nrows)
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # a canvas of its own: no pyplot state, works headless
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.03, hspace=0.03)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def series_colors(k: int) -> list[str]:
    """The first k colours of the cycle."""
    return [CYCLE[i % len(CYCLE)] for i in range(k)]


# ---- the paper's symbols ----------------------------------------------------------------
_FAMILY = {
    "linear": r"$x$",
    "power": r"$x^{\gamma}$",
    "neg-power": r"$-x^{-\gamma}$",
    "log": r"$\log x$",
    "log-sigmoid": r"$\log\,\mathrm{sigmoid}(x/\sigma)$",
}
_PARAM = {"power": r"\gamma", "neg-power": r"\gamma", "log-sigmoid": r"\sigma"}


def _split(spec: str) -> tuple[str, float | None]:
    family, _, param = spec.partition(":")
    return family, (float(param) if param else None)


def _num(value: float) -> str:
    return f"{value:g}"


def family_label(spec_or_family: str) -> str:
    """U(x) of a family in mathtext, e.g. ``'$x^{\\gamma}$'`` for ``power``."""
    return _FAMILY[_split(spec_or_family)[0]]


def parameter_label(spec: str) -> str:
    """The parameter alone, e.g. ``'$\\gamma=0.5$'``; empty for a family without one."""
    family, param = _split(spec)
    if param is None:
        return ""
    return f"${_PARAM[family]}={_num(param)}$"


def label_for(spec: str) -> str:
    """U(x) and its parameter, e.g. ``'$x^{\\gamma}$, $\\gamma=0.5$'``."""
    p = parameter_label(spec)
    return family_label(spec) + (f", {p}" if p else "")


# ---- helpers for the figures ------------------------------------------------------------
def legend_below(fig: Figure, handles=None, labels=None, *, ncol: int | None = None, **kw):
    """A legend outside the axes, under the figure, so that it never covers data."""
    if handles is None:
        handles, labels = [], []
        seen = set()
        for ax in fig.axes:
            for h, l in zip(*ax.get_legend_handles_labels()):
                if l not in seen and not l.startswith("_"):
                    seen.add(l)
                    handles.append(h)
                    labels.append(l)
    if ncol is None:
        ncol = min(len(labels), 4) or 1
    return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, **kw)


def panel_letter(ax, letter: str, *, title: str = ""):
    """A bold panel letter, (a), (b), ..., and an optional title, left-aligned on top."""
    ax.set_title(f"$\\mathbf{{({letter})}}$ {title}".rstrip(), loc="left")


def plot_measure(ax, curve: dict, *, color=THEORY, label: str | None = None,
                 atom_ax=None, linestyle="--", linewidth=1.1):
    """Draw a limiting measure serialized by :func:`figures.compute.measure_curve`.

    The continuous part is drawn as a density on ``ax``; each atom is drawn as a spike,
    a vertical stem with a dot on top whose height is the atom's mass, on ``atom_ax``
    (a twin axis labelled "atom mass"; ``ax`` itself when None).
    """
    x = np.asarray(curve.get("x") or [], dtype=float)
    density = curve.get("density")
    drawn = None
    if x.size and density is not None:
        d = np.array([np.nan if v is None else v for v in density], dtype=float)
        (drawn,) = ax.plot(x, d, color=color, linestyle=linestyle, linewidth=linewidth,
                           label=label, zorder=4)
    spikes = atom_ax if atom_ax is not None else ax
    for pos, mass in curve.get("atoms") or []:
        hollow = bool(curve.get("atoms_are_lower_bounds"))
        spikes.vlines(pos, 0.0, mass, color=color, linewidth=linewidth + 0.6, zorder=5,
                      linestyle=":" if hollow else "-")
        spikes.plot([pos], [mass], marker="o", color=color, markersize=4.5, zorder=6,
                    markerfacecolor="white" if hollow else color, clip_on=False,
                    label=None if drawn is not None else label)
        label = None if drawn is None else label
    return drawn


def n_axis(ax, ns, *, max_ticks: int = 7):
    """A log2 x axis for the number of completions n, ticked at the n used, in plain digits."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ns = sorted({int(n) for n in ns})
    step = max(1, -(-len(ns) // max_ticks))
    ticks = ns[::-1][::step][::-1]  # the largest n is always ticked
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([_n_label(t) for t in ticks])
    ax.set_xlabel(r"number of completions $n$")


def _n_label(n: int) -> str:
    """Plain digits, or $10^k$ for a power of ten from 10^4 on (1000000 is hard to read).

    >>> [_n_label(n) for n in (1024, 10_000, 20_000, 1_000_000)]
    ['1024', '$10^{4}$', '20000', '$10^{6}$']
    """
    k = len(str(n)) - 1
    return f"$10^{{{k}}}$" if n >= 10_000 and n == 10 ** k else str(n)


def close(fig: Figure) -> None:
    """Release a figure made by :func:`new_figure` (no pyplot state is involved)."""
    fig.clear()
    plt.close(fig)
