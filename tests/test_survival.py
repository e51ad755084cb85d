"""Tests of wellness_research.survival: Aalen–Johansen with competing risks, risk differences, Cox.

Three kinds of truth: hand-computed cases (worked in the comments), agreement with lifelines 0.30.3
(``AalenJohansenFitter``, ``CoxPHFitter``; installed in the project env) on the same data, and a
finite-difference check of the influence function.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from wellness_research.errors import ConfigurationError, DataValidationError
from wellness_research.survival import (
    CumulativeIncidenceResult,
    cause_specific_cox,
    cumulative_incidence,
    risk_difference,
)
from wellness_research.survival.competing import _fit, _influence

TOL_LIFELINES = 1e-8  # the acceptance tolerance against lifelines
TOL_EXACT = 1e-12     # hand cases and algebraic identities


def _step(table: pd.DataFrame, col: str, times: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(table["time"].to_numpy(), times, side="right") - 1
    return table[col].to_numpy()[idx]


def _no_cross_ties(seed: int, n: int = 400) -> pd.DataFrame:
    """Cause-1 events on integer days, cause-2 on half days, censoring anywhere: ties within a cause
    and with censoring, but no tie between different causes, so lifelines does not jitter."""
    rng = np.random.default_rng(seed)
    e = rng.choice([0, 1, 2], size=n, p=[0.35, 0.4, 0.25])
    t = rng.integers(1, 60, size=n).astype(float)
    t = np.where(e == 2, t + 0.5, t)
    t = np.where(e == 0, rng.integers(1, 120, size=n) / 2.0, t)
    return pd.DataFrame({"t": t, "e": e})


# ------------------------------------------------------------------------------------ hand cases
def test_hand_case_four_persons():
    # t = 1,2,3,4; events 1,2,0,1. At t=1: Y=4, d1=1 -> F=1/4, S=3/4. At t=2: Y=3, competing -> S=1/2.
    # t=3 censored. At t=4: Y=1, d1=1 -> F = 1/4 + (1/2)(1/1) = 3/4.
    d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 2, 0, 1]})
    r = cumulative_incidence(d, time="t", event="e", times=[0.5, 1, 2, 3.9, 4, 10], variance="delta")
    np.testing.assert_allclose(r.at["estimate"], [0, 0.25, 0.25, 0.25, 0.75, 0.75], atol=TOL_EXACT)
    # delta variance at t=1: S(0)^2 d1 (Y-d1) / Y^3 = 3/64 (the other two terms vanish at the first time)
    assert r.at["std_error"].iloc[1] ** 2 == pytest.approx(3 / 64, abs=TOL_EXACT)
    # influence at t=1: U = (dN1 - 1/4)/4 -> 3/16 for the case, -1/16 for the others; sum of squares 3/64
    ri = cumulative_incidence(d, time="t", event="e", times=[1])
    assert ri.at["std_error"].iloc[0] ** 2 == pytest.approx(3 / 64, abs=TOL_EXACT)


def test_hand_case_tied_different_causes_handled_exactly():
    # t = 1,1,2,2; events 1,2,1,0. At t=1: Y=4, d1=1, d2=1 -> F=1/4, S=1/2; at t=2: Y=2, d1=1 ->
    # F = 1/4 + (1/2)(1/2) = 1/2. No jitter: ties of different causes share the risk set.
    d = pd.DataFrame({"t": [1, 1, 2, 2], "e": [1, 2, 1, 0]})
    r = cumulative_incidence(d, time="t", event="e", times=[1, 2])
    np.testing.assert_allclose(r.at["estimate"], [0.25, 0.5], atol=TOL_EXACT)


def test_hand_case_weights_equal_frequency_replication():
    # weight 2 on the first person = two copies: t=1: Y=5, d1=2 -> F=2/5, S=3/5; t=2: Y=3, d2=1 -> S=2/5;
    # t=4: Y=1, d1=1 -> F = 2/5 + 2/5 = 4/5.
    d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 2, 0, 1], "w": [2.0, 1, 1, 1], "id": [0, 1, 2, 3]})
    r = cumulative_incidence(d, time="t", event="e", weights="w", cluster="id", times=[1, 4])
    np.testing.assert_allclose(r.at["estimate"], [0.4, 0.8], atol=TOL_EXACT)
    dup = pd.DataFrame({"t": [1, 1, 2, 3, 4], "e": [1, 1, 2, 0, 1], "id": [0, 0, 1, 2, 3]})
    rd = cumulative_incidence(dup, time="t", event="e", cluster="id", times=[1, 4])
    np.testing.assert_allclose(r.at[["estimate", "std_error"]], rd.at[["estimate", "std_error"]], atol=TOL_EXACT)


def test_influence_function_is_the_derivative_in_the_weights():
    # finite differences of F_1(t) in each weight (central, step 1e-6) against the analytic influence
    d = _no_cross_ties(3, n=120)
    rng = np.random.default_rng(4)
    t, e = d["t"].to_numpy(), d["e"].to_numpy()
    e1, e2, w = e == 1, e == 2, rng.uniform(0.3, 2.0, len(t))
    aj = _fit(t, e1, e2, w)
    m = np.array([3, len(aj.times) // 2, len(aj.times) - 1])
    u = _influence(aj, t, e1, e2, m)
    h = 1e-6
    for i in range(0, len(t), 7):
        up, dn = w.copy(), w.copy()
        up[i] += h
        dn[i] -= h
        num = (_fit(t, e1, e2, up).cif[m] - _fit(t, e1, e2, dn).cif[m]) / (2 * h)
        np.testing.assert_allclose(u[i], num, atol=1e-7)


# ------------------------------------------------------------------------------------ lifelines
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_lifelines_aalen_johansen(seed):
    # lifelines 0.30.3 AalenJohansenFitter(calculate_variance=True) with its defaults. The data have no
    # tie between different causes, so lifelines does not jitter (it would warn, and warnings are
    # errors here). Estimate and variance (Collett's delta method, our variance="delta") to 1e-8; the
    # log(-log) interval too (lifelines labels its bounds the other way round: its "upper" column
    # holds the lower bound — both columns are compared as min/max).
    from lifelines import AalenJohansenFitter

    d = _no_cross_ties(seed)
    for k in (1, 2):
        lf = AalenJohansenFitter(calculate_variance=True).fit(d["t"], d["e"], event_of_interest=k)
        r = cumulative_incidence(d, time="t", event="e", event_of_interest=k, competing=(3 - k,), variance="delta")
        times = lf.cumulative_density_.index.to_numpy()
        np.testing.assert_allclose(_step(r.table, "estimate", times), lf.cumulative_density_.iloc[:, 0],
                                   rtol=0, atol=TOL_LIFELINES)
        v = lf.variance_.to_numpy()
        ok = np.isfinite(v)
        np.testing.assert_allclose(_step(r.table, "std_error", times)[ok] ** 2, v[ok], rtol=0, atol=TOL_LIFELINES)
        bounds = lf.confidence_interval_.to_numpy()
        ok = np.isfinite(bounds).all(axis=1)
        np.testing.assert_allclose(_step(r.table, "conf_low", times)[ok], bounds[ok].min(axis=1), atol=TOL_LIFELINES)
        np.testing.assert_allclose(_step(r.table, "conf_high", times)[ok], bounds[ok].max(axis=1), atol=TOL_LIFELINES)


def test_influence_variance_equals_delta_variance_unweighted():
    # Unweighted and unclustered, the infinitesimal-jackknife variance reproduces Collett's delta-method
    # formula exactly (observed to machine precision on this and other data; both are the
    # linearisation of F_1 in the cause-specific hazard increments).
    d = _no_cross_ties(5)
    a = cumulative_incidence(d, time="t", event="e", variance="delta")
    b = cumulative_incidence(d, time="t", event="e", variance="influence")
    np.testing.assert_allclose(a.table["std_error"], b.table["std_error"], atol=TOL_EXACT)


# ------------------------------------------------------------------------------------ risk difference
def test_risk_difference_hand_case_and_analytic_variance():
    # group 1: the four-person case (F(4) = 3/4); group 0: t=1,2 censored, t=3 cause 1 (Y=2 -> F=1/2),
    # t=4 competing -> F(4) = 1/2. RD = 1/4.
    d = pd.DataFrame({"t": [1, 2, 3, 4, 1, 2, 3, 4], "e": [1, 2, 0, 1, 0, 0, 1, 2], "g": [1, 1, 1, 1, 0, 0, 0, 0]})
    rd = risk_difference(d, time="t", event="e", group="g", at=4)
    assert (rd.risk_treated, rd.risk_control, rd.estimate) == pytest.approx((0.75, 0.5, 0.25), abs=TOL_EXACT)
    ci = cumulative_incidence(d, time="t", event="e", group="g", times=[4])
    # independent groups, no clusters: Var(RD) = Var(F_1) + Var(F_0)
    assert rd.std_error ** 2 == pytest.approx((ci.at["std_error"] ** 2).sum(), abs=TOL_EXACT)
    # the result object and the data give the same answer
    assert risk_difference(ci, at=4).estimate == pytest.approx(rd.estimate, abs=TOL_EXACT)
    assert list(rd.tidy().columns[:7]) == ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]
    assert "Risk difference at 4" in rd.summary()


def test_risk_difference_matched_pairs_bootstrap_and_cluster():
    rng = np.random.default_rng(11)
    n = 300  # pairs sharing a pair-level frailty: positive within-pair correlation
    frail = np.repeat(rng.gamma(2.0, 0.5, n), 2)
    g = np.tile([1, 0], n)
    rate1 = 0.02 * frail * np.where(g == 1, 0.7, 1.0)
    rate2 = 0.01 * frail
    t1, t2, c = rng.exponential(1 / rate1), rng.exponential(1 / rate2), rng.uniform(20, 60, 2 * n)
    t = np.minimum.reduce([t1, t2, c])
    e = np.select([t == t1, t == t2], [1, 2], 0)
    d = pd.DataFrame({"t": t, "e": e, "g": g, "pair": np.repeat(np.arange(n), 2)})
    a = risk_difference(d, time="t", event="e", group="g", at=36, cluster="pair")
    ind = risk_difference(d, time="t", event="e", group="g", at=36)
    b1 = risk_difference(d, time="t", event="e", group="g", at=36, cluster="pair", method="bootstrap",
                         n_bootstrap=300, seed=1)
    b2 = risk_difference(d, time="t", event="e", group="g", at=36, cluster="pair", method="bootstrap",
                         n_bootstrap=300, seed=1)
    assert b1.conf_low == b2.conf_low and b1.std_error == b2.std_error  # seeded
    assert a.estimate == ind.estimate == b1.estimate
    assert a.std_error < ind.std_error  # positive within-pair covariance removed from Var(RD)
    assert b1.std_error == pytest.approx(a.std_error, rel=0.25)  # bootstrap and influence SE agree
    assert b1.n_clusters == n and a.n_clusters == n


def test_matchresult_input_uses_weights_and_sets():
    from wellness_research.matching import match

    rng = np.random.default_rng(2)
    n = 400
    x = rng.normal(size=n)
    treat = (rng.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(int)
    t = rng.exponential(20 / np.exp(0.3 * x), n)
    d = pd.DataFrame({"x": x, "soft": treat, "t": np.minimum(t, 40.0), "e": (t < 40).astype(int)})
    m = match(d, treatment="soft", covariates=["x"], caliper=0.2)
    r = cumulative_incidence(m, time="t", event="e", group="soft", times=[36])
    rows = m.weights > 0
    frame = d[rows].assign(w=m.weights[rows], s=m.subclass[rows])
    r2 = cumulative_incidence(frame, time="t", event="e", group="soft", weights="w", cluster="s", times=[36])
    np.testing.assert_allclose(r.at["estimate"], r2.at["estimate"], atol=TOL_EXACT)
    np.testing.assert_allclose(r.at["std_error"], r2.at["std_error"], atol=TOL_EXACT)
    assert r.n_zero_weight == int((~rows).sum())


# ------------------------------------------------------------------------------------ Cox
def test_cause_specific_cox_is_lifelines_with_competing_as_censoring():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(7)
    n = 500
    x = rng.integers(0, 2, n)
    z = rng.normal(size=n)
    t1 = rng.exponential(1 / (0.1 * np.exp(np.log(0.6) * x + 0.3 * z)))
    t2 = rng.exponential(1 / 0.05, n)
    c = rng.uniform(5, 20, n)
    t = np.minimum.reduce([t1, t2, c])
    e = np.select([t == t1, t == t2], [1, 2], 0)
    w = rng.uniform(0.5, 1.5, n)
    d = pd.DataFrame({"t": t, "e": e, "x": x, "z": z, "w": w, "cl": np.arange(n) // 2})
    before = d.copy()
    r = cause_specific_cox(d, duration="t", event="e", treatment="x", covariates=["z"], weights="w", cluster="cl")
    pd.testing.assert_frame_equal(d, before)
    ref = CoxPHFitter().fit(d.assign(ev=(d.e == 1).astype(int))[["t", "ev", "x", "z", "w", "cl"]],
                            duration_col="t", event_col="ev", weights_col="w", cluster_col="cl", robust=True)
    np.testing.assert_allclose(r.coefficients["log_hr"], ref.params_.to_numpy(), atol=TOL_EXACT)
    np.testing.assert_allclose(r.coefficients["std_error"], ref.standard_errors_.to_numpy(), atol=TOL_EXACT)
    tidy = r.tidy()
    assert tidy["term"].tolist() == ["x", "z"] and tidy["estimate"].iloc[0] == pytest.approx(np.exp(ref.params_["x"]))
    assert 0.4 < r.hazard_ratio < 0.9 and r.n_clusters == n // 2 and r.n_events == int((e == 1).sum())
    assert "Cause-specific Cox" in r.summary()


# ------------------------------------------------------------------------------------ API
def test_validation_messages():
    d = pd.DataFrame({"t": [1.0, 2.0, -1.0], "e": [1, 0, 2]})
    with pytest.raises(DataValidationError, match="'t' must be finite and >= 0; 1 of 3 rows"):
        cumulative_incidence(d, time="t", event="e")
    d = pd.DataFrame({"t": [1.0, 2.0, 3.0], "e": [1, 0, 3]})
    with pytest.raises(DataValidationError, match=r"must hold 0 \(censored\), 1"):
        cumulative_incidence(d, time="t", event="e")
    with pytest.raises(ConfigurationError, match="variance='greenwood' is not valid"):
        cumulative_incidence(d, time="t", event="e", competing=(2, 3), variance="greenwood")
    with pytest.raises(DataValidationError, match=r"column\(s\) \['x'\] not in data"):
        cumulative_incidence(d, time="t", event="x")
    with pytest.raises(ConfigurationError, match="time=, event= and group= are required"):
        risk_difference(d, time="t", event="e")


def test_result_object_conventions():
    d = _no_cross_ties(8).assign(g=lambda f: np.arange(len(f)) % 2)
    d.index = np.zeros(len(d), dtype=int)  # duplicate index values are safe
    before = d.copy()
    r = cumulative_incidence(d, time="t", event="e", group="g", times=[12, 24])
    pd.testing.assert_frame_equal(d, before)
    assert isinstance(r, CumulativeIncidenceResult)
    assert list(r.tidy().columns[:7]) == ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]
    assert len(r.tidy()) == 4 and "Aalen–Johansen" in r.summary() and "<table" in r._repr_html_()
    assert (r.table["conf_low"] <= r.table["estimate"] + 1e-15).all()
    assert (r.table["estimate"] <= r.table["conf_high"] + 1e-15).all()
    ax = r.plot()
    assert len(ax.get_lines()) == 2
    import matplotlib.pyplot as plt

    plt.close("all")
