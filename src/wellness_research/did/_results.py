"""Result objects of the TWFE family: 2×2 DiD, event study, Goodman-Bacon decomposition, wild bootstrap.

All are frozen value objects with ``tidy()`` (columns ``term, estimate, std_error, conf_low,
conf_high, p_value, n`` first, extra columns after), ``summary()`` (plain text) and ``_repr_html_``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from .wild import WeightsType

__all__ = [
    "BaconResult",
    "DiDResult",
    "EventStudyResult",
    "PreTrendTest",
    "WildBootstrapResult",
]

TIDY_COLUMNS = ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]


def _fmt(v: float, width: int = 10) -> str:
    return f"{v:{width}.4f}" if math.isfinite(v) else f"{'NaN':>{width}}"


def _html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")


# --------------------------------------------------------------------------------------------
# wild cluster bootstrap
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class WildBootstrapResult:
    """Wild cluster bootstrap test of one coefficient (and interval by test inversion).

    Attributes
    ----------
    term : str
        The tested coefficient.
    estimate : float
        Least-squares estimate.
    std_error : float
        CRV1 standard error, ``c = G/(G−1)·(N−1)/(N−k)`` (``k`` counts the regressors and the
        absorbed fixed-effect levels not nested in the clusters).
    t_stat : float
        ``(estimate − null_value) / std_error``.
    p_value : float
        Bootstrap two-sided symmetric p-value, share of ``|t*| > |t|``.
    conf_low, conf_high : float
        ``1 − alpha`` interval from test inversion (NaN if not computed).
    null_value : float
    n_boot : int
        Draws used (``2^G`` under full enumeration).
    weights_type : {"rademacher", "webb"}
    impose_null : bool
        ``True`` for WCR, ``False`` for WCU.
    full_enumeration : bool
    n_clusters, n_obs : int
    alpha : float
    """

    term: str
    estimate: float
    std_error: float
    t_stat: float
    p_value: float
    conf_low: float
    conf_high: float
    null_value: float
    n_boot: int
    weights_type: str
    impose_null: bool
    full_enumeration: bool
    n_clusters: int
    n_obs: int
    alpha: float = 0.05

    @property
    def method(self) -> str:
        """E.g. ``"WCR, rademacher, 9999 draws"``."""
        kind = "WCR" if self.impose_null else "WCU"
        draws = f"all {self.n_boot} sign vectors" if self.full_enumeration else f"{self.n_boot} draws"
        return f"{kind} wild cluster bootstrap, {self.weights_type} weights, {draws}"

    def tidy(self) -> pd.DataFrame:
        """One row; extra columns ``t_stat``, ``n_clusters``, ``method``."""
        row = [self.term, self.estimate, self.std_error, self.conf_low, self.conf_high, self.p_value, self.n_obs,
               self.t_stat, self.n_clusters, self.method]
        return pd.DataFrame([row], columns=[*TIDY_COLUMNS, "t_stat", "n_clusters", "method"])

    def summary(self) -> str:
        """Plain-text summary."""
        level = f"{100 * (1 - self.alpha):g}%"
        return "\n".join([
            f"Wild cluster bootstrap for {self.term} (H0: {self.term} = {self.null_value:g})",
            f"  estimate  {_fmt(self.estimate)}   CRV1 s.e. {_fmt(self.std_error)}   t = {self.t_stat:.3f}",
            f"  bootstrap p = {self.p_value:.4f}   {level} CI [{self.conf_low:.4f}, {self.conf_high:.4f}]",
            f"  {self.method}; {self.n_clusters} clusters, {self.n_obs} observations",
        ])

    def _repr_html_(self) -> str:
        return _html(self.tidy())


# --------------------------------------------------------------------------------------------
# 2×2
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class DiDResult:
    """A difference-in-differences estimate from the two-way fixed-effects regression.

    Attributes
    ----------
    estimate, std_error, t_stat, p_value, conf_low, conf_high : float
        Coefficient on ``treated × post`` and its inference as pyfixest reports it (t distribution
        with ``df`` degrees of freedom: ``G − 1`` when clustered).
    df : float
        Degrees of freedom of the t distribution.
    cell_means : pandas.DataFrame
        Outcome means (weighted if ``weights``) by group (treated/control) and period (pre/post),
        with the number of rows, units and the sum of weights in each cell.
    cell_mean_did : float
        ``(ȳ_T,post − ȳ_T,pre) − (ȳ_C,post − ȳ_C,pre)`` from ``cell_means``; equals ``estimate`` in a
        balanced panel with common timing (and time-invariant weights).
    n_obs, n_units : int
    n_clusters : int or None
        Clusters (``None`` for iid / heteroskedasticity-robust errors).
    vcov_type : str
        E.g. ``"CRV1 by State"`` or ``"hetero"``.
    outcome, unit, time, treated, post : str
    cluster, weights : str or None
    alpha : float
    notes : tuple of str
    """

    estimate: float
    std_error: float
    t_stat: float
    p_value: float
    conf_low: float
    conf_high: float
    df: float
    cell_means: pd.DataFrame
    cell_mean_did: float
    n_obs: int
    n_units: int
    n_clusters: int | None
    vcov_type: str
    outcome: str
    unit: str
    time: str
    treated: str
    post: str
    cluster: str | None = None
    weights: str | None = None
    alpha: float = 0.05
    notes: tuple[str, ...] = ()
    _design: Any = field(default=None, repr=False)

    @property
    def term(self) -> str:
        """Label of the estimate."""
        return f"{self.treated}:{self.post}"

    def tidy(self) -> pd.DataFrame:
        """One row (``term = "treated:post"``); extra columns ``t_stat``, ``df``, ``vcov_type``."""
        row = [self.term, self.estimate, self.std_error, self.conf_low, self.conf_high, self.p_value, self.n_obs,
               self.t_stat, self.df, self.vcov_type]
        return pd.DataFrame([row], columns=[*TIDY_COLUMNS, "t_stat", "df", "vcov_type"])

    def summary(self) -> str:
        """Plain text: the estimate, its inference and the 2×2 table of means."""
        level = f"{100 * (1 - self.alpha):g}%"
        cm = self.cell_means.set_index(["group", "period"])["mean"]
        lines = [
            f"Difference-in-differences (TWFE: {self.outcome} ~ {self.term} | {self.unit} + {self.time})",
            f"  estimate   {self.estimate: .6f}",
            f"  std.error  {self.std_error: .6f}   [{self.vcov_type}]",
            f"  {level} CI     [{self.conf_low:.6f}, {self.conf_high:.6f}]   t = {self.t_stat:.3f}, "
            f"p = {self.p_value:.4g} (t, df = {self.df:g})",
            f"  n = {self.n_obs} rows, {self.n_units} units"
            + (f", {self.n_clusters} clusters" if self.n_clusters is not None else ""),
            "  cell means        pre        post      change",
        ]
        for g in ("treated", "control"):
            pre, post = float(cm.get((g, "pre"), np.nan)), float(cm.get((g, "post"), np.nan))
            lines.append(f"    {g:<9} {_fmt(pre, 10)}  {_fmt(post, 10)}  {_fmt(post - pre, 10)}")
        lines.append(f"  2×2 of cell means: {self.cell_mean_did:.6f}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.tidy()) + _html(self.cell_means)

    def plot(self, ax: Any = None) -> Any:
        """Means of treated and control before/after, with the parallel-trend counterfactual."""
        from .plots import plot_did_means

        return plot_did_means(self, ax=ax)

    def wild_bootstrap(
        self,
        *,
        n_boot: int = 9999,
        weights_type: WeightsType = "rademacher",
        impose_null: bool = True,
        alpha: float | None = None,
        conf_int: bool = True,
        full_enumeration: bool | None = None,
        seed: int | np.random.Generator | None = None,
    ) -> WildBootstrapResult:
        """Wild cluster bootstrap of the DiD coefficient, clustered as this fit.

        See :func:`wellness_research.did.wild.wild_cluster_bootstrap` for the parameters.
        """
        from ..errors import ConfigurationError
        from .wild import bootstrap_design

        if self._design is None:
            raise ConfigurationError(
                "DiDResult.wild_bootstrap: needs a clustered fit (vcov='CRV1'); this one used "
                f"{self.vcov_type!r}."
            )
        design = self._design()
        return bootstrap_design(
            design, param=design.names[0], n_boot=n_boot, weights_type=weights_type,
            impose_null=impose_null, alpha=self.alpha if alpha is None else alpha, conf_int=conf_int,
            full_enumeration=full_enumeration, seed=seed, where="DiDResult.wild_bootstrap",
        )


# --------------------------------------------------------------------------------------------
# event study
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreTrendTest:
    """Wald test that all pre-period coefficients are zero: ``W = β_preᵀ Σ_pre⁻¹ β_pre ~ χ²(df)``."""

    statistic: float
    df: int
    p_value: float

    def __str__(self) -> str:
        return f"Wald χ²({self.df}) = {self.statistic:.3f}, p = {self.p_value:.4g}"


@dataclass(frozen=True, eq=False)
class EventStudyResult:
    """A TWFE event study: relative-time coefficients with pointwise and simultaneous bands.

    Attributes
    ----------
    event_time : numpy.ndarray
        Event times of the estimated coefficients (the reference period excluded), increasing.
        With a ``window`` the end points are bins (``<= lo`` and ``>= hi``).
    estimates, std_errors : numpy.ndarray
        Coefficients and their standard errors, ordered as ``event_time``.
    vcov : numpy.ndarray
        Their covariance matrix, same order.
    reference : int
        The omitted event time (coefficient normalised to 0).
    conf_low, conf_high : numpy.ndarray
        Pointwise ``1 − alpha`` intervals (t distribution, ``df``).
    band_low, band_high : numpy.ndarray
        Simultaneous (sup-t) band: ``estimate ± crit_simultaneous · std_error``.
    crit_simultaneous : float
        ``1 − alpha`` quantile of ``max_k |Z_k| / se_k`` with ``Z ~ N(0, vcov)`` (``n_band_draws``
        draws, ``seed``).
    pretrend : PreTrendTest or None
        Joint test of the pre-period coefficients (``None`` without any).
    n_by_event_time : numpy.ndarray
        Rows contributing to each coefficient.
    n_reference : int
        Rows at the reference event time.
    n_obs, n_units : int
    n_clusters : int or None
    vcov_type : str
    df : float
    staggered : bool
        More than one treatment cohort.
    diagnostic : BaconResult or None
        Goodman-Bacon / de Chaisemartin–D'Haultfœuille diagnostic of the static TWFE under
        staggered timing.
    window : tuple of int or None
    alpha : float
    notes : tuple of str
    """

    event_time: np.ndarray
    estimates: np.ndarray
    std_errors: np.ndarray
    vcov: np.ndarray
    reference: int
    conf_low: np.ndarray
    conf_high: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray
    crit_simultaneous: float
    p_values: np.ndarray
    pretrend: PreTrendTest | None
    n_by_event_time: np.ndarray
    n_obs: int
    n_units: int
    n_clusters: int | None
    vcov_type: str
    df: float
    staggered: bool
    outcome: str
    n_reference: int
    diagnostic: BaconResult | None = None
    window: tuple[int, int] | None = None
    alpha: float = 0.05
    notes: tuple[str, ...] = ()
    _design: Any = field(default=None, repr=False)

    # ---- what HonestDiD consumes ----------------------------------------------------------
    @property
    def beta(self) -> np.ndarray:
        """Coefficients (pre then post, by event time, reference excluded), a copy."""
        return self.estimates.copy()

    @property
    def sigma(self) -> np.ndarray:
        """Covariance matrix of :attr:`beta`, a copy."""
        return self.vcov.copy()

    @property
    def num_pre(self) -> int:
        """Number of pre-period coefficients (event time < 0, reference excluded)."""
        return int(np.sum(self.event_time < 0))

    @property
    def num_post(self) -> int:
        """Number of post-period coefficients (event time >= 0)."""
        return int(np.sum(self.event_time >= 0))

    def labels(self) -> list[str]:
        """Term labels, e.g. ``"rel_time::-2"``; binned ends as ``"rel_time::<=-4"``."""
        out = []
        for k, e in enumerate(self.event_time):
            if self.window is not None and k == 0 and e == self.window[0]:
                out.append(f"rel_time::<={e}")
            elif self.window is not None and k == len(self.event_time) - 1 and e == self.window[1]:
                out.append(f"rel_time::>={e}")
            else:
                out.append(f"rel_time::{e}")
        return out

    def tidy(self) -> pd.DataFrame:
        """One row per event time, the reference included (estimate 0, NaN SE).

        Extra columns: ``event_time``, ``band_low``, ``band_high`` (simultaneous), ``reference``.
        """
        frame = pd.DataFrame({
            "term": self.labels(),
            "estimate": self.estimates,
            "std_error": self.std_errors,
            "conf_low": self.conf_low,
            "conf_high": self.conf_high,
            "p_value": self.p_values,
            "n": self.n_by_event_time,
            "event_time": self.event_time,
            "band_low": self.band_low,
            "band_high": self.band_high,
            "reference": False,
        })
        ref = pd.DataFrame({
            "term": [f"rel_time::{self.reference}"], "estimate": [0.0], "std_error": [np.nan],
            "conf_low": [np.nan], "conf_high": [np.nan], "p_value": [np.nan], "n": [self.n_reference],
            "event_time": [self.reference], "band_low": [np.nan], "band_high": [np.nan], "reference": [True],
        })
        out = pd.concat([frame, ref], ignore_index=True)
        return out.sort_values("event_time", kind="stable").reset_index(drop=True)

    def summary(self) -> str:
        """Plain text: coefficient table, pre-trend test, band critical value, notes."""
        level = f"{100 * (1 - self.alpha):g}%"
        lines = [
            f"Event study (TWFE, relative-time dummies, reference {self.reference}) of {self.outcome}",
            f"  {self.n_obs} rows, {self.n_units} units"
            + (f", {self.n_clusters} clusters" if self.n_clusters is not None else "")
            + f"; s.e. {self.vcov_type}",
            f"  {'term':<18}{'estimate':>10}{'s.e.':>10}   {level} pointwise        simultaneous",
        ]
        for row in self.tidy().itertuples(index=False):
            if row.reference:
                lines.append(f"  {row.term:<18}{0.0:10.4f}{'(ref)':>10}")
                continue
            lines.append(
                f"  {row.term:<18}{row.estimate:10.4f}{row.std_error:10.4f}   "
                f"[{row.conf_low:8.4f}, {row.conf_high:8.4f}]  [{row.band_low:8.4f}, {row.band_high:8.4f}]"
            )
        lines.append(f"  sup-t critical value {self.crit_simultaneous:.3f}")
        lines.append(f"  pre-trend test: {self.pretrend}" if self.pretrend else "  pre-trend test: no pre periods")
        if self.staggered:
            lines.append("  staggered timing: TWFE is a diagnostic only; use att_gt for the estimate.")
            if self.diagnostic is not None:
                lines.append("  " + self.diagnostic.headline())
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.tidy())

    def plot(self, ax: Any = None) -> Any:
        """Coefficient plot: pointwise intervals, simultaneous band, zero line."""
        from .plots import plot_event_study

        return plot_event_study(self, ax=ax)

    def wild_bootstrap(
        self,
        event_time: int,
        *,
        n_boot: int = 9999,
        weights_type: WeightsType = "rademacher",
        impose_null: bool = True,
        alpha: float | None = None,
        conf_int: bool = True,
        full_enumeration: bool | None = None,
        seed: int | np.random.Generator | None = None,
    ) -> WildBootstrapResult:
        """Wild cluster bootstrap of the coefficient at ``event_time`` (the other dummies as controls)."""
        from ..errors import ConfigurationError
        from .wild import bootstrap_design

        if self._design is None:
            raise ConfigurationError(
                f"EventStudyResult.wild_bootstrap: needs a clustered fit; this one used {self.vcov_type!r}."
            )
        idx = np.flatnonzero(self.event_time == event_time)
        if idx.size == 0:
            raise ConfigurationError(
                f"EventStudyResult.wild_bootstrap: event_time={event_time!r} is not an estimated "
                f"coefficient; use one of {self.event_time.tolist()}."
            )
        design = self._design()
        return bootstrap_design(
            design, param=design.names[int(idx[0])], n_boot=n_boot, weights_type=weights_type,
            impose_null=impose_null, alpha=self.alpha if alpha is None else alpha, conf_int=conf_int,
            full_enumeration=full_enumeration, seed=seed, where="EventStudyResult.wild_bootstrap",
        )


# --------------------------------------------------------------------------------------------
# Goodman-Bacon / dCDH
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BaconResult:
    """Decomposition of the static TWFE coefficient under staggered timing.

    Attributes
    ----------
    twfe_estimate : float
        Coefficient of ``y ~ D | unit + time`` (D = 1 from the cohort's first period on).
    components : pandas.DataFrame or None
        Goodman-Bacon (2021) 2×2 comparisons: ``type`` (``"earlier vs later"``,
        ``"later vs earlier"``, ``"treated vs never"``, ``"treated vs always"``), ``treated``,
        ``control`` (cohorts), ``estimate``, ``weight``. ``Σ weight · estimate = twfe_estimate``.
        ``None`` for an unbalanced panel (see ``notes``).
    cell_weights : pandas.DataFrame
        de Chaisemartin & D'Haultfœuille (2020) weights of the treated (cohort, time) cells:
        ``cohort``, ``time``, ``n``, ``weight`` (summing to 1).
    negative_weight_share : float
        Share of treated observations whose dCDH weight is negative.
    negative_weight_sum : float
        Sum of the negative dCDH weights.
    notes : tuple of str
    """

    twfe_estimate: float
    components: pd.DataFrame | None
    cell_weights: pd.DataFrame
    negative_weight_share: float
    negative_weight_sum: float
    n_obs: int
    n_units: int
    notes: tuple[str, ...] = ()

    def by_type(self) -> pd.DataFrame:
        """Total weight and weight-averaged estimate of each comparison type."""
        if self.components is None:
            return pd.DataFrame(columns=["type", "weight", "estimate"])
        c = self.components
        out = c.assign(we=c["weight"] * c["estimate"]).groupby("type", sort=False)[["weight", "we"]].sum()
        out["estimate"] = out["we"] / out["weight"]
        return out.drop(columns="we").reset_index()

    def tidy(self) -> pd.DataFrame:
        """One row per 2×2 comparison (or, unbalanced, the TWFE row only); extra columns ``type``,
        ``treated``, ``control``, ``weight``. Standard errors are not defined here (NaN)."""
        nan = float("nan")
        rows = [["TWFE", self.twfe_estimate, nan, nan, nan, nan, self.n_obs, "twfe", None, None, 1.0]]
        if self.components is not None:
            for r in self.components.itertuples(index=False):
                rows.append([f"{r.type}: {r.treated} vs {r.control}", r.estimate, nan, nan, nan, nan, r.n,
                             r.type, r.treated, r.control, r.weight])
        return pd.DataFrame(rows, columns=[*TIDY_COLUMNS, "type", "treated", "control", "weight"])

    def headline(self) -> str:
        """One line: the TWFE estimate, the forbidden-comparison weight and the negative weights."""
        parts = [f"TWFE {self.twfe_estimate:.4f}"]
        if self.components is not None:
            bad = self.components.loc[self.components["type"] == "later vs earlier", "weight"].sum()
            parts.append(f"weight on later-vs-earlier (already-treated controls) {bad:.3f}")
        parts.append(f"dCDH negative weights: {100 * self.negative_weight_share:.1f}% of treated rows, "
                     f"sum {self.negative_weight_sum:.3f}")
        return "; ".join(parts)

    def summary(self) -> str:
        """Plain text: the components by type and the negative-weight diagnostic."""
        lines = ["TWFE decomposition under staggered timing", "  " + self.headline()]
        bt = self.by_type()
        if len(bt):
            lines.append(f"  {'type':<20}{'weight':>10}{'estimate':>12}")
            for r in bt.itertuples(index=False):
                lines.append(f"  {r.type:<20}{r.weight:10.4f}{r.estimate:12.4f}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html(self.tidy())
