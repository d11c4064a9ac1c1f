"""The ONNX graph of each architecture: one builder per registry key.

A builder is a function ``builder(graph, x, source) -> str``: it adds to
`graph` (an :class:`~sklearn_lista._onnx.graph.OnnxGraph`) the nodes that
compute the codes of the input tensor named `x`, and returns the name of the
codes' tensor. `source` (an :class:`ExportSource`) holds what it needs, in
the export dtype: the problem (dictionary, Gram matrix, ``alpha``,
``positive``), the trained parameters by name and the fitted network. A
builder mirrors its network's ``forward`` (same operators, computed with the
same numpy code where they are derived from the parameters), with the
unrolled layers as plain nodes.

Builders are found in :data:`ONNX_BUILDERS` under the key of the coder's
architecture: ``coder.network_.name`` for a learned coder (the keys of
:data:`~sklearn_lista.networks.ARCHITECTURES`), ``"ista"`` and ``"fista"``
for the classical coders. A new architecture needs one builder, registered
with ``@register_onnx_builder("its_name")``.
"""

from typing import NamedTuple

import numpy as np

from .._lasso import LassoProblem
from .._solvers import fista_momentums
from ..networks.facnet import facnet_layer_operators

ONNX_BUILDERS = {}


def register_onnx_builder(name):
    """Register ``builder(graph, x, source) -> str`` under the architecture
    `name` (a decorator; replaces a builder of the same name)."""

    def decorator(builder):
        ONNX_BUILDERS[name] = builder
        return builder

    return decorator


class ExportSource(NamedTuple):
    """What a builder exports, in the export dtype.

    Attributes
    ----------
    name : str
        Registry key of the architecture.
    problem : LassoProblem
        The dictionary, ``alpha``, ``positive``, Gram matrix and Lipschitz
        constant, with arrays in the export dtype.
    params : dict of str -> ndarray
        The trained parameters (empty for the classical coders).
    network : UnrolledNetwork or None
        The fitted network (for its fixed arrays and options); None for the
        classical coders.
    n_layers : int
        Depth.
    """

    name: str
    problem: LassoProblem
    params: dict
    network: object
    n_layers: int


def layer_constants(graph, stack, n_layers, hint):
    """One constant name per layer from a stack of arrays; a stack of one
    entry (tied weights) is stored once and shared by every layer."""
    if len(stack) == 1:
        return [graph.constant(stack[0], hint)] * n_layers
    if len(stack) != n_layers:
        raise ValueError(f"{hint}: {len(stack)} entries for {n_layers} layers.")
    return [graph.constant(entry, hint) for entry in stack]


def unrolled_thresholding(
    graph,
    x,
    input_weights,
    iterate_weights,
    thresholds,
    positive,
    momentum=None,
    n_bypass=None,
):
    """The layers of :func:`~sklearn_lista.networks.proximal.lista_forward`:
    ``z_{k+1} = st(z_k W_z[k - 1] (+ z_{k-1} W_m[k - 1]) + x W_x[k], theta[k])``
    from ``z_0 = 0``.

    `input_weights` has one constant name per layer, `iterate_weights` (and
    `momentum`, LFISTA's ``W_m``) one per layer ``k >= 1``; a name repeated
    over layers is multiplied by `x` once. `n_bypass` (one int per layer):
    support selection. Returns the codes' name.
    """
    offsets = {}
    previous, codes = None, None
    for k, input_weight in enumerate(input_weights):
        if input_weight not in offsets:
            offsets[input_weight] = graph.matmul(x, input_weight)
        pre = offsets[input_weight]
        if k:
            product = graph.matmul(codes, iterate_weights[k - 1])
            if momentum is not None and k >= 2:
                # z_0 = 0: layer 1 has no momentum term.
                product = graph.add(product, graph.matmul(previous, momentum[k - 1]))
            pre = graph.add(product, pre)
        shrunk = graph.shrink(pre, thresholds[k], positive)
        if n_bypass is not None:
            shrunk = graph.select_support(
                pre, shrunk, thresholds[k], positive, int(n_bypass[k])
            )
        previous, codes = codes, shrunk
    return codes


def _n_bypass(source):
    """Support selection's count per layer, or None (the network's schedule)."""
    return source.network.n_bypass(source.n_layers)


def _lista_parts(graph, source, weights_z):
    params, n_layers = source.params, source.n_layers
    return (
        layer_constants(graph, params["weights_x"], n_layers, "weights_x"),
        layer_constants(graph, weights_z, n_layers - 1, "weights_z"),
        params["thresholds"],
    )


