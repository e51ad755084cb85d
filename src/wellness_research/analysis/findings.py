"""Headline findings of a protocol run and their ``findings.json`` (issue #6).

A :class:`Finding` is one headline estimate: ``name``, ``estimate``, ``conf_low``, ``conf_high``,
``n`` and, on synthetic data, ``truth`` (the true value it targets), plus ``unit`` and a
``description`` in words. :func:`write_findings` writes a list of them as ``findings.json`` so that
fiscal years and municipalities can be compared and pooled by a program; :func:`read_findings`
reads it back.

File format: a JSON list of objects with exactly the keys of :data:`FINDING_KEYS`
(``name, estimate, conf_low, conf_high, n, truth, unit, description``, in that order); numbers are
JSON numbers written with Python's shortest round-trip representation, a missing or NaN value is
``null``, non-ASCII text is written as UTF-8, two-space indentation and a final newline. The same
findings therefore always give the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wellness_research.errors import ConfigurationError, DataValidationError

__all__ = ["DISPLAY_DECIMALS", "FINDING_KEYS", "Finding", "findings_frame", "read_findings", "write_findings"]

#: The keys of every record of ``findings.json``, in the order they are written.
FINDING_KEYS: tuple[str, ...] = ("name", "estimate", "conf_low", "conf_high", "n", "truth", "unit", "description")


def _number(value: Any, field_name: str, name: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigurationError(f"Finding {name!r}: {field_name}={value!r} is not a number (or None).")
    return float(value)


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else float(value)


@dataclass(frozen=True)
class Finding:
    """One headline estimate of a protocol run.

    Parameters
    ----------
    name : str
        Identifier (the protocol's ``findings[].name``), e.g. ``"risk_difference_3y"``.
    estimate, conf_low, conf_high : float
        Point estimate and confidence (or uncertainty) interval; NaN when there is none.
    n : int or None
        Persons (or draws, units: see ``description``) the estimate rests on.
    truth : float or None, default None
        On synthetic data, the true value the estimate targets (None on real data, or when the
        generator has no truth for it).
    unit : str, default ""
        E.g. ``"proportion"``, ``"ratio"``, ``"yen per person-month"``.
    description : str, default ""
        What the number is, in words a council member can read.

    Examples
    --------
    >>> f = Finding("risk_difference_3y", -0.02, -0.05, 0.01, 400, truth=-0.018, unit="proportion")
    >>> f.covers
    True
    >>> f.to_dict()["conf_high"]
    0.01
    """

    name: str
    estimate: float
    conf_low: float
    conf_high: float
    n: int | None
    truth: float | None = None
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"Finding: name={self.name!r} is not valid; use a non-empty string.")
        for f in ("estimate", "conf_low", "conf_high"):
            object.__setattr__(self, f, _number(getattr(self, f), f, self.name))
        if self.truth is not None:
            t = _number(self.truth, "truth", self.name)
            object.__setattr__(self, "truth", None if math.isnan(t) else t)
        if self.n is not None:
            if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 0:
                raise ConfigurationError(f"Finding {self.name!r}: n={self.n!r} is not valid; use an integer >= 0 "
                                         "or None.")
            object.__setattr__(self, "n", int(self.n))
        for f in ("unit", "description"):
            if not isinstance(getattr(self, f), str):
                raise ConfigurationError(f"Finding {self.name!r}: {f}={getattr(self, f)!r} must be a string.")

    @property
    def covers(self) -> bool | None:
        """Whether ``[conf_low, conf_high]`` contains ``truth`` (None without a truth or an interval)."""
        if self.truth is None or math.isnan(self.conf_low) or math.isnan(self.conf_high):
            return None
        return bool(self.conf_low <= self.truth <= self.conf_high)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: exactly :data:`FINDING_KEYS`, NaN as None."""
        return {
            "name": self.name,
            "estimate": _json_number(self.estimate),
            "conf_low": _json_number(self.conf_low),
            "conf_high": _json_number(self.conf_high),
            "n": self.n,
            "truth": None if self.truth is None else _json_number(self.truth),
            "unit": self.unit,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Finding:
        """Build a finding from a JSON record (``unit`` and ``description`` optional)."""
        if not isinstance(record, Mapping):
            raise DataValidationError(f"findings: a record must be an object, got {type(record).__name__}.")
        required = FINDING_KEYS[:6]
        missing = [k for k in required if k not in record]
        unknown = sorted(set(record) - set(FINDING_KEYS))
        if missing or unknown:
            raise DataValidationError(f"findings: record {record.get('name', '?')!r} has missing key(s) {missing} "
                                      f"or unknown key(s) {unknown}; the keys are {list(FINDING_KEYS)}.")
        return cls(name=record["name"], estimate=record["estimate"], conf_low=record["conf_low"],
                   conf_high=record["conf_high"], n=record["n"], truth=record["truth"],
                   unit=record.get("unit", ""), description=record.get("description", ""))


#: Decimal places shown per unit when a findings table is displayed (``findings_frame(..., rounded=True)``):
#: yen to the yen, risks and probabilities to 4 places, ratios to 3. Displayed numbers then do not move with
#: the last bits of iterative solvers (fixed-effect demeaning, logit fits), so renderings stay byte-identical.
DISPLAY_DECIMALS = {"yen": 0, "proportion": 4, "probability": 4, "ratio": 3}


def findings_frame(findings: Iterable[Finding], *, rounded: bool = False) -> pd.DataFrame:
    """The findings as a table: the columns of :data:`FINDING_KEYS` plus ``covers`` (truth in the CI).

    With ``rounded=True`` the numbers are rounded for display by unit (:data:`DISPLAY_DECIMALS`; other
    units to 4 places); ``findings.json`` always keeps full precision.

    Examples
    --------
    >>> findings_frame([Finding("a", 1.0, 0.5, 1.5, 10, truth=2.0)])[["name", "covers"]].to_dict("records")
    [{'name': 'a', 'covers': False}]
    >>> findings_frame([Finding("c", -904.4, -17800.6, 15990.2, 10, unit="yen")], rounded=True)["estimate"].tolist()
    [-904.0]
    """
    items = list(findings)
    rows = [{**f.to_dict(), "covers": f.covers} for f in items]
    out = pd.DataFrame(rows, columns=[*FINDING_KEYS, "covers"])
    for c in ("estimate", "conf_low", "conf_high", "truth"):
        out[c] = out[c].astype(float)
        if rounded:
            places = out["unit"].map(DISPLAY_DECIMALS).fillna(4).astype(int)
            out[c] = [round(v, d) for v, d in zip(out[c], places)]
    out["n"] = out["n"].astype("Int64")
    return out


def write_findings(findings: Iterable[Finding], path: str | Path) -> Path:
    """Write ``findings.json``: a list of records with the keys of :data:`FINDING_KEYS`.

    The output is deterministic (same findings, same bytes): keys in the fixed order, shortest
    round-trip floats, NaN as ``null``, UTF-8, two-space indentation, a final newline.

    Parameters
    ----------
    findings : iterable of Finding
        In the order to be written; names must be unique.
    path : str or pathlib.Path
        The file (its folder must exist).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ConfigurationError
        An item is not a :class:`Finding`, or two findings share a name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "findings.json"
    >>> _ = write_findings([Finding("x", 0.5, float("nan"), None, 3)], p)
    >>> read_findings(p)[0].conf_high != read_findings(p)[0].conf_high      # NaN back from null
    True
    """
    items = list(findings)
    bad = [type(f).__name__ for f in items if not isinstance(f, Finding)]
    if bad:
        raise ConfigurationError(f"write_findings: every item must be a Finding; got {bad[:3]}.")
    names = [f.name for f in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigurationError(f"write_findings: finding names must be unique; repeated: {dup}.")
    text = json.dumps([f.to_dict() for f in items], ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    out = Path(path)
    out.write_bytes(text.encode("utf-8"))
    return out


def read_findings(path: str | Path) -> list[Finding]:
    """Read a ``findings.json`` written by :func:`write_findings` (``null`` numbers come back as NaN).

    Raises
    ------
    DataValidationError
        The file is not a JSON list of finding records.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise DataValidationError(f"read_findings: {path} must hold a JSON list; got {type(data).__name__}.")
    return [Finding.from_dict(r) for r in data]
