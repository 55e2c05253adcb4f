"""Run records and messages (issue 25): a run directory that resumes from any folder and
refuses changed data, config.json's effective sizes, the options a resume may change,
the verdict, and messages that locate the fault."""

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("dictionary")

from rcollapse.empirical.data import RankingExample  # noqa: E402
from rcollapse.empirical.losses import reference_optimum  # noqa: E402
from rcollapse.empirical.monitor import (COLLAPSE_FRACTION, CollapseMonitor,  # noqa: E402
                                         collapse_verdict)
from rcollapse.empirical.train import (METRIC_KEYS, TrainConfig, file_record,  # noqa: E402
                                       metrics_figure, split_warnings, train)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_rankings.jsonl"
README = Path(__file__).resolve().parents[2] / "README.md"
# a few seconds each: 4 prompts, 8 steps of 2 rankings
SMALL = dict(utility="log-sigmoid:1", backbone="tiny", prompts=4, batch=2, epochs=4,
             eval_every=2, lr=3e-3, seed=3)


class _Killed(Exception):
    pass


def _kill_at(step: int):
    from transformers import TrainerCallback

    class KillAt(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            if state.global_step == step:
                raise _Killed

    return KillAt()


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _fake_run(folder: Path, data: Path, **record) -> Path:
    """A run directory holding only config.json (the refusals of a resume come first)."""
    folder.mkdir()
    config = TrainConfig(data=str(data), **SMALL)
    (folder / "config.json").write_text(json.dumps({**asdict(config), **record}))
    return folder


# ---- 1. a run directory is self-sufficient ---------------------------------------------
def test_a_run_resumes_from_another_folder_with_another_thread_count(tmp_path, monkeypatch, cli):
    """Started from folder a with ``--data mine.jsonl`` (relative) and 2 threads, killed
    at step 4, resumed from folder b with 1 thread: the metrics of the uninterrupted run."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    shutil.copy(FIXTURE, a / "mine.jsonl")
    monkeypatch.chdir(a)
    train(TrainConfig(data="mine.jsonl", threads=2, **SMALL), "whole", progress=False)
    with pytest.raises(_Killed):
        train(TrainConfig(data="mine.jsonl", threads=2, **SMALL), "run",
              callbacks=[_kill_at(4)], progress=False)
    saved = json.loads((a / "run" / "config.json").read_text())
    assert saved["data"] == str((a / "mine.jsonl").resolve())
    assert saved["files"]["data"] == {"path": saved["data"],
                                      "sha256": hashlib.sha256(FIXTURE.read_bytes()).hexdigest()}
    in_checkpoint = a / "run" / "checkpoints" / "checkpoint-4" / "train_config.json"
    assert json.loads(in_checkpoint.read_text()) == saved  # the config inside the checkpoint

    monkeypatch.chdir(b)
    proc = cli("train", "--resume", a / "run", "--threads", "1", "--no-progress")
    assert proc.returncode == 0, proc.err
    first, resumed = _summary(a / "whole"), _summary(a / "run")
    assert resumed["resumed"] and first["step"] == resumed["step"] == 8
    for key in METRIC_KEYS[1:]:
        assert resumed[key] == pytest.approx(first[key], abs=1e-6), key
    assert json.loads((a / "run" / "config.json").read_text())["resumes"] == [
        {"from_step": 4, "options": {"threads": 1}}]


def test_a_resume_refuses_changed_or_missing_data_naming_the_file(tmp_path, cli):
    data = tmp_path / "mine.jsonl"
    shutil.copy(FIXTURE, data)
    run = _fake_run(tmp_path / "run", data, files={"data": file_record(data)})
    data.write_text(data.read_text() + FIXTURE.read_text().splitlines()[0] + "\n")
    proc = cli("train", "--resume", run)
    assert proc.returncode == 2 and len(proc.err.strip().splitlines()) == 1, proc.err
    assert f"--data {data.resolve()} changed since the run started" in proc.err
    data.unlink()
    proc = cli("train", "--resume", run)
    assert proc.returncode == 2 and f"--data {data.resolve()} is gone" in proc.err, proc.err


def test_warm_records_absolute_data_and_refuses_changed_data(tmp_path, monkeypatch, cli):
    import rcollapse.empirical.warm as W

    monkeypatch.chdir(tmp_path)
    shutil.copy(FIXTURE, tmp_path / "mine.jsonl")
    config = W.WarmConfig(members=2, backbone="tiny", utility="log-sigmoid:0.25",
                          data="mine.jsonl", eval_prompts=3, bon_prompts=3, noise=(0.0,))
    W.prepare_run(config, "run")
    saved = json.loads((tmp_path / "run" / "warm_config.json").read_text())
    assert saved["data"] == str((tmp_path / "mine.jsonl").resolve())
    assert saved["files"]["data"] == file_record(tmp_path / "mine.jsonl")
    assert W.resolve_config(config, "run", resume=True) == config  # same options, relative
    assert saved["train"] == asdict(config.train)  # the members' whole TrainConfig
    assert W.resolve_config(None, "run", resume=True).train == config.train
    monkeypatch.chdir(tmp_path.parent)
    with (tmp_path / "mine.jsonl").open("a") as fh:
        fh.write(FIXTURE.read_text().splitlines()[0] + "\n")
    with pytest.raises(ValueError, match="--data .*mine.jsonl changed since the run started"):
        W.resolve_config(None, tmp_path / "run", resume=True)
    proc = cli("warm", "--resume", tmp_path / "run", "--members", "3")
    assert proc.returncode == 2 and "got --members" in proc.err, proc.err


# ---- 2. config.json records what ran; 4. the verdict; 7. --no-progress -----------------
def test_config_records_the_effective_split_and_the_cli_prints_the_verdict(tmp_path, cli):
    data = tmp_path / "mine.jsonl"
    lines = FIXTURE.read_text().splitlines()[:20]
    data.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    proc = cli("train", "--utility", "log", "--data", data, "--test-fraction", "0.25",
                "--epochs", "1", "--batch", "4", "--eval-every", "2", "--no-progress",
                "--out", run)
    assert proc.returncode == 0, proc.err
    saved = json.loads((run / "config.json").read_text())
    assert saved["prompts"] == 64 and saved["test_fraction"] == 0.25  # what was asked
    eff = saved["effective"]  # what ran
    assert (eff["train_prompts"], eff["test_prompts"], eff["test_fraction"]) == (15, 5, 0.25)
    types = [json.loads(line).get("type") for line in lines]
    assert eff["types"]["train"]["open"] + eff["types"]["test"]["open"] == types.count("open")
    assert (eff["device"], eff["precision"]) == ("cpu", "fp32")
    summary = _summary(run)
    assert (summary["train_prompts"], summary["test_prompts"]) == (15, 5)
    # the verdict: stdout's last line, summary.json's numbers
    verdict = summary["verdict"]
    assert proc.out.strip().splitlines()[-1] == verdict["line"]
    for split in ("train", "test"):
        v = verdict[split]
        assert v["w1_to_optimum"] == summary[f"w1_to_optimum_{split}"]
        assert v["collapsed"] == (v["w1_to_optimum"] <= COLLAPSE_FRACTION * v["w1_flat_to_optimum"])
    # 5 held-out prompts: a warning that says how to hold out more; no bar, no log dict
    assert summary["warnings"] and "--test-fraction F (now 0.25: 5 prompts)" in proc.err
    assert verdict["test"]["caveat"] in verdict["line"] and "too few to judge" in verdict["line"]
    for bar in ("it/s", "s/it", "Writing model shards", "train_runtime"):
        assert bar not in proc.err, bar


def test_without_no_progress_the_trainer_bars_show(tmp_path, cli):
    """The counterpart of the check above: the same kind of run shows its bars."""
    proc = cli("train", "--utility", "log", "--data", FIXTURE, "--prompts", "4", "--epochs",
                "1", "--batch", "2", "--eval-every", "2", "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.err
    assert "it/s" in proc.err or "s/it" in proc.err


# ---- 3. what a resume may change -------------------------------------------------------
def test_a_resume_refuses_by_name_the_options_that_change_the_result(tmp_path, cli):
    proc = cli("train", "--resume", tmp_path / "nowhere", "--utility", "log", "--lr", "0.1")
    assert proc.returncode == 2 and len(proc.err.strip().splitlines()) == 1, proc.err
    assert "--utility, --lr would change the result" in proc.err
    assert "valid with --resume: --threads, --device, --no-progress" in proc.err
    proc = cli("train", "--resume", tmp_path / "nowhere", "--out", tmp_path / "x")
    assert proc.returncode == 2 and "drop --out" in proc.err


def test_a_resume_refuses_a_device_that_changes_the_numerics(tmp_path, cli):
    """A run recorded on cuda in bf16: ``--device cpu`` would change the numerics."""
    run = _fake_run(tmp_path / "run", FIXTURE, effective={"device": "cuda", "precision": "bf16"})
    proc = cli("train", "--resume", run, "--device", "cpu", "--no-progress")
    assert proc.returncode == 2 and len(proc.err.strip().splitlines()) == 1, proc.err
    assert "the run trained on cuda in bf16; this resume would run on cpu in fp32" in proc.err
    assert not (run / "checkpoints").exists()


def test_test_fraction_is_checked(tmp_path, cli):
    for args, message in ((["--data", FIXTURE, "--test-fraction", "1.5"],
                           "--test-fraction 1.5: valid: a number in (0, 1)"),
                          (["--test-fraction", "0.2"], "--test-fraction is for --data")):
        proc = cli("train", *args, "--out", tmp_path / "run")
        assert proc.returncode == 2 and message in proc.err, proc.err
        assert not (tmp_path / "run").exists()


# ---- 4. the verdict, as a function of the metrics --------------------------------------
def _typed(n_open, n_closed, n=8):
    return [RankingExample(f"{t} prompt {k}", [f"c{i} " * (n - i) for i in range(n)], prompt_type=t)
            for k, t in enumerate(["open"] * n_open + ["closed"] * n_closed)]


def _row(examples, utility, rewards_of):
    """The monitor's row when prompt ex gets the rewards ``rewards_of(ex)``, best first."""
    table = {(ex.prompt, c): r for ex in examples for c, r in zip(ex.completions, rewards_of(ex))}
    return CollapseMonitor({"train": examples}, utility=utility,
                           scorer=lambda texts: [table[t] for t in texts]).evaluate(step=0)


@pytest.mark.parametrize("t", [0.0, 0.4, 0.6, 0.85, 0.95, 1.0])  # off the thresholds
def test_the_verdict_follows_the_distance_from_flat_rewards_to_the_optimum(t):
    """Rewards (1 - t)/2 + t r*: W1 to the optimum is (1 - t) x that of flat rewards, so
    the split has collapsed exactly when 1 - t <= COLLAPSE_FRACTION."""
    examples = _typed(3, 3)
    opt = {"open": reference_optimum("neg-power:1", 8).rewards,
           "closed": reference_optimum("linear", 8).rewards}
    row = _row(examples, "prompt-aware", lambda ex: (1 - t) * 0.5 + t * opt[ex.prompt_type])
    v = collapse_verdict(row, utility="prompt-aware")["train"]
    assert v["relative_w1"] == pytest.approx(1 - t, abs=1e-9)
    assert v["collapsed"] == (1 - t <= COLLAPSE_FRACTION)
    assert v["apart_fraction"] == pytest.approx(t, abs=1e-9)  # the profiles move apart linearly
    assert v["kept_apart"] == (t >= 0.5)
    assert f"of a possible {v['w1_open_vs_closed_optimum']:.3f}" in v["text"]


def test_the_verdict_under_a_fixed_utility_and_where_types_cannot_differ():
    examples = _typed(2, 2)
    r = reference_optimum("log", 8).rewards
    v = collapse_verdict(_row(examples, "log", lambda ex: r), utility="log")
    assert v["train"]["collapsed"] and "collapsed onto U's optimum" in v["line"]
    v = collapse_verdict(_row(examples, "log", lambda ex: np.full(8, 0.5)), utility="log")
    assert not v["train"]["collapsed"] and "not collapsed (W1 to the optimum" in v["line"]
    # n = 2: one optimum for every U, so the types' ceiling is 0: no verdict on the types
    pairs = _typed(1, 3, n=2)
    v = collapse_verdict(_row(pairs, "prompt-aware", lambda ex: [0.9, 0.4]), utility="prompt-aware")
    assert v["train"]["kept_apart"] is None and "cannot be kept apart here" in v["line"]


def test_metrics_figure_draws_the_ceiling_and_labels_the_loss_axis():
    rows = [{"step": s, "loss": loss, "w1_to_optimum_train": 0.3 / s, "w1_flat_to_optimum_train": 0.4,
             "w1_open_vs_closed_train": 0.05 * s, "w1_open_vs_closed_optimum_train": 0.2,
             "accuracy_train": 0.9} for s, loss in ((1, 4300.0), (2, 2600.0))]
    verdict = {"line": "verdict (U = prompt-aware): train: something"}
    fig = metrics_figure(rows, title="t", verdict=verdict)
    fig.canvas.draw()
    w1, apart, _, loss = fig.axes
    flat_lines = lambda ax: {round(float(line.get_ydata()[0]), 9) for line in ax.get_lines()  # noqa: E731
                             if len(set(np.atleast_1d(line.get_ydata()))) == 1}
    assert 0.2 in flat_lines(apart)
    assert round(COLLAPSE_FRACTION * 0.4, 9) in flat_lines(w1)
    assert verdict["line"] in fig._suptitle.get_text()
    lo, hi = loss.get_ylim()
    labels = [t.get_text() for t, v in zip(loss.get_yticklabels(), loss.get_yticks()) if lo <= v <= hi]
    assert len([x for x in labels if x]) >= 2, labels
    rows[0]["loss"] = 518.0  # over a decade (a measured run: 518 to 31): symlog, labelled
    rows[1]["loss"] = 31.0
    fig = metrics_figure(rows)
    fig.canvas.draw()
    loss = fig.axes[3]
    lo, hi = loss.get_ylim()
    assert loss.get_yscale() == "symlog"
    assert len([t for t, v in zip(loss.get_yticklabels(), loss.get_yticks())
                if lo <= v <= hi and t.get_text()]) >= 2


def test_a_small_split_is_warned_about_with_the_way_to_hold_out_more():
    config = TrainConfig(data=str(FIXTURE), test_fraction=0.1)
    few = _typed(1, 3)
    lines = split_warnings(config, _typed(8, 8), few)
    assert len(lines) == 1 and "held-out split has 1 open and 3 closed prompts" in lines[0]
    assert "--test-fraction F (now 0.1: 4 prompts) or --test-data FILE" in lines[0]
    assert split_warnings(config, _typed(8, 8), _typed(8, 9)) == []
    builtin = split_warnings(TrainConfig(), _typed(8, 8), few)
    assert "--test-prompts N (now 16)" in builtin[0]
    untyped = [RankingExample(f"p{k}", ["a", "b"]) for k in range(3)]
    assert "3 prompts (fewer than 8)" in split_warnings(config, _typed(8, 8), untyped)[0]


# ---- 5. messages that locate the fault -------------------------------------------------
def test_bad_json_is_named_by_line_and_column_with_the_whole_parser_message(tmp_path, cli):
    good = FIXTURE.read_text().splitlines()[0]
    tab = tmp_path / "tab.jsonl"
    tab.write_text(good + "\n" + '{"prompt": "a\tb", "completions": ["x", "y"]}\n')
    cut = tmp_path / "cut.jsonl"
    cut.write_text(good + "\n" + good + "\n" + '{"prompt": "q", "completions": ["a" "b"]}\n')
    for path, line, text in ((tab, 2, '{"prompt": "a\tb", "completions": ["x", "y"]}'),
                             (cut, 3, '{"prompt": "q", "completions": ["a" "b"]}')):
        try:
            json.loads(text)
        except json.JSONDecodeError as err:
            expected = f"{path}:{line}: not valid JSON: {err.msg}: line {line} column {err.colno}"
        proc = cli("train", "--utility", "log", "--data", path, "--out", tmp_path / "run")
        assert proc.returncode == 2 and len(proc.err.strip().splitlines()) == 1, proc.err
        assert expected in proc.err, proc.err
    assert "Invalid control character at: line 2 column 14" in cli(
        "train", "--data", tab, "--out", tmp_path / "run").err
    assert not (tmp_path / "run").exists()


def test_prompt_aware_names_the_file_and_line_of_an_untyped_prompt(tmp_path, cli):
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()[:4]]
    del rows[2]["type"]
    path = tmp_path / "untyped.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = cli("train", "--utility", "prompt-aware", "--data", path, "--out", tmp_path / "run")
    assert proc.returncode == 2 and len(proc.err.strip().splitlines()) == 1, proc.err
    assert f"{path}:3: prompt-aware needs each prompt's 'type'" in proc.err
    assert not (tmp_path / "run").exists()


def test_readme_training_section_shows_the_verdict_and_requires_type_for_prompt_aware():
    text = README.read_text()
    section = text[text.index("## Training reward models"):text.index("## WARM")]
    assert "verdict (U = " in section
    assert "required by `--utility prompt-aware`" in section
