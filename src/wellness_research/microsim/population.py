"""Build the projection's starting population from the municipality tables at a date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import ConfigurationError, DataValidationError
from .parameters import LEVELS

__all__ = ["population_at"]


def population_at(tables: Mapping[str, pd.DataFrame], date: str | pd.Timestamp, *, min_age: int = 65,
                  state_basis: Literal["decision", "validity"] = "decision", frailty: bool = False,
                  kcl_cutoffs: tuple[int, int] = (4, 8)) -> pd.DataFrame:
    """Residents alive and registered on ``date`` with their age, sex and care state.

    A resident is included when ``move_in_date`` is missing or on/before ``date``, and ``move_out_date``
    and ``death_date`` are missing or after it. Age is whole years from ``birth_month`` (the first of the
    birth month). The state is the level of the certification decided on or before ``date`` whose
    validity covers it (the latest ``valid_from`` if several); ``非該当`` or none gives ``"independent"``.

    Parameters
    ----------
    tables : Mapping[str, pandas.DataFrame]
        Needs ``residents`` (person_id, birth_month, sex, move_in_date, move_out_date, death_date) and
        ``ltc_certifications`` (person_id, decision_date, level, valid_from, valid_to), as in the data
        contract (e.g. ``make_municipality(...).tables``). Not modified.
    date : str or Timestamp
    min_age : int, default 65
        Younger residents are left out; their number is in ``result.attrs["excluded_younger"]``.
    state_basis : {"decision", "validity"}, default "decision"
        ``"decision"``: the state as known on ``date`` (the decision must be dated on or before it).
        ``"validity"``: the state in hindsight, from the validity period alone (a decision made after
        ``date`` with a retroactive ``valid_from`` counts), as the certification histories of
        :func:`~wellness_research.microsim.estimate.estimate_parameters` are read.
    frailty : bool, default False
        Add the column ``frailty`` (``"robust"``, ``"pre-frail"``, ``"frail"`` or ``"unknown"``) from
        the person's latest Kihon Checklist surveyed on or before ``date`` (table ``kihon_checklist``:
        person_id, survey_date, q01..q25 with 1 for the answer that counts toward frailty). The total
        counts the answered items; a checklist with unanswered items is classified only when no
        completion of them could change the group (else ``"unknown"``). Persons without a checklist
        are ``"unknown"`` (:func:`project` draws their group from the reference mix). The counts are in
        ``attrs["frailty_counts"]``.
    kcl_cutoffs : (int, int), default (4, 8)
        KCL totals from which a person is pre-frail and frail (Satake et al. 2016; the parameters'
        ``frailty.kcl_cutoffs``).

    Returns
    -------
    pandas.DataFrame
        Columns person_id, age, sex, state, district (if present), frailty (if asked); ``attrs`` holds
        the date and counts.

    Examples
    --------
    >>> from wellness_research.synthetic import make_municipality
    >>> pop = population_at(make_municipality("tiny", seed=0).tables, "2022-04-01")
    >>> sorted(pop.columns)
    ['age', 'district', 'person_id', 'sex', 'state']
    """
    for name, cols in (("residents", ("person_id", "birth_month", "sex", "move_in_date", "move_out_date", "death_date")),
                       ("ltc_certifications", ("person_id", "decision_date", "level", "valid_from", "valid_to"))):
        if name not in tables:
            raise DataValidationError(f"tables lacks the {name!r} table.")
        missing = [c for c in cols if c not in tables[name].columns]
        if missing:
            raise DataValidationError(f"table {name!r} lacks column(s) {missing}.")
    if state_basis not in ("decision", "validity"):
        raise ConfigurationError(f"state_basis must be 'decision' or 'validity'; got {state_basis!r}.")
    try:
        day = pd.Timestamp(date)
    except (ValueError, TypeError):
        raise DataValidationError(f"date must be a date; got {date!r}.") from None
    res = tables["residents"]
    pid = res["person_id"].astype(str).to_numpy()
    if pd.Index(pid).has_duplicates:
        dup = pd.Index(pid)[pd.Index(pid).duplicated()][0]
        raise DataValidationError(f"table 'residents': person_id must be unique; e.g. {dup!r} repeats.")
    mi, mo, dd = (pd.to_datetime(res[c]) for c in ("move_in_date", "move_out_date", "death_date"))
    present = ((mi.isna() | (mi <= day)) & (mo.isna() | (mo > day)) & (dd.isna() | (dd > day))).to_numpy()
    birth = pd.to_datetime(res["birth_month"])
    age = (day.year - birth.dt.year - ((day.month < birth.dt.month) | ((day.month == birth.dt.month) & (day.day < birth.dt.day)))).to_numpy()
    keep = present & (age >= min_age)
    cert = tables["ltc_certifications"]
    vf, vt, dec = (pd.to_datetime(cert[c]) for c in ("valid_from", "valid_to", "decision_date"))
    covers = (vf <= day) & (vt >= day)
    if state_basis == "decision":
        covers &= dec <= day
    cur = cert.loc[covers.to_numpy(), ["person_id", "level"]].assign(_vf=vf)
    cur = cur.sort_values("_vf", kind="stable").drop_duplicates("person_id", keep="last")
    level = pd.Series(cur["level"].astype(str).to_numpy(), index=cur["person_id"].astype(str).to_numpy())
    state = level.reindex(pid[keep]).to_numpy(dtype=object)
    state = np.where(pd.isna(state) | ~pd.Series(state).isin(LEVELS).to_numpy(), "independent", state)
    out = pd.DataFrame({
        "person_id": pid[keep],
        "age": age[keep].astype(np.int64),
        "sex": res["sex"].astype(str).to_numpy()[keep],
        "state": state,
    })
    if "district" in res.columns:
        out["district"] = res["district"].astype(str).to_numpy()[keep]
    out.attrs.update({"date": str(day.date()), "excluded_younger": int((present & (age < min_age)).sum()),
                      "not_present": int((~present).sum())})
    if frailty:
        out["frailty"], counts = _frailty_at(tables, day, out["person_id"].to_numpy(), kcl_cutoffs)
        out.attrs["frailty_counts"] = counts
    return out


def _frailty_at(tables: Mapping[str, pd.DataFrame], day: pd.Timestamp, pid: np.ndarray,
                cutoffs: tuple[int, int]) -> tuple[np.ndarray, dict[str, int]]:
    """Frailty group of every person from the latest checklist on or before ``day`` (see population_at)."""
    if (not isinstance(cutoffs, (tuple, list)) or len(cutoffs) != 2
            or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in cutoffs)
            or not 0 < cutoffs[0] < cutoffs[1] <= 25):
        raise ConfigurationError(f"kcl_cutoffs must be two increasing whole totals in 1..25; got {cutoffs!r}.")
    items = [f"q{j:02d}" for j in range(1, 26)]
    if "kihon_checklist" not in tables:
        raise DataValidationError("frailty=True needs the 'kihon_checklist' table.")
    k = tables["kihon_checklist"]
    missing = [c for c in ("person_id", "survey_date", *items) if c not in k.columns]
    if missing:
        raise DataValidationError(f"table 'kihon_checklist' lacks column(s) {missing}.")
    sd = pd.to_datetime(k["survey_date"]).to_numpy()
    use = sd <= np.datetime64(day)
    vals = k[items].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)[use]
    bad = np.isfinite(vals) & (vals != 0) & (vals != 1)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataValidationError(
            f"table 'kihon_checklist': {int(bad.any(axis=1).sum()):,} rows have item values other than 0, 1 or "
            f"missing; e.g. {items[c]} = {vals[r, c]!r}.")
    answered = np.nansum(vals, axis=1)
    n_miss = np.isnan(vals).sum(axis=1)
    lo_g = np.searchsorted(np.asarray(cutoffs), answered, side="right")  # group if every missing item were 0
    hi_g = np.searchsorted(np.asarray(cutoffs), answered + n_miss, side="right")  # ... were 1
    grp = np.where(lo_g == hi_g, lo_g, -1)
    kk = pd.DataFrame({"person_id": k["person_id"].astype(str).to_numpy()[use], "d": sd[use], "g": grp})
    kk = kk.sort_values("d", kind="stable").drop_duplicates("person_id", keep="last")
    g = pd.Series(kk["g"].to_numpy(), index=kk["person_id"].to_numpy()).reindex(pid)
    labels = np.array(["robust", "pre-frail", "frail", "unknown"], dtype=object)
    code = np.where(g.isna().to_numpy(), 3, g.fillna(3).to_numpy().astype(np.int64))
    code = np.where(code < 0, 3, code)
    counts = {lab: int((code == i).sum()) for i, lab in enumerate(labels[:3])}
    counts["unknown: no checklist"] = int(g.isna().sum())
    counts["unknown: unanswered items decide the group"] = int((g.to_numpy() == -1).sum())
    return labels[code], counts
