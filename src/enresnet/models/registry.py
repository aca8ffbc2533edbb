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

Every model carries ``model.spec``, a JSON-able dict that rebuilds it with
:func:`build_model`; checkpoints store it so that loading needs no config. A spec
holds only the keys of :data:`SPEC_KEYS` (an integration: :data:`INTEGRATE_KEYS`);
any other key is refused, not ignored.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..model_names import NAME_FORMS, UnknownModelError, list_models  # torch-free, for `enresnet models`
from ..model_names import SINGLE as _SINGLE
from .enresnet import EnResNet
from .ensemble import Ensemble
from .resnet import cifar_resnet, wide_resnet

__all__ = ["NAME_FORMS", "SPEC_KEYS", "UnknownModelError", "build_model", "create_model", "integrate_models",
           "list_models"]

SPEC_KEYS = ("name", "noise_coef", "num_classes", "in_channels", "std_mode", "dropout", "input_mean", "input_std",
             "stem_width")
"""The keys of a network's spec: :func:`create_model`'s arguments and the network options it passes on."""
INTEGRATE_KEYS = ("integrate", "weights")
"""The keys of an integration's spec (:func:`integrate_models`): the members' specs and their weights."""


def _build_single(name: str, noise_coef: float, kwargs: dict[str, Any]) -> nn.Module:
    match = _SINGLE.match(name)
    if match is None:
        raise UnknownModelError(f"unknown model name {name!r}; valid forms: {NAME_FORMS}")
    if match["n"] is None:
        kwargs = dict(kwargs, noise_coef=0.0)
    else:
        kwargs = dict(kwargs, noise_coef=noise_coef, members=int(match["n"]), network=EnResNet)
    try:
        if match["depth"] is not None:
            return cifar_resnet(int(match["depth"]), **kwargs)
        return wide_resnet(int(match["wdepth"]), int(match["widen"]), **kwargs)
    except ValueError as err:
        raise UnknownModelError(f"model name {name!r}: {err}; valid forms: {NAME_FORMS}") from None


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
    arguments (``dropout``, ``input_mean``, ``input_std``) go to every network.
    """
    if not isinstance(name, str) or not name:
        raise UnknownModelError(f"model name must be a non-empty string; valid forms: {NAME_FORMS}")
    net_kwargs = dict(num_classes=num_classes, in_channels=in_channels, std_mode=std_mode, **kwargs)
    parts = name.split("+")
    members = [_build_single(part.strip(), noise_coef, net_kwargs) for part in parts]
    model = members[0] if len(members) == 1 else Ensemble(members, learn_weights=True)
    model.spec = dict(name=name, noise_coef=noise_coef, **net_kwargs)
    return model


def integrate_models(models: list[nn.Module], weights: list[float] | None = None) -> Ensemble:
    """Average separately trained models at inference (Sec. 4.2, Table 7)."""
    specs = [getattr(m, "spec", None) for m in models]
    if any(s is None for s in specs):
        raise ValueError("integrate_models needs models built by create_model/build_model (they carry .spec)")
    classes = {s.get("num_classes") for s in specs}
    if len(classes) != 1:
        raise ValueError(f"cannot integrate models with different num_classes: {sorted(classes)}")
    model = Ensemble(models, weights=weights)
    model.spec = dict(integrate=specs, weights=model.weights.tolist())
    return model


def build_model(spec: dict[str, Any]) -> nn.Module:
    """Rebuild a model (untrained) from its ``spec`` dict; a key outside the schema is a ValueError."""
    allowed = INTEGRATE_KEYS if "integrate" in spec else SPEC_KEYS
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValueError(f"model spec has unknown keys {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    if "integrate" in spec:
        members = spec["integrate"]
        if not isinstance(members, list) or not members or not all(isinstance(m, dict) for m in members):
            raise ValueError("model spec 'integrate' must be a non-empty list of model specs")
        return integrate_models([build_model(s) for s in members], spec.get("weights"))
    spec = dict(spec)
    name = spec.pop("name", None)
    if name is None:
        raise ValueError(f"model spec has no 'name': {spec}")
    return create_model(name, **spec)
