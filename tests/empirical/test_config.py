"""One source of configuration (issue 20, item 4): the flags of ``rcollapse train`` and
``rcollapse warm`` are built from the fields of ``TrainConfig`` and ``WarmConfig``, each
field is checked once by a shared check, WARM's members need lr > 0 through a field-level
override, ``WarmConfig.train`` is a ``TrainConfig``, and the utility loss gets its floors
from its caller."""

from __future__ import annotations

import argparse
import math
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rcollapse.empirical.config import (LOSS_NAMES, TrainConfig, add_arguments, boolean,
                                        check_fields, choice, cli_fields, comma_separated,
                                        delegated, each, existing_file, finite_number, flag_of,
                                        integer, interval, nested, optional, text)
from rcollapse.empirical.warm_config import (MEMBER_OPTIONS, WarmConfig, WarmInputError,
                                             member_defaults, validate)

#: The flags ``rcollapse train`` took before its options were built from TrainConfig.
TRAIN_FLAGS = {"--utility", "--loss", "--backbone", "--prompts", "--test-prompts", "--epochs",
               "--data", "--test-data", "--test-fraction", "--lr", "--batch", "--grad-accum",
               "--eval-every", "--eval-prompts", "--seed", "--center-coefficient", "--scheduler",
               "--warmup-steps", "--max-length", "--device", "--precision", "--threads",
               "--freeze", "--head", "--steps", "--warmup-ratio", "--weight-decay",
               "--max-grad-norm", "--encoder-precision"}
#: The flags ``rcollapse warm`` took before, for itself and for its members.
WARM_FLAGS = {"--members", "--backbone", "--utility", "--data", "--jobs", "--lr-spread",
              "--prompts", "--eval-prompts", "--noise", "--pool", "--seed", "--epochs", "--lr",
              "--batch", "--eval-every", "--scheduler", "--device",
              # issue 23: the experiment's options, and the frozen track's for the members
              "--diversity", "--init", "--repeats", "--bon-prompts", "--freeze", "--head",
              "--encoder-precision", "--threads"}


# ---- the shared checks: one line naming the flag, the value and the valid range ----------
@pytest.mark.parametrize("check, value, message", [
    (integer(min=1), 0, "--x 0: valid: an integer >= 1"),
    (integer(min=1), True, "--x True: valid: an integer >= 1"),
    (integer(min=1), 2.0, "--x 2.0: valid: an integer >= 1"),
    (integer(min=2, note="two are needed"), 1, "--x 1: valid: an integer >= 2 (two are needed)"),
    (finite_number(min=0), -1.0, "--x -1.0: valid: a finite number >= 0"),
    (finite_number(min=0), math.nan, "--x nan: valid: a finite number >= 0"),
    (finite_number(min=0), math.inf, "--x inf: valid: a finite number >= 0"),
    (finite_number(min=0, strict=True), 0.0, "--x 0.0: valid: a finite number > 0"),
    (interval(0, 1), 1.0, "--x 1.0: valid: a number in [0, 1)"),
    (interval(0, 1, brackets="()"), 0, "--x 0: valid: a number in (0, 1)"),
    (interval(0, 1, words="a fraction in"), -0.5, "--x -0.5: valid: a fraction in [0, 1)"),
    (choice("a", "b"), "c", "--x 'c': valid: a, b"),
    (optional(integer(min=1)), 0, "--x 0: valid: an integer >= 1"),
    (boolean(), 1, "--x 1: valid: true or false"),
    (text("a schedule name"), 3, "--x 3: valid: a schedule name"),
    (existing_file(), "/no/such.jsonl", "--x /no/such.jsonl: no such file"),
    (each(interval(0, 1)), (0.0, 1.5), "--x 1.5: valid: a number in [0, 1)"),
    (each(interval(0, 1)), (), "--x (): valid: one or more, each a number in [0, 1)"),
])
def test_each_check_refuses_in_one_line(check, value, message):
    assert check("--x", value) == message


@pytest.mark.parametrize("check, value", [
    (integer(min=1), 1), (finite_number(min=0), 0.0), (finite_number(min=0, strict=True), 1e-9),
    (interval(0, 1), 0.0), (interval(0, 1, brackets="()"), 0.5), (choice("a", "b"), "b"),
    (optional(integer(min=1)), None), (boolean(), False), (text("any"), ""),
    (existing_file(), __file__), (each(interval(0, 1)), [0.0, 0.5]),
])
def test_each_check_accepts_its_range(check, value):
    assert check("--x", value) is None


