"""Read and write a folder of input tables (``<table>.csv`` or ``<table>.parquet``), and validate it.

CSV files are read as text and parsed column by column according to the dictionary
(:func:`~wellness_research.data.coerce.parse_text_column`): a cell that does not parse keeps its
original text, so :func:`validate_directory` reports it as a ``type`` violation with the text, the
row and the count; nothing is silently turned into a missing value. In CSV files, a missing value
is an empty field; dates are ISO ``YYYY-MM-DD``; booleans ``True``/``False``; the encoding is UTF-8.
"""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, get_args

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from wellness_research.data.coerce import coerce_column, parse_text_column
from wellness_research.data.dictionary import DataDictionary, TableSpec, load_dictionary
from wellness_research.data.report import ValidationReport, Violation
from wellness_research.data.validate import _validate
from wellness_research.errors import ConfigurationError

__all__ = ["FORMATS", "LoadedTables", "TableFormat", "read_tables", "validate_directory", "write_tables"]

TableFormat = Literal["parquet", "csv"]
FORMATS: tuple[str, ...] = get_args(TableFormat)
_SUFFIX = {"parquet": ".parquet", "csv": ".csv"}


@dataclass(frozen=True, eq=False)
class LoadedTables(Mapping[str, pd.DataFrame]):
    """Tables read from a folder; behaves as a read-only mapping of table name to DataFrame.

    Attributes
    ----------
    tables : Mapping[str, pandas.DataFrame]
        The tables found, in dictionary order, parsed to the dictionary types (cells that did not
        parse keep their text, see :mod:`wellness_research.data.io`).
    paths : Mapping[str, pathlib.Path]
        The file each table was read from.
    unknown_files : tuple of pathlib.Path
        ``.csv`` and ``.parquet`` files whose name is not a dictionary table (reported by
        :func:`validate_directory` as ``unknown_table``).
    unreadable : Mapping[str, str]
        Tables whose file could not be read at all (malformed CSV, wrong encoding, damaged
        Parquet), with the reader's message (reported as ``unreadable_file``).
    directory : pathlib.Path
        The folder read.
    """

    tables: Mapping[str, pd.DataFrame]
    paths: Mapping[str, Path]
    unknown_files: tuple[Path, ...] = ()
    unreadable: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    directory: Path = field(default_factory=Path)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)


def _directory(directory: str | os.PathLike[str], *, must_exist: bool) -> Path:
    if not isinstance(directory, (str, os.PathLike)):
        raise ConfigurationError(f"directory must be a path, got {type(directory).__name__}")
    path = Path(directory)
    if must_exist and not path.is_dir():
        raise ConfigurationError(f"directory={str(directory)!r} is not an existing folder")
    return path


def read_tables(
    directory: str | os.PathLike[str],
    *,
    dictionary: DataDictionary | None = None,
    encoding: str = "utf-8",
) -> LoadedTables:
    """Read every dictionary table present in a folder as ``<table>.csv`` or ``<table>.parquet``.

    Parameters
    ----------
    directory : str or path-like
        Folder holding the extract.
    dictionary : DataDictionary, optional
        Defaults to the packaged dictionary.
    encoding : str, default "utf-8"
        Encoding of the CSV files (a UTF-8 byte-order mark is skipped); ``"cp932"`` for
        Shift_JIS exports.

    Returns
    -------
    LoadedTables
        A mapping of table name to DataFrame (pass it to :func:`~wellness_research.data.validate`).
        Dictionary columns come back as: ``object`` (str) for string and category columns (a
        Parquet ``Categorical`` stays ``Categorical``), ``Int64`` for integers, ``float64``,
        ``boolean`` and ``datetime64[ns]``. Columns the dictionary does not describe are kept as
        read. Rows are never dropped. A file that cannot be read at all is listed in
        ``unreadable`` instead of raising.

    Raises
    ------
    ConfigurationError
        If ``directory`` is not a folder, or a table is present both as CSV and as Parquet.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from wellness_research.data import read_tables, write_tables
    >>> sites = pd.DataFrame({"site_id": ["S001"], "district": ["D01"],
    ...                       "start_date": pd.to_datetime(["2024-04-01"]), "end_date": pd.NaT})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = write_tables({"soft_sites": sites}, tmp, format="csv")
    ...     loaded = read_tables(tmp)
    >>> loaded["soft_sites"]["start_date"].dtype
    dtype('<M8[ns]')
    """
    root = _directory(directory, must_exist=True)
    dd = load_dictionary() if dictionary is None else dictionary
    if not isinstance(encoding, str) or not _known_encoding(encoding):
        raise ConfigurationError(f"encoding={encoding!r} is not a known text encoding (e.g. 'utf-8', 'cp932')")
    tables: dict[str, pd.DataFrame] = {}
    paths: dict[str, Path] = {}
    unreadable: dict[str, str] = {}
    for spec in dd:
        candidates = [root / f"{spec.name}{suffix}" for suffix in _SUFFIX.values()]
        existing = [p for p in candidates if p.is_file()]
        if len(existing) > 1:
            raise ConfigurationError(
                f"table {spec.name} is present twice in {root}: {', '.join(p.name for p in existing)}; keep one"
            )
        if not existing:
            continue
        path = existing[0]
        paths[spec.name] = path
        try:
            tables[spec.name] = _read_csv(path, spec, encoding) if path.suffix == ".csv" else _read_parquet(path, spec)
        except (pa.ArrowException, UnicodeDecodeError, csv.Error) as exc:
            unreadable[spec.name] = f"{path.name}: {type(exc).__name__}: {exc}".strip()
    unknown = tuple(
        sorted(p for p in root.iterdir() if p.is_file() and p.suffix in _SUFFIX.values() and p.stem not in dd)
    )
    return LoadedTables(
        tables=MappingProxyType(tables),
        paths=MappingProxyType(paths),
        unknown_files=unknown,
        unreadable=MappingProxyType(unreadable),
        directory=root,
    )


