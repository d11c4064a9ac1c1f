"""A dictionary trained through the network: any architecture, D a parameter.

:class:`JointDictionary` wraps an architecture of the registry and adds the
dictionary to its trainable parameters, on the oblique manifold (unit-norm
atoms). Its forward pass builds the wrapped network on the current dictionary
(the derived weights: ``D^T / L``-like input weights, Gram matrices, ALISTA's
analytic weight, FacNet's ``B A^T``...) and runs it; its backward pass asks the
wrapped network for :meth:`~UnrolledNetwork.backward_dictionary`, the gradient
in the dictionary of the weights derived from it. A loss that reads the
dictionary itself (the Lasso cost) adds its own part to ``grads["dictionary"]``.

For LISTA and LFISTA every weight is a trained parameter: the forward pass
does not read the dictionary, so it learns only from the loss.
"""

import numpy as np

from .._lasso import LassoProblem, lipschitz_constant
from ..optim import Oblique
from ._base import ParameterSpec, UnrolledNetwork


class JointDictionary(UnrolledNetwork):
    """An architecture whose dictionary (unit-norm atoms) is trained too.

    Parameters
    ----------
    problem : LassoProblem
        The initial dictionary (unit-norm atoms), `alpha` and the code
        constraint.
    network_class : type
        An :class:`UnrolledNetwork` subclass (a value of
        :data:`~sklearn_lista.networks.ARCHITECTURES`).
    **options
        Passed to `network_class`.

    Notes
    -----
    The wrapped networks built during training share the initial Lipschitz
    constant: it only sets the untrained parameters (and FacNet's PSD margin),
    which training has left behind. :meth:`network_on` with ``exact=True``
    builds the final network with its own.
    """

    reference = None

    def __init__(self, problem, network_class, **options):
        super().__init__(problem)
        self.network_class = network_class
        self.options = options
        self.base = network_class(problem, **options)
        self.name = f"{self.base.name}+dictionary"
        self.has_identity_layers = self.base.has_identity_layers
        self.parameters = {
            **self.base.parameters,
            "dictionary": ParameterSpec(Oblique(), "shared"),
        }

    def network_on(self, dictionary, exact=False):
        """The wrapped architecture built on `dictionary`."""
        if dictionary is self.problem.dictionary:
            return self.base
        lipschitz = lipschitz_constant(dictionary) if exact else self.problem.lipschitz
        problem = LassoProblem(
            dictionary, self.problem.alpha, self.problem.positive, lipschitz
        )
        return self.network_class(problem, **self.options)

    def _split(self, params):
        return {name: params[name] for name in self.base.parameters}

    def init_params(self, n_layers):
        params = self.base.init_params(n_layers)
        params["dictionary"] = np.array(self.problem.dictionary)
        return params

    def identity_params(self, n_layers):
        params = self.base.identity_params(n_layers)
        params["dictionary"] = np.array(self.problem.dictionary)
        return params

    def forward(self, X, params, keep_cache=True):
        network = self.network_on(params["dictionary"].astype(X.dtype, copy=False))
        codes, cache = network.forward(X, self._split(params), keep_cache)
        return codes, ((network, cache) if keep_cache else None)

    def backward(self, params, cache, grad_codes):
        network, cache = cache
        grads, grad_dictionary = network.backward_dictionary(
            self._split(params), cache, grad_codes
        )
        grads["dictionary"] = grad_dictionary.astype(
            params["dictionary"].dtype, copy=False
        )
        return grads

    def project(self, params):
        self.network_on(params["dictionary"]).project(self._split(params))

    def __repr__(self):
        return (
            f"JointDictionary({type(self.base).__name__}, "
            f"n_components={self.problem.n_components})"
        )
