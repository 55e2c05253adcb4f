"""WARM (Ramé et al. 2024): weight averaging, greedy soups, linear mode connectivity,
best-of-N, and the ``rcollapse warm`` command end to end at tiny scale."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rcollapse.empirical.soup import (  # noqa: E402
    ArchitectureMismatchError,
    average_state_dicts,
    best_of_n,
    greedy_soup,
    interpolate_state_dicts,
    loss_barrier,
    state_fingerprint,
)


def _tiny_bert(seed: int, hidden: int = 16):
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(vocab_size=64, hidden_size=hidden, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32,
                                  max_position_embeddings=32, num_labels=1)
    return transformers.AutoModelForSequenceClassification.from_config(cfg)


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_average_is_the_mean_of_every_floating_tensor_and_loads_back():
    members = [_state(_tiny_bert(seed)) for seed in (1, 2, 3)]
    avg = average_state_dicts(members)
    assert set(avg) == set(members[0])
    for key, value in avg.items():
        if value.is_floating_point():
            expected = torch.stack([m[key].double() for m in members]).mean(0).to(value.dtype)
            torch.testing.assert_close(value, expected, rtol=0, atol=1e-7)
            assert not torch.equal(value, members[0][key]) or torch.equal(members[0][key], members[1][key])
        else:
            assert torch.equal(value, members[0][key])
    model = _tiny_bert(0)
    model.load_state_dict(avg)  # strict: every tensor present, right shapes


def test_interpolation_endpoints_are_the_members():
    a, b = _state(_tiny_bert(1)), _state(_tiny_bert(2))
    for key in a:
        torch.testing.assert_close(interpolate_state_dicts(a, b, 0.0)[key], a[key])
        torch.testing.assert_close(interpolate_state_dicts(a, b, 1.0)[key], b[key])


def test_members_of_another_architecture_are_refused_in_one_line():
    a, b = _state(_tiny_bert(1)), _state(_tiny_bert(2, hidden=8))
    with pytest.raises(ArchitectureMismatchError, match="does not share the architecture") as err:
        average_state_dicts([a, b])
    assert "\n" not in str(err.value)


def test_integer_buffers_must_agree():
    a = {"w": torch.zeros(2), "ids": torch.tensor([0, 1])}
    b = {"w": torch.ones(2), "ids": torch.tensor([1, 0])}
    with pytest.raises(ArchitectureMismatchError, match="integer buffer ids"):
        average_state_dicts([a, b])


def test_fingerprint_tells_initializations_apart():
    assert state_fingerprint(_state(_tiny_bert(1))) == state_fingerprint(_state(_tiny_bert(1)))
    assert state_fingerprint(_state(_tiny_bert(1))) != state_fingerprint(_state(_tiny_bert(2)))


def test_loss_barrier():
    lam = np.linspace(0, 1, 11)
    assert loss_barrier(lam, 1 + lam) == pytest.approx(0.0, abs=1e-12)       # a straight line
    bump = 1 + 0.3 * np.sin(np.pi * lam)
    assert loss_barrier(lam, bump) == pytest.approx(0.3)
    assert loss_barrier(lam, 1 - 0.3 * np.sin(np.pi * lam)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="non-finite"):
        loss_barrier([0, 0.5, 1], [1, float("nan"), 1])


def test_greedy_soup_keeps_members_that_do_not_hurt():
    members = [{"w": torch.tensor([float(v)])} for v in (0.0, 10.0, 1.0)]
    # utility peaks at w = 0.5: the best-accuracy member (0.0) first, then 1.0 helps
    # (average 0.5), 10.0 hurts and is left out.
    soup, record = greedy_soup(members, accuracy=[0.9, 0.5, 0.8],
                               utility=lambda sd: -abs(float(sd["w"]) - 0.5))
    assert record.order == [0, 2, 1]
    assert record.kept == [0, 2]
    assert float(soup["w"]) == pytest.approx(0.5)


def test_best_of_n_perfect_and_reversed_scorers():
    rng = np.random.default_rng(0)
    true = rng.uniform(10, 80, size=(5, 32))
    ns = [1, 2, 4, 8, 16, 32]
    perfect = best_of_n(true, true, ns)
    reversed_ = best_of_n(-true, true, ns)
    constant = best_of_n(np.zeros_like(true), true, ns)
    assert perfect["picked"] == pytest.approx(perfect["oracle"])
    assert np.all(np.diff(perfect["picked"]) > 0)
    assert np.all(np.diff(reversed_["picked"]) < 0)
    # a constant score picks at random (ties broken at random): about the random mean
    assert constant["picked"][-1] == pytest.approx(true.mean(), rel=0.05)
    assert perfect["picked"][0] == pytest.approx(perfect["random"][0])
