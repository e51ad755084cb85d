"""The short-term intensive service (短期集中予防サービス): outreach cascade and evaluation frame.

Two building blocks of the short-term service protocol (issue 7):

:func:`outreach_cascade`
    The high-risk approach as data: surveyed → responded → flagged high risk → visited → assessed →
    able to improve → started → completed → destination, by fiscal year and district, with **every
    exit counted** so that at each step ``n(previous) = n(next) + sum(exits)`` exactly
    (:meth:`OutreachCascade.check`). Referrals outside the outreach (community centre, care manager,
    self) enter at "assessed" as their own entry routes and never enter the outreach conversion.

:func:`short_term_frame`
    The evaluation population: participants of the service at their index month against people
    assessed but not participating (comparison 1) or never reached (comparison 2), with baseline
    covariates strictly before the index and outcomes from it; every episode and resident not in the
    frame is an exclusion row with its reason (:class:`ShortTermFrame`).

Design of the frame
-------------------
*Participants.* The primary population is the **completers** (``population="completers"``, a
per-protocol population): the ground truth of the synthetic municipality defines the short-term
estimands (``short_term_att_risk3y`` …) for completers with index = the month **after** the month of
completion (``synthetic/simulate.py``: the hazard ratio applies from the month after the completion
month, and the potential-outcome arms start there), so the primary frame is built to match it
exactly: index month = month of ``end_date`` + 1. ``population="starters"`` builds the
intention-to-treat frame instead: every starter, index = the month of the first session
(``start_date``), outcomes from then — including certification, death and dropout during the
service. The synthetic truth has no estimand for starters; the ITT frame answers a different
question (the effect of starting), is not biased by conditioning on completion, and is the one to
report beside the per-protocol estimate. Starters who did not complete are excluded from the
completer frame with the reason "started, did not complete (per-protocol population)" — never
silently.

*Comparison 1* (``comparison="assessed_not_started"``): people assessed as able to improve who did
not start. Time zero must not be taken from the future (Suissa 2008: immortal time; Hernán & Robins
2016: align eligibility, assignment and time zero). A participant's index lies ``delay`` months after
the assessment month (the service length + 1 for completers, 1 for starters) and a participant is by
construction alive, resident and uncertified until then; so each comparison person gets a landmark
at the **same delay from assessment**: ``landmark="sampled_delay"`` draws it (seeded) from the
participants' distribution of delays, an integer fixes it. The comparison person enters only if
alive, resident, 65+ and without a certification applied between the assessment and the landmark
and none valid on its first day — the risk set at the landmark, the same condition the participants
met by completing. ``comparison="assessed_not_participating"`` widens comparison 1 to everyone
assessed who did not start, including those judged *not* able to improve (the issue's
"assessed-but-not-participating"); ``able_to_improve`` is then a column of the frame.

*Comparison 2* (``comparison="never_reached"``): residents not assessed before their index. As in
:func:`~wellness_research.cohort.soft.soft_frame`, every resident who is not a participant row gets
one index month drawn at random (seeded) from the participants' index months — risk-set sampling in
calendar time — and enters if eligible then (65+, resident, alive, uncertified) and not assessed
before it; persons assessed later stay ("not yet reached") and carry ``later_start``.

*Baseline* (strictly before the index month): age, sex, district; the Kihon Checklist total and
seven domains of the **baseline questionnaire** — for assessed persons the questionnaire of the
assessment (the latest answered on or before the assessment date; the end-of-service questionnaire
of a completer is a post-treatment measurement and is never a covariate), for never-reached persons
the latest before the index — with ``kcl_missing`` and its age ``kcl_age_months``; the latest
checkup values (BMI, SBP, HbA1c, LDL-C, eGFR; median-imputed with ``*_missing``) and a checkup in the
previous fiscal year; log(1 + medical / LTC cost) and months with any medical / LTC claim in the 12
months before the index month; a prior certification; てくポ registration; the latest outreach
contact before the index (``outreach_surveyed``, ``outreach_responded``, ``outreach_risk_flag``);
the referral route; the delay from assessment to index.

*Outcomes* from the first day of the index month: ``certified_12m`` / ``certified_36m`` (a new
certification, level other than 非該当, applied in the window; a death first is a competing event),
``care2_12m`` / ``care2_36m`` (要介護2–5), ``died_12m`` / ``died_36m``; time-to-event
``cert_time`` / ``cert_event`` and ``care2_time`` / ``care2_event`` in months over
``followup_months`` with event codes 1 = certification, 2 = death first (competing), 0 = censored
(end of data, move-out, end of follow-up), as in ``soft_frame``; ``kcl_next`` (the first
questionnaire answered on or after the index date), ``kcl_next_months`` (its timing, months from the
index date) and ``kcl_change`` = ``kcl_next`` − ``kcl_total``; for completers ``kcl_end_of_service``
(the questionnaire at the end of the service, the measurement of the truth's
``short_term_kcl_change``) and ``kcl_end_change``; ``destination`` and ``graduated`` (independent
life or community activity) for participants.

References
----------
Suissa S (2008). Immortal time bias in pharmacoepidemiology. *Am J Epidemiol* 167(4):492–499.
Hernán MA, Robins JM (2016). Using big data to emulate a target trial when a randomized trial is not
available. *Am J Epidemiol* 183(8):758–764.
Dafni U (2011). Landmark analysis at the 25-year landmark point. *Circ Cardiovasc Qual Outcomes*
4(3):363–371.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from wellness_research.errors import ConfigurationError, DataValidationError

__all__ = [
    "CASCADE_ENTRIES",
    "CASCADE_EXITS",
    "CASCADE_STEPS",
    "SHORT_TERM_COVARIATES",
    "SHORT_TERM_EXCLUSION_REASONS",
    "Comparison",
    "OutreachCascade",
    "ShortTermFrame",
    "ShortTermPopulation",
    "outreach_cascade",
    "short_term_frame",
]

Comparison = Literal["assessed_not_started", "assessed_not_participating", "never_reached"]
ShortTermPopulation = Literal["completers", "starters"]
_Landmark = Literal["sampled_delay"]
_MoverRule = Literal["drop", "censor"]

#: The steps of the cascade, in order.
CASCADE_STEPS: tuple[str, ...] = ("surveyed", "responded", "flagged", "visited", "assessed", "able_to_improve",
                                  "started", "completed")

#: Entry routes and the step each enters at. ``outreach_visit_unflagged``: outreach contacts visited
#: although they did not respond or were not flagged (they leave the survey route with the exit
#: ``not_responded_visited`` / ``not_flagged_visited`` and re-enter here); ``outreach_unlinked``:
#: episodes referred by the outreach with no matching visit record.
CASCADE_ENTRIES: dict[str, str] = {
    "outreach_survey": "surveyed",
    "outreach_visit_unflagged": "visited",
    "outreach_unlinked": "assessed",
    "community_centre": "assessed",
    "care_manager": "assessed",
    "self": "assessed",
}

#: Exits at each step (the units of the previous step that do not reach it); the completers' split
#: is the ``destination`` step.
CASCADE_EXITS: dict[str, tuple[str, ...]] = {
    "responded": ("not_responded", "not_responded_visited"),
    "flagged": ("not_flagged", "not_flagged_visited"),
    "visited": ("already_assessed", "not_visited"),
    "assessed": ("visit_declined", "visit_not_home", "visit_not_needed", "visit_result_missing"),
    "able_to_improve": ("not_able", "no_episode_record"),
    "started": ("not_started_certified", "not_started_died", "not_started_dropped", "awaiting_start",
                "not_started_other"),
    "completed": ("dropped_out", "ended_certified", "ended_died", "ongoing", "ended_other"),
    "destination": ("independent", "community_activity", "other_service", "certified", "dropped", "died",
                    "destination_missing"),
}

_GROUPS = ("fiscal_year", "district")
_DESTINATIONS = ("independent", "community_activity", "other_service", "certified", "dropped", "died")
_VISIT_EXIT = {"declined": "visit_declined", "not_home": "visit_not_home", "not_needed": "visit_not_needed"}


def _fiscal_year(dates: pd.Series) -> np.ndarray:
    d = pd.to_datetime(dates)
    return np.where(d.dt.month.to_numpy() >= 4, d.dt.year.to_numpy(), d.dt.year.to_numpy() - 1)


def _require(fn: str, tables: Any, need: dict[str, tuple[str, ...]]) -> None:
    for name, cols in need.items():
        if name not in tables:
            raise DataValidationError(f"{fn}: table {name!r} is missing; needed are {sorted(need)}.")
        missing = [c for c in cols if c not in tables[name].columns]
        if missing:
            raise DataValidationError(f"{fn}: table {name!r} lacks column(s) {missing} "
                                      f"({len(tables[name])} rows; needed: {list(cols)}).")
    res = tables["residents"]
    dup = res["person_id"].duplicated()
    if dup.any():
        raise DataValidationError(f"{fn}: residents.person_id is not unique ({int(dup.sum())} duplicate rows, "
                                  f"e.g. {res.loc[dup, 'person_id'].iloc[0]!r}).")


# ============================================================================================
# the outreach cascade
# ============================================================================================
@dataclass(frozen=True, eq=False)
class OutreachCascade:
    """The outreach cascade of the short-term service with every exit counted.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group (``by`` columns), entry route and node: ``entry``, ``step`` (the step the
        node belongs to; ``"destination"`` for the completers' split), ``node`` (the step itself or
        an exit / destination name), ``kind`` (``"step"``, ``"exit"`` or ``"destination"``), ``n``,
        ``conversion`` (step rows: n / n of the previous step of the route; NaN at the entry step)
        and ``share_of_entry`` (n / n entering the route). Only steps at or after the route's entry.
    units : pandas.DataFrame
        One row per unit followed (an outreach contact, its re-entry after an unflagged visit, or a
        referral episode): the ``by`` columns, ``entry``, ``reached`` (the last step reached) and
        ``outcome`` (the exit or destination). No person ids. Internal; not for publication.
    inconsistencies : pandas.DataFrame
        Records contradicting the order of the steps (e.g. a start without "able to improve"): unit
        count by ``rule``. Such units stop at the earlier step with the exit the rules give them;
        nothing is dropped.
    by : tuple of str
    fiscal_years : tuple of int or None
    """

    table: pd.DataFrame = field(repr=False)
    units: pd.DataFrame = field(repr=False)
    inconsistencies: pd.DataFrame = field(repr=False)
    by: tuple[str, ...]
    fiscal_years: tuple[int, ...] | None

    def check(self) -> None:
        """Raise :class:`DataValidationError` unless every step conserves its units.

        For every group and entry route: ``n(step k-1) = n(step k) + sum(exits at step k)`` for each
        step after the entry, ``n(completed) = sum(destinations)``, and the units of the route equal
        its entry count and the sum of its terminal nodes (exits, destinations).
        """
        t = self.table
        keys = [*self.by, "entry"]
        for key, g in t.groupby(keys, observed=True, sort=False) if keys else [((), t)]:
            label = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
            steps = g[g.kind == "step"].set_index("node")["n"]
            entry = CASCADE_ENTRIES[label["entry"]]
            order = list(CASCADE_STEPS[CASCADE_STEPS.index(entry):])
            for prev, nxt in zip(order[:-1], order[1:], strict=True):
                exits = int(g.loc[(g.kind == "exit") & (g.step == nxt), "n"].sum())
                if int(steps[prev]) != int(steps[nxt]) + exits:
                    raise DataValidationError(
                        f"outreach_cascade: units lost at step {nxt!r} for {label}: {prev}={int(steps[prev])} but "
                        f"{nxt}={int(steps[nxt])} + exits={exits}.")
            dest = int(g.loc[g.kind == "destination", "n"].sum())
            if int(steps["completed"]) != dest:
                raise DataValidationError(f"outreach_cascade: completers {int(steps['completed'])} but destinations "
                                          f"sum to {dest} for {label}.")
            terminal = int(g.loc[g.kind != "step", "n"].sum())
            if terminal != int(steps[entry]):
                raise DataValidationError(f"outreach_cascade: {int(steps[entry])} units entered but {terminal} "
                                          f"reached an exit or destination for {label}.")
        u = self.units
        counted = t[t.kind != "step"]["n"].sum()
        if int(counted) != len(u):
            raise DataValidationError(f"outreach_cascade: {len(u)} units followed but {int(counted)} counted in "
                                      "exits and destinations.")

    def overall(self) -> pd.DataFrame:
        """The table summed over the groups: ``entry``, ``step``, ``node``, ``kind``, ``n``, conversions."""
        return _cascade_table(self.units, ())

    def tidy(self) -> pd.DataFrame:
        """Long form with the house columns: ``term`` = "entry: node [group]", ``estimate`` = n, and
        ``n``; conversion and share of entry as extra columns (``std_error`` … NaN)."""
        t = self.table
        grp = t[list(self.by)].astype(str).agg(" ".join, axis=1) if self.by else pd.Series("", index=t.index)
        term = t["entry"].astype(str) + ": " + t["node"].astype(str) + np.where(grp != "", " [" + grp + "]", "")
        nan = np.nan
        out = pd.DataFrame({"term": term, "estimate": t["n"].astype(float), "std_error": nan, "conf_low": nan,
                            "conf_high": nan, "p_value": nan, "n": t["n"].astype(np.int64)})
        for c in (*self.by, "entry", "step", "node", "kind", "conversion", "share_of_entry"):
            out[c] = t[c].to_numpy()
        return out.reset_index(drop=True)

    def summary(self) -> str:
        """Plain-text cascade (all groups together) with every exit."""
        o = self.overall()
        lines = [f"Short-term service outreach cascade ({len(self.units)} units"
                 + (f"; fiscal years {list(self.fiscal_years)}" if self.fiscal_years else "") + ")"]
        for entry, g in o.groupby("entry", sort=False, observed=True):
            lines.append(f"  entry route: {entry}")
            for r in g.itertuples(index=False):
                if r.kind == "step":
                    conv = "" if np.isnan(r.conversion) else f"  ({r.conversion:6.1%} of previous)"
                    lines.append(f"    {r.node:<24} {r.n:>8}{conv}")
                elif r.n:
                    lines.append(f"      - {r.node:<20} {r.n:>8}")
        return "\n".join(lines)

    def published(self, *, min_count: int = 10, secondary: bool = True) -> Any:
        """The publishable table: the terminal counts (every exit and destination) of each entry route
        by group, small cells suppressed (:func:`wellness_research.privacy.suppress_small_cells`).

        Rows are the groups (``by``), columns ``"<entry>: <node>"`` for the exits and destinations
        that occur, then ``"All"`` (the row total, published). The terminal counts of a route sum to
        its entries, and every step count is a sum of them, so the step counts and conversions are
        *not* published here (a step count beside masked exits could reveal them); derive them from
        unmasked cells only. Returns a :class:`~wellness_research.privacy.SuppressedTable`.
        """
        from wellness_research.privacy import suppress_small_cells

        t = self.table[self.table.kind != "step"]
        col = t["entry"].astype(str) + ": " + t["node"].astype(str)
        t = t.assign(column=col)
        idx = list(self.by) if self.by else None
        if idx:
            wide = t.pivot_table(index=idx, columns="column", values="n", aggfunc="sum", fill_value=0,
                                 observed=True, sort=False)
        else:
            wide = t.groupby("column", sort=False)["n"].sum().to_frame().T
            wide.index = pd.Index(["all"], name="group")
        order = [c for c in pd.unique(col) if wide[c].sum() > 0]
        wide = wide[order].astype(np.int64)
        wide.columns.name = None
        wide["All"] = wide.sum(axis=1)
        return suppress_small_cells(wide, min_count=min_count, secondary=secondary, margins="auto")

    def _repr_html_(self) -> str:
        return self.overall().to_html(index=False, float_format=lambda v: f"{v:.3f}")


def _cascade_table(units: pd.DataFrame, by: tuple[str, ...]) -> pd.DataFrame:
    """Counts per group, entry and node from the per-unit ``reached`` / ``outcome``."""
    rows = []
    keys = [*by, "entry"]
    for key, g in units.groupby(keys, observed=True, sort=True):
        label = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        entry = label["entry"]
        first = CASCADE_STEPS.index(CASCADE_ENTRIES[entry])
        reached = g["reached"].to_numpy()
        outcome = g["outcome"].to_numpy()
        n_entry = len(g)
        group_start = len(rows)
        prev_n = None
        for k in range(first, len(CASCADE_STEPS)):
            step = CASCADE_STEPS[k]
            if k > first:
                stopped = reached == k - 1
                for ex in CASCADE_EXITS[step]:
                    rows.append({**label, "step": step, "node": ex, "kind": "exit",
                                 "n": int((stopped & (outcome == ex)).sum())})
            n_k = int((reached >= k).sum())
            rows.append({**label, "step": step, "node": step, "kind": "step", "n": n_k,
                         "conversion": np.nan if prev_n is None else (n_k / prev_n if prev_n else np.nan)})
            prev_n = n_k
        done = reached == len(CASCADE_STEPS) - 1
        for d in CASCADE_EXITS["destination"]:
            rows.append({**label, "step": "destination", "node": d, "kind": "destination",
                         "n": int((done & (outcome == d)).sum())})
        for r in rows[group_start:]:
            r["share_of_entry"] = r["n"] / n_entry if n_entry else np.nan
    cols = [*by, "entry", "step", "node", "kind", "n", "conversion", "share_of_entry"]
    out = pd.DataFrame(rows, columns=cols)
    out["n"] = out["n"].astype(np.int64)
    out["conversion"] = out["conversion"].astype(float)
    return out


def _episode_stage(ep: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """For episodes: last step reached (index in CASCADE_STEPS, >= 4) and the exit / destination.

    Steps are cumulative (a start without "able to improve" stops at "assessed"); the third value
    counts such contradictions by rule.
    """
    able = ep["able_to_improve"].fillna(False).to_numpy(dtype=bool)
    started_raw = ep["start_date"].notna().to_numpy()
    completed_raw = ep["completed"].fillna(False).to_numpy(dtype=bool)
    dest = ep["destination"].astype(object).where(ep["destination"].notna(), None).to_numpy()
    started = able & started_raw
    completed = started & completed_raw
    a = CASCADE_STEPS.index("assessed")
    reached = np.full(len(ep), a, dtype=np.int64)
    reached[able] = a + 1
    reached[started] = a + 2
    reached[completed] = a + 3
    outcome = np.empty(len(ep), dtype=object)
    outcome[~able] = "not_able"
    ns = able & ~started
    ns_map = {"certified": "not_started_certified", "died": "not_started_died", "dropped": "not_started_dropped",
              None: "awaiting_start"}
    outcome[ns] = [ns_map.get(d, "not_started_other") for d in dest[ns]]
    nc = started & ~completed
    end_missing = ep["end_date"].isna().to_numpy()
    nc_map = {"dropped": "dropped_out", "certified": "ended_certified", "died": "ended_died"}
    outcome[nc] = [("ongoing" if (d is None and e) else nc_map.get(d, "ended_other"))
                   for d, e in zip(dest[nc], end_missing[nc], strict=True)]
    outcome[completed] = [d if d in _DESTINATIONS else "destination_missing" for d in dest[completed]]
    bad = {"started without able_to_improve": started_raw & ~able,
           "completed without a start": completed_raw & ~(able & started_raw)}
    return reached, outcome, bad


def outreach_cascade(
    tables: Any,
    *,
    fiscal_years: Sequence[int] | None = None,
    by: Sequence[str] = ("fiscal_year", "district"),
) -> OutreachCascade:
    """The outreach cascade of the short-term service, every exit counted, by fiscal year and district.

    Units: each outreach contact (a person's survey of one fiscal year) follows the survey route
    ``surveyed → responded → flagged → visited → assessed``; a contact assessed at its visit is
    linked to its episode (same person, ``assessment_date`` = ``visit_date``, or the first outreach
    episode assessed within 92 days after the visit) and goes on ``→ able_to_improve → started →
    completed → destination``. Contacts visited although not responding or not flagged leave the
    survey route (``not_responded_visited``, ``not_flagged_visited``) and re-enter as their own
    route at "visited"; referrals by the community centre, care managers and self enter at
    "assessed" as their own routes, as do outreach episodes without a visit record
    (``outreach_unlinked``). The exits are listed in :data:`CASCADE_EXITS`; ``already_assessed``: a
    flagged contact not visited because the person already had an assessment before the survey
    (one episode per person). Fiscal year: of the survey for outreach units, of the assessment for
    referrals; district: the resident's registered district (``"unknown"`` without a residents row).

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        ``residents``, ``outreach_contacts``, ``short_term_episodes`` (data-dictionary columns).
        Not modified.
    fiscal_years : sequence of int, optional
        Keep only units of these fiscal years (April–March, named by the April year).
    by : sequence of str, default ("fiscal_year", "district")
        Grouping columns, a subset of ``("fiscal_year", "district")``; ``()`` for the whole city.

    Returns
    -------
    OutreachCascade
        ``table``, ``check()``, ``overall()``, ``tidy()``, ``summary()`` and ``published()``.

    Raises
    ------
    DataValidationError
        A table or column is missing, residents are duplicated, or the counts do not conserve units.
    ConfigurationError
        An invalid ``by`` or ``fiscal_years``.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> from wellness_research.cohort.short_term import outreach_cascade
    >>> c = outreach_cascade(make_municipality("tiny", seed=0).tables, by=())
    >>> c.check()                       # raises if any unit is lost between steps
    >>> o = c.overall().set_index(["entry", "node"])["n"]
    >>> int(o["outreach_survey", "surveyed"]) == int(o["outreach_survey", "responded"]) + int(
    ...     o["outreach_survey", "not_responded"]) + int(o["outreach_survey", "not_responded_visited"])
    True
    """
    fn = "outreach_cascade"
    _require(fn, tables, {
        "residents": ("person_id", "district"),
        "outreach_contacts": ("person_id", "survey_date", "responded", "risk_flag", "visit_date", "visit_result"),
        "short_term_episodes": ("person_id", "referral_route", "assessment_date", "able_to_improve", "start_date",
                                "end_date", "completed", "destination"),
    })
    if isinstance(by, str):
        raise ConfigurationError(f"{fn}: by must be a sequence of column names, got the string {by!r}.")
    by = tuple(by)
    bad = [b for b in by if b not in _GROUPS] + ([b for b in by if by.count(b) > 1][:1])
    if bad:
        raise ConfigurationError(f"{fn}: by={list(by)} is not valid; use distinct names from {list(_GROUPS)}.")
    if fiscal_years is not None:
        if isinstance(fiscal_years, (str, int)) or not all(
                isinstance(y, (int, np.integer)) and not isinstance(y, bool) for y in fiscal_years):
            raise ConfigurationError(f"{fn}: fiscal_years={fiscal_years!r} is not valid; use a list of years "
                                     "such as [2024, 2025].")
        fiscal_years = tuple(int(y) for y in fiscal_years)

    res = tables["residents"]
    district_of = pd.Series(res["district"].astype(str).to_numpy(), index=res["person_id"].astype(str).to_numpy())
    oc = tables["outreach_contacts"].reset_index(drop=True)
    ep = tables["short_term_episodes"].reset_index(drop=True)
    o_pid = oc["person_id"].astype(str).to_numpy()
    e_pid = ep["person_id"].astype(str).to_numpy()

    # --- link assessed visits to outreach episodes ------------------------------------------------
    is_out_ep = (ep["referral_route"].astype(str) == "outreach").to_numpy()
    assessed_visit = (oc["visit_result"].astype(object) == "assessed").to_numpy() & oc["visit_date"].notna().to_numpy()
    link = np.full(len(oc), -1, dtype=np.int64)
    cand_ep = pd.DataFrame({"pid": e_pid[is_out_ep], "day": ep["assessment_date"].to_numpy()[is_out_ep],
                            "e": np.flatnonzero(is_out_ep)}).sort_values(["day", "e"])
    cand_v = pd.DataFrame({"pid": o_pid[assessed_visit], "day": oc["visit_date"].to_numpy()[assessed_visit],
                           "c": np.flatnonzero(assessed_visit)}).sort_values(["day", "c"])
    if len(cand_v) and len(cand_ep):
        exact = cand_v.merge(cand_ep, on=["pid", "day"]).drop_duplicates("c").drop_duplicates("e")
        link[exact["c"].to_numpy()] = exact["e"].to_numpy()
        rest_v = cand_v[~cand_v["c"].isin(exact["c"])]
        rest_e = cand_ep[~cand_ep["e"].isin(exact["e"])]
        if len(rest_v) and len(rest_e):
            near = pd.merge_asof(rest_v, rest_e.rename(columns={"day": "eday"}), left_on="day", right_on="eday",
                                 by="pid", direction="forward", tolerance=pd.Timedelta(days=92))
            near = near.dropna(subset=["e"]).drop_duplicates("e")
            link[near["c"].to_numpy()] = near["e"].to_numpy().astype(np.int64)
    linked_eps = np.zeros(len(ep), dtype=bool)
    linked_eps[link[link >= 0]] = True

    ep_reached, ep_outcome, ep_bad = _episode_stage(ep)

    # --- outreach contacts -------------------------------------------------------------------------
    responded = oc["responded"].fillna(False).to_numpy(dtype=bool)
    flag = oc["risk_flag"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    visited_raw = oc["visit_date"].notna().to_numpy()
    result = oc["visit_result"].astype(object).where(oc["visit_result"].notna(), None).to_numpy()
    # first assessment of each person, to name "already assessed" contacts
    first_assess = pd.Series(ep["assessment_date"].to_numpy()).groupby(e_pid).min()
    prior = pd.Series(o_pid).map(first_assess).to_numpy(dtype="datetime64[ns]")
    already = ~np.isnat(prior) & (prior < oc["survey_date"].to_numpy(dtype="datetime64[ns]"))
    s = {k: CASCADE_STEPS.index(k) for k in CASCADE_STEPS}
    reached = np.full(len(oc), s["surveyed"], dtype=np.int64)
    outcome = np.empty(len(oc), dtype=object)
    outcome[~responded] = np.where(visited_raw[~responded], "not_responded_visited", "not_responded")
    reached[responded] = s["responded"]
    nf = responded & ~flag
    outcome[nf] = np.where(visited_raw[nf], "not_flagged_visited", "not_flagged")
    fl = responded & flag
    reached[fl] = s["flagged"]
    nv = fl & ~visited_raw
    outcome[nv] = np.where(already[nv], "already_assessed", "not_visited")
    vis = fl & visited_raw
    reached[vis] = s["visited"]
    # visited contacts (on or off the flagged route) continue from "visited"
    re_entry = ~fl & visited_raw
    v_reached = reached.copy()
    v_reached[re_entry] = s["visited"]
    v_outcome = outcome.copy()
    going = vis | re_entry
    not_ass = going & (result != "assessed")
    v_outcome[not_ass] = [_VISIT_EXIT.get(r, "visit_result_missing") for r in result[not_ass]]
    ass = going & (result == "assessed")
    v_reached[ass] = s["assessed"]
    no_ep = ass & (link < 0)
    v_outcome[no_ep] = "no_episode_record"
    with_ep = ass & (link >= 0)
    v_reached[with_ep] = ep_reached[link[with_ep]]
    v_outcome[with_ep] = ep_outcome[link[with_ep]]
    reached[vis] = v_reached[vis]
    outcome[vis] = v_outcome[vis]

    o_fy = _fiscal_year(oc["survey_date"])
    e_fy = _fiscal_year(ep["assessment_date"])
    units = [
        pd.DataFrame({"pid": o_pid, "fiscal_year": o_fy, "entry": "outreach_survey", "reached": reached,
                      "outcome": outcome}),
        pd.DataFrame({"pid": o_pid[re_entry], "fiscal_year": o_fy[re_entry], "entry": "outreach_visit_unflagged",
                      "reached": v_reached[re_entry], "outcome": v_outcome[re_entry]}),
    ]
    other = ~(is_out_ep & linked_eps)
    route = np.where(is_out_ep, "outreach_unlinked", ep["referral_route"].astype(str).to_numpy())
    units.append(pd.DataFrame({"pid": e_pid[other], "fiscal_year": e_fy[other], "entry": route[other],
                               "reached": ep_reached[other], "outcome": ep_outcome[other]}))
    u = pd.concat(units, ignore_index=True)
    u["district"] = u["pid"].map(district_of).fillna("unknown").to_numpy()
    u = u.drop(columns="pid")
    unknown_route = sorted(set(u["entry"]) - set(CASCADE_ENTRIES))
    if unknown_route:
        raise DataValidationError(f"{fn}: short_term_episodes.referral_route has value(s) {unknown_route} outside "
                                  f"the contract's codes {sorted(set(CASCADE_ENTRIES) - {'outreach_survey'})}.")
    if fiscal_years is not None:
        u = u[u["fiscal_year"].isin(fiscal_years)].reset_index(drop=True)
    u["entry"] = pd.Categorical(u["entry"], categories=list(CASCADE_ENTRIES))
    u = u[[*_GROUPS, "entry", "reached", "outcome"]]
    inc = pd.DataFrame({"rule": list(ep_bad), "n": [int(v.sum()) for v in ep_bad.values()]})
    out = OutreachCascade(table=_cascade_table(u, by), units=u, inconsistencies=inc, by=by,
                          fiscal_years=fiscal_years)
    out.check()
    return out


# ============================================================================================
# the evaluation frame
# ============================================================================================
#: Baseline covariates of the primary matching model (comparison 1); district is matched exactly or
#: added as dummies by the analysis.
SHORT_TERM_COVARIATES: tuple[str, ...] = ("age", "female", "kcl_total", "kcl_missing", "log_medical_cost_12m",
                                          "log_ltc_cost_12m", "prior_certification", "index_month")

#: Exclusion reasons, in the order they are checked (a unit is reported under the first one).
SHORT_TERM_EXCLUSION_REASONS: tuple[str, ...] = (
    "no residents row",
    "not the person's first episode",
    "started, did not complete (per-protocol population)",
    "not able to improve (comparison assessed_not_started)",
    "assessed, not a participant (comparison never_reached)",
    "participant row (not also a comparison)",
    "no short-term assessment (comparisons assessed_*)",
    "awaiting start at end of data",
    "index after index_end",
    "under 65 at index",
    "not yet resident at index",
    "moved out before index",
    "died before index",
    "certification applied between assessment and index",
    "certified at index",
    "assessed before index (comparison never_reached)",
    "moved out during follow-up",
)

_KCL_DOMAINS: dict[str, tuple[int, ...]] = {
    "kcl_iadl": (1, 2, 3, 4, 5), "kcl_physical": (6, 7, 8, 9, 10), "kcl_nutrition": (11, 12),
    "kcl_oral": (13, 14, 15), "kcl_housebound": (16, 17), "kcl_cognition": (18, 19, 20),
    "kcl_mood": (21, 22, 23, 24, 25),
}
_CHECKUP_VALUES = ("bmi", "sbp", "hba1c", "ldl_c", "egfr")
_CARE2 = ("要介護2", "要介護3", "要介護4", "要介護5")
_NEVER = 10_000
_DAYS_PER_MONTH = 365.25 / 12
_FAR_PAST, _FAR_FUTURE = np.datetime64("1900-01-01", "ns"), np.datetime64("2200-01-01", "ns")
_FRAME_TABLES = {
    "residents": ("person_id", "birth_month", "sex", "district", "move_in_date", "move_out_date", "death_date"),
    "short_term_episodes": ("person_id", "referral_route", "assessment_date", "able_to_improve", "start_date",
                            "end_date", "completed", "destination"),
    "outreach_contacts": ("person_id", "survey_date", "responded", "risk_flag"),
    "ltc_certifications": ("person_id", "application_date", "level", "valid_from", "valid_to"),
    "kihon_checklist": ("person_id", "survey_date", *(f"q{i:02d}" for i in range(1, 26))),
    "health_checkups": ("person_id", "checkup_date"),
    "medical_claims": ("person_id", "service_month", "cost_yen"),
    "ltc_claims": ("person_id", "service_month", "cost_yen"),
    "tekupo_users": ("person_id", "registration_date"),
}


@dataclass(frozen=True, eq=False)
class ShortTermFrame:
    """The short-term service evaluation frame and the account of everyone not in it.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per analysed unit (see the module docstring); ``short_term`` is the exposure
        (1 participant, 0 comparison), ``index_month`` months since ``origin``, ``index_date`` its
        first day (time zero).
    exclusions : pandas.DataFrame
        One row per excluded unit: ``person_id``, ``unit`` ("episode" or "resident"),
        ``short_term`` (the arm the unit was a candidate for), ``index_month`` (-1 if none) and
        ``reason`` (one of :data:`SHORT_TERM_EXCLUSION_REASONS`).
    parameters : dict
        The arguments the frame was built with, and the participants' delay distribution.
    n_candidates : int
        Units considered (= rows of ``data`` + rows of ``exclusions``).
    """

    data: pd.DataFrame = field(repr=False)
    exclusions: pd.DataFrame = field(repr=False)
    parameters: dict[str, Any]
    n_candidates: int

    def flow(self) -> pd.DataFrame:
        """Counts by step: candidates, each exclusion reason, analysed; columns ``participant``, ``comparison``."""
        ex, d = self.exclusions, self.data
        rows = [("candidates", int((ex.short_term == 1).sum() + (d.short_term == 1).sum()),
                 int((ex.short_term == 0).sum() + (d.short_term == 0).sum()))]
        for r in SHORT_TERM_EXCLUSION_REASONS:
            sel = ex[ex.reason == r]
            rows.append((f"excluded: {r}", int((sel.short_term == 1).sum()), int((sel.short_term == 0).sum())))
        rows.append(("analysed", int((d.short_term == 1).sum()), int((d.short_term == 0).sum())))
        return pd.DataFrame(rows, columns=["step", "participant", "comparison"])

    def tidy(self) -> pd.DataFrame:
        """The flow in long form: ``term`` (step and arm), ``estimate`` and ``n`` (the count)."""
        long = self.flow().melt(id_vars="step", var_name="arm", value_name="n")
        nan = np.nan
        return pd.DataFrame({"term": long["step"] + " [" + long["arm"] + "]", "estimate": long["n"].astype(float),
                             "std_error": nan, "conf_low": nan, "conf_high": nan, "p_value": nan,
                             "n": long["n"].astype(np.int64)})

    def summary(self) -> str:
        """Plain-text flow (every exclusion counted) and the design."""
        f = self.flow()
        f = f[(f.participant > 0) | (f.comparison > 0) | ~f.step.str.startswith("excluded")]
        width = max(len(s) for s in f.step)
        p = self.parameters
        lines = [f"Short-term service frame: {p['population']} vs {p['comparison']}; {self.n_candidates} units",
                 f"  {'step':<{width}}  {'participant':>11}  {'comparison':>10}"]
        lines += [f"  {s:<{width}}  {a:>11}  {b:>10}" for s, a, b in f.itertuples(index=False)]
        lines.append(f"  time zero: {p['time_zero']}; follow-up {p['followup_months']} months; movers: {p['movers']}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.flow().to_html(index=False)


def _months(values: Any, org: np.datetime64) -> np.ndarray:
    s = pd.Series(values)
    v = s.to_numpy(dtype="datetime64[ns]") if s.dtype == "datetime64[ns]" else \
        np.asarray(pd.to_datetime(s).to_numpy(dtype="datetime64[ns]"))
    # claims hold millions of rows but a few dozen distinct service months: each distinct date is
    # converted once (NaT gets code -1)
    codes, uniq = pd.factorize(v)
    if len(uniq) == 0:
        return np.full(len(v), _NEVER, dtype=np.int64)
    month = np.asarray(uniq, dtype="datetime64[ns]").astype("datetime64[M]").astype(np.int64) - org.astype(np.int64)
    return np.where(codes < 0, _NEVER, month[codes])


def _month_start(months: np.ndarray, org: np.datetime64) -> np.ndarray:
    return (org + np.asarray(months, dtype=np.int64).astype("timedelta64[M]")).astype("datetime64[ns]")


def _asof(left_p: np.ndarray, left_t: np.ndarray, right: pd.DataFrame, on: str, *, inclusive: bool,
          direction: str = "backward") -> pd.DataFrame:
    """Row of ``right`` (columns p, ``on``, values) nearest before (or after) ``left_t`` per person."""
    left = pd.DataFrame({"p": left_p, "t": left_t, "row": np.arange(len(left_p))}).sort_values("t")
    got = pd.merge_asof(left, right.sort_values(on), left_on="t", right_on=on, by="p",
                        allow_exact_matches=inclusive, direction=direction)
    return got.set_index("row").sort_index()


def short_term_frame(
    tables: Any,
    *,
    comparison: Comparison = "assessed_not_started",
    population: ShortTermPopulation = "completers",
    landmark: _Landmark | int = "sampled_delay",
    followup_months: int = 36,
    seed: int | np.random.Generator | None = 0,
    origin: str = "2019-04",
    data_end: str = "2026-03",
    index_end: str | None = None,
    movers: _MoverRule = "censor",
) -> ShortTermFrame:
    """Build the short-term service evaluation frame (participants vs a comparison, index without immortal time).

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        The municipality's tables (``person_id`` categorical with the residents' categories, as read
        by :mod:`wellness_research.data.io` or made by
        :func:`~wellness_research.synthetic.make_municipality`). Not modified.
    comparison : {"assessed_not_started", "assessed_not_participating", "never_reached"}
        Comparison 1 (assessed able to improve, not started), its widening to everyone assessed who
        did not start, or comparison 2 (never reached). See the module docstring.
    population : {"completers", "starters"}, default "completers"
        Participants: completers at the month after completion (the synthetic truth's estimand),
        or starters at the month of the first session (intention to treat).
    landmark : "sampled_delay" or int, default "sampled_delay"
        Assessed comparisons: the delay (months) from the assessment month to the index —
        drawn per person from the participants' delays, or this fixed number (>= 1).
    followup_months : int, default 36
        Window of the time-to-event outcomes from the index date.
    seed : int, numpy.random.Generator or None, default 0
        Draws the comparison landmarks / index months.
    origin : str, default "2019-04"
        Month 0 of ``index_month``.
    data_end : str, default "2026-03"
        Last month of data; follow-up is censored at its end.
    index_end : str or None, default None
        Last index month admitted; ``None``: the last with full follow-up (``data_end`` + 1 −
        ``followup_months``: 2023-04 for 36 months).
    movers : {"drop", "censor"}, default "censor"
        Units moving out during follow-up: excluded, or kept and censored at the move-out date
        (the binary ``*_12m`` / ``*_36m`` outcomes then count only events observed before it).

    Returns
    -------
    ShortTermFrame

    Raises
    ------
    DataValidationError
        A table or column is missing, ``person_id`` is not categorical, residents are duplicated.
    ConfigurationError
        An invalid option (the message names it), or no participant to take delays / months from.

    Notes
    -----
    On the synthetic municipality ``"assessed_not_started"`` is (almost) empty at any landmark: the
    generator starts every person judged able to improve in the month after the assessment unless
    certified, dead or moved out by then, so the only able non-starters are exactly those who cannot
    be at risk at the landmark (small, seed 0: 8 such episodes, none eligible). There, comparison 1
    has to be ``"assessed_not_participating"``, whose non-participants are those judged not able to
    improve — a judgement that depends on age only in the generator, so it is a valid comparison
    given age. In real data people also decline after the assessment, and ``"not able"`` may carry
    prognosis beyond the covariates; report both definitions.

    References
    ----------
    Suissa S (2008). *Am J Epidemiol* 167(4):492–499 (immortal time). Hernán MA, Robins JM (2016).
    *Am J Epidemiol* 183(8):758–764 (target trial: eligibility, assignment and time zero aligned).

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> from wellness_research.cohort.short_term import short_term_frame
    >>> tables = make_municipality("tiny", seed=0).tables
    >>> f = short_term_frame(tables, comparison="assessed_not_participating", index_end="2026-03")
    >>> len(f.data) + len(f.exclusions) == f.n_candidates          # every unit accounted for
    True
    >>> p = f.data[f.data.short_term == 1]
    >>> bool((p.index_month == p.delay_months + p.assessment_month).all())
    True
    """
    fn = "short_term_frame"
    _require(fn, tables, _FRAME_TABLES)
    for name, cols in _FRAME_TABLES.items():
        if not isinstance(tables[name]["person_id"].dtype, pd.CategoricalDtype):
            raise DataValidationError(f"{fn}: {name}.person_id must be categorical with the residents' categories "
                                      f"(as read by wellness_research.data.io); got {tables[name]['person_id'].dtype}.")
    for name, value, alias in (("comparison", comparison, Comparison), ("population", population, ShortTermPopulation),
                               ("movers", movers, _MoverRule)):
        if value not in get_args(alias):
            raise ConfigurationError(f"{fn}: {name}={value!r} is not valid; use one of {list(get_args(alias))}.")
    for name, value in (("followup_months", followup_months),):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigurationError(f"{fn}: {name}={value!r} is not valid; use an integer >= 1.")
    if landmark != "sampled_delay" and (isinstance(landmark, bool) or not isinstance(landmark, (int, np.integer))
                                        or landmark < 1):
        raise ConfigurationError(f"{fn}: landmark={landmark!r} is not valid; use 'sampled_delay' or an integer "
                                 ">= 1 (months from the assessment month).")
    try:
        org = np.datetime64(pd.Timestamp(origin), "M")
        end_m = int(np.datetime64(pd.Timestamp(data_end), "M").astype(np.int64) - org.astype(np.int64))
        last_index = (end_m + 1 - int(followup_months) if index_end is None else
                      int(np.datetime64(pd.Timestamp(index_end), "M").astype(np.int64) - org.astype(np.int64)))
    except (ValueError, TypeError) as err:
        raise ConfigurationError(f"{fn}: origin={origin!r}, data_end={data_end!r}, index_end={index_end!r} must be "
                                 f"months such as '2019-04' ({err}).") from err
    if last_index < 0:
        raise ConfigurationError(f"{fn}: index_end resolves to month {last_index} (before origin {origin}); "
                                 f"followup_months={followup_months} leaves no index month with full follow-up.")
    data_end_ns = _month_start(np.array([end_m + 1]), org)[0]
    rng = np.random.default_rng(seed)

    res = tables["residents"]
    cats = res.person_id.cat.categories
    n = len(cats)
    rcode = res.person_id.cat.codes.to_numpy().astype(np.int64)
    has_row = np.zeros(n, bool)
    has_row[rcode] = True

    def per_person(values: Any, fill: Any) -> np.ndarray:
        values = np.asarray(values)
        out = np.full(n, fill, dtype=values.dtype)
        out[rcode] = values
        return out

    birth = per_person(_months(res.birth_month, org), 0)
    female = per_person((res.sex.astype(str) == "F").to_numpy().astype(np.int64), 0)
    district = per_person(res.district.cat.codes.to_numpy().astype(np.int64), 0)
    move_in = per_person(res.move_in_date.to_numpy(dtype="datetime64[ns]"), _FAR_PAST)
    move_in = np.where(np.isnat(move_in), _FAR_PAST, move_in)
    move_out = per_person(res.move_out_date.to_numpy(dtype="datetime64[ns]"), _FAR_FUTURE)
    move_out = np.where(np.isnat(move_out), _FAR_FUTURE, move_out)
    death = per_person(res.death_date.to_numpy(dtype="datetime64[ns]"), _FAR_FUTURE)
    death = np.where(np.isnat(death), _FAR_FUTURE, death)

    # --- episodes: arm, index ------------------------------------------------------------------
    ep = tables["short_term_episodes"].reset_index(drop=True)
    ep_p = ep.person_id.cat.codes.to_numpy().astype(np.int64)
    e_assess = ep.assessment_date.to_numpy(dtype="datetime64[ns]")
    order = np.lexsort((np.arange(len(ep)), e_assess, ep_p))
    first_ep = np.zeros(len(ep), bool)
    if len(ep):
        op = ep_p[order]
        first_ep[order[np.r_[True, op[1:] != op[:-1]]]] = True
    able = ep.able_to_improve.fillna(False).to_numpy(dtype=bool)
    started = ep.start_date.notna().to_numpy()
    completed = ep.completed.fillna(False).to_numpy(dtype=bool)
    a_month = _months(ep.assessment_date, org)
    if population == "completers":
        exposed = completed & started
        p_index = _months(ep.end_date, org) + 1
    else:
        exposed = started
        p_index = _months(ep.start_date, org)
    p_index = np.where(exposed, p_index, _NEVER)
    part_ok = exposed & first_ep & has_row[ep_p] & (p_index <= last_index)
    delays = (p_index - a_month)[part_ok]
    if not part_ok.any():
        raise ConfigurationError(f"{fn}: no {population} with an index month up to month {last_index} "
                                 f"({len(ep)} episodes); nothing to compare (check index_end / data).")
    assessed_comp = comparison in ("assessed_not_started", "assessed_not_participating")
    ep_arm = np.where(exposed | started, 1, 0)  # a starter who did not complete is an excluded participant
    if assessed_comp:
        delay = (rng.choice(delays, size=len(ep), replace=True) if landmark == "sampled_delay"
                 else np.full(len(ep), int(landmark)))
        c_index = a_month + delay
    else:
        c_index = np.full(len(ep), -1)
    ep_index = np.where(exposed, p_index, np.where(assessed_comp, c_index, -1))
    # episode pre-reasons (before the eligibility rules)
    ep_pre = np.full(len(ep), -1, dtype=np.int64)
    R = {r: k for k, r in enumerate(SHORT_TERM_EXCLUSION_REASONS)}
    ep_pre[~has_row[ep_p]] = R["no residents row"]
    ep_pre[(ep_pre < 0) & ~first_ep] = R["not the person's first episode"]
    if population == "completers":
        ep_pre[(ep_pre < 0) & started & ~completed] = R["started, did not complete (per-protocol population)"]
    if comparison == "assessed_not_started":
        ep_pre[(ep_pre < 0) & ~exposed & ~able] = R["not able to improve (comparison assessed_not_started)"]
    if comparison == "never_reached":
        ep_pre[(ep_pre < 0) & ~exposed] = R["assessed, not a participant (comparison never_reached)"]
    ep_pre[(ep_pre < 0) & ~exposed & able & ~started & ep.destination.isna().to_numpy()] = \
        R["awaiting start at end of data"]

    # --- residents as comparison candidates -------------------------------------------------------
    part_person = np.zeros(n, bool)
    part_person[ep_p[part_ok]] = True
    r_ids = np.arange(n)[has_row]
    r_pre = np.full(len(r_ids), -1, dtype=np.int64)
    if comparison == "never_reached":
        r_index = rng.choice(p_index[part_ok], size=len(r_ids), replace=True)
        r_pre[part_person[r_ids]] = R["participant row (not also a comparison)"]
    else:
        has_ep = np.zeros(n, bool)
        has_ep[ep_p] = True
        keep_r = ~has_ep[r_ids]  # residents with an episode are accounted for by their episode rows
        r_ids = r_ids[keep_r]
        r_pre = r_pre[keep_r]
        r_index = np.full(len(r_ids), -1)
        r_pre[:] = R["no short-term assessment (comparisons assessed_*)"]

    unit = np.concatenate([np.zeros(len(ep), np.int64), np.ones(len(r_ids), np.int64)])  # 0 episode, 1 resident
    person = np.concatenate([ep_p, r_ids])
    arm = np.concatenate([ep_arm, np.zeros(len(r_ids), np.int64)])
    index = np.concatenate([ep_index, r_index]).astype(np.int64)
    pre = np.concatenate([ep_pre, r_pre])
    assess = np.concatenate([e_assess, np.full(len(r_ids), np.datetime64("NaT"), dtype="datetime64[ns]")])
    ep_row = np.concatenate([np.arange(len(ep)), np.full(len(r_ids), -1)])
    safe_index = np.clip(index, 0, _NEVER)
    start = _month_start(safe_index, org)
    end = _month_start(safe_index + int(followup_months), org)

    # --- certification records ---------------------------------------------------------------------
    cert_all = tables["ltc_certifications"]
    valid = (cert_all.level.astype(str) != "非該当").to_numpy()
    cert = cert_all[valid]
    ce = pd.DataFrame({"p": cert.person_id.cat.codes.to_numpy().astype(np.int64),
                       "vfrom": cert.valid_from.to_numpy(dtype="datetime64[ns]"),
                       "vto": cert.valid_to.to_numpy(dtype="datetime64[ns]"),
                       "app": cert.application_date.to_numpy(dtype="datetime64[ns]"),
                       "care2": cert.level.astype(str).isin(_CARE2).to_numpy()})
    j = pd.DataFrame({"row": np.arange(len(person)), "p": person, "start": start, "end": end,
                      "assess": assess}).merge(ce, on="p")
    flag_rows = np.zeros(len(person), bool)
    flag_rows[j.loc[(j.vfrom < j.start) & (j.vto >= j.start), "row"].unique()] = True
    certified_at_index = flag_rows
    between = np.zeros(len(person), bool)
    between[j.loc[(j.app >= j.assess) & (j.app < j.start), "row"].unique()] = True
    # never_reached: assessed before the index month
    first_assess = np.full(n, _FAR_FUTURE)
    if len(ep):
        fa = pd.Series(e_assess).groupby(ep_p).min()
        first_assess[fa.index.to_numpy()] = fa.to_numpy(dtype="datetime64[ns]")
    reached_before = (unit == 1) & (first_assess[person] < start)

    rules = [
        ("index after index_end", (index > last_index) | (index < 0)),
        ("under 65 at index", index - birth[person] < 780),
        ("not yet resident at index", ~(move_in[person] < start)),
        ("moved out before index", ~(move_out[person] >= start)),
        ("died before index", ~(death[person] >= start)),
        ("certification applied between assessment and index", between),
        ("certified at index", certified_at_index),
        ("assessed before index (comparison never_reached)", reached_before),
        ("moved out during follow-up", (move_out[person] < end) if movers == "drop" else np.zeros(len(person), bool)),
    ]
    reason = pre.copy()
    for name, failed in rules:
        reason[(reason < 0) & failed] = R[name]
    keep = reason < 0
    exclusions = pd.DataFrame({
        "person_id": pd.Categorical.from_codes(person[~keep], categories=cats),
        "unit": np.where(unit[~keep] == 0, "episode", "resident"),
        "short_term": arm[~keep],
        "index_month": np.where(index[~keep] > last_index + int(followup_months) + 120, -1, index[~keep]),
        "reason": pd.Categorical.from_codes(reason[~keep], categories=list(SHORT_TERM_EXCLUSION_REASONS)),
    })

    # --- the analysed rows ----------------------------------------------------------------------------
    k = np.flatnonzero(keep)
    p = person[k]
    er = ep_row[k]
    st = start[k]
    fr = pd.DataFrame({"person_id": pd.Categorical.from_codes(p, categories=cats), "short_term": arm[k],
                       "index_month": index[k], "index_date": st})
    is_ep = er >= 0
    fr["assessment_month"] = pd.array(np.where(is_ep, a_month[np.maximum(er, 0)], -1), dtype="Int64")
    fr.loc[~is_ep, "assessment_month"] = pd.NA
    fr["delay_months"] = fr["index_month"] - fr["assessment_month"]
    route = ep.referral_route.astype(str).to_numpy()
    fr["referral_route"] = pd.Categorical(np.where(is_ep, route[np.maximum(er, 0)] if len(ep) else "none", "none"),
                                          categories=["outreach", "community_centre", "care_manager", "self", "none"])
    fr["able_to_improve"] = np.where(is_ep, able[np.maximum(er, 0)] if len(ep) else False, False).astype(np.int64)
    fr["age"] = (index[k] - birth[p]) / 12.0
    fr["female"] = female[p]
    fr["district"] = pd.Categorical.from_codes(district[p], categories=res.district.cat.categories)

    # baseline Kihon Checklist: at assessment (assessed units) or latest before the index
    kcl = tables["kihon_checklist"]
    qcols = [f"q{i:02d}" for i in range(1, 26)]
    q = kcl[qcols].astype("Float64").fillna(0).to_numpy(dtype=float)
    kd = pd.DataFrame({"p": kcl.person_id.cat.codes.to_numpy().astype(np.int64),
                       "survey": kcl.survey_date.to_numpy(dtype="datetime64[ns]"), "kcl": q.sum(axis=1)})
    for dom, items in _KCL_DOMAINS.items():
        kd[dom] = q[:, [i - 1 for i in items]].sum(axis=1)
    a_day = np.where(is_ep, e_assess[np.maximum(er, 0)] if len(ep) else st, st)
    base_at = np.where(is_ep, a_day + np.timedelta64(1, "D"), st)  # on or before the assessment day / before index
    got = _asof(p, base_at, kd, "survey", inclusive=False)
    fr["kcl_missing"] = got["kcl"].isna().to_numpy().astype(np.int64)
    fr["kcl_total"] = got["kcl"].fillna(0.0).to_numpy()
    for dom in _KCL_DOMAINS:
        fr[dom] = got[dom].fillna(0.0).to_numpy()
    base_day = got["survey"].to_numpy(dtype="datetime64[ns]")
    fr["kcl_age_months"] = (st - base_day) / np.timedelta64(1, "D") / _DAYS_PER_MONTH
    nxt = _asof(p, st, kd, "survey", inclusive=True, direction="forward")
    nxt_day = nxt["survey"].to_numpy(dtype="datetime64[ns]")
    nxt_ok = ~np.isnat(nxt_day) & (nxt_day < data_end_ns)
    fr["kcl_next"] = np.where(nxt_ok, nxt["kcl"].to_numpy(dtype=float), np.nan)
    fr["kcl_next_months"] = np.where(nxt_ok, (nxt_day - st) / np.timedelta64(1, "D") / _DAYS_PER_MONTH, np.nan)
    fr["kcl_change"] = np.where(fr["kcl_missing"] == 1, np.nan, fr["kcl_next"] - fr["kcl_total"])
    # completers: the questionnaire at the end of the service (dated end_date)
    e_end = ep.end_date.to_numpy(dtype="datetime64[ns]")
    end_day = np.where(is_ep & (fr["short_term"].to_numpy() == 1) & (population == "completers"),
                       e_end[np.maximum(er, 0)] if len(ep) else np.datetime64("NaT"), np.datetime64("NaT"))
    eos = _asof(p, np.where(np.isnat(end_day), _FAR_PAST, end_day) + np.timedelta64(1, "D"), kd, "survey",
                inclusive=False)
    eos_ok = ~np.isnat(end_day) & (eos["survey"].to_numpy(dtype="datetime64[ns]") == end_day)
    fr["kcl_end_of_service"] = np.where(eos_ok, eos["kcl"].to_numpy(dtype=float), np.nan)
    fr["kcl_end_change"] = np.where(fr["kcl_missing"] == 1, np.nan, fr["kcl_end_of_service"] - fr["kcl_total"])

    # checkups: latest values before the index, attendance in the previous fiscal year
    hc = tables["health_checkups"]
    hk = pd.DataFrame({"p": hc.person_id.cat.codes.to_numpy().astype(np.int64),
                       "when": hc.checkup_date.to_numpy(dtype="datetime64[ns]")})
    hv = [c for c in _CHECKUP_VALUES if c in hc.columns]
    for c in hv:
        hk[c] = hc[c].to_numpy(dtype=float)
    got = _asof(p, st, hk, "when", inclusive=False)
    for c in hv:
        v = got[c].to_numpy(dtype=float)
        miss = np.isnan(v)
        fr[c] = np.where(miss, float(np.nanmedian(v)) if (~miss).any() else 0.0, v)
        fr[f"{c}_missing"] = miss.astype(np.int64)
    hfy = np.floor_divide(_months(hc.checkup_date, org), 12)
    fy = np.floor_divide(index[k], 12)
    seen = set(zip(hk["p"].to_numpy().tolist(), hfy.tolist(), strict=True))
    fr["checkup_last_fy"] = np.array([(a, b - 1) in seen for a, b in zip(p.tolist(), fy.tolist(), strict=True)],
                                     dtype=np.int64)

    # prior medical / LTC cost and use (12 months before the index month)
    idx = index[k]
    # Monthly sums on a dense (analysed person x month) grid, then 12 look-ups per row: a groupby of
    # the claims on (person, month) and a merge took most of this function's time on a city. Costs
    # are whole yen (data dictionary: integer), so the float sums are exact in any order.
    persons, slot = np.unique(p, return_inverse=True)
    person_slot = np.full(n, -1, dtype=np.int64)
    person_slot[persons] = np.arange(len(persons))
    look = idx[:, None] - np.arange(1, 13)[None, :]  # the 12 months before each index month
    first_m = int(look.min()) if len(p) else 0
    span = int(look.max()) - first_m + 1 if len(p) else 1
    for table, name in (("medical_claims", "medical"), ("ltc_claims", "ltc")):
        mc = tables[table]
        mm = _months(mc.service_month, org)
        cp = mc.person_id.cat.codes.to_numpy().astype(np.int64)
        cs = np.where(cp >= 0, person_slot[np.maximum(cp, 0)], -1)  # code -1: no person
        sel = (cs >= 0) & (mm >= first_m) & (mm < first_m + span)
        grid = np.bincount(cs[sel] * span + (mm[sel] - first_m), weights=mc.cost_yen.to_numpy(dtype=float)[sel],
                           minlength=len(persons) * span).reshape(len(persons), span)
        monthly = grid[slot[:, None], look - first_m]
        fr[f"log_{name}_cost_12m"] = np.log1p(monthly.sum(axis=1))
        fr[f"{name}_months_12m"] = (monthly > 0).sum(axis=1).astype(np.int64)
    prior = np.zeros(len(person), bool)
    prior[j.loc[j.app < j.start, "row"].unique()] = True
    fr["prior_certification"] = prior[k].astype(np.int64)
    tk = tables["tekupo_users"]
    reg = pd.Series(tk.registration_date.to_numpy(dtype="datetime64[ns]")).groupby(
        tk.person_id.cat.codes.to_numpy()).min()
    reg_day = np.full(n, _FAR_FUTURE)
    reg_day[reg.index.to_numpy()] = reg.to_numpy(dtype="datetime64[ns]")
    fr["tekupo"] = (reg_day[p] < st).astype(np.int64)

    # latest outreach contact before the index
    oc = tables["outreach_contacts"]
    od = pd.DataFrame({"p": oc.person_id.cat.codes.to_numpy().astype(np.int64),
                       "survey": oc.survey_date.to_numpy(dtype="datetime64[ns]"),
                       "resp": oc.responded.fillna(False).to_numpy(dtype=float),
                       "flag": oc.risk_flag.astype("boolean").fillna(False).to_numpy(dtype=float)})
    got = _asof(p, st, od, "survey", inclusive=False)
    fr["outreach_surveyed"] = got["survey"].notna().to_numpy().astype(np.int64)
    fr["outreach_responded"] = got["resp"].fillna(0).to_numpy().astype(np.int64)
    fr["outreach_risk_flag"] = got["flag"].fillna(0).to_numpy().astype(np.int64)

    # --- outcomes from the index date ------------------------------------------------------------------
    jj = j[keep[j.row.to_numpy()]]
    jj = jj[(jj.app >= jj.start)]
    pos = np.full(len(person), -1)
    pos[k] = np.arange(len(k))
    dday = death[p]
    out_day = move_out[p]
    cens_end = np.minimum(np.minimum(end[k], np.full(len(k), data_end_ns)), out_day)
    for months, suffix in ((12, "12m"), (36, "36m")):
        w_end = _month_start(idx + months, org)
        observed_end = np.minimum(np.minimum(w_end, np.full(len(k), data_end_ns)), out_day)
        inside = jj[jj.app.to_numpy() < observed_end[pos[jj.row.to_numpy()]]]
        for col, sel in ((f"certified_{suffix}", np.ones(len(inside), bool)),
                         (f"care2_{suffix}", inside.care2.to_numpy())):
            first = inside[sel].groupby("row")["app"].min()
            ev = np.zeros(len(k), np.int64)
            r = pos[first.index.to_numpy()]
            ok = first.to_numpy(dtype="datetime64[ns]") <= dday[r]
            ev[r[ok]] = 1
            fr[col] = ev
        fr[f"died_{suffix}"] = ((dday >= st) & (dday < observed_end)).astype(np.int64)
    for name, care2 in (("cert", False), ("care2", True)):
        sel = jj[jj.app < jj.end] if not care2 else jj[(jj.app < jj.end) & jj.care2]
        first = sel.groupby("row")["app"].min()
        ev_day = np.full(len(k), np.datetime64("2262-01-01", "ns"))
        ev_day[pos[first.index.to_numpy()]] = first.to_numpy(dtype="datetime64[ns]")
        t_event = np.minimum(np.minimum(ev_day, dday), cens_end)
        event = np.where((ev_day <= t_event) & (ev_day < cens_end), 1,
                         np.where((dday <= t_event) & (dday < cens_end), 2, 0))
        fr[f"{name}_time"] = np.minimum((t_event - st) / np.timedelta64(1, "D") / _DAYS_PER_MONTH,
                                        float(followup_months))
        fr[f"{name}_event"] = event.astype(np.int64)
    fr["censored_by_move"] = (out_day < np.minimum(end[k], np.full(len(k), data_end_ns))).astype(np.int64)
    dest = ep.destination.astype(object).to_numpy()
    d = np.where(is_ep & (fr["short_term"].to_numpy() == 1), dest[np.maximum(er, 0)] if len(ep) else None, None)
    fr["destination"] = pd.Categorical(d, categories=list(_DESTINATIONS))
    fr["graduated"] = pd.array(np.where(fr["short_term"] == 1,
                                        fr["destination"].isin(["independent", "community_activity"]), pd.NA),
                               dtype="Int64")
    later = np.zeros(len(k), np.int64)
    if comparison == "never_reached" and len(ep):
        sday = pd.Series(ep.start_date.to_numpy(dtype="datetime64[ns]")).groupby(ep_p).min()
        s_day = np.full(n, _FAR_FUTURE)
        s_day[sday.index.to_numpy()] = sday.to_numpy(dtype="datetime64[ns]")
        later = ((fr["short_term"].to_numpy() == 0) & (s_day[p] >= st) & (s_day[p] < end[k])).astype(np.int64)
    fr["later_start"] = later

    time_zero = ("month after completion" if population == "completers" else "month of the first session")
    if comparison != "never_reached":
        how = "sampled from the participants'" if landmark == "sampled_delay" else f"{landmark} months"
        time_zero += f"; comparison: assessment month + delay ({how})"
    else:
        time_zero += "; comparison: a participant index month drawn at random (risk set in calendar time)"
    vals, cnt = np.unique(delays, return_counts=True)
    params = {"comparison": comparison, "population": population, "landmark": landmark,
              "followup_months": int(followup_months), "seed": seed if not isinstance(seed, np.random.Generator)
              else "Generator", "origin": origin, "data_end": data_end, "index_end": index_end,
              "last_index_month": last_index, "movers": movers, "time_zero": time_zero,
              "participant_delays": dict(zip(vals.tolist(), cnt.tolist(), strict=True))}
    return ShortTermFrame(data=fr.reset_index(drop=True), exclusions=exclusions, parameters=params,
                          n_candidates=int(len(person)))

