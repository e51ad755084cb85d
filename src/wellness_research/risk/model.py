"""Fit the high-risk model (new certification within the horizon) and rank the outreach list.

Two learners, both scikit-learn:

* ``method="logistic"``: a pipeline of median imputation, natural-spline basis for age and the KCL
  total (:class:`~sklearn.preprocessing.SplineTransformer`, 4 knots, cubic), standardisation of the
  other numeric features, one-hot district, and an L2-penalised
  :class:`~sklearn.linear_model.LogisticRegression` (``C=1``).
* ``method="gbm"``: :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (missing values and
  the categorical district handled natively; 200 shallow trees, learning rate 0.05, no early stopping
  so the fit is deterministic given ``seed``).

Calibration uses a **held-out split** of the training frame (``calibration_fraction``, stratified
on the outcome, drawn with ``seed``): the learner is fitted on the rest and the calibrator on the
held-out predictions — isotonic regression (Zadrozny & Elkan 2002) or Platt's sigmoid on the logit
(Platt 1999). A split rather than :class:`~sklearn.calibration.CalibratedClassifierCV` so that the
IPCW weights reach learner and calibrator alike without metadata routing. ``calibration=None`` fits
the learner on the whole frame.

Censoring before the horizon (``censored`` in the frame) is handled explicitly: ``"exclude"``
(default) drops those persons and counts them in :attr:`RiskModel.n_excluded_censored`; ``"ipcw"``
keeps every person with a known outcome and weights by ``ipcw`` (persons censored have weight 0 and
are counted the same way). Death before certification is a known non-event in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

from wellness_research.errors import ConfigurationError, DataValidationError
from wellness_research.risk.features import LATE_ELDERLY_ITEMS, RiskFrame

__all__ = ["RISK_FEATURES", "Calibration", "Censoring", "OutreachList", "RiskMethod", "RiskModel", "fit_risk_model",
           "outreach_list"]

RiskMethod = Literal["logistic", "gbm"]
Calibration = Literal["isotonic", "sigmoid"]
Censoring = Literal["exclude", "ipcw"]

#: The default features (numeric, plus the categorical ``district``); ``lq*`` items are added when the
#: frame has them (the late-elderly questionnaire).
RISK_FEATURES: tuple[str, ...] = (
    "age", "female", "district",
    "kcl_missing", "kcl_n_unanswered", "kcl_total",
    "kcl_iadl", "kcl_physical", "kcl_nutrition", "kcl_oral", "kcl_housebound", "kcl_cognition", "kcl_mood",
    "checkup_missing", "bmi", "sbp", "hba1c", "ldl_c", "egfr",
    "bmi_missing", "sbp_missing", "hba1c_missing", "ldl_c_missing", "egfr_missing",
    "log_medical_cost_12m", "log_ltc_cost_12m", "inpatient_12m", "prior_certification",
)
_SPLINE = ("age", "kcl_total")
_OUTCOME = "certified"


def _frame_data(frame: RiskFrame | pd.DataFrame, where: str) -> pd.DataFrame:
    if isinstance(frame, RiskFrame):
        return frame.data
    if isinstance(frame, pd.DataFrame):
        return frame
    raise ConfigurationError(f"{where}: expected a RiskFrame or a pandas DataFrame, got {type(frame).__name__}.")


def _analysis_rows(data: pd.DataFrame, censoring: str, where: str) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Rows with a known outcome, their weights and the number excluded for censoring."""
    if censoring not in get_args(Censoring):
        raise ConfigurationError(f"{where}: censoring={censoring!r} is not valid; "
                                 f"use one of {list(get_args(Censoring))}.")
    need = [_OUTCOME, "censored"] + (["ipcw"] if censoring == "ipcw" else [])
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise DataValidationError(f"{where}: the frame lacks column(s) {missing} ({len(data)} rows); build it with "
                                  "wellness_research.risk.risk_features.")
    cens = data["censored"].to_numpy(dtype=bool)
    kept = data.loc[~cens]
    w = kept["ipcw"].to_numpy(dtype=float) if censoring == "ipcw" else np.ones(len(kept))
    return kept, w, int(cens.sum())


