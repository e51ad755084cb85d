"""Parameters of the synthetic municipality: tested data with value, unit, source and evidence tag.

The defaults live in ``defaults.yaml`` beside this module and are read through
:mod:`importlib.resources`. Every entry carries its evidence tag from ``reference/DOMAIN.md``
(S sourced, D derived, E estimate, M unconfirmed), so a reader can tell a sourced figure from a
placeholder. :func:`load_parameters` validates the file; :meth:`SyntheticParameters.replace`
returns a copy with some values changed (for sensitivity analyses), leaving the defaults untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from ..errors import ConfigurationError

__all__ = ["ALLOWED_TAGS", "Parameter", "SyntheticParameters", "load_parameters"]

#: Evidence tags of reference/DOMAIN.md, including the combined forms it uses.
ALLOWED_TAGS: tuple[str, ...] = ("D", "D/E", "E", "E/M", "M", "S", "S/E")
_REQUIRED_KEYS = ("value", "unit", "source", "tag", "description")


@dataclass(frozen=True)
class Parameter:
    """One model parameter with its provenance.

    Attributes
    ----------
    name : str
        ``section.key`` as in ``defaults.yaml``.
    value : Any
        The value (number, list or mapping, as in the YAML).
    unit : str
        Unit of the value.
    source : str
        Where the number comes from (publication, DOMAIN.md section, or "assumption").
    tag : str
        Evidence tag, one of :data:`ALLOWED_TAGS`.
    description : str
        What the parameter does in the model.
    """

    name: str
    value: Any
    unit: str
    source: str
    tag: str
    description: str


class SyntheticParameters(Mapping[str, Parameter]):
    """Read-only mapping ``name -> Parameter`` of the synthetic municipality's parameters.

    Parameters
    ----------
    entries : Mapping[str, Parameter]
        The parameters, keyed by ``section.key``.

    Examples
    --------
    >>> params = load_parameters()
    >>> params["soft.sites_city"].value
    50
    >>> params.value("population.max_age_years")
    105
    """

    def __init__(self, entries: Mapping[str, Parameter]) -> None:
        self._entries = dict(sorted(entries.items()))

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigurationError(
                f"unknown synthetic parameter {name!r}; valid names are listed by "
                f"list(load_parameters()), e.g. {next(iter(self._entries))!r}."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def value(self, name: str) -> Any:
        """A deep copy of the value of parameter ``name`` (so callers cannot alter the set)."""
        return copy.deepcopy(self[name].value)

    def replace(self, **values: Any) -> SyntheticParameters:
        """Copy with some values replaced; keys use ``__`` for the dot (``soft__sites_city=20``).

        Raises
        ------
        ConfigurationError
            If a name is not a known parameter.
        """
        entries = dict(self._entries)
        for key, new in values.items():
            name = key.replace("__", ".")
            old = self[name]
            entries[name] = Parameter(
                name, copy.deepcopy(new), old.unit, f"overridden by caller (default: {old.source})",
                "E", old.description,
            )
        return SyntheticParameters(entries)

    def tidy(self) -> Any:
        """One row per parameter: name, value, unit, tag, source, description (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"name": p.name, "value": repr(p.value), "unit": p.unit, "tag": p.tag,
                 "source": p.source, "description": p.description}
                for p in self._entries.values()
            ]
        )


def load_parameters() -> SyntheticParameters:
    """Load and validate the default parameters shipped in ``synthetic/defaults.yaml``.

    Returns
    -------
    SyntheticParameters

    Raises
    ------
    ConfigurationError
        If an entry lacks one of value, unit, source, tag, description, or has an unknown tag.
    """
    text = resources.files("wellness_research.synthetic").joinpath("defaults.yaml").read_text("utf-8")
    return parse_parameters(yaml.safe_load(text))


def parse_parameters(document: Mapping[str, Any]) -> SyntheticParameters:
    """Validate a parameters document (the parsed YAML) and build :class:`SyntheticParameters`."""
    if not isinstance(document, Mapping):
        raise ConfigurationError("the synthetic parameters document must be a mapping of sections.")
    entries: dict[str, Parameter] = {}
    for section, body in document.items():
        if not isinstance(body, Mapping):
            raise ConfigurationError(f"parameter section {section!r} must be a mapping; got {body!r}.")
        for key, entry in body.items():
            name = f"{section}.{key}"
            if not isinstance(entry, Mapping):
                raise ConfigurationError(f"parameter {name!r} must be a mapping with {_REQUIRED_KEYS}.")
            missing = [k for k in _REQUIRED_KEYS if k not in entry]
            if missing:
                raise ConfigurationError(f"parameter {name!r} lacks {missing}; every entry needs {_REQUIRED_KEYS}.")
            if entry["tag"] not in ALLOWED_TAGS:
                raise ConfigurationError(
                    f"parameter {name!r} has tag {entry['tag']!r}; valid tags are {ALLOWED_TAGS}."
                )
            for k in ("unit", "source", "description"):
                if not isinstance(entry[k], str) or not entry[k].strip():
                    raise ConfigurationError(f"parameter {name!r}: {k} must be a non-empty string.")
            entries[name] = Parameter(
                name, entry["value"], entry["unit"], entry["source"], entry["tag"], entry["description"]
            )
    return SyntheticParameters(entries)
