"""The registry of named figures: each one a data function and a plot function.

A figure is registered once, where its plot function is defined::

    def compute(*, quick: bool) -> dict: ...        # the numbers, JSON-able
    def example() -> dict: ...                      # small synthetic data, no solver

    @register("fig2", paper_ref="Figure 2", compute=compute, example=example,
              seconds=(15, 60), description="the optimum of (5) for each family")
    def make_figure(data: dict) -> Figure: ...

``compute`` is the only part that may be slow (a solver, a training run, reading saved
runs); ``make_figure`` only reads ``data``, so a restyle re-plots from the JSON cache.
The training figures (paper Figures 1, 3 and 4) register the same way: their
``compute`` reads the saved training results instead of calling a solver.

Which modules hold figures is listed once, in ``figures.catalog.FIGURE_MODULES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # matplotlib loads only where a figure is drawn
    from matplotlib.figure import Figure

__all__ = ["FigureSpec", "REGISTRY", "register"]


@dataclass(frozen=True)
class FigureSpec:
    """One named figure.

    ``seconds`` is the expected compute time ``(quick, full)`` on the reference machine
    (2 CPU cores); the runner adds them up to say how long a run will take. Bump
    ``version`` when ``compute`` changes what it returns: caches of another version are
    recomputed.
    """

    name: str
    paper_ref: str
    compute: Callable[..., dict]
    plot: Callable[[dict], Figure]
    description: str = ""
    example: Callable[[], dict] | None = None
    seconds: tuple[float, float] = (1.0, 1.0)
    version: int = 1
    tags: tuple[str, ...] = field(default_factory=tuple)

    def expected_seconds(self, quick: bool) -> float:
        return float(self.seconds[0] if quick else self.seconds[1])


#: name -> FigureSpec, in registration order (the order of ``--list`` and of a run).
REGISTRY: dict[str, FigureSpec] = {}


def register(name: str, *, paper_ref: str, compute: Callable[..., dict],
             plot: Callable[[dict], Figure] | None = None, description: str = "",
             example: Callable[[], dict] | None = None,
             seconds: tuple[float, float] = (1.0, 1.0), version: int = 1,
             tags: tuple[str, ...] = ()):
    """Register figure ``name``; use as a decorator on its plot function, or pass ``plot``.

    Registering a name twice with a different plot function is an error (two figures
    would write the same files); re-importing the same module is harmless.
    """
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"figure name {name!r}: use letters, digits, '-' and '_'")

    def add(plot_fn: Callable[[dict], Figure]):
        spec = FigureSpec(name=name, paper_ref=paper_ref, compute=compute, plot=plot_fn,
                          description=description, example=example, seconds=tuple(seconds),
                          version=version, tags=tuple(tags))
        old = REGISTRY.get(name)
        if old is not None and _qualname(old.plot) != _qualname(plot_fn):
            raise ValueError(f"figure {name!r} is registered twice "
                             f"({_qualname(old.plot)} and {_qualname(plot_fn)})")
        REGISTRY[name] = spec
        return plot_fn

    return add(plot) if plot is not None else add


def _qualname(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
