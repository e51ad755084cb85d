"""Programme data: SOFT sites and sessions, てくポ monthly activity.

Who takes part is decided inside the monthly engine (:mod:`.simulate`), from observed covariates
only. This module lays out the SOFT sites (a staggered roll-out over districts, FY2021–FY2025) and,
after the engine has run, writes the session-level SOFT attendance and the monthly てくポ activity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._calendar import month_length, month_start_day
from .parameters import SyntheticParameters
from .population import N_MONTHS, NEVER

__all__ = ["Sites", "make_sites", "n_sites_for", "soft_attendance_rows", "tekupo_activity_rows"]


@dataclass(frozen=True)
class Sites:
    """SOFT sites: district (0..11), opening month, last month (``NEVER`` while open)."""

    district: np.ndarray
    start_month: np.ndarray
    end_month: np.ndarray

    @property
    def n(self) -> int:
        return int(self.district.shape[0])


def n_sites_for(params: SyntheticParameters, n_start: int) -> int:
    """Number of SOFT sites: ``soft.sites_city`` scaled by size (150,000 = city), at least 3."""
    return max(3, int(round(float(params.value("soft.sites_city")) * n_start / 150_000)))


def make_sites(params: SyntheticParameters, n_start: int, rng: np.random.Generator) -> Sites:
    """Staggered SOFT roll-out: sites per district by population, opening months by fiscal year.

    Sites are numbered in opening order (S001 opens first).
    """
    n = n_sites_for(params, n_start)
    shares = params.value("soft.opening_share_by_fy")
    fys = sorted(int(k) for k in shares)
    w = np.array([shares[str(fy)] if str(fy) in shares else shares[fy] for fy in fys], dtype=np.float64)
    per_fy = _largest_remainder(n, w / w.sum())
    weights = np.asarray(params.value("population.district_weights"), dtype=np.float64)
    per_district = _largest_remainder(n, weights / weights.sum())
    districts = rng.permutation(np.repeat(np.arange(len(weights)), per_district))
    fy_of_site = np.repeat(fys, per_fy)
    start = (fy_of_site - 2019) * 12 + rng.integers(0, 12, size=n)
    order = np.lexsort((districts, start))
    start = start[order]
    districts = districts[order]
    closes = rng.random(n) < float(params.value("soft.closure_probability"))
    end = start + rng.integers(12, 25, size=n)
    end = np.where(closes & (end < N_MONTHS), end, NEVER)
    return Sites(district=districts.astype(np.int64), start_month=start.astype(np.int64), end_month=end.astype(np.int64))


def _largest_remainder(total: int, shares: np.ndarray) -> np.ndarray:
    raw = shares * total
    out = np.floor(raw).astype(np.int64)
    rest = total - out.sum()
    out[np.argsort(-(raw - out), kind="stable")[:rest]] += 1
    return out


def _weekday_table() -> tuple[np.ndarray, np.ndarray]:
    """``(84, 31)`` day offsets and a mask of weekdays (Monday–Friday) within each month."""
    starts = month_start_day(np.arange(N_MONTHS))
    lengths = month_length(np.arange(N_MONTHS))
    off = np.arange(31)
    days = starts[:, None] + off
    # 1970-01-01 was a Thursday: weekday = (day + 3) % 7 with Monday = 0
    weekday = (days + 3) % 7
    valid = (off[None, :] < lengths[:, None]) & (weekday < 5)
    return days, valid


def soft_attendance_rows(params: SyntheticParameters, soft: dict[str, np.ndarray], death_day: np.ndarray,
                         rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Session rows of SOFT participants: 1–4 weekday sessions per active month, live or recorded.

    Every participant attends at least once in the month of joining (the index month); no session
    falls after the person's death.
    """
    n_months = soft["exit"] - soft["month"]
    pm_person = np.repeat(np.arange(len(n_months)), n_months)
    pm_month = np.repeat(soft["month"], n_months) + (np.arange(len(pm_person)) - np.repeat(np.cumsum(n_months) - n_months, n_months))
    first = pm_month == soft["month"][pm_person]
    spec = params.value("soft.sessions_per_month")
    counts = rng.choice(np.asarray(spec["counts"]), size=len(pm_person), p=np.asarray(spec["weights"]) / np.sum(spec["weights"]))
    days, valid = _weekday_table()
    cand_days = days[pm_month]
    ok = valid[pm_month] & (cand_days <= death_day[soft["person"][pm_person]][:, None])
    none_ok = ~ok.any(axis=1)
    ok[none_ok, 0] = True  # died on a weekend day 1: the session is on the 1st
    keys = np.where(ok, rng.random(ok.shape), np.inf)
    rank = np.argsort(keys, axis=1, kind="stable")
    n_ok = ok.sum(axis=1)
    k = np.minimum(counts, n_ok)
    k = np.where(first, np.maximum(k, 1), k)
    take = np.arange(31)[None, :] < k[:, None]
    row_pm = np.repeat(np.arange(len(pm_person)), k)
    chosen = np.take_along_axis(cand_days, rank, axis=1)[take]
    live = rng.random(len(row_pm)) < float(params.value("soft.live_share"))
    order = np.lexsort((chosen, row_pm))
    return {
        "person": soft["person"][pm_person[row_pm]][order],
        "site": soft["site"][pm_person[row_pm]][order],
        "day": chosen[order],
        "live": live[order],
    }


