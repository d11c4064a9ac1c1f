"""The numba options every kernel module compiles with."""

# Kernels called from Python: compiled once per dtype (float32, float64),
# cached on disk, and free of the GIL so that chunks can run in threads.
JIT = {"cache": True, "nogil": True}

# The row-wise loops also let LLVM fuse ``a * b + c`` into one FMA instruction
# (one rounding instead of two): results move at rounding level only. Their
# divisions never raise (numpy's error model: no ZeroDivisionError branch,
# whose exit path would keep the reference counting of INLINE helpers).
JIT_ROWS = {**JIT, "fastmath": {"contract"}, "error_model": "numpy"}

# Helpers that numba pastes into their caller at the IR level: no call in a
# hot loop (a plain call there was measured slower), and the caller's
# options (nogil, fastmath) apply to them. Note that numba's disk cache is
# keyed on the caller's own source file: after editing a helper, clear the
# ``__pycache__`` of this package (or touch the callers' modules).
INLINE = {"inline": "always"}
