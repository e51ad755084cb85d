"""Tests of the short-term service outreach cascade and evaluation frame
(``wellness_research.cohort.short_term``; imported by path until the coordinator exports it)."""

from __future__ import annotations

import dataclasses
import functools
import warnings

import numpy as np
import pandas as pd
import pytest

from wellness_research.cohort.short_term import (
    CASCADE_ENTRIES,
    CASCADE_EXITS,
    SHORT_TERM_COVARIATES,
    SHORT_TERM_EXCLUSION_REASONS,
    outreach_cascade,
    short_term_frame,
)
from wellness_research.errors import ConfigurationError, DataValidationError
from wellness_research.synthetic import make_municipality
from wellness_research.synthetic.truth import sample_truth


@functools.lru_cache(maxsize=4)
def municipality(size: str, seed: int):
    """Synthetic municipalities shared by the tests of this file (never modified by them)."""
    return make_municipality(size, seed=seed)


# ---------------------------------------------------------------------------------------------
# hand-built tables
# ---------------------------------------------------------------------------------------------
def _ts(values):
    return pd.to_datetime(pd.Series(values, dtype=object))


def hand_tables(residents, *, episodes=(), contacts=(), certs=(), kcl=(), checkups=(), medical=(), ltc=(),
                tekupo=()):
    """Minimal contract tables from lists of dicts; person_id categorical with the residents' ids."""
    ids = [r["person_id"] for r in residents]
    cat = pd.CategoricalDtype(ids)

    def frame(rows, columns, dates=()):
        df = pd.DataFrame(list(rows), columns=list(columns))
        for c in dates:
            df[c] = _ts(df[c]) if len(df) else pd.Series([], dtype="datetime64[ns]")
        df["person_id"] = df["person_id"].astype(cat)
        return df

    res = frame([{"move_in_date": None, "move_out_date": None, "death_date": None, "district": "D01", "sex": "F",
                  **r} for r in residents],
                ("person_id", "birth_month", "sex", "district", "move_in_date", "move_out_date", "death_date"),
                ("birth_month", "move_in_date", "move_out_date", "death_date"))
    res["district"] = res["district"].astype(pd.CategoricalDtype([f"D{i:02d}" for i in range(1, 13)]))
    res["sex"] = res["sex"].astype(pd.CategoricalDtype(["M", "F"]))
    ep = frame([{"start_date": None, "end_date": None, "completed": False, "destination": None,
                 "referral_route": "outreach", **e} for e in episodes],
               ("person_id", "referral_route", "assessment_date", "able_to_improve", "start_date", "end_date",
                "completed", "destination"), ("assessment_date", "start_date", "end_date"))
    ep["referral_route"] = ep["referral_route"].astype(
        pd.CategoricalDtype(["outreach", "community_centre", "care_manager", "self"]))
    ep["destination"] = ep["destination"].astype(pd.CategoricalDtype(
        ["independent", "community_activity", "other_service", "certified", "dropped", "died"]))
    ep["able_to_improve"] = ep["able_to_improve"].astype(bool)
    ep["completed"] = ep["completed"].astype(bool)
    oc = frame([{"visit_date": None, "visit_result": None, "risk_flag": None, **c} for c in contacts],
               ("person_id", "survey_date", "responded", "risk_flag", "visit_date", "visit_result"),
               ("survey_date", "visit_date"))
    oc["responded"] = oc["responded"].astype(bool)
    oc["risk_flag"] = pd.array(oc["risk_flag"].tolist(), dtype="boolean")
    oc["visit_result"] = oc["visit_result"].astype(pd.CategoricalDtype(["assessed", "declined", "not_home",
                                                                         "not_needed"]))
    ce = frame([{"valid_from": c["application_date"], **c} for c in certs],
               ("person_id", "application_date", "level", "valid_from", "valid_to"),
               ("application_date", "valid_from", "valid_to"))
    q = [f"q{i:02d}" for i in range(1, 26)]
    krows = []
    for r in kcl:  # {"person_id", "survey_date", "total"}: the first `total` items answered 1
        krows.append({"person_id": r["person_id"], "survey_date": r["survey_date"],
                      **{c: int(i < r["total"]) for i, c in enumerate(q)}})
    kc = frame(krows, ("person_id", "survey_date", *q), ("survey_date",))
    hc = frame(checkups, ("person_id", "checkup_date", "bmi"), ("checkup_date",))
    mc = frame(medical, ("person_id", "service_month", "cost_yen"), ("service_month",))
    lc = frame(ltc, ("person_id", "service_month", "cost_yen"), ("service_month",))
    tk = frame(tekupo, ("person_id", "registration_date"), ("registration_date",))
    return {"residents": res, "short_term_episodes": ep, "outreach_contacts": oc, "ltc_certifications": ce,
            "kihon_checklist": kc, "health_checkups": hc, "medical_claims": mc, "ltc_claims": lc,
            "tekupo_users": tk}


