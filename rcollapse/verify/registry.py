"""The registry of claim checks: each one a decorated function that returns its numbers.

A check is registered once, where it is defined, with its name, its place in the paper
and its claim::

    @check("thm5:{spec}", where="Thm 5", claim="{spec}: the maximizer of E U(|X-X'|) "
           "(n = inf QP) is {limit}", cases=specs("power:0.5", "log"))
    def theorem5_maximizer(cfg: VerifyConfig, spec: str) -> Outcome: ...

``cases`` registers one check per case: ``fn(cfg, **case)``. ``name`` and ``where`` are
filled from the case; ``claim`` from the case, the run's config (``{cfg.lemma_n}``) and
the ``claim_fields`` the check returns (a limit's law, a derived parameter). The claim is
written only here: an :class:`Outcome` has no claim of its own, so the row of a check
that ran and the ERROR row of one that raised state the same claim (an ERROR row leaves a
field the check never returned as ``{name}``).

This module also renders the rows (:func:`render_rows`, the text of ``rcollapse verify``)
and runs them (:func:`run_checks`): a check that raises becomes an ``ERROR`` row, never a
pass.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable

__all__ = ["Check", "DEFAULT", "ERROR", "FAIL", "FULL", "Outcome", "PASS", "REPORT_ORDER", "Registered",
           "VerifyConfig", "check", "check_names", "registered", "render_rows", "render_summary", "report",
           "run_checks", "specs", "summary"]

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"


@dataclass(frozen=True)
class VerifyConfig:
    """What a run checks, and at which sizes."""

    ns: tuple = (50, 200, 1000)  # completions per prompt for the finite-n checks
    grid: int = 800  # cells of the n = inf solver (Theorem 5)
    card_n: tuple = (200, 1000)  # sizes for the design card comparison
    lemma_n: int = 40  # size for Lemma 4.1 with CVXPY, which imposes no symmetry
    atom_n: int = 2000  # Newton's size for the log-sigmoid atom mass, against n = inf
    #: sizes added to the convergence checks only (KS/W1 falling to the limit: Theorems 2
    #: to 4, the card and Beta comparisons), beyond ``ns``: solved by ``method="fast"`` above
    #: ``solvers.newton_cg.FAST_FROM`` and certified there by ``certify_fast`` (the dense
    #: certificate is n^2 pairs). Not for U = x (an LP solved and certified densely).
    large_ns: tuple = ()


DEFAULT = VerifyConfig()
#: --full: larger n, and the convergence checks on to n = 10^5 by the fast method. lemma_n
#: stays 40: Clarabel stops short ("insufficient progress") on some of these utilities from
#: n = 50 on.
FULL = VerifyConfig(ns=(50, 200, 1000, 3000), grid=1600, card_n=(200, 1000, 3000), lemma_n=40, atom_n=4000,
                    large_ns=(30_000, 100_000))


@dataclass
class Check:
    """One row of the report (and of verify.json)."""

    name: str  # short id, e.g. "limit:power:0.25"
    claim: str  # the claim, in words
    where: str  # where in the paper: "Thm 2", "Lemma 4.5", ...
    predicted: str
    measured: str
    tolerance: str
    status: str  # PASS, FAIL or ERROR
    details: dict = field(default_factory=dict)  # numbers behind the row, for verify.json
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: its verdict and its numbers, in words and in full."""

    passed: bool  # by the stated tolerance
    predicted: str
    measured: str
    tolerance: str
    details: dict = field(default_factory=dict)  # for verify.json
    #: values the claim names that only the check computes (``{limit}``, ``{a}``, ...)
    claim_fields: dict = field(default_factory=dict)


class _Unknown:
    """A claim field an ERROR row cannot fill: printed as ``{name}``."""

    def __init__(self, key: str):
        self.key = key

    def __format__(self, spec: str) -> str:
        return "{" + self.key + "}"

    def __getattr__(self, attr: str) -> "_Unknown":
        return _Unknown(f"{self.key}.{attr}")


class _Fields(dict):
    def __missing__(self, key):
        return _Unknown(key)


@dataclass(frozen=True)
class Registered:
    """One registered check: ``fn(cfg, **case)`` returns its :class:`Outcome`."""

    name: str
    where: str
    claim: str  # the template, as written in the decorator
    fn: Callable[..., Outcome]
    case: dict

    def claim_text(self, cfg: VerifyConfig, fields: dict | None = None) -> str:
        """The claim, filled from the case, the config and the check's ``claim_fields``."""
        return self.claim.format_map(_Fields({**self.case, "cfg": cfg, **(fields or {})}))

    def row(self, cfg: VerifyConfig, outcome: Outcome) -> Check:
        return Check(name=self.name, claim=self.claim_text(cfg, outcome.claim_fields), where=self.where,
                     predicted=outcome.predicted, measured=outcome.measured, tolerance=outcome.tolerance,
                     status=PASS if outcome.passed else FAIL, details=dict(outcome.details))

    def error_row(self, cfg: VerifyConfig, err: BaseException) -> Check:
        kind = "dependency missing" if isinstance(err, ImportError) else type(err).__name__
        message = (str(err).strip().splitlines() or [""])[0]
        return Check(name=self.name, claim=self.claim_text(cfg), where=self.where, predicted="-",
                     measured=f"{kind}: {message}"[:200], tolerance="-", status=ERROR,
                     details={"error": f"{type(err).__name__}: {message}",
                              "traceback": traceback.format_exc(limit=5)})


