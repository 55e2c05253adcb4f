"""The ``rcollapse`` command line.

Each subcommand lives in its own module, ``rcollapse/commands/<name>.py``, which defines
``add_arguments(parser)`` and ``run(args) -> int``. Computation stays in the rooms
(``theory``, ``solvers``, ``empirical``, ``figures``); a command only parses, calls and
prints.

Exit status: 0 on success, 1 when a check or a solver fails, 2 for bad input (a one-line
message on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

#: name -> one-line help. The module ``rcollapse.commands.<name>`` implements it.
COMMANDS = {
    "utility": "describe a utility U: its derivatives and the properties the theorems need",
    "limit": "the limiting reward distribution of problem (5) as n -> inf (Theorems 2-5)",
    "solve": "solve problem (5) for a utility and n completions, or its n = inf limit",
    "verify": "the main job: check every claim of the paper and write verify.json",
    "figures": "regenerate the paper's figures as PNG and PDF",
    "train": "train a reward model on rankings and watch collapse happen",
    "warm": "weight-averaged reward models (WARM, Rame et al. 2024)",
    "bench": "benchmarks: the solvers against their peers on this machine",
}


class InputError(ValueError):
    """Bad input at the command line; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _module_name(name: str) -> str:
    return f"rcollapse.commands.{name}"


def _is_built(name: str) -> bool:
    return importlib.util.find_spec(_module_name(name)) is not None


def build_parser() -> argparse.ArgumentParser:
    from rcollapse import __version__

    parser = _Parser(
        prog="rcollapse",
        description="Reward collapse in aligning large language models (Song et al. 2023): "
        "theory, solvers, figures and experiments.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        built = _is_built(name)
        p = sub.add_parser(name, help=help_text if built else f"{help_text} (not built yet)",
                           description=help_text)
        if built:
            importlib.import_module(_module_name(name)).add_arguments(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if not _is_built(args.command):
        print(f"rcollapse {args.command}: not built yet", file=sys.stderr)
        return 2
    module = importlib.import_module(_module_name(args.command))
    try:
        return int(module.run(args) or 0)
    except ValueError as err:  # bad input: UtilityError, InputError, SolverInputError, ...
        print(f"rcollapse {args.command}: error: {_first_line(err)}", file=sys.stderr)
        return 2
    except (RuntimeError, ArithmeticError) as err:  # e.g. a solver that did not converge
        print(f"rcollapse {args.command}: failed: {_first_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rcollapse {args.command}: interrupted", file=sys.stderr)
        return 130


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
