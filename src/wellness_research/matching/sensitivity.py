"""Sensitivity of a matched comparison to unmeasured confounding.

Three complementary checks, each answering a different reviewer question:

* :func:`evalue` — how strong would an unmeasured confounder have to be, on the risk-ratio scale,
  to explain the estimate away (VanderWeele & Ding 2017)?
* :func:`rosenbaum_bounds` — in 1:1 matched pairs, up to which hidden bias Γ (odds of treatment
  within a pair differing by a factor Γ) does the test of no effect stay significant
  (Rosenbaum 2002, ch. 4)?
* :func:`refute` — do DoWhy's refuters (placebo treatment, random common cause, data subset) behave
  as they should on the same matched design?
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ConfigurationError
from .result import MatchResult

__all__ = ["EValueResult", "EValueScale", "RefuterName", "evalue", "refute", "rosenbaum_bounds"]

EValueScale = Literal["rr", "or", "hr", "rd"]
RefuterName = Literal["placebo_treatment_refuter", "random_common_cause", "data_subset_refuter"]
Alternative = Literal["greater", "less"]
RefuteEstimator = Literal["matched_regression", "dowhy_psm"]


# ---------------------------------------------------------------------------- E-value
@dataclass(frozen=True)
class EValueResult:
    """E-values for a point estimate and the confidence limit closest to the null.

    Attributes
    ----------
    scale : {"rr", "or", "hr", "rd"}
        Scale of the estimate as given.
    estimate, conf_low, conf_high : float
        The estimate and limits as given (NaN when a limit was not given).
    rr, rr_low, rr_high : float
        The same on the risk-ratio scale after conversion (see :func:`evalue`).
    evalue : float
        E-value of the point estimate (1 when the estimate is exactly null).
    evalue_ci : float
        E-value of the confidence limit closest to 1; 1 when the interval contains 1; NaN when
        no interval was given.
    conversion : str
        How the estimate was put on the risk-ratio scale.
    """

    scale: str
    estimate: float
    conf_low: float
    conf_high: float
    rr: float
    rr_low: float
    rr_high: float
    evalue: float
    evalue_ci: float
    conversion: str

    def tidy(self) -> pd.DataFrame:
        """Two rows (``evalue_point``, ``evalue_ci``) in the package's tidy layout.

        ``estimate`` holds the E-value; the risk ratio it was computed from is in ``rr``.
        """
        rows = [
            {"term": "evalue_point", "estimate": self.evalue, "rr": self.rr},
            {"term": "evalue_ci", "estimate": self.evalue_ci,
             "rr": self._closest_limit()},
        ]
        out = pd.DataFrame(rows)
        for col in ("std_error", "conf_low", "conf_high", "p_value"):
            out[col] = np.nan
        out["n"] = pd.array([pd.NA, pd.NA], dtype="Int64")
        return out[["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n", "rr"]]

    def _closest_limit(self) -> float:
        if math.isnan(self.rr_low) and math.isnan(self.rr_high):
            return float("nan")
        if self.rr >= 1:
            return self.rr_low
        return self.rr_high

    def summary(self) -> str:
        """Plain-text summary."""
        ci = "" if math.isnan(self.rr_low) else f" (95% CI {self.rr_low:.3g} to {self.rr_high:.3g})"
        lines = [
            f"E-value (VanderWeele & Ding 2017), scale={self.scale!r}",
            f"  estimate on the risk-ratio scale: {self.rr:.4g}{ci}",
            f"  conversion: {self.conversion}",
            f"  E-value, point estimate: {self.evalue:.4g}",
            f"  E-value, CI limit closest to 1: {self.evalue_ci:.4g}",
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4g}")


def _evalue_rr(rr: float) -> float:
    """E-value of a risk ratio (VanderWeele & Ding 2017, eq. in §'The E-value')."""
    if rr < 1:
        rr = 1.0 / rr
    return rr + math.sqrt(rr * (rr - 1.0))


def _check_number(name: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigurationError(f"{name} must be a number; got {value!r}.")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0):
        what = "a finite positive ratio" if positive else "a finite number"
        raise ConfigurationError(f"{name} must be {what}; got {value!r}.")
    return v


def evalue(
    estimate: float,
    *,
    conf_low: float | None = None,
    conf_high: float | None = None,
    scale: EValueScale = "rr",
    baseline_risk: float | None = None,
    rare_outcome: bool = False,
) -> EValueResult:
    """E-value of an estimate and of its confidence interval.

    The E-value is the minimum strength of association, on the risk-ratio scale, that an
    unmeasured confounder would need to have with both the treatment and the outcome, conditional
    on the measured covariates, to fully explain away the observed association.

    For a risk ratio RR > 1, ``E = RR + sqrt(RR × (RR − 1))``; for RR < 1 the same formula is
    applied to 1/RR. For the interval, the limit closest to 1 is used; if the interval contains 1
    the E-value of the interval is 1.

    Conversions to the risk-ratio scale (VanderWeele & Ding 2017, Table):

    * ``"or"``: with a common outcome (≥ 15 % at the end of follow-up, the default)
      RR ≈ sqrt(OR); with ``rare_outcome=True`` RR ≈ OR.
    * ``"hr"``: common outcome RR ≈ (1 − 0.5^sqrt(HR)) / (1 − 0.5^sqrt(1/HR)); rare outcome RR ≈ HR.
    * ``"rd"``: a risk difference is converted with the untreated (baseline) risk ``p0``:
      RR = (p0 + RD) / p0, limits likewise, treating ``p0`` as known. This ignores the sampling
      error of ``p0`` (the EValue R package's ``evalues.RD`` works from the 2×2 counts instead);
      for a matched ATT use the matched controls' weighted risk as ``p0``.

    Parameters
    ----------
    estimate : float
        Point estimate on ``scale``.
    conf_low, conf_high : float, optional
        Confidence limits on ``scale`` (both or neither).
    scale : {"rr", "or", "hr", "rd"}, default "rr"
        Risk ratio, odds ratio, hazard ratio or risk difference.
    baseline_risk : float, optional
        Risk in the untreated, in (0, 1); required for ``scale="rd"`` and refused otherwise.
    rare_outcome : bool, default False
        For ``"or"`` and ``"hr"``: the outcome is rare (< 15 %), so the ratio approximates the
        risk ratio directly.

    Returns
    -------
    EValueResult

    Raises
    ------
    ConfigurationError
        For an unknown scale, non-positive ratios, only one confidence limit, limits that do not
        bracket the estimate, or a missing/invalid ``baseline_risk`` for a risk difference.

    References
    ----------
    VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational research: introducing
    the E-value. Annals of Internal Medicine 167(4):268–274. doi:10.7326/M16-2607.

    Examples
    --------
    >>> round(evalue(0.80, conf_low=0.71, conf_high=0.91).evalue, 2)
    1.81
    """
    if scale not in get_args(EValueScale):
        raise ConfigurationError(f"scale must be one of {get_args(EValueScale)}; got {scale!r}.")
    if not isinstance(rare_outcome, (bool, np.bool_)):
        raise ConfigurationError(f"rare_outcome must be True or False; got {rare_outcome!r}.")
    ratio = scale != "rd"
    est = _check_number("estimate", estimate, positive=ratio)
    if (conf_low is None) != (conf_high is None):
        raise ConfigurationError(
            f"give both conf_low and conf_high or neither; got conf_low={conf_low!r}, conf_high={conf_high!r}."
        )
    lo = hi = float("nan")
    if conf_low is not None:
        lo = _check_number("conf_low", conf_low, positive=ratio)
        hi = _check_number("conf_high", conf_high, positive=ratio)
        if not lo <= est <= hi:
            raise ConfigurationError(
                f"conf_low <= estimate <= conf_high is required; got {lo!r}, {est!r}, {hi!r}."
            )
    if scale == "rd":
        if baseline_risk is None:
            raise ConfigurationError(
                "baseline_risk (the untreated risk, in (0, 1)) is required to convert a risk difference "
                "to a risk ratio; got None."
            )
        p0 = _check_number("baseline_risk", baseline_risk, positive=True)
        if not 0 < p0 < 1:
            raise ConfigurationError(f"baseline_risk must be in (0, 1); got {baseline_risk!r}.")
        values = [est] + ([lo, hi] if conf_low is not None else [])
        for v in values:
            if not 0 <= p0 + v <= 1:
                raise ConfigurationError(
                    f"baseline_risk + risk difference must be a risk in [0, 1]; got {p0!r} + {v!r}."
                )
        if p0 + est <= 0:
            raise ConfigurationError(
                f"the treated risk baseline_risk + estimate is 0; the risk ratio is 0 and the E-value infinite "
                f"(got {p0!r} + {est!r})."
            )
    elif baseline_risk is not None:
        raise ConfigurationError(f"baseline_risk is used only with scale='rd'; got scale={scale!r}.")

    def to_rr(v: float) -> float:
        if math.isnan(v):
            return v
        if scale == "rr" or (scale in ("or", "hr") and rare_outcome):
            return v
        if scale == "or":
            return math.sqrt(v)
        if scale == "hr":
            return (1.0 - 0.5 ** math.sqrt(v)) / (1.0 - 0.5 ** math.sqrt(1.0 / v))
        return max(p0 + v, 0.0) / p0

    conversion = {
        "rr": "none (risk ratio)",
        "or": "RR = OR (rare outcome)" if rare_outcome else "RR = sqrt(OR) (common outcome)",
        "hr": "RR = HR (rare outcome)" if rare_outcome
        else "RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) (common outcome)",
        "rd": "RR = (p0 + RD) / p0 with p0 = baseline_risk taken as known",
    }[scale]
    rr, rr_lo, rr_hi = to_rr(est), to_rr(lo), to_rr(hi)
    e_point = _evalue_rr(rr) if rr > 0 else float("inf")
    if math.isnan(rr_lo):
        e_ci = float("nan")
    elif rr_lo <= 1 <= rr_hi:
        e_ci = 1.0
    elif rr > 1:
        e_ci = _evalue_rr(rr_lo)
    else:
        e_ci = _evalue_rr(rr_hi) if rr_hi > 0 else float("inf")
    return EValueResult(scale=scale, estimate=est, conf_low=lo, conf_high=hi, rr=rr, rr_low=rr_lo,
                        rr_high=rr_hi, evalue=e_point, evalue_ci=e_ci, conversion=conversion)


# ---------------------------------------------------------------------------- Rosenbaum bounds
def _pair_outcomes(matched: MatchResult, outcome: str) -> tuple[np.ndarray, np.ndarray]:
    """Treated and control outcomes of 1:1 pairs without replacement, in pair order."""
    if not isinstance(matched, MatchResult):
        raise ConfigurationError(f"matched must be a MatchResult; got {type(matched).__name__}.")
    if outcome not in matched.data.columns:
        raise ConfigurationError(f"outcome {outcome!r} is not a column of the matched data.")
    pairs = matched.pairs
    design = (
        f"(ratio={matched.ratio}, replace={matched.replace}, method={matched.method!r}, estimand={matched.estimand!r})"
    )
    if matched.replace or matched.ratio != 1 or matched.estimand != "att":
        raise ConfigurationError(
            "rosenbaum_bounds needs 1:1 matched pairs without replacement for the ATT; got a design "
            f"{design}. Use evalue() for other designs."
        )
    if len(pairs) == 0:
        raise ConfigurationError("rosenbaum_bounds: the design has no matched pairs.")
    per_set = pairs.groupby("subclass").agg(n_t=("treated", "nunique"), n_c=("control", "nunique"))
    if (per_set["n_t"] != 1).any() or (per_set["n_c"] != 1).any() or pairs["control"].duplicated().any():
        raise ConfigurationError(
            "rosenbaum_bounds needs 1:1 matched pairs without replacement: every matched set must hold one "
            f"treated and one control unit and no control may be reused; got a design {design} with "
            f"{int((per_set['n_c'] > 1).sum())} sets of several (tied) controls and "
            f"{int(pairs['control'].duplicated().sum())} reused controls."
        )
    pairs = pairs.sort_values("subclass", kind="stable")
    y = matched.data[outcome]
    if y.isna().any():
        y_pairs = np.concatenate([pairs["treated"].to_numpy(), pairs["control"].to_numpy()])
        if y.iloc[y_pairs].isna().any():
            raise ConfigurationError(f"outcome {outcome!r} has missing values in matched pairs.")
    yv = pd.to_numeric(y, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    return yv[pairs["treated"].to_numpy()], yv[pairs["control"].to_numpy()]


def _wilcoxon_bounds(d: np.ndarray, gammas: tuple[float, ...], alternative: Alternative) -> pd.DataFrame:
    """Normal-approximation bounds for Wilcoxon's signed-rank statistic (Rosenbaum 2002, §4.3.3)."""
    d = d[d != 0]  # zero differences are dropped (Wilcoxon's convention)
    s = len(d)
    if alternative == "less":
        d = -d
    ranks = stats.rankdata(np.abs(d))  # average ranks for ties
    t_plus = float(ranks[d > 0].sum())
    rows = []
    for g in gammas:
        # The sign of each pair is positive with probability between 1/(1+Γ) and Γ/(1+Γ).
        p_hi, p_lo = g / (1.0 + g), 1.0 / (1.0 + g)
        out = {"gamma": g, "statistic": t_plus, "n_pairs": s}
        for label, p in (("p_upper", p_hi), ("p_lower", p_lo)):
            mean = p * ranks.sum()
            var = p * (1.0 - p) * (ranks**2).sum()
            out[label] = float(stats.norm.sf((t_plus - mean) / math.sqrt(var))) if var > 0 else float("nan")
        rows.append(out)
    return pd.DataFrame(rows)


def _sign_bounds(yt: np.ndarray, yc: np.ndarray, gammas: tuple[float, ...], alternative: Alternative) -> pd.DataFrame:
    """Exact binomial bounds for McNemar's statistic on discordant pairs (Rosenbaum 2002, §4.3.2)."""
    disc = yt != yc
    n_disc = int(disc.sum())
    t = int(((yt == 1) & disc).sum()) if alternative == "greater" else int(((yt == 0) & disc).sum())
    rows = []
    for g in gammas:
        out = {"gamma": g, "statistic": float(t), "n_pairs": n_disc}
        for label, p in (("p_upper", g / (1.0 + g)), ("p_lower", 1.0 / (1.0 + g))):
            out[label] = float(stats.binom.sf(t - 1, n_disc, p)) if n_disc else float("nan")
        rows.append(out)
    return pd.DataFrame(rows)


def rosenbaum_bounds(
    matched: MatchResult,
    *,
    outcome: str,
    gammas: tuple[float, ...] | list[float] = (1, 1.5, 2, 3),
    alternative: Alternative | None = None,
) -> pd.DataFrame:
    """Rosenbaum bounds on the one-sided p-value of no effect in 1:1 matched pairs.

    Within a pair, hidden bias of at most Γ means the odds that the treated unit is the one
    treated lie in [1/Γ, Γ]. For each Γ the function returns the smallest and largest one-sided
    p-values of the test of no treatment effect compatible with that bias.

    * Continuous (or ordinal) outcome: Wilcoxon's signed-rank statistic T⁺ on the pair
      differences (zero differences dropped, average ranks for ties) with the large-sample normal
      approximation, E(T⁺) = p Σ rᵢ and Var(T⁺) = p(1 − p) Σ rᵢ² with p = Γ/(1 + Γ) for the upper
      bound and 1/(1 + Γ) for the lower bound (Rosenbaum 2002, §4.3.3; with untied ranks Σ rᵢ =
      S(S+1)/2 and Σ rᵢ² = S(S+1)(2S+1)/6). No continuity correction, as R ``rbounds::psens``.
    * Binary (0/1) outcome: McNemar's statistic, the number of discordant pairs in which the
      treated unit has the event, against the exact Binomial(D, p) distribution (the sign-test
      version, Rosenbaum 2002, §4.3.2; R ``rbounds::binarysens``).

    Parameters
    ----------
    matched : MatchResult
        A 1:1 design without replacement (nearest or optimal pair matching).
    outcome : str
        Outcome column in ``matched.data``.
    gammas : sequence of float, default (1, 1.5, 2, 3)
        Values of Γ ≥ 1.
    alternative : {"greater", "less"}, optional
        Direction of the one-sided test: treated outcomes larger (``"greater"``) or smaller
        (``"less"``) than control outcomes. By default the direction of the observed effect (the
        sign of the mean pair difference; ``"greater"`` when it is 0).

    Returns
    -------
    pandas.DataFrame
        Columns ``gamma``, ``test`` ("wilcoxon" or "mcnemar"), ``alternative``, ``statistic``
        (T⁺ or the count of discordant pairs favouring the alternative), ``n_pairs`` (non-zero
        differences or discordant pairs), ``p_lower``, ``p_upper``.

    Raises
    ------
    ConfigurationError
        If the design is not 1:1 pairs without replacement for the ATT (ratio > 1, with
        replacement, several tied controls sharing a set, full matching, ...), the outcome is not a
        column or is missing in a pair, or a Γ is below 1.

    References
    ----------
    Rosenbaum PR (2002). Observational Studies, 2nd ed. Springer, ch. 4 (§4.3.2 sign test and
    McNemar, §4.3.3 Wilcoxon's signed-rank statistic). Keele LJ, rbounds (R package) 2.2.
    """
    try:
        gs = tuple(float(g) for g in gammas)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"gammas must be a sequence of numbers >= 1; got {gammas!r}.") from exc
    if not gs or any((not math.isfinite(g)) or g < 1 for g in gs):
        raise ConfigurationError(f"gammas must be a non-empty sequence of finite numbers >= 1; got {gammas!r}.")
    if alternative is not None and alternative not in get_args(Alternative):
        raise ConfigurationError(f"alternative must be one of {get_args(Alternative)} or None; got {alternative!r}.")
    yt, yc = _pair_outcomes(matched, outcome)
    d = yt - yc
    alt: Alternative = alternative if alternative is not None else ("less" if d.mean() < 0 else "greater")
    binary = bool(np.isin(np.concatenate([yt, yc]), (0.0, 1.0)).all())
    if binary:
        out = _sign_bounds(yt, yc, gs, alt)
    else:
        out = _wilcoxon_bounds(d, gs, alt)
    out.insert(1, "test", "mcnemar" if binary else "wilcoxon")
    out.insert(2, "alternative", alt)
    out["n_pairs"] = out["n_pairs"].astype(np.int64)
    return out[["gamma", "test", "alternative", "statistic", "n_pairs", "p_lower", "p_upper"]]


