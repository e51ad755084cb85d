"""Plots of the TWFE results (matplotlib; no global style or rc changes).

``plot_did_means``
    The 2×2: treated and control means before and after, with the treated group's counterfactual
    under parallel trends (dashed) so the DiD is the vertical gap at "post".
``plot_event_study``
    Coefficients by event time with pointwise intervals (error bars), the simultaneous sup-t band
    (shaded), a zero line and the reference period marked.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> from wellness_research.did.twfe import did_2x2
>>> df = pd.DataFrame({"u": [1, 1, 2, 2, 3, 3, 4, 4], "t": [0, 1] * 4, "tr": [1] * 4 + [0] * 4,
...                    "p": [0, 1] * 4, "y": [1.0, 4.0, 2.0, 5.0, 1.0, 2.0, 3.0, 4.0]})
>>> ax = plot_did_means(did_2x2(df, outcome="y", unit="u", time="t", treated="tr", post="p"))
>>> [t.get_text() for t in ax.get_xticklabels()]
['pre', 'post']
>>> import matplotlib.pyplot as plt; plt.close("all")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ._results import DiDResult, EventStudyResult

__all__ = ["plot_did_means", "plot_event_study"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(6, 4))
    return ax


def plot_did_means(result: DiDResult, ax: Any = None) -> Any:
    """Plot the 2×2 cell means of a :class:`DiDResult`; returns the matplotlib Axes."""
    ax = _axes(ax)
    cm = result.cell_means.set_index(["group", "period"])["mean"]
    x = np.array([0.0, 1.0])
    tr = np.array([cm["treated", "pre"], cm["treated", "post"]])
    co = np.array([cm["control", "pre"], cm["control", "post"]])
    ax.plot(x, tr, marker="o", color="C1", label="treated")
    ax.plot(x, co, marker="o", color="C0", label="control")
    counterfactual = tr[0] + (co[1] - co[0])
    ax.plot(x, [tr[0], counterfactual], linestyle="--", color="C1", alpha=0.6, label="treated, parallel trend")
    ax.annotate("", xy=(1.0, tr[1]), xytext=(1.0, counterfactual),
                arrowprops={"arrowstyle": "<->", "color": "0.3"})
    ax.text(1.02, 0.5 * (tr[1] + counterfactual), f"DiD {result.cell_mean_did:.3g}", va="center", fontsize=9)
    ax.set_xticks(x, ["pre", "post"])
    ax.set_xlim(-0.3, 1.45)
    ax.set_ylabel(f"mean {result.outcome}")
    ax.set_title("Difference in differences: cell means")
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_event_study(result: EventStudyResult, ax: Any = None) -> Any:
    """Plot an :class:`EventStudyResult`: estimates, pointwise CIs, sup-t band; returns the Axes."""
    ax = _axes(ax)
    tidy = result.tidy()
    e = tidy["event_time"].to_numpy(dtype=float)
    est = tidy["estimate"].to_numpy(dtype=float)
    ok = ~tidy["reference"].to_numpy(dtype=bool)
    level = f"{100 * (1 - result.alpha):g}%"
    ax.fill_between(e[ok], tidy["band_low"][ok], tidy["band_high"][ok], color="C0", alpha=0.15, step=None,
                    label=f"{level} simultaneous (sup-t)")
    ax.errorbar(e[ok], est[ok], yerr=[est[ok] - tidy["conf_low"][ok], tidy["conf_high"][ok] - est[ok]],
                fmt="o", color="C0", capsize=3, label=f"{level} pointwise")
    ax.plot(e[~ok], est[~ok], marker="o", mfc="white", color="C0", linestyle="none", label="reference (0)")
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    ax.axvline(result.reference + 0.5, color="0.6", linestyle=":", linewidth=0.8)
    ax.set_xlabel("event time (periods since first treatment)")
    ax.set_ylabel(f"effect on {result.outcome}")
    ax.set_title("Event study (TWFE)" + (" — staggered: diagnostic only" if result.staggered else ""))
    ax.legend(frameon=False, fontsize=8)
    return ax
