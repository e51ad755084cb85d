"""Andrews–Roth–Pakes (ARP) moment-inequality tests with linear nuisance parameters, inverted over a
grid of θ values in one vectorised pass.

The test (Andrews, Roth & Pakes 2023, sections 3–5; Rambachan & Roth 2023, section 3) is of

    H0: there is ν with  E[Y(θ)] − X ν ≤ 0,     Y(θ) = A β̂ − d − a θ,   Var Y = A Σ A',

with statistic η̂ = min_ν max_j (Y_j − X_j ν) / σ_j (σ_j = sd of Y_j). By linear-programming
duality η̂ = max over the vertices γ of the dual polytope {γ ≥ 0, σ'γ = 1, X'γ = 0} of γ'Y. The
moment systems of Δ^RM and Δ^SD are small (2·T_post moments, T_post − 1 nuisance parameters when
only the moments involving post periods are used), so the dual vertices are enumerated once per
polyhedron (basic solutions of an n × k system, n ≤ 2·T_post, k = T_post) and then every
quantity the test needs is a matrix product over the whole θ grid:

* the optimal vertex γ̂(θ) and η̂(θ);
* the truncation interval [V_lo, V_up] of the conditional test: holding S = Y − b γ̂'Y fixed with
  b = Σγ̂ / γ̂'Σγ̂, the vertex γ̂ stays optimal for η ∈ [V_lo, V_up] where, over all vertices γ,
  V_lo = max_{γ'b<1} γ'S / (1 − γ'b) and V_up = min_{γ'b>1} γ'S / (1 − γ'b) (ARP, Lemma 9's
  characterisation through the dual; HonestDiD finds the same end points by bisection);
* the least-favourable critical value (1 − κ quantile of max_γ γ'ξ, ξ ~ N(0, Σ_Y), 1,000 draws);
* the conditional (ARP) or conditional-least-favourable hybrid (C-LF) decision: the hybrid rejects
  when η̂ exceeds the LF critical value, otherwise it applies the conditional test at level
  (α − κ)/(1 − κ) with V_up capped at the LF critical value; the conditional test rejects when
  η̂ > max(0, c), c the 1 − level quantile of N(0, γ̂'Σγ̂) truncated to [V_lo, V_up].

This module is private; :mod:`wellness_research.did.honest` is the public entry point.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from scipy.special import log_ndtr

from ..errors import ProblemSizeError

__all__: list[str] = []

#: Largest number of candidate bases (n choose k) enumerated for the dual vertices.
MAX_BASES = 200_000


def dual_vertices(sigma_y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Vertices of {γ ≥ 0 : σ'γ = 1, X'γ = 0}, one per row (duplicates removed).

    ``x`` may be rank deficient; it is replaced by an orthonormal basis of its column space (the
    nuisance parameters are free, so only that space matters).
    """
    n = sigma_y.shape[0]
    if x.size:
        u, s, _ = np.linalg.svd(x, full_matrices=False)
        rank = int(np.sum(s > s[0] * 1e-10)) if s.size and s[0] > 0 else 0
        x = u[:, :rank]
    else:
        x = np.zeros((n, 0))
    w = np.column_stack([sigma_y, x])
    k = w.shape[1]
    n_bases = math.comb(n, k)
    if n_bases > MAX_BASES:
        raise ProblemSizeError(
            f"honest_did: the moment system has {n} inequalities and {k - 1} nuisance directions, "
            f"{n_bases:,} candidate bases (limit {MAX_BASES:,}); use fewer post periods."
        )
    if k > n:
        return np.zeros((0, n))
    combos = np.array(list(combinations(range(n), k)), dtype=np.intp).reshape(-1, k)
    wb = np.transpose(w[combos], (0, 2, 1))  # (C, k, k): W_B'
    sv = np.linalg.svd(wb, compute_uv=False)
    ok = sv[:, -1] > sv[:, 0] * 1e-10
    combos, wb = combos[ok], wb[ok]
    rhs = np.zeros((wb.shape[0], k, 1))
    rhs[:, 0, 0] = 1.0
    gb = np.linalg.solve(wb, rhs)[:, :, 0]
    feasible = np.all(gb >= -1e-9 * np.abs(gb).max(axis=1, keepdims=True), axis=1)
    gamma = np.zeros((int(feasible.sum()), n))
    rows = np.arange(gamma.shape[0])[:, None]
    gamma[rows, combos[feasible]] = np.clip(gb[feasible], 0.0, None)
    if gamma.shape[0] > 1:
        gamma = np.unique(gamma, axis=0)  # exact duplicates (degenerate bases)
    return gamma


