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
(:mod:`enresnet.locking`) while a run writes it, and a new run refuses a
directory that is not empty.

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

import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..checkpoint import load_state_into, model_tensors, read_checkpoint, read_metadata, save_checkpoint
from ..config import to_toml
from ..data import ImageDataset, generator_seed, iterate_batches, load_dataset, num_batches, train_val_split
from ..device import resolve_device
from ..errors import CheckpointError, ConfigError, TrainingDivergedError
from ..locking import run_lock
from ..models import Ensemble, create_model
from .capture import GraphedFunction
from .distributed import DistContext
from .ensemble_weights import update_weights, weight_gradient
from .objectives import pgd_examples, trades_examples, trades_loss
from .run_dir import RunDir, new_run_id
from .schedule import learning_rate
from .speed import resolve_speed_options
from .state import load_optimizer_tensors, optimizer_tensors, restore_rng, rng_tensors
from .validation import Validator

PROGRESS_SECONDS = 1.0
"""How often the progress bar reads the running sums back from the device."""

TRAIN_STATE = {"epoch": int, "step": int, "best": dict, "sums": dict, "world_size": int, "config": dict}
"""The training state a ``last`` checkpoint's metadata holds, with its types."""


def load_training_data(config: dict[str, Any]) -> tuple[ImageDataset, ImageDataset]:
    """The training and validation splits named by the config's [data] section."""
    data = config["data"]
    options = dict(data["options"])
    if data["name"] != "synthetic":
        options["download"] = data["download"]
    full = load_dataset(data["name"], data["data_dir"], train=True, **options)
    if data["train_limit"]:
        full = full.subset(torch.arange(min(data["train_limit"], len(full))))
    if data["val_size"] >= len(full):
        raise ConfigError(f"data.val_size ({data['val_size']}) must be smaller than the {len(full)} training images")
    return train_val_split(full, data["val_size"], seed=data["split_seed"])


