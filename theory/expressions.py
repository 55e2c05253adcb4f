"""User-written utilities: the text of ``expr:<sympy text>``, parsed safely.

Only numbers, ``x``, the operators ``+ - * / ** ^ ( ) ,``, the constants ``pi`` and
``E`` and the functions of :data:`EXPR_FUNCTIONS` are admitted, checked token by token
before sympy's ``parse_expr`` sees the text (with no builtins), so nothing but arithmetic
can run; number powers too large to evaluate are refused before sympy evaluates them.
Whether the expression is a valid utility (real, increasing, strictly concave) is
decided by :mod:`rcollapse.theory.properties`.
"""

from __future__ import annotations

import math
import re

import sympy as sp

from rcollapse.theory.sympy_functions import UtilityError, one_line, sigmoid, softplus, x

__all__ = [
    "EXPR_CONSTANTS",
    "EXPR_FUNCTIONS",
    "MAX_EXPONENT",
    "MAX_EXPR_CHARS",
    "MAX_NUMBER_DIGITS",
    "canonical_expression",
    "parse_expression",
]

#: The functions a user expression may call, by the name it uses.
EXPR_FUNCTIONS = {
    "log": sp.log, "exp": sp.exp, "sqrt": sp.sqrt, "Abs": sp.Abs, "atan": sp.atan,
    "tanh": sp.tanh, "asinh": sp.asinh, "erf": sp.erf, "sigmoid": sigmoid, "softplus": softplus,
}
#: The constants it may use.
EXPR_CONSTANTS = {"pi": sp.pi, "E": sp.E}
#: Longest accepted expression text.
MAX_EXPR_CHARS = 400
#: Largest |p| in u**p for a function u of x (mpmath's x**(10**200) would not return).
MAX_EXPONENT = 1000
#: A number power a**b is evaluated only while |b| log10|a| stays below this.
MAX_NUMBER_DIGITS = 300
_OPERATORS = {"+", "-", "*", "/", "**", "^", "(", ")", ","}
_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _check_tokens(text: str, shown: str) -> None:
    """Refuse, with one line, any token that is not a number, x, an allowed function or
    constant, or an arithmetic operator: no attribute access, no dunder names, no lambda,
    no strings, no indexing, no keywords."""
    import io
    import tokenize

    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                  if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
                                    tokenize.DEDENT)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        raise UtilityError(f"{shown}: unbalanced parentheses or unreadable text") from None
    allowed = ", ".join(sorted(EXPR_FUNCTIONS))
    depth = 0
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if tok.type == tokenize.NAME:
            if tok.string in EXPR_FUNCTIONS:
                if nxt != "(":
                    raise UtilityError(f"{shown}: function {tok.string!r} must be called, as {tok.string}(x)")
            elif tok.string == "x" or tok.string in EXPR_CONSTANTS:
                if nxt == "(":
                    raise UtilityError(f"{shown}: {tok.string!r} is not a function; valid functions: {allowed}")
            else:
                raise UtilityError(f"{shown}: name {one_line(tok.string, 30)!r} is not allowed; valid: "
                                   f"x, pi, E and the functions {allowed}")
        elif tok.type == tokenize.NUMBER:
            if not _NUMBER.fullmatch(tok.string):
                raise UtilityError(f"{shown}: number {tok.string!r} is not a decimal number")
        elif tok.type == tokenize.OP and tok.string in _OPERATORS:
            depth += {"(": 1, ")": -1}.get(tok.string, 0)
            if depth > 30:
                raise UtilityError(f"{shown}: parentheses nested deeper than 30")
        else:
            raise UtilityError(f"{shown}: {one_line(tok.string, 30)!r} is not allowed; valid: numbers, x, "
                               "+ - * / ** ^ ( ) , and the functions " + allowed)


def _evaluate_bounded(expr: sp.Expr, shown: str) -> sp.Expr:
    """Evaluate an unevaluated parse tree bottom-up, refusing number powers (9**9**9)
    whose exact value would have more than MAX_NUMBER_DIGITS digits."""
    if expr.is_Atom:
        return expr
    args = [_evaluate_bounded(a, shown) for a in expr.args]
    if expr.is_Pow and args[1].is_Number and not args[0].is_Number and abs(args[1]) > MAX_EXPONENT:
        raise UtilityError(f"{shown}: exponent {one_line(str(args[1]), 24)} is too large; "
                           f"valid: |exponent| <= {MAX_EXPONENT}")
    if expr.is_Pow and args[0].is_Number and args[1].is_Number and args[0] != 0:
        size = abs(float(args[1])) * abs(math.log10(abs(float(args[0])) or 1e-300))
        if not size <= MAX_NUMBER_DIGITS:
            raise UtilityError(f"{shown}: number {args[0]}**{args[1]} is too large; valid: "
                               f"powers of numbers below 10**{MAX_NUMBER_DIGITS}")
    return expr.func(*args)


def parse_expression(text: str) -> sp.Expr:
    """A sympy expression in x from user text, parsed safely (module docstring); decimals
    become exact rationals (0.5 -> 1/2) and ``^`` means power.

    >>> parse_expression("log(1 + 4*x) + x^0.5")
    sqrt(x) + log(4*x + 1)
    >>> parse_expression("x.__class__")
    Traceback (most recent call last):
    ...
    rcollapse.theory.utilities.UtilityError: 'x.__class__': '.' is not allowed; valid: numbers, x, + - * / ** ^ ( ) , and the functions Abs, asinh, atan, erf, exp, log, sigmoid, softplus, sqrt, tanh
    """
    from sympy.parsing.sympy_parser import auto_number, convert_xor, parse_expr, rationalize

    shown = repr(one_line(text))
    if not isinstance(text, str) or not text.strip():
        raise UtilityError(f"{shown}: empty expression; valid: a sympy expression in x, as log(1 + 4*x)")
    if len(text) > MAX_EXPR_CHARS:
        raise UtilityError(f"{shown}: expression longer than {MAX_EXPR_CHARS} characters")
    _check_tokens(text, shown)
    names = {"x": x, **EXPR_FUNCTIONS, **EXPR_CONSTANTS}
    builders = {"__builtins__": {}, "Integer": sp.Integer, "Float": sp.Float, "Rational": sp.Rational,
                "Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow}
    try:
        tree = parse_expr(text.strip(), local_dict=names, global_dict=builders,
                          transformations=(auto_number, rationalize, convert_xor), evaluate=False)
    except (SyntaxError, TypeError, ValueError, NameError, AttributeError) as err:
        raise UtilityError(f"{shown}: not a valid expression ({one_line(str(err), 60)})") from None
    if not isinstance(tree, sp.Expr):
        raise UtilityError(f"{shown}: not a single expression in x")
    return _evaluate_bounded(tree, shown)


def canonical_expression(expr: sp.Expr, shown: str) -> sp.Expr:
    """The expression that its own spec text parses back to, so that
    ``parse_utility(U.spec) == U`` (sympy distributes 2*(x + 1) into 2*x + 2 on parsing).
    The text passes the same safety check as a typed spec: only the functions of
    :data:`EXPR_FUNCTIONS`, also for an expression built in Python."""
    for _ in range(4):
        again = parse_expression(sp.sstr(expr))
        if again == expr:
            return expr
        expr = again
    raise UtilityError(f"{shown}: its printed form does not parse back to itself; write it more simply")

