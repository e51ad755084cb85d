"""Two-period panel DiD estimators of Sant'Anna & Zhao (2020), with their influence functions.

Private helpers of :mod:`wellness_research.did.cs`. Each function takes one (g, t) comparison on the
units that enter it (treated ``D = 1`` and comparison ``D = 0``), the change of the outcome
``dy = Y_t - Y_base``, the design ``X`` (first column the intercept) and the sampling weights, and
returns the ATT and its influence function **on that subset** (the convention of R ``DRDID``: the
ATT's variance is ``mean(IF**2) / n1``). The caller rescales to the full panel.

References
----------
Sant'Anna, P. H. C., Zhao, J. (2020). Doubly robust difference-in-differences estimators.
*Journal of Econometrics* 219(1), 101-122: outcome regression (eq. 2.2, Heckman, Ichimura & Todd
1997), standardised (Hajek) IPW (eq. 2.4) and the improved locally efficient DR estimator
(Section 3.1; propensity score by inverse probability tilting, Graham, Pinto & Egel 2012), the
estimators ``reg_did_panel``, ``std_ipw_did_panel`` and ``drdid_imp_panel`` of R ``DRDID``.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []

#: Comparison units with a propensity score at or above this are trimmed (R DRDID ``trim.level``).
TRIM_LEVEL = 0.995
_PS_CAP = 1.0 - 1e-6


class _SingularFit(Exception):
    """A least-squares or logit design on the (g, t) subset is singular (caught by the caller)."""


def _solve_sym(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``a x = b`` for a small symmetric positive (semi)definite ``a``; raise if singular."""
    try:
        cond = np.linalg.cond(a)
    except np.linalg.LinAlgError as exc:  # pragma: no cover - defensive
        raise _SingularFit("singular matrix") from exc
    if not np.isfinite(cond) or cond > 1e13:
        raise _SingularFit(f"condition number {cond:.3g}")
    return np.linalg.solve(a, b)


