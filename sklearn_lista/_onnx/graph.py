"""Where the ONNX builders write: a graph in one floating dtype.

A builder (:mod:`sklearn_lista._onnx.builders`) only calls the methods of
:class:`OnnxGraph`: :meth:`~OnnxGraph.constant`, :meth:`~OnnxGraph.node` and
the few shorthands built on them. Two backends implement the storage: a
standalone graph (:func:`sklearn_lista.to_onnx`) and skl2onnx's scope and
container (the converters registered by
:func:`sklearn_lista.register_onnx_converters`), so that one builder serves
both. Every node is a standard operator of the default domain; the version
written next to it is the oldest opset where it has its current semantics
and supports float64.
"""

import numpy as np

# Oldest opset version of each operator the builders use (multidirectional
# broadcasting for the arithmetic ones since 7/8; double since then too).
OP_VERSIONS = {
    "Add": 7,
    "Sub": 7,
    "Mul": 7,
    "Max": 8,
    "Min": 8,
    "Relu": 6,
    "MatMul": 9,
    "Identity": 1,
    # Support selection's per-row top-k.
    "Abs": 6,
    "Greater": 7,
    "Less": 7,
    "Not": 1,
    "And": 7,
    "Where": 9,
    "TopK": 10,
    "Slice": 10,
    # HyperLISTA's per-signal threshold, momentum and bypass count.
    "Sign": 9,
    "Div": 7,
    "Log": 6,
    "Cast": 6,
    "Round": 11,
    "GatherElements": 11,
}
# The oldest opset of the plain layers; support selection needs TopK's 10.
MIN_OPSET = 9


class OnnxGraph:
    """Constants and nodes of an ONNX graph whose tensors are in `dtype`.

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}
        The dtype of the input, of every floating constant and of the output.
    """

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self._scalars = {}
        self.min_opset = MIN_OPSET  # raised by the operators a model uses

    # ------------------------------------------------------------ backend
    def _unique_name(self, hint):  # pragma: no cover - abstract
        raise NotImplementedError

    def _add_initializer(self, name, array):  # pragma: no cover - abstract
        raise NotImplementedError

    def _add_node(self, op_type, inputs, outputs, attrs):  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------ for builders
    def constant(self, array, hint="constant"):
        """Store `array` (floating arrays cast to the graph's dtype) as an
        initializer; returns its name. Equal scalars of a hint are stored once."""
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(self.dtype, copy=False)
        key = (hint, array.dtype.str, array.shape, array.tobytes())
        if array.size == 1 and key in self._scalars:
            return self._scalars[key]
        name = self._unique_name(hint)
        if array.size == 1:
            self._scalars[key] = name
        self._add_initializer(name, np.ascontiguousarray(array))
        return name

    def node(self, op_type, inputs, hint=None, output=None, n_outputs=1, **attrs):
        """Add one ``op_type`` node; returns the output's name, `output` if
        given, else a fresh name from `hint` (a list with `n_outputs` > 1)."""
        if op_type not in OP_VERSIONS:
            raise ValueError(
                f"{op_type!r} is not in OP_VERSIONS: add it with the oldest "
                "opset version where it has its current semantics."
            )
        if n_outputs > 1:
            self.min_opset = max(self.min_opset, OP_VERSIONS[op_type])
            outputs = [
                self._unique_name(hint or op_type.lower()) for _ in range(n_outputs)
            ]
            self._add_node(op_type, list(inputs), outputs, attrs)
            return outputs
        self.min_opset = max(self.min_opset, OP_VERSIONS[op_type])
        if output is None:
            output = self._unique_name(hint or op_type.lower())
        self._add_node(op_type, list(inputs), [output], attrs)
        return output

    def matmul(self, a, b):
        """``a @ b``."""
        return self.node("MatMul", [a, b])

    def add(self, a, b):
        """``a + b`` (broadcasting)."""
        return self.node("Add", [a, b])

    def sub(self, a, b):
        """``a - b`` (broadcasting)."""
        return self.node("Sub", [a, b])

    def mul(self, a, b):
        """``a * b`` (broadcasting)."""
        return self.node("Mul", [a, b])

    def shrink(self, values, thresholds, positive=False):
        """``st(values, thresholds)``, or ``max(values - thresholds, 0)`` if
        `positive`; `thresholds` is an array (a scalar or one per component).

        The soft threshold is ``u - clip(u, -t, t)``: three nodes, and the
        same bits as ``sign(u) max(|u| - t, 0)`` (``u - t`` or ``u + t``
        beyond the threshold, zero inside).
        """
        thresholds = np.asarray(thresholds, dtype=self.dtype)
        if positive:
            shifted = self.sub(values, self.constant(thresholds, "threshold"))
            return self.node("Relu", [shifted], "codes")
        lower = self.node("Max", [values, self.constant(-thresholds, "neg_threshold")])
        clipped = self.node("Min", [lower, self.constant(thresholds, "threshold")])
        return self.sub(values, clipped)

    def select_support(self, values, shrunk, thresholds, positive, n_bypass):
        """LISTA-CPSS's support selection after :meth:`shrink`: in each row the
        `n_bypass` largest entries beyond the threshold keep their value.

        The kernel breaks exact ties by the lower index; here an entry tied
        with the ``n_bypass``-th largest is kept too (ties of continuous
        values do not happen in practice).
        """
        if n_bypass <= 0:
            return shrunk
        thresholds = np.asarray(thresholds, dtype=self.dtype)
        magnitude = values if positive else self.node("Abs", [values])
        beyond = self.node(
            "Greater", [magnitude, self.constant(thresholds, "threshold")]
        )
        zero = self.constant(np.zeros((), dtype=self.dtype), "zero")
        masked = self.node("Where", [beyond, magnitude, zero])
        k = self.constant(np.array([n_bypass], dtype=np.int64), "n_bypass")
        largest, _ = self.node("TopK", [masked, k], "largest", n_outputs=2, axis=-1)
        last = self.constant(np.array([-1], dtype=np.int64), "last")
        end = self.constant(np.array([np.iinfo(np.int64).max], dtype=np.int64), "end")
        axis = self.constant(np.array([1], dtype=np.int64), "axis")
        kth = self.node("Slice", [largest, last, end, axis], "kth")
        below = self.node("Less", [masked, kth])
        bypass = self.node("And", [beyond, self.node("Not", [below])])
        return self.node("Where", [bypass, values, shrunk], "codes")


class StandaloneGraph(OnnxGraph):
    """An :class:`OnnxGraph` that collects its nodes and initializers, for
    :func:`onnx.helper.make_graph`."""

    def __init__(self, dtype):
        super().__init__(dtype)
        self.nodes, self.initializers = [], []
        self._count = 0

    def _unique_name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def _add_initializer(self, name, array):
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(array, name))

    def _add_node(self, op_type, inputs, outputs, attrs):
        from onnx import helper

        self.nodes.append(
            helper.make_node(op_type, inputs, outputs, name=outputs[0], **attrs)
        )


class Skl2onnxGraph(OnnxGraph):
    """An :class:`OnnxGraph` writing into skl2onnx's `scope` and `container`
    (inside a registered converter)."""

    def __init__(self, dtype, scope, container):
        super().__init__(dtype)
        self.scope, self.container = scope, container

    def _unique_name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def _add_initializer(self, name, array):
        from onnx import helper

        onnx_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        self.container.add_initializer(
            name, onnx_type, list(array.shape), array.ravel().tolist()
        )

    def _add_node(self, op_type, inputs, outputs, attrs):
        self.container.add_node(
            op_type,
            inputs,
            outputs,
            op_version=OP_VERSIONS[op_type],
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
