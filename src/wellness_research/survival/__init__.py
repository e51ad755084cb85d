"""Survival analysis with competing risks: Aalen–Johansen cumulative incidence, risk differences, Cox.

:func:`cumulative_incidence` (weighted Aalen–Johansen with influence-function or delta-method
variance), :func:`risk_difference` (analytic or cluster-bootstrap interval) and
:func:`cause_specific_cox` (lifelines ``CoxPHFitter`` with robust, clustered SEs).
"""

from __future__ import annotations

from wellness_research.survival.competing import (
    CumulativeIncidenceResult,
    RiskDifferenceResult,
    cumulative_incidence,
    risk_difference,
)
from wellness_research.survival.cox import CoxResult, cause_specific_cox

__all__ = [
    "CoxResult",
    "CumulativeIncidenceResult",
    "RiskDifferenceResult",
    "cause_specific_cox",
    "cumulative_incidence",
    "risk_difference",
]
