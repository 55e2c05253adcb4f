"""WARM (Ramé et al. 2024): weight averaging, greedy soups, linear mode connectivity,
best-of-N, and the ``rcollapse warm`` command end to end at tiny scale."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rcollapse.empirical.soup import (  # noqa: E402
    ArchitectureMismatchError,
    average_state_dicts,
    best_of_n,
    greedy_soup,
    interpolate_state_dicts,
    loss_barrier,
    state_fingerprint,
)


def _tiny_bert(seed: int, hidden: int = 16):
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(vocab_size=64, hidden_size=hidden, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32,
                                  max_position_embeddings=32, num_labels=1)
    return transformers.AutoModelForSequenceClassification.from_config(cfg)


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_average_is_the_mean_of_every_floating_tensor_and_loads_back():
    members = [_state(_tiny_bert(seed)) for seed in (1, 2, 3)]
    avg = average_state_dicts(members)
    assert set(avg) == set(members[0])
    for key, value in avg.items():
        if value.is_floating_point():
            expected = torch.stack([m[key].double() for m in members]).mean(0).to(value.dtype)
            torch.testing.assert_close(value, expected, rtol=0, atol=1e-7)
            assert not torch.equal(value, members[0][key]) or torch.equal(members[0][key], members[1][key])
        else:
            assert torch.equal(value, members[0][key])
    model = _tiny_bert(0)
    model.load_state_dict(avg)  # strict: every tensor present, right shapes


def test_interpolation_endpoints_are_the_members():
    a, b = _state(_tiny_bert(1)), _state(_tiny_bert(2))
    for key in a:
        torch.testing.assert_close(interpolate_state_dicts(a, b, 0.0)[key], a[key])
        torch.testing.assert_close(interpolate_state_dicts(a, b, 1.0)[key], b[key])


def test_members_of_another_architecture_are_refused_in_one_line():
    a, b = _state(_tiny_bert(1)), _state(_tiny_bert(2, hidden=8))
    with pytest.raises(ArchitectureMismatchError, match="does not share the architecture") as err:
        average_state_dicts([a, b])
    assert "\n" not in str(err.value)


def test_integer_buffers_must_agree():
    a = {"w": torch.zeros(2), "ids": torch.tensor([0, 1])}
    b = {"w": torch.ones(2), "ids": torch.tensor([1, 0])}
    with pytest.raises(ArchitectureMismatchError, match="integer buffer ids"):
        average_state_dicts([a, b])


def test_fingerprint_tells_initializations_apart():
    assert state_fingerprint(_state(_tiny_bert(1))) == state_fingerprint(_state(_tiny_bert(1)))
    assert state_fingerprint(_state(_tiny_bert(1))) != state_fingerprint(_state(_tiny_bert(2)))


def test_loss_barrier():
    lam = np.linspace(0, 1, 11)
    assert loss_barrier(lam, 1 + lam) == pytest.approx(0.0, abs=1e-12)       # a straight line
    bump = 1 + 0.3 * np.sin(np.pi * lam)
    assert loss_barrier(lam, bump) == pytest.approx(0.3)
    assert loss_barrier(lam, 1 - 0.3 * np.sin(np.pi * lam)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="non-finite"):
        loss_barrier([0, 0.5, 1], [1, float("nan"), 1])


def test_greedy_soup_keeps_members_that_do_not_hurt():
    members = [{"w": torch.tensor([float(v)])} for v in (0.0, 10.0, 1.0)]
    # utility peaks at w = 0.5: the best-accuracy member (0.0) first, then 1.0 helps
    # (average 0.5), 10.0 hurts and is left out.
    soup, record = greedy_soup(members, accuracy=[0.9, 0.5, 0.8],
                               utility=lambda sd: -abs(float(sd["w"]) - 0.5))
    assert record.order == [0, 2, 1]
    assert record.kept == [0, 2]
    assert float(soup["w"]) == pytest.approx(0.5)


def test_best_of_n_perfect_and_reversed_scorers():
    rng = np.random.default_rng(0)
    true = rng.uniform(10, 80, size=(5, 32))
    ns = [1, 2, 4, 8, 16, 32]
    perfect = best_of_n(true, true, ns)
    reversed_ = best_of_n(-true, true, ns)
    constant = best_of_n(np.zeros_like(true), true, ns)
    assert perfect["picked"] == pytest.approx(perfect["oracle"])
    assert np.all(np.diff(perfect["picked"]) > 0)
    assert np.all(np.diff(reversed_["picked"]) < 0)
    # a constant score picks at random (ties broken at random): about the random mean
    assert constant["picked"][-1] == pytest.approx(true.mean(), rel=0.05)
    assert perfect["picked"][0] == pytest.approx(perfect["random"][0])


# --------------------------------------------------------------------------------------
# empirical.warm: data, checks before training, and one whole run at tiny scale
# --------------------------------------------------------------------------------------
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from rcollapse.empirical import warm as W  # noqa: E402
from rcollapse.empirical import warm_members as WM  # noqa: E402

TINY_TRAIN = {"epochs": 1.0, "batch": 4, "eval_every": 100, "eval_prompts": 4}


def _tiny_config(**kw):
    base = dict(members=3, backbone="tiny", utility="log-sigmoid:0.25", prompts=8,
                eval_prompts=3, pool=32, bon_prompts=3, best_of=(1, 2, 4, 8, 16, 32),
                noise=(0.0, 0.25), repeats=1, train=dict(TINY_TRAIN))
    base.update(kw)
    return W.WarmConfig(**base)


def test_corrupt_rankings_swaps_two_completions_in_a_fraction_p():
    from rcollapse.empirical.data import build_length_dataset

    clean = build_length_dataset(8, seed=0)
    noisy, chosen = W.corrupt_rankings(clean, 0.25, seed=0)
    assert len(chosen) == 2
    for k, (a, b) in enumerate(zip(clean, noisy)):
        moved = [i for i in range(a.n) if a.completions[i] != b.completions[i]]
        assert len(moved) == (2 if k in chosen else 0)
        assert sorted(a.completions) == sorted(b.completions)
        assert [b.true_rewards[i] for i in range(b.n)] == [
            float(len(c.split())) for c in b.completions]  # true rewards follow their text


def test_shift_and_pool_use_lengths_never_trained_on():
    data = W.prepare_data(_tiny_config())
    trained = {len(c.split()) for ex in data["train"] for c in ex.completions}
    shifted = {len(c.split()) for ex in data["shift"] for c in ex.completions}
    assert trained <= set(range(10, 81)) and not shifted & trained
    assert {ex.prompt for ex in data["val"]}.isdisjoint(ex.prompt for ex in data["held_out"])
    assert {ex.prompt for ex in data["train"]}.isdisjoint(ex.prompt for ex in data["held_out"])
    pool = np.asarray(data["pool"]["true"])
    assert pool.shape == (3, 32)
    assert all(len(set(row)) == 32 for row in pool.tolist())


@pytest.mark.parametrize("argv, message", [
    (["--members", "1"], "--members 1: valid: an integer >= 2"),
    (["--noise", "0,1.5"], "--noise 1.5: valid"),
    (["--utility", "power:2"], "power:2"),
])
def test_bad_input_is_one_line_before_any_training(tmp_path, argv, message):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "rcollapse", "warm", *argv, "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_existing_dir_and_missing_resume_are_refused(tmp_path):
    for argv, message in ((["--out", str(tmp_path)], "already exists"),
                          (["--resume", str(tmp_path / "nope")], "no such run directory")):
        proc = subprocess.run([sys.executable, "-m", "rcollapse", "warm", *argv],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_members_that_would_not_share_the_initialization_are_refused(tmp_path, monkeypatch):
    """A loader that re-draws the head from each member's seed breaks the shared init:
    refused before any member trains."""
    import rcollapse.empirical.model as M

    real = M.load_reward_model

    def fresh_head(backbone, *, seed, dropout=0.0):
        model, tok = real(backbone, seed=seed, dropout=dropout)
        if backbone != "tiny":  # loading the shared init: re-draw the head from the seed
            torch.manual_seed(seed)
            model.classifier.reset_parameters()
        return model, tok

    monkeypatch.setattr(M, "load_reward_model", fresh_head)
    with pytest.raises(W.WarmInputError, match="would not start from the shared initialization"):
        W.run_warm(_tiny_config(noise=(0.0,)), tmp_path / "run", progress=False)
    assert not (W.repeat_dir(tmp_path / "run", 0) / "members").exists()


def test_resume_keeps_finished_members(tmp_path, monkeypatch):
    config = _tiny_config(members=2, noise=(0.0,))
    run = tmp_path / "run"
    W.prepare_run(config, run)
    done = W.repeat_dir(run, 0) / "members" / "p0" / "member_0"
    done.mkdir(parents=True)
    (done / "summary.json").write_text("{}")
    trained = []
    monkeypatch.setattr(WM, "_train_one", lambda tc, d: trained.append(d.name))
    resumed = W.resolve_config(None, run, resume=True)
    W.train_members(W.repeat_config(resumed, 0), W.repeat_dir(run, 0), progress=False)
    assert trained == ["member_1"]
    with pytest.raises(W.WarmInputError, match="options differ"):
        W.resolve_config(_tiny_config(members=3, noise=(0.0,)), run, resume=True)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("warm") / "run"
    report = W.run_warm(_tiny_config(), run, progress=False)
    from rcollapse.figures.warm import draw_run_plots

    assert not list(run.glob("*.png"))  # the empirical room draws nothing
    draw_run_plots(report, run)  # what `rcollapse warm` does after run_warm
    return run, report


def _safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_tiny_run_report_has_its_keys_and_a_finite_barrier(tiny_run):
    run, report = tiny_run
    saved = json.loads((run / "report.json").read_text())
    for key in W.REPORT_KEYS:
        assert key in saved
    assert np.isfinite(saved["lmc"]["barrier"]) and saved["lmc"]["barrier"] >= 0
    assert len(saved["lmc"]["lambdas"]) == 11 == len(saved["lmc"]["loss"])
    assert [row["claim"] for row in saved["claims"]] == ["lmc", "warm_vs_members",
                                                         "warm_vs_ensemble_noise",
                                                         "bon_warm_vs_members"]
    assert "## The claims" in (run / "report.md").read_text()
    models = [f"member_{i}" for i in range(3)] + ["warm", "greedy", "ensemble", "members_mean"]
    assert set(saved["accuracy"]) == set(models)
    for row in saved["accuracy"].values():
        assert set(row) == {"held_out", "shift", "held_out_noise0.25", "shift_noise0.25"}
        assert all(0.0 <= v <= 1.0 for v in row.values())
    assert saved["best_of_n"]["N"] == [1, 2, 4, 8, 16, 32]
    for by_model in saved["best_of_n"]["picked"].values():
        for ys in by_model.values():
            assert all(lo - 1e-9 <= y <= hi + 1e-9 for y, lo, hi in
                       zip(ys, np.full(6, 1.0), saved["best_of_n"]["oracle"]))
    t = saved["inference_seconds"]
    assert t["warm"] > 0 and t["ensemble"] > 0 and t["members"] == 3
    for label in ("p0", "p0.25"):
        assert saved["collapse"][label]["warm"]["w1_to_optimum"] >= 0
    for name in ("report.md", "lmc.png", "best_of_n.png"):
        assert (run / name).stat().st_size > 0


def test_tiny_run_warm_is_the_mean_of_the_members_and_loads(tiny_run):
    from transformers import AutoModelForSequenceClassification

    run, _ = tiny_run
    for label in ("p0", "p0.25"):
        rdir = W.repeat_dir(run, 0)
        members = [_safetensors(rdir / "members" / label / f"member_{i}" / "model") for i in range(3)]
        warm = _safetensors(rdir / "models" / label / "warm")
        assert set(warm) == set(members[0])
        for key, value in warm.items():
            if value.is_floating_point():
                expected = torch.stack([m[key].double() for m in members]).mean(0).to(value.dtype)
                torch.testing.assert_close(value, expected, rtol=0, atol=1e-6)
            else:
                assert all(torch.equal(value, m[key]) for m in members)
        soup = json.loads((rdir / "models" / label / "greedy" / "soup.json").read_text())
        greedy = _safetensors(rdir / "models" / label / "greedy")
        key = next(k for k, v in greedy.items() if v.is_floating_point())
        expected = torch.stack([members[i][key].double() for i in soup["kept"]]).mean(0)
        torch.testing.assert_close(greedy[key].double(), expected, rtol=0, atol=1e-6)
        model = AutoModelForSequenceClassification.from_pretrained(str(rdir / "models" / label / "warm"))
        assert model.config.num_labels == 1


def test_parallel_members_get_cores_over_jobs_threads(tmp_path, monkeypatch):
    """--jobs J: one process per member, J at a time, each with cores/J torch and BLAS threads."""
    config = _tiny_config(members=3, noise=(0.0,), jobs=2)
    run = tmp_path / "run"
    W.prepare_run(config, run)
    launched, live = [], []

    class FakeProcess:
        def __init__(self, argv, *, stdout, stderr, env):
            spec = json.loads(Path(argv[-1]).read_text())
            live.append(self)
            launched.append((spec, env, len(live)))
            self.dir = Path(spec["dir"])
            self.returncode = None

        def poll(self):  # finishes at once: writes what a finished member leaves
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / "summary.json").write_text("{}")
            live.remove(self)
            self.returncode = 0
            return 0

    monkeypatch.setattr(WM, "threads_per_job", lambda jobs: 8 // jobs)
    monkeypatch.setattr(WM.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(WM.time, "sleep", lambda s: None)
    W.train_members(W.repeat_config(config, 0), W.repeat_dir(run, 0), progress=False)
    assert len(launched) == 3
    assert max(n for _, _, n in launched) == 2  # never more than J at once
    for spec, env, _ in launched:
        assert spec["config"]["threads"] == 4
        assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "4"
    assert sorted(s["config"]["seed"] for s, _, _ in launched) == [1, 2, 3]
    assert len({s["config"]["backbone"] for s, _, _ in launched}) == 1  # the shared init


def test_a_failed_member_process_is_named_and_the_others_still_run(tmp_path, monkeypatch):
    """--jobs J: a member whose process fails does not stop the others; one error names it."""
    config = _tiny_config(members=3, noise=(0.0,), jobs=2)
    run = tmp_path / "run"
    W.prepare_run(config, run)
    finished = []

    class FakeProcess:
        def __init__(self, argv, *, stdout, stderr, env):
            self.dir = Path(json.loads(Path(argv[-1]).read_text())["dir"])
            self.returncode = None

        def poll(self):
            self.returncode = 1 if self.dir.name == "member_0" else 0
            finished.append(self.dir.name)
            return self.returncode

    monkeypatch.setattr(WM.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(WM.time, "sleep", lambda s: None)
    with pytest.raises(RuntimeError, match=r"1 member\(s\) failed: .*member_0 \(exit 1, log "):
        W.train_members(W.repeat_config(config, 0), W.repeat_dir(run, 0), progress=False)
    assert sorted(finished) == ["member_0", "member_1", "member_2"]


def test_run_plots_without_best_of_n_draw_only_lmc(tmp_path):
    """A --data run's report has no best-of-N: draw_run_plots writes lmc.png alone."""
    from rcollapse.figures.warm import draw_run_plots, example_lmc

    report = {"lmc": {"by_noise": example_lmc()["curves"]},
              "best_of_n": {"skipped": "best-of-N needs candidates with true rewards"}}
    paths = draw_run_plots(report, tmp_path)
    assert [p.name for p in paths] == ["lmc.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lmc.png"]
    assert (tmp_path / "lmc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
