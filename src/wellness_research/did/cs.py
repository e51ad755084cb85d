"""Callaway & Sant'Anna (2021) group-time average treatment effects on panel data.

``att_gt`` estimates every ATT(g, t) -- the average effect in period ``t`` on the units first
treated in period ``g`` -- from two-period comparisons with never-treated or not-yet-treated units,
by outcome regression, standardised IPW or the doubly robust estimator of Sant'Anna & Zhao (2020)
(R ``DRDID::drdid_panel``, what R ``did`` uses; the *improved* DR estimator is ``"dr_imp"``).
Every ATT(g, t) carries its influence function over the panel's units; analytic and clustered
standard errors, the multiplier bootstrap with simultaneous (sup-t) bands, the pre-trend
Wald test and the four aggregations of ``GroupTimeResult.aggregate`` all come from that one
influence-function matrix, as in R ``did`` (``att_gt`` / ``aggte``).

Conventions (those of R ``did`` 2.x unless stated)
---------------------------------------------------
* ``cohort`` is the first treated period; ``0`` **or** NaN means never treated.
* Time must be numeric; event time is ``t - g`` in the time column's units.
* Base period. ``"varying"``: a pre-treatment ATT(g, t) compares ``t`` with the period before it;
  a post-treatment one compares ``t`` with ``g - anticipation - 1`` (the last period before
  ``g - anticipation``). ``"universal"``: every ATT(g, t) uses ``g - anticipation - 1``, and the
  ATT of that reference period is 0 by construction (reported, excluded from the Wald test).
* Comparison units. ``"nevertreated"``: cohort 0. ``"notyettreated"``: cohort 0 or first treated
  after ``max(t, base) + anticipation`` (and not cohort ``g`` itself). Without never-treated units,
  ``"notyettreated"`` drops the periods from ``max(g) - anticipation`` on and uses the last cohort as
  the comparison (as R ``did``); this is recorded in ``exclusions``.
* Units already treated in the first period (``g <= t_1 + anticipation``) cannot be used; they are
  removed with an :class:`~wellness_research.errors.ExcludedUnitsWarning` and counted.
* Covariates enter through their value in the base period of each ATT(g, t) (time-invariant
  covariates are the intended use), with an intercept.
* Sampling weights must be constant within unit; they are normalised to mean 1 over the units.
* Standard errors: ``sqrt(sum_i IF_i^2) / n`` over units (R ``did``'s analytic SE); with
  ``cluster=`` the influence functions are summed within clusters first
  (``sqrt(sum_c (sum_{i in c} IF_i)^2) / n``). R ``did`` only clusters through its bootstrap; our
  multiplier bootstrap draws one weight per cluster and is centred on the same quantity.

Unbalanced panels
-----------------
Units are **not** dropped when they miss periods (R ``did`` with ``panel=TRUE`` drops them to balance
the panel). Each ATT(g, t) is computed on the units of its treated cohort and comparison group that
are observed in both ``t`` and its base period; the others contribute nothing to that ATT(g, t).
``GroupTimeResult`` records, per (g, t), how many treated and comparison units were used and how
many were left out for a missing period. The assumption is that attrition is unrelated to the trend
of the untreated potential outcome (given covariates). On a balanced panel this is exactly R ``did``.
Rows with a missing outcome or covariate count as a missing period (reported in
``n_rows_missing``).

No covariates
-------------
With the intercept only, the three estimators are the same number: the weighted difference between
the mean outcome change of the treated cohort and that of the comparison units, with influence
function ``n w_i (D_i (dy_i - m_1) / S_1 - C_i (dy_i - m_0) / S_0)`` (``S`` the groups' weight
sums). ``att_gt`` computes that closed form directly on a dense unit-by-period array with the units
sorted by cohort, so each comparison is a pair of column slices.

References
----------
Callaway, B., Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods.
*Journal of Econometrics* 225(2), 200-230 (ATT(g, t): eqs. 2.6-2.7 and Theorem 1; aggregations:
Section 3, eqs. 3.5-3.11; multiplier bootstrap and simultaneous bands: Section 4 / Algorithm 1).
Sant'Anna, P. H. C., Zhao, J. (2020). Doubly robust difference-in-differences estimators.
*Journal of Econometrics* 219(1), 101-122.
R package ``did`` (Callaway & Sant'Anna), functions ``att_gt``, ``compute.att_gt``, ``mboot``,
``aggte`` / ``compute.aggte`` (``wif``, ``get_agg_inf_func``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from wellness_research.did.cs import att_gt
>>> rng = np.random.default_rng(0)
>>> n, T = 60, 4
>>> cohort = np.repeat([3, 4, 0], n // 3)
>>> df = pd.DataFrame({"id": np.repeat(np.arange(n), T), "t": np.tile(np.arange(1, T + 1), n),
...                    "g": np.repeat(cohort, T)})
>>> df["y"] = rng.normal(size=len(df)) + 1.0 * ((df["g"] > 0) & (df["t"] >= df["g"]))
>>> res = att_gt(df, outcome="y", unit="id", time="t", cohort="g", est_method="reg")
>>> res.tidy()[["term", "post"]].head(3)
       term   post
0  ATT(3,2)  False
1  ATT(3,3)   True
2  ATT(3,4)   True
>>> round(res.aggregate("simple").estimate, 3)
1.218
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import ThreadpoolController

from wellness_research.did import _cs_drdid as _dr
from wellness_research.errors import (
    ConfigurationError,
    DataValidationError,
    ExcludedUnitsWarning,
    SingularDesignError,
    SingularDesignWarning,
    SmallCohortWarning,
)

__all__ = ["AggregateResult", "GroupTimeResult", "att_gt"]

ControlGroup = Literal["notyettreated", "nevertreated"]
EstMethod = Literal["dr", "ipw", "reg", "dr_imp"]
BasePeriod = Literal["varying", "universal"]
AggregateKind = Literal["simple", "dynamic", "group", "calendar"]
BootWeights = Literal["mammen", "rademacher"]

#: A cohort or comparison group with fewer units than this (plus the number of covariates) warns.
SMALL_COHORT = 5

_TIDY_COLUMNS = ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]


def _whole_numbers(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy of ``table`` with the named period columns shown as integers when they are whole."""
    out = table.copy()
    for col in columns:
        if col in out and np.all(np.isfinite(out[col])) and np.all(out[col] == np.round(out[col])):
            out[col] = out[col].astype(np.int64)
    return out


def _band_line(bootstrap: bool, crit_value: float) -> str:
    if bootstrap:
        return f"  simultaneous (sup-t) band: critical value {crit_value:.4f} from the multiplier bootstrap"
    return ("  no simultaneous band: the *_simult columns repeat the pointwise interval "
            "(pass bootstrap=True for sup-t bands)")
_SQRT5 = math.sqrt(5.0)


def _check_literal(value: object, alias: object, name: str, where: str) -> None:
    valid = get_args(alias)
    if value not in valid:
        raise ConfigurationError(f"{where}: {name}={value!r} is not valid; use one of {list(valid)}.")


# --------------------------------------------------------------------------------------------
# multiplier bootstrap
# --------------------------------------------------------------------------------------------
def _multiplier_draws(rng: np.random.Generator, size: tuple[int, int], kind: str) -> np.ndarray:
    if kind == "rademacher":
        return rng.integers(0, 2, size=size).astype(np.float64) * 2.0 - 1.0
    # Mammen (1993) two-point weights: mean 0, variance 1, third moment 1 (R did's choice)
    lo, hi = (1.0 - _SQRT5) / 2.0, (1.0 + _SQRT5) / 2.0
    p_lo = (_SQRT5 + 1.0) / (2.0 * _SQRT5)
    return np.where(rng.random(size) < p_lo, lo, hi)


