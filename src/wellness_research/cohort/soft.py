"""The SOFT analysis frame: one row per analysed person at an index month, with exclusions accounted.

Design (target-trial style; the SOFT joint-research protocol names the parameters):

* **Participants** (``soft = 1``): residents whose first SOFT session month is at or before
  ``index_end`` and who attended at least ``min_sessions`` sessions in the ``window_months``
  calendar months starting with that month (the default ``min_sessions=1`` makes every starter a
  participant). Index month = the month of the first session.
* **Controls** (``soft = 0``): every other resident — including persons who start SOFT later, or
  who start with fewer than ``min_sessions`` sessions — gets **one** index month drawn at random
  (seeded) from the participants' index months, and is kept only if eligible then (see below)
  and not yet a SOFT attender before that month ("not yet treated"). This is risk-set sampling in
  calendar time: a control's index is a calendar month drawn with the participants' distribution,
  and only persons still at risk (eligible) in that month enter. A participant is never also a
  control row.
* **Eligibility at the index month (both arms)**: aged 65+ at the start of the month, resident
  (moved in before and not moved out before the first day), alive, not certified (no valid
  certification other than 非該当 covering the first day), living in a district with an open SOFT
  site that month (``require_open_site``).
* **Follow-up**: ``followup_months`` calendar months from the first day of the index month. With
  ``movers="drop"`` (the default, the design of the matching and DiD coverage benchmarks) persons
  who move out within the window are excluded; with ``movers="censor"`` they stay and are censored
  at the move-out date in the time-to-event outcomes.
* **Covariates at baseline** (all measured strictly before the index month): age, sex, district,
  the Kihon Checklist total and its seven domain scores from the latest questionnaire (0 and
  ``kcl_missing = 1`` if none), てくポ registration, a health checkup in the previous fiscal year,
  the latest checkup values (BMI, SBP, HbA1c, LDL-C, eGFR; median-imputed with a ``*_missing``
  indicator), the months since the latest checklist and checkup (``kcl_months_since``,
  ``checkup_months_since``; 0 when none), log(1 + medical cost) and log(1 + LTC cost) in the 12
  months before the index month, a prior (expired) certification, and prior use in those 12 months
  (months with an inpatient / outpatient claim, applications decided 非該当, サービスC).
* **Outcomes**: ``certified_36m`` — a new certification (level other than 非該当) applied for in
  the window (death is a competing event: a certification before death counts, death without one
  counts as no event); ``certified_care2_36m`` — the same for 要介護2–5; ``died_36m``. Time-to-event
  versions for Aalen–Johansen / Cox: ``cert_time`` / ``cert_event`` and ``care2_time`` /
  ``care2_event`` in months (days / 30.4375) with events coded 1 = certification, 2 = death
  without it first (competing), 0 = censored (move-out, end of data, end of follow-up).

Every resident is accounted for: either a row of :attr:`CohortFrame.data` or a row of
:attr:`CohortFrame.exclusions` with the first eligibility rule failed (see :data:`EXCLUSION_REASONS`).

With the default arguments the frame is, number for number, the one the matching recovery tests
and the coverage benchmarks were run on (the helper formerly in ``tests/test_matching_recovery.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from wellness_research.errors import ConfigurationError, DataValidationError

__all__ = ["EXCLUSION_REASONS", "LANDMARK_EXCLUSION_REASONS", "SOFT_COVARIATES", "CohortFrame", "MoverRule",
           "soft_frame"]

MoverRule = Literal["drop", "censor"]

#: The baseline covariates of the primary matching model (the recovery tests and benchmarks).
SOFT_COVARIATES: tuple[str, ...] = ("age", "female", "kcl_total", "kcl_missing", "tekupo", "checkup_last_fy",
                                    "log_medical_cost_12m", "index_month")

#: Exclusion reasons, in the order they are checked (a person is reported under the first one).
EXCLUSION_REASONS: tuple[str, ...] = (
    "no residents row",
    "index month after index_end",
    "under 65 at index",
    "not yet resident at index",
    "resident for less than min_residence_months",
    "moved out before index",
    "died before index",
    "certified at index",
    "no open SOFT site in district at index",
    "SOFT attender before index",
    "moved out during follow-up",
)

#: Exclusion reasons of the landmark design (``landmark_months`` set), in the order they are checked:
#: the index-month rules, then the landmark rules, then moving out during follow-up.
LANDMARK_EXCLUSION_REASONS: tuple[str, ...] = (
    *EXCLUSION_REASONS[:-1],
    "landmark after end of data",
    "SOFT start before landmark",
    "moved out before landmark",
    "died before landmark",
    "certified before landmark",
    "under 65 at landmark",
    "moved out during follow-up",
)

# the columns (and their order) of the frame the recovery tests and coverage benchmarks were run on
_CORE_COLUMNS = ("person_id", "soft", "index_month", "index_date", "certified_36m", "age", "female", "district",
                 "kcl_missing", "kcl_total", "tekupo", "checkup_last_fy", "log_medical_cost_12m")
_KCL_DOMAINS: dict[str, tuple[int, ...]] = {
    "kcl_iadl": (1, 2, 3, 4, 5),
    "kcl_physical": (6, 7, 8, 9, 10),
    "kcl_nutrition": (11, 12),
    "kcl_oral": (13, 14, 15),
    "kcl_housebound": (16, 17),
    "kcl_cognition": (18, 19, 20),
    "kcl_mood": (21, 22, 23, 24, 25),
}
_CHECKUP_VALUES = ("bmi", "sbp", "hba1c", "ldl_c", "egfr")
_CARE2 = ("要介護2", "要介護3", "要介護4", "要介護5")
_NEVER = 10_000  # month sentinel for "never"
_DAYS_PER_MONTH = 365.25 / 12
_REQUIRED = {
    "residents": ("person_id", "birth_month", "sex", "district", "move_in_date", "move_out_date", "death_date"),
    "soft_attendance": ("person_id", "session_date"),
    "soft_sites": ("district", "start_date", "end_date"),
    "ltc_certifications": ("person_id", "application_date", "level", "valid_from", "valid_to"),
    "kihon_checklist": ("person_id", "survey_date"),
    "tekupo_users": ("person_id", "registration_date"),
    "health_checkups": ("person_id", "checkup_date"),
    "medical_claims": ("person_id", "service_month", "cost_yen"),
    "ltc_claims": ("person_id", "service_month", "cost_yen"),
}


@dataclass(frozen=True, eq=False)
class CohortFrame:
    """The analysis frame of a cohort design and the account of everyone not in it.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per analysed person (columns: see the module docstring), ``soft`` the exposure.
    exclusions : pandas.DataFrame
        One row per excluded resident: ``person_id``, ``soft`` (the arm the person was a candidate
        for), ``index_month`` (the candidate index, months since April 2019; -1 if none) and
        ``reason`` (one of :data:`EXCLUSION_REASONS`).
    parameters : dict
        The arguments the frame was built with.
    n_residents : int
        Residents considered (= rows of ``data`` + rows of ``exclusions``).
    """

    data: pd.DataFrame = field(repr=False)
    exclusions: pd.DataFrame = field(repr=False)
    parameters: dict[str, Any]
    n_residents: int

    def flow(self) -> pd.DataFrame:
        """Counts by step: residents, each exclusion reason, analysed; columns ``participant``, ``control``."""
        ex = self.exclusions
        rows = [("candidates", int((ex.soft == 1).sum() + (self.data.soft == 1).sum()),
                 int((ex.soft == 0).sum() + (self.data.soft == 0).sum()))]
        reasons = EXCLUSION_REASONS if self.parameters.get("landmark_months") is None else LANDMARK_EXCLUSION_REASONS
        for r in reasons:
            sel = ex[ex.reason == r]
            rows.append((f"excluded: {r}", int((sel.soft == 1).sum()), int((sel.soft == 0).sum())))
        rows.append(("analysed", int((self.data.soft == 1).sum()), int((self.data.soft == 0).sum())))
        return pd.DataFrame(rows, columns=["step", "participant", "control"])

    def tidy(self) -> pd.DataFrame:
        """The flow in long form: ``term`` (step and arm) and ``n``."""
        f = self.flow()
        long = f.melt(id_vars="step", var_name="arm", value_name="n")
        return pd.DataFrame({"term": long["step"] + " [" + long["arm"] + "]", "n": long["n"].astype(np.int64)})

    def summary(self) -> str:
        """Plain-text cohort flow (every exclusion counted)."""
        f = self.flow()
        f = f[(f.participant > 0) | (f.control > 0) | ~f.step.str.startswith("excluded")]
        width = max(len(s) for s in f.step)
        lines = [f"SOFT cohort: {self.n_residents} residents considered",
                 f"  {'step':<{width}}  {'participant':>11}  {'control':>9}"]
        lines += [f"  {s:<{width}}  {a:>11}  {b:>9}" for s, a, b in f.itertuples(index=False)]
        p = self.parameters
        lines.append(f"  exposure: >= {p['min_sessions']} session(s) in the first {p['window_months']} month(s); "
                     f"follow-up {p['followup_months']} months; movers: {p['movers']}")
        if p.get("landmark_months") is not None:
            lines.append(f"  time zero: landmark = index + {p['landmark_months']} months, both arms")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.flow().to_html(index=False)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _month_of(ts: pd.Timestamp, origin: np.datetime64) -> int:
    return int(np.datetime64(ts, "M").astype(np.int64) - origin.astype(np.int64))


def _month(s: pd.Series, origin: np.datetime64) -> np.ndarray:
    """Months since ``origin`` (NaT -> a large sentinel)."""
    v = s.to_numpy(dtype="datetime64[ns]")
    out = v.astype("datetime64[M]").astype(np.int64) - origin.astype(np.int64)
    return np.where(np.isnat(v), _NEVER, out)


def _check_tables(tables: Any) -> None:
    for name, cols in _REQUIRED.items():
        if name not in tables:
            raise DataValidationError(f"soft_frame: table {name!r} is missing; needed are {sorted(_REQUIRED)}.")
        missing = [c for c in cols if c not in tables[name].columns]
        if missing:
            raise DataValidationError(f"soft_frame: table {name!r} lacks column(s) {missing} "
                                      f"({len(tables[name])} rows; needed: {list(cols)}).")
        if "person_id" in cols and not isinstance(tables[name]["person_id"].dtype, pd.CategoricalDtype):
            raise DataValidationError(f"soft_frame: {name}.person_id must be categorical with the residents' "
                                      "categories (as read by wellness_research.data.io); got "
                                      f"{tables[name]['person_id'].dtype}.")
    res = tables["residents"]
    if res["person_id"].duplicated().any():
        ex = res.loc[res["person_id"].duplicated(), "person_id"].iloc[0]
        raise DataValidationError(f"soft_frame: residents.person_id is not unique "
                                  f"({int(res['person_id'].duplicated().sum())} duplicate rows, e.g. {ex!r}).")


def _months_before(when: pd.Series, months: int) -> pd.Series:
    """First day of the month ``months`` before each date's month (the start of a look-back window)."""
    m = pd.to_datetime(when).to_numpy(dtype="datetime64[ns]").astype("datetime64[M]") - np.timedelta64(months, "M")
    return pd.Series(m.astype("datetime64[ns]"), index=when.index)


