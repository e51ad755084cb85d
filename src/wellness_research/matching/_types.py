"""Option sets of :func:`~wellness_research.matching.match` as ``Literal`` aliases, checked once.

The aliases are the single source of the valid values: :func:`check_option` reads them with
:func:`typing.get_args`, so an error message always lists exactly what is accepted.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from ..errors import ConfigurationError

__all__ = ["Discard", "Distance", "Method", "Order", "check_option"]

Method = Literal["nearest", "optimal", "full", "exact", "cem"]
Distance = Literal["logit", "probability", "gbm", "mahalanobis", "given"]
Order = Literal["largest", "smallest", "random", "data"]
Discard = Literal["none", "treated", "control", "both"]


def check_option(value: Any, alias: Any, *, name: str, where: str = "match") -> Any:
    """Return ``value`` if it is one of the values of the ``Literal`` ``alias``.

    Raises
    ------
    ConfigurationError
        Naming the caller, the parameter, the value received and the valid values.

    Examples
    --------
    >>> check_option("nearest", Method, name="method")
    'nearest'
    """
    valid = get_args(alias)
    if not isinstance(value, str) or value not in valid:
        raise ConfigurationError(
            f"{where}: {name}={value!r} is not valid; expected one of "
            + ", ".join(repr(v) for v in valid)
            + "."
        )
    return value
