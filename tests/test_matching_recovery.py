"""Known-truth recovery: the matched estimate of SOFT's effect on 3-year new certification.

The analysis frame is :func:`wellness_research.cohort.soft_frame` with its defaults (it lived here
as ``soft_analysis_frame`` until the ``cohort`` module existed; the numbers are unchanged).

Design (target-trial style, documented choices):

* **Treated**: SOFT participants, index = month of the first session (as the ground truth).
* **Controls**: every other resident gets one index month drawn at random (seeded) from the
  participants' index months — a simple risk-set-style sampling that gives both groups the same
  calendar-time distribution. Persons who join SOFT later may serve as controls at an earlier
  index ("not yet treated"); persons who are treated rows are not also control rows.
* **Eligibility at the index month (both groups)**: aged 65+, resident and alive at the start of
  the month, not certified (no valid certification covering the first day of the month), living
  in a district with an open SOFT site (the engine's own eligibility for joining).
* **Observable follow-up**: the 36-month window must end by March 2026, so index ≤ April 2023
  (the ground truth's ``soft_att_risk3y_full_followup`` uses the same cut). Persons who move out
  inside the window are dropped (censored; moving out is independent of health in the generator).
* **Covariates at baseline**: age, sex, district, Kihon Checklist total from the latest
  questionnaire before the index month (0 plus a missing indicator if none), てくポ registration
  before the index month, a health checkup in the previous fiscal year, log(1 + medical cost in the
  12 months before the index month), and the index month itself.
* **Outcome**: a new certification (a record with a level other than 非該当) applied for within
  36 months from the index month. Death is a competing event: a certification before death counts,
  death without certification counts as no event (the ground truth's definition).

Power: SOFT opens from 2021 and the data end in March 2026, so only participants who joined by
April 2023 have an observable 3-year outcome — 21 in the "small" municipality for seed 0, 238 in
"city" (against 313 and 2,645 participants). With ~20 treated the propensity logit does not even
converge on "small", so the recovery check runs on "city" (slow-marked, about 35 s alone); the fast
test pins the frame's definitions on "small".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wellness_research.cohort import SOFT_COVARIATES, soft_frame
from wellness_research.synthetic import make_municipality

LAST_INDEX = 48  # 2023-04: index + 36 <= 84 months of data (the ground truth's full-follow-up cut)
COVARIATES = SOFT_COVARIATES


def soft_analysis_frame(tables, *, seed: int = 0) -> pd.DataFrame:
    """The SOFT analysis frame of this design: :func:`wellness_research.cohort.soft_frame` defaults."""
    return soft_frame(tables, seed=seed).data


def naive_difference(frame: pd.DataFrame) -> float:
    """Unadjusted risk difference, participants minus eligible non-participants."""
    g = frame.groupby("soft")["certified_36m"].mean()
    return float(g[1] - g[0])


def sample_truth(frame: pd.DataFrame, truth) -> float:
    """The exact ATT (common random numbers) over the participants kept in the frame."""
    po = truth.potential_outcomes
    po = po[po.programme == "soft"].set_index("person_id")
    ids = frame.loc[frame.soft == 1, "person_id"].astype(str)
    sel = po.loc[ids]
    return float(sel.certified_treated.mean() - sel.certified_untreated.mean())


@pytest.fixture(scope="module")
def small0():
    return make_municipality("small", seed=0)


@pytest.fixture(scope="module")
def city0():
    return make_municipality("city", seed=0)


@pytest.fixture(scope="module")
def frame0(city0):
    return soft_analysis_frame(city0.tables, seed=0)


def test_frame_outcome_reproduces_the_treated_arm(small0):
    # With common random numbers the treated arm is the observed data: for every participant kept
    # (not moved out), our observed outcome must equal the ground truth's certified_treated, and
    # our index month must be the truth's. This pins the outcome and index definitions.
    tables, truth = small0
    residents_before = tables["residents"].copy()
    frame = soft_analysis_frame(tables, seed=0)
    pd.testing.assert_frame_equal(tables["residents"], residents_before)
    po = truth.potential_outcomes
    po = po[po.programme == "soft"].set_index("person_id")
    t = frame[frame.soft == 1]
    assert 0 < len(t) <= truth.counts["soft_att_risk3y_full_followup"]
    ids = t.person_id.astype(str)
    np.testing.assert_array_equal(t["certified_36m"].to_numpy(),
                                  po.loc[ids, "certified_treated"].to_numpy().astype(int))
    np.testing.assert_array_equal(po.loc[ids, "index_month"].to_numpy(), t["index_date"].to_numpy())
    # eligibility and baseline covariates
    assert (frame["age"] >= 65).all() and (frame["index_month"] <= LAST_INDEX).all()
    assert frame[list(COVARIATES)].notna().all().all()
    assert not frame.duplicated("person_id").any()
    # same frame for the same seed
    pd.testing.assert_frame_equal(frame, soft_analysis_frame(tables, seed=0))


@pytest.mark.slow
def test_naive_comparison_is_biased_towards_benefit(frame0, city0):
    # Participants are healthier (lower KCL, younger, more active): the naive difference is more
    # negative than the truth (soft_att_risk3y_full_followup, ground truth of the generator).
    truth = city0.truth.estimands["soft_att_risk3y_full_followup"]
    naive = naive_difference(frame0)
    assert naive < truth - 0.02  # seed 0: naive -0.035, truth -0.004


@pytest.mark.slow
def test_matched_estimate_recovers_the_truth(frame0, city0):
    from wellness_research.matching import estimate_effect, match

    m = match(frame0, treatment="soft", covariates=list(COVARIATES), exact=["district"], caliper=0.2)
    eff = estimate_effect(m, outcome="certified_36m")
    truth = city0.truth.estimands["soft_att_risk3y_full_followup"]
    truth_kept = sample_truth(frame0, city0.truth)
    naive = naive_difference(frame0)
    # the interval covers the ground truth, and the matched estimate is much closer than the naive one
    assert eff.conf_low <= truth <= eff.conf_high
    assert eff.conf_low <= truth_kept <= eff.conf_high
    assert abs(eff.estimate - truth) < abs(naive - truth)
    assert m.n_matched["treated"] >= 0.9 * int(frame0.soft.sum())


@pytest.mark.slow
def test_sensitivity_on_the_matched_city_design(frame0):
    from wellness_research.matching import estimate_effect, evalue, match, refute, rosenbaum_bounds

    m = match(frame0, treatment="soft", covariates=[*COVARIATES, "district"], caliper=0.2)
    eff = estimate_effect(m, outcome="certified_36m")
    rb = rosenbaum_bounds(m, outcome="certified_36m", gammas=(1, 2))
    assert (rb["test"] == "mcnemar").all()
    assert rb.loc[0, "p_lower"] == pytest.approx(rb.loc[0, "p_upper"])  # Γ = 1: a single p-value
    ref = refute(m, outcome="certified_36m", seed=0, num_simulations=20)
    assert abs(ref.loc[0, "new_effect"]) < 0.03  # placebo treatment: no effect
    ev = evalue(eff.estimate, conf_low=eff.conf_low, conf_high=eff.conf_high, scale="rd",
                baseline_risk=eff.mean_control)
    assert ev.evalue >= 1 and ev.evalue_ci == 1.0  # the interval contains 0 on this design
