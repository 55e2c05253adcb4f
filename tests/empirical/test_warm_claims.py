"""WARM's claims: the unbiased best-of-N estimator (Coste et al. 2024), Gao et al.'s fit,
the claims' rows computed from a run's numbers, the paper's diversity and the linear
probe, and one tiny frozen run end to end."""

from __future__ import annotations

import itertools
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from scipy import stats

from rcollapse.empirical.best_of_n import (best_of_n_expectation, best_of_n_weights, bon_kl,
                                           fit_gao)
from rcollapse.empirical.warm_claims import CLAIMS, claims_from_results, mean_interval


# ---- best-of-N ---------------------------------------------------------------------------
def _brute_force(proxy, value, n):
    """Mean over every N-subset of the value of its highest-proxy member, ties shared
    equally (uniform random tie-breaking)."""
    picks = []
    for subset in itertools.combinations(range(len(proxy)), n):
        top = max(proxy[i] for i in subset)
        picks.append(np.mean([value[i] for i in subset if proxy[i] == top]))
    return float(np.mean(picks))


@pytest.mark.parametrize("ties", [False, True])
def test_unbiased_best_of_n_equals_enumerating_every_subset(ties):
    rng = np.random.default_rng(3)
    pool = 8
    proxy = rng.integers(0, 3, size=(2, pool)).astype(float) if ties else rng.normal(size=(2, pool))
    value = rng.uniform(0, 10, size=(2, pool))
    ns = list(range(1, pool + 1))
    got = best_of_n_expectation(proxy, value, ns)
    for j, n in enumerate(ns):
        expected = np.mean([_brute_force(proxy[k], value[k], n) for k in range(2)])
        assert got[j] == pytest.approx(expected, abs=1e-10)
    assert got[0] == pytest.approx(value.mean())          # N = 1: a random pick
    assert np.all(best_of_n_weights(pool, 3) >= 0) and best_of_n_weights(pool, 3).sum() == pytest.approx(1)


def test_unbiased_best_of_n_agrees_with_monte_carlo():
    from rcollapse.empirical.soup import best_of_n as monte_carlo

    rng = np.random.default_rng(5)
    proxy, true = rng.normal(size=(3, 60)), rng.uniform(1, 80, size=(3, 60))
    ns, draws = [1, 4, 16, 60], 3000
    exact = best_of_n_expectation(proxy, true, ns)
    sampled = monte_carlo(proxy, true, ns, draws=draws, seed=1)["picked"]
    # the Monte-Carlo mean's standard error is at most the pool's spread / sqrt(draws)
    tolerance = 5 * true.std() / np.sqrt(draws * 3)
    assert np.all(np.abs(np.asarray(sampled) - exact) < tolerance), (sampled, exact)
    assert exact[-1] == pytest.approx(np.mean(true[np.arange(3), proxy.argmax(1)]))  # N = P


def test_best_of_n_refuses_n_above_the_pool():
    with pytest.raises(ValueError, match="N = 5: valid: 1 <= N <= pool size 4"):
        best_of_n_expectation(np.zeros((1, 4)), np.zeros((1, 4)), [5])


def test_gao_fit_recovers_alpha_and_beta():
    ns = [1, 2, 4, 8, 16, 32, 64, 128, 256, 500]
    d = np.sqrt(bon_kl(ns))
    assert d[0] == 0.0 and np.all(np.diff(d) > 0)
    for alpha, beta in ((3.0, 0.5), (1.2, -0.1), (8.0, 2.0)):
        values = 40.0 + d * (alpha - beta * d)          # a base of 40 at N = 1
        fit = fit_gao(ns, values)
        assert (fit["alpha"], fit["beta"]) == pytest.approx((alpha, beta), abs=1e-9)
        noisy = values + np.random.default_rng(0).normal(0, 0.01, len(ns)) * np.r_[0, np.ones(9)]
        fit = fit_gao(ns, noisy)
        assert fit["alpha"] == pytest.approx(alpha, abs=0.1)
        assert fit["beta"] == pytest.approx(beta, abs=0.05)
        assert fit["rmse"] < 0.02
    with pytest.raises(ValueError, match="N = 1 and at least two other N"):
        fit_gao([2, 4, 8], [1.0, 2.0, 3.0])


