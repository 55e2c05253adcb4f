"""Benchmarks: ``benchmarks.solvers`` (``rcollapse bench solvers``)."""
