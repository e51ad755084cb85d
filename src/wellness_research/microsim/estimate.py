"""Replace the default projection parameters by estimates from a city's own tables.

:func:`estimate_parameters` reads the resident register, the certification decisions and the claims
of a window (e.g. FY2019–FY2022) and returns :class:`EstimatedParameters`: a validated
:class:`~wellness_research.microsim.parameters.Parameters` whose estimated entries carry the source
``"estimated from <tables> FYyyyy–FYyyyy"`` and the tag ``D``, plus the counts and person-time
behind every number (for small-cell suppression) and the persons and rows left out, with the reason.

Definitions
-----------
Observation window
    A resident is observed from ``max(start, move_in_date, the first day of the month in which the
    first age band begins)`` to ``min(end + 1 day, move_out_date, death_date)`` (exclusive).
State in hindsight
    On a day the state is the level of the certification whose validity period covers it (the latest
    ``valid_from`` if several; ``非該当`` decisions have no validity period), otherwise
    ``independent``: the ``state_basis="validity"`` reading of
    :func:`~wellness_research.microsim.population.population_at`. Age is whole years from the first
    day of the birth month.
Incidence (``certification.incidence_by_age_sex``)
    Events are the starts of a certified spell after independent time inside the window (a first
    certification, or a new one after 非該当 or a lapse: the model's independent → level move);
    person-time is the independent time, split at the birthdays that change the age band and censored
    at death, move-out and the end of the window. The rate of a band is given to every single age of
    the band (a step function). Smoothing adds ``smoothing`` pseudo-events at the default rate,
    ``(D + a) / (PY + a / lambda0)`` (the mean of the gamma posterior under a gamma(a, a / lambda0)
    prior; ``lambda0`` the default's mean over the band's ages).
Entry-level mix, transitions (Dirichlet smoothing toward the defaults)
    The entry-level mix counts the levels of those events. The annual transition matrix compares the
    state on the anniversaries ``start + k years`` of persons certified at the first of two
    consecutive anniversaries and alive and registered at the second (those who died or moved out in
    between are counted and left out: the model's matrix is conditional on survival, and death is
    modelled separately); a move to independent is a 非該当 renewal
    (``transitions.decertification_per_year``). A row of counts ``n`` becomes
    ``(n + a p0) / (sum(n) + a)``, ``p0`` the default row and ``a = smoothing``: the posterior mean
    under a Dirichlet prior worth ``a`` persons (Gelman et al. 2013, §5.3 / §23.2).
    The pooled row (all ages and both sexes) is smoothed toward the default so; then the row of each
    sex × age band is smoothed toward the *pooled* estimate with ``cell_smoothing`` pseudo-persons,
    ``(n_c + b p_pooled) / (sum(n_c) + b)`` (a two-level Dirichlet shrinkage: a band with few persons
    takes the pooled row, a large band its own; a band without persons the pooled row, reported). The
    engines use the band × sex rows (``{bands, male, female, all}`` values, ``all`` the pooled row,
    :attr:`Parameters.annual_matrix`); both levels are in the report (``sex == "all"`` the pooled).
Mortality by level (``mortality.level_hazard_ratio``)
    Mantel–Haenszel rate ratio of each level against independent over the sex × age band strata,
    ``sum(D_k T_0 / T) / sum(D_0 T_k / T)`` (Rothman, Greenland & Lash 2008, eq. 15-21). A level
    without deaths or person-time keeps its default (reported). The reference mix of the mortality
    rescaling is estimated too: ``certification.prevalence_by_age_sex`` (certified share of
    person-time by sex × band) and ``certification.level_mix_prevalent``. With ``life_table=True``
    the whole-population death rates by sex × band also replace ``mortality.qx_2023``
    (``qx = 1 - exp(-rate)`` at the middle age of each band).
Costs
    Person-months are the residents present on the first day of a month with their state and band on
    that day. LTC: ``ltc_claims.cost_yen`` (費用額) of the certified person-months of a level per
    person-month (``cost_per_recipient_by_level`` the mean over months with a claim,
    ``recipient_share_by_level`` the share of months with one, ``unit_price_factor`` 1: the claims
    are at the city's prices). Medical: ``medical_claims.cost_yen`` per person-year by band
    (``medical_costs.per_capita_fy2014`` then holds current values and ``uplift_from_fy2014`` is 1),
    and ``certified_multiplier`` is the cost of certified person-months over their expected cost at
    the independent rate of the same band (indirect standardisation). Claims of months in which the
    person is not counted (not registered on the first day, younger, outside the window) are reported,
    not used.

References
----------
Gelman A, Carlin JB, Stern HS, Dunson DB, Vehtari A, Rubin DB (2013). Bayesian Data Analysis, 3rd ed.
Rothman KJ, Greenland S, Lash TL (2008). Modern Epidemiology, 3rd ed., ch. 15.
Briggs A, Claxton K, Sculpher M (2006). Decision Modelling for Health Economic Evaluation, ch. 3
(estimating transition probabilities from counts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigurationError, DataValidationError
from .parameters import LEVELS, STATES, Parameters, load_parameters

__all__ = ["EstimatedParameters", "estimate_parameters", "observed_histories"]

_DAYS_PER_YEAR = 365.25
_REQUIRED = {
    "residents": ("person_id", "birth_month", "sex", "move_in_date", "move_out_date", "death_date"),
    "ltc_certifications": ("person_id", "level", "valid_from", "valid_to"),
}
_OPTIONAL = {
    "ltc_claims": ("person_id", "service_month", "cost_yen"),
    "medical_claims": ("person_id", "service_month", "cost_yen"),
}


# --------------------------------------------------------------------------- result object
@dataclass(frozen=True)
class EstimatedParameters:
    """Parameters estimated from a city's tables, with the counts behind them (read-only).

    Attributes
    ----------
    parameters : Parameters
        The base parameters with the estimated entries replaced (source "estimated from ...", tag D).
    counts : pandas.DataFrame
        One row per estimated cell: ``parameter``, ``sex``, ``band``, ``from_state``, ``to_state``,
        ``count`` (events, persons or claim months), ``exposure`` and ``exposure_unit``
        (person-years, persons or person-months), ``estimate`` (raw), ``value`` (after smoothing /
        fallback, as used), ``default``, ``std_error``, ``used`` (the row enters the parameters) and
        ``note``.
    exclusions : pandas.DataFrame
        ``table``, ``reason``, ``rows``, ``persons``, ``yen``: everything left out and why.
    start, end : pandas.Timestamp
        The window (inclusive).
    age_bands : tuple of int
        Lower ends of the age bands.
    smoothing : float
        Prior weight (pseudo-persons / pseudo-events) toward the defaults.
    """

    parameters: Parameters = field(repr=False)
    counts: pd.DataFrame = field(repr=False)
    exclusions: pd.DataFrame = field(repr=False)
    start: pd.Timestamp
    end: pd.Timestamp
    age_bands: tuple[int, ...]
    smoothing: float

    def tidy(self) -> pd.DataFrame:
        """One row per estimated cell: term, estimate, std_error, conf_low, conf_high, p_value, n, and the counts.

        ``estimate`` is the value used (after smoothing); ``conf_low``/``conf_high`` are
        ``value -/+ 1.96 std_error`` (normal approximation; NaN where no standard error is defined);
        ``n`` is the count (events or persons) behind it.
        """
        c = self.counts
        term = (c["parameter"] + "[" + c["sex"] + "," + c["band"] + "," + c["from_state"] + ","
                + c["to_state"] + "]")
        out = pd.DataFrame({
            "term": term.to_numpy(), "estimate": c["value"].to_numpy(), "std_error": c["std_error"].to_numpy(),
        })
        out["conf_low"] = out["estimate"] - 1.959963984540054 * out["std_error"]
        out["conf_high"] = out["estimate"] + 1.959963984540054 * out["std_error"]
        out["p_value"] = np.nan
        out["n"] = c["count"].to_numpy()
        for col in c.columns:
            if col not in out.columns:
                out[col] = c[col].to_numpy()
        return out

    def summary(self) -> str:
        """Plain-text summary: window, replaced entries, exclusions."""
        used = self.counts[self.counts["used"]]
        lines = [
            f"Parameters estimated from the city's tables, {self.start.date()} to {self.end.date()}, "
            f"age bands {list(self.age_bands)}, smoothing {self.smoothing:g} toward the defaults",
        ]
        for name in dict.fromkeys(used["parameter"]):
            u = used[used["parameter"] == name]
            lines.append(f"  {name:<44} cells {len(u):>4}  smallest count {u['count'].min():>10,.0f} "
                         f"(exposure in {u['exposure_unit'].iloc[0]})")
        lines.append("Excluded:")
        for r in self.exclusions.itertuples():
            lines.append(f"  {r.table:<20} {r.reason:<70} rows {r.rows:>9,}  persons {r.persons:>7,}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<pre>{self.summary()}</pre>"


# --------------------------------------------------------------------------- inputs
def _window(start: Any, end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    def one(x: Any, name: str, last: bool) -> pd.Timestamp:
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            if not 2000 <= int(x) <= 2100:
                raise ConfigurationError(f"{name} as a fiscal year must be 2000-2100; got {x!r}.")
            return pd.Timestamp(int(x) + 1, 3, 31) if last else pd.Timestamp(int(x), 4, 1)
        try:
            return pd.Timestamp(x)
        except (ValueError, TypeError):
            raise ConfigurationError(f"{name} must be a date or a fiscal year (int); got {x!r}.") from None

    s, e = one(start, "start", False), one(end, "end", True)
    if pd.isna(s) or pd.isna(e) or e < s:
        raise ConfigurationError(f"end ({end!r}) must be on or after start ({start!r}).")
    return s.normalize(), e.normalize()


def _period_label(s: pd.Timestamp, e: pd.Timestamp) -> str:
    if (s.month, s.day) == (4, 1) and (e.month, e.day) == (3, 31):
        return f"FY{s.year}–FY{e.year - 1}"
    return f"{s.date()}–{e.date()}"


def _check(tables: Mapping[str, pd.DataFrame], names: Mapping[str, tuple[str, ...]], required: bool) -> None:
    if not isinstance(tables, Mapping):
        raise DataValidationError(f"tables must be a mapping of table name to DataFrame; got {type(tables).__name__}.")
    for name, cols in names.items():
        if name not in tables:
            if required:
                raise DataValidationError(f"tables lacks the {name!r} table (needs columns {list(cols)}).")
            continue
        missing = [c for c in cols if c not in tables[name].columns]
        if missing:
            raise DataValidationError(f"table {name!r} lacks column(s) {missing}.")


def _dates(frame: pd.DataFrame, table: str, col: str) -> np.ndarray:
    try:
        return pd.to_datetime(frame[col]).to_numpy(dtype="datetime64[D]")
    except (ValueError, TypeError) as exc:
        raise DataValidationError(f"table {table!r} column {col!r} must hold dates: {exc}") from None


def _d(x: Any) -> np.ndarray:
    """Day-resolution datetimes (pandas stores nanoseconds: ``+ 1`` must mean a day)."""
    return np.asarray(x, dtype="datetime64[D]")


def _add_years(birth: np.ndarray, years: int) -> np.ndarray:
    """First day of the birth month ``years`` later (the birthday rule of the register)."""
    m = birth.astype("datetime64[M]")
    return (m + np.timedelta64(12 * years, "M")).astype("datetime64[D]")


def _age(birth: np.ndarray, day: np.ndarray | np.datetime64) -> np.ndarray:
    """Whole years at ``day`` with the birthday on the first of the birth month."""
    months = (np.asarray(day).astype("datetime64[M]") - birth.astype("datetime64[M]")).astype(np.int64)
    return months // 12


def _band_labels(lows: tuple[int, ...]) -> list[str]:
    return [f"{lo}-{lows[i + 1] - 1}" if i + 1 < len(lows) else f"{lo}+" for i, lo in enumerate(lows)]


def _band(lows: np.ndarray, age: np.ndarray) -> np.ndarray:
    return np.searchsorted(lows, age, side="right") - 1


@dataclass(frozen=True)
class _Histories:
    """Per-person arrays and spells of the window (see :func:`observed_histories`)."""

    pid: np.ndarray  # (P,) person_id as str
    sex: np.ndarray  # (P,) 0 M, 1 F
    birth: np.ndarray  # (P,) datetime64[D]
    move_in: np.ndarray
    move_out: np.ndarray
    death: np.ndarray
    a: np.ndarray  # (P,) window entry
    b: np.ndarray  # (P,) window exit (exclusive)
    spells: pd.DataFrame  # person, s, e, state, new (certification event at s)
    cert: pd.DataFrame  # person, vf, vt (inclusive), state: all certified decisions of known persons


def _histories(tables: Mapping[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp, min_age: int,
               exclusions: list[dict[str, Any]]) -> _Histories:
    res = tables["residents"]
    pid = res["person_id"].astype(str).to_numpy()
    idx = pd.Index(pid)
    if idx.has_duplicates:
        dup = idx[idx.duplicated()]
        raise DataValidationError(
            f"table 'residents': person_id must be unique; {len(dup):,} rows repeat one, e.g. {dup[0]!r}.")
    sex = pd.Index(["M", "F"]).get_indexer(res["sex"].astype(object))
    if (sex < 0).any():
        bad = np.flatnonzero(sex < 0)
        raise DataValidationError(
            f"table 'residents' column 'sex': {len(bad):,} of {len(res):,} rows are not 'M' or 'F'; "
            f"e.g. {res['sex'].to_numpy()[bad[0]]!r}.")
    birth = _dates(res, "residents", "birth_month")
    if np.isnat(birth).any():
        bad = np.flatnonzero(np.isnat(birth))
        raise DataValidationError(
            f"table 'residents' column 'birth_month': {len(bad):,} rows are missing; e.g. person {pid[bad[0]]!r}.")
    mi, mo, dd = (_dates(res, "residents", c) for c in ("move_in_date", "move_out_date", "death_date"))
    s64, e64 = np.datetime64(start.date(), "D"), np.datetime64(end.date(), "D") + 1
    far = np.datetime64("2200-01-01", "D")
    a = np.maximum.reduce([np.full(len(pid), s64), np.where(np.isnat(mi), s64, mi), _add_years(birth, min_age)])
    b = np.minimum.reduce([np.full(len(pid), e64), np.where(np.isnat(mo), far, mo), np.where(np.isnat(dd), far, dd)])
    observed = b > a
    never = ~observed
    younger = never & (_add_years(birth, min_age) >= np.minimum(b, e64)) & (b > np.maximum(a.min(), s64))
    if younger.any():
        exclusions.append({"table": "residents", "reason": f"younger than {min_age} throughout the window",
                           "rows": int(younger.sum()), "persons": int(younger.sum()), "yen": 0})
    other = never & ~younger
    if other.any():
        exclusions.append({"table": "residents", "reason": "not registered and alive during the window",
                           "rows": int(other.sum()), "persons": int(other.sum()), "yen": 0})

    cert = tables["ltc_certifications"]
    level = cert["level"].astype(object).to_numpy()
    code = pd.Index(LEVELS).get_indexer(level) + 1  # 1..7, 0 for unknown
    unknown = (code == 0) & (level != "非該当")
    if unknown.any():
        raise DataValidationError(
            f"table 'ltc_certifications' column 'level': {int(unknown.sum()):,} of {len(cert):,} rows are not "
            f"非該当 or one of {list(LEVELS)}; e.g. {level[np.flatnonzero(unknown)[0]]!r}.")
    vf, vt = _dates(cert, "ltc_certifications", "valid_from"), _dates(cert, "ltc_certifications", "valid_to")
    nodates = (code > 0) & (np.isnat(vf) | np.isnat(vt))
    if nodates.any():
        raise DataValidationError(
            f"table 'ltc_certifications': {int(nodates.sum()):,} certified rows lack valid_from or valid_to "
            f"(rule: the validity period is null exactly when the decision is 非該当); e.g. person "
            f"{cert['person_id'].astype(str).to_numpy()[np.flatnonzero(nodates)[0]]!r}.")
    backwards = (code > 0) & (vt < vf)
    if backwards.any():
        raise DataValidationError(
            f"table 'ltc_certifications': {int(backwards.sum()):,} rows have valid_to before valid_from; e.g. person "
            f"{cert['person_id'].astype(str).to_numpy()[np.flatnonzero(backwards)[0]]!r}.")
    person = idx.get_indexer(cert["person_id"].astype(str).to_numpy())
    unlinked = person < 0
    if unlinked.any():
        exclusions.append({"table": "ltc_certifications", "reason": "person_id not in residents",
                           "rows": int(unlinked.sum()),
                           "persons": int(pd.Series(cert["person_id"].astype(str).to_numpy()[unlinked]).nunique()),
                           "yen": 0})
    nogai = (code == 0) & ~unlinked
    if nogai.any():
        exclusions.append({"table": "ltc_certifications",
                           "reason": "非該当 decisions (no validity period: the person stays or becomes independent)",
                           "rows": int(nogai.sum()), "persons": int(pd.Series(person[nogai]).nunique()), "yen": 0})
    keep = (code > 0) & ~unlinked
    cd = pd.DataFrame({"person": person[keep], "vf": vf[keep], "vt": vt[keep], "state": code[keep]})
    cd = cd.sort_values(["person", "vf"], kind="stable").reset_index(drop=True)

    # certified spells clipped to the window; a later valid_from overrides an overlapping earlier one
    s = np.maximum(_d(cd["vf"]), a[cd["person"].to_numpy()])
    nxt = cd.groupby("person")["vf"].shift(-1).to_numpy(dtype="datetime64[D]")
    e = np.minimum(_d(cd["vt"]) + 1, b[cd["person"].to_numpy()])
    e = np.where(np.isnat(nxt), e, np.minimum(e, nxt))
    cs = pd.DataFrame({"person": cd["person"].to_numpy(), "s": s, "e": e, "state": cd["state"].to_numpy()})
    cs = cs[(cs["e"] > cs["s"]) & observed[cs["person"].to_numpy()]].reset_index(drop=True)
    prev_end = cs.groupby("person")["e"].shift(1).to_numpy(dtype="datetime64[D]")
    p = cs["person"].to_numpy()
    gap_from = np.where(np.isnat(prev_end), a[p], prev_end)
    cs["new"] = _d(cs["s"]) > gap_from
    gaps = pd.DataFrame({"person": p, "s": gap_from, "e": _d(cs["s"]), "state": 0, "new": False})
    last = cs.groupby("person")["e"].max()
    obs = np.flatnonzero(observed)
    tail_from = a[obs].copy()
    has = pd.Index(obs).get_indexer(last.index.to_numpy())
    tail_from[has] = last.to_numpy(dtype="datetime64[D]")
    tails = pd.DataFrame({"person": obs, "s": tail_from, "e": b[obs], "state": 0, "new": False})
    spells = pd.concat([cs, gaps, tails], ignore_index=True)
    spells = spells[spells["e"] > spells["s"]].sort_values(["person", "s"], kind="stable").reset_index(drop=True)
    return _Histories(pid=pid, sex=sex, birth=birth, move_in=mi, move_out=mo, death=dd, a=a, b=b, spells=spells,
                      cert=cd)


def _state_on(h: _Histories, day: np.datetime64) -> np.ndarray:
    """State code of every person on ``day`` in hindsight (0 independent), ignoring presence."""
    c = h.cert
    cov = (_d(c["vf"]) <= day) & (_d(c["vt"]) >= day)
    cur = c[cov].drop_duplicates("person", keep="last")  # sorted by vf: the latest wins
    out = np.zeros(len(h.pid), dtype=np.int64)
    out[cur["person"].to_numpy()] = cur["state"].to_numpy()
    return out


def _present_on(h: _Histories, day: np.datetime64, min_age: int) -> np.ndarray:
    return ((np.isnat(h.move_in) | (h.move_in <= day)) & (np.isnat(h.move_out) | (h.move_out > day))
            & (np.isnat(h.death) | (h.death > day)) & (_age(h.birth, day) >= min_age))


def observed_histories(tables: Mapping[str, pd.DataFrame], *, start: Any, end: Any, min_age: int = 65) -> pd.DataFrame:
    """Spells of every resident in the window: person_id, sex, start, end (exclusive), state, new.

    ``state`` is the state in hindsight (see the module docstring), ``new`` marks a certification that
    starts after independent time in the window. Spells are censored at death, move-out and the end.

    Examples
    --------
    >>> import pandas as pd
    >>> tables = {
    ...     "residents": pd.DataFrame({"person_id": ["A"], "birth_month": pd.to_datetime(["1940-01-01"]),
    ...         "sex": ["F"], "move_in_date": pd.NaT, "move_out_date": pd.NaT, "death_date": pd.NaT}),
    ...     "ltc_certifications": pd.DataFrame({"person_id": ["A"], "level": ["要支援1"],
    ...         "valid_from": pd.to_datetime(["2020-04-01"]), "valid_to": pd.to_datetime(["2021-03-31"])})}
    >>> observed_histories(tables, start=2019, end=2021)[["state", "new"]].values.tolist()
    [['independent', False], ['要支援1', True], ['independent', False]]
    """
    _check(tables, _REQUIRED, True)
    s, e = _window(start, end)
    h = _histories(tables, s, e, int(min_age), [])
    sp = h.spells
    p = sp["person"].to_numpy()
    return pd.DataFrame({
        "person_id": h.pid[p], "sex": np.asarray(["M", "F"], dtype=object)[h.sex[p]],
        "start": sp["s"].to_numpy().astype("datetime64[ns]"), "end": sp["e"].to_numpy().astype("datetime64[ns]"),
        "state": np.asarray(STATES, dtype=object)[sp["state"].to_numpy()], "new": sp["new"].to_numpy(),
    })


# --------------------------------------------------------------------------- estimation pieces
def _person_time(h: _Histories, lows: np.ndarray) -> np.ndarray:
    """Person-years ``(2 sex, n_bands, 8 states)``."""
    sp = h.spells
    p = sp["person"].to_numpy()
    s, e, k = _d(sp["s"]), _d(sp["e"]), sp["state"].to_numpy()
    sx = h.sex[p]
    out = np.zeros((2, len(lows), 8))
    for j, lo in enumerate(lows):
        b0 = _add_years(h.birth[p], int(lo))
        days = (np.minimum(e, _add_years(h.birth[p], int(lows[j + 1]))) if j + 1 < len(lows) else e) - np.maximum(s, b0)
        d = np.maximum(days.astype(np.int64), 0) / _DAYS_PER_YEAR
        np.add.at(out, (sx, j, k), d)
    return out


def _row(parameter: str, sex: str, band: str, fr: str, to: str, count: float, exposure: float, unit: str,
         estimate: float, value: float, default: float, se: float, used: bool, note: str = "") -> dict[str, Any]:
    return {"parameter": parameter, "sex": sex, "band": band, "from_state": fr, "to_state": to,
            "count": float(count), "exposure": float(exposure), "exposure_unit": unit, "estimate": float(estimate),
            "value": float(value), "default": float(default), "std_error": float(se), "used": bool(used), "note": note}


def _dirichlet(n: np.ndarray, p0: np.ndarray, a: float) -> np.ndarray:
    tot = n.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (n + a * p0) / (tot + a)
    return np.where(tot + a > 0, out, p0)


def _monthly_states(h: _Histories, start: pd.Timestamp, end: pd.Timestamp, lows: np.ndarray):
    """``(P, M)`` state on the first of each month (-1 when not counted) and band, and the months."""
    months = pd.date_range(start.to_period("M").to_timestamp() if start.day == 1 else start + pd.offsets.MonthBegin(1),
                           end, freq="MS")
    P = len(h.pid)
    state = np.full((P, len(months)), -1, dtype=np.int8)
    band = np.full((P, len(months)), -1, dtype=np.int8)
    for m, day in enumerate(months.to_numpy(dtype="datetime64[D]")):
        pres = _present_on(h, day, int(lows[0]))
        state[pres, m] = _state_on(h, day)[pres]
        band[pres, m] = _band(lows, _age(h.birth[pres], day))
    return state, band, months


def _claims_by_person_month(tables, name: str, h: _Histories, months: pd.DatetimeIndex, exclusions):
    """Claims summed per (person, month) within the window; returns person, month index, yen."""
    cl = tables[name]
    pidx = pd.Index(h.pid).get_indexer(cl["person_id"].astype(str).to_numpy())
    mon = pd.to_datetime(cl["service_month"]).dt.to_period("M").dt.to_timestamp()
    midx = pd.Index(months).get_indexer(mon)
    yen = pd.to_numeric(cl["cost_yen"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(yen) | (yen < 0)
    if bad.any():
        raise DataValidationError(
            f"table {name!r} column 'cost_yen': {int(bad.sum()):,} of {len(cl):,} rows are missing or negative; "
            f"e.g. {cl['cost_yen'].to_numpy()[np.flatnonzero(bad)[0]]!r}.")
    unl = pidx < 0
    if unl.any():
        exclusions.append({"table": name, "reason": "person_id not in residents", "rows": int(unl.sum()),
                           "persons": int(pd.Series(cl["person_id"].astype(str).to_numpy()[unl]).nunique()),
                           "yen": float(yen[unl].sum())})
    out = (~unl) & (midx < 0)
    if out.any():
        exclusions.append({"table": name, "reason": "service month outside the window", "rows": int(out.sum()),
                           "persons": int(pd.Series(pidx[out]).nunique()), "yen": float(yen[out].sum())})
    k = (~unl) & (midx >= 0)
    key = pidx[k].astype(np.int64) * len(months) + midx[k]
    uk, inv = np.unique(key, return_inverse=True)
    tot = np.bincount(inv, weights=yen[k])
    rows = np.bincount(inv)
    return uk // len(months), uk % len(months), tot, rows


# --------------------------------------------------------------------------- the estimator
def estimate_parameters(
    tables: Mapping[str, pd.DataFrame],
    *,
    start: str | pd.Timestamp | int,
    end: str | pd.Timestamp | int,
    age_bands: Sequence[int] = (65, 70, 75, 80, 85, 90),
    smoothing: float = 5.0,
    cell_smoothing: float = 20.0,
    life_table: bool = False,
    base: Parameters | None = None,
) -> EstimatedParameters:
    """Estimate the projection parameters from a city's certification histories and claims.

    Definitions, smoothing and the handling of censoring are in the module docstring.

    Parameters
    ----------
    tables : Mapping[str, pandas.DataFrame]
        ``residents`` and ``ltc_certifications`` (required); ``ltc_claims`` and ``medical_claims``
        (optional: without them the cost entries keep their defaults). Columns as in the data
        dictionary. Not modified.
    start, end : str, Timestamp or int
        First and last day of the window (inclusive); an int is a fiscal year (``start=2019,
        end=2022`` is 2019-04-01 to 2023-03-31).
    age_bands : sequence of int, default (65, 70, 75, 80, 85, 90)
        Lower ends of the age bands (the last is open); the first must equal ``base.min_age``.
    smoothing : float, default 5.0
        Prior weight toward the defaults: pseudo-persons of a transition row and of the entry mix,
        pseudo-events of an incidence rate. 0 gives the raw counts (a cell without data then keeps
        its default; reported).
    cell_smoothing : float, default 20.0
        Prior weight, in pseudo-persons, pulling the transition row and the entry mix of each sex ×
        age band toward the pooled estimate (0: the band's raw counts; very large: the pooled row for
        every band, as a single matrix).
    life_table : bool, default False
        Also replace ``mortality.qx_2023`` by the city's death rates (else only the level multipliers
        and the reference mix are estimated and the national life table is kept).
    base : Parameters, optional
        Parameters whose other entries are kept; default :func:`load_parameters`.

    Returns
    -------
    EstimatedParameters

    Raises
    ------
    DataValidationError
        Missing tables or columns, duplicate person ids, unknown sex or level, certified rows without
        a validity period, negative costs (the message names the table, column, count and an example).
    ConfigurationError
        Invalid options, or estimates that fall outside a parameter's valid range.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> est = estimate_parameters(make_municipality("tiny", seed=0).tables, start=2019, end=2022)
    >>> est.parameters["certification.entry_level_mix"].tag
    'D'
    >>> est.parameters["certification.entry_level_mix"].source.startswith("estimated from")
    True
    """
    params = load_parameters() if base is None else base
    if not isinstance(params, Parameters):
        raise ConfigurationError(f"base must come from load_parameters(); got {type(params).__name__}.")
    lows_t = tuple(int(x) for x in age_bands) if isinstance(age_bands, Sequence) and len(age_bands) > 0 else ()
    if (not lows_t or any(int(x) != x for x in age_bands) or np.any(np.diff(lows_t) <= 0)
            or lows_t[0] != params.min_age or lows_t[-1] > params.max_age):
        raise ConfigurationError(
            f"age_bands must be increasing whole ages from {params.min_age} (base.min_age) to at most "
            f"{params.max_age}; got {age_bands!r}.")
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0 <= smoothing < np.inf:
        raise ConfigurationError(f"smoothing must be a finite number >= 0; got {smoothing!r}.")
    if (isinstance(cell_smoothing, bool) or not isinstance(cell_smoothing, (int, float))
            or not 0 <= cell_smoothing < np.inf):
        raise ConfigurationError(f"cell_smoothing must be a finite number >= 0; got {cell_smoothing!r}.")
    beta = float(cell_smoothing)
    if not isinstance(life_table, bool):
        raise ConfigurationError(f"life_table must be True or False; got {life_table!r}.")
    _check(tables, _REQUIRED, True)
    _check(tables, _OPTIONAL, False)
    s, e = _window(start, end)
    lows = np.asarray(lows_t)
    labels = _band_labels(lows_t)
    alpha = float(smoothing)
    excl: list[dict[str, Any]] = []
    h = _histories(tables, s, e, int(lows[0]), excl)
    period = _period_label(s, e)
    rows: list[dict[str, Any]] = []
    upd: dict[str, dict[str, Any]] = {}
    SX = ("M", "F")

    def src(names: str, extra: str = "") -> str:
        return (f"estimated from {names} {period} by wellness_research.microsim.estimate_parameters"
                + (f" ({extra})" if extra else ""))

    # ---------------------------------------------------------------- person-time, events, deaths
    pt = _person_time(h, lows)  # (2, B, 8)
    sp = h.spells
    ev = sp[sp["new"]]
    ep = ev["person"].to_numpy()
    ev_band = _band(lows, _age(h.birth[ep], _d(ev["s"])))
    ev_sex = h.sex[ep]
    ev_lvl = ev["state"].to_numpy()
    B = len(lows)
    d_inc = np.zeros((2, B))
    np.add.at(d_inc, (ev_sex, ev_band), 1)
    died = (~np.isnat(h.death)) & (h.death == h.b) & (h.b > h.a)
    lastsp = sp.drop_duplicates("person", keep="last").set_index("person")["state"]
    dp = np.flatnonzero(died)
    d_state = lastsp.reindex(dp).to_numpy()
    d_band = _band(lows, _age(h.birth[dp], h.death[dp] - 1))
    deaths = np.zeros((2, B, 8))
    np.add.at(deaths, (h.sex[dp], d_band, d_state), 1)

    # incidence
    ages = params.ages
    age_band = _band(lows, ages)
    inc = np.zeros((2, len(ages)))
    for sx in range(2):
        for j in range(B):
            lam0 = float(params.incidence[sx, age_band == j].mean())
            D, T = d_inc[sx, j], pt[sx, j, 0]
            raw = D / T if T > 0 else np.nan
            if T + (alpha / lam0 if lam0 > 0 else 0) > 0 and (T > 0 or alpha > 0):
                val = (D + alpha) / (T + alpha / lam0) if lam0 > 0 and alpha > 0 else raw
                note = ""
            else:
                val, note = lam0, "no person-time: default kept"
            if not np.isfinite(val):
                val, note = lam0, "no person-time: default kept"
            inc[sx, age_band == j] = val
            rows.append(_row("certification.incidence_by_age_sex", SX[sx], labels[j], "independent", "certified",
                             D, T, "person-years", raw, val, lam0, np.sqrt(D) / T if T > 0 else np.nan, True, note))
    upd["certification.incidence_by_age_sex"] = {
        "value": {"ages": [int(x) for x in ages], "male": inc[0].round(8).tolist(), "female": inc[1].round(8).tolist()},
        "source": src("residents, ltc_certifications", f"events / independent person-years by sex x band {labels}, "
                      f"step over single ages; smoothing {alpha:g} pseudo-events at the default rate"),
        "tag": "D",
    }

    # entry-level mix: pooled toward the default, each sex x band toward the pooled
    n_entry = np.bincount(ev_lvl - 1, minlength=7).astype(np.float64) if len(ev_lvl) else np.zeros(7)
    entry = _dirichlet(n_entry, params.entry_mix, alpha)
    entry = entry / entry.sum()
    N = n_entry.sum()
    for k in range(7):
        raw = n_entry[k] / N if N > 0 else np.nan
        rows.append(_row("certification.entry_level_mix", "all", "all", "independent", LEVELS[k], n_entry[k], N,
                         "new certifications", raw, entry[k], params.entry_mix[k],
                         np.sqrt(raw * (1 - raw) / N) if N > 0 else np.nan, True,
                         "pooled: the prior of the sex x band rows"))
    entry_cells = np.empty((2, B, 7))
    for sx in range(2):
        for j in range(B):
            sel = (ev_sex == sx) & (ev_band == j)
            nn = np.bincount(ev_lvl[sel] - 1, minlength=7).astype(np.float64)
            cell = _dirichlet(nn, entry, beta)
            entry_cells[sx, j] = cell / cell.sum()
            for k in range(7):
                raw = nn[k] / nn.sum() if nn.sum() > 0 else np.nan
                rows.append(_row("certification.entry_level_mix", SX[sx], labels[j], "independent", LEVELS[k], nn[k],
                                 nn.sum(), "new certifications", raw, entry_cells[sx, j, k], entry[k], np.nan, True,
                                 "" if nn.sum() > 0 or beta > 0 else "no new certifications: pooled mix kept"))
    upd["certification.entry_level_mix"] = {
        "value": {"bands": labels, "male": entry_cells[0].round(10).tolist(),
                  "female": entry_cells[1].round(10).tolist(), "all": entry.round(10).tolist()},
        "source": src("residents, ltc_certifications", f"levels of {int(N):,} new certifications; Dirichlet "
                      f"smoothing {alpha:g} pseudo-persons toward the default (pooled), then {beta:g} "
                      "pseudo-persons toward the pooled mix by sex x band"), "tag": "D"}

    # transitions on anniversaries
    n_tr = np.zeros((2, B, 7, 8))
    lost = {"died": 0, "moved out": 0}
    snaps = []
    k = 0
    end_excl = np.datetime64(e.date(), "D") + 1
    while True:
        d = np.datetime64((s + pd.DateOffset(years=k)).date(), "D")
        if d > end_excl:
            break
        snaps.append(d)
        k += 1
    for d0, d1 in zip(snaps[:-1], snaps[1:]):
        pres = _present_on(h, d0, int(lows[0]))
        st0 = _state_on(h, d0)
        cand = pres & (st0 > 0)
        dead = cand & ~np.isnat(h.death) & (h.death <= d1)
        moved = cand & ~dead & ~np.isnat(h.move_out) & (h.move_out <= d1)
        lost["died"] += int(dead.sum())
        lost["moved out"] += int(moved.sum())
        ok = cand & ~dead & ~moved
        st1 = _state_on(h, d1)
        bb = _band(lows, _age(h.birth[ok], d0))
        np.add.at(n_tr, (h.sex[ok], bb, st0[ok] - 1, st1[ok]), 1)
    for why, n in lost.items():
        if n:
            excl.append({"table": "ltc_certifications",
                         "reason": f"transitions: certified on an anniversary but {why} before the next "
                                   "(the matrix is conditional on survival)",
                         "rows": n, "persons": n, "yen": 0})
    p0 = np.asarray(params.annual_matrix)[1:, :]  # (7, 8): col 0 decertification
    pooled = n_tr.sum(axis=(0, 1))
    sm = _dirichlet(pooled, p0, alpha)
    sm_cells = _dirichlet(n_tr, sm[None, None], beta)  # (2, B, 7, 8)
    for i in range(7):
        n_i = pooled[i].sum()
        for j in range(8):
            raw = pooled[i, j] / n_i if n_i > 0 else np.nan
            rows.append(_row("transitions.annual_matrix", "all", "all", LEVELS[i], STATES[j], pooled[i, j], n_i,
                             "persons", raw, sm[i, j], p0[i, j],
                             np.sqrt(raw * (1 - raw) / n_i) if n_i > 0 else np.nan, True,
                             "pooled: the prior of the sex x band rows" if n_i > 0 else "no persons: default row kept"))
        for sx in range(2):
            for b in range(B):
                c = n_tr[sx, b, i]
                for j in range(8):
                    raw = c[j] / c.sum() if c.sum() > 0 else np.nan
                    rows.append(_row("transitions.annual_matrix", SX[sx], labels[b], LEVELS[i], STATES[j], c[j],
                                     c.sum(), "persons", raw, sm_cells[sx, b, i, j], sm[i, j], np.nan, True,
                                     "" if c.sum() > 0 or beta > 0 else "no persons: pooled row kept"))

    def percent(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Level part in percent (rows renormalised) and the decertification column."""
        stay = p[..., 1:]
        tot = stay.sum(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            tm = np.where(tot > 0, 100.0 * stay / tot, 100.0 * sm[:, 1:] / sm[:, 1:].sum(axis=-1, keepdims=True))
        return tm, p[..., 0]

    tm, dec = percent(sm)
    tm_c, dec_c = percent(sm_cells)
    tsrc = src("residents, ltc_certifications", f"{int(pooled.sum()):,} person-years of certified persons alive and "
               f"registered on consecutive anniversaries of {s.date()}; Dirichlet smoothing {alpha:g} pseudo-persons "
               f"toward the default row (pooled), then {beta:g} pseudo-persons toward the pooled row by sex x band")
    upd["transitions.annual_matrix_percent"] = {
        "value": {"bands": labels, "male": tm_c[0].round(8).tolist(), "female": tm_c[1].round(8).tolist(),
                  "all": tm.round(8).tolist()}, "source": tsrc, "tag": "D"}
    upd["transitions.decertification_per_year"] = {
        "value": {"bands": labels, "male": dec_c[0].round(10).tolist(), "female": dec_c[1].round(10).tolist(),
                  "all": dec.round(10).tolist()}, "source": tsrc, "tag": "D"}

    # mortality: MH rate ratios, reference mix
    hr = np.array(params.level_hr, dtype=np.float64)
    strata_T0 = pt[..., 0]
    strata_D0 = deaths[..., 0]
    for k in range(1, 8):
        Tk, Dk = pt[..., k], deaths[..., k]
        tot = Tk + strata_T0
        with np.errstate(invalid="ignore", divide="ignore"):
            num = np.where(tot > 0, Dk * strata_T0 / tot, 0).sum()
            den = np.where(tot > 0, strata_D0 * Tk / tot, 0).sum()
        raw = num / den if den > 0 else np.nan
        lo, hi = params["mortality.level_hazard_ratio"].range
        if np.isfinite(raw) and lo <= raw <= hi:
            val, note = raw, ""
        else:
            val, note = hr[k], f"raw ratio {raw!r} unusable (no deaths or outside [{lo}, {hi}]): default kept"
        hr[k] = val
        rows.append(_row("mortality.level_hazard_ratio", "all", "all", STATES[k], "dead", Dk.sum(), Tk.sum(),
                         "person-years", raw, val, params.level_hr[k], np.nan, True, note))
    for sx in range(2):
        for b in range(B):
            for k in range(8):
                T, D = pt[sx, b, k], deaths[sx, b, k]
                rows.append(_row("mortality.death_rate", SX[sx], labels[b], STATES[k], "dead", D, T, "person-years",
                                 D / T if T > 0 else np.nan, D / T if T > 0 else np.nan, np.nan,
                                 np.sqrt(D) / T if T > 0 else np.nan, False, "stratum of the Mantel-Haenszel ratios"))
    msrc = src("residents, ltc_certifications", "Mantel-Haenszel rate ratio vs independent over sex x band strata; "
               "levels without usable data keep the default")
    upd["mortality.level_hazard_ratio"] = {"value": hr.round(8).tolist(), "source": msrc, "tag": "D"}
    alive_pt = pt.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        prev = pt[..., 1:].sum(axis=2) / alive_pt
    pe = params["certification.prevalence_by_age_sex"].value
    p_def = np.vstack([np.asarray(pe[k])[_band(np.asarray([int(str(x).split("-")[0].rstrip("+")) for x in pe["bands"]]),
                                               lows)] for k in ("male", "female")])
    prev_val = np.where(np.isfinite(prev), prev, p_def)
    for sx in range(2):
        for b in range(B):
            rows.append(_row("certification.prevalence_by_age_sex", SX[sx], labels[b], "alive", "certified",
                             pt[sx, b, 1:].sum(), alive_pt[sx, b], "person-years", prev[sx, b], prev_val[sx, b],
                             p_def[sx, b], np.nan, True, "" if np.isfinite(prev[sx, b]) else "no person-time: default kept"))
    upd["certification.prevalence_by_age_sex"] = {
        "value": {"bands": labels, "male": prev_val[0].round(10).tolist(), "female": prev_val[1].round(10).tolist()},
        "source": src("residents, ltc_certifications", "certified share of person-time by sex x band"), "tag": "D"}
    cert_pt = pt[..., 1:].sum(axis=(0, 1))
    if cert_pt.sum() > 0:
        mix = cert_pt / cert_pt.sum()
        for k in range(7):
            rows.append(_row("certification.level_mix_prevalent", "all", "all", "certified", LEVELS[k], cert_pt[k],
                             cert_pt.sum(), "person-years", mix[k], mix[k], params.reference_mix[0, 0, k + 1] /
                             max(params.reference_mix[0, 0, 1:].sum(), 1e-300), np.nan, True))
        upd["certification.level_mix_prevalent"] = {
            "value": mix.round(12).tolist(), "source": src("residents, ltc_certifications", "share of certified person-time by level"),
            "tag": "D"}
    if life_table:
        rate = deaths.sum(axis=2) / np.where(alive_pt > 0, alive_pt, np.nan)
        if not np.all(np.isfinite(rate) & (rate > 0)):
            raise ConfigurationError(
                "life_table=True needs deaths and person-time in every sex x band cell; "
                f"deaths by cell {deaths.sum(axis=2).tolist()}.")
        mids = [float(lo + (lows[j + 1] - lo) / 2 - 0.5) if j + 1 < B else float(lo + 2) for j, lo in enumerate(lows)]
        q = -np.expm1(-rate)
        for sx in range(2):
            for b in range(B):
                rows.append(_row("mortality.qx_2023", SX[sx], labels[b], "alive", "dead", deaths[sx, b].sum(),
                                 alive_pt[sx, b], "person-years", q[sx, b], q[sx, b], np.nan, np.nan, True,
                                 f"qx at age {mids[b]:g}"))
        upd["mortality.qx_2023"] = {"value": {"ages": mids, "male": q[0].round(10).tolist(), "female": q[1].round(10).tolist()},
                                    "source": src("residents", "1 - exp(-deaths / person-years) by sex x band at the band's middle age"),
                                    "tag": "D"}

    # ---------------------------------------------------------------- costs
    if "ltc_claims" in tables or "medical_claims" in tables:
        mstate, mband, months = _monthly_states(h, s, e, lows)
        counted = mstate >= 0
        if "ltc_claims" in tables:
            pp, mm, yen, _ = _claims_by_person_month(tables, "ltc_claims", h, months, excl)
            st = mstate[pp, mm]
            nc = st < 0
            if nc.any():
                excl.append({"table": "ltc_claims", "reason": "person not counted on the first day of the service "
                             "month (not registered, younger, or died/moved on that day)", "rows": int(nc.sum()),
                             "persons": int(np.unique(pp[nc]).size), "yen": float(yen[nc].sum())})
            ind = st == 0
            if ind.any():
                excl.append({"table": "ltc_claims", "reason": "person independent on the first day of the service "
                             "month (certified later in the month; the model has no LTC cost when independent)",
                             "rows": int(ind.sum()), "persons": int(np.unique(pp[ind]).size), "yen": float(yen[ind].sum())})
            pm = np.bincount(mstate[counted], minlength=8)[1:8].astype(np.float64)
            cert = st >= 1
            cost = np.bincount(st[cert] - 1, weights=yen[cert], minlength=7)
            cost2 = np.bincount(st[cert] - 1, weights=yen[cert] ** 2, minlength=7)
            users = np.bincount(st[cert & (yen > 0)] - 1, minlength=7).astype(np.float64)
            per_pm = np.asarray(params.ltc_cost_month[1:8], dtype=np.float64)
            c_def = np.asarray(params["ltc_costs.cost_per_recipient_by_level"].value, dtype=np.float64)
            s_def = np.asarray(params["ltc_costs.recipient_share_by_level"].value, dtype=np.float64)
            c_val, s_val = c_def.copy(), s_def.copy()
            for k in range(7):
                ok = pm[k] > 0 and users[k] > 0
                if ok:
                    c_val[k], s_val[k] = cost[k] / users[k], users[k] / pm[k]
                mean = cost[k] / pm[k] if pm[k] > 0 else np.nan
                se = np.sqrt(max(cost2[k] / pm[k] - mean ** 2, 0.0) / pm[k]) if pm[k] > 1 else np.nan
                rows.append(_row("ltc_costs.cost_per_certified_month", "all", "all", LEVELS[k], "", users[k], pm[k],
                                 "person-months", mean, c_val[k] * s_val[k], per_pm[k], se, True,
                                 "" if ok else "no person-months with claims: default kept"))
            lsrc = src("residents, ltc_certifications, ltc_claims",
                       f"費用額 of certified person-months by level on the first of the month ({int(pm.sum()):,} person-months)")
            upd["ltc_costs.cost_per_recipient_by_level"] = {"value": c_val.round(4).tolist(), "source": lsrc, "tag": "D"}
            upd["ltc_costs.recipient_share_by_level"] = {"value": s_val.round(10).tolist(), "source": lsrc, "tag": "D"}
            upd["ltc_costs.unit_price_factor"] = {"value": 1.0, "source": "claims are in the city's yen: " + lsrc, "tag": "D"}
        if "medical_claims" in tables:
            pp, mm, yen, _ = _claims_by_person_month(tables, "medical_claims", h, months, excl)
            st = mstate[pp, mm]
            nc = st < 0
            if nc.any():
                excl.append({"table": "medical_claims", "reason": "person not counted on the first day of the "
                             "service month (not registered, younger, or died/moved on that day)", "rows": int(nc.sum()),
                             "persons": int(np.unique(pp[nc]).size), "yen": float(yen[nc].sum())})
            ok = ~nc
            pm = np.zeros((2, B, 8))
            P = np.broadcast_to(np.arange(len(h.pid))[:, None], mstate.shape)
            np.add.at(pm, (h.sex[P[counted]], mband[counted], mstate[counted]), 1)
            cost = np.zeros((2, B, 8))
            np.add.at(cost, (h.sex[pp[ok]], mband[pp[ok], mm[ok]], st[ok]), yen[ok])
            pm_b, cost_b = pm.sum(axis=(0, 2)), cost.sum(axis=(0, 2))
            with np.errstate(invalid="ignore", divide="ignore"):
                per_year = 12.0 * cost_b / pm_b
                r0 = cost[..., 0].sum(axis=0) / pm[..., 0].sum(axis=0)  # (B,) independent rate per month
                exp_cert = (pm[..., 1:].sum(axis=(0, 2)) * r0)
                kmult = cost[..., 1:].sum() / np.nansum(np.where(np.isfinite(exp_cert), exp_cert, 0))
            med_e = params["medical_costs.per_capita_fy2014"]
            mlows = np.asarray([int(str(x).split("-")[0].rstrip("+")) for x in med_e.value["bands"]])
            m_def = (np.asarray(med_e.value["yen_per_year"], dtype=np.float64)[_band(mlows, lows)]
                     * float(params["medical_costs.uplift_from_fy2014"].value))
            per_val = np.where(np.isfinite(per_year), per_year, m_def)
            for b in range(B):
                rows.append(_row("medical_costs.per_capita", "all", labels[b], "alive", "", pm_b[b], pm_b[b],
                                 "person-months", per_year[b], per_val[b], m_def[b], np.nan, True,
                                 "" if np.isfinite(per_year[b]) else "no person-months: default kept"))
                for sx in range(2):
                    for k in range(8):
                        n_ = pm[sx, b, k]
                        rows.append(_row("medical_costs.per_person_year", SX[sx], labels[b], STATES[k], "", n_, n_,
                                         "person-months", 12 * cost[sx, b, k] / n_ if n_ > 0 else np.nan,
                                         12 * cost[sx, b, k] / n_ if n_ > 0 else np.nan, np.nan, np.nan, False,
                                         "by sex x band x state: reported (the engine takes band means and one multiplier)"))
            k_def = float(params["medical_costs.certified_multiplier"].value)
            k_val = float(kmult) if np.isfinite(kmult) and 1.0 <= kmult <= 5.0 else k_def
            rows.append(_row("medical_costs.certified_multiplier", "all", "all", "certified", "",
                             pm[..., 1:].sum(), pm.sum(), "person-months", kmult, k_val, k_def, np.nan, True,
                             "" if k_val == kmult else "outside [1, 5] or undefined: default kept"))
            msrc2 = src("residents, ltc_certifications, medical_claims", f"cost of person-months on the first of the month "
                        f"({int(pm.sum()):,} person-months)")
            upd["medical_costs.per_capita_fy2014"] = {
                "value": {"bands": labels, "yen_per_year": per_val.round(2).tolist()}, "source": msrc2, "tag": "D",
                "description": "Medical cost per person-year by age band (whole population), current yen (estimated)."}
            upd["medical_costs.uplift_from_fy2014"] = {"value": 1.0, "source": "estimated costs are current: " + msrc2, "tag": "D"}
            upd["medical_costs.certified_multiplier"] = {
                "value": k_val, "source": msrc2 + "; observed / expected at the independent rate of the band", "tag": "D"}

    new = params.replace_entries(upd)
    counts = pd.DataFrame(rows)
    exclusions = pd.DataFrame(excl, columns=["table", "reason", "rows", "persons", "yen"])
    return EstimatedParameters(parameters=new, counts=counts, exclusions=exclusions, start=s, end=e,
                               age_bands=lows_t, smoothing=alpha)
