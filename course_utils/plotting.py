"""Plots for the labs, in one colour-blind-safe style (`course_utils.style`).

Colours come from the Okabe-Ito palette, and the two classes of a binary
problem differ by marker as well as colour (fail: vermillion x, pass: blue
o), so every plot reads in greyscale and for colour-blind students.
Importing this module applies the style (`use_style`); the style's names
are also found here (``plotting.COLORS``, ``plotting.set_axes``).

Helpers build on each other as in d2l: `set_figsize` -> `set_axes` ->
the plot functions. Every plot function takes an optional ``ax`` (a new
figure is made when it is None) and returns the Axes it drew on. Functions
a student writes (activations, ``predict``, a loss) are passed in as
arguments; nothing here computes an exercise's answer.
"""
from __future__ import annotations

import math
import sys
import time

import matplotlib as mpl
import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from course_utils.frameworks import as_array
# the style, re-exported: notebooks use plotting.COLORS, plotting.set_axes, ...; importing it applies it
from course_utils.style import (  # noqa: F401
    BOUNDARY_COLOR, CLASS_CMAP, CLASS_STYLES, COLORS, OKABE_ITO, set_axes, set_figsize, to_png, use_style)

__all__ = [
    "OKABE_ITO",
    "COLORS",
    "CLASS_STYLES",
    "use_style",
    "set_figsize",
    "set_axes",
    "plot_activations",
    "plot_data_2d",
    "plot_line_boundary",
    "plot_decision_regions",
    "plot_loss_curves",
    "LiveLossPlot",
    "plot_loss_landscape",
    "plot_throughput",
]


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _call_elementwise(fn, z: np.ndarray, name: str) -> np.ndarray:
    out = as_array(fn(z))
    if out.shape != z.shape:
        raise ValueError(
            f"{name}(z) returned shape {out.shape} for z of shape {z.shape}: "
            "an activation function must work elementwise and keep the shape"
        )
    return out.astype(np.float64)


def plot_activations(funcs, z=None, ax=None):
    """Plot activation functions and their derivatives (dashed, same colour).

    Parameters
    ----------
    funcs : dict of str to (callable, callable or None)
        Name -> (g, g_derivative), e.g.
        ``{"sigmoid": (sigmoid, sigmoid_derivative), "relu": (relu, None)}``.
        Each maps an array of shape (N,) to an array of shape (N,).
    z : array_like of shape (N,), optional
        Inputs; default 201 points from -5 to 5.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        One line per function, then one dashed line per derivative given.
    """
    ax = _axes(ax)
    z = np.linspace(-5.0, 5.0, 201) if z is None else np.asarray(z, dtype=np.float64)
    for i, (name, (g, dg)) in enumerate(funcs.items()):
        color = COLORS[i % len(COLORS)]
        ax.plot(z, _call_elementwise(g, z, name), color=color, label=name)
        if dg is not None:
            ax.plot(z, _call_elementwise(dg, z, f"{name}'"), color=color, linestyle="--", label=f"{name}'")
    return set_axes(ax, "z", "g(z)", legend=True)


