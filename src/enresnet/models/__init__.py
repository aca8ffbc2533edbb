"""Noise-injected ResNets and their Feynman-Kac ensembles."""

from .contract import EnsembleModel, weighted_logits
from .enresnet import EnResNet, fused_layout, member_layout
from .ensemble import Ensemble, normalise_weights
from .noise import NoiseInjection, has_noise, noise_disabled, set_noise
from .registry import (
    NAME_FORMS,
    UnknownModelError,
    build_model,
    create_model,
    integrate_models,
    list_models,
)
from .resnet import FusedResNet, MemberLinear, PreActBlock, PreActResNet, cifar_resnet, wide_resnet
from .spec import IntegrationSpec, ModelSpec, NetworkSpec, spec_from_dict, spec_of

__all__ = [
    "NAME_FORMS",
    "EnResNet",
    "Ensemble",
    "EnsembleModel",
    "FusedResNet",
    "IntegrationSpec",
    "MemberLinear",
    "ModelSpec",
    "NetworkSpec",
    "NoiseInjection",
    "PreActBlock",
    "PreActResNet",
    "UnknownModelError",
    "build_model",
    "cifar_resnet",
    "create_model",
    "fused_layout",
    "has_noise",
    "integrate_models",
    "list_models",
    "member_layout",
    "noise_disabled",
    "normalise_weights",
    "set_noise",
    "spec_from_dict",
    "spec_of",
    "weighted_logits",
    "wide_resnet",
]
