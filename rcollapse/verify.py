"""The package's main job: check every claim of the paper, with the package's own code.

Each check compares a prediction (a closed form of ``theory``, or a symbolic identity of
``theory.derivations``) with a measurement (the solvers of ``solvers``, or mpmath), and
returns a :class:`Check` row: claim, where in the paper, predicted, measured, tolerance,
status. This module only computes; ``rcollapse.commands.verify`` prints and writes
verify.json.

Status: ``PASS`` or ``FAIL`` by the stated tolerance; ``ERROR`` when a check could not run
(a dependency missing, a solver that raised): an error is never reported as a pass.

Tolerances are fixed here, before the run, and printed with every row. Convergence
checks ask two things: the distance falls strictly as n grows, and it is below a bound
c n^-alpha (log n)^k at the largest n, whose rate the row states.

Nothing a solver says about itself is trusted: the KKT certificate of every optimum a
check reads is recomputed here on the returned vector (:func:`recomputed_certificate`,
primal feasibility included) and must meet :data:`CERTIFICATE_TOL`; KS and W1 must obey
W1 <= KS; the log-sigmoid atom mass is pinned by two independent methods to 1e-5.
``tests/test_verify.py`` breaks one input at a time (the log-sigmoid kernel, the KS
distance, Newton's rewards, U) and sees the row that reads it FAIL.
"""

from __future__ import annotations

import functools
import math
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

__all__ = ["CHECKS", "Check", "VerifyConfig", "run_checks"]

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"

#: A distance "falls" with n when each value is below the one before, or both are at
#: most FLOOR (an exact limit, such as the two atoms of U = x, stays at 0).
FLOOR = 1e-12


@dataclass(frozen=True)
class VerifyConfig:
    """What a run checks, and at which sizes."""

    ns: tuple = (50, 200, 1000)  # completions per prompt for the finite-n checks
    grid: int = 800  # cells of the n = inf solver (Theorem 5)
    card_n: tuple = (200, 1000)  # sizes for the design card comparison
    lemma_n: int = 40  # size for Lemma 4.1 with CVXPY, which imposes no symmetry
    atom_n: int = 2000  # Newton's size for the log-sigmoid atom mass, against n = inf
    #: sizes added to the convergence checks only (KS/W1 falling to the limit: Theorems 2
    #: to 4, the card and Beta comparisons), beyond ``ns``: solved by ``method="fast"`` above
    #: ``solvers.newton_cg.FAST_FROM`` and certified there by ``certify_fast`` (the dense
    #: certificate is n^2 pairs). Not for U = x (an LP solved and certified densely).
    large_ns: tuple = ()


DEFAULT = VerifyConfig()
#: --full: larger n, and the convergence checks on to n = 10^5 by the fast method. lemma_n
#: stays 40: Clarabel stops short ("insufficient progress") on some of these utilities from
#: n = 50 on.
FULL = VerifyConfig(ns=(50, 200, 1000, 3000), grid=1600, card_n=(200, 1000, 3000), lemma_n=40, atom_n=4000,
                    large_ns=(30_000, 100_000))


@dataclass
class Check:
    """One row of the report."""

    name: str  # short id, e.g. "thm2:power:0.25"
    claim: str  # the claim, in words
    where: str  # where in the paper: "Thm 2", "Lemma 4.5", ...
    predicted: str
    measured: str
    tolerance: str
    status: str  # PASS, FAIL or ERROR
    details: dict = field(default_factory=dict)  # numbers behind the row, for verify.json
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def to_json(self) -> dict:
        return asdict(self)


def _status(ok: bool) -> str:
    return PASS if ok else FAIL


def _falls(values) -> bool:
    """Strictly decreasing along n, except where both values are at most FLOOR."""
    return all(b < a or max(a, b) <= FLOOR for a, b in zip(values, values[1:]))


def _fmt_list(values, fmt="{:.2g}") -> str:
    return "/".join(fmt.format(v) for v in values)


def _w1_below_ks(ks, w1, slack: float = 1e-6) -> bool:
    """W1 = int_0^1 |F_n - F| <= sup |F_n - F| = KS for laws on [0, 1]: a distance that
    breaks this (a KS that lost its absolute value, say) is wrong. ``slack`` covers the
    sample points within 1e-7 of an atom, which KS counts as the atom."""
    return all(w <= k + slack for k, w in zip(ks, w1))


# --------------------------------------------------------------------------------------
# Dependencies, imported lazily: a missing one makes its checks ERROR, never PASS.
# --------------------------------------------------------------------------------------
def _solvers():
    from rcollapse import solvers

    if not hasattr(solvers, "solve"):
        raise ImportError("solvers.solve is not available")
    return solvers


#: The certificate every checked vector must meet, recomputed here on the vector itself
#: (never the solver's own report): Newton's target is ``solve``'s default tol, 1e-9
#: (measured: 2e-16..1.3e-11 on every utility here, n = 50..2000); an interior point
#: (Clarabel) stops near 1e-9 (measured 4e-13..3.5e-9 on the Lemma 4.1 utilities at n = 40).
#: The fast method's too; its recomputed value is the fast certificate's residual plus the
#: bound its measured summation error puts on it.
CERTIFICATE_TOL = {"newton": 1e-9, "cvxpy": 1e-7, "fast": 1e-9}


def _method(n: int) -> str:
    """The method for size n: ``solvers.newton_cg.method_for_size`` (one rule, with the figures)."""
    from rcollapse.solvers.newton_cg import method_for_size

    return method_for_size(n)


@functools.lru_cache(maxsize=None)
def _solve(spec: str, n: int, method: str = "newton"):
    """The optimum of problem (5) (solvers.solve), cached for the run."""
    sol = _solvers().solve(spec, n, method=method)
    rewards = np.asarray(sol.rewards, dtype=float)
    if rewards.shape != (n,):
        raise RuntimeError(f"solve({spec!r}, {n}) returned rewards of shape {rewards.shape}, not ({n},)")
    return sol


