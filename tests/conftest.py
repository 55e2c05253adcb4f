"""Shared pytest set-up: hypothesis profiles and offline, headless defaults.

Profiles (select with HYPOTHESIS_PROFILE):
- ``ci`` (default): few examples, no deadline, and a fixed pseudo-random sequence of
  draws (``derandomize``), so that a CI run is reproducible and a landing never hangs
  on a rare draw; the whole suite stays under 10 minutes on 2 cores.
- ``thorough``: many more examples, for a deliberate search.
"""

import os
import sys

# The tests are grouped by the package's rooms (tests/theory, tests/solvers, ...); the
# shared helpers (properties.py, strategies.py) stay here, importable from every group.
sys.path.insert(0, os.path.dirname(__file__))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

import pytest  # noqa: E402


class CliResult:
    """What ``rcollapse ARGS`` did in this process: exit status, stdout and stderr."""

    def __init__(self, returncode: int, out: str, err: str):
        self.returncode, self.out, self.err = returncode, out, err


@pytest.fixture
def cli(capsys):
    """``cli(*args)`` runs ``rcollapse ARGS`` in this process and returns its ``CliResult``."""
    from rcollapse.cli import main

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)
    return run
