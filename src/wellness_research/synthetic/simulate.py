"""The monthly engine: certification, care levels, deaths, migration and programme participation.

One loop over the 84 months of April 2019 – March 2026, vectorised over persons. Each month:

1. persons enter (start of the period, 65th birthday, move-in) and move out;
2. certifications that expire are renewed (a few renewals decide 非該当);
3. programme decisions are taken on what is known at the start of the month: Kihon Checklist survey
   (FY2019, FY2022, FY2025), checkups, outreach survey of residents 75+ and its home visits, other
   referrals, assessments and starts of the short-term service, てくポ registrations, SOFT joins;
4. hazards: new certification ``h0(age, sex) exp(gamma z) district x programme factors``; death
   ``mu0(age, sex) level_hr[state] exp(delta z)`` (both calibrated by :mod:`.cohort`);
5. events by threshold crossing: every person carries an Exp(1) threshold for certification and
   one for death, used up month by month by the hazards; an event happens in the month the
   cumulative hazard crosses it, at the fraction of the month where it does;
6. certified survivors move between levels with the monthly transition matrix (a change of level
   is a 区分変更 application with a new certification record);
7. programme states are updated (SOFT dropout, short-term service completion, ...).

**Ground truth with common random numbers.** When a person joins SOFT (index = the month of the
first session) or completes the short-term service (index = the following month) the engine copies
their remaining thresholds into two *arms*, treated and untreated, and follows both for 36 months
(beyond March 2026 if needed) with the same hazards except the programme's own factor. Because the
thresholds are shared, the difference between arms is the exact effect on that person; the treated
arm reproduces the observed data month by month. Selection into every programme depends only on
covariates an analyst can observe (Kihon Checklist answers, age, sex, district, てくポ, checkups,
outreach risk flag), so a correct matched analysis can recover the effect. Moving out is
independent of health (non-informative censoring); the arms ignore it.

Dates inside a month are drawn after the month's events, so that no survey answer, session, visit
or registration falls after a death in that month. Each person has at most one short-term service
episode; a person answering the mailed survey and assessed on the same day keeps one questionnaire.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from ._calendar import NO_DAY, month_index, month_length, month_start_day
from .cohort import CohortModel
from .measures import KclModel, bmi_at
from .parameters import SyntheticParameters
from .population import N_MONTHS, NEVER, Population
from .programmes import Sites
from .truth import TrueEffects

__all__ = ["SimulationResult", "simulate"]

FOLLOW_UP = 36
#: Months the arms' *events* (threshold crossings) are followed beyond ``FOLLOW_UP``, so that a window
#: of ``FOLLOW_UP`` months starting at a landmark up to this many months after the index can be held to
#: its truth. Every estimand (``risk_*``, ``certified_*``, costs) stays on the ``FOLLOW_UP`` months.
EVENT_EXTENSION = 12
_DEAD, _GONE, _ABSENT = -2, -3, -1
_WAITING, _IN_SERVICE, _ENDED, _NOT_ELIGIBLE = 0, 1, 2, 3
#: Destination codes, in the order of the contract's category list.
DESTINATIONS = ("independent", "community_activity", "other_service", "certified", "dropped", "died")
_DEST = {name: i for i, name in enumerate(DESTINATIONS)}


class _Episodes:
    """Short-term service episodes as growing arrays (one row per assessment)."""

    _FIELDS = {"person": np.int64, "route": np.int64, "assess_day": np.int64, "able": bool,
               "start_month": np.int64, "start_day": np.int64, "end_day": np.int64, "planned_end": np.int64,
               "status": np.int8, "sessions": np.int64, "completed": bool, "dest": np.int64}

    def __init__(self) -> None:
        for k, dt in self._FIELDS.items():
            setattr(self, k, np.zeros(0, dtype=dt))

    @property
    def n(self) -> int:
        return len(self.person)

    def append(self, **cols: np.ndarray) -> None:
        for k, dt in self._FIELDS.items():
            setattr(self, k, np.concatenate([getattr(self, k), np.asarray(cols[k]).astype(dt)]))

    def as_dict(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self._FIELDS}


def step_thresholds(rc: np.ndarray, rd: np.ndarray, hc: np.ndarray, hd: np.ndarray):
    """One month of competing certification/death by threshold crossing.

    Returns ``(certified, died, frac_cert, frac_death, rc_left, rd_left)``: certification happens
    when its threshold is crossed before the death threshold within the month; fractions are the
    point of the month where each threshold is crossed (2.0 when not crossed).
    """
    cross_c = rc <= hc
    cross_d = rd <= hd
    tc = np.where(cross_c, rc / hc, 2.0)
    td = np.where(cross_d, rd / hd, 2.0)
    cert = cross_c & (tc < td)
    return cert, cross_d, tc, td, rc - hc, rd - hd


class _RecordBook:
    """Certification records appended month by month; validity ends truncated later."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.n = 0
        self.trunc: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, person, app, dec, level, vfrom, vto) -> np.ndarray:
        m = len(person)
        ids = np.arange(self.n, self.n + m, dtype=np.int64)
        self.n += m
        if m:
            self.parts.append(tuple(np.asarray(a, dtype=np.int64) for a in (person, app, dec, level, vfrom, vto)))
        return ids

    def truncate(self, ids: np.ndarray, days: np.ndarray) -> None:
        if len(ids):
            self.trunc.append((np.asarray(ids, dtype=np.int64), np.asarray(days, dtype=np.int64)))

    def finish(self) -> dict[str, np.ndarray]:
        cols = ("person", "app", "dec", "level", "vfrom", "vto")
        if not self.parts:
            return {c: np.zeros(0, dtype=np.int64) for c in cols}
        out = {c: np.concatenate([p[i] for p in self.parts]) for i, c in enumerate(cols)}
        for ids, days in self.trunc:  # each record is truncated at most once, in time order
            out["vto"][ids] = np.minimum(out["vto"][ids], days)
        return out