def recomputed_certificate(sol) -> float:
    """The KKT residual of problem (5) recomputed on ``sol.rewards`` (with ``sol.complement``,
    1 - r without cancellation), by ``solvers.kkt.certify``; never ``sol.kkt_residual``.
    Above ``FAST_FROM`` rewards (chosen by the vector's size, not by what the solver says
    it is) by ``solvers.newton_cg.certify_fast``, the same certificate by fast sums: the
    value is its residual plus the bound its measured summation error puts on it.

    It covers primal feasibility (order, bounds, a finite objective) and stationarity. A
    vector that is infeasible or cannot be certified, or a certificate that raises,
    counts as inf: it can never pass. :func:`certificate_problem` says why.
    """
    return _recompute(sol)[0]


def certificate_problem(sol) -> str | None:
    """Why ``sol``'s vector has no finite certificate (None when it has one)."""
    return _recompute(sol)[1]


def _recompute(sol) -> tuple[float, str | None, dict | None]:
    """(value, problem, fast): ``fast`` states a fast certificate's summation error, the
    bound it puts on the residual and the rows checked directly (None for the dense one)."""
    from rcollapse.solvers import kkt
    from rcollapse.solvers.newton_cg import certify_fast

    rewards = np.asarray(sol.rewards, dtype=float)
    complement = getattr(sol, "complement", None)
    if not np.all(np.isfinite(rewards)):
        return math.inf, "rewards are not finite", None
    fast = None
    try:
        if _method(rewards.size) == "fast":
            cert = certify_fast(sol.spec, rewards, complement=complement)
            fast = {"residual": float(cert.residual), "summation_error": cert.summation_error,
                    "residual_error_bound": cert.residual_error_bound, "rows_checked": cert.rows_checked}
            bound = cert.residual_error_bound
            value = float(cert.residual) + (math.inf if bound is None else float(bound))
        else:
            cert = kkt.certify(sol.spec, rewards, complement=complement)
            value = float(cert.residual)
        problem = cert.problem
    except (ValueError, ArithmeticError, RuntimeError, TypeError) as err:
        return math.inf, f"the certificate raised {type(err).__name__}: {err}", fast
    if problem is not None or not math.isfinite(value):
        return math.inf, problem or f"residual {value!r}", fast
    return value, None, fast


@functools.lru_cache(maxsize=None)
def _certificate(spec: str, n: int, method: str = "newton") -> tuple[float, str | None, dict | None]:
    return _recompute(_solve(spec, n, method))


class _Vectors:
    """The optima one check reads, each with its certificate recomputed on the vector."""

    def __init__(self):
        self.kkt = {}  # "spec n=N method" -> recomputed residual (inf: not certified)
        self.problems = {}  # the same key -> why it has no certificate
        self.fast = {}  # the same key -> the fast certificate's summation error and bound
        self._tol = {}

    def solve(self, spec: str, n: int, method: str | None = None):
        """The optimum at n by ``method`` (default: :func:`_method`, fast above FAST_FROM)."""
        method = _method(n) if method is None else method
        sol = _solve(spec, n, method)
        key = f"{spec} n={n} {method}"
        self.kkt[key], problem, fast = _certificate(spec, n, method)
        if problem is not None:
            self.problems[key] = problem
        if fast is not None:
            self.fast[key] = fast
        self._tol[key] = CERTIFICATE_TOL[method]
        return sol

    def details(self) -> dict:
        out = {"kkt_recomputed": dict(self.kkt), "certificate_problems": dict(self.problems)}
        if self.fast:
            out["fast_certificates"] = dict(self.fast)
        return out

    @property
    def ok(self) -> bool:
        return bool(self.kkt) and all(v <= self._tol[k] for k, v in self.kkt.items())

    @property
    def worst(self) -> float:
        return max(self.kkt.values(), default=math.nan)

    def measured(self) -> str:
        text = f"; KKT <= {self.worst:.1g} (recomputed, {len(self.kkt)} vectors"
        if self.fast:
            worst = max((f["summation_error"] for f in self.fast.values() if f["summation_error"] is not None),
                        default=math.nan)
            text += f"; {len(self.fast)} by fast sums, summation error <= {worst:.1g}"
        text += ")"
        if self.problems:
            key, why = next(iter(self.problems.items()))
            text += f"; {key}: {why}"
        return text

    def tolerance(self) -> str:
        tols = sorted(set(self._tol.values()))
        return "; KKT <= " + "/".join(f"{t:g}" for t in tols)


@functools.lru_cache(maxsize=None)
def _solve_limit(spec: str, grid: int):
    from rcollapse.limits import limit_solver

    solve_limit = limit_solver()
    if solve_limit is None:
        raise ImportError("solvers.solve_limit is not available")
    return solve_limit(spec, grid=grid)


# --------------------------------------------------------------------------------------
# Closed forms against the solver at growing n (Theorems 2, 3, linear).
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """A bound c * n^(-alpha) * (log n)^log_power on a distance or error at size n."""

    c: float
    alpha: float = 1.0
    log_power: int = 0

    def __call__(self, n: int) -> float:
        return self.c * n ** (-self.alpha) * math.log(n) ** self.log_power

    def __str__(self) -> str:
        text = f"{self.c:g}"
        if self.log_power:
            text += " log(n)" if self.log_power == 1 else f" log(n)^{self.log_power}"
        if self.alpha:
            text += "/n" if self.alpha == 1 else f" n^-{self.alpha:g}"
        return text