# ---------------------------------------------------------------------------------------------
# the cascade: one hand case per exit
# ---------------------------------------------------------------------------------------------
SURVEY, VISIT = "2022-07-10", "2022-08-15"


@pytest.fixture(scope="module")
def cascade_tables():
    residents = [{"person_id": f"P{i:02d}", "birth_month": "1940-01-01", "district": "D01" if i < 12 else "D02"}
                 for i in range(1, 24)]
    flagged = {"responded": True, "risk_flag": True}
    assessed = {**flagged, "visit_date": VISIT, "visit_result": "assessed"}
    contacts = [
        {"person_id": "P01", "responded": False},                                              # not_responded
        {"person_id": "P02", "responded": False, "visit_date": VISIT, "visit_result": "not_home"},
        {"person_id": "P03", "responded": True, "risk_flag": False},                            # not_flagged
        {"person_id": "P04", "responded": True, "risk_flag": False, "visit_date": VISIT, "visit_result": "declined"},
        {"person_id": "P05", **flagged},                                      # already assessed in FY2021
        {"person_id": "P06", **flagged},                                                        # not_visited
        {"person_id": "P07", **flagged, "visit_date": VISIT, "visit_result": "declined"},
        {"person_id": "P08", **flagged, "visit_date": VISIT, "visit_result": "not_needed"},
        *({"person_id": f"P{i:02d}", **assessed} for i in range(9, 21)),
        {"person_id": "P23", "responded": False, "visit_date": VISIT, "visit_result": "assessed"},
    ]
    contacts = [{"survey_date": SURVEY, **c} for c in contacts]
    able = {"able_to_improve": True, "assessment_date": VISIT}
    started = {**able, "start_date": "2022-09-05"}
    episodes = [
        {"person_id": "P05", "referral_route": "community_centre", "assessment_date": "2021-09-01",
         "able_to_improve": False},
        {"person_id": "P09", "assessment_date": VISIT, "able_to_improve": False},               # not_able
        # P10: assessed at the visit but no episode record                                      no_episode_record
        {"person_id": "P11", **able, "destination": "certified"},
        {"person_id": "P12", **able, "destination": "died"},
        {"person_id": "P13", **able, "destination": "dropped"},
        {"person_id": "P14", **able},                                                          # awaiting_start
        {"person_id": "P15", **started, "end_date": "2022-10-01", "destination": "dropped"},
        {"person_id": "P16", **started, "end_date": "2022-10-02", "destination": "certified"},
        {"person_id": "P17", **started, "end_date": "2022-10-03", "destination": "died"},
        {"person_id": "P18", **started},                                                       # ongoing
        {"person_id": "P19", **started, "end_date": "2022-11-30", "completed": True, "destination": "independent"},
        {"person_id": "P20", **started, "end_date": "2022-11-30", "completed": True,
         "destination": "community_activity"},
        {"person_id": "P21", "referral_route": "self", **started, "assessment_date": "2022-08-01",
         "end_date": "2022-11-30", "completed": True, "destination": "other_service"},
        {"person_id": "P22", "assessment_date": "2022-08-01", "able_to_improve": False},      # outreach, no visit
        {"person_id": "P23", **started, "end_date": "2022-11-30", "completed": True, "destination": "independent"},
    ]
    return hand_tables(residents, episodes=episodes, contacts=contacts)


