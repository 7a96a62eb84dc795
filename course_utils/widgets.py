"""Interactive explorations built on ipywidgets.

Each widget draws once when it is created, so a notebook run top to bottom
without a human (nbclient, nbval, the autograder) executes it without
blocking or failing; with a frontend, moving a slider redraws. Plots are
rendered to PNG into an ``ipywidgets.Image``, which works in JupyterLab,
classic Notebook and Colab alike.
"""
from __future__ import annotations

import html
import numbers

import ipywidgets
import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from course_utils.checks import as_array
from course_utils.plotting import BOUNDARY_COLOR, _check_xy, _png, plot_data_2d, plot_line_boundary

__all__ = ["SliderPlot", "slider_plot", "BoundaryPlayground", "boundary_playground"]


def _make_slider(name: str, spec) -> ipywidgets.ValueWidget:
    if isinstance(spec, ipywidgets.ValueWidget):
        return spec
    if not (isinstance(spec, tuple) and len(spec) in (3, 4)):
        raise TypeError(f"slider {name!r}: give (min, max, step) or (min, max, step, value) or a widget, got {spec!r}")
    lo, hi, step = spec[:3]
    value = spec[3] if len(spec) == 4 else (lo + hi) / 2
    integral = all(isinstance(v, numbers.Integral) for v in (lo, hi, step, value))
    cls = ipywidgets.IntSlider if integral else ipywidgets.FloatSlider
    if integral:
        value = int(value)
    return cls(value=value, min=lo, max=hi, step=step, description=name, continuous_update=True)


