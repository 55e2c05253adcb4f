"""Training reward models: the losses, the floor rule, and small runs that must collapse."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("dictionary")

from rcollapse.empirical.data import build_length_dataset, user_style_sample  # noqa: E402
from rcollapse.empirical.losses import (bt_loss, dial_utility, floor_for,  # noqa: E402
                                        plackett_luce_loss, prompt_utility, reference_optimum,
                                        utility_loss)
from rcollapse.empirical.random_features import continued_utility, overall_utility  # noqa: E402
from rcollapse.empirical.train import METRIC_KEYS, TrainConfig, train  # noqa: E402
from rcollapse.theory.utilities import parse_utility  # noqa: E402

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_rankings.jsonl"
SPECS = ["log-sigmoid:0.25", "log", "neg-power:1", "linear"]


# ---- losses ----------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS + ["power:0.5"])
def test_utility_loss_is_minus_the_overall_utility_with_the_one_floor_rule(spec):
    rng = np.random.default_rng(0)
    sizes = [8, 3, 8]
    z = rng.normal(scale=2.0, size=sum(sizes))
    z[3] = z[2] + 1.0  # a mis-ordered pair: U continued below the floor
    loss = utility_loss(torch.tensor(z, requires_grad=True), sizes, [spec] * 3,
                        floors=[floor_for(spec, n) for n in sizes])
    U = parse_utility(spec)
    r = 1 / (1 + np.exp(-z))
    expected, k = 0.0, 0
    for n in sizes:
        expected += overall_utility(r[None, k:k + n], [U], np.zeros(1, int), floor=floor_for(spec, n))
        k += n
    assert float(loss.detach()) == pytest.approx(-expected / 3, rel=1e-9, abs=1e-9)
    loss.backward()


def test_torch_and_numpy_continuations_agree_with_a_finite_gradient():
    U = parse_utility("neg-power:1")
    t = torch.tensor([-0.5, 0.0, 0.001, 0.5], dtype=torch.float64, requires_grad=True)
    value = continued_utility(U, t, floor=0.01)
    assert np.allclose(value.detach().numpy(), continued_utility(U, t.detach().numpy(), floor=0.01))
    value.sum().backward()
    assert torch.isfinite(t.grad).all()
    assert t.grad[:3].tolist() == pytest.approx([1e4] * 3)  # U'(floor) = 1 / floor^2


@pytest.mark.parametrize("spec, n", [(s, n) for s in SPECS + ["power:0.5", "power:0.9", "neg-power:0.5"]
                                     for n in (2, 3, 5, 8)])
def test_the_reference_is_the_optimum_of_exactly_the_function_trained(spec, n):
    """Every gap of r* lies above the floor, so r* satisfies the KKT conditions of the
    continued problem: it is its optimum."""
    floor = floor_for(spec, n)
    r = reference_optimum(spec, n).rewards
    if parse_utility(spec).dU0 is None:
        assert np.min(r[:-1] - r[1:]) > floor > 0
    else:
        assert floor == 0.0  # used as it is


def test_bt_and_plackett_luce_match_their_formulas():
    z = torch.tensor([1.0, 0.2, -0.4, 3.0, 1.0])
    sizes = [3, 2]
    pairs = [(1.0, 0.2), (1.0, -0.4), (0.2, -0.4), (3.0, 1.0)]
    bt = np.mean([math.log1p(math.exp(-(a - b))) for a, b in pairs])
    assert float(bt_loss(z, sizes)) == pytest.approx(bt, rel=1e-6)
    center = np.mean([(a + b) ** 2 for a, b in pairs])
    assert float(bt_loss(z, sizes, center_coefficient=0.01)) == pytest.approx(bt + 0.01 * center, rel=1e-6)

    def pl(v):
        return -sum(v[i] - math.log(sum(math.exp(x) for x in v[i:])) for i in range(len(v) - 1))
    assert float(plackett_luce_loss(z, sizes)) == pytest.approx((pl([1.0, 0.2, -0.4]) + pl([3.0, 1.0])) / 2,
                                                                rel=1e-6)


def test_prompt_aware_rules():
    from rcollapse.empirical.data import RankingExample

    ex = lambda **kw: RankingExample("p", ["a", "b"], **kw)  # noqa: E731
    assert prompt_utility(ex(prompt_type="open"), "prompt-aware") == "neg-power:1"
    assert prompt_utility(ex(prompt_type="closed"), "prompt-aware") == "linear"
    assert prompt_utility(ex(open_endedness=0.0), "prompt-aware-dial") == "log"
    assert prompt_utility(ex(prompt_type="open"), "prompt-aware-dial") == "neg-power:1"
    with pytest.raises(ValueError, match="needs each prompt's 'type'"):
        prompt_utility(ex(), "prompt-aware")
    # the dial's Beta(a, a) targets: a = 0.25 -> x^0.5, a = 0.75 -> -x^-0.5
    assert [dial_utility(s) for s in (-0.5, 0.5)] == ["power:0.5", "neg-power:0.5"]
    with pytest.raises(ValueError, match="open-endedness 2"):
        dial_utility(2)


# ---- runs ------------------------------------------------------------------------------
# threads=1: the same float reductions on every machine of one kind; but the last digits
# of a run still differ across CPUs (a linear run measured 0.031 here and 0.063 on
# another machine with the same seed), so no assertion below rests on them. Each threshold
# sits far from the spread measured over seeds 0..4 at 1 and 2 torch threads (the margin
# is the line beside it): `python -m rcollapse.benchmarks.training_margins` reruns them.
TINY = dict(backbone="tiny", prompts=8, test_prompts=4, batch=4, lr=3e-3, scheduler="linear",
            epochs=60, eval_every=120, seed=1, threads=1)
# Theorem 1's utilities, each with what it needs over TINY: log-sigmoid:0.25's flat ends
# are reached later (at 60 epochs one run of ten, seed 3 at 2 threads, stopped at W1 0.039)
THEOREM_1_RUNS = {"log-sigmoid:0.25": {"epochs": 120}, "log": {}, "neg-power:1": {}}


def _summary(run):
    return json.loads((run / "summary.json").read_text())


@pytest.mark.parametrize("spec", THEOREM_1_RUNS)
def test_a_fixed_utility_collapses_to_its_optimum(tmp_path, spec):
    """Theorem 1: every training prompt, open or closed, ends at the optimum of (5)."""
    run = train(TrainConfig(utility=spec, **dict(TINY, **THEOREM_1_RUNS[spec])), tmp_path / "run")
    s = _summary(run)
    # measured over 5 seeds x 1-2 threads: W1 at most 0.0011 (log-sigmoid:0.25), 0.0091 (log,
    # neg-power:1) against 0.05; accuracy at least 0.978 against 0.9
    assert s["w1_to_optimum_open_train"] <= 0.05
    assert s["w1_to_optimum_closed_train"] <= 0.05
    assert s["accuracy_train"] >= 0.9


def test_linear_utility_polarizes_the_rewards(tmp_path):
    """U = x (outside Theorem 1: not strictly concave): the optimum of (5) puts the top half
    at 1 and the bottom half at 0, and training moves every prompt towards it. Its
    gradient is constant, so a reward that the sigmoid saturated on the wrong side stays
    there (one such reward per prompt is W1 1/8): asserted is that the rewards end at
    most half as far from the optimum as flat rewards (W1 1/2), not that they reach it.
    Pair accuracy is no property here: the optimum ties each half."""
    flat = float(np.mean(np.abs(reference_optimum("linear", 8).rewards - 0.5)))
    assert flat == pytest.approx(0.5)
    run = train(TrainConfig(utility="linear", **dict(TINY, lr=1e-3)), tmp_path / "run")
    s = _summary(run)
    # measured over 5 seeds x 1-2 threads at lr 1e-3: W1 at most 0.130 (threshold 0.25);
    # at lr 3e-3 it reached 0.125, at lr 1e-2 0.5 (the saturation trap)
    assert s["w1_to_optimum_open_train"] <= flat / 2
    assert s["w1_to_optimum_closed_train"] <= flat / 2


def test_prompt_aware_keeps_the_types_apart(tmp_path):
    """Section 3.2: open-ended prompts near -1/x's optimum, closed-ended near x's."""
    run = train(TrainConfig(utility="prompt-aware", **TINY), tmp_path / "run")
    s = _summary(run)
    # measured over 5 seeds x 1-2 threads: apart at least 0.195 (threshold 0.15) of a possible
    # 0.202; W1 to each type's optimum at most 0.016 (threshold 0.05)
    assert s["w1_open_vs_closed_train"] >= 0.15
    assert s["w1_to_optimum_open_train"] <= 0.05
    assert s["w1_to_optimum_closed_train"] <= 0.05


def test_run_directory_contents(tmp_path):
    from transformers import AutoModelForSequenceClassification

    cfg = TrainConfig(utility="log", backbone="tiny", prompts=4, test_prompts=2, batch=2,
                      epochs=2, eval_every=2, seed=0)
    run = train(cfg, tmp_path / "run")
    assert json.loads((run / "config.json").read_text())["utility"] == "log"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    for key in METRIC_KEYS + ("profile_open_train", "profile_closed_test", "optimum_open",
                              "optimum_closed"):
        assert key in rows[-1], key
    summary = _summary(run)
    assert set(METRIC_KEYS) <= set(summary) and summary["seconds"] > 0
    records = [json.loads(line) for line in (run / "rewards.jsonl").read_text().splitlines()]
    assert [(r["step"], r["split"]) for r in records] == [(2, "train"), (2, "test"), (4, "train"), (4, "test")]
    assert len(records[-1]["sorted_rewards"]) == 2 and len(records[-1]["prompt_type"]) == 2
    assert (run / "model" / "model.safetensors").is_file()
    assert any((run / "checkpoints").glob("checkpoint-*/model.safetensors"))
    assert json.loads((run / "checkpoints" / "checkpoint-4" / "train_config.json").read_text()) == \
        json.loads((run / "config.json").read_text())
    assert (run / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    model = AutoModelForSequenceClassification.from_pretrained(run / "model")
    assert model.config.num_labels == 1
    with pytest.raises(ValueError, match="already exists"):
        train(cfg, run)


class _Killed(Exception):
    pass


def test_resume_after_a_kill_reaches_the_uninterrupted_metrics(tmp_path):
    from transformers import TrainerCallback

    class KillAfter(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            if state.global_step == 4:
                raise _Killed

    cfg = dict(utility="neg-power:1", backbone="tiny", prompts=4, test_prompts=2, batch=2,
               epochs=4, eval_every=2, lr=3e-3, seed=3)
    whole = train(TrainConfig(**cfg), tmp_path / "whole")
    with pytest.raises(_Killed):
        train(TrainConfig(**cfg), tmp_path / "killed", callbacks=[KillAfter()])
    assert not (tmp_path / "killed" / "summary.json").exists()
    resumed = train(None, tmp_path / "killed", resume=True)
    a, b = _summary(whole), _summary(resumed)
    assert b["resumed"] and a["step"] == b["step"] == 8
    for key in METRIC_KEYS[1:]:
        assert b[key] == pytest.approx(a[key], abs=1e-6), key
    rows = lambda run: [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert [r["step"] for r in rows(resumed)] == [2, 4, 6, 8]
    with pytest.raises(ValueError, match="already finished"):
        train(None, tmp_path / "killed", resume=True)


def test_user_jsonl_with_mixed_n_and_trl_pairs_trains(tmp_path):
    cfg = TrainConfig(utility="prompt-aware", data=str(FIXTURE), backbone="tiny", prompts=6,
                      batch=3, epochs=2, eval_every=4, seed=0)
    s = _summary(train(cfg, tmp_path / "run"))
    assert s["train_prompts"] == 6 and s["test_prompts"] >= 1
    assert math.isfinite(s["w1_to_optimum_train"])


def test_prompt_aware_keeps_the_types_apart_on_user_jsonl(tmp_path):
    """Section 3.2 on a user's file: rankings of mixed n (6 to 8) and TRL pairs, read back
    with ``data=``; each type ends near its own optimum, as far apart as the optima allow."""
    rows = user_style_sample(build_length_dataset(12, seed=6), seed=6, pair_fraction=0.15, min_n=6)
    sizes = {len(r["completions"]) for r in rows if "completions" in r}
    assert len(sizes) > 1 and any("chosen" in r for r in rows)  # mixed n, and pairs
    path = tmp_path / "user.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = dict(TINY, prompts=None)
    run = train(TrainConfig(utility="prompt-aware", data=str(path), **cfg), tmp_path / "run")
    s = _summary(run)
    ceiling = s["w1_open_vs_closed_optimum_train"]  # what exact collapse would give
    assert ceiling >= 0.1  # the split (drawn by the seed) holds both types; 0.128..0.179 over seeds 0..4
    # measured over 5 seeds x 1-2 threads: apart at least 0.981 of the ceiling (threshold 0.8);
    # W1 to each type's optimum at most 0.0084 (threshold 0.05)
    assert s["w1_open_vs_closed_train"] >= 0.8 * ceiling
    assert s["w1_to_optimum_open_train"] <= 0.05
    assert s["w1_to_optimum_closed_train"] <= 0.05


def test_the_dial_trains_each_prompt_with_its_own_power_utility(tmp_path):
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()][:6]
    for row, score in zip(rows, (-1, -0.5, 0, 0.5, 1, 0.5)):
        row["open_endedness"] = score
    path = tmp_path / "dial.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(utility="prompt-aware-dial", data=str(path), backbone="tiny", batch=3,
                      epochs=1, eval_every=2, seed=0)
    from rcollapse.empirical.data import load_jsonl

    specs = [prompt_utility(ex, "prompt-aware-dial") for ex in load_jsonl(path)]
    assert specs == ["linear", "power:0.5", "log", "neg-power:0.5", "neg-power:1", "neg-power:0.5"]
    run = train(cfg, tmp_path / "run")
    assert math.isfinite(_summary(run)["w1_to_optimum_train"])


@pytest.mark.parametrize("loss", ["bt", "plackett-luce"])
def test_other_losses_train_and_are_monitored(tmp_path, loss):
    cfg = TrainConfig(utility="log-sigmoid:1", loss=loss, backbone="tiny", prompts=4, test_prompts=2,
                      batch=2, epochs=1, eval_every=2, center_coefficient=0.01 if loss == "bt" else 0.0)
    s = _summary(train(cfg, tmp_path / "run"))
    assert s["loss_function"] == loss and math.isfinite(s["loss"])


# ---- refusals, before any work ---------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--utility", "nope"], "unknown utility"),
    (["--utility", "log", "--prompts", "0"], "--prompts 0"),
    (["--utility", "log", "--lr", "nan"], "--lr nan"),
    (["--utility", "log", "--lr", "-1"], "--lr -1"),
    (["--utility", "log", "--backbone", "/no/such/model"], "no such model directory"),
    (["--utility", "log", "--data", "/no/such.jsonl"], "no such file"),
])
def test_bad_input_is_refused_in_one_line(tmp_path, cli, args, message):
    out = tmp_path / "run"
    proc = cli("train", *args, "--out", str(out))
    assert proc.returncode == 2, proc.err
    assert message in proc.err and len(proc.err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_jsonl_is_refused_with_file_and_line(tmp_path, cli):
    one = tmp_path / "one.jsonl"
    one.write_text('{"prompt": "q", "completions": ["a", "b"]}\n')
    short = tmp_path / "short.jsonl"
    short.write_text('{"prompt": "q", "completions": ["a", "b"]}\n{"prompt": "r", "completions": ["a"]}\n')
    for path, message in ((one, "1 prompt(s); valid: at least 2"), (short, f"{short}:2: ")):
        proc = cli("train", "--utility", "log", "--data", str(path), "--out", str(tmp_path / "run"))
        assert proc.returncode == 2 and message in proc.err, proc.err
        assert not (tmp_path / "run").exists()


def test_prompt_aware_without_types_is_refused(tmp_path):
    path = tmp_path / "untyped.jsonl"
    path.write_text('{"prompt": "q", "completions": ["a", "b"]}\n{"prompt": "r", "chosen": "a", "rejected": "b"}\n')
    with pytest.raises(ValueError, match="needs each prompt's 'type'"):
        train(TrainConfig(utility="prompt-aware", data=str(path)), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_resume_refusals(tmp_path, cli):
    proc = cli("train", "--resume", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "not a run directory" in proc.err
    proc = cli("train", "--resume", str(tmp_path), "--utility", "log")
    assert proc.returncode == 2 and "--utility would change the result" in proc.err
    proc = cli("train", "--utility", "log")
    assert proc.returncode == 2 and "--out DIR is required" in proc.err
