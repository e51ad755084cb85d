"""Health-economic arithmetic: discounting, within-cycle correction, ICERs, NMB, CEAC, EVPI, DSA.

Everything here works on plain numbers, numpy arrays and DataFrames (per-cycle costs and outcomes,
or one row per PSA draw), so it serves both engines and any model a city brings.

Conventions
-----------
Time and cycles
    A projection of ``n`` cycles of length ``L`` years (``L = 1`` for ``cycle="year"``,
    ``1/12`` for ``cycle="month"``) has **boundaries** ``t = 0, 1, …, n`` at times ``t·L`` years.
    Cycle ``t`` (``t = 0 … n−1``) runs from boundary ``t`` to ``t + 1``.
Discounting
    An annual rate ``r`` becomes the per-cycle rate ``(1 + r)**L − 1`` (never ``r·L``: dividing the
    annual rate by 12, the heemod#298 trap, compounds to 2.018 %/yr and discounts a 10-year monthly
    total 0.09 % too much at 2 %). A cash flow at time ``s`` years is multiplied by ``(1 + r)**(−s)``.
Timing of a per-cycle flow (:func:`discount_factors`, :func:`discount`)
    ``"start"``: paid at the start of the cycle, ``s = t·L`` (the first cycle is undiscounted);
    ``"mid"``: ``s = (t + ½)·L``; ``"end"``: ``s = (t + 1)·L``.
Within-cycle correction (:func:`within_cycle_weights`, :func:`integrate`)
    When a quantity is known at the boundaries (state occupancy ``v_t``, hence cost or person-time
    rate ``v_t``), the total over the horizon is an integral of a curve known at ``n + 1`` points:

    * ``"start"`` (left Riemann sum): ``Σ_{t=0}^{n−1} v_t`` — everyone counted at the start of the
      cycle, as heemod's ``"beginning"``;
    * ``"end"`` (right Riemann sum): ``Σ_{t=1}^{n} v_t`` — heemod's ``"end"``;
    * ``"half-cycle"`` (trapezoid): ``½v_0 + v_1 + … + v_{n−1} + ½v_n`` (heemod's ``"life-table"``);
    * ``"simpson"`` (composite Simpson 1/3): ``(v_0 + 4v_1 + 2v_2 + 4v_3 + … + 4v_{n−1} + v_n)/3``
      for even ``n``; for odd ``n ≥ 3`` the last three cycles use Simpson's 3/8 rule
      ``3/8·(v_{n−3} + 3v_{n−2} + 3v_{n−1} + v_n)``; ``n = 1`` falls back to the trapezoid.

    Each weight multiplies the value *and* the discount factor at the same boundary,
    ``Σ w_t · v_t · (1 + r)**(−t·L)``, as in Elbasha & Chhatwal (2016) and darthtools ``gen_wcc``.
    The heemod#173 trap is to apply a half-cycle correction only to the first cycle, or only to
    costs; here the weights apply to every quantity integrated with the same call.

ICER and dominance (:func:`icers`)
    Strategies are sorted by cost (then by effect, descending). A strategy is **strongly dominated**
    (``"D"``) when another costs no more and is at least as effective, with one inequality strict;
    an exact duplicate of an earlier strategy (same cost and effect) is also marked ``"D"`` with a
    note, so ties never crash (dampack#37). Among the rest, a strategy is **extendedly dominated**
    (``"ED"``) when its ICER against the previous frontier strategy exceeds the ICER of the next
    more effective one (a mix of its neighbours would do better); this is repeated until ICERs
    increase along the frontier (``"ND"``). This is the algorithm of dampack ``calculate_icers``.

References
----------
Drummond, M. F. et al. (2015). *Methods for the Economic Evaluation of Health Care Programmes*, 4th
ed., ch. 4 (discounting) and ch. 8 (ICER, dominance).
Elbasha, E. H. & Chhatwal, J. (2016). Theoretical foundations and practical applications of
within-cycle correction methods. *Medical Decision Making* 36(1), 115–131 (eqs. 7–9: trapezoid and
Simpson's 1/3).
Claxton, K. (1999). The irrelevance of inference. *J Health Econ* 18, 341–364 (EVPI).
Fenwick, E., Claxton, K. & Sculpher, M. (2001). Representing uncertainty: the role of
cost-effectiveness acceptability curves. *Health Economics* 10, 779–787 (CEAC, frontier).
Alarid-Escudero, F. et al. dampack (R): ``calculate_icers``, ``ceac``, ``calc_evpi``, ``owsa``.

Examples
--------
>>> import numpy as np
>>> from wellness_research.microsim.economics import discount_factors, integrate
>>> discount_factors(3, rate=0.02, timing="start").round(6)
array([1.      , 0.980392, 0.961169])
>>> float(integrate(np.array([100.0, 80.0, 60.0]), method="half-cycle", rate=0.0))
160.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from ..errors import ConfigurationError

__all__ = [
    "CEACResult",
    "Correction",
    "CostTiming",
    "Cycle",
    "DSAResult",
    "ICERTable",
    "ce_plane_plot",
    "ceac",
    "ceac_plot",
    "cycle_length_years",
    "discount",
    "discount_factors",
    "evpi",
    "icers",
    "integrate",
    "net_monetary_benefit",
    "one_way_dsa",
    "per_cycle_rate",
    "population_evpi",
    "projection_totals",
    "tornado_plot",
    "within_cycle_weights",
]

Cycle = Literal["year", "month"]
CostTiming = Literal["start", "mid", "end"]
Correction = Literal["start", "end", "half-cycle", "simpson"]

_TIDY = ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]


def _check_literal(name: str, value: object, alias: object, func: str) -> None:
    valid = get_args(alias)
    if value not in valid:
        raise ConfigurationError(f"{func}: {name} must be one of {list(valid)}, got {value!r}.")


def _check_rate(rate: float, func: str) -> float:
    if not (isinstance(rate, (int, float, np.floating)) and np.isfinite(rate) and -1 < rate < 1):
        raise ConfigurationError(f"{func}: rate must be an annual rate in (-1, 1), e.g. 0.02, got {rate!r}.")
    return float(rate)


def cycle_length_years(cycle: Cycle) -> float:
    """Length of one cycle in years: 1 for ``"year"``, 1/12 for ``"month"``."""
    _check_literal("cycle", cycle, Cycle, "cycle_length_years")
    return 1.0 if cycle == "year" else 1.0 / 12.0


def per_cycle_rate(rate: float, *, cycle: Cycle = "year") -> float:
    """Per-cycle discount rate equivalent to an annual ``rate``: ``(1 + rate)**L − 1``.

    Examples
    --------
    >>> round(per_cycle_rate(0.02, cycle="month"), 8)
    0.00165158
    """
    rate = _check_rate(rate, "per_cycle_rate")
    return (1.0 + rate) ** cycle_length_years(cycle) - 1.0


def discount_factors(
    n_cycles: int, *, rate: float = 0.02, cycle: Cycle = "year", timing: CostTiming = "start"
) -> np.ndarray:
    """Discount factor of a flow in each of ``n_cycles`` cycles, ``(1 + rate)**(−s)``.

    Parameters
    ----------
    n_cycles : int
        Number of cycles (≥ 0).
    rate : float, default 0.02
        Annual discount rate (2 %/yr is the 中医協 guideline value, [M] in DOMAIN.md §9).
    cycle : {"year", "month"}
    timing : {"start", "mid", "end"}
        When within the cycle the flow happens: at ``s = t·L``, ``(t + ½)·L`` or ``(t + 1)·L``.

    Returns
    -------
    numpy.ndarray of shape (n_cycles,)

    Examples
    --------
    >>> discount_factors(2, rate=0.10, timing="end").round(6)
    array([0.909091, 0.826446])
    """
    if not (isinstance(n_cycles, (int, np.integer)) and n_cycles >= 0):
        raise ConfigurationError(f"discount_factors: n_cycles must be an integer ≥ 0, got {n_cycles!r}.")
    rate = _check_rate(rate, "discount_factors")
    _check_literal("timing", timing, CostTiming, "discount_factors")
    length = cycle_length_years(cycle)
    offset = {"start": 0.0, "mid": 0.5, "end": 1.0}[timing]
    times = (np.arange(n_cycles, dtype=float) + offset) * length
    return (1.0 + rate) ** (-times)


def discount(
    flows: np.ndarray | Sequence[float],
    *,
    rate: float = 0.02,
    cycle: Cycle = "year",
    timing: CostTiming = "start",
    axis: int = 0,
) -> np.ndarray:
    """Discounted per-cycle flows (same shape as ``flows``; cycles along ``axis``).

    Examples
    --------
    >>> discount([100.0, 100.0], rate=0.10, timing="start").round(4)
    array([100.    ,  90.9091])
    """
    arr = np.asarray(flows, dtype=float)
    if arr.ndim == 0:
        raise ConfigurationError("discount: flows must have at least one dimension (one value per cycle).")
    factors = discount_factors(arr.shape[axis], rate=rate, cycle=cycle, timing=timing)
    shape = [1] * arr.ndim
    shape[axis] = -1
    return arr * factors.reshape(shape)


def within_cycle_weights(n_cycles: int, *, method: Correction = "half-cycle") -> np.ndarray:
    """Weights on the ``n_cycles + 1`` boundary values (see the module notes for the formulas).

    Examples
    --------
    >>> within_cycle_weights(4, method="simpson") * 3
    array([1., 4., 2., 4., 1.])
    >>> within_cycle_weights(3, method="simpson") * 8
    array([3., 9., 9., 3.])
    >>> within_cycle_weights(3, method="half-cycle")
    array([0.5, 1. , 1. , 0.5])
    """
    if not (isinstance(n_cycles, (int, np.integer)) and n_cycles >= 1):
        raise ConfigurationError(f"within_cycle_weights: n_cycles must be an integer ≥ 1, got {n_cycles!r}.")
    _check_literal("method", method, Correction, "within_cycle_weights")
    n = int(n_cycles)
    w = np.ones(n + 1)
    if method == "start":
        w[-1] = 0.0
    elif method == "end":
        w[0] = 0.0
    elif method == "half-cycle" or n == 1:
        w[0] = w[-1] = 0.5
    else:  # simpson
        w[:] = 0.0
        even = n if n % 2 == 0 else n - 3
        if even > 0:
            w[: even + 1] += np.where(np.arange(even + 1) % 2 == 1, 4.0, 2.0) / 3.0
            w[0] -= 1.0 / 3.0
            w[even] -= 1.0 / 3.0
        if n % 2 == 1:
            w[even : n + 1] += np.array([3.0, 9.0, 9.0, 3.0]) / 8.0
    return w


def integrate(
    values: np.ndarray | Sequence[float],
    *,
    method: Correction = "half-cycle",
    rate: float = 0.02,
    cycle: Cycle = "year",
    axis: int = 0,
) -> np.ndarray:
    """Discounted total of a quantity known at the cycle boundaries ``t = 0 … n`` (axis length n+1).

    ``Σ_t w_t · v_t · (1 + rate)**(−t·L)`` with the within-cycle weights ``w_t`` of ``method``.
    ``values`` holds per-cycle amounts evaluated at the boundaries (e.g. persons in a state × cost
    per cycle in that state), so with ``method="start"`` and ``rate=0`` the answer is the sum of
    the first ``n`` values.

    Examples
    --------
    >>> round(float(integrate([1.0, 1.0, 1.0], method="simpson", rate=0.0)), 12)
    2.0
    >>> float(integrate([0.0, 1.0, 4.0], method="simpson", rate=0.0))  # ∫0² t² dt = 8/3
    2.6666666666666665
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0 or arr.shape[axis] < 2:
        raise ConfigurationError(
            "integrate: values must hold the n + 1 boundary values (at least 2) along axis "
            f"{axis}, got shape {arr.shape}."
        )
    rate = _check_rate(rate, "integrate")
    n = arr.shape[axis] - 1
    w = within_cycle_weights(n, method=method)
    d = (1.0 + rate) ** (-np.arange(n + 1) * cycle_length_years(cycle))
    shape = [1] * arr.ndim
    shape[axis] = -1
    return (arr * (w * d).reshape(shape)).sum(axis=axis)


