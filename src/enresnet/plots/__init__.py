"""Figures of the paper, drawn with matplotlib's Agg canvas (no display, no pyplot state).

* :mod:`.pde_figure`: Fig. 4, the convection-diffusion solutions (Sec. 2.2);
* :mod:`.training`: Fig. 5, training and validation accuracy per epoch;
* :mod:`.adversarial`: Fig. 6, clean and adversarial images with labels;
* :mod:`.robustness`: robust accuracy against the attack budget eps.

Each figure is a pure function of its data: this package only draws. The
numbers come from :mod:`enresnet.evaluate.figures` (attacks, accuracies with
intervals) and from training runs' ``metrics.jsonl``. :mod:`.canvas` makes and
writes figures.
"""
