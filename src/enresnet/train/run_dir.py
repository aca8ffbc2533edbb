"""The run directory: resolved config, ``metrics.jsonl`` and checkpoints.

::

    RUN_DIR/config.toml        the resolved config (defaults filled in)
    RUN_DIR/config.json        the same, as JSON
    RUN_DIR/run.json           the run's identity: {"run_id": a random hex id, "started": UTC time}
    RUN_DIR/metrics.jsonl      one JSON object per finished epoch (each with the run id)
    RUN_DIR/last.safetensors   resumable: model, optimiser, RNG states, progress (and the run id)
    RUN_DIR/best.safetensors   weights of the best validation epoch (and the run id)

Every write replaces the file atomically (temporary file + rename). A new run
starts only in a directory that holds nothing of another run
(:meth:`RunDir.files_in_the_way`, checked by :meth:`RunDir.check_start` before
any work); a run stopped before its first ``last`` checkpoint (killed, or its
disk full) left only its config, identity and maybe its first ``best`` and
metrics, and the same config may start again there.

The run id tells a run's files from another run's: :meth:`RunDir.check_own`
refuses a checkpoint or metrics row of another run (copied in). Files written
before run ids existed carry none and are taken as this run's.

This class is the one place that knows the layout: everything that reads a run
(resuming, ``reproduce``, Fig. 5 of the paper) goes through it.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..config import Config, to_toml
from ..errors import CheckpointError, ConfigError
from ..locking import LOCK_NAME

RESTARTABLE = {"config.toml", "config.json", "run.json", "metrics.jsonl", "best.safetensors"}
"""What a run stopped before its first ``last`` checkpoint may have left: the same config starts again over it."""


def new_run_id() -> str:
    return uuid.uuid4().hex


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

    @property
    def identity_file(self) -> Path:
        return self.path / "run.json"

    @property
    def config_toml(self) -> Path:
        return self.path / "config.toml"

    @property
    def config_json(self) -> Path:
        return self.path / "config.json"

    def files_in_the_way(self, config: Config) -> list[str]:
        """Names of the files a new run of ``config`` would overwrite or mix with (the lock, and what the same
        config's run left before its first ``last`` checkpoint, excepted), sorted."""
        if not self.path.is_dir():
            return []
        names = {p.name for p in self.path.iterdir()} - {LOCK_NAME}
        if names <= RESTARTABLE and self.config_toml.is_file():
            if self.config_toml.read_text() == to_toml(config):
                return []
        return sorted(names)

    def check_start(self, config: Config, resume: bool) -> None:
        """Refuse, before any work, a run that cannot start here: ``resume`` without a ``last`` checkpoint, or a
        new run in a directory holding another run's files (:meth:`files_in_the_way`)."""
        if resume:
            if not self.last.exists():
                raise CheckpointError(f"cannot resume: {self.last} does not exist; start the run without --resume")
            return
        held = self.files_in_the_way(config)
        if held:
            shown = ", ".join(held[:4]) + (" ..." if len(held) > 4 else "")
            fix = "pass --resume to continue the run it holds" if self.last.exists() else (
                "it holds no resumable checkpoint (last.safetensors): move its files away")
            raise ConfigError(f"{self.path} is not empty ({shown}); {fix}, or choose another --out")

    def run_id(self) -> str | None:
        """The id in ``run.json`` (None: a directory of an older version, or none yet)."""
        try:
            run_id = json.loads(self.identity_file.read_text()).get("run_id")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, AttributeError) as err:
            raise CheckpointError(f"{self.identity_file} is unreadable ({err}); restore it or start a new run"
                                  ) from None
        if not isinstance(run_id, str) or not run_id:
            raise CheckpointError(f"{self.identity_file} holds no run id; restore it or start a new run")
        return run_id

    def write_identity(self, run_id: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        atomic_write_text(self.identity_file, json.dumps({"run_id": run_id, "started": stamp}, indent=2) + "\n")

    def check_own(self, run_id: str | None, path: Path, found: str | None) -> None:
        """Refuse ``path`` (a checkpoint, or the metrics) when it carries the id ``found`` of another run than
        ``run_id``; a missing id on either side is unknown, not a mismatch."""
        if run_id is not None and found is not None and found != run_id:
            raise CheckpointError(
                f"{path} belongs to run {found}, but {self.path} is run {run_id} ({self.identity_file.name}): it was "
                f"copied from another run directory. Put this run's own file back, or use the other run's directory"
            )

    def write_config(self, config: Config) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config_toml, to_toml(config))
        atomic_write_text(self.config_json, json.dumps(config.to_dict(), indent=2) + "\n")

    def recorded(self, section: str, key: str) -> Any:
        """``section.key`` of the run's resolved config (``config.json``); None when it is unreadable."""
        try:
            return json.loads(self.config_json.read_text())[section][key]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def read_metrics(self, required: bool = False) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl``, one per finished epoch ([] before the first); a file that is not JSON
        lines is a ConfigError. ``required``: a missing file, or one without rows holding ``epoch`` and
        ``train_acc``, is a ConfigError too (a figure or a report of the run needs its epochs)."""
        path = self.metrics_file
        if not path.is_file():
            if required:
                raise ConfigError(f"{path} does not exist; pass a run directory written by `enresnet train`")
            return []
        try:
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except ValueError as err:
            raise ConfigError(f"{path} is not JSON lines ({err})") from None
        if required and (not rows or any("epoch" not in row or "train_acc" not in row for row in rows)):
            raise ConfigError(f"{path} has no epochs with 'epoch' and 'train_acc'")
        return rows

    def finished_epochs(self) -> int:
        """Epochs the run holds a checkpoint and metrics for (0 when it holds no ``last`` checkpoint)."""
        return len(self.read_metrics()) if self.last.is_file() else 0

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.metrics_file, "".join(json.dumps(r) + "\n" for r in rows))
