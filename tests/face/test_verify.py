"""rcollapse verify and rcollapse limit: rows, honesty about missing dependencies, CLI."""

import json

import numpy as np
import pytest

from rcollapse import verify as V
from rcollapse.cli import main
from rcollapse.verify import measurements as M
from rcollapse.verify import registry as R

QUICK = V.VerifyConfig(ns=(20, 40), grid=200, card_n=(40, 80))


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
    M.cached_solve.cache_clear()
    try:
        rows = V.run_checks(QUICK, only=["limit:log", "lobatto"])
    finally:
        M.cached_solve.cache_clear()
    assert [r.status for r in rows] == ["ERROR", "ERROR"]
    assert all("dependency missing" in r.measured for r in rows)
    assert not V.summary(rows)["all_passed"]
    # the ERROR row states the registered claim; what only the check computes stays a {field}
    assert rows[0].claim == "log: optimum of (5) -> {limit}" and rows[0].where == "Thm 3"


def test_failing_check_is_a_fail():
    def bad(cfg):
        return V.Outcome(passed=False, predicted="1", measured="2", tolerance="0")

    row = R.Registered(name="x", where="Thm 2", claim="x", fn=bad, case={}).row(QUICK, bad(QUICK))
    assert row.status == "FAIL"
    assert V.summary([row])["counts"]["FAIL"] == 1


def test_unknown_check_name():
    with pytest.raises(ValueError):
        V.run_checks(QUICK, only=["no-such-check"])


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
    assert M.falls([0.02, 0.005, 0.001])
    assert not M.falls([0.02, 0.02])
    assert not M.falls([0.01, 0.011])
    assert M.falls([0.0, 0.0, 0.0])


def test_rate_bounds():
    assert M.Rate(1.5)(1000) == pytest.approx(1.5e-3)
    assert M.Rate(0.25, 0.0, -1)(1000) == pytest.approx(0.25 / 6.907755, rel=1e-6)
    assert str(M.Rate(1.5, 1.0, 1)) == "1.5 log(n)/n"


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


# ---- verify is as sharp as the suite: break one input, see its row fail -------------------
@pytest.fixture
def fresh_caches():
    """verify caches the solves of one run; a broken input must not reuse a good one."""
    for cache in (M.cached_solve, M.cached_certificate, M.cached_limit):
        cache.cache_clear()
    yield
    for cache in (M.cached_solve, M.cached_certificate, M.cached_limit):
        cache.cache_clear()


def test_shifted_log_sigmoid_kernel_fails_theorem4(monkeypatch, fresh_caches):
    """The n = inf kernel evaluated at t + 1e-3 moves the atom mass by about 3.4e-5: the
    atom pin (n = inf on two grids against Newton's atom edge at n = 2000) sees it."""
    import rcollapse.solvers.limit as L
    from rcollapse.verify.theorem_4 import ATOM_AGREEMENT

    (good,) = V.run_checks(QUICK, only=["thm4:log-sigmoid:1"])
    assert good.status == "PASS", good.measured
    assert good.details["agreement"] <= ATOM_AGREEMENT / 3
    M.cached_limit.cache_clear()
    original = L.regularized_utility

    def shifted(U, delta):
        u = original(U, delta)
        return lambda t: u(np.asarray(t, dtype=float) + 1e-3)

    monkeypatch.setattr(L, "regularized_utility", shifted)
    (row,) = V.run_checks(QUICK, only=["thm4:log-sigmoid:1"])
    assert row.status == "FAIL", row.measured
    assert row.details["agreement"] > ATOM_AGREEMENT


def _mutated(function, old: str, new: str):
    """``function`` recompiled from its source with ``old`` replaced by ``new`` (a mutant)."""
    import inspect
    import textwrap

    source = textwrap.dedent(inspect.getsource(function))
    assert source.count(old) == 1, f"the mutation {old!r} no longer applies to {function.__name__}"
    namespace = dict(function.__globals__)
    exec(compile(source.replace(old, new), inspect.getsourcefile(function), "exec"), namespace)
    return namespace[function.__name__]


def test_ks_without_absolute_value_fails(monkeypatch, fresh_caches):
    """A KS distance that keeps only F_n - F > 0: Theorem 3 against Theorem 2's
    heavier-ended Beta, and W1 <= KS, both catch it."""
    import rcollapse.theory.distances as D

    names = ["thm3-sign:neg-power:0.5", "limit:log"]
    assert [r.status for r in V.run_checks(QUICK, only=names)] == ["PASS", "PASS"]
    broken = _mutated(D.ks_distance, "np.max(np.abs(fn_right - F_right)), np.max(np.abs(fn_left - F_left))",
                      "np.max(fn_right - F_right), np.max(fn_left - F_left)")
    monkeypatch.setattr(D, "ks_distance", broken)
    rows = {r.name: r for r in V.run_checks(QUICK, only=names)}
    assert rows["thm3-sign:neg-power:0.5"].status == "FAIL", rows["thm3-sign:neg-power:0.5"].measured
    assert min(rows["thm3-sign:neg-power:0.5"].details["ks_wrong"]) < 0.05


