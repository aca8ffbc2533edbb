"""A study of methods: the same study once per seed, its claims judged across seeds.

Layout of the output directory::

    OUT/seed-<s>/            one :class:`~.runner.Reproduction` at seed s (its runs, per-image tables,
                             per-seed claims and results.md)
    OUT/models.{md,json}     per model and column: mean accuracy over seeds and the seed-to-seed sd
    OUT/claims.{md,json}     per claim: the per-seed paired differences, their t-interval, the t-test and
                             the two one-sided tests (Holm within families), the verdict
    OUT/results.md           command, seeds, machine, CPU time, the tables above, training convergence

Seed ``s`` fixes the split, the batch order, the augmentation and the initialisation of every model
(``data.split_seed`` and ``train.seed``); every seed is evaluated on the same test images, so a claim's
difference is paired within a seed, and the seeds are its independent replicates
(:mod:`enresnet.evaluate.seed_tests`). A rerun resumes: finished seeds are skipped by their own runs.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..errors import ConfigError
from ..evaluate.paired import holm
from ..evaluate.protocol import display_name
from ..evaluate.seed_tests import LEVEL, SeedComparison
from ..locking import run_lock
from ..train.run_dir import RunDir
from .claims import Results, describe, lookup, measure_id, read_tables, scores
from .report import machine, versions
from .runner import Reproduction
from .studies import HEADLINE, Measure, PairedClaim, Scale, Study


def seed_dir(out: Path, seed: int) -> Path:
    return Path(out) / f"seed-{seed}"


@dataclass(frozen=True)
class SeedVerdict:
    """One claim judged across seeds, as ``claims.json`` holds it (differences in points, A - B)."""

    claim: str
    source: str
    family: str
    paper: str
    paper_gap: float | None
    measures: tuple[str, str]
    comparison: str
    seeds: tuple[int, ...]
    images: int
    """Test images per seed (the first ``images``, the same for every seed)."""
    accuracy: tuple[float, float]
    """Mean accuracy of A and of B over the seeds (fractions)."""
    differences: tuple[float, ...]
    """Per seed: the mean over the images of A's score minus B's, in points."""
    mean: float
    sd: float
    interval_95: tuple[float, float]
    interval_90: tuple[float, float]
    p_value: float
    p_holm: float
    margin: float
    p_equivalence: float
    p_equivalence_holm: float
    equivalence_bound: float
    """The smallest margin the two one-sided tests accept (the 90% interval's largest |end|)."""
    excludes_paper_gap: bool | None
    verdict: str


def seed_results(out: Path, study: Study, seeds: tuple[int, ...]) -> dict[int, Results]:
    """Each seed's tables (seeds without a white-box table yet are left out)."""
    return {s: read_tables(seed_dir(out, s), study) for s in seeds if (seed_dir(out, s) / "whitebox.json").is_file()}


def _differences(claim: PairedClaim, per_seed: dict[int, Results]) -> tuple[list[int], int, list[float],
                                                                              list[float], list[float]]:
    """Seeds where both sides were measured, the images all of them share, and per seed: the difference
    (points) and the two accuracies."""
    pairs = {s: (lookup(r, claim.higher), lookup(r, claim.lower)) for s, r in per_seed.items()}
    pairs = {s: (a, b) for s, (a, b) in pairs.items() if a is not None and b is not None}
    if not pairs:
        return [], 0, [], [], []
    n = min(min(a.n, b.n) for a, b in pairs.values())
    seeds = sorted(pairs)
    a_acc = [float(scores(pairs[s][0], n).mean()) for s in seeds]
    b_acc = [float(scores(pairs[s][1], n).mean()) for s in seeds]
    return seeds, n, [100 * (a - b) for a, b in zip(a_acc, b_acc)], a_acc, b_acc


def judge_seeds(study: Study, per_seed: dict[int, Results]) -> list[SeedVerdict]:
    """Every paired claim of ``study`` measured in at least 2 seeds, judged across them; Holm-adjusted within
    each family, separately for the t-tests and for the two one-sided tests."""
    judged = []
    for claim in study.claims:
        if not isinstance(claim, PairedClaim):
            continue
        seeds, n, diffs, a_acc, b_acc = _differences(claim, per_seed)
        if len(seeds) >= 2:
            judged.append((claim, seeds, n, SeedComparison(tuple(diffs), claim.margin), a_acc, b_acc))
    p_holm, p_eq_holm = [1.0] * len(judged), [1.0] * len(judged)
    for family in {claim.family for claim, *_ in judged}:
        members = [i for i, (claim, *_) in enumerate(judged) if claim.family == family]
        for i, p in zip(members, holm([judged[i][3].p_value for i in members])):
            p_holm[i] = p
        for i, p in zip(members, holm([judged[i][3].p_equivalence for i in members])):
            p_eq_holm[i] = p
    verdicts = []
    for (claim, seeds, n, c, a_acc, b_acc), p, p_eq in zip(judged, p_holm, p_eq_holm):
        verdicts.append(SeedVerdict(
            claim.text, claim.source, claim.family, claim.paper, claim.paper_gap,
            (measure_id(claim.higher), measure_id(claim.lower)),
            f"{describe(study, claim.higher)} vs {describe(study, claim.lower)}", tuple(seeds), n,
            (sum(a_acc) / len(a_acc), sum(b_acc) / len(b_acc)), c.differences, c.mean, c.sd, c.interval(0.95),
            c.interval(1 - 2 * LEVEL), c.p_value, p, c.margin, c.p_equivalence, p_eq, c.equivalence_bound,
            None if claim.paper_gap is None else c.excludes(claim.paper_gap), c.verdict(p, p_eq)))
    return verdicts


@dataclass(frozen=True)
class ModelSummary:
    """One model's column over the seeds: per-seed accuracies (fractions, on the first ``images``)."""

    model: str
    label: str
    column: str
    images: int
    seeds: tuple[int, ...]
    accuracy: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.accuracy) / len(self.accuracy)

    @property
    def sd(self) -> float | None:
        """Seed-to-seed standard deviation (None with one seed)."""
        k = len(self.accuracy)
        return math.sqrt(sum((a - self.mean) ** 2 for a in self.accuracy) / (k - 1)) if k > 1 else None


