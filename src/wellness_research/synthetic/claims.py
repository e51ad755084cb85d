"""LTC claims (介護レセプト) and medical claims (医療レセプト) from the monthly states.

LTC: a certified person present at the start of a month has claims if they are a service user
(persistent per person; share by level set so that recipients are ≈76 % of certified, DOMAIN.md
§1.4). Facility users have one 施設サービス claim; home users have 居宅 (要介護) or 介護予防 (要支援)
services, sometimes 地域密着型, plus care management. Mean 費用額 by level follows the §1.4 table;
units = cost / Hachioji's unit price by service type (§1.3), home and community units are capped at
the 区分支給限度基準額 (§1.2); 給付費 = 90/80/70 % of 費用額.

Medical: every person present at the start of a month may have inpatient, outpatient, dental and
pharmacy claims (many zero months, lognormal amounts). Expected cost per person-month is the §8
age-band mean, shared out by certification (×1.7), latent frailty and a persistent person factor,
renormalised within each age band and month so the band mean matches the table. Insurer: 国保 below
75, 後期高齢者医療 from 75 (the insurer break of §6.1). points = cost / 10.
"""

from __future__ import annotations

import numpy as np

from .parameters import SyntheticParameters
from .population import N_MONTHS, Population

__all__ = ["CLAIM_TYPES", "SERVICE_TYPES", "expected_ltc_cost", "expected_medical_cost", "ltc_claim_rows",
           "medical_claim_rows"]

SERVICE_TYPES = ("home", "community", "facility", "prevention", "care_management")
CLAIM_TYPES = ("inpatient", "outpatient", "dental", "pharmacy")


def _ltc_cost_model(params: SyntheticParameters) -> tuple:
    """The LTC cost parameters shared by :func:`ltc_claim_rows` and :func:`expected_ltc_cost`.

    Returns ``(users, fac_share, fac_cost, cm_level, service_mean, price, limit, gap)``: share of the
    certified who use services, facility share of users, facility cost, care-management fee, mean home
    service cost (the per-recipient cost net of facility users and care management), unit prices, benefit
    limits in units and the probability of a month without home services — all by level 要支援1..要介護5.
    """
    cost_level = np.asarray(params.value("ltc_costs.cost_per_recipient_by_level"), dtype=np.float64)
    users = np.asarray(params.value("ltc_costs.user_share_by_level"), dtype=np.float64)
    fac_share = np.asarray(params.value("ltc_costs.facility_share_of_users"), dtype=np.float64)
    fac_cost = np.asarray(params.value("ltc_costs.facility_cost_by_level"), dtype=np.float64)
    cm = params.value("ltc_costs.care_management_cost")
    cm_level = np.where(np.arange(7) < 2, float(cm["support"]), float(cm["care"]))
    home_total = (cost_level - fac_share * fac_cost) / (1.0 - fac_share)
    service_mean = home_total - cm_level
    price = params.value("ltc_costs.unit_price_yen")
    limit = np.asarray(params.value("ltc_costs.benefit_limit_units"), dtype=np.float64)
    gap = float(params.value("ltc_costs.monthly_gap_probability"))
    return users, fac_share, fac_cost, cm_level, service_mean, price, limit, gap


