"""Expected-value cohort engine: the same per-cycle model as the microsimulation, by cell.

Persons are grouped into cells of identical sex, starting age, starting state, frailty group (when
used) and hazard multiplier;
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


def _advance(sex, a0, state, grp, mult, counts, tables: CycleTables, v: int):
    """Advance cells ``(C,)`` for all cycles; the joint distribution over frailty group x state is
    tracked (``(C, G, 9)``), since the group changes the certification hazard of the independent."""
    T, G = tables.n_cycles, tables.n_groups
    C = len(sex)
    x = np.zeros((C, G, 9))
    if G == 1:
        x[np.arange(C), 0, state] = 1.0
    else:
        init = np.diff(tables.frailty_init_cum[sex, a0], axis=-1, prepend=0.0)  # (C, G) reference mix
        known = grp < G
        x[np.flatnonzero(known), grp[known], state[known]] = 1.0
        unk = np.flatnonzero(~known)
        x[unk, :, state[unk]] = init[unk]
        fm = np.diff(tables.frailty_cum, axis=-1, prepend=0.0)  # (G, G) per-cycle moves, as the kernel draws them
    occ = np.empty((T + 1, C, 9))
    focc = np.empty((T + 1, C, G))  # independent persons by frailty group
    newc = np.zeros((T, C, 9))
    dth = np.zeros((T, C, 9))
    occ[0] = x.sum(axis=1)
    focc[0] = x[:, :, 0]
    entry_all = np.diff(tables.entry_cum, axis=-1, prepend=0.0)  # (2, A, 7)
    g_idx = np.arange(G)
    for t in range(T):
        lev = tables.level_of_cycle[t] if v == 1 else 0
        a = np.minimum(a0 + tables.age_step[t], tables.n_ages - 1)
        d = tables.death_p[sex, a, :]  # (C, 8)
        died = x[:, :, :8] * d[:, None, :]  # (C, G, 8)
        surv = x[:, :, :8] - died
        h = tables.level_cert_h[lev][sex[:, None], g_idx[None, :], a[:, None]]  # (C, G)
        c = -np.expm1(-h * mult[:, None])
        new = surv[:, :, 0] * c  # (C, G)
        m = tables.level_trans[lev][sex, a]  # (C, 8, 8)
        entry = entry_all[sex, a]  # (C, 7)
        nxt = np.empty_like(x)
        nxt[:, :, 0] = surv[:, :, 0] - new + np.einsum("cgk,ck->cg", surv[:, :, 1:], m[:, 1:, 0])
        nxt[:, :, 1:8] = np.einsum("cgk,ckj->cgj", surv[:, :, 1:], m[:, 1:, 1:]) + new[:, :, None] * entry[:, None, :]
        nxt[:, :, 8] = x[:, :, 8] + died.sum(axis=2)
        dth[t, :, :8] = died.sum(axis=1)
        newc[t, :, 1:8] = new.sum(axis=1)[:, None] * entry
        x = nxt if G == 1 else np.einsum("cgk,gh->chk", nxt, fm)
        occ[t + 1] = x.sum(axis=1)
        focc[t + 1] = x[:, :, 0]
    w = counts[None, :, None]
    return occ * w, newc * w, dth * w, focc * w


def _scatter(values: np.ndarray, sex, a0, n_ages: int) -> np.ndarray:
    """Sum cell arrays ``(T, C, K)`` into ``(2 sex, n_ages, T, K)``."""
    out = np.zeros((2, n_ages, values.shape[0], values.shape[2]))
    np.add.at(out, (sex, a0), np.moveaxis(values, 1, 0))
    return out


def run_cohort(codes: dict[str, np.ndarray], tables: CycleTables, *, uptake: float):
    """Expected occupancy, new certifications and deaths, shaped like the microsimulation's output.

    Returns arrays ``(2 arms, 2 sex, n_ages, T + 1, 9)``, ``(2, 2, n_ages, T, 9)`` twice, and with
    frailty the independent persons by group ``(2, 2, n_ages, T + 1, G)`` (else None).
    """
    n = len(codes["sex"])
    mult = codes.get("mult")
    mult = np.ones(n) if mult is None else mult
    grp = codes.get("frailty") if tables.n_groups > 1 else None
    grp = np.zeros(n, dtype=np.int64) if grp is None else grp
    keys = np.rec.fromarrays([codes["sex"].astype(np.int64), codes["age0"].astype(np.int64),
                              codes["state"].astype(np.int64), grp.astype(np.int64), mult])
    uniq, counts = np.unique(keys, return_counts=True)
    sex, a0, state, g, m = (np.asarray(uniq[f]) for f in uniq.dtype.names)
    counts = counts.astype(np.float64)
    res = []
    for v in (0, 1):
        if v == 1 and uptake == 0:
            res.append(res[0])
            continue
        arrays = _advance(sex, a0, state, g, m, counts, tables, v)
        res.append(tuple(_scatter(a, sex, a0, tables.n_ages) for a in arrays))
    out = []
    for i in range(4 if tables.n_groups > 1 else 3):
        ctrl = res[0][i]
        inter = uptake * res[1][i] + (1.0 - uptake) * ctrl if uptake < 1 else res[1][i]
        out.append(np.stack([ctrl, inter]))
    if tables.n_groups == 1:
        out.append(None)
    return tuple(out)
