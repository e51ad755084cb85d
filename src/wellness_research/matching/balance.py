"""Covariate balance before and after matching, in the MatchIt/cobalt conventions.

What is computed, per covariate (and, on request, per square and pairwise interaction):

* **Means** of the treated and of the controls, unweighted before matching and weighted by the
  matching weights (``MatchResult.weights``) after.
* **Standardized mean difference** (SMD) ``(mean_t - mean_c) / s``. The standardization factor
  ``s`` is computed **once, in the full sample before matching**, and reused after matching, as
  MatchIt's ``summary.matchit`` and cobalt's ``bal.tab`` do: for the ATT the treated group's SD,
  for the ATC the control group's SD, for the ATE ``sqrt((s_t^2 + s_c^2) / 2)``. If that SD is 0
  the pooled SD is used instead (MatchIt's ``smd_denom``).
* **Binary covariates** (every value 0 or 1) are standardized too — the difference in proportions
  divided by ``sqrt(p (1 - p))`` of the reference group before matching — i.e. MatchIt's summary
  and cobalt's ``binary = "std"``, not cobalt's default ``binary = "raw"``. Their variance is
  ``p (1 - p)``, without the small-sample correction (MatchIt's ``wvar``, cobalt's ``col_w_sd``).
* **Variance ratio** ``var_t / var_c`` (continuous covariates only), with the weighted variance
  ``sum w (x - m)^2 * sum w / ((sum w)^2 - sum w^2)`` (reliability weights; R ``cov.wt``,
  cobalt ``col_w_sd``).
* **eCDF mean and max**: the mean and the maximum over the distinct values of the covariate of
  ``|F_t(x) - F_c(x)|``, with each group's weights summing to one (the maximum is the
  Kolmogorov–Smirnov statistic). The grid of distinct values is taken over all rows, as MatchIt's
  ``qqsum`` does. For binary covariates both equal ``|p_t - p_c|``.

References
----------
Ho, D., Imai, K., King, G., Stuart, E. A. (2011). MatchIt: Nonparametric preprocessing for
parametric causal inference. *Journal of Statistical Software* 42(8). ``summary.matchit`` and its
helpers ``bal1var``, ``smd_denom``, ``wvar``, ``qqsum`` (MatchIt 4.7, ``R/aux_functions.R``).

Greifer, N. (2024). cobalt: Covariate balance tables and plots. R package 4.5, ``col_w_sd``,
``col_w_smd``, ``col_w_ks``.

Austin, P. C. (2009). Balance diagnostics for comparing the distribution of baseline covariates
between treatment groups in propensity-score matched samples. *Statistics in Medicine* 28,
3083–3107 (thresholds 0.1 for |SMD|, 0.5–2 for variance ratios).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from .result import MatchResult

__all__ = ["BalanceTable", "balance", "table_one"]

_DEFAULT_THRESHOLDS: Mapping[str, float] = {"smd": 0.1, "variance_ratio": 2.0}

_COLUMNS = [
    "covariate", "type",
    "mean_treated_before", "mean_control_before", "mean_treated_after", "mean_control_after",
    "smd_before", "smd_after",
    "variance_ratio_before", "variance_ratio_after",
    "ecdf_mean_before", "ecdf_mean_after", "ecdf_max_before", "ecdf_max_after",
    "flag_smd", "flag_variance_ratio",
]


# --------------------------------------------------------------------------------------------
# weighted statistics (numpy; one column at a time)
# --------------------------------------------------------------------------------------------
def _is_binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * x) / np.sum(w))


def _wvar(x: np.ndarray, w: np.ndarray, binary: bool) -> float:
    """MatchIt ``wvar`` / cobalt ``col_w_sd``^2: p(1-p) for binary, reliability-weighted otherwise."""
    w = w / np.sum(w)
    m = float(np.sum(w * x))
    if binary:
        return m * (1.0 - m)
    denom = 1.0 - float(np.sum(w**2))
    if denom <= 0:
        return float("nan")
    return float(np.sum(w * (x - m) ** 2) / denom)


def _ecdf_stats(x: np.ndarray, treated: np.ndarray, w: np.ndarray, binary: bool) -> tuple[float, float]:
    """Mean and max over the distinct values of x of |F_t - F_c| (MatchIt ``qqsum``)."""
    if binary:
        d = abs(_wmean(x[treated], w[treated]) - _wmean(x[~treated], w[~treated]))
        return d, d
    wn = np.where(treated, w / np.sum(w[treated]), w / np.sum(w[~treated]))
    signed = np.where(treated, -wn, wn)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    cum = np.abs(np.cumsum(signed[order]))
    last = np.append(np.diff(xs) != 0, True)
    ediff = cum[last]
    return float(np.mean(ediff)), float(np.max(ediff))


def _std_denominator(x: np.ndarray, treated: np.ndarray, estimand: str, binary: bool) -> float:
    """MatchIt ``smd_denom`` in the full (unmatched) sample; pooled SD if the chosen one is 0."""
    ones = np.ones_like(x, dtype=float)
    var_t = _wvar(x[treated], ones[treated], binary)
    var_c = _wvar(x[~treated], ones[~treated], binary)
    if estimand == "att":
        s = np.sqrt(var_t)
    elif estimand == "atc":
        s = np.sqrt(var_c)
    else:
        s = np.sqrt((var_t + var_c) / 2.0)
    if not np.isfinite(s) or s < np.sqrt(np.finfo(float).eps):
        s = np.sqrt((var_t + var_c) / 2.0)
    return float(s)


def _one_variable(x: np.ndarray, treated: np.ndarray, w_after: np.ndarray, estimand: str) -> dict:
    binary = _is_binary(x)
    s = _std_denominator(x, treated, estimand, binary)
    out: dict = {"type": "binary" if binary else "continuous"}
    for when, w in (("before", np.ones_like(x, dtype=float)), ("after", w_after)):
        wt, wc = w[treated], w[~treated]
        if np.sum(wt) <= 0 or np.sum(wc) <= 0:
            out.update({f"mean_treated_{when}": np.nan, f"mean_control_{when}": np.nan,
                        f"smd_{when}": np.nan, f"variance_ratio_{when}": np.nan,
                        f"ecdf_mean_{when}": np.nan, f"ecdf_max_{when}": np.nan})
            continue
        mt, mc = _wmean(x[treated], wt), _wmean(x[~treated], wc)
        out[f"mean_treated_{when}"] = mt
        out[f"mean_control_{when}"] = mc
        out[f"smd_{when}"] = (mt - mc) / s if s > 0 else np.nan
        if binary:
            out[f"variance_ratio_{when}"] = np.nan
        else:
            vc = _wvar(x[~treated], wc, False)
            out[f"variance_ratio_{when}"] = _wvar(x[treated], wt, False) / vc if vc > 0 else np.nan
        out[f"ecdf_mean_{when}"], out[f"ecdf_max_{when}"] = _ecdf_stats(x, treated, w, binary)
    return out


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BalanceTable:
    """Balance statistics before and after matching, one row per covariate (or square/interaction).

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``covariate``, ``type`` (``"binary"``/``"continuous"``), ``mean_treated_before``,
        ``mean_control_before``, ``mean_treated_after``, ``mean_control_after``, ``smd_before``,
        ``smd_after``, ``variance_ratio_before``, ``variance_ratio_after`` (NaN for binary),
        ``ecdf_mean_before``, ``ecdf_mean_after``, ``ecdf_max_before``, ``ecdf_max_after``,
        ``flag_smd`` (|SMD after| > threshold), ``flag_variance_ratio`` (ratio after outside
        ``[1/t, t]``).
    estimand : {"att", "atc", "ate"}
        Decides the SMD denominator (see the module docstring).
    thresholds : mapping
        ``{"smd": ..., "variance_ratio": ...}`` used for the flags.
    n : pandas.DataFrame
        Units by group: all, matched, and effective sample size after matching
        (``(sum w)^2 / sum w^2``, MatchIt's ``ESS``).
    """

    table: pd.DataFrame
    estimand: str
    thresholds: Mapping[str, float]
    n: pd.DataFrame = field(repr=False)

    @property
    def max_abs_smd(self) -> float:
        """Largest |SMD| after matching."""
        return float(np.nanmax(np.abs(self.table["smd_after"].to_numpy(dtype=float))))

    @property
    def balanced(self) -> bool:
        """True when no covariate is flagged."""
        return not bool(self.table["flag_smd"].any() or self.table["flag_variance_ratio"].any())

    def tidy(self) -> pd.DataFrame:
        """Long table: one row per covariate × statistic × sample (columns covariate, statistic,
        sample, value)."""
        stats = ["mean_treated", "mean_control", "smd", "variance_ratio", "ecdf_mean", "ecdf_max"]
        rows = []
        for rec in self.table.to_dict("records"):
            for st in stats:
                for when in ("before", "after"):
                    rows.append({"covariate": rec["covariate"], "statistic": st, "sample": when,
                                 "value": rec[f"{st}_{when}"]})
        return pd.DataFrame(rows, columns=["covariate", "statistic", "sample", "value"])

    def summary(self) -> str:
        """Plain-text balance table (MatchIt-like)."""
        cols = ["covariate", "type", "smd_before", "smd_after", "variance_ratio_before",
                "variance_ratio_after", "ecdf_max_before", "ecdf_max_after"]
        lines = [
            f"Balance ({self.estimand.upper()}; SMD denominator from the unmatched sample; "
            f"thresholds |SMD| <= {self.thresholds['smd']}, variance ratio <= "
            f"{self.thresholds['variance_ratio']})",
            self.table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"),
            f"max |SMD| after matching: {self.max_abs_smd:.3f}; "
            f"flagged: {int(self.table['flag_smd'].sum() + self.table['flag_variance_ratio'].sum())}",
            "Sample sizes:",
            self.n.to_string(float_format=lambda v: f"{v:.1f}"),
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (self.table.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep=".")
                + self.n.to_html(float_format=lambda v: f"{v:.1f}"))


def _check_covariates(result: MatchResult, covariates: Sequence[str] | None, *, where: str) -> list[str]:
    if not isinstance(result, MatchResult):
        raise ConfigurationError(f"{where}: result must be a MatchResult, got {type(result).__name__}.")
    covs = list(result.covariates if covariates is None else covariates)
    if isinstance(covariates, str):
        raise ConfigurationError(f"{where}: covariates must be a sequence of column names, got the string {covariates!r}.")
    missing = [c for c in covs if c not in result.data.columns]
    if missing:
        raise ConfigurationError(f"{where}: covariates {missing} are not columns of the matched data.")
    for c in covs:
        if not (pd.api.types.is_numeric_dtype(result.data[c]) or pd.api.types.is_bool_dtype(result.data[c])):
            raise ConfigurationError(
                f"{where}: covariate {c!r} has dtype {result.data[c].dtype}; balance needs numeric or "
                "0/1 columns (encode categories as indicators)."
            )
        if result.data[c].isna().any():
            raise ConfigurationError(f"{where}: covariate {c!r} has missing values.")
    return covs


def balance(
    result: MatchResult,
    *,
    covariates: Sequence[str] | None = None,
    squares: bool = False,
    interactions: bool = False,
    thresholds: Mapping[str, float] | None = None,
) -> BalanceTable:
    """Balance table before and after matching (MatchIt ``summary`` / cobalt ``bal.tab`` conventions).

    Parameters
    ----------
    result : MatchResult
        The matched design.
    covariates : sequence of str, optional
        Columns to assess; default ``result.covariates``. Numeric or 0/1 columns.
    squares : bool, default False
        Add the square of every continuous covariate (named ``"x²"``).
    interactions : bool, default False
        Add every pairwise product (named ``"x × y"``); products that are identically 0, or equal
        to one of their factors, are left out (as MatchIt does).
    thresholds : mapping, default ``{"smd": 0.1, "variance_ratio": 2.0}``
        Flag |SMD after| above ``smd`` and variance ratios after outside ``[1/v, v]``.

    Returns
    -------
    BalanceTable

    Raises
    ------
    ConfigurationError
        Unknown covariates, non-numeric or missing values, bad thresholds.

    Notes
    -----
    The SMD denominator is computed before matching and reused after (so that a change in the
    SMD is a change in the mean difference, not in the yardstick); binary covariates are
    standardized as in MatchIt's summary (cobalt ``binary = "std"``). See the module docstring.

    References
    ----------
    Ho, Imai, King & Stuart (2011), MatchIt ``summary.matchit``; Greifer, cobalt ``col_w_smd``,
    ``col_w_sd``; Austin (2009), Statistics in Medicine 28:3083 (the 0.1 threshold).

    Examples
    --------
    >>> import pandas as pd
    >>> from wellness_research.matching import match
    >>> df = pd.DataFrame({"t": [1, 1, 0, 0, 0], "p": [0.8, 0.5, 0.75, 0.5, 0.1], "x": [1, 2, 3, 4, 5]})
    >>> m = match(df, treatment="t", covariates=["x"], distance="given", score="p", caliper=0.5)
    >>> bt = balance(m)
    >>> bt.table[["covariate", "smd_before", "smd_after"]].round(3).to_numpy().tolist()
    [['x', -3.536, -2.828]]
    """
    covs = _check_covariates(result, covariates, where="balance")
    th = dict(_DEFAULT_THRESHOLDS)
    if thresholds is not None:
        unknown = set(thresholds) - set(th)
        if unknown:
            raise ConfigurationError(
                f"balance: thresholds has unknown keys {sorted(unknown)}; valid keys are {sorted(th)}."
            )
        th.update({k: float(v) for k, v in thresholds.items()})
    if th["smd"] <= 0 or th["variance_ratio"] < 1:
        raise ConfigurationError(
            f"balance: thresholds must have smd > 0 and variance_ratio >= 1; got {th}."
        )

    treated = result.treated
    w = np.asarray(result.weights, dtype=float)
    cols = {c: result.data[c].to_numpy(dtype=float) for c in covs}
    variables: dict[str, np.ndarray] = dict(cols)
    if squares:
        for c in covs:
            if not _is_binary(cols[c]):
                variables[f"{c}²"] = cols[c] ** 2
    if interactions:
        eps = np.sqrt(np.finfo(float).eps)
        for a, b in combinations(covs, 2):
            prod = cols[a] * cols[b]
            if np.all(np.abs(prod) < eps) or np.all(np.abs(prod - cols[a]) < eps) or np.all(np.abs(prod - cols[b]) < eps):
                continue
            variables[f"{a} × {b}"] = prod

    rows = []
    for name, x in variables.items():
        rec = {"covariate": name}
        rec.update(_one_variable(x, treated, w, result.estimand))
        rows.append(rec)
    table = pd.DataFrame(rows)
    vr = table["variance_ratio_after"].to_numpy(dtype=float)
    table["flag_smd"] = np.abs(table["smd_after"].to_numpy(dtype=float)) > th["smd"]
    table["flag_variance_ratio"] = np.isfinite(vr) & ((vr > th["variance_ratio"]) | (vr < 1 / th["variance_ratio"]))
    table = table[_COLUMNS]

    def ess(v: np.ndarray) -> float:
        return float(v.sum() ** 2 / np.sum(v**2)) if np.sum(v) > 0 else 0.0

    n = pd.DataFrame(
        {
            "treated": [int(treated.sum()), int(((w > 0) & treated).sum()), ess(w[treated])],
            "control": [int((~treated).sum()), int(((w > 0) & ~treated).sum()), ess(w[~treated])],
        },
        index=pd.Index(["all", "matched", "matched (ESS)"], name="sample"),
    )
    return BalanceTable(table=table, estimand=result.estimand, thresholds=th, n=n)


def table_one(
    result: MatchResult,
    *,
    covariates: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """A publishable "Table 1" of the matched sample: mean (SD) or n (%) per group, and the SMD.

    Parameters
    ----------
    result : MatchResult
    covariates : sequence of str, optional
        Default ``result.covariates``.
    labels : mapping, optional
        Display label per covariate (e.g. the data dictionary's Japanese labels).

    Returns
    -------
    pandas.DataFrame
        Index: ``"n"`` then one row per covariate (its label); columns ``treated``, ``control``
        (strings: weighted ``mean (SD)`` for continuous, weighted ``n (%)`` for binary) and
        ``smd`` (after matching, float; the denominator as in :func:`balance`). The ``n`` row holds
        the weighted group sizes (sum of matching weights).

    Notes
    -----
    Counts here are weighted analysis output and are **not** small-cell suppressed. A version
    that leaves the analysis environment (report, publication, open data) must be passed through
    :func:`wellness_research.privacy.suppress_small_cells` or equivalently checked first.
    """
    covs = _check_covariates(result, covariates, where="table_one")
    labels = dict(labels or {})
    bal = balance(result, covariates=covs).table.set_index("covariate")
    treated = result.treated
    w = np.asarray(result.weights, dtype=float)
    rows = {"n": {"treated": f"{w[treated].sum():,.1f}", "control": f"{w[~treated].sum():,.1f}", "smd": np.nan}}
    for c in covs:
        x = result.data[c].to_numpy(dtype=float)
        row: dict = {}
        for group, mask in (("treated", treated), ("control", ~treated)):
            xw, ww = x[mask], w[mask]
            if ww.sum() <= 0:
                row[group] = "."
                continue
            if _is_binary(x):
                cnt = float(np.sum(ww * xw))
                row[group] = f"{cnt:,.1f} ({100 * cnt / ww.sum():.1f}%)"
            else:
                m = _wmean(xw, ww)
                sd = np.sqrt(_wvar(xw, ww, False)) if (ww > 0).sum() > 1 else float("nan")
                row[group] = f"{m:,.2f} ({sd:,.2f})"
        row["smd"] = float(bal.loc[c, "smd_after"])
        rows[labels.get(c, c)] = row
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["treated", "control", "smd"])
    out.index.name = "variable"
    return out
