"""The named studies of ``enresnet reproduce``, as data: models, evaluations, scales.

A :class:`Study` lists its models (one training config each, from ``configs/``),
the paper's white-box attacks (Table 2: FGSM, IFGSM^20, C&W, with EOT), whether
AutoAttack is added, the blind-attack pairs (Table 3), the integrations of
separately trained models (Table 7, read from ``configs/cifar10/table7/*.toml``)
and the two models of Fig. 6. A :class:`Scale` says how much of it runs: config
overrides for training, and the number of test images per evaluation.

Config paths (``configs/...``) name configs shipped as package data
(:mod:`enresnet.configs`), so an installed wheel reproduces without a checkout.
The studies are built on first use (:func:`studies`), not at import, and a
study whose configs are missing is an error, not an empty table.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import torch

from ..config import Setting, settings
from ..configs import CONFIG_DIR, config_path
from ..data import ImageDataset
from ..errors import ConfigError
from ..evaluate.protocol import DEFAULT_ATTACKS, AttackSettings
from ..evaluate.sanity import SanitySettings

PAPER_ATTACKS = ("fgsm", "ifgsm20", "cw")


def first(data: ImageDataset, limit: int | None) -> ImageDataset:
    """The first ``limit`` images of ``data``, as a :class:`Scale`'s limits mean (None: all)."""
    return data if limit is None else data.subset(torch.arange(min(limit, len(data))))


@dataclass(frozen=True)
class Scale:
    """How much of a study runs. ``overrides`` are laid over every training config, in order
    (:class:`~enresnet.config.Setting`, as ``enresnet train --set``); a ``None`` limit means the whole test set."""

    name: str
    summary: str
    overrides: tuple[Setting, ...] = ()
    test_limit: int | None = None
    transfer_limit: int | None = None
    autoattack_limit: int | None = 1000
    autoattack_iterations: int = AttackSettings.autoattack_iterations
    """APGD iterations inside AutoAttack (:class:`~enresnet.evaluate.protocol.AttackSettings`; AutoAttack's own)."""
    autoattack_eot: int = AttackSettings.autoattack_eot
    """EOT draws inside AutoAttack 'rand' (AutoAttack's own by default)."""
    autoattack_queries: int = AttackSettings.autoattack_queries
    """Square's queries inside AutoAttack 'standard' (AutoAttack's own by default)."""
    sanity_limit: int = 100
    sanity_steps: int = 10
    sanity_eot: tuple[int, ...] = (1, 5, 20)
    eps_limit: int | None = 1000
    eps_steps: int = 20
    eot: int = 5
    repeats: int = 5
    batch_size: int = 128
    examples: int = 4
    skip: tuple[str, ...] = ()
    """Keys of the study's models this scale leaves out (its summary says why)."""
    attacks: tuple[str, ...] | None = None
    """The white-box attacks of this scale (None: the study's, with AutoAttack where the study has it)."""
    attack_limits: dict[str, int] = field(default_factory=dict)
    """{attack: first k test images} for attacks of ``attacks`` run on a fixed subset only."""
    subset_seeds: tuple[int, ...] | None = None
    """Seeds whose evaluation runs the attacks of ``attack_limits`` (None: every seed); the other seeds
    run only the attacks on every test image."""
    seeds: tuple[int, ...] = ()
    """A multi-seed scale's seeds (``reproduce --seeds`` overrides them): the study runs once per seed, each
    seed fixing split, order, augmentation and initialisation of every model, and its claims are judged
    across seeds (:mod:`.seeds`). Empty: one run at ``--seed``."""
    transfer: bool = True
    """Whether the blind-attack table (Table 3) runs at this scale."""
    figures: bool = True
    """Whether Fig. 5, the accuracy-vs-eps curve and Fig. 6 are drawn at this scale."""

    def attacks_for(self, study_attacks: tuple[str, ...], seed: int) -> tuple[str, ...]:
        """The white-box attacks a run at ``seed`` makes (``study_attacks``: the study's own set)."""
        attacks = study_attacks if self.attacks is None else self.attacks
        if self.subset_seeds is None or seed in self.subset_seeds:
            return attacks
        return tuple(a for a in attacks if a not in self.attack_limits)


