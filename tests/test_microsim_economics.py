"""Economics of the microsimulation: discounting, within-cycle correction, ICERs, NMB/CEAC/EVPI,
one-way DSA, and the programme cost model and decision.

Every expected number is hand arithmetic, written out next to the assertion.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from wellness_research.errors import ConfigurationError
from wellness_research.microsim import costmodel as cm
from wellness_research.microsim import economics as ec

# ---------------------------------------------------------------------------------------------
# Discounting
# ---------------------------------------------------------------------------------------------


def test_discount_factors_annual_start_mid_end():
    # (1.02)^-t for t = 0, 1, 2 (start); t + 0.5 (mid); t + 1 (end)
    np.testing.assert_allclose(ec.discount_factors(3, rate=0.02, timing="start"), [1, 1 / 1.02, 1 / 1.02**2])
    np.testing.assert_allclose(ec.discount_factors(2, rate=0.02, timing="mid"), [1.02**-0.5, 1.02**-1.5])
    np.testing.assert_allclose(ec.discount_factors(2, rate=0.02, timing="end"), [1 / 1.02, 1 / 1.02**2])


def test_monthly_discounting_compounds_to_the_annual_rate():
    # per-cycle rate (1.02)^(1/12) − 1; after 12 monthly cycles the factor is exactly 1/1.02,
    # not (1 + 0.02/12)^-12 = 0.980217... (the rate/12 trap, heemod#298)
    r = ec.per_cycle_rate(0.02, cycle="month")
    assert r == pytest.approx(1.02 ** (1 / 12) - 1, rel=1e-14)
    f = ec.discount_factors(13, rate=0.02, cycle="month", timing="start")
    assert f[12] == pytest.approx(1 / 1.02, rel=1e-14)
    assert f[12] != pytest.approx((1 + 0.02 / 12) ** -12, rel=1e-6)
    # 12 monthly flows of 100 paid at the start of each month: Σ 100·1.02^(−m/12), m = 0..11
    total = ec.discount(np.full(12, 100.0), rate=0.02, cycle="month").sum()
    assert total == pytest.approx(sum(100 * 1.02 ** (-m / 12) for m in range(12)), rel=1e-14)


def test_discount_along_axis_and_zero_rate():
    flows = np.array([[100.0, 10.0], [100.0, 10.0]])
    out = ec.discount(flows, rate=0.10, timing="start", axis=0)
    np.testing.assert_allclose(out, [[100, 10], [100 / 1.1, 10 / 1.1]])
    np.testing.assert_allclose(ec.discount(flows, rate=0.0, axis=1), flows)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 1.5}, "rate must be an annual rate"),
        ({"timing": "middle"}, "timing must be one of"),
        ({"cycle": "week"}, "cycle must be one of"),
    ],
)
def test_discount_factors_validate(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        ec.discount_factors(3, **kwargs)


# ---------------------------------------------------------------------------------------------
# Within-cycle correction
# ---------------------------------------------------------------------------------------------


def test_half_cycle_by_hand():
    v = [100.0, 80.0, 60.0]
    # undiscounted trapezoid: 100/2 + 80 + 60/2 = 160
    assert float(ec.integrate(v, method="half-cycle", rate=0.0)) == pytest.approx(160.0)
    # discounted at 10 %: 50 + 80/1.1 + 30/1.21 = 147.52066...
    assert float(ec.integrate(v, method="half-cycle", rate=0.10)) == pytest.approx(50 + 80 / 1.1 + 30 / 1.21)
    # start (heemod "beginning"): 100 + 80; end (heemod "end"): 80 + 60
    assert float(ec.integrate(v, method="start", rate=0.0)) == pytest.approx(180.0)
    assert float(ec.integrate(v, method="end", rate=0.0)) == pytest.approx(140.0)


def test_simpson_is_exact_for_cubics():
    t = np.arange(5.0)
    # composite Simpson 1/3, n = 4: (0 + 4·1 + 2·8 + 4·27 + 64)/3 = 192/3 = 64 = ∫0^4 t³ dt
    assert float(ec.integrate(t**3, method="simpson", rate=0.0)) == pytest.approx(64.0)
    # n = 3 (odd): Simpson 3/8: 3/8·(0 + 3·1 + 3·8 + 27) = 20.25 = ∫0^3 t³ dt = 81/4
    assert float(ec.integrate(np.arange(4.0) ** 3, method="simpson", rate=0.0)) == pytest.approx(20.25)
    # n = 5: 1/3 on [0, 2] then 3/8 on [2, 5]; ∫0^5 t³ dt = 625/4
    assert float(ec.integrate(np.arange(6.0) ** 3, method="simpson", rate=0.0)) == pytest.approx(156.25)
    # the trapezoid is not exact: n = 4 gives 0/2 + 1 + 8 + 27 + 64/2 = 68
    assert float(ec.integrate(t**3, method="half-cycle", rate=0.0)) == pytest.approx(68.0)


def test_within_cycle_weights_sum_to_n_and_match_the_formulas():
    for n in range(1, 12):
        for method in ("start", "end", "half-cycle", "simpson"):
            assert ec.within_cycle_weights(n, method=method).sum() == pytest.approx(n)
    np.testing.assert_allclose(ec.within_cycle_weights(6, method="simpson") * 3, [1, 4, 2, 4, 2, 4, 1])
    np.testing.assert_allclose(ec.within_cycle_weights(1, method="simpson"), [0.5, 0.5])


def test_simpson_discounts_each_boundary():
    # Σ w_t v_t (1.02)^-t with weights (1, 4, 1)/3 over v = (3, 3, 3)
    got = float(ec.integrate([3.0, 3.0, 3.0], method="simpson", rate=0.02))
    assert got == pytest.approx(1 + 4 / 1.02 + 1 / 1.02**2)


def test_integrate_multi_dimensional_and_monthly():
    v = np.ones((13, 3))  # 12 monthly cycles, 3 states, one person in each
    out = ec.integrate(v, method="half-cycle", rate=0.0, cycle="month")
    np.testing.assert_allclose(out, [12.0, 12.0, 12.0])  # 12 person-cycles each
    with pytest.raises(ConfigurationError, match="at least 2"):
        ec.integrate([1.0])


# ---------------------------------------------------------------------------------------------
# ICER and dominance
# ---------------------------------------------------------------------------------------------


def _status(t: ec.ICERTable) -> dict[str, str]:
    return dict(zip(t.table["strategy"], t.table["status"], strict=True))


def test_icer_strong_dominance():
    # C costs more than B and is less effective: strongly dominated. B vs A: 100/1 = 100.
    t = ec.icers([0, 100, 150], [0, 1, 0.5], ["A", "B", "C"])
    assert _status(t) == {"A": "ND", "B": "ND", "C": "D"}
    assert t.table.set_index("strategy").loc["B", "icer"] == pytest.approx(100.0)
    assert t.frontier == ["A", "B"]
    assert "dominated by B" in t.table.set_index("strategy").loc["C", "note"]


def test_icer_extended_dominance():
    # B vs A: 100/0.5 = 200 > C vs B: 50/1.0 = 50 → B extendedly dominated; C vs A = 150/1.5 = 100
    t = ec.icers([0, 100, 150], [0, 0.5, 1.5], ["A", "B", "C"])
    assert _status(t) == {"A": "ND", "B": "ED", "C": "ND"}
    assert t.table.set_index("strategy").loc["C", "icer"] == pytest.approx(100.0)


def test_icer_extended_dominance_cascades():
    # ICERs A→B 200, B→C 100, C→D 80/0.85 = 94.1: B is ED; then A→C 20/0.15 = 133.3 > 94.1: C is
    # ED; then A→D = 100/1 = 100.
    t = ec.icers([0, 10, 20, 100], [0, 0.05, 0.15, 1.0], ["A", "B", "C", "D"])
    assert _status(t) == {"A": "ND", "B": "ED", "C": "ED", "D": "ND"}
    assert t.table.set_index("strategy").loc["D", "icer"] == pytest.approx(100.0)


def test_icer_ties_and_equal_cost():
    # exact duplicate: the later one is D (no crash, dampack#37); equal cost and less effect: D
    t = ec.icers([0, 100, 100, 100], [0, 1, 1, 0.5], ["A", "B", "B2", "C"])
    s = _status(t)
    assert s == {"A": "ND", "B": "ND", "B2": "D", "C": "D"}
    assert "duplicate of B" in t.table.set_index("strategy").loc["B2", "note"]
    # equal ICERs along the frontier keep both (not strictly greater)
    t = ec.icers([0, 10, 20], [0, 0.1, 0.2], ["A", "B", "C"])
    assert _status(t) == {"A": "ND", "B": "ND", "C": "ND"}


def test_icer_cost_saving_dominant_strategy():
    # the programme costs less and is more effective: the comparator is dominated
    t = ec.icers([100, 80], [1.0, 1.2], ["none", "programme"])
    assert _status(t) == {"none": "D", "programme": "ND"}
    assert t.frontier == ["programme"]
    tidy = t.tidy()
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]
    assert "ICER table" in t.summary()


def test_icer_validation():
    with pytest.raises(ConfigurationError, match="equal non-zero length"):
        ec.icers([1, 2], [1])
    with pytest.raises(ConfigurationError, match="unique names"):
        ec.icers([1, 2], [1, 2], ["a", "a"])
    with pytest.raises(ConfigurationError, match="finite"):
        ec.icers([1, np.nan], [1, 2])


# ---------------------------------------------------------------------------------------------
# NMB, CEAC, EVPI on a tiny hand PSA
# ---------------------------------------------------------------------------------------------

# Four draws, two strategies ("no" costs 0 with effect 0).
COST = np.array([[0.0, 100.0], [0.0, 200.0], [0.0, 300.0], [0.0, 400.0]])
EFFECT = np.array([[0.0, 1.0], [0.0, 3.0], [0.0, 2.0], [0.0, 4.0]])


def test_nmb_by_hand():
    # wtp 120: yes = 120·(1, 3, 2, 4) − (100, 200, 300, 400) = (20, 160, −60, 80)
    nmb = ec.net_monetary_benefit(COST, EFFECT, wtp=120.0)
    np.testing.assert_allclose(nmb[:, 1], [20, 160, -60, 80])
    np.testing.assert_allclose(nmb[:, 0], 0)


def test_ceac_by_hand():
    res = ec.ceac(COST, EFFECT, wtp=[0.0, 120.0, 1000.0], strategies=["no", "yes"])
    t = res.table.set_index(["wtp", "strategy"])
    # wtp 0: "no" always best; 120: yes best in 3 of 4 draws; 1000: always yes
    assert t.loc[(0.0, "no"), "probability"] == 1.0
    assert t.loc[(120.0, "yes"), "probability"] == 0.75
    assert t.loc[(1000.0, "yes"), "probability"] == 1.0
    # frontier at 120: E[NMB yes] = (20 + 160 − 60 + 80)/4 = 50 > 0 → yes
    assert t.loc[(120.0, "yes"), "expected_nmb"] == pytest.approx(50.0)
    assert bool(t.loc[(120.0, "yes"), "on_frontier"]) and not bool(t.loc[(120.0, "no"), "on_frontier"])
    # probabilities sum to 1 over strategies at each wtp
    assert res.table.groupby("wtp")["probability"].sum().tolist() == [1.0, 1.0, 1.0]
    assert "CEAC over 4 draws" in res.summary()
    assert res.tidy()["estimate"].between(0, 1).all()


def test_evpi_by_hand():
    # wtp 120: E[max(0, NMB)] = (20 + 160 + 0 + 80)/4 = 65; max E[NMB] = max(0, 50) = 50 → 15
    out = ec.evpi(COST, EFFECT, wtp=[120.0, 0.0])
    assert out["evpi"].tolist() == pytest.approx([15.0, 0.0])
    # population: 15 per person × 1,000 persons/yr × (1 + 1/1.02 + 1/1.02²)
    pop = ec.population_evpi(15.0, population_per_year=1000, horizon_years=3, rate=0.02)
    assert pop == pytest.approx(15 * 1000 * (1 + 1 / 1.02 + 1 / 1.02**2))


def test_evpi_equals_brute_force_on_random_draws():
    rng = np.random.default_rng(5)
    c = rng.gamma(2.0, 50.0, size=(300, 3))
    e = rng.normal(1.0, 0.5, size=(300, 3))
    w = 80.0
    nmb = w * e - c
    brute = np.mean([max(row) for row in nmb]) - max(nmb.mean(axis=0))
    assert ec.evpi(c, e, wtp=w)["evpi"].iloc[0] == pytest.approx(brute, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# One-way DSA and plots
# ---------------------------------------------------------------------------------------------


def _toy_model(p):
    # cost over 10 years with the cycle and timing choices as parameters
    flows = np.full(10 if p["cycle"] == "year" else 120, p["cost"] / (1 if p["cycle"] == "year" else 12))
    total = ec.discount(flows, rate=p["rate"], cycle=p["cycle"], timing=p["timing"]).sum()
    return {"cost": float(total), "undiscounted": float(flows.sum())}


def test_one_way_dsa_with_categorical_settings():
    base = {"cost": 100.0, "rate": 0.02, "cycle": "year", "timing": "start"}
    res = ec.one_way_dsa(
        _toy_model,
        base,
        {"cost": (80.0, 120.0), "rate": (0.0, 0.04), "cycle": ("year", "month"), "timing": ("start", "end")},
    )
    t = res.table
    assert set(t["outcome"]) == {"cost", "undiscounted"}
    cost = t.loc[t["outcome"] == "cost"].set_index("parameter")
    # base: Σ_{t=0}^{9} 100/1.02^t
    base_cost = sum(100 / 1.02**k for k in range(10))
    assert cost["base"].iloc[0] == pytest.approx(base_cost)
    # rate 0: 1000 undiscounted
    assert cost.loc["rate", "outcome_low"] == pytest.approx(1000.0)
    # timing end: every flow one year later: base/1.02
    assert cost.loc["timing", "outcome_high"] == pytest.approx(base_cost / 1.02)
    # sorted by swing within the outcome: cost (±20 %) first
    assert cost.index[0] == "cost"
    assert (np.diff(cost["swing"].to_numpy()) <= 0).all()
    assert "swing" in res.summary()
    fig = res.tornado(outcome="cost")
    plt.close(fig)
    with pytest.raises(ConfigurationError, match="not in base"):
        ec.one_way_dsa(_toy_model, base, {"nope": (1, 2)})


def test_plots_return_figures():
    fig = ec.ce_plane_plot(COST[:, 1] - COST[:, 0], EFFECT[:, 1] - EFFECT[:, 0], wtp=120.0)
    assert len(fig.axes) == 1
    plt.close(fig)
    fig = ec.ceac(COST, EFFECT, wtp=np.linspace(0, 300, 7), strategies=["no", "yes"]).plot()
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Programme cost model
# ---------------------------------------------------------------------------------------------


def test_shipped_programme_costs_are_complete_and_in_range():
    p = cm.load_programme_costs()
    table = p.table()
    assert table["tag"].isin(cm.TAGS).all()
    assert (table["low"] <= table["value"]).all() and (table["value"] <= table["high"]).all()
    assert table["source"].str.len().gt(5).all() and table["unit"].str.len().gt(0).all()
    assert set(p.programmes) >= {"soft", "service_c", "tekupo"}


def test_service_c_cost_by_hand():
    t = cm.programme_cost("service_c", sites=1, participants=100, years=1, rate=0.0)
    by_line = t.set_index("line")["cost"]
    # management 0.5 FTE × ¥5.6M = 2.8M; professional 6 h × 5.6M/1,800 h × 100 = 1,866,666.67;
    # sessions 12 × ¥5,000 × 100 = 6.0M; visits 2 × ¥10,000 × 100 = 2.0M
    assert by_line["management"] == pytest.approx(2_800_000)
    assert by_line["professional_time"] == pytest.approx(6 * 5_600_000 / 1_800 * 100)
    assert by_line["sessions"] == pytest.approx(6_000_000)
    assert by_line["home_visits"] == pytest.approx(2_000_000)


def test_soft_cost_by_hand_per_site_and_participant():
    t = cm.programme_cost("soft", sites=[2, 3], participants=[60, 90], years=2, rate=0.02)
    y1 = t.loc[t["year"] == 1].set_index("line")
    # instructor: 3 courses × 60 sessions × ¥8,000 per site = 1.44M × 3 sites
    assert y1.loc["instructor", "cost"] == pytest.approx(3 * 60 * 8_000 * 3)
    # tablet: ¥45,000 / 8 uses per participant × 90
    assert y1.loc["tablet", "cost"] == pytest.approx(45_000 / 8 * 90)
    # discounted at the start of year 1: ÷ 1.02
    np.testing.assert_allclose(y1["discounted_cost"], y1["cost"] / 1.02)
    # overriding one parameter (a DSA/PSA draw) changes only the lines using it
    t2 = cm.programme_cost("soft", sites=[2, 3], participants=[60, 90], years=2, params={"tablet_price": 90_000})
    diff = (t2.set_index(["year", "line"])["cost"] - t.set_index(["year", "line"])["cost"]).loc[1]
    assert diff["tablet"] == pytest.approx(45_000 / 8 * 90)
    assert diff.drop("tablet").abs().max() == 0


def test_programme_cost_validation(tmp_path):
    with pytest.raises(ConfigurationError, match="programme must be one of"):
        cm.programme_cost("yoga", sites=1, participants=1, years=1)
    with pytest.raises(ConfigurationError, match="participants must be"):
        cm.programme_cost("soft", sites=1, participants=[1, 2, 3], years=2)
    with pytest.raises(ConfigurationError, match="unknown parameters"):
        cm.programme_cost("soft", sites=1, participants=1, years=1, params={"tablet_prise": 1})
    bad = tmp_path / "costs.yaml"
    bad.write_text(
        "parameters:\n  x: {value: 5, unit: yen, range: [0, 1], source: test, tag: '[E]'}\n"
        "programmes:\n  p: {lines: {a: {basis: year, factors: [x]}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=r"'x' value 5 is outside its range \[0, 1\]"):
        cm.load_programme_costs(bad)
    bad.write_text(
        "parameters:\n  x: {value: 0.5, unit: yen, range: [0, 1], source: test, tag: '[E]'}\n"
        "programmes:\n  p: {lines: {a: {basis: weekly, factors: [x]}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="basis 'weekly'"):
        cm.load_programme_costs(bad)


def test_decide_and_probability_positive():
    d = cm.decide(averted_ltc=np.array([50.0, 150.0, 250.0, 90.0]), averted_medical=20.0, programme_cost=100.0)
    np.testing.assert_allclose(d.net_benefit, [-30, 70, 170, 10])
    assert d.probability_positive == 0.75
    tidy = d.tidy().set_index("term")
    assert tidy.loc["net_benefit", "estimate"] == pytest.approx(55.0)
    assert "P(net benefit > 0) = 0.750" in d.summary()
    with pytest.raises(ConfigurationError, match="programme_cost must be"):
        cm.decide(averted_ltc=np.ones(3), programme_cost=np.ones(2))


def test_break_even_participation_closed_form_matches_root_finding():
    # savings ¥80,000 per participant over the horizon against the SOFT cost model (1 site, 1 year)
    saving = 80_000.0

    def net(n: float) -> float:
        cost = cm.programme_cost("soft", sites=1, participants=n, years=1, rate=0.0)["cost"].sum()
        return saving * n - cost

    fixed = -net(0.0)
    per_participant = saving - (net(1.0) + fixed)  # cost of one more participant
    closed = cm.break_even_participation(
        saving_per_participant=saving, fixed_cost=fixed, cost_per_participant=per_participant
    )
    root = cm.break_even(net, lower=0.0, upper=10_000.0)
    assert root == pytest.approx(closed, rel=1e-9)
    assert cm.break_even_participation(saving_per_participant=1, fixed_cost=10, cost_per_participant=2) == math.inf


def test_break_even_effect_size():
    # averted cost proportional to (1 − HR): 2,000,000·(1 − HR); programme 300,000 → HR* = 0.85
    hr = cm.break_even(lambda h: 2_000_000 * (1 - h) - 300_000, lower=0.2, upper=1.0)
    assert hr == pytest.approx(0.85, abs=1e-9)
    with pytest.raises(ConfigurationError, match="same sign"):
        cm.break_even(lambda h: 1.0 + h, lower=0.0, upper=1.0)


def test_inputs_are_not_mutated():
    c = COST.copy()
    e = pd.DataFrame(EFFECT, columns=["no", "yes"])
    e_copy = e.copy()
    ec.ceac(c, e, wtp=[100.0])
    ec.evpi(c, e, wtp=[100.0])
    np.testing.assert_array_equal(c, COST)
    pd.testing.assert_frame_equal(e, e_copy)


# ---------------------------------------------------------------------------------------------
# Adapter to a projection (duck-typed; checked on a hand-made stand-in and on the real engine)
# ---------------------------------------------------------------------------------------------


class _FakeProjection:
    dt = 1.0
    discount_rate = 0.0

    def snapshot_arrays(self):
        alive = np.array([[10.0, 8.0, 6.0], [10.0, 9.0, 8.0]])
        return {
            "alive": alive,
            "without_care2plus": alive - 1,
            "ltc_cost": alive * 100,
            "medical_cost": alive * 10,
            "time": np.arange(3.0),
        }


def test_projection_totals_by_hand():
    out = ec.projection_totals(_FakeProjection(), method="half-cycle")
    # control life-years: 10/2 + 8 + 6/2 = 16; intervention: 5 + 9 + 4 = 18
    assert out.loc["control", "life_years"] == pytest.approx(16.0)
    assert out.loc["intervention", "life_years"] == pytest.approx(18.0)
    # costs 110 per person-cycle: difference 2 × 110 = 220 more in the intervention arm
    assert out.loc["difference", "total_cost"] == pytest.approx(220.0)
    assert out.loc["difference", "averted_cost"] == pytest.approx(-220.0)
    simpson = ec.projection_totals(_FakeProjection(), method="simpson")
    # (10 + 4·8 + 6)/3 = 16 (linear occupancy: Simpson = trapezoid)
    assert simpson.loc["control", "life_years"] == pytest.approx(16.0)


def test_projection_totals_on_the_engine_matches_its_half_cycle_outcomes():
    microsim = pytest.importorskip("wellness_research.microsim")
    if not hasattr(microsim, "project"):
        pytest.skip("the projection engine is not available")
    pop = pd.DataFrame({"age": [70, 80, 85], "sex": ["M", "F", "F"], "state": ["independent", "independent", "要介護1"]})
    pr = microsim.project(pop, effect=0.8, years=3, cycle="year", engine="cohort")
    ours = ec.projection_totals(pr, method="half-cycle", rate=0.02)
    theirs = pr.annual_outcomes(timing="half-cycle", discount_rate=0.02)
    for name in ("life_years", "ltc_cost", "medical_cost", "years_without_care2plus"):
        np.testing.assert_allclose(ours.loc[["control", "intervention"], name], theirs[name + "_discounted"].sum(axis=1), rtol=1e-12)


def test_cost_distributions_from_yaml_ranges():
    d = cm.cost_distributions(names=["staff_pay_per_fte", "tablet_price"])
    # mean = value; SE = (7.0M − 4.5M)/(2·1.959964) = 637,767
    assert d["staff_pay_per_fte"].mean == pytest.approx(5_600_000)
    assert d["staff_pay_per_fte"].sd == pytest.approx(2_500_000 / (2 * 1.959964))
    everything = cm.cost_distributions()
    assert set(everything) == set(cm.load_programme_costs().parameters)
    with pytest.raises(ConfigurationError, match="unknown parameters"):
        cm.cost_distributions(names=["nope"])


def test_dsa_reports_cycle_length_and_cost_timing_on_the_engine():
    microsim = pytest.importorskip("wellness_research.microsim")
    if not hasattr(microsim, "project"):
        pytest.skip("the projection engine is not available")
    pop = pd.DataFrame({"age": [70, 78, 85, 90], "sex": ["M", "F", "F", "M"],
                        "state": ["independent", "independent", "要支援1", "要介護2"]})

    def averted(p):
        pr = microsim.project(pop, effect=p["hr"], years=4, cycle=p["cycle"], engine="cohort")
        return float(ec.projection_totals(pr, method=p["timing"]).loc["difference", "averted_cost"])

    res = ec.one_way_dsa(
        averted,
        {"hr": 0.8, "cycle": "year", "timing": "half-cycle"},
        {"hr": (0.6, 1.0), "cycle": ("year", "month"), "timing": ("start", "simpson")},
    )
    t = res.table.set_index("parameter")
    assert t.loc["hr", "outcome_high"] == pytest.approx(0.0, abs=1e-6)  # HR 1: nothing averted
    assert t.loc["hr", "outcome_low"] > t.loc["hr", "base"] > 0
    assert t.loc["cycle", "swing"] > 0 and t.loc["timing", "swing"] > 0
    plt.close(res.tornado())
