"""Preparing the analysis data: load, validate, pseudonymise, link, and the on-disk store.

The analysis store is one folder per fiscal-year run holding the validated, pseudonymised tables
as Parquet plus the validation and linkage reports as CSV. Notebooks read it through
:func:`load_analysis_data`; in *portable* mode they regenerate the synthetic municipality instead,
through the same :func:`prepare_data` path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..data import read_tables, validate
from ..errors import ConfigurationError, DataValidationError
from ..privacy import DEMO_KEY, linkage_report, load_key, pseudonymise

__all__ = [
    "AnalysisData",
    "fingerprint_table",
    "load_analysis_data",
    "prepare_data",
    "write_store",
]


def fingerprint_table(df: pd.DataFrame) -> str:
    """Content hash of a table: SHA-256 over column names, dtypes and row hashes.

    Independent of the index and of memory layout, so the same content read back from CSV with
    the same dtypes gives the same fingerprint.
    """
    h = hashlib.sha256()
    h.update(json.dumps([[c, str(df[c].dtype)] for c in df.columns]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class AnalysisData:
    """Validated, pseudonymised tables ready for analysis, with what happened on the way.

    Attributes
    ----------
    tables : Mapping[str, pandas.DataFrame]
        Pseudonymised tables keyed by dictionary table name.
    validation : pandas.DataFrame
        Every violated rule (``ValidationReport.to_frame()`` without the example rows, which may
        hold identifiers); warnings only, since data with errors stop before analysis.
    linkage : pandas.DataFrame
        Linkage of every table to the resident register (``LinkageReport.to_frame()``).
    synthetic : bool
        Whether the data are the synthetic municipality.
    truth : dict or None
        Ground truth of the synthetic municipality (``GroundTruth.to_dict()``), else None.
    input_fingerprints : dict
        Content hash of every input table *before* pseudonymisation.
    key_fingerprint : str or None
        Fingerprint (not the key) of the pseudonymisation key, for provenance.
    ground_truth : GroundTruth or None
        On synthetic data, the municipality's :class:`~wellness_research.synthetic.GroundTruth`
        with its ``potential_outcomes`` keyed by the *pseudonymous* ``person_id`` (so that the
        protocol steps can attach the sample truth of the persons they analyse); else None.
    """

    tables: Mapping[str, pd.DataFrame]
    validation: pd.DataFrame
    linkage: pd.DataFrame
    synthetic: bool
    truth: dict | None = None
    input_fingerprints: Mapping[str, str] = field(default_factory=dict)
    key_fingerprint: str | None = None
    ground_truth: Any = field(default=None, repr=False)

    @property
    def n_rows(self) -> dict[str, int]:
        """Rows per table."""
        return {name: len(df) for name, df in self.tables.items()}


def prepare_data(
    *,
    data_dir: Path | None = None,
    synthetic_size: str | int | None = None,
    seed: int = 0,
    key_file: Path | None = None,
    progress=None,
) -> tuple[AnalysisData, frozenset[str]]:
    """Load, validate, pseudonymise and link the input tables.

    Parameters
    ----------
    data_dir : pathlib.Path, optional
        Folder of extracts. Exactly one of ``data_dir`` and ``synthetic_size`` is given.
    synthetic_size : str or int, optional
        Size of the synthetic municipality to generate with ``seed``.
    seed : int, default 0
    key_file : pathlib.Path, optional
        Pseudonymisation key for real data (else the environment variable).
    progress : callable, optional
        Called with a short message at each step.

    Returns
    -------
    (AnalysisData, frozenset of str)
        The analysis data and the set of raw identifier values (kept in memory only, for the
        identifier scan of the rendered outputs; never written).

    Raises
    ------
    DataValidationError
        If the tables violate the data dictionary; the full report is attached as ``.report``.
    """
    say = progress or (lambda _msg: None)
    if (data_dir is None) == (synthetic_size is None):
        raise ConfigurationError("prepare_data needs exactly one of data_dir and synthetic_size.")
    truth = None
    ground_truth = None
    if synthetic_size is not None:
        from ..synthetic import make_municipality

        say(f"generating the synthetic municipality (size={synthetic_size}, seed={seed})")
        municipality = make_municipality(synthetic_size, seed=seed)
        tables = dict(municipality.tables)
        truth = municipality.truth.to_dict()
        ground_truth = municipality.truth
        synthetic = True
    else:
        say(f"reading extracts from {data_dir}")
        tables = dict(read_tables(data_dir))
        synthetic = False
    say("validating against the data dictionary")
    report = validate(tables)
    if not report.ok:
        raise DataValidationError(
            f"The input tables violate the data dictionary ({len(report.errors)} rule(s)); "
            "nothing was analysed.\n" + report.summary(),
            report,
        )
    fingerprints = {name: fingerprint_table(df) for name, df in sorted(tables.items())}
    say("pseudonymising identifiers (HMAC-SHA256)")
    key = DEMO_KEY if synthetic else load_key(key_file=key_file)
    pseudo = pseudonymise(tables, key=key, synthetic=synthetic)
    raw_ids: set[str] = set()
    for name, cols in pseudo.columns.items():
        for col in cols:
            raw_ids.update(map(str, pd.unique(tables[name][col].dropna())))
    if ground_truth is not None:
        ground_truth = _pseudonymous_truth(ground_truth, key)
    say("linking programme, care and claims tables on the pseudonymous id")
    link = linkage_report(pseudo.tables)
    data = AnalysisData(
        tables=pseudo.tables,
        # Examples hold row values, identifiers among them: they stay in the analyst's report and
        # never enter the store or a rendered notebook.
        validation=report.to_frame().drop(columns="examples"),
        linkage=link.to_frame(),
        synthetic=synthetic,
        truth=truth,
        input_fingerprints=fingerprints,
        key_fingerprint=pseudo.key_fingerprint,
        ground_truth=ground_truth,
    )
    return data, frozenset(raw_ids)


def _pseudonymous_truth(truth: Any, key: Any) -> Any:
    """The ground truth with the potential outcomes' ``person_id`` replaced by its pseudonym."""
    from ..privacy import pseudonym

    po = truth.potential_outcomes.copy()
    ids = po["person_id"].astype(str)
    mapping = {v: pseudonym(v, key=key) for v in pd.unique(ids)}
    po["person_id"] = ids.map(mapping).astype(object)
    return replace(truth, potential_outcomes=po.reset_index(drop=True))


