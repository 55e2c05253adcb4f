"""The training figures' data: saved runs of ``rcollapse train`` and ``rcollapse warm``.

A training figure (the paper's Figures 1, 3 and 4, and WARM's pictures) reads run
directories, never a model: ``metrics.jsonl`` (one row per evaluation, with the mean
sorted-reward profiles and the solver's optimum of (5) for each prompt type),
``rewards.jsonl`` (the sorted rewards of individual prompts at each evaluation) and
``config.json`` of ``rcollapse train``; ``report.json`` of ``rcollapse warm``. A user
points a figure at runs they made (``rcollapse figures --only fig4 --from DIR``); without
``--from``, :func:`ensure_runs` makes the runs the figures need, once, under
``OUT/runs/`` (an unfinished one is resumed, a finished one is reused, none is
overwritten).

Nothing here plots: the figure modules turn these records into pictures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FIGURE3_UTILITIES",
    "Run",
    "WarmReport",
    "PAPER_SCALE_FIGURES",
    "ensure_paper_scale_runs",
    "ensure_runs",
    "ensure_warm",
    "find_runs",
    "read_run",
    "read_warm",
    "run_config",
]

#: The utilities of the paper's Figure 3, in its order: x, log x, -1/x, log sigmoid
#: (scaled, as in section A.1), and prompt-aware (x for closed-ended prompts, -1/x for
#: open-ended ones).
FIGURE3_UTILITIES = ("linear", "log", "neg-power:1", "log-sigmoid:0.25", "prompt-aware")
#: The fixed utility whose collapse Figures 1 and 4(a) follow.
COLLAPSING_UTILITY = "log-sigmoid:0.25"


@dataclass(frozen=True)
class Run:
    """A finished ``rcollapse train`` run, as read from its directory."""

    path: Path
    config: dict
    metrics: list[dict]  # metrics.jsonl, one row per evaluation, in step order
    rewards: list[dict]  # rewards.jsonl: {"step", "split", "prompt_type", "sorted_rewards"}

    @property
    def utility(self) -> str:
        return str(self.config.get("utility"))

    @property
    def label(self) -> str:
        loss = self.config.get("loss", "utility")
        return self.utility if loss == "utility" else f"{loss} loss"

    def last_rewards(self, split: str) -> dict | None:
        """The sorted rewards of ``split``'s recorded prompts at the last evaluation."""
        rows = [r for r in self.rewards if r.get("split") == split]
        return max(rows, key=lambda r: r["step"]) if rows else None


@dataclass(frozen=True)
class WarmReport:
    """A finished ``rcollapse warm`` run: its ``report.json``."""

    path: Path
    report: dict


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for k, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{k}: not valid JSON: {err.msg}: line {k} "
                             f"column {err.colno}") from None
    return rows


def read_run(path) -> Run:
    """Read a training run directory; ValueError (one line) when it is not a finished run."""
    p = Path(path)
    for name in ("config.json", "metrics.jsonl", "rewards.jsonl"):
        if not (p / name).is_file():
            raise ValueError(f"--from {p}: not a training run of rcollapse train (no {name})")
    metrics = sorted(_read_jsonl(p / "metrics.jsonl"), key=lambda r: r["step"])
    if not metrics:
        raise ValueError(f"--from {p}: metrics.jsonl has no evaluation yet")
    config = json.loads((p / "config.json").read_text())
    return Run(p, config, metrics, _read_jsonl(p / "rewards.jsonl"))


def find_runs(path) -> list[Run]:
    """The training runs at ``path``: the run itself, or the runs in its sub-folders."""
    p = Path(path)
    if not p.is_dir():
        raise ValueError(f"--from {p}: no such folder")
    if (p / "config.json").is_file():
        return [read_run(p)]
    runs = [read_run(d) for d in sorted(p.iterdir())
            if d.is_dir() and (d / "metrics.jsonl").is_file()]
    if not runs:
        raise ValueError(f"--from {p}: holds no training run of rcollapse train")
    return runs


def read_warm(path) -> WarmReport:
    """Read an ``rcollapse warm`` directory's report.json."""
    p = Path(path)
    report = p / "report.json"
    if not report.is_file():
        raise ValueError(f"--from {p}: not a run of rcollapse warm (no report.json)")
    return WarmReport(p, json.loads(report.read_text()))


