"""``results.md`` of a reproduction: the command, seed, machine, wall time, versions, the
training summary, the tables (Table 2 / Table 3 layout) and the figures.

Wall time adds up over invocations (a resumed study keeps the time of its earlier
runs, killed ones included): each invocation keeps its phases in ``OUT/timing.json``.
"""

from __future__ import annotations

import contextlib
import json
import platform
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..atomic import atomic_write_text
from ..plots.training import read_metrics

if TYPE_CHECKING:
    from .runner import Reproduction


@dataclass
class Timer:
    """Seconds per named phase of this invocation; with ``path``, the invocation's entry in
    ``timing.json`` is rewritten after every phase, so a killed invocation's time still counts."""

    path: Path | None = None
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    t0: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)
    earlier: list[dict] | None = None

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - start
            self.save()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def save(self) -> list[dict]:
        """Write the earlier invocations plus this one to :attr:`path`; returns them all."""
        if self.earlier is None:
            self.earlier = json.loads(self.path.read_text()) if self.path and self.path.is_file() else []
        runs = [*self.earlier, {"started": self.started, "seconds": round(self.elapsed(), 1),
                                "phases": {k: round(v, 1) for k, v in self.phases.items()}}]
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(runs, indent=2) + "\n")
        return runs


def machine() -> str:
    """CPU model and core count, and the GPU name when CUDA is used."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    text = f"{cpu}, {torch.get_num_threads()} torch threads ({platform.system()} {platform.release()})"
    if torch.cuda.is_available():
        text += f"; GPU: {torch.cuda.get_device_name(0)}"
    return text


def versions() -> str:
    from .. import __version__

    return f"python {platform.python_version()}, torch {torch.__version__}, enresnet {__version__}"


def command(rep: Reproduction) -> str:
    words = ["enresnet", "reproduce", rep.study.name, "--scale", rep.scale.name, "--out", str(rep.out),
             "--seed", str(rep.seed)]
    if rep.data_dir is not None:
        words += ["--data-dir", rep.data_dir]
    return shlex.join(words)


def training_summary(rep: Reproduction) -> list[str]:
    """One line per model: epochs, and the last epoch's training and validation accuracy."""
    lines = ["| Model | epochs | train acc | val natural | val robust | s/epoch |", "|---|---|---|---|---|---|"]
    for model in rep.study.trained_at(rep.scale):
        rows = read_metrics(rep.run_dir(model.key))
        last = rows[-1]
        rob = last.get("val_rob_acc")
        lines.append(f"| {model.label} | {last['epoch']} | {100 * last['train_acc']:.2f} | "
                     f"{100 * last['val_nat_acc']:.2f} | {'-' if rob is None else f'{100 * rob:.2f}'} | "
                     f"{sum(r['seconds'] for r in rows) / len(rows):.0f} |")
    return lines + ["", ("Unit: %. train acc: on the batches as trained on (adversarial examples for PGD training); "
                    "val robust: under the config's validation IFGSM; best validation epoch is evaluated below.")]


def write_results(rep: Reproduction, figures: dict[str, Path]) -> Path:
    runs = rep.timer.save()
    total = sum(r["seconds"] for r in runs)
    phases = rep.timer.phases
    lines = [
        f"# enresnet reproduce {rep.study.name} ({rep.scale.name})",
        "",
        rep.study.title + ".",
        "",
        f"- command: `{command(rep)}`",
        f"- seed: {rep.seed}",
        f"- scale `{rep.scale.name}`: {rep.scale.summary}",
        f"- machine: {machine()}",
        (f"- wall time: {total:.0f} s in all ({total / 60:.1f} min, {len(runs)} invocation(s); this one "
        f"{runs[-1]['seconds']:.0f} s, started {rep.timer.started})"),
        f"- versions: {versions()}",
        "",
        "## Training (last epoch)",
        "",
        *training_summary(rep),
        "",
        "## White-box attacks (Table 2 layout)",
        "",
        (rep.out / "whitebox.md").read_text().rstrip(),
    ]
    sections = {"natural": ("Naturally trained models (Table 1, Sec. 4.4)", rep.study.natural_models_at(rep.scale)),
                "transfer": ("Blind (transfer) attacks (Table 3 layout)", rep.study.transfer),
                "claims": ("The paper's claims, judged on these images", rep.study.claims)}
    for stem, (title, present) in sections.items():
        if present and (rep.out / f"{stem}.md").is_file():
            lines += ["", f"## {title}", "", (rep.out / f"{stem}.md").read_text().rstrip()]
    lines += ["", "## Figures", ""]
    lines += [f"- {caption}: ![{path.stem}]({path.relative_to(rep.out)})" for caption, path in figures.items()]
    lines += ["", "## Time per phase (this invocation, s)", "", "| phase | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.0f} |" for name, seconds in phases.items()]
    path = rep.out / "results.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
