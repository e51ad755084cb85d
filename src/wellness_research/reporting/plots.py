"""Figures of the data-quality notebook, with Japanese labels.

The Japanese font (IPAexGothic, shipped by ``matplotlib-fontja``) is registered with matplotlib's
font manager and set on each figure's own text objects, so the library never changes the caller's
global matplotlib settings.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

__all__ = ["japanese_font", "plot_certification_prevalence", "plot_population_pyramid"]

_FONT_FAMILY = "IPAexGothic"


@cache
def _register_font() -> str:
    # Locate the font file of matplotlib-fontja without importing the package: its import calls
    # matplotlib.rc() on the global settings, which a library must not do.
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("matplotlib-fontja is required for Japanese labels")
    font = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"
    font_manager.fontManager.addfont(str(font))
    return _FONT_FAMILY


def japanese_font(fig: Figure) -> Figure:
    """Set every text of a figure in the Japanese font (IPAexGothic); returns the figure.

    Works on the figure's own text objects, so the caller's global matplotlib settings are
    untouched (an ``rc_context`` would also undo the inline backend's set-up if the backend
    happened to be activated inside it).
    """
    family = _register_font()
    for text in fig.findobj(Text):
        text.set_fontfamily(family)
    return fig


def plot_population_pyramid(pyramid: pd.DataFrame, *, title: str = "人口ピラミッド（65歳以上）") -> Figure:
    """Horizontal population pyramid from :func:`~wellness_research.reporting.population_pyramid`.

    Suppressed cells (non-numeric after small-cell suppression) are drawn as zero-length bars.
    """
    men = pd.to_numeric(pyramid["M"], errors="coerce").fillna(0)
    women = pd.to_numeric(pyramid["F"], errors="coerce").fillna(0)
    fig, ax = plt.subplots(figsize=(7, 4))
    y = np.arange(len(pyramid))
    ax.barh(y, -men, color="#4C72B0", label="男性")
    ax.barh(y, women, color="#DD8452", label="女性")
    ax.set_yticks(y, labels=[str(i) for i in pyramid.index])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{abs(v):,.0f}"))
    ax.set_xlabel("人数")
    ax.set_ylabel("年齢階級")
    ax.set_title(title)
    ax.legend(loc="upper right")
    japanese_font(fig)
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
    japanese_font(fig)
    fig.tight_layout()
    return fig
