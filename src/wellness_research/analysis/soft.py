"""The SOFT joint-research protocol, step by step: the library side of the SOFT notebooks (issue #6).

Each step takes the protocol (:func:`wellness_research.protocols.load_protocol`), the tables or the
previous step's result, and a seed, and returns a small frozen result with ``tidy()``,
``summary()``, ``_repr_html_()``, the headline :class:`~wellness_research.analysis.findings.Finding`
objects it adds (``findings``), the tables meant for publication, small-cell suppressed
(``published``: name -> :class:`~wellness_research.privacy.SuppressedTable`), and ``deviations``:
every protocol parameter the step could not honour, in words (never silently).

Steps
-----
:func:`soft_cohort`
    The analysis frame (:func:`wellness_research.cohort.soft_frame`) with the protocol's
    exposure, follow-up, enrolment window and censoring; dose groups, 5-year age bands and a
    time-to-death outcome added.
:func:`soft_matching`
    Propensity matching (nearest neighbour on the logit, caliper, ratio, exact strata) on the
    protocol's covariates that the frame has; balance before and after.
:func:`soft_certification`
    Aalen–Johansen cumulative incidence with death competing, the 3-year risk difference on the
    matched design (cluster bootstrap over matched sets), the cause-specific Cox hazard ratio, the
    same for 要介護2+ and death, the naive participant-vs-everyone comparison beside it and the E-value.
:func:`soft_costs`
    Monthly LTC + medical cost panel of the matched sample, 2×2 difference-in-differences and the
    event study over the protocol's window.
:func:`soft_cost_effectiveness`
    Ten-year microsimulation of one enrolment year of participants with the estimated hazard ratio,
    programme cost including staff, probabilistic sensitivity analysis and the take-over decision.

Synthetic truth
---------------
On synthetic data (``truth=`` a :class:`~wellness_research.synthetic.GroundTruth`) the findings
carry the *sample* truth of the persons analysed: for the risk difference
:func:`wellness_research.synthetic.sample_truth` over the matched participants (programme
``"soft"``) and the analysed window — with the protocol's landmark time zero the
``outcomes.follow_up_months`` from each participant's landmark month, each arm's risk set being the
participants alive and uncertified in that arm at the landmark; without a landmark the mean of
``certified_treated − certified_untreated`` (window from the index month) — and for the cost ``Σ cost_treated / Σ months_treated − Σ cost_untreated / Σ months_untreated`` over them
(yen per person-month alive; the definition of ``soft_att_cost_month`` in
:mod:`wellness_research.synthetic.municipality`).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError  # the Cox fits of wellness_research.survival.cox

from wellness_research.analysis._common import averted_costs
from wellness_research.analysis._common import death_times as _death_times
from wellness_research.analysis._common import deviation_lines as _deviation_lines
from wellness_research.analysis._common import finding_lines as _finding_lines
from wellness_research.analysis._common import findings_tidy as _findings_tidy
from wellness_research.analysis._common import fiscal_year_end as _fiscal_year_end
from wellness_research.analysis._common import html as _html
from wellness_research.analysis._common import matched_participant_ids as _matched_participant_ids
from wellness_research.analysis._common import protocol_of as _protocol
from wellness_research.analysis._common import seed_of as _seed
from wellness_research.analysis._common import suppress as _suppress
from wellness_research.analysis.findings import Finding, findings_frame
from wellness_research.errors import ConfigurationError, DataValidationError

__all__ = [
    "SoftCertification",
    "SoftCohort",
    "SoftCostEffectiveness",
    "SoftCosts",
    "SoftMatching",
    "soft_certification",
    "soft_cohort",
    "soft_cost_effectiveness",
    "soft_costs",
    "soft_matching",
]

_TIDY = ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]

#: Protocol covariate -> frame column where the frame holds it under another name or scale.
_COVARIATE_ALIASES: dict[str, tuple[str, str]] = {
    "kcl_motor": ("kcl_physical", "the motor-function domain (items 6-10) is called kcl_physical in the frame"),
    "medical_cost_12m": ("log_medical_cost_12m", "used as log(1 + yen)"),
    "ltc_cost_12m": ("log_ltc_cost_12m", "used as log(1 + yen)"),
    "ever_certified_before": ("prior_certification", "a certification applied for before the index month"),
    "tekupo_registered": ("tekupo", "registered in てくポ before the index month"),
    "checkup_missing": ("checkup_missing", "1 when no checkup value is known (derived from the *_missing flags)"),
}


# --------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------
def _soft_po(truth: Any) -> pd.DataFrame | None:
    if truth is None:
        return None
    po = truth.potential_outcomes
    po = po[po["programme"] == "soft"]
    return po.set_index(po["person_id"].astype(str))


def _risk_truth(truth: Any, ids: np.ndarray, *, months: int,
                starts: pd.Series | None = None) -> tuple[float | None, int]:
    """Sample truth of the certification risk difference over ``ids`` (None without a truth).

    ``starts``: each participant's time zero (landmark date, indexed by person id); the window is the
    ``months`` from it and each arm's risk set is the participants alive and uncertified in that arm
    then (:func:`~wellness_research.synthetic.sample_truth`, ``at_risk="arm"``). Without ``starts``
    the window runs from the index month over everyone (``at_risk="all"``; for 36 months the mean of
    ``certified_treated - certified_untreated``).
    """
    from wellness_research.synthetic import sample_truth

    po = _soft_po(truth)
    if po is None or len(ids) == 0:
        return None, 0
    have = pd.Index(ids).intersection(po.index[~po.index.duplicated(keep=False)])
    if len(have) == 0:
        return None, 0
    if starts is None:
        st = sample_truth(truth.potential_outcomes, have, start=0, months=int(months), at_risk="all")
    else:
        st = sample_truth(truth.potential_outcomes, have, start=starts.reindex(have).to_numpy(),
                          months=int(months), at_risk="arm")
    return float(st.risk_difference), int(len(have))


def _death_truth(truth: Any, ids: np.ndarray, *, months: int, starts: pd.Series | None) -> float | None:
    """Sample truth of the risk difference of death (any cause) over ``ids`` (None without a truth).

    In each arm the risk set is the participants alive, and not certified in that arm, at their time
    zero (``starts``, or the index month); death in the ``months`` from it counts, with or without a
    certification first (the death outcome has no competing event): a death after a certification is
    taken in expectation (:func:`~wellness_research.synthetic.sample_truth` with ``outcome="death"``).
    Mirrors the frame's eligibility at the landmark, applied arm by arm.
    """
    from wellness_research.synthetic import sample_truth

    po = _soft_po(truth)
    if po is None or len(ids) == 0:
        return None
    have = pd.Index(ids).intersection(po.index[~po.index.duplicated(keep=False)])
    if len(have) == 0:
        return None
    start = 0 if starts is None else starts.reindex(have).to_numpy()
    st = sample_truth(truth.potential_outcomes, have, start=start, months=int(months), at_risk="arm", outcome="death")
    if st.n_at_risk_treated == 0 or st.n_at_risk_untreated == 0:
        return None
    return float(st.risk_difference)


def _count_certified(md: pd.DataFrame) -> str:
    """Certifications (cause 1) among the matched, per arm, in words."""
    ev = md["cert_event"].to_numpy() == 1
    soft = md["soft"].to_numpy() == 1
    return (f"{int((ev & soft).sum())} certification(s) among {int(soft.sum())} matched participants and "
            f"{int((ev & ~soft).sum())} among {int((~soft).sum())} matched controls")


def _landmark_starts(data: pd.DataFrame) -> pd.Series | None:
    """Participants' landmark dates by person id (None when the frame has no landmark)."""
    if "landmark_date" not in data.columns:
        return None
    d = data.loc[data["soft"].to_numpy() == 1]
    return pd.Series(pd.to_datetime(d["landmark_date"]).to_numpy(), index=d["person_id"].astype(str).to_numpy())


