"""The training figures (paper Figures 1, 3, 4; WARM's LMC and best-of-N) read the run
directories that ``rcollapse train`` and ``rcollapse warm`` write, and ``--from`` is
checked before any work. (Each renders from synthetic data in tests/figures/test_figures.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rcollapse.cli import main
from rcollapse.figures import fig1, fig3, fig4, io, style, warm
from rcollapse.figures import training as T

def _fake_run(path, utility, *, steps=(0, 10, 20), types=("open", "closed", "open", "closed")):
    """A run directory in the format of ``rcollapse train`` (made without training)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"utility": utility, "loss": "utility",
                                                  "backbone": "tiny"}))
    opt_closed = [1.0] * 4 + [0.0] * 4
    opt_open = opt_closed if utility != "prompt-aware" else np.linspace(1, 0, 8).tolist()
    metrics, rewards = [], []
    for k, step in enumerate(steps):
        t = k / (len(steps) - 1)
        profile = (0.5 + t * (np.array(opt_closed) - 0.5)).tolist()
        metrics.append({"step": step, "loss": 1.0 - t, "w1_to_optimum_train": 0.4 * (1 - t),
                        "w1_to_optimum_test": 0.45 * (1 - t), "w1_open_vs_closed_train": 0.01,
                        "w1_open_vs_closed_test": 0.02, "accuracy_train": 0.5 + 0.4 * t,
                        "accuracy_test": 0.5 + 0.3 * t, "w1_to_optimum_open_train": 0.4 * (1 - t),
                        "w1_to_optimum_closed_train": 0.3 * (1 - t),
                        "profile_open_train": profile, "profile_closed_train": profile,
                        "optimum_open": opt_open, "optimum_closed": opt_closed})
        for split in ("train", "test"):
            rewards.append({"step": step, "split": split, "prompt_type": list(types),
                            "sorted_rewards": [profile for _ in types]})
    (path / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics) + "\n")
    (path / "rewards.jsonl").write_text("\n".join(json.dumps(r) for r in rewards) + "\n")
    return path


def test_figures_read_run_directories(tmp_path):
    for utility in ("log-sigmoid:0.25", "prompt-aware", "linear"):
        _fake_run(tmp_path / utility.replace(":", "-"), utility)
    data1 = fig1.compute(quick=True, source=tmp_path)
    assert data1["utility"] == "log-sigmoid:0.25"
    assert {p["type"] for p in data1["prompts"]} == {"open", "closed"}
    assert data1["prompts"][0]["steps"] == [0, 10, 20]
    data3 = fig3.compute(quick=True, source=tmp_path)
    assert [c["utility"] for c in data3["columns"]] == ["linear", "log-sigmoid:0.25", "prompt-aware"]
    data4 = fig4.compute(quick=True, source=tmp_path)
    assert [r["utility"] for r in data4["rows"]] == ["log-sigmoid:0.25", "prompt-aware"]
    single = fig4.compute(quick=True, source=tmp_path / "prompt-aware")
    assert [r["utility"] for r in single["rows"]] == ["prompt-aware"]
    for plot, data in ((fig1.make_figure, data1), (fig3.make_figure, data3),
                       (fig4.make_figure, data4)):
        with style.paper_style():
            fig = plot(io.to_jsonable(data))
        assert fig.axes


def test_warm_figures_read_a_report(tmp_path):
    lam = np.linspace(0, 1, 11).tolist()
    curve = {"lambdas": lam, "loss": [1.0] * 11, "accuracy": [0.9] * 11, "barrier": 0.0}
    report = {"lmc": {**curve, "by_noise": {"p0": curve}},
              "best_of_n": {"N": [1, 2], "oracle": [50, 60], "random": [45, 45],
                            "picked": {"p0": {"warm": [45, 55], "member_0": [45, 50]}}}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    assert warm.compute_lmc(quick=True, source=tmp_path)["curves"]["p0"]["barrier"] == 0.0
    assert warm.compute_bon(quick=True, source=tmp_path)["picked"]["p0"]["warm"] == [45, 55]


@pytest.mark.parametrize("make", [
    lambda p: T.find_runs(p / "missing"),
    lambda p: T.find_runs(p),
    lambda p: T.read_warm(p),
])
def test_a_folder_that_is_not_a_run_is_one_line_valueerror(make, tmp_path):
    with pytest.raises(ValueError) as err:
        make(tmp_path)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)


def test_a_broken_metrics_line_names_file_and_line(tmp_path):
    run = _fake_run(tmp_path / "r", "linear")
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write("{not json\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl:4"):
        T.read_run(run)


def test_cli_draws_training_figures_from_runs(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    for utility in ("log-sigmoid:0.25", "prompt-aware"):
        _fake_run(runs / utility.replace(":", "-"), utility)
    out = tmp_path / "figs"
    assert main(["figures", "--only", "fig4", "--from", str(runs), "--out", str(out),
                 "--no-progress"]) == 0
    assert (out / "fig4.png").is_file() and (out / "fig4.json").is_file()
    assert json.loads((out / "fig4.json").read_text())["meta"]["source"] == str(runs)


@pytest.mark.parametrize("argv", [
    ["figures", "--only", "card", "--from", "{tmp}"],
    ["figures", "--only", "fig3", "--from", "{tmp}/missing"],
])
def test_cli_from_is_checked_before_work(argv, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main([*argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--from" in err and "\n" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
