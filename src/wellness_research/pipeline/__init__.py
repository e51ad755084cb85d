"""The fiscal-year batch: configuration, data preparation, notebook execution, provenance."""

from __future__ import annotations

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
    "fingerprint_table",
    "load_analysis_data",
    "prepare_data",
    "render_html",
    "run_fiscal_year",
    "write_store",
]
