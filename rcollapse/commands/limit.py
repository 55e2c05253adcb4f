"""``rcollapse limit SPEC [--json] [--bound] [--grid M] [--method grid|spectral]``: the n -> inf
reward distribution.

Where the limit has no closed form (log-sigmoid, a user-written ``expr:`` utility) it is
Theorem 5's measure computed by the n = inf solver. By default the spectral method
(``solve_limit(method="spectral")``) where it applies (U'(0+) finite): the atom mass is
printed to 12 significant digits, each number with the change from half the degree.
Otherwise, or with ``--grid M`` / ``--method grid``, the grid, every number with its grid
error estimate (Richardson from the grids M/4, M/2, M)."""

from __future__ import annotations

import json

#: Quantile levels shown in the text output for a computed measure.
SHOWN_QUANTILES = ("0.05", "0.1", "0.25", "0.75", "0.9", "0.95")


def add_arguments(parser):
    parser.add_argument("spec", metavar="SPEC",
                        help="linear, log, power:g, neg-power:g, log-sigmoid:s or expr:<sympy expression in x>")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--bound", action="store_true",
                        help="log-sigmoid (or an expr: with U'(0+) finite): show only Theorem 4's lower "
                        "bound on the atoms (default: the limit from the n = inf solver)")
    parser.add_argument("--grid", type=int, default=None, metavar="M",
                        help="log-sigmoid and expr: cells of the n = inf solver's grid (implies --method grid)")
    parser.add_argument("--method", choices=("grid", "spectral"), default=None,
                        help="the n = inf solver's method (default: spectral where it applies, U'(0+) "
                        "finite, else grid)")


def strict_json(value):
    """value with every non-finite float replaced by None, so that json.dumps(allow_nan=False)
    writes strict JSON (no Infinity, no NaN)."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def _with_error(estimate: dict) -> str:
    value, error = estimate["value"], estimate["error"]
    if error is None:
        grids = ", ".join(map(str, estimate["grids"]))
        return f"{value:.6g} (grid error unknown: the values on grids {grids} do not converge yet; use a finer --grid)"
    if error == 0.0:
        return f"{value:.6g} (the same on every grid)"
    order = estimate["order"]
    regime = f"order {order:.2g}" if order is not None else "grid not yet asymptotic"
    return f"{value:.6g} ± {error:.1g} ({regime})"


def _spectral_with_error(estimate: dict, digits: int = 12) -> str:
    """value ± change between the two degrees, floored at float64's rounding of the value."""
    value = estimate["value"]
    return f"{value:.{digits}g} ± {max(estimate['error'], 2.2e-16 * abs(value)):.1g}"


def _print_spectral(U, mu, info) -> None:
    """The text output for a measure from the spectral solver: 12 significant digits."""
    from rcollapse.theory.limits import NO_CLOSED_FORM

    c, errors = mu.continuous_info, mu.grid_error
    parts = "atoms at 0 and 1 + spectral density" if info["atoms"] else "spectral density"
    print(f"{U.spec}: {NO_CLOSED_FORM} (spectral, degree {c['degree']}): {parts}")
    print(f"  {mu.statement}")
    if info["atoms"]:
        print(f"  atoms (n = inf solver): {_spectral_with_error(errors['atom_mass'])} at 0 and at 1")
    else:
        print("  atoms: none")
    shown = "   ".join(f"F^-1({p}) = {_spectral_with_error(errors['quantile:' + p], 10)}" for p in SHOWN_QUANTILES)
    print(f"  quantiles: {shown}")
    print(f"  mean 0.5 (symmetry)   var {_spectral_with_error(errors['var'])}")
    low, high = errors["var"]["grids"]
    print(f"  (± : change from degree {low} to {high}; the potential is constant to {c['certificate']:.1g}, "
          "Theorem 5's first-order condition)")
    if mu.note:
        print(f"  note: {mu.note}")


def run(args) -> int:
    from rcollapse.limits import limiting_measure, resolved_method
    from rcollapse.theory.limits import NO_CLOSED_FORM, has_closed_form
    from rcollapse.theory.utilities import parse_utility

    U = parse_utility(args.spec)
    if args.method is not None and (args.bound or has_closed_form(U)):
        why = "Theorem 4's bound needs no solver" if args.bound else "its limit is a closed form"
        raise ValueError(f"{U.spec}: --method {args.method} is not used ({why}); valid: --method with "
                         "log-sigmoid:s or expr: utilities, without --bound")
    method = resolved_method(U, args.method or "auto", args.grid)
    mu = limiting_measure(U, bound_only=args.bound, grid=args.grid, method=method)
    info = mu.to_json()
    spectral = (mu.continuous_info or {}).get("name") == "spectral"
    if mu.grid_error is not None:
        info["method"] = "spectral" if spectral else "grid"
        info["computed_on_grid"] = not spectral
    if args.json:
        print(json.dumps(strict_json(info), allow_nan=False))
        return 0
    if spectral:
        _print_spectral(U, mu, info)
        return 0
    errors = mu.grid_error
    head = info["distribution"]
    if errors is not None:
        parts = "atoms at 0 and 1 + numerical density" if info["atoms"] else "numerical density"
        head = f"{NO_CLOSED_FORM} (grid {mu.continuous_info['grid']}): {parts}"
    print(f"{U.spec}: {head}")
    print(f"  {mu.statement}")
    if info["atoms"]:
        atoms = ", ".join(f"{m:.6g} at {p:g}" for p, m in info["atoms"])
        if mu.atoms_are_lower_bounds:
            print(f"  atoms (lower bounds): {atoms}")
        elif errors is not None:
            print(f"  atoms (n = inf solver): {_with_error(errors['atom_mass'])} at 0 and at 1")
        else:
            print(f"  atoms (exact): {atoms}")
    elif errors is not None:
        print("  atoms: none")
    if errors is not None:
        shown = "   ".join(f"F^-1({p}) = {_with_error(errors['quantile:' + p])}" for p in SHOWN_QUANTILES)
        print(f"  quantiles: {shown}")
        print(f"  mean 0.5 (symmetry)   var {_with_error(errors['var'])}")
        print("  (± : grid error estimate, Richardson from grids "
              f"{', '.join(map(str, errors['var']['grids']))})")
    elif mu.exact:
        print(f"  mean {info['mean']:.6g}   var {info['var']:.6g}")
    if mu.note:
        print(f"  note: {mu.note}")
    return 0
