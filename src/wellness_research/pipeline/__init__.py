"""The fiscal-year batch: configuration, data preparation, notebook execution, provenance."""

from __future__ import annotations

from .cache import StaleCacheError, load_or_compute
from .config import PROTOCOL_PARAMETERS, PROTOCOLS, RunConfig
from .run import NotebookRun, RunResult, render_html, run_fiscal_year
from .store import AnalysisData, fingerprint_table, load_analysis_data, prepare_data, write_store

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_PARAMETERS",
    "AnalysisData",
    "NotebookRun",
    "RunConfig",
    "RunResult",
    "StaleCacheError",
    "fingerprint_table",
    "load_analysis_data",
    "load_or_compute",
    "prepare_data",
    "render_html",
    "run_fiscal_year",
    "write_store",
]
