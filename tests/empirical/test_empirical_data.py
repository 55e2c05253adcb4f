"""The ranking data: the built-in length dataset of section 5.2 and users' JSONL."""

import json
from pathlib import Path

import pytest

pytest.importorskip("dictionary")

from rcollapse.empirical.data import (CLOSED_LENGTHS, OPEN_LENGTHS, SUFFIXES, DataError,  # noqa: E402
                                      RankingExample, build_length_dataset, load_jsonl,
                                      max_prompts, split_examples, user_style_sample, write_jsonl)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_rankings.jsonl"


def test_length_dataset_follows_the_paper():
    examples = build_length_dataset(12, seed=0)
    assert len(examples) == 12
    for ex in examples:
        lengths = OPEN_LENGTHS if ex.prompt_type == "open" else CLOSED_LENGTHS
        # the true reward is the length in words, best (longest) first
        assert [len(c.split()) for c in ex.completions] == list(lengths)
        assert ex.true_rewards == [float(k) for k in lengths]
        assert ex.prompt.endswith(SUFFIXES[ex.prompt_type])
        # every response is a cut of the same reference answer
        longest = ex.completions[0]
        assert all(longest.startswith(c) for c in ex.completions)
        assert len(ex.pairs()) == 28
    assert {ex.prompt_type for ex in build_length_dataset(40, seed=0)} == {"open", "closed"}


def test_length_dataset_is_deterministic_and_splits_are_disjoint():
    a = build_length_dataset(10, seed=1)
    assert a == build_length_dataset(10, seed=1)
    assert a[:4] == build_length_dataset(4, seed=1)  # a prefix does not depend on the size
    assert a != build_length_dataset(10, seed=2)
    test = build_length_dataset(10, seed=1, split="test")
    words = lambda exs: {ex.prompt.split('"')[1] for ex in exs}  # noqa: E731
    assert not words(a) & words(test)


def test_the_builder_makes_the_papers_8192_plus_16_prompts_and_refuses_more_than_it_can():
    """Section 5.2: 8,192 training and 16 test questions, distinct, of both types."""
    train = build_length_dataset(8192, seed=0)
    assert len({ex.prompt for ex in train}) == 8192
    assert min(sum(ex.prompt_type == t for ex in train) for t in ("open", "closed")) > 3900
    assert max_prompts("train") >= 8192 and max_prompts("test") >= 16
    with pytest.raises(DataError, match=f"1 to {max_prompts('test')}"):
        build_length_dataset(max_prompts("test") + 1, seed=0, split="test")


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_length_dataset_refuses_bad_sizes(bad):
    with pytest.raises(DataError, match="n_prompts"):
        build_length_dataset(bad, seed=0)


def test_fixture_has_mixed_n_and_trl_pairs():
    examples = load_jsonl(FIXTURE)
    sizes = {ex.n for ex in examples}
    raw = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    assert any("chosen" in r for r in raw) and any("completions" in r for r in raw)
    assert 2 in sizes and len(sizes) >= 4
    pair = next(r for r in raw if "chosen" in r)
    ex = examples[raw.index(pair)]
    assert ex.completions == [pair["chosen"], pair["rejected"]]


def test_user_sample_round_trips(tmp_path):
    rows = user_style_sample(build_length_dataset(6, seed=0), seed=0, pair_fraction=0.5)
    path = tmp_path / "u.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = load_jsonl(path)
    assert len(examples) == 6
    write_jsonl(tmp_path / "v.jsonl", examples)
    assert load_jsonl(tmp_path / "v.jsonl") == examples


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    ('{"prompt": "p", "completions": ["only one"]}', "at least 2 completions"),
    ('{"prompt": "p", "chosen": "a"}', "both 'chosen' and 'rejected'"),
    ('{"completions": ["a", "b"]}', "missing 'prompt'"),
    ('{"prompt": "p", "completions": ["a", "b"], "type": "maybe"}', "type 'maybe'"),
    ('{"prompt": "p", "completions": ["a", "b"], "open_endedness": 3}', "open_endedness 3"),
    ('{"prompt": "p", "completions": ["a", 2]}', "must be strings"),
    ('{"prompt": "p", "answers": ["a", "b"]}', "expected"),
    ('[1, 2]', "expected a JSON object"),
    ('{"prompt": "p", "completions": ["a", "b"], "score": 1}', "unknown keys"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "data.jsonl"
    good = '{"prompt": "q", "completions": ["x", "y", "z"]}'
    path.write_text(f"{good}\n\n{line}\n{good}\n")
    with pytest.raises(DataError, match=message) as info:
        load_jsonl(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert "\n" not in str(info.value)


def test_fewer_than_two_prompts_is_refused(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"prompt": "q", "chosen": "x", "rejected": "y"}\n')
    with pytest.raises(DataError, match="1 prompt"):
        load_jsonl(path)
    with pytest.raises(DataError, match="no such file"):
        load_jsonl(tmp_path / "missing.jsonl")


def test_split_keeps_every_prompt_once():
    examples = [RankingExample(f"p{k}", ["a", "b"]) for k in range(25)]
    train, test = split_examples(examples, seed=0)
    assert len(test) >= 1 and len(train) >= 1
    assert sorted(e.prompt for e in train + test) == sorted(e.prompt for e in examples)
    two = split_examples(examples[:2], seed=0)
    assert (len(two[0]), len(two[1])) == (1, 1)
