"""l_inf attacks in pixel space [0, 1] (paper Sec. 3.2), torchattacks style.

Each attack is a callable ``attack(images, labels) -> adv_images``; every
gradient attack of an evaluation takes ``eot_samples`` (EOT, paper Sec. 4: K = 5)
and ``eot_batch``; :class:`TradesKL` is TRADES' training attack. See
:class:`~enresnet.attacks.base.Attack`.
"""

from .apgd import APGD
from .base import Attack, margin, model_mode
from .cw import CW
from .cwinf import CWInf
from .fgsm import FGSM
from .ifgsm import IFGSM, PGD
from .trades import TradesKL

__all__ = ["APGD", "CW", "FGSM", "IFGSM", "PGD", "Attack", "CWInf", "TradesKL", "margin", "model_mode"]