class SliderPlot(ipywidgets.VBox):
    """Sliders above a status line and a plot that ``fn`` redraws on every change.

    Parameters
    ----------
    fn : callable
        ``fn(ax, **values) -> str or None``: draws on a cleared Axes; the
        string it returns is shown under the sliders.
    sliders : dict of str to tuple or ipywidgets.ValueWidget
        Argument name -> ``(min, max, step)``, ``(min, max, step, value)``
        or a ready widget.
    figsize : (float, float), optional

    Attributes
    ----------
    sliders : dict of str to ipywidgets.ValueWidget
    status : ipywidgets.HTML
        The text `fn` returned (or the error it raised).
    image : ipywidgets.Image
        The rendered plot (PNG).
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes
    """

    def __init__(self, fn, sliders: dict, figsize=None):
        self.fn = fn
        self.sliders = {name: _make_slider(name, spec) for name, spec in sliders.items()}
        self.status = ipywidgets.HTML()
        self.image = ipywidgets.Image(format="png")
        self.fig = Figure(figsize=figsize or mpl.rcParams["figure.figsize"])
        self.ax = self.fig.add_subplot()
        super().__init__([ipywidgets.HBox(list(self.sliders.values())), self.status, self.image])
        for slider in self.sliders.values():
            slider.observe(self._on_change, names="value")
        self.redraw()

    @property
    def values(self) -> dict:
        """The sliders' current values, by name."""
        return {name: slider.value for name, slider in self.sliders.items()}

    def _on_change(self, change) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Call ``fn`` with the current values and show its plot and status."""
        self.ax.clear()
        message = self.fn(self.ax, **self.values)
        self.status.value = "" if message is None else str(message)
        self.image.value = _png(self.fig)


def slider_plot(fn, figsize=None, **sliders) -> SliderPlot:
    """Make a `SliderPlot`: ``slider_plot(fn, lr=(0.001, 1.0, 0.001, 0.1))``.

    Parameters
    ----------
    fn : callable
        ``fn(ax, **values) -> str or None``.
    figsize : (float, float), optional
    **sliders
        Name -> ``(min, max, step[, value])`` or an ipywidgets.ValueWidget.

    Returns
    -------
    SliderPlot
    """
    return SliderPlot(fn, sliders, figsize=figsize)


def _student_error(exc: Exception, name: str) -> str:
    text = html.escape(type(exc).__name__ + (f": {exc}" if str(exc) else ""))
    return f"<span style='color:#D55E00'>{name} raised {text}. Finish (or fix) it above, then run this cell again.</span>"


class BoundaryPlayground(SliderPlot):
    """Sliders for w0, w1, w2 over the pass/fail data (see `boundary_playground`).

    Attributes
    ----------
    misclassified : int or None
        How many points ``classify`` gets wrong at the current weights
        (None when ``classify`` raised).
    """

    def __init__(self, X, y, classify, boundary_x2, w0, w, ranges, labels, xlabel, ylabel):
        self.X, self.y = _check_xy(X, y)
        self.classify, self.boundary_x2 = classify, boundary_x2
        self.labels, self.xlabel, self.ylabel = labels, xlabel, ylabel
        self.misclassified = None
        lo, hi = self.X.min(axis=0), self.X.max(axis=0)
        margin = np.maximum(0.05 * (hi - lo), 0.5)
        self.xlim = (lo[0] - margin[0], hi[0] + margin[0])
        self.ylim = (lo[1] - margin[1], hi[1] + margin[1])
        ranges = {**_DEFAULT_RANGES, **(ranges or {})}
        initial = {"w0": float(w0), "w1": float(w[0]), "w2": float(w[1])}
        sliders = {name: (*map(float, ranges[name]), initial[name]) for name in ("w0", "w1", "w2")}
        super().__init__(self._draw, sliders)

    def _draw(self, ax, w0, w1, w2) -> str:
        w = np.array([w1, w2])
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        plot_data_2d(self.X, self.y, ax=ax, labels=self.labels, xlabel=self.xlabel, ylabel=self.ylabel)
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        notes = []
        try:
            x1 = np.linspace(*self.xlim, 200)
            x2 = as_array(self.boundary_x2(x1, w0, w)).astype(np.float64)
            ax.plot(x1, x2, color=BOUNDARY_COLOR, label="decision boundary")
        except ValueError:
            # boundary_x2 rejects w2 == 0 (no x2 for a vertical line): draw it directly.
            if w1 != 0.0:
                plot_line_boundary(w0, w, ax=ax)
                notes.append("w2 = 0, so the boundary is vertical")
        except Exception as exc:
            notes.append(_student_error(exc, "boundary_x2"))
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        ax.set_title(f"{w0:+.2f} {w1:+.2f}·x1 {w2:+.2f}·x2 = 0", fontsize=10)
        try:
            y_hat = as_array(self.classify(self.X, w0, w)).ravel()
            self.misclassified = int(np.sum(y_hat != self.y))
        except Exception as exc:
            self.misclassified = None
            return _student_error(exc, "classify")
        n = self.y.size
        text = f"<b>{self.misclassified}</b> of {n} students misclassified"
        return "; ".join([text, *notes])


_DEFAULT_RANGES = {"w0": (-10.0, 10.0, 0.1), "w1": (-5.0, 5.0, 0.05), "w2": (-5.0, 5.0, 0.05)}


def boundary_playground(
    X, y, classify, boundary_x2, w0=1.0, w=(3.0, -2.0), ranges=None,
    labels=("fail", "pass"), xlabel="x1: lectures attended", ylabel="x2: hours on the final project",
) -> BoundaryPlayground:
    """Sliders for a perceptron's w0, w1, w2 that redraw its line over the data.

    The status line shows how many points the student's ``classify`` gets
    wrong. Without a frontend it draws once, with the defaults.

    Parameters
    ----------
    X : array_like of shape (N, 2)
    y : array_like of shape (N,)
        0 or 1.
    classify : callable
        The student's ``classify(x, w0, w)`` -> int array of shape (N,).
    boundary_x2 : callable
        The student's ``boundary_x2(x1, w0, w)`` -> x2 on the line; when it
        raises ValueError (w[1] == 0) the vertical line is drawn instead.
    w0 : float
    w : (float, float)
        Initial weights (the lecture's example by default).
    ranges : dict of str to (min, max, step), optional
        Slider ranges for ``"w0"``, ``"w1"``, ``"w2"``.
    labels : (str, str)
    xlabel, ylabel : str

    Returns
    -------
    BoundaryPlayground
        An ``ipywidgets.VBox``; ``.sliders["w0"].value = 2.0`` redraws.
    """
    return BoundaryPlayground(X, y, classify, boundary_x2, w0, w, ranges, labels, xlabel, ylabel)
