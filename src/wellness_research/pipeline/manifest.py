"""Provenance of a rendered run: what produced it, from what, with which parameters."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["environment_info", "git_state"]

_KEY_PACKAGES = (
    "dowhy", "jupyterlab", "matplotlib", "nbclient", "nbconvert", "nbval", "numpy", "pandas",
    "pandera", "papermill", "pyarrow", "pyfixest", "scikit-learn", "scipy", "seaborn",
    "statsmodels", "wellness_research",
)


def git_state(path: Path | None = None, *, exclude: Path | None = None) -> dict[str, object]:
    """Commit and dirty flag of the git checkout containing ``path`` (the package source).

    ``exclude`` is a folder whose changes do not make the checkout dirty: the run's own output
    folder (re-rendering ``research/demo`` rewrites tracked files while the run is going on).
    Returns ``{"commit": None, "dirty": None}`` outside a checkout (an installed wheel).
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=where, capture_output=True, text=True,
            check=True,
        ).stdout.strip()
        pathspec = [top] + ([f":(exclude){Path(exclude).resolve()}"] if exclude is not None else [])
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *pathspec],
            cwd=where, capture_output=True, text=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def environment_info() -> dict[str, object]:
    """Python, platform and the versions of the packages that shape the numbers."""
    packages = {}
    for name in _KEY_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": packages,
    }
