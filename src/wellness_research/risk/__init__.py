"""High-risk model for the short-term intensive service (issue #7): frame, model, rule, validation.

* :func:`risk_features` builds the frame at a survey date (features before it, new certification
  within the horizon after it, death competing, exclusions counted) as a :class:`RiskFrame`;
* :func:`fit_risk_model` fits and calibrates a logistic or gradient-boosting model (:class:`RiskModel`,
  ``predict_risk``); :func:`outreach_list` ranks persons for the visiting staff (operational, not for
  publication);
* :func:`jigyo_taishosha` applies the rule-based 事業対象者 criteria (DOMAIN.md §4.3);
* :func:`evaluate_risk_model` validates a model on a later frame (AUC with DeLong or bootstrap CI,
  calibration, Brier, decision curve, and the rule as a comparator), with
  :func:`calibration_plot` and :func:`decision_curve_plot`.
"""
from __future__ import annotations

from wellness_research.risk.evaluation import (
    RiskEvaluation,
    calibration_plot,
    decision_curve_plot,
    delong_auc,
    evaluate_risk_model,
    net_benefit,
)
from wellness_research.risk.features import LATE_ELDERLY_ITEMS, RISK_EXCLUSION_REASONS, RiskFrame, risk_features
from wellness_research.risk.model import (
    RISK_FEATURES,
    Calibration,
    Censoring,
    OutreachList,
    RiskMethod,
    RiskModel,
    fit_risk_model,
    outreach_list,
)
from wellness_research.risk.rules import JIGYO_CRITERIA, KCL_ITEMS, jigyo_taishosha

__all__ = ["JIGYO_CRITERIA", "KCL_ITEMS", "LATE_ELDERLY_ITEMS", "RISK_EXCLUSION_REASONS", "RISK_FEATURES",
           "Calibration", "Censoring", "OutreachList", "RiskEvaluation", "RiskFrame", "RiskMethod", "RiskModel",
           "calibration_plot", "decision_curve_plot", "delong_auc", "evaluate_risk_model", "fit_risk_model",
           "jigyo_taishosha", "net_benefit", "outreach_list", "risk_features"]
