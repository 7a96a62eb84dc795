"""Lab 06 (regularization): the overfitting explorer and the dropout visualiser."""
from __future__ import annotations

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from course_utils.frameworks import as_array
from course_utils.style import COLORS
from course_utils.widgets._panel import SLIDER_WIDTH, Panel, student_error

__all__ = ["OverfittingExplorer", "overfitting_explorer", "DropoutVisualiser", "dropout_visualiser"]


class OverfittingExplorer(Panel):
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
            self.status.value = student_error(exc, "fit")
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
        self._render()


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


class DropoutVisualiser(Panel):
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
            self.status.value = student_error(exc, "dropout_forward")
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
        self._render()


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
