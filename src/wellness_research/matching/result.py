"""The matched design: :class:`MatchResult`, the value object every matcher returns.

Conventions (MatchIt's, so that reviewers can compare):

* Rows are addressed by **position** in the data given to :func:`~wellness_research.matching.match`
  (0 … n−1), never by the DataFrame index, so duplicate or unsorted index values are safe.
* ``weights`` are matching weights per row. For the ATT every matched treated unit has weight 1 and
  the controls share the weight of the treated units they are matched to, scaled so that the control
  weights sum to the number of matched treated units. Unmatched and discarded rows have weight 0.
* ``pairs`` lists every (treated, control) link with its ``weight`` inside the matched set: 1/k for
  k:1 matching, and 1/(number tied) split further when several controls are tied at the nearest
  distance (all tied controls share the match weight, as R ``Matching``'s ``ties=TRUE``).
  With replacement a control appears in several sets; ``subclass`` then identifies the set
  (one per treated unit for the ATT).
* ``status`` says, per row, what happened to it: ``"matched"``, ``"caliper"`` (treated with no
  control inside the caliper), ``"common_support"`` (discarded outside the overlap region),
  ``"exact_stratum"`` (no unit of the other group in its exact stratum), ``"unused"`` (a control
  never matched).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["Estimand", "MatchResult", "STATUSES"]

Estimand = Literal["att", "atc", "ate"]
STATUSES = ("matched", "caliper", "common_support", "exact_stratum", "unused")


@dataclass(frozen=True, eq=False)
class MatchResult:
    """A matched design. Built by the matchers; read-only for everyone else.

    Attributes
    ----------
    data : pandas.DataFrame
        A copy of the caller's rows (the caller's frame is never modified), in the caller's order.
    treatment : str
        Name of the 0/1 treatment column.
    covariates : tuple of str
        Covariates of the propensity model and of the balance table.
    estimand : {"att", "atc", "ate"}
    method : str
        ``"nearest"``, ``"optimal"``, ``"full"``, ``"exact"``, ``"cem"``.
    distance : str
        ``"logit"``, ``"probability"``, ``"gbm"``, ``"mahalanobis"``, ``"given"``.
    caliper : float or None
        Caliper in standard deviations of the distance (None: no caliper).
    ratio : int
    replace : bool
    exact : tuple of str
        Variables matched exactly.
    propensity : numpy.ndarray or None
        Propensity score per row (probability scale), when one was estimated or given.
    weights : numpy.ndarray
        Matching weight per row (float, ≥ 0).
    subclass : numpy.ndarray
        Matched-set id per row (int), −1 when the row is in no set or (with replacement) in several.
    pairs : pandas.DataFrame
        Columns ``subclass``, ``treated``, ``control`` (row positions) and ``weight``.
    status : numpy.ndarray
        One of :data:`STATUSES` per row.
    seed : int or None
        Seed used for random matching order, if any.
    notes : tuple of str
        Warnings raised while matching (poor overlap, units discarded, ties), kept with the result.
    """

    data: pd.DataFrame = field(repr=False)
    treatment: str
    covariates: tuple[str, ...]
    estimand: Estimand
    method: str
    distance: str
    caliper: float | None
    ratio: int
    replace: bool
    exact: tuple[str, ...]
    propensity: np.ndarray | None = field(repr=False)
    weights: np.ndarray = field(repr=False)
    subclass: np.ndarray = field(repr=False)
    pairs: pd.DataFrame = field(repr=False)
    status: np.ndarray = field(repr=False)
    seed: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def treated(self) -> np.ndarray:
        """Boolean treatment indicator per row."""
        return self.data[self.treatment].to_numpy().astype(bool)

    @property
    def n_matched(self) -> dict[str, int]:
        """Matched treated and matched (distinct) control units."""
        matched = self.weights > 0
        return {
            "treated": int((matched & self.treated).sum()),
            "control": int((matched & ~self.treated).sum()),
        }

    def unmatched_counts(self) -> pd.DataFrame:
        """Counts of rows by group and status: every excluded or unmatched unit is accounted for."""
        group = np.where(self.treated, "treated", "control")
        table = pd.crosstab(pd.Series(self.status, name="status"), pd.Series(group, name="group"))
        return table.reindex(index=list(STATUSES), columns=["treated", "control"], fill_value=0)

    def matched_data(self) -> pd.DataFrame:
        """The matched rows with columns ``weights`` and ``subclass`` (MatchIt's ``match.data``).

        The caller's columns are kept; the index is the caller's index (it may repeat).
        Rows with zero weight are left out.
        """
        keep = self.weights > 0
        out = self.data.loc[keep].copy()
        out["weights"] = self.weights[keep]
        out["subclass"] = self.subclass[keep]
        return out

    def get_matches(self) -> pd.DataFrame:
        """One row per (matched set, unit), controls repeated when reused (MatchIt's ``get_matches``).

        Columns: the caller's columns, ``subclass``, ``row`` (position) and ``weights`` (the
        unit's weight inside its set: 1 for the treated, the pair weight for a control).
        """
        p = self.pairs
        treated_rows = p.drop_duplicates(["subclass", "treated"])
        rows = np.concatenate([treated_rows["treated"].to_numpy(), p["control"].to_numpy()])
        sets = np.concatenate([treated_rows["subclass"].to_numpy(), p["subclass"].to_numpy()])
        w = np.concatenate([np.ones(len(treated_rows)), p["weight"].to_numpy()])
        out = self.data.iloc[rows].copy()
        out["subclass"] = sets
        out["row"] = rows
        out["weights"] = w
        return out.sort_values(["subclass", "row"], kind="stable")

    def balance(self, **kwargs: Any):
        """Balance before/after matching; see :func:`wellness_research.matching.balance.balance`."""
        from .balance import balance

        return balance(self, **kwargs)

    def table_one(self, **kwargs: Any) -> pd.DataFrame:
        """Table 1 of the matched sample; see :func:`wellness_research.matching.balance.table_one`."""
        from .balance import table_one

        return table_one(self, **kwargs)

    def love_plot(self, **kwargs: Any):
        """Love plot; see :func:`wellness_research.matching.plots.love_plot`."""
        from .plots import love_plot

        return love_plot(self, **kwargs)

    def summary(self) -> str:
        """The design in a few lines: method, counts, every unmatched unit, and balance."""
        caliper = "none" if self.caliper is None else f"{self.caliper:g} SD of the distance"
        exact = ", ".join(self.exact) if self.exact else "none"
        n = self.n_matched
        lines = [
            f"Matching: {self.method}, distance {self.distance}, estimand {self.estimand.upper()}, "
            f"ratio {self.ratio}:1, {'with' if self.replace else 'without'} replacement",
            f"Caliper: {caliper}; exact on: {exact}",
            f"Matched: {n['treated']} treated, {n['control']} distinct controls",
            "Units by status (treated / control):",
        ]
        counts = self.unmatched_counts()
        for status, row in counts.iterrows():
            lines.append(f"  {status:<15} {row['treated']:>8} {row['control']:>8}")
        bal = self.balance()
        lines.append(f"Largest |SMD| after matching: {bal.max_abs_smd:.3f}")
        lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        return "<pre>" + escape(self.summary()) + "</pre>"
