"""The utility families of the paper (Song, Cai, Lee, Su 2023, section 3), one table.

Each family declares its parameter domain once and its sympy expression once:

=================  =======================  ====================
spec               U(x)                     parameter
=================  =======================  ====================
``linear``         x                        --
``power:g``        x^g                      0 < g < 1
``neg-power:g``    -x^(-g)                  g > 0
``log``            log x                    --
``log-sigmoid:s``  log sigmoid(x / s)       s > 0
=================  =======================  ====================

>>> FAMILIES["power"].domain()
'0 < gamma < 1'
>>> FAMILIES["log-sigmoid"].latex_form("0.5")
'\\\\log \\\\sigma\\\\left(\\\\frac{x}{0.5}\\\\right)'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import sympy as sp

from rcollapse.theory.sympy_functions import softplus, x

__all__ = ["FAMILIES", "Family", "format_parameter"]


def format_parameter(value: float) -> str:
    """The shortest text that reads back as the same float: 0.5, 1, 0.001.

    >>> format_parameter(1.0), format_parameter(0.001)
    ('1', '0.001')
    """
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Family:
    """A family of utilities: a name, a parameter domain and the sympy expression."""

    name: str
    build: Callable[[sp.Expr | None], sp.Expr]
    param: str | None = None  # the parameter's name, None for a family without one
    lower: float = 0.0  # the open lower bound of the parameter
    upper: float = math.inf  # the open upper bound of the parameter
    latex_param: str = ""
    #: U(x) in LaTeX from the parameter's text, where sympy's printing is not the paper's.
    latex_form: Callable[[str], str] | None = None

    def domain(self) -> str:
        """The valid range of the parameter, as a person writes it."""
        if self.param is None:
            return "no parameter"
        if math.isinf(self.upper):
            return f"{self.param} > {self.lower:g}"
        return f"{self.lower:g} < {self.param} < {self.upper:g}"


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("linear", lambda p: x),
        Family("power", lambda g: x**g, "gamma", 0.0, 1.0, r"\gamma"),
        Family("neg-power", lambda g: -(x ** (-g)), "gamma", 0.0, math.inf, r"\gamma"),
        Family("log", lambda p: sp.log(x)),
        Family("log-sigmoid", lambda s: -softplus(-x / s), "sigma", 0.0, math.inf, r"\sigma",
               latex_form=lambda s: r"\log \sigma\left(\frac{x}{%s}\right)" % s),
    )
}
