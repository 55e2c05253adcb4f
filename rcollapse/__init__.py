"""reward-collapse: the face of the package (CLI and the `verify` report).

The rooms depend on each other one way only: ``theory`` <- ``solvers`` <- ``empirical``
<- ``figures``; this package is the thin layer that knows every room.
"""

__version__ = "0.1.0"
