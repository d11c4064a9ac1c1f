"""FacNet's layer-wise factorization solver and the diagnostics of its bound.

Moreau & Bruna (2017), Proposition 2.1: with ``R_q = A_q^T S_q A_q - B``
positive semi-definite, a FacNet layer's gap ``F(z_{q+1}) - F(z*)`` is at most
``1/2 (z_q - z*)^T R_q (z_q - z*) + delta_A(z*) - delta_A(z_{q+1})``.
:func:`fit_factorization` fits the layers greedily by minimising that bound
(one :class:`LayerObjective` per layer, on the package's training loop);
:func:`factorization_report` measures every term of it on signals.
"""

import time

import numpy as np
import scipy.linalg

from ._kernels import thresholded_layer_backward
from ._kernels.facnet import rotated_threshold_backward
from ._lasso import LassoProblem, per_sample_cost
from ._solvers import iterate_matmul, iterate_transpose_matmul, iterative_thresholding
from ._training import TrainingResult
from .networks import FacNet
from .networks.facnet import ROTATED_BACKWARD_DENSITY

# Rounds of eigenvector-directed raises of S before a uniform shift.
PSD_ROUNDS = 10
# The factorization solver fits each layer on at most this many signals.
FACTORIZATION_SIZE = 2048

_REPORT_FIELDS = """
    layer : ndarray of int
        Layer index ``q`` (0-based): the layer maps ``z_q`` to ``z_{q+1}``.
    R_norm : ndarray
        ``||R_q||_2`` with ``R_q = A_q^T S_q A_q - B``.
    R_min_eigenvalue : ndarray
        Smallest eigenvalue of ``R_q`` (``>= 0`` means Proposition 2.1 applies).
    delta_gap : ndarray
        Mean over samples of ``delta_A(z*) - delta_A(z_{q+1})`` with
        ``delta_A(z) = alpha (||A z||_1 - ||z||_1)``: how much the rotation
        deforms the l1 norm.
    bound : ndarray
        Mean of Proposition 2.1's bound
        ``1/2 (z_q - z*)^T R_q (z_q - z*) + delta_A(z*) - delta_A(z_{q+1})``.
    gap : ndarray
        Mean measured ``F(z_{q+1}) - F(z*)``.
    bound_holds : ndarray
        Fraction of samples whose measured gap is at most their bound (up to
        rounding); 1.0 whenever ``R_q`` is positive semi-definite.
    acceleration_lhs : ndarray
        Mean of ``||R_q||_2 + 2 L_A(z_{q+1}) / ||z* - z_q||_2`` with the local
        Lipschitz bound ``L_A(z) = alpha (sqrt(||z||_0) + sqrt(||A z||_0))``.
    acceleration_rhs : ndarray
        ``||B||_2 / 2``.
    acceleration_holds : ndarray
        Fraction of samples satisfying the acceleration condition
        ``lhs <= rhs`` (samples with ``z_q = z*`` excluded).
    corollary_lhs : ndarray
        ``alpha * sqrt(n_features) / 8``, the left side of the paper's
        corollary for generic dictionaries (same for every layer).
    corollary_rhs : ndarray
        ``E ||z*||_1``, the mean l1 norm of the Lasso solutions of `X`.
    corollary_holds : ndarray of bool
        ``corollary_lhs <= corollary_rhs``: the condition under which, in
        expectation over generic dictionaries, the factorization can beat
        ISTA at any resolution.
"""


def _density(codes):
    return np.count_nonzero(codes) / max(codes.size, 1)


def _soft_threshold(values, thresholds):
    return np.sign(values) * np.maximum(np.abs(values) - thresholds, 0.0)


