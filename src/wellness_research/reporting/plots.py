"""Figures of the data-quality notebook, with Japanese labels.

The Japanese font (IPAexGothic, shipped by ``matplotlib-fontja``) is registered with matplotlib's
font manager and applied through :func:`matplotlib.rc_context` inside each function, so the
library never changes the caller's global matplotlib settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure

__all__ = ["japanese_font", "plot_certification_prevalence", "plot_population_pyramid"]

_FONT_FAMILY = "IPAexGothic"


@cache
def _register_font() -> str:
    # matplotlib_fontja sets the global rcParams on import; remember and restore them so that the
    # only lasting effect is the font being known to the font manager.
    import matplotlib as mpl

    saved = mpl.rcParams.copy()
    from matplotlib_fontja import get_font_ttf_path

    mpl.rcParams.update(saved)
    font_manager.fontManager.addfont(get_font_ttf_path())
    return _FONT_FAMILY


@contextmanager
def japanese_font() -> Iterator[None]:
    """Context in which matplotlib renders Japanese labels (IPAexGothic)."""
    family = _register_font()
    with plt.rc_context({"font.family": family, "axes.unicode_minus": False}):
        yield


def plot_population_pyramid(pyramid: pd.DataFrame, *, title: str = "人口ピラミッド（65歳以上）") -> Figure:
    """Horizontal population pyramid from :func:`~wellness_research.reporting.population_pyramid`.

    Suppressed cells (non-numeric after small-cell suppression) are drawn as zero-length bars and
    marked with the suppression symbol.
    """
    with japanese_font():
        men = pd.to_numeric(pyramid["M"], errors="coerce")
        women = pd.to_numeric(pyramid["F"], errors="coerce")
        fig, ax = plt.subplots(figsize=(7, 4))
        y = np.arange(len(pyramid))
        ax.barh(y, -men.fillna(0), color="#4C72B0", label="男性")
        ax.barh(y, women.fillna(0), color="#DD8452", label="女性")
        ax.set_yticks(y, labels=[str(i) for i in pyramid.index])
        ticks = ax.get_xticks()
        ax.set_xticks(ticks, labels=[f"{abs(int(t)):,}" for t in ticks])
        ax.set_xlabel("人数")
        ax.set_ylabel("年齢階級")
        ax.set_title(title)
        ax.legend(loc="lower right")
        fig.tight_layout()
    return fig


def plot_certification_prevalence(
    prevalence: pd.DataFrame,
    *,
    title: str = "年齢階級別 要介護・要支援認定率",
    local_label: str = "本市",
) -> Figure:
    """Bar chart of the municipality's certification rate by age band beside the national rate.

    Takes the output of :func:`~wellness_research.reporting.certification_prevalence`.
    """
    with japanese_font():
        bands = prevalence.loc[prevalence["age_band"] != "all 65+"]
        x = np.arange(len(bands))
        fig, ax = plt.subplots(figsize=(7, 4))
        local = pd.to_numeric(bands["certified_pct"], errors="coerce").fillna(0)
        ax.bar(x - 0.2, local, width=0.4, label=local_label, color="#4C72B0")
        ax.bar(x + 0.2, bands["national_total_pct"], width=0.4, label="全国 FY2022 [S]", color="#BBBBBB")
        ax.set_xticks(x, labels=list(bands["age_band"]))
        ax.set_ylabel("認定率 (%)")
        ax.set_xlabel("年齢階級")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
    return fig
