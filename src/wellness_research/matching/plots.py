"""Love plot: standardized mean differences before and after matching, one row per covariate.

References
----------
Ahmed, A. et al. (2006). Heart failure, chronic diuretic use, and increase in mortality and
hospitalization. *European Heart Journal* 27, 1431–1439 (the plot's origin, named after T. Love).
Greifer, N. cobalt ``love.plot`` (R package) — the layout followed here.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..errors import ConfigurationError
from ..reporting.plots import japanese_font
from .balance import BalanceTable, balance
from .result import MatchResult

__all__ = ["love_plot"]


def love_plot(
    result_or_balance: MatchResult | BalanceTable,
    *,
    threshold: float = 0.1,
    abs: bool = True,  # noqa: A002 - the name used by cobalt's love.plot
    title: str | None = None,
) -> Figure:
    """Love plot of the SMDs before (open circles) and after (filled) matching.

    Parameters
    ----------
    result_or_balance : MatchResult or BalanceTable
        A matched design (its default :func:`~wellness_research.matching.balance` is used) or a
        balance table already computed (e.g. with squares and interactions).
    threshold : float, default 0.1
        Drawn as dashed vertical line(s) at ``threshold`` (and ``-threshold`` when ``abs=False``).
    abs : bool, default True
        Plot |SMD| (cobalt's default) rather than the signed SMD.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Texts are set in the Japanese font, so Japanese covariate labels render. The caller's
        global matplotlib settings are not changed.
    """
    if isinstance(result_or_balance, MatchResult):
        bal = balance(result_or_balance)
    elif isinstance(result_or_balance, BalanceTable):
        bal = result_or_balance
    else:
        raise ConfigurationError(
            "love_plot: result_or_balance must be a MatchResult or a BalanceTable, got "
            f"{type(result_or_balance).__name__}."
        )
    if not (isinstance(threshold, (int, float)) and threshold > 0):
        raise ConfigurationError(f"love_plot: threshold must be a positive number, got {threshold!r}.")
    t = bal.table
    before = t["smd_before"].to_numpy(dtype=float)
    after = t["smd_after"].to_numpy(dtype=float)
    if abs:
        before, after = np.abs(before), np.abs(after)
    # Largest imbalance before matching at the top, as cobalt does with var.order = "unadjusted".
    order = np.argsort(np.nan_to_num(np.abs(before), nan=-1.0), kind="stable")
    labels = t["covariate"].astype(str).to_numpy()[order]
    y = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(order) + 1.5))
    ax.scatter(before[order], y, facecolors="none", edgecolors="#C44E52", label="マッチング前 (before)", zorder=3)
    ax.scatter(after[order], y, color="#4C72B0", label="マッチング後 (after)", zorder=3)
    for yy, b, a in zip(y, before[order], after[order], strict=True):
        ax.plot([b, a], [yy, yy], color="0.8", lw=0.8, zorder=1)
    ax.axvline(threshold, color="0.4", ls="--", lw=0.8)
    if abs:
        ax.axvline(0, color="0.2", lw=0.8)
        ax.set_xlabel("|標準化平均差| (absolute standardized mean difference)")
    else:
        ax.axvline(-threshold, color="0.4", ls="--", lw=0.8)
        ax.axvline(0, color="0.2", lw=0.8)
        ax.set_xlabel("標準化平均差 (standardized mean difference)")
    ax.set_yticks(y, labels=labels)
    ax.set_title(title if title is not None else f"共変量バランス (Love plot, {bal.estimand.upper()})")
    ax.legend(loc="lower right", fontsize="small")
    japanese_font(fig)  # before any layout pass renders text
    fig.tight_layout()
    return fig
