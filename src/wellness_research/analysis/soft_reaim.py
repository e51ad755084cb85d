"""SOFT protocol, RE-AIM by site and district (protocol question 3; issue #6).

:func:`soft_reaim` describes the programme's reach, adoption, implementation and maintenance from
the ``soft_sites`` and ``soft_attendance`` tables and the resident population:

* **Reach** (by district): initiators (≥ 1 session) and participants (≥ ``exposure.min_sessions``
  sessions in the first ``exposure.window_months`` months) up to the end of the fiscal year,
  divided by the eligible residents of the district — aged ``population.min_age``+ and not
  certified on the first day of the fiscal year's last month (:func:`district_month_panel`).
* **Adoption** (by district and fiscal year): sites opened in the year, cumulative sites, against
  the sites planned when a plan is given (``planned_sites``; the protocol has no key for it yet),
  and the months from a site's opening to its 10th initiator.
* **Implementation** (by site): sessions per participant-month (sessions ÷ person-months with at
  least one session), the share watched from the recording, and the share of initiators who reach
  the participant definition.
* **Maintenance** (by site): whether the site was still running 12 and 24 months after opening
  (NA when that date is after the data end), and initiators still attending at 6 and 12 months (a
  session in the ``sensitivity.per_protocol.stop_gap_months`` months starting 6 or 12 months after
  the first session month, among initiators whose window ends before the data end).

A person belongs to the site and district of their first session. Every published table is
small-cell suppressed (``reporting.min_cell``); sites with fewer than ``reporting.min_cell``
initiators are pooled into one row ("sites with < 10 initiators"), as the protocol's reporting
rules require; no table holds a person id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from wellness_research.analysis.findings import Finding
from wellness_research.analysis.soft import _deviation_lines, _fiscal_year_end, _html, _protocol, _suppress
from wellness_research.analysis.soft_rollout import district_month_panel
from wellness_research.errors import DataValidationError

__all__ = ["SoftReaim", "soft_reaim"]


@dataclass(frozen=True, eq=False)
class SoftReaim:
    """RE-AIM tables of the SOFT programme (aggregates only; no person ids).

    Attributes
    ----------
    reach : pandas.DataFrame
        By district: ``eligible``, ``initiators``, ``participants``, ``reach_initiators``,
        ``reach_participants`` (shares of the eligible).
    adoption : pandas.DataFrame
        By district and fiscal year: ``sites_opened``, ``sites_cumulative``, ``sites_planned`` (NA
        without a plan), ``adoption`` (cumulative ÷ planned).
    implementation : pandas.DataFrame
        By site (unpooled): ``initiators``, ``participants``, ``sessions``, ``participant_months``,
        ``sessions_per_participant_month``, ``recorded_share``, ``participant_share``,
        ``months_to_10_initiators``.
    maintenance : pandas.DataFrame
        By site (unpooled): ``running_12m``, ``running_24m`` (1/0/NA), ``at_risk_6m``,
        ``retained_6m``, ``retention_6m``, ``at_risk_12m``, ``retained_12m``, ``retention_12m``.
    fiscal_year : int
    findings : tuple of Finding
        Programme-wide reach, recorded share and 6-month retention (no CI: descriptive).
    published : dict
        ``{"re_aim_reach": SuppressedTable, "re_aim_sites": SuppressedTable, "re_aim_adoption": DataFrame}``
        (the adoption table counts sites, not persons, and has nothing to mask).
    deviations : tuple of str
    """

    reach: pd.DataFrame
    adoption: pd.DataFrame
    implementation: pd.DataFrame = field(repr=False)
    maintenance: pd.DataFrame = field(repr=False)
    fiscal_year: int
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """The findings in the package's tidy columns (descriptive: no CI)."""
        return pd.DataFrame({"term": [f.name for f in self.findings],
                             "estimate": [f.estimate for f in self.findings], "std_error": np.nan,
                             "conf_low": np.nan, "conf_high": np.nan, "p_value": np.nan,
                             "n": [f.n for f in self.findings], "unit": [f.unit for f in self.findings]})

    def summary(self) -> str:
        """Programme-wide RE-AIM figures and deviations."""
        lines = [f"SOFT RE-AIM, FY{self.fiscal_year}: {len(self.implementation)} sites in "
                 f"{int((self.reach['initiators'] > 0).sum())} districts"]
        lines += [f"  {f.name:<30} {f.estimate:.4g}  n = {f.n}  {f.unit}" for f in self.findings]
        lines += _deviation_lines(self.deviations)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def _month(values: Any) -> np.ndarray:
    return pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[M]").astype(np.int64)