#: The report's order: each entry a whole name or a prefix ending in ":"; a check takes the
#: place of the first entry it matches, and checks of one entry keep their registration
#: order. It is the order of the report before the checks were split by theorem.
REPORT_ORDER = ("derivation-a:", "derivation-b:symbolic", "derivation-c:", "derivation-d:", "limit:", "card:",
                "beyond-beta:", "thm3-sign:", "derivation-b:", "thm4:", "thm5:", "lemma41:", "lobatto:")

_REGISTRY: dict[str, Registered] = {}


def _rank(name: str) -> int:
    for i, entry in enumerate(REPORT_ORDER):
        if name == entry or (entry.endswith(":") and name.startswith(entry)):
            return i
    raise ValueError(f"check {name!r} has no place in REPORT_ORDER; valid: a name or prefix of "
                     f"{', '.join(REPORT_ORDER)}")


def specs(*values: str) -> tuple:
    """The cases of a check run once per utility spec: ``({"spec": v}, ...)``."""
    return tuple({"spec": v} for v in values)


def check(name: str, *, where: str, claim: str, cases=({},)):
    """Register ``fn`` as one check per case (see the module's docstring).

    A name registered twice by different functions is an error (two rows would share it);
    re-importing the same module is harmless.
    """
    def add(fn):
        for case in cases:
            entry = Registered(name=name.format(**case), where=where.format(**case), claim=claim, fn=fn,
                               case=dict(case))
            _rank(entry.name)
            old = _REGISTRY.get(entry.name)
            if old is not None and _qualname(old.fn) != _qualname(fn):
                raise ValueError(f"check {entry.name!r} is registered twice "
                                 f"({_qualname(old.fn)} and {_qualname(fn)})")
            _REGISTRY[entry.name] = entry
        return fn

    return add


def _qualname(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def registered() -> list[Registered]:
    """Every registered check, in report order."""
    entries = list(_REGISTRY.values())
    return sorted(entries, key=lambda e: _rank(e.name))  # stable: registration order within an entry


def check_names(only) -> list[str]:
    """The checks that ``only`` selects (names or prefixes); ValueError naming every entry
    that matches no check."""
    names = [e.name for e in registered()]
    unknown = [o for o in only if not any(name.startswith(o) for name in names)]
    if unknown or not only:
        bad = " ".join(map(repr, unknown)) or "(none)"
        raise ValueError(f"--only {bad}: no such check; valid: a name or prefix of "
                         f"{', '.join(names)} (see rcollapse verify --list)")
    return [name for name in names if any(name.startswith(o) for o in only)]


def run_checks(config: VerifyConfig = DEFAULT, *, only=None, progress=None) -> list[Check]:
    """Run the checks (all, or the names in ``only``, or those starting with a prefix in it).

    ``progress(name)`` is called before each check. Returns one :class:`Check` per check,
    in report order; a check that raises becomes an ``ERROR`` row.
    """
    selected = registered() if only is None else [e for e in registered() if e.name in set(check_names(only))]
    rows = []
    for entry in selected:
        if progress is not None:
            progress(entry.name)
        t0 = time.perf_counter()
        try:
            row = entry.row(config, entry.fn(config, **entry.case))
        except Exception as err:  # noqa: BLE001 - reported as an ERROR row, never a pass
            row = entry.error_row(config, err)
        row.seconds = time.perf_counter() - t0
        rows.append(row)
    return rows


def summary(rows: list[Check]) -> dict:
    """Counts of PASS / FAIL / ERROR and whether every check passed."""
    counts = {s: sum(r.status == s for r in rows) for s in (PASS, FAIL, ERROR)}
    return {"counts": counts, "all_passed": bool(rows) and counts[PASS] == len(rows)}


def report(rows: list[Check], config: VerifyConfig, seconds: float) -> dict:
    """The verify.json object."""
    from rcollapse import __version__

    return {
        "version": __version__,
        "config": asdict(config),
        "seconds": seconds,
        **summary(rows),
        "checks": [r.to_json() for r in rows],
    }


def render_rows(rows: list[Check]) -> str:
    """One block per check: status, where, claim; then predicted, measured, tolerance."""
    lines = []
    for r in rows:
        lines.append(f"{r.status:<5}  {r.where:<17} {r.claim}   [{r.name}, {r.seconds:.1f}s]")
        lines.append(f"{'':24}predicted: {r.predicted}")
        lines.append(f"{'':24}measured:  {r.measured}")
        lines.append(f"{'':24}tolerance: {r.tolerance}")
    return "\n".join(lines)


def render_summary(rows: list[Check], config: VerifyConfig, seconds: float) -> str:
    """The line after the rows: counts, time and the sizes."""
    c = summary(rows)["counts"]
    return (f"{c['PASS']} passed, {c['FAIL']} failed, {c['ERROR']} errors, "
            f"{len(rows)} checks in {seconds:.1f}s (n = {', '.join(map(str, config.ns + config.large_ns))})")
