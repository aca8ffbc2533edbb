"""Training: natural (ERM), PGD adversarial (Algorithm 1) and TRADES; resumable runs."""

from .ensemble_weights import update_weights, weight_gradient
from .schedule import learning_rate
from .trainer import Trainer, load_training_data, train
from .validation import split_accuracy

__all__ = [
    "Trainer",
    "learning_rate",
    "load_training_data",
    "split_accuracy",
    "train",
    "update_weights",
    "weight_gradient",
]
