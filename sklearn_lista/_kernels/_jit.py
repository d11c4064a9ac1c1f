"""The numba options every kernel module compiles with."""

# Kernels called from Python: compiled once per dtype (float32, float64),
# cached on disk, and free of the GIL so that chunks can run in threads.
JIT = {"cache": True, "nogil": True}

# The row-wise loops also let LLVM fuse ``a * b + c`` into one FMA instruction
# (one rounding instead of two): results move at rounding level only. Their
# divisions never raise (numpy's error model): a ZeroDivisionError exit inside
# an INLINE helper would keep its reference counting (below).
JIT_ROWS = {**JIT, "fastmath": {"contract"}, "error_model": "numpy"}

# Helpers that numba pastes into their caller at the IR level, compiled with
# the caller's options. Rules for the ones called in a hot loop:
# - numba binds each array argument to a new variable: an atomic incref and
#   decref per argument per call, which LLVM removes only if every argument's
#   last use is the same on all paths. So: one exit, no array used in one
#   branch of an ``if`` only (write a loop of zero trips instead), no raising
#   operation. Broken, these pairs made the row-wise solver 1.5-3x slower
#   (tests/test_kernels.py counts them in the compiled kernels).
# - numba's disk cache is keyed on the caller's own source file: after editing
#   a helper, clear this package's ``__pycache__`` (or touch the callers).
INLINE = {"inline": "always"}
