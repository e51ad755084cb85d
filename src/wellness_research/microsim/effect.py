"""Programme effects applied in the projection: hazard ratios with duration, waning and uncertainty."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from ..errors import ConfigurationError

__all__ = ["Effect"]


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigurationError(f"{name} must be a positive number; got {value!r}.")
    v = float(value)
    if not v > 0 or not math.isfinite(v):
        raise ConfigurationError(f"{name} must be a positive finite number; got {value!r}.")
    return v


@dataclass(frozen=True)
class Effect:
    """A programme effect on participants: hazard ratios, duration, waning and uncertainty.

    The log hazard ratios act fully until ``duration_years`` after the start, then decline linearly to
    zero over ``waning`` years (``waning=0``: the effect stops at once). The effect at a cycle is taken
    at the cycle's midpoint.

    Parameters
    ----------
    hr_certification : float, default 1.0
        Hazard ratio on first certification (independent -> any level).
    hr_progression : float, default 1.0
        Hazard ratio on moving to a higher level (applied to the per-cycle probability of moving up:
        ``1 - (1 - U) ** hr``; the difference stays in the level).
    duration_years : float, default inf
        Years of full effect.
    waning : float, default 0.0
        Years over which the log hazard ratios decline linearly to zero after ``duration_years``.
    se_log_hr : float, default 0.0
        Standard error of ``log(hr_certification)`` (for probabilistic sensitivity analysis).

    Examples
    --------
    >>> e = Effect.from_ratio(0.52, 0.33, 0.83)   # Hikichi et al. 2015, PSM HR (DOMAIN.md §5.1)
    >>> round(e.se_log_hr, 3)
    0.235
    >>> Effect(0.5, duration_years=2, waning=2).hazard_ratios(3.0)
    (0.7071067811865476, 1.0)
    """

    hr_certification: float = 1.0
    hr_progression: float = 1.0
    duration_years: float = math.inf
    waning: float = 0.0
    se_log_hr: float = 0.0

    def __post_init__(self) -> None:
        _positive("hr_certification", self.hr_certification)
        _positive("hr_progression", self.hr_progression)
        dur = self.duration_years
        if isinstance(dur, bool) or not isinstance(dur, (int, float, np.integer, np.floating)) or not float(dur) > 0:
            raise ConfigurationError(f"duration_years must be a positive number or inf; got {dur!r}.")
        for name in ("waning", "se_log_hr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (
                math.isfinite(float(v)) and float(v) >= 0
            ):
                raise ConfigurationError(f"{name} must be a non-negative finite number; got {v!r}.")

    @classmethod
    def from_ratio(
        cls, estimate: float, conf_low: float, conf_high: float, *, alpha: float = 0.05, **kwargs: Any
    ) -> Effect:
        """Effect on certification from a hazard (or risk) ratio and its confidence interval.

        ``se_log_hr = (log(conf_high) - log(conf_low)) / (2 z_{1 - alpha/2})``; other fields by keyword.
        """
        est, lo, hi = (_positive(n, v) for n, v in (("estimate", estimate), ("conf_low", conf_low),
                                                     ("conf_high", conf_high)))
        if not lo <= est <= hi:
            raise ConfigurationError(f"need conf_low <= estimate <= conf_high; got {lo}, {est}, {hi}.")
        if not 0 < alpha < 1:
            raise ConfigurationError(f"alpha must be in (0, 1); got {alpha!r}.")
        se = (math.log(hi) - math.log(lo)) / (2.0 * float(norm.ppf(1 - alpha / 2)))
        return cls(hr_certification=est, se_log_hr=se, **kwargs)

    @classmethod
    def from_result(cls, result: Any, **kwargs: Any) -> Effect:
        """Effect from any result with ``estimate``, ``conf_low``, ``conf_high`` on the ratio scale
        (e.g. a matching :class:`~wellness_research.matching.EffectResult` with ``effect="ratio"``)."""
        for attr in ("estimate", "conf_low", "conf_high"):
            if not hasattr(result, attr):
                raise ConfigurationError(f"result of type {type(result).__name__} has no {attr!r}.")
        scale = getattr(result, "effect", "ratio")
        if scale not in ("ratio", "risk_ratio", "hazard_ratio", "odds_ratio"):
            raise ConfigurationError(
                f"the result's effect scale is {scale!r}; an Effect needs a ratio (re-estimate with effect='ratio')."
            )
        return cls.from_ratio(result.estimate, result.conf_low, result.conf_high,
                              alpha=getattr(result, "alpha", 0.05), **kwargs)

    def weight(self, t_years: float | np.ndarray) -> np.ndarray:
        """Share of the log hazard ratios acting at time ``t_years`` (1, then linear waning to 0)."""
        t = np.asarray(t_years, dtype=np.float64)
        if math.isinf(self.duration_years):
            return np.ones_like(t)
        past = t - self.duration_years
        if self.waning == 0:
            return np.where(past < 0, 1.0, 0.0)
        return np.clip(1.0 - past / self.waning, 0.0, 1.0)

    def hazard_ratios(self, t_years: float) -> tuple[float, float]:
        """``(hr_certification, hr_progression)`` acting at time ``t_years``."""
        w = float(self.weight(t_years))
        return (float(np.exp(w * np.log(self.hr_certification))), float(np.exp(w * np.log(self.hr_progression))))
