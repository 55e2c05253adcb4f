"""The README's measured tables and lines, generated from ``benchmarks/results/*.json``.

Each generated part of README.md sits between two markers,

    <!-- generated: NAME -->
    ...
    <!-- end generated -->

and is rewritten from its results file by ``python -m rcollapse.benchmarks.readme``
(``--check``: only compare, exit 1 on a difference). Never typed by hand: the test
``tests/face/test_readme.py`` checks that every part matches its file, and warns when the
file was measured before the last change to the code it measures (:func:`staleness`).

>>> text = "a\\n<!-- generated: x -->\\nold\\n<!-- end generated -->\\nb\\n"
>>> generated_parts(text)
{'x': 'old'}
>>> replace_part(text, "x", "new")
'a\\n<!-- generated: x -->\\nnew\\n<!-- end generated -->\\nb\\n'
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["PARTS", "Part", "check_record_paths", "generated_parts", "main", "provenance_line", "record",
           "regenerate", "render", "replace_part", "staleness", "update_readme"]

_PART = re.compile(r"<!-- generated: (?P<name>[\w-]+) -->\n(?P<body>.*?)\n?<!-- end generated -->", re.S)


def _short(commit) -> str:
    return (commit or "unknown")[:10]


def provenance_line(data: dict, *, with_command: bool = True) -> str:
    """Where and when a results file was measured, in one sentence."""
    p = data.get("provenance", {})
    machine, threads, git = p.get("machine", {}), p.get("threads", {}), p.get("git", {})
    load = machine.get("load_average") or []
    thread_text = ", ".join(f"{k.split('_')[0]}={v}" for k, v in threads.items()
                            if k.endswith("_NUM_THREADS") and v is not None) or "threads unset"
    dirty = " with uncommitted changes" if git.get("dirty") else ""
    command = data.get("command") if with_command else None
    return (f"Measured{f' by `{command}`' if command else ''} at commit {_short(git.get('commit'))}{dirty}, "
            f"{p.get('measured_utc', '?')}, on {machine.get('cpus', '?')} CPUs "
            f"({machine.get('processor', '?')}, load average {load[0] if load else '?'} at the start; "
            f"{thread_text}); data: `benchmarks/results/{data.get('_name', '?')}.json`.")


def _solvers(data: dict) -> str:
    from rcollapse.benchmarks.solvers import markdown_table, summary_lines

    settings = data["settings"]
    return "\n".join([
        f"`rcollapse bench solvers`: every method asked for the same certificate, KKT residual "
        f"<= {settings.get('tol', 1e-9):g} (`solve(..., tol=...)`); each cell is the seconds of one `solve` "
        f"(`Solution.seconds`, in a fresh child process after a warm-up) and the KKT residual "
        f"recomputed on the returned vector. A method stops after its first run above "
        f"{settings['budget_s']:g} s; a run is stopped at {settings['hard_limit_s']:g} s; \"refused\": "
        f"`solve` raised ConvergenceError; \"-\": not run. One run on a shared machine, so the "
        f"seconds are inflated; the ratios against the peers come from that one run, every "
        f"method on the same machine at the same time.",
        "",
        markdown_table(data),
        "",
        *[f"- {line}" for line in summary_lines(data)],
        "",
        provenance_line(data),
    ])


def _limit(data: dict) -> str:
    from rcollapse.benchmarks.limit import markdown_table

    return "\n".join([
        "`rcollapse bench limit`: seconds and KKT residual of `solve_limit` (the n = inf QP) "
        "against the grid:",
        "",
        markdown_table(data),
        "",
        provenance_line(data),
    ])


def _atoms(data: dict) -> str:
    from rcollapse.benchmarks.atoms import markdown_table

    return "\n".join([markdown_table(data), "", provenance_line(data)])


def _verify(data: dict) -> str:
    counts = data["counts"]
    total = sum(counts.values())
    config = data.get("config", {})
    verdict = "all PASS" if data.get("all_passed") else \
        f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['ERROR']} ERROR"
    ns = ", ".join(map(str, config.get("ns", [])))
    return (f"`{data.get('command', 'rcollapse verify')}` ran {total} checks in {data['seconds']:.1f} s "
            f"(n = {ns}), {verdict}. " + provenance_line(data, with_command=False))


def _large(data: dict) -> str:
    from rcollapse.benchmarks.large import markdown_table

    return "\n".join([
        "`rcollapse bench solvers --large`: the fast method (`method=\"fast\"`, Newton-CG on "
        "fast kernel sums) from n = 10^3 to 10^6, each run a fresh child process; seconds from "
        "the call to the certified answer (wall, and CPU: on a shared machine the wall time "
        "includes waiting for a core), then the seconds of the answer's proven error bound "
        "(`Solution.error_bound`, by the same fast sums, timed after the solve); CG: iterations "
        "of each Newton step on the last level.",
        "",
        markdown_table(data),
        "",
        provenance_line(data),
    ])


def _preconditioner(data: dict) -> str:
    from rcollapse.benchmarks.preconditioner import format_table

    return "\n".join([
        f"CG iterations to a relative residual of {data.get('rtol', 1e-10):g} for the Newton "
        f"system at the optimum (fixed random right-hand side), with each coarse basis:",
        "",
        format_table(data["rows"]),
        "",
        provenance_line(data),
    ])


@dataclass(frozen=True)
class Part:
    """A generated part of the README: its results file, how it is written, what code it
    measures (a newer change there makes the file stale) and the command that remakes it."""

    results: str
    render: Callable[[dict], str]
    measures: tuple
    rerun: str


#: the code of the fast method (a change there makes its measured parts stale)
FAST_METHOD = ("solvers/newton_cg.py", "solvers/fastsum.py", "solvers/projected_newton.py",
               "solvers/starts.py", "solvers/fast_half.py", "solvers/two_level.py",
               "solvers/certify_fast.py")

PARTS = {
    "bench-solvers": Part("solvers", _solvers, ("solvers/",),
                          "rcollapse bench solvers --max-n 2000 --budget 60 --readme"),
    "bench-limit": Part("limit", _limit, ("solvers/limit.py", "solvers/limit_kernel.py",
                                          "solvers/limit_qp.py", "solvers/limit_measure.py"),
                        "rcollapse bench limit --readme"),
    "atoms": Part("atoms", _atoms, ("solvers/", "theory/"), "rcollapse bench atoms --readme"),
    "bench-large": Part("large", _large, FAST_METHOD + ("solvers/newton.py", "solvers/bound.py",
                                                       "solvers/bound_sums.py", "solvers/bound_point.py"),
                        "rcollapse bench solvers --large --readme"),
    "bench-preconditioner": Part("preconditioner", _preconditioner,
                                 FAST_METHOD,
                                 "python -m rcollapse.benchmarks.preconditioner --readme"),
    "verify-summary": Part("verify", _verify, ("solvers/", "theory/", "rcollapse/verify/", "rcollapse/limits.py"),
                           "rcollapse verify --readme"),
}


def generated_parts(text: str) -> dict:
    """name -> body of every generated part of ``text``."""
    return {m["name"]: m["body"] for m in _PART.finditer(text)}


def replace_part(text: str, name: str, body: str) -> str:
    """``text`` with the body of part ``name`` replaced; ValueError when it has no such part."""
    pattern = re.compile(rf"(<!-- generated: {re.escape(name)} -->\n).*?\n?(<!-- end generated -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no part '<!-- generated: {name} -->'")
    return pattern.sub(lambda m: m[1] + body + "\n" + m[2], text, count=1)


def render(name: str, root: Path | None = None) -> str:
    """The body of part ``name``, from its results file."""
    from rcollapse.benchmarks.results import load

    part = PARTS[name]
    data = load(part.results, root)
    data["_name"] = part.results
    return part.render(data)


def staleness(name: str, root: Path) -> str | None:
    """Why part ``name``'s results are older than the code they measure (git log), with
    the command to rerun; None when they are not, or when git cannot tell."""
    from rcollapse.benchmarks.provenance import stale_against
    from rcollapse.benchmarks.results import load

    part = PARTS[name]
    data = load(part.results, root)
    commit = data.get("provenance", {}).get("git", {}).get("commit")
    why = stale_against(commit, list(part.measures), root=root)
    rerun = data.get("command") or part.rerun
    if rerun and "--readme" not in rerun:
        rerun += " --readme"
    return None if why is None else f"README part {name!r}: {why}; rerun `{rerun}`"


def regenerate(text: str, root: Path | None = None, *, names=None) -> str:
    """``text`` (the README) with every generated part (or those in ``names``) rewritten."""
    for name in generated_parts(text) if names is None else names:
        if name not in PARTS:
            raise ValueError(f"README part {name!r} is unknown; valid: {', '.join(PARTS)}")
        text = replace_part(text, name, render(name, root))
    return text


def update_readme(names=None, root: Path | None = None) -> Path:
    """Rewrite the checkout's README.md in place (atomically) from the results files."""
    from rcollapse.benchmarks.results import checkout
    from rcollapse.outputs import atomic_write_text

    root = root or checkout()
    path = root / "README.md"
    text = path.read_text()
    new = regenerate(text, root, names=names)
    if new != text:
        atomic_write_text(path, new)
    return path


