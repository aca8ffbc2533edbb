"""The run directory: resolved config, ``metrics.jsonl`` and checkpoints.

::

    RUN_DIR/config.toml        the resolved config (defaults filled in)
    RUN_DIR/config.json        the same, as JSON
    RUN_DIR/metrics.jsonl      one JSON object per finished epoch
    RUN_DIR/last.safetensors   resumable: model, optimiser, RNG states, progress
    RUN_DIR/best.safetensors   weights of the best validation epoch

Every write replaces the file atomically (temporary file + rename).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..config import to_toml


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def last(self) -> Path:
        return self.path / "last.safetensors"

    @property
    def best(self) -> Path:
        return self.path / "best.safetensors"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    def write_config(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "config.toml", to_toml(config))
        atomic_write_text(self.path / "config.json", json.dumps(config, indent=2) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_file.exists():
            return []
        return [json.loads(line) for line in self.metrics_file.read_text().splitlines() if line.strip()]

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.metrics_file, "".join(json.dumps(r) + "\n" for r in rows))
