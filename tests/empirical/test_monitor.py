"""CollapseMonitor: its metrics, and its callback on a plain transformers.Trainer."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rcollapse.empirical.data import RankingExample  # noqa: E402
from rcollapse.empirical.losses import reference_optimum  # noqa: E402
from rcollapse.empirical.monitor import (CollapseMonitor, mean_quantile_profile,  # noqa: E402
                                         w1_to_optimum)


def _examples(n_open, n_closed, n=8):
    out = []
    for k in range(n_open + n_closed):
        kind = "open" if k < n_open else "closed"
        out.append(RankingExample(f"{kind} prompt {k}", [f"c{i} " * (n - i) for i in range(n)],
                                  prompt_type=kind))
    return out


def test_w1_is_zero_at_the_optimum_and_positive_elsewhere():
    r = reference_optimum("log", 8).rewards
    assert w1_to_optimum(r, "log") == pytest.approx(0.0, abs=1e-12)
    assert w1_to_optimum(np.full(8, 0.5), "log") == pytest.approx(np.mean(np.abs(r - 0.5)))
    # U = x at odd n: the middle reward is free, the distance is to the nearest optimum
    assert w1_to_optimum([1.0, 0.3, 0.0], "linear") == pytest.approx(0.0, abs=1e-9)
    assert w1_to_optimum([0.9, 0.3, 0.0], "linear") == pytest.approx(0.1 / 3)


def test_mean_quantile_profile_with_mixed_n():
    prof = mean_quantile_profile([np.array([1.0, 0.0]), np.array([1.0, 0.5, 0.0])])
    # grid lcm(2, 3) = 6: (1,1,1,0,0,0) and (1,1,.5,.5,0,0)
    assert prof.tolist() == pytest.approx([1, 1, 0.75, 0.25, 0, 0])


def test_monitor_metrics_from_a_scorer_that_returns_each_types_optimum():
    examples = _examples(3, 2)
    opt = {"open": reference_optimum("neg-power:1", 8).rewards,
           "closed": reference_optimum("linear", 8).rewards}
    lookup = {(ex.prompt, c): opt[ex.prompt_type][i] for ex in examples
              for i, c in enumerate(ex.completions)}
    monitor = CollapseMonitor({"train": examples, "test": examples[:1] + examples[-1:]},
                              utility="prompt-aware",
                              scorer=lambda texts: [lookup[t] for t in texts])
    row = monitor.evaluate(step=7)
    assert row["step"] == 7
    assert row["w1_to_optimum_train"] == pytest.approx(0.0, abs=1e-9)
    assert row["accuracy_train"] == pytest.approx(
        (3 * 1.0 + 2 * (16 + 12 * 0.5) / 28) / 5)  # linear's optimum ties its top and bottom halves
    assert row["w1_open_vs_closed_train"] == pytest.approx(np.mean(np.abs(opt["open"] - opt["closed"])))
    assert row["optimum_open"] == pytest.approx(opt["open"].tolist())
    assert row["profile_closed_test"] == pytest.approx(opt["closed"].tolist())
    # under a fixed utility the same rewards are far from its optimum for one type
    fixed = CollapseMonitor({"train": examples}, utility="neg-power:1",
                            scorer=lambda texts: [lookup[t] for t in texts]).evaluate(step=0)
    assert fixed["w1_to_optimum_open_train"] == pytest.approx(0.0, abs=1e-9)
    assert fixed["w1_to_optimum_closed_train"] > 0.1
    record = monitor.rewards_record(7)
    assert [r["split"] for r in record] == ["train", "test"]
    assert record[0]["prompt_type"] == ["open"] * 3 + ["closed"] * 2
    assert np.allclose(record[0]["sorted_rewards"][0], opt["open"])


@pytest.mark.parametrize("spec, a", [("log", 0.5), ("power:0.5", 0.25), ("neg-power:1", 1.0)])
def test_monitor_logs_the_fitted_utility(spec, a):
    """fit=True: each row names the U whose optimum explains the profiles (the inverse
    problem of diagnose). Rewards at U's optimum of (5) at n = 8, plus noise 0.01 (seed 0),
    are fitted on the dial within 0.1 of U's a (power:g is a = (1-g)/2, log 1/2,
    neg-power:g (1+g)/2); without fit the row has no such key."""
    from rcollapse.empirical.diagnose_fit import dial_a

    examples = _examples(6, 6)
    rng = np.random.default_rng(0)
    r = reference_optimum(spec, 8).rewards
    lookup = {(ex.prompt, c): r[i] + 0.01 * rng.normal() for ex in examples
              for i, c in enumerate(ex.completions)}
    score = lambda texts: [lookup[t] for t in texts]  # noqa: E731
    row = CollapseMonitor({"train": examples}, utility=spec, scorer=score, fit=True).evaluate(step=1)
    # measured over noise seeds 0-4 (12 prompts): |a - truth| at most 0.014 (power:0.5),
    # 0.014 (log), 0.057 (neg-power:1, whose optima change least with a); fit W1 at most 0.009
    assert dial_a(row["fit_train"]) == pytest.approx(a, abs=0.1), row["fit_train"]
    assert 0.0 <= row["fit_w1_train"] <= 0.05
    assert "fit_train" not in CollapseMonitor({"train": examples}, utility=spec,
                                              scorer=score).evaluate(step=1)


def test_callback_on_a_plain_transformers_trainer(tmp_path):
    """The callback attached to a stock Trainer (MSE regression on true rewards), not ours."""
    from transformers import Trainer, TrainingArguments

    from rcollapse.empirical.model import load_reward_model

    model, tokenizer = load_reward_model("tiny", seed=0)
    examples = _examples(2, 2, n=4)
    rows = [(ex.prompt, c, 1.0 - i / 3) for ex in examples for i, c in enumerate(ex.completions)]

    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, k):
            p, c, y = rows[k]
            enc = tokenizer(p, c, truncation=True, max_length=32, padding="max_length")
            return {**{key: torch.tensor(v) for key, v in enc.items()},
                    "labels": torch.tensor([y], dtype=torch.float)}

    monitor = CollapseMonitor({"train": examples, "test": examples[:2]}, utility="log",
                              tokenizer=tokenizer)
    seen = []
    args = TrainingArguments(output_dir=str(tmp_path / "plain"), per_device_train_batch_size=4,
                             max_steps=6, learning_rate=1e-3, report_to="none", use_cpu=True,
                             save_strategy="no", logging_steps=1, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=Pairs(),
                      callbacks=[monitor.callback(every=3, on_evaluate=lambda r, m: seen.append(r))])
    trainer.train()
    assert [r["step"] for r in monitor.history] == [3, 6]
    assert seen == monitor.history
    last = monitor.history[-1]
    for key in ("w1_to_optimum_train", "w1_to_optimum_test", "w1_open_vs_closed_train",
                "accuracy_train", "accuracy_test", "spread_train"):
        assert np.isfinite(last[key]), key
    assert 0.0 <= last["accuracy_train"] <= 1.0
    assert last["loss"] is not None  # read from the Trainer's own log history


def test_callback_refuses_a_bad_interval():
    monitor = CollapseMonitor({"train": _examples(1, 1, n=3)}, utility="log", scorer=lambda t: [0.5] * len(t))
    with pytest.raises(ValueError, match="every 0"):
        monitor.callback(every=0)
