"""Input tables: the data dictionary, reading and writing extracts, and validation.

The data dictionary (``data_dictionary/*.yaml``) describes every table the package reads; the
validator is generated from it and reports every problem it finds instead of stopping at the first.

>>> from wellness_research.data import load_dictionary, validate_directory
>>> sorted(load_dictionary().tables)[:3]
['health_checkups', 'kihon_checklist', 'ltc_certifications']
"""

from __future__ import annotations

from wellness_research.data.dictionary import (
    ColumnSpec,
    DataDictionary,
    ForeignKey,
    NoOverlap,
    TableCheck,
    TableSpec,
    load_dictionary,
)
from wellness_research.data.io import LoadedTables, read_tables, validate_directory, write_tables
from wellness_research.data.render import render_dictionary
from wellness_research.data.report import RULES, ValidationReport, Violation
from wellness_research.data.validate import validate

__all__ = [
    "ColumnSpec",
    "DataDictionary",
    "ForeignKey",
    "LoadedTables",
    "NoOverlap",
    "RULES",
    "TableCheck",
    "TableSpec",
    "ValidationReport",
    "Violation",
    "load_dictionary",
    "read_tables",
    "render_dictionary",
    "validate",
    "validate_directory",
    "write_tables",
]
