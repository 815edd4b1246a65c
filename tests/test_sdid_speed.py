"""Making one analysis cheaper changed no number: the batched Frank-Wolfe loop of
evallib/stats/sdid.py against its previous version kept here verbatim, and every memo of
``TidyTable.memo`` (rows per metric, unit panels, combined series, comparator eligibility, the SDID
and synthetic-control fits) against the same analysis computed without it."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import evallib
import evallib.its.sdid as SD
from evallib.config import params_from_dict
from evallib.data.demo import generate_frame, memberships_csv
from evallib.data.table import TidyTable, as_table
from evallib.its.comparators import eligible_comparators
from evallib.its.sdid import prepare_panel
from evallib.its.series import combine_units, unit_panel
from evallib.its.single import window
from evallib.stats import sdid as S

C01 = ["ZZ001", "ZZ002", "ZZ003"]
INTR = [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-12"}]


def _fw_run_reference(pr, x0, md2: float, max_iter: int):
    """The batched Frank-Wolfe loop as it was before it read entries through flat indices and kept one
    scale per problem (evallib 2026-12-02): kept verbatim as the reference."""
    P, n = x0.shape
    out = np.array(x0, dtype=float, copy=True)
    iters = np.zeros(P, dtype=int)
    if max_iter <= 0 or P == 0:
        return out, iters
    if P == 1:
        return S._fw_run_one(pr, x0, md2, max_iter)
    Gm, Gd, H = pr.Gm, pr.Gd, pr.h
    eta, m = pr.eta.astype(float), pr.m.astype(float)
    xt = out.copy()
    gt = np.einsum("pi,pij->pj", xt, Gm) + eta[:, None] * xt
    cx, cg = np.ones(P), np.ones(P)
    act = np.arange(P)

    def scalars():
        x = cx[:, None] * xt
        h = H[act]
        Gx = np.where(x == 0, 0.0, cg[:, None] * gt - eta[:, None] * x + h)   # BIG in padding
        return (np.einsum("pi,pi->p", x, x), np.einsum("pi,pi->p", x, Gx),
                np.einsum("pi,pi->p", x, h))

    xx, q, p = scalars()
    ar_all = np.arange(P)
    divide, clip = np.divide, np.clip
    t = 0
    while act.size and t < max_iter:
        t += 1
        k = act.size
        ar = ar_all[:k]
        i = gt.argmin(axis=1)                       # argmin of g = cg * gt, cg > 0
        gi = cg * gt[ar, i]
        xi = cx * xt[ar, i]
        Gii = Gd[act, i]
        hi = H[act, i]
        w = q + eta * xx
        num = w - p - gi                            # g'x - g_i
        den = Gii - 2.0 * (gi + hi) + w + eta       # ||A(e_i - x)||^2 + eta ||e_i - x||^2
        s = divide(num, den, out=np.zeros(k), where=(den > 0) & (xi != 1.0))
        clip(s, 0.0, 1.0, out=s)
        s1 = 1.0 - s
        cx *= s1
        cg *= s1
        if s1.min() <= 0.0:                         # a full step lands on the vertex
            full = s1 <= 0.0
            cx[full] = 1.0
            cg[full] = 1.0
            xt[full] = 0.0
            gt[full] = 0.0
        xt[ar, i] += s / cx
        sg = s / cg
        row = Gm[act, i]
        row *= sg[:, None]
        gt += row
        gt[ar, i] += sg * eta
        ss, s1s1, ss1 = s * s, s1 * s1, 2.0 * s * s1
        q = s1s1 * q + ss1 * (gi - eta * xi + hi) + ss * Gii
        xx = s1s1 * xx + ss1 * xi + ss
        p = s1 * p + s * hi
        if min(cx.min(), cg.min()) < 1e-100:
            tiny = np.minimum(cx, cg) < 1e-100
            xt[tiny] *= cx[tiny, None]
            gt[tiny] *= cg[tiny, None]
            cx[tiny] = 1.0
            cg[tiny] = 1.0
        if t >= 2:
            done = (2.0 * num - s * den) * s <= md2 * m
            if done.any():
                fin = act[done]
                out[fin] = cx[done, None] * xt[done]
                iters[fin] = t
                keep = ~done
                act, xt, gt, cx, cg = act[keep], xt[keep], gt[keep], cx[keep], cg[keep]
                xx, q, p, eta, m = xx[keep], q[keep], p[keep], eta[keep], m[keep]
        if t % 64 == 0 and act.size:
            xx, q, p = scalars()
    out[act] = cx[:, None] * xt
    iters[act] = t
    return out, iters




@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    frame, _ = generate_frame()
    d = tmp_path_factory.mktemp("memo")
    (d / "collaboratives.csv").write_text(memberships_csv())
    return frame, d


def params(d, **kw):
    """The profiled analysis: demo collaborative 01, waiting list, memberships (not_yet_treated)."""
    p = {"data": "demo.csv", "metric": "rtt_waiting_list", "units": C01, "aggregate": "sum",
         "memberships": str(d / "collaboratives.csv"), "design": "controlled", "start": "2016-04",
         "end": "2025-03", "seasonality": "fourier2", "horizons": [0, 6, 12], "washout": "2020-03/2021-03",
         "interruptions": INTR}
    p.update(kw)
    return params_from_dict(p)


def _problems(frame, d, metric="rtt_waiting_list", aggregate="sum"):
    """Weight problems of the demo's SDID fits: placebo unit weights (with the fit's starting
    weights) and time weights, and bootstrap unit weights with padding columns."""
    table = as_table(frame, "demo.csv")
    p = params(d, design="sdid", comparators="all_other", metric=metric, aggregate=aggregate)
    panel = prepare_panel(p, table)
    Y = panel.Y()
    fit = S.sdid(Y, panel.n_treated, panel.T0)
    n1, n_co, T0 = fit.n_treated, fit.n_controls, fit.T0
    rng = np.random.default_rng(3)
    R, K = 24, n_co - n1
    perm = np.stack([rng.permutation(n_co) for _ in range(R)])
    ctrl = perm[:, :K]
    a = np.zeros((R, n_co))
    np.put_along_axis(a, perm[:, K:], 1.0 / n1, axis=1)
    _, G = S._omega_design(Y[:n_co, :T0], intercept=True)
    om = S._omega_problems(G, T0, ctrl, a, fit.zeta_omega)
    counts = np.zeros((R, n_co))
    np.put_along_axis(counts, ctrl, 1.0, axis=1)
    lam = S._lambda_problems(S._lambda_design(Y[:n_co], T0), counts, fit.zeta_lambda)
    N = Y.shape[0]
    draws = S._bootstrap_draws(np.random.default_rng(5), R, N, n_co, n1)
    Kb = max(int((dd < n_co).sum()) for dd in draws)
    bc = np.full((R, Kb), -1)
    ba = np.zeros((R, N))
    for r, dd in enumerate(draws):
        c = dd[dd < n_co]
        bc[r, :c.size] = c
        t = dd[dd >= n_co]
        np.add.at(ba[r], t, 1.0 / t.size)
    _, Gb = S._omega_design(Y[:, :T0], intercept=True)
    boot = S._omega_problems(Gb, T0, bc, ba, fit.zeta_omega)
    x_boot = np.where(bc >= 0, 1.0, 0.0)
    x_boot /= x_boot.sum(axis=1, keepdims=True)
    md2 = fit.min_decrease ** 2
    return [(om, S._sum_normalize(fit.omega[ctrl]), md2), (om, np.full((R, K), 1.0 / K), md2),
            (lam, np.broadcast_to(fit.lambda_, (R, T0)).copy(), md2), (boot, x_boot, md2)]


@pytest.mark.parametrize("metric,aggregate", [("rtt_waiting_list", "sum"), ("cancer_62d_pct", "ratio")])
def test_the_batched_frank_wolfe_loop_is_bit_identical_to_its_previous_version(demo, metric, aggregate):
    frame, d = demo
    for pr, x0, md2 in _problems(frame, d, metric, aggregate):
        for max_iter in (100, 10000):
            x_new, it_new = S._fw_run(pr, x0, md2, max_iter)
            x_ref, it_ref = _fw_run_reference(pr, x0, md2, max_iter)
            assert np.array_equal(it_new, it_ref)
            assert np.array_equal(x_new, x_ref)                  # to the last bit
            assert np.allclose(x_new.sum(axis=1), 1.0)
            # and the sparsified second round from there, as the fits run it
            x2, it2 = S._fw_run(pr, S.sparsify(x_new), md2, max_iter)
            r2, ir2 = _fw_run_reference(pr, S.sparsify(x_ref), md2, max_iter)
            assert np.array_equal(x2, r2) and np.array_equal(it2, ir2)


def _no_memo(monkeypatch):
    monkeypatch.setattr(TidyTable, "memo", lambda self, namespace, key, compute, maxsize=None: compute())


def _numbers(doc):
    doc = json.loads(json.dumps(doc))
    doc.pop("provenance", None)
    return doc


def _analysis(frame, d, **kw):
    """The profiled analysis end to end: fit, scorecard (refits the alternatives), leave-one-out,
    the sensitivity set, as the notebook runs them."""
    from evallib.its.sensitivity import sensitivity

    table = as_table(frame, "demo.csv")
    p = params(d, **kw)
    res = evallib.analyse(p, table)
    doc = res.to_dict()
    sens = sensitivity(p, table, primary=res, placebo=False)
    return _numbers(doc), json.loads(sens.table.to_json(orient="records", double_precision=15))


def test_memoized_analysis_equals_the_analysis_without_memo(demo, monkeypatch):
    frame, d = demo
    cached = _analysis(frame, d)
    with monkeypatch.context() as m:
        _no_memo(m)
        plain = _analysis(frame, d)
    assert cached == plain
    rows = {r["specification"]: r for r in cached[1]}
    for spec in ("design synthetic", "design sdid (synthetic difference-in-differences)"):
        assert np.isfinite(rows[spec]["absolute"]) and not rows[spec]["error"]
    assert "agreement" in {c["name"] for c in cached[0]["scorecard"]["checks"]}


@pytest.mark.parametrize("design", ["sdid", "synthetic"])
def test_the_scorecard_and_the_sensitivity_set_share_one_fit(demo, monkeypatch, design):
    """Equal params on one table, however the copy was made (the scorecard and the sensitivity set make
    theirs differently; a synthetic control has no model, so ``model`` is not in its key): one fit, and
    each call its own result. Another table object: its own fit."""
    frame, d = demo
    table = as_table(frame, "demo.csv")
    calls = []
    mod = SD if design == "sdid" else evallib.its.synthetic
    name = "_fit_sdid" if design == "sdid" else "_fit_synthetic"
    real = getattr(mod, name)
    monkeypatch.setattr(mod, name, lambda *a, **k: calls.append(1) or real(*a, **k))
    base = params(d, comparators="all_other")
    named = ["ZZ010", "ZZ011", "ZZ012", "ZZ013", "ZZ014", "ZZ015", "ZZ016"]
    p1 = base.model_copy(update={"comparators": named}).model_copy(update={"design": design})
    p2 = base.model_copy(update={"design": design}).model_copy(update={"comparators": list(named)})
    if design == "synthetic":
        p1 = p1.model_copy(update={"model": "ols-hac"})
    r1 = evallib.analyse(p1, table)
    r2 = evallib.analyse(p2, table)
    assert len(calls) == 1
    assert r1 is not r2 and r1.warnings is not r2.warnings
    d1, d2 = _numbers(r1.to_dict()), _numbers(r2.to_dict())
    assert d1 == d2 and len(d1["effects"]) == 3
    r1.effects(horizons=[400])                    # a warning on one result stays on it
    assert any("horizon 400" in w for w in r1.warnings) and not any("horizon 400" in w for w in r2.warnings)
    evallib.analyse(p1, as_table(frame, "demo.csv"))
    assert len(calls) == 2


def test_memo_gives_copies_and_lives_with_its_table(demo):
    frame, d = demo
    table = as_table(frame, "demo.csv")
    p = params(d)
    a = unit_panel(table, p.metric, C01, "2016-04", "2025-03")
    a.loc[:, "value"] = -1.0
    b = unit_panel(table, p.metric, C01, "2016-04", "2025-03")
    assert (b["value"] > 0).all()
    s = combine_units(table, p.metric, C01, "sum", "2016-04", "2025-03")
    s.frame.loc[:, "value"] = 0.0
    s.warnings.append("x")
    s2 = combine_units(table, p.metric, C01, "sum", "2016-04", "2025-03")
    assert (s2.frame["value"] > 0).all() and "x" not in s2.warnings
    win = window(p, table)
    args = (p, table, win.labels, win.pre & win.in_fit)
    kw = {"need_ratio": False, "need_den": False, "treated": win.treated, "formation": "2020-12"}
    c1 = eligible_comparators(*args, **kw)
    c1.kept.clear()
    c1.dropped["ZZ040"] = "x"
    c2 = eligible_comparators(*args, **kw)
    assert len(c2.kept) == 33 and "ZZ040" not in c2.dropped
    assert table._memo["eligible_comparators"]
    rows = table.for_metric(p.metric)
    assert rows is not table.for_metric(p.metric)
    # a new frame empties the cache; a pickled table carries none
    table.frame = table.frame.copy()
    assert unit_panel(table, p.metric, C01, "2016-04", "2025-03").equals(b)
    assert "eligible_comparators" not in table._memo
    assert pickle.loads(pickle.dumps(table))._memo == {}
    # bounded: least recently used out
    for k in range(5):
        table.memo("t", k, lambda: k, maxsize=3)
    assert list(table._memo["t"]) == [2, 3, 4]
    assert table.memo("t", 2, lambda: None, maxsize=3) == 2 and list(table._memo["t"]) == [3, 4, 2]


@pytest.mark.parametrize("method,reps", [("placebo", 40), ("bootstrap", 20), ("jackknife", 1)])
def test_the_estimators_variances_in_one_batch_equal_each_alone(demo, method, reps):
    frame, d = demo
    panel = prepare_panel(params(d, design="sdid", comparators="all_other"), as_table(frame, "demo.csv"))
    Y = panel.Y()
    fits = [S.sdid(Y, panel.n_treated, panel.T0, estimator=k) for k in ("sdid", "did", "sc")]
    joint = S.sdid_variances(fits, method, replications=reps, seed=11)
    for f, v in zip(fits, joint):
        alone = S.sdid_variance(f, method, replications=reps, seed=11)
        assert v.se == alone.se and v.seed == alone.seed
        assert np.array_equal(v.replicates, alone.replicates)
        assert np.array_equal(v.effects_replicates, alone.effects_replicates)
    assert len({v.se for v in joint}) == 3


def test_a_variance_the_data_do_not_allow_is_returned_as_its_error():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(6, 12)).cumsum(axis=1) + 50
    ok = S.sdid(Y, 2, 8)
    few = S.sdid(Y[3:], 2, 8)                     # 1 control for 2 treated
    v_ok, v_few = S.sdid_variances([ok, few], "placebo", replications=10, seed=1)
    assert v_ok.se == S.sdid_variance(ok, "placebo", replications=10, seed=1).se
    assert isinstance(v_few, S.ModelError)
    assert str(v_few).startswith("placebo variance: 1 control unit(s) found for 2 treated")
    with pytest.raises(S.ParameterError):
        S.sdid_variances([ok], "placebo", replications=0)


def test_threads_sharing_a_table_get_equal_copies(demo):
    from concurrent.futures import ThreadPoolExecutor

    frame, d = demo
    table = as_table(frame, "demo.csv")
    sets = [C01, ["ZZ004", "ZZ005"], ["ZZ006"], C01[:2]] * 6

    def panel(units):
        return unit_panel(table, "rtt_waiting_list", units, "2016-04", "2025-03")

    with ThreadPoolExecutor(max_workers=6) as ex:
        got = list(ex.map(panel, sets))
    fresh = as_table(frame, "demo.csv")
    for units, g in zip(sets, got):
        assert g.equals(unit_panel(fresh, "rtt_waiting_list", units, "2016-04", "2025-03"))
    assert len(table._memo["unit_panel"]) == 4
