"""Fused optimizer steps."""

import numpy as np
from numba import njit

from ._jit import JIT


@njit(**JIT)
def adam_step(param, grad, first_moment, second_moment, step, beta_1, beta_2, epsilon):
    """Fused in-place Adam update of flat arrays (one pass, no temporaries)."""
    for i in range(param.size):
        g = grad[i]
        m = beta_1 * first_moment[i] + (1.0 - beta_1) * g
        v = beta_2 * second_moment[i] + (1.0 - beta_2) * g * g
        first_moment[i] = m
        second_moment[i] = v
        param[i] -= step * m / (np.sqrt(v) + epsilon)
