"""One source of a run's options: ``TrainConfig``, its fields' checks and its CLI flags.

Each field of a config dataclass is written once, with ``option``: its default, its help,
its check and its flag. ``add_arguments`` builds the argparse options of ``rcollapse
train`` and ``rcollapse warm`` from those fields; ``check_fields`` applies each field's
check, once. A check is shared (``integer``, ``finite_number``, ``interval``, ``choice``,
``optional``, ``each``, ``existing_file``, ``delegated``, ``nested``, ...):
``check(flag, value)`` is None for a valid value, else the one-line refusal naming the
flag, the value and the valid range.

>>> integer(min=1)("--batch", 0)
'--batch 0: valid: an integer >= 1'
>>> finite_number(min=0, strict=True)("--lr", 0.0)
'--lr 0.0: valid: a finite number > 0'
>>> interval(0, 1, brackets="()")("--test-fraction", 1.5)
'--test-fraction 1.5: valid: a number in (0, 1)'

This module imports nothing heavy (the CLI builds its parser from it); the utility and
backbone checks import their modules when they run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

__all__ = ["Check", "LOSS_NAMES", "RECORD_KEYS", "TrainConfig", "add_arguments", "boolean",
           "check_fields", "choice", "cli_fields", "comma_separated", "delegated", "each",
           "existing_file", "finite_number", "flag_of", "integer", "interval", "nested",
           "optional", "option", "text"]

#: --loss choices (``trainer.LOSSES`` maps each to its loss).
LOSS_NAMES = ("utility", "bt", "plackett-luce")
#: Keys of config.json that record the run rather than configure it.
RECORD_KEYS = ("files", "effective", "resumes")


# --------------------------------------------------------------------------------------
# Checks: each refuses a bad value in one line naming the flag, the value and the range
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """``check(flag, value)``: None if ``accepts(value)``, else ``refusal(flag, value)`` or
    ``"FLAG VALUE: valid: VALID"``. ``parse`` is the flag's argparse type (``bool``: a
    switch) and ``choices`` its argparse choices."""

    accepts: Callable[[Any], bool]
    valid: str
    parse: Callable[[str], Any] | None = str
    choices: tuple | None = None
    refusal: Callable[[str, Any], str] | None = None

    def __call__(self, flag: str, value) -> str | None:
        if self.accepts(value):
            return None
        if self.refusal is not None:
            return self.refusal(flag, value)
        return f"{flag} {value!r}: valid: {self.valid}"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def integer(*, min: int, note: str = "") -> Check:
    """An integer >= ``min`` (``note``, if any, says why in parentheses)."""
    return Check(lambda v: _is_int(v) and v >= min,
                 f"an integer >= {min}" + (f" ({note})" if note else ""), int)


def finite_number(*, min: float = 0.0, strict: bool = False) -> Check:
    """A finite number >= ``min`` (> ``min`` when ``strict``)."""
    return Check(lambda v: _is_real(v) and (v > min if strict else v >= min),
                 f"a finite number {'>' if strict else '>='} {min:g}", float)


def interval(lo: float, hi: float, *, brackets: str = "[)", words: str = "a number in") -> Check:
    """A number in the interval from ``lo`` to ``hi``, closed where ``brackets`` says."""
    left, right = brackets

    def inside(v) -> bool:
        return (_is_real(v) and (v >= lo if left == "[" else v > lo)
                and (v <= hi if right == "]" else v < hi))
    return Check(inside, f"{words} {left}{lo:g}, {hi:g}{right}", float)


def choice(*values: str) -> Check:
    """One of ``values``."""
    return Check(lambda v: v in values, ", ".join(values), str, choices=tuple(values))


def boolean() -> Check:
    """True or False (a switch on the command line)."""
    return Check(lambda v: isinstance(v, bool), "true or false", bool)


def text(valid: str) -> Check:
    """Any string (``valid`` says what it names)."""
    return Check(lambda v: isinstance(v, str), valid, str)


def optional(check: Check) -> Check:
    """None, or what ``check`` accepts."""
    return replace(check, accepts=lambda v: v is None or check.accepts(v))


def each(check: Check, *, parse: Callable[[str], Any] | None = None) -> Check:
    """A non-empty tuple (or list) of values that ``check`` accepts; a refusal names the
    first bad one. ``parse`` reads the flag's text (``comma_separated``)."""
    def accepts(values) -> bool:
        return isinstance(values, (tuple, list)) and len(values) > 0 and all(
            check.accepts(v) for v in values)

    def refusal(flag, values) -> str:
        if not isinstance(values, (tuple, list)) or not values:
            return f"{flag} {values!r}: valid: one or more, each {check.valid}"
        return next(check(flag, v) for v in values if not check.accepts(v))
    return Check(accepts, f"one or more, each {check.valid}", parse, refusal=refusal)


