"""Person-month cost panels from the claims tables, for difference-in-differences.

:func:`cost_panel` turns ``residents``, ``ltc_claims`` and ``medical_claims`` into one row per
person and calendar month in which the person is observed (resident, alive, aged 65+), with the
month's LTC and medical cost — zero in months without claims — and the person's first exposure to
a programme (the *cohort*). Given a matched design it stacks one block of months per matched row,
with the matching weight and the time relative to the row's index month, ready for
:func:`wellness_research.did.twfe.did_2x2` or an event study.

Observation rule (the claims generator's, :mod:`wellness_research.synthetic`): a person is in the
panel in month ``m`` when

* ``start <= m <= end``;
* ``m`` is after the month of moving in (the first month of residence is the month after the
  move-in date; residents before the period have no move-in date);
* ``m`` is before the month of moving out (the insurer changes; the move-out month has no claims);
* ``m`` is not after the month of death (the month of death is *included*: claims exist for it);
* the person is aged ``min_age`` or more at the start of ``m`` (``m - birth_month >= 12 * min_age``).

These months form one interval per person, so the panel is built with ``numpy.repeat`` and the
claims are summed with ``numpy.bincount`` — no per-person Python loop.

Every claim row is accounted for: claims counted in the panel, and claims left out because the
person is not in ``residents``, the month is outside ``[start, end]``, before the person's first
observed month (before moving in or turning ``min_age``), or in or after the month of moving out.
Claims *after the month of death* are a data error and raise :class:`DataValidationError` unless
``claims_after_death="report"``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from ..errors import ConfigurationError, DataValidationError

__all__ = ["CostPanel", "cost_panel"]

CostComponent = Literal["ltc", "medical"]
ClaimsAfterDeath = Literal["raise", "report"]
_CLAIMS = {"ltc": "ltc_claims", "medical": "medical_claims"}
_NEVER = np.iinfo(np.int64).max // 4
_EARLY = -_NEVER
_MATCHED_COLUMNS = ("person_id", "weight", "index_month")
_ACCOUNTING_COLUMNS = ["source", "reason", "persons", "rows", "cost_yen"]


@dataclass(frozen=True)
class CostPanel:
    """A person-month cost panel and the account of what it includes and leaves out.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per person (or matched row) and month; see :func:`cost_panel` for the columns.
    accounting : pandas.DataFrame
        Columns ``source`` (``residents``, ``ltc_claims``, ``medical_claims``, ``cohort``,
        ``matched``), ``reason``, ``persons``, ``rows`` and ``cost_yen``. For each source the rows
        add up to the rows of the input table; the ``included`` reason is what entered the panel.
    start, end : pandas.Timestamp
        First and last calendar month of the panel (first day of the month).
    components : tuple of str
        Cost components summed into ``total_cost``.
    """

    data: pd.DataFrame = field(repr=False)
    accounting: pd.DataFrame = field(repr=False)
    start: pd.Timestamp
    end: pd.Timestamp
    components: tuple[str, ...]

    def summary(self) -> str:
        """Plain-text account of the panel."""
        d = self.data
        lines = [
            f"Person-month cost panel {self.start:%Y-%m} to {self.end:%Y-%m} "
            f"({', '.join(self.components)}): {len(d):,} rows, {d['person_id'].nunique():,} persons",
            "Accounting:",
        ]
        for row in self.accounting.itertuples(index=False):
            lines.append(f"  {row.source:<15} {row.reason:<48} persons {row.persons:>9,} rows {row.rows:>11,}"
                         f" yen {row.cost_yen:>16,}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<p>Person-month cost panel {self.start:%Y-%m} to {self.end:%Y-%m}: {len(self.data):,} rows</p>"
                + self.accounting.to_html(index=False))


_TICKS_PER_DAY = {"D": 1, "h": 24, "m": 1440, "s": 86_400, "ms": 86_400_000, "us": 86_400_000_000,
                  "ns": 86_400_000_000_000}
_NAT = np.iinfo(np.int64).min
_MAX_TABLE_DAYS = 1_000_000  # ~2,700 years: beyond that, numpy's own calendar conversion


def _month_number(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Months since 1970-01 as int64 and the missing mask (NaT rows hold the int64 minimum).

    Dates are floored to days and the months are taken from a table with one entry per distinct
    day between the first and the last date: one integer division and one gather per row instead
    of numpy's per-element calendar conversion (several times slower on tens of millions of rows).
    """
    v = np.asarray(values)
    if not np.issubdtype(v.dtype, np.datetime64):
        v = pd.to_datetime(pd.Series(values), errors="raise").to_numpy(dtype="datetime64[ns]")
    na = np.isnat(v)
    unit, count = np.datetime_data(v.dtype)
    per_day = _TICKS_PER_DAY.get(unit)
    if per_day is None or count != 1 or v.size < 10_000:
        out = v.astype("datetime64[M]").astype(np.int64)
        out[na] = _NAT
        return out, na
    days = v.view(np.int64) // per_day  # floor: right before 1970 too
    any_na = bool(na.any())
    if any_na:
        days[na] = days[int(np.argmin(na))]  # any valid day (all NaT: whatever the first holds)
    d0, d1 = int(days.min()), int(days.max())
    if d1 - d0 > _MAX_TABLE_DAYS:
        out = v.astype("datetime64[M]").astype(np.int64)
        out[na] = _NAT
        return out, na
    table = np.arange(d0, d1 + 1).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    days -= d0
    out = np.take(table, days)
    if any_na:
        out[na] = _NAT
    return out, na


