"""``diagnose``: has this reward model collapsed, and onto which utility's optimum?

Theorem 1 (Song et al. 2023): near the maximum of (1) every prompt gets the same sorted
rewards, the optimum r* of (5) for U at its n. From each prompt's rewards, listed in the
ranking's order (best first), a diagnosis measures:

- per prompt: the profile s = (r - min r) / (max r - min r) (a prompt whose rewards are
  all equal gets s = 1/2 everywhere, the flat profile of ``monitor``), the raw spread
  max r - min r and mean;
- ``collapse_index``: the mean W1 between two prompts' normalized reward distributions
  (over up to ``MAX_PAIRS`` random pairs of prompts, quantile functions on a grid of at
  most ``QUANTILE_GRID`` levels), divided by its mean over ``SHUFFLES`` shufflings that
  pool every normalized reward and deal them back to prompts of the same sizes: 0 when
  every prompt is identical, about 1 when prompts are no more alike than random draws;
- ``open_vs_closed`` (prompts with a type): ``monitor.collapse_metrics``' W1 between the
  types' mean profiles, its ceiling (the same at the reference U's optima: ``--utility``
  when prompt-aware, else the paper's prompt-aware rule) and a fit per type;
- ``accuracy`` over all i < j pairs (ties 1/2) and ``end_ties``: the share of prompts whose
  two highest (lowest) normalized rewards are within ``END_TIE``;
- ``fit``: ``diagnose_fit.fit_utility``, the U whose optimum best explains the profiles,
  with a bootstrap interval over prompts; ``utility_check`` with ``utility``: the W1 to
  that U's optimum, against flat rewards' (``monitor.COLLAPSE_FRACTION``);
- ``calibration`` on the pairs i < j of each ranking (i preferred), on the raw scale (a
  model's logit, or the scores as given): Brier score of p = sigmoid(r_i - r_j)
  (Bradley-Terry), ECE over ``ECE_BINS`` equal bins of p with each pair counted in both
  orders (p with outcome 1, 1 - p with outcome 0), the margin histogram
  (``MARGIN_BINS`` bins), and Pearson and Spearman correlations of reward with completion
  length in words (when completions are known).

A model (a local ``AutoModelForSequenceClassification`` directory with one label, or a run
directory of ``rcollapse train``) is scored as its logit z; rewards are sigmoid(z), the
scale of (5), and the logit scale gets its own fit (``logit_fit``, no bootstrap).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rcollapse.empirical.data import DataError, RankingExample, load_jsonl, read_json_lines
from rcollapse.empirical.diagnose_fit import OptimumCache, fit_utility
from rcollapse.empirical.losses import PROMPT_AWARE, prompt_utility, validate_utility
from rcollapse.empirical.monitor import (APART_FRACTION, COLLAPSE_FRACTION, MIN_CEILING,
                                         collapse_metrics, w1_to_optimum)

__all__ = ["Diagnosis", "ScoredPrompt", "diagnose", "load_scores", "normalized_profile",
           "score_model"]

ECE_BINS = 10
MARGIN_BINS = 20
END_TIE = 0.01
SHUFFLES = 20
MAX_PAIRS = 5000
QUANTILE_GRID = 360
_SCORE_KEYS = {"prompt", "rewards", "type", "completions", "open_endedness"}


@dataclass
class ScoredPrompt:
    """One prompt's rewards, best-ranked completion first (``logits`` for a model)."""

    prompt: str
    rewards: np.ndarray
    prompt_type: str | None = None
    completions: list | None = None
    open_endedness: float | None = None
    logits: np.ndarray | None = None


def _finite_list(value, where: str, field_name: str) -> np.ndarray:
    if not isinstance(value, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value):
        raise DataError(f"{where}: field '{field_name}': expected a list of finite numbers")
    return np.asarray(value, dtype=float)


