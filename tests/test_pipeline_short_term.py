"""The short-term service protocol batch: notebooks rendered, findings.json merged, identifiers absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wellness_research.analysis import FINDING_KEYS
from wellness_research.pipeline import PROTOCOLS, RunConfig, run_fiscal_year
from wellness_research.protocols import load_protocol

REPO = Path(__file__).resolve().parents[1]


def test_short_term_notebooks_exist_and_have_the_parameters_cell():
    import nbformat

    assert PROTOCOLS["short_term"] == ("06_short_term_cascade_and_risk.ipynb", "07_short_term_evaluation.ipynb",
                                       "08_short_term_cost_effectiveness.ipynb")
    for template in PROTOCOLS["short_term"]:
        nb = nbformat.read(REPO / "notebooks" / template, as_version=4)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, template
        for name in ("fiscal_year", "store_dir", "synthetic_size", "seed", "min_cell", "protocol", "findings_dir"):
            assert f"{name} = " in params[0].source, (template, name)
        assert 'protocol = "short_term"' in params[0].source


def test_all_runs_every_protocol_and_short_term_gets_its_parameters():
    config = RunConfig(fiscal_year=2025, synthetic="tiny", portable=True)
    assert config.notebook_parameters("short_term") == {**config.notebook_parameters("data_quality"),
                                                        "protocol": "short_term", "findings_dir": "."}
    assert set(RunConfig(fiscal_year=2025, synthetic="tiny", protocols=("all",)).protocol_names) == {
        "data_quality", "soft", "short_term"}


@pytest.mark.slow
@pytest.mark.notebook
def test_short_term_batch_renders_every_notebook_and_writes_findings_json(tmp_path):
    # ~2 min on 2 busy cores (three notebooks; the matching of notebook 07 dominates).
    config = RunConfig(fiscal_year=2025, synthetic="small", seed=0, out_dir=tmp_path, protocols=("short_term",))
    result = run_fiscal_year(config, progress=None)
    assert result.ok, result.summary()
    out = tmp_path / "short_term"
    for template in PROTOCOLS["short_term"]:
        assert (out / template).is_file() and (out / template).with_suffix(".html").is_file()
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert findings and all(list(rec) == list(FINDING_KEYS) for rec in findings)
    names = [rec["name"] for rec in findings]
    assert len(names) == len(set(names))  # every finding once across the three notebooks
    assert set(names) <= {f["name"] for f in load_protocol("short_term").get("findings")}
    assert {"risk_difference_3y", "naive_risk_difference_3y", "kcl_change_difference", "risk_model_auc",
            "did_cost_month", "net_benefit_10y", "probability_net_benefit_positive"} <= set(names)
    primary = next(rec for rec in findings if rec["name"] == "risk_difference_3y")
    assert primary["truth"] is not None and primary["n"] > 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["identifier_scan"] == {"findings": 0, "ok": True}
    assert manifest["findings"]["short_term"]["missing_fragments"] == []
    timed = {n["template"]: n["seconds"] for n in manifest["notebooks"]}
    assert set(timed) == set(PROTOCOLS["short_term"]) and all(s > 0 for s in timed.values())
    # 06 fitted the high-risk model once and cached it in the store, where 07 and 08 loaded it; the
    # cache (person-level frames) is never beside the rendered notebooks
    assert (config.store_dir / "cache" / "short_term_risk_model.pkl").is_file()
    assert not [p for p in tmp_path.rglob("*.pkl") if config.store_dir not in p.parents]
    for template in PROTOCOLS["short_term"][1:]:
        text = (out / template).read_text(encoding="utf-8")
        assert "high-risk model: loaded from the batch cache" in text, template
