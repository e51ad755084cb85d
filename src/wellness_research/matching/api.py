"""The public entry point :func:`match`: validate, compute the distance, match within exact strata,
and return a :class:`~wellness_research.matching.result.MatchResult` that accounts for every row.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigurationError, DataValidationError, NoCaliperWarning
from ._types import Discard, Distance, Method, Order, check_option
from .distance import design_columns, design_matrix, fit_propensity, linear_combination, pooled_within_inverse_cov
from .exact import coarsen, strata_codes, subclass_weights
from .nearest import nn_mahalanobis, nn_with_replacement, nn_without_replacement
from .result import STATUSES, Estimand, MatchResult

__all__ = ["match"]

_ATE_METHODS = ("full", "exact", "cem")
_S = {name: np.int8(i) for i, name in enumerate(STATUSES)}


def _validate(
    data: Any, treatment: Any, covariates: Any, exact: Any, mahalanobis: Any
) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    if not isinstance(data, pd.DataFrame):
        raise ConfigurationError(f"match: data must be a pandas DataFrame, got {type(data).__name__}.")
    if not isinstance(treatment, str) or treatment not in data.columns:
        raise ConfigurationError(f"match: treatment={treatment!r} is not a column of data.")

    def _cols(value: Any, name: str, allow_empty: bool) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        value = list(value)
        if not value and not allow_empty:
            raise ConfigurationError(f"match: {name} must name at least one column, got [].")
        missing = [c for c in value if c not in data.columns]
        if missing:
            raise ConfigurationError(f"match: {name} names columns not in data: {missing}.")
        if treatment in value:
            raise ConfigurationError(f"match: {name} must not contain the treatment {treatment!r}.")
        if len(set(value)) != len(value):
            raise ConfigurationError(f"match: {name} repeats a column: {value}.")
        return value

    covs = _cols(covariates, "covariates", allow_empty=False)
    ex = _cols(exact, "exact", allow_empty=True)
    mah = _cols(mahalanobis, "mahalanobis", allow_empty=True)
    t = data[treatment]
    if t.isna().any():
        raise DataValidationError(f"match: treatment {treatment!r} has {int(t.isna().sum())} missing values.")
    values = pd.unique(t)
    if not set(np.asarray(values, dtype=object).tolist()) <= {0, 1, True, False}:
        raise DataValidationError(
            f"match: treatment {treatment!r} must be 0/1, found values {sorted(map(str, values))[:5]}."
        )
    tt = t.to_numpy().astype(bool)
    if tt.all() or not tt.any():
        raise DataValidationError(
            f"match: treatment {treatment!r} must have both treated (1) and control (0) units; "
            f"got {int(tt.sum())} treated and {int((~tt).sum())} controls."
        )
    for c in dict.fromkeys(covs + ex + mah):
        n_missing = _n_missing(data[c])
        if n_missing:
            raise DataValidationError(
                f"match: column {c!r} has {n_missing} missing values; impute or drop them first "
                "(matching never drops rows silently)."
            )
    return tt, covs, ex, mah


def _n_missing(s: pd.Series) -> int:
    """Number of missing values; a cheap pass for NumPy numeric columns (a NaN makes the sum NaN)."""
    if isinstance(s.dtype, np.dtype):
        if s.dtype.kind in "biu":
            return 0
        if s.dtype.kind == "f" and not np.isnan(np.add.reduce(s.to_numpy())):
            return 0
    return int(s.isna().sum())


def _flatten(sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Reference sets as (size per focal unit, all reference rows concatenated)."""
    sizes = np.array([len(x) for x in sets], dtype=np.int64)
    flat = np.concatenate(sets).astype(np.int64) if sets else np.empty(0, dtype=np.int64)
    return sizes, flat