def summarise_models(study: Study, scale: Scale, per_seed: dict[int, Results]) -> list[ModelSummary]:
    """Per model and column (clean, each attack, the headline): the accuracy of every seed that measured it."""
    columns = ("clean", *(scale.attacks or study.attacks), HEADLINE)
    rows = []
    for model in study.models_at(scale):
        for column in columns:
            found = {s: lookup(r, Measure("whitebox", model.key, column)) for s, r in sorted(per_seed.items())}
            found = {s: stats for s, stats in found.items() if stats is not None}
            if not found:
                continue
            n = min(stats.n for stats in found.values())
            rows.append(ModelSummary(model.key, model.label, column, n, tuple(found),
                                     tuple(float(scores(stats, n).mean()) for stats in found.values())))
    return rows


def convergence(study: Study, scale: Scale, out: Path, seeds: tuple[int, ...]) -> list[dict[str, Any]]:
    """Per model: how much validation robust accuracy moved in each seed's last epoch (points)."""
    rows = []
    for model in study.models_at(scale):
        moves, epochs = {}, 0
        for s in seeds:
            metrics = RunDir(seed_dir(out, s) / "runs" / model.key).read_metrics()
            epochs = max(epochs, len(metrics))
            if len(metrics) >= 2 and metrics[-1].get("val_rob_acc") is not None:
                moves[s] = (100 * metrics[-1]["val_rob_acc"], 100 * (metrics[-1]["val_rob_acc"]
                                                                    - metrics[-2]["val_rob_acc"]))
        if moves:
            rows.append({"model": model.key, "label": model.label, "epochs": epochs,
                         "last_val_robust": {s: v[0] for s, v in moves.items()},
                         "last_epoch_move": {s: v[1] for s, v in moves.items()}})
    return rows


