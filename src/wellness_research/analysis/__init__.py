"""Protocol analyses: the step functions behind a protocol's notebooks and their headline findings.

:mod:`wellness_research.analysis.soft` implements the SOFT joint-research protocol step by step
(:func:`soft_cohort`, :func:`soft_matching`, :func:`soft_certification`, :func:`soft_costs`,
:func:`soft_cost_effectiveness`), with the sensitivity analyses (:func:`soft_sensitivity`), the
staggered site roll-out as a second design (:func:`soft_rollout`) and RE-AIM (:func:`soft_reaim`);
:mod:`wellness_research.analysis.short_term` the short-term intensive service protocol (outreach
cascade, high-risk model, matched comparisons, outcomes, costs, cost-effectiveness);
:mod:`wellness_research.analysis.findings` holds
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
from wellness_research.analysis.short_term import (
    ShortTermCascade,
    ShortTermCohort,
    ShortTermCostEffectiveness,
    ShortTermCosts,
    ShortTermMatching,
    ShortTermOutcomes,
    ShortTermRiskModel,
    short_term_cascade,
    short_term_cohort,
    short_term_cost_effectiveness,
    short_term_costs,
    short_term_matching,
    short_term_outcomes,
    short_term_risk_model,
)
from wellness_research.analysis.soft_reaim import SoftReaim, soft_reaim
from wellness_research.analysis.soft_rollout import SoftRollout, soft_rollout
from wellness_research.analysis.soft_sensitivity import SoftSensitivity, soft_sensitivity

__all__ = [
    "FINDING_KEYS",
    "Finding",
    "ShortTermCascade",
    "ShortTermCohort",
    "ShortTermCostEffectiveness",
    "ShortTermCosts",
    "ShortTermMatching",
    "ShortTermOutcomes",
    "ShortTermRiskModel",
    "SoftCertification",
    "SoftCohort",
    "SoftCostEffectiveness",
    "SoftCosts",
    "SoftMatching",
    "SoftReaim",
    "SoftRollout",
    "SoftSensitivity",
    "findings_frame",
    "read_findings",
    "short_term_cascade",
    "short_term_cohort",
    "short_term_cost_effectiveness",
    "short_term_costs",
    "short_term_matching",
    "short_term_outcomes",
    "short_term_risk_model",
    "soft_certification",
    "soft_cohort",
    "soft_cost_effectiveness",
    "soft_costs",
    "soft_matching",
    "soft_reaim",
    "soft_rollout",
    "soft_sensitivity",
    "write_findings",
]
