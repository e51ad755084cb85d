"""The command line: validate, dictionary, calibration, and the demo rendering kept in step."""

from __future__ import annotations

from pathlib import Path

import nbformat

from _data_helpers import valid_tables
from wellness_research.cli import main
from wellness_research.data import write_tables

REPO = Path(__file__).resolve().parents[1]


def test_validate_command_passes_clean_extracts_and_names_every_violation(tmp_path, capsys):
    clean, dirty = tmp_path / "clean", tmp_path / "dirty"
    tables = valid_tables()
    write_tables(tables, clean, format="csv")
    assert main(["validate", str(clean)]) == 0
    capsys.readouterr()

    tables["ltc_claims"].loc[0, "cost_yen"] = -5
    write_tables(tables, dirty, format="csv")
    assert main(["validate", str(dirty)]) == 1
    out = capsys.readouterr().out
    assert "ltc_claims" in out and "cost_yen" in out and "range" in out


def test_dictionary_command_renders_every_table(capsys):
    assert main(["dictionary"]) == 0
    page = capsys.readouterr().out
    for table in ("residents", "ltc_certifications", "medical_claims", "tekupo_activity"):
        assert table in page
    assert "要介護認定" in page


def test_calibration_command_lists_rows_outside_tolerance(capsys):
    assert main(["calibration", "--synthetic", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "certification prevalence" in out
    assert "rows outside tolerance" in out


def test_demo_rendering_was_made_from_the_current_notebook_template():
    # nbval re-executes research/demo and compares outputs; this check adds that the demo's code
    # is the template's code, so a changed template without `make demo` is caught by name.
    template = nbformat.read(REPO / "notebooks" / "01_data_quality.ipynb", as_version=4)
    demo = nbformat.read(REPO / "research" / "demo" / "data_quality" / "01_data_quality.ipynb", as_version=4)
    demo_cells = [c for c in demo.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    assert [c.source for c in demo_cells] == [c.source for c in template.cells], (
        "research/demo is stale: re-render it with `make demo`"
    )