def _check_features(data: pd.DataFrame, features: tuple[str, ...], where: str) -> None:
    missing = [c for c in features if c not in data.columns]
    if missing:
        raise DataValidationError(f"{where}: the frame lacks feature column(s) {missing} ({len(data)} rows).")


def _build_learner(method: str, features: tuple[str, ...], seed: int) -> Pipeline:
    numeric = [c for c in features if c != "district"]
    if method == "logistic":
        spline = [c for c in _SPLINE if c in numeric]
        linear = [c for c in numeric if c not in spline]
        parts: list[tuple[str, Any, list[str]]] = []
        if spline:
            parts.append(("spline", Pipeline([("impute", SimpleImputer(strategy="median")),
                                              ("basis", SplineTransformer(n_knots=4, degree=3)),
                                              ("scale", StandardScaler())]), spline))
        if linear:
            parts.append(("linear", Pipeline([("impute", SimpleImputer(strategy="median")),
                                              ("scale", StandardScaler())]), linear))
        if "district" in features:
            parts.append(("district", OneHotEncoder(handle_unknown="ignore"), ["district"]))
        return Pipeline([("features", ColumnTransformer(parts)),
                         ("classifier", LogisticRegression(C=1.0, max_iter=5000))])
    clf = HistGradientBoostingClassifier(learning_rate=0.05, max_iter=200, max_leaf_nodes=15, min_samples_leaf=50,
                                         l2_regularization=1.0, early_stopping=False, random_state=seed,
                                         categorical_features="from_dtype")
    return Pipeline([("classifier", clf)])