#: spec -> (where, KS bound, W1 bound, note); the bounds apply at the largest n.
#: Rates: with r_1 = 1 and r_n = 0 the empirical cdf jumps 1/n at both ends, so KS >= 1/n
#: against a continuous law; the Beta limits reach that floor (KS ~ 1/n, W1 ~ 0.25/n).
#: neg-power:0.5 converges like n^-1/2: KS sqrt(n) falls from 0.16 to 0.066 and W1 sqrt(n)
#: stays at 0.06 to 0.04 from n = 50 to 10^5 (verify --full; the n^-0.75 once fitted on
#: n <= 1000 failed at n = 10^5: KS 2.1e-4 > 1.8e-4); neg-power:1 (1-D Thomson) only
#: logarithmically. The constants leave a margin of about 1.5 to 3 over values measured
#: once with an independent Newton solver at n = 50, 200, 1000, and at 3e4, 1e5 by the fast one.
CLOSED_FORMS = {
    "power:0.25": ("Thm 2", Rate(1.5), Rate(0.5), ""),
    "power:0.5": ("Thm 2", Rate(1.5), Rate(0.5), ""),
    "power:0.75": ("Thm 2", Rate(1.5), Rate(0.5), ""),
    "log": ("Thm 3", Rate(1.5), Rate(0.5), ""),
    "neg-power:0.5": ("Thm 3", Rate(0.15, 0.5), Rate(0.1, 0.5), ""),
    "neg-power:1": ("Thm 3 (g>=1)", Rate(0.25, 0.0, -1), Rate(0.15, 0.0, -1), "1-D Thomson: slow, ~1/log n"),
    "neg-power:2": ("Thm 3 (g>=1)", Rate(2.0), Rate(1.0), "outside the Beta formula"),
    "linear": ("Thm 4 (U = x)", Rate(1e-9, 0.0), Rate(1e-9, 0.0), "n even"),
}


def _convergence_ns(ns, cfg: VerifyConfig) -> list:
    """The sizes of a convergence check: ``ns`` and then ``cfg.large_ns``."""
    return sorted(set(ns) | set(cfg.large_ns))


def _closed_form_check(spec: str, cfg: VerifyConfig) -> Check:
    from rcollapse.theory.distances import ks_distance, w1_distance
    from rcollapse.theory.limits import limiting_measure

    where, ks_tol, w1_tol, note = CLOSED_FORMS[spec]
    mu = limiting_measure(spec)
    ns = [n + (n % 2) for n in cfg.ns] if spec == "linear" else _convergence_ns(cfg.ns, cfg)
    vectors = _Vectors()
    ks, w1 = [], []
    for n in ns:
        r = vectors.solve(spec, n).rewards
        ks.append(ks_distance(r, mu, symmetric=True))
        w1.append(w1_distance(r, mu))
    ok = _falls(ks) and _falls(w1) and ks[-1] <= ks_tol(ns[-1]) and w1[-1] <= w1_tol(ns[-1]) \
        and _w1_below_ks(ks, w1) and vectors.ok
    return Check(
        name=f"limit:{spec}",
        claim=f"{spec}: optimum of (5) -> {mu.describe()}" + (f" ({note})" if note else ""),
        where=where,
        predicted=mu.describe(),
        measured=f"KS {_fmt_list(ks)}, W1 {_fmt_list(w1)} at n={_fmt_list(ns, '{}')}" + vectors.measured(),
        tolerance=f"falling; at n={ns[-1]} KS<={ks_tol} ={ks_tol(ns[-1]):.2g}, W1<={w1_tol} ={w1_tol(ns[-1]):.2g}; "
                  f"W1<=KS" + vectors.tolerance(),
        status=_status(ok),
        details={"n": ns, "ks": ks, "w1": w1, "theorem": mu.theorem, **vectors.details()},
    )


# --------------------------------------------------------------------------------------
# The design card's formula against the correct one.
# --------------------------------------------------------------------------------------
def _versus_check(spec: str, wrong, wrong_name: str, label: str, where: str, wrong_floor: float,
                  cfg: VerifyConfig) -> Check:
    """The optimum converges to the right limit and stays away from a ``wrong`` measure."""
    from rcollapse.theory.distances import ks_distance
    from rcollapse.theory.limits import limiting_measure

    right = limiting_measure(spec)
    ns = _convergence_ns(cfg.card_n, cfg)
    vectors = _Vectors()
    rewards = [vectors.solve(spec, n).rewards for n in ns]
    ks_right = [ks_distance(r, right, symmetric=True) for r in rewards]
    ks_wrong = [ks_distance(r, wrong, symmetric=True) for r in rewards]
    ok = _falls(ks_right) and min(ks_wrong) >= wrong_floor and ks_wrong[-1] >= 10 * ks_right[-1] \
        and vectors.ok
    return Check(
        name=f"{label}:{spec}",
        claim=f"{spec}: the limit is {right.describe()}, not {wrong_name} {wrong.describe()}",
        where=where,
        predicted=f"KS to {right.describe()} -> 0; to {wrong.describe()} stays >= {wrong_floor:g}",
        measured=f"KS {_fmt_list(ks_right)} vs {_fmt_list(ks_wrong)} at n={_fmt_list(ns, '{}')}"
                 + vectors.measured(),
        tolerance=f"right falling; wrong >= {wrong_floor:g} and >= 10x right" + vectors.tolerance(),
        status=_status(ok),
        details={"n": ns, "ks_correct": ks_right, "ks_wrong": ks_wrong,
                 "correct": right.describe(), "wrong": wrong.describe(), **vectors.details()},
    )


def _card_check(spec: str, cfg: VerifyConfig) -> Check:
    from rcollapse.theory.limits import design_card_measure

    return _versus_check(spec, design_card_measure(spec), "the design card's", "card", "Thm 2 vs card", 0.1, cfg)


