"""ONNX export: onnxruntime inference against our ``transform``.

Problem: Gaussian dictionary (K=100, P=64), Bernoulli-Gaussian codes of
density 0.05, ``alpha = 0.1 * alpha_max``, N = 10 000 signals, depth 16.
Coders: FISTA (16 iterations, no training), LISTA and LFISTA (16 layers,
trained for a few epochs on 2 000 signals: timings do not depend on how
well). Each coder is exported with :func:`sklearn_lista.to_onnx` in float32
and float64 and run by onnxruntime's CPU provider with 1 and 2 intra-op
threads (``inter_op_num_threads=1``, sequential execution, all graph
optimisations; with 2 threads also without spinning); ``transform`` runs
with ``n_jobs=1`` and ``n_jobs=2`` (BLAS capped to one thread per worker, as
``transform`` does). Medians of
interleaved repeats; the last columns are the model's size and node count
and the largest difference between the two codes, relative to the largest
code.

Run from the repository root::

    OPENBLAS_NUM_THREADS=2 python benchmarks/bench_onnx.py           # ~1 min
    OPENBLAS_NUM_THREADS=2 python benchmarks/bench_onnx.py --quick   # smoke run
"""

import argparse
import platform
import time
import warnings

import numpy as np
from _tables import print_table
from threadpoolctl import threadpool_limits

N_COMPONENTS = 100
N_FEATURES = 64
DENSITY = 0.05
ALPHA_RATIO = 0.1
DEPTH = 16


def fitted_coders(n_train, max_iter):
    from sklearn_lista import FISTACoder, LFISTACoder, LISTACoder
    from sklearn_lista.datasets import alpha_max, make_sparse_coding

    X, dictionary, _ = make_sparse_coding(
        n_train, N_COMPONENTS, N_FEATURES, density=DENSITY, random_state=1
    )
    alpha = ALPHA_RATIO * alpha_max(X, dictionary)
    training = {"max_iter": max_iter, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short training: ConvergenceWarning
        return (
            dictionary,
            alpha,
            {
                "FISTA": FISTACoder(dictionary, alpha=alpha, n_layers=DEPTH).fit(X),
                "LISTA": LISTACoder(
                    dictionary, alpha=alpha, n_layers=DEPTH, **training
                ).fit(X),
                "LFISTA": LFISTACoder(
                    dictionary, alpha=alpha, n_layers=DEPTH, **training
                ).fit(X),
            },
        )


def session(model, n_threads, spinning=True):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = n_threads
    # Spinning (onnxruntime's default) keeps idle pool threads busy-waiting:
    # faster on an idle machine, slower when other jobs share the cores.
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if spinning else "0"
    )
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def median_times(functions, repeats):
    """Median seconds of each function, calls interleaved over the repeats."""
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args()
    if args.quick:
        args.n_samples, args.repeats = 1000, 2

    import onnxruntime

    from sklearn_lista import to_onnx
    from sklearn_lista.datasets import make_sparse_coding

    start = time.perf_counter()
    _, _, coders = fitted_coders(500 if args.quick else 2000, 2 if args.quick else 5)
    X, _, _ = make_sparse_coding(
        args.n_samples, N_COMPONENTS, N_FEATURES, density=DENSITY, random_state=0
    )
    rows = []
    for name, coder in coders.items():
        for dtype in (np.float32, np.float64):
            Xd = X.astype(dtype)
            model = to_onnx(coder, dtype=dtype)
            sessions = {n: session(model, n) for n in (1, 2)}
            sessions["2 no spin"] = session(model, 2, spinning=False)
            onnx_codes = sessions[1].run(None, {"X": Xd})[0]
            codes = coder.transform(Xd)
            error = np.abs(onnx_codes - codes).max() / np.abs(codes).max()

            def ours(n_jobs, coder=coder, Xd=Xd):
                coder.set_params(n_jobs=n_jobs)
                with threadpool_limits(limits=1, user_api="blas"):
                    coder.transform(Xd)

            functions = {
                ("ours", 1): lambda: ours(1),
                ("ours", 2): lambda: ours(2),
                **{
                    ("onnx", n): (lambda s=s, Xd=Xd: s.run(None, {"X": Xd}))
                    for n, s in sessions.items()
                },
            }
            for function in functions.values():
                function()  # warm-up: compilation, first allocations
            times = median_times(functions, args.repeats)
            coder.set_params(n_jobs=None)
            rows.append(
                [
                    name,
                    np.dtype(dtype).name,
                    *(
                        f"{1e3 * times[(kind, n)]:.1f}"
                        for n in (1, 2)
                        for kind in ("ours", "onnx")
                    ),
                    f"{1e3 * times[('onnx', '2 no spin')]:.1f}",
                    *(f"{times[('ours', n)] / times[('onnx', n)]:.2f}" for n in (1, 2)),
                    f"{model.ByteSize() / 2**20:.2f}",
                    len(model.graph.node),
                    f"{error:.1e}",
                ]
            )
    print_table(
        f"transform against onnxruntime {onnxruntime.__version__}, "
        f"N={args.n_samples}, depth {DEPTH}, K={N_COMPONENTS}, P={N_FEATURES} "
        "(ms, medians)",
        [
            "coder",
            "dtype",
            "ours 1t",
            "onnx 1t",
            "ours 2t",
            "onnx 2t",
            "onnx 2t no spin",
            "ours/onnx 1t",
            "ours/onnx 2t",
            "model MiB",
            "nodes",
            "max rel diff",
        ],
        rows,
        notes=[
            "ours/onnx > 1: onnxruntime is faster. 'no spin': onnxruntime's "
            "session.intra_op.allow_spinning=0.",
            f"{platform.machine()}, {platform.python_version()}, "
            f"{args.repeats} repeats; total {time.perf_counter() - start:.0f} s",
        ],
    )
    loop_table(coders, X, args.repeats)


