"""The ``rcollapse`` command line.

Each subcommand lives in its own module, ``rcollapse/commands/<name>.py``, which defines
``add_arguments(parser)`` and ``run(args) -> int``. Computation stays in the rooms
(``theory``, ``solvers``, ``empirical``, ``figures``); a command only parses, calls and
prints.

Exit status: 0 on success, 1 when a check or a solver fails, 2 for bad input (a one-line
message on stderr, never a traceback), 130 after Ctrl-C (one line, at any moment, start-up
included). When stdout is closed early (``rcollapse utility log | head -1``) the command
stops quietly with status 1, as the Python documentation recommends for SIGPIPE.

Start-up stays light: this module imports no room, and ``main`` imports the module of the
one command that was asked for, so ``rcollapse --help`` and ``--version`` load no
command at all. A command module keeps matplotlib, sympy, scipy.stats, cvxpy, torch and
transformers inside ``run`` (tests/face/test_cli_lazy.py checks it).
"""

from __future__ import annotations

import argparse
import importlib
import os
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
    "diagnose": "has a reward model collapsed, and onto which utility's optimum of (5)?",
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


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The parser of ``rcollapse``; each command in ``commands`` (default: all) gets its
    own arguments from ``add_arguments``, the others only their name and help line."""
    from rcollapse import __version__

    wanted = set(COMMANDS if commands is None else commands)
    parser = _Parser(
        prog="rcollapse",
        description="Reward collapse in aligning large language models (Song et al. 2023): "
        "theory, solvers, figures and experiments.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name in wanted:
            importlib.import_module(_module_name(name)).add_arguments(p)
        else:  # not asked for: takes anything, never parsed further (keeps --help fast)
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _requested_command(argv: list[str]) -> str | None:
    """The command named in ``argv``: the first word that is not an option (``rcollapse``
    itself takes only ``-h`` and ``--version``)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    """Run ``rcollapse ARGV``; return the exit status.

    Ctrl-C at any point gives one line and status 130; a closed stdout gives silence and
    status 1. Usage errors, ``--help`` and ``--version`` end in ``SystemExit`` as argparse
    does.
    """
    command = None
    try:
        try:
            argv = sys.argv[1:] if argv is None else list(argv)
            command = _requested_command(argv)
            status = _dispatch(argv, command)
        except SystemExit:  # --help, --version and usage errors: their text is out first
            sys.stdout.flush()
            raise
        sys.stdout.flush()  # a closed pipe shows here, not at shutdown
        return status
    except KeyboardInterrupt:
        _print_err(f"rcollapse{'' if command is None else ' ' + command}: interrupted")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 1


def _dispatch(argv: list[str], command: str | None) -> int:
    parser = build_parser([] if command is None else [command])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
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


def _print_err(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr gone too: nothing left to tell
        pass


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the flush at shutdown cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor (a captured stdout)
        pass


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
