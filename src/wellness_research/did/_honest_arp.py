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
from typing import Any

import numpy as np
from scipy.optimize import linprog
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
            f"{n_bases:,} candidate bases (limit {MAX_BASES:,}); use solver='lp' (or 'auto')."
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


# --------------------------------------------------------------------------------------------
# linear-programming path (large moment systems)
# --------------------------------------------------------------------------------------------
#: Feasibility tolerance (in standard-deviation units of the standardised moments).
_LP_TOL = 1e-9


def candidate_bases(sigma_y: np.ndarray, x: np.ndarray) -> int:
    """Number of candidate bases (n choose 1 + rank X) the vertex enumeration would examine."""
    n = sigma_y.shape[0]
    rank = int(np.linalg.matrix_rank(x)) if x.size else 0
    return math.comb(n, rank + 1)


def _decide(eta, v2, vlo, vup, deg, *, alpha, hybrid, kappa, cv):
    """ARP conditional / C-LF decision (True = accept) from the statistic η̂, Var(γ̂'Y) = v2 and
    the truncation bounds; ``deg`` marks a zero-variance optimal vertex (η̂ a constant)."""
    eta, v2 = np.asarray(eta, dtype=float), np.where(deg, 1.0, v2)
    level = alpha
    reject = np.zeros(eta.shape, dtype=bool)
    if hybrid:
        reject |= eta > cv
        vup = np.minimum(vup, cv)
        level = (alpha - kappa) / (1.0 - kappa)
    s = np.sqrt(v2)
    lo, hi, z = vlo / s, vup / s, eta / s
    z = np.clip(z, lo, hi)
    live = (hi - lo) > 1e-12
    with np.errstate(invalid="ignore"):
        log_tail = _log_diff_ndtr(hi, z) - _log_diff_ndtr(hi, lo)
    second = live & (eta > 0) & (log_tail < math.log(level))
    reject |= second & ~deg
    reject |= deg & (eta > 0)
    return ~reject


