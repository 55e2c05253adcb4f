"""The errors every solver raises (shared by ``solve`` and ``solve_limit``)."""


class SolverInputError(ValueError):
    """Bad input to a solver (n, method, grid, memory): a one-line message naming the
    value and the valid range."""


class ConvergenceError(RuntimeError):
    """The solver did not reach its residual target; the message gives the residual.

    ``solution`` holds the point reached (a :class:`solvers.result.Solution`, with its
    certificate) where there is one, for benchmarks and diagnosis; it is not an answer.
    """

    def __init__(self, message: str, *, solution=None):
        super().__init__(message)
        self.solution = solution
