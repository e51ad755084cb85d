"""Wild cluster bootstrap (wellness_research.did.wild): exact hand case, peer reference, options."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wellness_research.did.twfe import did_2x2, event_study
from wellness_research.did.wild import wild_cluster_bootstrap
from wellness_research.errors import ConfigurationError, DataValidationError

REFERENCE = Path(__file__).parent / "reference" / "did" / "wildboottest_0.3.2.json"

# Tolerances, one per statistic.
TOL_T = 1e-10  # t statistic: same CRV1 algebra
TOL_P_EXACT = 1e-12  # p-value under full enumeration: a ratio of integer counts


def _brute_force_wcr(y, x, j, g, r=0.0, weights=None):
    """The literal WCR bootstrap: restricted fit, every Rademacher sign vector, refit OLS + CRV1.

    ``x`` holds *all* regressors including fixed-effect dummies; no partialling out, no algebra.
    Returns the observed t (without small-sample factor, which cancels) and the symmetric p-value.
    """
    w = np.ones(len(y)) if weights is None else weights
    sw = np.sqrt(w)
    n_clusters = g.max() + 1
    others = np.delete(x, j, axis=1)
    coef_r = np.linalg.lstsq(others * sw[:, None], (y - r * x[:, j]) * sw, rcond=None)[0]
    fitted_r = others @ coef_r + r * x[:, j]
    resid_r = y - fitted_r

    def tstat(yy):
        b = np.linalg.lstsq(x * sw[:, None], yy * sw, rcond=None)[0]
        u = yy - x @ b
        hinv = np.linalg.pinv(x.T @ (x * w[:, None]))
        meat = np.zeros_like(hinv)
        for h in range(n_clusters):
            sc = x[g == h].T @ (w[g == h] * u[g == h])
            meat += np.outer(sc, sc)
        v = hinv @ meat @ hinv
        return (b[j] - r) / np.sqrt(v[j, j])

    t = tstat(y)
    tb = np.array([tstat(fitted_r + resid_r * np.array(s)[g])
                   for s in itertools.product([-1.0, 1.0], repeat=n_clusters)])
    return t, float(np.mean(np.abs(tb) > np.abs(t) * (1 + 1e-10)))


def _panel(n_clusters=7, per=3, periods=4, seed=0, slope=0.3):
    rng = np.random.default_rng(seed)
    n_units = n_clusters * per
    df = pd.DataFrame([(u, t) for u in range(n_units) for t in range(periods)], columns=["unit", "t"])
    df["cl"] = df["unit"] // per
    df["x"] = rng.normal(size=len(df)) + 0.5 * (df["cl"] % 3)
    df["y"] = (slope * df["x"] + rng.normal(size=n_clusters)[df["cl"]] + 0.3 * df["t"]
               + rng.normal(size=n_units)[df["unit"]] + rng.normal(size=len(df)))
    df["wt"] = rng.uniform(0.5, 2.0, size=n_units)[df["unit"]]
    return df


def _dummies(df, cols):
    return [pd.get_dummies(df[c].astype(str), dtype=float).to_numpy()[:, (1 if k else 0):]
            for k, c in enumerate(cols)]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fixed_effects", [[], ["t"], ["unit", "t"]])
def test_fast_algebra_equals_brute_force_enumeration(fixed_effects, weighted):
    # Hand case: G = 7 clusters, all 2^7 = 128 Rademacher sign vectors -> exact, deterministic p-value.
    # Covers FE nested in the clusters (unit) and not nested (t), where M_D and the multipliers
    # do not commute.
    df = _panel()
    res = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", fixed_effects=fixed_effects,
                                 weights="wt" if weighted else None, conf_int=False, seed=0)
    assert res.full_enumeration and res.n_boot == 2**7
    parts = [df[["x"]].to_numpy(float)] + (_dummies(df, fixed_effects) if fixed_effects else [np.ones((len(df), 1))])
    x = np.column_stack(parts)
    t_brute, p_brute = _brute_force_wcr(df["y"].to_numpy(), x, 0, df["cl"].to_numpy(),
                                        weights=df["wt"].to_numpy() if weighted else None)
    assert abs(res.p_value - p_brute) < TOL_P_EXACT
    w = df["wt"].to_numpy() if weighted else np.ones(len(df))
    coef = np.linalg.lstsq(x * np.sqrt(w)[:, None], df["y"].to_numpy() * np.sqrt(w), rcond=None)[0]
    assert abs(res.estimate - coef[0]) < 1e-10
    assert np.sign(res.t_stat) == np.sign(t_brute)  # they differ only by the small-sample factor


def test_brute_force_with_nonzero_null():
    df = _panel(seed=3)
    res = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", fixed_effects=["t"],
                                 null_value=0.25, conf_int=False)
    x = np.column_stack([df["x"].to_numpy(float)] + _dummies(df, ["t"]))
    _, p_brute = _brute_force_wcr(df["y"].to_numpy(), x, 0, df["cl"].to_numpy(), r=0.25)
    assert abs(res.p_value - p_brute) < TOL_P_EXACT


def test_against_wildboottest_reference():
    # Reference: wildboottest 0.3.2 (benchmarks/peers/make_wildboottest_reference.py), full
    # enumeration. wildboottest counts |t*| > |t| without tolerance, so the two sign vectors ±1
    # (whose t* equals t up to rounding) are sometimes counted; we treat them as ties (not exceeding).
    ref = json.loads(REFERENCE.read_text())
    for case in ref["cases"]:
        df = pd.DataFrame(case["data"])
        res = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="g", fixed_effects=["t"],
                                     conf_int=False)
        assert abs(res.t_stat - case["t_stat"]) < TOL_T
        n = res.n_boot
        assert res.full_enumeration
        assert abs(res.p_value - case["p_value"]) <= 2 / n + TOL_P_EXACT
    exact = [c for c in ref["cases"] if c["n_clusters"] == 8]
    for case in exact:  # no rounding ties in these two cases: identical
        df = pd.DataFrame(case["data"])
        res = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="g", fixed_effects=["t"],
                                     conf_int=False)
        assert abs(res.p_value - case["p_value"]) < TOL_P_EXACT


def test_random_draws_close_to_enumeration_and_seeded():
    df = _panel(seed=5)
    exact = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", fixed_effects=["t"],
                                   conf_int=False)
    a = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", fixed_effects=["t"],
                               full_enumeration=False, n_boot=19999, seed=7, conf_int=False)
    b = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", fixed_effects=["t"],
                               full_enumeration=False, n_boot=19999, seed=7, conf_int=False)
    assert a.p_value == b.p_value
    assert abs(a.p_value - exact.p_value) < 4 * np.sqrt(0.25 / 19999)  # Monte Carlo error


def test_confidence_interval_inverts_the_test():
    df = _panel(seed=2, n_clusters=9)
    res = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", fixed_effects=["unit", "t"])
    assert res.conf_low < res.estimate < res.conf_high
    step = 1e-4 * (res.conf_high - res.conf_low)
    for end, inside in [(res.conf_low, res.conf_low + step), (res.conf_high, res.conf_high - step)]:
        p_in = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", fixed_effects=["unit", "t"],
                                      null_value=inside, conf_int=False).p_value
        outside = end - step if end == res.conf_low else end + step
        p_out = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl",
                                       fixed_effects=["unit", "t"], null_value=outside, conf_int=False).p_value
        assert p_in > 0.05 >= p_out


def test_did_2x2_and_event_study_methods():
    df = _panel(n_clusters=8, per=2, periods=4, seed=4)
    df["treated"] = (df["cl"] < 4).astype(int)
    df["post"] = (df["t"] >= 2).astype(int)
    df["y"] = df["y"] + 0.5 * df["treated"] * df["post"]
    fit = did_2x2(df, outcome="y", unit="unit", time="t", treated="treated", post="post", cluster="cl")
    wb = fit.wild_bootstrap(conf_int=False)
    direct = wild_cluster_bootstrap(df.assign(d=df["treated"] * df["post"]), outcome="y", regressors=["d"],
                                    cluster="cl", fixed_effects=["unit", "t"], conf_int=False)
    assert abs(wb.estimate - fit.estimate) < 1e-10
    assert abs(wb.std_error - fit.std_error) < 1e-10  # same CRV1 small-sample rule as pyfixest
    assert wb.p_value == direct.p_value
    df["cohort"] = np.where(df["treated"] == 1, 2, 0)
    es = event_study(df, outcome="y", unit="unit", time="t", cohort="cohort", cluster="cl", seed=0)
    wb0 = es.wild_bootstrap(0, conf_int=False)
    k = int(np.flatnonzero(es.event_time == 0)[0])
    assert abs(wb0.estimate - es.estimates[k]) < 1e-10
    assert abs(wb0.std_error - es.std_errors[k]) < 1e-10
    assert "WCR" in wb0.summary() and list(wb0.tidy().columns[:7]) == [
        "term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]
    with pytest.raises(ConfigurationError, match="event_time=7"):
        es.wild_bootstrap(7)


def test_webb_and_unrestricted_run():
    df = _panel(n_clusters=12, seed=1)
    webb = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", weights_type="webb",
                                  n_boot=999, seed=0, conf_int=False)
    wcu = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", impose_null=False,
                                 n_boot=999, seed=0, full_enumeration=False, conf_int=False)
    assert not webb.full_enumeration and webb.n_boot == 999 and 0 <= webb.p_value <= 1
    assert "WCU" in wcu.method and 0 <= wcu.p_value <= 1


def test_bad_input():
    df = _panel()
    with pytest.raises(ConfigurationError, match="weights_type='mammen'"):
        wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", weights_type="mammen")
    with pytest.raises(ConfigurationError, match="'nope'"):
        wild_cluster_bootstrap(df, outcome="y", regressors=["nope"], cluster="cl")
    with pytest.raises(ConfigurationError, match="full_enumeration=True"):
        wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="cl", weights_type="webb",
                               full_enumeration=True)
    bad = df.copy()
    bad.loc[3, "y"] = np.nan
    with pytest.raises(DataValidationError, match="1 row"):
        wild_cluster_bootstrap(bad, outcome="y", regressors=["x"], cluster="cl")
    with pytest.raises(DataValidationError, match="at least 2 clusters"):
        wild_cluster_bootstrap(df.assign(one=1), outcome="y", regressors=["x"], cluster="one")