def _raise_to_psd(scales, rotated_gram, margin, rounds=PSD_ROUNDS):
    """Scales ``S' >= S`` with ``diag(S') - A B A^T`` PSD (smallest eigenvalue
    at least `margin`).

    Each round raises ``S`` along ``u**2``, ``u`` the eigenvector of the
    smallest eigenvalue: the cheapest direction to first order, which lets
    ``S`` become non-uniform where a uniform shift would not; since the
    smallest eigenvalue is concave in ``S`` a round may fall short, and after
    `rounds` rounds one uniform shift makes the constraint hold exactly.
    """
    scales = scales.copy()
    for _ in range(rounds):
        lowest, vector = _lowest_eigenpair(np.diag(scales) - rotated_gram)
        if lowest >= margin:
            return scales
        direction = vector**2
        scales += (margin - lowest) * direction / np.sum(direction**2)
    lowest = _lowest_eigenpair(np.diag(scales) - rotated_gram, vector=False)
    return scales + max(margin - lowest, 0.0)


def _lowest_eigenpair(matrix, vector=True):
    """Smallest eigenvalue (and its eigenvector) of a symmetric matrix: LAPACK's
    MRRR driver for that pair alone, ~3x cheaper than a full decomposition at
    K = 100."""
    result = scipy.linalg.eigh(
        matrix,
        subset_by_index=[0, 0],
        eigvals_only=not vector,
        driver="evr",
        check_finite=False,
    )
    if not vector:
        return result[0]
    eigenvalues, eigenvectors = result
    return eigenvalues[0], eigenvectors[:, 0]


