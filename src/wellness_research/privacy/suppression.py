"""Small-cell suppression of published count tables (NDB 最小集計単位の原則, DOMAIN.md §6.3).

Rule implemented (DOMAIN.md §6.3 [S], with the package recommendation [E]):

* **Primary suppression.** Every count cell ``1 <= n < min_count`` (default 10) is masked; ``0`` is
  shown.
* **Secondary suppression.** The totals of the table are assumed public: totals printed in the table
  (a total row/column, "margins") and, conservatively, the row and column sums even when they are
  not printed. A masked cell must not be recoverable from them:

  1. *Line rule* (the usual statistical-office rule): in every line (row or column; in the long
     layout, every set of rows that differ in one group column only) holding a masked cell, at least
     two cells are masked. When a line has exactly one, one more cell of the line is masked, and
     this is repeated until no line changes. The cell chosen is, among the candidates that complete
     the most *other* lines holding a single masked cell and leave the fewest other lines with a
     new single masked cell, the smallest non-zero count (zeros last).
     This look-ahead masks far fewer cells than plain "smallest first" (on 12 x 8 and
     5 x 4 x 3 tables, 2-5 instead of 10-13 and 7-18 instead of 21-35 secondary cells in a
     trial on random Poisson tables); when all candidates score alike it is plain smallest first.
  2. *Exact-recovery audit.* The line rule is necessary but not sufficient: two masked blocks joined
     by a single masked cell satisfy it, yet that cell equals a difference of published totals. So
     the masked cells are then checked against the linear system of all line totals: a masked cell
     is exactly recoverable iff its unit vector lies in the row space of the constraint matrix
     restricted to the masked cells (its leverage is 1). For each recoverable cell the smallest
     unmasked cell (on its own lines first) that makes it unrecoverable is masked, and both steps
     repeat until none is left. Cost: one symmetric eigen-decomposition per round (about 1 s
     measured for a 1,344-cell four-way table with 1,250 masked cells); the audit is meant for
     publication tables, not for micro-data-sized ones.

  What is *not* done: interval (range) disclosure is not audited (a masked cell may still be
  bounded to a narrow range by non-negativity), the choice of secondary cells is greedy (the
  look-ahead line rule, then smallest count), not an optimal (least information loss) solution,
  hierarchical subtotals of MultiIndex rows or columns are not modelled (labels are taken as
  flat), and a line that contains a single cell carries no constraint (its total *is* the cell).
  In the long layout, combinations absent from the table are not cells: if such a line's total is
  published elsewhere, add the zero rows (``groupby(..., observed=False)``) so they can be masked.
* **Derived values.** A rate or mean is masked when its numerator is ``1..min_count-1`` or masked,
  or its denominator is below ``min_count`` (a rate over fewer than ``min_count`` people discloses
  an attribute of the whole group even when its numerator is 0) or masked.

Layouts
-------
``wide`` (default): a 2-D table, rows = index, columns = the count columns (e.g. a
:func:`pandas.crosstab`), optionally with a total row and/or total column. ``long``
(``group_columns=[...]``): one row per cell of a k-way table, the group columns naming the cell
and each count column a separate table over those groups. Total rows are not supported in the
long layout (drop them; they are assumed public anyway).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal, get_args

import numpy as np
import pandas as pd

from wellness_research.errors import ConfigurationError, DataValidationError, PrivacyError

__all__ = ["TOTAL_LABELS", "MaskStyle", "SuppressedTable", "suppress_small_cells"]

MaskStyle = Literal["marker", "na"]
#: Index/column labels recognised as totals by ``margins="auto"`` (pandas' crosstab uses "All").
TOTAL_LABELS: tuple[str, ...] = ("All", "Total", "total", "TOTAL", "合計", "総数", "総計", "計")

_LEVERAGE_TOL = 1e-6


@dataclass(frozen=True)
class SuppressedTable:
    """Result of :func:`suppress_small_cells`.

    Attributes
    ----------
    table : pandas.DataFrame
        The publishable table: masked count cells show ``primary_marker`` (default ``"<10"``) or
        ``secondary_marker`` (``"x"``), masked rates ``secondary_marker``; with ``mask="na"`` they
        are ``<NA>`` and count columns are ``Int64``.
    mask : pandas.DataFrame
        Same shape as ``table``; True where a value was masked.
    reason : pandas.DataFrame
        Same shape; ``"primary"``, ``"secondary"``, ``"derived"`` (rates) or ``""``.
    primary, secondary, derived : int
        Numbers of cells masked for each reason.
    recoverable : int
        Masked count cells still exactly recoverable from the assumed-public totals (0 unless
        ``secondary=False``).
    min_count : int
        The threshold used.
    layout : {"wide", "long"}
        How the table was read.
    total_row, total_column : bool
        Whether the wide table's last row / last count column were treated as totals.
    """

    table: pd.DataFrame
    mask: pd.DataFrame
    reason: pd.DataFrame
    primary: int
    secondary: int
    derived: int
    recoverable: int
    min_count: int
    layout: Literal["wide", "long"]
    total_row: bool
    total_column: bool

    def summary(self) -> str:
        """Plain-text summary: the counts of masked cells and the published table."""
        return "\n".join([self._headline(), self.table.to_string()])

    def _headline(self) -> str:
        margins = []
        if self.total_row:
            margins.append("total row")
        if self.total_column:
            margins.append("total column")
        where = f"; margins: {' and '.join(margins)}" if margins else ""
        risk = (
            f"; WARNING: {self.recoverable} masked cell(s) recoverable from totals"
            if self.recoverable
            else ""
        )
        return (
            f"Small-cell suppression (counts 1-{self.min_count - 1} masked, {self.layout} layout{where}): "
            f"{self.primary} primary, {self.secondary} secondary, {self.derived} derived value(s) masked"
            f"{risk}"
        )

    def _repr_html_(self) -> str:
        return f"<p>{escape(self._headline())}</p>" + self.table.to_html()


def _validate_literal(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ConfigurationError(
            f"suppress_small_cells: {name}={value!r} is not valid; use one of {list(allowed)}."
        )


def _counts_array(frame: pd.DataFrame, column: object) -> np.ndarray:
    series = frame[column]
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        raise DataValidationError(
            f"suppress_small_cells: count column {column!r} has dtype {series.dtype}; counts must "
            "be non-negative integers."
        )
    n_na = int(series.isna().sum())
    if n_na:
        raise DataValidationError(
            f"suppress_small_cells: count column {column!r} has {n_na} missing value(s) (first at "
            f"row {series.index[series.isna().to_numpy()][0]!r}); fill empty cells with 0 explicitly."
        )
    values = series.to_numpy(dtype=np.float64)
    negative = values < 0
    if negative.any():
        first = int(np.flatnonzero(negative)[0])
        raise DataValidationError(
            f"suppress_small_cells: count column {column!r} has {int(negative.sum())} negative "
            f"value(s), e.g. {values[first]:g} at row {series.index[first]!r}; counts must be >= 0."
        )
    fractional = values != np.floor(values)
    if fractional.any():
        first = int(np.flatnonzero(fractional)[0])
        raise DataValidationError(
            f"suppress_small_cells: count column {column!r} has {int(fractional.sum())} non-integer "
            f"value(s), e.g. {values[first]:g} at row {series.index[first]!r}; counts must be integers."
        )
    return values.astype(np.int64)


def _is_total_label(label: object) -> bool:
    if isinstance(label, tuple):
        return any(str(part) in TOTAL_LABELS for part in label if part != "")
    return str(label) in TOTAL_LABELS


class _CellSystem:
    """Count cells, the lines whose totals are assumed public, and the suppression algorithm.

    A line is ``(cells, coefficients)``: its public equation is ``sum(coef * value) = known``
    (coefficient -1 for a total printed in the table, +1 otherwise).
    """

    def __init__(self, values: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.values = values
        self.lines = [
            (np.asarray(c, dtype=np.int64), np.asarray(k, dtype=float))
            for c, k in lines
            if len(c) >= 2
        ]
        self.cell_lines: list[list[int]] = [[] for _ in range(len(values))]
        for k, (cells, _) in enumerate(self.lines):
            for c in cells:
                self.cell_lines[int(c)].append(k)

    # -- line rule -------------------------------------------------------------------------------
    def _order(self, candidates: np.ndarray) -> np.ndarray:
        """Smallest non-zero count first, zeros last, ties by position."""
        vals = self.values[candidates]
        return candidates[np.lexsort((candidates, vals, vals == 0))]

    def _pick(self, candidates: np.ndarray, masked: np.ndarray, line: int) -> int:
        """The candidate that completes the most other lines and opens the fewest new ones.

        Score of a candidate: over its other lines, +1 for a line it would leave with a single
        masked cell (a new violation), -1 for a line it would complete (1 -> 2 masked). Lowest
        score wins; ties go to the smallest non-zero count (zeros last), then position.
        """
        ordered = self._order(candidates)
        scores = []
        for cell in ordered:
            score = 0
            for k in self.cell_lines[int(cell)]:
                if k != line:
                    n = int(masked[self.lines[k][0]].sum())
                    score += 1 if n == 0 else (-1 if n == 1 else 0)
            scores.append(score)
        return int(ordered[int(np.argmin(scores))])

    def apply_line_rule(self, masked: np.ndarray, secondary: np.ndarray) -> None:
        changed = True
        while changed:
            changed = False
            for k, (cells, _) in enumerate(self.lines):
                flags = masked[cells]
                if flags.sum() == 1:
                    pick = self._pick(cells[~flags], masked, k)
                    masked[pick] = True
                    secondary[pick] = True
                    changed = True

    # -- exact-recovery audit --------------------------------------------------------------------
    def _system(self, masked: np.ndarray) -> tuple[np.ndarray, list[int], dict[int, int], np.ndarray]:
        """Constraint matrix of the lines touching masked cells, restricted to the masked cells."""
        cells = np.flatnonzero(masked)
        line_ids = sorted({k for c in cells for k in self.cell_lines[int(c)]})
        row_of = {k: i for i, k in enumerate(line_ids)}
        col_of = np.full(len(masked), -1)
        col_of[cells] = np.arange(len(cells))
        matrix = np.zeros((len(line_ids), len(cells)))
        for k in line_ids:
            line_cells, coef = self.lines[k]
            cols = col_of[line_cells]
            keep = cols >= 0
            matrix[row_of[k], cols[keep]] = coef[keep]
        return cells, line_ids, row_of, matrix

    @staticmethod
    def _svd(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD ``A = U diag(s) V'`` of the non-zero part, via the smaller Gram matrix.

        ``eigh`` of ``A'A`` or ``AA'`` is several times faster than LAPACK's SVD for these sparse
        0/±1 matrices; the squared condition number is harmless because the non-zero singular
        values of such count-table systems are not small (threshold: 1e-10 of the largest).
        """
        n_rows, n_cols = matrix.shape
        if matrix.size == 0:
            return np.zeros((n_rows, 0)), np.zeros(0), np.zeros((n_cols, 0))
        if n_cols <= n_rows:
            eigval, v = np.linalg.eigh(matrix.T @ matrix)
        else:
            eigval, u = np.linalg.eigh(matrix @ matrix.T)
        keep = eigval > 1e-10 * max(float(eigval[-1]), 1.0)
        singular = np.sqrt(eigval[keep])
        if n_cols <= n_rows:
            v = v[:, keep]
            u = (matrix @ v) / singular
        else:
            u = u[:, keep]
            v = (matrix.T @ u) / singular
        return u, singular, v

    def recoverable(self, masked: np.ndarray) -> list[int]:
        """Masked cells whose value follows exactly from the public totals and unmasked cells.

        Cell j is determined iff its unit vector lies in the row space of the constraint matrix
        restricted to the masked cells, i.e. its leverage ``sum(V[j, :rank]**2)`` is 1. For the
        integer 0/±1 systems of count tables a non-determined cell has leverage at most about
        ``1 - 1/m`` (m masked cells), so the threshold ``1 - 1e-6`` separates the two safely.
        """
        cells, _, _, matrix = self._system(masked)
        if cells.size == 0:
            return []
        _, _, v = self._svd(matrix)
        leverage = (v**2).sum(axis=1)
        return [int(c) for c, h in zip(cells, leverage, strict=True) if h > 1 - _LEVERAGE_TOL]

    def _fixes(self, masked: np.ndarray) -> list[int]:
        """Cells to mask so that the currently recoverable cells are not (empty: none recoverable).

        With ``A y = a_c`` solvable (``a_c`` in the column space of ``A``), adding cell c creates a
        null vector whose entry for cell j is ``-t * y_j``; so c protects j iff ``a_c`` is in the
        range of ``A`` and ``y_j != 0``. Masking more cells never makes a protected cell
        recoverable again, so one SVD serves every recoverable cell: for each, in order, the first
        candidate (smallest count on its lines, then elsewhere) that protects it is taken, unless a
        cell already taken protects it. A cell no single candidate protects gets the smallest
        candidate on its lines and the loop continues after the line rule.
        """
        cells, line_ids, row_of, matrix = self._system(masked)
        if cells.size == 0:
            return []
        u, singular, v = self._svd(matrix)
        leverage = (v**2).sum(axis=1)
        exposed = np.flatnonzero(leverage > 1 - _LEVERAGE_TOL)
        if exposed.size == 0:
            return []
        unmasked = np.flatnonzero(~masked)
        if unmasked.size == 0:
            raise PrivacyError(
                "Rule 'no recoverable masked cell': every cell is masked and a masked cell is still "
                "recoverable from the totals; the table cannot be published."
            )
        # Candidate columns a_c, for the unmasked cells whose lines all touch masked cells (a cell
        # alone in a line would itself be recoverable and cannot protect anything).
        usable = []
        columns = []
        for c in unmasked:
            lines_c = self.cell_lines[int(c)]
            if not lines_c or any(k not in row_of for k in lines_c):
                continue
            col = np.zeros(len(line_ids))
            for k in lines_c:
                line_cells, coef = self.lines[k]
                col[row_of[k]] = coef[line_cells == c][0]
            usable.append(int(c))
            columns.append(col)
        helps = np.zeros((exposed.size, len(usable)), dtype=bool)
        if usable:
            a_c = np.column_stack(columns)
            w = u.T @ a_c
            in_range = ((a_c - u @ w) ** 2).sum(axis=0) < 1e-9
            y = (v[exposed] / singular) @ w
            helps = in_range[None, :] & (np.abs(y) > 1e-6)
        usable_pos = {c: i for i, c in enumerate(usable)}
        chosen: list[int] = []
        for row, j_pos in enumerate(exposed):
            if any(helps[row, usable_pos[c]] for c in chosen if c in usable_pos):
                continue
            j = int(cells[j_pos])
            near = np.array(
                sorted({int(c) for k in self.cell_lines[j] for c in self.lines[k][0]}), dtype=np.int64
            )
            near = near[~masked[near]]
            far = np.setdiff1d(unmasked, near)
            ordered = [int(c) for c in np.concatenate([self._order(near), self._order(far)])]
            pick = next((c for c in ordered if c in usable_pos and helps[row, usable_pos[c]]), None)
            if pick is None:
                if not chosen:
                    chosen.append(ordered[0])
                break
            chosen.append(pick)
        return chosen

    def protect(self, masked: np.ndarray, secondary: np.ndarray) -> None:
        while True:
            self.apply_line_rule(masked, secondary)
            chosen = self._fixes(masked)
            if not chosen:
                return
            masked[chosen] = True
            secondary[chosen] = True


