"""Fast and learned sparse coding for scikit-learn."""

from ._base import BaseCoder, lasso_cost
from ._classical import FISTACoder, ISTACoder
from ._facnet import FacNetCoder
from ._learned import LFISTACoder, LISTACoder

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseCoder",
    "ISTACoder",
    "FISTACoder",
    "LISTACoder",
    "LFISTACoder",
    "FacNetCoder",
    "lasso_cost",
    "__version__",
]
