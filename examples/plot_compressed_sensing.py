"""
=====================================================
Compressed sensing: NMSE per layer of learned ISTAs
=====================================================

The benchmark of the LISTA-CPSS, ALISTA and HyperLISTA papers: recover
Bernoulli-Gaussian codes from compressed measurements
(:func:`~sklearn_lista.datasets.make_compressed_sensing`, unit-norm Gaussian
atoms) and score them against the *true* codes in NMSE (dB,
:func:`~sklearn_lista.metrics.nmse_db`), layer after layer, as the papers
draw it. Learned coders are trained on the true codes
(``loss="squared_error"``) stage-wise (``fit_algorithm="stagewise"``): depth
``k`` is fitted from the trained depth ``k - 1`` (``warm_start=True``) and
measured before the next layer is added. ISTA and FISTA run ``k`` iterations
at the best ``alpha`` of a grid; HyperLISTA's three numbers are tuned by
:class:`~sklearn.model_selection.GridSearchCV`, its intended use.

This page runs a *small* version, to be read for the shapes of the curves,
not for the papers' numbers: 100 measurements of 200 atoms (50 of 100 with
``SKLEARN_LISTA_EXAMPLES_QUICK=1``), 2 000 (600) training signals, a few
epochs per stage, depths up to 10 (6). The full-size table (250 x 500, 16
layers, noiseless and noisy) is in :doc:`/benchmarks/modern`
(``benchmarks/bench_modern.py --table cs``).
"""

# %%
# The problem
# -----------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sklearn_lista import (
    ALISTACoder,
    FISTACoder,
    HyperLISTACoder,
    ISTACoder,
    LISTACoder,
)
from sklearn_lista.datasets import make_compressed_sensing
from sklearn_lista.metrics import nmse_db

quick = bool(os.environ.get("SKLEARN_LISTA_EXAMPLES_QUICK"))
size = (50, 100) if quick else (100, 200)
n_train = 600 if quick else 2000
max_depth = 6 if quick else 10
depths = np.arange(1, max_depth + 1)

X, D, Z = make_compressed_sensing(
    n_train, n_measurements=size[0], n_components=size[1], random_state=0
)
X_test, _, Z_test = make_compressed_sensing(1000, dictionary=D, random_state=1)

# %%
# ISTA and FISTA at their best alpha per depth
# --------------------------------------------
alphas = 0.4 * np.geomspace(1, 1e-3, 7)
curves = {}
for name, template in (("ISTA", ISTACoder()), ("FISTA", FISTACoder())):
    curve = []
    for depth in depths:
        coder = clone(template).set_params(dictionary=D, n_layers=depth)
        scores = [
            nmse_db(Z, coder.set_params(alpha=a).fit_transform(X)) for a in alphas
        ]
        coder.set_params(alpha=alphas[int(np.argmin(scores))])
        curve.append(nmse_db(Z_test, coder.transform(X_test)))
    curves[name] = curve

# %%
# Learned coders, trained stage-wise on the true codes
# ----------------------------------------------------
# The shared recipe: mini-batches of 64, a fresh learning rate per stage
# (halved on plateaus); a stage ends after 3 epochs that improve its loss by
# less than 1%.
recipe = dict(
    alpha=0.4,
    loss="squared_error",
    fit_algorithm="stagewise",
    warm_start=True,
    batch_size=64,
    max_iter=100,
    tol=1e-2,
    n_iter_no_change=3,
    random_state=0,
)
learned = {
    "LISTA-CPSS": LISTACoder(
        D,
        parametrization="coupled",
        support_selection=True,
        learning_rate_init=2e-3,
        **recipe,
    ),
    "ALISTA": ALISTACoder(D, learning_rate_init=1e-2, **recipe),
}
for name, coder in learned.items():
    curve = []
    for depth in depths:
        coder.set_params(n_layers=depth).fit(X, Z)
        curve.append(nmse_db(Z_test, coder.transform(X_test)))
    curves[name] = curve

# %%
# HyperLISTA: three numbers, tuned by grid search
# -----------------------------------------------
# With ``fit_hyperparameters=False`` fitting trains nothing, so the search is
# cheap; ``loss="squared_error"`` makes ``score`` compare codes with the
# true codes.
search = GridSearchCV(
    HyperLISTACoder(
        D, n_layers=max_depth, loss="squared_error", fit_hyperparameters=False
    ),
    {"c1": [0.02, 0.04, 0.08], "c2": [0.01, 0.02, 0.04], "c3": [3.0, 6.0, 12.0]},
    cv=2,
).fit(X, Z)
print("HyperLISTA's grid search chose", search.best_params_)
hyper = search.best_estimator_
curves["HyperLISTA"] = [
    nmse_db(Z_test, clone(hyper).set_params(n_layers=d).fit(X).transform(X_test))
    for d in depths
]

# %%
# The figure
# ----------
fig, ax = plt.subplots(figsize=(6, 4))
for name, curve in curves.items():
    ax.plot(depths, curve, marker="o", label=name)
ax.set_xlabel("layers (iterations)")
ax.set_ylabel("test NMSE (dB)")
ax.set_title(f"Compressed sensing {size[0]} x {size[1]}, noiseless (small run)")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

for name, curve in curves.items():
    print(f"{name:>10}: {curve[-1]:6.1f} dB at {max_depth} layers")

# %%
# What the figure shows
# ---------------------
# ISTA and FISTA gain about a dB per iteration: at any alpha they converge
# to a Lasso solution, biased away from the true codes, and slowly. ALISTA
# (two trained scalars per layer) and HyperLISTA (three numbers for the
# whole network, found by the grid search without any gradient step) gain 3
# to 4 dB per layer, linearly in the depth as the theory of LISTA-CP
# predicts. LISTA-CPSS trains a full weight matrix per layer: from this few
# signals and epochs it stays close to ISTA (the quick run: about -7 dB at 6
# layers against ALISTA's -19 and HyperLISTA's -21); its authors train it
# for hundreds of thousands of mini-batches. The full-size table
# (:doc:`/benchmarks/modern`) measures every coder with a larger budget; the
# log-gap-versus-layers figure of the unsupervised deep regime is drawn by
# the learned-steps example.