# ---- the claims' rows from a run's numbers -------------------------------------------------
LAMBDAS = np.linspace(0, 1, 5).tolist()
NS = [1, 4, 16]


def _condition(noise, *, warm, members, ensemble, lmc, warm_bon, member_bon):
    names = [f"member_{i}" for i in range(len(members))]
    rows = {n: {"accuracy_held_out": a} for n, a in zip(names, members)}
    rows |= {"warm": {"accuracy_held_out": warm}, "ensemble": {"accuracy_held_out": ensemble},
             "greedy": {"accuracy_held_out": warm}}
    models = {n: {"true": list(b)} for n, b in zip(names, member_bon)}
    models["warm"] = {"true": list(warm_bon)}
    return {"noise": noise, "label": f"p{noise:g}", "rows": rows,
            "models": names + ["warm", "greedy", "ensemble"],
            "lmc": {"lambdas": LAMBDAS, "accuracy": list(lmc)},
            "best_of_n": {"N": NS, "models": models}}


def _results(rng, *, good: bool, repeats: int = 4):
    """Synthetic repeats where each claim holds (good) or fails by a clear margin."""
    sign = 1.0 if good else -1.0
    out = []
    for _ in range(repeats):
        members = rng.uniform(0.7, 0.8, size=3)
        bump = sign * 0.05 * np.sin(np.pi * np.asarray(LAMBDAS))   # above / below the line
        ends = rng.uniform(0.7, 0.8, size=2)
        lmc = (1 - np.asarray(LAMBDAS)) * ends[0] + np.asarray(LAMBDAS) * ends[1] + bump
        member_bon = rng.uniform(30, 40, size=(3, len(NS)))
        warm_bon = member_bon.mean(0) + sign * rng.uniform(1, 2, size=len(NS))
        warm = members.mean() + sign * rng.uniform(0.01, 0.02)
        clean = _condition(0.0, warm=warm, members=members, ensemble=warm, lmc=lmc,
                           warm_bon=warm_bon, member_bon=member_bon)
        ens = rng.uniform(0.6, 0.7)
        noisy = _condition(0.25, warm=ens + sign * rng.uniform(0.01, 0.02), members=members,
                           ensemble=ens, lmc=lmc, warm_bon=warm_bon, member_bon=member_bon)
        out.append([clean, noisy])
    return out


def _t_stat(values):
    x = np.asarray(values, float)
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return x.mean(), half


