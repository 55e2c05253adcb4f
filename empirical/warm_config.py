"""The configuration of a WARM run: ``WarmConfig``, its checks and its resume rule.

``WarmConfig`` is everything that defines one run of ``rcollapse warm`` (saved as
warm_config.json in the run directory); ``validate`` refuses a bad value with a one-line
``WarmInputError``; ``resolve_config`` picks the config of a fresh or a resumed run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from rcollapse.empirical.config import (TrainConfig, backbone_option, boolean, check_fields, choice,
                                        comma_separated, delegated, each, existing_file,
                                        finite_number, integer, interval, nested, optional,
                                        option)
from rcollapse.outputs import check_output_dir

__all__ = ["MEMBER_OPTIONS", "PAPER_DROPOUTS", "PAPER_LR_FACTORS", "WarmConfig",
           "WarmInputError", "diversity_of", "member_defaults", "resolve_config", "validate"]

#: The TrainConfig fields ``rcollapse warm`` takes as flags, for every member.
MEMBER_OPTIONS = ("epochs", "lr", "batch", "eval_every", "scheduler", "device", "freeze",
                  "head", "encoder_precision", "threads")

#: ``--diversity paper``: WARM's learning rates {1e-5, 4e-5, 1e-4} as factors of the
#: members' --lr (4e-5, the middle one, maps to --lr), and its dropouts {0.05, 0.1}.
PAPER_LR_FACTORS = (0.25, 1.0, 2.5)
PAPER_DROPOUTS = (0.05, 0.1)


class WarmInputError(ValueError):
    """Bad input for a WARM run; the message is one line."""


def member_defaults() -> TrainConfig:
    """The members' shared ``TrainConfig`` before the user's options: all of each
    training file (``prompts`` None), 32 prompts scored per split, and with --freeze an
    ``mlp:64`` head (a linear head makes WARM equal the ensemble of logits). Its ``utility``,
    ``backbone``, ``data``, ``test_data`` and ``seed`` (and ``lr`` with ``lr_spread``) are
    set per member (``warm_members.member_train_configs``)."""
    return TrainConfig(prompts=None, eval_prompts=32, head="mlp:64")


def _members_config(train) -> TrainConfig:
    """``train`` as a TrainConfig: itself, or a dict of fields over ``member_defaults``."""
    if isinstance(train, TrainConfig):
        return train
    if not isinstance(train, dict):
        raise WarmInputError(f"train {train!r}: valid: a TrainConfig or a dict of its fields")
    unknown = sorted(set(train) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise WarmInputError(f"train: unknown TrainConfig fields {unknown}")
    return replace(member_defaults(), **train)


def _warm_utility(spec) -> None:
    if spec != "prompt-aware":
        from rcollapse.theory.utilities import parse_utility

        parse_utility(spec)  # UtilityError (a ValueError) for an unknown spec


@dataclass(frozen=True)
class WarmConfig:
    """Everything that defines one WARM run; saved as warm_config.json. ``train`` is the
    members' shared ``TrainConfig`` (a dict is read as fields over ``member_defaults``);
    WARM needs its ``lr`` > 0, where ``rcollapse train`` accepts 0."""

    members: int = option(
        4, metavar="M", check=integer(min=2, note="weight averaging needs two models"),
        help="reward models fine-tuned from one initialization and averaged (M >= 2)")
    backbone: str = backbone_option()
    utility: str = option(
        "log-sigmoid:0.25", metavar="SPEC",
        check=delegated(_warm_utility, "a utility spec or prompt-aware"),
        help="a utility spec (linear, log, power:g, neg-power:g, log-sigmoid:s) or "
             "prompt-aware")
    data: str | None = option(
        None, metavar="FILE.jsonl", check=optional(existing_file()),
        help="your rankings (or TRL pairs) instead of the built-in length data; shift and "
             "best-of-N then are skipped")
    prompts: int = option(
        256, metavar="N", check=integer(min=1), help="training prompts of the built-in data")
    eval_prompts: int = option(
        32, metavar="N", check=integer(min=2),
        help="prompts in each of the validation and held-out sets")
    noise: tuple = option(
        (0.0, 0.25), metavar="P[,P...]",
        check=each(interval(0, 1, words="a fraction in"), parse=comma_separated(float)),
        help="fractions of training rankings corrupted, one member set each")
    diversity: str = option(
        "seed", check=choice("seed", "lr-spread", "paper"),
        help="what differs between members: seed (only their seeds: data order, dropout "
             "masks); lr-spread (also learning rates log-uniform over [lr/2, 2 lr]); paper (WARM's: "
             "each member draws its lr from {1e-5, 4e-5, 1e-4} x lr/4e-5, i.e. lr x {1/4, "
             "1, 5/2}, and its dropout from {0.05, 0.1}; with --freeze the dropout is on "
             "the head's standardized embedding input)")
    lr_spread: bool = option(
        False, check=boolean(), help="the same as --diversity lr-spread")
    init: str = option(
        "random", check=choice("random", "probe"),
        help="the members' shared initialization: random (the backbone with a head drawn "
             "from the repeat's seed) or probe (that head after a linear probe: only its "
             "last layer trained on the frozen features, as WARM and DiWA do; --freeze only)")
    repeats: int = option(
        3, metavar="K", check=integer(min=1),
        help="the whole experiment repeated with K seeds; every number a mean with a 95%% "
             "t-interval over the repeats (none for K = 1)")
    jobs: int = option(
        1, metavar="J", check=integer(min=1),
        help="members trained at once, each in its own process with cores/J threads")
    seed: int = option(
        0, metavar="S", check=integer(min=0),
        help="the data (of every repeat); repeat r uses seed + r (M + 1) for its shared "
             "init and corrupted rankings, and + 1 + i for member i")
    pool: int = option(
        500, metavar="P", check=integer(min=2),
        help="best-of-N candidates per prompt: every truncation of the reference answer, "
             "then word-noised truncations, up to P")
    bon_prompts: int = option(
        8, metavar="N", check=integer(min=1),
        help="held-out prompts with a best-of-N pool (at most --eval-prompts)")
    best_of: tuple = option(
        (1, 2, 4, 8, 16, 32, 64, 128, 256, 500), check=each(integer(min=1)), cli=False,
        help="the N of best-of-N")
    lambdas: int = option(
        11, check=integer(min=3), cli=False,
        help="points on the linear-mode-connectivity segment")
    batch_size: int = option(
        64, check=integer(min=1), cli=False, help="completions per forward pass at evaluation")
    train: TrainConfig = option(
        factory=member_defaults, check=nested(lr=finite_number(min=0, strict=True)),
        cli=False, help="the members' shared TrainConfig")

    def __post_init__(self):
        object.__setattr__(self, "train", _members_config(self.train))

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
        d["train"] = TrainConfig.from_json(d["train"])
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
    """Raise ``WarmInputError`` (one line, naming the value and the valid range): each
    field's check (the members' TrainConfig with ``lr`` > 0), then the rules between
    fields."""
    check_fields(config, error=WarmInputError)
    if len(set(config.noise)) != len(config.noise):
        raise WarmInputError(f"--noise {list(config.noise)}: repeated values")
    for n in config.best_of:
        if n > config.pool:
            raise WarmInputError(f"best-of-N with N = {n}: valid: 1 <= N <= --pool {config.pool}")
    if config.bon_prompts > config.eval_prompts:
        raise WarmInputError(f"--bon-prompts {config.bon_prompts}: valid: at most "
                             f"--eval-prompts {config.eval_prompts}")
    if config.lr_spread and config.diversity not in ("seed", "lr-spread"):
        raise WarmInputError(f"--lr-spread with --diversity {config.diversity}: valid: "
                             "one of them (--lr-spread is --diversity lr-spread)")
    if config.init == "probe" and not config.train.freeze:
        raise WarmInputError("--init probe: valid only with --freeze (the linear probe of a "
                             "fine-tuned backbone's head is not built)")


def diversity_of(config: WarmConfig) -> str:
    """The members' diversity: ``lr-spread`` when --lr-spread, else --diversity."""
    return "lr-spread" if config.lr_spread else config.diversity


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
    from rcollapse.empirical.run_dir import check_file_record

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