def _beyond_beta_check(spec: str, cfg: VerifyConfig) -> Check:
    """neg-power:g, g > 1: Theorem 3's Beta((1+g)/2, ...) read beyond its range is wrong."""
    from rcollapse.theory.limits import beta_measure
    from rcollapse.theory.utilities import parse_utility

    U = parse_utility(spec)
    naive = beta_measure(U, "the Beta formula (used beyond g < 1)", "",
                         "a wrong law, for the comparison only", a=(1 + U.param) / 2)
    return _versus_check(spec, naive, "the Beta formula read beyond g < 1,", "beyond-beta", "Thm 3 (g>=1)",
                         0.03, cfg)


def _sign_check(spec: str, cfg: VerifyConfig) -> Check:
    """neg-power:g, g < 1: Theorem 3's Beta((1+g)/2, ...), not Theorem 2's Beta((1-g)/2, ...).

    The wrong law has heavier ends than the optimum, so F - F_n > 0 below 1/2: a KS
    distance without its absolute value would miss it.
    """
    from rcollapse.theory.limits import beta_measure
    from rcollapse.theory.utilities import parse_utility

    U = parse_utility(spec)
    wrong = beta_measure(U, "Theorem 2's formula (power), read for neg-power", "",
                         "a wrong law, for the comparison only", a=(1 - U.param) / 2)
    return _versus_check(spec, wrong, "Theorem 2's power-law parameter", "thm3-sign", "Thm 3 vs Thm 2",
                         0.05, cfg)


# --------------------------------------------------------------------------------------
# (a) The Beta parameter, symbolically and with mpmath.
# --------------------------------------------------------------------------------------
def _derivation_a_check(family: str, cfg: VerifyConfig) -> Check:
    import sympy as sp

    from rcollapse.theory import derivations as D

    derivation = D.derive_beta_parameter(family)
    samples = {"power": ("1/4", "1/2"), "neg-power": ("1/4", "1/2"), "log": (None,)}[family]
    rows, ok = [], True
    for g in samples:
        if g is None:
            exponent, a_star = None, float(derivation.a)
        else:
            gv = sp.Rational(g)
            exponent = float(D.kernel_exponent(f"{family}:{float(gv)}"))
            a_star = float(derivation.a.subs(D.gamma, gv))
        spread = D.potential_spread(exponent, a_star)
        root = D.solve_beta_parameter_numerically(exponent)  # no formula used
        # a wrong a: the design card's 1 - g/2 for power, a + 1/4 otherwise
        other_a = (1 - float(sp.Rational(g)) / 2) if family == "power" else (a_star + 0.25)
        other_spread = D.potential_spread(exponent, other_a)
        good = spread <= 1e-10 and other_spread >= 1e-3 and abs(root - a_star) <= 1e-10
        ok &= good
        rows.append({"gamma": g, "a": a_star, "spread": spread, "numerical_root": root,
                     "other_a": other_a, "other_spread": other_spread})
    measured = "; ".join(
        (f"g={r['gamma']}: " if r["gamma"] else "")
        + f"spread {r['spread']:.1g} at a={r['a']:g}"
        + f", root a*={r['numerical_root']:.9f}"
        + f", spread {r['other_spread']:.2g} at a={r['other_a']:g}"
        for r in rows
    )
    return Check(
        name=f"derivation-a:{family}",
        claim=f"{family}: potential of Beta(a, a) is constant iff a = {derivation.a} (Mellin, sympy)",
        where="Lemma 4.5 (a)",
        predicted=f"a = {derivation.a}",
        measured=measured,
        tolerance="spread<=1e-10 at a; >=1e-3 elsewhere; root within 1e-10",
        status=_status(ok),
        details={"steps": derivation.as_text(), "samples": rows},
    )


# --------------------------------------------------------------------------------------
# (b) The limit energy.
# --------------------------------------------------------------------------------------
#: spec -> bound on the relative error of the normalized optimum at the largest n: the
#: Riesz sums converge like 1/n, the logarithmic one like log(n)/n.
ENERGY_SPECS = {
    "power:0.25": Rate(2.0),
    "power:0.5": Rate(2.0),
    "log": Rate(1.5, 1.0, 1),
}


def _energy_symbolic_check(cfg: VerifyConfig) -> Check:
    import sympy as sp

    from rcollapse.theory import derivations as D

    E = D.derive_limit_energy("power")
    target = D.limit_energy_target(D.gamma)
    ratio = sp.simplify((E / target).rewrite(sp.gamma))
    at0, at1 = sp.limit(E, D.gamma, 0, "+"), sp.limit(E, D.gamma, 1, "-")
    E_log = D.derive_limit_energy("log")
    ok = ratio == 1 and at0 == 1 and at1 == sp.Rational(1, 2) and sp.simplify(E_log + sp.log(4)) == 0
    return Check(
        name="derivation-b:symbolic",
        claim="(2/(n(n-1))) max S -> pi/(B(a,a) cos(pi g/2)), a=(1-g)/2; -> 1 at g=0, 1/2 at g=1; log: -log 4",
        where="Lemma 4.5 (b)",
        predicted="ratio 1; limits 1, 1/2; log -log(4)",
        measured=f"ratio {ratio}; limits {at0}, {at1}; log {E_log}",
        tolerance="exact (sympy)",
        status=_status(ok),
        details={"energy": str(E), "energy_log": str(E_log)},
    )


