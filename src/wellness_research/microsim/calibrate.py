"""Calibration report: the projection beside what the city's tables show, year by year.

:func:`calibration_report` projects the residents present on ``start_date`` (built by
:func:`~wellness_research.microsim.population.population_at` with the state in hindsight) with the
given parameters (cohort engine, monthly cycles, no programme) and puts the model's expectations
beside the observed counts of the same persons: first certifications and deaths per year, LTC cost
and medical cost per year (from ``ltc_claims`` and ``medical_claims`` when the tables have them), and
the certified share by sex × age band and by age band × level at each anniversary.

The projection has no migration, so residents who move out during the horizon are left out of both
sides (their number is in ``attrs["excluded_moved_out"]``); the observed side is read as in
:mod:`~wellness_research.microsim.estimate` (validity periods, certifications after independent time).

Tolerance
---------
``tolerance = z * se + relative * |model|``: ``se`` the sampling standard error of the observed value
around the model's expectation (Poisson ``sqrt(model)`` for counts; binomial
``sqrt(p (1 - p) / n)`` for shares; for costs the standard error of the sum of independent person
totals, ``sqrt(sum_i (x_i - mean)^2)``) and ``relative`` a margin for parameter and structural error
(estimated parameters, no latent frailty, one transition matrix per sex × age band (broadcast when the parameters give one)). Defaults ``z = 3`` and
``relative = 0.10``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from .engine import project
from .estimate import _OPTIONAL, _REQUIRED, _band, _band_labels, _check, _histories, _present_on, _state_on
from .parameters import LEVELS, Parameters, load_parameters
from .population import population_at
from .projection import Projection

__all__ = ["calibration_population", "calibration_report"]


def calibration_report(
    projection_or_parameters: Projection | Parameters | None,
    tables: Mapping[str, pd.DataFrame],
    *,
    start_date: str | pd.Timestamp,
    years: int = 3,
    age_bands: tuple[int, ...] = (65, 70, 75, 80, 85, 90),
    z: float = 3.0,
    relative: float = 0.10,
) -> pd.DataFrame:
    """Model vs observed, year by year, from the population at ``start_date``.

    Parameters
    ----------
    projection_or_parameters : Parameters, Projection or None
        Parameters to project with (``None``: the defaults), or a projection already made from
        :func:`calibration_population` ``(tables, start_date, years)`` (its control arm is used; the
        number of persons must match).
    tables : Mapping[str, pandas.DataFrame]
        ``residents``, ``ltc_certifications`` and optionally ``ltc_claims`` and ``medical_claims``
        (rows ``ltc_cost`` and ``medical_cost``: yen per year of the cohort, claims by service month,
        against the model's undiscounted cost at the projection's default timing). Not modified.
    start_date : str or Timestamp
    years : int, default 3
        Whole years after ``start_date`` that the tables cover.
    age_bands : tuple of int
        Lower ends of the age bands of the prevalence rows.
    z, relative : float
        Tolerance ``z * se + relative * |model|`` (module docstring).

    Returns
    -------
    pandas.DataFrame
        ``measure``, ``year``, ``sex``, ``band``, ``level``, ``n`` (observed persons behind the row),
        ``observed``, ``model``, ``difference`` (observed − model), ``relative_difference``,
        ``tolerance``, ``within_tolerance``.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> rep = calibration_report(None, make_municipality("tiny", seed=0).tables,
    ...                          start_date="2023-04-01", years=1)
    >>> sorted(rep["measure"].unique())[:2]
    ['deaths', 'ltc_cost']
    """
    if isinstance(years, bool) or not isinstance(years, (int, np.integer)) or not 1 <= years <= 60:
        raise ConfigurationError(f"years must be a whole number from 1 to 60; got {years!r}.")
    for name, v in (("z", z), ("relative", relative)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < np.inf:
            raise ConfigurationError(f"{name} must be a finite number >= 0; got {v!r}.")
    try:
        day0 = pd.Timestamp(start_date).normalize()
    except (ValueError, TypeError):
        raise ConfigurationError(f"start_date must be a date; got {start_date!r}.") from None
    _check(tables, _REQUIRED, True)
    _check(tables, _OPTIONAL, False)
    pop, keep_ids, n_moved = _cohort(tables, day0, years, int(age_bands[0]))
    if isinstance(projection_or_parameters, Projection):
        pr = projection_or_parameters
        if pr.n_persons != len(pop) or pr.years < years:
            raise ConfigurationError(
                f"the projection has {pr.n_persons:,} persons and {pr.years} years; the calibration cohort at "
                f"{day0.date()} has {len(pop):,} persons and needs {years} years (project calibration_population(...)).")
    else:
        params = load_parameters() if projection_or_parameters is None else projection_or_parameters
        if not isinstance(params, Parameters):
            raise ConfigurationError(
                f"projection_or_parameters must be Parameters, a Projection or None; got {type(params).__name__}.")
        pr = project(pop, params, years=int(years), cycle="month", engine="cohort")
    end = day0 + pd.DateOffset(years=int(years)) - pd.Timedelta(days=1)
    h = _histories(tables, day0, end, int(age_bands[0]), [])
    ids = pd.Index(h.pid)
    member = np.zeros(len(h.pid), dtype=bool)
    member[ids.get_indexer(keep_ids)] = True
    lows = np.asarray(age_bands)
    labels = _band_labels(tuple(age_bands))
    rows: list[dict[str, Any]] = []

    def add(measure, year, sex, band, level, n, obs, mod, se):
        tol = z * se + relative * abs(mod)
        diff = obs - mod
        rows.append({"measure": measure, "year": year, "sex": sex, "band": band, "level": level, "n": n,
                     "observed": float(obs), "model": float(mod), "difference": float(diff),
                     "relative_difference": float(diff / mod) if mod != 0 else np.nan,
                     "tolerance": float(tol), "within_tolerance": bool(abs(diff) <= tol)})

    out = pr.annual_outcomes()
    sp = h.spells
    sp = sp[member[sp["person"].to_numpy()]]
    ev_day = np.asarray(sp.loc[sp["new"], "s"], dtype="datetime64[D]")
    died = member & ~np.isnat(h.death) & (h.death == h.b) & (h.b > h.a)
    claims = {}  # measure -> (person index, service month, yen) of the claims table
    for table, measure in (("ltc_claims", "ltc_cost"), ("medical_claims", "medical_cost")):
        if table in tables:
            cl = tables[table]
            pidx = ids.get_indexer(cl["person_id"].astype(str).to_numpy())
            mon = pd.to_datetime(cl["service_month"]).to_numpy(dtype="datetime64[D]")
            claims[measure] = (pidx, mon, pd.to_numeric(cl["cost_yen"]).to_numpy(dtype=np.float64))
    for y in range(1, years + 1):
        d0 = np.datetime64((day0 + pd.DateOffset(years=y - 1)).date(), "D")
        d1 = np.datetime64((day0 + pd.DateOffset(years=y)).date(), "D")
        newc = int(((ev_day >= d0) & (ev_day < d1)).sum())
        m = float(out["new_certifications"][0, y - 1])
        add("new_certifications", y, "all", "all", "all", len(pop), newc, m, np.sqrt(m))
        dth = int((died & (h.death >= d0) & (h.death < d1)).sum())
        m = float(out["deaths"][0, y - 1])
        add("deaths", y, "all", "all", "all", len(pop), dth, m, np.sqrt(m))
        for measure, (pidx, mon, yen) in claims.items():
            sel = (pidx >= 0) & (mon >= d0) & (mon < d1)
            sel &= member[np.where(pidx >= 0, pidx, 0)]
            per = np.bincount(pidx[sel], weights=yen[sel], minlength=len(h.pid))[member]
            m = float(out[measure][0, y - 1])
            add(measure, y, "all", "all", "all", int((per > 0).sum()), per.sum(), m,
                np.sqrt(((per - per.mean()) ** 2).sum()))
    cpy = pr.cycles_per_year
    occ = pr.occupancy_detail[0]  # (2, A, T+1, 9)
    rows_age = pr._age_rows()
    for y in range(0, years + 1):
        day = np.datetime64((day0 + pd.DateOffset(years=y)).date(), "D")
        pres = member & _present_on(h, day, int(lows[0]))
        st = _state_on(h, day)
        age = (np.asarray(day, dtype="datetime64[M]") - h.birth.astype("datetime64[M]")).astype(np.int64) // 12
        bd = _band(lows, age)
        t = y * cpy
        mband = _band(lows, np.asarray(pr.ages)[rows_age[:, t]])  # (A,) band by starting row
        for sx, sxl in enumerate(("M", "F")):
            for b, lab in enumerate(labels):
                sel = pres & (h.sex == sx) & (bd == b)
                n = int(sel.sum())
                if n == 0:
                    continue
                o = occ[sx, mband == b, t, :8].sum(axis=0)
                mp = o[1:].sum() / o.sum() if o.sum() > 0 else np.nan
                add("prevalence", y, sxl, lab, "certified", n, (st[sel] > 0).mean(), mp,
                    np.sqrt(mp * (1 - mp) / n))
        for b, lab in enumerate(labels):
            sel = pres & (bd == b)
            n = int(sel.sum())
            if n == 0:
                continue
            o = occ[:, mband == b, t, :8].sum(axis=(0, 1))
            for k in range(1, 8):
                mp = o[k] / o.sum() if o.sum() > 0 else np.nan
                add("prevalence_by_level", y, "all", lab, LEVELS[k - 1], n, (st[sel] == k).mean(), mp,
                    np.sqrt(mp * (1 - mp) / n))
    rep = pd.DataFrame(rows)
    rep.attrs.update({"start_date": str(day0.date()), "years": int(years), "persons": len(pop),
                      "excluded_moved_out": n_moved, "z": z, "relative": relative})
    return rep


def _cohort(tables, day0: pd.Timestamp, years: int, min_age: int):
    """Population at ``day0`` (state in hindsight) without those who move out within the horizon."""
    res = tables["residents"]
    mo = pd.to_datetime(res["move_out_date"])
    horizon = day0 + pd.DateOffset(years=int(years))
    moved = (mo > day0) & (mo < horizon)
    pop = population_at(tables, day0, min_age=min_age, state_basis="validity")
    moved_ids = set(res.loc[moved.to_numpy(), "person_id"].astype(str))
    drop = pop["person_id"].isin(moved_ids).to_numpy()
    pop = pop.loc[~drop].reset_index(drop=True)
    return pop, pop["person_id"].to_numpy(), int(drop.sum())


def calibration_population(tables: Mapping[str, pd.DataFrame], start_date: str | pd.Timestamp, years: int,
                           *, min_age: int = 65) -> pd.DataFrame:
    """The persons :func:`calibration_report` projects: present at ``start_date``, not moving out within ``years``."""
    return _cohort(tables, pd.Timestamp(start_date).normalize(), years, min_age)[0]