def _cluster_sum(inf: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """Influence functions summed within clusters (rows: clusters); unchanged without clusters."""
    if cluster is None:
        return inf
    n_cl = int(cluster.max()) + 1
    if inf.ndim == 1:
        return np.bincount(cluster, weights=inf, minlength=n_cl)
    return np.column_stack([np.bincount(cluster, weights=inf[:, k], minlength=n_cl)
                            for k in range(inf.shape[1])])


def _bootstrap(inf: np.ndarray, n: int, cluster: np.ndarray | None, n_boot: int, alpha: float,
               rng: np.random.Generator, kind: str) -> tuple[np.ndarray, float]:
    """Multiplier bootstrap (CS 2021 Algorithm 1): IQR-based SEs and the sup-t critical value.

    ``inf`` is ``n x K``; a draw is ``sum_c v_c S_c / n`` with ``S_c`` the (cluster-summed)
    influence function, i.e. the bootstrap deviation of the estimates.
    """
    s = _cluster_sum(inf, cluster)
    s = np.nan_to_num(s)
    m = s.shape[0]
    k = s.shape[1]
    res = np.empty((n_boot, k))
    chunk = max(1, min(n_boot, int(2e7 // max(m, 1))))
    for a in range(0, n_boot, chunk):
        b = min(n_boot, a + chunk)
        res[a:b] = _multiplier_draws(rng, (b - a, m), kind) @ s / n
    q75, q25 = np.quantile(res, [0.75, 0.25], axis=0, method="inverted_cdf")
    se = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    se = np.where(se <= math.sqrt(np.finfo(float).eps) * 10 / math.sqrt(n), np.nan, se)
    ok = np.isfinite(se)
    if not ok.any():
        return se, float("nan")
    tmax = np.max(np.abs(res[:, ok] / se[ok]), axis=1)
    crit = float(np.quantile(tmax, 1.0 - alpha, method="inverted_cdf"))
    return se, crit


def _analytic_se(inf: np.ndarray, n: int, cluster: np.ndarray | None) -> np.ndarray:
    """``sqrt(sum_c (sum_{i in c} IF_i)^2) / n`` per column (clusters = units without ``cluster``)."""
    if inf.ndim == 1:
        s = _cluster_sum(inf, cluster)
        return np.sqrt(np.sum(s * s)) / n
    out = np.empty(inf.shape[1])
    for k in range(inf.shape[1]):
        s = _cluster_sum(inf[:, k], cluster)
        out[k] = np.sqrt(np.sum(s * s)) / n
    return out


_CONTROLLER: ThreadpoolController | None = None


def _one_blas_thread() -> object:
    """Context limiting BLAS to one thread (the controller is built once: scanning is slow)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# influence functions: dense, or implicit for the no-covariate balanced case
# --------------------------------------------------------------------------------------------
class _DenseIF:
    """``n x K`` influence-function matrix held in memory."""

    def __init__(self, mat: np.ndarray) -> None:
        self.mat = mat
        self.shape = mat.shape

    def columns(self, idx: np.ndarray) -> np.ndarray:
        return np.asarray(self.mat[:, idx])

    def combine(self, a: np.ndarray) -> np.ndarray:
        """``IF @ a`` column by column (no n x K temporaries, no threaded BLAS call)."""
        out = np.zeros(self.shape[0])
        for k in np.flatnonzero(a):
            out += a[k] * self.mat[:, k]
        return out


class _BlockIF:
    """Influence functions of the closed-form (no-covariate, balanced) ATT(g, t), never stored.

    For unit ``i`` in cohort block ``b`` the IF of ATT(g, t) is
    ``kappa_k(b) w_i (Y[i, cur_k] - Y[i, pre_k] - m_k(b))``; any linear combination of the columns
    is therefore, per block, ``w_i (Y[i, :] @ coef_b - const_b)``: one matrix-vector product.
    """

    def __init__(self, Y: np.ndarray, w: np.ndarray, blocks: list[tuple[int, int]],
                 cur: np.ndarray, pre: np.ndarray, kappa: np.ndarray, mean: np.ndarray) -> None:
        self.Y, self.w, self.blocks = Y, w, blocks
        self.cur, self.pre, self.kappa, self.mean = cur, pre, kappa, mean  # kappa, mean: K x B
        self.shape = (Y.shape[0], len(cur))

    def combine(self, a: np.ndarray) -> np.ndarray:
        out = np.zeros(self.shape[0])
        T = self.Y.shape[1]
        for b, (lo, hi) in enumerate(self.blocks):
            ak = a * self.kappa[:, b]
            if not np.any(ak):
                continue
            coef = np.bincount(self.cur, weights=ak, minlength=T) - np.bincount(
                self.pre, weights=ak, minlength=T)
            const = float(np.sum(ak * self.mean[:, b]))
            yb = self.Y[lo:hi]
            acc = np.zeros(hi - lo)
            for t in np.flatnonzero(coef):
                acc += coef[t] * yb[:, t]
            out[lo:hi] = self.w[lo:hi] * (acc - const)
        return out

    def columns(self, idx: np.ndarray) -> np.ndarray:
        out = np.zeros((self.shape[0], len(idx)), order="F")
        for j, k in enumerate(idx):
            for b, (lo, hi) in enumerate(self.blocks):
                kap = self.kappa[k, b]
                if kap != 0.0:
                    out[lo:hi, j] = kap * self.w[lo:hi] * (
                        self.Y[lo:hi, self.cur[k]] - self.Y[lo:hi, self.pre[k]] - self.mean[k, b])
        return out


def _block_moments(Y: np.ndarray, w: np.ndarray, blocks: list[tuple[int, int]],
                   unweighted: bool = False,
                   ) -> list[tuple[float, float, np.ndarray, np.ndarray, np.ndarray]]:
    """Per cohort block: sum w, sum w^2, weighted column means, sum w^2 Z and Z' diag(w^2) Z.

    ``Z`` is the block's outcome array centred per unit (which leaves every within-unit difference
    unchanged and removes level heterogeneity) and then at its weighted column means, so the Gram
    matrix holds the within-block sums of squares of every period difference without
    cancellation. The column means returned are those of the unit-centred array; differences of
    them are the weighted mean outcome changes.
    """
    out = []
    for lo, hi in blocks:
        wb = w[lo:hi]
        s1 = float(wb.sum())
        s2 = float(np.sum(wb * wb))
        zb = Y[lo:hi] - Y[lo:hi].mean(axis=1, keepdims=True)
        mu = (wb @ zb) / s1
        zb -= mu
        if unweighted:
            q = zb.sum(axis=0)
            gram = zb.T @ zb
        else:
            zb *= wb[:, None]
            q = wb @ zb
            gram = zb.T @ zb
        out.append((s1, s2, mu, q, gram))
    return out


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AggregateResult:
    """An aggregation of ATT(g, t) (R ``did::aggte``).

    Attributes
    ----------
    kind : {"simple", "dynamic", "group", "calendar"}
    estimate, std_error : float
        The overall ATT of this aggregation and its SE (analytic, or bootstrap with
        ``bootstrap=True``).
    conf_low, conf_high : float
        Pointwise ``1 - alpha`` interval of the overall ATT.
    table : pandas.DataFrame
        One row per event time ``e`` (dynamic), cohort ``g`` (group) or period ``t`` (calendar):
        ``estimate, std_error, conf_low, conf_high, conf_low_simult, conf_high_simult`` (the
        simultaneous band uses the sup-t bootstrap critical value when ``bootstrap=True``, else the
        pointwise normal one, as R ``aggte`` with ``cband = FALSE``). Empty for ``"simple"``.
    crit_value : float
        Critical value of the simultaneous band.
    alpha : float
    influence : numpy.ndarray
        Influence function of the overall ATT over units (length ``n_units``).
    """

    kind: str
    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    table: pd.DataFrame
    crit_value: float
    alpha: float
    bootstrap: bool
    n_units: int
    influence: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()

    @property
    def p_value(self) -> float:
        """Two-sided normal p-value of the overall ATT."""
        return float(2 * stats.norm.sf(abs(self.estimate / self.std_error)))

    def tidy(self) -> pd.DataFrame:
        """Overall ATT first (term ``"ATT"``), then the rows of ``table`` (term ``e=..`` etc.)."""
        label = {"dynamic": "e", "group": "g", "calendar": "t"}.get(self.kind)
        rows = [["ATT", self.estimate, self.std_error, self.conf_low, self.conf_high, self.p_value,
                 self.n_units, np.nan, np.nan]]
        if label is not None:
            for r in self.table.itertuples(index=False):
                est, se = r.estimate, r.std_error
                p = 2 * stats.norm.sf(abs(est / se)) if se > 0 else np.nan
                rows.append([f"{label}={getattr(r, label):g}", est, se, r.conf_low, r.conf_high, p,
                             self.n_units, r.conf_low_simult, r.conf_high_simult])
        return pd.DataFrame(rows, columns=[*_TIDY_COLUMNS, "conf_low_simult", "conf_high_simult"])

    def summary(self) -> str:
        """Plain-text summary."""
        level = f"{100 * (1 - self.alpha):g}%"
        se_kind = "multiplier bootstrap" if self.bootstrap else "analytic"
        lines = [f"Aggregated ATT ({self.kind}), {se_kind} SE",
                 f"  ATT {self.estimate: .5f}  SE {self.std_error:.5f}  {level} CI "
                 f"[{self.conf_low:.5f}, {self.conf_high:.5f}]"]
        if len(self.table):
            lines.append(_whole_numbers(self.table, ("e", "g", "t")).to_string(
                index=False, float_format=lambda v: f"{v:.5f}"))
            lines.append(_band_line(self.bootstrap, self.crit_value))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.5f}")

    def plot(self, ax: object = None) -> object:
        """Estimates with pointwise and simultaneous bands against e / g / t (matplotlib Axes)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        if self.kind == "simple":
            ax.errorbar([0], [self.estimate], yerr=[[self.estimate - self.conf_low],
                                                     [self.conf_high - self.estimate]], fmt="o")
            ax.set_xticks([0], ["ATT"])
            return ax
        label = {"dynamic": "e", "group": "g", "calendar": "t"}[self.kind]
        x = self.table[label].to_numpy(float)
        est = self.table["estimate"].to_numpy(float)
        ax.fill_between(x, self.table["conf_low_simult"].to_numpy(float),
                        self.table["conf_high_simult"].to_numpy(float), alpha=0.2,
                        label="simultaneous band")
        ax.errorbar(x, est, yerr=[est - self.table["conf_low"].to_numpy(float),
                                  self.table["conf_high"].to_numpy(float) - est],
                    fmt="o", capsize=3, label="pointwise CI")
        ax.axhline(0.0, color="grey", lw=0.8)
        if self.kind == "dynamic":
            ax.axvline(-0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel({"e": "event time (t - g)", "g": "cohort g", "t": "period t"}[label])
        ax.set_ylabel("ATT")
        ax.legend()
        return ax


@dataclass(frozen=True, eq=False)
class GroupTimeResult:
    """Group-time average treatment effects ATT(g, t) with their influence functions.

    Attributes
    ----------
    groups, times, base_times : numpy.ndarray
        Cohort ``g``, period ``t`` and base period of each ATT(g, t) (length ``K``).
    estimates, std_errors : numpy.ndarray
        ATT(g, t) and their SEs (analytic, or multiplier bootstrap with ``bootstrap=True``;
        ``std_errors_analytic`` always holds the analytic ones).
    post : numpy.ndarray of bool
        ``t >= g`` (R ``did``'s post-treatment flag).
    n_treated, n_control : numpy.ndarray of int
        Units used (observed in ``t`` and the base period).
    n_treated_missing, n_control_missing : numpy.ndarray of int
        Units of the cohort / comparison group left out of that ATT(g, t) for a missing period.
    crit_value : float
        Critical value of the simultaneous band (sup-t bootstrap; the pointwise normal value without
        the bootstrap).
    influence : numpy.ndarray
        ``n_units x K`` influence functions (R ``did``'s scaling: ``SE = sqrt(sum IF^2) / n``).
    unit_cohort, unit_weights : numpy.ndarray
        Per unit (rows of ``influence``): cohort (0 never treated) and normalised weight.
    unit_cluster : numpy.ndarray or None
        Cluster code per unit.
    unit_ids : numpy.ndarray
        The ``unit`` value of each row of ``influence`` (units sorted by cohort, never treated last).
    exclusions : tuple of str
        What was excluded or recoded, in words (never silently).
    """

    groups: np.ndarray
    times: np.ndarray
    base_times: np.ndarray
    estimates: np.ndarray
    std_errors: np.ndarray
    std_errors_analytic: np.ndarray
    post: np.ndarray
    n_treated: np.ndarray
    n_control: np.ndarray
    n_treated_missing: np.ndarray
    n_control_missing: np.ndarray
    reference: np.ndarray
    crit_value: float
    alpha: float
    control_group: str
    est_method: str
    base_period: str
    anticipation: int
    covariates: tuple[str, ...]
    weighted: bool
    bootstrap: bool
    n_boot: int | None
    boot_weights: str
    n_units: int
    n_periods: int
    n_rows: int
    n_rows_missing: int
    outcome: str
    if_store: _DenseIF | _BlockIF = field(repr=False)
    unit_cohort: np.ndarray = field(repr=False)
    unit_weights: np.ndarray = field(repr=False)
    unit_cluster: np.ndarray | None = field(repr=False)
    unit_ids: np.ndarray = field(repr=False)
    seed_rng: np.random.Generator = field(repr=False)
    exclusions: tuple[str, ...] = ()

    @cached_property
    def influence(self) -> np.ndarray:
        """``n_units x K`` influence functions (materialised on first access)."""
        return self.if_store.columns(np.arange(len(self.estimates)))

    # ------------------------------------------------------------------ tables
    @property
    def labels(self) -> list[str]:
        """``ATT(g,t)`` labels."""
        return [f"ATT({g:g},{t:g})" for g, t in zip(self.groups, self.times)]

    def tidy(self) -> pd.DataFrame:
        """One row per (g, t): the standard columns plus group, time, base_time, post, counts, band.

        ``conf_low_simult`` / ``conf_high_simult`` use ``crit_value`` (sup-t with the bootstrap).
        """
        z = stats.norm.ppf(1 - self.alpha / 2)
        est, se = self.estimates, self.std_errors
        with np.errstate(invalid="ignore", divide="ignore"):
            p = 2 * stats.norm.sf(np.abs(est / se))
        return pd.DataFrame({
            "term": self.labels, "estimate": est, "std_error": se,
            "conf_low": est - z * se, "conf_high": est + z * se, "p_value": p,
            "n": self.n_treated + self.n_control,
            "group": self.groups, "time": self.times, "base_time": self.base_times,
            "post": self.post, "n_treated": self.n_treated, "n_control": self.n_control,
            "n_treated_missing": self.n_treated_missing,
            "n_control_missing": self.n_control_missing,
            "conf_low_simult": est - self.crit_value * se,
            "conf_high_simult": est + self.crit_value * se,
        })

    @cached_property
    def pretrend_test(self) -> dict[str, float]:
        """Wald test that every pre-treatment ATT(g, t) is 0 (R ``did``'s ``summary`` pre-test).

        ``W = a' V^{-1} a`` with ``a`` the pre-treatment ATT(g, t) (reference periods of the
        universal base excluded) and ``V`` their covariance from the influence functions
        (cluster-summed when clustered); chi-squared with ``len(a)`` degrees of freedom.
        Returns ``{"statistic", "df", "p_value"}`` (NaN with a note if there is no pre-period or
        ``V`` is singular).
        """
        pre = (~self.post) & (~self.reference) & np.isfinite(self.estimates)
        idx = np.flatnonzero(pre)
        if idx.size == 0:
            return {"statistic": np.nan, "df": 0, "p_value": np.nan, "note": "no pre-periods"}
        s = _cluster_sum(self.if_store.columns(idx), self.unit_cluster)
        v = (s.T @ s) / self.n_units**2
        a = self.estimates[idx]
        if np.linalg.cond(v) > 1 / np.finfo(float).eps:
            return {"statistic": np.nan, "df": int(idx.size), "p_value": np.nan,
                    "note": "singular covariance of the pre-period ATT(g,t)"}
        w = float(a @ np.linalg.solve(v, a))
        return {"statistic": w, "df": int(idx.size), "p_value": float(stats.chi2.sf(w, idx.size)),
                "note": ""}

    def summary(self) -> str:
        """Plain-text summary: settings, the ATT(g, t) table, the pre-trend test, exclusions."""
        tab = self.tidy()[["group", "time", "estimate", "std_error", "conf_low_simult",
                           "conf_high_simult", "n_treated", "n_control"]]
        pt = self.pretrend_test
        se_kind = (f"multiplier bootstrap ({self.n_boot} draws, {self.boot_weights})"
                   if self.bootstrap else "analytic")
        lines = [
            f"Group-time ATT (Callaway & Sant'Anna 2021) on {self.outcome}",
            f"  est_method={self.est_method}, control_group={self.control_group}, "
            f"base_period={self.base_period}, anticipation={self.anticipation}, "
            f"covariates={list(self.covariates) or 'none'}, weighted={self.weighted}",
            f"  units {self.n_units}, periods {self.n_periods}, rows {self.n_rows} "
            f"({self.n_rows_missing} with missing outcome/covariate); SE: {se_kind}"
            + (", clustered" if self.unit_cluster is not None else ""),
            _whole_numbers(tab, ("group", "time")).to_string(index=False, float_format=lambda v: f"{v:.5f}"),
            _band_line(self.bootstrap, self.crit_value),
            f"  pre-trend Wald test: W = {pt['statistic']:.4f}, df = {pt['df']}, "
            f"p = {pt['p_value']:.4g}" + (f" ({pt['note']})" if pt["note"] else ""),
        ]
        lines += [f"  note: {e}" for e in self.exclusions]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.5f}")

    def plot(self, ax: object = None) -> object:
        """ATT(g, t) by period, one panel row per cohort (matplotlib Figure)."""
        import matplotlib.pyplot as plt

        cohorts = np.unique(self.groups)
        fig, axes = plt.subplots(len(cohorts), 1, figsize=(7, 2.2 * len(cohorts)), sharex=True,
                                 squeeze=False)
        tab = self.tidy()
        for a, g in zip(axes[:, 0], cohorts):
            sub = tab[tab["group"] == g]
            for post, colour in ((False, "tab:grey"), (True, "tab:red")):
                s = sub[sub["post"] == post]
                e = s["estimate"].to_numpy(float)
                a.errorbar(s["time"].to_numpy(float), e,
                           yerr=[e - s["conf_low_simult"].to_numpy(float),
                                 s["conf_high_simult"].to_numpy(float) - e],
                           fmt="o", color=colour, capsize=2)
            a.axhline(0.0, color="grey", lw=0.8)
            a.set_title(f"cohort {g:g}", fontsize=9)
        axes[-1, 0].set_xlabel("period")
        return fig

    # ------------------------------------------------------------------ aggregation
    def aggregate(self, kind: AggregateKind = "simple", *, min_e: float | None = None,
                  max_e: float | None = None, balance_e: int | None = None,
                  bootstrap: bool | None = None, n_boot: int | None = None,
                  seed: int | np.random.Generator | None = None,
                  alpha: float | None = None) -> AggregateResult:
        """Aggregate ATT(g, t) as R ``did::aggte`` does.

        Parameters
        ----------
        kind : {"simple", "dynamic", "group", "calendar"}, default "simple"
            ``simple``: post-treatment ATT(g, t) weighted by cohort size; ``dynamic``: by event time
            ``e = t - g`` (overall = mean over ``e >= 0``); ``group``: per cohort (overall weighted
            by cohort size); ``calendar``: per period (overall = mean over periods).
        min_e, max_e : float, optional
            Event-time window (dynamic; ``max_e`` also trims simple and group as R does).
        balance_e : int, optional
            Dynamic only: keep the cohorts observed for ``balance_e`` periods after treatment.
        bootstrap : bool, optional
            Multiplier-bootstrap SEs and sup-t bands; default: as in ``att_gt``.
        n_boot : int, optional
        seed : int, Generator or None
        alpha : float, optional

        Returns
        -------
        AggregateResult

        Notes
        -----
        Cohort weights are ``P(G = g)`` estimated by the weighted share of units in cohort ``g``;
        their estimation enters the influence function (R ``did``'s ``wif``), which is what makes
        the SEs equal R ``did`` / csdid. ATT(g, t) that are NaN (not estimable) are left out with a
        note.

        References
        ----------
        Callaway & Sant'Anna (2021), Section 3, eqs. (3.5)-(3.11).
        """
        _check_literal(kind, AggregateKind, "kind", "aggregate")
        boot = self.bootstrap if bootstrap is None else bool(bootstrap)
        alpha = self.alpha if alpha is None else float(alpha)
        nb = n_boot if n_boot is not None else (self.n_boot or 999)
        rng = self.seed_rng if seed is None else _rng(seed)
        with _one_blas_thread():
            return _aggregate(self, kind, min_e=-np.inf if min_e is None else min_e,
                              max_e=np.inf if max_e is None else max_e, balance_e=balance_e,
                              boot=boot, n_boot=nb, rng=rng, alpha=alpha)


# --------------------------------------------------------------------------------------------
# aggregation (R did::compute.aggte)
# --------------------------------------------------------------------------------------------
def _aggregate(res: GroupTimeResult, kind: str, *, min_e: float, max_e: float,
               balance_e: int | None, boot: bool, n_boot: int, rng: np.random.Generator,
               alpha: float) -> AggregateResult:
    n = res.n_units
    ok = np.isfinite(res.estimates)
    notes: list[str] = []
    if not ok.all():
        notes.append(f"{int((~ok).sum())} ATT(g,t) not estimable (NaN) left out: "
                     + ", ".join(np.asarray(res.labels)[~ok][:5]))
    g_all, t_all = res.groups[ok], res.times[ok]
    att = res.estimates[ok]
    ok_idx = np.flatnonzero(ok)
    K_all = len(res.estimates)
    w_ind = res.unit_weights
    G = res.unit_cohort
    glist = np.unique(res.groups)
    pg_g = np.array([np.mean(w_ind * (G == g)) for g in glist])
    pg = pg_g[np.searchsorted(glist, g_all)]
    # per-unit indicator of each cohort (n x nG), used by the weight influence function
    gpos = np.searchsorted(glist, G)
    gpos = np.where((gpos < len(glist)) & (glist[np.minimum(gpos, len(glist) - 1)] == G), gpos, -1)
    z = stats.norm.ppf(1 - alpha / 2)
    cl = res.unit_cluster

    def wif_att(keep: np.ndarray, pgk_all: np.ndarray, groups_k: np.ndarray,
                att_k: np.ndarray) -> np.ndarray:
        """``wif(keep) @ att_k`` of R did (influence of the estimated weights), in O(n).

        ``wif[i, k] = (w_i 1[G_i = g_k] - p_k) / S - (sum_k' (w_i 1[G_i = g_k'] - p_k')) p_k / S^2``
        with ``p_k = P(G = g_k)`` and ``S = sum_k p_k``; multiplied by the ATTs it only needs, per
        cohort, the sum of the ATTs and the number of kept cells of that cohort.
        """
        pk = pgk_all[keep]
        spk = pk.sum()
        gk = np.searchsorted(glist, groups_k[keep])
        a_by_g = np.bincount(gk, weights=att_k, minlength=len(glist))
        c_by_g = np.bincount(gk, minlength=len(glist)).astype(float)
        a_i = np.where(gpos >= 0, a_by_g[np.maximum(gpos, 0)], 0.0)
        c_i = np.where(gpos >= 0, c_by_g[np.maximum(gpos, 0)], 0.0)
        pa = float(np.sum(pk * att_k))
        return (w_ind * a_i - pa) / spk - (w_ind * c_i - spk) * pa / spk**2

    def agg_if(inf_k: object, keep: np.ndarray, wts: np.ndarray) -> np.ndarray:
        """``IF[:, keep] @ wts``; ``inf_k`` the result's IF store (indices into ``ok``) or a matrix."""
        if isinstance(inf_k, np.ndarray):
            out = np.zeros(n)
            for j, wj in zip(keep, wts):
                out += wj * inf_k[:, j]
            return out
        a = np.zeros(K_all)
        a[ok_idx[keep]] = wts
        return inf_k.combine(a)

    inf = res.if_store

    def se_of(v: np.ndarray) -> float:
        return float(_analytic_se(v, n, cl))

    table = pd.DataFrame()
    if kind == "simple":
        keep = np.flatnonzero((g_all <= t_all) & (t_all <= g_all + max_e))
        wts = pg[keep] / pg[keep].sum()
        est = float(np.sum(att[keep] * wts))
        oif = agg_if(inf, keep, wts) + wif_att(keep, pg, g_all, att[keep])
        crit = z
    else:
        if kind == "dynamic":
            e_all = t_all - g_all
            incl = np.ones(len(att), bool)
            eseq = np.unique(e_all)
            if balance_e is not None:
                incl = (res.times.max() - g_all) >= balance_e
                eseq = np.unique(e_all[incl])
                eseq = eseq[(eseq <= balance_e)
                            & (eseq >= balance_e - res.times.max() + res.times.min())]
            eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
            cells = [np.flatnonzero((e_all == e) & incl) for e in eseq]
            keys, label = eseq, "e"
        elif kind == "group":
            cells = [np.flatnonzero((g_all == g) & (g <= t_all) & (t_all <= g_all + max_e))
                     for g in glist]
            keys, label = glist, "g"
        else:
            tpost = np.unique(t_all)
            tpost = tpost[tpost >= glist.min()]
            cells = [np.flatnonzero((t_all == t) & (g_all <= t_all)) for t in tpost]
            keys, label = tpost, "t"
        ests, ifs = [], []
        for c in cells:
            w_c = pg[c] / pg[c].sum()
            ests.append(float(np.sum(att[c] * w_c)))
            v = agg_if(inf, c, w_c)
            if kind != "group":
                v += wif_att(c, pg, g_all, att[c])
            ifs.append(v)
        ests_a = np.array(ests)
        if_mat = np.column_stack(ifs) if ifs else np.zeros((n, 0))
        ses = _analytic_se(if_mat, n, cl)
        crit = z
        if boot and if_mat.shape[1]:
            ses, crit = _bootstrap(if_mat, n, cl, n_boot, alpha, rng, res.boot_weights)
        # a zero SE (the universal base period's reference e = -1) is reported as NaN, as R did
        ses = np.where(ses <= math.sqrt(np.finfo(float).eps) * 10, np.nan, ses)
        table = pd.DataFrame({label: keys, "estimate": ests_a, "std_error": ses,
                              "conf_low": ests_a - z * ses, "conf_high": ests_a + z * ses,
                              "conf_low_simult": ests_a - crit * ses,
                              "conf_high_simult": ests_a + crit * ses})
        if kind == "dynamic":
            pos = np.flatnonzero(keys >= 0)
            est = float(np.mean(ests_a[pos]))
            oif = agg_if(if_mat, pos, np.full(pos.size, 1.0 / pos.size))
        elif kind == "group":
            wg = pg_g / pg_g.sum()
            est = float(np.sum(ests_a * wg))
            kk = np.arange(len(glist))
            oif = agg_if(if_mat, kk, wg) + wif_att(kk, pg_g, glist, ests_a)
        else:
            est = float(np.mean(ests_a))
            oif = agg_if(if_mat, np.arange(len(keys)), np.full(len(keys), 1.0 / len(keys)))
    if boot:
        se_arr, _ = _bootstrap(oif[:, None], n, cl, n_boot, alpha, rng, res.boot_weights)
        se = float(se_arr[0])
    else:
        se = se_of(oif)
    return AggregateResult(kind=kind, estimate=est, std_error=se, conf_low=est - z * se,
                           conf_high=est + z * se, table=table, crit_value=float(crit),
                           alpha=alpha, bootstrap=boot, n_units=n, influence=oif,
                           notes=tuple(notes))


# --------------------------------------------------------------------------------------------
# data preparation
# --------------------------------------------------------------------------------------------
def _per_unit(values: np.ndarray, ucode: np.ndarray, n: int, name: str, table_col: str,
              unit_vals: np.ndarray, grid: bool = False) -> np.ndarray:
    """The value of a unit-constant column per unit; error naming an offending unit otherwise.

    ``grid``: rows are the full unit x period grid sorted by unit then period (no scatter needed).
    """
    if grid:
        v2 = values.reshape(n, -1)
        first = v2[:, 0]
        same = (v2 == first[:, None]) | (pd.isna(v2) & pd.isna(first)[:, None]) \
            if values.dtype.kind == "f" else (v2 == first[:, None])
        if same.all():
            return first.copy()
    out = np.empty(n, dtype=values.dtype)
    out[ucode] = values
    back = out[ucode]
    bad = ~((back == values) | (pd.isna(back) & pd.isna(values)))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"att_gt: column {table_col!r} ({name}) must be constant within unit; "
            f"{int(bad.sum())} of {len(values)} rows disagree with another row of their unit, "
            f"e.g. unit {unit_vals[ucode[r]]!r} has {values[r]!r} and {back[r]!r}.")
    return out


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..m-1`` of ``values`` in sorted order of the distinct values, and those values.

    Integer columns with a compact range (ids, periods) use a lookup table (one pass, no hashing);
    anything else goes through :func:`pandas.factorize`. Missing values get code -1.
    """
    if values.dtype.kind in "iu" and len(values):
        lo, hi = int(values.min()), int(values.max())
        span = hi - lo + 1
        if span <= 4 * len(values) + 1024:
            off = values - lo
            present = np.zeros(span, dtype=bool)
            present[off] = True
            lookup = np.cumsum(present) - 1
            return lookup[off], (np.flatnonzero(present) + lo).astype(values.dtype)
    codes, uniq = pd.factorize(values, sort=True)
    return codes, np.asarray(uniq)


def _require(data: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataValidationError(
            f"att_gt: columns {missing} not found in data ({data.shape[0]} rows; columns "
            f"{list(data.columns)[:12]}).")


def att_gt(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    control_group: ControlGroup = "notyettreated",
    est_method: EstMethod = "dr",
    covariates: Sequence[str] | None = None,
    anticipation: int = 0,
    weights: str | None = None,
    cluster: str | None = None,
    base_period: BasePeriod = "varying",
    alpha: float = 0.05,
    bootstrap: bool = False,
    n_boot: int = 999,
    boot_weights: BootWeights = "mammen",
    seed: int | np.random.Generator | None = None,
) -> GroupTimeResult:
    """Group-time average treatment effects ATT(g, t) of Callaway & Sant'Anna (2021), panel data.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per (unit, period); never modified.
    outcome, unit, time, cohort : str
        Column names. ``time`` numeric; ``cohort`` the first treated period, ``0`` or NaN for never
        treated, constant within unit.
    control_group : {"notyettreated", "nevertreated"}, default "notyettreated"
    est_method : {"dr", "ipw", "reg", "dr_imp"}, default "dr"
        ``"dr"``: locally efficient doubly robust estimator with a logit propensity score and OLS
        outcome regression (Sant'Anna & Zhao 2020, eq. 3.1; R ``DRDID::drdid_panel``, which is what
        R ``did::att_gt`` and csdid use); ``"ipw"``: standardised IPW (``std_ipw_did_panel``);
        ``"reg"``: outcome regression (``reg_did_panel``); ``"dr_imp"``: the *improved* DR
        estimator (inverse probability tilting + weighted OLS, ``drdid_imp_panel``, Section 3.1),
        not what R ``did`` computes. Without covariates all give the same numbers.
    covariates : sequence of str, optional
        Numeric covariates, taken in each comparison's base period (an intercept is added).
    anticipation : int, default 0
        Periods of anticipation ``delta``: the base period is ``g - delta - 1``.
    weights : str, optional
        Sampling-weight column, positive and constant within unit (normalised to mean 1).
    cluster : str, optional
        Cluster column coarser than unit, constant within unit; SEs sum influence functions within
        clusters.
    base_period : {"varying", "universal"}, default "varying"
    alpha : float, default 0.05
    bootstrap : bool, default False
        Multiplier-bootstrap SEs (IQR-based, R ``did``'s ``mboot``) and sup-t simultaneous bands.
    n_boot : int, default 999
    boot_weights : {"mammen", "rademacher"}, default "mammen"
    seed : int, numpy.random.Generator or None
        For the bootstrap (also reused by ``aggregate(bootstrap=True)``).

    Returns
    -------
    GroupTimeResult

    Raises
    ------
    ConfigurationError
        Invalid option.
    DataValidationError
        Missing columns, duplicated (unit, time), non-numeric time/covariates, cohort / weight /
        cluster varying within unit, non-positive weights, no never-treated units with
        ``control_group="nevertreated"``, no usable cohort.
    SingularDesignError
        Collinear covariates over the whole panel.

    Warns
    -----
    SmallCohortWarning
        A cohort or its comparison group in some ATT(g, t) has fewer than ``5 + len(covariates)``
        units (the estimate is still computed; it is NaN only if the group is empty).
    SingularDesignWarning
        An ATT(g, t) cannot be estimated (no treated or comparison unit observed in both periods,
        or a singular regression / propensity model on that subset): it is NaN, its influence
        function 0, and the warning names it.
    ExcludedUnitsWarning
        Units already treated in the first period were removed.

    References
    ----------
    Callaway, B., Sant'Anna, P. H. C. (2021). *Journal of Econometrics* 225(2), 200-230,
    eqs. (2.6)-(2.7), Theorem 1 and Algorithm 1. Sant'Anna, P. H. C., Zhao, J. (2020).
    *Journal of Econometrics* 219(1), 101-122.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3, 4, 4], "t": [1, 2] * 4,
    ...                    "g": [2, 2, 2, 2, 0, 0, 0, 0], "y": [1., 3., 2., 4., 1., 2., 0., 1.]})
    >>> import warnings
    >>> from wellness_research.errors import SmallCohortWarning
    >>> with warnings.catch_warnings():  # two units per group: SmallCohortWarning
    ...     warnings.simplefilter("ignore", SmallCohortWarning)
    ...     res = att_gt(df, outcome="y", unit="id", time="t", cohort="g")
    >>> float(res.estimates[0])  # (3 - 1 + 4 - 2) / 2 - (2 - 1 + 1 - 0) / 2
    1.0
    """
    # Small vector operations in a loop: threaded BLAS only adds contention (and busy-waiting on a
    # loaded machine), so the whole estimation runs with one BLAS thread.
    with _one_blas_thread():
        return _att_gt(data, outcome=outcome, unit=unit, time=time, cohort=cohort,
                       control_group=control_group, est_method=est_method, covariates=covariates,
                       anticipation=anticipation, weights=weights, cluster=cluster,
                       base_period=base_period, alpha=alpha, bootstrap=bootstrap, n_boot=n_boot,
                       boot_weights=boot_weights, seed=seed)


def _att_gt(data: pd.DataFrame, *, outcome: str, unit: str, time: str, cohort: str,
            control_group: str, est_method: str, covariates: Sequence[str] | None,
            anticipation: int, weights: str | None, cluster: str | None, base_period: str,
            alpha: float, bootstrap: bool, n_boot: int, boot_weights: str,
            seed: int | np.random.Generator | None) -> GroupTimeResult:
    """Body of :func:`att_gt` (see there)."""
    where = "att_gt"
    _check_literal(control_group, ControlGroup, "control_group", where)
    _check_literal(est_method, EstMethod, "est_method", where)
    _check_literal(base_period, BasePeriod, "base_period", where)
    _check_literal(boot_weights, BootWeights, "boot_weights", where)
    covs = tuple(covariates or ())
    if isinstance(covariates, str):
        raise ConfigurationError(f"{where}: covariates must be a list of column names, "
                                 f"got the string {covariates!r}.")
    if not (isinstance(anticipation, (int, np.integer)) and anticipation >= 0):
        raise ConfigurationError(f"{where}: anticipation={anticipation!r} must be an integer >= 0.")
    if not 0.0 < alpha < 1.0:
        raise ConfigurationError(f"{where}: alpha={alpha!r} must be in (0, 1).")
    if bootstrap and (not isinstance(n_boot, (int, np.integer)) or n_boot < 10):
        raise ConfigurationError(f"{where}: n_boot={n_boot!r} must be an integer >= 10.")
    cols = [outcome, unit, time, cohort, *covs] + [c for c in (weights, cluster) if c]
    _require(data, cols)

    # ---- columns as arrays (the caller's frame is never touched) --------------------------------
    n_rows = len(data)
    if n_rows == 0:
        raise DataValidationError(f"{where}: data has no rows.")
    tcol = data[time]
    if not pd.api.types.is_numeric_dtype(tcol):
        raise DataValidationError(f"{where}: column {time!r} (time) must be numeric; got dtype "
                                  f"{tcol.dtype}.")
    tvals = tcol.to_numpy()
    if tvals.dtype.kind not in "iu" and pd.isna(tvals).any():
        raise DataValidationError(f"{where}: column {time!r} (time) has "
                                  f"{int(pd.isna(tvals).sum())} missing values.")
    gcol = data[cohort]
    if not pd.api.types.is_numeric_dtype(gcol):
        raise DataValidationError(f"{where}: column {cohort!r} (cohort) must be numeric; got "
                                  f"dtype {gcol.dtype}.")
    ucode, unit_vals = _codes(data[unit].to_numpy())
    if (ucode < 0).any():
        raise DataValidationError(f"{where}: column {unit!r} (unit) has "
                                  f"{int((ucode < 0).sum())} missing values.")
    tcode, tlist = _codes(tvals)
    tlist = np.asarray(tlist, dtype=np.float64)
    n_all, T_all = len(unit_vals), len(tlist)
    unit_vals = np.asarray(unit_vals)

    flat = ucode.astype(np.int64) * T_all + tcode
    # the full grid sorted by unit then time (the usual layout): no duplicates, no scatter needed
    grid = n_rows == n_all * T_all and bool(np.all(flat[1:] > flat[:-1]))
    if not grid:
        counts = np.bincount(flat, minlength=n_all * T_all)
        if counts.max() > 1:
            cell = int(np.argmax(counts > 1))
            raise DataValidationError(
                f"{where}: (unit, time) must be unique; {int((counts > 1).sum())} (unit, time) "
                f"pairs appear more than once, e.g. {unit}={unit_vals[cell // T_all]!r}, "
                f"{time}={tlist[cell % T_all]:g} ({int(counts[cell])} rows).")
        del counts
    del flat

    g_rows = gcol.to_numpy()
    if g_rows.dtype.kind not in "iu":
        g_rows = gcol.to_numpy(dtype=np.float64, na_value=np.nan)
        g_rows = np.where(np.isnan(g_rows), 0.0, g_rows)
    G = _per_unit(g_rows, ucode, n_all, "cohort", cohort, unit_vals, grid).astype(np.float64)
    if (G < 0).any():
        raise DataValidationError(f"{where}: column {cohort!r} (cohort) has negative values, "
                                  f"e.g. {G[G < 0][0]:g}; use 0 or NaN for never treated.")
    if weights is not None:
        wr = data[weights].to_numpy(dtype=np.float64, na_value=np.nan)
        if not (np.isfinite(wr).all() and (wr > 0).all()):
            bad = int((~(np.isfinite(wr) & (wr > 0))).sum())
            raise DataValidationError(f"{where}: column {weights!r} (weights) must be finite and "
                                      f"positive; {bad} of {n_rows} rows are not.")
        W = _per_unit(wr, ucode, n_all, "weights", weights, unit_vals, grid)
    else:
        W = np.ones(n_all)
    if cluster is not None:
        ccode, _ = pd.factorize(data[cluster], sort=True)
        if (ccode < 0).any():
            raise DataValidationError(f"{where}: column {cluster!r} (cluster) has "
                                      f"{int((ccode < 0).sum())} missing values.")
        C = _per_unit(ccode, ucode, n_all, "cluster", cluster, unit_vals, grid)
    else:
        C = None
    yr = data[outcome]
    if not pd.api.types.is_numeric_dtype(yr):
        raise DataValidationError(f"{where}: column {outcome!r} (outcome) must be numeric; got "
                                  f"dtype {yr.dtype}.")
    y_rows = yr.to_numpy(dtype=np.float64, na_value=np.nan)
    miss_rows = ~np.isfinite(y_rows)
    x_rows = []
    for c in covs:
        if not pd.api.types.is_numeric_dtype(data[c]):
            raise DataValidationError(f"{where}: covariate {c!r} must be numeric (make dummies "
                                      f"first); got dtype {data[c].dtype}.")
        xr = data[c].to_numpy(dtype=np.float64, na_value=np.nan)
        miss_rows |= ~np.isfinite(xr)
        x_rows.append(xr)
    n_rows_missing = int(miss_rows.sum())

    exclusions: list[str] = []
    # ---- R did pre-processing: no never-treated units; units treated in the first period -------
    keep_t = np.ones(T_all, bool)
    treated_g = np.unique(G[G > 0])
    if not (G == 0).any():
        if control_group == "nevertreated":
            raise DataValidationError(
                f"{where}: control_group='nevertreated' but column {cohort!r} has no never-treated "
                f"unit (0 or NaN) among {n_all} units; use control_group='notyettreated'.")
        if treated_g.size < 2:
            raise DataValidationError(f"{where}: no never-treated units and a single cohort: "
                                      "there is no comparison group.")
        gmax = treated_g.max()
        keep_t = tlist < gmax - anticipation
        G = np.where(G == gmax, 0.0, G)
        exclusions.append(
            f"no never-treated units: periods >= {gmax - anticipation:g} dropped and the last "
            f"cohort ({gmax:g}) used as the comparison group (as R did)")
    first = tlist[keep_t][0] if keep_t.any() else np.nan
    early = (G > 0) & (G <= first + anticipation)
    keep_u = ~early
    if early.any():
        msg = (f"{int(early.sum())} units of cohorts "
               f"{sorted(set(np.unique(G[early]).tolist()))} are treated in or before the first "
               f"period {first:g} (+ anticipation {anticipation}) and were removed")
        exclusions.append(msg)
        warnings.warn(f"{where}: {msg}.", ExcludedUnitsWarning, stacklevel=4)
    glist = np.unique(G[keep_u & (G > 0)])
    if glist.size == 0:
        raise DataValidationError(f"{where}: no cohort can be estimated (no unit first treated "
                                  f"after the first period {first:g}).")

    # ---- dense unit x period arrays, units sorted by cohort (never treated last) ---------------
    sort_key = np.where(G == 0, np.inf, G)
    sort_key = np.where(keep_u, sort_key, np.nan)  # removed units sort after everything
    order = np.argsort(sort_key, kind="stable")
    n = int(keep_u.sum())
    rank = np.empty(n_all, dtype=np.int64)
    rank[order] = np.arange(n_all)
    tmap = np.cumsum(keep_t) - 1
    T = int(keep_t.sum())
    X = None
    x_inv = None
    if grid:
        # rows already form the sorted unit x period grid: reshape, keep periods, reorder units
        cols_t = np.flatnonzero(keep_t)
        take_all_t = cols_t.size == T_all
        y2 = y_rows.reshape(n_all, T_all)
        Y = y2[order[:n]] if take_all_t else y2[order[:n]][:, cols_t]
        if covs:
            x2s = [xr.reshape(n_all, T_all) for xr in x_rows]
            if all(bool((x2 == x2[:, :1]).all()) for x2 in x2s):
                # time-invariant and complete: one value per unit (no unit x period copies)
                x_inv = np.column_stack([np.ones(n)] + [x2[order[:n], 0] for x2 in x2s])
            else:
                X = np.stack([(x2[order[:n]] if take_all_t else x2[order[:n]][:, cols_t])
                              for x2 in x2s])
    else:
        row = rank[ucode]
        sel = (row < n) & keep_t[tcode]
        if sel.all():
            r_i, t_i, yv = row, tmap[tcode], y_rows
        else:
            r_i, t_i, yv = row[sel], tmap[tcode[sel]], y_rows[sel]
        Y = np.full((n, T), np.nan)
        Y[r_i, t_i] = yv
        if covs:
            X = np.full((len(covs), n, T), np.nan)
            for j, xr in enumerate(x_rows):
                X[j][r_i, t_i] = xr if sel.all() else xr[sel]
    if X is not None:
        Y[np.isnan(X).any(axis=0)] = np.nan
    # a complete grid without missing values is balanced without scanning the array again
    balanced = (grid and n_rows_missing == 0) or int(np.isfinite(Y).sum()) == n * T
    Gs = G[order[:n]]
    Ws = W[order[:n]]
    Ws = Ws / Ws.mean()
    Cs = None
    if C is not None:
        _, Cs = np.unique(C[order[:n]], return_inverse=True)
    tl = tlist[keep_t]

    # covariates: time-invariant -> one n x k matrix; otherwise per base period
    if x_inv is not None:
        if np.linalg.matrix_rank(x_inv) < x_inv.shape[1]:
            raise SingularDesignError(
                f"{where}: the covariates {list(covs)} (with an intercept) are collinear over the "
                f"panel's {n} units; drop a redundant covariate.")
    elif X is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanmin(X, axis=2), np.nanmax(X, axis=2)
        if np.all((lo == hi) | np.isnan(lo)):
            x_inv = np.column_stack([np.ones(n), lo.T])
            check = x_inv[np.isfinite(x_inv).all(axis=1)]
        else:
            check = np.column_stack([np.ones(n), X[:, :, 0].T])
            check = check[np.isfinite(check).all(axis=1)]
        if check.shape[0] and np.linalg.matrix_rank(check) < check.shape[1]:
            raise SingularDesignError(
                f"{where}: the covariates {list(covs)} (with an intercept) are collinear over the "
                f"panel's {check.shape[0]} units; drop a redundant covariate.")

    # ---- cohort blocks in the sorted order ------------------------------------------------------
    gkey = np.where(Gs == 0, np.inf, Gs)
    block_vals = np.unique(gkey)
    starts = np.searchsorted(gkey, block_vals, side="left")
    ends = np.searchsorted(gkey, block_vals, side="right")
    blk = {float(v): (int(a), int(b)) for v, a, b in zip(block_vals, starts, ends)}
    never = blk.get(float("inf"), (n, n))

    # ---- the (g, t) loop (R did compute.att_gt) -------------------------------------------------
    tfac = 1 if base_period == "varying" else 0
    specs: list[tuple[float, int, int, bool, bool]] = []  # g, cur, pre, post, reference
    for g in glist:
        pre_idx = np.flatnonzero(tl + anticipation < g)
        last_pre = int(pre_idx[-1]) if pre_idx.size else None
        for t in range(T - tfac):
            cur = t + tfac
            pret = t if base_period == "varying" else last_pre
            post = bool(g <= tl[cur])
            if post:
                if last_pre is None:
                    warnings.warn(f"{where}: no pre-treatment period for cohort {g:g}; its "
                                  "ATT(g,t) are not computed.", SingularDesignWarning, stacklevel=4)
                    break
                pret = last_pre
            specs.append((float(g), cur, int(pret), post,
                          base_period == "universal" and pret == cur))
    K = len(specs)
    min_size = SMALL_COHORT + len(covs)
    if balanced and not covs and Cs is None and K:
        return _att_gt_closed_form(
            Y, Ws, Gs, gkey, block_vals, blk, specs, tl, control_group, anticipation, min_size,
            where=where, meta=dict(
                alpha=float(alpha), control_group=control_group, est_method=est_method,
                base_period=base_period, anticipation=int(anticipation), covariates=covs,
                weighted=weights is not None, n_units=n, n_periods=T, n_rows=n_rows,
                n_rows_missing=n_rows_missing, outcome=outcome, unit_cohort=Gs, unit_weights=Ws,
                unit_cluster=Cs, unit_ids=unit_vals[order[:n]]),
            exclusions=exclusions, bootstrap=bootstrap, n_boot=int(n_boot),
            boot_weights=boot_weights, seed=seed)
    Y = np.asfortranarray(Y)
    inf = np.zeros((n, K), order="F")
    est = np.full(K, np.nan)
    n_tr = np.zeros(K, np.int64)
    n_co = np.zeros(K, np.int64)
    m_tr = np.zeros(K, np.int64)
    m_co = np.zeros(K, np.int64)
    small: list[str] = []
    unest: list[str] = []
    fit = {"reg": _dr.reg_panel, "ipw": _dr.ipw_panel, "dr": _dr.drdid_panel,
           "dr_imp": _dr.dr_panel}[est_method]
    designs: dict = {}
    pending: list[tuple[_dr.Design, list[tuple[int, int]], int, int, int]] = []
    work = [np.empty(0)]  # scratch space of flush_linear

    def flush_linear() -> None:
        """ATT(g, t) and IF columns of the pending (g, t) that share one design, as matrix
        products over the design's units, eight periods at a time: the design's cross-products
        are read once per eight ATT(g, t), and the scratch space stays small and reused."""
        des, segs = pending[0][0], pending[0][1]
        todo = [(p[2], p[3], p[4]) for p in pending]
        pending.clear()
        lin = des.dr_linear(n / des.n)
        m = des.n
        for lo in range(0, len(todo), 8):
            chunk = todo[lo:lo + 8]
            ks = [c[0] for c in chunk]
            size = m * len(ks)
            if work[0].size < 2 * size:
                work[0] = np.empty(2 * m * 8)
            dy = work[0][:size].reshape((m, len(ks)), order="F")  # Y is Fortran-ordered
            tmp = work[0][size:2 * size].reshape((m, len(ks)), order="F")
            for j, (_, c, p) in enumerate(chunk):
                off = 0
                for a, b in segs:
                    np.subtract(Y[a:b, c], Y[a:b, p], out=dy[off:off + b - a, j])
                    off += b - a
            sums = lin["lt"] @ dy
            coef = np.empty((lin["r"].shape[1], len(ks)))
            for j, kk in enumerate(ks):
                est[kk], coef[:, j] = _dr.drdid_coef(sums[:, j], lin, m)
            dy *= lin["a"][:, None]
            dy += np.matmul(lin["r"], coef, out=tmp)
            cols = slice(ks[0], ks[-1] + 1) if ks[-1] - ks[0] == len(ks) - 1 else ks
            off = 0
            for a, b in segs:
                inf[a:b, cols] = dy[off:off + b - a]
                off += b - a

    for k, (g, cur, pre, post, ref) in enumerate(specs):
        ta, tb = blk[g]
        if ref:
            est[k] = 0.0
            n_tr[k] = tb - ta
            continue
        if control_group == "nevertreated":
            ranges = [never]
        else:
            thr = tl[max(cur, pre)] + anticipation
            ca = int(np.searchsorted(gkey, thr, side="right"))
            ranges = [(ca, ta), (tb, n)] if ta >= ca else [(ca, n)]
            ranges = [(a, b) for a, b in ranges if b > a]
        label = f"ATT({g:g},{tl[cur]:g})"
        # balanced DR: the estimator is linear in dy on a fixed design (_dr.Design.dr_linear);
        # the ATT(g, t) sharing a design are computed together by flush_linear()
        linear = balanced and bool(covs) and est_method == "dr"
        if linear:
            dy_t, dy_c = None, [None] * len(ranges)
        else:
            dy_t = Y[ta:tb, cur] - Y[ta:tb, pre]
            dy_c = [Y[a:b, cur] - Y[a:b, pre] for a, b in ranges]
        if balanced:
            ok_t = None
            ok_c = [None] * len(ranges)
            nt = tb - ta
            nc = sum(b - a for a, b in ranges)
        else:
            ok_t = np.isfinite(dy_t)
            ok_c = [np.isfinite(d) for d in dy_c]
            nt = int(ok_t.sum())
            nc = int(sum(o.sum() for o in ok_c))
            m_tr[k] = (tb - ta) - nt
            m_co[k] = sum(b - a for a, b in ranges) - nc
        n_tr[k], n_co[k] = nt, nc
        if nt == 0 or nc == 0:
            unest.append(f"{label}: {'no treated' if nt == 0 else 'no comparison'} unit observed "
                         f"in periods {tl[pre]:g} and {tl[cur]:g}")
            continue
        if nt < min_size or nc < min_size:
            small.append(f"{label} ({nt} treated, {nc} comparison)")
        if not covs:
            # closed form (reg = ipw = dr with an intercept only)
            wt = Ws[ta:tb]
            if ok_t is not None:
                wt = np.where(ok_t, wt, 0.0)
                dy_t = np.where(ok_t, dy_t, 0.0)
            st = wt.sum()
            mt = np.sum(wt * dy_t) / st
            sc, sy = 0.0, 0.0
            wcs = []
            for (a, b), d, o in zip(ranges, dy_c, ok_c):
                wc = Ws[a:b]
                if o is not None:
                    wc = np.where(o, wc, 0.0)
                    d[~o] = 0.0
                wcs.append(wc)
                sc += wc.sum()
                sy += np.sum(wc * d)
            mc = sy / sc
            est[k] = mt - mc
            col = inf[:, k]
            col[ta:tb] = (n / st) * wt * (dy_t - mt)
            for (a, b), d, wc in zip(ranges, dy_c, wcs):
                col[a:b] = (-n / sc) * wc * (d - mc)
            continue
        # covariates: DRDID estimator on the units of this comparison
        segs = [(ta, tb), *ranges]
        dy = None if linear else np.concatenate([dy_t, *dy_c])
        idx = None
        if ok_t is not None:
            idx = np.concatenate([np.arange(a, b) for a, b in segs])
            okm = np.concatenate([ok_t, *ok_c])
            idx, dy = idx[okm], dy[okm]
        key = (ta, tb, tuple(ranges), -1 if x_inv is not None else pre)
        try:
            des = designs.get(key) if ok_t is None else None
            if des is None:
                if idx is None:
                    idx = np.concatenate([np.arange(a, b) for a, b in segs])
                d = np.zeros(idx.size)
                d[:nt] = 1.0
                xm = x_inv[idx] if x_inv is not None else np.column_stack(
                    [np.ones(idx.size), X[:, idx, pre].T])
                des = _dr.Design(d, xm, Ws[idx])
                if ok_t is None:
                    designs.clear()  # one comparison group at a time keeps memory flat
                    designs[key] = des
            with np.errstate(over="ignore"):
                if linear:
                    des.dr_linear(n / des.n)  # fits the propensity score (may raise) now
                    if pending and pending[0][0] is not des:
                        flush_linear()
                    pending.append((des, segs, k, cur, pre))
                    continue
                a_k, if_k = fit(dy, des)
        except _dr._SingularFit as exc:
            unest.append(f"{label}: singular {est_method} design on its {nt} treated and {nc} "
                         f"comparison units ({exc})")
            continue
        est[k] = a_k
        if_k *= n / if_k.size
        if ok_t is None:  # contiguous segments: slice writes instead of a scatter
            off = 0
            for a, b in segs:
                inf[a:b, k] = if_k[off:off + b - a]
                off += b - a
        else:
            inf[idx, k] = if_k

    if pending:
        flush_linear()
    return _finish(_DenseIF(inf), est, None, specs, tl, n_tr, n_co, m_tr, m_co, small, unest,
                   min_size, where=where, meta=dict(
                       alpha=float(alpha), control_group=control_group, est_method=est_method,
                       base_period=base_period, anticipation=int(anticipation), covariates=covs,
                       weighted=weights is not None, n_units=n, n_periods=T, n_rows=n_rows,
                       n_rows_missing=n_rows_missing, outcome=outcome, unit_cohort=Gs,
                       unit_weights=Ws, unit_cluster=Cs, unit_ids=unit_vals[order[:n]]),
                   exclusions=exclusions, bootstrap=bootstrap, n_boot=int(n_boot),
                   boot_weights=boot_weights, seed=seed)


def _finish(store: _DenseIF | _BlockIF, est: np.ndarray, se_an: np.ndarray | None,
            specs: list[tuple[float, int, int, bool, bool]], tl: np.ndarray, n_tr: np.ndarray,
            n_co: np.ndarray, m_tr: np.ndarray, m_co: np.ndarray, small: list[str],
            unest: list[str], min_size: int, *, where: str, meta: dict, exclusions: list[str],
            bootstrap: bool, n_boot: int, boot_weights: str,
            seed: int | np.random.Generator | None) -> GroupTimeResult:
    """Warnings, SEs (analytic and bootstrap) and the result object, shared by both paths."""
    if small:
        warnings.warn(f"{where}: {len(small)} ATT(g,t) rest on fewer than {min_size} treated or "
                      f"comparison units; estimates and SEs are unreliable: "
                      + "; ".join(small[:6]) + (" ..." if len(small) > 6 else ""),
                      SmallCohortWarning, stacklevel=5)
    if unest:
        warnings.warn(f"{where}: {len(unest)} ATT(g,t) could not be estimated and are NaN: "
                      + "; ".join(unest[:6]) + (" ..." if len(unest) > 6 else ""),
                      SingularDesignWarning, stacklevel=5)
        exclusions.append(f"{len(unest)} ATT(g,t) not estimable: " + "; ".join(unest))
    n = meta["n_units"]
    K = len(specs)
    ref = np.array([s[4] for s in specs], bool)
    if se_an is None and isinstance(store, _DenseIF) and meta["unit_cluster"] is None:
        # unit-level SEs: one dot product per column of the (Fortran-ordered) IF, no copies
        se_an = np.array([math.sqrt(np.dot(col, col)) for col in store.mat.T]) / n
    elif se_an is None:
        se_an = np.array([_analytic_se(store.columns(np.array([k]))[:, 0], n,
                                       meta["unit_cluster"]) for k in range(K)])
    se_an = np.where(np.isfinite(est) & ~ref, se_an, np.nan)
    rng = _rng(seed)
    alpha = meta["alpha"]
    crit = float(stats.norm.ppf(1 - alpha / 2))
    se = se_an
    if bootstrap:
        se, crit = _bootstrap(store.columns(np.arange(K)), n, meta["unit_cluster"], n_boot,
                              alpha, rng, boot_weights)
        se = np.where(np.isfinite(est) & ~ref, se, np.nan)
    return GroupTimeResult(
        groups=np.array([s[0] for s in specs]), times=tl[[s[1] for s in specs]],
        base_times=tl[[s[2] for s in specs]], estimates=est, std_errors=se,
        std_errors_analytic=se_an, post=np.array([s[3] for s in specs], bool), n_treated=n_tr,
        n_control=n_co, n_treated_missing=m_tr, n_control_missing=m_co, reference=ref,
        crit_value=crit, bootstrap=bool(bootstrap), n_boot=n_boot if bootstrap else None,
        boot_weights=boot_weights, if_store=store, seed_rng=rng,
        exclusions=tuple(exclusions), **meta)


def _att_gt_closed_form(Y: np.ndarray, Ws: np.ndarray, Gs: np.ndarray, gkey: np.ndarray,
                        block_vals: np.ndarray, blk: dict, specs: list, tl: np.ndarray,
                        control_group: str, anticipation: int, min_size: int, *, where: str,
                        meta: dict, exclusions: list[str], bootstrap: bool, n_boot: int,
                        boot_weights: str, seed: int | np.random.Generator | None,
                        ) -> GroupTimeResult:
    """Balanced panel, no covariates, unit-level SEs: every ATT(g, t) and SE from block moments.

    With an intercept only, ATT(g, t) is a difference of weighted means of ``Y_t - Y_base`` and its
    variance ``sum w^2 (dy - m)^2 / S^2`` per group; both come from each cohort block's weighted
    column means and weighted Gram matrix of the (unit- and period-centred) outcomes, so the cost
    is one pass over the array plus ``O(K)`` scalar work. The influence functions stay implicit
    (:class:`_BlockIF`).
    """
    n, _ = Y.shape
    blocks = [blk[float(v)] for v in block_vals]
    B = len(blocks)
    bidx = {float(v): j for j, v in enumerate(block_vals)}
    sizes = np.array([b - a for a, b in blocks])
    mom = _block_moments(Y, Ws, blocks, unweighted=bool(np.all(Ws == 1.0)))
    s1 = np.array([m[0] for m in mom])
    s2 = np.array([m[1] for m in mom])
    K = len(specs)
    est = np.full(K, np.nan)
    se = np.full(K, np.nan)
    kappa = np.zeros((K, B))
    mean = np.zeros((K, B))
    n_tr = np.zeros(K, np.int64)
    n_co = np.zeros(K, np.int64)
    small: list[str] = []
    unest: list[str] = []
    cur_a = np.array([s[1] for s in specs])
    pre_a = np.array([s[2] for s in specs])
    for k, (g, c, p, post, ref) in enumerate(specs):
        bt = bidx[g]
        n_tr[k] = sizes[bt]
        if ref:
            est[k] = 0.0
            continue
        if control_group == "nevertreated":
            ctrl = [bidx[float("inf")]] if float("inf") in bidx else []
        else:
            thr = tl[max(c, p)] + anticipation
            ctrl = [j for j, v in enumerate(block_vals) if v > thr and j != bt]
        nc = int(sizes[ctrl].sum()) if ctrl else 0
        n_co[k] = nc
        label = f"ATT({g:g},{tl[c]:g})"
        if nc == 0:
            unest.append(f"{label}: no comparison unit")
            continue
        if sizes[bt] < min_size or nc < min_size:
            small.append(f"{label} ({sizes[bt]} treated, {nc} comparison)")
        _, _, mu_t, _, gr_t = mom[bt]
        m_t = mu_t[c] - mu_t[p]
        ss_t = gr_t[c, c] - 2.0 * gr_t[c, p] + gr_t[p, p]
        sc = float(s1[ctrl].sum())
        d_b = np.array([mom[j][2][c] - mom[j][2][p] for j in ctrl])
        m_c = float(np.sum(s1[ctrl] * d_b) / sc)
        ss_c = 0.0
        for j, db in zip(ctrl, d_b):
            _, _, _, q, gr = mom[j]
            delta = db - m_c
            ss_c += (gr[c, c] - 2.0 * gr[c, p] + gr[p, p] + 2.0 * delta * (q[c] - q[p])
                     + delta * delta * s2[j])
        est[k] = m_t - m_c
        se[k] = math.sqrt(max(ss_t, 0.0) / s1[bt] ** 2 + max(ss_c, 0.0) / sc**2)
        kappa[k, bt] = n / s1[bt]
        mean[k, bt] = m_t
        kappa[k, ctrl] = -n / sc
        mean[k, ctrl] = m_c
    # block means above are of the centred array; the IF store works on Y itself, so give it the
    # raw-scale means of the differences (centring shifts each unit by a constant: differences of
    # weighted means are unchanged, so m_t and m_c are already on the raw scale)
    store = _BlockIF(Y, Ws, blocks, cur_a, pre_a, kappa, mean)
    zeros = np.zeros(K, np.int64)
    return _finish(store, est, se, specs, tl, n_tr, n_co, zeros, zeros.copy(), small, unest,
                   min_size, where=where, meta=meta, exclusions=exclusions, bootstrap=bootstrap,
                   n_boot=n_boot, boot_weights=boot_weights, seed=seed)
