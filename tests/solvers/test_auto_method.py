"""solve(method="auto"), the default: newton up to FAST_FROM, fast above (the one rule,
solvers.newton_cg.method_for_size); a memory refusal names the method that fits; the
record (method, iterations, seconds) says what was run and what the user waited for."""

from __future__ import annotations

import json
import re

import pytest

from rcollapse.cli import main
from rcollapse.solvers import SolverInputError, api, solve
from rcollapse.solvers import newton_cg as NCG
from rcollapse.solvers.api import memory_estimate, resolve_method


@pytest.fixture
def small_fast_from(monkeypatch):
    """FAST_FROM = 1000 in this process, so that fast sizes stay quick."""
    monkeypatch.setattr(NCG, "FAST_FROM", 1000)
    return 1000


def test_the_rule_is_method_for_size():
    for n in (2, 3000, NCG.FAST_FROM, NCG.FAST_FROM + 1, 10**6):
        expected = "fast" if n > NCG.FAST_FROM else "newton"
        assert NCG.method_for_size(n) == expected == resolve_method("power:0.5", n, "auto")
    assert resolve_method("linear", 10**6, "auto") == "newton"  # its closed form, at any n
    assert resolve_method("log", 10**6, "cvxpy") == "cvxpy"  # a named method is kept


def test_auto_is_the_default_and_records_the_method_run(small_fast_from):
    below, above = solve("log", 800), solve("log", 1200)
    assert below.method == "newton" and "chosen by auto (n = 800 <= FAST_FROM = 1000)" in below.status
    assert above.method == "fast" and "chosen by auto (n = 1200 > FAST_FROM = 1000)" in above.status
    assert above.kkt_residual <= 1e-9 and above.error_bound < 1e-9
    forced = solve("log", 1200, method="newton")
    assert forced.method == "newton" and "auto" not in forced.status


@pytest.mark.parametrize("method", ["newton", "fast"])
def test_iterations_are_the_newton_steps_the_status_counts(method):
    sol = solve("power:0.5", 3000, method=method)
    (in_all,) = re.findall(r"(\d+) Newton(?:-CG)? steps in all", sol.status)
    assert sol.iterations == int(in_all) >= 1


def test_seconds_cover_the_bound(small_fast_from):
    sol = solve("power:0.5", 1500)
    info = sol.to_json()
    assert info["bound_seconds"] > 0.0 and info["solve_seconds"] == sol.seconds
    assert info["seconds"] == pytest.approx(info["solve_seconds"] + info["bound_seconds"])
    tight = solve("power:0.5", 1500, accuracy=1e-9)  # the bound is computed inside solve
    assert tight.bound_counted and tight.to_json()["seconds"] == tight.seconds >= tight.bound_seconds


def test_a_memory_refusal_names_the_method_that_fits(monkeypatch):
    n = 20_000
    free = (memory_estimate(n, "fast") + memory_estimate(n, "newton")) // 2
    monkeypatch.setattr(api, "available_memory", lambda: free)
    with pytest.raises(SolverInputError) as info:
        solve("power:0.5", n, method="newton")
    message = str(info.value)
    assert "\n" not in message and "for method 'newton'" in message
    assert "valid: method 'fast' (about" in message and "the default, auto" in message
    with pytest.raises(SolverInputError, match="for method 'cvxpy'.*valid: method 'fast'"):
        solve("power:0.5", n, method="cvxpy")
    monkeypatch.setattr(api, "available_memory", lambda: 1)
    with pytest.raises(SolverInputError, match="for method 'fast'.*valid: a smaller n$"):
        solve("power:0.5", n)


def test_cli_refusal_prints_no_progress_line(monkeypatch, capsys):
    free = (memory_estimate(5000, "fast") + memory_estimate(5000, "newton")) // 2
    monkeypatch.setattr(api, "available_memory", lambda: free)
    assert main(["solve", "power:0.5", "--n", "5000", "--method", "newton"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "level" not in err and "valid: method 'fast'" in err


def test_cli_json_has_the_fast_error_bound(small_fast_from, capsys):
    assert main(["solve", "log-sigmoid:1", "--n", "2001", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["method"] == "fast" and info["error_bound"] is not None
    assert info["error_bound"] < 1e-7 and info["kkt_residual"] <= 1e-9
    assert info["seconds"] == pytest.approx(info["solve_seconds"] + info["bound_seconds"])
