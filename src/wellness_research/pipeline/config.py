"""The run configuration: one frozen object, validated once, passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from ..errors import ConfigurationError
from ..fiscal import fiscal_year_bounds

__all__ = ["PROTOCOLS", "PROTOCOL_PARAMETERS", "RunConfig", "SyntheticSize"]

SyntheticSize = Literal["tiny", "small", "city"]

#: Protocol name → the notebook templates it renders, in order (files under ``notebooks/``).
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "data_quality": ("01_data_quality.ipynb",),
    "soft": (
        "02_soft_cohort_and_matching.ipynb",
        "03_soft_outcomes.ipynb",
        "04_soft_site_rollout.ipynb",
        "05_soft_cost_effectiveness.ipynb",
    ),
    "short_term": (
        "06_short_term_cascade_and_risk.ipynb",
        "07_short_term_evaluation.ipynb",
        "08_short_term_cost_effectiveness.ipynb",
    ),
}

#: Protocol name → papermill parameters its notebooks receive besides the common ones.
#: ``findings_dir="."`` is the protocol's output folder (papermill runs with it as working
#: directory, so no machine path enters the rendered notebooks): each notebook writes its
#: headline findings there as ``<notebook>.findings.json`` and the batch merges the fragments
#: into ``findings.json``.
PROTOCOL_PARAMETERS: dict[str, dict[str, object]] = {
    "soft": {"protocol": "soft", "findings_dir": "."},
    "short_term": {"protocol": "short_term", "findings_dir": "."},
}


@dataclass(frozen=True)
class RunConfig:
    """Everything a fiscal-year batch needs, checked in one place.

    Parameters
    ----------
    fiscal_year : int
        Fiscal year to report (FY2025 = April 2025 – March 2026).
    data_dir : pathlib.Path or None
        Folder of CSV or Parquet extracts named ``<table>.csv``/``<table>.parquet``. Exactly one of
        ``data_dir`` and ``synthetic`` is set.
    synthetic : {"tiny", "small", "city"}, int or None
        Size of the seeded synthetic municipality to generate instead of reading data.
    seed : int, default 0
        Seed of the synthetic municipality.
    out_dir : pathlib.Path or None
        Output folder; ``research/FY<year>`` under the current directory when None.
    protocols : tuple of str
        Protocols to render (keys of :data:`PROTOCOLS`); ``("all",)`` means every one.
    key_file : pathlib.Path or None
        File holding the pseudonymisation key for real data (else the environment variable
        named in :func:`wellness_research.privacy.load_key`). Synthetic data use the demo key.
    portable : bool, default False
        Render notebooks that regenerate the synthetic data themselves instead of reading the
        analysis store, so that the rendered notebooks re-execute anywhere (used for
        ``research/demo/``, which nbval re-executes). Synthetic data only.
    kernel_name : str, default "python3"
        Jupyter kernel that executes the notebooks.
    """

    fiscal_year: int
    data_dir: Path | None = None
    synthetic: SyntheticSize | int | None = None
    seed: int = 0
    out_dir: Path | None = None
    protocols: tuple[str, ...] = ("all",)
    key_file: Path | None = None
    portable: bool = False
    kernel_name: str = "python3"
    _resolved_protocols: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fiscal_year_bounds(self.fiscal_year)  # validates the year
        if (self.data_dir is None) == (self.synthetic is None):
            raise ConfigurationError(
                "Give exactly one data source: data_dir (a folder of extracts) or synthetic "
                f"(a size); got data_dir={self.data_dir!r}, synthetic={self.synthetic!r}."
            )
        if self.synthetic is not None:
            valid = get_args(SyntheticSize)
            is_int = isinstance(self.synthetic, int) and not isinstance(self.synthetic, bool)
            if not (self.synthetic in valid or (is_int and self.synthetic > 0)):
                raise ConfigurationError(
                    f"synthetic must be one of {valid} or a positive integer; got {self.synthetic!r}."
                )
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", Path(self.data_dir))
            if not self.data_dir.is_dir():
                raise ConfigurationError(f"data_dir {str(self.data_dir)!r} is not a folder.")
        if self.portable and self.synthetic is None:
            raise ConfigurationError(
                "portable=True renders notebooks that regenerate synthetic data; it needs "
                "synthetic=<size>, not data_dir."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigurationError(f"seed must be a non-negative integer; got {self.seed!r}.")
        out = Path(self.out_dir) if self.out_dir is not None else Path("research") / f"FY{self.fiscal_year}"
        object.__setattr__(self, "out_dir", out)
        names = tuple(self.protocols)
        if names == ("all",) or "all" in names:
            resolved = tuple(PROTOCOLS)
        else:
            unknown = [p for p in names if p not in PROTOCOLS]
            if unknown or not names:
                raise ConfigurationError(
                    f"protocols {list(names)!r}: unknown {unknown}; valid: {sorted(PROTOCOLS)} or 'all'."
                )
            resolved = names
        object.__setattr__(self, "_resolved_protocols", resolved)

    @property
    def protocol_names(self) -> tuple[str, ...]:
        """The protocols this run renders, ``all`` expanded."""
        return self._resolved_protocols

    @property
    def store_dir(self) -> Path:
        """Where the validated, pseudonymised analysis store is written (never committed)."""
        return self.out_dir / "store"

    def notebook_parameters(self, protocol: str | None = None) -> dict[str, object]:
        """The papermill parameters the notebooks receive (with ``protocol``'s own, if given)."""
        params: dict[str, object] = {"fiscal_year": self.fiscal_year}
        if self.portable:
            params.update(store_dir=None, synthetic_size=self.synthetic, seed=self.seed)
        else:
            params.update(store_dir=str(self.store_dir.resolve()), synthetic_size=None, seed=self.seed)
        if protocol is not None:
            params.update(PROTOCOL_PARAMETERS.get(protocol, {}))
        return params
