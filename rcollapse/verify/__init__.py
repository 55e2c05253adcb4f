"""The package's main job: check every claim of the paper, with the package's own code.

Each check compares a prediction (a closed form of ``theory``, or a symbolic identity of
``theory.derivations``) with a measurement (the solvers of ``solvers``, or mpmath). It is
one function, registered with its name, its place in the paper and its claim
(:mod:`.registry`), in the module of its theorem:

- :mod:`.lemma_4_1`: r_1 = 1, r_n = 0 and the symmetry of the optimum;
- :mod:`.theorems_2_3`: the closed-form limits (and U = x), and the wrong readings;
- :mod:`.lemma_4_5`: the Beta parameter and the limit energy, derived and measured;
- :mod:`.theorem_4`: the atoms of log-sigmoid: the bound and the exact mass;
- :mod:`.theorem_5`: the n = inf QP against the closed forms;
- :mod:`.stieltjes`: U = log at finite n, the Gauss-Lobatto nodes.

A run returns one :class:`Check` row per check: claim, where in the paper, predicted,
measured, tolerance, status. This package only computes and renders the rows;
``rcollapse.commands.verify`` prints them and writes verify.json.

Status: ``PASS`` or ``FAIL`` by the stated tolerance; ``ERROR`` when a check could not run
(a dependency missing, a solver that raised): an error is never reported as a pass.
Tolerances are fixed before the run, and printed with every row.

Nothing a solver says about itself is trusted: the KKT certificate of every optimum a
check reads is recomputed on the returned vector (``solvers.kkt.recomputed_certificate``,
primal feasibility included) and must meet :data:`.measurements.CERTIFICATE_TOL`; KS and
W1 must obey W1 <= KS; the log-sigmoid atom mass is pinned by two independent methods to
1e-5. ``tests/face/test_verify.py`` breaks one input at a time (the log-sigmoid kernel, the KS
distance, Newton's rewards, U) and sees the row that reads it FAIL.
"""

from __future__ import annotations

from rcollapse.verify import lemma_4_1, lemma_4_5, stieltjes, theorem_4, theorem_5, theorems_2_3  # noqa: F401
# ``_solvers`` is the one door to the solvers room (a test puts a broken one in its place);
# ``_solve``, ``_certificate`` and ``_solve_limit`` are the run's caches (tests clear them).
from rcollapse.verify.measurements import cached_certificate as _certificate  # noqa: F401
from rcollapse.verify.measurements import cached_limit as _solve_limit  # noqa: F401
from rcollapse.verify.measurements import cached_solve as _solve  # noqa: F401
from rcollapse.verify.measurements import solvers_room as _solvers  # noqa: F401
from rcollapse.verify.registry import (DEFAULT, ERROR, FAIL, FULL, PASS, Check, Outcome, VerifyConfig, check_names,
                                       registered, render_rows, render_summary, report, run_checks, summary)

__all__ = ["CHECKS", "Check", "DEFAULT", "ERROR", "FAIL", "FULL", "Outcome", "PASS", "VerifyConfig", "check_names",
           "registered", "render_rows", "render_summary", "report", "run_checks", "summary"]

#: Every check's name, in report order.
CHECKS = [entry.name for entry in registered()]


def __getattr__(name: str):
    """``recomputed_certificate`` and ``certificate_problem``, which live in ``solvers.kkt``
    (imported on first use: ``rcollapse verify --list`` loads no solver)."""
    if name in ("recomputed_certificate", "certificate_problem"):
        from rcollapse.solvers import kkt

        return getattr(kkt, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
