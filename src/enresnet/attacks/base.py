"""The base class of every attack: mode handling, the EOT gradient, the projection.

An attack is a callable ``attack(images, labels) -> adv_images`` (torchattacks
style). Images are pixels in [0, 1]; every attack is l_inf-bounded in pixel
space (paper Sec. 3.2: "All three attacks clip the pixel values of the
adversarial image to between 0 and 1").

Expectation over Transformation (EOT, Athalye et al. 2018; paper Sec. 4: "the
gradient ... is averaged over five independent runs"): for a model with noise
injection the attack gradient is the mean over ``eot_samples`` noise draws. The
K replicas of the batch go through the model as one batch of K*B images (the
images repeated K times along the batch axis), in chunks of at most
``eot_batch`` replicas when memory is short. With the default whole-tensor std
of :class:`~enresnet.models.NoiseInjection` the noise scale of each draw is then
computed over the K-times larger batch; since the replicas are copies of the
same images this std matches the single-batch std closely. For a model without
noise every draw is the same, so one replica is used whatever ``eot_samples``
says.

Whether a model is stochastic is measured, not assumed from its classes
(:func:`enresnet.models.randomness.measure_randomness`): an attack given
``stochastic=None`` measures it on the first batch it attacks and keeps the
answer (only when it matters: ``eot_samples > 1``); callers that know (the
evaluation plan) pass it.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from ..models.randomness import is_stochastic

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(logits, labels) -> scalar`` maximised (or minimised) by an attack."""


MODEL_MODES = ("eval", "train")
CPU_EOT_ROWS = 160
"""Images per forward pass the EOT draws are chunked to on a CPU when ``eot_batch`` is None."""


@contextlib.contextmanager
def model_mode(model: nn.Module, mode: str = "eval") -> Iterator[nn.Module]:
    """Run ``model`` in ``mode`` ("eval": BatchNorm running statistics; "train"), restore its mode afterwards."""
    if mode not in MODEL_MODES:
        raise ValueError(f"model mode must be one of {MODEL_MODES}, got {mode!r}")
    was_training = model.training
    model.train(mode == "train")
    try:
        yield model
    finally:
        model.train(was_training)


