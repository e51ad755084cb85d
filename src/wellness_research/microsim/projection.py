"""``Projection``: both arms of a care-level projection, their difference, and arrays for the economics.

Timing of costs and outcomes within a cycle
-------------------------------------------
The engines record the state of every person at the cycle boundaries (snapshots ``t = 0 .. T``).
A cycle's value of a state-dependent quantity ``f`` (cost rate, being alive, being free of 要介護2+)
is ``w_start f(t) + w_end f(t + 1)`` with

* ``"start"``: (1, 0), the state at the start of the cycle holds for the whole cycle;
* ``"end"``: (0, 1);
* ``"half-cycle"``: (1/2, 1/2), the half-cycle (trapezoid) correction (Barendregt 2009).

Discounting is per snapshot, ``(1 + r) ** -(t dt)``, so discounted values use the same weights. The
snapshot arrays (:meth:`Projection.snapshot_arrays`) let other corrections (Simpson's 1/3, Elbasha &
Chhatwal 2016) be applied outside.

References
----------
Barendregt JJ (2009). The half-cycle correction: banish rather than explain it. Medical Decision
Making 29(4):500-502.
Elbasha EH, Chhatwal J (2016). Theoretical foundations and practical applications of within-cycle
correction methods. Medical Decision Making 36(1):115-131.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from .parameters import STATES

__all__ = ["ARMS", "Projection", "Timing"]

Timing = Literal["start", "end", "half-cycle"]
ARMS: tuple[str, str] = ("control", "intervention")
_WEIGHTS = {"start": (1.0, 0.0), "end": (0.0, 1.0), "half-cycle": (0.5, 0.5)}
_FREE = np.zeros(9, dtype=bool)
_FREE[:4] = True  # independent, 要支援1, 要支援2, 要介護1: alive without 要介護2+ (平均自立期間)


@dataclass(frozen=True)
class Projection:
    """Both arms of a projection (read-only).

    Attributes
    ----------
    occupancy_detail : numpy.ndarray
        ``(2 arms, 2 sex, n_ages, T + 1, 9 states)`` persons at each cycle boundary, by sex and *starting*
        age row (attained age = starting age + whole years elapsed). Expected values for the cohort engine.
    new_certifications_detail, deaths_detail : numpy.ndarray
        ``(2, 2, n_ages, T, 9)`` first certifications by entry level and deaths by state of origin, per cycle.
    ages : numpy.ndarray
        Ages of the table rows. ``dt`` cycle length in years; ``years`` horizon; ``cycle``, ``engine``,
        ``effect``, ``uptake``, ``n_persons`` as given to :func:`~wellness_research.microsim.project`.
    ltc_cost_month, medical_cost_year : numpy.ndarray
        Cost tables used (per person-month by state; per person-year by sex, age row and state).
    discount_rate : float
        Default discount rate for the discounted columns.
    frailty_detail : numpy.ndarray or None
        With ``project(..., frailty=True)``: ``(2 arms, 2 sex, n_ages, T + 1, 3 groups)`` independent
        persons by frailty group (robust, pre-frail, frail; :data:`~wellness_research.microsim.FRAILTY_GROUPS`)
        at each cycle boundary; summed over the groups it is the independent state of
        ``occupancy_detail``. None without frailty. See :meth:`frailty_tidy`.
    timing : {"start", "end", "half-cycle"}
        Default timing of costs and outcomes within a cycle (module docstring).
    """

    occupancy_detail: np.ndarray = field(repr=False)
    new_certifications_detail: np.ndarray = field(repr=False)
    deaths_detail: np.ndarray = field(repr=False)
    ages: np.ndarray = field(repr=False)
    dt: float
    years: int
    cycle: str
    engine: str
    effect: Any
    uptake: float
    n_persons: int
    ltc_cost_month: np.ndarray = field(repr=False)
    medical_cost_year: np.ndarray = field(repr=False)
    discount_rate: float = 0.02
    timing: str = "half-cycle"
    frailty_detail: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        names = ["occupancy_detail", "new_certifications_detail", "deaths_detail", "ages", "ltc_cost_month",
                 "medical_cost_year"]
        if self.frailty_detail is not None:
            names.append("frailty_detail")
        for name in names:
            arr = np.array(getattr(self, name), dtype=np.float64 if name != "ages" else None, copy=True)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if self.timing not in _WEIGHTS:
            raise ConfigurationError(f"timing must be one of {get_args(Timing)}; got {self.timing!r}.")

    # ----------------------------------------------------------------- basic arrays
    @property
    def n_cycles(self) -> int:
        """Number of cycles ``T``."""
        return self.occupancy_detail.shape[3] - 1

    @property
    def cycles_per_year(self) -> int:
        """Cycles per year (12 or 1)."""
        return int(round(1.0 / self.dt))

    @property
    def occupancy(self) -> np.ndarray:
        """``(2 arms, T + 1, 9)`` persons by state at each cycle boundary."""
        return self.occupancy_detail.sum(axis=(1, 2))

    def _age_rows(self) -> np.ndarray:
        """``(n_ages, T + 1)`` attained age row by starting row and snapshot."""
        n = len(self.ages)
        step = np.arange(self.n_cycles + 1) // self.cycles_per_year
        return np.minimum(np.arange(n)[:, None] + step[None, :], n - 1)

    def snapshot_arrays(self) -> dict[str, np.ndarray]:
        """Per-cycle rates of the persons at each snapshot, ``(2 arms, T + 1)`` each (for the economics).

        Keys: ``alive`` and ``without_care2plus`` (persons, to be multiplied by ``dt`` for
        person-years), ``ltc_cost`` and ``medical_cost`` (yen per cycle of the persons in the snapshot),
        ``time`` (years at the snapshot, ``(T + 1,)``). A cycle's value is a weighted sum of
        neighbouring snapshots (see the module docstring).
        """
        occ = self.occupancy_detail
        alive = occ[..., :8].sum(axis=-1).sum(axis=(1, 2))
        free = occ[..., _FREE].sum(axis=-1).sum(axis=(1, 2))
        ltc = (self.occupancy @ self.ltc_cost_month) * 12.0 * self.dt
        rows = self._age_rows()
        med_tab = self.medical_cost_year[:, rows, :]  # (2 sex, n_ages, T+1, 9)
        med = (occ * med_tab[None]).sum(axis=(1, 2, 4)) * self.dt
        return {"alive": alive, "without_care2plus": free, "ltc_cost": ltc, "medical_cost": med,
                "time": np.arange(self.n_cycles + 1) * self.dt}

    def _weights(self, timing: str | None) -> tuple[float, float]:
        t = self.timing if timing is None else timing
        if t not in _WEIGHTS:
            raise ConfigurationError(f"timing must be one of {get_args(Timing)}; got {t!r}.")
        return _WEIGHTS[t]

    def _discount(self, rate: float | None) -> np.ndarray:
        r = self.discount_rate if rate is None else rate
        if isinstance(r, bool) or not isinstance(r, (int, float, np.floating)) or not 0 <= r < 1:
            raise ConfigurationError(f"discount_rate must be in [0, 1); got {r!r}.")
        return (1.0 + float(r)) ** -(np.arange(self.n_cycles + 1) * self.dt)

    def _per_cycle(self, snap: np.ndarray, w: tuple[float, float], disc: np.ndarray | None) -> np.ndarray:
        x = snap if disc is None else snap * disc
        return w[0] * x[..., :-1] + w[1] * x[..., 1:]

    def _per_year(self, per_cycle: np.ndarray) -> np.ndarray:
        return per_cycle.reshape(*per_cycle.shape[:-1], self.years, self.cycles_per_year).sum(axis=-1)

    def annual_outcomes(self, *, timing: Timing | None = None, discount_rate: float | None = None) -> dict[str, np.ndarray]:
        """Per-arm, per-year outcomes, ``(2 arms, years)`` each: the contract for the economics.

        Keys: ``life_years``, ``years_without_care2plus``, ``ltc_cost``, ``medical_cost`` (undiscounted)
        and the same with suffix ``_discounted``; ``new_certifications`` and ``deaths`` (counts).

        Examples
        --------
        >>> import pandas as pd
        >>> from wellness_research.microsim import project
        >>> pop = pd.DataFrame({"age": [75], "sex": ["F"], "state": ["independent"]})
        >>> out = project(pop, years=2, cycle="year", engine="cohort").annual_outcomes(timing="start")
        >>> out["life_years"][0].tolist()
        [1.0, 0.9897...]
        """
        w = self._weights(timing)
        disc = self._discount(discount_rate)
        snap = self.snapshot_arrays()
        out: dict[str, np.ndarray] = {}
        for key, name in (("alive", "life_years"), ("without_care2plus", "years_without_care2plus")):
            out[name] = self._per_year(self._per_cycle(snap[key] * self.dt, w, None))
            out[name + "_discounted"] = self._per_year(self._per_cycle(snap[key] * self.dt, w, disc))
        for key in ("ltc_cost", "medical_cost"):
            out[key] = self._per_year(self._per_cycle(snap[key], w, None))
            out[key + "_discounted"] = self._per_year(self._per_cycle(snap[key], w, disc))
        out["new_certifications"] = self._per_year(self.new_certifications_detail.sum(axis=(1, 2, 4)))
        out["deaths"] = self._per_year(self.deaths_detail.sum(axis=(1, 2, 4)))
        return out

    def prevalence_by_age(self, year: int, *, arm: str = "control", bands: tuple[int, ...] = (65, 70, 75, 80, 85, 90)) -> pd.DataFrame:
        """Certified share of the living by sex and attained 5-year band at the start of ``year``."""
        if arm not in ARMS:
            raise ConfigurationError(f"arm must be one of {ARMS}; got {arm!r}.")
        if not 0 <= year <= self.years:
            raise ConfigurationError(f"year must be in 0..{self.years}; got {year!r}.")
        t = year * self.cycles_per_year
        occ = self.occupancy_detail[ARMS.index(arm), :, :, t, :]  # (2, n_ages, 9)
        rows = self._age_rows()[:, t]
        age = self.ages[rows]
        band = np.searchsorted(np.asarray(bands), age, side="right") - 1
        recs = []
        for s, sx in enumerate(("M", "F")):
            for b, lo in enumerate(bands):
                sel = band == b
                alive = occ[s, sel, :8].sum()
                cert = occ[s, sel, 1:8].sum()
                label = f"{lo}-{bands[b + 1] - 1}" if b + 1 < len(bands) else f"{lo}+"
                recs.append({"sex": sx, "band": label, "persons": alive,
                             "prevalence": cert / alive if alive > 0 else np.nan})
        return pd.DataFrame(recs)

    # ----------------------------------------------------------------- tables
    def tidy(self, *, timing: Timing | None = None, discount_rate: float | None = None) -> pd.DataFrame:
        """One row per arm × year (0 = start … ``years``) × state.

        Columns: ``arm``, ``year``, ``state``, ``persons`` (in the state at the end of the year; year 0
        the start), and for the year's cycles (0 in year 0): ``person_years``, ``new_certifications``
        (first certifications entering the state), ``deaths`` (from the state), ``ltc_cost``,
        ``medical_cost``, ``ltc_cost_discounted``, ``medical_cost_discounted``,
        ``years_without_care2plus`` (person-years in independent..要介護1), ``engine``.
        """
        w = self._weights(timing)
        disc = self._discount(discount_rate)
        occ = self.occupancy  # (2, T+1, 9)
        cpy = self.cycles_per_year
        py = self._per_year(self._per_cycle(np.moveaxis(occ, 1, -1) * self.dt, w, None))
        ltc_rate = np.moveaxis(occ * (self.ltc_cost_month * 12.0 * self.dt), 1, -1)  # (2, 9, T+1)
        rows = self._age_rows()
        med_state = np.einsum("xsatk,satk->xkt", self.occupancy_detail,
                              self.medical_cost_year[:, rows, :]) * self.dt  # (2, 9, T+1)
        cols = {
            "person_years": py,
            "ltc_cost": self._per_year(self._per_cycle(ltc_rate, w, None)),
            "medical_cost": self._per_year(self._per_cycle(med_state, w, None)),
            "ltc_cost_discounted": self._per_year(self._per_cycle(ltc_rate, w, disc)),
            "medical_cost_discounted": self._per_year(self._per_cycle(med_state, w, disc)),
            "new_certifications": self._per_year(np.moveaxis(self.new_certifications_detail.sum(axis=(1, 2)), 1, -1)),
            "deaths": self._per_year(np.moveaxis(self.deaths_detail.sum(axis=(1, 2)), 1, -1)),
        }
        n_states = len(STATES)
        years = np.arange(self.years + 1)
        arm_i, year_i, state_i = np.meshgrid(np.arange(2), years, np.arange(n_states), indexing="ij")
        df = pd.DataFrame({
            "arm": np.asarray(ARMS, dtype=object)[arm_i.ravel()],
            "year": year_i.ravel(),
            "state": np.asarray(STATES, dtype=object)[state_i.ravel()],
            "persons": occ[:, years * cpy, :].ravel(),
        })
        for name, arr in cols.items():  # arr (2, 9, years) -> prepend year 0 of zeros
            full = np.concatenate([np.zeros((2, n_states, 1)), arr], axis=2)
            df[name] = np.moveaxis(full, 1, 2).ravel()
        df["years_without_care2plus"] = np.where(df["state"].isin(np.asarray(STATES)[_FREE]), df["person_years"], 0.0)
        df["engine"] = self.engine
        return df

    def frailty_tidy(self, *, timing: Timing | None = None) -> pd.DataFrame:
        """Independent persons by frailty group: one row per arm × year (0 … ``years``) × group.

        Only for a projection with ``frailty=True``. Columns: ``arm``, ``year``, ``state``
        (``"independent"``), ``frailty`` (``"robust"``, ``"pre-frail"``, ``"frail"``), ``persons``
        (independent persons of the group at the end of the year; year 0 the start), ``person_years``
        (in the year's cycles, timing as :meth:`tidy`; 0 in year 0), ``share`` (of the independent
        persons of the arm and year), ``engine``. Summed over the groups, ``persons`` and
        ``person_years`` equal the ``independent`` rows of :meth:`tidy` (up to rounding). A person's
        group is shared by both arms; it moves every cycle by the frailty transition matrix (after the
        cycle's state draw) and is carried, unseen, while the person is certified.

        Raises
        ------
        ConfigurationError
            The projection was run without ``frailty=True``.

        Examples
        --------
        >>> import pandas as pd
        >>> from wellness_research.microsim import project
        >>> pop = pd.DataFrame({"age": [75, 80], "sex": ["F", "M"], "state": ["independent", "independent"],
        ...                     "frailty": ["robust", "frail"]})
        >>> ft = project(pop, years=2, cycle="year", engine="cohort", frailty=True).frailty_tidy()
        >>> ft.query("arm == 'control' and year == 0")[["frailty", "persons"]].to_numpy().tolist()
        [['robust', 1.0], ['pre-frail', 0.0], ['frail', 1.0]]
        """
        from .parameters import FRAILTY_GROUPS

        if self.frailty_detail is None:
            raise ConfigurationError(
                "frailty_tidy needs a projection run with frailty=True (project(..., frailty=True)).")
        w = self._weights(timing)
        cpy = self.cycles_per_year
        focc = self.frailty_detail.sum(axis=(1, 2))  # (2, T+1, G)
        G = focc.shape[-1]
        py = self._per_year(self._per_cycle(np.moveaxis(focc, 1, -1) * self.dt, w, None))  # (2, G, years)
        py = np.concatenate([np.zeros((2, G, 1)), py], axis=2)
        years = np.arange(self.years + 1)
        persons = focc[:, years * cpy, :]  # (2, years+1, G)
        total = persons.sum(axis=-1, keepdims=True)
        share = np.divide(persons, total, out=np.full_like(persons, np.nan), where=total > 0)
        arm_i, year_i, g_i = np.meshgrid(np.arange(2), years, np.arange(G), indexing="ij")
        return pd.DataFrame({
            "arm": np.asarray(ARMS, dtype=object)[arm_i.ravel()],
            "year": year_i.ravel(),
            "state": "independent",
            "frailty": np.asarray(FRAILTY_GROUPS, dtype=object)[g_i.ravel()],
            "persons": persons.ravel(),
            "person_years": np.moveaxis(py, 1, 2).ravel(),
            "share": share.ravel(),
            "engine": self.engine,
        })

    def differences(self, *, timing: Timing | None = None, discount_rate: float | None = None) -> pd.DataFrame:
        """Totals over the horizon by arm and intervention − control, one row per outcome."""
        out = self.annual_outcomes(timing=timing, discount_rate=discount_rate)
        occ = self.occupancy
        rows = []
        for name, arr in out.items():
            tot = arr.sum(axis=1)
            rows.append({"outcome": name, "control": tot[0], "intervention": tot[1], "difference": tot[1] - tot[0]})
        care2 = occ[:, -1, 4:8].sum(axis=1)
        rows.append({"outcome": f"persons_care2plus_year{self.years}", "control": care2[0],
                     "intervention": care2[1], "difference": care2[1] - care2[0]})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """Headline differences (intervention − control) over the horizon, as text."""
        d = self.differences().set_index("outcome")
        eff = "none" if self.effect is None else repr(self.effect)
        lines = [
            f"Care-level projection: {self.n_persons:,} persons, {self.years} years, {self.cycle}ly cycles, "
            f"engine={self.engine}, uptake={self.uptake:g}, timing={self.timing}, discount {self.discount_rate:.1%}/yr",
            f"effect: {eff}",
            f"{'outcome':<38}{'control':>18}{'intervention':>18}{'difference':>16}",
        ]
        for name, r in d.iterrows():
            lines.append(f"{name:<38}{r['control']:>18,.1f}{r['intervention']:>18,.1f}{r['difference']:>16,.1f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<pre>{self.summary()}</pre>"

    def plot(self, ax: Any = None, *, states: tuple[str, ...] | None = None) -> Any:
        """Persons by state over the years, control (solid) vs intervention (dashed). Returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4.5))
        occ = self.occupancy
        cpy = self.cycles_per_year
        years = np.arange(self.years + 1)
        chosen = states or STATES[1:]
        for k, name in enumerate(STATES):
            if name not in chosen:
                continue
            line, = ax.plot(years, occ[0, years * cpy, k], label=name)
            ax.plot(years, occ[1, years * cpy, k], linestyle="--", color=line.get_color())
        ax.set_xlabel("year")
        ax.set_ylabel("persons")
        ax.set_title("State occupancy: control (solid) vs intervention (dashed)")
        ax.legend(fontsize="small", ncol=2)
        return ax
