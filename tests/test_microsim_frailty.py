"""Per-frailty output of the care-level projection (project(..., frailty=True), Projection.frailty_tidy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wellness_research.errors import ConfigurationError
from wellness_research.microsim import FRAILTY_GROUPS, load_parameters, project


@pytest.fixture(scope="module")
def params():
    return load_parameters()


def _population(n: int, seed: int = 0) -> pd.DataFrame:
    """Persons 65-95, both sexes, mostly independent, a third with a known frailty group."""
    rng = np.random.default_rng(seed)
    states = np.array(["independent", "要支援1", "要介護2"])
    frailty = np.array(["robust", "pre-frail", "frail", None, "unknown"], dtype=object)
    return pd.DataFrame({
        "age": rng.integers(65, 96, n),
        "sex": rng.choice(["M", "F"], n),
        "state": rng.choice(states, n, p=[0.85, 0.1, 0.05]),
        "frailty": rng.choice(frailty, n, p=[0.15, 0.1, 0.1, 0.4, 0.25]),
    })


def _independent_by_tidy(pr) -> pd.DataFrame:
    td = pr.tidy()
    return td.loc[td["state"] == "independent"].set_index(["arm", "year"])[["persons", "person_years"]]


@pytest.mark.parametrize("engine", ["microsim", "cohort"])
@pytest.mark.parametrize("cycle", ["year", "month"])
def test_frailty_groups_sum_to_the_independent_persons(params, engine, cycle):
    pop = _population(3000)
    pr = project(pop, params, effect=0.8, years=3, cycle=cycle, engine=engine, frailty=True, seed=5)
    ft = pr.frailty_tidy()
    assert ft.columns.tolist() == ["arm", "year", "state", "frailty", "persons", "person_years", "share", "engine"]
    assert len(ft) == 2 * 4 * 3
    assert (ft["frailty"].unique() == np.asarray(FRAILTY_GROUPS)).all()
    assert (ft["persons"] >= 0).all()
    summed = ft.groupby(["arm", "year"])[["persons", "person_years"]].sum()
    ind = _independent_by_tidy(pr).loc[summed.index]
    if engine == "microsim":  # integer counts: exact
        assert np.array_equal(summed["persons"].to_numpy(), ind["persons"].to_numpy())
    np.testing.assert_allclose(summed.to_numpy(), ind.to_numpy(), rtol=1e-12, atol=1e-9)
    shares = ft.groupby(["arm", "year"])["share"].sum()
    np.testing.assert_allclose(shares.to_numpy(), 1.0, rtol=1e-12)


def test_frailty_detail_by_sex_and_age_sums_to_the_independent_state(params):
    pr = project(_population(2000, seed=1), params, effect=0.7, years=2, cycle="month", frailty=True, seed=2)
    assert pr.frailty_detail.shape == (2, 2, len(pr.ages), 25, 3)
    assert np.array_equal(pr.frailty_detail.sum(axis=-1), pr.occupancy_detail[..., 0])


def test_known_starting_groups_and_one_annual_cycle_by_hand(params):
    """One robust 75-year-old woman, cohort engine, one annual cycle.

    Hand arithmetic from the parameter tables: she survives with 1 - d, d = 1 - exp(-mu0 HR_0)
    (rescaled baseline), stays independent given survival with exp(-lambda r_robust) (the rescaled
    robust hazard), then her group moves by the robust row of the annual frailty matrix (the cycle is
    the year, so the matrix is used as it is).
    """
    pop = pd.DataFrame({"age": [75], "sex": ["F"], "state": ["independent"], "frailty": ["robust"]})
    pr = project(pop, params, years=1, cycle="year", engine="cohort", frailty=True)
    a = 75 - params.min_age
    d = -np.expm1(-params.death_baseline[1, a] * params.level_hr[0])
    stay = np.exp(-params.incidence[1, a] * params.frailty_cert_multiplier[1, a, 0])
    expected = (1.0 - d) * stay * params.frailty_annual_matrix[0]
    ft = pr.frailty_tidy(timing="start").set_index(["arm", "year", "frailty"])
    for arm in ("control", "intervention"):
        assert ft.loc[(arm, 0, "robust"), "persons"] == 1.0
        assert ft.loc[(arm, 0, "frail"), "persons"] == 0.0
        got = [ft.loc[(arm, 1, g), "persons"] for g in FRAILTY_GROUPS]
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        # timing "start": the year's person-years are those at its start, all robust
        assert ft.loc[(arm, 1, "robust"), "person_years"] == 1.0


def test_no_effect_gives_identical_arms_by_group(params):
    pr = project(_population(2000, seed=3), params, effect=1.0, years=3, cycle="year", frailty=True, seed=9)
    assert np.array_equal(pr.frailty_detail[0], pr.frailty_detail[1])


def test_engines_agree_by_frailty_group(params):
    """Microsimulation vs cohort, independent persons per group after 5 years, within Monte Carlo error
    (binomial standard error of each count; |z| < 4 for 12 comparisons)."""
    pop = _population(20000, seed=4)
    kw = dict(effect=0.75, years=5, cycle="year", frailty=True)
    mc = project(pop, params, engine="microsim", seed=11, **kw).frailty_tidy().query("year == 5")
    co = project(pop, params, engine="cohort", **kw).frailty_tidy().query("year == 5")
    p = co["persons"].to_numpy() / len(pop)
    se = np.sqrt(len(pop) * p * (1 - p))
    z = (mc["persons"].to_numpy() - co["persons"].to_numpy()) / se
    assert np.all(np.abs(z) < 4), z


def test_frailty_tidy_without_frailty_is_an_error(params):
    pr = project(_population(50), params, years=1, cycle="year", engine="cohort")
    assert pr.frailty_detail is None
    with pytest.raises(ConfigurationError, match="frailty=True"):
        pr.frailty_tidy()
