"""The data dictionary: one YAML file per input table, loaded into frozen specs.

The YAML files live in the top-level ``data_dictionary/`` folder and ship with the package through
the ``wellness_research/data_dictionary`` link, so :func:`load_dictionary` reads them with
:mod:`importlib.resources` whether the package is installed or run from the source tree. The format
is described in ``data_dictionary/README.md``; this module checks it strictly when loading, so a
dictionary that loads is internally consistent (every key, rule and reference names a real column).

Privacy classes
---------------
``direct_identifier``
    Values that single out one person or one record of a person: the pseudonymous ``person_id``
    and the record ids (``certification_id``, ``episode_id``, ``contact_id``). They must never
    appear in a published output.
``quasi_identifier``
    Attributes that can re-identify a person in combination: birth month, sex, the district of
    residence, and the dates of moving in or out of the municipality.
``sensitive``
    Content of the kind APPI treats as 要配慮個人情報 or that reveals health, care need or death:
    death date, care level, claim types and amounts, checkup values, Kihon Checklist answers,
    the assessment ``able_to_improve``, the outreach ``risk_flag`` and the episode destination.
``none``
    Everything else: event dates that do not by themselves disclose health status, programme
    administration fields (site ids, modes, referral routes) and app activity counts.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

import pandas as pd
import yaml

from wellness_research.errors import ConfigurationError, DataDictionaryError

__all__ = [
    "CHECK_RULES",
    "COLUMN_TYPES",
    "CheckRule",
    "ColumnSpec",
    "ColumnType",
    "DataDictionary",
    "ForeignKey",
    "NoOverlap",
    "PRIVACY_CLASSES",
    "PrivacyClass",
    "SEVERITIES",
    "Severity",
    "TableCheck",
    "TableSpec",
    "load_dictionary",
]

ColumnType = Literal["string", "integer", "float", "boolean", "date", "month", "category"]
"""Logical column types of the dictionary."""

PrivacyClass = Literal["direct_identifier", "quasi_identifier", "sensitive", "none"]
"""Privacy classes of a column (see the module docstring)."""

CheckRule = Literal["value_order", "multiple_of", "null_when", "within_referenced_period"]
"""Table-level rules that a table's ``checks`` may declare."""

Severity = Literal["error", "warning"]

COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)
PRIVACY_CLASSES: tuple[str, ...] = get_args(PrivacyClass)
CHECK_RULES: tuple[str, ...] = get_args(CheckRule)
SEVERITIES: tuple[str, ...] = get_args(Severity)

_TABLE_KEYS = (
    "table",
    "label_ja",
    "description",
    "source_system",
    "grain",
    "primary_key",
    "foreign_keys",
    "date_order",
    "life_events",
    "no_overlap",
    "checks",
    "columns",
)
_COLUMN_KEYS = (
    "name",
    "label_ja",
    "description",
    "type",
    "unit",
    "codes",
    "range",
    "nullable",
    "source_system",
    "privacy_class",
)
_RANGED_TYPES = ("integer", "float", "date", "month")
_TEMPORAL_TYPES = ("date", "month")
# Parameters each table-level rule needs besides ``rule``, ``columns``, ``severity`` and
# ``description``, and how many columns it takes.
_CHECK_PARAMS: dict[str, tuple[tuple[str, ...], int | None]] = {
    "value_order": ((), 2),
    "multiple_of": (("factor",), 2),
    "null_when": (("when",), None),
    "within_referenced_period": (("references",), 1),
}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table in the data dictionary.

    Attributes
    ----------
    name : str
        Column name, exactly as in the extract.
    label_ja : str
        Japanese label (日本語の項目名).
    description : str
        What the column holds, including what a null means.
    type : {"string", "integer", "float", "boolean", "date", "month", "category"}
        Logical type; ``month`` is a date on the first day of the month.
    unit : str or None
        Unit of a numeric column (``yen``, ``points``, ``mmHg`` ...).
    codes : Mapping[str, str] or None
        For ``category`` columns, the allowed codes and their Japanese labels.
    range : tuple or None
        ``(min, max)`` allowed values, inclusive; either bound may be None. Bounds of date and
        month columns are :class:`pandas.Timestamp`.
    nullable : bool
        Whether missing values are allowed.
    source_system : str
        The system the column is extracted from.
    privacy_class : {"direct_identifier", "quasi_identifier", "sensitive", "none"}
        Privacy class, see :mod:`wellness_research.data.dictionary`.
    """

    name: str
    label_ja: str
    description: str
    type: ColumnType
    unit: str | None
    codes: Mapping[str, str] | None
    range: tuple[Any, Any] | None
    nullable: bool
    source_system: str
    privacy_class: PrivacyClass

    @property
    def is_temporal(self) -> bool:
        """True for ``date`` and ``month`` columns."""
        return self.type in _TEMPORAL_TYPES


@dataclass(frozen=True)
class ForeignKey:
    """Columns whose values must all be found in another table's columns."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class NoOverlap:
    """Closed intervals ``[start, end]`` that must not overlap within a group."""

    group: tuple[str, ...]
    start: str
    end: str