def _wide_system(
    frame: pd.DataFrame, count_columns: list[object], total_row: bool, total_col: bool
) -> _CellSystem:
    grid = np.column_stack([_counts_array(frame, c) for c in count_columns])
    n_rows, n_cols = grid.shape
    inner_r = n_rows - 1 if total_row else n_rows
    inner_c = n_cols - 1 if total_col else n_cols
    if total_row:
        sums = grid[:inner_r].sum(axis=0)
        bad = np.flatnonzero(sums != grid[-1])
        if bad.size:
            j = int(bad[0])
            raise DataValidationError(
                f"suppress_small_cells: the last row {frame.index[-1]!r} is treated as a total row but "
                f"in column {count_columns[j]!r} it is {grid[-1, j]} while the rows above sum to "
                f"{sums[j]} ({bad.size} column(s) differ); pass margins=False if it is not a total."
            )
    if total_col:
        sums = grid[:, :inner_c].sum(axis=1)
        bad = np.flatnonzero(sums != grid[:, -1])
        if bad.size:
            i = int(bad[0])
            raise DataValidationError(
                f"suppress_small_cells: the last count column {count_columns[-1]!r} is treated as a "
                f"total column but in row {frame.index[i]!r} it is {grid[i, -1]} while the columns "
                f"sum to {sums[i]} ({bad.size} row(s) differ); pass margins=False if it is not a total."
            )
    ids = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    lines = []
    for i in range(n_rows):
        coef = np.ones(n_cols)
        if total_col:
            coef[-1] = -1.0
        lines.append((ids[i], coef))
    for j in range(n_cols):
        coef = np.ones(n_rows)
        if total_row:
            coef[-1] = -1.0
        lines.append((ids[:, j], coef))
    return _CellSystem(grid.ravel(), lines)


