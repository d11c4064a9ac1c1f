"""Stochastic optimizers stepping named parameters, each on its own manifold.

``update_params(params, grads)`` takes two dicts of arrays keyed by parameter
name; the manifold of each name (given at construction) turns its Euclidean
gradient into a step and maps the step back onto the set (geoopt's
``ManifoldParameter`` idea). The optimizers know nothing about networks, so
one object trains any architecture. Subclasses implement
``_direction(name, rgrad, manifold)``: the step from the gradient and the
optimizer's state.
"""

import numpy as np

from .._kernels import adam_step
from .manifolds import Euclidean, NonNegative, workspace

# Manifolds whose retraction is "add the step, then project": Adam's fused
# in-place kernel applies to them.
_LINEAR_MANIFOLDS = (Euclidean, NonNegative)


class BaseOptimizer:
    """Base class: a learning rate, per-parameter state and in-place updates.

    Parameters
    ----------
    manifolds : dict of str -> Manifold
        The manifold of every parameter the optimizer updates.
    learning_rate_init : float
        Initial step size; :meth:`scale_learning_rate` shrinks it when the
        training loop rejects a step or meets a plateau.
    """

    def __init__(self, manifolds, learning_rate_init=1e-3):
        self.manifolds = dict(manifolds)
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.reset()

    def reset(self):
        """Forget accumulated state (moments, velocities, step count)."""
        self.t = 0
        self.state = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_workspace", None)
        return state

    def scale_learning_rate(self, factor):
        """Multiply the learning rate by `factor` and forget the running state."""
        self.learning_rate *= factor
        self.reset()

    def update_params(self, params, grads):
        """One step for every parameter of `params`, in place.

        Parameters
        ----------
        params : dict of str -> ndarray
            Points, updated in place (their dtype is kept).
        grads : dict of str -> ndarray
            Euclidean gradients of the loss, same keys and shapes.
        """
        self.t += 1
        for name, point in params.items():
            manifold = self.manifolds[name]
            rgrad = manifold.egrad_to_rgrad(point, grads[name])
            step = self._direction(name, rgrad, manifold)
            # Direction-like state (momentum) moves with the point.
            moment = self.state[name].get("moment")
            carried = (
                (moment,)
                if moment is not None and not isinstance(manifold, _LINEAR_MANIFOLDS)
                else ()
            )
            new_point, moved = manifold.retract_transport(point, step, carried)
            if carried and moved[0] is not moment:
                moment[...] = moved[0]
            every = manifold.reproject_every
            if every and self.t % every == 0:
                new_point = manifold.project(new_point)
            point[...] = new_point

    def _state(self, name, rgrad, manifold, second_moment=True):
        """Zero state for `name` at its first step: a first moment like the
        gradient and a second one per entry or per `moment_axes` block."""
        if name not in self.state:
            state = {"moment": np.zeros_like(rgrad)}
            if second_moment:
                shape = rgrad.shape
                if manifold.moment_axes is not None:
                    shape = tuple(
                        1 if axis in _normalise(manifold.moment_axes, rgrad.ndim) else n
                        for axis, n in enumerate(rgrad.shape)
                    )
                state["second"] = np.zeros(shape, dtype=rgrad.dtype)
            self.state[name] = state
        return self.state[name]

    def _direction(self, name, rgrad, manifold):  # pragma: no cover - abstract
        raise NotImplementedError


def _normalise(axes, ndim):
    return {axis % ndim for axis in axes}


def _squared(rgrad, manifold, out=None):
    squared = np.multiply(rgrad, rgrad, out=out)
    if manifold.moment_axes is None:
        return squared
    return np.sum(squared, axis=manifold.moment_axes, keepdims=True)


class SGDOptimizer(BaseOptimizer):
    """Stochastic gradient descent with (Nesterov) momentum.

    ``v <- momentum * v - lr * g``; the step is ``v`` (or
    ``momentum * v - lr * g`` with Nesterov's variant). On a curved manifold
    ``g`` is the Riemannian gradient and ``v`` is transported after each step.

    Parameters
    ----------
    manifolds : dict of str -> Manifold
    learning_rate_init : float, default=1e-3
    momentum : float, default=0.9
    nesterov : bool, default=False
    """

    def __init__(
        self, manifolds, learning_rate_init=1e-3, momentum=0.9, nesterov=False
    ):
        self.momentum = momentum
        self.nesterov = nesterov
        super().__init__(manifolds, learning_rate_init)

    def _direction(self, name, rgrad, manifold):
        velocity = self._state(name, rgrad, manifold, second_moment=False)["moment"]
        velocity *= self.momentum
        velocity -= self.learning_rate * rgrad
        if self.nesterov:
            return self.momentum * velocity - self.learning_rate * rgrad
        return velocity.copy()


