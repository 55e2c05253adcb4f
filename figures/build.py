"""Make figures: compute their data (or reuse the JSON cache), plot, write PNG and PDF.

The cache rule: ``OUT/NAME.json`` is reused when it was written by the same figure at
the same ``version``, and it is at least as thorough as the request (a full cache serves
a ``--quick`` run too; a quick cache does not serve a full run). ``recompute=True``
ignores it.

>>> import tempfile
>>> from rcollapse.figures.registry import FigureSpec
>>> from rcollapse.figures.style import new_figure
>>> def _plot(data):
...     fig, axes = new_figure()
...     axes[0, 0].plot(data["x"], data["y"])
...     return fig
>>> spec = FigureSpec("demo", "none", compute=lambda *, quick: {"x": [0, 1], "y": [1, 0]},
...                   plot=_plot)
>>> out = tempfile.mkdtemp()
>>> make(spec, out=out).cached, make(spec, out=out).cached
(False, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rcollapse.figures import io, progress
from rcollapse.figures.registry import FigureSpec
from rcollapse.outputs import check_output_dir

__all__ = ["DEFAULT_OUT", "Made", "build", "cache_path", "load_cached", "make", "plan",
           "check_source", "reads_runs", "runs_folder"]

#: Default output folder, relative to the current directory (``/out/`` is git-ignored).
DEFAULT_OUT = Path("out") / "figures"


@dataclass(frozen=True)
class Made:
    """What :func:`make` did for one figure."""

    name: str
    paths: tuple[Path, ...]  # the JSON cache, then the images
    cached: bool  # True when the data came from the cache
    compute_seconds: float  # 0 when cached
    seconds: float  # everything, plotting included
    notes: tuple[str, ...] = ()  # remarks made while computing (none when cached)


def cache_path(out, name: str) -> Path:
    return Path(out) / f"{name}.json"


def load_cached(spec: FigureSpec, out, *, quick: bool) -> dict | None:
    """The cached data of ``spec`` in ``out`` if the cache rule allows reusing it."""
    data = io.load_json(cache_path(out, spec.name))
    if data is None:
        return None
    meta = data.get("meta") or {}
    if meta.get("figure") != spec.name or meta.get("version") != spec.version:
        return None
    if meta.get("quick", True) and not quick:  # a quick cache never serves a full run
        return None
    if meta.get("source"):  # drawn from a user's runs (--from): never reused silently
        return None
    return data


def reads_runs(spec: FigureSpec) -> bool:
    """True for a training figure: its data comes from saved training runs."""
    return "training" in spec.tags


def check_source(specs: list[FigureSpec], source) -> None:
    """``--from RUNS`` (None: no runs given) suits only training figures, and must be a
    folder; ValueError (one line) otherwise, before any work."""
    if source is None:
        return
    other = [s.name for s in specs if not reads_runs(s)]
    if other:
        raise ValueError(f"--from applies to the training figures only, not to {', '.join(other)}")
    if not Path(source).is_dir():
        raise ValueError(f"--from {source}: no such folder")


def runs_folder(out) -> Path:
    """Where ``rcollapse figures`` makes the training runs it needs: ``OUT/runs``."""
    return Path(out) / "runs"


def compute_data(spec: FigureSpec, *, quick: bool, source=None, runs=None) -> dict:
    """Run ``spec.compute`` and stamp its result with a ``meta`` entry.

    A training figure reads the runs in ``source`` (``--from DIR``) when given, and
    otherwise makes (or reuses) its runs under ``runs``.
    """
    start = time.perf_counter()
    progress.take_notes()  # drop stale remarks
    if reads_runs(spec):
        data = spec.compute(quick=quick, source=source, runs=runs)
    elif source is not None:
        raise ValueError(f"--from applies to the training figures only, not to {spec.name}")
    else:
        data = spec.compute(quick=quick)
    if not isinstance(data, dict):
        raise TypeError(f"figure {spec.name}: compute returned {type(data).__name__}, not dict")
    data = dict(data)
    data["meta"] = {
        "figure": spec.name,
        "paper_ref": spec.paper_ref,
        "version": spec.version,
        "quick": bool(quick),
        "compute_seconds": round(time.perf_counter() - start, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "notes": progress.take_notes(),
        "source": None if source is None else str(source),
    }
    return data


def render(spec: FigureSpec, data: dict, out) -> list[Path]:
    """Plot ``data`` with the package style and write the images; return their paths."""
    from rcollapse.figures.style import close, paper_style  # matplotlib: only to plot

    with paper_style():
        fig = spec.plot(data)
        try:
            return io.save_figure(fig, out, spec.name)
        finally:
            close(fig)


def make(spec: FigureSpec, *, out=DEFAULT_OUT, quick: bool = False,
         recompute: bool = False, source=None) -> Made:
    """Make one figure: data (cached or computed), then PNG and PDF in ``out``.

    With ``source`` (a training figure drawn from a user's runs) the data is always read
    afresh from those runs; reading them takes seconds.
    """
    start = time.perf_counter()
    data = None if (recompute or source is not None) else load_cached(spec, out, quick=quick)
    cached = data is not None
    compute_seconds = 0.0
    notes: tuple[str, ...] = ()
    if data is None:
        data = compute_data(spec, quick=quick, source=source, runs=runs_folder(out))
        compute_seconds = data["meta"]["compute_seconds"]
        notes = tuple(data["meta"]["notes"])
        data = io.save_json(cache_path(out, spec.name), data)
    images = render(spec, data, out)
    return Made(spec.name, (cache_path(out, spec.name), *images), cached, compute_seconds,
                time.perf_counter() - start, notes)


def plan(specs: list[FigureSpec], *, out=DEFAULT_OUT, quick: bool = False,
         recompute: bool = False, source=None) -> tuple[list[FigureSpec], float]:
    """Which of ``specs`` need computing, and the expected seconds for them."""
    todo = [s for s in specs
            if recompute or source is not None or load_cached(s, out, quick=quick) is None]
    # a training figure drawn from runs (--from) only reads them: about a second
    return todo, sum(1.0 if source is not None and reads_runs(s) else s.expected_seconds(quick)
                     for s in todo)


def build(specs: list[FigureSpec], *, out=DEFAULT_OUT, quick: bool = False,
          recompute: bool = False, show_progress: bool = False, log=None,
          source=None) -> list[Made]:
    """Make every figure in ``specs``, in order; ``log(line)`` reports each one.

    ``source``: a folder of the user's training runs (``--from``) for training figures.

    A figure whose computation fails (RuntimeError, e.g. a solver that did not converge)
    does not stop the others; a RuntimeError naming the failed ones is raised at the end.
    An ``out`` that cannot be written is refused first (``OutputPathError``, a ValueError).
    """
    check_output_dir(out)
    check_source(specs, source)
    made, failed = [], []
    with progress.enabled(show_progress):
        for spec in progress.track(specs, desc="figures", leave=False):
            try:
                made.append(m := make(spec, out=out, quick=quick, recompute=recompute,
                                     source=source))
            except (RuntimeError, ArithmeticError) as err:
                first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                failed.append(f"{spec.name} ({first})")
                if log is not None:
                    log(f"{spec.name:<12} FAILED: {first}")
                continue
            if log is not None:
                how = "cached data" if m.cached else f"computed in {m.compute_seconds:.1f} s"
                log(f"{m.name:<12} {spec.paper_ref:<30} {how:<22} "
                    + " ".join(str(p) for p in m.paths[1:]))
                for remark in m.notes:
                    log(f"  note: {remark}")
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(specs)} figures failed: " + "; ".join(failed))
    return made