def soft_reaim(
    protocol: Any,
    tables: Mapping[str, pd.DataFrame],
    *,
    fiscal_year: int,
    planned_sites: Mapping[tuple[str, int], int] | None = None,
) -> SoftReaim:
    """Reach, adoption, implementation and maintenance of SOFT by site and district.

    Parameters
    ----------
    protocol : Protocol or str
    tables : mapping of str to pandas.DataFrame
        ``residents``, ``ltc_certifications``, claims (for the eligible population),
        ``soft_sites``, ``soft_attendance``. Not modified.
    fiscal_year : int
        Data up to March after the fiscal year; adoption from ``calendar.enrolment_start``'s fiscal
        year (or the first site's) to this one.
    planned_sites : mapping of (district, fiscal year) to int, optional
        Cumulative sites planned by the end of each fiscal year (the protocol has no key yet).

    Returns
    -------
    SoftReaim

    Raises
    ------
    DataValidationError
        A table or column is missing, or an attendance row names an unknown site.

    References
    ----------
    Glasgow RE, Vogt TM, Boles SM (1999). Evaluating the public health impact of health promotion
    interventions: the RE-AIM framework. *Am J Public Health* 89(9):1322–1327.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> r = soft_reaim("soft", make_municipality("tiny", seed=0).tables, fiscal_year=2025)
    >>> int(r.reach["eligible"].gt(0).sum()), "person_id" in r.published["re_aim_sites"].table.columns
    (12, False)
    """
    protocol = _protocol(protocol)
    p = protocol.get
    min_cell = int(p("reporting.min_cell"))
    end = _fiscal_year_end(fiscal_year)
    end_m = int(np.datetime64(end, "M").astype(np.int64))
    dev: list[str] = []
    for name, cols in (("soft_sites", ("site_id", "district", "start_date", "end_date")),
                       ("soft_attendance", ("person_id", "site_id", "session_date", "mode"))):
        if name not in tables or any(c not in tables[name].columns for c in cols):
            raise DataValidationError(f"soft_reaim: table {name!r} with columns {list(cols)} is required.")
    sites = tables["soft_sites"].copy()
    sites["site_id"] = sites["site_id"].astype(str)
    sites["district"] = sites["district"].astype(str)
    sites["open_m"] = _month(sites["start_date"])
    sites["close_m"] = np.where(sites["end_date"].isna(), np.iinfo(np.int64).max, _month(sites["end_date"]))
    sites = sites[sites["open_m"] <= end_m]
    att = tables["soft_attendance"]
    att = pd.DataFrame({"p": att["person_id"].astype(str).to_numpy(), "site": att["site_id"].astype(str).to_numpy(),
                        "m": _month(att["session_date"]), "date": pd.to_datetime(att["session_date"]).to_numpy(),
                        "recorded": (att["mode"].astype(str) == "recorded").to_numpy()})
    att = att[att["m"] <= end_m]
    unknown = sorted(set(att["site"]) - set(sites["site_id"]))
    if unknown:
        raise DataValidationError(f"soft_reaim: {int(att['site'].isin(unknown).sum())} attendance rows name sites "
                                  f"not in soft_sites (opened by FY{fiscal_year} end), e.g. {unknown[:3]}.")
    window = int(p("exposure.window_months"))
    min_s = int(p("exposure.min_sessions"))
    first = att.sort_values(["p", "date"]).drop_duplicates("p").set_index("p")
    person = pd.DataFrame({"site": first["site"], "first_m": first["m"]})
    sess_win = att.merge(person[["first_m"]], left_on="p", right_index=True)
    sess_win = sess_win[sess_win["m"] < sess_win["first_m"] + window].groupby("p").size()
    person["participant"] = (sess_win.reindex(person.index).fillna(0) >= min_s).astype(np.int64)
    person["district"] = person["site"].map(sites.set_index("site_id")["district"])
    # reach: eligible residents on the first day of the fiscal year's last month
    panel = district_month_panel(tables, start=f"{end:%Y-%m}", end=f"{end:%Y-%m}",
                                 min_age=int(p("population.min_age")))
    reach = panel[["district", "non_certified"]].rename(columns={"non_certified": "eligible"})
    by_d = person.groupby("district").agg(initiators=("site", "size"), participants=("participant", "sum"))
    reach = reach.merge(by_d, left_on="district", right_index=True, how="left").fillna({"initiators": 0,
                                                                                        "participants": 0})
    reach[["initiators", "participants"]] = reach[["initiators", "participants"]].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        reach["reach_initiators"] = reach["initiators"] / reach["eligible"].where(reach["eligible"] > 0)
        reach["reach_participants"] = reach["participants"] / reach["eligible"].where(reach["eligible"] > 0)
    reach = reach.reset_index(drop=True)
    dev.append("reach: the denominator is the eligible population at the fiscal year's last month, while the "
               "numerator counts every initiator since the first site opened (a cumulative reach)")
    # adoption by district and fiscal year
    fy_of = lambda m: (m + 1970 * 12 - 3) // 12  # noqa: E731 - fiscal year (April-March) of a month number
    first_fy = min(int(fy_of(sites["open_m"].min())) if len(sites) else fiscal_year, fiscal_year)
    years = list(range(first_fy, fiscal_year + 1))
    districts = sorted(reach["district"])
    sites["fy"] = fy_of(sites["open_m"])
    grid = pd.MultiIndex.from_product([districts, years], names=["district", "fiscal_year"])
    opened = sites.groupby(["district", "fy"]).size().reindex(grid, fill_value=0)
    adoption = opened.rename("sites_opened").reset_index()
    adoption["sites_cumulative"] = adoption.groupby("district")["sites_opened"].cumsum()
    plan = pd.Series(planned_sites or {}, dtype="float64")
    adoption["sites_planned"] = [plan.get((d, y), np.nan) for d, y in zip(adoption["district"],
                                                                        adoption["fiscal_year"], strict=True)]
    with np.errstate(invalid="ignore", divide="ignore"):
        adoption["adoption"] = adoption["sites_cumulative"] / adoption["sites_planned"].where(
            adoption["sites_planned"] > 0)
    if planned_sites is None:
        dev.append("adoption: no site plan given (the protocol has no key for it); sites_planned and adoption "
                   "are NA, sites opened are reported")
    # implementation by site
    pm = att.groupby(["site", "p", "m"]).size().reset_index(name="n")
    impl = pd.DataFrame({"site_id": sites["site_id"].to_numpy(), "district": sites["district"].to_numpy(),
                         "open_m": sites["open_m"].to_numpy(), "close_m": sites["close_m"].to_numpy()})
    impl = impl.set_index("site_id")
    impl["initiators"] = person.groupby("site").size().reindex(impl.index, fill_value=0)
    impl["participants"] = person.groupby("site")["participant"].sum().reindex(impl.index, fill_value=0)
    impl["sessions"] = att.groupby("site").size().reindex(impl.index, fill_value=0)
    impl["participant_months"] = pm.groupby("site").size().reindex(impl.index, fill_value=0)
    impl["recorded_sessions"] = att.groupby("site")["recorded"].sum().reindex(impl.index, fill_value=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        impl["sessions_per_participant_month"] = impl["sessions"] / impl["participant_months"].where(
            impl["participant_months"] > 0)
        impl["recorded_share"] = impl["recorded_sessions"] / impl["sessions"].where(impl["sessions"] > 0)
        impl["participant_share"] = impl["participants"] / impl["initiators"].where(impl["initiators"] > 0)
    tenth = person.assign(_m=person["first_m"]).sort_values("_m").groupby("site")["_m"].apply(
        lambda s: s.iloc[9] if len(s) >= 10 else np.nan)
    impl["months_to_10_initiators"] = (tenth.reindex(impl.index) - impl["open_m"]).astype("float64")
    # maintenance by site
    maint = impl[["district", "open_m", "close_m", "initiators"]].copy()
    for k in (12, 24):
        due = maint["open_m"] + k <= end_m
        run = (maint["close_m"] >= maint["open_m"] + k).astype("float64")
        maint[f"running_{k}m"] = run.where(due)
    gap = int(p("sensitivity.per_protocol.stop_gap_months"))
    months_by_p = pm.groupby("p")["m"].apply(lambda s: set(s.tolist()))
    for k in (6, 12):
        due = person["first_m"] + k + gap - 1 <= end_m
        kept = [any((f + k + j) in months_by_p[pid] for j in range(gap))
                for pid, f in zip(person.index, person["first_m"], strict=True)]
        person[f"due_{k}"] = due.astype(np.int64)
        person[f"kept_{k}"] = (np.asarray(kept) & due.to_numpy()).astype(np.int64)
        maint[f"at_risk_{k}m"] = person.groupby("site")[f"due_{k}"].sum().reindex(maint.index, fill_value=0)
        maint[f"retained_{k}m"] = person.groupby("site")[f"kept_{k}"].sum().reindex(maint.index, fill_value=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            maint[f"retention_{k}m"] = maint[f"retained_{k}m"] / maint[f"at_risk_{k}m"].where(
                maint[f"at_risk_{k}m"] > 0)
    impl = impl.drop(columns=["open_m", "close_m"]).reset_index()
    maint = maint.drop(columns=["open_m", "close_m"]).reset_index()
    # published: sites with < min_cell initiators pooled
    small = set(impl.loc[impl["initiators"] < min_cell, "site_id"])
    label = f"sites with < {min_cell} initiators"
    site_tab = impl.merge(maint[["site_id", "at_risk_6m", "retained_6m", "at_risk_12m", "retained_12m"]],
                          on="site_id")
    site_tab["site"] = np.where(site_tab["site_id"].isin(small), label, site_tab["site_id"])
    counts = ["initiators", "participants", "sessions", "participant_months", "recorded_sessions", "at_risk_6m",
              "retained_6m", "at_risk_12m", "retained_12m"]
    pooled = site_tab.groupby("site", sort=True)[counts].sum().reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled["sessions_per_participant_month"] = pooled["sessions"] / pooled["participant_months"].where(
            pooled["participant_months"] > 0)
        pooled["recorded_share"] = pooled["recorded_sessions"] / pooled["sessions"].where(pooled["sessions"] > 0)
        pooled["participant_share"] = pooled["participants"] / pooled["initiators"].where(pooled["initiators"] > 0)
        pooled["retention_6m"] = pooled["retained_6m"] / pooled["at_risk_6m"].where(pooled["at_risk_6m"] > 0)
        pooled["retention_12m"] = pooled["retained_12m"] / pooled["at_risk_12m"].where(pooled["at_risk_12m"] > 0)
    published = {
        "re_aim_reach": _suppress(reach, protocol, count_columns=["eligible", "initiators", "participants"],
                                  group_columns=["district"],
                                  rate_columns={"reach_initiators": ("initiators", "eligible"),
                                                "reach_participants": ("participants", "eligible")}),
        # site counts are not person counts (soft_sites holds no personal data; suppress_small_cells refuses a
        # table without person counts): published as it is
        "re_aim_adoption": adoption[["district", "fiscal_year", "sites_opened", "sites_cumulative",
                                     "sites_planned"]].copy(),
        "re_aim_sites": _suppress(pooled, protocol, count_columns=counts, group_columns=["site"],
                                  rate_columns={"sessions_per_participant_month": (None, "participant_months"),
                                                "recorded_share": ("recorded_sessions", "sessions"),
                                                "participant_share": ("participants", "initiators"),
                                                "retention_6m": ("retained_6m", "at_risk_6m"),
                                                "retention_12m": ("retained_12m", "at_risk_12m")}),
    }
    n_init = int(len(person))
    tot = impl[["sessions", "recorded_sessions"]].sum()
    r6 = maint[["at_risk_6m", "retained_6m"]].sum()
    elig = int(reach["eligible"].sum())
    findings = (
        Finding("reaim_reach_participants", float(reach["participants"].sum() / elig) if elig else np.nan,
                np.nan, np.nan, elig, unit="proportion",
                description="participants (>= the protocol's sessions in the first months) since the first site "
                            "opened, per eligible resident 65+ at the end of the fiscal year (all districts)"),
        Finding("reaim_recorded_share", float(tot["recorded_sessions"] / tot["sessions"]) if tot["sessions"] else
                np.nan, np.nan, np.nan, int(tot["sessions"]), unit="proportion",
                description="share of sessions attended from the recording (n = sessions)"),
        Finding("reaim_retention_6m", float(r6["retained_6m"] / r6["at_risk_6m"]) if r6["at_risk_6m"] else np.nan,
                np.nan, np.nan, int(r6["at_risk_6m"]), unit="proportion",
                description=f"initiators with a session in the {gap} months starting 6 months after their first "
                            "session month (n = initiators followed that long)"),
    )
    if n_init == 0:
        dev.append("no SOFT attendance up to the end of the fiscal year")
    return SoftReaim(reach=reach, adoption=adoption, implementation=impl, maintenance=maint,
                     fiscal_year=int(fiscal_year), findings=findings, published=published, deviations=tuple(dev))