def comma_separated(parse: Callable[[str], Any]) -> Callable[[str], tuple]:
    """An argparse type: ``"0,0.25"`` -> ``(0.0, 0.25)`` with ``parse=float``."""
    def parse_all(text: str) -> tuple:
        try:
            return tuple(parse(v) for v in text.split(","))
        except ValueError:
            import argparse

            raise argparse.ArgumentTypeError(
                f"{text!r}: valid: comma-separated values, each a {parse.__name__}") from None
    return parse_all


def existing_file() -> Check:
    """The path of an existing file (refused as ``FLAG PATH: no such file``)."""
    return Check(lambda v: isinstance(v, (str, Path)) and Path(v).is_file(), "an existing file",
                 refusal=lambda flag, v: f"{flag} {v}: no such file")


def delegated(validate: Callable[[Any], object], valid: str) -> Check:
    """What ``validate`` does not refuse; its ValueError's message is the refusal."""
    def error(v) -> str | None:
        try:
            validate(v)
        except ValueError as err:
            return str(err)
        return None
    return Check(lambda v: error(v) is None, valid, refusal=lambda flag, v: error(v))


def nested(**overrides: Check) -> Check:
    """A ``TrainConfig`` that passes its own ``validate``, with ``overrides`` in place of
    the checks of the fields they name (WARM's members need ``lr`` > 0, say)."""
    def validate(v) -> None:
        if not isinstance(v, TrainConfig):
            raise ValueError(f"train {v!r}: valid: a TrainConfig")
        v.validate(overrides=overrides)
    return replace(delegated(validate, "a TrainConfig"), parse=None)


def _utility(v) -> None:
    from rcollapse.empirical.losses import validate_utility

    validate_utility(v)  # UtilityError (a ValueError): "unknown utility ..."


def _head(v) -> None:
    from rcollapse.empirical.frozen import parse_head

    parse_head(v)  # ValueError: "--head 'mlp:0': valid: linear or mlp:N ..."


def _backbone(v) -> None:
    from rcollapse.empirical.model import resolve_backbone

    resolve_backbone(v)  # BackboneError (a ValueError): a missing model directory


# --------------------------------------------------------------------------------------
# Fields: written once, checked once, turned into flags
# --------------------------------------------------------------------------------------
def option(default=None, *, help: str, check: Check | None, flag: str | None = None,
           metavar: str | None = None, cli: bool = True, factory=None):
    """A dataclass field with its help, check and flag (``--name-with-dashes`` unless
    ``flag``); ``cli=False`` keeps it off the command line."""
    meta = {"help": help, "check": check, "flag": flag, "metavar": metavar, "cli": cli}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def backbone_option():
    """The ``--backbone`` field, one definition for ``train`` and ``warm``."""
    return option("tiny", metavar="NAME",
                  check=delegated(_backbone, "tiny, minilm or a local Hugging Face model directory"),
                  help="tiny (random, for tests), minilm (all-MiniLM-L6-v2) or a local Hugging "
                       "Face model directory")


