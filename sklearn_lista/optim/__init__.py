"""Optimisation: manifolds of parameters, optimizers, learning-rate schedules.

A new constraint on a parameter is a new :class:`~sklearn_lista.optim.Manifold`
subclass; a new optimizer implements ``_direction`` of
:class:`~sklearn_lista.optim.BaseOptimizer`; a new schedule implements ``on_stall``.
"""

from .manifolds import (
    Euclidean,
    Manifold,
    NonNegative,
    Oblique,
    OrthogonalGroup,
    Positive,
)
from .optimizers import (
    OPTIMIZERS,
    AdagradOptimizer,
    AdamOptimizer,
    BaseOptimizer,
    SGDOptimizer,
    make_optimizer,
)
from .schedules import SCHEDULES, ConstantSchedule, PlateauSchedule

__all__ = [
    "Manifold",
    "Euclidean",
    "NonNegative",
    "Positive",
    "OrthogonalGroup",
    "Oblique",
    "BaseOptimizer",
    "SGDOptimizer",
    "AdagradOptimizer",
    "AdamOptimizer",
    "OPTIMIZERS",
    "make_optimizer",
    "ConstantSchedule",
    "PlateauSchedule",
    "SCHEDULES",
]
