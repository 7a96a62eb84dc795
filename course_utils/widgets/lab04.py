"""Lab 04 (optimizers): naming an optimizer's regime, the learning-rate explorer and the optimizer race."""
from __future__ import annotations

import html

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from course_utils.frameworks import as_array
from course_utils.style import COLORS, set_axes
from course_utils.widgets._panel import Panel, student_error

__all__ = ["classify_regime", "LearningRateExplorer", "lr_explorer", "OptimizerRace", "optimizer_race"]

LANDSCAPE_DPI = 90  # the landscapes' figures are shown unscaled (not sharp): at this dpi, 9 inches are 810 pixels


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


class _LandscapePanel(Panel):
    """Paths over a 2-D loss: its contours on the left, the loss along each path on the right."""

    sharp = False  # many curves redraw on every change: the figure's own resolution keeps that fast

    def _landscape(self, loss_fn, w_range, loss_min, resolution: int, levels: int, figsize) -> None:
        """Set up the figure: the loss on a grid, its contours (drawn once: a redraw only replaces the paths and the
        loss curves) and both axes' labels and limits."""
        self.loss_fn = loss_fn
        self.w_range = _ranges(w_range)
        self.grid = _grid_losses(loss_fn, self.w_range, resolution)
        self.loss_min = float(np.nanmin(self.grid[2])) if loss_min is None else float(loss_min)
        self.fig = Figure(figsize=figsize, dpi=LANDSCAPE_DPI)
        self.ax_path, self.ax_loss = self.fig.subplots(1, 2)
        _draw_contours(self.ax_path, self.grid, levels)
        (lo1, hi1), (lo2, hi2) = self.w_range
        set_axes(self.ax_path, "$w_1$", "$w_2$", xlim=(lo1, hi1), ylim=(lo2, hi2))
        set_axes(self.ax_loss, "step", "loss − lowest loss", yscale="log")
        self._path_artists, self._laid_out = [], False

    def _clear_paths(self) -> None:
        for artist in self._path_artists:
            artist.remove()
        self._path_artists = []

    def _excess(self, path: np.ndarray) -> np.ndarray:
        """The loss along `path` above the lowest loss (not finite where the loss is not)."""
        return _path_losses(self.loss_fn, path) - self.loss_min

    def _plot_excess(self, excess: np.ndarray, color) -> None:
        """Draw `excess` on the log axis: NaN (a gap) where it is not a positive number."""
        self._path_artists += self.ax_loss.plot(np.arange(len(excess)),
                                                np.where(np.isfinite(excess) & (excess > 0), excess, np.nan), color=color)
        self.ax_loss.relim()
        self.ax_loss.autoscale_view()

    def _lay_out_once(self, **tight) -> None:
        """Tight layout at the first draw only: the layout does not change between redraws."""
        if not self._laid_out:
            self.fig.tight_layout(**tight)
            self._laid_out = True


class LearningRateExplorer(_LandscapePanel):
    """A log-scale learning-rate slider and start-point sliders over a 2-D loss (see `lr_explorer`).

    Attributes
    ----------
    lr_slider : ipywidgets.FloatLogSlider
    start_sliders : list of ipywidgets.FloatSlider
    sliders : dict of str to ipywidgets.ValueWidget
        The same three sliders, as ``"lr"``, ``"start w1"`` and ``"start w2"``.
    regime : str
        What the current run did, from `classify_regime` (None when ``path_fn`` raised).
    path, losses : numpy.ndarray
        The current run's weights (T, 2) and losses (T,).
    """

    def __init__(self, loss_fn, path_fn, w_range, lr_range, lr, start, num_steps, loss_min, figsize):
        self.path_fn, self.num_steps = path_fn, int(num_steps)
        self._landscape(loss_fn, w_range, loss_min, resolution=120, levels=25, figsize=figsize)
        lo, hi = (float(v) for v in lr_range)
        if not 0 < lo < hi:
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high, got {lr_range}")
        self.lr_slider = ipywidgets.FloatLogSlider(value=float(lr), base=10, min=np.log10(lo), max=np.log10(hi), step=0.01,
                                                   description="η", continuous_update=False, readout_format=".3g")
        self.start_sliders = [ipywidgets.FloatSlider(value=float(s), min=a, max=b, step=(b - a) / 200, description=name,
                                                     continuous_update=False)
                              for s, (a, b), name in zip(start, self.w_range, ("start w1", "start w2"))]
        self.sliders = {"lr": self.lr_slider, **{s.description: s for s in self.start_sliders}}
        self.regime, self.path, self.losses = None, None, None
        self._assemble(controls=ipywidgets.HBox([self.lr_slider, *self.start_sliders]))

    def _first_draw(self) -> None:
        self.redraw(strict=True)  # an optimizer that fails now raises, so that a demo's guard sees it

    def redraw(self, strict: bool = False) -> None:
        """Run ``path_fn`` at the current values, draw the path and the loss curve, and name the regime."""
        lr, start = self.lr_slider.value, np.array([s.value for s in self.start_sliders])
        self._clear_paths()
        try:
            with np.errstate(all="ignore"):
                self.path = as_array(self.path_fn(lr, start.copy(), self.num_steps)).astype(np.float64)
        except Exception as exc:
            if strict:
                raise
            self.regime = None
            self.status.value = student_error(exc, "the optimizer")
            self._render()
            return
        self.losses = _path_losses(self.loss_fn, self.path)
        self.regime = classify_regime(self.losses, self.path, self.loss_min)
        self._path_artists = [*self.ax_path.plot(self.path[:, 0], self.path[:, 1], "o-", color=COLORS[1], markersize=2.5, linewidth=1),
                              *self.ax_path.plot(*start, "k^", markersize=7)]
        self._plot_excess(self.losses - self.loss_min, COLORS[1])
        self.fig.suptitle(f"η = {lr:.3g}: {self.regime}", fontsize=10)
        self._lay_out_once()
        last = f"{self.losses[-1]:.3g}" if np.isfinite(self.losses[-1]) else "not finite"
        self.status.value = (f"η = {lr:.3g}: <b>{self.regime}</b> (loss {self.losses[0]:.3g} at the start, "
                             f"{last} after {len(self.losses) - 1} steps)")
        self._render()


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


