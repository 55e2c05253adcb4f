"""WARM as an experiment: M reward models from one initialization, averaged, against
their ensemble, repeated with K seeds, and the paper's four claims tested.

WARM (Ramé et al. 2024) fine-tunes M reward models from one shared initialization and
averages their weights, theta_WARM = (1/M) sum_i theta_i. This module trains the members
(fine-tuned with ``rcollapse.empirical.train``, the code of ``rcollapse train``; or, with
``--freeze``, heads on a frozen encoder's cached embeddings, ``warm_heads``), combines
them (``empirical/soup.py``) and evaluates, per repeat and noise level:

- models: each member; ``warm`` (the uniform weight average); ``greedy`` (model-soups'
  greedy soup on a validation set); ``ensemble`` (the mean of the members' rewards);
- linear mode connectivity: validation loss (the trained objective (1), negated, per
  prompt) and pairwise accuracy along (1 - l) theta_1 + l theta_2 at 11 values of l,
  and its barrier;
- test sets (built-in data): ``held_out`` (prompts whose head words training never saw),
  ``shift`` (the same prompts, completions cut to lengths training never saw: 8 lengths
  drawn from 2..9 and 82..100 words, against 10..80 in training); and label noise: a
  set of members per --noise level trained with that fraction of the training rankings
  corrupted (two completions swapped), evaluated on the clean test sets;
- best-of-N (``best_of_n``): for the first --bon-prompts held-out prompts, a pool of P
  candidates (``warm_members.best_of_n_pool``: every truncation of the reference
  answer, then word-noised truncations; true reward = length in words); for each N up
  to 500, the exact expected true reward and proxy reward of the model's pick among N
  drawn without replacement (Coste et al. 2024's unbiased estimator), with Gao et al.'s
  d (alpha - beta d) fit;
- collapse: the monitor's W1 to the optimum of (5) and W1 open vs closed, on held_out;
- fine-tuned members: inference seconds per 1000 completions, ``warm`` against
  ``ensemble``, in one process.

Repeat r (``repeat_config``) uses seed + r (M + 1) for the shared init, the corrupted
rankings and the members; the data are those of --seed in every repeat (so a frozen
encoder's embedding cache serves them all). The report (``warm_report``) gives each
number as a mean with a 95% t-interval over the repeats, and the claims'
PASS/FAIL rows (``warm_claims.claims_from_results``).

Layout of a run directory ``DIR``::

    warm_config.json          the WarmConfig, its --data and a --backbone folder as absolute
                              paths, and "files": --data's path and SHA-256 (a --resume
                              must match the config, and refuses changed data)
    repeats/rR/               repeat R:
      init/                   the shared initialization (fine-tuned members only)
      data/                   train_p0.jsonl, train_p0.25.jsonl, val.jsonl, held_out.jsonl,
                              shift.jsonl, pool.json (the last two with the built-in data)
      members/p0/member_0/    rcollapse train run directories (--freeze: head.pt,
                              member.json; members/p0/init.pt the shared head)
      models/p0/warm/, greedy/  averaged models (safetensors; --freeze: warm.pt, greedy.pt)
      results.json            the repeat's evaluation (what the report is built from)
    report.json, report.md    the report (``warm_report``)
    lmc.png, best_of_n.png    drawn from report.json by ``figures.warm.draw_run_plots``
                              (``rcollapse warm`` does; ``run_warm`` draws nothing)

The parts: ``warm_config`` (``WarmConfig``, its checks, resume), ``warm_members`` (data,
member hyperparameters and configs, training, one process per job), ``warm_heads`` (the
--freeze members), ``warm_evaluation`` (one noise level's models scored, LMC, best-of-N,
inference time), ``warm_claims`` (the claims), ``warm_report`` (report.json, report.md).
This module prepares the run directory and runs the parts in order; it re-exports the
names that callers import from ``rcollapse.empirical.warm``.
"""


from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from rcollapse.empirical.soup import state_fingerprint
from rcollapse.empirical.warm_config import (
    WarmConfig,
    WarmInputError,
    resolve_config,
    validate,
)
from rcollapse.empirical.warm_evaluation import evaluate_condition
from rcollapse.empirical.warm_members import (
    SHIFT_LENGTHS,
    corrupt_rankings,
    member_hyperparameters,
    member_seeds_and_rates,
    member_train_configs,
    noise_label,
    prepare_data,
    threads_per_job,
    train_members,
)
from rcollapse.empirical.warm_report import REPORT_KEYS, build_report, report_markdown
from rcollapse.outputs import atomic_write_text, check_output_dir, write_json