def _scored_from_object(obj, where: str) -> ScoredPrompt:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - _SCORE_KEYS)
    if unknown:
        raise DataError(f"{where}: field '{unknown[0]}': unknown; valid: {sorted(_SCORE_KEYS)}")
    for key in ("prompt", "rewards"):
        if key not in obj:
            raise DataError(f"{where}: field '{key}': missing")
    if not isinstance(obj["prompt"], str):
        raise DataError(f"{where}: field 'prompt': expected a string")
    rewards = _finite_list(obj["rewards"], where, "rewards")
    if len(rewards) < 2:
        raise DataError(f"{where}: field 'rewards': {len(rewards)} value(s); valid: n >= 2")
    kind = obj.get("type")
    if kind not in (None, "open", "closed"):
        raise DataError(f"{where}: field 'type': {kind!r}; valid: 'open' or 'closed'")
    comps = obj.get("completions")
    if comps is not None and (not isinstance(comps, list) or len(comps) != len(rewards)
                              or not all(isinstance(c, str) for c in comps)):
        raise DataError(f"{where}: field 'completions': expected {len(rewards)} strings, "
                        "one per reward")
    s = obj.get("open_endedness")
    if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or not -1 <= s <= 1):
        raise DataError(f"{where}: field 'open_endedness': {s!r}; valid: a number in [-1, 1]")
    return ScoredPrompt(obj["prompt"], rewards, kind, comps, s)


def load_scores(path) -> list[ScoredPrompt]:
    """Read a scores JSONL: one prompt a line, ``{"prompt", "rewards": [best, ..., worst],
    "type" (optional), "completions" (optional), "open_endedness" (optional)}``. Raises
    ``DataError`` naming file, line and field."""
    p = Path(path)
    out = [_scored_from_object(obj, f"{p}:{lineno}")
           for lineno, obj in read_json_lines(p, flag="--rewards")]
    if not out:
        raise DataError(f"{p}: no prompts; valid: at least 1 line")
    return out


def model_directory(path) -> Path:
    """The model folder of a local HF model directory or of a ``rcollapse train`` run."""
    p = Path(path)
    if (p / "model" / "config.json").is_file():
        return p / "model"
    if not (p / "config.json").is_file():
        raise DataError(f"--model {p}: no config.json here or in {p / 'model'}; valid: a local "
                        "Hugging Face model directory or a run directory of rcollapse train")
    return p


def score_model(model_dir, examples, *, batch_size: int = 64, max_length: int = 256,
                progress: bool = True) -> list[ScoredPrompt]:
    """Score every completion with a one-label sequence classifier: logit z, reward
    sigmoid(z). ``progress`` shows a bar on stderr."""
    from tqdm import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rcollapse.empirical.model import reward_logits

    from transformers.utils import logging as hf_logging

    path = model_directory(model_dir)
    bars = hf_logging.is_progress_bar_enabled()
    if not progress:  # transformers' own bar (loading weights) too
        hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForSequenceClassification.from_pretrained(str(path))
    except Exception as err:  # noqa: BLE001 - any load failure is the user's folder
        raise DataError(f"--model {model_dir}: cannot load ({type(err).__name__}: "
                        f"{(str(err).splitlines() or [''])[0]})") from None
    finally:
        if bars and not progress:
            hf_logging.enable_progress_bar()
    if model.config.num_labels != 1:
        raise DataError(f"--model {model_dir}: num_labels = {model.config.num_labels}; valid: 1 "
                        "(a reward head)")
    texts = [(ex.prompt, c) for ex in examples for c in ex.completions]
    logits = []
    with tqdm(total=len(texts), desc="scoring", unit="completion", disable=not progress) as bar:
        for start in range(0, len(texts), 4 * batch_size):
            chunk = texts[start:start + 4 * batch_size]
            logits.append(reward_logits(model, tokenizer, chunk, batch_size=batch_size,
                                        max_length=max_length))
            bar.update(len(chunk))
    flat = np.concatenate(logits)
    out, k = [], 0
    for ex in examples:
        z = flat[k:k + ex.n]
        k += ex.n
        out.append(ScoredPrompt(ex.prompt, 1 / (1 + np.exp(-z)), ex.prompt_type,
                                list(ex.completions), ex.open_endedness, z))
    return out


def normalized_profile(rewards) -> np.ndarray:
    """(r - min r) / (max r - min r), in the given order; all 1/2 when r is constant.

    >>> normalized_profile([3.0, 2.0, 1.0]).tolist()
    [1.0, 0.5, 0.0]
    """
    r = np.asarray(rewards, dtype=float)
    spread = r.max() - r.min()
    return np.full(len(r), 0.5) if spread == 0 else (r - r.min()) / spread


