"""Where a measured number came from: the git commit, the machine and its thread counts.

Every results file under ``benchmarks/results/`` carries :func:`provenance`, so that the
README's tables (generated from those files by :mod:`benchmarks.readme`) can say when a
table is older than the code it measures (:func:`stale_against`).

>>> sorted(provenance(root="/nonexistent")["git"])
['commit', 'dirty', 'dirty_paths']
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path

__all__ = ["THREAD_VARIABLES", "git", "last_change", "provenance", "repository_root", "stale_against"]

#: The environment variables that set the number of threads of the numerical libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def repository_root(start: str | os.PathLike | None = None) -> Path | None:
    """The git checkout holding ``start`` (default: this source file), or None."""
    here = Path(start) if start is not None else Path(__file__).resolve().parent
    out = git(["rev-parse", "--show-toplevel"], root=here)
    return Path(out) if out else None


def git(args: list[str], *, root: str | os.PathLike | None) -> str | None:
    """``git ARGS`` in ``root``; its stripped output, or None when git or the checkout is missing."""
    if root is None or not Path(root).is_dir():
        return None
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _threads() -> dict:
    import sys

    info = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    torch = sys.modules.get("torch")  # only when already loaded: never pay for torch here
    info["torch"] = torch.get_num_threads() if torch is not None else None
    info["affinity_cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return info


#: The code a measurement depends on: uncommitted changes here make it "dirty".
MEASURED_PATHS = ("solvers", "theory", "rcollapse", "benchmarks")
#: Where the results files live (written by the measurements; not code).
RESULTS_DIR = "benchmarks/results"


def provenance(*, root: str | os.PathLike | None = None, paths=MEASURED_PATHS) -> dict:
    """The commit (and whether ``paths`` had uncommitted changes), the machine and the
    thread settings at the time of a measurement; a dict of plain JSON values."""
    root = repository_root() if root is None else Path(root)
    commit = git(["rev-parse", "HEAD"], root=root)
    status = git(["status", "--porcelain", "--untracked-files=no", "--", *paths,
                  f":(exclude){RESULTS_DIR}"], root=root)  # results files are outputs, not code
    import numpy as np

    return {
        "git": {"commit": commit, "dirty": bool(status) if status is not None else None,
                "dirty_paths": [line.strip() for line in status.splitlines()] if status else []},
        "measured_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "threads": _threads(),
    }


def last_change(paths, *, root: str | os.PathLike) -> str | None:
    """The latest commit that changed any of ``paths`` (git log), or None."""
    return git(["log", "-1", "--format=%H", "--", *paths], root=root) or None


def stale_against(commit: str | None, paths, *, root: str | os.PathLike) -> str | None:
    """Why results measured at ``commit`` are older than the code in ``paths``, or None
    when they are not (or when git cannot tell: no checkout, an unknown commit)."""
    last = last_change(paths, root=root)
    if not commit or not last:
        return None
    if git(["cat-file", "-e", f"{commit}^{{commit}}"], root=root) is None:
        return None
    if git(["merge-base", "--is-ancestor", last, commit], root=root) is not None:
        return None  # the last change is in the measured commit's history
    return f"measured at {commit[:10]}, but {', '.join(paths)} changed since (last at {last[:10]})"
