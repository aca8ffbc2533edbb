"""The shell scripts of the README's set-up: valid bash, and every one runs in the project's environment."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["scripts/install.sh", "scripts/quickstart.sh", ".ci/run"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_valid_bash(script):
    done = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("script", ["scripts/quickstart.sh", ".ci/run"])
def test_script_runs_in_the_environment_install_sh_installed_into(script):
    """install.sh installs into the active virtual environment, else .venv: what follows it must use the same."""
    lines = (ROOT / script).read_text().splitlines()
    install = lines.index("bash scripts/install.sh")
    activate = next(i for i, line in enumerate(lines)
                    if line.startswith('[ -n "${VIRTUAL_ENV:-}" ] || source .venv/bin/activate'))
    runs = [i for i, line in enumerate(lines) if line.startswith(("enresnet ", "python"))]
    assert runs and install < activate < min(runs)