# ---------------------------------------------------------------------------------------------
# ICER with dominance
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ICERTable:
    """Strategies with their incremental cost-effectiveness ratios and dominance status.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per strategy, frontier first (by increasing cost), then extendedly and strongly
        dominated ones: ``strategy``, ``cost``, ``effect``, ``inc_cost``, ``inc_effect``, ``icer``
        (against the previous frontier strategy; NaN for the reference and for dominated ones),
        ``status`` (``"ND"``, ``"ED"``, ``"D"``) and ``note``.
    """

    table: pd.DataFrame

    @property
    def frontier(self) -> list[str]:
        """Strategies on the efficiency frontier, by increasing cost."""
        return self.table.loc[self.table["status"] == "ND", "strategy"].tolist()

    def tidy(self) -> pd.DataFrame:
        t = self.table
        out = pd.DataFrame(
            {
                "term": t["strategy"].to_numpy(),
                "estimate": t["icer"].to_numpy(),
                "std_error": np.nan,
                "conf_low": np.nan,
                "conf_high": np.nan,
                "p_value": np.nan,
                "n": 1,
            }
        )
        for col in ("cost", "effect", "inc_cost", "inc_effect", "status", "note"):
            out[col] = t[col].to_numpy()
        return out

    def summary(self) -> str:
        lines = ["ICER table (status ND = frontier, ED = extendedly dominated, D = strongly dominated)"]
        lines.append(f"{'strategy':<20}{'cost':>14}{'effect':>12}{'ICER':>14}  status")
        for _, r in self.table.iterrows():
            icer = "" if np.isnan(r["icer"]) else f"{r['icer']:,.0f}"
            lines.append(f"{str(r['strategy']):<20}{r['cost']:>14,.0f}{r['effect']:>12.4f}{icer:>14}  {r['status']}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        return "<pre>" + escape(self.summary()) + "</pre>"


def icers(
    cost: Sequence[float] | np.ndarray,
    effect: Sequence[float] | np.ndarray,
    strategies: Sequence[str] | None = None,
) -> ICERTable:
    """ICERs along the efficiency frontier, with strong and extended dominance (dampack semantics).

    Parameters
    ----------
    cost, effect : sequence of float
        Expected (discounted) cost and effect per strategy.
    strategies : sequence of str, optional
        Names (default ``"s0"``, ``"s1"``, …); must be unique.

    Returns
    -------
    ICERTable

    Examples
    --------
    >>> t = icers([0, 100, 300, 350], [0, 1, 1.5, 3], ["A", "B", "C", "D"])
    >>> t.table[["strategy", "icer", "status"]].to_string(index=False)
    'strategy  icer status\\n       A   NaN     ND\\n       B 100.0     ND\\n       D 125.0     ND\\n       C   NaN     ED'
    """
    c = np.asarray(cost, dtype=float)
    e = np.asarray(effect, dtype=float)
    if c.ndim != 1 or c.shape != e.shape or len(c) == 0:
        raise ConfigurationError(
            f"icers: cost and effect must be 1-d of equal non-zero length, got shapes {c.shape} and {e.shape}."
        )
    if not (np.isfinite(c).all() and np.isfinite(e).all()):
        raise ConfigurationError("icers: cost and effect must be finite (a strategy has NaN or inf).")
    names = [f"s{i}" for i in range(len(c))] if strategies is None else [str(s) for s in strategies]
    if len(names) != len(c) or len(set(names)) != len(names):
        raise ConfigurationError(f"icers: strategies must be {len(c)} unique names, got {names!r}.")
    status = np.array(["ND"] * len(c), dtype=object)
    note = np.array([""] * len(c), dtype=object)
    # Strong dominance (and exact duplicates: the later one in input order is dropped).
    for i in range(len(c)):
        for j in range(len(c)):
            if i == j:
                continue
            if c[j] == c[i] and e[j] == e[i]:
                if j < i:
                    status[i], note[i] = "D", f"duplicate of {names[j]}"
                    break
            elif c[j] <= c[i] and e[j] >= e[i]:
                status[i], note[i] = "D", f"dominated by {names[j]}"
                break
    # Extended dominance on the remaining strategies, sorted by cost.
    cand = [i for i in np.lexsort((-e, c)) if status[i] == "ND"]
    changed = True
    while changed and len(cand) > 2:
        changed = False
        ratios = [(c[cand[k]] - c[cand[k - 1]]) / (e[cand[k]] - e[cand[k - 1]]) for k in range(1, len(cand))]
        for k in range(1, len(ratios)):
            if ratios[k - 1] > ratios[k]:
                i = cand[k]
                status[i] = "ED"
                note[i] = f"extendedly dominated by {names[cand[k - 1]]} and {names[cand[k + 1]]}"
                del cand[k]
                changed = True
                break
    inc_c = np.full(len(c), np.nan)
    inc_e = np.full(len(c), np.nan)
    ratio = np.full(len(c), np.nan)
    for k in range(1, len(cand)):
        i, p = cand[k], cand[k - 1]
        inc_c[i], inc_e[i] = c[i] - c[p], e[i] - e[p]
        ratio[i] = inc_c[i] / inc_e[i]
    order = cand + [i for i in np.lexsort((-e, c)) if status[i] == "ED"] + [
        i for i in np.lexsort((-e, c)) if status[i] == "D"
    ]
    table = pd.DataFrame(
        {
            "strategy": [names[i] for i in order],
            "cost": c[order],
            "effect": e[order],
            "inc_cost": inc_c[order],
            "inc_effect": inc_e[order],
            "icer": ratio[order],
            "status": [status[i] for i in order],
            "note": [note[i] for i in order],
        }
    )
    return ICERTable(table=table)


# ---------------------------------------------------------------------------------------------
# Net monetary benefit, CEAC, EVPI
# ---------------------------------------------------------------------------------------------


def _as_draws(x: np.ndarray | pd.DataFrame, name: str) -> tuple[np.ndarray, list[str]]:
    if isinstance(x, pd.DataFrame):
        return x.to_numpy(dtype=float), [str(col) for col in x.columns]
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ConfigurationError(f"{name} must be draws × strategies (2-d), got shape {arr.shape}.")
    return arr, [f"s{i}" for i in range(arr.shape[1])]


def _wtp_grid(wtp: float | Sequence[float] | np.ndarray) -> np.ndarray:
    grid = np.atleast_1d(np.asarray(wtp, dtype=float))
    if grid.ndim != 1 or not np.isfinite(grid).all():
        raise ConfigurationError(f"wtp must be a finite number or 1-d grid, got {wtp!r}.")
    return grid


def net_monetary_benefit(
    cost: np.ndarray | pd.DataFrame, effect: np.ndarray | pd.DataFrame, *, wtp: float
) -> np.ndarray:
    """Net monetary benefit ``wtp · effect − cost`` (elementwise; draws × strategies).

    With ``effect`` = 0 and ``cost`` = programme cost − averted cost, ``−NMB`` is the net cost.

    Examples
    --------
    >>> net_monetary_benefit(np.array([[100.0, 250.0]]), np.array([[1.0, 2.0]]), wtp=120.0)
    array([[ 20., -10.]])
    """
    c, _ = _as_draws(cost, "net_monetary_benefit: cost")
    e, _ = _as_draws(effect, "net_monetary_benefit: effect")
    if c.shape != e.shape:
        raise ConfigurationError(f"net_monetary_benefit: cost {c.shape} and effect {e.shape} differ in shape.")
    return float(wtp) * e - c


@dataclass(frozen=True, eq=False)
class CEACResult:
    """Cost-effectiveness acceptability curve and frontier.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per wtp × strategy: ``wtp``, ``strategy``, ``probability`` (share of draws in
        which the strategy has the largest NMB), ``expected_nmb`` and ``on_frontier`` (True for
        the strategy with the largest expected NMB at that wtp: the acceptability frontier, CEAF).
    n_draws : int
    """

    table: pd.DataFrame
    n_draws: int

    def tidy(self) -> pd.DataFrame:
        t = self.table
        p = t["probability"].to_numpy()
        out = pd.DataFrame(
            {
                "term": [f"{s} @ {w:g}" for s, w in zip(t["strategy"], t["wtp"], strict=True)],
                "estimate": p,
                "std_error": np.sqrt(p * (1 - p) / self.n_draws),
                "conf_low": np.nan,
                "conf_high": np.nan,
                "p_value": np.nan,
                "n": self.n_draws,
            }
        )
        for col in ("wtp", "strategy", "expected_nmb", "on_frontier"):
            out[col] = t[col].to_numpy()
        return out

    def summary(self) -> str:
        wide = self.table.pivot(index="wtp", columns="strategy", values="probability")
        front = self.table.loc[self.table["on_frontier"]].set_index("wtp")["strategy"]
        wide["frontier"] = front
        return f"CEAC over {self.n_draws} draws (probability of largest NMB)\n" + wide.to_string()

    def _repr_html_(self) -> str:
        from html import escape

        return "<pre>" + escape(self.summary()) + "</pre>"

    def plot(self, *, title: str | None = None):
        """Acceptability curves, with the frontier drawn thick."""
        return ceac_plot(self, title=title)


def ceac(
    cost: np.ndarray | pd.DataFrame,
    effect: np.ndarray | pd.DataFrame,
    *,
    wtp: float | Sequence[float] | np.ndarray,
    strategies: Sequence[str] | None = None,
) -> CEACResult:
    """Cost-effectiveness acceptability curve and frontier from PSA draws (draws × strategies).

    Ties in NMB within a draw count for the first strategy (numpy ``argmax``), as dampack.

    Examples
    --------
    >>> c = np.array([[0.0, 10.0], [0.0, 30.0]])
    >>> e = np.array([[0.0, 1.0], [0.0, 1.0]])
    >>> ceac(c, e, wtp=[20.0], strategies=["no", "yes"]).table["probability"].tolist()
    [0.5, 0.5]
    """
    c, names = _as_draws(cost, "ceac: cost")
    e, _ = _as_draws(effect, "ceac: effect")
    if strategies is not None:
        names = [str(s) for s in strategies]
    if c.shape != e.shape or len(names) != c.shape[1]:
        raise ConfigurationError(
            f"ceac: cost {c.shape}, effect {e.shape} and {len(names)} strategy names do not agree."
        )
    rows = []
    for w in _wtp_grid(wtp):
        nmb = w * e - c
        best = np.argmax(nmb, axis=1)
        prob = np.bincount(best, minlength=c.shape[1]) / c.shape[0]
        mean = nmb.mean(axis=0)
        front = int(np.argmax(mean))
        for k, name in enumerate(names):
            rows.append((w, name, prob[k], mean[k], k == front))
    table = pd.DataFrame(rows, columns=["wtp", "strategy", "probability", "expected_nmb", "on_frontier"])
    return CEACResult(table=table, n_draws=c.shape[0])


def evpi(
    cost: np.ndarray | pd.DataFrame,
    effect: np.ndarray | pd.DataFrame,
    *,
    wtp: float | Sequence[float] | np.ndarray,
) -> pd.DataFrame:
    """Per-person expected value of perfect information, ``E[max_k NMB_k] − max_k E[NMB_k]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``wtp`` and ``evpi`` (yen per person; ≥ 0 by construction).

    Examples
    --------
    >>> c = np.array([[0.0, 10.0], [0.0, 30.0]])
    >>> e = np.array([[0.0, 1.0], [0.0, 1.0]])
    >>> evpi(c, e, wtp=20.0)["evpi"].tolist()   # E[max(0, 10), max(0, −10)] − max(0, 0) = 5
    [5.0]
    """
    c, _ = _as_draws(cost, "evpi: cost")
    e, _ = _as_draws(effect, "evpi: effect")
    if c.shape != e.shape:
        raise ConfigurationError(f"evpi: cost {c.shape} and effect {e.shape} differ in shape.")
    grid = _wtp_grid(wtp)
    values = []
    for w in grid:
        nmb = w * e - c
        values.append(float(nmb.max(axis=1).mean() - nmb.mean(axis=0).max()))
    return pd.DataFrame({"wtp": grid, "evpi": np.maximum(values, 0.0)})


def population_evpi(
    evpi_per_person: float | np.ndarray,
    *,
    population_per_year: float,
    horizon_years: int,
    rate: float = 0.02,
) -> float | np.ndarray:
    """Population EVPI: per-person EVPI × persons affected per year × discounted years of use.

    ``EVPI_pop = EVPI · N · Σ_{t=0}^{H−1} (1 + rate)**(−t)`` — the decision is assumed to apply to
    ``N`` new persons each year for ``H`` years (Claxton 1999), the first year undiscounted.

    Examples
    --------
    >>> round(population_evpi(5.0, population_per_year=1000, horizon_years=2, rate=0.0), 6)
    10000.0
    """
    if not (isinstance(horizon_years, (int, np.integer)) and horizon_years >= 1):
        raise ConfigurationError(f"population_evpi: horizon_years must be an integer ≥ 1, got {horizon_years!r}.")
    if not population_per_year >= 0:
        raise ConfigurationError(f"population_evpi: population_per_year must be ≥ 0, got {population_per_year!r}.")
    annuity = float(discount_factors(int(horizon_years), rate=rate, timing="start").sum())
    if np.ndim(evpi_per_person):
        return np.asarray(evpi_per_person, dtype=float) * population_per_year * annuity
    return float(evpi_per_person) * population_per_year * annuity


# ---------------------------------------------------------------------------------------------
# One-way deterministic sensitivity analysis
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DSAResult:
    """One-way deterministic sensitivity analysis.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per parameter × outcome: ``parameter``, ``outcome``, ``base_value``, ``low_value``,
        ``high_value`` (the parameter's settings, any type: numbers, ``"month"``, ``"mid"`` …),
        ``base``, ``outcome_low``, ``outcome_high`` and ``swing`` = |high − low|, sorted by
        decreasing swing within each outcome.
    """

    table: pd.DataFrame

    def tidy(self) -> pd.DataFrame:
        t = self.table
        out = pd.DataFrame(
            {
                "term": [f"{p}:{o}" for p, o in zip(t["parameter"], t["outcome"], strict=True)],
                "estimate": t["base"].to_numpy(),
                "std_error": np.nan,
                "conf_low": np.minimum(t["outcome_low"], t["outcome_high"]).to_numpy(),
                "conf_high": np.maximum(t["outcome_low"], t["outcome_high"]).to_numpy(),
                "p_value": np.nan,
                "n": 1,
            }
        )
        for col in t.columns:
            out[col] = t[col].to_numpy()
        return out

    def summary(self) -> str:
        lines = ["One-way sensitivity analysis (sorted by swing)"]
        for outcome, g in self.table.groupby("outcome", sort=False):
            lines.append(f"Outcome {outcome}: base {g['base'].iloc[0]:,.4g}")
            for _, r in g.iterrows():
                lines.append(
                    f"  {r['parameter']:<28} {r['low_value']!s:>10} → {r['outcome_low']:>14,.4g}   "
                    f"{r['high_value']!s:>10} → {r['outcome_high']:>14,.4g}   swing {r['swing']:,.4g}"
                )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        return "<pre>" + escape(self.summary()) + "</pre>"

    def tornado(self, *, outcome: str | None = None, title: str | None = None):
        """Tornado plot of one outcome; see :func:`tornado_plot`."""
        return tornado_plot(self, outcome=outcome, title=title)


def _outcomes(value: Any) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, pd.Series):
        return {str(k): float(v) for k, v in value.items()}
    return {"outcome": float(value)}


