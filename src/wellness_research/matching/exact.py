"""Exact and coarsened exact matching: strata, Sturges coarsening and subclass weights.

References
----------
Iacus, S. M., King, G. and Porro, G. (2012). Causal inference without balance checking: coarsened
exact matching. Political Analysis 20(1), 1–24 (CEM; weights eq. in Section 3.3).
Ho, D., Imai, K., King, G. and Stuart, E. (2011). MatchIt. Journal of Statistical Software 42(8);
MatchIt 4.x ``method_cem`` (Sturges bins of equal width over the range, outer edges open) and
``get_weights_from_subclass`` (ATT: treated 1, control n_t,s / n_c,s; ATE: n_s / n_g,s).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigurationError

__all__ = ["coarsen", "strata_codes", "subclass_weights"]


def strata_codes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Stratum id per row (0, 1, …, in sorted order of the values; independent of row order).

    Examples
    --------
    >>> strata_codes(pd.DataFrame({"s": ["f", "m", "f"], "a": [1, 1, 2]}), ["s", "a"]).tolist()
    [0, 2, 1]
    """
    if not columns:
        return np.zeros(len(frame), dtype=np.int64)
    codes = np.zeros(len(frame), dtype=np.int64)
    keys = []
    for c in columns:
        values = frame[c]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            values = values.astype(str)
        uniq, inv = np.unique(values.to_numpy(), return_inverse=True)
        keys.append(inv.reshape(-1))
    # combine the per-column ranks lexicographically, then rank the combinations
    stacked = np.column_stack(keys)
    _, codes = np.unique(stacked, axis=0, return_inverse=True)
    return np.asarray(codes).reshape(-1).astype(np.int64)


def _sturges(n: int) -> int:
    return int(np.ceil(np.log2(n) + 1))


def coarsen(
    data: pd.DataFrame,
    columns: Sequence[str],
    cutpoints: Mapping[str, int | str | Sequence[float]] | None = None,
) -> pd.DataFrame:
    """Coarsen numeric ``columns`` into bins (CEM); non-numeric columns are kept as they are.

    ``cutpoints[col]`` is ``"sturges"`` (default: ``ceil(log2 n + 1)`` equal-width bins over the
    range, outer edges open, as MatchIt's ``method_cem``), an int number of equal-width bins,
    ``0`` (no coarsening), or a sequence of interior break points (bins closed on the right).

    Examples
    --------
    >>> coarsen(pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]}), ["x"], {"x": [1.5]})["x"].tolist()
    [0, 0, 1, 1]
    """
    cutpoints = dict(cutpoints or {})
    unknown = sorted(set(cutpoints) - set(columns))
    if unknown:
        raise ConfigurationError(
            f"match: cem_cutpoints names columns that are not covariates: {unknown}."
        )
    out = {}
    for c in columns:
        s = data[c]
        spec = cutpoints.get(c, "sturges")
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or spec == 0:
            out[c] = s.to_numpy()
            continue
        x = s.to_numpy(dtype=float)
        if isinstance(spec, str):
            if spec != "sturges":
                raise ConfigurationError(
                    f"match: cem_cutpoints[{c!r}]={spec!r} is not valid; expected 'sturges', "
                    "an int number of bins, 0, or a sequence of break points."
                )
            spec = _sturges(len(x))
        if isinstance(spec, (int, np.integer)):
            if spec < 1:
                raise ConfigurationError(f"match: cem_cutpoints[{c!r}]={spec!r} must be >= 0.")
            lo, hi = float(np.min(x)), float(np.max(x))
            breaks = np.linspace(lo, hi, int(spec) + 1)[1:-1]
        else:
            breaks = np.sort(np.asarray(spec, dtype=float))
        out[c] = np.searchsorted(breaks, x, side="left")
    return pd.DataFrame(out, index=data.index)


def subclass_weights(
    treated: np.ndarray, subclass: np.ndarray, estimand: str
) -> tuple[np.ndarray, np.ndarray]:
    """Weights from subclasses (``subclass == -1``: unmatched) and a per-row matched flag.

    ATT: treated 1, control ``n_t,s / n_c,s`` (control weights then sum to the matched treated);
    ATC: the mirror image; ATE: ``n_s / n_t,s`` and ``n_s / n_c,s``.
    Subclasses lacking either group are unmatched.

    Examples
    --------
    >>> w, m = subclass_weights(np.array([1, 0, 0, 1, 0]), np.array([0, 0, 0, 1, -1]), "att")
    >>> w.tolist()
    [1.0, 0.5, 0.5, 0.0, 0.0]
    """
    treated = np.asarray(treated).astype(bool)
    sub = np.asarray(subclass)
    n = len(sub)
    w = np.zeros(n)
    ok = sub >= 0
    if not ok.any():
        return w, ok
    k = int(sub[ok].max()) + 1
    nt = np.bincount(sub[ok & treated], minlength=k).astype(float)
    nc = np.bincount(sub[ok & ~treated], minlength=k).astype(float)
    good = (nt > 0) & (nc > 0)
    matched = ok.copy()
    matched[ok] = good[sub[ok]]
    s = sub[matched]
    tm = treated[matched]
    with np.errstate(divide="ignore", invalid="ignore"):
        if estimand == "att":
            wm = np.where(tm, 1.0, nt[s] / nc[s])
        elif estimand == "atc":
            wm = np.where(tm, nc[s] / nt[s], 1.0)
        else:
            wm = np.where(tm, (nt[s] + nc[s]) / nt[s], (nt[s] + nc[s]) / nc[s])
    w[matched] = wm
    return w, matched
