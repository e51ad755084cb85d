"""Programme cost model and the decision: does averted LTC + medical cost exceed the programme cost?

The default parameters live in ``programme_costs.yaml`` beside this module: every value with unit,
valid range, source and the [S]/[D]/[E]/[M] tag of ``reference/DOMAIN.md``. Almost all are [E]
placeholders for a city's own contracts and payroll.

Cost lines
    Each programme is a list of cost lines; a line's cost per basis unit is the product of its
    ``factors`` divided by the product of its ``divisors`` (parameter names). Bases:
    ``year`` (programme-wide), ``site_year`` (per site per year), ``participant`` (per participant
    enrolled that year; for サービスC a participant is one episode) and ``once`` (first year only).
Decision
    Net benefit = averted (LTC + medical) cost − programme cost, both discounted over the same
    horizon. Over PSA draws, the probability that the net benefit is positive is the share of draws
    with net benefit > 0 (the CEAC at a willingness to pay of 0 for a cost-saving question).
Break-even
    :func:`break_even` finds the root of any supplied function (Brent's method on a bracket);
    :func:`break_even_participation` is the closed form when costs and savings are linear in the
    number of participants: ``n* = fixed / (saving per participant − cost per participant)``.

References
----------
Drummond, M. F. et al. (2015). *Methods for the Economic Evaluation of Health Care Programmes*, 4th
ed., ch. 7 (costing: staff time × pay with on-costs, capital annuitised over useful life).
Brent, R. P. (1973). *Algorithms for Minimization without Derivatives*, ch. 4 (root bracketing).

Examples
--------
>>> from wellness_research.microsim.costmodel import programme_cost
>>> t = programme_cost("service_c", sites=1, participants=100, years=2, rate=0.0)
>>> t.groupby("year")["cost"].sum().round(0).tolist()
[12666667.0, 12666667.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import optimize

from ..errors import ConfigurationError
from .economics import CostTiming, discount_factors

__all__ = [
    "BASES",
    "DecisionResult",
    "ProgrammeCostParameters",
    "TAGS",
    "break_even",
    "break_even_participation",
    "cost_distributions",
    "decide",
    "load_programme_costs",
    "programme_cost",
]

BASES = ("year", "site_year", "participant", "once")
TAGS = ("[S]", "[D]", "[E]", "[M]", "[E/M]", "[D/E]", "[S/M]")


@dataclass(frozen=True)
class ProgrammeCostParameters:
    """Validated programme-cost parameters (see the module notes and the shipped YAML).

    Attributes
    ----------
    parameters : dict
        name -> {value, unit, range, source, tag}.
    programmes : dict
        programme -> {label, lines: {line: {basis, factors, divisors}}}.
    version, currency, price_year, path
    """

    parameters: dict[str, dict[str, Any]] = field(repr=False)
    programmes: dict[str, dict[str, Any]] = field(repr=False)
    version: int = 1
    currency: str = "JPY"
    price_year: int | None = None
    path: str = "<package default>"

    def value(self, name: str) -> float:
        if name not in self.parameters:
            raise ConfigurationError(f"programme costs: unknown parameter {name!r} (known: {sorted(self.parameters)}).")
        return float(self.parameters[name]["value"])

    def with_values(self, **values: float) -> ProgrammeCostParameters:
        """A copy with some values replaced (for DSA and PSA); ranges are not enforced here."""
        unknown = sorted(set(values) - set(self.parameters))
        if unknown:
            raise ConfigurationError(f"programme costs: unknown parameters {unknown} (known: {sorted(self.parameters)}).")
        params = {k: dict(v) for k, v in self.parameters.items()}
        for k, v in values.items():
            params[k]["value"] = float(v)
        return replace(self, parameters=params)

    def table(self) -> pd.DataFrame:
        """One row per parameter: name, value, unit, low, high, tag, source."""
        rows = [
            (k, p["value"], p["unit"], p["range"][0], p["range"][1], p["tag"], p["source"])
            for k, p in self.parameters.items()
        ]
        return pd.DataFrame(rows, columns=["parameter", "value", "unit", "low", "high", "tag", "source"])


def load_programme_costs(path: str | Path | None = None) -> ProgrammeCostParameters:
    """Read and validate programme-cost parameters (the shipped defaults when ``path`` is None).

    Raises
    ------
    ConfigurationError
        A parameter lacks a field, its value is outside its range, its tag is unknown, or a cost
        line names an unknown parameter or basis (the message names the file, entry and rule).

    Examples
    --------
    >>> p = load_programme_costs()
    >>> p.value("staff_pay_per_fte"), p.parameters["staff_pay_per_fte"]["tag"]
    (5600000.0, '[E/M]')
    """
    if path is None:
        text = resources.files("wellness_research.microsim").joinpath("programme_costs.yaml").read_text("utf-8")
        where = "<package default programme_costs.yaml>"
    else:
        where = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigurationError(f"load_programme_costs: cannot read {where}: {exc}") from exc
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or "parameters" not in raw or "programmes" not in raw:
        raise ConfigurationError(f"load_programme_costs: {where} must be a mapping with 'parameters' and 'programmes'.")
    params: dict[str, dict[str, Any]] = {}
    for name, p in raw["parameters"].items():
        missing = {"value", "unit", "range", "source", "tag"} - set(p or {})
        if missing:
            raise ConfigurationError(f"load_programme_costs: {where}: parameter {name!r} lacks {sorted(missing)}.")
        lo, hi = (float(x) for x in p["range"])
        v = float(p["value"])
        if not lo <= v <= hi:
            raise ConfigurationError(
                f"load_programme_costs: {where}: parameter {name!r} value {v:g} is outside its range [{lo:g}, {hi:g}]."
            )
        if p["tag"] not in TAGS:
            raise ConfigurationError(f"load_programme_costs: {where}: parameter {name!r} tag {p['tag']!r} not in {TAGS}.")
        params[str(name)] = {**p, "value": v, "range": (lo, hi)}
    programmes: dict[str, dict[str, Any]] = {}
    for prog, spec in raw["programmes"].items():
        lines = {}
        for line, ls in (spec or {}).get("lines", {}).items():
            basis = ls.get("basis")
            if basis not in BASES:
                raise ConfigurationError(
                    f"load_programme_costs: {where}: {prog}.{line} basis {basis!r} must be one of {list(BASES)}."
                )
            factors = list(ls.get("factors", []))
            divisors = list(ls.get("divisors", []))
            unknown = [f for f in factors + divisors if f not in params]
            if unknown or not factors:
                raise ConfigurationError(
                    f"load_programme_costs: {where}: {prog}.{line} needs factors from the parameters; unknown {unknown}."
                )
            lines[str(line)] = {"basis": basis, "factors": factors, "divisors": divisors}
        programmes[str(prog)] = {"label": spec.get("label", prog), "lines": lines}
    return ProgrammeCostParameters(
        parameters=params,
        programmes=programmes,
        version=int(raw.get("version", 1)),
        currency=str(raw.get("currency", "JPY")),
        price_year=raw.get("price_year"),
        path=where,
    )


def _per_year(name: str, value: float | Sequence[float], years: int) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(years, float(arr))
    if arr.shape != (years,) or not (np.isfinite(arr).all() and (arr >= 0).all()):
        raise ConfigurationError(
            f"programme_cost: {name} must be a number ≥ 0 or {years} numbers ≥ 0 (one per year), got {value!r}."
        )
    return arr


def programme_cost(
    programme: str = "soft",
    *,
    sites: float | Sequence[float],
    participants: float | Sequence[float],
    years: int,
    params: Mapping[str, float] | None = None,
    costs: ProgrammeCostParameters | None = None,
    rate: float = 0.02,
    timing: CostTiming = "start",
) -> pd.DataFrame:
    """Yearly programme cost by cost line.

    Parameters
    ----------
    programme : str
        A programme of ``costs`` (shipped: ``"soft"``, ``"service_c"``, ``"tekupo"``).
    sites, participants : number or one number per year
        Sites running the programme and participants (サービスC: episodes) enrolled each year.
    years : int
        Horizon in years.
    params : mapping, optional
        Values replacing the YAML's (e.g. one PSA draw or a DSA setting).
    costs : ProgrammeCostParameters, optional
        Defaults to :func:`load_programme_costs`.
    rate : float, default 0.02
        Annual discount rate for ``discounted_cost``.
    timing : {"start", "mid", "end"}, default "start"
        When in the year the programme pays (budgets are usually committed at the start).

    Returns
    -------
    pandas.DataFrame
        One row per year × line: ``year`` (0-based), ``programme``, ``line``, ``basis``,
        ``quantity``, ``unit_cost``, ``cost``, ``discounted_cost``.
    """
    costs = load_programme_costs() if costs is None else costs
    if params:
        costs = costs.with_values(**dict(params))
    if programme not in costs.programmes:
        raise ConfigurationError(f"programme_cost: programme must be one of {sorted(costs.programmes)}, got {programme!r}.")
    if not (isinstance(years, (int, np.integer)) and years >= 1):
        raise ConfigurationError(f"programme_cost: years must be an integer ≥ 1, got {years!r}.")
    n_sites = _per_year("sites", sites, int(years))
    n_part = _per_year("participants", participants, int(years))
    disc = discount_factors(int(years), rate=rate, cycle="year", timing=timing)
    rows = []
    for line, spec in costs.programmes[programme]["lines"].items():
        unit = float(np.prod([costs.value(f) for f in spec["factors"]]))
        div = float(np.prod([costs.value(f) for f in spec["divisors"]])) if spec["divisors"] else 1.0
        if div == 0:
            raise ConfigurationError(f"programme_cost: {programme}.{line} divides by a parameter equal to 0.")
        unit /= div
        for y in range(int(years)):
            qty = {
                "year": 1.0,
                "site_year": n_sites[y],
                "participant": n_part[y],
                "once": 1.0 if y == 0 else 0.0,
            }[spec["basis"]]
            rows.append((y, programme, line, spec["basis"], qty, unit, qty * unit, qty * unit * disc[y]))
    return pd.DataFrame(
        rows, columns=["year", "programme", "line", "basis", "quantity", "unit_cost", "cost", "discounted_cost"]
    )


@dataclass(frozen=True, eq=False)
class DecisionResult:
    """Averted cost against programme cost, over draws (one draw for a deterministic run).

    Attributes
    ----------
    averted_ltc, averted_medical, programme_cost, net_benefit : numpy.ndarray
        Per draw, discounted yen over the horizon; ``net_benefit = averted_ltc + averted_medical −
        programme_cost``.
    horizon_years : int or None
    """

    averted_ltc: np.ndarray = field(repr=False)
    averted_medical: np.ndarray = field(repr=False)
    programme_cost: np.ndarray = field(repr=False)
    net_benefit: np.ndarray = field(repr=False)
    horizon_years: int | None = None

    @property
    def probability_positive(self) -> float:
        """Share of draws in which the programme saves more than it costs."""
        return float(np.mean(self.net_benefit > 0))

    def tidy(self) -> pd.DataFrame:
        rows = []
        for term, v in (
            ("averted_ltc", self.averted_ltc),
            ("averted_medical", self.averted_medical),
            ("programme_cost", self.programme_cost),
            ("net_benefit", self.net_benefit),
        ):
            rows.append(
                (term, float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else np.nan,
                 float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975)), np.nan, len(v))
            )
        out = pd.DataFrame(rows, columns=["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"])
        out["probability_positive"] = [np.nan, np.nan, np.nan, self.probability_positive]
        return out

    def summary(self) -> str:
        t = self.tidy().set_index("term")
        h = f" over {self.horizon_years} years" if self.horizon_years else ""
        lines = [f"Decision{h} (discounted yen; {len(self.net_benefit)} draws)"]
        for term in t.index:
            r = t.loc[term]
            lines.append(f"  {term:<16} {r['estimate']:>16,.0f}  [{r['conf_low']:,.0f}, {r['conf_high']:,.0f}]")
        lines.append(f"  P(net benefit > 0) = {self.probability_positive:.3f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        return "<pre>" + escape(self.summary()) + "</pre>"


def decide(
    *,
    averted_ltc: float | np.ndarray,
    averted_medical: float | np.ndarray = 0.0,
    programme_cost: float | np.ndarray,
    horizon_years: int | None = None,
) -> DecisionResult:
    """Net benefit of the programme: averted LTC + medical cost − programme cost (per draw).

    Inputs are discounted totals over the same horizon: scalars, or arrays of equal length (one
    value per PSA draw; scalars are broadcast).

    Examples
    --------
    >>> d = decide(averted_ltc=np.array([80.0, 120.0, 150.0]), averted_medical=10.0, programme_cost=100.0)
    >>> d.net_benefit.tolist(), round(d.probability_positive, 4)
    ([-10.0, 30.0, 60.0], 0.6667)
    """
    arrays = [np.atleast_1d(np.asarray(x, dtype=float)) for x in (averted_ltc, averted_medical, programme_cost)]
    n = max(len(a) for a in arrays)
    out = []
    for name, a in zip(("averted_ltc", "averted_medical", "programme_cost"), arrays, strict=True):
        if a.ndim != 1 or len(a) not in (1, n) or not np.isfinite(a).all():
            raise ConfigurationError(f"decide: {name} must be a finite number or {n} finite numbers, got shape {a.shape}.")
        out.append(np.broadcast_to(a, (n,)).copy())
    ltc, med, prog = out
    return DecisionResult(ltc, med, prog, ltc + med - prog, horizon_years)


def break_even(
    func: Callable[[float], float],
    *,
    lower: float,
    upper: float,
    target: float = 0.0,
    xtol: float = 1e-10,
) -> float:
    """The ``x`` in ``[lower, upper]`` with ``func(x) = target`` (Brent's method).

    Use it for the break-even hazard ratio (``func(hr)`` = net benefit from a projection with
    that effect) or any other single input. ``func`` must change sign over the bracket.

    Examples
    --------
    >>> round(break_even(lambda hr: 1000 * (1 - hr) - 150, lower=0.3, upper=1.0), 10)
    0.85
    """
    f_lo, f_hi = func(lower) - target, func(upper) - target
    if not (np.isfinite(f_lo) and np.isfinite(f_hi)):
        raise ConfigurationError(f"break_even: func is not finite at the bracket ends ({f_lo!r}, {f_hi!r}).")
    if f_lo == 0:
        return float(lower)
    if f_hi == 0:
        return float(upper)
    if np.sign(f_lo) == np.sign(f_hi):
        raise ConfigurationError(
            f"break_even: no break-even in [{lower:g}, {upper:g}]: func − target is {f_lo:,.6g} at {lower:g} "
            f"and {f_hi:,.6g} at {upper:g} (same sign). Widen the bracket or the programme never / always pays."
        )
    return float(optimize.brentq(lambda x: func(x) - target, lower, upper, xtol=xtol))


def break_even_participation(
    *, saving_per_participant: float, fixed_cost: float, cost_per_participant: float
) -> float:
    """Participants needed for savings to cover costs when both are linear in participation.

    ``n* = fixed_cost / (saving_per_participant − cost_per_participant)``; ``inf`` when each
    participant saves no more than they cost.

    Examples
    --------
    >>> break_even_participation(saving_per_participant=50_000, fixed_cost=3_000_000, cost_per_participant=20_000)
    100.0
    """
    margin = float(saving_per_participant) - float(cost_per_participant)
    if fixed_cost < 0:
        raise ConfigurationError(f"break_even_participation: fixed_cost must be ≥ 0, got {fixed_cost!r}.")
    if margin <= 0:
        return float("inf")
    return float(fixed_cost) / margin


def cost_distributions(
    costs: ProgrammeCostParameters | None = None, *, names: Sequence[str] | None = None
) -> dict[str, Any]:
    """PSA distributions for programme-cost parameters, read from their YAML ranges.

    Each parameter gets a gamma distribution with the YAML value as mean and
    ``(high − low) / (2 · 1.96)`` as standard error (the range read as a 95 % interval), by the
    method of moments of :class:`~wellness_research.microsim.psa.Gamma`; a parameter whose value
    is 0 or whose range is a single point is kept fixed (a number). Pass a draw to
    :func:`programme_cost` with ``params=``.

    Examples
    --------
    >>> d = cost_distributions(names=["staff_pay_per_fte"])
    >>> round(d["staff_pay_per_fte"].mean), round(d["staff_pay_per_fte"].sd)
    (5600000, 637767)
    """
    from .psa import Gamma

    costs = load_programme_costs() if costs is None else costs
    chosen = list(costs.parameters) if names is None else list(names)
    unknown = sorted(set(chosen) - set(costs.parameters))
    if unknown:
        raise ConfigurationError(f"cost_distributions: unknown parameters {unknown} (known: {sorted(costs.parameters)}).")
    out: dict[str, Any] = {}
    for name in chosen:
        p = costs.parameters[name]
        lo, hi = p["range"]
        se = (hi - lo) / (2 * 1.959964)
        out[name] = Gamma.from_mean_se(p["value"], se) if p["value"] > 0 and se > 0 else float(p["value"])
    return out
