"""Sparse-aware products.

After a few iterations the iterate has a handful of non-zeros per row, and a
product with it costs O(nnz * K) when only the rows of the other operand
selected by those non-zeros are accumulated. Callers choose between these and
the dense BLAS product from the measured density.
"""

import numpy as np
from numba import njit

from ._jit import INLINE, JIT


@njit(**INLINE)
def accumulate_nonzeros(acc, A, i, matrix):
    """``acc += A[i] @ matrix``, touching only the rows of `matrix` where
    ``A[i] != 0``."""
    n_cols = matrix.shape[1]
    for j in range(A.shape[1]):
        value = A[i, j]
        if value != 0:
            for col in range(n_cols):
                acc[col] += value * matrix[j, col]


@njit(**JIT)
def count_nonzero_rows(A):
    """Number of non-zero entries of a 2-D array (any layout)."""
    count = 0
    n_rows, n_cols = A.shape
    for i in range(n_rows):
        for j in range(n_cols):
            if A[i, j] != 0:
                count += 1
    return count


@njit(**JIT)
def sparse_matmul(A, W, out):
    """``out = A @ W`` accumulating only the rows of `W` where ``A[i] != 0``."""
    n_rows, n_inner = A.shape
    n_cols = W.shape[1]
    acc = np.empty(n_cols, dtype=out.dtype)
    for i in range(n_rows):
        acc[:] = 0.0
        accumulate_nonzeros(acc, A, i, W)
        for col in range(n_cols):
            out[i, col] = acc[col]


@njit(**JIT)
def sparse_transpose_matmul(A, B, out):
    """``out = A.T @ B`` accumulating ``A[i, j] * B[i]`` over non-zeros of `A`."""
    n_rows, n_inner = A.shape
    n_cols = B.shape[1]
    out[:, :] = 0.0
    for i in range(n_rows):
        for j in range(n_inner):
            a = A[i, j]
            if a != 0:
                for col in range(n_cols):
                    out[j, col] += a * B[i, col]