def _energy_solver_check(spec: str, cfg: VerifyConfig) -> Check:
    from rcollapse.theory.derivations import limit_energy
    from rcollapse.theory.objective import overall_utility
    from rcollapse.theory.utilities import parse_utility

    U = parse_utility(spec)
    E = limit_energy(U)
    tol = ENERGY_SPECS[spec]
    vectors = _Vectors()
    values, errors, agree = [], [], []
    for n in cfg.ns:
        sol = vectors.solve(spec, n)
        S = overall_utility(sol.rewards, U, complement=getattr(sol, "complement", None))
        agree.append(abs(S - sol.objective) <= 1e-8 * max(1.0, abs(S)))
        v = 2.0 * S / (n * (n - 1))
        values.append(v)
        errors.append(abs(v - E) / abs(E))
    ok = all(agree) and _falls(errors) and errors[-1] <= tol(cfg.ns[-1]) and vectors.ok
    return Check(
        name=f"derivation-b:{spec}",
        claim=f"{spec}: normalized optimum (2/(n(n-1))) max S -> limit energy",
        where="Lemma 4.5 (b)",
        predicted=f"{E:.6f}",
        measured=f"{_fmt_list(values, '{:.5f}')} at n={_fmt_list(cfg.ns, '{}')}" + vectors.measured(),
        tolerance=f"rel. error falling; at n={cfg.ns[-1]} <={tol} ={tol(cfg.ns[-1]):.2g}" + vectors.tolerance(),
        status=_status(ok),
        details={"n": list(cfg.ns), "normalized": values, "relative_error": errors, "limit": E,
                 "objective_matches_overall_utility": all(agree), **vectors.details()},
    )


# --------------------------------------------------------------------------------------
# (c) Theorem 4.
# --------------------------------------------------------------------------------------
def _theorem4_symbolic_check(cfg: VerifyConfig) -> Check:
    import sympy as sp

    from rcollapse.theory.derivations import theorem4_bound_expr
    from rcollapse.theory.utilities import FAMILIES, x

    sigma = sp.Symbol("sigma", positive=True)
    bound = theorem4_bound_expr(FAMILIES["log-sigmoid"].build(sigma))
    z = sp.exp(-1 / sigma)
    expected = 2 * (z / (1 + z)) / (1 + 2 * (z / (1 + z)))  # 2 sigmoid(-1/s) / (1 + 2 sigmoid(-1/s))
    same = sp.simplify((bound.rewrite(sp.exp) - expected)) == 0
    linear = theorem4_bound_expr(x)
    at1 = float(bound.subs(sigma, 1).rewrite(sp.exp))
    ok = same and linear == sp.Rational(1, 2) and abs(at1 - 0.349755) < 1e-6
    return Check(
        name="derivation-c:symbolic",
        claim="Theorem 4's bound U'(1)/(U'(0)+U'(1)) from U's expression: log-sigmoid:s, linear",
        where="Thm 4 (c)",
        predicted="2 sig(-1/s)/(1 + 2 sig(-1/s)); 1/2 for U = x (tight)",
        measured=f"{sp.sstr(bound)}; s=1: {at1:.6f}; U = x: {linear}",
        tolerance="exact (sympy)",
        status=_status(ok),
        details={"bound": sp.sstr(bound), "at_sigma_1": at1, "linear": str(linear)},
    )


THEOREM4_SPECS = ("log-sigmoid:1", "log-sigmoid:0.5")
#: W1 from the finite-n optimum to the n = inf solver's measure (measured: about 0.25/n).
THEOREM4_W1 = Rate(1.0)
#: The n = inf atom mass on grids m and 2m must agree to this (measured: 4.6e-9 for s = 1,
#: 2.1e-8 for s = 0.5, grids 800 and 1600; second order in 1/m).
ATOM_GRID_TOL = 1e-6
#: Newton's atom mass at n = atom_n (:func:`atom_mass_at_one`) against the n = inf solver
#: (measured: 1.4e-6 for s = 1, 1.0e-6 for s = 0.5 at n = 2000; 3.8e-7, 3.6e-7 at 4000).
#: A log-sigmoid kernel shifted by 1e-3 moves the n = inf mass by 3.4e-5 and 7.1e-5.
ATOM_AGREEMENT = 1e-5
#: A reward counts as tied at 1 when 1 - r is at most this (Newton puts them at 1 exactly).
ATOM_TIE = 1e-10


def atom_mass_at_one(rewards, complement=None, *, points: int = 8) -> tuple[int, float]:
    """The mass of the atom at 1 read from a finite-n optimum, to a fraction of one reward.

    Returns ``(k, mass)``: ``k`` rewards are tied at 1 (1 - r <= ATOM_TIE), so k/n
    moves in steps of 1/n; ``mass`` locates the atom's edge between rewards. The next
    rewards follow the limit's quantile function, 1 - r_i ~ ((i - 1/2)/n - m) / rho(1-)
    for i > k (midpoint quantiles), so the least-squares line through (i, 1 - r_i),
    i = k+1..k+points, meets 0 at i* = m n + 1/2, and mass = (i* - 1/2)/n. Measured
    against the n = inf solver (log-sigmoid:1 and :0.5): 1.3e-4 and 2.3e-4 off at
    n = 200, 3.5e-6 and 1.0e-5 at n = 1000, 1.4e-6 and 1.0e-6 at n = 2000.

    >>> n, m = 1000, 0.3
    >>> r = np.concatenate((np.ones(300), 1 - (np.arange(301, 1001) - 0.5 - m * n) / n))
    >>> k, mass = atom_mass_at_one(r)
    >>> k, round(mass, 12)
    (300, 0.3)
    """
    r = np.asarray(rewards, dtype=float)
    q = 1.0 - r if complement is None else np.asarray(complement, dtype=float)
    n = r.size
    k = int(np.count_nonzero(q <= ATOM_TIE))
    if k == 0 or k + points > n // 2:
        raise ValueError(f"no atom at 1 with {points} free rewards after it (k = {k} of n = {n} tied at 1)")
    i = np.arange(k + 1, k + points + 1, dtype=float)
    slope, intercept = np.polyfit(i, q[k:k + points], 1)
    if not slope > 0.0:
        raise ValueError(f"the rewards after the atom do not fall away from 1 (slope {slope:.3g})")
    return k, float((-intercept / slope - 0.5) / n)


