"""Where a trained parameter lives: its manifold.

A manifold turns a Euclidean gradient into a step direction
(:meth:`~Manifold.egrad_to_rgrad`), maps a step back onto the set
(:meth:`~Manifold.retract`) and carries the optimizer's momentum to the new
point (:meth:`~Manifold.transport`). The optimizers of
:mod:`sklearn_lista.optim.optimizers` only call these three, so one
optimizer trains every parameter on its own manifold. Directions are in each
manifold's own coordinates (log coordinates for :class:`Positive`, the Lie
algebra for :class:`OrthogonalGroup`).
"""

import numpy as np
import scipy.linalg
from sklearn.utils import check_random_state


class Manifold:
    """Base class: the Euclidean space of arrays of any shape.

    Attributes
    ----------
    moment_axes : tuple of int or None
        Axes over which adaptive optimizers (Adam, Adagrad) share one second
        moment: None scales every entry on its own, which is only valid when
        an entrywise-rescaled step stays a valid direction.
    reproject_every : int or None
        Every this many steps the optimizer calls :meth:`project` to undo
        rounding drift (None: never).
    """

    moment_axes = None
    reproject_every = None

    def egrad_to_rgrad(self, point, egrad):
        """The direction of steepest ascent in the manifold's coordinates."""
        return egrad

    def retract(self, point, step):
        """The point reached from `point` along `step` (a new array)."""
        return point + step

    def transport(self, new_point, vector):
        """`vector` (a step direction) moved to the tangent space at `new_point`."""
        return vector

    def project(self, point):
        """The nearest point of the manifold (a new array)."""
        return point

    def distance(self, point):
        """How far `point` is from the manifold (0 on it)."""
        return 0.0

    def __repr__(self):
        return f"{type(self).__name__}()"


class Euclidean(Manifold):
    """Unconstrained arrays (weights)."""


class NonNegative(Manifold):
    """Arrays with non-negative entries (thresholds), by projected steps."""

    def retract(self, point, step):
        return np.maximum(point + step, 0)

    def project(self, point):
        return np.maximum(point, 0)

    def distance(self, point):
        return float(max(-np.min(point, initial=0.0), 0.0))


class Positive(Manifold):
    """Arrays with positive entries (scales), stepped in log coordinates.

    The optimizer works on ``u = log(point)``: the gradient in ``u`` is
    ``point * egrad`` and a step ``s`` maps ``point`` to
    ``point * exp(s)``, so entries stay positive whatever the step.
    """

    def egrad_to_rgrad(self, point, egrad):
        return point * egrad

    def retract(self, point, step):
        # An underflow to 0 would be a fixed point (its gradient point * egrad
        # is 0): the smallest positive number stays movable.
        return self.project(point * np.exp(step))

    def project(self, point):
        return np.maximum(point, np.finfo(point.dtype).tiny)

    def distance(self, point):
        return float(max(-np.min(point, initial=1.0), 0.0)) if point.size else 0.0


def _skew(matrices):
    return 0.5 * (matrices - np.swapaxes(matrices, -1, -2))


def _transpose(matrices):
    return np.swapaxes(matrices, -1, -2)


def _cayley(point, step):
    """``A (I - W/2)^{-1} (I + W/2)`` for a skew `step` ``W``, by one LAPACK
    solve per matrix and no product.

    ``C = (I - W/2)^{-1} (I + W/2) = 2 (I - W/2)^{-1} - I``, so
    ``(A C)^T = 2 Y - A^T`` with ``(I + W/2) Y = A^T`` (``W^T = -W``). A
    C-contiguous array read in Fortran order is its transpose: the C arrays
    ``I - W/2`` and ``A`` are, for LAPACK, ``I + W/2`` and ``A^T``, and the
    solution ``Y`` comes back as the C array ``Y^T``, with no copy in
    between (numpy's batched solve transposes both ways).
    """
    n = point.shape[-1]
    points = np.ascontiguousarray(point).reshape(-1, n, n)
    # C-ordered I - W/2, in place of the half step.
    systems = np.multiply(step, -0.5, order="C").reshape(-1, n, n)
    diagonal = np.arange(n)
    systems[:, diagonal, diagonal] += 1.0
    (gesv,) = scipy.linalg.get_lapack_funcs(("gesv",), (systems, points))
    new_points = np.empty_like(points)
    for k in range(points.shape[0]):
        _, _, solved, info = gesv(systems[k].T, points[k].T, overwrite_a=True)
        if info != 0:
            raise np.linalg.LinAlgError(
                "the Cayley retraction met a singular I + W/2: the step is not "
                "skew or not finite."
            )
        np.multiply(solved.T, 2.0, out=new_points[k])
        new_points[k] -= points[k]
    return new_points.reshape(point.shape)


