"""Training: natural (ERM), PGD adversarial (Algorithm 1) and TRADES; resumable runs.

The public names are imported on first use (PEP 562), so that :mod:`enresnet.train.run_dir` (what
``enresnet train`` checks before any work) is read without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "update_weights": ".ensemble_weights",
    "weight_gradient": ".ensemble_weights",
    "learning_rate": ".schedule",
    "Trainer": ".trainer",
    "load_training_data": ".trainer",
    "train": ".trainer",
    "split_accuracy": ".validation",
}

if TYPE_CHECKING:
    from .ensemble_weights import update_weights, weight_gradient
    from .schedule import learning_rate
    from .trainer import Trainer, load_training_data, train
    from .validation import split_accuracy


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    try:  # a submodule, as the eager imports made them attributes before
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Trainer",
    "learning_rate",
    "load_training_data",
    "split_accuracy",
    "train",
    "update_weights",
    "weight_gradient",
]
