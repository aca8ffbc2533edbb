"""The wheel, installed without extras into a fresh virtual environment, runs from outside the checkout.

Slow (about 2 minutes on 2 cores: 45 s of pip, 60 s of `reproduce --scale tiny`), so marked ``slow``;
CI runs it (``pytest -m "not slow"`` leaves it out locally). pip needs the index that
scripts/install.sh uses: torch is pinned to 2.13.0, as there, so that it is the CPU wheel.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from enresnet.cli import COMMANDS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("scipy", "pyautoattack", "torchattacks", "pytest")


def _run(cmd, cwd, timeout=900):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=dict(env, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _build_wheel(tmp_path: Path) -> Path:
    """A wheel of the working tree, built from a copy (nothing is written into the checkout)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--no-build-isolation", "-q", "-w", dist],
         cwd=tmp_path)
    (wheel,) = dist.glob("enresnet-*.whl")
    return wheel


def test_wheel_without_extras_runs_help_models_and_reproduce_elsewhere(tmp_path):
    wheel = _build_wheel(tmp_path)
    shipped = sorted(p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src/enresnet/configs").rglob("*.toml"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert shipped and set(shipped) <= names and "enresnet/py.typed" in names

    venv = tmp_path / "venv"
    try:
        _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
        python, enresnet = venv / "bin" / "python", venv / "bin" / "enresnet"
        _run([python, "-m", "pip", "install", "-q", wheel, "torch==2.13.0"], cwd=tmp_path)
        probe = "import importlib.util as u, enresnet; print(enresnet.__file__); "
        probe += f"print([m for m in {OPTIONAL!r} if u.find_spec(m)])"
        location, found = _run([python, "-c", probe], cwd=tmp_path).stdout.splitlines()
        assert location.startswith(str(venv)) and found == "[]"  # the wheel, and no extras

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        help_text = _run([enresnet, "--help"], cwd=elsewhere).stdout
        assert all(f"    {name}" in help_text for name in COMMANDS)
        models = _run([enresnet, "models"], cwd=elsewhere).stdout
        assert any(line.split() == ["en5_wrn34_10", "230.802M", "parameters"] for line in models.splitlines())
        study = elsewhere / "study"
        done = _run([enresnet, "reproduce", "fmnist", "--scale", "tiny", "--out", study, "--quiet",
                     "--threads", "1"], cwd=elsewhere)
        assert "pyautoattack is not installed" in done.stderr
        rows = json.loads((study / "whitebox.json").read_text())["rows"]
        assert len(rows) == 4 and all("autoattack" not in row["accuracy"] for row in rows)
        assert (study / "results.md").stat().st_size > 0
    finally:
        shutil.rmtree(venv, ignore_errors=True)
