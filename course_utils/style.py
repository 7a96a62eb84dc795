"""The course's plotting style: the colour-blind-safe palette, the matplotlib settings, and figures as PNG.

Colours come from the Okabe-Ito palette, and the two classes of a binary
problem differ by marker as well as colour (fail: vermillion x, pass: blue
o), so every plot reads in greyscale and for colour-blind students.
Importing this module applies the style (`use_style`); `course_utils.plotting`
and `course_utils.widgets` build on it.
"""
from __future__ import annotations

import io

import matplotlib as mpl
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

__all__ = ["OKABE_ITO", "COLORS", "CLASS_STYLES", "BOUNDARY_COLOR", "CLASS_CMAP", "use_style", "set_figsize", "set_axes",
           "to_png"]

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
# Most distinguishable first; yellow last because it is faint on white.
COLORS = [OKABE_ITO[name] for name in (
    "blue", "vermillion", "bluish_green", "orange", "sky_blue", "reddish_purple", "black", "yellow"
)]
CLASS_STYLES = (
    {"color": OKABE_ITO["vermillion"], "marker": "x"},  # label 0 (fail)
    {"color": OKABE_ITO["blue"], "marker": "o"},  # label 1 (pass)
)
BOUNDARY_COLOR = OKABE_ITO["black"]
CLASS_CMAP = LinearSegmentedColormap.from_list(
    "course_fail_pass", [OKABE_ITO["vermillion"], "#FFFFFF", OKABE_ITO["blue"]]
)
_DEFAULT_FIGSIZE = (4.5, 3.2)


def use_style() -> None:
    """Apply the course's matplotlib style (palette, small figures, light grid)."""
    mpl.rcParams.update({
        "axes.prop_cycle": mpl.cycler(color=COLORS),
        "figure.figsize": _DEFAULT_FIGSIZE,
        "figure.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        # a legend sits on a light background, so markers in it never pass for data and lines never cross its text
        "legend.frameon": True,
        "legend.framealpha": 0.9,
        "legend.edgecolor": "0.85",
        "legend.fancybox": False,
        "image.cmap": "viridis",
        "lines.linewidth": 1.8,
    })


def set_figsize(figsize: tuple[float, float] = _DEFAULT_FIGSIZE) -> None:
    """Set the default size (width, height) in inches of new figures."""
    mpl.rcParams["figure.figsize"] = figsize


def set_axes(ax, xlabel=None, ylabel=None, xlim=None, ylim=None, legend=None, xscale=None, yscale=None):
    """Label, limit and scale an Axes; return it.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    xlabel, ylabel : str, optional
    xlim, ylim : tuple of float, optional
    legend : bool or list of str, optional
        True shows the legend of the labelled artists; a list sets the labels.
    xscale, yscale : str, optional
        ``"linear"``, ``"log"``, ...

    Returns
    -------
    matplotlib.axes.Axes
    """
    # labels, then scales, then limits (a limit is kept in the new scale)
    for setter, value in ((ax.set_xlabel, xlabel), (ax.set_ylabel, ylabel), (ax.set_xscale, xscale),
                          (ax.set_yscale, yscale), (ax.set_xlim, xlim), (ax.set_ylim, ylim)):
        if value is not None:
            setter(value)
    if legend is True:
        ax.legend()
    elif legend:
        ax.legend(legend)
    return ax


def to_png(fig: Figure, dpi=None) -> bytes:
    """The figure as PNG bytes; `dpi` above the figure's own renders it sharper for high-density screens."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


use_style()