def logit_fit(d: np.ndarray, x: np.ndarray, w: np.ndarray, *, eps: float = 1e-8,
              max_iter: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Weighted logistic regression by IRLS, as R ``glm(family=binomial, weights=)`` computes it.

    Same start (``mustart = (w y + 0.5) / (w + 1)``), the same clamping of the linear predictor at
    +-30 and the same stopping rule (relative change of the deviance below ``eps = 1e-8``, at most
    25 iterations), so that near-separated designs give R's numbers too. Returns the fitted
    probabilities and ``(X' diag(w p (1-p)) X)^{-1}`` (R's ``vcov``, dispersion 1).
    """
    k = x.shape[1]
    x = np.asfortranarray(x)  # X' W X over a long, thin design is faster on columns
    if not 0.0 < np.sum(w * d) < np.sum(w):
        raise _SingularFit("no variation in treatment")
    eps_d = np.finfo(float).eps

    def linkinv(eta: np.ndarray) -> np.ndarray:
        e = np.exp(np.clip(eta, -30.0, 30.0))
        e = np.where(eta < -30.0, eps_d, np.where(eta > 30.0, 1.0 / eps_d, e))
        return e / (1.0 + e)

    def mu_eta(eta: np.ndarray) -> np.ndarray:
        e = np.exp(np.clip(eta, -30.0, 30.0))
        return np.where(np.abs(eta) > 30.0, eps_d, e / (1.0 + e) ** 2)

    # one exp per iteration serves both the inverse link and its derivative (R evaluates them
    # separately, on the same clamped linear predictor: the values are identical)
    def inv_and_deriv(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = np.exp(np.clip(eta, -30.0, 30.0))
        one_e = 1.0 + e
        mu, me = e / one_e, e / (one_e * one_e)
        out = np.abs(eta) > 30.0
        if out.any():
            mu = linkinv(eta)
            me = np.where(out, eps_d, me)
        return mu, me

    is1 = d == 1

    def deviance(mu: np.ndarray) -> float:
        # -2 sum w log(mu) over D = 1 and log(1 - mu) over D = 0, as R's binomial()$dev.resids
        # computes it (one log per unit; it only enters the stopping rule)
        with np.errstate(divide="ignore"):
            return float(-2.0 * (w @ np.log(np.where(is1, mu, 1.0 - mu))))

    mu = (w * d + 0.5) / (w + 1.0)
    eta = np.log(mu / (1.0 - mu))
    me = mu_eta(eta)
    dev_old = deviance(mu)
    for _ in range(max_iter):
        z = eta + (d - mu) / me
        wt = np.sqrt(w * me**2 / (mu * (1.0 - mu)))
        # weighted least squares by the normal equations (R uses a QR; same solution to ~1e-12
        # on a well-conditioned design, and _solve_sym refuses an ill-conditioned one)
        wt2 = wt * wt
        beta = _solve_sym((x * wt2[:, None]).T @ x, x.T @ (wt2 * z))
        eta = x @ beta
        mu, me = inv_and_deriv(eta)
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < eps:
            break
        dev_old = dev
    h = (x * (w * mu * (1.0 - mu))[:, None]).T @ x
    return mu, _solve_sym(h, np.eye(k))


def ipt_fit(d: np.ndarray, x: np.ndarray, w: np.ndarray, *, tol: float = 1e-11,
            max_iter: int = 200) -> np.ndarray:
    """Propensity score by inverse probability tilting (R ``DRDID:::pscore.cal``).

    Minimises ``-mean(w (D x'g - (1-D) exp(x'g)))``, whose first-order condition makes the tilted
    comparison units reproduce the treated units' weighted covariate sums exactly; started at the
    logit fit; Newton steps with step halving (the loss is convex, so the optimum is unique and does
    not depend on the optimiser R uses, ``trust::trust``).
    """
    p0, _ = logit_fit(d, x, w)
    gam = np.linalg.lstsq(x, np.log(p0 / (1.0 - p0)), rcond=None)[0]
    c = 1.0 - d

    def loss(g: np.ndarray) -> float:
        ind = x @ g
        return float(-np.mean(w * (d * ind - c * np.exp(ind))))

    cur = loss(gam)
    for _ in range(max_iter):
        ind = x @ gam
        e = np.exp(ind)
        grad = -(x.T @ (w * (d - c * e))) / len(d)
        hess = (x * (w * c * e)[:, None]).T @ x / len(d)
        step = _solve_sym(hess, grad)
        s = 1.0
        while True:
            new = gam - s * step
            val = loss(new)
            if val <= cur + 1e-15 * abs(cur) or s < 1e-8:
                break
            s *= 0.5
        gam, cur = new, val
        if np.max(np.abs(s * step)) < tol * (1.0 + np.max(np.abs(gam))):
            break
    ind = x @ gam
    return 1.0 / (1.0 + np.exp(-ind))


class Design:
    """What a (g, t) comparison's estimators share across periods: the units, D, X, weights, the
    comparison units' OLS cross-product and (on demand) the logit propensity score.

    With time-invariant covariates the same design serves every period of a cohort with the same
    comparison group, so the logit is fitted once, not once per ATT(g, t).
    """

    def __init__(self, d: np.ndarray, x: np.ndarray, w: np.ndarray) -> None:
        self.n = len(d)
        self.d = d
        self.c = 1.0 - d
        self.x = np.asfortranarray(x)  # long and thin: cross-products run down its columns
        x = self.x
        self.w = w / np.mean(w)
        self.wc = self.w * self.c
        self.xtwx = (x * self.wc[:, None]).T @ x
        self.xtwx_inv = _solve_sym(self.xtwx, np.eye(x.shape[1]))
        self._ps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._parts: dict = {}

    def ps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logit propensity score (capped at 1 - 1e-6), R's vcov of the logit, trimming mask."""
        if self._ps is None:
            p, vcov = logit_fit(self.d, self.x, self.w)
            p = np.minimum(p, _PS_CAP)
            trim = np.where(self.d == 1, p < 1.01, p < TRIM_LEVEL)
            self._ps = (p, vcov, trim)
        return self._ps

    def reg_parts(self) -> dict:
        """The parts of ``reg_did_panel`` that do not depend on the outcome change."""
        if "reg" not in self._parts:
            n, x, w, d = self.n, self.x, self.w, self.d
            w_t = w * d
            mw = float(np.mean(w_t))
            m1 = (x.T @ w_t) / n
            self._parts["reg"] = {"w_t": w_t, "mw": mw, "xv": x @ (n * (self.xtwx_inv @ m1))}
        return self._parts["reg"]

    def dr_parts(self) -> dict:
        """The parts of ``drdid_panel`` / ``std_ipw_did_panel`` that do not depend on the outcome."""
        if "dr" not in self._parts:
            n, x, w, d = self.n, self.x, self.w, self.d
            p, vcov, trim = self.ps()
            w_t = trim * w * d
            w_c = trim * w * p * self.c / (1.0 - p)
            m1 = (x.T @ w_t) / n
            m3 = (x.T @ w_c) / n
            self._parts["dr"] = {
                "w_t": w_t, "w_c": w_c, "mt": float(np.mean(w_t)), "mc": float(np.mean(w_c)),
                "ols_t": x @ (n * (self.xtwx_inv @ m1)), "ols_c": x @ (n * (self.xtwx_inv @ m3)),
                "score": w * (d - p), "h": vcov * n}
        return self._parts["dr"]


    def dr_linear(self, scale: float = 1.0) -> dict:
        """``drdid_panel`` written as a linear map of ``dy`` on this design.

        With ``resid = dy - X beta``, ``beta = (X' W_c X)^{-1} X' W_c dy``, the influence function
        of R ``drdid_panel`` is ``resid * a - (w_t / mt) eta_t + (w_c / mc) eta_c
        - score * X h m2 / mc`` with the per-unit ``a = w_t / mt - w_c / mc
        + wc (ols_c / mc - ols_t / mt)``; hence ``a * dy + R @ coef`` with
        ``R = [a X, score X, w_t / mt, w_c / mc]``. The ATT needs ``lt @ dy``, ``lt`` the rows
        ``X' W_c``, ``X' W_{c,ps}``, ``w_t'``, ``w_c'``. ``a`` and ``R`` are multiplied by ``scale``
        (the caller's rescaling of the influence function to the full panel).
        """
        key = ("dr_lin", scale)
        if key not in self._parts:
            for stale in [k for k in self._parts if isinstance(k, tuple)]:
                del self._parts[stale]  # one scale at a time: these are n x (2k + 2) arrays
            pr = self.dr_parts()
            x = self.x
            k = x.shape[1]
            w_t, w_c, mt, mc = pr["w_t"], pr["w_c"], pr["mt"], pr["mc"]
            a = w_t / mt - w_c / mc + self.wc * (pr["ols_c"] / mc - pr["ols_t"] / mt)
            lt = np.empty((2 * k + 2, self.n))
            lt[:k] = x.T * self.wc
            lt[k:2 * k] = x.T * w_c
            lt[2 * k] = w_t
            lt[2 * k + 1] = w_c
            r = np.empty((self.n, 2 * k + 2), order="F")
            r[:, :k] = x * (scale * a)[:, None]
            r[:, k:2 * k] = x * (scale * pr["score"])[:, None]
            r[:, 2 * k] = (scale / mt) * w_t
            r[:, 2 * k + 1] = (scale / mc) * w_c
            self._parts[key] = {
                "lt": lt, "r": r, "a": a * scale, "xw_t": x.T @ w_t, "xw_c": x.T @ w_c,
                "xwx_c": (x * w_c[:, None]).T @ x, "st": float(np.sum(w_t)),
                "sc": float(np.sum(w_c)), "mc": mc, "h": pr["h"],
                "xtwx_inv": self.xtwx_inv}
        return self._parts[key]