@register_onnx_builder("lista")
@register_onnx_builder("tied_lista")
def build_lista(graph, x, source):
    """LISTA, untied or tied (a shared weight pair is stored once)."""
    parts = _lista_parts(graph, source, source.params["weights_z"])
    return unrolled_thresholding(
        graph, x, *parts, source.problem.positive, n_bypass=_n_bypass(source)
    )


@register_onnx_builder("lista_cp")
def build_coupled_lista(graph, x, source):
    """LISTA-CP: ``W_x = W_k``, ``W_z = I - D W_k``, computed as the network
    does."""
    weights = source.params["weights"]
    iterate = source.network._iterate_weights(weights)
    parts = (
        layer_constants(graph, weights, source.n_layers, "weights"),
        layer_constants(graph, iterate, source.n_layers - 1, "weights_z"),
        source.params["thresholds"],
    )
    return unrolled_thresholding(
        graph, x, *parts, source.problem.positive, n_bypass=_n_bypass(source)
    )


@register_onnx_builder("lfista")
def build_lfista(graph, x, source):
    """Learned FISTA: LISTA's layers plus the momentum term ``z_{k-1} W_m``."""
    parts = _lista_parts(graph, source, source.params["weights_z"])
    # z_0 = 0: the momentum weight of layer 1 multiplies zero and is not stored.
    momentum = [None] + layer_constants(
        graph, source.params["weights_m"][1:], source.n_layers - 2, "weights_m"
    )
    return unrolled_thresholding(
        graph, x, *parts, source.problem.positive, momentum=momentum
    )


@register_onnx_builder("step_ista")
@register_onnx_builder("step_fista")
def build_step(graph, x, source):
    """Step-LISTA/FISTA: LISTA/LFISTA layers whose weights the network derives
    from its learned steps (and momentums)."""
    if source.network.safeguard:
        return _safeguarded_steps(graph, x, source)
    weights = source.network._weights(source.params, source.problem.dictionary.dtype)
    n_layers = source.n_layers
    parts = (
        layer_constants(graph, weights["weights_x"], n_layers, "weights_x"),
        layer_constants(graph, weights["weights_z"], n_layers - 1, "weights_z"),
        weights["thresholds"],
    )
    momentum = None
    if source.network._accelerated():
        momentum = [None] + layer_constants(
            graph, weights["weights_m"][1:], n_layers - 2, "weights_m"
        )
    return unrolled_thresholding(
        graph,
        x,
        *parts,
        source.problem.positive,
        momentum=momentum,
        n_bypass=_n_bypass(source),
    )


def _safeguarded_steps(graph, x, source):
    """The safeguarded step layers (``StepISTA._safeguarded_forward``) without
    branches: every layer computes both the learned step and the fallback ISTA
    step of ``1 / L`` for every signal, with their Lasso costs from ``z B``,
    and ``Where`` keeps, per signal, the learned step unless it raises the
    cost (and then restarts the momentum from the fallback)."""
    network, problem, dtype = source.network, source.problem, graph.dtype
    steps = np.asarray(source.params["steps"], dtype=np.float64)
    momentums = network._momentums(source.params, np.float64)
    positive, alpha, lipschitz = problem.positive, problem.alpha, problem.lipschitz
    gram = graph.constant(problem.gram, "gram")
    correlations = graph.matmul(x, graph.constant(problem.dictionary.T, "dictionary_t"))
    ones = graph.constant(np.ones((problem.n_components, 1)), "ones")
    half = graph.constant(np.array(0.5), "half")
    alpha_ = graph.constant(np.array(alpha), "alpha")

    def cost(codes, products):
        # 0.5 |x|^2 - z . (x D^T - 0.5 z B) + alpha |z|_1, the first term left
        # out: every comparison is between two costs of the same signal.
        smooth = graph.mul(codes, graph.sub(correlations, graph.mul(half, products)))
        l1 = graph.mul(alpha_, graph.node("Abs", [codes]))
        return graph.matmul(graph.sub(l1, smooth), ones)

    # The kernel's rounding slack, 16 eps (0.5 |x|^2 + 1), as a bound on |x|^2.
    eps = 16 * np.finfo(dtype).eps
    half_norms = graph.mul(
        half,
        graph.matmul(
            graph.mul(x, x),
            graph.constant(np.ones((problem.dictionary.shape[1], 1)), "feature_ones"),
        ),
    )
    slack = graph.mul(
        graph.constant(np.array(eps), "slack"),
        graph.add(half_norms, graph.constant(np.array(1.0), "one")),
    )
    zeros = graph.mul(correlations, graph.constant(np.zeros(()), "zero"))
    codes = products = previous = previous_products = zeros
    costs = graph.matmul(zeros, ones)
    for k, step in enumerate(steps):
        momentum = momentums[k - 1] if k else 0.0
        point, point_products = codes, products
        if momentum:
            m = graph.constant(np.array(momentum), "momentum")
            point = graph.add(codes, graph.mul(m, graph.sub(codes, previous)))
            point_products = graph.add(
                products, graph.mul(m, graph.sub(products, previous_products))
            )
        gradient = graph.sub(point_products, correlations)
        stepped = graph.shrink(
            graph.sub(
                point, graph.mul(graph.constant(np.array(step), "step"), gradient)
            ),
            np.array(alpha * step),
            positive,
        )
        stepped_products = graph.matmul(stepped, gram)
        stepped_costs = cost(stepped, stepped_products)
        safe = graph.shrink(
            graph.sub(
                codes,
                graph.mul(
                    graph.constant(np.array(1.0 / lipschitz), "inverse_lipschitz"),
                    graph.sub(products, correlations),
                ),
            ),
            np.array(alpha / lipschitz),
            positive,
        )
        safe_products = graph.matmul(safe, gram)
        rises = graph.node("Greater", [stepped_costs, graph.add(costs, slack)])
        previous = graph.node("Where", [rises, safe, codes])
        previous_products = graph.node("Where", [rises, safe_products, products])
        codes = graph.node("Where", [rises, safe, stepped], "codes")
        products = graph.node("Where", [rises, safe_products, stepped_products])
        costs = graph.node("Where", [rises, cost(safe, safe_products), stepped_costs])
    return codes


