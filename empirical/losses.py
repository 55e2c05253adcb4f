"""The training losses, on the logits z of whole rankings (best first), in torch.

A batch is a flat logit vector ``z`` holding the completions of B prompts one after the
other, with ``sizes`` (B,) their n's. The reward is r = sigmoid(z), in [0, 1].

- ``utility_loss``: minus the overall utility (1), the mean over the batch's prompts of
  ``sum_{i<j} U_p(r_i - r_j)``, U_p continued linearly below its floor (the one rule of
  ``empirical.random_features.continued_utility``) so that mis-ordered pairs have a value;
  the caller computes each floor once (``floor_for``) and passes it in.
- ``bt_loss``: TRL's pairwise loss ``-log sigmoid(z_i - z_j)`` on the logits, here over
  all i < j pairs of a ranking (mean over pairs), plus TRL's centering term
  ``coefficient * mean((z_i + z_j)^2)``.
- ``plackett_luce_loss``: the listwise likelihood of the ranking,
  ``-sum_i [z_i - log sum_{k >= i} exp z_k]`` per prompt, mean over prompts.

Which U a prompt gets (``prompt_utility``): a fixed spec, or ``prompt-aware`` (section
3.2: U = x for closed-ended prompts, U = -1/x for open-ended ones) or
``prompt-aware-dial`` (Remark 3.1: an open-endedness score s in [-1, 1] sets a target
Beta(a, a), a = (1 + s) / 2, and the power-family utility whose limit it is:
x^(1 - 2a) for a < 1/2, log x at a = 1/2, -x^(-(2a - 1)) for a > 1/2; s = -1 gives
U = x and s = 1 gives U = -1/x, the paper's rule at its two ends).

>>> import torch
>>> z = torch.tensor([2.0, 0.0, -2.0])
>>> round(float(plackett_luce_loss(z, torch.tensor([3]))), 4)
0.2699
"""

from __future__ import annotations

import functools

import numpy as np

from rcollapse.empirical.random_features import continued_utility, training_floor
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = [
    "PROMPT_AWARE",
    "MIN_FLOOR",
    "bt_loss",
    "dial_utility",
    "floor_for",
    "plackett_luce_loss",
    "prompt_utility",
    "reference_optimum",
    "utility_loss",
    "validate_utility",
]

#: The prompt-aware rules, by name: (spec for closed-ended, spec for open-ended).
PROMPT_AWARE = {"prompt-aware": ("linear", "neg-power:1"), "prompt-aware-dial": None}
#: The dial rounds a = (1 + s) / 2 to this step, so optima are solved once per value.
DIAL_STEP = 0.05
#: A floor below this would make U'(floor) too steep to train; refused.
MIN_FLOOR = 1e-12


def validate_utility(utility: str) -> str:
    """The canonical spec of a fixed utility, or the prompt-aware rule's name; raises
    ``UtilityError`` (a ValueError) for an unknown one."""
    if utility in PROMPT_AWARE:
        return utility
    return parse_utility(utility).spec


def dial_utility(score: float) -> str:
    """Remark 3.1's dial: the power-family spec whose n = inf limit is Beta(a, a),
    a = (1 + score) / 2 rounded to 0.05 (score -1: ``linear``, 1: ``neg-power:1``).

    >>> [dial_utility(s) for s in (-1, -0.5, 0, 1)]
    ['linear', 'power:0.5', 'log', 'neg-power:1']
    """
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not -1 <= score <= 1:
        raise ValueError(f"open-endedness {score!r}: valid: a number in [-1, 1]")
    a = round(round((1 + score) / 2 / DIAL_STEP) * DIAL_STEP, 10)
    if a == 0:
        return "linear"
    if a < 0.5:
        return parse_utility(f"power:{round(1 - 2 * a, 10)}").spec
    if a == 0.5:
        return "log"
    return parse_utility(f"neg-power:{round(2 * a - 1, 10)}").spec


def prompt_utility(example, utility: str) -> str:
    """The spec of U for one prompt: ``utility`` itself, or its prompt-aware choice."""
    if utility == "prompt-aware":
        if example.prompt_type is None:
            raise ValueError("prompt-aware needs each prompt's 'type' ('open' or 'closed'); "
                             f"missing for prompt {example.prompt[:60]!r}")
        closed, open_ = PROMPT_AWARE["prompt-aware"]
        return open_ if example.prompt_type == "open" else closed
    if utility == "prompt-aware-dial":
        score = example.open_endedness
        if score is None and example.prompt_type is not None:
            score = 1.0 if example.prompt_type == "open" else -1.0
        if score is None:
            raise ValueError("prompt-aware-dial needs each prompt's 'open_endedness' in "
                             f"[-1, 1] or 'type'; missing for prompt {example.prompt[:60]!r}")
        return dial_utility(float(score))
    return parse_utility(utility).spec


