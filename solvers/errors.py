"""The errors every solver raises (shared by ``solve`` and ``solve_limit``)."""


class SolverInputError(ValueError):
    """Bad input to a solver (n, method, grid, memory): a one-line message naming the
    value and the valid range."""


class ConvergenceError(RuntimeError):
    """The solver did not reach its residual target; the message gives the residual."""
