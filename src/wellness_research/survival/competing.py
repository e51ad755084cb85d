"""Cumulative incidence with competing risks (Aalen–Johansen), weighted, and the risk difference.

The estimator, with weights :math:`w_i` (matching weights; 1 when unweighted), at the distinct event
times :math:`t_k`: :math:`Y_k = \\sum_i w_i 1\\{T_i \\ge t_k\\}`, :math:`d_{ck}` the weighted number of
events of cause :math:`c` at :math:`t_k`, :math:`\\hat S(t) = \\prod_{t_k \\le t}(1 - d_k / Y_k)` the
all-cause Kaplan–Meier and

.. math:: \\hat F_1(t) = \\sum_{t_k \\le t} \\hat S(t_{k-1})\\, d_{1k} / Y_k .

Tied times of different causes are handled exactly (no jitter). Censoring at :math:`t_k` counts as
at risk at :math:`t_k`.

Variance (``variance=``):

* ``"influence"`` (default): the infinitesimal-jackknife (influence-function) sandwich — the exact
  derivative of :math:`\\hat F_1(t)` with respect to each weight, summed within clusters
  (``cluster``; each row its own cluster when none) and squared. Valid with non-integer (matching)
  weights and for clustered (matched-pair) data.
* ``"delta"``: the Greenwood-type delta-method formula of Marubini & Valsecchi (Collett 2015,
  §12.2; the formula lifelines 0.30.3 ``AalenJohansenFitter`` uses) on the weighted counts; exact
  for unweighted data, not for matching weights.

Confidence intervals (``ci=``): ``"loglog"`` (default; :math:`\\log(-\\log F)` scale, stays in
(0, 1), as lifelines) or ``"linear"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats

from wellness_research.errors import ConfigurationError, DataValidationError

__all__ = [
    "CIMethod",
    "CumulativeIncidenceResult",
    "RiskDifferenceResult",
    "VarianceMethod",
    "cumulative_incidence",
    "risk_difference",
]

VarianceMethod = Literal["influence", "delta"]
CIMethod = Literal["loglog", "linear"]
RDMethod = Literal["analytic", "bootstrap"]
_TIDY_COLUMNS = ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]
_CHUNK = 20_000_000  # floats per block of the influence matrix


def _check_literal(fn: str, value: object, alias: object, name: str) -> None:
    valid = get_args(alias)
    if value not in valid:
        raise ConfigurationError(f"{fn}: {name}={value!r} is not valid; use one of {list(valid)}.")


# --------------------------------------------------------------------------------------------
# the core estimator on arrays
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _AJ:
    times: np.ndarray       # distinct event times t_k
    at_risk: np.ndarray     # Y_k (weighted)
    d1: np.ndarray
    d2: np.ndarray
    cif: np.ndarray         # F_1(t_k)
    s_minus: np.ndarray     # S(t_{k-1})


def _fit(t: np.ndarray, e1: np.ndarray, e2: np.ndarray, w: np.ndarray) -> _AJ:
    ev = (e1 | e2) & (w > 0)
    grid = np.unique(t[ev])
    order = np.argsort(t, kind="stable")
    ts, ws = t[order], w[order]
    # Y_k = total weight with T >= t_k
    tail = np.concatenate([np.cumsum(ws[::-1])[::-1], [0.0]])
    at_risk = tail[np.searchsorted(ts, grid, side="left")]
    pos = np.searchsorted(grid, t)
    d1 = np.bincount(pos[e1 & ev], weights=w[e1 & ev], minlength=len(grid))[: len(grid)]
    d2 = np.bincount(pos[e2 & ev], weights=w[e2 & ev], minlength=len(grid))[: len(grid)]
    with np.errstate(divide="ignore", invalid="ignore"):
        haz = np.where(at_risk > 0, (d1 + d2) / at_risk, 0.0)
        h1 = np.where(at_risk > 0, d1 / at_risk, 0.0)
    s = np.cumprod(1.0 - haz)
    s_minus = np.concatenate([[1.0], s[:-1]])
    cif = np.cumsum(s_minus * h1)
    return _AJ(grid, at_risk, d1, d2, cif, s_minus)


def _delta_var(aj: _AJ) -> np.ndarray:
    """Greenwood-type delta-method variance at every t_k (Collett 2015 §12.2; lifelines' formula)."""
    y, d1, d = aj.at_risk, aj.d1, aj.d1 + aj.d2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(y > d, d / (y * (y - d)), 0.0)
        b = np.where(y > 0, aj.s_minus ** 2 * d1 * (y - d1) / y ** 3, 0.0)
        c = np.where(y > 0, aj.s_minus * d1 / y ** 2, 0.0)
    f = aj.cif
    # sum_k a_k (F_m - F_k)^2 = F_m^2 A0 - 2 F_m A1 + A2 ; sum_k c_k (F_m - F_k) = F_m C0 - C1
    a0, a1, a2 = np.cumsum(a), np.cumsum(a * f), np.cumsum(a * f * f)
    c0, c1 = np.cumsum(c), np.cumsum(c * f)
    v = f * f * a0 - 2 * f * a1 + a2 + np.cumsum(b) - 2 * (f * c0 - c1)
    return np.maximum(v, 0.0)


def _influence(aj: _AJ, t: np.ndarray, e1: np.ndarray, e2: np.ndarray, m: np.ndarray) -> np.ndarray:
    """dF_1(t_m)/dw_i for every row i (rows) and grid index m (columns); m = -1 gives 0."""
    y = aj.at_risk
    haz1 = np.where(y > 0, aj.d1 / np.where(y > 0, y, 1), 0.0)
    haz = np.where(y > 0, (aj.d1 + aj.d2) / np.where(y > 0, y, 1), 0.0)
    surv = 1.0 - haz
    cdiv = np.where((y > 0) & (surv > 0), 1.0 / np.where((y > 0) & (surv > 0), y * surv, 1), 0.0)
    yinv = np.where(y > 0, 1.0 / np.where(y > 0, y, 1), 0.0)
    f = aj.cif
    c1 = np.cumsum(aj.s_minus * haz1 * yinv)
    c2 = np.cumsum(haz * cdiv)
    c3 = np.cumsum(f * haz * cdiv)
    last = np.searchsorted(aj.times, t, side="right") - 1  # last grid index with t_k <= T_i
    k_ev = np.searchsorted(aj.times, t)                      # grid index of the row's own event time
    out = np.zeros((len(t), len(m)))
    for j, mm in enumerate(m):
        if mm < 0:
            continue
        fm = f[mm]
        r = np.minimum(last, mm)
        ok = r >= 0
        rr = np.where(ok, r, 0)
        comp = np.where(ok, c1[rr] - fm * c2[rr] + c3[rr], 0.0)
        kk = np.minimum(k_ev, len(f) - 1)
        inside = (k_ev <= mm) & (e1 | e2)
        tail = (fm - f[kk]) * cdiv[kk] * y[kk]  # (F_m - F_k) / (1 - dΛ_k)
        jump = np.where(inside & e1, (aj.s_minus[kk] - tail) * yinv[kk],
                        np.where(inside & e2, -tail * yinv[kk], 0.0))
        out[:, j] = jump - comp
    return out


def _cluster_var(u: np.ndarray, w: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    wu = u * w[:, None]
    if cluster is None:
        return (wu ** 2).sum(axis=0)
    _, inv = np.unique(cluster, return_inverse=True)
    sums = np.zeros((inv.max() + 1, u.shape[1]))
    np.add.at(sums, inv, wu)
    return (sums ** 2).sum(axis=0)


def _ci(est: np.ndarray, se: np.ndarray, z: float, ci: str) -> tuple[np.ndarray, np.ndarray]:
    if ci == "linear":
        return np.clip(est - z * se, 0, 1), np.clip(est + z * se, 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tr = np.log(-np.log(est))
        se_tr = se / (est * np.abs(np.log(est)))
        lo = np.exp(-np.exp(tr + z * se_tr))
        hi = np.exp(-np.exp(tr - z * se_tr))
    degenerate = (est <= 0) | (est >= 1)
    return np.where(degenerate, est, lo), np.where(degenerate, est, hi)


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Input:
    t: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    w: np.ndarray
    g: np.ndarray | None
    cluster: np.ndarray | None
    n_dropped_weight: int


def _prepare(fn: str, data: Any, time: str, event: str, group: str | None, weights: str | None,
             cluster: str | None, event_of_interest: int, competing: Sequence[int]) -> _Input:
    from wellness_research.matching.result import MatchResult

    w_arr: np.ndarray | None = None
    c_arr: np.ndarray | None = None
    if isinstance(data, MatchResult):
        frame = data.data
        w_arr = np.asarray(data.weights, dtype=float)
        sub = np.asarray(data.subclass, dtype=np.int64)
        # a row in no single set (a control reused across sets) is its own cluster
        c_arr = np.where(sub >= 0, sub, -1 - np.arange(len(sub)))
    elif isinstance(data, pd.DataFrame):
        frame = data
    else:
        raise ConfigurationError(f"{fn}: data must be a pandas DataFrame or a MatchResult; got {type(data).__name__}.")
    cols = [c for c in (time, event, group, weights, cluster) if c is not None]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{fn}: column(s) {missing} not in data ({len(frame)} rows; "
                                  f"columns: {list(frame.columns)[:12]}...).")
    t = pd.to_numeric(frame[time], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(f"{fn}: column {time!r} must be finite and >= 0; {int(bad.sum())} of {len(t)} rows "
                                  f"are not (first at row {i}: {frame[time].iloc[i]!r}).")
    ev = pd.to_numeric(frame[event], errors="coerce").to_numpy(dtype=float)
    codes = {0, int(event_of_interest), *(int(c) for c in competing)}
    if int(event_of_interest) in set(int(c) for c in competing) or int(event_of_interest) == 0:
        raise ConfigurationError(f"{fn}: event_of_interest={event_of_interest!r} must be non-zero and not in "
                                 f"competing={tuple(competing)!r}.")
    bad = ~np.isin(ev, list(codes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(f"{fn}: column {event!r} must hold 0 (censored), {event_of_interest} (event of "
                                  f"interest) or {sorted(set(competing))} (competing); {int(bad.sum())} rows do not "
                                  f"(first at row {i}: {frame[event].iloc[i]!r}).")
    e1 = ev == event_of_interest
    e2 = np.isin(ev, list(competing))
    if weights is not None:
        w_arr = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=float)
    if w_arr is None:
        w_arr = np.ones(len(t))
    bad = ~np.isfinite(w_arr) | (w_arr < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(f"{fn}: weights must be finite and >= 0; {int(bad.sum())} rows are not "
                                  f"(first at row {i}: {w_arr[i]!r}).")
    if cluster is not None:
        c_arr = frame[cluster].to_numpy()
        if pd.isna(c_arr).any():
            raise DataValidationError(f"{fn}: column {cluster!r} has {int(pd.isna(c_arr).sum())} missing values.")
    g = None
    if group is not None:
        g = frame[group].to_numpy()
        if pd.isna(g).any():
            raise DataValidationError(f"{fn}: column {group!r} has {int(pd.isna(g).sum())} missing values.")
    keep = w_arr > 0
    n_zero = int((~keep).sum())
    return _Input(t[keep], e1[keep], e2[keep], w_arr[keep], None if g is None else g[keep],
                  None if c_arr is None else c_arr[keep], n_zero)


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class CumulativeIncidenceResult:
    """Aalen–Johansen cumulative incidence by group.

    Attributes
    ----------
    table : pandas.DataFrame
        The curve: ``group``, ``time`` (each distinct event time, plus 0), ``estimate``,
        ``std_error``, ``conf_low``, ``conf_high``, ``at_risk``, ``events``, ``competing`` (weighted).
    at : pandas.DataFrame
        The same columns at the requested ``times`` (step function, right-continuous), plus ``n``.
    event_of_interest : int
    competing : tuple of int
    variance : {"influence", "delta"}
    ci : {"loglog", "linear"}
    alpha : float
    n : dict
        Rows with positive weight per group.
    weighted, clustered : bool
    n_zero_weight : int
        Rows dropped because their weight is 0 (e.g. unmatched units); never silent.
    """

    table: pd.DataFrame = field(repr=False)
    at: pd.DataFrame = field(repr=False)
    event_of_interest: int
    competing: tuple[int, ...]
    variance: str
    ci: str
    alpha: float
    n: dict[Any, int]
    weighted: bool
    clustered: bool
    n_zero_weight: int
    _input: _Input = field(repr=False)

    def tidy(self) -> pd.DataFrame:
        """One row per group and requested time: term ``"CIF[group] at t"``, estimate … n."""
        a = self.at
        z = a["estimate"] / a["std_error"].where(a["std_error"] > 0)
        return pd.DataFrame({
            "term": [f"CIF[{g}] at {t:g}" for g, t in zip(a["group"], a["time"], strict=True)],
            "estimate": a["estimate"], "std_error": a["std_error"], "conf_low": a["conf_low"],
            "conf_high": a["conf_high"], "p_value": 2 * stats.norm.sf(np.abs(z)), "n": a["n"],
            "group": a["group"], "time": a["time"],
        }).reset_index(drop=True)

    def summary(self) -> str:
        """Plain-text table of the cumulative incidence at the requested times."""
        level = f"{100 * (1 - self.alpha):g}%"
        lines = [f"Cumulative incidence of event {self.event_of_interest} (competing: {list(self.competing)}); "
                 f"Aalen–Johansen{', weighted' if self.weighted else ''}; variance: {self.variance}"
                 f"{' (clustered)' if self.clustered else ''}; {level} CI on the {self.ci} scale"]
        for r in self.at.itertuples(index=False):
            lines.append(f"  group {r.group!s:>8}  t = {r.time:<6g} CIF {r.estimate:.4f}  SE {r.std_error:.4f}  "
                         f"[{r.conf_low:.4f}, {r.conf_high:.4f}]  n = {r.n}")
        if self.n_zero_weight:
            lines.append(f"  note: {self.n_zero_weight} rows with weight 0 not used")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4f}")

    def plot(self, ax: Any = None, *, ci: bool = True, labels: dict[Any, str] | None = None) -> Any:
        """Step curves of the cumulative incidence by group, with pointwise confidence bands."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        for g, part in self.table.groupby("group", sort=True, observed=True):
            lab = (labels or {}).get(g, str(g))
            line = ax.step(part["time"], part["estimate"], where="post", label=lab)[0]
            if ci:
                ax.fill_between(part["time"], part["conf_low"], part["conf_high"], step="post", alpha=0.2,
                                color=line.get_color(), linewidth=0)
        ax.set_xlabel("time")
        ax.set_ylabel(f"cumulative incidence of event {self.event_of_interest}")
        ax.set_ylim(bottom=0)
        ax.legend(title="group")
        return ax


@dataclass(frozen=True, eq=False)
class RiskDifferenceResult:
    """Difference of cumulative incidences at one time (group ``treated`` minus group ``control``).

    Attributes
    ----------
    estimate, std_error, conf_low, conf_high, p_value : float
    risk_treated, risk_control : float
    at : float
    treated, control : object
        The group labels compared.
    n_treated, n_control : int
    method : str
        ``"analytic (influence, clustered)"``, ``"analytic (delta)"``, ``"bootstrap"`` ….
    n_clusters, n_bootstrap : int or None
    alpha : float
    notes : tuple of str
    """

    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    p_value: float
    risk_treated: float
    risk_control: float
    at: float
    treated: Any
    control: Any
    n_treated: int
    n_control: int
    method: str
    n_clusters: int | None = None
    n_bootstrap: int | None = None
    alpha: float = 0.05
    notes: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row: ``risk difference at t``, plus columns risk_treated, risk_control, at."""
        return pd.DataFrame([[f"risk difference at {self.at:g}", self.estimate, self.std_error, self.conf_low,
                              self.conf_high, self.p_value, self.n_treated + self.n_control,
                              self.risk_treated, self.risk_control, self.at]],
                            columns=[*_TIDY_COLUMNS, "risk_treated", "risk_control", "at"])

    def summary(self) -> str:
        """Plain-text summary."""
        level = f"{100 * (1 - self.alpha):g}%"
        lines = [f"Risk difference at {self.at:g} ({self.treated} minus {self.control})",
                 f"  estimate   {self.estimate: .4f}   (risks {self.risk_treated:.4f} vs {self.risk_control:.4f})",
                 f"  std.error  {self.std_error: .4f}   [{self.method}]",
                 f"  {level} CI     [{self.conf_low:.4f}, {self.conf_high:.4f}]   p = {self.p_value:.4g}",
                 f"  n: {self.n_treated} treated, {self.n_control} control"
                 + (f"; {self.n_clusters} clusters" if self.n_clusters is not None else "")
                 + (f"; {self.n_bootstrap} bootstrap replicates" if self.n_bootstrap is not None else "")]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4f}")


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------
def _group_fit(inp: _Input, sel: np.ndarray, times: np.ndarray, variance: str, z: float, ci: str):
    t, e1, e2, w = inp.t[sel], inp.e1[sel], inp.e2[sel], inp.w[sel]
    cl = None if inp.cluster is None else inp.cluster[sel]
    aj = _fit(t, e1, e2, w)
    if variance == "delta":
        var_grid = _delta_var(aj)
    else:
        var_grid = np.zeros(len(aj.times))
        step = max(1, _CHUNK // max(len(t), 1))
        for s in range(0, len(aj.times), step):
            m = np.arange(s, min(s + step, len(aj.times)))
            var_grid[m] = _cluster_var(_influence(aj, t, e1, e2, m), w, cl)
    se_grid = np.sqrt(var_grid)
    lo, hi = _ci(aj.cif, se_grid, z, ci)
    table = pd.DataFrame({"time": np.concatenate([[0.0], aj.times]),
                          "estimate": np.concatenate([[0.0], aj.cif]),
                          "std_error": np.concatenate([[0.0], se_grid]),
                          "conf_low": np.concatenate([[0.0], lo]), "conf_high": np.concatenate([[0.0], hi]),
                          "at_risk": np.concatenate([[w.sum()], aj.at_risk]),
                          "events": np.concatenate([[0.0], aj.d1]), "competing": np.concatenate([[0.0], aj.d2])})
    idx = np.searchsorted(table["time"].to_numpy(), times, side="right") - 1
    at = table.iloc[np.maximum(idx, 0)][["estimate", "std_error", "conf_low", "conf_high"]].reset_index(drop=True)
    at.insert(0, "time", times)
    at["n"] = int(sel.sum())
    return table, at, aj


def cumulative_incidence(
    data: Any,
    *,
    time: str,
    event: str,
    group: str | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    event_of_interest: int = 1,
    competing: Sequence[int] = (2,),
    times: Sequence[float] | None = None,
    variance: VarianceMethod = "influence",
    ci: CIMethod = "loglog",
    alpha: float = 0.05,
) -> CumulativeIncidenceResult:
    """Aalen–Johansen cumulative incidence of one event in the presence of competing events.

    Parameters
    ----------
    data : pandas.DataFrame or MatchResult
        One row per person. A :class:`~wellness_research.matching.MatchResult` brings its matching
        weights and its matched sets as clusters (a control reused across sets is its own cluster).
    time, event : str
        Follow-up time (>= 0) and event code: 0 censored, ``event_of_interest``, or one of ``competing``.
    group : str, optional
        Curves by this column's values.
    weights : str, optional
        Non-negative weights (e.g. matching weights); rows with weight 0 are not used (counted in
        ``n_zero_weight``).
    cluster : str, optional
        Cluster ids (matched set) for the influence-function variance.
    event_of_interest : int, default 1
    competing : sequence of int, default (2,)
    times : sequence of float, optional
        Times reported in ``at`` / ``tidy()``; default the largest event time.
    variance : {"influence", "delta"}, default "influence"
        See the module docstring.
    ci : {"loglog", "linear"}, default "loglog"
    alpha : float, default 0.05

    Returns
    -------
    CumulativeIncidenceResult

    Raises
    ------
    DataValidationError
        Missing columns, negative or missing times, unknown event codes, invalid weights.
    ConfigurationError
        Invalid options (the message names the parameter).

    References
    ----------
    Aalen OO, Johansen S (1978). An empirical transition matrix for non-homogeneous Markov chains
    based on censored observations. *Scand J Stat* 5:141–150.
    Marubini E, Valsecchi MG (1995). *Analysing Survival Data from Clinical Trials and Observational
    Studies*, Wiley, eq. 10.11 (the delta-method variance); Collett D (2015). *Modelling Survival
    Data in Medical Research*, 3rd ed., §12.2.
    Austin PC, Fine JP (2019). Propensity-score matching with competing risks in survival analysis.
    *Stat Med* 38(5):751–777 (weighted cumulative incidence in matched samples).

    Examples
    --------
    Four persons: a certification at 1, a death at 2, censored at 3, a certification at 4.

    >>> import pandas as pd
    >>> from wellness_research.survival import cumulative_incidence
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 2, 0, 1]})
    >>> r = cumulative_incidence(d, time="t", event="e", times=[1, 4])
    >>> r.at["estimate"].round(4).tolist()     # 1/4, then 1/4 + (1/2)(1/1)
    [0.25, 0.75]
    """
    fn = "cumulative_incidence"
    _check_literal(fn, variance, VarianceMethod, "variance")
    _check_literal(fn, ci, CIMethod, "ci")
    if not 0 < alpha < 1:
        raise ConfigurationError(f"{fn}: alpha={alpha!r} is not valid; use a number in (0, 1).")
    inp = _prepare(fn, data, time, event, group, weights, cluster, event_of_interest, competing)
    if len(inp.t) == 0:
        raise DataValidationError(f"{fn}: no rows with positive weight.")
    z = float(stats.norm.ppf(1 - alpha / 2))
    groups = [None] if inp.g is None else list(pd.unique(inp.g))
    try:
        groups = sorted(groups) if inp.g is not None else groups
    except TypeError:
        pass
    tms = np.asarray([inp.t[inp.e1 | inp.e2].max(initial=0.0)] if times is None else list(times), dtype=float)
    tables, ats, n = [], [], {}
    for g in groups:
        sel = np.ones(len(inp.t), bool) if g is None else (inp.g == g)
        table, at, _ = _group_fit(inp, sel, tms, variance, z, ci)
        label = "all" if g is None else g
        table.insert(0, "group", label)
        at.insert(0, "group", label)
        tables.append(table)
        ats.append(at)
        n[label] = int(sel.sum())
    return CumulativeIncidenceResult(
        table=pd.concat(tables, ignore_index=True), at=pd.concat(ats, ignore_index=True),
        event_of_interest=int(event_of_interest), competing=tuple(int(c) for c in competing), variance=variance,
        ci=ci, alpha=alpha, n=n, weighted=bool(weights is not None or not np.all(inp.w == 1)),
        clustered=inp.cluster is not None, n_zero_weight=inp.n_dropped_weight, _input=inp)


def _rd_point(inp: _Input, rows_t: np.ndarray, rows_c: np.ndarray, at: float) -> float:
    out = []
    for rows in (rows_t, rows_c):
        aj = _fit(inp.t[rows], inp.e1[rows], inp.e2[rows], inp.w[rows])
        k = np.searchsorted(aj.times, at, side="right") - 1
        out.append(aj.cif[k] if k >= 0 else 0.0)
    return float(out[0] - out[1])


def risk_difference(
    data: Any,
    *,
    at: float = 36,
    time: str | None = None,
    event: str | None = None,
    group: str | None = None,
    treated: Any = 1,
    control: Any = 0,
    weights: str | None = None,
    cluster: str | None = None,
    event_of_interest: int = 1,
    competing: Sequence[int] = (2,),
    method: RDMethod = "analytic",
    variance: VarianceMethod = "influence",
    n_bootstrap: int = 999,
    seed: int | np.random.Generator | None = None,
    alpha: float = 0.05,
) -> RiskDifferenceResult:
    """Difference of the cumulative incidences of two groups at time ``at``, with a confidence interval.

    Parameters
    ----------
    data : CumulativeIncidenceResult, pandas.DataFrame or MatchResult
        A result of :func:`cumulative_incidence` (fitted with ``group``), or data as there (then
        ``time``, ``event`` and ``group`` are required).
    at : float, default 36
        Time of the comparison (36 months: the 3-year risk difference).
    treated, control : default 1, 0
        The group values compared (``treated`` minus ``control``).
    method : {"analytic", "bootstrap"}, default "analytic"
        ``"analytic"``: normal interval with the influence-function SE (clustered on ``cluster`` or
        the matched sets: the covariance of treated and control within a pair is included) or, with
        ``variance="delta"``, the two groups' delta-method variances added (independent groups).
        ``"bootstrap"``: clusters (matched sets; rows when none) resampled with replacement
        ``n_bootstrap`` times; SE = SD of the replicates, percentile interval.
    n_bootstrap : int, default 999
    seed : int, numpy.random.Generator or None
        For the bootstrap.
    Other parameters are as in :func:`cumulative_incidence`.

    Returns
    -------
    RiskDifferenceResult

    References
    ----------
    Austin PC, Fine JP (2019). *Stat Med* 38(5):751–777 (matched-pair bootstrap for cumulative
    incidence differences). Efron B, Tibshirani RJ (1993). *An Introduction to the Bootstrap*, ch. 13.

    Examples
    --------
    >>> import pandas as pd
    >>> from wellness_research.survival import risk_difference
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 1, 2, 3, 4], "e": [1, 2, 0, 1, 0, 0, 1, 2],
    ...                   "g": [1, 1, 1, 1, 0, 0, 0, 0]})
    >>> rd = risk_difference(d, time="t", event="e", group="g", at=4)
    >>> round(rd.risk_treated, 4), round(rd.risk_control, 4), round(rd.estimate, 4)
    (0.75, 0.5, 0.25)
    """
    fn = "risk_difference"
    _check_literal(fn, method, RDMethod, "method")
    _check_literal(fn, variance, VarianceMethod, "variance")
    if not 0 < alpha < 1:
        raise ConfigurationError(f"{fn}: alpha={alpha!r} is not valid; use a number in (0, 1).")
    if isinstance(data, CumulativeIncidenceResult):
        inp = data._input
        event_of_interest, competing = data.event_of_interest, data.competing
    else:
        if time is None or event is None or group is None:
            raise ConfigurationError(f"{fn}: with data, time=, event= and group= are required "
                                     f"(got time={time!r}, event={event!r}, group={group!r}).")
        inp = _prepare(fn, data, time, event, group, weights, cluster, event_of_interest, competing)
    if inp.g is None:
        raise ConfigurationError(f"{fn}: the result has no groups; fit cumulative_incidence with group=.")
    rows_t, rows_c = inp.g == treated, inp.g == control
    for lab, rows, name in ((treated, rows_t, "treated"), (control, rows_c, "control")):
        if not rows.any():
            raise DataValidationError(f"{fn}: no rows with positive weight in group {name}={lab!r} "
                                      f"(groups present: {sorted(map(str, pd.unique(inp.g)))}).")
    z = float(stats.norm.ppf(1 - alpha / 2))
    est = _rd_point(inp, rows_t, rows_c, at)
    risks = []
    for rows in (rows_t, rows_c):
        aj = _fit(inp.t[rows], inp.e1[rows], inp.e2[rows], inp.w[rows])
        k = np.searchsorted(aj.times, at, side="right") - 1
        risks.append((aj, k, float(aj.cif[k]) if k >= 0 else 0.0))
    notes: list[str] = []
    n_clusters = None if inp.cluster is None else int(len(np.unique(inp.cluster)))
    n_boot = None
    if method == "analytic" and variance == "delta":
        var = sum(float(_delta_var(aj)[k]) if k >= 0 else 0.0 for aj, k, _ in risks)
        se = float(np.sqrt(var))
        lo, hi = est - z * se, est + z * se
        label = "analytic (delta, independent groups)"
        if inp.cluster is not None:
            notes.append("delta variance ignores the clusters; use variance='influence' for matched data")
    elif method == "analytic":
        u = np.zeros(len(inp.t))
        for sign, rows, (aj, k, _) in ((1.0, rows_t, risks[0]), (-1.0, rows_c, risks[1])):
            if k >= 0:
                u[rows] = sign * _influence(aj, inp.t[rows], inp.e1[rows], inp.e2[rows], np.array([k]))[:, 0]
        se = float(np.sqrt(_cluster_var(u[:, None], inp.w, inp.cluster)[0]))
        lo, hi = est - z * se, est + z * se
        label = "analytic (influence" + (", clustered)" if inp.cluster is not None else ")")
    else:
        if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 2:
            raise ConfigurationError(f"{fn}: n_bootstrap={n_bootstrap!r} is not valid; use an integer >= 2.")
        rng = np.random.default_rng(seed)
        cl = inp.cluster if inp.cluster is not None else np.arange(len(inp.t))
        _, inv = np.unique(cl, return_inverse=True)
        n_cl = int(inv.max() + 1)
        members = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[members], np.arange(n_cl + 1))
        sizes_cl = np.diff(bounds)
        reps = np.empty(int(n_bootstrap))
        for b in range(int(n_bootstrap)):
            draw = rng.integers(0, n_cl, n_cl)
            # the drawn clusters' rows, concatenated in draw order, without a Python loop over clusters:
            # output position i of drawn cluster j reads members[bounds[draw[j]] + (i - rows before j)]
            sizes = sizes_cl[draw]
            shift = np.repeat(bounds[draw] - (np.cumsum(sizes) - sizes), sizes)
            rows = members[np.arange(int(sizes.sum())) + shift]
            g = inp.g[rows]
            sub = _Input(inp.t[rows], inp.e1[rows], inp.e2[rows], inp.w[rows], g, None, 0)
            bt, bc = g == treated, g == control
            reps[b] = _rd_point(sub, bt, bc, at) if bt.any() and bc.any() else np.nan
        if np.isnan(reps).any():
            notes.append(f"{int(np.isnan(reps).sum())} bootstrap replicates lacked a group and were not used")
            reps = reps[~np.isnan(reps)]
        se = float(np.std(reps, ddof=1))
        lo, hi = (float(v) for v in np.quantile(reps, [alpha / 2, 1 - alpha / 2]))
        label = "bootstrap (clusters)" if inp.cluster is not None else "bootstrap (rows)"
        n_boot = int(n_bootstrap)
        n_clusters = n_cl
    p = float(2 * stats.norm.sf(abs(est / se))) if se > 0 else float("nan")
    return RiskDifferenceResult(
        estimate=est, std_error=se, conf_low=float(lo), conf_high=float(hi), p_value=p,
        risk_treated=risks[0][2], risk_control=risks[1][2], at=float(at), treated=treated, control=control,
        n_treated=int(rows_t.sum()), n_control=int(rows_c.sum()), method=label, n_clusters=n_clusters,
        n_bootstrap=n_boot, alpha=alpha, notes=tuple(notes))
