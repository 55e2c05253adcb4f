"""Tests of figures/ and ``rcollapse figures``: fast, and with no solver except the last.

Each registered figure is rendered from its own small synthetic data (``example()``),
and the PNG is checked: valid, of the size the figure asks for, and not blank.
"""

from __future__ import annotations

import importlib
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import image as mpimg

from rcollapse.figures import io
from rcollapse.figures.build import build, load_cached, make
from rcollapse.figures.catalog import all_figures, get, load
from rcollapse.figures.registry import REGISTRY, FigureSpec, register
from rcollapse.figures.style import DPI, new_figure, paper_style
from rcollapse.cli import main

EXPECTED = {"fig2", "thm2-3", "thm4", "convergence", "card", "energy",
            "fig1", "fig3", "fig4", "warm-lmc", "warm-bon"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(path, size_inches):
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = mpimg.imread(path)[..., :3]
    h, w = pixels.shape[:2]
    assert (w, h) == tuple(int(round(s * DPI)) for s in size_inches)
    assert pixels.std() > 0.05, "the image is (nearly) blank"
    ink = (pixels.mean(axis=2) < 0.9).mean()
    assert ink > 0.01, f"only {ink:.3%} of the pixels are drawn"


def test_catalog_has_every_figure_with_an_example():
    registry = load()
    assert EXPECTED <= set(registry)
    for spec in registry.values():
        assert spec.paper_ref and spec.example is not None
        assert spec.expected_seconds(True) <= spec.expected_seconds(False)


def _clipped_text(fig) -> list[str]:
    """Texts and legends that stick out of the canvas (cut off in the image)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.canvas.get_width_height()
    hidden = set()  # labels of ticks outside the view limits are never drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            span = (hi - lo) * 1e-9
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - span <= tick.get_loc() <= hi + span:
                    hidden.update((id(tick.label1), id(tick.label2)))
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    boxes += [("legend", leg.get_window_extent(renderer)) for leg in legends]
    slack = 2.0  # pixels
    return [text for text, b in boxes
            if b.x0 < -slack or b.y0 < -slack or b.x1 > width + slack or b.y1 > height + slack]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_figure_renders_from_synthetic_data(name, tmp_path):
    spec = get(name)
    data = io.to_jsonable(spec.example())  # the plot reads data as it comes from JSON
    with paper_style():
        fig = spec.plot(data)
        size = fig.get_size_inches()
        png, pdf = io.save_figure(fig, tmp_path, name)
        assert not _clipped_text(fig), "text cut off at the edge of the figure"
    assert size[0] in (3.4, 7.0)  # a column or a page of a two-column paper
    _check_png(png, size)
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_json_round_trip(tmp_path):
    data = {"a": np.arange(4), "b": {"c": np.float32(0.25), "d": [1.5, None]},
            "e": "text", "f": (np.int64(3), True), "g": float("inf")}
    written = io.save_json(tmp_path / "x.json", data)
    assert io.load_json(tmp_path / "x.json") == written
    assert written == {"a": [0, 1, 2, 3], "b": {"c": 0.25, "d": [1.5, None]}, "e": "text",
                       "f": [3, True], "g": None}
    json.dumps(written, allow_nan=False)
    for spec in all_figures():  # every example survives the trip unchanged
        plain = io.to_jsonable(spec.example())
        assert io.save_json(tmp_path / f"{spec.name}.json", plain) == plain
        assert io.load_json(tmp_path / f"{spec.name}.json") == plain


def test_load_json_of_missing_or_broken_file(tmp_path):
    assert io.load_json(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert io.load_json(tmp_path / "bad.json") is None


def _toy(calls):
    def compute(*, quick):
        calls.append(quick)
        return {"x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 1.0], "quick": quick}

    def plot(data):
        fig, axes = new_figure()
        axes[0, 0].plot(data["x"], data["y"])
        return fig

    return FigureSpec("toy", "nowhere", compute=compute, plot=plot, version=3)


def test_cache_is_reused_for_a_restyle_and_recomputed_on_request(tmp_path):
    calls = []
    spec = _toy(calls)
    first = make(spec, out=tmp_path)
    assert not first.cached and calls == [False]
    assert [p.name for p in first.paths] == ["toy.json", "toy.png", "toy.pdf"]
    assert make(spec, out=tmp_path).cached and calls == [False]  # restyle: no compute
    assert make(spec, out=tmp_path, quick=True).cached  # a full cache serves quick runs
    assert not make(spec, out=tmp_path, recompute=True).cached and len(calls) == 2
    meta = io.load_json(tmp_path / "toy.json")["meta"]
    assert meta["figure"] == "toy" and meta["version"] == 3 and meta["quick"] is False


def test_quick_cache_does_not_serve_a_full_run(tmp_path):
    calls = []
    spec = _toy(calls)
    make(spec, out=tmp_path, quick=True)
    assert load_cached(spec, tmp_path, quick=True) is not None
    assert load_cached(spec, tmp_path, quick=False) is None
    other = FigureSpec("toy", "nowhere", compute=spec.compute, plot=spec.plot, version=4)
    assert load_cached(other, tmp_path, quick=True) is None  # another version


def test_register_as_decorator_and_rejects_clashes():
    def compute(*, quick):
        return {}

    @register("test-only-figure", paper_ref="none", compute=compute)
    def plot(data):
        return new_figure()[0]

    try:
        assert REGISTRY["test-only-figure"].plot is plot
        with pytest.raises(ValueError, match="registered twice"):
            register("test-only-figure", paper_ref="none", compute=compute,
                     plot=lambda data: None)
        with pytest.raises(ValueError):
            register("bad name!", paper_ref="none", compute=compute, plot=plot)
    finally:
        REGISTRY.pop("test-only-figure", None)


def test_cli_list(capsys):
    assert main(["figures", "--list"]) == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    assert "Figure 2" in out and "Theorem 4" in out


def test_cli_unknown_figure_is_one_line_exit_2(capsys, tmp_path):
    assert main(["figures", "--only", "fig99", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "fig99" in err and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_end_to_end_card_quick(tmp_path, capsys):
    assert main(["figures", "--only", "card", "--quick", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    data = io.load_json(tmp_path / "card.json")
    assert data["meta"]["figure"] == "card"
    assert data["correct"]["ks"] < data["card"]["ks"]  # the card's formula is the worse fit
    assert len(data["rewards"]) == data["n"]
    with paper_style():
        fig = get("card").plot(data)
        assert not _clipped_text(fig)
    _check_png(tmp_path / "card.png", fig.get_size_inches())
    assert (tmp_path / "card.pdf").exists()


# --- output paths: refused before any work; files readable by others ----------------------

def _unwritable(kind, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    return {"proc": "/proc/x", "file": str(a_file), "child": str(a_file / "child")}[kind]


@pytest.mark.parametrize("kind", ["proc", "file", "child"])
def test_cli_unwritable_out_is_one_line_exit_2_before_any_work(kind, tmp_path, monkeypatch,
                                                               capsys):
    build_module = importlib.import_module("rcollapse.figures.build")  # the module, not build()

    def no_work(*args, **kwargs):
        raise AssertionError("the figure was computed before its output path was checked")

    monkeypatch.setattr(build_module, "compute_data", no_work)
    out = _unwritable(kind, tmp_path)
    assert main(["figures", "--only", "card", "--quick", "--out", out, "--no-progress"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and out in lines[0] and "--out" in lines[0], captured.err
    assert "figures:" not in captured.out  # not even the plan was printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_library_build_checks_its_folder_first(tmp_path):
    calls = []
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        build([_toy(calls)], out=a_file / "child")
    assert calls == []


def test_cli_unwritable_out_in_a_fresh_process_has_no_traceback():
    out = subprocess.run([sys.executable, "-m", "rcollapse", "figures", "--only", "card",
                          "--quick", "--out", "/proc/x", "--no-progress"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_figure_files_are_not_private(tmp_path):
    """Files get 0666 less the umask (0644 here), not mkstemp's 0600."""
    old = os.umask(0o022)
    try:
        made = make(_toy([]), out=tmp_path)
    finally:
        os.umask(old)
    assert [p.name for p in made.paths] == ["toy.json", "toy.png", "toy.pdf"]
    for path in made.paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.json", "toy.pdf", "toy.png"]
