"""Descriptive tables and figures for the rendered notebooks."""

from __future__ import annotations

from .descriptive import (
    certification_prevalence,
    certified_on,
    population_on,
    population_pyramid,
    programme_participation,
    table_counts,
)
from .plots import japanese_font, plot_certification_prevalence, plot_population_pyramid
from .reference import NATIONAL_CERTIFICATION_BY_AGE

__all__ = [
    "NATIONAL_CERTIFICATION_BY_AGE",
    "certification_prevalence",
    "certified_on",
    "japanese_font",
    "plot_certification_prevalence",
    "plot_population_pyramid",
    "population_on",
    "population_pyramid",
    "programme_participation",
    "table_counts",
]