def run_config(utility: str, *, quick: bool) -> dict:
    """The training settings the figures use: ``tiny`` when quick, ``minilm`` otherwise.

    Both collapse on the built-in data (see the README's training section); the quick
    ones take seconds each on 2 CPU cores.
    """
    if quick:
        return dict(utility=utility, backbone="tiny", prompts=32, test_prompts=16,
                    epochs=25.0, eval_every=20, eval_prompts=32, seed=0)
    # H7's measured setting: one epoch of 512 prompts at lr 3e-4 collapses minilm
    # (W1 0.042 train, 0.033 held-out; 16 min on 2 CPU cores).
    return dict(utility=utility, backbone="minilm", prompts=512, test_prompts=16,
                epochs=1.0, lr=3e-4, eval_every=8, seed=0)


def warm_config(*, quick: bool) -> dict:
    """The ``rcollapse warm`` settings behind the WARM figures (quick: tiny, M = 3, clean
    labels only; otherwise minilm, M = 4, clean and 25% corrupted rankings); one repeat
    each (the claims' intervals need ``rcollapse warm --repeats K``)."""
    if quick:
        return dict(members=3, backbone="tiny", prompts=32, eval_prompts=16, noise=(0.0,),
                    repeats=1, train=dict(epochs=20.0, eval_every=20))
    return dict(members=4, backbone="minilm", prompts=256, repeats=1,
                train=dict(epochs=1.0, lr=3e-4, eval_every=8))


def _slug(utility: str) -> str:
    return utility.replace(":", "-")


def _bars_on() -> bool:
    """Whether the figures' runner shows progress bars (``rcollapse figures`` without
    ``--no-progress``): the training runs' own bars follow it."""
    from rcollapse.figures import progress

    return bool(progress._STATE["on"])


def ensure_runs(utilities, *, root, quick: bool) -> dict[str, Path]:
    """Make (or reuse, or resume) one training run per utility under ``root``; their
    Trainer bars show only when the figures' bars do."""
    from rcollapse.empirical.train import TrainConfig, train

    bars = _bars_on()
    root = Path(root) / ("quick" if quick else "full")
    made = {}
    for utility in utilities:
        run_dir = root / _slug(utility)
        if (run_dir / "summary.json").is_file():
            made[utility] = run_dir
        elif (run_dir / "config.json").is_file():
            made[utility] = train(None, run_dir, resume=True, progress=bars)
        else:
            made[utility] = train(TrainConfig(**run_config(utility, quick=quick)), run_dir,
                                  progress=bars)
    return made


#: The training figures ``rcollapse figures --paper-scale`` draws, and the utilities each needs.
PAPER_SCALE_FIGURES = {"fig1": (COLLAPSING_UTILITY,), "fig3": FIGURE3_UTILITIES,
                       "fig4": (COLLAPSING_UTILITY, "prompt-aware")}


def ensure_paper_scale_runs(utilities, *, root, progress: bool = True) -> Path:
    """Make (or reuse, or resume) one run per utility at the paper's scale on the
    frozen-encoder track (``rcollapse train --preset paper-frozen``: 8,192 + 16 prompts,
    1,000 steps; the minilm embeddings are computed once, the first run pays for them),
    under ``root/paper-scale``; return that folder, which ``--from`` reads."""
    from rcollapse.empirical.preset import apply_preset
    from rcollapse.empirical.train import TrainConfig, train

    folder = Path(root) / "paper-scale"
    for utility in utilities:
        run_dir = folder / _slug(utility)
        if (run_dir / "summary.json").is_file():
            continue
        if (run_dir / "config.json").is_file():
            train(None, run_dir, resume=True, progress=progress)
        else:
            values = apply_preset("paper-frozen", {"utility": utility, "seed": 0}, cuda=False)
            train(TrainConfig(**values), run_dir, progress=progress)
    return folder


def ensure_warm(*, root, quick: bool) -> Path:
    """Make (or reuse, or resume) the ``rcollapse warm`` run behind the WARM figures."""
    from rcollapse.empirical.warm import WarmConfig, run_warm

    run_dir = Path(root) / ("quick" if quick else "full") / "warm"
    if (run_dir / "report.json").is_file():
        return run_dir
    from rcollapse.figures.warm import draw_run_plots

    if run_dir.exists():
        report = run_warm(None, run_dir, resume=True, progress=_bars_on())
    else:
        report = run_warm(WarmConfig(**warm_config(quick=quick)), run_dir, progress=_bars_on())
    draw_run_plots(report, run_dir)  # the run's own lmc.png / best_of_n.png, as `rcollapse warm` draws
    return run_dir
