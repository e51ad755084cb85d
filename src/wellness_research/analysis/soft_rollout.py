"""SOFT protocol, second design: the staggered opening of SOFT sites across districts (issue #6).

:func:`soft_rollout` builds a district × month panel of the whole population aged 65+
(:func:`district_month_panel`) and estimates, with Callaway & Sant'Anna (2021) group-time ATTs and
not-yet-treated districts as the comparison, the effect of a district's *first SOFT site opening*
on two outcomes:

* ``cert_rate``: new LTC certifications (an application, level other than 非該当, by a resident
  who held no valid certification on the first day of the month) per 1,000 non-certified
  residents aged 65+ per month;
* ``cost_month``: LTC + medical cost (費用額 incl. copay, DOMAIN.md §1.2) per resident aged 65+ per
  month (yen per resident-month; certified residents included: the whole population).

What it estimates
-----------------
An **intention-to-treat effect of site availability on the whole district population**, not the
effect on participants: only a small share of a district's residents aged 65+ ever join, so the
district-level effect is the participant effect diluted by uptake (roughly: participant effect ×
participants' share of the district's resident-months). It needs none of the participant-level
covariates and no model of who joins, which is why the protocol keeps it as the second design.

**Inference is fragile.** There are 12 districts (日常生活圏域), hence at most 12 clusters and a
handful of treated cohorts: the multiplier bootstrap of the protocol (Rademacher weights over
districts) is the best that can be done, but confidence intervals from 12 clusters are
approximate and the event-study covariance has rank at most 11. HonestDiD is therefore run on the
event study coarsened to ``honest_bin_months``-month bins (a deviation, listed on the result).

Synthetic truth
---------------
On synthetic data the implied truth of ``cert_rate`` is derived from the participants' potential
outcomes (``truth.potential_outcomes``, programme ``"soft"``): in each district-month the
certifications with SOFT minus without it, per 1,000 non-certified residents, aggregated over the
same ATT(g, t) cells and with the same cohort weights as the estimate (participant effect ×
participation share, exactly, except that the denominator is the observed one). For
``cost_month`` no exact truth exists: the potential outcomes hold each participant's 36-month cost
*total* with and without SOFT, not its monthly course, so the truth of a district-month is not
defined; the result reports the order of magnitude ``soft_att_cost_month`` × participants' share
of post-opening resident-months instead (``implied_cost_scale``), and the finding's ``truth`` is
None.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from wellness_research.analysis.findings import Finding
from wellness_research.analysis.soft import (
    _deviation_lines,
    _finding_lines,
    _findings_tidy,
    _fiscal_year_end,
    _html,
    _protocol,
    _seed,
    _suppress,
)
from wellness_research.errors import ConfigurationError, DataValidationError

__all__ = ["SoftRollout", "district_month_panel", "event_time_covariance", "soft_rollout"]

_NOT_CERTIFIED = "非該当"
_OUTCOMES = {"cert_rate": ("staggered_att_certification_rate", "certifications per 1,000 non-certified residents "
                                                                  "65+ per month"),
             "cost_month": ("staggered_att_cost_month", "yen per resident-month")}


# --------------------------------------------------------------------------------------------
# the district x month panel
# --------------------------------------------------------------------------------------------
def _month_index(values: Any, origin: np.datetime64) -> np.ndarray:
    """Calendar month of each date relative to ``origin`` (NaT -> a large sentinel)."""
    v = pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[M]")
    out = (v - origin).astype(np.int64)
    out[np.isnat(v)] = 10**6
    return out


def _person_codes(ids: pd.Series, categories: pd.Index) -> np.ndarray:
    if isinstance(ids.dtype, pd.CategoricalDtype) and ids.cat.categories.equals(categories):
        return ids.cat.codes.to_numpy().astype(np.int64)
    return categories.get_indexer(ids.astype(str)).astype(np.int64)


def _require(tables: Mapping[str, pd.DataFrame], name: str, columns: Sequence[str]) -> pd.DataFrame:
    if name not in tables:
        raise DataValidationError(f"district_month_panel: table {name!r} is missing (have {sorted(tables)}).")
    t = tables[name]
    miss = [c for c in columns if c not in t.columns]
    if miss:
        raise DataValidationError(f"district_month_panel: table {name!r} ({len(t)} rows) lacks column(s) {miss}.")
    return t


def district_month_panel(
    tables: Mapping[str, pd.DataFrame],
    *,
    start: str,
    end: str,
    min_age: int = 65,
) -> pd.DataFrame:
    """District × month panel of the population aged ``min_age``+: certifications, costs, first site.

    A resident counts in month ``m`` of their district when, on its first day, they are aged
    ``min_age`` or over (months since the birth month ≥ 12 × ``min_age``), registered (moved in on or
    before it, not moved out before it) and alive. ``non_certified``: those without a valid
    certification (level other than 非該当) covering the first day. ``new_certifications``: persons
    among the non-certified who applied for a certification (level other than 非該当) in the month.
    ``cost_yen``: LTC + medical ``cost_yen`` of the month's claims of the counted residents.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        ``residents``, ``ltc_certifications``, ``ltc_claims``, ``medical_claims``, ``soft_sites``.
        Not modified.
    start, end : str
        First and last month, ``"YYYY-MM"``.
    min_age : int, default 65

    Returns
    -------
    pandas.DataFrame
        One row per district and month: ``district``, ``month`` (1 = ``start``), ``month_date``,
        ``residents``, ``non_certified``, ``new_certifications``, ``cost_yen``, ``cert_rate``
        (per 1,000 non-certified), ``cost_month`` (yen per resident), ``cohort`` (the ``month`` of
        the district's first site opening; 0 when none opens by ``end``; negative or 0-based months
        before ``start`` are kept as they are) and ``cohort_date``.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> p = district_month_panel(make_municipality("tiny", seed=0).tables, start="2019-04", end="2026-03")
    >>> p.shape, int(p.groupby("district", observed=True).size().max())
    ((1008, 11), 84)
    """
    try:
        origin = np.datetime64(pd.Timestamp(start), "M")
        last = int((np.datetime64(pd.Timestamp(end), "M") - origin).astype(np.int64))
    except (ValueError, TypeError) as err:
        raise ConfigurationError(f"district_month_panel: start={start!r}, end={end!r} must be months such as "
                                 f"'2019-04' ({err}).") from err
    if last < 0:
        raise ConfigurationError(f"district_month_panel: end={end!r} is before start={start!r}.")
    n_m = last + 1
    res = _require(tables, "residents", ("person_id", "birth_month", "district", "move_in_date", "move_out_date",
                                         "death_date"))
    cats = pd.Index(res["person_id"].astype(str).unique()) if not isinstance(res["person_id"].dtype,
                                                                             pd.CategoricalDtype) \
        else res["person_id"].cat.categories
    n = len(cats)
    code = _person_codes(res["person_id"], cats)
    dist_values = res["district"].astype(str)
    districts = np.array(sorted(dist_values.unique()))
    n_d = len(districts)
    district = np.full(n, -1, np.int64)
    district[code] = np.searchsorted(districts, dist_values.to_numpy())
    birth = np.full(n, 10**6, np.int64)
    birth[code] = _month_index(res["birth_month"], origin)
    move_in = pd.to_datetime(res["move_in_date"])
    mi = _month_index(move_in, origin)
    mi = np.where(move_in.isna().to_numpy(), -(10**6), mi + (move_in.dt.day.fillna(1).to_numpy() > 1))
    first = np.full(n, 10**6, np.int64)
    first[code] = np.maximum(np.maximum(birth[code] + 12 * int(min_age), mi), 0)
    lastm = np.full(n, -1, np.int64)
    lastm[code] = np.minimum(np.minimum(_month_index(res["move_out_date"], origin),
                                        _month_index(res["death_date"], origin)), last)
    ok = (first <= lastm) & (district >= 0)
    diff = np.zeros((n_d, n_m + 1), np.int64)
    np.add.at(diff, (district[ok], first[ok]), 1)
    np.add.at(diff, (district[ok], lastm[ok] + 1), -1)
    residents = np.cumsum(diff, axis=1)[:, :n_m]

    def eligible(p: np.ndarray, m: np.ndarray) -> np.ndarray:
        return (p >= 0) & (m >= 0) & (m <= last) & (m >= first[np.maximum(p, 0)]) & (m <= lastm[np.maximum(p, 0)])

    cert = _require(tables, "ltc_certifications", ("person_id", "application_date", "level", "valid_from",
                                                  "valid_to"))
    cert = cert[cert["level"].astype(str) != _NOT_CERTIFIED]
    cp = _person_codes(cert["person_id"], cats)
    vfrom = pd.to_datetime(cert["valid_from"])
    m_from = _month_index(vfrom, origin) + (vfrom.dt.day.to_numpy() > 1)
    m_to = _month_index(cert["valid_to"], origin)
    m_from, m_to = np.maximum(m_from, 0), np.minimum(m_to, last)
    length = np.maximum(m_to - m_from + 1, 0)
    rp = np.repeat(cp, length)
    rm = np.repeat(m_from, length) + (np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length))
    keys = np.unique(rp * n_m + rm)
    kp, km = keys // n_m, keys % n_m
    e = eligible(kp, km)
    certified = np.bincount(district[kp[e]] * n_m + km[e], minlength=n_d * n_m).reshape(n_d, n_m)
    app_m = _month_index(cert["application_date"], origin)
    akeys = np.unique(cp * n_m + np.clip(app_m, -1, n_m))
    ap, am = akeys // n_m, akeys % n_m
    valid = (akeys >= 0) & eligible(ap, am) & ~np.isin(akeys, keys)
    new = np.bincount(district[ap[valid]] * n_m + am[valid], minlength=n_d * n_m).reshape(n_d, n_m)
    cost = np.zeros(n_d * n_m)
    for name in ("ltc_claims", "medical_claims"):
        cl = _require(tables, name, ("person_id", "service_month", "cost_yen"))
        p = _person_codes(cl["person_id"], cats)
        m = _month_index(cl["service_month"], origin)
        e = eligible(p, m)
        cost += np.bincount(district[p[e]] * n_m + m[e], weights=cl["cost_yen"].to_numpy(dtype=float)[e],
                            minlength=n_d * n_m)
    cost = cost.reshape(n_d, n_m)
    sites = _require(tables, "soft_sites", ("site_id", "district", "start_date"))
    first_site = pd.to_datetime(sites["start_date"]).groupby(sites["district"].astype(str)).min()
    months = pd.date_range(pd.Timestamp(start), periods=n_m, freq="MS")
    out = pd.DataFrame({"district": np.repeat(districts, n_m), "month": np.tile(np.arange(1, n_m + 1), n_d),
                        "month_date": np.tile(months, n_d), "residents": residents.ravel(),
                        "non_certified": (residents - certified).ravel(), "new_certifications": new.ravel(),
                        "cost_yen": cost.ravel()})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["cert_rate"] = 1000.0 * out["new_certifications"] / out["non_certified"]
        out["cost_month"] = out["cost_yen"] / out["residents"]
    cd = first_site.reindex(districts)
    cm = _month_index(cd, origin) + 1
    cohort = np.where(cd.isna().to_numpy() | (cm > n_m), 0, cm)
    out["cohort"] = np.repeat(cohort.astype(np.int64), n_m)
    out["cohort_date"] = np.repeat(cd.where(cohort != 0).to_numpy(), n_m)
    return out


# --------------------------------------------------------------------------------------------
# event-time influence functions of the dynamic aggregation
# --------------------------------------------------------------------------------------------
def event_time_covariance(gt: Any, event_times: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dynamic-aggregation estimates, their influence functions and covariance for given event times.

    Reproduces R ``did::aggte(type = "dynamic")`` (and ``GroupTimeResult.aggregate("dynamic")``):
    for each ``e`` the ATT(g, t) with ``t − g = e`` weighted by the cohort shares, with the
    influence of the estimated shares added; the covariance is the cluster-summed outer product of
    the influence functions over ``n_units²`` (what HonestDiD's Callaway–Sant'Anna recipe uses).

    Parameters
    ----------
    gt : GroupTimeResult
    event_times : sequence of int

    Returns
    -------
    estimates : numpy.ndarray
        One per event time (NaN when no ATT(g, t) is estimable there).
    influence : numpy.ndarray
        ``n_units × len(event_times)``.
    covariance : numpy.ndarray

    References
    ----------
    Callaway & Sant'Anna (2021), eqs. (3.5)-(3.6); Rambachan & Roth (2023), online appendix
    (applying HonestDiD to staggered designs).
    """
    ok = np.isfinite(gt.estimates)
    g_all, t_all, att = gt.groups[ok], gt.times[ok], gt.estimates[ok]
    ok_idx = np.flatnonzero(ok)
    infl = gt.influence
    w_ind, G = gt.unit_weights, gt.unit_cohort
    glist = np.unique(gt.groups)
    pg_g = np.array([np.mean(w_ind * (G == g)) for g in glist])
    pg = pg_g[np.searchsorted(glist, g_all)]
    gpos = np.searchsorted(glist, G)
    gpos = np.where((gpos < len(glist)) & (glist[np.minimum(gpos, len(glist) - 1)] == G), gpos, -1)
    n = gt.n_units
    ests, ifs = [], []
    for e in event_times:
        c = np.flatnonzero((t_all - g_all) == e)
        if c.size == 0:
            ests.append(np.nan)
            ifs.append(np.zeros(n))
            continue
        pk = pg[c]
        spk = pk.sum()
        w_c = pk / spk
        ests.append(float(np.sum(att[c] * w_c)))
        v = infl[:, ok_idx[c]] @ w_c
        gk = np.searchsorted(glist, g_all[c])
        a_by_g = np.bincount(gk, weights=att[c], minlength=len(glist))
        c_by_g = np.bincount(gk, minlength=len(glist)).astype(float)
        a_i = np.where(gpos >= 0, a_by_g[np.maximum(gpos, 0)], 0.0)
        c_i = np.where(gpos >= 0, c_by_g[np.maximum(gpos, 0)], 0.0)
        pa = float(np.sum(pk * att[c]))
        v = v + (w_ind * a_i - pa) / spk - (w_ind * c_i - spk) * pa / spk**2
        ifs.append(v)
    inf = np.column_stack(ifs) if ifs else np.zeros((n, 0))
    s = inf
    if gt.unit_cluster is not None:
        cl = np.asarray(gt.unit_cluster)
        _, inv = np.unique(cl, return_inverse=True)
        s = np.zeros((int(inv.max()) + 1, inf.shape[1]))
        np.add.at(s, inv, inf)
    return np.asarray(ests), inf, (s.T @ s) / n**2


