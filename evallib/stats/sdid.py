"""Synthetic difference-in-differences (SDID) and its comparison estimators.

Arkhangelsky, Athey, Hirshberg, Imbens & Wager (2021), "Synthetic Difference in
Differences", *American Economic Review* 111(12):4088-4118 (arXiv:1812.09970). The
conventions are those of the authors' R package ``synthdid`` (synth-inference/synthdid),
followed exactly so that its published numbers are reproduced. References below are
to the paper's Algorithms 1-4 and to the problems of Algorithm 1 by their names in the
paper (``l_unit``, ``l_time``, ``zeta``); section 5 is the inference section of the arXiv
version (1812.09970v4):

**Panel.** ``Y`` is ``N x T``: the first ``N_co = N - n_treated`` rows are the control
units, the last ``n_treated`` rows the treated units; the first ``T0`` columns are the
pre-period, the other ``T_post = T - T0`` the post-period (block treatment: every
treated unit is treated from column ``T0`` on). No missing values.

**Noise level** ``sigma``: the standard deviation (``ddof=1``) of all first differences
``Y[i, t+1] - Y[i, t]`` of the control units over the pre-period (the paper's sigma-hat,
which enters the regularisation ``zeta``).

**Unit weights** ``omega`` (Algorithm 1, the problem ``l_unit``): the simplex point minimising

    (1/T0) * sum_t (omega_0 + sum_i omega_i Y[i, t] - mean_treated Y[:, t])^2 + zeta^2 ||omega||^2

over the pre-period, ``zeta = (n_treated * T_post)^(1/4) * sigma``; the intercept
``omega_0`` is profiled out by centring each unit's pre-period series on its own mean.

**Time weights** ``lambda`` (Algorithm 1, the problem ``l_time``): the simplex point minimising

    (1/N_co) * sum_i (lambda_0 + sum_t lambda_t Y[i, t] - mean_post Y[i, :])^2 + zeta_l^2 ||lambda||^2

over the control units, with a tiny ridge ``zeta_l = 1e-6 * sigma`` (synthdid's; the
paper's ``l_time`` has none); ``lambda_0`` is profiled out by centring each pre-period
column on the controls' mean.

**Estimate** (Algorithm 1, last step): the two-way fixed-effects regression weighted by
``omega_i lambda_t`` (treated units weighted ``1/n_treated``, post-periods ``1/T_post``),
which equals the weighted double difference

    tau = (1/T_post) sum_{t post} [ybar_tr(t) - omega'Y_co(t)]
          - sum_{t pre} lambda_t [ybar_tr(t) - omega'Y_co(t)].

Per post-period, ``effects[t] = ybar_tr(t) - omega'Y_co(t) - sum_s lambda_s
(ybar_tr(s) - omega'Y_co(s))``, and ``tau`` is their mean (``synthdid_effect_curve``).

**Comparison estimators** (paper Table 1), from the same code:

- ``did``: uniform ``omega = 1/N_co`` and ``lambda = 1/T0`` (no optimisation);
- ``sc``: synthetic control as the paper defines it: unit weights without intercept,
  ridge ``zeta = 1e-6 * sigma``, no time weights (``lambda = 0``), as ``sc_estimate``.

**Solver.** Frank-Wolfe with exact line search on each weight problem, from uniform
weights, for at most ``max_iter_pre_sparsify = 100`` iterations; then *sparsified*
(weights at most a quarter of the largest set to 0, renormalised) and run again from
there for at most ``max_iter = 10000`` iterations. A run stops when one iteration lowers
the penalised objective by no more than ``min_decrease^2``, ``min_decrease = 1e-5 *
sigma``. Here the solver is batched: many weight problems (the placebo replications)
advance together in numpy through their Gram matrices, each keeping its gradient and the
scalars of the line search up to date, so one iteration costs O(n) per problem instead
of O(n T) (a single problem runs the same arithmetic on Python scalars). Before the Gram
matrices are formed every row of a problem is shifted by a constant (exact on the
simplex), which keeps them well conditioned when levels are large against their spread.
The weights agree with synthdid's to about 1e-9 on the Proposition 99 panel.

**Variance** (:func:`sdid_variance`), Section 5 of the paper:

- ``placebo`` (Algorithm 4): ``n_treated`` of the controls are drawn at random as
  pseudo-treated, the weights are re-estimated on the remaining controls, and the
  estimate recomputed; ``se`` is the standard deviation of the replicates
  (``sqrt((B-1)/B) * sd``, i.e. ``ddof=0``). Needs ``N_co > n_treated``; valid with one
  treated unit. Re-estimation starts from the fitted weights restricted to the placebo
  controls, and keeps the fit's ``zeta`` and ``min_decrease``, as ``synthdid`` does.
- ``jackknife`` (Algorithm 3): leave each unit out in turn with the weights held fixed
  (``omega`` renormalised over the remaining controls); ``se^2 = (N-1)/N * sum (tau_(-i)
  - mean)^2``. Needs at least 2 treated units and 2 controls with non-zero weight.
- ``bootstrap`` (Algorithm 2): units resampled with replacement, draws with no treated
  or no control unit are redrawn, weights re-estimated; ``se`` as for placebo. Needs at
  least 2 treated units (the paper: valid with many treated units).

Every function is a pure function of arrays; randomness comes from a
``numpy.random.Generator`` seeded with the ``seed`` argument.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from evallib.exceptions import ModelError, ParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "ESTIMATORS",
    "VARIANCE_METHODS",
    "SDIDFit",
    "SDIDVariance",
    "PerUnitSC",
    "noise_level",
    "sdid",
    "sdid_variance",
    "sdid_variances",
    "per_unit_sc",
    "simplex_weights",
    "sparsify",
]

ESTIMATORS = ("sdid", "did", "sc")
VARIANCE_METHODS = ("placebo", "jackknife", "bootstrap")

#: Value put in the gradient of padding columns so that Frank-Wolfe never picks them.
_BIG = 1e150
#: Memory allowed for the Gram matrices of one batch of weight problems (bytes).
_BATCH_BYTES = 384 * 2**20


# ---------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class SDIDFit:
    """One SDID / DID / SC estimate with everything needed to plot and re-estimate it.

    Attributes
    ----------
    estimator : ``"sdid"``, ``"did"`` or ``"sc"``.
    estimate : tau-hat, the average effect over the treated units and post-periods
        (Algorithm 1).
    omega : (N_co,) unit weights of the control rows (sum to 1).
    lambda_ : (T0,) time weights of the pre-periods (sum to 1; all 0 for ``sc``).
    effects : (T_post,) effect in each post-period; ``estimate == effects.mean()``.
    treated : (T,) average of the treated rows.
    synthetic : (T,) ``omega' Y_co``, the weighted controls.
    counterfactual : (T,) ``synthetic + offset``; in the post-period ``treated -
        counterfactual == effects``.
    offset : ``sum_t lambda_t (treated - synthetic)(t)`` over the pre-period, the level
        difference the design removes (0 for ``sc``).
    zeta_omega, zeta_lambda : ridge penalties used for the unit and time weights.
    noise_level : sigma, SD of first differences of the controls' pre-period outcomes.
    min_decrease, max_iter, max_iter_pre_sparsify, use_sparsify : solver settings.
    iterations : Frank-Wolfe iterations ``{"omega": (first, second), "lambda": (...)}``
        (``(0, 0)`` for weights that were not estimated).
    n_treated, T0 : the layout of ``Y``.
    Y : the (N, T) panel the estimate was computed from (read-only copy); kept so that
        :func:`sdid_variance` can re-estimate.
    """

    estimator: str
    estimate: float
    omega: np.ndarray
    lambda_: np.ndarray
    effects: np.ndarray
    treated: np.ndarray
    synthetic: np.ndarray
    counterfactual: np.ndarray
    offset: float
    zeta_omega: float
    zeta_lambda: float
    noise_level: float
    min_decrease: float
    max_iter: int
    max_iter_pre_sparsify: int
    use_sparsify: bool
    iterations: dict
    n_treated: int
    T0: int
    Y: np.ndarray = field(repr=False)

    @property
    def n_controls(self) -> int:
        return self.Y.shape[0] - self.n_treated

    @property
    def T_post(self) -> int:
        return self.Y.shape[1] - self.T0


@dataclass(frozen=True, eq=False)
class SDIDVariance:
    """Standard error of an :class:`SDIDFit` and the replicates it came from.

    Attributes
    ----------
    method : ``"placebo"``, ``"jackknife"`` or ``"bootstrap"``.
    estimate : the point estimate tau-hat of the fit.
    se : standard error of ``estimate``.
    replicates : (R,) the replicate estimates (placebo effects, leave-one-out estimates
        or bootstrap estimates).
    effects : (T_post,) the fit's per-post-period effects.
    effects_se : (T_post,) standard error of each per-period effect, from the same
        replicates.
    effects_replicates : (R, T_post) the replicate per-period effects.
    replications : R (for the jackknife, N, the number of units).
    seed : the seed used (None for the jackknife, which is not random).
    """

    method: str
    estimate: float
    se: float
    replicates: np.ndarray
    effects: np.ndarray
    effects_se: np.ndarray
    effects_replicates: np.ndarray
    replications: int
    seed: int | None

    def ci(self, alpha: float = 0.05) -> tuple[float, float]:
        """Normal interval ``estimate -/+ z_{1-alpha/2} se`` (the paper's Section 5)."""
        z = _z(alpha)
        return (self.estimate - z * self.se, self.estimate + z * self.se)

    def p(self) -> float:
        """Two-sided normal p-value of ``estimate / se``."""
        return _p_normal(self.estimate, self.se)

    def effects_ci(self, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Per-post-period normal intervals ``effects -/+ z effects_se``."""
        z = _z(alpha)
        return (self.effects - z * self.effects_se, self.effects + z * self.effects_se)


@dataclass(frozen=True, eq=False)
class PerUnitSC:
    """One synthetic control per treated unit, combined into a system effect.

    Attributes
    ----------
    combine : ``"sum"``, ``"mean"`` or ``"weights"``: how the treated units' gaps make the
        system gap.
    combine_weights : (n_treated,) the weights of that combination (ones for a sum,
        ``1/n_treated`` for a mean, or those passed).
    weights : (n_treated, N_co) each treated unit's SC weights over the controls.
    synthetic : (n_treated, T) each unit's synthetic series ``weights[k] @ Y_co``.
    gaps : (n_treated, T) ``Y_k - synthetic[k]``.
    pre_rmspe : (n_treated,) root mean squared gap over the pre-period.
    system_gap : (T,) the combined gap ``combine_weights @ gaps``.
    effects : (T_post,) ``system_gap`` in the post-period.
    estimate : mean of ``effects`` (the system effect averaged over post-periods).
    se : SD (ddof=0) of the placebo estimates (NaN when ``replications == 0``).
    p : ``(1 + #{|placebo| >= |estimate|}) / (R + 1)``, the placebo rank p-value.
    replicates : (R,) placebo estimates: ``n_treated`` controls drawn as pseudo-treated,
        each fitted from the other controls, combined the same way.
    effects_se, effects_p : (T_post,) per-period SE and rank p-value from the placebos.
    effects_replicates : (R, T_post).
    zeta, noise_level, replications, seed : settings used.
    """

    combine: str
    combine_weights: np.ndarray
    weights: np.ndarray
    synthetic: np.ndarray
    gaps: np.ndarray
    pre_rmspe: np.ndarray
    system_gap: np.ndarray
    effects: np.ndarray
    estimate: float
    se: float
    p: float
    replicates: np.ndarray
    effects_se: np.ndarray
    effects_p: np.ndarray
    effects_replicates: np.ndarray
    zeta: float
    noise_level: float
    replications: int
    seed: int | None

    def ci(self, alpha: float = 0.05) -> tuple[float, float]:
        """Normal interval ``estimate -/+ z se`` with the placebo SE."""
        z = _z(alpha)
        return (self.estimate - z * self.se, self.estimate + z * self.se)

    def effects_ci(self, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        z = _z(alpha)
        return (self.effects - z * self.effects_se, self.effects + z * self.effects_se)


def _z(alpha: float) -> float:
    from scipy.stats import norm

    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must be between 0 and 1, got {alpha!r}")
    return float(norm.ppf(1 - alpha / 2))


def _p_normal(estimate: float, se: float) -> float:
    from scipy.stats import norm

    if not np.isfinite(se) or se <= 0:
        return float("nan")
    return float(2 * norm.sf(abs(estimate) / se))


# ---------------------------------------------------------------------------------- checks
def _label(labels, i, what):
    if labels is not None:
        return f"{what} {labels[i]!r}"
    return f"{what} index {i}"


def _check_panel(Y, n_treated, T0, units=None, periods=None, who="sdid") -> np.ndarray:
    """Validate the layout and values of ``Y``; return it as a float64 array."""
    try:
        Y = np.asarray(Y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{who}: Y must be a numeric (units x periods) array: {exc}") from None
    if Y.ndim != 2:
        raise ParameterError(f"{who}: Y must be 2-D (units x periods), got shape {Y.shape}")
    N, T = Y.shape
    if isinstance(n_treated, bool) or not isinstance(n_treated, (int, np.integer)):
        raise ParameterError(f"{who}: n_treated must be an integer, got {n_treated!r}")
    if isinstance(T0, bool) or not isinstance(T0, (int, np.integer)):
        raise ParameterError(f"{who}: T0 must be an integer, got {T0!r}")
    n_treated, T0 = int(n_treated), int(T0)
    if n_treated < 1:
        raise ParameterError(f"{who}: n_treated must be at least 1, got {n_treated}")
    if n_treated >= N:
        raise ModelError(
            f"{who}: {N - n_treated} control units found ({N} rows, n_treated={n_treated}); "
            "at least 1 control unit is needed: add comparators")
    if T0 < 2:
        raise ModelError(
            f"{who}: {T0} pre-period(s) found (T0={T0}); at least 2 pre-periods are needed "
            "(the noise level and the weights are estimated from pre-period changes): "
            "move the interruption later or start the series earlier")
    if T0 >= T:
        raise ModelError(
            f"{who}: no post-period found (T0={T0} of {T} periods); at least 1 period after "
            "the interruption is needed")
    if units is not None and len(units) != N:
        raise ParameterError(f"{who}: {len(units)} unit labels for {N} rows of Y")
    if periods is not None and len(periods) != T:
        raise ParameterError(f"{who}: {len(periods)} period labels for {T} columns of Y")
    bad = ~np.isfinite(Y)
    if bad.any():
        # report the first bad cell, treated rows and pre-period first
        n_co = N - n_treated
        order = [(slice(n_co, N), slice(0, T0), "treated", "pre-period"),
                 (slice(0, n_co), slice(0, T0), "control", "pre-period"),
                 (slice(n_co, N), slice(T0, T), "treated", "post-period"),
                 (slice(0, n_co), slice(T0, T), "control", "post-period")]
        for rows, cols, kind, part in order:
            sub = bad[rows, cols]
            if sub.any():
                r, c = np.argwhere(sub)[0]
                i, t = rows.start + r, cols.start + c
                n_bad = int(sub.sum())
                raise ModelError(
                    f"{who}: missing or non-finite value {float(Y[i, t])!r} in the {part} of "
                    f"{kind} {_label(units, i, 'unit')} at {_label(periods, t, 'period')} "
                    f"({n_bad} such value(s) in the {kind} {part}); a balanced panel without "
                    "gaps is needed: fill the gap or drop the unit")
    return Y


def noise_level(Y, n_treated: int, T0: int) -> float:
    """sigma: SD (``ddof=1``) of the first differences of the controls' pre-period outcomes.

    This is ``synthdid``'s default ``noise.level = sd(apply(Y[1:N0, 1:T0], 1, diff))``,
    the sigma-hat that sets the paper's regularisation ``zeta`` (Algorithm 1).
    """
    Y = _check_panel(Y, n_treated, T0, who="noise_level")
    return _noise(Y, Y.shape[0] - int(n_treated), int(T0))


def _noise(Y, n_co, T0) -> float:
    d = np.diff(Y[:n_co, :T0], axis=1)
    if d.size < 2:
        raise ModelError(
            f"noise level: {d.size} pre-period first difference found ({n_co} control x {T0} "
            "pre-periods); its standard deviation needs at least 2: add comparators or "
            "pre-periods, or pass noise=")
    return float(np.std(d, ddof=1))


# ---------------------------------------------------------------------------------- solver
def sparsify(v: np.ndarray) -> np.ndarray:
    """``synthdid``'s ``sparsify_function`` row by row: weights ``<= max/4`` set to 0, renormalised."""
    v = np.array(v, dtype=float, copy=True)
    one = v.ndim == 1
    v = np.atleast_2d(v)
    v[v <= v.max(axis=1, keepdims=True) / 4] = 0.0
    v /= v.sum(axis=1, keepdims=True)
    return v[0] if one else v


@dataclass
class _Problems:
    """A batch of P simplex least-squares problems ``min_x ||A x - b||^2 + eta ||x||^2``.

    Stored through their Gram matrices only: ``G = A'A`` and ``h = A'b``, as
    ``Gm[p, i, :] = G[i, :] - h`` (so the half-gradient at a simplex point ``x`` is
    ``x @ Gm + eta x``), ``Gd = diag(G)`` and ``h``. Padding columns carry ``BIG`` in
    ``Gm`` so that they are never chosen. ``m`` is the number of rows of each problem:
    the objective is reported as ``zeta^2 ||x||^2 + ||A x - b||^2 / m`` with ``eta = m
    zeta^2``, as in ``synthdid``.
    """

    Gm: np.ndarray      # (P, n, n)
    Gd: np.ndarray      # (P, n)
    h: np.ndarray       # (P, n)
    m: np.ndarray       # (P,)
    zeta2: np.ndarray   # (P,)

    @property
    def eta(self):
        return self.m * self.zeta2


def _fw_run(pr: _Problems, x0: np.ndarray, md2: float, max_iter: int):
    """Frank-Wolfe with exact line search (``synthdid``'s ``fw.step`` / ``sc.weight.fw``), batched.

    One iteration, for each problem: the half-gradient ``g = A'(Ax - b) + eta x``; the
    vertex ``i = argmin g``; the exact line-search step ``s`` in [0, 1] from ``x`` towards
    ``e_i``, ``s = (g'x - g_i) / (||A(e_i - x)||^2 + eta ||e_i - x||^2)``; then
    ``x <- (1-s) x + s e_i``. A problem already at the vertex ``e_i`` does not move (as
    ``fw.step``). A problem stops at the first iteration ``t >= 2`` whose objective
    decrease, ``(2 s num - s^2 den) / m`` for the step's numerator and denominator, is
    not more than ``md2`` (``synthdid`` goes on while ``vals[t-1] - vals[t] >
    min.decrease^2``), or after ``max_iter`` iterations. Returns ``(x, iterations)``.

    Cost: O(n) per problem and iteration. ``x`` and ``g`` are kept as ``c * v`` with one
    scalar ``c`` per problem (both scale by ``1 - s`` at every step), so the convex update
    ``(1-s) v + s u`` is a scaling of ``c`` plus one scaled row added to ``v``; ``g`` follows
    ``g <- (1-s) g + s (G_i - h) + s eta e_i``; the scalars ``x'x``, ``x'Gx`` and ``h'x``
    follow their exact recurrences and are recomputed from ``x`` and ``g`` every 64
    iterations. Each iteration is a fixed number of whole-batch numpy operations; the
    per-problem entries (``G_ii``, ``h_i``, the row ``G_i - h``, ``x_i``, ``g_i``) are read
    through flat indices, one ``take`` each.
    """
    P, n = x0.shape
    out = np.array(x0, dtype=float, copy=True)
    iters = np.zeros(P, dtype=int)
    if max_iter <= 0 or P == 0:
        return out, iters
    if P == 1:
        return _fw_run_one(pr, x0, md2, max_iter)
    Gm, H = pr.Gm, pr.h
    Gm_rows = Gm.reshape(P * n, n)              # row p*n + i is problem p's G_i - h
    Gd_flat, H_flat = pr.Gd.reshape(-1), H.reshape(-1)
    eta = pr.eta.astype(float)
    md2m = md2 * pr.m.astype(float)             # the stopping threshold, per problem
    xt = out.copy()
    gt = np.einsum("pi,pij->pj", xt, Gm) + eta[:, None] * xt
    c = np.ones(P)
    act = np.arange(P)
    offs = act * n                              # flat offset of each active problem in Gm_rows, Gd, h
    local = np.arange(P) * n                    # flat offset of each row of xt, gt

    def scalars():
        x = c[:, None] * xt
        h = H[act]
        Gx = np.where(x == 0, 0.0, c[:, None] * gt - eta[:, None] * x + h)   # BIG in padding
        return (np.einsum("pi,pi->p", x, x), np.einsum("pi,pi->p", x, Gx),
                np.einsum("pi,pi->p", x, h))

    xx, q, p = scalars()
    divide, clip, take = np.divide, np.clip, np.take
    xt_f, gt_f = xt.reshape(-1), gt.reshape(-1)
    t = 0
    while act.size and t < max_iter:
        t += 1
        k = act.size
        i = gt.argmin(axis=1)                       # argmin of g = c * gt, c > 0
        li = local[:k] + i
        gl = offs + i
        gi = c * take(gt_f, li)
        xi = c * take(xt_f, li)
        Gii = take(Gd_flat, gl)
        hi = take(H_flat, gl)
        w = q + eta * xx
        num = w - p - gi                            # g'x - g_i
        den = Gii - 2.0 * (gi + hi) + w + eta       # ||A(e_i - x)||^2 + eta ||e_i - x||^2
        s = divide(num, den, out=np.zeros(k), where=(den > 0) & (xi != 1.0))
        clip(s, 0.0, 1.0, out=s)
        s1 = 1.0 - s
        c *= s1
        if s1.min() <= 0.0:                         # a full step lands on the vertex
            full = s1 <= 0.0
            c[full] = 1.0
            xt[full] = 0.0
            gt[full] = 0.0
        sc = s / c
        xt_f[li] += sc
        row = take(Gm_rows, gl, axis=0)
        row *= sc[:, None]
        gt += row
        gt_f[li] += sc * eta
        ss, s1s1, ss1 = s * s, s1 * s1, 2.0 * s * s1
        q = s1s1 * q + ss1 * (gi - eta * xi + hi) + ss * Gii
        xx = s1s1 * xx + ss1 * xi + ss
        p = s1 * p + s * hi
        if c.min() < 1e-100:
            tiny = c < 1e-100
            xt[tiny] *= c[tiny, None]
            gt[tiny] *= c[tiny, None]
            c[tiny] = 1.0
        if t >= 2:
            done = (2.0 * num - s * den) * s <= md2m
            if done.any():
                fin = act[done]
                out[fin] = c[done, None] * xt[done]
                iters[fin] = t
                keep = ~done
                act, xt, gt, c = act[keep], xt[keep], gt[keep], c[keep]
                xx, q, p, eta, md2m = xx[keep], q[keep], p[keep], eta[keep], md2m[keep]
                offs = act * n
                xt_f, gt_f = xt.reshape(-1), gt.reshape(-1)
        if t % 64 == 0 and act.size:
            xx, q, p = scalars()
    out[act] = c[:, None] * xt
    iters[act] = t
    return out, iters


def _fw_run_one(pr: _Problems, x0: np.ndarray, md2: float, max_iter: int):
    """:func:`_fw_run` for a single problem, with Python scalars (the same arithmetic)."""
    Gm, Gd, H = pr.Gm[0], pr.Gd[0], pr.h[0]
    eta, m = float(pr.eta[0]), float(pr.m[0])
    xt = np.array(x0[0], dtype=float, copy=True)
    gt = xt @ Gm + eta * xt
    cx = cg = 1.0

    def scalars():
        x = cx * xt
        Gx = np.where(x == 0, 0.0, cg * gt - eta * x + H)
        return float(x @ x), float(x @ Gx), float(x @ H)

    xx, q, p = scalars()
    t = 0
    while t < max_iter:
        t += 1
        i = int(gt.argmin())
        gi = cg * float(gt[i])
        xi = cx * float(xt[i])
        Gii, hi = float(Gd[i]), float(H[i])
        Gxi = gi - eta * xi + hi
        num = (q - p + eta * xx) - gi
        den = (Gii - 2.0 * Gxi + q) + eta * (xx - 2.0 * xi + 1.0)
        s = min(1.0, max(0.0, num / den)) if (den > 0 and xi != 1.0) else 0.0
        s1 = 1.0 - s
        cx *= s1
        cg *= s1
        if s1 <= 0.0:
            cx = cg = 1.0
            xt[:] = 0.0
            gt[:] = 0.0
        xt[i] += s / cx
        gt += Gm[i] * (s / cg)
        gt[i] += s * eta / cg
        xx = s1 * s1 * xx + 2.0 * s * s1 * xi + s * s
        q = s1 * s1 * q + 2.0 * s * s1 * Gxi + s * s * Gii
        p = s1 * p + s * hi
        if min(cx, cg) < 1e-100:
            xt *= cx
            gt *= cg
            cx = cg = 1.0
        if t >= 2 and not ((2.0 * s * num - s * s * den) / m > md2):
            break
        if t % 64 == 0:
            xx, q, p = scalars()
    return (cx * xt)[None, :], np.array([t])


def _fw_solve(pr: _Problems, x0, md2, max_iter, max_iter_pre, use_sparsify):
    """``synthdid``'s two rounds: FW for ``max_iter_pre``, sparsify, FW for ``max_iter``."""
    if not use_sparsify:
        x, it = _fw_run(pr, x0, md2, max_iter)
        return x, np.zeros_like(it), it
    x, it1 = _fw_run(pr, x0, md2, max_iter_pre)
    x, it2 = _fw_run(pr, sparsify(x), md2, max_iter)
    return x, it1, it2


def _omega_design(Ypre, intercept):
    """The unit-weight design of every row of the panel, and its Gram matrix.

    Each unit's pre-period series, centred on its own mean when the problem has an
    intercept (which profiles the intercept out). Then every period (a row of the
    unit-weight problem) is shifted by the mean over all units: subtracting one number
    from a row of ``A`` and of ``b`` does not change ``A x - b`` on the simplex, and it
    keeps the Gram matrix well conditioned when levels are large against their spread.
    """
    Z = Ypre - Ypre.mean(axis=1, keepdims=True) if intercept else Ypre.copy()
    Z -= Z.mean(axis=0, keepdims=True)
    return Z, Z @ Z.T


def _omega_problems(Gfull, T0, ctrl, a, zeta) -> _Problems:
    """Unit-weight problems: columns = control rows ``ctrl`` (P, K; -1 = padding), target the
    ``a``-weighted (P, N) mean of the (pseudo-)treated rows; ``Gfull`` from :func:`_omega_design`."""
    P, K = ctrl.shape
    pad = ctrl < 0
    c = np.where(pad, 0, ctrl)
    h = np.take_along_axis(a @ Gfull, c, axis=1)            # (P, K): A_j' b
    Gm = Gfull[c[:, :, None], c[:, None, :]]
    Gd = np.take_along_axis(np.broadcast_to(np.diag(Gfull), a.shape), c, axis=1).copy()
    Gm -= h[:, None, :]
    if pad.any():
        h[pad] = 0.0
        Gd[pad] = 0.0
        Gm[pad] = 0.0
        Gm[np.broadcast_to(pad[:, None, :], Gm.shape)] = _BIG
    return _Problems(Gm=Gm, Gd=Gd, h=h, m=np.full(P, float(T0)), zeta2=np.full(P, zeta**2))


def _lambda_problems(Z, counts, zeta) -> _Problems:
    """Time-weight problems: rows = control units with multiplicities ``counts`` (P, N).

    ``Z`` (N, T0 + 1) holds each unit's pre-period outcomes and, last, its post-period
    mean, all shifted by the unit's pre-period mean (a per-row constant, see
    :func:`_omega_design`). Each problem centres the columns on the ``counts``-weighted
    mean of its controls (the intercept) and weights row ``j`` by ``counts[p, j]``
    (a unit drawn twice by the bootstrap counts twice, as a repeated row does).
    """
    w = counts.sum(axis=1).astype(float)                    # (P,)
    mu = (counts @ Z) / w[:, None]                          # (P, T0 + 1)
    A = np.sqrt(counts)[:, :, None] * (Z[None, :, :] - mu[:, None, :])   # (P, N, T0 + 1)
    S = np.matmul(A.transpose(0, 2, 1), A)                  # (P, T0 + 1, T0 + 1)
    T0 = Z.shape[1] - 1
    G = S[:, :T0, :T0]
    h = np.ascontiguousarray(S[:, :T0, T0])
    Gm = G - h[:, None, :]
    Gd = np.ascontiguousarray(np.diagonal(G, axis1=1, axis2=2))
    return _Problems(Gm=Gm, Gd=Gd, h=h, m=w, zeta2=np.full(counts.shape[0], zeta**2))


def _lambda_design(Y, T0):
    Z = np.concatenate([Y[:, :T0], Y[:, T0:].mean(axis=1, keepdims=True)], axis=1)
    return Z - Y[:, :T0].mean(axis=1, keepdims=True)


def _chunks(P, per_problem_bytes):
    """Split P problems into as few batches of equal size as the memory budget allows."""
    size = max(1, int(_BATCH_BYTES // max(per_problem_bytes, 1)))
    n = -(-P // size)
    edges = np.linspace(0, P, n + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def simplex_weights(A, b, *, zeta: float, intercept: bool = True, init=None,
                    min_decrease: float = 1e-3, max_iter: int = 10000,
                    max_iter_pre_sparsify: int = 100, use_sparsify: bool = True):
    """Frank-Wolfe weights on the simplex for one problem (``synthdid``'s ``sc.weight.fw``).

    Minimises ``zeta^2 ||x||^2 + (1/m) ||x_0 + A x - b||^2`` over ``x >= 0, sum(x) = 1``
    (``A`` is ``m x n``), with the intercept ``x_0`` profiled out when ``intercept`` (the
    columns of ``A`` and ``b`` centred). Starts at ``init`` (default uniform), runs the
    sparsified two rounds when ``use_sparsify``. Returns ``(x, iterations)`` with
    ``iterations = (first round, second round)``.
    """
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    if A.ndim != 2 or b.shape != (A.shape[0],):
        raise ParameterError(f"simplex_weights: A must be (m, n) and b (m,), got {A.shape} and {b.shape}")
    if not (np.isfinite(A).all() and np.isfinite(b).all()):
        raise ModelError("simplex_weights: A and b must be finite (no missing values)")
    m, n = A.shape
    if intercept:
        A = A - A.mean(axis=0)
        b = b - b.mean()
    shift = A.mean(axis=1, keepdims=True)                   # per-row constant, see _omega_design
    A, b = A - shift, b - shift[:, 0]
    G = A.T @ A
    h = A.T @ b
    pr = _Problems(Gm=(G - h[None, :])[None], Gd=np.diag(G)[None].copy(), h=h[None],
                   m=np.array([float(m)]), zeta2=np.array([float(zeta) ** 2]))
    x0 = np.full((1, n), 1.0 / n) if init is None else np.asarray(init, dtype=float).reshape(1, n)
    x, i1, i2 = _fw_solve(pr, x0, min_decrease**2, max_iter, max_iter_pre_sparsify, use_sparsify)
    return x[0], (int(i1[0]), int(i2[0]))


# ---------------------------------------------------------------------------------- engine
@dataclass
class _Setup:
    """What a fit passes to its re-estimations (``synthdid``'s ``opts``)."""

    estimator: str
    T0: int
    zeta_omega: float
    zeta_lambda: float
    md2: float
    max_iter: int
    max_iter_pre: int
    use_sparsify: bool


def _estimate_batch(Y, st: _Setup, ctrl, a, counts, omega0, lambda0):
    """Estimate P problems on the rows of ``Y`` (N, T).

    ``ctrl`` (P, K) control row indices (-1 = padding), ``a`` (P, N) treated-mean weights,
    ``counts`` (P, N) control multiplicities (for the time weights), ``omega0`` (P, K)
    and ``lambda0`` (P, T0) starting (or fixed) weights. Returns ``(tau, effects, omega,
    lambda, iterations)`` with ``effects`` (P, T_post).
    """
    return _estimate_batches([(Y, st, ctrl, a, counts, omega0, lambda0)])[0]


def _estimate_batches(jobs):
    """:func:`_estimate_batch` for several jobs ``(Y, st, ctrl, a, counts, omega0, lambda0)`` at once.

    The unit-weight problems of jobs with the same width and solver settings (e.g. the placebos of
    the sdid and sc estimators on one panel) advance in one Frank-Wolfe batch, up to the memory
    budget. Each problem's arithmetic is its own, so every number is the one a job alone gives; a
    batch of one problem alone is solved as one (:func:`_fw_run_one`) and is never merged.
    """
    res = []
    for Y, st, ctrl, a, counts, omega0, lambda0 in jobs:
        T0 = st.T0
        P, K = ctrl.shape
        iters = {"omega": (np.zeros(P, int), np.zeros(P, int)),
                 "lambda": (np.zeros(P, int), np.zeros(P, int))}
        if st.estimator == "sdid":
            Z = _lambda_design(Y, T0)
            lam = np.empty((P, T0))
            it = (np.zeros(P, int), np.zeros(P, int))
            per = 8 * ((T0 + 1) * (2 * Y.shape[0] + 2 * T0 + 2))
            for sl in _chunks(P, per):
                pr = _lambda_problems(Z, counts[sl].astype(float), st.zeta_lambda)
                lam[sl], it[0][sl], it[1][sl] = _fw_solve(pr, lambda0[sl], st.md2, st.max_iter,
                                                          st.max_iter_pre, st.use_sparsify)
            iters["lambda"] = it
        elif st.estimator == "sc":
            lam = np.zeros((P, T0))
        else:
            lam = np.asarray(lambda0, dtype=float)
        om = np.empty((P, K)) if st.estimator in ("sdid", "sc") else np.asarray(omega0, dtype=float)
        if st.estimator in ("sdid", "sc"):
            iters["omega"] = (np.zeros(P, int), np.zeros(P, int))
        res.append([lam, om, iters])
    # unit weights: the problems of every job, in chunks, batched together by width and settings
    groups: dict[tuple, list] = {}
    for j, (Y, st, ctrl, a, counts, omega0, lambda0) in enumerate(jobs):
        if st.estimator not in ("sdid", "sc"):
            continue
        K = ctrl.shape[1]
        _, Gfull = _omega_design(Y[:, :st.T0], intercept=st.estimator == "sdid")
        per = 8 * K * (2 * K + 4)
        key = (K, st.md2, st.max_iter, st.max_iter_pre, st.use_sparsify)
        for sl in _chunks(ctrl.shape[0], per):
            groups.setdefault(key, []).append(
                (j, sl, _omega_problems(Gfull, st.T0, ctrl[sl], a[sl], st.zeta_omega), omega0[sl], per))
    for (K, md2, max_iter, max_iter_pre, use_sparsify), parts in groups.items():
        batches: list[list] = []
        for part in parts:
            n = part[2].Gm.shape[0]
            last = batches[-1] if batches else None
            if (last is not None and n > 1 and all(q[2].Gm.shape[0] > 1 for q in last)
                    and (sum(q[2].Gm.shape[0] for q in last) + n) * part[4] <= _BATCH_BYTES):
                last.append(part)
            else:
                batches.append([part])
        for batch in batches:
            if len(batch) == 1:
                pr, x0 = batch[0][2], batch[0][3]
            else:
                pr = _Problems(**{f: np.concatenate([getattr(q[2], f) for q in batch])
                                  for f in ("Gm", "Gd", "h", "m", "zeta2")})
                x0 = np.concatenate([q[3] for q in batch])
            x, i1, i2 = _fw_solve(pr, x0, md2, max_iter, max_iter_pre, use_sparsify)
            at = 0
            for j, sl, q, _, _ in batch:
                n = q.Gm.shape[0]
                _, om, iters = res[j]
                om[sl], iters["omega"][0][sl], iters["omega"][1][sl] = x[at:at + n], i1[at:at + n], i2[at:at + n]
                at += n
    out = []
    for (Y, st, ctrl, a, counts, omega0, lambda0), (lam, om, iters) in zip(jobs, res):
        T0 = st.T0
        P = ctrl.shape[0]
        # unit weights over all N rows: +a for treated, -omega for controls
        wN = a.copy()
        rows = np.broadcast_to(np.arange(P)[:, None], ctrl.shape)
        valid = ctrl >= 0
        np.add.at(wN, (rows[valid], ctrl[valid]), -om[valid])
        diff = wN @ Y                                                   # (P, T)
        effects = diff[:, T0:] - np.einsum("pt,pt->p", diff[:, :T0], lam)[:, None]
        tau = effects.mean(axis=1)
        out.append((tau, effects, om, lam, iters))
    return out


def _sum_normalize(w):
    """``synthdid``'s ``sum_normalize`` row by row: ``w / sum(w)``, uniform where the sum is 0."""
    w = np.asarray(w, dtype=float)
    s = w.sum(axis=1, keepdims=True)
    n_valid = np.maximum(1, (w >= 0).sum(axis=1, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, w / np.where(s > 0, s, 1.0), 1.0 / n_valid)


def sdid(Y, n_treated: int, T0: int, *, estimator: str = "sdid", zeta: float | None = None,
         noise: float | None = None, min_decrease: float | None = None, max_iter: int = 10000,
         max_iter_pre_sparsify: int = 100, use_sparsify: bool = True,
         units: Sequence[str] | None = None, periods: Sequence[str] | None = None) -> SDIDFit:
    """Synthetic difference-in-differences estimate (Algorithm 1 of the paper).

    Parameters
    ----------
    Y : (N, T) array; the last ``n_treated`` rows are treated, the first ``T0`` columns
        are the pre-period.
    estimator : ``"sdid"`` (Algorithm 1), ``"did"`` (uniform weights) or ``"sc"`` (unit
        weights without intercept, ridge ``1e-6 sigma``, no time weights).
    zeta : unit-weight ridge; default ``(n_treated T_post)^(1/4) sigma`` for ``sdid``
        (the paper's choice in Algorithm 1) and ``1e-6 sigma`` for ``sc``; ignored by ``did``.
    noise : sigma; default :func:`noise_level` (SD of the controls' pre-period first
        differences).
    min_decrease : Frank-Wolfe stopping threshold; default ``1e-5 sigma``.
    max_iter, max_iter_pre_sparsify, use_sparsify : solver settings (``synthdid``'s
        ``max.iter = 1e4``, ``max.iter.pre.sparsify = 100``, ``sparsify``).
    units, periods : optional labels of the rows and columns, used in error messages.

    Raises
    ------
    ModelError : fewer than 2 pre-periods, no post-period, no control unit, or a missing
        value anywhere in ``Y`` (the message names the unit, the period and the part).
    ParameterError : an unknown ``estimator`` or malformed arguments.
    """
    if estimator not in ESTIMATORS:
        raise ParameterError(f"sdid: estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    Y = _check_panel(Y, n_treated, T0, units, periods, who=estimator)
    n_treated, T0 = int(n_treated), int(T0)
    N, T = Y.shape
    n_co, T_post = N - n_treated, T - T0
    sigma = _noise(Y, n_co, T0) if noise is None else float(noise)
    if not np.isfinite(sigma) or sigma < 0:
        raise ParameterError(f"sdid: noise level must be a non-negative number, got {sigma!r}")
    if zeta is None:
        zeta_omega = ((n_treated * T_post) ** 0.25) * sigma if estimator == "sdid" else 1e-6 * sigma
    else:
        zeta_omega = float(zeta)
        if not np.isfinite(zeta_omega) or zeta_omega < 0:
            raise ParameterError(f"sdid: zeta must be a non-negative number, got {zeta!r}")
    zeta_lambda = 1e-6 * sigma
    md = 1e-5 * sigma if min_decrease is None else float(min_decrease)
    st = _Setup(estimator=estimator, T0=T0, zeta_omega=zeta_omega, zeta_lambda=zeta_lambda,
                md2=md**2, max_iter=int(max_iter), max_iter_pre=int(max_iter_pre_sparsify),
                use_sparsify=bool(use_sparsify))
    ctrl = np.arange(n_co)[None, :]
    a = np.zeros((1, N))
    a[0, n_co:] = 1.0 / n_treated
    counts = np.zeros((1, N))
    counts[0, :n_co] = 1.0
    omega0 = np.full((1, n_co), 1.0 / n_co)
    lambda0 = np.full((1, T0), 1.0 / T0)
    tau, effects, om, lam, it = _estimate_batch(Y, st, ctrl, a, counts, omega0, lambda0)
    om, lam = om[0], lam[0]
    treated = Y[n_co:].mean(axis=0)
    synthetic = om @ Y[:n_co]
    offset = float(lam @ (treated[:T0] - synthetic[:T0]))
    Yro = Y.copy()
    Yro.flags.writeable = False
    logger.debug("%s: tau=%.6g, zeta=%.6g, sigma=%.6g, iterations=%s", estimator, tau[0],
                 zeta_omega, sigma, it)
    return SDIDFit(
        estimator=estimator, estimate=float(tau[0]), omega=om, lambda_=lam, effects=effects[0],
        treated=treated, synthetic=synthetic, counterfactual=synthetic + offset, offset=offset,
        zeta_omega=float(zeta_omega), zeta_lambda=float(zeta_lambda), noise_level=float(sigma),
        min_decrease=float(md), max_iter=st.max_iter, max_iter_pre_sparsify=st.max_iter_pre,
        use_sparsify=st.use_sparsify,
        iterations={k: (int(v[0][0]), int(v[1][0])) for k, v in it.items()},
        n_treated=n_treated, T0=T0, Y=Yro)


def _setup_of(fit: SDIDFit) -> _Setup:
    return _Setup(estimator=fit.estimator, T0=fit.T0, zeta_omega=fit.zeta_omega,
                  zeta_lambda=fit.zeta_lambda, md2=fit.min_decrease**2, max_iter=fit.max_iter,
                  max_iter_pre=fit.max_iter_pre_sparsify, use_sparsify=fit.use_sparsify)


def _check_replications(replications, who):
    if isinstance(replications, bool) or not isinstance(replications, (int, np.integer)) or replications < 1:
        raise ParameterError(f"{who}: replications must be a positive integer, got {replications!r}")
    return int(replications)


def _rng(seed, who):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParameterError(f"{who}: seed must be an integer, got {seed!r}")
    return np.random.default_rng(int(seed))


# ---------------------------------------------------------------------------------- variance
def sdid_variance(fit: SDIDFit, method: str = "placebo", *, replications: int = 200,
                  seed: int = 0, draws=None) -> SDIDVariance:
    """Standard error of ``fit.estimate`` by placebo, jackknife or bootstrap (paper Section 5).

    ``placebo`` (Algorithm 4): each replication permutes the controls, takes the last
    ``n_treated`` of them as treated and the rest as controls, re-estimates the weights
    and the estimate on the control rows only. ``jackknife`` (Algorithm 3): fixed
    weights, each of the N units left out in turn (``replications`` is ignored).
    ``bootstrap`` (Algorithm 2): N units drawn with replacement, draws without a treated
    or without a control unit redrawn, weights re-estimated. The per-post-period effects
    get their SEs from the same replicates.

    When there are at most ``replications`` distinct placebo assignments (``C(N_co, n_treated)``),
    the placebo variance is **exact**: every assignment once, no random draws (``seed`` None).

    ``draws`` replaces the random draws by given ones (e.g. those of another program, to
    reproduce its numbers): for ``placebo`` an ``(R, N_co)`` integer array whose rows are
    permutations of the control rows ``0..N_co-1`` (the last ``n_treated`` of each row are
    the pseudo-treated, as ``synthdid``'s ``sample(1:N0)``); for ``bootstrap`` an
    ``(R, N)`` array of row indices ``0..N-1`` drawn with replacement, each with at least
    one treated and one control row. ``replications`` and ``seed`` are then ignored.

    Raises ``ModelError`` when the data do not allow the method: placebo with
    ``N_co <= n_treated``; jackknife with one treated unit or fewer than 2 controls with
    non-zero weight; bootstrap with one treated unit.
    """
    kind, *rest = _variance_job(fit, method, replications, seed, draws)
    if kind == "done":
        return rest[0]
    job, finish = rest
    return finish(_estimate_batches([job])[0])


def sdid_variances(fits: Sequence[SDIDFit], method: str = "placebo", *, replications: int = 200,
                   seed: int = 0) -> list:
    """:func:`sdid_variance` of several fits (e.g. sdid, did and sc on one panel) with one seed: the
    weight problems of all their replications are solved in one batch, and every number is the one
    :func:`sdid_variance` gives for each fit alone. Returns, per fit, its :class:`SDIDVariance` or the
    ``ModelError`` that :func:`sdid_variance` would raise for it (bad arguments raise)."""
    out: list = [None] * len(fits)
    pending = []
    for k, fit in enumerate(fits):
        try:
            kind, *rest = _variance_job(fit, method, replications, seed, None)
        except ModelError as exc:
            out[k] = exc
            continue
        if kind == "done":
            out[k] = rest[0]
        else:
            pending.append((k, *rest))
    for (k, _, finish), r in zip(pending, _estimate_batches([job for _, job, _ in pending])):
        out[k] = finish(r)
    return out


def _variance_job(fit, method, replications, seed, draws):
    """``("done", SDIDVariance)`` (jackknife) or ``("job", job, finish)``: the replications' weight
    problems for :func:`_estimate_batches` and what turns their estimates into the variance."""
    if not isinstance(fit, SDIDFit):
        raise ParameterError(f"sdid_variance: fit must be an SDIDFit, got {type(fit).__name__}")
    if method not in VARIANCE_METHODS:
        raise ParameterError(
            f"sdid_variance: method must be one of {', '.join(VARIANCE_METHODS)}, got {method!r}")
    if method == "jackknife":
        return "done", _jackknife(fit)
    if draws is None:
        _check_replications(replications, method)      # bad arguments are errors on every path
        _rng(seed, method)
    if draws is None and method == "placebo" and fit.n_controls > fit.n_treated and \
            math.comb(fit.n_controls, fit.n_treated) <= replications:
        # exact: every assignment of n_treated controls as pseudo-treated, once (a permutation
        # distribution needs no Monte Carlo when it is this small: Prop 99 has 38)
        from itertools import combinations

        n_co, n1 = fit.n_controls, fit.n_treated
        rows = []
        for c in combinations(range(n_co), n1):
            rest = [j for j in range(n_co) if j not in c]
            rows.append(rest + list(c))
        draws = np.asarray(rows, dtype=int)
        R, rng, seed = len(draws), None, None
    elif draws is None:
        R = _check_replications(replications, method)
        rng = _rng(seed, method)
        seed = int(seed)
    else:
        draws = _check_draws(fit, method, draws)
        R, rng, seed = len(draws), None, None
    if method == "placebo":
        return ("job", *_placebo(fit, R, rng, seed, draws))
    return ("job", *_bootstrap(fit, R, rng, seed, draws))


def _check_draws(fit, method, draws):
    try:
        d = np.asarray(draws)
    except (TypeError, ValueError):
        d = np.asarray([], dtype=float)
    n_co, N = fit.n_controls, fit.Y.shape[0]
    width = n_co if method == "placebo" else N
    if d.ndim != 2 or d.shape[0] < 1 or d.shape[1] != width or not np.issubdtype(d.dtype, np.integer):
        raise ParameterError(
            f"{method} draws: an integer array of shape (replications, {width}) is needed, "
            f"got shape {getattr(d, 'shape', None)} and dtype {getattr(d, 'dtype', None)}")
    if method == "placebo":
        if not (np.sort(d, axis=1) == np.arange(n_co)).all():
            bad = int(np.flatnonzero(~(np.sort(d, axis=1) == np.arange(n_co)).all(axis=1))[0])
            raise ParameterError(
                f"placebo draws: row {bad} is not a permutation of the control rows 0..{n_co - 1}")
    else:
        if d.min() < 0 or d.max() >= N:
            raise ParameterError(f"bootstrap draws: row indices must be in 0..{N - 1}, "
                                 f"found {int(d.min())}..{int(d.max())}")
        nc = (d < n_co).sum(axis=1)
        bad = np.flatnonzero((nc == 0) | (nc == N))
        if bad.size:
            raise ParameterError(
                f"bootstrap draws: row {int(bad[0])} has no treated or no control unit; every "
                "draw needs at least one of each")
    return d.astype(int)


def _variance(fit, method, reps, eff_reps, R, seed):
    return SDIDVariance(method=method, estimate=fit.estimate, se=float(np.std(reps, ddof=0)),
                        replicates=reps, effects=fit.effects,
                        effects_se=np.std(eff_reps, axis=0, ddof=0), effects_replicates=eff_reps,
                        replications=R, seed=seed)


def _placebo(fit: SDIDFit, R: int, rng, seed, draws):
    """The placebo replications' job for :func:`_estimate_batches`, and what makes the variance of it."""
    n1, n_co = fit.n_treated, fit.n_controls
    if n_co <= n1:
        raise ModelError(
            f"placebo variance: {n_co} control unit(s) found for {n1} treated; the placebo "
            f"needs more controls than treated units (at least {n1 + 1}): add comparators or "
            "use the jackknife")
    Yc = fit.Y[:n_co]
    K = n_co - n1
    perm = draws if draws is not None else np.stack([rng.permutation(n_co) for _ in range(R)])
    ctrl = perm[:, :K]
    a = np.zeros((R, n_co))
    np.put_along_axis(a, perm[:, K:], 1.0 / n1, axis=1)
    counts = np.zeros((R, n_co))
    np.put_along_axis(counts, ctrl, 1.0, axis=1)
    omega0 = _sum_normalize(fit.omega[ctrl])
    lambda0 = np.broadcast_to(fit.lambda_, (R, fit.T0)).copy()
    return ((Yc, _setup_of(fit), ctrl, a, counts, omega0, lambda0),
            lambda r: _variance(fit, "placebo", r[0], r[1], R, seed))


def _jackknife(fit: SDIDFit) -> SDIDVariance:
    n1, n_co = fit.n_treated, fit.n_controls
    if n1 < 2:
        raise ModelError(
            f"jackknife variance: {n1} treated unit found; the jackknife needs at least 2 "
            "treated units: use the placebo variance")
    nz = int((fit.omega != 0).sum())
    if nz < 2:
        raise ModelError(
            f"jackknife variance: {nz} control unit with non-zero weight found; the "
            "fixed-weight jackknife needs at least 2: use the placebo variance")
    Y, T0 = fit.Y, fit.T0
    N = Y.shape[0]
    # leave out control j: omega renormalised without j; leave out treated k: mean of the others
    W = np.zeros((N, N))
    om = np.broadcast_to(fit.omega, (n_co, n_co)).copy()
    np.fill_diagonal(om, 0.0)
    om = _sum_normalize(om)
    W[:n_co, :n_co] = -om
    W[:n_co, n_co:] = 1.0 / n1
    W[n_co:, :n_co] = -fit.omega
    tr = np.full((n1, n1), 1.0 / (n1 - 1))
    np.fill_diagonal(tr, 0.0)
    W[n_co:, n_co:] = tr
    diff = W @ Y
    eff = diff[:, T0:] - (diff[:, :T0] @ fit.lambda_)[:, None]
    tau = eff.mean(axis=1)
    se = float(np.sqrt((N - 1) / N * ((tau - tau.mean()) ** 2).sum()))
    eff_se = np.sqrt((N - 1) / N * ((eff - eff.mean(axis=0)) ** 2).sum(axis=0))
    return SDIDVariance(method="jackknife", estimate=fit.estimate, se=se, replicates=tau,
                        effects=fit.effects, effects_se=eff_se, effects_replicates=eff,
                        replications=N, seed=None)


def _bootstrap(fit: SDIDFit, R: int, rng, seed, draws):
    """The bootstrap replications' job for :func:`_estimate_batches`, and what makes the variance of it."""
    n1, n_co = fit.n_treated, fit.n_controls
    if n1 < 2:
        raise ModelError(
            f"bootstrap variance: {n1} treated unit found; the bootstrap needs at least 2 "
            "treated units (and is reliable only with many): use the placebo variance")
    N = fit.Y.shape[0]
    if draws is not None:
        draws = [np.sort(d) for d in draws]
    else:
        draws = _bootstrap_draws(rng, R, N, n_co, n1)
    K = max(int((d < n_co).sum()) for d in draws)
    ctrl = np.full((R, K), -1)
    a = np.zeros((R, N))
    counts = np.zeros((R, N))
    omega0 = np.zeros((R, K))
    for r, d in enumerate(draws):
        c = d[d < n_co]
        ctrl[r, :c.size] = c
        t = d[d >= n_co]
        np.add.at(a[r], t, 1.0 / t.size)
        np.add.at(counts[r], c, 1.0)
        w = fit.omega[c]
        omega0[r, :c.size] = w / w.sum() if w.sum() > 0 else 1.0 / c.size
    lambda0 = np.broadcast_to(fit.lambda_, (R, fit.T0)).copy()
    return ((fit.Y, _setup_of(fit), ctrl, a, counts, omega0, lambda0),
            lambda r: _variance(fit, "bootstrap", r[0], r[1], R, seed))


def _bootstrap_draws(rng, R, N, n_co, n1):
    """R sorted draws of N rows with replacement, each with a treated and a control row."""
    draws, tries = [], 0
    while len(draws) < R:
        tries += 1
        if tries > 100 * R:
            raise ModelError(
                f"bootstrap variance: only {len(draws)} of {R} draws had both a treated and a "
                f"control unit after {tries - 1} tries ({n1} treated, {n_co} controls): use "
                "the placebo variance")
        ind = np.sort(rng.integers(0, N, size=N))
        nc = int((ind < n_co).sum())
        if 0 < nc < N:
            draws.append(ind)
    return draws


# ---------------------------------------------------------------------------------- per unit
def per_unit_sc(Y, n_treated: int, T0: int, *, combine="sum", replications: int = 200,
                seed: int = 0, zeta: float | None = None, noise: float | None = None,
                min_decrease: float | None = None, max_iter: int = 10000,
                max_iter_pre_sparsify: int = 100, use_sparsify: bool = True,
                units: Sequence[str] | None = None,
                periods: Sequence[str] | None = None) -> PerUnitSC:
    """One synthetic control per treated row, combined into a system effect with placebo inference.

    For each treated row ``k`` the SC weights of the paper (``estimator="sc"``: no
    intercept, ridge ``zeta = 1e-6 sigma``, the same solver) are fitted on all controls;
    ``gaps[k] = Y_k - weights[k] @ Y_co``. The system gap is their sum (``combine="sum"``,
    a total, e.g. a count summed over trusts), their mean (``"mean"``), or ``c @ gaps`` for
    a sequence ``c`` of ``n_treated`` non-negative weights (e.g. each trust's share of the
    system's pre-period denominator, for a ratio); the estimate is the system gap averaged
    over the post-period.

    Placebo inference: each of ``replications`` draws takes ``n_treated`` controls at
    random as pseudo-treated units, fits each one's SC from the other ``N_co - n_treated``
    controls (fresh, from uniform weights), combines their gaps the same way (the k-th
    pseudo-treated unit taking the k-th combination weight) and records
    the post-period average and per-period values. ``se`` is their SD (ddof=0), ``p`` the
    rank p-value of ``|estimate|`` among ``|placebos|``. ``replications=0`` gives the
    per-unit fits only (se and p NaN).

    Raises ``ModelError`` on fewer than 2 pre-periods, missing values, or (with
    replications) ``N_co <= n_treated``.
    """
    if isinstance(combine, str) and combine not in ("sum", "mean"):
        raise ParameterError(
            f"per_unit_sc: combine must be 'sum', 'mean' or a sequence of weights, got {combine!r}")
    Y = _check_panel(Y, n_treated, T0, units, periods, who="per_unit_sc")
    n1, T0 = int(n_treated), int(T0)
    N, T = Y.shape
    n_co = N - n1
    if isinstance(combine, str):
        cw = np.ones(n1) if combine == "sum" else np.full(n1, 1.0 / n1)
        how = combine
    else:
        cw = np.asarray(combine, dtype=float)
        if cw.shape != (n1,) or not np.isfinite(cw).all() or (cw < 0).any() or cw.sum() <= 0:
            raise ParameterError(
                f"per_unit_sc: combine weights must be {n1} non-negative numbers, not all 0, "
                f"got {np.asarray(combine).tolist()!r}")
        how = "weights"
    if isinstance(replications, bool) or not isinstance(replications, (int, np.integer)) or replications < 0:
        raise ParameterError(f"per_unit_sc: replications must be a non-negative integer, got {replications!r}")
    R = int(replications)
    if R and n_co <= n1:
        raise ModelError(
            f"per_unit_sc placebo: {n_co} control unit(s) found for {n1} treated; the placebo "
            f"needs more controls than treated units (at least {n1 + 1}): add comparators")
    sigma = _noise(Y, n_co, T0) if noise is None else float(noise)
    zeta_ = 1e-6 * sigma if zeta is None else float(zeta)
    md = 1e-5 * sigma if min_decrease is None else float(min_decrease)
    st = _Setup(estimator="sc", T0=T0, zeta_omega=zeta_, zeta_lambda=0.0, md2=md**2,
                max_iter=int(max_iter), max_iter_pre=int(max_iter_pre_sparsify),
                use_sparsify=bool(use_sparsify))
    # the treated units, one SC each: P = n1 problems on all controls
    ctrl = np.broadcast_to(np.arange(n_co), (n1, n_co)).copy()
    a = np.zeros((n1, N))
    a[np.arange(n1), n_co + np.arange(n1)] = 1.0
    _, _, om, _, _ = _estimate_batch(Y, st, ctrl, a, np.zeros((n1, N)),
                                     np.full((n1, n_co), 1.0 / n_co), np.zeros((n1, T0)))
    synthetic = om @ Y[:n_co]
    gaps = Y[n_co:] - synthetic
    system_gap = cw @ gaps
    effects = system_gap[T0:]
    estimate = float(effects.mean())
    pre_rmspe = np.sqrt((gaps[:, :T0] ** 2).mean(axis=1))

    if R:
        rng = _rng(seed, "per_unit_sc")
        K = n_co - n1
        perm = np.stack([rng.permutation(n_co) for _ in range(R)])
        pc = np.repeat(perm[:, :K], n1, axis=0)                  # (R*n1, K)
        pt = perm[:, K:].reshape(-1)                             # (R*n1,)
        pa = np.zeros((R * n1, N))
        pa[np.arange(R * n1), pt] = 1.0
        _, eff, _, _, _ = _estimate_batch(Y, st, pc, pa, np.zeros((R * n1, N)),
                                          np.full((R * n1, K), 1.0 / K), np.zeros((R * n1, T0)))
        eff_reps = np.einsum("k,rkt->rt", cw, eff.reshape(R, n1, T - T0))   # (R, T_post)
        reps = eff_reps.mean(axis=1)
        se = float(np.std(reps, ddof=0))
        p = float((1 + (np.abs(reps) >= abs(estimate)).sum()) / (R + 1))
        eff_se = np.std(eff_reps, axis=0, ddof=0)
        eff_p = (1 + (np.abs(eff_reps) >= np.abs(effects)).sum(axis=0)) / (R + 1)
        seed_out = int(seed)
    else:
        reps = np.empty(0)
        eff_reps = np.empty((0, T - T0))
        se, p = float("nan"), float("nan")
        eff_se = np.full(T - T0, np.nan)
        eff_p = np.full(T - T0, np.nan)
        seed_out = None
    return PerUnitSC(combine=how, combine_weights=cw, weights=om, synthetic=synthetic, gaps=gaps,
                     pre_rmspe=pre_rmspe, system_gap=system_gap, effects=effects,
                     estimate=estimate, se=se, p=p, replicates=reps, effects_se=eff_se,
                     effects_p=eff_p, effects_replicates=eff_reps, zeta=float(zeta_),
                     noise_level=float(sigma), replications=R, seed=seed_out)
