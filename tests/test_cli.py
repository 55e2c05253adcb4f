"""The ``rcollapse`` command line: help, ``utility``, and bad input (exit 2, one line)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rcollapse.cli import COMMANDS, main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rcollapse", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_subcommand():
    out = run_cli("--help")
    assert out.returncode == 0
    for name in ("utility", "limit", "solve", "verify", "figures", "train", "warm", "bench"):
        assert name in COMMANDS
        assert name in out.stdout


def test_utility_json(capsys):
    assert main(["utility", "log-sigmoid:1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) >= {"spec", "latex", "increasing", "strictly_concave", "strongly_concave",
                         "dU0", "dU1"}
    assert info["spec"] == "log-sigmoid:1"
    assert info["dU0"] == pytest.approx(0.5)
    assert info["dU1"] == pytest.approx(1 / (1 + 2.718281828459045))


def test_utility_json_infinite_derivative_is_null(capsys):
    assert main(["utility", "power:0.5", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["dU0"] is None and info["dU1"] == pytest.approx(0.5)


@pytest.mark.parametrize("bad", ["power:1.5", "power:-1", "power:0", "log-sigmoid:0",
                                 "neg-power:abc", "foo", "log:2", "", "nan"])
def test_bad_spec_exits_2_with_one_line_and_no_traceback(bad):
    out = run_cli("utility", bad, "--json")
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "error" in lines[0]


def test_unknown_subcommand_exits_2():
    out = run_cli("nonsense")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_console_script_is_installed():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("rcollapse") == "rcollapse.cli:main"
