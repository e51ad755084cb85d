"""``make_municipality``: the seeded synthetic municipality, the package's embedded default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from ._calendar import NO_DAY, days_to_datetime, month_start_day, months_to_datetime
from .claims import (CLAIM_TYPES, SERVICE_TYPES, expected_ltc_cost, expected_medical_cost, ltc_claim_rows,
                     medical_claim_rows)
from .cohort import CohortModel, fit_cohort_model
from .measures import bmi_at, checkup_values
from .parameters import SyntheticParameters, load_parameters
from .population import N_MONTHS, NEVER, make_population
from .programmes import make_sites, soft_attendance_rows, tekupo_activity_rows
from .simulate import DESTINATIONS, EVENT_EXTENSION, FOLLOW_UP, SimulationResult, simulate
from .truth import GroundTruth, ReadOnlyMapping, TrueEffects

__all__ = ["MUNICIPALITY_SIZES", "Municipality", "MunicipalitySize", "TABLE_NAMES", "make_municipality"]

MunicipalitySize = Literal["tiny", "small", "city"]
#: Residents aged 65+ at the start (April 2019) for each named size.
MUNICIPALITY_SIZES: dict[str, int] = {"tiny": 2_000, "small": 20_000, "city": 150_000}
#: The 12 tables of the contract, in contract order.
TABLE_NAMES: tuple[str, ...] = (
    "residents", "kihon_checklist", "health_checkups", "ltc_certifications", "ltc_claims",
    "medical_claims", "soft_sites", "soft_attendance", "short_term_episodes", "outreach_contacts",
    "tekupo_users", "tekupo_activity",
)
_PERIOD = ("2019-04", "2026-03")
_MIN_SIZE, _MAX_SIZE = 500, 2_000_000
#: Random streams, one per component; new components are appended so the others do not shift.
_STREAMS = (
    "population", "sites", "thresholds", "traits", "records", "certification", "transitions",
    "migration", "kcl", "checkups", "outreach", "short_term", "tekupo", "soft", "soft_attendance",
    "tekupo_activity", "ltc_claims", "medical_claims", "checkup_values",
)
_LEVELS = ("非該当", "要支援1", "要支援2", "要介護1", "要介護2", "要介護3", "要介護4", "要介護5")
_ROUTES = ("outreach", "community_centre", "care_manager", "self")
_VISIT_RESULTS = ("assessed", "declined", "not_home", "not_needed")
_DISTRICTS = tuple(f"D{i:02d}" for i in range(1, 13))


@dataclass(frozen=True)
class Municipality:
    """A generated municipality: its 12 tables and the ground truth behind them.

    Unpacks as ``tables, truth = make_municipality(...)``.

    Attributes
    ----------
    tables : Mapping[str, pandas.DataFrame]
        The 12 tables of the data contract (read-only mapping; treat the frames as read-only).
    truth : GroundTruth
        True effects and the exact estimands they imply.
    size : str or int
        The size requested.
    seed : int
        The seed.
    synthetic : bool
        Always True: these data describe no real person.
    """

    tables: Mapping[str, pd.DataFrame]
    truth: GroundTruth
    size: str | int
    seed: int
    synthetic: bool = True

    def __iter__(self) -> Iterator[object]:
        yield self.tables
        yield self.truth

    def summary(self) -> str:
        """Row counts of the tables and the main estimands, as text."""
        lines = [f"Synthetic municipality (size={self.size!r}, seed={self.seed}); rows per table:"]
        lines += [f"  {name:<22} {len(df):>12,}" for name, df in self.tables.items()]
        return "\n".join(lines) + "\n" + self.truth.summary()

    def _repr_html_(self) -> str:
        counts = pd.DataFrame({"table": list(self.tables), "rows": [len(d) for d in self.tables.values()]})
        return (f"<p>Synthetic municipality (size={self.size!r}, seed={self.seed})</p>"
                + counts.to_html(index=False) + self.truth._repr_html_())


def _resolve_size(size: MunicipalitySize | int) -> int:
    if isinstance(size, str):
        if size not in MUNICIPALITY_SIZES:
            raise ConfigurationError(
                f"size must be one of {get_args(MunicipalitySize)} or an integer number of residents "
                f"aged 65+ between {_MIN_SIZE} and {_MAX_SIZE}; got {size!r}."
            )
        return MUNICIPALITY_SIZES[size]
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not _MIN_SIZE <= int(size) <= _MAX_SIZE:
        raise ConfigurationError(
            f"size must be one of {get_args(MunicipalitySize)} or an integer between {_MIN_SIZE} and "
            f"{_MAX_SIZE}; got {size!r}."
        )
    return int(size)


def make_municipality(
    size: MunicipalitySize | int = "small",
    *,
    seed: int = 0,
    effects: TrueEffects | None = None,
    start: str = "2019-04",
    end: str = "2026-03",
    parameters: SyntheticParameters | None = None,
) -> Municipality:
    """Generate the seeded synthetic municipality.

    A monthly microsimulation of every resident aged 65+ of a Hachioji-like city from April 2019 to
    March 2026 (FY2019–FY2025), calibrated to ``reference/DOMAIN.md``: age and sex, certification
    rates, care-level transitions, deaths, LTC and medical costs, Kihon Checklist answers, checkups,
    and the three programmes (SOFT, the short-term intensive service, てくポ) with confounded
    participation and known true effects (see :mod:`wellness_research.synthetic.simulate`).

    Parameters
    ----------
    size : {"tiny", "small", "city"} or int, default "small"
        Residents aged 65+ at the start: tiny 2,000, small 20,000, city 150,000, or that many.
        Residents who turn 65 or move in during the period are added.
    seed : int, default 0
        Seed; the same seed gives identical tables on any machine.
    effects : TrueEffects, optional
        True programme effects (default ``TrueEffects()``).
    start, end : str, default "2019-04", "2026-03"
        The period. This version generates FY2019–FY2025 only (its survey calendar and programme
        roll-out are tied to those years); other values are refused.
    parameters : SyntheticParameters, optional
        Model parameters (default :func:`load_parameters`), e.g. ``load_parameters().replace(...)``.

    Returns
    -------
    Municipality
        ``tables`` (the 12 contract tables) and ``truth`` (:class:`GroundTruth`).

    Raises
    ------
    ConfigurationError
        For an unknown size, a seed that is not a non-negative integer, a period other than
        2019-04 – 2026-03, or invalid parameters.

    Examples
    --------
    >>> tables, truth = make_municipality("tiny", seed=1)
    >>> sorted(tables)[:3]
    ['health_checkups', 'kihon_checklist', 'ltc_certifications']
    >>> truth.effects.soft_hr_certification
    0.7
    """
    n_start = _resolve_size(size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ConfigurationError(f"seed must be a non-negative integer; got {seed!r}.")
    if (start, end) != _PERIOD:
        raise ConfigurationError(
            f"start and end must be {_PERIOD[0]!r} and {_PERIOD[1]!r} (FY2019–FY2025) in this version; "
            f"got start={start!r}, end={end!r}."
        )
    if effects is None:
        effects = TrueEffects()
    elif not isinstance(effects, TrueEffects):
        raise ConfigurationError(f"effects must be a TrueEffects instance; got {type(effects).__name__}.")
    params = load_parameters() if parameters is None else parameters
    if not isinstance(params, SyntheticParameters):
        raise ConfigurationError(f"parameters must be SyntheticParameters; got {type(params).__name__}.")

    children = np.random.SeedSequence(int(seed)).spawn(len(_STREAMS))
    rngs = {name: np.random.default_rng(child) for name, child in zip(_STREAMS, children, strict=True)}
    cohort = fit_cohort_model(params)
    pop = make_population(params, cohort, n_start, rngs["population"])
    sites = make_sites(params, n_start, rngs["sites"])
    sim = simulate(params, cohort, pop, effects, sites, rngs)
    tables, truth = _assemble(params, sim, sites, effects, rngs, cohort)
    return Municipality(tables=ReadOnlyMapping(tables), truth=truth, size=size, seed=int(seed))


# ---------------------------------------------------------------------------- assembly
def _cat(codes: np.ndarray, categories: tuple[str, ...] | np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=pd.Index(list(categories)))


def _assemble(params: SyntheticParameters, sim: SimulationResult, sites, effects: TrueEffects,
              rngs: dict[str, np.random.Generator], cohort: CohortModel) -> tuple[dict[str, pd.DataFrame], GroundTruth]:
    pop = sim.pop
    n = pop.n
    ids = np.array([f"P{i:07d}" for i in range(1, n + 1)], dtype=object)
    person_dtype = pd.CategoricalDtype(categories=pd.Index(ids))

    def person(idx: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(pop.code[np.asarray(idx, dtype=np.int64)].astype(np.int64), dtype=person_dtype)

    tables: dict[str, pd.DataFrame] = {}
    # residents
    order = np.argsort(pop.code, kind="stable")
    tables["residents"] = pd.DataFrame({
        "person_id": person(order),
        "birth_month": months_to_datetime(pop.birth[order]),
        "sex": _cat(pop.sex[order], ("M", "F")),
        "district": _cat(pop.district[order], _DISTRICTS),
        "move_in_date": days_to_datetime(pop.move_in_day[order]),
        "move_out_date": days_to_datetime(sim.out_day[order]),
        "death_date": days_to_datetime(sim.death_day[order]),
    })

    # kihon_checklist
    k = sim.kcl
    key = np.lexsort((k["day"], pop.code[k["person"]]))
    kp, kd, items = k["person"][key], k["day"][key], k["items"][key]
    dup = np.zeros(len(kp), dtype=bool)
    dup[1:] = (kp[1:] == kp[:-1]) & (kd[1:] == kd[:-1])
    kp, kd, items = kp[~dup], kd[~dup], items[~dup]
    kcl = {"person_id": person(kp), "survey_date": days_to_datetime(kd)}
    for j in range(25):
        col = items[:, j].astype(np.int64)
        kcl[f"q{j + 1:02d}"] = pd.arrays.IntegerArray(np.where(col < 0, 0, col), col < 0)
    tables["kihon_checklist"] = pd.DataFrame(kcl)

    # health_checkups
    c = sim.checkups
    key = np.lexsort((c["day"], pop.code[c["person"]]))
    cp, cd, cm = c["person"][key], c["day"][key], c["month"][key]
    alive = cd <= sim.death_day[cp]
    cp, cd, cm = cp[alive], cd[alive], cm[alive]
    rv = rngs["checkup_values"]
    height0 = np.where(pop.sex == 0, rv.normal(164.0, 5.8, n), rv.normal(151.0, 5.5, n))
    person_bp = rv.normal(0.0, 12.0, n)
    person_a1c = np.where(rv.random(n) < 0.15, rv.normal(1.2, 0.6, n), rv.normal(0.0, 0.25, n))
    person_ldl = rv.normal(0.0, 28.0, n)
    person_egfr = rv.normal(0.0, 12.0, n)
    z = pop.u[cp] + pop.r[cp] * ((cm - pop.birth[cp]) - 780.0) / 120.0
    vals = checkup_values(
        rv, sex=pop.sex[cp], age_years=(cm - pop.birth[cp]) / 12.0, z=z,
        bmi=bmi_at(sim.person_traits["bmi0"][cp], z, cm / 12.0), height0=height0[cp],
        person_bp=person_bp[cp], person_a1c=person_a1c[cp], person_ldl=person_ldl[cp],
        person_egfr=person_egfr[cp], missing=params.value("checkups.item_missing_probability"),
    )
    hc = {"person_id": person(cp), "checkup_date": days_to_datetime(cd)}
    for name in ("height_cm", "weight_kg", "bmi", "sbp", "dbp", "hba1c", "ldl_c", "egfr"):
        v = vals[name]
        if name in ("sbp", "dbp", "ldl_c"):
            hc[name] = pd.arrays.IntegerArray(np.where(np.isnan(v), 0, v).astype(np.int64), np.isnan(v))
        else:
            hc[name] = v.astype(np.float64)
    tables["health_checkups"] = pd.DataFrame(hc)

    # ltc_certifications
    r = sim.records
    key = np.lexsort((r["app"], pop.code[r["person"]]))
    r = {kk: vv[key] for kk, vv in r.items()}
    tables["ltc_certifications"] = pd.DataFrame({
        "certification_id": np.array([f"C{i:07d}" for i in range(1, len(key) + 1)], dtype=object),
        "person_id": person(r["person"]),
        "application_date": days_to_datetime(r["app"]),
        "decision_date": days_to_datetime(r["dec"]),
        "level": _cat(r["level"], _LEVELS),
        "valid_from": days_to_datetime(r["vfrom"]),
        "valid_to": days_to_datetime(r["vto"]),
    })

    # ltc_claims
    lc = ltc_claim_rows(params, pop, sim.hist, rngs["ltc_claims"])
    ltc_draws = lc.pop("draws")
    tables["ltc_claims"] = pd.DataFrame({
        "person_id": person(lc["person"]),
        "service_month": months_to_datetime(lc["month"]),
        "service_type": _cat(lc["type"], SERVICE_TYPES),
        "units": lc["units"],
        "cost_yen": lc["cost"],
        "benefit_yen": lc["benefit"],
    })
    del lc

    # medical_claims (the largest table)
    mc = medical_claim_rows(params, pop, sim.hist, sim.death_month, rngs["medical_claims"])
    med_draws = mc.pop("draws")
    month_ns = months_to_datetime(np.arange(N_MONTHS))
    med = pd.DataFrame({
        "person_id": person(mc.pop("person")),
        "service_month": month_ns[mc.pop("month")],
        "claim_type": _cat(mc.pop("type"), CLAIM_TYPES),
        "insurer": _cat(mc.pop("insurer"), ("kokuho", "koki")),
    })
    points = mc.pop("points").astype(np.int32)  # <= 10,000,000 points, so cost_yen fits int32 too
    med["points"] = points
    med["cost_yen"] = points * np.int32(10)
    del points, mc
    tables["medical_claims"] = med

    # soft_sites
    site_ids = np.array([f"S{i:03d}" for i in range(1, sites.n + 1)], dtype=object)
    end_day = np.where(sites.end_month < NEVER, month_start_day(np.minimum(sites.end_month, 10 * N_MONTHS) + 1) - 1, NO_DAY)
    tables["soft_sites"] = pd.DataFrame({
        "site_id": site_ids,
        "district": _cat(sites.district, _DISTRICTS),
        "start_date": days_to_datetime(month_start_day(sites.start_month)),
        "end_date": days_to_datetime(end_day),
    })

    # soft_attendance
    att = soft_attendance_rows(params, sim.soft, sim.death_day, rngs["soft_attendance"])
    key = np.lexsort((att["live"] == 0, att["day"], att["site"], pop.code[att["person"]]))
    tables["soft_attendance"] = pd.DataFrame({
        "person_id": person(att["person"][key]),
        "site_id": _cat(att["site"][key], tuple(site_ids)),
        "session_date": days_to_datetime(att["day"][key]),
        "mode": _cat(np.where(att["live"][key], 0, 1), ("live", "recorded")),
    })

    # short_term_episodes
    e = sim.episodes
    ne = len(e["person"])
    eorder = np.lexsort((e["assess_day"], pop.code[e["person"]]))
    tables["short_term_episodes"] = pd.DataFrame({
        "episode_id": np.array([f"E{i:06d}" for i in range(1, ne + 1)], dtype=object),
        "person_id": person(e["person"][eorder]),
        "referral_route": _cat(e["route"][eorder], _ROUTES),
        "assessment_date": days_to_datetime(e["assess_day"][eorder]),
        "able_to_improve": e["able"][eorder],
        "start_date": days_to_datetime(e["start_day"][eorder]),
        "end_date": days_to_datetime(e["end_day"][eorder]),
        "sessions_attended": e["sessions"][eorder].astype(np.int64),
        "completed": e["completed"][eorder],
        "destination": _cat(e["dest"][eorder], DESTINATIONS),
    })

    # outreach_contacts
    o = sim.outreach
    if o:
        okey = np.lexsort((o["survey_day"], pop.code[o["person"]]))
        risk = pd.array(o["risk"][okey] == 1, dtype="boolean")
        risk[o["risk"][okey] < 0] = pd.NA
        tables["outreach_contacts"] = pd.DataFrame({
            "contact_id": np.array([f"O{i:07d}" for i in range(1, len(okey) + 1)], dtype=object),
            "person_id": person(o["person"][okey]),
            "survey_date": days_to_datetime(o["survey_day"][okey]),
            "responded": o["responded"][okey].astype(bool),
            "risk_flag": risk,
            "visit_date": days_to_datetime(o["visit_day"][okey]),
            "visit_result": _cat(o["result"][okey], _VISIT_RESULTS),
        })
    else:
        tables["outreach_contacts"] = pd.DataFrame({
            "contact_id": np.array([], dtype=object), "person_id": person(np.zeros(0, dtype=np.int64)),
            "survey_date": days_to_datetime(np.zeros(0, dtype=np.int64)), "responded": np.zeros(0, dtype=bool),
            "risk_flag": pd.array([], dtype="boolean"), "visit_date": days_to_datetime(np.zeros(0, dtype=np.int64)),
            "visit_result": _cat(np.zeros(0, dtype=np.int64), _VISIT_RESULTS),
        })

    # てくポ
    tk = sim.tekupo
    tkey = np.argsort(pop.code[tk["person"]], kind="stable")
    tables["tekupo_users"] = pd.DataFrame({
        "person_id": person(tk["person"][tkey]),
        "registration_date": days_to_datetime(tk["day"][tkey]),
    })
    act = tekupo_activity_rows(params, tk, sim.hist, sim.death_month,
                               lambda m, p: pop.u[p] + pop.r[p] * ((m - pop.birth[p]) - 780.0) / 120.0,
                               rngs["tekupo_activity"])
    akey = np.lexsort((act["month"], pop.code[act["person"]]))
    tables["tekupo_activity"] = pd.DataFrame({
        "person_id": person(act["person"][akey]),
        "month": months_to_datetime(act["month"][akey]),
        "steps": act["steps"][akey].astype(np.int64),
        "points_earned": act["earned"][akey].astype(np.int64),
        "points_redeemed": act["redeemed"][akey].astype(np.int64),
    })

    tables = {name: tables[name] for name in TABLE_NAMES}
    arms = _arm_potential_outcomes(params, cohort, sim, ltc_draws, med_draws)
    truth = _ground_truth(sim, effects, tables["soft_sites"], person, sites, arms)
    return tables, truth


def _arm_potential_outcomes(params: SyntheticParameters, cohort: CohortModel, sim: SimulationResult,
                            ltc_draws: dict[str, np.ndarray], med_draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Expected LTC + medical cost and risk of death of every subject in both arms.

    Each arm's state path follows the engine's common random numbers up to the arm's first
    certification or death (``month_*`` / ``death_*`` of the subjects): non-certified and alive until
    then. After a certification in month ``c`` the arm is certified from ``c + 1`` on, and its course
    (entry level, monthly level transitions, death hazard ``mu0 exp(delta z) level_hr[level]``) is
    followed *in expectation* as a Markov chain; decertification at renewal (at most 3 % of renewals)
    is ignored. The chain runs over the whole event follow-up (``FOLLOW_UP + EVENT_EXTENSION``
    months from the index) with the age and frailty of each month.

    *Cost.* Window: months ``index .. index + 35`` (the 36 months of the risk estimands) that are in
    the data (before April 2026) and before the month of moving out (the generator writes no claims
    in the move-out month), while alive at the start of the month (the month of death has claims).
    The cost of a month is the expectation of the claims generator given the state
    (:func:`.claims.expected_ltc_cost`, :func:`.claims.expected_medical_cost`), with the person's
    persistent claim draws and the observed month's medical band scales.

    *Death.* The arms' event months stop at the arm's first certification, so a death after it is not
    drawn; the chain gives it in expectation, over every month of the follow-up (no cap at the end of
    the data or at moving out: the potential outcome does not stop when the claims do).

    Returns per subject ``cost_treated``, ``cost_untreated`` (yen summed over the cost window),
    ``months_treated``, ``months_untreated`` (expected person-months alive in it) and
    ``death_risk_treated``, ``death_risk_untreated`` of shape ``(subjects, FOLLOW_UP +
    EVENT_EXTENSION)``: entry ``k`` is the probability of death in months ``index .. index + k``, i.e.
    ``1`` once the arm died uncertified, else the probability that the course after a certification
    in month ``c < index + k`` ended in death by the end of month ``index + k``.
    """
    s = sim.subjects
    pop = sim.pop
    persons = s["person"].astype(np.int64)
    ns = len(persons)
    horizon = FOLLOW_UP + EVENT_EXTENSION
    out = {k: np.zeros(ns) for k in ("cost_treated", "cost_untreated", "months_treated", "months_untreated")}
    out.update({f"death_risk_{k}": np.zeros((ns, horizon)) for k in ("treated", "untreated")})
    if ns == 0:
        return out
    idx = s["index"].astype(np.int64)
    end = np.minimum(np.minimum(idx + FOLLOW_UP, N_MONTHS), pop.out_month[persons].astype(np.int64))
    ltc = expected_ltc_cost(params, ltc_draws, persons)  # (ns, 7)
    entry = np.asarray(params.value("certification.entry_level_mix"), dtype=np.float64)
    entry = entry / entry.sum()
    trans = cohort.monthly_transition
    level_hr = cohort.level_hr
    delta = float(params.value("frailty.death_log_hr_per_sd"))
    for arm, name in ((1, "treated"), (0, "untreated")):
        c = (s["month_treated"] if arm else s["month_untreated"]).astype(np.int64)
        d = (s["death_treated"] if arm else s["death_untreated"]).astype(np.int64)
        pi = np.zeros((ns, 7))
        cost = np.zeros(ns)
        months = np.zeros(ns)
        risk = out[f"death_risk_{name}"]
        for r in range(horizon):
            t = idx + r
            obs = t < end  # end <= index + FOLLOW_UP <= N_MONTHS: a cost month is a month of the data
            tt = np.minimum(t, N_MONTHS - 1)  # the medical band scales exist for the data's months only
            age = t - pop.birth[persons]
            mu = cohort.death_base[pop.sex[persons], CohortModel.age_index(age)] * np.exp(delta * pop.z(t, persons))
            pre = obs & (t <= c) & (t <= d)  # alive, not certified at the start of the month
            if pre.any():
                q = (d[pre] == t[pre]).astype(np.float64)
                cost[pre] += expected_medical_cost(params, pop, med_draws, persons[pre], tt[pre],
                                                   np.zeros(int(pre.sum()), dtype=bool), q)
                months[pre] += 1.0
            start = (t == c + 1) & (d != c)
            pi[start] = entry
            post = obs & (t > c)
            if post.any():
                qd = -np.expm1(-mu[post, None] * level_hr[None, 1:])  # (k, 7) death in the month by level
                p_post = pi[post]
                alive = p_post.sum(axis=1)
                q_mix = np.divide((p_post * qd).sum(axis=1), alive, out=np.zeros_like(alive), where=alive > 0)
                med = expected_medical_cost(params, pop, med_draws, persons[post], tt[post],
                                            np.ones(int(post.sum()), dtype=bool), q_mix)
                cost[post] += (p_post * ltc[post]).sum(axis=1) + alive * med
                months[post] += alive
            moving = t > c  # the chain moves on whether or not the month is observed
            pi[moving] = (pi[moving] * np.exp(-mu[moving, None] * level_hr[None, 1:])) @ trans
            risk[:, r] = np.where(d <= t, 1.0, np.where(moving, 1.0 - pi.sum(axis=1), 0.0))
        out[f"cost_{name}"] = cost
        out[f"months_{name}"] = months
    return out