@functools.lru_cache(maxsize=None)
def _utility(spec: str) -> Utility:
    return parse_utility(spec)


@functools.lru_cache(maxsize=None)
def reference_optimum(spec: str, n: int):
    """The optimum of problem (5) for U at n, from ``rcollapse.solvers.solve`` (cached):
    Newton's method, then CVXPY and L-BFGS-B if it does not reach its certificate."""
    from rcollapse.solvers import ConvergenceError, solve

    errors = []
    for method in ("newton", "cvxpy", "lbfgs"):
        try:
            return solve(_utility(spec), int(n), method=method)
        except ConvergenceError as err:
            errors.append(str(err).splitlines()[0])
    raise ConvergenceError(f"no solver reached the optimum of (5) for {spec} at n = {n}: "
                           + "; ".join(errors))


@functools.lru_cache(maxsize=None)
def floor_for(spec: str, n: int) -> float:
    """The floor below which U is continued linearly when training prompts with n
    completions: ``training_floor(n)`` = 1 / (4 n^2), lowered to half the smallest gap of
    the optimum r* of (5) when that gap is smaller. Then every gap of r* lies above the
    floor, so r* satisfies the KKT conditions of the continued (concave) problem: r* is
    the optimum of exactly the function trained. 0.0 for U defined on all of R (linear,
    log-sigmoid), which is used as it is.

    >>> floor_for("log", 8), floor_for("linear", 8)
    (0.00390625, 0.0)
    """
    U = _utility(spec)
    if U.dU0 is not None:
        return 0.0
    r = reference_optimum(spec, n).rewards
    gap = float(np.min(r[:-1] - r[1:]))
    floor = min(training_floor(n), gap / 2)
    if not floor >= MIN_FLOOR:
        raise ValueError(f"utility {spec} at n = {n}: the optimum of (5) has a gap of {gap:.3g}, "
                         f"below {2 * MIN_FLOOR:g}; the continued utility cannot be trained to it "
                         "(use linear, or a power exponent further from 1)")
    return floor


def _segments(z, sizes):
    return z.split([int(s) for s in sizes])


def utility_loss(z, sizes, specs, *, floors):
    """Minus (1) averaged over prompts: -mean_p sum_{i<j} U_p(r_i - r_j), r = sigmoid(z).

    ``specs[p]`` is prompt p's utility spec and ``floors[p]`` its floor,
    ``floor_for(specs[p], sizes[p])``, computed once by the caller (the loss solves
    nothing): U_p is continued linearly below it.

    >>> import torch
    >>> z, sizes = torch.tensor([1.0, 0.0, 2.0, -2.0]), [2, 2]
    >>> floors = [floor_for("linear", 2), floor_for("log", 2)]
    >>> floors
    [0.0, 0.0625]
    >>> round(float(utility_loss(z, sizes, ["linear", "log"], floors=floors)), 4)
    0.0206
    """
    import torch

    if not len(specs) == len(floors) == len(sizes):
        raise ValueError(f"utility_loss: {len(sizes)} rankings, {len(specs)} specs and "
                         f"{len(floors)} floors; valid: one spec and one floor per ranking")
    terms = []
    for zp, spec, floor in zip(_segments(z, sizes), specs, floors):
        n = zp.shape[0]
        r = torch.sigmoid(zp)
        i, j = torch.triu_indices(n, n, offset=1, device=z.device)
        terms.append(continued_utility(parse_utility(spec), r[i] - r[j], floor=floor).sum())
    return -torch.stack(terms).mean()


def bt_loss(z, sizes, *, center_coefficient: float = 0.0):
    """TRL's Bradley-Terry loss over all pairs i < j of each ranking, on logits:
    mean over pairs of -log sigmoid(z_i - z_j), plus
    ``center_coefficient * mean((z_i + z_j)^2)`` (TRL's center_rewards_coefficient)."""
    import torch

    losses, centers = [], []
    for zp in _segments(z, sizes):
        n = zp.shape[0]
        i, j = torch.triu_indices(n, n, offset=1, device=z.device)
        losses.append(-torch.nn.functional.logsigmoid(zp[i] - zp[j]))
        centers.append((zp[i] + zp[j]) ** 2)
    loss = torch.cat(losses).mean()
    if center_coefficient:
        loss = loss + center_coefficient * torch.cat(centers).mean()
    return loss


def plackett_luce_loss(z, sizes):
    """The Plackett-Luce negative log-likelihood of each ranking (best first),
    -sum_i [z_i - logsumexp(z_i, ..., z_n)], mean over prompts."""
    import torch

    terms = []
    for zp in _segments(z, sizes):
        # logcumsumexp from the end: log sum_{k >= i} exp z_k
        tail = torch.logcumsumexp(zp.flip(0), dim=0).flip(0)
        terms.append((tail - zp)[:-1].sum())
    return torch.stack(terms).mean()

