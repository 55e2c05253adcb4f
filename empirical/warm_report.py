"""WARM's report: report.json from the evaluated repeats and noise levels, and report.md.

``build_report`` gathers what ``warm_evaluation`` measured, per repeat and noise level,
into report.json's keys ``REPORT_KEYS``: every number is the mean over the K repeats,
with the half-width of its 95% Student-t interval beside it (``warm_claims.mean_interval``;
none for K = 1), and ``claims`` holds the four claims' rows
(``warm_claims.claims_from_results``). ``report_markdown`` writes the tables a person
reads first, the claims on top. Nothing here draws: the run's PNGs are ``figures.warm``'s,
drawn from the report by the command (``rcollapse warm``).
"""

from __future__ import annotations

import json

import numpy as np

from rcollapse.empirical.warm_claims import claims_from_results, mean_interval
from rcollapse.empirical.warm_config import WarmConfig

__all__ = ["REPORT_KEYS", "build_report", "report_markdown"]

#: The keys of report.json.
REPORT_KEYS = ("claims", "lmc", "accuracy", "accuracy_interval", "best_of_n", "collapse",
               "inference_seconds", "repeats")

_COLLAPSE_KEYS = ("w1_to_optimum", "w1_open_vs_closed", "spread", "w1_to_optimum_open",
                  "w1_to_optimum_closed")


def _members(cond: dict) -> list[str]:
    return [n for n in cond["models"] if n.startswith("member_")]


def _model_value(cond: dict, name: str, key: str):
    if name == "members_mean":
        return float(np.mean([cond["rows"][m][key] for m in _members(cond)]))
    return cond["rows"][name][key]


def _mean_or_none(values):
    return None if any(v is None for v in values) else mean_interval(values)[0]


def _accuracy(results: list, models: list) -> tuple[dict, dict]:
    """{model: {set[_noiseP]: mean}} and the same of half-widths, over repeats."""
    acc = {name: {} for name in models}
    half = {name: {} for name in models}
    for k, first in enumerate(results[0]):
        conds = [rep[k] for rep in results]
        suffix = "" if float(first["noise"]) == 0.0 and k == 0 else f"_noise{first['noise']:g}"
        sets = [key[len("accuracy_"):] for key in first["rows"]["warm"]
                if key.startswith("accuracy_") and key != "accuracy_val"]
        for name in models:
            for s in sets:
                acc[name][s + suffix], half[name][s + suffix] = mean_interval(
                    [_model_value(c, name, f"accuracy_{s}") for c in conds])
    return acc, half


def _collapse(results: list) -> dict:
    out = {}
    for k, first in enumerate(results[0]):
        conds = [rep[k] for rep in results]
        out[first["label"]] = {
            name: {key: _mean_or_none([c["rows"][name].get(f"{key}_held_out") for c in conds])
                   for key in _COLLAPSE_KEYS}
            | {"val_loss": _mean_or_none([c["rows"][name]["val_loss"] for c in conds])}
            for name in first["models"]}
    return out


def _lmc(results: list) -> dict:
    by_noise = {}
    for k, first in enumerate(results[0]):
        curves = [rep[k]["lmc"] for rep in results]
        barrier, barrier_half = mean_interval([c["barrier"] for c in curves])
        by_noise[first["label"]] = {
            "lambdas": first["lmc"]["lambdas"], "members": first["lmc"]["members"],
            "set": first["lmc"]["set"], "noise": first["noise"],
            "loss": np.mean([c["loss"] for c in curves], axis=0).tolist(),
            "accuracy": np.mean([c["accuracy"] for c in curves], axis=0).tolist(),
            "barrier": barrier, "barrier_half_width": barrier_half}
    return {**next(iter(by_noise.values())), "by_noise": by_noise}


def _curve_stats(per_repeat: list) -> tuple[list, list]:
    """Means and half-widths per N of (K, len(N)) values."""
    arr = np.asarray(per_repeat, dtype=float)
    stats = [mean_interval(arr[:, j]) for j in range(arr.shape[1])]
    return [m for m, _ in stats], [h for _, h in stats]


def _best_of_n(config: WarmConfig, results: list) -> dict:
    first = results[0][0]["best_of_n"]
    best = {"N": first["N"], "oracle": first["oracle"], "random": first["random"],
            "true_reward": "length in words", "proxy_reward": "the model's sigmoid reward",
            "estimator": "unbiased best-of-N over the pool (Coste et al. 2024)",
            "pool": f"{config.pool} candidates for each of {config.bon_prompts} held-out "
                    "prompts: every truncation of the reference answer, then word-noised "
                    "truncations (warm_members.best_of_n_pool)",
            "picked": {}, "proxy": {}, "interval": {}, "gao": {}}
    for k, cond in enumerate(results[0]):
        conds = [rep[k]["best_of_n"]["models"] for rep in results]
        label = cond["label"]
        names = list(conds[0]) + ["members_mean"]
        for key in ("picked", "proxy", "interval", "gao"):
            best[key][label] = {}
        for name in names:
            def curve(c, which, name=name):
                if name != "members_mean":
                    return c[name][which]
                return np.mean([c[m][which] for m in c if m.startswith("member_")], axis=0)
            true_m, true_h = _curve_stats([curve(c, "true") for c in conds])
            proxy_m, proxy_h = _curve_stats([curve(c, "proxy") for c in conds])
            best["picked"][label][name], best["proxy"][label][name] = true_m, proxy_m
            best["interval"][label][name] = {"true": true_h, "proxy": proxy_h}
            if name != "members_mean" and "gao_true" in conds[0][name]:
                best["gao"][label][name] = {
                    which: {p: dict(zip(("mean", "half_width"), mean_interval(
                        [c[name][f"gao_{which}"][p] for c in conds]))) for p in ("alpha", "beta")}
                    for which in ("true", "proxy")}
    return best