def _ground_truth_from_store(truth: dict, store: Path) -> Any:
    """Rebuild the :class:`GroundTruth` from ``store.json`` and ``truth_potential_outcomes.parquet``."""
    from ..synthetic.truth import GroundTruth, TrueEffects

    path = store / _TRUTH_OUTCOMES
    if not path.is_file():
        return None
    sites = pd.DataFrame(truth.get("soft_sites", []))
    for col in ("start_date", "end_date"):
        if col in sites:
            sites[col] = pd.to_datetime(sites[col])
    return GroundTruth(
        effects=TrueEffects(**truth["effects"]),
        estimands=dict(truth["estimands"]),
        counts=dict(truth["counts"]),
        soft_sites=sites,
        potential_outcomes=pd.read_parquet(path),
    )


#: Store file of the synthetic potential outcomes (pseudonymous ids; synthetic data only).
_TRUTH_OUTCOMES = "truth_potential_outcomes.parquet"


def write_store(data: AnalysisData, store_dir: Path) -> dict[str, str]:
    """Write the analysis store; returns the content fingerprint of every stored table."""
    store_dir = Path(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    fingerprints = {}
    for name, df in sorted(data.tables.items()):
        df.to_parquet(store_dir / f"{name}.parquet", index=False)
        fingerprints[name] = fingerprint_table(df)
    if data.ground_truth is not None:
        data.ground_truth.potential_outcomes.to_parquet(store_dir / _TRUTH_OUTCOMES, index=False)
    data.validation.to_csv(store_dir / "validation.csv", index=False)
    data.linkage.to_csv(store_dir / "linkage.csv", index=False)
    meta = {
        "synthetic": data.synthetic,
        "truth": data.truth,
        "input_fingerprints": dict(data.input_fingerprints),
        "key_fingerprint": data.key_fingerprint,
        "store_fingerprints": fingerprints,
    }
    (store_dir / "store.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True))
    return fingerprints


def load_analysis_data(
    *, store_dir: str | Path | None = None, synthetic_size: str | int | None = None, seed: int = 0
) -> AnalysisData:
    """The analysis data for a notebook: read the store, or regenerate the synthetic municipality.

    Parameters
    ----------
    store_dir : str or pathlib.Path, optional
        An analysis store written by :func:`write_store` (the batch passes it).
    synthetic_size : str or int, optional
        When no store is given: regenerate this synthetic municipality (portable notebooks).
    seed : int, default 0

    Examples
    --------
    >>> data = load_analysis_data(synthetic_size="tiny", seed=0)  # doctest: +SKIP
    """
    if store_dir is None:
        if synthetic_size is None:
            raise ConfigurationError(
                "load_analysis_data needs store_dir (an analysis store) or synthetic_size."
            )
        data, _ = prepare_data(synthetic_size=synthetic_size, seed=seed)
        return data
    store = Path(store_dir)
    meta_path = store / "store.json"
    if not meta_path.is_file():
        raise ConfigurationError(f"{str(store)!r} is not an analysis store (no store.json).")
    meta = json.loads(meta_path.read_text())
    tables = {
        name: pd.read_parquet(store / f"{name}.parquet") for name in sorted(meta["store_fingerprints"])
    }
    return AnalysisData(
        tables=tables,
        validation=pd.read_csv(store / "validation.csv"),
        linkage=pd.read_csv(store / "linkage.csv"),
        synthetic=bool(meta["synthetic"]),
        truth=meta["truth"],
        input_fingerprints=meta["input_fingerprints"],
        key_fingerprint=meta.get("key_fingerprint"),
        ground_truth=_ground_truth_from_store(meta["truth"], store) if meta["truth"] else None,
    )
