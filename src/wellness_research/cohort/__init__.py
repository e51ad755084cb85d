"""Cohort designs: analysis frames with index dates, eligibility, baseline covariates and outcomes.

:func:`soft_frame` builds the SOFT joint-research frame (participants at their first session month,
risk-set sampled controls, every exclusion accounted for) as a :class:`CohortFrame`.
:func:`outreach_cascade` counts the short-term service's outreach cascade (every exit counted) and
:func:`short_term_frame` builds its evaluation frame (completers against assessed or never-reached
comparisons).
"""

from __future__ import annotations

from wellness_research.cohort.soft import (
    EXCLUSION_REASONS,
    LANDMARK_EXCLUSION_REASONS,
    SOFT_COVARIATES,
    CohortFrame,
    MoverRule,
    soft_frame,
)
from wellness_research.cohort.short_term import (
    CASCADE_ENTRIES,
    CASCADE_EXITS,
    CASCADE_STEPS,
    SHORT_TERM_COVARIATES,
    SHORT_TERM_EXCLUSION_REASONS,
    Comparison,
    OutreachCascade,
    ShortTermFrame,
    ShortTermPopulation,
    outreach_cascade,
    short_term_frame,
)

__all__ = [
    "CASCADE_ENTRIES",
    "CASCADE_EXITS",
    "CASCADE_STEPS",
    "EXCLUSION_REASONS",
    "LANDMARK_EXCLUSION_REASONS",
    "SHORT_TERM_COVARIATES",
    "SHORT_TERM_EXCLUSION_REASONS",
    "SOFT_COVARIATES",
    "CohortFrame",
    "Comparison",
    "MoverRule",
    "OutreachCascade",
    "ShortTermFrame",
    "ShortTermPopulation",
    "outreach_cascade",
    "short_term_frame",
    "soft_frame",
]
