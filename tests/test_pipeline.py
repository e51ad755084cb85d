"""The fiscal-year batch: configuration, rendering, provenance, failure handling, determinism."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from wellness_research.cli import main
from wellness_research.errors import ConfigurationError
from wellness_research.pipeline import PROTOCOLS, RunConfig, load_analysis_data, run_fiscal_year
from wellness_research.pipeline import run as run_module

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one data source"),
        ({"synthetic": "huge"}, "synthetic must be one of"),
        ({"synthetic": 0}, "synthetic must be one of"),
        ({"synthetic": "tiny", "protocols": ("nope",)}, "unknown \\['nope'\\]"),
        ({"synthetic": "tiny", "seed": -1}, "seed must be a non-negative integer"),
        ({"fiscal_year": "2025", "synthetic": "tiny"}, "fiscal_year must be an integer"),
    ],
)
def test_run_config_rejects_bad_values_naming_them(kwargs, message):
    kwargs = {"fiscal_year": 2025, **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        RunConfig(**kwargs)


def test_run_config_defaults_and_protocol_expansion(tmp_path):
    config = RunConfig(fiscal_year=2024, synthetic="tiny")
    assert config.out_dir == Path("research/FY2024")
    assert config.protocol_names == tuple(PROTOCOLS)
    with pytest.raises(ConfigurationError, match="portable=True"):
        RunConfig(fiscal_year=2025, data_dir=tmp_path, portable=True)


def _outputs(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            texts.append(out.get("text", "") + data.get("text/plain", "") + data.get("text/html", ""))
    return texts


@pytest.mark.notebook
def test_portable_batch_renders_notebook_html_and_manifest_and_is_reproducible(tmp_path):
    results = []
    for run in ("a", "b"):
        config = RunConfig(
            fiscal_year=2025, synthetic="tiny", seed=3, out_dir=tmp_path / run, portable=True,
            protocols=("data_quality",),  # soft needs the small municipality (tests/test_pipeline_soft.py)
        )
        results.append(run_fiscal_year(config, progress=None))
    first, second = results
    assert first.ok, first.summary()
    nb = tmp_path / "a" / "data_quality" / "01_data_quality.ipynb"
    assert nb.is_file() and nb.with_suffix(".html").is_file()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    for key in ("version", "git", "parameters", "input_fingerprints", "environment", "timings_seconds"):
        assert key in manifest
    assert manifest["kernel_environment"] == {"PYTHONHASHSEED": "0"}
    assert manifest["data_source"] == {"synthetic": "tiny", "seed": 3}
    assert manifest["identifier_scan"] == {"findings": 0, "ok": True}
    assert manifest["input_fingerprints"] == second.manifest["input_fingerprints"]
    # Same inputs, same parameters, same seed -> identical rendered numbers.
    assert _outputs(nb) == _outputs(tmp_path / "b" / "data_quality" / "01_data_quality.ipynb")
    html = nb.with_suffix(".html").read_text(encoding="utf-8")
    assert "人口ピラミッド" in html


@pytest.mark.notebook
def test_failing_notebook_is_kept_reported_and_others_still_run(tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    templates.mkdir()
    shutil.copy(REPO / "notebooks" / "01_data_quality.ipynb", templates)
    broken = nbformat.v4.new_notebook()
    broken.cells = [
        nbformat.v4.new_code_cell("fiscal_year = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise RuntimeError('deliberate failure for the test')"),
    ]
    broken.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(broken, templates / "broken.ipynb")
    monkeypatch.setattr(run_module, "_notebook_templates", lambda: templates)
    monkeypatch.setitem(PROTOCOLS, "broken", ("broken.ipynb",))
    config = RunConfig(
        fiscal_year=2025, synthetic="tiny", out_dir=tmp_path / "out", protocols=("broken", "data_quality"),
        portable=True,
    )
    result = run_fiscal_year(config, progress=None)
    assert not result.ok
    status = {n.protocol: n for n in result.notebooks}
    assert status["broken"].status == "failed"
    assert "deliberate failure" in status["broken"].error
    assert (tmp_path / "out" / "broken" / "broken.ipynb").is_file()  # kept, with its error
    assert status["data_quality"].status == "ok"


@pytest.mark.notebook
def test_cli_run_writes_the_store_the_notebooks_read(tmp_path):
    out = tmp_path / "fy"
    code = main(["run", "--fiscal-year", "2025", "--synthetic", "tiny", "--protocol", "data_quality",
                 "--out", str(out), "--quiet"])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    data = load_analysis_data(store_dir=out / "store")
    assert data.synthetic and data.validation.empty
    assert set(manifest["store_fingerprints"]) == set(data.tables)
    assert manifest["rows"] == data.n_rows
    # The store path is machine-specific and stays out of the manifest's parameters.
    assert "store_dir" not in manifest["parameters"]


@pytest.mark.notebook
def test_batch_on_a_data_folder_needs_a_real_key_and_renders_with_it(tmp_path, monkeypatch, capsys):
    from wellness_research.data import write_tables
    from wellness_research.synthetic import make_municipality

    extracts = tmp_path / "extracts"
    write_tables(make_municipality("tiny", seed=1).tables, extracts, format="csv")
    monkeypatch.delenv("WELLNESS_RESEARCH_PSEUDONYM_KEY", raising=False)
    args = ["run", "--fiscal-year", "2025", "--data", str(extracts), "--protocol", "data_quality", "--quiet"]

    # No key anywhere: refused before anything is written, naming where a key may come from.
    assert main([*args, "--out", str(tmp_path / "nokey")]) == 2
    assert "WELLNESS_RESEARCH_PSEUDONYM_KEY" in capsys.readouterr().err
    assert not (tmp_path / "nokey" / "store").exists()

    key_file = tmp_path / "key"
    key_file.write_text("k" * 48)
    assert main([*args, "--out", str(tmp_path / "fy"), "--key-file", str(key_file)]) == 0
    manifest = json.loads((tmp_path / "fy" / "manifest.json").read_text())
    assert manifest["data_source"] == {"data_dir": str(extracts)}
    data = load_analysis_data(store_dir=tmp_path / "fy" / "store")
    assert not data.synthetic
    raw_ids = set(pd.read_csv(extracts / "residents.csv", dtype=str)["person_id"])
    assert raw_ids.isdisjoint(set(data.tables["residents"]["person_id"].astype(str)))


def test_git_state_ignores_changes_inside_the_run_output_folder(tmp_path):
    import subprocess

    from wellness_research.pipeline.manifest import git_state

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "finding.txt").write_text("old")
    (tmp_path / "code.py").write_text("x = 1")
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=tmp_path, check=True)
    (tmp_path / "out" / "finding.txt").write_text("new")
    assert git_state(tmp_path)["dirty"] is True
    assert git_state(tmp_path, exclude=tmp_path / "out")["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2")
    assert git_state(tmp_path, exclude=tmp_path / "out")["dirty"] is True


def test_kernels_get_a_fixed_hash_seed_and_the_callers_environment_is_restored(monkeypatch):
    # pyfixest orders fixed effects through string hashing; with the per-process random hash seed
    # the DiD bounds in findings.json differed between kernels in the 11th digit (run.py).
    from wellness_research.pipeline.run import KERNEL_ENVIRONMENT, _kernel_environment

    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    probe = [sys.executable, "-c", "import os; print(os.environ['PYTHONHASHSEED'], hash('wellness'))"]
    with _kernel_environment():
        first, second = (subprocess.run(probe, capture_output=True, text=True, check=True).stdout for _ in range(2))
    assert first == second and first.split()[0] == KERNEL_ENVIRONMENT["PYTHONHASHSEED"] == "0"
    assert "PYTHONHASHSEED" not in os.environ
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    with _kernel_environment():
        assert os.environ["PYTHONHASHSEED"] == "0"
    assert os.environ["PYTHONHASHSEED"] == "random"