class OptimizerRace(_LandscapePanel):
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
        self.run, self.num_steps = run, int(num_steps)
        self.rules = {name: rule for name, (rule, _) in rules.items()}
        self.initial_lrs = {name: float(lr) for name, (_, lr) in rules.items()}
        self.start = np.asarray(start, dtype=np.float64)
        self._landscape(loss_fn, w_range, loss_min, resolution=150, levels=30, figsize=figsize)
        self.ax_path.plot(*self.start, "k^", markersize=7)
        lo, hi = (float(np.log10(v)) for v in lr_range)
        self.checkboxes = {name: ipywidgets.Checkbox(value=True, description=name, indent=False,
                                                     layout=ipywidgets.Layout(width="150px")) for name in self.rules}
        self.lr_sliders = {name: ipywidgets.FloatLogSlider(value=lr, base=10, min=min(lo, np.log10(lr)),
                                                           max=max(hi, np.log10(lr)), step=0.05, description="η",
                                                           continuous_update=False, readout_format=".2g")
                           for name, lr in self.initial_lrs.items()}
        self.reset_button = ipywidgets.Button(description="reset")
        self.paths, self.errors = {}, {}
        for name in self.rules:
            self._compute(name, strict=True)
        rows = [ipywidgets.HBox([self.checkboxes[n], self.lr_sliders[n]]) for n in self.rules]
        half = (len(rows) + 1) // 2
        controls = ipywidgets.HBox([ipywidgets.VBox(rows[:half]), ipywidgets.VBox(rows[half:]), self.reset_button])
        self._assemble(controls=controls, watched=self.checkboxes.values())
        for slider in self.lr_sliders.values():
            slider.observe(self._on_lr, names="value")
        self.reset_button.on_click(self.reset)

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
            self.errors[name] = student_error(exc, name)
            return
        self.errors.pop(name, None)
        self.paths[name] = path

    def _on_lr(self, change) -> None:
        name = next(n for n, s in self.lr_sliders.items() if s is change["owner"])
        self._compute(name)
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
        self._clear_paths()
        colors = dict(zip(self.rules, COLORS))
        finals = []
        for name in self.chosen:
            path = self.paths[name]
            label = f"{name} (η = {self.lr_sliders[name].value:.2g})"
            self._path_artists += self.ax_path.plot(path[:, 0], path[:, 1], "-", color=colors[name], linewidth=1.3, label=label)
            excess = self._excess(path)
            self._plot_excess(excess, colors[name])
            finals.append(f"{html.escape(name)}: {excess[-1] + self.loss_min:.3g}")
        handles, labels = self.ax_path.get_legend_handles_labels()
        if handles:  # below the plots, never on the data
            self.fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
        self._lay_out_once(rect=(0, 0.14, 1, 1))  # with room for the legend
        text = f"loss after {self.num_steps} steps: " + ", ".join(finals) if finals else "no optimizer chosen"
        self.status.value = "<br>".join([text, *self.errors.values()])
        self._render()
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
