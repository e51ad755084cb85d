"""Temporal validation of the high-risk model and of the 事業対象者 rule on a later frame.

Metrics (each reported with its ``n``):

* **Discrimination**: AUC, the Mann–Whitney probability that a person certified within the horizon
  has the higher predicted risk (ties count one half), with a 95 % interval from DeLong's variance
  (DeLong, DeLong & Clarke-Pearson 1988, computed with the midrank algorithm of Sun & Xu 2014, their
  eq. 2–4) or a percentile bootstrap. With IPCW weights the AUC is the weighted Mann–Whitney statistic
  and only the bootstrap interval is available.
* **Calibration**: a table by deciles of predicted risk (mean predicted vs observed proportion), the
  calibration slope (logistic regression of the outcome on the logit of the prediction) and the
  calibration-in-the-large intercept (intercept with the logit as an offset; Cox 1958, Steyerberg
  2019 ch. 15), both with model-based standard errors; the Brier score.
* **Clinical usefulness**: the decision curve, net benefit ``NB(p_t) = TP/N − FP/N · p_t/(1 − p_t)``
  (Vickers & Elkin 2006, eq. in their "Net benefit" section) for the model (treat if risk ≥ p_t),
  treat-all (``prevalence − (1 − prevalence) · p_t/(1 − p_t)``), treat-none (0) and, when the frame
  has ``jigyo_taishosha``, the rule (treat if flagged, whatever ``p_t``).
* **The rule as a classifier** on persons with a questionnaire: sensitivity, specificity, PPV, NPV
  (Wilson intervals), flagged share, its AUC ((sensitivity + specificity)/2, the AUC of a binary
  score), and net benefit against the model at the *capacity-matched* threshold (the model
  threshold that flags as many persons as the rule). A binary rule implies no single risk
  threshold: it beats treat-all and treat-none exactly for ``1 − NPV < p_t < PPV`` (Vickers & Elkin
  2006); that interval is reported as the rule's implied threshold range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from wellness_research.errors import ConfigurationError, DataValidationError
from wellness_research.risk.features import RiskFrame
from wellness_research.risk.model import Censoring, RiskModel, _analysis_rows, _frame_data, _logit

__all__ = ["AucInterval", "RiskEvaluation", "calibration_plot", "decision_curve_plot", "delong_auc",
           "evaluate_risk_model", "net_benefit"]

AucInterval = Literal["delong", "bootstrap"]
_TIDY = ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]


def _midrank(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def delong_auc(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """AUC and DeLong's variance of it (midrank algorithm).

    Parameters
    ----------
    y : array of 0/1
        Outcome.
    score : array of float
        Predicted risk (higher = more likely 1).

    Returns
    -------
    (float, float)
        The AUC and its variance ``S10/m + S01/n`` (Sun & Xu 2014, eq. 2–4; ``m`` positives, ``n``
        negatives).

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more correlated
    receiver operating characteristic curves: a nonparametric approach. *Biometrics* 44(3):837–845.
    Sun X, Xu W (2014). Fast implementation of DeLong's algorithm for comparing the areas under
    correlated receiver operating characteristic curves. *IEEE Signal Process Lett* 21(11):1389–1393.

    Examples
    --------
    >>> from wellness_research.risk import delong_auc
    >>> delong_auc([1, 1, 0, 0], [0.9, 0.8, 0.7, 0.85])     # hand case: AUC 3/4, variance 1/8
    (0.75, 0.125)
    """
    y = np.asarray(y).astype(np.int64)
    s = np.asarray(score, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        raise DataValidationError(f"delong_auc: needs at least 2 positives and 2 negatives; got {m} and {n}.")
    tz = _midrank(np.concatenate([pos, neg]))
    v10 = (tz[:m] - _midrank(pos)) / n
    v01 = 1.0 - (tz[m:] - _midrank(neg)) / m
    auc = float(v10.mean())
    var = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    return auc, var


def _weighted_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    """Weighted Mann–Whitney AUC: sum w_i w_j [s_i > s_j] (ties 1/2) over positive i, negative j."""
    order = np.argsort(s, kind="stable")
    s, y, w = s[order], y[order], w[order]
    uniq, inv = np.unique(s, return_inverse=True)
    wneg = np.bincount(inv, weights=w * (y == 0), minlength=len(uniq))
    below = np.cumsum(wneg) - wneg  # weight of negatives with strictly lower score
    num = np.sum(w[y == 1] * (below[inv[y == 1]] + 0.5 * wneg[inv[y == 1]]))
    den = w[y == 1].sum() * w[y == 0].sum()
    return float(num / den)


def net_benefit(y: np.ndarray, treat: np.ndarray, thresholds: np.ndarray,
                weights: np.ndarray | None = None) -> np.ndarray:
    """Net benefit of a treat/no-treat policy at each threshold probability.

    ``NB(p_t) = TP/N − FP/N · p_t / (1 − p_t)`` (Vickers & Elkin 2006).

    Parameters
    ----------
    y : array of 0/1
        Outcome.
    treat : array
        Either predicted risks (treat if ``risk >= p_t``) or, when boolean, a fixed policy applied at
        every threshold (a rule, treat-all with all ``True``).
    thresholds : array of float
        Threshold probabilities in (0, 1).
    weights : array of float, optional
        Case weights (IPCW); ``N`` is their sum.

    Returns
    -------
    numpy.ndarray
        Net benefit per threshold.

    References
    ----------
    Vickers AJ, Elkin EB (2006). Decision curve analysis: a novel method for evaluating prediction
    models. *Med Decis Making* 26(6):565–574.

    Examples
    --------
    >>> import numpy as np
    >>> from wellness_research.risk import net_benefit
    >>> y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    >>> risk = np.array([.9, .3, .4, .1, .1, .1, .1, .1, .1, .1])
    >>> net_benefit(y, risk, np.array([0.25]))   # TP 2, FP 1: 2/10 - 1/10 * 1/3
    array([0.16666667])
    """
    y = np.asarray(y).astype(np.int64)
    t = np.asarray(thresholds, dtype=float)
    if np.any((t <= 0) | (t >= 1)):
        raise ConfigurationError(f"net_benefit: thresholds must lie strictly between 0 and 1; "
                                 f"got {t.min()}..{t.max()}.")
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    total = w.sum()
    tr = np.asarray(treat)
    if tr.dtype == bool:
        flag = np.broadcast_to(tr[:, None], (len(y), len(t)))
    else:
        flag = tr.astype(float)[:, None] >= t[None, :]
    tp = ((w * (y == 1))[:, None] * flag).sum(axis=0) / total
    fp = ((w * (y == 0))[:, None] * flag).sum(axis=0) / total
    return tp - fp * t / (1 - t)


def _glm_calibration(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict[str, tuple[float, float]]:
    lp = _logit(p)
    slope_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial(), var_weights=w).fit()
    citl = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp, var_weights=w).fit()
    return {"calibration_slope": (float(slope_fit.params[1]), float(slope_fit.bse[1])),
            "calibration_intercept": (float(citl.params[0]), float(citl.bse[0]))}


def _calibration_table(y: np.ndarray, p: np.ndarray, w: np.ndarray, bins: int) -> pd.DataFrame:
    ranks = stats.rankdata(p, method="ordinal")
    group = np.minimum(((ranks - 1) * bins // len(p)).astype(np.int64), bins - 1)
    rows = []
    for g in range(bins):
        sel = group == g
        ww = w[sel]
        rows.append({"decile": g + 1, "n": int(sel.sum()), "events": int(y[sel].sum()),
                     "mean_predicted": float(np.sum(ww * p[sel]) / ww.sum()) if ww.sum() > 0 else np.nan,
                     "observed": float(np.sum(ww * y[sel]) / ww.sum()) if ww.sum() > 0 else np.nan,
                     "risk_low": float(p[sel].min()), "risk_high": float(p[sel].max())})
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class RiskEvaluation:
    """Validation of a high-risk model (and the rule) on a test frame.

    Attributes
    ----------
    n, events : int
        Persons with a known outcome and certifications among them (the model's metrics).
    auc, auc_std_error, auc_low, auc_high : float
        AUC and its interval (``ci_method``; ``auc_std_error`` is DeLong's, or the bootstrap SD).
    brier : float
        Mean squared error of the predicted risk.
    calibration_slope, calibration_intercept : tuple of (estimate, std_error)
    calibration : pandas.DataFrame
        By decile of predicted risk: ``decile, n, events, mean_predicted, observed, risk_low, risk_high``.
    decision_curve : pandas.DataFrame
        ``population`` ("all" or "with_kcl"), ``threshold``, ``n``, ``model``, ``rule`` (NaN for
        "all"), ``treat_all``, ``treat_none`` (net benefits).
    rule : pandas.DataFrame or None
        The rule's metrics on persons with a questionnaire (tidy columns), ``None`` without the column.
    n_excluded_censored : int
        Test persons censored before the horizon (excluded, or weight 0 under IPCW).
    parameters : dict
        ``censoring``, ``ci_method``, ``level``, ``thresholds``, ``threshold_range``, ``test_at``,
        ``model`` (a one-line description).
    """

    n: int
    events: int
    auc: float
    auc_std_error: float
    auc_low: float
    auc_high: float
    brier: float
    calibration_slope: tuple[float, float]
    calibration_intercept: tuple[float, float]
    calibration: pd.DataFrame = field(repr=False)
    decision_curve: pd.DataFrame = field(repr=False)
    rule: pd.DataFrame | None = field(repr=False)
    n_excluded_censored: int
    parameters: dict[str, Any]

    def net_benefit_difference(self) -> pd.DataFrame:
        """Model minus rule net benefit per threshold on persons with a questionnaire (empty without the rule)."""
        dc = self.decision_curve[self.decision_curve.population == "with_kcl"]
        return pd.DataFrame({"threshold": dc.threshold.to_numpy(), "model_minus_rule": (dc.model - dc.rule).to_numpy(),
                             "n": dc.n.to_numpy()})

    def tidy(self) -> pd.DataFrame:
        """One row per statistic (``term, estimate, std_error, conf_low, conf_high, p_value, n``)."""
        z = stats.norm.ppf(0.5 + self.parameters["level"] / 2)
        rows = [("auc", self.auc, self.auc_std_error, self.auc_low, self.auc_high, self.n),
                ("brier", self.brier, np.nan, np.nan, np.nan, self.n)]
        for name, (est, se) in (("calibration_slope", self.calibration_slope),
                                ("calibration_intercept", self.calibration_intercept)):
            rows.append((name, est, se, est - z * se, est + z * se, self.n))
        rows.append(("observed_risk", self.events / self.n if self.n else np.nan, np.nan, np.nan, np.nan, self.n))
        out = pd.DataFrame(rows, columns=["term", "estimate", "std_error", "conf_low", "conf_high", "n"])
        out.insert(5, "p_value", np.nan)
        if self.rule is not None:
            out = pd.concat([out, self.rule], ignore_index=True)
        return out[_TIDY]

    def published_calibration(self, *, min_count: int = 10) -> pd.DataFrame:
        """The decile table after small-cell suppression (DOMAIN.md §6.3), ready to publish."""
        from wellness_research.privacy import suppress_small_cells

        t = self.calibration[["decile", "n", "events", "mean_predicted", "observed"]]
        return suppress_small_cells(t.set_index("decile"), count_columns=["n", "events"], min_count=min_count,
                                    margins=False, rate_columns={"observed": ("events", "n"),
                                                                 "mean_predicted": (None, "n")}).table

    def summary(self) -> str:
        """Plain-text report of the validation."""
        p = self.parameters
        lev = int(round(100 * p["level"]))
        s, i = self.calibration_slope, self.calibration_intercept
        lines = [f"High-risk model validation at {p['test_at']} ({p['model']}; censoring {p['censoring']})",
                 f"  n = {self.n}, events = {self.events}; excluded as censored before the horizon: "
                 f"{self.n_excluded_censored}",
                 f"  AUC {self.auc:.3f} ({lev}% CI {self.auc_low:.3f}-{self.auc_high:.3f}, {p['ci_method']})",
                 f"  Brier {self.brier:.4f}; calibration slope {s[0]:.2f} (SE {s[1]:.2f}); "
                 f"calibration-in-the-large {i[0]:.2f} (SE {i[1]:.2f})"]
        if self.rule is not None:
            r = self.rule.set_index("term")
            lo, hi = p["threshold_range"]
            d = self.net_benefit_difference()
            d = d[(d.threshold >= lo) & (d.threshold <= hi)]
            lines += [f"  事業対象者 rule on n = {int(r.loc['rule_flagged_share', 'n'])} with a questionnaire: "
                      f"sensitivity {r.loc['rule_sensitivity', 'estimate']:.3f}, specificity "
                      f"{r.loc['rule_specificity', 'estimate']:.3f}, PPV {r.loc['rule_ppv', 'estimate']:.3f}, "
                      f"flagged {r.loc['rule_flagged_share', 'estimate']:.3f}; AUC "
                      f"{r.loc['rule_auc', 'estimate']:.3f} vs model {r.loc['model_auc_with_kcl', 'estimate']:.3f}",
                      f"  net benefit model - rule over thresholds {lo:.2f}-{hi:.2f}: min "
                      f"{d.model_minus_rule.min():.4f}, mean {d.model_minus_rule.mean():.4f}"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + escape(self.summary()) + "</pre>" + self.tidy().to_html(index=False)


def evaluate_risk_model(
    model: RiskModel,
    test_frame: RiskFrame | pd.DataFrame,
    *,
    censoring: Censoring | None = None,
    ci_method: AucInterval = "delong",
    level: float = 0.95,
    n_boot: int = 500,
    bins: int = 10,
    thresholds: np.ndarray | None = None,
    threshold_range: tuple[float, float] = (0.05, 0.30),
    seed: int | np.random.Generator | None = 0,
) -> RiskEvaluation:
    """Validate ``model`` on ``test_frame`` (a later survey date): AUC, calibration, Brier, decision curve, rule.

    Parameters
    ----------
    model : RiskModel
        From :func:`wellness_research.risk.fit_risk_model`.
    test_frame : RiskFrame or pandas.DataFrame
        From :func:`wellness_research.risk.risk_features` at a later date than the training frame.
    censoring : {"exclude", "ipcw"} or None, default None
        How persons censored before the horizon are handled; ``None``: as the model was fitted.
    ci_method : {"delong", "bootstrap"}, default "delong"
        Interval of the AUC (``"bootstrap"`` is required with IPCW weights).
    level : float, default 0.95
    n_boot : int, default 500
        Bootstrap replicates (``ci_method="bootstrap"``).
    bins : int, default 10
        Groups of the calibration table (deciles).
    thresholds : array of float, optional
        Threshold probabilities of the decision curve; default 0.01, 0.02, …, 0.50.
    threshold_range : (float, float), default (0.05, 0.30)
        The range of thresholds the summary compares model and rule over (a visit-worthy risk of
        certification within 3 years; the 3-year incidence is about 10 %, DOMAIN.md §2.3 [E]).
    seed : int, numpy.random.Generator or None, default 0
        Bootstrap draws.

    Returns
    -------
    RiskEvaluation

    Raises
    ------
    ConfigurationError
        Invalid options (named), DeLong with IPCW weights.
    DataValidationError
        Missing columns, or fewer than two events or non-events.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988), *Biometrics* 44:837–845. Vickers AJ, Elkin EB
    (2006), *Med Decis Making* 26:565–574. Steyerberg EW, Vergouwe Y (2014). Towards better clinical
    prediction models: seven steps for development and an ABCD for validation. *Eur Heart J*
    35(29):1925–1931. Cox DR (1958). Two further applications of a model for binary regression.
    *Biometrika* 45:562–565.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> from wellness_research.risk import risk_features, fit_risk_model, evaluate_risk_model
    >>> tables = make_municipality("tiny", seed=0).tables
    >>> model = fit_risk_model(risk_features(tables, "2020-04-01"), calibration=None)
    >>> test = risk_features(tables, "2023-04-01")
    >>> ev = evaluate_risk_model(model, test)
    >>> 0.5 < ev.auc < 1, ev.n + ev.n_excluded_censored == len(test.data)
    (True, True)
    """
    where = "evaluate_risk_model"
    if not isinstance(model, RiskModel):
        raise ConfigurationError(f"{where}: model must be a RiskModel (from fit_risk_model), "
                                 f"got {type(model).__name__}.")
    censoring = model.censoring if censoring is None else censoring
    if ci_method not in get_args(AucInterval):
        raise ConfigurationError(f"{where}: ci_method={ci_method!r} is not valid; use one of "
                                 f"{list(get_args(AucInterval))}.")
    if censoring == "ipcw" and ci_method == "delong":
        raise ConfigurationError(f"{where}: ci_method='delong' is not valid with censoring='ipcw' (DeLong's variance "
                                 "is for unweighted data); use ci_method='bootstrap'.")
    if not (isinstance(level, float) and 0.5 < level < 1):
        raise ConfigurationError(f"{where}: level={level!r} is not valid; use a float in (0.5, 1).")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 50:
        raise ConfigurationError(f"{where}: n_boot={n_boot!r} is not valid; use an integer >= 50.")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ConfigurationError(f"{where}: bins={bins!r} is not valid; use an integer >= 2.")
    lo, hi = threshold_range
    if not (0 < lo < hi < 1):
        raise ConfigurationError(f"{where}: threshold_range={threshold_range!r} is not valid; use 0 < low < high < 1.")
    t = np.round(np.arange(1, 51) / 100, 2) if thresholds is None else np.asarray(thresholds, dtype=float)
    data = _frame_data(test_frame, where)
    kept, w, n_cens = _analysis_rows(data, censoring, where)
    y = kept["certified"].to_numpy(dtype=np.int64)
    if y.sum() < 2 or (1 - y).sum() < 2:
        raise DataValidationError(f"{where}: the test frame needs at least 2 events and 2 non-events with a known "
                                  f"outcome; got {int(y.sum())} and {int((1 - y).sum())}.")
    p = model.predict_risk(kept).to_numpy()
    alpha = 1 - level
    rng = np.random.default_rng(seed)

    def auc_of(idx: np.ndarray) -> float:
        return _weighted_auc(y[idx], p[idx], w[idx])

    if ci_method == "delong":
        auc, var = delong_auc(y, p)
        se = float(np.sqrt(var))
        z = stats.norm.ppf(1 - alpha / 2)
        auc_low, auc_high = auc - z * se, auc + z * se
    else:
        auc = _weighted_auc(y, p, w)
        boots = np.array([auc_of(rng.integers(0, len(y), len(y))) for _ in range(int(n_boot))])
        se = float(np.std(boots, ddof=1))
        auc_low, auc_high = (float(v) for v in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    brier = float(np.sum(w * (y - p) ** 2) / w.sum())
    cal = _glm_calibration(y, p, w)
    table = _calibration_table(y, p, w, int(bins))

    curves = [pd.DataFrame({"population": "all", "threshold": t, "n": len(y), "model": net_benefit(y, p, t, w),
                            "rule": np.nan, "treat_all": net_benefit(y, np.ones(len(y), bool), t, w),
                            "treat_none": 0.0})]
    rule_tidy = None
    if "jigyo_taishosha" in kept.columns:
        has = kept["jigyo_taishosha"].notna().to_numpy()
        yr, pr, wr = y[has], p[has], w[has]
        flag = kept["jigyo_taishosha"].to_numpy()[has] == 1
        curves.append(pd.DataFrame({"population": "with_kcl", "threshold": t, "n": int(has.sum()),
                                    "model": net_benefit(yr, pr, t, wr), "rule": net_benefit(yr, flag, t, wr),
                                    "treat_all": net_benefit(yr, np.ones(len(yr), bool), t, wr),
                                    "treat_none": 0.0}))
        rule_tidy = _rule_metrics(yr, pr, wr, flag, level, censoring)
    dc = pd.concat(curves, ignore_index=True)
    params = {"censoring": censoring, "ci_method": ci_method, "level": level, "thresholds": t.tolist(),
              "threshold_range": (float(lo), float(hi)),
              "test_at": test_frame.parameters.get("at") if isinstance(test_frame, RiskFrame) else None,
              "model": f"{model.method}, calibration {model.calibration or 'none'}, trained at "
                       f"{model.parameters.get('train_at')}",
              "n_boot": int(n_boot) if ci_method == "bootstrap" else None}
    return RiskEvaluation(n=len(y), events=int(y.sum()), auc=float(auc), auc_std_error=se, auc_low=float(auc_low),
                          auc_high=float(auc_high), brier=brier, calibration_slope=cal["calibration_slope"],
                          calibration_intercept=cal["calibration_intercept"], calibration=table, decision_curve=dc,
                          rule=rule_tidy, n_excluded_censored=n_cens, parameters=params)


def _rule_metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray, flag: np.ndarray, level: float,
                  censoring: str) -> pd.DataFrame:
    """Sensitivity, specificity, PPV, NPV of the rule; its AUC; model vs rule at the matched threshold."""
    n = len(y)

    def prop(num_mask: np.ndarray, den_mask: np.ndarray) -> tuple[float, float, float, int]:
        den = float(np.sum(w[den_mask]))
        est = float(np.sum(w[num_mask & den_mask]) / den) if den > 0 else np.nan
        k, m = int(np.sum(num_mask & den_mask)), int(np.sum(den_mask))
        if censoring == "exclude" and m > 0:
            low, high = proportion_confint(k, m, alpha=1 - level, method="wilson")
        else:
            low, high = np.nan, np.nan
        return est, float(low), float(high), m

    pos, neg = y == 1, y == 0
    rows = [("rule_sensitivity", *prop(flag, pos)), ("rule_specificity", *prop(~flag, neg)),
            ("rule_ppv", *prop(pos, flag)), ("rule_npv", *prop(neg, ~flag)),
            ("rule_flagged_share", *prop(flag, np.ones(n, bool)))]
    sens, spec = rows[0][1], rows[1][1]
    ppv, npv = rows[2][1], rows[3][1]
    rows.append(("rule_auc", (sens + spec) / 2, np.nan, np.nan, n))
    rows.append(("model_auc_with_kcl", _weighted_auc(y, p, w), np.nan, np.nan, n))
    rows.append(("rule_threshold_range_low", 1 - npv, np.nan, np.nan, n))
    rows.append(("rule_threshold_range_high", ppv, np.nan, np.nan, n))
    # capacity-matched: the model flags as many persons as the rule
    k = int(flag.sum())
    if 0 < k < n:
        order = np.argsort(-p, kind="stable")
        model_flag = np.zeros(n, bool)
        model_flag[order[:k]] = True
        pt = float(p[order[k - 1]])
        if 0 < pt < 1:
            rows.append(("matched_threshold", pt, np.nan, np.nan, n))
            rows.append(("net_benefit_model_matched", float(net_benefit(y, model_flag, np.array([pt]), w)[0]),
                         np.nan, np.nan, n))
            rows.append(("net_benefit_rule_matched", float(net_benefit(y, flag, np.array([pt]), w)[0]),
                         np.nan, np.nan, n))
        rows.append(("model_sensitivity_matched", *prop(model_flag, pos)))
    out = pd.DataFrame(rows, columns=["term", "estimate", "conf_low", "conf_high", "n"])
    out["std_error"] = np.nan
    out["p_value"] = np.nan
    out["n"] = out["n"].astype(np.int64)
    return out[_TIDY]


def calibration_plot(evaluation: RiskEvaluation, *, title: str | None = None):
    """Observed vs mean predicted risk by decile, with the diagonal; returns a matplotlib Figure.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> from wellness_research.risk import risk_features, fit_risk_model, evaluate_risk_model, calibration_plot
    >>> tables = make_municipality("tiny", seed=0).tables
    >>> ev = evaluate_risk_model(fit_risk_model(risk_features(tables, "2020-04-01"), calibration=None),
    ...                          risk_features(tables, "2023-04-01"))
    >>> type(calibration_plot(ev)).__name__
    'Figure'
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    t = evaluation.calibration
    top = float(np.nanmax([t.mean_predicted.max(), t.observed.max(), 0.05])) * 1.1
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.plot(t.mean_predicted, t.observed, marker="o", label="deciles of predicted risk")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("mean predicted risk")
    ax.set_ylabel("observed proportion certified")
    s = evaluation.calibration_slope[0]
    ax.set_title(title or f"Calibration (n = {evaluation.n}, slope {s:.2f})")
    ax.legend(loc="upper left")
    return fig


def decision_curve_plot(evaluation: RiskEvaluation, *, population: str | None = None, title: str | None = None):
    """Net benefit vs threshold: model, rule (if any), treat-all, treat-none; returns a matplotlib Figure.

    ``population``: "with_kcl" (default when the rule is present: the head-to-head population) or
    "all".
    """
    from matplotlib.figure import Figure

    dc = evaluation.decision_curve
    pops = list(dict.fromkeys(dc.population))
    population = population or ("with_kcl" if "with_kcl" in pops else "all")
    if population not in pops:
        raise ConfigurationError(f"decision_curve_plot: population={population!r} is not valid; use one of {pops}.")
    d = dc[dc.population == population]
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.plot(d.threshold, d.model, label="model")
    if d.rule.notna().any():
        ax.plot(d.threshold, d.rule, label="jigyo taishosha rule (DOMAIN.md 4.3)")
    ax.plot(d.threshold, d.treat_all, color="grey", linestyle=":", label="treat all")
    ax.plot(d.threshold, d.treat_none, color="black", linewidth=0.8, label="treat none")
    ymax = max(float(d.model.max()), float(d.treat_all.max()), 0.01) * 1.15
    ax.set_ylim(-0.2 * ymax, ymax)
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.set_title(title or f"Decision curve ({population}, n = {int(d.n.iloc[0]) if len(d) else 0})")
    ax.legend()
    return fig
