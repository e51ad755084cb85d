"""The high-risk model's frame: one row per person at risk at a survey date, features and outcome.

Design (issue #7, the short-term service protocol):

* **Population at** ``at`` (a single calendar date, the model's time zero): every resident aged 65+
  at ``at`` (whole months since the birth month >= 780), already resident (moved in before ``at``),
  not moved out and alive before ``at``, not certified on ``at`` (no decision other than 非該当
  whose validity covers ``at``) and with no certification applied for before ``at`` that is decided
  or takes effect on or after ``at`` (a pending application would be a certification the model
  cannot prevent). Every other resident is a row of :attr:`RiskFrame.exclusions` with the first rule
  failed (:data:`RISK_EXCLUSION_REASONS`); nobody is dropped silently.
* **Features**, all measured strictly before ``at``:

  - the latest Kihon Checklist (基本チェックリスト, DOMAIN.md §4.1) answered in the
    ``kcl_lookback_months`` before ``at``: the 25 items ``q01``–``q25`` (1 = risk answer,
    ``NaN`` = unanswered or no questionnaire), the seven domain scores and the total (unanswered
    items count 0, as in :func:`wellness_research.cohort.soft_frame`), ``kcl_missing`` (no
    questionnaire in the window), ``kcl_n_unanswered``, ``kcl_months_since`` and the rule-based
    ``jigyo_taishosha`` flag (:func:`wellness_research.risk.jigyo_taishosha`, ``NaN`` without a
    questionnaire);
  - the late-elderly 15-item questionnaire (後期高齢者の質問票, DOMAIN.md §4.4) **when a table
    ``late_elderly_questionnaire`` is present** (``person_id``, ``survey_date``, numeric items
    ``lq01``–``lq15``): the latest answers in the same look-back plus ``lq_missing``. The package's
    data dictionary has no such table and the synthetic municipality does not generate one, so on
    those data the frame records ``late_elderly_questionnaire = "absent"`` and carries no ``lq*``
    columns;
  - the latest health checkup in the ``checkup_lookback_months`` before ``at``: BMI, SBP, HbA1c,
    LDL-C, eGFR (``NaN`` kept; the model imputes with training medians) and a ``*_missing``
    indicator for each;
  - prior use in the 12 calendar months before the month of ``at``: ``log_medical_cost_12m``,
    ``log_ltc_cost_12m`` (log of 1 + yen), ``inpatient_12m`` (any inpatient claim) and
    ``prior_certification`` (a certification other than 非該当 applied for before ``at``, now
    expired);
  - ``age`` (years, whole months / 12), ``female``, ``district``.

* **Outcome** (death a competing event): ``event`` = 1 for a new certification (application date
  of a decision other than 非該当) in ``[at, at + horizon)``, 2 for death without it first, 0 for
  censored (move-out, end of data) or event-free at the horizon; ``time_months`` (days / 30.4375,
  at most the horizon); ``certified`` (``event == 1``), ``certified_care2`` (the first application
  within the window decided at 要介護2–5), ``died``, and ``censored`` — censored *before* the horizon
  without an event, so the binary outcome "certified within the horizon" is unknown. The model
  handles them explicitly (:func:`wellness_research.risk.fit_risk_model` ``censoring``): excluded and
  counted (default) or kept with inverse-probability-of-censoring weights ``ipcw``
  (Kaplan–Meier of the censoring time, marginal). A person who dies uncertified is a known
  non-event (the binary outcome targets the cumulative incidence of certification with death
  competing), not a censored one.

The outcome window must end by ``data_end``: a horizon the data cannot observe is refused with a
message giving the longest horizon that fits (administrative censoring of everyone at the same
time cannot be handled by exclusion or weighting).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from wellness_research._columns import equals_str
from wellness_research.cohort.soft import _CARE2, _CHECKUP_VALUES, _KCL_DOMAINS
from wellness_research.errors import ConfigurationError, DataValidationError
from wellness_research.risk.rules import KCL_ITEMS, jigyo_taishosha

__all__ = ["LATE_ELDERLY_ITEMS", "RISK_EXCLUSION_REASONS", "RiskFrame", "risk_features"]

#: Exclusion reasons, in the order they are checked (a person is reported under the first one).
RISK_EXCLUSION_REASONS: tuple[str, ...] = (
    "no residents row",
    "under 65 at index",
    "not yet resident at index",
    "moved out before index",
    "died before index",
    "certified at index",
    "certification pending at index",
)
#: Item columns of the optional late-elderly questionnaire table (後期高齢者の質問票, DOMAIN.md §4.4).
LATE_ELDERLY_ITEMS: tuple[str, ...] = tuple(f"lq{i:02d}" for i in range(1, 16))

_DAYS_PER_MONTH = 365.25 / 12
_REQUIRED = {
    "residents": ("person_id", "birth_month", "sex", "district", "move_in_date", "move_out_date", "death_date"),
    "ltc_certifications": ("person_id", "application_date", "decision_date", "level", "valid_from", "valid_to"),
    "kihon_checklist": ("person_id", "survey_date", *KCL_ITEMS),
    "health_checkups": ("person_id", "checkup_date"),
    "medical_claims": ("person_id", "service_month", "claim_type", "cost_yen"),
    "ltc_claims": ("person_id", "service_month", "cost_yen"),
}


@dataclass(frozen=True, eq=False)
class RiskFrame:
    """The high-risk model's frame at one date and the account of everyone not in it.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per person at risk at ``at`` (``person_id`` first; features and outcome columns, see
        the module docstring). Contains person ids: an analysis object, never a published table.
    exclusions : pandas.DataFrame
        ``person_id`` and ``reason`` (one of :data:`RISK_EXCLUSION_REASONS`) per excluded person.
    parameters : dict
        The arguments the frame was built with, plus ``late_elderly_questionnaire``
        (``"present"``/``"absent"``) and ``prior_use_months_observed``.
    n_considered : int
        Persons considered (= rows of ``data`` + rows of ``exclusions``).
    """

    data: pd.DataFrame = field(repr=False)
    exclusions: pd.DataFrame = field(repr=False)
    parameters: dict[str, Any]
    n_considered: int

    def flow(self) -> pd.DataFrame:
        """Counts by step: considered, each exclusion reason, at risk, then the outcome split."""
        ex = self.exclusions.reason.value_counts()
        d = self.data
        rows = [("considered", self.n_considered)]
        rows += [(f"excluded: {r}", int(ex.get(r, 0))) for r in RISK_EXCLUSION_REASONS]
        rows += [("at risk", len(d)),
                 ("outcome: certified within horizon", int((d.event == 1).sum())),
                 ("outcome: died first (competing)", int((d.event == 2).sum())),
                 ("outcome: event-free at horizon", int(((d.event == 0) & ~d.censored).sum())),
                 ("outcome: censored before horizon", int(d.censored.sum()))]
        return pd.DataFrame(rows, columns=["step", "n"])

    def tidy(self) -> pd.DataFrame:
        """The flow in long form: ``term`` (step) and ``n``."""
        f = self.flow()
        return pd.DataFrame({"term": f["step"], "n": f["n"].astype(np.int64)})

    def summary(self) -> str:
        """Plain-text flow with the design parameters."""
        f = self.flow()
        width = max(len(s) for s in f.step)
        p = self.parameters
        lines = [f"High-risk model frame at {p['at']}: {self.n_considered} persons considered"]
        lines += [f"  {s:<{width}}  {n:>8}" for s, n in f.itertuples(index=False)]
        lines.append(f"  horizon {p['horizon_months']} months; KCL look-back {p['kcl_lookback_months']} months "
                     f"({int((self.data.kcl_missing == 0).sum())} with a questionnaire); checkup look-back "
                     f"{p['checkup_lookback_months']} months; late-elderly questionnaire: "
                     f"{p['late_elderly_questionnaire']}")
        if p["prior_use_months_observed"] < 12:
            lines.append(f"  prior use observed over {p['prior_use_months_observed']} months only "
                         f"(data start {p['origin']})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + escape(self.summary()) + "</pre>"


def _check_tables(tables: Any) -> None:
    for name, cols in _REQUIRED.items():
        if name not in tables:
            raise DataValidationError(f"risk_features: table {name!r} is missing; needed are {sorted(_REQUIRED)}.")
        missing = [c for c in cols if c not in tables[name].columns]
        if missing:
            raise DataValidationError(f"risk_features: table {name!r} lacks column(s) {missing} "
                                      f"({len(tables[name])} rows; needed: {list(cols)}).")
    res = tables["residents"]
    if res["person_id"].duplicated().any():
        ex = res.loc[res["person_id"].duplicated(), "person_id"].iloc[0]
        raise DataValidationError(f"risk_features: residents.person_id is not unique "
                                  f"({int(res['person_id'].duplicated().sum())} duplicate rows, e.g. {ex!r}).")


def _nonneg_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigurationError(f"risk_features: {name}={value!r} is not valid; use an integer >= {minimum}.")
    return int(value)


def _latest_before(persons: pd.Series, table: pd.DataFrame, date_col: str, at: pd.Timestamp,
                   since: pd.Timestamp, columns: list[str]) -> pd.DataFrame:
    """The latest row of ``table`` per person with ``since <= date < at`` (reindexed to ``persons``)."""
    t = table[(table[date_col] < at) & (table[date_col] >= since)]
    t = t.sort_values([date_col], kind="stable")
    t = t.assign(_pid=t["person_id"].astype(str)).drop_duplicates("_pid", keep="last").set_index("_pid")
    return t[[date_col, *columns]].reindex(persons.astype(str).to_numpy())


def _ipcw(time: np.ndarray, censored: np.ndarray, horizon: float) -> np.ndarray:
    """Inverse-probability-of-censoring weights for the binary outcome at ``horizon``.

    ``G`` is the Kaplan–Meier survivor function of the censoring time (a censoring is an event of
    ``G``; certification, death and reaching the horizon are not). A person with an event at ``t``
    gets ``1 / G(t-)``, a person followed to the horizon ``1 / G(horizon-)``, a person censored
    before the horizon ``0`` (Uno et al. 2007; Blanche, Dartigues & Jacqmin-Gadda 2013).
    """
    t = np.asarray(time, float)
    c = np.asarray(censored, bool)
    cens_times = np.unique(t[c])
    if len(cens_times) == 0:  # nobody censored before the horizon: G = 1 throughout
        return np.ones(len(t))
    # G(s-) = prod over censoring times u < s of (1 - d(u) / n(u)), n(u) = #{t >= u}
    order = np.sort(t)
    n_at = len(t) - np.searchsorted(order, cens_times, side="left")
    d = np.array([np.sum(c & (t == u)) for u in cens_times], float) if len(cens_times) else np.zeros(0)
    surv = np.cumprod(1.0 - d / np.maximum(n_at, 1))

    def g_minus(s: np.ndarray) -> np.ndarray:
        k = np.searchsorted(cens_times, s, side="left")  # number of censoring times < s
        return np.where(k > 0, surv[np.maximum(k - 1, 0)], 1.0)

    w = np.where(c, 0.0, 1.0 / np.maximum(g_minus(np.minimum(t, horizon)), 1e-12))
    return w


def risk_features(
    tables: Mapping[str, pd.DataFrame],
    at: str | pd.Timestamp,
    *,
    persons: Iterable[object] | None = None,
    kcl_lookback_months: int = 36,
    checkup_lookback_months: int = 24,
    horizon_months: int = 36,
    origin: str = "2019-04",
    data_end: str = "2026-03",
) -> RiskFrame:
    """Build the high-risk model's frame at date ``at``: features before it, outcome after it.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        The municipality's tables (as read by :mod:`wellness_research.data.io` or generated by
        :func:`wellness_research.synthetic.make_municipality`). Not modified.
    at : str or pandas.Timestamp
        Time zero, e.g. ``"2020-04-01"`` (the first day of the fiscal year after a November survey).
    persons : iterable of person ids, optional
        Restrict to these persons (e.g. the survey's addressees). Ids without a residents row are
        reported as excluded ("no residents row"). ``None``: every resident.
    kcl_lookback_months : int, default 36
        The Kihon Checklist must be answered in the months before ``at`` (36 covers the three-yearly
        survey).
    checkup_lookback_months : int, default 24
        Look-back for the latest health checkup.
    horizon_months : int, default 36
        Outcome window from ``at``.
    origin : str, default "2019-04"
        First month of the claims data (prior use before it is not observed; recorded).
    data_end : str, default "2026-03"
        Last month of the data; the outcome window must end by then.

    Returns
    -------
    RiskFrame
        ``data`` (one row per person at risk), ``exclusions`` (one row per excluded person, with the
        reason), ``flow()``, ``tidy()``, ``summary()``.

    Raises
    ------
    DataValidationError
        A table or column is missing, or residents are duplicated.
    ConfigurationError
        An invalid option, or an outcome window ending after ``data_end``.

    References
    ----------
    Satake S, et al. (2016). Validity of the Kihon Checklist for assessing frailty status.
    *Geriatr Gerontol Int* 16(6):709–715 (KCL domains; DOMAIN.md §4.1–4.2).
    Blanche P, Dartigues JF, Jacqmin-Gadda H (2013). Estimating and comparing time-dependent areas
    under ROC curves for censored event times with competing risks. *Stat Med* 32(30):5381–5397
    (the IPCW weights of the binary outcome with death competing).

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> from wellness_research.risk import risk_features
    >>> rf = risk_features(make_municipality("tiny", seed=0).tables, "2020-04-01")
    >>> len(rf.data) + len(rf.exclusions) == rf.n_considered      # everyone accounted for
    True
    >>> rf.parameters["late_elderly_questionnaire"]
    'absent'
    >>> bool(rf.data.event.isin([0, 1, 2]).all())
    True
    """
    _check_tables(tables)
    kcl_lookback_months = _nonneg_int(kcl_lookback_months, "kcl_lookback_months")
    checkup_lookback_months = _nonneg_int(checkup_lookback_months, "checkup_lookback_months")
    horizon_months = _nonneg_int(horizon_months, "horizon_months")
    try:
        at_ts = pd.Timestamp(at)
        org = pd.Timestamp(origin).to_period("M")
        end_excl = (pd.Timestamp(data_end).to_period("M") + 1).to_timestamp()
    except (ValueError, TypeError) as err:
        raise ConfigurationError(f"risk_features: at={at!r}, origin={origin!r} or data_end={data_end!r} is not a "
                                 f"date ({err}).") from err
    if at_ts is pd.NaT:
        raise ConfigurationError(f"risk_features: at={at!r} is not a date; use e.g. '2020-04-01'.")
    horizon_end = at_ts + pd.DateOffset(months=horizon_months)
    if horizon_end > end_excl:
        fits = (end_excl.to_period("M") - at_ts.to_period("M")).n - (1 if at_ts.day > 1 else 0)
        raise ConfigurationError(
            f"risk_features: the outcome window [{at_ts.date()}, {horizon_end.date()}) ends after data_end="
            f"{data_end!r}; everyone event-free would be censored at the same date. Use horizon_months <= "
            f"{max(fits, 0)} (or an earlier 'at').")

    res = tables["residents"]
    if persons is None:
        cand = res["person_id"].astype(str).to_numpy()
    else:
        cand = pd.unique(pd.Series([str(p) for p in persons], dtype=object)).astype(str)
    rr = res.assign(_pid=res["person_id"].astype(str)).set_index("_pid").reindex(cand)
    at_m = at_ts.to_period("M")
    # whole months from the birth month to the month of `at` (-1 when unknown), on month numbers
    # rather than one Period object per resident
    birth_m = rr["birth_month"].to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
    age_months = np.where(np.isnat(birth_m), -1,
                          np.datetime64(at_ts, "M").astype(np.int64) - birth_m.astype(np.int64)).astype(np.int64)

    cert = tables["ltc_certifications"]
    cert = cert[cert.level.astype(str) != "非該当"]
    cpid = cert["person_id"].astype(str)
    covering = set(cpid[(cert.valid_from <= at_ts) & (cert.valid_to >= at_ts)])
    pending = set(cpid[(cert.application_date < at_ts) & ((cert.decision_date >= at_ts) | (cert.valid_from > at_ts))])
    prior_cert = set(cpid[cert.application_date < at_ts])

    rules = [
        rr["birth_month"].isna().to_numpy(),
        age_months < 780,
        ~(rr["move_in_date"].isna() | (rr["move_in_date"] < at_ts)).to_numpy(),
        (rr["move_out_date"] < at_ts).fillna(False).to_numpy(dtype=bool),
        (rr["death_date"] < at_ts).fillna(False).to_numpy(dtype=bool),
        # hash lookups: np.isin on ~150,000 id strings against a list took about a minute per call
        pd.Index(cand).isin(covering),
        pd.Index(cand).isin(pending),
    ]
    reason = np.full(len(cand), -1, dtype=np.int64)
    for k, failed in enumerate(rules):
        reason[(reason < 0) & failed] = k
    keep = reason < 0
    exclusions = pd.DataFrame({
        "person_id": pd.Categorical(cand[~keep], categories=res["person_id"].astype(str).unique())
        if not isinstance(res["person_id"].dtype, pd.CategoricalDtype)
        else pd.Categorical(cand[~keep], dtype=res["person_id"].dtype),
        "reason": pd.Categorical.from_codes(reason[~keep], categories=list(RISK_EXCLUSION_REASONS)),
    })

    rk = rr.loc[keep]
    pid = pd.Series(cand[keep])
    out = pd.DataFrame({"person_id": pd.Categorical(pid, dtype=res["person_id"].dtype)
                        if isinstance(res["person_id"].dtype, pd.CategoricalDtype) else pid.to_numpy()})
    out["at"] = at_ts
    out["age"] = age_months[keep] / 12.0
    out["female"] = (rk["sex"].astype(str) == "F").to_numpy().astype(np.int64)
    out["district"] = pd.Categorical(rk["district"].astype(str).to_numpy(),
                                     categories=[str(c) for c in res["district"].astype("category").cat.categories])

    # Kihon Checklist: latest questionnaire in the look-back
    kcl = tables["kihon_checklist"]
    since = at_ts - pd.DateOffset(months=kcl_lookback_months)
    k = _latest_before(pid, kcl, "survey_date", at_ts, since, list(KCL_ITEMS))
    items = k[list(KCL_ITEMS)].to_numpy(dtype=float)
    has_kcl = k["survey_date"].notna().to_numpy()
    out["kcl_missing"] = (~has_kcl).astype(np.int64)
    out["kcl_months_since"] = np.where(has_kcl, (at_ts - k["survey_date"]).dt.days.to_numpy() / _DAYS_PER_MONTH,
                                       np.nan)
    out["kcl_n_unanswered"] = np.where(has_kcl, np.isnan(items).sum(axis=1), 0).astype(np.int64)
    filled = np.nan_to_num(items, nan=0.0)
    out["kcl_total"] = np.where(has_kcl, filled.sum(axis=1), 0.0)
    for dom, idx in _KCL_DOMAINS.items():
        out[dom] = np.where(has_kcl, filled[:, [i - 1 for i in idx]].sum(axis=1), 0.0)
    for j, c in enumerate(KCL_ITEMS):
        out[c] = items[:, j]
    rule = jigyo_taishosha(pd.DataFrame(items, columns=list(KCL_ITEMS)))
    out["jigyo_taishosha"] = np.where(has_kcl, rule["eligible"].to_numpy(dtype=float), np.nan)

    # late-elderly questionnaire, when the data have it
    lq_state = "absent"
    if "late_elderly_questionnaire" in tables:
        lq = tables["late_elderly_questionnaire"]
        lq_items = [c for c in LATE_ELDERLY_ITEMS if c in lq.columns]
        if "person_id" not in lq.columns or "survey_date" not in lq.columns or not lq_items:
            raise DataValidationError(
                "risk_features: table 'late_elderly_questionnaire' needs person_id, survey_date and item columns "
                f"{list(LATE_ELDERLY_ITEMS)}; got {list(lq.columns)} ({len(lq)} rows).")
        got = _latest_before(pid, lq, "survey_date", at_ts, since, lq_items)
        out["lq_missing"] = got["survey_date"].isna().to_numpy().astype(np.int64)
        for c in lq_items:
            out[c] = got[c].to_numpy(dtype=float)
        lq_state = "present"

    # latest health checkup in the look-back
    hc = tables["health_checkups"]
    hv = [c for c in _CHECKUP_VALUES if c in hc.columns]
    got = _latest_before(pid, hc, "checkup_date", at_ts, at_ts - pd.DateOffset(months=checkup_lookback_months), hv)
    out["checkup_missing"] = got["checkup_date"].isna().to_numpy().astype(np.int64)
    for c in hv:
        v = got[c].to_numpy(dtype=float)
        out[c] = v
        out[f"{c}_missing"] = np.isnan(v).astype(np.int64)

    # prior use: the 12 calendar months before the month of `at`
    m0 = at_m.to_timestamp()
    w0 = (at_m - 12).to_timestamp()
    observed = int(min(12, max(0, (at_m - org).n)))
    pid_index = pd.Index(pid.to_numpy())
    inside: dict[str, pd.DataFrame] = {}
    for name, col in (("medical_claims", "log_medical_cost_12m"), ("ltc_claims", "log_ltc_cost_12m")):
        mc = tables[name]
        inside[name] = mc[(mc.service_month >= w0) & (mc.service_month < m0)]
        # grouped on the person_id column itself (category codes when categorical) and the few group
        # labels turned into strings: str() of millions of claim rows took most of this function's time
        tot = inside[name].groupby("person_id", observed=True, sort=False)["cost_yen"].sum()
        tot.index = tot.index.astype(str)
        out[col] = np.log1p(tot.reindex(pid_index).fillna(0.0).to_numpy(dtype=float))
    med = inside["medical_claims"]
    inp = med[equals_str(med["claim_type"], "inpatient")]
    out["inpatient_12m"] = pid_index.isin(inp["person_id"].astype(str).unique()).astype(np.int64)
    out["prior_certification"] = pid_index.isin(list(prior_cert)).astype(np.int64)

    # outcome: first certification application in [at, horizon_end), death competing, censoring
    allc = cert[(cert.application_date >= at_ts) & (cert.application_date < horizon_end)]
    allc = allc.assign(_pid=allc["person_id"].astype(str)).sort_values("application_date", kind="stable")
    first = allc.drop_duplicates("_pid", keep="first").set_index("_pid")
    cdate = first["application_date"].reindex(pid_index).to_numpy(dtype="datetime64[ns]")
    care2 = first["level"].astype(str).isin(_CARE2).reindex(pid_index, fill_value=False).to_numpy(dtype=bool)
    big = np.datetime64("2262-01-01", "ns")
    death = rk["death_date"].to_numpy(dtype="datetime64[ns]")
    death = np.where(np.isnat(death), big, death)
    move_out = rk["move_out_date"].to_numpy(dtype="datetime64[ns]")
    move_out = np.where(np.isnat(move_out), big, move_out)
    hend = np.datetime64(horizon_end, "ns")
    cens_at = np.minimum(np.minimum(move_out, np.datetime64(end_excl, "ns")), hend)
    has_c = ~np.isnat(cdate)
    cdate = np.where(has_c, cdate, big)
    t_end = np.minimum(np.minimum(cdate, death), cens_at)
    event = np.where(has_c & (cdate <= t_end), 1, np.where((death <= t_end) & (death < hend), 2, 0))
    time = (t_end - np.datetime64(at_ts, "ns")) / np.timedelta64(1, "D") / _DAYS_PER_MONTH
    out["event"] = event.astype(np.int64)
    out["time_months"] = np.minimum(time, float(horizon_months))
    out["certified"] = (event == 1).astype(np.int64)
    out["certified_care2"] = ((event == 1) & care2).astype(np.int64)
    out["died"] = (event == 2).astype(np.int64)
    out["censored"] = (event == 0) & (t_end < hend)
    out["ipcw"] = _ipcw(out["time_months"].to_numpy(), out["censored"].to_numpy(), float(horizon_months))

    params = {"at": str(at_ts.date()), "kcl_lookback_months": kcl_lookback_months,
              "checkup_lookback_months": checkup_lookback_months, "horizon_months": horizon_months,
              "origin": origin, "data_end": data_end, "persons": None if persons is None else len(cand),
              "late_elderly_questionnaire": lq_state, "prior_use_months_observed": observed}
    return RiskFrame(data=out, exclusions=exclusions, parameters=params, n_considered=int(len(cand)))
