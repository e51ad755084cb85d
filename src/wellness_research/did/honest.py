"""Rambachan–Roth ("HonestDiD") sensitivity of an event study to violations of parallel trends.

:func:`honest_did` takes event-study coefficients β̂ (pre-periods then post-periods, the reference
period −1 omitted, i.e. a universal base period) and their covariance Σ, and returns confidence
sets for θ = l'τ_post that stay valid when the post-period violations of parallel trends δ_post are
only restricted to a set Δ calibrated on the pre-periods:

* ``method="relative_magnitude"``, Δ^RM(M̄): every post-period change of the violation is at most
  M̄ times the largest pre-period change, |δ_{t+1} − δ_t| ≤ M̄ · max_{s<0} |δ_{s+1} − δ_s|.
  Δ^RM is a union over the location and sign of the largest pre-period change of polyhedra; the
  confidence set is the union of the per-polyhedron ARP tests, inverted on a θ grid. Default
  ``ci_method="C-LF"`` (conditional-least-favourable hybrid), as the authors recommend.
* ``method="smoothness"``, Δ^SD(M): the slope of the violation changes by at most M between
  consecutive periods, |(δ_{t+1} − δ_t) − (δ_t − δ_{t−1})| ≤ M (M = 0: linear extrapolation of
  the pre-trend). Default ``ci_method="FLCI"`` (optimal fixed-length interval, closed-form bias and
  a convex minimisation of the half-length, see :mod:`wellness_research.did._honest_flci`);
  ``"C-LF"`` and ``"Conditional"`` are also available.

Conventions follow the HonestDiD R package (2023): moments that involve only pre-periods are left
out of the ARP test (``postPeriodMomentsOnly = TRUE``); the hybrid's first-stage size is κ = α/10;
the θ grid has ``grid_points`` = 1,000 points, by default the identified set at β̂
± 20·sd(l'β̂_post) for each M̄ (M), as HonestDiD's ``createSensitivityResults*`` and moderndid's
``create_sensitivity_results_*``; the reported end points are the smallest and largest accepted grid
points. Every one of the T_pre pre-period changes (δ_{−T_pre+1} − δ_{−T_pre}, …, δ_0 − δ_{−1}) is a
candidate for the largest, as in the paper, the R package and ``honestdid`` 0.1.1 (moderndid 0.2.0
leaves out the earliest change, so its sets are narrower whenever that change is the largest).
One deliberate difference: the least-favourable critical value is estimated from 10,000 normal
draws (``lf_draws``, ``seed``) instead of 1,000, so that it sits closer to the quantile it estimates
(with 1,000 draws the end points move by about a grid step from seed to seed).

Everything is numpy/scipy: the dual vertices of each moment system are enumerated once and every
grid point is tested in one vectorised pass (:mod:`wellness_research.did._honest_arp`), so five M̄
values take a fraction of a second where the Python ports take minutes. Beyond 200,000 candidate
bases (about 12 or more post periods, e.g. monthly event studies) ``solver="auto"`` switches to
linear programs (HiGHS through :func:`scipy.optimize.linprog`): one LP per optimal basis met along
the same θ grid (the basis stays optimal on an interval of θ given in closed form), truncation
bounds exact (closed form for a regular basis, Newton steps on the dual program otherwise), and
only θ outside the hull already accepted are scanned. The end points are those of the same grid
(no coarser grid, no bisection), equal to the vertex path's on the castle event study; the
least-favourable critical value is the same Monte Carlo quantile, computed with LPs for the draws
near it only.

References
----------
Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. *Review of Economic
Studies* 90(5), 2555–2591 (Δ^RM: section 2.4.2, eq. (8); Δ^SD: eq. (6); inference: section 3;
FLCI: section 4.1; union over polyhedra: Lemma 2.2 / footnote on Δ^RM).
Andrews, I., Roth, J. and Pakes, A. (2023). Inference for linear conditional moment inequalities.
*Review of Economic Studies* 90(6), 2763–2791 (conditional and hybrid tests, sections 3–5).
Armstrong, T. and Kolesár, M. (2018). Optimal inference in a class of regression models.
*Econometrica* 86(2), 655–683 (fixed-length confidence intervals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.special import ndtri

from ..errors import ConfigurationError
from ._honest_arp import MAX_BASES, arp_accept, arp_accept_lp, candidate_bases
from ._honest_flci import optimal_flci, second_difference_matrix

__all__ = ["HonestResult", "honest_did", "honest_did_from"]

HonestMethod = Literal["relative_magnitude", "smoothness"]
CIMethod = Literal["C-LF", "Conditional", "FLCI"]
Target = Literal["first", "average"]
Solver = Literal["auto", "vertices", "lp"]

#: HonestDiD's other spellings (its ``hybrid_flag``) mapped to the method names used here.
_CI_ALIASES = {"LF": "C-LF", "ARP": "Conditional", "conditional": "Conditional", "c-lf": "C-LF",
               "flci": "FLCI"}
_VALID_CI = {"relative_magnitude": ("C-LF", "Conditional"),
             "smoothness": ("FLCI", "C-LF", "Conditional")}
_TIDY_COLUMNS = ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class HonestResult:
    """Robust confidence sets for θ = l'τ_post, one per value of M̄ (or M).

    Attributes
    ----------
    method : {"relative_magnitude", "smoothness"}
    ci_method : {"C-LF", "Conditional", "FLCI"}
    target : str
        ``"first"``, ``"average"`` or ``"custom"`` (an ``l_vec`` given as an array).
    l_vec : numpy.ndarray
        Weights on the post-period effects.
    m_values : numpy.ndarray
        M̄ (relative magnitudes) or M (smoothness), increasing.
    conf_low, conf_high : numpy.ndarray
        Robust ``1 − alpha`` confidence set end points per M (NaN if the set is empty).
    id_low, id_high : numpy.ndarray
        Identified set of θ at β = β̂ (no sampling error) per M; NaN when β̂_pre itself violates
        Δ (possible under smoothness with a small M).
    grid_step : numpy.ndarray
        Spacing of the θ grid per M (NaN for the FLCI, which needs no grid).
    grid_low, grid_high : numpy.ndarray
        The θ grid's ends per M (NaN for the FLCI).
    center : numpy.ndarray
        FLCI centre (the optimal affine estimator c'β̂) per M; NaN for grid-based methods.
    estimate, std_error : float
        l'β̂_post and its standard error.
    original_low, original_high : float
        The usual ``1 − alpha`` interval under exact parallel trends, l'β̂_post ± z·se.
    num_pre, num_post : int
    alpha : float
    kappa : float or None
        First-stage size of the hybrid (None when not a hybrid).
    seed : int or None
        Seed of the least-favourable critical-value draws.
    notes : tuple of str
        E.g. an interval that reached the end of its grid.
    """

    method: str
    ci_method: str
    target: str
    l_vec: np.ndarray
    m_values: np.ndarray
    conf_low: np.ndarray
    conf_high: np.ndarray
    id_low: np.ndarray
    id_high: np.ndarray
    grid_step: np.ndarray
    grid_low: np.ndarray
    grid_high: np.ndarray
    center: np.ndarray
    estimate: float
    std_error: float
    original_low: float
    original_high: float
    num_pre: int
    num_post: int
    alpha: float = 0.05
    kappa: float | None = None
    seed: int | None = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def parameter(self) -> str:
        """``"Mbar"`` for relative magnitudes, ``"M"`` for smoothness."""
        return "Mbar" if self.method == "relative_magnitude" else "M"

    @property
    def breakdown(self) -> float | None:
        """Largest M̄ (M) among :attr:`m_values` up to which every robust set excludes 0.

        None when the set at the smallest value already contains 0. Resolution is that of
        :attr:`m_values`; pass a finer ``m_values`` for a finer breakdown value.
        """
        value = None
        for m, lo, hi in zip(self.m_values, self.conf_low, self.conf_high):
            if np.isnan(lo) or (lo <= 0.0 <= hi):
                break
            value = float(m)
        return value

    def tidy(self, *, include_original: bool = False) -> pd.DataFrame:
        """One row per M̄ (M): the house columns plus ``m``, ``lb``, ``ub``, the method, target,
        identified set and grid step. ``include_original`` adds the parallel-trends interval first
        (``m`` NaN, ``ci_method`` "original")."""
        level = f"{self.parameter}="
        rows = []
        if include_original:
            rows.append({
                "term": "theta (original)", "estimate": self.estimate, "std_error": self.std_error,
                "conf_low": self.original_low, "conf_high": self.original_high, "p_value": np.nan,
                "n": np.nan, "m": np.nan, "lb": self.original_low, "ub": self.original_high,
                "method": "original", "ci_method": "original", "target": self.target,
                "id_low": self.estimate, "id_high": self.estimate, "grid_step": np.nan,
            })
        for k, m in enumerate(self.m_values):
            rows.append({
                "term": f"theta ({level}{m:g})", "estimate": self.estimate,
                "std_error": self.std_error, "conf_low": self.conf_low[k],
                "conf_high": self.conf_high[k], "p_value": np.nan, "n": np.nan, "m": float(m),
                "lb": self.conf_low[k], "ub": self.conf_high[k], "method": self.method,
                "ci_method": self.ci_method, "target": self.target, "id_low": self.id_low[k],
                "id_high": self.id_high[k], "grid_step": self.grid_step[k],
            })
        return pd.DataFrame(rows, columns=_TIDY_COLUMNS + [
            "m", "lb", "ub", "method", "ci_method", "target", "id_low", "id_high", "grid_step"])

    def summary(self) -> str:
        """Plain-text summary."""
        level = f"{100 * (1 - self.alpha):g}%"
        name = {"relative_magnitude": "relative magnitudes, Delta^RM(Mbar)",
                "smoothness": "smoothness, Delta^SD(M)"}[self.method]
        lines = [
            f"HonestDiD sensitivity ({name}); {level} {self.ci_method} confidence sets",
            f"  target theta = l'tau_post, l = {np.array2string(self.l_vec, precision=3)}"
            f" ({self.target}); {self.num_pre} pre, {self.num_post} post periods",
            f"  estimate {self.estimate: .4f} (se {self.std_error:.4f}); original CI "
            f"[{self.original_low:.4f}, {self.original_high:.4f}]",
            f"  {self.parameter:>6}  {'lb':>10}  {'ub':>10}",
        ]
        for m, lo, hi in zip(self.m_values, self.conf_low, self.conf_high):
            lines.append(f"  {m:6.3g}  {lo:10.4f}  {hi:10.4f}")
        b = self.breakdown
        lines.append(f"  breakdown {self.parameter}: "
                     + ("none (the set at the smallest value contains 0)" if b is None
                        else f"{b:g} (largest value tried whose set excludes 0)"))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy(include_original=True).to_html(
            index=False, float_format=lambda v: f"{v:.4f}")

    def plot(self, ax: Any = None) -> Any:
        """Sensitivity plot (HonestDiD's ``createSensitivityPlot``): the original interval at the
        left, then the robust set for each M̄ (M). Returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        m = np.asarray(self.m_values, dtype=float)
        gap = float(np.min(np.diff(m))) if m.size > 1 else 1.0
        x0 = m.min() - gap
        ax.errorbar([x0], [self.estimate], yerr=[[self.estimate - self.original_low],
                                                 [self.original_high - self.estimate]],
                    fmt="o", color="tab:red", capsize=3, label="Original")
        mid = (self.conf_low + self.conf_high) / 2.0
        ax.errorbar(m, mid, yerr=[mid - self.conf_low, self.conf_high - mid], fmt="none",
                    color="tab:blue", capsize=3, label=self.ci_method)
        ax.axhline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("Mbar" if self.method == "relative_magnitude" else "M")
        ax.set_ylabel("theta")
        ax.legend(frameon=False)
        return ax


# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------
def honest_did(
    beta: Any,
    sigma: np.ndarray | None = None,
    *,
    num_pre: int | None = None,
    num_post: int | None = None,
    method: HonestMethod = "relative_magnitude",
    m_values: Any = None,
    target: Target | Any = "first",
    alpha: float = 0.05,
    ci_method: str | None = None,
    grid_points: int = 1000,
    grid_lb: float | None = None,
    grid_ub: float | None = None,
    kappa: float | None = None,
    lf_draws: int = 10_000,
    seed: int | np.random.Generator | None = 0,
    solver: Solver = "auto",
) -> HonestResult:
    """Rambachan–Roth robust confidence sets for an event-study effect.

    Parameters
    ----------
    beta : array-like or result
        Event-study coefficients, pre-periods then post-periods, the reference period (event time
        −1) omitted. An object with ``.beta``, ``.sigma``, ``.num_pre``, ``.num_post`` (e.g.
        :class:`~wellness_research.did.EventStudyResult`) is also accepted; then leave ``sigma``,
        ``num_pre`` and ``num_post`` unset.
    sigma : numpy.ndarray
        Covariance matrix of ``beta``.
    num_pre, num_post : int
        Number of pre- and post-period coefficients (``num_pre + num_post == len(beta)``).
    method : {"relative_magnitude", "smoothness"}, default "relative_magnitude"
        The restriction Δ^RM(M̄) or Δ^SD(M).
    m_values : array-like, optional
        Values of M̄ (M). Defaults as HonestDiD: 10 values on [0, 2] for M̄; for M, 10 values from 0
        to an upper confidence bound on the largest pre-period second difference (one pre-period:
        to its standard error).
    target : {"first", "average"} or array-like, default "first"
        θ = τ of the first post period, the average post-period effect, or l'τ_post for a given
        weight vector l of length ``num_post``.
    alpha : float, default 0.05
    ci_method : {"C-LF", "Conditional", "FLCI"}, optional
        Default "C-LF" for relative magnitudes, "FLCI" for smoothness (the authors'
        recommendations). HonestDiD's spellings "LF" and "ARP" are accepted.
    grid_points : int, default 1000
        θ grid size for the grid-based methods.
    grid_lb, grid_ub : float, optional
        θ grid ends (defaults in the module notes).
    kappa : float, optional
        First-stage size of the C-LF hybrid; default ``alpha / 10``.
    lf_draws : int, default 10000
        Normal draws for the least-favourable critical value of the C-LF hybrid (a Monte Carlo
        estimate of a fixed 1 − κ quantile). HonestDiD uses 1,000, which moves end points by about
        one grid step from seed to seed; 10,000 cuts that Monte Carlo error about threefold.
    seed : int, numpy.random.Generator or None, default 0
        For those draws.
    solver : {"auto", "vertices", "lp"}, default "auto"
        How the ARP tests of the grid-based methods are computed. ``"vertices"`` enumerates the
        dual vertices of each moment system once and tests the whole grid with matrix products
        (fast for a few post periods; raises :class:`~wellness_research.errors.ProblemSizeError`
        beyond 200,000 candidate bases, e.g. 12 or more post periods). ``"lp"`` solves the ARP
        linear programs with HiGHS along the grid (one LP per optimal basis met, not per grid
        point; see :func:`~wellness_research.did._honest_arp.arp_accept_lp`); it gives the same
        end points on the same grid. ``"auto"`` uses the vertices when there are at most 200,000
        candidate bases and the LPs otherwise.

    Returns
    -------
    HonestResult

    Raises
    ------
    ConfigurationError
        On inconsistent shapes, a non-symmetric or non-positive-semidefinite ``sigma``, an
        invalid option, negative M values, or a reference period other than −1.

    References
    ----------
    Rambachan & Roth (2023), eqs. (6) and (8), section 3 and 4.1; Andrews, Roth & Pakes (2023),
    sections 3–5 (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from wellness_research.did.honest import honest_did
    >>> beta = np.array([0.01, -0.01, 0.00, 0.30, 0.35])  # 3 pre, 2 post periods
    >>> sigma = np.diag([0.005, 0.005, 0.005, 0.01, 0.01])
    >>> res = honest_did(beta, sigma, num_pre=3, num_post=2, m_values=[0, 1, 2, 4])
    >>> res.tidy()[["m", "lb", "ub"]].round(2)
         m    lb    ub
    0  0.0  0.11  0.49
    1  1.0  0.04  0.56
    2  2.0 -0.11  0.71
    3  4.0 -0.46  1.06
    >>> res.breakdown
    1.0
    """
    where = "honest_did"
    beta, sigma, num_pre, num_post, reference = _unpack(beta, sigma, num_pre, num_post)
    if reference is not None and reference != -1:
        raise ConfigurationError(
            f"{where}: the event study's reference period is {reference}; the Rambachan–Roth "
            "restrictions assume the omitted period is −1 (the last pre-period). Re-estimate with "
            "reference=-1."
        )
    beta, sigma = _check_beta_sigma(beta, sigma, num_pre, num_post, where)
    if method not in get_args(HonestMethod):
        raise ConfigurationError(
            f"{where}: method={method!r} is not valid; expected one of "
            + ", ".join(repr(v) for v in get_args(HonestMethod)) + ".")
    ci_method = _check_ci_method(ci_method, method, where)
    if not (isinstance(alpha, (int, float)) and 0.0 < float(alpha) < 0.5):
        raise ConfigurationError(f"{where}: alpha={alpha!r} must be a number in (0, 0.5).")
    alpha = float(alpha)
    if kappa is None:
        kappa = alpha / 10.0
    if not (0.0 < float(kappa) < alpha):
        raise ConfigurationError(f"{where}: kappa={kappa!r} must lie in (0, alpha={alpha}).")
    if not isinstance(lf_draws, (int, np.integer)) or lf_draws < 100:
        raise ConfigurationError(f"{where}: lf_draws={lf_draws!r} must be an integer >= 100.")
    if not isinstance(grid_points, (int, np.integer)) or grid_points < 2:
        raise ConfigurationError(f"{where}: grid_points={grid_points!r} must be an integer >= 2.")
    if solver not in get_args(Solver):
        raise ConfigurationError(
            f"{where}: solver={solver!r} is not valid; expected one of "
            + ", ".join(repr(v) for v in get_args(Solver)) + ".")
    l_vec, target_name = _check_target(target, num_post, where)
    m_values = _check_m_values(m_values, method, beta, sigma, num_pre, num_post, alpha, where)

    post = slice(num_pre, num_pre + num_post)
    estimate = float(l_vec @ beta[post])
    std_error = math.sqrt(float(l_vec @ sigma[post, post] @ l_vec))
    z = float(ndtri(1.0 - alpha / 2.0))
    n_m = m_values.shape[0]
    lows, highs = np.full(n_m, np.nan), np.full(n_m, np.nan)
    id_lo, id_hi = np.full(n_m, np.nan), np.full(n_m, np.nan)
    g_lo, g_hi, step = np.full(n_m, np.nan), np.full(n_m, np.nan), np.full(n_m, np.nan)
    center = np.full(n_m, np.nan)
    notes: list[str] = []

    for k, m in enumerate(m_values):
        id_lo[k], id_hi[k] = (_id_set_rm if method == "relative_magnitude" else _id_set_sd)(
            beta, l_vec, num_pre, num_post, m)

    if ci_method == "FLCI":
        for k, fl in enumerate(optimal_flci(beta, sigma, num_pre, num_post, l_vec, m_values,
                                            alpha)):
            lows[k], highs[k] = fl.center - fl.half_length, fl.center + fl.half_length
            center[k] = fl.center
    else:
        rng = np.random.default_rng(seed)
        draws = rng.standard_normal((int(lf_draws), num_pre + num_post))
        root = _sqrt_psd(sigma)
        hybrid = ci_method == "C-LF"
        used: set[str] = set()
        for k, m in enumerate(m_values):
            lb_k, ub_k = grid_lb, grid_ub
            if lb_k is None or ub_k is None:
                # identified set ± 20 sd (an empty set falls back to the estimate)
                lo_id = estimate if np.isnan(id_lo[k]) else id_lo[k]
                hi_id = estimate if np.isnan(id_hi[k]) else id_hi[k]
                lb_k = lo_id - 20.0 * std_error if lb_k is None else lb_k
                ub_k = hi_id + 20.0 * std_error if ub_k is None else ub_k
            if not ub_k > lb_k:
                raise ConfigurationError(
                    f"{where}: grid_lb={lb_k!r} must be below grid_ub={ub_k!r}.")
            grid = np.linspace(lb_k, ub_k, int(grid_points))
            accept = np.zeros(grid.shape[0], dtype=bool)
            seen: set[bytes] = set()
            for a_mat, d_vec in _ordered_polyhedra(method, beta, num_pre, num_post, float(m)):
                rows = np.any(a_mat[:, num_pre:] != 0.0, axis=1)
                a_r, d_r = a_mat[rows], d_vec[rows]
                key = a_r.tobytes() + d_r.tobytes()
                if key in seen:  # M̄ = 0: every polyhedron gives the same post-period moments
                    continue
                seen.add(key)
                on = np.flatnonzero(accept)
                accept |= _test_polyhedron(
                    a_r, d_r, beta, sigma, root, draws, l_vec, num_pre, grid, alpha, hybrid,
                    float(kappa), solver, lower_stop=int(on[0]) if on.size else None,
                    upper_stop=int(on[-1]) if on.size else None, used=used)
            g_lo[k], g_hi[k], step[k] = grid[0], grid[-1], grid[1] - grid[0]
            if accept.any():
                lows[k], highs[k] = grid[accept].min(), grid[accept].max()
                if accept[0] or accept[-1]:
                    notes.append(f"{_param(method)}={m:g}: the confidence set reaches the end of "
                                 "the theta grid; widen grid_lb/grid_ub.")
            else:
                notes.append(f"{_param(method)}={m:g}: no theta on the grid is accepted (empty "
                             "confidence set: the pre-period coefficients reject Delta).")

        if "lp" in used:
            notes.append("ARP tests solved by linear programming (solver='lp' or a moment system "
                         f"beyond {MAX_BASES:,} candidate bases); end points on the same grid.")
    return HonestResult(
        method=method, ci_method=ci_method, target=target_name, l_vec=l_vec, m_values=m_values,
        conf_low=lows, conf_high=highs, id_low=id_lo, id_high=id_hi, grid_step=step,
        grid_low=g_lo, grid_high=g_hi, center=center, estimate=estimate, std_error=std_error,
        original_low=estimate - z * std_error, original_high=estimate + z * std_error,
        num_pre=num_pre, num_post=num_post, alpha=alpha,
        kappa=float(kappa) if ci_method == "C-LF" else None,
        seed=seed if isinstance(seed, (int, np.integer)) or seed is None else None,
        notes=tuple(notes),
    )


def honest_did_from(result: Any, **kwargs: Any) -> HonestResult:
    """:func:`honest_did` on an event-study result (anything with ``.beta``, ``.sigma``,
    ``.num_pre``, ``.num_post``; its ``.reference`` must be −1 if it has one).

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> es = SimpleNamespace(beta=np.array([0.0, 0.01, 0.2, 0.25]), sigma=np.eye(4) * 0.01,
    ...                      num_pre=2, num_post=2)
    >>> res = honest_did_from(es, method="smoothness", m_values=[0.0, 0.05])
    >>> res.tidy()[["m", "lb", "ub"]].round(3)
          m     lb     ub
    0  0.00 -0.013  0.417
    1  0.05 -0.048  0.454
    """
    return honest_did(result, **kwargs)


# --------------------------------------------------------------------------------------------
# restrictions
# --------------------------------------------------------------------------------------------
def _param(method: str) -> str:
    return "Mbar" if method == "relative_magnitude" else "M"


def _polyhedra(method: str, num_pre: int, num_post: int, m: float):
    """Yield (A, d) with Δ = ∪ {δ : A δ ≤ d} (δ without the reference period)."""
    t = num_pre + num_post
    if method == "smoothness":
        dmat = second_difference_matrix(num_pre, num_post)
        yield np.vstack([dmat, -dmat]), np.full(2 * dmat.shape[0], m)
        return
    # first differences of (δ_pre, δ_0 = 0, δ_post): row j is δ_{j+1} − δ_j over positions 0..t
    first = np.zeros((t, t + 1))
    for j in range(t):
        first[j, j : j + 2] = (-1.0, 1.0)
    for j_s in range(num_pre):  # the largest pre-period change is change j_s ...
        for sign in (1.0, -1.0):  # ... and it is positive / negative
            v = sign * first[j_s]
            bound = np.vstack([np.tile(v, (num_pre, 1)), np.tile(m * v, (num_post, 1))])
            a_full = np.vstack([first - bound, -first - bound])
            a_full = a_full[np.einsum("ij,ij->i", a_full, a_full) > 1e-10]
            a_mat = np.delete(a_full, num_pre, axis=1)
            yield a_mat, np.zeros(a_mat.shape[0])


def _ordered_polyhedra(method, beta, num_pre, num_post, m):
    """The pieces of Δ, the relative-magnitudes ones ordered by how large their pre-period change
    is at β̂ (largest first): the piece holding β̂ usually accepts the widest set, so later pieces
    on the linear-programming path only scan θ outside the hull already accepted."""
    pieces = list(_polyhedra(method, num_pre, num_post, m))
    if method != "relative_magnitude":
        return pieces
    diffs = np.diff(np.concatenate([beta[:num_pre], [0.0]]))
    key = [-(1.0 if k % 2 == 0 else -1.0) * diffs[k // 2] for k in range(len(pieces))]
    return [pieces[k] for k in np.argsort(key, kind="stable")]


def _test_polyhedron(a_r, d_r, beta, sigma, root, draws, l_vec, num_pre, grid, alpha, hybrid,
                     kappa, solver="vertices", *, lower_stop=None, upper_stop=None, used=None):
    a_post = a_r[:, num_pre:]
    tau1 = l_vec / float(l_vec @ l_vec)
    null = _null_basis(l_vec)
    y0 = a_r @ beta - d_r
    sigma_y = a_r @ sigma @ a_r.T
    x = a_post @ null
    if solver == "auto":
        solver = "vertices" if candidate_bases(sigma_y, x) <= MAX_BASES else "lp"
    if used is not None:
        used.add(solver)
    if solver == "lp":
        accept, _ = arp_accept_lp(y0, a_post @ tau1, x, sigma_y, grid, alpha=alpha,
                                  hybrid=hybrid, kappa=kappa, draws=draws, root=a_r @ root,
                                  lower_stop=lower_stop, upper_stop=upper_stop)
        return accept
    return arp_accept(y0, a_post @ tau1, x, sigma_y, grid, alpha=alpha,
                      hybrid=hybrid, kappa=kappa, draws=draws, root=a_r @ root)


def _null_basis(l_vec: np.ndarray) -> np.ndarray:
    if l_vec.shape[0] == 1:
        return np.zeros((1, 0))
    _, _, vt = np.linalg.svd(l_vec[None, :])
    return vt[1:].T


def _id_set_rm(beta, l_vec, num_pre, num_post, m):
    """Identified set under Δ^RM(M̄) at β: l'β_post ∓ M̄ · max|pre change| · Σ_u |Σ_{t≥u} l_t|.

    With δ_pre = β_pre fixed, only the polyhedron of the largest pre-period change is non-empty and
    each post-period change ranges over [−M̄·max, M̄·max] independently (closed form of the LP)."""
    diffs = np.diff(np.concatenate([beta[:num_pre], [0.0]]))
    tail = np.cumsum(l_vec[::-1])[::-1]  # Σ_{t ≥ u} l_t
    half = m * float(np.max(np.abs(diffs))) * float(np.abs(tail).sum())
    centre = float(l_vec @ beta[num_pre:num_pre + num_post])
    return centre - half, centre + half


def _id_set_sd(beta, l_vec, num_pre, num_post, m):
    """Identified set under Δ^SD(M) at β (Rambachan & Roth 2023, Lemma 2.1): two LPs."""
    a_mat, d_vec = next(_polyhedra("smoothness", num_pre, num_post, m))
    t = num_pre + num_post
    obj = np.concatenate([np.zeros(num_pre), l_vec])
    a_eq = np.eye(num_pre, t)
    out = []
    for sense in (1.0, -1.0):
        res = linprog(sense * obj, A_ub=a_mat, b_ub=d_vec, A_eq=a_eq, b_eq=beta[:num_pre],
                      bounds=[(None, None)] * t, method="highs")
        out.append(sense * res.fun if res.status == 0 else np.nan)
    centre = float(l_vec @ beta[num_pre:])
    return centre - out[1], centre - out[0]


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _unpack(beta, sigma, num_pre, num_post):
    if all(hasattr(beta, a) for a in ("beta", "sigma", "num_pre", "num_post")):
        if sigma is not None or num_pre is not None or num_post is not None:
            raise ConfigurationError(
                "honest_did: given an event-study result, leave sigma, num_pre and num_post unset "
                "(they are read from the result).")
        ref = getattr(beta, "reference", None)
        return (np.asarray(beta.beta, dtype=float), np.asarray(beta.sigma, dtype=float),
                int(beta.num_pre), int(beta.num_post), None if ref is None else int(ref))
    if sigma is None or num_pre is None or num_post is None:
        raise ConfigurationError(
            "honest_did: give beta, sigma, num_pre and num_post (or an event-study result).")
    return np.asarray(beta, dtype=float), np.asarray(sigma, dtype=float), num_pre, num_post, None


def _check_beta_sigma(beta, sigma, num_pre, num_post, where):
    for name, v in (("num_pre", num_pre), ("num_post", num_post)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigurationError(f"{where}: {name}={v!r} must be an integer >= 1.")
    t = num_pre + num_post
    if beta.ndim != 1 or beta.shape[0] != t:
        raise ConfigurationError(
            f"{where}: beta has shape {beta.shape}; expected ({t},) = num_pre + num_post.")
    if sigma.shape != (t, t):
        raise ConfigurationError(f"{where}: sigma has shape {sigma.shape}; expected ({t}, {t}).")
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(sigma))):
        raise ConfigurationError(f"{where}: beta and sigma must be finite.")
    scale = max(float(np.max(np.abs(sigma))), 1e-300)
    if np.max(np.abs(sigma - sigma.T)) > 1e-8 * scale:
        raise ConfigurationError(f"{where}: sigma is not symmetric.")
    sigma = (sigma + sigma.T) / 2.0
    if np.linalg.eigvalsh(sigma).min() < -1e-10 * scale:
        raise ConfigurationError(f"{where}: sigma is not positive semi-definite.")
    return beta.copy(), sigma


def _check_ci_method(ci_method, method, where):
    valid = _VALID_CI[method]
    if ci_method is None:
        return valid[0]
    name = _CI_ALIASES.get(ci_method, ci_method) if isinstance(ci_method, str) else ci_method
    if name not in valid:
        raise ConfigurationError(
            f"{where}: ci_method={ci_method!r} is not valid for method={method!r}; expected one "
            "of " + ", ".join(repr(v) for v in valid) + " (HonestDiD's 'LF'/'ARP' also accepted)."
            + (" ('C-F', the FLCI hybrid, is not implemented.)" if name == "C-F" else ""))
    return name


def _check_target(target, num_post, where):
    if isinstance(target, str):
        if target == "first":
            l_vec = np.zeros(num_post)
            l_vec[0] = 1.0
            return l_vec, "first"
        if target == "average":
            return np.full(num_post, 1.0 / num_post), "average"
        raise ConfigurationError(
            f"{where}: target={target!r} is not valid; expected 'first', 'average' or an array "
            f"of {num_post} weights.")
    l_vec = np.asarray(target, dtype=float).ravel()
    if l_vec.shape[0] != num_post or not np.all(np.isfinite(l_vec)) or not np.any(l_vec != 0):
        raise ConfigurationError(
            f"{where}: target must have {num_post} finite weights, not all zero; got {target!r}.")
    return l_vec, "custom"


def _check_m_values(m_values, method, beta, sigma, num_pre, num_post, alpha, where):
    if m_values is None:
        if method == "relative_magnitude":
            return np.linspace(0.0, 2.0, 10)
        return np.linspace(0.0, _sd_upper_bound(beta, sigma, num_pre, alpha), 10)
    m = np.atleast_1d(np.asarray(m_values, dtype=float)).ravel()
    if m.size == 0 or not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ConfigurationError(
            f"{where}: m_values must be a non-empty list of finite values >= 0; got {m_values!r}.")
    return np.sort(m)


def _sd_upper_bound(beta, sigma, num_pre, alpha):
    """Default top of the M grid: upper 1 − alpha bound on the largest pre-period second
    difference (one pre-period: its standard error), as HonestDiD's ``DeltaSD_upperBound_Mpre``
    (equal to honestdid 0.1.1's to machine precision on the castle event study)."""
    if num_pre == 1:
        return math.sqrt(float(sigma[0, 0]))
    full = np.zeros((num_pre - 1, num_pre + 1))
    for r in range(num_pre - 1):
        full[r, r : r + 3] = (1.0, -2.0, 1.0)
    a = full[:, :num_pre]  # δ_0 = 0 drops out
    se = np.sqrt(np.einsum("ij,jk,ik->i", a, sigma[:num_pre, :num_pre], a))
    return float(np.max(np.abs(a @ beta[:num_pre]) + float(ndtri(1.0 - alpha)) * se))


def _sqrt_psd(sigma: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(sigma)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))
