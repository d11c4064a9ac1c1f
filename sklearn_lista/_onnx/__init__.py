"""Export of fitted coders to ONNX (the ``[onnx]`` extra).

:func:`to_onnx` writes a coder's graph with the ``onnx`` package's helpers;
:func:`register_onnx_converters` teaches skl2onnx our estimators, so that a
pipeline holding a coder converts with ``skl2onnx.to_onnx``. Both find the
graph of each architecture in :data:`~sklearn_lista._onnx.builders.ONNX_BUILDERS`.
``onnx`` and ``skl2onnx`` are imported when called: the package works without
the extra.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._coders import BaseCoder
from .._coders.classical import _IterativeCoder
from .._coders.learned import BaseLearnedCoder
from .._lasso import LassoProblem
from .builders import ONNX_BUILDERS, ExportSource, register_onnx_builder
from .graph import MIN_OPSET, Skl2onnxGraph, StandaloneGraph

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# The opset written by `to_onnx` by default: every node needs at most
# MIN_OPSET; 17 is read by every onnxruntime since 1.11.
DEFAULT_OPSET = 17

__all__ = [
    "ONNX_BUILDERS",
    "ExportSource",
    "register_onnx_builder",
    "register_onnx_converters",
    "to_onnx",
]


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}.")
    return dtype


def export_source(coder, dtype):
    """The :class:`ExportSource` of a fitted coder in `dtype`, after the
    checks that `transform` makes; raises where the export would not compute
    what `transform` computes."""
    coder._validate_params()
    if isinstance(coder, BaseLearnedCoder):
        check_is_fitted(coder, "network_")
        network = coder.network_
        params = network.cast(coder._get_params(), dtype)
        depth = network.n_layers(params)
        if coder.n_layers != depth:
            raise ValueError(
                f"n_layers={coder.n_layers} but the fitted network has {depth} "
                f"layers; set n_layers={depth} (or fit again) before exporting."
            )
        # The network transform runs (a safeguard set after fit included).
        network = coder._encoding_network()
        return ExportSource(
            network.name, network.problem_in(dtype), params, network, depth
        )
    if isinstance(coder, _IterativeCoder):
        if coder.tol is not None:
            raise ValueError(
                f"{type(coder).__name__}(tol={coder.tol}) stops each sample at its "
                "own iteration, which a fixed graph cannot reproduce: export with "
                f"tol=None (coder.set_params(tol=None)) to get exactly the "
                f"n_layers={coder.n_layers} iterations that transform then computes."
            )
        if coder._restart():
            raise ValueError(
                "FISTACoder(restart=True) resets the momentum of each sample on a "
                "test that rounding can flip, so an exported graph would not "
                "reproduce transform; export with restart=False (or 'auto' "
                "without tol)."
            )
        n_features = (
            coder.components_.shape[1]
            if hasattr(coder, "components_")
            else np.shape(coder.dictionary)[1]
        )
        fitted = coder._ready(dtype, n_features)
        problem = LassoProblem(
            fitted.components_.astype(dtype),
            coder.alpha,
            coder.positive_code,
            fitted.lipschitz_,
        )
        name = "fista" if coder._accelerated else "ista"
        return ExportSource(name, problem, {}, None, coder.n_layers)
    raise TypeError(
        f"{type(coder).__name__} is not a coder of sklearn_lista; to_onnx "
        "exports ISTACoder, FISTACoder and the learned coders."
    )


def build_codes(graph, x, coder):
    """Add `coder`'s nodes to `graph` on the input `x`; returns the codes' name."""
    source = export_source(coder, graph.dtype)
    builder = ONNX_BUILDERS.get(source.name)
    if builder is None:
        raise NotImplementedError(
            f"no ONNX builder for the architecture {source.name!r}; register one "
            "with sklearn_lista._onnx.register_onnx_builder (see "
            "doc/deploying.rst)."
        )
    return builder(graph, x, source), source


def to_onnx(
    coder, *, dtype=np.float32, input_name="X", output_name="codes", target_opset=None
):
    """Export a fitted coder to ONNX.

    The graph computes what ``transform`` computes: the `n_layers` layers
    (iterations) unrolled as plain nodes (``MatMul``, ``Add``, ``Sub``,
    ``Max``, ``Min``, ``Relu``, ``Mul``), the weights as initializers. Its
    input has shape ``(n_samples, n_features)``, any number of rows, and
    onnxruntime rejects another width or dtype.

    Parameters
    ----------
    coder : BaseCoder
        A fitted coder (:class:`ISTACoder` and :class:`FISTACoder` also
        unfitted with a given dictionary). :class:`ISTACoder` and
        :class:`FISTACoder` must have ``tol=None``: their `n_layers`
        iterations are exported, while with `tol` each sample stops at its
        own iteration, which a fixed graph cannot reproduce (a ValueError
        says so); FISTA must not restart. A pipeline holding coders converts
        with ``skl2onnx.to_onnx`` after :func:`register_onnx_converters`.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        The dtype of the input, of the weights and of the output. float32
        codes equal ``transform(X.astype(numpy.float32))`` to rounding.
    input_name : str, default="X"
        Name of the graph's input.
    output_name : str, default="codes"
        Name of the graph's output, of shape ``(n_samples, n_components)``.
    target_opset : int, default=None
        ONNX opset of the model (at least 9; 10 with support selection, 11
        for HyperLISTA); None means 17.

    Returns
    -------
    model : onnx.ModelProto
        The model; ``model.SerializeToString()`` is what
        ``onnxruntime.InferenceSession`` reads.

    See Also
    --------
    register_onnx_converters : The skl2onnx converters of the coders.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> from sklearn_lista import ISTACoder, to_onnx
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, _ = make_sparse_coding(n_samples=20, random_state=0)
    >>> X = X.astype(np.float32)
    >>> coder = ISTACoder(D, alpha=0.1 * alpha_max(X, D), n_layers=10).fit(X)
    >>> model = to_onnx(coder, dtype=np.float32)
    >>> session = onnxruntime.InferenceSession(model.SerializeToString())
    >>> (codes,) = session.run(None, {"X": X})
    >>> bool(np.allclose(codes, coder.transform(X), atol=1e-5))
    True
    """
    dtype = _check_dtype(dtype)
    from onnx import checker, helper

    opset = DEFAULT_OPSET if target_opset is None else int(target_opset)
    if opset < MIN_OPSET:
        raise ValueError(f"target_opset must be at least {MIN_OPSET}, got {opset}.")
    if not isinstance(coder, BaseCoder):
        raise TypeError(
            f"to_onnx exports a coder of sklearn_lista, not {type(coder).__name__}; "
            "convert a pipeline with skl2onnx.to_onnx after "
            "sklearn_lista.register_onnx_converters()."
        )
    graph = StandaloneGraph(dtype)
    codes, source = build_codes(graph, input_name, coder)
    if opset < graph.min_opset:
        raise ValueError(
            f"target_opset={opset} is too old for this model: its operators need "
            f"opset {graph.min_opset} (support selection's TopK needs 10, "
            "HyperLISTA's Round 11)."
        )
    graph.node("Identity", [codes], output=output_name)
    tensor_type = helper.np_dtype_to_tensor_dtype(dtype)
    problem = source.problem
    onnx_graph = helper.make_graph(
        graph.nodes,
        f"sklearn_lista_{source.name}",
        [
            helper.make_tensor_value_info(
                input_name, tensor_type, [None, problem.n_features]
            )
        ],
        [
            helper.make_tensor_value_info(
                output_name, tensor_type, [None, problem.n_components]
            )
        ],
        initializer=graph.initializers,
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        onnx_graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="sklearn-lista",
        producer_version=_version(),
        doc_string=f"{type(coder).__name__}: {source.n_layers} layers, "
        f"{source.name} architecture",
    )
    helper.set_model_props(
        model,
        {
            "estimator": type(coder).__name__,
            "architecture": source.name,
            "n_layers": str(source.n_layers),
            "n_features": str(problem.n_features),
            "n_components": str(problem.n_components),
            "alpha": repr(problem.alpha),
            "positive_code": str(problem.positive),
        },
    )
    checker.check_model(model)
    return model


def _version():
    from .. import __version__

    return __version__


def _coder_classes():
    """Every public coder class, subclasses of subclasses included."""
    found, pending = [], [BaseCoder]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__name__.startswith("_") and cls is not BaseCoder:
            found.append(cls)
    return found


def register_onnx_converters():
    """Register skl2onnx converters and shape calculators for the coders.

    After this call, ``skl2onnx.to_onnx`` converts every coder of
    sklearn_lista (subclasses of :class:`BaseCoder` defined by then
    included), alone or inside a pipeline, with the graph of
    :func:`to_onnx`, in the pipeline's input dtype (float32 or float64).
    Calling it again is harmless. skl2onnx's own options apply as for any
    pipeline: a float64 classifier needs ``options={"zipmap": False}``
    (skl2onnx's ZipMap takes float32 probabilities only).

    Returns
    -------
    classes : list of type
        The estimator classes registered.

    See Also
    --------
    to_onnx : Export of a coder (or a pipeline) to ONNX.

    Examples
    --------
    >>> import numpy as np
    >>> import skl2onnx
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_lista import FISTACoder, register_onnx_converters
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, codes = make_sparse_coding(n_samples=40, random_state=0)
    >>> X = X.astype(np.float32)
    >>> coder = FISTACoder(D, alpha=0.1 * alpha_max(X, D), n_layers=10)
    >>> pipeline = make_pipeline(coder, LogisticRegression()).fit(X, codes[:, 0] != 0)
    >>> classes = register_onnx_converters()
    >>> model = skl2onnx.to_onnx(pipeline, X[:1])
    >>> [output.name for output in model.graph.output]
    ['output_label', 'output_probability']
    """
    from skl2onnx import update_registered_converter

    classes = _coder_classes()
    for cls in classes:
        update_registered_converter(
            cls, f"SklearnLista{cls.__name__}", _shape_calculator, _converter
        )
    return classes


def _tensor_dtype(variable):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    if isinstance(variable.type, FloatTensorType):
        return np.dtype(np.float32)
    if isinstance(variable.type, DoubleTensorType):
        return np.dtype(np.float64)
    raise TypeError(
        f"a coder's input must be float32 or float64, got {variable.type}; "
        "cast the input (initial_types) to one of them."
    )


def _shape_calculator(operator):
    coder = operator.raw_operator
    variable = operator.inputs[0]
    _tensor_dtype(variable)
    n_components = (
        coder.n_components_
        if hasattr(coder, "components_")
        else np.shape(coder.dictionary)[0]
    )
    operator.outputs[0].type = type(variable.type)(
        [variable.type.shape[0], n_components]
    )


def _converter(scope, operator, container):
    variable = operator.inputs[0]
    graph = Skl2onnxGraph(_tensor_dtype(variable), scope, container)
    codes, _ = build_codes(graph, variable.full_name, operator.raw_operator)
    graph.node("Identity", [codes], output=operator.outputs[0].full_name)
