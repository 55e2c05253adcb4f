"""``rcollapse utility SPEC [--json]``: a utility's derivatives and properties.

SPEC is a family (``power:0.5``) or a user-written ``expr:<sympy expression in x>``; the
JSON output is strict (a finite value above the float64 range is written as a string)."""

from __future__ import annotations

import json


def add_arguments(parser):
    parser.add_argument("spec", metavar="SPEC",
                        help="linear, log, power:g, neg-power:g, log-sigmoid:s or expr:<sympy expression in x>")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from rcollapse.commands.limit import strict_json
    from rcollapse.solvers.cvx import cvxpy_form_error
    from rcollapse.theory.utilities import parse_utility

    U = parse_utility(args.spec)
    cvxpy_error = cvxpy_form_error(U)
    info = {**U.describe(), "cvxpy": cvxpy_error is None}
    if args.json:
        print(json.dumps(strict_json(info), allow_nan=False))
        return 0
    status = info["property_status"]
    print(f"U(x) = {U.expr}    [{U.spec}]")
    print(f"U'(x) = {U.dexpr}")
    print(f"U''(x) = {U.d2expr}")
    for key in ("increasing", "strictly_concave"):
        print(f"  {key:<17} {info[key]}  ({status[key]})")
    mu = info["strong_concavity"]
    print(f"  {'strongly_concave':<17} {info['strongly_concave']}  "
          f"(mu = inf -U'' on (0, 1] = {mu:.6g}; {status['strong_concavity']})")
    for key in ("dU0", "dU1"):
        value = info[key]
        print(f"  {key:<17} {'inf' if value is None else value}")
    print(f"  {'cvxpy form':<17} {'yes' if info['cvxpy'] else 'no: ' + (cvxpy_error or '')}")
    return 0
