"""AutoAttack 'rand' (Croce & Hein 2020) as ``enresnet evaluate`` runs it, against pyautoattack's own run.

    PYTHONPATH=src python3 benchmarks/bench_autoattack.py --models en1_resnet20,en5_resnet20 --images 32
    PYTHONPATH=src python3 benchmarks/bench_autoattack.py --device cuda --models en5_resnet20 --images 1000 \
        --no-baseline --eot-batch 10

Ours: ``enresnet.evaluate_model(model, images, labels, ["autoattack"], repeats=1, sanity_size=0)``
at full strength: APGD-CE and APGD-DLR, 100 iterations, EOT over 20 draws folded into the
batch (one forward-backward pass of 20 x N images per iteration, ``--eot-batch`` chunks it),
bf16 gradients where bf16 is fast, the models in NHWC layout, each candidate judged over 10
draws; the clean pass and the randomness probe included. Baseline: pyautoattack's own
``run_standard_evaluation(version='rand')`` (fp32, 20 sequential passes per iteration) on the
same model and images. Random CIFAR-shaped images of an untrained noise-injected model,
labelled with its prediction averaged over 10 draws, so that (nearly) every image is attacked.
The two sides alternate ``--rounds`` times in this process; the table gives the median
seconds of each and their ratio (baseline / ours).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import machine, synthetic_batch

from enresnet.evaluate import evaluate_model
from enresnet.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="en1_resnet20,en5_resnet20")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=None, help="default: all images at once")
    parser.add_argument("--eot-batch", type=int, default=None, help="ours: EOT draws per forward pass")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of ours and the baseline")
    parser.add_argument("--no-baseline", action="store_true", help="time ours only (e.g. on a GPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batch = args.batch_size or args.images
    print(f"Machine: {machine(args.device, args.threads)}.")
    print("| model | images | ours s | ours img/s | pyautoattack s | ratio | ours robust % | pyautoattack robust % |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = create_model(name).to(device).eval()
        x, _ = synthetic_batch(args.images, device)
        with torch.no_grad():
            y = torch.cat([sum(model(c).softmax(1) for _ in range(10)).argmax(1) for c in x.split(100)])
        ours, base, ours_acc, base_acc = [], [], None, None
        for _ in range(args.rounds):
            start = time.perf_counter()
            result = evaluate_model(model, x, y, ["autoattack"], dataset="synthetic", repeats=1, sanity_size=0,
                                    batch_size=batch, eot_batch=args.eot_batch)
            _sync(device)
            ours.append(time.perf_counter() - start)
            ours_acc = 100 * result.results["autoattack"].mean
            if args.no_baseline:
                continue
            import pyautoattack

            start = time.perf_counter()
            aa = pyautoattack.AutoAttack(model, norm="Linf", eps=8 / 255, version="rand", device=device)
            adv, _ = aa.run_standard_evaluation(x, y, batch_size=batch)
            _sync(device)
            base.append(time.perf_counter() - start)
            with torch.no_grad():
                base_acc = 100 * float((model(adv).argmax(1) == y).float().mean())
        t_ours = statistics.median(ours)
        t_base = statistics.median(base) if base else None
        cells = [f"{t_base:.1f}", f"{t_base / t_ours:.2f}"] if base else ["-", "-"]
        print(f"| {name} | {args.images} | {t_ours:.1f} | {args.images / t_ours:.2f} | {cells[0]} | {cells[1]} "
              f"| {ours_acc:.1f} | {base_acc if base_acc is None else f'{base_acc:.1f}'} |", flush=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main()
