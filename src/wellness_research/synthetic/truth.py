"""The true programme effects of a synthetic municipality and the estimands they imply.

:class:`TrueEffects` holds the effects the generator puts into the data (strictly as multipliers of
the new-certification hazard from a programme's index month, plus a shift of the Kihon Checklist
answers at the end of the short-term service). :class:`GroundTruth` records what those effects imply
for the persons who actually took part: every participant is followed under both arms (treated and
untreated) with *common random numbers* — the same exponential thresholds of certification and death
— so the sample average treatment effects on the treated are exact, not simulated with noise. With a
hazard ratio of 1 both arms are identical and the effect is exactly zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigurationError

__all__ = ["GroundTruth", "ReadOnlyMapping", "TrueEffects"]


class ReadOnlyMapping(Mapping[str, Any]):
    """A read-only, picklable view of a dict (``types.MappingProxyType`` cannot be pickled)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ReadOnlyMapping({self._data!r})"

_HR_RANGE = (0.0, 5.0)
_KCL_RANGE = (-10.0, 10.0)


@dataclass(frozen=True)
class TrueEffects:
    """True effects built into the synthetic municipality.

    Parameters
    ----------
    soft_hr_certification : float, default 0.70
        Hazard ratio of new LTC certification for SOFT participants from their first session
        month onward. Prior: HR 0.5–0.8 for group or social exercise (Hikichi 2015 PSM HR 0.52,
        Fujii 2020 HR 0.59; DOMAIN.md §5.1–5.2, §9).
    short_term_hr_certification : float, default 0.80
        Hazard ratio of new certification for completers of the short-term intensive service
        (サービスC) from the month after completion onward [E]; formal preventive services show
        HR ≈ 1 (Kashiwa, DOMAIN.md §5.3), reablement is assumed to do somewhat better.
    short_term_kcl_change : float, default -2.0
        Expected change of the Kihon Checklist total (0–25 points) measured at the end of the
        service, completers versus their own counterfactual [E]; it fades with a 12-month half-life.
    tekupo_hr_certification : float, default 0.95
        Hazard ratio of new certification for てくポ registrants from their registration month [E]
        (a small population-approach effect; DOMAIN.md §5.5 has no causal estimate).

    Raises
    ------
    ConfigurationError
        If a hazard ratio is not in (0, 5] or the KCL change not in [-10, 10].

    Examples
    --------
    >>> TrueEffects(soft_hr_certification=1.0).soft_hr_certification
    1.0
    """

    soft_hr_certification: float = 0.70
    short_term_hr_certification: float = 0.80
    short_term_kcl_change: float = -2.0
    tekupo_hr_certification: float = 0.95

    def __post_init__(self) -> None:
        for name in ("soft_hr_certification", "short_term_hr_certification", "tekupo_hr_certification"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
                math.isfinite(float(value)) and _HR_RANGE[0] < float(value) <= _HR_RANGE[1]
            ):
                raise ConfigurationError(
                    f"TrueEffects.{name} must be a hazard ratio in (0, 5]; got {value!r}."
                )
            object.__setattr__(self, name, float(value))
        value = self.short_term_kcl_change
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
            math.isfinite(float(value)) and _KCL_RANGE[0] <= float(value) <= _KCL_RANGE[1]
        ):
            raise ConfigurationError(
                f"TrueEffects.short_term_kcl_change must be a change in KCL points in [-10, 10]; got {value!r}."
            )
        object.__setattr__(self, "short_term_kcl_change", float(value))

    def to_dict(self) -> dict[str, float]:
        """The effects as a plain dict."""
        return asdict(self)


_DESCRIPTIONS = {
    "soft_att_risk3y": "SOFT participants: 3-year risk of new certification treated minus untreated (death competing; index = first session month; common random numbers)",
    "soft_att_risk3y_expected": "SOFT participants: the same risk difference, expectation over the certification/death thresholds given each participant's hazards",
    "soft_risk3y_treated": "SOFT participants: 3-year risk of new certification with SOFT",
    "soft_risk3y_untreated": "SOFT participants: 3-year risk of new certification without SOFT",
    "soft_att_risk3y_full_followup": "SOFT participants with index up to 2023-04 (36 months observable in the data): risk difference",
    "short_term_att_risk3y": "Short-term service completers: 3-year risk of new certification treated minus untreated (index = month after completion)",
    "short_term_att_risk3y_expected": "Short-term service completers: the same risk difference, expectation over the thresholds",
    "short_term_risk3y_treated": "Short-term service completers: 3-year risk of new certification with the service",
    "short_term_risk3y_untreated": "Short-term service completers: 3-year risk of new certification without the service",
    "short_term_att_risk3y_full_followup": "Short-term completers with index up to 2023-04: risk difference",
    "soft_att_cost_month": "SOFT participants: expected LTC + medical cost per person-month alive (yen), treated minus untreated, months 0-35 from the index month that are observable (before April 2026 and the move-out month); common random numbers up to certification, expected course after it",
    "soft_cost_month_treated": "SOFT participants: expected cost per person-month alive with SOFT (yen; same window)",
    "soft_cost_month_untreated": "SOFT participants: expected cost per person-month alive without SOFT (yen; same window)",
    "short_term_att_cost_month": "Short-term completers: expected cost per person-month alive (yen), treated minus untreated, same window as SOFT",
    "short_term_cost_month_treated": "Short-term completers: expected cost per person-month alive with the service (yen)",
    "short_term_cost_month_untreated": "Short-term completers: expected cost per person-month alive without the service (yen)",
    "short_term_kcl_change": "Short-term service completers: KCL total at the end of the service, treated minus untreated (same item draws)",
    "short_term_kcl_change_expected": "Short-term service completers: expected KCL change (the effect, capped where a person's expected total is below it)",
    "n_soft_participants": "Persons who attended SOFT at least once",
    "n_short_term_started": "Persons who started the short-term service",
    "n_short_term_completers": "Persons who completed the short-term service",
    "n_tekupo_users": "Persons aged 65+ registered in てくポ",
    "n_soft_sites": "SOFT sites opened",
}


