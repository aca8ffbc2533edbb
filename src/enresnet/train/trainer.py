"""One trainer for natural, PGD-adversarial and TRADES training of (En)ResNets.

Paper defaults (Sec. 3.3, 4.1, Algorithm 1): SGD lr 0.1, momentum 0.9,
Nesterov, weight decay 5e-4, batch 128, 200 epochs, lr / 10 at 80/120/160,
45k/5k split, the model with the best validation accuracy kept (robust for
adversarial training, natural for ERM). The learned weights of an ensemble of
different ResNets (Sec. 5) take one step per epoch from the Eq. 19-20 gradient
accumulated over the epoch.

Checkpoints: ``last`` at every epoch end (and every ``checkpoint_every``
steps), ``best`` whenever validation improves; a killed run resumes exactly.
Every run has an id (:mod:`enresnet.train.run_dir`) in its ``run.json``, its
checkpoints and metrics rows: ``--resume`` refuses a ``last``, ``best`` or
metrics of another run, and a ``last`` whose training state is incomplete.
A NaN or infinite loss, or non-finite weights or BatchNorm statistics, stop the
run with the last good checkpoint kept: both are checked before every checkpoint,
so no kept checkpoint holds a non-finite value. The run directory is locked
(:mod:`enresnet.locking`) by :meth:`Trainer.fit`, once per run, while it reads
the checkpoint it resumes and writes; a new run refuses a directory that is not
empty.

A step never reads a value back from the device: loss and accuracy sums (and a
count of non-finite losses) accumulate on the device and are read when the
progress bar refreshes (about once a second), before each checkpoint and at the
epoch end. On CUDA the whole step is recorded once in a CUDA graph and
replayed (:mod:`enresnet.train.capture`, ``train.capture``); the last, partial
batch of an epoch (another shape) runs eagerly, the same computation.
Constructing a :class:`Trainer` writes nothing: the run directory is created
when :meth:`Trainer.fit` starts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ..checkpoint import load_state_into, model_tensors, read_checkpoint, read_metadata, save_checkpoint
from ..config import Config
from ..data import ImageDataset, generator_seed, iterate_batches, load_dataset, num_batches, train_val_split
from ..device import resolve_device
from ..errors import ConfigError, TrainingDivergedError
from ..locking import run_lock
from ..models import EnsembleModel, create_model
from .capture import GraphedFunction
from .distributed import DistContext
from .ensemble_weights import update_weights, weight_gradient
from .objectives import make_objective
from .run_dir import RunDir, new_run_id
from .schedule import learning_rate
from .speed import resolve_speed_options
from .state import (
    Best,
    CheckpointMeta,
    RunningSums,
    Totals,
    TrainingState,
    load_optimizer_tensors,
    optimizer_tensors,
    restore_rng,
    rng_tensors,
)
from .validation import Validator, validation_attack

PROGRESS_SECONDS = 1.0
"""How often the progress bar reads the running sums back from the device."""


def load_training_data(config: Config) -> tuple[ImageDataset, ImageDataset]:
    """The training and validation splits named by the config's [data] section."""
    data = config.data
    options = dict(data.options) if data.name == "synthetic" else dict(data.options, download=data.download)
    full = load_dataset(data.name, data.data_dir, train=True, **options)
    if data.train_limit:
        full = full.subset(torch.arange(min(data.train_limit, len(full))))
    if data.val_size >= len(full):
        raise ConfigError(f"data.val_size ({data.val_size}) must be smaller than the {len(full)} training images")
    return train_val_split(full, data.val_size, seed=data.split_seed)


def _build_model(config: Config, num_classes: int, in_channels: int) -> nn.Module:
    """The [model] section's network (the options it sets, in :data:`~enresnet.config.SCHEMA`'s order)."""
    model = config.model
    options = {"dropout": model.dropout}
    if model.input_mean is not None:
        options |= {"input_mean": list(model.input_mean), "input_std": list(model.input_std)}
    return create_model(model.name, num_classes=num_classes, in_channels=in_channels, noise_coef=model.noise_coef,
                        std_mode=model.std_mode, **options)


