"""E-values, Rosenbaum bounds and the DoWhy refuter adapter (wellness_research.matching.sensitivity)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wellness_research.errors import ConfigurationError
from wellness_research.matching.result import MatchResult
from wellness_research.matching.sensitivity import evalue, refute, rosenbaum_bounds

# Tolerances, one per statistic.
EVALUE_PUBLISHED_TOL = 0.005  # published E-values are rounded to two decimals
EXACT_TOL = 1e-12  # closed-form arithmetic
# Normal approximation vs the exact distribution of T+, 32 pairs: the approximation is a little
# conservative in the upper tail here (0.037 vs 0.024 at Γ = 4, 0.069 vs 0.057 at Γ = 5).
NORMAL_VS_EXACT_TOL = 0.015


def pair_design(yt, yc, *, x=None) -> MatchResult:
    """A hand-built 1:1 design without replacement: treated rows 0..n-1 paired with n..2n-1."""
    n = len(yt)
    data = pd.DataFrame({
        "t": [1] * n + [0] * n,
        "y": np.concatenate([np.asarray(yt, float), np.asarray(yc, float)]),
        "x": np.linspace(0.0, 1.0, 2 * n) if x is None else x,
    })
    pairs = pd.DataFrame({"subclass": np.arange(n), "treated": np.arange(n),
                          "control": np.arange(n, 2 * n), "weight": 1.0})
    return MatchResult(
        data=data, treatment="t", covariates=("x",), estimand="att", method="nearest", distance="logit",
        caliper=0.2, ratio=1, replace=False, exact=(), propensity=None, weights=np.ones(2 * n),
        subclass=np.concatenate([np.arange(n), np.arange(n)]), pairs=pairs,
        status=np.array(["matched"] * (2 * n)),
    )


# ---------------------------------------------------------------------------- E-value
def test_evalue_leukemia_example():
    # VanderWeele & Ding (2017), Ann Intern Med 167:268-274, worked example (also the EValue R
    # package's evalues.RR example): RR 0.80 (95% CI 0.71 to 0.91) -> E-value 1.81, CI 1.43.
    r = evalue(0.80, conf_low=0.71, conf_high=0.91)
    assert r.evalue == pytest.approx(1.81, abs=EVALUE_PUBLISHED_TOL)
    assert r.evalue_ci == pytest.approx(1.43, abs=EVALUE_PUBLISHED_TOL)
    # and the exact arithmetic: 1/0.8 = 1.25 -> 1.25 + sqrt(1.25 * 0.25)
    assert r.evalue == pytest.approx(1.25 + math.sqrt(1.25 * 0.25), abs=EXACT_TOL)


def test_evalue_symmetry_and_simple_arithmetic():
    # E(RR) = E(1/RR) (VanderWeele & Ding 2017); RR = 2 -> 2 + sqrt(2) exactly.
    assert evalue(2.0).evalue == pytest.approx(2 + math.sqrt(2), abs=EXACT_TOL)
    assert evalue(0.5).evalue == pytest.approx(2 + math.sqrt(2), abs=EXACT_TOL)
    assert evalue(1.0).evalue == pytest.approx(1.0, abs=EXACT_TOL)
    # CI containing 1 -> E-value of the interval is 1
    assert evalue(1.3, conf_low=0.9, conf_high=1.8).evalue_ci == 1.0
    # harmful estimate: lower limit is the one closest to 1 (1.8 -> 1.8 + sqrt(1.8*0.8) = 3.0)
    assert evalue(3.9, conf_low=1.8, conf_high=8.7).evalue_ci == pytest.approx(3.0, abs=EXACT_TOL)
    assert math.isnan(evalue(2.0).evalue_ci)


def test_evalue_conversions():
    # Odds ratio, common outcome: RR = sqrt(OR) (VanderWeele & Ding 2017, Table): OR 4 -> RR 2.
    assert evalue(4.0, scale="or").evalue == pytest.approx(2 + math.sqrt(2), abs=EXACT_TOL)
    assert evalue(4.0, scale="or", rare_outcome=True).rr == 4.0
    # Hazard ratio, common outcome: RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)); the EValue
    # package's evalues.HR example HR 0.56 (0.46, 0.69), computed here by hand from the formula.
    r = evalue(0.56, conf_low=0.46, conf_high=0.69, scale="hr")
    rr = (1 - 0.5 ** math.sqrt(0.56)) / (1 - 0.5 ** math.sqrt(1 / 0.56))
    assert r.rr == pytest.approx(rr, abs=EXACT_TOL)
    assert r.evalue == pytest.approx(1 / rr + math.sqrt(1 / rr * (1 / rr - 1)), abs=EXACT_TOL)
    assert r.rr_low < r.rr < r.rr_high
    # Risk difference with the baseline risk: p0 = 0.20, RD = -0.05 -> RR = 0.75
    r = evalue(-0.05, conf_low=-0.08, conf_high=-0.02, scale="rd", baseline_risk=0.20)
    assert r.rr == pytest.approx(0.75, abs=EXACT_TOL)
    assert r.rr_high == pytest.approx(0.90, abs=EXACT_TOL)
    assert r.evalue == pytest.approx(evalue(0.75).evalue, abs=EXACT_TOL)
    assert r.evalue_ci == pytest.approx(evalue(0.90).evalue, abs=EXACT_TOL)
    tidy = r.tidy()
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]
    assert "E-value" in r.summary() and "<table" in r._repr_html_()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"estimate": 1.2, "scale": "logit"}, "scale must be one of"),
        ({"estimate": -0.2}, "estimate must be a finite positive ratio"),
        ({"estimate": 1.2, "conf_low": 1.0}, "give both conf_low and conf_high"),
        ({"estimate": 1.2, "conf_low": 1.3, "conf_high": 1.5}, "conf_low <= estimate <= conf_high"),
        ({"estimate": -0.05, "scale": "rd"}, "baseline_risk .* is required"),
        ({"estimate": 0.5, "scale": "rd", "baseline_risk": 0.7}, r"must be a risk in \[0, 1\]"),
        ({"estimate": 1.2, "baseline_risk": 0.3}, "baseline_risk is used only with scale='rd'"),
    ],
)
def test_evalue_validation(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        evalue(**kwargs)


# ---------------------------------------------------------------------------- Rosenbaum bounds
# Morton et al. (1982) lead in children, 33 matched pairs, as printed in the R package rbounds 2.2
# documentation example for psens() ("Replication of Rosenbaum Sensitivity Tests From Chapter 4 of
# Observational Studies"; Rosenbaum 2002, §4.3.3).
LEAD_EXPOSED = [38, 23, 41, 18, 37, 36, 23, 62, 31, 34, 24, 14, 21, 17, 16, 20, 15, 10, 45, 39, 22, 35,
                49, 48, 44, 35, 43, 39, 34, 13, 73, 25, 27]
LEAD_CONTROL = [16, 18, 18, 24, 19, 11, 10, 15, 16, 18, 18, 13, 19, 10, 16, 16, 24, 13, 9, 14, 21, 19, 7,
                18, 19, 12, 11, 22, 25, 16, 13, 11, 13]


def _exact_upper_bound(d: np.ndarray, gamma: float) -> float:
    """Exact P(T+ >= t) with independent signs P(+) = Γ/(1+Γ): an independent check of the bound."""
    d = d[d != 0]
    r2 = np.rint(2 * stats.rankdata(np.abs(d))).astype(int)  # doubled average ranks are integers
    t2 = int(r2[d > 0].sum())
    p = gamma / (1 + gamma)
    dist = np.zeros(r2.sum() + 1)
    dist[0] = 1.0
    for r in r2:
        new = dist * (1 - p)
        new[r:] += dist[:-r] * p
        dist = new
    return float(dist[t2:].sum())


def test_rosenbaum_lead_wilcoxon():
    m = pair_design(LEAD_EXPOSED, LEAD_CONTROL)
    out = rosenbaum_bounds(m, outcome="y", gammas=(1, 2, 3, 4, 5))
    assert list(out.columns) == ["gamma", "test", "alternative", "statistic", "n_pairs", "p_lower", "p_upper"]
    assert (out["test"] == "wilcoxon").all() and (out["alternative"] == "greater").all()
    d = np.array(LEAD_EXPOSED, float) - np.array(LEAD_CONTROL, float)
    # Γ = 1: both bounds equal the usual signed-rank normal approximation (scipy 1.15.3,
    # wilcoxon(method="approx", correction=False, zero_method="wilcox")): T+ = 499, 32 non-zero pairs.
    ref = stats.wilcoxon(d, zero_method="wilcox", correction=False, alternative="greater", method="approx")
    assert out.loc[0, "statistic"] == ref.statistic == 499
    assert out.loc[0, "n_pairs"] == 32
    assert out.loc[0, "p_upper"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert out.loc[0, "p_lower"] == pytest.approx(ref.pvalue, rel=1e-10)
    # Γ > 1: no exact published number was found with the search tool, so the bound is checked
    # against (a) the closed form of Rosenbaum (2002) §4.3.3 evaluated here by hand and (b) the exact
    # distribution of T+ under independent signs with P(+) = Γ/(1+Γ) (normal approx. within 0.015).
    ranks = stats.rankdata(np.abs(d[d != 0]))
    for g, p_up in zip(out["gamma"], out["p_upper"], strict=True):
        p = g / (1 + g)
        z = (499 - p * ranks.sum()) / math.sqrt(p * (1 - p) * (ranks**2).sum())
        assert p_up == pytest.approx(stats.norm.sf(z), rel=1e-10)
        assert p_up == pytest.approx(_exact_upper_bound(d, g), abs=NORMAL_VS_EXACT_TOL)
    assert out["p_upper"].is_monotonic_increasing and out["p_lower"].is_monotonic_decreasing
    # The study stays significant at 5 % up to Γ = 4 (Rosenbaum 2002 reports insensitivity to
    # about Γ = 4.25 for this example; our normal-approximation bound at Γ = 4 is 0.037).
    assert out.loc[out["gamma"] == 4, "p_upper"].item() < 0.05 < out.loc[out["gamma"] == 5, "p_upper"].item()


def test_rosenbaum_small_hand_case():
    # d = (3, -1, 2, 5): ranks of |d| = (3, 1, 2, 4), T+ = 3 + 2 + 4 = 9, Σr = 10, Σr² = 30.
    # Γ = 2: p = 2/3, E = 20/3, Var = (2/9)·30 = 20/3, z = (9 − 20/3)/sqrt(20/3).
    m = pair_design([3, 0, 2, 5], [0, 1, 0, 0])
    out = rosenbaum_bounds(m, outcome="y", gammas=(2,), alternative="greater")
    z_up = (9 - 20 / 3) / math.sqrt(20 / 3)
    z_lo = (9 - 10 / 3) / math.sqrt(20 / 3)  # p = 1/3: E = 10/3, Var = 20/3
    assert out.loc[0, "statistic"] == 9
    assert out.loc[0, "p_upper"] == pytest.approx(stats.norm.sf(z_up), abs=EXACT_TOL)
    assert out.loc[0, "p_lower"] == pytest.approx(stats.norm.sf(z_lo), abs=EXACT_TOL)


def test_rosenbaum_binary_mcnemar_hand_case():
    # 10 discordant pairs: 2 with the event only in the treated, 8 only in the control; 5
    # concordant pairs. Observed effect is protective -> alternative "less", statistic 8 of D = 10.
    # Γ = 1: P(Bin(10, 1/2) >= 8) = 56/1024. Γ = 2: P(Bin(10, 2/3) >= 8) = 17664/59049 (by hand).
    yt = [1, 1] + [0] * 8 + [1, 1, 0, 0, 0]
    yc = [0, 0] + [1] * 8 + [1, 1, 0, 0, 0]
    out = rosenbaum_bounds(pair_design(yt, yc), outcome="y", gammas=(1, 2))
    assert (out["test"] == "mcnemar").all() and (out["alternative"] == "less").all()
    assert out["statistic"].tolist() == [8, 8] and out["n_pairs"].tolist() == [10, 10]
    assert out.loc[0, "p_upper"] == pytest.approx(56 / 1024, abs=EXACT_TOL)
    assert out.loc[0, "p_lower"] == pytest.approx(56 / 1024, abs=EXACT_TOL)
    assert out.loc[1, "p_upper"] == pytest.approx(17664 / 59049, abs=EXACT_TOL)
    assert out.loc[1, "p_lower"] == pytest.approx(stats.binom.sf(7, 10, 1 / 3), abs=EXACT_TOL)


def test_rosenbaum_refuses_designs_that_are_not_pairs():
    m = pair_design([1.0, 2.0, 3.0], [0.0, 1.0, 1.0])
    fields = {k: getattr(m, k) for k in m.__dataclass_fields__}
    with pytest.raises(ConfigurationError, match="1:1 matched pairs without replacement.*replace=True"):
        rosenbaum_bounds(MatchResult(**{**fields, "replace": True}), outcome="y")
    with pytest.raises(ConfigurationError, match="ratio=2"):
        rosenbaum_bounds(MatchResult(**{**fields, "ratio": 2}), outcome="y")
    # two tied controls sharing one treated unit's set
    tied = pd.concat([m.pairs, pd.DataFrame({"subclass": [0], "treated": [0], "control": [4], "weight": [0.5]})])
    with pytest.raises(ConfigurationError, match="1 sets of several"):
        rosenbaum_bounds(MatchResult(**{**fields, "pairs": tied}), outcome="y")
    with pytest.raises(ConfigurationError, match="outcome 'nope' is not a column"):
        rosenbaum_bounds(m, outcome="nope")
    with pytest.raises(ConfigurationError, match="gammas must be"):
        rosenbaum_bounds(m, outcome="y", gammas=(0.5,))
    with pytest.raises(ConfigurationError, match="alternative must be"):
        rosenbaum_bounds(m, outcome="y", alternative="two-sided")


# ---------------------------------------------------------------------------- DoWhy refuters
def test_refute_runs_on_the_design_without_touching_it():
    rng = np.random.default_rng(3)
    n = 150
    x = rng.normal(size=2 * n)
    yt = 1.0 + x[:n] + rng.normal(size=n)
    yc = x[n:] + rng.normal(size=n)
    m = pair_design(yt, yc, x=x)
    before = m.data.copy()
    out = refute(m, outcome="y", seed=11, num_simulations=30)
    pd.testing.assert_frame_equal(m.data, before)  # DoWhy worked on a copy
    assert "propensity_score" not in m.data.columns
    assert out["refuter"].tolist() == ["placebo_treatment_refuter", "random_common_cause", "data_subset_refuter"]
    est = out["estimate"].iloc[0]
    assert est == pytest.approx(1.0, abs=0.4)  # true effect 1 (simulated above)
    placebo, common, subset = out["new_effect"]
    assert abs(placebo) < 0.3  # permuted treatment: no effect
    assert common == pytest.approx(est, abs=0.05)  # an independent covariate barely moves it
    assert subset == pytest.approx(est, abs=0.2)
    # A seeded subset refuter must vary between simulations (DoWhy 0.14 reuses an int seed for
    # every subset, giving spread 0 and p-value 0; the adapter passes a RandomState).
    assert out["p_value"].iloc[2] > 0.01
    pd.testing.assert_frame_equal(out, refute(m, outcome="y", seed=11, num_simulations=30))


def test_refute_validation():
    m = pair_design([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ConfigurationError, match="methods must be drawn from"):
        refute(m, outcome="y", methods=("bootstrap_refuter",))
    with pytest.raises(ConfigurationError, match="estimator must be one of"):
        refute(m, outcome="y", estimator="ipw")
    with pytest.raises(ConfigurationError, match="num_simulations must be a positive integer"):
        refute(m, outcome="y", num_simulations=0)


def test_refute_with_a_categorical_covariate_with_unused_levels():
    # A district-like categorical covariate whose first level is absent from the matched sample:
    # the indicators are built from the levels present, so DoWhy's regression is not rank-deficient
    # (statsmodels' SingularMatrixWarning would fail this test under warnings-as-errors).
    rng = np.random.default_rng(5)
    n = 60
    district = pd.Categorical(rng.choice(["D02", "D03", "D04"], size=2 * n), categories=["D01", "D02", "D03", "D04"])
    m = pair_design(rng.normal(size=n) + 0.5, rng.normal(size=n), x=district)
    out = refute(m, outcome="y", seed=0, num_simulations=10)
    assert out["p_value"].notna().all()
    assert isinstance(m.data["x"].dtype, pd.CategoricalDtype)  # the caller's column is untouched
