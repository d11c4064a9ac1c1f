"""Numba kernels: arrays and scalars in, arrays out.

Nothing here knows about estimators; the callers validate shapes, dtypes and
contiguity. All kernels release the GIL so that chunks can run in threads, and
they are compiled lazily (once per dtype, float32 and float64) and cached on
disk.

- :mod:`.prox`: the proximal operators (soft, positive, support selection) as
  inline helpers, and their codes ``PROXIMAL_OPERATORS``.
- :mod:`.steps`: whole-array ISTA/FISTA passes after the caller's BLAS product.
- :mod:`.rowwise`: the row-wise ISTA/FISTA solver for sparse iterates.
- :mod:`.polish`: support polishing, the exact Lasso solve on a support
  (with active-set corrections) that finishes the solvers' ``tol`` path.
- :mod:`.layers`: the unrolled networks' layer passes and their backward.
- :mod:`.sparse`: products that walk the non-zeros of a sparse operand.
- :mod:`.gap`: the Lasso's cost and duality gap.
- :mod:`.optim`: fused optimizer steps.
"""

from .gap import lasso_duality_gap
from .layers import (
    sparse_thresholded_layer,
    thresholded_layer,
    thresholded_layer_backward,
)
from .optim import adam_step
from .prox import (
    POSITIVE,
    PROXIMAL_OPERATORS,
    SOFT,
    SUPPORT_SELECTION,
    prox_code,
)
from .rowwise import polish_rows, thresholding_rows
from .sparse import count_nonzero_rows, sparse_matmul, sparse_transpose_matmul
from .steps import (
    count_beyond_threshold,
    fista_restart_step,
    fista_step,
    ista_step,
)

__all__ = [
    "POSITIVE",
    "PROXIMAL_OPERATORS",
    "SOFT",
    "SUPPORT_SELECTION",
    "adam_step",
    "count_beyond_threshold",
    "count_nonzero_rows",
    "fista_restart_step",
    "fista_step",
    "ista_step",
    "lasso_duality_gap",
    "polish_rows",
    "prox_code",
    "sparse_matmul",
    "sparse_thresholded_layer",
    "sparse_transpose_matmul",
    "thresholded_layer",
    "thresholded_layer_backward",
    "thresholding_rows",
]
