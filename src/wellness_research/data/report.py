"""Results of validation: one :class:`Violation` per broken rule, gathered in a :class:`ValidationReport`."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from wellness_research.errors import DataValidationError

__all__ = ["MAX_EXAMPLES", "RULES", "ValidationReport", "Violation", "examples_at"]

MAX_EXAMPLES = 5
"""Number of example rows kept per violation."""

RULES: Mapping[str, str] = MappingProxyType(
    {
        "unknown_table": "the table name is not in the data dictionary",
        "missing_table": "a table of the dictionary was not supplied (require_all=True)",
        "duplicate_column": "the frame has two columns with the same name",
        "missing_column": "a column of the dictionary is missing from the table",
        "unexpected_column": "the table has a column the dictionary does not describe (warning)",
        "type": "the value is not of the column's type (including text that does not parse)",
        "not_null": "a missing value in a column that is not nullable",
        "code": "a value that is not one of the column's codes",
        "range": "a value outside the column's range",
        "month_start": "a month column holds a date that is not the first day of a month",
        "primary_key": "rows share the same primary key",
        "foreign_key": "a value is not found in the referenced table",
        "date_order": "the first date of a date_order pair is after the second",
        "before_birth": "a life event is dated before the person's birth month",
        "after_death": "a life event is dated after the person's death (month columns: after the death month)",
        "no_overlap": "an interval starts before an earlier interval of the same group has ended",
        "value_order": "the first column of a value_order check is greater than the second",
        "multiple_of": "the first column is not the second times the factor",
        "null_when": "a column is null when it should hold a value, or the reverse",
        "within_referenced_period": "a date outside the start/end period of the referenced row",
        "unreadable_file": "a table's file could not be read at all (malformed CSV, wrong encoding)",
        "not_checked": "a cross-table rule could not run because a table or column is missing (warning)",
    }
)
"""Every rule the validator reports, with what it means."""

Severity = Literal["error", "warning"]


def examples_at(frame: pd.DataFrame, positions: Any, columns: Sequence[str]) -> tuple[dict[str, Any], ...]:
    """Up to :data:`MAX_EXAMPLES` example rows: ``{"row": position, column: value, ...}``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Frame to take the values from (by position).
    positions : array-like of int or boolean mask
        Offending rows, as positions or as a mask over the rows; the first ones are used.
    columns : sequence of str
        Columns whose values are shown (those missing from ``frame`` are skipped).
    """
    pos = np.asarray(positions)
    if pos.dtype == bool:
        pos = np.flatnonzero(pos)
    pos = np.sort(pos)[:MAX_EXAMPLES]
    cols = [c for c in dict.fromkeys(columns) if c in frame.columns]
    out = []
    for p in pos:
        row: dict[str, Any] = {"row": int(p)}
        for c in cols:
            row[c] = _py(frame[c].iloc[int(p)])
        out.append(row)
    return tuple(out)


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item() if not isinstance(v, np.datetime64) else pd.Timestamp(v)
    return v


@dataclass(frozen=True)
class Violation:
    """One broken rule in one table (and column), with how many rows break it.

    Attributes
    ----------
    table : str
        Table name.
    column : str or None
        Column the rule is about; rules about several columns name them joined by ``", "``
        (e.g. ``"valid_from, valid_to"``); None for table-level rules such as ``unknown_table``.
    rule : str
        One of :data:`RULES`.
    n_rows : int
        Number of rows that break the rule (for ``primary_key``, every row whose key is shared;
        for ``no_overlap``, every interval that overlaps an earlier one).
    examples : tuple of dict
        Up to :data:`MAX_EXAMPLES` offending rows: ``row`` is the 0-based position of the row in
        the table (in a CSV file, line ``row + 2``), followed by the offending values.
    message : str
        Names the table, column, rule and count, and says what is wrong.
    severity : {"error", "warning"}
        Errors make the report fail; warnings do not.
    """

    table: str
    column: str | None
    rule: str
    n_rows: int
    examples: tuple[Mapping[str, Any], ...]
    message: str
    severity: Severity = "error"

    def examples_frame(self) -> pd.DataFrame:
        """The example rows as a DataFrame (one row per example)."""
        return pd.DataFrame([dict(e) for e in self.examples])


def _fmt_examples(examples: Sequence[Mapping[str, Any]], limit: int = MAX_EXAMPLES) -> str:
    parts = []
    for e in list(examples)[:limit]:
        parts.append("{" + ", ".join(f"{k}: {_fmt_value(v)}" for k, v in e.items()) + "}")
    return "; ".join(parts)


def _fmt_value(v: Any) -> str:
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d") if v == v.normalize() else str(v)
    if v is None or (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)):
        return "NA"
    return repr(v) if isinstance(v, str) else str(v)


@dataclass(frozen=True)
class ValidationReport:
    """Everything :func:`~wellness_research.data.validate` found, errors and warnings.

    Validation never raises for problems in the data: they are all collected here. Call
    :meth:`raise_if_errors` to stop a pipeline when there are errors.

    The examples hold values from the data, including pseudonymous person ids: the report is for
    the analyst who holds the data and is not meant to be published.

    Attributes
    ----------
    errors : tuple of Violation
        Broken rules that make the data unusable as it is.
    warnings : tuple of Violation
        Things to look at that do not stop the analysis (unexpected columns, checks that could not
        run, soft rules).
    n_rows : Mapping[str, int]
        Rows per table validated (tables in the dictionary only).
    """

    errors: tuple[Violation, ...]
    warnings: tuple[Violation, ...]
    n_rows: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    @property
    def violations(self) -> tuple[Violation, ...]:
        """Errors then warnings."""
        return self.errors + self.warnings

    def find(
        self, *, table: str | None = None, column: str | None = None, rule: str | None = None
    ) -> tuple[Violation, ...]:
        """Violations (errors and warnings) matching all the given fields."""
        return tuple(
            v
            for v in self.violations
            if (table is None or v.table == table)
            and (column is None or v.column == column)
            and (rule is None or v.rule == rule)
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per violation.

        Returns
        -------
        pandas.DataFrame
            Columns ``table, column, rule, n_rows, examples, message, severity``; ``examples`` holds
            the list of example rows (dicts).
        """
        cols = ["table", "column", "rule", "n_rows", "examples", "message", "severity"]
        rows = [
            {
                "table": v.table,
                "column": v.column,
                "rule": v.rule,
                "n_rows": v.n_rows,
                "examples": [dict(e) for e in v.examples],
                "message": v.message,
                "severity": v.severity,
            }
            for v in self.violations
        ]
        frame = pd.DataFrame(rows, columns=cols)
        return frame.astype({"n_rows": "int64"})

    def summary(self) -> str:
        """A plain-text report: the verdict, rows per table, then every violation with examples."""
        total = sum(self.n_rows.values())
        verdict = "OK" if self.ok else "FAILED"
        lines = [
            f"Data validation {verdict}: {len(self.n_rows)} table(s), {total:,} row(s); "
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)."
        ]
        if self.n_rows:
            width = max(len(t) for t in self.n_rows)
            lines.append("")
            for t, n in self.n_rows.items():
                ne = sum(1 for v in self.errors if v.table == t)
                nw = sum(1 for v in self.warnings if v.table == t)
                lines.append(f"  {t:<{width}}  {n:>12,} rows  {ne:>3} error(s)  {nw:>3} warning(s)")
        for title, items in (("Errors", self.errors), ("Warnings", self.warnings)):
            if not items:
                continue
            lines += ["", f"{title}:"]
            for v in items:
                lines.append(f"  - {v.message}")
                if v.examples:
                    lines.append(f"      e.g. {_fmt_examples(v.examples, 3)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        head = (
            f"<p><b>Data validation {verdict}</b>: {len(self.n_rows)} table(s), "
            f"{sum(self.n_rows.values()):,} row(s); {len(self.errors)} error(s), "
            f"{len(self.warnings)} warning(s).</p>"
        )
        if not self.violations:
            return head
        rows = []
        for v in self.violations:
            examples = _fmt_examples(v.examples)
            cells = [v.severity, v.table, v.column or "", v.rule, f"{v.n_rows:,}", examples, v.message]
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        header = "".join(
            f"<th>{h}</th>" for h in ("severity", "table", "column", "rule", "n_rows", "examples", "message")
        )
        return f"{head}<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"

    def raise_if_errors(self) -> ValidationReport:
        """Raise when there are errors; otherwise return the report itself.

        Raises
        ------
        DataValidationError
            If :attr:`ok` is false. The message is :meth:`summary`; ``error.report`` is this report.
        """
        if not self.ok:
            raise DataValidationError(self.summary(), report=self)
        return self
