"""enresnet: noise-injected ResNet ensembles via the Feynman-Kac formalism.

Wang, Shi, Yuan, Osher, "ResNets Ensemble via the Feynman-Kac Formalism to
Improve Natural and Robust Accuracies" (NeurIPS 2019).
"""

from .checkpoint import load_model, load_weights, save_model
from .models import (
    build_model,
    create_model,
    integrate_models,
    list_models,
    noise_disabled,
    set_noise,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "build_model",
    "create_model",
    "integrate_models",
    "list_models",
    "load_model",
    "load_weights",
    "save_model",
    "noise_disabled",
    "set_noise",
]
