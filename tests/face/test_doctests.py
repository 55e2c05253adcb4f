"""Every module's doctests, imported by its one installed name (``rcollapse.theory.x``).

pytest's ``--doctest-modules`` would import ``theory/utilities.py`` as a top-level
``theory.utilities``: a second copy of every class beside ``rcollapse.theory.utilities``.
Here each module is imported through the package namespace, and its examples are checked
with pytest's own output checker (``NUMBER``, ``ELLIPSIS``, ``NORMALIZE_WHITESPACE``).
"""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil

import pytest
from _pytest.doctest import _get_checker, get_optionflags

import rcollapse

# Modules that run a program when imported, or need an optional extra to import.
SKIP = {"rcollapse.__main__"}


def _modules() -> list[str]:
    """The face's own modules and every room's, walked package by package.

    ``rcollapse.__path__`` also holds the checkout's root (see ``rcollapse/__init__.py``),
    so it is not walked as a whole: that would find ``rcollapse`` inside itself.
    """
    names = {"rcollapse"}
    face = os.path.dirname(rcollapse.__file__)
    packages = [("rcollapse", [face])]
    for room in rcollapse._ROOMS:
        packages.append((f"rcollapse.{room}", importlib.import_module(f"rcollapse.{room}").__path__))
    for prefix, path in packages:
        names.add(prefix)
        for info in pkgutil.walk_packages(path, prefix=f"{prefix}."):
            if info.name.split(".")[1] in rcollapse._ROOMS and prefix == "rcollapse":
                continue
            names.add(info.name)
    return sorted(names - SKIP)


def _has_examples(name: str) -> bool:
    module = importlib.import_module(name)
    return any(t.examples for t in doctest.DocTestFinder(exclude_empty=True).find(module, name))


ALL_MODULES = _modules()
MODULES = [name for name in ALL_MODULES if _has_examples(name)]


def test_every_room_is_walked():
    rooms = {name.split(".")[1] for name in ALL_MODULES if name.count(".") >= 1}
    assert {"theory", "solvers", "figures", "commands", "empirical"} <= rooms
    assert len(MODULES) >= 5, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name, pytestconfig):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(module, name) if t.examples]
    runner = doctest.DocTestRunner(
        checker=_get_checker(), optionflags=get_optionflags(pytestconfig), verbose=False
    )
    failures: list[str] = []
    for test in tests:
        runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)
