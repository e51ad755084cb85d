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

from ..errors import ConfigurationError
from .convert import annual_to_cycle_matrix
from .effect import Effect
from .parameters import Parameters

__all__ = ["BaseTables", "CycleTables", "base_tables", "build_tables"]

#: outcome code of death in the rows (the state index of ``dead``)
DEAD = 8


@dataclass(frozen=True)
class CycleTables:
    """Tables indexed by effect level, sex, frailty group, age row and state.

    The ``row_*`` arrays are flat views of ``(n_levels, 2 sex, G, n_ages, 8 states, 9 outcomes)`` for
    the compiled kernel (``G = 1`` without frailty, 3 with): the row of level ``l``, sex ``s``, group
    ``g``, age row ``a``, state ``k`` starts at ``((((l * 2 + s) * G + g) * n_ages + a) * 8 + k) * 9``.
    Level 0 is the control (and non-participants); the intervention arm's participants use
    ``level_of_cycle[t]``.
    """

    dt: float
    n_cycles: int
    cycles_per_year: int
    n_ages: int
    age_step: np.ndarray  # (T,) whole years elapsed at cycle t
    death_p: np.ndarray  # (2 sex, n_ages, 8)
    entry_cum: np.ndarray  # (2 sex, n_ages, 7) cumulative entry mix, last exactly 1
    conversion_error: float
    level_of_cycle: np.ndarray  # (T,) int64 effect level of participants at cycle t (0 = no effect)
    level_cert_h: np.ndarray  # (n_levels, 2 sex, G, n_ages) certification hazard per cycle by level
    level_trans: np.ndarray  # (n_levels, 2 sex, n_ages, 8, 8) per-cycle matrix given survival; row 0 unused
    row_cum: np.ndarray  # flat float64, cumulative outcome probabilities (see the class docstring)
    row_next: np.ndarray  # flat int8, the next state of each position of ``row_cum``
    n_groups: int = 1  # frailty groups G (1 = frailty off)
    frailty_cum: np.ndarray | None = None  # (G, G) cumulative per-cycle transitions between groups
    frailty_init_cum: np.ndarray | None = None  # (2, n_ages, G) cumulative reference mix (unknown group)


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


#: the outcome order of each state's row: dead, stay, then the other states ascending
_ORDER = np.array([[DEAD, k] + [j for j in range(8) if j != k] for k in range(8)], dtype=np.intp)
_ROWS = np.arange(8)[:, None]


def _outcome_rows(death_p: np.ndarray, cert_h: np.ndarray, trans: np.ndarray, entry: np.ndarray):
    """Cumulative outcome rows ``(L, 2, G, A, 8, 9)`` and their next states, for levels ``L``.

    ``death_p`` (2, A, 8); ``cert_h`` (L, 2, G, A); ``trans`` (L, 2, A, 8, 8); ``entry`` (2, A, 7).
    """
    L, _, G, A = cert_h.shape
    prob = np.zeros((L, 2, G, A, 8, 9))  # by next state, dead last (index 8)
    surv = (1.0 - death_p)[None, :, None]  # (1, 2, 1, A, 8)
    c = -np.expm1(-cert_h)  # (L, 2, G, A)
    prob[..., 8] = death_p[None, :, None]
    prob[..., 0, 0] = surv[..., 0] * (1.0 - c)
    prob[..., 0, 1:8] = (surv[..., 0] * c)[..., None] * entry[None, :, None]
    prob[..., 1:, :8] = surv[..., 1:, None] * trans[:, :, None, :, 1:, :]
    p_ord = prob[..., _ROWS, _ORDER]  # row k reordered as dead, stay, the others (a gather: same values)
    cum = np.cumsum(p_ord, axis=-1)
    # the last outcome with positive probability ends exactly at 1, so rounding never picks an
    # impossible outcome and u < 1 always stops the scan
    pos = p_ord > 0
    last = 8 - np.argmax(pos[..., ::-1], axis=-1)
    cum[np.arange(9) >= last[..., None]] = 1.0
    nxt = np.broadcast_to(_ORDER.astype(np.int8), prob.shape)
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
        err = float(conv.max_abs_error)
        m.setflags(write=False)
        if len(_CONVERSIONS) >= 64:
            _CONVERSIONS.pop(next(iter(_CONVERSIONS)))
        hit = _CONVERSIONS[key] = (m, err)
    return hit


def _cum_rows(p: np.ndarray) -> np.ndarray:
    """Cumulative sums along the last axis with the last entry exactly 1."""
    out = np.cumsum(p, axis=-1)
    out[..., -1] = 1.0
    return out


@dataclass(frozen=True)
class BaseTables:
    """The effect-free part of :class:`CycleTables` (level 0), shared by every effect on the same parameters.

    A probabilistic sensitivity analysis draws a new effect at every draw while the transition,
    mortality and entry tables stay the same: :func:`build_tables` takes them from here instead of
    converting the matrices and tabulating the control rows again.
    """

    dt: float
    n_cycles: int
    cycles_per_year: int
    n_ages: int
    death_p: np.ndarray  # (2, A, 8)
    entry_cum: np.ndarray  # (2, A, 7)
    entry: np.ndarray  # (2, A, 7)
    conversion_error: float
    mats: np.ndarray  # (U, 8, 8) distinct per-cycle matrices
    inverse: np.ndarray  # (2, A) index into mats of each (sex, age) cell
    base_h: np.ndarray  # (2, G, A) certification hazard per cycle without effect
    row_cum: np.ndarray  # level 0 rows, flat
    row_next: np.ndarray
    n_groups: int
    frailty_cum: np.ndarray | None
    frailty_init_cum: np.ndarray | None


