"""Figures of the paper, drawn with matplotlib's Agg canvas (no display, no pyplot state).

* :mod:`.pde_figure`: Fig. 4, the convection-diffusion solutions (Sec. 2.2);
* :mod:`.training`: Fig. 5, training and validation accuracy per epoch;
* :mod:`.adversarial`: Fig. 6, clean and adversarial images with labels;
* :mod:`.robustness`: robust accuracy against the attack budget eps.

Each figure is a pure function of its data; the modules that need a model or
an attack also offer a driver that computes the data (attacks come in as
factories, so tests and users can plug in any) and then draws it.
:mod:`.canvas` makes and writes figures; :mod:`.checkpoints` loads labelled models.
"""
