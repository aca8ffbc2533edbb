"""One evaluation plan, one runner: what every evaluation of the project is (docs/evaluation.md).

An :class:`EvaluationPlan` decides the attacks (built by
:func:`~enresnet.evaluate.protocol.build_attack`, AutoAttack included), the
budget (:mod:`.budget`, resolved once), the EOT draws and prediction repeats,
the image limits of each part, the sanity suite's size, and the table's notes.
:func:`make_plan` builds one from plain arguments, checking each of them;
:func:`run_plan` runs it on a model and a dataset: white-box, or blind when an
``oracle`` makes the adversarial images (paper Sec. 3.2, Tables 3 and 6).

Every entry point goes through these two functions: ``evaluate_model``,
``enresnet evaluate`` and ``transfer``, ``reproduce``, the figures (accuracy
against eps, Fig. 6's attacks) and the attack of training validation (built by
the plan's factory), so what a user publishes does not depend on how the
evaluation was called.

Randomness is measured (:func:`~enresnet.models.randomness.measure_randomness`)
on the first images of the data: a model whose eval-mode outputs differ between
passes is stochastic (EOT gradients, ``repeats`` predictions, the worst case
over them), whatever it is built from.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import ImageDataset, dataset_name, to_float
from ..data.dataset import DatasetError
from ..device import native_bf16
from ..errors import ConfigError
from ..models.randomness import Randomness, measure_randomness
from .accuracy import AccuracyStats
from .budget import Budget, resolve_budget
from .inputs import model_label
from .protocol import (
    DEFAULT_ATTACKS,
    AttackSettings,
    build_attack,
    display_name,
    forward_backward_passes,
    parse_attacks,
)
from .runner import CLEAN, RunSettings, run_evaluation
from .sanity import Check, SanitySettings, SanitySuite
from .tables import Row, markdown

MAX_SANITY_IMAGES = 200
"""The automatic sanity size never exceeds this: enough for every check to be conclusive on a noisy model."""
MAX_DRAWS = 1000
"""Bound on EOT draws, repeats and re-check draws (no evaluation runs unbounded)."""


@dataclass(frozen=True)
class EvaluationPlan:
    """Everything that decides an evaluation's numbers and notes (module doc). Build with :func:`make_plan`."""

    dataset: str
    budget: Budget
    attacks: tuple[str, ...]
    settings: AttackSettings
    run: RunSettings
    limits: tuple[tuple[str, int], ...] = ()
    """(attack name, k): that attack runs on the first k images only (the headline takes the images all saw)."""
    sanity_size: int | None = None
    """Images for the sanity suite; None: as many as cost no more than the attacks (<= 200); 0: none."""
    sanity_steps: int = 10
    sanity_eot: tuple[int, ...] = (1, 5, 20)
    stochastic: bool | None = None
    """What the caller declares; None: measured. A declared-deterministic model that varies is stochastic."""
    channels_last: bool = True
    """Run the models in NHWC layout during the evaluation (oneDNN's and cuDNN's faster convolutions, the
    training default too; the same function, fp rounding aside); restored afterwards."""

    def limit(self, name: str, n: int) -> int:
        """Images attack ``name`` runs on, of ``n``."""
        return min(n, dict(self.limits).get(name, n))

    def attack_passes(self, n: int, stochastic: bool) -> int:
        """Forward-backward passes the attacks take on ``n`` images (an estimate, for the sanity budget)."""
        return sum(forward_backward_passes(a, self.settings, stochastic) * self.limit(a, n) for a in self.attacks)

    def sanity_settings(self) -> SanitySettings:
        return SanitySettings(steps=self.sanity_steps, eot_samples=self.sanity_eot, seed=self.run.seed,
                              batch_size=self.run.batch_size, repeats=self.run.repeats)

    def sanity_images(self, n: int, stochastic: bool, surrogate: bool) -> int:
        """The sanity suite's images: the given size, or the most whose cost stays within the attacks'."""
        if self.sanity_size is not None:
            return min(self.sanity_size, n)
        per_image = SanitySuite.passes_per_image(self.sanity_settings(), self.settings, stochastic, surrogate)
        return min(n, MAX_SANITY_IMAGES, self.attack_passes(n, stochastic) // per_image)

    def notes(self, n: int, randomness: Randomness, sanity_images: int,
              oracle: tuple[str, Randomness] | None = None, label: str = "The model") -> list[str]:
        """The table's notes, generated from the plan and what was measured (never written at an entry point);
        what differs between the models of a table (randomness, sanity size) is named by their ``label``."""
        s, r = self.settings, self.run
        notes = [f"{n} {self.dataset} images; {self.budget.note}."]
        notes += [f"{display_name(a)} on the first {self.limit(a, n)} images." for a, _ in self.limits
                  if a in self.attacks and self.limit(a, n) < n]
        if randomness.stochastic:
            notes.append(f"{label} is stochastic ({randomness.note}): each image predicted "
                         f"{_count_of(r.repeats, 'time')}, mean ± std over the draws (worst: right in all draws)"
                         + (f"; attack gradients averaged over {_count_of(s.eot, 'draw')} (EOT)." if oracle is None
                            else "."))
        else:
            notes.append(f"{label} is deterministic ({randomness.note}): one prediction per image"
                         + ("; no EOT." if oracle is None else "."))
        if oracle is not None:
            oracle_name, source = oracle
            notes.append(f"Adversarial images made white-box on the oracle {oracle_name} ("
                         + (f"stochastic: EOT over {_count_of(s.eot, 'draw')}" if source.stochastic
                            else "deterministic")
                         + "), classified by the model (blind attack).")
        if any(a.startswith("apgd") for a in self.attacks):
            notes.append(f"APGD-CE/APGD-DLR: Auto-PGD (Croce & Hein 2020) from AutoAttack's random start, "
                         f"EOT {s.eot} on a stochastic source (AutoAttack 'rand' uses 20).")
        if "autoattack" in self.attacks:
            strength = "full strength" if s.autoattack_full else "REDUCED from AutoAttack's 100 / 20 / 5000"
            notes.append(f"AutoAttack: 'rand' (APGD-CE, APGD-DLR, EOT {s.autoattack_eot}, each candidate judged by "
                         f"{s.check_draws} predictions) for a stochastic model, 'standard' otherwise; "
                         f"{s.autoattack_iterations} iterations, Square {s.autoattack_queries} queries ({strength}).")
        notes.append("Attack gradients from bf16 forward passes, every prediction in fp32." if s.bf16
                     else "Attacks and predictions in fp32.")
        if oracle is None:
            notes.append(f"Sanity checks of {label} on the first {sanity_images} images." if sanity_images
                         else f"Sanity checks of {label} skipped.")
        return notes

    def as_dict(self) -> dict[str, Any]:
        """The plan's parameters as a table stores them (an earlier table with other ones is refused)."""
        s = self.settings
        return {"attacks": list(self.attacks), "eps": s.eps, "alpha": s.alpha, "eot": s.eot,
                "repeats": self.run.repeats, "bf16": s.bf16, "limits": dict(self.limits),
                "autoattack": [s.autoattack_iterations, s.autoattack_eot, s.autoattack_queries]}


def _count_of(n: int, noun: str) -> str:
    """``1 draw``, ``5 draws``."""
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _check(name: str, ok: bool, allowed: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")


def _count(name: str, value: Any, low: int = 1, high: int = MAX_DRAWS) -> int:
    _check(name, isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
           f"an integer in [{low}, {high}]", value)
    return value


def plan_dataset(dataset: str | None, model: nn.Module | None) -> str:
    """The canonical dataset of an evaluation: the given name, else the model's checkpoint's."""
    if dataset is None:
        recorded = (getattr(model, "checkpoint_meta", None) or {}).get("dataset") or {}
        dataset = recorded.get("name")
        if dataset is None:
            raise ConfigError("the dataset is not known: pass dataset= (cifar10, cifar100, fashion_mnist or "
                              "synthetic), or evaluate a model loaded from its checkpoint")
    try:
        return dataset_name(dataset)
    except DatasetError as err:
        raise ConfigError(str(err)) from None


def make_plan(
    dataset: str | None = None,
    model: nn.Module | None = None,
    *,
    attacks: str | Sequence[str] = DEFAULT_ATTACKS,
    eps: float | None = None,
    alpha: float | None = None,
    eot: int = 5,
    eot_batch: int | None = None,
    repeats: int = 5,
    check_draws: int = 10,
    batch_size: int = 128,
    seed: int = 0,
    bf16: bool | None = None,
    device: torch.device | str = "cpu",
    autoattack_iterations: int = 100,
    autoattack_eot: int = 20,
    autoattack_queries: int = 5000,
    limits: Mapping[str, int] | None = None,
    sanity_size: int | None = None,
    sanity_steps: int = 10,
    sanity_eot: Sequence[int] = (1, 5, 20),
    stochastic: bool | None = None,
    channels_last: bool = True,
) -> EvaluationPlan:
    """An :class:`EvaluationPlan`, every argument checked (a ConfigError names it and what it may be).

    ``dataset`` defaults to ``model``'s checkpoint's (any alias: ``fmnist``);
    eps and alpha follow the budget rule (:func:`~enresnet.evaluate.budget.resolve_budget`).
    ``bf16``: attack gradients from bf16 forward passes; None turns it on where
    bf16 is fast on ``device`` (:func:`enresnet.device.native_bf16`).
    ``attacks``: names or a comma-separated string; an empty list: the clean accuracy only.
    ``limits``: {attack name: first k images}. ``sanity_size`` None: automatic
    (:meth:`EvaluationPlan.sanity_images`). ``stochastic``: declared randomness
    (None: measured; a declared-deterministic model that varies is stochastic).
    """
    name = plan_dataset(dataset, model)
    names = () if isinstance(attacks, (list, tuple)) and not attacks else tuple(parse_attacks(attacks))
    budget = resolve_budget(name, eps, alpha, model)
    _count("eot", eot)
    _count("repeats", repeats)
    _count("check_draws", check_draws)
    _count("batch_size", batch_size, high=1_000_000)
    _check("eot_batch", eot_batch is None or (isinstance(eot_batch, int) and not isinstance(eot_batch, bool)
                                               and 1 <= eot_batch <= MAX_DRAWS),
           f"None (all draws at once) or an integer in [1, {MAX_DRAWS}]", eot_batch)
    _check("seed", isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**63,
           "an integer in [0, 2^63)", seed)
    _check("bf16", bf16 in (None, True, False), "None (by device), True or False", bf16)
    _check("stochastic", stochastic in (None, True, False), "None (measured), True or False", stochastic)
    _check("channels_last", channels_last in (True, False), "True or False", channels_last)
    _count("autoattack_iterations", autoattack_iterations, high=10_000)
    _count("autoattack_eot", autoattack_eot)
    _count("autoattack_queries", autoattack_queries, high=100_000)
    _check("sanity_size", sanity_size is None or (isinstance(sanity_size, int) and not isinstance(sanity_size, bool)
                                                   and sanity_size >= 0),
           "None (automatic), 0 (skip) or a number of images", sanity_size)
    _count("sanity_steps", sanity_steps, high=10_000)
    _check("sanity_eot", isinstance(sanity_eot, (list, tuple)) and len(sanity_eot) > 0
           and all(isinstance(k, int) and 1 <= k <= MAX_DRAWS for k in sanity_eot),
           f"a non-empty list of integers in [1, {MAX_DRAWS}]", sanity_eot)
    limit_items: list[tuple[str, int]] = []
    _check("limits", limits is None or isinstance(limits, Mapping), "None or {attack name: images}", limits)
    for key, k in (limits or {}).items():
        (canonical,) = parse_attacks(key)
        limit_items.append((canonical, _count(f"limits[{key!r}]", k, high=10**9)))
    fast = native_bf16(torch.device(device)) if bf16 is None else bf16
    settings = AttackSettings(eps=budget.eps, alpha=budget.alpha, eot=eot, eot_batch=eot_batch,
                              check_draws=check_draws, bf16=fast, autoattack_iterations=autoattack_iterations,
                              autoattack_eot=autoattack_eot, autoattack_queries=autoattack_queries)
    return EvaluationPlan(name, budget, names, settings, RunSettings(batch_size, repeats, seed), tuple(limit_items),
                          sanity_size, sanity_steps, tuple(sanity_eot), stochastic, channels_last)


def with_budget(plan: EvaluationPlan, eps: float, alpha: float) -> EvaluationPlan:
    """``plan`` at another (given) budget: the eps curve's points."""
    budget = resolve_budget(plan.dataset, eps, alpha)
    return replace(plan, budget=budget, settings=replace(plan.settings, eps=budget.eps, alpha=budget.alpha))


@dataclass
class EvaluationResult:
    """Every number of one model's evaluation; ``markdown()`` is the paper's table with the headline."""

    model: str
    plan: EvaluationPlan
    results: dict[str, AccuracyStats]
    """``"clean"`` and one entry per attack."""
    randomness: Randomness
    sanity: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    oracle: str | None = None

    @property
    def dataset(self) -> str:
        return self.plan.dataset

    @property
    def attacks(self) -> list[str]:
        return list(self.plan.attacks)

    def row(self) -> Row:
        return Row(self.model, self.dataset, self.results, oracle=self.oracle, sanity=self.sanity)

    @property
    def robust_accuracy(self) -> AccuracyStats:
        """The headline: right in every draw, clean and under every attack (docs/evaluation.md)."""
        return self.row().headline

    @property
    def reportable(self) -> bool:
        """False when a sanity check flagged the evaluation: its numbers, headline included, overstate."""
        return self.row().reportable

    @property
    def natural_accuracy(self) -> AccuracyStats:
        return self.results[CLEAN]

    def markdown(self) -> str:
        return markdown([self.row()], self.attacks, self.notes)

    def as_dict(self) -> dict[str, Any]:
        return {**self.plan.as_dict(), "notes": self.notes, "stochastic": self.randomness.stochastic,
                **self.row().as_dict()}

    def __str__(self) -> str:
        return self.markdown()


@contextlib.contextmanager
def memory_layout(channels_last: bool, *models: nn.Module | None) -> Iterator[None]:
    """Run ``models`` in NHWC layout (when ``channels_last``), restoring each one's layout afterwards."""
    changed = []
    for model in {id(m): m for m in models if m is not None}.values():
        weights = [p for p in model.parameters() if p.dim() == 4]
        if channels_last and weights and not weights[0].is_contiguous(memory_format=torch.channels_last):
            model.to(memory_format=torch.channels_last)
            changed.append(model)
    try:
        yield
    finally:
        for model in changed:
            model.to(memory_format=torch.contiguous_format)


def provenance(model: nn.Module, label: str) -> str:
    """Which checkpoint ``label`` is: its training run's id and epoch, so that a swapped file shows."""
    meta = model.checkpoint_meta
    run = meta.get("run_id")
    return (f"{label}: checkpoint of run {run[:8] if run else '(no run id: written before run ids)'}, "
            f"epoch {meta.get('epoch', '?')}, {meta.get('method', 'unknown')} training.")


def _log(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def run_plan(
    plan: EvaluationPlan,
    model: nn.Module,
    data: ImageDataset,
    *,
    oracle: nn.Module | None = None,
    surrogate: nn.Module | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
    label: str | None = None,
    oracle_label: str | None = None,
) -> EvaluationResult:
    """Run ``plan`` on ``model`` and ``data``: the clean pass, every attack, the sanity suite, the notes.

    With ``oracle`` the adversarial images are made white-box on the oracle and
    classified by ``model`` (blind attack; no sanity suite). ``surrogate``: the
    sanity suite's transfer check's source (default: the model with its noise
    off, if it has noise). ``out_dir``: per-batch logs, a rerun resumes.
    """
    _check("model", isinstance(model, nn.Module), "a torch.nn.Module", type(model).__name__)
    _check("oracle", oracle is None or isinstance(oracle, nn.Module), "None or a torch.nn.Module", oracle)
    _check("surrogate", surrogate is None or isinstance(surrogate, nn.Module), "None or a torch.nn.Module", surrogate)
    with memory_layout(plan.channels_last, model, oracle, surrogate):
        return _run_plan(plan, model, data, oracle, surrogate, Path(out_dir) if out_dir is not None else None,
                         progress, label, oracle_label)


def _run_plan(plan: EvaluationPlan, model: nn.Module, data: ImageDataset, oracle: nn.Module | None,
              surrogate: nn.Module | None, out: Path | None, progress: bool, label: str | None,
              oracle_label: str | None) -> EvaluationResult:
    probe = to_float(data.images[:16])
    randomness = measure_randomness(model, probe, declared=plan.stochastic)
    source = oracle if oracle is not None else model
    source_randomness = randomness if oracle is None else measure_randomness(oracle, probe)
    label = label or model_label(model)
    results = {CLEAN: run_evaluation(CLEAN, model, None, data, plan.run, out, stochastic=randomness.stochastic,
                                     progress=progress)}
    started = time.perf_counter()
    for name in plan.attacks:
        attack = build_attack(name, source, plan.settings, source_randomness.stochastic, progress)
        part = data if plan.limit(name, len(data)) == len(data) else data.subset(
            torch.arange(plan.limit(name, len(data)), device=data.images.device))
        results[name] = run_evaluation(name, model, attack, part, plan.run, out, stochastic=randomness.stochastic,
                                       progress=progress)
    attack_seconds = time.perf_counter() - started
    sanity: list[Check] = []
    size = 0
    if oracle is None:
        size = plan.sanity_images(len(data), randomness.stochastic, surrogate is not None)
        if size > 0:
            passes = size * SanitySuite.passes_per_image(plan.sanity_settings(), plan.settings,
                                                         randomness.stochastic, surrogate is not None)
            rate = plan.attack_passes(len(data), randomness.stochastic) / max(attack_seconds, 1e-9)
            _log(f"sanity checks of {label} on the first {size} images: ~{passes} image forward-backward passes, "
                 f"~{math.ceil(passes / rate)} s at the rate the attacks ran", progress)
            subset = data.subset(torch.arange(size, device=data.images.device))
            suite = SanitySuite(model, subset, plan.settings, plan.sanity_settings(), surrogate,
                                stochastic=randomness.stochastic)
            sanity = suite.run(progress=progress)
    oracle_info = None if oracle is None else (oracle_label or model_label(oracle), source_randomness)
    notes = plan.notes(len(data), randomness, size, oracle_info, label)
    notes += [provenance(m, name) for m, name in ((model, label), (oracle, oracle_info and oracle_info[0]))
              if m is not None and getattr(m, "checkpoint_meta", None)]
    return EvaluationResult(label, plan, results, randomness, sanity, notes,
                            oracle=None if oracle_info is None else oracle_info[0])
