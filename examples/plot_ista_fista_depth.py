"""
===============================================
ISTA and FISTA: cost gap as a function of depth
===============================================

The reference picture of the package: the relative gap
``(F(z_q) - F*) / F*`` of the mean Lasso cost after ``q`` iterations of ISTA
and FISTA, on the paper's Gaussian problem (K=100 atoms in dimension P=64,
Bernoulli-Gaussian codes with density 1/20, ``alpha = 0.1 * alpha_max``).
Learned coders are judged against these two curves: they aim to reach in a
few layers what ISTA needs many iterations for.

Set the environment variable ``SKLEARN_LISTA_EXAMPLES_QUICK=1`` for a
smaller run.
"""

# %%
# The problem and its optimum
# ---------------------------
# ``F*`` comes from FISTA run until every sample's duality gap is below
# ``1e-12`` times its cost.
import os

import matplotlib.pyplot as plt

from sklearn_lista import FISTACoder, ISTACoder
from sklearn_lista.datasets import alpha_max, make_sparse_coding
from sklearn_lista.experiments import depth_sweep, reference_cost

quick = bool(os.environ.get("SKLEARN_LISTA_EXAMPLES_QUICK"))
n_samples = 200 if quick else 2000
depths = [1, 2, 4, 8, 16, 32] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]

X, dictionary, _ = make_sparse_coding(n_samples, density=0.05, random_state=0)
alpha = 0.1 * alpha_max(X, dictionary)
optimal_cost, _ = reference_cost(X, dictionary, alpha)
print(f"alpha = {alpha:.3f}, F* = {optimal_cost:.6f}")

# %%
# Gap per depth
# -------------
coders = {
    "ISTA": ISTACoder(dictionary, alpha=alpha),
    "FISTA": FISTACoder(dictionary, alpha=alpha),
}
gaps = depth_sweep(coders, X, dictionary, alpha, depths, optimal_cost=optimal_cost)

fig, ax = plt.subplots(figsize=(6, 4))
for name, values in gaps.items():
    ax.loglog(depths, values, "o-", label=name)
ax.set_xlabel("depth q (iterations)")
ax.set_ylabel("(F(z_q) - F*) / F*")
ax.set_title("Gaussian problem, density 1/20")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
plt.show()

# %%
# FISTA's momentum pays after a few iterations: both methods coincide for
# the first two steps (the momentum is zero at the start), then FISTA pulls
# ahead, and ISTA's linear convergence catches up once the support of the
# solution is identified.
