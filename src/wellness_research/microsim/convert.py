"""Conversions between rates and probabilities, and from annual to per-cycle transition matrices.

Rates and probabilities (constant hazard within the interval; Briggs, Claxton & Sculpher 2006, §3.3):

    p = 1 - exp(-r t),    r = -log(1 - p) / t,    p_t = 1 - (1 - p_1)^t.

Annual to monthly matrices (:func:`annual_to_cycle_matrix`). The annual matrix ``P`` is embedded in a
continuous-time Markov chain: ``Q = logm(P)`` (principal logarithm) and the cycle matrix is
``expm(Q * fraction)``, which equals the principal root ``P ** fraction`` and reproduces ``P`` exactly
after ``1 / fraction`` cycles. When ``Q`` is not a valid generator (negative off-diagonal rates, which
happens when the annual matrix has zeros that one month could not produce, e.g. no two-level jumps),
it is regularised by the *diagonal adjustment* of Israel, Rosenthal & Wei (2001, §3): negative
off-diagonal entries are set to zero and the diagonal is reset so that each row sums to zero. The
result is then always a valid stochastic matrix; its ``1 / fraction``-th power differs from ``P`` by a
small, reported amount (:class:`MatrixConversion`).

References
----------
Israel RB, Rosenthal JS, Wei JZ (2001). Finding generators for Markov chains via empirical transition
matrices, with applications to credit ratings. Mathematical Finance 11(2):245-265.
Briggs A, Claxton K, Sculpher M (2006). Decision Modelling for Health Economic Evaluation. OUP.
Chhatwal J, Jayasuriya S, Elbasha EH (2016). Changing cycle lengths in state-transition models:
challenges and solutions. Medical Decision Making 36(8):952-964.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy.linalg import expm, logm

from ..errors import ConfigurationError

__all__ = [
    "ConversionMethod",
    "MatrixConversion",
    "annual_to_cycle_matrix",
    "convert_probability",
    "probability_to_rate",
    "rate_to_probability",
]

ConversionMethod = Literal["generator", "root"]
_TOL = 1e-10


def _check_probability(p: np.ndarray, name: str) -> None:
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        bad = p[~(np.isfinite(p) & (p >= 0) & (p <= 1))]
        raise ConfigurationError(f"{name} must be probabilities in [0, 1]; got e.g. {bad.ravel()[:3].tolist()}.")


def _check_time(t: float, name: str) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or not t > 0 or not np.isfinite(t):
        raise ConfigurationError(f"{name} must be a positive finite number; got {t!r}.")
    return float(t)


def rate_to_probability(rate: float | np.ndarray, time: float = 1.0) -> float | np.ndarray:
    """Probability of at least one event in ``time`` at a constant hazard ``rate``: ``1 - exp(-rate t)``.

    Examples
    --------
    >>> round(rate_to_probability(0.1), 6)
    0.095163
    >>> round(float(rate_to_probability(-np.log(0.5), 2.0)), 6)
    0.75
    """
    r = np.asarray(rate, dtype=np.float64)
    if np.any(~np.isfinite(r)) or np.any(r < 0):
        raise ConfigurationError(f"rate must be non-negative and finite; got {rate!r}.")
    out = -np.expm1(-r * _check_time(time, "time"))
    return float(out) if out.ndim == 0 else out


def probability_to_rate(probability: float | np.ndarray, time: float = 1.0) -> float | np.ndarray:
    """Constant hazard giving ``probability`` over ``time``: ``-log(1 - p) / t`` (``inf`` at p = 1).

    Examples
    --------
    >>> round(probability_to_rate(0.5), 6)
    0.693147
    """
    p = np.asarray(probability, dtype=np.float64)
    _check_probability(p, "probability")
    with np.errstate(divide="ignore"):
        out = -np.log1p(-p) / _check_time(time, "time")
    return float(out) if out.ndim == 0 else out


def convert_probability(probability: float | np.ndarray, from_time: float, to_time: float) -> float | np.ndarray:
    """Probability over ``to_time`` from one over ``from_time`` (constant hazard): ``1 - (1 - p)^(to/from)``.

    Examples
    --------
    >>> round(convert_probability(0.2, 1.0, 1 / 12), 6)  # annual 20 % -> monthly
    0.018423
    """
    p = np.asarray(probability, dtype=np.float64)
    _check_probability(p, "probability")
    ratio = _check_time(to_time, "to_time") / _check_time(from_time, "from_time")
    out = -np.expm1(np.log1p(-p) * ratio) if ratio else p
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class MatrixConversion:
    """A converted transition matrix and how well it reproduces the original.

    Attributes
    ----------
    matrix : numpy.ndarray
        The per-cycle stochastic matrix.
    method : str
        ``"generator"`` or ``"root"``.
    regularised : bool
        Whether the generator (or the root) had to be corrected to be valid.
    max_abs_error : float
        ``max |matrix ** (1 / fraction) - P|`` (0 up to rounding when not regularised).
    """

    matrix: np.ndarray
    method: str
    regularised: bool
    max_abs_error: float


def _validate_stochastic(p: np.ndarray, name: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ConfigurationError(f"{name} must be a square matrix; got shape {p.shape}.")
    if np.any(~np.isfinite(p)) or np.any(p < -_TOL):
        raise ConfigurationError(f"{name} must have finite non-negative entries; min entry {np.nanmin(p)!r}.")
    rows = p.sum(axis=1)
    if np.any(np.abs(rows - 1.0) > 1e-8):
        i = int(np.argmax(np.abs(rows - 1.0)))
        raise ConfigurationError(f"{name} rows must sum to 1; row {i} sums to {rows[i]!r}.")
    return p


def annual_to_cycle_matrix(
    annual: np.ndarray, *, fraction: float = 1.0 / 12.0, method: ConversionMethod = "generator"
) -> MatrixConversion:
    """Per-cycle transition matrix from an annual one.

    Parameters
    ----------
    annual : numpy.ndarray
        Square row-stochastic matrix over one year.
    fraction : float, default 1/12
        Cycle length in years (1/12 for months). ``1 / fraction`` need not be an integer.
    method : {"generator", "root"}, default "generator"
        ``"generator"``: ``expm(fraction * logm(P))`` with the Israel–Rosenthal–Wei diagonal adjustment
        when ``logm(P)`` is not a valid generator (see the module docstring). ``"root"``: the principal
        fractional power with negative entries clipped to zero and rows renormalised (the synthetic
        generator's conversion).

    Returns
    -------
    MatrixConversion

    Raises
    ------
    ConfigurationError
        If ``annual`` is not a square stochastic matrix, ``fraction`` not in (0, 1], or ``method`` unknown;
        or if the matrix has no real logarithm (an eigenvalue on the negative real axis).

    Examples
    --------
    >>> P = np.array([[0.8, 0.2], [0.0, 1.0]])
    >>> m = annual_to_cycle_matrix(P)
    >>> round(float(m.matrix[0, 0]), 6) == round(0.8 ** (1 / 12), 6)
    True
    >>> m.regularised
    False
    """
    if method not in get_args(ConversionMethod):
        raise ConfigurationError(f"method must be one of {get_args(ConversionMethod)}; got {method!r}.")
    frac = _check_time(fraction, "fraction")
    if frac > 1.0:
        raise ConfigurationError(f"fraction must be in (0, 1] (a cycle no longer than the year); got {fraction!r}.")
    P = _validate_stochastic(annual, "annual")
    n_cycles = 1.0 / frac
    if frac == 1.0:
        return MatrixConversion(P.copy(), method, False, 0.0)
    if method == "generator":
        with np.errstate(all="ignore"):
            Q = logm(P)
        if np.iscomplexobj(Q):
            if np.abs(Q.imag).max() > 1e-8:
                raise ConfigurationError(
                    "annual has no real matrix logarithm (an eigenvalue is negative or complex with a "
                    "large imaginary part); use method='root' or a different matrix."
                )
            Q = Q.real
        off = ~np.eye(len(P), dtype=bool)
        regularised = bool(np.any(Q[off] < -_TOL))
        if regularised:
            Q = np.where(off & (Q < 0), 0.0, Q)
            np.fill_diagonal(Q, 0.0)
            np.fill_diagonal(Q, -Q.sum(axis=1))
        M = expm(Q * frac)
    else:
        from scipy.linalg import fractional_matrix_power

        M = np.real(fractional_matrix_power(P, frac))
        regularised = bool(np.any(M < -_TOL))
    M = np.clip(M, 0.0, None)
    M = M / M.sum(axis=1, keepdims=True)
    M = _validate_stochastic(M, "the converted matrix")
    back = np.linalg.matrix_power(M, int(round(n_cycles))) if abs(n_cycles - round(n_cycles)) < 1e-9 else None
    err = float(np.abs(back - P).max()) if back is not None else float("nan")
    return MatrixConversion(M, method, regularised, err)