class Trainer:
    """Train the model a validated config describes; ``run_dir`` is written (and, with ``resume``, read) from
    :meth:`fit` on.

    :meth:`train_step` is the public step (one batch: attack, loss, update),
    used by :meth:`fit` and by the benchmarks.
    """

    def __init__(self, config: Config, run_dir: str | Path | None = None, *, resume: bool = False,
                 quiet: bool = False):
        self.config = config
        train = config.train
        self.run = RunDir(run_dir) if run_dir is not None else None
        if resume and self.run is None:
            raise ConfigError("resume needs the run directory to resume from")
        self.resume = resume
        self.quiet = quiet
        self.device = resolve_device(train.device, "train.device")
        self.ctx = DistContext.from_env(self.device.type)
        if self.ctx.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.ctx.local_rank)
            torch.cuda.set_device(self.device)
        self.speed = resolve_speed_options(train, self.device, self.ctx.enabled)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest convolution kernels once
        self.select = ("natural" if train.method == "natural" else "robust") if train.select == "auto" else train.select
        self.batch_size = train.batch_size // self.ctx.world_size
        """The per-process size of a full batch (a captured step replays for this size only)."""

        torch.manual_seed(generator_seed(train.seed + self.ctx.rank))
        self.train_set, self.val_set = load_training_data(config)
        if config.validation.limit:
            self.val_set = self.val_set.subset(torch.arange(min(config.validation.limit, len(self.val_set))))
        self.train_set = self.train_set.to(self.device)
        self.val_set = self.val_set.to(self.device)
        self.model = _build_model(config, self.train_set.num_classes, self.train_set.image_shape[0]).to(self.device)
        if self.speed.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.learn_weights = isinstance(self.model, EnsembleModel) and self.model.learn_weights
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=train.lr, momentum=train.momentum, nesterov=train.nesterov,
            weight_decay=train.weight_decay,
        )
        self.forward = self._wrap_for_training(self.model)
        self.objective = make_objective(self.model, train, config.attack)
        self.graphed_step = GraphedFunction(self._step) if self.speed.capture else None
        validation, attack = config.validation, config.attack
        val_attack = None
        if train.method != "natural" and validation.attack_steps > 0:
            val_attack = validation_attack(self.model, attack, validation.attack_steps)
        self.validator = Validator(
            self.model, validation.batch_size, val_attack, self.ctx, self.speed.channels_last, self.speed.capture
        )
        self.run_id: str | None = None  # set when the run directory is opened or resumed
        self.epoch = 0  # completed epochs
        self.step = 0  # completed steps of the current epoch
        self.best = Best()
        self.sums = RunningSums.zeros(len(self.model) if self.learn_weights else 0, self.device)
        self.metrics: list[dict[str, Any]] = []
        self.last_saved: tuple[int, int] | None = None
        """(epoch, step) of the run's ``last`` checkpoint, once there is one."""

    # ----------------------------------------------------------------- setup
    def _wrap_for_training(self, model: nn.Module) -> nn.Module:
        """The module the training forward goes through (DDP, sync BN, compile)."""
        forward = _MemberLogits(model) if self.learn_weights else model
        if self.ctx.enabled:
            if self.config.train.sync_batchnorm:
                if self.device.type != "cuda":
                    raise ConfigError("train.sync_batchnorm needs CUDA devices (PyTorch's SyncBatchNorm is GPU-only)")
                forward = nn.SyncBatchNorm.convert_sync_batchnorm(forward)
            ids = [self.device.index] if self.device.type == "cuda" else None
            forward = nn.parallel.DistributedDataParallel(forward, device_ids=ids)
        if self.speed.compile:
            forward = torch.compile(forward)
        return forward

    def _autocast(self):
        # the cast cache must be off while a CUDA graph records (cached casts would outlive it)
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.speed.bf16, cache_enabled=not self.speed.capture
        )

    # ------------------------------------------------------------ checkpoint
    def _checkpoint_meta(self) -> dict[str, Any]:
        return CheckpointMeta(self.model.spec, self.config, self.train_set.num_classes, self.epoch,
                              self.run_id).to_dict()

    def _save_last(self) -> None:
        self._check_finite()
        rng = rng_tensors(self.ctx, self.device)  # collective: every rank takes part
        self.last_saved = (self.epoch, self.step)
        if not self.ctx.is_main:
            return
        tensors = model_tensors(self.model) | optimizer_tensors(self.model, self.optimizer) | rng
        tensors["train/weight_grad"] = self.sums.weight_grad
        state = TrainingState(self.epoch, self.step, self.best, self.sums.read().saved(), self.ctx.world_size,
                              self.config.to_dict())
        save_checkpoint(self.run.last, tensors, self._checkpoint_meta() | {"train_state": state.to_dict()})

    def _resume(self) -> None:
        self.run.check_start(self.config, resume=True)
        tensors, meta = read_checkpoint(self.run.last)
        state = TrainingState.from_checkpoint(self.run.last, meta, tensors, self.sums.weight_grad)
        own = self.run.run_id()
        self.run.check_own(own, self.run.last, meta.get("run_id"))
        self.run_id = own or meta.get("run_id") or new_run_id()  # a run of an older version gets an id now
        if self.run.best.exists():
            self.run.check_own(self.run_id, self.run.best, read_metadata(self.run.best).get("run_id"))
        rows = self.run.read_metrics()
        for row in rows:
            self.run.check_own(self.run_id, self.run.metrics_file, row.get("run_id"))
        epochs = self.config.train.epochs
        if not self.config.extends(state.config):
            raise ConfigError(
                f"the config differs from the one {self.run.path} was started with (only train.epochs may change "
                f"on resume); resume with the same config (see {self.run.path / 'config.toml'}) or start a new run"
            )
        if epochs < state.epoch:
            raise ConfigError(f"{self.run.path} has finished {state.epoch} epochs: train.epochs = {epochs} is fewer")
        if state.world_size != self.ctx.world_size:
            raise ConfigError(
                f"{self.run.path} was trained with {state.world_size} processes; resume it with the same number"
            )
        load_state_into(self.model, tensors, str(self.run.last))
        load_optimizer_tensors(self.model, self.optimizer, tensors)
        restore_rng(tensors, self.ctx, self.device)
        self.epoch, self.step, self.best = state.epoch, state.step, state.best
        self.last_saved = (self.epoch, self.step)
        for key, value in state.sums.items():
            getattr(self.sums, key).fill_(value)
        self.sums.weight_grad.copy_(tensors["train/weight_grad"])
        self.metrics = [row for row in rows if row["epoch"] <= self.epoch]

    # ----------------------------------------------------------------- steps
    def _set_lr(self) -> float:
        train = self.config.train
        lr = learning_rate(train.lr, self.epoch, train.milestones, train.gamma)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One training step on the batch ``(x, y)``: attack, loss, SGD update, running sums.

        Returns the batch loss as a 0-dim tensor on the device (nothing is read
        back: reading it is the caller's choice). With capture on, full batches
        replay a recorded CUDA graph; a batch of another size runs eagerly.
        """
        self.model.train()
        if self.speed.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.graphed_step is not None and len(y) == self.batch_size:
            return self.graphed_step(x, y, key=self.optimizer.param_groups[0]["lr"])
        return self._step(x, y)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The step itself, free of host synchronisation (so that it can be recorded in a CUDA graph)."""
        with self._autocast():
            x_in = self.objective.examples(x, y)
        with self._autocast():
            loss, logits, members = self.objective.loss(self._logits, x, x_in, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        loss = loss.detach()
        sums = self.sums
        if members is not None:
            sums.weight_grad += weight_gradient(members, self.model.weights, y).double()
        finite = torch.isfinite(loss)
        sums.nonfinite += (~finite).double()
        sums.first_nonfinite += (~finite & (sums.nonfinite == 1)).double() * sums.steps
        sums.steps += 1
        sums.loss += torch.where(finite, loss, 0.0).double() * len(y)
        sums.correct += (logits.argmax(1) == y).sum().double()
        sums.count += len(y)
        return loss

    def _logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The training forward: (logits, every member's logits for a learned-weight ensemble, else None)."""
        out = self.forward(x)
        if self.learn_weights:
            return self.model.combine(out), out
        return out, None

    def _check_finite(self, weights: bool = True) -> None:
        """Stop the run if a loss was non-finite (or, with ``weights``, a weight or BatchNorm statistic is).

        Called before every checkpoint, so that nothing non-finite is ever kept.
        """
        self._check_loss(self.sums.read())
        if weights:
            self._check_weights()

    def _check_loss(self, sums: Totals) -> None:
        """Stop the run if the read-back sums count a non-finite loss, naming where it first appeared."""
        if sums.nonfinite:
            first = self.step - int(sums.steps) + int(sums.first_nonfinite) + 1
            raise TrainingDivergedError(self._divergence_message(f"the loss became non-finite at epoch "
                                                                 f"{self.epoch + 1}, step {first}"))

    def _check_weights(self) -> None:
        """Stop the run if a weight or BatchNorm statistic is non-finite (a finite loss can hide it)."""
        bad = [k for k, v in self.model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            when = f"epoch {self.epoch + 1}, step {self.step}" if self.step else f"the end of epoch {self.epoch}"
            raise TrainingDivergedError(self._divergence_message(
                f"{len(bad)} weight or BatchNorm tensors (e.g. {bad[0]}) became non-finite by {when}"))

    def _divergence_message(self, where: str) -> str:
        where += "; the run stopped"
        if self.last_saved is None:
            return f"{where} before its first checkpoint. Lower train.lr or check the data and start again"
        epoch, step = self.last_saved
        return (
            f"{where} and the last good checkpoint {self.run.last} (epoch {epoch}, step {step}) "
            f"is kept. Lower train.lr or check the data, then start a new run (or --resume from it)"
        )

    # ----------------------------------------------------------------- epoch
    def _validate(self) -> tuple[float, float | None]:
        with self._autocast():
            return self.validator(self.val_set, seed=generator_seed(self.config.train.seed * 1000 + self.epoch))

    def _finish_epoch(self, lr: float, seconds: float) -> None:
        self._check_finite()
        sums = self.sums.all_reduced(self.ctx)
        count = sums.count.item()
        if self.learn_weights:
            update_weights(self.model, sums.weight_grad, int(count), self.config.train.ensemble_weight_lr or lr)
        self.epoch += 1
        self.step = 0
        self.sums.zero_()
        nat = rob = None
        epochs, every = self.config.train.epochs, self.config.validation.every
        if len(self.val_set) and (self.epoch % every == 0 or self.epoch == epochs):
            nat, rob = self._validate()
        row: dict[str, Any] = {
            "epoch": self.epoch,
            "train_loss": sums.loss.item() / max(count, 1),
            "train_acc": sums.correct.item() / max(count, 1),
            "val_nat_acc": nat,
            "val_rob_acc": rob,
            "lr": lr,
            "seconds": seconds,
            "run_id": self.run_id,
        } | ({"ensemble_weights": self.model.weights.tolist()} if self.learn_weights else {})
        if nat is not None:
            metric = rob if self.select == "robust" and rob is not None else nat
            if metric > self.best.metric:
                self.best = Best(metric, self.epoch)
                self._check_weights()  # the ensemble-weight update above may have diverged
                if self.ctx.is_main:
                    save_checkpoint(self.run.best, model_tensors(self.model), self._checkpoint_meta() | {
                        "metrics": row})
        self.metrics.append(row)
        if self.ctx.is_main:
            self.run.write_metrics(self.metrics)
        self._save_last()
        if self.ctx.is_main:  # one line per epoch, also in quiet mode
            shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
                     if v is not None and k != "run_id"}
            tqdm.write(" ".join(f"{k}={v}" for k, v in shown.items()))

    def _open_run(self) -> None:
        """Start writing the run directory (main process, lock held), refusing one that holds anything else; a
        run started again over what it left before its first ``last`` checkpoint keeps its id."""
        if not self.ctx.is_main:
            return
        if self.resume:
            if self.run.run_id() is None:
                self.run.write_identity(self.run_id)
            self.run.write_metrics(self.metrics)
            return
        self.run.check_start(self.config, resume=False)  # again, now that the lock is held
        self.run.write_config(self.config)  # first: a directory holding only its config may start again
        self.run_id = self.run.run_id()
        if self.run_id is None:
            self.run_id = new_run_id()
            self.run.write_identity(self.run_id)

    def fit(self) -> list[dict[str, Any]]:
        """Train to ``train.epochs``; returns the per-epoch metrics.

        The main process holds the run directory's lock throughout (the run's one lock: nested in a caller's
        lock of the same directory, such as the command line's, it is that lock), from before the checkpoint
        to resume is read.
        """
        if self.run is None:
            raise ConfigError("Trainer.fit needs a run directory: Trainer(config, run_dir)")
        if not self.ctx.is_main:  # torchrun's other ranks write nothing
            return self._fit()
        with run_lock(self.run.path, purpose="train"):
            return self._fit()

    def _fit(self) -> list[dict[str, Any]]:
        if self.resume:
            self._resume()
        self._open_run()
        train, data = self.config.train, self.config.data
        steps = num_batches(len(self.train_set), train.batch_size, drop_last=False)
        while self.epoch < train.epochs:
            lr = self._set_lr()
            start = time.perf_counter()
            batches = iterate_batches(
                self.train_set,
                train.batch_size,
                shuffle=True,
                augment=data.augment,
                padding=data.padding,
                flip=data.flip,
                seed=train.seed,
                epoch=self.epoch,
                start_step=self.step,
            )
            bar = tqdm(
                batches,
                total=steps,
                initial=self.step,
                desc=f"epoch {self.epoch + 1}/{train.epochs}",
                disable=self.quiet or not self.ctx.is_main,
                leave=False,
                dynamic_ncols=True,
            )
            shown = time.monotonic()
            for x, y in bar:
                shard = self.ctx.shard(len(y))
                self.train_step(x[shard], y[shard])
                self.step += 1
                if not bar.disable and time.monotonic() - shown > PROGRESS_SECONDS:
                    self._show_progress(bar)
                    shown = time.monotonic()
                if train.checkpoint_every and self.step % train.checkpoint_every == 0 and self.step < steps:
                    self._save_last()
            bar.close()
            self._finish_epoch(lr, time.perf_counter() - start)
        return self.metrics

    def _show_progress(self, bar: tqdm) -> None:
        """Running loss and accuracy on the bar (one read from the device); stops a diverged run."""
        sums = self.sums.read()
        self._check_loss(sums)
        count = max(sums.count, 1)
        bar.set_postfix(loss=f"{sums.loss / count:.3f}", acc=f"{sums.correct / count:.3f}")


class _MemberLogits(nn.Module):
    """Training forward of a learned-weight ensemble: the stacked member logits."""

    def __init__(self, ensemble: EnsembleModel) -> None:
        super().__init__()
        self.ensemble = ensemble

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ensemble.member_logits(x)


def train(config: Config, run_dir: str | Path, *, resume: bool = False, quiet: bool = False):
    """Train from a validated config; returns the per-epoch metrics (:meth:`Trainer.fit`, which locks ``run_dir``)."""
    trainer = Trainer(config, run_dir, resume=resume, quiet=quiet)
    try:
        return trainer.fit()
    finally:
        trainer.ctx.close()


__all__ = ["Trainer", "load_training_data", "train"]
