"""Cohort model that calibrates the certification and mortality baselines of the generator.

A deterministic, month-by-month cohort model follows each sex from age 60 to 125 through the
states *non-certified*, 要支援1 … 要介護5 and *dead*, for every latent-frailty class (Gauss–Hermite
nodes of the person-level frailty and of its slope with age). It uses exactly the hazards of the
person-level simulation:

* new certification ``h0(age, sex) * exp(gamma * z)``, entering at ``entry_level_mix``;
* death ``mu0(age, sex) * level_hr[state] * exp(delta * z)``, where the baseline ``mu0`` is
  rescaled at every month of age so that the mixture of states and classes alive at that age
  reproduces the life-table hazard (DOMAIN.md §2.4 and §9: level multipliers applied to the
  life table itself would overstate deaths by about half);
* level transitions from the monthly root of the annual matrix (DOMAIN.md §3), and a small
  decertification rate at renewal.

The baseline ``h0`` is log-linear between knots at the middle of the 5-year age bands; its six
knot values per sex are solved by Newton's method so that the model's prevalence in each band
equals the target of ``certification.prevalence_by_age_sex`` (DOMAIN.md §2.2). The state mass by
age, sex and class is what the generator samples the starting population from, so that the
initial certification states, frailty and ages are mutually consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.linalg import fractional_matrix_power

from ..errors import ConfigurationError
from .parameters import SyntheticParameters

__all__ = [
    "AGE_GRID_END",
    "AGE_GRID_START",
    "CohortModel",
    "LatentClasses",
    "fit_cohort_model",
    "latent_classes",
    "life_table_hazard",
    "monthly_transition_matrix",
]

#: Age grid of the cohort model and of the hazard tables, in months of age.
AGE_GRID_START = 60 * 12
AGE_GRID_END = 125 * 12
_BAND_EDGES = (65, 70, 75, 80, 85, 90, 125)
_KNOT_AGES = np.array([67.5, 72.5, 77.5, 82.5, 87.5, 93.0])
_FIT_AGES = (110 - 60) * 12  # months of age used while fitting (60 to 110)


@dataclass(frozen=True)
class LatentClasses:
    """Discrete latent-frailty classes: frailty at 65 ``u``, slope per decade ``r``, weights."""

    u: np.ndarray
    r: np.ndarray
    weight: np.ndarray

    def z(self, age_months: np.ndarray | float) -> np.ndarray:
        """Frailty of every class at the given age(s) in months (classes on the last axis)."""
        a = np.asarray(age_months, dtype=np.float64)[..., None]
        return self.u + self.r * (a - 780.0) / 120.0


@dataclass(frozen=True)
class CohortModel:
    """Calibrated baselines and the state mass by age, sex and latent class.

    Attributes
    ----------
    classes : LatentClasses
    cert_hazard : numpy.ndarray
        ``(2, n_ages)`` monthly baseline hazard of new certification (sex 0 = M, 1 = F).
    death_base : numpy.ndarray
        ``(2, n_ages)`` monthly baseline death hazard (multiplied by the level hazard ratio and
        ``exp(delta z)``).
    mass : numpy.ndarray
        ``(2, n_ages, n_classes, 8)`` alive mass at the start of each month of age by state
        (0 non-certified, 1..7 要支援1..要介護5) per unit of the cohort at age 60.
    monthly_transition : numpy.ndarray
        ``(7, 7)`` monthly level transition matrix.
    level_hr : numpy.ndarray
        ``(8,)`` mortality hazard ratios of the states.
    target_prevalence, fitted_prevalence : numpy.ndarray
        ``(2, 6)`` prevalence by 5-year band (65-69 … 90+), target and fitted.
    knot_log_hazard : numpy.ndarray
        ``(2, 6)`` fitted log monthly hazards at the knots.
    """

    classes: LatentClasses
    cert_hazard: np.ndarray
    death_base: np.ndarray
    mass: np.ndarray
    monthly_transition: np.ndarray
    level_hr: np.ndarray
    target_prevalence: np.ndarray
    fitted_prevalence: np.ndarray
    knot_log_hazard: np.ndarray

    @staticmethod
    def age_index(age_months: np.ndarray) -> np.ndarray:
        """Row of the age grid for ages in months (clipped to the grid)."""
        return np.clip(np.asarray(age_months) - AGE_GRID_START, 0, AGE_GRID_END - AGE_GRID_START - 1)


def latent_classes(params: SyntheticParameters) -> LatentClasses:
    """Gauss–Hermite latent classes for the frailty at 65 and its slope with age."""
    nodes = params.value("frailty.quadrature_nodes")
    sd_u = float(params.value("frailty.baseline_sd"))
    sd_r = float(params.value("frailty.slope_sd_per_decade"))
    xu, wu = hermegauss(int(nodes["baseline"]))
    xr, wr = hermegauss(int(nodes["slope"]))
    u = np.repeat(xu * sd_u, len(xr))
    r = np.tile(xr * sd_r, len(xu))
    w = np.outer(wu, wr).ravel()
    return LatentClasses(u=u, r=r, weight=w / w.sum())


def monthly_transition_matrix(params: SyntheticParameters) -> np.ndarray:
    """Monthly level transition matrix: principal 12th root of the annual matrix (DOMAIN.md §3).

    The annual rows are normalised to sum to one; the root's tiny negative entries are clipped to
    zero and its rows renormalised, so ``P_month ** 12`` reproduces the annual matrix to within
    about 0.2 percentage points.
    """
    annual = np.asarray(params.value("certification.transition_matrix_annual_percent"), dtype=np.float64)
    if annual.shape != (7, 7) or (annual < 0).any():
        raise ConfigurationError(
            "certification.transition_matrix_annual_percent must be a 7x7 matrix of non-negative "
            f"percentages; got shape {annual.shape}."
        )
    annual = annual / annual.sum(axis=1, keepdims=True)
    root = np.real(fractional_matrix_power(annual, 1.0 / 12.0))
    root = np.clip(root, 0.0, None)
    return root / root.sum(axis=1, keepdims=True)


def life_table_hazard(params: SyntheticParameters) -> np.ndarray:
    """Monthly life-table hazard ``(2, n_ages)`` by month of age (constant within a year of age).

    qx is interpolated log-linearly between the tabulated ages, extrapolated with the slope of the
    last (first) interval, capped at ``mortality.qx_cap`` and turned into a hazard
    ``-log(1 - qx) / 12``.
    """
    table = params.value("mortality.qx_2023")
    ages = np.asarray(table["ages"], dtype=np.float64)
    cap = float(params.value("mortality.qx_cap"))
    years = np.arange(AGE_GRID_START, AGE_GRID_END) // 12
    out = np.empty((2, len(years)))
    for s, key in enumerate(("male", "female")):
        lq = np.log(np.asarray(table[key], dtype=np.float64))
        slope_lo = (lq[1] - lq[0]) / (ages[1] - ages[0])
        slope_hi = (lq[-1] - lq[-2]) / (ages[-1] - ages[-2])
        lqx = np.interp(years, ages, lq)
        lqx = np.where(years < ages[0], lq[0] + slope_lo * (years - ages[0]), lqx)
        lqx = np.where(years > ages[-1], lq[-1] + slope_hi * (years - ages[-1]), lqx)
        qx = np.minimum(np.exp(lqx), cap)
        out[s] = -np.log1p(-qx) / 12.0
    return out


class _Runner:
    """Batched cohort model: many knot vectors (and sexes) advanced together."""

    def __init__(self, params: SyntheticParameters) -> None:
        self.classes = latent_classes(params)
        self.gamma = float(params.value("frailty.certification_log_hr_per_sd"))
        self.delta = float(params.value("frailty.death_log_hr_per_sd"))
        self.level_hr = np.asarray(params.value("mortality.level_hazard_ratio"), dtype=np.float64)
        if self.level_hr.shape != (8,):
            raise ConfigurationError("mortality.level_hazard_ratio must have 8 values (non-certified + 7 levels).")
        self.entry = np.asarray(params.value("certification.entry_level_mix"), dtype=np.float64)
        self.entry = self.entry / self.entry.sum()
        self.pm = monthly_transition_matrix(params)
        renew = params.value("certification.renewal_validity_months")
        mean_validity = float(np.dot(renew["months"], renew["weights"]) / np.sum(renew["weights"]))
        self.decert = np.asarray(params.value("certification.decertification_at_renewal"), dtype=np.float64) / mean_validity
        self.p60 = float(params.value("certification.prevalence_at_60"))
        self.mu_lt = life_table_hazard(params)
        ages = np.arange(AGE_GRID_START, AGE_GRID_END)
        self.ages = ages
        zz = self.classes.z(ages)  # (n_ages, K)
        self.ez_c = np.exp(self.gamma * zz)
        self.ez_d = np.exp(self.delta * zz)
        years = ages / 12.0
        j = np.clip(np.searchsorted(_KNOT_AGES, years, side="right") - 1, 0, len(_KNOT_AGES) - 2)
        w = np.clip((years - _KNOT_AGES[j]) / (_KNOT_AGES[j + 1] - _KNOT_AGES[j]), 0.0, 1.0)
        self.knot_j, self.knot_w = j, w
        self.band = np.searchsorted(np.asarray(_BAND_EDGES) * 12, ages, side="right") - 1  # -1 below 65
        self.hr_ezd = self.level_hr[None, None, :] * self.ez_d[:, :, None]  # (n_ages, K, 8)
        self.pm_keep = self.pm * (1.0 - self.decert)[None, :]
        self.pm_dec_out = self.pm @ self.decert

    def log_hazard(self, knots: np.ndarray) -> np.ndarray:
        """``(B, n_ages)`` log monthly baseline hazard from ``(B, 6)`` knot values."""
        return knots[:, self.knot_j] * (1.0 - self.knot_w) + knots[:, self.knot_j + 1] * self.knot_w

    def run(self, knots: np.ndarray, sex: np.ndarray, *, keep_mass: bool = False):
        """Advance the cohorts; band prevalence uses ages below 110 (mass above is negligible)."""
        b = knots.shape[0]
        k = len(self.classes.weight)
        n_ages = len(self.ages) if keep_mass else _FIT_AGES
        pcert = -np.expm1(-np.exp(self.log_hazard(knots))[:, :n_ages, None] * self.ez_c[None, :n_ages])
        x = np.zeros((b, k, 8))
        x[:, :, 0] = self.classes.weight * (1.0 - self.p60)
        x[:, :, 1:] = self.classes.weight[:, None] * self.p60 * self.entry
        nxt = np.empty_like(x)
        cert_sum = np.zeros((b, 6))
        tot_sum = np.zeros((b, 6))
        mass = np.empty((b, n_ages, k, 8)) if keep_mass else None
        mu0 = np.empty((b, n_ages))
        mu_lt = self.mu_lt[sex]
        for i in range(n_ages):
            if keep_mass:
                mass[:, i] = x
            tot = x.sum(axis=(1, 2))
            band = self.band[i]
            if 0 <= band and i < _FIT_AGES:
                cert_sum[:, band] += tot - x[:, :, 0].sum(axis=1)
                tot_sum[:, band] += tot
            hz = self.hr_ezd[i]
            m0 = mu_lt[:, i] * tot / (x * hz).sum(axis=(1, 2))
            mu0[:, i] = m0
            surv = np.exp(-m0[:, None, None] * hz)
            x0 = x[:, :, 0] * surv[:, :, 0]
            new = x0 * pcert[:, i]
            z1 = x[:, :, 1:] * surv[:, :, 1:]
            nxt[:, :, 0] = x0 - new + z1 @ self.pm_dec_out
            np.matmul(z1, self.pm_keep, out=nxt[:, :, 1:])
            nxt[:, :, 1:] += new[:, :, None] * self.entry
            x, nxt = nxt, x
        return cert_sum / tot_sum, mu0, mass


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def fit_cohort_model(params: SyntheticParameters) -> CohortModel:
    """Calibrate the certification and mortality baselines (see the module docstring).

    Parameters
    ----------
    params : SyntheticParameters

    Returns
    -------
    CohortModel

    Raises
    ------
    ConfigurationError
        If the prevalence targets are not in (0, 1) or the Newton iterations do not converge.
    """
    runner = _Runner(params)
    prev = params.value("certification.prevalence_by_age_sex")
    target = np.array([prev["male"], prev["female"]], dtype=np.float64)
    if target.shape != (2, 6) or not ((target > 0) & (target < 1)).all():
        raise ConfigurationError(
            "certification.prevalence_by_age_sex needs 6 shares in (0, 1) per sex; got "
            f"{target.tolist()}."
        )
    # Start from the midpoints of DOMAIN.md §2.3's rough annual hazards.
    knots = np.log(np.array([0.0065, 0.0125, 0.03, 0.06, 0.125, 0.2]) / 12.0)
    knots = np.vstack([knots, knots])
    sexes = np.array([0, 1])
    step = 0.02
    eye = np.eye(6) * step
    for _ in range(40):
        batch = np.concatenate([np.vstack([knots[s], knots[s] + eye]) for s in range(2)])
        batch_sex = np.repeat(sexes, 7)
        fitted, _, _ = runner.run(batch, batch_sex)
        lf = _logit(fitted).reshape(2, 7, 6)
        resid = lf[:, 0] - _logit(target)
        if np.abs(resid).max() < 1e-8:
            break
        for s in range(2):
            jac = (lf[s, 1:] - lf[s, 0]).T / step  # (band, knot)
            knots[s] = knots[s] - np.linalg.solve(jac, resid[s])
    else:
        raise ConfigurationError(
            "the certification hazard calibration did not converge; check "
            "certification.prevalence_by_age_sex and the frailty parameters."
        )
    fitted, mu0, mass = runner.run(knots, sexes, keep_mass=True)
    return CohortModel(
        classes=runner.classes,
        cert_hazard=np.exp(runner.log_hazard(knots)),
        death_base=mu0,
        mass=mass,
        monthly_transition=runner.pm,
        level_hr=runner.level_hr,
        target_prevalence=target,
        fitted_prevalence=fitted,
        knot_log_hazard=knots,
    )
