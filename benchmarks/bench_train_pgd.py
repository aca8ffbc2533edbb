"""PGD-10 adversarial training step (Algorithm 1): the trainer's step against a literal loop.

Ours is ``Trainer._train_step`` with ``train.method = "pgd"`` (paper defaults:
random start, 10 steps of 2/255, eps 8/255, the attack with BatchNorm in train
mode); the baseline writes Algorithm 1 out with one forward pass per member at
every attack step and for the update (see ``training.py``). Models default to
ResNet20, En5ResNet20 and WRN-34-10 (huge: on a CPU give it a tiny batch and
one iteration).
"""

import common
from training import add_speed_options, training_pair

if __name__ == "__main__":
    common.run(
        "PGD-10 train step",
        __doc__,
        "resnet20,en5_resnet20,wrn34_10",
        lambda name, args, device: training_pair("pgd", name, args, device),
        add_speed_options,
    )
