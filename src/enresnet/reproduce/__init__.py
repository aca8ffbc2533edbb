"""``enresnet reproduce``: a named study of the paper, end to end (train, evaluate, tables, figures).

* :mod:`.studies`: the studies and their scales, as data;
* :mod:`.runner`: training (resumable) and the white-box / transfer tables (Tables 2, 3, 7);
* :mod:`.figures`: Fig. 5, accuracy vs eps, Fig. 6;
* :mod:`.report`: ``results.md`` (command, seed, machine, wall time, versions).
"""

from .runner import Reproduction
from .studies import STUDIES, Scale, Study, get_study

__all__ = ["STUDIES", "Reproduction", "Scale", "Study", "get_study"]
