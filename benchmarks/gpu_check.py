"""Everything a GPU should confirm, in one command: the CUDA-only checks, the training benchmark, a real epoch.

    PYTHONPATH=src python3 benchmarks/gpu_check.py --out /tmp/gpu_check.md     # on a CUDA machine, < 5 min on one H100
    PYTHONPATH=src python3 benchmarks/gpu_check.py --smoke --device cpu        # the CPU-runnable parts, tiny (CI)

1. Checks: ``pytest tests/test_capture.py tests/test_fused_ensemble.py`` (captured step ==
   eager step with noise off, fresh noise and random starts at every replay, re-recording
   on a new learning rate, a captured run's checkpoint round trip; the fused En_n network
   against the member loop). The capture tests skip without CUDA.
2. The PGD-10 training step (Algorithm 1) at ``--batch-size``: the literal member loop
   (fp32, one forward per member, as the authors' code) against the trainer's
   ``train_step``, for ResNet20, En5ResNet20 (variants: fused fp32 eager, + bf16 and
   channels_last, fp32 + CUDA graph, bf16 + graph in NCHW, and the device default: bf16,
   channels_last and the graph) and WRN-34-10 (default). Times are
   medians of interleaved calls in this process (``common.compare``); ratio = literal / ours.
3. A real epoch: ``Trainer.fit`` of En5ResNet20 for one epoch on 50,000 CIFAR-shaped
   synthetic images (45k/5k, batch 128, paper defaults and the device's speed defaults)
   with its validation (IFGSM^20 on the 5k), wall time measured around the whole
   ``fit`` (recording the graphs and cuDNN autotuning included).
4. AutoAttack 'rand' at full strength (APGD-CE and APGD-DLR, 100 iterations, EOT 20 folded
   into the batch, the 10-draw re-check) of En5ResNet20 on 1,000 CIFAR-shaped images, every
   image attacked (labels: the model's prediction averaged over 10 draws), through the
   evaluation plan as ``enresnet evaluate --attacks autoattack`` runs it; wall time of
   ``run_plan`` (goal: <= 60 s on one H100/H200).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
from training import LiteralTraining, make_trainer, speed_label  # noqa: E402

from enresnet.config import validate  # noqa: E402
from enresnet.data import ImageDataset  # noqa: E402
from enresnet.evaluate import make_plan, run_plan  # noqa: E402
from enresnet.models import create_model  # noqa: E402
from enresnet.train import Trainer  # noqa: E402

FULL = {"models": ["resnet20", "en5_resnet20", "wrn34_10"], "ensemble": "en5_resnet20", "epoch_images": 50_000,
        "val_size": 5_000, "image_size": 32, "aa_images": 1000, "aa_batch": 500, "aa_eot_batch": 10,
        "aa_strength": {}}
SMOKE = {"models": ["resnet8", "en2_resnet8"], "ensemble": "en2_resnet8", "epoch_images": 96, "val_size": 32,
         "image_size": 32, "aa_images": 8, "aa_batch": 8, "aa_eot_batch": None,
         "aa_strength": {"autoattack_iterations": 2, "autoattack_eot": 2}}
VARIANTS = {  # ours' train.* keys for the ensemble's extra rows; the device default comes last
    "fp32 eager": {"amp": "none", "channels_last": False, "capture": False},
    "bf16 + NHWC eager": {"amp": "bf16", "channels_last": True, "capture": False},
    "fp32 + graph": {"amp": "none", "channels_last": False, "capture": True},
    "bf16 + graph (NCHW)": {"amp": "bf16", "channels_last": False, "capture": True},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="tiny models and data (runs on a CPU in seconds)")
    parser.add_argument("--batch-size", type=int, help="default 128 (smoke: 8)")
    parser.add_argument("--iters", type=int, default=5, help="timed calls per side, at least")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    return parser.parse_args()


def run_checks(device: str) -> str:
    """The pytest checks; returns their summary line."""
    tests = [str(HERE.parent / "tests" / name) for name in ("test_capture.py", "test_fused_ensemble.py")]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                          capture_output=True, text=True, cwd=HERE.parent)
    print(done.stdout[-3000:], done.stderr[-2000:], flush=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no output"
    if done.returncode != 0:
        raise SystemExit(f"checks failed: {summary}")
    return summary


def step_rows(args: argparse.Namespace, sizes: dict, device: torch.device) -> list[str]:
    """The PGD-10 step table rows: ours (each variant) against the literal loop, same weights and batch."""
    rows = []
    x, y = common.synthetic_batch(args.batch_size, device)
    for name in sizes["models"]:
        variants = dict(VARIANTS) if name == sizes["ensemble"] else {}
        if device.type != "cuda":
            variants = {k: v for k, v in variants.items() if not v["capture"]}
        variants["device default"] = {}
        baseline = None
        for label, speed in variants.items():
            torch.manual_seed(0)
            trainer = make_trainer("pgd", name, args.batch_size, device, speed)
            if baseline is None:
                baseline = LiteralTraining(trainer.model, trainer.config)
                baseline.pgd_step(x, y)
            for _ in range((trainer.graphed_step.warmup + 1) if trainer.graphed_step else 1):
                trainer.train_step(x, y)
            pair = common.Pair(ours=trainer.train_step, baseline=baseline.pgd_step)
            ours, base = common.compare(pair, x, y, args.iters, warmup=1, min_seconds=0.0)
            rows.append(f"| {name} | {label}{speed_label(trainer)} | {args.batch_size} | {base.seconds * 1e3:.1f} "
                        f"| {ours.seconds * 1e3:.1f} | {base.seconds / ours.seconds:.2f} "
                        f"| {common._mib(ours.peak_bytes)} | {common._mib(base.peak_bytes)} |")
            print(rows[-1], flush=True)
            del trainer
        del baseline
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def epoch_row(args: argparse.Namespace, sizes: dict, device: torch.device) -> str:
    """One real epoch of En5ResNet20 (with validation) through Trainer.fit."""
    config = validate({
        "model": {"name": sizes["ensemble"]},
        "data": {"name": "synthetic", "val_size": sizes["val_size"],
                 "options": {"num_samples": sizes["epoch_images"], "size": sizes["image_size"]}},
        "train": {"method": "pgd", "epochs": 1, "batch_size": args.batch_size, "device": str(device)},
    })
    with tempfile.TemporaryDirectory(prefix="enresnet-gpu-check-") as run_dir:
        trainer = Trainer(config, run_dir, quiet=True)
        common._sync(device)
        start = time.perf_counter()
        metrics = trainer.fit()
        common._sync(device)
        wall = time.perf_counter() - start
    m = metrics[0]
    train_images = sizes["epoch_images"] - sizes["val_size"]
    return (f"| {sizes['ensemble']}{speed_label(trainer)} | {train_images} + {sizes['val_size']} validation "
            f"| {args.batch_size} | {wall:.1f} | {m['seconds']:.1f} | {m['train_loss']:.3f} "
            f"| {m['val_nat_acc']:.3f} | {m['val_rob_acc']:.3f} |")


def autoattack_row(sizes: dict, device: torch.device) -> str:
    """AutoAttack 'rand' of the ensemble on ``aa_images`` CIFAR-shaped images, every image attacked."""
    torch.manual_seed(0)
    model = create_model(sizes["ensemble"]).to(device).eval()
    n = sizes["aa_images"]
    x = torch.rand(n, 3, sizes["image_size"], sizes["image_size"], device=device)
    with torch.no_grad():  # the prediction averaged over 10 draws: right for (nearly) every image, all attacked
        y = torch.cat([sum(model(chunk).softmax(1) for _ in range(10)).argmax(1) for chunk in x.split(100)])
    plan = make_plan("synthetic", attacks="autoattack", repeats=1, batch_size=sizes["aa_batch"],
                     eot_batch=sizes["aa_eot_batch"], sanity_size=0, device=device, **sizes["aa_strength"])
    common._sync(device)
    start = time.perf_counter()
    result = run_plan(plan, model, ImageDataset(x, y, 10, name="synthetic"))
    common._sync(device)
    wall = time.perf_counter() - start
    strength = "full" if plan.settings.autoattack_full else f"reduced {plan.settings.autoattack_iterations} it"
    return (f"| {sizes['ensemble']} | {n} | {strength}, EOT {plan.settings.autoattack_eot} | "
            f"{100 * result.results['clean'].mean:.1f} | {100 * result.results['autoattack'].mean:.1f} | {wall:.1f} |")


def main() -> None:
    args = parse_args()
    sizes = SMOKE if args.smoke else FULL
    args.batch_size = args.batch_size or (8 if args.smoke else 128)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run with --device cpu (and --smoke) for the CPU-runnable parts")
    lines = [f"Machine: {common.machine(str(device), torch.get_num_threads())}.", ""]
    if not args.skip_tests:
        lines += [f"Checks (tests/test_capture.py, tests/test_fused_ensemble.py): {run_checks(args.device)}", ""]
    lines += ["| model | ours | batch | literal loop ms | ours ms | ratio | ours peak MiB | literal peak MiB |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += step_rows(args, sizes, device)
    lines += ["", "| model | images | batch | epoch wall s (fit, with validation) | training loop s | train loss "
              "| val natural | val robust |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines.append(epoch_row(args, sizes, device))
    lines += ["", "| model | images | AutoAttack 'rand' | clean % | AutoAttack % | wall s (run_plan) |",
              "| --- | ---: | --- | ---: | ---: | ---: |", autoattack_row(sizes, device)]
    report = "\n".join(lines) + "\n"
    print(report, flush=True)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
