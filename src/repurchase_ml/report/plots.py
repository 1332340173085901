"""Every figure of the report, in one place: one look, colour-blind-safe colours, readable text.

Each function takes plain tables and the words to print (already in the
report's language) and returns a matplotlib ``Figure`` (no pyplot state).
Lines use the Okabe-Ito palette, which stays distinguishable for the common
colour-vision deficiencies; the heatmap writes each cell's number in black or
white, whichever contrasts more with that cell's colour (:func:`text_colour`).

Chinese labels need a CJK font (Noto Sans CJK, WenQuanYi, SimHei, Microsoft
YaHei, PingFang); :func:`plot_language` falls back to English inside the
images when none is installed, so a figure never shows empty boxes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Okabe & Ito (2008): distinguishable under protanopia, deuteranopia and tritanopia
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
           "#F0E442")
RAISES = "#B42318"  # a driver that raises the score (red), as in the page's text
LOWERS = "#175CD3"  # one that lowers it (blue)
MIXED = "#7B8794"
BAR = "#486581"
HEATMAP = "Blues"

_CJK_HINTS = ("noto sans cjk", "source han sans", "wenquanyi", "simhei", "microsoft yahei",
              "pingfang", "hiragino sans gb", "heiti")
_CJK_FILES = ("notosanscjk", "sourcehansans", "wqy", "simhei", "msyh", "pingfang", "hiragino")


@functools.cache
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None."""
    from matplotlib import font_manager

    for path in font_manager.findSystemFonts():
        if any(h in path.lower().replace("-", "").replace("_", "") for h in _CJK_FILES):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable file: try the next
                continue
    for entry in font_manager.fontManager.ttflist:
        if any(h in entry.name.lower() for h in _CJK_HINTS):
            return str(entry.name)
    return None


def plot_language(language: str) -> str:
    """The language the figures can print: ``language``, or English without a CJK font."""
    if language == "zh" and cjk_font() is None:
        logger.warning("no font with Chinese glyphs is installed (e.g. fonts-noto-cjk); the "
                       "report's figures keep English labels, its text is in Chinese")
        return "en"
    return language


def _finish(fig: Any) -> Any:
    font = cjk_font()
    if font is not None:
        from matplotlib.text import Text

        for item in fig.findobj(Text):
            item.set_fontfamily([font, "DejaVu Sans"])
    fig.tight_layout()
    return fig


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90)


def _reference(ax: Any, hi: float, name: str, labels: tuple[str, str], title: str,
               legend: str) -> None:
    ax.plot([0, hi], [0, hi], color="grey", linestyle="--", linewidth=1, label=name)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    ax.legend(loc=legend, fontsize=8)


def gain_figure(curves: Mapping[str, pd.DataFrame], *, title: str, labels: tuple[str, str],
                random: str) -> Any:
    """Cumulative gain of every scorer (``{name: gain_curve frame}``) against random."""
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    for i, (name, g) in enumerate(curves.items()):
        ax.plot(g["population_share"], g["gain"], label=name, color=PALETTE[i % len(PALETTE)],
                linewidth=2.2 if i == 0 else 1.4)
    _reference(ax, 1.0, random, labels, title, "lower right")
    return _finish(fig)


def calibration_figure(curves: Mapping[str, pd.DataFrame], *, title: str,
                       labels: tuple[str, str], perfect: str) -> Any:
    """Mean outcome against mean prediction per decile, one line per calibrated scorer."""
    fig = _figure(5.2, 4.0)
    ax = fig.add_subplot()
    hi = 1e-9
    markers = "osD^v<>P"
    for i, (name, t) in enumerate(curves.items()):
        hi = float(np.nanmax([hi, t["mean_predicted"].max(), t["mean_actual"].max()]))
        ax.plot(t["mean_predicted"], t["mean_actual"], marker=markers[i % len(markers)],
                label=name, color=PALETTE[i % len(PALETTE)])
    _reference(ax, hi, perfect, labels, title, "upper left")
    return _finish(fig)


def drivers_figure(names: Sequence[str], values: Sequence[float], directions: Sequence[str], *,
                   title: str, xlabel: str, legend: Mapping[str, str]) -> Any:
    """Horizontal bars, most important on top, red when higher values raise the score."""
    colours = {"up": RAISES, "down": LOWERS}
    fig = _figure(6.8, 0.34 * len(names) + 1.4)
    ax = fig.add_subplot()
    ax.barh(list(names)[::-1], list(values)[::-1],
            color=[colours.get(d, MIXED) for d in directions][::-1])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    from matplotlib.patches import Patch

    shown = [d for d in ("up", "down", "mixed") if d in directions]
    ax.legend(handles=[Patch(color=colours.get(d, MIXED), label=legend[d]) for d in shown],
              loc="lower right", fontsize=8)
    return _finish(fig)


def segment_bars(labels: Sequence[str], customers: Sequence[float],
                 values: Sequence[float] | None, *, titles: tuple[str, str, str]) -> Any:
    """Customers (and a value column) per segment, largest first."""
    fig = _figure(9.0, 0.35 * len(labels) + 1.4)
    axes = fig.subplots(1, 2 if values is not None else 1, sharey=True, squeeze=False)[0]
    axes[0].barh(list(labels)[::-1], list(customers)[::-1], color=PALETTE[0])
    axes[0].set_xlabel(titles[1])
    if values is not None:
        axes[1].barh(list(labels)[::-1], list(values)[::-1], color=PALETTE[5])
        axes[1].set_xlabel(titles[2])
    fig.suptitle(titles[0])
    return _finish(fig)


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour with channels in 0..1."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21; 4.5 is the bar for body text)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour(background: Sequence[float]) -> str:
    """``"black"`` or ``"white"``, whichever contrasts more with ``background``.

    Examples
    --------
    >>> text_colour((0.03, 0.19, 0.42)), text_colour((0.97, 0.98, 1.0))
    ('white', 'black')
    """
    black, white = contrast_ratio(background, (0, 0, 0)), contrast_ratio(background, (1, 1, 1))
    return "black" if black >= white else "white"


def heatmap(cells: pd.DataFrame, *, xlabel: str, ylabel: str, number: Any) -> Any:
    """Counts in a grid, each figure in the colour that reads best on its own cell."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    values = cells.to_numpy(dtype=float)
    cmap = colormaps[HEATMAP]
    finite = values[np.isfinite(values)]
    norm = Normalize(vmin=0.0, vmax=float(finite.max()) if finite.size and finite.max() > 0
                     else 1.0)
    fig = _figure(5.6, 4.2)
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in cells.columns])
    ax.set_yticks(range(values.shape[0]), [str(i) for i in cells.index])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, number(v), ha="center", va="center", fontsize=10,
                color=text_colour(cmap(norm(v))))
    fig.colorbar(im, ax=ax)
    return _finish(fig)


def curve_figure(days: Sequence[float], share: Sequence[float], *, title: str,
                 labels: tuple[str, str]) -> Any:
    """A step curve of a share over days."""
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot()
    ax.step(list(days), list(share), where="post", color=PALETTE[2], linewidth=2)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_ylim(0, max(0.05, float(np.nanmax(share)) * 1.1))
    ax.set_title(title)
    return _finish(fig)
