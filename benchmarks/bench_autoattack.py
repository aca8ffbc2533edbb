"""AutoAttack 'rand' (Croce & Hein 2020) with the multi-draw re-check, as ``enresnet evaluate`` runs it.

    PYTHONPATH=src python3 benchmarks/bench_autoattack.py --device cuda --models en5_resnet20 --images 1000
    PYTHONPATH=src python3 benchmarks/bench_autoattack.py --images 16 --baseline   # also pyautoattack's own run

Times ``enresnet.evaluate_model(model, images, labels, ["autoattack"], repeats=1)`` — full
strength: APGD-CE and APGD-DLR, 100 iterations, EOT over 20 draws, each candidate judged
over ``check_draws`` draws — on random CIFAR-shaped images of an untrained (noise-injected)
model, labelled with the model's own clean predictions (so that every image is attacked:
AutoAttack skips images already misclassified), and with ``--baseline`` pyautoattack's own
``run_standard_evaluation(version='rand')`` on the same model and images in the same process.
Prints seconds and images/s.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import machine, synthetic_batch

from enresnet.evaluate import evaluate_model
from enresnet.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="en5_resnet20")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", action="store_true", help="also time pyautoattack's own run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"Machine: {machine(args.device, args.threads)}.")
    print("| model | images | ours s | ours img/s | pyautoattack s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = create_model(name).to(device).eval()
        x, _ = synthetic_batch(args.images, device)
        with torch.no_grad():  # labels the model gets right: every image must be attacked, none skipped
            y = model(x).argmax(dim=1)
        start = time.perf_counter()
        evaluate_model(model, x, y, ["autoattack"], repeats=1, sanity_size=0, batch_size=args.batch_size)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        ours = time.perf_counter() - start
        base_cell, ratio = "-", "-"
        if args.baseline:
            import pyautoattack

            start = time.perf_counter()
            aa = pyautoattack.AutoAttack(model, norm="Linf", eps=8 / 255, version="rand", device=device)
            aa.run_standard_evaluation(x, y, batch_size=args.batch_size)
            base = time.perf_counter() - start
            base_cell, ratio = f"{base:.1f}", f"{base / ours:.2f}"
        print(f"| {name} | {args.images} | {ours:.1f} | {args.images / ours:.2f} | {base_cell} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
