"""Theorem 1 (reward collapse, Song, Cai, Lee, Su 2023), watched in a model that can fit
anything: ``empirical.random_features`` (r = sigmoid(theta . phi), 1024 random features
for 2 x 8 prompts x 8 completions = 128 rewards), trained by gradient ascent, then
L-BFGS, on the overall utility (1) over prompts of two kinds.

Theorem 1: U strictly increasing and mu-strongly concave; a model whose overall utility
is within eps of |D| S(r*) has, for every prompt, sorted rewards within C(eps) of r*.
Checked per prompt p, with delta_p = S(r*) - S(sorted r_p) (S recomputed in the test):

- delta_p >= -1e-9 sum|U|: no prompt beats the optimum r* of (5) from ``solvers.solve``;
- the strong-concavity bound behind C(eps): with d = sorted r_p - r*,
  n |d - mean(d)|^2 <= 2 delta_p / mu (S is concave and r* satisfies the KKT conditions,
  so S(r) <= S(r*) - (mu/2) sum_{i<j} (d_i - d_j)^2, and the sum equals n |d - mean d|^2);
- collapse: max |sorted r_p - r*| <= 0.01 for every prompt, whatever its kind (measured
  after 2000 gradient steps and the L-BFGS polish, over power:0.05, 0.6, log,
  neg-power:0.2, 3, log-sigmoid:0.2, 3 and 3 seeds each: at most 2.2e-7; before the polish
  was added, 2.3e-3, and log-sigmoid:0.5 at seed 335 stalled at 0.036).

Prompt-aware utility (section 3.2): closed-ended prompts use U = x, open-ended ones
U = -1/x; each kind ends at its own optimum: (1,1,1,1,0,0,0,0) and r*(neg-power:1),
which are 0.42 apart. U = x is not strongly concave and the sigmoid saturates, so by
gradient steps alone its prompts approach the endpoints only like 1/(step size x steps)
(sup distance over 8 seeds 0.0095 to 0.0164 after 8000 steps); with the L-BFGS polish,
at most 4.3e-14 (closed) and 1.3e-8 (open) over seeds 0..7. The tolerances stay 0.03
for the closed-ended prompts and 0.01 for the open-ended ones.

Known limit (the thorough profile finds it): a reward driven deep into the sigmoid's
saturation early on (r ~ 1e-17) has no gradient left, and neither gradient steps nor
L-BFGS bring it back: log-sigmoid:1.5 at seed 0 and the prompt-aware run at seed 295
end with one reward of one prompt at 0 instead of 0.11 (resp. 1). That is a trainer
that did not reach Theorem 1's premise (utility within eps of the maximum), not a
counterexample; the strong-concavity bound checked above still holds there.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, note, settings
from hypothesis import strategies as st

import properties as P
from strategies import examples

from rcollapse.empirical.random_features import RandomFeatureConfig, train, training_floor
from rcollapse.solvers import solve
from rcollapse.theory.utilities import parse_utility

N = 8
COLLAPSE_EPS = 0.01
CLOSED_EPS = 0.03
STEPS = 2000
AWARE_STEPS = 8000


def _optimum(U, n):
    r_star = solve(U, n).rewards
    floor = training_floor(n)
    if U.dU0 is None:  # U continued below the floor in training: r* must lie above it
        assert np.min(-np.diff(r_star)) >= floor, f"{U.spec}: r* has a gap below the floor {floor}"
    return r_star


@st.composite
def strongly_concave_utilities(draw):
    """Strongly concave U whose r* at n = 8 keeps every gap above the training floor."""
    family = draw(st.sampled_from(["power", "neg-power", "log", "log-sigmoid"]))
    if family == "log":
        return parse_utility("log")
    low, high = {"power": (0.05, 0.6), "neg-power": (0.2, 3.0), "log-sigmoid": (0.2, 3.0)}[family]
    value = round(draw(st.floats(min_value=low, max_value=high)), 2)
    return parse_utility(f"{family}:{value}")


@settings(deadline=None, max_examples=examples(3))
@given(U=strongly_concave_utilities(), seed=st.integers(min_value=0, max_value=1000))
@example(U=parse_utility("log-sigmoid:1"), seed=0)
@example(U=parse_utility("power:0.5"), seed=0)
@example(U=parse_utility("log"), seed=0)
@example(U=parse_utility("neg-power:1"), seed=0)
def test_every_prompt_collapses_to_the_optimum(U, seed):
    """Theorem 1: "any model whose overall utility is within eps of |D| S(r*) has, for every
    prompt, its sorted rewards within C(eps) of r*" -- a random-feature model, two kinds
    of prompt, one U."""
    where = P.where(U.spec, N, seed=seed)
    note(where)
    assert U.strongly_concave, f"{where}: Theorem 1 needs a strongly concave U"
    r_star = _optimum(U, N)
    config = RandomFeatureConfig(n=N, steps=STEPS, seed=seed)
    rewards_to_fit = 2 * config.prompts_per_kind * N
    assert config.features >= 8 * rewards_to_fit, f"{where}: the model must have far more features than rewards"
    result = train(config, U)
    P.check_theorem_1(U, result.sorted_rewards(), r_star, where=where, eps=COLLAPSE_EPS)


@settings(deadline=None, max_examples=examples(1))
@given(seed=st.integers(min_value=0, max_value=1000))
@example(seed=0)
def test_prompt_aware_kinds_end_at_their_own_optima(seed):
    """Section 3.2 with Theorem 1: "prompt-aware training keeps open-ended prompts spread and
    closed-ended ones polarized" -- each kind collapses to the optimum of its own U."""
    closed, open_ = parse_utility("linear"), parse_utility("neg-power:1")
    where = P.where(f"({closed.spec}, {open_.spec})", N, seed=seed)
    note(where)
    r_closed, r_open = _optimum(closed, N), _optimum(open_, N)
    P.check_distinct(r_closed, r_open, where=where, min_dist=0.4)
    result = train(RandomFeatureConfig(n=N, steps=AWARE_STEPS, seed=seed), (closed, open_))
    rewards = result.sorted_rewards()
    P.check_collapse(rewards[result.kinds == 0], r_closed, where=where + " closed", eps=CLOSED_EPS)
    P.check_theorem_1(open_, rewards[result.kinds == 1], r_open, where=where + " open", eps=COLLAPSE_EPS)