class LayerObjective:
    """The factorization objective of one layer, for fixed ``z_q`` and ``z*``.

    In row form (codes are rows), with ``g = z_q B - x D^T`` the gradient of the
    smooth part at ``z_q`` and ``d = z_q - z*``, the layer is
    ``u = z_q A^T - (g A^T) / S``, ``y = st(u, alpha / S)``, ``z_{q+1} = y A``,
    and the objective (mean over the samples) is

    ``J(A, S) = 1/2 d R d^T + delta_A(z*) - delta_A(z_{q+1})``
    ``        = 1/2 sum_i S_i (d A^T)_i^2 - 1/2 d B d^T
    + alpha (|z* A^T|_1 - |z*|_1) + alpha (|y A|_1 - |y|_1)``,

    the last term using ``z_{q+1} A^T = y`` (``A`` orthogonal). ``J`` is
    Proposition 2.1's bound on ``F(z_{q+1}) - F(z*)`` whenever ``R`` is PSD.
    All arrays are float64. `margin` is the smallest eigenvalue of ``R`` that
    :meth:`project` keeps.
    """

    def __init__(self, X, dictionary, gram, alpha, iterate, optimum, margin=0.0):
        self.alpha = alpha
        self.margin = margin
        self._memo = None
        self.gram = gram
        self.iterate = iterate
        self.optimum = optimum
        self.step_input = iterate @ gram - X @ dictionary.T
        self.difference = iterate - optimum
        self.n_samples = X.shape[0]
        # d^T d: the quadratic term 1/2 sum_i S_i (d A^T)_i^2 is
        # 1/2 sum_i S_i (A d^T d A^T)_ii, a (K, K) product per step instead
        # of two (n, K) x (K, K) ones.
        self.covariance = self.difference.T @ self.difference
        self.gram_term = 0.5 * np.einsum("jk,jk->", self.covariance, gram)
        self.optimum_l1 = np.abs(optimum).sum()
        # Iterate and step input side by side: the gradient's products with
        # them share their left operand.
        self.iterate_step = np.ascontiguousarray(np.hstack([iterate, self.step_input]))
        self._density = {
            "iterate": _density(iterate),
            "optimum": _density(optimum),
        }

    def forward(self, rotation, scales):
        """``u``, ``g A^T`` and ``y`` of the layer at ``(A, S)``."""
        rotation_t = np.ascontiguousarray(rotation.T)
        rotated_step = self.step_input @ rotation_t
        rotated_iterate = iterate_matmul(
            self.iterate,
            rotation_t,
            np.empty_like(rotated_step),
            self._density["iterate"],
        )
        pre = rotated_iterate - rotated_step / scales
        return pre, rotated_step, _soft_threshold(pre, self.alpha / scales)

    def output(self, rotation, scales):
        """``z_{q+1}``."""
        return self.forward(rotation, scales)[2] @ rotation

    def objective(self, rotation, scales, with_grad=False):
        """``J(A, S)`` and, optionally, its (sub)gradients in ``A`` and ``S``.

        The l1 terms are not differentiable where a coordinate is zero; as in
        the network's backward pass, ``sign(0) = 0`` picks a subgradient.
        """
        alpha, n = self.alpha, self.n_samples
        rotation_t = np.ascontiguousarray(rotation.T)
        # (d A^T)^T (d A^T) = A (d^T d) A^T: its diagonal, from A (d^T d).
        rotated_covariance = rotation @ self.covariance
        projected_norms = np.einsum("jk,jk->j", rotated_covariance, rotation)
        rotated_optimum = iterate_matmul(
            self.optimum,
            rotation_t,
            np.empty_like(self.optimum),
            self._density["optimum"],
        )
        pre, rotated_step, shrunk = self.forward(rotation, scales)
        shrunk_density = _density(shrunk)
        output = iterate_matmul(shrunk, rotation, np.empty_like(shrunk), shrunk_density)
        quadratic = 0.5 * (scales @ projected_norms)
        value = (
            quadratic
            - self.gram_term
            + alpha * (np.abs(rotated_optimum).sum() - self.optimum_l1)
            + alpha * (np.abs(output).sum() - np.abs(shrunk).sum())
        ) / n
        if not with_grad:
            return value
        n_components = rotation.shape[0]
        # Explicit dependence on A and S: d/dA of 1/2 sum_i S_i (A C A^T)_ii
        # is diag(S) A C (C = d^T d symmetric).
        grad_rotation = scales[:, None] * rotated_covariance
        # sign(z* A^T)^T z*, walking the non-zeros of z*.
        optimum_term = iterate_transpose_matmul(
            self.optimum,
            np.sign(rotated_optimum),
            np.empty((n_components, n_components)),
            self._density["optimum"],
        )
        grad_rotation += alpha * optimum_term.T
        sign_output = np.sign(output)
        grad_rotation += alpha * iterate_transpose_matmul(
            shrunk, sign_output, np.empty_like(grad_rotation), shrunk_density
        )
        grad_scales = 0.5 * projected_norms
        # Through y = st(u, alpha / S), on the support of y (where |u| >
        # alpha / S): alpha (sign(z_{q+1}) A^T - sign(y)).
        sign_shrunk = np.sign(shrunk)
        grad_pre = np.empty_like(shrunk)
        rotated_sign = np.empty(n_components)
        if shrunk_density < ROTATED_BACKWARD_DENSITY:
            rotated_threshold_backward(
                sign_output, rotation, shrunk, grad_pre, rotated_sign
            )
        else:
            thresholded_layer_backward(
                sign_output @ rotation_t, shrunk, grad_pre, rotated_sign
            )
        grad_pre -= sign_shrunk
        grad_pre *= alpha
        # grad_thresholds = -sum_i grad_pre sign(u) = alpha (rotated_sign + nnz).
        grad_thresholds = alpha * (rotated_sign + np.count_nonzero(shrunk, axis=0))
        products = iterate_transpose_matmul(
            grad_pre,
            self.iterate_step,
            np.empty((n_components, 2 * n_components)),
            shrunk_density,
        )
        grad_rotation += products[:, :n_components]
        grad_rotation -= products[:, n_components:] / scales[:, None]
        grad_scales += np.einsum("ij,ij->j", grad_pre, rotated_step) / scales**2
        grad_scales -= grad_thresholds * alpha / scales**2
        return value, grad_rotation / n, grad_scales / n

    # ------------------------------------------- the training loop's protocol
    # One full batch per step; the value and gradients computed by `monitor`
    # after a step are those of the next step, so they are kept.
    divergence_guard = False

    def batches(self, rng):
        return (None,)

    def _evaluate(self, params):
        rotation, scales = params["A"][0], params["S"][0]
        memo = self._memo
        if (
            memo is not None
            and np.array_equal(memo[0], rotation)
            and np.array_equal(memo[1], scales)
        ):
            return memo[2], memo[3]
        value, grad_rotation, grad_scales = self.objective(
            rotation, scales, with_grad=True
        )
        grads = {"A": grad_rotation[None], "S": grad_scales[None]}
        self._memo = (rotation.copy(), scales.copy(), value, grads)
        return value, grads

    def loss_and_grads(self, params, batch):
        return self._evaluate(params)

    def loss(self, params, batch):
        return self._evaluate(params)[0]

    def monitor(self, params):
        return self._evaluate(params)[0]

    def project(self, params):
        """Raise ``S`` so that ``R`` stays PSD (the constraint holds after every
        step)."""
        rotation = params["A"][0]
        rotated_gram = rotation @ self.gram @ rotation.T
        params["S"][0] = _raise_to_psd(params["S"][0], rotated_gram, self.margin)


