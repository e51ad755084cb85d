"""The short-term intensive service protocol, step by step: the library side of its notebooks (issue #7).

Each step takes the protocol (``load_protocol("short_term")``), the tables or the previous step's
result, and returns a small frozen result with ``tidy()``, ``summary()``, ``_repr_html_()``, the
headline :class:`~wellness_research.analysis.findings.Finding` objects it adds (``findings``; every
name is listed in the protocol's ``findings``), the tables meant for publication, small-cell
suppressed (``published``), and ``deviations``: every protocol parameter the step could not honour.

Steps
-----
:func:`short_term_cascade`
    The outreach cascade of a fiscal year by district, conservation checked, conversions.
:func:`short_term_risk_model`
    The high-risk model: fitted at ``risk_model.train_at``, validated at ``risk_model.test_at``
    (temporal validation) with AUC, calibration, decision curve and the 事業対象者 rule beside it.
:func:`short_term_cohort`
    The evaluation frame (:func:`wellness_research.cohort.short_term.short_term_frame`) for one
    comparison, with a time-to-death outcome.
:func:`short_term_matching`
    1:k matching without replacement (optimal pairs or greedy nearest neighbour, as the protocol
    sets for each comparison) on the logit propensity score, the risk score of the high-risk model
    among the covariates; balance.
:func:`short_term_outcomes`
    Certification within 12 and 36 months and 要介護2+ (Aalen–Johansen, death competing), death,
    cause-specific Cox HR, Kihon Checklist change, graduation and destination, the naive comparison
    beside them and the E-value.
:func:`short_term_costs`
    Matched difference-in-differences of monthly LTC + medical cost; the pre-index negative control.
:func:`short_term_cost_effectiveness`
    The per-episode cost model (:func:`episode_cost`), the ten-year microsimulation of one fiscal
    year's completers, PSA and the decision.

Synthetic truth
---------------
With ``truth=`` a :class:`~wellness_research.synthetic.GroundTruth`, findings carry the sample truth
of the matched participants: :func:`wellness_research.synthetic.sample_truth` (programme
``"short_term"``, window from the index month: the month after completion, where the generator's
arms start) for certification; the potential-outcome death months for death; the mean of
``kcl_treated − kcl_untreated`` (the end-of-service questionnaire in both arms) for the Kihon
Checklist; ``Σ cost_treated / Σ months_treated − Σ cost_untreated / Σ months_untreated`` for costs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError
from scipy import stats

from wellness_research._columns import equals_str
from wellness_research.analysis._common import averted_costs
from wellness_research.analysis._common import death_times as _death_times
from wellness_research.analysis._common import finding_lines, findings_tidy as _findings_tidy
from wellness_research.analysis._common import fiscal_year_end as _fiscal_year_end
from wellness_research.analysis._common import html as _html
from wellness_research.analysis._common import matched_participant_ids as _matched_participant_ids
from wellness_research.analysis._common import protocol_of, seed_of as _seed
from wellness_research.analysis._common import suppress as _suppress
from wellness_research.analysis.findings import Finding, findings_frame
from wellness_research.errors import ConfigurationError, DataValidationError

__all__ = [
    "ShortTermCascade",
    "ShortTermCohort",
    "ShortTermCostEffectiveness",
    "ShortTermCosts",
    "ShortTermMatching",
    "ShortTermOutcomes",
    "ShortTermRiskModel",
    "episode_cost",
    "short_term_cascade",
    "short_term_cohort",
    "short_term_cost_effectiveness",
    "short_term_costs",
    "short_term_matching",
    "short_term_outcomes",
    "short_term_risk_model",
]

#: Protocol covariate -> frame column where the frame names it differently.
_ALIASES = {"kcl_motor": "kcl_physical"}


# --------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------
def _protocol(protocol: Any) -> Any:
    return protocol_of(protocol, "short_term")


def _finding_lines(findings: Sequence[Finding]) -> list[str]:
    return finding_lines(findings, width=44)


def _estimate_table(findings: Sequence[Finding], protocol: Any) -> Any:
    eff = findings_frame(findings)[["name", "estimate", "conf_low", "conf_high", "n"]].copy()
    eff["n"] = eff["n"].fillna(0).astype(np.int64)
    return _suppress(eff, protocol, count_columns=["n"], group_columns=["name"],
                     rate_columns={c: (None, "n") for c in ("estimate", "conf_low", "conf_high")})


def _wilson(k: int, n: int, alpha: float) -> tuple[float, float, float]:
    """Proportion and Wilson score interval (Wilson 1927); NaN for n = 0."""
    if n == 0:
        return math.nan, math.nan, math.nan
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, centre - half, centre + half


def _comparisons(protocol: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in protocol.get("comparisons")}


def _primary_comparison(protocol: Any) -> str:
    return next(c["name"] for c in protocol.get("comparisons") if c["role"] == "primary")


def _suffix(protocol: Any, comparison: str) -> str:
    return "" if comparison == _primary_comparison(protocol) else f"_{comparison}"


def _short_po(truth: Any) -> pd.DataFrame | None:
    if truth is None:
        return None
    po = truth.potential_outcomes
    po = po[po["programme"] == "short_term"]
    po = po[~po["person_id"].astype(str).duplicated(keep=False)]
    return po.set_index(po["person_id"].astype(str))


# --------------------------------------------------------------------------------------------
# step 1: the outreach cascade
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ShortTermCascade:
    """The outreach cascade of one fiscal year.

    Attributes
    ----------
    cascade : OutreachCascade
        By the protocol's ``cascade.by``; :meth:`OutreachCascade.check` has passed.
    fiscal_year : int
    findings : tuple of Finding
        ``cascade_start_rate_flagged`` (started ÷ flagged on the survey route) and
        ``cascade_completion_rate`` (completed ÷ started, all routes), with Wilson intervals.
    published : dict
        ``{"cascade": SuppressedTable}``: every exit and destination by group.
    deviations : tuple of str
    """

    cascade: Any = field(repr=False)
    fiscal_year: int
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """The cascade in long form (:meth:`OutreachCascade.tidy`)."""
        return self.cascade.tidy()

    def summary(self) -> str:
        """The cascade with every exit and the conversion findings."""
        return "\n".join([f"FY{self.fiscal_year}: " + self.cascade.summary(), *_finding_lines(self.findings),
                          *(f"  deviation: {d}" for d in self.deviations)])

    def _repr_html_(self) -> str:
        return _html(self.summary())


def _route_counts(overall: pd.DataFrame) -> dict[str, int]:
    steps = overall[overall["kind"] == "step"]
    survey = steps[steps["entry"] == "outreach_survey"].set_index("node")["n"]
    total = steps.groupby("node")["n"].sum()
    return {"surveyed": int(survey.get("surveyed", 0)), "flagged": int(survey.get("flagged", 0)),
            "started_from_flagged": int(survey.get("started", 0)), "visited": int(total.get("visited", 0)),
            "started": int(total.get("started", 0)), "completed": int(total.get("completed", 0))}


def short_term_cascade(protocol: Any, tables: Mapping[str, pd.DataFrame], *, fiscal_year: int) -> ShortTermCascade:
    """Step 1: the outreach cascade of ``fiscal_year`` by district, every exit counted.

    Parameters
    ----------
    protocol : Protocol or str
        ``load_protocol("short_term")`` or its name.
    tables : mapping of str to pandas.DataFrame
        ``residents``, ``outreach_contacts``, ``short_term_episodes``. Not modified.
    fiscal_year : int

    Returns
    -------
    ShortTermCascade

    Raises
    ------
    DataValidationError
        If a step loses units (the conservation check).

    References
    ----------
    Wilson EB (1927). Probable inference, the law of succession, and statistical inference.
    *J Am Stat Assoc* 22(158):209–212.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> c = short_term_cascade("short_term", make_municipality("tiny", seed=0).tables, fiscal_year=2024)
    >>> sorted(f.name for f in c.findings)
    ['cascade_completion_rate', 'cascade_start_rate_flagged']
    """
    from wellness_research.cohort.short_term import outreach_cascade

    protocol = _protocol(protocol)
    _fiscal_year_end(fiscal_year)
    cas = outreach_cascade(tables, fiscal_years=[int(fiscal_year)], by=tuple(protocol.get("cascade.by")))
    cas.check()
    c = _route_counts(cas.overall())
    alpha = float(protocol.get("analyses.alpha"))
    findings = (
        Finding("cascade_start_rate_flagged", *_wilson(c["started_from_flagged"], c["flagged"], alpha), c["flagged"],
                unit="proportion of flagged contacts",
                description=f"FY{fiscal_year}: contacts flagged high risk by the survey who started the service "
                            "(Wilson interval)"),
        Finding("cascade_completion_rate", *_wilson(c["completed"], c["started"], alpha), c["started"],
                unit="proportion of starters",
                description=f"FY{fiscal_year}: starters (all entry routes) who completed the service; episodes still "
                            "running at the end of data count as not completed"),
    )
    mc = int(protocol.get("reporting.min_cell"))
    published = {"cascade": cas.published(min_count=mc, secondary=bool(protocol.get("reporting.secondary_suppression")))}
    return ShortTermCascade(cascade=cas, fiscal_year=int(fiscal_year), findings=findings, published=published)


# --------------------------------------------------------------------------------------------
# step 2: the high-risk model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ShortTermRiskModel:
    """The high-risk model, fitted on an earlier survey date and validated on a later one.

    Attributes
    ----------
    model : RiskModel
    evaluation : RiskEvaluation
        On the frame at ``risk_model.test_at``.
    train_frame, test_frame : RiskFrame
        Person-level (never published); reused to score persons at those dates.
    findings : tuple of Finding
        ``risk_model_auc``, ``risk_model_calibration_slope``, ``jigyo_rule_auc`` and
        ``risk_model_net_benefit_minus_rule`` (mean over the decision threshold range).
    published : dict
        ``{"calibration": DataFrame, "decision_curve": SuppressedTable, "validation": SuppressedTable}``.
    deviations : tuple of str
    """

    model: Any = field(repr=False)
    evaluation: Any = field(repr=False)
    train_frame: Any = field(repr=False)
    test_frame: Any = field(repr=False)
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """The validation statistics (:meth:`RiskEvaluation.tidy`)."""
        return self.evaluation.tidy()

    def summary(self) -> str:
        """Model, validation and the rule beside it."""
        return "\n".join([self.model.summary(), self.evaluation.summary(), *_finding_lines(self.findings),
                          *(f"  deviation: {d}" for d in self.deviations)])

    def _repr_html_(self) -> str:
        return _html(self.summary())

    def calibration_plot(self) -> Any:
        """Calibration plot of the validation (:func:`wellness_research.risk.calibration_plot`)."""
        from wellness_research.risk import calibration_plot

        return calibration_plot(self.evaluation)

    def decision_curve_plot(self) -> Any:
        """Decision curve, model against the rule (:func:`wellness_research.risk.decision_curve_plot`)."""
        from wellness_research.risk import decision_curve_plot

        return decision_curve_plot(self.evaluation)


def short_term_risk_model(protocol: Any, tables: Mapping[str, pd.DataFrame], *,
                          seed: int | np.random.Generator | None = None) -> ShortTermRiskModel:
    """Step 2: fit the high-risk model at ``risk_model.train_at`` and validate it at ``risk_model.test_at``.

    Parameters
    ----------
    protocol : Protocol or str
    tables : mapping of str to pandas.DataFrame
        Not modified.
    seed : int, numpy.random.Generator or None
        The calibration split; None: ``seeds.risk_model``.

    Returns
    -------
    ShortTermRiskModel

    References
    ----------
    Steyerberg EW, Vergouwe Y (2014). Towards better clinical prediction models: seven steps for
    development and an ABCD for validation. *Eur Heart J* 35(29):1925–1931.
    Vickers AJ, Elkin EB (2006). Decision curve analysis. *Med Decis Making* 26(6):565–574.
    """
    from wellness_research.risk import evaluate_risk_model, fit_risk_model, risk_features

    protocol = _protocol(protocol)
    p = protocol.get
    kw = {"kcl_lookback_months": int(p("risk_model.kcl_lookback_months")),
          "checkup_lookback_months": int(p("risk_model.checkup_lookback_months")),
          "horizon_months": int(p("risk_model.horizon_months")), "origin": str(p("calendar.data_start"))}
    train = risk_features(tables, str(p("risk_model.train_at")), **kw)
    test = risk_features(tables, str(p("risk_model.test_at")), **kw)
    features = [str(f) for f in p("risk_model.features")]
    dev: list[str] = []
    if p("risk_model.late_elderly_items") == "when_present":
        lq = [c for c in train.data.columns if c.startswith("lq") and c in test.data.columns]
        features += lq
        if not lq:
            dev.append("the 後期高齢者の質問票 items are not in the data; the model uses the Kihon Checklist only")
    if not bool(p("risk_model.jigyo_include_mood")):
        dev.append("risk_model.jigyo_include_mood=false: risk_features applies the rule with criterion 7 (mood)")
    model = fit_risk_model(train, method=str(p("risk_model.method")), calibration=p("risk_model.calibration"),
                           censoring=str(p("risk_model.censoring")), features=tuple(features),
                           calibration_fraction=float(p("risk_model.calibration_fraction")),
                           seed=_seed(seed, protocol, "risk_model"))
    lo, hi = (float(v) for v in p("risk_model.decision_threshold_range"))
    ev = evaluate_risk_model(model, test, ci_method=str(p("risk_model.auc_ci")),
                             level=1 - float(p("analyses.alpha")), bins=int(p("risk_model.calibration_bins")),
                             threshold_range=(lo, hi), seed=_seed(seed, protocol, "risk_model"))
    slope, slope_se = ev.calibration_slope
    z = float(stats.norm.ppf(1 - float(p("analyses.alpha")) / 2))
    findings = [
        Finding("risk_model_auc", ev.auc, ev.auc_low, ev.auc_high, ev.n, unit="AUC",
                description=f"AUC of new certification within {p('risk_model.horizon_months')} months, model fitted "
                            f"at {p('risk_model.train_at')} and validated at {p('risk_model.test_at')} (DeLong)"),
        Finding("risk_model_calibration_slope", slope, slope - z * slope_se, slope + z * slope_se, ev.n,
                unit="slope", description="calibration slope on the later survey date (1 = well calibrated)"),
    ]
    if ev.rule is not None:
        r = ev.rule.set_index("term")
        findings.append(Finding("jigyo_rule_auc", float(r.loc["rule_auc", "estimate"]),
                                float(r.loc["rule_auc", "conf_low"]), float(r.loc["rule_auc", "conf_high"]),
                                int(r.loc["rule_auc", "n"]), unit="AUC",
                                description="AUC of the 事業対象者 rule (flagged or not) on persons with a Kihon "
                                            "Checklist; compare with the model on the same persons"))
        d = ev.net_benefit_difference()
        d = d[(d.threshold >= lo) & (d.threshold <= hi)]
        findings.append(Finding("risk_model_net_benefit_minus_rule", float(d.model_minus_rule.mean()),
                                float(d.model_minus_rule.min()), float(d.model_minus_rule.max()),
                                int(d.n.max()) if len(d) else 0, unit="net benefit",
                                description=f"decision curve: model minus rule net benefit, mean over thresholds "
                                            f"{lo:.2f}-{hi:.2f} (interval = its min and max, not a CI)"))
    else:
        dev.append("no 事業対象者 flag in the test frame: the rule is not compared")
    mc = int(p("reporting.min_cell"))
    dc = ev.decision_curve.copy()
    dc["n"] = dc["n"].astype(np.int64)
    val = ev.tidy().copy()
    val["n"] = val["n"].astype(np.int64)
    published = {
        "calibration": ev.published_calibration(min_count=mc),
        "decision_curve": _suppress(dc, protocol, count_columns=["n"], group_columns=["population", "threshold"],
                                    rate_columns={c: (None, "n") for c in ("model", "rule", "treat_all", "treat_none")}),
        "validation": _suppress(val[["term", "estimate", "conf_low", "conf_high", "n"]], protocol, count_columns=["n"],
                                group_columns=["term"],
                                rate_columns={c: (None, "n") for c in ("estimate", "conf_low", "conf_high")}),
    }
    return ShortTermRiskModel(model=model, evaluation=ev, train_frame=train, test_frame=test,
                              findings=tuple(findings), published=published, deviations=tuple(dev))


# --------------------------------------------------------------------------------------------
# step 3: the evaluation frame
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ShortTermCohort:
    """The evaluation frame for one comparison.

    Attributes
    ----------
    frame : ShortTermFrame
    data : pandas.DataFrame
        The frame's rows plus ``death_time`` / ``death_event`` (months from the index; 1 = death).
    comparison, population : str
    fiscal_year : int
    tables : mapping
        The tables the frame was built from (a reference, for the risk score; not modified).
    deviations : tuple of str
    published : dict
        ``{"flow": SuppressedTable}``.
    findings : tuple of Finding
        None at this step.
    """

    frame: Any = field(repr=False)
    data: pd.DataFrame = field(repr=False)
    comparison: str
    population: str
    fiscal_year: int
    tables: Any = field(repr=False)
    deviations: tuple[str, ...]
    published: dict[str, Any] = field(repr=False)
    findings: tuple[Finding, ...] = ()

    def flow(self) -> pd.DataFrame:
        """Every unit considered, each exclusion reason, the analysed rows, by arm."""
        return self.frame.flow()

    def tidy(self) -> pd.DataFrame:
        """The flow in long form."""
        return self.frame.tidy()

    def summary(self) -> str:
        """Flow and design."""
        return "\n".join([f"FY{self.fiscal_year}: " + self.frame.summary(),
                          *(f"  deviation: {d}" for d in self.deviations)])

    def _repr_html_(self) -> str:
        return _html(self.summary())


def short_term_cohort(
    protocol: Any,
    tables: Mapping[str, pd.DataFrame],
    *,
    fiscal_year: int,
    comparison: str | None = None,
    population: str | None = None,
    seed: int | np.random.Generator | None = None,
) -> ShortTermCohort:
    """Step 3: the evaluation frame for one comparison (participants at their index, no immortal time).

    Parameters
    ----------
    protocol : Protocol or str
    tables : mapping of str to pandas.DataFrame
        Not modified.
    fiscal_year : int
        Data end in March after it; index months up to the last with full follow-up.
    comparison : str, optional
        A name of the protocol's ``comparisons``; None: the primary one.
    population : {"completers", "starters"}, optional
        None: ``population.participants``; ``"starters"`` is the ITT sensitivity analysis.
    seed : int, numpy.random.Generator or None
        Comparison landmarks / index months; None: ``seeds.landmark``.

    Returns
    -------
    ShortTermCohort

    References
    ----------
    Hernán MA, Robins JM (2016). Using big data to emulate a target trial when a randomized trial is
    not available. *Am J Epidemiol* 183(8):758–764.
    """
    from wellness_research.cohort.short_term import short_term_frame

    protocol = _protocol(protocol)
    p = protocol.get
    comps = _comparisons(protocol)
    comparison = _primary_comparison(protocol) if comparison is None else comparison
    if comparison not in comps:
        raise ConfigurationError(f"short_term_cohort: comparison={comparison!r} is not valid; the protocol lists "
                                 f"{sorted(comps)}.")
    population = str(p("population.participants")) if population is None else population
    if population not in ("completers", "starters"):
        raise ConfigurationError(f"short_term_cohort: population={population!r} is not valid; use 'completers' or "
                                 "'starters'.")
    data_end = _fiscal_year_end(fiscal_year)
    followup = int(p("outcomes.follow_up_months"))
    frame = short_term_frame(tables, comparison=comparison, population=population,
                             landmark="sampled_delay", followup_months=followup,
                             seed=_seed(seed, protocol, "landmark"), origin=str(p("calendar.data_start")),
                             data_end=f"{data_end:%Y-%m}", index_end=None, movers=str(p("population.movers")))
    d = frame.data.copy()
    d["death_time"], d["death_event"] = _death_times(tables, d, data_end, followup)
    dev: list[str] = []
    if population == "completers" and p("population.index_participants") != "month_after_completion":
        dev.append("population.index_participants: completers are indexed at the month after completion")
    flow = frame.flow().set_index("step")
    published = {"flow": _suppress(flow, protocol, margins=False)}
    return ShortTermCohort(frame=frame, data=d, comparison=comparison, population=population,
                           fiscal_year=int(fiscal_year), tables=tables, deviations=tuple(dev), published=published)


# --------------------------------------------------------------------------------------------
# step 4: matching
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ShortTermMatching:
    """The matched design and its balance.

    Attributes
    ----------
    matched : MatchResult
    balance : BalanceTable
    covariates, exact : tuple of str
    comparison : str
    method : str
        ``"nearest"`` (greedy, largest score first) or ``"optimal"`` (pairs minimising the total
        distance), from the comparison's ``method`` in the protocol.
    ratio : int
    caliper : float or None
    risk_scored : bool
        Whether the risk score of the high-risk model entered the propensity model.
    deviations : tuple of str
    published : dict
        ``{"balance": SuppressedTable, "matched_counts": SuppressedTable}``.
    findings : tuple of Finding
        None at this step.
    """

    matched: Any = field(repr=False)
    balance: Any = field(repr=False)
    covariates: tuple[str, ...]
    exact: tuple[str, ...]
    comparison: str
    method: str
    ratio: int
    caliper: float | None
    risk_scored: bool
    deviations: tuple[str, ...]
    published: dict[str, Any] = field(repr=False)
    findings: tuple[Finding, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row per covariate: SMD after matching as ``estimate``, ``smd_before``."""
        b = self.balance.table
        return pd.DataFrame({"term": b["covariate"], "estimate": b["smd_after"], "std_error": np.nan,
                             "conf_low": np.nan, "conf_high": np.nan, "p_value": np.nan,
                             "n": self.matched.n_matched["treated"], "smd_before": b["smd_before"]}).reset_index(drop=True)

    def summary(self) -> str:
        """Matched counts, balance, deviations."""
        n = self.matched.n_matched
        lines = [f"Short-term service matching vs {self.comparison}: {n['treated']} participants matched to "
                 f"{n['control']} controls ({self.method} 1:{self.ratio} without replacement, caliper {self.caliper} SD of the "
                 f"logit, exact on {', '.join(self.exact) or 'nothing'}); max |SMD| after {self.balance.max_abs_smd:.3f}",
                 self.matched.unmatched_counts().to_string()]
        lines += [f"  deviation: {d}" for d in self.deviations]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def _score_dates(index_date: pd.Series) -> pd.Series:
    """The 1 April on or before each index date (the fiscal year's outreach scoring date)."""
    d = pd.to_datetime(index_date)
    year = np.where(d.dt.month.to_numpy() >= 4, d.dt.year.to_numpy(), d.dt.year.to_numpy() - 1)
    return pd.Series(pd.to_datetime([f"{y}-04-01" for y in year]), index=index_date.index)


