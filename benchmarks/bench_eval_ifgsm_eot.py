"""IFGSM^20 with EOT over 5 noise draws (the paper's evaluation): ours against torchattacks' EOTPGD.

Ours is ``enresnet.attacks.IFGSM(steps=20, eot_samples=5)`` (eps 8/255, alpha
2/255, start at x), whose 5 draws go through the model as one batch; the
baseline is ``torchattacks.EOTPGD(steps=20, eot_iter=5, random_start=False)``,
the same attack with a Python loop of 5 forward/backward passes per step. Both
run the model in eval mode; ours on the library's model (an En_n ResNet as one
network), the baseline on the loop over its n separate networks. EOT only means something for a noisy model, so the
models default to the noise-injected ResNet20 (En1), En5ResNet20 and WRN-34-10
(En1; huge: on a CPU give it a tiny batch and one iteration). ``--eot-batch``
sets ours' ``eot_batch`` (replicas per forward pass; default: all 5 at once).
"""

import common
import torchattacks

from enresnet.attacks import IFGSM
from enresnet.models import create_model

EPS, ALPHA, STEPS, DRAWS = 8 / 255, 2 / 255, 20, 5


def attack_pair(name, args, device):
    """Ours and torchattacks on one model's weights (the baseline: an En_n ResNet as its member loop)."""
    model = create_model(name, num_classes=common.NUM_CLASSES).to(device).eval()
    reference = common.loop_model(model).eval()
    label = name
    if args.eot_batch is not None:
        label += f" (eot_batch={args.eot_batch})"
    ours = IFGSM(
        model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=False, eot_samples=DRAWS, eot_batch=args.eot_batch
    )
    baseline = torchattacks.EOTPGD(reference, eps=EPS, alpha=ALPHA, steps=STEPS, eot_iter=DRAWS, random_start=False)
    return common.Pair(ours=ours, baseline=baseline), label


def add_options(parser):
    parser.add_argument("--eot-batch", type=int, help="ours' eot_batch: noise draws per forward pass (default: all)")


if __name__ == "__main__":
    common.run("IFGSM^20 + EOT-5 eval", __doc__, "en1_resnet20,en5_resnet20,en1_wrn34_10", attack_pair, add_options)
