"""``enresnet plot``: the paper's figures from training runs and checkpoints.

* ``plot training RUN_DIR ...``: Fig. 5, training/validation accuracy per epoch;
* ``plot examples CKPT CKPT ...``: Fig. 6, clean and adversarial images with labels;
* ``plot eps-curve CKPT ...``: robust accuracy under IFGSM against eps.

(Fig. 4 is drawn by ``enresnet pde``.)
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..config import pixel_value
from ..data import to_float
from ..errors import ConfigError
from ..evaluate import make_plan
from ..evaluate.figures import CurvePoint, adversarial_examples, one_per_class, robust_accuracy_curve
from ..evaluate.inputs import load_labelled_models
from ..evaluate.protocol import ATTACK_FORMS, parse_attacks
from ..outputs import check_output_file
from ..plots.adversarial import plot_adversarial_examples
from ..plots.canvas import figure_label
from ..plots.robustness import plot_accuracy_vs_eps
from ..plots.training import plot_training_curves, read_runs
from .pde import comma_separated


def run_training(args: argparse.Namespace) -> int:
    check_output_file(args.out)
    path = plot_training_curves(read_runs(args.run_dirs), args.out, title=args.title)
    print(f"wrote {path}")
    return 0


def draw_adversarial_figure(args: argparse.Namespace, path: Path) -> tuple[Path, str]:
    """Fig. 6 from checkpoints: ``--count`` test images of different classes, attacked by every attack
    against every model (labels from the checkpoints' model names); returns the path and the budget note."""
    models, data = load_labelled_models(args.checkpoints, args.dataset, args.data_dir)
    plan = make_plan(data.name, next(iter(models.values())), attacks=args.attacks, eps=args.eps, alpha=args.alpha,
                     eot=args.eot)
    chosen = data.subset(one_per_class(data.labels, args.count))
    images = to_float(chosen.images)
    columns = adversarial_examples(models, images, chosen.labels, {figure_label(a): a for a in plan.attacks}, plan)
    names = chosen.class_names or [str(k) for k in range(chosen.num_classes)]
    return plot_adversarial_examples(images, chosen.labels, names, columns, path), plan.budget.note


def draw_eps_figure(args: argparse.Namespace) -> dict[str, list[CurvePoint]]:
    """Measure the checkpoints' curves on their test split (or ``--dataset``'s) through the evaluation plan
    (EOT and repeats for stochastic models) and draw them."""
    models, data = load_labelled_models(args.checkpoints, args.dataset, args.data_dir, args.limit)
    plan = make_plan(data.name, next(iter(models.values())), attacks=[], eot=args.eot, repeats=args.repeats,
                     batch_size=args.batch_size)
    curves = {label: robust_accuracy_curve(model, data, plan, list(args.eps), args.steps, args.alpha_fraction)
              for label, model in models.items()}
    title = f"IFGSM$^{{{args.steps}}}$, alpha = {args.alpha_fraction:g} eps, EOT {args.eot}"
    plot_accuracy_vs_eps(curves, args.out, title=f"{data.name}: {title} ({len(data)} images)")
    return curves


def run_examples(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= 100:
        raise ConfigError(f"--count must be in [1, 100], got {args.count}")
    _check_common(args)
    parse_attacks(args.attacks)  # a bad name stops before any model is loaded
    path, budget = draw_adversarial_figure(args, args.out)
    print(f"wrote {path} ({budget})")
    return 0


def run_eps_curve(args: argparse.Namespace) -> int:
    if not args.eps or not all(math.isfinite(e) and 0 <= e <= 1 for e in args.eps):
        raise ConfigError(f"--eps must be values in [0, 1] (pixel units, e.g. 8/255), got {args.eps}")
    if not 1 <= args.steps <= 1000:
        raise ConfigError(f"--steps must be in [1, 1000], got {args.steps}")
    if not (math.isfinite(args.alpha_fraction) and 0 < args.alpha_fraction <= 1):
        raise ConfigError(f"--alpha-fraction must be in (0, 1], got {args.alpha_fraction}")
    if args.limit is not None and args.limit < 1 or args.batch_size < 1:
        raise ConfigError("--limit and --batch-size must be >= 1")
    _check_common(args)
    curves = draw_eps_figure(args)
    for label, curve in curves.items():
        print(f"{label}: " + ", ".join(f"eps {p.eps:.4g}: {100 * p.accuracy:.2f}% "
                                       f"[{100 * p.low:.1f}, {100 * p.high:.1f}]" for p in curve))
    print(f"wrote {args.out}")
    return 0


def _check_common(args: argparse.Namespace) -> None:
    """The checks every image figure shares: --eot and --out."""
    if not 1 <= args.eot <= 1000:
        raise ConfigError(f"--eot must be in [1, 1000], got {args.eot}")
    check_output_file(args.out)


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", nargs="+", type=Path, help="checkpoints (RUN_DIR/best or a .safetensors file)")
    p.add_argument("--dataset", default=None,
                   help="cifar10, cifar100, fashion_mnist, synthetic (default: the first checkpoint's)")
    p.add_argument("--data-dir", default=None, help="where the dataset lives")
    p.add_argument("--out", type=Path, required=True, help="PNG file to write")
    p.add_argument("--eot", type=int, default=5, help="EOT noise draws per attack gradient (default: the paper's 5)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="draw the paper's figures (Fig. 5, Fig. 6, accuracy against eps)")
    figures = p.add_subparsers(dest="figure", required=True, metavar="FIGURE")

    t = figures.add_parser("training", help="Fig. 5: training and validation accuracy per epoch of several runs")
    t.add_argument("run_dirs", nargs="+", type=Path, help="run directories holding metrics.jsonl")
    t.add_argument("--out", type=Path, required=True, help="PNG file to write")
    t.add_argument("--title", default="", help="figure title")
    t.set_defaults(func=run_training)

    e = figures.add_parser("examples", help="Fig. 6: clean and adversarial images with true and predicted labels")
    _add_data_arguments(e)
    e.add_argument("--attacks", default="ifgsm20,cw", help=f"comma-separated; valid: {', '.join(ATTACK_FORMS)}")
    e.add_argument("--count", type=int, default=4, help="images (rows), of different classes where possible")
    e.add_argument("--eps", type=pixel_value, default=None,
                   help="l_inf budget in pixel units, e.g. 8/255 (default: the first checkpoint's adversarial-"
                   "training budget, else the dataset's convention: CIFAR 8/255, Fashion-MNIST 0.1)")
    e.add_argument("--alpha", type=pixel_value, default=None,
                   help="IFGSM step in pixel units, e.g. 2/255 (default: as eps, the checkpoint's step or the "
                   "convention's: CIFAR 2/255, Fashion-MNIST 0.01)")
    e.set_defaults(func=run_examples)

    c = figures.add_parser("eps-curve", help="accuracy under IFGSM against the budget eps, one curve per model")
    _add_data_arguments(c)
    c.add_argument("--eps", type=comma_separated(pixel_value), default=[0, 2 / 255, 4 / 255, 8 / 255, 16 / 255],
                   help="budgets in pixel units, as every command takes them (default 0,2/255,4/255,8/255,16/255; "
                        "0 = clean accuracy; Fashion-MNIST's conventional eps is 0.1)")  # fmt: skip
    c.add_argument("--steps", type=int, default=20, help="IFGSM steps (default 20)")
    c.add_argument("--alpha-fraction", type=float, default=0.25, help="IFGSM step as a fraction of eps (0.25)")
    c.add_argument("--limit", type=int, default=None, help="use the first N test images only")
    c.add_argument("--repeats", type=int, default=5,
                   help="predictions per image of a stochastic model; the curve is their mean (default 5)")
    c.add_argument("--batch-size", type=int, default=128)
    c.set_defaults(func=run_eps_curve)
