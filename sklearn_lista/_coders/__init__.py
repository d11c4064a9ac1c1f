"""The estimators: validation and orchestration only (solvers are functions)."""

from ._base import BaseCoder
from .classical import FISTACoder, ISTACoder
from .facnet import FacNetCoder
from .learned import (
    ALISTACoder,
    BaseLearnedCoder,
    LFISTACoder,
    LISTACoder,
    StepLISTACoder,
)
from .task import BaseTaskDriven, LISTAClassifier, LISTARegressor

__all__ = [
    "BaseCoder",
    "BaseLearnedCoder",
    "ISTACoder",
    "FISTACoder",
    "LISTACoder",
    "LFISTACoder",
    "StepLISTACoder",
    "ALISTACoder",
    "FacNetCoder",
    "BaseTaskDriven",
    "LISTAClassifier",
    "LISTARegressor",
]
