"""reward-collapse: the face of the package (CLI and the `verify` report).

The rooms depend on each other one way only: ``theory`` <- ``solvers`` <- ``empirical``
<- ``figures``; this package is the thin layer that knows every room. All of them live
under this one import namespace (``rcollapse.theory``, ``rcollapse.solvers``, ...):
installed, setuptools' ``package_dir`` puts them inside it; in a source checkout, where
the design card keeps them at the top of the repository, the lines below add the
repository root to this package's search path, so that both layouts import the same way.
"""

import os as _os

__version__ = "0.1.0"

_ROOMS = ("theory", "solvers", "empirical", "figures", "benchmarks")
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_checkout, "setup.cfg")) and all(
    _os.path.isfile(_os.path.join(_checkout, room, "__init__.py")) for room in _ROOMS
):
    __path__.append(_checkout)  # noqa: F821 (the package's own search path)
