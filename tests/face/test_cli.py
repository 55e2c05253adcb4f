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


# --- Ctrl-C and a closed stdout: one line or silence, never a traceback -------------------

#: Runs ``main(argv)`` with stdout a pipe whose reader has gone (as under ``| head -1``
#: once head has exited): every write to it fails with EPIPE.
_CLOSED_STDOUT = """
import os, sys
read_end, write_end = os.pipe()
os.close(read_end)
os.dup2(write_end, 1)
from rcollapse.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(("args", "status"), [
    (["utility", "log"], 1), (["figures", "--list"], 1),
    # argparse prints --help and --version itself and ignores the failed write: status 0
    (["--help"], 0), (["utility", "--help"], 0), (["--version"], 0),
])
def test_closed_stdout_exits_quietly(args, status):
    out = subprocess.run([sys.executable, "-c", _CLOSED_STDOUT, *args], capture_output=True,
                         text=True, timeout=120)
    assert out.stderr == ""  # no BrokenPipeError, no "Exception ignored" at shutdown
    assert out.returncode == status


def test_pipe_into_head_is_quiet():
    """The case from the report, through a real shell pipe."""
    cmd = f"'{sys.executable}' -m rcollapse utility log | head -1"
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 1
    assert out.stderr == ""


def _interrupted(*args, **kwargs):
    raise KeyboardInterrupt


def _main_caught(argv) -> int:
    """``main(argv)``; a KeyboardInterrupt escaping it fails the test (not the session)."""
    import rcollapse.cli as cli

    try:
        return cli.main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main()")


@pytest.mark.parametrize(("argv", "line"), [(["utility", "log"], "rcollapse utility: interrupted"),
                                            (["--help"], "rcollapse: interrupted"),
                                            ([], "rcollapse: interrupted")])
def test_ctrl_c_while_building_the_parser(argv, line, monkeypatch, capsys):
    import rcollapse.cli as cli

    monkeypatch.setattr(cli, "build_parser", _interrupted)
    assert _main_caught(argv) == 130
    assert capsys.readouterr().err.strip().splitlines() == [line]


def test_ctrl_c_while_importing_the_command(monkeypatch, capsys):
    import rcollapse.commands.utility as utility

    monkeypatch.setattr(utility, "add_arguments", _interrupted)
    assert _main_caught(["utility", "log"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["rcollapse utility: interrupted"]


_SIGINT_AT_START = """
import os, signal, sys
# A process started in the background by a non-interactive shell (as CI runners do)
# inherits SIGINT ignored; a terminal's Ctrl-C raises KeyboardInterrupt. Restore that.
signal.signal(signal.SIGINT, signal.default_int_handler)
import rcollapse.cli as cli
real = cli.build_parser
def build_parser(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the parser is being built
    return real(*args, **kwargs)
cli.build_parser = build_parser
sys.exit(cli.main(["utility", "log"]))
"""


def test_real_sigint_at_start_up_is_one_line_exit_130():
    out = subprocess.run([sys.executable, "-c", _SIGINT_AT_START], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 130
    assert out.stderr.strip().splitlines() == ["rcollapse utility: interrupted"]
