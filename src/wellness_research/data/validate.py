"""Validate input tables against the data dictionary, reporting every problem and dropping nothing.

:func:`validate` runs three layers, all driven by the dictionary:

1. **Columns and types** (per table): unknown tables, duplicate, missing and unexpected columns, and
   the type of every cell (:mod:`~wellness_research.data.coerce`).
2. **Column rules** (per table, pandera, :mod:`~wellness_research.data.schema`): nulls, codes,
   ranges, first-of-month; then, vectorised with numpy/pandas, the primary key, ``date_order``,
   ``no_overlap`` and the table's ``checks`` (``value_order``, ``multiple_of``, ``null_when``).
3. **Across tables**: foreign keys, life events against ``residents`` (not before the birth month,
   not after death) and ``within_referenced_period`` checks.

The caller's frames are never modified: the validator works on a view of each column (a new
object only where a cell has the wrong type) with a fresh ``RangeIndex``, so example ``row`` values
are 0-based positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from wellness_research.data.coerce import coerce_column
from wellness_research.data.dictionary import DataDictionary, TableCheck, TableSpec, load_dictionary
from wellness_research.data.report import ValidationReport, Violation, examples_at
from wellness_research.data.schema import run_schema
from wellness_research.errors import ConfigurationError

__all__ = ["validate"]

_RESIDENTS = "residents"
_Cache = dict[tuple[Any, ...], np.ndarray]  # row lookups shared by the cross-table rules of one call
_PERSON = "person_id"


@dataclass
class _Work:
    """Per-table working state during one validation call (never leaves this module)."""

    spec: TableSpec
    frame: pd.DataFrame
    bad: dict[str, np.ndarray] = field(default_factory=dict)


def validate(
    tables: Mapping[str, pd.DataFrame],
    *,
    dictionary: DataDictionary | None = None,
    require_all: bool = False,
) -> ValidationReport:
    """Check tables against the data dictionary and report every violation.

    Validation **never raises for problems in the data** and never stops at the first one: every
    broken rule is reported as a :class:`~wellness_research.data.report.Violation` naming the table,
    column, rule and number of rows, with up to five example rows. Call
    :meth:`ValidationReport.raise_if_errors` to stop on errors. The frames are not modified and no
    row is dropped.

    Parameters
    ----------
    tables : Mapping[str, pandas.DataFrame]
        Tables keyed by dictionary table name (e.g. the result of
        :func:`~wellness_research.data.read_tables`). Names not in the dictionary are reported as
        ``unknown_table`` errors.
    dictionary : DataDictionary, optional
        Defaults to the packaged dictionary (:func:`~wellness_research.data.load_dictionary`).
    require_all : bool, default False
        Report every dictionary table missing from ``tables`` as a ``missing_table`` error. When
        False, absent tables are not required; rules that need them are reported as
        ``not_checked`` warnings.

    Returns
    -------
    ValidationReport
        ``report.ok`` is True when there is no error.

    Raises
    ------
    ConfigurationError
        Only for programming errors: ``tables`` is not a mapping of DataFrames, or
        ``require_all`` is not a bool.

    Notes
    -----
    Rules (see :data:`~wellness_research.data.report.RULES`): ``unknown_table``,
    ``missing_table``, ``unreadable_file`` (from
    :func:`~wellness_research.data.validate_directory`), ``duplicate_column``, ``missing_column``,
    ``unexpected_column`` (warning), ``type``, ``not_null``, ``code``, ``range``, ``month_start``,
    ``primary_key``, ``foreign_key``, ``date_order``, ``before_birth``, ``after_death``,
    ``no_overlap``, ``value_order``, ``multiple_of``, ``null_when``, ``within_referenced_period``,
    ``not_checked`` (warning). A cell of the wrong type is reported once, as ``type``, and is
    treated as missing by the other rules.

    Examples
    --------
    >>> import pandas as pd
    >>> from wellness_research.data import validate
    >>> sites = pd.DataFrame({"site_id": ["S001"], "district": ["D13"],
    ...                       "start_date": pd.to_datetime(["2024-04-01"]), "end_date": pd.NaT})
    >>> report = validate({"soft_sites": sites})
    >>> report.ok, report.errors[0].rule, report.errors[0].column
    (False, 'code', 'district')
    """
    return _validate(tables, dictionary=dictionary, require_all=require_all, extra=())


def _validate(
    tables: Mapping[str, pd.DataFrame],
    *,
    dictionary: DataDictionary | None,
    require_all: bool,
    extra: tuple[Violation, ...],
) -> ValidationReport:
    if not isinstance(tables, Mapping):
        raise ConfigurationError(
            f"tables must be a mapping of table name to pandas DataFrame, got {type(tables).__name__}"
        )
    if not isinstance(require_all, bool):
        raise ConfigurationError(f"require_all must be True or False, got {require_all!r}")
    dd = load_dictionary() if dictionary is None else dictionary
    if not isinstance(dd, DataDictionary):
        raise ConfigurationError(f"dictionary must be a DataDictionary or None, got {type(dd).__name__}")
    for name, df in tables.items():
        if not isinstance(df, pd.DataFrame):
            raise ConfigurationError(f"tables[{name!r}] must be a pandas DataFrame, got {type(df).__name__}")

    found: list[Violation] = list(extra)
    works: dict[str, _Work] = {}
    for name, df in tables.items():
        if name not in dd:
            found.append(
                Violation(
                    str(name), None, "unknown_table", len(df), (),
                    f"{name}: unknown_table: table {name!r} ({len(df):,} row(s)) is not in the data dictionary; "
                    f"valid tables: {', '.join(dd.table_names)}",
                )
            )
            continue
        work, violations = _check_table(df, dd.table(name))
        works[name] = work
        found += violations
    if require_all:
        for name in dd.table_names:
            if name not in tables:
                found.append(
                    Violation(
                        name, None, "missing_table", 0, (), f"{name}: missing_table: table {name!r} was not supplied"
                    )
                )
    lookups: _Cache = {}
    for work in works.values():
        found += _check_foreign_keys(work, works, lookups)
        found += _check_life_events(work, works, lookups)
        for chk in work.spec.checks:
            if chk.rule == "within_referenced_period":
                found += _check_referenced_period(work, chk, works, lookups)
    n_rows = {name: len(works[name].frame) for name in dd.table_names if name in works}
    return ValidationReport(
        errors=tuple(v for v in found if v.severity == "error"),
        warnings=tuple(v for v in found if v.severity == "warning"),
        n_rows=MappingProxyType(n_rows),
    )


# --------------------------------------------------------------------------------------------
# One table
# --------------------------------------------------------------------------------------------


def _check_table(df: pd.DataFrame, spec: TableSpec) -> tuple[_Work, list[Violation]]:
    out: list[Violation] = []
    n = len(df)
    t = spec.name
    dup_mask = df.columns.duplicated()
    if dup_mask.any():
        dups = sorted({str(c) for c in df.columns[dup_mask]})
        for c in dups:
            out.append(
                Violation(
                    t, c, "duplicate_column", n, (),
                    f"{t}.{c}: duplicate_column: the frame has more than one column named {c!r} "
                    f"({n:,} row(s)); the first is validated",
                )
            )
        df = df.iloc[:, np.flatnonzero(~dup_mask)]
    present = set(df.columns)
    for col in spec.columns:
        if col.name not in present:
            out.append(
                Violation(
                    t, col.name, "missing_column", n, (),
                    f"{t}.{col.name}: missing_column: required column {col.name!r} ({col.label_ja}) is missing "
                    f"({n:,} row(s))",
                )
            )
    for c in df.columns:
        if c not in spec.column_names:
            out.append(
                Violation(
                    t, str(c), "unexpected_column", n, (),
                    f"{t}.{c}: unexpected_column: column {c!r} ({n:,} row(s)) is not in the data dictionary "
                    "and is not validated",
                    "warning",
                )
            )

    index = pd.RangeIndex(n)
    columns: dict[str, pd.Series] = {}
    bad: dict[str, np.ndarray] = {}
    for col in spec.columns:
        if col.name not in present:
            continue
        original = df[col.name]
        if not original.index.equals(index):
            original = original.set_axis(index, copy=False)
        coerced = coerce_column(original, col)
        columns[col.name] = coerced.values
        if coerced.bad is not None:
            bad[col.name] = coerced.bad
            k = int(coerced.bad.sum())
            examples = examples_at(original.to_frame(), coerced.bad, [col.name])
            hint = ""
            if col.type not in ("string", "category") and all(isinstance(e[col.name], str) for e in examples):
                hint = "; text is not parsed in memory: convert it first, or read the file with read_tables"
            out.append(
                Violation(
                    t, col.name, "type", k, examples,
                    f"{t}.{col.name}: type: {k:,} row(s) hold a value that is not {coerced.expected} "
                    f"(column type {col.type}, dtype {df[col.name].dtype}){hint}",
                )
            )
    frame = pd.DataFrame(columns, index=index, copy=False)
    work = _Work(spec=spec, frame=frame, bad=bad)

    out += run_schema(spec, frame, exclude=bad)
    out += _check_primary_key(work)
    for first, second in spec.date_order:
        out += _check_order(work, first, second, "date_order")
    for item in spec.no_overlap:
        out += _check_no_overlap(work, item.group, item.start, item.end)
    for chk in spec.checks:
        if chk.rule == "value_order":
            out += _check_order(work, chk.columns[0], chk.columns[1], "value_order", chk)
        elif chk.rule == "multiple_of":
            out += _check_multiple(work, chk)
        elif chk.rule == "null_when":
            out += _check_null_when(work, chk)
    return work, out


def _has(work: _Work, *cols: str) -> bool:
    return all(c in work.frame.columns for c in cols)


def _codes(s: pd.Series) -> tuple[np.ndarray, int]:
    """Integer code per row (-1 for missing) and the number of distinct values."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy().astype(np.int64), len(s.cat.categories)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes.astype(np.int64), len(uniques)


