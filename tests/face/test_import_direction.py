"""The rooms depend on each other one way only, read from the source (no import runs).

STYLE.md, "The shape of this package": ``theory`` <- ``solvers`` <- ``empirical`` <-
``figures``; ``benchmarks`` measures the rooms; the face (``rcollapse.cli``,
``rcollapse.commands``, ``rcollapse.verify``) sits on top and nothing below imports it.
``rcollapse.outputs`` is the base module (imports nothing of the package) and
``rcollapse.limits`` is the join of theory and solvers for the limits.

Every ``.py`` file of the package is parsed with :mod:`ast`; every ``import`` and
``from ... import`` counts, at module level or inside a function (a lazy import is
still an arrow), and so does ``importlib.import_module("...")`` with a literal name.
A violation that exists today in a file another change will fix is listed, by name,
in :data:`KNOWN_PENDING`; anything else fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("theory", "solvers", "empirical", "figures", "benchmarks")
FACE = ("rcollapse.cli", "rcollapse.commands", "rcollapse.verify", "rcollapse.__main__")

#: What each room must not import (module-name prefixes).
FORBIDDEN = {
    "theory": ("rcollapse.solvers", "rcollapse.empirical", "rcollapse.figures", "rcollapse.benchmarks",
               "rcollapse.limits", *FACE),
    "solvers": ("rcollapse.empirical", "rcollapse.figures", "rcollapse.benchmarks", "rcollapse.limits",
                *FACE),
    "empirical": ("rcollapse.figures", "rcollapse.benchmarks", *FACE),
    "figures": FACE,
    "benchmarks": FACE,
    "base": ("rcollapse.",),  # rcollapse.outputs: nothing of the package
    "join": ("rcollapse.empirical", "rcollapse.figures", "rcollapse.benchmarks", *FACE),
}

#: (importing module, imported module): violations present today, each removed by a
#: named item of issue 20. Remove the entry with the import; a stale entry fails too.
KNOWN_PENDING: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts if parts[0] == "rcollapse" else ["rcollapse", *parts])


def _source_files() -> list[Path]:
    files = []
    for top in ("rcollapse", *ROOMS):
        files += [p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files)


def _absolute(name: str) -> str:
    """A room imported by its bare folder name counts as the room."""
    head = name.split(".")[0]
    return f"rcollapse.{name}" if head in ROOMS else name


def _imports(path: Path, module: str) -> set[str]:
    """Every module name that ``path`` imports (``from a import b`` gives a and a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_absolute(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = _absolute(node.module)
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", ""))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.add(_absolute(node.args[0].value))
    return {name for name in found if name.startswith("rcollapse")}


def _room(module: str) -> str | None:
    if module == "rcollapse.outputs":
        return "base"
    if module == "rcollapse.limits":
        return "join"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


GRAPH: dict[str, set[str]] = {}
for _path in _source_files():
    _name = _module_name(_path)
    GRAPH.setdefault(_name, set()).update(_imports(_path, _name))


def _violations() -> set[tuple[str, str]]:
    bad = set()
    for module, imported in GRAPH.items():
        forbidden = FORBIDDEN.get(_room(module), ())
        bad |= {(module, name) for name in imported
                if any(_is_under(name, prefix) for prefix in forbidden)}
    return bad


def test_the_source_is_found_and_read():
    """The scan sees every room, and it sees lazy imports (one known inside a function)."""
    rooms = {_room(m) for m in GRAPH}
    assert set(ROOMS) | {"base", "join"} <= rooms
    assert len(GRAPH) >= 60
    assert "rcollapse.limits" in GRAPH["rcollapse.figures.compute"]  # imported inside a function


def test_rooms_import_one_way_only():
    new = _violations() - KNOWN_PENDING
    assert not new, "imports against the direction (STYLE.md): " + "; ".join(
        f"{a} imports {b}" for a, b in sorted(new))


def test_known_pending_entries_still_exist():
    """An entry that no longer matches an import must go: the list never grows stale."""
    stale = KNOWN_PENDING - _violations()
    assert not stale, f"fixed, remove from KNOWN_PENDING: {sorted(stale)}"


def _reaches(sources: set[str], targets: set[str]) -> bool:
    """Whether some module in ``sources`` imports, directly or through others, one in ``targets``."""
    seen, todo = set(), list(sources)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in GRAPH.get(module, ()):
            if name in targets:
                return True
            todo.append(name)
    return False


def test_benchmarks_and_verify_are_not_a_cycle():
    """The face's verify may use the benchmarks (its --readme record), or the benchmarks
    verify's numbers, never both ways."""
    benchmarks = {m for m in GRAPH if _room(m) == "benchmarks"}
    verify = {m for m in GRAPH if _is_under(m, "rcollapse.verify") or m == "rcollapse.commands.verify"}
    assert benchmarks and verify
    assert not (_reaches(benchmarks, verify) and _reaches(verify, benchmarks))


@pytest.mark.parametrize("module, bad", [("rcollapse.theory.limits", "rcollapse.solvers.api"),
                                         ("rcollapse.solvers.newton", "rcollapse.figures.io"),
                                         ("rcollapse.empirical.train", "rcollapse.benchmarks.results"),
                                         ("rcollapse.figures.compute", "rcollapse.commands.figures"),
                                         ("rcollapse.benchmarks.readme", "rcollapse.verify.registry"),
                                         ("rcollapse.outputs", "rcollapse.theory")])
def test_a_new_violation_would_be_caught(monkeypatch, module, bad):
    """One import added against the direction (in the parsed graph) is reported."""
    monkeypatch.setitem(GRAPH, module, GRAPH[module] | {bad})
    assert (module, bad) in _violations()


@pytest.mark.parametrize("module, fine", [("rcollapse.figures.compute", "rcollapse.limits"),
                                          ("rcollapse.empirical.losses", "rcollapse.solvers.api"),
                                          ("rcollapse.theory.limits", "rcollapse.theory.utilities"),
                                          ("rcollapse.benchmarks.solvers", "rcollapse.outputs")])
def test_imports_along_the_direction_are_allowed(monkeypatch, module, fine):
    monkeypatch.setitem(GRAPH, module, GRAPH[module] | {fine})
    assert not {v for v in _violations() if v[0] == module}