def test_cascade_hand_case_every_exit(cascade_tables):
    c = outreach_cascade(cascade_tables, by=())
    o = c.overall().set_index(["entry", "node"])["n"].sort_index()
    survey = {"surveyed": 21, "not_responded": 1, "not_responded_visited": 2, "responded": 18, "not_flagged": 1,
              "not_flagged_visited": 1, "flagged": 16, "already_assessed": 1, "not_visited": 1, "visited": 14,
              "visit_declined": 1, "visit_not_needed": 1, "visit_not_home": 0, "assessed": 12, "not_able": 1,
              "no_episode_record": 1, "able_to_improve": 10, "not_started_certified": 1, "not_started_died": 1,
              "not_started_dropped": 1, "awaiting_start": 1, "started": 6, "dropped_out": 1, "ended_certified": 1,
              "ended_died": 1, "ongoing": 1, "completed": 2, "independent": 1, "community_activity": 1}
    for node, n in survey.items():
        assert o["outreach_survey", node] == n, node
    unflagged = {"visited": 3, "visit_not_home": 1, "visit_declined": 1, "assessed": 1, "able_to_improve": 1,
                 "started": 1, "completed": 1, "independent": 1}
    for node, n in unflagged.items():
        assert o["outreach_visit_unflagged", node] == n, node
    assert (o["community_centre", "assessed"], o["community_centre", "not_able"]) == (1, 1)
    assert (o["self", "assessed"], o["self", "completed"], o["self", "other_service"]) == (1, 1, 1)
    assert (o["outreach_unlinked", "assessed"], o["outreach_unlinked", "not_able"]) == (1, 1)
    # the conversion is within a route; the referral routes never enter the outreach conversion
    row = c.overall().set_index(["entry", "node"]).sort_index().loc[("outreach_survey", "completed")]
    assert row["conversion"] == pytest.approx(2 / 6)
    assert row["share_of_entry"] == pytest.approx(2 / 21)
    # every unit ends in exactly one exit or destination
    assert len(c.units) == 21 + 3 + 3
    assert int(c.overall().query("kind != 'step'")["n"].sum()) == len(c.units)
    assert (c.inconsistencies["n"] == 0).all()


def test_cascade_groups_and_fiscal_years(cascade_tables):
    c = outreach_cascade(cascade_tables)  # by fiscal year and district
    t = c.table.set_index(["fiscal_year", "district", "entry", "node"])["n"].sort_index()
    assert t[2021, "D01", "community_centre", "assessed"] == 1
    assert t[2022, "D02", "outreach_survey", "completed"] == 2    # P19, P20 live in D02
    assert t[2022, "D01", "outreach_survey", "completed"] == 0
    only21 = outreach_cascade(cascade_tables, fiscal_years=[2021], by=("fiscal_year",))
    assert set(only21.units.entry) == {"community_centre"} and len(only21.units) == 1
    assert "person_id" not in c.units.columns and "person_id" not in c.tidy().columns
    assert {"term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"} <= set(c.tidy().columns)


def test_check_raises_when_a_unit_is_lost(cascade_tables):
    c = outreach_cascade(cascade_tables, by=())
    t = c.table.copy()
    t.loc[(t.entry == "outreach_survey") & (t.node == "visit_declined"), "n"] = 0
    with pytest.raises(DataValidationError, match="units lost at step 'assessed'"):
        dataclasses.replace(c, table=t).check()
    t = c.table.copy()
    t.loc[(t.entry == "self") & (t.node == "other_service"), "n"] = 0
    with pytest.raises(DataValidationError, match="destinations"):
        dataclasses.replace(c, table=t).check()


