"""The evaluation protocol: attack names, their settings, and the one factory that builds them.

Attack names (comma-separated on the command line):

=============  ==============================================================
``fgsm``       FGSM, Eq. (15)
``ifgsmN``     IFGSM with N steps from x, Eq. (16); ``ifgsm`` = ``ifgsm20`` (the paper's IFGSM^20)
``pgdN``       IFGSM with N steps from a uniform random start; ``pgd`` = ``pgd20``
``cw``         the paper's C&W, Eq. (18): 50 Adam steps, lr 6e-4, c = 10, kappa = 0
``cwinfN``     PGD on the C&W margin loss (CW_inf); ``cwinf`` = ``cwinf20``
``apgd-ceN``   Auto-PGD on the cross-entropy (Croce & Hein 2020), N iterations; ``apgd-ce`` = 100
``apgd-dlrN``  Auto-PGD on the DLR loss, N iterations; ``apgd-dlr`` = 100
``autoattack`` AutoAttack: 'rand' (APGD-CE, APGD-DLR, EOT 20) for stochastic models, 'standard' otherwise
=============  ==============================================================

Every attack of an evaluation has the same eps and alpha
(:mod:`.budget`; at another eps, :meth:`AttackSettings.at_eps` scales alpha
by the budget's one rule) and, on a stochastic model, averages its gradients
over ``eot`` draws (AutoAttack: ``autoattack_eot``). :func:`build_attack` is
the one place an attack is made from a name: evaluation, sanity checks,
figures and training validation all call it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from torch import nn

from ..attacks import APGD, CW, FGSM, IFGSM, Attack, CWInf
from ..errors import ConfigError
from .budget import PAPER_ALPHA, PAPER_EPS, scaled_alpha

ATTACK_FORMS = ("fgsm", "ifgsm[N]", "pgd[N]", "cw", "cwinf[N]", "apgd-ce[N]", "apgd-dlr[N]", "autoattack")
_NAME = re.compile(r"^(?P<kind>fgsm|ifgsm|pgd|cwinf|cw|apgd-ce|apgd-dlr|autoattack)(?P<steps>\d+)?$")
_DEFAULT_STEPS = {"ifgsm": 20, "pgd": 20, "cwinf": 20, "apgd-ce": 100, "apgd-dlr": 100}
MAX_STEPS = 10_000
"""The most iterations an attack name may ask for (a bound, so that no evaluation runs unbounded)."""
_DISPLAY = {"fgsm": "FGSM", "ifgsm": "IFGSM", "pgd": "PGD", "cw": "C&W", "cwinf": "CW_inf",
            "apgd-ce": "APGD-CE", "apgd-dlr": "APGD-DLR", "autoattack": "AutoAttack"}
PAPER_ATTACKS = ("fgsm", "ifgsm20", "cw")
"""The paper's white-box attacks (Table 2)."""
DEFAULT_ATTACKS = (*PAPER_ATTACKS, "apgd-ce100", "apgd-dlr100")
"""The default: the paper's columns and AutoAttack's two APGD attacks at its iterations, with the evaluation's
EOT (docs/evaluation.md, "Default attacks", for the measurement behind this choice)."""


@dataclass(frozen=True)
class AttackSettings:
    """What every attack of one evaluation shares."""

    eps: float = PAPER_EPS
    alpha: float = PAPER_ALPHA
    eot: int = 1
    """Noise draws per attack gradient on a stochastic model (paper: 5)."""
    eot_batch: int | None = None
    """At most this many draws per forward pass (None: all at once)."""
    check_draws: int = 10
    """Predictions that decide whether an AutoAttack candidate fools a stochastic model."""
    bf16: bool = False
    """Attack gradients from bf16 autocast forward passes (predictions stay fp32): :attr:`Attack.bf16`."""
    autoattack_iterations: int = 100
    """APGD iterations inside AutoAttack (and FAB's in 'standard'); AutoAttack's own: 100."""
    autoattack_eot: int = 20
    """EOT draws inside AutoAttack 'rand'; AutoAttack's own: 20."""
    autoattack_queries: int = 5000
    """Square's queries inside AutoAttack 'standard'; AutoAttack's own: 5000."""
    model_mode: str = "eval"
    """BatchNorm mode of the model during the attack (:attr:`Attack.model_mode`): "eval" in every evaluation;
    "train" for PGD adversarial training with ``train.attack_bn_mode = "train"``."""
    clip_start: bool = False
    """``pgdN``/``ifgsmN``/``cwinfN``: clamp a random start to [0, 1] (:class:`~enresnet.attacks.IFGSM`)."""

    @property
    def autoattack_full(self) -> bool:
        return (self.autoattack_iterations, self.autoattack_eot, self.autoattack_queries) == (100, 20, 5000)

    def at_eps(self, eps: float) -> AttackSettings:
        """The same settings at budget ``eps``, alpha in the same proportion to it (:func:`.budget.scaled_alpha`)."""
        return replace(self, eps=eps, alpha=scaled_alpha(eps, self.eps, self.alpha))


