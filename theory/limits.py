"""The n -> inf limit of the reward distribution of problem (5): Theorems 2 to 5.

Song, Cai, Lee, Su (2023). For each utility, :func:`limiting_measure` returns the measure
that the empirical distribution of the optimum of (5) converges to, as one object with
one interface (scipy.stats style) whatever theorem produced it:

=======================  ===========================================  ===================
utility                  limit                                        source
=======================  ===========================================  ===================
``power:g``              Beta((1-g)/2, (1-g)/2)                       Theorem 2
``log``                  Beta(1/2, 1/2)                               Theorem 3
``neg-power:g``, g < 1   Beta((1+g)/2, (1+g)/2)                       Theorem 3
``neg-power:g``, g >= 1  Uniform(0, 1)                                Theorem 3 (g >= 1)
``linear``               1/2 delta_0 + 1/2 delta_1                    Theorem 4, tight
``log-sigmoid:s``        m delta_0 + m delta_1 + continuous part,     Theorem 4 (bound)
                         m >= U'(1) / (U'(0) + U'(1))                 / Theorem 5 (solver)
=======================  ===========================================  ===================

The Beta parameters are not typed in: they come from :func:`theory.derivations.beta_parameter`,
which solves Lemma 4.5's constant-potential condition symbolically. The design card's
"Beta(1-γ/2, 1-γ/2)" is wrong (see ``rcollapse verify``); :func:`design_card_measure`
builds it only so that the comparison can be shown.

For log-sigmoid no closed form is known for the atom mass or the continuous part.
Without a ``limit_solver`` the measure carries Theorem 4's bound, marked
``atoms_are_lower_bounds=True``, and its ``cdf``/``ppf``/``var`` raise
:class:`NoClosedForm`; with ``limit_solver=solvers.solve_limit`` (injected by the face,
``rcollapse.limits``, so that theory never imports solvers) it is exact up to the
solver's grid. The measure itself, one interface for all of them, is
:class:`~rcollapse.theory.measures.LimitingMeasure` (re-exported here).

>>> mu = limiting_measure("power:0.25")
>>> mu.describe(), mu.theorem
('Beta(0.375, 0.375)', 'Theorem 2')
>>> round(mu.var(), 12) == round(1 / (4 * (2 * 0.375 + 1)), 12)
True
>>> limiting_measure("linear").atoms
{0.0: 0.5, 1.0: 0.5}
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from rcollapse.theory.derivations import OutsideHypotheses, beta_parameter, theorem4_bound
from rcollapse.theory.measures import Histogram, LimitingMeasure, NoClosedForm
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = [
    "CLOSED_FORMS",
    "LimitingMeasure",
    "NoClosedForm",
    "OutsideHypotheses",
    "design_card_measure",
    "has_closed_form",
    "limiting_measure",
    "linear_limit",
    "theorem2_power",
    "theorem3_log",
    "theorem3_neg_power",
    "theorem4_log_sigmoid",
    "theorem5_numerical",
]


# --------------------------------------------------------------------------------------
# One function per theorem.
# --------------------------------------------------------------------------------------
def beta_measure(U: Utility, theorem: str, statement: str, note: str = "", *,
                  a: float | None = None) -> LimitingMeasure:
    """Beta(a, a) for U, with a = beta_parameter(U) (derived) unless given."""
    if a is None:
        a = beta_parameter(U)
    return LimitingMeasure(
        spec=U.spec,
        atoms={},
        continuous=stats.beta(a, a),
        continuous_mass=1.0,
        theorem=theorem,
        statement=statement,
        note=note or "Beta parameter solved symbolically from Lemma 4.5 (theory.derivations)",
        continuous_info={"name": "beta", "a": a, "b": a},
    )


def theorem2_power(U: Utility | str) -> LimitingMeasure:
    """Theorem 2 (Song et al. 2023): U = x^g, 0<g<1 => reward distribution -> Beta((1-g)/2,(1-g)/2).

    >>> theorem2_power("power:0.5").describe()
    'Beta(0.25, 0.25)'
    """
    U = parse_utility(U)
    if U.family != "power":
        raise OutsideHypotheses(f"{U.spec}: Theorem 2 is about U = x^g, 0 < g < 1")
    return beta_measure(
        U, "Theorem 2",
        "Theorem 2 (Song et al. 2023): U = x^g, 0<g<1 => reward distribution -> Beta((1-g)/2,(1-g)/2)",
    )


def theorem3_log(U: Utility | str = "log") -> LimitingMeasure:
    """Theorem 3 (Song et al. 2023): U = log x => reward distribution -> Beta(1/2, 1/2) (arcsine).

    >>> theorem3_log().describe()
    'Beta(0.5, 0.5)'
    """
    U = parse_utility(U)
    if U.family != "log":
        raise OutsideHypotheses(f"{U.spec}: this part of Theorem 3 is about U = log x")
    return beta_measure(
        U, "Theorem 3",
        "Theorem 3 (Song et al. 2023): U = log x => reward distribution -> Beta(1/2, 1/2)",
    )


def theorem3_neg_power(U: Utility | str) -> LimitingMeasure:
    """Theorem 3 (Song et al. 2023): U = -x^(-g) => Beta((1+g)/2,(1+g)/2) if 0<g<1, Uniform(0,1) if g>=1.

    For g >= 1 the kernel |t|^(-g) is not integrable, every measure has infinite energy
    and Lemma 4.5's Beta formula does not apply; the optima equidistribute instead (the
    hypersingular Riesz case; g = 1 is the 1-D Thomson problem).

    >>> theorem3_neg_power("neg-power:0.5").describe()
    'Beta(0.75, 0.75)'
    >>> theorem3_neg_power("neg-power:2").theorem
    'Theorem 3 (gamma >= 1)'
    """
    U = parse_utility(U)
    if U.family != "neg-power":
        raise OutsideHypotheses(f"{U.spec}: this part of Theorem 3 is about U = -x^(-g)")
    if U.param < 1:
        return beta_measure(
            U, "Theorem 3",
            "Theorem 3 (Song et al. 2023): U = -x^(-g), 0<g<1 => reward distribution -> Beta((1+g)/2,(1+g)/2)",
        )
    return LimitingMeasure(
        spec=U.spec,
        atoms={},
        continuous=stats.uniform(),
        continuous_mass=1.0,
        theorem="Theorem 3 (gamma >= 1)",
        statement="Theorem 3 (Song et al. 2023): U = -x^(-g), g>=1 => reward distribution -> Uniform(0,1)",
        note=(
            "outside the Beta formula: for g >= 1 the kernel |t|^(-g) is not integrable (every "
            "measure has energy -inf), so nearest-neighbour repulsion dominates and the optima "
            "equidistribute (hypersingular Riesz energy, Hardin-Saff; g = 1 is the 1-D Thomson "
            "problem). At g = 1 the Beta formula's Beta(1, 1) agrees; for g > 1 it would not."
        ),
        continuous_info={"name": "uniform"},
    )


def linear_limit(U: Utility | str = "linear") -> LimitingMeasure:
    """Theorem 4 (Song et al. 2023), tight at U = x: bound 1/2 at each end => mu = 1/2 delta_0 + 1/2 delta_1.

    U'(0) = U'(1) = 1, so Theorem 4's bound is 1/2 at each end; the two atoms then carry
    all the mass and there is no continuous part (the gamma -> 1 end of Theorem 2).

    >>> linear_limit().describe()
    '0.5 delta_0 + 0.5 delta_1'
    """
    U = parse_utility(U)
    if not U.is_linear:
        raise OutsideHypotheses(f"{U.spec}: this limit is about U = x")
    m = theorem4_bound(U)  # 1/2, from U.expr
    if not math.isclose(2 * m, 1.0):
        raise ArithmeticError(f"Theorem 4's bound for U = x should be 1/2, got {m}")
    return LimitingMeasure(
        spec=U.spec,
        atoms={0.0: m, 1.0: m},
        continuous=None,
        continuous_mass=0.0,
        theorem="Theorem 4 (tight at U = x)",
        statement="Theorem 4 (Song et al. 2023): U = x => reward distribution -> 1/2 delta_0 + 1/2 delta_1",
        note="finite n: the top half of the rewards are 1, the bottom half 0 (n odd: the middle one is free)",
    )


def theorem4_log_sigmoid(U: Utility | str, *, limit_solver=None) -> LimitingMeasure:
    """Theorem 4 (Song et al. 2023): U'(0)<inf, U'(1)>0 => mu({0}) = mu({1}) >= U'(1)/(U'(0)+U'(1)).

    Without ``limit_solver``: the atoms carry the bound (``atoms_are_lower_bounds``) and
    the continuous part is unknown. With it (``solvers.solve_limit``, Theorem 5's n = inf
    problem), the atoms and the continuous part (a histogram density) are the solver's:
    ``limit_solver(U)`` must return an object with the fields of
    ``solvers.LimitSolution`` used here: ``atoms``, ``cell_mass``, ``edges``, ``grid``,
    ``kkt_residual``.

    >>> mu = theorem4_log_sigmoid("log-sigmoid:1")
    >>> mu.atoms_are_lower_bounds, round(mu.atoms[0.0], 4)
    (True, 0.3498)
    """
    U = parse_utility(U)
    bound = theorem4_bound(U)  # raises OutsideHypotheses when U'(0+) is infinite
    statement = (
        "Theorem 4 (Song et al. 2023): U'(0)<inf, U'(1)>0 => mu({0}) = mu({1}) >= U'(1)/(U'(0)+U'(1))"
    )
    if limit_solver is None:
        return LimitingMeasure(
            spec=U.spec,
            atoms={0.0: bound, 1.0: bound},
            continuous=None,
            continuous_mass=None,
            theorem="Theorem 4",
            statement=statement,
            atoms_are_lower_bounds=True,
            note="atoms are Theorem 4's lower bound; no closed form is known for the exact mass "
            "or the continuous part (pass limit_solver=solvers.solve_limit)",
        )
    return theorem5_numerical(U, limit_solver(U), theorem4=bound)


#: What ``rcollapse limit`` says for a U with no closed-form limit.
NO_CLOSED_FORM = "no closed form; Theorem 5 measure computed"


def theorem5_numerical(U: Utility | str, solution, *, theorem4: float | None = None) -> LimitingMeasure:
    """Theorem 5 (Song et al. 2023): reward distribution -> the symmetric mu maximizing E U(|X - X'|).

    The measure as computed by the n = inf solver: ``solution`` has the fields of
    ``solvers.LimitSolution`` used here (``atoms``, ``cell_mass``, ``edges``, ``grid``,
    ``kkt_residual`` and, when present, ``grid_error``: the grid error estimates of the
    reported numbers). ``theorem4``: Theorem 4's lower bound on each atom, when it applies.
    """
    U = parse_utility(U)
    atoms = {float(p_k): float(m_k) for p_k, m_k in solution.atoms.items()}
    cell_mass = np.asarray(solution.cell_mass, dtype=float)
    c_mass = float(cell_mass.sum())
    continuous = Histogram(cell_mass, solution.edges) if c_mass > 0 else None
    estimates = getattr(solution, "grid_error", None)
    grid_error = None if estimates is None else {
        k: (v.to_json() if hasattr(v, "to_json") else dict(v)) for k, v in estimates.items()}
    note = (f"atoms and continuous part from the n = inf solver (grid {solution.grid}, "
            f"KKT residual {solution.kkt_residual:.2g})")
    if theorem4 is not None:
        note += f"; Theorem 4's bound {theorem4:.6g} <= atom mass"
    if U.is_user_written:
        note = f"{NO_CLOSED_FORM}: " + note
        if not U.strongly_concave or U.dU0 is None:
            note += ("; Theorem 5 assumes U bounded and strongly concave, which this U is not: "
                     "the measure is the maximizer of the n = inf problem, as for log")
    return LimitingMeasure(
        spec=U.spec,
        atoms=atoms,
        continuous=continuous,
        continuous_mass=c_mass,
        theorem="Theorem 5 (solved numerically)",
        statement="Theorem 5 (Song et al. 2023): reward distribution -> the symmetric mu maximizing E U(|X - X'|)",
        note=note,
        continuous_info={
            "name": "numerical",
            "kind": "histogram",
            "source": "solvers.solve_limit",
            "grid": int(solution.grid),
            "kkt_residual": float(solution.kkt_residual),
            "theorem4_bound": theorem4,
        },
        grid_error=grid_error,
    )


#: The families whose limit a theorem of the paper states in closed form.
CLOSED_FORMS = {
    "power": theorem2_power,
    "log": theorem3_log,
    "neg-power": theorem3_neg_power,
    "linear": linear_limit,
}


def has_closed_form(U: Utility | str) -> bool:
    """Whether a theorem states U's limit in closed form (Theorems 2 and 3; Theorem 4 at
    U = x). Not for log-sigmoid (Theorem 4 bounds its atoms only) nor for a user-written
    U: the n = inf problem of Theorem 5 (a ``limit_solver``) gives those.

    >>> has_closed_form("power:0.5"), has_closed_form("log-sigmoid:1")
    (True, False)
    """
    return parse_utility(U).family in CLOSED_FORMS


def limiting_measure(U: Utility | str, *, limit_solver=None) -> LimitingMeasure:
    """The n -> inf limit of the reward distribution of problem (5) for U (Theorems 2 to 5).

    ``limit_solver`` (e.g. ``solvers.solve_limit``) is used only where no closed form is
    known (log-sigmoid, and a user-written ``expr:`` utility, which needs it). Raises :class:`OutsideHypotheses` (a ValueError) for a utility no
    theorem covers.

    >>> limiting_measure("neg-power:0.5").describe()
    'Beta(0.75, 0.75)'
    """
    U = parse_utility(U)
    if has_closed_form(U):
        return CLOSED_FORMS[U.family](U)
    if U.is_user_written:
        return _user_written_limit(U, limit_solver)
    if U.finite_slope_at_zero:  # log-sigmoid: Theorem 4 holds for every sigma
        return theorem4_log_sigmoid(U, limit_solver=limit_solver)
    raise OutsideHypotheses(f"{U.spec}: no theorem of the paper gives this utility's limit")


def _user_written_limit(U: Utility, limit_solver) -> LimitingMeasure:
    """A user-written U: the n = inf solver's measure (Theorem 5), with Theorem 4's bound
    on the atoms where it applies; without a solver, that bound alone, or NoClosedForm."""
    theorem4_applies = U.finite_slope_at_zero and U.dU1 > 0
    if limit_solver is None and theorem4_applies:
        # Theorem 4 holds for any such U: the same bound-only measure as log-sigmoid's.
        return theorem4_log_sigmoid(U)
    if limit_solver is None:
        raise NoClosedForm(f"{U.spec}: {NO_CLOSED_FORM.split(';')[0]} is known for a user-written "
                           "utility; pass limit_solver=solvers.solve_limit (Theorem 5)")
    bound = theorem4_bound(U) if theorem4_applies else None
    return theorem5_numerical(U, limit_solver(U), theorem4=bound)


def design_card_measure(U: Utility | str) -> LimitingMeasure:
    """The design card's *incorrect* "Beta(1-γ/2, 1-γ/2)" for U = x^g, kept for the comparison only.

    >>> design_card_measure("power:0.5").describe()
    'Beta(0.75, 0.75)'
    """
    U = parse_utility(U)
    if U.family != "power":
        raise OutsideHypotheses(f"{U.spec}: the design card's formula is about U = x^g")
    return beta_measure(
        U, "design card (incorrect)",
        "design card: U = x^g => Beta(1-g/2, 1-g/2) -- wrong, see Theorem 2",
        "the design card's formula, kept for the comparison only", a=1.0 - U.param / 2.0,
    )