def _long_system(frame: pd.DataFrame, group_columns: list[str], values: np.ndarray) -> _CellSystem:
    n = len(frame)
    lines = []
    if len(group_columns) == 1:
        lines.append((np.arange(n), np.ones(n)))
    else:
        for dim in group_columns:
            others = [g for g in group_columns if g != dim]
            for idx in frame.groupby(others, sort=False, dropna=False, observed=True).indices.values():
                cells = np.asarray(idx, dtype=np.int64)
                lines.append((cells, np.ones(len(cells))))
    return _CellSystem(values, lines)


def suppress_small_cells(
    table: pd.DataFrame,
    *,
    count_columns: Sequence[object] | None = None,
    group_columns: Sequence[str] | None = None,
    min_count: int = 10,
    secondary: bool = True,
    margins: bool | Literal["auto"] = "auto",
    rate_columns: Mapping[str, tuple[str | None, str]] | None = None,
    mask: MaskStyle = "marker",
    primary_marker: str | None = None,
    secondary_marker: str = "x",
) -> SuppressedTable:
    """Mask small counts (and what would reveal them) before a table is published.

    See the module docstring for the exact rule. Counts ``1..min_count-1`` are masked (primary),
    enough other cells are masked that no masked cell can be recovered from the row, column or
    group totals (secondary), and rates or means over small or masked counts are masked (derived).

    Parameters
    ----------
    table : pandas.DataFrame
        Wide: rows × count columns, optionally with a total row/column. Long: group columns plus
        count columns. Never modified.
    count_columns : sequence of labels, optional
        The count columns. Default: every numeric column not in ``group_columns`` or
        ``rate_columns``. Other columns are carried through unchanged.
    group_columns : sequence of str, optional
        Long layout: the columns naming a cell (unique per row, no missing values). Each count
        column is suppressed as its own k-way table; every line (rows differing in one group column
        only) has a public total. ``None``: wide layout.
    min_count : int, default 10
        Smallest publishable non-zero count (NDB guideline: 10, DOMAIN.md §6.3).
    secondary : bool, default True
        Apply secondary suppression. ``False`` masks only small cells; ``recoverable`` then reports
        how many masked cells the totals would reveal.
    margins : bool or "auto", default "auto"
        Wide layout only. ``True``: the last row and the last count column are totals. ``"auto"``:
        a last row / last count column labelled as in :data:`TOTAL_LABELS` ("All", "Total",
        "合計", ...) is a total. ``False``: no totals in the table (they are still assumed public).
        Totals must equal the sums of their line, else an error is raised.
    rate_columns : Mapping[str, tuple[str | None, str]], optional
        ``{rate_column: (numerator_column, denominator_column)}`` on the same row. For a mean, pass
        ``None`` as numerator (only the denominator, the number of people, governs).
    mask : {"marker", "na"}, default "marker"
        ``"marker"``: masked cells show ``primary_marker`` / ``secondary_marker`` (count and rate
        columns become object dtype). ``"na"``: masked cells are ``<NA>``, counts ``Int64``, rates
        ``Float64``.
    primary_marker : str, optional
        Default ``f"<{min_count}"`` (``"<10"``).
    secondary_marker : str, default "x"
        Marker for secondary and derived masks.

    Returns
    -------
    SuppressedTable
        The publishable ``table``, the boolean ``mask``, the ``reason`` per cell and the counts.

    Raises
    ------
    DataValidationError
        If a count is negative, non-integer or missing, the long-layout groups are not unique or
        missing, or a declared total does not equal its sum.
    ConfigurationError
        If a parameter is invalid or names a column that does not exist.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"a": [5, 20, 30], "b": [40, 50, 60]}, index=["x", "y", "z"])
    >>> res = suppress_small_cells(t)
    >>> res.primary, res.secondary
    (1, 3)
    """
    if not isinstance(table, pd.DataFrame):
        raise ConfigurationError(
            f"suppress_small_cells: table must be a pandas DataFrame, got {type(table).__name__}."
        )
    if isinstance(min_count, bool) or not isinstance(min_count, int | np.integer) or min_count < 1:
        raise ConfigurationError(
            f"suppress_small_cells: min_count={min_count!r} is not valid; use an integer >= 1 (NDB: 10)."
        )
    min_count = int(min_count)
    if not isinstance(secondary, bool):
        raise ConfigurationError(
            f"suppress_small_cells: secondary must be True or False, got {secondary!r}."
        )
    if not (margins is True or margins is False or margins == "auto"):
        raise ConfigurationError(
            f"suppress_small_cells: margins={margins!r} is not valid; use True, False or 'auto'."
        )
    _validate_literal("mask", mask, get_args(MaskStyle))
    primary_marker = f"<{min_count}" if primary_marker is None else primary_marker
    rate_columns = dict(rate_columns or {})
    columns = list(table.columns)

    def _require(names: Sequence[object], what: str) -> None:
        missing = [c for c in names if c not in columns]
        if missing:
            raise ConfigurationError(
                f"suppress_small_cells: {what} {missing} not in the table; it has {columns}."
            )

    for rate, pair in rate_columns.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ConfigurationError(
                f"suppress_small_cells: rate_columns[{rate!r}] must be a (numerator, denominator) "
                f"tuple, got {pair!r}."
            )
        _require([rate, *[c for c in pair if c is not None]], f"rate_columns[{rate!r}] names")
    groups = None if group_columns is None else list(group_columns)
    if isinstance(group_columns, str):
        raise ConfigurationError(
            "suppress_small_cells: group_columns must be a list of names, got the string "
            f"{group_columns!r}."
        )
    if groups is not None:
        if not groups:
            raise ConfigurationError("suppress_small_cells: group_columns is empty; pass None for wide.")
        _require(groups, "group_columns")
    excluded = set(groups or ()) | set(rate_columns)
    if count_columns is None:
        counts = [
            c
            for c in columns
            if c not in excluded
            and pd.api.types.is_numeric_dtype(table[c].dtype)
            and not pd.api.types.is_bool_dtype(table[c].dtype)
        ]
    else:
        if isinstance(count_columns, str):
            raise ConfigurationError(
                "suppress_small_cells: count_columns must be a list of names, got the string "
                f"{count_columns!r}."
            )
        counts = list(count_columns)
        _require(counts, "count_columns")
        clash = [c for c in counts if c in excluded]
        if clash:
            raise ConfigurationError(
                f"suppress_small_cells: columns {clash} are both count columns and group/rate columns."
            )
    if not counts:
        raise ConfigurationError("suppress_small_cells: the table has no count columns.")

    n_rows = len(table)
    count_pos = [columns.index(c) for c in counts]
    masked_by_col: dict[object, np.ndarray] = {}
    primary_by_col: dict[object, np.ndarray] = {}
    total_row = total_col = False
    recoverable = 0

    if groups is None:
        if margins == "auto":
            total_row = n_rows >= 2 and _is_total_label(table.index[-1])
            total_col = len(counts) >= 2 and _is_total_label(counts[-1])
        elif margins:
            if n_rows < 2 or len(counts) < 2:
                raise ConfigurationError(
                    "suppress_small_cells: margins=True needs at least 2 rows and 2 count columns "
                    f"(a total row and column); the table has {n_rows} row(s) and {len(counts)} "
                    "count column(s)."
                )
            total_row = total_col = True
        system = _wide_system(table, counts, total_row, total_col)
        values = system.values
        is_primary = (values > 0) & (values < min_count)
        masked = is_primary.copy()
        is_secondary = np.zeros_like(masked)
        if secondary:
            system.protect(masked, is_secondary)
        recoverable = len(system.recoverable(masked))
        n_c = len(counts)
        for j, col in enumerate(counts):
            masked_by_col[col] = masked.reshape(-1, n_c)[:, j].copy()
            primary_by_col[col] = is_primary.reshape(-1, n_c)[:, j].copy()
    else:
        if margins is True:
            raise ConfigurationError(
                "suppress_small_cells: margins=True is not supported in the long layout "
                "(group_columns given); drop total rows, totals are assumed public anyway."
            )
        for g in groups:
            n_na = int(table[g].isna().sum())
            if n_na:
                raise DataValidationError(
                    f"suppress_small_cells: group column {g!r} has {n_na} missing value(s); every "
                    "row must name its cell."
                )
            if margins == "auto":
                totals = [v for v in pd.unique(table[g]) if _is_total_label(v)]
                if totals:
                    raise DataValidationError(
                        f"suppress_small_cells: group column {g!r} contains total label(s) {totals}; "
                        "total rows are not supported in the long layout (drop them, or pass "
                        "margins=False if the label is a real category)."
                    )
        dup = table.duplicated(groups, keep=False)
        if dup.any():
            example = table.loc[dup, groups].iloc[0].tolist()
            raise DataValidationError(
                f"suppress_small_cells: {int(dup.sum())} rows share their group values "
                f"{groups} (e.g. {example}); each row must be one cell."
            )
        for col in counts:
            values = _counts_array(table, col)
            system = _long_system(table, groups, values)
            is_primary = (values > 0) & (values < min_count)
            masked = is_primary.copy()
            is_secondary = np.zeros_like(masked)
            if secondary:
                system.protect(masked, is_secondary)
            recoverable += len(system.recoverable(masked))
            masked_by_col[col] = masked
            primary_by_col[col] = is_primary

    # Derived values (rates, means).
    rate_masks: dict[str, np.ndarray] = {}
    for rate, (num, den) in rate_columns.items():
        hide = np.zeros(n_rows, dtype=bool)
        for which, col in (("numerator", num), ("denominator", den)):
            if col is None:
                continue
            series = table[col]
            if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
                raise DataValidationError(
                    f"suppress_small_cells: {which} column {col!r} of rate {rate!r} has dtype "
                    f"{series.dtype}; it must be numeric."
                )
            vals = series.to_numpy(dtype=np.float64, na_value=np.nan)
            if (vals < 0).any():
                raise DataValidationError(
                    f"suppress_small_cells: {which} column {col!r} of rate {rate!r} has "
                    f"{int((vals < 0).sum())} negative value(s)."
                )
            small = (vals > 0) & (vals < min_count) if which == "numerator" else vals < min_count
            hide |= small | np.isnan(vals)
            if col in masked_by_col:
                hide |= masked_by_col[col]
        rate_masks[rate] = hide

    # Build outputs.
    out = table.copy(deep=True)
    mask_frame = pd.DataFrame(False, index=table.index, columns=table.columns)
    reason = pd.DataFrame("", index=table.index, columns=table.columns, dtype=object)
    n_primary = n_secondary = n_derived = 0
    for col, pos in zip(counts, count_pos, strict=True):
        m = masked_by_col[col]
        p = primary_by_col[col]
        s = m & ~p
        n_primary += int(p.sum())
        n_secondary += int(s.sum())
        if mask == "na":
            new = table[col].astype("Int64").astype(object)
            new[m] = pd.NA
            out[col] = pd.array(new.to_numpy(), dtype="Int64")
        else:
            new = table[col].astype("Int64").astype(object)
            new[p] = primary_marker
            new[s] = secondary_marker
            out[col] = new
        mask_frame.iloc[:, pos] = m
        reason.iloc[np.flatnonzero(p), pos] = "primary"
        reason.iloc[np.flatnonzero(s), pos] = "secondary"
    for rate, hide in rate_masks.items():
        pos = columns.index(rate)
        n_derived += int(hide.sum())
        if mask == "na":
            new = table[rate].astype("Float64")
            new[hide] = pd.NA
            out[rate] = new
        else:
            new = table[rate].astype(object)
            new[hide] = secondary_marker
            out[rate] = new
        mask_frame.iloc[:, pos] = hide
        reason.iloc[np.flatnonzero(hide), pos] = "derived"
    return SuppressedTable(
        table=out,
        mask=mask_frame,
        reason=reason,
        primary=n_primary,
        secondary=n_secondary,
        derived=n_derived,
        recoverable=recoverable,
        min_count=min_count,
        layout="wide" if groups is None else "long",
        total_row=total_row,
        total_column=total_col,
    )
