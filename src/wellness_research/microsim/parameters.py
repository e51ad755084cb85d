"""Default parameters of the care-level projection: tested data with unit, range, source and tag.

The defaults live in ``defaults.yaml`` beside this module (read through :mod:`importlib.resources`).
Every entry carries a value, unit, valid range, source and the [S]/[D]/[E]/[M] evidence tag of
``reference/DOMAIN.md``. :func:`load_parameters` validates the file and builds the model tables
(:class:`Parameters`); :meth:`Parameters.replace` returns a re-validated copy with some values changed
(for sensitivity analyses and probabilistic draws).

Mortality rescaling
-------------------
The life table describes the whole population, certified or not. With state hazard ratios ``HR_k``
(``HR_0 = 1`` for non-certified) applied to a baseline ``mu0``, the population hazard at age ``a`` and
sex ``s`` is ``mu0(a, s) * sum_k pi_k(a, s) HR_k`` for a state mix ``pi``. The baseline is therefore

    mu0(a, s) = mu_LT(a, s) / sum_k pi_k(a, s) HR_k,

with ``mu_LT = -log(1 - qx)`` and the *reference mix* ``pi_0 = 1 - p(a, s)``, ``pi_k = p(a, s) m_k``
(``p`` the certification prevalence of the age band, ``m`` the prevalent level mix). A population at the
reference mix then dies exactly at the life-table rate; applying ``HR_k`` to ``mu_LT`` itself would
overstate deaths (by about half in the first year, DOMAIN.md §2.4, §9).

Age band x sex tables
---------------------
``transitions.annual_matrix_percent``, ``transitions.decertification_per_year`` and
``certification.entry_level_mix`` take either one value for every age and sex (a 7 x 7 matrix, a list
of 7; *broadcast*, as the shipped defaults, whose sources give no age-specific values) or a mapping
``{bands: ["65-74", "75+"], male: [value per band], female: [value per band], all: value}`` (bands as
``"lo-hi"``/``"lo+"``; ages below the first band use the first; ``all``, optional, is the pooled value
reported as :attr:`Parameters.annual_matrix` / :attr:`Parameters.entry_mix`, by default the mean of the
bands). The engines read the row of each person's sex, age and state (:attr:`annual_matrix_cells`,
:attr:`entry_mix_cells`).

Frailty (optional)
------------------
With ``project(..., frailty=True)`` the independent state is split into robust / pre-frail / frail by
Kihon Checklist total (the optional ``frailty`` section: cut-offs, hazard ratios ``r_g`` of first
certification, a reference mix ``pi_g(a, s)`` among non-certified persons and an annual transition
matrix between the groups). As for mortality, the multipliers are rescaled so that the reference mix
reproduces the age x sex incidence: ``lambda_g(a, s) = lambda(a, s) r_g / sum_h pi_h(a, s) r_h``
(:attr:`frailty_cert_multiplier`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import ConfigurationError

__all__ = [
    "FRAILTY_GROUPS",
    "LEVELS",
    "STATES",
    "ParameterEntry",
    "Parameters",
    "load_parameters",
]

#: Care levels in order (state codes 1..7).
LEVELS: tuple[str, ...] = ("要支援1", "要支援2", "要介護1", "要介護2", "要介護3", "要介護4", "要介護5")
#: Model states in code order: 0 independent, 1..7 the levels, 8 dead.
STATES: tuple[str, ...] = ("independent", *LEVELS, "dead")
_ALLOWED_TAGS = ("D", "D/E", "E", "E/M", "M", "S", "S/E")
_REQUIRED = ("value", "unit", "range", "source", "tag", "description")
_REQUIRED_NAMES = (
    "model.min_age", "model.max_age", "certification.incidence_by_age_sex",
    "certification.entry_level_mix", "certification.prevalence_by_age_sex",
    "certification.level_mix_prevalent", "transitions.annual_matrix_percent",
    "transitions.decertification_per_year", "mortality.qx_2023", "mortality.qx_cap",
    "mortality.level_hazard_ratio", "ltc_costs.cost_per_recipient_by_level",
    "ltc_costs.recipient_share_by_level", "ltc_costs.unit_price_factor",
    "medical_costs.per_capita_fy2014", "medical_costs.uplift_from_fy2014",
    "medical_costs.certified_multiplier", "economics.discount_rate",
)
#: the optional frailty section (all four entries or none)
_FRAILTY_NAMES = (
    "frailty.kcl_cutoffs", "frailty.certification_hazard_ratio", "frailty.reference_mix",
    "frailty.annual_transition_matrix",
)
#: Frailty groups of the independent state, by Kihon Checklist total (codes 0..2 within ``independent``).
FRAILTY_GROUPS: tuple[str, ...] = ("robust", "pre-frail", "frail")


@dataclass(frozen=True)
class ParameterEntry:
    """One parameter with its provenance (``section.key`` name, value, unit, range, source, tag)."""

    name: str
    value: Any
    unit: str
    range: tuple[float, float]
    source: str
    tag: str
    description: str


def _numbers(value: Any) -> list[float]:
    """Every number inside a value (lists and mappings are walked; strings are skipped)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, Mapping):
        return [x for k, v in value.items() if k not in ("ages", "bands") for x in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    return []


@dataclass(frozen=True)
class Parameters(Mapping[str, ParameterEntry]):
    """Validated parameters and the model tables built from them (read-only).

    The tables are indexed by sex (0 = M, 1 = F), age row ``age - min_age`` (``min_age``..``max_age``)
    and state code (0 independent, 1..7 要支援1..要介護5, 8 dead; see :data:`STATES`).

    Attributes
    ----------
    entries : Mapping[str, ParameterEntry]
        The raw entries by ``section.key``.
    ages : numpy.ndarray
        ``(n_ages,)`` ages of the table rows.
    incidence : numpy.ndarray
        ``(2, n_ages)`` hazard of first certification per person-year.
    entry_mix : numpy.ndarray
        ``(7,)`` level at first certification (pooled over ages and sexes; see the module docstring).
    annual_matrix : numpy.ndarray
        ``(8, 8)`` annual transitions among the living states given survival, pooled over ages and
        sexes; row 0 (independent) is the identity row because first certification is modelled by
        ``incidence``.
    entry_mix_cells : numpy.ndarray
        ``(2, n_ages, 7)`` entry mix by sex and age (what the engines use).
    annual_matrix_cells : numpy.ndarray
        ``(2, n_ages, 8, 8)`` annual matrix by sex and age (what the engines use).
    life_table_hazard : numpy.ndarray
        ``(2, n_ages)`` whole-population death hazard per year, ``-log(1 - qx)``.
    level_hr : numpy.ndarray
        ``(8,)`` death hazard ratios of the living states.
    reference_mix : numpy.ndarray
        ``(2, n_ages, 8)`` reference state mix used by the rescaling.
    death_baseline : numpy.ndarray
        ``(2, n_ages)`` rescaled baseline hazard ``mu0`` (see the module docstring).
    ltc_cost_month : numpy.ndarray
        ``(9,)`` LTC 費用額 per person-month by state (0 for independent and dead).
    medical_cost_year : numpy.ndarray
        ``(2, n_ages, 9)`` medical cost per person-year by sex, age and state (0 for dead).
    discount_rate : float
        Per year.
    frailty_cert_multiplier : numpy.ndarray or None
        ``(2, n_ages, 3)`` rescaled multipliers of the incidence by frailty group (robust, pre-frail,
        frail); ``None`` without a ``frailty`` section.
    frailty_reference_mix : numpy.ndarray or None
        ``(2, n_ages, 3)`` reference mix of the frailty groups among non-certified persons.
    frailty_annual_matrix : numpy.ndarray or None
        ``(3, 3)`` annual transitions between the frailty groups.
    frailty_cutoffs : tuple of int or None
        Lowest KCL totals of pre-frail and frail.

    Examples
    --------
    >>> p = load_parameters()
    >>> p["economics.discount_rate"].value
    0.02
    >>> p.incidence.shape, p.annual_matrix.shape
    ((2, 41), (8, 8))
    >>> round(float(p.ltc_cost_month[3]), 1)  # 要介護1: 115,000 x 0.85
    97750.0
    """

    entries: Mapping[str, ParameterEntry] = field(repr=False)
    ages: np.ndarray = field(repr=False)
    incidence: np.ndarray = field(repr=False)
    entry_mix: np.ndarray = field(repr=False)
    annual_matrix: np.ndarray = field(repr=False)
    life_table_hazard: np.ndarray = field(repr=False)
    level_hr: np.ndarray = field(repr=False)
    reference_mix: np.ndarray = field(repr=False)
    death_baseline: np.ndarray = field(repr=False)
    ltc_cost_month: np.ndarray = field(repr=False)
    medical_cost_year: np.ndarray = field(repr=False)
    discount_rate: float = 0.02
    entry_mix_cells: np.ndarray | None = field(default=None, repr=False)
    annual_matrix_cells: np.ndarray | None = field(default=None, repr=False)
    frailty_cert_multiplier: np.ndarray | None = field(default=None, repr=False)
    frailty_reference_mix: np.ndarray | None = field(default=None, repr=False)
    frailty_annual_matrix: np.ndarray | None = field(default=None, repr=False)
    frailty_cutoffs: tuple[int, int] | None = None

    @property
    def has_frailty(self) -> bool:
        """Whether the parameters have a ``frailty`` section (needed by ``project(frailty=True)``)."""
        return self.frailty_cert_multiplier is not None

    # Mapping protocol over the entries ------------------------------------------------------
    def __getitem__(self, name: str) -> ParameterEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise ConfigurationError(
                f"unknown microsim parameter {name!r}; valid names are {sorted(self.entries)}."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    @property
    def min_age(self) -> int:
        """Youngest age of the tables."""
        return int(self.ages[0])

    @property
    def max_age(self) -> int:
        """Oldest age of the tables (older persons use this row)."""
        return int(self.ages[-1])

    def value(self, name: str) -> Any:
        """A deep copy of the value of parameter ``name``."""
        return copy.deepcopy(self[name].value)

    def replace(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Parameters:
        """A re-validated copy with some values replaced.

        Parameters
        ----------
        values : Mapping[str, Any], optional
            ``{"section.key": new_value}``.
        **kwargs
            The same with ``__`` for the dot (``economics__discount_rate=0.03``).

        Raises
        ------
        ConfigurationError
            Unknown name, or a value outside its valid range or of the wrong shape.

        Examples
        --------
        >>> load_parameters().replace(economics__discount_rate=0.03).discount_rate
        0.03
        """
        changes = dict(values or {})
        changes.update({k.replace("__", "."): v for k, v in kwargs.items()})
        new = {name: dict(vars(self.entries[name])) for name in changes if name in self.entries}
        for name, v in changes.items():
            if name not in new:
                raise ConfigurationError(
                    f"unknown microsim parameter {name!r}; valid names are {sorted(self.entries)}."
                )
            new[name]["value"] = copy.deepcopy(v)
            new[name]["source"] = f"overridden by caller (default: {self.entries[name].source})"
        entries = {n: (ParameterEntry(**new[n]) if n in changes else e) for n, e in self.entries.items()}
        return _build(entries, previous=self, changed=frozenset(changes))

    def replace_entries(self, updates: Mapping[str, Mapping[str, Any]]) -> Parameters:
        """A re-validated copy with whole entries updated (value and provenance together).

        Unlike :meth:`replace`, which marks a changed value "overridden by caller", this sets the
        fields given, e.g. the value, source and tag of a parameter estimated from a city's own data
        (:func:`~wellness_research.microsim.estimate.estimate_parameters`).

        Parameters
        ----------
        updates : Mapping[str, Mapping[str, Any]]
            ``{"section.key": {"value": ..., "source": ..., "tag": ...}}``; the fields are those of
            :class:`ParameterEntry` other than ``name`` (``range`` as ``(low, high)``).

        Raises
        ------
        ConfigurationError
            Unknown name or field, or an entry that no longer validates.

        Examples
        --------
        >>> p = load_parameters().replace_entries(
        ...     {"economics.discount_rate": {"value": 0.03, "source": "city rule", "tag": "S"}})
        >>> p["economics.discount_rate"].source, p.discount_rate
        ('city rule', 0.03)
        """
        fields = {"value", "unit", "range", "source", "tag", "description"}
        new = {name: dict(vars(e)) for name, e in self.entries.items()}
        for name, upd in updates.items():
            if name not in new:
                raise ConfigurationError(
                    f"unknown microsim parameter {name!r}; valid names are {sorted(self.entries)}."
                )
            bad = sorted(set(upd) - fields)
            if bad:
                raise ConfigurationError(f"parameter {name!r}: unknown field(s) {bad}; valid fields are {sorted(fields)}.")
            for k, v in upd.items():
                new[name][k] = (float(v[0]), float(v[1])) if k == "range" else copy.deepcopy(v)
        return _build({n: ParameterEntry(**d) for n, d in new.items()}, previous=self, changed=frozenset(updates))

    def tidy(self) -> Any:
        """One row per parameter: name, value, unit, range_low, range_high, tag, source, description."""
        import pandas as pd

        return pd.DataFrame([
            {"name": e.name, "value": repr(e.value), "unit": e.unit, "range_low": e.range[0],
             "range_high": e.range[1], "tag": e.tag, "source": e.source, "description": e.description}
            for e in self.entries.values()
        ])

    def summary(self) -> str:
        """The parameters as plain text (name, tag, unit)."""
        lines = ["Microsimulation parameters (tag: S sourced, D derived, E estimate, M unconfirmed)"]
        lines += [f"  {e.name:<42} [{e.tag:>3}] {e.unit}" for e in self.entries.values()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().drop(columns="description").to_html(index=False)


def load_parameters(path: str | Path | None = None) -> Parameters:
    """Load and validate the projection parameters.

    Parameters
    ----------
    path : str or Path, optional
        A YAML file with the layout of the shipped ``microsim/defaults.yaml``; by default the shipped
        defaults.

    Returns
    -------
    Parameters

    Raises
    ------
    ConfigurationError
        A missing entry or field, an unknown tag, a value outside its range (the message names the
        key, the value and the valid range), or tables of the wrong shape.

    Examples
    --------
    >>> p = load_parameters()
    >>> p["mortality.level_hazard_ratio"].tag
    'D'
    """
    if path is None:
        text = resources.files("wellness_research.microsim").joinpath("defaults.yaml").read_text("utf-8")
        where = "microsim/defaults.yaml"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigurationError(f"parameter file {str(p)!r} does not exist.")
        text = p.read_text("utf-8")
        where = str(p)
    document = yaml.safe_load(text)
    return _build(_parse(document, where))


def _parse(document: Any, where: str) -> dict[str, ParameterEntry]:
    if not isinstance(document, Mapping):
        raise ConfigurationError(f"{where}: the parameters document must be a mapping of sections.")
    entries: dict[str, ParameterEntry] = {}
    for section, body in document.items():
        if not isinstance(body, Mapping):
            raise ConfigurationError(f"{where}: section {section!r} must be a mapping; got {body!r}.")
        for key, entry in body.items():
            name = f"{section}.{key}"
            if not isinstance(entry, Mapping):
                raise ConfigurationError(f"{where}: parameter {name!r} must be a mapping with {_REQUIRED}.")
            missing = [k for k in _REQUIRED if k not in entry]
            if missing:
                raise ConfigurationError(f"{where}: parameter {name!r} lacks {missing}; every entry needs {_REQUIRED}.")
            rng = entry["range"]
            if not (isinstance(rng, (list, tuple)) and len(rng) == 2 and all(_numbers(r) for r in rng)):
                raise ConfigurationError(f"{where}: parameter {name!r}: range must be [low, high]; got {rng!r}.")
            entries[name] = ParameterEntry(
                name, entry["value"], str(entry["unit"]), (float(rng[0]), float(rng[1])),
                str(entry["source"]), str(entry["tag"]), str(entry["description"]),
            )
    missing = [n for n in _REQUIRED_NAMES if n not in entries]
    if missing:
        raise ConfigurationError(f"{where}: required parameters are missing: {missing}.")
    fr = [n for n in _FRAILTY_NAMES if n in entries]
    if fr and len(fr) < len(_FRAILTY_NAMES):
        raise ConfigurationError(
            f"{where}: the frailty section needs all of {list(_FRAILTY_NAMES)} or none; it has only {fr}.")
    return entries


def _check_entry(e: ParameterEntry) -> None:
    if e.tag not in _ALLOWED_TAGS:
        raise ConfigurationError(f"parameter {e.name!r} has tag {e.tag!r}; valid tags are {_ALLOWED_TAGS}.")
    for k in ("unit", "source", "description"):
        if not getattr(e, k).strip():
            raise ConfigurationError(f"parameter {e.name!r}: {k} must be a non-empty string.")
    lo, hi = e.range
    nums = _numbers(e.value)
    if not nums:
        raise ConfigurationError(f"parameter {e.name!r}: value {e.value!r} holds no number.")
    for x in nums:
        if not np.isfinite(x) or not lo <= x <= hi:
            raise ConfigurationError(
                f"parameter {e.name!r}: value {x!r} is outside its valid range [{lo}, {hi}] ({e.unit})."
            )


def _array(e: ParameterEntry, shape: tuple[int, ...], value: Any = None) -> np.ndarray:
    arr = np.asarray(e.value if value is None else value, dtype=np.float64)
    if arr.shape != shape:
        raise ConfigurationError(f"parameter {e.name!r} must have shape {shape}; got {arr.shape}.")
    return arr


def _sums_to_one(e: ParameterEntry, arr: np.ndarray) -> None:
    if abs(arr.sum() - 1.0) > 1e-6:
        raise ConfigurationError(f"parameter {e.name!r} must sum to 1; its values {e.value!r} sum to {arr.sum():.6g}.")


def _rows_sum_to_one(e: ParameterEntry, cells: np.ndarray) -> None:
    """Every row along the last axis sums to 1 (the first offending row is named)."""
    bad = np.abs(cells.sum(axis=-1) - 1.0) > 1e-6
    if bad.any():
        row = cells.reshape(-1, cells.shape[-1])[np.flatnonzero(bad.ravel())[0]]
        raise ConfigurationError(
            f"parameter {e.name!r}: every row must sum to 1; the row {row.round(6).tolist()} sums to {row.sum():.6g}.")


def _band_lookup(bands: list[str], ages: np.ndarray, name: str) -> np.ndarray:
    """Index of the 'lo-hi' or 'lo+' band of every age (ages below the first band use the first)."""
    lows = []
    for b in bands:
        try:
            lows.append(int(str(b).split("-")[0].rstrip("+")))
        except ValueError:
            raise ConfigurationError(f"parameter {name!r}: band {b!r} is not 'lo-hi' or 'lo+'.") from None
    return np.clip(np.searchsorted(np.asarray(lows), ages, side="right") - 1, 0, len(lows) - 1)


def _cells(e: ParameterEntry, inner: tuple[int, ...], ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A value given once or by age band x sex, as ``(2, n_ages, *inner)`` cells and the pooled value."""
    v = e.value
    if isinstance(v, Mapping):
        missing = [k for k in ("bands", "male", "female") if k not in v]
        if missing:
            raise ConfigurationError(
                f"parameter {e.name!r}: a value by age band x sex needs keys bands, male and female; lacks {missing}.")
        bands = list(v["bands"])
        bidx = _band_lookup(bands, ages, e.name)
        by = np.stack([_array(e, (len(bands), *inner), v[k]) for k in ("male", "female")])
        cells = by[:, bidx]
        pooled = _array(e, inner, v["all"]) if "all" in v else by.reshape(-1, *inner).mean(axis=0)
        return cells, pooled
    pooled = _array(e, inner)
    return np.broadcast_to(pooled, (2, len(ages), *inner)).copy(), pooled


#: the model arrays built from each group of entries (``_build`` rebuilds a group only when one of its
#: entries changed, so ``Parameters.replace`` of a cost does not redo the mortality or transition tables)
_BLOCKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "incidence": (("certification.incidence_by_age_sex",), ("incidence",)),
    "entry": (("certification.entry_level_mix",), ("entry_mix", "entry_mix_cells")),
    "transitions": (("transitions.annual_matrix_percent", "transitions.decertification_per_year"),
                    ("annual_matrix", "annual_matrix_cells")),
    "mortality": (("mortality.qx_2023", "mortality.qx_cap", "mortality.level_hazard_ratio",
                   "certification.prevalence_by_age_sex", "certification.level_mix_prevalent"),
                  ("life_table_hazard", "level_hr", "reference_mix", "death_baseline")),
    "ltc": (("ltc_costs.cost_per_recipient_by_level", "ltc_costs.recipient_share_by_level",
             "ltc_costs.unit_price_factor"), ("ltc_cost_month",)),
    "medical": (("medical_costs.per_capita_fy2014", "medical_costs.uplift_from_fy2014",
                 "medical_costs.certified_multiplier", "certification.prevalence_by_age_sex"),
                ("medical_cost_year",)),
    "frailty": (_FRAILTY_NAMES, ("frailty_cert_multiplier", "frailty_reference_mix", "frailty_annual_matrix",
                                 "frailty_cutoffs")),
}


def _build(entries: Mapping[str, ParameterEntry], *, previous: Parameters | None = None,
           changed: frozenset[str] | None = None) -> Parameters:
    """Validate the entries and build the model tables.

    With ``previous`` (parameters built from the same entries except ``changed``) only the changed
    entries are validated again and only the groups of :data:`_BLOCKS` that depend on them are rebuilt;
    the others are shared with ``previous`` (read-only arrays). The arithmetic is the same either way,
    so the tables are identical to a full build.
    """
    E = entries
    incremental = (previous is not None and changed is not None
                   and not changed & {"model.min_age", "model.max_age"}
                   and ("frailty.kcl_cutoffs" in E) == previous.has_frailty)
    if incremental:
        for name in changed:
            _check_entry(E[name])
    else:
        for e in entries.values():
            _check_entry(e)

    def rebuild(block: str) -> bool:
        return not incremental or bool(changed & set(_BLOCKS[block][0]))

    arrays: dict[str, Any] = {}
    if incremental:
        for block, (_, names) in _BLOCKS.items():
            if not rebuild(block):
                arrays.update({n: getattr(previous, n) for n in names})
    min_age, max_age = int(E["model.min_age"].value), int(E["model.max_age"].value)
    if max_age <= min_age:
        raise ConfigurationError(f"model.max_age ({max_age}) must exceed model.min_age ({min_age}).")
    ages = previous.ages if incremental else np.arange(min_age, max_age + 1)
    n = len(ages)

    # certification incidence by single year (linear interpolation, flat outside the table)
    if rebuild("incidence"):
        inc = E["certification.incidence_by_age_sex"]
        tab_ages = np.asarray(inc.value["ages"], dtype=np.float64)
        if np.any(np.diff(tab_ages) <= 0):
            raise ConfigurationError(f"parameter {inc.name!r}: ages must increase; got {inc.value['ages']}.")
        arrays["incidence"] = np.vstack([
            np.interp(ages, tab_ages, _array(inc, tab_ages.shape, inc.value[k])) for k in ("male", "female")
        ])
    if rebuild("entry"):
        entry_e = E["certification.entry_level_mix"]
        entry_cells, entry = _cells(entry_e, (7,), ages)
        _sums_to_one(entry_e, entry)
        _rows_sum_to_one(entry_e, entry_cells)
        arrays.update(entry_mix=entry, entry_mix_cells=entry_cells)
    prevalence = None
    if rebuild("mortality") or rebuild("medical"):
        prev_e = E["certification.prevalence_by_age_sex"]
        bidx = _band_lookup(prev_e.value["bands"], ages, prev_e.name)
        nb = len(prev_e.value["bands"])
        prevalence = np.vstack([_array(prev_e, (nb,), prev_e.value[k])[bidx] for k in ("male", "female")])

    # transitions
    if rebuild("transitions"):
        tm_e = E["transitions.annual_matrix_percent"]
        tm_cells, tm_pooled = _cells(tm_e, (7, 7), ages)
        dec_cells, dec_pooled = _cells(E["transitions.decertification_per_year"], (7,), ages)

        def _annual(tm: np.ndarray, dec: np.ndarray) -> np.ndarray:
            rows = tm.sum(axis=-1)
            if np.any(rows <= 0):
                raise ConfigurationError(
                    f"parameter {tm_e.name!r}: every row needs a positive sum; row sums {np.unique(rows).tolist()}.")
            tm = tm / rows[..., None]
            out = np.zeros((*tm.shape[:-2], 8, 8))
            out[..., 0, 0] = 1.0
            out[..., 1:, 0] = dec
            out[..., 1:, 1:] = tm * (1.0 - dec)[..., None]
            return out

        arrays.update(annual_matrix=_annual(tm_pooled, dec_pooled), annual_matrix_cells=_annual(tm_cells, dec_cells))

    # mortality
    if rebuild("mortality"):
        mix_e = E["certification.level_mix_prevalent"]
        level_mix = _array(mix_e, (7,))
        _sums_to_one(mix_e, level_mix)
        qx_e = E["mortality.qx_2023"]
        qa = np.asarray(qx_e.value["ages"], dtype=np.float64)
        cap = float(E["mortality.qx_cap"].value)
        mu_lt = np.empty((2, n))
        for s, key in enumerate(("male", "female")):
            q = _array(qx_e, qa.shape, qx_e.value[key])
            if np.any(q <= 0) or np.any(q >= 1):
                raise ConfigurationError(f"parameter {qx_e.name!r}: {key} qx must lie in (0, 1); got {q.tolist()}.")
            lq = np.log(q)
            lo_slope = (lq[1] - lq[0]) / (qa[1] - qa[0])
            hi_slope = (lq[-1] - lq[-2]) / (qa[-1] - qa[-2])
            lqx = np.interp(ages, qa, lq)
            lqx = np.where(ages < qa[0], lq[0] + lo_slope * (ages - qa[0]), lqx)
            lqx = np.where(ages > qa[-1], lq[-1] + hi_slope * (ages - qa[-1]), lqx)
            mu_lt[s] = -np.log1p(-np.minimum(np.exp(lqx), cap))
        hr = _array(E["mortality.level_hazard_ratio"], (8,))
        ref_mix = np.empty((2, n, 8))
        ref_mix[:, :, 0] = 1.0 - prevalence
        ref_mix[:, :, 1:] = prevalence[:, :, None] * level_mix
        arrays.update(life_table_hazard=mu_lt, level_hr=hr, reference_mix=ref_mix,
                      death_baseline=mu_lt / (ref_mix @ hr))

    # costs
    if rebuild("ltc"):
        cost = _array(E["ltc_costs.cost_per_recipient_by_level"], (7,))
        share = _array(E["ltc_costs.recipient_share_by_level"], (7,))
        factor = float(E["ltc_costs.unit_price_factor"].value)
        ltc = np.zeros(9)
        ltc[1:8] = cost * share * factor
        arrays["ltc_cost_month"] = ltc
    if rebuild("medical"):
        med_e = E["medical_costs.per_capita_fy2014"]
        nm = len(med_e.value["bands"])
        mb = _array(med_e, (nm,), med_e.value["yen_per_year"])[_band_lookup(med_e.value["bands"], ages, med_e.name)]
        mb = mb * float(E["medical_costs.uplift_from_fy2014"].value)
        k = float(E["medical_costs.certified_multiplier"].value)
        c0 = mb[None, :] / (1.0 - prevalence + k * prevalence)
        med = np.zeros((2, n, 9))
        med[:, :, 0] = c0
        med[:, :, 1:8] = (k * c0)[:, :, None]
        arrays["medical_cost_year"] = med

    if rebuild("frailty"):
        arrays.update(frailty_cert_multiplier=None, frailty_reference_mix=None, frailty_annual_matrix=None,
                      frailty_cutoffs=None)
        if "frailty.kcl_cutoffs" in E:
            cut_e = E["frailty.kcl_cutoffs"]
            cut = _array(cut_e, (2,))
            if cut[0] != int(cut[0]) or cut[1] != int(cut[1]) or not cut[0] < cut[1]:
                raise ConfigurationError(
                    f"parameter {cut_e.name!r}: two increasing whole KCL totals (pre-frail from, frail from); "
                    f"got {cut_e.value!r}.")
            r = _array(E["frailty.certification_hazard_ratio"], (3,))
            mix_f = E["frailty.reference_mix"]
            fmix, _ = _cells(mix_f, (3,), ages)
            _rows_sum_to_one(mix_f, fmix)
            fm_e = E["frailty.annual_transition_matrix"]
            fm = _array(fm_e, (3, 3))
            if np.any(np.abs(fm.sum(axis=1) - 1.0) > 1e-6):
                raise ConfigurationError(
                    f"parameter {fm_e.name!r}: every row must sum to 1; row sums {fm.sum(axis=1).tolist()}.")
            arrays.update(frailty_cert_multiplier=r / (fmix @ r)[..., None], frailty_reference_mix=fmix,
                          frailty_annual_matrix=fm / fm.sum(axis=1, keepdims=True),
                          frailty_cutoffs=(int(cut[0]), int(cut[1])))
    for a in arrays.values():
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    ages.setflags(write=False)
    return Parameters(entries=dict(entries), discount_rate=float(E["economics.discount_rate"].value),
                      ages=ages, **arrays)