@pytest.mark.parametrize("good", [True, False])
def test_each_claims_row_is_computed_from_the_runs_numbers(good):
    results = _results(np.random.default_rng(1 if good else 2), good=good)
    rows = claims_from_results(results)
    assert [r["claim"] for r in rows] == [key for key, _ in CLAIMS]
    assert {r["verdict"] for r in rows} == {"PASS" if good else "FAIL"}
    assert all(r["significant"] == good for r in rows)
    clean = [rep[0] for rep in results]
    noisy = [rep[1] for rep in results]
    members = ["member_0", "member_1", "member_2"]

    # (2) WARM against the members' mean, paired per repeat
    warm = [c["rows"]["warm"]["accuracy_held_out"] for c in clean]
    mean = [np.mean([c["rows"][m]["accuracy_held_out"] for m in members]) for c in clean]
    n = rows[1]["numbers"]
    assert (n["warm"]["mean"], n["warm"]["half_width"]) == pytest.approx(_t_stat(warm))
    assert (n["members_mean"]["mean"], n["members_mean"]["half_width"]) == pytest.approx(_t_stat(mean))
    assert (n["difference"]["mean"], n["difference"]["half_width"]) == pytest.approx(
        _t_stat(np.subtract(warm, mean)))
    # (3) WARM against the ensemble at 25% noise
    n = rows[2]["numbers"]
    diff = [c["rows"]["warm"]["accuracy_held_out"] - c["rows"]["ensemble"]["accuracy_held_out"]
            for c in noisy]
    assert (n["difference"]["mean"], n["difference"]["half_width"]) == pytest.approx(_t_stat(diff))
    # (1) LMC: the excess over the line at the row's lambda
    lam = rows[0]["numbers"]["lambda"]
    j = LAMBDAS.index(lam)
    acc = np.array([c["lmc"]["accuracy"] for c in clean])
    excess = acc[:, j] - ((1 - lam) * acc[:, 0] + lam * acc[:, -1])
    assert (rows[0]["numbers"]["excess"]["mean"], rows[0]["numbers"]["excess"]["half_width"]) == \
        pytest.approx(_t_stat(excess))
    # (4) best-of-N at the row's N
    j = NS.index(rows[3]["numbers"]["N"])
    diff = [c["best_of_n"]["models"]["warm"]["true"][j]
            - np.mean([c["best_of_n"]["models"][m]["true"][j] for m in members]) for c in clean]
    d = rows[3]["numbers"]["difference"]
    assert (d["mean"], d["half_width"]) == pytest.approx(_t_stat(diff))


def test_one_repeat_has_no_interval_and_a_missing_noise_level_is_skip():
    results = [[_results(np.random.default_rng(0), good=False, repeats=1)[0][0]]]
    rows = claims_from_results(results)
    assert rows[1]["numbers"]["difference"]["half_width"] is None
    assert rows[1]["verdict"] == "FAIL"         # one repeat: the sign of the difference decides
    assert rows[2]["verdict"] == "SKIP" and "0.25" in rows[2]["reason"]
    assert mean_interval([2.5]) == (2.5, None)
    lo, hi = stats.t.interval(0.95, 2, loc=2.0, scale=stats.sem([1.0, 2.0, 3.0]))
    assert mean_interval([1.0, 2.0, 3.0])[1] == pytest.approx((hi - lo) / 2)


# ---- the paper's diversity, the pool, the linear probe -------------------------------------
def test_paper_diversity_draws_warms_grid_scaled_to_the_base_lr():
    from rcollapse.empirical.warm_config import PAPER_DROPOUTS, PAPER_LR_FACTORS, WarmConfig
    from rcollapse.empirical.warm_members import member_hyperparameters

    paper = member_hyperparameters(WarmConfig(members=12, diversity="paper"), 2e-3, 0.0)
    assert {h["lr"] for h in paper} <= {2e-3 * f for f in PAPER_LR_FACTORS}
    assert len({h["lr"] for h in paper}) > 1 and len({h["dropout"] for h in paper}) == 2
    assert {h["dropout"] for h in paper} == set(PAPER_DROPOUTS)
    assert paper == member_hyperparameters(WarmConfig(members=12, diversity="paper"), 2e-3, 0.0)
    seed_only = member_hyperparameters(WarmConfig(members=3), 2e-3, 0.0)
    assert [(h["seed"], h["lr"], h["dropout"]) for h in seed_only] == [(1, 2e-3, 0.0), (2, 2e-3, 0.0),
                                                                       (3, 2e-3, 0.0)]


def test_the_pool_holds_every_truncation_then_noised_copies():
    from rcollapse.empirical.warm_members import best_of_n_pool

    words = [f"w{i}" for i in range(74)]
    completions, true = best_of_n_pool(words, 500, seed=0)
    assert len(completions) == 500 and true == [float(len(c.split())) for c in completions]
    assert completions[:74] == [" ".join(words[:k]) for k in range(1, 75)]
    assert sum(c != " ".join(words[:len(c.split())]) for c in completions[74:]) > 300