def _cost_truth(truth: Any, ids: np.ndarray) -> float | None:
    """Sample truth of the cost per person-month alive, treated minus untreated, over ``ids``."""
    po = _soft_po(truth)
    if po is None or len(ids) == 0:
        return None
    sel = po.loc[po.index.intersection(ids)]
    if len(sel) == 0 or sel["months_treated"].sum() <= 0 or sel["months_untreated"].sum() <= 0:
        return None
    return float(sel["cost_treated"].sum() / sel["months_treated"].sum()
                 - sel["cost_untreated"].sum() / sel["months_untreated"].sum())


# --------------------------------------------------------------------------------------------
# step 1: cohort and exposure
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SoftCohort:
    """The SOFT analysis frame under the protocol.

    Attributes
    ----------
    frame : wellness_research.cohort.CohortFrame
        What :func:`~wellness_research.cohort.soft_frame` returned (before the enrolment-start rule).
    data : pandas.DataFrame
        The analysed rows: the frame's columns plus ``age_band`` (protocol edges), ``dose_group``
        (participants; ``"control"`` for controls), ``death_time``/``death_event`` (months from the
        index; 1 = death, 0 = censored at move-out, end of data or 36 months) and ``checkup_missing``.
    excluded_before_enrolment : int
        Rows of the frame with an index month before ``calendar.enrolment_start`` (dropped here, counted).
    fiscal_year : int
    parameters : dict
        The arguments given to ``soft_frame``.
    deviations : tuple of str
        Protocol parameters the frame does not support yet, in words.
    published : dict
        ``{"flow": SuppressedTable}``.
    findings : tuple of Finding
        None at this step (kept for a uniform interface).
    """

    frame: Any = field(repr=False)
    data: pd.DataFrame = field(repr=False)
    excluded_before_enrolment: int
    fiscal_year: int
    parameters: dict[str, Any]
    deviations: tuple[str, ...]
    published: dict[str, Any] = field(repr=False)
    findings: tuple[Finding, ...] = ()

    def flow(self) -> pd.DataFrame:
        """The cohort flow with the enrolment-start rule added before ``analysed``."""
        f = self.frame.flow()
        last = f.iloc[[-1]].copy()
        d = self.data
        extra = pd.DataFrame([["excluded: index month before enrolment start",
                               int(f.iloc[-1]["participant"]) - int((d.soft == 1).sum()),
                               int(f.iloc[-1]["control"]) - int((d.soft == 0).sum())]], columns=f.columns)
        last.iloc[0, 1:] = [int((d.soft == 1).sum()), int((d.soft == 0).sum())]
        return pd.concat([f.iloc[:-1], extra, last], ignore_index=True)

    def dose_counts(self) -> pd.DataFrame:
        """Participants per dose group."""
        t = self.data[self.data.soft == 1]
        return t.groupby("dose_group", observed=False).size().rename("participants").reset_index()

    def tidy(self) -> pd.DataFrame:
        """The flow in long form (term = step [arm], n), in the package's tidy columns."""
        f = self.flow().melt(id_vars="step", var_name="arm", value_name="n")
        out = pd.DataFrame({"term": f["step"] + " [" + f["arm"] + "]", "estimate": np.nan, "std_error": np.nan,
                            "conf_low": np.nan, "conf_high": np.nan, "p_value": np.nan,
                            "n": f["n"].astype(np.int64)})
        return out

    def summary(self) -> str:
        """Plain-text flow and deviations."""
        d = self.data
        lines = [f"SOFT cohort, FY{self.fiscal_year}: {int((d.soft == 1).sum())} participants, "
                 f"{int((d.soft == 0).sum())} eligible non-participants (index months "
                 f"{d.index_date.min():%Y-%m} to {d.index_date.max():%Y-%m})",
                 self.flow().to_string(index=False)]
        lines += _deviation_lines(self.deviations)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def _frame_arguments(protocol: Any, fiscal_year: int) -> tuple[dict[str, Any], list[str]]:
    """Map the protocol onto soft_frame's arguments; every parameter it cannot take is a deviation."""
    from wellness_research.cohort import soft_frame

    accepted = inspect.signature(soft_frame).parameters
    p = protocol.get
    fy_end = _fiscal_year_end(fiscal_year)
    data_end = fy_end
    index_end = data_end - pd.DateOffset(months=int(p("calendar.enrolment_end_offset_months")))
    kwargs: dict[str, Any] = {
        "min_sessions": int(p("exposure.min_sessions")),
        "window_months": int(p("exposure.window_months")),
        "followup_months": int(p("outcomes.follow_up_months")),
        "origin": str(p("calendar.data_start")),
        "data_end": f"{data_end:%Y-%m}",
        "index_end": f"{index_end:%Y-%m}",
        "movers": "censor" if "move_out" in p("outcomes.censor_at") else "drop",
        "min_residence_months": int(p("population.min_residence_months")),
        "kcl_lookback_months": _optional_int(p("covariates.kcl_lookback_months")),
        "checkup_lookback_months": _optional_int(p("covariates.checkup_lookback_months")),
    }
    dev: list[str] = []
    if p("index.time_zero") == "landmark":
        # the protocol's landmark is the end of the exposure window (index.time_zero: "follow-up starts at
        # index + exposure.window_months for both arms"); it has no separate key
        kwargs["landmark_months"] = int(p("exposure.window_months"))
    if int(p("population.min_age")) != 65:
        dev.append(f"population.min_age={p('population.min_age')}: soft_frame fixes the age at 65")
    if p("index.controls") == "risk_set" and p("index.candidates_per_participant") is not None:
        dev.append(f"index.candidates_per_participant={p('index.candidates_per_participant')}: soft_frame gives "
                   "every non-participant one index month drawn from the participants' months (risk-set sampling "
                   "in calendar time) instead of sampling candidates per participant from each month's risk set")
    if int(p("calendar.baseline_months")) != 12:
        dev.append(f"calendar.baseline_months={p('calendar.baseline_months')}: soft_frame's cost look-back is 12 months")
    if p("index.controls_starting_later") != "keep":
        dev.append(f"index.controls_starting_later={p('index.controls_starting_later')}: soft_frame keeps them (ITT)")
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    return kwargs, dev


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def soft_cohort(
    protocol: Any,
    tables: Mapping[str, pd.DataFrame],
    *,
    fiscal_year: int,
    seed: int | np.random.Generator | None = None,
) -> SoftCohort:
    """Step 1: the SOFT analysis frame under the protocol (participants, risk-set controls, exclusions).

    Parameters
    ----------
    protocol : Protocol or str
        The SOFT protocol (``load_protocol("soft")``) or its name.
    tables : mapping of str to pandas.DataFrame
        The municipality's tables (as for :func:`~wellness_research.cohort.soft_frame`). Not modified.
    fiscal_year : int
        The reported fiscal year: data end in March of the next calendar year; the last index month
        is ``calendar.enrolment_end_offset_months`` before it.
    seed : int, numpy.random.Generator or None
        Draws the controls' index months; None: the protocol's ``seeds.risk_set``.

    Returns
    -------
    SoftCohort

    Notes
    -----
    Passed to ``soft_frame``: ``exposure.min_sessions``, ``exposure.window_months``,
    ``outcomes.follow_up_months``, ``calendar.data_start``, the data end and last index month of the
    fiscal year, ``movers="censor"`` when ``outcomes.censor_at`` lists ``move_out``, and
    ``landmark_months=exposure.window_months`` when ``index.time_zero`` is ``landmark`` (follow-up,
    outcomes and ``death_time`` from the landmark for both arms). Applied
    here: ``calendar.enrolment_start`` (earlier index months are dropped and counted), the dose
    groups and the age bands. Every other protocol parameter ``soft_frame`` cannot take is listed in
    ``deviations``.

    References
    ----------
    Hernán MA, Robins JM (2016). Using big data to emulate a target trial when a randomized trial is
    not available. *Am J Epidemiol* 183(8):758–764.

    Examples
    --------
    >>> from wellness_research.protocols import load_protocol
    >>> from wellness_research.synthetic import make_municipality
    >>> c = soft_cohort(load_protocol("soft"), make_municipality("tiny", seed=0).tables, fiscal_year=2025)
    >>> set(c.data.soft) <= {0, 1}
    True
    >>> c.deviations  # every protocol parameter of the cohort step is implemented
    ()
    """
    from wellness_research.cohort import soft_frame

    protocol = _protocol(protocol)
    kwargs, dev = _frame_arguments(protocol, fiscal_year)
    cf = soft_frame(tables, seed=_seed(seed, protocol, "risk_set"), **kwargs)
    d = cf.data
    start = pd.Timestamp(str(protocol.get("calendar.enrolment_start")))
    early = d["index_date"] < start
    d = d.loc[~early].reset_index(drop=True)
    edges = [float(e) for e in protocol.get("matching.age_band_edges")]
    labels = [f"{int(a)}-{int(b) - 1}" for a, b in zip(edges[:-1], edges[1:], strict=True)] + [f"{int(edges[-1])}+"]
    band = np.searchsorted(np.asarray(edges), d["age"].to_numpy(dtype=float), side="right") - 1
    if (band < 0).any():
        raise DataValidationError(f"soft_cohort: {int((band < 0).sum())} rows are younger than the first age band "
                                  f"edge {edges[0]} (e.g. age {float(d['age'].iloc[int(np.flatnonzero(band < 0)[0])])}).")
    d["age_band"] = pd.Categorical.from_codes(band, categories=labels)
    groups = protocol.get("exposure.dose_groups")
    dose = np.full(len(d), "control", dtype=object)
    s = d["sessions_window"].to_numpy()
    for g in groups:
        hi = np.inf if g["max_sessions"] is None else g["max_sessions"]
        dose[(d["soft"].to_numpy() == 1) & (s >= g["min_sessions"]) & (s <= hi)] = g["name"]
    d["dose_group"] = pd.Categorical(dose, categories=[g["name"] for g in groups] + ["control"])
    miss = [c for c in d.columns if c.endswith("_missing") and c != "kcl_missing"]
    d["checkup_missing"] = d[miss].max(axis=1).astype(np.int64) if miss else 0
    data_end = pd.Timestamp(str(kwargs.get("data_end", "2026-03")))
    d["death_time"], d["death_event"] = _death_times(tables, d, data_end, int(protocol.get("outcomes.follow_up_months")))
    if not bool(protocol.get("exposure.count_recorded")):
        dev.append("exposure.count_recorded=false: soft_frame counts every attendance row, live or recorded")
    result = SoftCohort(frame=cf, data=d, excluded_before_enrolment=int(early.sum()), fiscal_year=int(fiscal_year),
                        parameters=dict(kwargs), deviations=tuple(dev), published={})
    flow = result.flow().set_index("step")
    published = {"flow": _suppress(flow, protocol, margins=False)}
    object.__setattr__(result, "published", published)
    return result


