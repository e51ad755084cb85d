"""The SOFT protocol's extra steps: site roll-out (staggered DiD), sensitivity analyses, RE-AIM (issue #6).

Hand-computable pieces (the district x month panel, event-time bins, weighted differences, E-values,
RE-AIM counts) are checked against numbers worked out here; the event-time covariance against the
package's own ``GroupTimeResult.aggregate("dynamic")`` (itself checked against R ``did`` 2.1.2 in
tests/test_did_cs.py); the whole steps on the "tiny" / "small" synthetic municipalities.
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from wellness_research.analysis.soft_reaim import soft_reaim
from wellness_research.analysis.soft_rollout import (
    _binned,
    _cert_truth_cells,
    district_month_panel,
    event_time_covariance,
    soft_rollout,
)
from wellness_research.analysis.soft_sensitivity import soft_sensitivity
from wellness_research.errors import ConfigurationError, SmallCohortWarning
from wellness_research.protocols import load_protocol
from wellness_research.synthetic import make_municipality


@pytest.fixture(scope="module")
def protocol():
    return load_protocol("soft")


@pytest.fixture(scope="module")
def tiny():
    return make_municipality("tiny", seed=0)


@pytest.fixture(scope="module")
def small_steps(protocol):
    from wellness_research.analysis.soft import soft_certification, soft_cohort, soft_matching

    m = make_municipality("small", seed=0)
    c = soft_cohort(protocol, m.tables, fiscal_year=2025)
    mm = soft_matching(protocol, c)
    ce = soft_certification(protocol, mm, cohort=c, truth=m.truth, n_bootstrap=20)
    return m, c, mm, ce


# --------------------------------------------------------------------------------------------
# the district x month panel, by hand
# --------------------------------------------------------------------------------------------
def _hand_tables() -> dict[str, pd.DataFrame]:
    ids = pd.Categorical(["A", "B", "C", "D"])
    cat = ids.categories

    def pid(values):
        return pd.Categorical(values, categories=cat)

    nat = pd.NaT
    residents = pd.DataFrame({
        "person_id": pid(["A", "B", "C", "D"]),
        "birth_month": pd.to_datetime(["1950-01-01", "1950-01-01", "1959-06-01", "1950-01-01"]),
        "district": ["D01", "D01", "D01", "D02"],
        "move_in_date": pd.to_datetime([nat, nat, nat, "2024-02-15"]),
        "move_out_date": pd.to_datetime([nat, nat, nat, nat]),
        "death_date": pd.to_datetime([nat, "2024-02-10", nat, nat]),
    })
    cert = pd.DataFrame({
        "person_id": pid(["A", "B"]),
        "application_date": pd.to_datetime(["2024-02-05", "2023-01-10"]),
        "level": ["要支援1", "要介護2"],
        "valid_from": pd.to_datetime(["2024-02-05", "2023-01-10"]),
        "valid_to": pd.to_datetime(["2025-01-31", "2025-12-31"]),
    })
    ltc = pd.DataFrame({"person_id": pid(["B", "A"]), "service_month": pd.to_datetime(["2024-01-01", "2024-03-01"]),
                        "cost_yen": [1000, 500]})
    med = pd.DataFrame({"person_id": pid(["A", "C", "D"]),
                        "service_month": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-03-01"]),
                        "cost_yen": [300, 999, 70]})
    sites = pd.DataFrame({"site_id": ["S1", "S2"], "district": ["D01", "D01"],
                          "start_date": pd.to_datetime(["2024-03-01", "2024-02-01"]), "end_date": [nat, nat]})
    return {"residents": residents, "ltc_certifications": cert, "ltc_claims": ltc, "medical_claims": med,
            "soft_sites": sites}


def test_district_month_panel_by_hand():
    p = district_month_panel(_hand_tables(), start="2024-01", end="2024-03").set_index(["district", "month"])
    # D01: A (74) and B (74; certified since 2023-01, died 2024-02-10: alive on 1 Feb) count; C is 64
    assert p["residents"].loc["D01"].tolist() == [2, 2, 1]
    # B is certified on 1 Jan and 1 Feb; A from 1 Mar (valid_from 5 Feb does not cover 1 Feb)
    assert p["non_certified"].loc["D01"].tolist() == [1, 1, 0]
    # A applied in Feb while not certified on 1 Feb; B's application (2023) is before the panel
    assert p["new_certifications"].loc["D01"].tolist() == [0, 1, 0]
    # costs of counted residents only: Jan 1000 (B) + 300 (A), C's 999 left out (under 65); Mar 500 (A)
    assert p["cost_yen"].loc["D01"].tolist() == [1300.0, 0.0, 500.0]
    assert p["cost_month"].loc[("D01", 1)] == 650.0 and p["cert_rate"].loc[("D01", 2)] == 1000.0
    # D: moved in 15 Feb -> counted from March; D02 has no site
    assert p["residents"].loc["D02"].tolist() == [0, 0, 1] and p["cost_yen"].loc[("D02", 3)] == 70.0
    assert set(p["cohort"].loc["D01"]) == {2} and set(p["cohort"].loc["D02"]) == {0}  # first site: 2024-02


def test_panel_rejects_bad_months_and_tables():
    with pytest.raises(ConfigurationError, match="end='2023-12' is before start"):
        district_month_panel(_hand_tables(), start="2024-01", end="2023-12")
    t = _hand_tables()
    del t["medical_claims"]
    with pytest.raises(Exception, match="table 'medical_claims' is missing"):
        district_month_panel(t, start="2024-01", end="2024-03")


# --------------------------------------------------------------------------------------------
# event-time covariance and bins
# --------------------------------------------------------------------------------------------
def test_event_time_covariance_matches_dynamic_aggregation(tiny):
    from wellness_research.did import att_gt

    panel = district_month_panel(tiny.tables, start="2019-04", end="2026-03")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCohortWarning)  # one district per cohort
        gt = att_gt(panel, outcome="cost_month", unit="district", time="month", cohort="cohort",
                    control_group="notyettreated", est_method="reg", base_period="universal")
        agg = gt.aggregate("dynamic", min_e=-6, max_e=6)
    e = agg.table["e"].to_numpy().astype(int)
    est, inf, cov = event_time_covariance(gt, e)
    np.testing.assert_allclose(est, agg.table["estimate"].to_numpy(), rtol=0, atol=1e-9)
    se = np.sqrt(np.diag(cov))
    ok = np.isfinite(agg.table["std_error"].to_numpy())
    np.testing.assert_allclose(se[ok], agg.table["std_error"].to_numpy()[ok], rtol=1e-10)
    assert se[e == -1][0] < 1e-8  # universal base: the reference has no variance
    # covariance of 12 district influence functions: rank at most 12
    assert np.linalg.matrix_rank(cov) <= 12 and inf.shape == (12, len(e))


def test_binned_event_study_by_hand():
    et = np.arange(-8, 9)  # -8..8
    beta = et.astype(float)  # beta_e = e
    cov = np.eye(len(et))
    b, v, n_pre, n_post, labels = _binned(beta, cov, et, 4, (-8, 8))
    # reference bin -4..-1 (mean -2.5); pre bin -8..-5 (mean -6.5); post 0..3, 4..8 (the short last bin joins)
    assert labels == ["-8..-5", "0..3", "4..8"] and (n_pre, n_post) == (1, 2)
    np.testing.assert_allclose(b, [-6.5 + 2.5, 1.5 + 2.5, 6.0 + 2.5])
    # var(mean of 4) + var(mean of 4) with identity covariance; 0..3 vs 4..8: only the shared reference
    np.testing.assert_allclose(v[0, 0], 0.5)
    np.testing.assert_allclose(v[2, 2], 1 / 5 + 1 / 4)
    np.testing.assert_allclose(v[1, 2], 1 / 4)


def test_cert_truth_cells_by_hand():
    tables = _hand_tables()
    panel = district_month_panel(tables, start="2024-01", end="2024-03")
    po = pd.DataFrame({"programme": ["soft", "soft", "short_term"], "person_id": ["A", "C", "A"],
                       "cert_month_treated": pd.to_datetime([pd.NaT, "2024-03-01", "2024-01-01"]),
                       "cert_month_untreated": pd.to_datetime(["2024-01-01", "2024-03-01", pd.NaT])})
    cells = _cert_truth_cells(SimpleNamespace(potential_outcomes=po), tables, panel, np.datetime64("2024-01", "M"))
    # A: certified in Jan only without SOFT -> -1 per 1 non-certified in D01 -> -1000; C: same month both ways
    assert cells[("D01", 1)] == -1000.0 and cells[("D01", 2)] == 0.0 and cells[("D02", 3)] == 0.0


# --------------------------------------------------------------------------------------------
# the roll-out step
# --------------------------------------------------------------------------------------------
def test_soft_rollout_tiny(protocol, tiny):
    r = soft_rollout(protocol, tiny.tables, fiscal_year=2025, truth=tiny.truth, n_boot=99)
    names = [f.name for f in r.findings]
    assert names == ["staggered_att_certification_rate", "staggered_att_cost_month"]
    cert, cost = r.findings
    assert cert.n == 12 and r.n_districts == 12 and r.n_treated_districts == 3
    # the implied truth is derived for the certification rate only (cost: no monthly potential outcomes)
    assert cert.truth is not None and cost.truth is None and r.implied_cost_scale is not None
    assert cert.conf_low < cert.estimate < cert.conf_high
    # the overall finding is the dynamic aggregation's average over post event times 0..24
    tab = r.event_study["cert_rate"].table
    assert cert.estimate == pytest.approx(tab.loc[(tab.e >= 0) & (tab.e <= 24), "estimate"].mean(), abs=1e-12)
    h = r.honest["cert_rate"]
    assert h is not None and list(h.m_values) == protocol.get("analyses.honest_did.m_bar")
    # robust sets widen with M-bar
    width = h.conf_high - h.conf_low
    assert np.all(np.diff(width) >= -1e-9)
    s = r.summary()
    assert "intention-to-treat effect of site availability" in s and "12 districts" in s
    # the protocol's binning (analyses.honest_did.bin_months = 4) is a note, not a deviation
    assert any("4-month bins" in n for n in r.notes) and not any("bins" in d for d in r.deviations)
    for name, pub in r.published.items():
        t = pub.table if hasattr(pub, "table") else pub
        assert "person_id" not in t.columns, name
    assert "person_id" not in r.panel.columns


def test_soft_rollout_rejects_bad_options(protocol, tiny):
    with pytest.raises(ConfigurationError, match=r"outcomes=\['cost'\] is not valid"):
        soft_rollout(protocol, tiny.tables, fiscal_year=2025, outcomes=("cost",))
    with pytest.raises(ConfigurationError, match="honest_bin_months=0 is not valid"):
        soft_rollout(protocol, tiny.tables, fiscal_year=2025, honest_bin_months=0)


# --------------------------------------------------------------------------------------------
# sensitivity
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sensitivity(protocol, small_steps):
    m, c, mm, ce = small_steps
    return soft_sensitivity(protocol, c, mm, ce, tables=m.tables, truth=m.truth)


def test_sensitivity_has_every_variant(protocol, sensitivity):
    v = sensitivity.table["variant"].tolist()
    cals = [f"caliper_{c:g}".replace(".", "_") for c in protocol.get("sensitivity.caliper_variants")]
    expected = ["primary", *cals, "evalue_risk_difference", "negative_control_prior_inpatient",
                "negative_control_dental_claim_12m", "exclude_first_6_months", "itt_initiators",
                "per_protocol_naive", "dose_low", "dose_medium", "dose_high", "kcl_frail", "kcl_total_difference"]
    assert all(x in v for x in expected), sorted(set(expected) - set(v))
    assert len(sensitivity.findings) == len(v) - 1  # every variant but the primary is a finding
    assert "kcl_total_difference" in [f.name for f in sensitivity.findings]  # the protocol's finding name
    pub = sensitivity.published["sensitivity"].table
    assert "person_id" not in pub.columns and len(pub) == len(v)


def test_sensitivity_caliper_at_protocol_value_reproduces_primary_design(protocol, small_steps):
    from wellness_research.survival import risk_difference

    m, c, mm, ce = small_steps
    s = soft_sensitivity(protocol, c, mm, ce, caliper_variants=[protocol.get("matching.caliper")],
                         variants=["caliper"])
    row = s.table.set_index("variant").loc[f"caliper_{protocol.get('matching.caliper'):g}".replace(".", "_")]
    md = mm.matched.matched_data()
    rd = risk_difference(md, time="cert_time", event="cert_event", group="soft", weights="weights",
                         cluster="subclass", at=36, method="analytic")
    assert row["n"] == len(md)
    assert row["estimate"] == pytest.approx(rd.estimate, abs=1e-12)
    assert row["estimate"] == pytest.approx(ce.risk_difference.estimate, abs=1e-12)  # same point estimate


def test_sensitivity_evalue_by_hand(sensitivity, small_steps):
    _, _, _, ce = small_steps
    rd = ce.risk_difference
    rr = (rd.risk_control + rd.estimate) / rd.risk_control
    r = 1 / rr if rr < 1 else rr
    # VanderWeele & Ding (2017), eq. in Table: E = RR + sqrt(RR (RR - 1))
    row = sensitivity.table.set_index("variant").loc["evalue_risk_difference"]
    assert row["estimate"] == pytest.approx(r + math.sqrt(r * (r - 1)), rel=1e-12)


def test_sensitivity_negative_control_is_a_weighted_difference(sensitivity, small_steps):
    m, _, mm, _ = small_steps
    md = mm.matched.matched_data()
    med = m.tables["medical_claims"]
    inp = med[med["claim_type"].astype(str) == "inpatient"]
    months = (inp.assign(p=inp["person_id"].astype(str),
                         mo=inp["service_month"].dt.year * 12 + inp["service_month"].dt.month)[["p", "mo"]])
    idx = md["index_date"].dt.year * 12 + md["index_date"].dt.month
    have = {(p, mo) for p, mo in zip(months["p"], months["mo"])}
    y = np.array([any((str(p), int(i) + k) in have for k in range(-24, -12)) for p, i in zip(md["person_id"], idx)],
                 float)
    w, t = md["weights"].to_numpy(), md["soft"].to_numpy()
    hand = np.average(y[t == 1], weights=w[t == 1]) - np.average(y[t == 0], weights=w[t == 0])
    row = sensitivity.table.set_index("variant").loc["negative_control_prior_inpatient"]
    assert row["estimate"] == pytest.approx(hand, abs=1e-12)


def test_sensitivity_exclude_early_and_frailty_counts(sensitivity, small_steps):
    _, _, mm, _ = small_steps
    md = mm.matched.matched_data()
    t = sensitivity.table.set_index("variant")
    assert t.loc["exclude_first_6_months", "n"] == int((md["cert_time"] > 3).sum())
    resp = sensitivity.kcl_response
    assert (resp["answered"] <= resp["matched"]).all() and resp["matched"].sum() == len(md)
    assert t.loc["kcl_frail", "n"] == resp["answered"].sum()
    # the protocol states the per-protocol variant is naive (no IPCW): the row says so, no deviation
    assert "no censoring weights" in t.loc["per_protocol_naive", "note"]
    assert not any("ipcw" in d for d in sensitivity.deviations)
    # the ITT variant carries the sample truth of soft_att_risk3y over the matched initiators
    itt = next(f for f in sensitivity.findings if f.name == "sensitivity_itt_initiators")
    assert itt.truth is not None


def test_sensitivity_rejects_unknown_variant(protocol, small_steps):
    _, c, mm, ce = small_steps
    with pytest.raises(ConfigurationError, match=r"unknown \['rosenbaum'\]"):
        soft_sensitivity(protocol, c, mm, ce, variants=["rosenbaum"])
    with pytest.raises(ConfigurationError, match="cohort must be a SoftCohort"):
        soft_sensitivity(protocol, mm, mm, ce)


# --------------------------------------------------------------------------------------------
# RE-AIM
# --------------------------------------------------------------------------------------------
def test_soft_reaim_tiny_by_hand(protocol, tiny):
    r = soft_reaim(protocol, tiny.tables, fiscal_year=2025)
    att = tiny.tables["soft_attendance"]
    att = att[att["session_date"] < "2026-04-01"]
    first = att.sort_values("session_date").drop_duplicates("person_id")
    site_d = tiny.tables["soft_sites"].set_index("site_id")["district"].astype(str)
    by_d = first["site_id"].astype(str).map(site_d).value_counts()
    got = r.reach.set_index("district")["initiators"]
    assert got[got > 0].sort_index().to_dict() == by_d.sort_index().to_dict()
    rec = float((att["mode"].astype(str) == "recorded").mean())
    assert next(f for f in r.findings if f.name == "reaim_recorded_share").estimate == pytest.approx(rec, abs=1e-12)
    assert r.implementation["sessions"].sum() == len(att)
    sites = r.published["re_aim_sites"].table
    assert "person_id" not in sites.columns and "person_id" not in r.published["re_aim_reach"].table.columns
    # sites with fewer than 10 initiators are pooled in the published table
    small = r.implementation.loc[r.implementation["initiators"] < 10, "site_id"]
    assert not set(small) & set(sites["site"])
    assert (r.maintenance["retained_6m"] <= r.maintenance["at_risk_6m"]).all()
    assert r.adoption["sites_cumulative"].groupby(r.adoption["district"]).max().sum() == len(tiny.tables["soft_sites"])
