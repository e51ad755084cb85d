"""The projection: ``project()`` and the individual-level microsimulation kernel.

Common random numbers
---------------------
Every person ``i`` has a private stream of uniforms: ``u(i, t) = splitmix64(x_i + (t + 1) * G)``
with ``x_i = splitmix64(key ^ splitmix64(i + 1))``, ``G`` the 64-bit golden-ratio increment and
``key`` drawn once from ``numpy.random.default_rng(seed)`` (Steele, Lea & Flood 2014). The kernel
walks each person through all cycles and advances *both arms with the same uniform* at each
cycle, so no uniforms are stored (not 120 M floats) and the arms share every draw. One uniform decides
a whole cycle by inverse CDF over the cumulative outcome row of :mod:`~wellness_research.microsim._model`
(dead, stay, then the other states): for an independent person this is death if ``u < d``,
otherwise staying if ``u < d + (1 - d)(1 - c)``, otherwise certification, the entry level coming from
the rescaled remainder ``u' = (u - c_lo) / (c_hi - c_lo)``, which is uniform on [0, 1) given the
interval. With a hazard ratio of 1 both arms read the same row with the same uniform, so they are
identical, bit for bit; with an effect, a person's arms part only when the uniform falls between the
two arms' boundaries, which keeps the variance of the difference small (Stout & Goldie 2008).

Speed: the rows are tabulated once per effect level (not per person-cycle), a person whose two arms
are in the same state and share the row takes one scan for both (and the change is counted once for
both), an independent person who stays independent in both arms takes three comparisons and no scan,
most other person-cycles take two comparisons (dead? stay?), and only changes of state are counted (occupancy is rebuilt from the net
flows), so the loop over 120 M person-cycles writes to memory a few million times instead of 240 M.
Results depend only on the seed and the row order of the population: not on the number of threads
(counts are integers, summed in any order) nor on the machine (the rows are computed by numpy; only
the individual-multiplier path evaluates ``expm1`` in compiled code).

References
----------
Steele GL, Lea D, Flood CH (2014). Fast splittable pseudorandom number generators. OOPSLA 2014.
Krijkamp EM et al. (2018). Microsimulation modeling for health decision sciences using R: a tutorial.
Medical Decision Making 38(3):400-422.
Stout NK, Goldie SJ (2008). Keeping the noise down: common random numbers for disease simulation
modeling. Health Care Management Science 11:399-406.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, get_args

import numba
import numpy as np
import pandas as pd

from ..errors import ConfigurationError, DataValidationError
from ._model import DEAD, BaseTables, CycleTables, base_tables, build_tables
from .effect import Effect
from .parameters import FRAILTY_GROUPS, STATES, Parameters, load_parameters
from .projection import Projection

__all__ = ["Cycle", "EncodedPopulation", "EngineName", "encode_population", "project"]

Cycle = Literal["month", "year"]
EngineName = Literal["microsim", "cohort"]
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_DEAD = DEAD
#: xor-ed into the key for each person's second stream (frailty moves): the 64-bit constant of
#: Steele et al.'s second mixing stage, any odd constant would do
_FRAILTY_KEY = np.uint64(0xD1B54A32D192ED03)


@numba.njit
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit
def _scan(row_cum, row_next, r, u):
    """Next state from the cumulative outcome row starting at ``r`` (it ends at exactly 1 > u)."""
    j = r
    while u >= row_cum[j]:
        j += 1
    return np.int64(row_next[j])


@numba.njit
def _draw_independent(u, sx, g, a, level, m, death_p, level_cert_h, entry_cum):
    """The independent person's row with an individual certification multiplier ``m`` (same order:
    dead, stay, entry levels; the level from the rescaled remainder of ``u``); ``g`` the frailty group."""
    d = death_p[sx, a, 0]
    if u < d:
        return np.int64(_DEAD)
    c = -np.expm1(-level_cert_h[level, sx, g, a] * m)
    stay = d + (1.0 - d) * (1.0 - c)
    if u < stay:
        return np.int64(0)
    x = (u - stay) / (1.0 - stay)
    j = 0
    while j < 6 and x >= entry_cum[sx, a, j]:
        j += 1
    return np.int64(j + 1)


@numba.njit
def _uniform(x):
    """The uniform on [0, 1) of a splitmix64 state (53 bits, exact)."""
    return np.float64(np.int64(_mix(x) >> np.uint64(11))) * (1.0 / 9007199254740992.0)


@numba.njit
def _pick(cum, u):
    """Index of the first cumulative value above ``u`` (the last is exactly 1)."""
    j = 0
    while u >= cum[j]:
        j += 1
    return np.int64(j)


@numba.njit
def _record(arm, sx, a0, t, s, ns, flow, newc, dth):
    """Count a change of state ``s -> ns`` (flows, and a death or a first certification)."""
    flow[arm, sx, a0, t, s] -= 1
    flow[arm, sx, a0, t, ns] += 1
    if ns == _DEAD:
        dth[arm, sx, a0, t, s] += 1
    elif s == 0:
        newc[arm, sx, a0, t, ns] += 1


@numba.njit
def _frecord(slot, sx, a0, t, s, ns, g, fflow):
    """With frailty: a change of state ``s -> ns`` of a person in group ``g`` changes the independent
    persons of group ``g`` (leaving or re-entering the independent state)."""
    if s == 0:
        fflow[slot, sx, a0, t, g] -= 1
    elif ns == 0:
        fflow[slot, sx, a0, t, g] += 1


@numba.njit
def _fmove(slot, sx, a0, t, g, ng, fflow):
    """With frailty: an independent person moves from group ``g`` to ``ng``."""
    fflow[slot, sx, a0, t, g] -= 1
    fflow[slot, sx, a0, t, ng] += 1


def _make_kernel(with_frailty: bool):
    """The compiled kernel with or without the frailty stream (``with_frailty`` is frozen into the
    compiled code as a constant, so the frailty-free kernel carries no frailty branch at all)."""

    def _kernel(lo, hi, pid, sex, age0, state0, variant, mult, use_mult, key, n_cycles, cpy, n_ages, level_of_cycle,
                row_cum, row_next, death_p, level_cert_h, entry_cum, shared, n_groups, group0, frailty_cum,
                frailty_init_cum, occ0, flow, newc, dth, focc0, fflow):  # pragma: no cover
        """Persons ``lo..hi-1``, both arms, all cycles; adds counts into ``occ0``, ``flow``, ``newc``, ``dth``.

        ``pid[i]`` is the person's row in the population (their random stream); the other person arrays
        may be in any order (an encoded population is run sorted by sex, age and state, so that
        neighbouring persons read the same rows and counters).

        Only changes of state are written (a few per cent of person-cycles); occupancy is rebuilt from the
        starting counts ``occ0`` and the net flows. When both arms are in the same state ``k`` and the
        intervention arm's effect level ``l`` has the control's rows for that state (``shared[l, k]``:
        level 0, i.e. non-participants and participants after the effect has waned, and any state the
        effect does not touch, such as the certified states under an effect on certification only) one
        scan serves both arms and the change is counted once, in the "both arms" slot 2 of the counts.

        With frailty (``n_groups > 1``) each person also carries a frailty group ``g``, shared by both arms
        and drawn from a second private stream (``key ^ _FRAILTY_KEY``): an unknown starting group
        (``group0 == n_groups``) from the reference mix of the starting sex and age, then after every
        cycle's state draw a move by the per-cycle frailty matrix. The group selects the rows (the
        independent row's certification hazard), so ``base`` shifts by ``n_ages * 72`` per group. The
        independent persons by group are counted the same way as the states: starting counts ``focc0``
        ``(2 sex, n_ages, G)`` and net changes ``fflow`` ``(3, 2 sex, n_ages, T, G)`` (slot 2: both arms).
        """
        lstride = 2 * n_groups * n_ages * 72
        gstride = n_ages * 72
        for i in range(lo, hi):
            sx = np.int64(sex[i])
            a0 = np.int64(age0[i])
            s0 = np.int64(state0[i])
            part = variant[i] != 0
            m = mult[i] if use_mult else 1.0
            occ0[sx, a0, s0] += 1
            sc = s0
            si = s0
            a = a0
            k = 0
            g = np.int64(0)
            y = np.uint64(0)
            if with_frailty:
                y = _mix((key ^ _FRAILTY_KEY) ^ _mix(np.uint64(pid[i] + 1)))
                g = np.int64(group0[i])
                if g >= n_groups:
                    y += _GOLDEN
                    g = _pick(frailty_init_cum[sx, a0], _uniform(y))
                if s0 == 0:
                    focc0[sx, a0, g] += 1
            base = ((sx * n_groups + g) * n_ages + a) * 72
            x = _mix(key ^ _mix(np.uint64(pid[i] + 1)))
            for t in range(n_cycles):
                x += _GOLDEN
                u = np.float64(np.int64(_mix(x) >> np.uint64(11))) * (1.0 / 9007199254740992.0)  # < 2**53: exact
                li = level_of_cycle[t] if part else 0
                if sc == si and shared[li, sc]:
                    if use_mult and sc == 0:
                        ns = _draw_independent(u, sx, g, a, 0, m, death_p, level_cert_h, entry_cum)
                    else:
                        ns = _scan(row_cum, row_next, base + sc * 9, u)
                    if ns != sc:
                        _record(2, sx, a0, t, sc, ns, flow, newc, dth)
                        if with_frailty:
                            _frecord(2, sx, a0, t, sc, ns, g, fflow)
                        sc = ns
                        si = ns
                        if ns == _DEAD:
                            break
                elif (sc == 0 and si == 0 and not use_mult and u >= row_cum[base] and u < row_cum[base + 1]
                      and u < row_cum[li * lstride + base + 1]):
                    pass  # independent in both arms and staying so in both (the commonest case): no scan
                else:
                    if sc != _DEAD:
                        if use_mult and sc == 0:
                            ns = _draw_independent(u, sx, g, a, 0, m, death_p, level_cert_h, entry_cum)
                        else:
                            ns = _scan(row_cum, row_next, base + sc * 9, u)
                        if ns != sc:
                            _record(0, sx, a0, t, sc, ns, flow, newc, dth)
                            if with_frailty:
                                _frecord(0, sx, a0, t, sc, ns, g, fflow)
                            sc = ns
                    if si != _DEAD:
                        if use_mult and si == 0:
                            ns = _draw_independent(u, sx, g, a, li, m, death_p, level_cert_h, entry_cum)
                        else:
                            ns = _scan(row_cum, row_next, li * lstride + base + si * 9, u)
                        if ns != si:
                            _record(1, sx, a0, t, si, ns, flow, newc, dth)
                            if with_frailty:
                                _frecord(1, sx, a0, t, si, ns, g, fflow)
                            si = ns
                    if sc == _DEAD and si == _DEAD:
                        break
                if with_frailty:
                    y += _GOLDEN
                    ng = _pick(frailty_cum[g], _uniform(y))
                    if ng != g:
                        if sc == 0 and si == 0:
                            _fmove(2, sx, a0, t, g, ng, fflow)
                        elif sc == 0:
                            _fmove(0, sx, a0, t, g, ng, fflow)
                        elif si == 0:
                            _fmove(1, sx, a0, t, g, ng, fflow)
                        base += (ng - g) * gstride
                        g = ng
                k += 1
                if k == cpy:
                    k = 0
                    if a < n_ages - 1:
                        a += 1
                        base += 72

    return _njit_cached(_kernel)


def _njit_cached(fn):
    """``numba.njit(nogil=True, cache=True)``, or without the on-disk cache when numba has nowhere to write it.

    Compiling a kernel takes several seconds at the first call of every process (3-8 s measured on this
    2-core machine); with ``cache=True`` numba stores the machine code beside this module
    (``microsim/__pycache__``) or, when that directory is not writable (a read-only install), in the
    user's cache directory (``NUMBA_CACHE_DIR`` or ``~/.cache/numba``), and later processes load it
    (under a second). Numba checks for a writable directory when the function is decorated and raises
    ``RuntimeError("cannot cache function ...: no locator available")`` when there is none: then the
    kernel is compiled per process as before. The cached code is keyed by this file's contents, the
    closure's ``with_frailty`` value, the signature and the CPU, so a changed source or another machine
    recompiles. The kernels use no lifted loops or dynamic globals, so numba has no reason to warn
    that it cannot cache them (tests run with warnings as errors).
    """
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # no writable cache directory: compile in every process
        return numba.njit(cache=False, nogil=True)(fn)


#: the two kernels (each compiled at its first call, or loaded from numba's cache)
_KERNELS = {False: _make_kernel(False), True: _make_kernel(True)}


@functools.lru_cache(maxsize=1)
def _default_parameters() -> Parameters:
    """The shipped defaults, parsed once per process (``Parameters`` and its arrays are read-only)."""
    return load_parameters()


#: an upper bound on the kernel's threads set by :func:`_limit_threads` (e.g. one per PSA draw when
#: the draws themselves run in parallel), so that draws in threads do not oversubscribe the cores
_THREAD_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("microsim_thread_limit", default=None)


@contextlib.contextmanager
def _limit_threads(n: int | None) -> Iterator[None]:
    """Within the block (in this thread or task), ``project`` uses at most ``n`` kernel threads."""
    token = _THREAD_LIMIT.set(n)
    try:
        yield
    finally:
        _THREAD_LIMIT.reset(token)


def _n_threads() -> int:
    n = max(1, min(os.cpu_count() or 1, 8))
    limit = _THREAD_LIMIT.get()
    return n if limit is None else max(1, min(n, limit))


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view: numba compiles one kernel per array mutability, so the inputs always come
    read-only (cached tables and encoded populations are) and the kernel is compiled once."""
    v = a.view()
    v.setflags(write=False)
    return v