# --------------------------------------------------------------------------------------------
# step 2: matching and balance
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SoftMatching:
    """The matched design and its balance.

    Attributes
    ----------
    matched : MatchResult
    balance : BalanceTable
    covariates : tuple of str
        Frame columns used in the propensity model.
    exact : tuple of str
    deviations : tuple of str
        Protocol covariates the frame lacks, and other departures.
    published : dict
        ``{"balance": SuppressedTable, "matched_counts": SuppressedTable}``.
    findings : tuple of Finding
        None at this step.
    """

    matched: Any = field(repr=False)
    balance: Any = field(repr=False)
    covariates: tuple[str, ...]
    exact: tuple[str, ...]
    deviations: tuple[str, ...]
    published: dict[str, Any] = field(repr=False)
    findings: tuple[Finding, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row per covariate: term, estimate = SMD after matching (n = matched treated), smd_before."""
        b = self.balance.table
        n = self.matched.n_matched["treated"]
        return pd.DataFrame({"term": b["covariate"], "estimate": b["smd_after"], "std_error": np.nan,
                             "conf_low": np.nan, "conf_high": np.nan, "p_value": np.nan, "n": n,
                             "smd_before": b["smd_before"]}).reset_index(drop=True)

    def summary(self) -> str:
        """Matched counts, balance and deviations."""
        n = self.matched.n_matched
        lines = [f"SOFT matching: {n['treated']} participants matched to {n['control']} controls "
                 f"(ratio {self.matched.ratio}, caliper {self.matched.caliper} SD of the logit, exact on "
                 f"{', '.join(self.exact)}); max |SMD| after {self.balance.max_abs_smd:.3f}",
                 self.matched.unmatched_counts().to_string()]
        lines += _deviation_lines(self.deviations)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def soft_matching(
    protocol: Any,
    cohort: SoftCohort,
    *,
    seed: int | np.random.Generator | None = None,
    caliper: float | None = None,
) -> SoftMatching:
    """Step 2: propensity matching within the protocol's exact strata, and balance.

    Parameters
    ----------
    protocol : Protocol or str
    cohort : SoftCohort
        From :func:`soft_cohort`.
    seed : int, numpy.random.Generator or None
        For the matcher (used only with a random order); None: ``seeds.matching``.
    caliper : float, optional
        Overrides ``matching.caliper`` (the caliper sensitivity analyses).

    Returns
    -------
    SoftMatching

    Notes
    -----
    Covariates of ``covariates.propensity`` that the frame holds under another name are mapped
    (e.g. ``kcl_motor`` -> ``kcl_physical``; costs as log(1 + yen)); covariates the frame lacks
    are listed in ``deviations``; an exact-matching variable is left out of the propensity model
    (constant within strata). Covariates that do not vary in the frame are left out and listed.

    References
    ----------
    Austin PC (2011). Optimal caliper widths for propensity-score matching. *Pharm Stat* 10(2):150–161.
    """
    from wellness_research.matching import balance, match

    protocol = _protocol(protocol)
    if not isinstance(cohort, SoftCohort):
        raise ConfigurationError(f"soft_matching: cohort must be a SoftCohort; got {type(cohort).__name__}.")
    p = protocol.get
    d = cohort.data
    exact = [str(x) for x in p("matching.exact")]
    dev: list[str] = []
    covs: list[str] = []
    extra_exact: list[str] = []
    for c in p("covariates.propensity"):
        if c in exact:
            continue
        col = _COVARIATE_ALIASES.get(c, (c, ""))[0]
        if col not in d.columns:
            dev.append(f"covariate {c!r} is not in the frame (soft_frame does not build it yet); left out of the "
                       "propensity model")
            continue
        if d[col].nunique() < 2:
            dev.append(f"covariate {c!r} ({col}) does not vary in the frame; left out of the propensity model")
            continue
        if d.loc[d["soft"] == 1, col].nunique() < 2:
            # all participants share one value: a logit would not converge (quasi-separation); matching
            # exactly on it keeps the controls to that value and balances it exactly
            value = d.loc[d["soft"] == 1, col].iloc[0]
            dev.append(f"covariate {c!r} ({col}) is {value:g} for every participant; matched exactly on it "
                       "instead of entering the propensity model")
            extra_exact.append(col)
            continue
        covs.append(col)
    missing_exact = [e for e in exact if e not in d.columns]
    if missing_exact:
        raise DataValidationError(f"soft_matching: exact-matching column(s) {missing_exact} not in the frame.")
    exact = exact + extra_exact
    cal = float(p("matching.caliper")) if caliper is None else float(caliper)
    frame = d.copy()
    for e in exact:  # exact strata on codes (categoricals and months compare as numbers)
        if isinstance(frame[e].dtype, pd.CategoricalDtype):
            frame[e] = frame[e].cat.codes.astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overlap / discard notes are kept on the result (MatchResult.notes)
        m = match(frame, treatment="soft", covariates=covs, method=str(p("matching.method")),
                  distance=str(p("matching.distance")), caliper=cal, ratio=int(p("matching.ratio")),
                  replace=bool(p("matching.replace")), exact=exact, order=str(p("matching.order")),
                  seed=_seed(seed, protocol, "matching"))
    vr = p("matching.balance_variance_ratio")
    bal = balance(m, covariates=[*covs, *extra_exact], thresholds={"smd": float(p("matching.balance_smd_max")), "variance_ratio": float(max(vr))})
    n = m.n_matched
    btab = bal.table[["covariate", "smd_before", "smd_after", "variance_ratio_after"]].copy()
    btab["n_treated"] = n["treated"]
    btab["n_control"] = n["control"]
    published = {
        "balance": _suppress(btab, protocol, count_columns=["n_treated", "n_control"], group_columns=["covariate"],
                             rate_columns={"smd_before": (None, "n_treated"), "smd_after": (None, "n_treated"),
                                           "variance_ratio_after": (None, "n_treated")}),
        "matched_counts": _suppress(m.unmatched_counts(), protocol, margins=False),
    }
    return SoftMatching(matched=m, balance=bal, covariates=tuple(covs), exact=tuple(exact), deviations=tuple(dev),
                        published=published)


# --------------------------------------------------------------------------------------------
# step 3: certification
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SoftCertification:
    """Certification outcomes on the matched design, with the naive comparison beside them.

    Attributes
    ----------
    cumulative_incidence : CumulativeIncidenceResult
        Matched, by arm, at 0, 6, …, 36 months.
    risk_difference, risk_difference_care2plus, risk_difference_death : RiskDifferenceResult
    cox : CoxResult or None
        Cause-specific hazard ratio of certification, clustered by matched set; None when not
        estimable (an arm without certifications, or a fit that does not converge; see ``deviations``).
    naive : RiskDifferenceResult
        Every participant against every eligible non-participant, unmatched.
    naive_bias : float
        ``naive.estimate − risk_difference.estimate``: negative = the naive comparison flatters
        SOFT (healthy-user bias).
    evalue : EValueResult or None
        None when the hazard ratio is not estimable.
    truth_risk_difference, truth_naive : float or None
        Sample truths (matched participants; all participants in the frame).
    findings : tuple of Finding
    published : dict
        ``{"cumulative_incidence": SuppressedTable, "effects": SuppressedTable}``.
    deviations : tuple of str
    """

    cumulative_incidence: Any = field(repr=False)
    risk_difference: Any = field(repr=False)
    risk_difference_care2plus: Any = field(repr=False)
    risk_difference_death: Any = field(repr=False)
    cox: Any = field(repr=False)
    naive: Any = field(repr=False)
    naive_bias: float
    evalue: Any = field(repr=False)
    truth_risk_difference: float | None
    truth_naive: float | None
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row per finding (term = finding name), with ``truth`` and ``unit``."""
        return _findings_tidy(self.findings)

    def summary(self) -> str:
        """Findings, the naive comparison's bias, the E-value and deviations."""
        sign = "towards benefit (healthy-user bias)" if self.naive_bias < 0 else "towards harm"
        lines = ["SOFT certification outcomes (matched; death competing)", *_finding_lines(self.findings),
                 f"  naive minus matched: {self.naive_bias:+.4f} ({sign})",
                 "  E-value: not estimable (no hazard ratio)" if self.evalue is None else
                 f"  E-value (HR, rare outcome): point {self.evalue.evalue:.3g}, CI {self.evalue.evalue_ci:.3g}"]
        lines += _deviation_lines(self.deviations)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def _at_risk_table(data: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
    """Unweighted persons at risk and cumulative certifications by arm and time (for publication)."""
    rows = []
    for arm, part in data.groupby("soft", sort=True):
        t, e = part["cert_time"].to_numpy(), part["cert_event"].to_numpy()
        for tm in times:
            rows.append({"arm": "participant" if arm == 1 else "control", "time": float(tm),
                         "at_risk": int((t >= tm).sum()) if tm > 0 else int(len(t)),
                         "certified": int(((e == 1) & (t <= tm)).sum())})
    return pd.DataFrame(rows)


def soft_certification(
    protocol: Any,
    matching: SoftMatching,
    *,
    cohort: SoftCohort | None = None,
    truth: Any = None,
    seed: int | np.random.Generator | None = None,
    n_bootstrap: int | None = None,
) -> SoftCertification:
    """Step 3: 3-year risk difference of certification, cause-specific Cox HR, naive comparison, E-value.

    Parameters
    ----------
    protocol : Protocol or str
    matching : SoftMatching
        From :func:`soft_matching`.
    cohort : SoftCohort, optional
        For the naive participant-vs-everyone comparison (default: the matching's unmatched data).
    truth : GroundTruth, optional
        On synthetic data: attaches the sample truths.
    seed : int, numpy.random.Generator or None
        Cluster bootstrap; None: ``seeds.bootstrap``.
    n_bootstrap : int, optional
        Replicates; None: ``analyses.cumulative_incidence.n_boot``.

    Returns
    -------
    SoftCertification

    References
    ----------
    Aalen OO, Johansen S (1978). *Scand J Stat* 5:141–150. Austin PC, Fine JP (2019). Propensity-score
    matching with competing risks in survival analysis. *Stat Med* 38(5):751–777. VanderWeele TJ,
    Ding P (2017). *Ann Intern Med* 167(4):268–274 (E-value).
    """
    from wellness_research.matching import evalue
    from wellness_research.survival import cause_specific_cox, cumulative_incidence, risk_difference

    protocol = _protocol(protocol)
    if not isinstance(matching, SoftMatching):
        raise ConfigurationError(f"soft_certification: matching must be a SoftMatching; got {type(matching).__name__}.")
    p = protocol.get
    m = matching.matched
    horizon = float(p("analyses.cumulative_incidence.horizon_months"))
    alpha = float(p("analyses.alpha"))
    nb = int(p("analyses.cumulative_incidence.n_boot")) if n_bootstrap is None else int(n_bootstrap)
    rng = np.random.default_rng(_seed(seed, protocol, "bootstrap"))
    method = "bootstrap" if p("analyses.cumulative_incidence.ci_method") == "cluster_bootstrap" else "analytic"
    times = np.arange(0.0, horizon + 1e-9, 6.0)
    ci = cumulative_incidence(m, time="cert_time", event="cert_event", group="soft", times=times, alpha=alpha)
    rd_kw = {"at": horizon, "group": "soft", "method": method, "n_bootstrap": nb, "alpha": alpha}
    rd = risk_difference(m, time="cert_time", event="cert_event", seed=rng, **rd_kw)
    rd2 = risk_difference(m, time="care2_time", event="care2_event", seed=rng, **rd_kw)
    rdd = risk_difference(m, time="death_time", event="death_event", competing=(), seed=rng, **rd_kw)
    md = m.matched_data()
    arms_events = md.loc[md["cert_event"].to_numpy() == 1, "soft"].nunique()
    cox, failure, caught = None, "", []
    if arms_events == 2:  # with no event in an arm the partial likelihood has no finite maximum
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                cox = cause_specific_cox(md, duration="cert_time", event="cert_event", treatment="soft",
                                         weights="weights", cluster="subclass", alpha=alpha)
            except ConvergenceError as err:
                failure = f"; the fit did not converge: {str(err).split('.')[0]}"
    cox_dev = []
    if cox is None or caught:
        why = ("not fitted: an arm has no certification" if arms_events < 2 else
               f"{len(caught)} fitting warning(s): "
               f"{'; '.join(sorted({type(w.message).__name__ for w in caught})) or 'none'}{failure}")
        cox_dev.append(f"cause-specific Cox of certification: {_count_certified(md)}; the hazard ratio and the "
                       f"E-value are not estimable ({why})")
    everyone = (cohort.data if cohort is not None else m.data)
    naive = risk_difference(everyone, time="cert_time", event="cert_event", group="soft", at=horizon,
                            method="analytic", alpha=alpha)
    hr = cox.coefficients.iloc[0] if cox is not None else None
    ev = None if cox_dev else evalue(float(hr["hazard_ratio"]), conf_low=float(hr["conf_low"]),
                                     conf_high=float(hr["conf_high"]), scale=str(p("sensitivity.evalue.scale")),
                                     rare_outcome=bool(p("sensitivity.evalue.rare_outcome")))
    ids = _matched_participant_ids(m)
    starts = _landmark_starts(everyone)
    if starts is None and "landmark_date" in m.data.columns:
        starts = _landmark_starts(m.data)
    t_rd, n_truth = _risk_truth(truth, ids, months=int(horizon), starts=starts)
    all_ids = everyone.loc[everyone["soft"] == 1, "person_id"].astype(str).unique()
    t_naive, _ = _risk_truth(truth, all_ids, months=int(horizon), starts=starts)
    t_death = _death_truth(truth, ids, months=int(horizon), starts=starts)
    t_hr = None if truth is None else float(truth.effects.soft_hr_certification)
    dev: list[str] = list(cox_dev)
    if truth is not None and n_truth < len(ids):
        dev.append(f"{len(ids) - n_truth} matched participants have no potential outcomes in the truth")
    n_m = m.n_matched
    n_pairs = n_m["treated"] + n_m["control"]
    findings = (
        Finding("risk_difference_3y", rd.estimate, rd.conf_low, rd.conf_high, n_pairs, truth=t_rd,
                unit="proportion",
                description=f"3-year risk of a new LTC certification, participants minus matched non-participants "
                            f"(Aalen–Johansen, death competing; {rd.method})"),
        # Not estimable (an arm without events, or a fit that warned): published as NaN, never as a number.
        Finding("hazard_ratio_certification", *((np.nan,) * 3 if cox_dev else
                                                (cox.hazard_ratio, float(hr["conf_low"]), float(hr["conf_high"]))),
                n_pairs if cox is None else cox.n, truth=None if cox_dev else t_hr, unit="ratio",
                description="cause-specific hazard ratio of certification, participants vs matched non-participants "
                            "(robust SE clustered by matched set)" + ("; not estimable here" if cox_dev else "")
                            + ("; truth = the generator's hazard multiplier, conditional on the latent frailty (the "
                               "marginal hazard ratio of a heterogeneous population lies slightly closer to 1)"
                               if t_hr is not None and not cox_dev else "")),
        Finding("risk_difference_care2plus_3y", rd2.estimate, rd2.conf_low, rd2.conf_high, n_pairs,
                unit="proportion", description="3-year risk of certification at 要介護2 or worse, matched difference "
                                               "(no truth: the ground truth does not follow care levels by arm)"),
        Finding("risk_difference_death_3y", rdd.estimate, rdd.conf_low, rdd.conf_high, n_pairs, truth=t_death,
                unit="proportion", description="3-year risk of death, matched difference"),
        Finding("naive_risk_difference_3y", naive.estimate, naive.conf_low, naive.conf_high,
                naive.n_treated + naive.n_control, truth=t_naive, unit="proportion",
                description="naive comparison: every participant against every eligible non-participant, "
                            "unmatched (biased by healthier participants); truth = the effect in all participants"),
    )
    at = _at_risk_table(md, times)
    cif_at = ci.at.copy()
    cif_at["arm"] = np.where(cif_at["group"] == 1, "participant", "control")
    at = at.merge(cif_at[["arm", "time", "estimate", "conf_low", "conf_high"]], on=["arm", "time"], how="left")
    at = at.rename(columns={"estimate": "cumulative_incidence"})
    rates = {c: ("certified", "at_risk") for c in ("cumulative_incidence", "conf_low", "conf_high")}
    eff = findings_frame(findings)[["name", "estimate", "conf_low", "conf_high", "n"]].copy()
    eff["n"] = eff["n"].astype(np.int64)
    published = {
        "cumulative_incidence": _suppress(at, protocol, count_columns=["at_risk", "certified"],
                                          group_columns=["arm", "time"], rate_columns=rates),
        "effects": _suppress(eff, protocol, count_columns=["n"], group_columns=["name"],
                             rate_columns={c: (None, "n") for c in ("estimate", "conf_low", "conf_high")}),
    }
    return SoftCertification(cumulative_incidence=ci, risk_difference=rd, risk_difference_care2plus=rd2,
                             risk_difference_death=rdd, cox=cox, naive=naive,
                             naive_bias=float(naive.estimate - rd.estimate), evalue=ev, truth_risk_difference=t_rd,
                             truth_naive=t_naive, findings=findings, published=published, deviations=tuple(dev))


# --------------------------------------------------------------------------------------------
# step 4: costs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SoftCosts:
    """Difference-in-differences of monthly LTC + medical cost in the matched sample.

    Attributes
    ----------
    panel : CostPanel
    did : DiDResult
        ``total_cost ~ treated:post | unit + rel_time``, matching weights, clustered by matched set.
    event_study : EventStudyResult
    truth : float or None
        Sample truth over the matched participants (yen per person-month alive).
    findings : tuple of Finding
    published : dict
        ``{"costs": SuppressedTable}`` (mean monthly cost by arm and period with person counts).
    deviations : tuple of str
    """

    panel: Any = field(repr=False)
    did: Any = field(repr=False)
    event_study: Any = field(repr=False)
    truth: float | None
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row per finding."""
        return _findings_tidy(self.findings)

    def summary(self) -> str:
        """The DiD estimate against its truth, the pre-trend test and deviations."""
        lines = ["SOFT costs: matched difference-in-differences of LTC + medical cost per person-month",
                 *_finding_lines(self.findings)]
        pt = getattr(self.event_study, "pretrend", None)
        if pt is not None:
            lines.append(f"  pre-trend test: p = {pt.p_value:.3g}")
        lines += _deviation_lines(self.deviations)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def soft_costs(
    protocol: Any,
    matching: SoftMatching,
    tables: Mapping[str, pd.DataFrame],
    *,
    fiscal_year: int,
    truth: Any = None,
    seed: int | np.random.Generator | None = None,
) -> SoftCosts:
    """Step 4: matched difference-in-differences on monthly LTC + medical cost, and the event study.

    Parameters
    ----------
    protocol : Protocol or str
    matching : SoftMatching
    tables : mapping of str to pandas.DataFrame
        Residents, claims and SOFT attendance. Not modified.
    fiscal_year : int
        The panel ends in March after the fiscal year.
    truth : GroundTruth, optional
    seed : int, numpy.random.Generator or None
        For the event study's simultaneous band; None: ``seeds.bootstrap``.

    Returns
    -------
    SoftCosts

    References
    ----------
    Stuart EA et al. (2014). Using propensity scores in difference-in-differences models to estimate
    the effects of a policy change. *Health Serv Outcomes Res Methodol* 14(4):166–182.
    """
    from wellness_research.did.panel import cost_panel
    from wellness_research.did.twfe import did_2x2, event_study

    protocol = _protocol(protocol)
    if not isinstance(matching, SoftMatching):
        raise ConfigurationError(f"soft_costs: matching must be a SoftMatching; got {type(matching).__name__}.")
    p = protocol.get
    dev: list[str] = []
    window = tuple(int(v) for v in p("analyses.did_matched.window"))
    components = tuple(str(c) for c in p("outcomes.costs.components"))
    end = _fiscal_year_end(fiscal_year)
    panel = cost_panel(tables, start=str(p("calendar.data_start")), end=f"{end:%Y-%m}", matched=matching.matched,
                       window=(window[0], window[1]), cost=components,
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
                         window=(window[0], window[1]), alpha=alpha, seed=_seed(seed, protocol, "bootstrap"),
                         diagnostic=False)
    ids = d.loc[d["treated"] == 1, "person_id"].astype(str).unique()
    t_cost = _cost_truth(truth, ids)
    findings = (Finding("did_cost_month", did.estimate, did.conf_low, did.conf_high, int(d["unit"].nunique()),
                        truth=t_cost, unit="yen per person-month",
                        description="change in LTC + medical cost per person-month alive after the index month, "
                                    "participants minus matched non-participants (difference-in-differences)"),)
    cells = (d.assign(period=np.where(d["post"], "after", "before"))
             .groupby(["treated", "period"], observed=True)
             .apply(lambda g: pd.Series({"persons": int(g["person_id"].nunique()),
                                         "mean_cost": float(np.average(g["total_cost"], weights=g["weight"]))}),
                    include_groups=False)
             .reset_index())
    cells["arm"] = np.where(cells["treated"] == 1, "participant", "control")
    cells = cells[["arm", "period", "persons", "mean_cost"]]
    cells["persons"] = cells["persons"].astype(np.int64)
    published = {"costs": _suppress(cells, protocol, count_columns=["persons"], group_columns=["arm", "period"],
                                    rate_columns={"mean_cost": (None, "persons")})}
    return SoftCosts(panel=panel, did=did, event_study=es, truth=t_cost, findings=findings, published=published,
                     deviations=tuple(dev))


# --------------------------------------------------------------------------------------------
# step 5: cost-effectiveness
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SoftCostEffectiveness:
    """Ten-year projection of one enrolment year of participants and the take-over decision.

    Attributes
    ----------
    effect : Effect
        From the hazard ratio of :func:`soft_certification` with the protocol's duration and waning.
    projection : Projection
        Deterministic run at the point estimate.
    psa : PSAResult
        Per draw: averted LTC and medical cost, programme cost (discounted yen).
    decision : DecisionResult
    threshold : float
        ``analyses.decision.probability_threshold``.
    take_over : bool
        P(net benefit > 0) >= threshold.
    n_persons, n_sites : int
        Participants projected (those enrolled in the fiscal year) and sites open in it.
    findings : tuple of Finding
    published : dict
        ``{"cost_effectiveness": SuppressedTable}``.
    deviations : tuple of str
    """

    effect: Any
    projection: Any = field(repr=False)
    psa: Any = field(repr=False)
    decision: Any = field(repr=False)
    threshold: float
    take_over: bool
    n_persons: int
    n_sites: int
    findings: tuple[Finding, ...]
    published: dict[str, Any] = field(repr=False)
    deviations: tuple[str, ...] = ()

    def tidy(self) -> pd.DataFrame:
        """One row per finding."""
        return _findings_tidy(self.findings)

    def summary(self) -> str:
        """The decision in words and numbers."""
        lines = [f"SOFT cost-effectiveness: {self.n_persons} participants of one enrolment year, {self.n_sites} "
                 f"sites, {self.projection.years}-year horizon, {self.psa.n_draws} PSA draws",
                 *_finding_lines(self.findings),
                 f"  decision: {'take over' if self.take_over else 'do not take over yet'} (threshold "
                 f"P(net benefit > 0) >= {self.threshold:g})"]
        lines += _deviation_lines(self.deviations)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.summary())


def _ce_model(params: dict[str, Any], seed: int, *, population: Any, base: Any, effect: Any, years: int,
              cycle: str, engine: str, rate: float, timing: str, n_sites: int, n_persons: int,
              cost_names: Sequence[str]) -> dict[str, float]:
    from wellness_research.microsim import programme_cost

    ltc, medical = averted_costs(params["hr"], seed, population=population, base=base, effect=effect, years=years,
                                 cycle=cycle, engine=engine, rate=rate, timing=timing)
    prog = programme_cost("soft", sites=n_sites, participants=n_persons, years=1, rate=rate,
                          params={k: params[k] for k in cost_names})
    return {"averted_ltc": ltc, "averted_medical": medical, "programme_cost": float(prog["discounted_cost"].sum())}


def soft_cost_effectiveness(
    protocol: Any,
    certification: SoftCertification,
    cohort: SoftCohort,
    tables: Mapping[str, pd.DataFrame],
    *,
    n_draws: int | None = None,
    engine: str | None = None,
    seed: int | np.random.Generator | None = None,
    psa_seed: int | np.random.Generator | None = None,
) -> SoftCostEffectiveness:
    """Step 5: does SOFT pay for itself? Microsimulation, programme cost incl. staff, PSA, decision.

    The participants who started SOFT in the fiscal year (their age, sex and state at its end) are
    projected over ``analyses.microsim.horizon_years`` with and without the programme; the effect
    is the cause-specific hazard ratio of certification (:meth:`Effect.from_ratio`) acting for
    ``effect_duration_years`` and waning over ``effect_waning_years``. Against the averted LTC +
    medical cost stands one year of programme cost (``programme_cost("soft")``: sites open in the
    fiscal year, its participants, staff included). The PSA draws the hazard ratio (log-normal
    from its CI) and the programme-cost parameters (gamma from their ranges).

    Parameters
    ----------
    protocol : Protocol or str
    certification : SoftCertification
    cohort : SoftCohort
    tables : mapping of str to pandas.DataFrame
    n_draws : int, optional
        PSA draws; None: ``analyses.microsim.psa_draws``. Keep it small for tests.
    engine : {"microsim", "cohort"}, optional
        None: ``analyses.microsim.engine``.
    seed, psa_seed : int, numpy.random.Generator or None
        The projection and the PSA; None: ``seeds.microsim`` and ``seeds.psa``.

    Returns
    -------
    SoftCostEffectiveness

    References
    ----------
    Drummond MF et al. (2015). *Methods for the Economic Evaluation of Health Care Programmes*, 4th ed.
    Briggs A, Claxton K, Sculpher M (2006). *Decision Modelling for Health Economic Evaluation*, ch. 4.
    """
    from functools import partial

    from wellness_research.microsim import (
        Effect,
        cost_distributions,
        decide,
        load_parameters,
        population_at,
        project,
        run_psa,
    )
    from wellness_research.microsim.psa import Fixed, LogNormal

    protocol = _protocol(protocol)
    p = protocol.get
    dev: list[str] = []
    fy = cohort.fiscal_year
    fy_start, fy_end = pd.Timestamp(year=fy, month=4, day=1), _fiscal_year_end(fy)
    d = cohort.frame.data
    starters = d.loc[(d["soft"] == 1) & (d["index_date"] >= fy_start) & (d["index_date"] <= fy_end), "person_id"]
    if len(starters) == 0:
        dev.append(f"no participant started in FY{fy} inside the frame; the participants of the whole frame are "
                   "projected instead")
        starters = d.loc[d["soft"] == 1, "person_id"]
    pop = population_at(tables, fy_end + pd.offsets.MonthEnd(0))
    pop = pop[pop["person_id"].astype(str).isin(set(starters.astype(str)))].reset_index(drop=True)
    if len(pop) == 0:
        raise DataValidationError(f"soft_cost_effectiveness: none of the {len(starters)} participants of FY{fy} is "
                                  "alive and registered at the end of the fiscal year.")
    sites = tables["soft_sites"]
    open_ = (pd.to_datetime(sites["start_date"]) <= fy_end) & (
        pd.to_datetime(sites["end_date"]).isna() | (pd.to_datetime(sites["end_date"]) >= fy_start))
    n_sites = int(open_.sum())
    years = int(p("analyses.microsim.horizon_years"))
    hr_finding = next(f for f in certification.findings if f.name == "hazard_ratio_certification")
    estimable = math.isfinite(hr_finding.estimate)
    if not estimable:
        dev.append("the certification hazard ratio is not estimable in this matched sample (see the certification "
                   "step): the projection uses no effect (HR 1), so the decision reflects the programme cost only")
    hr = certification.cox.coefficients.iloc[0] if estimable else None
    effect = (Effect.from_ratio(float(hr["hazard_ratio"]), float(hr["conf_low"]), float(hr["conf_high"]),
                                alpha=float(p("analyses.alpha")),
                                duration_years=float(p("analyses.microsim.effect_duration_years")),
                                waning=float(p("analyses.microsim.effect_waning_years")))
              if estimable else Effect(hr_certification=1.0))
    base = load_parameters()
    eng = str(p("analyses.microsim.engine")) if engine is None else engine
    cycle = str(p("analyses.microsim.cycle"))
    rate = float(p("analyses.microsim.discount_rate"))
    timing = str(p("analyses.microsim.timing"))
    proj = project(pop, base, effect=effect, years=years, cycle=cycle, engine=eng,
                   seed=_seed(seed, protocol, "microsim"))
    cost_d = cost_distributions()
    if not bool(p("analyses.decision.include_staff")):
        dev.append("analyses.decision.include_staff=false: programme_cost always includes the staff lines")
    hr_dist = (LogNormal.from_ci(float(hr["hazard_ratio"]), float(hr["conf_low"]), float(hr["conf_high"]))
               if estimable else Fixed(1.0))
    dists: dict[str, Any] = {"hr": hr_dist, **cost_d}
    model = partial(_ce_model, population=pop, base=base, effect=effect, years=years, cycle=cycle, engine=eng,
                    rate=rate, timing=timing, n_sites=n_sites, n_persons=int(len(pop)), cost_names=list(cost_d))
    draws = int(p("analyses.microsim.psa_draws")) if n_draws is None else int(n_draws)
    psa = run_psa(model, dists, n_draws=draws, seed=_seed(psa_seed, protocol, "psa"))
    w = {k: psa.wide(k).iloc[:, 0].to_numpy(dtype=float) for k in ("averted_ltc", "averted_medical", "programme_cost")}
    dec = decide(averted_ltc=w["averted_ltc"], averted_medical=w["averted_medical"],
                 programme_cost=w["programme_cost"], horizon_years=years)
    thr = float(p("analyses.decision.probability_threshold"))
    nb = dec.net_benefit
    findings = (
        Finding("net_benefit_10y", float(nb.mean()), float(np.quantile(nb, 0.025)), float(np.quantile(nb, 0.975)),
                int(len(pop)), unit="yen",
                description=f"averted LTC + medical cost minus one year of programme cost incl. staff, discounted "
                            f"{rate:.0%}/yr over {years} years, for one enrolment year of participants (PSA mean and "
                            f"2.5-97.5 % range of {draws} draws)"),
        Finding("probability_net_benefit_positive", dec.probability_positive, math.nan, math.nan, draws,
                unit="probability",
                description=f"share of PSA draws in which SOFT saves more than it costs; the city takes it over "
                            f"at >= {thr:g}"),
    )
    tab = dec.tidy()[["term", "estimate", "conf_low", "conf_high"]].copy()
    tab["persons"] = np.int64(len(pop))
    published = {"cost_effectiveness": _suppress(tab, protocol, count_columns=["persons"], group_columns=["term"],
                                                 rate_columns={c: (None, "persons")
                                                               for c in ("estimate", "conf_low", "conf_high")})}
    return SoftCostEffectiveness(effect=effect, projection=proj, psa=psa, decision=dec, threshold=thr,
                                 take_over=bool(dec.probability_positive >= thr), n_persons=int(len(pop)),
                                 n_sites=n_sites, findings=findings, published=published, deviations=tuple(dev))