def one_way_dsa(
    model: Callable[[dict[str, Any]], float | Mapping[str, float]],
    base: Mapping[str, Any],
    ranges: Mapping[str, tuple[Any, Any]] | pd.DataFrame,
) -> DSAResult:
    """Run ``model`` at the base case and with each parameter at its low and high setting.

    Parameters
    ----------
    model : callable
        ``model(params) -> float`` or a mapping of named outcomes; ``params`` is a fresh dict
        (the base with one value replaced), so the model may not rely on identity.
    base : mapping
        Base-case parameters.
    ranges : mapping name -> (low, high), or DataFrame with columns ``parameter``, ``low``, ``high``
        Settings may be non-numeric (e.g. ``cycle: ("year", "month")``, ``timing: ("start", "end")``).

    Returns
    -------
    DSAResult

    Examples
    --------
    >>> res = one_way_dsa(lambda p: p["a"] * 10 + p["b"], {"a": 1.0, "b": 0.0},
    ...                   {"a": (0.5, 2.0), "b": (-1.0, 1.0)})
    >>> res.table[["parameter", "outcome_low", "outcome_high", "swing"]].to_string(index=False)
    'parameter  outcome_low  outcome_high  swing\\n        a          5.0          20.0   15.0\\n        b          9.0          11.0    2.0'
    """
    if isinstance(ranges, pd.DataFrame):
        missing = {"parameter", "low", "high"} - set(ranges.columns)
        if missing:
            raise ConfigurationError(f"one_way_dsa: ranges is missing columns {sorted(missing)}.")
        items = [(str(r.parameter), (r.low, r.high)) for r in ranges.itertuples(index=False)]
    else:
        items = [(str(k), tuple(v)) for k, v in ranges.items()]
    unknown = [name for name, _ in items if name not in base]
    if unknown:
        raise ConfigurationError(
            f"one_way_dsa: parameters {unknown} are not in base (known: {sorted(base)})."
        )
    for name, lh in items:
        if len(lh) != 2:
            raise ConfigurationError(f"one_way_dsa: ranges[{name!r}] must be (low, high), got {lh!r}.")
    base_out = _outcomes(model(dict(base)))
    rows = []
    for name, (low, high) in items:
        out_low = _outcomes(model({**base, name: low}))
        out_high = _outcomes(model({**base, name: high}))
        for outcome, b in base_out.items():
            lo, hi = out_low[outcome], out_high[outcome]
            rows.append((name, outcome, base[name], low, high, b, lo, hi, abs(hi - lo)))
    table = pd.DataFrame(
        rows,
        columns=["parameter", "outcome", "base_value", "low_value", "high_value", "base", "outcome_low",
                 "outcome_high", "swing"],
    )
    order = {o: i for i, o in enumerate(base_out)}
    table = table.assign(_o=table["outcome"].map(order)).sort_values(
        ["_o", "swing"], ascending=[True, False], kind="stable"
    ).drop(columns="_o").reset_index(drop=True)
    return DSAResult(table=table)


