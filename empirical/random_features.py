"""Theorem 1 (reward collapse) in a model that can fit anything: random features.

Theorem 1 (Song, Cai, Lee, Su 2023): a model whose overall utility (1) is within eps of
its maximum has, for every prompt, sorted rewards within C(eps) of the optimum r* of
problem (5) -- the prompt plays no part. This module builds the smallest model where
that can be watched: a reward model

    r(prompt, completion) = sigmoid(theta . phi(prompt, completion)),

with phi a fixed random Fourier feature map (D features, far more than the
P * n rewards it must fit, so theta can put any logits on the training pairs), trained
by full-batch gradient ascent (numpy), polished by L-BFGS (scipy), on the overall utility

    (1)  sum over prompts p of  sum_{i<j} U_p(r_{p,i} - r_{p,j}),

where r_{p,i} is the reward of the completion ranked i-th for prompt p. The prompts
come in two kinds whose embeddings are drawn around different centres. With one U for
every prompt, all prompts should end at r*(U); with a prompt-aware utility (a U per
kind, section 3.2) each kind ends at its own optimum.

U is used only through its derived numpy forms ``U(t)`` and ``U.d1(t)`` (never retyped). During
training a pair can be mis-ordered or tied, where power, neg-power and log are undefined
or infinitely steep. Like the paper (appendix A.1) we continue U below a floor delta
linearly, U(delta) + U'(delta) (t - delta): the continuation is C^1, increasing and
concave, and, when every gap of r* is at least delta, problem (5)'s optimum r* is
also the optimum of the continued problem (it satisfies that concave problem's KKT
conditions). ``training_floor`` returns delta; the test checks min gap(r*) >= delta.

>>> result = train(RandomFeatureConfig(prompts_per_kind=2, n=4, features=64, steps=50), "log-sigmoid:1")
>>> result.rewards.shape, result.kinds.tolist()
((4, 4), [0, 0, 1, 1])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from rcollapse.theory.utilities import Utility, parse_utility

__all__ = [
    "RandomFeatureConfig",
    "TrainResult",
    "continued_utility",
    "make_features",
    "overall_utility",
    "train",
    "training_floor",
    "KINDS",
]

#: The two kinds of prompt, by index in ``TrainResult.kinds`` (section 3.2's names).
KINDS = ("closed", "open")


@dataclass(frozen=True)
class RandomFeatureConfig:
    """Everything that defines one run; the defaults are the test's setting."""

    prompts_per_kind: int = 8  # prompts of each of the two kinds
    n: int = 8  # completions per prompt, ranked best first (the paper's 5.2 uses 8)
    features: int = 1024  # D: random features, far more than 2 * prompts_per_kind * n
    embed_dim: int = 8  # dimension of the raw prompt and completion embeddings
    bandwidth: float = 0.5  # length scale of the random Fourier features
    kind_separation: float = 3.0  # distance between the two kinds' prompt centres
    steps: int = 3000  # full-batch gradient-ascent steps
    lr: float = 1.0  # initial step size (then set by backtracking)
    polish: int = 500  # L-BFGS iterations after gradient ascent, at most (0: none)
    floor: float | None = None  # delta of the linear continuation; None: training_floor(n)
    seed: int = 0  # features, embeddings and initial theta

    def __post_init__(self):
        if self.prompts_per_kind < 1 or self.n < 2 or self.features < 1 or self.steps < 0:
            raise ValueError(f"invalid RandomFeatureConfig: {asdict(self)}")


@dataclass(frozen=True)
class TrainResult:
    """The end of a run: rewards[p, i] of the completion ranked i-th for prompt p."""

    config: RandomFeatureConfig
    specs: tuple[str, str]  # the utility of each kind (the same spec twice if not prompt-aware)
    kinds: np.ndarray  # (P,) 0 or 1, the kind of each prompt
    rewards: np.ndarray  # (P, n) rewards in rank order (not sorted)
    objective: float  # the overall utility (1) at the end, continued U
    history: np.ndarray  # the overall utility every 100 steps

    def sorted_rewards(self) -> np.ndarray:
        """Each prompt's rewards sorted best first, shape (P, n)."""
        return -np.sort(-self.rewards, axis=1)


def training_floor(n: int) -> float:
    """delta for the linear continuation of U: 1 / (4 n^2), below every gap of r* for the
    families and n the tests use (they check it)."""
    return 1.0 / (4.0 * n * n)


def continued_utility(U: Utility, t, *, floor: float, derivative: bool = False):
    """U(t) (or U'(t) with ``derivative``) elementwise, continued linearly below ``floor``
    when U'(0+) is infinite (power, neg-power, log): U(floor) + U'(floor) (t - floor);
    linear and log-sigmoid are defined on all of R and used as they are.

    ``t`` is a numpy array, or a torch tensor (then the result is a torch tensor,
    differentiable by autograd, with U from ``U.torch``): the one rule for both the
    numpy trainer here and the torch trainer of ``empirical.train``.
    """
    if _is_torch(t):
        return _continued_torch(U, t, floor=floor, derivative=derivative)
    t = np.asarray(t, dtype=float)
    f = U.d1 if derivative else U
    if U.dU0 is not None:
        return f(t)
    inside = f(np.maximum(t, floor))
    if derivative:
        below = float(U.d1(floor))
    else:
        below = float(U(floor)) + float(U.d1(floor)) * (t - floor)
    return np.where(t >= floor, inside, below)


def _is_torch(t) -> bool:
    return type(t).__module__.startswith("torch")