@dataclass(frozen=True)
class Model:
    """One trained model of a study: ``key`` names its run directory, ``label`` its table row."""

    key: str
    config: str
    label: str


@dataclass(frozen=True)
class Integration:
    """A Table 7 row: the average of the logits of separately trained ``members`` (model keys)."""

    label: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Measure:
    """One accuracy a claim reads: a model's column (``clean``, an attack, ``autoattack``, :data:`HEADLINE`)
    in one of a study's tables (``whitebox``, ``natural``, or ``transfer`` with the ``oracle`` attacked)."""

    table: str
    model: str
    column: str
    oracle: str | None = None


@dataclass(frozen=True)
class PairedClaim:
    """A claim that ``higher`` exceeds ``lower``, judged by a paired test on the same images
    (:mod:`.claims`); ``paper`` quotes the paper's CIFAR-10 numbers for it. Claims of one ``family``
    share Holm's adjustment: the paper's claims, and the claims this project adds about attacks."""

    text: str
    source: str
    higher: Measure
    lower: Measure
    paper: str
    family: str = "paper"
    paper_gap: float | None = None
    """The paper's CIFAR-10 difference A - B in points (None: not reported)."""
    margin: float = 1.0
    """The pre-declared equivalence margin in points: across seeds, two one-sided tests say whether
    |A - B| < margin (:mod:`enresnet.evaluate.seed_tests`)."""


@dataclass(frozen=True)
class BoundClaim:
    """A claim that an accuracy is below ``below`` (a fraction), judged by its 95% Wilson interval."""

    text: str
    source: str
    measure: Measure
    below: float
    paper: str


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    models: tuple[Model, ...]
    scales: dict[str, Scale]
    default_scale: str
    attacks: tuple[str, ...] = PAPER_ATTACKS
    autoattack: bool = True
    transfer: tuple[tuple[str, str], ...] = ()
    """(target, oracle) model keys: the target classifies adversarial images of the oracle."""
    integrations: tuple[Integration, ...] = ()
    examples: tuple[str, str] | None = None
    """Fig. 6: ResNet20 against an En model."""
    natural_models: tuple[Model, ...] = ()
    """Naturally trained models (Table 1's question): natural accuracy and the white-box attacks,
    in a table of their own; no AutoAttack, sanity suite or transfer."""
    claims: tuple[PairedClaim | BoundClaim, ...] = ()
    """The paper's claims this study can judge (claims on models a scale skips are left out)."""
    eps_fractions: tuple[float, ...] = (0, 0.25, 0.5, 1, 1.5, 2)
    """The accuracy-vs-eps curve, in multiples of the dataset's eps."""

    def scale(self, name: str | None) -> Scale:
        name = name or self.default_scale
        if name not in self.scales:
            raise ConfigError(f"study {self.name!r} has no scale {name!r}; choose one of {', '.join(self.scales)}")
        return self.scales[name]

    def model(self, key: str) -> Model:
        return next(m for m in (*self.models, *self.natural_models) if m.key == key)

    def models_at(self, scale: Scale) -> tuple[Model, ...]:
        """The adversarially trained models ``scale`` runs."""
        return tuple(m for m in self.models if m.key not in scale.skip)

    def natural_models_at(self, scale: Scale) -> tuple[Model, ...]:
        """The naturally trained models ``scale`` runs."""
        return tuple(m for m in self.natural_models if m.key not in scale.skip)

    def trained_at(self, scale: Scale) -> tuple[Model, ...]:
        """Every model ``scale`` trains: the adversarially trained ones, then the naturally trained ones."""
        return (*self.models_at(scale), *self.natural_models_at(scale))


def _label(key: str) -> str:
    """``en2_resnet110`` -> ``En2ResNet110``; ``en1_wrn34_10`` -> ``En1WideResNet34-10``."""
    text = key.replace("wrn", "WideResNet").replace("resnet", "ResNet").replace("_10", "-10")
    return text.replace("en", "En", 1).replace("_", "") if key.startswith("en") else text.replace("_", "")


def _model(key: str, config: str, label: str) -> Model:
    config_path(config)  # a missing config fails here, naming it
    return Model(key, config, label)


def _models(folder: str, keys: tuple[str, ...]) -> tuple[Model, ...]:
    return tuple(_model(k, f"configs/{folder}/{k}.toml", _label(k)) for k in keys)


