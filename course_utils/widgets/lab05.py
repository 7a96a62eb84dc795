"""Lab 05 (mini-batch SGD): the batch-size explorer."""
from __future__ import annotations

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from course_utils.frameworks import as_array
from course_utils.style import COLORS
from course_utils.widgets._panel import Panel, student_error

__all__ = ["BatchSizeExplorer", "batch_size_explorer"]


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window` values at every position (fewer at the start)."""
    if window <= 1 or values.size == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, values.size + 1), window)
    return (sums[1:] - sums[np.maximum(np.arange(1, values.size + 1) - window, 0)]) / counts


class BatchSizeExplorer(Panel):
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
            messages.append(student_error(exc, "training"))
        if self._previous is not None and self._previous[:2] != (batch_size, lr):
            self._plot(self._previous[2], *self._previous[:2], color="#999999", linestyle="--", raw=False,
                       prefix="previous: ")
        if self.losses is not None:
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
                messages.append(student_error(exc, "the gradient noise"))
        self.ax_steps.set(xlabel="update step", ylabel="mini-batch loss", xscale="log", yscale=self.yscale)
        self.ax_samples.set(xlabel="samples seen", xscale="log")
        handles, labels = self.ax_steps.get_legend_handles_labels()
        for legend in list(self.fig.legends):
            legend.remove()
        if handles:
            self.fig.legend(handles, labels, loc="upper center", ncol=len(handles), frameon=False)
        self.fig.tight_layout(rect=(0, 0, 1, 0.9))
        self.status.value = "<br>".join(messages)
        self._render()


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
