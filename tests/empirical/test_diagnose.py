"""``rcollapse diagnose`` (issue 21): the inverse fit, the collapse measures, the report
and the refusals.

Synthetic scores are the optimum of (5) for a known U at n in 4..12 plus Gaussian noise
0.02 (fixed seeds). Which answers count as recovering the family: the fit is judged on
its coordinate (``empirical.diagnose_fit``): the dial a for power:g, log and neg-power:g
(the optima of neighbours on the dial coincide as g -> 0, so log may be reported as
power:g or neg-power:g with g near 0), s for log-sigmoid. Robustness was measured over
10 noise seeds (100 prompts, 200 resamples) before fixing each assertion: the interval
held the true parameter 40/40 times, the smallest margin (distance of the truth to the
nearer end, over the interval's width) 0.024 (neg-power:1); the least margin per case is
written beside the cases.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rcollapse.cli import main
from rcollapse.empirical.diagnose import (ScoredPrompt, collapse_index, diagnose,
                                          normalized_profile)
from rcollapse.empirical.diagnose_fit import dial_a, fit_utility
from rcollapse.empirical.losses import reference_optimum

NOISE = 0.02


def synthetic(specs_types, prompts: int, seed: int) -> list[ScoredPrompt]:
    """Prompt p gets the optimum of (5) for specs_types[p % k][0] at n in 4..12, plus noise."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(prompts):
        spec, kind = specs_types[p % len(specs_types)]
        n = int(rng.integers(4, 13))
        out.append(ScoredPrompt(f"prompt {p}", reference_optimum(spec, n).rewards
                                + rng.normal(0, NOISE, n), kind))
    return out


def _margin(x, interval):
    lo, hi = interval
    return min(x - lo, hi - x) / (hi - lo)


# least margin over 10 seeds (0..9): 0.039, 0.087, 0.024, 0.119, in this order
@pytest.mark.parametrize("spec, coordinate, truth", [
    ("power:0.5", "a", 0.25), ("log", "a", 0.5), ("neg-power:1", "a", 1.0),
    ("log-sigmoid:0.25", "s", 0.25)])
def test_fit_recovers_the_family_and_holds_the_true_parameter(spec, coordinate, truth):
    scores = synthetic([(spec, None)], 100, seed=0)
    fit = fit_utility([normalized_profile(p.rewards) for p in scores], bootstrap=200, seed=0)
    assert fit["coordinate"] == coordinate, fit["spec"]
    assert fit["interval"][0] <= truth <= fit["interval"][1], (fit["spec"], fit["interval"])
    assert fit["interval"][0] <= fit["parameter"] <= fit["interval"][1]
    if coordinate == "a":
        assert dial_a(fit["spec"]) == pytest.approx(fit["parameter"], abs=1e-4)
    assert fit["runner_up"]["aligned_w1"] > fit["aligned_w1"]
    # the residual is the noise's, not a misfit: 0.014 to 0.016 measured for noise 0.02
    assert fit["w1"] < NOISE


def test_prompt_aware_scores_give_two_fits():
    """Closed prompts on power:0.5's optimum, open ones on neg-power:1's (the dial's two
    sides), 50 of each. 5 seeds (0..4): W1 open vs closed 0.079 to 0.087 of a ceiling
    0.163 to 0.175; disjoint intervals 5/5; closed a within 0.0026 of 0.25, open a within
    0.070 of 1.0 (with 50 prompts a 95% interval missed the truth by 0.001 once)."""
    d = diagnose(synthetic([("power:0.5", "closed"), ("neg-power:1", "open")], 100, seed=0),
                 bootstrap=200, seed=0)
    ovc = d.open_vs_closed
    assert ovc["fits_differ"]
    closed, open_ = ovc["fits"]["closed"], ovc["fits"]["open"]
    assert closed["family"] == "power" and abs(closed["parameter"] - 0.25) < 0.01
    assert open_["family"] == "neg-power" and abs(open_["parameter"] - 1.0) < 0.15
    assert 0.25 * ovc["ceiling"] < ovc["w1_open_vs_closed"] < ovc["ceiling"]