def reg_panel(dy: np.ndarray, des: Design) -> tuple[float, np.ndarray]:
    """Outcome-regression DiD (R ``DRDID::reg_did_panel``): ATT and influence function."""
    pr = des.reg_parts()
    w_t, mw = pr["w_t"], pr["mw"]
    beta = des.xtwx_inv @ (des.x.T @ (des.wc * dy))
    out = des.x @ beta
    eta_t = np.mean(w_t * dy) / mw
    eta_c = np.mean(w_t * out) / mw
    att = eta_t - eta_c
    inf_treat = w_t * (dy - eta_t) / mw
    inf_c1 = w_t * (out - eta_c)
    inf_c2 = des.wc * (dy - out) * pr["xv"]
    return att, inf_treat - (inf_c1 + inf_c2) / mw


def ipw_panel(dy: np.ndarray, des: Design) -> tuple[float, np.ndarray]:
    """Standardised IPW DiD (R ``DRDID::std_ipw_did_panel``): ATT and influence function."""
    pr = des.dr_parts()
    w_t, w_c, mt, mc = pr["w_t"], pr["w_c"], pr["mt"], pr["mc"]
    eta_t = np.mean(w_t * dy) / mt
    eta_c = np.mean(w_c * dy) / mc
    att = eta_t - eta_c
    inf_treat = w_t * (dy - eta_t) / mt
    inf_cont = w_c * (dy - eta_c) / mc
    m2 = (des.x.T @ (w_c * (dy - eta_c))) / des.n / mc
    inf_ps = pr["score"] * (des.x @ (pr["h"] @ m2))
    return att, inf_treat - (inf_cont + inf_ps)


