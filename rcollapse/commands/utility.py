"""``rcollapse utility SPEC [--json]``: a utility's derivatives and properties."""

from __future__ import annotations

import json

from rcollapse.theory.utilities import parse_utility


def add_arguments(parser):
    parser.add_argument("spec", metavar="SPEC",
                        help="linear, log, power:g, neg-power:g or log-sigmoid:s")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    U = parse_utility(args.spec)
    info = U.describe()
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"U(x) = {U.expr}    [{U.spec}]")
    print(f"U'(x) = {U.dexpr}")
    print(f"U''(x) = {U.d2expr}")
    for key in ("increasing", "strictly_concave", "strongly_concave", "dU0", "dU1"):
        value = info[key]
        print(f"  {key:<17} {'inf' if value is None else value}")
    return 0