def _month_start_ns(months: np.ndarray) -> np.ndarray:
    """First day of each month (months since 1970-01) as int64 nanoseconds."""
    return np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[ns]").view(np.int64)


def _as_month(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{name} must be a month such as '2019-04'; got {value!r}.") from exc
    if ts is pd.NaT:
        raise ConfigurationError(f"{name} must be a month such as '2019-04'; got {value!r}.")
    return ts.to_period("M").to_timestamp()


def _require(table: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    if not isinstance(table, pd.DataFrame):
        raise DataValidationError(f"table {name!r} must be a pandas DataFrame; got {type(table).__name__}.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataValidationError(f"table {name!r} lacks the column(s) {missing}; it has {list(table.columns)}.")


class _Persons:
    """Maps person ids of any table to row positions in ``residents`` (-1 when absent).

    Categorical ids that share the residents' categories (the usual case: one pseudonymised id
    dtype across tables) are mapped with one integer gather of their codes; other categoricals
    through their categories; plain ids (compared as strings) through their distinct values.
    """

    def __init__(self, ids: pd.Series) -> None:
        self._ids = ids
        self.n = len(ids)
        self.categories = None
        if isinstance(ids.dtype, pd.CategoricalDtype):
            self.categories = ids.cat.categories
            codes = ids.cat.codes.to_numpy()
            # one spare slot at the end so that code -1 (missing) maps to -1
            self.row_of_code = np.full(len(self.categories) + 1, -1, dtype=np.int64)
            self.row_of_code[codes] = np.arange(len(codes), dtype=np.int64)

    @functools.cached_property
    def index(self) -> pd.Index:
        return pd.Index(self._ids.astype(str).to_numpy(dtype=object))

    def positions(self, ids: pd.Series) -> np.ndarray:
        if isinstance(ids.dtype, pd.CategoricalDtype):
            cats = ids.cat.categories
            if self.categories is not None and (cats is self.categories or cats.equals(self.categories)):
                lookup = self.row_of_code
            else:
                found = self.index.get_indexer(cats.astype(str) if self.index.dtype == object else cats)
                lookup = np.append(found, -1)
            return np.take(lookup, ids.cat.codes.to_numpy())
        # factorize first: the ids of a claims table repeat, so only the distinct ones are matched
        codes, uniques = pd.factorize(ids)
        found = self.index.get_indexer(pd.Index(uniques).astype(str))
        return np.take(np.append(found, -1), codes)


def _persons_months(residents: pd.DataFrame, start: int, end: int, min_age: int):
    """Per person: first and last observed month (months since 1970-01) and the reason when none."""
    birth, birth_na = _month_number(residents["birth_month"])
    if birth_na.any():
        i = int(np.flatnonzero(birth_na)[0])
        raise DataValidationError(
            f"table 'residents', column 'birth_month': {int(birth_na.sum())} row(s) are missing "
            f"(first at row {i}, person_id {residents['person_id'].iloc[i]!r}); the age rule needs it.")
    mi, mi_na = _month_number(residents["move_in_date"])
    mo, mo_na = _month_number(residents["move_out_date"])
    de, de_na = _month_number(residents["death_date"])
    first_res = np.where(mi_na, _EARLY, mi + 1)
    last_res = np.where(mo_na, _NEVER, mo - 1)
    last_alive = np.where(de_na, _NEVER, de)
    age_ok = birth + 12 * min_age
    lo = np.maximum.reduce([np.full(len(birth), start), first_res, age_ok])
    hi = np.minimum.reduce([np.full(len(birth), end), last_res, last_alive])
    reason = np.full(len(birth), "", dtype=object)
    reason[lo > hi] = "no observed month in the window"
    reason[(lo > hi) & (last_alive < start)] = "died before the start"
    reason[(lo > hi) & (last_res < start) & (reason == "no observed month in the window")] = "moved out before the start"
    reason[(lo > hi) & (first_res > end)] = "moved in after the end"
    reason[(lo > hi) & (age_ok > end) & (reason == "no observed month in the window")] = f"under {min_age} throughout"
    return lo, hi, first_res, last_res, last_alive, reason


def _first_exposure(tables, cohort_from, persons: _Persons, accounting: list[dict]) -> np.ndarray:
    """First exposure month per resident (months since 1970-01; _NEVER for never exposed)."""
    first = np.full(persons.n, _NEVER, dtype=np.int64)
    if isinstance(cohort_from, str):
        if cohort_from != "soft":
            raise ConfigurationError(
                f"cohort_from must be 'soft', a DataFrame (person_id, exposure_month) or None; got {cohort_from!r}.")
        att = tables.get("soft_attendance") if hasattr(tables, "get") else None
        if att is None:
            raise DataValidationError("cohort_from='soft' needs the table 'soft_attendance'.")
        _require(att, "soft_attendance", ("person_id", "session_date"))
        ids, months = att["person_id"], att["session_date"]
        source = "soft_attendance"
    else:
        if not isinstance(cohort_from, pd.DataFrame):
            raise ConfigurationError(
                "cohort_from must be 'soft', a DataFrame (person_id, exposure_month) or None; "
                f"got {type(cohort_from).__name__}.")
        _require(cohort_from, "cohort_from", ("person_id", "exposure_month"))
        dup = cohort_from["person_id"].duplicated()
        if dup.any():
            raise DataValidationError(
                f"table 'cohort_from': person_id must be unique; {int(dup.sum())} duplicate row(s), e.g. "
                f"{cohort_from['person_id'][dup].iloc[0]!r}.")
        ids, months = cohort_from["person_id"], cohort_from["exposure_month"]
        source = "cohort_from"
    m, na = _month_number(months)
    pos = persons.positions(ids.reset_index(drop=True))
    unknown = pos < 0
    ok = ~unknown & ~na
    np.minimum.at(first, pos[ok], m[ok])
    n_unknown = int(pd.Series(np.asarray(ids)[unknown]).nunique()) if unknown.any() else 0
    accounting.append({"source": "cohort", "reason": f"{source}: person not in residents",
                       "persons": n_unknown, "rows": int(unknown.sum()), "cost_yen": 0})
    accounting.append({"source": "cohort", "reason": f"{source}: no exposure date",
                       "persons": int(pd.Series(np.asarray(ids)[na & ~unknown]).nunique()),
                       "rows": int((na & ~unknown).sum()), "cost_yen": 0})
    accounting.append({"source": "cohort", "reason": f"{source}: used (earliest month per person)",
                       "persons": int(len(np.unique(pos[ok]))), "rows": int(ok.sum()), "cost_yen": 0})
    return first


def _matched_rows(matched) -> pd.DataFrame:
    """person_id, weight, index_month, subclass, treated from a MatchResult or a frame."""
    from ..matching.result import MatchResult

    if isinstance(matched, MatchResult):
        d = matched.data
        col = next((c for c in ("index_month", "index_date") if c in d.columns
                    and np.issubdtype(np.asarray(d[c]).dtype, np.datetime64)), None)
        if "person_id" not in d.columns or col is None:
            raise DataValidationError(
                "matched: the MatchResult's data needs a 'person_id' column and an index month column "
                f"('index_month' or 'index_date', dates); it has {list(d.columns)}.")
        frame = pd.DataFrame({
            "person_id": d["person_id"].to_numpy(), "weight": np.asarray(matched.weights, dtype=np.float64),
            "index_month": d[col].to_numpy(), "subclass": np.asarray(matched.subclass),
            "treated": matched.treated.astype(np.int64),
        })
    elif isinstance(matched, pd.DataFrame):
        _require(matched, "matched", _MATCHED_COLUMNS)
        frame = matched.reset_index(drop=True).copy()
        if "treated" not in frame.columns:
            raise DataValidationError("table 'matched' lacks the column 'treated' (1 participant, 0 control).")
    else:
        raise ConfigurationError(
            f"matched must be a MatchResult, a DataFrame (person_id, weight, index_month, treated) or None; "
            f"got {type(matched).__name__}.")
    w = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"table 'matched', column 'weight': {int(bad.sum())} row(s) are not finite non-negative numbers "
            f"(first at row {i}: {frame['weight'].iloc[i]!r}).")
    frame["weight"] = w
    return frame


def cost_panel(
    tables: Any,
    *,
    start: Any = "2019-04",
    end: Any = "2026-03",
    cohort_from: Literal["soft"] | pd.DataFrame | None = "soft",
    cost: tuple[CostComponent, ...] | list[CostComponent] = ("ltc", "medical"),
    min_age: int = 65,
    matched: Any = None,
    window: tuple[int, int] | None = None,
    censor_controls_at_exposure: bool = True,
    claims_after_death: ClaimsAfterDeath = "raise",
) -> CostPanel:
    """Build a person-month panel of LTC and medical cost from the claims tables.

    Parameters
    ----------
    tables : Mapping[str, pandas.DataFrame]
        ``residents`` and the claims tables named by ``cost`` (``ltc_claims``, ``medical_claims``:
        ``person_id``, ``service_month``, ``cost_yen``), plus ``soft_attendance`` for
        ``cohort_from="soft"``. Person ids may be categorical or strings (pseudonymised). Not modified.
    start, end : month-like, default "2019-04", "2026-03"
        First and last calendar month of the panel (inclusive).
    cohort_from : {"soft"} or DataFrame or None, default "soft"
        First exposure: ``"soft"`` = month of the first SOFT session; a frame with ``person_id`` and
        ``exposure_month`` (unique persons); ``None`` = no cohort columns.
    cost : tuple of {"ltc", "medical"}, default ("ltc", "medical")
        Components summed into ``total_cost``.
    min_age : int, default 65
        Age in whole years at the start of the month from which a person is in the panel.
    matched : MatchResult or DataFrame, optional
        A matched design: a :class:`wellness_research.matching.MatchResult` whose data has
        ``person_id`` and ``index_month`` or ``index_date`` (dates), or a frame with ``person_id``,
        ``weight``, ``index_month`` (dates), ``treated`` (0/1) and optionally ``subclass``. Only rows
        with a positive weight are kept; each is a block of months (a person matched twice appears
        twice, as two units).
    window : (int, int), optional
        With ``matched``: months relative to the index month to keep, inclusive (e.g. ``(-12, 35)``).
    censor_controls_at_exposure : bool, default True
        With ``matched`` and a cohort: drop a control's months from its own first exposure on
        (a not-yet-treated control stops being a control).
    claims_after_death : {"raise", "report"}, default "raise"
        Claims in a month after the month of death are a data error; "report" counts them in the
        accounting instead.

    Returns
    -------
    CostPanel
        ``data`` has the columns ``person_id`` (the residents' dtype), ``month`` (first day of the
        month, ``datetime64[ns]``), ``time`` (1 = ``start``, integer months), the cost columns
        ``ltc_cost`` and/or ``medical_cost`` and ``total_cost`` (yen, int64; 0 in months without
        claims); with a cohort: ``cohort_month`` (NaT = never exposed in the panel period),
        ``cohort`` (``time`` of the first exposure; 0 = never, the Callaway–Sant'Anna convention) and
        ``event_time`` (``time - cohort``, nullable Int64); with ``matched``: ``unit`` (matched row
        number), ``treated``, ``weight``, ``subclass``, ``index_month``, ``rel_time`` (months since
        the index month) and ``post`` (``rel_time >= 0``). Sorted by unit (or person) and month.
        Persons first exposed before ``start`` (always treated, no pre-period) are left out and
        counted. ``accounting`` lists every input row.

    Raises
    ------
    ConfigurationError
        For an invalid option (the message names it, the value and what is valid).
    DataValidationError
        For a missing table or column, missing birth months or costs, claims after death
        (``claims_after_death="raise"``), duplicate exposure rows, invalid matching weights.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
    periods. *Journal of Econometrics* 225(2), 200–230 (cohort coding, never-treated = 0).

    Examples
    --------
    >>> import pandas as pd
    >>> from wellness_research.did.panel import cost_panel
    >>> residents = pd.DataFrame({"person_id": ["a", "b"], "birth_month": pd.to_datetime(["1950-01-01"] * 2),
    ...     "move_in_date": pd.NaT, "move_out_date": pd.NaT,
    ...     "death_date": pd.to_datetime([None, "2020-02-15"])})
    >>> claims = pd.DataFrame({"person_id": ["a", "b"], "service_month": pd.to_datetime(["2020-01-01"] * 2),
    ...     "cost_yen": [1000, 500]})
    >>> p = cost_panel({"residents": residents, "medical_claims": claims}, start="2020-01", end="2020-03",
    ...                cost=("medical",), cohort_from=None)
    >>> p.data[["person_id", "time", "total_cost"]].to_string(index=False)
    'person_id  time  total_cost\\n        a     1        1000\\n        a     2           0\\n        a     3           0\\n        b     1         500\\n        b     2           0'
    """
    # ---------------------------------------------------------------- options
    if isinstance(cost, str) or not isinstance(cost, (tuple, list)) or not cost or any(
            c not in get_args(CostComponent) for c in cost) or len(set(cost)) != len(cost):
        raise ConfigurationError(
            f"cost must be a non-empty tuple of distinct components from {get_args(CostComponent)}; got {cost!r}.")
    if claims_after_death not in get_args(ClaimsAfterDeath):
        raise ConfigurationError(
            f"claims_after_death must be one of {get_args(ClaimsAfterDeath)}; got {claims_after_death!r}.")
    if isinstance(min_age, bool) or not isinstance(min_age, (int, np.integer)) or not 0 <= int(min_age) <= 120:
        raise ConfigurationError(f"min_age must be an integer number of years in [0, 120]; got {min_age!r}.")
    if window is not None and (matched is None or not isinstance(window, tuple) or len(window) != 2
                               or not all(isinstance(v, (int, np.integer)) for v in window) or window[0] > window[1]):
        raise ConfigurationError(
            f"window must be None or (first, last) integer months relative to the index month, first <= last, "
            f"and needs matched; got {window!r}.")
    if not isinstance(censor_controls_at_exposure, bool):
        raise ConfigurationError(f"censor_controls_at_exposure must be True or False; got {censor_controls_at_exposure!r}.")
    start_ts, end_ts = _as_month(start, "start"), _as_month(end, "end")
    if end_ts < start_ts:
        raise ConfigurationError(f"end must not be before start; got start={start!r}, end={end!r}.")
    if not hasattr(tables, "__getitem__") or "residents" not in tables:
        raise DataValidationError("tables must be a mapping with the table 'residents'.")
    res = tables["residents"]
    _require(res, "residents", ("person_id", "birth_month", "move_in_date", "move_out_date", "death_date"))
    for comp in cost:
        if _CLAIMS[comp] not in tables:
            raise DataValidationError(f"cost={tuple(cost)!r} needs the table {_CLAIMS[comp]!r}.")
        _require(tables[_CLAIMS[comp]], _CLAIMS[comp], ("person_id", "service_month", "cost_yen"))
    ids = res["person_id"]
    if ids.isna().any() or ids.duplicated().any():
        bad = ids[ids.isna() | ids.duplicated()]
        raise DataValidationError(
            f"table 'residents', column 'person_id' must be unique and non-missing; {len(bad)} row(s) are not "
            f"(e.g. {bad.iloc[0]!r}).")
    persons = _Persons(ids)
    s0 = int(_month_number([start_ts])[0][0])
    e0 = int(_month_number([end_ts])[0][0])
    accounting: list[dict] = []

    # ---------------------------------------------------------------- persons and months
    lo, hi, first_res, last_res, last_alive, reason = _persons_months(res, s0, e0, int(min_age))
    exposure = None
    if cohort_from is not None:
        exposure = _first_exposure(tables, cohort_from, persons, accounting)
        early = (exposure < s0) & (lo <= hi)
        reason[early] = "first exposed before the start (always treated)"
    keep = reason == ""
    for r in pd.unique(reason):
        sel = reason == r
        accounting.insert(0, {"source": "residents", "reason": "included" if r == "" else r,
                              "persons": int(sel.sum()), "rows": int(sel.sum()), "cost_yen": 0})
    n_months = np.where(keep, hi - lo + 1, 0)
    offset = np.concatenate([[0], np.cumsum(n_months)])
    n_rows = int(offset[-1])

    # ---------------------------------------------------------------- claims
    # Per person, with one spare slot at the end for "not in residents" (position -1): the first and
    # last panel month (an empty interval for persons left out) and the panel row of month 0.
    lo_k = np.append(np.where(keep, lo, _NEVER), _NEVER)
    hi_k = np.append(np.where(keep, hi, _EARLY), _EARLY)
    row0 = np.append(offset[:-1] - np.where(keep, lo, 0), 0)
    reasons = ("included", "person not in residents", "outside the panel window", "after the month of death",
               "in or after the month of moving out", "before the first observed month (move-in, age)",
               "person left out (see residents)")
    costs: dict[str, np.ndarray] = {}
    for comp in cost:
        name = _CLAIMS[comp]
        cl = tables[name]
        yen = cl["cost_yen"].to_numpy()
        integer_yen = np.issubdtype(yen.dtype, np.integer)
        if not integer_yen:
            yen = (yen.astype(np.float64, copy=False) if np.issubdtype(yen.dtype, np.floating)
                   else pd.to_numeric(cl["cost_yen"], errors="coerce").to_numpy(dtype=np.float64))
        sm, sm_na = _month_number(cl["service_month"])
        bad = sm_na if integer_yen else np.isnan(yen) | sm_na
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"table {name!r}: {int(bad.sum())} row(s) have a missing or non-numeric cost_yen or service_month "
                f"(first at row {i}, person_id {cl['person_id'].iloc[i]!r}).")
        pos = persons.positions(cl["person_id"])
        inc = np.take(lo_k, pos) <= sm
        inc &= sm <= np.take(hi_k, pos)
        all_in = bool(inc.all())
        # claims left out: classified on their (usually few) rows only; the order of the rules
        # decides the reason of a claim that breaks several
        out = np.flatnonzero(~inc)
        po, s = pos[out], sm[out]
        known = po >= 0
        p = np.where(known, po, 0)
        cls = np.ones(len(out), dtype=np.int8)
        inw = known & (s >= s0) & (s <= e0)
        cls[known & ~inw] = 2
        after_death = inw & (s > last_alive[p])
        cls[after_death] = 3
        rest = inw & ~after_death
        cls[rest & (s > last_res[p])] = 4
        cls[rest & (s < lo[p])] = 5
        cls[rest & (s >= lo[p]) & (s <= last_res[p]) & ~keep[p]] = 6
        if after_death.any() and claims_after_death == "raise":
            i = int(out[np.flatnonzero(after_death)[0]])
            raise DataValidationError(
                f"table {name!r}: {int(after_death.sum())} claim row(s) fall after the month of death "
                f"(first at row {i}: person_id {cl['person_id'].iloc[i]!r}, service_month "
                f"{cl['service_month'].iloc[i]!r}); pass claims_after_death='report' to count and leave them out.")
        p_in, s_in, y_in = (pos, sm, yen) if all_in else (pos[inc], sm[inc], yen[inc])
        row = np.take(row0, p_in)
        row += s_in
        summed = np.bincount(row, weights=y_in.astype(np.float64, copy=False), minlength=n_rows)
        del row
        costs[f"{comp}_cost"] = np.rint(summed, out=summed).astype(np.int64) if integer_yen else summed
        if len(p_in):
            total = int(y_in.sum(dtype=np.int64)) if integer_yen else int(round(float(y_in.sum())))
            accounting.append({"source": name, "reason": reasons[0],
                               "persons": int(np.count_nonzero(np.bincount(p_in, minlength=persons.n))),
                               "rows": len(p_in), "cost_yen": total})
        y_out = yen[out]
        for code in np.unique(cls):
            sel = cls == code
            n_persons = (int(np.count_nonzero(np.bincount(po[sel], minlength=persons.n))) if code != 1
                         else int(pd.unique(cl["person_id"].to_numpy()[out[sel]]).size))
            total = (int(y_out[sel].sum(dtype=np.int64)) if integer_yen
                     else int(round(float(y_out[sel].sum()))))
            accounting.append({"source": name, "reason": reasons[code], "persons": n_persons,
                               "rows": int(sel.sum()), "cost_yen": total})

    # ---------------------------------------------------------------- columns, built once
    # Values constant within a person's block are spread over its rows with np.repeat; month
    # timestamps come from a table with one entry per panel month.
    n_kept = n_months.astype(np.intp)
    time = np.repeat(np.where(keep, lo - s0 + 1, 0) - offset[:-1], n_kept)
    time += np.arange(n_rows, dtype=np.int64)
    month_ns = _month_start_ns(np.arange(s0 - 1, e0 + 1))  # index = time (slot 0 unused)
    if isinstance(ids.dtype, pd.CategoricalDtype):
        person_col = pd.Categorical.from_codes(np.repeat(ids.cat.codes.to_numpy(), n_kept), dtype=ids.dtype,
                                               validate=False)
    else:
        person_col = np.repeat(ids.to_numpy(), n_kept)
    data: dict[str, Any] = {"person_id": person_col, "month": np.take(month_ns, time).view("datetime64[ns]"),
                            "time": time}
    data.update(costs)
    total_cost = None
    for v in costs.values():
        total_cost = v.copy() if total_cost is None else np.add(total_cost, v, dtype=np.result_type(total_cost, v))
    data["total_cost"] = total_cost
    if exposure is not None:
        never = (exposure == _NEVER) | (exposure > e0)
        coh = np.repeat(np.where(never | ~keep, 0, exposure - s0 + 1), n_kept)
        month_ns[0] = _NAT  # cohort 0 = never: NaT
        data["cohort_month"] = np.take(month_ns, coh).view("datetime64[ns]")
        data["cohort"] = coh
        never_rows = coh == 0
        event = time - coh
        event[never_rows] = 0
        data["event_time"] = pd.arrays.IntegerArray(event, never_rows)
    # copy=False: every array is new, so no consolidation copy into 2-D blocks is needed
    panel = pd.DataFrame(data, copy=False)

    if matched is not None:
        panel = _stack_matched(panel, matched, persons, s0, window, censor_controls_at_exposure,
                               exposure is not None, accounting)
    acc = pd.DataFrame(accounting, columns=_ACCOUNTING_COLUMNS)
    return CostPanel(data=panel, accounting=acc, start=start_ts, end=end_ts, components=tuple(cost))


def _stack_matched(panel: pd.DataFrame, matched: Any, persons: _Persons, s0: int, window, censor: bool,
                   has_cohort: bool, accounting: list[dict]) -> pd.DataFrame:
    """One block of panel months per matched row with a positive weight."""
    frame = _matched_rows(matched)
    pos = persons.positions(frame["person_id"].reset_index(drop=True))
    im, im_na = _month_number(frame["index_month"])
    if im_na.any():
        raise DataValidationError(
            f"table 'matched', column 'index_month': {int(im_na.sum())} row(s) are missing.")
    zero = frame["weight"].to_numpy() == 0
    unknown = (pos < 0) & ~zero
    accounting.append({"source": "matched", "reason": "weight zero (unmatched)", "persons": int(zero.sum()),
                       "rows": int(zero.sum()), "cost_yen": 0})
    accounting.append({"source": "matched", "reason": "person not in residents", "persons": int(unknown.sum()),
                       "rows": int(unknown.sum()), "cost_yen": 0})
    use = np.flatnonzero(~zero & ~unknown)
    # panel rows of each person: contiguous (the panel is sorted by person and month)
    codes = persons.positions(panel["person_id"].reset_index(drop=True))
    first = np.full(persons.n + 1, 0, dtype=np.int64)
    counts = np.bincount(codes, minlength=persons.n)
    first[1:] = np.cumsum(counts)
    n = counts[pos[use]]
    nomonths = n == 0
    accounting.append({"source": "matched", "reason": "no panel month (see residents)",
                       "persons": int(nomonths.sum()), "rows": int(nomonths.sum()), "cost_yen": 0})
    off = np.concatenate([[0], np.cumsum(n)])
    rows = np.arange(off[-1]) - np.repeat(off[:-1], n) + np.repeat(first[pos[use]], n)
    out = panel.iloc[rows].reset_index(drop=True)
    unit = np.repeat(use, n)
    out.insert(0, "unit", unit.astype(np.int64))
    out["treated"] = frame["treated"].to_numpy().astype(np.int64)[unit]
    out["weight"] = frame["weight"].to_numpy()[unit]
    if "subclass" in frame.columns:
        out["subclass"] = frame["subclass"].to_numpy()[unit]
    idx_m = im[unit]
    out["index_month"] = idx_m.astype("datetime64[M]").astype("datetime64[ns]")
    rel = (out["time"].to_numpy() + s0 - 1) - idx_m
    out["rel_time"] = rel.astype(np.int64)
    out["post"] = (rel >= 0).astype(np.int64)
    drop = np.zeros(len(out), dtype=bool)
    if window is not None:
        drop |= (rel < window[0]) | (rel > window[1])
        accounting.append({"source": "matched", "reason": f"panel rows outside window {window}", "persons": 0,
                           "rows": int(drop.sum()), "cost_yen": int(out["total_cost"].to_numpy()[drop].sum())})
    if censor and has_cohort:
        c = out["cohort"].to_numpy()
        exposed = (out["treated"].to_numpy() == 0) & (c > 0) & (out["time"].to_numpy() >= c) & ~drop
        drop |= exposed
        accounting.append({"source": "matched", "reason": "control rows from the control's own exposure on",
                           "persons": int(len(np.unique(unit[exposed]))), "rows": int(exposed.sum()),
                           "cost_yen": int(out["total_cost"].to_numpy()[exposed].sum())})
    accounting.append({"source": "matched", "reason": "included (matched rows; panel rows in 'rows')",
                       "persons": int(len(np.unique(unit[~drop]))), "rows": int((~drop).sum()),
                       "cost_yen": int(out["total_cost"].to_numpy()[~drop].sum())})
    return out.loc[~drop].reset_index(drop=True)
