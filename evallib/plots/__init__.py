"""All charts. One NHS palette (``evallib.plots.palette``); each chart returns ``(fig, ax)``.

Modules: ``its`` (ITS and counterfactual charts), ``spc`` (Making Data Count charts
and icons), ``synthetic`` (synthetic-control charts), ``pack`` (forest plot and
board-pack figures).
"""