def _design(data: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    x = data[list(features)].copy()
    for c in features:
        if c != "district":
            x[c] = x[c].astype(float)
    return x


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


@dataclass(frozen=True, eq=False)
class RiskModel:
    """A fitted high-risk model; :meth:`predict_risk` scores a frame.

    Attributes
    ----------
    method, calibration, censoring : str
        The options it was fitted with (``calibration`` may be ``None``).
    features : tuple of str
        The feature columns, in order.
    estimator : sklearn.pipeline.Pipeline
        The fitted learner (on the fitting part when calibrated).
    calibrator : object or None
        The fitted calibrator (:class:`~sklearn.isotonic.IsotonicRegression`, or a logistic
        regression on the logit of the learner's prediction), or ``None``.
    n_fit, n_calibration, events_fit, events_calibration : int
        Persons and events used to fit the learner and the calibrator.
    n_excluded_censored : int
        Persons of the training frame dropped because censored before the horizon.
    parameters : dict
        ``seed``, ``calibration_fraction``, ``train_at`` (the frame's date when known).
    """

    method: str
    calibration: str | None
    censoring: str
    features: tuple[str, ...]
    estimator: Pipeline = field(repr=False)
    calibrator: Any = field(repr=False)
    n_fit: int
    n_calibration: int
    events_fit: int
    events_calibration: int
    n_excluded_censored: int
    parameters: dict[str, Any]

    def predict_risk(self, frame: RiskFrame | pd.DataFrame) -> pd.Series:
        """Predicted probability of the outcome for every row of ``frame`` (index kept, name ``risk``)."""
        data = _frame_data(frame, "predict_risk")
        _check_features(data, self.features, "predict_risk")
        p = self.estimator.predict_proba(_design(data, self.features))[:, 1]
        if self.calibration == "isotonic":
            p = self.calibrator.predict(p)
        elif self.calibration == "sigmoid":
            p = self.calibrator.predict_proba(_logit(p).reshape(-1, 1))[:, 1]
        return pd.Series(np.clip(p, 0.0, 1.0), index=data.index, name="risk")

    def tidy(self) -> pd.DataFrame:
        """Counts of the fit (``term``, ``estimate``, ``n``; no statistics to test)."""
        rows = [("persons fitting the learner", self.n_fit), ("events fitting the learner", self.events_fit),
                ("persons fitting the calibrator", self.n_calibration),
                ("events fitting the calibrator", self.events_calibration),
                ("excluded: censored before horizon", self.n_excluded_censored)]
        out = pd.DataFrame({"term": [r[0] for r in rows], "estimate": [float(r[1]) for r in rows]})
        for c in ("std_error", "conf_low", "conf_high", "p_value"):
            out[c] = np.nan
        out["n"] = self.n_fit + self.n_calibration
        return out

    def summary(self) -> str:
        """Plain-text description of the fitted model."""
        cal = self.calibration or "none"
        lines = [f"High-risk model: {self.method}, calibration {cal}, censoring {self.censoring}",
                 f"  trained at {self.parameters.get('train_at')}; {len(self.features)} features",
                 f"  learner: n = {self.n_fit} ({self.events_fit} events); calibrator: n = {self.n_calibration} "
                 f"({self.events_calibration} events)",
                 f"  excluded as censored before the horizon: {self.n_excluded_censored}"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + escape(self.summary()) + "</pre>"


def fit_risk_model(
    train_frame: RiskFrame | pd.DataFrame,
    *,
    method: RiskMethod = "logistic",
    calibration: Calibration | None = "isotonic",
    censoring: Censoring = "exclude",
    features: tuple[str, ...] | None = None,
    calibration_fraction: float = 0.3,
    seed: int | np.random.Generator | None = 0,
) -> RiskModel:
    """Fit the high-risk model on a training frame (outcome ``certified``) and calibrate it.

    Parameters
    ----------
    train_frame : RiskFrame or pandas.DataFrame
        From :func:`wellness_research.risk.risk_features` (an earlier survey date than the test frame).
    method : {"logistic", "gbm"}, default "logistic"
        Penalised logistic regression with splines, or histogram gradient boosting.
    calibration : {"isotonic", "sigmoid"} or None, default "isotonic"
        Calibrator fitted on a held-out split; ``None``: no calibration, the learner uses every row.
    censoring : {"exclude", "ipcw"}, default "exclude"
        Persons censored before the horizon are dropped (and counted), or every person with a known
        outcome is weighted by ``ipcw``.
    features : tuple of str, optional
        Feature columns. Default :data:`RISK_FEATURES`, plus ``lq_missing`` and the ``lq*`` items when
        the frame has them.
    calibration_fraction : float, default 0.3
        Share of the training rows held out for the calibrator (stratified on the outcome).
    seed : int, numpy.random.Generator or None, default 0
        Draws the calibration split and seeds the gradient boosting.

    Returns
    -------
    RiskModel

    Raises
    ------
    ConfigurationError
        An invalid option (named), or a training frame with a single outcome class.
    DataValidationError
        A feature or outcome column is missing.

    References
    ----------
    Platt J (1999). Probabilistic outputs for support vector machines. In *Advances in Large Margin
    Classifiers*, 61–74. Zadrozny B, Elkan C (2002). Transforming classifier scores into accurate
    multiclass probability estimates. *KDD '02*, 694–699. Steyerberg EW (2019). *Clinical Prediction
    Models*, 2nd ed., Springer (ch. 15, updating and calibration).

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> from wellness_research.risk import risk_features, fit_risk_model
    >>> train = risk_features(make_municipality("tiny", seed=0).tables, "2020-04-01")
    >>> model = fit_risk_model(train, method="logistic", calibration="sigmoid", seed=0)
    >>> risk = model.predict_risk(train)
    >>> bool(risk.between(0, 1).all()), len(risk) == len(train.data)
    (True, True)
    """
    where = "fit_risk_model"
    if method not in get_args(RiskMethod):
        raise ConfigurationError(f"{where}: method={method!r} is not valid; use one of {list(get_args(RiskMethod))}.")
    if calibration is not None and calibration not in get_args(Calibration):
        raise ConfigurationError(f"{where}: calibration={calibration!r} is not valid; use one of "
                                 f"{list(get_args(Calibration))} or None.")
    if isinstance(calibration_fraction, bool) or not isinstance(calibration_fraction, (int, float)) or not (
            0.05 <= calibration_fraction <= 0.5):
        raise ConfigurationError(f"{where}: calibration_fraction={calibration_fraction!r} is not valid; use a number "
                                 "in [0.05, 0.5].")
    data = _frame_data(train_frame, where)
    train_at = train_frame.parameters.get("at") if isinstance(train_frame, RiskFrame) else None
    if features is None:
        features = RISK_FEATURES + tuple(c for c in ("lq_missing", *LATE_ELDERLY_ITEMS) if c in data.columns)
    features = tuple(features)
    _check_features(data, features, where)
    kept, w, n_cens = _analysis_rows(data, censoring, where)
    y = kept[_OUTCOME].to_numpy(dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise ConfigurationError(f"{where}: the training frame has a single outcome class ({len(y)} rows, all "
                                 f"{_OUTCOME}={int(y[0]) if len(y) else 'n/a'}); nothing to learn.")
    rng = np.random.default_rng(seed)
    int_seed = int(rng.integers(0, 2**31 - 1))
    x = _design(kept, features)
    if calibration is None:
        fit_idx, cal_idx = np.arange(len(y)), np.arange(0)
    else:
        cal_mask = np.zeros(len(y), bool)
        for cls in (0, 1):
            members = np.flatnonzero(y == cls)
            k = int(round(calibration_fraction * len(members)))
            cal_mask[rng.choice(members, size=k, replace=False)] = True
        fit_idx, cal_idx = np.flatnonzero(~cal_mask), np.flatnonzero(cal_mask)
        if len(np.unique(y[cal_idx])) < 2 or len(np.unique(y[fit_idx])) < 2:
            raise ConfigurationError(f"{where}: too few events ({int(y.sum())} of {len(y)}) to hold out a calibration "
                                     f"split of {calibration_fraction}; use calibration=None.")
    learner = _build_learner(method, features, int_seed)
    learner.fit(x.iloc[fit_idx], y[fit_idx], classifier__sample_weight=w[fit_idx])
    calibrator: Any = None
    if calibration is not None:
        p_cal = learner.predict_proba(x.iloc[cal_idx])[:, 1]
        if calibration == "isotonic":
            calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            calibrator.fit(p_cal, y[cal_idx], sample_weight=w[cal_idx])
        else:
            calibrator = LogisticRegression(C=1e10, max_iter=1000)
            calibrator.fit(_logit(p_cal).reshape(-1, 1), y[cal_idx], sample_weight=w[cal_idx])
    params = {"seed": seed if not isinstance(seed, np.random.Generator) else "Generator",
              "calibration_fraction": float(calibration_fraction) if calibration else None, "train_at": train_at}
    return RiskModel(method=method, calibration=calibration, censoring=censoring, features=features,
                     estimator=learner, calibrator=calibrator, n_fit=len(fit_idx), n_calibration=len(cal_idx),
                     events_fit=int(y[fit_idx].sum()), events_calibration=int(y[cal_idx].sum()),
                     n_excluded_censored=n_cens, parameters=params)


@dataclass(frozen=True, eq=False)
class OutreachList:
    """The ranked outreach list: an **operational** output for the community-centre staff.

    ``table`` holds person ids and must never be published, attached to a report or committed;
    :meth:`tidy` and :meth:`summary` carry counts only.

    Attributes
    ----------
    table : pandas.DataFrame
        ``rank`` (1 = highest risk), ``person_id``, ``district``, ``risk``, ``jigyo_taishosha`` (when
        the frame has it), for the ``capacity`` highest-risk persons.
    capacity : int
        Persons the staff can visit.
    risk_cutoff : float
        The lowest predicted risk on the list.
    n_ranked : int
        Persons ranked (rows of the frame).
    """

    table: pd.DataFrame = field(repr=False)
    capacity: int
    risk_cutoff: float
    n_ranked: int

    def tidy(self) -> pd.DataFrame:
        """Persons listed and expected certifications (sum of risks) by district, without person ids."""
        g = self.table.groupby("district", observed=True)
        out = pd.DataFrame({"term": [f"listed: {d}" for d in g.size().index], "estimate": g["risk"].sum().to_numpy(),
                            "n": g.size().to_numpy().astype(np.int64)})
        for c in ("std_error", "conf_low", "conf_high", "p_value"):
            out[c] = np.nan
        return out[["term", "estimate", "std_error", "conf_low", "conf_high", "p_value", "n"]]

    def summary(self) -> str:
        """Plain-text counts (no person ids)."""
        exp = float(self.table["risk"].sum())
        return (f"Outreach list (operational, not for publication): {len(self.table)} of {self.n_ranked} persons "
                f"ranked by predicted risk; capacity {self.capacity}; lowest listed risk {self.risk_cutoff:.3f}; "
                f"expected certifications among those listed {exp:.1f}")

    def _repr_html_(self) -> str:
        return "<pre>" + escape(self.summary()) + "</pre>"


def outreach_list(model: RiskModel, frame: RiskFrame | pd.DataFrame, *, capacity: int) -> OutreachList:
    """Rank the persons of ``frame`` by predicted risk and keep the ``capacity`` highest.

    Ties are broken by ``person_id`` so the list is reproducible. The returned table contains person
    ids: it is an operational list for the visiting staff and **must not be published**.

    Parameters
    ----------
    model : RiskModel
        A fitted model.
    frame : RiskFrame or pandas.DataFrame
        The persons to rank (e.g. :func:`risk_features` at the current survey date), with ``person_id``.
    capacity : int
        Number of persons the staff can visit (>= 1); all are listed if fewer.

    Returns
    -------
    OutreachList

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> from wellness_research.risk import risk_features, fit_risk_model, outreach_list
    >>> frame = risk_features(make_municipality("tiny", seed=0).tables, "2020-04-01")
    >>> lst = outreach_list(fit_risk_model(frame, calibration=None), frame, capacity=50)
    >>> len(lst.table), bool(lst.table.risk.is_monotonic_decreasing)
    (50, True)
    >>> "person_id" in lst.tidy().columns
    False
    """
    if not isinstance(model, RiskModel):
        raise ConfigurationError(f"outreach_list: model must be a RiskModel (from fit_risk_model), got "
                                 f"{type(model).__name__}.")
    if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
        raise ConfigurationError(f"outreach_list: capacity={capacity!r} is not valid; use an integer >= 1.")
    data = _frame_data(frame, "outreach_list")
    if "person_id" not in data.columns:
        raise DataValidationError(f"outreach_list: the frame lacks column 'person_id' ({len(data)} rows).")
    risk = model.predict_risk(data)
    cols = ["person_id", "district"] + (["jigyo_taishosha"] if "jigyo_taishosha" in data.columns else [])
    t = data[cols].assign(risk=risk.to_numpy(), _key=data["person_id"].astype(str).to_numpy())
    t = t.sort_values(["risk", "_key"], ascending=[False, True], kind="stable").head(int(capacity))
    t = t.drop(columns="_key").reset_index(drop=True)
    t.insert(0, "rank", np.arange(1, len(t) + 1))
    cutoff = float(t["risk"].iloc[-1]) if len(t) else float("nan")
    return OutreachList(table=t, capacity=int(capacity), risk_cutoff=cutoff, n_ranked=len(data))