def _theorem4_solver_check(spec: str, cfg: VerifyConfig) -> Check:
    from rcollapse.solvers.limit import MAX_GRID
    from rcollapse.theory.derivations import theorem4_bound
    from rcollapse.theory.distances import ks_distance, w1_distance
    from rcollapse.theory.limits import limiting_measure

    bound = theorem4_bound(spec)
    sol = _solve_limit(spec, cfg.grid)
    fine = _solve_limit(spec, min(2 * cfg.grid, MAX_GRID))
    mu = limiting_measure(spec, limit_solver=lambda U: sol)
    exact, exact_fine = mu.atoms[1.0], fine.atom_mass
    grid_error = abs(exact_fine - exact)
    vectors = _Vectors()
    masses, ks, w1 = [], [], []
    ns = _convergence_ns(cfg.ns, cfg)
    for n in ns:
        r = vectors.solve(spec, n).rewards
        masses.append(float(np.mean(r >= 1.0 - 1e-7)))
        ks.append(ks_distance(r, mu, atom_tol=1e-7, symmetric=True))
        w1.append(w1_distance(r, mu))
    big = vectors.solve(spec, cfg.atom_n)
    tied, newton_mass = atom_mass_at_one(big.rewards, getattr(big, "complement", None))
    agreement = abs(newton_mass - exact_fine)
    n_max = ns[-1]
    w1_tol = THEOREM4_W1(n_max)
    ok = exact >= bound and all(m >= bound for m in masses) and _falls(w1) and w1[-1] <= w1_tol \
        and _w1_below_ks(ks, w1) and grid_error <= ATOM_GRID_TOL and agreement <= ATOM_AGREEMENT \
        and vectors.ok
    return Check(
        name=f"thm4:{spec}",
        claim=f"{spec}: atoms at 0 and 1 with mass >= U'(1)/(U'(0)+U'(1)); finite n -> Theorem 5's measure",
        where="Thm 4, Thm 5",
        predicted=f"mass >= {bound:.4f}; n=inf solver: {exact_fine:.7f} (grid {fine.grid}; "
                  f"{grid_error:.1g} from grid {sol.grid})",
        measured=f"Newton n={cfg.atom_n}: mass {newton_mass:.7f} ({tied} tied at 1); "
                 f"tied fraction {_fmt_list(masses, '{:.3f}')}, W1 {_fmt_list(w1)}, KS {_fmt_list(ks)} "
                 f"at n={_fmt_list(ns, '{}')}" + vectors.measured(),
        tolerance=f"mass >= bound; |Newton - n=inf| <= {ATOM_AGREEMENT:g}, grids within {ATOM_GRID_TOL:g}; "
                  f"W1 falling, <={THEOREM4_W1} ={w1_tol:.2g} at n={n_max}; W1<=KS" + vectors.tolerance(),
        status=_status(ok),
        details={"n": ns, "bound": bound, "limit_mass": exact, "limit_mass_fine": exact_fine,
                 "grid": sol.grid, "grid_fine": fine.grid, "grid_error": grid_error,
                 "atom_n": cfg.atom_n, "newton_mass": newton_mass, "newton_tied": tied,
                 "agreement": agreement, "tied_fraction": masses, "ks": ks, "w1": w1,
                 **vectors.details()},
    )


# --------------------------------------------------------------------------------------
# Theorem 5: the n = inf solver against the closed forms.
# --------------------------------------------------------------------------------------
THEOREM5_SPECS = ("power:0.5", "log", "neg-power:0.5", "linear")


def _theorem5_check(spec: str, cfg: VerifyConfig) -> Check:
    from rcollapse.theory.distances import w1_distance
    from rcollapse.theory.limits import limiting_measure

    mu = limiting_measure(spec)
    sol = _solve_limit(spec, cfg.grid)
    # the solver's measure through the same interface, compared by its quantiles
    q = (np.arange(20000) + 0.5) / 20000
    w1 = w1_distance(sol.quantile(q), mu)
    atoms = {float(p): float(m) for p, m in sol.atoms}
    atom_err = max([abs(atoms.get(p, 0.0) - m) for p, m in mu.atoms.items()] + [0.0])
    ok = w1 <= 2e-3 and atom_err <= 1e-6
    return Check(
        name=f"thm5:{spec}",
        claim=f"{spec}: the maximizer of E U(|X-X'|) (n = inf QP) is {mu.describe()}",
        where="Thm 5",
        predicted=mu.describe(),
        measured=f"W1 {w1:.2g}, atom error {atom_err:.1g} (grid {sol.grid})",
        tolerance="W1<=2e-3, atoms within 1e-6",
        status=_status(ok),
        details={"w1": w1, "atom_error": atom_err, "grid": sol.grid, "kkt_residual": sol.kkt_residual},
    )


# --------------------------------------------------------------------------------------
# (d) Lemma 4.1.
# --------------------------------------------------------------------------------------
def _lemma41_symbolic_check(cfg: VerifyConfig) -> Check:
    import sympy as sp

    from rcollapse.theory import derivations as D

    refl = D.lemma41_reflection_invariance(5)
    kkt = D.lemma41_symmetric_kkt(5)
    v, node = D.lemma41_log_n4()
    ok = refl == 0 and kkt == 0 and sp.simplify(v - node) == 0
    return Check(
        name="derivation-d:symbolic",
        claim="generic U: S(Rr) = S(r); grad antisymmetric at symmetric r; log n=4 = Lobatto",
        where="Lemma 4.1 (d)",
        predicted="0; 0; v = (1 - 1/sqrt(5))/2",
        measured=f"{refl}; {kkt}; v = {v}",
        tolerance="exact (sympy)",
        status=_status(ok),
        details={"reflection": str(refl), "kkt": str(kkt), "log_n4": str(v), "lobatto_n4": str(node)},
    )


