"""Fast and learned sparse coding for scikit-learn."""

from ._coders import (
    ALISTACoder,
    BaseCoder,
    FacNetCoder,
    FISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTAClassifier,
    LISTACoder,
    LISTARegressor,
    StepLISTACoder,
)
from ._lasso import lasso_cost
from ._onnx import register_onnx_converters, to_onnx

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
    "LISTAClassifier",
    "LISTARegressor",
    "lasso_cost",
    "to_onnx",
    "register_onnx_converters",
    "__version__",
]
