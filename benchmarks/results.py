"""The committed results files, ``benchmarks/results/NAME.json``, that the README is generated from.

Each file is one measurement with its provenance (:mod:`benchmarks.provenance`): the
commit, the machine, the thread counts and the command that made it. They live in the
source checkout (the README is there too); an installed package without a checkout
cannot record them, and says so.

Values are made JSON by the package's one cleaner, ``rcollapse.outputs.to_jsonable``
(also under its old name here, :func:`plain`): NaN and +-inf become None.

>>> plain({"a": float("inf"), "b": [1, float("nan")]})
{'a': None, 'b': [1, None]}
"""

from __future__ import annotations

import json
from pathlib import Path

from rcollapse.outputs import to_jsonable as plain

__all__ = ["NAMES", "checkout", "load", "plain", "results_path", "save"]

#: The results files, one per generated part of the README.
NAMES = ("solvers", "limit", "atoms", "verify", "large", "preconditioner")


def checkout() -> Path:
    """The source checkout (README.md and benchmarks/results/ inside); ValueError without one."""
    from rcollapse.benchmarks.provenance import repository_root

    here = Path(__file__).resolve().parent
    root = repository_root(here)
    if root is None or not (root / "README.md").is_file() or not (root / "benchmarks").is_dir():
        raise ValueError(f"no source checkout with README.md and benchmarks/ above {here}; "
                         "the README's tables are recorded from a git clone")
    return root


def results_path(name: str, root: Path | None = None) -> Path:
    """``benchmarks/results/NAME.json`` in the checkout."""
    if name not in NAMES:
        raise ValueError(f"results {name!r} is unknown; valid: {', '.join(NAMES)}")
    return (root or checkout()) / "benchmarks" / "results" / f"{name}.json"


def save(name: str, data: dict, root: Path | None = None) -> Path:
    """Write ``data`` (with its provenance) to ``benchmarks/results/NAME.json``, atomically."""
    from rcollapse.outputs import write_json

    return write_json(results_path(name, root), plain(data))


def load(name: str, root: Path | None = None) -> dict:
    """The recorded results ``NAME``; FileNotFoundError naming the file when there are none."""
    path = results_path(name, root)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return json.loads(path.read_text())