class _LPSystem:
    """Standardised moment system Ỹ(θ) = ỹ0 − ã θ (Ỹ_j = Y_j / sd_j), nuisance design X̃ with
    orthonormal columns, correlation matrix R. The ARP statistic is the LP
    η̂ = min_{η, ν} η  s.t.  Ỹ − X̃ν ≤ η·1, whose dual is max γ'Ỹ over
    P = {γ ≥ 0, 1'γ = 1, X̃'γ = 0} (γ here is the dual vertex of the module docstring times sd)."""

    def __init__(self, y0, a, x, sigma_y):
        sd = np.sqrt(np.clip(np.diag(sigma_y), 0.0, None))
        if np.any(sd <= 0):
            raise ProblemSizeError(
                "honest_did: a moment has zero variance; Σ is singular along it.")
        self.sd = sd
        self.y0, self.a = y0 / sd, a / sd
        self.corr = sigma_y / np.outer(sd, sd)
        n = sd.shape[0]
        xs = x / sd[:, None] if x.size else np.zeros((n, 0))
        if xs.size:
            u, s, _ = np.linalg.svd(xs, full_matrices=False)
            rank = int(np.sum(s > s[0] * 1e-10)) if s.size and s[0] > 0 else 0
            xs = u[:, :rank]
        self.x = xs
        self.n, self.p = n, xs.shape[1]
        self.w = np.column_stack([np.ones(n), xs])  # [1, X̃]
        self.c = np.r_[1.0, np.zeros(self.p)]
        self.a_ub = -self.w
        self.bounds = [(None, None)] * (self.p + 1)
        self.lp_count = 0
        self.generic = np.random.default_rng(20231).uniform(0.5, 1.5, self.p)

    # -- LPs -------------------------------------------------------------------------------
    def primal(self, y):
        """(η̂, γ̂, basis) at Ỹ = y, basis = rows of a regular optimal basis (the support of γ̂,
        completed by binding rows when γ̂ is degenerate) or None; γ̂ None when the LP is
        unbounded (P empty, η̂ = −inf)."""
        self.lp_count += 1
        res = linprog(self.c, A_ub=self.a_ub, b_ub=-y, bounds=self.bounds, method="highs")
        if res.status == 3:
            return -math.inf, None, None
        if res.status != 0:
            raise ProblemSizeError(f"honest_did: the ARP linear program failed ({res.message}).")
        gamma = np.clip(-np.asarray(res.ineqlin.marginals), 0.0, None)
        total = gamma.sum()
        gamma = gamma / total if total > 0 else gamma
        support = np.flatnonzero(gamma > 1e-9)
        rows = support if support.size == self.p + 1 else None
        if support.size < self.p + 1:
            rows = self._complete(y, float(res.fun), support)
        return float(res.fun), gamma, rows

    def _complete(self, y, eta, support):
        """A regular basis for a degenerate optimal vertex: the optimal ν are not unique, so pick
        a vertex of the optimal face {ν : Ỹ − X̃ν ≤ η̂} (a second LP with a fixed generic
        objective) and complete supp(γ̂) with the rows binding there."""
        self.lp_count += 1
        res = linprog(self.generic, A_ub=-self.x, b_ub=eta - y + 1e-12 * (1.0 + abs(eta)),
                      bounds=self.bounds[1:], method="highs")
        if res.status != 0:
            return None
        slack = np.asarray(res.ineqlin.residual)
        binding = np.flatnonzero(slack <= 1e-8 * (1.0 + abs(eta)))
        extra = binding[~np.isin(binding, support)]
        extra = extra[np.argsort(slack[extra], kind="stable")]
        pick = [int(j) for j in support]
        for j in extra:
            trial = pick + [int(j)]
            if np.linalg.matrix_rank(self.w[trial]) == len(trial):
                pick = trial
            if len(pick) == self.p + 1:
                return np.sort(np.array(pick))
        return None

    def dual_max(self, f):
        """max f'γ over P: (value, γ)."""
        self.lp_count += 1
        res = linprog(-f, A_eq=self.w.T, b_eq=self.c, bounds=(0, None), method="highs")
        if res.status != 0:
            raise ProblemSizeError(f"honest_did: the ARP dual program failed ({res.message}).")
        return float(-res.fun), np.asarray(res.x)

    # -- bases -----------------------------------------------------------------------------
    def basis(self, rows):
        """Closed-form pieces of the regular basis ``rows`` (1 + p rows): (γ_B, its dual vertex;
        Γ with Γ·Ỹ ≤ 0 ⇔ the basis is optimal at Ỹ; degenerate flag: γ_B has zeros); None when
        ill-conditioned or not dual feasible."""
        if rows is None:
            return None
        wb = self.w[rows]
        if np.linalg.cond(wb) > 1e10:
            return None
        inv = np.linalg.inv(wb)  # (η, ν) = inv · Ỹ_B
        if np.any(inv[0] < -1e-9):
            return None
        vert = np.zeros(self.n)
        vert[rows] = np.clip(inv[0], 0.0, None)
        rest = np.setdiff1d(np.arange(self.n), rows)
        gam = -self.w[rest] @ inv  # residual_j = Ỹ_j − w_j inv Ỹ_B
        full = np.zeros((rest.shape[0], self.n))
        full[:, rows] = gam
        full[np.arange(rest.shape[0]), rest] += 1.0
        return vert, full, bool(np.any(inv[0] <= 1e-9))

    def truncation_from_basis(self, vert, gam, y, eta):
        """(v2, V_lo, V_up) of the conditional test for the regular optimal basis (polyhedral
        conditioning on {Γ Ỹ ≤ 0}, ARP section 5 / HonestDiD's primal branch), vectorised over
        the columns of ``y`` (n × G) and ``eta`` (G)."""
        sg = self.corr @ vert
        v2 = float(vert @ sg)
        if v2 <= 1e-12:
            return v2, np.full(eta.shape, -np.inf), np.full(eta.shape, np.inf)
        rho = gam @ (sg / v2)  # Γ b
        r = gam @ y  # residuals ≤ 0
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = eta[None, :] - r / rho[:, None]
        vlo = np.where(rho[:, None] < -1e-12, bound, -np.inf).max(axis=0, initial=-np.inf)
        vup = np.where(rho[:, None] > 1e-12, bound, np.inf).min(axis=0, initial=np.inf)
        return v2, vlo, vup

    def truncation_by_dual(self, gamma, ys, etas, gam=None):
        """(v2, V_lo, V_up) for an optimal dual vertex γ̂ (degenerate ones included) at the
        columns of ``ys`` (n × G, all with γ̂ optimal; ``etas`` = γ̂'Ỹ):
        [V_lo, V_up] = {c : γ̂ stays optimal for S + b c}, S = Ỹ − b η̂, b = Rγ̂ / γ̂'Rγ̂ (ARP
        section 3). g(c) = max_P γ'(S + bc) − c is convex, piecewise linear and zero exactly on
        [V_lo, V_up]. V_lo = −inf iff min_P γ'b ≥ 1 (V_up = +inf iff max_P γ'b ≤ 1); otherwise
        each end is found by Newton steps on g from the root of a linear piece (each step moves
        to a new piece, so the iteration is finite and exact up to the LP tolerance). Along a
        chunk of the grid the last piece γ* is tried first: its root c(θ) is exact when a regular
        basis of γ̂ (Γ, optional) certifies g(c(θ)) = 0, and otherwise the start of new steps."""
        sg = self.corr @ gamma
        v2 = float(gamma @ sg)
        g_n = ys.shape[1]
        if v2 <= 1e-12:
            return v2, np.full(g_n, -np.inf), np.full(g_n, np.inf)
        b = sg / v2
        s = ys - b[:, None] * etas[None, :]
        ends = []
        for side in (-1.0, 1.0):  # V_lo, then V_up
            out = np.full(g_n, side * np.inf)
            _, g = self.dual_max(side * b)  # min (side −1) / max (side +1) of γ'b over P
            if side * (float(g @ b) - 1.0) <= 1e-9:
                ends.append(out)
                continue
            j = 0
            while j < g_n:
                slope = float(g @ b) - 1.0
                cand = -(g @ s[:, j:]) / slope
                if gam is not None and gam.shape[0]:
                    ok = np.all(gam @ (s[:, j:] + b[:, None] * cand[None, :]) <= 1e-7, axis=0)
                    n_ok = int(np.argmin(ok)) if not ok.all() else ok.shape[0]
                    out[j:j + n_ok] = cand[:n_ok]
                    j += n_ok
                    if j >= g_n:
                        break
                c, g = self._newton(side, s[:, j], b, -float(g @ s[:, j]) / slope, g)
                out[j] = c
                j += 1
            ends.append(out)
        return v2, ends[0], ends[1]

    def _newton(self, side, s, b, c, g):
        for _ in range(100):
            val, g_new = self.dual_max(s + b * c)
            if val - c <= _LP_TOL * (1.0 + abs(c)):
                break
            slope = float(g_new @ b) - 1.0
            if side * slope <= 0:
                break
            c_new = -float(g_new @ s) / slope
            if side * (c - c_new) <= 0:  # no progress (numerical): stop here
                break
            c, g = c_new, g_new
        return c, g

    # -- least-favourable critical value ---------------------------------------------------
    def lf_cv(self, xi, kappa, batch=16):
        """1 − κ quantile of η̂(ξ) = max_P γ'ξ over the standardised normal draws ``xi`` (rows).

        Exact (up to LP tolerance) with few LPs: lower bounds from the optimal vertices found so
        far, certificates (a cached basis whose primal solution is feasible gives η̂ exactly),
        and LPs only for the draws that may sit at or above the quantile's order statistic."""
        n_draw = xi.shape[0]
        pos = (n_draw - 1) * (1.0 - kappa)
        f = int(math.floor(pos))
        eta = np.full(n_draw, np.nan)
        upper = xi.max(axis=1)  # ν = 0 is primal feasible with this objective
        lower = np.full(n_draw, -np.inf)
        verts: list[np.ndarray] = []
        bases: list[np.ndarray] = []  # Γ per cached regular basis, aligned with verts (or None)
        known = np.zeros(n_draw, dtype=bool)
        while True:
            if verts:
                vm = np.array(verts)
                scores = xi @ vm.T
                best = scores.argmax(axis=1)
                lower = np.maximum(lower, scores[np.arange(n_draw), best])
                todo = ~known
                for k in np.unique(best[todo]):
                    if bases[k] is None:
                        continue
                    sel = np.flatnonzero(todo & (best == k))
                    res = (xi[sel] @ bases[k].T).max(axis=1, initial=-np.inf)
                    upper[sel] = np.minimum(upper[sel], lower[sel] + np.clip(res, 0.0, None))
                    ok = res <= _LP_TOL
                    eta[sel[ok]], known[sel[ok]] = lower[sel[ok]], True
            vals = np.where(known, eta, lower)
            t = np.partition(vals, f)[f]
            unsure = np.flatnonzero(~known & (upper >= t))
            if unsure.size == 0:
                return float(np.quantile(vals, 1.0 - kappa))
            pick = unsure[np.argsort(-upper[unsure])[:batch]]
            for i in pick:
                val, gamma, rows = self.primal(xi[i])
                if gamma is None:
                    return math.inf
                eta[i], known[i] = val, True
                bb = self.basis(rows)
                verts.append(gamma if bb is None else bb[0])
                bases.append(None if bb is None else bb[1])


