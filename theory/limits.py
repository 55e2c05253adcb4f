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
solver's grid.

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
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from rcollapse.theory.derivations import OutsideHypotheses, beta_parameter, theorem4_bound
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = [
    "LimitingMeasure",
    "NoClosedForm",
    "OutsideHypotheses",
    "CLOSED_FORMS",
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


class NoClosedForm(ValueError):
    """The measure is only partly known (a bound), so this quantity has no value."""


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@dataclass(frozen=True, eq=False)
class LimitingMeasure:
    """A probability measure on [0, 1]: atoms plus a continuous part.

    mu = sum_k atoms[p_k] delta_{p_k} + continuous_mass * continuous, with ``continuous``
    a frozen scipy.stats distribution on [0, 1] (None when there is no continuous part,
    or when it is unknown: then ``continuous_mass`` is None too).

    Rules: ``cdf(x) = mu([0, x])`` (right-continuous), ``cdf_left(x) = mu([0, x))``,
    ``ppf(q) = inf{x : cdf(x) >= q}`` (``ppf(0) = 0``). When ``atoms_are_lower_bounds`` is
    True the atoms are only lower bounds and everything that needs the whole measure
    raises :class:`NoClosedForm`; ``mean()`` is still 1/2 by symmetry (Theorem 5).
    """

    spec: str
    atoms: dict
    continuous: object | None = field(repr=False)
    continuous_mass: float | None
    theorem: str
    statement: str = field(default="", repr=False)  # the theorem in one line
    atoms_are_lower_bounds: bool = False
    note: str = field(default="", repr=False)  # anything a reader must know
    continuous_info: dict | None = field(default=None, repr=False)  # JSON of the part
    #: For a measure computed on a grid (Theorem 5, numerically): name -> estimate with
    #: ``value``, ``error`` (grid error estimate), ``order``, ``grids``, ``values``; None
    #: for a closed form. Names: "atom_mass", "var", "quantile:<p>".
    grid_error: dict | None = field(default=None, repr=False)

    # ---- status ----------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """Whether the whole measure is known (not just a bound on its atoms): a closed
        form, or computed by the n = inf solver (then see ``closed_form``, ``grid_error``)."""
        return not self.atoms_are_lower_bounds and self.continuous_mass is not None

    @property
    def closed_form(self) -> bool:
        """Whether the measure is exact in closed form (False for a bound, and for a measure
        computed on a grid, whose numbers carry grid errors)."""
        return self.exact and self.grid_error is None and not (
            self.continuous_info and self.continuous_info.get("name") == "numerical")

    def _require_exact(self, what: str):
        if not self.exact:
            raise NoClosedForm(
                f"{self.spec}: {what} is unknown: {self.theorem} bounds the atoms only and no "
                "closed form is known for the continuous part (use limit_solver=solvers.solve_limit)"
            )

    def _atom_arrays(self):
        pos = np.array(sorted(self.atoms), dtype=float)
        mass = np.array([self.atoms[p] for p in sorted(self.atoms)], dtype=float)
        return pos, mass

    # ---- distribution functions ------------------------------------------------------
    def cdf(self, x):
        """mu([0, x]) (mu((-inf, x]) for x outside [0, 1]), vectorized."""
        self._require_exact("the cdf")
        x = np.asarray(x, dtype=float)
        pos, mass = self._atom_arrays()
        out = np.sum(mass * (x[..., None] >= pos), axis=-1) if pos.size else np.zeros_like(x)
        if self.continuous is not None and self.continuous_mass:
            out = out + self.continuous_mass * self.continuous.cdf(x)
        return np.clip(out, 0.0, 1.0)

    def cdf_left(self, x):
        """mu([0, x)), the left limit of the cdf at x, vectorized."""
        self._require_exact("the cdf")
        x = np.asarray(x, dtype=float)
        pos, mass = self._atom_arrays()
        out = np.sum(mass * (x[..., None] > pos), axis=-1) if pos.size else np.zeros_like(x)
        if self.continuous is not None and self.continuous_mass:
            out = out + self.continuous_mass * self.continuous.cdf(x)
        return np.clip(out, 0.0, 1.0)

    def ppf(self, q):
        """inf{x in [0, 1] : cdf(x) >= q}, vectorized; an atom owns the q in its jump."""
        self._require_exact("the quantile function")
        q = np.asarray(q, dtype=float)
        if np.any(~((q >= 0) & (q <= 1))):
            raise ValueError("ppf: q must lie in [0, 1]")
        pos, mass = self._atom_arrays()
        below = np.zeros_like(q)  # mass of the atoms that lie below the answer
        out = np.full(q.shape, np.nan)
        for p_k, m_k in zip(pos, mass):
            lo, hi = float(self.cdf_left(p_k)), float(self.cdf(p_k))
            inside = (q > lo) & (q <= hi) & np.isnan(out)
            out = np.where(inside, p_k, out)
            below = below + np.where(q > hi, m_k, 0.0)
        if self.continuous is not None and self.continuous_mass:
            level = np.clip((q - below) / self.continuous_mass, 0.0, 1.0)
            out = np.where(np.isnan(out), self.continuous.ppf(level), out)
        return np.where(np.isnan(out), np.where(q <= 0, 0.0, 1.0), out)

    def density(self, x):
        """The density of the continuous part, times its mass (atoms excluded)."""
        self._require_exact("the density")
        x = np.asarray(x, dtype=float)
        if self.continuous is None or not self.continuous_mass:
            return np.zeros_like(x)
        return self.continuous_mass * self.continuous.pdf(x)

    def integrated_cdf(self, x):
        """G(x) = int_{-inf}^x cdf(t) dt, vectorized; exact for Beta, uniform and histogram parts.

        Used by :func:`theory.distances.w1_distance`. For x >= 1, G(x) = G(1) + x - 1.
        """
        self._require_exact("the integrated cdf")
        x = np.asarray(x, dtype=float)
        t = np.clip(x, 0.0, 1.0)
        pos, mass = self._atom_arrays()
        out = np.sum(mass * np.maximum(t[..., None] - pos, 0.0), axis=-1) if pos.size else np.zeros_like(t)
        if self.continuous is not None and self.continuous_mass:
            out = out + self.continuous_mass * _integrated_cdf(self.continuous, t)
        return out + np.maximum(x - 1.0, 0.0)

    def rvs(self, size: int, *, random_state=None) -> np.ndarray:
        """A random sample of ``size`` points, by inversion (ppf of uniforms)."""
        rng = np.random.default_rng(random_state)
        return self.ppf(rng.uniform(size=size))

    # ---- moments ---------------------------------------------------------------------
    def mean(self) -> float:
        """E X; 1/2 for every limit here (all are symmetric about 1/2, Theorem 5)."""
        if not self.exact:
            return 0.5  # symmetric about 1/2 (Lemma 4.1 / Theorem 5), whatever the unknown part
        pos, mass = self._atom_arrays()
        value = float(np.dot(pos, mass))
        if self.continuous is not None and self.continuous_mass:
            value += self.continuous_mass * float(self.continuous.mean())
        return value

    def var(self) -> float:
        """Var X."""
        self._require_exact("the variance")
        pos, mass = self._atom_arrays()
        second = float(np.dot(pos**2, mass))
        if self.continuous is not None and self.continuous_mass:
            c = self.continuous
            second += self.continuous_mass * float(c.var() + c.mean() ** 2)
        return second - self.mean() ** 2

    def std(self) -> float:
        return math.sqrt(self.var())

    # ---- text ------------------------------------------------------------------------
    def describe(self) -> str:
        """The measure as a person writes it: 'Beta(0.375, 0.375)', '0.5 delta_0 + 0.5 delta_1'."""
        parts = []
        if self.atoms_are_lower_bounds:
            (m,) = set(self.atoms.values()) or {0.0}
            return (
                f"m delta_0 + m delta_1 + continuous part (no closed form), "
                f"m >= {_fmt(m)} ({self.theorem})"
            )
        for p_k in sorted(self.atoms):
            parts.append(f"{_fmt(self.atoms[p_k])} delta_{_fmt(p_k)}")
        if self.continuous is not None and self.continuous_mass:
            name = _continuous_name(self.continuous, self.continuous_info)
            parts.append(name if not parts else f"{_fmt(self.continuous_mass)} {name}")
        return " + ".join(parts)

    def to_json(self) -> dict:
        """The JSON object of ``rcollapse limit SPEC --json``."""
        return {
            "spec": self.spec,
            "distribution": self.describe(),
            "continuous": self.continuous_info,
            "continuous_mass": self.continuous_mass,
            "atoms": [[float(p_k), float(self.atoms[p_k])] for p_k in sorted(self.atoms)],
            "atoms_are_lower_bounds": self.atoms_are_lower_bounds,
            "exact": self.closed_form,
            "complete": self.exact,
            "theorem": self.theorem,
            "statement": self.statement,
            "note": self.note,
            "mean": self.mean(),
            "var": self.var() if self.exact else None,
            "computed_on_grid": self.grid_error is not None,
            "grid_error": self.grid_error,
        }


def _continuous_name(dist, info) -> str:
    if info and info.get("name") == "beta":
        return f"Beta({_fmt(info['a'])}, {_fmt(info['b'])})"
    if info and info.get("name") == "uniform":
        return "Uniform(0, 1)"
    if info and info.get("name") == "numerical":
        return f"numerical density ({info.get('source', 'solver')}, grid {info.get('grid')})"
    return getattr(getattr(dist, "dist", None), "name", "continuous part")


class _Histogram(stats.rv_histogram):
    """scipy's piecewise-uniform distribution, keeping its cell edges (for G = int F)."""

    def __init__(self, masses, edges):
        self.edges = np.asarray(edges, dtype=float)
        super().__init__((np.asarray(masses, dtype=float), self.edges), density=False)


def _integrated_cdf(dist, t):
    """int_0^t C(u) du for a frozen distribution C on [0, 1], t in [0, 1]."""
    if isinstance(dist, _Histogram):
        edges = dist.edges
        cdf_edges = dist.cdf(edges)
        cum = np.concatenate(([0.0], np.cumsum(0.5 * np.diff(edges) * (cdf_edges[1:] + cdf_edges[:-1]))))
        k = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
        return cum[k] + 0.5 * (t - edges[k]) * (cdf_edges[k] + dist.cdf(t))
    name = getattr(getattr(dist, "dist", None), "name", "")
    if name == "beta" and not dist.kwds and len(dist.args) == 2:
        a, b = dist.args
        # int_0^t I_u(a, b) du = t I_t(a, b) - E[X; X <= t] = t I_t(a, b) - a/(a+b) I_t(a+1, b)
        return t * special.betainc(a, b, t) - a / (a + b) * special.betainc(a + 1, b, t)
    if name == "uniform" and not dist.kwds and not dist.args:
        return 0.5 * t**2
    from scipy import integrate

    flat = np.ravel(t)
    values = [integrate.quad(dist.cdf, 0.0, float(v), limit=200)[0] for v in flat]
    return np.reshape(values, np.shape(t))


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
    atoms = {float(p_k): float(m_k) for p_k, m_k in solution.atoms}
    cell_mass = np.asarray(solution.cell_mass, dtype=float)
    c_mass = float(cell_mass.sum())
    continuous = _Histogram(cell_mass, solution.edges) if c_mass > 0 else None
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
