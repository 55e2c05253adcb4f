"""The frozen-encoder track (``--freeze``): the embedding cache and a head trained on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("dictionary")

from rcollapse.empirical.data import build_length_dataset  # noqa: E402
from rcollapse.empirical.embeddings import (CACHE_ENV, backbone_key, build_embeddings,  # noqa: E402
                                            cache_root)
from rcollapse.empirical.frozen import parse_head  # noqa: E402
from rcollapse.empirical.model import load_reward_model, reward_logits  # noqa: E402
from rcollapse.empirical.train import METRIC_KEYS, TrainConfig, train  # noqa: E402


def _pairs(prompts=3, seed=0):
    return [(ex.prompt, c) for ex in build_length_dataset(prompts, seed=seed, split="train")
            for c in ex.completions]


def test_the_cache_encodes_each_text_once_and_is_keyed_by_text_and_backbone(tmp_path):
    pairs = _pairs()
    first = build_embeddings(pairs, backbone="tiny", seed=0, cache=tmp_path, progress=False)
    assert first.encoded == len(set(pairs)) > 0
    again = build_embeddings(pairs + pairs[:2], backbone="tiny", seed=0, cache=tmp_path,
                             progress=False)
    assert again.encoded == 0
    np.testing.assert_array_equal(again.rows(pairs), first.rows(pairs))
    changed = [(pairs[0][0], pairs[0][1] + " more")] + pairs[1:]
    assert build_embeddings(changed, backbone="tiny", seed=0, cache=tmp_path,
                            progress=False).encoded == 1
    # tiny's weights come from the seed: another seed is another backbone
    assert backbone_key("tiny", seed=1) != backbone_key("tiny", seed=0)
    other = build_embeddings(pairs, backbone="tiny", seed=1, cache=tmp_path, progress=False)
    assert other.encoded == len(set(pairs))
    assert not np.allclose(other.rows(pairs), first.rows(pairs))


def test_the_cache_directory_is_the_argument_else_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_root().parts[-3:] == (".cache", "rcollapse", "embeddings")


def test_a_cached_embedding_is_what_the_classifier_reads(tmp_path):
    """The model's own classifier on the cached embedding gives the model's logit."""
    pairs = _pairs(prompts=2)
    table = build_embeddings(pairs, backbone="tiny", seed=0, cache=tmp_path, progress=False)
    model, tokenizer = load_reward_model("tiny", seed=0)
    model.eval()
    with torch.no_grad():
        via_cache = model.classifier(torch.from_numpy(table.rows(pairs))).reshape(-1).numpy()
    np.testing.assert_allclose(via_cache, reward_logits(model, tokenizer, pairs), atol=1e-5)


@pytest.mark.parametrize("spec, valid", [("linear", True), ("mlp:1", True), ("mlp:512", True),
                                         ("mlp:0", False), ("mlp:", False), ("mlp:-3", False),
                                         ("foo", False)])
def test_head_specs(spec, valid):
    if valid:
        parse_head(spec)
    else:
        with pytest.raises(ValueError, match="valid: linear or mlp:N"):
            parse_head(spec)


@pytest.mark.parametrize("head", ["mlp:0", "foo"])
def test_a_bad_head_is_refused_in_one_line(tmp_path, capsys, head):
    from rcollapse.cli import main

    code = main(["train", "--freeze", "--head", head, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"--head '{head}'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def _frozen(tmp_path, monkeypatch, name, **kw):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    cfg = dict(backbone="tiny", prompts=32, test_prompts=16, epochs=100, lr=3e-2, batch=8,
               eval_every=1000, freeze=True, head="mlp:64", **kw)
    run = train(TrainConfig(**cfg), tmp_path / name, progress=False)
    return json.loads((run / "summary.json").read_text())


@pytest.mark.parametrize("utility", ["log", "log-sigmoid:0.25"])
def test_a_frozen_run_collapses_on_the_training_prompts(tmp_path, monkeypatch, utility):
    """Theorem 1 on the frozen track: train W1 to the optimum <= 0.1 x that of flat rewards.
    Measured with this config at seeds 0-4 (no other change): the ratio is
    at most 0.016 (log) and 0.034 (log-sigmoid:0.25), against the threshold 0.1."""
    summary = _frozen(tmp_path, monkeypatch, "run", utility=utility, seed=0)
    verdict = summary["verdict"]["train"]
    assert verdict["collapsed"], verdict["text"]
    assert (tmp_path / "run" / "model" / "head.pt").is_file()


def test_a_frozen_prompt_aware_run_keeps_the_types_apart(tmp_path, monkeypatch):
    """Section 3.2 on the frozen track: W1 open vs closed >= 0.5 x its value at the optima,
    each type on its own optimum. Measured over seeds 0-4: the fraction is at least 0.805
    (threshold 0.5), the W1 ratio at most 0.052 (threshold 0.1)."""
    verdict = _frozen(tmp_path, monkeypatch, "run", utility="prompt-aware", seed=0)["verdict"]
    train_verdict = verdict["train"]
    assert train_verdict["kept_apart"] and train_verdict["collapsed"], train_verdict["text"]


class _Killed(Exception):
    pass


def test_a_resumed_frozen_run_reproduces_the_uninterrupted_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    cfg = dict(utility="log", backbone="tiny", prompts=8, test_prompts=4, batch=2, epochs=4,
               eval_every=4, lr=1e-2, seed=3, freeze=True, head="mlp:16")
    whole = train(TrainConfig(**cfg), tmp_path / "whole", progress=False)

    def kill_at_8(step):
        if step == 8:
            raise _Killed

    with pytest.raises(_Killed):
        train(TrainConfig(**cfg), tmp_path / "killed", callbacks=[kill_at_8], progress=False)
    assert not (tmp_path / "killed" / "summary.json").exists()
    resumed = train(None, tmp_path / "killed", resume=True, progress=False)
    rows = lambda run: [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert [r["step"] for r in rows(resumed)] == [r["step"] for r in rows(whole)] == [4, 8, 12, 16]
    for a, b in zip(rows(whole), rows(resumed)):
        for key in METRIC_KEYS[1:]:
            assert b[key] == pytest.approx(a[key], abs=1e-6), (a["step"], key)
    assert json.loads((resumed / "summary.json").read_text())["resumed"]


def test_an_old_config_without_the_frozen_keys_reads_back():
    cfg = TrainConfig.from_json({"utility": "log", "backbone": "tiny"})
    assert cfg.freeze is False and cfg.head == "linear"


def test_bf16_embeddings_are_cached_apart_and_stay_close_to_fp32(tmp_path, capsys):
    """bf16 (autocast) features are another cache entry; the rate line prints with or
    without the progress bar. Measured on tiny (seeds 0-2, 64 pairs): the largest difference
    is at most 0.65% of the features' largest magnitude (tolerance 10%)."""
    pairs = _pairs(prompts=2)
    fp32 = build_embeddings(pairs, backbone="tiny", seed=0, cache=tmp_path, progress=False)
    bf16 = build_embeddings(pairs, backbone="tiny", seed=0, cache=tmp_path, precision="bf16",
                            progress=False)
    assert bf16.encoded == len(set(pairs))
    assert "texts/s" in capsys.readouterr().err
    a, b = fp32.rows(pairs), bf16.rows(pairs)
    assert not np.array_equal(a, b)
    assert np.abs(a - b).max() <= 0.1 * np.abs(a).max()
    with pytest.raises(ValueError, match="--encoder-precision 'fp16': valid: fp32, bf16"):
        build_embeddings(pairs, backbone="tiny", seed=0, cache=tmp_path, precision="fp16")


def test_steps_overrides_epochs_on_the_frozen_track_and_the_cli_resumes_it(tmp_path, monkeypatch,
                                                                             capsys):
    from rcollapse.cli import main

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    cfg = dict(utility="log", backbone="tiny", prompts=8, test_prompts=4, batch=2, epochs=40,
               steps=6, eval_every=3, lr=1e-2, seed=1, freeze=True, head="mlp:16",
               warmup_ratio=0.5, max_grad_norm=0.5)

    def kill_at_3(step):
        if step == 3:
            raise _Killed

    with pytest.raises(_Killed):
        train(TrainConfig(**cfg), tmp_path / "run", callbacks=[kill_at_3], progress=False)
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--threads", "1",
                 "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("verdict")
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6]
