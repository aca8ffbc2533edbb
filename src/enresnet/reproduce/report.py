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

import torch

from ..atomic import atomic_write_text
from .studies import Scale, Study


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


def command(study: Study, scale: Scale, out: Path, seed: int, data_dir: str | None) -> str:
    """The ``enresnet reproduce`` command line that runs (or resumes) this study."""
    words = ["enresnet", "reproduce", study.name, "--scale", scale.name, "--out", str(out), "--seed", str(seed)]
    if data_dir is not None:
        words += ["--data-dir", data_dir]
    return shlex.join(words)


def training_summary(runs: list[tuple[str, list[dict]]]) -> list[str]:
    """One line per (model label, its runs' metrics rows): epochs, and the last epoch's training and validation
    accuracy (Fig. 5's curves at their end)."""
    lines = ["| Model | epochs | train acc | val natural | val robust | s/epoch |", "|---|---|---|---|---|---|"]
    for label, rows in runs:
        last = rows[-1]
        rob = last.get("val_rob_acc")
        lines.append(f"| {label} | {last['epoch']} | {100 * last['train_acc']:.2f} | "
                     f"{100 * last['val_nat_acc']:.2f} | {'-' if rob is None else f'{100 * rob:.2f}'} | "
                     f"{sum(r['seconds'] for r in rows) / len(rows):.0f} |")
    return lines + ["", ("Unit: %. train acc: on the batches as trained on (adversarial examples for PGD training); "
                    "val robust: under the config's validation IFGSM; best validation epoch is evaluated below.")]


def write_results(out: Path, study: Study, scale: Scale, command_line: str, seed: int, timer: Timer,
                  runs: list[tuple[str, list[dict]]], figures: dict[str, Path]) -> Path:
    """``OUT/results.md`` of ``study`` at ``scale``: ``runs`` are the trained models' (label, metrics rows),
    the tables are read from ``OUT/*.md``, ``figures`` is {caption: path under OUT}."""
    invocations = timer.save()
    total = sum(r["seconds"] for r in invocations)
    lines = [
        f"# enresnet reproduce {study.name} ({scale.name})",
        "",
        study.title + ".",
        "",
        f"- command: `{command_line}`",
        f"- seed: {seed}",
        f"- scale `{scale.name}`: {scale.summary}",
        f"- machine: {machine()}",
        (f"- wall time: {total:.0f} s in all ({total / 60:.1f} min, {len(invocations)} invocation(s); this one "
        f"{invocations[-1]['seconds']:.0f} s, started {timer.started})"),
        f"- versions: {versions()}",
        "",
        "## Training (last epoch)",
        "",
        *training_summary(runs),
        "",
        "## White-box attacks (Table 2 layout)",
        "",
        (out / "whitebox.md").read_text().rstrip(),
    ]
    sections = {"natural": ("Naturally trained models (Table 1, Sec. 4.4)", study.natural_models_at(scale)),
                "transfer": ("Blind (transfer) attacks (Table 3 layout)", study.transfer),
                "claims": ("The paper's claims, judged on these images", study.claims)}
    for stem, (title, present) in sections.items():
        if present and (out / f"{stem}.md").is_file():
            lines += ["", f"## {title}", "", (out / f"{stem}.md").read_text().rstrip()]
    lines += ["", "## Figures", ""]
    lines += [f"- {caption}: ![{path.stem}]({path.relative_to(out)})" for caption, path in figures.items()]
    lines += ["", "## Time per phase (this invocation, s)", "", "| phase | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.0f} |" for name, seconds in timer.phases.items()]
    path = out / "results.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
