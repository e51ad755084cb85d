"""SOFT protocol, sensitivity analyses (protocol section ``sensitivity``; issue #6).

:func:`soft_sensitivity` takes the results of the main steps (:func:`~wellness_research.analysis.soft.soft_cohort`,
:func:`~wellness_research.analysis.soft.soft_matching`, :func:`~wellness_research.analysis.soft.soft_certification`)
and the tables, and reports every variant in one table (estimate, CI, n):

* ``primary``: the 3-year risk difference of the main analysis (for reference);
* ``caliper_<c>``: re-matched with each of ``sensitivity.caliper_variants`` SD of the logit;
* ``evalue_*``: E-value of the risk difference (converted to a risk ratio with the matched controls'
  risk) and, when estimable, of the cause-specific hazard ratio (VanderWeele & Ding 2017);
* negative controls (``sensitivity.negative_controls``): ``prior_inpatient`` — any inpatient claim
  in months −24..−13 before the index month — and ``dental_claim_12m`` — any dental claim in the 12
  months after time zero; both should show no difference;
* ``exclude_early``: time zero moved to index + ``sensitivity.exclude_early_months``;
* ``itt_initiators``: every initiator (≥ 1 session), time zero at the index month, re-matched; the
  estimand of the synthetic truth ``soft_att_risk3y``;
* ``per_protocol_naive``: participants censored after ``stop_gap_months`` months without a session,
  controls when they start SOFT (no inverse-probability-of-censoring weights yet: a deviation);
* ``dose_<group>``: participants of one dose group against their own matched controls;
* ``kcl_frail`` and ``kcl_total_difference``: the first Kihon Checklist 6–24 months after the index
  month, frail = total ≥ ``outcomes.frailty.kcl_frail_cutoff``, among those who answered (the share
  answering by arm is on the result: truncation by death, certification and non-response).

Negative controls in a landmark design
--------------------------------------
A negative-control outcome must share the confounders of certification and be out of SOFT's
reach. *Inpatient care in months −24..−13* is entirely before the index month (SOFT cannot cause
it), lies before the 12-month covariate window (so matching did not balance it by construction),
and marks the chronic disease and frailty behind certification: a difference points to residual
confounding (Lipsitch 2010). A tempting alternative, *certification in the 12 months before the
index month*, is **not** valid here: eligibility requires no certification valid at the index
month, and certifications run 6–48 months, so it is structurally (near) zero in both arms and
cannot detect anything. *Dental claims in months 0–11 after time zero* are after the landmark for
both arms (both alive, resident and uncertified then), and SOFT has no oral content, so a
difference reflects health-seeking behaviour (the healthy-user confounder).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from wellness_research._columns import equals_str
from wellness_research.analysis.findings import Finding
from wellness_research.analysis.soft import (
    SoftCertification,
    SoftCohort,
    SoftMatching,
    _death_times,
    _deviation_lines,
    _finding_lines,
    _frame_arguments,
    _html,
    _matched_participant_ids,
    _protocol,
    _risk_truth,
    _seed,
    _suppress,
    soft_matching,
)
from wellness_research.errors import ConfigurationError

__all__ = ["SoftSensitivity", "soft_sensitivity"]

_DAYS_PER_MONTH = 365.25 / 12
_TABLE = ["variant", "estimate", "conf_low", "conf_high", "n", "unit", "note"]
_KCL_ITEMS = [f"q{i:02d}" for i in range(1, 26)]


@dataclass(frozen=True, eq=False)
class SoftSensitivity:
    """Every sensitivity variant of the SOFT protocol in one table.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per variant: ``variant, estimate, conf_low, conf_high, n, unit, note`` (``n``:
        persons analysed; for E-values the persons behind the estimate).
    evalue : EValueResult
        E-value of the risk difference (risk-ratio scale via the matched controls' risk).
    evalue_hr : EValueResult or None
        E-value of the cause-specific hazard ratio (None when not estimable).
    kcl_response : pandas.DataFrame
        Persons matched, answering a checklist 6–24 months after index, and the share, by arm.
    matchings : dict
        Caliper (and ``"itt"``) -> the :class:`SoftMatching` re-run for it.
    findings : tuple of Finding
    published : dict
        ``{"sensitivity": SuppressedTable, "kcl_response": SuppressedTable}``.
    deviations : tuple of str
    """

    table: pd.DataFrame
    evalue: Any = field(repr=False)
    evalue_hr: Any = field(repr=False)
    kcl_response: pd.DataFrame
    matchings: dict[Any, Any] = field(repr=False)
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """The variants in the package's tidy columns (term = variant), plus ``unit`` and ``note``."""
        t = self.table
        return pd.DataFrame({"term": t["variant"], "estimate": t["estimate"], "std_error": np.nan,
                             "conf_low": t["conf_low"], "conf_high": t["conf_high"], "p_value": np.nan,
                             "n": t["n"], "unit": t["unit"], "note": t["note"]}).reset_index(drop=True)

    def summary(self) -> str:
        """The variants, the checklist response by arm and the deviations."""
        lines = ["SOFT sensitivity analyses", *_finding_lines(self.findings),
                 "  checklist 6-24 months after index answered: "
                 + "; ".join(f"{r.arm} {r.answered}/{r.matched}" for r in self.kcl_response.itertuples())]
        lines += _deviation_lines(self.deviations)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _weighted_difference(y: np.ndarray, treat: np.ndarray, w: np.ndarray, cluster: np.ndarray, alpha: float,
                         covariates: np.ndarray | None = None) -> tuple[float, float, float]:
    """Weighted treated-minus-control difference (WLS, SE clustered), optionally covariate-adjusted."""
    import statsmodels.api as sm

    cols = [np.ones(len(y)), treat.astype(float)]
    if covariates is not None:
        cols += [covariates[:, j] for j in range(covariates.shape[1])]
    X = np.column_stack(cols)
    if len(np.unique(treat)) < 2 or len(y) < 3:
        return math.nan, math.nan, math.nan
    _, groups = np.unique(cluster, return_inverse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.WLS(y.astype(float), X, weights=w).fit(cov_type="cluster", cov_kwds={"groups": groups})
    est = float(fit.params[1])
    lo, hi = fit.conf_int(alpha=alpha)[1]
    return est, float(lo), float(hi)


def _rd(data: pd.DataFrame, *, at: float, alpha: float, time: str = "cert_time",
        event: str = "cert_event") -> tuple[float, float, float, int]:
    from wellness_research.survival import risk_difference

    if data["soft"].nunique() < 2:
        return math.nan, math.nan, math.nan, int(len(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = risk_difference(data, time=time, event=event, group="soft", weights="weights", cluster="subclass",
                            at=at, method="analytic", alpha=alpha)
    return float(r.estimate), float(r.conf_low), float(r.conf_high), int(len(data))


def _month(values: Any) -> np.ndarray:
    v = pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[M]")
    return v.astype(np.int64)


def _any_claim(md: pd.DataFrame, claims: pd.DataFrame, *, start: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """1 when the person has a claim in months ``start + lo .. start + hi`` (inclusive)."""
    ids = md["person_id"].astype(str).to_numpy()
    c = claims.assign(_p=claims["person_id"].astype(str), _m=_month(claims["service_month"]))
    c = c[c["_p"].isin(set(ids))][["_p", "_m"]].drop_duplicates()
    rows = pd.DataFrame({"_p": ids, "_s": start, "_r": np.arange(len(ids))})
    j = rows.merge(c, on="_p")
    hit = j.loc[(j["_m"] >= j["_s"] + lo) & (j["_m"] <= j["_s"] + hi), "_r"].unique()
    out = np.zeros(len(ids), np.int64)
    out[hit] = 1
    return out


def _itt_cohort(protocol: Any, tables: Mapping[str, pd.DataFrame], cohort: SoftCohort,
                seed: int | np.random.Generator) -> SoftCohort:
    """Initiators (>= sensitivity.itt.min_sessions sessions), time zero at the index month."""
    from wellness_research.cohort import soft_frame

    kwargs, dev = _frame_arguments(protocol, cohort.fiscal_year)
    kwargs["min_sessions"] = int(protocol.get("sensitivity.itt.min_sessions"))
    kwargs.pop("landmark_months", None)
    cf = soft_frame(tables, seed=seed, **kwargs)
    d = cf.data
    early = d["index_date"] < pd.Timestamp(str(protocol.get("calendar.enrolment_start")))
    d = d.loc[~early].reset_index(drop=True)
    edges = [float(e) for e in protocol.get("matching.age_band_edges")]
    labels = [f"{int(a)}-{int(b) - 1}" for a, b in zip(edges[:-1], edges[1:], strict=True)] + [f"{int(edges[-1])}+"]
    band = np.clip(np.searchsorted(np.asarray(edges), d["age"].to_numpy(dtype=float), side="right") - 1, 0, None)
    d["age_band"] = pd.Categorical.from_codes(band, categories=labels)
    d["dose_group"] = np.where(d["soft"] == 1, "initiator", "control")
    miss = [c for c in d.columns if c.endswith("_missing") and c != "kcl_missing"]
    d["checkup_missing"] = d[miss].max(axis=1).astype(np.int64) if miss else 0
    data_end = pd.Timestamp(str(kwargs.get("data_end", "2026-03")))
    followup = int(protocol.get("outcomes.follow_up_months"))
    d["death_time"], d["death_event"] = _death_times(tables, d, data_end, followup)
    return SoftCohort(frame=cf, data=d, excluded_before_enrolment=int(early.sum()), fiscal_year=cohort.fiscal_year,
                      parameters=dict(kwargs), deviations=tuple(dev), published={})


def _per_protocol(md: pd.DataFrame, attendance: pd.DataFrame, gap: int) -> tuple[pd.DataFrame, int, int]:
    """Censor participants ``gap`` months into their first ``gap``-month run without a session after the
    index month, and controls at their first session; times stay measured from the landmark."""
    att = attendance.assign(_p=attendance["person_id"].astype(str), _m=_month(attendance["session_date"]))
    ids = md["person_id"].astype(str).to_numpy()
    att = att[att["_p"].isin(set(ids))]
    months = att.groupby("_p")["_m"].apply(lambda s: np.unique(s.to_numpy()))
    first_day = att.groupby("_p")["session_date"].min()
    t0 = pd.to_datetime(md["landmark_date"] if "landmark_date" in md.columns else md["index_date"]).to_numpy()
    idx_m = _month(md["index_date"])
    censor = np.full(len(md), np.inf)
    soft = md["soft"].to_numpy() == 1
    for r, (pid, is_p) in enumerate(zip(ids, soft, strict=True)):
        if is_p:
            ms = months.get(pid)
            if ms is None:
                continue
            m, k = int(idx_m[r]), 0
            present = set(ms.tolist())
            last = int(ms.max())
            while m <= last:
                k = 0 if m in present else k + 1
                if k == gap:
                    break
                m += 1
            stop = m + 1 if k == gap else last + gap + 1  # first month after the gap (or after the last session)
            stop_date = np.datetime64(int(stop), "M").astype("datetime64[ns]")
            censor[r] = (stop_date - t0[r]) / np.timedelta64(1, "D") / _DAYS_PER_MONTH
        elif pid in first_day.index:
            censor[r] = (np.datetime64(first_day[pid], "ns") - t0[r]) / np.timedelta64(1, "D") / _DAYS_PER_MONTH
    out = md.copy()
    cut = censor < out["cert_time"].to_numpy()
    out.loc[cut, "cert_time"] = np.maximum(censor[cut], 0.0)
    out.loc[cut, "cert_event"] = 0
    return out, int((cut & soft).sum()), int((cut & ~soft).sum())


# --------------------------------------------------------------------------------------------
# step
# --------------------------------------------------------------------------------------------
def soft_sensitivity(
    protocol: Any,
    cohort: SoftCohort,
    matching: SoftMatching,
    certification: SoftCertification,
    *,
    tables: Mapping[str, pd.DataFrame] | None = None,
    truth: Any = None,
    seed: int | np.random.Generator | None = None,
    caliper_variants: Sequence[float] | None = None,
    variants: Sequence[str] | None = None,
) -> SoftSensitivity:
    """The protocol's sensitivity analyses, one table (estimate, CI, n) and a finding per variant.

    Parameters
    ----------
    protocol : Protocol or str
    cohort, matching, certification : SoftCohort, SoftMatching, SoftCertification
        The results of the main steps (not modified).
    tables : mapping of str to pandas.DataFrame, optional
        The municipality's tables; needed by the negative controls (claims), the ITT and
        per-protocol variants (attendance) and the frailty outcome (Kihon Checklist). Without them
        those variants are skipped and listed in ``deviations``.
    truth : GroundTruth, optional
        On synthetic data: the sample truth of the ITT variant (``soft_att_risk3y`` over the matched
        initiators) and of the re-matched variants (matched participants, landmark window).
    seed : int, numpy.random.Generator or None
        Matching and the ITT cohort's risk sets; None: ``seeds.matching`` / ``seeds.risk_set``.
    caliper_variants : sequence of float, optional
        None: ``sensitivity.caliper_variants``.
    variants : sequence of str, optional
        Run only these families: any of ``"caliper"``, ``"evalue"``, ``"negative_control"``,
        ``"exclude_early"``, ``"itt"``, ``"per_protocol"``, ``"dose"``, ``"frailty"``. None: all.

    Returns
    -------
    SoftSensitivity

    Raises
    ------
    ConfigurationError
        Wrong step results or an unknown variant family.

    Notes
    -----
    Risk differences of the variants use the analytic influence-function interval clustered on
    matched sets (the primary uses the cluster bootstrap); the per-protocol variant censors
    without inverse-probability-of-censoring weights (protocol ``sensitivity.per_protocol.ipcw``),
    which is unbiased only if stopping is unrelated to the risk of certification given the
    matched covariates: it is labelled ``per_protocol_naive``.

    References
    ----------
    VanderWeele TJ, Ding P (2017). *Ann Intern Med* 167(4):268–274 (E-value). Lipsitch M, Tchetgen
    Tchetgen E, Cohen T (2010). Negative controls. *Epidemiology* 21(3):383–388. Hernán MA, Robins JM
    (2017). Per-protocol analyses of pragmatic trials. *N Engl J Med* 377(14):1391–1398. Satake S et al.
    (2016). *Geriatr Gerontol Int* 16(6):709–715 (KCL ≥ 8 frail). Austin PC (2011). *Pharm Stat*
    10(2):150–161 (calipers).
    """
    from wellness_research.matching import evalue

    protocol = _protocol(protocol)
    for name, obj, cls in (("cohort", cohort, SoftCohort), ("matching", matching, SoftMatching),
                           ("certification", certification, SoftCertification)):
        if not isinstance(obj, cls):
            raise ConfigurationError(f"soft_sensitivity: {name} must be a {cls.__name__}; got {type(obj).__name__}.")
    families = ("caliper", "evalue", "negative_control", "exclude_early", "itt", "per_protocol", "dose", "frailty")
    chosen = families if variants is None else tuple(variants)
    bad = [v for v in chosen if v not in families]
    if bad:
        raise ConfigurationError(f"soft_sensitivity: variants={list(chosen)!r} is not valid; unknown {bad}; use any "
                                 f"of {list(families)}.")
    p = protocol.get
    alpha = float(p("analyses.alpha"))
    horizon = float(p("analyses.cumulative_incidence.horizon_months"))
    dev: list[str] = []
    rows: list[dict[str, Any]] = []
    truths: dict[str, float | None] = {}
    units: dict[str, str] = {}
    md = matching.matched.matched_data()
    starts = None
    if "landmark_date" in cohort.data.columns:
        d1 = cohort.data[cohort.data["soft"] == 1]
        starts = pd.Series(pd.to_datetime(d1["landmark_date"]).to_numpy(), index=d1["person_id"].astype(str).to_numpy())

    def add(variant: str, est: float, lo: float, hi: float, n: int, unit: str, note: str,
            truth_value: float | None = None) -> None:
        rows.append({"variant": variant, "estimate": est, "conf_low": lo, "conf_high": hi, "n": int(n),
                     "unit": unit, "note": note})
        truths[variant] = truth_value
        units[variant] = unit

    rd0 = certification.risk_difference
    add("primary", rd0.estimate, rd0.conf_low, rd0.conf_high, len(md), "proportion",
        "main analysis: 3-year risk difference, matched, death competing", certification.truth_risk_difference)

    matchings: dict[Any, Any] = {}
    if "caliper" in chosen:
        cals = [float(c) for c in (p("sensitivity.caliper_variants") if caliper_variants is None else caliper_variants)]
        for c in cals:
            mm = soft_matching(protocol, cohort, seed=seed, caliper=c)
            matchings[c] = mm
            d = mm.matched.matched_data()
            t_val = None
            if truth is not None:
                t_val, _ = _risk_truth(truth, _matched_participant_ids(mm.matched), months=int(horizon), starts=starts)
            add(f"caliper_{c:g}".replace(".", "_"), *_rd(d, at=horizon, alpha=alpha), "proportion",
                f"re-matched with a caliper of {c:g} SD of the logit ({mm.matched.n_matched['treated']} participants "
                "matched)", t_val)

    ev = ev_hr = None
    if "evalue" in chosen:
        p0 = float(rd0.risk_control)
        if 0.0 < p0 < 1.0 and 0.0 < p0 + rd0.estimate:
            lo_ok = p0 + rd0.conf_low > 0
            ev = evalue(float(rd0.estimate), conf_low=float(rd0.conf_low) if lo_ok else None,
                        conf_high=float(rd0.conf_high) if lo_ok else None, scale="rd", baseline_risk=p0)
            # a CI reaching below -p0 has no risk-ratio limit; it contains 0, so its E-value is 1 by definition
            ev_ci = ev.evalue_ci if lo_ok else (1.0 if rd0.conf_low <= 0.0 <= rd0.conf_high else math.nan)
            add("evalue_risk_difference", ev.evalue, ev_ci, math.nan, len(md), "risk ratio",
                f"E-value of the risk difference (risk ratio {(p0 + rd0.estimate) / p0:.3g} with the matched controls' "
                f"risk {p0:.4g}); conf_low holds the E-value of the CI limit nearest 1")
        else:
            dev.append(f"E-value of the risk difference not computed: matched controls' 3-year risk is {p0:.4g}")
        hr = next((f for f in certification.findings if f.name == "hazard_ratio_certification"), None)
        if hr is not None and math.isfinite(hr.estimate) and hr.estimate > 0:
            ev_hr = evalue(hr.estimate, conf_low=hr.conf_low, conf_high=hr.conf_high,
                           scale=str(p("sensitivity.evalue.scale")),
                           rare_outcome=bool(p("sensitivity.evalue.rare_outcome")))
            add("evalue_hazard_ratio", ev_hr.evalue, ev_hr.evalue_ci, math.nan, int(hr.n or 0), "risk ratio",
                "E-value of the cause-specific HR (rare outcome); conf_low holds the E-value of the CI limit nearest 1")
        else:
            dev.append("E-value of the hazard ratio not computed: the hazard ratio is not estimable in this sample")

    w = md["weights"].to_numpy(dtype=float)
    cl = md["subclass"].to_numpy()
    treat = md["soft"].to_numpy()
    need_tables = {"negative_control", "itt", "per_protocol", "frailty"} & set(chosen)
    if tables is None and need_tables:
        dev.append(f"tables not given: variants {sorted(need_tables)} not run")
    if "negative_control" in chosen and tables is not None:
        med = tables["medical_claims"]
        idx_m = _month(md["index_date"])
        zero_m = _month(md["landmark_date"]) if "landmark_date" in md.columns else idx_m
        for nc in p("sensitivity.negative_controls"):
            lo_w, hi_w = (int(v) for v in nc["window"])
            if nc["name"] == "prior_inpatient":
                y = _any_claim(md, med[equals_str(med["claim_type"], "inpatient")], start=idx_m, lo=lo_w, hi=hi_w)
            elif nc["name"] == "dental_claim_12m":
                y = _any_claim(md, med[equals_str(med["claim_type"], "dental")], start=zero_m, lo=lo_w, hi=hi_w)
            else:
                dev.append(f"negative control {nc['name']!r}: not implemented")
                continue
            est, lo, hi = _weighted_difference(y, treat, w, cl, alpha)
            add(f"negative_control_{nc['name']}", est, lo, hi, len(md), "proportion",
                f"{nc['outcome']}: participants minus matched controls (should be 0); share with a claim "
                f"{np.average(y[treat == 1]):.3f} vs {np.average(y[treat == 0], weights=w[treat == 0]):.3f}")
        if "landmark_date" in md.columns:
            dev.append("negative control dental_claim_12m: persons who die or move out within the 12 months count "
                       "as without a claim (no censoring)")

    if "exclude_early" in chosen:
        early = int(p("sensitivity.exclude_early_months"))
        lag = early - (int(p("exposure.window_months")) if "landmark_date" in md.columns else 0)
        keep = md["cert_time"].to_numpy() > lag
        d = md.loc[keep].copy()
        d["cert_time"] = d["cert_time"] - lag
        add(f"exclude_first_{early}_months", *_rd(d, at=horizon - lag, alpha=alpha), "proportion",
            f"time zero at index + {early} months for both arms (persons certified, dead or censored before it left "
            f"out: {int((~keep).sum())}); risk at {horizon - lag:g} months, the data's horizon from that time zero")
        if lag > 0:
            dev.append(f"sensitivity.exclude_early_months={early}: the frame follows persons {horizon:g} months from "
                       f"the landmark, so the risk is read at {horizon - lag:g} months from the later time zero")

    if "itt" in chosen and tables is not None:
        ic = _itt_cohort(protocol, tables, cohort, _seed(seed, protocol, "risk_set"))
        im = soft_matching(protocol, ic, seed=seed)
        matchings["itt"] = im
        d = im.matched.matched_data()
        t_val = None
        if truth is not None:
            t_val, _ = _risk_truth(truth, _matched_participant_ids(im.matched), months=int(horizon))
        add("itt_initiators", *_rd(d, at=horizon, alpha=alpha), "proportion",
            f"initiators (>= {p('sensitivity.itt.min_sessions')} session), time zero at the index month, re-matched "
            f"({im.matched.n_matched['treated']} initiators matched); truth: soft_att_risk3y over them", t_val)

    if "per_protocol" in chosen and tables is not None:
        gap = int(p("sensitivity.per_protocol.stop_gap_months"))
        pp, n_p, n_c = _per_protocol(md, tables["soft_attendance"], gap)
        add("per_protocol_naive", *_rd(pp, at=horizon, alpha=alpha), "proportion",
            f"participants censored after {gap} months without a session ({n_p} censored early), controls at their "
            f"first session ({n_c}); no censoring weights")
        if bool(p("sensitivity.per_protocol.ipcw")):
            dev.append("sensitivity.per_protocol.ipcw=true: inverse-probability-of-censoring weights are not "
                       "implemented; the per-protocol estimate is naive (artificial censoring only) and biased if "
                       "stopping depends on health")

    if "dose" in chosen:
        dose_of = cohort.data.set_index(cohort.data["person_id"].astype(str))["dose_group"].astype(str)
        md_dose = dose_of.reindex(md["person_id"].astype(str)).to_numpy()
        for g in p("exposure.dose_groups"):
            sets = md.loc[(treat == 1) & (md_dose == g["name"]), "subclass"].unique()
            d = md[md["subclass"].isin(sets)]
            hi_s = "+" if g["max_sessions"] is None else f"-{g['max_sessions']}"
            add(f"dose_{g['name']}", *_rd(d, at=horizon, alpha=alpha), "proportion",
                f"participants with {g['min_sessions']}{hi_s} sessions in the window and their matched controls")

    kcl_resp = pd.DataFrame(columns=["arm", "matched", "answered", "share"])
    if "frailty" in chosen and tables is not None:
        kcl = tables["kihon_checklist"]
        lo_w, hi_w = (int(v) for v in p("outcomes.frailty.followup_window_months"))
        cutoff = int(p("outcomes.frailty.kcl_frail_cutoff"))
        k = kcl.assign(_p=kcl["person_id"].astype(str), _m=_month(kcl["survey_date"]),
                       total=kcl[_KCL_ITEMS].astype("float64").sum(axis=1, min_count=len(_KCL_ITEMS)))
        ids = md["person_id"].astype(str).to_numpy()
        rows_ = pd.DataFrame({"_p": ids, "_s": _month(md["index_date"]), "_r": np.arange(len(md))})
        j = rows_.merge(k[k["_p"].isin(set(ids))][["_p", "_m", "survey_date", "total"]], on="_p")
        j = j[(j["_m"] >= j["_s"] + lo_w) & (j["_m"] <= j["_s"] + hi_w) & j["total"].notna()]
        j = j.sort_values(["_r", "survey_date"]).drop_duplicates("_r")
        total = np.full(len(md), np.nan)
        total[j["_r"].to_numpy()] = j["total"].to_numpy()
        ans = ~np.isnan(total)
        kcl_resp = pd.DataFrame({"arm": ["participant", "control"],
                                 "matched": [int((treat == 1).sum()), int((treat == 0).sum())],
                                 "answered": [int((ans & (treat == 1)).sum()), int((ans & (treat == 0)).sum())]})
        kcl_resp["share"] = kcl_resp["answered"] / kcl_resp["matched"].where(kcl_resp["matched"] > 0)
        frail = (total >= cutoff).astype(float)
        est, lo, hi = _weighted_difference(frail[ans], treat[ans], w[ans], cl[ans], alpha)
        add("kcl_frail", est, lo, hi, int(ans.sum()), "proportion",
            f"frail (Kihon Checklist total >= {cutoff}) at the first checklist {lo_w}-{hi_w} months after index, "
            f"among those answering (participants {kcl_resp.loc[0, 'answered']}/{kcl_resp.loc[0, 'matched']}, "
            f"controls {kcl_resp.loc[1, 'answered']}/{kcl_resp.loc[1, 'matched']})")
        base = md[["kcl_total", "kcl_missing"]].to_numpy(dtype=float)[ans]
        est, lo, hi = _weighted_difference(total[ans], treat[ans], w[ans], cl[ans], alpha, covariates=base)
        add("kcl_total_difference", est, lo, hi, int(ans.sum()), "points",
            "Kihon Checklist total at that checklist, participants minus matched controls, adjusted for the "
            "baseline total and its missing indicator (ANCOVA), among those answering")
        dev.append("kcl_frail / kcl_total_difference: compared among those answering only; the share answering "
                   "differs by arm when death, certification or non-response do (kcl_response)")

    table = pd.DataFrame(rows, columns=_TABLE)
    names = {"primary": None, "kcl_total_difference": "kcl_total_difference"}
    findings = tuple(
        Finding(names.get(r.variant) or f"sensitivity_{r.variant}", r.estimate, r.conf_low, r.conf_high, int(r.n),
                truth=truths.get(r.variant), unit=r.unit, description=r.note)
        for r in table.itertuples() if r.variant != "primary")
    pub = table[["variant", "estimate", "conf_low", "conf_high", "n"]].copy()
    pub["n"] = pub["n"].astype(np.int64)
    published = {"sensitivity": _suppress(pub, protocol, count_columns=["n"], group_columns=["variant"],
                                          rate_columns={c: (None, "n") for c in ("estimate", "conf_low", "conf_high")})}
    if len(kcl_resp):
        published["kcl_response"] = _suppress(kcl_resp, protocol, count_columns=["matched", "answered"],
                                              group_columns=["arm"], rate_columns={"share": ("answered", "matched")})
    return SoftSensitivity(table=table, evalue=ev, evalue_hr=ev_hr, kcl_response=kcl_resp, matchings=matchings,
                           findings=findings, published=published, deviations=tuple(dev))