def flag_of(f) -> str:
    """The command-line flag of a field."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def cli_fields(cls) -> tuple[str, ...]:
    """The names of the fields of ``cls`` that are command-line flags."""
    return tuple(f.name for f in fields(cls) if f.metadata.get("cli"))


def check_fields(config, *, overrides: dict | None = None, error=ValueError) -> None:
    """Apply each field's check (or the one ``overrides`` gives for it) to ``config``;
    raise ``error`` with the first refusal."""
    overrides = overrides or {}
    for f in fields(config):
        check = overrides.get(f.name, f.metadata.get("check"))
        message = check(flag_of(f), getattr(config, f.name)) if check is not None else None
        if message is not None:
            raise error(message)


def _shown(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_shown(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_arguments(parser, cls, *, names=None, defaults=None, prefix: str = "") -> None:
    """One argparse option per command-line field of ``cls`` (only ``names``, if given):
    the field's flag, type, choices and help, with the default that ``defaults`` (or the
    field) holds. Every option defaults to None, so that a command sees what was given."""
    for f in fields(cls):
        if not f.metadata.get("cli") or (names is not None and f.name not in names):
            continue
        check = f.metadata["check"]
        default = getattr(defaults, f.name) if defaults is not None else f.default
        help_text = prefix + f.metadata["help"]
        if default is not None and default is not False:
            help_text += f" (default {_shown(default)})"
        if check.parse is bool:
            parser.add_argument(flag_of(f), action="store_true", default=None, help=help_text)
            continue
        parser.add_argument(flag_of(f), type=check.parse, choices=check.choices,
                            metavar=f.metadata.get("metavar"), default=None, help=help_text)


# --------------------------------------------------------------------------------------
# TrainConfig
# --------------------------------------------------------------------------------------
_DATA_HELP = ('rankings {"prompt", "completions": [best, ..., worst]} or TRL pairs {"prompt", '
              '"chosen", "rejected"}, each with "type": "open"|"closed" for prompt-aware; '
              "--test-fraction held out; default: the built-in length data")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as config.json)."""

    utility: str = option(
        "log-sigmoid:1", metavar="SPEC",
        check=delegated(_utility, "a utility spec, prompt-aware or prompt-aware-dial"),
        help="linear, log, power:g, neg-power:g, log-sigmoid:s, prompt-aware (U = x closed, "
             "-1/x open) or prompt-aware-dial (open-endedness score in [-1, 1] -> Beta(a, a) "
             "target)")
    loss: str = option(
        "utility", check=choice(*LOSS_NAMES),
        help="utility: (1) with U; bt: TRL's pairwise -log sigmoid(z_i - z_j) over all "
             "pairs; plackett-luce: listwise")
    backbone: str = backbone_option()
    prompts: int | None = option(
        64, metavar="N", check=optional(integer(min=1)),
        help="training prompts (built-in data), or at most N of --data")
    test_prompts: int = option(
        16, metavar="N", check=integer(min=1),
        help="held-out prompts of the built-in data (the paper's number)")
    epochs: float = option(
        40.0, metavar="E", check=finite_number(min=0, strict=True),
        help="passes over the training prompts")
    steps: int | None = option(
        None, metavar="N", check=optional(integer(min=1)),
        help="optimizer steps; overrides --epochs (the Trainer's max_steps)")
    lr: float = option(1e-3, check=finite_number(min=0), help="AdamW learning rate")
    batch: int = option(
        8, metavar="N", check=integer(min=1), help="prompts (whole rankings) per device per step")
    grad_accum: int = option(
        1, metavar="K", check=integer(min=1), help="gradient accumulation steps")
    seed: int = option(
        0, metavar="S", check=integer(min=0), help="fixes data, initialization and data order")
    eval_every: int = option(
        50, metavar="K", check=integer(min=1),
        help="evaluate collapse and checkpoint every K optimizer steps")
    data: str | None = option(
        None, metavar="FILE.jsonl", check=optional(existing_file()), help=_DATA_HELP)
    test_data: str | None = option(
        None, metavar="FILE.jsonl", check=optional(existing_file()),
        help="held-out rankings for --data")
    test_fraction: float = option(
        0.1, metavar="F", check=interval(0, 1, brackets="()"),
        help="--data without --test-data: the fraction held out")
    center_coefficient: float = option(
        0.0, metavar="C", check=finite_number(min=0),
        help="--loss bt: TRL's center_rewards_coefficient")
    scheduler: str = option(
        "linear", metavar="NAME", check=text("a transformers lr_scheduler_type"),
        help="learning-rate schedule, a transformers lr_scheduler_type (linear decays to 0; "
             "constant, cosine, ...)")
    warmup_steps: int = option(
        0, metavar="N", check=integer(min=0), help="linear warmup steps")
    warmup_ratio: float = option(
        0.0, metavar="F", check=interval(0, 1, brackets="[)"),
        help="linear warmup over this fraction of the steps (when --warmup-steps is 0)")
    weight_decay: float = option(
        0.0, metavar="W", check=finite_number(min=0), help="AdamW weight decay")
    max_grad_norm: float = option(
        1.0, metavar="C", check=finite_number(min=0, strict=True),
        help="gradient clipping: the global norm is cut to C")
    max_length: int = option(
        256, metavar="N", check=integer(min=1), help="tokens per (prompt, completion)")
    eval_prompts: int = option(
        256, metavar="N", check=integer(min=1),
        help="prompts per split scored at each evaluation")
    device: str = option(
        "auto", check=choice("auto", "cpu", "cuda"), help="auto: CUDA when present")
    precision: str = option(
        "auto", check=choice("auto", "fp32", "bf16", "fp16"),
        help="auto: bf16/fp16 on CUDA, fp32 on CPU")
    dropout: float | None = option(
        0.0, check=optional(interval(0, 1)), cli=False,
        help="backbone dropout override; None keeps the backbone's")
    threads: int | None = option(
        None, metavar="N", check=optional(integer(min=1)),
        help="torch threads per process; default: torch's")
    save_total_limit: int = option(
        2, check=integer(min=1), cli=False, help="checkpoints kept")
    freeze: bool = option(
        False, check=boolean(),
        help="frozen encoder: cache each text's embedding once and train only a head "
             "(empirical.frozen)")
    encoder_precision: str = option(
        "fp32", check=choice("fp32", "bf16"),
        help="--freeze: the precision the embeddings are computed in (bf16: autocast, 2.6x "
             "the rate on a CPU with AMX; cached apart from fp32's)")
    head: str = option(
        "linear", metavar="HEAD", check=delegated(_head, "linear or mlp:N with N >= 1"),
        help="--freeze: the head, linear or mlp:N (Linear, GELU, Linear with N hidden units)")

    def validate(self, *, overrides: dict | None = None) -> "TrainConfig":
        """Refuse bad values with one line naming the value and the valid range: each
        field's check (``overrides``: name -> ``Check`` in place of a field's own), then
        the rules between fields. The utility spec becomes canonical."""
        check_fields(self, overrides=overrides)
        if self.center_coefficient and self.loss != "bt":
            raise ValueError("--center-coefficient is for --loss bt")
        if self.test_data is not None and self.data is None:
            raise ValueError("--test-data needs --data")
        from rcollapse.empirical.losses import validate_utility

        self.utility = validate_utility(self.utility)
        return self

    @classmethod
    def from_json(cls, obj: dict) -> "TrainConfig":
        """The config of a config.json (its record keys, ``RECORD_KEYS``, are not config)."""
        obj = {k: v for k, v in obj.items() if k not in RECORD_KEYS}
        known = {f.name for f in fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"config.json: unknown keys {sorted(unknown)}")
        return cls(**obj)

    def with_absolute_paths(self) -> "TrainConfig":
        """The same config with its data files and a backbone folder as absolute paths."""
        paths = {name: str(Path(getattr(self, name)).resolve()) for name in ("data", "test_data")
                 if getattr(self, name) is not None}
        if self.backbone not in ("tiny", "minilm"):
            paths["backbone"] = str(Path(self.backbone).resolve())
        return replace(self, **paths)