def test_a_linear_probe_moves_only_the_last_layer_and_linear_heads_average_logits():
    torch = pytest.importorskip("torch")
    from rcollapse.empirical.data import build_length_dataset
    from rcollapse.empirical.soup import average_state_dicts
    from rcollapse.empirical.warm_config import member_defaults
    from rcollapse.empirical.warm_heads import _probe, build_head

    examples = build_length_dataset(8, seed=0)
    x = torch.randn(sum(ex.n for ex in examples), 12)
    train = member_defaults()
    train.epochs, train.lr, train.utility = 5.0, 1e-2, "log"
    head = build_head("mlp:8", x, seed=0)
    before = {k: v.clone() for k, v in head.state_dict().items()}
    _probe(head, x, examples, train, seed=0)
    after = head.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved == {"4.weight", "4.bias"}                 # the last Linear only
    assert all(p.requires_grad for p in head.parameters())

    heads = [build_head("linear", x, seed=s) for s in (1, 2, 3)]
    avg = build_head("linear", x, seed=0)
    avg.load_state_dict(average_state_dicts([h.state_dict() for h in heads]))
    with torch.no_grad():
        mean_logit = torch.stack([h.eval()(x) for h in heads]).mean(0)
        torch.testing.assert_close(avg.eval()(x), mean_logit, rtol=0, atol=1e-5)


# ---- the command line and one tiny frozen run ----------------------------------------------
def test_noise_takes_several_values_and_bad_combinations_are_one_line(tmp_path, capsys):
    from rcollapse.cli import build_parser, main

    args = build_parser().parse_args(["warm", "--noise", "0", "0.1", "0.25", "0.4", "--out", "x"])
    assert args.noise == (0.0, 0.1, 0.25, 0.4)
    for argv, message in ((["--init", "probe"], "--init probe: valid only with --freeze"),
                          (["--lr-spread", "--diversity", "paper"], "--lr-spread with --diversity paper"),
                          (["--repeats", "0"], "--repeats 0: valid: an integer >= 1")):
        assert main(["warm", *argv, "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not (tmp_path / "run").exists()


def test_tiny_frozen_run_writes_the_four_claims_from_its_repeats(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from rcollapse.empirical import warm as W

    monkeypatch.setenv("RCOLLAPSE_CACHE", str(tmp_path / "cache"))
    config = W.WarmConfig(members=2, backbone="tiny", prompts=8, eval_prompts=3, bon_prompts=2,
                          pool=40, best_of=(1, 2, 4, 8, 40), noise=(0.0, 0.25), repeats=2,
                          diversity="paper", init="probe",
                          train=dict(epochs=3.0, batch=4, freeze=True, head="mlp:16"))
    report = W.run_warm(config, tmp_path / "run", progress=False)
    md = (tmp_path / "run" / "report.md").read_text()
    for _, statement in CLAIMS:
        assert statement in md
    assert [r["verdict"] in ("PASS", "FAIL") for r in report["claims"]] == [True] * 4
    results = [json.loads((W.repeat_dir(tmp_path / "run", r) / "results.json").read_text())
               for r in range(2)]
    assert json.loads(json.dumps(claims_from_results(results))) == \
        json.loads((tmp_path / "run" / "report.json").read_text())["claims"]
    init = tmp_path / "run" / "repeats" / "r1" / "members" / "p0.25" / "init.pt"
    assert init.is_file()
    members = [json.loads((init.parent / f"member_{i}" / "member.json").read_text()) for i in range(2)]
    assert [m["seed"] for m in members] == [4, 5]           # repeat 1: seed 0 + 1 * (M + 1)
    assert all(m["dropout"] in (0.05, 0.1) and m["init"] == "probe" for m in members)
    # a resume retrains only what is missing, and gets the same numbers
    (init.parent.parent.parent / "results.json").unlink()
    (init.parent / "member_1" / "head.pt").unlink()
    again = W.run_warm(None, tmp_path / "run", resume=True, progress=False)
    assert json.loads(json.dumps(again["claims"])) == json.loads(json.dumps(report["claims"]))
