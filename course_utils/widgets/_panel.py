"""The base of every widget: controls above a status line and a figure shown as a PNG image.

Also the generic `SliderPlot` (a function's plot under sliders) and the
helpers the labs' widgets share: sliders from ``(min, max, step)``, the
image widget sized to its figure, and the message for a student's function
that raised.
"""
from __future__ import annotations

import html
import numbers

import ipywidgets
from matplotlib.figure import Figure

from course_utils.style import to_png

__all__ = ["Panel", "SliderPlot", "slider_plot", "make_slider", "image_for", "student_error",
           "SLIDER_WIDTH", "RESOLUTION", "WIDGET_FIGSIZE"]

SLIDER_WIDTH = "340px"  # a track of about 250 pixels: a step of 0.1 over -10..10 is a hand's movement
RESOLUTION = 2  # PNG pixels per CSS pixel: sharp on high-density screens, and shown at the figure's size
WIDGET_FIGSIZE = (6.0, 4.0)  # inches at 100 dpi: 600 x 400 CSS pixels, about the width of a notebook's output


def make_slider(name: str, spec) -> ipywidgets.ValueWidget:
    """A slider from ``(min, max, step)`` or ``(min, max, step, value)`` (int slider when all are ints), or `spec` itself
    when it is a widget."""
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
    return cls(value=value, min=lo, max=hi, step=step, description=name, continuous_update=True,
               layout=ipywidgets.Layout(width=SLIDER_WIDTH))


def image_for(fig: Figure) -> ipywidgets.Image:
    """An Image widget as wide as the figure (figure inches x dpi, in CSS pixels), never wider than the output."""
    width = int(round(fig.get_figwidth() * fig.get_dpi()))
    return ipywidgets.Image(format="png", layout=ipywidgets.Layout(width=f"{width}px", max_width="100%", height="auto"))


def student_error(exc: Exception, name: str) -> str:
    """The status line for a student's function `name` that raised `exc`: what it raised and what to do."""
    text = html.escape(type(exc).__name__ + (f": {exc}" if str(exc) else ""))
    return f"<span style='color:#D55E00'>{name} raised {text}. Finish (or fix) it above, then run this cell again.</span>"


class Panel(ipywidgets.VBox):
    """Controls above a status line and a figure shown as a PNG image; a change of a watched control redraws.

    Subclasses set ``sliders`` (name -> control), build ``fig`` and its axes, define ``redraw`` (which ends
    with `_render`), and end their ``__init__`` with `_assemble`.

    Attributes
    ----------
    sharp : bool
        True: the PNG has `RESOLUTION` pixels per CSS pixel and the image is as wide as the figure. False:
        the PNG at the figure's own dpi, shown unscaled (cheaper, for panels that redraw many curves).
    """

    sharp = True

    def _assemble(self, controls: ipywidgets.Widget | None = None, watched=None) -> None:
        """Lay out the controls above the status line and the figure's image, draw, and redraw whenever a watched
        control changes its value.

        Parameters
        ----------
        controls : ipywidgets.Widget, optional
            The row above the status line; default the sliders, in a row that wraps.
        watched : iterable of ipywidgets.ValueWidget, optional
            The controls whose change calls `redraw`; default the sliders.
        """
        self.status = ipywidgets.HTML()
        self.image = image_for(self.fig) if self.sharp else ipywidgets.Image(format="png")
        if controls is None:
            controls = ipywidgets.HBox(list(self.sliders.values()), layout=ipywidgets.Layout(flex_flow="row wrap"))
        ipywidgets.VBox.__init__(self, [controls, self.status, self.image])
        for control in self.sliders.values() if watched is None else watched:
            control.observe(self._on_change, names="value")
        self._first_draw()

    def _first_draw(self) -> None:
        """The draw when the panel is made (a subclass may let errors propagate here)."""
        self.redraw()

    def _render(self) -> None:
        """Show the figure as it is now in the image."""
        self.image.value = to_png(self.fig, dpi=RESOLUTION * self.fig.get_dpi()) if self.sharp else to_png(self.fig)

    @property
    def values(self) -> dict:
        """The sliders' current values, by name."""
        return {name: slider.value for name, slider in self.sliders.items()}

    def _on_change(self, change) -> None:
        self.redraw()


class SliderPlot(Panel):
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
        self.sliders = {name: make_slider(name, spec) for name, spec in sliders.items()}
        self.fig = Figure(figsize=figsize or WIDGET_FIGSIZE, layout="tight")  # labels stay inside the image
        self.ax = self.fig.add_subplot()
        self._assemble()

    def redraw(self) -> None:
        """Call ``fn`` with the current values and show its plot and status."""
        self.ax.clear()
        message = self.fn(self.ax, **self.values)
        self.status.value = "" if message is None else str(message)
        self._render()


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
