"""Wild cluster bootstrap for one coefficient of a linear model with fixed effects.

With few clusters (about 20 districts, about 50 sites) cluster-robust t-tests over-reject; the wild
cluster *restricted* bootstrap (WCR, Cameron, Gelbach & Miller 2008) is the recommended remedy
(MacKinnon, Nielsen & Webb 2023). This module implements it from scratch with numpy:

1. Fixed effects are partialled out of the outcome and the regressors (Frisch–Waugh–Lovell; weighted
   alternating projections), so the bootstrap runs on the small model ``ỹ = X̃ β + u``.
2. Under ``H0: β_j = r`` the model is re-fitted with the restriction imposed, giving restricted fitted
   values ``ŷ_r`` and residuals ``ü``. Bootstrap outcomes are ``y*_b = ŷ_r + ü ⊙ v_{g(i), b}`` with one
   draw ``v_{g,b}`` per cluster (Rademacher ±1, or Webb's six-point distribution).
3. The bootstrap coefficient and its CRV1 variance are linear / quadratic in ``v``. With
   ``a_i = e_j' H⁻¹ x̃_i w_i`` (``H = X̃'WX̃``), cluster sums ``s_g = Σ_{i∈g} a_i ü_i``,
   ``S_g = Σ_{i∈g} x̃_i w_i ü_i`` and ``A_g = Σ_{i∈g} a_i x̃_i'``::

       β*_j,b − r  = s' v_b
       score*_b    = K v_b,   K = diag(s) − A H⁻¹ Sᵀ   (G × G)
       t*_b        = s' v_b / sqrt(c · ‖K v_b‖²)

   so all B draws are two matrix products with the G × B matrix of draws (the "fast and wild"
   algebra of Roodman, MacKinnon, Nielsen & Webb 2019, section 3).
4. The two-sided p-value is the share of draws with ``|t*_b| > |t|`` (as ``wildboottest`` and
   ``boottest``'s symmetric p-value; ties within a relative 1e-10 count as not exceeding). With
   Rademacher weights and ``2^G <= B`` every sign vector is enumerated once (deterministic, exact for
   the bootstrap distribution), as ``boottest`` does.
5. The confidence interval inverts the test: the set of ``r`` whose WCR p-value exceeds ``alpha``,
   with the same draws for every ``r`` (end points found by bisection on each side).

The small-sample factor ``c`` of the CRV1 variance cancels from the p-value (it multiplies the
observed and the bootstrap statistics alike); the reported ``t_stat`` uses
``c = G/(G−1)·(N−1)/(N−k)`` with ``k`` the number of regressors plus absorbed fixed-effect levels,
as pyfixest's CRV1 default does when fixed effects are nested in the clusters.

References
----------
Cameron, A. C., Gelbach, J. B., Miller, D. L. (2008). Bootstrap-based improvements for inference with
clustered errors. *Review of Economics and Statistics* 90(3), 414–427.
Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors. *Canadian Journal
of Economics* 56(3), 839–858 (the six-point distribution).
Roodman, D., MacKinnon, J. G., Nielsen, M. Ø., Webb, M. D. (2019). Fast and wild: Bootstrap inference
in Stata using boottest. *Stata Journal* 19(1), 4–60 (sections 3 and 3.5, test inversion).
MacKinnon, J. G., Nielsen, M. Ø., Webb, M. D. (2023). Cluster-robust inference: A guide to empirical
practice. *Journal of Econometrics* 232(2), 272–299.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> g = np.repeat(np.arange(8), 10)
>>> x = rng.normal(size=80)
>>> df = pd.DataFrame({"y": 1.0 * x + rng.normal(size=8)[g] + rng.normal(size=80), "x": x, "g": g})
>>> res = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="g", seed=0)
>>> res.full_enumeration, res.n_boot   # 2^8 = 256 sign vectors, all enumerated
(True, 256)
>>> bool(res.p_value < 0.05)
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from ..errors import ConfigurationError, DataValidationError
from ._results import WildBootstrapResult

__all__ = ["WeightsType", "wild_cluster_bootstrap"]

WeightsType = Literal["rademacher", "webb"]

_WEBB = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
_TIE_RTOL = 1e-10
_MAX_ENUM_CLUSTERS = 20


# --------------------------------------------------------------------------------------------
# the partialled-out design, shared with did_2x2 / event_study results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class WildDesign:
    """A linear model after fixed effects were partialled out (what the bootstrap needs).

    ``y`` and ``x`` are the demeaned outcome and regressors, ``w`` the observation weights (ones when
    unweighted), ``clusters`` integer codes ``0..G-1``, ``names`` the regressor names,
    ``fixed_effects`` the integer codes of the absorbed factors and ``nested`` whether each factor
    is nested in the clusters.
    """

    y: np.ndarray
    x: np.ndarray
    w: np.ndarray
    clusters: np.ndarray
    names: tuple[str, ...]
    fixed_effects: tuple[np.ndarray, ...] = ()
    nested: tuple[bool, ...] = ()

    @property
    def n_absorbed(self) -> int:
        """Fixed-effect levels counted in the small-sample factor (pyfixest's CRV1 rule: factors
        nested in the clusters are not counted)."""
        free = [int(f.max()) + 1 for f, nest in zip(self.fixed_effects, self.nested) if not nest]
        return sum(free) - max(0, len(free) - 1)


def demean(values: np.ndarray, fixed_effects: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Weighted within transformation by alternating projections (to 1e-13), columns of ``values``."""
    out = np.array(values, dtype=float, copy=True)
    if out.ndim == 1:
        out = out[:, None]
    if not len(fixed_effects):
        return out
    codes = [pd.factorize(np.asarray(f), use_na_sentinel=False)[0] for f in fixed_effects]
    wsum = [np.bincount(c, weights=weights) for c in codes]
    scale = max(1.0, float(np.max(np.abs(out))) if out.size else 1.0)
    for _ in range(100_000):
        change = 0.0
        for c, ws in zip(codes, wsum):
            for k in range(out.shape[1]):
                means = np.bincount(c, weights=weights * out[:, k], minlength=len(ws)) / np.where(ws > 0, ws, 1.0)
                out[:, k] -= means[c]
                change = max(change, float(np.max(np.abs(means))))
        if len(codes) == 1 or change < 1e-13 * scale:
            break
    return out


