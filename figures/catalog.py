"""Where the figures live: the modules that register them, in the order of a run.

Adding a figure (the training Figures 1, 3 and 4, say) means writing its module, with
``compute``, ``example`` and a ``make_figure`` decorated by ``figures.register``, and
adding the module's name here. Nothing else in the machinery changes.
"""

from __future__ import annotations

import importlib

from rcollapse.figures.registry import REGISTRY, FigureSpec

__all__ = ["FIGURE_MODULES", "all_figures", "get", "load"]

#: The modules that register figures, in the order of ``--list`` and of a run.
FIGURE_MODULES = (
    "rcollapse.figures.fig2",
    "rcollapse.figures.thm23",
    "rcollapse.figures.thm4",
    "rcollapse.figures.convergence",
    "rcollapse.figures.card",
    "rcollapse.figures.energy",
    # The training figures: they read runs of rcollapse train / warm (figures.training).
    "rcollapse.figures.fig1",
    "rcollapse.figures.fig3",
    "rcollapse.figures.fig4",
    "rcollapse.figures.warm",
)


def load() -> dict[str, FigureSpec]:
    """Import every figure module (registering its figures) and return the registry."""
    for module in FIGURE_MODULES:
        importlib.import_module(module)
    return REGISTRY


def all_figures() -> list[FigureSpec]:
    """Every registered figure, in order."""
    return list(load().values())


def get(name: str) -> FigureSpec:
    """The figure called ``name``; ValueError (one line) naming the known ones if none."""
    registry = load()
    if name not in registry:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(registry)}")
    return registry[name]
