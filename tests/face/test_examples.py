"""The worked examples (examples/0N_*.py, jupytext percent format) run as notebooks.

Each example is converted by jupytext and executed by nbclient in a kernel of this very
interpreter (a kernel spec written here, whose argv is ``sys.executable``, so that a
user's own ``python3`` kernel never stands in for the venv), with the suite's
environment (offline, headless, one BLAS and torch thread) and a temporary working
folder, also its TMPDIR (example 03's two runs weigh 67 MB; pytest removes them). The
examples assert the paper's claims themselves, with margins; their last cell prints one
``SUMMARY {json}`` line, and the test checks the numbers again from that line, so an
example that stopped computing what it says fails here even if its own asserts were
weakened.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
KERNEL = "rcollapse-examples"
#: Per-cell limit: an example runs in well under 60 s in all (examples/README.md); this
#: only stops a hung cell.
CELL_TIMEOUT = 180
ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PNG = b"\x89PNG\r\n\x1a\n"


def _example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("0[0-9]_*.py"))


def _kernel_spec(folder: Path) -> None:
    """A kernel spec named KERNEL that starts this interpreter, in ``folder``/kernels."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "reward-collapse (test)", "language": "python"}))


def _executed(path: Path, work: Path, monkeypatch) -> nbformat.NotebookNode:
    """The example run as a notebook in ``work``, with a last cell that names the kernel's
    interpreter."""
    _kernel_spec(work / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(work / "jupyter"))  # searched before the user's folders
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    nb = jupytext.read(path)
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint('PREFIX ' + sys.prefix)"))
    run = work / "run"
    run.mkdir()
    monkeypatch.setenv("TMPDIR", str(run))  # the examples' temporary folders land in pytest's
    NotebookClient(nb, timeout=CELL_TIMEOUT, startup_timeout=120, kernel_name=KERNEL,
                   resources={"metadata": {"path": str(run)}}).execute()
    return nb


def _printed(nb, tag: str) -> str:
    """The text after ``tag`` on the one stdout line that starts with it."""
    stdout = ["".join(out["text"] for out in cell.get("outputs", []) if out.get("name") == "stdout")
              for cell in nb.cells if cell.cell_type == "code"]  # a cell's stream may come in pieces
    lines = [line[len(tag) + 1:] for text in stdout for line in text.splitlines()
             if line.startswith(tag + " ")]
    assert len(lines) == 1, f"{tag}: {len(lines)} lines"
    return lines[0]


# ---- what each example must have computed ------------------------------------------------
def _paper_in_5_minutes(s: dict) -> None:
    n = s["n"]
    assert s["limit"] == "Beta(0.25, 0.25)" and s["kkt_residual"] <= 1e-9
    assert s["ks"] <= 1.5 / n  # Theorem 2; measured 1.0e-3 = 1/n at n = 1000
    assert abs(s["energy"] - s["limit_energy"]) <= 2 / n  # Lemma 4.5; measured 5.9e-4
    assert s["log_sigmoid_atom"] >= s["theorem4_bound"] + 0.02  # Theorem 4; 0.3834 vs 0.3498
    assert set(s["checks"].values()) == {"PASS"} and len(s["checks"]) == 5
    assert Path(s["figure"]).read_bytes()[:8] == PNG


def _your_own_utility(s: dict) -> None:
    assert max(s["ns"]) == 100_000 and min(s["ns"]) == 8
    assert max(s["kkt"].values()) <= 1e-9
    # the n = inf atom is 1/(c + 2) (the example's proof); measured 3.4e-15 off
    assert abs(s["atom_mass"] - s["closed_form_atom"]) <= 1e-9
    assert s["atom_mass"] >= s["theorem4_bound"]
    w1 = {int(n): d for n, d in s["w1"].items()}
    # W1 to the limit falls like 1/n: n W1 measured 0.2500 at every n from 100 to 10^5
    assert all(0.2 <= n * d <= 0.3 for n, d in w1.items()), w1
    assert Path(s["figure"]).read_bytes()[:8] == PNG


def _your_reward_model(s: dict) -> None:
    assert set(s["utilities"]) == {"log", "neg-power:1"}
    # measured over seeds 0-4 (one thread): collapse index at most 0.057, W1 to the optimum
    # at most 0.0057; fitted a 0.492..0.510 (log) and 0.938..1.025 (-1/x), apart >= 0.436
    assert all(s["collapsed"].values()) and max(s["collapse_index"].values()) < 0.3
    assert max(s["w1_to_optimum_train"].values()) <= 0.05
    a = s["fit_a"]
    assert abs(a["log"] - 0.5) <= 0.05 and a["neg-power:1"] >= a["log"] + 0.25
    assert Path(s["figure"]).read_bytes()[:8] == PNG


CHECKS = {"01_paper_in_5_minutes.py": _paper_in_5_minutes,
          "02_your_own_utility.py": _your_own_utility,
          "03_your_reward_model.py": _your_reward_model}
#: what an example needs beyond the dev extra
NEEDS = {"03_your_reward_model.py": ("torch", "transformers", "dictionary")}


def test_every_example_has_its_check():
    assert [p.name for p in _example_files()] == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_runs_as_a_notebook_and_computes_the_claims(name, tmp_path, monkeypatch):
    for module in NEEDS.get(name, ()):
        pytest.importorskip(module)
    nb = _executed(EXAMPLES / name, tmp_path, monkeypatch)
    assert _printed(nb, "PREFIX") == sys.prefix  # the kernel is this interpreter (the venv)
    CHECKS[name](json.loads(_printed(nb, "SUMMARY")))


@pytest.mark.parametrize("readme", [ROOT / "README.md", EXAMPLES / "README.md"], ids=["README", "examples"])
def test_the_readmes_link_every_example(readme):
    text = readme.read_text()
    prefix = "examples/" if readme.parent == ROOT else ""
    missing = [p.name for p in _example_files()
               if not re.search(r"\]\(\.?/?" + re.escape(prefix + p.name) + r"\)", text)]
    assert not missing, f"{readme.name} links no {missing}"