def _binned(est: np.ndarray, cov: np.ndarray, event_times: np.ndarray, width: int,
            window: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, int, int, list[str]]:
    """Event study coarsened to ``width``-month bins, re-normalised to the bin ending at e = -1."""
    lo, hi = window
    pre_edges = list(range(-width, lo - 1, -width))  # bin starts: -w, -2w, ...
    pre_bins = [(s, s + width - 1) for s in pre_edges if s >= lo]
    ref = pre_bins[0]
    pre_bins = pre_bins[1:][::-1]
    post_bins = [(s, min(s + width - 1, hi)) for s in range(0, hi + 1, width)]
    if len(post_bins) > 1 and post_bins[-1][1] - post_bins[-1][0] + 1 < width:
        a, _ = post_bins[-2]
        post_bins = [*post_bins[:-2], (a, hi)]  # a short last bin joins the one before
    et = np.asarray(event_times)

    def row(b: tuple[int, int]) -> np.ndarray:
        sel = (et >= b[0]) & (et <= b[1])
        r = np.zeros(len(et))
        r[sel] = 1.0 / sel.sum()
        return r

    r_ref = row(ref)
    L = np.vstack([row(b) - r_ref for b in [*pre_bins, *post_bins]])
    labels = [f"{a}..{b}" for a, b in [*pre_bins, *post_bins]]
    return L @ est, L @ cov @ L.T, len(pre_bins), len(post_bins), labels


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SoftRollout:
    """The staggered site-opening design: panel, group-time ATTs, event studies, HonestDiD.

    Attributes
    ----------
    panel : pandas.DataFrame
        :func:`district_month_panel` (district-level aggregates only; no person ids).
    group_time : dict
        Outcome (``"cert_rate"``, ``"cost_month"``) -> :class:`~wellness_research.did.GroupTimeResult`.
    event_study : dict
        Outcome -> dynamic :class:`~wellness_research.did.AggregateResult` over the event window
        (the event-study plot: ``event_study["cost_month"].plot()``).
    overall : dict
        Outcome -> :class:`~wellness_research.did.AggregateResult` of kind ``"simple"`` (the overall
        ATT over post-opening cells within the window's upper end, weighted by cohort size).
    honest : dict
        Outcome -> :class:`~wellness_research.did.HonestResult` (relative magnitudes) or None.
    truth : dict
        Outcome -> implied sample truth of the finding (None when not defined, see the module notes).
    implied_cost_scale : float or None
        ``soft_att_cost_month`` × participants' share of post-opening resident-months.
    n_districts, n_treated_districts : int
    findings : tuple of Finding
    published : dict
        ``{"staggered": SuppressedTable, "staggered_event_study": SuppressedTable,
        "staggered_honest": SuppressedTable}``.
    deviations : tuple of str
    notes : tuple of str
        Warnings raised by the estimators (small cohorts, excluded districts), in words.
    """

    panel: pd.DataFrame = field(repr=False)
    group_time: dict[str, Any] = field(repr=False)
    event_study: dict[str, Any] = field(repr=False)
    overall: dict[str, Any] = field(repr=False)
    honest: dict[str, Any] = field(repr=False)
    truth: dict[str, float | None]
    implied_cost_scale: float | None
    n_districts: int
    n_treated_districts: int
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row per finding (term = finding name), with ``truth`` and ``unit``."""
        return _findings_tidy(self.findings)

    def summary(self) -> str:
        """Findings, the dilution and fragility caveats, HonestDiD breakdown values and deviations."""
        lines = [f"SOFT site roll-out (Callaway–Sant'Anna, not-yet-treated districts): {self.n_districts} districts, "
                 f"{self.n_treated_districts} with a site opening in the panel",
                 *_finding_lines(self.findings),
                 "  This is an intention-to-treat effect of site availability on every resident aged 65+ of the "
                 "district, diluted by uptake; it is not the effect on participants.",
                 f"  Inference rests on {self.n_districts} districts (clusters): intervals are approximate and can "
                 "be too narrow; read them as a check on the participant-level design, not as its replacement."]
        if self.implied_cost_scale is not None:
            lines.append(f"  implied scale of the cost effect (participant effect × participation share): "
                         f"{self.implied_cost_scale:.4g} yen per resident-month")
        for k, h in self.honest.items():
            if h is not None:
                b = h.breakdown
                lines.append(f"  HonestDiD ({k}, average post effect): breakdown M̄ = "
                             + ("none (the set at the smallest M̄ contains 0)" if b is None else f"{b:g}"))
        lines += _deviation_lines(self.deviations)
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


# --------------------------------------------------------------------------------------------
# truth
# --------------------------------------------------------------------------------------------
def _cert_truth_cells(truth: Any, tables: Mapping[str, pd.DataFrame], panel: pd.DataFrame,
                      origin: np.datetime64) -> pd.Series:
    """Per (district, month): 1000 × (certifications with SOFT − without) / non-certified."""
    po = truth.potential_outcomes
    po = po[po["programme"] == "soft"]
    res = tables["residents"]
    dist = pd.Series(res["district"].astype(str).to_numpy(), index=res["person_id"].astype(str).to_numpy())
    d = dist.reindex(po["person_id"].astype(str)).to_numpy()
    n_m = int(panel["month"].max())
    delta = pd.Series(0.0, index=pd.MultiIndex.from_frame(panel[["district", "month"]]))
    for col, sign in (("cert_month_treated", 1.0), ("cert_month_untreated", -1.0)):
        m = _month_index(po[col], origin) + 1
        keep = (m >= 1) & (m <= n_m) & pd.notna(d)
        add = pd.Series(sign, index=pd.MultiIndex.from_arrays([d[keep], m[keep]])).groupby(level=[0, 1]).sum()
        delta = delta.add(add.reindex(delta.index).fillna(0.0), fill_value=0.0)
    denom = panel.set_index(["district", "month"])["non_certified"].astype(float)
    return 1000.0 * delta / denom


def _aggregate_truth(gt: Any, panel: pd.DataFrame, cells: pd.Series, event_times: Sequence[int]) -> float:
    """The dynamic aggregation (post event times, cohort-share weights) of the true ATT(g, t)."""
    ok = np.isfinite(gt.estimates)
    unit_of = pd.Series(np.asarray(gt.unit_cohort), index=np.asarray(gt.unit_ids))
    w = pd.Series(np.asarray(gt.unit_weights), index=np.asarray(gt.unit_ids))
    glist = np.unique(gt.groups)
    pg_g = {g: float(np.mean(np.asarray(gt.unit_weights) * (np.asarray(gt.unit_cohort) == g))) for g in glist}
    vals = []
    for e in event_times:
        sel = np.flatnonzero(ok & ((gt.times - gt.groups) == e))
        if sel.size == 0:
            continue
        num = den = 0.0
        for k in sel:
            g, t = gt.groups[k], gt.times[k]
            units = unit_of.index[unit_of.to_numpy() == g]
            att_gt_true = float(np.average([cells.get((u, int(t)), 0.0) for u in units], weights=w[units]))
            num += pg_g[g] * att_gt_true
            den += pg_g[g]
        vals.append(num / den)
    return float(np.mean(vals)) if vals else math.nan


def _cost_scale(truth: Any, tables: Mapping[str, pd.DataFrame], panel: pd.DataFrame,
                origin: np.datetime64) -> float | None:
    po = truth.potential_outcomes
    po = po[po["programme"] == "soft"]
    eff = truth.estimands.get("soft_att_cost_month") if hasattr(truth.estimands, "get") else None
    if eff is None or len(po) == 0:
        return None
    post = panel[(panel["cohort"] > 0) & (panel["month"] >= panel["cohort"])]
    if post["residents"].sum() <= 0:
        return None
    res = tables["residents"]
    dist = pd.Series(res["district"].astype(str).to_numpy(), index=res["person_id"].astype(str).to_numpy())
    d = dist.reindex(po["person_id"].astype(str)).to_numpy()
    start = _month_index(po["index_month"], origin) + 1
    months = po["months_treated"].to_numpy(dtype=float)
    n_m = int(panel["month"].max())
    pm = 0.0
    cohort = panel.groupby("district")["cohort"].first()
    for di, s, k in zip(d, start, months, strict=True):
        if pd.isna(di) or di not in cohort.index or cohort[di] <= 0:
            continue
        a, b = max(s, int(cohort[di])), min(s + int(k) - 1, n_m)
        pm += max(b - a + 1, 0)
    return float(eff) * pm / float(post["residents"].sum())


def _event_time_residents(panel: pd.DataFrame, event_times: np.ndarray) -> np.ndarray:
    """Resident-months of the districts opened ``e`` months earlier (0 for never-opened districts)."""
    d = panel[panel["cohort"] > 0]
    by_e = d.assign(e=d["month"] - d["cohort"]).groupby("e")["residents"].sum()
    return by_e.reindex(np.asarray(event_times)).fillna(0).to_numpy(dtype=np.int64)


# --------------------------------------------------------------------------------------------
# step
# --------------------------------------------------------------------------------------------
def soft_rollout(
    protocol: Any,
    tables: Mapping[str, pd.DataFrame],
    *,
    fiscal_year: int,
    truth: Any = None,
    seed: int | np.random.Generator | None = None,
    n_boot: int | None = None,
    honest_bin_months: int | None = None,
    outcomes: Sequence[str] | None = None,
    run_honest: bool = True,
) -> SoftRollout:
    """The staggered opening of SOFT sites as a second design (protocol ``analyses.staggered``).

    Parameters
    ----------
    protocol : Protocol or str
    tables : mapping of str to pandas.DataFrame
        The municipality's tables (residents, certifications, claims, soft_sites). Not modified.
    fiscal_year : int
        The panel runs from ``calendar.data_start`` to March after the fiscal year.
    truth : GroundTruth, optional
        On synthetic data: the implied truth of the certification-rate finding.
    seed : int, numpy.random.Generator or None
        Multiplier bootstrap; None: ``seeds.bootstrap``.
    n_boot : int, optional
        Bootstrap draws; None: ``analyses.staggered.n_boot``. Keep it small in tests.
    honest_bin_months : int, optional
        Width of the event-time bins HonestDiD is run on (see the module notes); None:
        ``analyses.honest_did.bin_months``.
    outcomes : sequence of {"cert_rate", "cost_month"}, optional
        None: ``analyses.staggered.outcomes``.
    run_honest : bool, default True
        False skips HonestDiD (a few seconds per outcome; for quick looks and examples) and lists it
        in ``deviations``.

    Returns
    -------
    SoftRollout

    Raises
    ------
    ConfigurationError
        An unknown outcome, a bad ``honest_bin_months`` or a protocol unit other than ``district``.
    DataValidationError
        A table or column is missing, or no district has a site opening inside the panel.

    References
    ----------
    Callaway B, Sant'Anna PHC (2021). Difference-in-differences with multiple time periods.
    *J Econometrics* 225(2):200–230 (eq. 2.7, not-yet-treated comparison; Section 3 aggregations).
    Rambachan A, Roth J (2023). A more credible approach to parallel trends. *Rev Econ Stud*
    90(5):2555–2591 (Δ^RM, Section 2.4.2). Cameron AC, Gelbach JB, Miller DL (2008). Bootstrap-based
    improvements for inference with clustered errors. *Rev Econ Stat* 90(3):414–427 (few clusters).

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> r = soft_rollout("soft", make_municipality("tiny", seed=0).tables, fiscal_year=2025, n_boot=49,
    ...                  outcomes=("cert_rate",), run_honest=False)
    >>> [f.name for f in r.findings], r.n_districts
    (['staggered_att_certification_rate'], 12)
    """
    from wellness_research.did import att_gt, honest_did

    protocol = _protocol(protocol)
    p = protocol.get
    outcomes = tuple(p("analyses.staggered.outcomes") if outcomes is None else outcomes)
    honest_bin_months = int(p("analyses.honest_did.bin_months")) if honest_bin_months is None else honest_bin_months
    bad = [o for o in outcomes if o not in _OUTCOMES]
    if bad or not outcomes:
        raise ConfigurationError(f"soft_rollout: outcomes={list(outcomes)!r} is not valid; use a non-empty subset of "
                                 f"{sorted(_OUTCOMES)}.")
    if isinstance(honest_bin_months, bool) or not isinstance(honest_bin_months, (int, np.integer)) \
            or honest_bin_months < 1:
        raise ConfigurationError(f"soft_rollout: honest_bin_months={honest_bin_months!r} is not valid; use an "
                                 "integer >= 1.")
    st = "analyses.staggered"
    if p(f"{st}.unit") != "district" or p(f"{st}.time") != "month":
        raise ConfigurationError(f"soft_rollout: {st}.unit={p(f'{st}.unit')!r}, time={p(f'{st}.time')!r}; only "
                                 "district x month is implemented.")
    dev: list[str] = []
    if p(f"{st}.cohort") != "first_site_opening":
        raise ConfigurationError(f"soft_rollout: {st}.cohort={p(f'{st}.cohort')!r}; only 'first_site_opening' is "
                                 "implemented.")
    end = _fiscal_year_end(fiscal_year)
    start = str(p("calendar.data_start"))
    panel = district_month_panel(tables, start=start, end=f"{end:%Y-%m}", min_age=int(p("population.min_age")))
    origin = np.datetime64(pd.Timestamp(start), "M")
    treated = panel.groupby("district")["cohort"].first()
    if not (treated > 1).any():
        raise DataValidationError(f"soft_rollout: no district has its first site opening inside the panel "
                                  f"({start} to {end:%Y-%m}); first openings by district: "
                                  f"{treated[treated != 0].to_dict() or 'none'}.")
    window = tuple(int(v) for v in p(f"{st}.event_window"))
    alpha = float(p("analyses.alpha"))
    nb = int(p(f"{st}.n_boot")) if n_boot is None else int(n_boot)
    rng = np.random.default_rng(_seed(seed, protocol, "bootstrap"))
    cluster = None if p(f"{st}.cluster") == p(f"{st}.unit") else str(p(f"{st}.cluster"))
    if cluster is not None:
        raise ConfigurationError(f"soft_rollout: {st}.cluster={cluster!r}; only clustering on the unit (district) "
                                 "is possible in a district panel.")
    dev.append(f"sites that closed ({st}: treatment = first site opening) are kept as treated: the design "
               "assumes that a district, once it has had a site, stays treated (intention to treat)")
    n_empty = int((panel["non_certified"] == 0).sum())
    if n_empty:
        dev.append(f"{n_empty} district-months have no non-certified resident 65+; their certification rate is "
                   "missing and att_gt leaves them out")
    gts: dict[str, Any] = {}
    ess: dict[str, Any] = {}
    overall: dict[str, Any] = {}
    honest: dict[str, Any] = {}
    truths: dict[str, float | None] = {}
    notes: list[str] = []
    findings: list[Finding] = []
    es_rows: list[pd.DataFrame] = []
    hon_rows: list[pd.DataFrame] = []
    data = panel.assign(_unit=panel["district"].astype(str))
    m_bar = [float(x) for x in p("analyses.honest_did.m_bar")]
    for outcome in outcomes:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gt = att_gt(data, outcome=outcome, unit="_unit", time="month", cohort="cohort",
                        control_group=str(p(f"{st}.control_group")), est_method=str(p(f"{st}.est_method")),
                        base_period=str(p(f"{st}.base_period")), alpha=alpha, bootstrap=True, n_boot=nb,
                        boot_weights=str(p(f"{st}.boot_weights")), seed=rng)
            es = gt.aggregate("dynamic", min_e=window[0], max_e=window[1])
            ov = gt.aggregate("simple", max_e=window[1])
        notes += sorted({f"{outcome}: {type(w.message).__name__}: {str(w.message).splitlines()[0]}" for w in caught})
        gts[outcome], ess[outcome], overall[outcome] = gt, es, ov
        # HonestDiD on the binned event study (rank of a 12-cluster covariance)
        et = np.arange(window[0], window[1] + 1)
        est, _, cov = event_time_covariance(gt, et)
        keep = np.isfinite(est)
        est_b, cov_b, n_pre, n_post, labels = _binned(np.where(keep, est, 0.0), cov, et, int(honest_bin_months),
                                                     window)
        h = None
        if not run_honest:
            dev.append(f"analyses.honest_did for {outcome}: not run (run_honest=False)")
        elif n_pre >= 1 and n_post >= 1 and np.all(np.isfinite(est_b)) and np.linalg.matrix_rank(cov_b) == len(est_b):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                h = honest_did(est_b, cov_b, num_pre=n_pre, num_post=n_post,
                               method=str(p("analyses.honest_did.method")), m_values=m_bar,
                               target=str(p("analyses.honest_did.target")), alpha=alpha, seed=0)
            notes += sorted({f"{outcome} HonestDiD: {str(w.message).splitlines()[0]}" for w in caught})
            t = h.tidy(include_original=True)[["term", "m", "conf_low", "conf_high"]].copy()
            t.insert(0, "outcome", outcome)
            hon_rows.append(t)
        else:
            dev.append(f"analyses.honest_did for {outcome}: the binned event study ({len(est_b)} coefficients, "
                       f"{n_pre} pre) has a singular covariance or missing bins with {gt.n_units} districts; "
                       "HonestDiD not run")
        honest[outcome] = h
        if not keep.all():
            notes.append(f"{outcome}: event times {et[~keep].tolist()[:6]} have no estimable ATT(g,t) "
                         "(bins use those available)")
        t_val: float | None = None
        if truth is not None and outcome == "cert_rate":
            cells = _cert_truth_cells(truth, tables, panel, origin)
            t_val = _aggregate_truth(gt, panel, cells, [e for e in et if e >= 0])
            t_val = None if not math.isfinite(t_val) else t_val
        truths[outcome] = t_val
        name, unit = _OUTCOMES[outcome]
        findings.append(Finding(
            name, es.estimate, es.conf_low, es.conf_high, int(gt.n_units), truth=t_val, unit=unit,
            description=(f"change in {unit} in a district after its first SOFT site opened (average over months "
                         f"0-{window[1]} after opening; Callaway–Sant'Anna, not-yet-treated districts, multiplier "
                         f"bootstrap over {gt.n_units} districts): intention-to-treat effect of availability on "
                         "every resident 65+, diluted by uptake; n = districts")))
        tab = es.table.copy()
        tab.insert(0, "outcome", outcome)
        es_rows.append(tab)
    scale = _cost_scale(truth, tables, panel, origin) if truth is not None and "cost_month" in outcomes else None
    if truth is not None and "cost_month" in outcomes:
        notes.append("cost_month: no exact truth (the potential outcomes hold 36-month cost totals, not the monthly "
                     "course); implied_cost_scale gives its order of magnitude")
    if nb < 999:
        dev.append(f"{st}.n_boot={p(f'{st}.n_boot')}: {nb} bootstrap draws used")
    binning = (f"HonestDiD runs on the event study coarsened to {honest_bin_months}-month bins re-normalised to the "
               f"bin ending at e = -1 (with {int(panel['district'].nunique())} districts the monthly event-study "
               "covariance has rank <= 11 and cannot be inverted)")
    if honest_bin_months == int(p("analyses.honest_did.bin_months")):
        notes.append(binning + " (analyses.honest_did.bin_months)")
    else:
        dev.append(binning + f"; the protocol's analyses.honest_did.bin_months is {p('analyses.honest_did.bin_months')}")
    # published: district-level only; months with fewer than min_cell residents are masked
    counts = (panel.assign(treated=np.where((panel["cohort"] > 0) & (panel["month"] >= panel["cohort"]),
                                            "after opening", "before opening / no site"))
              .groupby("treated").agg(district_months=("month", "size"), resident_months=("residents", "sum"),
                                      new_certifications=("new_certifications", "sum"))
              .reset_index())
    eff = pd.DataFrame([{"name": f.name, "estimate": f.estimate, "conf_low": f.conf_low, "conf_high": f.conf_high,
                         "resident_months": int(counts.loc[counts["treated"] == "after opening", "resident_months"]
                                                .sum())} for f in findings])
    est_cols = {c: (None, "resident_months") for c in ("estimate", "conf_low", "conf_high")}
    esd = pd.concat(es_rows, ignore_index=True)
    esd["resident_months"] = _event_time_residents(panel, esd["e"].to_numpy())
    esd = esd[["outcome", "e", "estimate", "std_error", "conf_low", "conf_high", "conf_low_simult",
               "conf_high_simult", "resident_months"]]
    published = {
        "staggered": _suppress(counts, protocol, count_columns=["district_months", "resident_months",
                                                                "new_certifications"], group_columns=["treated"]),
        "staggered_effects": _suppress(eff, protocol, count_columns=["resident_months"], group_columns=["name"],
                                       rate_columns=est_cols),
        "staggered_event_study": _suppress(esd, protocol, count_columns=["resident_months"],
                                           group_columns=["outcome", "e"],
                                           rate_columns={c: (None, "resident_months") for c in
                                                         ("estimate", "std_error", "conf_low", "conf_high",
                                                          "conf_low_simult", "conf_high_simult")}),
    }
    if hon_rows:
        hon = pd.concat(hon_rows, ignore_index=True)
        hon["m"] = hon["m"].fillna(-1.0)  # -1: the original (parallel-trends) interval
        hon["resident_months"] = eff["resident_months"].iloc[0]
        published["staggered_honest"] = _suppress(hon, protocol, count_columns=["resident_months"],
                                                  group_columns=["outcome", "term"],
                                                  rate_columns={"conf_low": (None, "resident_months"),
                                                                "conf_high": (None, "resident_months")})
    return SoftRollout(panel=panel, group_time=gts, event_study=ess, overall=overall, honest=honest, truth=truths,
                       implied_cost_scale=scale, n_districts=int(panel["district"].nunique()),
                       n_treated_districts=int((treated > 0).sum()), findings=tuple(findings), published=published,
                       deviations=tuple(dev), notes=tuple(notes))