@dataclass(frozen=True)
class TableCheck:
    """A table-level rule declared in a table's ``checks`` list.

    Attributes
    ----------
    rule : {"value_order", "multiple_of", "null_when", "within_referenced_period"}
        ``value_order``: ``columns[0] <= columns[1]`` where both are present.
        ``multiple_of``: ``columns[0] == columns[1] * params["factor"]`` where both are present.
        ``null_when``: each column is null exactly when ``params["when"]["column"]`` takes one of
        the values ``params["when"]["in"]``.
        ``within_referenced_period``: ``columns[0]`` lies in ``[start, end]`` of the row of
        ``params["references"]["table"]`` found through the ``via`` columns (a null ``end`` is
        open).
    columns : tuple of str
        The columns the rule is about.
    severity : {"error", "warning"}
        Whether a breach makes the report fail or only warns.
    description : str
        The rule in words.
    params : Mapping[str, Any]
        Rule-specific parameters, as in the YAML.
    """

    rule: CheckRule
    columns: tuple[str, ...]
    severity: Severity
    description: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class TableSpec:
    """One table of the data dictionary; see ``data_dictionary/README.md`` for each field."""

    name: str
    label_ja: str
    description: str
    source_system: str
    grain: str
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...]
    date_order: tuple[tuple[str, str], ...]
    life_events: tuple[str, ...]
    no_overlap: tuple[NoOverlap, ...]
    checks: tuple[TableCheck, ...]
    columns: tuple[ColumnSpec, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in dictionary order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        """Return the spec of column ``name``.

        Raises
        ------
        ConfigurationError
            If the table has no such column (the message lists the valid names).
        """
        for col in self.columns:
            if col.name == name:
                return col
        raise ConfigurationError(
            f"column {name!r} is not in table {self.name!r}; valid columns: "
            f"{', '.join(self.column_names)}"
        )


@dataclass(frozen=True)
class DataDictionary:
    """All tables of the data dictionary, keyed by table name.

    Tables are in dependency order: a table referenced by a foreign key comes before the tables
    that refer to it (``residents`` first); otherwise alphabetical.
    """

    tables: Mapping[str, TableSpec]
    source: str = ""

    def __iter__(self) -> Iterator[TableSpec]:
        return iter(self.tables.values())

    def __len__(self) -> int:
        return len(self.tables)

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    @property
    def table_names(self) -> tuple[str, ...]:
        """Table names in dictionary order."""
        return tuple(self.tables)

    def table(self, name: str) -> TableSpec:
        """Return the spec of table ``name``.

        Raises
        ------
        ConfigurationError
            If the dictionary has no such table (the message lists the valid names).
        """
        try:
            return self.tables[name]
        except KeyError:
            raise ConfigurationError(
                f"table {name!r} is not in the data dictionary; valid tables: "
                f"{', '.join(self.tables)}"
            ) from None

    def columns_with_privacy(self, privacy_class: PrivacyClass) -> dict[str, list[str]]:
        """Columns of the given privacy class, per table (tables without any are omitted).

        Raises
        ------
        ConfigurationError
            If ``privacy_class`` is not one of :data:`PRIVACY_CLASSES`.
        """
        if privacy_class not in PRIVACY_CLASSES:
            raise ConfigurationError(
                f"privacy_class={privacy_class!r} is not valid; expected one of "
                f"{', '.join(PRIVACY_CLASSES)}"
            )
        out: dict[str, list[str]] = {}
        for spec in self.tables.values():
            names = [c.name for c in spec.columns if c.privacy_class == privacy_class]
            if names:
                out[spec.name] = names
        return out

    def identifier_columns(self) -> dict[str, list[str]]:
        """Columns whose privacy class is ``direct_identifier``, per table."""
        return self.columns_with_privacy("direct_identifier")


def load_dictionary(path: str | os.PathLike[str] | Traversable | None = None) -> DataDictionary:
    """Load and check the data dictionary.

    Parameters
    ----------
    path : str, path-like, Traversable or None, default None
        Folder holding one ``<table>.yaml`` per table. None loads the dictionary shipped with the
        package (``importlib.resources.files("wellness_research") / "data_dictionary"``).

    Returns
    -------
    DataDictionary
        Frozen; tables in dependency order (see :class:`DataDictionary`).

    Raises
    ------
    DataDictionaryError
        If the folder holds no YAML file, or a file is malformed or inconsistent (a missing or
        unknown field, a bad type or privacy class, codes on a non-category column, a reversed
        range, a key or rule naming a column that does not exist, a foreign key to an unknown
        table). The message names the file and the field.

    Examples
    --------
    >>> from wellness_research.data import load_dictionary
    >>> dd = load_dictionary()
    >>> dd.table("residents").primary_key
    ('person_id',)
    """
    if path is None:
        return _packaged_dictionary()
    root: Traversable = path if isinstance(path, Traversable) else Path(path)
    return _load(root)


@functools.cache
def _packaged_dictionary() -> DataDictionary:
    # Immutable, so caching the packaged dictionary is not shared mutable state.
    return _load(importlib.resources.files("wellness_research") / "data_dictionary")


def _load(root: Traversable) -> DataDictionary:
    if not root.is_dir():
        raise DataDictionaryError(f"data dictionary folder {root} does not exist")
    files = sorted((f for f in root.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    if not files:
        raise DataDictionaryError(f"data dictionary folder {root} holds no <table>.yaml file")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    tables: dict[str, TableSpec] = {}
    for f in files:
        try:
            raw = yaml.load(f.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader
        except yaml.YAMLError as exc:
            raise DataDictionaryError(f"{f.name}: not valid YAML: {exc}") from exc
        spec = _parse_table(raw, f.name)
        tables[spec.name] = spec
    _check_references(tables)
    ordered = {name: tables[name] for name in _dependency_order(tables)}
    return DataDictionary(tables=MappingProxyType(ordered), source=str(root))


def _dependency_order(tables: Mapping[str, TableSpec]) -> list[str]:
    """Table names with every referenced table before the tables referring to it, else alphabetical."""
    needs = {name: {fk.ref_table for fk in spec.foreign_keys} - {name} for name, spec in tables.items()}
    order: list[str] = []
    while needs:
        ready = sorted(name for name, deps in needs.items() if not deps - set(order))
        if not ready:
            raise DataDictionaryError(f"foreign keys form a cycle among tables {sorted(needs)}")
        order.append(ready[0])
        del needs[ready[0]]
    return order


def _fail(where: str, msg: str) -> DataDictionaryError:
    return DataDictionaryError(f"{where}: {msg}")


def _str_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"{key} must be a list of column names, got {value!r}")
    return tuple(value)


def _parse_table(raw: Any, fname: str) -> TableSpec:
    if not isinstance(raw, dict):
        raise _fail(fname, "the file must hold a mapping")
    missing = [k for k in _TABLE_KEYS if k not in raw]
    unknown = [k for k in raw if k not in _TABLE_KEYS]
    if missing or unknown:
        raise _fail(fname, f"missing fields {missing}, unknown fields {unknown}")
    name = raw["table"]
    if f"{name}.yaml" != fname:
        raise _fail(fname, f"table {name!r} must be stored in {name}.yaml")
    for key in ("label_ja", "description", "source_system", "grain"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise _fail(fname, f"{key} must be a non-empty string")
    if not isinstance(raw["columns"], list) or not raw["columns"]:
        raise _fail(fname, "columns must be a non-empty list")
    columns = tuple(_parse_column(c, f"{fname} column #{i + 1}") for i, c in enumerate(raw["columns"]))
    names = [c.name for c in columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _fail(fname, f"duplicate column names {dupes}")
    types = {c.name: c.type for c in columns}

    def need(cols: tuple[str, ...], key: str, temporal: bool = False) -> None:
        for c in cols:
            if c not in types:
                raise _fail(fname, f"{key} names column {c!r}, which the table does not have")
            if temporal and types[c] not in _TEMPORAL_TYPES:
                raise _fail(fname, f"{key} names column {c!r} of type {types[c]}, not date or month")

    primary_key = _str_list(raw["primary_key"], fname, "primary_key")
    if not primary_key:
        raise _fail(fname, "primary_key must name at least one column")
    need(primary_key, "primary_key")

    foreign_keys = []
    for fk in raw["foreign_keys"] or []:
        try:
            cols = _str_list(fk["columns"], fname, "foreign_keys.columns")
            ref = fk["references"]
            ref_cols = _str_list(ref["columns"], fname, "foreign_keys.references.columns")
            ref_table = ref["table"]
        except (KeyError, TypeError) as exc:
            raise _fail(fname, f"foreign key {fk!r} needs columns and references.{{table, columns}}") from exc
        need(cols, "foreign_keys")
        if len(cols) != len(ref_cols):
            raise _fail(fname, f"foreign key {cols} and its references {ref_cols} differ in length")
        foreign_keys.append(ForeignKey(columns=cols, ref_table=str(ref_table), ref_columns=ref_cols))

    date_order = []
    for pair in raw["date_order"] or []:
        cols = _str_list(pair, fname, "date_order")
        if len(cols) != 2:
            raise _fail(fname, f"date_order entry {pair!r} must name two columns")
        need(cols, "date_order", temporal=True)
        date_order.append((cols[0], cols[1]))

    life_events = _str_list(raw["life_events"] or [], fname, "life_events")
    need(life_events, "life_events", temporal=True)

    no_overlap = []
    for item in raw["no_overlap"] or []:
        try:
            group = _str_list(item["group"], fname, "no_overlap.group")
            start, end = item["start"], item["end"]
        except (KeyError, TypeError) as exc:
            raise _fail(fname, f"no_overlap entry {item!r} needs group, start and end") from exc
        need(group, "no_overlap.group")
        need((start, end), "no_overlap", temporal=True)
        no_overlap.append(NoOverlap(group=group, start=start, end=end))

    checks = tuple(_parse_check(c, fname, need) for c in raw["checks"] or [])
    return TableSpec(
        name=name,
        label_ja=raw["label_ja"],
        description=raw["description"],
        source_system=raw["source_system"],
        grain=raw["grain"],
        primary_key=primary_key,
        foreign_keys=tuple(foreign_keys),
        date_order=tuple(date_order),
        life_events=life_events,
        no_overlap=tuple(no_overlap),
        checks=checks,
        columns=columns,
    )


def _parse_check(raw: Any, fname: str, need: Any) -> TableCheck:
    if not isinstance(raw, dict) or raw.get("rule") not in CHECK_RULES:
        raise _fail(fname, f"check {raw!r} must be a mapping whose rule is one of {', '.join(CHECK_RULES)}")
    rule = raw["rule"]
    extra, n_cols = _CHECK_PARAMS[rule]
    base = ("rule", "columns", "severity", "description")
    missing = [k for k in (*base, *extra) if k not in raw]
    unknown = [k for k in raw if k not in (*base, *extra)]
    if missing or unknown:
        raise _fail(fname, f"check {rule}: missing fields {missing}, unknown fields {unknown}")
    cols = _str_list(raw["columns"], fname, f"check {rule} columns")
    if n_cols is not None and len(cols) != n_cols:
        raise _fail(fname, f"check {rule} takes {n_cols} column(s), got {list(cols)}")
    if not cols:
        raise _fail(fname, f"check {rule} must name at least one column")
    need(cols, f"check {rule}")
    if raw["severity"] not in SEVERITIES:
        raise _fail(fname, f"check {rule}: severity must be one of {SEVERITIES}, got {raw['severity']!r}")
    params = {k: raw[k] for k in extra}
    if rule == "multiple_of" and not isinstance(params["factor"], (int, float)):
        raise _fail(fname, f"check multiple_of: factor must be a number, got {params['factor']!r}")
    if rule == "null_when":
        when = params["when"]
        if not isinstance(when, dict) or set(when) != {"column", "in"} or not isinstance(when["in"], list):
            raise _fail(fname, f"check null_when: when must be {{column, in: [values]}}, got {when!r}")
        need((when["column"],), "check null_when.when")
        params["when"] = MappingProxyType({"column": when["column"], "in": tuple(when["in"])})
    if rule == "within_referenced_period":
        ref = params["references"]
        if not isinstance(ref, dict) or set(ref) != {"table", "via", "start", "end"}:
            raise _fail(fname, f"check within_referenced_period: references must be {{table, via, start, end}}, got {ref!r}")
        via = _str_list(ref["via"], fname, "check within_referenced_period via")
        need(via, "check within_referenced_period.via")
        params["references"] = MappingProxyType({**ref, "via": via})
    return TableCheck(
        rule=rule,
        columns=cols,
        severity=raw["severity"],
        description=str(raw["description"]),
        params=MappingProxyType(params),
    )


def _parse_column(raw: Any, where: str) -> ColumnSpec:
    if not isinstance(raw, dict):
        raise _fail(where, "each column must be a mapping")
    if isinstance(raw.get("name"), str):
        where = f"{where.split(' column #')[0]} column {raw['name']!r}"
    missing = [k for k in _COLUMN_KEYS if k not in raw]
    unknown = [k for k in raw if k not in _COLUMN_KEYS]
    if missing or unknown:
        raise _fail(where, f"missing fields {missing}, unknown fields {unknown}")
    for key in ("name", "label_ja", "description", "source_system"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise _fail(where, f"{key} must be a non-empty string")
    ctype = raw["type"]
    if ctype not in COLUMN_TYPES:
        raise _fail(where, f"type {ctype!r} is not one of {', '.join(COLUMN_TYPES)}")
    if raw["privacy_class"] not in PRIVACY_CLASSES:
        raise _fail(where, f"privacy_class {raw['privacy_class']!r} is not one of {', '.join(PRIVACY_CLASSES)}")
    if not isinstance(raw["nullable"], bool):
        raise _fail(where, f"nullable must be true or false, got {raw['nullable']!r}")
    if raw["unit"] is not None and not isinstance(raw["unit"], str):
        raise _fail(where, f"unit must be a string or null, got {raw['unit']!r}")
    codes = raw["codes"]
    if ctype == "category":
        if not isinstance(codes, dict) or not codes:
            raise _fail(where, "a category column needs a non-empty codes mapping {code: 日本語ラベル}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in codes.items()):
            raise _fail(where, "codes must map string codes to string labels (quote codes such as 'yes' or '01')")
        codes = MappingProxyType(dict(codes))
    elif codes is not None:
        raise _fail(where, f"codes are only allowed on category columns, not on {ctype}")
    rng = raw["range"]
    if rng is not None:
        if ctype not in _RANGED_TYPES:
            raise _fail(where, f"range is only allowed on {', '.join(_RANGED_TYPES)} columns, not on {ctype}")
        if not isinstance(rng, list) or len(rng) != 2 or rng == [None, None]:
            raise _fail(where, f"range must be [min, max] with at least one bound, got {rng!r}")
        rng = tuple(_parse_bound(b, ctype, where) for b in rng)
        if rng[0] is not None and rng[1] is not None and rng[0] > rng[1]:
            raise _fail(where, f"range {raw['range']!r} has min > max")
    return ColumnSpec(
        name=raw["name"],
        label_ja=raw["label_ja"],
        description=raw["description"],
        type=ctype,
        unit=raw["unit"],
        codes=codes,
        range=rng,
        nullable=raw["nullable"],
        source_system=raw["source_system"],
        privacy_class=raw["privacy_class"],
    )


def _parse_bound(bound: Any, ctype: str, where: str) -> Any:
    if bound is None:
        return None
    if ctype in _TEMPORAL_TYPES:
        try:
            ts = pd.Timestamp(bound)
        except (ValueError, TypeError) as exc:
            raise _fail(where, f"range bound {bound!r} is not a date") from exc
        if ctype == "month" and ts.day != 1:
            raise _fail(where, f"range bound {bound!r} of a month column must be a first day of month")
        return ts
    if isinstance(bound, bool) or not isinstance(bound, (int, float)):
        raise _fail(where, f"range bound {bound!r} is not a number")
    if ctype == "integer" and not float(bound).is_integer():
        raise _fail(where, f"range bound {bound!r} of an integer column is not a whole number")
    return bound


def _check_references(tables: Mapping[str, TableSpec]) -> None:
    for spec in tables.values():
        for fk in spec.foreign_keys:
            ref = tables.get(fk.ref_table)
            if ref is None:
                raise _fail(f"{spec.name}.yaml", f"foreign key to unknown table {fk.ref_table!r}")
            for c in fk.ref_columns:
                if c not in ref.column_names:
                    raise _fail(f"{spec.name}.yaml", f"foreign key to {fk.ref_table}.{c}, which does not exist")
        for chk in spec.checks:
            if chk.rule == "within_referenced_period":
                ref_spec = tables.get(chk.params["references"]["table"])
                if ref_spec is None:
                    raise _fail(f"{spec.name}.yaml", f"check {chk.rule} references unknown table")
                r = chk.params["references"]
                for c in (*r["via"], r["start"], r["end"]):
                    if c not in ref_spec.column_names:
                        raise _fail(f"{spec.name}.yaml", f"check {chk.rule} references {ref_spec.name}.{c}, which does not exist")
