"""Unrolled architectures: one module per family, one registry.

Every architecture is an
:class:`~sklearn_lista.networks.UnrolledNetwork` subclass (the protocol)
listed in :data:`~sklearn_lista.networks.ARCHITECTURES` under its ``name``;
the estimators, the training loop and the common tests find it there.
``doc/extending.rst`` walks through adding one.
"""

from ._base import ParameterSpec, UnrolledNetwork
from .alista import ALISTA
from .dictionary import JointDictionary
from .facnet import FacNet
from .proximal import LFISTA, LISTA, CoupledLISTA, ProximalNetwork, TiedLISTA
from .steps import StepFISTA, StepISTA

ARCHITECTURES = {}


def register_architecture(network_class):
    """Add an :class:`~sklearn_lista.networks.UnrolledNetwork` subclass to
    :data:`~sklearn_lista.networks.ARCHITECTURES` (returns it: a decorator)."""
    if not (
        isinstance(network_class, type) and issubclass(network_class, UnrolledNetwork)
    ):
        raise TypeError(f"{network_class!r} is not an UnrolledNetwork subclass.")
    ARCHITECTURES[network_class.name] = network_class
    return network_class


for _network in (
    LISTA,
    TiedLISTA,
    CoupledLISTA,
    LFISTA,
    StepISTA,
    StepFISTA,
    ALISTA,
    FacNet,
):
    register_architecture(_network)

__all__ = [
    "ARCHITECTURES",
    "ParameterSpec",
    "UnrolledNetwork",
    "register_architecture",
    "LISTA",
    "TiedLISTA",
    "CoupledLISTA",
    "LFISTA",
    "ProximalNetwork",
    "StepISTA",
    "StepFISTA",
    "ALISTA",
    "FacNet",
    "JointDictionary",
]