@register_onnx_builder("alista")
def build_alista(graph, x, source):
    """ALISTA: ``W_x = gamma_k W``,
    ``W_z = I - gamma_k D W`` with the analytic weight ``W``."""
    weights_x, weights_z, thresholds = source.network._weights(
        source.params, source.problem.dictionary.dtype
    )
    parts = (
        layer_constants(graph, weights_x, source.n_layers, "weights_x"),
        layer_constants(graph, weights_z, source.n_layers - 1, "weights_z"),
        thresholds,
    )
    return unrolled_thresholding(
        graph, x, *parts, source.problem.positive, n_bypass=_n_bypass(source)
    )


@register_onnx_builder("hyper_lista")
def build_hyper_lista(graph, x, source):
    """HyperLISTA: per signal and layer, the threshold ``c1 mu |proxy|_1``,
    the momentum ``c2 mu |z_k|_0`` and the bypass count
    ``round(min(c3 log(|x D^+|_1 / |proxy|_1), K))`` with
    ``proxy = z_k D D^+ - x D^+``, as the network's ``forward``.

    Row sums are products with a vector of ones (no opset-dependent
    reductions); the per-row count picks the ``count``-th largest magnitude
    beyond the threshold from a full TopK (opset 11 for Round and
    GatherElements). Ties with it are kept, as in support selection.
    """
    network, positive = source.network, source.problem.positive
    dtype = source.problem.dictionary.dtype
    arrays = network._arrays(dtype)
    n_components = source.problem.n_components
    values = np.asarray(source.params["hyperparameters"], dtype=np.float64)
    mu = network.coherence
    ones = graph.constant(np.ones((n_components, 1)), "ones")
    zero = graph.constant(np.zeros(()), "zero")
    one = graph.constant(np.ones(()), "one")

    def row_sum(tensor):
        return graph.matmul(tensor, ones)

    pinv_signal = graph.matmul(x, graph.constant(arrays["pinv"], "pinv"))
    signal_norm = row_sum(graph.node("Abs", [pinv_signal]))
    step = network.step
    input_term = graph.matmul(x, graph.constant(step * arrays["weight"], "weight"))
    iterate_weight = graph.constant(
        np.eye(n_components, dtype=dtype) - step * arrays["coupling"],
        "iterate_weight",
    )
    projection = graph.constant(arrays["projection"], "projection")
    k_largest = graph.constant(np.array([n_components], dtype=np.int64), "n_top")
    codes = previous = None
    for k, (c1, c2, c3) in enumerate(values):
        if k:
            proxy = graph.sub(graph.matmul(codes, projection), pinv_signal)
            error = row_sum(graph.node("Abs", [proxy]))
        else:
            error = signal_norm
        threshold = graph.mul(error, graph.constant(np.array(c1 * mu), "c1_mu"))
        pre = input_term
        if k:
            pre = graph.add(graph.matmul(codes, iterate_weight), pre)
            support = row_sum(graph.node("Sign", [graph.node("Abs", [codes])]))
            beta = graph.mul(support, graph.constant(np.array(c2 * mu), "c2_mu"))
            step = codes if previous is None else graph.sub(codes, previous)
            pre = graph.add(pre, graph.mul(beta, step))
        if positive:
            shrunk = graph.node("Relu", [graph.sub(pre, threshold)], "codes")
            magnitude = pre
        else:
            negative = graph.mul(threshold, graph.constant(np.array(-1.0), "minus"))
            lower = graph.node("Max", [pre, negative])
            shrunk = graph.sub(pre, graph.node("Min", [lower, threshold]))
            magnitude = graph.node("Abs", [pre])
        # As the network: an exact iterate (zero error) bypasses everything.
        ratio = graph.node(
            "Where",
            [
                graph.node("Greater", [error, zero]),
                graph.node("Max", [graph.node("Div", [signal_norm, error]), one]),
                graph.constant(np.array(np.inf), "infinity"),
            ],
        )
        count = graph.node(
            "Round",
            [
                graph.node(
                    "Min",
                    [
                        graph.mul(graph.node("Log", [ratio]), graph.constant(c3)),
                        graph.constant(np.array(float(n_components))),
                    ],
                )
            ],
        )
        beyond = graph.node("Greater", [magnitude, threshold])
        masked = graph.node("Where", [beyond, magnitude, zero])
        ordered, _ = graph.node(
            "TopK", [masked, k_largest], "ordered", n_outputs=2, axis=-1
        )
        last = graph.constant(np.array(n_components - 1.0), "last_index")
        position = graph.node(
            "Min", [graph.node("Max", [graph.sub(count, one), zero]), last]
        )
        index = graph.node("Cast", [position], to=7)  # 7: int64
        kth = graph.node("GatherElements", [ordered, index], "kth", axis=1)
        bypass = graph.node(
            "And",
            [
                graph.node(
                    "And",
                    [beyond, graph.node("Not", [graph.node("Less", [masked, kth])])],
                ),
                graph.node("Greater", [count, zero]),
            ],
        )
        previous, codes = codes, graph.node("Where", [bypass, pre, shrunk], "codes")
    return codes


