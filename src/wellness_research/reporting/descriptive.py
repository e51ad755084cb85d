"""Descriptive tables of the data-quality and cohort-description notebook.

Every function takes the pseudonymised tables, never modifies them, and returns a tidy
DataFrame of counts; publishing goes through :func:`wellness_research.privacy.suppress_small_cells`
(done by :func:`publish`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from ..fiscal import age_at, fiscal_year_bounds
from .reference import NATIONAL_CERTIFICATION_BY_AGE

__all__ = [
    "certification_prevalence",
    "certified_on",
    "population_on",
    "population_pyramid",
    "programme_participation",
    "table_counts",
]

_BANDS_5 = [65, 70, 75, 80, 85, 90, 95, 200]
_LABELS_5 = ["65-69", "70-74", "75-79", "80-84", "85-89", "90-94", "95+"]
_BANDS_10 = [65, 75, 85, 200]
_LABELS_10 = ["65-74", "75-84", "85+"]


def _require(tables: Mapping[str, pd.DataFrame], *names: str) -> None:
    missing = [n for n in names if n not in tables]
    if missing:
        raise ConfigurationError(
            f"tables is missing {missing}; available: {sorted(tables)}."
        )


def table_counts(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows and columns of each table (distinct persons are in the linkage report).

    Returns
    -------
    pandas.DataFrame
        Columns ``table``, ``rows``, ``columns``, sorted by table name.
    """
    rows = [
        {"table": name, "rows": len(tables[name]), "columns": tables[name].shape[1]}
        for name in sorted(tables)
    ]
    return pd.DataFrame(rows, columns=["table", "rows", "columns"])


def population_on(residents: pd.DataFrame, at: pd.Timestamp | str) -> pd.DataFrame:
    """Residents living in the municipality and aged 65+ on a date, with their age.

    A person counts when they moved in on or before ``at`` (or were resident from the start), had
    not moved out before ``at`` and were alive on ``at``.
    """
    at = pd.Timestamp(at)
    r = residents
    present = (
        (r["move_in_date"].isna() | (r["move_in_date"] <= at))
        & (r["move_out_date"].isna() | (r["move_out_date"] > at))
        & (r["death_date"].isna() | (r["death_date"] > at))
    )
    out = r.loc[present, ["person_id", "birth_month", "sex", "district"]].copy()
    out["age"] = age_at(out["birth_month"], at)
    return out.loc[out["age"] >= 65].reset_index(drop=True)


def _band(age: pd.Series, bands: list[int], labels: list[str]) -> pd.Series:
    return pd.cut(age.astype("int64"), bins=bands, labels=labels, right=False)


def population_pyramid(residents: pd.DataFrame, at: pd.Timestamp | str) -> pd.DataFrame:
    """Population aged 65+ by 5-year age band and sex on a date.

    Returns
    -------
    pandas.DataFrame
        Index ``age_band`` (65-69 … 95+), columns ``M`` and ``F`` (persons).
    """
    pop = population_on(residents, at)
    pop["age_band"] = _band(pop["age"], _BANDS_5, _LABELS_5)
    table = pd.crosstab(pop["age_band"], pop["sex"]).reindex(
        index=_LABELS_5, columns=["M", "F"], fill_value=0
    )
    table.index.name = "age_band"
    table.columns.name = None
    return table


def certified_on(certifications: pd.DataFrame, at: pd.Timestamp | str) -> pd.DataFrame:
    """Certifications in force on a date: one row per person with their care level.

    A decision other than 非該当 is in force when ``valid_from <= at <= valid_to``.
    """
    at = pd.Timestamp(at)
    c = certifications
    active = (c["level"] != "非該当") & (c["valid_from"] <= at) & (c["valid_to"] >= at)
    out = c.loc[active, ["person_id", "level", "valid_from"]]
    out = out.sort_values(["person_id", "valid_from"], kind="stable")
    return out.drop_duplicates("person_id", keep="last")[["person_id", "level"]]


def certification_prevalence(
    residents: pd.DataFrame, certifications: pd.DataFrame, at: pd.Timestamp | str
) -> pd.DataFrame:
    """Certification prevalence by 10-year age band on a date, beside the national figures.

    Returns
    -------
    pandas.DataFrame
        One row per age band (65-74, 75-84, 85+, and ``all 65+``) with ``population``,
        ``support`` (要支援1–2), ``care`` (要介護1–5), ``certified``, ``certified_pct`` and the national
        reference columns of :data:`NATIONAL_CERTIFICATION_BY_AGE` (FY2022, [S]).
    """
    pop = population_on(residents, at)
    cert = certified_on(certifications, at)
    pop = pop.merge(cert, on="person_id", how="left", validate="one_to_one")
    pop["age_band"] = _band(pop["age"], _BANDS_10, _LABELS_10)
    level = pop["level"].astype("string")
    pop["support"] = level.str.startswith("要支援").fillna(False).astype("int64")
    pop["care"] = level.str.startswith("要介護").fillna(False).astype("int64")
    grouped = pop.groupby("age_band", observed=False).agg(
        population=("person_id", "size"), support=("support", "sum"), care=("care", "sum")
    )
    grouped.loc["all 65+"] = grouped.sum()
    grouped["certified"] = grouped["support"] + grouped["care"]
    with np.errstate(invalid="ignore", divide="ignore"):
        grouped["certified_pct"] = (100 * grouped["certified"] / grouped["population"]).round(1)
    grouped.index.name = "age_band"
    out = grouped.reset_index().merge(NATIONAL_CERTIFICATION_BY_AGE, on="age_band", how="left")
    return out


def programme_participation(
    tables: Mapping[str, pd.DataFrame], *, fiscal_year: int
) -> pd.DataFrame:
    """Persons reached by each programme in a fiscal year, by sex.

    Counts distinct persons: SOFT attendees (any session in the year), short-term-service
    episodes started, outreach survey respondents and risk-flagged respondents, and てくポ
    registrants active in the year (any activity month).

    Returns
    -------
    pandas.DataFrame
        Index ``programme``; columns ``M``, ``F``, ``total`` (persons).
    """
    _require(
        tables, "residents", "soft_attendance", "short_term_episodes", "outreach_contacts",
        "tekupo_activity",
    )
    start, end = fiscal_year_bounds(fiscal_year)
    sex = tables["residents"].set_index("person_id")["sex"]

    def persons(df: pd.DataFrame, date_col: str, mask: pd.Series | None = None) -> pd.Index:
        inside = df[date_col].between(start, end)
        if mask is not None:
            inside &= mask.fillna(False).astype(bool)
        return pd.Index(df.loc[inside, "person_id"].unique())

    o = tables["outreach_contacts"]
    groups = {
        "SOFT 参加者": persons(tables["soft_attendance"], "session_date"),
        "短期集中予防サービス 開始": persons(tables["short_term_episodes"], "start_date"),
        "アウトリーチ 回答者": persons(o, "survey_date", o["responded"]),
        "アウトリーチ ハイリスク": persons(o, "survey_date", o["risk_flag"]),
        "てくポ 活動者": persons(tables["tekupo_activity"], "month"),
    }
    rows = []
    for name, ids in groups.items():
        s = sex.reindex(ids).astype("string")
        rows.append(
            {
                "programme": name,
                "M": int((s == "M").sum()),
                "F": int((s == "F").sum()),
                "total": len(ids),
            }
        )
    return pd.DataFrame(rows).set_index("programme")
