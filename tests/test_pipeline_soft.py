"""The SOFT protocol batch: notebooks rendered, findings.json merged, identifiers absent, times recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wellness_research.analysis import FINDING_KEYS, Finding, read_findings, write_findings
from wellness_research.pipeline import PROTOCOLS, RunConfig, load_analysis_data, run_fiscal_year
from wellness_research.pipeline.run import _merge_findings

REPO = Path(__file__).resolve().parents[1]


def test_soft_protocol_notebooks_exist_and_have_the_parameters_cell():
    import nbformat

    for template in PROTOCOLS["soft"]:
        nb = nbformat.read(REPO / "notebooks" / template, as_version=4)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, template
        for name in ("fiscal_year", "store_dir", "synthetic_size", "seed", "min_cell", "protocol", "findings_dir"):
            assert f"{name} = " in params[0].source, (template, name)


def test_soft_notebooks_receive_protocol_and_findings_dir_and_others_do_not():
    config = RunConfig(fiscal_year=2025, synthetic="tiny", portable=True)
    assert config.notebook_parameters("soft")["findings_dir"] == "."
    assert config.notebook_parameters("soft")["protocol"] == "soft"
    assert "findings_dir" not in config.notebook_parameters("data_quality")
    assert "soft" in RunConfig(fiscal_year=2025, synthetic="tiny").protocol_names  # 'all' includes it


def test_fragments_are_merged_in_notebook_order_and_missing_ones_listed(tmp_path):
    templates = ("02_a.ipynb", "03_b.ipynb", "04_c.ipynb")
    assert _merge_findings(tmp_path, templates) is None
    write_findings([Finding("second", 2.0, 1.0, 3.0, 20)], tmp_path / "04_c.findings.json")
    write_findings([Finding("first", 1.0, 0.0, 2.0, 10, truth=1.5)], tmp_path / "02_a.findings.json")
    info = _merge_findings(tmp_path, templates)
    assert [f.name for f in read_findings(tmp_path / "findings.json")] == ["first", "second"]
    assert info["missing_fragments"] == ["03_b.findings.json"] and info["n_findings"] == 2


def test_store_round_trip_keeps_the_pseudonymous_ground_truth(tmp_path):
    from wellness_research.pipeline import prepare_data, write_store

    data, raw_ids = prepare_data(synthetic_size="tiny", seed=0)
    po = data.ground_truth.potential_outcomes
    assert raw_ids.isdisjoint(set(po["person_id"].astype(str)))  # pseudonymous, never raw
    assert set(po["person_id"]) <= set(data.tables["residents"]["person_id"].astype(str))
    write_store(data, tmp_path)
    back = load_analysis_data(store_dir=tmp_path)
    assert back.ground_truth.potential_outcomes["person_id"].tolist() == po["person_id"].tolist()
    assert back.ground_truth.estimands == data.ground_truth.estimands


@pytest.mark.slow
@pytest.mark.notebook
def test_soft_batch_renders_every_notebook_and_writes_findings_json(tmp_path):
    # ~2-3 min on 2 busy cores (four notebooks; the sensitivity analyses of 03 and the PSA of 05 dominate).
    config = RunConfig(fiscal_year=2025, synthetic="small", seed=0, out_dir=tmp_path, protocols=("soft",))
    result = run_fiscal_year(config, progress=None)
    assert result.ok, result.summary()
    soft = tmp_path / "soft"
    for template in PROTOCOLS["soft"]:
        assert (soft / template).is_file() and (soft / template).with_suffix(".html").is_file()
    findings = json.loads((soft / "findings.json").read_text(encoding="utf-8"))
    assert findings and all(list(rec) == list(FINDING_KEYS) for rec in findings)
    names = {rec["name"] for rec in findings}
    assert {"risk_difference_3y", "hazard_ratio_certification", "did_cost_month", "net_benefit_10y",
            "staggered_att_certification_rate", "sensitivity_itt_initiators", "reaim_reach_participants"} <= names
    # Synthetic data: the primary estimate carries the truth it targets.
    primary = next(rec for rec in findings if rec["name"] == "risk_difference_3y")
    assert primary["truth"] is not None and primary["n"] > 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["identifier_scan"] == {"findings": 0, "ok": True}
    assert manifest["findings"]["soft"]["path"] == "soft/findings.json"
    assert manifest["findings"]["soft"]["missing_fragments"] == []
    timed = {n["template"]: n["seconds"] for n in manifest["notebooks"]}
    assert set(timed) == set(PROTOCOLS["soft"]) and all(s > 0 for s in timed.values())
    for template in PROTOCOLS["soft"]:
        assert f"soft/{template}" in manifest["timings_seconds"]