TABLE7_FOLDER = "cifar10/table7"


def _table7() -> tuple[tuple[Model, ...], tuple[Integration, ...]]:
    """Members (Table 2 configs) and rows of ``configs/cifar10/table7/row<N>_*.toml``, in the paper's order."""
    members: dict[str, Model] = {}
    rows = []
    for path in sorted((CONFIG_DIR / TABLE7_FOLDER).glob("*.toml")):
        paths = tomllib.loads(path.read_text())["integrate"]["members"]
        keys = tuple(Path(p).stem for p in paths)
        for key, config in zip(keys, paths):
            members.setdefault(key, _model(key, config, _label(key)))
        rows.append(Integration(" & ".join(members[k].label for k in keys), keys))
    if not rows:
        raise ConfigError(f"Table 7 has no rows: no configs in {CONFIG_DIR / TABLE7_FOLDER} (reinstall enresnet)")
    return tuple(members.values()), tuple(rows)


GPU_FULL = Scale(
    "full",
    "the paper's protocol (Sec. 4.1): the configs as they are (200 epochs, 45k/5k split), the whole "
    "10k test set; AutoAttack and the eps curve on the first 1000 test images, sanity checks on 100. "
    "Meant for a GPU machine with the dataset in --data-dir.",
)

NATURAL_FMNIST = ("resnet20_natural", "en2_resnet20_natural")
HEADLINE = "headline"
"""A :class:`Measure` column: the worst case per image over clean and every default attack
(:data:`~enresnet.evaluate.protocol.DEFAULT_ATTACKS`), measured only where all of them ran."""

SEEDS = Scale(
    "seeds",
    "a study of methods, not of single networks: PGD-trained ResNet20, En1ResNet20, En2ResNet20 and "
    "2 x ResNet20 without noise, once per seed (0-4 by default; seed s fixes split, order, augmentation and "
    "initialisation of every model). Sized from measured throughput to <= 8 h of a 2-core CPU in total "
    "(docs/results.md gives the arithmetic): 10k images of the 60k (9k train + 1k validation), 4 epochs "
    "with lr 0.1, / 10 for the last (closer to convergence rather than more images), validation on 500 "
    "images with IFGSM^10; every model evaluated on the first 5000 test images (clean and IFGSM^20, EOT 5, "
    "5 predictions per image), and on the first 500 with the evaluation pipeline's default attacks "
    "(FGSM, IFGSM^20, C&W, APGD-CE, APGD-DLR, EOT 5) for seeds 0 and 1; sanity suite on 100 of them; "
    "no transfer, no naturally trained models, no figures",
    settings(data={"train_limit": 10000, "val_size": 1000},
             train={"epochs": 4, "batch_size": 128, "lr": 0.1, "milestones": [3]},
             validation={"limit": 500, "attack_steps": 10}),
    test_limit=5000, sanity_limit=100, attacks=DEFAULT_ATTACKS,
    attack_limits={"fgsm": 500, "cw": 500, "apgd-ce100": 500, "apgd-dlr100": 500}, subset_seeds=(0, 1),
    seeds=(0, 1, 2, 3, 4), transfer=False, figures=False, skip=("en5_resnet20", *NATURAL_FMNIST),
)
"""The study of methods on a 2-core CPU (docs/results.md, section 1)."""

SEEDS_GPU = replace(
    SEEDS, name="seeds-gpu",
    summary="the `seeds` design at the size of a GPU machine: the same schedule (4 epochs, lr 0.1, / 10 for the "
    "last, batch 128, validation on 500 images with IFGSM^10) and the same evaluation (the first 5000 test images "
    "with clean and IFGSM^20, EOT 5, 5 predictions per image; the first 500 with the default attacks, here for "
    "every seed; sanity suite on 100), on the whole training set (55k train + 5k validation) and with "
    "En5ResNet20 added. One seed per call of a device machine: docs/runs/fmnist-seeds/device.sh",
    overrides=(*SEEDS.overrides, *settings(data={"train_limit": 0, "val_size": 5000})),
    subset_seeds=None, skip=NATURAL_FMNIST,
)

