"""A training run's directory: its record, its resume rule and its summary.

- ``file_record`` / ``check_file_record``: each data file's absolute path and SHA-256, so
  that a resume finds it from any folder and refuses it changed;
- ``split_record``, ``small_splits``, ``split_warnings``: the prompts the run used, per
  split and type, and the splits too small to judge;
- ``open_run``: a new run's config, or a resumed run's saved one with the options a resume
  may change (``RESUME_OPTIONS``); ``check_device``, ``write_config``;
- ``finish``: summary.json (the final metrics, the verdict, the warnings) and metrics.png.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from rcollapse.empirical.config import TrainConfig
from rcollapse.empirical.metrics_plot import plot_metrics
from rcollapse.outputs import atomic_write_text, check_output_dir, write_json

__all__ = ["METRIC_KEYS", "MIN_PROMPTS_PER_TYPE", "RESUME_OPTIONS", "append_jsonl",
           "check_device", "check_file_record", "data_files", "file_record", "finish",
           "is_main_process", "open_run", "small_splits", "split_record", "split_warnings",
           "truncate_jsonl", "warn", "write_config"]

#: The keys every metrics.jsonl row and summary.json have.
METRIC_KEYS = ("step", "loss", "w1_to_optimum_train", "w1_to_optimum_test",
               "w1_open_vs_closed_train", "w1_open_vs_closed_test", "accuracy_train",
               "accuracy_test")
#: TrainConfig fields a resume may change: they leave the result as it was (threads
#: reorder float sums only; a device must resolve to the run's device and precision).
RESUME_OPTIONS = ("threads", "device")
#: A split with fewer prompts than this of a type (or in all, untyped) gets a warning.
MIN_PROMPTS_PER_TYPE = 8


def file_record(path) -> dict:
    """{"path": the absolute path, "sha256": the file's SHA-256}: what a run directory
    keeps of each data file, so that a resume finds it from any folder and refuses it
    changed."""
    p = Path(path).resolve()
    digest = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(p), "sha256": digest.hexdigest()}


def check_file_record(flag: str, record: dict, *, run) -> None:
    """Refuse (ValueError, one line naming the file) a data file that is gone or changed
    since the run in ``run`` started."""
    path, then = Path(record["path"]), record["sha256"]
    if not path.is_file():
        raise ValueError(f"--resume {run}: {flag} {path} is gone; the run needs the file it "
                         f"started with (SHA-256 {then[:16]}...)")
    now = file_record(path)["sha256"]
    if now != then:
        raise ValueError(f"--resume {run}: {flag} {path} changed since the run started "
                         f"(SHA-256 {then[:16]}... then, {now[:16]}... now); restore it, "
                         "or start a new run")


def data_files(config: TrainConfig) -> dict:
    """{name: ``file_record``} of the run's --data and --test-data, those given."""
    return {name: file_record(getattr(config, name)) for name in ("data", "test_data")
            if getattr(config, name) is not None}


def _type_counts(examples) -> dict:
    counts = {"open": 0, "closed": 0, "untyped": 0}
    for ex in examples:
        counts[ex.prompt_type or "untyped"] += 1
    return counts


def split_record(config: TrainConfig, train_ex, test_ex, device: str, precision: str) -> dict:
    """config.json's ``effective``: what the run used, beside what was asked."""
    if config.data is None:
        held_out = "the built-in test split (--test-prompts)"
    elif config.test_data is None:
        held_out = f"--test-fraction {config.test_fraction:g} of --data"
    else:
        held_out = "--test-data"
    return {"train_prompts": len(train_ex), "test_prompts": len(test_ex),
            "test_fraction": len(test_ex) / (len(train_ex) + len(test_ex)),
            "held_out": held_out,
            "types": {"train": _type_counts(train_ex), "test": _type_counts(test_ex)},
            "small_splits": small_splits(train_ex, test_ex),
            "device": device, "precision": precision}


def _more_prompts_hint(config: TrainConfig, split: str, size: int) -> str:
    if split == "train":
        if config.data is None:
            return f"train on more with --prompts N (now {config.prompts})"
        return f"give --data more prompts (--prompts caps them, now {config.prompts})"
    if config.data is None:
        return f"hold out more with --test-prompts N (now {config.test_prompts})"
    if config.test_data is None:
        return (f"hold out more with --test-fraction F (now {config.test_fraction:g}: "
                f"{size} prompts) or --test-data FILE")
    return f"give --test-data {config.test_data} more prompts"


def small_splits(train_ex, test_ex) -> dict:
    """{split: its prompt counts in words} for each split with fewer than
    ``MIN_PROMPTS_PER_TYPE`` prompts of a type (of all, when untyped)."""
    out = {}
    for split, examples in (("train", train_ex), ("test", test_ex)):
        c = _type_counts(examples)
        if c["open"] + c["closed"]:
            if min(c["open"], c["closed"]) < MIN_PROMPTS_PER_TYPE:
                out[split] = f"{c['open']} open and {c['closed']} closed prompts"
        elif len(examples) < MIN_PROMPTS_PER_TYPE:
            out[split] = f"{len(examples)} prompts"
    return out


def split_warnings(config: TrainConfig, train_ex, test_ex) -> list[str]:
    """One line per split in ``small_splits``: its metrics, W1 open vs closed above all,
    rest on too few prompts to judge; the line says how to get more."""
    out = []
    for split, counts in small_splits(train_ex, test_ex).items():
        size = len(train_ex if split == "train" else test_ex)
        typed = "open" in counts
        what = "its W1 open vs closed and per-type W1s" if typed else "its W1 to the optimum"
        out.append(f"the {'held-out' if split == 'test' else split} split has {counts} (fewer "
                   f"than {MIN_PROMPTS_PER_TYPE}{' of a type' if typed else ''}): {what} rest "
                   f"on too few prompts to judge; {_more_prompts_hint(config, split, size)}")
    return out


def truncate_jsonl(path: Path, max_step: int) -> None:
    """Keep the rows of a JSONL up to ``max_step`` (a resume redoes the steps after it)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= max_step]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def append_jsonl(path: Path, rows) -> None:
    """Append one JSON object per row (no NaN) and flush."""
    with open(path, "a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, allow_nan=False) + "\n")
        fh.flush()


def is_main_process() -> bool:
    """Whether this is the main process (rank 0 under torchrun, or the only one)."""
    return int(os.environ.get("RANK", "0")) == 0


def warn(line: str) -> None:
    """``warning: LINE`` on stderr, from the main process only."""
    if is_main_process():
        print(f"warning: {line}", file=sys.stderr, flush=True)


def open_run(config: TrainConfig | None, out: Path, *, resume: bool, overrides: dict):
    """(config, the saved config.json or None): a new run's config with absolute paths, or
    a resumed run's saved one with ``overrides`` applied; every refusal happens here."""
    if not resume:
        if config is None:
            raise ValueError("train: a config is needed unless resuming")
        if overrides:
            raise ValueError("train: overrides are for a resume; put them in the config")
        if is_main_process():  # under torchrun, rank 0 checks and creates the directory
            check_output_dir(out, must_not_exist=True)
        return config.validate().with_absolute_paths(), None
    refused = [f"--{name.replace('_', '-')}" for name in overrides if name not in RESUME_OPTIONS]
    if refused:
        raise ValueError(
            f"--resume {out}: {', '.join(refused)} would change the result (the run's "
            f"config.json is used); valid with --resume: "
            f"{', '.join('--' + o for o in RESUME_OPTIONS)}, --no-progress")
    if not (out / "config.json").is_file():
        raise ValueError(f"--resume {out}: not a run directory (no config.json)")
    if (out / "summary.json").exists():
        raise ValueError(f"--resume {out}: the run already finished (summary.json exists)")
    saved = json.loads((out / "config.json").read_text())
    config = TrainConfig.from_json(saved)
    for name, value in overrides.items():
        setattr(config, name, value)
    for name, rec in saved.get("files", {}).items():
        check_file_record(f"--{name.replace('_', '-')}", rec, run=out)
    return config.validate(), saved


def check_device(saved: dict, out: Path, device: str, precision: str, *, given: bool) -> None:
    """A resume runs on the run's device and precision: refused if ``--device`` changes
    them, a warning if this machine does."""
    was = saved.get("effective", {})
    if "device" not in was or (was["device"], was["precision"]) == (device, precision):
        return
    change = (f"the run trained on {was['device']} in {was['precision']}; this resume would "
              f"run on {device} in {precision}, which changes the numerics")
    if given:
        raise ValueError(f"--resume {out} --device: {change}; valid: a --device that "
                         f"resolves to {was['device']}")
    warn(f"--resume {out}: {change}")


def write_config(out: Path, config: TrainConfig, saved, effective: dict, *, last_step: int,
                  overrides: dict) -> dict:
    """Write config.json (a new run) or add this resume to it; return what was written."""
    if saved is None:
        config_json = {**asdict(config), "files": data_files(config), "effective": effective}
    else:
        config_json = dict(saved)
        config_json["resumes"] = list(saved.get("resumes", [])) + [
            {"from_step": last_step, "options": dict(overrides)}]
    if is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", config_json)
    return config_json


def finish(out: Path, config: TrainConfig, effective: dict, notes: list, *, resumed: bool,
            world_size: int, device: str, t0: float) -> None:
    """summary.json (final metrics, verdict, warnings) and metrics.png, from metrics.jsonl."""
    from rcollapse.empirical.monitor import collapse_verdict

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    final = rows[-1]
    summary = {k: final.get(k) for k in METRIC_KEYS}
    for k, v in final.items():
        if k.startswith(("spread_", "w1_to_optimum_open", "w1_to_optimum_closed",
                         "w1_open_vs_closed_optimum", "w1_flat_to_optimum")):
            summary[k] = v
    caveats = {split: f"only {counts}, too few to judge"
               for split, counts in effective["small_splits"].items()}
    verdict = collapse_verdict(final, utility=config.utility, caveats=caveats)
    summary.update({
        "seconds": time.perf_counter() - t0,
        "resumed": resumed,
        "train_prompts": effective["train_prompts"],
        "test_prompts": effective["test_prompts"],
        "test_fraction": effective["test_fraction"],
        "utility": config.utility,
        "loss_function": config.loss,
        "backbone": config.backbone,
        "world_size": world_size,
        "device": device,
        "verdict": verdict,
        "warnings": list(notes),
    })
    write_json(out / "summary.json", summary)
    plot_metrics(rows, out / "metrics.png", verdict=verdict,
                 title=f"{config.loss} {config.utility} {Path(config.backbone).name}")


