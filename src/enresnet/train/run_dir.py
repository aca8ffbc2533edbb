"""The run directory: resolved config, ``metrics.jsonl`` and checkpoints.

::

    RUN_DIR/config.toml        the resolved config (defaults filled in)
    RUN_DIR/config.json        the same, as JSON
    RUN_DIR/metrics.jsonl      one JSON object per finished epoch
    RUN_DIR/last.safetensors   resumable: model, optimiser, RNG states, progress
    RUN_DIR/best.safetensors   weights of the best validation epoch

Every write replaces the file atomically (temporary file + rename). A new run
starts only in a directory that holds nothing of another run
(:meth:`RunDir.files_in_the_way`); a run killed before its first checkpoint
left only its config, and the same config may start again there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..config import to_toml
from ..locking import LOCK_NAME


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

    def files_in_the_way(self, config: dict[str, Any]) -> list[str]:
        """Names of the files a new run of ``config`` would overwrite or mix with (the lock and the same config's
        own copies excepted), sorted."""
        if not self.path.is_dir():
            return []
        names = {p.name for p in self.path.iterdir()} - {LOCK_NAME}
        config_file = self.path / "config.toml"
        if names <= {"config.toml", "config.json"} and config_file.is_file():
            if config_file.read_text() == to_toml(config):
                return []
        return sorted(names)

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