FMNIST_SCALES = {
    "smoke": Scale(
        "smoke",
        "a CPU smoke run (<= 45 min on 2 free cores): 1000 training images + 200 validation (of the 60k), "
        "2 epochs, batch 32, lr 0.05, validation on 200 images with IFGSM^5; white-box attacks (EOT 5, "
        "5 predictions per image) and AutoAttack (reduced iterations: APGD 10, EOT 2, Square 50 queries) "
        "on the first 64 test images, transfer on 32, sanity checks on 8, accuracy vs eps on 32 "
        "(IFGSM^5, one draw)",
        settings(data={"train_limit": 1200, "val_size": 200},
                 train={"epochs": 2, "batch_size": 32, "lr": 0.05, "milestones": []},
                 validation={"limit": 200, "attack_steps": 5}),
        test_limit=64, transfer_limit=32, autoattack_limit=64,
        autoattack_iterations=10, autoattack_eot=2, autoattack_queries=50,
        sanity_limit=8, eps_limit=32, eps_steps=5, skip=("en5_resnet20", *NATURAL_FMNIST),
    ),
    "medium": Scale(
        "medium",
        "the study sized to answer the paper's questions on a 2-core CPU in at most ~2.5 h. Sizing rule: "
        "PGD training gets ~35 min, 10k training images (+1k validation) for every model, so the epochs are "
        "35 min / sum over models of (10k / measured PGD-10 training throughput) = 3.6, rounded down: 3 "
        "(throughput with bf16 + channels_last on 2 threads: ResNet20 133, En1ResNet20 70, En2ResNet20 42, "
        "2 x ResNet20 77 images/s; lr 0.1, / 10 for the last epoch); En5ResNet20 (17 images/s) would add "
        "~30 min of training and ~45 min of evaluation, so this scale leaves it out (the `full` scale has "
        "it). Naturally trained ResNet20 and En2ResNet20 on the same schedule (~2 min more). Evaluation on "
        "the first 1000 test images (FGSM, IFGSM^20, C&W, EOT 5, 5 predictions per image); AutoAttack at "
        "full strength (its own iterations) on the first 100 (~4000 EOT gradient evaluations per image for a "
        "noisy model); sanity suite on 200; transfer on 500; accuracy vs eps on 500 (IFGSM^10)",
        settings(data={"train_limit": 11000, "val_size": 1000},
                 train={"epochs": 3, "batch_size": 128, "lr": 0.1, "milestones": [2]},
                 validation={"limit": 500, "attack_steps": 10}),
        test_limit=1000, transfer_limit=500, autoattack_limit=100, sanity_limit=200, eps_limit=500, eps_steps=10,
        skip=("en5_resnet20",),
    ),
    "seeds": SEEDS,
    "seeds-gpu": SEEDS_GPU,
    "full": Scale(
        "full",
        "the configs' schedule (10 epochs, lr / 10 at 6 and 8, batch 128) on the whole training set "
        "(55k train / 5k validation), validation on 500 images; the whole 10k test set; AutoAttack and "
        "the eps curve on 1000 test images, sanity checks on 100. Days on a 2-core CPU: meant for a GPU.",
        settings(data={"train_limit": 0, "val_size": 5000}),
    ),
    "tiny": Scale(
        "tiny",
        "a pipeline check, not a result: the study's models on 16x16 one-channel SYNTHETIC data "
        "substituted for Fashion-MNIST (256 images: 192 train, 64 validation), 1 epoch; 16 test images, "
        "EOT 2, 2 predictions per image; AutoAttack on 8 (2 iterations), sanity on 8, eps curve on 16",
        settings(data={"name": "synthetic", "train_limit": 0, "val_size": 64, "augment": False,
                       "options": {"num_samples": 256, "channels": 1, "size": 16}},
                 train={"epochs": 1, "batch_size": 64, "milestones": []},
                 validation={"limit": 64, "attack_steps": 2}),
        test_limit=16, transfer_limit=16, autoattack_limit=8,
        autoattack_iterations=2, autoattack_eot=2, autoattack_queries=10,
        sanity_limit=8, sanity_steps=2, sanity_eot=(1, 2), eps_limit=16, eps_steps=2,
        eot=2, repeats=2, examples=2, skip=("en5_resnet20",),
    ),
}


