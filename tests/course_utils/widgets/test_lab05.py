"""Lab 05's batch-size explorer (course_utils.widgets.lab05).

The stand-in training run is not SGD (no answers in the tests): a loss curve whose length and values each test can predict.
"""
import ipywidgets
import numpy as np
import pytest

from course_utils import widgets
from tests.course_utils.widgets.conftest import PNG


def falling_losses(batch_size, lr, num_samples=64, num_epochs=2):
    """Stand-in train_fn: one loss per step of num_epochs epochs of ceil(num_samples / B) steps, falling with lr."""
    steps = num_epochs * -(-num_samples // batch_size)
    return np.exp(-lr * np.arange(steps)) + 0.01


def test_batch_size_explorer_draws_once_with_defaults():
    """Without a human, does the explorer train once at the defaults, draw both panels and report the noise?"""
    calls, noise_calls = [], []

    def train(batch_size, lr):
        calls.append((batch_size, lr))
        return falling_losses(batch_size, lr)

    def noise(batch_size):
        noise_calls.append(batch_size)
        return {"measured": 2.0 / batch_size, "predicted": 2.5 / batch_size}

    explorer = widgets.batch_size_explorer(train, noise, batch_sizes=[1, 2, 4, 8, 16, 32, 64], batch_size=8, lr=0.1,
                                           num_samples=64)
    assert isinstance(explorer, ipywidgets.VBox)
    assert calls == [(8, 0.1)] and noise_calls == [8] and explorer.train_calls == 1
    assert explorer.values == {"batch_size": 8, "lr": 0.1}
    assert [value for _, value in explorer.batch_slider.options] == [1, 2, 4, 8, 16, 32, 64]
    np.testing.assert_allclose(explorer.losses, falling_losses(8, 0.1))
    assert "16 update steps" in explorer.status.value
    assert "measured 0.25" in explorer.status.value and "predicted 0.312" in explorer.status.value
    np.testing.assert_allclose(explorer.ax_steps.lines[-1].get_xdata(), np.arange(1, 17))
    np.testing.assert_allclose(explorer.ax_samples.lines[-1].get_xdata(), 8 * np.arange(1, 17))
    np.testing.assert_allclose(explorer.ax_steps.lines[-1].get_ydata(), falling_losses(8, 0.1))
    assert bytes(explorer.image.value).startswith(PNG)


def test_batch_size_explorer_retrains_caches_and_keeps_the_previous_curve():
    """Does moving a slider train the new setting once, dash the previous one and reuse a cached run?"""
    calls = []

    def train(batch_size, lr):
        calls.append((batch_size, lr))
        return falling_losses(batch_size, lr)

    explorer = widgets.batch_size_explorer(train, lambda b: 1.0 / b, batch_sizes=[1, 2, 4, 8, 16], batch_size=16, lr=0.1)
    first_image = explorer.image.value
    explorer.batch_slider.value = 1
    assert calls[-1] == (1, 0.1) and "128 update steps" in explorer.status.value
    assert "gradient noise 1" in explorer.status.value
    labels = [line.get_label() for line in explorer.ax_steps.lines]
    assert "previous: B = 16, η = 0.1" in labels and "B = 1, η = 0.1" in labels
    assert len(explorer.ax_steps.lines) == 3  # previous (smoothed), raw steps, moving average
    np.testing.assert_allclose(explorer.ax_steps.lines[-1].get_ydata()[-1], falling_losses(1, 0.1)[-3:].mean())
    assert explorer.image.value != first_image
    explorer.lr_slider.value = 1.0
    assert calls[-1] == (1, 1.0)
    explorer.batch_slider.value = 16
    explorer.lr_slider.value = 0.1
    assert calls[-1] == (16, 1.0) and explorer.train_calls == 4  # then (16, 0.1) comes from the cache


def test_batch_size_explorer_counts_the_smaller_last_batch():
    """With num_samples, do samples seen add the smaller last batch of every epoch (10 = 4 + 4 + 2)?"""
    explorer = widgets.batch_size_explorer(lambda b, lr: np.ones(6), batch_sizes=[2, 4], batch_size=4, num_samples=10)
    np.testing.assert_allclose(explorer.ax_samples.lines[-1].get_xdata(), [4, 8, 10, 14, 18, 20])


def test_batch_size_explorer_reports_divergence_and_student_errors():
    """Do a diverging run, an unfinished train_fn and a failing noise_fn end up in the status line, not as errors?"""
    explorer = widgets.batch_size_explorer(lambda b, lr: np.array([1.0, 10.0, np.inf, np.nan]), batch_sizes=[1, 2],
                                           batch_size=2)
    assert "diverged" in explorer.status.value and "from step 3" in explorer.status.value

    def stub(*args):
        raise NotImplementedError()

    unfinished = widgets.batch_size_explorer(stub, stub, batch_sizes=[1, 2], batch_size=1)
    assert unfinished.losses is None and unfinished.noise is None
    assert "training raised NotImplementedError" in unfinished.status.value
    assert "the gradient noise raised NotImplementedError" in unfinished.status.value
    assert bytes(unfinished.image.value).startswith(PNG)


def test_batch_size_explorer_rejects_bad_settings():
    """Are batch sizes out of order, a start outside them and a learning rate outside its range refused, with the reason?"""
    with pytest.raises(ValueError, match="increasing positive integers"):
        widgets.batch_size_explorer(falling_losses, batch_sizes=[4, 2])
    with pytest.raises(ValueError, match="batch_size=3 is not one of"):
        widgets.batch_size_explorer(falling_losses, batch_sizes=[1, 2, 4], batch_size=3)
    with pytest.raises(ValueError, match="lr_range"):
        widgets.batch_size_explorer(falling_losses, batch_sizes=[1, 2], batch_size=1, lr=5.0, lr_range=(0.01, 1.0))


def test_batch_size_explorer_in_a_real_kernel(kernel, show_in_kernel):
    """Run unattended in a Jupyter kernel, does the explorer display once and stay off stderr?"""
    show_in_kernel(
        "import numpy as np\n"
        "from course_utils.widgets import batch_size_explorer\n"
        "explorer = batch_size_explorer(lambda b, lr: np.exp(-lr * np.arange(2 * (64 // b))), lambda b: 1.0 / b)\n"
        "explorer"
    )
    outputs = kernel("print(explorer.train_calls, explorer.losses.size)")
    assert [(o["output_type"], o.get("text")) for o in outputs] == [("stream", "1 4\n")]
