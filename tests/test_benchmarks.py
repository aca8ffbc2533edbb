"""The GPU check script's CPU-runnable parts run (tiny sizes): its table, real epoch and AutoAttack row come out."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_smoke_runs_on_a_cpu(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = tmp_path / "report.md"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--smoke", "--device", "cpu", "--skip-tests",
           "--iters", "1", "--out", str(out)]
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True, timeout=600)
    report = out.read_text()
    rows = [line for line in report.splitlines() if line.startswith("| en2_resnet8") or line.startswith("| resnet8")]
    assert len(rows) == 6  # resnet8, three en2_resnet8 variants (the CUDA-graph ones need CUDA), the epoch, AutoAttack
    ratios = [float(line.split("|")[6]) for line in rows[:4]]
    assert all(r > 0 for r in ratios)
    epoch = rows[4].split("|")
    assert float(epoch[4]) >= float(epoch[5]) > 0  # the fit's wall time includes its training loop
    autoattack = rows[5].split("|")
    assert autoattack[2].strip() == "8" and float(autoattack[5]) <= float(autoattack[4]) and float(autoattack[6]) > 0
