"""Lemma 4.5: a measure with a constant potential is optimal; it gives Theorems 2 and 3.

(a) ``derivation-a:``: the potential of Beta(a, a) under the kernel of U is constant on
[0, 1] iff a = a(gamma), derived symbolically (Mellin transform, ``theory.derivations``)
and found again as a numerical root with no formula. (b) ``derivation-b:``: the limit of
the normalized optimum, (2 / (n (n - 1))) max S -> pi / (B(a, a) cos(pi gamma / 2)),
symbolically and against the solver's optimum at growing n.
"""

from __future__ import annotations

from rcollapse.verify.measurements import Rate, Vectors, falls, fmt_list
from rcollapse.verify.registry import Outcome, VerifyConfig, check, specs

__all__ = ["ENERGY_SPECS"]

#: spec -> bound on the relative error of the normalized optimum at the largest n: the
#: Riesz sums converge like 1/n, the logarithmic one like log(n)/n.
ENERGY_SPECS = {
    "power:0.25": Rate(2.0),
    "power:0.5": Rate(2.0),
    "log": Rate(1.5, 1.0, 1),
}


def _beta_parameter_sample(family: str, derivation, g: str | None) -> dict:
    """At one gamma: the potential's spread at the derived a, the numerical root, and the
    spread at a wrong a (the design card's 1 - g/2 for power, a + 1/4 otherwise)."""
    import sympy as sp

    from rcollapse.theory import derivations as D

    if g is None:
        exponent, a_star = None, float(derivation.a)
    else:
        gv = sp.Rational(g)
        exponent = float(D.kernel_exponent(f"{family}:{float(gv)}"))
        a_star = float(derivation.a.subs(D.gamma, gv))
    other_a = (1 - float(sp.Rational(g)) / 2) if family == "power" else (a_star + 0.25)
    return {"gamma": g, "a": a_star, "spread": D.potential_spread(exponent, a_star),
            "numerical_root": D.solve_beta_parameter_numerically(exponent),  # no formula used
            "other_a": other_a, "other_spread": D.potential_spread(exponent, other_a)}


@check("derivation-a:{family}", where="Lemma 4.5 (a)",
       claim="{family}: potential of Beta(a, a) is constant iff a = {a} (Mellin, sympy)",
       cases=({"family": "power"}, {"family": "neg-power"}, {"family": "log"}))
def beta_parameter(cfg: VerifyConfig, family: str) -> Outcome:
    """The Beta parameter a(gamma), symbolically and as a numerical root."""
    from rcollapse.theory import derivations as D

    derivation = D.derive_beta_parameter(family)
    samples = {"power": ("1/4", "1/2"), "neg-power": ("1/4", "1/2"), "log": (None,)}[family]
    rows = [_beta_parameter_sample(family, derivation, g) for g in samples]
    ok = all(r["spread"] <= 1e-10 and r["other_spread"] >= 1e-3 and abs(r["numerical_root"] - r["a"]) <= 1e-10
             for r in rows)
    measured = "; ".join(
        (f"g={r['gamma']}: " if r["gamma"] else "")
        + f"spread {r['spread']:.1g} at a={r['a']:g}"
        + f", root a*={r['numerical_root']:.9f}"
        + f", spread {r['other_spread']:.2g} at a={r['other_a']:g}"
        for r in rows
    )
    return Outcome(
        passed=ok,
        predicted=f"a = {derivation.a}",
        measured=measured,
        tolerance="spread<=1e-10 at a; >=1e-3 elsewhere; root within 1e-10",
        details={"steps": derivation.as_text(), "samples": rows},
        claim_fields={"a": str(derivation.a)},
    )


@check("derivation-b:symbolic", where="Lemma 4.5 (b)",
       claim="(2/(n(n-1))) max S -> pi/(B(a,a) cos(pi g/2)), a=(1-g)/2; -> 1 at g=0, 1/2 at g=1; log: -log 4")
def limit_energy_symbolic(cfg: VerifyConfig) -> Outcome:
    """The limit energy derived for power, equal to the potential-theory target; its ends."""
    import sympy as sp

    from rcollapse.theory import derivations as D

    E = D.derive_limit_energy("power")
    target = D.limit_energy_target(D.gamma)
    ratio = sp.simplify((E / target).rewrite(sp.gamma))
    at0, at1 = sp.limit(E, D.gamma, 0, "+"), sp.limit(E, D.gamma, 1, "-")
    E_log = D.derive_limit_energy("log")
    ok = ratio == 1 and at0 == 1 and at1 == sp.Rational(1, 2) and sp.simplify(E_log + sp.log(4)) == 0
    return Outcome(
        passed=ok,
        predicted="ratio 1; limits 1, 1/2; log -log(4)",
        measured=f"ratio {ratio}; limits {at0}, {at1}; log {E_log}",
        tolerance="exact (sympy)",
        details={"energy": str(E), "energy_log": str(E_log)},
    )


@check("derivation-b:{spec}", where="Lemma 4.5 (b)",
       claim="{spec}: normalized optimum (2/(n(n-1))) max S -> limit energy", cases=specs(*ENERGY_SPECS))
def limit_energy_solver(cfg: VerifyConfig, spec: str) -> Outcome:
    """The solver's normalized optimum approaches the limit energy at the stated rate."""
    from rcollapse.theory.derivations import limit_energy
    from rcollapse.theory.objective import overall_utility
    from rcollapse.theory.utilities import parse_utility

    U = parse_utility(spec)
    E = limit_energy(U)
    tol = ENERGY_SPECS[spec]
    vectors = Vectors()
    values, errors, agree = [], [], []
    for n in cfg.ns:
        sol = vectors.solve(spec, n)
        S = overall_utility(sol.rewards, U, complement=getattr(sol, "complement", None))
        agree.append(abs(S - sol.objective) <= 1e-8 * max(1.0, abs(S)))
        v = 2.0 * S / (n * (n - 1))
        values.append(v)
        errors.append(abs(v - E) / abs(E))
    ok = all(agree) and falls(errors) and errors[-1] <= tol(cfg.ns[-1]) and vectors.ok
    return Outcome(
        passed=ok,
        predicted=f"{E:.6f}",
        measured=f"{fmt_list(values, '{:.5f}')} at n={fmt_list(cfg.ns, '{}')}" + vectors.measured(),
        tolerance=f"rel. error falling; at n={cfg.ns[-1]} <={tol} ={tol(cfg.ns[-1]):.2g}" + vectors.tolerance(),
        details={"n": list(cfg.ns), "normalized": values, "relative_error": errors, "limit": E,
                 "objective_matches_overall_utility": all(agree), **vectors.details()},
    )