def test_newton_rewards_shifted_by_1e_7_fail(monkeypatch, fresh_caches):
    """Every Newton reward 1e-7 too high: the certificate recomputed on the vector
    (r_1 > 1) and the Gauss-Lobatto comparison both see it; nothing passes."""
    import dataclasses

    import rcollapse.solvers.newton as N

    original = N.solve_newton

    def shifted(*args, **kwargs):
        out = original(*args, **kwargs)
        return dataclasses.replace(out, rewards=out.rewards + 1e-7, complement=out.complement - 1e-7)

    monkeypatch.setattr(N, "solve_newton", shifted)
    rows = V.run_checks(QUICK, only=["limit:log", "lobatto", "thm4:log-sigmoid:1"])
    assert all(r.status != "PASS" for r in rows), [(r.name, r.status) for r in rows]
    for r in rows:
        if r.status == "FAIL":  # verify's own finding (an ERROR: solve refused the vector itself)
            assert max(r.details["kkt_recomputed"].values()) >= 5e-8, r.measured


def test_recomputed_certificate_ignores_the_solvers_report():
    """A vector out of bounds with a reported residual of 0 is not certified."""
    from types import SimpleNamespace

    from rcollapse.solvers.kkt import certificate_problem, recomputed_certificate

    good = SimpleNamespace(spec="log", rewards=np.array([1.0, 0.5, 0.0]), complement=None, kkt_residual=0.0)
    bad = SimpleNamespace(spec="log", rewards=np.array([1.0 + 1e-7, 0.5, 0.0]), complement=None, kkt_residual=0.0)
    nan = SimpleNamespace(spec="log", rewards=np.array([1.0, np.nan, 0.0]), complement=None, kkt_residual=0.0)
    assert recomputed_certificate(good) <= 1e-15 and certificate_problem(good) is None
    assert recomputed_certificate(bad) == float("inf") and "infeasible" in certificate_problem(bad)
    assert recomputed_certificate(nan) == float("inf")
    # verify still names them (tests/solvers/test_certify_fast.py reads them there)
    assert V.recomputed_certificate is recomputed_certificate and V.certificate_problem is certificate_problem


def test_endpoint_signs_fail_for_a_decreasing_utility(monkeypatch):
    """Lemma 4.1's signs need U increasing: with U = -x in place of every utility the row fails."""
    import rcollapse.theory.utilities as T

    (good,) = V.run_checks(QUICK, only=["lemma41:endpoint-signs"])
    assert good.status == "PASS", good.measured
    monkeypatch.setattr(T, "parse_utility", lambda spec: (lambda t: -np.asarray(t, dtype=float)))
    (row,) = V.run_checks(QUICK, only=["lemma41:endpoint-signs"])
    assert row.status == "FAIL", row.measured


def test_endpoint_gradients_from_differences():
    from rcollapse.theory.objective import endpoint_gradients

    # U = log at (1, 0.5, 0): dS/dr_1 = 1/0.5 + 1/1 = 3, dS/dr_3 = -(1/1 + 1/0.5) = -3
    d1, dn = endpoint_gradients(np.log, [1.0, 0.5, 0.0])
    assert d1 == pytest.approx(3.0, rel=1e-8) and dn == pytest.approx(-3.0, rel=1e-8)


def test_atom_mass_at_one_locates_the_edge_between_rewards():
    from rcollapse.solvers.limit import atom_mass_at_one

    n = 1000
    for m in (0.3, 0.30037, 0.3009):
        i = np.arange(1, n + 1)
        q = np.maximum(0.0, ((i - 0.5) / n - m) * 1.7)  # 1 - r, a linear quantile past the atom
        k, mass = atom_mass_at_one(1.0 - q, q)
        assert k == int(np.count_nonzero(q == 0.0)) and mass == pytest.approx(m, abs=1e-12)
    with pytest.raises(ValueError):
        atom_mass_at_one(np.linspace(0.99, 0.0, 50))  # no reward at 1: no atom


# ---- the command line: checked before any work ---------------------------------------------
def _no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("verify computed before checking its input")

    monkeypatch.setattr(V, "run_checks", refuse)


