"""Matched designs for programme evaluation: propensity-score, Mahalanobis, exact, coarsened exact,
optimal pair and optimal full matching; balance diagnostics; effects with design-valid standard
errors; sensitivity analysis.

The entry point is :func:`match`, which returns a :class:`MatchResult` that accounts for every row
(``status``). See :mod:`wellness_research.matching.result` for the conventions.
"""

from .api import match
from .balance import balance, table_one
from .effects import EffectResult, estimate_effect
from .plots import love_plot
from .result import MatchResult
from .sensitivity import evalue, refute, rosenbaum_bounds

__all__ = [
    "EffectResult",
    "MatchResult",
    "balance",
    "estimate_effect",
    "evalue",
    "love_plot",
    "match",
    "refute",
    "rosenbaum_bounds",
    "table_one",
]