def _quantiles(profiles, grid: int) -> np.ndarray:
    """Each profile's quantile function (sorted high to low) at ``grid`` levels."""
    out = np.empty((len(profiles), grid))
    for i, s in enumerate(profiles):
        s = np.sort(s)[::-1]
        idx = np.minimum((np.arange(grid) + 0.5) * len(s) // grid, len(s) - 1).astype(int)
        out[i] = s[idx]
    return out


def collapse_index(profiles, *, seed: int = 0, shuffles: int = SHUFFLES) -> dict:
    """Mean pairwise W1 of the prompts' normalized rewards over its mean under shuffling."""
    P = len(profiles)
    if P < 2:
        return {"index": None, "mean_pairwise_w1": None, "reason": "fewer than 2 prompts"}
    grid = min(math.lcm(*sorted({len(s) for s in profiles})), QUANTILE_GRID)
    rng = np.random.default_rng(seed)
    m = min(MAX_PAIRS, P * (P - 1) // 2)
    a = rng.integers(0, P, m)
    b = (a + rng.integers(1, P, m)) % P  # a != b

    def mean_w1(profs):
        Q = _quantiles(profs, grid)
        return float(np.abs(Q[a] - Q[b]).mean())

    observed = mean_w1(profiles)
    sizes = np.cumsum([len(s) for s in profiles])[:-1]
    pool = np.concatenate(profiles)
    null = [mean_w1([normalized_profile(x) for x in np.split(rng.permutation(pool), sizes)])
            for _ in range(shuffles)]
    mean_null = float(np.mean(null))
    return {"index": observed / mean_null if mean_null > 0 else None,
            "mean_pairwise_w1": observed, "shuffled_mean": mean_null,
            "shuffled_sd": float(np.std(null)), "shuffles": shuffles, "pairs": m}


def ranking_stats(prompts) -> dict:
    """Pairwise accuracy (ties 1/2) over all i < j pairs, and ties at the ends."""
    wins, total, top, bottom = 0.0, 0, 0, 0
    for p in prompts:
        r = p.rewards
        d = r[:, None] - r[None, :]
        upper = np.triu_indices(len(r), 1)
        wins += float((d[upper] > 0).sum() + 0.5 * (d[upper] == 0).sum())
        total += len(upper[0])
        s = np.sort(normalized_profile(r))
        top += bool(s[-1] - s[-2] <= END_TIE)
        bottom += bool(s[1] - s[0] <= END_TIE)
    P = len(prompts)
    return {"accuracy": wins / total, "pairs": total,
            "end_ties": {"tolerance": END_TIE, "top": top / P, "bottom": bottom / P}}


def _pair_margins(prompts, scale: str) -> np.ndarray:
    out = []
    for p in prompts:
        r = p.logits if scale == "logit" else p.rewards
        i, j = np.triu_indices(len(r), 1)
        out.append(r[i] - r[j])
    return np.concatenate(out)


def calibration(prompts, *, scale: str) -> dict:
    """Bradley-Terry calibration of p = sigmoid(r_i - r_j) on the ranked pairs."""
    d = _pair_margins(prompts, scale)
    p = 1 / (1 + np.exp(-d))
    probs = np.concatenate([p, 1 - p])
    outcome = np.concatenate([np.ones_like(p), np.zeros_like(p)])
    edges = np.linspace(0, 1, ECE_BINS + 1)
    which = np.clip(np.digitize(probs, edges) - 1, 0, ECE_BINS - 1)
    bins, ece = [], 0.0
    for k in range(ECE_BINS):
        mask = which == k
        if mask.any():
            conf, acc = float(probs[mask].mean()), float(outcome[mask].mean())
            ece += mask.mean() * abs(acc - conf)
            bins.append({"low": float(edges[k]), "high": float(edges[k + 1]), "confidence": conf,
                         "accuracy": acc, "count": int(mask.sum())})
    counts, hedges = np.histogram(d, bins=MARGIN_BINS)
    return {"scale": scale, "pairs": len(d), "bins": ECE_BINS, "ece": float(ece),
            "brier": float(np.mean((1 - p) ** 2)), "reliability": bins,
            "margin_histogram": {"edges": hedges.tolist(), "counts": counts.tolist()},
            "length_correlation": _length_correlation(prompts, scale)}


def _length_correlation(prompts, scale: str) -> dict | None:
    if any(p.completions is None for p in prompts):
        return None
    from scipy.stats import pearsonr, spearmanr

    r = np.concatenate([p.logits if scale == "logit" else p.rewards for p in prompts])
    words = np.array([len(c.split()) for p in prompts for c in p.completions], dtype=float)
    if np.ptp(words) == 0 or np.ptp(r) == 0:
        return {"pearson": None, "spearman": None, "completions": len(r)}
    return {"pearson": float(pearsonr(r, words)[0]), "spearman": float(spearmanr(r, words)[0]),
            "completions": len(r)}


def _specs(prompts, utility: str) -> list[str]:
    """Each prompt's U under ``utility`` (a spec or a prompt-aware rule)."""
    return [prompt_utility(p, utility) for p in prompts]


def utility_check(profiles, prompts, utility: str) -> dict:
    """How far the profiles are from the collapse ``utility`` predicts: the mean W1 to
    each prompt's optimum of (5), against flat rewards' (``monitor.COLLAPSE_FRACTION``)."""
    specs = _specs(prompts, utility)
    w1 = float(np.mean([w1_to_optimum(s, u) for s, u in zip(profiles, specs)]))
    flat = float(np.mean([w1_to_optimum(np.full(len(s), 0.5), u) for s, u in zip(profiles, specs)]))
    return {"utility": utility, "w1_to_optimum": w1, "w1_flat_to_optimum": flat,
            "relative_w1": w1 / flat, "collapse_fraction": COLLAPSE_FRACTION,
            "collapsed": w1 / flat <= COLLAPSE_FRACTION}


def open_vs_closed(profiles, prompts, *, utility: str | None, bootstrap: int, seed: int,
                   cache: OptimumCache) -> dict | None:
    """W1 between the open and closed prompts' mean profiles, its ceiling at the
    reference U's optima (``monitor.collapse_metrics``), and a fit per type."""
    typed = [i for i, p in enumerate(prompts) if p.prompt_type is not None]
    kinds = {prompts[i].prompt_type for i in typed}
    if kinds != {"open", "closed"}:
        return None
    reference = utility if utility in PROMPT_AWARE else "prompt-aware"
    sub = [prompts[i] for i in typed]
    if reference == "prompt-aware-dial" and any(
            p.open_endedness is None and p.prompt_type is None for p in sub):
        reference = "prompt-aware"
    m = collapse_metrics([profiles[i] for i in typed], _specs(sub, reference),
                         [p.prompt_type for p in sub], suffix="all")
    apart, ceiling = m["w1_open_vs_closed_all"], m["w1_open_vs_closed_optimum_all"]
    fits = {t: fit_utility([profiles[i] for i in typed if prompts[i].prompt_type == t],
                           bootstrap=bootstrap, seed=seed, cache=cache) for t in ("open", "closed")}
    o, c = fits["open"], fits["closed"]
    disjoint = (o["interval"] is not None and c["interval"] is not None
                and o["coordinate"] == c["coordinate"]
                and (o["interval"][1] < c["interval"][0] or c["interval"][1] < o["interval"][0]))
    return {"w1_open_vs_closed": apart, "ceiling": ceiling, "reference": reference,
            "apart_fraction": apart / ceiling if ceiling >= MIN_CEILING else None,
            "kept_apart": apart / ceiling >= APART_FRACTION if ceiling >= MIN_CEILING else None,
            "fits": {t: _short_fit(f) for t, f in fits.items()},
            "fits_differ": bool(o["coordinate"] != c["coordinate"] or disjoint)}


def _short_fit(fit: dict) -> dict:
    keys = ("spec", "family", "coordinate", "parameter", "interval", "interval_specs", "w1",
            "aligned_w1", "runner_up")
    return {k: fit[k] for k in keys}


@dataclass
class Diagnosis:
    """The result of ``diagnose``; ``to_json()`` is report.json."""

    source: str
    scale: str
    collapse_index: dict
    open_vs_closed: dict | None
    fit: dict
    calibration: dict
    ranking: dict
    prompts: list
    optima: dict
    utility_check: dict | None = None
    logit_fit: dict | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        from rcollapse.outputs import to_jsonable

        return to_jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


def _as_prompts(scores_or_model, data, *, batch_size, progress):
    """ScoredPrompts from a scores file, a model folder (with ``data``), a list of
    ScoredPrompts, a list of per-prompt rewards, or one flat array split by ``data``'s n."""
    if isinstance(scores_or_model, (str, Path)):
        p = Path(scores_or_model)
        if p.is_dir():
            if data is None:
                raise DataError(f"--model {p}: needs --data FILE (the rankings to score)")
            model_directory(p)  # refuse a folder without a model before reading the data
            examples = load_jsonl(data, min_prompts=1) if isinstance(data, (str, Path)) else list(data)
            return score_model(p, examples, batch_size=batch_size, progress=progress), f"model {p}"
        return load_scores(p), f"scores {p}"
    items = list(scores_or_model)
    if items and isinstance(items[0], ScoredPrompt):
        return items, "scored prompts"
    examples = list(data) if data is not None else None
    if items and np.ndim(items[0]) == 0:  # one flat array: split by the examples' n
        flat = np.asarray(items, dtype=float).ravel()
        if examples is None or sum(ex.n for ex in examples) != len(flat):
            raise ValueError(f"{len(flat)} flat scores: valid: data with as many completions")
        sizes = np.cumsum([ex.n for ex in examples])[:-1]
        items = np.split(flat, sizes)
    if examples is not None and len(examples) != len(items):
        raise ValueError(f"{len(items)} prompts of scores for {len(examples)} examples")
    out = []
    for i, r in enumerate(items):
        ex: RankingExample | None = examples[i] if examples is not None else None
        out.append(ScoredPrompt(ex.prompt if ex else f"prompt {i}", np.asarray(r, dtype=float),
                                ex.prompt_type if ex else None,
                                list(ex.completions) if ex else None,
                                ex.open_endedness if ex else None))
    return out, "rewards"


def _prompt_rows(prompts, profiles, fit_spec, cache) -> list[dict]:
    rows = []
    for p, s in zip(prompts, profiles):
        row = {"prompt": p.prompt[:200], "n": len(s), "type": p.prompt_type,
               "spread": float(np.ptp(p.rewards)), "mean": float(p.rewards.mean()),
               "profile": s, "w1_to_fit": float(np.abs(s - cache.rewards(fit_spec, len(s))).mean())}
        if p.logits is not None:
            row.update(logit_spread=float(np.ptp(p.logits)), logit_mean=float(p.logits.mean()))
        rows.append(row)
    return rows


def diagnose(scores_or_model, data=None, *, utility: str | None = None, bootstrap: int = 200,
             seed: int = 0, progress: bool = False, batch_size: int = 64) -> Diagnosis:
    """Diagnose reward collapse (Theorem 1) from scores or a model; see the module doc.

    >>> d = diagnose([[1.0, 0.7, 0.3, 0.0], [2.0, 1.4, 0.6, 0.0]], bootstrap=0)
    >>> d.collapse_index["index"], d.ranking["accuracy"]
    (0.0, 1.0)
    """
    if not isinstance(bootstrap, int) or isinstance(bootstrap, bool) or not 0 <= bootstrap <= 100000:
        raise ValueError(f"--bootstrap {bootstrap!r}: valid: an integer in [0, 100000]")
    if utility is not None:
        utility = validate_utility(utility)
    start = time.perf_counter()
    prompts, source = _as_prompts(scores_or_model, data, batch_size=batch_size, progress=progress)
    if not prompts:
        raise ValueError("no prompts; valid: at least 1 prompt with n >= 2")
    profiles = [normalized_profile(p.rewards) for p in prompts]
    cache = OptimumCache()
    fit = fit_utility(profiles, bootstrap=bootstrap, seed=seed, cache=cache)
    logit_fit = None
    if all(p.logits is not None for p in prompts):
        logit_fit = _short_fit(fit_utility([normalized_profile(p.logits) for p in prompts],
                                           bootstrap=0, seed=seed, cache=cache))
    ns = sorted({len(s) for s in profiles})
    return Diagnosis(
        source=source, scale="sigmoid(logit)" if logit_fit else "as given",
        collapse_index=collapse_index(profiles, seed=seed),
        open_vs_closed=open_vs_closed(profiles, prompts, utility=utility, bootstrap=bootstrap,
                                      seed=seed, cache=cache),
        fit=fit, calibration=calibration(prompts, scale="logit" if logit_fit else "as given"),
        ranking=ranking_stats(prompts), prompts=_prompt_rows(prompts, profiles, fit["spec"], cache),
        optima={str(n): cache.rewards(fit["spec"], n) for n in ns},
        utility_check=None if utility is None else utility_check(profiles, prompts, utility),
        logit_fit=logit_fit, seconds=time.perf_counter() - start)
