"""The paper's claims, judged on a study's own tables: paired tests on the same images.

Each :class:`~.studies.PairedClaim` says one accuracy is higher than another (noise raises robust
accuracy, Table 2; blind attacks are weaker, Table 3; ...). Both are read from the study's written
tables (``whitebox.json``, ``natural.json``, ``transfer.json``), image by image, on the images both
were measured on (the first ``n`` test images). An image's score is the fraction of its prediction
draws that were right, so each side is compared on the paper's measure (its accuracy is the mean
over draws) and a noisy model is not held to a stricter rule than a deterministic one. The test is
the paired sign-flip test (:func:`enresnet.evaluate.paired.sign_flip`: McNemar's exact test when
both sides are deterministic). The p-values of one family of claims (the paper's; the attacks')
are Holm-adjusted together, so within a family the chance that any "holds" / "does not hold"
verdict is wrong stays <= 5%. A :class:`~.studies.BoundClaim` ("IFGSM^20 leaves ~0 accuracy",
Sec. 4.4) is judged alone, by where the 95% interval of its mean accuracy lies against the bound.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write_text
from ..evaluate.accuracy import AccuracyStats, mean_interval, worst_case
from ..evaluate.paired import CANNOT_TELL, FAILS, HOLDS, PairedComparison, holm, sign_flip
from ..evaluate.protocol import DEFAULT_ATTACKS, display_name
from ..evaluate.tables import Row
from .studies import HEADLINE, BoundClaim, Measure, PairedClaim, Study

Results = dict[str, dict[str, dict[str, AccuracyStats]]]
"""{table: {model key (transfer: ``target<-oracle``): {column: stats}}}."""

TABLES = ("whitebox", "natural", "transfer")
LEVEL = 0.05


def result_key(model: str, oracle: str | None = None) -> str:
    """A model's key in :data:`Results`; a transfer row's is ``target<-oracle``."""
    return model if oracle is None else f"{model}<-{oracle}"


def read_tables(out: Path, study: Study) -> Results:
    """The accuracies of the tables a study wrote under ``out``, keyed by model key (rows name labels)."""
    keys = {m.label: m.key for m in (*study.models, *study.natural_models)}
    results: Results = {}
    for table in TABLES:
        path = Path(out) / f"{table}.json"
        if not path.is_file():
            continue
        for data in json.loads(path.read_text())["rows"]:
            row = Row.from_dict(data)
            key = result_key(keys[row.model], None if row.oracle is None else keys[row.oracle])
            results.setdefault(table, {})[key] = row.results
    return results


def lookup(results: Results, measure: Measure) -> AccuracyStats | None:
    """The stats ``measure`` names, or None when this run did not measure it (a model the scale skips; the
    headline where a default attack did not run)."""
    row = results.get(measure.table, {}).get(result_key(measure.model, measure.oracle), {})
    if measure.column == HEADLINE:
        columns = [row.get(c) for c in ("clean", *DEFAULT_ATTACKS)]
        missing = any(c is None or c.per_image is None for c in columns)
        return None if missing else worst_case(columns)
    stats = row.get(measure.column)
    return stats if stats is not None and stats.per_image is not None else None


def measure_id(measure: Measure) -> str:
    """``whitebox:en1_resnet20:ifgsm20``; transfer: ``transfer:en2_resnet20<-resnet20:ifgsm20``."""
    return f"{measure.table}:{result_key(measure.model, measure.oracle)}:{measure.column}"


def describe(study: Study, measure: Measure) -> str:
    column = {"clean": "natural", HEADLINE: "default attacks' headline"}.get(measure.column) or display_name(
        measure.column)
    model = study.model(measure.model).label
    if measure.oracle is not None:
        return f"{model}, {column} made on {study.model(measure.oracle).label} (blind)"
    return f"{model}, {column}"


@dataclass(frozen=True)
class Verdict:
    """One judged claim, as ``claims.json`` holds it."""

    claim: str
    source: str
    family: str
    paper: str
    measures: tuple[str, ...]
    """:func:`measure_id` of A (and B): which numbers were compared, for machines."""
    comparison: str
    n: int
    accuracy: tuple[float, ...]
    intervals: tuple[tuple[float, float], ...]
    wins: tuple[int, int] | None
    """Images where A scores higher, and where B does."""
    method: str | None
    p_value: float | None
    p_holm: float | None
    verdict: str


def scores(stats: AccuracyStats, n: int) -> torch.Tensor:
    """Per-image fraction of right draws on the first ``n`` images."""
    return stats.per_image[:n].double() / stats.repeats


def _paired(study: Study, results: Results) -> list[tuple[PairedClaim, PairedComparison, torch.Tensor,
                                                          torch.Tensor]]:
    judged = []
    for claim in study.claims:
        if not isinstance(claim, PairedClaim):
            continue
        a, b = lookup(results, claim.higher), lookup(results, claim.lower)
        if a is None or b is None:
            continue
        n = min(a.n, b.n)
        a_scores, b_scores = scores(a, n), scores(b, n)
        judged.append((claim, sign_flip(a_scores, b_scores), a_scores, b_scores))
    return judged


def judge(study: Study, results: Results) -> list[Verdict]:
    """Every claim of ``study`` whose accuracies ``results`` holds, with its verdict."""
    judged = _paired(study, results)
    adjusted: list[float] = [1.0] * len(judged)
    for family in {claim.family for claim, *_ in judged}:
        members = [i for i, (claim, *_) in enumerate(judged) if claim.family == family]
        for i, p in zip(members, holm([judged[i][1].p_value for i in members])):
            adjusted[i] = p
    verdicts = []
    for (claim, c, a, b), p_holm in zip(judged, adjusted):
        verdicts.append(Verdict(
            claim.text, claim.source, claim.family, claim.paper, (measure_id(claim.higher), measure_id(claim.lower)),
            f"{describe(study, claim.higher)} vs {describe(study, claim.lower)}", c.n, (c.accuracy_a, c.accuracy_b),
            (mean_interval(a), mean_interval(b)), (c.only_a, c.only_b), c.method, c.p_value, p_holm,
            c.verdict(claim_a_better=True, level=LEVEL, p_value=p_holm)))
    for claim in study.claims:
        if isinstance(claim, BoundClaim) and (stats := lookup(results, claim.measure)) is not None:
            low, high = stats.interval()
            verdict = HOLDS if high < claim.below else FAILS if low > claim.below else CANNOT_TELL
            verdicts.append(Verdict(
                claim.text, claim.source, "bound", claim.paper, (measure_id(claim.measure),),
                f"{describe(study, claim.measure)} < {100 * claim.below:g}%", stats.n, (stats.mean,),
                ((low, high),), None, None, None, None, verdict))
    return verdicts


def _percent(mean: float, interval: tuple[float, float]) -> str:
    return f"{100 * mean:.1f} [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def markdown(verdicts: list[Verdict]) -> str:
    lines = ["| claim (source) | comparison: A vs B | images | A, B: accuracy % [95% CI] | images A wins / B wins | "
             "p | p (Holm) | verdict | paper, CIFAR-10 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for v in verdicts:
        accuracies = ", ".join(_percent(a, i) for a, i in zip(v.accuracy, v.intervals))
        wins = "-" if v.wins is None else f"{v.wins[0]} / {v.wins[1]}"
        p = "-" if v.p_value is None else f"{v.p_value:.2g}"
        p_holm = "-" if v.p_holm is None else f"{v.p_holm:.2g} ({v.family})"
        lines.append(f"| {v.claim} ({v.source}) | {v.comparison} | {v.n} | {accuracies} | {wins} | {p} | "
                     f"{p_holm} | **{v.verdict}** | {v.paper} |")
    lines += ["", (
        "Accuracy is the paper's: the mean over prediction draws, with its 95% interval over the images, on the "
        "first n test images both sides were measured on. A paired claim says A > B. Each image scores the "
        "fraction of its draws that were right; the paired sign-flip test (McNemar's exact test when both sides "
        "are deterministic; else 100,000 random sign vectors) asks whether the per-image differences lean one "
        "way. 'images A wins': images where A's score is higher. Verdicts use Holm-adjusted p-values within "
        f"each family of claims (the paper's; the attacks') at {LEVEL:g}: '{HOLDS}' (A > B, significant), "
        f"'{FAILS}' (B > A, significant), '{CANNOT_TELL}'. A bound claim is judged alone: it holds when the whole "
        "95% interval lies below the bound and does not hold when it lies wholly above.")]
    return "\n".join(lines) + "\n"


def write_claims(out: Path, verdicts: list[Verdict]) -> Path:
    """``claims.json`` and ``claims.md`` under ``out``; returns the Markdown path."""
    payload: list[dict[str, Any]] = [asdict(v) for v in verdicts]
    atomic_write_text(Path(out) / "claims.json", json.dumps(payload, indent=2) + "\n")
    path = Path(out) / "claims.md"
    atomic_write_text(path, markdown(verdicts))
    return path
