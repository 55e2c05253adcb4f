"""Progress bars for the slow part of a figure (its ``compute``), off by default.

A ``compute`` function wraps its loop of solves in :func:`track`; the runner turns the
bars on for the command line (``enabled(True)``) and leaves them off for tests and
library use.

>>> list(track([1, 2, 3], desc="solves"))
[1, 2, 3]
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["enabled", "note", "take_notes", "track"]

_STATE = {"on": False, "depth": 0}
_NOTES: list[str] = []


def note(message: str) -> None:
    """Record a remark about the figure being computed (e.g. a relaxed solver tolerance);
    the runner prints it and keeps it in the figure's JSON (``meta.notes``)."""
    _NOTES.append(str(message))


def take_notes() -> list[str]:
    """The remarks recorded since the last call, oldest first."""
    notes = list(_NOTES)
    _NOTES.clear()
    return notes


@contextlib.contextmanager
def enabled(on: bool = True):
    """Show progress bars (on stderr) for the duration of a ``with`` block."""
    old = _STATE["on"]
    _STATE["on"] = bool(on)
    try:
        yield
    finally:
        _STATE["on"] = old


def track(items: Iterable[T], *, desc: str = "", total: int | None = None,
          leave: bool = False) -> Iterator[T]:
    """Iterate over ``items``, with a tqdm bar when bars are enabled."""
    if not _STATE["on"]:
        yield from items
        return
    from tqdm.auto import tqdm

    _STATE["depth"] += 1
    try:
        with tqdm(items, desc=desc, total=total, leave=leave, file=sys.stderr,
                  position=_STATE["depth"] - 1, dynamic_ncols=True, unit="step",
                  disable=None) as bar:  # None: no bar when stderr is not a terminal
            yield from bar
    finally:
        _STATE["depth"] -= 1