@given(st.one_of(st.integers(-5, 5), st.booleans(), st.floats(allow_nan=True)), st.integers(-2, 2))
@example(True, 1)
def test_integer_accepts_exactly_the_integers_from_min(value, lo):
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo
    assert (integer(min=lo)("--n", value) is None) == ok


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3)),
       st.booleans())
@example(0.0, True)
@example(math.nan, False)
def test_finite_number_accepts_exactly_the_finite_numbers_above_min(value, strict):
    ok = math.isfinite(value) and (value > 0 if strict else value >= 0)
    assert (finite_number(min=0, strict=strict)("--v", value) is None) == ok


def test_delegated_checks_keep_the_message_of_the_check_they_call():
    def positive(v):
        if v <= 0:
            raise ValueError(f"value {v} is not positive")
    check = delegated(positive, "a positive number")
    assert check("--v", 2) is None
    assert check("--v", -1) == "value -1 is not positive"


def test_comma_separated_reads_a_list_or_refuses_in_one_line():
    parse = comma_separated(float)
    assert parse("0,0.25") == (0.0, 0.25)
    with pytest.raises(argparse.ArgumentTypeError, match="'0,x': valid: comma-separated values"):
        parse("0,x")


# ---- TrainConfig: one validate loop over the fields' checks -----------------------------
def test_every_field_has_its_help_and_check_and_its_default_passes():
    for cls in (TrainConfig, WarmConfig):
        for f in fields(cls):
            assert f.metadata["help"] and f.metadata["check"] is not None, f.name
    check_fields(TrainConfig())
    TrainConfig().validate()
    validate(WarmConfig())


@pytest.mark.parametrize("name, bad", [
    ("loss", "hinge"), ("prompts", 0), ("test_prompts", 0), ("epochs", 0.0), ("lr", -1e-3),
    ("batch", 0), ("grad_accum", 0), ("seed", -1), ("eval_every", 0), ("data", "/no/such"),
    ("test_fraction", 1.0), ("center_coefficient", math.nan), ("scheduler", None),
    ("warmup_steps", -1), ("weight_decay", -0.1), ("max_length", 0), ("eval_prompts", 0),
    ("device", "tpu"), ("precision", "fp8"), ("dropout", 1.0), ("threads", 0),
    ("save_total_limit", 0),
])
def test_validate_refuses_each_field_by_its_flag(name, bad):
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ValueError) as err:
        TrainConfig(**{name: bad}).validate()
    message = str(err.value)
    assert message.startswith(f"{flag} ") and "\n" not in message
    assert "valid:" in message or "no such file" in message


def test_validate_refuses_a_bad_utility_and_backbone_with_their_own_messages():
    with pytest.raises(ValueError, match="unknown utility 'nope'"):
        TrainConfig(utility="nope").validate()
    with pytest.raises(ValueError, match="--backbone /no/model: no such model directory"):
        TrainConfig(backbone="/no/model").validate()


def test_validate_keeps_the_rules_between_fields_and_a_canonical_utility():
    with pytest.raises(ValueError, match="--center-coefficient is for --loss bt"):
        TrainConfig(center_coefficient=0.1).validate()
    with pytest.raises(ValueError, match="--test-data needs --data"):
        TrainConfig(test_data=__file__).validate()
    assert TrainConfig(loss="bt", center_coefficient=0.1).validate().center_coefficient == 0.1
    spec = TrainConfig(utility="power:0.50").validate().utility
    assert spec == TrainConfig(utility=spec).validate().utility  # canonical: a fixed point


def test_an_override_replaces_one_field_check():
    assert TrainConfig(lr=0.0).validate().lr == 0.0  # rcollapse train accepts lr = 0
    strict = {"lr": finite_number(min=0, strict=True)}
    with pytest.raises(ValueError, match=r"^--lr 0.0: valid: a finite number > 0$"):
        TrainConfig(lr=0.0).validate(overrides=strict)
    assert TrainConfig(lr=1e-4).validate(overrides=strict).lr == 1e-4


# ---- the flags, built from the fields ----------------------------------------------------
def _parser(command: str) -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog=f"rcollapse {command}")
    importlib.import_module(f"rcollapse.commands.{command}").add_arguments(parser)
    return parser


def _actions(parser) -> dict:
    return {a.option_strings[0]: a for a in parser._actions if a.option_strings}


