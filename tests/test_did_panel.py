"""Tests of the person-month cost panel (wellness_research.did.panel) and the cost ground truth."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from wellness_research.cohort import SOFT_COVARIATES, soft_frame
from wellness_research.did.panel import CostPanel, cost_panel
from wellness_research.errors import ConfigurationError, DataValidationError


def matched_cost_did(muni, *, seed: int = 0, pre: int = 12) -> dict:
    """Matched DiD of SOFT on monthly cost, with the truth over the analysed participants.

    Design: the SOFT analysis frame :func:`wellness_research.cohort.soft_frame` (participants at their
    first session month, risk-set controls at a drawn index month, eligibility and baseline
    covariates there, movers dropped) but without its 36-month full-follow-up cut, so every
    participant whose index is in the data counts; 1:1 nearest-neighbour matching on the logit
    propensity (caliper 0.2 SD, exact on district); the panel months ``-pre .. 35`` around the index
    month (controls censored at their own first session); the project's
    :func:`wellness_research.did.twfe.did_2x2` with matched rows as units, months relative to the
    index month as periods (post = months 0..35), the matching weights, and standard errors
    clustered by person (a person can be a control for several participants). The 2×2 of weighted
    cell means (no unit effects) is kept beside it as ``estimate_cells``.

    The truth is the ground truth's cost estimand restricted to the matched participants:
    ``sum(cost_treated) / sum(months_treated) - sum(cost_untreated) / sum(months_untreated)``.
    """
    from wellness_research.did.twfe import did_2x2
    from wellness_research.matching import match

    # every index month of the data (cost windows may be truncated at March 2026)
    frame = soft_frame(muni.tables, seed=seed, index_end="2026-03").data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # poor-overlap notes are kept on the result
        m = match(frame, treatment="soft", covariates=list(SOFT_COVARIATES), exact=["district"], caliper=0.2)
    panel = cost_panel(muni.tables, matched=m, window=(-pre, 35))
    d = panel.data
    res = did_2x2(d, outcome="total_cost", unit="unit", time="rel_time", treated="treated", post="post",
                  cluster="person_id", weights="weight")
    po = muni.truth.potential_outcomes
    po = po[po["programme"] == "soft"].set_index(po.loc[po["programme"] == "soft", "person_id"].astype(str))
    ids = d.loc[d["treated"] == 1, "person_id"].astype(str).unique()
    sel = po.loc[ids]
    truth = float(sel["cost_treated"].sum() / sel["months_treated"].sum()
                  - sel["cost_untreated"].sum() / sel["months_untreated"].sum())
    return {"estimate": res.estimate, "std_error": res.std_error, "conf_low": res.conf_low,
            "conf_high": res.conf_high, "estimate_cells": res.cell_mean_did, "truth_sample": truth,
            "truth_all": float(muni.truth.estimands["soft_att_cost_month"]),
            "n_treated": int(len(ids)), "n_rows": int(len(d)), "result": res, "data": d}


def pyfixest_cross_check(d: pd.DataFrame) -> dict:
    """The same fits straight through pyfixest: within-unit DiD and the pooled ``treated * post``."""
    import pyfixest as pf

    d = d.assign(person=d["person_id"].astype(str), tp=d["treated"] * d["post"])
    within = pf.feols("total_cost ~ tp | unit + rel_time", data=d, weights="weight", vcov={"CRV1": "person"},
                      fixef_rm="none")
    pooled = pf.feols("total_cost ~ treated * post", data=d, weights="weight", vcov={"CRV1": "person"})
    return {"within": float(within.coef()["tp"]), "within_se": float(within.se()["tp"]),
            "pooled": float(pooled.coef()["treated:post"])}


# ---------------------------------------------------------------------------- hand case
def _hand_tables() -> dict[str, pd.DataFrame]:
    ts = pd.to_datetime
    residents = pd.DataFrame({
        "person_id": ["a", "b", "c", "d", "e"],
        "birth_month": ts(["1950-01-01", "1950-01-01", "1950-01-01", "1955-02-01", "1950-01-01"]),
        "move_in_date": ts([None, None, "2020-01-20", None, None]),
        "move_out_date": ts([None, "2020-03-10", None, None, "2019-12-31"]),
        "death_date": ts([None, None, None, "2020-02-05", None]),
    })
    # d turns 65 in 2020-02 and dies in 2020-02: one month; e moved out before the start
    ltc = pd.DataFrame({
        "person_id": ["a", "a", "b", "x", "b"],
        "service_month": ts(["2020-01-01", "2020-01-01", "2020-02-01", "2020-01-01", "2020-03-01"]),
        "cost_yen": [100, 50, 70, 999, 30],
    })
    med = pd.DataFrame({
        "person_id": ["a", "c", "c", "d", "a"],
        "service_month": ts(["2020-03-01", "2020-01-01", "2020-02-01", "2020-02-01", "2019-12-01"]),
        "cost_yen": [10, 20, 40, 500, 7],
    })
    soft = pd.DataFrame({"person_id": ["a", "a", "c"],
                         "session_date": ts(["2020-02-14", "2020-03-02", "2020-03-20"])})
    return {"residents": residents, "ltc_claims": ltc, "medical_claims": med, "soft_attendance": soft}


def test_hand_case_rows_zeros_censoring_cohort():
    tables = _hand_tables()
    before = {k: v.copy() for k, v in tables.items()}
    p = cost_panel(tables, start="2020-01", end="2020-03")
    assert isinstance(p, CostPanel)
    d = p.data
    got = [(r.person_id, r.month.strftime("%Y-%m"), r.ltc_cost, r.medical_cost, r.total_cost)
           for r in d.itertuples(index=False)]
    assert got == [
        ("a", "2020-01", 150, 0, 150), ("a", "2020-02", 0, 0, 0), ("a", "2020-03", 0, 10, 10),
        ("b", "2020-01", 0, 0, 0), ("b", "2020-02", 70, 0, 70),  # moved out in March: March left out
        ("c", "2020-02", 0, 40, 40), ("c", "2020-03", 0, 0, 0),  # moved in in January: from February
        ("d", "2020-02", 0, 500, 500),  # turns 65 in February, dies then: the death month is in
    ]
    assert d["time"].tolist() == [1, 2, 3, 1, 2, 2, 3, 2]
    # cohort: a first session 2020-02 (time 2), c 2020-03 (time 3); b and d never (0)
    assert d["cohort"].tolist() == [2, 2, 2, 0, 0, 3, 3, 0]
    assert d["event_time"].tolist() == [-1, 0, 1, pd.NA, pd.NA, -1, 0, pd.NA]
    assert d.loc[d.person_id == "a", "cohort_month"].iloc[0] == pd.Timestamp("2020-02-01")
    assert d.loc[d.person_id == "b", "cohort_month"].isna().all()
    for k, v in before.items():
        pd.testing.assert_frame_equal(tables[k], v)


def test_hand_case_accounting_adds_up():
    tables = _hand_tables()
    p = cost_panel(tables, start="2020-01", end="2020-03")
    acc = p.accounting.set_index(["source", "reason"])
    assert acc.loc[("residents", "included"), "persons"] == 4
    assert acc.loc[("residents", "moved out before the start"), "persons"] == 1
    for name in ("ltc_claims", "medical_claims"):
        a = p.accounting[p.accounting.source == name]
        assert a["rows"].sum() == len(tables[name])
        assert a["cost_yen"].sum() == tables[name]["cost_yen"].sum()
        inc = a.loc[a.reason == "included", "cost_yen"].sum()
        assert inc == p.data[name.split("_")[0] + "_cost"].sum()
    assert acc.loc[("ltc_claims", "person not in residents"), "rows"] == 1
    assert acc.loc[("ltc_claims", "in or after the month of moving out"), "cost_yen"] == 30
    assert acc.loc[("medical_claims", "outside the panel window"), "cost_yen"] == 7
    assert acc.loc[("medical_claims", "before the first observed month (move-in, age)"), "cost_yen"] == 20
    assert "persons" in p.summary() and "<p>" in p._repr_html_()


def test_claims_after_death_raise_or_report():
    tables = _hand_tables()
    tables["medical_claims"] = pd.concat([tables["medical_claims"], pd.DataFrame(
        {"person_id": ["d"], "service_month": pd.to_datetime(["2020-03-01"]), "cost_yen": [5]})], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"'medical_claims': 1 claim row\(s\) fall after the month of death"):
        cost_panel(tables, start="2020-01", end="2020-03")
    p = cost_panel(tables, start="2020-01", end="2020-03", claims_after_death="report")
    acc = p.accounting.set_index(["source", "reason"])
    assert acc.loc[("medical_claims", "after the month of death"), "rows"] == 1


def test_matched_frame_stacks_weights_and_relative_time():
    tables = _hand_tables()
    matched = pd.DataFrame({"person_id": ["a", "b", "c", "x"], "weight": [1.0, 0.5, 0.0, 1.0],
                            "index_month": pd.to_datetime(["2020-02-01", "2020-02-01", "2020-03-01", "2020-01-01"]),
                            "treated": [1, 0, 1, 0], "subclass": [1, 1, 2, 2]})
    p = cost_panel(tables, start="2020-01", end="2020-03", matched=matched, window=(-1, 0))
    d = p.data
    assert d["unit"].tolist() == [0, 0, 1, 1]
    assert d["rel_time"].tolist() == [-1, 0, -1, 0] and d["post"].tolist() == [0, 1, 0, 1]
    assert d["weight"].tolist() == [1.0, 1.0, 0.5, 0.5] and d["treated"].tolist() == [1, 1, 0, 0]
    acc = p.accounting.set_index(["source", "reason"])
    assert acc.loc[("matched", "weight zero (unmatched)"), "rows"] == 1
    assert acc.loc[("matched", "person not in residents"), "rows"] == 1
    assert acc.loc[("matched", "panel rows outside window (-1, 0)"), "rows"] == 1


def test_control_censored_at_its_own_exposure():
    tables = _hand_tables()
    # c as a control at 2020-02: it joins SOFT in 2020-03, so its March row goes
    matched = pd.DataFrame({"person_id": ["a", "c"], "weight": [1.0, 1.0], "treated": [1, 0],
                            "index_month": pd.to_datetime(["2020-02-01", "2020-02-01"])})
    d = cost_panel(tables, start="2020-01", end="2020-03", matched=matched).data
    assert d.loc[d.person_id == "c", "month"].dt.strftime("%Y-%m").tolist() == ["2020-02"]
    d2 = cost_panel(tables, start="2020-01", end="2020-03", matched=matched, censor_controls_at_exposure=False).data
    assert len(d2[d2.person_id == "c"]) == 2


def test_cost_components_and_cohort_frame():
    tables = _hand_tables()
    coh = pd.DataFrame({"person_id": ["b"], "exposure_month": pd.to_datetime(["2020-02-01"])})
    d = cost_panel(tables, start="2020-01", end="2020-03", cost=("medical",), cohort_from=coh).data
    assert "ltc_cost" not in d.columns and (d["total_cost"] == d["medical_cost"]).all()
    assert d.loc[d.person_id == "b", "cohort"].tolist() == [2, 2]
    d0 = cost_panel(tables, start="2020-01", end="2020-03", cohort_from=None).data
    assert "cohort" not in d0.columns
    # first exposed before the start: always treated, left out and counted
    early = pd.DataFrame({"person_id": ["a"], "exposure_month": pd.to_datetime(["2019-06-01"])})
    p = cost_panel(tables, start="2020-01", end="2020-03", cohort_from=early)
    assert "a" not in set(p.data.person_id)
    assert (p.accounting.reason == "first exposed before the start (always treated)").any()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"cost": ("dental",)}, r"cost must be a non-empty tuple .*got \('dental',\)"),
    ({"cost": "ltc"}, r"cost must be .*got 'ltc'"),
    ({"claims_after_death": "drop"}, r"claims_after_death must be one of .*got 'drop'"),
    ({"start": "2020-05", "end": "2020-01"}, r"end must not be before start"),
    ({"start": "not a month"}, r"start must be a month"),
    ({"min_age": -1}, r"min_age must be an integer"),
    ({"window": (0, 3)}, r"window must be None .* needs matched"),
    ({"cohort_from": "tekupo"}, r"cohort_from must be 'soft'"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        cost_panel(_hand_tables(), **kwargs)


def test_bad_data():
    t = _hand_tables()
    with pytest.raises(DataValidationError, match=r"table 'ltc_claims' lacks the column\(s\) \['cost_yen'\]"):
        cost_panel({**t, "ltc_claims": t["ltc_claims"].drop(columns="cost_yen")})
    bad = t["medical_claims"].copy()
    bad["cost_yen"] = bad["cost_yen"].astype(float)
    bad.loc[1, "cost_yen"] = np.nan
    with pytest.raises(DataValidationError, match=r"'medical_claims': 1 row\(s\) have a missing .*first at row 1"):
        cost_panel({**t, "medical_claims": bad})
    dup = pd.concat([t["residents"], t["residents"].iloc[:1]], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"'person_id' must be unique"):
        cost_panel({**t, "residents": dup})
    with pytest.raises(DataValidationError, match=r"needs the table 'medical_claims'"):
        cost_panel({k: v for k, v in t.items() if k != "medical_claims"})


def test_duplicate_index_values_are_safe():
    t = _hand_tables()
    t2 = {k: v.set_axis([0] * len(v)) for k, v in t.items()}
    a = cost_panel(t, start="2020-01", end="2020-03").data
    b = cost_panel(t2, start="2020-01", end="2020-03").data
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------------------- synthetic municipality
@pytest.fixture(scope="module")
def small0():
    from wellness_research.synthetic import make_municipality

    return make_municipality("small", seed=0)


def test_panel_accounts_for_every_claim_of_the_municipality(small0):
    tables = small0.tables
    p = cost_panel(tables)
    d = p.data
    for name, col in (("ltc_claims", "ltc_cost"), ("medical_claims", "medical_cost")):
        a = p.accounting[p.accounting.source == name]
        assert a["rows"].sum() == len(tables[name])
        # the generator writes claims only in observed months: everything is included
        assert a["reason"].tolist() == ["included"]
        assert d[col].sum() == tables[name]["cost_yen"].sum()
    assert not d.duplicated(["person_id", "month"]).any()
    assert d["person_id"].dtype == tables["residents"]["person_id"].dtype
    assert (d.groupby("person_id", observed=True)["cohort"].nunique() == 1).all()
    participants = d.loc[d.cohort > 0, "person_id"].nunique()
    assert participants == small0.truth.counts["n_soft_participants"]


def test_cost_truth_is_consistent(small0):
    truth = small0.truth
    est = truth.estimands
    assert est["soft_att_cost_month"] == pytest.approx(est["soft_cost_month_treated"] - est["soft_cost_month_untreated"])
    # HR < 1: fewer certifications, lower cost with SOFT
    assert est["soft_att_cost_month"] < 0
    assert "soft_att_cost_month" in set(truth.tidy()["estimand"])
    # the treated arm is the observed data: expected vs observed cost per person-month of the participants
    # in months 0..35 agree within sampling noise (small seed 0: 45,084 observed vs 45,506 expected)
    d = cost_panel(small0.tables).data
    d = d[(d.cohort > 0) & (d.event_time >= 0) & (d.event_time < 36)]
    po = truth.potential_outcomes
    po = po[po.programme == "soft"]
    assert len(d) == pytest.approx(po["months_treated"].sum(), rel=0.02)
    assert d["total_cost"].mean() == pytest.approx(po["cost_treated"].sum() / po["months_treated"].sum(), rel=0.05)


def test_cost_truth_is_zero_without_effect():
    from wellness_research.synthetic import TrueEffects, make_municipality

    m = make_municipality("tiny", seed=0, effects=TrueEffects(soft_hr_certification=1.0, short_term_hr_certification=1.0))
    assert m.truth.estimands["soft_att_cost_month"] == 0.0
    assert m.truth.estimands["short_term_att_cost_month"] == 0.0


def test_matched_did_covers_the_cost_truth(small0):
    r = matched_cost_did(small0, seed=0)
    # small seed 0 (2026-11-28): did_2x2 -454 (SE 4,338; 95 % CI -8,974 to 8,066) yen per
    # person-month; weighted 2×2 of cell means -4,094; truth over the matched participants -664,
    # over all participants -642 (ground truth of the generator)
    assert r["n_treated"] > 250
    assert r["conf_low"] <= r["truth_sample"] <= r["conf_high"]
    assert r["conf_low"] <= r["truth_all"] <= r["conf_high"]
    # cross-check against pyfixest 0.60.0 called directly on the same panel (same model, same data)
    pf = pyfixest_cross_check(r["data"])
    assert r["estimate"] == pytest.approx(pf["within"], rel=1e-9)
    # SE: 2e-8 apart (4,338.463305 vs 4,338.463220), the order of pyfixest's demeaning tolerance
    # (fixef_tol 1e-8); did_2x2 passes factorised unit/period/cluster codes, this call the raw columns
    assert r["std_error"] == pytest.approx(pf["within_se"], rel=1e-6)
    assert r["estimate_cells"] == pytest.approx(pf["pooled"], rel=1e-9)


# ---------------------------------------------------------------------------- fast paths
@pytest.mark.parametrize("unit", ["ns", "us", "s", "D"])
def test_month_numbers_from_the_day_table_equal_numpy(unit):
    from wellness_research.did.panel import _month_number

    rng = np.random.default_rng(0)
    # 20,000 dates (above the table threshold) from 1890 to 2060, with NaT and month boundaries
    days = rng.integers(-29_000, 33_000, 20_000)
    v = days.astype("datetime64[D]").astype(f"datetime64[{unit}]")
    v[::997] = np.datetime64("NaT")
    v[1] = np.datetime64("1969-12-31T23:59:59").astype(f"datetime64[{unit}]")
    v[2] = np.datetime64("2020-03-01").astype(f"datetime64[{unit}]")
    got, na = _month_number(v)
    want = v.astype("datetime64[M]").astype(np.int64)
    np.testing.assert_array_equal(na, np.isnat(v))
    np.testing.assert_array_equal(got[~na], want[~na])
    assert (got[na] == np.iinfo(np.int64).min).all()


def test_claim_ids_with_other_categories_or_strings_give_the_same_panel():
    tables = _hand_tables()
    want = cost_panel(tables, start="2020-01", end="2020-03")
    cats = pd.CategoricalDtype(["x", "e", "d", "c", "b", "a", "zz"])
    as_cat = {k: v.assign(person_id=v["person_id"].astype(cats)) if k != "residents" else
              v.assign(person_id=v["person_id"].astype(pd.CategoricalDtype(["a", "b", "c", "d", "e"])))
              for k, v in tables.items()}
    got = cost_panel(as_cat, start="2020-01", end="2020-03")
    pd.testing.assert_frame_equal(got.data.assign(person_id=got.data["person_id"].astype(str)),
                                  want.data.assign(person_id=want.data["person_id"].astype(str)))
    pd.testing.assert_frame_equal(got.accounting, want.accounting)