@dataclass(frozen=True)
class GroundTruth:
    """Effects and the exact estimands they imply in one synthetic municipality.

    Attributes
    ----------
    effects : TrueEffects
    estimands : Mapping[str, float]
        Named estimands (see :meth:`tidy` for descriptions); risks are proportions, the KCL change
        is in points.
    counts : Mapping[str, int]
        Number of persons each estimand averages over.
    soft_sites : pandas.DataFrame
        SOFT opening schedule: site_id, district, start_date, end_date.
    potential_outcomes : pandas.DataFrame
        One row per participant and programme: programme, person_id, index_month, followup_end
        (first month after the 36-month window), certified_treated, certified_untreated (within
        36 months, before death), risk_treated, risk_untreated (expected), cost_treated,
        cost_untreated (expected LTC + medical cost in yen summed over the observable part of the
        window, alive), months_treated, months_untreated (expected person-months alive in it),
        kcl_treated, kcl_untreated (short-term completers only).

    Notes
    -----
    The cost estimands (``*_att_cost_month``) are ratios of sums over the participants:
    expected cost over expected person-months alive, per arm, over months 0–35 from the index month
    that lie in the data (before April 2026) and before the month of moving out — the person-months
    a claims panel observes. Each arm follows the common random numbers up to its first
    certification or death; after a certification its course (level, transitions, death) is taken
    in expectation, and a month's cost is the expectation of the claims generator given the state
    (see ``municipality._cost_potential_outcomes``).
    """

    effects: TrueEffects
    estimands: Mapping[str, float]
    counts: Mapping[str, int]
    soft_sites: pd.DataFrame
    potential_outcomes: pd.DataFrame = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimands", ReadOnlyMapping(self.estimands))
        object.__setattr__(self, "counts", ReadOnlyMapping(self.counts))

    def tidy(self) -> pd.DataFrame:
        """One row per estimand: estimand, value, n, description."""
        rows = []
        for name, value in self.estimands.items():
            rows.append(
                {"estimand": name, "value": value, "n": self.counts.get(name, np.nan),
                 "description": _DESCRIPTIONS.get(name, "")}
            )
        for name, n in self.counts.items():
            if name.startswith("n_"):
                rows.append({"estimand": name, "value": float(n), "n": n, "description": _DESCRIPTIONS.get(name, "")})
        out = pd.DataFrame(rows, columns=["estimand", "value", "n", "description"])
        out["n"] = out["n"].astype("Int64")
        return out

    def summary(self) -> str:
        """Plain-text table of the effects and estimands."""
        lines = ["True effects:"]
        lines += [f"  {k:<32} {v: .3f}" for k, v in self.effects.to_dict().items()]
        lines.append("Estimands:")
        for row in self.tidy().itertuples(index=False):
            n = "" if pd.isna(row.n) else f"(n={row.n})"
            lines.append(f"  {row.estimand:<36} {row.value: .4f} {n}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4f}")

    def to_dict(self, *, include_potential_outcomes: bool = False) -> dict[str, Any]:
        """JSON-safe dict (numbers as float/int, dates as ISO strings, NaN as None)."""

        def clean(v: Any) -> Any:
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
                return None
            if isinstance(v, (np.integer,)):
                return int(v)
            if isinstance(v, (np.floating, float)):
                return None if math.isnan(float(v)) else float(v)
            if isinstance(v, (np.bool_, bool)):
                return bool(v)
            if isinstance(v, pd.Timestamp):
                return v.strftime("%Y-%m-%d")
            return v

        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{str(k): clean(v) for k, v in row.items()} for row in df.astype(object).to_dict("records")]

        out: dict[str, Any] = {
            "effects": self.effects.to_dict(),
            "estimands": {k: clean(v) for k, v in self.estimands.items()},
            "counts": {k: int(v) for k, v in self.counts.items()},
            "soft_sites": records(self.soft_sites),
        }
        if include_potential_outcomes:
            out["potential_outcomes"] = records(self.potential_outcomes)
        return out
