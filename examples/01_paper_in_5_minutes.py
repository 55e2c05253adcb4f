# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reward collapse in 5 minutes
#
# Song, Cai, Lee and Su (2023): a reward model trained on rankings maximizes, per prompt,
# the overall utility S(r) = sum over i < j of U(r_i - r_j), with rewards r in [0, 1]
# and r_i the reward of the completion ranked i-th. Near the end of training every
# prompt ends at the maximizer of
#
#     (5)  maximize  sum_{i<j} U(r_i - r_j)   s.t.  1 >= r_1 >= ... >= r_n >= 0,
#
# whatever the prompt says (Theorem 1, *reward collapse*). This notebook takes one
# utility through the package: the spec, the optimum of (5), its n = inf limit
# (Theorem 2), the paper's claims checked by `rcollapse verify`'s checks, and a figure.
#
# Every number below is computed here; the `assert` lines check the paper's claims with
# margins, so the test suite fails if the package ever stops reproducing them.

# %%
import json
import tempfile
from pathlib import Path

import numpy as np
from IPython.display import Image, display

from rcollapse import figures
from rcollapse import limits
from rcollapse.solvers import solve
from rcollapse.theory import ks_distance, limit_energy, limiting_measure, parse_utility, theorem4_bound
from rcollapse.verify import render_rows, run_checks

OUT = Path(tempfile.mkdtemp(prefix="rcollapse-example-01-"))  # figures go here, not in the repository

# %% [markdown]
# ## 1. A utility from its spec
#
# `power:0.5` is U(x) = x^(1/2), the paper's Class 1. The package writes U once, as a
# sympy expression, and derives U', U'' and the properties the theorems need.

# %%
U = parse_utility("power:0.5")
facts = U.describe()
print(U.spec, "  U(x) =", U.latex)
print({k: facts[k] for k in ("increasing", "strictly_concave", "dU0", "dU1")})
assert U.increasing and U.strictly_concave
assert U.dU0 is None  # U'(0+) = inf: no atoms in the limit (Theorem 4 does not apply)

# %% [markdown]
# ## 2. The optimum of (5) at the paper's n = 8
#
# `solve` returns a certified optimum: the KKT residual is recomputed on the returned
# vector. Lemma 4.1: the best reward is 1, the worst 0, and the optimum is symmetric,
# r_i + r_(n+1-i) = 1.

# %%
sol8 = solve(U, 8)
print(np.round(sol8.rewards, 6), " KKT residual", f"{sol8.kkt_residual:.1e}", " method", sol8.method)
assert sol8.kkt_residual <= 1e-9
assert sol8.rewards[0] == 1.0 and sol8.rewards[-1] == 0.0
assert np.max(np.abs(sol8.rewards + sol8.rewards[::-1] - 1)) < 1e-9

# %% [markdown]
# ## 3. Its limit as n -> inf (Theorem 2)
#
# For U = x^gamma the reward distribution tends to Beta((1 - gamma)/2, (1 - gamma)/2):
# here Beta(1/4, 1/4), derived symbolically from Lemma 4.5's constant-potential
# condition, not typed in. At n = 1000 the optimum's KS distance to it is at the floor
# that n points can reach (1/n), and the normalized optimum 2 S / (n (n - 1)) tends to
# Lemma 4.5's limit energy.

# %%
mu = limiting_measure(U)
n = 1000
sol = solve(U, n)
ks = ks_distance(sol.rewards, mu)
energy = 2 * sol.objective / (n * (n - 1))
print(f"{mu.describe()} ({mu.theorem});  KS at n = {n}: {ks:.2e}")
print(f"2 S / (n (n-1)) = {energy:.5f}  ->  limit energy {limit_energy(U):.5f}")
assert mu.describe() == "Beta(0.25, 0.25)"
assert ks <= 1.5 / n  # verify's tolerance; measured 1.0e-3
assert abs(energy - limit_energy(U)) <= 2 / n  # measured 6e-4

# %% [markdown]
# InstructGPT's utility, log sigmoid(x), behaves differently: U'(0) is finite, so the
# limit puts atoms at 0 and 1 (Theorem 4 bounds their mass from below; the n = inf
# solver of Theorem 5 gives it exactly, with a grid error estimate). A fixed U
# *polarizes* the rewards of every prompt.

# %%
ls = limits.limiting_measure("log-sigmoid:1")
mass, err = ls.atoms[1.0], ls.grid_error["atom_mass"]["error"]
bound = theorem4_bound("log-sigmoid:1")  # U'(1) / (U'(0) + U'(1))
print(f"log-sigmoid:1: {ls.describe()}")
print(f"atom mass {mass:.6f} (grid error {err:.0e}) >= Theorem 4's bound {bound:.6f}")
assert mass >= bound + 0.02  # 0.3834 against 0.3498
assert err < 1e-6

# %% [markdown]
# ## 4. The claims, checked by the `verify` registry
#
# `rcollapse verify` runs one registered check per claim; each row gives the claim, the
# prediction, the measurement and the tolerance fixed before the run. Here: Theorem 2's
# limit, Lemma 4.5's energy, Theorem 5's n = inf program against the closed form,
# Theorem 4's atoms for log sigmoid (Newton at n = 2000 against the n = inf solver), and
# Lemma 4.1 on CVXPY's solution (which imposes no symmetry). `rcollapse verify` runs all
# of them (`--list` names them).

# %%
rows = run_checks(only=["limit:power:0.5", "derivation-b:power:0.5", "thm5:power:0.5",
                        "lemma41:solver", "thm4:log-sigmoid:1"])
print(render_rows(rows))
assert [r.status for r in rows] == ["PASS"] * len(rows)

# %% [markdown]
# ## 5. A figure: the paper's Figure 2, regenerated
#
# Top row: the optimum of (5) at n = 8 for each family; bottom row: the rewards at
# n = 400 against the limit (atoms drawn as spikes). `figures.make` computes the data,
# caches it as JSON and writes PNG and PDF.

# %%
made = figures.make(figures.get("fig2"), out=OUT, quick=True)
png = next(p for p in made.paths if p.suffix == ".png")
display(Image(filename=str(png)))
assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

# %% [markdown]
# The last cell gathers the numbers; the test suite reads this line back.

# %%
summary = {
    "spec": U.spec, "n": n, "kkt_residual": sol.kkt_residual, "ks": ks, "limit": mu.describe(),
    "energy": energy, "limit_energy": limit_energy(U), "log_sigmoid_atom": mass,
    "theorem4_bound": bound,
    "checks": {r.name: r.status for r in rows}, "figure": str(png),
}
print("SUMMARY " + json.dumps(summary))