def _pm(values: list[float] | tuple[float, ...], scale: float = 100) -> str:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return f"{scale * mean:.2f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{scale * mean:.2f} ± {scale * sd:.2f}"


def models_markdown(rows: list[ModelSummary]) -> str:
    lines = ["| model | column | images | seeds | accuracy %: mean ± seed sd | per seed |", "|---|---|---|---|---|---|"]
    for r in rows:
        column = {"clean": "natural", HEADLINE: "headline (worst case, default attacks)"}.get(r.column) or \
            display_name(r.column)
        per_seed = ", ".join(f"{100 * a:.2f}" for a in r.accuracy)
        lines.append(f"| {r.label} | {column} | {r.images} | {','.join(map(str, r.seeds))} | {_pm(r.accuracy)} | "
                     f"{per_seed} |")
    return "\n".join(lines) + "\n"


def claims_markdown(verdicts: list[SeedVerdict]) -> str:
    lines = ["| claim (source) | A vs B | seeds × images | A, B: mean acc % | A - B per seed (points) | mean "
             "[95% t-interval] | p (Holm) | TOST p (Holm), margin | smallest equivalence margin | verdict | "
             "paper's CIFAR-10 gap: outside the interval? |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in verdicts:
        gap = "-" if v.paper_gap is None else f"{v.paper_gap:+.2f}: {'yes' if v.excludes_paper_gap else 'no'}"
        lines.append(
            f"| {v.claim} ({v.source}) | {v.comparison} | {len(v.seeds)} × {v.images} | "
            f"{100 * v.accuracy[0]:.2f}, {100 * v.accuracy[1]:.2f} | "
            f"{', '.join(f'{d:+.2f}' for d in v.differences)} | "
            f"{v.mean:+.2f} [{v.interval_95[0]:+.2f}, {v.interval_95[1]:+.2f}] | "
            f"{v.p_value:.2g} ({v.p_holm:.2g}, {v.family}) | {v.p_equivalence:.2g} ({v.p_equivalence_holm:.2g}), "
            f"±{v.margin:g} | {v.equivalence_bound:.2f} | **{v.verdict}** | {gap} |")
    lines += ["", (
        "Each seed trains every model anew (split, order, augmentation, initialisation) and evaluates it on the "
        "same first test images; a seed's difference is the mean over those images of A's per-image score "
        "(fraction of right prediction draws) minus B's, in points. Across seeds: the mean difference with its "
        "95% Student t-interval (seeds - 1 degrees of freedom), the two-sided t-test (Holm-adjusted within the "
        "family), and two one-sided tests of |A - B| < margin (the pre-declared margin; Holm-adjusted within the "
        "family). Verdicts at 5%: 'holds' (A > B), 'does not hold' (B > A), 'equivalent within M points', "
        "else 'cannot tell at this size'. 'smallest equivalence margin': the margin the two one-sided tests "
        "would accept (the 90% interval's largest |end|); the paper's gap is judged against the 95% interval.")]
    return "\n".join(lines) + "\n"


@dataclass
class SeedStudy:
    """``study`` at ``scale`` once per seed into ``out/seed-<s>``, then judged across seeds."""

    study: Study
    scale: Scale
    out: Path
    seeds: tuple[int, ...]
    data_dir: str | None = None
    progress: bool = True
    device: str = "auto"

    def log(self, message: str) -> None:
        print(f"[reproduce {self.study.name}/{self.scale.name}] {message}", file=sys.stderr, flush=True)

    def run(self, train: bool = True) -> Path:
        """Every seed (each resumable), then the analysis; returns ``results.md``. ``train=False`` trains and
        evaluates nothing: it judges the per-seed tables already in ``out`` (a committed study folder, or
        seeds run elsewhere), so every verdict recomputes from them."""
        if not train and not any(Path(self.out).glob("seed-*/whitebox.json")):
            why = "is not a directory" if not Path(self.out).is_dir() else "holds no seed-*/whitebox.json"
            raise ConfigError(f"--analyse reads OUT/seed-*/whitebox.json, but {self.out} {why}; point --out at the "
                              "study's folder (e.g. docs/runs/fmnist-seeds), or run the seeds first (drop --analyse)")
        with run_lock(self.out, purpose="reproduce"):
            for seed in self.seeds if train else ():
                self.log(f"seed {seed} ({self.seeds.index(seed) + 1} of {len(self.seeds)})")
                Reproduction(self.study, self.scale, seed_dir(self.out, seed), self.data_dir, seed,
                             progress=self.progress, device=self.device).run()
            return self.analyse(ran_here=train)

    def analyse(self, ran_here: bool = True) -> Path:
        """``models``, ``claims`` and ``results.md`` from every seed of ``out`` that has its tables
        (``ran_here``: whether this process ran the seeds, so that its machine is theirs)."""
        found = tuple(sorted(int(p.name.removeprefix("seed-")) for p in self.out.glob("seed-*")
                             if p.name.removeprefix("seed-").isdigit()))
        per_seed = seed_results(self.out, self.study, found)
        models = summarise_models(self.study, self.scale, per_seed)
        verdicts = judge_seeds(self.study, per_seed)
        moves = convergence(self.study, self.scale, self.out, tuple(per_seed))
        atomic_write_text(self.out / "models.json", json.dumps(
            [asdict(m) | {"mean": m.mean, "sd": m.sd} for m in models], indent=2) + "\n")
        atomic_write_text(self.out / "models.md", models_markdown(models))
        atomic_write_text(self.out / "claims.json", json.dumps([asdict(v) for v in verdicts], indent=2) + "\n")
        atomic_write_text(self.out / "claims.md", claims_markdown(verdicts))
        atomic_write_text(self.out / "convergence.json", json.dumps(moves, indent=2) + "\n")
        path = self.out / "results.md"
        atomic_write_text(path, self.report(tuple(per_seed), models, verdicts, moves, ran_here))
        return path

    def cpu_seconds(self, seeds: tuple[int, ...]) -> dict[int, float]:
        """Wall seconds each seed's invocations took (their ``timing.json``)."""
        totals = {}
        for s in seeds:
            path = seed_dir(self.out, s) / "timing.json"
            totals[s] = sum(r["seconds"] for r in json.loads(path.read_text())) if path.is_file() else 0.0
        return totals

    def report(self, seeds: tuple[int, ...], models: list[ModelSummary], verdicts: list[SeedVerdict],
               moves: list[dict[str, Any]], ran_here: bool) -> str:
        seconds = self.cpu_seconds(seeds)
        words = ["enresnet", "reproduce", self.study.name, "--scale", self.scale.name, "--out", str(self.out),
                 "--seeds", ",".join(map(str, self.seeds))]
        if self.data_dir is not None:
            words += ["--data-dir", self.data_dir]
        lines = [
            f"# enresnet reproduce {self.study.name} ({self.scale.name}): {len(seeds)} seed(s)", "",
            self.study.title + ".", "",
            f"- command: `{shlex.join(words)}`",
            f"- seeds with tables: {', '.join(map(str, seeds)) or 'none yet'}",
            f"- scale `{self.scale.name}`: {self.scale.summary}",
            f"- machine: {machine()}" if ran_here else
            f"- analysed on: {machine()} (each seed's results.md names the machine it ran on)",
            f"- wall time: {sum(seconds.values()) / 3600:.2f} h in all (per seed: "
            + ", ".join(f"{s}: {v / 60:.0f} min" for s, v in seconds.items()) + ")",
            f"- versions: {versions()}", "",
            "## Accuracy per model over seeds", "", models_markdown(models).rstrip(), "",
            "## Claims across seeds", "", claims_markdown(verdicts).rstrip(), "",
            "## Training: validation robust accuracy in the last epoch", "",
            "| model | epochs | val robust % (last epoch): mean ± seed sd | moved in the last epoch (points) |",
            "|---|---|---|---|",
        ]
        for m in moves:
            lines.append(f"| {m['label']} | {m['epochs']} | {_pm(list(m['last_val_robust'].values()), 1)} | "
                         f"{_pm(list(m['last_epoch_move'].values()), 1)} |")
        return "\n".join(lines) + "\n"
