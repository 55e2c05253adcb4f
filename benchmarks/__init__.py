"""Benchmarks and the measured numbers of the README.

- ``benchmarks.solvers``: newton against cvxpy and lbfgs (``rcollapse bench solvers``);
- ``benchmarks.limit``: the n = inf solver against its grid (``rcollapse bench limit``);
- ``benchmarks.atoms``: the log-sigmoid atom mass by two methods (``rcollapse bench atoms``);
- ``benchmarks.large``: the fast method against dense Newton at large n;
- ``benchmarks.provenance``, ``benchmarks.results``: the commit, machine and threads of
  each recorded result in ``benchmarks/results/``;
- ``benchmarks.readme``: the README's generated parts, from those results.
"""
