"""Fast and learned sparse coding for scikit-learn."""

from ._coders import (
    ALISTACoder,
    BaseCoder,
    FacNetCoder,
    FISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTACoder,
    StepLISTACoder,
)
from ._lasso import lasso_cost

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseCoder",
    "ISTACoder",
    "FISTACoder",
    "LISTACoder",
    "LFISTACoder",
    "StepLISTACoder",
    "ALISTACoder",
    "FacNetCoder",
    "lasso_cost",
    "__version__",
]
