"""One call: ``enresnet.evaluate_model(model, images, labels, ...)`` on plain tensors (paper Sec. 4, Table 2).

Images are float32 pixels in [0, 1] (or uint8 grey levels), labels class
indices. Every argument is checked before any work (an error of the project's
own type names the argument and the fix); then the call builds an
:class:`~enresnet.evaluate.plan.EvaluationPlan` and runs it
(:func:`~enresnet.evaluate.plan.run_plan`), exactly as ``enresnet evaluate``
does: the clean pass, every attack (EOT gradients and ``repeats`` predictions
per image when the model is measured stochastic), the sanity suite, and an
:class:`~enresnet.evaluate.plan.EvaluationResult` holding every number, its 95%
interval and the sanity verdicts, printable as the paper's table.

The headline (:attr:`EvaluationResult.robust_accuracy`) is ONE robust accuracy:
an image counts only if it is classified correctly in every draw, clean and
under every attack run: the worst case over attacks and draws, image by image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from ..data import ImageDataset
from ..errors import ConfigError
from .inputs import check_inputs
from .plan import EvaluationResult, make_plan, run_plan
from .protocol import DEFAULT_ATTACKS


def evaluate_model(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attacks: str | Sequence[str] = DEFAULT_ATTACKS,
    *,
    dataset: str | None = None,
    eps: float | None = None,
    alpha: float | None = None,
    eot: int = 5,
    eot_batch: int | None = None,
    repeats: int = 5,
    check_draws: int = 10,
    batch_size: int = 128,
    seed: int = 0,
    sanity_size: int | None = None,
    surrogate: nn.Module | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
    bf16: bool | None = None,
    autoattack_iterations: int = 100,
    autoattack_eot: int = 20,
    limits: Mapping[str, int] | None = None,
    stochastic: bool | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` on ``(images, labels)`` under ``attacks`` (names as ``enresnet evaluate --attacks``).

    Default attacks: the paper's FGSM, IFGSM^20 and C&W, and APGD-CE and
    APGD-DLR (docs/evaluation.md). ``dataset``: cifar10, cifar100,
    fashion_mnist (alias fmnist) or synthetic; default: the model's checkpoint's.
    ``eps``/``alpha``: the budget rule (:mod:`enresnet.evaluate.budget`): given,
    else the checkpoint's adversarial-training budget on this dataset, else the
    dataset's convention. ``eot``: draws averaged per attack gradient of a
    stochastic model; ``repeats``: predictions per image (mean ± std, worst case);
    ``sanity_size``: images of the sanity suite (None: as many as cost no more
    than the attacks, at most 200; 0 skips it); ``out_dir``: per-batch logs there
    make a rerun resume; ``bf16``: attack gradients from bf16 forward passes
    (None: where bf16 is fast); ``autoattack_iterations``/``autoattack_eot``:
    AutoAttack's strength (its own 100 / 20 by default); ``limits``: {attack: first
    k images}; ``stochastic``: declared randomness (None: measured). Runs on the
    device ``images`` are on.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module (e.g. enresnet.load_model(path)), got "
                          f"{type(model).__name__}")
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ConfigError(f"out_dir {out_dir} is a file; give a folder (it is created if missing)")
    device = images.device if isinstance(images, torch.Tensor) else "cpu"
    plan = make_plan(dataset, model, attacks=attacks, eps=eps, alpha=alpha, eot=eot, eot_batch=eot_batch,
                     repeats=repeats, check_draws=check_draws, batch_size=batch_size, seed=seed, bf16=bf16,
                     device=device, autoattack_iterations=autoattack_iterations, autoattack_eot=autoattack_eot,
                     limits=limits, sanity_size=sanity_size, stochastic=stochastic)
    labels, num_classes = check_inputs(model, images, labels)
    data = ImageDataset(images, labels, num_classes, name=plan.dataset)
    return run_plan(plan, model, data, surrogate=surrogate, out_dir=out_dir, progress=progress)