def test_cascade_rejects_bad_options(cascade_tables):
    with pytest.raises(ConfigurationError, match="by=\\['year'\\] is not valid"):
        outreach_cascade(cascade_tables, by=("year",))
    with pytest.raises(ConfigurationError, match="by must be a sequence"):
        outreach_cascade(cascade_tables, by="district")
    with pytest.raises(ConfigurationError, match="fiscal_years=2024 is not valid"):
        outreach_cascade(cascade_tables, fiscal_years=2024)
    bad = dict(cascade_tables)
    bad.pop("outreach_contacts")
    with pytest.raises(DataValidationError, match="table 'outreach_contacts' is missing"):
        outreach_cascade(bad)


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_cascade_conserves_units_on_synthetic_data(size):
    tables = municipality(size, 0).tables
    oc_before = tables["outreach_contacts"].copy()
    c = outreach_cascade(tables)
    pd.testing.assert_frame_equal(tables["outreach_contacts"], oc_before)  # not modified
    c.check()
    o = c.overall().set_index(["entry", "node"])["n"].sort_index()
    ep = tables["short_term_episodes"]
    # every contact is surveyed once; every episode is counted once at "assessed" (linked or its own route)
    assert o["outreach_survey", "surveyed"] == len(tables["outreach_contacts"])
    assessed_episodes = sum(int(o.get((e, "assessed"), 0)) for e in CASCADE_ENTRIES) - int(
        o["outreach_survey", "no_episode_record"] + o.get(("outreach_visit_unflagged", "no_episode_record"), 0))
    assert assessed_episodes == len(ep)
    completers = sum(int(o.get((e, "completed"), 0)) for e in CASCADE_ENTRIES)
    assert completers == int(ep.completed.sum())
    for step, exits in CASCADE_EXITS.items():
        if step == "destination":
            continue
        prev = "surveyed responded flagged visited assessed able_to_improve started completed".split()
        before = prev[prev.index(step) - 1]
        for e in CASCADE_ENTRIES:
            if (e, step) in o.index and (e, before) in o.index:
                assert o[e, before] == o[e, step] + sum(int(o[e, x]) for x in exits)
    # the same units whatever the grouping
    assert outreach_cascade(tables, by=("district",)).table.query("kind != 'step'")["n"].sum() == len(c.units)


def test_published_cascade_is_suppressed(cascade_tables):
    tables = municipality("tiny", 0).tables
    pub = outreach_cascade(tables, by=("fiscal_year",)).published()
    vals = pub.table.drop(columns="All").to_numpy().ravel()
    shown = [v for v in vals if not isinstance(v, str)]
    assert all(v == 0 or v >= 10 for v in shown)
    assert pub.recoverable == 0 and pub.min_count == 10
    assert not pub.table.astype(str).apply(lambda s: s.str.match(r"P\d{7}")).any().any()


