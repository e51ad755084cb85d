"""How well the tables link to the anchor table (by default ``residents`` on ``person_id``).

The report counts ids; it never lists them, because ids are identifiers (pseudonymised or not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

import pandas as pd

from wellness_research._validation import require_table_mapping
from wellness_research.errors import ConfigurationError

__all__ = ["LinkageReport", "linkage_report"]

_COLUMNS = (
    "table",
    "rows",
    "distinct_ids",
    "matched_ids",
    "unmatched_ids",
    "unmatched_rows",
    "null_id_rows",
)


@dataclass(frozen=True)
class LinkageReport:
    """Per-table linkage counts against the anchor table.

    Attributes
    ----------
    anchor : str
        Name of the anchor table.
    key : str
        Linking column.
    counts : pandas.DataFrame
        One row per table holding ``key`` (anchor first), columns ``table, rows, distinct_ids,
        matched_ids, unmatched_ids, unmatched_rows, null_id_rows``. ``matched_ids`` are distinct ids
        found in the anchor; ``unmatched_rows`` are rows whose id is not in the anchor;
        ``null_id_rows`` are rows with a missing id (not counted as unmatched).
    skipped : tuple[str, ...]
        Tables without the ``key`` column (not linked by it, e.g. ``soft_sites``).
    """

    anchor: str
    key: str
    counts: pd.DataFrame
    skipped: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every id of every table is in the anchor and no id is missing."""
        return bool((self.counts["unmatched_ids"] == 0).all() and (self.counts["null_id_rows"] == 0).all())

    def to_frame(self) -> pd.DataFrame:
        """The counts as a new DataFrame (a copy)."""
        return self.counts.copy()

    def summary(self) -> str:
        """Plain-text summary: verdict, the counts table and the skipped tables."""
        verdict = (
            "all ids link"
            if self.ok
            else "some ids do not link (or are missing); counts below, ids not shown"
        )
        lines = [
            f"Linkage to {self.anchor!r} on {self.key!r}: {verdict}",
            self.counts.to_string(index=False),
        ]
        if self.skipped:
            lines.append(f"tables without {self.key!r} (not checked): {', '.join(self.skipped)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        verdict = "all ids link" if self.ok else "some ids do not link (or are missing)"
        head = (
            f"<p>Linkage to <code>{escape(self.anchor)}</code> on <code>{escape(self.key)}</code>: "
            f"<b>{escape(verdict)}</b>. Unmatched ids are counted, not listed.</p>"
        )
        tail = (
            f"<p>Tables without <code>{escape(self.key)}</code> (not checked): "
            f"{escape(', '.join(self.skipped))}</p>"
            if self.skipped
            else ""
        )
        return head + self.counts.to_html(index=False) + tail


def linkage_report(
    tables: Mapping[str, pd.DataFrame], *, anchor: str = "residents", key: str = "person_id"
) -> LinkageReport:
    """Count, per table, the ids of ``key`` that are (not) in the anchor table.

    Parameters
    ----------
    tables : Mapping[str, pandas.DataFrame]
        Tables by name; never modified. Tables without ``key`` are listed in ``skipped``.
    anchor : str, default "residents"
        The table every id should resolve in.
    key : str, default "person_id"
        The linking column (raw or pseudonymised; both sides must use the same form and type:
        ids ``"1001"`` and ``1001`` do not match).

    Returns
    -------
    LinkageReport
        Counts per table (anchor first); ``.ok`` is True when everything links.

    Raises
    ------
    ConfigurationError
        If ``anchor`` is not in ``tables`` or has no ``key`` column.

    Examples
    --------
    >>> import pandas as pd
    >>> tabs = {"residents": pd.DataFrame({"person_id": ["a", "b"]}),
    ...         "ltc_claims": pd.DataFrame({"person_id": ["a", "a", "c"]})}
    >>> linkage_report(tabs).counts[["table", "matched_ids", "unmatched_rows"]].values.tolist()
    [['residents', 2, 0], ['ltc_claims', 1, 1]]
    """
    require_table_mapping(tables, where="linkage_report")
    if anchor not in tables:
        raise ConfigurationError(
            f"linkage_report: anchor={anchor!r} is not one of the tables {sorted(tables)}."
        )
    if key not in tables[anchor].columns:
        raise ConfigurationError(
            f"linkage_report: anchor table {anchor!r} has no column key={key!r}; "
            f"it has {list(tables[anchor].columns)}."
        )
    anchor_ids = pd.Index(tables[anchor][key].dropna().unique())
    rows = []
    skipped = []
    order = [anchor] + [name for name in tables if name != anchor]
    for name in order:
        frame = tables[name]
        if key not in frame.columns:
            skipped.append(name)
            continue
        series = frame[key]
        null = series.isna()
        present = series[~null]
        ids = pd.Index(present.unique())
        in_anchor_ids = ids.isin(anchor_ids)
        if isinstance(present.dtype, pd.CategoricalDtype):
            # Per category, then broadcast through the codes: avoids hashing 17M strings.
            cats = present.cat.categories
            cat_in = pd.Index(cats).isin(anchor_ids)
            unmatched_rows = int((~cat_in[present.cat.codes.to_numpy()]).sum())
        else:
            unmatched_rows = int((~present.isin(anchor_ids)).sum())
        rows.append(
            {
                "table": name,
                "rows": len(frame),
                "distinct_ids": len(ids),
                "matched_ids": int(in_anchor_ids.sum()),
                "unmatched_ids": int((~in_anchor_ids).sum()),
                "unmatched_rows": unmatched_rows,
                "null_id_rows": int(null.sum()),
            }
        )
    counts = pd.DataFrame(rows, columns=list(_COLUMNS))
    return LinkageReport(anchor=anchor, key=key, counts=counts, skipped=tuple(skipped))
