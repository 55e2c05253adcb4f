"""theory: the mathematics of reward collapse (Song, Cai, Lee, Su 2023), with no solver.

Public API (the modules are private; import from here):

- utilities: :func:`parse_utility`, :class:`Utility`, :class:`UtilityError`;
- objective: :func:`overall_utility` (S of problem (5));
- exact: :func:`gauss_lobatto_rewards` (the exact optimum for U = log);
- limits: :func:`limiting_measure`, :class:`LimitingMeasure` (Theorems 2 to 5);
- distances: :func:`ks_distance`, :func:`w1_distance`;
- derivations: :func:`beta_parameter`, :func:`derive_beta_parameter`,
  :func:`derive_limit_energy`, :func:`limit_energy`, :func:`theorem4_bound`.
"""

from rcollapse.theory.derivations import (
    OutsideHypotheses,
    beta_parameter,
    derive_beta_parameter,
    derive_limit_energy,
    limit_energy,
    theorem4_bound,
)
from rcollapse.theory.distances import ks_distance, w1_distance
from rcollapse.theory.exact import gauss_lobatto_rewards
from rcollapse.theory.limits import LimitingMeasure, NoClosedForm, design_card_measure, limiting_measure
from rcollapse.theory.objective import overall_utility
from rcollapse.theory.utilities import Utility, UtilityError, parse_utility

__all__ = [
    "LimitingMeasure",
    "NoClosedForm",
    "OutsideHypotheses",
    "Utility",
    "UtilityError",
    "beta_parameter",
    "derive_beta_parameter",
    "derive_limit_energy",
    "design_card_measure",
    "gauss_lobatto_rewards",
    "ks_distance",
    "limit_energy",
    "limiting_measure",
    "overall_utility",
    "parse_utility",
    "theorem4_bound",
    "w1_distance",
]
