"""Where a trained parameter lives: its manifold.

A manifold turns a Euclidean gradient into a step direction
(:meth:`~Manifold.egrad_to_rgrad`), maps a step back onto the set
(:meth:`~Manifold.retract`) and carries the optimizer's momentum to the new
point (:meth:`~Manifold.transport`; :meth:`~Manifold.retract_transport` does
both, sharing their work). The optimizers of
:mod:`sklearn_lista.optim.optimizers` only call these, so one optimizer
trains every parameter on its own manifold. Directions are in each
manifold's own coordinates (log coordinates for :class:`Positive`, the Lie
algebra for :class:`OrthogonalGroup`).
"""

import sys
import threading

import numpy as np
import scipy.linalg
from sklearn.utils import check_random_state

# Arrays a workspace keeps (the oldest is dropped beyond): a training step
# takes about 15, and the cache of the previous step holds as many again.
# Larger arrays than WORKSPACE_BYTES are never kept.
WORKSPACE_ARRAYS = 48
WORKSPACE_BYTES = 1 << 28


def _free_refcount():
    """What ``sys.getrefcount(pool[i])`` gives for an object only `pool`
    holds, measured rather than assumed (interpreters count borrowed
    references differently); None without reference counts (no reuse)."""
    getrefcount = getattr(sys, "getrefcount", None)
    if getrefcount is None:
        return None
    pool = [object()]
    return getrefcount(pool[0])


class Workspace:
    """Arrays handed out again from one training step to the next.

    A fresh array above malloc's mmap threshold costs a page fault per 4 KiB
    on first write, and malloc returns freed memory to the system between
    steps (doc/benchmarks/learned.rst). Used by FacNet's training steps, the
    orthogonal group and Adam. An array is reused only once nothing else
    refers to it (the caller has dropped the cache holding it, no view of it
    is alive), so reuse never overwrites data still in use.
    """

    _free = _free_refcount()

    def __init__(self, max_arrays=WORKSPACE_ARRAYS):
        self.max_arrays = max_arrays
        self._arrays = []
        self._lock = threading.Lock()

    def empty(self, shape, dtype):
        shape = tuple(shape) if np.iterable(shape) else (shape,)
        dtype = np.dtype(dtype)
        arrays = self._arrays
        with self._lock:
            if self._free is not None:
                for i in range(len(arrays)):
                    if (
                        arrays[i].shape == shape
                        and arrays[i].dtype == dtype
                        and sys.getrefcount(arrays[i]) == self._free
                    ):
                        return arrays[i]
            array = np.empty(shape, dtype=dtype)
            if self._free is None or array.nbytes > WORKSPACE_BYTES:
                return array
            arrays.append(array)
            if len(arrays) > self.max_arrays:
                del arrays[0]
            return array

    def zeros(self, shape, dtype):
        array = self.empty(shape, dtype)
        array.fill(0)
        return array


def workspace(owner):
    """The ``Workspace`` of `owner` (created on first use; its
    ``__getstate__`` should drop ``_workspace``)."""
    workspace = owner.__dict__.get("_workspace")
    if workspace is None:
        workspace = owner.__dict__.setdefault("_workspace", Workspace())
    return workspace


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

    def transport(self, point, new_point, vector):
        """`vector`, a step direction at `point`, moved to `new_point`."""
        return vector

    def retract_transport(self, point, step, vectors=()):
        """:meth:`retract` and :meth:`transport` of each of `vectors` at once
        (a manifold may share their work): ``(new_point, moved_vectors)``."""
        new_point = self.retract(point, step)
        return new_point, [self.transport(point, new_point, v) for v in vectors]

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


class Oblique(Manifold):
    """Matrices whose rows have unit norm (a dictionary of unit-norm atoms).

    The product of spheres, one per row: the Riemannian gradient removes
    from each row of the Euclidean gradient its component along the row
    (``G - diag(G P^T) P``), a step is retracted by normalising the rows of
    ``P + V``, and momentum is transported by the same projection. Adaptive
    optimizers keep one second moment per row, since an entrywise scaling
    would leave the tangent space.
    """

    moment_axes = (-1,)
    reproject_every = 100

    def egrad_to_rgrad(self, point, egrad):
        return egrad - np.sum(egrad * point, axis=-1, keepdims=True) * point

    def retract(self, point, step):
        return self.project(point + step)

    def transport(self, point, new_point, vector):
        return self.egrad_to_rgrad(new_point, vector)

    def project(self, point):
        norms = np.linalg.norm(point, axis=-1, keepdims=True)
        # A row that vanished has no direction left: it keeps the zero row's
        # place and is reported by `distance` rather than divided by zero.
        return point / np.where(norms > 0, norms, 1)

    def distance(self, point):
        """``max | ||row|| - 1 |`` over the rows."""
        if not point.size:
            return 0.0
        return float(np.max(np.abs(np.linalg.norm(point, axis=-1) - 1.0)))


