"""Protocol analyses: the step functions behind a protocol's notebooks and their headline findings.

:mod:`wellness_research.analysis.soft` implements the SOFT joint-research protocol step by step
(:func:`soft_cohort`, :func:`soft_matching`, :func:`soft_certification`, :func:`soft_costs`,
:func:`soft_cost_effectiveness`); :mod:`wellness_research.analysis.findings` holds
:class:`Finding` and ``findings.json`` (:func:`write_findings`, :func:`read_findings`).
"""

from __future__ import annotations

from wellness_research.analysis.findings import FINDING_KEYS, Finding, findings_frame, read_findings, write_findings
from wellness_research.analysis.soft import (
    SoftCertification,
    SoftCohort,
    SoftCostEffectiveness,
    SoftCosts,
    SoftMatching,
    soft_certification,
    soft_cohort,
    soft_cost_effectiveness,
    soft_costs,
    soft_matching,
)

__all__ = [
    "FINDING_KEYS",
    "Finding",
    "SoftCertification",
    "SoftCohort",
    "SoftCostEffectiveness",
    "SoftCosts",
    "SoftMatching",
    "findings_frame",
    "read_findings",
    "soft_certification",
    "soft_cohort",
    "soft_cost_effectiveness",
    "soft_costs",
    "soft_matching",
    "write_findings",
]