def _restricted_residuals(d: WildDesign, j: int) -> tuple[np.ndarray, np.ndarray]:
    """``(u0, u1)`` with restricted residuals ``ü(r) = u0 − r·u1`` under ``H0: β_j = r``."""
    others = np.delete(d.x, j, axis=1)
    if others.shape[1] == 0:
        return d.y.copy(), d.x[:, j].copy()
    sw = np.sqrt(d.w)
    q, _ = np.linalg.qr(others * sw[:, None])
    both = np.column_stack([d.y, d.x[:, j]]) * sw[:, None]
    res = (both - q @ (q.T @ both)) / np.where(sw > 0, sw, 1.0)[:, None]
    return res[:, 0], res[:, 1]


class _Engine:
    """Precomputed pieces of the fast WCR/WCU algebra for coefficient ``j``.

    The bootstrap residual of the full model is ``M_X̃ M_D (ü ⊙ v)``; when a fixed effect is not
    nested in the clusters ``M_D`` does not commute with the cluster multipliers, and the term
    ``R[h, g] = Σ_{i∈h} a_i [P_D (ü ⊙ 1_g)]_i`` enters ``K = diag(s) − R − A H⁻¹ Sᵀ``.
    """

    def __init__(self, d: WildDesign, j: int) -> None:
        self.d, self.j = d, j
        x, w = d.x, d.w
        self.g = int(d.clusters.max()) + 1
        h = x.T @ (x * w[:, None])
        self.hinv = np.linalg.inv(h)
        self.beta = self.hinv @ (x.T @ (w * d.y))
        self.a = (x * w[:, None]) @ self.hinv[:, j]
        self.xw = x * w[:, None]
        self.amat = self._gsum(self.a[:, None] * x)  # G × k
        self.resid = d.y - x @ self.beta
        n, k = x.shape
        self.ssc = (self.g / (self.g - 1)) * (n - 1) / max(n - k - d.n_absorbed, 1)
        self.se = math.sqrt(self.ssc * float(np.sum(self._gsum(self.a * self.resid) ** 2)))
        self.project = not all(d.nested)
        self._k_unrestricted: np.ndarray | None = None
        self._k_restricted: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _gsum(self, values: np.ndarray) -> np.ndarray:
        if values.ndim == 1:
            return np.bincount(self.d.clusters, weights=values, minlength=self.g)
        return np.column_stack(
            [np.bincount(self.d.clusters, weights=values[:, k], minlength=self.g) for k in range(values.shape[1])]
        )

    def _kmat(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(s, K)`` for residual vector ``u`` (linear in ``u``)."""
        s = self._gsum(self.a * u)
        smat = self._gsum(self.xw * u[:, None])
        kmat = np.diag(s) - self.amat @ self.hinv @ smat.T
        if self.project:
            cl, chunk = self.d.clusters, 16
            for start in range(0, self.g, chunk):
                cols = np.arange(start, min(start + chunk, self.g))
                spread = np.where(cl[:, None] == cols[None, :], u[:, None], 0.0)
                projected = spread - demean(spread, self.d.fixed_effects, self.d.w)  # P_D (ü ⊙ 1_g)
                kmat[:, cols] -= self._gsum(self.a[:, None] * projected)
        return s, kmat

    def t_boot(self, r: float, v: np.ndarray, impose_null: bool) -> np.ndarray:
        if impose_null:
            if self._k_restricted is None:
                u0, u1 = _restricted_residuals(self.d, self.j)
                self._k_restricted = (*self._kmat(u0), *self._kmat(u1))
            s0, k0, s1, k1 = self._k_restricted
            s, kmat = s0 - r * s1, k0 - r * k1
        else:
            if self._k_unrestricted is None:
                self._k_unrestricted = self._kmat(self.resid)
            s, kmat = self._k_unrestricted
        num = s @ v
        den = np.sqrt(self.ssc * np.sum((kmat @ v) ** 2, axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / den

    def p_value(self, r: float, v: np.ndarray, impose_null: bool) -> float:
        t = (self.beta[self.j] - r) / self.se
        tb = self.t_boot(r, v, impose_null)
        return float(np.mean(np.abs(tb) > abs(t) * (1 + _TIE_RTOL)))


def _draws(g: int, n_boot: int, weights_type: str, full: bool, rng: np.random.Generator) -> np.ndarray:
    if full:
        codes = np.arange(2**g, dtype=np.int64)
        bits = (codes[None, :] >> np.arange(g, dtype=np.int64)[:, None]) & 1
        return (2.0 * bits - 1.0)
    if weights_type == "rademacher":
        return rng.integers(0, 2, size=(g, n_boot)).astype(float) * 2.0 - 1.0
    return _WEBB[rng.integers(0, 6, size=(g, n_boot))]


def _invert(engine: _Engine, v: np.ndarray, impose_null: bool, alpha: float) -> tuple[float, float]:
    """End points {r : p(r) > alpha} by bisection, starting from the CRV1 interval widened."""
    b, se = float(engine.beta[engine.j]), engine.se
    if not (se > 0 and math.isfinite(se)):
        return float("nan"), float("nan")

    def accepted(r: float) -> bool:
        return engine.p_value(r, v, impose_null) > alpha

    def end(direction: float) -> float:
        inner, step = b, 2.0 * se
        outer = b + direction * step
        for _ in range(60):
            if not accepted(outer):
                break
            inner, step = outer, step * 2.0
            outer = b + direction * step
        else:
            return direction * float("inf")
        for _ in range(60):
            mid = 0.5 * (inner + outer)
            if accepted(mid):
                inner = mid
            else:
                outer = mid
            if abs(outer - inner) <= 1e-7 * se:
                break
        return 0.5 * (inner + outer)

    return end(-1.0), end(1.0)


def bootstrap_design(
    design: WildDesign,
    *,
    param: str,
    null_value: float = 0.0,
    n_boot: int = 9999,
    weights_type: WeightsType = "rademacher",
    impose_null: bool = True,
    alpha: float = 0.05,
    conf_int: bool = True,
    full_enumeration: bool | None = None,
    seed: int | np.random.Generator | None = None,
    where: str = "wild_cluster_bootstrap",
) -> WildBootstrapResult:
    """Run the wild cluster bootstrap on a prepared :class:`WildDesign` (see module docstring)."""
    if weights_type not in get_args(WeightsType):
        raise ConfigurationError(
            f"{where}: weights_type={weights_type!r} is not valid; use one of {list(get_args(WeightsType))}."
        )
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 99:
        raise ConfigurationError(f"{where}: n_boot={n_boot!r} must be an integer >= 99.")
    if not (0 < alpha < 1):
        raise ConfigurationError(f"{where}: alpha={alpha!r} must lie strictly between 0 and 1.")
    if param not in design.names:
        raise ConfigurationError(f"{where}: param={param!r} is not a regressor; use one of {list(design.names)}.")
    g = int(design.clusters.max()) + 1
    if g < 2:
        raise DataValidationError(f"{where}: the wild cluster bootstrap needs at least 2 clusters, got {g}.")
    can_enum = weights_type == "rademacher" and g <= _MAX_ENUM_CLUSTERS and 2**g <= n_boot
    if full_enumeration is None:
        full = can_enum
    elif full_enumeration and not (weights_type == "rademacher" and g <= _MAX_ENUM_CLUSTERS):
        raise ConfigurationError(
            f"{where}: full_enumeration=True needs Rademacher weights and at most {_MAX_ENUM_CLUSTERS} "
            f"clusters; got weights_type={weights_type!r} and {g} clusters."
        )
    else:
        full = bool(full_enumeration)
    rng = np.random.default_rng(seed)
    j = design.names.index(param)
    engine = _Engine(design, j)
    v = _draws(g, int(n_boot), weights_type, full, rng)
    p = engine.p_value(null_value, v, impose_null)
    lo, hi = _invert(engine, v, impose_null, alpha) if conf_int else (float("nan"), float("nan"))
    return WildBootstrapResult(
        term=param,
        estimate=float(engine.beta[j]),
        std_error=engine.se,
        t_stat=float((engine.beta[j] - null_value) / engine.se),
        p_value=p,
        conf_low=lo,
        conf_high=hi,
        null_value=float(null_value),
        n_boot=int(v.shape[1]),
        weights_type=weights_type,
        impose_null=bool(impose_null),
        full_enumeration=full,
        n_clusters=g,
        n_obs=int(len(design.y)),
        alpha=float(alpha),
    )


def make_design(
    y: np.ndarray,
    x: np.ndarray,
    *,
    names: Sequence[str],
    clusters: np.ndarray,
    fixed_effects: Sequence[np.ndarray] = (),
    weights: np.ndarray | None = None,
) -> WildDesign:
    """Partial the fixed effects out of ``y`` and ``x`` and code the clusters ``0..G-1``."""
    n = len(y)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    x = np.asarray(x, dtype=float).reshape(n, -1)
    codes = pd.factorize(np.asarray(clusters), use_na_sentinel=False)[0].astype(np.int64)
    fes = tuple(pd.factorize(np.asarray(f), use_na_sentinel=False)[0].astype(np.int64) for f in fixed_effects)
    nested = tuple(bool((pd.Series(codes).groupby(f).nunique() == 1).all()) for f in fes)
    both = demean(np.column_stack([np.asarray(y, dtype=float), x]), fes, w)
    return WildDesign(
        y=both[:, 0], x=both[:, 1:], w=w, clusters=codes, names=tuple(names), fixed_effects=fes, nested=nested
    )


def wild_cluster_bootstrap(
    data: pd.DataFrame,
    *,
    outcome: str,
    regressors: Sequence[str],
    cluster: str,
    param: str | None = None,
    fixed_effects: Sequence[str] = (),
    weights: str | None = None,
    null_value: float = 0.0,
    n_boot: int = 9999,
    weights_type: WeightsType = "rademacher",
    impose_null: bool = True,
    alpha: float = 0.05,
    conf_int: bool = True,
    full_enumeration: bool | None = None,
    seed: int | np.random.Generator | None = None,
) -> WildBootstrapResult:
    """Wild cluster (restricted) bootstrap test and interval for one coefficient.

    Fits ``outcome ~ regressors | fixed_effects`` by (weighted) least squares and tests
    ``H0: coef[param] = null_value`` with the wild cluster bootstrap; the interval inverts the test.

    Parameters
    ----------
    data : pandas.DataFrame
        Not modified; its index may contain duplicates.
    outcome : str
        Outcome column.
    regressors : sequence of str
        Numeric regressor columns (no intercept: it is absorbed by the fixed effects, or added when
        there are none).
    cluster : str
        Cluster column (about 20 districts, about 50 sites is the intended use).
    param : str, optional
        The regressor to test; default the first of ``regressors``.
    fixed_effects : sequence of str, default ()
        Columns whose levels are absorbed (partialled out) before bootstrapping.
    weights : str, optional
        Observation (analytic) weights column.
    null_value : float, default 0.0
        ``r`` in ``H0: β = r``.
    n_boot : int, default 9999
        Number of draws (ignored, i.e. replaced by ``2^G``, under full enumeration).
    weights_type : {"rademacher", "webb"}, default "rademacher"
        Distribution of the cluster multipliers. Webb's six-point weights are advised with fewer
        than about 12 clusters.
    impose_null : bool, default True
        ``True``: WCR (restricted residuals, recommended); ``False``: WCU.
    alpha : float, default 0.05
        The interval has level ``1 - alpha``.
    conf_int : bool, default True
        Compute the interval by test inversion (about 100 bootstrap evaluations).
    full_enumeration : bool, optional
        Enumerate all ``2^G`` Rademacher sign vectors. Default: when ``2^G <= n_boot``.
    seed : int, numpy.random.Generator or None
        Randomness of the draws.

    Returns
    -------
    WildBootstrapResult

    Raises
    ------
    ConfigurationError
        Unknown column, option or parameter value.
    DataValidationError
        Missing values in a used column (count and an example row), fewer than 2 clusters.

    References
    ----------
    Cameron, Gelbach & Miller (2008); Roodman, MacKinnon, Nielsen & Webb (2019), section 3;
    Webb (2023). See the module docstring.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(12), 5)
    >>> df = pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60), "g": g})
    >>> r = wild_cluster_bootstrap(df, outcome="y", regressors=["x"], cluster="g", n_boot=999,
    ...                            weights_type="webb", seed=1)
    >>> r.n_boot, r.weights_type, bool(0 < r.p_value < 1)
    (999, 'webb', True)
    """
    where = "wild_cluster_bootstrap"
    if not isinstance(data, pd.DataFrame):
        raise ConfigurationError(f"{where}: data must be a pandas DataFrame, got {type(data).__name__}.")
    regressors = [regressors] if isinstance(regressors, str) else list(regressors)
    if not regressors:
        raise ConfigurationError(f"{where}: regressors must name at least one column.")
    fixed_effects = [fixed_effects] if isinstance(fixed_effects, str) else list(fixed_effects)
    param = regressors[0] if param is None else param
    cols = [outcome, *regressors, cluster, *fixed_effects] + ([weights] if weights else [])
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ConfigurationError(f"{where}: column(s) {missing} not found in data; available: {list(data.columns)}.")
    frame = data[list(dict.fromkeys(cols))].reset_index(drop=True)
    bad = frame.isna().any(axis=1).to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"{where}: {int(bad.sum())} row(s) have missing values in {cols}; e.g. row {first}: "
            f"{frame.iloc[first].to_dict()}. Drop or impute them explicitly."
        )
    for c in [outcome, *regressors] + ([weights] if weights else []):
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise ConfigurationError(f"{where}: column {c!r} must be numeric, got dtype {frame[c].dtype}.")
    x = frame[regressors].to_numpy(dtype=float)
    if not fixed_effects:
        x = np.column_stack([x, np.ones(len(frame))])
        names = [*regressors, "(Intercept)"]
    else:
        names = regressors
    w = frame[weights].to_numpy(dtype=float) if weights else None
    if w is not None and np.any(w < 0):
        raise DataValidationError(f"{where}: weights column {weights!r} has {int((w < 0).sum())} negative value(s).")
    design = make_design(
        frame[outcome].to_numpy(dtype=float),
        x,
        names=names,
        clusters=frame[cluster].to_numpy(),
        fixed_effects=[frame[f].to_numpy() for f in fixed_effects],
        weights=w,
    )
    return bootstrap_design(
        design,
        param=param,
        null_value=null_value,
        n_boot=n_boot,
        weights_type=weights_type,
        impose_null=impose_null,
        alpha=alpha,
        conf_int=conf_int,
        full_enumeration=full_enumeration,
        seed=seed,
    )
