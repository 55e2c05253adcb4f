"""``rcollapse solve`` and ``rcollapse bench``: JSON keys, human tables, exit status 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rcollapse.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rcollapse", *args], capture_output=True,
                          text=True, timeout=120)


def test_solve_json(capsys):
    assert main(["solve", "log", "--n", "8", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) >= {"spec", "n", "method", "rewards", "objective", "kkt_residual",
                         "seconds", "unique"}
    assert info["spec"] == "log" and info["n"] == 8 and info["method"] == "newton"
    assert info["rewards"][0] == 1.0 and info["rewards"][-1] == 0.0
    assert info["kkt_residual"] <= 1e-9 and info["unique"] is True


@pytest.mark.parametrize("method", ["cvxpy", "lbfgs"])
def test_solve_json_other_methods(capsys, method):
    assert main(["solve", "power:0.5", "--n", "6", "--method", method, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["method"] == method and len(info["rewards"]) == 6


def test_solve_linear_odd_is_not_unique(capsys):
    assert main(["solve", "linear", "--n", "5", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["unique"] is False and info["rewards"] == [1.0, 1.0, 0.5, 0.0, 0.0]


def test_solve_table(capsys):
    assert main(["solve", "log-sigmoid:1", "--n", "30"]) == 0
    out = capsys.readouterr().out
    assert "kkt_residual" in out and "n = 30" in out and "..." in out


def test_solve_limit_json(capsys):
    assert main(["solve", "linear", "--limit", "--grid", "32", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) >= {"spec", "atoms", "quantiles", "grid", "seconds"}
    assert info["grid"] == 32 and len(info["quantiles"]) == 1001
    assert [[x, round(m, 6)] for x, m in info["atoms"]] == [[0.0, 0.5], [1.0, 0.5]]
    q = np.array(info["quantiles"])
    assert q[0] == 0.0 and q[-1] == 1.0 and np.all(np.diff(q) >= 0)


def test_solve_limit_table(capsys):
    assert main(["solve", "log", "--limit", "--grid", "32"]) == 0
    assert "atoms" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["solve", "log", "--n", "1"], "n = 1"),
    (["solve", "power:2", "--n", "5"], "gamma = 2"),
    (["solve", "log", "--n", "10000000"], "GiB"),
    (["solve", "log", "--limit", "--grid", "3"], "grid = 3"),
    (["solve", "log", "--n", "5", "--grid", "40"], "--grid 40"),
])
def test_bad_input_exit_2_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["solve", "log", "--n", "5", "--limit"],
    ["solve", "log"],
    ["solve", "log", "--n", "5", "--method", "simplex"],
    ["bench", "solvers", "--max-n", "10"],
    ["bench", "solvers", "--budget", "0"],
])
def test_bad_arguments_exit_2(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


@pytest.mark.parametrize("flag", [["--tol", "1e-3"], ["--accuracy", "1e-6"]])
def test_tol_and_accuracy_with_limit_are_refused_not_ignored(capsys, flag):
    """Was: --tol with --limit (and --grid) silently ignored."""
    assert main(["solve", "log", "--limit", "--grid", "32", *flag]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag[0] in err and "--limit" in err and "Traceback" not in err


def test_solve_json_carries_the_error_bound(capsys):
    assert main(["solve", "power:0.5", "--n", "20", "--accuracy", "1e-11", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["error_bound"] <= 1e-11 and info["kkt_residual"] <= 1e-9
    assert main(["solve", "linear", "--n", "4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["error_bound"] is None and "not strongly concave" in info["error_bound_reason"]


def test_a_slow_cvxpy_solve_is_announced_before_it_starts(capsys, monkeypatch):
    """Was: cvxpy at n = 1500 ran for minutes without a word."""
    import rcollapse.solvers as solvers
    from rcollapse.commands.solve import slow_warning

    assert slow_warning("cvxpy", 100) is None and slow_warning("newton", 10_000) is None
    started = []

    def fake_solve(U, n, **kwargs):
        started.append(capsys.readouterr().err)  # what was printed before the solve began
        raise solvers.SolverInputError("stopped by the test")

    monkeypatch.setattr(solvers, "solve", fake_solve)
    assert main(["solve", "log", "--n", "1500", "--method", "cvxpy"]) == 2
    assert started[0].startswith("warning: cvxpy at n = 1500 will take about")
    assert started[0].count("\n") == 1 and "min" in started[0]


def test_bad_n_from_the_shell_exits_2():
    out = run_cli("solve", "log", "--n", "3.5")
    assert out.returncode == 2 and "3.5" in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr


def test_convergence_failure_exits_1(capsys):
    assert main(["solve", "power:0.99", "--n", "100"]) == 1
    err = capsys.readouterr().err
    assert "failed" in err and err.count("\n") == 1


# --------------------------------------------------------------------------------------
# The benchmark's pieces, on synthetic data (the real run is `rcollapse bench solvers`)
# --------------------------------------------------------------------------------------
def _data():
    rows = [{"utility": "u", "method": m, "n": n, "ok": True, "seconds": s * n / 50,
             "kkt_residual": k} for m, s, k in [("newton", 0.01, 1e-15), ("cvxpy", 1.0, 1e-10),
                                                 ("lbfgs", 3.0, 1e-7)] for n in (50, 2000)]
    rows.append({"utility": "u", "method": "cvxpy", "n": 5000, "ok": False, "timed_out": True})
    return {"rows": rows, "settings": {"sizes": [50, 2000, 5000], "methods": ["newton", "cvxpy", "lbfgs"],
                                       "utilities": ["u"], "budget_s": 120.0,
                                       "hard_limit_s": 240.0}}


def test_bench_table_figure_and_no_overwrite(tmp_path):
    from rcollapse.benchmarks import solvers as bench

    data = _data()
    table = bench.format_table(data)
    assert "stopped at 240 s" in table and "100x faster than cvxpy at n = 2000" in table
    assert "300x faster than lbfgs at n = 2000" in table
    fig = bench.make_figure(data)
    assert len(fig.axes) == 1
    path = bench.save_results(data, tmp_path)
    assert json.loads(path.read_text())["rows"] == data["rows"]
    assert path.stem.startswith("solvers-")
    first = bench.save_results(data, tmp_path, stamp="fixed")
    with pytest.raises(FileExistsError, match="not overwriting"):
        bench.save_results(data, tmp_path, stamp="fixed")
    assert bench.save_results(data, tmp_path, stamp="fixed", force=True) == first


def test_bench_runs_one_solve_in_a_child():
    from rcollapse.benchmarks.solvers import run_one

    row = run_one("log", 8, "newton", hard_limit=60)
    assert row["ok"] and row["kkt_residual"] <= 1e-9 and row["n"] == 8


def test_cli_method_choices_are_the_solvers_methods():
    """--method lists its choices without importing the solvers; they must agree."""
    from rcollapse.commands.solve import METHOD_CHOICES
    from rcollapse.solvers.api import METHODS

    assert set(METHOD_CHOICES) == set(METHODS)
