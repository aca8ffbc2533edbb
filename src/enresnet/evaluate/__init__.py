"""Trustworthy robustness evaluation (paper Sec. 4; Tables 2, 3, 5, 6, 8).

* :mod:`.api`: ``evaluate_model(model, images, labels, ...)``, one call on plain tensors; the headline.
* :mod:`.protocol`: attack names and the paper's settings; eps by dataset.
* :mod:`.accuracy`: repeated stochastic predictions; mean, std and worst case.
* :mod:`.runner`: the batched, resumable loop over a dataset (white-box and blind).
* :mod:`.autoattack`: AutoAttack with a multi-draw re-check for noisy models.
* :mod:`.sanity`: checks that flag an evaluation which overstates robustness.
* :mod:`.tables`: the paper-shaped tables, as JSON and Markdown.
* :mod:`.inputs`: the test set a checkpoint was trained for.
"""

from .accuracy import AccuracyStats, attacked_accuracy, correct_draws, worst_case
from .api import EvaluationResult, evaluate_model
from .autoattack import AutoAttack
from .protocol import AttackSettings, build_attack, default_budget, display_name, parse_attacks
from .runner import CLEAN, RunSettings, evaluate_attacks, run_evaluation
from .sanity import Check, SanitySettings, SanitySuite, natural_model_check
from .tables import Row, write_tables

__all__ = [
    "CLEAN",
    "AccuracyStats",
    "AttackSettings",
    "AutoAttack",
    "Check",
    "EvaluationResult",
    "Row",
    "RunSettings",
    "SanitySettings",
    "SanitySuite",
    "attacked_accuracy",
    "build_attack",
    "correct_draws",
    "default_budget",
    "display_name",
    "evaluate_attacks",
    "evaluate_model",
    "natural_model_check",
    "parse_attacks",
    "run_evaluation",
    "worst_case",
    "write_tables",
]
