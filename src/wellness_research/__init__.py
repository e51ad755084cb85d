"""wellness_research: matching, difference-in-differences and microsimulation for evaluating
municipal care-prevention (介護予防) programmes, with a seeded synthetic municipality as default.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wellness_research")
except PackageNotFoundError:  # pragma: no cover - only when run from a source tree not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
