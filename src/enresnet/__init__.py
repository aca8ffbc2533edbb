"""enresnet: noise-injected ResNet ensembles via the Feynman-Kac formalism.

Wang, Shi, Yuan, Osher, "ResNets Ensemble via the Feynman-Kac Formalism to
Improve Natural and Robust Accuracies" (NeurIPS 2019).

The public names are imported on first use (PEP 562), so that ``import
enresnet`` and ``enresnet --help`` do not pay for importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
