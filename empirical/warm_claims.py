"""WARM's four claims, each a PASS/FAIL row computed from a run's numbers over repeats.

``results`` is what a WARM run measured: one list per repeat, each holding one dict per
noise level as ``warm_evaluation`` returns it (``noise``, ``rows[model]`` with
``accuracy_held_out``, ``lmc`` with ``lambdas`` and ``accuracy``, ``best_of_n`` with
``N`` and ``models[model]["true"]``). The claims (Ramé et al. 2024, WARM):

1. linear mode connectivity: along theta(l) = (1 - l) theta_1 + l theta_2 the accuracy
   is >= the line (1 - l) acc(0) + l acc(1) between the endpoints, at every l;
2. WARM's held-out accuracy is >= the members' mean (clean labels);
3. with 25% of the training rankings corrupted, WARM's held-out accuracy is >= the
   prediction ensemble's (the paper's Fig. 4: averaging forgets memorized labels);
4. WARM's best-of-N true reward is >= the members' mean at every N (clean labels).

Each is a comparison A >= B, tested on the paired difference A - B of each repeat: its
mean over the K repeats with a 95% Student-t interval (``mean_interval``; none for
K = 1). Rule: PASS when the interval's upper end is >= 0 (the repeats do not refute
A >= B at 95%; for K = 1, when the difference is >= 0); claims 1 and 4 need it at every
lambda / every N, and the row shows the worst one (the lowest upper end) among the
interior lambdas (the ends are 0 by definition) / the N > 1 (at N = 1 every model picks
at random). ``significant`` says whether the
lower end is > 0 as well (A > B beyond noise). A claim without its noise level in the
run is SKIP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["CLAIMS", "claims_from_results", "mean_interval"]

#: Each claim's short name and statement, in report order.
CLAIMS = (
    ("lmc", "LMC: accuracy along the interpolation >= the line between the endpoints' "
            "accuracies, at every lambda (members 0 and 1, validation set, clean labels)"),
    ("warm_vs_members", "WARM >= the members' mean, held-out accuracy, clean labels"),
    ("warm_vs_ensemble_noise", "WARM >= the prediction ensemble, held-out accuracy, "
                               "members trained with 25% of rankings corrupted"),
    ("bon_warm_vs_members", "WARM's best-of-N true reward >= the members' mean, at every N "
                            "(clean labels)"),
)


def mean_interval(values: Sequence[float]) -> tuple[float, float | None]:
    """(mean, half-width of the 95% Student-t interval) of K values; half-width None for
    K = 1 (no interval from one repeat).

    >>> mean_interval([1.0, 2.0, 3.0])[0], round(mean_interval([1.0, 2.0, 3.0])[1], 4)
    (2.0, 2.4841)
    """
    from scipy.stats import t as student_t

    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size < 1 or not np.all(np.isfinite(x)):
        raise ValueError(f"mean_interval: {x.tolist()}; valid: one or more finite numbers")
    if x.size == 1:
        return float(x[0]), None
    half = student_t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(half)


def _stat(values) -> dict:
    mean, half = mean_interval(values)
    return {"mean": mean, "half_width": half}


def _upper(stat: dict) -> float:
    return stat["mean"] + (stat["half_width"] or 0.0)


def _lower(stat: dict) -> float:
    return stat["mean"] - (stat["half_width"] or 0.0)


def _condition(repeat: list, p: float) -> dict | None:
    return next((c for c in repeat if math.isclose(float(c["noise"]), p)), None)


def _members(cond: dict) -> list[str]:
    return [m for m in cond["models"] if m.startswith("member_")]


def _row(key: str, verdict: str, numbers: dict, **extra) -> dict:
    statement = dict(CLAIMS)[key]
    return {"claim": key, "statement": statement, "verdict": verdict, "numbers": numbers,
            **extra}


def _compare(key: str, a_values, b_values, a_name: str, b_name: str) -> dict:
    """The row of a claim A >= B from per-repeat values of A and B (paired)."""
    a, b = np.asarray(a_values, float), np.asarray(b_values, float)
    diff = _stat(a - b)
    numbers = {a_name: _stat(a), b_name: _stat(b), "difference": diff}
    return _row(key, "PASS" if _upper(diff) >= 0 else "FAIL", numbers,
                significant=bool(_lower(diff) > 0), repeats=int(a.size))


def _lmc_claim(conds: list) -> dict:
    lam = np.asarray(conds[0]["lmc"]["lambdas"], float)
    acc = np.array([c["lmc"]["accuracy"] for c in conds], float)       # (K, lambdas)
    excess = acc - ((1 - lam) * acc[:, :1] + lam * acc[:, -1:])        # over the line
    stats = [_stat(excess[:, j]) for j in range(lam.size)]
    worst = 1 + int(np.argmin([_upper(s) for s in stats[1:-1]]))  # the ends: 0 by definition
    numbers = {"lambda": float(lam[worst]), "excess": stats[worst],
               "accuracy": _stat(acc[:, worst]),
               "line": _stat(acc[:, worst] - excess[:, worst]),
               "excess_by_lambda": stats}
    verdict = "PASS" if all(_upper(s) >= 0 for s in stats) else "FAIL"
    return _row("lmc", verdict, numbers, significant=all(_lower(s) > 0 for s in stats[1:-1]),
                repeats=len(conds))


def _bon_claim(conds: list) -> dict:
    ns = conds[0]["best_of_n"]["N"]
    warm = np.array([c["best_of_n"]["models"]["warm"]["true"] for c in conds], float)
    members = np.array([np.mean([c["best_of_n"]["models"][m]["true"] for m in _members(c)],
                                axis=0) for c in conds], float)
    stats = [_stat(warm[:, j] - members[:, j]) for j in range(len(ns))]
    picks = [j for j, n in enumerate(ns) if n > 1] or [0]  # N = 1 is a random pick for all
    worst = picks[int(np.argmin([_upper(stats[j]) for j in picks]))]
    numbers = {"N": int(ns[worst]), "warm": _stat(warm[:, worst]),
               "members_mean": _stat(members[:, worst]), "difference": stats[worst],
               "Ns": [int(n) for n in ns], "difference_by_N": stats}
    verdict = "PASS" if all(_upper(s) >= 0 for s in stats) else "FAIL"
    return _row("bon_warm_vs_members", verdict, numbers,
                significant=all(_lower(s) > 0 for s in stats), repeats=len(conds))


def _skip(key: str, why: str) -> dict:
    return _row(key, "SKIP", {}, reason=why)


def claims_from_results(results: list[list[dict]]) -> list[dict]:
    """The four claims' rows (``CLAIMS``' order) from the per-repeat, per-noise results.
    Each row: ``claim``, ``statement``, ``verdict`` (PASS, FAIL or SKIP), ``numbers``
    (mean and half-width of each side and of their difference), ``significant``,
    ``repeats``."""
    if not results or not all(results):
        raise ValueError("claims_from_results: no repeats, or a repeat without results")
    clean = [_condition(rep, 0.0) for rep in results]
    noisy = [_condition(rep, 0.25) for rep in results]
    rows = []
    if all(c is not None for c in clean):
        rows.append(_lmc_claim(clean))
        rows.append(_compare(
            "warm_vs_members", [c["rows"]["warm"]["accuracy_held_out"] for c in clean],
            [np.mean([c["rows"][m]["accuracy_held_out"] for m in _members(c)]) for c in clean],
            "warm", "members_mean"))
    else:
        rows += [_skip("lmc", "no clean run (--noise without 0)"),
                 _skip("warm_vs_members", "no clean run (--noise without 0)")]
    if all(c is not None for c in noisy):
        rows.append(_compare(
            "warm_vs_ensemble_noise", [c["rows"]["warm"]["accuracy_held_out"] for c in noisy],
            [c["rows"]["ensemble"]["accuracy_held_out"] for c in noisy], "warm", "ensemble"))
    else:
        rows.append(_skip("warm_vs_ensemble_noise", "no run at --noise 0.25"))
    if all(c is not None and c.get("best_of_n") for c in clean):
        rows.append(_bon_claim(clean))
    else:
        rows.append(_skip("bon_warm_vs_members",
                          "no best-of-N (it needs the built-in data and a clean run)"))
    return rows
