"""The stats layer: numerical estimators on plain arrays.

Modules here take numpy arrays and return arrays or small dataclasses. They know
nothing of params, tidy tables or results.json: the designs in :mod:`evallib.its`
build the arrays and map the results. This package imports nothing at import time.

- :mod:`evallib.stats.aligned`: numerics of the comparator-aligned comparative ITS.
- :mod:`evallib.stats.prais`: Prais-Winsten feasible GLS for AR(1) errors.
- :mod:`evallib.stats.simulate`: data-generating processes for simulation checks.
- :mod:`evallib.stats.sdid`: synthetic difference-in-differences, difference-in-differences
  and synthetic control (Arkhangelsky et al. 2021), their placebo, jackknife and
  bootstrap variances, and per-unit synthetic controls combined into a system effect.
"""

#: synthetic control: placebos whose pre-period RMSPE is over this many times the treated one are left out
#: of intervals and drawn faded (Abadie, Diamond & Hainmueller 2010)
PLACEBO_FIT_CUTOFF = 5.0
