"""Run a study end to end: train its models, evaluate them, write tables, figures and ``results.md``.

Layout of the output directory::

    OUT/runs/<model key>/     training run directories (Fig. 5 reads their metrics.jsonl)
    OUT/eval/<model key>/     per-batch evaluation logs (resumable, see enresnet.evaluate.runner)
    OUT/whitebox.{md,json}    Table 2 layout: Model | dataset | A_nat | A_rob(FGSM) | ... | sanity
    OUT/natural.{md,json}     naturally trained models (Table 1's question; Sec. 4.4's IFGSM^20 on them)
    OUT/transfer.{md,json}    Table 3 layout: Model | dataset | Oracle | A_rob(...)
    OUT/claims.{md,json}      the paper's claims judged by paired tests on the same images
    OUT/figures/*.png         Fig. 5, accuracy vs eps, Fig. 6
    OUT/results.md            command, seed, machine, wall time, versions, tables, figures

Everything resumes: a rerun skips finished training runs and resumes unfinished
ones (``train(..., resume=True)``), and the evaluation logs skip finished batches.
The study holds the lock of ``OUT`` (:mod:`enresnet.locking`) from start to end,
so a second study on the same ``OUT`` stops at once naming the first; each
training run holds its own ``OUT/runs/<model key>`` too. A model's ``best``
checkpoint must belong to its run directory's run (:meth:`RunDir.check_own`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..checkpoint import load_model
from ..config import Config, load_config, settings
from ..configs import config_path
from ..data import ImageDataset
from ..device import resolve_device
from ..evaluate import EvaluationPlan, EvaluationResult, make_plan, run_plan, write_tables
from ..evaluate.inputs import evaluation_data, file_label
from ..locking import run_lock
from ..models import integrate_models
from ..train import train
from ..train.run_dir import RunDir
from .claims import judge, read_tables, write_claims
from .figures import draw_figures
from .report import Timer, command, write_results
from .studies import Scale, Study, first

AUTOATTACK = "autoattack"
NATURAL_ATTACKS = ("fgsm", "ifgsm20")
"""Naturally trained models meet FGSM and IFGSM^20 only (Sec. 4.4: IFGSM^20 leaves ~0 accuracy)."""


@dataclass
class Reproduction:
    """One study at one scale into ``out``; :meth:`run` does it all and returns ``results.md``."""

    study: Study
    scale: Scale
    out: Path
    data_dir: str | None = None
    seed: int = 0
    progress: bool = True
    device: str = "auto"
    """Where models are evaluated: ``auto`` (CUDA when available), ``cpu``, ``cuda:1``, ..."""
    timer: Timer = field(init=False)

    def __post_init__(self) -> None:
        self.timer = Timer(self.out / "timing.json")
        self.torch_device = resolve_device(self.device, "--device")

    def log(self, message: str) -> None:
        print(f"[reproduce {self.study.name}/{self.scale.name}] {message}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ training
    def config(self, name: str) -> Config:
        """The shipped training config ``name`` (``configs/...``) with the scale's overrides, the seed and
        ``--data-dir``.

        Datasets are never downloaded here: a missing one fails at once with the loader's message.
        """
        data = {"download": False, "split_seed": self.seed}
        if self.data_dir is not None:
            data["data_dir"] = self.data_dir
        return load_config(config_path(name), (*self.scale.overrides, *settings(data=data, train={"seed": self.seed})))

    def run_dir(self, key: str) -> Path:
        return self.out / "runs" / key

    def train_models(self) -> dict[str, nn.Module]:
        """Train (or resume, or skip) every model the scale runs, the naturally trained ones last;
        returns {key: best checkpoint's model}."""
        models = {}
        for model in self.study.trained_at(self.scale):
            run = RunDir(self.run_dir(model.key))
            config = self.config(model.config)
            epochs = config.train.epochs
            if run.finished_epochs() >= epochs:
                self.log(f"{model.label}: finished ({epochs} epochs), skipped")
            else:
                resume = run.last.exists()
                self.log(f"{'resuming' if resume else 'training'} {model.label} ({epochs} epochs)")
                with self.timer.phase(f"train {model.key}"):
                    train(config, run.path, resume=resume, quiet=not self.progress)
            models[model.key] = load_model(run.best, self.torch_device)
            run.check_own(run.run_id(), run.best, models[model.key].checkpoint_meta.get("run_id"))
        return models

    # ---------------------------------------------------------------- evaluation
    def plan(self, model: nn.Module, data: ImageDataset, attacks: tuple[str, ...], *,
             limits: dict[str, int] | None = None, sanity_size: int = 0) -> EvaluationPlan:
        """The evaluation plan of ``model`` at this scale: the budget rule, the scale's EOT, repeats and
        AutoAttack strength, the arithmetic rule of ``enresnet evaluate`` (bf16 gradients where fast)."""
        s = self.scale
        return make_plan(data.name, model, attacks=list(attacks), eot=s.eot, repeats=s.repeats,
                         batch_size=s.batch_size, seed=self.seed, device=data.images.device, limits=limits,
                         sanity_size=sanity_size, sanity_steps=s.sanity_steps, sanity_eot=s.sanity_eot,
                         autoattack_iterations=s.autoattack_iterations, autoattack_eot=s.autoattack_eot,
                         autoattack_queries=s.autoattack_queries)

    def evaluate(self, phase: str, label: str, model: nn.Module, plan: EvaluationPlan, data: ImageDataset,
                 eval_dir: Path, oracle: tuple[str, nn.Module] | None = None) -> EvaluationResult:
        self.log(f"{phase} of {label}" if oracle is None else f"{phase} {oracle[0]} -> {label}")
        with self.timer.phase(f"{phase} {label}" if oracle is None else f"{phase} {oracle[0]} -> {label}"):
            return run_plan(plan, model, data, out_dir=eval_dir, progress=self.progress, label=label,
                            oracle=None if oracle is None else oracle[1],
                            oracle_label=None if oracle is None else oracle[0])

    def whitebox_result(self, label: str, model: nn.Module, data: ImageDataset, eval_dir: Path) -> EvaluationResult:
        """Natural and white-box accuracy (Table 2), AutoAttack and the sanity checks of one model."""
        s, study = self.scale, self.study
        attacks = s.attacks_for(study.attacks + ((AUTOATTACK,) if study.autoattack else ()), self.seed)
        limits = {a: k for a, k in s.attack_limits.items() if a in attacks}
        if AUTOATTACK in attacks and s.autoattack_limit:
            limits[AUTOATTACK] = s.autoattack_limit
        plan = self.plan(model, data, attacks, limits=limits or None,
                         sanity_size=s.sanity_limit if attacks else 0)
        return self.evaluate("white-box evaluation", label, model, plan, first(data, s.test_limit), eval_dir)

    def whitebox_table(self, models: dict[str, nn.Module], data: ImageDataset) -> None:
        results = [self.whitebox_result(m.label, models[m.key], data, self.out / "eval" / m.key)
                   for m in self.study.models_at(self.scale)]
        for row in self.study.integrations:
            integrated = integrate_models([models[k] for k in row.members])
            results.append(self.whitebox_result(row.label, integrated, data,
                                                self.out / "eval" / file_label(row.label)))
        self.write("whitebox", results)

    def natural_table(self, models: dict[str, nn.Module], data: ImageDataset) -> None:
        """Naturally trained models: natural accuracy (Table 1) and FGSM / IFGSM^20 (Sec. 4.4)."""
        results = []
        for m in self.study.natural_models_at(self.scale):
            plan = self.plan(models[m.key], data, NATURAL_ATTACKS)
            results.append(self.evaluate("evaluation", m.label, models[m.key], plan,
                                         first(data, self.scale.test_limit), self.out / "eval" / m.key))
        self.write("natural", results, ["Naturally trained (no adversarial training): Table 1's natural accuracy; "
                                        "Sec. 4.4 reads IFGSM^20 as leaving ~0 on such models."])

    def transfer_table(self, models: dict[str, nn.Module], data: ImageDataset) -> None:
        """Blind attacks (Table 3): the target classifies adversarial images made on the oracle."""
        results = []
        for target, oracle in self.study.transfer:
            t, o = self.study.model(target), self.study.model(oracle)
            plan = self.plan(models[target], data, self.study.attacks)
            results.append(self.evaluate("transfer", t.label, models[target], plan,
                                         first(data, self.scale.transfer_limit),
                                         self.out / "eval" / target / f"from-{oracle}", (o.label, models[oracle])))
        self.write("transfer", results)

    def write(self, stem: str, results: list[EvaluationResult], extra_notes: list[str] = ()) -> None:
        """``stem.{md,json}``: the results' rows, their notes (generated by their plans) and the study's meta."""
        notes = list(dict.fromkeys(n for r in results for n in r.notes)) + list(extra_notes)
        attacks = list(results[0].plan.attacks) if results else []
        write_tables(self.out, stem, [r.row() for r in results], attacks, notes, self.meta())

    def meta(self) -> dict:
        return {"study": self.study.name, "scale": self.scale.name, "seed": self.seed,
                "eot": self.scale.eot, "repeats": self.scale.repeats}

    # ----------------------------------------------------------------------- all
    def run(self) -> Path:
        """The whole study, holding the lock of ``OUT``; returns ``results.md``."""
        with run_lock(self.out, purpose="reproduce"):
            return self._run()

    def _run(self) -> Path:
        models = self.train_models()
        first_model = self.study.models_at(self.scale)[0].key
        data = evaluation_data(models[first_model], None, None, None).to(self.torch_device)
        self.whitebox_table(models, data)
        if self.study.natural_models_at(self.scale):
            self.natural_table(models, data)
        if self.study.transfer and self.scale.transfer:
            self.transfer_table(models, data)
        if self.study.claims:
            write_claims(self.out, judge(self.study, read_tables(self.out, self.study)))
        figures = {}
        if self.scale.figures:
            self.log("figures")
            with self.timer.phase("figures"):
                plan = self.plan(models[first_model], data, ())
                figures = draw_figures(self.study, self.scale, models, data, plan,
                                       {m.key: self.run_dir(m.key) for m in self.study.models_at(self.scale)},
                                       self.out / "figures")
        runs = [(m.label, RunDir(self.run_dir(m.key)).read_metrics(required=True))
                for m in self.study.trained_at(self.scale)]
        path = write_results(self.out, self.study, self.scale,
                             command(self.study, self.scale, self.out, self.seed, self.data_dir), self.seed,
                             self.timer, runs, figures)
        self.log(f"wrote {path}")
        return path
