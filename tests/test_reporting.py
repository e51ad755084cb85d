"""Hand-computable cases for the fiscal calendar and the descriptive tables."""

from __future__ import annotations

import pandas as pd
import pytest

from wellness_research.errors import ConfigurationError
from wellness_research.fiscal import age_at, fiscal_year_bounds, fiscal_year_of
from wellness_research.reporting import (
    certification_prevalence,
    certified_on,
    population_on,
    population_pyramid,
    table_counts,
)

NaT = pd.NaT


def _residents() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": ["a", "b", "c", "d", "e", "f"],
            "birth_month": pd.to_datetime(
                ["1950-04-01", "1950-05-01", "1940-01-01", "1930-06-01", "1945-01-01", "1948-01-01"]
            ),
            "sex": ["M", "F", "F", "M", "F", "M"],
            "district": ["D01"] * 6,
            "move_in_date": pd.to_datetime([NaT, NaT, NaT, NaT, "2025-05-01", NaT]),
            "move_out_date": pd.to_datetime([NaT, NaT, NaT, NaT, NaT, "2025-01-10"]),
            "death_date": pd.to_datetime([NaT, NaT, NaT, "2025-03-31", NaT, NaT]),
        }
    )


def test_fiscal_year_bounds_and_membership():
    assert fiscal_year_bounds(2025) == (pd.Timestamp("2025-04-01"), pd.Timestamp("2026-03-31"))
    fy = fiscal_year_of(pd.Series(pd.to_datetime(["2025-03-31", "2025-04-01", "2026-03-31", None])))
    assert fy.tolist()[:3] == [2024, 2025, 2025]
    assert fy.isna().tolist() == [False, False, False, True]


@pytest.mark.parametrize("bad", [2025.0, "2025", True, 1999])
def test_fiscal_year_bounds_rejects_non_years(bad):
    with pytest.raises(ConfigurationError, match="fiscal_year"):
        fiscal_year_bounds(bad)


def test_age_uses_first_day_of_birth_month():
    births = pd.Series(pd.to_datetime(["1950-04-01", "1950-05-01", "1950-03-01"]))
    assert age_at(births, "2025-04-01").tolist() == [75, 74, 75]


def test_population_on_counts_only_present_living_residents_aged_65_plus():
    pop = population_on(_residents(), "2025-04-01")
    # d died 2025-03-31, e moved in 2025-05-01, f moved out 2025-01-10: none present on 1 April.
    assert sorted(pop["person_id"]) == ["a", "b", "c"]
    assert dict(zip(pop["person_id"], pop["age"])) == {"a": 75, "b": 74, "c": 85}


def test_population_pyramid_bands_by_sex():
    pyr = population_pyramid(_residents(), "2025-04-01")
    assert pyr.loc["70-74", "F"] == 1  # b, 74
    assert pyr.loc["75-79", "M"] == 1  # a, 75
    assert pyr.loc["85-89", "F"] == 1  # c, 85
    assert int(pyr.to_numpy().sum()) == 3


def test_certified_on_takes_the_decision_in_force_and_ignores_non_certified():
    certs = pd.DataFrame(
        {
            "person_id": ["a", "a", "b", "c"],
            "level": ["要支援1", "要介護2", "非該当", "要介護5"],
            "valid_from": pd.to_datetime(["2024-01-01", "2025-01-01", NaT, "2020-01-01"]),
            "valid_to": pd.to_datetime(["2024-12-31", "2026-12-31", NaT, "2021-12-31"]),
        }
    )
    on = certified_on(certs, "2025-04-01")
    assert on.to_dict("records") == [{"person_id": "a", "level": "要介護2"}]


def test_certification_prevalence_by_band_beside_national_reference():
    certs = pd.DataFrame(
        {
            "person_id": ["a", "c"],
            "level": ["要支援2", "要介護3"],
            "valid_from": pd.to_datetime(["2025-01-01", "2025-01-01"]),
            "valid_to": pd.to_datetime(["2026-12-31", "2026-12-31"]),
        }
    )
    prev = certification_prevalence(_residents(), certs, "2025-04-01").set_index("age_band")
    # 65-74: b (not certified); 75-84: a (要支援2); 85+: c (要介護3).
    assert prev.loc["65-74", ["population", "certified"]].tolist() == [1, 0]
    assert prev.loc["75-84", ["population", "support", "care"]].tolist() == [1, 1, 0]
    assert prev.loc["85+", ["population", "support", "care"]].tolist() == [1, 0, 1]
    assert prev.loc["all 65+", "certified_pct"] == pytest.approx(66.7)
    # National FY2022 reference, 令和7年版高齢社会白書 (DOMAIN.md §2.2 [S]).
    assert prev.loc["85+", "national_total_pct"] == 58.5


def test_table_counts_and_caller_data_unchanged():
    res = _residents()
    before = res.copy()
    counts = table_counts({"residents": res, "soft_sites": pd.DataFrame({"site_id": ["S1"]})})
    assert counts.set_index("table").loc["residents"].tolist() == [6, 7]
    assert counts.set_index("table").loc["soft_sites"].tolist() == [1, 1]
    pd.testing.assert_frame_equal(res, before)