class AdagradOptimizer(BaseOptimizer):
    """Adagrad (the optimizer of the paper's experiments).

    ``G <- G + g^2``; step ``-lr * g / (sqrt(G) + epsilon)``, with one
    accumulator per entry, or per matrix on the orthogonal group.

    Parameters
    ----------
    manifolds : dict of str -> Manifold
    learning_rate_init : float, default=1e-2
    epsilon : float, default=1e-10
    """

    def __init__(self, manifolds, learning_rate_init=1e-2, epsilon=1e-10):
        self.epsilon = epsilon
        super().__init__(manifolds, learning_rate_init)

    def _direction(self, name, rgrad, manifold):
        accumulator = self._state(name, rgrad, manifold)["second"]
        accumulator += _squared(rgrad, manifold)
        return -self.learning_rate * rgrad / (np.sqrt(accumulator) + self.epsilon)


class AdamOptimizer(BaseOptimizer):
    """Adam (Kingma & Ba, 2014) with bias correction folded in the step size.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``; step
    ``-lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)``. On the
    orthogonal group ``v`` is one number per matrix (the squared norm of the
    Riemannian gradient, as in Bécigneul & Ganea, 2019), since an entrywise
    scaling would leave the tangent space, and ``m`` is transported.
    Euclidean and non-negative parameters take a fused in-place kernel.

    Parameters
    ----------
    manifolds : dict of str -> Manifold
    learning_rate_init : float, default=1e-3
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
    """

    def __init__(
        self, manifolds, learning_rate_init=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8
    ):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        super().__init__(manifolds, learning_rate_init)

    def _step_size(self):
        return (
            self.learning_rate
            * np.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
        )

    def update_params(self, params, grads):
        fused = {
            name: point
            for name, point in params.items()
            if isinstance(self.manifolds[name], _LINEAR_MANIFOLDS)
            and point.flags.c_contiguous
        }
        others = {name: p for name, p in params.items() if name not in fused}
        # One step count for both groups: the parent increments it.
        super().update_params(others, grads)
        step = self._step_size()
        for name, point in fused.items():
            state = self._state(name, point, self.manifolds[name])
            adam_step(
                point.reshape(-1),
                np.ascontiguousarray(grads[name], dtype=point.dtype).reshape(-1),
                state["moment"].reshape(-1),
                state["second"].reshape(-1),
                point.dtype.type(step),
                point.dtype.type(self.beta_1),
                point.dtype.type(self.beta_2),
                point.dtype.type(self.epsilon),
            )
            if isinstance(self.manifolds[name], NonNegative):
                np.maximum(point, 0, out=point)

    def _direction(self, name, rgrad, manifold):
        state = self._state(name, rgrad, manifold)
        moment, second = state["moment"], state["second"]
        # The same operations as the plain expressions, in reused arrays (see
        # manifolds.Workspace).
        empty = workspace(self).empty
        scratch = np.multiply(
            rgrad, 1 - self.beta_1, out=empty(rgrad.shape, rgrad.dtype)
        )
        moment *= self.beta_1
        moment += scratch
        squared = _squared(rgrad, manifold, out=scratch)
        squared *= 1 - self.beta_2
        second *= self.beta_2
        second += squared
        step_size = -self._step_size()
        direction = np.multiply(
            step_size,
            moment,
            out=empty(moment.shape, np.result_type(step_size, moment)),
        )
        direction /= np.sqrt(second) + self.epsilon
        return direction


OPTIMIZERS = {"adam": AdamOptimizer, "adagrad": AdagradOptimizer, "sgd": SGDOptimizer}


def make_optimizer(name, manifolds, learning_rate_init):
    """Build an optimizer by name (``"adam"``, ``"adagrad"`` or ``"sgd"``)."""
    return OPTIMIZERS[name](manifolds, learning_rate_init=learning_rate_init)
