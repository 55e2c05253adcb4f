"""Files of a figure: its data as JSON and its image as PNG and PDF, side by side.

For a figure ``NAME`` in the output folder ``OUT``::

    OUT/NAME.json   the data, exactly what make_figure(data) reads, plus a "meta" entry
    OUT/NAME.png    the image at style.DPI
    OUT/NAME.pdf    the image as vectors

Files are written atomically by ``rcollapse.outputs`` (a unique temporary file, then a
rename), so an interrupted run never leaves a half-written cache that a later run would
trust, and they get the usual permissions (0666 less the umask).

The data is made JSON by the package's one cleaner, ``rcollapse.outputs.to_jsonable``
(re-exported here): numpy arrays and scalars become plain Python, NaN and inf become None.

This module loads no numpy or matplotlib until it is used (``rcollapse figures --help``
stays light).

>>> import numpy as np
>>> to_jsonable({"x": np.arange(3), "y": np.float64(0.5), "z": (1, float("nan"))})
{'x': [0, 1, 2], 'y': 0.5, 'z': [1, None]}
"""

from __future__ import annotations

from io import BytesIO
import json
import os
from pathlib import Path

from rcollapse.outputs import atomic_write_bytes, to_jsonable, write_json

__all__ = ["FORMATS", "image_paths", "load_json", "save_figure", "save_json", "to_jsonable"]

#: The image formats written for every figure.
FORMATS = ("png", "pdf")


def save_json(path: str | os.PathLike, data: dict) -> dict:
    """Write ``data`` as JSON (atomically) and return the JSON-able form that was written."""
    plain = to_jsonable(data)
    write_json(path, plain, indent=1)
    return plain


def load_json(path: str | os.PathLike) -> dict | None:
    """The data saved at ``path``, or None when the file is missing or not valid JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def image_paths(out: str | os.PathLike, name: str) -> list[Path]:
    """The image files of figure ``name`` in folder ``out``, one per format."""
    return [Path(out) / f"{name}.{ext}" for ext in FORMATS]


def save_figure(fig, out: str | os.PathLike, name: str, *, dpi: int | None = None) -> list[Path]:
    """Write ``fig`` as ``out/name.png`` and ``out/name.pdf``; return the paths.

    The canvas is the figure's own size (no tight bounding box), so a PNG is exactly
    ``fig.get_size_inches() * dpi`` pixels.
    """
    from rcollapse.figures.style import DPI

    paths = image_paths(out, name)
    for path in paths:
        buffer = BytesIO()
        fig.savefig(buffer, format=path.suffix.lstrip("."), dpi=dpi or DPI)
        atomic_write_bytes(path, buffer.getvalue())
    return paths


def write_png(make, data: dict, path: str | os.PathLike) -> Path:
    """Draw ``make(data)`` in the package style and write it as one PNG, atomically (a
    run's own pictures: WARM's, a diagnosis's). Returns the path."""
    from rcollapse.figures import style

    with style.paper_style():
        fig = make(data)
        try:
            buffer = BytesIO()
            fig.savefig(buffer, format="png", dpi=style.DPI)
        finally:
            style.close(fig)
    return atomic_write_bytes(Path(path), buffer.getvalue())