def test_train_flags_are_the_fields_with_their_type_default_and_help():
    actions = _actions(_parser("train"))
    assert {flag_of(f) for f in fields(TrainConfig) if f.metadata["cli"]} == TRAIN_FLAGS
    assert TRAIN_FLAGS | {"--out", "--resume", "--preset", "--no-progress", "-h"} == set(actions)
    for f in fields(TrainConfig):
        if not f.metadata["cli"]:
            continue
        action, check = actions[flag_of(f)], f.metadata["check"]
        assert action.default is None  # a command sees what was given, a resume too
        if check.parse is bool:  # a switch: --flag sets True
            assert action.const is True and action.nargs == 0
        else:
            assert action.type is check.parse and action.choices == check.choices
        assert action.help.startswith(f.metadata["help"])
        if f.default is not None and f.default is not False:  # a switch is off by default
            assert action.help.endswith(")") and "(default " in action.help


def test_parsed_train_flags_make_the_config_and_only_given_ones_are_seen():
    args = _parser("train").parse_args(["--lr", "0.01", "--batch", "3", "--loss", "bt",
                                        "--device", "cpu", "--out", "x"])
    given = {f: getattr(args, f) for f in cli_fields(TrainConfig) if getattr(args, f) is not None}
    assert given == {"lr": 0.01, "batch": 3, "loss": "bt", "device": "cpu"}
    config = TrainConfig(**given).validate()
    assert (config.lr, config.batch, config.loss, config.epochs) == (0.01, 3, "bt", TrainConfig.epochs)
    resume = _parser("train").parse_args(["--resume", "x", "--threads", "2"])
    assert {f for f in cli_fields(TrainConfig) if getattr(resume, f) is not None} == {"threads"}


def test_warm_flags_are_its_fields_and_the_members_train_fields():
    actions = _actions(_parser("warm"))
    assert WARM_FLAGS | {"--out", "--resume", "--no-progress", "-h"} == set(actions)
    defaults = member_defaults()
    for name in MEMBER_OPTIONS:  # the members' defaults, shown by the train field's help
        if getattr(defaults, name) in (None, False):  # a switch, or no default to show
            continue
        flag = "--" + name.replace("_", "-")
        shown = f"{getattr(defaults, name):g}" if isinstance(getattr(defaults, name), float) \
            else str(getattr(defaults, name))
        assert actions[flag].help.endswith(f"(default {shown})"), actions[flag].help
    assert actions["--lr-spread"].nargs == 0  # a switch, as before
    args = _parser("warm").parse_args(["--noise", "0,0.5", "--lr-spread", "--lr", "2e-4"])
    assert args.noise == (0.0, 0.5) and args.lr_spread is True and args.lr == 2e-4


# ---- WARM: its members' TrainConfig, with lr > 0 -----------------------------------------
def test_warm_config_train_is_a_train_config():
    config = WarmConfig(train={"epochs": 2.0, "lr": 3e-4})
    assert isinstance(config.train, TrainConfig) and isinstance(WarmConfig().train, TrainConfig)
    assert (config.train.epochs, config.train.lr) == (2.0, 3e-4)
    assert (config.train.prompts, config.train.eval_prompts) == (None, 32)  # member_defaults
    assert WarmConfig.from_json(config.to_json()) == config  # what a resume reads back
    with pytest.raises(WarmInputError, match=r"unknown TrainConfig fields \['epoch'\]"):
        WarmConfig(train={"epoch": 2.0})


def test_warm_needs_lr_above_zero_where_train_accepts_zero():
    TrainConfig(lr=0.0).validate()
    with pytest.raises(WarmInputError, match=r"^--lr 0.0: valid: a finite number > 0$"):
        validate(WarmConfig(train={"lr": 0.0}))
    validate(WarmConfig(train={"lr": 1e-6}))
    with pytest.raises(WarmInputError, match=r"^--epochs 0.0: valid: a finite number > 0$"):
        validate(WarmConfig(train={"epochs": 0.0}))
    assert nested(lr=finite_number(min=0, strict=True))("--train", "x").startswith("train 'x'")