#: Utilities for the endpoint signs: every family, U increasing on (0, 1].
ENDPOINT_SPECS = ("linear", "power:0.5", "log", "neg-power:0.5", "neg-power:2", "log-sigmoid:1")


def endpoint_gradients(U, rewards, *, step: float = 1e-6) -> tuple[float, float]:
    """(dS/dr_1, dS/dr_n) of S(r) = sum_{i<j} U(r_i - r_j) at ``rewards`` (sorted best first,
    distinct), by central differences of ``theory.objective.overall_utility``: from S
    itself, not from a formula for its gradient. ``U`` is any vectorized callable.

    >>> d1, dn = endpoint_gradients(lambda t: t, [1.0, 0.5, 0.0])  # U = x: dS/dr_1 = n - 1
    >>> round(d1, 6), round(dn, 6)
    (2.0, -2.0)
    """
    from rcollapse.theory.objective import overall_utility

    r = np.asarray(rewards, dtype=float)
    out = []
    for k in (0, r.size - 1):
        e = np.zeros_like(r)
        e[k] = step
        out.append((overall_utility(r + e, U) - overall_utility(r - e, U)) / (2.0 * step))
    return out[0], out[1]


def _lemma41_endpoint_check(cfg: VerifyConfig) -> Check:
    from rcollapse.theory.utilities import parse_utility

    rng = np.random.default_rng(41)
    # feasible points with distinct rewards, gaps >= 0.01, n = 3..8; r_1 and r_n inside
    # (0, 1) too, where the sign decides which way they move
    points = []
    for _ in range(30):
        n = int(rng.integers(3, 9))
        gaps = 0.01 + rng.random(n + 1)
        points.append(1.0 - np.cumsum(gaps)[:-1] / gaps.sum())
    top, bottom = {}, {}
    for spec in ENDPOINT_SPECS:
        U = parse_utility(spec)
        grads = [endpoint_gradients(U, r) for r in points]
        top[spec] = min(g[0] for g in grads)
        bottom[spec] = max(g[1] for g in grads)
    ok = min(top.values()) > 0.0 and max(bottom.values()) < 0.0
    return Check(
        name="lemma41:endpoint-signs",
        claim=f"U increasing: dS/dr_1 > 0 and dS/dr_n < 0 at every feasible r, so r_1 = 1, r_n = 0 "
              f"({len(ENDPOINT_SPECS)} utilities, {len(points)} points, from S by differences)",
        where="Lemma 4.1",
        predicted="min dS/dr_1 > 0; max dS/dr_n < 0",
        measured=f"min dS/dr_1 {min(top.values()):.3g}, max dS/dr_n {max(bottom.values()):.3g}",
        tolerance="strict signs",
        status=_status(ok),
        details={"min_dS_dr1": top, "max_dS_drn": bottom, "points": len(points)},
    )


LEMMA41_SPECS = ("power:0.5", "log", "neg-power:0.5", "neg-power:2", "log-sigmoid:1")


def _lemma41_solver_check(cfg: VerifyConfig) -> Check:
    # CVXPY (Clarabel) solves problem (5) as written, with no symmetry built in (the
    # Newton solver works on the symmetric half, so it cannot test the symmetry).
    n = cfg.lemma_n
    vectors = _Vectors()
    sym, ends = {}, {}
    for spec in LEMMA41_SPECS:
        r = vectors.solve(spec, n, "cvxpy").rewards
        sym[spec] = float(np.max(np.abs(r + r[::-1] - 1.0)))
        ends[spec] = float(max(abs(r[0] - 1.0), abs(r[-1])))
    worst_sym, worst_end = max(sym.values()), max(ends.values())
    ok = worst_sym <= 1e-6 and worst_end <= 1e-8 and vectors.ok
    return Check(
        name="lemma41:solver",
        claim=f"strictly concave U: the optimum is symmetric with r_1 = 1, r_n = 0 "
              f"({len(sym)} utilities, CVXPY, n={n})",
        where="Lemma 4.1",
        predicted="r_i + r_(n+1-i) = 1; r_1 = 1; r_n = 0",
        measured=f"max asymmetry {worst_sym:.1g}, max end error {worst_end:.1g}" + vectors.measured(),
        tolerance="1e-6; 1e-8 (interior-point accuracy)" + vectors.tolerance(),
        status=_status(ok),
        details={"n": n, "method": "cvxpy", "asymmetry": sym, "end_error": ends, **vectors.details()},
    )


# --------------------------------------------------------------------------------------
# Gauss-Lobatto exactness for U = log.
# --------------------------------------------------------------------------------------
#: Newton against the eigenvalue nodes: measured 1.5e-12 (n = 8), 9e-15 (50), 1e-16
#: (200, 1000); rewards 1e-7 off fail.
LOBATTO_TOL = 1e-10


def _lobatto_check(cfg: VerifyConfig) -> Check:
    from rcollapse.theory.exact import gauss_lobatto_rewards

    # gauss_lobatto_rewards finds the nodes as eigenvalues, O(n^3): up to n = 1000.
    ns = sorted({8, *(n for n in cfg.ns if n <= 1000)})
    vectors = _Vectors()
    errs = [float(np.max(np.abs(vectors.solve("log", n).rewards - gauss_lobatto_rewards(n)))) for n in ns]
    ok = max(errs) <= LOBATTO_TOL and vectors.ok
    return Check(
        name="lobatto:log",
        claim="U = log: the optimum of (5) is r_i = (1 + t_i)/2, t the Gauss-Lobatto-Legendre nodes",
        where="Stieltjes / Thm 3",
        predicted="(1 + t_i)/2, t: +-1 and the zeros of P'_(n-1)",
        measured=f"max |r - (1+t)/2| {_fmt_list(errs, '{:.1g}')} at n={_fmt_list(ns, '{}')}" + vectors.measured(),
        tolerance=f"{LOBATTO_TOL:g}" + vectors.tolerance(),
        status=_status(ok),
        details={"n": ns, "max_error": errs, **vectors.details()},
    )


