"""Balance diagnostics: MatchIt/cobalt conventions recomputed independently with numpy/scipy."""

from __future__ import annotations


import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from _matching_helpers import hand_result
from wellness_research.errors import ConfigurationError
from wellness_research.matching.balance import BalanceTable, balance, table_one
from wellness_research.matching.plots import love_plot

matplotlib.use("Agg")




@pytest.fixture
def weighted_design():
    """60 treated, 140 controls, full-matching-like control weights (some zero)."""
    rng = np.random.default_rng(20261128)
    n_t, n_c = 60, 140
    t = np.r_[np.ones(n_t), np.zeros(n_c)].astype(int)
    age = np.r_[rng.normal(75, 6, n_t), rng.normal(72, 7, n_c)].round()
    income = np.r_[rng.gamma(2, 150, n_t), rng.gamma(2, 120, n_c)]
    female = (rng.random(n_t + n_c) < np.where(t == 1, 0.6, 0.45)).astype(int)
    w = np.ones(n_t + n_c)
    wc = rng.gamma(1.0, 1.0, n_c) * (rng.random(n_c) < 0.7)
    w[n_t:] = wc * n_t / wc.sum()
    df = pd.DataFrame({"t": t, "age": age, "income": income, "female": female},
                      index=rng.permutation(n_t + n_c) % 37)  # duplicated index values on purpose
    sub = np.where(w > 0, 0, -1)
    return hand_result(df, weights=w, subclass=sub, covariates=["age", "income", "female"])


def _numpy_smd(x, t, w, denom_sd):
    return (np.average(x[t], weights=w[t]) - np.average(x[~t], weights=w[~t])) / denom_sd


def test_smd_and_variance_ratio_match_plain_numpy(weighted_design):
    r = weighted_design
    tab = balance(r).table.set_index("covariate")
    t = r.treated
    w = r.weights
    for c in ["age", "income"]:
        x = r.data[c].to_numpy(float)
        sd_t = np.std(x[t], ddof=1)  # ATT: treated SD before matching (MatchIt summary.matchit)
        assert tab.loc[c, "smd_before"] == pytest.approx(_numpy_smd(x, t, np.ones_like(x), sd_t), rel=1e-12)
        assert tab.loc[c, "smd_after"] == pytest.approx(_numpy_smd(x, t, w, sd_t), rel=1e-12)
        # weighted variance with sum(w)/((sum w)^2 - sum w^2): numpy's aweights + ddof=1 is the same formula
        vr = np.cov(x[t], aweights=w[t], ddof=1) / np.cov(x[~t], aweights=w[~t], ddof=1)
        assert tab.loc[c, "variance_ratio_after"] == pytest.approx(vr, rel=1e-12)
        assert tab.loc[c, "variance_ratio_before"] == pytest.approx(np.var(x[t], ddof=1) / np.var(x[~t], ddof=1), rel=1e-12)
        # KS before matching = scipy's two-sample KS statistic
        assert tab.loc[c, "ecdf_max_before"] == pytest.approx(stats.ks_2samp(x[t], x[~t]).statistic, abs=1e-12)
        assert tab.loc[c, "type"] == "continuous"
    # binary: difference in proportions / sqrt(p_t (1 - p_t)) before matching (MatchIt wvar; cobalt binary="std")
    f = r.data["female"].to_numpy(float)
    p_t = f[t].mean()
    sd_bin = np.sqrt(p_t * (1 - p_t))
    assert tab.loc["female", "type"] == "binary"
    assert tab.loc["female", "smd_after"] == pytest.approx(_numpy_smd(f, t, w, sd_bin), rel=1e-12)
    assert np.isnan(tab.loc["female", "variance_ratio_after"])
    d = abs(np.average(f[t], weights=w[t]) - np.average(f[~t], weights=w[~t]))
    assert tab.loc["female", "ecdf_max_after"] == pytest.approx(d)
    assert tab.loc["female", "ecdf_mean_after"] == pytest.approx(d)


def test_weighted_ecdf_by_brute_force(weighted_design):
    r = weighted_design
    x = r.data["income"].to_numpy(float)
    t, w = r.treated, r.weights
    grid = np.unique(x)  # all rows, as MatchIt's qqsum
    f_t = np.array([w[t][x[t] <= g].sum() for g in grid]) / w[t].sum()
    f_c = np.array([w[~t][x[~t] <= g].sum() for g in grid]) / w[~t].sum()
    row = balance(r).table.set_index("covariate").loc["income"]
    assert row["ecdf_max_after"] == pytest.approx(np.max(np.abs(f_t - f_c)), abs=1e-12)
    assert row["ecdf_mean_after"] == pytest.approx(np.mean(np.abs(f_t - f_c)), abs=1e-12)