def _month_or_nat(months: np.ndarray) -> np.ndarray:
    """``datetime64[ns]`` month starts of the arms' event months; the engine's "never" becomes NaT."""
    months = np.asarray(months, dtype=np.int64)
    never = months >= NEVER
    out = months_to_datetime(np.where(never, 0, months))
    out[never] = np.datetime64("NaT")
    return out


def _ground_truth(sim: SimulationResult, effects: TrueEffects, soft_sites: pd.DataFrame, person, sites,
                  arms: dict[str, np.ndarray]) -> GroundTruth:
    s = sim.subjects
    prog = s["prog"]
    po = pd.DataFrame({
        "programme": _cat(prog, ("soft", "short_term")),
        "person_id": person(s["person"]),
        "index_month": months_to_datetime(s["index"]),
        "followup_end": months_to_datetime(s["index"] + FOLLOW_UP),
        "certified_treated": s["cert_treated"].astype(bool),
        "certified_untreated": s["cert_untreated"].astype(bool),
        "risk_treated": s["risk_treated"],
        "risk_untreated": s["risk_untreated"],
        "cost_treated": arms["cost_treated"],
        "cost_untreated": arms["cost_untreated"],
        "months_treated": arms["months_treated"],
        "months_untreated": arms["months_untreated"],
        "events_end": months_to_datetime(s["index"] + FOLLOW_UP + EVENT_EXTENSION),
        "cert_month_treated": _month_or_nat(s["month_treated"]),
        "cert_month_untreated": _month_or_nat(s["month_untreated"]),
        "death_month_treated": _month_or_nat(s["death_treated"]),
        "death_month_untreated": _month_or_nat(s["death_untreated"]),
        "death_risk_treated": list(arms["death_risk_treated"]),
        "death_risk_untreated": list(arms["death_risk_untreated"]),
    })
    kcl = pd.DataFrame({
        "programme": _cat(np.ones(len(s["kcl_person"]), dtype=np.int64), ("soft", "short_term")),
        "person_id": person(s["kcl_person"]),
        "kcl_treated": pd.array(s["kcl_treated"].astype(np.int64), dtype="Int64"),
        "kcl_untreated": pd.array(s["kcl_untreated"].astype(np.int64), dtype="Int64"),
    })
    po = po.merge(kcl, on=["programme", "person_id"], how="left")
    estimands: dict[str, float] = {}
    counts: dict[str, int] = {}
    full = s["index"] + FOLLOW_UP <= N_MONTHS
    for code, name in ((0, "soft"), (1, "short_term")):
        m = prog == code
        nm = int(m.sum())
        ct = s["cert_treated"][m].mean() if nm else np.nan
        cu = s["cert_untreated"][m].mean() if nm else np.nan
        estimands[f"{name}_att_risk3y"] = float(ct - cu)
        estimands[f"{name}_att_risk3y_expected"] = float((s["risk_treated"][m] - s["risk_untreated"][m]).mean()) if nm else np.nan
        estimands[f"{name}_risk3y_treated"] = float(ct)
        estimands[f"{name}_risk3y_untreated"] = float(cu)
        mf = m & full
        nf = int(mf.sum())
        estimands[f"{name}_att_risk3y_full_followup"] = (
            float(s["cert_treated"][mf].mean() - s["cert_untreated"][mf].mean()) if nf else np.nan
        )
        for key in ("att_risk3y", "att_risk3y_expected", "risk3y_treated", "risk3y_untreated"):
            counts[f"{name}_{key}"] = nm
        counts[f"{name}_att_risk3y_full_followup"] = nf
    for code, name in ((0, "soft"), (1, "short_term")):
        m = (prog == code) & (arms["months_treated"] > 0)
        nm = int(m.sum())
        ct = arms["cost_treated"][m].sum() / arms["months_treated"][m].sum() if nm else np.nan
        cu = arms["cost_untreated"][m].sum() / arms["months_untreated"][m].sum() if nm else np.nan
        estimands[f"{name}_att_cost_month"] = float(ct - cu)
        estimands[f"{name}_cost_month_treated"] = float(ct)
        estimands[f"{name}_cost_month_untreated"] = float(cu)
        for key in ("att_cost_month", "cost_month_treated", "cost_month_untreated"):
            counts[f"{name}_{key}"] = nm
    nk = len(s["kcl_person"])
    estimands["short_term_kcl_change"] = float((s["kcl_treated"] - s["kcl_untreated"]).mean()) if nk else np.nan
    estimands["short_term_kcl_change_expected"] = float(np.mean(s["kcl_expected"])) if nk else np.nan
    counts["short_term_kcl_change"] = nk
    counts["short_term_kcl_change_expected"] = nk
    eps = sim.episodes
    counts["n_soft_participants"] = int((prog == 0).sum())
    counts["n_short_term_started"] = int((eps["start_day"] != NO_DAY).sum())
    counts["n_short_term_completers"] = int(eps["completed"].sum())
    counts["n_tekupo_users"] = int(len(sim.tekupo["person"]))
    counts["n_soft_sites"] = int(sites.n)
    return GroundTruth(effects=effects, estimands=estimands, counts=counts, soft_sites=soft_sites.copy(),
                       potential_outcomes=po)
