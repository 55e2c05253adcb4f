"""WARM's report: report.json from the evaluated noise levels, and report.md.

``build_report`` gathers what ``warm_evaluation.evaluate_condition`` measured per noise
level into report.json's keys ``REPORT_KEYS``; ``report_markdown`` writes the tables a
person reads first. Nothing here draws: the run's PNGs are ``figures.warm``'s, drawn from
the report by the command (``rcollapse warm``).
"""

from __future__ import annotations

import json

import numpy as np

from rcollapse.empirical.warm_config import WarmConfig

__all__ = ["REPORT_KEYS", "build_report", "report_markdown"]

#: The keys of report.json.
REPORT_KEYS = ("lmc", "accuracy", "best_of_n", "collapse", "inference_seconds")


def build_report(config: WarmConfig, results: list[dict]) -> dict:
    """report.json from the evaluated conditions (the first one is the clean run)."""
    first = results[0]
    models = first["models"] + ["members_mean"]
    accuracy = {name: {} for name in models}
    collapse = {}
    for res in results:
        suffix = "" if res is results[0] else f"_noise{res['noise']:g}"
        sets = [k[len("accuracy_"):] for k in res["rows"]["warm"]
                if k.startswith("accuracy_") and k != "accuracy_val"]
        for name in res["models"]:
            for s in sets:
                accuracy[name][s + suffix] = res["rows"][name][f"accuracy_{s}"]
        members = [n for n in res["models"] if n.startswith("member_")]
        for s in sets:
            accuracy["members_mean"][s + suffix] = float(np.mean(
                [res["rows"][n][f"accuracy_{s}"] for n in members]))
        collapse[res["label"]] = {
            name: {key: res["rows"][name].get(f"{key}_held_out") for key in
                   ("w1_to_optimum", "w1_open_vs_closed", "spread", "w1_to_optimum_open",
                    "w1_to_optimum_closed")} | {"val_loss": res["rows"][name]["val_loss"]}
            for name in res["models"]}
    if "best_of_n" in first:
        any_model = next(iter(first["best_of_n"].values()))
        best = {"N": [int(n) for n in config.best_of], "oracle": any_model["oracle"],
                "random": any_model["random"], "true_reward": "length in words",
                "picked": {res["label"]: {name: v["picked"] for name, v in res["best_of_n"].items()}
                           for res in results}}
    else:
        best = {"skipped": "best-of-N needs candidates with true rewards: built-in data only"}
    lmc = dict(first["lmc"])
    lmc["by_noise"] = {res["label"]: res["lmc"] for res in results}
    timing = next((res["inference_seconds"] for res in results if "inference_seconds" in res), None)
    return {
        "lmc": lmc,
        "accuracy": accuracy,
        "best_of_n": best,
        "collapse": collapse,
        "inference_seconds": timing,
        "greedy": {res["label"]: res["greedy"] for res in results},
        "config": config.to_json(),
        "test_sets": {
            "held_out": "prompts whose head words training never saw, completions of 10..80 words",
            "shift": "the held-out prompts, completions of 8 lengths drawn from 2..9 and "
                     "82..100 words (training saw 10..80)",
            "_noiseP": "members trained with a fraction P of training rankings corrupted "
                       "(two completions swapped), evaluated on the clean set",
        },
    }


def _fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def report_markdown(report: dict) -> str:
    """report.md: the tables a person reads first."""
    acc = report["accuracy"]
    sets = list(next(iter(acc.values())))
    lines = ["# WARM report", "",
             f"Config: {json.dumps(report['config'])}", "",
             "## Pairwise ranking accuracy (test sets; `_noiseP`: members trained on "
             "corrupted rankings, evaluated clean)", "",
             "| model | " + " | ".join(sets) + " |", "|---" * (len(sets) + 1) + "|"]
    for name, row in acc.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(s)) for s in sets) + " |")
    lmc = report["lmc"]
    lines += ["", "## Linear mode connectivity (members 0 and 1, validation set)", ""]
    for label, c in lmc["by_noise"].items():
        lines.append(f"- {label}: barrier {c['barrier']:.4g}; loss at lambda 0, 0.5, 1: "
                     f"{c['loss'][0]:.4f}, {c['loss'][len(c['loss']) // 2]:.4f}, {c['loss'][-1]:.4f}")
    best = report["best_of_n"]
    if "picked" in best:
        lines += ["", "## Best-of-N: mean true reward (words) of the pick", "",
                  "| noise | model | " + " | ".join(f"N={n}" for n in best["N"]) + " |",
                  "|---|---" + "|---" * len(best["N"]) + "|",
                  "| | oracle | " + " | ".join(f"{v:.1f}" for v in best["oracle"]) + " |"]
        for label, by_model in best["picked"].items():
            for name, ys in by_model.items():
                lines.append(f"| {label} | {name} | " + " | ".join(f"{v:.1f}" for v in ys) + " |")
    lines += ["", "## Collapse on the held-out prompts", "",
              "| noise | model | W1 to optimum of (5) | W1 open vs closed | spread | val loss |",
              "|---|---|---|---|---|---|"]
    for label, by_model in report["collapse"].items():
        for name, c in by_model.items():
            lines.append(f"| {label} | {name} | {_fmt(c['w1_to_optimum'], 4)} | "
                         f"{_fmt(c['w1_open_vs_closed'], 4)} | {_fmt(c['spread'], 4)} | "
                         f"{_fmt(c['val_loss'], 4)} |")
    t = report["inference_seconds"]
    if t:
        lines += ["", "## Inference", "",
                  f"Seconds per 1000 completions ({t['completions']} completions, "
                  f"{t['threads']} threads, {t['device']}): warm {t['warm']:.3f}, "
                  f"ensemble of {t['members']} {t['ensemble']:.3f} "
                  f"(ratio {t['ratio_warm_to_ensemble']:.3f})."]
    return "\n".join(lines) + "\n"
