"""Model registry: ``create_model(name)`` / ``list_models()`` (timm style).

Name grammar::

    single   := [ "en" N "_" ] arch
    arch     := "resnet" DEPTH            (pre-activation CIFAR ResNet, depth 6n+2)
              | "wrn" DEPTH "_" WIDEN      (Wide ResNet WRN-DEPTH-WIDEN)
    name     := single ( "+" single )*

* ``resnet20``: a plain ResNet (no noise, whatever ``noise_coef`` says).
* ``en1_resnet20``: one noise-injected ResNet20 (En_1, Sec. 3.1);
  ``en5_resnet20``: five jointly trained ones with averaged logits (En_5),
  computed as one network (:class:`~enresnet.models.EnResNet`).
  With ``noise_coef=0`` an ``en2_resnet20`` is the noise-free jointly trained
  ensemble of Sec. 4.4.
* ``en1_resnet20+en1_resnet32``: the ensemble of different ResNets with learned
  weights (Sec. 5).

Every model carries ``model.spec``, the typed spec that rebuilds it with
:func:`build_model` (:mod:`enresnet.models.spec`: a :class:`NetworkSpec`, or an
:class:`IntegrationSpec` for :func:`integrate_models`); checkpoints store its
``to_dict()`` so that loading needs no config. The names are checked, without
building anything, by :func:`enresnet.model_names.architecture`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from ..model_names import NAME_FORMS, Network, UnknownModelError, architecture, list_models
from .enresnet import EnResNet
from .ensemble import Ensemble
from .resnet import PreActResNet
from .spec import IntegrationSpec, ModelSpec, NetworkSpec, spec_from_dict, spec_of

__all__ = ["NAME_FORMS", "UnknownModelError", "build_model", "create_model", "integrate_models", "list_models"]


def _build_network(network: Network, noise_coef: float, kwargs: dict[str, Any]) -> nn.Module:
    """The network ``network`` describes: a plain ResNet without noise, or an En_n ResNet with ``noise_coef``."""
    if network.members is None:
        return PreActResNet(network.blocks, network.widths, **dict(kwargs, noise_coef=0.0))
    return EnResNet(network.blocks, network.widths, **dict(kwargs, noise_coef=noise_coef), members=network.members)


def create_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    noise_coef: float = 0.1,
    std_mode: str = "tensor",
    **kwargs: Any,
) -> nn.Module:
    """Build a model by name (grammar in the module docstring).

    ``noise_coef`` is the paper's ``a`` (0.1); ``std_mode`` is "tensor" (std over
    the whole block output, as the authors' code) or "sample". Extra keyword
    arguments (``dropout``, ``input_mean``, ``input_std``, ``stem_width``) go to every network.
    """
    arch = architecture(name)
    net_kwargs = dict(num_classes=num_classes, in_channels=in_channels, std_mode=std_mode, **kwargs)
    members = [_build_network(network, noise_coef, net_kwargs) for network in arch.networks]
    model = members[0] if len(members) == 1 else Ensemble(members, learn_weights=True)
    model.spec = NetworkSpec(name=name, noise_coef=noise_coef, **net_kwargs)
    return model


def integrate_models(models: list[nn.Module], weights: list[float] | None = None) -> Ensemble:
    """Average separately trained models at inference (Sec. 4.2, Table 7)."""
    specs = [spec_of(m) for m in models]
    if any(s is None for s in specs):
        raise ValueError("integrate_models needs models built by create_model/build_model (they carry .spec)")
    classes = {s.network.num_classes for s in specs}
    if len(classes) != 1:
        raise ValueError(f"cannot integrate models with different num_classes: {sorted(classes)}")
    model = Ensemble(models, weights=weights)
    model.spec = IntegrationSpec(tuple(specs), tuple(model.weights.tolist()))
    return model


def build_model(spec: ModelSpec | Mapping[str, Any]) -> nn.Module:
    """Rebuild a model (untrained) from its spec, or a checkpoint's JSON of it (a key outside the schema
    is a ValueError)."""
    if isinstance(spec, Mapping):
        spec = spec_from_dict(spec)
    if isinstance(spec, IntegrationSpec):
        return integrate_models([build_model(member) for member in spec.members],
                                None if spec.weights is None else list(spec.weights))
    return create_model(spec.name, noise_coef=spec.noise_coef, num_classes=spec.num_classes,
                        in_channels=spec.in_channels, std_mode=spec.std_mode, **spec.options())