def tekupo_activity_rows(params: SyntheticParameters, tek: dict[str, np.ndarray], hist: np.ndarray,
                         death_month: np.ndarray, z_of, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Monthly てくポ rows of registrants while they keep using the app.

    Parameters
    ----------
    z_of : callable
        ``z_of(month, persons)`` latent frailty (healthier users walk more).
    """
    persons = tek["person"]
    n = len(persons)
    cont = float(params.value("tekupo.continuation_per_month"))
    steps_p = params.value("tekupo.daily_steps")
    stop = tek["month"] + rng.geometric(1.0 - cont, size=n)
    level = np.log(float(steps_p["median"])) + rng.normal(0.0, float(steps_p["sd_log"]), n)
    balance = np.zeros(n, dtype=np.int64)
    out = {k: [] for k in ("person", "month", "steps", "earned", "redeemed")}
    for m in range(N_MONTHS):
        act = np.flatnonzero((tek["month"] <= m) & (stop > m) & (hist[persons, m] >= 0) & (death_month[persons] > m))
        if len(act) == 0:
            continue
        dim = int(month_length(m))
        first = tek["month"][act] == m
        avail = np.where(first, dim - (tek["day"][act] - int(month_start_day(m))), dim)
        days = np.maximum(1, rng.binomial(avail, 0.8))
        daily = np.exp(level[act] + float(steps_p["frailty_log_per_sd"]) * z_of(m, persons[act]) + rng.normal(0, 0.15, len(act)))
        steps = np.minimum(np.round(daily * days), 1_500_000).astype(np.int64)
        goal_days = rng.binomial(days, np.clip(daily / 8000.0, 0.05, 0.95))
        earned = goal_days + 5 * (goal_days // 5) + rng.poisson(12, len(act))
        earned = np.minimum(earned, 100_000).astype(np.int64)
        balance[act] += earned
        redeem = rng.random(len(act)) < 0.25
        redeemed = np.where(redeem, np.floor(balance[act] * rng.uniform(0.5, 1.0, len(act))), 0).astype(np.int64)
        redeemed = np.minimum(redeemed, 100_000)
        balance[act] -= redeemed
        out["person"].append(persons[act])
        out["month"].append(np.full(len(act), m))
        out["steps"].append(steps)
        out["earned"].append(earned)
        out["redeemed"].append(redeemed)
    return {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)) for k, v in out.items()}