def ltc_claim_rows(params: SyntheticParameters, pop: Population, hist: np.ndarray,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """LTC claim rows (person, month, service type code, units, cost, benefit)."""
    n = pop.n
    users, fac_share, fac_cost, cm_level, service_mean, price, limit, gap = _ltc_cost_model(params)
    cv = float(params.value("ltc_costs.home_cost_cv"))
    comm_share = float(params.value("ltc_costs.community_user_share"))
    copay = params.value("ltc_costs.copay_mix")
    # persistent person draws
    u_use = rng.random(n)
    u_fac = rng.random(n)
    comm = rng.random(n) < comm_share
    trait = rng.gamma(1.0 / cv**2, cv**2, size=n)
    rate = rng.choice(np.asarray(copay["rates"]), size=n, p=np.asarray(copay["shares"]) / np.sum(copay["shares"]))
    cols = {k: [] for k in ("person", "month", "type", "cost")}

    def add(person, month, stype, cost):
        cols["person"].append(person)
        cols["month"].append(np.full(len(person), month, dtype=np.int16))
        cols["type"].append(np.full(len(person), stype, dtype=np.int8))
        cols["cost"].append(cost)

    for m in range(N_MONTHS):
        c = np.flatnonzero(hist[:, m] >= 1)
        lvl = hist[c, m].astype(np.int64) - 1
        user = u_use[c] < users[lvl]
        fac = user & (u_fac[c] < fac_share[lvl])
        home = user & ~fac & (rng.random(len(c)) >= gap)
        noise = np.exp(rng.normal(0.0, 0.1, len(c)) - 0.005)
        # facility
        f = c[fac]
        add(f, m, 2, fac_cost[lvl[fac]] * np.exp(rng.normal(0.0, 0.05, len(f)) - 0.00125))
        # home, community, prevention (capped at the benefit limit) and care management
        h = c[home]
        hl = lvl[home]
        service = service_mean[hl] * trait[h] * noise[home]
        support = hl < 2
        unit_price = np.where(support, price["prevention"], price["home"])
        service = np.minimum(service, limit[hl] * unit_price)
        community = comm[h] & ~support
        add(h[support], m, 3, service[support])
        add(h[~support], m, 0, np.where(community, 0.6, 1.0)[~support] * service[~support])
        add(h[community], m, 1, 0.4 * service[community])
        add(h, m, 4, cm_level[hl])
    person = np.concatenate(cols["person"])
    stype = np.concatenate(cols["type"])
    cost = np.concatenate(cols["cost"])
    prices = np.array([price[k] for k in SERVICE_TYPES], dtype=np.float64)[stype]
    units = np.maximum(1, np.round(cost / prices)).astype(np.int64)
    cost_yen = np.floor(units * prices).astype(np.int64)
    benefit = np.floor(cost_yen * rate[person] + 1e-9).astype(np.int64)
    return {"person": person, "month": np.concatenate(cols["month"]), "type": stype,
            "units": units, "cost": cost_yen, "benefit": benefit,
            "draws": {"u_use": u_use, "u_fac": u_fac, "trait": trait}}


def medical_claim_rows(params: SyntheticParameters, pop: Population, hist: np.ndarray,
                       death_month: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Medical claim rows (person, month, claim type code, insurer code 0 kokuho / 1 koki, points)."""
    n = pop.n
    table = params.value("medical_costs.per_capita_fy2014")
    uplift = float(params.value("medical_costs.uplift_from_fy2014"))
    band_mean = np.asarray(table["yen_per_year"], dtype=np.float64) * uplift / 12.0  # 65-69 .. 95-99
    cert_mult = float(params.value("medical_costs.certified_multiplier"))
    frail = float(params.value("medical_costs.frailty_log_multiplier"))
    shares = params.value("medical_costs.claim_type_cost_share")
    probs = params.value("medical_costs.claim_probability")
    sigma = params.value("medical_costs.lognormal_sigma")
    cert_inpat = float(params.value("medical_costs.certified_inpatient_factor"))
    death_inpat = float(params.value("medical_costs.death_month_inpatient_probability"))
    share = np.array([shares[k] for k in CLAIM_TYPES])
    p_base = np.array([probs[k] for k in CLAIM_TYPES], dtype=np.float64)  # (4, 3 age classes)
    sig = np.array([sigma[k] for k in CLAIM_TYPES])
    person_factor = np.exp(rng.normal(0.0, 0.5, n) - 0.125)
    out = {k: [] for k in ("person", "month", "type", "insurer", "points")}
    scales = np.zeros((N_MONTHS, len(band_mean)))
    for m in range(N_MONTHS):
        p = np.flatnonzero(hist[:, m] >= 0)
        age = (m - pop.birth[p]) // 12
        band = np.clip((age - 65) // 5, 0, len(band_mean) - 1)
        aclass = np.where(age < 75, 0, np.where(age < 85, 1, 2))
        cert = hist[p, m] >= 1
        z = pop.u[p] + pop.r[p] * ((m - pop.birth[p]) - 780.0) / 120.0
        factor = np.where(cert, cert_mult, 1.0) * np.exp(frail * z) * person_factor[p]
        pk = p_base[:, aclass]  # (4, n)
        pk_eff = pk.copy()
        pk_eff[0] = np.minimum(0.5, np.where(cert, pk[0] * cert_inpat, pk[0]))
        pk_eff[0] = np.where(death_month[p] == m, np.maximum(pk_eff[0], death_inpat), pk_eff[0])
        # amount given a claim: share * factor * scale / base probability; scale per band
        rel = (pk_eff / pk * share[:, None]).sum(axis=0) * factor  # expected cost / scale
        scale = band_mean / np.maximum(np.bincount(band, weights=rel, minlength=len(band_mean))
                                       / np.maximum(np.bincount(band, minlength=len(band_mean)), 1), 1e-12)
        scales[m] = scale
        mean_i = scale[band] * factor
        insurer = (age >= 75).astype(np.int8)
        for k in range(4):
            hit = rng.random(len(p)) < pk_eff[k]
            idx = p[hit]
            amount = share[k] * mean_i[hit] / pk[k, hit] * np.exp(sig[k] * rng.standard_normal(len(idx)) - 0.5 * sig[k] ** 2)
            out["person"].append(idx)
            out["month"].append(np.full(len(idx), m, dtype=np.int16))
            out["type"].append(np.full(len(idx), k, dtype=np.int8))
            out["insurer"].append(insurer[hit])
            out["points"].append(np.maximum(1, np.round(amount / 10.0)).astype(np.int64))
    rows = {k: np.concatenate(v) for k, v in out.items()}
    rows["draws"] = {"person_factor": person_factor, "scale": scales}
    return rows


def expected_ltc_cost(params: SyntheticParameters, draws: dict[str, np.ndarray], persons: np.ndarray) -> np.ndarray:
    """Expected LTC 費用額 per month, ``(len(persons), 7)`` by level 要支援1..要介護5.

    The expectation of :func:`ltc_claim_rows` over its monthly draws (month without home services,
    amount noise; the cap at the benefit limit is integrated exactly for the lognormal noise), given
    each person's persistent draws (service user or not, facility or home, cost trait) in ``draws``.
    The rounding of units to integers is ignored (a few yen).
    """
    from scipy.special import ndtr

    users, fac_share, fac_cost, cm_level, service_mean, price, limit, gap = _ltc_cost_model(params)
    cap = limit * np.where(np.arange(7) < 2, price["prevention"], price["home"])
    persons = np.asarray(persons, dtype=np.int64)
    user = draws["u_use"][persons, None] < users[None, :]
    fac = user & (draws["u_fac"][persons, None] < fac_share[None, :])
    home = user & ~fac
    # E[min(X, cap)] for X = a * exp(N(-0.005, 0.1^2)) (the monthly noise of ltc_claim_rows)
    sd, mu_shift = 0.1, -0.005
    mu = np.log(service_mean[None, :] * draws["trait"][persons, None]) + mu_shift
    lc = np.log(cap)[None, :]
    capped = (np.exp(mu + sd**2 / 2) * ndtr((lc - mu - sd**2) / sd) + cap[None, :] * (1.0 - ndtr((lc - mu) / sd)))
    return fac * fac_cost[None, :] + home * (1.0 - gap) * (capped + cm_level[None, :])


def expected_medical_cost(params: SyntheticParameters, pop: Population, draws: dict[str, np.ndarray],
                          persons: np.ndarray, months: np.ndarray, certified: np.ndarray,
                          death_probability: np.ndarray) -> np.ndarray:
    """Expected medical cost (yen) of ``persons`` in ``months`` given the state (0 <= months < 84).

    The expectation of :func:`medical_claim_rows` over its monthly draws, given the certification
    state at the start of the month, the probability of dying in the month (which raises the
    inpatient probability) and the person factor and monthly band scales in ``draws``; the rounding
    to points is ignored.
    """
    table = params.value("medical_costs.per_capita_fy2014")
    n_bands = len(table["yen_per_year"])
    cert_mult = float(params.value("medical_costs.certified_multiplier"))
    frail = float(params.value("medical_costs.frailty_log_multiplier"))
    shares = params.value("medical_costs.claim_type_cost_share")
    probs = params.value("medical_costs.claim_probability")
    cert_inpat = float(params.value("medical_costs.certified_inpatient_factor"))
    death_inpat = float(params.value("medical_costs.death_month_inpatient_probability"))
    share = np.array([shares[k] for k in CLAIM_TYPES])
    p_base = np.array([probs[k] for k in CLAIM_TYPES], dtype=np.float64)
    p = np.asarray(persons, dtype=np.int64)
    m = np.asarray(months, dtype=np.int64)
    cert = np.asarray(certified, dtype=bool)
    q = np.asarray(death_probability, dtype=np.float64)
    age = (m - pop.birth[p]) // 12
    band = np.clip((age - 65) // 5, 0, n_bands - 1)
    aclass = np.where(age < 75, 0, np.where(age < 85, 1, 2))
    z = pop.u[p] + pop.r[p] * ((m - pop.birth[p]) - 780.0) / 120.0
    factor = np.where(cert, cert_mult, 1.0) * np.exp(frail * z) * draws["person_factor"][p]
    pk = p_base[:, aclass]
    inpat = np.minimum(0.5, np.where(cert, pk[0] * cert_inpat, pk[0]))
    rest = (share[1:, None] * np.ones_like(pk[1:])).sum(axis=0)  # other types: pk_eff == pk
    rel_alive = share[0] * inpat / pk[0] + rest
    rel_death = share[0] * np.maximum(inpat, death_inpat) / pk[0] + rest
    return draws["scale"][m, band] * factor * ((1.0 - q) * rel_alive + q * rel_death)
