"""The seeded synthetic municipality: the embedded default input of wellness_research.

``make_municipality`` generates the 12 tables of the data contract for a Hachioji-like city
(residents aged 65+, April 2019 – March 2026), calibrated to ``reference/DOMAIN.md``, with
confounded programme participation and known true effects (:class:`TrueEffects`), and the exact
estimands those effects imply (:class:`GroundTruth`). ``calibration_table`` compares what was
generated with the reference figures.

Examples
--------
>>> from wellness_research.synthetic import make_municipality
>>> tables, truth = make_municipality("tiny", seed=0)
>>> len(tables)
12
"""

from __future__ import annotations

from .calibration import calibration_table
from .municipality import MUNICIPALITY_SIZES, TABLE_NAMES, Municipality, MunicipalitySize, make_municipality
from .parameters import Parameter, SyntheticParameters, load_parameters
from .truth import GroundTruth, SampleTruth, TrueEffects, sample_truth

__all__ = [
    "GroundTruth",
    "MUNICIPALITY_SIZES",
    "Municipality",
    "MunicipalitySize",
    "Parameter",
    "SampleTruth",
    "SyntheticParameters",
    "TABLE_NAMES",
    "TrueEffects",
    "calibration_table",
    "load_parameters",
    "make_municipality",
    "sample_truth",
]
