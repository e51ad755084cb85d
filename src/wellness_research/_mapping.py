"""A read-only, picklable mapping shared by result objects (synthetic truth, protocols)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["ReadOnlyMapping"]


class ReadOnlyMapping(Mapping[str, Any]):
    """A read-only, picklable view of a dict (``types.MappingProxyType`` cannot be pickled)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ReadOnlyMapping({self._data!r})"
