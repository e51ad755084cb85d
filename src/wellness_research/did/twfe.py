"""Two-by-two difference-in-differences and TWFE event studies, fitted with pyfixest.

Both entry points fit a two-way fixed-effects regression with :func:`pyfixest.feols` and, unlike
pyfixest's own default with fixed effects (iid errors), cluster the standard errors **by unit**
unless told otherwise. Rows are never dropped: missing values raise an error that counts them, and
pyfixest's singleton removal is switched off (``fixef_rm="none"``).

``did_2x2``
    ``y_it = α_i + λ_t + β · treated_i · post_t + ε_it``. In a balanced panel with common timing
    ``β`` equals the difference of the four cell means
    ``(ȳ_T,post − ȳ_T,pre) − (ȳ_C,post − ȳ_C,pre)``, which the result also reports.

``event_study``
    ``y_it = α_i + λ_t + Σ_{e ≠ ref} β_e · 1{t − g_i = e} + ε_it`` with ``g_i`` the unit's first
    treated period (never-treated units have all dummies zero). With ``window=(lo, hi)`` event times
    below ``lo`` / above ``hi`` are binned into the end points. Under staggered timing (several
    cohorts) these coefficients are contaminated by other periods' effects (Sun & Abraham 2021) and
    the static TWFE coefficient is a weighted average with possibly negative weights
    (Goodman-Bacon 2021; de Chaisemartin & D'Haultfœuille 2020): a
    :class:`~wellness_research.errors.StaggeredTWFEWarning` is issued, the decomposition is attached
    as ``diagnostic``, and ``att_gt`` should be used for the estimate.

Inference: pyfixest's CRV1 (small-sample factor ``G/(G−1)·(N−1)/(N−k)``, t distribution with
``G − 1`` degrees of freedom), or ``vcov="CRV3"``, ``"iid"``, ``"hetero"``. The sup-t band uses
draws from ``N(0, Σ̂)`` (Montiel Olea & Plagborg-Møller 2019); the pre-trend test is the Wald
χ² test of the pre-period coefficients.

References
----------
Goodman-Bacon, A. (2021). Difference-in-differences with variation in treatment timing. *Journal of
Econometrics* 225(2), 254–277.
de Chaisemartin, C., D'Haultfœuille, X. (2020). Two-way fixed effects estimators with heterogeneous
treatment effects. *American Economic Review* 110(9), 2964–2996.
Sun, L., Abraham, S. (2021). Estimating dynamic treatment effects in event studies with heterogeneous
treatment effects. *Journal of Econometrics* 225(2), 175–199.
Montiel Olea, J. L., Plagborg-Møller, M. (2019). Simultaneous confidence bands: Theory,
implementation, and an application to SVARs. *Journal of Applied Econometrics* 34(1), 1–17.
Kessler, J. B., Roth, A. E. (2014). Don't take 'no' for an answer: An experiment with actual organ
donor registrations. NBER Working Paper 20378 (the organ-donation example data).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import (
    ConfigurationError,
    DataValidationError,
    SingularDesignError,
    StaggeredTWFEWarning,
)
from ._results import DiDResult, EventStudyResult, PreTrendTest
from .wild import make_design

__all__ = ["VcovType", "did_2x2", "event_study"]

VcovType = Literal["CRV1", "CRV3", "iid", "hetero"]


# --------------------------------------------------------------------------------------------
# validation shared by both entry points
# --------------------------------------------------------------------------------------------
def _frame(data: Any, columns: dict[str, str | None], where: str) -> pd.DataFrame:
    """Copy the used columns (fresh RangeIndex); unknown columns and missing values raise."""
    if not isinstance(data, pd.DataFrame):
        raise ConfigurationError(f"{where}: data must be a pandas DataFrame, got {type(data).__name__}.")
    used = {role: col for role, col in columns.items() if col is not None}
    for role, col in used.items():
        if not isinstance(col, str):
            raise ConfigurationError(f"{where}: {role} must be a column name (str), got {col!r}.")
        if col not in data.columns:
            raise ConfigurationError(
                f"{where}: {role}={col!r} is not a column of data; available: {list(data.columns)}."
            )
    cols = list(dict.fromkeys(used.values()))
    if len(data) == 0:
        raise DataValidationError(f"{where}: data has no rows.")
    return data[cols].reset_index(drop=True)


def _no_missing(frame: pd.DataFrame, cols: Sequence[str], where: str, allow: str | None = None) -> None:
    check = [c for c in dict.fromkeys(cols) if c != allow]
    bad = frame[check].isna().any(axis=1).to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        which = [c for c in check if frame[c].isna().any()]
        raise DataValidationError(
            f"{where}: {int(bad.sum())} row(s) have missing values in {which}; e.g. row {first}: "
            f"{frame.iloc[first].to_dict()}. Rows are never dropped silently: drop or impute them first."
        )


def _numeric(frame: pd.DataFrame, col: str, role: str, where: str) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col])):
        raise DataValidationError(f"{where}: {role} column {col!r} must be numeric, got dtype {frame[col].dtype}.")
    return frame[col].to_numpy(dtype=float)


def _binary(frame: pd.DataFrame, col: str, role: str, where: str) -> np.ndarray:
    x = _numeric(frame, col, role, where)
    bad = ~np.isin(x, (0.0, 1.0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"{where}: {role} column {col!r} must be binary (0/1 or bool); {int(bad.sum())} row(s) are not, "
            f"e.g. row {first} has {frame[col].iloc[first]!r}."
        )
    return x


def _constant_within(values: np.ndarray, groups: np.ndarray, role: str, col: str, by: str, where: str,
                     labels: pd.Series) -> None:
    s = pd.Series(values).groupby(groups)
    varying = s.nunique(dropna=False) > 1
    if varying.any():
        ex = varying.index[np.flatnonzero(varying.to_numpy())[0]]
        raise DataValidationError(
            f"{where}: {role} column {col!r} must be constant within each {by}; it varies in "
            f"{int(varying.sum())} {by}(s), e.g. {by} {labels.iloc[int(np.flatnonzero(groups == ex)[0])]!r}."
        )


def _weights(frame: pd.DataFrame, col: str | None, where: str) -> np.ndarray | None:
    if col is None:
        return None
    w = _numeric(frame, col, "weights", where)
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"{where}: weights column {col!r} must be finite and non-negative; {int(bad.sum())} row(s) are not, "
            f"e.g. row {first}: {w[first]!r}."
        )
    if not (w > 0).any():
        raise DataValidationError(f"{where}: weights column {col!r} is zero everywhere.")
    return w


def _vcov_spec(vcov: Any, cluster: str | None, unit: str, where: str) -> tuple[Any, str | None, str]:
    """pyfixest vcov argument, the cluster column used (or None) and a label."""
    if vcov is None:
        vcov = "CRV1"
    if vcov not in get_args(VcovType):
        raise ConfigurationError(
            f"{where}: vcov={vcov!r} is not valid; use one of {list(get_args(VcovType))} (or None: CRV1 by unit)."
        )
    if vcov in ("iid", "hetero"):
        if cluster is not None:
            raise ConfigurationError(
                f"{where}: cluster={cluster!r} was given with vcov={vcov!r}; clustering needs vcov='CRV1' or 'CRV3'."
            )
        return vcov, None, vcov
    col = unit if cluster is None else cluster
    return {vcov: "_cl"}, col, f"{vcov} by {col}"


_FIXEF_TOL = 1e-10


def _fit(formula: str, frame: pd.DataFrame, vcov: Any, weighted: bool, terms: Sequence[str], where: str) -> Any:
    import pyfixest as pf

    with warnings.catch_warnings():
        # pyfixest announces dropped collinear variables with a UserWarning; we raise instead (below).
        warnings.filterwarnings("ignore", message=r"[\s\S]*collinear", category=UserWarning)
        # Demeaning tolerance 1e-10 (pyfixest's MapDemeaner default 1e-6): the alternating projections then
        # converge far enough that estimates do not move with the row order in their last displayed digits.
        fit = pf.feols(formula, data=frame, vcov=vcov, weights="_w" if weighted else None, fixef_rm="none",
                       demeaner=pf.MapDemeaner(fixef_tol=_FIXEF_TOL))
    dropped = [str(v) for v in getattr(fit, "_collin_vars", [])]
    if dropped:
        named = ", ".join(terms[int(c[2:])] if c.startswith("_x") else c for c in dropped)
        raise SingularDesignError(
            f"{where}: the design is singular; {named} "
            "is collinear with the unit and time fixed effects (e.g. no untreated comparison for it). "
            "Use a window with binned end points or include never-treated units."
        )
    return fit


def _outcome_scale(y: np.ndarray) -> float:
    """A power of two near max |y|: the fit runs on ``y / scale`` (exact in floating point).

    The demeaning tolerance is absolute; for an outcome in yen (~1e5) a tolerance of 1e-10 asks for
    15 significant digits and the alternating projections can fail to reach it. On the unit scale
    it is a relative tolerance, and coefficients, standard errors and intervals are scaled back.
    """
    top = float(np.max(np.abs(y))) if len(y) else 0.0
    return float(2.0 ** np.round(np.log2(top))) if np.isfinite(top) and top > 0 else 1.0


def _n_clusters(fit: Any, clustered: bool) -> int | None:
    if not clustered:
        return None
    g = getattr(fit, "_G", None)
    return int(np.min(g)) if g is not None else None


# --------------------------------------------------------------------------------------------
# 2×2
# --------------------------------------------------------------------------------------------
def did_2x2(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treated: str,
    post: str,
    cluster: str | None = None,
    weights: str | None = None,
    vcov: VcovType | None = None,
    alpha: float = 0.05,
) -> DiDResult:
    """Difference-in-differences with one treated group and a common treatment date.

    Fits ``outcome ~ treated:post | unit + time`` with :func:`pyfixest.feols` and reports the 2×2
    table of cell means beside it.

    Parameters
    ----------
    data : pandas.DataFrame
        A panel (one row per unit and period; unbalanced allowed). Not modified; duplicate index
        values are fine.
    outcome : str
        Numeric outcome column; missing values raise (never dropped silently).
    unit, time : str
        Unit and period identifiers (absorbed as fixed effects).
    treated : str
        Binary group indicator (1 = treated group), constant within unit.
    post : str
        Binary period indicator (1 = after the treatment date), constant within period and
        absorbing: once a period is post, every later period is post.
    cluster : str, optional
        Cluster column. **Default ``None`` clusters by ``unit``** (pyfixest's own default with
        fixed effects is iid errors, which overstates precision with serially correlated panels).
    weights : str, optional
        Non-negative observation weights (pyfixest ``aweights``).
    vcov : {"CRV1", "CRV3", "iid", "hetero"}, optional
        Default ``"CRV1"`` (clustered as above). ``"iid"`` / ``"hetero"`` only without ``cluster``.
    alpha : float, default 0.05
        Interval level ``1 − alpha``.

    Returns
    -------
    DiDResult
        ``estimate``, ``std_error``, ``conf_low``/``conf_high``, ``p_value``, ``cell_means``, ...;
        ``.wild_bootstrap(...)`` gives the wild cluster restricted bootstrap for few clusters.

    Raises
    ------
    ConfigurationError
        Unknown column or option.
    DataValidationError
        Missing values, non-binary ``treated``/``post``, ``treated`` varying within a unit, ``post``
        varying within a period or switching off, or an empty group/period cell.
    SingularDesignError
        ``treated:post`` has no variation left after the fixed effects.

    References
    ----------
    Angrist, J. D., Pischke, J.-S. (2009). *Mostly Harmless Econometrics*, section 5.2 (eq. 5.2.3).
    Kessler & Roth (2014) for the organ-donation example; see the module docstring.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({
    ...     "unit": [1, 1, 2, 2, 3, 3, 4, 4],
    ...     "t": [0, 1] * 4,
    ...     "treated": [1, 1, 1, 1, 0, 0, 0, 0],
    ...     "post": [0, 1] * 4,
    ...     "y": [1.0, 4.0, 2.0, 5.0, 1.0, 2.0, 3.0, 4.0],
    ... })
    >>> res = did_2x2(df, outcome="y", unit="unit", time="t", treated="treated", post="post")
    >>> round(res.estimate, 6), round(res.cell_mean_did, 6)   # (4.5 - 1.5) - (3 - 2)
    (2.0, 2.0)
    >>> res.vcov_type, res.n_clusters
    ('CRV1 by unit', 4)
    """
    where = "did_2x2"
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ConfigurationError(f"{where}: alpha={alpha!r} must lie strictly between 0 and 1.")
    pv, cl_col, label = _vcov_spec(vcov, cluster, unit, where)
    frame = _frame(
        data,
        {"outcome": outcome, "unit": unit, "time": time, "treated": treated, "post": post,
         "cluster": cl_col, "weights": weights},
        where,
    )
    _no_missing(frame, list(frame.columns), where)
    y = _numeric(frame, outcome, "outcome", where)
    if not np.isfinite(y).all():
        bad = ~np.isfinite(y)
        raise DataValidationError(
            f"{where}: outcome column {outcome!r} has {int(bad.sum())} non-finite value(s), "
            f"e.g. row {int(np.flatnonzero(bad)[0])}."
        )
    g = _binary(frame, treated, "treated", where)
    p = _binary(frame, post, "post", where)
    w = _weights(frame, weights, where)
    ucode = pd.factorize(frame[unit], use_na_sentinel=False)[0]
    tcode = pd.factorize(frame[time], use_na_sentinel=False)[0]
    _constant_within(g, ucode, "treated", treated, "unit", where, frame[unit])
    _constant_within(p, tcode, "post", post, "period", where, frame[time])
    by_time = pd.DataFrame({"t": frame[time], "p": p}).drop_duplicates("t").sort_values("t", kind="stable")
    switch_off = np.flatnonzero(np.diff(by_time["p"].to_numpy()) < 0)
    if switch_off.size:
        k = int(switch_off[0])
        raise DataValidationError(
            f"{where}: post column {post!r} switches off: it is 1 at {time}={by_time['t'].iloc[k]!r} and 0 at the "
            f"later {time}={by_time['t'].iloc[k + 1]!r}. Treatment must be absorbing (use event_study or att_gt "
            "for other designs)."
        )
    cells = pd.DataFrame({
        "group": np.where(g == 1, "treated", "control"),
        "period": np.where(p == 1, "post", "pre"),
        "y": y,
        "w": np.ones(len(y)) if w is None else w,
        "unit": ucode,
    })
    cells["wy"] = cells["w"] * cells["y"]
    tab = cells.groupby(["group", "period"]).agg(
        n=("y", "size"), n_units=("unit", "nunique"), weight=("w", "sum"), wy=("wy", "sum")
    )
    full = pd.MultiIndex.from_product([["treated", "control"], ["pre", "post"]], names=["group", "period"])
    tab = tab.reindex(full)
    if tab["n"].isna().any() or (tab["weight"].fillna(0) <= 0).any():
        empty = [f"{a}/{b}" for (a, b), v in tab["weight"].fillna(0).items() if v <= 0]
        raise DataValidationError(f"{where}: the 2×2 design needs data in every cell; empty: {', '.join(empty)}.")
    tab["mean"] = tab["wy"] / tab["weight"]
    cell_means = tab.drop(columns="wy").reset_index()[["group", "period", "mean", "n", "n_units", "weight"]]
    cell_means[["n", "n_units"]] = cell_means[["n", "n_units"]].astype(int)
    m = tab["mean"]
    cell_did = float((m["treated", "post"] - m["treated", "pre"]) - (m["control", "post"] - m["control", "pre"]))

    scale = _outcome_scale(y)
    fe = pd.DataFrame({"_y": y / scale, "_x0": g * p, "_unit": ucode, "_time": tcode})
    if cl_col is not None:
        fe["_cl"] = pd.factorize(frame[cl_col], use_na_sentinel=False)[0]
    if w is not None:
        fe["_w"] = w
    term = f"{treated}:{post}"
    fit = _fit("_y ~ _x0 | _unit + _time", fe, pv, w is not None, [term], where)
    tidy = fit.tidy(alpha=alpha)
    est, se = float(tidy["Estimate"].iloc[0]) * scale, float(tidy["Std. Error"].iloc[0]) * scale
    df_t = float(fit._df_t)
    crit = float(stats.t.ppf(1 - alpha / 2, df_t))
    notes = []
    if abs(est - cell_did) > 1e-8 * max(1.0, abs(est)):
        notes.append(
            f"the regression estimate differs from the 2×2 of cell means ({cell_did:.6f}): the panel is "
            "unbalanced or the weights vary within units; the regression (within-unit) estimate is reported."
        )
    design = None
    if cl_col is not None:
        design = functools.partial(
            make_design, y, (g * p)[:, None], names=[term], clusters=fe["_cl"].to_numpy(),
            fixed_effects=[ucode, tcode], weights=w,
        )
    return DiDResult(
        estimate=est,
        std_error=se,
        t_stat=float(tidy["t value"].iloc[0]),
        p_value=float(tidy["Pr(>|t|)"].iloc[0]),
        conf_low=est - crit * se,
        conf_high=est + crit * se,
        df=df_t,
        cell_means=cell_means,
        cell_mean_did=cell_did,
        n_obs=int(fit._N),
        n_units=int(ucode.max() + 1),
        n_clusters=_n_clusters(fit, cl_col is not None),
        vcov_type=label,
        outcome=outcome,
        unit=unit,
        time=time,
        treated=treated,
        post=post,
        cluster=cl_col,
        weights=weights,
        alpha=float(alpha),
        notes=tuple(notes),
        _design=design,
    )


# --------------------------------------------------------------------------------------------
# event study
# --------------------------------------------------------------------------------------------
def _integer_valued(x: np.ndarray, role: str, col: str, where: str) -> None:
    bad = np.isfinite(x) & (x != np.round(x))
    if bad.any():
        raise DataValidationError(
            f"{where}: {role} column {col!r} must hold integer periods (event time = time − cohort); "
            f"{int(bad.sum())} row(s) are not integers, e.g. {x[np.flatnonzero(bad)[0]]!r}."
        )


def _is_never(cohort: np.ndarray, never_treated: float | None) -> np.ndarray:
    if never_treated is None or (isinstance(never_treated, float) and math.isnan(never_treated)):
        return np.isnan(cohort)
    return cohort == float(never_treated)


def sup_t_critical(vcov: np.ndarray, *, alpha: float, n_draws: int, seed: int | np.random.Generator | None) -> float:
    """``1 − alpha`` quantile of ``max_k |Z_k| / sd_k`` with ``Z ~ N(0, vcov)`` (sup-t band multiplier)."""
    k = vcov.shape[0]
    if k == 0:
        return float("nan")
    sd = np.sqrt(np.diag(vcov))
    corr = vcov / np.outer(sd, sd)
    vals, vecs = np.linalg.eigh(corr)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_draws, k)) @ root.T
    return float(np.quantile(np.max(np.abs(z), axis=1), 1 - alpha))


def event_study(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    reference: int = -1,
    cluster: str | None = None,
    weights: str | None = None,
    window: tuple[int, int] | None = None,
    never_treated: float | None = 0,
    vcov: VcovType | None = None,
    alpha: float = 0.05,
    n_band_draws: int = 10_000,
    seed: int | np.random.Generator | None = None,
    diagnostic: bool = True,
) -> EventStudyResult:
    """TWFE event study with relative-time dummies, sup-t band and pre-trend test.

    Fits ``outcome ~ Σ_{e ≠ reference} 1{time − cohort = e} | unit + time`` with
    :func:`pyfixest.feols` (the same fit as pyfixest's ``i(rel_time, ref=reference)`` with the
    never-treated rows in the reference category).

    Parameters
    ----------
    data : pandas.DataFrame
        Panel, one row per unit and period (unbalanced allowed). Not modified.
    outcome : str
        Numeric outcome; missing values raise.
    unit, time : str
        Identifiers; ``time`` must be integer periods on the same scale as ``cohort``.
    cohort : str
        First treated period of the unit (constant within unit: treatment is absorbing), or
        ``never_treated`` for units never treated.
    reference : int, default -1
        Omitted (normalising) event time; must be negative and observed.
    cluster : str, optional
        **Default ``None`` clusters by ``unit``** (pyfixest's own default with fixed effects is iid).
    weights : str, optional
        Non-negative observation weights.
    window : (int, int), optional
        ``(lo, hi)``: event times ``<= lo`` are pooled into ``lo`` and ``>= hi`` into ``hi``.
    never_treated : float or None, default 0
        Code of never-treated units in ``cohort`` (``None`` or NaN: missing cohort = never treated).
    vcov : {"CRV1", "CRV3", "iid", "hetero"}, optional
        Default ``"CRV1"``.
    alpha : float, default 0.05
    n_band_draws : int, default 10000
        Normal draws for the sup-t critical value.
    seed : int, numpy.random.Generator or None
        Randomness of the sup-t draws.
    diagnostic : bool, default True
        Under staggered timing, attach the Goodman-Bacon / dCDH decomposition of the static TWFE.

    Returns
    -------
    EventStudyResult
        ``.beta``, ``.sigma``, ``.num_pre``, ``.num_post`` feed HonestDiD; ``.pretrend``, ``.tidy()``,
        ``.plot()``, ``.wild_bootstrap(event_time)``.

    Warns
    -----
    StaggeredTWFEWarning
        More than one treatment cohort: TWFE coefficients can be biased by heterogeneous effects; use
        ``att_gt``. The decomposition is attached as ``diagnostic``.

    Raises
    ------
    ConfigurationError
        Unknown column, option, bad ``reference`` or ``window``.
    DataValidationError
        Missing values (counted, with an example), cohort varying within a unit, non-integer periods,
        no treated units.
    SingularDesignError
        A relative-time dummy is collinear with the fixed effects (e.g. every unit is eventually
        treated and no window bins the ends).

    References
    ----------
    Sun & Abraham (2021); Montiel Olea & Plagborg-Møller (2019); Goodman-Bacon (2021); see the
    module docstring.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> units, periods = np.arange(20), np.arange(6)
    >>> df = pd.DataFrame([(u, t) for u in units for t in periods], columns=["id", "t"])
    >>> df["g"] = np.where(df["id"] < 10, 3, 0)              # one cohort treated from t = 3
    >>> rel = df["t"] - df["g"]
    >>> df["y"] = df["id"] * 0.1 + df["t"] * 0.2 + np.where((df["g"] > 0) & (rel >= 0), 1.0 + rel, 0.0)
    >>> df["y"] += np.random.default_rng(0).normal(scale=0.01, size=len(df))
    >>> es = event_study(df, outcome="y", unit="id", time="t", cohort="g", seed=0)
    >>> es.event_time.tolist(), es.num_pre, es.num_post
    ([-3, -2, 0, 1, 2], 2, 3)
    >>> np.round(es.beta[2:], 1).tolist()
    [1.0, 2.0, 3.0]
    """
    where = "event_study"
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ConfigurationError(f"{where}: alpha={alpha!r} must lie strictly between 0 and 1.")
    if not isinstance(reference, int | np.integer) or isinstance(reference, bool) or reference >= 0:
        raise ConfigurationError(f"{where}: reference={reference!r} must be a negative integer event time.")
    if window is not None:
        if (not isinstance(window, tuple | list) or len(window) != 2
                or not all(isinstance(v, int | np.integer) for v in window) or not window[0] < reference < window[1]
                or window[1] < 0):
            raise ConfigurationError(
                f"{where}: window={window!r} must be a pair of integers (lo, hi) with lo < reference={reference} < hi "
                "and hi >= 0."
            )
        window = (int(window[0]), int(window[1]))
    if not isinstance(n_band_draws, int | np.integer) or n_band_draws < 100:
        raise ConfigurationError(f"{where}: n_band_draws={n_band_draws!r} must be an integer >= 100.")
    pv, cl_col, label = _vcov_spec(vcov, cluster, unit, where)
    frame = _frame(
        data,
        {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort, "cluster": cl_col, "weights": weights},
        where,
    )
    never_is_nan = never_treated is None or (isinstance(never_treated, float) and math.isnan(never_treated))
    _no_missing(frame, list(frame.columns), where, allow=cohort if never_is_nan else None)
    y = _numeric(frame, outcome, "outcome", where)
    t = _numeric(frame, time, "time", where)
    c = _numeric(frame, cohort, "cohort", where)
    _integer_valued(t, "time", time, where)
    _integer_valued(c, "cohort", cohort, where)
    w = _weights(frame, weights, where)
    ucode = pd.factorize(frame[unit], use_na_sentinel=False)[0]
    tcode = pd.factorize(frame[time], use_na_sentinel=False)[0]
    _constant_within(np.nan_to_num(c, nan=-np.inf), ucode, "cohort", cohort, "unit", where, frame[unit])
    never = _is_never(c, never_treated)
    if never.all():
        raise DataValidationError(f"{where}: no treated unit: every {cohort!r} equals never_treated={never_treated!r}.")
    rel = np.where(never, 0, t - np.where(never, 0, c)).astype(np.int64)
    if window is not None:
        rel = np.clip(rel, window[0], window[1])
    treated_rows = ~never
    times = np.unique(rel[treated_rows])
    if reference not in times:
        raise ConfigurationError(
            f"{where}: reference={reference} is not an observed event time; observed: {times.tolist()}."
        )
    event_time = times[times != reference]
    if event_time.size == 0:
        raise DataValidationError(f"{where}: only the reference event time is observed; nothing to estimate.")
    xs = np.zeros((len(frame), event_time.size))
    pos = np.searchsorted(event_time, rel)
    hit = treated_rows & (rel != reference)
    xs[np.flatnonzero(hit), pos[hit]] = 1.0
    n_by = xs.sum(axis=0).astype(int)
    n_ref = int(np.sum(treated_rows & (rel == reference)))

    fe = pd.DataFrame({f"_x{k}": xs[:, k] for k in range(event_time.size)})
    scale = _outcome_scale(y)
    fe["_y"], fe["_unit"], fe["_time"] = y / scale, ucode, tcode
    if cl_col is not None:
        fe["_cl"] = pd.factorize(frame[cl_col], use_na_sentinel=False)[0]
    if w is not None:
        fe["_w"] = w
    names = [f"rel_time::{e}" for e in event_time]
    formula = "_y ~ " + " + ".join(f"_x{k}" for k in range(event_time.size)) + " | _unit + _time"
    fit = _fit(formula, fe, pv, w is not None, names, where)
    coefnames = [str(v) for v in fit._coefnames]
    order = [coefnames.index(f"_x{k}") for k in range(event_time.size)]
    beta = np.asarray(fit.coef(), dtype=float)[order] * scale
    sigma = np.asarray(fit._vcov, dtype=float)[np.ix_(order, order)] * scale**2
    se = np.sqrt(np.diag(sigma))
    df_t = float(fit._df_t)
    crit = float(stats.t.ppf(1 - alpha / 2, df_t))
    pvals = 2 * stats.t.sf(np.abs(beta / se), df_t)
    crit_sim = sup_t_critical(sigma, alpha=alpha, n_draws=int(n_band_draws), seed=seed)

    pre = event_time < 0
    pretrend = None
    if pre.any():
        bp, vp = beta[pre], sigma[np.ix_(pre, pre)]
        stat = float(bp @ np.linalg.pinv(vp) @ bp)
        dfw = int(np.linalg.matrix_rank(vp))
        pretrend = PreTrendTest(statistic=stat, df=dfw, p_value=float(stats.chi2.sf(stat, dfw)))

    cohorts = np.unique(c[~never])
    t_min, t_max = float(np.min(t)), float(np.max(t))
    switching = cohorts[(cohorts > t_min) & (cohorts <= t_max)]
    staggered = switching.size > 1
    notes = []
    diag = None
    if staggered:
        warnings.warn(
            f"{where}: treatment timing is staggered ({switching.size} cohorts: "
            f"{', '.join(f'{v:g}' for v in switching[:6])}{', ...' if switching.size > 6 else ''}). TWFE event-study "
            "coefficients mix effects across periods and cohorts when effects are heterogeneous "
            "(Sun & Abraham 2021); use att_gt (Callaway–Sant'Anna) for estimates and read this fit as a "
            "diagnostic. The Goodman-Bacon / de Chaisemartin–D'Haultfœuille decomposition is in .diagnostic.",
            StaggeredTWFEWarning,
            stacklevel=2,
        )
        if diagnostic:
            from .bacon import _decompose

            diag = _decompose(y, ucode, t, c, never, where=where)
    if window is not None:
        notes.append(f"event times <= {window[0]} and >= {window[1]} are binned into the end points.")
    design = None
    if cl_col is not None:
        design = functools.partial(
            make_design, y, xs, names=names, clusters=fe["_cl"].to_numpy(), fixed_effects=[ucode, tcode], weights=w,
        )
    return EventStudyResult(
        event_time=event_time.astype(int),
        estimates=beta,
        std_errors=se,
        vcov=sigma,
        reference=int(reference),
        conf_low=beta - crit * se,
        conf_high=beta + crit * se,
        band_low=beta - crit_sim * se,
        band_high=beta + crit_sim * se,
        crit_simultaneous=crit_sim,
        p_values=pvals,
        pretrend=pretrend,
        n_by_event_time=n_by,
        n_obs=int(fit._N),
        n_units=int(ucode.max() + 1),
        n_clusters=_n_clusters(fit, cl_col is not None),
        vcov_type=label,
        df=df_t,
        staggered=bool(staggered),
        outcome=outcome,
        n_reference=n_ref,
        diagnostic=diag,
        window=window,
        alpha=float(alpha),
        notes=tuple(notes),
        _design=design,
    )