def lista_as_loop(coder, dtype):
    """The same 16-layer LISTA as an ONNX ``Loop`` over the layers (the
    alternative to plain nodes that the export does not take): the body
    gathers layer ``i``'s weights from stacked initializers."""
    from onnx import TensorProto, helper, numpy_helper

    params = coder.network_.cast(coder._get_params(), dtype)
    weights_x, thresholds = params["weights_x"], params["thresholds"]
    n_layers, n_features, n_components = weights_x.shape
    # Layer 0 multiplies z_0 = 0: a zero matrix keeps one body for all.
    weights_z = np.concatenate(
        [np.zeros((1, n_components, n_components), dtype), params["weights_z"]]
    )
    tensor = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    initializers = [
        numpy_helper.from_array(np.ascontiguousarray(a, dtype), name)
        for name, a in (
            ("Wx", weights_x),
            ("Wz", weights_z),
            ("theta", thresholds),
            ("zero_pk", np.zeros((n_features, n_components))),
        )
    ]
    body = helper.make_graph(
        [
            helper.make_node("Gather", ["Wx", "i"], ["wx"], axis=0),
            helper.make_node("Gather", ["Wz", "i"], ["wz"], axis=0),
            helper.make_node("Gather", ["theta", "i"], ["t"], axis=0),
            helper.make_node("Neg", ["t"], ["neg_t"]),
            helper.make_node("MatMul", ["X", "wx"], ["xw"]),
            helper.make_node("MatMul", ["z_in", "wz"], ["zw"]),
            helper.make_node("Add", ["xw", "zw"], ["u"]),
            helper.make_node("Max", ["u", "neg_t"], ["lower"]),
            helper.make_node("Min", ["lower", "t"], ["clipped"]),
            helper.make_node("Sub", ["u", "clipped"], ["z_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "layer",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("z_in", tensor, [None, n_components]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("z_out", tensor, [None, n_components]),
        ],
    )
    trip = numpy_helper.from_array(np.array(n_layers, dtype=np.int64), "trip")
    cond = numpy_helper.from_array(np.array(True), "cond")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "zero_pk"], ["z0"]),
            helper.make_node("Loop", ["trip", "cond", "z0"], ["codes"], body=body),
        ],
        "lista_loop",
        [helper.make_tensor_value_info("X", tensor, [None, n_features])],
        [helper.make_tensor_value_info("codes", tensor, [None, n_components])],
        initializer=[*initializers, trip, cond],
    )
    opsets = [helper.make_opsetid("", 17)]
    return helper.make_model(
        graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets)
    )


def loop_table(coders, X, repeats):
    """Plain nodes against an ONNX Loop for LISTA: size, nodes, time."""
    from sklearn_lista import to_onnx

    rows = []
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        models = {"plain": to_onnx(coders["LISTA"], dtype=dtype)}
        models["Loop"] = lista_as_loop(coders["LISTA"], dtype)
        sessions = {k: session(m, 1) for k, m in models.items()}
        codes = {k: s.run(None, {"X": Xd})[0] for k, s in sessions.items()}
        functions = {
            k: (lambda s=s, Xd=Xd: s.run(None, {"X": Xd})) for k, s in sessions.items()
        }
        for function in functions.values():
            function()
        times = median_times(functions, repeats)
        difference = np.abs(codes["Loop"] - codes["plain"]).max()
        for kind, model in models.items():
            rows.append(
                [
                    np.dtype(dtype).name,
                    kind,
                    f"{1e3 * times[kind]:.1f}",
                    f"{model.ByteSize() / 2**20:.2f}",
                    len(model.graph.node),
                    f"{difference / np.abs(codes['plain']).max():.1e}",
                ]
            )
    print_table(
        "LISTA (16 layers) as plain nodes against an ONNX Loop, onnxruntime 1 "
        "thread (ms, medians)",
        ["dtype", "graph", "onnx 1t", "model MiB", "top-level nodes", "max rel diff"],
        rows,
        notes=["The Loop's body has 11 nodes and gathers each layer's weights."],
    )


if __name__ == "__main__":
    main()