# ---------------------------------------------------------------------------------------------
# Adapter to a projection
# ---------------------------------------------------------------------------------------------

_TOTALS = (
    ("alive", "life_years", True),
    ("without_care2plus", "years_without_care2plus", True),
    ("ltc_cost", "ltc_cost", False),
    ("medical_cost", "medical_cost", False),
)
_TOTAL_COLUMNS = (*(name for _, name, _ in _TOTALS), "total_cost", "averted_cost")


def projection_totals(
    projection: Any,
    *,
    method: Correction = "half-cycle",
    rate: float | None = None,
    arms: Sequence[str] = ("control", "intervention"),
) -> pd.DataFrame:
    """Discounted totals over the horizon per arm, and their difference, from a projection.

    Works with any object that has ``dt`` (cycle length in years) and ``snapshot_arrays()``
    returning ``(arms, T + 1)`` arrays ``alive``, ``without_care2plus`` (persons) and ``ltc_cost``,
    ``medical_cost`` (yen per cycle of the persons at the snapshot), such as
    :class:`wellness_research.microsim.Projection`. Totals are :func:`integrate` of each array
    (person-years = persons × ``dt``), so every within-cycle correction, Simpson's included,
    applies to a projection without re-running it.

    Parameters
    ----------
    projection : Projection-like
    method : {"start", "end", "half-cycle", "simpson"}, default "half-cycle"
    rate : float, optional
        Annual discount rate; default the projection's ``discount_rate`` (else 0.02).
    arms : sequence of str
        Names of the arms in the order of the arrays' first axis.

    Returns
    -------
    pandas.DataFrame
        Index ``arms`` plus ``"difference"`` (last arm − first arm); columns ``life_years``,
        ``years_without_care2plus``, ``ltc_cost``, ``medical_cost``, ``total_cost``
        (``ltc_cost + medical_cost``) and ``averted_cost`` (−difference of ``total_cost``, on the
        ``"difference"`` row; NaN elsewhere).

    Examples
    --------
    >>> import pandas as pd
    >>> from wellness_research.microsim import project
    >>> pop = pd.DataFrame({"age": [80], "sex": ["F"], "state": ["independent"]})
    >>> pr = project(pop, effect=1.0, years=2, cycle="year", engine="cohort")
    >>> float(projection_totals(pr, method="simpson").loc["difference", "averted_cost"])
    0.0
    """
    snap = projection.snapshot_arrays()
    dt = float(projection.dt)
    if rate is None:
        rate = float(getattr(projection, "discount_rate", 0.02))
    # np.isclose's tolerances (rtol 1e-5, atol 1e-8) written out: np.isclose costs ~30 µs per call
    cycle: Cycle = "year" if abs(dt - 1.0) <= 1e-8 + 1e-5 else "month"
    if not abs(dt - cycle_length_years(cycle)) <= 1e-8 + 1e-5 * cycle_length_years(cycle):
        raise ConfigurationError(f"projection_totals: cycle length {dt!r} years is neither a year nor a month.")
    arms = list(arms)
    # one (arms + 1, 6) array, built in numpy and wrapped once (a PSA calls this at every draw)
    table = np.full((len(arms) + 1, len(_TOTAL_COLUMNS)), np.nan)
    for j, (key, _, person_time) in enumerate(_TOTALS):
        arr = np.asarray(snap[key], dtype=float) * (dt if person_time else 1.0)
        if arr.ndim != 2 or arr.shape[0] != len(arms):
            raise ConfigurationError(
                f"projection_totals: snapshot array {key!r} must have shape ({len(arms)} arms, T + 1), got {arr.shape}."
            )
        table[:-1, j] = integrate(arr, method=method, rate=rate, cycle=cycle, axis=1)
    table[:-1, 4] = table[:-1, 2] + table[:-1, 3]  # total_cost = ltc_cost + medical_cost
    table[-1, :5] = table[-2, :5] - table[0, :5]  # difference: last arm - first arm
    table[-1, 5] = 0.0 - table[-1, 4]  # averted_cost (no negative zero)
    index = pd.Index([*arms, "difference"], name="arm")
    return pd.DataFrame(table, index=index, columns=list(_TOTAL_COLUMNS))


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def ce_plane_plot(
    inc_cost: np.ndarray | pd.DataFrame,
    inc_effect: np.ndarray | pd.DataFrame,
    *,
    wtp: float | None = None,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    cost_label: str = "増分費用 (incremental cost, ¥)",
    effect_label: str = "増分効果 (incremental effect)",
):
    """Cost-effectiveness plane: incremental cost against incremental effect, one point per draw.

    Parameters
    ----------
    inc_cost, inc_effect : array (draws,) or (draws, strategies)
        Differences against the comparator, per draw.
    wtp : float, optional
        Draw the willingness-to-pay line ``cost = wtp · effect``.
    labels : sequence of str, optional
        One per column.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..reporting.plots import japanese_font

    c, names = _as_draws(inc_cost, "ce_plane_plot: inc_cost")
    e, _ = _as_draws(inc_effect, "ce_plane_plot: inc_effect")
    if c.shape != e.shape:
        raise ConfigurationError(f"ce_plane_plot: inc_cost {c.shape} and inc_effect {e.shape} differ in shape.")
    names = list(labels) if labels is not None else names
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    for k in range(c.shape[1]):
        ax.scatter(e[:, k], c[:, k], s=8, alpha=0.4, label=names[k])
        ax.scatter([e[:, k].mean()], [c[:, k].mean()], marker="X", s=80, color="black", zorder=4)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axvline(0, color="0.3", lw=0.8)
    if wtp is not None:
        xs = np.array(ax.get_xlim())
        ax.plot(xs, wtp * xs, ls="--", color="0.4", lw=1.0, label=f"WTP {wtp:,.0f}")
    ax.set_xlabel(effect_label)
    ax.set_ylabel(cost_label)
    ax.set_title(title if title is not None else "費用効果平面 (cost-effectiveness plane)")
    if c.shape[1] > 1 or wtp is not None:
        ax.legend(fontsize="small")
    japanese_font(fig)
    fig.tight_layout()
    return fig


def ceac_plot(result: CEACResult, *, title: str | None = None):
    """Acceptability curves (one line per strategy); the frontier strategy's segments drawn thick."""
    import matplotlib.pyplot as plt

    from ..reporting.plots import japanese_font

    if not isinstance(result, CEACResult):
        raise ConfigurationError(f"ceac_plot: result must be a CEACResult, got {type(result).__name__}.")
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for name, g in result.table.groupby("strategy", sort=False):
        line = ax.plot(g["wtp"], g["probability"], label=str(name))[0]
        front = g["probability"].where(g["on_frontier"])
        ax.plot(g["wtp"], front, lw=4, alpha=0.4, color=line.get_color())
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("支払意思額 (willingness to pay, ¥ per unit of effect)")
    ax.set_ylabel("費用対効果に優れる確率 (probability cost-effective)")
    ax.set_title(title if title is not None else "費用効果受容曲線 (CEAC; thick = frontier)")
    ax.legend(fontsize="small")
    japanese_font(fig)
    fig.tight_layout()
    return fig


