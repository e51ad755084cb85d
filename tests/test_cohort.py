"""Tests of wellness_research.cohort.soft_frame: the SOFT analysis frame and its exclusion accounting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wellness_research.cohort import EXCLUSION_REASONS, SOFT_COVARIATES, CohortFrame, soft_frame
from wellness_research.cohort.soft import LANDMARK_EXCLUSION_REASONS
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
    domains = d[[c for c in d.columns if c.startswith("kcl_") and c not in ("kcl_total", "kcl_missing",
                                                                             "kcl_months_since")]]
    np.testing.assert_allclose(domains.sum(axis=1), d.kcl_total)
    # months since the latest checklist: 0 without one, else at least 1 (answered before the index month)
    assert (d.loc[d.kcl_missing == 1, "kcl_months_since"] == 0).all()
    assert (d.loc[d.kcl_missing == 0, "kcl_months_since"] >= 1).all()
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


# ------------------------------------------------------------------------------------------
# landmark design (protocol soft_joint_research §5: time zero = index + 3 months, both arms)
# ------------------------------------------------------------------------------------------
def _hand_tables() -> dict[str, pd.DataFrame]:
    """Ten residents of one district whose fates are written out below (all born 1940-01)."""
    people = {  # person: (sessions as (month, count), certification application, death, move-out, birth)
        "A": ([("2021-06", 2), ("2021-07", 2)], "2022-01-10", None, None, "1940-01"),  # participant, event 1
        "B": ([("2021-06", 4)], "2021-08-15", None, None, "1940-01"),  # participant certified before landmark
        "C": ([("2021-06", 4)], None, "2021-07-20", None, "1940-01"),  # participant dead before landmark
        "D": ([("2021-06", 3)], None, None, None, "1940-01"),  # initiator (3 < 4 sessions): control at 2021-06?
        "E": ([], None, None, None, "1940-01"),  # control, no event
        "F": ([("2021-07", 1)], None, None, None, "1940-01"),  # control who starts SOFT before the landmark
        "G": ([], None, None, "2021-08-10", "1940-01"),  # control moved out before the landmark
        "H": ([], "2021-07-05", None, None, "1940-01"),  # control certified before the landmark
        "I": ([], None, "2022-03-01", None, "1940-01"),  # control, dies in follow-up (event 2)
        "J": ([], None, None, None, "1960-01"),  # under 65
    }
    cats = pd.CategoricalDtype(list(people))
    pid = lambda ids: pd.Series(pd.Categorical(ids, dtype=cats))  # noqa: E731
    date = lambda v: pd.to_datetime(pd.Series(v, dtype=object))  # noqa: E731
    res = pd.DataFrame({
        "person_id": pid(list(people)),
        "birth_month": date([p[4] + "-01" for p in people.values()]),
        "sex": "F", "district": pd.Categorical(["D01"] * len(people)),
        "move_in_date": date([None] * len(people)),
        "move_out_date": date([p[3] for p in people.values()]),
        "death_date": date([p[2] for p in people.values()]),
    })
    att = [(k, f"{m}-{d + 1:02d}") for k, p in people.items() for m, c in p[0] for d in range(c)]
    certs = [(k, p[1]) for k, p in people.items() if p[1]]
    app = date([c[1] for c in certs])
    empty = lambda **cols: pd.DataFrame({"person_id": pid([]), **cols})  # noqa: E731
    nat = pd.Series([], dtype="datetime64[ns]")
    return {
        "residents": res,
        "soft_attendance": pd.DataFrame({"person_id": pid([a[0] for a in att]),
                                         "session_date": date([a[1] for a in att])}),
        "soft_sites": pd.DataFrame({"district": pd.Categorical(["D01"]), "start_date": date(["2021-04-01"]),
                                    "end_date": date([None])}),
        "ltc_certifications": pd.DataFrame({"person_id": pid([c[0] for c in certs]), "application_date": app,
                                            "level": ["要支援1"] * len(certs), "valid_from": app,
                                            "valid_to": app + pd.DateOffset(years=1)}),
        "kihon_checklist": empty(survey_date=nat, **{f"q{i:02d}": pd.Series([], dtype=float) for i in range(1, 26)}),
        "tekupo_users": empty(registration_date=nat),
        "health_checkups": empty(checkup_date=nat),
        "medical_claims": empty(service_month=nat, cost_yen=pd.Series([], dtype=float)),
        "ltc_claims": empty(service_month=nat, cost_yen=pd.Series([], dtype=float)),
    }


def test_landmark_hand_checked_case():
    tables = _hand_tables()
    cf = soft_frame(tables, seed=0, min_sessions=4, landmark_months=3, require_open_site=True)
    reasons = dict(zip(cf.exclusions.person_id.astype(str), cf.exclusions.reason.astype(str)))
    # every participant's index is 2021-06 (month 26), so every control's index is 2021-06 too
    assert reasons == {"B": "certified before landmark", "C": "died before landmark",
                       "D": "SOFT start before landmark", "F": "SOFT start before landmark",
                       "G": "moved out before landmark", "H": "certified before landmark", "J": "under 65 at index"}
    assert set(cf.exclusions.reason.cat.categories) == set(LANDMARK_EXCLUSION_REASONS)
    d = cf.data.set_index(cf.data.person_id.astype(str))
    assert sorted(d.index) == ["A", "E", "I"] and d.loc["A", "soft"] == 1 and d.loc["A", "sessions_window"] == 4
    assert (d.index_month == 26).all() and (d.landmark_month == 29).all()
    assert (d.landmark_date == pd.Timestamp("2021-09-01")).all()
    # times from the landmark 2021-09-01: A certified 2022-01-10 (131 days), I died 2022-03-01 (181 days)
    assert d.loc["A", "cert_event"] == 1 and d.loc["A", "cert_time"] == pytest.approx(131 / (365.25 / 12))
    assert d.loc["I", "cert_event"] == 2 and d.loc["I", "cert_time"] == pytest.approx(181 / (365.25 / 12))
    assert d.loc["E", "cert_event"] == 0 and d.loc["E", "cert_time"] == 36.0
    assert d.certified_36m.tolist() == [1, 0, 0] and d.died_36m.tolist() == [0, 0, 1]
    flow = cf.flow().set_index("step")
    assert flow.loc["excluded: certified before landmark"].tolist() == [1, 1]
    assert flow.loc["analysed"].tolist() == [1, 2] and "landmark = index + 3" in cf.summary()
    # without the landmark, B and C (who could not have attended 4 times had they been certified or
    # died in June) are participants from the index month: the immortal time the landmark removes
    old = soft_frame(tables, seed=0, min_sessions=4)
    assert sorted(old.data.person_id[old.data.soft == 1].astype(str)) == ["A", "B", "C"]
    assert "landmark_month" not in old.data.columns


def test_landmark_frame_on_small(small0, frame0):
    tables, truth = small0
    from wellness_research.synthetic.truth import sample_truth

    cf = soft_frame(tables, seed=0, min_sessions=4, landmark_months=3, followup_months=12)
    d, ex = cf.data, cf.exclusions
    # accounting: every resident once, the flow adds up
    assert cf.n_residents == len(tables["residents"]) == len(d) + len(ex)
    assert not pd.concat([d.person_id, ex.person_id]).duplicated().any()
    flow = cf.flow()
    excluded = flow[flow.step.str.startswith("excluded")]
    assert (flow.iloc[0, 1:] - excluded.iloc[:, 1:].sum()).tolist() == flow.iloc[-1, 1:].tolist()
    assert (ex.reason == "certified before landmark").sum() > 0
    # nobody analysed was certified, dead or gone before the landmark; time zero is the landmark
    assert (d.landmark_month == d.index_month + 3).all() and (d.sessions_window[d.soft == 1] >= 4).all()
    res = tables["residents"].set_index(tables["residents"].person_id.astype(str))
    death = res.loc[d.person_id.astype(str), "death_date"].to_numpy()
    assert not (death < d.landmark_date.to_numpy()).any()
    cert = tables["ltc_certifications"]
    cert = cert[cert.level != "非該当"].merge(d[["person_id", "index_date", "landmark_date"]], on="person_id")
    assert not ((cert.application_date >= cert.index_date) & (cert.application_date < cert.landmark_date)).any()
    assert d.cert_time.between(0, 12).all()
    # the participants' observed outcome is the ground truth's treated arm over the same window
    t = d[d.soft == 1]
    st = sample_truth(truth.potential_outcomes, t.person_id, start=3, months=12)
    assert st.n_at_risk_treated == len(t) >= 100
    np.testing.assert_array_equal(st.persons.event_treated.to_numpy(), t.certified_36m.to_numpy())
    # the default (no landmark) frame is unchanged by the option's existence
    assert frame0.parameters["landmark_months"] is None and "landmark_date" not in frame0.data.columns


def test_landmark_errors():
    tables = _hand_tables()
    with pytest.raises(ConfigurationError, match="landmark_months=2 is not valid with window_months=3"):
        soft_frame(tables, landmark_months=2)
    with pytest.raises(ConfigurationError, match="landmark_months=0 is not valid"):
        soft_frame(tables, landmark_months=0)


def test_prior_use_covariates_count_the_twelve_months_before_the_index_month():
    from wellness_research.cohort.soft import _months_with_rows

    # person 0: records in months 10, 13, 13, 25 and 26; window [14, 26) holds only month 25
    rows_p = np.array([0, 0, 0, 0, 0, 1])
    rows_m = np.array([10, 13, 13, 25, 26, 20])
    p = np.array([0, 0, 1, 2])
    lo = np.array([14, 13, 8, 0])
    hi = np.array([26, 27, 20, 99])
    assert _months_with_rows(rows_p, rows_m, p, lo, hi).tolist() == [1, 3, 0, 0]  # distinct months
    assert _months_with_rows(rows_p, rows_m, p, lo, hi, count="rows").tolist() == [1, 4, 0, 0]


def test_lookbacks_and_minimum_residence_follow_the_protocol():
    from wellness_research.synthetic import make_municipality

    tables = make_municipality("small", seed=0).tables
    base = soft_frame(tables, seed=0)
    short = soft_frame(tables, seed=0, kcl_lookback_months=12, checkup_lookback_months=6, min_residence_months=12)
    # a shorter look-back can only turn known values into missing ones
    both = base.data.merge(short.data, on="person_id", suffixes=("", "_s"))
    assert len(both) > 0
    assert ((both.kcl_missing_s >= both.kcl_missing)).all() and (both.kcl_missing_s > both.kcl_missing).any()
    assert ((both.bmi_missing_s >= both.bmi_missing)).all() and (both.bmi_missing_s > both.bmi_missing).any()
    # the residence rule excludes, and reports, persons who moved in within 12 months of their index month
    reason = "resident for less than min_residence_months"
    excluded = short.exclusions[short.exclusions.reason == reason]
    assert len(excluded) > 0 and not (base.exclusions.reason == reason).any()
    res = tables["residents"].set_index(tables["residents"].person_id.astype(str))
    moved_in = pd.to_datetime(res.loc[excluded.person_id.astype(str), "move_in_date"]).to_numpy()
    index_date = (np.datetime64("2019-04", "M") + excluded.index_month.to_numpy().astype("timedelta64[M]"))
    assert (moved_in >= (index_date - np.timedelta64(12, "M")).astype("datetime64[ns]")).all()
    assert len(short.data) + len(short.exclusions) == short.n_residents
