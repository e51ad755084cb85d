"""Optimal fixed-length confidence interval (FLCI) for θ = l'τ_post under Δ^SD(M).

Method (Rambachan & Roth 2023, section 4.1 and appendix; Armstrong & Kolesár 2018; Donoho 1994).
An affine estimator θ̂ = c'β̂ with c_post = l and c_pre = −w has bias c'δ and standard deviation
sd(c) = (c'Σc)^{1/2}. The FLCI is θ̂ ± sd · cv_α(b̄ / sd), where b̄ is the worst-case bias over
Δ^SD(M) and cv_α(t) is the 1 − α quantile of |N(t, 1)|; the optimal FLCI minimises this
half-length over w.

Worst-case bias in closed form. Δ^SD(M) = {δ : |D δ| ≤ M}, D the (T − 1) × T matrix of second
differences of (δ_pre, δ_0 = 0, δ_post). By LP duality b̄ = M · min{‖μ‖₁ : D'μ = c}. D has full
row rank and its null space is spanned by the linear trend t = (−T_pre, …, −1, 1, …, T_post), so
b̄ is finite only when t'c = 0 (the estimator is unbiased for linear trends), and then μ is unique:
b̄ = M ‖P c‖₁ with P = (D D')⁻¹ D.

Optimisation. Writing w = w₀ + N u on the affine set t'c = 0, the half-length is
h(u) = sd(u) · cv_α(M ‖P c(u)‖₁ / sd(u)), the perspective of the convex function cv_α evaluated at
(bias, sd). It is jointly convex in (bias, sd), increasing in both, with sd(u) convex and the
bias an L1 norm of an affine map: h is convex in u. We minimise it exactly with SLSQP on the
epigraph form (u, r), −r ≤ P c(u) ≤ r, bias = M Σ r, with analytic gradients, from two starts (the
minimum-variance and the minimum-bias estimators). HonestDiD instead scans 100 values of the
standard deviation and solves a second-order cone program at each; the optimum is the same up to
that scan's resolution (our half-length is never longer).

This module is private; :mod:`wellness_research.did.honest` is the public entry point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import brentq, linprog, minimize
from scipy.special import ndtr, ndtri
from scipy.stats import norm

__all__: list[str] = []


def cv_abs_normal(t: float, alpha: float) -> float:
    """1 − α quantile of |N(t, 1)| (t ≥ 0)."""
    t = abs(float(t))
    target = 1.0 - alpha

    def f(c: float) -> float:
        return float(ndtr(c - t) - ndtr(-c - t)) - target

    lo = max(0.0, t + float(ndtri(target)) - 1.0)
    hi = t + float(ndtri(1.0 - alpha / 2.0)) + 1.0
    return brentq(f, lo, hi, xtol=1e-13, rtol=1e-14)


def _dcv(c: float, t: float) -> float:
    """d cv / d t by implicit differentiation of Φ(c − t) − Φ(−c − t) = 1 − α."""
    p1, p2 = norm.pdf(c - t), norm.pdf(c + t)
    return float((p1 - p2) / (p1 + p2)) if (p1 + p2) > 0 else 1.0


def second_difference_matrix(num_pre: int, num_post: int) -> np.ndarray:
    """(T − 1) × T matrix of second differences of (δ_pre, 0, δ_post), the 0 column dropped."""
    t = num_pre + num_post
    full = np.zeros((t - 1, t + 1))
    for r in range(t - 1):
        full[r, r : r + 3] = (1.0, -2.0, 1.0)
    return np.delete(full, num_pre, axis=1)


@dataclass(frozen=True)
class FLCI:
    """One optimal FLCI: centre ± half_length, with the estimator that produced it."""

    center: float
    half_length: float
    weights: np.ndarray  # c, the full (pre, post) weight vector
    std_error: float
    max_bias: float


def optimal_flci(
    beta: np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    l_vec: np.ndarray,
    m_values: np.ndarray,
    alpha: float,
) -> list[FLCI]:
    """Optimal FLCI for each M of ``m_values`` (the M-free parts are computed once)."""
    t_all = np.concatenate([-np.arange(num_pre, 0, -1.0), np.arange(1.0, num_post + 1)])
    t_pre, t_post = t_all[:num_pre], t_all[num_pre:]
    d = second_difference_matrix(num_pre, num_post)
    p = np.linalg.solve(d @ d.T, d)
    q = float(t_post @ l_vec)
    w0 = t_pre * q / float(t_pre @ t_pre)
    c00 = np.concatenate([-w0, l_vec])
    basis = null_space(t_pre[None, :])  # num_pre × (num_pre − 1)
    f = np.vstack([-basis, np.zeros((num_post, basis.shape[1]))])
    g, h = p @ c00, p @ f

    k = f.shape[1]
    if k:
        u_mv = -np.linalg.solve(f.T @ sigma @ f, f.T @ sigma @ c00)
        # minimum-bias estimator (LP on the epigraph), used as a second start
        nr = g.shape[0]
        res = linprog(
            np.concatenate([np.zeros(k), np.ones(nr)]),
            A_ub=np.block([[h, -np.eye(nr)], [-h, -np.eye(nr)]]),
            b_ub=np.concatenate([-g, g]),
            bounds=[(None, None)] * k + [(0, None)] * nr,
            method="highs",
        )
        u_mb = res.x[:k] if res.status == 0 else u_mv
    else:
        u_mv = u_mb = np.zeros(0)
    sd_mv = math.sqrt(float((c00 + f @ u_mv) @ sigma @ (c00 + f @ u_mv)))
    z = float(ndtri(1.0 - alpha / 2.0))

    out: list[FLCI] = []
    for m in m_values:
        m = float(m)
        if m == 0.0 or k == 0:
            u = u_mv
        else:
            u = _minimise_half_length(c00, f, g, h, sigma, m, alpha, sd_mv, (u_mv, u_mb))
        c = c00 + f @ u
        sd = math.sqrt(float(c @ sigma @ c))
        bias = m * float(np.abs(p @ c).sum())
        half = z * sd if bias == 0.0 else sd * cv_abs_normal(bias / sd, alpha)
        out.append(FLCI(float(c @ beta), half, c, sd, bias))
    return out


def _minimise_half_length(c00, f, g, h, sigma, m, alpha, scale, starts):
    k, nr = f.shape[1], g.shape[0]

    def split(x):
        return x[:k], x[k:]

    def objective(x):
        u, r = split(x)
        c = c00 + f @ u
        sc = sigma @ c
        sd = math.sqrt(max(float(c @ sc), 1e-300))
        bias = m * float(r.sum())
        t = bias / sd
        cv = cv_abs_normal(t, alpha)
        dcv = _dcv(cv, t)
        val = sd * cv
        d_sd = cv - t * dcv
        grad_u = d_sd * (f.T @ sc) / sd
        grad_r = np.full(nr, dcv * m)
        return val / scale, np.concatenate([grad_u, grad_r]) / scale

    a_ineq = np.block([[-h, np.eye(nr)], [h, np.eye(nr)]])
    cons = [
        {
            "type": "ineq",
            "fun": lambda x: a_ineq @ x + np.concatenate([-g, g]),
            "jac": lambda x: a_ineq,
        }
    ]
    best_val, best_u = math.inf, starts[0]
    for u0 in starts:
        x0 = np.concatenate([u0, np.abs(g + h @ u0) + 1e-12])
        res = minimize(
            objective, x0, jac=True, constraints=cons, method="SLSQP",
            options={"ftol": 1e-13, "maxiter": 500},
        )
        u = split(res.x)[0]
        c = c00 + f @ u
        sd = math.sqrt(float(c @ sigma @ c))
        val = sd * cv_abs_normal(m * float(np.abs(h @ u + g).sum()) / sd, alpha)
        if val < best_val:
            best_val, best_u = val, u
    return best_u
