"""Lab 01 (the perceptron): the decision-boundary playground and the activation-function explorer."""
from __future__ import annotations

import ipywidgets
import numpy as np

from course_utils.frameworks import as_array
from course_utils.plotting import check_xy, plot_data_2d, plot_line_boundary
from course_utils.style import BOUNDARY_COLOR, CLASS_CMAP
from course_utils.widgets._panel import SLIDER_WIDTH, SliderPlot, student_error

__all__ = ["BoundaryPlayground", "boundary_playground", "ActivationExplorer", "activation_explorer"]


_DEFAULT_RANGES = {"w0": (-10.0, 10.0, 0.1), "w1": (-5.0, 5.0, 0.05), "w2": (-5.0, 5.0, 0.05)}


class BoundaryPlayground(SliderPlot):
    """Sliders for w0, w1, w2 and a common scale over the pass/fail data (see `boundary_playground`).

    Attributes
    ----------
    misclassified : int or None
        How many points ``classify`` gets wrong at the current weights
        (None when ``classify`` raised).
    """

    def __init__(self, X, y, classify, boundary_x2, w0, w, ranges, labels, xlabel, ylabel, forward=None):
        self.X, self.y = check_xy(X, y)
        self.classify, self.boundary_x2, self.forward = classify, boundary_x2, forward
        self.labels, self.xlabel, self.ylabel = labels, xlabel, ylabel
        self.misclassified = None
        lo, hi = self.X.min(axis=0), self.X.max(axis=0)
        margin = np.maximum(0.05 * (hi - lo), 0.5)
        self.xlim = (lo[0] - margin[0], hi[0] + margin[0])
        self.ylim = (lo[1] - margin[1], hi[1] + margin[1])
        self._colorbar = None
        ranges = {**_DEFAULT_RANGES, **(ranges or {})}
        initial = {"w0": float(w0), "w1": float(w[0]), "w2": float(w[1])}
        sliders = {name: (*map(float, ranges[name]), initial[name]) for name in ("w0", "w1", "w2")}
        # one factor for all three weights: the line stays, the transition of y_hat sharpens or softens
        sliders["scale"] = ipywidgets.FloatLogSlider(value=1.0, base=10, min=-1.0, max=1.0, step=0.05, description="scale",
                                                     continuous_update=True, layout=ipywidgets.Layout(width=SLIDER_WIDTH))
        super().__init__(self._draw, sliders, figsize=(6.4, 4.4))

    def _shade(self, ax, w0, w) -> str:
        """Shade y_hat = forward(x, w0, w) over the view; return a note when forward fails."""
        if self.forward is None:
            return ""
        x1, x2 = np.meshgrid(np.linspace(*self.xlim, 160), np.linspace(*self.ylim, 160))
        grid = np.column_stack([x1.ravel(), x2.ravel()])
        try:
            y_hat = as_array(self.forward(grid, w0, w)).astype(np.float64).reshape(x1.shape)
        except Exception as exc:
            return student_error(exc, "perceptron_forward")
        image = ax.imshow(y_hat, origin="lower", extent=(*self.xlim, *self.ylim), aspect="auto", cmap=CLASS_CMAP,
                          vmin=0.0, vmax=1.0, alpha=0.4, interpolation="bilinear")
        if self._colorbar is None:
            self._colorbar = self.fig.colorbar(image, ax=ax, label=r"$\hat{y}$", fraction=0.05, pad=0.02)
        return ""

    def _draw(self, ax, w0, w1, w2, scale) -> str:
        w0, w = scale * w0, np.array([scale * w1, scale * w2])
        notes = [note for note in [self._shade(ax, w0, w)] if note]
        plot_data_2d(self.X, self.y, ax=ax, labels=self.labels, xlabel=self.xlabel, ylabel=self.ylabel)
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        try:
            x1 = np.linspace(*self.xlim, 200)
            x2 = as_array(self.boundary_x2(x1, w0, w)).astype(np.float64)
            ax.plot(x1, x2, color=BOUNDARY_COLOR, label="decision boundary")
        except ValueError:
            # boundary_x2 rejects w2 == 0 (no x2 for a vertical line): draw it directly.
            if w[0] != 0.0:
                plot_line_boundary(w0, w, ax=ax)
                notes.append("w2 = 0, so the boundary is vertical")
        except Exception as exc:
            notes.append(student_error(exc, "boundary_x2"))
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        ax.legend(loc="upper left")  # one fixed place, on a background: it does not jump while dragging
        ax.set_title(f"${w0:+.2f} {w[0]:+.2f}\\,x_1 {w[1]:+.2f}\\,x_2 = 0$", fontsize=11)
        try:
            y_hat = as_array(self.classify(self.X, w0, w)).ravel()
            self.misclassified = int(np.sum(y_hat != self.y))
        except Exception as exc:
            self.misclassified = None
            return student_error(exc, "classify")
        n = self.y.size
        text = f"<b>{self.misclassified}</b> of {n} students misclassified"
        if scale != 1.0:
            text += f" (weights times {scale:.3g})"
        return "; ".join([text, *notes])


