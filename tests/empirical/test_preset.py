"""``rcollapse train --preset paper`` (issue 22): the official configuration of section 5.2,
its CPU time estimate printed before the run starts, and the options it adds (``--steps``,
``--warmup-ratio``, ``--weight-decay``, ``--max-grad-norm``)."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("dictionary")

from rcollapse.empirical.config import TrainConfig  # noqa: E402
from rcollapse.empirical.preset import PAPER_UTILITIES, PRESETS, apply_preset  # noqa: E402


def test_the_paper_preset_is_the_official_configuration():
    paper = PRESETS["paper"]
    assert (paper["lr"], paper["steps"], paper["batch"], paper["grad_accum"]) == (1e-5, 1000, 1, 8)
    assert (paper["warmup_ratio"], paper["weight_decay"], paper["max_grad_norm"]) == (0.1, 0.01, 2.0)
    assert (paper["max_length"], paper["prompts"], paper["test_prompts"]) == (512, 8192, 16)
    assert apply_preset("paper", {}, cuda=True)["precision"] == "fp16"
    assert apply_preset("paper", {"lr": 2e-5, "steps": 5}, cuda=False)["lr"] == 2e-5
    for spec in PAPER_UTILITIES:  # each of the paper's utilities trains here
        TrainConfig(**apply_preset("paper", {"utility": spec}, cuda=False)).validate()


def test_the_preset_arguments_reach_the_trainer(tmp_path):
    from rcollapse.empirical.trainer import training_arguments

    config = TrainConfig(**apply_preset("paper", {"backbone": "tiny"}, cuda=False)).validate()
    args = training_arguments(config, tmp_path, device="cpu", precision="fp32", progress=False)
    assert (args.max_steps, args.max_grad_norm, args.weight_decay) == (1000, 2.0, 0.01)
    assert args.get_warmup_steps(1000) == 100
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (1, 8)


def test_paper_preset_on_tiny_runs_end_to_end_and_estimates_first(tmp_path, cli):
    out = tmp_path / "run"
    r = cli("train", "--preset", "paper", "--backbone", "tiny", "--steps", 5,
                             "--eval-prompts", 16, "--threads", 1, "--no-progress",
                             "--out", out)
    assert r.returncode == 0, r.err
    lines = r.out.strip().splitlines()
    assert lines[0].startswith("--preset paper on CPU with --backbone tiny: one step measured")
    assert "5 steps take about" in lines[0]
    assert lines[-1].startswith("verdict")
    config = json.loads((out / "config.json").read_text())
    assert (config["lr"], config["steps"], config["grad_accum"], config["max_length"]) == (
        1e-5, 5, 8, 512)
    assert config["effective"]["train_prompts"] == 8192
    assert config["effective"]["test_prompts"] == 16
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 5


def test_bad_presets_are_refused_in_one_line(tmp_path, cli):
    r = cli("train", "--preset", "fast", "--out", tmp_path / "a")
    assert r.returncode == 2 and r.err.strip().count("\n") == 0
    assert "'fast'" in r.err and "paper" in r.err
    r = cli("train", "--preset", "paper", "--resume", tmp_path / "a")
    assert r.returncode == 2 and "drop --preset" in r.err
    r = cli("train", "--preset", "paper", "--max-grad-norm", 0, "--out", tmp_path / "b")
    assert r.returncode == 2 and "--max-grad-norm" in r.err
