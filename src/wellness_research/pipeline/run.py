"""The fiscal-year batch: prepare the data once, render every protocol's notebooks, record provenance."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError

from .. import __version__
from ..data import load_dictionary
from ..privacy import scan_outputs
from .config import PROTOCOL_PARAMETERS, PROTOCOLS, RunConfig
from .manifest import environment_info, git_state
from .store import prepare_data, write_store

__all__ = ["KERNEL_ENVIRONMENT", "NotebookRun", "RunResult", "render_html", "run_fiscal_year"]

#: Environment of the notebook kernels. String hashing is randomised per process by default, and
#: pyfixest orders the fixed effects of a formula through it: the difference-in-differences bounds
#: then differed from one kernel to the next in the 11th significant digit, so ``findings.json`` was
#: not byte-identical between runs of the same inputs. A fixed hash seed makes it so.
KERNEL_ENVIRONMENT = {"PYTHONHASHSEED": "0"}


@contextmanager
def _kernel_environment() -> Iterator[None]:
    """Set :data:`KERNEL_ENVIRONMENT` for the kernels started inside; restore the caller's afterwards."""
    saved = {k: os.environ.get(k) for k in KERNEL_ENVIRONMENT}
    os.environ.update(KERNEL_ENVIRONMENT)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of one notebook: where it was written and whether it executed cleanly."""

    protocol: str
    template: str
    notebook: str
    html: str | None
    status: str  # "ok" or "failed"
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    """Outcome of a fiscal-year batch."""

    out_dir: Path
    notebooks: tuple[NotebookRun, ...]
    identifier_scan_ok: bool
    manifest: dict = field(repr=False)

    @property
    def ok(self) -> bool:
        """True when every notebook executed and no identifier was found in the outputs."""
        return self.identifier_scan_ok and all(n.status == "ok" for n in self.notebooks)

    def summary(self) -> str:
        """A few lines for the console."""
        lines = [f"FY{self.manifest['fiscal_year']} batch → {self.out_dir}"]
        for n in self.notebooks:
            lines.append(f"  [{n.status:>6}] {n.protocol}/{Path(n.notebook).name} ({n.seconds:.1f} s)")
            if n.error:
                lines.append(f"           {n.error.splitlines()[0]}")
        lines.append(f"  identifier scan: {'clean' if self.identifier_scan_ok else 'FOUND IDENTIFIERS'}")
        return "\n".join(lines)


def render_html(notebook_path: Path) -> Path:
    """Render an executed notebook to a standalone HTML page beside it."""
    nb = nbformat.read(notebook_path, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    html_path = notebook_path.with_suffix(".html")
    html_path.write_text(body, encoding="utf-8")
    return html_path


def _relative_papermill_paths(notebook: Path, *, template: str, out_dir: Path) -> None:
    """Replace papermill's absolute input/output paths by repository-relative ones.

    The rendered notebook is a published finding: it must not carry the paths of the machine
    that rendered it.
    """
    nb = nbformat.read(notebook, as_version=4)
    meta = nb.metadata.get("papermill", {})
    meta["input_path"] = f"notebooks/{template}"
    meta["output_path"] = str(notebook.relative_to(out_dir))
    nbformat.write(nb, notebook)


def _notebook_templates():
    """Folder of the notebook templates shipped with the package (``notebooks/``)."""
    return files("wellness_research") / "notebooks"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_fiscal_year(
    config: RunConfig, *, progress: Callable[[str], None] | None = _stderr
) -> RunResult:
    """Run the fiscal-year batch described by ``config``.

    Steps: prepare the data (generate or read, validate, pseudonymise, link) and write the analysis
    store; execute each protocol's notebooks with papermill into ``out_dir/<protocol>/``; render
    HTML; scan every output for identifiers; write ``out_dir/manifest.json``. A notebook that
    fails is kept with its error and reported, and the others still run.

    Raises
    ------
    DataValidationError
        If the input violates the data dictionary (nothing is rendered).
    """
    say = progress or (lambda _m: None)
    timings: dict[str, float] = {}
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    data, raw_ids = prepare_data(
        data_dir=config.data_dir,
        synthetic_size=config.synthetic,
        seed=config.seed,
        key_file=config.key_file,
        progress=lambda m: say(f"[data] {m}"),
    )
    timings["prepare_data"] = time.perf_counter() - t0
    store_fingerprints: dict[str, str] = {}
    if not config.portable:
        t0 = time.perf_counter()
        say(f"[data] writing the analysis store to {config.store_dir}")
        store_fingerprints = write_store(data, config.store_dir)
        timings["write_store"] = time.perf_counter() - t0

    parameters = config.notebook_parameters()
    runs: list[NotebookRun] = []
    findings_files: dict[str, dict[str, object]] = {}
    templates = _notebook_templates()
    for protocol in config.protocol_names:
        proto_dir = out_dir / protocol
        proto_dir.mkdir(parents=True, exist_ok=True)
        for stale in [proto_dir / "findings.json", *(proto_dir / f"{Path(t).stem}.findings.json"
                                                     for t in PROTOCOLS[protocol])]:
            stale.unlink(missing_ok=True)  # a failed notebook must not leave last run's findings
        for template in PROTOCOLS[protocol]:
            target = proto_dir / template
            say(f"[{protocol}] executing {template}")
            t0 = time.perf_counter()
            error = None
            with as_file(templates / template) as source, _kernel_environment():
                try:
                    papermill.execute_notebook(
                        str(source),
                        str(target),
                        parameters=config.notebook_parameters(protocol),
                        kernel_name=config.kernel_name,
                        cwd=str(proto_dir),
                        progress_bar=progress is not None,
                    )
                except PapermillExecutionError as exc:
                    error = f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
            if target.exists():
                _relative_papermill_paths(target, template=template, out_dir=out_dir)
            html = render_html(target) if target.exists() else None
            seconds = time.perf_counter() - t0
            status = "ok" if error is None else "failed"
            if error:
                say(f"[{protocol}] FAILED {template}: {error}")
            runs.append(
                NotebookRun(
                    protocol=protocol,
                    template=template,
                    notebook=str(target.relative_to(out_dir)),
                    html=str(html.relative_to(out_dir)) if html else None,
                    status=status,
                    seconds=round(seconds, 2),
                    error=error,
                )
            )
            timings[f"{protocol}/{template}"] = seconds
        merged = _merge_findings(proto_dir, PROTOCOLS[protocol])
        if merged is not None:
            findings_files[protocol] = {**merged, "path": str((proto_dir / "findings.json").relative_to(out_dir))}
            say(f"[{protocol}] {merged['n_findings']} finding(s) merged into {protocol}/findings.json")

    say("[privacy] scanning rendered outputs for identifiers")
    pseudonyms = _pseudonym_values(data)
    scan = scan_outputs(out_dir, identifiers=raw_ids | pseudonyms)
    manifest = {
        "package": "wellness_research",
        "version": __version__,
        "git": git_state(exclude=out_dir),
        "fiscal_year": config.fiscal_year,
        "data_source": (
            {"synthetic": config.synthetic, "seed": config.seed}
            if config.synthetic is not None
            else {"data_dir": str(config.data_dir)}
        ),
        "parameters": {k: v for k, v in parameters.items() if k != "store_dir"},
        "kernel_environment": dict(KERNEL_ENVIRONMENT),
        "protocols": list(config.protocol_names),
        "protocol_parameters": {p: PROTOCOL_PARAMETERS[p] for p in config.protocol_names if p in PROTOCOL_PARAMETERS},
        "input_fingerprints": dict(data.input_fingerprints),
        "pseudonym_key_fingerprint": data.key_fingerprint,
        "store_fingerprints": store_fingerprints,
        "rows": data.n_rows,
        "notebooks": [n.__dict__ for n in runs],
        "findings": findings_files,
        "identifier_scan": {"ok": scan.ok, "findings": len(scan.findings)},
        "environment": environment_info(),
        "timings_seconds": {k: round(v, 2) for k, v in timings.items()},
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n",
        encoding="utf-8",
    )
    result = RunResult(out_dir=out_dir, notebooks=tuple(runs), identifier_scan_ok=scan.ok, manifest=manifest)
    say(result.summary())
    if not scan.ok:
        say(scan.summary())
    return result


def _merge_findings(proto_dir: Path, templates: tuple[str, ...]) -> dict[str, object] | None:
    """Merge the notebooks' ``<notebook>.findings.json`` fragments into ``findings.json``.

    Fragments are taken in the protocol's notebook order; a notebook that wrote none (it failed,
    or writes no findings) is listed as missing. Returns None when the protocol wrote no fragment.
    """
    from ..analysis import read_findings, write_findings

    fragments = [proto_dir / f"{Path(t).stem}.findings.json" for t in templates]
    present = [f for f in fragments if f.is_file()]
    if not present:
        return None
    findings = [finding for f in present for finding in read_findings(f)]
    write_findings(findings, proto_dir / "findings.json")
    return {
        "method": "each notebook writes <notebook>.findings.json into its folder (parameter findings_dir); "
                  "the batch merges them in notebook order after the protocol's notebooks ran",
        "fragments": [f.name for f in present],
        "missing_fragments": [f.name for f in fragments if not f.is_file()],
        "n_findings": len(findings),
    }


def _pseudonym_values(data) -> frozenset[str]:
    """Every pseudonymised identifier value, for the scan of the rendered outputs."""
    values: set[str] = set()
    for name, columns in load_dictionary().identifier_columns().items():
        df = data.tables.get(name)
        for col in columns if df is not None else ():
            values.update(map(str, df[col].dropna().unique()))
    return frozenset(values)
