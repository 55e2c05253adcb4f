"""The configuration of a WARM run: ``WarmConfig``, its checks and its resume rule.

``WarmConfig`` is everything that defines one run of ``rcollapse warm`` (saved as
warm_config.json in the run directory); ``validate`` refuses a bad value with a one-line
``WarmInputError``; ``resolve_config`` picks the config of a fresh or a resumed run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rcollapse.outputs import check_output_dir

__all__ = ["WarmConfig", "WarmInputError", "resolve_config", "validate"]


class WarmInputError(ValueError):
    """Bad input for a WARM run; the message is one line."""


@dataclass(frozen=True)
class WarmConfig:
    """Everything that defines one WARM run; saved as warm_config.json."""

    members: int = 4                      # M reward models fine-tuned from one init (M >= 2)
    backbone: str = "tiny"                # tiny | minilm | a local Hugging Face model folder
    utility: str = "log-sigmoid:0.25"     # a utility spec, or "prompt-aware"
    data: str | None = None               # a user's JSONL instead of the built-in data
    prompts: int = 256                    # training prompts of the built-in data
    eval_prompts: int = 32                # prompts per evaluation set (validation, held-out)
    noise: tuple = (0.0, 0.25)            # fractions p of training rankings corrupted
    lr_spread: bool = False               # spread members' learning rates over [lr/2, 2 lr]
    jobs: int = 1                         # members trained at once, one process each
    seed: int = 0                         # seeds init, data, noise; member i gets seed + 1 + i
    pool: int = 48                        # best-of-N candidates per held-out prompt
    best_of: tuple = (1, 2, 4, 8, 16, 32)  # the N of best-of-N
    lambdas: int = 11                     # points on the linear-mode-connectivity segment
    batch_size: int = 64                  # completions per forward pass at evaluation
    train: dict = field(default_factory=dict)  # extra TrainConfig fields (epochs, lr, ...)

    def to_json(self) -> dict:
        d = asdict(self)
        d["noise"] = [float(p) for p in self.noise]
        d["best_of"] = [int(n) for n in self.best_of]
        return d

    @classmethod
    def from_json(cls, d: dict) -> WarmConfig:
        d = {k: v for k, v in d.items() if k != "files"}  # the record of the data, not config
        d["noise"] = tuple(d["noise"])
        d["best_of"] = tuple(d["best_of"])
        return cls(**d)


    def with_absolute_paths(self) -> WarmConfig:
        """The same config with --data and a --backbone folder as absolute paths."""
        paths = {}
        if self.data is not None:
            paths["data"] = str(Path(self.data).resolve())
        if self.backbone not in ("tiny", "minilm"):
            paths["backbone"] = str(Path(self.backbone).resolve())
        return replace(self, **paths)


def validate(config: WarmConfig) -> None:
    """Raise ``WarmInputError`` (one line, naming the value and the valid range)."""
    def bad(msg):
        raise WarmInputError(msg)

    if isinstance(config.members, bool) or not isinstance(config.members, int) or config.members < 2:
        bad(f"--members {config.members}: valid: an integer >= 2 (weight averaging needs two models)")
    if not isinstance(config.jobs, int) or config.jobs < 1:
        bad(f"--jobs {config.jobs}: valid: an integer >= 1")
    if config.prompts < 1:
        bad(f"--prompts {config.prompts}: valid: an integer >= 1")
    if config.eval_prompts < 2:
        bad(f"--eval-prompts {config.eval_prompts}: valid: an integer >= 2")
    if not config.noise:
        bad("--noise: valid: one or more fractions in [0, 1)")
    for p in config.noise:
        if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
            bad(f"--noise {p}: valid: a fraction 0 <= p < 1")
    if len(set(config.noise)) != len(config.noise):
        bad(f"--noise {list(config.noise)}: repeated values")
    if config.lambdas < 3:
        bad(f"--lambdas {config.lambdas}: valid: an integer >= 3")
    if config.pool < 2:
        bad(f"--pool {config.pool}: valid: an integer >= 2")
    for n in config.best_of:
        if not 1 <= int(n) <= config.pool:
            bad(f"best-of-N with N = {n}: valid: 1 <= N <= --pool {config.pool}")
    if config.utility != "prompt-aware":
        from rcollapse.theory.utilities import parse_utility

        parse_utility(config.utility)  # UtilityError (a ValueError) for an unknown spec
    if config.data is not None and not Path(config.data).is_file():
        bad(f"--data {config.data}: no such file")
    if config.backbone not in ("tiny", "minilm") and not Path(config.backbone).is_dir():
        bad(f"--backbone {config.backbone}: valid: tiny, minilm, or a local model folder")




def resolve_config(config: WarmConfig | None, out_dir, *, resume: bool) -> WarmConfig:
    """The run's config: ``config``, or with ``resume`` the saved one (a given config must
    then equal it, apart from ``jobs``)."""
    run_dir = Path(out_dir)
    if not resume:
        if config is None:
            raise WarmInputError("a WarmConfig is needed unless resuming")
        return config
    if not run_dir.is_dir():
        raise WarmInputError(f"--resume {run_dir}: no such run directory")
    saved = run_dir / "warm_config.json"
    if not saved.is_file():
        raise WarmInputError(f"--resume {run_dir}: not a WARM run (no warm_config.json)")
    saved_json = json.loads(saved.read_text())
    old = WarmConfig.from_json(saved_json)
    from rcollapse.empirical.train import check_file_record

    for name, rec in saved_json.get("files", {}).items():
        check_file_record(f"--{name}", rec, run=run_dir)
    if config is None:
        return old
    new = config.with_absolute_paths()
    if {**old.to_json(), "jobs": 0} != {**new.to_json(), "jobs": 0}:
        raise WarmInputError(f"--resume {run_dir}: the options differ from the saved "
                             "warm_config.json (resume with the same options, or none)")
    check_output_dir(run_dir, flag="--resume")
    return config