def lasso_optimum(X, dictionary, alpha, lipschitz):
    """``z*`` for float64 signals: FISTA to a relative duality gap of 1e-12."""
    optimum, _ = iterative_thresholding(
        X,
        dictionary,
        alpha,
        n_iter=50_000,
        lipschitz=lipschitz,
        tol=1e-12,
        accelerated=True,
    )
    return optimum


def fit_factorization(
    X, problem, rotations, scales, make_loop, *, random_state=None, verbose=0, name=""
):
    """Greedy pass over the layers, each minimising its bound from its current value.

    Layer ``q``'s input ``z_q`` is the previous layers' output on the training
    signals, ``z*`` their Lasso solutions; ``(A_q, S_q)`` minimises the mean of
    Proposition 2.1's bound subject to ``R_q`` PSD, by full-batch steps of the
    training loop. No layer ends worse than it started.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training signals (at most ``FACTORIZATION_SIZE`` of them are used).
    problem : LassoProblem
    rotations : ndarray of shape (n_layers, n_components, n_components)
    scales : ndarray of shape (n_layers, n_components)
        Starting values; float64 copies are trained and returned.
    make_loop : callable
        ``make_loop(manifolds) -> TrainingLoop`` with a fresh optimizer.
    random_state : RandomState
        Draws the signals when there are more than ``FACTORIZATION_SIZE``.
    verbose : int, default=0
    name : str, default=""

    Returns
    -------
    rotations, scales : ndarray, float64
    curves : list of ndarray
        The objective at every step of each layer (entry 0: the start).
    result : TrainingResult
        ``loss_curve``: the training Lasso cost of each layer's output.
    """
    if X.shape[0] > FACTORIZATION_SIZE:
        rows = random_state.choice(X.shape[0], FACTORIZATION_SIZE, replace=False)
        X = X[np.sort(rows)]
    X = X.astype(np.float64)
    problem = problem.astype(np.float64)
    dictionary, gram, alpha = problem.dictionary, problem.gram, problem.alpha
    optimum = lasso_optimum(X, dictionary, alpha, problem.lipschitz)
    optimal_cost = per_sample_cost(X, optimum, dictionary, alpha).mean()
    iterate = np.zeros_like(optimum)
    rotations = rotations.astype(np.float64)
    scales = scales.astype(np.float64)
    result = TrainingResult(converged=True)
    curves = []
    manifolds = FacNet(problem).manifolds
    start = time.perf_counter()
    for q in range(rotations.shape[0]):
        objective = LayerObjective(
            X, dictionary, gram, alpha, iterate, optimum, 1e-12 * problem.lipschitz
        )
        params = {"A": rotations[q : q + 1], "S": scales[q : q + 1]}
        objective.project(params)
        layer = make_loop(manifolds).run(objective, params, TrainingResult())
        result.converged &= layer.converged
        curves.append(np.asarray(layer.monitored))
        iterate = objective.output(rotations[q], scales[q])
        cost = per_sample_cost(X, iterate, dictionary, alpha).mean()
        result.loss_curve.append(cost)
        result.n_iter += layer.n_iter
        result.n_samples_seen += X.shape[0] * layer.n_iter
        if verbose:
            curve = curves[-1]
            print(
                f"[{name}] layer {q + 1}/{rotations.shape[0]}: objective "
                f"{curve[0]:.6g} -> {curve.min():.6g} in {layer.n_iter} steps, "
                f"F(z_{q + 1}) - F* = {cost - optimal_cost:.6g}, "
                f"{time.perf_counter() - start:.1f} s"
            )
    result.best_loss = result.loss_curve[-1]
    return rotations, scales, curves, result