def boundary_playground(
    X, y, classify, boundary_x2, w0=1.0, w=(3.0, -2.0), ranges=None,
    labels=("fail", "pass"), xlabel="$x_1$: lectures attended", ylabel="$x_2$: hours on the final project",
    forward=None,
) -> BoundaryPlayground:
    """Sliders for a perceptron's w0, w1, w2 (and a factor that scales all three) that redraw its line over the data.

    The status line shows how many points the student's ``classify`` gets
    wrong; with `forward`, the plane is shaded by the perceptron's output
    y_hat, so that scaling the weights visibly sharpens it. Without a
    frontend it draws once, with the defaults.

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
    forward : callable, optional
        The student's ``perceptron_forward(x, w0, w)`` -> y_hat of shape (N,),
        used to shade the plane (at the scaled weights).

    Returns
    -------
    BoundaryPlayground
        An ``ipywidgets.VBox``; ``.sliders["w0"].value = 2.0`` redraws;
        ``.sliders["scale"]`` multiplies w0, w1 and w2.
    """
    return BoundaryPlayground(X, y, classify, boundary_x2, w0, w, ranges, labels, xlabel, ylabel, forward=forward)


class ActivationExplorer(SliderPlot):
    """A dropdown of activation functions and sliders for w and w0 (see `activation_explorer`)."""

    def __init__(self, activations: dict, w0=0.0, w=1.0, z_range=(-6.0, 6.0)):
        if not activations:
            raise ValueError("activations is empty: give at least one name -> function")
        self.activations = dict(activations)
        self.x = np.linspace(*z_range, 301)
        choice = ipywidgets.Dropdown(options=list(self.activations), value=next(iter(self.activations)),
                                     description="g", layout=ipywidgets.Layout(width="220px"))
        sliders = {
            "g": choice,
            "w": (-4.0, 4.0, 0.1, float(w)),
            "w0": (-6.0, 6.0, 0.1, float(w0)),
        }
        super().__init__(self._draw, sliders, figsize=(6.0, 3.6))

    def _draw(self, ax, g, w, w0) -> str:
        fn = self.activations[g]
        try:
            reference = as_array(fn(self.x)).astype(np.float64)
            shifted = as_array(fn(w * self.x + w0)).astype(np.float64)
        except Exception as exc:
            return student_error(exc, g)
        ax.plot(self.x, reference, color="0.6", linestyle="--", label=f"{g}($x$)")
        ax.plot(self.x, shifted, label=f"{g}({w:.1f}$\\,x$ {'+' if w0 >= 0 else '-'} {abs(w0):.1f})")
        note = ""
        if w != 0.0:
            x_switch = -w0 / w
            if self.x[0] <= x_switch <= self.x[-1]:
                ax.axvline(x_switch, color=BOUNDARY_COLOR, linewidth=0.8, linestyle=":")
            note = f"the input to g is 0 at x = -w0 / w = {x_switch:+.2f}: the bias moves that point, w sets the steepness"
        else:
            note = "w = 0: the output no longer depends on x"
        ax.set(xlabel="$x$", ylabel="output")
        ax.legend(loc="upper left")
        return note


def activation_explorer(activations, w0=0.0, w=1.0, z_range=(-6.0, 6.0)) -> ActivationExplorer:
    """Plot g(w x + w0) against x, with the activation g from a dropdown and sliders for w and w0.

    The dashed grey curve is g(x) itself; the dotted vertical line marks
    x = -w0 / w, where the input to g is 0: the bias shifts the curve
    sideways, the weight stretches it.

    Parameters
    ----------
    activations : dict of str to callable
        Name -> the student's elementwise function (e.g. ``{"sigmoid": sigmoid}``).
    w0, w : float
        Initial bias and weight.
    z_range : (float, float)
        The range of x drawn.

    Returns
    -------
    ActivationExplorer
        ``.sliders["w0"].value = 2.0`` or ``.sliders["g"].value = "ReLU"`` redraws.
    """
    return ActivationExplorer(activations, w0=w0, w=w, z_range=z_range)
