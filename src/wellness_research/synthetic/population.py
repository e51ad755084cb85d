"""Persons of the synthetic municipality: who lives there, when they enter, their latent frailty.

Three groups enter the resident register of residents aged 65+:

* the residents aged 65+ on 1 April 2019 (age and sex from the IPSS 2022 pyramid, DOMAIN.md §2.2;
  single ages within a band follow the survival curve of the calibrated cohort model);
* residents who turn 65 during the period (``population.newcomer_rate_per_year``);
* residents aged 65+ who move in (``population.in_migration_rate_per_year``).

Each person's latent-frailty class and certification state at entry are drawn jointly from the
cohort model's state mass at that age and sex, so that frailty, certification and age agree with
the calibration. Moving out is an independent monthly hazard (non-informative censoring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._calendar import NO_DAY, month_length, month_start_day
from .cohort import AGE_GRID_START, CohortModel
from .parameters import SyntheticParameters

__all__ = ["NEVER", "N_MONTHS", "Population", "make_population"]

#: Months in the period April 2019 – March 2026.
N_MONTHS = 84
#: Month index meaning "not within any horizon".
NEVER = 10_000


@dataclass(frozen=True)
class Population:
    """Arrays describing every person who is a resident aged 65+ at some time in the period.

    Months are indices from April 2019 (= 0); days are days since 1970-01-01.
    """

    sex: np.ndarray  # int8, 0 = M, 1 = F
    birth: np.ndarray  # int32 month index of the birth month
    district: np.ndarray  # int8, 0..11
    entry: np.ndarray  # int32, month the person enters (0 = resident at the start)
    kind: np.ndarray  # int8, 0 = resident at start, 1 = turns 65, 2 = moves in
    move_in_day: np.ndarray  # int64 day or NO_DAY
    cls: np.ndarray  # int16 latent class
    u: np.ndarray  # float64 frailty at 65
    r: np.ndarray  # float64 frailty slope per decade
    init_state: np.ndarray  # int8 state at entry (0 non-certified, 1..7)
    out_month: np.ndarray  # int32 month of moving out (NEVER if not in the period)
    code: np.ndarray  # int32 position of the person's id among the sorted ids

    @property
    def n(self) -> int:
        return int(self.sex.shape[0])

    def z(self, month: int | np.ndarray, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Latent frailty at a month (age-standardised, grows with the person's slope)."""
        age = np.asarray(month) - self.birth[idx]
        return self.u[idx] + self.r[idx] * (age - 780.0) / 120.0


def _sample_ages(rng: np.random.Generator, n: int, sex: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 cohort: CohortModel) -> np.ndarray:
    """Age in months within [lo, hi) years, weighted by the cohort model's survival."""
    out = np.empty(n, dtype=np.int64)
    survival = cohort.mass.sum(axis=(2, 3))  # (2, n_ages)
    keys = np.unique(np.stack([sex, lo, hi], axis=1), axis=0)
    for s, a0, a1 in keys:
        sel = np.flatnonzero((sex == s) & (lo == a0) & (hi == a1))
        ages = np.arange(a0 * 12, a1 * 12)
        w = survival[s, ages - AGE_GRID_START]
        cdf = np.cumsum(w) / w.sum()
        pick = np.searchsorted(cdf, rng.random(len(sel)), side="right")
        out[sel] = ages[np.minimum(pick, len(ages) - 1)]
    return out


def _sample_class_state(rng: np.random.Generator, sex: np.ndarray, age_months: np.ndarray,
                        cohort: CohortModel) -> tuple[np.ndarray, np.ndarray]:
    """Joint draw of (latent class, state) from the cohort mass at each person's age and sex."""
    n = len(sex)
    k = cohort.mass.shape[2]
    cls = np.empty(n, dtype=np.int16)
    state = np.empty(n, dtype=np.int8)
    draws = rng.random(n)
    chunk = 16_384
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        probs = cohort.mass[sex[sl], CohortModel.age_index(age_months[sl])].reshape(-1, k * 8)
        cdf = np.cumsum(probs, axis=1)
        cdf /= cdf[:, -1:]
        pick = np.minimum((cdf < draws[sl, None]).sum(axis=1), k * 8 - 1)
        cls[sl] = pick // 8
        state[sl] = pick % 8
    return cls, state


