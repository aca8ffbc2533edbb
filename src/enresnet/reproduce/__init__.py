"""``enresnet reproduce``: a named study of the paper, end to end (train, evaluate, tables, figures).

* :mod:`.studies`: the studies and their scales, as data;
* :mod:`.runner`: training (resumable) and the white-box / transfer tables (Tables 2, 3, 7);
* :mod:`.figures`: Fig. 5, accuracy vs eps, Fig. 6;
* :mod:`.report`: ``results.md`` (command, seed, machine, wall time, versions);
* :mod:`.seeds`: a study of methods: the study once per seed, its claims judged across seeds.
"""

from .runner import Reproduction
from .seeds import SeedStudy
from .studies import Scale, Study, get_study, studies

__all__ = ["Reproduction", "Scale", "SeedStudy", "Study", "get_study", "studies"]