def test_cli_verify_unknown_only_name_refused_among_good_ones(tmp_path, capsys, monkeypatch):
    _no_work(monkeypatch)
    out = tmp_path / "v.json"
    assert main(["verify", "--only", "derivation-c", "no-such-check", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-check" in err and not out.exists()


@pytest.mark.parametrize("where", ["empty", "folder", "read-only", "under-a-file"])
def test_cli_verify_bad_out_refused_before_work(tmp_path, capsys, monkeypatch, where):
    import os

    _no_work(monkeypatch)
    if where == "read-only":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        if os.geteuid() == 0:  # root may write anyway: the folder reads as read-only to the check
            real_access = os.access
            monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path).startswith(str(ro))
                                else real_access(path, mode, **kw))
    (tmp_path / "file").write_text("x")
    out = {"empty": "", "folder": str(tmp_path), "read-only": str(tmp_path / "ro" / "v.json"),
           "under-a-file": str(tmp_path / "file" / "v.json")}[where]
    assert main(["verify", "--only", "derivation-c", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "--out" in err


def test_cli_verify_report_is_strict_json_with_provenance(tmp_path):
    out = tmp_path / "verify.json"
    assert main(["verify", "--only", "derivation-c", "--out", str(out)]) == 0
    text = out.read_text()
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    prov = report["provenance"]
    assert set(prov) >= {"git", "machine", "threads", "measured_utc"}
    assert "OMP_NUM_THREADS" in prov["threads"] and prov["machine"]["cpus"] >= 1
    assert report["command"] == "rcollapse verify --only derivation-c"
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed, not left


def test_vectors_shifted_after_solve_fail_on_verifys_own_certificate(monkeypatch, fresh_caches):
    """The same 1e-7 shift applied after ``solve`` (a solve that lost its own check):
    verify's recomputed certificate alone turns every row using the vector to FAIL."""
    import dataclasses
    from types import SimpleNamespace

    from rcollapse import solvers

    def shifted_solve(spec, n, method="newton"):
        sol = solvers.solve(spec, n, method=method)
        return dataclasses.replace(sol, rewards=sol.rewards + 1e-7, complement=sol.complement - 1e-7)

    monkeypatch.setattr(V, "_solvers", lambda: SimpleNamespace(solve=shifted_solve))
    rows = V.run_checks(QUICK, only=["limit:log", "limit:power:0.5", "derivation-b:log", "thm4:log-sigmoid:1"])
    assert [r.status for r in rows] == ["FAIL"] * 4, [(r.name, r.measured) for r in rows]
    for r in rows:
        assert max(r.details["kkt_recomputed"].values()) >= 5e-8, r.measured


# ---- the registry: one function per check, each claim written once ---------------------------
#: A paper location: a theorem or lemma by its number, or Stieltjes' exact result.
PAPER_LOCATION = r"^(Thm [1-5]|Lemma 4\.[1-5]|Stieltjes)\b"


def test_every_check_has_a_name_a_paper_location_and_a_claim():
    import re

    entries = V.registered()
    assert [e.name for e in entries] == V.CHECKS and len(set(V.CHECKS)) == len(V.CHECKS)
    for e in entries:
        assert re.fullmatch(r"[a-z0-9-]+(:[a-z0-9.-]+)*", e.name), e.name
        assert re.match(PAPER_LOCATION, e.where), (e.name, e.where)
        assert len(e.claim) >= 20 and "{" not in e.claim_text(QUICK, {k: "x" for k in ("limit", "right", "wrong", "a",
                                                                                         "utilities", "points")})


def test_no_claim_is_written_twice():
    """A claim is a template written once, in its check's decorator: no two registrations
    share it, and a check's :class:`Outcome` cannot carry a claim of its own."""
    import dataclasses

    templates = {}
    for e in V.registered():
        templates.setdefault(e.claim, set()).add(R._qualname(e.fn))
    assert all(len(fns) == 1 for fns in templates.values()), templates
    assert "claim" not in {f.name for f in dataclasses.fields(V.Outcome)}


def test_a_checks_row_states_its_registered_claim():
    """The row of a check that ran and its ERROR row name the same claim."""
    (entry,) = [e for e in V.registered() if e.name == "lemma41:solver"]
    (row,) = V.run_checks(QUICK, only=["lemma41:solver"])
    assert row.claim == entry.claim_text(QUICK, {"utilities": 5}) and row.where == entry.where == "Lemma 4.1"
    assert f"n={QUICK.lemma_n}" in row.claim
    error = entry.error_row(QUICK, RuntimeError("boom"))
    assert error.claim == entry.claim_text(QUICK) and error.claim.startswith(row.claim.split("(")[0])


def test_registering_a_name_twice_or_out_of_order_is_refused(monkeypatch):
    monkeypatch.setattr(R, "_REGISTRY", dict(R._REGISTRY))

    def other(cfg):
        return V.Outcome(passed=True, predicted="-", measured="-", tolerance="-")

    with pytest.raises(ValueError, match="registered twice"):
        R.check("lobatto:log", where="Stieltjes", claim="another claim for the same name")(other)
    with pytest.raises(ValueError, match="REPORT_ORDER"):
        R.check("no-place:log", where="Thm 3", claim="a check the report has no place for")(other)


def test_verify_imports_neither_the_benchmarks_nor_the_command_line():
    """rcollapse.verify sits below the commands: it imports no benchmarks, cli or commands
    module (so benchmarks -> solvers and commands.verify -> benchmarks make no cycle)."""
    import ast
    from pathlib import Path

    folder = Path(V.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith(("rcollapse.benchmarks", "rcollapse.cli", "rcollapse.commands")), \
                    (path.name, name)
