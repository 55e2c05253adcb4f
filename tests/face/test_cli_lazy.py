"""``rcollapse --help``, ``--version`` and ``rcollapse NAME --help`` load no heavy module.

Answering a question about the command line must not pay for matplotlib, sympy,
scipy.stats, cvxpy, torch or transformers (together 1.6 to 3 s here): those load inside
a command's ``run``. The check is on what is imported, in a fresh interpreter, never on
seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rcollapse.cli import COMMANDS

HEAVY = ("matplotlib", "sympy", "scipy.stats", "cvxpy", "torch", "transformers")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _heavy(modules) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _importtime(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -X importtime -m rcollapse ARGS``; its result and the modules it imported."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "rcollapse", *args],
                         capture_output=True, text=True, timeout=120, env=ENV)
    modules = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines()
               if line.startswith("import time:") and line.count("|") == 2}
    return out, modules - {"package"}  # the header line names its column "package"


@pytest.mark.parametrize("args", [["--help"], ["--version"], []])
def test_top_level_answers_without_heavy_imports(args):
    out, modules = _importtime(*args)
    assert out.returncode == (2 if not args else 0), out.stderr[-2000:]
    assert "rcollapse.cli" in modules  # the parse worked: the check saw the real imports
    assert _heavy(modules) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_without_heavy_imports(name):
    out, modules = _importtime(name, "--help")
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"rcollapse {name}" in out.stdout and "Traceback" not in out.stderr
    assert _heavy(modules) == []


def test_building_the_whole_parser_imports_nothing_heavy():
    """Every command's ``add_arguments`` at once, and the face's own packages."""
    script = ("import json, sys\n"
              "import rcollapse, rcollapse.commands\n"
              "from rcollapse.cli import build_parser\n"
              "parser = build_parser()\n"
              "parser.format_help()\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=ENV)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = json.loads(out.stdout)
    built = [n for n in COMMANDS if f"rcollapse.commands.{n}" in modules]
    assert {"utility", "solve", "figures"} <= set(built)  # their add_arguments really ran
    assert _heavy(modules) == []
