"""The spread of the training tests' outcomes over seeds and torch threads.

``tests/empirical/test_empirical_train.py`` asserts properties of small training runs (Theorem 1's
collapse, section 3.2's prompt-aware split) with thresholds; each threshold must sit far
from the spread of results across machines, seeds and thread counts, never on the last
digits of one run. This benchmark reruns those tests' settings (``TINY``) for seeds and
thread counts, each run in its own process (torch fixes its thread pool per process),
and reports, per case and metric, the worst value against the test's threshold.

    python -m rcollapse.benchmarks.training_margins --out out/training-margins
    python -m rcollapse.benchmarks.training_margins --cases linear --seeds 0 1 --threads 1

A run takes 15-30 s on one quiet core; the default grid (6 cases x 5 seeds x 2 thread
counts) takes 20-40 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["CASES", "THRESHOLDS", "run_case", "margins", "main"]

TINY = dict(backbone="tiny", prompts=8, test_prompts=4, batch=4, lr=3e-3, scheduler="linear",
            epochs=60, eval_every=120)
# case -> (utility, overrides of TINY, user-style data?)
CASES = {
    "log-sigmoid:0.25": ("log-sigmoid:0.25", {"epochs": 120}, False),
    "log": ("log", {}, False),
    "neg-power:1": ("neg-power:1", {}, False),
    "linear": ("linear", {"lr": 1e-3}, False),
    "prompt-aware": ("prompt-aware", {}, False),
    "prompt-aware-user": ("prompt-aware", {"prompts": None}, True),
}
# metric -> (threshold, "max" when the test asserts value <= threshold, "min" for >=);
# a threshold relative to the ceiling is given as a fraction of it.
THRESHOLDS = {
    "log-sigmoid:0.25": {"w1_to_optimum_train": (0.05, "max"), "accuracy_train": (0.9, "min")},
    "log": {"w1_to_optimum_train": (0.05, "max"), "accuracy_train": (0.9, "min")},
    "neg-power:1": {"w1_to_optimum_train": (0.05, "max"), "accuracy_train": (0.9, "min")},
    "linear": {"w1_to_optimum_train": (0.25, "max")},
    "prompt-aware": {"w1_to_optimum_train": (0.05, "max"), "w1_open_vs_closed_train": (0.15, "min")},
    "prompt-aware-user": {"w1_to_optimum_train": (0.05, "max"), "apart_of_ceiling": (0.8, "min")},
}

_CHILD = """
import json, sys
from pathlib import Path
from rcollapse.empirical.data import build_length_dataset, user_style_sample
from rcollapse.empirical.train import TrainConfig, train
utility, cfg, user, out = json.loads(sys.argv[1])
out = Path(out)
if user:
    rows = user_style_sample(build_length_dataset(12, seed=6), seed=6, pair_fraction=0.15, min_n=6)
    (out / "user.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
    cfg["data"] = str(out / "user.jsonl")
run = train(TrainConfig(utility=utility, **cfg), out / "run", progress=False)
print(json.dumps(json.loads((run / "summary.json").read_text())))
"""


def run_case(case: str, seed: int, threads: int) -> dict:
    """One training run of ``case`` (see :data:`CASES`) in a fresh process; its metrics."""
    utility, overrides, user = CASES[case]
    cfg = dict(TINY, **overrides, seed=seed, threads=threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([utility, cfg, user, out])],
                              capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{case} seed {seed} threads {threads}: {proc.stderr.strip().splitlines()[-1:]}")
    s = json.loads(proc.stdout.strip().splitlines()[-1])
    row = {"case": case, "seed": seed, "threads": threads,
           "w1_to_optimum_train": max(s["w1_to_optimum_open_train"], s["w1_to_optimum_closed_train"]),
           "accuracy_train": s["accuracy_train"], "w1_open_vs_closed_train": s["w1_open_vs_closed_train"],
           "ceiling_train": s["w1_open_vs_closed_optimum_train"]}
    if row["ceiling_train"]:
        row["apart_of_ceiling"] = row["w1_open_vs_closed_train"] / row["ceiling_train"]
    return row


def margins(rows: list[dict]) -> dict:
    """Per case and metric: the worst value over the rows, the threshold, and which side."""
    out = {}
    for case, limits in THRESHOLDS.items():
        mine = [r for r in rows if r["case"] == case]
        if not mine:
            continue
        for metric, (threshold, side) in limits.items():
            values = [r[metric] for r in mine if metric in r]
            worst = max(values) if side == "max" else min(values)
            out[f"{case}/{metric}"] = {"worst": worst, "threshold": threshold, "side": side,
                                       "runs": len(values)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rcollapse.benchmarks.training_margins",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--out", default="out/training-margins", metavar="DIR")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for threads in args.threads:
        for seed in args.seeds:
            for case in args.cases:
                rows.append(run_case(case, seed, threads))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    result = {"rows": rows, "margins": margins(rows)}
    (out / "training_margins.json").write_text(json.dumps(result, indent=1) + "\n")
    for key, m in result["margins"].items():
        rel = "<=" if m["side"] == "max" else ">="
        print(f"{key:<45} worst {m['worst']:.4f}  (test: {rel} {m['threshold']:g}; {m['runs']} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
