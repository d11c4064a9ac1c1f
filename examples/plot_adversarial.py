"""
===========================================
Learned coders on an adversarial dictionary
===========================================

The paper's hard case for FacNet. Feature ``j`` of the K=256 atoms is a
cosine of frequency ``f_j``, with P=50 distinct frequencies drawn at random:
the Gram matrix ``B = D D^T`` is then (nearly) diagonalised by Fourier
modes, whose energy is spread over all coordinates. No rotation ``A`` can
then make ``A^T S A`` close to ``B`` while keeping ``||A z||_1`` close to
``||z||_1``, which is what the factorization explanation of LISTA needs.

Set the environment variable ``SKLEARN_LISTA_EXAMPLES_QUICK=1`` for a small
run.
"""

# %%
# The dictionary's geometry
# -------------------------
# The eigenvectors of ``B`` for its non-zero eigenvalues are spread out: the
# largest coordinate of each, compared with ``1`` for a canonical vector.
import os

import matplotlib.pyplot as plt
import numpy as np

from sklearn_lista.experiments import compare_coders, make_problem, plot_gap_curves

quick = bool(os.environ.get("SKLEARN_LISTA_EXAMPLES_QUICK"))
n_train, n_test = (200, 50) if quick else (5000, 1000)
depths = [1, 2, 4] if quick else [1, 2, 4, 8, 16]
training = {"max_iter": 3 if quick else 200}

problem = make_problem("adversarial", n_train=n_train, n_test=n_test)
eigenvalues, eigenvectors = np.linalg.eigh(problem.dictionary @ problem.dictionary.T)
spread = np.abs(eigenvectors[:, eigenvalues > 1e-8]).max(axis=0)
print(f"largest coordinate of B's eigenvectors: {spread.max():.3f} at most")

# %%
# Train and compare
# -----------------
result = compare_coders(
    problem,
    depths,
    coder_params={name: training for name in ("LISTA", "LFISTA", "FacNet")},
)
plot_gap_curves(result, title="Adversarial (cosine) dictionary")
plt.show()

# %%
# What the figure shows
# ---------------------
# The paper reports that on this dictionary the learned networks lose most of
# their edge over ISTA. The full run (``python -m sklearn_lista --problem
# adversarial``, the same settings) agrees for LISTA: its gap is only 2 to 4.5
# times smaller than ISTA's at every depth (against 7 to 56 times on the
# Gaussian problem), and from 8 layers on FISTA beats it (8.9e-4 vs 1.7e-3).
# LFISTA stays ahead of FISTA (1.2e-5 vs 2.6e-5 at 16 layers). FacNet, which
# the paper's argument says should suffer most, does better than LISTA from
# 2 layers on here (2.3e-3 vs 1.0e-2 at 4 layers); it is also by far the
# slowest to train on K=256 atoms (its layers cost O(K^3) per step).