def test_warm_cli_refuses_lr_zero_in_one_line(tmp_path, capsys):
    from rcollapse.cli import main

    out = tmp_path / "run"
    assert main(["warm", "--lr", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lr 0.0: valid: a finite number > 0" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("kw, message", [
    (dict(members=1), "--members 1: valid: an integer >= 2 (weight averaging needs two models)"),
    (dict(noise=(0.0, 1.5)), "--noise 1.5: valid: a fraction in [0, 1)"),
    (dict(noise=(0.25, 0.25)), "--noise [0.25, 0.25]: repeated values"),
    (dict(best_of=(1, 64), pool=48), "best-of-N with N = 64: valid: 1 <= N <= --pool 48"),
    (dict(jobs=0), "--jobs 0: valid: an integer >= 1"),
    (dict(eval_prompts=1), "--eval-prompts 1: valid: an integer >= 2"),
    (dict(lambdas=2), "--lambdas 2: valid: an integer >= 3"),
])
def test_warm_validate_refuses_in_one_line(kw, message):
    with pytest.raises(WarmInputError) as err:
        validate(WarmConfig(**kw))
    assert str(err.value) == message


def test_members_share_the_train_config_but_their_own_seed_data_and_lr():
    pytest.importorskip("torch")
    from rcollapse.empirical.warm_members import member_train_configs

    config = WarmConfig(members=3, lr_spread=True, utility="log", train={"epochs": 2.0})
    members = member_train_configs(config, Path("/run"), 0.25)
    assert [m.seed for m in members] == [1, 2, 3]
    assert [m.lr for m in members] == [5e-4, 1e-3, 2e-3]
    for m in members:
        assert (m.utility, m.epochs, m.prompts, m.eval_prompts) == ("log", 2.0, None, 32)
        assert m.data == "/run/data/train_p0.25.jsonl" and m.backbone == "/run/init"


# ---- the trainer: the loss from a table, floors passed in --------------------------------
def test_the_loss_table_has_every_loss_name_and_the_trainer_is_a_trainer():
    pytest.importorskip("transformers")
    from transformers import Trainer

    from rcollapse.empirical.trainer import LOSSES, RankingTrainer

    assert tuple(LOSSES) == LOSS_NAMES
    assert issubclass(RankingTrainer, Trainer)
    assert choice(*LOSS_NAMES).choices == tuple(_actions(_parser("train"))["--loss"].choices)


def test_the_utility_loss_solves_nothing_and_uses_the_floors_it_is_given(monkeypatch):
    torch = pytest.importorskip("torch")
    from rcollapse.empirical import losses

    def no_solver(*a, **kw):
        raise AssertionError("the loss launched a solver")

    z = torch.tensor([0.3, 0.2, 1.0, -1.0], dtype=torch.float64)  # gap 0.025 in the first
    floors = [losses.floor_for("log", 2)] * 2
    monkeypatch.setattr(losses, "floor_for", no_solver)
    monkeypatch.setattr(losses, "reference_optimum", no_solver)
    at_floor = float(losses.utility_loss(z, [2, 2], ["log", "log"], floors=floors))
    unfloored = float(losses.utility_loss(z, [2, 2], ["log", "log"], floors=[0.0, 0.0]))
    r = torch.sigmoid(z)
    assert unfloored == pytest.approx(-(math.log(r[0] - r[1]) + math.log(r[2] - r[3])) / 2)
    assert at_floor != pytest.approx(unfloored)  # a gap under the floor: continued linearly
    with pytest.raises(ValueError, match="2 rankings, 2 specs and 1 floors"):
        losses.utility_loss(z, [2, 2], ["log", "log"], floors=[0.0])


def test_the_dataset_carries_each_prompts_floor_to_the_collator():
    pytest.importorskip("transformers")
    pytest.importorskip("dictionary")
    from rcollapse.empirical.data import build_length_dataset
    from rcollapse.empirical.losses import floor_for
    from rcollapse.empirical.model import load_reward_model
    from rcollapse.empirical.trainer import RankingCollator, RankingDataset

    examples = build_length_dataset(3, seed=0)
    specs = ["log", "neg-power:1", "linear"]
    floors = [floor_for(s, ex.n) for s, ex in zip(specs, examples)]
    _, tokenizer = load_reward_model("tiny", seed=0)
    data = RankingDataset(examples, specs, floors, {s: k for k, s in enumerate(specs)},
                          tokenizer, 32)
    batch = RankingCollator(tokenizer)([data[k] for k in range(3)])
    assert batch["floors"].tolist() == floors and batch["spec_ids"].tolist() == [0, 1, 2]
    assert batch["ranking_sizes"].tolist() == [ex.n for ex in examples]
