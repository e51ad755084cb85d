"""What the two-way fixed-effects coefficient averages under staggered timing.

For a binary absorbing treatment ``D_it = 1{t >= g_i}`` the static TWFE regression
``y_it = α_i + λ_t + β D_it + ε_it`` gives ``β̂ = Σ D̃_it y_it / Σ D̃_it²`` with ``D̃`` the
two-way-demeaned treatment (Frisch–Waugh–Lovell). Two equivalent readings of that average:

Goodman-Bacon (2021), Theorem 1 (balanced panel)
    ``β̂`` is a weighted average of all 2×2 DiDs between timing groups: each treated cohort against
    the never-treated ("treated vs never"), earlier against later-treated cohorts before the later
    ones start ("earlier vs later"), later against *already-treated* earlier cohorts ("later vs
    earlier": the forbidden comparison that biases TWFE when effects change over time), and, if some
    units are treated from the first period on, cohorts against them ("treated vs always"). With
    ``n_k`` the share of units in group ``k``, ``D̄_k`` its share of treated periods, ``k`` earlier than
    ``l`` (``D̄_k > D̄_l``), ``n_kl = n_k / (n_k + n_l)`` and ``V̂_D = mean(D̃²)``, the weights are
    (eqs. 10a–10c)::

        s_kl^k = ((n_k + n_l)(1 − D̄_l))² · n_kl(1 − n_kl) · (D̄_k − D̄_l)/(1 − D̄_l) · (1 − D̄_k)/(1 − D̄_l) / V̂_D
        s_kl^l = ((n_k + n_l) D̄_k)²       · n_kl(1 − n_kl) · (D̄_l / D̄_k) · (D̄_k − D̄_l)/D̄_k         / V̂_D

    (never-treated: ``D̄ = 0``; always-treated: ``D̄ = 1``), they sum to one and
    ``Σ s · β̂^{2×2} = β̂`` exactly.

de Chaisemartin & D'Haultfœuille (2020), Theorem 1 (any panel)
    ``β̂ = Σ_{D_it = 1} w_it Δ_it`` with ``w_it = D̃_it / Σ_{D=1} D̃``; weights of treated cells can be
    negative (typically early cohorts in late periods). Reported per (cohort, period) cell, with the
    share of treated rows carrying negative weight.

Unweighted; ``time`` must be ordered periods (integers on the cohort scale).

References
----------
Goodman-Bacon, A. (2021). Difference-in-differences with variation in treatment timing. *Journal of
Econometrics* 225(2), 254–277 (Theorem 1, eqs. 10a–10c).
de Chaisemartin, C., D'Haultfœuille, X. (2020). Two-way fixed effects estimators with heterogeneous
treatment effects. *American Economic Review* 110(9), 2964–2996 (Theorem 1).

Examples
--------
>>> import numpy as np, pandas as pd
>>> df = pd.DataFrame([(u, t) for u in range(30) for t in range(8)], columns=["id", "t"])
>>> df["g"] = np.select([df["id"] < 10, df["id"] < 20], [3, 6], 0)
>>> treated = (df["g"] > 0) & (df["t"] >= df["g"])
>>> df["y"] = 0.1 * df["id"] + 0.3 * df["t"] + np.where(treated, 1.0 + (df["t"] - df["g"]), 0.0)
>>> res = bacon_decomposition(df, outcome="y", unit="id", time="t", cohort="g")
>>> res.by_type()["type"].tolist()
['treated vs never', 'earlier vs later', 'later vs earlier']
>>> c = res.components
>>> bool(abs((c["weight"] * c["estimate"]).sum() - res.twfe_estimate) < 1e-10)
True
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ConfigurationError, DataValidationError, UnbalancedPanelError
from ._results import BaconResult
from .wild import demean

__all__ = ["bacon_decomposition"]


def _cell_weights(dtil: np.ndarray, d: np.ndarray, c: np.ndarray, t: np.ndarray) -> tuple[pd.DataFrame, float, float]:
    on = d == 1
    w = dtil[on] / dtil[on].sum()
    cells = (
        pd.DataFrame({"cohort": c[on], "time": t[on], "w": w})
        .groupby(["cohort", "time"])
        .agg(n=("w", "size"), weight=("w", "sum"))
        .reset_index()
    )
    return cells, float(np.mean(w < 0)), float(w[w < 0].sum())


def _decompose(
    y: np.ndarray, ucode: np.ndarray, t: np.ndarray, c: np.ndarray, never: np.ndarray, *, where: str,
    require_balanced: bool = False,
) -> BaconResult:
    """Decompose the static TWFE coefficient (arrays already validated)."""
    n = len(y)
    n_units = int(ucode.max()) + 1
    periods, tcode = np.unique(t, return_inverse=True)
    n_t = len(periods)
    d = np.where(never, 0.0, (t >= np.where(never, np.inf, c)).astype(float))
    counts = np.bincount(ucode * n_t + tcode, minlength=n_units * n_t)
    if np.any(counts > 1):
        k = int(np.flatnonzero(counts > 1)[0])
        raise DataValidationError(
            f"{where}: the panel has {int((counts > 1).sum())} duplicated (unit, period) pair(s), e.g. unit code "
            f"{k // n_t}, period {periods[k % n_t]!r}; one row per unit and period is needed."
        )
    per_unit = np.bincount(ucode, minlength=n_units)
    incomplete = int(np.sum(per_unit < n_t))
    balanced = incomplete == 0
    if not balanced and require_balanced:
        raise UnbalancedPanelError(
            f"{where}: the Goodman-Bacon decomposition needs a balanced panel; {incomplete} of {n_units} units "
            f"are not observed in all {n_t} periods. event_study(...).diagnostic still reports the de "
            "Chaisemartin–D'Haultfœuille weights, and att_gt handles unbalanced panels."
        )
    notes: list[str] = []
    if balanced:
        dm = d.reshape(-1)  # closed form of the two-way within transformation in a balanced panel
        d_unit = np.bincount(ucode, weights=dm, minlength=n_units) / n_t
        d_time = np.bincount(tcode, weights=dm, minlength=n_t) / n_units
        dtil = dm - d_unit[ucode] - d_time[tcode] + dm.mean()
    else:
        dtil = demean(d, [ucode, tcode], np.ones(n))[:, 0]
        notes.append(f"unbalanced panel ({incomplete} incomplete units): Goodman-Bacon components not computed; "
                     "dCDH weights only.")
    vd = float(np.sum(dtil**2))
    if not vd > 1e-12 * n:
        raise DataValidationError(f"{where}: the treatment has no variation left after unit and time fixed effects.")
    beta = float(np.sum(dtil * y) / vd)
    cells, neg_share, neg_sum = _cell_weights(dtil, d, np.where(never, np.nan, c), t)
    components = _components(y, ucode, tcode, d, c, never, periods, vd / n, notes) if balanced else None
    return BaconResult(
        twfe_estimate=beta,
        components=components,
        cell_weights=cells,
        negative_weight_share=neg_share,
        negative_weight_sum=neg_sum,
        n_obs=n,
        n_units=n_units,
        notes=tuple(notes),
    )


def _components(y, ucode, tcode, d, c, never, periods, vd, notes) -> pd.DataFrame:
    n_units = int(ucode.max()) + 1
    n_t = len(periods)
    first = ucode  # unit-level attributes from any row
    unit_c = np.full(n_units, np.nan)
    unit_c[first] = np.where(never, np.nan, c)
    unit_dbar = np.bincount(ucode, weights=d, minlength=n_units) / n_t
    # group label: timing cohort, "never" (incl. cohorts after the last period), "always"
    label = np.where(unit_dbar == 0, "never", np.where(unit_dbar == 1, "always", ""))
    late = (~np.isnan(unit_c)) & (unit_dbar == 0)
    if late.any():
        notes.append(f"{int(late.sum())} unit(s) first treated after the last period are counted as never treated.")
    names = np.array([f"{v:g}" if lab == "" else lab for v, lab in zip(unit_c, label)], dtype=object)
    groups: dict[str, dict] = {}
    for key in pd.unique(names):
        members = names == key
        groups[key] = {"units": members, "n": members.mean(), "dbar": float(unit_dbar[members][0])}
    ybar = np.zeros((n_units, n_t))
    ybar[ucode, tcode] = y
    for g in groups.values():
        g["path"] = ybar[g["units"]].mean(axis=0)
        g["start"] = n_t - int(round(g["dbar"] * n_t))  # first treated period index (n_t: never)

    def dd(treat: dict, ctrl: dict, lo: int, hi: int) -> float:
        pre, post = slice(lo, treat["start"]), slice(treat["start"], hi)
        return float((treat["path"][post].mean() - treat["path"][pre].mean())
                     - (ctrl["path"][post].mean() - ctrl["path"][pre].mean()))

    rows = []
    keys = sorted(groups, key=lambda k: -groups[k]["dbar"])
    for a, ka in enumerate(keys):
        for kb in keys[a + 1:]:
            k, l = groups[ka], groups[kb]
            dk, dl = k["dbar"], l["dbar"]
            if dk == dl:
                continue
            nkl = k["n"] / (k["n"] + l["n"])
            share = nkl * (1 - nkl)
            if 0 < dk < 1:  # k (earlier) treated, l control, periods before l starts
                s = ((k["n"] + l["n"]) * (1 - dl)) ** 2 * share * (dk - dl) / (1 - dl) * (1 - dk) / (1 - dl) / vd
                kind = "treated vs never" if dl == 0 else "earlier vs later"
                rows.append([kind, ka, kb, dd(k, l, 0, l["start"]), s, int(k["units"].sum() + l["units"].sum())])
            if 0 < dl < 1:  # l (later) treated, k control, periods from k's start on
                s = ((k["n"] + l["n"]) * dk) ** 2 * share * (dl / dk) * (dk - dl) / dk / vd
                kind = "treated vs always" if dk == 1 else "later vs earlier"
                rows.append([kind, kb, ka, dd(l, k, k["start"], n_t), s, int(k["units"].sum() + l["units"].sum())])
    out = pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight", "n"])
    order = {"treated vs never": 0, "treated vs always": 1, "earlier vs later": 2, "later vs earlier": 3}
    out = out.sort_values("type", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    total = float(out["weight"].sum())
    if not math.isclose(total, 1.0, rel_tol=1e-9):  # Theorem 1: the weights sum to one
        notes.append(f"Goodman-Bacon weights sum to {total:.12f}, not 1 (numerical problem).")
    return out


def bacon_decomposition(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    never_treated: float | None = 0,
) -> BaconResult:
    """Goodman-Bacon decomposition and dCDH weights of the static TWFE coefficient.

    Parameters
    ----------
    data : pandas.DataFrame
        **Balanced** panel, one row per unit and period. Not modified.
    outcome : str
        Numeric outcome (missing values raise).
    unit, time : str
        Identifiers; ``time`` integer periods on the ``cohort`` scale.
    cohort : str
        First treated period (constant within unit), ``never_treated`` for never-treated units.
    never_treated : float or None, default 0
        Code of never-treated units (``None``/NaN: missing cohort).

    Returns
    -------
    BaconResult
        ``components`` (the 2×2s with weights and estimates, summing to ``twfe_estimate``),
        ``cell_weights`` and the negative-weight share.

    Raises
    ------
    UnbalancedPanelError
        Some units are not observed in every period (the message says how many).
    DataValidationError, ConfigurationError
        Missing values, duplicated (unit, period) rows, cohort varying within unit, unknown columns.

    References
    ----------
    Goodman-Bacon (2021), Theorem 1; de Chaisemartin & D'Haultfœuille (2020), Theorem 1.

    Examples
    --------
    See the module docstring.
    """
    from .twfe import _constant_within, _frame, _integer_valued, _is_never, _no_missing, _numeric

    where = "bacon_decomposition"
    frame = _frame(data, {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort}, where)
    never_is_nan = never_treated is None or (isinstance(never_treated, float) and math.isnan(never_treated))
    _no_missing(frame, list(frame.columns), where, allow=cohort if never_is_nan else None)
    y = _numeric(frame, outcome, "outcome", where)
    t = _numeric(frame, time, "time", where)
    c = _numeric(frame, cohort, "cohort", where)
    _integer_valued(t, "time", time, where)
    ucode = pd.factorize(frame[unit], use_na_sentinel=False)[0]
    _constant_within(np.nan_to_num(c, nan=-np.inf), ucode, "cohort", cohort, "unit", where, frame[unit])
    never = _is_never(c, never_treated)
    if never.all():
        raise ConfigurationError(f"{where}: no treated unit (every cohort equals never_treated={never_treated!r}).")
    return _decompose(y, ucode, t, c, never, where=where, require_balanced=True)