class _Rows:
    """Rows of a table collected month by month as arrays."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.parts: dict[str, list[np.ndarray]] = {n: [] for n in names}

    def add(self, **cols: np.ndarray) -> None:
        for n in self.names:
            self.parts[n].append(np.asarray(cols[n]))

    def finish(self, dtypes: dict[str, type] | None = None) -> dict[str, np.ndarray]:
        out = {}
        for n in self.names:
            if self.parts[n]:
                out[n] = np.concatenate(self.parts[n])
            else:
                out[n] = np.zeros(0, dtype=(dtypes or {}).get(n, np.int64))
        return out


@dataclass(frozen=True)
class SimulationResult:
    """Everything the engine produced, as arrays (assembled into tables elsewhere)."""

    pop: Population
    hist: np.ndarray  # (n, 84) int8 state at the start of each month (-1 absent)
    death_day: np.ndarray
    death_month: np.ndarray
    out_day: np.ndarray
    records: dict[str, np.ndarray]
    kcl: dict[str, np.ndarray]
    checkups: dict[str, np.ndarray]
    soft: dict[str, np.ndarray]
    tekupo: dict[str, np.ndarray]
    outreach: dict[str, np.ndarray]
    episodes: dict[str, np.ndarray]
    subjects: dict[str, np.ndarray]
    person_traits: dict[str, np.ndarray]


class _Engine:
    def __init__(self, params: SyntheticParameters, cohort: CohortModel, pop: Population,
                 effects: TrueEffects, sites: Sites, rngs: dict[str, np.random.Generator]) -> None:
        self.p, self.cohort, self.pop, self.eff, self.sites, self.rng = params, cohort, pop, effects, sites, rngs
        n = pop.n
        self.n = n
        self.state = np.full(n, _ABSENT, dtype=np.int8)
        rth = rngs["thresholds"]
        self.rc = rth.exponential(size=n)
        self.rd = rth.exponential(size=n)
        self.cur_rec = np.full(n, -1, dtype=np.int64)
        self.cur_vto = np.full(n, NO_DAY, dtype=np.int64)
        self.death_day = np.full(n, NO_DAY, dtype=np.int64)
        self.death_month = np.full(n, NEVER, dtype=np.int32)
        self.out_day = np.full(n, NO_DAY, dtype=np.int64)
        self.hist = np.full((n, N_MONTHS), _ABSENT, dtype=np.int8)
        self.book = _RecordBook()
        self.gamma = float(params.value("frailty.certification_log_hr_per_sd"))
        self.delta = float(params.value("frailty.death_log_hr_per_sd"))
        self.dist_mult = np.exp(np.asarray(params.value("population.district_log_hazard_offsets"), dtype=np.float64))
        self.level_hr = cohort.level_hr
        entry = np.asarray(params.value("certification.entry_level_mix"), dtype=np.float64)
        self.entry_cdf = np.cumsum(entry / entry.sum())
        self.trans_cdf = np.cumsum(cohort.monthly_transition, axis=1)
        self.decert = np.asarray(params.value("certification.decertification_at_renewal"), dtype=np.float64)
        self.reject_ratio = float(params.value("certification.rejected_application_ratio"))
        self.lag = params.value("certification.decision_lag_days")
        self.lead = params.value("certification.renewal_application_lead_days")
        self.first_valid = params.value("certification.first_validity_months")
        rv = params.value("certification.renewal_validity_months")
        self.renew_months = np.asarray(rv["months"])
        self.renew_w = np.asarray(rv["weights"], dtype=np.float64) / np.sum(rv["weights"])
        # person traits used by several components (one stream, drawn once)
        rt = rngs["traits"]
        self.domain = rt.normal(0.0, float(params.value("kihon_checklist.domain_sd")), size=(n, 7)).astype(np.float32)
        self.bmi0 = np.where(pop.sex == 0, rt.normal(23.2, 2.9, n), rt.normal(22.4, 3.3, n))
        self.checkup_trait = rt.normal(0.0, 1.2, n)
        self.kcl_model = KclModel(params)
        # programme state
        self.tek_month = np.full(n, NEVER, dtype=np.int32)
        self.tek_day = np.full(n, NO_DAY, dtype=np.int64)
        self.short_idx = np.full(n, NEVER, dtype=np.int32)
        self.soft_month = np.full(n, NEVER, dtype=np.int32)
        self.soft_site = np.full(n, -1, dtype=np.int32)
        self.soft_exit = np.full(n, NEVER, dtype=np.int32)
        self.soft_first_u = np.zeros(n)
        self.latest_kcl = np.full(n, np.nan)
        self.checkup_last = np.zeros(n, dtype=bool)
        self.checkup_this = np.zeros(n, dtype=bool)
        self.checkup_month = np.full(n, NEVER, dtype=np.int32)
        self.kcl_shift = np.zeros(n)
        self.kcl_shift_month = np.full(n, NEVER, dtype=np.int32)
        # short-term service: one episode per person at most
        self.ep_of = np.full(n, -1, dtype=np.int64)
        self.eps = _Episodes()
        self.pending_subject: list[int] = []
        # outreach visits scheduled: month -> list of (contact row, person)
        self.visits: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.contacts = {k: [] for k in ("person", "survey_u", "survey_day", "responded", "risk", "visit_day", "result")}
        self.n_contacts = 0
        self._visit_updates: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.last_cert_day = np.full(n, NO_DAY, dtype=np.int64)
        self.kcl_rows = _Rows("person", "day", "items")
        self.checkup_rows = _Rows("person", "day", "month")
        # ground-truth subjects
        self.subj = {k: np.zeros(0, dtype=t) for k, t in (
            ("person", np.int64), ("prog", np.int8), ("index", np.int32))}
        self.arm_rc = np.zeros((0, 2))
        self.arm_rd = np.zeros((0, 2))
        self.arm_done = np.zeros((0, 2), dtype=bool)
        self.arm_cert = np.zeros((0, 2), dtype=bool)
        self.arm_month = np.full((0, 2), NEVER, dtype=np.int32)
        self.arm_dmonth = np.full((0, 2), NEVER, dtype=np.int32)
        self.arm_s = np.zeros((0, 2))
        self.arm_f = np.zeros((0, 2))
        self.kcl_truth = {"person": [], "treated": [], "untreated": [], "expected": []}

    # ------------------------------------------------------------------ helpers
    def _days(self, t: int, persons: np.ndarray, u: np.ndarray, *, start: np.ndarray | None = None) -> np.ndarray:
        """Day in month ``t`` at fraction ``u``, not after death in that month, not before ``start``."""
        ms = int(month_start_day(t))
        last = ms + int(month_length(t)) - 1
        hi = np.minimum(last, self.death_day[persons])
        lo = np.full(len(persons), ms, dtype=np.int64) if start is None else np.maximum(ms, start)
        hi = np.maximum(hi, lo)
        return lo + np.floor(u * (hi - lo + 1)).astype(np.int64)

    def _end_of_month(self, months: np.ndarray) -> np.ndarray:
        return month_start_day(np.asarray(months) + 1) - 1

    def _lag(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Days from application to decision."""
        return rng.integers(int(self.lag[0]), int(self.lag[1]) + 1, size=n)

    def _age(self, t: int, idx=slice(None)) -> np.ndarray:
        return t - self.pop.birth[idx]

    # ------------------------------------------------------------------ records
    def _prehistory(self, t: int, persons: np.ndarray) -> None:
        """Certification record valid at entry for persons entering already certified."""
        if len(persons) == 0:
            return
        rng = self.rng["records"]
        pop = self.pop
        level = self.state[persons].astype(np.int64)
        n = len(persons)
        app = np.empty(n, dtype=np.int64)
        dec = np.empty(n, dtype=np.int64)
        vfrom = np.empty(n, dtype=np.int64)
        vto = np.empty(n, dtype=np.int64)
        mover = pop.kind[persons] == 2
        renewal = (rng.random(n) < 0.7) & ~mover
        first = ~renewal & ~mover
        # renewals: validity started on the first of a month, 0..k-1 months ago
        k = rng.choice(self.renew_months, size=n, p=self.renew_w)
        e = np.floor(rng.random(n) * k).astype(np.int64)
        lead = rng.integers(int(self.lead[0]), int(self.lead[1]) + 1, size=n)
        lag = self._lag(rng, n)
        vf_r = month_start_day(t - e)
        app[renewal] = (vf_r - lead)[renewal]
        dec[renewal] = (vf_r - lead + lag)[renewal]
        vfrom[renewal] = vf_r[renewal]
        vto[renewal] = self._end_of_month(t - e + k - 1)[renewal]
        # first or change certifications: applied in month t-1-e, valid to the end of month t-1-e+k1
        k1 = rng.integers(int(self.first_valid[0]), int(self.first_valid[1]) + 1, size=n)
        e1 = np.floor(rng.random(n) * k1).astype(np.int64)
        am = t - 1 - e1
        a1 = month_start_day(am) + np.floor(rng.random(n) * month_length(am)).astype(np.int64)
        app[first] = a1[first]
        dec[first] = (a1 + lag)[first]
        vfrom[first] = a1[first]
        vto[first] = self._end_of_month(am + k1)[first]
        # movers: certification carried over from the previous municipality at the move-in date
        mi = pop.move_in_day[persons]
        app[mover] = mi[mover]
        dec[mover] = (mi + rng.integers(7, 31, size=n))[mover]
        vfrom[mover] = mi[mover]
        vto[mover] = self._end_of_month(t - 1 + k1)[mover]
        ids = self.book.add(persons, app, dec, level, vfrom, vto)
        self.cur_rec[persons] = ids
        self.cur_vto[persons] = vto

    def _renewals(self, t: int) -> None:
        ms = int(month_start_day(t))
        due = np.flatnonzero((self.state >= 1) & (self.cur_vto < ms))
        if len(due) == 0:
            return
        rng = self.rng["records"]
        n = len(due)
        level = self.state[due].astype(np.int64)
        lead = rng.integers(int(self.lead[0]), int(self.lead[1]) + 1, size=n)
        app = ms - lead
        dec = app + self._lag(rng, n)
        decert = rng.random(n) < self.decert[level - 1]
        k = rng.choice(self.renew_months, size=n, p=self.renew_w)
        vfrom = np.where(decert, NO_DAY, ms)
        vto = np.where(decert, NO_DAY, self._end_of_month(t + k - 1))
        ids = self.book.add(due, app, dec, np.where(decert, 0, level), vfrom, vto)
        self.cur_rec[due] = np.where(decert, -1, ids)
        self.cur_vto[due] = vto
        gone = due[decert]
        self.state[gone] = 0
        self.rc[gone] = self.rng["thresholds"].exponential(size=len(gone))

    # ------------------------------------------------------------------ programme decisions
    def _kcl(self, t: int, persons: np.ndarray):
        """Questionnaires of ``persons`` at month ``t`` (a completed service's shift fades, half-life 12 months)."""
        rng = self.rng["kcl"]
        occ, uni, miss = self.kcl_model.draw(rng, len(persons))
        z = self.pop.z(t, persons)
        latent = self.kcl_model.latent(z, self._age(t, persons).astype(np.float64), occ)
        decay = np.where(self.kcl_shift_month[persons] < t,
                         0.5 ** ((t - self.kcl_shift_month[persons]) / 12.0), 0.0)
        latent = latent + self.kcl_shift[persons] * decay
        bmi = bmi_at(self.bmi0[persons], z, t / 12.0)
        prob = self.kcl_model.probabilities(latent, self.domain[persons], bmi)
        return self.kcl_model.answers(prob, uni, miss), latent, bmi, uni, miss

    def _store_kcl(self, persons: np.ndarray, days: np.ndarray, items: np.ndarray) -> None:
        self.kcl_rows.add(person=persons, day=days, items=items)
        totals = np.where(items < 0, 0, items).sum(axis=1)
        self.latest_kcl[persons] = totals

    def _kcl_survey(self, t: int, present: np.ndarray) -> None:
        age = self._age(t, present)
        elig = present[(self.state[present] == 0) & (age >= 780)]
        if len(elig) == 0:
            return
        rng = self.rng["kcl"]
        z = self.pop.z(t, elig)
        p = expit(logit(float(self.p.value("kihon_checklist.response_probability")))
                  + float(self.p.value("kihon_checklist.response_log_odds_per_sd")) * z
                  - 0.2 * (self._age(t, elig) / 12.0 - 75.0) / 10.0)
        resp = elig[rng.random(len(elig)) < p]
        items, *_ = self._kcl(t, resp)
        self._pending_kcl = (resp, items, rng.random(len(resp)))

    def _checkup_plan(self, t: int, present: np.ndarray) -> None:
        """April: who will attend this fiscal year's checkup, and in which month."""
        self.checkup_last = self.checkup_this.copy()
        self.checkup_this[:] = False
        rng = self.rng["checkups"]
        z = self.pop.z(t, present)
        st = self.state[present]
        eta = (self.checkup_trait[present] - 0.4 * z - 1.0 * (st >= 3) - 0.5 * ((st >= 1) & (st <= 2))
               + 1.2 * self.checkup_last[present])
        target = float(self.p.value("checkups.attendance"))
        lo, hi = -10.0, 10.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if expit(mid + eta).mean() > target:
                hi = mid
            else:
                lo = mid
        attend = rng.random(len(present)) < expit(0.5 * (lo + hi) + eta)
        month = t + rng.integers(2, 11, size=len(present))
        self.checkup_month[:] = NEVER
        self.checkup_month[present[attend]] = month[attend]

    def _outreach_survey(self, t: int, present: np.ndarray) -> None:
        age = self._age(t, present)
        elig = present[(self.state[present] == 0) & (age >= 900)]
        if len(elig) == 0:
            return
        rng = self.rng["outreach"]
        z = self.pop.z(t, elig)
        resp = rng.random(len(elig)) < expit(logit(float(self.p.value("short_term.outreach_response_probability"))) - 0.3 * z)
        # a KCL-like questionnaire (items 1-20 count towards the flag), not stored
        occ, uni, miss = self.kcl_model.draw(rng, len(elig))
        latent = self.kcl_model.latent(z, self._age(t, elig).astype(np.float64), occ)
        prob = self.kcl_model.probabilities(latent, self.domain[elig], bmi_at(self.bmi0[elig], z, t / 12.0))
        score = (uni[:, :20] < prob[:, :20]).sum(axis=1)
        risk = resp & (score >= int(self.p.value("short_term.risk_flag_cutoff")))
        vp = self.p.value("short_term.visit_probability")
        visit = np.where(risk, rng.random(len(elig)) < vp["flagged"],
                         ~resp & (rng.random(len(elig)) < vp["non_responder"]))
        shares = self.p.value("short_term.visit_result_shares")
        res_f = rng.choice(4, size=len(elig), p=np.asarray(shares["flagged"]) / np.sum(shares["flagged"]))
        res_n = rng.choice(4, size=len(elig), p=np.asarray(shares["non_responder"]) / np.sum(shares["non_responder"]))
        result = np.where(risk, res_f, res_n)
        vmonth = t + rng.integers(1, 3, size=len(elig))
        rows = self.n_contacts + np.arange(len(elig))
        self.n_contacts += len(elig)
        self.contacts["person"].append(elig)
        self.contacts["survey_u"].append(rng.random(len(elig)))
        self.contacts["responded"].append(resp)
        self.contacts["risk"].append(np.where(resp, risk.astype(np.int8), -1))
        self.contacts["visit_day"].append(np.full(len(elig), NO_DAY, dtype=np.int64))
        self.contacts["result"].append(np.full(len(elig), -1, dtype=np.int8))
        self._pending_survey = (elig, rows)
        for m in np.unique(vmonth[visit]):
            sel = visit & (vmonth == m)
            self.visits.setdefault(int(m), []).append((rows[sel], elig[sel], result[sel]))

    def _new_episodes(self, t: int, persons: np.ndarray, route: np.ndarray, days: np.ndarray) -> None:
        """Assessments at month ``t`` (KCL at assessment, able-to-improve, start next month)."""
        if len(persons) == 0:
            return
        rng = self.rng["short_term"]
        items, *_ = self._kcl(t, persons)
        self._store_kcl(persons, days, items)
        age = self._age(t, persons) / 12.0
        able = rng.random(len(persons)) < expit(
            logit(float(self.p.value("short_term.able_to_improve_probability"))) - 0.4 * (age - 80.0) / 10.0
        )
        dur = self.p.value("short_term.duration_months")
        planned = rng.choice(np.asarray(dur["months"]), size=len(persons), p=np.asarray(dur["weights"]) / np.sum(dur["weights"]))
        m = len(persons)
        self.ep_of[persons] = self.eps.n + np.arange(m)
        self.eps.append(
            person=persons, route=route, assess_day=days, able=able,
            start_month=np.where(able, t + 1, NEVER), start_day=np.full(m, NO_DAY), end_day=np.full(m, NO_DAY),
            planned_end=np.where(able, t + planned, NEVER), status=np.where(able, _WAITING, _NOT_ELIGIBLE),
            sessions=np.zeros(m), completed=np.zeros(m, dtype=bool), dest=np.full(m, -1),
        )

    def _short_term_month_start(self, t: int, present: np.ndarray, fy: int) -> None:
        rng = self.rng["short_term"]
        # outreach visits due this month
        for rows, persons, result in self.visits.pop(t, []):
            ok = (self.state[persons] == 0) & (self.ep_of[persons] < 0)
            u = rng.random(len(persons))
            self._pending_visits.append((rows[ok], persons[ok], result[ok], u[ok]))
        # other referral routes (community centre, care manager, self), observed KCL >= 8
        rates = self.p.value("short_term.other_route_rate")
        scale = 1.0 if fy >= 2021 else 0.2
        cand = present[(self.state[present] == 0) & (self.ep_of[present] < 0)
                       & (self.latest_kcl[present] >= 8) & (self._age(t, present) >= 780)]
        if len(cand):
            r = np.array([rates["community_centre"], rates["care_manager"], rates["self"]]) * scale
            u = rng.random(len(cand))
            hit = u < r.sum()
            route = np.searchsorted(np.cumsum(r), u[hit], side="right") + 1  # 1..3
            self._pending_referrals = (cand[hit], route, rng.random(hit.sum()))
        # starts of episodes assessed last month
        ep = self.eps
        starting = np.flatnonzero((ep.status == _WAITING) & (ep.start_month == t))
        if len(starting):
            st = self.state[ep.person[starting]]
            ok = st == 0
            ep.status[starting] = np.where(ok, _IN_SERVICE, _ENDED)
            ep.dest[starting[~ok]] = np.where(st[~ok] >= 1, _DEST["certified"],
                                              np.where(st[~ok] == _DEAD, _DEST["died"], _DEST["dropped"]))

    def _tekupo(self, t: int, present: np.ndarray, curve: tuple[np.ndarray, np.ndarray]) -> None:
        """Registrations this month, as many as the target curve asks, chosen by observed propensity."""
        age = self._age(t, present)
        p65 = present[age >= 780]
        share = float(np.interp(t, curve[0], curve[1]))
        registered = self.tek_month[p65] < NEVER
        k = int(round(share * len(p65))) - int(registered.sum())
        cand = p65[~registered]
        if k <= 0 or len(cand) == 0:
            return
        rng = self.rng["tekupo"]
        c = self.p.value("tekupo.propensity_log_odds")
        kcl = self.latest_kcl[cand]
        eta = (c["age_per_decade"] * (self._age(t, cand) / 12.0 - 75.0) / 10.0 + c["female"] * self.pop.sex[cand]
               + np.where(np.isnan(kcl), c["kcl_missing"], c["kcl_per_point"] * (np.nan_to_num(kcl) - 4.0))
               + c["certified"] * (self.state[cand] >= 1))
        keys = -np.log(rng.random(len(cand))) / np.exp(eta)
        chosen = cand[np.argsort(keys, kind="stable")[: min(k, len(cand))]]
        chosen = np.sort(chosen)
        self.tek_month[chosen] = t
        self._pending_tek = (chosen, rng.random(len(chosen)))

    def _soft_join(self, t: int, present: np.ndarray) -> None:
        s = self.sites
        open_ = np.flatnonzero((s.start_month <= t) & (s.end_month >= t))
        if len(open_) == 0:
            return
        n_open = np.bincount(s.district[open_], minlength=12)
        age = self._age(t, present)
        p65 = present[age >= 780]
        pop65 = np.bincount(self.pop.district[p65], minlength=12).astype(np.float64)
        d = self.pop.district[p65]
        elig = p65[(self.state[p65] == 0) & (self.soft_month[p65] == NEVER) & (n_open[d] > 0)]
        if len(elig) == 0:
            return
        rng = self.rng["soft"]
        c = self.p.value("soft.propensity_log_odds")
        de = self.pop.district[elig]
        kcl = self.latest_kcl[elig]
        eta = (np.where(np.isnan(kcl), c["kcl_missing"], c["kcl_per_point"] * (np.nan_to_num(kcl) - 4.0))
               + c["age_per_decade"] * (self._age(t, elig) / 12.0 - 75.0) / 10.0
               + c["female"] * self.pop.sex[elig]
               + c["tekupo"] * (self.tek_month[elig] < t)
               + c["checkup_last_fy"] * self.checkup_last[elig])
        rate = float(self.p.value("soft.join_rate")) * n_open[de] / np.maximum(pop65[de] / 1000.0, 1e-9) * np.exp(eta)
        join = elig[rng.random(len(elig)) < -np.expm1(-rate)]
        if len(join) == 0:
            return
        # a random open site of the district
        dj = self.pop.district[join]
        pick = np.floor(rng.random(len(join)) * n_open[dj]).astype(np.int64)
        site = np.empty(len(join), dtype=np.int32)
        for dist in np.unique(dj):
            sel = dj == dist
            site[sel] = open_[s.district[open_] == dist][pick[sel]]
        self.soft_month[join] = t
        self.soft_site[join] = site
        self.soft_first_u[join] = rng.random(len(join))
        self._add_subjects(join, 0, t)

    def _add_subjects(self, persons: np.ndarray, prog: int, t: int) -> None:
        m = len(persons)
        if m == 0:
            return
        self.subj["person"] = np.concatenate([self.subj["person"], persons.astype(np.int64)])
        self.subj["prog"] = np.concatenate([self.subj["prog"], np.full(m, prog, dtype=np.int8)])
        self.subj["index"] = np.concatenate([self.subj["index"], np.full(m, t, dtype=np.int32)])
        self.arm_rc = np.vstack([self.arm_rc, np.repeat(self.rc[persons, None], 2, axis=1)])
        self.arm_rd = np.vstack([self.arm_rd, np.repeat(self.rd[persons, None], 2, axis=1)])
        self.arm_done = np.vstack([self.arm_done, np.zeros((m, 2), dtype=bool)])
        self.arm_cert = np.vstack([self.arm_cert, np.zeros((m, 2), dtype=bool)])
        self.arm_month = np.vstack([self.arm_month, np.full((m, 2), NEVER, dtype=np.int32)])
        self.arm_dmonth = np.vstack([self.arm_dmonth, np.full((m, 2), NEVER, dtype=np.int32)])
        self.arm_s = np.vstack([self.arm_s, np.ones((m, 2))])
        self.arm_f = np.vstack([self.arm_f, np.zeros((m, 2))])

    # ------------------------------------------------------------------ hazards and arms
    def _hazards(self, t: int, idx=slice(None)):
        pop = self.pop
        age = t - pop.birth[idx]
        ai = CohortModel.age_index(age)
        z = pop.u[idx] + pop.r[idx] * (age - 780.0) / 120.0
        sex = pop.sex[idx]
        hbase = self.cohort.cert_hazard[sex, ai] * np.exp(self.gamma * z) * self.dist_mult[pop.district[idx]]
        f_tek = np.where(self.tek_month[idx] <= t, self.eff.tekupo_hr_certification, 1.0)
        f_short = np.where(self.short_idx[idx] <= t, self.eff.short_term_hr_certification, 1.0)
        f_soft = np.where(self.soft_month[idx] <= t, self.eff.soft_hr_certification, 1.0)
        mu = self.cohort.death_base[sex, ai] * np.exp(self.delta * z)
        return hbase, f_tek, f_short, f_soft, mu

    def _step_arms(self, t: int, hbase, f_tek, f_short, f_soft, mu, persons_index=None) -> None:
        """Advance both arms of every subject whose followed window contains ``t``.

        Realised outcomes use the shared thresholds (common random numbers) and are followed
        ``FOLLOW_UP + EVENT_EXTENSION`` months from the index month (event months only); the
        36-month flags (``arm_cert``) and the expected cumulative incidence (death competing) are
        accumulated within the first ``FOLLOW_UP`` months only. The extension draws no random numbers,
        so every table and estimand is the same as without it.
        """
        if len(self.subj["person"]) == 0:
            return
        idx = self.subj["index"]
        live = np.flatnonzero((idx <= t) & (t < idx + (FOLLOW_UP + EVENT_EXTENSION)))
        if len(live) == 0:
            return
        persons = self.subj["person"][live]
        pos = persons if persons_index is None else persons_index(persons)
        prog = self.subj["prog"][live]
        inside = t < idx[live] + FOLLOW_UP  # within the 36 months of the estimands
        hd = mu[pos] * self.level_hr[0]
        for arm in (0, 1):
            soft_arm = np.where(prog == 0, self.eff.soft_hr_certification if arm else 1.0, f_soft[pos])
            short_arm = np.where(prog == 1, self.eff.short_term_hr_certification if arm else 1.0, f_short[pos])
            hc = ((hbase[pos] * f_tek[pos]) * short_arm) * soft_arm
            w = live[inside]
            s = self.arm_s[w, arm]
            tot = hc[inside] + hd[inside]
            self.arm_f[w, arm] += s * hc[inside] / tot * -np.expm1(-tot)
            self.arm_s[w, arm] = s * np.exp(-tot)
            m = ~self.arm_done[live, arm]
            sel = live[m]
            cert, died, _, _, rc, rd = step_thresholds(self.arm_rc[sel, arm], self.arm_rd[sel, arm], hc[m], hd[m])
            self.arm_rc[sel, arm] = rc
            self.arm_rd[sel, arm] = rd
            self.arm_done[sel[cert | died], arm] = True
            self.arm_cert[sel[cert & inside[m]], arm] = True
            self.arm_month[sel[cert], arm] = t
            self.arm_dmonth[sel[died], arm] = t  # death before (or in the month of) certification

    # ------------------------------------------------------------------ the month
    def run(self) -> SimulationResult:
        pop = self.pop
        order = np.argsort(pop.entry, kind="stable")
        bounds = np.searchsorted(pop.entry[order], np.arange(N_MONTHS + 1))
        survey_months = {month_index(m) for m in self.p.value("kihon_checklist.survey_months")}
        outreach_months = {(fy - 2019) * 12 + 3 for fy in self.p.value("short_term.outreach_fiscal_years")}
        launch = month_index(str(self.p.value("tekupo.launch_month")))
        curve_p = self.p.value("tekupo.cumulative_share_65plus")
        curve = (np.array([month_index(m) for m in curve_p["months"]], dtype=np.float64),
                 np.asarray(curve_p["share"], dtype=np.float64))
        rng_ev = self.rng["certification"]
        rng_tr = self.rng["transitions"]
        rng_rec = self.rng["records"]
        for t in range(N_MONTHS):
            ms = int(month_start_day(t))
            dim = int(month_length(t))
            fy = 2019 + t // 12
            self._pending_kcl = None
            self._pending_visits = []
            self._pending_referrals = None
            self._pending_tek = None
            self._pending_survey = None
            # 1. entries and moving out
            enter = order[bounds[t]:bounds[t + 1]]
            self.state[enter] = pop.init_state[enter]
            self._prehistory(t, enter[self.state[enter] >= 1])
            leaving = np.flatnonzero((self.state >= 0) & (pop.out_month == t))
            if len(leaving):
                od = ms + np.floor(self.rng["migration"].random(len(leaving)) * dim).astype(np.int64)
                self.out_day[leaving] = od
                has = self.cur_rec[leaving] >= 0
                self.book.truncate(self.cur_rec[leaving[has]], od[has])
                self.state[leaving] = _GONE
                active_soft = leaving[(self.soft_month[leaving] < NEVER) & (self.soft_exit[leaving] == NEVER)]
                self.soft_exit[active_soft] = t
                ep = self.eps
                gone = np.flatnonzero((ep.status == _IN_SERVICE) & (self.state[ep.person] == _GONE))
                self._end_episodes(gone, self.out_day[ep.person[gone]], _DEST["dropped"], t)
            # 2. renewals
            self._renewals(t)
            # 3. state at the start of the month; programme decisions
            self.hist[:, t] = np.where(self.state >= 0, self.state, _ABSENT)
            present = np.flatnonzero(self.state >= 0)
            if t % 12 == 0:
                self._checkup_plan(t, present)
            due = present[self.checkup_month[present] == t]
            self.checkup_this[due] = True
            checkup_u = self.rng["checkups"].random(len(due))
            if t in survey_months:
                self._kcl_survey(t, present)
            if t in outreach_months:
                self._outreach_survey(t, present)
            self._short_term_month_start(t, present, fy)
            if t >= launch:
                self._tekupo(t, present, curve)
            self._soft_join(t, present)
            if self.pending_subject:
                ps = np.array(sorted(self.pending_subject), dtype=np.int64)
                self.pending_subject = []
                self.short_idx[ps] = t
                self._add_subjects(ps, 1, t)
            # 4. hazards (every person, so that the arms can follow anyone)
            hbase, f_tek, f_short, f_soft, mu = self._hazards(t)
            hc_all = ((hbase * f_tek) * f_short) * f_soft
            self._step_arms(t, hbase, f_tek, f_short, f_soft, mu)
            # 5. events among persons present at the start of the month
            nonc = present[self.state[present] == 0]
            cert, died_n, tc, td_n, rc_left, rd_left = step_thresholds(
                self.rc[nonc], self.rd[nonc], hc_all[nonc], mu[nonc] * self.level_hr[0])
            self.rc[nonc] = rc_left
            self.rd[nonc] = rd_left
            cer = present[self.state[present] >= 1]
            hd_c = mu[cer] * self.level_hr[self.state[cer]]
            rd_c = self.rd[cer]
            died_c = rd_c <= hd_c
            td_c = np.where(died_c, rd_c / np.where(died_c, hd_c, 1.0), 2.0)
            self.rd[cer] = rd_c - hd_c
            # rejected (非該当) first applications
            cand = nonc[~cert]
            rej = cand[rng_ev.random(len(cand)) < -np.expm1(-self.reject_ratio * hc_all[cand])]
            rej_u = rng_ev.random(len(rej))
            # deaths
            dead = np.concatenate([nonc[died_n], cer[died_c]])
            dfrac = np.concatenate([td_n[died_n], td_c[died_c]])
            self.death_day[dead] = ms + np.floor(dfrac * dim).astype(np.int64)
            self.death_month[dead] = t
            # new certifications
            newc = nonc[cert]
            if len(newc):
                lvl = np.searchsorted(self.entry_cdf, rng_ev.random(len(newc)), side="right") + 1
                lvl = np.minimum(lvl, 7)
                app = ms + np.floor(tc[cert] * dim).astype(np.int64)
                k = rng_rec.integers(int(self.first_valid[0]), int(self.first_valid[1]) + 1, size=len(newc))
                vto = self._end_of_month(t + k)
                ids = self.book.add(newc, app, app + self._lag(rng_rec, len(newc)), lvl, app, vto)
                self.last_cert_day[newc] = app
                self.cur_rec[newc] = ids
                self.cur_vto[newc] = vto
            if len(rej):
                app = self._days(t, rej, rej_u)
                self.book.add(rej, app, app + self._lag(rng_rec, len(rej)), np.zeros(len(rej)),
                              np.full(len(rej), NO_DAY), np.full(len(rej), NO_DAY))
            # level transitions among certified survivors (区分変更 applications)
            surv = cer[~died_c]
            if len(surv):
                old = self.state[surv].astype(np.int64)
                u = rng_tr.random(len(surv))
                new = (u[:, None] > self.trans_cdf[old - 1]).sum(axis=1) + 1
                new = np.minimum(new, 7)
                ch = new != old
                chp = surv[ch]
                if len(chp):
                    app = ms + rng_rec.integers(1, dim, size=len(chp))
                    self.book.truncate(self.cur_rec[chp], app - 1)
                    k = rng_rec.integers(int(self.first_valid[0]), int(self.first_valid[1]) + 1, size=len(chp))
                    vto = self._end_of_month(t + k)
                    ids = self.book.add(chp, app, app + self._lag(rng_rec, len(chp)), new[ch], app, vto)
                    self.cur_rec[chp] = ids
                    self.cur_vto[chp] = vto
                    self.state[chp] = new[ch]
            # apply certifications and deaths
            if len(newc):
                self.state[newc] = lvl
            if len(dead):
                has = self.cur_rec[dead] >= 0
                self.book.truncate(self.cur_rec[dead[has]], self.death_day[dead[has]])
                self.state[dead] = _DEAD
            # 6. dated rows of this month (not after a death in the month)
            self._finish_month_rows(t, due, checkup_u, newc, dead)
        return self._finish()

    def _end_episodes(self, e: np.ndarray, days: np.ndarray, dest, t: int) -> None:
        if len(e) == 0:
            return
        ep = self.eps
        ep.status[e] = _ENDED
        ep.end_day[e] = days
        ep.dest[e] = dest
        months = np.maximum(t - ep.start_month[e] + 1, 1)
        per = float(self.p.value("short_term.sessions_per_month"))
        ep.sessions[e] = np.clip(np.round(months * per * 0.9 * 0.8), 1, 60)

    def _finish_month_rows(self, t: int, checkup_due: np.ndarray, checkup_u: np.ndarray,
                           newc: np.ndarray, dead: np.ndarray) -> None:
        rng_st = self.rng["short_term"]
        if len(checkup_due):
            self.checkup_rows.add(person=checkup_due, day=self._days(t, checkup_due, checkup_u),
                                  month=np.full(len(checkup_due), t))
        if self._pending_kcl is not None:
            resp, items, u = self._pending_kcl
            self._store_kcl(resp, self._days(t, resp, u), items)
        if self._pending_survey is not None:
            elig, rows = self._pending_survey
            self.contacts["survey_day"].append(self._days(t, elig, self.contacts["survey_u"][-1]))
        # visits and referrals -> assessments this month
        assess_p, assess_route, assess_day = [], [], []
        for rows, persons, result, u in self._pending_visits:
            days = self._days(t, persons, u)
            self._set_visit(rows, days, result)
            ok = result == 0  # assessed
            assess_p.append(persons[ok])
            assess_route.append(np.zeros(ok.sum(), dtype=np.int64))
            assess_day.append(days[ok])
        if self._pending_referrals is not None:
            persons, route, u = self._pending_referrals
            fresh = self.ep_of[persons] < 0
            assess_p.append(persons[fresh])
            assess_route.append(route[fresh])
            assess_day.append(self._days(t, persons[fresh], u[fresh]))
        if assess_p:
            persons = np.concatenate(assess_p)
            route = np.concatenate(assess_route)
            days = np.concatenate(assess_day)
            persons, first = np.unique(persons, return_index=True)
            self._new_episodes(t, persons, route[first], days[first])
        # episodes in service: starts, events, dropout, completion
        ep = self.eps
        live = np.flatnonzero(ep.status == _IN_SERVICE)
        if len(live):
            persons = ep.person[live]
            new = ep.start_day[live] == NO_DAY
            if new.any():
                ep.start_day[live[new]] = self._days(t, persons[new], rng_st.random(int(new.sum())))
            start = ep.start_day[live]
            certified = np.zeros(self.n, dtype=bool)
            certified[newc] = True
            cert = certified[persons]
            died = ~cert & (self.state[persons] == _DEAD)
            drop = ~cert & ~died & (rng_st.random(len(live)) < float(self.p.value("short_term.dropout_per_month")))
            done = ~cert & ~died & ~drop & (ep.planned_end[live] == t)
            day_u = rng_st.random(len(live))
            self._end_episodes(live[cert], np.maximum(self.last_cert_day[persons[cert]], start[cert]), _DEST["certified"], t)
            self._end_episodes(live[died], np.maximum(self.death_day[persons[died]], start[died]), _DEST["died"], t)
            self._end_episodes(live[drop], self._days(t, persons[drop], day_u[drop], start=start[drop]), _DEST["dropped"], t)
            if done.any():
                self._complete(live[done], persons[done], self._days(t, persons[done], day_u[done], start=start[done]), t)
        # てくポ registrations and SOFT first sessions
        if self._pending_tek is not None:
            chosen, u = self._pending_tek
            self.tek_day[chosen] = self._days(t, chosen, u)
        # SOFT: exits this month (certification, death, dropout, site closure)
        active = np.flatnonzero((self.soft_month <= t) & (self.soft_exit == NEVER))
        if len(active):
            rng_s = self.rng["soft"]
            drop = rng_s.random(len(active)) < float(self.p.value("soft.dropout_per_month"))
            closing = self.sites.end_month[self.soft_site[active]] == t
            st = self.state[active]
            ex = np.where(st == _DEAD, np.where(self.soft_month[active] == t, t + 1, t),
                          np.where((st >= 1) | drop | closing, t + 1, NEVER))
            self.soft_exit[active] = ex

    def _set_visit(self, rows: np.ndarray, days: np.ndarray, result: np.ndarray) -> None:
        self._visit_updates.append((rows, days, result))

    def _complete(self, e: np.ndarray, persons: np.ndarray, days: np.ndarray, t: int) -> None:
        """Completions: destination, sessions, end-of-service KCL in both arms (same item draws)."""
        rng = self.rng["short_term"]
        shares = self.p.value("short_term.completer_destination_shares")
        names = list(shares)
        w = np.asarray([shares[k] for k in names], dtype=np.float64)
        dest = np.array([_DEST[k] for k in names])[rng.choice(len(names), size=len(e), p=w / w.sum())]
        self._end_episodes(e, days, dest, t)
        ep = self.eps
        ep.completed[e] = True
        planned = (t - ep.start_month[e] + 1) * float(self.p.value("short_term.sessions_per_month"))
        ep.sessions[e] = np.clip(np.round(planned * 0.9 + rng.normal(0, 1.0, len(e))), 1, 60)
        occ, uni, miss = self.kcl_model.draw(self.rng["kcl"], len(persons))
        z = self.pop.z(t, persons)
        latent = self.kcl_model.latent(z, self._age(t, persons).astype(np.float64), occ)
        bmi = bmi_at(self.bmi0[persons], z, t / 12.0)
        dom = self.domain[persons]
        shift = self.kcl_model.shift_for_change(latent, dom, bmi, self.eff.short_term_kcl_change)
        prob0 = self.kcl_model.probabilities(latent, dom, bmi)
        prob1 = self.kcl_model.probabilities(latent + shift, dom, bmi)
        a0 = self.kcl_model.answers(prob0, uni, miss)
        a1 = self.kcl_model.answers(prob1, uni, miss)
        self._store_kcl(persons, days, a1)
        self.kcl_truth["person"].append(persons)
        self.kcl_truth["treated"].append(np.where(a1 < 0, 0, a1).sum(axis=1))
        self.kcl_truth["untreated"].append(np.where(a0 < 0, 0, a0).sum(axis=1))
        self.kcl_truth["expected"].append(prob1.sum(axis=1) - prob0.sum(axis=1))
        self.kcl_shift[persons] = shift
        self.kcl_shift_month[persons] = t
        self.pending_subject.extend(persons.tolist())

    # ------------------------------------------------------------------ after the loop
    def _finish(self) -> SimulationResult:
        # arms beyond March 2026 (persons are followed by formula; programme factors frozen)
        if self.pending_subject:
            ps = np.array(sorted(self.pending_subject), dtype=np.int64)
            self.pending_subject = []
            self.short_idx[ps] = N_MONTHS
            self._add_subjects(ps, 1, N_MONTHS)
        persons = np.unique(self.subj["person"])
        for t in range(N_MONTHS, N_MONTHS + FOLLOW_UP + EVENT_EXTENSION):
            hz = self._hazards(t, persons)
            self._step_arms(t, *hz, persons_index=lambda p: np.searchsorted(persons, p))
        # clamp decision dates at death or moving out
        rec = self.book.finish()
        if len(rec["person"]):
            limit = np.minimum(self.death_day[rec["person"]], self.out_day[rec["person"]])
            rec["dec"] = np.maximum(np.minimum(rec["dec"], limit), rec["app"])
        # outreach contacts
        c = {}
        if self.contacts["person"]:
            for k in ("person", "responded", "risk", "visit_day", "result", "survey_day"):
                c[k] = np.concatenate(self.contacts[k])
            for rows, days, result in self._visit_updates:
                c["visit_day"][rows] = days
                c["result"][rows] = result
        ep = self.eps
        still = ep.status == _IN_SERVICE  # still in service at the end of March 2026
        per_month = float(self.p.value("short_term.sessions_per_month"))
        ep.sessions[still] = np.clip(np.round((N_MONTHS - ep.start_month[still]) * per_month * 0.9), 0, 60)
        eps = ep.as_dict()
        soft = {"person": np.flatnonzero(self.soft_month < NEVER)}
        soft.update(site=self.soft_site[soft["person"]], month=self.soft_month[soft["person"]],
                    exit=np.minimum(self.soft_exit[soft["person"]], N_MONTHS),
                    first_u=self.soft_first_u[soft["person"]])
        tek = {"person": np.flatnonzero(self.tek_month < NEVER)}
        tek.update(month=self.tek_month[tek["person"]], day=self.tek_day[tek["person"]])
        subjects = {
            "person": self.subj["person"], "prog": self.subj["prog"], "index": self.subj["index"],
            "cert_treated": self.arm_cert[:, 1], "cert_untreated": self.arm_cert[:, 0],
            "month_treated": self.arm_month[:, 1], "month_untreated": self.arm_month[:, 0],
            "death_treated": self.arm_dmonth[:, 1], "death_untreated": self.arm_dmonth[:, 0],
            "risk_treated": self.arm_f[:, 1], "risk_untreated": self.arm_f[:, 0],
        }
        kt = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.kcl_truth.items()}
        subjects["kcl_person"] = kt["person"].astype(np.int64)
        subjects["kcl_treated"] = kt["treated"]
        subjects["kcl_untreated"] = kt["untreated"]
        subjects["kcl_expected"] = kt["expected"]
        return SimulationResult(
            pop=self.pop, hist=self.hist, death_day=self.death_day, death_month=self.death_month,
            out_day=self.out_day, records=rec, kcl=self.kcl_rows.finish(), checkups=self.checkup_rows.finish(),
            soft=soft, tekupo=tek, outreach=c, episodes=eps, subjects=subjects,
            person_traits={"bmi0": self.bmi0},
        )


def simulate(params: SyntheticParameters, cohort: CohortModel, pop: Population, effects: TrueEffects,
             sites: Sites, rngs: dict[str, np.random.Generator]) -> SimulationResult:
    """Run the monthly engine (see the module docstring)."""
    return _Engine(params, cohort, pop, effects, sites, rngs).run()
