"""One import namespace: nothing generic (``theory``, ``solvers``, ``figures``...) is
installed at the top level, and the CLI works from a folder that holds such names."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("theory", "solvers", "empirical", "figures", "benchmarks")


def _declared_packages() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return {line.strip() for line in cfg["options"]["packages"].splitlines() if line.strip()}


def test_every_subpackage_is_declared_under_rcollapse():
    """Every folder with an __init__.py in a room is listed in setup.cfg's packages."""
    found = {"rcollapse"}
    for top in ("rcollapse", *ROOMS):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join(["rcollapse", *rel[1:]] if top == "rcollapse" else ["rcollapse", *rel]))
    assert found == _declared_packages()


def test_cli_runs_from_a_folder_that_shadows_the_rooms(tmp_path):
    """A research folder with figures/, solvers/ and theory.py breaks nothing."""
    for name in ("figures", "solvers"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('user folder')\n")
    (tmp_path / "theory.py").write_text("raise ImportError('user file')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-m", "rcollapse", "verify", "--only", "lobatto", "--out",
         str(tmp_path / "v.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "PASS" in run.stdout


def test_wheel_installs_only_rcollapse_at_top_level(tmp_path):
    """A non-editable install puts only the package's own names at the top level."""
    target = tmp_path / "site"
    src = tmp_path / "src"  # a copy, so that the build leaves nothing in the checkout
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        src.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    for room in ("rcollapse", *ROOMS):
        shutil.copytree(ROOT / room, src / room, ignore=shutil.ignore_patterns("__pycache__"))
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-compile",
         "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    top = {p.name for p in target.iterdir()}
    generic = top & {*ROOMS, "tests", "docs", "rcollapse.egg-info"}
    assert not generic, f"installed at the top level: {sorted(generic)}"
    assert "rcollapse" in top
    assert {p.name for p in (target / "rcollapse").iterdir()} >= set(ROOMS)


def test_importing_every_module_brings_no_generic_top_level_name(tmp_path):
    """Importing all of rcollapse leaves no top-level ``theory``, ``solvers``, ... module."""
    code = (
        "import sys, importlib, pkgutil, rcollapse, os\n"
        "for room in rcollapse._ROOMS:\n"
        "    pkg = importlib.import_module('rcollapse.' + room)\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "bad = sorted(set(rcollapse._ROOMS) & set(sys.modules))\n"
        "print('GENERIC', bad)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "GENERIC []" in run.stdout, run.stdout
