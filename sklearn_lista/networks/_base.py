"""The protocol every unrolled architecture follows.

An architecture is a subclass of :class:`UnrolledNetwork` built on one
:class:`~sklearn_lista._lasso.LassoProblem` (its fixed arrays: the
dictionary, the Gram matrix, and whatever else it computes once, such as
analytic weights). It declares its trainable parameters by name in
:attr:`~UnrolledNetwork.parameters`, each with its manifold and how it is
stacked over the layers, and implements

- ``init_params(n_layers) -> dict``: the parameters of an untrained network
  (for most, the values that make it compute `n_layers` ISTA/FISTA steps);
- ``forward(X, params, keep_cache) -> (codes, cache)``;
- ``backward(params, cache, grad_codes) -> dict`` of Euclidean gradients,
  same keys and shapes as `params`.

Layer ``k`` (0-based) maps ``z_k`` to ``z_{k+1}``, from ``z_0 = 0``.
Everything else (resizing for a warm start, casting, the optimizer's
manifolds) follows from the declaration.
"""

from typing import NamedTuple

import numpy as np

from ..optim import Manifold


class ParameterSpec(NamedTuple):
    """How a trainable parameter lives and is stacked.

    Attributes
    ----------
    manifold : Manifold
        Its constraint (Euclidean, non-negative, positive, orthogonal...).
    layers : {"layer", "iterate", "shared"}
        ``"layer"``: one entry per layer (axis 0 has `n_layers` entries);
        ``"iterate"``: one per layer ``k >= 1`` (``n_layers - 1`` entries, for
        weights acting on ``z_k``, which is zero at layer 0); ``"shared"``:
        one entry for all layers (tied weights).
    """

    manifold: Manifold
    layers: str = "layer"


_LAYER_OFFSET = {"layer": 0, "iterate": 1}
# The starts of new layers (`UnrolledNetwork.resize`).
GROWTH_RULES = ("untrained", "last", "identity")


