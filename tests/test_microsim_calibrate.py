"""Hand cases for estimate_parameters(life_table=True) and the medical-cost rows of calibration_report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wellness_research.errors import ConfigurationError
from wellness_research.microsim import calibration_population, load_parameters, project
from wellness_research.microsim.calibrate import calibration_report
from wellness_research.microsim.estimate import estimate_parameters


def _tables(residents: list[tuple], certs: list[tuple] = ()) -> dict[str, pd.DataFrame]:
    """residents: (id, birth, sex, move_in, move_out, death); certs: (id, level, valid_from, valid_to)."""
    r = pd.DataFrame(residents, columns=["person_id", "birth_month", "sex", "move_in_date", "move_out_date",
                                         "death_date"])
    for c in ("birth_month", "move_in_date", "move_out_date", "death_date"):
        r[c] = pd.to_datetime(r[c])
    c = pd.DataFrame(list(certs), columns=["person_id", "level", "valid_from", "valid_to"])
    c["decision_date"] = c["valid_from"]
    for col in ("valid_from", "valid_to", "decision_date"):
        c[col] = pd.to_datetime(c[col])
    return {"residents": r, "ltc_certifications": c}


# FY2019 = 2019-04-01 .. 2020-03-31 (366 days). Two bands (65-79, 80+) x two sexes; in every cell one
# person lives through the year (366 days) and one dies on the date given (days alive counted from
# 2019-04-01 up to the day of death, as in test_microsim_estimate's hand counts).
_DEATHS = {("M", "65-79"): ("2019-10-01", 183), ("F", "65-79"): ("2020-01-01", 275),
           ("M", "80+"): ("2019-07-01", 91), ("F", "80+"): ("2019-05-01", 30)}
_BIRTH = {"65-79": "1947-06-01", "80+": "1935-06-01"}  # ages 71-72 and 83-84 during FY2019


def _life_table_tables():
    res = []
    for (sx, band), (death, _) in _DEATHS.items():
        res.append((f"{sx}{band}-alive", _BIRTH[band], sx, None, None, None))
        res.append((f"{sx}{band}-dies", _BIRTH[band], sx, None, None, death))
    return _tables(res)


def test_life_table_rates_are_deaths_over_person_years_at_band_middles():
    est = estimate_parameters(_life_table_tables(), start=2019, end=2019, age_bands=(65, 80), smoothing=0,
                              life_table=True)
    entry = est.parameters["mortality.qx_2023"]
    assert entry.tag == "D" and "1 - exp(-deaths / person-years)" in entry.source
    # band middles: 65 + (80 - 65)/2 - 0.5 = 72 for "65-79"; lo + 2 = 82 for the open band "80+"
    assert entry.value["ages"] == [72.0, 82.0]
    for s, key in enumerate(("male", "female")):
        sx = "MF"[s]
        for b, band in enumerate(("65-79", "80+")):
            days = 366 + _DEATHS[(sx, band)][1]
            rate = 1 / (days / 365.25)  # one death over the cell's person-years (365.25-day years)
            q = -np.expm1(-rate)
            assert entry.value[key][b] == pytest.approx(q, rel=1e-9)  # rounded to 10 decimals
            row = est.counts.query(
                f"parameter == 'mortality.qx_2023' and sex == '{sx}' and band == '{band}'").iloc[0]
            assert row["count"] == 1 and row["exposure"] == pytest.approx(days / 365.25)
    # the tables use it: at a band middle the life-table hazard is -log(1 - qx) = the rate (log-linear
    # interpolation passes through the points; qx below mortality.qx_cap)
    p = est.parameters
    q_m72 = entry.value["male"][0]
    assert p.life_table_hazard[0, 72 - p.min_age] == pytest.approx(-np.log1p(-q_m72), rel=1e-12)
    # without life_table the national table is kept
    est0 = estimate_parameters(_life_table_tables(), start=2019, end=2019, age_bands=(65, 80), smoothing=0)
    assert est0.parameters["mortality.qx_2023"].value == load_parameters()["mortality.qx_2023"].value


def test_life_table_needs_a_death_in_every_cell():
    t = _life_table_tables()
    t["residents"].loc[t["residents"]["person_id"] == "F80+-dies", "death_date"] = pd.NaT
    with pytest.raises(ConfigurationError, match="life_table=True needs deaths and person-time in every sex x band"):
        estimate_parameters(t, start=2019, end=2019, age_bands=(65, 80), life_table=True)
    with pytest.raises(ConfigurationError, match="life_table must be True or False"):
        estimate_parameters(t, start=2019, end=2019, age_bands=(65, 80), life_table="yes")


def test_calibration_report_puts_medical_cost_beside_ltc_cost():
    """Two independent 70-year-olds who live through two years; medical claims by hand."""
    t = _tables([("P", "1953-06-01", "M", None, None, None), ("Q", "1953-06-01", "F", None, None, None)])
    # year 1 (2023-04 .. 2024-03): 10,000 + 5,000 + 20,000 yen; year 2: 7,000 yen; a claim of another
    # person (R, not a resident) and one after the horizon are not counted
    t["medical_claims"] = pd.DataFrame({
        "person_id": ["P", "P", "Q", "Q", "R", "P"],
        "service_month": pd.to_datetime(["2023-04-01", "2024-03-01", "2023-09-01", "2024-04-01", "2023-05-01",
                                         "2025-04-01"]),
        "cost_yen": [10_000, 5_000, 20_000, 7_000, 99_000, 1_000],
    })
    t["ltc_claims"] = pd.DataFrame({"person_id": pd.Series([], dtype=object),
                                    "service_month": pd.to_datetime(pd.Series([], dtype=object)),
                                    "cost_yen": pd.Series([], dtype=float)})
    rep = calibration_report(None, t, start_date="2023-04-01", years=2)
    med = rep.query("measure == 'medical_cost'").set_index("year")
    assert med["observed"].tolist() == [35_000.0, 7_000.0]
    assert med["n"].tolist() == [2, 1]  # persons with a claim in the year
    # the model side is the projection's undiscounted medical cost of the same two persons
    pop = calibration_population(t, "2023-04-01", 2)
    pr = project(pop, years=2, cycle="month", engine="cohort")
    np.testing.assert_allclose(med["model"].to_numpy(), pr.annual_outcomes()["medical_cost"][0], rtol=1e-12)
    # se: the sum of person totals around their mean, sqrt(sum (x_i - mean)^2) (module docstring)
    se1 = np.sqrt((15_000 - 17_500) ** 2 + (20_000 - 17_500) ** 2)
    assert med.loc[1, "tolerance"] == pytest.approx(3 * se1 + 0.10 * med.loc[1, "model"])
    ltc = rep.query("measure == 'ltc_cost'")
    assert ltc["observed"].tolist() == [0.0, 0.0] and len(ltc) == 2
