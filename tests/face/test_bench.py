"""rcollapse bench: summaries true for the sizes that ran, output paths checked first.

No timing is asserted here: speed is measured by the benchmark, never tested.
"""

from __future__ import annotations

import json

import pytest

from rcollapse.benchmarks import solvers as B
from rcollapse.cli import main


def _row(spec, method, n, seconds, kkt=1e-12, **extra):
    return {"utility": spec, "method": method, "n": n, "ok": True, "converged": True,
            "seconds": seconds, "kkt_residual": kkt, "kkt_recomputed": kkt} | extra


def _data(rows, sizes, methods=("newton", "cvxpy", "lbfgs"), budget=60.0):
    return {"rows": rows, "settings": {"sizes": list(sizes), "methods": list(methods), "utilities": ["u"],
                                       "budget_s": budget, "hard_limit_s": 2 * budget, "tol": 1e-6}}


def test_summary_speaks_only_of_the_sizes_that_ran():
    data = _data([_row("u", "newton", 50, 0.01), _row("u", "cvxpy", 50, 0.5), _row("u", "lbfgs", 50, 0.2)], [50])
    text = "\n".join(B.summary_lines(data))
    assert "50x faster than cvxpy at n = 50" in text and "20x faster than lbfgs at n = 50" in text
    assert "2000" not in text and "did not finish" not in text and "not run" not in text


def test_summary_names_each_unfinished_run_and_why():
    rows = [
        _row("u", "newton", 50, 0.01), _row("u", "newton", 200, 0.02), _row("u", "newton", 500, 0.1),
        _row("u", "cvxpy", 50, 0.5), _row("u", "cvxpy", 200, 2.0),
        {"utility": "u", "method": "cvxpy", "n": 500, "ok": False, "refused": True, "seconds": 9.0,
         "error": "ConvergenceError: cvxpy: u at n = 500: KKT residual 3.93e-06 > 1e-06"},
        _row("u", "lbfgs", 50, 0.2), _row("u", "lbfgs", 200, 70.0, kkt=4.7e-5, converged=False),
    ]
    text = "\n".join(B.summary_lines(_data(rows, [50, 200, 500])))
    assert "100x faster than cvxpy at n = 200, the largest n both finished" in text
    assert "cvxpy did not finish n = 500 (refused: cvxpy: u at n = 500: KKT residual 3.93e-06 > 1e-06)" in text
    assert "20x faster than lbfgs at n = 50" in text
    assert "lbfgs did not finish n = 200 (refused after 70 s, KKT 4.7e-05)" in text
    assert "lbfgs not run at n = 500 (its run at n = 200 passed the 60 s budget)" in text
    table = B.markdown_table(_data(rows, [50, 200, 500]))
    assert table.splitlines()[0] == "| n | u newton | cvxpy | lbfgs |"
    assert "| 500 | 0.1 s, 1.0e-12 | refused | - |" in table


def test_bench_max_n_50_runs_and_reports_only_n_50(tmp_path, capsys, monkeypatch):
    """The issue's case: ``--max-n 50`` must not report n = 2000 as unfinished. The solves
    are stood in for (``run_one``: the child process that times one solve) so the test
    is about what the command runs, saves and says."""
    calls = []

    def one_solve(spec, n, method, *, hard_limit, tol=None):
        calls.append((spec, n, method, tol))
        return _row(spec, method, n, {"newton": 0.01, "cvxpy": 0.5, "lbfgs": 0.2}[method])

    monkeypatch.setattr(B, "run_one", one_solve)
    assert main(["bench", "solvers", "--max-n", "50", "--budget", "30", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2000" not in out and "did not finish" not in out and "50x faster than cvxpy at n = 50" in out
    assert {(n, tol) for _, n, _, tol in calls} == {(50, 1e-6)} and len(calls) == 6
    (saved,) = tmp_path.glob("solvers-*.json")
    data = json.loads(saved.read_text())
    assert {r["n"] for r in data["rows"]} == {50}
    assert data["settings"]["sizes"] == [50] and data["settings"]["tol"] == 1e-6
    assert data["command"] == "rcollapse bench solvers --max-n 50 --budget 30 --tol 1e-06"
    assert set(data["provenance"]) >= {"git", "machine", "threads"}
    assert (tmp_path / saved.name.replace(".json", ".png")).is_file()


def test_run_one_times_a_real_solve_in_a_child():
    row = B.run_one("log", 8, "newton", hard_limit=120, tol=1e-9)
    assert row["ok"] and row["converged"] and row["seconds"] > 0
    assert row["kkt_recomputed"] <= 1e-9 and row["n"] == 8


def _no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("bench computed before checking its output path")

    monkeypatch.setattr(B, "run_benchmark", refuse)
    import rcollapse.benchmarks.limit as L

    monkeypatch.setattr(L, "run_limit_benchmark", refuse)


@pytest.mark.parametrize("suite", ["solvers", "limit"])
@pytest.mark.parametrize("where", ["empty", "a-file", "under-a-file"])
def test_bench_bad_out_refused_before_work(tmp_path, capsys, monkeypatch, suite, where):
    _no_work(monkeypatch)
    (tmp_path / "file").write_text("x")
    out = {"empty": "", "a-file": str(tmp_path / "file"), "under-a-file": str(tmp_path / "file" / "d")}[where]
    assert main(["bench", suite, "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["--max-n", "10"], ["--budget", "0"], ["--tol", "2"]])
def test_bench_bad_numbers_refused(tmp_path, capsys, monkeypatch, args):
    _no_work(monkeypatch)
    assert main(["bench", "solvers", "--out", str(tmp_path), *args]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_large_is_refused_outside_the_solvers_suite(tmp_path, capsys):
    from rcollapse.cli import main

    assert main(["bench", "limit", "--large", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--large" in err and "\n" not in err
    assert main(["bench", "solvers", "--large", "--max-n", "10", "--out", str(tmp_path)]) == 2