def test_collapse_index_ends():
    """0 for identical prompts; near 1 for independent uniform rewards (5 seeds: 0.86 to
    0.98); well below for a collapsed model at one n."""
    same = [np.array([1.0, 0.8, 0.3, 0.0])] * 10
    assert collapse_index(same)["index"] == 0.0
    rng = np.random.default_rng(0)
    random = [normalized_profile(rng.uniform(size=int(rng.integers(4, 13)))) for _ in range(100)]
    assert 0.7 < collapse_index(random, seed=0)["index"] < 1.3
    collapsed = [normalized_profile(p.rewards) for p in synthetic([("log", None)], 100, seed=1)
                 if len(p.rewards) == 8]
    assert collapse_index(collapsed, seed=0)["index"] < 0.3


def test_utility_check_and_calibration_on_exact_optima():
    scores = [ScoredPrompt(f"p{n}", reference_optimum("log", n).rewards, None,
                           [" ".join(["w"] * (n - i)) for i in range(n)]) for n in range(4, 10)]
    d = diagnose(scores, utility="log", bootstrap=0)
    assert d.utility_check["w1_to_optimum"] < 1e-6 and d.utility_check["collapsed"]
    assert d.ranking["accuracy"] == 1.0
    # rewards fall with rank and so does length: a length correlation of +1 in ranks
    assert d.calibration["length_correlation"]["spearman"] > 0.9
    bins = d.calibration["reliability"]  # each pair in both orders: mirror-image bins
    assert sum(b["count"] for b in bins) == 2 * d.calibration["pairs"]
    far = diagnose(scores, utility="linear", bootstrap=0).utility_check
    assert not far["collapsed"] and far["relative_w1"] > 0.1


def test_small_n_is_flagged_not_identifiable():
    """At n <= 3 every strictly concave U has the optimum (1, 1/2, 0) or (1, 0)."""
    rng = np.random.default_rng(0)
    scores = [np.sort(rng.uniform(size=int(rng.integers(2, 4))))[::-1] for _ in range(20)]
    assert not diagnose(scores, bootstrap=0).fit["identifiable"]
    assert diagnose(scores + [[1.0, 0.7, 0.3, 0.0]], bootstrap=0).fit["identifiable"]


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def _good_rows(k=30):
    return [{"prompt": f"p{i}", "rewards": reference_optimum("log", 4 + i % 5).rewards.tolist(),
             "type": "open" if i % 2 else "closed"} for i in range(k)]


@pytest.mark.parametrize("row, words", [
    ('{"prompt": "a", "rewards": [1, 0', "not valid JSON"),
    ({"prompt": "a"}, "field 'rewards': missing"),
    ({"prompt": "a", "rewards": [1.0]}, "field 'rewards': 1 value(s); valid: n >= 2"),
    ({"prompt": "a", "rewards": [1.0, "x"]}, "field 'rewards'"),
    ({"prompt": "a", "rewards": [1.0, 0.0], "type": "long"}, "field 'type'"),
    ({"prompt": "a", "rewards": [1.0, 0.0], "score": 1}, "field 'score'")])
