"""The ITS engine: design matrix (``design``), estimators (``estimators``), units into
one series (``series``), results (``results``) and the ``analyse`` dispatch
(``analysis``). Controlled and synthetic designs build on these pieces.

Low-level pieces other modules reuse (stable interfaces):

- ``evallib.its.design``: ``InterruptionSpec``, ``time_terms``, ``seasonal_terms``,
  ``build_design``, ``its_contrasts``, ``counterfactual_columns``;
- ``evallib.its.estimators``: ``fit(model, X, y, ...) -> Fit``, ``ols_hac_batch``,
  ``newey_west_auto``, ``prais_winsten``, ``auto_hac_lags``, ``wald_test``;
- ``evallib.its.results``: ``ITSResult``, ``PredictionRows``, ``term_dict``.

Submodules are imported on demand (statsmodels is slow to import).
"""