def _skew(matrices):
    return 0.5 * (matrices - np.swapaxes(matrices, -1, -2))


def _transpose(matrices):
    return np.swapaxes(matrices, -1, -2)


# Degrees of the Cayley series, tried in turn before the LU factorisation:
# degree 2 j takes j + 2 (n, n) products; beyond 6, LU and solves were as
# fast at n = 256 (one OpenBLAS thread).
CAYLEY_SERIES_DEGREES = (2, 4, 6)


def _cayley(point, step, vectors=(), empty=np.empty):
    """``A C`` with ``C = (I - W/2)^{-1} (I + W/2)`` for a skew `step` ``W``,
    and the transport by projection ``skew(C^T V)`` of each of `vectors`.

    A small step (the optimizers' usual case) takes the series
    (:func:`_cayley_series`), a larger one the LU factorisation
    (:func:`_cayley_lu`). `empty` allocates the series' arrays.
    """
    n = step.shape[-1]
    dtype = np.result_type(step, 0.5)
    half = np.multiply(step, 0.5, out=empty(step.shape, dtype)).reshape(-1, n, n)
    # ||E^j||_2 <= ||E||_F^j: a bound on the truncation of the series.
    size = float(np.sqrt(np.max(np.einsum("kij,kij->k", half, half), initial=0.0)))
    eps = np.finfo(np.result_type(point, step)).eps
    if size < 0.5:
        for degree in CAYLEY_SERIES_DEGREES:
            if 2 * size ** (degree + 1) / (1 - size) <= eps / 2:
                return _cayley_series(point, half, vectors, degree, empty)
    return _cayley_lu(point, step, vectors)


