"""Care-level microsimulation: project certifications, care levels, deaths and costs, with and without a programme.

Entry points: :func:`load_parameters` (the shipped, sourced defaults) and :func:`project` (both arms,
cohort or individual-level engine, common random numbers). See :mod:`wellness_research.microsim.engine`.
Economics (:mod:`~wellness_research.microsim.economics`): discounting, within-cycle correction, ICERs with
dominance, CEAC, EVPI, one-way DSA; :mod:`~wellness_research.microsim.psa`: probabilistic sensitivity
analysis with joblib (and Dask through joblib's backend); :mod:`~wellness_research.microsim.costmodel`:
programme costs and the take-over decision.
"""

from .calibrate import calibration_population, calibration_report
from .convert import annual_to_cycle_matrix, convert_probability, probability_to_rate, rate_to_probability
from .costmodel import (
    DecisionResult,
    break_even,
    break_even_participation,
    cost_distributions,
    decide,
    load_programme_costs,
    programme_cost,
)
from .economics import (
    ceac,
    discount_factors,
    evpi,
    icers,
    integrate,
    net_monetary_benefit,
    one_way_dsa,
    population_evpi,
    projection_totals,
)
from .effect import Effect
from .engine import EncodedPopulation, encode_population, project
from .estimate import EstimatedParameters, estimate_parameters, observed_histories
from .parameters import FRAILTY_GROUPS, LEVELS, STATES, Parameters, load_parameters
from .population import population_at
from .projection import Projection
from .psa import Beta, Dirichlet, DirichletRows, Fixed, Gamma, LogNormal, PSAResult, band_matrix_value, run_psa

__all__ = [
    "Beta",
    "DecisionResult",
    "Dirichlet",
    "DirichletRows",
    "Effect",
    "EncodedPopulation",
    "EstimatedParameters",
    "FRAILTY_GROUPS",
    "Fixed",
    "Gamma",
    "LEVELS",
    "LogNormal",
    "PSAResult",
    "Parameters",
    "Projection",
    "STATES",
    "annual_to_cycle_matrix",
    "band_matrix_value",
    "break_even",
    "break_even_participation",
    "calibration_population",
    "calibration_report",
    "ceac",
    "convert_probability",
    "cost_distributions",
    "decide",
    "discount_factors",
    "encode_population",
    "estimate_parameters",
    "evpi",
    "icers",
    "integrate",
    "load_parameters",
    "load_programme_costs",
    "net_monetary_benefit",
    "observed_histories",
    "one_way_dsa",
    "population_at",
    "population_evpi",
    "probability_to_rate",
    "programme_cost",
    "project",
    "projection_totals",
    "rate_to_probability",
    "run_psa",
]
