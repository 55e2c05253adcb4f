"""``rcollapse limit SPEC [--json] [--bound] [--grid M]``: the n -> inf reward distribution.

Where the limit has no closed form (log-sigmoid, a user-written ``expr:`` utility) it is
Theorem 5's measure computed by the n = inf solver, and every number it gives is printed
with its grid error estimate (Richardson from the grids M/4, M/2, M)."""

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
                        help="log-sigmoid and expr: cells of the n = inf solver (default: its own)")


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


def run(args) -> int:
    from rcollapse.limits import limiting_measure
    from rcollapse.theory.limits import NO_CLOSED_FORM
    from rcollapse.theory.utilities import parse_utility

    U = parse_utility(args.spec)
    mu = limiting_measure(U, bound_only=args.bound, grid=args.grid)
    info = mu.to_json()
    if args.json:
        print(json.dumps(strict_json(info), allow_nan=False))
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