# ---------------------------------------------------------------------------- DoWhy refuters
_REFUTER_OPTIONS: dict[str, dict[str, object]] = {
    "placebo_treatment_refuter": {"placebo_type": "permute"},
    "random_common_cause": {},
    "data_subset_refuter": {"subset_fraction": 0.8},
}


def refute(
    matched: MatchResult,
    *,
    outcome: str,
    methods: tuple[RefuterName, ...] | list[RefuterName] = (
        "placebo_treatment_refuter", "random_common_cause", "data_subset_refuter",
    ),
    seed: int | np.random.Generator | None = None,
    num_simulations: int = 100,
    estimator: RefuteEstimator = "matched_regression",
) -> pd.DataFrame:
    """Run DoWhy's refuters on the same design: a thin adapter over ``dowhy.CausalModel``.

    The data handed to DoWhy is always a copy (DoWhy writes a ``propensity_score`` column into
    its input and reuses it on later calls, ANCHORS.md; dowhy#1728).

    Estimator (``estimator``):

    * ``"matched_regression"`` (default): the matched sample (rows with weight > 0) and DoWhy's
      ``backdoor.linear_regression`` of the outcome on the treatment and our covariates, i.e. a
      regression-adjusted difference on the matched design. DoWhy's estimators take no case
      weights, so for designs whose weights are not all 1 (k:1, ties, replacement, full matching)
      the matching weights are ignored: the refuters then check the matched *sample*, not the
      weighted estimator. The result's ``note`` column says so.
    * ``"dowhy_psm"``: DoWhy's own ``backdoor.propensity_score_matching`` on the whole data.
      It refits its own score, matches 1:1 with replacement on the probability scale with no
      caliper, so its estimate is not ours; offered for comparison with DoWhy users. Its refuters
      reuse the score DoWhy cached in its (copied) frame, so the random-common-cause refuter cannot
      move the estimate there (dowhy#1728); prefer the default.

    Each refuter is run with ``num_simulations`` and a ``random_state`` drawn from ``seed``:
    placebo treatment (treatment permuted; new effect should be ≈ 0), random common cause (an
    independent normal covariate added; effect should not move), data subset (80 % subsets;
    effect should not move). ``p_value`` is DoWhy's: for the random-common-cause and subset refuters
    it tests whether the original estimate fits the distribution of refuted estimates; for the
    placebo refuter (DoWhy 0.14) whether 0 fits the distribution of placebo effects. In all three a
    *large* p-value is the reassuring outcome. DoWhy uses a normal approximation below 100
    simulations and an empirical test from 100 on; the p-value is NaN when the refuted estimates do
    not vary.

    Parameters
    ----------
    matched : MatchResult
    outcome : str
        Outcome column in ``matched.data`` (numeric; binary outcomes give a risk difference).
    methods : sequence of {"placebo_treatment_refuter", "random_common_cause", "data_subset_refuter"}
    seed : int, numpy.random.Generator or None
    num_simulations : int, default 100
    estimator : {"matched_regression", "dowhy_psm"}, default "matched_regression"

    Returns
    -------
    pandas.DataFrame
        One row per refuter: ``refuter``, ``estimator``, ``estimate`` (DoWhy's estimate on the
        design), ``new_effect`` (mean refuted effect), ``p_value``, ``n`` (rows given to DoWhy),
        ``note``.

    Raises
    ------
    ConfigurationError
        For an unknown refuter or estimator, a missing outcome column, or ``num_simulations < 1``.

    References
    ----------
    Sharma A, Kiciman E (2020). DoWhy: an end-to-end library for causal inference.
    arXiv:2011.04216. DoWhy 0.14 documentation, "Refuting a causal estimate".
    """
    if not isinstance(matched, MatchResult):
        raise ConfigurationError(f"matched must be a MatchResult; got {type(matched).__name__}.")
    if outcome not in matched.data.columns:
        raise ConfigurationError(f"outcome {outcome!r} is not a column of the matched data.")
    methods = tuple(methods)
    for m in methods:
        if m not in get_args(RefuterName):
            raise ConfigurationError(f"methods must be drawn from {get_args(RefuterName)}; got {m!r}.")
    if estimator not in get_args(RefuteEstimator):
        raise ConfigurationError(f"estimator must be one of {get_args(RefuteEstimator)}; got {estimator!r}.")
    if isinstance(num_simulations, bool) or not isinstance(num_simulations, (int, np.integer)) or num_simulations < 1:
        raise ConfigurationError(f"num_simulations must be a positive integer; got {num_simulations!r}.")
    rng = np.random.default_rng(seed)

    from dowhy import CausalModel  # heavy import, only when refuting

    cols = [matched.treatment, outcome, *matched.covariates]
    if estimator == "matched_regression":
        keep = matched.weights > 0
        frame = matched.data.loc[keep, cols].reset_index(drop=True).copy()
        w = matched.weights[keep]
        note = ("matched sample, linear regression adjustment" if np.allclose(w, 1.0)
                else "matched sample; matching weights not all 1 and ignored by DoWhy")
        method_name, target_units = "backdoor.linear_regression", "ate"
    else:
        frame = matched.data[cols].reset_index(drop=True).copy()
        note = "DoWhy's own 1:1 PS matching with replacement, no caliper (not our design)"
        method_name, target_units = "backdoor.propensity_score_matching", "att"
    frame[matched.treatment] = frame[matched.treatment].astype(bool)
    frame[outcome] = pd.to_numeric(frame[outcome]).astype(np.float64)
    # Categorical / text covariates become indicator columns (DoWhy's regressions need numbers),
    # built from the levels present in this sample (an unused category dropped as the "first" level
    # would leave a full set of indicators next to DoWhy's intercept).
    categorical = [c for c in matched.covariates
                   if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
    for c in categorical:
        frame[c] = frame[c].astype(str)
    frame = pd.get_dummies(frame, columns=categorical, drop_first=True, dtype=np.float64)
    # Constant columns (e.g. the indicator of a district absent from the matched sample) would make
    # DoWhy's regression rank-deficient; they carry no information and are left out.
    common = [c for c in frame.columns
              if c not in (matched.treatment, outcome) and frame[c].nunique(dropna=False) > 1]
    frame = frame[[matched.treatment, outcome, *common]]

    rows = []
    with warnings.catch_warnings():
        # The one known DoWhy 0.14 noise (measured on this adapter): its significance test divides
        # by the SD of the refuted estimates and warns when they do not vary (a refuter that cannot
        # move the estimate); the p-value is then NaN, which we report as such. Everything else
        # DoWhy or scikit-learn says (e.g. a convergence warning) reaches the caller.
        warnings.filterwarnings("ignore", message="invalid value encountered in scalar divide",
                                category=RuntimeWarning, module="dowhy")
        warnings.filterwarnings("ignore", message="divide by zero encountered in scalar divide",
                                category=RuntimeWarning, module="dowhy")
        model = CausalModel(data=frame, treatment=matched.treatment, outcome=outcome, common_causes=common)
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
        est = model.estimate_effect(estimand, method_name=method_name, target_units=target_units)
        for m in methods:
            # A RandomState *object*, not an int: DoWhy 0.14's data-subset refuter passes an int seed
            # unchanged to every simulation, so all subsets would be identical (spread 0, p-value 0).
            state = np.random.RandomState(int(rng.integers(0, 2**31 - 1)))
            res = model.refute_estimate(estimand, est, method_name=m, num_simulations=int(num_simulations),
                                        random_state=state, **_REFUTER_OPTIONS[m])
            p = (res.refutation_result or {}).get("p_value", np.nan)
            rows.append({
                "refuter": m, "estimator": method_name, "estimate": float(est.value),
                "new_effect": float(np.mean(res.new_effect)), "p_value": float(p), "n": len(frame), "note": note,
            })
    return pd.DataFrame(rows, columns=["refuter", "estimator", "estimate", "new_effect", "p_value", "n", "note"])