@register_onnx_builder("facnet")
def build_facnet(graph, x, source):
    """FacNet: ``z_{k+1} = st(z_k M_k + x N_k, t_k) A_k``
    (:func:`~sklearn_lista.networks.facnet.facnet_layer_operators`)."""
    problem, dtype = source.problem, graph.dtype
    rotations = source.params["A"]
    iterate_w, input_w, thresholds = facnet_layer_operators(
        rotations, source.params["S"], problem.dictionary, problem.gram, problem.alpha
    )
    codes = None
    for k in range(source.n_layers):
        pre = graph.matmul(x, graph.constant(input_w[k], "weights_x"))
        if k:
            product = graph.matmul(codes, graph.constant(iterate_w[k], "weights_z"))
            pre = graph.add(product, pre)
        shrunk = graph.shrink(pre, thresholds[k].astype(dtype), positive=False)
        codes = graph.matmul(shrunk, graph.constant(rotations[k], "rotation"))
    return codes


@register_onnx_builder("ista")
def build_ista(graph, x, source):
    """ISTA: ``z <- st(z (I - B/L) + x D^T / L, alpha / L)`` from ``z = 0``."""
    problem = source.problem
    step, input_weight = problem.ista_operators()
    step = graph.constant(step, "step")
    offset = graph.matmul(x, graph.constant(input_weight, "input_weight"))
    threshold = problem.alpha / problem.lipschitz
    codes = graph.shrink(offset, threshold, problem.positive)
    for _ in range(1, source.n_layers):
        pre = graph.add(graph.matmul(codes, step), offset)
        codes = graph.shrink(pre, threshold, problem.positive)
    return codes


@register_onnx_builder("fista")
def build_fista(graph, x, source):
    """FISTA without restart: ``z_{k+1} = st(y_k (I - B/L) + x D^T / L)``,
    ``y_{k+1} = z_{k+1} + m_k (z_{k+1} - z_k)`` (as the ``fista_step``
    kernel), from ``z_0 = y_0 = 0``."""
    problem = source.problem
    step, input_weight = problem.ista_operators()
    step = graph.constant(step, "step")
    offset = graph.matmul(x, graph.constant(input_weight, "input_weight"))
    threshold = problem.alpha / problem.lipschitz
    momentums = fista_momentums(source.n_layers)
    codes = extrapolated = None
    for k in range(source.n_layers):
        pre = offset if k == 0 else graph.add(graph.matmul(extrapolated, step), offset)
        new = graph.shrink(pre, threshold, problem.positive)
        if k < source.n_layers - 1:  # the output is z, not the extrapolated point
            extrapolated = new
            if momentums[k] != 0.0:
                momentum = graph.constant(np.asarray(momentums[k]), "momentum")
                jump = graph.mul(graph.sub(new, codes), momentum)
                extrapolated = graph.add(new, jump)
        codes = new
    return codes
