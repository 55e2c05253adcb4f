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
# # Your own utility
#
# The paper's families (x^gamma, log x, -x^(-gamma), log sigmoid) are not the only
# choices: any increasing, strictly concave U on (0, 1] defines a training objective (1)
# and a collapse target, the optimum of (5). Here U(x) = 1 - exp(-c x) with c = 3 (an
# exponential utility), written as an `expr:` spec. We ask the package what kind of U it
# is, solve (5) from n = 8 to n = 10^5, compute its n = inf measure (Theorem 5) and read
# the atoms at 0 and 1 off the finite-n optima.

# %%
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from rcollapse import limits
from rcollapse.figures import style
from rcollapse.figures.compute import measure_curve
from rcollapse.figures.io import to_jsonable
from rcollapse.solvers import solve, solve_limit
from rcollapse.solvers.limit import atom_mass_at_one
from rcollapse.theory import UtilityError, parse_utility, theorem4_bound, w1_distance

OUT = Path(tempfile.mkdtemp(prefix="rcollapse-example-02-"))  # the figure goes here
C = 3

# %% [markdown]
# ## 1. The utility and its properties
#
# The text is parsed safely (numbers, x, arithmetic and a list of functions), then U' and
# U'' are derived by sympy. Each property is proved by sympy where it can, else checked at
# 999 points of (0, 1] ("checked, not proved"). The questions a solver asks are
# properties too: is U linear, is U'(0+) finite (then Theorem 4 puts atoms at 0 and 1),
# is it -x^(-g) with g >= 1 (then E U(|X - X'|) = -inf and Theorem 5 names no measure).

# %%
U = parse_utility(f"expr:1 - exp(-{C}*x)")
print(U.spec, "   U(x) =", U.latex)
print(json.dumps(U.describe(), indent=1))
print("is_linear", U.is_linear, "| finite_slope_at_zero", U.finite_slope_at_zero,
      "| hypersingular_exponent", U.hypersingular_exponent, "| user-written", U.is_user_written)
assert U.increasing and U.strictly_concave and U.strongly_concave
assert U.finite_slope_at_zero and U.dU0 == C and not U.is_linear and U.hypersingular_exponent is None
bound = theorem4_bound(U)  # U'(1) / (U'(0) + U'(1)) = e^-c / (1 + e^-c)
print(f"Theorem 4: atoms at 0 and 1 of mass >= {bound:.6f}")
assert math.isclose(bound, math.exp(-C) / (1 + math.exp(-C)), rel_tol=1e-12)

# %% [markdown]
# A U that is not concave is refused in one line that names the property and a point
# where it fails:

# %%
try:
    parse_utility("expr:x**2")
except UtilityError as err:
    print("refused:", err)
else:
    raise AssertionError("x**2 is convex: it must be refused")

# %% [markdown]
# ## 2. The optimum of (5) from n = 8 to n = 10^5
#
# `method="auto"` runs Newton on the symmetric half up to n = 10^4 and a matrix-free
# Newton-CG on fast kernel sums above. Every answer carries its recomputed KKT residual.
# Because U'(0) is finite, a block of rewards sits exactly at 1 (and, by symmetry, at 0):
# `atom_mass_at_one` reads the atom's mass off the optimum, to a fraction of one reward.

# %%
NS = (8, 100, 1000, 3000, 30_000, 100_000)
solutions = {}
print(f"{'n':>7} {'method':>7} {'seconds':>8} {'KKT':>8} {'tied at 1':>10} {'atom mass':>10}")
for n in NS:
    t0 = time.perf_counter()
    solutions[n] = s = solve(U, n, method="auto")
    seconds = time.perf_counter() - t0
    tied = int(np.count_nonzero(s.rewards == 1.0))
    mass = atom_mass_at_one(s.rewards, s.complement)[1] if n >= 100 else float("nan")
    print(f"{n:>7} {s.method:>7} {seconds:>8.2f} {s.kkt_residual:>8.1e} {tied:>10} {mass:>10.7f}")
    assert s.kkt_residual <= 1e-9
print("n = 8:", np.round(solutions[8].rewards, 4))

# %% [markdown]
# ## 3. The n = inf measure (Theorem 5)
#
# `solve_limit` maximizes E U(|X - X'|) over symmetric measures on a grid (a concave QP);
# `rcollapse.limits.limiting_measure` adds grid error estimates (Richardson over three
# grids). The optima above converge to it: W1 falls like 1/n.