def _continued_torch(U: Utility, t, *, floor: float, derivative: bool):
    import torch

    if derivative:
        raise ValueError("continued_utility: derivative=True is for numpy arrays; "
                         "use autograd on torch tensors")
    if U.dU0 is not None:
        return U.torch(t)
    inside = U.torch(torch.clamp(t, min=floor))  # finite everywhere, so no NaN gradient
    below = float(U(floor)) + float(U.d1(floor)) * (t - floor)
    return torch.where(t >= floor, inside, below)


def make_features(config: RandomFeatureConfig):
    """Random Fourier features phi(prompt, completion), shape (P, n, D), and the kinds.

    Prompt embeddings: N(+-kind_separation/2 e_1, I) by kind; completion embeddings:
    N(0, I). phi = sqrt(2 / D) cos(W [prompt; completion] / bandwidth + b).
    """
    rng = np.random.default_rng(config.seed)
    P, n, d, D = 2 * config.prompts_per_kind, config.n, config.embed_dim, config.features
    kinds = np.repeat(np.arange(2), config.prompts_per_kind)
    centres = np.zeros((2, d))
    centres[:, 0] = [-config.kind_separation / 2, config.kind_separation / 2]
    prompts = centres[kinds] + rng.standard_normal((P, d))
    completions = rng.standard_normal((P, n, d))
    inputs = np.concatenate([np.broadcast_to(prompts[:, None, :], (P, n, d)), completions], axis=2)
    W = rng.standard_normal((2 * d, D)) / config.bandwidth
    b = rng.uniform(0, 2 * math.pi, D)
    phi = math.sqrt(2.0 / D) * np.cos(inputs @ W + b)
    return phi, kinds


def overall_utility(rewards, utilities, kinds, *, floor: float, gradient: bool = False):
    """(1): sum over prompts of sum_{i<j} U_kind(r_i - r_j), for rewards (P, n) in rank
    order; with ``gradient`` also d(1)/d rewards, shape (P, n)."""
    rewards = np.asarray(rewards, dtype=float)
    n = rewards.shape[1]
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    gaps = rewards[:, :, None] - rewards[:, None, :]  # gaps[p, i, j] = r_i - r_j
    total = 0.0
    grad = np.zeros_like(rewards)
    for k, U in enumerate(utilities):
        rows = kinds == k
        if not rows.any():
            continue
        g = gaps[rows][:, upper]
        total += float(np.sum(continued_utility(U, g, floor=floor)))
        if gradient:
            w = np.zeros((int(rows.sum()), n, n))
            w[:, upper] = continued_utility(U, g, floor=floor, derivative=True)
            grad[rows] = w.sum(axis=2) - w.sum(axis=1)
    return (total, grad) if gradient else total


def train(config: RandomFeatureConfig, utility) -> TrainResult:
    """Train theta by full-batch gradient ascent on (1), the step size set by
    backtracking (Armijo: halve until the step gains at least half the linear
    prediction, then try a 1.5 times larger one next step), then polished by at most
    ``config.polish`` L-BFGS iterations (:func:`_polish`).

    ``utility`` is a spec or Utility for every prompt, or a pair (closed, open) of them:
    the prompt-aware utility of section 3.2, one U per kind.
    """
    pair = utility if isinstance(utility, (tuple, list)) else (utility, utility)
    if len(pair) != 2:
        raise ValueError(f"utility: one spec or a pair (closed, open), got {utility!r}")
    utilities = tuple(parse_utility(u) for u in pair)
    floor = training_floor(config.n) if config.floor is None else config.floor
    phi, kinds = make_features(config)
    P, n, D = phi.shape
    Phi = phi.reshape(P * n, D)
    rng = np.random.default_rng(config.seed + 1)
    theta = 0.01 * rng.standard_normal(D)

    def value_and_grad(th):
        rewards = _sigmoid(Phi @ th).reshape(P, n)
        value, d_rewards = overall_utility(rewards, utilities, kinds, floor=floor, gradient=True)
        d_logits = (d_rewards * rewards * (1.0 - rewards)).reshape(-1)
        return value, Phi.T @ d_logits

    value, grad = value_and_grad(theta)
    step = config.lr
    history = []
    for it in range(config.steps):
        if it % 100 == 0:
            history.append(value)
        sq = float(grad @ grad)
        if sq == 0.0:
            break
        while True:
            candidate = theta + step * grad
            new_value, new_grad = value_and_grad(candidate)
            if new_value >= value + 0.5 * step * sq:
                break
            step *= 0.5
            if step < 1e-16:
                break
        if step < 1e-16:
            break
        theta, value, grad = candidate, new_value, new_grad
        step *= 1.5
    if config.polish:
        theta, value = _polish(value_and_grad, theta, value, max_iter=config.polish)
    rewards = _sigmoid(Phi @ theta).reshape(P, n)
    history.append(value)
    return TrainResult(
        config=config,
        specs=(utilities[0].spec, utilities[1].spec),
        kinds=kinds,
        rewards=rewards,
        objective=float(value),
        history=np.asarray(history),
    )


def _polish(value_and_grad, theta, value, *, max_iter: int):
    """L-BFGS from the end of gradient ascent (never worse than it): where the sigmoid
    saturates, a reward at 5e-4 that should be 0.036 moves by r (1 - r) per unit of
    logit, too slowly for plain gradient steps; a quasi-Newton step rescales that
    direction. (From a random start L-BFGS itself can jump into saturation, so it only
    polishes.)"""
    from scipy.optimize import minimize

    result = minimize(lambda th: tuple(-x for x in value_and_grad(th)), theta, jac=True,
                      method="L-BFGS-B", options={"maxiter": max_iter, "gtol": 1e-12, "ftol": 0.0})
    polished = -float(result.fun)
    return (result.x, polished) if polished >= value else (theta, value)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))
