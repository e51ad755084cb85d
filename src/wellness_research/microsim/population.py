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
                  state_basis: Literal["decision", "validity"] = "decision") -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        Columns person_id, age, sex, state, district (if present); ``attrs`` holds the date and counts.

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
    return out