def _log_diff_ndtr(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """log(Φ(hi) − Φ(lo)) for hi ≥ lo, accurate in both tails."""
    upper = lo > 0  # use the survival side: Φ(hi) − Φ(lo) = Φ(−lo) − Φ(−hi)
    a = np.where(upper, -lo, hi)
    b = np.where(upper, -hi, lo)
    la, lb = log_ndtr(a), log_ndtr(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return la + np.log1p(-np.exp(np.minimum(lb - la, 0.0)))


def least_favourable_cv(vertices: np.ndarray, draws: np.ndarray, root: np.ndarray,
                        kappa: float) -> float:
    """1 − κ quantile of max_γ γ'ξ, ξ = root·z over the standard normal rows z of ``draws``
    (root·root' = Var Y); computed as z·(γ'root)' so that only one small product is formed."""
    if vertices.shape[0] == 0:
        return math.inf
    eta = (draws @ (vertices @ root).T).max(axis=1)
    return float(np.quantile(eta, 1.0 - kappa))


def arp_accept(
    y0: np.ndarray,
    a: np.ndarray,
    x: np.ndarray,
    sigma_y: np.ndarray,
    grid: np.ndarray,
    *,
    alpha: float,
    hybrid: bool,
    kappa: float,
    draws: np.ndarray,
    root: np.ndarray,
) -> np.ndarray:
    """Accept (True) / reject at each θ of ``grid`` the hypothesis of the module docstring.

    Parameters
    ----------
    y0, a : numpy.ndarray
        Y(θ) = y0 − a θ, length n.
    x : numpy.ndarray
        Nuisance design X (n × p, p may be 0).
    sigma_y : numpy.ndarray
        Var Y (n × n).
    grid : numpy.ndarray
        θ values.
    alpha, kappa : float
        Size, and first-stage size of the hybrid.
    hybrid : bool
        Conditional-least-favourable hybrid (True) or purely conditional test (False).
    draws, root : numpy.ndarray
        Standard normal draws (one per row) and a square root of Var Y (``root @ root.T``), for
        the least-favourable critical value.
    """
    sd = np.sqrt(np.clip(np.diag(sigma_y), 0.0, None))
    if np.any(sd <= 0):
        raise ProblemSizeError("honest_did: a moment has zero variance; Σ is singular along it.")
    verts = dual_vertices(sd, x)
    if verts.shape[0] == 0:  # dual infeasible: η̂ = −∞, never reject
        return np.ones(grid.shape[0], dtype=bool)
    y = y0[:, None] - a[:, None] * grid[None, :]  # n × G
    scores = verts @ y  # m × G
    idx = np.argmax(scores, axis=0)
    cols = np.arange(grid.shape[0])
    eta = scores[idx, cols]
    # A vertex combining a moment with its mirror image (±the same row of A) has γ'Y = −γ'd, a
    # constant ≤ 0 with zero variance: when it is optimal, η̂ ≤ 0 and the test cannot reject.
    v2_all = np.einsum("mn,nk,mk->m", verts, sigma_y, verts)
    degenerate = v2_all <= 1e-10 * max(float(v2_all.max()), 1e-300)
    g_hat = verts[idx]  # G × n
    sg = g_hat @ sigma_y
    deg = degenerate[idx]
    v2 = np.where(deg, 1.0, v2_all[idx])
    b = sg / v2[:, None]
    gb = verts @ b.T  # m × G
    gs = scores - gb * eta[None, :]
    den = 1.0 - gb
    tol = 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = gs / den
    vlo = np.where(den > tol, ratio, -np.inf).max(axis=0)
    vup = np.where(den < -tol, ratio, np.inf).min(axis=0)
    level = alpha
    reject = np.zeros(grid.shape[0], dtype=bool)
    if hybrid:
        cv = least_favourable_cv(verts, draws, root, kappa)
        reject |= eta > cv
        vup = np.minimum(vup, cv)
        level = (alpha - kappa) / (1.0 - kappa)
    s = np.sqrt(v2)
    lo, hi, z = vlo / s, vup / s, eta / s
    z = np.clip(z, lo, hi)
    live = (hi - lo) > 1e-12
    # 1 − F_TN(η) = (Φ(hi) − Φ(z)) / (Φ(hi) − Φ(lo)) < level  ⇔  η above the critical value
    with np.errstate(invalid="ignore"):
        log_tail = _log_diff_ndtr(hi, z) - _log_diff_ndtr(hi, lo)
    second = live & (eta > 0) & (log_tail < math.log(level))
    reject |= second & ~deg
    reject |= deg & (eta > 0)
    return ~reject
