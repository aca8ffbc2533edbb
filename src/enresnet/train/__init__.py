"""Training: natural (ERM), PGD adversarial (Algorithm 1) and TRADES; resumable runs.

The public names are imported on first use (PEP 562), so that :mod:`enresnet.train.run_dir` (what
``enresnet train`` checks before any work) is read without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_LAZY = {
    "update_weights": ".ensemble_weights",
    "weight_gradient": ".ensemble_weights",
    "learning_rate": ".schedule",
    "Trainer": ".trainer",
    "load_training_data": ".trainer",
    "train": ".trainer",
}

if TYPE_CHECKING:
    from .ensemble_weights import update_weights, weight_gradient
    from .schedule import learning_rate
    from .trainer import Trainer, load_training_data, train


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "Trainer",
    "learning_rate",
    "load_training_data",
    "train",
    "update_weights",
    "weight_gradient",
]