def base_tables(params: Parameters, *, years: int, cycle: str, frailty: bool = False) -> BaseTables:
    """The effect-free tables (level 0) of :func:`build_tables`."""
    cpy = 12 if cycle == "month" else 1
    dt = 1.0 / cpy
    T = years * cpy
    A = params.incidence.shape[1]
    cells = np.ascontiguousarray(params.annual_matrix_cells).reshape(2 * A, 64)
    if (cells == cells[0]).all():  # broadcast: one matrix
        uniq, inverse = cells[:1], np.zeros(2 * A, dtype=np.intp)
    else:  # distinct matrices in order of first appearance (cheaper than np.unique for 82 rows)
        first: dict[bytes, int] = {}
        inverse = np.array([first.setdefault(r.tobytes(), len(first)) for r in cells], dtype=np.intp)
        uniq = cells[np.unique(inverse, return_index=True)[1]]
    convs = [_cycle_matrix(u.reshape(8, 8), dt) for u in uniq]
    mats = np.stack([c[0] for c in convs])  # (U, 8, 8)
    conversion_error = max(c[1] for c in convs)
    death_p = -np.expm1(-(params.death_baseline[:, :, None] * params.level_hr[None, None, :]) * dt)
    if frailty:
        if not params.has_frailty:
            raise ConfigurationError(
                "frailty=True needs the parameters' frailty section (frailty.kcl_cutoffs, "
                "frailty.certification_hazard_ratio, frailty.reference_mix, frailty.annual_transition_matrix).")
        G = 3
        base_h = (params.incidence[:, None, :] * np.moveaxis(params.frailty_cert_multiplier, 2, 1)) * dt  # (2, G, A)
        fm, ferr = _cycle_matrix(params.frailty_annual_matrix, dt)
        conversion_error = max(conversion_error, ferr)
        frailty_cum = _cum_rows(fm)
        frailty_init_cum = _cum_rows(params.frailty_reference_mix)
    else:
        G = 1
        base_h = (params.incidence * dt)[:, None, :]  # (2, 1, A)
        frailty_cum = frailty_init_cum = None
    entry_cum = _cum_rows(params.entry_mix_cells)
    entry = np.diff(entry_cum, axis=-1, prepend=0.0)  # the cohort engine's entry mix, exactly
    inverse = inverse.reshape(2, A)
    level0_h = np.stack([base_h * 1.0])  # (1, 2, G, A), as level 0 of build_tables
    level0_trans = np.stack([np.stack([_progression(m, 1.0) for m in mats])])[:, inverse]  # (1, 2, A, 8, 8)
    row_cum, row_next = _outcome_rows(death_p, level0_h, level0_trans, entry)
    return BaseTables(
        dt=dt, n_cycles=T, cycles_per_year=cpy, n_ages=A, death_p=death_p, entry_cum=entry_cum, entry=entry,
        conversion_error=conversion_error, mats=mats, inverse=inverse, base_h=base_h, row_cum=row_cum,
        row_next=row_next, n_groups=G, frailty_cum=frailty_cum, frailty_init_cum=frailty_init_cum,
    )


def build_tables(params: Parameters, *, years: int, cycle: str, effect: Effect, frailty: bool = False,
                 base: BaseTables | None = None) -> CycleTables:
    """Build the per-cycle tables of both variants for a horizon of ``years``.

    The annual matrix of every (sex, age) cell is converted once per *distinct* matrix (a broadcast
    matrix is converted once). With ``frailty`` the certification hazard of the independent state
    has one row per frailty group (the rescaled multipliers of :class:`Parameters`) and the groups move
    by the per-cycle version of the annual frailty matrix. ``base`` (from :func:`base_tables` with the
    same parameters, horizon, cycle and frailty switch) skips the effect-free part; the tables are the
    same with or without it (the rows are computed level by level, so bit for bit).
    """
    b = base_tables(params, years=years, cycle=cycle, frailty=frailty) if base is None else base
    T, dt, A = b.n_cycles, b.dt, b.n_ages
    hrs = [effect.hazard_ratios((t + 0.5) * dt) for t in range(T)]
    # effect levels: 0 = (1, 1), then the distinct pairs in order of first appearance
    pairs: list[tuple[float, float]] = [(1.0, 1.0)]
    level_of_cycle = np.zeros(T, dtype=np.int64)
    index = {pairs[0]: 0}
    for t in range(T):
        key = (float(hrs[t][0]), float(hrs[t][1]))
        if key not in index:
            index[key] = len(pairs)
            pairs.append(key)
        level_of_cycle[t] = index[key]
    level_cert_h = np.stack([b.base_h * hc for hc, _ in pairs])  # (L, 2, G, A)
    level_trans = np.stack([np.stack([_progression(m, hp) for m in b.mats]) for _, hp in pairs])  # (L, U, 8, 8)
    level_trans = level_trans[:, b.inverse]  # (L, 2, A, 8, 8)
    if len(pairs) > 1:
        cum1, nxt1 = _outcome_rows(b.death_p, level_cert_h[1:], level_trans[1:], b.entry)
        row_cum, row_next = np.concatenate([b.row_cum, cum1]), np.concatenate([b.row_next, nxt1])
    else:
        row_cum, row_next = b.row_cum.copy(), b.row_next.copy()
    return CycleTables(
        dt=dt, n_cycles=T, cycles_per_year=b.cycles_per_year, n_ages=A, age_step=np.arange(T) // b.cycles_per_year,
        death_p=b.death_p, entry_cum=b.entry_cum, conversion_error=b.conversion_error, level_of_cycle=level_of_cycle,
        level_cert_h=level_cert_h, level_trans=level_trans, row_cum=row_cum, row_next=row_next,
        n_groups=b.n_groups, frailty_cum=b.frailty_cum, frailty_init_cum=b.frailty_init_cum,
    )
