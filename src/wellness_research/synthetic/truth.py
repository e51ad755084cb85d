"""The true programme effects of a synthetic municipality and the estimands they imply.

:class:`TrueEffects` holds the effects the generator puts into the data (strictly as multipliers of
the new-certification hazard from a programme's index month, plus a shift of the Kihon Checklist
answers at the end of the short-term service). :class:`GroundTruth` records what those effects imply
for the persons who actually took part: every participant is followed under both arms (treated and
untreated) with *common random numbers* — the same exponential thresholds of certification and death
— so the sample average treatment effects on the treated are exact, not simulated with noise. With a
hazard ratio of 1 both arms are identical and the effect is exactly zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from .._mapping import ReadOnlyMapping
from ..errors import ConfigurationError, DataValidationError

__all__ = ["GroundTruth", "ReadOnlyMapping", "SampleTruth", "TrueEffects", "sample_truth"]


_HR_RANGE = (0.0, 5.0)
_KCL_RANGE = (-10.0, 10.0)


@dataclass(frozen=True)
class TrueEffects:
    """True effects built into the synthetic municipality.

    Parameters
    ----------
    soft_hr_certification : float, default 0.70
        Hazard ratio of new LTC certification for SOFT participants from their first session
        month onward. Prior: HR 0.5–0.8 for group or social exercise (Hikichi 2015 PSM HR 0.52,
        Fujii 2020 HR 0.59; DOMAIN.md §5.1–5.2, §9).
    short_term_hr_certification : float, default 0.80
        Hazard ratio of new certification for completers of the short-term intensive service
        (サービスC) from the month after completion onward [E]; formal preventive services show
        HR ≈ 1 (Kashiwa, DOMAIN.md §5.3), reablement is assumed to do somewhat better.
    short_term_kcl_change : float, default -2.0
        Expected change of the Kihon Checklist total (0–25 points) measured at the end of the
        service, completers versus their own counterfactual [E]; it fades with a 12-month half-life.
    tekupo_hr_certification : float, default 0.95
        Hazard ratio of new certification for てくポ registrants from their registration month [E]
        (a small population-approach effect; DOMAIN.md §5.5 has no causal estimate).

    Raises
    ------
    ConfigurationError
        If a hazard ratio is not in (0, 5] or the KCL change not in [-10, 10].

    Examples
    --------
    >>> TrueEffects(soft_hr_certification=1.0).soft_hr_certification
    1.0
    """

    soft_hr_certification: float = 0.70
    short_term_hr_certification: float = 0.80
    short_term_kcl_change: float = -2.0
    tekupo_hr_certification: float = 0.95

    def __post_init__(self) -> None:
        for name in ("soft_hr_certification", "short_term_hr_certification", "tekupo_hr_certification"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
                math.isfinite(float(value)) and _HR_RANGE[0] < float(value) <= _HR_RANGE[1]
            ):
                raise ConfigurationError(
                    f"TrueEffects.{name} must be a hazard ratio in (0, 5]; got {value!r}."
                )
            object.__setattr__(self, name, float(value))
        value = self.short_term_kcl_change
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
            math.isfinite(float(value)) and _KCL_RANGE[0] <= float(value) <= _KCL_RANGE[1]
        ):
            raise ConfigurationError(
                f"TrueEffects.short_term_kcl_change must be a change in KCL points in [-10, 10]; got {value!r}."
            )
        object.__setattr__(self, "short_term_kcl_change", float(value))

    def to_dict(self) -> dict[str, float]:
        """The effects as a plain dict."""
        return asdict(self)


_DESCRIPTIONS = {
    "soft_att_risk3y": "SOFT participants: 3-year risk of new certification treated minus untreated (death competing; index = first session month; common random numbers)",
    "soft_att_risk3y_expected": "SOFT participants: the same risk difference, expectation over the certification/death thresholds given each participant's hazards",
    "soft_risk3y_treated": "SOFT participants: 3-year risk of new certification with SOFT",
    "soft_risk3y_untreated": "SOFT participants: 3-year risk of new certification without SOFT",
    "soft_att_risk3y_full_followup": "SOFT participants with index up to 2023-04 (36 months observable in the data): risk difference",
    "short_term_att_risk3y": "Short-term service completers: 3-year risk of new certification treated minus untreated (index = month after completion)",
    "short_term_att_risk3y_expected": "Short-term service completers: the same risk difference, expectation over the thresholds",
    "short_term_risk3y_treated": "Short-term service completers: 3-year risk of new certification with the service",
    "short_term_risk3y_untreated": "Short-term service completers: 3-year risk of new certification without the service",
    "short_term_att_risk3y_full_followup": "Short-term completers with index up to 2023-04: risk difference",
    "soft_att_cost_month": "SOFT participants: expected LTC + medical cost per person-month alive (yen), treated minus untreated, months 0-35 from the index month that are observable (before April 2026 and the move-out month); common random numbers up to certification, expected course after it",
    "soft_cost_month_treated": "SOFT participants: expected cost per person-month alive with SOFT (yen; same window)",
    "soft_cost_month_untreated": "SOFT participants: expected cost per person-month alive without SOFT (yen; same window)",
    "short_term_att_cost_month": "Short-term completers: expected cost per person-month alive (yen), treated minus untreated, same window as SOFT",
    "short_term_cost_month_treated": "Short-term completers: expected cost per person-month alive with the service (yen)",
    "short_term_cost_month_untreated": "Short-term completers: expected cost per person-month alive without the service (yen)",
    "short_term_kcl_change": "Short-term service completers: KCL total at the end of the service, treated minus untreated (same item draws)",
    "short_term_kcl_change_expected": "Short-term service completers: expected KCL change (the effect, capped where a person's expected total is below it)",
    "n_soft_participants": "Persons who attended SOFT at least once",
    "n_short_term_started": "Persons who started the short-term service",
    "n_short_term_completers": "Persons who completed the short-term service",
    "n_tekupo_users": "Persons aged 65+ registered in てくポ",
    "n_soft_sites": "SOFT sites opened",
}


@dataclass(frozen=True)
class GroundTruth:
    """Effects and the exact estimands they imply in one synthetic municipality.

    Attributes
    ----------
    effects : TrueEffects
    estimands : Mapping[str, float]
        Named estimands (see :meth:`tidy` for descriptions); risks are proportions, the KCL change
        is in points.
    counts : Mapping[str, int]
        Number of persons each estimand averages over.
    soft_sites : pandas.DataFrame
        SOFT opening schedule: site_id, district, start_date, end_date.
    potential_outcomes : pandas.DataFrame
        One row per participant and programme: programme, person_id, index_month, followup_end
        (first month after the 36-month window), certified_treated, certified_untreated (within
        36 months, before death), risk_treated, risk_untreated (expected), cost_treated,
        cost_untreated (expected LTC + medical cost in yen summed over the observable part of the
        window, alive), months_treated, months_untreated (expected person-months alive in it),
        events_end (first month after the event follow-up: 48 months from ``index_month``),
        cert_month_treated, cert_month_untreated (first day of the month of the first new
        certification in each arm, NaT if none before ``events_end`` or death came first; so
        ``certified_treated == (cert_month_treated < followup_end)``), death_month_treated,
        death_month_untreated (month of death in each arm while still uncertified, i.e. before or in
        the month of the certification; NaT otherwise — an arm is not followed after its
        certification), death_risk_treated, death_risk_untreated (arrays of 48: the risk of death
        from any cause in months ``index_month`` .. ``index_month + k``; 1 once the arm died
        uncertified, and after a certification the expected death of its course — see the Notes),
        kcl_treated, kcl_untreated (short-term completers only). The event months
        are those of the common random numbers behind ``certified_*``, followed 12 months beyond
        the 36-month window so that a 36-month window from a landmark up to 12 months after the index
        can be held to its truth (:func:`sample_truth` refuses windows beyond ``events_end``); every
        estimand stays on the 36 months.

    Notes
    -----
    The cost estimands (``*_att_cost_month``) are ratios of sums over the participants:
    expected cost over expected person-months alive, per arm, over months 0–35 from the index month
    that lie in the data (before April 2026) and before the month of moving out — the person-months
    a claims panel observes. Each arm follows the common random numbers up to its first
    certification or death; after a certification its course (level, transitions, death) is taken
    in expectation, and a month's cost is the expectation of the claims generator given the state
    (see ``municipality._arm_potential_outcomes``). The death risks ``death_risk_*`` come from the same
    course after a certification, over the whole 48 months and beyond the end of the data: a death
    analysis without competing events counts deaths after a certification, which the event months
    alone cannot give.
    """

    effects: TrueEffects
    estimands: Mapping[str, float]
    counts: Mapping[str, int]
    soft_sites: pd.DataFrame
    potential_outcomes: pd.DataFrame = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimands", ReadOnlyMapping(self.estimands))
        object.__setattr__(self, "counts", ReadOnlyMapping(self.counts))

    def tidy(self) -> pd.DataFrame:
        """One row per estimand: estimand, value, n, description."""
        rows = []
        for name, value in self.estimands.items():
            rows.append(
                {"estimand": name, "value": value, "n": self.counts.get(name, np.nan),
                 "description": _DESCRIPTIONS.get(name, "")}
            )
        for name, n in self.counts.items():
            if name.startswith("n_"):
                rows.append({"estimand": name, "value": float(n), "n": n, "description": _DESCRIPTIONS.get(name, "")})
        out = pd.DataFrame(rows, columns=["estimand", "value", "n", "description"])
        out["n"] = out["n"].astype("Int64")
        return out

    def summary(self) -> str:
        """Plain-text table of the effects and estimands."""
        lines = ["True effects:"]
        lines += [f"  {k:<32} {v: .3f}" for k, v in self.effects.to_dict().items()]
        lines.append("Estimands:")
        for row in self.tidy().itertuples(index=False):
            n = "" if pd.isna(row.n) else f"(n={row.n})"
            lines.append(f"  {row.estimand:<36} {row.value: .4f} {n}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4f}")

    def to_dict(self, *, include_potential_outcomes: bool = False) -> dict[str, Any]:
        """JSON-safe dict (numbers as float/int, dates as ISO strings, NaN as None)."""

        def clean(v: Any) -> Any:
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
                return None
            if isinstance(v, (np.integer,)):
                return int(v)
            if isinstance(v, (np.floating, float)):
                return None if math.isnan(float(v)) else float(v)
            if isinstance(v, (np.bool_, bool)):
                return bool(v)
            if isinstance(v, pd.Timestamp):
                return v.strftime("%Y-%m-%d")
            if isinstance(v, np.ndarray):
                return [clean(x) for x in v.tolist()]
            return v

        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{str(k): clean(v) for k, v in row.items()} for row in df.astype(object).to_dict("records")]

        out: dict[str, Any] = {
            "effects": self.effects.to_dict(),
            "estimands": {k: clean(v) for k, v in self.estimands.items()},
            "counts": {k: int(v) for k, v in self.counts.items()},
            "soft_sites": records(self.soft_sites),
        }
        if include_potential_outcomes:
            out["potential_outcomes"] = records(self.potential_outcomes)
        return out


AtRisk = Literal["arm", "all"]
TruthOutcome = Literal["certification", "death"]


@dataclass(frozen=True, eq=False)
class SampleTruth:
    """The true risk difference for a given set of persons, window and outcome (:func:`sample_truth`).

    Attributes
    ----------
    risk_difference : float
        ``risk_treated - risk_untreated``.
    risk_treated, risk_untreated : float
        ``outcome="certification"``: share of the persons at risk at the window's start in each arm
        who are newly certified in the window (certification before death; a death first is a
        competing event, not an event). ``outcome="death"``: their expected risk of death from any
        cause in the window, a certification first or not.
    n : int
        Persons.
    n_at_risk_treated, n_at_risk_untreated : int
        Denominators: persons alive and uncertified at the window's start in that arm
        (``at_risk="arm"``), or all persons (``at_risk="all"``).
    months : int
        Window length in months.
    programme : str
    at_risk : str
    persons : pandas.DataFrame
        One row per person (in the order given): ``person_id``, ``index_month``, ``start`` (first
        month of the window), ``at_risk_treated``, ``at_risk_untreated``, ``event_treated``,
        ``event_untreated`` (0/1 for certification; the probability for death, 0 when not at risk).
    outcome : str
        ``"certification"`` or ``"death"``.
    """

    risk_difference: float
    risk_treated: float
    risk_untreated: float
    n: int
    n_at_risk_treated: int
    n_at_risk_untreated: int
    months: int
    programme: str
    at_risk: str
    persons: pd.DataFrame = field(repr=False)
    outcome: str = "certification"

    def tidy(self) -> pd.DataFrame:
        """``term`` (risk_difference, risk_treated, risk_untreated), ``estimate`` and ``n``; no sampling error."""
        nan = float("nan")
        rows = [("risk_difference", self.risk_difference, self.n),
                ("risk_treated", self.risk_treated, self.n_at_risk_treated),
                ("risk_untreated", self.risk_untreated, self.n_at_risk_untreated)]
        return pd.DataFrame([{"term": t, "estimate": e, "std_error": nan, "conf_low": nan, "conf_high": nan,
                              "p_value": nan, "n": n} for t, e, n in rows])

    def summary(self) -> str:
        """Plain-text statement of the true risks."""
        what = "new certification" if self.outcome == "certification" else "death (any cause)"
        return (f"True {self.months}-month risk of {what} ({self.programme}, {self.n} persons, "
                f"at risk: {self.at_risk}):\n"
                f"  treated   {self.risk_treated:.4f} (n={self.n_at_risk_treated})\n"
                f"  untreated {self.risk_untreated:.4f} (n={self.n_at_risk_untreated})\n"
                f"  difference {self.risk_difference:+.4f}")

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4f}")


def _month_number(values: Any) -> np.ndarray:
    """Months since 1970-01 of datetimes (NaT -> a very large number, i.e. "never")."""
    v = np.asarray(pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[ns]"))
    out = v.astype("datetime64[M]").astype(np.int64)
    return np.where(np.isnat(v), np.iinfo(np.int64).max // 2, out)


def sample_truth(
    potential_outcomes: pd.DataFrame,
    persons: Any,
    *,
    start: int | Any,
    months: int,
    programme: str = "soft",
    at_risk: AtRisk = "arm",
    outcome: TruthOutcome = "certification",
) -> SampleTruth:
    """True risk difference of new certification (or of death) for exactly the given persons and window.

    Uses the event months of :attr:`GroundTruth.potential_outcomes` (common random numbers), so an
    analysis can be held to the truth for the participants it actually analysed and the follow-up
    window it actually used (index month, a landmark, or a later start).

    Parameters
    ----------
    potential_outcomes : pandas.DataFrame
        ``GroundTruth.potential_outcomes`` of the municipality the persons come from. Not modified.
    persons : array-like
        Person ids (strings or categorical), each a participant of ``programme``.
    start : int or array-like of dates
        First month of the window: an offset in months from each person's index month (0 = the
        index month, 3 = the protocol's landmark), or one date per person (only its month is used).
    months : int
        Window length: months ``start .. start + months - 1``. The window must lie within the
        months from the index month whose events the ground truth follows (``events_end``: 48
        months; 36 for a potential-outcome table without that column).
    programme : {"soft", "short_term"}, default "soft"
    at_risk : {"arm", "all"}, default "arm"
        ``"arm"``: in each arm, persons certified or dead before ``start`` in that arm are not at risk
        and leave its denominator (the risk set at ``start``, as in a landmark analysis);
        ``"all"``: every person stays in both denominators (an earlier event counts as no event).
    outcome : {"certification", "death"}, default "certification"
        ``"death"``: death from any cause in the window, with or without a certification first (the
        outcome of a death analysis without competing events). An arm's event months stop at its
        certification, so a death after it is taken in expectation (the column ``death_risk_*``,
        see :class:`GroundTruth`); the risk is then an expected share, not a count.

    Returns
    -------
    SampleTruth

    Raises
    ------
    DataValidationError
        Columns missing, a person without a potential-outcome row of ``programme``, or with several.
    ConfigurationError
        An invalid option, or a window outside the followed months (the message names the
        persons' count and an example).

    Notes
    -----
    A certification counts when its month lies in the window; a death first ends the arm without an
    event (competing risk; in the month of both, the engine's threshold order decides). A death
    counts (``outcome="death"``) when it falls in the window, before or after a certification. With
    ``start = 0`` (offset), ``months = 36`` and ``at_risk="all"`` over all participants this is
    ``estimands["soft_att_risk3y"]`` exactly.

    References
    ----------
    Dafni U (2011). Landmark analysis at the 25-year landmark point. *Circ Cardiovasc Qual Outcomes*
    4(3):363-371 (risk set at the landmark).

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> from wellness_research.synthetic.truth import sample_truth
    >>> m = make_municipality("tiny", seed=0)
    >>> po = m.truth.potential_outcomes
    >>> ids = po.person_id[po.programme == "soft"]
    >>> t = sample_truth(po, ids, start=0, months=36, at_risk="all")
    >>> t.risk_difference == m.truth.estimands["soft_att_risk3y"]
    True
    >>> sample_truth(po, ids, start=3, months=33).n == len(ids)
    True
    >>> sample_truth(po, ids, start=3, months=36).months  # a landmark window: events followed 48 months
    36
    >>> d = sample_truth(po, ids, start=0, months=36, outcome="death")
    >>> bool(0.0 <= d.risk_treated <= 1.0)
    True
    """
    need = ("programme", "person_id", "index_month", "followup_end", "cert_month_treated", "cert_month_untreated",
            "death_month_treated", "death_month_untreated")
    missing = [c for c in need if c not in potential_outcomes.columns]
    if missing:
        raise DataValidationError(f"sample_truth: potential_outcomes lacks column(s) {missing} "
                                  f"({len(potential_outcomes)} rows); pass GroundTruth.potential_outcomes.")
    if programme not in ("soft", "short_term"):
        raise ConfigurationError(f"sample_truth: programme={programme!r} is not valid; use 'soft' or 'short_term'.")
    if at_risk not in get_args(AtRisk):
        raise ConfigurationError(f"sample_truth: at_risk={at_risk!r} is not valid; "
                                 f"use one of {list(get_args(AtRisk))}.")
    if isinstance(months, bool) or not isinstance(months, (int, np.integer)) or months < 1:
        raise ConfigurationError(f"sample_truth: months={months!r} is not valid; use an integer >= 1.")
    if outcome not in get_args(TruthOutcome):
        raise ConfigurationError(f"sample_truth: outcome={outcome!r} is not valid; "
                                 f"use one of {list(get_args(TruthOutcome))}.")
    if outcome == "death" and not {"death_risk_treated", "death_risk_untreated"} <= set(potential_outcomes.columns):
        raise DataValidationError("sample_truth: outcome='death' needs the columns death_risk_treated and "
                                  f"death_risk_untreated, which potential_outcomes ({len(potential_outcomes)} rows) "
                                  "lacks; regenerate the municipality with this version.")
    po = potential_outcomes[(potential_outcomes["programme"] == programme).to_numpy()]
    ids = po["person_id"].astype(str).to_numpy()
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    who = pd.Series(np.asarray(persons)).astype(str).to_numpy()
    pos = pd.Index(ids[~dup]).get_indexer(who)
    rows = np.flatnonzero(~dup)
    if (pos < 0).any():
        bad = who[pos < 0]
        several = np.isin(bad, ids[dup])
        what = "several potential-outcome rows" if several.all() else "no potential-outcome row"
        raise DataValidationError(f"sample_truth: {len(bad)} of {len(who)} persons have {what} for programme "
                                  f"{programme!r} (e.g. {bad[0]!r}).")
    po = po.iloc[rows[pos]]
    index = _month_number(po["index_month"])
    end = _month_number(po["events_end" if "events_end" in po.columns else "followup_end"])
    if np.ndim(start) == 0:
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise ConfigurationError(f"sample_truth: start={start!r} is not valid; use a month offset (int) from "
                                     "the index month or one date per person.")
        first = index + int(start)
    else:
        first = _month_number(start)
        if len(first) != len(who):
            raise ConfigurationError(f"sample_truth: start has {len(first)} dates for {len(who)} persons.")
    outside = (first < index) | (first + int(months) > end)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise ConfigurationError(
            f"sample_truth: the window of {int(outside.sum())} of {len(who)} persons lies outside the "
            f"{int(end[k] - index[k])} months from their index month whose events the ground truth follows "
            f"(e.g. {who[k]!r}: index offset "
            f"{int(first[k] - index[k])}, {months} months; offset + months must be <= {int(end[k] - index[k])}).")
    out = {"person_id": who, "index_month": po["index_month"].to_numpy(),
           "start": (first.astype("datetime64[M]")).astype("datetime64[ns]")}
    risks, n_risk = {}, {}
    for arm in ("treated", "untreated"):
        c = _month_number(po[f"cert_month_{arm}"])
        d = _month_number(po[f"death_month_{arm}"])
        ok = (c >= first) & (d >= first) if at_risk == "arm" else np.ones(len(who), bool)
        if outcome == "death":
            ev = _death_risk_in_window(po[f"death_risk_{arm}"], first - index, int(months)) * ok
        else:
            ev = ((c >= first) & (c < first + int(months)) & ok).astype(np.int64)
        out[f"at_risk_{arm}"] = ok.astype(np.int64)
        out[f"event_{arm}"] = ev
        n_risk[arm] = int(ok.sum())
        risks[arm] = float(ev.sum() / ok.sum()) if ok.any() else float("nan")
    per = pd.DataFrame(out)
    return SampleTruth(risk_difference=risks["treated"] - risks["untreated"], risk_treated=risks["treated"],
                       risk_untreated=risks["untreated"], n=len(who), n_at_risk_treated=n_risk["treated"],
                       n_at_risk_untreated=n_risk["untreated"], months=int(months), programme=programme,
                       at_risk=at_risk, persons=per, outcome=outcome)


def _death_risk_in_window(curves: pd.Series, offset: np.ndarray, months: int) -> np.ndarray:
    """Risk of death in months ``offset .. offset + months - 1`` from the index, per person.

    ``curves`` holds each person's cumulative risk by month from the index (``death_risk_*``); a
    person at risk at the window's start has not died before it, so the risk in the window is the
    cumulative risk at its last month (for a person not at risk the value is unused).
    """
    cum = np.stack([np.asarray(v, dtype=np.float64) for v in curves.to_numpy()]) if len(curves) else np.zeros((0, 1))
    last = np.asarray(offset, dtype=np.int64) + int(months) - 1
    before = np.asarray(offset, dtype=np.int64) - 1
    at_end = cum[np.arange(len(cum)), last]
    at_start = np.where(before >= 0, cum[np.arange(len(cum)), np.maximum(before, 0)], 0.0)
    return at_end - at_start