def _fmnist_claims() -> tuple[PairedClaim | BoundClaim, ...]:
    """Table 1, Table 2, Sec. 4.4 and Table 3 of the paper as claims on the fmnist study's models, the
    default attacks' headline claims, and the claims this project makes about the attacks. Declared before
    any run of a scale that judges them (the equivalence margins included)."""
    wb, nat = "whitebox", "natural"
    noise = "noise raises robust accuracy"
    members = "more members raise robust accuracy"
    aa = "AutoAttack is stronger than IFGSM^20"
    default = "the default attacks are stronger than IFGSM^20"
    return (
        PairedClaim("noise raises natural accuracy", "Table 1", Measure(nat, "en2_resnet20_natural", "clean"),
                    Measure(nat, "resnet20_natural", "clean"), "En2 92.60% vs 92.10%", paper_gap=0.50),
        PairedClaim("noise raises natural accuracy of PGD-trained models", "Table 2",
                    Measure(wb, "en1_resnet20", "clean"), Measure(wb, "resnet20", "clean"), "77.21% vs 75.11%",
                    paper_gap=2.10),
        PairedClaim(noise, "Table 2", Measure(wb, "en1_resnet20", "ifgsm20"), Measure(wb, "resnet20", "ifgsm20"),
                    "49.06% vs 46.03%", paper_gap=3.03),
        PairedClaim(noise, "Table 2", Measure(wb, "en1_resnet20", "cw"), Measure(wb, "resnet20", "cw"),
                    "65.69% vs 58.73%", paper_gap=6.96),
        PairedClaim(members, "Table 2", Measure(wb, "en2_resnet20", "ifgsm20"),
                    Measure(wb, "en1_resnet20", "ifgsm20"), "50.06% vs 49.06%", paper_gap=1.00),
        PairedClaim(members, "Table 2", Measure(wb, "en5_resnet20", "ifgsm20"),
                    Measure(wb, "en2_resnet20", "ifgsm20"), "51.48% vs 50.06%", paper_gap=1.42),
        PairedClaim("an ensemble without noise does not match EnResNet", "Sec. 4.4",
                    Measure(wb, "en2_resnet20", "ifgsm20"), Measure(wb, "ens2_resnet20_nonoise", "ifgsm20"),
                    "50.06% vs 47.28%", paper_gap=2.78),
        PairedClaim("blind attacks are weaker than white-box ones", "Table 3",
                    Measure("transfer", "en2_resnet20", "ifgsm20", oracle="resnet20"),
                    Measure(wb, "en2_resnet20", "ifgsm20"), "En5: 62.99% vs 51.48%", paper_gap=11.51),
        PairedClaim("blind attacks are weaker than white-box ones", "Table 3",
                    Measure("transfer", "resnet20", "ifgsm20", oracle="en2_resnet20"),
                    Measure(wb, "resnet20", "ifgsm20"), "58.74% (oracle En5) vs 46.03%", paper_gap=12.71),
        PairedClaim("EnResNets are more robust to blind attacks than ResNets", "Table 3",
                    Measure("transfer", "en2_resnet20", "ifgsm20", oracle="resnet20"),
                    Measure("transfer", "resnet20", "ifgsm20", oracle="en2_resnet20"), "En5: 62.99% vs 58.74%",
                    paper_gap=4.25),
        PairedClaim("noise raises robust accuracy under the default attacks", "ours",
                    Measure(wb, "en1_resnet20", HEADLINE), Measure(wb, "resnet20", HEADLINE), "not reported",
                    family="headline"),
        PairedClaim("an ensemble without noise does not match EnResNet under the default attacks", "ours",
                    Measure(wb, "en2_resnet20", HEADLINE), Measure(wb, "ens2_resnet20_nonoise", HEADLINE),
                    "not reported", family="headline"),
        *(PairedClaim(aa, "ours", Measure(wb, key, "ifgsm20"), Measure(wb, key, "autoattack"), "not reported",
                      family="attacks")
          for key in ("resnet20", "en1_resnet20", "en2_resnet20", "en5_resnet20", "ens2_resnet20_nonoise")),
        *(PairedClaim(default, "ours", Measure(wb, key, "ifgsm20"), Measure(wb, key, HEADLINE), "not reported",
                      family="attacks")
          for key in ("resnet20", "en1_resnet20", "en2_resnet20", "en5_resnet20", "ens2_resnet20_nonoise")),
        *(BoundClaim("IFGSM^20 leaves ~0 accuracy on naturally trained models", "Sec. 4.4",
                     Measure(nat, key, "ifgsm20"), SanitySettings.natural_threshold,
                     "En1/En2/En5ResNet20: 0% / 0.02% / 0.03%")
          for key in NATURAL_FMNIST),
    )


