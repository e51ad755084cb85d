"""Bring a column to the pandas dtype its dictionary type calls for, flagging every cell that does not fit.

Two entry points, one per kind of input:

* :func:`coerce_column` checks an in-memory column *strictly*: a string in a numeric or date column is
  a wrong type, not something to parse. Columns that already have a fitting dtype are returned as
  they are (no copy), which keeps validation of city-sized tables cheap.
* :func:`parse_text_column` parses a column read as text from a CSV file. A cell that fails to parse
  is **kept as its original text** in an ``object`` column, so the loss is visible and
  :func:`coerce_column` later reports it as a ``type`` violation with the offending text.

Neither function modifies its input.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from wellness_research.data.dictionary import ColumnSpec

__all__ = ["Coerced", "coerce_column", "parse_text_column"]

_EXPECTED = {
    "string": "a string",
    "category": "a string code",
    "integer": "a whole number",
    "float": "a number",
    "boolean": "a boolean (True/False)",
    "date": "a date (datetime64 or datetime.date)",
    "month": "a date (datetime64 or datetime.date)",
}

# Regular expressions in RE2 syntax, evaluated by pyarrow.
_INT_RE = r"^[+-]?[0-9]{1,18}(\.0*)?$"  # up to 18 digits always fits int64
_FLOAT_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_TRUE = ("true", "1")
_FALSE = ("false", "0")
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Coerced:
    """A column in its working dtype.

    Attributes
    ----------
    values : pandas.Series
        The column in a dtype fitting its dictionary type; cells of the wrong type are missing.
    bad : numpy.ndarray or None
        Boolean mask of the cells whose value had the wrong type (None when there are none).
    expected : str
        What a valid cell holds, for messages.
    """

    values: pd.Series
    bad: np.ndarray | None
    expected: str

    @property
    def n_bad(self) -> int:
        """Number of cells of the wrong type."""
        return 0 if self.bad is None else int(self.bad.sum())


def _elementwise(s: pd.Series, ok: Any) -> np.ndarray:
    """Mask of non-missing cells of an object Series for which ``ok(value)`` is false."""
    arr = s.to_numpy(dtype=object, na_value=None)
    good = np.fromiter((x is None or ok(x) for x in arr), dtype=bool, count=len(arr))
    return ~good


def _is_int(x: Any) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, np.integer)):
        return True
    return isinstance(x, (float, np.floating)) and bool(np.isfinite(x)) and float(x).is_integer()


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _is_date(x: Any) -> bool:
    return isinstance(x, (_dt.date, np.datetime64)) and not isinstance(x, _dt.time)


def coerce_column(s: pd.Series, col: ColumnSpec) -> Coerced:
    """Check the cells of an in-memory column against the column's dictionary type.

    Parameters
    ----------
    s : pandas.Series
        The column (not modified).
    col : ColumnSpec
        Its dictionary entry.

    Returns
    -------
    Coerced
        The column in a fitting dtype (the same object when it already fits) and the mask of cells
        of the wrong type. Accepted: string/category columns of ``object``, ``string`` or
        ``Categorical`` dtype holding ``str``; integer columns of any integer dtype, or float
        holding whole numbers; float columns of any numeric dtype; boolean columns of ``bool`` or
        ``boolean`` dtype; date and month columns of timezone-naive ``datetime64`` dtype. ``object``
        columns are accepted cell by cell when each cell is of the right Python type (a ``str`` is
        never a number or a date here).
    """
    ctype = col.type
    expected = _EXPECTED[ctype]
    if isinstance(s.dtype, pd.ArrowDtype):
        s = _from_arrow(s)
    dtype = s.dtype
    notna = s.notna().to_numpy()

    if isinstance(dtype, pd.CategoricalDtype) and ctype not in ("string", "category"):
        return coerce_column(pd.Series(np.asarray(s, dtype=object), index=s.index, name=s.name), col)

    if ctype in ("string", "category"):
        if isinstance(dtype, pd.CategoricalDtype):
            cats = dtype.categories
            if pd.api.types.infer_dtype(cats, skipna=True) in ("string", "empty"):
                return Coerced(s, None, expected)
            cat_bad = np.array([not isinstance(c, str) for c in cats], dtype=bool)
            codes = s.cat.codes.to_numpy()
            bad = (codes >= 0) & cat_bad[np.where(codes >= 0, codes, 0)]
            values = pd.Series(np.asarray(s, dtype=object), index=s.index, name=s.name).where(~bad, None)
            return Coerced(values, bad, expected)
        if isinstance(dtype, pd.StringDtype):
            return Coerced(s, None, expected)
        if dtype == object:
            if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
                return Coerced(s, None, expected)
            bad = _elementwise(s, lambda x: isinstance(x, str))
            return Coerced(s.where(~bad, None), bad, expected)
        return _all_bad(s, notna, expected, object)

    if ctype == "integer":
        if pd.api.types.is_bool_dtype(dtype):
            return _all_bad(s, notna, expected, "Int64")
        if pd.api.types.is_integer_dtype(dtype):
            return Coerced(s, None, expected)
        if pd.api.types.is_float_dtype(dtype):
            arr = s.to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                bad = notna & ~(np.isfinite(arr) & (np.floor(arr) == arr))
            if not bad.any():
                return Coerced(s, None, expected)
            return Coerced(s.where(~bad), bad, expected)
        if dtype == object:
            bad = _elementwise(s, _is_int)
            good = s.where(~bad)
            values = pd.Series(pd.array(good.to_numpy(dtype=object, na_value=None), dtype="Float64"),
                               index=s.index, name=s.name).astype("Int64")
            return Coerced(values, bad if bad.any() else None, expected)
        return _all_bad(s, notna, expected, "Int64")

    if ctype == "float":
        if pd.api.types.is_bool_dtype(dtype):
            return _all_bad(s, notna, expected, float)
        if pd.api.types.is_numeric_dtype(dtype):
            return Coerced(s, None, expected)
        if dtype == object:
            bad = _elementwise(s, _is_number)
            values = pd.Series(s.where(~bad).to_numpy(dtype=float, na_value=np.nan), index=s.index, name=s.name)
            return Coerced(values, bad if bad.any() else None, expected)
        return _all_bad(s, notna, expected, float)

    if ctype == "boolean":
        if pd.api.types.is_bool_dtype(dtype):
            return Coerced(s, None, expected)
        if dtype == object:
            bad = _elementwise(s, lambda x: isinstance(x, (bool, np.bool_)))
            values = s.where(~bad, None).astype("boolean")
            return Coerced(values, bad if bad.any() else None, expected)
        return _all_bad(s, notna, expected, "boolean")

    # date and month
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _all_bad(s, notna, f"{expected}, without a time zone", "datetime64[ns]")
    if pd.api.types.is_datetime64_dtype(dtype):
        if dtype == np.dtype("datetime64[ns]"):
            return Coerced(s, None, expected)
        try:
            return Coerced(s.astype("datetime64[ns]"), None, expected)
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            pass
        s = pd.Series(s.to_numpy(dtype=object), index=s.index, name=s.name)
        dtype = s.dtype
    if dtype == object:
        bad = _elementwise(s, _is_date)
        values = pd.to_datetime(s.where(~bad, None), errors="coerce")
        # Dates outside the datetime64[ns] range (e.g. a year typed as 0024) become NaT: wrong too.
        bad = bad | (notna & values.isna().to_numpy())
        values = pd.Series(values.to_numpy(dtype="datetime64[ns]"), index=s.index, name=s.name)
        return Coerced(values, bad if bad.any() else None, expected)
    return _all_bad(s, notna, expected, "datetime64[ns]")


def _from_arrow(s: pd.Series) -> pd.Series:
    """The numpy-backed equivalent of a pyarrow-backed column (``dtype_backend="pyarrow"``)."""
    t = s.dtype.pyarrow_dtype
    if pa.types.is_integer(t):
        return s.astype("Int64")
    if pa.types.is_floating(t):
        return s.astype(float)
    if pa.types.is_boolean(t):
        return s.astype("boolean")
    if (pa.types.is_timestamp(t) and t.tz is None) or pa.types.is_date(t):
        try:
            return s.astype("datetime64[ns]")
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            return s.astype(object)
    return s.astype(object)


def _all_bad(s: pd.Series, notna: np.ndarray, expected: str, dtype: Any) -> Coerced:
    values = pd.Series(pd.array([None] * len(s), dtype=dtype) if dtype != object else [None] * len(s),
                       index=s.index, name=s.name, dtype=dtype)
    return Coerced(values, notna.copy() if notna.any() else None, expected)


def parse_text_column(arr: pa.Array | pa.ChunkedArray, col: ColumnSpec, *, name: str | None = None) -> pd.Series:
    """Parse a text column read from a CSV file into the column's dtype.

    Parameters
    ----------
    arr : pyarrow.Array or pyarrow.ChunkedArray
        The column as strings; empty fields are null (missing).
    col : ColumnSpec
        Its dictionary entry.
    name : str, optional
        Name of the returned Series (default ``col.name``).

    Returns
    -------
    pandas.Series
        ``object`` (``str``) for string and category columns, ``Int64``
        for integers (``"12"`` and ``"12.0"`` parse), ``float64``, ``boolean`` (``true``/``false``/
        ``1``/``0`` in any case) and ``datetime64[ns]`` for date and month columns
        (``YYYY-MM-DD``, optionally followed by a time ``HH:MM:SS``). When a cell does not parse,
        the column is returned as ``object`` holding the parsed values and, in the cells that failed,
        the original text, so that validation reports each of them as a ``type`` violation.
    """
    name = col.name if name is None else name
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
    ctype = col.type
    if ctype in ("string", "category"):
        # object dtype; pyarrow de-duplicates the str objects, so repeated ids and codes are cheap.
        return pd.Series(arr.to_pandas(), name=name, dtype=object)

    stripped = pc.utf8_trim_whitespace(arr)
    present = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    if ctype in ("integer", "float"):
        pattern = _INT_RE if ctype == "integer" else _FLOAT_RE
        ok = pc.fill_null(pc.match_substring_regex(stripped, pattern), False).to_numpy(zero_copy_only=False)
        clean = pc.if_else(pa.array(ok), stripped, pa.scalar(None, pa.string()))
        if ctype == "integer":
            # "12.0" (a float column written by pandas) parses through float64.
            via_float = _has_decimal(clean)
            parsed = pc.cast(pc.cast(clean, pa.float64()), pa.int64()) if via_float else pc.cast(clean, pa.int64())
            values = pd.Series(parsed.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get), name=name)
            if values.dtype != "Int64":
                values = values.astype("Int64")
        else:
            values = pd.Series(pc.cast(clean, pa.float64()).to_numpy(zero_copy_only=False), name=name)
            ok = ok & ~np.isinf(values.to_numpy())  # "1e999" overflows to inf: not a usable number
        return _keep_failures(values, arr, present & ~ok)

    if ctype == "boolean":
        lower = pc.utf8_lower(stripped)
        is_true = pc.fill_null(pc.is_in(lower, value_set=pa.array(_TRUE)), False).to_numpy(zero_copy_only=False)
        is_false = pc.fill_null(pc.is_in(lower, value_set=pa.array(_FALSE)), False).to_numpy(zero_copy_only=False)
        values = pd.Series(pd.array(np.where(is_true, True, False), dtype="boolean"), name=name)
        values = values.where(is_true | is_false, pd.NA)
        return _keep_failures(values, arr, present & ~(is_true | is_false))

    # date and month: parse each distinct text once (dates repeat a lot in claims), strictly.
    encoded = stripped.dictionary_encode()
    uniques = pd.Series(encoded.dictionary.to_pandas(), dtype=object)
    parsed_u = pd.Series(pd.NaT, index=uniques.index, dtype="datetime64[ns]")
    for fmt in _DATE_FORMATS:
        todo = parsed_u.isna()
        if not todo.any():
            break
        parsed_u[todo] = pd.to_datetime(uniques[todo], format=fmt, errors="coerce")
    indices = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
    lookup = parsed_u.to_numpy()
    values_np = np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(lookup):
        values_np[present] = lookup[indices[present]]
    values = pd.Series(values_np, name=name)
    failed = present & np.isnat(values_np)
    return _keep_failures(values, arr, failed)


def _has_decimal(clean: pa.Array) -> bool:
    return bool(pc.any(pc.match_substring(clean, ".")).as_py())


def _keep_failures(values: pd.Series, raw: pa.Array, failed: np.ndarray) -> pd.Series:
    if not failed.any():
        return values
    out = values.astype(object)
    texts = raw.to_pandas()
    out[failed] = texts[failed].to_numpy()
    return out