def _known_encoding(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def _read_csv(path: Path, spec: TableSpec, encoding: str) -> pd.DataFrame:
    utf8 = codecs.lookup(encoding).name == "utf-8"
    with path.open(encoding="utf-8-sig" if utf8 else encoding, newline="") as fh:
        header = next(csv.reader(fh), [])
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=True,
    )
    read = pacsv.ReadOptions(encoding="utf8" if utf8 else encoding)
    table = pacsv.read_csv(path, read_options=read, convert_options=convert)
    columns = []
    for i, name in enumerate(table.column_names):
        arr = table.column(i)
        if name in spec.column_names:
            columns.append(parse_text_column(arr, spec.column(name), name=name))
        else:
            columns.append(pd.Series(arr.to_pandas(), name=name, dtype=object))
    if not columns:
        return pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    frame = pd.concat(columns, axis=1)
    frame.columns = pd.Index(table.column_names)
    return frame


def _read_parquet(path: Path, spec: TableSpec) -> pd.DataFrame:
    frame = pq.read_table(path).to_pandas(date_as_object=False)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index(drop=True)
    out = {}
    for i, name in enumerate(frame.columns):
        s = frame.iloc[:, i]
        if name in spec.column_names and not frame.columns.duplicated()[i]:
            coerced = coerce_column(s, spec.column(name))
            # Keep the column as stored when some cell has the wrong type, so validation shows it.
            s = coerced.values if coerced.bad is None else s
        out[i] = s
    result = pd.concat(out.values(), axis=1) if out else pd.DataFrame(index=frame.index)
    result.columns = frame.columns
    return result


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    directory: str | os.PathLike[str],
    *,
    format: TableFormat = "parquet",  # noqa: A002 - the natural name for the option
    dictionary: DataDictionary | None = None,
) -> dict[str, Path]:
    """Write tables to ``<directory>/<table>.<format>`` (overwriting), creating the folder if needed.

    Parameters
    ----------
    tables : Mapping[str, pandas.DataFrame]
        Tables keyed by dictionary table name (not modified; the index is not written).
    directory : str or path-like
        Destination folder.
    format : {"parquet", "csv"}, default "parquet"
        File format. CSV is UTF-8 with ISO dates and empty fields for missing values.
    dictionary : DataDictionary, optional
        Defaults to the packaged dictionary; only its tables can be written.

    Returns
    -------
    dict of str to pathlib.Path
        The file written for each table.

    Raises
    ------
    ConfigurationError
        If ``format`` is not valid, a table name is not in the dictionary, or a value is not a
        DataFrame.
    """
    if format not in FORMATS:
        raise ConfigurationError(f"format={format!r} is not valid; expected one of {', '.join(FORMATS)}")
    dd = load_dictionary() if dictionary is None else dictionary
    for name, df in tables.items():
        if name not in dd:
            raise ConfigurationError(
                f"table {name!r} is not in the data dictionary; valid tables: {', '.join(dd.table_names)}"
            )
        if not isinstance(df, pd.DataFrame):
            raise ConfigurationError(f"tables[{name!r}] must be a pandas DataFrame, got {type(df).__name__}")
    root = _directory(directory, must_exist=False)
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, df in tables.items():
        path = root / f"{name}{_SUFFIX[format]}"
        if format == "csv":
            df.to_csv(path, index=False, encoding="utf-8", date_format="%Y-%m-%d")
        else:
            df.to_parquet(path, index=False)
        written[name] = path
    return written


def validate_directory(
    directory: str | os.PathLike[str],
    *,
    dictionary: DataDictionary | None = None,
    require_all: bool = False,
    encoding: str = "utf-8",
) -> ValidationReport:
    """Read a folder with :func:`read_tables` and validate it (backs ``wellness-research validate DIR``).

    Parameters
    ----------
    directory : str or path-like
        Folder holding ``<table>.csv`` or ``<table>.parquet`` files.
    dictionary : DataDictionary, optional
        Defaults to the packaged dictionary.
    require_all : bool, default False
        Report every dictionary table without a file as ``missing_table``.
    encoding : str, default "utf-8"
        Encoding of the CSV files, see :func:`read_tables`.

    Returns
    -------
    ValidationReport
        Includes values that did not parse (``type``), files that could not be read at all
        (``unreadable_file``), files whose name is not a dictionary table (``unknown_table``)
        and, when the folder holds no table at all, one ``missing_table`` error.

    Raises
    ------
    ConfigurationError
        If ``directory`` is not a folder, or a table is present both as CSV and as Parquet.
    """
    dd = load_dictionary() if dictionary is None else dictionary
    loaded = read_tables(directory, dictionary=dd, encoding=encoding)
    extra = [
        Violation(
            name, None, "unreadable_file", 0, (),
            f"{name}: unreadable_file: {message} (0 row(s) read; the table is not validated)",
        )
        for name, message in loaded.unreadable.items()
    ]
    extra += [
        Violation(
            p.stem, None, "unknown_table", 0, (),
            f"{p.stem}: unknown_table: file {p.name} in {loaded.directory} is not a data dictionary table; "
            f"valid tables: {', '.join(dd.table_names)}",
        )
        for p in loaded.unknown_files
    ]
    if not loaded and not loaded.unreadable and not require_all:
        extra.append(
            Violation(
                "*", None, "missing_table", 0, (),
                f"*: missing_table: no <table>.csv or <table>.parquet file of the data dictionary in {loaded.directory}",
            )
        )
    return _validate(loaded, dictionary=dd, require_all=require_all, extra=tuple(extra))
