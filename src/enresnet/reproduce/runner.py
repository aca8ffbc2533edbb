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
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..checkpoint import load_model
from ..config import load_config
from ..configs import config_path
from ..data import ImageDataset
from ..device import native_bf16, resolve_device
from ..evaluate import (
    AttackSettings,
    AutoAttack,
    Row,
    RunSettings,
    SanitySettings,
    SanitySuite,
    default_budget,
    evaluate_attacks,
    run_evaluation,
    write_tables,
)
from ..evaluate.inputs import evaluation_data, file_label
from ..models import integrate_models
from ..plots.training import read_metrics
from ..train import train
from .claims import judge, read_tables, write_claims
from .figures import draw_figures
from .report import Timer, write_results
from .studies import Scale, Study, first

AUTOATTACK = "autoattack"
NATURAL_ATTACKS = ("fgsm", "ifgsm20")
"""Naturally trained models meet FGSM and IFGSM^20 only (Sec. 4.4: IFGSM^20 leaves ~0 accuracy)."""


def finished_epochs(run_dir: Path) -> int:
    """Epochs a run directory holds a checkpoint and metrics for (0 when it holds none)."""
    if not (run_dir / "last.safetensors").is_file() or not (run_dir / "metrics.jsonl").is_file():
        return 0
    return len(read_metrics(run_dir))


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
    def config(self, name: str) -> dict:
        """The shipped training config ``name`` (``configs/...``) with the scale's overrides, the seed and
        ``--data-dir``.

        Datasets are never downloaded here: a missing one fails at once with the loader's message.
        """
        overrides = copy.deepcopy(self.scale.overrides)
        overrides.setdefault("data", {})["download"] = False
        if self.data_dir is not None:
            overrides["data"]["data_dir"] = self.data_dir
        overrides.setdefault("train", {})["seed"] = self.seed
        return load_config(config_path(name), overrides)

    def run_dir(self, key: str) -> Path:
        return self.out / "runs" / key

    def train_models(self) -> dict[str, nn.Module]:
        """Train (or resume, or skip) every model the scale runs, the naturally trained ones last;
        returns {key: best checkpoint's model}."""
        models = {}
        for model in self.study.trained_at(self.scale):
            run_dir = self.run_dir(model.key)
            config = self.config(model.config)
            epochs = config["train"]["epochs"]
            if finished_epochs(run_dir) >= epochs:
                self.log(f"{model.label}: finished ({epochs} epochs), skipped")
            else:
                resume = (run_dir / "last.safetensors").exists()
                self.log(f"{'resuming' if resume else 'training'} {model.label} ({epochs} epochs)")
                with self.timer.phase(f"train {model.key}"):
                    train(config, run_dir, resume=resume, quiet=not self.progress)
            models[model.key] = load_model(run_dir / "best.safetensors", self.torch_device)
        return models

    # ---------------------------------------------------------------- evaluation
    def settings(self, data: ImageDataset) -> tuple[AttackSettings, RunSettings, str]:
        eps, alpha, budget = default_budget(data.name)
        attack = AttackSettings(eps=eps, alpha=alpha, eot=self.scale.eot, bf16=native_bf16(data.images.device))
        run = RunSettings(batch_size=self.scale.batch_size, repeats=self.scale.repeats, seed=self.seed)
        return attack, run, budget

    def whitebox_row(self, label: str, model: nn.Module, data: ImageDataset, eval_dir: Path) -> Row:
        """Natural and white-box accuracy (Table 2), AutoAttack and the sanity checks of one model."""
        s = self.scale
        attack, run, _ = self.settings(data)
        self.log(f"white-box evaluation of {label}")
        with self.timer.phase(f"white-box {label}"):
            results = evaluate_attacks(model, first(data, s.test_limit), list(self.study.attacks), attack, run,
                                       eval_dir, progress=self.progress)
        if self.study.autoattack:
            with self.timer.phase(f"AutoAttack {label}"):
                aa = AutoAttack(model, eps=attack.eps, check_draws=attack.check_draws, seed=self.seed,
                                **s.autoattack_iterations)
                aa.bf16 = attack.bf16  # as build_attack sets it for `enresnet evaluate`
                results[AUTOATTACK] = run_evaluation(AUTOATTACK, model, aa, first(data, s.autoattack_limit), run,
                                                     eval_dir, progress=self.progress)
        sanity = []
        if self.study.attacks and s.sanity_limit > 0:
            with self.timer.phase(f"sanity {label}"):
                settings = SanitySettings(steps=s.sanity_steps, eot_samples=s.sanity_eot, seed=self.seed,
                                          batch_size=s.batch_size, repeats=s.repeats)
                sanity = SanitySuite(model, first(data, s.sanity_limit), attack, settings).run()
        return Row(label, data.name, results, sanity=sanity)

    def whitebox_table(self, models: dict[str, nn.Module], data: ImageDataset) -> None:
        rows = [self.whitebox_row(m.label, models[m.key], data, self.out / "eval" / m.key)
                for m in self.study.models_at(self.scale)]
        for row in self.study.integrations:
            integrated = integrate_models([models[k] for k in row.members])
            rows.append(self.whitebox_row(row.label, integrated, data, self.out / "eval" / file_label(row.label)))
        columns = list(self.study.attacks) + ([AUTOATTACK] if self.study.autoattack else [])
        s = self.scale
        notes = self.notes(data, first(data, s.test_limit))
        if self.study.autoattack:
            notes.append(f"AutoAttack ('rand' for noisy models, 'standard' otherwise) on the first "
                         f"{len(first(data, s.autoattack_limit))} images"
                         + (f", iterations overridden: {s.autoattack_iterations}." if s.autoattack_iterations
                            else ", its own fixed iterations."))
        if self.study.attacks and s.sanity_limit > 0:
            notes.append(f"Sanity checks on the first {len(first(data, s.sanity_limit))} images "
                         f"(IFGSM^{s.sanity_steps}; EOT {list(s.sanity_eot)}; see docs/evaluation.md).")
        write_tables(self.out, "whitebox", rows, columns, notes, self.meta())

    def natural_table(self, models: dict[str, nn.Module], data: ImageDataset) -> None:
        """Naturally trained models: natural accuracy (Table 1) and FGSM / IFGSM^20 (Sec. 4.4)."""
        attack, run, _ = self.settings(data)
        subset = first(data, self.scale.test_limit)
        rows = []
        for m in self.study.natural_models_at(self.scale):
            self.log(f"evaluation of {m.label}")
            with self.timer.phase(f"natural {m.key}"):
                results = evaluate_attacks(models[m.key], subset, list(NATURAL_ATTACKS), attack, run,
                                           self.out / "eval" / m.key, progress=self.progress)
            rows.append(Row(m.label, data.name, results))
        notes = self.notes(data, subset) + ["Naturally trained (no adversarial training): Table 1's natural "
                                            "accuracy; Sec. 4.4 reads IFGSM^20 as leaving ~0 on such models."]
        write_tables(self.out, "natural", rows, list(NATURAL_ATTACKS), notes, self.meta())

    def transfer_table(self, models: dict[str, nn.Module], data: ImageDataset) -> None:
        """Blind attacks (Table 3): the target classifies adversarial images made on the oracle."""
        attack, run, _ = self.settings(data)
        subset = first(data, self.scale.transfer_limit)
        rows = []
        for target, oracle in self.study.transfer:
            t, o = self.study.model(target), self.study.model(oracle)
            self.log(f"transfer {o.label} -> {t.label}")
            with self.timer.phase(f"transfer {o.key} -> {t.key}"):
                results = evaluate_attacks(models[target], subset, list(self.study.attacks), attack, run,
                                           self.out / "eval" / target / f"from-{oracle}", source=models[oracle],
                                           progress=self.progress)
            rows.append(Row(t.label, data.name, results, oracle=o.label))
        notes = self.notes(data, subset) + [("Adversarial images made white-box on the oracle (with EOT when "
                                            "it is noisy), classified by the model (blind attack).")]
        write_tables(self.out, "transfer", rows, list(self.study.attacks), notes, self.meta())

    def notes(self, data: ImageDataset, used: ImageDataset) -> list[str]:
        attack, _, budget = self.settings(data)
        return [f"{len(used)} {data.name} test images (the first of {len(data)}); {budget}.",
                f"Attack gradients of noisy models averaged over {self.scale.eot} noise draws (EOT)"
                + ("; from bf16 forward passes, every counted prediction fp32 (as `enresnet evaluate --amp auto`)."
                   if attack.bf16 else "."),
                (f"Each image predicted {self.scale.repeats} times: mean ± std over the draws "
                "(worst: right in all draws).")]

    def meta(self) -> dict:
        return {"study": self.study.name, "scale": self.scale.name, "seed": self.seed,
                "eot": self.scale.eot, "repeats": self.scale.repeats}

    # ----------------------------------------------------------------------- all
    def run(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        models = self.train_models()
        first_model = self.study.models_at(self.scale)[0].key
        data = evaluation_data(models[first_model], None, None, None).to(self.torch_device)
        self.whitebox_table(models, data)
        if self.study.natural_models_at(self.scale):
            self.natural_table(models, data)
        if self.study.transfer:
            self.transfer_table(models, data)
        if self.study.claims:
            write_claims(self.out, judge(self.study, read_tables(self.out, self.study)))
        attack, _, _ = self.settings(data)
        self.log("figures")
        with self.timer.phase("figures"):
            figures = draw_figures(self.study, self.scale, models, data, attack,
                                   {m.key: self.run_dir(m.key) for m in self.study.models_at(self.scale)},
                                   self.out / "figures")
        path = write_results(self, figures)
        self.log(f"wrote {path}")
        return path