__all__ = [
    "REPORT_KEYS",
    "SHIFT_LENGTHS",
    "WarmConfig",
    "WarmInputError",
    "build_report",
    "corrupt_rankings",
    "evaluate_condition",
    "member_hyperparameters",
    "member_seeds_and_rates",
    "member_train_configs",
    "prepare_data",
    "prepare_run",
    "repeat_config",
    "repeat_data",
    "repeat_dir",
    "report_markdown",
    "resolve_config",
    "run_warm",
    "train_members",
    "validate",
]


def _checked_data(config: WarmConfig) -> dict:
    """The run's data (``prepare_data``), once every input is checked: the config's
    values, the backbone, and a trainable (U, n) for every prompt (problem (5) solved)."""
    from rcollapse.empirical.losses import floor_for
    from rcollapse.empirical.model import resolve_backbone
    from rcollapse.empirical.train import prompt_specs

    validate(config)
    resolve_backbone(config.backbone)
    data = prepare_data(config)
    every = data["train"] + data["val"] + data["held_out"] + (data["shift"] or [])
    for ex, spec in zip(every, prompt_specs(every, config.utility)):  # names FILE:LINE
        floor_for(spec, ex.n)  # solves (5) for each (U, n); refuses an untrainable one
    return data


def _write_config(config: WarmConfig, run_dir: Path) -> None:
    """DIR/warm_config.json (once): the config, with --data's path and SHA-256."""
    from rcollapse.empirical.train import file_record

    if not (run_dir / "warm_config.json").is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        files = {"data": file_record(config.data)} if config.data is not None else {}
        write_json(run_dir / "warm_config.json",
                   {**config.with_absolute_paths().to_json(), "files": files})


def _write_init(config: WarmConfig, run_dir: Path) -> str:
    """The shared initialization REPEAT/init (once); returns the SHA-256 fingerprint of
    its weights."""
    from rcollapse.empirical.model import load_reward_model

    init_dir = run_dir / "init"
    if not (init_dir / "fingerprint.json").is_file():
        model, tokenizer = load_reward_model(config.backbone, seed=config.seed,
                                             dropout=config.train.dropout)
        fingerprint = state_fingerprint(model.state_dict())
        model.save_pretrained(str(init_dir))
        tokenizer.save_pretrained(str(init_dir))
        write_json(init_dir / "fingerprint.json", {"sha256": fingerprint,
                                                   "backbone": config.backbone,
                                                   "seed": config.seed})
        del model
    return json.loads((init_dir / "fingerprint.json").read_text())["sha256"]


def repeat_config(config: WarmConfig, r: int) -> WarmConfig:
    """Repeat r's config: seed + r (M + 1) (so no member seed repeats across repeats),
    one repeat. The data stay those of --seed; the shared init, the corrupted rankings,
    the members' seeds (and drawn lr, dropout) follow the repeat's seed."""
    return replace(config, seed=config.seed + r * (config.members + 1), repeats=1)


def repeat_dir(run_dir, r: int) -> Path:
    """Repeat r's folder: DIR/repeats/rR."""
    return Path(run_dir) / "repeats" / f"r{r}"


def repeat_data(config: WarmConfig, data: dict) -> dict:
    """The run's data with the repeat's training rankings per noise level
    (``noisy[label]``) and the indices of the corrupted ones (``corrupted[label]``)."""
    out = dict(data, noisy={}, corrupted={})
    for p in config.noise:
        out["noisy"][noise_label(p)], out["corrupted"][noise_label(p)] = corrupt_rankings(
            data["train"], p, seed=config.seed)
    return out


def _write_data(run_dir: Path, data: dict) -> None:
    """REPEAT/data: the evaluation sets and one training file per noise level."""
    from rcollapse.empirical.data import write_jsonl

    write_jsonl(run_dir / "data" / "val.jsonl", data["val"])
    write_jsonl(run_dir / "data" / "held_out.jsonl", data["held_out"])
    if data["shift"] is not None:
        write_jsonl(run_dir / "data" / "shift.jsonl", data["shift"])
        write_json(run_dir / "data" / "pool.json", data["pool"], indent=None)
    for label, examples in data["noisy"].items():
        write_jsonl(run_dir / "data" / f"train_{label}.jsonl", examples)


