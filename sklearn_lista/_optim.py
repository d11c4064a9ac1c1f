"""Stochastic optimizers updating lists of parameter arrays in place.

They know nothing about networks: ``update_params(params, grads)`` takes two
lists of arrays of matching shapes, so one object trains any architecture.
"""

import numpy as np

from ._kernels import adam_step


class BaseOptimizer:
    """Base class: a learning rate and in-place updates.

    Parameters
    ----------
    learning_rate_init : float
        Initial step size; :meth:`scale_learning_rate` shrinks it when the
        training loop rejects a step.
    """

    def __init__(self, learning_rate_init=1e-3):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)

    def update_params(self, params, grads):
        """Apply one step: ``param += update`` for every parameter array."""
        for param, update in zip(params, self._get_updates(params, grads), strict=True):
            param += update.astype(param.dtype, copy=False)

    def scale_learning_rate(self, factor):
        """Multiply the learning rate by `factor` and forget the running state."""
        self.learning_rate *= factor
        self.reset()

    def reset(self):
        """Forget accumulated state (moments, velocities)."""

    def _get_updates(self, params, grads):  # pragma: no cover - abstract
        raise NotImplementedError


class SGDOptimizer(BaseOptimizer):
    """Stochastic gradient descent with (Nesterov) momentum.

    ``v <- momentum * v - lr * g``; the update is ``v`` (or
    ``momentum * v - lr * g`` with Nesterov's variant).
    """

    def __init__(self, learning_rate_init=1e-3, momentum=0.9, nesterov=False):
        super().__init__(learning_rate_init)
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = None

    def reset(self):
        self.velocities = None

    def _get_updates(self, params, grads):
        if self.velocities is None:
            self.velocities = [np.zeros_like(g) for g in grads]
        updates = []
        for velocity, grad in zip(self.velocities, grads, strict=True):
            velocity *= self.momentum
            velocity -= self.learning_rate * grad
            if self.nesterov:
                updates.append(self.momentum * velocity - self.learning_rate * grad)
            else:
                updates.append(velocity.copy())
        return updates


class AdagradOptimizer(BaseOptimizer):
    """Adagrad (the optimizer of the paper's experiments).

    ``G <- G + g^2``; update ``-lr * g / (sqrt(G) + epsilon)``.
    """

    def __init__(self, learning_rate_init=1e-2, epsilon=1e-10):
        super().__init__(learning_rate_init)
        self.epsilon = epsilon
        self.accumulators = None

    def reset(self):
        self.accumulators = None

    def _get_updates(self, params, grads):
        if self.accumulators is None:
            self.accumulators = [np.zeros_like(g) for g in grads]
        updates = []
        for accumulator, grad in zip(self.accumulators, grads, strict=True):
            accumulator += grad * grad
            updates.append(
                -self.learning_rate * grad / (np.sqrt(accumulator) + self.epsilon)
            )
        return updates


