"""A model's provenance: the spec that rebuilds it, stored in every checkpoint so that loading needs no config.

:class:`NetworkSpec` is a model of :func:`~enresnet.models.create_model` (one network, an En_n ResNet of
Sec. 3.1, or a ``+`` ensemble of Sec. 5); :class:`IntegrationSpec` is the integration of separately trained
models (Sec. 4.2, Table 7). ``to_dict`` gives the JSON a checkpoint stores (``{"name": ..., "noise_coef":
...}``; ``{"integrate": [...], "weights": [...]}``) and :func:`spec_from_dict` reads it back, refusing a key
outside the schema instead of ignoring it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from torch import nn

SPEC_KEYS = ("name", "noise_coef", "num_classes", "in_channels", "std_mode", "dropout", "input_mean", "input_std",
             "stem_width")
"""The keys of a network's spec: :func:`~enresnet.models.create_model`'s arguments and the network options it
passes on, in the order a checkpoint stores them."""
INTEGRATE_KEYS = ("integrate", "weights")
"""The keys of an integration's spec: the members' specs and their weights."""
OPTIONS = ("dropout", "input_mean", "input_std", "stem_width")
"""The network options a spec holds only when they were given."""


@dataclass(frozen=True)
class NetworkSpec:
    """``create_model(name, noise_coef=..., num_classes=..., ...)``; an option left None was not given."""

    name: str
    noise_coef: float = 0.1
    num_classes: int = 10
    in_channels: int = 3
    std_mode: str = "tensor"
    dropout: float | None = None
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None
    stem_width: int | None = None

    def __post_init__(self) -> None:
        for key in ("input_mean", "input_std"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, tuple(value))

    @property
    def label(self) -> str:
        """The model's name (``en5_resnet20``)."""
        return self.name

    @property
    def network(self) -> NetworkSpec:
        """The spec fixing the model's input channels and classes: this one."""
        return self

    def options(self) -> dict[str, Any]:
        """The network options given (``dropout``, ``input_mean``, ...), as passed to ``create_model``."""
        return {key: _plain(getattr(self, key)) for key in OPTIONS if getattr(self, key) is not None}

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's JSON form: every key of :data:`SPEC_KEYS` given, in that order."""
        return dict(name=self.name, noise_coef=self.noise_coef, num_classes=self.num_classes,
                    in_channels=self.in_channels, std_mode=self.std_mode, **self.options())

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> NetworkSpec:
        _check_keys(spec, SPEC_KEYS)
        if "name" not in spec:
            raise ValueError(f"model spec has no 'name': {dict(spec)}")
        return cls(**spec)


@dataclass(frozen=True)
class IntegrationSpec:
    """The average of separately trained models' logits with ``weights`` (None: uniform)."""

    members: tuple[ModelSpec, ...]
    weights: tuple[float, ...] | None = None

    @property
    def label(self) -> str:
        """``integrate(en1_resnet20 + en1_resnet32)``."""
        return "integrate(" + " + ".join(member.label for member in self.members) + ")"

    @property
    def network(self) -> NetworkSpec:
        """The spec fixing the model's input channels and classes: the first member's (all agree)."""
        return self.members[0].network

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"integrate": [member.to_dict() for member in self.members]}
        if self.weights is not None:
            spec["weights"] = list(self.weights)
        return spec

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> IntegrationSpec:
        _check_keys(spec, INTEGRATE_KEYS)
        members = spec["integrate"]
        if not isinstance(members, list) or not members or not all(isinstance(m, Mapping) for m in members):
            raise ValueError("model spec 'integrate' must be a non-empty list of model specs")
        weights = spec.get("weights")
        return cls(tuple(spec_from_dict(m) for m in members), None if weights is None else tuple(weights))


ModelSpec = Union[NetworkSpec, IntegrationSpec]
"""What rebuilds a model: one built by ``create_model``, or an integration."""


def spec_from_dict(spec: Mapping[str, Any]) -> ModelSpec:
    """The spec a checkpoint's JSON describes; a key outside the schema is a ValueError."""
    return (IntegrationSpec if "integrate" in spec else NetworkSpec).from_dict(spec)


def spec_of(module: nn.Module) -> ModelSpec | None:
    """The spec of a model built by :func:`~enresnet.models.create_model`, :func:`~enresnet.models.build_model`
    or :func:`~enresnet.models.integrate_models` (its ``spec`` attribute); None for any other module."""
    spec = getattr(module, "spec", None)
    return spec if isinstance(spec, (NetworkSpec, IntegrationSpec)) else None


def _check_keys(spec: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValueError(f"model spec has unknown keys {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")


def _plain(value: Any) -> Any:
    """A tuple option as the list JSON reads back."""
    return list(value) if isinstance(value, tuple) else value


