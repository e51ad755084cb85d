"""Privacy and linkage: keyed pseudonymisation, linkage checks, small-cell suppression and an
identifier scanner for rendered outputs (DOMAIN.md §6.3-6.4).

Typical order: :func:`load_key` and :func:`pseudonymise` the extracts in-house, check
:func:`linkage_report`, analyse, :func:`suppress_small_cells` every published count table, and
:func:`scan_outputs` the rendered folder before it leaves the analysis environment.
"""

from __future__ import annotations

from wellness_research.privacy.linkage import LinkageReport, linkage_report
from wellness_research.privacy.pseudonymise import (
    DEMO_KEY,
    PseudonymisedTables,
    PseudonymKey,
    load_key,
    pseudonym,
    pseudonymise,
)
from wellness_research.privacy.scan import Finding, ScanReport, scan_notebook, scan_outputs
from wellness_research.privacy.suppression import SuppressedTable, suppress_small_cells

__all__ = [
    "DEMO_KEY",
    "Finding",
    "LinkageReport",
    "PseudonymKey",
    "PseudonymisedTables",
    "ScanReport",
    "SuppressedTable",
    "linkage_report",
    "load_key",
    "pseudonym",
    "pseudonymise",
    "scan_notebook",
    "scan_outputs",
    "suppress_small_cells",
]
