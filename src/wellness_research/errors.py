"""The package's errors and warnings, in one place.

Every error the library raises on purpose derives from :class:`WellnessResearchError`, and every
warning from :class:`WellnessResearchWarning`, so that a notebook or a batch can catch or filter
them precisely without catching unrelated failures.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DataDictionaryError",
    "DataValidationError",
    "ExcludedUnitsWarning",
    "NoCaliperWarning",
    "PrivacyError",
    "ProblemSizeError",
    "PropensityModelError",
    "PropensityModelWarning",
    "SingularDesignError",
    "SingularDesignWarning",
    "SmallCellWarning",
    "SmallCohortWarning",
    "StaggeredTWFEWarning",
    "UnbalancedPanelError",
    "WellnessResearchError",
    "WellnessResearchWarning",
]


class WellnessResearchError(Exception):
    """Base class of every error raised by wellness_research on purpose."""


class ConfigurationError(WellnessResearchError, ValueError):
    """A parameter, option or run configuration is invalid (names the parameter and the value)."""


class DataDictionaryError(WellnessResearchError):
    """The data dictionary itself is incomplete or inconsistent."""


class DataValidationError(WellnessResearchError):
    """Input tables violate the data dictionary; carries the full :class:`ValidationReport`."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class PrivacyError(WellnessResearchError):
    """A privacy rule would be broken (demo key on real data, identifier in an output, ...)."""


class ProblemSizeError(WellnessResearchError, MemoryError):
    """A problem is too large for the chosen method; the message names the sizes and the limit."""


class WellnessResearchWarning(UserWarning):
    """Base class of every warning issued by wellness_research."""


class SmallCellWarning(WellnessResearchWarning):
    """A published table contains cells that were suppressed because they are too small."""


class PropensityModelError(WellnessResearchError):
    """The propensity model cannot be used (perfect separation: some scores are exactly 0 or 1)."""


class PropensityModelWarning(WellnessResearchWarning):
    """The propensity model did not converge or shows quasi-separation; scores may be unreliable."""


class NoCaliperWarning(WellnessResearchWarning):
    """Matching without a caliper: every treated unit is matched however far its nearest control."""


class StaggeredTWFEWarning(WellnessResearchWarning):
    """A two-way fixed-effects fit under staggered timing: TWFE is a diagnostic only; use ``att_gt``."""


class UnbalancedPanelError(WellnessResearchError, ValueError):
    """A method that needs a balanced panel received an unbalanced one (names how many units are incomplete)."""


class SingularDesignError(WellnessResearchError, ValueError):
    """A design matrix is singular (collinear regressors, no variation); names the offending terms."""


class SmallCohortWarning(WellnessResearchWarning):
    """A treated cohort or its comparison group is too small for a reliable group-time estimate."""


class SingularDesignWarning(WellnessResearchWarning):
    """An estimate could not be computed (empty group, singular design) and is NaN; names which."""


class ExcludedUnitsWarning(WellnessResearchWarning):
    """Units were excluded from an analysis (e.g. treated before the first period); counts them."""
