"""``rcollapse figures --paper-scale`` (issue 22): it makes the paper-scale runs on the
frozen-encoder track (``train --preset paper-frozen``) and draws Figures 3 and 4 from
them. Here the preset is shrunk to the tiny backbone and a few prompts: the wiring is
what is tested; the paper-scale numbers are measured in the README."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("dictionary")


def test_paper_scale_makes_frozen_runs_and_draws_fig4_from_them(tmp_path, monkeypatch, capsys):
    from rcollapse.cli import main
    from rcollapse.empirical import preset

    monkeypatch.setenv("RCOLLAPSE_CACHE", str(tmp_path / "cache"))
    small = {**preset.PRESETS["paper-frozen"], "backbone": "tiny", "prompts": 8,
             "test_prompts": 4, "steps": 4, "eval_every": 2, "head": "mlp:8",
             "encoder_precision": "fp32"}
    monkeypatch.setitem(preset.PRESETS, "paper-frozen", small)
    out = tmp_path / "figs"
    assert main(["figures", "--paper-scale", "--only", "fig4", "--out", str(out),
                 "--no-progress"]) == 0
    runs = out / "runs" / "paper-scale"
    assert sorted(p.name for p in runs.iterdir()) == ["log-sigmoid-0.25", "prompt-aware"]
    config = json.loads((runs / "prompt-aware" / "config.json").read_text())
    assert config["freeze"] and config["steps"] == 4 and config["max_grad_norm"] == 2.0
    assert (out / "fig4.png").is_file()
    data = json.loads((out / "fig4.json").read_text())
    assert data["meta"]["source"] == str(runs)
    # a second call reuses the finished runs
    capsys.readouterr()
    assert main(["figures", "--paper-scale", "--only", "fig4", "--out", str(out),
                 "--no-progress"]) == 0


@pytest.mark.parametrize("args, words", [
    (["--paper-scale", "--quick"], "drop --from and --quick"),
    (["--paper-scale", "--only", "fig2"], "--only fig2: valid: fig1, fig3, fig4"),
])
def test_paper_scale_refuses_what_it_cannot_draw(tmp_path, capsys, args, words):
    from rcollapse.cli import main

    assert main(["figures", *args, "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
