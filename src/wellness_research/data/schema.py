"""Column-level rules of the dictionary as a pandera schema, and its failures as :class:`Violation` s.

:func:`table_schema` turns a :class:`~wellness_research.data.dictionary.TableSpec` into a
``pandera.pandas.DataFrameSchema`` with, per column: ``nullable``; a ``code`` check (``isin``) for
category columns; a ``range`` check for ranged columns; a ``month_start`` check for month columns.
Types are not checked by pandera: :mod:`wellness_research.data.coerce` checks them cell by cell
before the schema runs, so that a wrong-typed cell is reported once, as ``type``, with its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from wellness_research.data.dictionary import ColumnSpec, TableSpec
from wellness_research.data.report import Violation, examples_at

__all__ = ["run_schema", "table_schema"]

def _month_start(s: pd.Series) -> pd.Series:
    # Checked on the distinct values only: claims tables repeat a few dozen months millions of times.
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = np.asarray(uniques, dtype="datetime64[ns]")
    ok = np.append(values == values.astype("datetime64[M]").astype("datetime64[ns]"), True)
    return pd.Series(ok[codes], index=s.index)


def _column_checks(col: ColumnSpec) -> list[tuple[str, pa.Check]]:
    """(rule, pandera check) pairs of one column, in the order pandera numbers them."""
    checks: list[tuple[str, pa.Check]] = []
    if col.codes is not None:
        checks.append(("code", pa.Check.isin(list(col.codes), name="code")))
    if col.range is not None:
        lo, hi = col.range
        if lo is not None and hi is not None:
            checks.append(("range", pa.Check.in_range(lo, hi, name="range")))
        elif lo is not None:
            checks.append(("range", pa.Check.ge(lo, name="range")))
        else:
            checks.append(("range", pa.Check.le(hi, name="range")))
    if col.type == "month":
        checks.append(("month_start", pa.Check(_month_start, name="month_start")))
    return checks


def table_schema(spec: TableSpec) -> pa.DataFrameSchema:
    """The pandera schema of the column-level rules of one table.

    Parameters
    ----------
    spec : TableSpec
        The table's dictionary entry.

    Returns
    -------
    pandera.pandas.DataFrameSchema
        Columns are not required (missing columns are reported by the validator itself) and carry
        no dtype (types are checked by :func:`~wellness_research.data.coerce.coerce_column`).
    """
    columns = {
        col.name: pa.Column(
            dtype=None,
            nullable=col.nullable,
            checks=[check for _, check in _column_checks(col)],
            required=False,
            name=col.name,
        )
        for col in spec.columns
    }
    return pa.DataFrameSchema(columns, strict=False, name=spec.name)


def _describe(col: ColumnSpec, rule: str) -> str:
    if rule == "not_null":
        return "are missing, but the column is not nullable"
    if rule == "code":
        codes = list(col.codes or {})
        shown = ", ".join(codes[:12]) + (", ..." if len(codes) > 12 else "")
        return f"hold a value that is not a code of {col.name} (valid: {shown})"
    if rule == "range":
        lo, hi = col.range or (None, None)
        unit = f" {col.unit}" if col.unit else ""
        return f"are outside the range [{_bound(lo)}, {_bound(hi)}]{unit}"
    if rule == "month_start":
        return "are not the first day of a month"
    return f"fail the pandera check {rule}"


def _bound(b: Any) -> str:
    if b is None:
        return "-inf"
    if isinstance(b, pd.Timestamp):
        return b.strftime("%Y-%m-%d")
    return f"{b:,}" if isinstance(b, int) else str(b)


def run_schema(
    spec: TableSpec,
    frame: pd.DataFrame,
    *,
    exclude: Mapping[str, np.ndarray] | None = None,
) -> list[Violation]:
    """Run the table's pandera schema lazily and turn its failure cases into violations.

    Parameters
    ----------
    spec : TableSpec
        The table's dictionary entry.
    frame : pandas.DataFrame
        Working frame with a ``RangeIndex`` (so pandera's failure index is the row position) and
        the wrong-typed cells already set to missing.
    exclude : Mapping[str, numpy.ndarray], optional
        Per column, the mask of cells already reported as ``type``; they are not reported again as
        ``not_null``.

    Returns
    -------
    list of Violation
        One per column and rule, with the number of rows and up to five examples.
    """
    exclude = exclude or {}
    try:
        # inplace=True spares pandera a copy of the whole frame; nothing is coerced, so pandera
        # does not write to it (the frame is the validator's own, and the tests check the
        # caller's frames are unchanged).
        table_schema(spec).validate(frame, lazy=True, inplace=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return []
    out: list[Violation] = []
    rules = {col.name: [rule for rule, _ in _column_checks(col)] for col in spec.columns}
    cases = cases.assign(check_number=cases["check_number"].astype(object))
    grouped = cases.groupby(["column", "check", "check_number"], sort=False, dropna=False)
    for (column, check, number), group in grouped:
        if str(check) == "not_nullable":
            rule = "not_null"
        elif number is not None and not pd.isna(number) and str(column) in rules:
            rule = rules[str(column)][int(number)]
        else:
            rule = str(check)
        idx = pd.to_numeric(group["index"], errors="coerce").dropna().astype(np.int64).to_numpy()
        idx = np.unique(idx)
        if column in exclude and rule == "not_null":
            idx = idx[~exclude[column][idx]]
        if idx.size == 0 and group["index"].notna().any():
            continue
        col = spec.column(str(column))
        examples = examples_at(frame, idx, [col.name])
        if idx.size == 0:
            # A check that could not run at all (pandera records the exception, not rows).
            detail = f"could not be checked: {group['failure_case'].iloc[0]}"
            out.append(Violation(spec.name, col.name, rule, 0, (), f"{spec.name}.{col.name}: {rule}: {detail}"))
            continue
        msg = f"{spec.name}.{col.name}: {rule}: {idx.size:,} row(s) {_describe(col, rule)}"
        out.append(Violation(spec.name, col.name, rule, int(idx.size), examples, msg))
    return out