def _months_since(when: pd.Series, start: pd.Series, missing: pd.Series) -> np.ndarray:
    """Whole months from the month of ``when`` to the month of ``start`` (0 where ``missing``)."""
    w = pd.to_datetime(when).to_numpy(dtype="datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    s = pd.to_datetime(start).to_numpy(dtype="datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    return np.where(missing.to_numpy(), 0, s - w).astype(np.int64)


def _months_with_rows(rows_p: np.ndarray, rows_m: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray, *,
                      count: Literal["months", "rows"] = "months") -> np.ndarray:
    """Per frame row: distinct months (or records) of person ``p``'s records with month in ``[lo, hi)``."""
    if len(rows_p) == 0 or len(p) == 0:
        return np.zeros(len(p), np.int64)
    m0 = int(min(rows_m.min(), lo.min()))
    width = int(max(rows_m.max(), hi.max()) - m0 + 2)
    people, local = np.unique(np.concatenate([p, rows_p]), return_inverse=True)
    rp, fp = local[len(p):], local[: len(p)]
    per_month = np.bincount(rp * width + (rows_m - m0 + 1), minlength=len(people) * width).reshape(len(people), width)
    if count == "months":
        per_month = (per_month > 0).astype(np.int64)
    cum = np.cumsum(per_month, axis=1)  # cum[:, k] = records of months < k + m0
    return (cum[fp, hi - m0] - cum[fp, lo - m0]).astype(np.int64)


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigurationError(f"soft_frame: {name}={value!r} is not valid; use an integer >= 1.")
    return int(value)


# --------------------------------------------------------------------------------------------
# the frame
# --------------------------------------------------------------------------------------------
def soft_frame(
    tables: Any,
    *,
    seed: int | np.random.Generator | None = 0,
    min_sessions: int = 1,
    window_months: int = 3,
    followup_months: int = 36,
    origin: str = "2019-04",
    data_end: str = "2026-03",
    index_end: str | None = None,
    movers: MoverRule = "drop",
    require_open_site: bool = True,
    landmark_months: int | None = None,
    min_residence_months: int = 0,
    kcl_lookback_months: int | None = None,
    checkup_lookback_months: int | None = None,
) -> CohortFrame:
    """Build the SOFT analysis frame (participants at their start month, risk-set sampled controls).

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        The municipality's tables as read by :mod:`wellness_research.data.io` or generated by
        :func:`wellness_research.synthetic.make_municipality` (``person_id`` categorical with the
        residents' categories). Not modified.
    seed : int, numpy.random.Generator or None, default 0
        Draws the controls' index months.
    min_sessions : int, default 1
        Exposure: at least this many sessions in the first ``window_months`` months.
    window_months : int, default 3
        Length of the exposure-ascertainment window, in calendar months from the first session month.
    followup_months : int, default 36
        Outcome window from the first day of the index month.
    origin : str, default "2019-04"
        First month of the data (month 0 of ``index_month``).
    data_end : str, default "2026-03"
        Last month of the data; follow-up is censored at its end.
    index_end : str or None, default None
        Last index month admitted. ``None``: the last month with full follow-up
        (``data_end`` + 1 − ``followup_months``, i.e. 2023-04 for 36 months to March 2026).
    movers : {"drop", "censor"}, default "drop"
        Persons who move out within the follow-up window: excluded, or kept and censored.
    require_open_site : bool, default True
        Eligibility also requires an open SOFT site in the person's district in the index month.
    landmark_months : int or None, default None
        ``None``: follow-up starts at the index month (the frame of the recovery tests). An integer
        ``L`` (the protocol's landmark, 3; at least ``window_months``): time zero is the landmark,
        the first day of month ``index + L``, for participants and controls alike. Both arms must
        be eligible at the index month and, at the landmark, still resident, alive, without a new
        certification (applied in ``[index, landmark)`` or valid on the landmark day) and 65+;
        controls must not have started SOFT before the landmark. Outcomes, ``*_time`` and the
        follow-up window (``followup_months``) run from the landmark; covariates stay measured
        before the index month. Exclusions use :data:`LANDMARK_EXCLUSION_REASONS`, and the frame
        gains ``landmark_month`` and ``landmark_date``.
    min_residence_months : int, default 0
        Eligibility also requires residence since at least this many months before the index month
        (the covariate look-back window): a person who moved in later is excluded as "resident for
        less than min_residence_months" (their baseline claims would be incomplete).
    kcl_lookback_months, checkup_lookback_months : int or None, default None
        The latest Kihon Checklist / checkup counts only if answered or done in the months
        ``-lookback .. -1`` before the index month; an older one is treated as missing. ``None``:
        the latest before the index month, however old.

    Returns
    -------
    CohortFrame
        ``data`` (one row per analysed person), ``exclusions`` (one row per excluded resident with
        the reason), ``flow()`` and ``summary()``.

    Raises
    ------
    DataValidationError
        A table or column is missing, ``person_id`` is not categorical, residents are duplicated.
    ConfigurationError
        An invalid option (the message names it).

    Notes
    -----
    Without a landmark and with ``min_sessions > 1`` the exposure is ascertained over the
    ``window_months`` after the index month, so a participant must stay well enough to attend that
    often (immortal time: participants cannot have an event that stops attendance early, controls
    can). ``landmark_months >= window_months`` removes it: exposure is known at the landmark and
    follow-up starts there for both arms (Dafni 2011).

    References
    ----------
    Hernán MA, Robins JM (2016). Using big data to emulate a target trial when a randomized trial is
    not available. *Am J Epidemiol* 183(8):758–764 (time zero, eligibility and assignment aligned).
    Suissa S (2008). Immortal time bias in pharmacoepidemiology. *Am J Epidemiol* 167(4):492–499.
    Dafni U (2011). Landmark analysis at the 25-year landmark point. *Circ Cardiovasc Qual Outcomes*
    4(3):363–371.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> from wellness_research.cohort import soft_frame
    >>> cf = soft_frame(make_municipality("tiny", seed=0).tables, seed=0)
    >>> int(cf.data.soft.sum()), int((cf.data.soft == 0).sum())
    (18, 171)
    >>> len(cf.data) + len(cf.exclusions) == cf.n_residents     # every resident accounted for
    True
    >>> int((cf.exclusions.reason == "moved out during follow-up").sum())
    9
    >>> lm = soft_frame(make_municipality("tiny", seed=0).tables, seed=0, min_sessions=4, landmark_months=3)
    >>> bool((lm.data.landmark_month == lm.data.index_month + 3).all())
    True
    """
    _check_tables(tables)
    min_sessions = _positive_int(min_sessions, "min_sessions")
    window_months = _positive_int(window_months, "window_months")
    followup_months = _positive_int(followup_months, "followup_months")
    if movers not in get_args(MoverRule):
        raise ConfigurationError(f"soft_frame: movers={movers!r} is not valid; use one of {list(get_args(MoverRule))}.")
    if landmark_months is not None:
        landmark_months = _positive_int(landmark_months, "landmark_months")
        if landmark_months < window_months:
            raise ConfigurationError(f"soft_frame: landmark_months={landmark_months} is not valid with "
                                     f"window_months={window_months}; the landmark must not precede the end of the "
                                     "exposure window (use landmark_months >= window_months).")
    lm = 0 if landmark_months is None else landmark_months
    if isinstance(min_residence_months, bool) or not isinstance(min_residence_months, (int, np.integer)) \
            or min_residence_months < 0:
        raise ConfigurationError(f"soft_frame: min_residence_months={min_residence_months!r} is not valid; "
                                 "use an integer >= 0.")
    kcl_lookback_months = None if kcl_lookback_months is None else _positive_int(kcl_lookback_months,
                                                                                 "kcl_lookback_months")
    checkup_lookback_months = None if checkup_lookback_months is None else _positive_int(
        checkup_lookback_months, "checkup_lookback_months")
    try:
        org = np.datetime64(pd.Timestamp(origin), "M")
        end_m = _month_of(pd.Timestamp(data_end), org)
        last_index = end_m + 1 - lm - followup_months if index_end is None else _month_of(pd.Timestamp(index_end), org)
    except (ValueError, TypeError) as err:
        raise ConfigurationError(f"soft_frame: origin={origin!r}, data_end={data_end!r}, index_end={index_end!r} "
                                 f"must be months such as '2019-04' ({err}).") from err
    if last_index < 0:
        raise ConfigurationError(f"soft_frame: index_end resolves to month {last_index} (before origin {origin}); "
                                 f"followup_months={followup_months} leaves no index month with full follow-up.")
    data_end_ns = (org + np.timedelta64(end_m + 1, "M")).astype("datetime64[ns]")  # exclusive

    rng = np.random.default_rng(seed)
    res = tables["residents"]
    n = len(res.person_id.cat.categories)
    code = res.person_id.cat.codes.to_numpy()
    has_row = np.zeros(n, bool)
    has_row[code] = True

    def per_person(values, fill, codes=code):
        out = np.full(n, fill, dtype=np.asarray(values).dtype if fill is not None else float)
        out[codes] = values
        return out

    birth = per_person(_month(res.birth_month, org), 0)
    female = per_person((res.sex == "F").to_numpy().astype(np.int64), 0)
    district = per_person(res.district.cat.codes.to_numpy().astype(np.int64), 0)
    far_past, far_future = np.datetime64("1900-01-01"), np.datetime64("2100-01-01")
    move_in = per_person(res.move_in_date.fillna(pd.Timestamp(far_past)).to_numpy(), far_past)
    move_out = per_person(res.move_out_date.fillna(pd.Timestamp(far_future)).to_numpy(), far_future)
    death = per_person(res.death_date.fillna(pd.Timestamp(far_future)).to_numpy(), far_future)

    # exposure: first SOFT session month, sessions in the first window_months
    att = tables["soft_attendance"]
    acode = att.person_id.cat.codes.to_numpy().astype(np.int64)
    first = att.groupby(att.person_id.cat.codes.rename("p"), observed=True)["session_date"].min()
    soft_month = np.full(n, _NEVER, dtype=np.int64)
    soft_month[first.index.to_numpy()] = _month(first, org)
    amonth = _month(att.session_date, org)
    in_window = (amonth >= soft_month[acode]) & (amonth < soft_month[acode] + window_months)
    sessions = np.bincount(acode[in_window], minlength=n)
    treated_ids = np.flatnonzero((soft_month <= last_index) & (sessions >= min_sessions))
    pool = np.setdiff1d(np.arange(n), treated_ids)
    ctrl_index = rng.choice(soft_month[treated_ids], size=len(pool), replace=True)
    person = np.concatenate([treated_ids, pool])
    index = np.concatenate([soft_month[treated_ids], ctrl_index]).astype(np.int64)
    soft = np.concatenate([np.ones(len(treated_ids), np.int64), np.zeros(len(pool), np.int64)])
    start = (org + index.astype("timedelta64[M]")).astype("datetime64[ns]")
    fu = (start.astype("datetime64[M]") + np.timedelta64(lm, "M")).astype("datetime64[ns]")  # time zero
    end = (fu.astype("datetime64[M]") + np.timedelta64(followup_months, "M")).astype("datetime64[ns]")

    # eligibility at the index month
    sites = tables["soft_sites"]
    s_start, s_end = _month(sites.start_date, org), _month(sites.end_date, org)
    s_dist = sites.district.cat.codes.to_numpy()
    n_months = max(200, end_m + 2, int(index.max(initial=0)) + 1 + lm)
    n_dist = max(int(s_dist.max(initial=-1)) + 1, int(district.max(initial=-1)) + 1, 1)
    open_site = np.zeros((n_dist, n_months), dtype=bool)
    for d, a, b in zip(s_dist, s_start, s_end, strict=True):
        open_site[d, max(a, 0): min(b, n_months - 1) + 1] = True
    cert_all = tables["ltc_certifications"]
    valid_cert = (cert_all.level != "非該当").to_numpy()
    cert = cert_all[valid_cert]
    cp = cert.person_id.cat.codes.to_numpy()
    frame = pd.DataFrame({"p": person, "soft": soft, "index_month": index, "start": start, "end": end})
    # certified at index: a certification record whose validity covers the first day of the month
    ce = pd.DataFrame({"p": cp.astype(np.int64), "vfrom": cert.valid_from.to_numpy(), "vto": cert.valid_to.to_numpy(),
                       "app": cert.application_date.to_numpy(),
                       "care2": cert.level.isin(_CARE2).to_numpy()})
    j = frame[["p", "start", "end"]].reset_index().merge(ce, on="p")
    covered = j[(j.vfrom < j.start) & (j.vto >= j.start)]["index"].unique()
    certified_at_index = np.zeros(len(frame), bool)
    certified_at_index[covered] = True
    jfu = fu[j["index"].to_numpy()]
    new_cert = j[((j.vfrom < jfu) & (j.vto >= jfu)) | ((j.app >= j.start) & (j.app < jfu))]["index"].unique()
    certified_at_landmark = np.zeros(len(frame), bool)
    certified_at_landmark[new_cert] = True

    rules = [
        ~has_row[person],
        index > last_index,
        index - birth[person] < 780,
        ~(move_in[person] < start),
        ~(move_in[person] < (start.astype("datetime64[M]") - np.timedelta64(int(min_residence_months), "M")
                             ).astype("datetime64[ns]")) if min_residence_months else np.zeros(len(frame), bool),
        ~(move_out[person] >= start),
        ~(death[person] >= start),
        certified_at_index,
        ~open_site[district[person], index] if require_open_site else np.zeros(len(frame), bool),
        ~(soft_month[person] >= index),  # a participant before the index month
    ]
    if landmark_months is not None:
        rules += [
            index + lm > end_m,
            (soft == 0) & (soft_month[person] < index + lm),  # a control who started SOFT before time zero
            ~(move_out[person] >= fu),
            ~(death[person] >= fu),
            certified_at_landmark,
            index + lm - birth[person] < 780,
        ]
    rules.append((move_out[person] < end) if movers == "drop" else np.zeros(len(frame), bool))
    reasons = EXCLUSION_REASONS if landmark_months is None else LANDMARK_EXCLUSION_REASONS
    reason = np.full(len(frame), -1, dtype=np.int64)
    for k, failed in enumerate(rules):
        reason[(reason < 0) & failed] = k
    keep = reason < 0
    exclusions = pd.DataFrame({
        "person_id": pd.Categorical.from_codes(person[~keep], dtype=res.person_id.dtype),
        "soft": soft[~keep],
        "index_month": np.where(has_row[person[~keep]], index[~keep], -1),
        "reason": pd.Categorical.from_codes(reason[~keep], categories=list(reasons)),
    })

    # outcomes: first certification application (any / care 2+) in [time zero, end), death
    app_in = j[(j.app >= jfu) & (j.app < j.end)]
    first_app = app_in.groupby("index")["app"].min()
    first_care2 = app_in[app_in.care2].groupby("index")["app"].min()
    frame["certified_36m"] = 0
    frame.loc[app_in["index"].unique(), "certified_36m"] = 1
    frame["certified_care2_36m"] = 0
    frame.loc[first_care2.index, "certified_care2_36m"] = 1
    dday = death[person]
    frame["died_36m"] = ((dday >= fu) & (dday < end)).astype(np.int64)
    cens = np.minimum(np.minimum(end, data_end_ns), move_out[person].astype("datetime64[ns]"))
    for name, first_event in (("cert", first_app), ("care2", first_care2)):
        ev_date = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
        ev_date[first_event.index.to_numpy()] = first_event.to_numpy()
        has = ~np.isnat(ev_date)
        ev_date = np.where(has, ev_date, np.datetime64("2262-01-01", "ns"))
        t_event = np.minimum(np.minimum(ev_date, dday.astype("datetime64[ns]")), cens)
        event = np.where(has & (ev_date <= t_event), 1,
                         np.where((dday < end) & (dday.astype("datetime64[ns]") <= t_event) & (dday >= fu), 2, 0))
        days = (t_event - fu) / np.timedelta64(1, "D")
        frame[f"{name}_time"] = np.minimum(days / _DAYS_PER_MONTH, float(followup_months))
        frame[f"{name}_event"] = event.astype(np.int64)

    frame["sessions_window"] = sessions[person] * soft
    if landmark_months is not None:
        frame["landmark_month"] = index + lm
        frame["landmark_date"] = fu
    frame = frame.loc[keep].reset_index(drop=True)
    p = frame["p"].to_numpy()
    frame["age"] = (frame["index_month"] - birth[p]) / 12.0
    frame["female"] = female[p]
    frame["district"] = pd.Categorical.from_codes(district[p], categories=res.district.cat.categories)

    # latest Kihon Checklist before the index month: total and domains
    kcl = tables["kihon_checklist"]
    qcols = [f"q{i:02d}" for i in range(1, 26)]
    missing_q = [c for c in qcols if c not in kcl.columns]
    if missing_q:
        raise DataValidationError(f"soft_frame: table 'kihon_checklist' lacks column(s) {missing_q} "
                                  f"({len(kcl)} rows).")
    q = kcl[qcols].fillna(0).to_numpy()
    kd = pd.DataFrame({"p": kcl.person_id.cat.codes.to_numpy().astype(np.int64), "survey": kcl.survey_date.to_numpy(),
                       "kcl_total": q.sum(axis=1).astype(float)})
    for dom, items in _KCL_DOMAINS.items():
        kd[dom] = q[:, [i - 1 for i in items]].sum(axis=1).astype(float)
    kd = kd.sort_values("survey")
    left = frame[["p", "start"]].reset_index().sort_values("start")
    got = pd.merge_asof(left, kd, left_on="start", right_on="survey", by="p", allow_exact_matches=False)
    got = got.set_index("index").sort_index()
    if kcl_lookback_months is not None:  # older than the look-back: missing
        too_old = (got["survey"] < _months_before(got["start"], kcl_lookback_months)).to_numpy()
        got.loc[too_old, ["kcl_total", *_KCL_DOMAINS]] = np.nan
    frame["kcl_missing"] = got["kcl_total"].isna().astype(np.int64).to_numpy()
    frame["kcl_months_since"] = _months_since(got["survey"], got["start"], got["kcl_total"].isna())
    frame["kcl_total"] = got["kcl_total"].fillna(0.0).to_numpy()
    domains = {dom: got[dom].fillna(0.0).to_numpy() for dom in _KCL_DOMAINS}

    # てくポ registration before the index month
    tk = tables["tekupo_users"]
    reg = per_person(tk.registration_date.to_numpy(), np.datetime64("2100-01-01"),
                     codes=tk.person_id.cat.codes.to_numpy())
    frame["tekupo"] = (reg[p] < frame["start"].to_numpy()).astype(np.int64)

    # a health checkup in the previous fiscal year
    hc = tables["health_checkups"]
    hm = _month(hc.checkup_date, org)
    hfy = np.floor_divide(hm, 12)  # fiscal year, 0 = the origin's year
    fy = np.floor_divide(frame["index_month"].to_numpy(), 12)
    n_fy = max(int(hfy[hm < _NEVER].max(initial=0)) + 1, int(fy.max(initial=0)) + 1, 1)
    attended = np.zeros((n, n_fy), dtype=bool)
    ok = hm < _NEVER
    attended[hc.person_id.cat.codes.to_numpy()[ok], np.clip(hfy[ok], 0, n_fy - 1)] = True
    prev = fy - 1
    frame["checkup_last_fy"] = np.where(prev >= 0, attended[p, np.clip(prev, 0, n_fy - 1)], False).astype(np.int64)

    # prior medical and LTC cost in the 12 months before the index month
    idx = frame["index_month"].to_numpy()
    for table, col in (("medical_claims", "log_medical_cost_12m"), ("ltc_claims", "log_ltc_cost_12m")):
        mc = tables[table]
        mm = _month(mc.service_month, org)
        inside = (mm >= 0) & (mm < _NEVER)
        width = max(end_m + 2, int(mm[inside].max(initial=0)) + 2, int(idx.max(initial=0)) + 1)
        flat = mc.person_id.cat.codes.to_numpy().astype(np.int64)[inside] * width + (mm[inside] + 1)
        cost = np.bincount(flat, weights=mc.cost_yen.to_numpy(dtype=float)[inside],
                           minlength=n * width).reshape(n, width)
        cum = np.cumsum(cost, axis=1)  # cum[:, k] = cost of months < k
        prior = cum[p, idx] - cum[p, np.maximum(idx - 12, 0)]
        frame[col] = np.log1p(prior)

    # the rest of the baseline: KCL domains, latest checkup values, prior certification
    for dom, values in domains.items():
        frame[dom] = values
    hv = [c for c in _CHECKUP_VALUES if c in hc.columns]
    hk = pd.DataFrame({"p": hc.person_id.cat.codes.to_numpy().astype(np.int64), "when": hc.checkup_date.to_numpy()})
    for c in hv:
        hk[c] = hc[c].to_numpy(dtype=float)
    hk = hk.sort_values("when")
    got = pd.merge_asof(left, hk, left_on="start", right_on="when", by="p", allow_exact_matches=False)
    got = got.set_index("index").sort_index()
    if checkup_lookback_months is not None:
        too_old = (got["when"] < _months_before(got["start"], checkup_lookback_months)).to_numpy()
        got.loc[too_old, hv] = np.nan
    frame["checkup_months_since"] = _months_since(got["when"], got["start"], got[hv].isna().all(axis=1))
    for c in hv:
        v = got[c].to_numpy(dtype=float)
        miss = np.isnan(v)
        fill = float(np.nanmedian(v)) if (~miss).any() else 0.0
        frame[c] = np.where(miss, fill, v)
        frame[f"{c}_missing"] = miss.astype(np.int64)
    prior_cert = j[j.app < j.start]["index"].unique()
    had = np.zeros(len(keep), bool)
    had[prior_cert] = True
    frame["prior_certification"] = had[keep].astype(np.int64)

    # prior use in the 12 months before the index month: months with an inpatient / outpatient claim,
    # applications decided 非該当, the short-term intensive service (サービスC)
    base_lo, base_hi = idx - 12, idx  # months [index - 12, index)
    mc = tables["medical_claims"]
    if "claim_type" in mc.columns:
        mm = _month(mc.service_month, org)
        mp = mc.person_id.cat.codes.to_numpy().astype(np.int64)
        for kind in ("inpatient", "outpatient"):
            sel = (mc.claim_type == kind).to_numpy() & (mm < _NEVER)
            frame[f"{kind}_months_12m"] = _months_with_rows(mp[sel], mm[sel], p, base_lo, base_hi)
    nq = cert_all[~valid_cert]
    nq_m = _month(nq.application_date, org)
    frame["non_qualifying_application_12m"] = _months_with_rows(
        nq.person_id.cat.codes.to_numpy().astype(np.int64)[nq_m < _NEVER], nq_m[nq_m < _NEVER], p, base_lo, base_hi,
        count="rows")
    if "short_term_episodes" in tables:
        ep = tables["short_term_episodes"]
        if not {"person_id", "start_date", "end_date"} <= set(ep.columns):
            raise DataValidationError(f"soft_frame: table 'short_term_episodes' lacks column(s) "
                                      f"{sorted({'person_id', 'start_date', 'end_date'} - set(ep.columns))} "
                                      f"({len(ep)} rows).")
        es, ee = _month(ep.start_date, org), _month(ep.end_date, org)
        started = es < _NEVER
        lookup = pd.DataFrame({"p": ep.person_id.cat.codes.to_numpy().astype(np.int64)[started],
                               "s": es[started], "e": ee[started]})
        rows = pd.DataFrame({"p": p, "lo": base_lo, "hi": base_hi, "row": np.arange(len(frame))}).merge(lookup, on="p")
        # in service at some month of [lo, hi): started before hi and not ended before lo (open end = ongoing)
        hit = rows[(rows.s < rows.hi) & (rows.e >= rows.lo)]["row"].unique()
        used = np.zeros(len(frame), np.int64)
        used[hit] = 1
        frame["service_c_12m"] = used

    frame.insert(0, "person_id", pd.Categorical.from_codes(p, dtype=res.person_id.dtype))
    frame = frame.drop(columns=["p", "end"]).rename(columns={"start": "index_date"})
    frame = frame[[*_CORE_COLUMNS, *(c for c in frame.columns if c not in _CORE_COLUMNS)]]
    params = {"seed": seed if not isinstance(seed, np.random.Generator) else "Generator",
              "min_sessions": min_sessions, "window_months": window_months, "followup_months": followup_months,
              "origin": origin, "data_end": data_end, "index_end": index_end, "last_index_month": last_index,
              "movers": movers, "require_open_site": bool(require_open_site), "landmark_months": landmark_months,
              "min_residence_months": int(min_residence_months), "kcl_lookback_months": kcl_lookback_months,
              "checkup_lookback_months": checkup_lookback_months}
    return CohortFrame(data=frame, exclusions=exclusions, parameters=params, n_residents=int(len(person)))
