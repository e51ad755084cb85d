"""Tests of the SOFT protocol steps (wellness_research.analysis.soft) and findings.json (issue #6).

The end-to-end tests run every step once on ``make_municipality("small", seed=0)`` (one seed: the
coverage over 100 seeds belongs in benchmarks/), with few bootstrap replicates and PSA draws to
stay fast. Truths are the generator's sample truths over the matched participants.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from wellness_research.analysis import (
    FINDING_KEYS,
    Finding,
    findings_frame,
    read_findings,
    soft_certification,
    soft_cohort,
    soft_cost_effectiveness,
    soft_costs,
    soft_matching,
    write_findings,
)
from wellness_research.errors import ConfigurationError, DataValidationError
from wellness_research.protocols import load_protocol


# ---------------------------------------------------------------------------- findings.json
def _some_findings() -> list[Finding]:
    return [
        Finding("risk_difference_3y", -0.0123456789, -0.05, 0.025, 400, truth=-0.01, unit="proportion",
                description="3年以内の新規認定リスク差"),
        Finding("hazard_ratio_certification", 0.8, 0.6, 1.1, 400, unit="ratio"),
        Finding("probability_net_benefit_positive", 0.35, float("nan"), None, 200, unit="probability"),
    ]


def test_findings_round_trip_and_bytes(tmp_path):
    items = _some_findings()
    a = write_findings(items, tmp_path / "a.json")
    b = write_findings(_some_findings(), tmp_path / "b.json")
    assert a.read_bytes() == b.read_bytes()  # same input, same bytes
    back = read_findings(a)
    assert [f.name for f in back] == [f.name for f in items]
    assert back[0] == items[0] and back[1] == items[1]
    assert math.isnan(back[2].conf_low) and math.isnan(back[2].conf_high)
    write_findings(back, tmp_path / "c.json")
    assert (tmp_path / "c.json").read_bytes() == a.read_bytes()  # round trip is a fixed point
    records = json.loads(a.read_text(encoding="utf-8"))
    assert all(tuple(r) == FINDING_KEYS for r in records)
    assert records[2]["conf_low"] is None and records[2]["conf_high"] is None  # NaN -> null
    assert records[1]["truth"] is None
    assert "NaN" not in a.read_text(encoding="utf-8") and "認定" in a.read_text(encoding="utf-8")
    assert a.read_text(encoding="utf-8").endswith("]\n")


def test_findings_validation(tmp_path):
    with pytest.raises(ConfigurationError, match="unique"):
        write_findings([Finding("a", 1, 0, 2, 5), Finding("a", 1, 0, 2, 5)], tmp_path / "x.json")
    with pytest.raises(ConfigurationError, match="n=-1"):
        Finding("a", 1, 0, 2, -1)
    with pytest.raises(ConfigurationError, match="not a number"):
        Finding("a", "1", 0, 2, 5)
    (tmp_path / "bad.json").write_text('[{"name": "a", "estimate": 1}]', encoding="utf-8")
    with pytest.raises(DataValidationError, match="missing key"):
        read_findings(tmp_path / "bad.json")
    f = findings_frame([Finding("a", 1.0, 0.0, 2.0, 5, truth=3.0), Finding("b", 1.0, 0.0, 2.0, 5)])
    assert f["covers"].tolist() == [False, None]


# ---------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def run():
    from wellness_research.synthetic import make_municipality

    muni = make_municipality("small", seed=0)
    protocol = load_protocol("soft")
    residents_before = muni.tables["residents"].copy()
    t0 = time.perf_counter()
    cohort = soft_cohort(protocol, muni.tables, fiscal_year=2025)
    matching = soft_matching(protocol, cohort)
    cert = soft_certification(protocol, matching, cohort=cohort, truth=muni.truth, n_bootstrap=200)
    costs = soft_costs(protocol, matching, muni.tables, fiscal_year=2025, truth=muni.truth)
    cea = soft_cost_effectiveness(protocol, cert, cohort, muni.tables, n_draws=10)
    seconds = time.perf_counter() - t0
    pd.testing.assert_frame_equal(muni.tables["residents"], residents_before)
    return {"protocol": protocol, "cohort": cohort, "matching": matching, "cert": cert, "costs": costs,
            "cea": cea, "seconds": seconds, "truth": muni.truth}


def test_steps_run_quickly_and_report_deviations(run):
    assert run["seconds"] < 60  # busy 2-core machine: about 20 s measured on 2026-11-28
    cohort = run["cohort"]
    assert cohort.data["soft"].sum() > 0 and (cohort.data["age"] >= 65).all()
    assert set(cohort.data.loc[cohort.data.soft == 1, "dose_group"]) <= {"low", "medium", "high"}
    # the protocol parameters soft_frame cannot take are listed, never silent
    # the protocol's landmark time zero (index + exposure.window_months) is applied, not a deviation
    assert cohort.parameters["landmark_months"] == run["protocol"].get("exposure.window_months") == 3
    assert not any("landmark" in d for d in cohort.deviations)
    assert (cohort.data["landmark_month"] == cohort.data["index_month"] + 3).all()
    # every protocol covariate is built by the frame: none is left out as "not in the frame"
    assert not any("is not in the frame" in d for d in run["matching"].deviations)
    assert {"inpatient_months_12m", "outpatient_months_12m", "non_qualifying_application_12m", "service_c_12m",
            "checkup_last_fy"} <= set(cohort.data.columns)
    for step in ("cohort", "matching", "cert", "costs", "cea"):
        r = run[step]
        assert isinstance(r.summary(), str) and r._repr_html_().startswith("<")
        assert {"term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"} <= set(r.tidy().columns)


def test_findings_have_the_required_keys_and_protocol_names(run, tmp_path):
    findings = [f for step in ("cert", "costs", "cea") for f in run[step].findings]
    names = {f["name"] for f in run["protocol"].get("findings")}
    assert {f.name for f in findings} <= names
    assert {"risk_difference_3y", "naive_risk_difference_3y", "did_cost_month", "net_benefit_10y"} <= {
        f.name for f in findings}
    path = write_findings(findings, tmp_path / "findings.json")
    for rec in json.loads(path.read_text(encoding="utf-8")):
        assert tuple(rec) == FINDING_KEYS
        assert rec["n"] is None or rec["n"] >= 10


def test_primary_estimates_lie_near_their_sample_truth(run):
    # One seed (make_municipality("small", seed=0)) cannot test 95 % coverage: a correct interval misses
    # one seed in twenty (this seed's risk-difference interval, [-0.004, 0.129] around truth -0.009, just
    # misses). Coverage over many seeds is benchmarks/bench_soft_coverage.py. Here: the error is within
    # 3.5 standard errors (SE = half-width / 1.96), which a calibrated estimator fails with probability
    # 5e-4 — a gross bias or a wrong truth fails it.
    rd = {f.name: f for f in run["cert"].findings}["risk_difference_3y"]
    cost = run["costs"].findings[0]
    for f in (rd, cost):
        assert f.truth is not None
        se = (f.conf_high - f.conf_low) / 2 / 1.959964
        assert abs(f.estimate - f.truth) < 3.5 * se, (f.name, f.estimate, f.truth, se)
    # units: yen per person-month alive, the size of soft_att_cost_month (truth.py), not yen per person
    assert abs(cost.truth) < 5_000 and abs(run["truth"].estimands["soft_att_cost_month"]) < 5_000


def test_naive_comparison_is_reported_with_its_bias(run):
    cert = run["cert"]
    naive = {f.name: f for f in cert.findings}["naive_risk_difference_3y"]
    assert naive.n > cert.risk_difference.n_treated + cert.risk_difference.n_control
    # participants are healthier: the naive comparison flatters SOFT (seed 0: -0.10 vs matched -0.03)
    assert cert.naive_bias < 0 and naive.estimate < naive.truth
    assert "healthy-user" in cert.summary()
    assert cert.evalue.evalue >= 1


def test_published_tables_show_no_small_counts(run):
    published = {f"{s}.{k}": v for s in ("cohort", "matching", "cert", "costs", "cea")
                 for k, v in run[s].published.items()}
    assert {"cohort.flow", "matching.balance", "cert.cumulative_incidence", "cert.effects", "costs.costs",
            "cea.cost_effectiveness"} <= set(published)
    for name, sup in published.items():
        for value in sup.table.to_numpy().ravel():
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                assert not 1 <= int(value) <= 9, f"{name}: count {value} published"
    # the cumulative-incidence table has small counts in the small municipality: they are masked
    assert published["cert.cumulative_incidence"].primary > 0


def test_cost_effectiveness_decision(run):
    cea = run["cea"]
    assert cea.psa.n_draws == 10 and cea.n_persons > 0 and cea.n_sites > 0
    p = {f.name: f for f in cea.findings}["probability_net_benefit_positive"]
    assert 0 <= p.estimate <= 1 and cea.take_over == (p.estimate >= 0.8)
    assert np.all(cea.decision.programme_cost > 0)


def test_risk_truth_is_the_landmark_window_of_the_matched_participants(run):
    # the truth the primary finding is held to: sample_truth over the matched participants, 36 months
    # from each one's landmark month, each arm's risk set at the landmark (not the 36 months from index)
    from wellness_research.synthetic import sample_truth

    cert, cohort = run["cert"], run["cohort"]
    m = run["matching"].matched
    keep = (np.asarray(m.weights) > 0) & m.treated
    ids = m.data.loc[keep, "person_id"].astype(str).unique()
    d = cohort.data[cohort.data["soft"] == 1].set_index(cohort.data.loc[cohort.data["soft"] == 1, "person_id"].astype(str))
    st = sample_truth(run["truth"].potential_outcomes, ids, start=d.loc[ids, "landmark_date"].to_numpy(), months=36)
    assert cert.truth_risk_difference == st.risk_difference
    rd = {f.name: f for f in cert.findings}["risk_difference_3y"]
    assert rd.truth == st.risk_difference and rd.n == cert.risk_difference.n_treated + cert.risk_difference.n_control
    everyone = d.index.unique()
    naive = sample_truth(run["truth"].potential_outcomes, everyone, start=d.loc[everyone, "landmark_date"].to_numpy(),
                         months=36)
    assert cert.truth_naive == naive.risk_difference



def test_death_truth_counts_deaths_in_each_arms_risk_set():
    from wellness_research.analysis.soft import _death_truth

    def curve(first_month, later=1.0):  # cumulative risk by month from the index (48 months)
        return np.r_[np.zeros(first_month), np.full(48 - first_month, later)]

    class _Truth:  # four participants, index 2021-10, time zero 2022-01 (month 3) for all: months 3..38
        index = pd.to_datetime(["2021-10-01"] * 4)
        potential_outcomes = pd.DataFrame({
            "programme": ["soft"] * 4, "person_id": ["a", "b", "c", "d"], "index_month": index,
            "followup_end": index + pd.DateOffset(months=36), "events_end": index + pd.DateOffset(months=48),
            # a: dies in month 7 in both arms; b: certified before time zero in the untreated arm only (leaves
            # that arm's risk set), dies 2026-06 (after the window); c: dies untreated only (month 38, the last
            # month of the window); d: certified in month 15 in the treated arm, after which its expected risk
            # of death reaches 0.4 by month 38 (a death after a certification counts, in expectation)
            "cert_month_treated": pd.to_datetime([None, None, None, "2023-01-01"]),
            "cert_month_untreated": pd.to_datetime([None, "2021-12-01", None, None]),
            "death_month_treated": pd.to_datetime(["2022-05-01", "2026-06-01", None, None]),
            "death_month_untreated": pd.to_datetime(["2022-05-01", "2026-06-01", "2024-12-01", None]),
            "death_risk_treated": [curve(7), curve(48), curve(48), np.r_[np.zeros(16), np.linspace(0.1, 0.4, 23),
                                                                       np.full(9, 0.45)]],
            "death_risk_untreated": [curve(7), curve(2, 0.2), curve(38), curve(48)],
        })

    starts = pd.Series(pd.to_datetime(["2022-01-01"] * 4), index=["a", "b", "c", "d"])
    # treated: a 1 + d 0.4 over 4 at risk; untreated: b not at risk, a and c die -> 2 of 3
    assert _death_truth(_Truth(), np.array(["a", "b", "c", "d"]), months=36, starts=starts) == \
        pytest.approx(1.4 / 4 - 2 / 3, abs=1e-12)
    assert _death_truth(None, np.array(["a"]), months=36, starts=starts) is None


def test_tiny_municipality_runs_with_the_hazard_ratio_reported_as_not_estimable():
    # the tiny municipality has a handful of matched participants and no certification among them:
    # every step still runs, and the hazard ratio is published as NaN with the reason, never as a number
    from wellness_research.synthetic import make_municipality

    muni = make_municipality("tiny", seed=0)
    protocol = load_protocol("soft")
    cohort = soft_cohort(protocol, muni.tables, fiscal_year=2025)
    matching = soft_matching(protocol, cohort)
    cert = soft_certification(protocol, matching, cohort=cohort, truth=muni.truth, n_bootstrap=20)
    hr = {f.name: f for f in cert.findings}["hazard_ratio_certification"]
    assert np.isnan(hr.estimate) and cert.cox is None and cert.evalue is None
    assert any("not estimable (not fitted: an arm has no certification)" in d for d in cert.deviations)
    assert "E-value: not estimable" in cert.summary()
    cea = soft_cost_effectiveness(protocol, cert, cohort, muni.tables, n_draws=4)
    assert cea.effect.hr_certification == 1.0 and any("not estimable" in d for d in cea.deviations)
