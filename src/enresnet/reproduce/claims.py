"""The paper's claims, judged on a study's own numbers: paired tests on the same images.

Each :class:`~.studies.PairedClaim` says one accuracy is higher than another (noise raises robust
accuracy, Table 2; blind attacks are weaker, Table 3; ...). Both accuracies are read image by image
from the study's tables (an image counts when it is right in every prediction draw, the rule of the
headline column), on the images both were measured on (the first ``n`` test images), and compared
with McNemar's exact test (:mod:`enresnet.evaluate.paired`). The p-values of all the study's paired
claims are Holm-adjusted together, so the chance that any "holds" / "does not hold" verdict is
wrong stays <= 5%. A :class:`~.studies.BoundClaim` ("IFGSM^20 leaves ~0 accuracy", Sec. 4.4) is
judged by where the 95% Wilson interval lies against its bound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..evaluate.accuracy import AccuracyStats, wilson_interval
from ..evaluate.paired import CANNOT_TELL, FAILS, HOLDS, PairedComparison, holm, mcnemar
from ..evaluate.protocol import display_name
from .studies import BoundClaim, Measure, PairedClaim, Study

Results = dict[str, dict[str, dict[str, AccuracyStats]]]
"""{table: {model key (transfer: ``target<-oracle``): {column: stats}}}, as the runner collects them."""

LEVEL = 0.05


def result_key(measure: Measure) -> str:
    return measure.model if measure.oracle is None else f"{measure.model}<-{measure.oracle}"


def lookup(results: Results, measure: Measure) -> AccuracyStats | None:
    """The stats ``measure`` names, or None when this run did not measure it (a model the scale skips)."""
    stats = results.get(measure.table, {}).get(result_key(measure), {}).get(measure.column)
    return stats if stats is not None and stats.per_image is not None else None


def describe(study: Study, measure: Measure) -> str:
    column = "natural" if measure.column == "clean" else display_name(measure.column)
    model = study.model(measure.model).label
    if measure.oracle is not None:
        return f"{model}, {column} made on {study.model(measure.oracle).label} (blind)"
    return f"{model}, {column}"


@dataclass(frozen=True)
class Verdict:
    """One judged claim, ready for the table and ``claims.json``."""

    claim: str
    source: str
    paper: str
    comparison: str
    n: int
    accuracy: tuple[float, ...]
    intervals: tuple[tuple[float, float], ...]
    discordant: tuple[int, int] | None
    p_value: float | None
    p_holm: float | None
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _percent(stats_mean: float, interval: tuple[float, float]) -> str:
    return f"{100 * stats_mean:.1f} [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def judge(study: Study, results: Results) -> list[Verdict]:
    """Every claim of ``study`` whose accuracies this run measured, with its verdict."""
    paired: list[tuple[PairedClaim, PairedComparison, str]] = []
    for claim in study.claims:
        if not isinstance(claim, PairedClaim):
            continue
        higher, lower = lookup(results, claim.higher), lookup(results, claim.lower)
        if higher is None or lower is None:
            continue
        n = min(higher.n, lower.n)
        comparison = mcnemar(higher.robust_images[:n], lower.robust_images[:n])
        paired.append((claim, comparison, f"{describe(study, claim.higher)} vs {describe(study, claim.lower)}"))
    adjusted = holm([c.p_value for _, c, _ in paired])
    verdicts = []
    for (claim, c, text), p_holm in zip(paired, adjusted):
        intervals = tuple(wilson_interval(a * c.n, c.n) for a in (c.accuracy_a, c.accuracy_b))
        verdicts.append(Verdict(claim.text, claim.source, claim.paper, text, c.n, (c.accuracy_a, c.accuracy_b),
                                intervals, (c.only_a, c.only_b), c.p_value, p_holm,
                                c.verdict(claim_a_better=True, level=LEVEL, p_value=p_holm)))
    for claim in study.claims:
        if isinstance(claim, BoundClaim) and (stats := lookup(results, claim.measure)) is not None:
            accuracy = float(stats.robust_images.double().mean())
            low, high = wilson_interval(accuracy * stats.n, stats.n)
            verdict = HOLDS if high < claim.below else FAILS if low > claim.below else CANNOT_TELL
            verdicts.append(Verdict(claim.text, claim.source, claim.paper,
                                    f"{describe(study, claim.measure)} < {100 * claim.below:g}%", stats.n,
                                    (accuracy,), ((low, high),), None, None, None, verdict))
    return verdicts


def markdown(verdicts: list[Verdict]) -> str:
    lines = ["| claim (paper) | comparison: A vs B | images | A, B: accuracy % [95% CI] | only A / only B | "
             "p (McNemar) | p (Holm) | verdict | paper, CIFAR-10 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for v in verdicts:
        accuracies = ", ".join(_percent(a, i) for a, i in zip(v.accuracy, v.intervals))
        discordant = "-" if v.discordant is None else f"{v.discordant[0]} / {v.discordant[1]}"
        p = "-" if v.p_value is None else f"{v.p_value:.2g}"
        p_holm = "-" if v.p_holm is None else f"{v.p_holm:.2g}"
        lines.append(f"| {v.claim} ({v.source}) | {v.comparison} | {v.n} | {accuracies} | {discordant} | {p} | "
                     f"{p_holm} | **{v.verdict}** | {v.paper} |")
    lines += ["", (f"Accuracy here counts an image only if it is right in every prediction draw (the headline's "
                   f"rule), on the first n test images both accuracies were measured on. A paired claim says A > B; "
                   f"McNemar's exact test uses only the images where A and B disagree (only A: right under A, wrong "
                   f"under B). Verdicts use the Holm-adjusted p-values of all paired claims together at "
                   f"{LEVEL:g}: '{HOLDS}' (A > B, significant), '{FAILS}' (B > A, significant), '{CANNOT_TELL}'. "
                   f"A bound claim holds when the whole 95% Wilson interval lies below the bound and does not "
                   f"hold when it lies wholly above.")]
    return "\n".join(lines) + "\n"


def write_claims(out: Path, verdicts: list[Verdict]) -> Path:
    """``claims.json`` and ``claims.md`` under ``out``; returns the Markdown path."""
    atomic_write_text(out / "claims.json", json.dumps([v.as_dict() for v in verdicts], indent=2) + "\n")
    path = out / "claims.md"
    atomic_write_text(path, markdown(verdicts))
    return path
