"""Probabilistic sensitivity analysis: parameter distributions and a parallel, reproducible driver.

Distributions are specified the way a model's evidence arrives: a mean and a standard error
(method of moments), event counts, or a point estimate with a 95 % interval (a hazard ratio from
``matching`` or ``did``).

Method of moments (mean ``m``, standard error ``s``)
    * Beta (probabilities): ``k = m(1 − m)/s² − 1``, ``α = m·k``, ``β = (1 − m)·k``; requires
      ``s² < m(1 − m)``. From counts (``r`` events in ``n``): ``α = r``, ``β = n − r``.
    * Gamma (costs, rates): shape ``m²/s²``, scale ``s²/m``.
    * Log-normal (ratios, costs): ``σ² = ln(1 + s²/m²)``, ``μ = ln m − σ²/2`` (so the mean is m).
      From a point estimate and 95 % interval (hazard ratios): ``μ = ln(point)``,
      ``σ = (ln high − ln low)/(2·1.959964)`` (so the *median* is the point estimate).
    * Dirichlet (transition-matrix rows, entry-level mix): ``α = counts`` (plus an optional prior,
      e.g. 1 for each category); from proportions ``p`` and an effective sample size ``n``,
      ``α = p·n``. :class:`DirichletRows` draws a whole stack of rows at once (every sex × age band
      row of a transition matrix, each row independent), and :func:`band_matrix_value` turns a draw
      into the value of ``transitions.annual_matrix_percent`` for :meth:`Parameters.replace`.

Reproducibility
    :func:`run_psa` derives everything from one :class:`numpy.random.SeedSequence`: one child
    draws all parameter sets in the calling process, one child per draw gives the model its own
    integer seed. A draw's parameters and seed therefore do not depend on ``n_jobs``, on the joblib
    backend (``loky``, ``threading``, ``dask``) or on the order in which workers finish.

Parallel draws
    By default (``prefer="threads"``) the draws run in threads, which suits a model whose work
    releases the GIL, such as :func:`~wellness_research.microsim.project` (a compiled ``nogil``
    kernel): no worker processes to start, nothing to pickle. When draws run in parallel, each
    draw's projection runs its kernel in one thread, so ``n_jobs`` draws use ``n_jobs`` cores. A
    model that projects the same population at every draw should encode it once with
    :func:`~wellness_research.microsim.engine.encode_population`.

References
----------
Briggs, A., Claxton, K. & Sculpher, M. (2006). *Decision Modelling for Health Economic Evaluation*,
ch. 4 (choice of distributions, method of moments).
Alarid-Escudero, F. et al. dampack (R): ``beta_params``, ``gamma_params``, ``lnorm_params``,
``dirichlet_params``, ``gen_psa_samp`` — the same parameterisations.
numpy documentation, "Parallel random number generation" (SeedSequence spawning).

Examples
--------
>>> from wellness_research.microsim.psa import Beta, Gamma, run_psa
>>> def model(p, seed):
...     return {"no": {"cost": 0.0, "effect": 0.0},
...             "yes": {"cost": p["c"], "effect": p["q"]}}
>>> res = run_psa(model, {"c": Gamma.from_mean_se(100, 10), "q": Beta.from_mean_se(0.5, 0.1)},
...               n_draws=50, seed=1)
>>> res.parameters.shape
(50, 2)
>>> res.outcomes.columns.tolist()
['draw', 'strategy', 'outcome', 'value']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ConfigurationError
from . import economics as econ

__all__ = [
    "Beta",
    "Dirichlet",
    "DirichletRows",
    "Distribution",
    "Fixed",
    "Gamma",
    "LogNormal",
    "PSAResult",
    "band_matrix_value",
    "run_psa",
]

_Z975 = float(stats.norm.ppf(0.975))

Prefer = Literal["threads", "processes"]


def _positive(name: str, value: float, cls: str) -> float:
    if not (np.isfinite(value) and value > 0):
        raise ConfigurationError(f"{cls}: {name} must be a positive finite number, got {value!r}.")
    return float(value)


class Distribution:
    """Base class: ``sample(rng, size)`` returns ``size`` draws (shape ``(size,)`` or ``(size, k)``)."""

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def mean(self) -> float | np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Fixed(Distribution):
    """A constant (kept in the PSA table so that every draw records every parameter)."""

    value: float

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, float(self.value))

    @property
    def mean(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Beta(Distribution):
    """Beta(alpha, beta) for probabilities and proportions.

    Examples
    --------
    >>> b = Beta.from_mean_se(0.2, 0.04)
    >>> round(b.alpha, 6), round(b.beta, 6)
    (19.8, 79.2)
    >>> Beta.from_counts(3, 10)
    Beta(alpha=3.0, beta=7.0)
    """

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        _positive("alpha", self.alpha, "Beta")
        _positive("beta", self.beta, "Beta")

    @classmethod
    def from_mean_se(cls, mean: float, se: float) -> Beta:
        """Method of moments; needs ``0 < mean < 1`` and ``se² < mean(1 − mean)``."""
        if not 0 < mean < 1:
            raise ConfigurationError(f"Beta.from_mean_se: mean must be in (0, 1), got {mean!r}.")
        _positive("se", se, "Beta.from_mean_se")
        if se**2 >= mean * (1 - mean):
            raise ConfigurationError(
                f"Beta.from_mean_se: se={se!r} is too large for mean={mean!r} (se² must be < mean(1 − mean))."
            )
        k = mean * (1 - mean) / se**2 - 1
        return cls(alpha=mean * k, beta=(1 - mean) * k)

    @classmethod
    def from_counts(cls, events: float, n: float) -> Beta:
        """``events`` out of ``n`` (both > 0, events < n): alpha = events, beta = n − events."""
        if not 0 < events < n:
            raise ConfigurationError(f"Beta.from_counts: need 0 < events < n, got events={events!r}, n={n!r}.")
        return cls(alpha=float(events), beta=float(n - events))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.beta(self.alpha, self.beta, size=size)

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def sd(self) -> float:
        a, b = self.alpha, self.beta
        return float(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))


@dataclass(frozen=True)
class Gamma(Distribution):
    """Gamma(shape, scale) for costs and rates.

    Examples
    --------
    >>> Gamma.from_mean_se(100.0, 20.0)
    Gamma(shape=25.0, scale=4.0)
    """

    shape: float
    scale: float

    def __post_init__(self) -> None:
        _positive("shape", self.shape, "Gamma")
        _positive("scale", self.scale, "Gamma")

    @classmethod
    def from_mean_se(cls, mean: float, se: float) -> Gamma:
        _positive("mean", mean, "Gamma.from_mean_se")
        _positive("se", se, "Gamma.from_mean_se")
        return cls(shape=mean**2 / se**2, scale=se**2 / mean)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, size=size)

    @property
    def mean(self) -> float:
        return self.shape * self.scale

    @property
    def sd(self) -> float:
        return float(np.sqrt(self.shape) * self.scale)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """Log-normal: ``exp(N(meanlog, sdlog²))`` for ratios (hazard ratios) and skewed costs.

    Examples
    --------
    >>> d = LogNormal.from_ci(0.8, 0.64, 1.0)        # HR 0.80 (0.64–1.00)
    >>> round(d.meanlog, 6), round(d.sdlog, 6)
    (-0.223144, 0.113851)
    >>> round(LogNormal.from_mean_se(2.0, 1.0).mean, 12)
    2.0
    """

    meanlog: float
    sdlog: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.meanlog):
            raise ConfigurationError(f"LogNormal: meanlog must be finite, got {self.meanlog!r}.")
        if not (np.isfinite(self.sdlog) and self.sdlog >= 0):
            raise ConfigurationError(f"LogNormal: sdlog must be ≥ 0, got {self.sdlog!r}.")

    @classmethod
    def from_mean_se(cls, mean: float, se: float) -> LogNormal:
        _positive("mean", mean, "LogNormal.from_mean_se")
        _positive("se", se, "LogNormal.from_mean_se")
        s2 = np.log1p(se**2 / mean**2)
        return cls(meanlog=float(np.log(mean) - s2 / 2), sdlog=float(np.sqrt(s2)))

    @classmethod
    def from_ci(cls, point: float, low: float, high: float, *, level: float = 0.95) -> LogNormal:
        """From a point estimate (the median) and a symmetric-on-log ``level`` interval."""
        for name, v in (("point", point), ("low", low), ("high", high)):
            _positive(name, v, "LogNormal.from_ci")
        if not low <= point <= high or low == high:
            raise ConfigurationError(
                f"LogNormal.from_ci: need low ≤ point ≤ high and low < high, got {low!r}, {point!r}, {high!r}."
            )
        z = float(stats.norm.ppf(0.5 + level / 2))
        return cls(meanlog=float(np.log(point)), sdlog=float((np.log(high) - np.log(low)) / (2 * z)))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(self.meanlog, self.sdlog, size=size)

    @property
    def mean(self) -> float:
        return float(np.exp(self.meanlog + self.sdlog**2 / 2))

    @property
    def sd(self) -> float:
        return float(self.mean * np.sqrt(np.expm1(self.sdlog**2)))


@dataclass(frozen=True)
class Dirichlet(Distribution):
    """Dirichlet(alpha) for a row of probabilities that sums to 1 (draws have shape ``(size, k)``).

    Examples
    --------
    >>> Dirichlet.from_counts([676, 194, 97, 22, 7, 4, 1]).mean.round(4)
    array([0.6753, 0.1938, 0.0969, 0.022 , 0.007 , 0.004 , 0.001 ])
    """

    alpha: tuple[float, ...]

    def __post_init__(self) -> None:
        a = np.asarray(self.alpha, dtype=float)
        if a.ndim != 1 or len(a) < 2 or not (np.isfinite(a).all() and (a > 0).all()):
            raise ConfigurationError(
                f"Dirichlet: alpha must be ≥ 2 positive finite numbers, got {self.alpha!r} "
                "(add a prior, e.g. from_counts(counts, prior=1), when a count is zero)."
            )
        object.__setattr__(self, "alpha", tuple(float(x) for x in a))

    @classmethod
    def from_counts(cls, counts: Sequence[float], *, prior: float = 0.0) -> Dirichlet:
        return cls(alpha=tuple(float(c) + prior for c in counts))

    @classmethod
    def from_proportions(cls, proportions: Sequence[float], *, n: float) -> Dirichlet:
        p = np.asarray(proportions, dtype=float)
        if not np.isclose(p.sum(), 1.0, atol=1e-6):
            raise ConfigurationError(f"Dirichlet.from_proportions: proportions sum to {p.sum()!r}, not 1.")
        _positive("n", n, "Dirichlet.from_proportions")
        return cls(alpha=tuple(p * n))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.dirichlet(np.asarray(self.alpha), size=size)

    @property
    def mean(self) -> np.ndarray:
        a = np.asarray(self.alpha)
        return a / a.sum()


@dataclass(frozen=True, eq=False)
class DirichletRows(Distribution):
    """Independent Dirichlet draws for every row of a stack of probability rows.

    ``alpha`` has shape ``(..., k)``: one row of ``k`` concentration parameters per leading index, e.g.
    ``(2 sex, n_bands, 7, 7)`` for the level-transition matrix of every sex × age band (the last axis
    the level 12 months later). Each row is drawn from its own Dirichlet, independently of the others
    (draws have shape ``(size, *alpha.shape)``; every row sums to 1). A zero in ``alpha`` is a
    structural zero (a move not observed and not given a prior): that entry is 0 in every draw, and the
    row is a Dirichlet over its positive entries. Each row needs at least one positive entry.

    Draws are ``G_j / Σ G``, ``G_j ~ Gamma(α_j, 1)`` independent (Briggs et al. 2006, §4.3: the
    Dirichlet as normalised gammas), so one call to the generator draws every row.

    Examples
    --------
    >>> import numpy as np
    >>> counts = np.array([[[80, 15, 5], [10, 70, 20]]])  # 1 stratum, a 2-row, 3-category table
    >>> d = DirichletRows.from_counts(counts)
    >>> d.mean.round(3).tolist()
    [[[0.8, 0.15, 0.05], [0.1, 0.7, 0.2]]]
    >>> x = d.sample(np.random.default_rng(0), 4)
    >>> x.shape, bool(np.allclose(x.sum(axis=-1), 1.0))
    ((4, 1, 2, 3), True)
    """

    alpha: np.ndarray

    def __post_init__(self) -> None:
        a = np.array(self.alpha, dtype=float, copy=True)
        if a.ndim < 1 or a.shape[-1] < 2:
            raise ConfigurationError(
                f"DirichletRows: alpha must have rows of >= 2 categories on its last axis, got shape {a.shape}.")
        if not (np.isfinite(a).all() and (a >= 0).all()):
            raise ConfigurationError("DirichletRows: alpha must be finite and >= 0 (counts, or proportions x n).")
        empty = a.sum(axis=-1) <= 0
        if empty.any():
            where = tuple(int(i) for i in np.argwhere(empty)[0])
            raise ConfigurationError(
                f"DirichletRows: {int(empty.sum())} row(s) have no positive alpha, e.g. row {where}; "
                "give every row at least one count or a prior (from_counts(counts, prior=...)).")
        a.setflags(write=False)
        object.__setattr__(self, "alpha", a)

    @classmethod
    def from_counts(cls, counts: Any, *, prior: float = 0.0, structural_zeros: Any = None) -> DirichletRows:
        """``alpha = counts + prior``; ``structural_zeros`` (bool, shape of ``counts``) stay 0 whatever the prior."""
        c = np.asarray(counts, dtype=float)
        if not (np.isfinite(prior) and prior >= 0):
            raise ConfigurationError(f"DirichletRows.from_counts: prior must be >= 0, got {prior!r}.")
        a = c + float(prior)
        if structural_zeros is not None:
            z = np.asarray(structural_zeros, dtype=bool)
            if z.shape != c.shape:
                raise ConfigurationError(
                    f"DirichletRows.from_counts: structural_zeros has shape {z.shape}, counts {c.shape}.")
            a = np.where(z, 0.0, a)
        return cls(alpha=a)

    @classmethod
    def from_proportions(cls, proportions: Any, *, n: float | Any) -> DirichletRows:
        """``alpha = p · n`` with ``n`` the effective sample size of each row (a number or one per row)."""
        p = np.asarray(proportions, dtype=float)
        sums = p.sum(axis=-1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            raise ConfigurationError(
                f"DirichletRows.from_proportions: every row must sum to 1; sums range {sums.min()!r}..{sums.max()!r} "
                "(percent tables: divide by 100).")
        ess = np.asarray(n, dtype=float)
        if not (np.isfinite(ess).all() and (ess > 0).all()):
            raise ConfigurationError(f"DirichletRows.from_proportions: n must be positive, got {n!r}.")
        return cls(alpha=p * np.broadcast_to(ess, sums.shape)[..., None])

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        g = rng.standard_gamma(np.broadcast_to(self.alpha, (int(size), *self.alpha.shape)))
        return g / g.sum(axis=-1, keepdims=True)

    @property
    def mean(self) -> np.ndarray:
        return self.alpha / self.alpha.sum(axis=-1, keepdims=True)


def band_matrix_value(rows: Any, bands: Sequence[str]) -> dict[str, Any]:
    """The value of ``transitions.annual_matrix_percent`` by sex × age band from a draw of rows.

    ``rows`` has shape ``(2 sex, len(bands), 7, 7)`` (male first; rows = level now, columns = level 12
    months later, 要支援1..要介護5; each row sums to 1), e.g. one draw of a :class:`DirichletRows`.
    Returns ``{"bands": [...], "male": [...], "female": [...]}`` in percent, for
    ``parameters.replace({"transitions.annual_matrix_percent": value})`` (the pooled ``all`` matrix
    is then the mean of the bands, see :mod:`~wellness_research.microsim.parameters`).

    Examples
    --------
    >>> import numpy as np
    >>> from wellness_research.microsim import load_parameters
    >>> base = load_parameters()
    >>> pooled = np.asarray(base.value("transitions.annual_matrix_percent")) / 100
    >>> pooled = pooled / pooled.sum(axis=1, keepdims=True)
    >>> d = DirichletRows.from_proportions(np.broadcast_to(pooled, (2, 2, 7, 7)), n=500)
    >>> value = band_matrix_value(d.sample(np.random.default_rng(1), 1)[0], ["65-74", "75+"])
    >>> p = base.replace({"transitions.annual_matrix_percent": value})
    >>> p.annual_matrix_cells.shape
    (2, 41, 8, 8)
    """
    r = np.asarray(rows, dtype=float)
    bands = [str(b) for b in bands]
    if r.shape != (2, len(bands), 7, 7):
        raise ConfigurationError(
            f"band_matrix_value: rows must have shape (2 sex, {len(bands)} bands, 7, 7), got {r.shape}.")
    pct = 100.0 * r
    return {"bands": bands, "male": pct[0].tolist(), "female": pct[1].tolist()}


def _seed_sequence(seed: int | np.random.Generator | None) -> np.random.SeedSequence:
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int.from_bytes(seed.bytes(16), "little"))
    if seed is None or (isinstance(seed, (int, np.integer)) and seed >= 0):
        return np.random.SeedSequence(None if seed is None else int(seed))
    raise ConfigurationError(f"run_psa: seed must be a non-negative int, a numpy Generator or None, got {seed!r}.")


def _normalise_output(value: Any, draw: int) -> list[tuple[int, str, str, float]]:
    """model output → rows (draw, strategy, outcome, value)."""
    rows: list[tuple[int, str, str, float]] = []
    if isinstance(value, pd.DataFrame):
        for strategy, row in value.iterrows():
            rows.extend((draw, str(strategy), str(k), float(v)) for k, v in row.items())
        return rows
    if isinstance(value, (Mapping, pd.Series)):
        items = list(value.items())
        if items and all(isinstance(v, (Mapping, pd.Series)) for _, v in items):
            for strategy, inner in items:
                rows.extend((draw, str(strategy), str(k), float(v)) for k, v in inner.items())
            return rows
        return [(draw, "", str(k), float(v)) for k, v in items]
    if np.ndim(value) == 0:
        return [(draw, "", "value", float(value))]
    raise ConfigurationError(
        "run_psa: model must return a float, a mapping outcome -> float, a mapping strategy -> "
        f"{{outcome: float}} or a DataFrame (strategies × outcomes); draw {draw} returned {type(value).__name__}."
    )


def _run_one(
    model: Callable[..., Any], params: dict[str, Any], seed: int, draw: int, single_thread: bool = False
) -> list[tuple[int, str, str, float]]:
    if not single_thread:
        return _normalise_output(model(params, seed), draw)
    from .engine import _limit_threads

    with _limit_threads(1):
        return _normalise_output(model(params, seed), draw)


def _n_workers(parallel: Any) -> int:
    """Draws that the joblib ``Parallel`` object will run at once (1 when it cannot tell)."""
    try:
        return int(parallel._effective_n_jobs())
    except (AttributeError, TypeError, ValueError):  # a private joblib helper: fall back to "not parallel"
        return 1


@dataclass(frozen=True, eq=False)
class PSAResult:
    """The draws of a probabilistic sensitivity analysis and what follows from them.

    Attributes
    ----------
    parameters : pandas.DataFrame
        One row per draw (index ``draw``); a Dirichlet parameter ``p`` with k categories gives
        columns ``p[0]`` … ``p[k-1]``; a :class:`DirichletRows` parameter one column per entry,
        ``p[i,j,…]``.
    outcomes : pandas.DataFrame
        Long: ``draw``, ``strategy`` (``""`` for a single-strategy model), ``outcome``, ``value``.
    seeds : numpy.ndarray
        The integer seed handed to the model for each draw (uint64).
    entropy : int
        Entropy of the root SeedSequence: ``run_psa(..., seed=entropy)`` repeats the run.
    """

    parameters: pd.DataFrame
    outcomes: pd.DataFrame
    seeds: np.ndarray
    entropy: int

    @property
    def n_draws(self) -> int:
        return len(self.parameters)

    @property
    def strategies(self) -> list[str]:
        return list(dict.fromkeys(self.outcomes["strategy"]))

    def wide(self, outcome: str) -> pd.DataFrame:
        """Draws × strategies table of one outcome."""
        sub = self.outcomes.loc[self.outcomes["outcome"] == outcome]
        if sub.empty:
            known = sorted(set(self.outcomes["outcome"]))
            raise ConfigurationError(f"PSAResult: outcome must be one of {known}, got {outcome!r}.")
        return sub.pivot(index="draw", columns="strategy", values="value")[self.strategies]

    def tidy(self) -> pd.DataFrame:
        """Per strategy × outcome: mean over draws, SD, 2.5 % and 97.5 % percentiles."""
        g = self.outcomes.groupby(["strategy", "outcome"], sort=False)["value"]
        out = g.agg(
            estimate="mean",
            std_error="std",
            conf_low=lambda v: float(np.quantile(v, 0.025)),
            conf_high=lambda v: float(np.quantile(v, 0.975)),
            n="size",
        ).reset_index()
        out.insert(0, "term", [f"{s}:{o}" if s else o for s, o in zip(out["strategy"], out["outcome"], strict=True)])
        out.insert(5, "p_value", np.nan)
        return out[["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n", "strategy", "outcome"]]

    def summary(self) -> str:
        lines = [f"PSA: {self.n_draws} draws (seed entropy {self.entropy})"]
        for _, r in self.tidy().iterrows():
            lines.append(
                f"  {r['term']:<32} mean {r['estimate']:>14,.4g}  95% interval [{r['conf_low']:,.4g}, {r['conf_high']:,.4g}]"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        return "<pre>" + escape(self.summary()) + "</pre>"

    def nmb(self, *, wtp: float, cost: str = "cost", effect: str = "effect") -> pd.DataFrame:
        """Net monetary benefit per draw × strategy at ``wtp``."""
        c, e = self.wide(cost), self.wide(effect)
        return pd.DataFrame(econ.net_monetary_benefit(c, e, wtp=wtp), index=c.index, columns=c.columns)

    def ceac(self, *, wtp: float | Sequence[float] | np.ndarray, cost: str = "cost", effect: str = "effect"):
        """Acceptability curve and frontier (:class:`~wellness_research.microsim.economics.CEACResult`)."""
        return econ.ceac(self.wide(cost), self.wide(effect), wtp=wtp)

    def evpi(
        self,
        *,
        wtp: float | Sequence[float] | np.ndarray,
        cost: str = "cost",
        effect: str = "effect",
        population_per_year: float | None = None,
        horizon_years: int = 10,
        rate: float = 0.02,
    ) -> pd.DataFrame:
        """Per-person EVPI by wtp, and the population EVPI when ``population_per_year`` is given."""
        out = econ.evpi(self.wide(cost), self.wide(effect), wtp=wtp)
        if population_per_year is not None:
            out["evpi_population"] = econ.population_evpi(
                out["evpi"].to_numpy(), population_per_year=population_per_year, horizon_years=horizon_years, rate=rate
            )
        return out

    def icers(self, *, cost: str = "cost", effect: str = "effect"):
        """ICER table of the expected cost and effect over draws."""
        c, e = self.wide(cost).mean(), self.wide(effect).mean()
        return econ.icers(c.to_numpy(), e.to_numpy(), list(c.index))

    def ce_plane(
        self,
        *,
        comparator: str | None = None,
        cost: str = "cost",
        effect: str = "effect",
        wtp: float | None = None,
        title: str | None = None,
    ):
        """Cost-effectiveness plane of every strategy against ``comparator`` (default: the first)."""
        c, e = self.wide(cost), self.wide(effect)
        comparator = self.strategies[0] if comparator is None else comparator
        if comparator not in c.columns:
            raise ConfigurationError(f"ce_plane: comparator must be one of {self.strategies}, got {comparator!r}.")
        others = [s for s in c.columns if s != comparator]
        if not others:
            raise ConfigurationError("ce_plane: needs at least two strategies.")
        dc = c[others].sub(c[comparator], axis=0)
        de = e[others].sub(e[comparator], axis=0)
        labels = [f"{s} − {comparator}" for s in others]
        return econ.ce_plane_plot(dc, de, wtp=wtp, labels=labels, title=title)


def run_psa(
    model: Callable[[dict[str, Any], int], Any],
    distributions: Mapping[str, Distribution | float],
    *,
    n_draws: int,
    seed: int | np.random.Generator | None,
    n_jobs: int | None = 1,
    backend: str | None = None,
    batch_size: int | str = "auto",
    prefer: Prefer = "threads",
) -> PSAResult:
    """Draw parameter sets and run ``model(params, seed)`` on each, in parallel with joblib.

    Parameters
    ----------
    model : callable
        ``model(params, seed)``; ``params`` maps each name of ``distributions`` to one draw (a
        float, a 1-d array for a Dirichlet, an array of rows for a :class:`DirichletRows`),
        ``seed`` is an int for the model's own randomness
        (pass it to ``numpy.random.default_rng``). Returns a float, a mapping outcome → float, a
        mapping strategy → {outcome: float}, or a DataFrame (strategies × outcomes). With loky
        or Dask the model must be picklable by cloudpickle (a module-level function is safest).
    distributions : mapping name -> Distribution or number
        Numbers are kept fixed.
    n_draws : int
    seed : int, numpy.random.Generator or None
        Root of the SeedSequence; with an int the run is reproducible whatever ``n_jobs`` and
        ``backend``.
    n_jobs : int or None, default 1
        Draws run at once (joblib semantics: -1 = all cores). ``None`` takes ``n_jobs`` from an
        enclosing ``joblib.parallel_config``.
    backend : str, optional
        joblib backend. ``None`` uses the enclosing ``joblib.parallel_config`` if it names one, else
        the backend ``prefer`` hints at; so ``with joblib.parallel_config(backend="dask"):
        run_psa(...)`` runs the draws on a Dask cluster (needs ``dask.distributed`` and a ``Client``)
        without code changes.
    batch_size : int or "auto"
        Draws per joblib task.
    prefer : {"threads", "processes"}, default "threads"
        joblib's soft hint for the backend when neither ``backend`` nor an enclosing
        ``parallel_config`` names one. Threads suit models whose work releases the GIL, such as
        :func:`~wellness_research.microsim.project` with the microsimulation engine (a compiled
        ``nogil`` kernel): no worker processes to start, nothing to pickle, and one population
        shared by all draws. A model that spends its time in pure Python holds the GIL and gains
        nothing from threads: pass ``prefer="processes"`` (loky worker processes) for it.

    Notes
    -----
    When the draws run in parallel (more than one worker), each draw's microsimulation kernel runs in
    a single thread (see ``n_threads`` of :func:`~wellness_research.microsim.project`), so ``n_jobs``
    draws use ``n_jobs`` cores rather than ``n_jobs`` × cores threads. Results do not depend on it.

    Returns
    -------
    PSAResult
    """
    if not (isinstance(n_draws, (int, np.integer)) and n_draws >= 1):
        raise ConfigurationError(f"run_psa: n_draws must be an integer ≥ 1, got {n_draws!r}.")
    if not callable(model):
        raise ConfigurationError(f"run_psa: model must be callable, got {type(model).__name__}.")
    if prefer not in get_args(Prefer):
        raise ConfigurationError(f"run_psa: prefer must be one of {get_args(Prefer)}, got {prefer!r}.")
    if not isinstance(distributions, Mapping) or not distributions:
        raise ConfigurationError("run_psa: distributions must be a non-empty mapping name -> Distribution or number.")
    root = _seed_sequence(seed)
    param_ss, model_ss = root.spawn(2)
    param_rng = np.random.default_rng(param_ss)
    draws: dict[str, np.ndarray] = {}
    for name, dist in distributions.items():
        if isinstance(dist, Distribution):
            draws[str(name)] = dist.sample(param_rng, int(n_draws))
        elif isinstance(dist, (int, float, np.integer, np.floating)):
            draws[str(name)] = np.full(int(n_draws), float(dist))
        else:
            raise ConfigurationError(
                f"run_psa: distributions[{name!r}] must be a Distribution or a number, got {type(dist).__name__}."
            )
    seeds = np.array([c.generate_state(1, np.uint64)[0] for c in model_ss.spawn(int(n_draws))], dtype=np.uint64)
    param_sets = [{k: (v[i].copy() if v.ndim > 1 else float(v[i])) for k, v in draws.items()} for i in range(n_draws)]

    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, backend=backend, batch_size=batch_size, prefer=prefer)
    single_thread = _n_workers(parallel) > 1
    results = parallel(
        delayed(_run_one)(model, param_sets[i], int(seeds[i]), i, single_thread) for i in range(int(n_draws))
    )
    rows = [row for chunk in results for row in chunk]
    outcomes = pd.DataFrame(rows, columns=["draw", "strategy", "outcome", "value"])
    columns: dict[str, np.ndarray] = {}
    for k, v in draws.items():
        if v.ndim == 2:
            for j in range(v.shape[1]):
                columns[f"{k}[{j}]"] = v[:, j]
        elif v.ndim > 2:  # e.g. DirichletRows: one column per entry, "name[i,j,...]"
            for idx in np.ndindex(*v.shape[1:]):
                columns[f"{k}[{','.join(map(str, idx))}]"] = v[(slice(None), *idx)]
        else:
            columns[k] = v
    parameters = pd.DataFrame(columns, index=pd.RangeIndex(int(n_draws), name="draw"))
    return PSAResult(parameters=parameters, outcomes=outcomes, seeds=seeds, entropy=int(root.entropy))
