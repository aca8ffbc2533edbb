"""Natural (ERM) training step: the trainer's step against a literal per-member loop.

Ours is ``Trainer._train_step`` with ``train.method = "natural"``; the baseline
averages the members' logits from one forward pass each, then CE, backward and
the same SGD step (see ``training.py``). Models default to ResNet20, En5ResNet20
and WRN-34-10 (huge: on a CPU give it a tiny batch and one iteration).
"""

import common
from training import add_speed_options, training_pair

if __name__ == "__main__":
    common.run(
        "natural train step",
        __doc__,
        "resnet20,en5_resnet20,wrn34_10",
        lambda name, args, device: training_pair("natural", name, args, device),
        add_speed_options,
    )
