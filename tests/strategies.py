"""Hypothesis strategies for the utilities of problem (5) and the number n of completions.

Every strategy is an ``@st.composite`` with keyword-only bounds. A utility is drawn as
its spec (``power:0.37``) and parsed, so a failing example prints a spec that
``parse_utility`` reads back: parameters are rounded to 3 decimals for that reason.

The corners worth pinning with ``@example`` (gamma near 0 and 1, n = 2, n odd for
linear) are listed in :data:`CORNERS`; :func:`with_corners` stacks them on a test.

>>> from hypothesis import find
>>> find(utilities(families=("power",)), lambda U: True).family
'power'
"""

from __future__ import annotations

import math

from hypothesis import assume, example, settings
from hypothesis import strategies as st

from rcollapse.theory.utilities import Utility, parse_utility

__all__ = [
    "CORNERS",
    "STRICTLY_CONCAVE_FAMILIES",
    "ALL_FAMILIES",
    "log_sigmoids",
    "neg_powers",
    "parameter_chains",
    "powers",
    "problems",
    "sizes",
    "utilities",
    "with_corners",
    "representable",
    "assume_representable",
    "examples",
    "extreme_utilities",
    "starts",
]

#: Families whose U is strictly increasing and strictly concave on (0, 1]: Lemma 4.1
#: gives a unique, symmetric optimum for these.
STRICTLY_CONCAVE_FAMILIES = ("power", "neg-power", "log", "log-sigmoid")
#: Every family, linear included (strictly increasing, not strictly concave).
ALL_FAMILIES = ("linear",) + STRICTLY_CONCAVE_FAMILIES


def _param(draw, low: float, high: float) -> float:
    """A parameter in [low, high], rounded to 3 decimals so its spec is short."""
    value = draw(st.floats(min_value=low, max_value=high, allow_nan=False))
    return min(max(round(value, 3), low), high)


@st.composite
def powers(draw, *, low: float = 0.01, high: float = 0.99) -> Utility:
    """U = x^g (Class 1, Theorem 2), g in [low, high] inside (0, 1)."""
    if not 0 < low <= high < 1:
        raise ValueError(f"powers: need 0 < low <= high < 1, got {low}, {high}")
    return parse_utility(f"power:{_param(draw, low, high)}")


@st.composite
def neg_powers(draw, *, low: float = 0.05, high: float = 3.0) -> Utility:
    """U = -x^(-g) (Class 2, Theorem 3), g in [low, high]; g >= 1 has a uniform limit."""
    if not 0 < low <= high:
        raise ValueError(f"neg_powers: need 0 < low <= high, got {low}, {high}")
    return parse_utility(f"neg-power:{_param(draw, low, high)}")


@st.composite
def log_sigmoids(draw, *, low: float = 0.05, high: float = 5.0) -> Utility:
    """U = log sigmoid(x / s) (Class 3, Theorem 4), s in [low, high]."""
    if not 0 < low <= high:
        raise ValueError(f"log_sigmoids: need 0 < low <= high, got {low}, {high}")
    return parse_utility(f"log-sigmoid:{_param(draw, low, high)}")


@st.composite
def extreme_utilities(draw) -> Utility:
    """A utility at the far ends of its family's range, where float64 forces under- or
    overflow (issue 9): log-sigmoid with s log-uniform in [1e-8, 5], power with g in
    [0.9, 0.999], neg-power with g log-uniform in [1, 200], and log."""
    family = draw(st.sampled_from(["power", "neg-power", "log", "log-sigmoid"]))
    if family == "log":
        return parse_utility("log")
    if family == "power":
        return parse_utility(f"power:{_param(draw, 0.9, 0.999)}")
    if family == "neg-power":
        return parse_utility(f"neg-power:{10 ** draw(st.floats(0.0, math.log10(200.0))):.3g}")
    return parse_utility(f"log-sigmoid:{10 ** draw(st.floats(-8.0, math.log10(5.0))):.2g}")


@st.composite
def starts(draw, n: int):
    """A start for ``solve(..., start=...)``: None, or n rewards feasible for (5) (in
    [0, 1], best first) but possibly degenerate: distinct, with ties, all equal, or only
    the two end values. Ties are a trap where U'(0+) is infinite (log: [0.5] * 5 was
    returned out of order at commit ce85eec)."""
    kind = draw(st.sampled_from(["none", "distinct", "ties", "constant", "ends"]))
    if kind == "none":
        return None
    if kind == "constant":
        return [draw(st.sampled_from([0.0, 0.5, 1.0, 0.3]))] * n
    if kind == "ends":
        k = draw(st.integers(0, n))
        return [1.0] * k + [0.0] * (n - k)
    values = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    if kind == "ties":
        values = [round(v, 1) for v in values]
    return sorted(values, reverse=True)


@st.composite
def utilities(draw, *, families: tuple[str, ...] = STRICTLY_CONCAVE_FAMILIES) -> Utility:
    """A utility from one of ``families`` with its parameter drawn in a range where the
    solvers are asked to work (see the family strategies for the ranges)."""
    unknown = set(families) - set(ALL_FAMILIES)
    if unknown or not families:
        raise ValueError(f"utilities: unknown families {sorted(unknown)}; valid: {ALL_FAMILIES}")
    family = draw(st.sampled_from(families))
    if family in ("linear", "log"):
        return parse_utility(family)
    return draw({"power": powers, "neg-power": neg_powers, "log-sigmoid": log_sigmoids}[family]())