class Trainer:
    """Train the model a validated config describes; ``run_dir`` is written from :meth:`fit` on.

    :meth:`train_step` is the public step (one batch: attack, loss, update),
    used by :meth:`fit` and by the benchmarks.
    """

    def __init__(
        self, config: dict[str, Any], run_dir: str | Path | None = None, *, resume: bool = False, quiet: bool = False
    ):
        self.config = config
        self.train_cfg = config["train"]
        self.run = RunDir(run_dir) if run_dir is not None else None
        self.quiet = quiet
        self.device = resolve_device(self.train_cfg["device"], "train.device")
        self.ctx = DistContext.from_env(self.device.type)
        if self.ctx.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.ctx.local_rank)
            torch.cuda.set_device(self.device)
        self.speed = resolve_speed_options(self.train_cfg, self.device, self.ctx.enabled)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest convolution kernels once
        self.method = self.train_cfg["method"]
        select = self.train_cfg["select"]
        self.select = ("natural" if self.method == "natural" else "robust") if select == "auto" else select

        torch.manual_seed(generator_seed(self.train_cfg["seed"] + self.ctx.rank))
        self.train_set, self.val_set = load_training_data(config)
        if config["validation"]["limit"]:
            self.val_set = self.val_set.subset(torch.arange(min(config["validation"]["limit"], len(self.val_set))))
        self.train_set = self.train_set.to(self.device)
        self.val_set = self.val_set.to(self.device)
        model_cfg = {k: v for k, v in config["model"].items() if v is not None}
        name = model_cfg.pop("name")
        self.model = create_model(
            name, num_classes=self.train_set.num_classes, in_channels=self.train_set.image_shape[0], **model_cfg
        ).to(self.device)
        if self.speed.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.learn_weights = isinstance(self.model, Ensemble) and self.model.learn_weights
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=self.train_cfg["lr"],
            momentum=self.train_cfg["momentum"],
            nesterov=self.train_cfg["nesterov"],
            weight_decay=self.train_cfg["weight_decay"],
        )
        self.forward = self._wrap_for_training(self.model)
        self.graphed_step = GraphedFunction(self._step) if self.speed.capture else None
        val_cfg = config["validation"]
        val_attack = None
        if self.method != "natural" and val_cfg["attack_steps"] > 0:
            val_attack = dict(config["attack"], steps=val_cfg["attack_steps"])
        self.validator = Validator(
            self.model, val_cfg["batch_size"], val_attack, self.ctx, self.speed.channels_last, self.speed.capture
        )
        self.run_id: str | None = None  # set when the run directory is opened or resumed
        self.epoch = 0  # completed epochs
        self.step = 0  # completed steps of the current epoch
        self.best = {"metric": -math.inf, "epoch": 0}
        self.sums = self._zero_sums()
        self.metrics: list[dict[str, Any]] = []
        if resume:
            self._resume()

    # ----------------------------------------------------------------- setup
    def _wrap_for_training(self, model: nn.Module) -> nn.Module:
        """The module the training forward goes through (DDP, sync BN, compile)."""
        forward = _MemberLogits(model) if self.learn_weights else model
        if self.ctx.enabled:
            if self.train_cfg["sync_batchnorm"]:
                if self.device.type != "cuda":
                    raise ConfigError("train.sync_batchnorm needs CUDA devices (PyTorch's SyncBatchNorm is GPU-only)")
                forward = nn.SyncBatchNorm.convert_sync_batchnorm(forward)
            ids = [self.device.index] if self.device.type == "cuda" else None
            forward = nn.parallel.DistributedDataParallel(forward, device_ids=ids)
        if self.speed.compile:
            forward = torch.compile(forward)
        return forward

    def _zero_sums(self) -> dict[str, torch.Tensor]:
        """The epoch's running sums, on the device (a captured step adds to these very tensors)."""
        members = len(self.model) if self.learn_weights else 0
        sums = {key: torch.zeros((), dtype=torch.float64, device=self.device) for key in SUM_KEYS}
        sums["weight_grad"] = torch.zeros(members, dtype=torch.float64, device=self.device)
        return sums

    def _clear_sums(self) -> None:
        for value in self.sums.values():
            value.zero_()

    def _read_sums(self) -> dict[str, float]:
        """The scalar sums, read back from the device (one synchronisation)."""
        values = torch.stack([self.sums[k] for k in SUM_KEYS]).tolist()
        return dict(zip(SUM_KEYS, values))

    def _autocast(self):
        # the cast cache must be off while a CUDA graph records (cached casts would outlive it)
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.speed.bf16, cache_enabled=not self.speed.capture
        )

    # ------------------------------------------------------------ checkpoint
    def _checkpoint_meta(self) -> dict[str, Any]:
        data, attack = self.config["data"], self.config["attack"]
        meta = {
            "model": self.model.spec,
            "dataset": {
                "name": data["name"],
                "data_dir": data["data_dir"],
                "options": data["options"],
                "num_classes": self.train_set.num_classes,
            },
            "method": self.method,
            "epoch": self.epoch,
            "run_id": self.run_id,
        }
        if self.method != "natural":  # a naturally trained model has no attack budget (evaluate.budget)
            meta["attack"] = {"eps": attack["eps"], "alpha": attack["alpha"], "steps": attack["steps"]}
        return meta

    def _save_last(self) -> None:
        self._check_finite()
        rng = rng_tensors(self.ctx, self.device)  # collective: every rank takes part
        if not self.ctx.is_main:
            return
        tensors = model_tensors(self.model) | optimizer_tensors(self.model, self.optimizer) | rng
        tensors["train/weight_grad"] = self.sums["weight_grad"]
        meta = self._checkpoint_meta()
        meta["train_state"] = {
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "sums": {k: v for k, v in self._read_sums().items() if k in SAVED_SUMS},
            "world_size": self.ctx.world_size,
            "config": self.config,
        }
        save_checkpoint(self.run.last, tensors, meta)

    def _resume(self) -> None:
        if self.run is None:
            raise ConfigError("resume needs the run directory to resume from")
        self.run.check_start(self.config, resume=True)
        tensors, meta = read_checkpoint(self.run.last)
        state = self._training_state(meta, tensors)
        own = self.run.run_id()
        self.run.check_own(own, self.run.last, meta.get("run_id"))
        self.run_id = own or meta.get("run_id") or new_run_id()  # a run of an older version gets an id now
        if self.run.best.exists():
            self.run.check_own(self.run_id, self.run.best, read_metadata(self.run.best).get("run_id"))
        rows = self.run.read_metrics()
        for row in rows:
            self.run.check_own(self.run_id, self.run.metrics_file, row.get("run_id"))
        saved, epochs = state["config"], self.train_cfg["epochs"]  # only train.epochs may change: extend a run
        if to_toml({**saved, "train": {**saved["train"], "epochs": epochs}}) != to_toml(self.config):
            raise ConfigError(
                f"the config differs from the one {self.run.path} was started with (only train.epochs may change "
                f"on resume); resume with the same config (see {self.run.path / 'config.toml'}) or start a new run"
            )
        if epochs < state["epoch"]:
            raise ConfigError(f"{self.run.path} has finished {state['epoch']} epochs: train.epochs = {epochs} is fewer")
        if state["world_size"] != self.ctx.world_size:
            raise ConfigError(
                f"{self.run.path} was trained with {state['world_size']} processes; resume it with the same number"
            )
        load_state_into(self.model, tensors, str(self.run.last))
        load_optimizer_tensors(self.model, self.optimizer, tensors)
        restore_rng(tensors, self.ctx, self.device)
        self.epoch, self.step, self.best = state["epoch"], state["step"], state["best"]
        for key, value in state["sums"].items():
            self.sums[key].fill_(value)
        self.sums["weight_grad"].copy_(tensors["train/weight_grad"])
        self.metrics = [row for row in rows if row["epoch"] <= self.epoch]

    def _training_state(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The training state of the ``last`` checkpoint, refused when any part of it is missing or malformed."""
        state = meta.get("train_state")
        if not isinstance(state, dict):
            raise CheckpointError(f"{self.run.last} holds no training state; it cannot be resumed")
        bad = [key for key, kind in TRAIN_STATE.items() if not isinstance(state.get(key), kind)]
        sums, best, config = state.get("sums"), state.get("best"), state.get("config")
        if isinstance(sums, dict) and not (set(sums) <= set(SAVED_SUMS) and all(
                isinstance(v, (int, float)) for v in sums.values())):
            bad.append("sums")
        if isinstance(best, dict) and set(best) != {"metric", "epoch"}:
            bad.append("best")
        if isinstance(config, dict) and not isinstance(config.get("train"), dict):
            bad.append("config")
        weight_grad = tensors.get("train/weight_grad")
        if weight_grad is None or weight_grad.shape != self.sums["weight_grad"].shape:
            bad.append("train/weight_grad")
        if bad:
            raise CheckpointError(
                f"{self.run.last} lacks a valid {', '.join(bad)} in its training state (it was edited or not written "
                f"by `enresnet train`); it cannot be resumed: restore the run's own last.safetensors or start a new run"
            )
        return state

    # ----------------------------------------------------------------- steps
    def _set_lr(self) -> float:
        lr = learning_rate(self.train_cfg["lr"], self.epoch, self.train_cfg["milestones"], self.train_cfg["gamma"])
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _training_input(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.method == "pgd":
            with self._autocast():
                return pgd_examples(self.model, x, y, self.config["attack"], self.train_cfg["attack_bn_mode"])
        if self.method == "trades":
            with self._autocast():
                return trades_examples(self.model, x, self.config["attack"], self.train_cfg["attack_bn_mode"])
        return x

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One training step on the batch ``(x, y)``: attack, loss, SGD update, running sums.

        Returns the batch loss as a 0-dim tensor on the device (nothing is read
        back: reading it is the caller's choice). With capture on, full batches
        replay a recorded CUDA graph; a batch of another size runs eagerly.
        """
        self.model.train()
        if self.speed.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.graphed_step is not None and len(y) == self.train_cfg["batch_size"] // self.ctx.world_size:
            return self.graphed_step(x, y, key=self.optimizer.param_groups[0]["lr"])
        return self._step(x, y)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The step itself, free of host synchronisation (so that it can be recorded in a CUDA graph)."""
        x_in = self._training_input(x, y)
        with self._autocast():
            if self.method == "trades":
                out = self.forward(torch.cat([x, x_in]))
                logits, members = self._split_output(out)
                logits_nat, logits_adv = logits.float().chunk(2)
                loss = trades_loss(logits_nat, logits_adv, y, self.train_cfg["trades_beta"])
                logits, members = logits_nat, (members[:, : len(y)] if members is not None else None)
            else:
                logits, members = self._split_output(self.forward(x_in))
                logits = logits.float()
                loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        loss = loss.detach()
        if members is not None:
            self.sums["weight_grad"] += weight_gradient(members, self.model.weights, y).double()
        finite = torch.isfinite(loss)
        self.sums["nonfinite"] += (~finite).double()
        self.sums["first_nonfinite"] += (~finite & (self.sums["nonfinite"] == 1)).double() * self.sums["steps"]
        self.sums["steps"] += 1
        self.sums["loss"] += torch.where(finite, loss, 0.0).double() * len(y)
        self.sums["correct"] += (logits.argmax(1) == y).sum().double()
        self.sums["count"] += len(y)
        return loss

    def _check_finite(self, weights: bool = True) -> None:
        """Stop the run if a loss was non-finite (or, with ``weights``, a weight or BatchNorm statistic is).

        Called before every checkpoint, so that nothing non-finite is ever kept.
        """
        self._check_loss(self._read_sums())
        if weights:
            self._check_weights()

    def _check_loss(self, sums: dict[str, float]) -> None:
        """Stop the run if the read-back sums count a non-finite loss, naming where it first appeared."""
        if sums["nonfinite"]:
            first = self.step - int(sums["steps"]) + int(sums["first_nonfinite"]) + 1
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
        if self.run is None or not self.run.last.exists():
            return f"{where} before its first checkpoint. Lower train.lr or check the data and start again"
        kept = read_metadata(self.run.last)["train_state"]
        return (
            f"{where} and the last good checkpoint {self.run.last} (epoch {kept['epoch']}, step {kept['step']}) "
            f"is kept. Lower train.lr or check the data, then start a new run (or --resume from it)"
        )

    def _split_output(self, out):
        if self.learn_weights:
            return self.model.combine(out), out
        return out, None

    # ----------------------------------------------------------------- epoch
    def _validate(self) -> tuple[float, float | None]:
        with self._autocast():
            return self.validator(self.val_set, seed=generator_seed(self.train_cfg["seed"] * 1000 + self.epoch))

    def _finish_epoch(self, lr: float, seconds: float) -> None:
        self._check_finite()
        sums = {k: self.ctx.all_reduce_sum(v.clone()) for k, v in self.sums.items()}
        if self.learn_weights:
            weight_lr = self.train_cfg["ensemble_weight_lr"] or lr
            update_weights(self.model, sums["weight_grad"], int(sums["count"].item()), weight_lr)
        self.epoch += 1
        self.step = 0
        self._clear_sums()
        row: dict[str, Any] = {
            "epoch": self.epoch,
            "train_loss": sums["loss"].item() / max(sums["count"].item(), 1),
            "train_acc": sums["correct"].item() / max(sums["count"].item(), 1),
            "val_nat_acc": None,
            "val_rob_acc": None,
            "lr": lr,
            "seconds": seconds,
            "run_id": self.run_id,
        }
        if self.learn_weights:
            row["ensemble_weights"] = self.model.weights.tolist()
        validate_now = self.epoch % self.config["validation"]["every"] == 0 or self.epoch == self.train_cfg["epochs"]
        if len(self.val_set) and validate_now:
            row["val_nat_acc"], row["val_rob_acc"] = self._validate()
            metric = row["val_rob_acc"] if self.select == "robust" and row["val_rob_acc"] is not None else row[
                "val_nat_acc"]
            if metric > self.best["metric"]:
                self.best = {"metric": metric, "epoch": self.epoch}
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

    def _open_run(self, resumed: bool) -> None:
        """Start writing the run directory (main process, lock held), refusing one that holds anything else; a
        run started again over what it left before its first ``last`` checkpoint keeps its id."""
        if not self.ctx.is_main:
            return
        if resumed:
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
        """Train to ``train.epochs`` holding the run directory's lock; returns the per-epoch metrics."""
        if self.run is None:
            raise ConfigError("Trainer.fit needs a run directory: Trainer(config, run_dir)")
        if not self.ctx.is_main:
            return self._fit()
        with run_lock(self.run.path, purpose="train"):
            return self._fit()

    def _fit(self) -> list[dict[str, Any]]:
        self._open_run(resumed=self.epoch > 0 or self.step > 0 or bool(self.metrics))
        cfg = self.train_cfg
        steps = num_batches(len(self.train_set), cfg["batch_size"], drop_last=False)
        while self.epoch < cfg["epochs"]:
            lr = self._set_lr()
            start = time.perf_counter()
            batches = iterate_batches(
                self.train_set,
                cfg["batch_size"],
                shuffle=True,
                augment=self.config["data"]["augment"],
                padding=self.config["data"]["padding"],
                flip=self.config["data"]["flip"],
                seed=cfg["seed"],
                epoch=self.epoch,
                start_step=self.step,
            )
            bar = tqdm(
                batches,
                total=steps,
                initial=self.step,
                desc=f"epoch {self.epoch + 1}/{cfg['epochs']}",
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
                if cfg["checkpoint_every"] and self.step % cfg["checkpoint_every"] == 0 and self.step < steps:
                    self._save_last()
            bar.close()
            self._finish_epoch(lr, time.perf_counter() - start)
        return self.metrics

    def _show_progress(self, bar: tqdm) -> None:
        """Running loss and accuracy on the bar (one read from the device); stops a diverged run."""
        sums = self._read_sums()
        self._check_loss(sums)
        count = max(sums["count"], 1)
        bar.set_postfix(loss=f"{sums['loss'] / count:.3f}", acc=f"{sums['correct'] / count:.3f}")

class _MemberLogits(nn.Module):
    """Training forward of a learned-weight ensemble: the stacked member logits."""

    def __init__(self, ensemble: Ensemble) -> None:
        super().__init__()
        self.ensemble = ensemble

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ensemble.member_logits(x)


SUM_KEYS = ("loss", "correct", "count", "nonfinite", "first_nonfinite", "steps")
"""The scalar running sums of an epoch (besides the per-member ``weight_grad``)."""
SAVED_SUMS = ("loss", "correct", "count")
"""The running sums a ``last`` checkpoint keeps."""


def train(config: dict[str, Any], run_dir: str | Path, *, resume: bool = False, quiet: bool = False):
    """Train from a validated config; returns the per-epoch metrics.

    The main process locks ``run_dir`` before anything else (before loading data or a checkpoint to resume),
    so that a second run on the same directory fails at once.
    """
    if os.environ.get("RANK", "0") != "0":  # torchrun's other ranks write nothing
        return _train(config, run_dir, resume, quiet)
    with run_lock(run_dir, purpose="train"):
        return _train(config, run_dir, resume, quiet)


def _train(config: dict[str, Any], run_dir: str | Path, resume: bool, quiet: bool):
    trainer = Trainer(config, run_dir, resume=resume, quiet=quiet)
    try:
        return trainer.fit()
    finally:
        trainer.ctx.close()


__all__ = ["Trainer", "load_training_data", "train"]
