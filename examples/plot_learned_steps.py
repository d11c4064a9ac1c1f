"""
===============================================
Learned step sizes: step-LISTA and step-FISTA
===============================================

:class:`~sklearn_lista.StepLISTACoder` keeps the dictionary and trains one
step size per layer (and, with ``momentum=True``, one momentum per layer):
``n_layers`` numbers instead of LISTA's matrices. On the paper's Gaussian
problem (K=100 atoms, P=64, density 1/20, ``alpha = 0.1 * alpha_max``) this
page trains both at several depths on the unsupervised Lasso loss and draws
their test relative gap next to ISTA's and FISTA's, as Ablin et al. (2019)
draw it.

Set the environment variable ``SKLEARN_LISTA_EXAMPLES_QUICK=1`` for a small
run (2 000 training signals, depths 2 to 8, at most 30 epochs).
"""

# %%
# The problem and the comparison
# ------------------------------
import os

import matplotlib.pyplot as plt

from sklearn_lista.experiments import compare_coders, make_problem, plot_gap_curves

quick = bool(os.environ.get("SKLEARN_LISTA_EXAMPLES_QUICK"))
n_train, n_test = (2000, 400) if quick else (10000, 2000)
depths = [2, 4, 8] if quick else [2, 4, 8, 16, 32]
training = {"max_iter": 30 if quick else 200}

problem = make_problem("gaussian-sparse", n_train=n_train, n_test=n_test)
result = compare_coders(
    problem,
    depths,
    methods=["ISTA", "FISTA", "StepLISTA", "StepFISTA"],
    coder_params={"StepLISTA": training, "StepFISTA": training},
)

# %%
# The figure
# ----------
plot_gap_curves(result, title="Learned step sizes, density 1/20")
plt.show()

# %%
# How far below FISTA each learned coder ends at each depth:
for depth, fista, step_ista, step_fista in zip(
    depths,
    result.gaps["FISTA"],
    result.gaps["StepLISTA"],
    result.gaps["StepFISTA"],
    strict=True,
):
    print(
        f"depth {depth:>2}: FISTA {fista:.1e}, step-ISTA {step_ista:.1e} "
        f"({fista / step_ista:.0f}x below), step-FISTA {step_fista:.1e} "
        f"({fista / step_fista:.0f}x below)"
    )

# %%
# The learned steps
# -----------------
# The deepest step-FISTA's steps, in units of ``1 / L``: they start at 1 and
# end above it, larger where the support of the codes is small.
deepest = result.models["StepFISTA"][depths[-1]]
print((deepest.steps_ * deepest.lipschitz_).round(2))

# %%
# What the figure shows
# ---------------------
# With only ``n_layers`` trained numbers, the learned steps leave FISTA
# behind as depth grows: in the full run of ``benchmarks/bench_modern.py``
# (10 000 training signals, default parameters) step-FISTA's test gap at 16
# layers is 5.0e-10 against FISTA's 7.3e-5, and step-ISTA's 3.3e-8. The
# steps exceed ``1 / L`` because once the support of the codes is found the
# Lasso restricted to it has a smaller Lipschitz constant. The quick run
# trains on fewer signals for at most 30 epochs: its gaps are larger, and at
# a few layers step-ISTA can end ahead of step-FISTA (whose momentums need
# more epochs); both are below FISTA at every depth.
