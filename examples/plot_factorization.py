"""
=================================================
FacNet's two solvers: the factorization per layer
=================================================

FacNet's layer ``q`` is the exact minimiser of
``F(z) + 1/2 (z - z_q)^T R_q (z - z_q) + delta_{A_q}(z)`` with
``R_q = A_q^T S_q A_q - B`` and ``delta_A(z) = alpha (||A z||_1 - ||z||_1)``.
Proposition 2.1 of Moreau & Bruna bounds its gap when ``R_q`` is PSD:

``F(z_{q+1}) - F(z*) <= 1/2 (z_q - z*)^T R_q (z_q - z*)
+ delta_{A_q}(z*) - delta_{A_q}(z_{q+1})``.

:class:`~sklearn_lista.FacNetCoder` fits ``(A_q, S_q)`` in two ways:

- ``fit_algorithm="end_to_end"`` trains all layers on the Lasso cost of the
  network's output (here with ``psd_constraint=True`` so that the bound
  applies);
- ``fit_algorithm="factorization"`` fits the layers one after the other, each
  minimising the bound itself on the training signals.

We draw, per layer and on held-out signals, ``||R_q||``, the deformation term
``delta(z*) - delta(z_{q+1})``, and the bound next to the measured gap, with
ISTA's layer (``A = I``, ``S = L``) for reference.

Set the environment variable ``SKLEARN_LISTA_EXAMPLES_QUICK=1`` for a
smaller run.
"""

# %%
# Problem and fits
# ----------------
import os
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning

from sklearn_lista import FacNetCoder
from sklearn_lista.datasets import alpha_max, make_sparse_coding

quick = bool(os.environ.get("SKLEARN_LISTA_EXAMPLES_QUICK"))
n_samples = 100 if quick else 2000
n_layers = 2 if quick else 8
X, dictionary, _ = make_sparse_coding(n_samples, density=0.05, random_state=0)
X_test, _, _ = make_sparse_coding(
    50 if quick else 500, dictionary=dictionary, random_state=1
)
alpha = 0.1 * alpha_max(X, dictionary)

coders = {
    "ISTA (A = I, S = L)": FacNetCoder(
        dictionary, alpha=alpha, n_layers=n_layers, max_iter=1, learning_rate_init=1e-12
    ),
    "end to end": FacNetCoder(
        dictionary,
        alpha=alpha,
        n_layers=n_layers,
        psd_constraint=True,
        max_iter=2 if quick else 100,
        random_state=0,
    ),
    "factorization": FacNetCoder(
        dictionary,
        alpha=alpha,
        n_layers=n_layers,
        fit_algorithm="factorization",
        learning_rate_init=1e-2,
        max_iter=5 if quick else 200,
        random_state=0,
    ),
}
reports = {}
for name, coder in coders.items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    reports[name] = coder.factorization_report(X_test)
    print(
        f"{name:>20}: final gap {reports[name]['gap'][-1]:.4g}, bound holds on "
        f"{reports[name]['bound_holds'].mean():.0%} of the samples"
    )

report = reports["factorization"]
print(
    f"corollary: alpha sqrt(P) / 8 = {report['corollary_lhs'][0]:.3f} "
    f"<= E||z*||_1 = {report['corollary_rhs'][0]:.3f}: "
    f"{bool(report['corollary_holds'][0])}"
)

# %%
# Per-layer terms of the bound
# ----------------------------
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
colors = dict(zip(reports, ["0.5", "C0", "C3"], strict=True))
for name, values in reports.items():
    layers = values["layer"] + 1
    axes[0].plot(layers, values["R_norm"], "o-", color=colors[name], label=name)
    axes[1].plot(layers, values["delta_gap"], "o-", color=colors[name], label=name)
    axes[2].semilogy(
        layers, values["bound"], "o--", color=colors[name], label=f"{name}: bound"
    )
    axes[2].semilogy(
        layers, values["gap"], "o-", color=colors[name], label=f"{name}: gap"
    )
axes[0].set_title("||R_q||_2")
axes[1].set_title("delta(z*) - delta(z_{q+1}) (mean)")
axes[2].set_title("Proposition 2.1: bound (dashed) vs gap")
for ax in axes:
    ax.set_xlabel("layer q + 1")
    ax.grid(True, alpha=0.3)
axes[0].legend()
axes[2].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %%
# The factorization solver starts from ISTA's layer and only accepts changes
# that lower the bound on the training signals, so its dashed curve sits at or
# below ISTA's. It buys a smaller quadratic term by moving ``A_q`` off the
# identity and making ``S_q`` non-uniform, and pays for the rotation in the
# deformation term. The end-to-end solver with ``psd_constraint=True`` (a
# uniform shift of ``S_q`` after every step) stayed at ISTA's layers on this
# problem in our run (final gap 4.457 for both, against 3.665 for the
# factorization, full run): at ``A = I`` every rotation raises the l1 term,
# and a uniform shift undoes any decrease of ``S``. Without the constraint it
# does move (and beats both, see the benchmarks), but then Proposition 2.1
# no longer applies.