def _risk_scores(protocol: Any, cohort: ShortTermCohort, risk_model: ShortTermRiskModel) -> tuple[pd.Series, int]:
    """Predicted risk at each row's scoring date (NaN where the person is not in the risk frame)."""
    from wellness_research.risk import risk_features

    p = protocol.get
    d = cohort.data
    dates = _score_dates(d["index_date"])
    out = pd.Series(np.nan, index=d.index, name="risk_score")
    cached = {pd.Timestamp(risk_model.train_frame.parameters["at"]): risk_model.train_frame,
              pd.Timestamp(risk_model.test_frame.parameters["at"]): risk_model.test_frame}
    for at, rows in d.groupby(dates, sort=True).groups.items():
        ids = d.loc[rows, "person_id"].astype(str)
        frame = cached.get(pd.Timestamp(at))
        if frame is None:
            frame = risk_features(cohort.tables, pd.Timestamp(at), persons=ids.unique(), horizon_months=1,
                                  kcl_lookback_months=int(p("risk_model.kcl_lookback_months")),
                                  checkup_lookback_months=int(p("risk_model.checkup_lookback_months")),
                                  origin=str(p("calendar.data_start")))
        fd = frame.data
        if len(fd) == 0:
            continue
        risk = pd.Series(risk_model.model.predict_risk(fd).to_numpy(), index=fd["person_id"].astype(str).to_numpy())
        out.loc[rows] = risk.reindex(ids.to_numpy()).to_numpy()
    return out, int(out.isna().sum())