# %%
lim = solve_limit(U)
mu = limits.limiting_measure(U)
atom = lim.atoms[1.0]
print(mu.describe(), "|", mu.theorem, "| QP KKT residual", f"{lim.kkt_residual:.1e}")
print("atom mass", atom, "grid error", f"{mu.grid_error['atom_mass']['error']:.1e}")
w1 = {n: w1_distance(solutions[n].rewards, lim) for n in NS if n >= 100}
for n, d in w1.items():
    print(f"n = {n:>6}: W1 to the limit {d:.2e}  (n W1 = {n * d:.3f});  "
          f"atom mass read at n: {atom_mass_at_one(solutions[n].rewards, solutions[n].complement)[1]:.9f}")
assert atom >= bound
assert all(w1[a] > w1[b] for a, b in zip(list(w1), list(w1)[1:]))  # falling
assert w1[100_000] <= 1e-5  # measured 2.5e-6
assert abs(atom_mass_at_one(solutions[100_000].rewards, solutions[100_000].complement)[1] - atom) <= 1e-6

# %% [markdown]
# ## 4. What the numbers suggest, and a proof
#
# The solver says: atoms of mass 0.2 = 1/(c + 2) and a flat density 0.6 = c/(c + 2) in
# between. This is no accident. The kernel -U(|t|) + 1 = e^(-c|t|) is the Green's
# function of (c^2 - d^2/dx^2) / (2c), and the maximizer's potential
# x -> int U(|x - y|) dmu(y) must be constant on [0, 1] (the first-order condition of
# Theorem 5). For mu = a delta_0 + a delta_1 + rho dx the potential is constant exactly
# when a = rho / c; with 2a + rho = 1, a = 1/(c + 2). The numerical solver finds this
# closed form to rounding:

# %%
inner = np.linspace(0.05, 0.95, 19)
density = np.asarray(lim.density(inner), dtype=float)
print(f"atom - 1/(c+2) = {atom - 1 / (C + 2):.1e};  density in [0.05, 0.95]: "
      f"{density.min():.9f} .. {density.max():.9f}  (c/(c+2) = {C / (C + 2)})")
assert abs(atom - 1 / (C + 2)) <= 1e-9
assert np.max(np.abs(density - C / (C + 2))) <= 1e-6

# %% [markdown]
# ## 5. A picture
#
# Left: the optimum at n = 8. Right: the rewards strictly inside (0, 1) at n = 10^5
# (histogram, area = their share of n) against the limit's density, with the atoms as
# spikes (their mass on the right axis) and the share of the n = 10^5 rewards tied at 0
# and 1 (crosses).

# %%
fig, axes = style.new_figure(1, 2, width=style.PAGE, height=2.6)
ax_n8, ax_lim = axes[0]
ax_n8.plot(np.arange(1, 9), solutions[8].rewards, marker="o", color=style.OKABE_ITO["blue"])
ax_n8.set(xlabel="rank i", ylabel="reward r_i", title="optimum of (5), n = 8")
r = solutions[100_000].rewards
inside = r[(r > 0) & (r < 1)]
bins = np.linspace(0, 1, 41)
ax_lim.hist(inside, bins=bins, weights=np.full(inside.size, 1 / (r.size * (bins[1] - bins[0]))),
            color=style.OKABE_ITO["sky"], alpha=0.6, label="n = 10^5, inside (0, 1)")
atom_ax = ax_lim.twinx()
atom_ax.set_ylim(0, 0.4)
atom_ax.set_ylabel("atom mass")
style.plot_measure(ax_lim, to_jsonable(measure_curve(lim)), atom_ax=atom_ax, label="n = inf (Theorem 5)")
atom_ax.plot([0, 1], [np.mean(r == 0.0), np.mean(r == 1.0)], "x", color="k", label="share at 0, 1")
ax_lim.set(xlabel="reward r", ylabel="density", ylim=(0, 1.0), title="the limit")
ax_lim.legend(loc="upper center", fontsize=7)
png = OUT / "your_utility.png"
fig.savefig(png)
fig

# %%
summary = {"spec": U.spec, "ns": list(NS), "kkt": {n: solutions[n].kkt_residual for n in NS},
           "atom_mass": atom, "closed_form_atom": 1 / (C + 2), "theorem4_bound": bound,
           "w1": w1, "figure": str(png)}
print("SUMMARY " + json.dumps(summary))
