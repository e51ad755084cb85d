"""2×2 DiD, TWFE event study and the Goodman-Bacon / dCDH diagnostic (wellness_research.did)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyfixest as pf  # noqa: E402
import pytest  # noqa: E402
from causaldata import organ_donations  # noqa: E402
from scipy import stats  # noqa: E402

from wellness_research.did.bacon import bacon_decomposition  # noqa: E402
from wellness_research.did.twfe import did_2x2, event_study  # noqa: E402
from wellness_research.errors import (  # noqa: E402
    ConfigurationError,
    DataValidationError,
    SingularDesignError,
    StaggeredTWFEWarning,
    UnbalancedPanelError,
)

# Tolerances, one per statistic.
TOL_EXACT = 1e-10  # algebraic identities (TWFE = 2×2, Bacon sum)
TOL_PYFIXEST = 1e-8  # our pyfixest fit vs a direct pyfixest call (same library, same data)
TOL_PUBLISHED = 5e-7  # numbers published at 6 decimals (ANCHORS.md "Measured side by side")
TIDY = ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]


@pytest.fixture(scope="module")
def organ():
    d = organ_donations.load_pandas().data.copy()
    # Quarters Q42010..Q12012 are Quarter_Num 1..6; California's policy starts in Q32011 = 4.
    d["treated"] = (d["State"] == "California").astype(int)
    d["post"] = (d["Quarter_Num"] >= 4).astype(int)
    d["cohort"] = np.where(d["treated"] == 1, 4, 0)
    return d


def _panel(n_units=12, periods=6, seed=0, cohorts=None, effect=1.0):
    """Balanced panel; ``cohorts`` maps unit -> first treated period (0 = never)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame([(u, t) for u in range(n_units) for t in range(1, periods + 1)], columns=["id", "t"])
    if cohorts is None:
        cohorts = {u: (4 if u < n_units // 2 else 0) for u in range(n_units)}
    df["g"] = df["id"].map(cohorts)
    on = (df["g"] > 0) & (df["t"] >= df["g"])
    df["y"] = (rng.normal(size=n_units)[df["id"]] + 0.2 * df["t"] + effect * on * (1 + 0.5 * (df["t"] - df["g"]))
               + rng.normal(scale=0.3, size=len(df)))
    df["treated"] = (df["g"] > 0).astype(int)
    df["post"] = (df["t"] >= 4).astype(int)
    df["st"] = df["id"] % 5
    df["w"] = rng.uniform(0.5, 2, size=n_units)[df["id"]]
    return df


# --------------------------------------------------------------------------------------------
# 2×2: hand cases
# --------------------------------------------------------------------------------------------
def test_2x2_hand_cell_means():
    df = pd.DataFrame({
        "unit": [1, 1, 2, 2, 3, 3, 4, 4],
        "t": [0, 1] * 4,
        "treated": [1, 1, 1, 1, 0, 0, 0, 0],
        "post": [0, 1] * 4,
        "y": [1.0, 4.0, 2.0, 5.0, 1.0, 2.0, 3.0, 4.0],
    })
    res = did_2x2(df, outcome="y", unit="unit", time="t", treated="treated", post="post")
    # by hand: treated 1.5 -> 4.5 (+3), control 2 -> 3 (+1), DiD = 2
    cm = res.cell_means.set_index(["group", "period"])
    assert cm.loc[("treated", "pre"), "mean"] == 1.5 and cm.loc[("treated", "post"), "mean"] == 4.5
    assert cm.loc[("control", "pre"), "mean"] == 2.0 and cm.loc[("control", "post"), "mean"] == 3.0
    assert (cm["n"] == 2).all() and (cm["n_units"] == 2).all()
    assert abs(res.estimate - 2.0) < TOL_EXACT and abs(res.cell_mean_did - 2.0) < TOL_EXACT
    assert res.n_obs == 8 and res.n_units == 4 and res.n_clusters == 4 and res.vcov_type == "CRV1 by unit"


@pytest.mark.parametrize("periods", [2, 6])
@pytest.mark.parametrize("weighted", [False, True])
def test_twfe_equals_cell_mean_2x2_in_balanced_panel(periods, weighted):
    df = _panel(periods=periods, seed=periods)
    df["post"] = (df["t"] > periods // 2).astype(int)
    res = did_2x2(df, outcome="y", unit="id", time="t", treated="treated", post="post",
                  weights="w" if weighted else None)
    w = df["w"] if weighted else pd.Series(1.0, index=df.index)
    m = (df.assign(wy=w * df["y"], w_=w).groupby(["treated", "post"])[["wy", "w_"]].sum())
    m = m["wy"] / m["w_"]
    hand = (m[1, 1] - m[1, 0]) - (m[0, 1] - m[0, 0])
    assert abs(res.estimate - hand) < TOL_EXACT
    assert abs(res.cell_mean_did - hand) < TOL_EXACT
    assert res.notes == ()


def test_unbalanced_panel_notes_the_difference():
    df = _panel(seed=1).iloc[3:]  # unit 0 loses three pre periods
    res = did_2x2(df, outcome="y", unit="id", time="t", treated="treated", post="post")
    assert abs(res.estimate - res.cell_mean_did) > 1e-6
    assert any("unbalanced" in n for n in res.notes)


# --------------------------------------------------------------------------------------------
# public benchmark: Kessler & Roth organ donations
# --------------------------------------------------------------------------------------------
def test_organ_donations_2x2_matches_published_and_pyfixest(organ):
    res = did_2x2(organ, outcome="Rate", unit="State", time="Quarter_Num", treated="treated", post="post")
    # Oracle: a direct pyfixest 0.60.0 call, state-clustered CRV1.
    oracle = pf.feols("Rate ~ treated:post | State + Quarter_Num", data=organ, vcov={"CRV1": "State"}).tidy()
    assert abs(res.estimate - oracle["Estimate"].iloc[0]) < TOL_PYFIXEST
    assert abs(res.std_error - oracle["Std. Error"].iloc[0]) < TOL_PYFIXEST
    assert abs(res.p_value - oracle["Pr(>|t|)"].iloc[0]) < TOL_PYFIXEST
    assert abs(res.conf_low - oracle["2.5%"].iloc[0]) < TOL_PYFIXEST
    assert abs(res.conf_high - oracle["97.5%"].iloc[0]) < TOL_PYFIXEST
    # Published: ANCHORS.md "Measured side by side", DiD organ donations (Kessler & Roth 2014 data,
    # causaldata 0.1.5): 2×2 = TWFE = -0.022459; pyfixest CRV1 by state 0.006131 (6 decimals).
    assert abs(res.estimate - (-0.022459)) < TOL_PUBLISHED
    assert abs(res.std_error - 0.006131) < TOL_PUBLISHED
    assert abs(res.cell_mean_did - res.estimate) < TOL_EXACT  # balanced, common timing
    assert res.n_clusters == 27 and res.df == 26 and res.vcov_type == "CRV1 by State"


def test_organ_donations_iid_and_hetero(organ):
    iid = did_2x2(organ, outcome="Rate", unit="State", time="Quarter_Num", treated="treated", post="post",
                  vcov="iid")
    # ANCHORS.md: pyfixest's default with fixed effects is iid, 0.020497.
    assert abs(iid.std_error - 0.020497) < TOL_PUBLISHED and iid.n_clusters is None
    het = did_2x2(organ, outcome="Rate", unit="State", time="Quarter_Num", treated="treated", post="post",
                  vcov="hetero")
    oracle = pf.feols("Rate ~ treated:post | State + Quarter_Num", data=organ, vcov="hetero").tidy()
    assert abs(het.std_error - oracle["Std. Error"].iloc[0]) < TOL_PYFIXEST


def test_organ_donations_event_study_equals_pyfixest(organ):
    es = event_study(organ, outcome="Rate", unit="State", time="Quarter_Num", cohort="cohort", seed=0)
    d = organ.assign(rel=np.where(organ["treated"] == 1, organ["Quarter_Num"] - 4, -1))
    oracle = pf.feols("Rate ~ i(rel, ref=-1) | State + Quarter_Num", data=d, vcov={"CRV1": "State"})
    tid = oracle.tidy()
    assert es.event_time.tolist() == [-3, -2, 0, 1, 2]
    np.testing.assert_allclose(es.estimates, tid["Estimate"].to_numpy(), rtol=0, atol=TOL_PYFIXEST)
    np.testing.assert_allclose(es.std_errors, tid["Std. Error"].to_numpy(), rtol=0, atol=TOL_PYFIXEST)
    np.testing.assert_allclose(es.p_values, tid["Pr(>|t|)"].to_numpy(), rtol=0, atol=TOL_PYFIXEST)
    np.testing.assert_allclose(es.sigma, np.asarray(oracle._vcov), rtol=0, atol=1e-12)
    assert es.num_pre == 2 and es.num_post == 3 and not es.staggered
    assert es.beta.shape == (5,) and es.sigma.shape == (5, 5)


# --------------------------------------------------------------------------------------------
# event study
# --------------------------------------------------------------------------------------------
def test_event_study_staggered_equals_pyfixest_and_warns():
    cohorts = {u: (3 if u < 5 else 5 if u < 10 else 0) for u in range(15)}
    df = _panel(n_units=15, periods=7, cohorts=cohorts, seed=2)
    with pytest.warns(StaggeredTWFEWarning, match="att_gt"):
        es = event_study(df, outcome="y", unit="id", time="t", cohort="g", cluster="st", weights="w", seed=1)
    d = df.assign(rel=np.where(df["g"] > 0, df["t"] - df["g"], -1))
    tid = pf.feols("y ~ i(rel, ref=-1) | id + t", data=d, vcov={"CRV1": "st"}, weights="w").tidy()
    np.testing.assert_allclose(es.estimates, tid["Estimate"].to_numpy(), rtol=0, atol=TOL_PYFIXEST)
    np.testing.assert_allclose(es.std_errors, tid["Std. Error"].to_numpy(), rtol=0, atol=TOL_PYFIXEST)
    assert es.staggered and es.diagnostic is not None and es.n_clusters == 5
    assert "staggered" in es.summary()


def test_event_study_window_bins_endpoints():
    cohorts = {u: (4 if u < 6 else 0) for u in range(12)}
    df = _panel(n_units=12, periods=8, cohorts=cohorts, seed=3)
    es = event_study(df, outcome="y", unit="id", time="t", cohort="g", window=(-2, 2), seed=0)
    d = df.assign(rel=np.where(df["g"] > 0, (df["t"] - df["g"]).clip(-2, 2), -1))
    tid = pf.feols("y ~ i(rel, ref=-1) | id + t", data=d, vcov={"CRV1": "id"}).tidy()
    assert es.event_time.tolist() == [-2, 0, 1, 2]
    np.testing.assert_allclose(es.estimates, tid["Estimate"].to_numpy(), rtol=0, atol=TOL_PYFIXEST)
    np.testing.assert_allclose(es.std_errors, tid["Std. Error"].to_numpy(), rtol=0, atol=TOL_PYFIXEST)
    labels = es.tidy()["term"].tolist()
    assert labels[0] == "rel_time::<=-2" and labels[-1] == "rel_time::>=2"


def test_event_study_tidy_band_and_pretrend(organ):
    es = event_study(organ, outcome="Rate", unit="State", time="Quarter_Num", cohort="cohort", seed=0)
    tidy = es.tidy()
    assert list(tidy.columns[:7]) == TIDY
    ref = tidy[tidy["reference"]]
    assert len(ref) == 1 and ref["event_time"].iloc[0] == -1 and ref["estimate"].iloc[0] == 0.0
    assert np.isnan(ref["std_error"].iloc[0]) and ref["n"].iloc[0] == 1  # one row: California in Q22011 (rel -1)
    assert tidy["event_time"].is_monotonic_increasing
    # sup-t critical value lies between the pointwise t and the Bonferroni critical values
    pointwise = stats.t.ppf(0.975, es.df)
    bonferroni = stats.norm.ppf(1 - 0.025 / len(es.beta))
    assert stats.norm.ppf(0.975) < es.crit_simultaneous < bonferroni + 0.05 and pointwise > 0
    again = event_study(organ, outcome="Rate", unit="State", time="Quarter_Num", cohort="cohort", seed=0)
    assert again.crit_simultaneous == es.crit_simultaneous
    # pre-trend Wald test by hand
    pre = es.event_time < 0
    b, v = es.beta[pre], es.sigma[np.ix_(pre, pre)]
    w = float(b @ np.linalg.solve(v, b))
    assert abs(es.pretrend.statistic - w) < 1e-8 and es.pretrend.df == 2
    assert abs(es.pretrend.p_value - stats.chi2.sf(w, 2)) < 1e-12
    assert "pre-trend" in es.summary() and "<table" in es._repr_html_()


def test_event_study_all_treated_without_window_is_singular():
    cohorts = {u: (3 if u < 6 else 5) for u in range(12)}
    df = _panel(n_units=12, periods=7, cohorts=cohorts, seed=4)
    with pytest.raises(SingularDesignError, match="collinear"):
        event_study(df, outcome="y", unit="id", time="t", cohort="g")


# --------------------------------------------------------------------------------------------
# Goodman-Bacon / dCDH
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_always", [False, True])
def test_bacon_components_sum_to_twfe(with_always):
    cohorts = {u: (3 if u < 4 else 5 if u < 9 else 6 if u < 11 else 0) for u in range(16)}
    if with_always:
        cohorts.update({14: 1, 15: 9})  # treated from the first period; first treated after the last one
    df = _panel(n_units=16, periods=7, cohorts=cohorts, seed=5)
    res = bacon_decomposition(df, outcome="y", unit="id", time="t", cohort="g")
    d = (df["g"] > 0) & (df["t"] >= df["g"])
    oracle = pf.feols("y ~ D | id + t", data=df.assign(D=d.astype(float))).coef().iloc[0]
    assert abs(res.twfe_estimate - oracle) < TOL_PYFIXEST
    c = res.components
    assert abs(c["weight"].sum() - 1.0) < TOL_EXACT
    assert abs((c["weight"] * c["estimate"]).sum() - res.twfe_estimate) < TOL_EXACT
    kinds = set(c["type"])
    assert {"treated vs never", "earlier vs later", "later vs earlier"} <= kinds
    assert ("treated vs always" in kinds) == with_always
    assert abs(res.cell_weights["weight"].sum() - 1.0) < TOL_EXACT
    assert list(res.tidy().columns[:7]) == TIDY and "later vs earlier" in res.summary()


def test_bacon_2x2_component_by_hand():
    # one cohort (t >= 3) and never-treated: a single "treated vs never" 2×2 equal to TWFE
    cohorts = {u: (3 if u < 3 else 0) for u in range(6)}
    df = _panel(n_units=6, periods=4, cohorts=cohorts, seed=6)
    res = bacon_decomposition(df, outcome="y", unit="id", time="t", cohort="g")
    m = df.groupby([df["g"] > 0, df["t"] >= 3])["y"].mean()
    hand = (m[True, True] - m[True, False]) - (m[False, True] - m[False, False])
    assert len(res.components) == 1 and abs(res.components["estimate"].iloc[0] - hand) < TOL_EXACT
    assert abs(res.twfe_estimate - hand) < TOL_EXACT and res.negative_weight_share == 0.0


def test_bacon_unbalanced_raises_and_event_study_keeps_dcdh():
    cohorts = {u: (3 if u < 4 else 5 if u < 8 else 0) for u in range(12)}
    df = _panel(n_units=12, periods=6, cohorts=cohorts, seed=7)
    df = df.drop(index=[0, 7, 13])  # units 0, 1 and 2 each lose one period
    with pytest.raises(UnbalancedPanelError, match="3 of 12 units"):
        bacon_decomposition(df, outcome="y", unit="id", time="t", cohort="g")
    with pytest.warns(StaggeredTWFEWarning):
        es = event_study(df, outcome="y", unit="id", time="t", cohort="g", seed=0)
    diag = es.diagnostic
    assert diag.components is None and abs(diag.cell_weights["weight"].sum() - 1) < TOL_EXACT
    d = (df["g"] > 0) & (df["t"] >= df["g"])
    oracle = pf.feols("y ~ D | id + t", data=df.assign(D=d.astype(float))).coef().iloc[0]
    assert abs(diag.twfe_estimate - oracle) < 1e-8


def test_negative_weights_appear_with_late_periods():
    # dCDH: with no never-treated units, early cohorts in late periods get negative weight
    cohorts = {u: (2 if u < 5 else 6) for u in range(10)}
    df = _panel(n_units=10, periods=8, cohorts=cohorts, seed=8)
    res = bacon_decomposition(df, outcome="y", unit="id", time="t", cohort="g")
    assert res.negative_weight_share > 0 and res.negative_weight_sum < 0


# --------------------------------------------------------------------------------------------
# data hygiene: no mutation, order and index invariance
# --------------------------------------------------------------------------------------------
def test_caller_data_unchanged_and_invariances(organ):
    before = organ.copy(deep=True)
    base = did_2x2(organ, outcome="Rate", unit="State", time="Quarter_Num", treated="treated", post="post")
    es = event_study(organ, outcome="Rate", unit="State", time="Quarter_Num", cohort="cohort", seed=0)
    pd.testing.assert_frame_equal(organ, before)
    shuffled = organ.sample(frac=1.0, random_state=3)
    shuffled.index = np.zeros(len(shuffled), dtype=int)  # every index value duplicated
    s2 = did_2x2(shuffled, outcome="Rate", unit="State", time="Quarter_Num", treated="treated", post="post")
    e2 = event_study(shuffled, outcome="Rate", unit="State", time="Quarter_Num", cohort="cohort", seed=0)
    assert abs(s2.estimate - base.estimate) < 1e-12 and abs(s2.std_error - base.std_error) < 1e-12
    np.testing.assert_allclose(e2.estimates, es.estimates, atol=1e-12)
    np.testing.assert_allclose(e2.std_errors, es.std_errors, atol=1e-12)
    pd.testing.assert_frame_equal(s2.cell_means, base.cell_means)


def test_result_interfaces(organ):
    res = did_2x2(organ, outcome="Rate", unit="State", time="Quarter_Num", treated="treated", post="post")
    tidy = res.tidy()
    assert list(tidy.columns[:7]) == TIDY and tidy["term"].iloc[0] == "treated:post"
    text = res.summary()
    assert "CRV1 by State" in text and "-0.022459" in text
    assert "<table" in res._repr_html_()
    rc_before = dict(matplotlib.rcParams)
    ax = res.plot()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["pre", "post"]
    es = event_study(organ, outcome="Rate", unit="State", time="Quarter_Num", cohort="cohort", seed=0)
    ax2 = es.plot()
    assert ax2.get_xlabel().startswith("event time")
    assert dict(matplotlib.rcParams) == rc_before
    plt.close("all")
    with pytest.raises(AttributeError):
        res.estimate = 0.0  # frozen


# --------------------------------------------------------------------------------------------
# bad input: named errors with counts and examples, never a silent drop
# --------------------------------------------------------------------------------------------
def test_bad_input(organ):
    kw = {"outcome": "Rate", "unit": "State", "time": "Quarter_Num", "treated": "treated", "post": "post"}
    with pytest.raises(ConfigurationError, match="outcome='nope' is not a column"):
        did_2x2(organ, **{**kw, "outcome": "nope"})
    bad = organ.assign(treated=organ["treated"] * 2)
    with pytest.raises(DataValidationError, match="must be binary.*6 row"):
        did_2x2(bad, **kw)
    nan = organ.copy()
    nan.loc[[5, 9], "Rate"] = np.nan
    with pytest.raises(DataValidationError, match=r"2 row\(s\) have missing values in \['Rate'\]; e.g. row 5"):
        did_2x2(nan, **kw)
    off = organ.assign(post=(organ["Quarter_Num"].isin([3, 4])).astype(int))
    with pytest.raises(DataValidationError, match="switches off"):
        did_2x2(off, **kw)
    varying = organ.assign(treated=((organ["State"] == "California") & (organ["Quarter_Num"] > 1)).astype(int))
    with pytest.raises(DataValidationError, match="constant within each unit"):
        did_2x2(varying, **kw)
    with pytest.raises(ConfigurationError, match="vcov='HC9'"):
        did_2x2(organ, **kw, vcov="HC9")
    with pytest.raises(ConfigurationError, match="cluster='State' was given with vcov='iid'"):
        did_2x2(organ, **kw, cluster="State", vcov="iid")
    es_kw = {"outcome": "Rate", "unit": "State", "time": "Quarter_Num", "cohort": "cohort"}
    switching = organ.assign(cohort=np.where(organ["Quarter_Num"] > 3, organ["cohort"], 2))
    with pytest.raises(DataValidationError, match="cohort column 'cohort' must be constant within each unit"):
        event_study(switching, **es_kw)
    with pytest.raises(ConfigurationError, match="reference=0"):
        event_study(organ, **es_kw, reference=0)
    with pytest.raises(ConfigurationError, match="reference=-9 is not an observed event time"):
        event_study(organ, **es_kw, reference=-9)
    with pytest.raises(DataValidationError, match="no treated unit"):
        event_study(organ.assign(cohort=0), **es_kw)


def test_outcome_in_yen_converges_and_equals_the_dummy_variable_fit():
    # Regression test: with the demeaning tolerance 1e-10 applied to yen-scale outcomes (~1e5) the
    # alternating projections failed to converge on a matched cost panel of the synthetic city
    # ("Demeaning failed after 10000 iterations"). The fit now runs on y / 2^k and scales back.
    rng = np.random.default_rng(7)
    n_units, n_t = 400, 30
    unit = np.repeat(np.arange(n_units), n_t)
    time = np.tile(np.arange(n_t), n_units)
    treated = (unit % 2).astype(np.int64)
    post = (time >= 12).astype(np.int64)
    last = rng.integers(14, n_t + 1, size=n_units)  # staircase: panels end at different times
    keep = time < last[unit]
    y = 4.5e4 + 2e3 * rng.standard_normal(n_units)[unit] + 300.0 * time - 900.0 * treated * post
    y = y + rng.lognormal(8.0, 1.5, size=unit.size)
    df = pd.DataFrame({"unit": unit, "time": time, "treated": treated, "post": post, "y": y,
                       "w": np.where(treated == 1, 1.0, 0.5)})[keep].reset_index(drop=True)
    r = did_2x2(df, outcome="y", unit="unit", time="time", treated="treated", post="post", weights="w")
    dummies = pf.feols("y ~ x + C(time) | unit", data=df.assign(x=df.treated * df.post), weights="w",
                       vcov={"CRV1": "unit"})
    assert r.estimate == pytest.approx(float(dummies.coef()["x"]), rel=1e-8)
    assert r.std_error == pytest.approx(float(dummies.se()["x"]), rel=1e-6)
    # the scale is a power of two: multiplying the outcome by 1,000 multiplies the estimate by 1,000
    r1000 = did_2x2(df.assign(y=df.y * 1000.0), outcome="y", unit="unit", time="time", treated="treated",
                    post="post", weights="w")
    assert r1000.estimate == pytest.approx(1000.0 * r.estimate, rel=1e-9)
