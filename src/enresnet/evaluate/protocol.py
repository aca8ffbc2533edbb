"""The evaluation protocol: attack names, their paper settings, and eps defaults by dataset.

Attack names (comma-separated on the command line):

=============  ==============================================================
``fgsm``       FGSM, Eq. (15)
``ifgsmN``     IFGSM with N steps from x, Eq. (16); ``ifgsm`` = ``ifgsm20`` (the paper's IFGSM^20)
``pgdN``       IFGSM with N steps from a uniform random start; ``pgd`` = ``pgd20``
``cw``         the paper's C&W, Eq. (18): 50 Adam steps, lr 6e-4, c = 10, kappa = 0
``cwinfN``     PGD on the C&W margin loss (CW_inf); ``cwinf`` = ``cwinf20``
``autoattack`` AutoAttack (Croce & Hein 2020): 'rand' for noisy models, 'standard' otherwise
=============  ==============================================================

Every attack has the same eps. Defaults: eps = 8/255, alpha = 2/255 (paper,
CIFAR); for Fashion-MNIST the convention eps = 0.1, alpha = 0.01. A given eps
without alpha scales the dataset's alpha in proportion.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from torch import nn

from ..attacks import CW, FGSM, IFGSM, Attack, CWInf
from ..errors import ConfigError

ATTACK_FORMS = ("fgsm", "ifgsm[N]", "pgd[N]", "cw", "cwinf[N]", "autoattack")
_NAME = re.compile(r"^(?P<kind>fgsm|ifgsm|pgd|cwinf|cw|autoattack)(?P<steps>\d+)?$")
_ITERATIVE = ("ifgsm", "pgd", "cwinf")
DEFAULT_STEPS = 20
_DISPLAY = {"fgsm": "FGSM", "ifgsm": "IFGSM", "pgd": "PGD", "cw": "C&W", "cwinf": "CW_inf", "autoattack": "AutoAttack"}

PAPER_EPS, PAPER_ALPHA = 8 / 255, 2 / 255
_DATASET_EPS = {"fashion_mnist": (0.1, 0.01, "Fashion-MNIST convention")}


@dataclass(frozen=True)
class AttackSettings:
    """What every attack of one evaluation shares."""

    eps: float = PAPER_EPS
    alpha: float = PAPER_ALPHA
    eot: int = 1
    eot_batch: int | None = None
    check_draws: int = 10
    """Noise draws for deciding whether an adversarial example fools a noisy model (AutoAttack)."""
    bf16: bool = False
    """Attack gradients from bf16 autocast forward passes (predictions stay fp32): :attr:`Attack.bf16`."""


def default_budget(dataset: str, eps: float | None = None, alpha: float | None = None) -> tuple[float, float, str]:
    """(eps, alpha, note saying where they come from) for ``dataset``; a given value must be in (0, 1]."""
    for name, value in (("eps", eps), ("alpha", alpha)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 1):
            raise ConfigError(f"{name} must be in (0, 1] (pixel units, e.g. 8/255 = {8 / 255:.4f}), got {value!r}")
    base_eps, base_alpha, source = _DATASET_EPS.get(dataset, (PAPER_EPS, PAPER_ALPHA, "paper default (CIFAR)"))
    if eps is None:
        eps_note = f"eps = {_fmt(base_eps)} ({source})"
        eps = base_eps
    else:
        eps_note = f"eps = {_fmt(eps)} (given)"
    if alpha is None:
        alpha = base_alpha * eps / base_eps if base_eps else base_alpha
        alpha_note = f"alpha = {_fmt(alpha)} ({'scaled with eps from ' if eps != base_eps else ''}{source})"
    else:
        alpha_note = f"alpha = {_fmt(alpha)} (given)"
    return eps, alpha, f"{eps_note}; {alpha_note}"


def _fmt(value: float) -> str:
    """``8/255`` for a whole number of grey levels below 0.1, else the decimal."""
    scaled = value * 255
    return f"{round(scaled)}/255" if abs(scaled - round(scaled)) < 1e-6 and value < 0.1 else f"{value:g}"


def parse_attacks(text: str) -> list[str]:
    """``"fgsm,ifgsm20,cw"`` -> canonical names; an unknown name lists the valid forms."""
    names = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        match = _NAME.match(name)
        if match is None or (match["steps"] and match["kind"] not in _ITERATIVE) or match["steps"] == "0":
            raise ConfigError(f"unknown attack {raw.strip()!r}; valid attacks: {', '.join(ATTACK_FORMS)}")
        if match["kind"] in _ITERATIVE:
            name = f"{match['kind']}{int(match['steps'] or DEFAULT_STEPS)}"
        if name not in names:
            names.append(name)
    if not names:
        raise ConfigError(f"no attack given; valid attacks: {', '.join(ATTACK_FORMS)}")
    return names


def display_name(name: str) -> str:
    """``ifgsm20`` -> ``IFGSM^20`` (the paper's notation)."""
    match = _NAME.match(name)
    label = _DISPLAY[match["kind"]]
    return f"{label}^{match['steps']}" if match["steps"] else label


def build_attack(name: str, model: nn.Module, settings: AttackSettings) -> Attack:
    """The attack ``name`` (canonical, from :func:`parse_attacks`) on ``model``."""
    match = _NAME.match(name)
    if match is None:
        raise ConfigError(f"unknown attack {name!r}; valid attacks: {', '.join(ATTACK_FORMS)}")
    attack = _make(match, model, settings)
    attack.bf16 = settings.bf16
    return attack


def _make(match: re.Match, model: nn.Module, s: AttackSettings) -> Attack:
    kind = match["kind"]
    eot = dict(eot_samples=s.eot, eot_batch=s.eot_batch)
    if kind == "fgsm":
        return FGSM(model, eps=s.eps, **eot)
    if kind == "cw":
        return CW(model, eps=s.eps, **eot)
    if kind == "autoattack":
        from .autoattack import AutoAttack

        return AutoAttack(model, eps=s.eps, check_draws=s.check_draws)
    steps = int(match["steps"])
    cls = CWInf if kind == "cwinf" else IFGSM
    return cls(model, eps=s.eps, alpha=s.alpha, steps=steps, random_start=kind == "pgd", **eot)
