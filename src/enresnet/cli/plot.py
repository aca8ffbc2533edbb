"""``enresnet plot``: the paper's figures from training runs and checkpoints.

* ``plot training RUN_DIR ...``: Fig. 5, training/validation accuracy per epoch;
* ``plot examples CKPT CKPT ...``: Fig. 6, clean and adversarial images with labels;
* ``plot eps-curve CKPT ...``: robust accuracy under IFGSM against eps.

(Fig. 4 is drawn by ``enresnet pde``.) Torch and matplotlib are imported when a figure is drawn,
after every option, output path and checkpoint file was checked.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..checkpoint_file import check_checkpoint_file
from ..config import pixel_value
from ..errors import ConfigError
from ..outputs import check_output_file
from ..threads import apply_thread_policy
from .options import Deferred, add_quiet, add_threads, attack_forms, budget, comma_separated, dataset, integer

if TYPE_CHECKING:
    from ..evaluate.figures import CurvePoint

EPS_CURVE_DEFAULT = [0, 2 / 255, 4 / 255, 8 / 255, 16 / 255]
ALPHA_FRACTION = 0.25
"""The IFGSM step of an eps-curve point without ``--alpha``: eps / 4 (as the paper's 2/255 at 8/255, and as
``enresnet reproduce`` draws the curve)."""


def _wrote(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"wrote {text}")


def run_training(args: argparse.Namespace) -> int:
    check_output_file(args.out)
    from ..plots.training import plot_training_curves, read_runs

    path = plot_training_curves(read_runs(args.run_dirs), args.out, title=args.title)
    _wrote(args, str(path))
    return 0


def draw_adversarial_figure(args: argparse.Namespace, path: Path) -> tuple[Path, str]:
    """Fig. 6 from checkpoints: ``--count`` test images of different classes, attacked by every attack
    against every model (labels from the checkpoints' model names); returns the path and the budget note."""
    from ..data import to_float
    from ..evaluate import make_plan
    from ..evaluate.figures import adversarial_examples, one_per_class
    from ..evaluate.inputs import load_labelled_models
    from ..plots.adversarial import plot_adversarial_examples
    from ..plots.canvas import figure_label

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
    (EOT and repeats for stochastic models) and draw them. The step is ``--alpha`` at every eps (a pixel step;
    at an eps below it each step reaches the ball's edge), else eps / 4 at each eps."""
    from ..evaluate import make_plan
    from ..evaluate.figures import robust_accuracy_curve
    from ..evaluate.inputs import load_labelled_models
    from ..plots.robustness import plot_accuracy_vs_eps

    models, data = load_labelled_models(args.checkpoints, args.dataset, args.data_dir, args.limit)
    plan = make_plan(data.name, next(iter(models.values())), attacks=[], eot=args.eot, repeats=args.repeats,
                     batch_size=args.batch_size)

    def fraction(eps: float) -> float:  # the curve's step as a fraction of each eps
        return ALPHA_FRACTION if args.alpha is None or eps == 0 else args.alpha / eps

    curves = {label: [point for eps in args.eps
                      for point in robust_accuracy_curve(model, data, plan, [eps], args.steps, fraction(eps))]
              for label, model in models.items()}
    step = f"{ALPHA_FRACTION:g} eps" if args.alpha is None else f"{args.alpha:.4g}"
    title = f"IFGSM$^{{{args.steps}}}$, alpha = {step}, EOT {args.eot}"
    plot_accuracy_vs_eps(curves, args.out, title=f"{data.name}: {title} ({len(data)} images)")
    return curves


def _check_figure(args: argparse.Namespace) -> None:
    """What every image figure checks before any work: --out and the checkpoint files; then the threads."""
    check_output_file(args.out)
    for path in args.checkpoints:
        check_checkpoint_file(path)
    apply_thread_policy(args.threads, args.quiet)


def run_examples(args: argparse.Namespace) -> int:
    _check_figure(args)
    from ..evaluate.protocol import parse_attacks

    parse_attacks(args.attacks)  # a bad name stops before any model is loaded
    path, budget_note = draw_adversarial_figure(args, args.out)
    _wrote(args, f"{path} ({budget_note})")
    return 0


def run_eps_curve(args: argparse.Namespace) -> int:
    if not args.eps or not all(0 <= e <= 1 for e in args.eps):
        raise ConfigError(f"--eps must be values in [0, 1] (pixel units, e.g. 8/255), got {args.eps}")
    _check_figure(args)
    curves = draw_eps_figure(args)
    for label, curve in curves.items():
        print(f"{label}: " + ", ".join(f"eps {p.eps:.4g}: {100 * p.accuracy:.2f}% "
                                       f"[{100 * p.low:.1f}, {100 * p.high:.1f}]" for p in curve))
    _wrote(args, str(args.out))
    return 0


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", nargs="+", type=Path, metavar="CKPT",
                   help="checkpoints (RUN_DIR/best or a .safetensors file)")
    p.add_argument("--dataset", type=dataset, default=None,
                   help="cifar10, cifar100, fashion_mnist (or fmnist), synthetic (default: the first checkpoint's)")
    p.add_argument("--data-dir", default=None, help="where the dataset lives")
    p.add_argument("--out", type=Path, required=True, help="PNG file to write")
    p.add_argument("--eot", type=integer(1, 1000), default=5,
                   help="EOT noise draws per attack gradient (default: the paper's 5)")
    add_quiet(p, "no 'wrote ...' line", nested=True)
    add_threads(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="draw the paper's figures (Fig. 5, Fig. 6, accuracy against eps)",
        description="Draw one of the paper's figures as a PNG: `training` (Fig. 5) from run directories, "
        "`examples` (Fig. 6) and `eps-curve` from checkpoints (attacked as `enresnet evaluate` attacks them). "
        "Fig. 4 is drawn by `enresnet pde`. `enresnet plot FIGURE --help` lists each one's options.",
    )
    add_quiet(p, "no 'wrote ...' line (also after FIGURE)")
    figures = p.add_subparsers(dest="figure", required=True, metavar="FIGURE")

    t = figures.add_parser(
        "training", help="Fig. 5: training and validation accuracy per epoch of several runs",
        description="Fig. 5: training and validation (natural and robust) accuracy per epoch, one colour per run, "
        "read from each run directory's metrics.jsonl.")
    t.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories holding metrics.jsonl")
    t.add_argument("--out", type=Path, required=True, help="PNG file to write")
    t.add_argument("--title", default="", help="figure title")
    add_quiet(t, "no 'wrote ...' line", nested=True)
    t.set_defaults(func=run_training)

    e = figures.add_parser(
        "examples", help="Fig. 6: clean and adversarial images with true and predicted labels",
        description="Fig. 6: test images of different classes, clean and attacked against each checkpoint, with "
        "true and predicted labels. The budget follows the one rule: --eps, else the first checkpoint's "
        "adversarial-training budget, else the dataset's convention.")
    _add_data_arguments(e)
    attacks = e.add_argument("--attacks", default="ifgsm20,cw",
                             help="comma-separated (default ifgsm20,cw); valid: %(valid)s")
    attacks.valid = Deferred(attack_forms)
    e.add_argument("--count", type=integer(1, 100), default=4,
                   help="images (rows), of different classes where possible (default 4)")
    e.add_argument("--eps", type=budget, default=None,
                   help="l_inf budget in pixel units, e.g. 8/255 (default: the first checkpoint's adversarial-"
                   "training budget, else the dataset's convention: CIFAR 8/255, Fashion-MNIST 0.1)")
    e.add_argument("--alpha", type=budget, default=None,
                   help="IFGSM step in pixel units, e.g. 2/255 (default: as eps, the checkpoint's step or the "
                   "convention's: CIFAR 2/255, Fashion-MNIST 0.01)")
    e.set_defaults(func=run_examples)

    c = figures.add_parser(
        "eps-curve", help="accuracy under IFGSM against the budget eps, one curve per model",
        description="Accuracy under IFGSM against the budget eps, one curve per checkpoint, each point with its "
        "95% interval (EOT and repeated predictions for a stochastic model, as `enresnet evaluate`).")
    _add_data_arguments(c)
    c.add_argument("--eps", type=comma_separated(pixel_value), default=EPS_CURVE_DEFAULT,
                   help="budgets in pixel units, as every command takes them (default 0,2/255,4/255,8/255,16/255; "
                        "0 = clean accuracy; Fashion-MNIST's conventional eps is 0.1)")  # fmt: skip
    c.add_argument("--steps", type=integer(1, 1000), default=20, help="IFGSM steps (default 20)")
    c.add_argument("--alpha", type=budget, default=None,
                   help="IFGSM step in pixel units, e.g. 2/255, the same at every eps (where eps is smaller, each "
                   "step reaches the edge of the ball); default: eps/4 at each eps (2/255 at 8/255, as the paper)")
    c.add_argument("--limit", type=integer(1), default=None, help="use the first N test images only")
    c.add_argument("--repeats", type=integer(1), default=5,
                   help="predictions per image of a stochastic model; the curve is their mean (default 5)")
    c.add_argument("--batch-size", type=integer(1), default=128, help="images per batch (default 128)")
    c.set_defaults(func=run_eps_curve)
