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
