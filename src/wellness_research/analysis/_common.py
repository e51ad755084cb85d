"""Pieces every protocol's step functions share: the protocol argument, seeds, suppression, findings text.

Private to :mod:`wellness_research.analysis`; the protocol modules (``soft``, ``short_term``, ...)
import them under their own underscore names.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from wellness_research.analysis.findings import Finding, findings_frame
from wellness_research.errors import ConfigurationError

__all__ = ["averted_costs", "death_times", "deviation_lines", "finding_lines", "findings_tidy", "fiscal_year_end", "html", "matched_participant_ids",
           "protocol_of", "seed_of", "suppress"]


def protocol_of(protocol: Any, kind: str | None = None) -> Any:
    """A :class:`~wellness_research.protocols.Protocol` from a Protocol or a name/path; ``kind`` checked."""
    from wellness_research.protocols import Protocol, load_protocol

    if isinstance(protocol, str):
        protocol = load_protocol(protocol)
    if not isinstance(protocol, Protocol):
        raise ConfigurationError(f"protocol must be a Protocol or a protocol name/path; got {type(protocol).__name__}.")
    if kind is not None and protocol.protocol != kind:
        raise ConfigurationError(f"protocol {protocol.name!r} is a {protocol.protocol!r} protocol; these steps need "
                                 f"the {kind} protocol (load_protocol({kind!r})).")
    return protocol


def seed_of(seed: int | np.random.Generator | None, protocol: Any, key: str) -> int | np.random.Generator:
    """``seed`` as given, or the protocol's ``seeds.<key>``."""
    return int(protocol.get(f"seeds.{key}")) if seed is None else seed


def suppress(table: pd.DataFrame, protocol: Any, **kwargs: Any) -> Any:
    """:func:`~wellness_research.privacy.suppress_small_cells` with the protocol's reporting rules."""
    from wellness_research.privacy import suppress_small_cells

    return suppress_small_cells(table, min_count=int(protocol.get("reporting.min_cell")),
                                secondary=bool(protocol.get("reporting.secondary_suppression")), **kwargs)


def findings_tidy(findings: Sequence[Finding]) -> pd.DataFrame:
    """One row per finding in the house ``tidy()`` columns, with ``truth`` and ``unit``."""
    f = findings_frame(findings)
    out = pd.DataFrame({"term": f["name"], "estimate": f["estimate"], "std_error": np.nan,
                        "conf_low": f["conf_low"], "conf_high": f["conf_high"], "p_value": np.nan, "n": f["n"],
                        "truth": f["truth"], "unit": f["unit"]})
    return out.reset_index(drop=True)


def finding_lines(findings: Sequence[Finding], *, width: int = 34) -> list[str]:
    """One text line per finding: estimate, interval, n, unit and, on synthetic data, the truth."""
    lines = []
    for f in findings:
        truth = "" if f.truth is None else f"  truth {f.truth:.4g} ({'covered' if f.covers else 'NOT covered'})"
        lines.append(f"  {f.name:<{width}} {f.estimate: .4g}  [{f.conf_low:.4g}, {f.conf_high:.4g}]  n = {f.n}  "
                     f"{f.unit}{truth}")
    return lines


def deviation_lines(deviations: Sequence[str]) -> list[str]:
    """One text line per deviation from the protocol."""
    return [f"  deviation: {d}" for d in deviations]


def html(summary: str) -> str:
    """A plain-text summary as preformatted HTML."""
    return "<pre>" + escape(summary) + "</pre>"


def matched_participant_ids(matched: Any) -> np.ndarray:
    """Person ids of the treated units a matching kept (weight > 0)."""
    keep = (np.asarray(matched.weights) > 0) & matched.treated
    return matched.data.loc[keep, "person_id"].astype(str).unique()


#: Days per month of the time-to-event columns (months = days / 30.4375), as in the cohort frames.
DAYS_PER_MONTH = 365.25 / 12


def averted_costs(hr: float, seed: int, *, population: Any, base: Any, effect: Any, years: int, cycle: str,
                  engine: str, rate: float, timing: str) -> tuple[float, float]:
    """Averted LTC and medical cost (discounted, intervention minus control) of one PSA draw's hazard ratio."""
    from dataclasses import replace

    from wellness_research.microsim import project, projection_totals

    pr = project(population, base, effect=replace(effect, hr_certification=float(hr)), years=years, cycle=cycle,
                 engine=engine, seed=seed)
    diff = projection_totals(pr, method=timing, rate=rate).loc["difference"]
    return float(-diff["ltc_cost"]), float(-diff["medical_cost"])


def death_times(tables: Any, data: pd.DataFrame, data_end: pd.Timestamp, followup: int) -> tuple[np.ndarray, ...]:
    """Months from each row's time zero to death or censoring, and the death indicator.

    Time zero is ``landmark_date`` when the frame has one, else ``index_date``; censoring at moving
    out, the end of ``followup`` months or the month after ``data_end``.
    """
    res = tables["residents"]
    r = res.set_index(res["person_id"].astype(str))
    ids = data["person_id"].astype(str)
    death = pd.to_datetime(r["death_date"]).reindex(ids).to_numpy(dtype="datetime64[ns]")
    move = pd.to_datetime(r["move_out_date"]).reindex(ids).to_numpy(dtype="datetime64[ns]")
    zero = "landmark_date" if "landmark_date" in data.columns else "index_date"
    start = data[zero].to_numpy(dtype="datetime64[ns]")
    horizon = (pd.DatetimeIndex(start) + pd.DateOffset(months=followup)).to_numpy(dtype="datetime64[ns]")
    end_excl = np.datetime64(data_end + pd.DateOffset(months=1), "ns")
    far = np.datetime64("2262-01-01", "ns")
    cens = np.minimum(np.minimum(horizon, end_excl), np.where(np.isnat(move), far, move))
    dd = np.where(np.isnat(death), far, death)
    event = (dd >= start) & (dd < cens)
    t_end = np.where(event, dd, cens)
    months = np.clip((t_end - start) / np.timedelta64(1, "D") / DAYS_PER_MONTH, 0.0, float(followup))
    return months, event.astype(np.int64)


def fiscal_year_end(fiscal_year: int) -> pd.Timestamp:
    """First day of the last month (March) of a fiscal year."""
    if isinstance(fiscal_year, bool) or not isinstance(fiscal_year, (int, np.integer)):
        raise ConfigurationError(f"fiscal_year={fiscal_year!r} is not valid; use an integer such as 2025.")
    return pd.Timestamp(year=int(fiscal_year) + 1, month=3, day=1)