def test_bad_scores_are_refused_in_one_line(tmp_path, capsys, row, words):
    path = _write(tmp_path / "s.jsonl", [_good_rows(1)[0], row])
    assert main(["diagnose", "--rewards", path, "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}:2:" in err and words in err, err


def test_bad_options_are_refused(tmp_path, capsys):
    path = _write(tmp_path / "s.jsonl", _good_rows(4))
    (tmp_path / "exists").mkdir()
    cases = [(["--rewards", path, "--out", str(tmp_path / "exists")], "already exists"),
             (["--rewards", path, "--model", str(tmp_path), "--json"], "exactly one"),
             (["--model", str(tmp_path), "--json"], "needs --data"),
             (["--rewards", path], "--out DIR"),
             (["--rewards", path, "--json", "--utility", "cubic"], "cubic"),
             (["--model", str(tmp_path), "--data", path, "--json"], "config.json")]
    for args, words in cases:
        assert main(["diagnose", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, (args, err)


def test_report_files_and_json(tmp_path, capsys):
    path = _write(tmp_path / "s.jsonl", _good_rows())
    out = tmp_path / "report"
    assert main(["diagnose", "--rewards", path, "--out", str(out), "--bootstrap", "20"]) == 0
    names = {"report.json", "report.md", "profiles.png", "fit.png", "calibration.png"}
    assert names <= {p.name for p in out.iterdir()}
    report = json.loads((out / "report.json").read_text())
    assert {"spec", "parameter", "interval", "w1", "runner_up"} <= set(report["fit"])
    assert {"ece", "brier", "length_correlation"} <= set(report["calibration"])
    assert report["open_vs_closed"]["ceiling"] > 0 and len(report["prompts"]) == 30
    capsys.readouterr()
    assert main(["diagnose", "--rewards", path, "--json", "--bootstrap", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["fit"]["interval"] is None


def test_a_model_folder_is_scored(tmp_path, capsys):
    """A tiny one-label classifier saved to a folder: scored (logit and sigmoid scales)."""
    from rcollapse.empirical.model import load_reward_model

    model, tokenizer = load_reward_model("tiny", seed=0)
    model.save_pretrained(str(tmp_path / "m"))
    tokenizer.save_pretrained(str(tmp_path / "m"))
    rows = [{"prompt": f"q{i}", "completions": ["a b c d", "a b c", "a b", "a"]} for i in range(6)]
    data = _write(tmp_path / "d.jsonl", rows)
    assert main(["diagnose", "--model", str(tmp_path / "m"), "--data", data, "--json",
                 "--bootstrap", "0", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibration"]["scale"] == "logit" and report["logit_fit"] is not None
    assert report["calibration"]["length_correlation"]["completions"] == 24
    assert all(0 < r["mean"] < 1 and "logit_mean" in r for r in report["prompts"])


# ---- models trained here ---------------------------------------------------------------
TINY_RUN = dict(backbone="tiny", prompts=8, test_prompts=4, batch=4, lr=3e-3, scheduler="linear",
                epochs=60, eval_every=120, seed=1, threads=1)


def _trained_and_diagnosed(tmp_path, utility):
    """A tiny model trained by ``train`` on the built-in data, diagnosed on its 8 training
    prompts (written as the rankings JSONL a user would bring)."""
    from rcollapse.empirical.data import build_length_dataset
    from rcollapse.empirical.train import TrainConfig, train

    run = train(TrainConfig(utility=utility, **TINY_RUN), tmp_path / "run", progress=False)
    rows = [{"prompt": ex.prompt, "completions": list(ex.completions), "type": ex.prompt_type}
            for ex in build_length_dataset(8, seed=TINY_RUN["seed"], split="train")]
    data = _write(tmp_path / "train.jsonl", rows)
    return diagnose(run, data, bootstrap=0, utility=utility).to_json()


def test_a_model_trained_with_log_is_diagnosed_as_log(tmp_path):
    """The inverse problem on a real run: trained on U = log, fitted on the dial at a = 1/2
    (log, or power:g / neg-power:g with g near 0, whose optima coincide with log's)."""
    fit = _trained_and_diagnosed(tmp_path, "log")["fit"]
    # measured over seeds 0-4 x 1-2 threads: |a - 1/2| at most 0.0102 (threshold 0.05),
    # the fit's W1 at most 0.0053 (threshold 0.05)
    assert dial_a(fit["spec"]) == pytest.approx(0.5, abs=0.05), fit["spec"]
    assert fit["w1"] <= 0.05


def test_a_prompt_aware_model_shows_the_types_apart_with_two_fits(tmp_path):
    """Trained prompt-aware (open: -1/x, closed: x): open vs closed near its ceiling, and
    the two types' fitted utilities have optima far apart (a different U per type)."""
    ovc = _trained_and_diagnosed(tmp_path, "prompt-aware")["open_vs_closed"]
    # measured over seeds 0-4 x 1-2 threads: apart at least 0.972 of the ceiling (threshold
    # 0.8); the fits' optima at n = 8 at least 0.198 apart (threshold 0.1; the trained
    # utilities' optima are 0.202 apart)
    assert ovc["w1_open_vs_closed"] >= 0.8 * ovc["ceiling"]
    fits = {t: f["spec"] for t, f in ovc["fits"].items()}
    apart = np.mean(np.abs(reference_optimum(fits["open"], 8).rewards
                           - reference_optimum(fits["closed"], 8).rewards))
    assert apart >= 0.1, fits