@pytest.mark.parametrize(
    ("estimand", "denominator"),
    [("atc", lambda xt, xc: np.std(xc, ddof=1)),
     ("ate", lambda xt, xc: np.sqrt((np.var(xt, ddof=1) + np.var(xc, ddof=1)) / 2))],
)
def test_smd_denominator_by_estimand(weighted_design, estimand, denominator):
    r = weighted_design
    r2 = hand_result(r.data, weights=r.weights, subclass=r.subclass, covariates=r.covariates, estimand=estimand)
    x = r.data["age"].to_numpy(float)
    t = r.treated
    s = denominator(x[t], x[~t])
    tab = balance(r2).table.set_index("covariate")
    assert tab.loc["age", "smd_after"] == pytest.approx(_numpy_smd(x, t, r.weights, s), rel=1e-12)


def test_ties_share_weight_in_balance():
    # treated 0 matched to controls 2 and 3, tied at the nearest distance: 1/2 each.
    df = pd.DataFrame({"t": [1, 1, 0, 0, 0, 0], "x": [1.0, 3.0, 0.0, 2.0, 4.0, 9.0]})
    r = hand_result(df, weights=[1, 1, 0.5, 0.5, 1, 0], subclass=[0, 1, 0, 0, 1, -1],
                    pairs=[(0, 0, 2, 0.5), (0, 0, 3, 0.5), (1, 1, 4, 1.0)], covariates=["x"], replace=True)
    row = balance(r).table.iloc[0]
    assert row["mean_control_after"] == pytest.approx((0.5 * 0.0 + 0.5 * 2.0 + 1 * 4.0) / 2)  # 2.5
    assert row["mean_treated_after"] == pytest.approx(2.0)
    sd_t = np.std([1.0, 3.0], ddof=1)
    assert row["smd_after"] == pytest.approx((2.0 - 2.5) / sd_t)


def test_squares_interactions_flags_and_outputs(weighted_design):
    bt = balance(weighted_design, squares=True, interactions=True, thresholds={"smd": 0.05})
    names = bt.table["covariate"].tolist()
    assert "age²" in names and "income²" in names and "female²" not in names
    assert "age × income" in names and "age × female" in names
    x = weighted_design.data["age"].to_numpy(float) * weighted_design.data["income"].to_numpy(float)
    t, w = weighted_design.treated, weighted_design.weights
    row = bt.table.set_index("covariate").loc["age × income"]
    assert row["smd_after"] == pytest.approx(_numpy_smd(x, t, w, np.std(x[t], ddof=1)), rel=1e-12)
    assert (bt.table["flag_smd"] == (bt.table["smd_after"].abs() > 0.05)).all()
    assert isinstance(bt, BalanceTable)
    long = bt.tidy()
    assert list(long.columns) == ["covariate", "statistic", "sample", "value"]
    assert len(long) == len(bt.table) * 12
    assert "max |SMD|" in bt.summary()
    assert "<table" in bt._repr_html_()
    assert bt.n.loc["all", "treated"] == 60


def test_table_one(weighted_design):
    t1 = table_one(weighted_design, labels={"age": "年齢", "female": "女性"})
    assert list(t1.columns) == ["treated", "control", "smd"]
    assert list(t1.index) == ["n", "年齢", "income", "女性"]
    r = weighted_design
    w, t = r.weights, r.treated
    x = r.data["age"].to_numpy(float)
    m = np.average(x[~t], weights=w[~t])
    assert t1.loc["年齢", "control"].startswith(f"{m:,.2f} (")
    cnt = np.sum(w[t] * r.data["female"].to_numpy(float)[t])
    assert t1.loc["女性", "treated"] == f"{cnt:,.1f} ({100 * cnt / w[t].sum():.1f}%)"
    assert t1.loc["年齢", "smd"] == pytest.approx(balance(r).table.set_index("covariate").loc["age", "smd_after"])


def test_love_plot_renders_japanese_labels(weighted_design):
    import matplotlib.pyplot as plt

    bt = balance(weighted_design)
    renamed = BalanceTable(table=bt.table.assign(covariate=["年齢", "所得", "女性"]), estimand="att",
                           thresholds=bt.thresholds, n=bt.n)
    fig = love_plot(renamed, threshold=0.1)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] != []
    assert {t.get_text() for t in ax.get_yticklabels()} == {"年齢", "所得", "女性"}
    fig.canvas.draw()  # would warn (= error under strict pytest) on missing glyphs
    plt.close(fig)
    fig2 = love_plot(weighted_design, abs=False)
    assert len(fig2.axes[0].lines) >= 3
    plt.close(fig2)


def test_caller_data_unchanged_and_errors(weighted_design):
    before = weighted_design.data.copy()
    balance(weighted_design, squares=True, interactions=True)
    table_one(weighted_design)
    pd.testing.assert_frame_equal(weighted_design.data, before)
    with pytest.raises(ConfigurationError, match="covariates \\['nope'\\] are not columns"):
        balance(weighted_design, covariates=["nope"])
    with pytest.raises(ConfigurationError, match="thresholds has unknown keys \\['ks'\\]"):
        balance(weighted_design, thresholds={"ks": 0.1})
    with pytest.raises(ConfigurationError, match="must be a MatchResult"):
        balance(weighted_design.data)  # type: ignore[arg-type]
