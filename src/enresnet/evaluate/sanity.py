"""Sanity checks that flag an evaluation which likely overstates robustness.

After Carlini et al. 2019 ("On Evaluating Adversarial Robustness", Sec. 5) and
AutoAttack's checks (Croce & Hein 2020), and the paper's own gradient-masking
check (Sec. 4.4). Each check compares accuracies under IFGSM variants on a
small subset of the evaluation images (the reference attack: IFGSM with
``steps`` steps, the evaluation's eps, alpha and EOT samples):

* ``eps-sweep``: accuracy does not rise with eps, and at eps = 0.5 (every pixel
  may move to mid-grey and beyond) it is ~0 (<= ``zero_accuracy``).
* ``iterations``: ``iteration_factor`` times more steps do not raise accuracy.
* ``transfer``: adversarial images made on a surrogate (a given one, or the same
  model with its noise switched off) do not beat the white-box attack.
* ``eot``: more EOT samples (1, 5, 20) do not raise accuracy (noisy models).
* ``random-noise``: random l_inf noise of the same size (random corners of the
  eps-ball) does not hurt more than the attack.

"A does not exceed B" is judged with a tolerance: two images of the subset,
and for a noisy model at least ``z`` binomial standard errors of the
difference, sqrt((p_A (1-p_A) + p_B (1-p_B)) / n), since its accuracies are
sample means over random predictions.

Power: a check that passes is only worth something if it could have failed.
Every check reports whether it was *conclusive*: each of its comparisons had a
tolerance of at most ``max_slack`` (15 points), and the eps sweep's "~0 at a
large eps" had the resolution to see 5% (at least 20 images). A passing check
that was not conclusive reads "too few images", never "ok"; a failing check
is a FLAG at any size (the difference exceeded even the large tolerance). With
the default tolerance a deterministic model needs 14 images, a noisy one about
200 (at accuracies near 50%; fewer near 0 or 100%).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ..data import ImageDataset, to_float
from ..models import has_noise, set_noise
from ..models.randomness import is_stochastic
from .accuracy import AccuracyStats, attacked_accuracy
from .protocol import AttackSettings, build_attack
from .runner import seeded

LARGE_EPS = 0.5
TOO_FEW = "too few images"


@dataclass(frozen=True)
class Check:
    """One sanity check: ``passed`` is None when the check does not apply."""

    name: str
    passed: bool | None
    numbers: dict[str, Any]
    explanation: str
    conclusive: bool = True
    """Whether the check could have failed at the size it ran (see the module doc)."""

    @property
    def flag(self) -> str:
        if self.passed is True and not self.conclusive:
            return TOO_FEW
        return {True: "ok", False: "FLAG", None: "n/a"}[self.passed]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "flag": self.flag, "passed": self.passed, "conclusive": self.conclusive,
                "numbers": self.numbers, "explanation": self.explanation}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        """The inverse of :meth:`as_dict`."""
        return cls(data["name"], data["passed"], data["numbers"], data["explanation"], data.get("conclusive", True))


@dataclass(frozen=True)
class SanitySettings:
    steps: int = 10
    eps_scales: tuple[float, ...] = (1, 2, 4)
    iteration_factor: int = 4
    eot_samples: tuple[int, ...] = (1, 5, 20)
    z: float = 3.0
    max_slack: float = 0.15
    """The largest tolerance with which a comparison still counts as a test (module doc)."""
    zero_accuracy: float = 0.05
    natural_threshold: float = 0.02
    """Sec. 4.4: IFGSM^20 on naturally trained EnResNets left 0-0.03% accuracy."""
    seed: int = 0
    batch_size: int = 128
    repeats: int = 1


def tolerance(a: AccuracyStats, b: AccuracyStats, noisy: bool, z: float) -> float:
    """Slack allowed when checking ``a <= b`` (module docstring)."""
    slack = 2 / a.n
    if noisy:
        slack = max(slack, z * math.sqrt((a.mean * (1 - a.mean) + b.mean * (1 - b.mean)) / a.n))
    return slack


def _pct(stats: AccuracyStats) -> float:
    return round(100 * stats.mean, 2)


@dataclass
class SanitySuite:
    """Runs the checks of the module docstring on ``model`` and ``data`` (a small subset)."""

    model: nn.Module
    data: ImageDataset
    attack: AttackSettings
    settings: SanitySettings = field(default_factory=SanitySettings)
    surrogate: nn.Module | None = None
    stochastic: bool | None = None
    """Whether the model is stochastic, as the evaluation measured it; None: measured here."""
    _cache: dict[tuple, AccuracyStats] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.stochastic is None:
            self.stochastic = is_stochastic(self.model, to_float(self.data.images[:16]))

    @property
    def noisy(self) -> bool:
        return bool(self.stochastic)

    @staticmethod
    def passes_per_image(settings: SanitySettings, attack: AttackSettings, stochastic: bool,
                         surrogate: bool) -> int:
        """Forward-backward passes per image of :meth:`run` (an estimate: the attacks' gradients only)."""
        eot = attack.eot if stochastic else 1
        epss = {attack.eps * s for s in settings.eps_scales} | {max(LARGE_EPS, attack.eps)}
        passes = len(epss) * settings.steps * eot + settings.steps * settings.iteration_factor * eot
        if surrogate or stochastic:
            passes += settings.steps * eot
        if stochastic:
            passes += sum(settings.steps * k for k in set(settings.eot_samples) - {attack.eot})
        return passes

    def _accuracy(self, key: tuple, attack: Callable | None) -> AccuracyStats:
        if key not in self._cache:
            s = self.settings
            with seeded(s.seed, self.data.images.device):
                self._cache[key] = attacked_accuracy(
                    self.model, self.data, attack, repeats=s.repeats, batch_size=s.batch_size,
                    stochastic=self.stochastic,
                )
        return self._cache[key]

    def ifgsm(self, eps: float | None = None, steps: int | None = None, eot: int | None = None,
              source: nn.Module | None = None) -> AccuracyStats:
        """Accuracy under IFGSM made on ``source`` (default: the model), alpha scaled with eps."""
        a = self.attack
        eps = a.eps if eps is None else eps
        steps = self.settings.steps if steps is None else steps
        eot = a.eot if eot is None else eot
        stochastic = self.stochastic if source is None else None
        source = self.model if source is None else source
        settings = replace(a.at_eps(eps), eot=eot)
        attack = build_attack(f"ifgsm{steps}", source, settings, stochastic)
        return self._accuracy(("ifgsm", eps, steps, eot, id(source)), attack)

    def judge(self, pairs: Iterable[tuple[AccuracyStats, AccuracyStats]], resolves: bool = True) -> tuple[bool, bool]:
        """(whether ``a`` does not exceed ``b`` within :func:`tolerance` for every pair ``(a, b)``, whether that
        judgement could have failed: every tolerance it used was at most ``max_slack``, and ``resolves``).

        The pairs after the first that fails are not judged (the check fails whatever they say), so their
        tolerances do not count.
        """
        slacks = []
        holds = True
        for a, b in pairs:
            slacks.append(tolerance(a, b, self.noisy, self.settings.z))
            if a.mean > b.mean + slacks[-1]:
                holds = False
                break
        return holds, resolves and all(slack <= self.settings.max_slack for slack in slacks)

    def run(self, progress: bool = False) -> list[Check]:
        """Every check, in order; ``progress`` shows a bar over them (each runs several attacks)."""
        checks = (self.eps_sweep, self.iterations, self.transfer, self.eot, self.random_noise)
        bar = tqdm(checks, desc=f"sanity ({len(self.data)} images)", unit="check", disable=not progress)
        results = []
        for check in bar:
            bar.set_postfix(check=check.__name__.replace("_", "-"), refresh=True)
            results.append(check())
        return results

    def eps_sweep(self) -> Check:
        epss = sorted({self.attack.eps * s for s in self.settings.eps_scales} | {max(LARGE_EPS, self.attack.eps)})
        accs = [self.ifgsm(eps=e) for e in epss]
        vanishes = accs[-1].mean <= self.settings.zero_accuracy
        resolves = len(self.data) * self.settings.zero_accuracy >= 1
        monotone, conclusive = self.judge(((b, a) for a, b in zip(accs, accs[1:])), resolves)
        why = []
        if not monotone:
            why.append("accuracy rose with eps")
        if not vanishes:
            why.append(f"accuracy at eps={epss[-1]:g} is above {100 * self.settings.zero_accuracy:g}%")
        return Check(
            "eps-sweep",
            monotone and vanishes,
            {"eps": [round(e, 4) for e in epss], "accuracy_%": [_pct(a) for a in accs]},
            "; ".join(why) + " (masked or obfuscated gradients?)" if why
            else "accuracy falls with eps and reaches ~0 for a large eps",
            conclusive,
        )

    def iterations(self) -> Check:
        few, many = self.settings.steps, self.settings.steps * self.settings.iteration_factor
        a, b = self.ifgsm(steps=few), self.ifgsm(steps=many)
        passed, conclusive = self.judge([(b, a)])
        return Check(
            "iterations",
            passed,
            {"steps": [few, many], "accuracy_%": [_pct(a), _pct(b)]},
            f"{many} steps do not raise accuracy over {few}" if passed
            else "more steps raised accuracy: the attack does not converge (noisy or masked gradients?)",
            conclusive,
        )

    def transfer(self) -> Check:
        surrogate, label = self.surrogate, "given surrogate"
        if surrogate is None and has_noise(self.model):
            surrogate, label = copy.deepcopy(self.model), "same model, noise off"
            set_noise(surrogate, False)
        if surrogate is None:
            return Check("transfer", None, {}, "no surrogate given and no noise injection to switch off")
        white, blind = self.ifgsm(), self.ifgsm(source=surrogate)
        passed, conclusive = self.judge([(white, blind)])
        return Check(
            "transfer",
            passed,
            {"surrogate": label, "white_box_%": _pct(white), "transfer_%": _pct(blind)},
            "the white-box attack is at least as strong as the transfer attack" if passed
            else "a transfer attack beats the white-box one: white-box gradients are not useful (masking?)",
            conclusive,
        )

    def eot(self) -> Check:
        if not self.noisy:
            return Check("eot", None, {}, "deterministic model: EOT does not apply")
        ks = self.settings.eot_samples
        accs = [self.ifgsm(eot=k) for k in ks]
        passed, conclusive = self.judge((b, a) for a, b in zip(accs, accs[1:]))
        return Check(
            "eot",
            passed,
            {"eot_samples": list(ks), "accuracy_%": [_pct(a) for a in accs]},
            "more EOT samples do not raise accuracy" if passed
            else "more EOT samples raised accuracy: the gradient estimate is too noisy or misleading",
            conclusive,
        )

    def random_noise(self) -> Check:
        eps = self.attack.eps

        def corners(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            signs = torch.randint(0, 2, images.shape, device=images.device) * 2 - 1
            return (images + eps * signs).clamp(0, 1)

        noise, attack = self._accuracy(("noise", eps), corners), self.ifgsm()
        passed, conclusive = self.judge([(attack, noise)])
        return Check(
            "random-noise",
            passed,
            {"random_noise_%": _pct(noise), "attack_%": _pct(attack)},
            "the attack hurts more than random noise of the same size" if passed
            else "random noise hurts more than the attack: its gradients are useless (masking?)",
            conclusive,
        )


def natural_model_check(model: nn.Module, data: ImageDataset, attack: AttackSettings,
                        settings: SanitySettings = SanitySettings(), stochastic: bool | None = None) -> Check:
    """The paper's check (Sec. 4.4): IFGSM^20 must leave a NATURALLY trained model ~0 accuracy."""
    suite = SanitySuite(model, data, attack, replace(settings, steps=20), stochastic=stochastic)
    stats = suite.ifgsm()
    passed = stats.mean <= settings.natural_threshold
    resolves = len(data) * settings.natural_threshold >= 1
    return Check(
        "natural-model",
        passed,
        {"ifgsm20_%": _pct(stats), "threshold_%": 100 * settings.natural_threshold},
        "IFGSM^20 fools the naturally trained model: no sign of gradient masking" if passed
        else "IFGSM^20 leaves a naturally trained model accurate: gradients are masked or obfuscated",
        resolves,
    )