# ---------------------------------------------------------------------------------------------
# the frame: eligibility rules on hand cases
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def frame_tables():
    assess = "2022-08-20"
    no = {"assessment_date": assess, "able_to_improve": False}
    residents = [{"person_id": p, "birth_month": "1945-01-01"} for p in
                 ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8")]
    residents += [{"person_id": "P9", "birth_month": "1960-01-01"}]
    residents[1]["death_date"] = "2024-01-15"
    residents[3]["death_date"] = "2022-10-05"
    residents[7]["move_out_date"] = "2022-11-15"
    episodes = [
        {"person_id": "P1", "assessment_date": "2022-08-15", "able_to_improve": True, "start_date": "2022-09-05",
         "end_date": "2022-11-28", "completed": True, "destination": "independent"},
        {"person_id": "P2", **no},
        {"person_id": "P2", "assessment_date": "2023-05-01", "able_to_improve": False},     # second episode
        {"person_id": "P3", **no},
        {"person_id": "P4", **no},
        {"person_id": "P5", "assessment_date": assess, "able_to_improve": True, "destination": "certified"},
        {"person_id": "P6", "assessment_date": assess, "able_to_improve": True, "start_date": "2022-09-02",
         "end_date": "2022-10-10", "destination": "dropped"},
        {"person_id": "P8", **no},
        {"person_id": "P9", **no},
    ]
    certs = [{"person_id": "P1", "application_date": "2023-05-10", "level": "要支援1", "valid_to": "2024-04-30"},
             {"person_id": "P3", "application_date": "2022-10-01", "level": "要介護1", "valid_to": "2023-09-30"},
             {"person_id": "P5", "application_date": "2022-08-25", "level": "要支援2", "valid_to": "2023-08-31"}]
    kcl = [{"person_id": "P1", "survey_date": "2022-08-15", "total": 10},
           {"person_id": "P1", "survey_date": "2022-11-28", "total": 6},
           {"person_id": "P1", "survey_date": "2023-11-10", "total": 7},
           {"person_id": "P2", "survey_date": "2019-11-01", "total": 3},
           {"person_id": "P2", "survey_date": assess, "total": 12}]
    contacts = [{"person_id": "P1", "survey_date": "2022-07-10", "responded": True, "risk_flag": True,
                 "visit_date": "2022-08-15", "visit_result": "assessed"}]
    return hand_tables(residents, episodes=episodes, certs=certs, kcl=kcl, contacts=contacts,
                       checkups=[{"person_id": "P1", "checkup_date": "2022-06-01", "bmi": 22.0}],
                       medical=[{"person_id": "P1", "service_month": "2022-01-01", "cost_yen": 10000.0},
                                {"person_id": "P1", "service_month": "2021-11-01", "cost_yen": 5000.0}])


def test_frame_hand_case_eligibility_and_reasons(frame_tables):
    f = short_term_frame(frame_tables, comparison="assessed_not_participating", landmark=4, index_end="2026-03")
    assert len(f.data) + len(f.exclusions) == f.n_candidates == 9 + 1  # 9 episodes + P7 (never assessed)
    reasons = dict(zip(f.exclusions.person_id.astype(str) + "/" + f.exclusions.index_month.astype(str),
                       f.exclusions.reason.astype(str), strict=True))
    assert reasons["P2/53"] == "not the person's first episode"          # 2023-05 (month 49) + 4
    assert reasons["P3/44"] == "certification applied between assessment and index"
    assert reasons["P4/44"] == "died before index"
    assert reasons["P5/44"] == "certification applied between assessment and index"
    assert reasons["P6/44"] == "started, did not complete (per-protocol population)"
    assert reasons["P7/-1"] == "no short-term assessment (comparisons assessed_*)"
    assert reasons["P8/44"] == "moved out before index"
    assert reasons["P9/44"] == "under 65 at index"
    ex = f.exclusions.set_index(f.exclusions.person_id.astype(str))
    assert ex.loc["P6", "short_term"] == 1                                 # an excluded starter
    d = f.data.set_index(f.data.person_id.astype(str))
    assert sorted(d.index) == ["P1", "P2"]
    p1, p2 = d.loc["P1"], d.loc["P2"]
    # index: the month after completion (2022-11 -> 2022-12 = month 44); the comparison at the same delay
    assert (p1.short_term, p1.index_month, p1.delay_months, p1.index_date) == (1, 44, 4, pd.Timestamp("2022-12-01"))
    assert (p2.short_term, p2.index_month, p2.delay_months) == (0, 44, 4)
    # baseline KCL = the assessment's questionnaire, never the end-of-service one
    assert (p1.kcl_total, p1.kcl_end_of_service, p1.kcl_end_change) == (10, 6, -4)
    assert (p1.kcl_next, p1.kcl_change) == (7, -3)
    assert p1.kcl_next_months == pytest.approx((pd.Timestamp("2023-11-10") - pd.Timestamp("2022-12-01")).days
                                               / (365.25 / 12))
    assert p2.kcl_total == 12 and np.isnan(p2.kcl_end_of_service)
    # outcomes: P1 certified (要支援1) in May 2023; P2 dies in January 2024 uncertified (competing)
    t1 = (pd.Timestamp("2023-05-10") - pd.Timestamp("2022-12-01")).days / (365.25 / 12)
    assert (p1.cert_event, p1.certified_12m, p1.certified_36m, p1.care2_event) == (1, 1, 1, 0)
    assert p1.cert_time == pytest.approx(t1) and p1.care2_time == pytest.approx(36.0)
    t2 = (pd.Timestamp("2024-01-15") - pd.Timestamp("2022-12-01")).days / (365.25 / 12)
    assert (p2.cert_event, p2.died_12m, p2.died_36m, p2.certified_36m) == (2, 0, 1, 0)
    assert p2.cert_time == pytest.approx(t2)
    # covariates before the index
    assert (p1.age, p1.female, p1.outreach_risk_flag, p2.outreach_surveyed) == (pytest.approx(77 + 11 / 12), 1, 1, 0)
    assert (p1.bmi, p1.bmi_missing, p2.bmi, p2.bmi_missing) == (22.0, 0, 22.0, 1)
    assert p1.log_medical_cost_12m == pytest.approx(np.log1p(10000.0)) and p1.medical_months_12m == 1
    assert (p1.destination, p1.graduated, p1.referral_route) == ("independent", 1, "outreach")


def test_frame_comparison_definitions(frame_tables):
    strict = short_term_frame(frame_tables, comparison="assessed_not_started", landmark=4, index_end="2026-03")
    r = dict(zip(strict.exclusions.person_id.astype(str), strict.exclusions.reason.astype(str), strict=False))
    assert r["P3"] == "not able to improve (comparison assessed_not_started)"
    assert r["P5"] == "certification applied between assessment and index"     # able, not started
    assert (strict.data.short_term == 0).sum() == 0
    never = short_term_frame(frame_tables, comparison="never_reached", index_end="2026-03", seed=1)
    assert len(never.data) + len(never.exclusions) == never.n_candidates == 9 + 9
    ex = never.exclusions
    assert set(ex.loc[ex.unit == "episode", "reason"].astype(str)) >= {
        "assessed, not a participant (comparison never_reached)", "started, did not complete (per-protocol population)"}
    # only P7 was never assessed; at the participants' only index month (44) P7 is eligible
    comp = never.data[never.data.short_term == 0]
    assert list(comp.person_id.astype(str)) == ["P7"] and list(comp.index_month) == [44]
    assert comp.referral_route.astype(str).tolist() == ["none"]


def test_frame_rejects_bad_options(frame_tables):
    with pytest.raises(ConfigurationError, match="comparison='assessed' is not valid"):
        short_term_frame(frame_tables, comparison="assessed")
    with pytest.raises(ConfigurationError, match="landmark=0 is not valid"):
        short_term_frame(frame_tables, landmark=0)
    with pytest.raises(ConfigurationError, match="population='itt' is not valid"):
        short_term_frame(frame_tables, population="itt")
    with pytest.raises(ConfigurationError, match="no completers with an index month"):
        short_term_frame(frame_tables, index_end="2020-01")


# ---------------------------------------------------------------------------------------------
# the frame on synthetic data
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small0():
    return municipality("small", 0)


def test_frame_matches_the_ground_truth_definitions(small0):
    tables, truth = small0
    before = tables["short_term_episodes"].copy()
    f = short_term_frame(tables, comparison="assessed_not_participating", seed=0)
    pd.testing.assert_frame_equal(tables["short_term_episodes"], before)
    assert len(f.data) + len(f.exclusions) == f.n_candidates
    assert set(f.exclusions.reason.astype(str)) <= set(SHORT_TERM_EXCLUSION_REASONS)
    po = truth.potential_outcomes
    po = po[po.programme == "short_term"].set_index(po.person_id[po.programme == "short_term"].astype(str))
    t = f.data[f.data.short_term == 1]
    assert len(t) == truth.counts["short_term_att_risk3y_full_followup"]  # completers with index <= 2023-04
    ids = t.person_id.astype(str)
    np.testing.assert_array_equal(po.loc[ids, "index_month"].to_numpy(), t.index_date.to_numpy())
    # the observed outcome is the treated arm (common random numbers) for everyone not censored by a move
    stay = t.censored_by_move.to_numpy() == 0
    np.testing.assert_array_equal(t.certified_36m.to_numpy()[stay],
                                  po.loc[ids, "certified_treated"].to_numpy().astype(int)[stay])
    # the end-of-service questionnaire is the truth's treated KCL, except where the generator kept the
    # November 2022 survey questionnaire answered on the same day (one row per person-day; measured:
    # exactly one completer, P0003307, end of service 2022-11-12, in small seed 0)
    same = t.kcl_end_of_service.to_numpy() == po.loc[ids, "kcl_treated"].to_numpy(dtype=float)
    assert list(t.person_id.astype(str)[~same]) == ["P0003307"]
    assert f.data[list(SHORT_TERM_COVARIATES)].notna().all().all()
    assert (f.data.age >= 65).all() and not f.data.duplicated("person_id").any()
    pd.testing.assert_frame_equal(f.data, short_term_frame(tables, comparison="assessed_not_participating",
                                                           seed=0).data)
    starters = short_term_frame(tables, comparison="assessed_not_participating", population="starters", seed=0)
    s = starters.data[starters.data.short_term == 1]
    assert (s.delay_months == 1).all() and len(s) > len(t)


def _matched_rd(frame, potential_outcomes):
    from wellness_research.matching import match
    from wellness_research.survival import risk_difference

    d = frame.data
    # the pre-specified covariates, less those constant within an arm (the logit cannot use them)
    cov = [c for c in SHORT_TERM_COVARIATES if all(d.loc[d.short_term == g, c].nunique() > 1 for g in (0, 1))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample propensity warnings; the estimate is checked below
        m = match(d, treatment="short_term", covariates=cov, caliper=0.2, replace=True)
    rd = risk_difference(m, time="cert_time", event="cert_event", group="short_term", at=36)
    ids = d.loc[(m.weights > 0) & (d.short_term.to_numpy() == 1), "person_id"].astype(str)
    truth = sample_truth(potential_outcomes, ids, start=0, months=36, programme="short_term")
    return rd, truth


@pytest.mark.parametrize("seed", [0, 1])
def test_matched_estimate_covers_the_truth_small(seed):
    # Comparison "assessed_not_participating": on the synthetic data "assessed_not_started" is empty
    # at any landmark (every able person alive and uncertified starts the next month), see the report.
    # Measured with this design: seed 0 +0.034 [-0.103, 0.170] vs truth -0.056; seed 1 -0.027
    # [-0.176, 0.121] vs -0.043. Over small seeds 0-10, 9 of 11 intervals cover; seeds 4 and 6 do not
    # (+0.125 [0.023, 0.228] vs -0.041; +0.122 [0.030, 0.214] vs -0.032): one comparison person then
    # carries the weight of 9-12 participants (~180 participants vs ~70 comparisons), and the clustered
    # analytic and the bootstrap intervals are both too narrow for that reuse; 1:1 matching without
    # replacement covers in both seeds. Seeds 0 and 1 are the first two, not chosen.
    m = municipality("small", seed)
    f = short_term_frame(m.tables, comparison="assessed_not_participating", seed=seed)
    rd, truth = _matched_rd(f, m.truth.potential_outcomes)
    assert rd.conf_low <= truth.risk_difference <= rd.conf_high


@pytest.mark.slow
def test_matched_estimate_covers_the_truth_city():
    # The same pre-specified design on the synthetic city (seed 0): 1,314 completers with index up to
    # 2023-04 against 536 assessed non-participants; measured (busy 2-core machine, ~80 s with the
    # build): -0.048 [-0.107, 0.011] vs the sample truth -0.043 for the 1,313 matched participants; the
    # unadjusted Aalen-Johansen difference is -0.041 (not biased here: "not able to improve" depends
    # on age only in the generator). Adding kcl_physical, kcl_iadl and outreach_risk_flag to the
    # covariates moved the estimate to +0.029 [-0.021, 0.080] (not covering): with 2.5 participants
    # per comparison person, matching with replacement reuses controls heavily and is noisy.
    m = municipality("city", 0)
    f = short_term_frame(m.tables, comparison="assessed_not_participating", seed=0)
    assert int((f.data.short_term == 1).sum()) == 1314 and int((f.data.short_term == 0).sum()) == 536
    rd, truth = _matched_rd(f, m.truth.potential_outcomes)
    assert rd.conf_low <= truth.risk_difference <= rd.conf_high
    assert rd.risk_treated == pytest.approx(truth.risk_treated, abs=0.005)  # the treated arm is the data
