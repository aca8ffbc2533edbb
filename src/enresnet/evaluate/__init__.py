"""Trustworthy robustness evaluation (paper Sec. 4; Tables 2, 3, 5, 6, 8): one plan, one runner.

* :mod:`.plan`: :func:`make_plan` (every setting checked, the budget resolved once) and
  :func:`run_plan` (clean pass, attacks, sanity suite, notes): what every entry point runs.
* :mod:`.api`: ``evaluate_model(model, images, labels, ...)``, the plan on plain tensors.
* :mod:`.budget`: the one budget rule (given, else the checkpoint's adversarial training, else the convention).
* :mod:`.protocol`: attack names, their settings and the one factory (:func:`build_attack`).
* :mod:`.accuracy`: repeated stochastic predictions; mean, std and worst case.
* :mod:`.runner`: the batched, resumable loop over a dataset.
* :mod:`.autoattack`: AutoAttack, with folded EOT and a multi-draw re-check for stochastic models.
* :mod:`.sanity`: checks that flag an evaluation which overstates robustness.
* :mod:`.tables`: the paper-shaped tables, as JSON and Markdown.
* :mod:`.inputs`: the test set a checkpoint was trained for; checks of tensors given to the API.
"""

from .accuracy import AccuracyStats, attacked_accuracy, correct_draws, worst_case
from .api import evaluate_model
from .autoattack import AutoAttack
from .budget import Budget, resolve_budget
from .plan import EvaluationPlan, EvaluationResult, make_plan, run_plan
from .protocol import DEFAULT_ATTACKS, PAPER_ATTACKS, AttackSettings, build_attack, display_name, parse_attacks
from .runner import CLEAN, RunSettings, run_evaluation
from .sanity import Check, SanitySettings, SanitySuite, natural_model_check
from .tables import Row, write_tables

__all__ = [
    "CLEAN",
    "DEFAULT_ATTACKS",
    "PAPER_ATTACKS",
    "AccuracyStats",
    "AttackSettings",
    "AutoAttack",
    "Budget",
    "Check",
    "EvaluationPlan",
    "EvaluationResult",
    "Row",
    "RunSettings",
    "SanitySettings",
    "SanitySuite",
    "attacked_accuracy",
    "build_attack",
    "correct_draws",
    "display_name",
    "evaluate_model",
    "make_plan",
    "natural_model_check",
    "parse_attacks",
    "resolve_budget",
    "run_evaluation",
    "run_plan",
    "worst_case",
    "write_tables",
]