def _cayley_series(point, half, vectors, degree, empty=np.empty):
    """:func:`_cayley` by ``C = I + 2 P``, ``P = E + E^2 + ... + E^degree``
    with ``E = W/2`` (``E (I - E)^{-1}`` truncated below rounding).

    GEMMs only: ``(n, n)`` LU factorisations and triangular solves run at a
    fraction of the GEMM rate (1/3 to 1/6 with OpenBLAS at n = 100-256).
    ``P`` takes ``degree / 2`` products (``E^2``, then ``(E + E^2) E^{2i}``
    one after the other), then ``A C = A + 2 A P`` and, since ``P^T = p(-E)``
    and ``V^T = -V``, ``skew(C^T V) = V + V P - (V P)^T``. `half` (``E``) is
    overwritten.
    """
    n = point.shape[-1]
    points = np.reshape(point, (-1, n, n))

    def matmul(a, b):
        return np.matmul(a, b, out=empty(a.shape, np.result_type(a, b)))

    squared = matmul(half, half)
    term = half
    term += squared
    if degree == 2:
        series = term
    else:
        series = empty(term.shape, term.dtype)
        np.copyto(series, term)
    for _ in range(degree // 2 - 1):
        term = matmul(term, squared)
        series += term
    new_points = matmul(points, series)
    new_points *= 2.0
    new_points += points
    moved = []
    for vector in vectors:
        vector = np.reshape(vector, (-1, n, n))
        product = matmul(vector, series)
        out = np.subtract(
            product,
            np.swapaxes(product, -1, -2),
            out=empty(product.shape, product.dtype),
        )
        out += vector
        moved.append(out.reshape(point.shape))
    return new_points.reshape(point.shape), moved


def _cayley_lu(point, step, vectors=()):
    """:func:`_cayley` from one LU factorisation per matrix and no product.

    ``C = 2 (I - W/2)^{-1} - I``, so ``(A C)^T = 2 Y - A^T`` and
    ``C^T V = 2 Z - V`` with ``(I + W/2) [Y, Z] = [A^T, V]`` (``W^T = -W``).
    A C-contiguous array read in Fortran order is its transpose: the C
    arrays ``I - W/2``, ``A`` and ``V`` are, for LAPACK, ``I + W/2``,
    ``A^T`` and ``-V``, with no copy (numpy's batched solve transposes
    every operand both ways).
    """
    n = point.shape[-1]
    points = np.ascontiguousarray(point).reshape(-1, n, n)
    # C-ordered I - W/2, factorised in place of the half step.
    systems = np.multiply(step, -0.5, order="C").reshape(-1, n, n)
    diagonal = np.arange(n)
    systems[:, diagonal, diagonal] += 1.0
    vectors = [np.ascontiguousarray(v).reshape(-1, n, n) for v in vectors]
    getrf, getrs = scipy.linalg.get_lapack_funcs(("getrf", "getrs"), (systems,))
    new_points = np.empty_like(points)
    moved = [np.empty_like(v) for v in vectors]
    for k in range(points.shape[0]):
        lu, pivots, info = getrf(systems[k].T, overwrite_a=True)
        if info != 0:
            raise np.linalg.LinAlgError(
                "the Cayley retraction met a singular I + W/2: the step is not "
                "skew or not finite."
            )
        solved, _ = getrs(lu, pivots, points[k].T)
        np.multiply(solved.T, 2.0, out=new_points[k])
        new_points[k] -= points[k]
        for vector, out in zip(vectors, moved, strict=True):
            # The right side reads as V^T = -V, so X = -Z and
            # skew(2 Z - V) = Z - Z^T - V = X^T - X - V.
            negated, _ = getrs(lu, pivots, vector[k].T)
            np.subtract(negated.T, negated, out=out[k])
            out[k] -= vector[k]
    shape = point.shape
    return new_points.reshape(shape), [m.reshape(shape) for m in moved]


class OrthogonalGroup(Manifold):
    """The orthogonal group ``O(n)``, for single matrices or stacks ``(..., n, n)``.

    Directions are in the Lie algebra (left trivialisation): a skew matrix
    ``W`` stands for the tangent vector ``A W`` at ``A``. Norms are those of
    the ambient vectors (``A`` is orthogonal), so the optimizers' steps and
    second moments are those of the ambient vectors (the same optimizer
    trajectories), while a gradient costs one ``A^T G`` product and a
    retraction is ``A`` times a map of ``W`` alone. The momentum is
    transported by projection, ``A W -> A' skew(A'^T A W)``, which in these
    coordinates is ``skew(C^T W)`` with ``A' = A C``.

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
          ``(I + W/2) Y = A^T`` (no inverse, no further product); the same
          solve transports the momentum.
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

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_workspace", None)
        return state

    def egrad_to_rgrad(self, point, egrad):
        """Riemannian gradient in the Lie algebra, ``skew(A^T G)`` (the tangent
        vector ``A skew(A^T G)``)."""
        empty = workspace(self).empty
        dtype = np.result_type(point, egrad)
        shape = np.broadcast_shapes(point.shape, egrad.shape)
        product = np.matmul(_transpose(point), egrad, out=empty(shape, dtype))
        skew = np.subtract(product, _transpose(product), out=empty(shape, dtype))
        skew *= 0.5
        return skew

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
        return self.retract_transport(point, step)[0]

    def transport(self, point, new_point, vector):
        """Vector transport by projection: ``A W`` at `point` projected onto
        the tangent space at `new_point`, ``skew(new_point^T A W)``."""
        return _skew((_transpose(new_point) @ point) @ vector)

    def retract_transport(self, point, step, vectors=()):
        if self.retraction == "cayley":
            return _cayley(point, step, vectors, workspace(self).empty)
        identity = np.eye(point.shape[-1], dtype=point.dtype)
        if self.retraction == "qr":
            # QR(A M) = (A Q) R for orthogonal A.
            q, r = np.linalg.qr(identity + step)
            signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
            signs[signs == 0] = 1.0
            rotation = q * signs[..., None, :]
        else:
            rotation = self.project(identity + step)
        # A' = A C, so A'^T A = C^T.
        moved = [_skew(_transpose(rotation) @ v) for v in vectors]
        return point @ rotation, moved

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
