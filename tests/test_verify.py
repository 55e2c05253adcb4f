"""rcollapse verify and rcollapse limit: rows, honesty about missing dependencies, CLI."""

import json

import pytest

from rcollapse import verify as V
from rcollapse.cli import main

QUICK = V.VerifyConfig(ns=(20, 40), grid=200, card_n=(40, 80))


def _has_solve() -> bool:
    try:
        V._solvers()
    except ImportError:
        return False
    return True


def test_symbolic_checks_pass():
    rows = V.run_checks(QUICK, only=["derivation-b:symbolic", "derivation-c", "derivation-d"])
    assert [r.status for r in rows] == ["PASS"] * 3
    for r in rows:
        assert r.claim and r.where and r.predicted and r.measured and r.tolerance


def test_derivation_a_log_passes():
    (row,) = V.run_checks(QUICK, only=["derivation-a:log"])
    assert row.status == "PASS", row.measured


def test_theorem5_check_passes():
    (row,) = V.run_checks(QUICK, only=["thm5:linear"])
    assert row.status == "PASS", row.measured


def test_missing_dependency_is_an_error_not_a_pass(monkeypatch):
    def missing():
        raise ImportError("solvers.solve is not available")

    monkeypatch.setattr(V, "_solvers", missing)
    V._solve.cache_clear()
    try:
        rows = V.run_checks(QUICK, only=["limit:log", "lobatto"])
    finally:
        V._solve.cache_clear()
    assert [r.status for r in rows] == ["ERROR", "ERROR"]
    assert all("dependency missing" in r.measured for r in rows)
    assert not V.summary(rows)["all_passed"]


def test_failing_check_is_a_fail():
    def bad(cfg):
        return V.Check("x", "x", "-", "1", "2", "0", V._status(False))

    assert bad(QUICK).status == "FAIL"
    assert V.summary([bad(QUICK)])["counts"]["FAIL"] == 1


def test_unknown_check_name():
    with pytest.raises(ValueError):
        V.run_checks(QUICK, only=["no-such-check"])


@pytest.mark.skipif(not _has_solve(), reason="solvers.solve not built yet")
def test_solver_checks_pass_quickly():
    rows = V.run_checks(QUICK, only=["limit:log", "limit:linear", "lobatto", "thm4:log-sigmoid:1"])
    assert {r.name: r.status for r in rows} == {r.name: "PASS" for r in rows}, [r.measured for r in rows]


# ---- CLI ----------------------------------------------------------------------------------
def test_cli_limit_json(capsys):
    assert main(["limit", "power:0.3", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["spec"] == "power:0.3"
    assert info["distribution"] == "Beta(0.35, 0.35)"
    assert info["continuous"] == {"name": "beta", "a": 0.35, "b": 0.35}
    assert info["atoms"] == []
    assert info["atoms_are_lower_bounds"] is False
    assert info["theorem"] == "Theorem 2"


@pytest.mark.parametrize("spec, continuous, atoms", [
    ("neg-power:2", {"name": "uniform"}, []),
    ("linear", None, [[0.0, 0.5], [1.0, 0.5]]),
])
def test_cli_limit_json_other_families(capsys, spec, continuous, atoms):
    assert main(["limit", spec, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["continuous"] == continuous and info["atoms"] == atoms


def test_cli_limit_log_sigmoid_bound(capsys):
    assert main(["limit", "log-sigmoid:1", "--json", "--bound"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["atoms_are_lower_bounds"] is True and info["continuous"] is None
    assert info["atoms"][0][1] == pytest.approx(0.349755, abs=1e-6)


def test_cli_limit_log_sigmoid_exact(capsys):
    assert main(["limit", "log-sigmoid:1", "--json", "--grid", "200"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["atoms_are_lower_bounds"] is False
    assert info["continuous"]["name"] == "numerical"
    assert info["atoms"][0][1] >= 0.349755


@pytest.mark.parametrize("spec", ["bad", "power:1.5", "power", "log:2"])
def test_cli_limit_bad_spec_exit_2(capsys, spec):
    assert main(["limit", spec, "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_cli_verify_writes_json(tmp_path, capsys):
    out = tmp_path / "verify.json"
    code = main(["verify", "--only", "derivation-c", "derivation-d", "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["all_passed"] is True
    assert [c["status"] for c in report["checks"]] == ["PASS", "PASS"]
    printed = capsys.readouterr().out
    assert "PASS" in printed and "Lemma 4.1" in printed


def test_cli_verify_bad_only_exit_2(tmp_path):
    assert main(["verify", "--only", "nope", "--out", str(tmp_path / "v.json")]) == 2


def test_falls_is_strict_but_allows_exact_zeros():
    assert V._falls([0.02, 0.005, 0.001])
    assert not V._falls([0.02, 0.02])
    assert not V._falls([0.01, 0.011])
    assert V._falls([0.0, 0.0, 0.0])


def test_rate_bounds():
    assert V.Rate(1.5)(1000) == pytest.approx(1.5e-3)
    assert V.Rate(0.25, 0.0, -1)(1000) == pytest.approx(0.25 / 6.907755, rel=1e-6)
    assert str(V.Rate(1.5, 1.0, 1)) == "1.5 log(n)/n"


def test_face_injects_the_limit_solver_for_log_sigmoid():
    import numpy as np

    from rcollapse.limits import limiting_measure
    from rcollapse.theory.distances import w1_distance
    from rcollapse.theory.derivations import theorem4_bound

    mu = limiting_measure("log-sigmoid:1", grid=200)
    assert mu.exact and mu.theorem.startswith("Theorem 5")
    assert mu.atoms[0.0] == pytest.approx(mu.atoms[1.0]) and mu.atoms[0.0] >= theorem4_bound("log-sigmoid:1")
    assert mu.mean() == pytest.approx(0.5, abs=1e-9)
    assert sum(mu.atoms.values()) + mu.continuous_mass == pytest.approx(1.0)
    q = np.linspace(0.0, 1.0, 201)
    x = mu.ppf(q)
    assert np.all(mu.cdf(x) >= q - 1e-9) and np.all(mu.cdf_left(x) <= q + 1e-9)
    assert w1_distance(mu.ppf((np.arange(4000) + 0.5) / 4000), mu) < 1e-3
    bound = limiting_measure("log-sigmoid:1", bound_only=True)
    assert bound.atoms_are_lower_bounds and bound.atoms[0.0] < mu.atoms[0.0]