def _group_codes(frame: pd.DataFrame, cols: tuple[str, ...] | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per row for the combination of ``cols``, and a mask of rows with any null."""
    n = len(frame)
    key = np.zeros(n, dtype=np.int64)
    has_null = np.zeros(n, dtype=bool)
    limit = 1
    for c in cols:
        codes, n_values = _codes(frame[c])
        has_null |= codes < 0
        radix = n_values + 1
        if limit > np.iinfo(np.int64).max // radix:
            # Re-number the combinations seen so far so that the mixed-radix key cannot overflow.
            key, uniques = pd.factorize(key)
            key, limit = key.astype(np.int64), len(uniques)
        key = key * radix + (codes + 1)
        limit *= radix
    return key, has_null


def _duplicated(key: np.ndarray) -> np.ndarray:
    """Mask of the rows whose key occurs more than once (sort-based: faster than hashing at 10^7 rows)."""
    ordered = np.sort(key)
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.zeros(len(key), dtype=bool)
    return np.isin(key, np.unique(ordered[1:][same]))


def _check_primary_key(work: _Work) -> list[Violation]:
    spec = work.spec
    pk = list(spec.primary_key)
    if not _has(work, *pk) or len(work.frame) == 0:
        return []
    key, has_null = _group_codes(work.frame, pk)
    dup = _duplicated(key) & ~has_null
    k = int(dup.sum())
    if not k:
        return []
    n_keys = int(pd.Series(key[dup]).nunique())
    cols = ", ".join(pk)
    return [
        Violation(
            spec.name, cols, "primary_key", k, examples_at(work.frame, dup, pk),
            f"{spec.name}.{cols}: primary_key: {k:,} row(s) share {n_keys:,} duplicated key value(s)",
        )
    ]


def _check_order(
    work: _Work, first: str, second: str, rule: str, chk: TableCheck | None = None
) -> list[Violation]:
    if not _has(work, first, second):
        return []
    a, b = work.frame[first], work.frame[second]
    mask = _gt(a, b)
    k = int(mask.sum())
    if not k:
        return []
    cols = f"{first}, {second}"
    why = f" ({chk.description})" if chk is not None else ""
    return [
        Violation(
            work.spec.name, cols, rule, k, examples_at(work.frame, mask, [first, second]),
            f"{work.spec.name}.{cols}: {rule}: {k:,} row(s) have {first} > {second}{why}",
            chk.severity if chk is not None else "error",
        )
    ]


def _gt(a: pd.Series, b: pd.Series) -> np.ndarray:
    both = (a.notna() & b.notna()).to_numpy()
    out = np.zeros(len(a), dtype=bool)
    if both.any():
        out[both] = (a[both].to_numpy() > b[both].to_numpy())
    return out


def _check_multiple(work: _Work, chk: TableCheck) -> list[Violation]:
    target, base = chk.columns
    if not _has(work, target, base):
        return []
    a, b = work.frame[target], work.frame[base]
    both = (a.notna() & b.notna()).to_numpy()
    factor = chk.params["factor"]
    mask = np.zeros(len(a), dtype=bool)
    if both.any():
        integers = all(pd.api.types.is_integer_dtype(x.dtype) for x in (a, b)) and float(factor).is_integer()
        kind = np.int64 if integers else float
        av = a[both].to_numpy(dtype=kind) if not both.all() else a.to_numpy(dtype=kind)
        bv = b[both].to_numpy(dtype=kind) if not both.all() else b.to_numpy(dtype=kind)
        if integers:
            mask[both] = av != bv * int(factor)
        else:
            mask[both] = ~np.isclose(av, bv * factor, rtol=0.0, atol=1e-9)
    k = int(mask.sum())
    if not k:
        return []
    cols = f"{target}, {base}"
    return [
        Violation(
            work.spec.name, cols, "multiple_of", k, examples_at(work.frame, mask, [target, base]),
            f"{work.spec.name}.{cols}: multiple_of: {k:,} row(s) have {target} != {base} x {factor} "
            f"({chk.description})",
            chk.severity,
        )
    ]


def _check_null_when(work: _Work, chk: TableCheck) -> list[Violation]:
    when = chk.params["when"]
    cond_col, values = when["column"], list(when["in"])
    if not _has(work, cond_col):
        return []
    cond_s = work.frame[cond_col]
    known = cond_s.notna().to_numpy()
    cond = cond_s.isin(values).to_numpy(dtype=bool) & known
    out = []
    shown = ", ".join(str(v) for v in values)
    for c in chk.columns:
        if not _has(work, c):
            continue
        isnull = work.frame[c].isna().to_numpy() & ~work.bad.get(c, np.zeros(len(cond), dtype=bool))
        filled_when_null = cond & ~work.frame[c].isna().to_numpy()
        null_when_filled = known & ~cond & isnull
        mask = filled_when_null | null_when_filled
        k = int(mask.sum())
        if not k:
            continue
        out.append(
            Violation(
                work.spec.name, c, "null_when", k, examples_at(work.frame, mask, [cond_col, c]),
                f"{work.spec.name}.{c}: null_when: {k:,} row(s) break '{c} is null exactly when {cond_col} is in "
                f"[{shown}]' ({int(filled_when_null.sum()):,} hold a value, "
                f"{int(null_when_filled.sum()):,} are missing)",
                chk.severity,
            )
        )
    return out


def _check_no_overlap(work: _Work, group: tuple[str, ...], start: str, end: str) -> list[Violation]:
    if not _has(work, *group, start, end):
        return []
    frame = work.frame
    key, has_null = _group_codes(frame, group)
    s, e = frame[start], frame[end]
    usable = ~has_null & s.notna().to_numpy() & e.notna().to_numpy()
    pos = np.flatnonzero(usable)
    if pos.size < 2:
        return []
    sv = s.to_numpy()[pos]
    ev = e.to_numpy()[pos]
    gv = key[pos]
    order = np.lexsort((ev, sv, gv))
    g_sorted = pd.Series(gv[order])
    e_sorted = pd.Series(ev[order])
    prev_end = e_sorted.groupby(g_sorted.to_numpy()).cummax().groupby(g_sorted.to_numpy()).shift(1)
    overlap = (pd.Series(sv[order]) <= prev_end).fillna(False).to_numpy(dtype=bool)
    k = int(overlap.sum())
    if not k:
        return []
    rows = pos[order][overlap]
    mask = np.zeros(len(frame), dtype=bool)
    mask[rows] = True
    until = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
    until[rows] = prev_end.to_numpy(dtype="datetime64[ns]")[overlap]
    shown = [*group, start, end]
    ex_frame = pd.DataFrame({**{c: frame[c] for c in shown}, "overlaps_until": until}, copy=False)
    examples = examples_at(ex_frame, mask, [*shown, "overlaps_until"])
    cols = f"{start}, {end}"
    return [
        Violation(
            work.spec.name, cols, "no_overlap", k, examples,
            f"{work.spec.name}.{cols}: no_overlap: {k:,} row(s) have an interval [{start}, {end}] that overlaps an "
            f"earlier interval of the same {', '.join(group)}",
        )
    ]


# --------------------------------------------------------------------------------------------
# Across tables
# --------------------------------------------------------------------------------------------


def _lookup(
    work: _Work,
    cols: tuple[str, ...],
    ref: _Work,
    ref_cols: tuple[str, ...],
    cache: _Cache,
) -> np.ndarray:
    """Row position in ``ref`` of each row's ``cols`` values (first match), -1 when not found."""
    cache_key = (work.spec.name, cols, ref.spec.name, ref_cols)
    if cache_key in cache:
        return cache[cache_key]
    rf = ref.frame
    first = ~rf.duplicated(list(ref_cols)).to_numpy()
    for c in ref_cols:
        first &= rf[c].notna().to_numpy()
    first_pos = np.flatnonzero(first)
    if len(cols) == 1:
        ref_index = pd.Index(np.asarray(rf[ref_cols[0]].to_numpy()[first_pos], dtype=object))
        target = work.frame[cols[0]]
        if isinstance(target.dtype, pd.CategoricalDtype):
            by_cat = ref_index.get_indexer(pd.Index(np.asarray(target.cat.categories, dtype=object)))
            codes = target.cat.codes.to_numpy()
            idx = np.where(codes >= 0, by_cat[np.where(codes >= 0, codes, 0)], -1)
        else:
            idx = ref_index.get_indexer(pd.Index(np.asarray(target.to_numpy(), dtype=object)))
    else:
        ref_index = pd.MultiIndex.from_arrays([rf[c].to_numpy()[first_pos] for c in ref_cols])
        idx = ref_index.get_indexer(pd.MultiIndex.from_arrays([work.frame[c].to_numpy() for c in cols]))
    positions = np.where(idx >= 0, first_pos[np.where(idx >= 0, idx, 0)] if first_pos.size else -1, -1)
    cache[cache_key] = positions
    return positions


def _not_checked(work: _Work, column: str | None, what: str, missing: str) -> Violation:
    return Violation(
        work.spec.name, column, "not_checked", 0, (),
        f"{work.spec.name}.{column}: not_checked: {what} was not checked because {missing}", "warning",
    )


def _check_foreign_keys(work: _Work, works: Mapping[str, _Work], cache: _Cache) -> list[Violation]:
    out = []
    t = work.spec.name
    for fk in work.spec.foreign_keys:
        if not _has(work, *fk.columns):
            continue
        cols = ", ".join(fk.columns)
        ref = works.get(fk.ref_table)
        if ref is None:
            why = f"table {fk.ref_table} was not supplied"
            out.append(_not_checked(work, cols, f"foreign key -> {fk.ref_table}", why))
            continue
        if not _has(ref, *fk.ref_columns):
            why = f"{fk.ref_table} lacks {', '.join(fk.ref_columns)}"
            out.append(_not_checked(work, cols, f"foreign key -> {fk.ref_table}", why))
            continue
        pos = _lookup(work, fk.columns, ref, fk.ref_columns, cache)
        present = np.ones(len(work.frame), dtype=bool)
        for c in fk.columns:
            present &= work.frame[c].notna().to_numpy()
        dangling = present & (pos < 0)
        k = int(dangling.sum())
        if not k:
            continue
        n_values = int(work.frame.loc[dangling, list(fk.columns)].drop_duplicates().shape[0])
        out.append(
            Violation(
                t, cols, "foreign_key", k, examples_at(work.frame, dangling, fk.columns),
                f"{t}.{cols}: foreign_key: {k:,} row(s) ({n_values:,} distinct value(s)) not found in "
                f"{fk.ref_table}.{', '.join(fk.ref_columns)}",
            )
        )
    return out


def _check_life_events(work: _Work, works: Mapping[str, _Work], cache: _Cache) -> list[Violation]:
    spec = work.spec
    events = [c for c in spec.life_events if _has(work, c)]
    if not events or not _has(work, _PERSON):
        return []
    res = works.get(_RESIDENTS)
    if res is None or not _has(res, _PERSON, "birth_month", "death_date"):
        why = (
            "table residents was not supplied"
            if res is None
            else "residents lacks person_id, birth_month or death_date"
        )
        return [_not_checked(work, c, "life event vs birth and death", why) for c in events]
    pos = _lookup(work, (_PERSON,), res, (_PERSON,), cache)
    found = pos >= 0
    safe = np.where(found, pos, 0)
    res_death = res.frame["death_date"].to_numpy(dtype="datetime64[ns]")

    def per_row(values: np.ndarray) -> np.ndarray:
        out = values[safe]
        out[~found] = np.datetime64("NaT")
        return out

    birth = per_row(res.frame["birth_month"].to_numpy(dtype="datetime64[ns]"))
    death = per_row(res_death)
    # NaT compares False, so rows without a person, a birth month or a death date pass.
    death_month = per_row(res_death.astype("datetime64[M]").astype("datetime64[ns]"))
    out = []
    for c in events:
        ev = work.frame[c].to_numpy(dtype="datetime64[ns]")
        before = ev < birth
        if spec.column(c).type == "month":
            after, after_what = ev > death_month, "the month of death"
        else:
            after, after_what = ev > death, "death_date"
        ex_frame = pd.DataFrame(
            {_PERSON: work.frame[_PERSON], c: work.frame[c], "birth_month": birth, "death_date": death}, copy=False
        )
        for rule, mask, what in (("before_birth", before, "are dated before the person's birth_month"),
                                 ("after_death", after, f"are dated after {after_what}")):
            k = int(mask.sum())
            if k:
                shown = [_PERSON, c, "birth_month" if rule == "before_birth" else "death_date"]
                out.append(
                    Violation(spec.name, c, rule, k, examples_at(ex_frame, mask, shown),
                              f"{spec.name}.{c}: {rule}: {k:,} row(s) {what} (residents)")
                )
    return out


def _check_referenced_period(
    work: _Work, chk: TableCheck, works: Mapping[str, _Work], cache: _Cache
) -> list[Violation]:
    ref_def = chk.params["references"]
    col = chk.columns[0]
    via = tuple(ref_def["via"])
    ref = works.get(ref_def["table"])
    if not _has(work, col, *via):
        return []
    if ref is None or not _has(ref, *via, ref_def["start"], ref_def["end"]):
        why = f"table {ref_def['table']} was not supplied" if ref is None else f"{ref_def['table']} lacks a column"
        return [_not_checked(work, col, f"{chk.rule} against {ref_def['table']}", why)]
    pos = _lookup(work, via, ref, via, cache)
    found = pos >= 0
    safe = np.where(found, pos, 0)
    start = ref.frame[ref_def["start"]].to_numpy(dtype="datetime64[ns]")[safe]
    end = ref.frame[ref_def["end"]].to_numpy(dtype="datetime64[ns]")[safe]
    ev = work.frame[col].to_numpy(dtype="datetime64[ns]")
    ok = found & ~np.isnat(ev)
    early = ok & ~np.isnat(start) & (ev < start)
    late = ok & ~np.isnat(end) & (ev > end)
    mask = early | late
    k = int(mask.sum())
    if not k:
        return []
    start_name, end_name = f"{ref_def['table']}.{ref_def['start']}", f"{ref_def['table']}.{ref_def['end']}"
    ex_frame = pd.DataFrame(
        {**{v: work.frame[v] for v in via}, col: work.frame[col], start_name: start, end_name: end}, copy=False
    )
    return [
        Violation(
            work.spec.name, col, chk.rule, k, examples_at(ex_frame, mask, [*via, col, start_name, end_name]),
            f"{work.spec.name}.{col}: {chk.rule}: {k:,} row(s) fall outside [{start_name}, {end_name}] "
            f"({int(early.sum()):,} before the start, {int(late.sum()):,} after the end)",
            chk.severity,
        )
    ]
