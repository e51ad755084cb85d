"""Synthetic staggered-adoption panels for the difference-in-differences benchmarks and tests.

Used by ``benchmarks/bench_did*.py``, ``benchmarks/peers/bench_did_peers.py`` and simulation tests
that need a panel with a *known* effect. Not part of the installed package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COHORT_FRACTIONS", "TRUE_ATT", "cohort_periods", "make_staggered_panel"]

#: The true average treatment effect on the treated; identical in every treated (unit, period) cell.
TRUE_ATT = 0.10

#: Share of units in each treated cohort (the rest, 1 - sum = 0.40, are never treated) when there are
#: no covariates. With covariates the shares vary with the propensity but average to the same.
COHORT_FRACTIONS = (0.15, 0.15, 0.15, 0.15)


def cohort_periods(n_periods: int) -> tuple[int, int, int, int]:
    """First-treated periods of the four cohorts for a panel with ``n_periods`` periods.

    The cohorts start at 30 %, 45 %, 60 % and 75 % of the panel (periods 18, 27, 36, 45 for
    ``n_periods=60``), so every cohort has pre- and post-periods and period 1 is untreated for all.
    """
    if n_periods < 8:
        raise ValueError(f"n_periods must be >= 8 for four staggered cohorts; got {n_periods}")
    starts = tuple(max(2, int(round(f * n_periods))) for f in (0.30, 0.45, 0.60, 0.75))
    if len(set(starts)) != 4:  # pragma: no cover - only for tiny n_periods
        raise ValueError(f"n_periods={n_periods} is too small for four distinct cohorts")
    return starts  # type: ignore[return-value]


def make_staggered_panel(
    n_units: int = 150_000,
    n_periods: int = 60,
    *,
    n_covariates: int = 0,
    seed: int = 0,
    balanced: bool = True,
) -> pd.DataFrame:
    """Simulate a staggered-adoption panel whose true ATT is 0.10 in every treated cell.

    Data-generating process, for unit ``i`` and period ``t = 1..T``::

        y_it = a_i + l_t + (x_i' b) * (t / T) + 0.10 * 1[g_i > 0 and t >= g_i] + e_it,

    with unit effects ``a_i ~ N(0.5 * 1[g_i > 0], 1)`` (treated units differ in level, which the
    difference removes), time effects ``l_t = 0.02 t + 0.3 sin(2 pi t / 12)``, idiosyncratic noise
    ``e_it ~ N(0, 0.5^2)``, and four cohorts first treated at 30/45/60/75 % of the panel
    (:func:`cohort_periods`; 18, 27, 36, 45 for ``T = 60``) plus never-treated units (``cohort = 0``).

    Without covariates the cohort is drawn independently of everything (shares
    0.15/0.15/0.15/0.15/0.40), so unconditional parallel trends hold. With ``n_covariates = k > 0``,
    ``x_i ~ N(0, I_k)`` are time-invariant, the probability of being treated is
    ``logistic(logit(0.6) + x_i' c)`` with ``c_j = 0.8 / sqrt(k)`` (the cohort among the four is then
    uniform), and the
    covariates shift the *trend* (``b_j = 0.5 / sqrt(k)``): parallel trends hold only conditional on
    ``x``, so an unconditional estimator is biased upwards and the ``reg``/``ipw``/``dr`` estimators with
    covariates recover 0.10.

    The treatment effect is homogeneous, so every ATT(g, t) for ``t >= g``, every aggregation (simple,
    dynamic, group, calendar) and every weighted version equals ``TRUE_ATT = 0.10``; pre-treatment
    ATT(g, t) are 0.

    Parameters
    ----------
    n_units : int, default 150_000
        Number of units (``n_units * n_periods`` rows when balanced; 9 million by default).
    n_periods : int, default 60
        Number of periods ``T``; ``time`` runs 1..T.
    n_covariates : int, default 0
        Number of time-invariant covariates ``x1..xk``.
    seed : int, default 0
        Seed for :func:`numpy.random.default_rng`; the output is deterministic for a seed.
    balanced : bool, default True
        If False, about 20 % of units leave the panel at a uniformly drawn period in ``2..T`` (like
        deaths): their trailing periods are dropped, removing about 10 % of all rows. Exits are
        independent of treatment and outcome, so the estimand is unchanged.

    Returns
    -------
    pandas.DataFrame
        Columns ``unit`` (int64, 0..n_units-1), ``time`` (int64, 1..T), ``cohort`` (int64, first
        treated period, 0 = never treated), ``y`` (float64), ``x1..xk`` (float64, constant within unit)
        and ``w`` (float64, a positive sampling weight constant within unit, uniform on [0.5, 2]).
        Sorted by unit then time, with a RangeIndex.

    Examples
    --------
    >>> df = make_staggered_panel(1_000, 10, n_covariates=2, seed=1)
    >>> df.shape
    (10000, 7)
    >>> sorted(df["cohort"].unique().tolist())
    [0, 3, 4, 6, 8]
    """
    if n_units < 10:
        raise ValueError(f"n_units must be >= 10; got {n_units}")
    if n_covariates < 0:
        raise ValueError(f"n_covariates must be >= 0; got {n_covariates}")
    rng = np.random.default_rng(seed)
    T = int(n_periods)
    starts = np.array(cohort_periods(T), dtype=np.int64)

    # --- unit-level draws (order fixed so a seed always gives the same panel) -----------------------
    x = rng.standard_normal((n_units, n_covariates)) if n_covariates else np.empty((n_units, 0))
    u_treat = rng.random(n_units)
    which = rng.integers(0, 4, size=n_units)
    alpha_noise = rng.standard_normal(n_units)
    w_unit = rng.uniform(0.5, 2.0, size=n_units)
    exit_draw = rng.random(n_units)
    exit_time = rng.integers(2, T + 1, size=n_units)  # last observed period when the unit exits

    if n_covariates:
        c = np.full(n_covariates, 0.8 / np.sqrt(n_covariates))
        logit = np.log(0.6 / 0.4) + x @ c
        p_treat = 1.0 / (1.0 + np.exp(-logit))
        trend_shift = x @ np.full(n_covariates, 0.5 / np.sqrt(n_covariates))
    else:
        p_treat = np.full(n_units, 0.6)
        trend_shift = np.zeros(n_units)
    treated = u_treat < p_treat
    cohort_unit = np.where(treated, starts[which], 0).astype(np.int64)
    alpha = 0.5 * treated + alpha_noise

    # --- expand to the (unit, period) grid: row r = unit * T + (t - 1) -------------------------------
    t_grid = np.arange(1, T + 1, dtype=np.int64)
    lam = 0.02 * t_grid + 0.3 * np.sin(2 * np.pi * t_grid / 12.0)
    n_rows = n_units * T
    y = rng.standard_normal(n_rows)  # e_it, scaled in place below (float64, one 9M buffer)
    y *= 0.5
    y2 = y.reshape(n_units, T)  # view
    y2 += alpha[:, None]
    y2 += lam[None, :]
    y2 += trend_shift[:, None] * (t_grid[None, :] / T)
    y2 += TRUE_ATT * ((cohort_unit[:, None] > 0) & (t_grid[None, :] >= cohort_unit[:, None]))

    cols: dict[str, np.ndarray] = {
        "unit": np.repeat(np.arange(n_units, dtype=np.int64), T),
        "time": np.tile(t_grid, n_units),
        "cohort": np.repeat(cohort_unit, T),
        "y": y,
    }
    for j in range(n_covariates):
        cols[f"x{j + 1}"] = np.repeat(x[:, j], T)
    cols["w"] = np.repeat(w_unit, T)

    if not balanced:
        leaves = exit_draw < 0.20
        last = np.where(leaves, exit_time, T)
        keep = (t_grid[None, :] <= last[:, None]).ravel()
        cols = {k: v[keep] for k, v in cols.items()}
    return pd.DataFrame(cols, copy=False)