class Attack:
    """Base class: ``attack(images, labels)`` returns adversarial images in the l_inf eps-ball.

    Subclasses implement :meth:`forward`; :meth:`__call__` validates the input,
    runs ``forward`` with gradients enabled and the model in :attr:`model_mode`
    ("eval" by default: BatchNorm uses its running statistics), and restores the
    model's mode afterwards. Every option is a constructor argument (``model_mode``
    and ``bf16`` keyword-only, in every subclass); nothing is set after construction.
    Gradients are taken w.r.t. the input only (:func:`torch.autograd.grad`), so
    the model's parameters never receive a ``.grad`` and their ``requires_grad``
    is left as it was.

    :meth:`config` (an evaluation's fingerprint of the attack) is the constructor's
    arguments as given, defaults filled in, recorded when the attack is made: an
    option a subclass adds is in it without anyone remembering to add it.
    """

    not_fingerprinted: tuple[str, ...] = ("model",)
    """Constructor arguments left out of :meth:`config`: the model (an evaluation digests it apart) and
    options that cannot change the adversarial images (a progress bar)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Attack:
        attack = super().__new__(cls)
        bound = inspect.signature(cls.__init__).bind_partial(attack, *args, **kwargs)
        bound.apply_defaults()
        attack._arguments = dict(list(bound.arguments.items())[1:])  # without self
        return attack

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        eot_samples: int = 1,
        eot_batch: int | None = None,
        stochastic: bool | None = None,
        *,
        model_mode: str = "eval",
        bf16: bool = False,
    ) -> None:
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        if eot_samples < 1:
            raise ValueError(f"eot_samples must be >= 1, got {eot_samples}")
        if eot_batch is not None and eot_batch < 1:
            raise ValueError(f"eot_batch must be >= 1 (replicas per forward pass), got {eot_batch}")
        self.model = model
        self.eps = float(eps)
        self.eot_samples = int(eot_samples)
        self.eot_batch = eot_batch
        if stochastic not in (None, True, False):
            raise ValueError(f"stochastic must be None (measured), True or False, got {stochastic!r}")
        self.stochastic = stochastic
        """Whether the model's forward pass is random (EOT applies): None = measured on the first batch."""
        if model_mode not in MODEL_MODES:
            raise ValueError(f"model_mode must be one of {MODEL_MODES}, got {model_mode!r}")
        self.model_mode = model_mode
        """Mode the model runs in during the attack: "eval" (BatchNorm running
        statistics; every evaluation) or "train" (PGD adversarial training with
        ``train.attack_bn_mode = "train"``, as the authors' code)."""
        if not isinstance(bf16, bool):
            raise ValueError(f"bf16 must be True or False, got {bf16!r}")
        self.bf16 = bf16
        """Whether the forward passes behind the attack's gradients run under bf16 autocast (the loss
        and the update in fp32). Off: fp32, as the paper. The training step sets its own autocast
        around the attack instead; evaluation turns this on where bf16 is fast (see
        :func:`enresnet.evaluate.evaluate_model`)."""

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or labels.shape != images.shape[:1]:
            raise ValueError(
                f"expected images (N, C, H, W) and labels (N,), got {tuple(images.shape)} and {tuple(labels.shape)}"
            )
        if images.numel() and (images.min() < 0 or images.max() > 1):
            raise ValueError("images must be pixels in [0, 1]; normalisation belongs inside the model")
        return self.perturb(images, labels)

    def perturb(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The attack without :meth:`__call__`'s checks of the input, which read values back to the host.

        For callers whose images are valid pixels by construction: the training
        step, which must run without host synchronisation (and inside a CUDA graph).
        """
        images = images.detach().clone()
        labels = labels.detach()
        self.decide_randomness(images)
        with model_mode(self.model, self.model_mode), torch.enable_grad():
            adv = self.forward(images, labels)
        return self.project(adv.detach(), images)

    def decide_randomness(self, images: torch.Tensor) -> None:
        """Measure :attr:`stochastic` on ``images`` if it is not known and matters (``eot_samples > 1``)."""
        if self.stochastic is None and self.eot_samples > 1:
            self.stochastic = is_stochastic(self.model, images.detach())

    @property
    def draws(self) -> int:
        """Noise draws per gradient: ``eot_samples`` for a stochastic model, else 1."""
        return self.eot_samples if self.stochastic else 1

    def project(self, adv: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Clip to the l_inf ball ``Clip_{x,eps}`` of Eq. (16), then to [0, 1]."""
        return torch.min(torch.max(adv, images - self.eps), images + self.eps).clamp(0.0, 1.0)

    def input_grad(self, x: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn) -> torch.Tensor:
        """EOT gradient of ``loss_fn`` w.r.t. ``x``: the mean over :attr:`draws` noise draws.

        ``loss_fn(logits, labels)`` must be a mean over the rows, so that for one
        draw the gradient is exactly that of the plain (torchattacks) loss, and
        for K draws it is the mean of the K single-draw gradients.
        """
        return self._eot(x, labels, loss_fn, per_chunk=lambda n: n / self.draws)[0]

    def eot_gradient(self, x: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn) -> tuple[torch.Tensor, torch.Tensor]:
        """(gradient w.r.t. ``x`` of the mean over :attr:`draws` of ``loss_fn``, logits (draws, N, classes)).

        The draws are folded into the batch axis (module doc): one forward and one
        backward pass of ``draws x N`` images per chunk of at most ``eot_batch``
        replicas, never a Python loop over draws. ``loss_fn(logits, labels)`` is
        summed over its rows for the gradient's scale (``sum`` of per-image losses
        gives each image its own gradient, as AutoAttack's APGD); the logits come
        back detached, in fp32, for the caller's bookkeeping (loss, predictions).
        """
        return self._eot(x, labels, lambda logits, y: loss_fn(logits, y).sum(), per_chunk=lambda n: 1 / self.draws)

    def _eot(self, x: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn,
             per_chunk: Callable[[int], float]) -> tuple[torch.Tensor, torch.Tensor]:
        """The folded EOT pass of :meth:`eot_gradient`; each chunk of n replicas' loss weighted by ``per_chunk(n)``."""
        x = x.detach()
        self.decide_randomness(x)
        grad = torch.zeros_like(x)
        parts = []
        for n in self._replica_chunks(x):
            leaf = x.clone().requires_grad_(True)
            with self.autocast(x):
                logits = self.model(leaf.repeat(n, *([1] * (x.dim() - 1)))).float()
            grad += torch.autograd.grad(loss_fn(logits, labels.repeat(n)) * per_chunk(n), leaf)[0]
            parts.append(logits.detach().view(n, x.shape[0], -1))
        return grad, torch.cat(parts)

    def autocast(self, x: torch.Tensor) -> contextlib.AbstractContextManager:
        """bf16 autocast on ``x``'s device when :attr:`bf16`; else nothing (a caller's autocast stays on)."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(x.device.type, dtype=torch.bfloat16)

    @torch.no_grad()
    def mean_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits averaged over :attr:`draws` noise draws (batched like :meth:`input_grad`)."""
        self.decide_randomness(x)
        total = torch.zeros(())
        for n in self._replica_chunks(x):
            total = total + self.model(x.repeat(n, *([1] * (x.dim() - 1)))).view(n, x.shape[0], -1).sum(0)
        return total / self.draws

    def _replica_chunks(self, x: torch.Tensor) -> list[int]:
        """Replicas per forward pass: :attr:`draws` split into chunks of at most ``eot_batch``.

        ``eot_batch=None``: all draws at once on a GPU; on a CPU as many as keep a pass near
        :data:`CPU_EOT_ROWS` images, in chunks of equal size (measured on En1ResNet20, AutoAttack's 20
        draws of 32 images on one thread: 7.0 s for 5 chunks of 4 draws against 7.9 s all at once, the
        larger batch leaving the caches).
        """
        k = self.draws
        if self.eot_batch is None and x.device.type == "cpu":
            chunks = -(-k * x.shape[0] // CPU_EOT_ROWS)
            return [k // chunks + (i < k % chunks) for i in range(min(chunks, k))]
        chunk = min(k, self.eot_batch or k)
        return [chunk] * (k // chunk) + ([k % chunk] if k % chunk else [])

    def config(self) -> dict[str, Any]:
        """The attack's name and its constructor's arguments but :attr:`not_fingerprinted` (JSON-able; part of
        an evaluation's fingerprint)."""
        params = {k: v for k, v in self._arguments.items() if k not in self.not_fingerprinted}
        return {"attack": type(self).__name__, **params}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "attack")
        return f"{type(self).__name__}({params})"


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-row C&W margin ``max_{i != t} Z_i - Z_t`` (Eq. 18); > 0 iff ``t`` is not the top class."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return others.amax(dim=1) - true