def parse_attacks(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"fgsm,ifgsm20,cw"`` (or a list of names) -> canonical names; an unknown name lists the valid forms."""
    if isinstance(text, (list, tuple)):
        if not all(isinstance(t, str) for t in text):
            raise ConfigError(f"attacks must be names (strings), got {text!r}; valid: {', '.join(ATTACK_FORMS)}")
        text = ",".join(text)
    if not isinstance(text, str):
        raise ConfigError(f"attacks must be a comma-separated string or a list of names, got {text!r}; "
                          f"valid: {', '.join(ATTACK_FORMS)}")
    names = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        match = _NAME.match(name)
        if match is None or (match["steps"] and match["kind"] not in _DEFAULT_STEPS):
            raise ConfigError(f"unknown attack {raw.strip()!r}; valid attacks: {', '.join(ATTACK_FORMS)}")
        if match["kind"] in _DEFAULT_STEPS:
            steps = int(match["steps"] or _DEFAULT_STEPS[match["kind"]])
            if not 1 <= steps <= MAX_STEPS:
                raise ConfigError(f"attack {raw.strip()!r}: steps must be in [1, {MAX_STEPS}], got {steps}")
            name = f"{match['kind']}{steps}"
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


def forward_backward_passes(name: str, settings: AttackSettings, stochastic: bool) -> int:
    """Forward-backward passes per image of attack ``name`` (an estimate of its cost; AutoAttack's worst case
    counts 'rand' only, 'standard' stops early on most images)."""
    match = _NAME.match(name)
    kind, eot = match["kind"], settings.eot if stochastic else 1
    if kind == "fgsm":
        return eot
    if kind == "cw":
        return 50 * eot
    if kind == "autoattack":
        return 2 * settings.autoattack_iterations * (settings.autoattack_eot if stochastic else 1)
    return int(match["steps"]) * eot


def build_attack(name: str, model: nn.Module, settings: AttackSettings, stochastic: bool | None = None,
                 progress: bool = False) -> Attack:
    """The attack ``name`` (canonical, from :func:`parse_attacks`) on ``model``; ``stochastic`` as measured
    (None: the attack measures it on its first batch); ``progress``: AutoAttack shows its iterations."""
    match = _NAME.match(name)
    if match is None:
        raise ConfigError(f"unknown attack {name!r}; valid attacks: {', '.join(ATTACK_FORMS)}")
    return _make(match, model, settings, stochastic, progress)


def _make(match: re.Match, model: nn.Module, s: AttackSettings, stochastic: bool | None, progress: bool) -> Attack:
    kind = match["kind"]
    eot = dict(eot_samples=s.eot, eot_batch=s.eot_batch, stochastic=stochastic, model_mode=s.model_mode,
               bf16=s.bf16)
    if kind == "fgsm":
        return FGSM(model, eps=s.eps, **eot)
    if kind == "cw":
        return CW(model, eps=s.eps, **eot)
    if kind == "autoattack":
        from .autoattack import AutoAttack

        return AutoAttack(model, eps=s.eps, check_draws=s.check_draws, n_iter=s.autoattack_iterations,
                          eot_iter=s.autoattack_eot, n_queries=s.autoattack_queries, eot_batch=s.eot_batch,
                          stochastic=stochastic, model_mode=s.model_mode, bf16=s.bf16, progress=progress)
    steps = int(match["steps"])
    if kind in ("apgd-ce", "apgd-dlr"):
        return APGD(model, eps=s.eps, loss=kind.removeprefix("apgd-"), steps=steps, **eot)
    cls = CWInf if kind == "cwinf" else IFGSM
    return cls(model, eps=s.eps, alpha=s.alpha, steps=steps, random_start=kind == "pgd", clip_start=s.clip_start,
               **eot)
