"""Kihon Checklist answers and health-checkup values generated from the latent frailty.

Each of the 25 KCL items (DOMAIN.md §4.1; 1 = the risk answer) is a Bernoulli draw whose log-odds
rise with the person's latent frailty, age, a persistent person-level domain effect (so that the
seven domains are distinct) and an occasion effect shared by all items of one questionnaire. Item 12
is "BMI < 18.5" and is read from the person's BMI, the same BMI the health checkups report.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from .parameters import SyntheticParameters

__all__ = ["ITEM_DOMAIN", "KclModel", "bmi_at", "checkup_values"]

#: Domain of each item q01..q25: 0 IADL, 1 motor, 2 nutrition, 3 oral, 4 housebound, 5 cognition, 6 mood.
ITEM_DOMAIN = np.array([0] * 5 + [1] * 5 + [2] * 2 + [3] * 3 + [4] * 2 + [5] * 3 + [6] * 5)
_BMI_ITEM = 11


def bmi_at(bmi0: np.ndarray, z: np.ndarray, years: np.ndarray | float) -> np.ndarray:
    """Body-mass index: the person's level, lower with frailty, drifting down slowly with time."""
    return bmi0 - 0.6 * z - 0.05 * np.asarray(years)


class KclModel:
    """Answers of the 25-item Kihon Checklist.

    Parameters
    ----------
    params : SyntheticParameters
    """

    def __init__(self, params: SyntheticParameters) -> None:
        base = params.value("kihon_checklist.item_base_prevalence")
        self.base_logit = np.array([0.0 if b is None else logit(b) for b in base])
        self.loading = float(params.value("kihon_checklist.item_loading"))
        self.age_loading = float(params.value("kihon_checklist.age_loading_per_decade"))
        self.domain_sd = float(params.value("kihon_checklist.domain_sd"))
        self.occasion_sd = float(params.value("kihon_checklist.occasion_sd"))
        self.missing = float(params.value("kihon_checklist.item_missing_probability"))

    def latent(self, z: np.ndarray, age_months: np.ndarray, occasion: np.ndarray) -> np.ndarray:
        """Questionnaire-level latent score: frailty + age + occasion effect."""
        return z + self.age_loading * (age_months / 12.0 - 75.0) / 10.0 + occasion

    def probabilities(self, latent: np.ndarray, domain: np.ndarray, bmi: np.ndarray) -> np.ndarray:
        """``(n, 25)`` risk-answer probabilities (item 12 is 0/1 from BMI < 18.5)."""
        eta = self.base_logit + self.loading * (latent[:, None] + domain[:, ITEM_DOMAIN])
        p = expit(eta)
        p[:, _BMI_ITEM] = (bmi < 18.5).astype(np.float64)
        return p

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Random numbers of ``n`` questionnaires: occasion effects, item uniforms, missingness."""
        occasion = rng.normal(0.0, self.occasion_sd, size=n)
        uniforms = rng.random((n, 25))
        missing = rng.random((n, 25)) < self.missing
        return occasion, uniforms, missing

    def answers(self, p: np.ndarray, uniforms: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """``(n, 25)`` int8 answers, -1 where the item was left unanswered."""
        out = (uniforms < p).astype(np.int8)
        out[missing] = -1
        return out

    def shift_for_change(self, latent: np.ndarray, domain: np.ndarray, bmi: np.ndarray,
                         change: float) -> np.ndarray:
        """Latent shift per person whose expected total change equals ``change`` points.

        Solved by bisection on [-10, 10]; where the change is not attainable (a total near 0 or
        25) the shift is capped at the bound, so the expected change is smaller in size.
        """
        if change == 0.0:
            return np.zeros(latent.shape)
        base = self.probabilities(latent, domain, bmi).sum(axis=1)
        lo = np.full(latent.shape, -10.0)
        hi = np.full(latent.shape, 10.0)
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            diff = self.probabilities(latent + mid, domain, bmi).sum(axis=1) - base - change
            hi = np.where(diff > 0, mid, hi)
            lo = np.where(diff > 0, lo, mid)
        return 0.5 * (lo + hi)


def checkup_values(rng: np.random.Generator, *, sex: np.ndarray, age_years: np.ndarray, z: np.ndarray,
                   bmi: np.ndarray, height0: np.ndarray, person_bp: np.ndarray, person_a1c: np.ndarray,
                   person_ldl: np.ndarray, person_egfr: np.ndarray,
                   missing: dict[str, float]) -> dict[str, np.ndarray]:
    """Values of attended checkups (float arrays; NaN = missing), within the contract ranges."""
    n = len(sex)
    male = sex == 0
    height = height0 - 0.15 * (age_years - 65) + rng.normal(0, 0.4, n)
    height = np.clip(np.round(height, 1), 125.0, 195.0)
    weight = np.clip(np.round(bmi * (height / 100.0) ** 2 + rng.normal(0, 0.6, n), 1), 28.0, 140.0)
    bmi_obs = np.round(weight / (height / 100.0) ** 2, 1)
    sbp = 132.0 + 0.35 * (age_years - 70) + person_bp + rng.normal(0, 9.0, n)
    sbp = np.clip(np.round(sbp), 85, 230)
    dbp = 74.0 - 0.25 * (age_years - 70) + 0.35 * (sbp - 132.0) + rng.normal(0, 6.0, n) + np.where(male, 2.0, 0.0)
    dbp = np.clip(np.round(np.minimum(dbp, sbp - 15)), 40, 130)
    a1c = np.clip(np.round(5.7 + person_a1c + rng.normal(0, 0.15, n), 1), 4.0, 13.0)
    ldl = np.clip(np.round(118.0 - np.where(male, 8.0, 0.0) + person_ldl + rng.normal(0, 12.0, n)), 40, 300)
    egfr = 95.0 - 0.75 * (age_years - 40) + person_egfr - 3.0 * z + rng.normal(0, 4.0, n)
    egfr = np.clip(np.round(egfr, 1), 5.0, 140.0)
    out = {"height_cm": height, "weight_kg": weight, "bmi": bmi_obs, "sbp": sbp, "dbp": dbp,
           "hba1c": a1c, "ldl_c": ldl, "egfr": egfr}
    hw = rng.random(n) < missing["height_weight"]
    bp = rng.random(n) < missing["blood_pressure"]
    for key, mask in (("height_cm", hw), ("weight_kg", hw), ("bmi", hw), ("sbp", bp), ("dbp", bp)):
        out[key] = np.where(mask, np.nan, out[key])
    for key, pkey in (("hba1c", "hba1c"), ("ldl_c", "ldl_c"), ("egfr", "egfr")):
        out[key] = np.where(rng.random(n) < missing[pkey], np.nan, out[key])
    return out
