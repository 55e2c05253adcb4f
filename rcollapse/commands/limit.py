"""``rcollapse limit SPEC [--json] [--bound] [--grid M]``: the n -> inf reward distribution."""

from __future__ import annotations

import json

from rcollapse.limits import limiting_measure
from rcollapse.theory.utilities import parse_utility


def add_arguments(parser):
    parser.add_argument("spec", metavar="SPEC",
                        help="linear, log, power:g, neg-power:g or log-sigmoid:s")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--bound", action="store_true",
                        help="log-sigmoid: show only Theorem 4's lower bound on the atoms "
                        "(default: the exact limit from the n = inf solver)")
    parser.add_argument("--grid", type=int, default=None, metavar="M",
                        help="log-sigmoid: cells of the n = inf solver (default: its own)")


def run(args) -> int:
    U = parse_utility(args.spec)
    mu = limiting_measure(U, bound_only=args.bound, grid=args.grid)
    info = mu.to_json()
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"{U.spec}: {info['distribution']}")
    print(f"  {mu.statement}")
    if info["atoms"]:
        kind = "lower bounds" if mu.atoms_are_lower_bounds else "exact"
        atoms = ", ".join(f"{m:.6g} at {p:g}" for p, m in info["atoms"])
        print(f"  atoms ({kind}): {atoms}")
    if mu.exact:
        print(f"  mean {info['mean']:.6g}   var {info['var']:.6g}")
    if mu.note:
        print(f"  note: {mu.note}")
    return 0
