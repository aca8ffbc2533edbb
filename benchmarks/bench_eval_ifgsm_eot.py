"""IFGSM^20 with EOT over 5 noise draws (the paper's evaluation): ours against torchattacks' EOTPGD.

Ours is the attack ``enresnet evaluate`` builds for ``ifgsm20`` with EOT 5 (eps
8/255, alpha 2/255, start at x), whose 5 draws go through the model as one batch,
on the model in NHWC layout (as the evaluation plan runs it), and whose gradients
come from bf16 forward passes where bf16 is fast (``--amp``); the
baseline is ``torchattacks.EOTPGD(steps=20, eot_iter=5, random_start=False)``,
the same attack with a Python loop of 5 forward/backward passes per step. Both
run the model in eval mode; ours on the library's model (an En_n ResNet as one
network), the baseline on the loop over its n separate networks. EOT only means something for a noisy model, so the
models default to the noise-injected ResNet20 (En1), En5ResNet20 and WRN-34-10
(En1; huge: on a CPU give it a tiny batch and one iteration). ``--eot-batch``
sets ours' ``eot_batch`` (replicas per forward pass; default: all 5 at once).
"""

import common
import torch
import torchattacks

from enresnet.device import native_bf16
from enresnet.evaluate import AttackSettings, build_attack
from enresnet.models import create_model

EPS, ALPHA, STEPS, DRAWS = 8 / 255, 2 / 255, 20, 5


def attack_pair(name, args, device):
    """Ours and torchattacks on one model's weights (the baseline: an En_n ResNet as its member loop)."""
    model = create_model(name, num_classes=common.NUM_CLASSES).to(device).eval()
    reference = common.loop_model(model).eval()
    model.to(memory_format=torch.channels_last)  # as enresnet evaluate runs it (EvaluationPlan.channels_last)
    bf16 = native_bf16(device) if args.amp == "auto" else args.amp == "bf16"
    label = name + (" [bf16 gradients, NHWC]" if bf16 else " [fp32, NHWC]")
    if args.eot_batch is not None:
        label += f" (eot_batch={args.eot_batch})"
    settings = AttackSettings(eps=EPS, alpha=ALPHA, eot=DRAWS, eot_batch=args.eot_batch, bf16=bf16)
    ours = build_attack(f"ifgsm{STEPS}", model, settings)
    baseline = torchattacks.EOTPGD(reference, eps=EPS, alpha=ALPHA, steps=STEPS, eot_iter=DRAWS, random_start=False)
    return common.Pair(ours=ours, baseline=baseline), label


def add_options(parser):
    parser.add_argument("--eot-batch", type=int, help="ours' eot_batch: noise draws per forward pass (default: all)")
    parser.add_argument("--amp", choices=("auto", "bf16", "none"), default="auto",
                        help="ours' attack gradients in bf16 (auto: where bf16 is fast, as enresnet evaluate)")


if __name__ == "__main__":
    common.run("IFGSM^20 + EOT-5 eval", __doc__, "en1_resnet20,en5_resnet20,en1_wrn34_10", attack_pair, add_options)
