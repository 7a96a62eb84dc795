"""Lab 06's widgets (course_utils.widgets.lab06): the overfitting explorer and the dropout visualiser."""
import ipywidgets
import numpy as np
import pytest

from course_utils import widgets
from tests.course_utils.widgets.conftest import PNG


def _noisy_sine(n, seed):
    r = np.random.default_rng(seed)
    x = r.uniform(-1.0, 1.0, size=n)
    return x, np.sin(np.pi * x) + r.normal(0.0, 0.2, size=n)


def polyfit_shrunk(x, y, capacity, lam, p):
    """Stand-in fit: numpy's polynomial least squares of the given degree, shrunk towards 0 by 1 / (1 + lam + p)."""
    coef = np.polynomial.polynomial.polyfit(x, y, capacity) / (1.0 + lam + p)
    return lambda x_new: np.polynomial.polynomial.polyval(x_new, coef)


def recording_fit(calls):
    """`polyfit_shrunk` that first appends its (number of points, capacity, lam, p) to `calls`."""

    def fit(x_, y_, capacity, lam, p):
        calls.append((x_.size, capacity, lam, p))
        return polyfit_shrunk(x_, y_, capacity, lam, p)

    return fit


def test_overfitting_explorer_draws_once_and_reports_both_losses():
    """Unattended, does the explorer fit every capacity once and show the current training and validation loss?"""
    x, y = _noisy_sine(30, 0)
    xv, yv = _noisy_sine(100, 1)
    calls = []
    fit = recording_fit(calls)
    explorer = widgets.overfitting_explorer(fit, x, y, xv, yv, capacities=range(8), capacity=3)
    assert isinstance(explorer, ipywidgets.VBox)
    assert calls == [(30, c, 0.0, 0.0) for c in range(8)]
    predict = polyfit_shrunk(x, y, 3, 0.0, 0.0)
    want = (np.mean((predict(x) - y) ** 2), np.mean((predict(xv) - yv) ** 2))
    np.testing.assert_allclose(explorer.losses[3], want, rtol=1e-12)
    assert f"training loss <b>{want[0]:.4f}</b>" in explorer.status.value
    assert f"validation loss <b>{want[1]:.4f}</b>" in explorer.status.value
    assert np.all(np.diff(explorer.losses[:, 0]) <= 1e-12), "training loss of nested least squares never rises with degree"
    assert bytes(explorer.image.value).startswith(PNG)


def test_overfitting_explorer_sliders_refit_with_their_values():
    """Do the points, λ and dropout sliders reach fit, and the capacity slider move the marked fit?"""
    x, y = _noisy_sine(25, 2)
    xv, yv = _noisy_sine(50, 3)
    calls = []
    fit = recording_fit(calls)
    explorer = widgets.overfitting_explorer(fit, x, y, xv, yv, capacities=[1, 2, 5], capacity=2, lams=(0.0, 0.5))
    first = explorer.image.value
    explorer.sliders["n_train"].value = 10
    explorer.sliders["lam"].value = 0.5
    explorer.sliders["p"].value = 0.25
    assert calls[-3:] == [(10, 1, 0.5, 0.25), (10, 2, 0.5, 0.25), (10, 5, 0.5, 0.25)]
    predict = polyfit_shrunk(x[:10], y[:10], 5, 0.5, 0.25)
    np.testing.assert_allclose(explorer.losses[2, 1], np.mean((predict(xv) - yv) ** 2), rtol=1e-12)
    explorer.sliders["capacity"].value = 5
    np.testing.assert_allclose(explorer.ax_fit.lines[-1].get_ydata(), predict(explorer.x_plot), rtol=1e-12)
    assert explorer.ax_loss.lines[-1].get_xdata()[0] == 5  # the "current" marker moved
    assert explorer.image.value != first


def test_overfitting_explorer_shows_a_failing_fit_and_rejects_bad_data():
    """Does an error in fit show in the status line (not raise), and do mismatched arrays fail with a clear message?"""
    x, y = _noisy_sine(10, 4)

    def broken(*args):
        raise NotImplementedError()

    explorer = widgets.overfitting_explorer(broken, x, y, x, y, capacities=[1, 2], capacity=1)
    assert explorer.losses is None and "fit raised NotImplementedError" in explorer.status.value
    with pytest.raises(ValueError, match="equal length"):
        widgets.overfitting_explorer(polyfit_shrunk, x, y[:5], x, y)


def drop_first_units(x, p, training, rng):
    """Stand-in dropout (not the lab's): zero the first round(p * units) units of each grid, scale the rest by 1 / (1 - p)."""
    x = np.asarray(x, dtype=np.float64)
    grid = x.reshape(-1, x.shape[-2] * x.shape[-1])
    mask = np.ones_like(grid)
    mask[:, : int(round(p * grid.shape[1]))] = 0.0
    mask /= 1.0 - p
    return (grid * mask).reshape(x.shape), mask.reshape(x.shape)


def test_dropout_visualiser_marks_dropped_units_and_reports_means():
    """Does the visualiser count the zeroed units, mark each with a cross, and report the three means?"""
    activations = np.arange(1.0, 41.0).reshape(4, 10)
    seen = []

    def dropout(x, p, training, rng):
        seen.append((np.shape(x), p, training, type(rng).__name__))
        return drop_first_units(x, p, training, rng)

    vis = widgets.dropout_visualiser(dropout, activations, p=0.25, num_masks=50)
    assert seen == [((4, 10), 0.25, True, "Generator"), ((50, 4, 10), 0.25, True, "Generator")]
    assert vis.dropped == 10
    rows, cols = vis.ax_after.lines[-1].get_ydata(), vis.ax_after.lines[-1].get_xdata()
    assert sorted(zip(rows, cols)) == [(0, c) for c in range(10)]
    out_mean = (activations.sum() - activations[0].sum()) / 0.75 / 40
    assert f"<b>{activations.mean():.4f}</b> without dropout" in vis.status.value
    assert f"<b>{out_mean:.4f}</b> with this mask" in vis.status.value
    np.testing.assert_allclose(vis.mean_over_masks, out_mean, rtol=1e-12)
    vis.sliders["p"].value = 0.5
    assert vis.dropped == 20 and seen[-1][1] == 0.5
    assert bytes(vis.image.value).startswith(PNG)


def test_dropout_visualiser_survives_an_unfinished_exercise():
    """If dropout_forward is still the stub, is the error shown in the widget and the activations still drawn?"""
    def stub(x, p, training, rng):
        raise NotImplementedError()

    vis = widgets.dropout_visualiser(stub, np.ones((3, 3)))
    assert vis.out is None and "dropout_forward raised NotImplementedError" in vis.status.value
    assert bytes(vis.image.value).startswith(PNG)
    with pytest.raises(ValueError, match="2-D grid"):
        widgets.dropout_visualiser(stub, np.ones(5))