@st.composite
def sizes(draw, *, low: int = 2, high: int = 300, odd: bool | None = None) -> int:
    """n, the number of completions, in [low, high]; ``odd`` restricts the parity."""
    if not 2 <= low <= high:
        raise ValueError(f"sizes: need 2 <= low <= high, got {low}, {high}")
    n = draw(st.integers(min_value=low, max_value=high))
    if odd is not None and (n % 2 == 1) != odd:
        n = n + 1 if n + 1 <= high else n - 1
        if n < low or (n % 2 == 1) != odd:
            raise ValueError(f"sizes: no n of that parity in [{low}, {high}]")
    return n


@st.composite
def problems(
    draw,
    *,
    families: tuple[str, ...] = STRICTLY_CONCAVE_FAMILIES,
    low: int = 2,
    high: int = 300,
) -> tuple[Utility, int]:
    """A problem (5): a utility and n."""
    return draw(utilities(families=families)), draw(sizes(low=low, high=high))


@st.composite
def parameter_chains(
    draw, *, family: str, low: float, high: float, length: int = 3, min_step: float = 0.01
) -> list[Utility]:
    """``length`` utilities of one family with increasing parameters in [low, high],
    consecutive parameters at least ``min_step`` apart (so that a difference in the
    optimum is above solver noise)."""
    if family not in ("power", "neg-power", "log-sigmoid"):
        raise ValueError(f"parameter_chains: {family!r} has no parameter")
    if (length - 1) * min_step > high - low:
        raise ValueError("parameter_chains: range too short for the chain")
    # On a grid of thousandths, so the specs are short and the steps exact.
    lo, hi, step = round(low * 1000), round(high * 1000), max(1, round(min_step * 1000))
    ticks = [draw(st.integers(min_value=lo, max_value=hi - (length - 1) * step))]
    for k in range(1, length):
        ticks.append(draw(st.integers(min_value=ticks[-1] + step, max_value=hi - (length - 1 - k) * step)))
    params = [t / 1000 for t in ticks]
    params = sorted(set(params))
    return [parse_utility(f"{family}:{p}") for p in params]


#: max_examples of the ``ci`` profile, the unit of :func:`examples`.
CI_EXAMPLES = 20


def examples(k: int) -> int:
    """``max_examples`` for a slow test: k under the ``ci`` profile, scaled with the loaded
    profile (``thorough``, 500 examples: 25 k), so that HYPOTHESIS_PROFILE=thorough
    searches every test harder, the slow ones included."""
    return max(1, round(k * settings.default.max_examples / CI_EXAMPLES))


#: Smallest gap float64 can carry (in ``Solution.complement`` near 1, in the rewards near
#: 0): well above the 2.2e-308 of the smallest normal number.
SMALLEST_GAP = 1e-290


def representable(U: Utility, n: int) -> bool:
    """Whether the optimum of (5) fits in float64 at all. For power:g the smallest optimal
    gap, next to an end, is about (1/n)^(2/(1-g)) (the Beta((1-g)/2) quantile at 1/(2n)):
    below ~1e-300 no float64 holds it, even as a distance from 1, and no solver can
    return the optimum (power:0.99 at n >= 29, power:0.98 at n >= 795). Every other
    family keeps its gaps above ~1/n^2."""
    if U.family != "power":
        return True
    return (2.0 / (1.0 - U.param)) * math.log10(n) <= -math.log10(SMALLEST_GAP)


def assume_representable(U: Utility, *ns: int) -> None:
    """Discard a drawn example whose optimum float64 cannot hold (see
    :func:`representable`): a property of the real numbers, not of any solver."""
    for n in ns:
        assume(representable(U, n))


#: Corners pinned with ``@example``: (spec, n). Gamma near 0 and near 1, n = 2 and 3,
#: odd n for linear, a tiny and a large sigma, a steep neg-power.
CORNERS: dict[str, list[tuple[str, int]]] = {
    "power": [("power:0.01", 2), ("power:0.01", 37), ("power:0.9", 17), ("power:0.99", 3), ("power:0.99", 28)],
    "neg-power": [("neg-power:0.05", 2), ("neg-power:0.99", 25), ("neg-power:3", 31)],
    "log": [("log", 2), ("log", 3), ("log", 64)],
    "log-sigmoid": [("log-sigmoid:0.05", 30), ("log-sigmoid:5", 2), ("log-sigmoid:1", 41)],
    "linear": [("linear", 2), ("linear", 7), ("linear", 8)],
}


def with_corners(*families: str, max_n: int | None = None, min_n: int = 2, key=("U", "n"), **fixed):
    """Stack ``@example(U=..., n=..., **fixed)`` for the corners of ``families`` on a test
    whose arguments are named ``key`` (a utility and n) plus ``fixed`` (values for the
    test's other arguments); corners with n outside [min_n, max_n] are skipped."""
    u_name, n_name = key

    def decorate(test):
        for family in families:
            for spec, n in CORNERS[family]:
                if n < min_n or (max_n is not None and n > max_n):
                    continue
                test = example(**{u_name: parse_utility(spec), n_name: n}, **fixed)(test)
        return test

    return decorate
