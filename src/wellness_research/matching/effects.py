"""Treatment effects on a matched design, with standard errors valid for that design.

Point estimate
    The matching-weighted difference (or ratio) of outcome means for the estimand of the design
    (ATT, ATC, ATE: ``MatchResult.estimand``); with ``adjust=[...]`` a g-computation estimate from
    an outcome model fitted on the matched sample (MatchIt vignette "Estimating effects after
    matching").

Standard errors (``se=``)
    ``"cluster"``
        Sandwich (cluster-robust, CR1: ``G/(G-1) · (N-1)/(N-K)``, as Stata and R
        ``sandwich::vcovCL(type = "HC1")``) clustered on the matched set (``subclass``), from the
        weighted outcome model: WLS of the outcome on the treatment (and, with ``adjust``, the
        covariates and their interactions with the treatment); logistic regression for a binary
        outcome with ``adjust``. The effect is a smooth function of the coefficients and its
        variance is obtained by the delta method on that covariance, treating the target units'
        covariates as fixed (what ``marginaleffects::avg_comparisons(vcov = ~subclass)`` does).
        Valid for matching without replacement, full matching, exact and coarsened exact matching.
        After matching **with** replacement (ATT/ATC) the model is fitted on the
        ``get_matches()`` form (a control appears once per set that uses it) and the covariance is
        two-way clustered on matched set and unit (Cameron, Gelbach & Miller 2011), as the MatchIt
        vignette recommends.
    ``"abadie_imbens"``
        Abadie & Imbens (2006) variance of the matching estimator of the (population) average
        treatment effect on the treated, Theorem 7:

        ``V = 1/N1² [ Σ_{i focal} (Ŷ_i(1) − Ŷ_i(0) − τ̂)²  +  Σ_{j matched} (K_j² − K'_j) σ̂²(X_j) ]``

        with ``K_j = Σ_i w_ij`` (how often control *j* is used, each use weighted by its share
        ``w_ij`` of the matched set: 1/M, split further among tied controls) and
        ``K'_j = Σ_i w_ij²``. Without ties and with M matches this is the paper's
        ``K_M(j)(K_M(j) − 1)/M²``; with ties it is R ``Matching``'s ``Kcount`` / ``KKcount``
        (``Match(..., ties = TRUE)``, the ``se`` it reports, i.e. ``SAMPLE = FALSE``).
        ``σ̂²(X_j)`` is AI (2006) eq. (14): the variance of the outcome among unit *j* and its
        ``var_matches = J`` nearest units **of the same group** (ties included), on the matching
        score (``J = 1`` gives ``(Y_j − Y_l)²/2``) — R ``Matching``'s ``Var.calc = J``. The
        neighbours are found on the propensity score (on the logit scale when the design matched on
        the logit, otherwise the probability) or, when the design has no score, on the numeric
        covariates scaled by their SDs (R ``Matching``'s default ``Weight = 1``); exact strata are
        not imposed on this search.
        ``var_matches = 0`` reproduces R ``Matching``'s default ``Var.calc = 0`` (homoskedastic:
        ``σ̂² = ½ Σ w_ij (Y_i − Y_j − τ̂)² / Σ w_ij``). The ATC is the mirror image (roles of the
        groups exchanged). For the ATE (``match(..., method="nearest", replace=True,
        estimand="ate")``: every unit matched to the other group) it is Theorem 6:
        ``V = 1/N² [ Σ_i (Ŷ_i(1) − Ŷ_i(0) − τ̂)² + Σ_i (K_i² − K'_i + 2K_i) σ̂²(X_i) ]``, the
        paper's ``(K/M)² + (2M − 1)/M · K/M`` without ties (tests/test_effects.py checks it
        against a direct transcription). The uncertainty of an *estimated* propensity score is not included
        (Abadie & Imbens 2016 give that correction); the SE is the one for matching on a known
        score.
    ``"bootstrap"``
        Cluster (block) bootstrap over matched sets: sets are drawn with replacement and the whole
        estimate (including the outcome model) is recomputed (Austin & Small 2014). SE is the SD of
        the bootstrap estimates, the interval is the percentile interval.
    ``"auto"``
        ``"abadie_imbens"`` when the design matched with replacement, ``"cluster"`` otherwise.

Risk ratio
    For ``effect="ratio"`` the estimate is ``μ1/μ0``; the inference is on ``log(μ1/μ0)``
    (delta method on the cluster-robust covariance, or bootstrap): ``std_error`` is the SE of the
    **log** ratio and the interval is ``exp(log RR ± z·SE)``.

All p-values and intervals (except the bootstrap percentile interval) use the normal
distribution, as R ``Matching`` and ``marginaleffects`` do.

References
----------
Abadie, A., Imbens, G. W. (2006). Large sample properties of matching estimators for average
treatment effects. *Econometrica* 74(1), 235–267 (Theorem 7; eq. (14)).
Abadie, A., Imbens, G. W. (2016). Matching on the estimated propensity score. *Econometrica* 84(2).
Sekhon, J. S. (2011). Multivariate and propensity score matching software with automated balance
optimization: the Matching package for R. *Journal of Statistical Software* 42(7)
(``Matching:::RmatchLoop``: ``Kcount``, ``KKcount``, ``var.pop``).
Greifer, N., Stuart, E. A. MatchIt vignette "Estimating effects after matching" (MatchIt 4.7).
Austin, P. C., Small, D. S. (2014). The use of bootstrapping when using propensity-score matching
without replacement. *Statistics in Medicine* 33, 4306–4319.
Cameron, A. C., Gelbach, J. B., Miller, D. L. (2011). Robust inference with multiway clustering.
*Journal of Business & Economic Statistics* 29(2), 238–249.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ..errors import ConfigurationError
from .result import MatchResult

__all__ = ["EffectResult", "EffectScale", "OutcomeType", "SEMethod", "estimate_effect"]

OutcomeType = Literal["auto", "continuous", "binary"]
EffectScale = Literal["difference", "ratio"]
SEMethod = Literal["auto", "cluster", "abadie_imbens", "bootstrap"]

_TIDY_COLUMNS = ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]


@dataclass(frozen=True, eq=False)
class EffectResult:
    """An effect estimate on a matched design.

    Attributes
    ----------
    estimate : float
        Difference (``effect="difference"``) or ratio (``effect="ratio"``) of the outcome means.
    std_error : float
        SE of the estimate; for a ratio, SE of the **log** ratio.
    conf_low, conf_high : float
        ``1 - alpha`` interval (on the ratio scale for a ratio).
    p_value : float
        Two-sided, for no effect (difference 0 / log ratio 0).
    n_treated, n_control : int
        Distinct treated and control units with positive matching weight.
    estimand : {"att", "atc", "ate"}
    effect : {"difference", "ratio"}
    method : str
        How the SE was computed: ``"cluster"``, ``"cluster (two-way: set, unit)"``,
        ``"abadie_imbens"``, ``"bootstrap"``.
    outcome : str
    outcome_type : {"continuous", "binary"}
    mean_treated, mean_control : float
        (Predicted) potential-outcome means for the target population.
    adjust : tuple of str
        Covariates of the g-computation outcome model (empty: unadjusted).
    alpha : float
    n_clusters : int or None
        Matched sets (cluster SE / bootstrap).
    n_bootstrap : int or None
    notes : tuple of str
    """

    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    p_value: float
    n_treated: int
    n_control: int
    estimand: str
    effect: str
    method: str
    outcome: str
    outcome_type: str
    mean_treated: float
    mean_control: float
    adjust: tuple[str, ...] = ()
    alpha: float = 0.05
    n_clusters: int | None = None
    n_bootstrap: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def term(self) -> str:
        """Label of the estimate, e.g. ``"ATT (risk ratio)"``."""
        scale = {
            ("binary", "difference"): "risk difference",
            ("binary", "ratio"): "risk ratio",
            ("continuous", "difference"): "difference in means",
            ("continuous", "ratio"): "ratio of means",
        }[(self.outcome_type, self.effect)]
        return f"{self.estimand.upper()} ({scale})"

    def tidy(self) -> pd.DataFrame:
        """One row: term, estimate, std_error, conf_low, conf_high, p_value, n (matched units)."""
        return pd.DataFrame(
            [[self.term, self.estimate, self.std_error, self.conf_low, self.conf_high, self.p_value,
              self.n_treated + self.n_control]],
            columns=_TIDY_COLUMNS,
        )

    def summary(self) -> str:
        """Plain-text summary."""
        level = f"{100 * (1 - self.alpha):g}%"
        se_note = " (SE of log ratio)" if self.effect == "ratio" else ""
        lines = [
            f"Effect of treatment on {self.outcome}: {self.term}",
            f"  estimate   {self.estimate: .4f}",
            f"  std.error  {self.std_error: .4f}{se_note}   [{self.method}]",
            f"  {level} CI     [{self.conf_low:.4f}, {self.conf_high:.4f}]   p = {self.p_value:.4g}",
            f"  potential-outcome means: treated {self.mean_treated:.4f}, control {self.mean_control:.4f}",
            f"  matched units: {self.n_treated} treated, {self.n_control} control"
            + (f"; {self.n_clusters} matched sets" if self.n_clusters is not None else ""),
        ]
        if self.adjust:
            lines.append(f"  g-computation adjusted for: {', '.join(self.adjust)}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4f}")


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _check_literal(value: object, alias: object, name: str) -> None:
    valid = get_args(alias)
    if value not in valid:
        raise ConfigurationError(f"estimate_effect: {name}={value!r} is not valid; use one of {list(valid)}.")


# --------------------------------------------------------------------------------------------
# the analysis sample: rows (possibly repeated), weights, cluster ids
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Sample:
    rows: np.ndarray  # row positions in result.data (may repeat)
    w: np.ndarray
    clusters: tuple[np.ndarray, ...]  # one (one-way) or two (two-way) id arrays
    target: np.ndarray  # bool: rows of the target population for the g-computation


def _analysis_sample(result: MatchResult) -> _Sample:
    treated = result.treated
    w_all = np.asarray(result.weights, dtype=float)
    if result.replace and result.estimand in ("att", "atc") and len(result.pairs) > 0:
        focal_col = "treated" if result.estimand == "att" else "control"
        other_col = "control" if focal_col == "treated" else "treated"
        p = result.pairs
        focal = p.drop_duplicates(["subclass", focal_col])
        rows = np.concatenate([focal[focal_col].to_numpy(), p[other_col].to_numpy()]).astype(int)
        sets = np.concatenate([focal["subclass"].to_numpy(), p["subclass"].to_numpy()]).astype(int)
        w = np.concatenate([np.ones(len(focal)), p["weight"].to_numpy(dtype=float)])
        keep = w > 0
        rows, sets, w = rows[keep], sets[keep], w[keep]
        is_focal = treated[rows] if result.estimand == "att" else ~treated[rows]
        return _Sample(rows=rows, w=w, clusters=(sets, rows), target=is_focal)
    rows = np.flatnonzero(w_all > 0)
    sub = np.asarray(result.subclass, dtype=np.int64)[rows].copy()
    lone = sub < 0
    if lone.any():  # a weighted unit in no set is its own cluster
        sub[lone] = sub.max(initial=0) + 1 + np.arange(lone.sum())
    if result.estimand == "att":
        target = treated[rows]
    elif result.estimand == "atc":
        target = ~treated[rows]
    else:
        target = np.ones(len(rows), dtype=bool)
    return _Sample(rows=rows, w=w_all[rows], clusters=(sub,), target=target)


# --------------------------------------------------------------------------------------------
# outcome model, g-computation, sandwich
# --------------------------------------------------------------------------------------------
def _design(t: np.ndarray, x: np.ndarray | None) -> np.ndarray:
    cols = [np.ones_like(t), t]
    if x is not None and x.shape[1] > 0:
        cols += [x[:, k] for k in range(x.shape[1])]
        cols += [t * x[:, k] for k in range(x.shape[1])]
    return np.column_stack(cols)


def _cluster_meat(scores: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, int]:
    _, inv = np.unique(groups, return_inverse=True)
    g = int(inv.max()) + 1
    summed = np.zeros((g, scores.shape[1]))
    np.add.at(summed, inv, scores)
    return summed.T @ summed, g


def _sandwich(bread: np.ndarray, scores: np.ndarray, clusters: tuple[np.ndarray, ...]) -> tuple[np.ndarray, int]:
    """CR1 cluster-robust covariance; two-way = V1 + V2 − V12 (Cameron, Gelbach & Miller 2011)."""
    n, k = scores.shape
    binv = np.linalg.pinv(bread)

    def one(groups: np.ndarray) -> tuple[np.ndarray, int]:
        meat, g = _cluster_meat(scores, groups)
        adj = (g / (g - 1)) * ((n - 1) / (n - k)) if g > 1 and n > k else float("nan")
        return adj * binv @ meat @ binv, g

    if len(clusters) == 1:
        return one(clusters[0])
    v1, g1 = one(clusters[0])
    v2, _ = one(clusters[1])
    pair_id = np.unique(np.column_stack(clusters), axis=0, return_inverse=True)[1].ravel()
    v12, _ = one(pair_id)
    return v1 + v2 - v12, g1


def _gcomp(y, t, x, w, target, binary_model, effect):
    """Fit the outcome model; return (mu1, mu0, theta, jac, params, bread, scores)."""
    z = _design(t, x)
    if binary_model:
        model = sm.GLM(y, z, family=sm.families.Binomial(), var_weights=w)
        params = np.asarray(model.fit(maxiter=100).params)
        mu = 1.0 / (1.0 + np.exp(-(z @ params)))
        h = mu * (1 - mu)
    else:
        params = np.asarray(sm.WLS(y, z, weights=w).fit().params)
        mu = z @ params
        h = np.ones_like(mu)
    bread = (z * (w * h)[:, None]).T @ z
    scores = z * (w * (y - mu))[:, None]
    tw = w[target]
    xt = None if x is None else x[target]
    z1 = _design(np.ones(target.sum()), xt)
    z0 = _design(np.zeros(target.sum()), xt)
    if binary_model:
        p1 = 1.0 / (1.0 + np.exp(-(z1 @ params)))
        p0 = 1.0 / (1.0 + np.exp(-(z0 @ params)))
        d1, d0 = z1 * (p1 * (1 - p1))[:, None], z0 * (p0 * (1 - p0))[:, None]
    else:
        p1, p0, d1, d0 = z1 @ params, z0 @ params, z1, z0
    mu1, mu0 = np.average(p1, weights=tw), np.average(p0, weights=tw)
    j1, j0 = np.average(d1, axis=0, weights=tw), np.average(d0, axis=0, weights=tw)
    if effect == "difference":
        theta, jac = mu1 - mu0, j1 - j0
    else:
        if mu1 <= 0 or mu0 <= 0:
            raise ConfigurationError(
                f"estimate_effect: effect='ratio' needs positive outcome means; got {mu1:.4g} (treated) "
                f"and {mu0:.4g} (control)."
            )
        theta, jac = math.log(mu1 / mu0), j1 / mu1 - j0 / mu0
    return float(mu1), float(mu0), float(theta), jac, bread, scores


# --------------------------------------------------------------------------------------------
# Abadie–Imbens
# --------------------------------------------------------------------------------------------
def _matching_score(result: MatchResult) -> np.ndarray:
    """1-D score on the matching scale, or covariates scaled by their SD (R Matching Weight=1)."""
    if result.propensity is not None:
        p = np.clip(np.asarray(result.propensity, dtype=float), 1e-12, 1 - 1e-12)
        s = np.log(p / (1 - p)) if result.distance == "logit" else p
        return s[:, None]
    cols = [c for c in result.covariates if pd.api.types.is_numeric_dtype(result.data[c])]
    if not cols:
        raise ConfigurationError(
            "estimate_effect: se='abadie_imbens' needs a propensity score or numeric covariates to "
            "find same-group neighbours for the conditional variance."
        )
    x = result.data[cols].to_numpy(dtype=float)
    sd = x.std(axis=0, ddof=1)
    sd[~(sd > 0)] = 1.0
    return x / sd


def _same_group_variance(y: np.ndarray, s: np.ndarray, members: np.ndarray, needed: np.ndarray, j: int) -> np.ndarray:
    """AI (2006) eq. (14): var of Y among each needed unit and its J nearest same-group units (ties in)."""
    out = np.empty(len(needed))
    ms = s[members]
    scale = max(1.0, float(np.nanmax(np.abs(ms)))) if ms.size else 1.0
    tol = 1e-9 * scale
    for k, unit in enumerate(needed):
        d = np.sqrt(np.sum((ms - s[unit]) ** 2, axis=1))
        d[members == unit] = np.inf
        jj = min(j, len(d) - 1)
        if jj < 1:
            out[k] = np.nan
            continue
        dj = np.partition(d, jj - 1)[jj - 1]
        near = members[d <= dj + tol]
        vals = np.concatenate([[y[unit]], y[near]])
        out[k] = np.var(vals, ddof=1)
    return out


def _abadie_imbens(result: MatchResult, y: np.ndarray, var_matches: int) -> tuple[float, float, float, float]:
    """Return (estimate, se, mean focal outcome, mean matched outcome) — AI (2006) Theorem 7."""
    att = result.estimand == "att"
    focal_col, other_col = ("treated", "control") if att else ("control", "treated")
    p = result.pairs[["subclass", focal_col, other_col, "weight"]]
    p = p[p["weight"].to_numpy(dtype=float) > 0]
    focal = p[focal_col].to_numpy(dtype=int)
    other = p[other_col].to_numpy(dtype=int)
    wij = p["weight"].to_numpy(dtype=float)
    # normalise so the matches of each focal unit in each set share weight 1
    wsum = pd.Series(wij).groupby([p["subclass"].to_numpy(), focal]).transform("sum").to_numpy()
    wij = wij / wsum
    n = len(y)
    yhat_other = np.bincount(focal, weights=wij * y[other], minlength=n)
    nsets = np.bincount(focal, weights=wij, minlength=n)  # = number of sets a focal unit heads
    focal_units = np.flatnonzero(nsets > 0)
    imputed = yhat_other[focal_units] / nsets[focal_units]
    sign = 1.0 if att else -1.0
    ycaus = sign * (y[focal_units] - imputed)
    n1 = len(focal_units)
    est = float(ycaus.mean())
    kcount = np.bincount(other, weights=wij, minlength=n)
    kkcount = np.bincount(other, weights=wij**2, minlength=n)
    used = np.flatnonzero(kcount > 0)
    if var_matches == 0:
        tau = sign * (y[focal] - y[other])
        sig2 = np.full(len(used), 0.5 * np.sum(wij * (tau - est) ** 2) / np.sum(wij))
    else:
        s = _matching_score(result)
        group = result.treated if not att else ~result.treated
        members = np.flatnonzero(group)
        sig2 = _same_group_variance(y, s, members, used, var_matches)
    var = (np.sum((ycaus - est) ** 2) + np.sum((kcount[used] ** 2 - kkcount[used]) * sig2)) / n1**2
    m_focal = float(y[focal_units].mean())
    m_other = float(imputed.mean())
    return est, float(np.sqrt(var)), (m_focal if att else m_other), (m_other if att else m_focal)


def _abadie_imbens_ate(result: MatchResult, y: np.ndarray, var_matches: int) -> tuple[float, float, float, float]:
    """ATE and its AI (2006) variance after matching with replacement in both directions.

    Every unit ``i`` heads one set of matches from the other group (``result.subclass[i]``);
    ``Ŷ_i(w)`` is its own outcome for its own treatment and the weighted mean of its matches for the
    other, ``τ̂ = mean_i(Ŷ_i(1) − Ŷ_i(0))`` over the units with matches, and (Theorem 6, with R
    Matching's generalisation to ties: ``K_i = Σ w_ij``, ``K'_i = Σ w_ij²`` over the sets that use
    ``i``)

        V̂ = N⁻² [ Σ_i (Ŷ_i(1) − Ŷ_i(0) − τ̂)² + Σ_i (K_i² − K'_i + 2 K_i) σ̂²(X_i, W_i) ],

    which for ``M`` matches without ties is the paper's ``(K/M)² + (2M − 1)/M · K/M``.
    """
    treated = result.treated
    n = len(y)
    sub = np.asarray(result.subclass, dtype=np.int64)
    p = result.pairs[["subclass", "treated", "control", "weight"]]
    p = p[p["weight"].to_numpy(dtype=float) > 0]
    sid = p["subclass"].to_numpy(dtype=np.int64)
    head = np.full(int(sub.max(initial=-1)) + 1, -1, dtype=np.int64)
    heads = np.flatnonzero(sub >= 0)
    head[sub[heads]] = heads
    focal = head[sid]
    t_row, c_row = p["treated"].to_numpy(dtype=int), p["control"].to_numpy(dtype=int)
    other = np.where(treated[focal], c_row, t_row)
    wij = p["weight"].to_numpy(dtype=float)
    wij = wij / np.bincount(sid, weights=wij)[sid]  # each set's matches share weight 1
    imputed_sum = np.bincount(focal, weights=wij * y[other], minlength=n)
    has = np.bincount(focal, weights=wij, minlength=n) > 0
    units = np.flatnonzero(has)
    imputed = imputed_sum[units]
    diff = np.where(treated[units], y[units] - imputed, imputed - y[units])
    est = float(diff.mean())
    kcount = np.bincount(other, weights=wij, minlength=n)
    kkcount = np.bincount(other, weights=wij**2, minlength=n)
    used = np.flatnonzero(kcount > 0)
    if var_matches == 0:
        tau = np.where(treated[focal], y[focal] - y[other], y[other] - y[focal])
        sig2 = np.full(len(used), 0.5 * np.sum(wij * (tau - est) ** 2) / np.sum(wij))
    else:
        s = _matching_score(result)
        sig2 = np.empty(len(used))
        for group in (treated, ~treated):
            sel = group[used]
            sig2[sel] = _same_group_variance(y, s, np.flatnonzero(group), used[sel], var_matches)
    reuse = kcount[used] ** 2 - kkcount[used] + 2.0 * kcount[used]
    var = (np.sum((diff - est) ** 2) + np.sum(reuse * sig2)) / len(units) ** 2
    y1 = np.where(treated[units], y[units], imputed)
    y0 = np.where(treated[units], imputed, y[units])
    return est, float(np.sqrt(var)), float(y1.mean()), float(y0.mean())


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------
def estimate_effect(
    matched: MatchResult,
    *,
    outcome: str,
    outcome_type: OutcomeType = "auto",
    effect: EffectScale = "difference",
    adjust: Sequence[str] | None = None,
    se: SEMethod = "auto",
    alpha: float = 0.05,
    n_bootstrap: int = 999,
    seed: int | np.random.Generator | None = None,
    var_matches: int = 1,
) -> EffectResult:
    """Estimate the treatment effect on a matched design with a design-valid standard error.

    Parameters
    ----------
    matched : MatchResult
        The matched design (its ``estimand`` is the estimand of the effect).
    outcome : str
        Outcome column (numeric; 0/1 for a binary outcome). Missing values in matched rows raise.
    outcome_type : {"auto", "continuous", "binary"}, default "auto"
        ``"auto"``: binary when every matched value is 0 or 1.
    effect : {"difference", "ratio"}, default "difference"
        Difference (risk difference for a binary outcome) or ratio (risk ratio) of the means.
    adjust : sequence of str, optional
        Covariates for a g-computation outcome model on the matched sample (treatment ×
        covariate interactions; logistic for a binary outcome, linear otherwise).
    se : {"auto", "cluster", "abadie_imbens", "bootstrap"}, default "auto"
        See the module docstring. ``"auto"``: Abadie–Imbens with replacement, cluster otherwise.
    alpha : float, default 0.05
        ``1 - alpha`` intervals.
    n_bootstrap : int, default 999
        Replicates for ``se="bootstrap"``.
    seed : int, numpy.random.Generator or None
        Randomness of the bootstrap only.
    var_matches : int, default 1
        ``J`` of AI (2006) eq. (14) for ``se="abadie_imbens"``; ``0`` = homoskedastic (R
        ``Matching``'s default ``Var.calc = 0``).

    Returns
    -------
    EffectResult

    Raises
    ------
    ConfigurationError
        Invalid options, missing columns, or a combination that has no valid SE here
        (Abadie–Imbens with ``adjust``, with a ratio, for the ATE, or without matched pairs).

    References
    ----------
    Abadie & Imbens (2006), Econometrica 74(1):235–267, Theorem 7 and eq. (14); MatchIt vignette
    "Estimating effects after matching"; Austin & Small (2014), Stat Med 33:4306.

    Examples
    --------
    >>> import pandas as pd
    >>> from wellness_research.matching import match
    >>> df = pd.DataFrame({"t": [1, 1, 0, 0, 0], "p": [0.8, 0.5, 0.75, 0.5, 0.1],
    ...                    "x": [1, 2, 3, 4, 5], "y": [10.0, 14.0, 7.0, 9.0, 1.0]})
    >>> m = match(df, treatment="t", covariates=["x"], distance="given", score="p", caliper=0.5)
    >>> res = estimate_effect(m, outcome="y")
    >>> round(res.estimate, 2), res.method
    (4.0, 'cluster')
    """
    if not isinstance(matched, MatchResult):
        raise ConfigurationError(f"estimate_effect: matched must be a MatchResult, got {type(matched).__name__}.")
    _check_literal(outcome_type, OutcomeType, "outcome_type")
    _check_literal(effect, EffectScale, "effect")
    _check_literal(se, SEMethod, "se")
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ConfigurationError(f"estimate_effect: alpha={alpha!r} must be in (0, 1).")
    if not (isinstance(n_bootstrap, int | np.integer) and n_bootstrap >= 2):
        raise ConfigurationError(f"estimate_effect: n_bootstrap={n_bootstrap!r} must be an integer >= 2.")
    if not (isinstance(var_matches, int | np.integer) and var_matches >= 0):
        raise ConfigurationError(f"estimate_effect: var_matches={var_matches!r} must be an integer >= 0.")
    data = matched.data
    if outcome not in data.columns:
        raise ConfigurationError(f"estimate_effect: outcome {outcome!r} is not a column of the matched data.")
    adjust_t: tuple[str, ...] = tuple(adjust or ())
    if isinstance(adjust, str):
        raise ConfigurationError(f"estimate_effect: adjust must be a sequence of column names, got the string {adjust!r}.")
    missing = [c for c in adjust_t if c not in data.columns]
    if missing:
        raise ConfigurationError(f"estimate_effect: adjust columns {missing} are not columns of the matched data.")
    if not pd.api.types.is_numeric_dtype(data[outcome]) and not pd.api.types.is_bool_dtype(data[outcome]):
        raise ConfigurationError(f"estimate_effect: outcome {outcome!r} must be numeric, got dtype {data[outcome].dtype}.")

    w_all = np.asarray(matched.weights, dtype=float)
    used = w_all > 0
    if not used.any():
        raise ConfigurationError("estimate_effect: the design has no unit with positive matching weight.")
    y_all = data[outcome].to_numpy(dtype=float)
    if np.isnan(y_all[used]).any():
        raise ConfigurationError(
            f"estimate_effect: outcome {outcome!r} has {int(np.isnan(y_all[used]).sum())} missing values "
            "among matched units; impute or drop them before matching."
        )
    is01 = bool(np.all((y_all[used] == 0) | (y_all[used] == 1)))
    otype = ("binary" if is01 else "continuous") if outcome_type == "auto" else outcome_type
    if otype == "binary" and not is01:
        raise ConfigurationError(f"estimate_effect: outcome_type='binary' but {outcome!r} has values other than 0/1.")

    method = se
    if se == "auto":
        method = "abadie_imbens" if matched.replace else "cluster"
    treated = matched.treated
    n_t = int((used & treated).sum())
    n_c = int((used & ~treated).sum())
    z = stats.norm.ppf(1 - alpha / 2)
    notes: list[str] = []

    if method == "abadie_imbens":
        if adjust_t:
            raise ConfigurationError("estimate_effect: se='abadie_imbens' is implemented without adjust; use se='cluster' or 'bootstrap' for g-computation.")
        if effect == "ratio":
            raise ConfigurationError("estimate_effect: se='abadie_imbens' gives a difference; use effect='difference' or se='bootstrap'.")
        if matched.estimand == "ate" and not (matched.method == "nearest" and matched.replace):
            raise ConfigurationError(
                "estimate_effect: se='abadie_imbens' for the ATE needs nearest-neighbour matching with "
                f"replacement (method='nearest', replace=True), got method={matched.method!r}; use "
                "se='cluster' or 'bootstrap'."
            )
        if len(matched.pairs) == 0:
            raise ConfigurationError("estimate_effect: se='abadie_imbens' needs matched pairs (nearest-neighbour matching); this design has none.")
        if matched.estimand == "ate":
            est, se_val, m1, m0 = _abadie_imbens_ate(matched, y_all, int(var_matches))
        else:
            est, se_val, m1, m0 = _abadie_imbens(matched, y_all, int(var_matches))
        notes.append(
            ("Abadie–Imbens (2006) Thm 6 variance (ATE); " if matched.estimand == "ate" else "Abadie–Imbens (2006) Thm 7 variance; ")
            + ("homoskedastic sigma² (Var.calc = 0)" if var_matches == 0 else f"sigma² from {var_matches} same-group match(es), eq. (14)")
            + "; propensity-score estimation uncertainty not included."
        )
        if not matched.replace:
            notes.append("Abadie–Imbens SE used on a design matched without replacement (K_j <= 1: no reuse term).")
        pval = float(2 * stats.norm.sf(abs(est / se_val))) if se_val > 0 else float("nan")
        return EffectResult(
            estimate=est, std_error=se_val, conf_low=est - z * se_val, conf_high=est + z * se_val,
            p_value=pval, n_treated=n_t, n_control=n_c, estimand=matched.estimand, effect=effect,
            method="abadie_imbens", outcome=outcome, outcome_type=otype, mean_treated=m1,
            mean_control=m0, adjust=(), alpha=float(alpha), notes=tuple(notes),
        )

    if matched.replace and matched.estimand == "ate":
        raise ConfigurationError("estimate_effect: cluster/bootstrap SEs after matching with replacement are implemented for the ATT and the ATC only.")
    sample = _analysis_sample(matched)
    rows = sample.rows
    y = y_all[rows]
    t = treated[rows].astype(float)
    x = None
    if adjust_t:
        xa = data[list(adjust_t)].iloc[rows]
        if not all(pd.api.types.is_numeric_dtype(xa[c]) or pd.api.types.is_bool_dtype(xa[c]) for c in adjust_t):
            raise ConfigurationError("estimate_effect: adjust columns must be numeric (encode categories as indicators).")
        x = xa.to_numpy(dtype=float)
        if np.isnan(x).any():
            raise ConfigurationError("estimate_effect: adjust columns have missing values among matched units.")
        x = x - np.average(x[sample.target], axis=0, weights=sample.w[sample.target])
    binary_model = otype == "binary" and bool(adjust_t)
    mu1, mu0, theta, jac, bread, scores = _gcomp(y, t, x, sample.w, sample.target, binary_model, effect)

    if method == "cluster":
        vcov, n_clusters = _sandwich(bread, scores, sample.clusters)
        se_theta = float(np.sqrt(max(jac @ vcov @ jac, 0.0)))
        lo, hi = theta - z * se_theta, theta + z * se_theta
        label = "cluster" if len(sample.clusters) == 1 else "cluster (two-way: set, unit)"
        n_boot = None
    else:  # bootstrap over matched sets
        rng = np.random.default_rng(seed)
        sets = sample.clusters[0]
        uniq, inv = np.unique(sets, return_inverse=True)
        members = [np.flatnonzero(inv == g) for g in range(len(uniq))]
        boot = np.empty(int(n_bootstrap))
        for b in range(int(n_bootstrap)):
            pick = rng.integers(0, len(uniq), len(uniq))
            idx = np.concatenate([members[g] for g in pick])
            tb = t[idx]
            if tb.min() == tb.max() or not sample.target[idx].any():
                boot[b] = np.nan
                continue
            xb = None if x is None else x[idx]
            boot[b] = _gcomp(y[idx], tb, xb, sample.w[idx], sample.target[idx], binary_model, effect)[2]
        ok = boot[np.isfinite(boot)]
        if len(ok) < len(boot):
            notes.append(f"{len(boot) - len(ok)} bootstrap replicates without both groups were dropped.")
        se_theta = float(np.std(ok, ddof=1))
        lo, hi = (float(v) for v in np.quantile(ok, [alpha / 2, 1 - alpha / 2]))
        label, n_clusters, n_boot = "bootstrap", len(uniq), int(n_bootstrap)

    pval = float(2 * stats.norm.sf(abs(theta / se_theta))) if se_theta > 0 else float("nan")
    if effect == "ratio":
        estimate, lo, hi = math.exp(theta), math.exp(lo), math.exp(hi)
    else:
        estimate = theta
    if adjust_t:
        notes.append(
            "g-computation: " + ("logistic" if binary_model else "linear") + " outcome model with "
            "treatment × covariate interactions on the matched sample; SE by "
            + ("cluster-robust delta method." if label.startswith("cluster") else "cluster bootstrap over matched sets.")
        )
    return EffectResult(
        estimate=float(estimate), std_error=se_theta, conf_low=float(lo), conf_high=float(hi),
        p_value=pval, n_treated=n_t, n_control=n_c, estimand=matched.estimand, effect=effect,
        method=label, outcome=outcome, outcome_type=otype, mean_treated=mu1, mean_control=mu0,
        adjust=adjust_t, alpha=float(alpha), n_clusters=int(n_clusters), n_bootstrap=n_boot,
        notes=tuple(notes),
    )