class UnrolledNetwork:
    """Base class of the unrolled architectures (see the module docstring).

    Parameters
    ----------
    problem : LassoProblem
        The dictionary, `alpha` and the code constraint; stored with the
        network, never trained.

    Attributes
    ----------
    name : str
        Key of the architecture in :data:`~sklearn_lista.networks.ARCHITECTURES`.
    reference : {"ista", "fista"} or None
        The solver whose `n_layers` iterations an untrained network computes
        (None if the initialisation is not such an identity).
    parameters : dict of str -> ParameterSpec
        The trainable parameters, in a fixed order.
    """

    name = None
    reference = "ista"
    parameters: dict = {}
    # Whether `forward` reads the problem's dictionary (weights derived from
    # it); False when every weight is a trained parameter (LISTA).
    reads_dictionary = True
    # Whether `resize` always starts new layers as copies of the last one
    # (ALISTA, HyperLISTA: their few scalars per layer follow the depth).
    new_layers_copy_last = False
    # Whether `identity_params` exists: layers that return their input
    # iterate (``z_{k+1} = z_k``), a growth start that keeps the output.
    has_identity_layers = False

    def __init__(self, problem):
        self.problem = problem

    # ------------------------------------------------------------ protocol
    def init_params(self, n_layers):  # pragma: no cover - abstract
        """The parameters of an untrained `n_layers`-layer network (a dict)."""
        raise NotImplementedError

    def identity_params(self, n_layers):
        """Parameters of `n_layers` layers whose layers ``k >= 1`` map ``z_k``
        to ``z_k`` (layer 0 gives zero codes); only where
        `has_identity_layers`."""
        raise NotImplementedError(f"{type(self).__name__} has no identity layer.")

    def forward(self, X, params, keep_cache=True):  # pragma: no cover - abstract
        """``(codes, cache)``: the codes of the rows of `X`, and what
        :meth:`backward` needs (None unless `keep_cache`)."""
        raise NotImplementedError

    def backward(self, params, cache, grad_codes):  # pragma: no cover - abstract
        """The Euclidean gradient of every parameter (a dict like `params`),
        from the gradient of the loss in the codes."""
        raise NotImplementedError

    def project(self, params):
        """Enforce constraints beyond the manifolds after a step (in place)."""

    def backward_dictionary(self, params, cache, grad_codes):
        """``(grads, grad_dictionary)``: :meth:`backward`, and the gradient in
        the problem's dictionary of the weights derived from it (what a
        dictionary trained through the network receives; zeros when
        `reads_dictionary` is False). Architectures that read the dictionary
        override it."""
        grads = self.backward(params, cache, grad_codes)
        if self.reads_dictionary:
            raise NotImplementedError(
                f"{type(self).__name__} gives no gradient in its dictionary."
            )
        dtype = next(iter(grads.values())).dtype
        return grads, np.zeros(self.problem.dictionary.shape, dtype=dtype)

    # -------------------------------------------- derived from the protocol
    def problem_in(self, dtype):
        """The problem with its dictionary in `dtype` (computed once per dtype)."""
        dtype = np.dtype(dtype)
        cache = self.__dict__.setdefault("_problems", {})
        if dtype not in cache:
            cache[dtype] = self.problem.astype(dtype)
        return cache[dtype]

    def __getstate__(self):
        # The per-dtype copies are rebuilt on demand.
        state = dict(self.__dict__)
        state.pop("_problems", None)
        return state

    @property
    def manifolds(self):
        """``{name: manifold}`` of the trainable parameters, for the optimizer."""
        return {name: spec.manifold for name, spec in self.parameters.items()}

    def n_layers(self, params):
        """Depth of the network that `params` describe."""
        for name, spec in self.parameters.items():
            if spec.layers in _LAYER_OFFSET:
                return params[name].shape[0] + _LAYER_OFFSET[spec.layers]
        raise ValueError(f"{type(self).__name__} declares no per-layer parameter.")

    def cast(self, params, dtype):
        """`params` in `dtype` (no copy of arrays already in it)."""
        return {
            name: np.asarray(p).astype(dtype, copy=False) for name, p in params.items()
        }

    def resize(self, params, n_layers, new_layers="untrained"):
        """Parameters for `n_layers` layers that keep the first layers of `params`.

        A shallower network keeps the first layers; shared parameters are
        kept as they are. Layers beyond the old depth start, with
        ``new_layers="untrained"``, at their untrained values (the paper's
        warm start across depths); with ``"last"``, as copies of the last
        trained layer (a per-layer parameter with no trained entry, such as
        the iterate weight of a one-layer network, starts untrained); with
        ``"identity"`` (networks with `has_identity_layers`), as layers that
        return their input iterate, so that the grown network computes the
        codes of `params` exactly.
        """
        if new_layers not in GROWTH_RULES:
            raise ValueError(
                f"new_layers must be one of {GROWTH_RULES}, got {new_layers!r}."
            )
        if new_layers == "identity":
            if not self.has_identity_layers:
                raise ValueError(
                    f"{type(self).__name__} has no identity layer: "
                    "new_layers='identity' does not apply."
                )
            fresh = self.identity_params(n_layers)
        else:
            fresh = self.init_params(n_layers)
        old_layers = self.n_layers(params)
        keep = min(old_layers, n_layers)
        for name, spec in self.parameters.items():
            old = params[name]
            if spec.layers == "shared":
                fresh[name] = old.astype(fresh[name].dtype, copy=True)
                continue
            rows = max(keep - _LAYER_OFFSET[spec.layers], 0)
            fresh[name][:rows] = old[:rows]
            if new_layers == "last" and rows:
                fresh[name][rows:] = old[rows - 1]
        return fresh

    def grown_starts(self, params, n_layers, new_layers=None):
        """The starting points of a network grown from `params` to `n_layers`.

        A list, one start per rule of `new_layers` (see :meth:`resize`;
        default: ``"untrained"``, ``"last"``, and ``"identity"`` where the
        network has identity layers); a caller trains from the one with the
        lower loss. After supervised training (LISTA-CP on compressed
        sensing) the trained thresholds are far below the untrained ones and
        the copy is the better start; an untrained layer can be the better
        one elsewhere; the identity start loses nothing the trained layers
        reached, when both others would. One start for a network that always
        grows from its last layer (``new_layers_copy_last``) or that does not
        grow.
        """
        if self.new_layers_copy_last or n_layers <= self.n_layers(params):
            return [self.resize(params, n_layers)]
        if new_layers is None:
            new_layers = GROWTH_RULES[: 2 + self.has_identity_layers]
        return [self.resize(params, n_layers, rule) for rule in new_layers]

    def __repr__(self):
        return f"{type(self).__name__}(n_components={self.problem.n_components})"
