"""Difference-in-differences: 2×2, TWFE event studies, Callaway–Sant'Anna, sensitivity, cost panels.

Entry points
------------
:func:`did_2x2` and :func:`event_study`
    Two-way fixed-effects fits through pyfixest, standard errors clustered by unit unless the caller
    says otherwise (pyfixest's own default with fixed effects is iid). Under staggered timing the
    event study warns (:class:`~wellness_research.errors.StaggeredTWFEWarning`) and carries the
    Goodman-Bacon / de Chaisemartin–D'Haultfœuille diagnostic (:func:`bacon_decomposition`).
:func:`att_gt`
    Callaway & Sant'Anna (2021) group-time ATTs (never-treated or not-yet-treated controls;
    outcome regression, IPW or doubly robust; anticipation; weights; clustering; multiplier
    bootstrap), with ``.aggregate("simple" | "dynamic" | "group" | "calendar")``.
:func:`wild_cluster_bootstrap`
    Wild cluster restricted bootstrap for few clusters (also ``DiDResult.wild_bootstrap``).
:func:`honest_did`
    Rambachan & Roth (2023) sensitivity of an event study to violations of parallel trends
    (relative magnitudes with the conditional-least-favourable hybrid; smoothness with FLCI).
:func:`cost_panel`
    Person-month LTC + medical cost panels from the claims tables, with every row accounted for.
"""

from ._results import BaconResult, DiDResult, EventStudyResult, PreTrendTest, WildBootstrapResult
from .bacon import bacon_decomposition
from .cs import AggregateResult, GroupTimeResult, att_gt
from .honest import HonestResult, honest_did, honest_did_from
from .panel import CostPanel, cost_panel
from .twfe import did_2x2, event_study
from .wild import wild_cluster_bootstrap

__all__ = [
    "AggregateResult",
    "BaconResult",
    "CostPanel",
    "DiDResult",
    "EventStudyResult",
    "GroupTimeResult",
    "HonestResult",
    "PreTrendTest",
    "WildBootstrapResult",
    "att_gt",
    "bacon_decomposition",
    "cost_panel",
    "did_2x2",
    "event_study",
    "honest_did",
    "honest_did_from",
    "wild_cluster_bootstrap",
]
