"""Result tables shaped like the paper's: Table 2 (white-box) and Table 3 (blind/transfer).

A row is one model; columns are A_nat and A_rob per attack, in %. A cell is the
mean accuracy over the R stochastic predictions with its 95% interval over the
images; for a noisy model evaluated with R > 1 it reads
``mean [low, high] ± std (worst w)``, where ``worst`` counts an image only if all
R predictions are right. A ``sanity`` column carries the flags of
:mod:`.sanity` (``ok``, or ``FLAG: <checks>``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from .accuracy import AccuracyStats, worst_case
from .protocol import display_name
from .runner import CLEAN
from .sanity import TOO_FEW, Check


@dataclass
class Row:
    model: str
    dataset: str
    results: dict[str, AccuracyStats]
    """``"clean"`` and one entry per attack name."""
    oracle: str | None = None
    sanity: list[Check] = field(default_factory=list)

    def sanity_flag(self) -> str:
        flagged = [c.name for c in self.sanity if c.passed is False]
        if flagged:
            return "FLAG: " + ", ".join(flagged)
        weak = [c.name for c in self.sanity if c.flag == TOO_FEW]
        if weak:
            return f"{TOO_FEW}: " + ", ".join(weak)
        return "ok" if self.sanity else "-"

    @property
    def reportable(self) -> bool:
        """False when a sanity check flagged the row: every number of it, the headline included, overstates."""
        return not any(c.passed is False for c in self.sanity)

    @property
    def headline(self) -> AccuracyStats | None:
        """The worst case over every column and draw, image by image (:func:`worst_case`); None without
        per-image counts."""
        if any(stats.per_image is None for stats in self.results.values()):
            return None
        return worst_case(list(self.results.values()))

    def as_dict(self) -> dict[str, Any]:
        out = {"model": self.model, "dataset": self.dataset}
        if self.oracle is not None:
            out["oracle"] = self.oracle
        out["accuracy"] = {k: v.as_dict() for k, v in self.results.items()}
        headline = self.headline
        if headline is not None:
            out["robust_worst_case"] = headline.as_dict() | {"interval_95": list(headline.interval())}
        out["reportable"] = self.reportable
        out["sanity"] = [c.as_dict() for c in self.sanity]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        """The inverse of :meth:`as_dict` (the headline is recomputed from the per-image counts)."""
        results = {k: AccuracyStats.from_dict(v) for k, v in data["accuracy"].items()}
        return cls(data["model"], data["dataset"], results, data.get("oracle"),
                   [Check.from_dict(c) for c in data.get("sanity", [])])


def cell(stats: AccuracyStats) -> str:
    """``mean [95% CI]``, then ``± std (worst w)`` over the draws of a noisy model."""
    low, high = stats.interval()
    text = f"{100 * stats.mean:.2f} [{100 * low:.1f}, {100 * high:.1f}]"
    if stats.repeats > 1 and (stats.std > 0 or stats.worst != stats.mean):
        text += f" ± {100 * stats.std:.2f} (worst {100 * stats.worst:.2f})"
    return text


HEADLINE = "A_rob worst case [95% CI]"
"""The headline column: an image counts only if it is right under every attack in every draw."""


HEADLINE_NOTE = (
    f"{HEADLINE}: the robust accuracy this evaluation stands behind. An image counts only if it is "
    "classified correctly in every prediction draw, clean and under every attack of the row: the worst case "
    "over attacks and draws, image by image, so it is at most every other column. The interval is the 95% "
    "Wilson interval over the images (sampling error of the test set). The per-attack columns are the "
    "paper's protocol: mean over draws [95% interval over the images] (± std over draws, worst case over "
    "draws)."
)


NOT_TO_REPORT = "NOT TO REPORT: a sanity check failed"


def headline_cell(stats: AccuracyStats | None, reportable: bool = True) -> str:
    """The headline in bold, or, when a sanity check failed, plain and marked not to be reported."""
    if stats is None:
        return "-"
    low, high = stats.interval()
    if not reportable:
        return f"{100 * stats.mean:.2f} [{100 * low:.1f}, {100 * high:.1f}] ({NOT_TO_REPORT})"
    return f"**{100 * stats.mean:.2f}** [{100 * low:.1f}, {100 * high:.1f}]"


def header(attacks: list[str], transfer: bool) -> list[str]:
    cols = ["Model", "dataset"] + (["Oracle"] if transfer else [])
    if not transfer:
        cols.append("A_nat")
    return cols + [HEADLINE] + [f"A_rob ({display_name(a)})" for a in attacks] + ["sanity"]


def markdown(rows: list[Row], attacks: list[str], notes: list[str]) -> str:
    """The table in Markdown, followed by the notes and every row's sanity checks."""
    transfer = any(r.oracle is not None for r in rows)
    cols = header(attacks, transfer)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r.model, r.dataset] + ([r.oracle or ""] if transfer else [])
        if not transfer:
            cells.append(cell(r.results[CLEAN]))
        cells += [headline_cell(r.headline, r.reportable)] + [cell(r.results[a]) for a in attacks] + [r.sanity_flag()]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Unit: %. " + " ".join(notes), "", HEADLINE_NOTE]
    for r in rows:
        if r.sanity:
            lines += ["", f"Sanity checks for {r.model}:", ""]
            lines += [f"- [{c.flag}] {c.name}: {c.explanation}; {json.dumps(c.numbers)}" for c in r.sanity]
    return "\n".join(lines) + "\n"


def write_tables(out_dir: Path, stem: str, rows: list[Row], attacks: list[str], notes: list[str],
                 meta: dict[str, Any]) -> tuple[Path, Path, str]:
    """Write ``stem.json`` and ``stem.md`` under ``out_dir``; return their paths and the Markdown."""
    text = markdown(rows, attacks, notes)
    payload = {"attacks": {a: display_name(a) for a in attacks}, "notes": notes, **meta,
               "rows": [r.as_dict() for r in rows]}
    json_path, md_path = Path(out_dir) / f"{stem}.json", Path(out_dir) / f"{stem}.md"
    atomic_write_text(json_path, json.dumps(payload, indent=2) + "\n")
    atomic_write_text(md_path, text)
    return json_path, md_path, text
