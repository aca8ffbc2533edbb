"""enresnet: noise-injected ResNet ensembles via the Feynman-Kac formalism.

Wang, Shi, Yuan, Osher, "ResNets Ensemble via the Feynman-Kac Formalism to
Improve Natural and Robust Accuracies" (NeurIPS 2019).

The public names are imported on first use (PEP 562), so that ``import
enresnet`` and ``enresnet --help`` do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "load_model": ".checkpoint",
    "load_weights": ".checkpoint",
    "save_model": ".checkpoint",
    "evaluate_model": ".evaluate",
    "build_model": ".models",
    "create_model": ".models",
    "integrate_models": ".models",
    "list_models": ".models",
    "noise_disabled": ".models",
    "set_noise": ".models",
}

__all__ = [  # every name of _LAZY (tested), written out for linters
    "__version__",
    "build_model",
    "create_model",
    "evaluate_model",
    "integrate_models",
    "list_models",
    "load_model",
    "load_weights",
    "noise_disabled",
    "save_model",
    "set_noise",
]

if TYPE_CHECKING:
    from .checkpoint import load_model, load_weights, save_model
    from .evaluate import evaluate_model
    from .models import build_model, create_model, integrate_models, list_models, noise_disabled, set_noise


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    try:  # a submodule, as ``import enresnet`` made them attributes before: enresnet.models.EnResNet
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