def _shared_rows(tables: CycleTables) -> np.ndarray:
    """``(n_levels, 9)`` bool: level ``l`` has level 0's outcome rows for state ``k`` (every sex and age).

    Then a person in state ``k`` in both arms moves the same way in both with the same uniform, so the
    kernel scans once. The dead state is always shared (nothing to draw)."""
    A, G = tables.n_ages, tables.n_groups
    cum = tables.row_cum.reshape(-1, 2, G, A, 8, 9)
    nxt = tables.row_next.reshape(-1, 2, G, A, 8, 9)
    same = np.ones((cum.shape[0], 9), dtype=np.bool_)
    same[:, :8] = ((cum == cum[:1]) & (nxt == nxt[:1])).all(axis=(1, 2, 3, 5))
    # an individual multiplier is applied to level_cert_h, not to the rows
    same[:, 0] &= (tables.level_cert_h == tables.level_cert_h[:1]).all(axis=(1, 2, 3))
    return same


_NO_GROUP = np.zeros(1, dtype=np.int8)
_NO_FCUM = np.ones((1, 1))
_NO_FINI = np.ones((1, 1, 1))
for _a in (_NO_GROUP, _NO_FCUM, _NO_FINI):
    _a.setflags(write=False)


def run_microsim(codes: dict[str, np.ndarray], tables: CycleTables, *, key: int, use_mult: bool,
                 n_threads: int | None = None):
    """Run the compiled kernel over chunks of persons in threads (the kernel releases the GIL).

    Each thread pulls chunks from a queue and counts into its own buffers, which are summed at the
    end (slot 2 of the arm axis holds changes shared by both arms). Returns float arrays: occupancy
    ``(2, 2, n_ages, T + 1, 9)``, new certifications and deaths
    ``(2, 2, n_ages, T, 9)``, and with frailty the independent persons by group
    ``(2, 2, n_ages, T + 1, G)`` (else None). Counts are integers, so the result does not depend on the number of
    threads nor on which thread ran which chunk.
    """
    n = len(codes["sex"])
    k = _n_threads() if n_threads is None else n_threads
    k = max(1, min(k, n // 4096 + 1))
    n_chunks = 1 if k == 1 else min(8 * k, n // 4096 + 1)
    T, A = tables.n_cycles, tables.n_ages
    occ0 = np.zeros((k, 2, A, 9), dtype=np.int64)
    flow = np.zeros((k, 3, 2, A, T, 9), dtype=np.int64)
    newc = np.zeros((k, 3, 2, A, T, 9), dtype=np.int64)
    dth = np.zeros((k, 3, 2, A, T, 9), dtype=np.int64)
    G = tables.n_groups
    focc0 = np.zeros((k, 2, A, G), dtype=np.int64)
    fflow = np.zeros((k, 3 if G > 1 else 1, 2, A, T if G > 1 else 1, G), dtype=np.int64)
    mult = np.ascontiguousarray(codes["mult"], dtype=np.float64) if use_mult else np.ones(1)
    if G > 1:
        group0 = codes["frailty"]
        fcum, fini = tables.frailty_cum, tables.frailty_init_cum
    else:  # placeholders of the right types (never read)
        group0, fcum, fini = _NO_GROUP, _NO_FCUM, _NO_FINI
    bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
    chunks = iter(range(n_chunks))
    lock = threading.Lock()
    ro = _readonly
    pid = codes.get("pid")
    pid = np.arange(n, dtype=np.int64) if pid is None else pid
    args = (ro(pid), ro(codes["sex"]), ro(codes["age0"]), ro(codes["state"]), ro(codes["variant"]), ro(mult), use_mult,
            np.uint64(key), T, tables.cycles_per_year, A, ro(tables.level_of_cycle), ro(tables.row_cum),
            ro(tables.row_next), ro(tables.death_p), ro(tables.level_cert_h), ro(tables.entry_cum),
            ro(_shared_rows(tables)), G, ro(group0), ro(fcum), ro(fini))

    kernel = _KERNELS[G > 1]

    def work(b: int) -> None:
        while True:
            with lock:
                c = next(chunks, None)
            if c is None:
                return
            kernel(bounds[c], bounds[c + 1], *args, occ0[b], flow[b], newc[b], dth[b], focc0[b], fflow[b])

    if k == 1:
        work(0)
    else:
        with ThreadPoolExecutor(max_workers=k) as pool:
            list(pool.map(work, range(k)))
    start = occ0.sum(axis=0).astype(np.float64)  # (2 sex, A, 9), the same in both arms

    def arms(x: np.ndarray) -> np.ndarray:
        x = x.sum(axis=0)
        return x[:2] + x[2][None]

    occ = np.empty((2, 2, A, T + 1, 9))
    occ[:, :, :, 0, :] = start[None]
    occ[:, :, :, 1:, :] = start[None, :, :, None, :] + np.cumsum(arms(flow), axis=3)
    if G == 1:
        return occ, arms(newc).astype(np.float64), arms(dth).astype(np.float64), None
    fstart = focc0.sum(axis=0).astype(np.float64)  # (2 sex, A, G)
    focc = np.empty((2, 2, A, T + 1, G))
    focc[:, :, :, 0, :] = fstart[None]
    focc[:, :, :, 1:, :] = fstart[None, :, :, None, :] + np.cumsum(arms(fflow), axis=3)
    return occ, arms(newc).astype(np.float64), arms(dth).astype(np.float64), focc


# --------------------------------------------------------------------------- population coding
def _label_codes(column: pd.Series, labels: tuple[str, ...]) -> np.ndarray:
    """Position of every value in ``labels`` (-1 when absent); categorical columns map only their categories."""
    index = pd.Index(list(labels))
    if isinstance(column.dtype, pd.CategoricalDtype):
        lookup = np.append(index.get_indexer(column.cat.categories.astype(object)), -1)
        return lookup[column.cat.codes.to_numpy()]  # code -1 (missing) picks the appended -1
    return index.get_indexer(column.astype(object))


def _encode(population: pd.DataFrame, params: Parameters, covariate_hr: str | None,
            frailty: bool = False) -> dict[str, np.ndarray]:
    """Validate ``population`` and code it as small integer arrays (and the multiplier column)."""
    if not isinstance(population, pd.DataFrame):
        raise DataValidationError(f"population must be a pandas DataFrame; got {type(population).__name__}.")
    need = ["age", "sex", "state"] + ([covariate_hr] if covariate_hr else [])
    missing = [c for c in need if c not in population.columns]
    if missing:
        raise DataValidationError(
            f"population lacks column(s) {missing}; it needs age (whole years), sex ('M'/'F') and state "
            f"(one of {STATES[:-1]})."
        )
    if len(population) == 0:
        raise DataValidationError("population has no rows.")
    n = len(population)

    def fail(col: str, bad: np.ndarray, rule: str) -> None:
        k = int(bad.sum())
        ex = population[col].to_numpy()[np.flatnonzero(bad)[0]]
        raise DataValidationError(
            f"population column {col!r}: {k:,} of {n:,} rows break the rule '{rule}'; e.g. {ex!r}."
        )

    age = pd.to_numeric(population["age"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(age) | (age != np.round(age))
    if bad.any():
        fail("age", bad, "whole years, not missing")
    bad = (age < params.min_age) | (age > 125)
    if bad.any():
        fail("age", bad, f"between {params.min_age} and 125 (ages above {params.max_age} use the last table row)")
    sex = _label_codes(population["sex"], ("M", "F"))
    if (sex < 0).any():
        fail("sex", sex < 0, "'M' or 'F'")
    state = _label_codes(population["state"], STATES[:-1])
    if (state < 0).any():
        fail("state", state < 0, f"one of {STATES[:-1]} (the dead are not projected)")
    out = {
        "sex": sex.astype(np.int8),
        "age0": (np.minimum(age, params.max_age) - params.min_age).astype(np.int16),
        "state": state.astype(np.int8),
    }
    if covariate_hr:
        mult = pd.to_numeric(population[covariate_hr], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(mult) | (mult <= 0)
        if bad.any():
            fail(covariate_hr, bad, "a positive finite hazard multiplier")
        out["mult"] = mult
    if frailty:
        out["frailty"] = _frailty_codes(population, state, fail)
    return out


def _frailty_codes(population: pd.DataFrame, state: np.ndarray, fail) -> np.ndarray:
    """Frailty group codes (0 robust, 1 pre-frail, 2 frail, 3 unknown: drawn from the reference mix).

    From the optional column ``frailty`` (``"robust"``, ``"pre-frail"``, ``"frail"``, ``"unknown"`` or
    missing); without the column every group is unknown. Certified persons carry a group too (it
    matters only after a return to the independent state); theirs may be unknown.
    """
    n = len(population)
    if "frailty" not in population.columns:
        return np.full(n, 3, dtype=np.int8)
    col = population["frailty"]
    miss = col.isna().to_numpy()
    lab = col.astype(object).where(~miss, "unknown")
    code = _label_codes(lab, (*FRAILTY_GROUPS, "unknown"))
    if (code < 0).any():
        fail("frailty", code < 0, f"one of {(*FRAILTY_GROUPS, 'unknown')} or missing")
    return code.astype(np.int8)



@dataclass(frozen=True, eq=False)
class EncodedPopulation:
    """A population validated and coded once, for many projections (a PSA, a sensitivity analysis).

    Built by :func:`encode_population`; :func:`project` accepts it in place of the DataFrame and then
    skips the validation and coding of the string columns, which cost more than an annual
    microsimulation of the same persons. The arrays are read-only, so one object can be shared by
    PSA draws running in threads.

    Attributes
    ----------
    sex : numpy.ndarray
        ``(n,)`` int8, 0 = ``"M"``, 1 = ``"F"``.
    age0 : numpy.ndarray
        ``(n,)`` int16, starting age row (``min(age, max_age) - min_age``).
    state : numpy.ndarray
        ``(n,)`` int8, starting state code (position in ``STATES``).
    mult : numpy.ndarray or None
        ``(n,)`` float64 individual hazard multiplier on first certification (from ``covariate_hr``).
    frailty : numpy.ndarray or None
        ``(n,)`` int8 frailty group (0 robust, 1 pre-frail, 2 frail, 3 unknown) when encoded with
        ``frailty=True``.
    covariate_hr : str or None
        The column the multiplier came from.
    min_age, max_age : int
        Age range of the parameters the population was coded for; :func:`project` checks that its
        parameters have the same range.
    """

    sex: np.ndarray = field(repr=False)
    age0: np.ndarray = field(repr=False)
    state: np.ndarray = field(repr=False)
    mult: np.ndarray | None = field(repr=False)
    covariate_hr: str | None
    min_age: int
    max_age: int
    frailty: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("sex", "age0", "state", "mult", "frailty"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.array(arr, copy=True)
                arr.setflags(write=False)
                object.__setattr__(self, name, arr)

    @property
    def n_persons(self) -> int:
        """Number of persons."""
        return len(self.sex)

    def __len__(self) -> int:
        return self.n_persons

    def __repr__(self) -> str:
        cov = f", covariate_hr={self.covariate_hr!r}" if self.covariate_hr else ""
        return f"EncodedPopulation(n_persons={self.n_persons:,}, ages {self.min_age}-{self.max_age}{cov})"

    def _codes(self) -> dict[str, np.ndarray]:
        """The person arrays sorted by sex, starting age and state, with ``pid`` the row of each.

        The microsimulation runs persons in this order (neighbouring persons then read the same table
        rows and counters: about a tenth faster on 150,000 persons in random order) while each person
        keeps the random stream of their row, so the results are those of the population's order, bit
        for bit. The sort is made once per encoded population (a new dict of the cached arrays each call).
        """
        return dict(self._sorted_codes)

    @functools.cached_property
    def _sorted_codes(self) -> dict[str, np.ndarray]:
        order = np.lexsort((self.state, self.age0, self.sex))
        out = {"pid": order.astype(np.int64), "sex": self.sex[order], "age0": self.age0[order],
               "state": self.state[order]}
        if self.mult is not None:
            out["mult"] = self.mult[order]
        if self.frailty is not None:
            out["frailty"] = self.frailty[order]
        for a in out.values():
            a.setflags(write=False)
        return out


def encode_population(
    population: pd.DataFrame,
    parameters: Parameters | None = None,
    *,
    covariate_hr: str | None = None,
    frailty: bool = False,
) -> EncodedPopulation:
    """Validate and code a population once, for repeated :func:`project` calls.

    A probabilistic sensitivity analysis projects the same persons hundreds of times with different
    parameters; coding the ``sex`` and ``state`` string columns of 150,000 rows takes longer than the
    annual microsimulation itself, so a PSA model should encode once and pass the result to
    :func:`project`. Results are identical to passing the DataFrame.

    Parameters
    ----------
    population : pandas.DataFrame
        As for :func:`project` (``age``, ``sex``, ``state``, optional covariates). It is not modified.
    parameters : Parameters, optional
        Parameters whose age range (``model.min_age``, ``model.max_age``) the ages are coded for;
        default the shipped defaults. Parameter sets that keep that range (a PSA's draws) share one
        encoding.
    covariate_hr : str, optional
        Column with an individual hazard multiplier on first certification; it is carried by the
        encoded population and applied by every projection of it.
    frailty : bool, default False
        Also code the frailty group (column ``frailty``, see :func:`project`), for projections with
        ``frailty=True``.

    Returns
    -------
    EncodedPopulation

    Raises
    ------
    DataValidationError
        Missing columns or invalid values (column, rule, count and an example value).

    Examples
    --------
    >>> import pandas as pd
    >>> pop = pd.DataFrame({"age": [70, 80, 85], "sex": ["M", "F", "F"],
    ...                     "state": ["independent", "independent", "要介護1"]})
    >>> enc = encode_population(pop)
    >>> enc
    EncodedPopulation(n_persons=3, ages 65-105)
    >>> a = project(enc, effect=0.8, years=3, cycle="year", seed=1).tidy()
    >>> b = project(pop, effect=0.8, years=3, cycle="year", seed=1).tidy()
    >>> a.equals(b)
    True
    """
    params = _default_parameters() if parameters is None else parameters
    if not isinstance(params, Parameters):
        raise ConfigurationError(f"parameters must come from load_parameters(); got {type(params).__name__}.")
    if covariate_hr is not None and not isinstance(covariate_hr, str):
        raise ConfigurationError(f"covariate_hr must be a column name or None; got {covariate_hr!r}.")
    if not isinstance(frailty, (bool, np.bool_)):
        raise ConfigurationError(f"frailty must be True or False; got {frailty!r}.")
    codes = _encode(population, params, covariate_hr, bool(frailty))
    return EncodedPopulation(
        sex=codes["sex"], age0=codes["age0"], state=codes["state"], mult=codes.get("mult"),
        covariate_hr=covariate_hr, min_age=params.min_age, max_age=params.max_age, frailty=codes.get("frailty"),
    )


def _codes_of(population: pd.DataFrame | EncodedPopulation, params: Parameters,
              covariate_hr: str | None, frailty: bool = False) -> tuple[dict[str, np.ndarray], bool]:
    """The coded arrays (a fresh dict) and whether an individual multiplier applies."""
    if not isinstance(population, EncodedPopulation):
        codes = _encode(population, params, covariate_hr, frailty)
        return codes, covariate_hr is not None
    if frailty and population.frailty is None:
        raise ConfigurationError(
            "frailty=True but the population was encoded without frailty; encode it with "
            "encode_population(population, parameters, frailty=True).")
    if (population.min_age, population.max_age) != (params.min_age, params.max_age):
        raise ConfigurationError(
            f"population was encoded for ages {population.min_age}-{population.max_age} but the parameters "
            f"cover {params.min_age}-{params.max_age}; encode it again with encode_population(population, "
            "parameters)."
        )
    if covariate_hr is not None and covariate_hr != population.covariate_hr:
        raise ConfigurationError(
            f"covariate_hr={covariate_hr!r} but the population was encoded with covariate_hr="
            f"{population.covariate_hr!r}; pass the column to encode_population instead."
        )
    return population._codes(), population.mult is not None


# --------------------------------------------------------------------------- per-parameter tables
_TABLES: dict[tuple, CycleTables] = {}
_BASES: dict[tuple, BaseTables] = {}
_TABLES_LOCK = threading.Lock()


def _remember(cache: dict, key: tuple, value, limit: int) -> None:
    with _TABLES_LOCK:
        if len(cache) >= limit:
            cache.pop(next(iter(cache)))
        cache[key] = value


def _tables(params: Parameters, years: int, cycle: str, eff: Effect, frailty: bool = False) -> CycleTables:
    """:func:`build_tables`, remembered for identical inputs (at most 32 entries).

    The key is the *content* of every parameter array the tables depend on (incidence, entry mix and
    annual matrix by cell, rescaled mortality, level hazard ratios, the frailty tables when used), the
    horizon, the cycle, the effect and the frailty switch, so
    a parameter set rebuilt with the same values (``Parameters.replace`` of a cost only, as in a PSA
    of costs) reuses the tables, and any other change builds new ones. The effect-free part
    (:func:`~wellness_research.microsim._model.base_tables`: matrix conversions, mortality, the control's
    rows) is remembered apart, without the effect in its key, so a PSA that draws a new effect at every
    draw builds only the intervention's rows. Cached arrays are read-only.
    """
    arrays = (params.incidence, params.entry_mix_cells, params.annual_matrix_cells, params.death_baseline,
              params.level_hr)
    if frailty and params.has_frailty:
        arrays += (params.frailty_cert_multiplier, params.frailty_reference_mix, params.frailty_annual_matrix)
    content = b"".join(np.ascontiguousarray(a, dtype=np.float64).tobytes() for a in arrays)
    key0 = (tuple(a.shape for a in arrays), content, int(years), cycle, bool(frailty))
    key = (*key0, eff)
    with _TABLES_LOCK:
        hit = _TABLES.get(key)
        base = _BASES.get(key0)
    if hit is not None:
        return hit
    if base is None:
        base = base_tables(params, years=int(years), cycle=cycle, frailty=frailty)
        for v in vars(base).values():
            if isinstance(v, np.ndarray):
                v.setflags(write=False)
        _remember(_BASES, key0, base, 16)
    tables = build_tables(params, years=int(years), cycle=cycle, effect=eff, frailty=frailty, base=base)
    for v in vars(tables).values():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    _remember(_TABLES, key, tables, 32)
    return tables


def _rng_key(seed: int | np.random.Generator | None) -> tuple[np.random.Generator, int]:
    if isinstance(seed, bool) or not (seed is None or isinstance(seed, (int, np.integer, np.random.Generator))):
        raise ConfigurationError(f"seed must be an int, a numpy Generator or None; got {seed!r}.")
    rng = np.random.default_rng(seed)
    return rng, int(rng.integers(0, 2**63, dtype=np.int64))


def project(
    population: pd.DataFrame | EncodedPopulation,
    parameters: Parameters | None = None,
    *,
    effect: float | Effect | None = None,
    years: int = 10,
    cycle: Cycle = "month",
    engine: EngineName = "microsim",
    seed: int | np.random.Generator | None = None,
    uptake: float = 1.0,
    covariate_hr: str | None = None,
    frailty: bool = False,
    n_threads: int | None = None,
) -> Projection:
    """Project certification, care levels, deaths and costs of a population, with and without a programme.

    Two arms start from the same population: *control* (no programme) and *intervention* (the effect
    applied to participants, a share ``uptake`` of the arm). The model (states, cycle, rescaled
    mortality, transitions) is described in :mod:`wellness_research.microsim._model` and
    :mod:`wellness_research.microsim.parameters`; the common random numbers in this module's docstring.

    Parameters
    ----------
    population : pandas.DataFrame or EncodedPopulation
        One row per person: ``age`` (whole years, >= the tables' ``min_age``), ``sex`` (``"M"``/``"F"``),
        ``state`` (``"independent"``, ``"要支援1"``, ``"要支援2"``, ``"要介護1"`` … ``"要介護5"``); other
        columns are ignored unless named by ``covariate_hr``. It is not modified. Or the same persons
        coded once by :func:`encode_population` (identical results, without re-validating and re-coding
        the columns at every call: use it for repeated projections such as PSA draws).
    parameters : Parameters, optional
        Default :func:`~wellness_research.microsim.load_parameters`.
    effect : float or Effect, optional
        ``None``: no programme (the arms are identical). A float: hazard ratio on first certification
        for participants, for the whole horizon. An :class:`Effect`: ratios on certification and
        progression, duration and waning.
    years : int, default 10
        Horizon in whole years (1 to 60).
    cycle : {"month", "year"}, default "month"
        Cycle length. Monthly matrices come from the annual ones by
        :func:`~wellness_research.microsim.convert.annual_to_cycle_matrix`.
    engine : {"microsim", "cohort"}, default "microsim"
        ``"microsim"``: individual-level Monte Carlo (compiled, common random numbers across arms);
        ``"cohort"``: expected values by cell (sex × age × state × frailty group × participation ×
        multiplier).
    seed : int, numpy.random.Generator or None
        Randomness of the microsimulation (participation and the uniforms); ignored by the cohort engine.
    uptake : float, default 1.0
        Share of the intervention arm that participates (chosen at random per person; the cohort engine
        uses the expected mixture).
    covariate_hr : str, optional
        Column with an individual hazard multiplier on first certification (both arms). With an
        :class:`EncodedPopulation` the multiplier it was encoded with applies; ``covariate_hr`` may be
        omitted or must name the same column.
    frailty : bool, default False
        Split the independent state into robust / pre-frail / frail (Kihon Checklist total; the
        ``frailty`` section of the parameters): first certification then has the group's rescaled
        hazard, and the groups move every cycle by the frailty transition matrix (both arms share a
        person's group). The group comes from the optional column ``frailty`` (``"robust"``,
        ``"pre-frail"``, ``"frail"``; ``"unknown"`` or missing, or no column, is drawn from the
        reference mix of the person's sex and age; :func:`~wellness_research.microsim.population_at`
        with ``frailty=True`` builds it from the latest checklist). Outputs are by state, summed
        over the groups; the independent persons by group are in
        :meth:`Projection.frailty_tidy` (and ``Projection.frailty_detail``). The column is ignored
        when ``frailty`` is False.
    n_threads : int, optional
        Threads of the microsimulation kernel; default all cores (at most 8), or 1 inside a
        :func:`~wellness_research.microsim.psa.run_psa` whose draws run in parallel (so parallel
        draws do not oversubscribe the cores). Results do not depend on it.

    Returns
    -------
    Projection

    Raises
    ------
    DataValidationError
        Missing columns or invalid values (the message names the column, the rule, the count and an
        example row value).
    ConfigurationError
        Invalid options.

    Examples
    --------
    >>> import pandas as pd
    >>> pop = pd.DataFrame({"age": [70, 80, 85], "sex": ["M", "F", "F"],
    ...                     "state": ["independent", "independent", "要介護1"]})
    >>> pr = project(pop, effect=0.8, years=3, engine="cohort")
    >>> pr.tidy().query("year == 3 and state == 'dead'")[["arm", "persons"]].round(3).to_numpy().tolist()
    [['control', 0.299], ['intervention', 0.297]]
    """
    params = _default_parameters() if parameters is None else parameters
    if not isinstance(params, Parameters):
        raise ConfigurationError(f"parameters must come from load_parameters(); got {type(params).__name__}.")
    if cycle not in get_args(Cycle):
        raise ConfigurationError(f"cycle must be one of {get_args(Cycle)}; got {cycle!r}.")
    if engine not in get_args(EngineName):
        raise ConfigurationError(f"engine must be one of {get_args(EngineName)}; got {engine!r}.")
    if isinstance(years, bool) or not isinstance(years, (int, np.integer)) or not 1 <= int(years) <= 60:
        raise ConfigurationError(f"years must be a whole number from 1 to 60; got {years!r}.")
    if (isinstance(uptake, bool) or not isinstance(uptake, (int, float, np.integer, np.floating))
            or not 0 <= float(uptake) <= 1):
        raise ConfigurationError(f"uptake must be a share in [0, 1]; got {uptake!r}.")
    if effect is None:
        eff = Effect()
    elif isinstance(effect, Effect):
        eff = effect
    elif isinstance(effect, (int, float, np.integer, np.floating)) and not isinstance(effect, bool):
        eff = Effect(hr_certification=float(effect))
    else:
        raise ConfigurationError(f"effect must be None, a hazard ratio (float) or an Effect; got {effect!r}.")
    if covariate_hr is not None and not isinstance(covariate_hr, str):
        raise ConfigurationError(f"covariate_hr must be a column name or None; got {covariate_hr!r}.")
    if n_threads is not None and (isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer))
                                  or n_threads < 1):
        raise ConfigurationError(f"n_threads must be a whole number >= 1 or None; got {n_threads!r}.")
    if not isinstance(frailty, (bool, np.bool_)):
        raise ConfigurationError(f"frailty must be True or False; got {frailty!r}.")
    frailty = bool(frailty)
    if frailty and not params.has_frailty:
        raise ConfigurationError(
            "frailty=True needs the parameters' frailty section (frailty.kcl_cutoffs, "
            "frailty.certification_hazard_ratio, frailty.reference_mix, frailty.annual_transition_matrix).")
    codes, use_mult = _codes_of(population, params, covariate_hr, frailty)
    if not frailty:
        codes.pop("frailty", None)
    tables = _tables(params, int(years), cycle, eff, frailty)
    if engine == "microsim":
        rng, key = _rng_key(seed)
        n = len(codes["sex"])
        codes["variant"] = (rng.random(n) < float(uptake)).astype(np.uint8) if uptake < 1 else np.ones(n, np.uint8)
        if "pid" in codes and uptake < 1:  # participation drawn in population order, read in the run's order
            codes["variant"] = codes["variant"][codes["pid"]]
        occ, newc, dth, focc = run_microsim(codes, tables, key=key, use_mult=use_mult,
                                            n_threads=None if n_threads is None else int(n_threads))
    else:
        from .cohort import run_cohort

        occ, newc, dth, focc = run_cohort(codes, tables, uptake=float(uptake))
    return Projection(
        occupancy_detail=occ, new_certifications_detail=newc, deaths_detail=dth,
        ages=np.asarray(params.ages), dt=tables.dt, years=int(years), cycle=cycle, engine=engine,
        effect=eff if effect is not None else None, uptake=float(uptake), n_persons=len(codes["sex"]),
        ltc_cost_month=np.asarray(params.ltc_cost_month), medical_cost_year=np.asarray(params.medical_cost_year),
        discount_rate=params.discount_rate, frailty_detail=focc,
    )
