"""figures: regenerate the paper's figures (``rcollapse figures``).

Each figure is a pair kept apart: ``compute(*, quick) -> dict`` (the numbers, from the
solvers and theory rooms, cached as JSON beside the image) and
``make_figure(data) -> matplotlib.figure.Figure`` (the picture, from the data alone).

Public API:

- :func:`register` - add a named figure (decorator on its plot function);
- :func:`all_figures`, :func:`get` - the registered figures, in order;
- :func:`build`, :func:`make` - compute or reuse data, then write PNG and PDF;
- :data:`DEFAULT_OUT` - ``out/figures``.
"""

from rcollapse.figures.build import DEFAULT_OUT, Made, build, make
from rcollapse.figures.catalog import FIGURE_MODULES, all_figures, get
from rcollapse.figures.registry import REGISTRY, FigureSpec, register

__all__ = [
    "DEFAULT_OUT",
    "FIGURE_MODULES",
    "REGISTRY",
    "FigureSpec",
    "Made",
    "all_figures",
    "build",
    "get",
    "make",
    "register",
]