def short_term_matching(
    protocol: Any,
    cohort: ShortTermCohort,
    *,
    risk_model: ShortTermRiskModel | None = None,
    seed: int | np.random.Generator | None = None,
    caliper: float | None = None,
) -> ShortTermMatching:
    """Step 4: 1:k matching without replacement on the logit propensity score.

    The comparison's ``method`` in the protocol (default ``matching.method``) chooses greedy nearest
    neighbour or optimal pair matching. Greedy matching fails when the comparison group is smaller
    than the participants (comparison 1): taking the participants with the largest score first, it
    pairs the most participant-like participants with every comparison person, and balance gets worse
    than before matching (city seed 14 of the coverage benchmark: age SMD -0.19 before, -0.55 after).
    Optimal pair matching chooses which participants to pair so that the total distance is smallest
    (Rosenbaum 1989); on the same data: age SMD -0.03, max |SMD| 0.09.

    Parameters
    ----------
    protocol : Protocol or str
    cohort : ShortTermCohort
    risk_model : ShortTermRiskModel, optional
        Scores every row at the 1 April on or before its index month (``risk_score``; persons not in
        the risk frame then get the median and ``risk_score_missing`` = 1). Without it the risk score
        is left out (a deviation).
    seed : int, numpy.random.Generator or None
        None: ``seeds.matching`` (used only with a random order).
    caliper : float, optional
        Overrides ``matching.caliper`` (the caliper sensitivity analyses).

    Returns
    -------
    ShortTermMatching

    References
    ----------
    Austin PC (2011). Optimal caliper widths for propensity-score matching. *Pharm Stat* 10(2):150–161.
    Austin PC (2014). A comparison of 12 algorithms for matching on the propensity score.
    *Stat Med* 33(6):1057–1069 (matching without replacement).
    Rosenbaum PR (1989). Optimal matching for observational studies. *JASA* 84(408):1024–1032.
    """
    from wellness_research.matching import balance, match

    protocol = _protocol(protocol)
    if not isinstance(cohort, ShortTermCohort):
        raise ConfigurationError(f"short_term_matching: cohort must be a ShortTermCohort; got {type(cohort).__name__}.")
    p = protocol.get
    d = cohort.data.copy()
    dev: list[str] = []
    scored = risk_model is not None
    if scored:
        score, n_missing = _risk_scores(protocol, cohort, risk_model)
        d["risk_score_missing"] = score.isna().astype(np.int64)
        d["risk_score"] = score.fillna(score.median() if score.notna().any() else 0.0)
        if n_missing:
            dev.append(f"{n_missing} rows have no risk score at their scoring date (not in the risk frame); median "
                       "imputed with risk_score_missing = 1")
    if (p("matching.sparse_levels"), p("matching.constant_in_arm")) != ("pool_into_largest", "exact_or_drop"):
        raise ConfigurationError("short_term_matching: implemented are matching.sparse_levels = 'pool_into_largest' "
                                 "and matching.constant_in_arm = 'exact_or_drop'.")
    exact = [str(x) for x in p("matching.exact")]
    covs: list[str] = []
    extra_exact: list[str] = []
    bal_extra: list[str] = []
    wanted = [str(c) for c in p("covariates.matching")]
    if scored and "risk_score" in wanted:
        wanted.append("risk_score_missing")
    for c in wanted:
        col = _ALIASES.get(c, c)
        if c in exact:
            continue
        if col not in d.columns:
            dev.append(f"covariate {c!r} is not available (" + ("no risk_model given" if c == "risk_score" else
                                                              "not in the frame") + "); left out of the propensity model")
            continue
        if d[col].nunique() < 2:
            if c != "risk_score_missing":
                dev.append(f"covariate {c!r} ({col}) does not vary; left out of the propensity model")
            continue
        arm = d["short_term"].to_numpy() == 1
        if isinstance(d[col].dtype, pd.CategoricalDtype) or d[col].dtype == object:
            # matching.sparse_levels = pool_into_largest: a level without persons in one arm separates the
            # arms perfectly; it is pooled into the largest level (balance is still shown by level)
            levels = d[col].astype(str)
            both = set(levels[arm]) & set(levels[~arm])
            sparse = sorted(set(levels) - both)
            if sparse:
                largest = levels[levels.isin(both)].value_counts().index[0] if both else levels.iloc[0]
                d[f"{col}_pooled"] = levels.where(levels.isin(both), largest)
                dev.append(f"covariate {c!r}: level(s) {sparse} have persons in one arm only; pooled into "
                           f"{largest!r} in the propensity model (matching.sparse_levels)")
                col = f"{col}_pooled"
            covs.append(col)
            continue
        if d.loc[arm, col].nunique() < 2:
            # matching.constant_in_arm = exact_or_drop: constant among participants -> matched exactly on it
            value = d.loc[arm, col].iloc[0]
            dev.append(f"covariate {c!r} ({col}) is {value:g} for every participant; matched exactly on it instead "
                       "of entering the propensity model (matching.constant_in_arm)")
            extra_exact.append(col)
            continue
        if d.loc[~arm, col].nunique() < 2:
            dev.append(f"covariate {c!r} ({col}) is constant among the comparison persons; left out of the propensity "
                       "model (it would separate the arms; its balance is reported) (matching.constant_in_arm)")
            bal_extra.append(col)
            continue
        covs.append(col)
    exact = exact + extra_exact
    frame = d
    for e in exact:
        if isinstance(frame[e].dtype, pd.CategoricalDtype):
            frame[e] = frame[e].cat.codes.astype(np.int64)
    bal_covs = []
    for c in [*covs, *extra_exact, *bal_extra]:  # balance needs numbers: a categorical covariate is checked as one 0/1 column per level
        if isinstance(frame[c].dtype, pd.CategoricalDtype) or frame[c].dtype == object:
            for level in sorted(frame[c].dropna().astype(str).unique()):
                frame[f"{c}_{level}"] = (frame[c].astype(str) == level).astype(np.int64)
                bal_covs.append(f"{c}_{level}")
        else:
            bal_covs.append(c)
    cal = p("matching.caliper") if caliper is None else float(caliper)
    spec = _comparisons(protocol)[cohort.comparison]
    ratio = int(spec["ratio"])
    method = str(spec.get("method", p("matching.method")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overlap / discard notes are kept on the result (MatchResult.notes)
        m = match(frame, treatment="short_term", covariates=covs, method=method,
                  distance=str(p("matching.distance")), caliper=None if cal is None else float(cal), ratio=ratio,
                  replace=bool(p("matching.replace")), exact=exact or None, order=str(p("matching.order")),
                  seed=_seed(seed, protocol, "matching"))
    vr = p("matching.balance_variance_ratio")
    bal = balance(m, covariates=bal_covs, thresholds={"smd": float(p("matching.balance_smd_max")),
                                                  "variance_ratio": float(max(vr))})
    n = m.n_matched
    btab = bal.table[["covariate", "smd_before", "smd_after", "variance_ratio_after"]].copy()
    btab["n_treated"] = n["treated"]
    btab["n_control"] = n["control"]
    published = {
        "balance": _suppress(btab, protocol, count_columns=["n_treated", "n_control"], group_columns=["covariate"],
                             rate_columns={c: (None, "n_treated")
                                           for c in ("smd_before", "smd_after", "variance_ratio_after")}),
        "matched_counts": _suppress(m.unmatched_counts(), protocol, margins=False),
    }
    return ShortTermMatching(matched=m, balance=bal, covariates=tuple(covs), exact=tuple(exact),
                             comparison=cohort.comparison, method=method, ratio=ratio, caliper=None if cal is None else float(cal),
                             risk_scored=scored, deviations=tuple(dev), published=published)


# --------------------------------------------------------------------------------------------
# step 5: outcomes
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ShortTermOutcomes:
    """Outcomes on the matched design, with the naive comparison beside them.

    Attributes
    ----------
    risk_differences : dict
        ``"certification_36"``, ``"certification_12"``, ``"care2plus_36"``, ``"care2plus_12"``,
        ``"death_36"`` -> RiskDifferenceResult.
    cumulative_incidence : CumulativeIncidenceResult
    cox : CoxResult or None
    naive : RiskDifferenceResult or None
        Participants against the naive cohort's comparison persons, unmatched.
    naive_bias : float
        ``naive − matched`` 3-year risk difference: positive = the naive comparison makes the
        service look harmful (confounding by indication: the frail are targeted).
    evalue : EValueResult or None
    comparison : str
    findings : tuple of Finding
    published : dict
        ``{"cumulative_incidence", "effects", "destination"}`` (SuppressedTable each).
    deviations : tuple of str
    """

    risk_differences: dict[str, Any] = field(repr=False)
    cumulative_incidence: Any = field(repr=False)
    cox: Any = field(repr=False)
    naive: Any = field(repr=False)
    naive_bias: float
    evalue: Any = field(repr=False)
    comparison: str
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row per finding, with ``truth`` and ``unit``."""
        return _findings_tidy(self.findings)

    def summary(self) -> str:
        """Findings, the naive comparison's bias and the E-value."""
        lines = [f"Short-term service outcomes vs {self.comparison} (matched; death competing)",
                 *_finding_lines(self.findings)]
        if not math.isnan(self.naive_bias):
            sign = "towards harm (confounding by indication)" if self.naive_bias > 0 else "towards benefit"
            lines.append(f"  naive minus matched 3-year risk difference: {self.naive_bias:+.4f} ({sign})")
        if self.evalue is not None:
            lines.append(f"  E-value (HR): point {self.evalue.evalue:.3g}, CI {self.evalue.evalue_ci:.3g}")
        lines += [f"  deviation: {d}" for d in self.deviations]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def _certification_truth(truth: Any, ids: np.ndarray, months: int) -> tuple[float | None, int]:
    from wellness_research.synthetic import sample_truth

    po = _short_po(truth)
    if po is None or len(ids) == 0:
        return None, 0
    have = pd.Index(ids).intersection(po.index)
    if len(have) == 0:
        return None, 0
    st = sample_truth(truth.potential_outcomes, have, start=0, months=int(months), programme="short_term",
                      at_risk="arm")
    return float(st.risk_difference), int(len(have))


def _death_truth(truth: Any, ids: np.ndarray, months: int) -> float | None:
    """Sample truth of the risk difference of death from any cause within ``months`` of the index.

    A death after a certification counts, as in the estimate (no competing event); the generator
    does not draw it, so it is taken in expectation (``sample_truth(..., outcome="death")``).
    """
    from wellness_research.synthetic import sample_truth

    po = _short_po(truth)
    if po is None:
        return None
    have = pd.Index(ids).intersection(po.index)
    if len(have) == 0:
        return None
    return float(sample_truth(truth.potential_outcomes, have, start=0, months=int(months), programme="short_term",
                              at_risk="all", outcome="death").risk_difference)


def _kcl_truth(truth: Any, ids: np.ndarray) -> float | None:
    po = _short_po(truth)
    if po is None:
        return None
    sel = po.loc[pd.Index(ids).intersection(po.index)]
    diff = (sel["kcl_treated"].astype("Float64") - sel["kcl_untreated"].astype("Float64")).dropna()
    return float(diff.mean()) if len(diff) else None


def _kcl_difference(md: pd.DataFrame, max_months: int, alpha: float) -> tuple[float, float, float, int, int]:
    """Matched difference in KCL change: participants' end-of-service change minus the comparisons' change
    to their first questionnaire within ``max_months`` of the index (WLS, SE clustered by matched set)."""
    import statsmodels.api as sm

    t = md["short_term"].to_numpy() == 1
    change = np.where(t, md["kcl_end_change"].to_numpy(dtype=float), md["kcl_change"].to_numpy(dtype=float))
    late = ~t & ~(md["kcl_next_months"].to_numpy(dtype=float) <= max_months)
    change = np.where(late, np.nan, change)
    ok = np.isfinite(change) & (md["weights"].to_numpy(dtype=float) > 0)
    sub = md.loc[ok]
    n_t, n_c = int(t[ok].sum()), int((~t[ok]).sum())
    if n_t < 2 or n_c < 2:
        return math.nan, math.nan, math.nan, n_t, n_c
    x = sm.add_constant(sub["short_term"].to_numpy(dtype=float))
    fit = sm.WLS(change[ok], x, weights=sub["weights"].to_numpy(dtype=float)).fit(
        cov_type="cluster", cov_kwds={"groups": sub["subclass"].to_numpy()})
    lo, hi = fit.conf_int(alpha=alpha)[1]
    return float(fit.params[1]), float(lo), float(hi), n_t, n_c


def short_term_outcomes(
    protocol: Any,
    matching: ShortTermMatching,
    *,
    cohort: ShortTermCohort,
    truth: Any = None,
    naive_cohort: ShortTermCohort | None = None,
    sensitivity: str | None = None,
    seed: int | np.random.Generator | None = None,
    n_bootstrap: int | None = None,
) -> ShortTermOutcomes:
    """Step 5: certification at 12 and 36 months, 要介護2+, death, Cox HR, KCL change, graduation, naive bias.

    Parameters
    ----------
    protocol : Protocol or str
    matching : ShortTermMatching
    cohort : ShortTermCohort
        The cohort that was matched (destination and graduation of its participants).
    truth : GroundTruth, optional
        Attaches the sample truths of the matched participants.
    naive_cohort : ShortTermCohort, optional
        The cohort of ``analyses.naive.comparison`` (participants against every eligible resident not
        reached); its unmatched rows give the naive comparison. Default: ``cohort`` itself.
    sensitivity : str, optional
        A sensitivity run (e.g. ``"caliper_0_1"``, ``"itt_starters"``): only the 3-year risk
        difference is reported, as the finding ``sensitivity_<name>``.
    seed : int, numpy.random.Generator or None
        Cluster bootstrap; None: ``seeds.bootstrap``.
    n_bootstrap : int, optional
        None: ``analyses.cumulative_incidence.n_boot``.

    Returns
    -------
    ShortTermOutcomes

    References
    ----------
    Aalen OO, Johansen S (1978). *Scand J Stat* 5:141–150. Austin PC, Fine JP (2019). Propensity-score
    matching with competing risks in survival analysis. *Stat Med* 38(5):751–777. VanderWeele TJ,
    Ding P (2017). *Ann Intern Med* 167(4):268–274 (E-value). Kitakyushu 二次予防事業 (DOMAIN.md §5.3):
    the naive comparison of a targeted programme favours non-participants.
    """
    from wellness_research.matching import evalue
    from wellness_research.survival import cause_specific_cox, cumulative_incidence, risk_difference

    protocol = _protocol(protocol)
    if not isinstance(matching, ShortTermMatching):
        raise ConfigurationError(f"short_term_outcomes: matching must be a ShortTermMatching; got "
                                 f"{type(matching).__name__}.")
    p = protocol.get
    m = matching.matched
    long_h, short_h = int(p("outcomes.follow_up_months")), int(p("outcomes.short_horizon_months"))
    alpha = float(p("analyses.alpha"))
    nb = int(p("analyses.cumulative_incidence.n_boot")) if n_bootstrap is None else int(n_bootstrap)
    rng = np.random.default_rng(_seed(seed, protocol, "bootstrap"))
    method = "bootstrap" if p("analyses.cumulative_incidence.ci_method") == "cluster_bootstrap" else "analytic"
    kw = {"group": "short_term", "method": method, "n_bootstrap": nb, "alpha": alpha}
    ids = _matched_participant_ids(m)
    n_m = m.n_matched
    n_pairs = int(n_m["treated"] + n_m["control"])
    dev: list[str] = []
    if truth is not None and cohort.population != "completers":
        # the generator's potential outcomes start at the month after completion, for completers only
        dev.append(f"population {cohort.population!r}: the synthetic truth has no estimand for it; no truth attached")
        truth = None
    rd36 = risk_difference(m, time="cert_time", event="cert_event", at=long_h, seed=rng, **kw)
    t36, n_truth = _certification_truth(truth, ids, long_h)
    if truth is not None and n_truth < len(ids):
        dev.append(f"{len(ids) - n_truth} matched participants have no potential outcomes in the truth")
    if sensitivity is not None:
        f = Finding(f"sensitivity_{sensitivity}", rd36.estimate, rd36.conf_low, rd36.conf_high, n_pairs, truth=t36,
                    unit="proportion", description=f"sensitivity analysis {sensitivity!r}: {long_h}-month risk "
                                                   f"difference of certification vs {matching.comparison}")
        return ShortTermOutcomes(risk_differences={"certification_36": rd36}, cumulative_incidence=None, cox=None,
                                 naive=None, naive_bias=math.nan, evalue=None, comparison=matching.comparison,
                                 findings=(f,), published={"effects": _estimate_table((f,), protocol)},
                                 deviations=tuple(dev))
    sfx = _suffix(protocol, matching.comparison)
    rds = {"certification_36": rd36,
           "certification_12": risk_difference(m, time="cert_time", event="cert_event", at=short_h, seed=rng, **kw),
           "care2plus_36": risk_difference(m, time="care2_time", event="care2_event", at=long_h, seed=rng, **kw),
           "care2plus_12": risk_difference(m, time="care2_time", event="care2_event", at=short_h, seed=rng, **kw),
           "death_36": risk_difference(m, time="death_time", event="death_event", competing=(), at=long_h, seed=rng,
                                       **kw)}
    times = np.arange(0.0, long_h + 1e-9, 6.0)
    ci = cumulative_incidence(m, time="cert_time", event="cert_event", group="short_term", times=times, alpha=alpha)
    md = m.matched_data()
    cox, caught, failure = None, [], ""
    if md.loc[md["cert_event"].to_numpy() == 1, "short_term"].nunique() == 2:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                cox = cause_specific_cox(md, duration="cert_time", event="cert_event", treatment="short_term",
                                         weights="weights", cluster="subclass", alpha=alpha)
            except ConvergenceError as err:
                failure = f": {str(err).split('.')[0]}"
    hr_ok = cox is not None and not caught
    if not hr_ok:
        dev.append("cause-specific Cox of certification: the hazard ratio and E-value are not estimable ("
                   + ("an arm has no certification" if cox is None and not failure else
                      f"{len(caught)} fitting warning(s){failure}") + ")")
    hr = cox.coefficients.iloc[0] if hr_ok else None
    ev = (evalue(float(hr["hazard_ratio"]), conf_low=float(hr["conf_low"]), conf_high=float(hr["conf_high"]),
                 scale=str(p("sensitivity.evalue.scale")), rare_outcome=bool(p("sensitivity.evalue.rare_outcome")))
          if hr_ok else None)
    k_est, k_lo, k_hi, k_t, k_c = _kcl_difference(md, int(p("outcomes.kcl.max_months_after_index")), alpha)
    t_hr = None if truth is None else float(getattr(truth.effects, "short_term_hr_certification", math.nan))
    findings = [
        Finding(f"risk_difference_3y{sfx}", rd36.estimate, rd36.conf_low, rd36.conf_high, n_pairs, truth=t36,
                unit="proportion",
                description=f"{long_h}-month risk of a new LTC certification, participants minus matched "
                            f"{matching.comparison} (Aalen–Johansen, death competing; {rd36.method})"),
        Finding(f"risk_difference_1y{sfx}", rds["certification_12"].estimate, rds["certification_12"].conf_low,
                rds["certification_12"].conf_high, n_pairs, truth=_certification_truth(truth, ids, short_h)[0],
                unit="proportion", description=f"{short_h}-month risk difference of a new certification"),
        Finding(f"risk_difference_care2plus_3y{sfx}", rds["care2plus_36"].estimate, rds["care2plus_36"].conf_low,
                rds["care2plus_36"].conf_high, n_pairs, unit="proportion",
                description=f"{long_h}-month risk of certification at 要介護2 or worse (no truth: the generator does "
                            "not follow care levels by arm)"),
        Finding(f"risk_difference_care2plus_1y{sfx}", rds["care2plus_12"].estimate, rds["care2plus_12"].conf_low,
                rds["care2plus_12"].conf_high, n_pairs, unit="proportion",
                description=f"{short_h}-month risk of certification at 要介護2 or worse"),
        Finding(f"risk_difference_death_3y{sfx}", rds["death_36"].estimate, rds["death_36"].conf_low,
                rds["death_36"].conf_high, n_pairs, truth=_death_truth(truth, ids, long_h), unit="proportion",
                description=f"{long_h}-month risk of death, matched difference"),
        Finding(f"hazard_ratio_certification{sfx}", *((cox.hazard_ratio, float(hr["conf_low"]), float(hr["conf_high"]))
                                                      if hr_ok else (math.nan,) * 3),
                n_pairs, truth=t_hr if hr_ok and t_hr is not None and math.isfinite(t_hr) else None, unit="ratio",
                description="cause-specific hazard ratio of certification (robust SE clustered by matched set); "
                            "truth = the generator's conditional hazard multiplier"),
        Finding(f"kcl_change_difference{sfx}", k_est, k_lo, k_hi, k_t + k_c, truth=_kcl_truth(truth, ids),
                unit="points",
                description="Kihon Checklist change from baseline: participants at the end of service minus matched "
                            "comparisons at their first questionnaire within "
                            f"{p('outcomes.kcl.max_months_after_index')} months of the index (WLS, clustered)"),
    ]
    naive, naive_bias = None, math.nan
    if not sfx:
        nd = (naive_cohort if naive_cohort is not None else cohort).data
        naive = risk_difference(nd, time="cert_time", event="cert_event", group="short_term", at=long_h,
                                method="analytic", alpha=alpha)
        naive_bias = float(naive.estimate - rd36.estimate)
        all_ids = nd.loc[nd["short_term"] == 1, "person_id"].astype(str).unique()
        which = (naive_cohort or cohort).comparison
        findings.append(Finding("naive_risk_difference_3y", naive.estimate, naive.conf_low, naive.conf_high,
                                int(naive.n_treated + naive.n_control),
                                truth=_certification_truth(truth, all_ids, long_h)[0], unit="proportion",
                                description=f"naive comparison: every participant against every {which} person, "
                                            "unmatched; truth = the effect in all participants"))
        part = cohort.data[cohort.data["short_term"] == 1]
        grad = int(part["graduated"].fillna(False).astype(bool).sum())
        findings.append(Finding("graduation_rate", *_wilson(grad, len(part), alpha), len(part),
                                unit="proportion of completers",
                                description="completers whose destination is independent life or a community "
                                            "activity (卒業; DOMAIN.md §5.3: municipal claims of 30-60 % [E])"))
        if ev is not None:
            findings.append(Finding("sensitivity_evalue_hazard_ratio", ev.evalue, math.nan, ev.evalue_ci, n_pairs,
                                    unit="risk ratio",
                                    description="E-value of the hazard ratio (conf_high = the E-value of its CI "
                                                "bound nearer 1)"))
    at = []
    for arm, part in md.groupby("short_term", sort=True):
        tt, ee = part["cert_time"].to_numpy(), part["cert_event"].to_numpy()
        for tm in times:
            at.append({"arm": "participant" if arm == 1 else "comparison", "time": float(tm),
                       "at_risk": int((tt >= tm).sum()) if tm > 0 else len(tt),
                       "certified": int(((ee == 1) & (tt <= tm)).sum())})
    at = pd.DataFrame(at)
    cif = ci.at.copy()
    cif["arm"] = np.where(cif["group"] == 1, "participant", "comparison")
    at = at.merge(cif[["arm", "time", "estimate"]], on=["arm", "time"], how="left").rename(
        columns={"estimate": "cumulative_incidence"})
    dest = (cohort.data.loc[cohort.data["short_term"] == 1, "destination"].astype(str)
            .value_counts().rename_axis("destination").rename("completers").to_frame())
    published = {
        "cumulative_incidence": _suppress(at, protocol, count_columns=["at_risk", "certified"],
                                          group_columns=["arm", "time"],
                                          rate_columns={"cumulative_incidence": ("certified", "at_risk")}),
        "effects": _estimate_table(findings, protocol),
        "destination": _suppress(dest.astype(np.int64), protocol),
    }
    return ShortTermOutcomes(risk_differences=rds, cumulative_incidence=ci, cox=cox, naive=naive,
                             naive_bias=naive_bias, evalue=ev, comparison=matching.comparison,
                             findings=tuple(findings), published=published, deviations=tuple(dev))


# --------------------------------------------------------------------------------------------
# step 6: costs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ShortTermCosts:
    """Matched difference-in-differences of monthly LTC + medical cost, and the negative control.

    Attributes
    ----------
    panel : CostPanel
    did : DiDResult
    event_study : EventStudyResult
    negative_control : float
        Weighted difference in the share with an inpatient claim in the pre-index window (NaN if none
        observable).
    findings : tuple of Finding
    published : dict
        ``{"costs": SuppressedTable}``.
    deviations : tuple of str
    """

    panel: Any = field(repr=False)
    did: Any = field(repr=False)
    event_study: Any = field(repr=False)
    negative_control: float
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row per finding."""
        return _findings_tidy(self.findings)

    def summary(self) -> str:
        """The DiD, the negative control and deviations."""
        lines = ["Short-term service costs: matched DiD of LTC + medical cost per person-month",
                 *_finding_lines(self.findings)]
        pt = getattr(self.event_study, "pretrend", None)
        if pt is not None:
            lines.append(f"  pre-trend test: p = {pt.p_value:.3g}")
        lines += [f"  deviation: {d}" for d in self.deviations]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def _cost_truth(truth: Any, ids: np.ndarray) -> float | None:
    po = _short_po(truth)
    if po is None:
        return None
    sel = po.loc[pd.Index(ids).intersection(po.index)]
    if len(sel) == 0 or sel["months_treated"].sum() <= 0 or sel["months_untreated"].sum() <= 0:
        return None
    return float(sel["cost_treated"].sum() / sel["months_treated"].sum()
                 - sel["cost_untreated"].sum() / sel["months_untreated"].sum())


def _negative_control(protocol: Any, matching: ShortTermMatching, tables: Any, nc: Mapping[str, Any],
                      alpha: float) -> tuple[Finding, list[str]]:
    """Any inpatient claim in the pre-index window: matched weighted difference (clustered WLS)."""
    import statsmodels.api as sm

    md = matching.matched.matched_data()
    first, last = (int(v) for v in nc["window"])
    origin = pd.Timestamp(str(protocol.get("calendar.data_start")))
    idx_m = pd.to_datetime(md["index_date"]).to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
    lo_m = idx_m + np.timedelta64(first, "M")
    seen = lo_m >= np.datetime64(origin, "M")
    dev = []
    if (~seen).any():
        dev.append(f"negative control {nc['name']}: {int((~seen).sum())} matched rows have a window before the "
                   f"first month of data ({origin:%Y-%m}) and are left out")
    mc = tables["medical_claims"]
    inp = mc[equals_str(mc["claim_type"], "inpatient")]
    claims = pd.DataFrame({"p": inp["person_id"].astype(str).to_numpy(),
                           "m": pd.to_datetime(inp["service_month"]).to_numpy(dtype="datetime64[ns]")
                           .astype("datetime64[M]").astype(np.int64)})
    rows = md.loc[seen, ["person_id", "short_term", "weights", "subclass"]].reset_index(drop=True)
    rows["p"] = rows["person_id"].astype(str)
    rows["lo"] = lo_m[seen].astype(np.int64)
    rows["hi"] = rows["lo"] + (last - first)
    j = rows.reset_index().merge(claims, on="p", how="inner")
    hit = j.loc[(j["m"] >= j["lo"]) & (j["m"] <= j["hi"]), "index"].unique()
    y = rows.index.isin(hit).astype(float)
    name = f"sensitivity_negative_control_{nc['name']}"
    if rows["short_term"].nunique() < 2 or len(rows) < 4:
        return Finding(name, math.nan, math.nan, math.nan, len(rows), unit="proportion",
                       description="negative control not estimable (too few observable rows)"), dev
    x = sm.add_constant(rows["short_term"].to_numpy(dtype=float))
    fit = sm.WLS(y, x, weights=rows["weights"].to_numpy(dtype=float)).fit(
        cov_type="cluster", cov_kwds={"groups": rows["subclass"].to_numpy()})
    lo, hi = fit.conf_int(alpha=alpha)[1]
    return Finding(name, float(fit.params[1]), float(lo), float(hi), len(rows), unit="proportion",
                   description=f"{nc['outcome']}: participants minus matched comparisons (should be 0; a non-null "
                               "difference points to residual confounding)"), dev


def short_term_costs(
    protocol: Any,
    matching: ShortTermMatching,
    tables: Mapping[str, pd.DataFrame],
    *,
    fiscal_year: int,
    truth: Any = None,
    seed: int | np.random.Generator | None = None,
) -> ShortTermCosts:
    """Step 6: matched difference-in-differences of monthly LTC + medical cost, event study, negative control.

    Parameters
    ----------
    protocol : Protocol or str
    matching : ShortTermMatching
    tables : mapping of str to pandas.DataFrame
        Not modified.
    fiscal_year : int
        The panel ends in March after it.
    truth : GroundTruth, optional
    seed : int, numpy.random.Generator or None
        Event-study band; None: ``seeds.bootstrap``.

    Returns
    -------
    ShortTermCosts

    References
    ----------
    Stuart EA et al. (2014). Using propensity scores in difference-in-differences models.
    *Health Serv Outcomes Res Methodol* 14(4):166–182. Lipsitch M, Tchetgen Tchetgen E, Cohen T
    (2010). Negative controls. *Epidemiology* 21(3):383–388.
    """
    from wellness_research.did.panel import cost_panel
    from wellness_research.did.twfe import did_2x2, event_study

    protocol = _protocol(protocol)
    if not isinstance(matching, ShortTermMatching):
        raise ConfigurationError(f"short_term_costs: matching must be a ShortTermMatching; got "
                                 f"{type(matching).__name__}.")
    p = protocol.get
    dev: list[str] = []
    window = tuple(int(v) for v in p("analyses.did_matched.window"))
    end = _fiscal_year_end(fiscal_year)
    panel = cost_panel(tables, start=str(p("calendar.data_start")), end=f"{end:%Y-%m}", matched=matching.matched,
                       window=window, cost=tuple(str(c) for c in p("outcomes.costs.components")),
                       claims_after_death=str(p("analyses.did_matched.claims_after_death")))
    d = panel.data
    cluster = "subclass" if p("analyses.did_matched.cluster") == "matched_set" else "person_id"
    if (d["subclass"] < 0).any():
        cluster = "person_id"
        dev.append("some matched rows belong to no single matched set; clustered by person instead")
    alpha = float(p("analyses.alpha"))
    did = did_2x2(d, outcome="total_cost", unit="unit", time="rel_time", treated="treated", post="post",
                  cluster=cluster, weights="weight", alpha=alpha)
    shift = 1 - window[0]
    es_data = d.assign(_time=d["rel_time"].astype(np.int64) + shift,
                       _cohort=np.where(d["treated"].to_numpy() == 1, shift, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # single-cohort design: the staggered-TWFE warning does not apply
        es = event_study(es_data, outcome="total_cost", unit="unit", time="_time", cohort="_cohort",
                         reference=int(p("analyses.did_matched.reference_period")), cluster=cluster, weights="weight",
                         window=window, alpha=alpha, seed=_seed(seed, protocol, "bootstrap"), diagnostic=False)
    sfx = _suffix(protocol, matching.comparison)
    ids = d.loc[d["treated"] == 1, "person_id"].astype(str).unique()
    findings = [Finding(f"did_cost_month{sfx}", did.estimate, did.conf_low, did.conf_high, int(d["unit"].nunique()),
                        truth=_cost_truth(truth, ids), unit="yen per person-month",
                        description=f"change in LTC + medical cost per person-month alive after the index, participants "
                                    f"minus matched {matching.comparison} (difference-in-differences)")]
    nc_value = math.nan
    if not sfx:
        for nc in p("sensitivity.negative_controls"):
            f, nc_dev = _negative_control(protocol, matching, tables, nc, alpha)
            findings.append(f)
            dev += nc_dev
            nc_value = f.estimate
    cells = (d.assign(period=np.where(d["post"], "after", "before"))
             .groupby(["treated", "period"], observed=True)
             .apply(lambda g: pd.Series({"persons": int(g["person_id"].nunique()),
                                         "mean_cost": float(np.average(g["total_cost"], weights=g["weight"]))}),
                    include_groups=False).reset_index())
    cells["arm"] = np.where(cells["treated"] == 1, "participant", "comparison")
    cells = cells[["arm", "period", "persons", "mean_cost"]]
    cells["persons"] = cells["persons"].astype(np.int64)
    published = {"costs": _suppress(cells, protocol, count_columns=["persons"], group_columns=["arm", "period"],
                                    rate_columns={"mean_cost": (None, "persons")})}
    return ShortTermCosts(panel=panel, did=did, event_study=es, negative_control=nc_value, findings=tuple(findings),
                          published=published, deviations=tuple(dev))


# --------------------------------------------------------------------------------------------
# step 7: episode cost and cost-effectiveness
# --------------------------------------------------------------------------------------------
def episode_cost(params: Mapping[str, Any], *, surveyed: int, visited: int, started: int) -> pd.DataFrame:
    """Cost of one episode of the service by line, outreach included (yen).

    ``professional_time = professional_hours_per_episode × staff_pay_per_fte / hours_per_fte``;
    ``sessions = sessions_per_episode × session_fee``; ``home_visits = home_visits_per_episode ×
    home_visit_fee``; ``outreach_survey = surveyed × survey_cost_per_contact / started``;
    ``outreach_visits = visited × outreach_visit_hours × staff_pay_per_fte / hours_per_fte / started``.

    Parameters
    ----------
    params : mapping
        The protocol's ``episode_cost`` (each a mapping with ``value``) or plain numbers (one PSA draw).
    surveyed, visited, started : int
        Persons surveyed, outreach visits made and episodes started in the year (the cascade).

    Returns
    -------
    pandas.DataFrame
        ``line`` and ``cost`` (yen per episode), the last row ``total``.

    Raises
    ------
    ConfigurationError
        ``started`` < 1 or a negative count.

    Examples
    --------
    >>> from wellness_research.protocols import load_protocol
    >>> c = episode_cost(load_protocol("short_term").get("episode_cost"), surveyed=1000, visited=100, started=50)
    >>> c.set_index("line")["cost"].round(2).to_dict()["professional_time"]   # 6 h × 5.6M / 1800 h
    18666.67
    """
    for name, v in (("surveyed", surveyed), ("visited", visited), ("started", started)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (1 if name == "started" else 0):
            raise ConfigurationError(f"episode_cost: {name}={v!r} is not valid; use an integer >= "
                                     f"{1 if name == 'started' else 0}.")
    v = {k: float(x["value"] if isinstance(x, Mapping) else x) for k, x in params.items()}
    hourly = v["staff_pay_per_fte"] / v["hours_per_fte"]
    lines = {
        "professional_time": v["professional_hours_per_episode"] * hourly,
        "sessions": v["sessions_per_episode"] * v["session_fee"],
        "home_visits": v["home_visits_per_episode"] * v["home_visit_fee"],
        "outreach_survey": surveyed * v["survey_cost_per_contact"] / started,
        "outreach_visits": visited * v["outreach_visit_hours"] * hourly / started,
    }
    lines["total"] = sum(lines.values())
    return pd.DataFrame({"line": list(lines), "cost": list(lines.values())})


@dataclass(frozen=True, eq=False)
class ShortTermCostEffectiveness:
    """Ten-year projection of one fiscal year's completers against one year of episodes.

    Attributes
    ----------
    episode_cost : pandas.DataFrame
        Lines of :func:`episode_cost` at the protocol's values.
    counts : dict
        ``surveyed``, ``visited``, ``started``, ``completed`` of the fiscal year (the cascade).
    effect : Effect
    projection : Projection
    psa : PSAResult
    decision : DecisionResult
    threshold : float
    adopt : bool
        P(net benefit > 0) >= threshold.
    n_persons : int
        Completers projected.
    findings : tuple of Finding
    published : dict
        ``{"episode_cost": DataFrame, "cost_effectiveness": SuppressedTable}``.
    deviations : tuple of str
    """

    episode_cost: pd.DataFrame = field(repr=False)
    counts: dict[str, int]
    effect: Any
    projection: Any = field(repr=False)
    psa: Any = field(repr=False)
    decision: Any = field(repr=False)
    threshold: float
    adopt: bool
    n_persons: int
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row per finding."""
        return _findings_tidy(self.findings)

    def summary(self) -> str:
        """Episode cost, the decision in words and numbers."""
        lines = [f"Short-term service cost-effectiveness: {self.counts['started']} episodes started, "
                 f"{self.n_persons} completers projected over {self.projection.years} years, {self.psa.n_draws} PSA "
                 "draws", self.episode_cost.to_string(index=False), *_finding_lines(self.findings),
                 f"  decision: {'worth its cost' if self.adopt else 'not shown to be worth its cost'} (threshold "
                 f"P(net benefit > 0) >= {self.threshold:g})"]
        lines += [f"  deviation: {d}" for d in self.deviations]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def _ce_model(params: dict[str, Any], seed: int, *, population: Any, base: Any, effect: Any, years: int,
              cycle: str, engine: str, rate: float, timing: str, counts: Mapping[str, int],
              cost_names: Sequence[str]) -> dict[str, float]:
    ltc, medical = averted_costs(params["hr"], seed, population=population, base=base, effect=effect, years=years,
                                 cycle=cycle, engine=engine, rate=rate, timing=timing)
    unit = episode_cost({k: params[k] for k in cost_names}, surveyed=counts["surveyed"], visited=counts["visited"],
                        started=counts["started"]).set_index("line").loc["total", "cost"]
    return {"averted_ltc": ltc, "averted_medical": medical, "programme_cost": float(unit) * counts["started"],
            "episode_cost": float(unit)}


def short_term_cost_effectiveness(
    protocol: Any,
    outcomes: ShortTermOutcomes,
    cohort: ShortTermCohort,
    tables: Mapping[str, pd.DataFrame],
    *,
    n_draws: int | None = None,
    engine: str | None = None,
    seed: int | np.random.Generator | None = None,
    psa_seed: int | np.random.Generator | None = None,
) -> ShortTermCostEffectiveness:
    """Step 7: is the service worth its cost? Episode cost, microsimulation, PSA, decision.

    The completers of the fiscal year (their age, sex and state at its end) are projected over
    ``analyses.microsim.horizon_years`` with and without the service; the effect is the
    cause-specific hazard ratio of :func:`short_term_outcomes` for ``effect_duration_years``, waning
    over ``effect_waning_years``. Against the averted LTC + medical cost stands the cost of every
    episode *started* in the year (:func:`episode_cost`, outreach included; non-completers are
    assumed to gain nothing). The PSA draws the hazard ratio (log-normal from its CI) and each episode
    cost parameter (gamma, mean = value, SD = range / (2 × 1.96)).

    Parameters
    ----------
    protocol : Protocol or str
    outcomes : ShortTermOutcomes
        Of the primary comparison (its ``hazard_ratio_certification``).
    cohort : ShortTermCohort
        Gives the fiscal year.
    tables : mapping of str to pandas.DataFrame
    n_draws : int, optional
        None: ``analyses.microsim.psa_draws``.
    engine : {"microsim", "cohort"}, optional
    seed, psa_seed : int, numpy.random.Generator or None
        None: ``seeds.microsim`` and ``seeds.psa``.

    Returns
    -------
    ShortTermCostEffectiveness

    References
    ----------
    Drummond MF et al. (2015). *Methods for the Economic Evaluation of Health Care Programmes*, 4th ed.
    Briggs A, Claxton K, Sculpher M (2006). *Decision Modelling for Health Economic Evaluation*, ch. 4.
    """
    from functools import partial

    from wellness_research.cohort.short_term import outreach_cascade
    from wellness_research.microsim import Effect, decide, load_parameters, population_at, project, run_psa
    from wellness_research.microsim.psa import Fixed, Gamma, LogNormal

    protocol = _protocol(protocol)
    p = protocol.get
    dev: list[str] = []
    fy = cohort.fiscal_year
    fy_start, fy_end = pd.Timestamp(year=fy, month=4, day=1), _fiscal_year_end(fy)
    counts = _route_counts(outreach_cascade(tables, fiscal_years=[fy], by=()).overall())
    if counts["started"] < 1:
        raise DataValidationError(f"short_term_cost_effectiveness: no episode started in FY{fy} (cascade).")
    ep = tables["short_term_episodes"]
    end = pd.to_datetime(ep["end_date"])
    done = ep["completed"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "completed" in ep.columns else \
        ep["destination"].notna().to_numpy()
    completers = ep.loc[done & (end >= fy_start).to_numpy() & (end <= fy_end + pd.offsets.MonthEnd(0)).to_numpy(),
                        "person_id"].astype(str)
    pop = population_at(tables, fy_end + pd.offsets.MonthEnd(0))
    pop = pop[pop["person_id"].astype(str).isin(set(completers))].reset_index(drop=True)
    if len(pop) == 0:
        raise DataValidationError(f"short_term_cost_effectiveness: none of the {len(completers)} completers of FY{fy} "
                                  "is alive and registered at the end of the fiscal year.")
    hr_f = next((f for f in outcomes.findings if f.name == "hazard_ratio_certification"), None)
    estimable = hr_f is not None and math.isfinite(hr_f.estimate)
    if not estimable:
        dev.append("no estimable hazard ratio of the primary comparison: the projection uses no effect (HR 1)")
    years = int(p("analyses.microsim.horizon_years"))
    effect = (Effect.from_ratio(hr_f.estimate, hr_f.conf_low, hr_f.conf_high, alpha=float(p("analyses.alpha")),
                                duration_years=float(p("analyses.microsim.effect_duration_years")),
                                waning=float(p("analyses.microsim.effect_waning_years")))
              if estimable else Effect(hr_certification=1.0))
    base = load_parameters()
    eng = str(p("analyses.microsim.engine")) if engine is None else engine
    cycle, rate = str(p("analyses.microsim.cycle")), float(p("analyses.microsim.discount_rate"))
    timing = str(p("analyses.microsim.timing"))
    proj = project(pop, base, effect=effect, years=years, cycle=cycle, engine=eng, seed=_seed(seed, protocol, "microsim"))
    cost_params = p("episode_cost")
    dists: dict[str, Any] = {"hr": LogNormal.from_ci(hr_f.estimate, hr_f.conf_low, hr_f.conf_high)
                             if estimable else Fixed(1.0)}
    for k, spec in cost_params.items():
        lo, hi = (float(x) for x in spec["range"])
        dists[k] = (Gamma.from_mean_se(float(spec["value"]), (hi - lo) / (2 * 1.96))
                    if spec["value"] > 0 and hi > lo else float(spec["value"]))
    model = partial(_ce_model, population=pop, base=base, effect=effect, years=years, cycle=cycle, engine=eng,
                    rate=rate, timing=timing, counts=counts, cost_names=list(cost_params))
    draws = int(p("analyses.microsim.psa_draws")) if n_draws is None else int(n_draws)
    psa = run_psa(model, dists, n_draws=draws, seed=_seed(psa_seed, protocol, "psa"))
    w = {k: psa.wide(k).iloc[:, 0].to_numpy(dtype=float)
         for k in ("averted_ltc", "averted_medical", "programme_cost", "episode_cost")}
    dec = decide(averted_ltc=w["averted_ltc"], averted_medical=w["averted_medical"],
                 programme_cost=w["programme_cost"], horizon_years=years)
    thr = float(p("analyses.decision.probability_threshold"))
    unit = episode_cost(cost_params, surveyed=counts["surveyed"], visited=counts["visited"], started=counts["started"])
    point = float(unit.set_index("line").loc["total", "cost"])
    nb = dec.net_benefit
    findings = (
        Finding("episode_cost", point, float(np.quantile(w["episode_cost"], 0.025)),
                float(np.quantile(w["episode_cost"], 0.975)), counts["started"], unit="yen per episode",
                description="cost of one episode incl. professional time, sessions, home visits and the outreach "
                            "survey and visits shared over the year's episodes (protocol values; PSA 2.5-97.5 %)"),
        Finding("net_benefit_10y", float(nb.mean()), float(np.quantile(nb, 0.025)), float(np.quantile(nb, 0.975)),
                int(len(pop)), unit="yen",
                description=f"averted LTC + medical cost of FY{fy}'s completers minus the cost of FY{fy}'s episodes, "
                            f"discounted {rate:.0%}/yr over {years} years (PSA mean and 2.5-97.5 % of {draws} draws)"),
        Finding("probability_net_benefit_positive", dec.probability_positive, math.nan, math.nan, draws,
                unit="probability", description=f"share of PSA draws in which the service saves more than it costs; "
                                                f"worth its cost at >= {thr:g}"),
    )
    tab = dec.tidy()[["term", "estimate", "conf_low", "conf_high"]].copy()
    tab["persons"] = np.int64(len(pop))
    published = {"episode_cost": unit,
                 "cost_effectiveness": _suppress(tab, protocol, count_columns=["persons"], group_columns=["term"],
                                                 rate_columns={c: (None, "persons")
                                                               for c in ("estimate", "conf_low", "conf_high")})}
    return ShortTermCostEffectiveness(episode_cost=unit, counts=counts, effect=effect, projection=proj, psa=psa,
                                      decision=dec, threshold=thr, adopt=bool(dec.probability_positive >= thr),
                                      n_persons=int(len(pop)), findings=findings, published=published,
                                      deviations=tuple(dev))
