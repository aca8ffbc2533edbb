"""AutoAttack (Croce & Hein 2020) through ``pyautoattack``, with a multi-draw re-check for noisy models.

* A deterministic model gets version ``'standard'`` (APGD-CE, APGD-T, FAB-T,
  Square), run by ``pyautoattack`` unchanged: there one forward pass tells
  whether an adversarial example fools the model.
* A noisy model (:func:`~enresnet.models.has_noise`) gets version ``'rand'``:
  APGD-CE and APGD-DLR with EOT over 20 draws. Here ``pyautoattack`` decides
  "fooled" from ONE stochastic forward pass, both inside APGD (which returns the
  clean image for a point that no single draw misclassified, and otherwise the
  last iterate one draw misclassified) and in its robust-accuracy bookkeeping
  (a point one lucky draw misclassified is dropped from the later attacks). A
  weak adversarial example is then kept and the attack gives up early, which
  overstates robustness once the examples are judged with fresh draws. This
  wrapper therefore runs the APGD runs itself and keeps, per image, the
  candidate (APGD's highest-loss iterate or its "fooled" iterate, of every
  attack and restart) with the lowest accuracy over ``check_draws`` noise draws;
  only an image misclassified by all ``check_draws`` draws skips the remaining
  attacks.

The result is an ordinary ``attack(images, labels) -> adv_images``; its
accuracy is then measured like every other attack's (repeated draws, worst case).
"""

from __future__ import annotations

import torch
from torch import nn

from ..attacks import Attack
from ..errors import ConfigError
from ..models import has_noise
from .accuracy import correct_draws

VERSIONS = ("standard", "rand")


class AutoAttack(Attack):
    """l_inf AutoAttack; ``version`` defaults to 'rand' for noisy models, else 'standard'.

    ``n_iter`` / ``eot_iter`` / ``n_queries`` override AutoAttack's fixed
    iteration counts (100 / 20 / 5000) for quick checks only; ``None`` keeps them.
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float = 8 / 255,
        version: str | None = None,
        check_draws: int = 10,
        seed: int = 0,
        n_iter: int | None = None,
        eot_iter: int | None = None,
        n_queries: int | None = None,
    ) -> None:
        super().__init__(model, eps)
        version = version or ("rand" if has_noise(model) else "standard")
        if version not in VERSIONS:
            raise ValueError(f"AutoAttack version must be one of {VERSIONS}, got {version!r}")
        if version == "standard" and has_noise(model):
            raise ValueError(
                "AutoAttack 'standard' judges a noisy model from one forward pass; use version='rand'"
            )
        if check_draws < 1:
            raise ValueError(f"check_draws must be >= 1, got {check_draws}")
        self.version = version
        self.check_draws = int(check_draws)
        self.seed = int(seed)
        self.n_iter = n_iter
        self.eot_iter = eot_iter
        self.n_queries = n_queries

    def _build(self, device: torch.device):
        try:
            import pyautoattack
        except ImportError:
            raise ConfigError(
                "the autoattack attack needs pyautoattack: pip install 'pyautoattack==0.2.0'"
            ) from None
        model = _Autocast(self.model) if self.bf16 else self.model  # the re-check predicts with self.model
        aa = pyautoattack.AutoAttack(model, norm="Linf", eps=self.eps, version=self.version, device=device,
                                     seed=self.seed)
        if self.n_iter is not None:
            aa.fab.n_iter = self.n_iter
            for apgd in (aa.apgd, aa.apgd_targeted):
                _set_apgd_iterations(apgd, self.n_iter)
        if self.eot_iter is not None and self.version == "rand":
            aa.apgd.eot_iter = self.eot_iter
        if self.n_queries is not None:
            aa.square.n_queries = self.n_queries
        return aa

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        aa = self._build(images.device)
        if self.version == "standard":
            adv, _ = aa.run_standard_evaluation(images, labels, batch_size=images.shape[0])
            return adv.to(images.device)
        return self._run_rand(aa, images, labels)

    def _accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per image, the fraction of ``check_draws`` predictions that are right."""
        return correct_draws(self.model, images, labels, self.check_draws).float().mean(dim=0).to(images.device)

    def _run_rand(self, aa, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        best = images.clone()
        best_acc = self._accuracy(images, labels)
        apgd = aa.apgd
        for name in aa.attacks_to_run:
            apgd.loss = {"apgd-ce": "ce", "apgd-dlr": "dlr"}[name]
            for _ in range(apgd.n_restarts):
                index = (best_acc > 0).nonzero().flatten()
                if index.numel() == 0:
                    return best
                x, y = images[index], labels[index]
                apgd.init_hyperparam(x)
                x_best_loss, _, _, x_fooled_once = apgd.attack_single_run(x, y)
                for candidate in (x_best_loss, x_fooled_once):
                    acc = self._accuracy(candidate, y)
                    better = acc < best_acc[index]
                    best[index[better]] = candidate[better].detach()
                    best_acc[index[better]] = acc[better]
        return best


class _Autocast(nn.Module):
    """``model`` under bf16 autocast, logits returned in fp32: what AutoAttack's gradients run on
    when :attr:`Attack.bf16` is set."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return self.model(x).float()


def _set_apgd_iterations(apgd, n_iter: int) -> None:
    """``n_iter`` and the step-size checkpoints APGD derives from it in its constructor."""
    apgd.n_iter = apgd.n_iter_orig = n_iter
    apgd.n_iter_2 = max(int(0.22 * n_iter), 1)
    apgd.n_iter_min = max(int(0.06 * n_iter), 1)
    apgd.size_decr = max(int(0.03 * n_iter), 1)