def tornado_plot(result: DSAResult, *, outcome: str | None = None, title: str | None = None):
    """Tornado plot: one bar per parameter from the outcome at its low to its high setting."""
    import matplotlib.pyplot as plt

    from ..reporting.plots import japanese_font

    t = result.table
    outcomes = list(dict.fromkeys(t["outcome"]))
    outcome = outcomes[0] if outcome is None else outcome
    if outcome not in outcomes:
        raise ConfigurationError(f"tornado_plot: outcome must be one of {outcomes}, got {outcome!r}.")
    g = t.loc[t["outcome"] == outcome].iloc[::-1]
    base = float(g["base"].iloc[0])
    y = np.arange(len(g))
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(g) + 1.5))
    ax.barh(y, g["outcome_low"] - base, left=base, color="#4C72B0", label="low")
    ax.barh(y, g["outcome_high"] - base, left=base, color="#C44E52", label="high")
    ax.axvline(base, color="0.2", lw=0.8)
    labels = [f"{p} ({lo!s} / {hi!s})" for p, lo, hi in zip(g["parameter"], g["low_value"], g["high_value"], strict=True)]
    ax.set_yticks(y, labels=labels)
    ax.set_xlabel(str(outcome))
    ax.set_title(title if title is not None else "トルネード図 (one-way sensitivity)")
    ax.legend(fontsize="small")
    japanese_font(fig)
    fig.tight_layout()
    return fig