class AdamOptimizer(BaseOptimizer):
    """Adam (Kingma & Ba, 2014) with bias correction folded in the step size.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``; update
    ``-lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)``.
    """

    def __init__(self, learning_rate_init=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__(learning_rate_init)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.reset()

    def reset(self):
        self.t = 0
        self.first_moments = None
        self.second_moments = None

    def _step_size(self):
        return (
            self.learning_rate
            * np.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
        )

    def update_params(self, params, grads):
        """Apply one step in place (a fused numba pass per contiguous array)."""
        if not all(p.flags.c_contiguous for p in params):
            return super().update_params(params, grads)
        if self.first_moments is None:
            self.first_moments = [np.zeros_like(p) for p in params]
            self.second_moments = [np.zeros_like(p) for p in params]
        self.t += 1
        step = self._step_size()
        for param, grad, m, v in zip(
            params, grads, self.first_moments, self.second_moments, strict=True
        ):
            adam_step(
                param.reshape(-1),
                np.ascontiguousarray(grad, dtype=param.dtype).reshape(-1),
                m.reshape(-1),
                v.reshape(-1),
                param.dtype.type(step),
                param.dtype.type(self.beta_1),
                param.dtype.type(self.beta_2),
                param.dtype.type(self.epsilon),
            )

    def _get_updates(self, params, grads):
        if self.first_moments is None:
            self.first_moments = [np.zeros_like(g) for g in grads]
            self.second_moments = [np.zeros_like(g) for g in grads]
        self.t += 1
        step = self._step_size()
        updates = []
        for m, v, grad in zip(
            self.first_moments, self.second_moments, grads, strict=True
        ):
            m *= self.beta_1
            m += (1 - self.beta_1) * grad
            v *= self.beta_2
            v += (1 - self.beta_2) * grad * grad
            updates.append(-step * m / (np.sqrt(v) + self.epsilon))
        return updates


OPTIMIZERS = {"adam": AdamOptimizer, "adagrad": AdagradOptimizer, "sgd": SGDOptimizer}


def make_optimizer(name, learning_rate_init):
    """Build an optimizer by name (``"adam"``, ``"adagrad"`` or ``"sgd"``)."""
    return OPTIMIZERS[name](learning_rate_init=learning_rate_init)


# ----------------------------------------------------------------------------
# Optimisation on the orthogonal group (FacNet's rotations A).


def _skew(matrices):
    return 0.5 * (matrices - np.swapaxes(matrices, -1, -2))


def _transpose(matrices):
    return np.swapaxes(matrices, -1, -2)


class OrthogonalGroup:
    """The orthogonal group ``O(n)``, for single matrices or stacks ``(..., n, n)``.

    Parameters
    ----------
    retraction : {"cayley", "qr", "polar"}, default="cayley"
        How a tangent step is mapped back onto the group:

        - ``"qr"``: Q factor of ``A + V`` with the signs of ``diag(R)`` fixed
          so that the map is continuous;
        - ``"polar"``: the orthogonal factor of ``A + V`` (its nearest
          orthogonal matrix), from an SVD;
        - ``"cayley"``: ``A (I - W/2)^{-1} (I + W/2)`` with ``W = A^T V`` skew,
          exact for orthogonality up to rounding and cheap for small steps.
    """

    def __init__(self, retraction="cayley"):
        if retraction not in ("cayley", "qr", "polar"):
            raise ValueError(
                f"retraction must be 'cayley', 'qr' or 'polar', got {retraction!r}."
            )
        self.retraction_name = retraction

    def projection(self, point, euclidean_grad):
        """Riemannian gradient: ``A skew(A^T G)``, tangent to the group at ``A``."""
        return point @ _skew(_transpose(point) @ euclidean_grad)

    def retraction(self, point, tangent):
        """Move from `point` along `tangent` and land exactly on the group."""
        if self.retraction_name == "qr":
            q, r = np.linalg.qr(point + tangent)
            signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
            signs[signs == 0] = 1.0
            return q * signs[..., None, :]
        if self.retraction_name == "polar":
            return self.project_to_manifold(point + tangent)
        skew = _skew(_transpose(point) @ tangent)
        identity = np.eye(point.shape[-1], dtype=point.dtype)
        return point @ np.linalg.solve(identity - 0.5 * skew, identity + 0.5 * skew)

    def transport(self, new_point, tangent):
        """Vector transport by projection onto the tangent space at `new_point`."""
        return new_point @ _skew(_transpose(new_point) @ tangent)

    @staticmethod
    def project_to_manifold(matrices):
        """Nearest orthogonal matrix (polar factor), to undo rounding drift."""
        u, _, vt = np.linalg.svd(matrices)
        return u @ vt

    @staticmethod
    def distance_to_manifold(matrices):
        """``max |A^T A - I|`` over the entries (and the stack)."""
        identity = np.eye(matrices.shape[-1])
        return float(np.max(np.abs(_transpose(matrices) @ matrices - identity)))

    @staticmethod
    def random_point(n, random_state=None, size=()):
        """Haar-distributed orthogonal matrices of shape ``size + (n, n)``."""
        from sklearn.utils import check_random_state

        rng = check_random_state(random_state)
        q, r = np.linalg.qr(rng.standard_normal((*size, n, n)))
        return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


class RiemannianOptimizer:
    """Riemannian SGD (with momentum) or Adam on a manifold, updating in place.

    Euclidean gradient -> Riemannian gradient (``manifold.projection``) ->
    step in the tangent space -> ``manifold.retraction``; the momentum is
    carried to the new point by ``manifold.transport``. The Adam variant keeps
    one second moment per matrix (the squared norm of the Riemannian gradient),
    as in Bécigneul & Ganea (2019), since entrywise scaling would leave the
    tangent space. Every `reproject_every` steps the points are projected back
    onto the manifold to stop rounding drift.

    Parameters
    ----------
    manifold : OrthogonalGroup
    method : {"sgd", "adam"}, default="adam"
    learning_rate_init : float, default=1e-3
    momentum : float, default=0.9
        SGD momentum.
    beta_1, beta_2, epsilon : float
        Adam parameters.
    reproject_every : int, default=100
    """

    def __init__(
        self,
        manifold,
        method="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        reproject_every=100,
    ):
        if method not in ("sgd", "adam"):
            raise ValueError(f"method must be 'sgd' or 'adam', got {method!r}.")
        self.manifold = manifold
        self.method = method
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.reproject_every = reproject_every
        self.reset()

    def reset(self):
        """Forget the momentum and moment estimates."""
        self.t = 0
        self.first_moments = None
        self.second_moments = None

    def scale_learning_rate(self, factor):
        self.learning_rate *= factor
        self.reset()

    def update_params(self, params, euclidean_grads):
        """One Riemannian step for every point in `params`, in place."""
        if self.first_moments is None:
            self.first_moments = [np.zeros_like(p) for p in params]
            self.second_moments = [np.zeros(p.shape[:-2] + (1, 1)) for p in params]
        self.t += 1
        for index, (point, grad) in enumerate(
            zip(params, euclidean_grads, strict=True)
        ):
            rgrad = self.manifold.projection(point, grad)
            moment = self.first_moments[index]
            if self.method == "sgd":
                moment *= self.momentum
                moment -= self.learning_rate * rgrad
                step = moment
            else:
                moment *= self.beta_1
                moment += (1 - self.beta_1) * rgrad
                second = self.second_moments[index]
                second *= self.beta_2
                second += (1 - self.beta_2) * np.sum(
                    rgrad * rgrad, axis=(-2, -1), keepdims=True
                )
                corrected = np.sqrt(second / (1 - self.beta_2**self.t))
                step = (
                    -self.learning_rate
                    / (1 - self.beta_1**self.t)
                    * moment
                    / (corrected + self.epsilon)
                )
            new_point = self.manifold.retraction(point, step)
            if self.reproject_every and self.t % self.reproject_every == 0:
                new_point = self.manifold.project_to_manifold(new_point)
            moment[...] = self.manifold.transport(new_point, moment)
            point[...] = new_point


class CompositeOptimizer:
    """Route each parameter to its own optimizer (e.g. rotations on a manifold,
    scales in Euclidean space), behind the ``update_params`` interface.

    Parameters
    ----------
    routes : list of (list of int, optimizer)
        Indices of the parameters (and gradients) each optimizer updates.
    """

    def __init__(self, routes):
        self.routes = routes

    @property
    def learning_rate(self):
        return self.routes[0][1].learning_rate

    def update_params(self, params, grads):
        for indices, optimizer in self.routes:
            optimizer.update_params(
                [params[i] for i in indices], [grads[i] for i in indices]
            )

    def scale_learning_rate(self, factor):
        for _, optimizer in self.routes:
            optimizer.scale_learning_rate(factor)

    def reset(self):
        for _, optimizer in self.routes:
            optimizer.reset()
