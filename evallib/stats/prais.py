"""Prais–Winsten feasible GLS for AR(1) errors: one implementation for every design.

:func:`prais_winsten` fits one outcome or many outcome columns sharing one design,
for one series or for a panel of units (``groups``), with the conventions of Stata
``prais`` (its defaults):

- **transform** with the AR(1) coefficient rho: the first row of each unit is scaled
  by ``sqrt(1 - rho^2)`` (kept, not dropped as Cochrane–Orcutt does) and every later
  row of a unit becomes ``z_t - rho z_{t-1}``, where ``t-1`` is the previous row *of
  the same unit*. Rows of different units are never differenced against each other;
- **rho** is one coefficient shared by all units, the regression without a constant of
  ``e_t`` on ``e_{t-1}`` over the within-unit pairs of original-scale residuals
  ``e = y - X b``, clipped to +-0.999999 (0 when there is no pair or every lagged
  residual is 0);
- **iterated** from OLS: rho from the residuals, b from the transformed regression,
  until rho changes by less than ``tol`` (1e-8) or ``max_iter`` (100) iterations.
  With many outcome columns each column has its own rho; iteration goes on until
  every column has converged;
- **covariance** ``s^2 (X*'X*)^-1`` with ``s^2 = u'u / (n - k)`` from the transformed
  (whitened) residuals ``u``; t with ``n - k`` degrees of freedom.

``groups`` (one label per row, e.g. the unit code of a stacked controlled design) says
which rows belong to which unit. Rows of each unit must be in time order; they need not
be contiguous. ``groups=None`` is one unit (a single series).

The transformed cross-products are quadratics in rho built from fixed moments of the
rows (first rows, later rows, their predecessors), so an iteration costs ``O(m k^2)``
plus one residual pass for ``m`` outcome columns, never a transformed design per
column: the power simulation fits thousands of series at once with it. The columns of
``X`` are scaled to unit norm before the moments are formed, which keeps the normal
equations as accurate as a least-squares solve of the transformed design (to about
1e-12 relative on ITS designs).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

RHO_BOUND = 0.999999


@dataclass
class PraisWinstenFit:
    """Result of :func:`prais_winsten`.

    For a 1-D outcome: ``params`` (k,), ``cov`` (k, k), ``rho`` float, ``resid`` (n,),
    ``sigma2`` float, ``converged`` bool. For an (n, m) outcome: ``params`` (m, k),
    ``cov`` (m, k, k), ``rho`` (m,), ``resid`` (n, m), ``sigma2`` (m,), ``converged``
    (m,) bool. ``resid`` are the transformed (whitened) residuals; ``iterations`` is the
    number of iterations run (the same for every column).
    """

    params: np.ndarray
    cov: np.ndarray
    rho: float | np.ndarray
    resid: np.ndarray
    sigma2: float | np.ndarray
    converged: bool | np.ndarray
    iterations: int
    df_resid: float

    @property
    def se(self) -> np.ndarray:
        """Standard errors, (k,) or (m, k)."""
        return np.sqrt(np.clip(np.diagonal(self.cov, axis1=-2, axis2=-1), 0.0, None))


def unit_pairs(n: int, groups=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first, later, previous)`` row indices of ``n`` rows in units ``groups``.

    ``first``: the first row of each unit; ``later``: every other row; ``previous[i]``:
    the row before ``later[i]`` in the same unit. ``groups=None`` is one unit.
    """
    if groups is None:
        return np.array([0]) if n else np.array([], dtype=int), np.arange(1, n), np.arange(0, max(n - 1, 0))
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups has shape {g.shape}; expected one label per row ({n},)")
    _, codes = np.unique(g, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    sc = codes[order]
    same = np.r_[False, sc[1:] == sc[:-1]]
    later = order[same]
    previous = order[np.flatnonzero(same) - 1]
    first = order[~same]
    srt = np.argsort(later, kind="stable")
    return np.sort(first), later[srt], previous[srt]


def pw_transform(X: np.ndarray, y: np.ndarray, rho: float, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """The Prais–Winsten transform of ``X`` (n, k) and ``y`` (n,) or (n, m) at one ``rho``."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    first, later, prev = unit_pairs(X.shape[0], groups)
    c = math.sqrt(1.0 - rho * rho)
    Xs, ys = np.empty_like(X), np.empty_like(y)
    Xs[first], ys[first] = c * X[first], c * y[first]
    Xs[later], ys[later] = X[later] - rho * X[prev], y[later] - rho * y[prev]
    return Xs, ys


def _estimate_rho(E: np.ndarray, later: np.ndarray, prev: np.ndarray) -> np.ndarray:
    num = np.sum(E[later] * E[prev], axis=0)
    den = np.sum(E[prev] * E[prev], axis=0)
    r = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.clip(r, -RHO_BOUND, RHO_BOUND)


def prais_winsten(X, y, groups=None, *, tol: float = 1e-8, max_iter: int = 100) -> PraisWinstenFit:
    """Iterated Prais–Winsten of ``y`` (n,) or (n, m) on ``X`` (n, k); see the module docstring.

    ``groups``: one unit label per row (rows of a unit in time order), or None for one
    series. Inputs must be finite with ``n > k``; a singular transformed design raises
    ``numpy.linalg.LinAlgError`` (callers turn it into a ``ModelError``).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    one = y.ndim == 1
    Y = y.reshape(X.shape[0], -1)
    n, k = X.shape
    if groups is None:      # views instead of copies: the power simulation passes thousands of columns
        first, later, prev = slice(0, 1), slice(1, None), slice(0, n - 1)
    else:
        first, later, prev = unit_pairs(n, groups)

    scale = np.linalg.norm(X, axis=0)
    scale[scale == 0] = 1.0
    Z = X / scale
    ZF, ZL, ZP = Z[first], Z[later], Z[prev]
    YF, YL, YP = Y[first], Y[later], Y[prev]
    FF, LL, PP = ZF.T @ ZF, ZL.T @ ZL, ZP.T @ ZP
    LP = ZL.T @ ZP
    LP = LP + LP.T
    fy, ly, lpy, ply, py = ZF.T @ YF, ZL.T @ YL, ZL.T @ YP, ZP.T @ YL, ZP.T @ YP      # (k, m)

    def moments(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X*'X* (m, k, k) and X*'y* (m, k) of the scaled design at rho r (m,)."""
        c2, r2 = 1.0 - r * r, r * r
        ZtZ = (c2[:, None, None] * FF + LL - r[:, None, None] * LP + r2[:, None, None] * PP)
        Zty = c2 * fy + ly - r * (lpy + ply) + r2 * py
        return ZtZ, Zty.T

    def solve(r: np.ndarray) -> np.ndarray:
        ZtZ, Zty = moments(r)
        return np.linalg.solve(ZtZ, Zty[..., None])[..., 0]                      # (m, k), scaled

    G = np.linalg.lstsq(Z, Y, rcond=None)[0].T                                  # OLS start
    rho = np.zeros(Y.shape[1])
    done = np.zeros(Y.shape[1], dtype=bool)
    it = 0
    E = np.empty_like(Y)                                                         # residual buffer
    for it in range(1, max_iter + 1):
        np.subtract(Y, np.matmul(Z, G.T, out=E), out=E)
        r_new = _estimate_rho(E, later, prev)
        G = solve(r_new)
        done = np.abs(r_new - rho) < tol
        rho = r_new
        if np.all(done):
            break
    ZtZ, Zty = moments(rho)
    G = np.linalg.solve(ZtZ, Zty[..., None])[..., 0]
    np.subtract(Y, np.matmul(Z, G.T, out=E), out=E)
    c = np.sqrt(1.0 - rho * rho)
    U = np.empty_like(E)
    U[first] = c * E[first]
    U[later] = E[later] - rho * E[prev]
    s2 = np.sum(U * U, axis=0) / (n - k)
    cov = s2[:, None, None] * np.linalg.inv(ZtZ) / np.outer(scale, scale)[None]
    beta = G / scale
    if one:
        return PraisWinstenFit(beta[0], cov[0], float(rho[0]), U[:, 0], float(s2[0]), bool(done[0]), it,
                               float(n - k))
    return PraisWinstenFit(beta, cov, rho, U, s2, done, it, float(n - k))


def prais_winsten_designs(X: np.ndarray, Y: np.ndarray, valid: np.ndarray, groups: np.ndarray | None = None, *,
                          tol: float = 1e-8, max_iter: int = 100) -> PraisWinstenFit:
    """Iterated Prais–Winsten for many *designs* at once, one outcome each.

    ``X`` (m, N, k), ``Y`` (m, N): design ``d``'s rows in time order (a panel: sorted by unit,
    then time), padded at the end with zero rows; ``valid`` (m, N) marks the real rows and
    ``groups`` (m, N) their unit (None: one series per design). Each design gets exactly what
    :func:`prais_winsten` gives it alone: the same start (OLS), rho update, convergence rule and
    final solve; a design that has converged is frozen while the others iterate. Returns a
    :class:`PraisWinstenFit` with ``params`` (m, k), ``cov`` (m, k, k), ``rho``, ``sigma2``,
    ``converged`` (m,), ``resid`` (m, N) (0 on padding) and ``df_resid`` of the first design
    (``n_d - k`` per design is ``valid.sum(1) - k``).
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    m, N, k = X.shape
    v = np.asarray(valid, dtype=bool)
    g = np.zeros((m, N), dtype=np.int64) if groups is None else np.asarray(groups)
    later = np.zeros((m, N), dtype=bool)
    later[:, 1:] = v[:, 1:] & v[:, :-1] & (g[:, 1:] == g[:, :-1])
    first = v & ~later
    n = v.sum(1)

    scale = np.sqrt(np.einsum("mnk,mnk->mk", X, X))
    scale[scale == 0] = 1.0
    Z = X / scale[:, None, :]
    Zp = np.zeros_like(Z)
    Zp[:, 1:] = Z[:, :-1]
    Yp = np.zeros_like(Y)
    Yp[:, 1:] = Y[:, :-1]
    fm, lm = first.astype(float), later.astype(float)
    FF = np.einsum("mnk,mn,mnj->mkj", Z, fm, Z)
    LL = np.einsum("mnk,mn,mnj->mkj", Z, lm, Z)
    PP = np.einsum("mnk,mn,mnj->mkj", Zp, lm, Zp)
    LP = np.einsum("mnk,mn,mnj->mkj", Z, lm, Zp)
    LP = LP + np.swapaxes(LP, 1, 2)
    fy = np.einsum("mnk,mn,mn->mk", Z, fm, Y)
    ly = np.einsum("mnk,mn,mn->mk", Z, lm, Y)
    lpy = np.einsum("mnk,mn,mn->mk", Z, lm, Yp)
    ply = np.einsum("mnk,mn,mn->mk", Zp, lm, Y)
    py = np.einsum("mnk,mn,mn->mk", Zp, lm, Yp)

    def moments(r: np.ndarray):
        c2, r2 = 1.0 - r * r, r * r
        ZtZ = c2[:, None, None] * FF + LL - r[:, None, None] * LP + r2[:, None, None] * PP
        Zty = c2[:, None] * fy + ly - r[:, None] * (lpy + ply) + r2[:, None] * py
        return ZtZ, Zty

    def solve(r: np.ndarray) -> np.ndarray:
        ZtZ, Zty = moments(r)
        return np.linalg.solve(ZtZ, Zty[..., None])[..., 0]

    def residuals(G: np.ndarray) -> np.ndarray:
        return (Y - np.einsum("mnk,mk->mn", Z, G)) * v

    def rho_of(E: np.ndarray) -> np.ndarray:
        Ep = np.zeros_like(E)
        Ep[:, 1:] = E[:, :-1]
        num = np.sum(E * Ep * lm, axis=1)
        den = np.sum(Ep * Ep * lm, axis=1)
        r = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        return np.clip(r, -RHO_BOUND, RHO_BOUND)

    ZtZ0 = np.einsum("mnk,mnj->mkj", Z, Z)
    G = np.linalg.solve(ZtZ0, np.einsum("mnk,mn->mk", Z, Y)[..., None])[..., 0]     # OLS start
    rho = np.zeros(m)
    done = np.zeros(m, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):
        act = ~done
        r_new = rho_of(residuals(G))
        G_new = solve(r_new)
        conv = np.abs(r_new - rho) < tol
        G = np.where(act[:, None], G_new, G)
        rho = np.where(act, r_new, rho)
        done = done | (act & conv)
        if np.all(done):
            break
    ZtZ, Zty = moments(rho)
    G = np.linalg.solve(ZtZ, Zty[..., None])[..., 0]
    E = residuals(G)
    Ep = np.zeros_like(E)
    Ep[:, 1:] = E[:, :-1]
    c = np.sqrt(1.0 - rho * rho)
    U = np.where(first, c[:, None] * E, 0.0) + np.where(later, E - rho[:, None] * Ep, 0.0)
    s2 = np.sum(U * U, axis=1) / (n - k)
    cov = s2[:, None, None] * np.linalg.inv(ZtZ) / (scale[:, :, None] * scale[:, None, :])
    return PraisWinstenFit(G / scale, cov, rho, U, s2, done, it, float(n[0] - k))
