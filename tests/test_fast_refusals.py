"""Refusals that need no data or model come at once: before torch is imported, well under 2 s per command.

Each case runs ``python -m enresnet ...`` as a user would and is timed (a bound, not a benchmark: a
quiet 2-core machine answers in about 0.2 s, torch alone takes 1.7 s to import); the same arguments
through :func:`enresnet.cli.main` in a fresh interpreter leave torch unimported.
"""

import json
import subprocess
import sys
import time

import pytest

from enresnet.config import to_toml

from helpers import tiny_config

BOUND_SECONDS = 2.0


def _files(tmp_path):
    """A valid config, a run directory holding another run's file, and files that are not checkpoints."""
    (tmp_path / "c.toml").write_text(to_toml(tiny_config()))
    (tmp_path / "bad.toml").write_text('[model]\nname = "resnet8"\n[train]\nepochs = "ten"\n')
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    (run / "best.safetensors").write_bytes(b"an older run's best")
    (run / "config.json").write_text(json.dumps({"model": {"name": "resnet8"}}))
    (tmp_path / "empty").write_bytes(b"")


CASES = [
    (["train", "missing.toml"], "config file missing.toml does not exist"),
    (["train", "bad.toml"], "train.epochs) must be an integer"),
    (["train", "c.toml", "--out", "runs/x"], "runs/x is not empty (best.safetensors, config.json)"),
    (["train", "c.toml", "--out", "runs/new", "--resume"], "cannot resume: runs/new/last.safetensors does not exist"),
    (["train", "c.toml", "--threads", "0"], "argument --threads: must be an integer in [1, 1024], got 0"),
    (["evaluate", "runs/x/best", "--limit", "-5"], "argument --limit: must be an integer >= 1, got -5"),
    (["evaluate", "runs/x/best", "--eot", "0"], "argument --eot: must be an integer >= 1, got 0"),
    (["evaluate", "runs/x/best", "--eps", "2"], "argument --eps: must be in (0, 1]"),
    (["evaluate", "runs/x/best", "--sanity-limit", "-1"], "argument --sanity-limit: must be an integer >= 0"),
    (["evaluate", "runs/x/best", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["evaluate", "runs/x/config.json"], "runs/x/config.json is not a checkpoint: it is a JSON file"),
    (["evaluate", "c.toml"], "c.toml is not a checkpoint: it is a TOML file"),
    (["evaluate", "empty"], "empty is not a checkpoint: it is an empty file"),
    (["evaluate", "runs"], "runs is a folder, not a checkpoint"),
    (["evaluate", "runs/x/best", "--out", "c.toml"], "--out c.toml is a file, not a directory"),
    (["transfer", "--oracle", "runs/x/config.json", "--target", "runs/x/best"], "is not a checkpoint: it is a JSON"),
    (["plot", "eps-curve", "runs/x/best", "--out", "f.png", "--alpha", "0"], "argument --alpha: must be in (0, 1]"),
    (["plot", "examples", "runs/x/config.json", "--out", "f.png"], "is not a checkpoint: it is a JSON file"),
    (["integrate", "runs/x/config.json", "runs/x/best", "--out", "m"], "is not a checkpoint: it is a JSON file"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_refused_at_once_with_the_reason(tmp_path, argv, message):
    _files(tmp_path)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "enresnet", *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    seconds = time.perf_counter() - start
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert seconds < BOUND_SECONDS, f"{' '.join(argv)}: refused after {seconds:.2f} s"


def test_no_refusal_imports_torch(tmp_path):
    _files(tmp_path)
    code = (
        "import json, sys\nfrom enresnet.cli import main\ncodes = []\n"
        f"for argv in {[argv for argv, _ in CASES]!r}:\n"
        "    try:\n        codes.append(main(argv))\n    except SystemExit as stop:\n        codes.append(stop.code)\n"
        "print(json.dumps([codes, 'torch' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    codes, torch_imported = json.loads(done.stdout.splitlines()[-1])
    assert codes == [2] * len(CASES) and not torch_imported
    assert not (tmp_path / "runs" / "new").exists()  # a refused run leaves no folder behind