@functools.cache
def studies() -> dict[str, Study]:
    """Every named study, built on first use from the shipped configs."""
    t7_members, t7_rows = _table7()
    return {s.name: s for s in (
        Study(
            "fmnist",
            "Fashion-MNIST (eps = 0.1): PGD adversarial training of ResNet20, En1ResNet20, En2ResNet20, "
            "En5ResNet20 and 2 x ResNet20 jointly trained without noise (Table 2 and Sec. 4.4 on Fashion-MNIST); "
            "naturally trained ResNet20 and En2ResNet20 (Table 1's question)",
            (*_models("fmnist", ("resnet20", "en1_resnet20", "en2_resnet20", "en5_resnet20")),
             _model("ens2_resnet20_nonoise", "configs/fmnist/ens2_resnet20_nonoise.toml",
                   "2xResNet20 (joint, no noise)")),
            FMNIST_SCALES,
            "smoke",
            transfer=(("resnet20", "en2_resnet20"), ("en2_resnet20", "resnet20")),
            examples=("resnet20", "en2_resnet20"),
            natural_models=tuple(_model(k, f"configs/fmnist/{k}.toml", f"{_label(k.removesuffix('_natural'))} "
                                        "(natural training)") for k in NATURAL_FMNIST),
            claims=_fmnist_claims(),
        ),
        Study(
            "cifar10-table1",
            "CIFAR-10, naturally trained ResNets and EnResNets: natural accuracy (Table 1)",
            _models("cifar10/table1", ("resnet20", "resnet44", "resnet110", "en1_resnet20", "en1_resnet44",
                                       "en2_resnet20", "en2_resnet44", "en2_resnet110", "en5_resnet20")),
            {"full": GPU_FULL}, "full", attacks=(), autoattack=False,
        ),
        Study(
            "cifar10-table2",
            "CIFAR-10, PGD adversarially trained ResNets and EnResNets: white-box (Table 2) and blind "
            "attacks (Table 3)",
            _models("cifar10/table2", ("resnet20", "resnet44", "resnet110", "en1_resnet20", "en1_resnet44",
                                       "en2_resnet20", "en2_resnet44", "en2_resnet110", "en5_resnet20",
                                       "en1_wrn34_10")),
            {"full": GPU_FULL}, "full",
            transfer=(("resnet20", "en5_resnet20"), ("en5_resnet20", "resnet20"),
                      ("resnet44", "en2_resnet44"), ("en2_resnet44", "resnet44"),
                      ("resnet110", "en2_resnet110"), ("en2_resnet110", "resnet110")),
            examples=("resnet20", "en5_resnet20"),
        ),
        Study(
            "cifar10-table7",
            "CIFAR-10, integration of separately trained EnResNets (Table 7; members from Table 2 configs)",
            t7_members, {"full": GPU_FULL}, "full", integrations=t7_rows,
        ),
        Study(
            "cifar100-table4",
            "CIFAR-100, naturally trained ResNets and EnResNets: natural accuracy (Table 4)",
            _models("cifar100/table4", ("resnet20", "resnet44", "en2_resnet20", "en5_resnet20")),
            {"full": GPU_FULL}, "full", attacks=(), autoattack=False,
        ),
        Study(
            "cifar100-table5",
            "CIFAR-100, PGD adversarially trained ResNets and EnResNets: white-box (Table 5) and blind "
            "attacks (Table 6)",
            _models("cifar100/table5", ("resnet20", "resnet44", "en2_resnet20", "en5_resnet20")),
            {"full": GPU_FULL}, "full",
            transfer=(("resnet20", "en2_resnet20"), ("en2_resnet20", "resnet20")),
            examples=("resnet20", "en5_resnet20"),
        ),
    )}


def get_study(name: str) -> Study:
    known = studies()
    if name not in known:
        raise ConfigError(f"unknown study {name!r}; choose one of {', '.join(known)}")
    return known[name]