def make_population(params: SyntheticParameters, cohort: CohortModel, n_start: int,
                    rng: np.random.Generator) -> Population:
    """Draw every person of the municipality (see the module docstring).

    Parameters
    ----------
    params : SyntheticParameters
    cohort : CohortModel
    n_start : int
        Residents aged 65+ on 1 April 2019.
    rng : numpy.random.Generator
        The population's own stream.
    """
    pyr = params.value("population.pyramid_2022_thousands")
    max_age = int(params.value("population.max_age_years"))
    bands = pyr["bands"]
    lo_b = np.array([int(b.rstrip("+").split("-")[0]) for b in bands])
    hi_b = np.array([int(b.split("-")[1]) + 1 if "-" in b else max_age for b in bands])
    counts = np.concatenate([np.asarray(pyr["male"], float), np.asarray(pyr["female"], float)])
    cell_sex = np.repeat([0, 1], len(bands))
    cell_lo = np.tile(lo_b, 2)
    cell_hi = np.tile(hi_b, 2)

    # 1. residents at the start
    cell = rng.choice(len(counts), size=n_start, p=counts / counts.sum())
    sex0 = cell_sex[cell].astype(np.int8)
    age0 = _sample_ages(rng, n_start, sex0, cell_lo[cell], cell_hi[cell], cohort)
    entry0 = np.zeros(n_start, dtype=np.int64)

    # 2. residents turning 65 during the period (entry months 1..83)
    rate_new = float(params.value("population.newcomer_rate_per_year"))
    n_new = int(round(n_start * rate_new * (N_MONTHS - 1) / 12))
    entry1 = np.sort(rng.integers(1, N_MONTHS, size=n_new))
    male65 = counts[0] / (counts[0] + counts[len(bands)])
    sex1 = (rng.random(n_new) >= male65).astype(np.int8)
    age1 = np.full(n_new, 65 * 12, dtype=np.int64)

    # 3. residents moving in (entry months 1..83, moved in during the previous month)
    rate_in = float(params.value("population.in_migration_rate_per_year"))
    n_in = int(round(n_start * rate_in * (N_MONTHS - 1) / 12))
    entry2 = np.sort(rng.integers(1, N_MONTHS, size=n_in))
    cell2 = rng.choice(len(counts), size=n_in, p=counts / counts.sum())
    sex2 = cell_sex[cell2].astype(np.int8)
    age2 = _sample_ages(rng, n_in, sex2, cell_lo[cell2], cell_hi[cell2], cohort)
    move_month = entry2 - 1
    move_day2 = month_start_day(move_month) + np.floor(rng.random(n_in) * month_length(move_month)).astype(np.int64)

    sex = np.concatenate([sex0, sex1, sex2])
    age_at_entry = np.concatenate([age0, age1, age2])
    entry = np.concatenate([entry0, entry1, entry2])
    n = len(sex)
    kind = np.concatenate([np.zeros(n_start), np.ones(n_new), np.full(n_in, 2)]).astype(np.int8)
    move_in_day = np.concatenate([np.full(n_start + n_new, NO_DAY, dtype=np.int64), move_day2])

    cls, state = _sample_class_state(rng, sex, age_at_entry, cohort)
    weights = np.asarray(params.value("population.district_weights"), dtype=np.float64)
    district = rng.choice(len(weights), size=n, p=weights / weights.sum()).astype(np.int8)

    p_out = 1.0 - (1.0 - float(params.value("population.out_migration_rate_per_year"))) ** (1.0 / 12.0)
    out_month = entry + rng.geometric(p_out, size=n)
    out_month = np.where(out_month >= N_MONTHS, NEVER, out_month)

    code = rng.permutation(n).astype(np.int32)
    return Population(
        sex=sex,
        birth=(entry - age_at_entry).astype(np.int32),
        district=district,
        entry=entry.astype(np.int32),
        kind=kind,
        move_in_day=move_in_day,
        cls=cls,
        u=cohort.classes.u[cls],
        r=cohort.classes.r[cls],
        init_state=state,
        out_month=out_month.astype(np.int32),
        code=code,
    )
