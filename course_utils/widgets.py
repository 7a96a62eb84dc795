"""Interactive explorations built on ipywidgets.

Each widget draws once when it is created, so a notebook run top to bottom
without a human (nbclient, nbval, the autograder) executes it without
blocking or failing; with a frontend, moving a slider redraws. Plots are
rendered to PNG into an ``ipywidgets.Image``, which works in JupyterLab,
classic Notebook and Colab alike: at twice the figure's resolution and
shown at the figure's own size (never stretched), with a tight layout and
the course's plotting style. Only APIs that ipywidgets 7.7 and 8 share are
used.
"""
from __future__ import annotations

import html
import numbers

import ipywidgets
import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from course_utils.checks import as_array
from course_utils.plotting import _CLASS_CMAP, BOUNDARY_COLOR, COLORS, _check_xy, _png, plot_data_2d, plot_line_boundary

__all__ = ["SliderPlot", "slider_plot", "BoundaryPlayground", "boundary_playground",
           "BatchSizeExplorer", "batch_size_explorer",
           "ActivationExplorer", "activation_explorer", "SoftmaxExplorer", "softmax_explorer",
           "OverfittingExplorer", "overfitting_explorer", "DropoutVisualiser", "dropout_visualiser"]


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
    return cls(value=value, min=lo, max=hi, step=step, description=name, continuous_update=True,
               layout=ipywidgets.Layout(width=SLIDER_WIDTH))


SLIDER_WIDTH = "340px"  # a track of about 250 pixels: a step of 0.1 over -10..10 is a hand's movement
RESOLUTION = 2  # PNG pixels per CSS pixel: sharp on high-density screens, and shown at the figure's size


def _image_for(fig: Figure) -> ipywidgets.Image:
    """An Image widget as wide as the figure (figure inches x dpi, in CSS pixels), never wider than the output."""
    width = int(round(fig.get_figwidth() * fig.get_dpi()))
    return ipywidgets.Image(format="png", layout=ipywidgets.Layout(width=f"{width}px", max_width="100%", height="auto"))


WIDGET_FIGSIZE = (6.0, 4.0)  # inches at 100 dpi: 600 x 400 CSS pixels, about the width of a notebook's output


class _Panel(ipywidgets.VBox):
    """Controls above a status line and a figure shown as a PNG image; a change of a watched control redraws.

    Subclasses set ``sliders`` (name -> control), build ``fig`` and its axes, define ``redraw``, and end
    their ``__init__`` with `_assemble`.
    """

    def _assemble(self) -> None:
        """Lay out the sliders in a wrapping row above the status line and the figure's image, draw, and redraw
        whenever a slider changes its value."""
        self.status = ipywidgets.HTML()
        self.image = _image_for(self.fig)
        controls = ipywidgets.HBox(list(self.sliders.values()), layout=ipywidgets.Layout(flex_flow="row wrap"))
        ipywidgets.VBox.__init__(self, [controls, self.status, self.image])
        for slider in self.sliders.values():
            slider.observe(self._on_change, names="value")
        self.redraw()

    @property
    def values(self) -> dict:
        """The sliders' current values, by name."""
        return {name: slider.value for name, slider in self.sliders.items()}

    def _on_change(self, change) -> None:
        self.redraw()