def _pair_result_arrays(
    n: int, focal_rows: np.ndarray, sizes: np.ndarray, flat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Links (set, focal row, ref row, weight) from focal rows and their reference sets, given as
    the size of each focal unit's set and the sets' rows concatenated in the same order."""
    keep = sizes > 0
    focal_rows = np.asarray(focal_rows)[keep]
    sizes = sizes[keep]
    order = np.argsort(focal_rows, kind="stable")
    set_id = np.empty(len(order), dtype=np.int64)
    set_id[order] = np.arange(len(order))
    sid = np.repeat(set_id, sizes)
    frow = np.repeat(focal_rows, sizes)
    rrow = np.asarray(flat, dtype=np.int64)
    w = np.repeat(1.0 / np.maximum(sizes, 1), sizes)
    return sid, frow, rrow, w


def match(
    data: pd.DataFrame,
    *,
    treatment: str,
    covariates: Sequence[str],
    method: Method = "nearest",
    distance: Distance = "logit",
    caliper: float | None = 0.2,
    ratio: int = 1,
    replace: bool = False,
    exact: Sequence[str] | None = None,
    estimand: Estimand = "att",
    seed: int | np.random.Generator | None = None,
    order: Order = "largest",
    mahalanobis: Sequence[str] | None = None,
    score: str | np.ndarray | pd.Series | None = None,
    discard: Discard = "none",
    cem_cutpoints: Mapping[str, int | str | Sequence[float]] | None = None,
) -> MatchResult:
    """Match treated and control units; return the design with every unmatched unit accounted for.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit. Never modified; rows are addressed by position, so the index may repeat.
    treatment : str
        0/1 column; both groups must be present.
    covariates : sequence of str
        Covariates of the propensity model (and of CEM / exact matching). Missing values raise.
    method : {"nearest", "optimal", "full", "exact", "cem"}, default "nearest"
        ``"exact"`` matches exactly on all covariates (one subclass per cell); ``"cem"`` on their
        coarsened values; ``"optimal"`` / ``"full"`` call :mod:`.optimal` within each exact stratum;
        units with equal distances reach the solver ordered by a hash of their whole row
        (``pandas.util.hash_pandas_object(data, index=False)``), so the subclasses — and the
        subclass-clustered standard errors — do not depend on row order or on the index.
    distance : {"logit", "probability", "gbm", "mahalanobis", "given"}, default "logit"
        Propensity score from a statsmodels logit, matched on the linear predictor (``"logit"``,
        MatchIt's ``link="linear.logit"``) or on the probability; a seeded scikit-learn gradient
        boosting classifier (probability scale); the Mahalanobis distance on the covariates with
        the pooled within-group covariance (MatchIt ≥ 4.4); or ``"given"`` with ``score=``
        (probabilities, used as they are). The outcome is never looked at.
    caliper : float or None, default 0.2
        In standard deviations (ddof=1, all units) of the distance; inclusive. ``None`` warns
        (:class:`~wellness_research.errors.NoCaliperWarning`). Not used by ``"exact"``/``"cem"``.
    ratio : int, default 1
        Controls per treated unit (nearest, optimal).
    replace : bool, default False
        Nearest neighbour with replacement.
    exact : sequence of str, optional
        Match only within strata of these columns; units whose stratum lacks the other group get
        status ``"exact_stratum"``.
    estimand : {"att", "atc", "ate"}, default "att"
        ATC swaps the roles of the groups; ATE with ``method`` in "full", "exact", "cem", or
        ``"nearest"`` with ``replace=True`` (each unit matched to the other group; weight
        ``1 + K_i/M``, Abadie and Imbens 2006).
    seed : int, numpy.random.Generator or None
        For ``order="random"`` and ``distance="gbm"``.
    order : {"largest", "smallest", "random", "data"}, default "largest"
        Greedy order without replacement: largest distance first (MatchIt's default), smallest
        first, a seeded random permutation (of the units sorted by distance, so independent of row
        order), or ``"data"`` — row order; the only option whose result depends on row order.
        With ``distance="mahalanobis"`` "largest"/"smallest" rank by the Mahalanobis distance to the
        control mean. Ties in the distance are broken by the covariate values, never by position.
    mahalanobis : sequence of str, optional
        Mahalanobis matching on these columns inside the propensity caliper (MatchIt's ``mahvars``).
    score : str or array-like, optional
        With ``distance="given"``: a column name or an array of propensity scores in [0, 1].
    discard : {"none", "treated", "control", "both"}, default "none"
        Discard units outside the other group's range of the propensity distance (status
        ``"common_support"``). With ``method="full"`` for the ATT, ``"control"`` keeps full
        matching from forcing every far-away control into a subclass (on LaLonde's CPS sample it
        takes max |SMD| from 0.106 to 0.099).
    cem_cutpoints : mapping, optional
        Per covariate: ``"sturges"`` (default), a number of bins, 0 (exact) or break points.

    Returns
    -------
    MatchResult

    Raises
    ------
    ConfigurationError
        An invalid option, naming the parameter, the value and what is valid.
    DataValidationError
        Missing values (naming the column and the count), a treatment that is not 0/1 with both
        groups present, or invalid scores.
    PropensityModelError
        Perfect separation in the propensity model.
    NotImplementedError
        ``method="optimal"``/``"full"`` while :mod:`wellness_research.matching.optimal` is absent.

    References
    ----------
    Ho, D., Imai, K., King, G. and Stuart, E. (2011). MatchIt: nonparametric preprocessing for
    parametric causal inference. Journal of Statistical Software 42(8).
    Austin, P. C. (2011). Optimal caliper widths for propensity-score matching. Pharmaceutical
    Statistics 10(2), 150–161 (0.2 SD of the logit of the propensity score).
    Abadie, A. and Imbens, G. W. (2006). Econometrica 74(1), 235–267 (ties, eq. 3).

    Examples
    --------
    >>> df = pd.DataFrame({"t": [1, 1, 0, 0, 0], "p": [0.8, 0.5, 0.75, 0.5, 0.1], "x": [1, 2, 3, 4, 5]})
    >>> m = match(df, treatment="t", covariates=["x"], distance="given", score="p", caliper=0.5)
    >>> m.pairs[["treated", "control"]].to_numpy().tolist()
    [[0, 2], [1, 3]]
    >>> m.status.tolist()
    ['matched', 'matched', 'matched', 'matched', 'unused']
    """
    check_option(method, Method, name="method")
    check_option(distance, Distance, name="distance")
    check_option(order, Order, name="order")
    check_option(discard, Discard, name="discard")
    check_option(estimand, Estimand, name="estimand")
    treated, covs, ex, mah = _validate(data, treatment, covariates, exact, mahalanobis)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, np.integer)) or ratio < 1:
        raise ConfigurationError(f"match: ratio={ratio!r} is not valid; expected an int >= 1.")
    ratio = int(ratio)
    if caliper is not None and (
        isinstance(caliper, bool) or not isinstance(caliper, (int, float)) or not caliper > 0
    ):
        raise ConfigurationError(f"match: caliper={caliper!r} is not valid; expected a float > 0 or None.")
    if not isinstance(replace, (bool, np.bool_)):
        raise ConfigurationError(f"match: replace={replace!r} is not valid; expected True or False.")
    if estimand == "ate" and method not in _ATE_METHODS and not (method == "nearest" and replace):
        raise ConfigurationError(
            f"match: estimand='ate' is not supported by method={method!r} without replacement; use "
            "method='full', 'exact' or 'cem', or method='nearest' with replace=True, for the ATE, or "
            "estimand='att'/'atc'."
        )
    if replace and method != "nearest":
        raise ConfigurationError(f"match: replace=True is only for method='nearest', got method={method!r}.")
    if distance == "given" and score is None:
        raise ConfigurationError("match: distance='given' needs score= (a column name or an array).")
    if score is not None and distance != "given":
        raise ConfigurationError(f"match: score= is only used with distance='given', got distance={distance!r}.")
    subclass_method = method in ("exact", "cem")
    if distance == "mahalanobis" and caliper is not None and not subclass_method:
        raise ConfigurationError(
            "match: caliper is in SDs of a scalar distance and distance='mahalanobis' has none; "
            "pass caliper=None, or distance='logit' with mahalanobis=[...] for Mahalanobis "
            "matching inside a propensity caliper."
        )
    if mah and distance == "mahalanobis":
        raise ConfigurationError("match: mahalanobis=[...] needs a propensity distance, not distance='mahalanobis'.")
    if cem_cutpoints is not None and method != "cem":
        raise ConfigurationError(f"match: cem_cutpoints is only for method='cem', got method={method!r}.")

    frame = data.copy()
    n = len(frame)
    notes: list[str] = []
    rng = np.random.default_rng(seed)
    seed_record = seed if isinstance(seed, (int, np.integer)) else None

    # ---- distance ---------------------------------------------------------------------------
    need_score = (not subclass_method) or discard != "none"
    propensity: np.ndarray | None = None
    dist: np.ndarray | None = None
    X, _names = design_columns(frame, covs)
    if need_score and distance in ("logit", "probability", "gbm"):
        prob, eta, fit_notes = fit_propensity(
            X, treated, model="gbm" if distance == "gbm" else "logit", seed=rng
        )
        notes.extend(fit_notes)
        propensity = prob
        dist = eta if distance == "logit" else prob
    elif distance == "given":
        s = frame[score].to_numpy(dtype=float) if isinstance(score, str) else np.asarray(score, dtype=float).reshape(-1)
        if s.shape != (n,):
            raise DataValidationError(f"match: score has {s.size} values for {n} rows.")
        bad = int((~np.isfinite(s) | (s < 0) | (s > 1)).sum())
        if bad:
            raise DataValidationError(f"match: score has {bad} values that are missing or outside [0, 1].")
        propensity = s.copy()
        dist = s.copy()
    if discard != "none" and dist is None:
        raise ConfigurationError(f"match: discard={discard!r} needs a propensity distance, not distance={distance!r}.")

    # Mahalanobis inputs (whitened, column by column for row-order independence)
    Z = None
    inv_cov = None
    mah_cols = mah if mah else (covs if distance == "mahalanobis" else [])
    if mah_cols and not subclass_method:
        Xm, _ = design_matrix(frame, mah_cols)
        inv_cov = pooled_within_inverse_cov(Xm, treated)
        eigval, eigvec = np.linalg.eigh(inv_cov)
        root = eigvec * np.sqrt(np.clip(eigval, 0, None))
        Z = np.column_stack([linear_combination(Xm, root[:, j]) for j in range(root.shape[1])])

    width = np.inf
    caliper_used = None if subclass_method else caliper
    if subclass_method and caliper is not None and caliper != 0.2:
        notes.append(f"caliper={caliper} is not used by method={method!r}")
    if caliper_used is not None and dist is not None:
        width = float(caliper_used) * float(np.std(dist, ddof=1))
    elif caliper_used is None and not subclass_method:
        msg = "match: no caliper; every treated unit is matched however far its nearest control is"
        warnings.warn(msg, NoCaliperWarning, stacklevel=2)
        notes.append(msg)

    # ---- roles, strata, discarding ------------------------------------------------------------
    focal = ~treated if estimand == "atc" else treated.copy()
    status = np.full(n, _S["unused"], dtype=np.int8)
    eligible = np.ones(n, dtype=bool)
    if discard != "none":
        dt_, dc_ = dist[treated], dist[~treated]
        out_t = (dist < dc_.min()) | (dist > dc_.max())
        out_c = (dist < dt_.min()) | (dist > dt_.max())
        drop = np.zeros(n, dtype=bool)
        if discard in ("treated", "both"):
            drop |= treated & out_t
        if discard in ("control", "both"):
            drop |= ~treated & out_c
        status[drop] = _S["common_support"]
        eligible &= ~drop
        if drop.any():
            notes.append(f"discard={discard!r}: {int(drop.sum())} units outside common support")

    strata_cols = list(ex)
    strata_frame = frame[strata_cols] if strata_cols else pd.DataFrame(index=frame.index)
    if method == "exact":
        strata_frame = frame[list(dict.fromkeys(covs + ex))]
    elif method == "cem":
        coarse = coarsen(frame, covs, cem_cutpoints)
        strata_frame = pd.concat([coarse, frame[ex]], axis=1) if ex else coarse
        strata_frame.columns = [f"c{i}" for i in range(strata_frame.shape[1])]
    strata = strata_codes(strata_frame, list(strata_frame.columns))
    k = int(strata.max()) + 1 if n else 0
    nt_s = np.bincount(strata[eligible & treated], minlength=k)
    nc_s = np.bincount(strata[eligible & ~treated], minlength=k)
    lonely = eligible & ((nt_s[strata] == 0) | (nc_s[strata] == 0))
    if not subclass_method:
        status[lonely] = _S["exact_stratum"]
        eligible &= ~lonely

    weights = np.zeros(n)
    subclass = np.full(n, -1, dtype=np.int64)
    # Canonical key of each row's full content: orders units with identical distances before the
    # optimal solvers see them, so that subclass membership (and hence cluster-robust SEs) does not
    # depend on row order. Rows with equal keys are identical in every column.
    row_key = (
        pd.util.hash_pandas_object(frame, index=False).to_numpy()
        if method in ("optimal", "full")
        else None
    )
    if method in ("optimal", "full") and mah and np.isfinite(width):
        notes.append(
            f"method={method!r} with mahalanobis=[...]: the propensity caliper is not applied "
            "(the solver takes one cost); use method='nearest' for Mahalanobis inside a caliper"
        )

    if subclass_method:
        sub = np.where(eligible, strata, -1)
        weights, matched = subclass_weights(treated, sub, estimand)
        subclass = np.where(matched, sub, -1)
        # renumber subclasses 0..S-1 in stratum order
        used_ids = np.unique(subclass[matched])
        remap = np.full(k, -1, dtype=np.int64)
        remap[used_ids] = np.arange(len(used_ids))
        subclass = np.where(matched, remap[np.maximum(subclass, 0)], -1)
        status[eligible & ~matched] = _S["exact_stratum"]
        status[matched] = _S["matched"]
        pairs = _subclass_pairs(treated, subclass, weights, estimand)
    elif method == "full":
        weights, subclass, status = _full(
            treated, focal, strata, eligible, status, dist, Z, inv_cov, width, estimand, k, row_key
        )
        pairs = _subclass_pairs(treated, subclass, weights, estimand)
    else:
        focal_rows_all: list[np.ndarray] = []
        sizes_all: list[np.ndarray] = []
        flat_all: list[np.ndarray] = []
        # process strata: sort eligible units by (stratum, distance)
        rows_e = np.flatnonzero(eligible)
        if k > 1:  # one stratum (no exact=): already in order
            rows_e = rows_e[np.argsort(strata[rows_e], kind="stable")]
            bounds = np.searchsorted(strata[rows_e], np.arange(k + 1))
        else:
            bounds = np.array([0, len(rows_e)] if k == 1 else [0])
        # ATE (nearest with replacement): every unit is matched to the other group — treated to
        # controls, then controls to treated (Abadie and Imbens 2006, Section 2).
        directions = (treated, ~treated) if estimand == "ate" else (focal,)
        for s_id in range(k):
            in_s = rows_e[bounds[s_id]:bounds[s_id + 1]]
            for fmask in directions:
                f_rows = in_s[fmask[in_s]]
                r_rows = in_s[~fmask[in_s]]
                if f_rows.size == 0 or r_rows.size == 0:
                    continue
                sizes_s, flat_s = _match_stratum(
                    f_rows, r_rows, method=method, dist=dist, Z=Z, X=X, inv_cov=inv_cov,
                    ratio=ratio, replace=bool(replace), width=width, order=order, rng=rng,
                    row_key=row_key,
                )
                focal_rows_all.append(f_rows)
                sizes_all.append(sizes_s)
                flat_all.append(flat_s)
        empty = np.empty(0, dtype=np.int64)
        f_all = np.concatenate(focal_rows_all) if focal_rows_all else empty
        sid, frow, rrow, w = _pair_result_arrays(
            n, f_all,
            np.concatenate(sizes_all) if sizes_all else empty,
            np.concatenate(flat_all) if flat_all else empty,
        )
        np.add.at(weights, rrow, w)
        if estimand == "ate":
            weights[np.unique(frow)] += 1.0  # itself once, plus its use as a match (1 + K_i/M)
        else:
            weights[frow] = 1.0
        subclass[frow] = sid
        counts = np.bincount(rrow, minlength=n)
        single = counts == 1
        sub_ref = np.full(n, -1, dtype=np.int64)
        sub_ref[rrow] = sid
        focal_n = np.ones(n, dtype=bool) if estimand == "ate" else focal
        subclass = np.where(single & ~focal_n, sub_ref, subclass)
        matched_focal = np.zeros(n, dtype=bool)
        matched_focal[frow] = True
        status[eligible & focal_n & ~matched_focal] = _S["caliper"]
        if method == "optimal":
            pool = (eligible & ~focal) | (weights > 0)
            weights = _share_weights_among_ties(weights, pool, treated, strata, dist if Z is None else Z)
        status[weights > 0] = _S["matched"]
        t_row = np.where(treated[frow], frow, rrow)
        c_row = np.where(treated[frow], rrow, frow)
        pairs = pd.DataFrame({"subclass": sid, "treated": t_row, "control": c_row, "weight": w})
        pairs = pairs.sort_values(["subclass", "control"], kind="stable").reset_index(drop=True)
        n_cal = int((status[focal_n] == _S["caliper"]).sum())
        if n_cal:
            who = {"att": "treated ", "atc": "control ", "ate": ""}[estimand]
            notes.append(f"{n_cal} {who}units have no match within the caliper (status 'caliper')")
    n_ex = int((status == _S["exact_stratum"]).sum())
    if n_ex:
        notes.append(f"{n_ex} units have no unit of the other group in their exact stratum")

    return MatchResult(
        data=frame,
        treatment=treatment,
        covariates=tuple(covs),
        estimand=estimand,
        method=method,
        distance=distance,
        caliper=caliper_used,
        ratio=ratio,
        replace=bool(replace),
        exact=tuple(ex),
        propensity=propensity,
        weights=weights,
        subclass=subclass,
        pairs=pairs,
        status=np.asarray(STATUSES)[status],
        seed=seed_record,
        notes=tuple(notes),
    )


def _subclass_pairs(
    treated: np.ndarray, subclass: np.ndarray, weights: np.ndarray, estimand: str
) -> pd.DataFrame:
    """Every (treated, control) link inside each subclass, weight = the control's share (1/n_c,s)."""
    rows = np.flatnonzero(subclass >= 0)
    if rows.size == 0:
        return pd.DataFrame({"subclass": [], "treated": [], "control": [], "weight": []}).astype(
            {"subclass": np.int64, "treated": np.int64, "control": np.int64, "weight": float}
        )
    df = pd.DataFrame({"row": rows, "subclass": subclass[rows], "t": treated[rows]})
    t = df[df["t"]][["subclass", "row"]].rename(columns={"row": "treated"})
    c = df[~df["t"]][["subclass", "row"]].rename(columns={"row": "control"})
    c = c.assign(weight=1.0 / c.groupby("subclass")["control"].transform("size"))
    out = t.merge(c, on="subclass", how="inner")
    return out.sort_values(["subclass", "treated", "control"], kind="stable").reset_index(drop=True)[
        ["subclass", "treated", "control", "weight"]
    ]


def _focal_order(
    f_rows: np.ndarray, d_f: np.ndarray | None, X: list[np.ndarray], order: str, rng: np.random.Generator,
    Z: np.ndarray | None, r_rows: np.ndarray,
) -> np.ndarray:
    """Positions (into f_rows) in greedy order; ties broken by covariate values, never by position."""
    if order == "data":
        return np.arange(len(f_rows))
    tie = linear_combination([c[f_rows] for c in X], np.sqrt(np.arange(2, len(X) + 2, dtype=float)))
    if d_f is None:  # pure Mahalanobis: distance of each focal unit to the reference mean
        centre = Z[r_rows].mean(axis=0)
        d_f = ((Z[f_rows] - centre) ** 2).sum(axis=1)
    base = np.lexsort((tie, d_f))  # ascending distance, then covariates
    if order == "smallest":
        return base
    if order == "largest":
        return np.lexsort((-tie, -d_f))
    return base[rng.permutation(len(base))]


def _match_stratum(
    f_rows: np.ndarray,
    r_rows: np.ndarray,
    *,
    method: str,
    dist: np.ndarray | None,
    Z: np.ndarray | None,
    X: list[np.ndarray],
    inv_cov: np.ndarray | None,
    ratio: int,
    replace: bool,
    width: float,
    order: str,
    rng: np.random.Generator,
    row_key: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Reference rows matched to each focal row of one stratum (same order as ``f_rows``): the
    number per focal row and the rows themselves, concatenated, each set sorted by row."""
    if method == "optimal":
        opt = _optimal_module("optimal")
        keys = {} if row_key is None else {
            "tie_key_treated": row_key[f_rows], "tie_key_control": row_key[r_rows]
        }
        if Z is not None:
            ti, ci = opt.optimal_pair(
                Z[f_rows], Z[r_rows], ratio=ratio, caliper_width=None, metric="mahalanobis",
                inverse_cov=np.eye(Z.shape[1]), **keys,
            )
        else:
            ti, ci = opt.optimal_pair(
                dist[f_rows], dist[r_rows], ratio=ratio,
                caliper_width=None if not np.isfinite(width) else width, metric="abs", **keys,
            )
        ti = np.asarray(ti, dtype=np.int64)
        ci = np.asarray(ci, dtype=np.int64)
        sets: list[np.ndarray] = [np.empty(0, dtype=np.int64) for _ in f_rows]
        o = np.argsort(ti, kind="stable")
        ti, ci = ti[o], ci[o]
        bounds = np.searchsorted(ti, np.arange(len(f_rows) + 1))
        for i in range(len(f_rows)):
            sets[i] = np.sort(r_rows[ci[bounds[i]:bounds[i + 1]]])
        return _flatten(sets)
    if Z is not None:
        ordr = _focal_order(f_rows, None if dist is None else dist[f_rows], X, order, rng, Z, r_rows)
        res = nn_mahalanobis(
            Z[f_rows[ordr]], Z[r_rows], ratio=ratio, replace=replace,
            ps_t=None if dist is None else dist[f_rows[ordr]],
            ps_c=None if dist is None else dist[r_rows], width=width,
        )
        sets = [np.empty(0, dtype=np.int64)] * len(f_rows)
        for pos, chosen in zip(ordr, res):
            sets[pos] = np.sort(r_rows[np.asarray(chosen, dtype=np.int64)])
        return _flatten(sets)
    d_r = dist[r_rows] + 0.0  # + 0.0: −0.0 becomes 0.0, so equal values hash equally below
    if replace:
        return _nn_replace_sets(d_r, r_rows, dist[f_rows], ratio=ratio, width=width)
    r_order = np.argsort(d_r)  # order among equal distances is irrelevant: ties are matched together
    r_sorted = r_rows[r_order]
    dc = d_r[r_order]
    ordr = _focal_order(f_rows, dist[f_rows], X, order, rng, None, r_rows)
    res = nn_without_replacement(dc, dist[f_rows[ordr]], ratio=ratio, width=width)
    sets = [np.empty(0, dtype=np.int64)] * len(f_rows)
    for pos, chosen in zip(ordr, res):
        sets[pos] = np.sort(r_sorted[np.asarray(chosen, dtype=np.int64)])
    return _flatten(sets)


def _nn_replace_sets(
    d_r: np.ndarray, r_rows: np.ndarray, d_f: np.ndarray, *, ratio: int, width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbours with replacement: (set size per focal unit, set rows concatenated).

    The control values are sorted (not arg-sorted: five times cheaper at 10⁶ values) and
    :func:`~.nearest.nn_with_replacement` gives each focal unit a range of them. Under the ties
    rule a range is a union of whole runs of equal values, so the rows behind the ranges are
    exactly the controls whose value is one of the matched values; they are found by a hash lookup
    and ordered by (value, row), which gives every set as one slice, its rows in increasing order.
    """
    dc = np.sort(d_r)
    lo, hi = nn_with_replacement(dc, d_f, ratio=ratio, width=width)
    got = hi > lo
    cover = np.zeros(len(dc) + 1, dtype=np.int64)
    np.add.at(cover, lo[got], 1)
    np.add.at(cover, hi[got], -1)
    values = dc[np.cumsum(cover[:-1]) > 0]
    if values.size:
        values = values[np.r_[True, values[1:] != values[:-1]]]  # sorted, so unique by diff
    code = pd.Index(values).get_indexer(d_r)
    hit = np.flatnonzero(code >= 0)
    order = np.lexsort((r_rows[hit], code[hit]))
    rv, rr = values[code[hit][order]], r_rows[hit][order].astype(np.int64)
    start = np.searchsorted(rv, dc[np.minimum(lo, len(dc) - 1)], side="left")
    stop = np.searchsorted(rv, dc[np.maximum(hi - 1, 0)], side="right")
    sizes = np.where(got, stop - start, 0).astype(np.int64)
    offsets = np.cumsum(sizes) - sizes
    flat = rr[np.repeat(start - offsets, sizes) + np.arange(int(sizes.sum()))]
    return sizes, flat


def _optimal_module(method: str) -> Any:
    try:
        from . import optimal
    except ImportError as exc:  # the solver lives in its own module (issue #3, helper M1b)
        raise NotImplementedError(
            f"match: method={method!r} needs wellness_research.matching.optimal, which is not "
            "available in this build."
        ) from exc
    return optimal


def _share_weights_among_ties(
    weights: np.ndarray,
    pool: np.ndarray,
    treated: np.ndarray,
    strata: np.ndarray,
    distance: np.ndarray,
) -> np.ndarray:
    """Average the weights of matched units that the design cannot tell apart.

    Units of the same group and exact stratum with identical distance values (the score, or every
    Mahalanobis coordinate) are interchangeable for the optimiser, so which of them lands in which
    subclass depends only on their order. Giving each the mean weight of its tie group — the
    analogue of ``ties=TRUE`` for nearest-neighbour matching — makes the weighted estimate
    independent of row order; each group's total weight, and hence every subclass total, is kept.
    ``pool`` marks the rows that may share (for optimal pair matching, every eligible control: a
    tied control left unused only because another identical one was taken shares the weight).
    """
    rows = np.flatnonzero(pool)
    if rows.size == 0:
        return weights
    d = np.asarray(distance, dtype=float)
    d = d.reshape(len(d), -1)[rows]
    keys = np.column_stack([treated[rows].astype(float), strata[rows].astype(float), d])
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.ravel()
    totals = np.bincount(group, weights=weights[rows])
    sizes = np.bincount(group)
    out = weights.copy()
    out[rows] = (totals / sizes)[group]
    return out


def _full(
    treated: np.ndarray,
    focal: np.ndarray,
    strata: np.ndarray,
    eligible: np.ndarray,
    status: np.ndarray,
    dist: np.ndarray | None,
    Z: np.ndarray | None,
    inv_cov: np.ndarray | None,
    width: float,
    estimand: str,
    k: int,
    row_key: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal full matching per stratum; weights from the subclasses (MatchIt)."""
    opt = _optimal_module("full")
    n = len(treated)
    sub = np.full(n, -1, dtype=np.int64)
    next_id = 0
    for s_id in range(k):
        in_s = eligible & (strata == s_id)
        t_rows = np.flatnonzero(in_s & treated)
        c_rows = np.flatnonzero(in_s & ~treated)
        if t_rows.size == 0 or c_rows.size == 0:
            continue
        keys = {} if row_key is None else {
            "tie_key_treated": row_key[t_rows], "tie_key_control": row_key[c_rows]
        }
        if Z is not None:
            st, sc = opt.full_match(Z[t_rows], Z[c_rows], caliper_width=None, metric="mahalanobis",
                                    inverse_cov=np.eye(Z.shape[1]), **keys)
        else:
            st, sc = opt.full_match(dist[t_rows], dist[c_rows],
                                    caliper_width=None if not np.isfinite(width) else width, metric="abs",
                                    **keys)
        st = np.asarray(st, dtype=np.int64)
        sc = np.asarray(sc, dtype=np.int64)
        ids = np.unique(np.concatenate([st[st >= 0], sc[sc >= 0]]))
        remap = {int(v): next_id + i for i, v in enumerate(ids)}
        next_id += len(ids)
        sub[t_rows] = [remap.get(int(v), -1) for v in st]
        sub[c_rows] = [remap.get(int(v), -1) for v in sc]
    weights, matched = subclass_weights(treated, sub, estimand)
    weights = _share_weights_among_ties(weights, matched, treated, strata, dist if Z is None else Z)
    sub = np.where(matched, sub, -1)
    status = status.copy()
    status[eligible & ~matched & focal] = _S["caliper"]
    if estimand == "ate":
        status[eligible & ~matched] = _S["caliper"]
    status[matched] = _S["matched"]
    return weights, sub, status