def check_record_paths(results: str) -> Path:
    """Before a measurement that ``--readme`` will record: the checkout, its
    ``benchmarks/results/RESULTS.json`` and README.md must be writable. Returns the checkout."""
    from rcollapse.benchmarks.results import checkout, results_path
    from rcollapse.outputs import check_output_file

    root = checkout()
    check_output_file(results_path(results, root), flag="--readme")
    check_output_file(root / "README.md", flag="--readme")
    return root


def record(results: str, data: dict, part: str, root: Path) -> None:
    """Save ``data`` as ``benchmarks/results/RESULTS.json`` and rewrite README part ``part``."""
    from rcollapse.benchmarks.results import save

    path = save(results, data, root)
    readme = update_readme([part], root)
    print(f"recorded {path}; rewrote the part {part!r} of {readme}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rcollapse.benchmarks.readme", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a part differs")
    args = parser.parse_args(argv)
    from rcollapse.benchmarks.results import checkout

    try:
        root = checkout()
        text = (root / "README.md").read_text()
        new = regenerate(text, root)
    except (ValueError, FileNotFoundError) as err:
        print(f"readme: error: {err}", file=sys.stderr)
        return 2
    for name in generated_parts(text):
        why = staleness(name, root)
        if why:
            print(f"warning: {why}", file=sys.stderr)
    if args.check:
        differ = [n for n, body in generated_parts(new).items() if generated_parts(text).get(n) != body]
        print("README is up to date" if not differ else f"README parts differ from results: {', '.join(differ)}")
        return 1 if differ else 0
    if new != text:
        from rcollapse.outputs import atomic_write_text

        atomic_write_text(root / "README.md", new)
        print(f"rewrote {root / 'README.md'}")
    else:
        print("README is up to date")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
