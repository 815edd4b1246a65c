"""Regressions batched over *designs*: many design matrices at once, one outcome each.

Placebo dates move an interruption, so every date has its own design matrix (the level and
slope columns start at another period) over the same outcome. These functions fit all of them
in one computation on arrays of shape ``(m, N, k)``: ``m`` designs, ``N`` rows (each design's
rows padded with zero rows at the end up to the longest), ``k`` columns. Padding rows have
zero design rows and zero outcomes, so they add nothing to any cross-product, and
``valid[d, t]`` marks the real rows. Rows of a design are in time order (a panel: sorted by
unit, then time); ``groups[d, t]`` labels the unit of each row (HAC lags and Prais–Winsten
differences never pair rows of two units).

- :func:`ols_hac_designs`: OLS with the Newey–West (Bartlett) covariance, ``n/(n-k)``
  factor, lags over rows (within units for a panel): per design the numbers of statsmodels
  ``OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": L, "use_correction": True})`` (one
  series) or ``cov_type="hac-panel"`` with ``use_correction="hac"`` (a panel).
- :func:`irls_designs`: Poisson (log link, offset) and binomial (logit link, proportions
  with the trials as variance weights) maximum likelihood by iteratively reweighted least
  squares, iterated to convergence (the statsmodels GLM fit with ``atol=0, rtol=1e-12`` on
  the deviance converges to the same maximum), with the Pearson statistics the quasi
  families need.
- :func:`panel_meat_designs`: the within-unit Bartlett meat of given scores.

Columns are scaled to unit norm per design before cross-products are formed (as
:mod:`evallib.stats.prais` does), which keeps the normal equations as accurate as a
least-squares solve on ITS designs (about 1e-12 relative).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Padded:
    """Designs padded to one shape: ``X`` (m, N, k), ``valid`` (m, N), ``groups`` (m, N), ``n`` (m,)."""

    X: np.ndarray
    valid: np.ndarray
    groups: np.ndarray
    n: np.ndarray

    def pad(self, arrays) -> np.ndarray:
        """Per-design 1-D arrays (lengths ``n``) padded with zeros to (m, N)."""
        out = np.zeros(self.valid.shape)
        for d, a in enumerate(arrays):
            out[d, : self.n[d]] = np.asarray(a, dtype=float)
        return out

    def unpad(self, A: np.ndarray) -> list[np.ndarray]:
        return [A[d, : self.n[d]].copy() for d in range(A.shape[0])]


def pad_designs(Xs, groups=None) -> Padded:
    """Stack designs of one width ``k`` (lists of (n_d, k) arrays); ``groups``: per design the
    unit label of each row (None: one series each)."""
    k = Xs[0].shape[1]
    if any(X.shape[1] != k for X in Xs):
        raise ValueError("every design must have the same number of columns")
    n = np.array([X.shape[0] for X in Xs], dtype=int)
    m, N = len(Xs), int(n.max())
    X = np.zeros((m, N, k))
    valid = np.zeros((m, N), dtype=bool)
    G = np.full((m, N), -1, dtype=np.int64)
    for d, Xd in enumerate(Xs):
        X[d, : n[d]] = Xd
        valid[d, : n[d]] = True
        if groups is None:
            G[d, : n[d]] = 0
        else:
            _, codes = np.unique(np.asarray(groups[d]), return_inverse=True)
            G[d, : n[d]] = codes
    return Padded(X=X, valid=valid, groups=G, n=n)


def _scaled(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.sqrt(np.einsum("mnk,mnk->mk", X, X))
    scale[scale == 0] = 1.0
    return X / scale[:, None, :], scale


def panel_meat_designs(V: np.ndarray, groups: np.ndarray, valid: np.ndarray, lags) -> np.ndarray:
    """``sum_l w_l (G_l + G_l')`` per design for scores ``V`` (m, N, k), Bartlett weights
    ``1 - l/(L_d + 1)`` up to each design's lag ``L_d`` (``lags``: int or (m,)); ``G_l`` sums
    ``v_t v_{t-l}'`` over rows l apart in the same unit (statsmodels ``S_nw_panel``)."""
    m = V.shape[0]
    L = np.broadcast_to(np.asarray(lags, dtype=int), (m,))
    S = np.einsum("mnk,mnj->mkj", V, V)
    for lag in range(1, int(L.max(initial=0)) + 1):
        if lag >= V.shape[1]:
            break
        w = np.where(lag <= L, 1.0 - lag / (L + 1.0), 0.0)
        same = (groups[:, lag:] == groups[:, :-lag]) & valid[:, lag:] & valid[:, :-lag]
        G = np.einsum("mnk,mnj->mkj", V[:, lag:] * same[..., None], V[:, :-lag])
        S += w[:, None, None] * (G + np.swapaxes(G, 1, 2))
    return S


def ols_hac_designs(P: Padded, Y: np.ndarray, lags) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS of ``Y`` (m, N) on each design with the Newey–West covariance (see the module
    docstring). Returns ``B`` (m, k), ``cov`` (m, k, k) and residuals (m, N) (0 on padding)."""
    Z, scale = _scaled(P.X)
    ZtZ = np.einsum("mnk,mnj->mkj", Z, Z)
    G = np.linalg.solve(ZtZ, np.einsum("mnk,mn->mk", Z, Y)[..., None])[..., 0]
    U = (Y - np.einsum("mnk,mk->mn", Z, G)) * P.valid
    inv = np.linalg.inv(ZtZ)
    S = panel_meat_designs(Z * U[..., None], P.groups, P.valid, lags)
    k = P.X.shape[2]
    fac = P.n / (P.n - k)
    cov = fac[:, None, None] * (inv @ S @ inv) / (scale[:, :, None] * scale[:, None, :])
    return G / scale, (cov + np.swapaxes(cov, 1, 2)) / 2, U


@dataclass
class GLMDesigns:
    """Result of :func:`irls_designs`; arrays (m, ...) with zeros on padding rows."""

    params: np.ndarray        # (m, k)
    bread: np.ndarray         # (m, k, k): inverse Fisher information X'WX at the estimate (scale 1)
    mu: np.ndarray            # (m, N): mean count (with offset) or proportion
    score_weight: np.ndarray  # (m, N): y - mu (counts) or trials * (p - mu) (proportions)
    pearson: np.ndarray       # (m, N): Pearson residuals
    deviance: np.ndarray      # (m,)
    pearson_chi2: np.ndarray  # (m,)
    iterations: int
    converged: np.ndarray     # (m,) bool


def irls_designs(family: str, P: Padded, y: np.ndarray, *, trials: np.ndarray | None = None,
                 offset: np.ndarray | None = None, max_iter: int = 200, tol: float = 1e-13) -> GLMDesigns:
    """Poisson (``family='poisson'``, counts ``y``, optional ``offset``) or binomial
    (``'binomial'``, proportions ``y`` with ``trials``) maximum likelihood for every design.

    IRLS from the statsmodels start (``mu = (y + mean y) / 2`` for Poisson, ``(y + 0.5) / 2``
    for binomial), iterated until no linear predictor moves by more than ``tol`` relative
    (per design; a converged design is left as it is), at most ``max_iter`` iterations.
    """
    Z, scale = _scaled(P.X)
    m, N, k = Z.shape
    v = P.valid
    off = np.zeros((m, N)) if offset is None else np.where(v, offset, 0.0)
    wts = np.where(v, 1.0 if trials is None else trials, 0.0)
    if family == "poisson":
        ybar = (y * v).sum(1) / P.n
        mu = np.where(v, (y + ybar[:, None]) / 2.0, 1.0)
        eta = np.log(mu)
    elif family == "binomial":
        mu = np.where(v, (y + 0.5) / 2.0, 0.5)
        eta = np.log(mu / (1 - mu))
    else:
        raise ValueError(f"family {family!r} is not poisson or binomial")
    G = np.zeros((m, k))
    done = np.zeros(m, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):
        act = ~done
        if family == "poisson":
            w = mu * v
            z = eta - off + (y - mu) / mu
        else:
            var = mu * (1 - mu)
            w = wts * var
            z = eta + (y - mu) / var
        ZtWZ = np.einsum("mnk,mn,mnj->mkj", Z[act], w[act], Z[act])
        G_new = np.linalg.solve(ZtWZ, np.einsum("mnk,mn->mk", Z[act], (w * z)[act])[..., None])[..., 0]
        eta_new = np.einsum("mnk,mk->mn", Z[act], G_new) + off[act]
        moved = np.max(np.abs(eta_new - eta[act]) * v[act] / (1.0 + np.abs(eta_new)), axis=1)
        G[act] = G_new
        eta[act] = eta_new
        mu[act] = np.exp(eta_new) if family == "poisson" else 1.0 / (1.0 + np.exp(-eta_new))
        idx = np.flatnonzero(act)
        done[idx[moved < tol]] = True
        if done.all():
            break
    mu = np.where(v, mu, 0.0)
    if family == "poisson":
        info = mu
        sw = (y - mu) * v
        with np.errstate(divide="ignore", invalid="ignore"):
            dev_t = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
            pear = np.where(v, (y - mu) / np.sqrt(np.where(v, mu, 1.0)), 0.0)
    else:
        info = wts * mu * (1 - mu)
        sw = wts * (y - mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            dev_t = wts * (np.where(y > 0, y * np.log(y / mu), 0.0)
                           + np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0))
            pear = np.where(v, np.sqrt(wts) * (y - mu) / np.sqrt(np.where(v, mu * (1 - mu), 1.0)), 0.0)
    dev_t = np.where(v, dev_t, 0.0)
    bread = np.linalg.inv(np.einsum("mnk,mn,mnj->mkj", Z, info, Z)) / (scale[:, :, None] * scale[:, None, :])
    return GLMDesigns(params=G / scale, bread=(bread + np.swapaxes(bread, 1, 2)) / 2, mu=mu, score_weight=sw,
                      pearson=pear, deviance=2.0 * dev_t.sum(1), pearson_chi2=(pear * pear).sum(1),
                      iterations=it, converged=done)
