"""AutoAttack (Croce & Hein 2020): 'standard' through ``pyautoattack``, 'rand' with folded EOT and a re-check.

* A deterministic model gets version ``'standard'`` (APGD-CE, APGD-T, FAB-T,
  Square), run by ``pyautoattack`` unchanged: there one forward pass tells
  whether an adversarial example fools the model.
* A stochastic model (measured, :mod:`enresnet.models.randomness`) gets version
  ``'rand'``: APGD-CE and APGD-DLR, each with EOT over ``eot_iter`` (20) draws,
  1 restart, 100 iterations. Ours runs them with :class:`~enresnet.attacks.APGD`,
  whose EOT draws are folded into the batch axis (``draws x N`` images per
  forward pass, chunked by ``eot_batch``) instead of ``pyautoattack``'s 20
  sequential passes. ``pyautoattack`` also decides "fooled" from ONE stochastic
  forward pass, inside APGD and in its bookkeeping (a point one lucky draw
  misclassified is dropped from the later attacks), which keeps weak
  adversarial examples and overstates robustness once they are judged with
  fresh draws. Here each image keeps the candidate (APGD's highest-loss iterate
  or its misclassified iterate, of every attack) with the lowest accuracy over
  ``check_draws`` predictions, and only an image misclassified by all of them
  skips the remaining attacks.

The result is an ordinary ``attack(images, labels) -> adv_images``; its
accuracy is then measured like every other attack's (repeated draws, worst case).
``n_iter`` / ``eot_iter`` / ``n_queries`` set AutoAttack's iteration counts
(100 / 20 / 5000 by default: full strength); an evaluation names them in its notes.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from ..attacks import APGD, Attack
from ..errors import ConfigError
from ..models.randomness import is_stochastic
from .accuracy import correct_draws

VERSIONS = ("standard", "rand")
RAND_LOSSES = ("ce", "dlr")


class AutoAttack(Attack):
    """l_inf AutoAttack; ``version`` defaults to 'rand' for a stochastic model, else 'standard' (module doc)."""

    not_fingerprinted = ("model", "progress")

    def __init__(
        self,
        model: nn.Module,
        eps: float = 8 / 255,
        version: str | None = None,
        check_draws: int = 10,
        seed: int = 0,
        n_iter: int = 100,
        eot_iter: int = 20,
        n_queries: int = 5000,
        eot_batch: int | None = None,
        stochastic: bool | None = None,
        progress: bool = False,
        *,
        model_mode: str = "eval",
        bf16: bool = False,
    ) -> None:
        super().__init__(model, eps, eot_samples=eot_iter, eot_batch=eot_batch, stochastic=stochastic,
                         model_mode=model_mode, bf16=bf16)
        self.progress = progress
        if version not in (None, *VERSIONS):
            raise ValueError(f"AutoAttack version must be one of {VERSIONS}, got {version!r}")
        for name, value in (("check_draws", check_draws), ("n_iter", n_iter), ("eot_iter", eot_iter),
                            ("n_queries", n_queries)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.requested_version = version
        self.check_draws = int(check_draws)
        self.seed = int(seed)
        self.n_iter = int(n_iter)
        self.n_queries = int(n_queries)

    def version(self) -> str:
        """'rand' for a stochastic model, else 'standard'; 'standard' on a stochastic model is refused."""
        version = self.requested_version or ("rand" if self.stochastic else "standard")
        if version == "standard" and self.stochastic:
            raise ValueError("AutoAttack 'standard' judges a stochastic model from one forward pass; use 'rand'")
        return version

    def decide_randomness(self, images: torch.Tensor) -> None:
        """AutoAttack's version depends on the randomness even with one EOT draw: always measured."""
        if self.stochastic is None:
            self.stochastic = is_stochastic(self.model, images.detach())

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.version() == "rand":
            return self._run_rand(images, labels)
        aa = self._standard(images.device)
        adv, _ = aa.run_standard_evaluation(images, labels, batch_size=images.shape[0])
        return adv.to(images.device)

    def _standard(self, device: torch.device):
        try:
            import pyautoattack
        except ImportError:
            raise ConfigError(
                "AutoAttack 'standard' (deterministic models) needs pyautoattack: pip install 'pyautoattack==0.2.0'"
            ) from None
        model = _Autocast(self.model) if self.bf16 else self.model
        aa = pyautoattack.AutoAttack(model, norm="Linf", eps=self.eps, version="standard", device=device,
                                     seed=self.seed)
        aa.fab.n_iter = self.n_iter
        for apgd in (aa.apgd, aa.apgd_targeted):
            _set_apgd_iterations(apgd, self.n_iter)
        aa.square.n_queries = self.n_queries
        return aa

    def _accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per image, the fraction of ``check_draws`` predictions that are right."""
        return correct_draws(self.model, images, labels, self.check_draws, stochastic=True).float().mean(dim=0)

    def _run_rand(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        best = images.clone()
        best_acc = self._accuracy(images, labels)
        bar = tqdm(total=len(RAND_LOSSES) * self.n_iter, desc=f"AutoAttack rand ({images.shape[0]} images)",
                   unit="it", leave=False, disable=not self.progress)
        for loss in RAND_LOSSES:
            index = (best_acc > 0).nonzero().flatten()
            bar.set_postfix(attack=f"APGD-{loss.upper()}", robust=int(index.numel()), refresh=False)
            if index.numel() == 0:
                break
            apgd = APGD(self.model, eps=self.eps, loss=loss, steps=self.n_iter, eot_samples=self.eot_samples,
                        eot_batch=self.eot_batch, stochastic=True, model_mode=self.model_mode, bf16=self.bf16)
            x, y = images[index], labels[index]
            for candidate in apgd.single_run(x, y, on_step=bar.update):
                acc = self._accuracy(candidate, y)
                better = acc < best_acc[index]
                best[index[better]] = candidate[better].detach()
                best_acc[index[better]] = acc[better]
        bar.close()
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
