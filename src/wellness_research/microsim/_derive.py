"""How the default certification incidence was derived from the synthetic generator's calibration.

``derive_incidence()`` reproduces ``certification.incidence_by_age_sex`` of ``defaults.yaml``: the
population-average annual hazard of first certification among non-certified persons of each single
year of age, from the cohort model that calibrates the synthetic municipality to DOMAIN.md §2.2
(averaging the frailty-specific hazards over the non-certified mass of the latent classes).
"""

from __future__ import annotations

import numpy as np

__all__ = ["derive_incidence"]


def derive_incidence(ages: tuple[int, int] = (65, 105)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ages, male, female)`` annual incidence per person-year among the non-certified."""
    from ..synthetic.cohort import AGE_GRID_END, AGE_GRID_START, fit_cohort_model
    from ..synthetic.parameters import load_parameters as load_synthetic

    sp = load_synthetic()
    model = fit_cohort_model(sp)
    gamma = float(sp.value("frailty.certification_log_hr_per_sd"))
    months = np.arange(AGE_GRID_START, AGE_GRID_END)
    ez = np.exp(gamma * model.classes.z(months))
    years = np.arange(ages[0], ages[1] + 1)
    out = []
    for s in range(2):
        m0 = model.mass[s, :, :, 0]
        marginal = (m0 * model.cert_hazard[s][:, None] * ez).sum(axis=1) / m0.sum(axis=1)
        w = m0.sum(axis=1)
        yr = months // 12
        out.append(np.array([12 * (marginal[yr == a] * w[yr == a]).sum() / w[yr == a].sum() for a in years]))
    return years, out[0], out[1]