def factorization_report(X, dictionary, alpha, rotations, scales):
    """Per-layer diagnostics of a FacNet's factorization on the signals `X`.

    Compares, for each layer ``q``, Proposition 2.1 of the paper,

    ``F(z_{q+1}) - F(z*) <= 1/2 (z_q - z*)^T R_q (z_q - z*)
    + delta_A(z*) - delta_A(z_{q+1})``

    (valid when ``R_q = A_q^T S_q A_q - B`` is positive semi-definite), with
    the measured gap, ``z*`` being FISTA's solution to a relative duality gap
    of 1e-12. Costs are per sample, then averaged. All inputs are validated
    by the caller (:meth:`sklearn_lista.FacNetCoder.factorization_report`).

    Returns
    -------
    report : dict of str -> ndarray of shape (n_layers,)
        See :meth:`sklearn_lista.FacNetCoder.factorization_report`.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    problem = LassoProblem(dictionary.astype(np.float64), alpha)
    dictionary, gram = problem.dictionary, problem.gram
    optimum = lasso_optimum(X, dictionary, alpha, problem.lipschitz)
    rotations = rotations.astype(np.float64)
    scales = scales.astype(np.float64)
    _, cache = FacNet(problem).forward(X, {"A": rotations, "S": scales})
    iterates = FacNet.iterates({"A": rotations}, cache)

    def deformation(codes, rotation):
        return alpha * (
            np.abs(codes @ rotation.T).sum(axis=1) - np.abs(codes).sum(axis=1)
        )

    n_layers = rotations.shape[0]
    fields = {
        name: np.empty(n_layers)
        for name in (
            "R_norm",
            "R_min_eigenvalue",
            "delta_gap",
            "bound",
            "gap",
            "bound_holds",
            "acceleration_lhs",
            "acceleration_rhs",
            "acceleration_holds",
        )
    }
    optimal_cost = problem.cost(X, optimum)
    gram_norm = np.linalg.norm(gram, 2)
    for q in range(n_layers):
        rotation = rotations[q]
        residual_matrix = rotation.T @ (scales[q][:, None] * rotation) - gram
        eigenvalues = np.linalg.eigvalsh(residual_matrix)
        before, after = iterates[q], iterates[q + 1]
        difference = before - optimum
        delta_gap = deformation(optimum, rotation) - deformation(after, rotation)
        bound = (
            0.5 * np.einsum("ij,jk,ik->i", difference, residual_matrix, difference)
            + delta_gap
        )
        gap = problem.cost(X, after) - optimal_cost
        lipschitz_local = alpha * (
            np.sqrt(np.count_nonzero(after, axis=1))
            + np.sqrt(np.count_nonzero(np.abs(after @ rotation.T) > 1e-12, axis=1))
        )
        distance = np.linalg.norm(difference, axis=1)
        moving = distance > 0
        lhs = np.abs(eigenvalues).max() + 2 * lipschitz_local[moving] / distance[moving]
        fields["R_norm"][q] = np.abs(eigenvalues).max()
        fields["R_min_eigenvalue"][q] = eigenvalues[0]
        fields["delta_gap"][q] = delta_gap.mean()
        fields["bound"][q] = bound.mean()
        fields["gap"][q] = gap.mean()
        slack = 1e-9 * np.maximum(np.abs(optimal_cost), 1.0)
        fields["bound_holds"][q] = np.mean(gap <= bound + slack)
        fields["acceleration_lhs"][q] = lhs.mean() if lhs.size else np.nan
        fields["acceleration_rhs"][q] = gram_norm / 2
        fields["acceleration_holds"][q] = (
            np.mean(lhs <= gram_norm / 2) if lhs.size else np.nan
        )
    corollary_lhs = alpha * np.sqrt(X.shape[1]) / 8
    corollary_rhs = np.abs(optimum).sum(axis=1).mean()
    fields["corollary_lhs"] = np.full(n_layers, corollary_lhs)
    fields["corollary_rhs"] = np.full(n_layers, corollary_rhs)
    fields["corollary_holds"] = np.full(n_layers, corollary_lhs <= corollary_rhs)
    return {"layer": np.arange(n_layers), **fields}
