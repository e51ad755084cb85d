"""Tests of wellness_research.cohort.soft_frame: the SOFT analysis frame and its exclusion accounting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wellness_research.cohort import EXCLUSION_REASONS, SOFT_COVARIATES, CohortFrame, soft_frame
from wellness_research.errors import ConfigurationError, DataValidationError
from wellness_research.synthetic import make_municipality


@pytest.fixture(scope="module")
def small0():
    return make_municipality("small", seed=0)


@pytest.fixture(scope="module")
def frame0(small0) -> CohortFrame:
    return soft_frame(small0.tables, seed=0)


def test_numbers_unchanged_from_the_former_test_helper(small0, frame0):
    # Fingerprints of the frame built by the former ``soft_analysis_frame`` in
    # tests/test_matching_recovery.py (git HEAD of 2026-11-28, before the move) on
    # make_municipality("small", seed=0) with seed=0; the move was also checked column by column
    # (pandas.testing.assert_frame_equal on the 13 original columns) for this case.
    d = frame0.data
    assert (len(d), int(d.soft.sum()), int(d.certified_36m.sum())) == (1453, 21, 181)
    assert float(d.age.sum()) == pytest.approx(110295.16666666667, rel=1e-12)
    assert float(d.kcl_total.sum()) == 5248.0
    assert (int(d.tekupo.sum()), int(d.checkup_last_fy.sum()), int(d.index_month.sum())) == (11, 493, 60975)
    assert float(d.log_medical_cost_12m.sum()) == pytest.approx(18577.52668096331, rel=1e-12)
    # LAST_INDEX = 83 in the old helper = index_end="2026-03" (the DiD cost design)
    d83 = soft_frame(small0.tables, seed=0, index_end="2026-03").data
    assert (len(d83), int(d83.soft.sum()), int(d83.certified_36m.sum())) == (7584, 305, 281)
    assert float(d83.age.sum()) == pytest.approx(574778.5833333333, rel=1e-12)
    assert float(d83.log_medical_cost_12m.sum()) == pytest.approx(96653.71368869921, rel=1e-12)


def test_every_resident_is_accounted_for(small0, frame0):
    res = small0.tables["residents"]
    d, ex = frame0.data, frame0.exclusions
    assert frame0.n_residents == len(res) == len(d) + len(ex)
    ids = pd.concat([d.person_id.astype(str), ex.person_id.astype(str)])
    assert not ids.duplicated().any() and set(ids) == set(res.person_id.astype(str))
    assert set(ex.reason.unique()) <= set(EXCLUSION_REASONS)
    flow = frame0.flow()
    excluded = flow[flow.step.str.startswith("excluded")]
    assert flow.iloc[0, 1:].sum() == frame0.n_residents
    assert (flow.iloc[0, 1:] - excluded.iloc[:, 1:].sum()).tolist() == flow.iloc[-1, 1:].tolist()
    assert "residents considered" in frame0.summary() and "<table" in frame0._repr_html_()
    assert set(frame0.tidy().columns) == {"term", "n"}


def test_outcomes_are_consistent(frame0):
    d = frame0.data
    # movers dropped and full follow-up: the time-to-event outcome reproduces the binary one
    assert ((d.cert_event == 1) == (d.certified_36m == 1)).all()
    assert ((d.care2_event == 1) == (d.certified_care2_36m == 1)).all()
    assert (d.certified_care2_36m <= d.certified_36m).all()
    assert ((d.cert_event == 2) <= (d.died_36m == 1)).all()
    assert d.cert_time.between(0, 36).all() and (d.cert_time[d.cert_event == 0] > 35.9).all()
    # so does the Aalen–Johansen estimate at 36 months (no censoring before 36 months)
    from wellness_research.survival import cumulative_incidence

    r = cumulative_incidence(d, time="cert_time", event="cert_event", group="soft", times=[36])
    np.testing.assert_allclose(r.at["estimate"], d.groupby("soft").certified_36m.mean().to_numpy(), atol=1e-12)


def test_baseline_covariates(frame0):
    d = frame0.data
    assert (d.age >= 65).all()
    extra = ["kcl_iadl", "kcl_physical", "kcl_mood", "bmi", "bmi_missing", "egfr", "log_ltc_cost_12m",
             "prior_certification", "sessions_window"]
    assert d[list(SOFT_COVARIATES) + extra].notna().all().all()
    domains = d[[c for c in d.columns if c.startswith("kcl_") and c not in ("kcl_total", "kcl_missing")]]
    np.testing.assert_allclose(domains.sum(axis=1), d.kcl_total)
    assert (d.loc[d.soft == 0, "sessions_window"] == 0).all() and (d.loc[d.soft == 1, "sessions_window"] >= 1).all()


def test_options_change_the_frame_as_documented(small0, frame0):
    tables = small0.tables
    before = tables["residents"].copy()
    dose = soft_frame(tables, seed=0, min_sessions=4)
    pd.testing.assert_frame_equal(tables["residents"], before)
    t0 = set(frame0.data.person_id[frame0.data.soft == 1].astype(str))
    t4 = set(dose.data.person_id[dose.data.soft == 1].astype(str))
    assert t4 <= t0 and (dose.data.loc[dose.data.soft == 1, "sessions_window"] >= 4).all()
    cens = soft_frame(tables, seed=0, movers="censor")
    assert len(cens.data) > len(frame0.data)
    assert "moved out during follow-up" not in set(cens.exclusions.reason.astype(str))
    moved = cens.data[~cens.data.person_id.isin(frame0.data.person_id)]
    assert (moved.cert_time < 36).all()
    other = soft_frame(tables, seed=1)
    assert not other.data.equals(frame0.data)
    pd.testing.assert_frame_equal(frame0.data, soft_frame(tables, seed=0).data)


def test_errors_name_the_problem(small0):
    tables = dict(small0.tables)
    with pytest.raises(ConfigurationError, match="min_sessions=0 is not valid"):
        soft_frame(tables, min_sessions=0)
    with pytest.raises(ConfigurationError, match="movers='keep' is not valid"):
        soft_frame(tables, movers="keep")
    del tables["soft_sites"]
    with pytest.raises(DataValidationError, match="table 'soft_sites' is missing"):
        soft_frame(tables)