def arp_accept_lp(
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
    lower_stop: int | None = None,
    upper_stop: int | None = None,
) -> tuple[np.ndarray, int]:
    """The test of :func:`arp_accept` by linear programming, for moment systems too large for the
    vertex enumeration; returns (accept, number of LPs solved).

    Along the θ grid the optimal basis of the ARP program is piecewise constant: one LP at a grid
    point gives a basis B, and the closed form Γ_B Ỹ(θ) ≤ 0 (linear in θ) gives the whole interval
    of θ on which B stays optimal, together with η̂, γ̂'Σγ̂ and the truncation bounds there (the
    polyhedral conditioning of Andrews, Roth & Pakes 2023, as in HonestDiD's non-degenerate
    branch). A degenerate or ill-conditioned basis is handled at that grid point alone through the
    dual program (:meth:`_LPSystem.truncation_by_dual`). The number of LPs is about the number of
    distinct bases met, not the number of grid points.

    Only the confidence set's end points are sought: the grid is scanned upwards from its first
    point until the first accepted θ (not beyond ``lower_stop``, exclusive) and downwards from its
    last point until the first accepted θ (not below ``upper_stop``, exclusive); other entries of
    ``accept`` are False. ``lower_stop`` / ``upper_stop`` let a union over polyhedra skip θ that
    lie inside the hull already accepted.
    """
    g = grid.shape[0]
    lower_stop = g if lower_stop is None else lower_stop
    upper_stop = -1 if upper_stop is None else upper_stop
    system = _LPSystem(y0, a, x, sigma_y)
    accept = np.zeros(g, dtype=bool)
    cache: dict[str, Any] = {}

    def xi() -> np.ndarray:
        if "xi" not in cache:
            cache["xi"] = draws @ (root / system.sd[:, None]).T
        return cache["xi"]

    def cv_upper() -> float:  # η̂(ξ) ≤ max_j ξ_j (ν = 0), so their quantiles are ordered
        if "cv_upper" not in cache:
            cache["cv_upper"] = float(np.quantile(xi().max(axis=1), 1.0 - kappa))
        return cache["cv_upper"]

    def cv() -> float:
        if "cv" not in cache:
            cache["cv"] = system.lf_cv(xi(), kappa)
        return cache["cv"]

    def scan(start: int, stop: int, step: int) -> int | None:
        """First accepted index from start towards stop (exclusive), or None."""
        i = start
        while (i - stop) * step < 0:
            y = system.y0 - system.a * grid[i]
            eta, gamma, rows = system.primal(y)
            if gamma is None:  # P empty: η̂ = −∞, never reject
                return i
            bb = system.basis(rows)
            idx = np.array([i])
            if bb is not None:
                r0, r1 = bb[1] @ system.y0, bb[1] @ system.a  # residual(θ) = r0 − r1 θ ≤ 0
                cand = np.arange(i, stop, step)
                ok = (r0[:, None] - r1[:, None] * grid[cand][None, :]) <= 1e-7
                good = np.cumprod(np.all(ok, axis=0)).astype(bool)
                if good[0]:
                    idx = cand[good]
                else:
                    bb = None
            ys = system.y0[:, None] - system.a[:, None] * grid[idx][None, :]
            if bb is None:
                etas = np.array([eta])
                v2, vlo, vup = system.truncation_by_dual(gamma, ys, etas)
            else:
                vert, gam, degenerate = bb
                etas = vert @ ys
                if degenerate:
                    v2, vlo, vup = system.truncation_by_dual(vert, ys, etas, gam)
                else:
                    v2, vlo, vup = system.truncation_from_basis(vert, gam, ys, etas)
            deg = np.full(idx.shape, v2 <= 1e-12)
            # acceptance grows with the LF critical value: a cheap upper bound on it settles
            # every rejection, the exact value (LPs) is computed only if something may accept
            acc = _decide(etas, v2, vlo, vup, deg, alpha=alpha, hybrid=hybrid, kappa=kappa,
                          cv=cv_upper() if hybrid else math.inf)
            if hybrid and acc.any():
                acc = _decide(etas, v2, vlo, vup, deg, alpha=alpha, hybrid=hybrid, kappa=kappa,
                              cv=cv())
            if acc.any():
                return int(idx[np.argmax(acc)])
            i = int(idx[-1]) + step
        return None

    lo = scan(0, lower_stop, 1)
    if lo is not None:
        accept[lo] = True
    hi = scan(g - 1, max(upper_stop, -1 if lo is None else lo - 1), -1)
    if hi is not None:
        accept[hi] = True
    return accept, system.lp_count
