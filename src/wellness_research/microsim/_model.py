"""Per-cycle tables shared by the cohort and the microsimulation engines (so both use one model).

Within a cycle of length ``dt`` years, a person in living state ``k`` at age ``a`` (whole years, the
starting age plus the whole years elapsed) and sex ``s``:

1. dies with probability ``d = 1 - exp(-mu0(a, s) HR_k dt)`` (``mu0`` the rescaled baseline, see
   :mod:`wellness_research.microsim.parameters`);
2. otherwise, if independent, is first certified with probability
   ``c = 1 - exp(-lambda(a, s) hr(t) m_i dt)`` (``hr(t)`` the effect for participants of the
   intervention arm, ``m_i`` an optional individual hazard multiplier) and enters level ``j`` with
   probability ``entry_j``; if certified, moves by the row of the per-cycle matrix (the annual
   matrix converted by :func:`~wellness_research.microsim.convert.annual_to_cycle_matrix`), with
   upward moves modified by the progression hazard ratio.

Outcome rows for the microsimulation
------------------------------------
The two steps are folded into one categorical distribution over the next state, stored as
cumulative rows so that one uniform ``u`` picks the next state by a short linear scan (inverse CDF).
The outcomes are ordered *dead, stay, then the other states in ascending order*: the two likeliest
outcomes come first, so most person-cycles take two comparisons. For an independent person the row is
``d``, ``d + (1 - d)(1 - c)``, then ``(1 - d) c entry_j`` cumulated, which is the two-stage draw
"death, then certification given survival, then the entry level given certification" done with the
rescaled remainder of the same uniform (``u' = (u - c_lo) / (c_hi - c_lo)`` is uniform on [0, 1)
given ``c_lo <= u < c_hi``). Rows are tabulated once per *effect level*: level 0 is the control (no
effect), levels 1.. are the distinct hazard-ratio pairs the intervention takes over the horizon (one
for a constant effect; one per cycle at most while the effect wanes), and ``level_of_cycle`` maps a
cycle to its level (0 again once the effect has waned completely).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .convert import annual_to_cycle_matrix
from .effect import Effect
from .parameters import Parameters

__all__ = ["CycleTables", "build_tables"]

#: outcome code of death in the rows (the state index of ``dead``)
DEAD = 8


@dataclass(frozen=True)
class CycleTables:
    """Tables indexed by variant (0 control / non-participant, 1 participant), cycle, sex, age row.

    The ``row_*`` arrays are flat views of ``(n_levels, 2 sex, n_ages, 8 states, 9 outcomes)`` for the
    compiled kernel: the row of level ``l``, sex ``s``, age row ``a``, state ``k`` starts at
    ``(((l * 2 + s) * n_ages + a) * 8 + k) * 9``.
    """

    dt: float
    n_cycles: int
    cycles_per_year: int
    n_ages: int
    age_step: np.ndarray  # (T,) whole years elapsed at cycle t
    death_p: np.ndarray  # (2 sex, n_ages, 8)
    cert_h: np.ndarray  # (2 variant, T, 2 sex, n_ages) cumulative hazard of certification in the cycle
    trans: np.ndarray  # (2 variant, T, 8, 8) given survival; row 0 unused
    entry_cum: np.ndarray  # (7,) cumulative entry mix, last exactly 1
    conversion_error: float
    level_of_cycle: np.ndarray  # (T,) int64 effect level of participants at cycle t (0 = no effect)
    level_cert_h: np.ndarray  # (n_levels, 2 sex, n_ages) certification hazard per cycle by level
    row_cum: np.ndarray  # flat float64, cumulative outcome probabilities (see the class docstring)
    row_next: np.ndarray  # flat int8, the next state of each position of ``row_cum``


def _progression(m: np.ndarray, hr: float) -> np.ndarray:
    """Apply a hazard ratio to the upward moves of every certified row of a per-cycle matrix."""
    out = m.copy()
    if hr == 1.0:
        return out
    for k in range(1, 8):
        up = out[k, k + 1:].sum()
        if up <= 0:
            continue
        new_up = min(-np.expm1(np.log1p(-up) * hr), up + out[k, k])
        out[k, k + 1:] *= new_up / up
        out[k, k] += up - new_up
    return out


def _outcome_rows(death_p: np.ndarray, cert_h: np.ndarray, trans: np.ndarray, entry: np.ndarray):
    """Cumulative outcome rows ``(L, 2, A, 8, 9)`` and their next states, for levels ``L``.

    ``death_p`` (2, A, 8); ``cert_h`` (L, 2, A); ``trans`` (L, 8, 8); ``entry`` (7,) entry mix.
    """
    L, _, A = cert_h.shape
    prob = np.zeros((L, 2, A, 8, 9))  # by next state, dead last (index 8)
    surv = 1.0 - death_p  # (2, A, 8)
    c = -np.expm1(-cert_h)  # (L, 2, A)
    prob[..., 8] = death_p[None]
    prob[..., 0, 0] = surv[None, :, :, 0] * (1.0 - c)
    prob[..., 0, 1:8] = (surv[None, :, :, 0] * c)[..., None] * entry
    prob[..., 1:, :8] = surv[None, :, :, 1:, None] * trans[:, None, None, 1:, :]
    order = np.empty((8, 9), dtype=np.int8)
    for k in range(8):
        order[k] = [DEAD, k] + [j for j in range(8) if j != k]
    p_ord = np.take_along_axis(prob, np.broadcast_to(order, prob.shape).astype(np.intp), axis=-1)
    cum = np.cumsum(p_ord, axis=-1)
    # the last outcome with positive probability ends exactly at 1, so rounding never picks an
    # impossible outcome and u < 1 always stops the scan
    pos = p_ord > 0
    last = 8 - np.argmax(pos[..., ::-1], axis=-1)
    cum[np.arange(9) >= last[..., None]] = 1.0
    nxt = np.broadcast_to(order, prob.shape).astype(np.int8)
    return np.ascontiguousarray(cum).ravel(), np.ascontiguousarray(nxt).ravel()


_CONVERSIONS: dict[tuple[bytes, tuple[int, ...], float], tuple[np.ndarray, float]] = {}


def _cycle_matrix(annual: np.ndarray, dt: float) -> tuple[np.ndarray, float]:
    """``annual_to_cycle_matrix(annual, fraction=dt)`` (matrix, max error), remembered per matrix.

    The matrix logarithm costs more than a whole annual projection of 150,000 persons, and a
    probabilistic sensitivity analysis asks for the same matrix many times. The cache holds read-only
    copies and at most 64 entries.
    """
    a = np.ascontiguousarray(annual, dtype=np.float64)
    key = (a.tobytes(), a.shape, float(dt))
    hit = _CONVERSIONS.get(key)
    if hit is None:
        conv = annual_to_cycle_matrix(a, fraction=dt)
        m = np.array(conv.matrix, dtype=np.float64)
        m.setflags(write=False)
        if len(_CONVERSIONS) >= 64:
            _CONVERSIONS.pop(next(iter(_CONVERSIONS)))
        hit = _CONVERSIONS[key] = (m, float(conv.max_abs_error))
    return hit


def build_tables(params: Parameters, *, years: int, cycle: str, effect: Effect) -> CycleTables:
    """Build the per-cycle tables of both variants for a horizon of ``years``."""
    cpy = 12 if cycle == "month" else 1
    dt = 1.0 / cpy
    T = years * cpy
    m, conversion_error = _cycle_matrix(params.annual_matrix, dt)
    hrs = np.array([effect.hazard_ratios((t + 0.5) * dt) for t in range(T)])  # (T, 2)
    death_p = -np.expm1(-(params.death_baseline[:, :, None] * params.level_hr[None, None, :]) * dt)
    base_h = params.incidence * dt  # (2, n_ages)
    # effect levels: 0 = (1, 1), then the distinct pairs in order of first appearance
    pairs: list[tuple[float, float]] = [(1.0, 1.0)]
    level_of_cycle = np.zeros(T, dtype=np.int64)
    index = {pairs[0]: 0}
    for t in range(T):
        key = (float(hrs[t, 0]), float(hrs[t, 1]))
        if key not in index:
            index[key] = len(pairs)
            pairs.append(key)
        level_of_cycle[t] = index[key]
    level_cert_h = np.stack([base_h * hc for hc, _ in pairs])  # (L, 2, n_ages)
    level_trans = np.stack([_progression(m, hp) for _, hp in pairs])  # (L, 8, 8)
    cert_h = np.empty((2, T, 2, params.incidence.shape[1]))
    cert_h[0] = base_h[None]
    cert_h[1] = level_cert_h[level_of_cycle]
    trans = np.empty((2, T, 8, 8))
    trans[0] = m[None]
    trans[1] = level_trans[level_of_cycle]
    entry_cum = np.cumsum(params.entry_mix)
    entry_cum[-1] = 1.0
    entry = np.diff(np.concatenate([[0.0], entry_cum]))  # the cohort engine's entry mix, exactly
    row_cum, row_next = _outcome_rows(death_p, level_cert_h, level_trans, entry)
    return CycleTables(
        dt=dt, n_cycles=T, cycles_per_year=cpy, n_ages=params.incidence.shape[1],
        age_step=np.arange(T) // cpy, death_p=death_p, cert_h=cert_h, trans=trans, entry_cum=entry_cum,
        conversion_error=conversion_error, level_of_cycle=level_of_cycle, level_cert_h=level_cert_h,
        row_cum=row_cum, row_next=row_next,
    )
