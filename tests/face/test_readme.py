"""The README's measured tables and lines match their results files (benchmarks/results/).

Each generated part (``<!-- generated: NAME -->`` ... ``<!-- end generated -->``) must be
exactly what ``python -m rcollapse.benchmarks.readme`` writes from its results file. A
results file measured before the last change to the code it measures is not a failure
(a refactor should not force a long benchmark) but a warning that names the command to
rerun: stale numbers are never silent.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import pytest

from rcollapse.benchmarks import readme as R
from rcollapse.benchmarks.provenance import stale_against

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


class StaleResultsWarning(UserWarning):
    """A README part measured before the last change to the code it measures."""


def _parts() -> dict:
    return R.generated_parts(README.read_text())


def test_every_part_is_in_the_readme():
    assert sorted(_parts()) == sorted(R.PARTS)


@pytest.mark.parametrize("name", sorted(R.PARTS))
def test_readme_part_matches_its_results_file(name):
    body = _parts().get(name)
    assert body is not None, f"README has no part {name!r}"
    expected = R.render(name, ROOT)
    assert body == expected, (f"README part {name!r} differs from benchmarks/results/"
                              f"{R.PARTS[name].results}.json; run `python -m rcollapse.benchmarks.readme`")
    why = R.staleness(name, ROOT)
    if why:
        warnings.warn(StaleResultsWarning(why), stacklevel=1)


def test_a_typed_number_is_caught():
    """Change one digit inside a generated part: regenerating no longer reproduces it."""
    text = README.read_text()
    name = "verify-summary"
    body = R.generated_parts(text)[name]
    edited = R.replace_part(text, name, body.replace(" checks in ", " checks in 9", 1))
    assert R.generated_parts(edited)[name] != R.render(name, ROOT)
    assert R.regenerate(edited, ROOT) == R.regenerate(text, ROOT)


def test_replace_part_refuses_a_missing_part():
    with pytest.raises(ValueError, match="no part"):
        R.replace_part("no markers here\n", "atoms", "x")


# ---- staleness from git log ------------------------------------------------------------------
def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def _commit(repo: Path, path: str, text: str) -> str:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    _git(repo, "add", path)
    _git(repo, "commit", "-q", "-m", f"change {path}")
    return _git(repo, "rev-parse", "HEAD")


def test_staleness_follows_the_measured_paths(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _commit(repo, "solvers/a.py", "1")
    measured = _commit(repo, "README.md", "x")
    assert stale_against(measured, ["solvers/"], root=repo) is None
    _commit(repo, "theory/b.py", "2")  # elsewhere: still current for solvers/
    assert stale_against(measured, ["solvers/"], root=repo) is None
    last = _commit(repo, "solvers/a.py", "3")
    why = stale_against(measured, ["solvers/"], root=repo)
    assert why is not None and measured[:10] in why and last[:10] in why
    assert stale_against(last, ["solvers/"], root=repo) is None
    assert stale_against("0" * 40, ["solvers/"], root=repo) is None  # unknown commit: git cannot tell


@pytest.mark.parametrize("name", sorted(R.PARTS))
def test_results_file_says_where_it_was_measured(name):
    """Every results file carries its commit, machine and thread counts, and the command."""
    from rcollapse.benchmarks.results import load

    data = load(R.PARTS[name].results, ROOT)
    prov = data["provenance"]
    commit = prov["git"]["commit"]
    assert isinstance(commit, str) and len(commit) == 40 and int(commit, 16) >= 0
    assert prov["machine"]["cpus"] >= 1 and prov["machine"]["platform"]
    assert {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"} <= set(prov["threads"])
    assert data["command"].startswith(("rcollapse ", "python -m rcollapse."))