def check_xy(X, y):
    """`X` of shape (N, 2) as float64 and `y` of shape (N,); ValueError naming the shape that is wrong."""
    X, y = as_array(X), as_array(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (N, 2), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape (N,) = ({X.shape[0]},) to match X, got {y.shape}")
    return X.astype(np.float64), y


def plot_data_2d(X, y, ax=None, labels=("fail", "pass"), xlabel="x1", ylabel="x2"):
    """Scatter 2-D points, coloured and marked by their 0/1 label.

    Parameters
    ----------
    X : array_like of shape (N, 2)
    y : array_like of shape (N,)
        0 or 1.
    ax : matplotlib.axes.Axes, optional
    labels : (str, str)
        Legend entries for label 0 and label 1.
    xlabel, ylabel : str

    Returns
    -------
    matplotlib.axes.Axes
        With one PathCollection per class present, label 0 first.
    """
    ax = _axes(ax)
    X, y = check_xy(X, y)
    for label in (0, 1):
        mask = y == label
        if mask.any():
            ax.scatter(X[mask, 0], X[mask, 1], s=28, label=labels[label], **CLASS_STYLES[label])
    return set_axes(ax, xlabel, ylabel, legend=True)


def _clip_line(point, direction, xlim, ylim):
    """End points of the part of a line inside a box, or None when it misses the box."""
    t_lo, t_hi = -math.inf, math.inf
    for p, d, (lo, hi) in zip(point, direction, (xlim, ylim)):
        if d == 0:
            if not lo <= p <= hi:
                return None
            continue
        a, b = sorted(((lo - p) / d, (hi - p) / d))
        t_lo, t_hi = max(t_lo, a), min(t_hi, b)
    if t_lo > t_hi:
        return None
    return point + t_lo * direction, point + t_hi * direction


def plot_line_boundary(w0, w, ax=None, xlim=None, **line_kwargs):
    """Draw the line w0 + w[0] x1 + w[1] x2 = 0 across the Axes.

    The line is clipped to the Axes' current view (or to `xlim` and the
    current y-limits), which it leaves unchanged, so draw the data first.
    When w[1] == 0 the line is vertical.

    Parameters
    ----------
    w0 : float
        Bias.
    w : array_like of shape (2,)
        Weights of x1 and x2.
    ax : matplotlib.axes.Axes, optional
    xlim : (float, float), optional
        x1-range to draw over; default the Axes' x-limits.
    **line_kwargs
        Passed to ``ax.plot`` (e.g. ``color``, ``label``).

    Returns
    -------
    matplotlib.axes.Axes
        The line is ``ax.lines[-1]`` (empty when it misses the view).

    Raises
    ------
    ValueError
        When w is (0, 0): there is no line.
    """
    ax = _axes(ax)
    w = as_array(w).astype(np.float64).ravel()
    w0 = float(as_array(w0))
    if w.shape != (2,):
        raise ValueError(f"w must have 2 entries (w1, w2), got shape {w.shape}")
    norm2 = float(w @ w)
    if norm2 == 0.0:
        raise ValueError("w = (0, 0): w0 + w . x = 0 is not a line")
    xlim = tuple(xlim) if xlim is not None else ax.get_xlim()
    ylim = ax.get_ylim()
    # The point of the line closest to the origin, and a direction along it.
    point = -w0 * w / norm2
    direction = np.array([-w[1], w[0]])
    ends = _clip_line(point, direction, xlim, ylim)
    xs, ys = ([], []) if ends is None else ([ends[0][0], ends[1][0]], [ends[0][1], ends[1][1]])
    line_kwargs.setdefault("color", BOUNDARY_COLOR)
    line_kwargs.setdefault("label", "decision boundary")
    ax.plot(xs, ys, **line_kwargs)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    return ax


def _grid(X: np.ndarray, resolution: int):
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = np.maximum(0.05 * (hi - lo), 0.5)
    x1 = np.linspace(lo[0] - margin[0], hi[0] + margin[0], resolution)
    x2 = np.linspace(lo[1] - margin[1], hi[1] + margin[1], resolution)
    return np.meshgrid(x1, x2)


def plot_decision_regions(predict, X, y, ax=None, resolution=200, labels=("fail", "pass"), xlabel="x1", ylabel="x2"):
    """Shade where a classifier predicts each class, then draw the data.

    Parameters
    ----------
    predict : callable
        Maps an array of shape (M, 2) to shape (M,) (or (M, 1)):
        probabilities of label 1, or 0/1 labels.
    X : array_like of shape (N, 2)
    y : array_like of shape (N,)
    ax : matplotlib.axes.Axes, optional
    resolution : int
        Grid points per axis (M = resolution ** 2).
    labels, xlabel, ylabel
        As in `plot_data_2d`.

    Returns
    -------
    matplotlib.axes.Axes
        With the filled contour (and the 0.5 contour when the prediction
        crosses it) under the data.

    Raises
    ------
    ValueError
        When `predict` returns the wrong shape or values outside [0, 1].
    """
    ax = _axes(ax)
    X, y = check_xy(X, y)
    xx1, xx2 = _grid(X, resolution)
    grid = np.column_stack([xx1.ravel(), xx2.ravel()])
    Z = as_array(predict(grid)).astype(np.float64)
    if Z.size != grid.shape[0] or (Z.ndim == 2 and Z.shape[1] != 1) or Z.ndim > 2:
        raise ValueError(f"predict returned shape {Z.shape} for input of shape {grid.shape}; expected ({grid.shape[0]},)")
    Z = Z.reshape(xx1.shape)
    if not np.all(np.isfinite(Z)) or Z.min() < 0.0 or Z.max() > 1.0:
        raise ValueError("predict must return probabilities in [0, 1] or 0/1 labels (got values outside [0, 1] or NaN)")
    ax.contourf(xx1, xx2, Z, levels=np.linspace(0.0, 1.0, 11), cmap=CLASS_CMAP, vmin=0.0, vmax=1.0, alpha=0.45)
    if Z.min() < 0.5 < Z.max():
        ax.contour(xx1, xx2, Z, levels=[0.5], colors=BOUNDARY_COLOR, linewidths=1.2)
    return plot_data_2d(X, y, ax=ax, labels=labels, xlabel=xlabel, ylabel=ylabel)


def plot_loss_curves(train, val=None, ax=None, xlabel="epoch", ylabel="loss", val_epochs=None, yscale=None):
    """Plot training (solid) and validation (dashed) loss per epoch.

    Parameters
    ----------
    train : array_like of shape (T,)
        Loss after each of T epochs (plotted at epochs 1..T).
    val : array_like of shape (V,), optional
        Validation loss.
    ax : matplotlib.axes.Axes, optional
    xlabel, ylabel : str
    val_epochs : array_like of shape (V,), optional
        Epochs at which `val` was measured; default 1..V.
    yscale : str, optional
        e.g. ``"log"``.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` is train, ``ax.lines[1]`` validation.
    """
    ax = _axes(ax)
    train = as_array(train).astype(np.float64).ravel()
    ax.plot(np.arange(1, train.size + 1), train, color=COLORS[0], label="train")
    if val is not None:
        val = as_array(val).astype(np.float64).ravel()
        epochs = np.arange(1, val.size + 1) if val_epochs is None else as_array(val_epochs).ravel()
        if epochs.shape != val.shape:
            raise ValueError(f"val_epochs has shape {epochs.shape} but val has shape {val.shape}")
        ax.plot(epochs, val, color=COLORS[1], linestyle="--", label="validation")
    return set_axes(ax, xlabel, ylabel, legend=True, yscale=yscale)


def _in_notebook() -> bool:
    """True in a Jupyter kernel (also under nbclient and in Colab)."""
    ipython = sys.modules.get("IPython")
    zmqshell = sys.modules.get("ipykernel.zmqshell")
    if ipython is None or zmqshell is None:
        return False
    return isinstance(ipython.get_ipython(), zmqshell.ZMQInteractiveShell)


class LiveLossPlot:
    """A loss plot that redraws in place while a model trains.

    In a notebook the figure is shown once and its output updated (through
    an IPython display handle) at most every `min_interval` seconds, and
    always at `show`/`close`. Elsewhere (scripts, pytest) it only records
    the values and draws once, at `show` or `close`. It does not go through
    pyplot, so no extra copy of the figure appears at the end of the cell.

    Parameters
    ----------
    xlabel, ylabel : str
    min_interval : float
        Least seconds between two redraws, so fast loops stay fast.
    yscale : str, optional
        e.g. ``"log"``.
    interactive : bool, optional
        Force notebook (True) or quiet (False) behaviour; default: detect.

    Examples
    --------
    >>> with LiveLossPlot() as live:  # doctest: +SKIP
    ...     for epoch in range(num_epochs):
    ...         live.update(train_loss, val_loss)
    """

    def __init__(self, xlabel="epoch", ylabel="loss", min_interval=0.5, yscale=None, interactive=None):
        self.xlabel, self.ylabel, self.yscale = xlabel, ylabel, yscale
        self.min_interval = min_interval
        self.interactive = _in_notebook() if interactive is None else bool(interactive)
        self.train: list[float] = []
        self.val: list[float] = []
        self.val_epochs: list[int] = []
        self.fig = Figure(figsize=mpl.rcParams["figure.figsize"], layout="tight")  # keep axis labels inside the image
        self.ax = self.fig.add_subplot()
        self.closed = False
        self._handle = None
        self._last_draw = -math.inf

    def update(self, train_loss, val_loss=None) -> None:
        """Record one epoch's losses (floats, 0-d arrays or scalar tensors)."""
        if self.closed:
            raise RuntimeError("this LiveLossPlot is closed; make a new one for another run")
        self.train.append(float(as_array(train_loss)))
        if val_loss is not None:
            self.val.append(float(as_array(val_loss)))
            self.val_epochs.append(len(self.train))
        if self.interactive and time.monotonic() - self._last_draw >= self.min_interval:
            self._draw()
            self._publish()

    def _draw(self) -> None:
        self.ax.clear()
        plot_loss_curves(
            self.train, self.val or None, ax=self.ax, xlabel=self.xlabel, ylabel=self.ylabel,
            val_epochs=self.val_epochs or None, yscale=self.yscale,
        )
        self._last_draw = time.monotonic()

    def _publish(self) -> None:
        from IPython.display import Image, display

        image = Image(data=to_png(self.fig), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)

    def show(self) -> Figure:
        """Draw everything recorded so far (and update the notebook output); return the Figure."""
        self._draw()
        if self.interactive:
            self._publish()
        return self.fig

    def close(self) -> Figure:
        """Draw the final curves, stop accepting updates, and return the Figure."""
        fig = self.show() if not self.closed else self.fig
        self.closed = True
        return fig

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


def plot_loss_landscape(loss_fn, w_range, ax=None, trajectories=None, resolution=100, levels=30, vectorized=True):
    """Contour plot of a loss over two weights, with optional optimizer paths.

    Parameters
    ----------
    loss_fn : callable
        With ``vectorized=True``: ``loss_fn(W1, W2)`` takes two arrays of
        shape (G, G) (a grid of weight pairs) and returns shape (G, G).
        With ``vectorized=False``: ``loss_fn(w)`` takes one weight vector of
        shape (2,) and returns a float (slower: G * G calls).
    w_range : (float, float) or ((float, float), (float, float))
        Range of both weights, or of w1 and of w2 separately.
    ax : matplotlib.axes.Axes, optional
    trajectories : dict of str to array_like of shape (T, 2), optional
        Optimizer name -> weights after each step, drawn as lines with dots.
    resolution : int
        G, grid points per axis.
    levels : int or array_like
        Contour levels, as in ``ax.contour``.
    vectorized : bool

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines`` holds one line per trajectory, in the dict's order.
    """
    ax = _axes(ax)
    w_range = np.asarray(w_range, dtype=np.float64)
    (lo1, hi1), (lo2, hi2) = (w_range, w_range) if w_range.shape == (2,) else w_range
    W1, W2 = np.meshgrid(np.linspace(lo1, hi1, resolution), np.linspace(lo2, hi2, resolution))
    if vectorized:
        L = as_array(loss_fn(W1, W2)).astype(np.float64)
    else:
        L = np.array([float(as_array(loss_fn(np.array([a, b])))) for a, b in zip(W1.ravel(), W2.ravel())])
        L = L.reshape(W1.shape)
    if L.shape != W1.shape:
        raise ValueError(f"loss_fn returned shape {L.shape} for grids of shape {W1.shape} (use vectorized=False?)")
    if not np.ptp(L[np.isfinite(L)]) > 0:
        raise ValueError("loss_fn is constant (or not finite) over w_range: nothing to draw")
    ax.contour(W1, W2, L, levels=levels, cmap="viridis", linewidths=0.8)
    for i, (name, path) in enumerate((trajectories or {}).items()):
        path = as_array(path).astype(np.float64)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"trajectory {name!r} must have shape (T, 2), got {path.shape}")
        ax.plot(path[:, 0], path[:, 1], color=COLORS[i % len(COLORS)], marker="o", markersize=3, label=name)
    return set_axes(ax, "w1", "w2", xlim=(lo1, hi1), ylim=(lo2, hi2), legend=bool(trajectories))


def plot_throughput(batch_sizes, samples_per_s, ax=None):
    """Plot training throughput against batch size (log-2 x-axis).

    Parameters
    ----------
    batch_sizes : array_like of shape (B,)
    samples_per_s : array_like of shape (B,) or dict of str to array_like
        One series, or one per device/framework (e.g. ``{"cpu": ..., "cuda:0": ...}``).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        One line per series.
    """
    ax = _axes(ax)
    batch_sizes = as_array(batch_sizes).astype(np.float64).ravel()
    series = samples_per_s if isinstance(samples_per_s, dict) else {None: samples_per_s}
    for i, (name, values) in enumerate(series.items()):
        values = as_array(values).astype(np.float64).ravel()
        if values.shape != batch_sizes.shape:
            raise ValueError(f"{name or 'samples_per_s'} has {values.size} values for {batch_sizes.size} batch sizes")
        ax.plot(batch_sizes, values, color=COLORS[i % len(COLORS)], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(batch_sizes, [f"{b:g}" for b in batch_sizes])
    ax.minorticks_off()
    return set_axes(ax, "batch size", "samples / s", legend=bool(isinstance(samples_per_s, dict)))

