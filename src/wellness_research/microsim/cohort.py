"""Expected-value cohort engine: the same per-cycle model as the microsimulation, by cell.

Persons are grouped into cells of identical sex, starting age, starting state and hazard multiplier;
each cell's state distribution is advanced with the per-cycle tables of
:mod:`wellness_research.microsim._model` (death, then first certification or the level move given
survival). The intervention arm is the mixture ``uptake * participants + (1 - uptake) * others``.
The result has the microsimulation's shapes and is its expectation, so the two engines can be compared
state by state (Krijkamp et al. 2018, §"cohort vs microsimulation").
"""

from __future__ import annotations

import numpy as np

from ._model import CycleTables

__all__ = ["run_cohort"]


def _advance(sex, a0, state, mult, counts, tables: CycleTables, v: int):
    T = tables.n_cycles
    C = len(sex)
    x = np.zeros((C, 9))
    x[np.arange(C), state] = 1.0
    occ = np.empty((T + 1, C, 9))
    newc = np.zeros((T, C, 9))
    dth = np.zeros((T, C, 9))
    occ[0] = x
    entry = np.diff(np.concatenate([[0.0], tables.entry_cum]))
    for t in range(T):
        a = np.minimum(a0 + tables.age_step[t], tables.n_ages - 1)
        d = tables.death_p[sex, a, :]  # (C, 8)
        dth[t, :, :8] = x[:, :8] * d
        surv = x[:, :8] * (1.0 - d)
        c = -np.expm1(-tables.cert_h[v, t, sex, a] * mult)
        new = surv[:, 0] * c
        m = tables.trans[v, t]
        nxt = np.empty_like(x)
        nxt[:, 0] = surv[:, 0] - new + surv[:, 1:] @ m[1:, 0]
        nxt[:, 1:8] = surv[:, 1:] @ m[1:, 1:] + new[:, None] * entry
        nxt[:, 8] = x[:, 8] + dth[t].sum(axis=1)
        newc[t, :, 1:8] = new[:, None] * entry
        x = nxt
        occ[t + 1] = x
    w = counts[None, :, None]
    return occ * w, newc * w, dth * w


def _scatter(values: np.ndarray, sex, a0, n_ages: int) -> np.ndarray:
    """Sum cell arrays ``(T, C, 9)`` into ``(2 sex, n_ages, T, 9)``."""
    out = np.zeros((2, n_ages, values.shape[0], 9))
    np.add.at(out, (sex, a0), np.moveaxis(values, 1, 0))
    return out


def run_cohort(codes: dict[str, np.ndarray], tables: CycleTables, *, uptake: float):
    """Expected occupancy, new certifications and deaths, shaped like the microsimulation's output.

    Returns arrays ``(2 arms, 2 sex, n_ages, T + 1, 9)``, ``(2, 2, n_ages, T, 9)`` twice.
    """
    mult = codes.get("mult")
    mult = np.ones(len(codes["sex"])) if mult is None else mult
    keys = np.rec.fromarrays([codes["sex"].astype(np.int64), codes["age0"].astype(np.int64),
                              codes["state"].astype(np.int64), mult])
    uniq, counts = np.unique(keys, return_counts=True)
    sex, a0, state, m = (np.asarray(uniq[f]) for f in uniq.dtype.names)
    counts = counts.astype(np.float64)
    res = []
    for v in (0, 1):
        if v == 1 and uptake == 0:
            res.append(res[0])
            continue
        arrays = _advance(sex, a0, state, m, counts, tables, v)
        res.append(tuple(_scatter(a, sex, a0, tables.n_ages) for a in arrays))
    out = []
    for i in range(3):
        ctrl = res[0][i]
        inter = uptake * res[1][i] + (1.0 - uptake) * ctrl if uptake < 1 else res[1][i]
        out.append(np.stack([ctrl, inter]))
    return tuple(out)
