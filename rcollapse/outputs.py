"""Output paths and files: checked before any work, written atomically, readable by others.

One rule for every command and room that writes (verify.json, figures, benchmarks, run
directories): a path that cannot be written is refused *before* the computation, with a
one-line ``OutputPathError`` (a ``ValueError``: exit status 2 at the command line) that
names the path and what is wrong with it. Files are written through a unique temporary
file in the same folder and renamed into place, so a reader never sees half a file, and
they get the usual permissions (0666 less the umask), not ``mkstemp``'s 0600.

Values become JSON through one cleaner, :func:`to_jsonable`, for every file the package
writes (figure caches, benchmark results, verify.json): JSON has no NaN or infinity, and
both become ``null`` (None).

This is the base module: it imports nothing of the package (no room, nor the face), so
every room may use it.

>>> import numpy as np
>>> to_jsonable({"x": np.arange(3), "y": np.float64(0.5), "z": (1, float("nan"), -np.inf)})
{'x': [0, 1, 2], 'y': 0.5, 'z': [1, None, None]}
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

__all__ = [
    "OutputPathError",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_dir",
    "check_output_file",
    "to_jsonable",
    "write_json",
]


class OutputPathError(ValueError):
    """An output path that cannot be written; the message is one line."""


def _nearest_existing(path: Path) -> Path:
    """The deepest existing ancestor of ``path`` (``path`` itself when it exists)."""
    probe = path
    while not probe.exists() and not probe.is_symlink():
        if probe.parent == probe:
            break
        probe = probe.parent
    return probe


def _check_creatable(path: Path, flag: str) -> None:
    """``path`` does not exist yet: its nearest existing ancestor must be a writable folder."""
    ancestor = _nearest_existing(path)
    if not ancestor.is_dir():
        raise OutputPathError(
            f"{flag} {path}: cannot be created, {ancestor} is a file, not a folder"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK) or not _can_create_in(ancestor):
        raise OutputPathError(f"{flag} {path}: cannot be created, folder {ancestor} is not writable")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can really be created in ``folder``: a probe file, removed at once.

    ``os.access`` alone is not enough: for root it says yes to ``/proc``, and it knows
    nothing of read-only mounts on some systems.
    """
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".rcollapse-probe.", suffix=".tmp")
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def check_output_file(path: str | os.PathLike, *, flag: str = "--out") -> Path:
    """Check that a file can be written at ``path``; return it as a ``Path``.

    Refused: an empty path, an existing folder, an existing file that cannot be
    overwritten, and a path whose nearest existing ancestor is a file or a read-only folder.

    >>> check_output_file("")
    Traceback (most recent call last):
    ...
    rcollapse.outputs.OutputPathError: --out '': an empty path; valid: a file name
    """
    if str(path) == "":
        raise OutputPathError(f"{flag} '': an empty path; valid: a file name")
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"{flag} {p}: is a folder; valid: a file name")
    if p.exists():
        if not os.access(p, os.W_OK) or not os.access(p.parent, os.W_OK | os.X_OK) \
                or not _can_create_in(p.parent):  # the atomic write creates a file beside it
            raise OutputPathError(f"{flag} {p}: exists and cannot be overwritten")
        return p
    _check_creatable(p, flag)
    return p


def check_output_dir(path: str | os.PathLike, *, flag: str = "--out",
                     must_not_exist: bool = False) -> Path:
    """Check that ``path`` is, or can be created as, a writable folder; return it.

    With ``must_not_exist`` (a training run's directory, which is never overwritten) an
    existing path is refused too.

    >>> check_output_dir("")
    Traceback (most recent call last):
    ...
    rcollapse.outputs.OutputPathError: --out '': an empty path; valid: a folder name
    """
    if str(path) == "":
        raise OutputPathError(f"{flag} '': an empty path; valid: a folder name")
    p = Path(path)
    if p.exists() or p.is_symlink():
        if must_not_exist:
            raise OutputPathError(f"{flag} {p}: already exists; a run is never overwritten "
                                  "(choose a new folder, or resume it)")
        if not p.is_dir():
            raise OutputPathError(f"{flag} {p}: is a file, not a folder")
        if not os.access(p, os.W_OK | os.X_OK) or not _can_create_in(p):
            raise OutputPathError(f"{flag} {p}: folder is not writable")
        return p
    _check_creatable(p, flag)
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a unique temporary file, then rename it in place."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``atomic_write_bytes`` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data, *, indent: int | None = 1) -> Path:
    """Write ``data`` as strict JSON (no ``NaN`` or ``Infinity``: those raise ``ValueError``)."""
    return atomic_write_text(path, json.dumps(data, indent=indent, allow_nan=False) + "\n")


def to_jsonable(value):
    """``value`` with only strict-JSON types, for :func:`write_json`.

    Rules: dict keys become strings; tuples and numpy arrays become lists; numpy scalars
    become Python numbers (anything with ``.item()``); NaN and +-inf become None (JSON has
    neither, and ``null`` is what JSON writers put there); a path becomes its text. Any
    other type raises TypeError naming it: what is written must be plain numbers, strings
    and lists, never an object's ``str``.

    >>> to_jsonable({1: (True, None, "a")})
    {'1': [True, None, 'a']}
    >>> to_jsonable({"x": object()})
    Traceback (most recent call last):
    ...
    TypeError: cannot write object to JSON; valid: numbers, strings, None, lists, dicts, numpy arrays
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:  # a numpy array
        return to_jsonable(value.tolist())
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # a numpy scalar
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON; valid: numbers, strings, None, "
                    "lists, dicts, numpy arrays")