class SliderPlot(_Panel):
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
        self.fig = Figure(figsize=figsize or WIDGET_FIGSIZE, layout="tight")  # labels stay inside the image
        self.ax = self.fig.add_subplot()
        self._assemble()

    def redraw(self) -> None:
        """Call ``fn`` with the current values and show its plot and status."""
        self.ax.clear()
        message = self.fn(self.ax, **self.values)
        self.status.value = "" if message is None else str(message)
        self.image.value = _png(self.fig, dpi=RESOLUTION * self.fig.get_dpi())


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
    """Sliders for w0, w1, w2 and a common scale over the pass/fail data (see `boundary_playground`).

    Attributes
    ----------
    misclassified : int or None
        How many points ``classify`` gets wrong at the current weights
        (None when ``classify`` raised).
    """

    def __init__(self, X, y, classify, boundary_x2, w0, w, ranges, labels, xlabel, ylabel, forward=None):
        self.X, self.y = _check_xy(X, y)
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
            return _student_error(exc, "perceptron_forward")
        image = ax.imshow(y_hat, origin="lower", extent=(*self.xlim, *self.ylim), aspect="auto", cmap=_CLASS_CMAP,
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
            notes.append(_student_error(exc, "boundary_x2"))
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        ax.legend(loc="upper left")  # one fixed place, on a background: it does not jump while dragging
        ax.set_title(f"${w0:+.2f} {w[0]:+.2f}\\,x_1 {w[1]:+.2f}\\,x_2 = 0$", fontsize=11)
        try:
            y_hat = as_array(self.classify(self.X, w0, w)).ravel()
            self.misclassified = int(np.sum(y_hat != self.y))
        except Exception as exc:
            self.misclassified = None
            return _student_error(exc, "classify")
        n = self.y.size
        text = f"<b>{self.misclassified}</b> of {n} students misclassified"
        if scale != 1.0:
            text += f" (weights times {scale:.3g})"
        return "; ".join([text, *notes])


_DEFAULT_RANGES = {"w0": (-10.0, 10.0, 0.1), "w1": (-5.0, 5.0, 0.05), "w2": (-5.0, 5.0, 0.05)}


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


# --- Lab 05: batch-size explorer ---------------------------------------------------------------


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window` values at every position (fewer at the start)."""
    if window <= 1 or values.size == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, values.size + 1), window)
    return (sums[1:] - sums[np.maximum(np.arange(1, values.size + 1) - window, 0)]) / counts


class BatchSizeExplorer(_Panel):
    """A slider for the batch size B, one for the learning rate, the loss curves and the gradient noise.

    See `batch_size_explorer`. Runs are cached by (B, learning rate), so
    going back to a setting redraws without training again.

    Attributes
    ----------
    batch_slider : ipywidgets.SelectionSlider
    lr_slider : ipywidgets.FloatLogSlider
    sliders : dict of str to ipywidgets.ValueWidget
        The two sliders, as ``"batch_size"`` and ``"lr"``.
    status : ipywidgets.HTML
    image : ipywidgets.Image
    fig : matplotlib.figure.Figure
    ax_steps, ax_samples : matplotlib.axes.Axes
        Loss against update steps, and against samples seen.
    losses : numpy.ndarray or None
        The per-step losses of the current setting (None when ``train_fn`` raised).
    noise : float, dict or None
        What ``noise_fn`` returned for the current batch size.
    train_calls : int
        How many times ``train_fn`` ran (a cached setting does not call it).
    """

    def __init__(self, train_fn, noise_fn, batch_sizes, batch_size, lr, lr_range, num_samples, window,
                 yscale, figsize):
        sizes = [int(b) for b in batch_sizes]
        if not sizes or any(b < 1 for b in sizes) or sizes != sorted(set(sizes)):
            raise ValueError(f"batch_sizes must be increasing positive integers, got {list(batch_sizes)}")
        if batch_size not in sizes:
            raise ValueError(f"batch_size={batch_size} is not one of batch_sizes {sizes}")
        lo, hi = (float(v) for v in lr_range)
        if not 0.0 < lo < hi or not lo <= lr <= hi:
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high and lr={lr} inside it, got {lr_range}")
        self.train_fn, self.noise_fn = train_fn, noise_fn
        self.num_samples, self.window, self.yscale = num_samples, window, yscale
        self._runs: dict = {}
        self._noises: dict = {}
        self._previous = None
        self.losses, self.noise, self.train_calls = None, None, 0
        self.batch_slider = ipywidgets.SelectionSlider(
            options=[(str(b), b) for b in sizes], value=int(batch_size), description="batch size B",
            continuous_update=False, layout=ipywidgets.Layout(width="420px"))
        exponents = np.log10([lo, hi])
        self.lr_slider = ipywidgets.FloatLogSlider(
            value=float(lr), base=10, min=float(exponents[0]), max=float(exponents[1]), step=0.05,
            description="learning rate", continuous_update=False, layout=ipywidgets.Layout(width="420px"))
        self.sliders = {"batch_size": self.batch_slider, "lr": self.lr_slider}
        self.fig = Figure(figsize=figsize)
        self.ax_steps, self.ax_samples = self.fig.subplots(1, 2, sharey=True)
        self._assemble()

    def _run(self, batch_size: int, lr: float) -> np.ndarray:
        key = (batch_size, float(f"{lr:.12g}"))
        if key not in self._runs:
            self.train_calls += 1
            losses = as_array(self.train_fn(batch_size, lr)).astype(np.float64).ravel()
            if losses.size == 0:
                raise ValueError("train_fn returned no losses (expected one per update step)")
            self._runs[key] = losses
        return self._runs[key]

    def _samples_seen(self, batch_size: int, steps: int) -> np.ndarray:
        if self.num_samples is None:
            return batch_size * np.arange(1, steps + 1, dtype=np.float64)
        n = int(self.num_samples)
        epoch = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
        sizes = np.resize(np.array(epoch, dtype=np.float64), steps)
        return np.cumsum(sizes)

    def _plot(self, losses, batch_size, lr, **style) -> None:
        window = self.window if self.window is not None else max(1, losses.size // 40)
        smooth = _moving_average(losses, window)
        steps = np.arange(1, losses.size + 1)
        label = style.get("prefix", "") + f"B = {batch_size}, η = {lr:.3g}"
        for ax, x in ((self.ax_steps, steps), (self.ax_samples, self._samples_seen(batch_size, losses.size))):
            if style.get("raw", True) and window > 1:
                ax.plot(x, losses, color=style["color"], alpha=0.25, linewidth=0.8)
            ax.plot(x, smooth, color=style["color"], linestyle=style.get("linestyle", "-"), label=label)

    def redraw(self) -> None:
        """Train (or take from the cache) at the sliders' values; redraw both panels and the status line."""
        batch_size, lr = self.batch_slider.value, self.lr_slider.value
        for ax in (self.ax_steps, self.ax_samples):
            ax.clear()
        messages = []
        try:
            self.losses = self._run(batch_size, lr)
        except Exception as exc:
            self.losses = None
            messages.append(_student_error(exc, "training"))
        if self._previous is not None and self._previous[:2] != (batch_size, lr):
            self._plot(self._previous[2], *self._previous[:2], color="#999999", linestyle="--", raw=False,
                       prefix="previous: ")
        if self.losses is not None:
            from course_utils.plotting import COLORS

            self._plot(self.losses, batch_size, lr, color=COLORS[0])
            finite = np.isfinite(self.losses)
            if not finite.all():
                messages.append(f"diverged: the loss is not finite from step {int(np.argmin(finite)) + 1} on; "
                                "try a smaller learning rate")
            else:
                tail = self.losses[-max(1, self.losses.size // 10):]
                messages.append(f"B = {batch_size}, η = {lr:.3g}: {self.losses.size} update steps, "
                                f"loss over the last 10% of them {tail.mean():.3g}")
            self._previous = (batch_size, lr, self.losses)
        if self.noise_fn is not None:
            try:
                if batch_size not in self._noises:
                    self._noises[batch_size] = self.noise_fn(batch_size)
                self.noise = self._noises[batch_size]
                items = self.noise.items() if isinstance(self.noise, dict) else [("gradient noise", self.noise)]
                messages.append("; ".join(f"{name} {float(value):.3g}" for name, value in items))
            except Exception as exc:
                self.noise = None
                messages.append(_student_error(exc, "the gradient noise"))
        self.ax_steps.set(xlabel="update step", ylabel="mini-batch loss", xscale="log", yscale=self.yscale)
        self.ax_samples.set(xlabel="samples seen", xscale="log")
        handles, labels = self.ax_steps.get_legend_handles_labels()
        for legend in list(self.fig.legends):
            legend.remove()
        if handles:
            self.fig.legend(handles, labels, loc="upper center", ncol=len(handles), frameon=False)
        self.fig.tight_layout(rect=(0, 0, 1, 0.9))
        self.status.value = "<br>".join(messages)
        self.image.value = _png(self.fig, dpi=RESOLUTION * self.fig.get_dpi())


def batch_size_explorer(train_fn, noise_fn=None, batch_sizes=tuple(2 ** k for k in range(11)), batch_size=32,
                        lr=0.1, lr_range=(1e-3, 3.0), num_samples=None, window=None, yscale="log",
                        figsize=(9.0, 3.4)) -> BatchSizeExplorer:
    """Sliders for the batch size (powers of two) and the learning rate over the loss curves of a training run.

    Each setting is trained once by ``train_fn`` (the notebook wraps the
    student's mini-batch SGD in it); both panels redraw: the mini-batch loss
    against update steps and against samples seen (log axes), faint per
    step with a moving average on top, the previous setting dashed grey. The
    status line reports the run and ``noise_fn(B)``. Without a frontend it
    draws once, at the defaults. Keep ``train_fn`` small: a redraw trains.

    Parameters
    ----------
    train_fn : callable
        ``train_fn(batch_size, lr)`` -> 1-D array of the losses, one per update step.
    noise_fn : callable, optional
        ``noise_fn(batch_size)`` -> a float (shown as "gradient noise") or a dict of name -> float.
    batch_sizes : sequence of int
        The slider's stops, increasing.
    batch_size, lr : int, float
        The initial setting.
    lr_range : (float, float)
        The learning-rate slider's ends (log scale).
    num_samples : int, optional
        N: with it, samples seen count the smaller last batch of each epoch exactly.
    window : int, optional
        Moving-average length (default: a 40th of the run).
    yscale : str
    figsize : (float, float)

    Returns
    -------
    BatchSizeExplorer
        An ``ipywidgets.VBox``; ``.batch_slider.value = 64`` redraws.
    """
    return BatchSizeExplorer(train_fn, noise_fn, batch_sizes, batch_size, lr, lr_range, num_samples, window,
                             yscale, figsize)


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
            return _student_error(exc, g)
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


class SoftmaxExplorer(SliderPlot):
    """Three logit sliders, the softmax probabilities and the loss for each true class (see `softmax_explorer`)."""

    def __init__(self, softmax, softmax_cross_entropy, logits=(2.0, 1.0, 0.1), class_names=("class 0", "class 1", "class 2")):
        if len(logits) != 3 or len(class_names) != 3:
            raise ValueError("softmax_explorer shows exactly three classes: give three logits and three class names")
        self.softmax, self.softmax_cross_entropy = softmax, softmax_cross_entropy
        self.class_names = list(class_names)
        self.probabilities = None
        self.losses = None
        sliders = {f"z{c}": (-6.0, 6.0, 0.1, float(v)) for c, v in enumerate(logits)}
        super().__init__(self._draw, sliders, figsize=(6.0, 3.4))

    def _draw(self, ax, z0, z1, z2) -> str:
        logits = np.array([[z0, z1, z2]])
        try:
            p = as_array(self.softmax(logits)).astype(np.float64).reshape(3)
            losses = [float(as_array(self.softmax_cross_entropy(np.eye(3)[[c]], logits))) for c in range(3)]
        except Exception as exc:
            self.probabilities = self.losses = None
            return _student_error(exc, "softmax or softmax_cross_entropy")
        self.probabilities, self.losses = p, losses
        bars = ax.bar(self.class_names, p, color=[COLORS[c] for c in range(3)])
        for bar, value, loss in zip(bars, p, losses):
            ax.annotate(f"p = {value:.3f}\nloss if true: {loss:.3f}", (bar.get_x() + bar.get_width() / 2, value),
                        xytext=(0, 4), textcoords="offset points", ha="center", va="bottom", fontsize=9)
        ax.set_ylim(0.0, 1.35)
        ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
        ax.set_ylabel("softmax probability")
        return (f"probabilities sum to {p.sum():.6f}; the loss is -log p of the true class: "
                + ", ".join(f"{name}: {loss:.3f}" for name, loss in zip(self.class_names, losses)))


def softmax_explorer(softmax, softmax_cross_entropy, logits=(2.0, 1.0, 0.1),
                     class_names=("class 0", "class 1", "class 2")) -> SoftmaxExplorer:
    """Sliders for three logits; bars of the student's softmax and, per class, the loss if it were the true one.

    Parameters
    ----------
    softmax : callable
        The student's ``softmax(logits)`` for logits of shape (1, 3).
    softmax_cross_entropy : callable
        The student's ``softmax_cross_entropy(y_onehot, logits)``, called with
        each one-hot row of shape (1, 3).
    logits : (float, float, float)
        Initial slider values.
    class_names : (str, str, str)

    Returns
    -------
    SoftmaxExplorer
        ``.probabilities`` and ``.losses`` hold the values drawn.
    """
    return SoftmaxExplorer(softmax, softmax_cross_entropy, logits=logits, class_names=class_names)


# --- Learning rates and optimizers (Lab 04) -------------------------------------------------------
from course_utils.plotting import COLORS, set_axes  # noqa: E402

__all__ += ["classify_regime", "LearningRateExplorer", "lr_explorer", "OptimizerRace", "optimizer_race"]


def classify_regime(losses, path, loss_min: float = 0.0, tol: float = 1e-2) -> str:
    """Name what a run of an optimizer did, from its numbers alone.

    Parameters
    ----------
    losses : array_like of shape (T,)
        The loss after each step (the start first).
    path : array_like of shape (T, D)
        The weights after each step.
    loss_min : float
        The lowest loss of the problem (or the lowest one known).
    tol : float
        A run converges when its excess loss ``losses - loss_min`` ends
        below ``tol`` times where it started.

    Returns
    -------
    str
        ``"diverges"`` (the loss grew or is not finite), ``"oscillates"`` or
        ``"oscillates, but converges"`` (more than half of the steps reverse
        the direction of the previous one in some weight), ``"converges"``,
        or ``"too slow"`` (the loss fell, but not far enough).
    """
    excess = np.asarray(losses, dtype=np.float64) - float(loss_min)
    path = np.asarray(path, dtype=np.float64)
    if path.ndim == 1:
        path = path[:, None]
    if excess.ndim != 1 or path.shape[0] != excess.shape[0] or excess.size < 2:
        raise ValueError(f"need losses of shape (T,) and path of shape (T, D) with T >= 2, got {excess.shape} and {path.shape}")
    if not (np.all(np.isfinite(excess)) and np.all(np.isfinite(path))) or excess[-1] > excess[0]:
        return "diverges"
    steps = np.diff(path, axis=0)
    reversals = np.any(steps[1:] * steps[:-1] < 0, axis=1).mean() if len(steps) > 1 else 0.0
    converged = excess[-1] <= tol * max(excess[0], 0.0)
    if reversals > 0.5:
        return "oscillates, but converges" if converged else "oscillates"
    return "converges" if converged else "too slow"


def _grid_losses(loss_fn, w_range, resolution):
    (lo1, hi1), (lo2, hi2) = w_range
    W1, W2 = np.meshgrid(np.linspace(lo1, hi1, resolution), np.linspace(lo2, hi2, resolution))
    with np.errstate(all="ignore"):
        L = as_array(loss_fn(W1, W2)).astype(np.float64)
    if L.shape != W1.shape:
        raise ValueError(f"loss_fn(W1, W2) must work on grids: it returned shape {L.shape} for grids of shape {W1.shape}")
    return W1, W2, L


def _ranges(w_range):
    w_range = np.asarray(w_range, dtype=np.float64)
    pair = (tuple(w_range), tuple(w_range)) if w_range.shape == (2,) else tuple(map(tuple, w_range))
    if np.shape(pair) != (2, 2) or not all(lo < hi for lo, hi in pair):
        raise ValueError(f"w_range must be (lo, hi) or ((lo1, hi1), (lo2, hi2)) with lo < hi, got {w_range.tolist()}")
    return pair


def _path_losses(loss_fn, path):
    with np.errstate(all="ignore"):
        return as_array(loss_fn(path[:, 0], path[:, 1])).astype(np.float64)


def _draw_contours(ax, grid, levels):
    W1, W2, L = grid
    finite = L[np.isfinite(L)]
    lo, hi = finite.min(), finite.max()
    if isinstance(levels, int) and lo > 0:
        levels = np.geomspace(lo, hi, levels)  # log-spaced: the floor of a ravine stays visible
    ax.contour(W1, W2, L, levels=levels, cmap="viridis", linewidths=0.7)


class LearningRateExplorer(ipywidgets.VBox):
    """A log-scale learning-rate slider and start-point sliders over a 2-D loss (see `lr_explorer`).

    Attributes
    ----------
    regime : str
        What the current run did, from `classify_regime` (None when ``path_fn`` raised).
    path, losses : numpy.ndarray
        The current run's weights (T, 2) and losses (T,).
    """

    def __init__(self, loss_fn, path_fn, w_range, lr_range, lr, start, num_steps, loss_min, figsize):
        self.loss_fn, self.path_fn, self.num_steps = loss_fn, path_fn, int(num_steps)
        self.w_range = _ranges(w_range)
        self.grid = _grid_losses(loss_fn, self.w_range, 120)
        self.loss_min = float(np.nanmin(self.grid[2])) if loss_min is None else float(loss_min)
        lo, hi = (float(v) for v in lr_range)
        if not 0 < lo < hi:
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high, got {lr_range}")
        self.lr_slider = ipywidgets.FloatLogSlider(value=float(lr), base=10, min=np.log10(lo), max=np.log10(hi), step=0.01,
                                                   description="η", continuous_update=False, readout_format=".3g")
        (a1, b1), (a2, b2) = self.w_range
        self.start_sliders = [ipywidgets.FloatSlider(value=float(s), min=a, max=b, step=(b - a) / 200, description=name,
                                                     continuous_update=False)
                              for s, (a, b), name in zip(start, self.w_range, ("start w1", "start w2"))]
        self.status = ipywidgets.HTML()
        self.image = ipywidgets.Image(format="png")
        self.fig = Figure(figsize=figsize, dpi=90)
        self.ax_path, self.ax_loss = self.fig.subplots(1, 2)
        self.regime, self.path, self.losses = None, None, None
        _draw_contours(self.ax_path, self.grid, 25)  # once: a redraw only replaces the path and the loss curve
        (lo1, hi1), (lo2, hi2) = self.w_range
        set_axes(self.ax_path, "$w_1$", "$w_2$", xlim=(lo1, hi1), ylim=(lo2, hi2))
        set_axes(self.ax_loss, "step", "loss − lowest loss", yscale="log")
        self._path_artists, self._laid_out = [], False
        super().__init__([ipywidgets.HBox([self.lr_slider, *self.start_sliders]), self.status, self.image])
        for slider in (self.lr_slider, *self.start_sliders):
            slider.observe(self._on_change, names="value")
        self.redraw(strict=True)

    def _on_change(self, change) -> None:
        self.redraw()

    def redraw(self, strict: bool = False) -> None:
        """Run ``path_fn`` at the current values, draw the path and the loss curve, and name the regime."""
        lr, start = self.lr_slider.value, np.array([s.value for s in self.start_sliders])
        for artist in self._path_artists:
            artist.remove()
        self._path_artists = []
        try:
            with np.errstate(all="ignore"):
                self.path = as_array(self.path_fn(lr, start.copy(), self.num_steps)).astype(np.float64)
        except Exception as exc:
            if strict:
                raise
            self.regime = None
            self.status.value = _student_error(exc, "the optimizer")
            self.image.value = _png(self.fig)
            return
        self.losses = _path_losses(self.loss_fn, self.path)
        self.regime = classify_regime(self.losses, self.path, self.loss_min)
        self._path_artists = [*self.ax_path.plot(self.path[:, 0], self.path[:, 1], "o-", color=COLORS[1], markersize=2.5, linewidth=1),
                              *self.ax_path.plot(*start, "k^", markersize=7)]
        excess = self.losses - self.loss_min
        shown = np.where(np.isfinite(excess) & (excess > 0), excess, np.nan)
        self._path_artists += self.ax_loss.plot(np.arange(len(excess)), shown, color=COLORS[1])
        self.ax_loss.relim()
        self.ax_loss.autoscale_view()
        self.fig.suptitle(f"η = {lr:.3g}: {self.regime}", fontsize=10)
        if not self._laid_out:  # the layout does not change between redraws: compute it once
            self.fig.tight_layout()
            self._laid_out = True
        last = f"{self.losses[-1]:.3g}" if np.isfinite(self.losses[-1]) else "not finite"
        self.status.value = (f"η = {lr:.3g}: <b>{self.regime}</b> (loss {self.losses[0]:.3g} at the start, "
                             f"{last} after {len(self.losses) - 1} steps)")
        self.image.value = _png(self.fig)


def lr_explorer(loss_fn, path_fn, w_range, lr_range=(1e-3, 1.0), lr=0.05, start=(-4.0, 1.5), num_steps=60,
                loss_min=None, figsize=(9.0, 3.6)) -> LearningRateExplorer:
    """Explore the learning rate: sliders for η (log scale) and the start point redraw a run over a 2-D loss.

    Draws once when created (so it runs unattended); with a frontend,
    moving a slider redraws. The status line names the regime from the
    run's numbers (`classify_regime`): diverges, oscillates, converges or
    too slow.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(W1, W2)``, elementwise on arrays of any (equal) shape.
    path_fn : callable
        ``path_fn(lr, start, num_steps)`` -> weights after each step, shape
        (num_steps + 1, 2): the optimizer being explored (e.g. gradient
        descent written in the notebook).
    w_range : (lo, hi) or ((lo1, hi1), (lo2, hi2))
    lr_range : (float, float)
        Slider range of η (log scale).
    lr : float
    start : (float, float)
    num_steps : int
    loss_min : float, optional
        The problem's lowest loss; by default the lowest on the drawn grid.
    figsize : (float, float)

    Returns
    -------
    LearningRateExplorer
        An ``ipywidgets.VBox``; ``.lr_slider.value = 0.1`` redraws, ``.regime`` names the regime.
    """
    return LearningRateExplorer(loss_fn, path_fn, w_range, lr_range, lr, start, num_steps, loss_min, figsize)


class OptimizerRace(ipywidgets.VBox):
    """Checkboxes and learning rates per optimizer over one 2-D loss (see `optimizer_race`).

    Attributes
    ----------
    checkboxes, lr_sliders : dict of str to widget
    paths : dict of str to numpy.ndarray
        Each optimizer's current path (T, 2), recomputed only when its
        learning rate changes.
    errors : dict of str to str
        Optimizers whose run raised, with the error.
    """

    def __init__(self, loss_fn, run, rules, w_range, start, num_steps, loss_min, lr_range, figsize):
        if not rules:
            raise ValueError("rules is empty: give {name: (rule, learning_rate)}")
        self.loss_fn, self.run, self.num_steps = loss_fn, run, int(num_steps)
        self.rules = {name: rule for name, (rule, _) in rules.items()}
        self.initial_lrs = {name: float(lr) for name, (_, lr) in rules.items()}
        self.start = np.asarray(start, dtype=np.float64)
        self.w_range = _ranges(w_range)
        self.grid = _grid_losses(loss_fn, self.w_range, 150)
        self.loss_min = float(np.nanmin(self.grid[2])) if loss_min is None else float(loss_min)
        lo, hi = (float(np.log10(v)) for v in lr_range)
        self.checkboxes = {name: ipywidgets.Checkbox(value=True, description=name, indent=False,
                                                     layout=ipywidgets.Layout(width="150px")) for name in self.rules}
        self.lr_sliders = {name: ipywidgets.FloatLogSlider(value=lr, base=10, min=min(lo, np.log10(lr)),
                                                           max=max(hi, np.log10(lr)), step=0.05, description="η",
                                                           continuous_update=False, readout_format=".2g")
                           for name, lr in self.initial_lrs.items()}
        self.reset_button = ipywidgets.Button(description="reset")
        self.status = ipywidgets.HTML()
        self.image = ipywidgets.Image(format="png")
        self.fig = Figure(figsize=figsize, dpi=90)
        self.ax_path, self.ax_loss = self.fig.subplots(1, 2)
        self.paths, self.errors = {}, {}
        _draw_contours(self.ax_path, self.grid, 30)  # once: a redraw only replaces the paths and the loss curves
        self.ax_path.plot(*self.start, "k^", markersize=7)
        (lo1, hi1), (lo2, hi2) = self.w_range
        set_axes(self.ax_path, "$w_1$", "$w_2$", xlim=(lo1, hi1), ylim=(lo2, hi2))
        set_axes(self.ax_loss, "step", "loss − lowest loss", yscale="log")
        self._path_artists, self._laid_out = [], False
        rows = [ipywidgets.HBox([self.checkboxes[n], self.lr_sliders[n]]) for n in self.rules]
        half = (len(rows) + 1) // 2
        controls = ipywidgets.HBox([ipywidgets.VBox(rows[:half]), ipywidgets.VBox(rows[half:]), self.reset_button])
        super().__init__([controls, self.status, self.image])
        for name in self.rules:
            self._compute(name, strict=True)
            self.checkboxes[name].observe(self._on_change, names="value")
            self.lr_sliders[name].observe(self._on_lr, names="value")
        self.reset_button.on_click(self.reset)
        self.redraw()

    def _compute(self, name: str, strict: bool = False) -> None:
        config = {"learning_rate": float(self.lr_sliders[name].value)}
        try:
            with np.errstate(all="ignore"):
                path = as_array(self.run(self.rules[name], config, self.start.copy(), self.num_steps)).astype(np.float64)
            if path.ndim != 2 or path.shape[1] != 2:
                raise ValueError(f"the run returned shape {path.shape}, expected ({self.num_steps + 1}, 2)")
        except Exception as exc:
            if strict:
                raise
            self.paths.pop(name, None)
            self.errors[name] = _student_error(exc, name)
            return
        self.errors.pop(name, None)
        self.paths[name] = path

    def _on_lr(self, change) -> None:
        name = next(n for n, s in self.lr_sliders.items() if s is change["owner"])
        self._compute(name)
        self.redraw()

    def _on_change(self, change) -> None:
        self.redraw()

    def reset(self, button=None) -> None:
        """Every optimizer chosen again, at its first learning rate."""
        for name, lr in self.initial_lrs.items():
            if self.lr_sliders[name].value != lr:
                self.lr_sliders[name].unobserve(self._on_lr, names="value")
                self.lr_sliders[name].value = lr
                self.lr_sliders[name].observe(self._on_lr, names="value")
                self._compute(name)
            self.checkboxes[name].unobserve(self._on_change, names="value")
            self.checkboxes[name].value = True
            self.checkboxes[name].observe(self._on_change, names="value")
        self.redraw()

    @property
    def chosen(self) -> list:
        """The names of the optimizers drawn now."""
        return [n for n in self.rules if self.checkboxes[n].value and n in self.paths]

    def redraw(self) -> None:
        """Draw the chosen optimizers' paths over the contours and their loss curves."""
        for artist in self._path_artists:
            artist.remove()
        self._path_artists = []
        colors = dict(zip(self.rules, COLORS))
        finals = []
        for name in self.chosen:
            path = self.paths[name]
            label = f"{name} (η = {self.lr_sliders[name].value:.2g})"
            self._path_artists += self.ax_path.plot(path[:, 0], path[:, 1], "-", color=colors[name], linewidth=1.3, label=label)
            excess = _path_losses(self.loss_fn, path) - self.loss_min
            self._path_artists += self.ax_loss.plot(np.where(np.isfinite(excess) & (excess > 0), excess, np.nan), color=colors[name])
            finals.append(f"{html.escape(name)}: {excess[-1] + self.loss_min:.3g}")
        self.ax_loss.relim()
        self.ax_loss.autoscale_view()
        handles, labels = self.ax_path.get_legend_handles_labels()
        if handles:  # below the plots, never on the data
            self.fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
        if not self._laid_out:  # the layout does not change between redraws: compute it once, with room for the legend
            self.fig.tight_layout(rect=(0, 0.14, 1, 1))
            self._laid_out = True
        text = f"loss after {self.num_steps} steps: " + ", ".join(finals) if finals else "no optimizer chosen"
        self.status.value = "<br>".join([text, *self.errors.values()])
        self.image.value = _png(self.fig)
        for legend in self.fig.legends:
            legend.remove()


def optimizer_race(loss_fn, run, rules, w_range, start, num_steps=200, loss_min=None, lr_range=(1e-4, 10.0),
                   figsize=(9.5, 4.2)) -> OptimizerRace:
    """Race optimizers over one 2-D loss: a checkbox and a learning rate per optimizer, and a reset button.

    Every path is computed once and again only when its learning rate
    changes, so toggling a checkbox only redraws. Draws once when created.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(W1, W2)``, elementwise on arrays of any (equal) shape.
    run : callable
        ``run(rule, config, start, num_steps)`` -> weights after each step,
        shape (num_steps + 1, 2); config is ``{"learning_rate": lr}``.
        Errors raised when the race is created propagate; later ones are
        shown in the status line.
    rules : dict of str to (callable, float)
        Name -> (update rule, initial learning rate).
    w_range : (lo, hi) or ((lo1, hi1), (lo2, hi2))
    start : (float, float)
    num_steps : int
    loss_min : float, optional
        The problem's lowest loss; by default the lowest on the drawn grid.
    lr_range : (float, float)
        Range of the learning-rate sliders (log scale).
    figsize : (float, float)

    Returns
    -------
    OptimizerRace
    """
    return OptimizerRace(loss_fn, run, rules, w_range, start, num_steps, loss_min, lr_range, figsize)


# --- Lab 06: overfitting explorer and dropout visualiser ------------------------------------------


class OverfittingExplorer(_Panel):
    """Sliders for capacity, training points, L2 strength and dropout rate over a fit and its two losses.

    See `overfitting_explorer`. Left: the data and the fitted curve; right:
    training and validation loss against capacity at the current number of
    points, λ and dropout rate, with the current capacity marked.

    Attributes
    ----------
    sliders : dict of str to ipywidgets.ValueWidget
        ``"capacity"``, ``"n_train"``, ``"lam"``, ``"p"``.
    status : ipywidgets.HTML
    image : ipywidgets.Image
    fig : matplotlib.figure.Figure
    ax_fit, ax_loss : matplotlib.axes.Axes
    losses : numpy.ndarray or None
        Shape (len(capacities), 2): training and validation loss of every
        capacity at the current setting (None when ``fit`` raised).
    """

    def __init__(self, fit, x_train, y_train, x_val, y_val, capacities, capacity, lams, lam, p, n_train,
                 capacity_label, figsize):
        self.fit = fit
        self.x_train, self.y_train = np.asarray(x_train, dtype=np.float64), np.asarray(y_train, dtype=np.float64)
        self.x_val, self.y_val = np.asarray(x_val, dtype=np.float64), np.asarray(y_val, dtype=np.float64)
        if self.x_train.shape != self.y_train.shape or self.x_val.shape != self.y_val.shape or self.x_train.ndim != 1:
            raise ValueError(f"overfitting_explorer: x and y must be 1-D and of equal length, got x_train {self.x_train.shape}, "
                             f"y_train {self.y_train.shape}, x_val {self.x_val.shape}, y_val {self.y_val.shape}")
        self.capacities = [int(c) for c in capacities]
        self.capacity_label = capacity_label
        self.losses = None
        lams = [float(v) for v in lams]
        n_max = self.x_train.size
        layout = ipywidgets.Layout(width=SLIDER_WIDTH)
        self.sliders = {
            "capacity": ipywidgets.SelectionSlider(options=self.capacities, value=int(capacity), description="capacity",
                                                   continuous_update=False, layout=layout),
            "n_train": ipywidgets.IntSlider(value=int(n_train or n_max), min=2, max=n_max, step=1, description="points",
                                            continuous_update=False, layout=layout),
            "lam": ipywidgets.SelectionSlider(options=[(f"{v:g}", v) for v in lams], value=float(lam), description="L2 λ",
                                              continuous_update=False, layout=layout),
            "p": ipywidgets.FloatSlider(value=float(p), min=0.0, max=0.9, step=0.05, description="dropout p",
                                        continuous_update=False, layout=layout),
        }
        self.fig = Figure(figsize=figsize, layout="tight")
        self.ax_fit, self.ax_loss = self.fig.subplots(1, 2)
        self.x_plot = np.linspace(min(self.x_train.min(), self.x_val.min()), max(self.x_train.max(), self.x_val.max()), 300)
        span = np.ptp(np.concatenate([self.y_train, self.y_val]))
        self.ylim = (min(self.y_train.min(), self.y_val.min()) - 0.15 * span, max(self.y_train.max(), self.y_val.max()) + 0.15 * span)
        self._assemble()

    def _mse(self, predict, x, y) -> float:
        return float(np.mean((as_array(predict(x)).astype(np.float64).ravel() - y) ** 2))

    def redraw(self) -> None:
        """Fit every capacity at the current setting; draw the current fit and both loss curves."""
        v = self.values
        x, y = self.x_train[:v["n_train"]], self.y_train[:v["n_train"]]
        for ax in (self.ax_fit, self.ax_loss):
            ax.clear()
        self.ax_fit.plot(self.x_val, self.y_val, ".", color="0.7", markersize=4, label="validation")
        self.ax_fit.plot(x, y, "o", color=COLORS[0], markersize=5, label="training")
        self.ax_fit.set(xlabel="x", ylabel="y", ylim=self.ylim)
        try:
            losses, current = [], None
            for c in self.capacities:
                predict = self.fit(x, y, c, v["lam"], v["p"])
                losses.append((self._mse(predict, x, y), self._mse(predict, self.x_val, self.y_val)))
                if c == v["capacity"]:
                    current = predict
            self.losses = np.array(losses)
        except Exception as exc:
            self.losses = None
            self.status.value = _student_error(exc, "fit")
        else:
            self.ax_fit.plot(self.x_plot, as_array(current(self.x_plot)).ravel(), color=COLORS[1], label="fit")
            self.ax_loss.plot(self.capacities, self.losses[:, 0], "o-", color=COLORS[0], markersize=3, label="training")
            self.ax_loss.plot(self.capacities, self.losses[:, 1], "s--", color=COLORS[1], markersize=3, label="validation")
            self.ax_loss.axvline(v["capacity"], color="0.4", linewidth=1.0, label="current")
            self.ax_loss.set(xlabel=self.capacity_label, ylabel="loss (MSE)", yscale="log")
            self.ax_loss.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8)
            i, best = self.capacities.index(v["capacity"]), self.capacities[int(np.argmin(self.losses[:, 1]))]
            self.status.value = (f"{self.capacity_label} {v['capacity']}, {v['n_train']} training points, λ = {v['lam']:g}, "
                                 f"dropout p = {v['p']:.2f}: training loss <b>{self.losses[i, 0]:.4f}</b>, "
                                 f"validation loss <b>{self.losses[i, 1]:.4f}</b> (lowest validation loss at {best})")
        handles, labels = self.ax_fit.get_legend_handles_labels()
        self.ax_fit.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8)
        self.image.value = _png(self.fig, dpi=RESOLUTION * self.fig.get_dpi())


def overfitting_explorer(fit, x_train, y_train, x_val, y_val, capacities=range(16), capacity=4,
                         lams=(0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0), lam=0.0, p=0.0, n_train=None,
                         capacity_label="degree", figsize=(10.0, 3.8)) -> OverfittingExplorer:
    """Sliders for a model's capacity, the number of training points, the L2 strength λ and the dropout rate.

    Every change refits all capacities (so ``fit`` must be fast: a closed
    form or a small problem) and redraws the current fit over the data and
    the training and validation loss (mean squared error) against capacity.
    Without a frontend it draws once, with the defaults.

    Parameters
    ----------
    fit : callable
        ``fit(x, y, capacity, lam, p) -> predict``, where ``predict(x_new)``
        returns predictions of shape (M,) for x_new of shape (M,).
    x_train, y_train : array_like of shape (N,)
        The points the slider "points" takes the first n of.
    x_val, y_val : array_like of shape (V,)
    capacities : iterable of int
    capacity : int
        The initial capacity (one of `capacities`).
    lams : sequence of float
        The L2 strengths the λ slider offers; `lam` is one of them.
    p : float
        The initial dropout rate, in [0, 0.9].
    n_train : int, optional
        The initial number of training points (default all).
    capacity_label : str
    figsize : (float, float)

    Returns
    -------
    OverfittingExplorer
        An ``ipywidgets.VBox``; ``.sliders["capacity"].value = 9`` redraws.
    """
    return OverfittingExplorer(fit, x_train, y_train, x_val, y_val, capacities, capacity, lams, lam, p, n_train,
                               capacity_label, figsize)


class DropoutVisualiser(_Panel):
    """A layer's units as a grid, with the units that dropout zeroes marked (see `dropout_visualiser`).

    Attributes
    ----------
    sliders : dict of str to ipywidgets.ValueWidget
        ``"p"`` (drop probability) and ``"seed"`` (which mask).
    status : ipywidgets.HTML
    image : ipywidgets.Image
    fig : matplotlib.figure.Figure
    ax_before, ax_after : matplotlib.axes.Axes
    out : numpy.ndarray or None
        The activations after dropout for the current mask (None when ``dropout_forward`` raised).
    dropped : int or None
        How many units the current mask zeroes.
    mean_over_masks : float or None
        The mean activation after dropout, averaged over `num_masks` masks.
    """

    def __init__(self, dropout_forward, activations, p, seed, num_masks, figsize):
        self.dropout_forward = dropout_forward
        self.activations = np.asarray(activations, dtype=np.float64)
        if self.activations.ndim != 2:
            raise ValueError(f"dropout_visualiser: activations must be a 2-D grid of units, got shape {self.activations.shape}")
        self.num_masks = int(num_masks)
        self.out = self.dropped = self.mean_over_masks = None
        layout = ipywidgets.Layout(width=SLIDER_WIDTH)
        self.sliders = {
            "p": ipywidgets.FloatSlider(value=float(p), min=0.0, max=0.9, step=0.05, description="drop p",
                                        continuous_update=False, layout=layout),
            "seed": ipywidgets.IntSlider(value=int(seed), min=0, max=99, step=1, description="mask (seed)",
                                         continuous_update=False, layout=layout),
        }
        self.fig = Figure(figsize=figsize, layout="tight")
        self.ax_before, self.ax_after = self.fig.subplots(1, 2)
        self._assemble()

    def _grid(self, ax, values, title, vmax) -> None:
        ax.imshow(values, cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)

    def redraw(self) -> None:
        """Draw the activations before and after one dropout mask; report the means."""
        p, seed = self.values["p"], self.values["seed"]
        a = self.activations
        for ax in (self.ax_before, self.ax_after):
            ax.clear()
        try:
            out, mask = self.dropout_forward(a, p, True, np.random.default_rng(seed))
            out = as_array(out).astype(np.float64)
            dropped = np.zeros(a.shape, dtype=bool) if mask is None else as_array(mask) == 0
            stack = np.broadcast_to(a, (self.num_masks,) + a.shape).copy()
            many = as_array(self.dropout_forward(stack, p, True, np.random.default_rng(seed + 1000))[0]).astype(np.float64)
        except Exception as exc:
            self.out = self.dropped = self.mean_over_masks = None
            self._grid(self.ax_before, a, "activations (evaluation)", max(a.max(), 1e-12))
            self.status.value = _student_error(exc, "dropout_forward")
        else:
            self.out, self.dropped = out, int(np.sum(dropped))
            self.mean_over_masks = float(many.mean())
            vmax = max(out.max(), a.max(), 1e-12)
            self._grid(self.ax_before, a, "evaluation: every unit (brighter = larger)", vmax)
            self._grid(self.ax_after, out, f"training, p = {p:.2f}: × dropped, the rest × 1/(1 − p)", vmax)
            rows, cols = np.nonzero(dropped)
            self.ax_after.plot(cols, rows, "x", color=COLORS[1], markersize=7, markeredgewidth=1.5)
            self.status.value = (f"dropped <b>{self.dropped}</b> of {a.size} units; mean activation: "
                                 f"<b>{a.mean():.4f}</b> without dropout, <b>{out.mean():.4f}</b> with this mask, "
                                 f"<b>{self.mean_over_masks:.4f}</b> averaged over {self.num_masks} masks")
        self.image.value = _png(self.fig, dpi=RESOLUTION * self.fig.get_dpi())


def dropout_visualiser(dropout_forward, activations, p=0.5, seed=0, num_masks=1000,
                       figsize=(8.0, 3.0)) -> DropoutVisualiser:
    """A slider for the drop probability p over a layer's units drawn as a grid, dropped units marked ×.

    The status line reads the mean activation without dropout, with the
    current mask, and averaged over `num_masks` masks: inverted dropout keeps
    it the same in expectation. Without a frontend it draws once.

    Parameters
    ----------
    dropout_forward : callable
        The student's ``dropout_forward(x, p, training, rng) -> (out, mask)``.
    activations : array_like of shape (R, C)
        One layer's activations, drawn as an R x C grid of units.
    p : float
        The initial drop probability, in [0, 0.9].
    seed : int
        The initial mask's seed (the "mask" slider draws others).
    num_masks : int
        How many masks the average in the status line uses.
    figsize : (float, float)

    Returns
    -------
    DropoutVisualiser
        An ``ipywidgets.VBox``; ``.sliders["p"].value = 0.2`` redraws.
    """
    return DropoutVisualiser(dropout_forward, activations, p, seed, num_masks, figsize)
