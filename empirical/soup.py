"""Weight averaging of reward models: WARM, greedy soups and linear mode connectivity.

WARM (Ramé et al. 2024) fine-tunes M reward models theta_1, ..., theta_M from one shared
pretrained initialization and uses their uniform weight average

    theta_WARM = (1/M) sum_i theta_i,

one model at inference, against the prediction ensemble (1/M) sum_i r(x; theta_i), M models.
Weight averaging only makes sense when the fine-tuned weights are *linearly mode
connected*: the loss along theta(l) = (1 - l) theta_1 + l theta_2, l in [0, 1], has no
barrier above the straight line between its endpoints.

This module holds the pure parts, on state dicts (name -> tensor) and on numbers:

- ``average_state_dicts``: the uniform (or weighted) average of every floating tensor;
  integer and boolean buffers (position ids, say) are copied and must agree;
- ``interpolate_state_dicts``: theta(l) for one lambda;
- ``loss_barrier``: max over l of loss(l) - ((1 - l) loss(0) + l loss(1));
- ``greedy_soup``: model-soups' greedy recipe (Wortsman et al. 2022);
- ``state_fingerprint``: a SHA-256 of a state dict, to check a shared initialization;
- ``best_of_n``: the true reward of the candidate a reward model picks among N.

Nothing here trains or loads a model; ``empirical/warm.py`` joins it to training.

>>> import torch
>>> a = {"w": torch.tensor([0.0, 2.0]), "ids": torch.tensor([0, 1])}
>>> b = {"w": torch.tensor([1.0, 4.0]), "ids": torch.tensor([0, 1])}
>>> average_state_dicts([a, b])["w"].tolist()
[0.5, 3.0]
>>> loss_barrier([0.0, 0.5, 1.0], [1.0, 2.0, 1.0])
1.0
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ArchitectureMismatchError",
    "GreedySoup",
    "average_state_dicts",
    "best_of_n",
    "check_same_architecture",
    "greedy_soup",
    "interpolate_state_dicts",
    "loss_barrier",
    "state_fingerprint",
]


class ArchitectureMismatchError(ValueError):
    """Members that cannot be averaged (different tensors, shapes or integer buffers)."""


def _is_floating(tensor) -> bool:
    return tensor.is_floating_point() or tensor.is_complex()


def check_same_architecture(state_dicts: Sequence[Mapping], *, names: Sequence[str] | None = None) -> None:
    """Raise ``ArchitectureMismatchError`` (one line) unless every state dict has the same
    tensor names, shapes and dtypes as the first one, and equal integer/boolean buffers."""
    if len(state_dicts) < 1:
        raise ArchitectureMismatchError("no members to compare; valid: at least one state dict")
    names = list(names) if names is not None else [f"member {i}" for i in range(len(state_dicts))]
    first = state_dicts[0]
    for name, sd in zip(names[1:], state_dicts[1:]):
        if set(sd) != set(first):
            missing = sorted(set(first) - set(sd))[:3]
            extra = sorted(set(sd) - set(first))[:3]
            raise ArchitectureMismatchError(
                f"{name} does not share the architecture of {names[0]}: "
                f"missing tensors {missing}, extra tensors {extra}")
        for key, ref in first.items():
            t = sd[key]
            if tuple(t.shape) != tuple(ref.shape) or t.dtype != ref.dtype:
                raise ArchitectureMismatchError(
                    f"{name} does not share the architecture of {names[0]}: tensor {key} is "
                    f"{t.dtype} {tuple(t.shape)}, not {ref.dtype} {tuple(ref.shape)}")
            if not _is_floating(ref) and not bool((t == ref).all()):
                raise ArchitectureMismatchError(
                    f"{name} and {names[0]} disagree on the integer buffer {key}; "
                    "valid: integer and boolean buffers equal in every member")


def average_state_dicts(state_dicts: Sequence[Mapping], *, weights: Sequence[float] | None = None,
                        names: Sequence[str] | None = None) -> dict:
    """theta = sum_i w_i theta_i (uniform w_i = 1/M by default) over every floating tensor.

    Integer and boolean buffers are copied from the first member; they must be equal in
    all members (``ArchitectureMismatchError`` otherwise), as must names, shapes and dtypes.
    The sum is taken in float64 and cast back to each tensor's dtype.

    >>> import torch
    >>> average_state_dicts([{"w": torch.ones(2)}, {"w": torch.zeros(2)}], weights=[0.25, 0.75])["w"].tolist()
    [0.25, 0.25]
    """
    import torch

    m = len(state_dicts)
    if m < 1:
        raise ValueError("average_state_dicts: no members; valid: at least one state dict")
    if weights is None:
        weights = [1.0 / m] * m
    weights = [float(w) for w in weights]
    if len(weights) != m or not all(math.isfinite(w) for w in weights):
        raise ValueError(f"weights {weights}: need {m} finite numbers, one per member")
    check_same_architecture(state_dicts, names=names)
    out = {}
    for key, ref in state_dicts[0].items():
        if _is_floating(ref):
            acc = torch.zeros(ref.shape, dtype=torch.complex128 if ref.is_complex() else torch.float64)
            for w, sd in zip(weights, state_dicts):
                acc += w * sd[key].detach().to("cpu", acc.dtype)
            out[key] = acc.to(ref.dtype)
        else:
            out[key] = ref.detach().to("cpu").clone()
    return out


def interpolate_state_dicts(theta_0: Mapping, theta_1: Mapping, lam: float) -> dict:
    """theta(l) = (1 - l) theta_0 + l theta_1 (integer buffers must agree and are copied)."""
    lam = float(lam)
    if not math.isfinite(lam):
        raise ValueError(f"lambda = {lam}: not a finite number")
    return average_state_dicts([theta_0, theta_1], weights=[1.0 - lam, lam],
                               names=["theta_0", "theta_1"])


def loss_barrier(lambdas: Sequence[float], losses: Sequence[float]) -> float:
    """The loss barrier of a linear path: max over l of loss(l) - ((1-l) loss(0) + l loss(1)).

    ``lambdas`` must start at 0 and end at 1. The barrier is >= 0 (the endpoints give 0);
    0 means linearly mode connected (the loss is convex-like along the segment).

    >>> loss_barrier([0.0, 0.5, 1.0], [1.0, 0.5, 1.0])
    0.0
    """
    lam = np.asarray(lambdas, dtype=float)
    loss = np.asarray(losses, dtype=float)
    if lam.shape != loss.shape or lam.size < 2:
        raise ValueError("loss_barrier: need as many losses as lambdas, at least two")
    if lam[0] != 0.0 or lam[-1] != 1.0 or np.any(np.diff(lam) <= 0):
        raise ValueError("loss_barrier: lambdas must increase from 0 to 1")
    if not np.all(np.isfinite(loss)):
        raise ValueError(f"loss_barrier: non-finite loss on the path: {loss.tolist()}")
    line = (1.0 - lam) * loss[0] + lam * loss[-1]
    return float(np.max(loss - line))


@dataclass
class GreedySoup:
    """The result of ``greedy_soup``: which members it kept and the trace of its decisions."""

    order: list[int]                      # members by decreasing held-out accuracy
    kept: list[int]                       # the ingredients, in the order they were added
    utility: float                        # held-out utility of the final soup
    trace: list[dict] = field(default_factory=list)   # one entry per candidate


def greedy_soup(state_dicts: Sequence[Mapping], *, accuracy: Sequence[float],
                utility: Callable[[dict], float]) -> tuple[dict, GreedySoup]:
    """Model-soups' greedy soup (Wortsman et al. 2022, recipe 1).

    Sort the members by held-out accuracy (best first); start from the best; add each next
    member to the uniform average if the held-out ``utility`` of the new average is not
    lower than the current soup's; otherwise leave it out. Returns the soup's state dict
    and a ``GreedySoup`` record.
    """
    m = len(state_dicts)
    if len(accuracy) != m or m < 1:
        raise ValueError(f"greedy_soup: {len(accuracy)} accuracies for {m} members")
    order = sorted(range(m), key=lambda i: -float(accuracy[i]))
    kept = [order[0]]
    soup = average_state_dicts([state_dicts[order[0]]])
    best = float(utility(soup))
    trace = [{"member": order[0], "accuracy": float(accuracy[order[0]]), "utility": best, "kept": True}]
    for i in order[1:]:
        candidate = average_state_dicts([state_dicts[j] for j in kept + [i]])
        value = float(utility(candidate))
        keep = value >= best
        trace.append({"member": i, "accuracy": float(accuracy[i]), "utility": value, "kept": keep})
        if keep:
            kept.append(i)
            soup, best = candidate, value
    return soup, GreedySoup(order=order, kept=kept, utility=best, trace=trace)


def state_fingerprint(state_dict: Mapping) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of every tensor (sorted by name)."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().to("cpu").contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes()
                 if t.numel() else b"")
    return h.hexdigest()


def best_of_n(scores: np.ndarray, true_rewards: np.ndarray, ns: Sequence[int], *,
              draws: int = 200, seed: int = 0) -> dict:
    """Best-of-N: from N candidates drawn at random, the model keeps its highest-scored one.

    ``scores`` and ``true_rewards`` have shape (prompts, pool): one model's scores of each
    prompt's pool of candidates and their true rewards. For each N, ``draws`` subsets of N
    candidates are drawn without replacement per prompt (the same subsets for every model
    given the same ``seed``); ties in the score are broken uniformly at random. Returns
    ``{"picked": [...], "oracle": [...], "random": [...]}``: the mean true reward of the
    model's pick, of the best candidate, and of a random candidate, per N.

    >>> s = np.array([[0.1, 0.9, 0.5]]); t = np.array([[1.0, 3.0, 2.0]])
    >>> best_of_n(s, t, [1, 3], draws=4)["picked"][1]
    3.0
    """
    scores = np.asarray(scores, dtype=float)
    true_rewards = np.asarray(true_rewards, dtype=float)
    if scores.shape != true_rewards.shape or scores.ndim != 2:
        raise ValueError(f"best_of_n: scores {scores.shape} and true rewards {true_rewards.shape} "
                         "must both be (prompts, pool)")
    n_prompts, pool = scores.shape
    rng = np.random.default_rng(seed)
    tie_break = np.random.default_rng(seed + 1)
    picked, oracle, rand = [], [], []
    for n in ns:
        n = int(n)
        if not 1 <= n <= pool:
            raise ValueError(f"best_of_n: N = {n} is out of range; valid: 1 <= N <= pool = {pool}")
        # subsets: (draws, prompts, n) indices without replacement, from a random permutation
        perm = np.argsort(rng.random((draws, n_prompts, pool)), axis=2)[:, :, :n]
        s = np.take_along_axis(np.broadcast_to(scores, (draws, n_prompts, pool)), perm, axis=2)
        t = np.take_along_axis(np.broadcast_to(true_rewards, (draws, n_prompts, pool)), perm, axis=2)
        jitter = tie_break.random(s.shape)
        top = s == s.max(axis=2, keepdims=True)
        choice = np.argmax(np.where(top, jitter, -1.0), axis=2)
        picked.append(float(np.take_along_axis(t, choice[..., None], axis=2).mean()))
        oracle.append(float(t.max(axis=2).mean()))
        rand.append(float(t.mean()))
    return {"picked": picked, "oracle": oracle, "random": rand}
