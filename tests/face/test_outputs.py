"""rcollapse.outputs: output paths refused before any work, files written atomically with
the usual permissions.

The checks must hold for root too, for whom ``os.access`` says yes to nearly everything:
a path under ``/proc`` cannot be created whoever asks.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from rcollapse.outputs import (
    OutputPathError,
    atomic_write_text,
    check_output_dir,
    check_output_file,
    to_jsonable,
    write_json,
)


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("x")
    return path


@pytest.mark.parametrize("check", [check_output_dir, check_output_file])
def test_proc_is_refused_even_for_root(check):
    for path in ("/proc/x", "/proc/x/y"):
        with pytest.raises(OutputPathError, match="/proc/x") as err:
            check(path)
        assert "\n" not in str(err.value)
    assert not os.path.exists("/proc/x")


@pytest.mark.parametrize("check", [check_output_dir, check_output_file])
def test_a_files_child_is_refused(check, a_file):
    with pytest.raises(OutputPathError, match="is a file"):
        check(a_file / "child")
    with pytest.raises(OutputPathError, match="is a file"):
        check(a_file / "child" / "grandchild")


def test_a_file_is_not_a_folder_and_a_folder_is_not_a_file(a_file, tmp_path):
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output_dir(a_file)
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_file(tmp_path)
    for check in (check_output_dir, check_output_file):
        with pytest.raises(OutputPathError, match="empty path"):
            check("")


def test_writable_paths_pass_and_leave_nothing_behind(tmp_path):
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_output_dir(tmp_path) == tmp_path
    assert check_output_file(tmp_path / "new" / "x.json") == tmp_path / "new" / "x.json"
    assert list(tmp_path.iterdir()) == []  # no probe file, no folder made by a check
    with pytest.raises(OutputPathError, match="already exists"):
        check_output_dir(tmp_path, must_not_exist=True)


def test_files_get_the_usual_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        text = atomic_write_text(tmp_path / "a.txt", "hello\n")
        data = write_json(tmp_path / "sub" / "b.json", {"x": [1, 2.5]})
    finally:
        os.umask(old)
    assert stat.S_IMODE(text.stat().st_mode) == 0o644
    assert stat.S_IMODE(data.stat().st_mode) == 0o644
    assert json.loads(data.read_text()) == {"x": [1, 2.5]}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.json", "sub"]


def test_write_json_is_strict(tmp_path):
    with pytest.raises(ValueError):
        write_json(tmp_path / "bad.json", {"x": float("inf")})
    assert not (tmp_path / "bad.json").exists()
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


# ---- the one JSON cleaner --------------------------------------------------------------
def test_to_jsonable_makes_strict_json_and_nonfinite_none(tmp_path):
    import numpy as np

    data = {"a": np.arange(3), "b": np.float32(0.25), "c": (np.int64(7), np.bool_(True)),
            "d": [float("nan"), float("inf"), -np.inf, np.float64("nan")], 4: {"e": tmp_path},
            "f": np.array([[1.5, np.nan]]), "g": np.float64(2.0)}
    plain = to_jsonable(data)
    assert plain == {"a": [0, 1, 2], "b": 0.25, "c": [7, True], "d": [None] * 4,
                     "4": {"e": str(tmp_path)}, "f": [[1.5, None]], "g": 2.0}
    kinds = {type(v) for v in (plain["b"], plain["c"][0], plain["c"][1], plain["g"])}
    assert kinds == {float, int, bool}  # plain Python, not numpy
    assert json.loads(write_json(tmp_path / "x.json", plain).read_text()) == plain


@pytest.mark.parametrize("bad", [object(), {1, 2}, b"bytes", 1j])
def test_to_jsonable_refuses_what_json_cannot_hold(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        to_jsonable({"x": [bad]})


def test_every_writer_uses_the_one_cleaner():
    from rcollapse.benchmarks.results import plain
    from rcollapse.figures.io import to_jsonable as figures_cleaner

    assert plain is to_jsonable and figures_cleaner is to_jsonable