# --------------------------------------------------------------------------------------
# The registry.
# --------------------------------------------------------------------------------------
def _registry() -> list[tuple[str, str, str, Callable[[VerifyConfig], Check]]]:
    """(name, where, claim, function) for every check, in report order."""
    P = functools.partial
    items = [
        (f"derivation-a:{f}", "Lemma 4.5 (a)", f"{f}: Beta(a, a) has a constant potential iff a = a(gamma)",
         P(_derivation_a_check, f)) for f in ("power", "neg-power", "log")
    ]
    items += [
        ("derivation-b:symbolic", "Lemma 4.5 (b)", "limit energy pi/(B(a,a) cos(pi g/2))", _energy_symbolic_check),
        ("derivation-c:symbolic", "Thm 4 (c)", "Theorem 4's bound from U's expression", _theorem4_symbolic_check),
        ("derivation-d:symbolic", "Lemma 4.1 (d)", "symmetry and endpoints, generic U", _lemma41_symbolic_check),
    ]
    items += [(f"limit:{s}", CLOSED_FORMS[s][0], f"{s}: optimum of (5) -> closed-form limit",
               P(_closed_form_check, s)) for s in CLOSED_FORMS]
    items += [(f"card:{s}", "Thm 2 vs card", f"{s}: Beta((1-g)/2, (1-g)/2), not the card's Beta(1-g/2, 1-g/2)",
               P(_card_check, s)) for s in ("power:0.25", "power:0.5")]
    items += [("beyond-beta:neg-power:2", "Thm 3 (g>=1)", "neg-power:2: Uniform, not Beta(3/2, 3/2)",
               P(_beyond_beta_check, "neg-power:2"))]
    items += [("thm3-sign:neg-power:0.5", "Thm 3 vs Thm 2", "neg-power:0.5: Beta(3/4, 3/4), not Beta(1/4, 1/4)",
               P(_sign_check, "neg-power:0.5"))]
    items += [(f"derivation-b:{s}", "Lemma 4.5 (b)", f"{s}: normalized optimum -> limit energy",
               P(_energy_solver_check, s)) for s in ENERGY_SPECS]
    items += [(f"thm4:{s}", "Thm 4, Thm 5", f"{s}: end atoms >= Theorem 4's bound",
               P(_theorem4_solver_check, s)) for s in THEOREM4_SPECS]
    items += [(f"thm5:{s}", "Thm 5", f"{s}: n = inf QP maximizer = closed form",
               P(_theorem5_check, s)) for s in THEOREM5_SPECS]
    items += [
        ("lemma41:endpoint-signs", "Lemma 4.1", "dS/dr_1 > 0, dS/dr_n < 0 for increasing U",
         _lemma41_endpoint_check),
        ("lemma41:solver", "Lemma 4.1", "optimum symmetric with r_1 = 1, r_n = 0", _lemma41_solver_check),
        ("lobatto:log", "Stieltjes / Thm 3", "U = log: optimum = Gauss-Lobatto nodes", _lobatto_check),
    ]
    return items


#: Every check's name, in report order.
CHECKS = [name for name, *_ in _registry()]


def _error_row(name: str, where: str, claim: str, err: BaseException) -> Check:
    kind = "dependency missing" if isinstance(err, ImportError) else type(err).__name__
    message = (str(err).strip().splitlines() or [""])[0]
    return Check(
        name=name, claim=claim, where=where, predicted="-", measured=f"{kind}: {message}"[:200],
        tolerance="-", status=ERROR,
        details={"error": f"{type(err).__name__}: {message}",
                 "traceback": traceback.format_exc(limit=5)},
    )


def check_names(only) -> list[str]:
    """The checks that ``only`` selects (names or prefixes); ValueError naming every entry
    that matches no check."""
    unknown = [o for o in only if not any(name.startswith(o) for name in CHECKS)]
    if unknown or not only:
        bad = " ".join(map(repr, unknown)) or "(none)"
        raise ValueError(f"--only {bad}: no such check; valid: a name or prefix of "
                         f"{', '.join(CHECKS)} (see rcollapse verify --list)")
    return [name for name in CHECKS if any(name.startswith(o) for o in only)]


def run_checks(config: VerifyConfig = DEFAULT, *, only=None, progress=None) -> list[Check]:
    """Run the checks (all, or the names in ``only``, or those starting with a prefix in it).

    ``progress(name)`` is called before each check. Returns one :class:`Check` per check,
    in report order; a check that raises becomes an ``ERROR`` row.
    """
    if only is not None:
        check_names(only)
    selected = [item for item in _registry() if only is None or any(item[0].startswith(o) for o in only)]
    rows = []
    for name, where, claim, fn in selected:
        if progress is not None:
            progress(name)
        t0 = time.perf_counter()
        try:
            row = fn(config)
        except Exception as err:  # noqa: BLE001 - reported as an ERROR row, never a pass
            row = _error_row(name, where, claim, err)
        row.seconds = time.perf_counter() - t0
        rows.append(row)
    return rows


def summary(rows: list[Check]) -> dict:
    """Counts of PASS / FAIL / ERROR and whether every check passed."""
    counts = {s: sum(r.status == s for r in rows) for s in (PASS, FAIL, ERROR)}
    return {"counts": counts, "all_passed": bool(rows) and counts[PASS] == len(rows)}


def report(rows: list[Check], config: VerifyConfig, seconds: float) -> dict:
    """The verify.json object."""
    from rcollapse import __version__

    return {
        "version": __version__,
        "config": asdict(config),
        "seconds": seconds,
        **summary(rows),
        "checks": [r.to_json() for r in rows],
    }

