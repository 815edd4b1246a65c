"""The ITS engine: design matrix (``design``), estimators (``estimators``), units into
one series (``series``), results (``results``) and the ``analyse`` dispatch
(``analysis``). Controlled and synthetic designs build on these pieces.

Low-level pieces other modules reuse (stable interfaces):

- ``evallib.its.design``: ``InterruptionSpec``, ``time_terms``, ``seasonal_terms``,
  ``build_design``, ``its_contrasts``, ``counterfactual_columns``, ``segments``,
  ``column_weights``;
- ``evallib.its.estimators``: ``fit(model, X, y, ...) -> Fit``, ``ols_hac_batch``,
  ``newey_west_auto``, ``prais_winsten``, ``auto_hac_lags``, ``wald_test``,
  ``bartlett_meat``;
- ``evallib.its.series``: ``combine_units``, ``unit_panel``, ``near_zero_pre_period``;
- ``evallib.its.single``: ``choose_model``, ``interruption_specs``, ``outcome_arrays``, ``analyse_single``; ``evallib.its.analysis``: ``analyse`` (dispatch);
- ``evallib.its.results``: ``ITSResult`` (override ``counterfactual_phrase`` to name a
  design's counterfactual in the sentences), ``PredictionRows``, ``term_dict``,
  ``json_safe``;
- ``evallib.text``: the pieces of the plain-English sentences (``when``,
  ``percent``, ``amount``, ``subject``, ``is_plural``, ``approx``, ...).

Submodules are imported on demand (statsmodels is slow to import).
"""
