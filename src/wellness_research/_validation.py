"""Argument checks shared by the public entry points (one message format everywhere)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .errors import ConfigurationError

__all__ = ["require_table_mapping"]


def require_table_mapping(tables: object, *, where: str) -> Mapping[str, pd.DataFrame]:
    """Check that ``tables`` maps table names to DataFrames; name the caller and the culprit."""
    if not isinstance(tables, Mapping):
        raise ConfigurationError(
            f"{where}: tables must be a mapping {{name: DataFrame}}, got {type(tables).__name__}."
        )
    for name, frame in tables.items():
        if not isinstance(frame, pd.DataFrame):
            raise ConfigurationError(
                f"{where}: tables[{name!r}] must be a pandas DataFrame, got {type(frame).__name__}."
            )
    return tables