def drdid_coef(sums: np.ndarray, lin: dict, n: int) -> tuple[float, np.ndarray]:
    """ATT of ``drdid_panel`` and the ``coef`` of its influence function ``a * dy + R @ coef``
    from ``sums = lin["lt"] @ dy`` (see :meth:`Design.dr_linear`); ``n`` is the design's size."""
    k = (len(sums) - 2) // 2
    beta = lin["xtwx_inv"] @ sums[:k]
    eta_t = (sums[2 * k] - lin["xw_t"] @ beta) / lin["st"]
    eta_c = (sums[2 * k + 1] - lin["xw_c"] @ beta) / lin["sc"]
    # m2 = X' (w_c (resid - eta_c)) / n, resid = dy - X beta (estimation effect of the logit)
    m2 = (sums[k:2 * k] - lin["xwx_c"] @ beta - eta_c * lin["xw_c"]) / n
    coef = np.concatenate([-beta, -(lin["h"] @ m2) / lin["mc"], [-eta_t, eta_c]])
    return eta_t - eta_c, coef


def drdid_panel(dy: np.ndarray, des: Design) -> tuple[float, np.ndarray]:
    """Locally efficient DR DiD (R ``DRDID::drdid_panel``, the one R ``did::att_gt`` uses).

    Given the design, the estimator is linear in ``dy``: the ATT needs ``2k + 2`` weighted sums of
    ``dy`` (one matrix-vector product with :meth:`Design.dr_linear`'s ``lt``) and the influence
    function is ``a * dy + R @ coef`` with ``a`` and ``R`` fixed per design, so each (g, t) costs
    two passes over its units instead of a dozen.
    """
    lin = des.dr_linear()
    att, coef = drdid_coef(lin["lt"] @ dy, lin, des.n)
    return att, lin["a"] * dy + lin["r"] @ coef


def dr_panel(dy: np.ndarray, des: Design) -> tuple[float, np.ndarray]:
    """Improved locally efficient DR DiD (R ``DRDID::drdid_imp_panel``): ATT and influence function."""
    d, x, w = des.d, des.x, des.w
    p = np.minimum(ipt_fit(d, x, w), _PS_CAP)
    trim = np.where(d == 1, p < 1.01, p < TRIM_LEVEL)
    odds = p / (1.0 - p)
    wr = w * odds * (1.0 - d)
    beta = _solve_sym((x * wr[:, None]).T @ x, x.T @ (wr * dy))
    resid = dy - x @ beta
    w_t = trim * w * d
    w_c = trim * wr
    mt, mc = np.mean(w_t), np.mean(w_c)
    eta_t = np.mean(w_t * resid) / mt
    eta_c = np.mean(w_c * resid) / mc
    att = eta_t - eta_c
    return att, w_t * (resid - eta_t) / mt - w_c * (resid - eta_c) / mc

