"""Cohort designs: analysis frames with index dates, eligibility, baseline covariates and outcomes.

:func:`soft_frame` builds the SOFT joint-research frame (participants at their first session month,
risk-set sampled controls, every exclusion accounted for) as a :class:`CohortFrame`.
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

__all__ = ["EXCLUSION_REASONS", "LANDMARK_EXCLUSION_REASONS", "SOFT_COVARIATES", "CohortFrame", "MoverRule", "soft_frame"]