class OrthogonalGroup(Manifold):
    """The orthogonal group ``O(n)``, for single matrices or stacks ``(..., n, n)``.

    Directions are in the Lie algebra (left trivialisation): a skew matrix
    ``W`` stands for the tangent vector ``A W`` at ``A``. Norms are those of
    the ambient vectors (``A`` is orthogonal), so the optimizers' steps and
    second moments are unchanged, while a gradient costs one ``A^T G``
    product, a retraction is ``A`` times a map of ``W`` alone, and the
    momentum ``W`` is carried to the new point ``A'`` as ``A' W`` (the
    differential of the left translation by ``A' A^T``: an isometry, at no
    cost).

    Parameters
    ----------
    retraction : {"cayley", "qr", "polar"}, default="cayley"
        How a tangent step ``A W`` is mapped back onto the group:

        - ``"qr"``: Q factor of ``A + A W`` with the signs of ``diag(R)``
          fixed so that the map is continuous (``A`` times that of ``I + W``);
        - ``"polar"``: the orthogonal factor of ``A + A W`` (its nearest
          orthogonal matrix), from an SVD;
        - ``"cayley"``: ``A (I - W/2)^{-1} (I + W/2)``, exact for
          orthogonality up to rounding and cheap for small steps: it equals
          ``2 A (I - W/2)^{-1} - A``, whose transpose is one linear solve
          ``(I + W/2) Y = A^T`` (no inverse, no further product).
    reproject_every : int, default=100
        Steps between two projections that undo rounding drift.
    """

    moment_axes = (-2, -1)

    def __init__(self, retraction="cayley", reproject_every=100):
        if retraction not in ("cayley", "qr", "polar"):
            raise ValueError(
                f"retraction must be 'cayley', 'qr' or 'polar', got {retraction!r}."
            )
        self.retraction = retraction
        self.reproject_every = reproject_every

    def __repr__(self):
        return f"OrthogonalGroup(retraction={self.retraction!r})"

    def egrad_to_rgrad(self, point, egrad):
        """Riemannian gradient in the Lie algebra, ``skew(A^T G)`` (the tangent
        vector ``A skew(A^T G)``)."""
        return _skew(_transpose(point) @ egrad)

    projection = egrad_to_rgrad

    @staticmethod
    def tangent_vector(point, direction):
        """The ambient tangent vector ``A W`` of the direction `W` at `point`."""
        return point @ direction

    def retract(self, point, step):
        """Move from `point` along `step` and land exactly on the group.

        `step` is skew (a direction as :meth:`egrad_to_rgrad` gives it, or a
        linear combination of such, as the optimizers make): the Cayley and
        QR maps are orthogonal only for a skew `step`.
        """
        n = point.shape[-1]
        if self.retraction == "cayley":
            return _cayley(point, step)
        identity = np.eye(n, dtype=point.dtype)
        if self.retraction == "qr":
            # QR(A M) = (A Q) R for orthogonal A.
            q, r = np.linalg.qr(identity + step)
            signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
            signs[signs == 0] = 1.0
            rotation = q * signs[..., None, :]
        else:
            rotation = self.project(identity + step)
        return point @ rotation

    def transport(self, new_point, vector):
        """The direction `vector` unchanged: in the Lie algebra, the tangent
        vector ``A W`` goes to ``A' W``."""
        return vector

    def project(self, point):
        """Nearest orthogonal matrix (polar factor), to undo rounding drift."""
        u, _, vt = np.linalg.svd(point)
        return u @ vt

    def distance(self, point):
        """``max |A^T A - I|`` over the entries (and the stack)."""
        identity = np.eye(point.shape[-1])
        return float(np.max(np.abs(_transpose(point) @ point - identity)))

    @staticmethod
    def random_point(n, random_state=None, size=()):
        """Haar-distributed orthogonal matrices of shape ``size + (n, n)``."""
        rng = check_random_state(random_state)
        q, r = np.linalg.qr(rng.standard_normal((*size, n, n)))
        return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