def build_report(config: WarmConfig, results: list[list[dict]]) -> dict:
    """report.json from the results: one list per repeat, one dict per noise level (the
    first the clean one when --noise starts at 0)."""
    models = results[0][0]["models"] + ["members_mean"]
    accuracy, half = _accuracy(results, models)
    if "best_of_n" in results[0][0]:
        best = _best_of_n(config, results)
    else:
        best = {"skipped": "best-of-N needs candidates with true rewards: built-in data only"}
    timing = next((c["inference_seconds"] for rep in results for c in rep
                   if "inference_seconds" in c), None)
    return {
        "claims": claims_from_results(results),
        "repeats": len(results),
        "interval": "95% Student-t interval over the repeats (half-width; none for 1 repeat)",
        "lmc": _lmc(results),
        "accuracy": accuracy,
        "accuracy_interval": half,
        "best_of_n": best,
        "collapse": _collapse(results),
        "inference_seconds": timing,
        "greedy": [{c["label"]: c["greedy"] for c in rep} for rep in results],
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


def _pm(stat: dict, digits: int = 3) -> str:
    if stat["half_width"] is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['half_width']:.{digits}f}"


def claims_markdown(claims: list[dict], repeats: int) -> list[str]:
    """The claims' table: verdict, the two sides and their difference (mean ± 95% half-width)."""
    lines = ["## The claims", "",
             f"Mean ± half-width of the 95% t-interval over {repeats} repeat(s)"
             + (" (one repeat: no interval)" if repeats == 1 else "")
             + ". PASS: the interval of the difference A - B reaches 0 or above (the repeats "
               "do not refute A >= B); significant: it lies above 0.", "",
             "| claim | verdict | A | B | A - B | significant | where |", "|---" * 7 + "|"]
    for row in claims:
        if row["verdict"] == "SKIP":
            lines.append(f"| {row['statement']} | SKIP | | | | | {row['reason']} |")
            continue
        n = row["numbers"]
        if row["claim"] == "lmc":
            a, b, d = n["accuracy"], n["line"], n["excess"]
            where = f"worst lambda {n['lambda']:.2f}"
        elif row["claim"] == "bon_warm_vs_members":
            a, b, d = n["warm"], n["members_mean"], n["difference"]
            where = f"worst N = {n['N']} (true reward, words)"
        else:
            (a, b), d, where = [v for k, v in n.items() if k != "difference"], n["difference"], ""
        digits = 3 if row["claim"] == "bon_warm_vs_members" else 4
        lines.append(f"| {row['statement']} | **{row['verdict']}** | {_pm(a, digits)} | "
                     f"{_pm(b, digits)} | {_pm(d, digits)} | "
                     f"{'yes' if row['significant'] else 'no'} | {where} |")
    return lines


def _bon_markdown(best: dict) -> list[str]:
    lines = ["", "## Best-of-N: expected true reward (words) and proxy of the pick", "",
             f"Pool: {best['pool']}; {best['estimator']}.", "",
             "| noise | model | " + " | ".join(f"N={n}" for n in best["N"]) + " | Gao alpha, beta (true) |",
             "|---|---" + "|---" * (len(best["N"]) + 1) + "|",
             "| | oracle | " + " | ".join(f"{v:.1f}" for v in best["oracle"]) + " | |"]
    for label, by_model in best["picked"].items():
        for name, ys in by_model.items():
            gao = best["gao"][label].get(name)
            fit = (f"{_pm(gao['true']['alpha'], 2)}, {_pm(gao['true']['beta'], 2)}"
                   if gao else "")
            lines.append(f"| {label} | {name} true | " + " | ".join(f"{v:.1f}" for v in ys)
                         + f" | {fit} |")
            lines.append(f"| {label} | {name} proxy | " + " | ".join(
                f"{v:.3f}" for v in best["proxy"][label][name]) + " | |")
    return lines


def report_markdown(report: dict) -> str:
    """report.md: the claims, then the tables a person reads first."""
    acc, half = report["accuracy"], report["accuracy_interval"]
    sets = list(next(iter(acc.values())))
    lines = ["# WARM report", "", f"Config: {json.dumps(report['config'])}", "",
             *claims_markdown(report["claims"], report["repeats"]), "",
             "## Pairwise ranking accuracy (test sets; `_noiseP`: members trained on "
             "corrupted rankings, evaluated clean; mean ± 95% half-width)", "",
             "| model | " + " | ".join(sets) + " |", "|---" * (len(sets) + 1) + "|"]
    for name, row in acc.items():
        lines.append(f"| {name} | " + " | ".join(
            _pm({"mean": row[s], "half_width": half[name][s]}) for s in sets) + " |")
    lines += ["", "## Linear mode connectivity (members 0 and 1, validation set)", ""]
    for label, c in report["lmc"]["by_noise"].items():
        lines.append(f"- {label}: barrier {_pm({'mean': c['barrier'], 'half_width': c['barrier_half_width']}, 4)}; "
                     f"mean loss at lambda 0, 0.5, 1: {c['loss'][0]:.4f}, "
                     f"{c['loss'][len(c['loss']) // 2]:.4f}, {c['loss'][-1]:.4f}")
    if "picked" in report["best_of_n"]:
        lines += _bon_markdown(report["best_of_n"])
    lines += ["", "## Collapse on the held-out prompts (means over repeats)", "",
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