def _check_shared_init(config: WarmConfig, run_dir: Path, fingerprint: str) -> None:
    """Refuse members whose starting weights (loaded as train() will load them) would not
    be the shared initialization."""
    import torch

    from rcollapse.empirical.model import load_reward_model

    # the noise levels share the same member configs apart from the data file
    for i, tc in enumerate(member_train_configs(config, run_dir, config.noise[0])):
        tc.validate()
        torch.manual_seed(12345)
        model, _ = load_reward_model(tc.backbone, seed=tc.seed, dropout=tc.dropout)
        got = state_fingerprint(model.state_dict())
        del model
        if got != fingerprint:
            raise WarmInputError(
                f"member {i} (seed {tc.seed}) would not start from the shared "
                f"initialization {run_dir / 'init'} (weights differ); members must share "
                "the architecture and the initialization")


def prepare_run(config: WarmConfig, out_dir, *, resume: bool = False) -> dict:
    """Check every input, then write the config, and per repeat the data and (unless
    --freeze) the shared initialization.

    Everything that can be refused is refused here, before any training: M < 2 and other
    bad values, an existing DIR without ``resume``, a missing DIR (or a different
    config) with ``resume``, a backbone that cannot load, and members whose starting
    weights would not be the shared initialization. Returns the prepared data.
    """
    run_dir = Path(out_dir)
    if not resume:
        check_output_dir(run_dir, flag="--out", must_not_exist=True)
    if config is None:
        raise WarmInputError("a WarmConfig is needed unless resuming")
    data = _checked_data(config)
    _write_config(config, run_dir)
    for r in range(config.repeats):
        cfg, rdir = repeat_config(config, r), repeat_dir(run_dir, r)
        _write_data(rdir, repeat_data(cfg, data))
        if not config.train.freeze:
            _check_shared_init(cfg, rdir, _write_init(cfg, rdir))
    return data


def _run_repeat(config: WarmConfig, run_dir: Path, r: int, data: dict, table, *,
                progress: bool) -> list[dict]:
    """Repeat r: train, combine and evaluate at each noise level; its results are saved
    as REPEAT/results.json (a resume reads them back)."""
    cfg, rdir = repeat_config(config, r), repeat_dir(run_dir, r)
    saved = rdir / "results.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    data_r = repeat_data(cfg, data)
    if config.train.freeze:
        from rcollapse.empirical.warm_heads import evaluate_heads, train_head_members

        results = []
        for p in config.noise:
            states = train_head_members(cfg, rdir, p, data_r["noisy"][noise_label(p)], table)
            results.append(evaluate_heads(cfg, rdir, p, states, data_r, table,
                                          progress=progress))
    else:
        import torch

        dirs = train_members(cfg, rdir, progress=progress)
        torch.set_num_threads(threads_per_job(1))
        results = [evaluate_condition(cfg, rdir, p, d, data_r, progress=progress,
                                      time_inference=(k == 0 and r == 0))
                   for k, (p, d) in enumerate(zip(config.noise, dirs))]
    write_json(saved, results)
    return json.loads(saved.read_text())


def run_warm(config: WarmConfig | None, out_dir, *, resume: bool = False,
             progress: bool = True) -> dict:
    """The whole experiment: check, prepare, then per repeat train the members, combine,
    evaluate; then the report over the repeats, with the four claims.

    ``resume``: continue the run in ``out_dir`` (finished repeats and members are kept, an
    unfinished fine-tuned member resumes from its checkpoint); ``config`` None means the
    saved one.

    Returns the report (also saved as DIR/report.json with DIR/report.md). It draws
    nothing: ``figures.warm.draw_run_plots(report, DIR)`` draws lmc.png and best_of_n.png
    from it (``rcollapse warm`` does)."""
    run_dir = Path(out_dir)
    config = resolve_config(config, run_dir, resume=resume)
    data = prepare_run(config, run_dir, resume=resume)
    table = None
    if config.train.freeze:
        from rcollapse.empirical.warm_heads import embed_run

        table = embed_run(config, data, progress=progress)
    results = [_run_repeat(config, run_dir, r, data, table, progress=progress)
               for r in range(config.repeats)]
    report = build_report(config, results)
    write_json(run_dir / "report.json", report)
    atomic_write_text(run_dir / "report.md", report_markdown(report))
    return report
