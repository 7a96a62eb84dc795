"""The widgets are driven programmatically: setting a slider's .value is what a frontend does.

The stand-ins for the student's `classify` and `boundary_x2` are deliberately
not the perceptron (no answers in the repository's tests): they let each
test predict the misclassified count independently.
"""
import ipywidgets
import numpy as np
import pytest

from course_utils import widgets
from course_utils.data import load_will_i_pass

PNG = b"\x89PNG"


def classify_by_lectures(x, w0, w):
    """Stand-in classify: pass when more than w0 lectures were attended (w is ignored)."""
    return (x[:, 0] > w0).astype(np.int64)


def horizontal_boundary(x1, w0, w):
    """Stand-in boundary_x2: a horizontal line at x2 = w[0] (ValueError when w[1] == 0, like the real one)."""
    if w[1] == 0:
        raise ValueError("w[1] == 0")
    return np.full_like(x1, w[0])


@pytest.fixture
def students():
    return load_will_i_pass()


def expected_wrong(X, y, w0):
    return int(np.sum((X[:, 0] > w0).astype(int) != y))


def test_playground_draws_once_with_defaults(students):
    """Without any human, does the playground draw once, with the lecture's weights, and count errors?"""
    X, y = students
    calls = []

    def classify(x, w0, w):
        calls.append((x.shape, w0, list(w)))
        return classify_by_lectures(x, w0, w)

    playground = widgets.boundary_playground(X, y, classify, horizontal_boundary)
    assert isinstance(playground, ipywidgets.VBox)
    assert calls == [(X.shape, 1.0, [3.0, -2.0])]
    assert playground.values == {"w0": 1.0, "w1": 3.0, "w2": -2.0, "scale": 1.0}
    assert playground.misclassified == expected_wrong(X, y, 1.0)
    assert f"<b>{playground.misclassified}</b> of {len(y)} students misclassified" in playground.status.value
    assert bytes(playground.image.value).startswith(PNG)


def test_moving_sliders_updates_count_and_line(students):
    """Does setting a slider redraw: new count from the student's classify, new line from boundary_x2?"""
    X, y = students
    playground = widgets.boundary_playground(X, y, classify_by_lectures, horizontal_boundary)
    first_image = playground.image.value
    for w0 in (4.0, 6.5, 9.0):
        playground.sliders["w0"].value = w0
        assert playground.misclassified == expected_wrong(X, y, w0)
        assert f"<b>{expected_wrong(X, y, w0)}</b> of 80" in playground.status.value
    assert playground.image.value != first_image
    playground.sliders["w1"].value = 4.5
    line = playground.ax.lines[-1]
    np.testing.assert_allclose(line.get_ydata(), 4.5)


def test_vertical_boundary_when_w2_is_zero(students):
    """When boundary_x2 refuses w2 == 0, is the vertical line drawn instead, with a note?"""
    X, y = students
    playground = widgets.boundary_playground(X, y, classify_by_lectures, horizontal_boundary, w0=-6.0, w=(1.0, 0.0))
    np.testing.assert_allclose(playground.ax.lines[-1].get_xdata(), [6.0, 6.0])
    assert "boundary is vertical" in playground.status.value


def test_unfinished_student_code_does_not_stop_the_notebook(students):
    """If classify is still the TODO stub, is the error shown in the widget instead of raised?"""
    X, y = students

    def stub(x, w0, w):
        raise NotImplementedError()

    playground = widgets.boundary_playground(X, y, stub, stub)
    assert playground.misclassified is None
    assert "classify raised NotImplementedError" in playground.status.value
    assert bytes(playground.image.value).startswith(PNG)


def test_custom_ranges(students):
    """Do the ranges given replace the defaults for those sliders only?"""
    X, y = students
    playground = widgets.boundary_playground(
        X, y, classify_by_lectures, horizontal_boundary, ranges={"w0": (-20.0, 20.0, 0.5)}
    )
    w0, w1 = playground.sliders["w0"], playground.sliders["w1"]
    assert (w0.min, w0.max, w0.step) == (-20.0, 20.0, 0.5)
    assert (w1.min, w1.max) == (-5.0, 5.0)


def test_slider_plot_generic():
    """Does slider_plot pass the slider values to fn, show its text, and pick int sliders for ints?"""
    seen = []

    def draw(ax, lr, steps):
        seen.append((lr, steps))
        ax.plot(np.arange(steps), lr * np.arange(steps))
        return f"lr = {lr}"

    plot = widgets.slider_plot(draw, lr=(0.0, 1.0, 0.01, 0.1), steps=(1, 50, 1, 10))
    assert isinstance(plot.sliders["steps"], ipywidgets.IntSlider)
    assert isinstance(plot.sliders["lr"], ipywidgets.FloatSlider)
    assert seen == [(0.1, 10)] and plot.status.value == "lr = 0.1"
    plot.sliders["steps"].value = 20
    assert seen[-1] == (0.1, 20) and len(plot.ax.lines[0].get_xdata()) == 20
    with pytest.raises(TypeError, match=r"\(min, max, step\)"):
        widgets.slider_plot(draw, lr=0.1)


def test_playground_in_a_real_kernel(kernel):
    """Run unattended in a Jupyter kernel (as nbclient/nbval do), does the playground display, count and stay off stderr?"""
    outputs = kernel(
        "import numpy as np\n"
        "from course_utils.data import load_will_i_pass\n"
        "from course_utils.widgets import boundary_playground\n"
        "X, y = load_will_i_pass()\n"
        "classify = lambda x, w0, w: (x[:, 0] > w0).astype(int)\n"
        "boundary_x2 = lambda x1, w0, w: np.full_like(x1, w[0])\n"
        "playground = boundary_playground(X, y, classify, boundary_x2)\n"
        "playground"
    )
    # ipywidgets 8 returns the widget as the cell's result; 7.7 (Colab's) displays it through display()
    assert [o["output_type"] for o in outputs] in (["execute_result"], ["display_data"])
    assert "application/vnd.jupyter.widget-view+json" in outputs[0]["data"]
    outputs = kernel("print(playground.misclassified == int(np.sum((X[:, 0] > 1.0) != y)))")
    assert [(o["output_type"], o.get("name"), o.get("text")) for o in outputs] == [("stream", "stdout", "True\n")]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, read from its IHDR chunk."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_widget_images_are_sharp_and_shown_at_figure_size(students):
    """Is the PNG rendered at twice the figure's pixels, and the Image widget as wide as the figure (not stretched)?"""
    X, y = students
    playground = widgets.boundary_playground(X, y, classify_by_lectures, horizontal_boundary)
    width_px = int(round(playground.fig.get_figwidth() * playground.fig.get_dpi()))
    assert playground.image.layout.width == f"{width_px}px" and playground.image.layout.max_width == "100%"
    assert png_size(bytes(playground.image.value))[0] == widgets.RESOLUTION * width_px
    assert playground.fig.get_layout_engine() is not None  # tight layout: axis labels stay inside the image
    assert all(s.layout.width == widgets.SLIDER_WIDTH for s in playground.sliders.values())
    assert playground.ax.get_xlabel().startswith("$x_1$") and "x_1" in playground.ax.get_title()


def test_playground_scale_and_shading(students):
    """Does the scale slider multiply all three weights (same line, same count) and the shading show forward's y_hat?"""
    X, y = students
    seen = []

    def forward(x, w0, w):
        seen.append((w0, tuple(w)))
        return np.clip(0.5 + 0.01 * (w0 + x @ np.asarray(w)), 0.0, 1.0)

    playground = widgets.boundary_playground(X, y, classify_by_lectures, horizontal_boundary, w0=2.0, w=(1.0, -0.5), forward=forward)
    assert seen[-1] == (2.0, (1.0, -0.5))
    count = playground.misclassified
    playground.sliders["scale"].value = 10.0
    assert seen[-1] == (20.0, (10.0, -5.0))
    assert playground.misclassified == expected_wrong(X, y, 20.0) and "weights times 10" in playground.status.value
    image = playground.ax.images[0].get_array()
    assert image.shape == (160, 160) and float(image.max()) <= 1.0
    assert count == expected_wrong(X, y, 2.0)
    legend = playground.ax.get_legend()
    assert legend.get_frame_on() and legend._loc == 2  # "upper left", fixed: it does not jump while dragging


def test_activation_explorer_shifts_and_switches():
    """Does the explorer draw g(w x + w0) for the chosen g, mark x = -w0 / w, and redraw on the dropdown?"""
    calls = []

    def square(z):
        calls.append("square")
        return np.asarray(z) ** 2

    def cube(z):
        calls.append("cube")
        return np.asarray(z) ** 3

    explorer = widgets.activation_explorer({"square": square, "cube": cube}, w0=1.0, w=2.0)
    assert isinstance(explorer.sliders["g"], ipywidgets.Dropdown)
    x = explorer.x
    np.testing.assert_allclose(explorer.ax.lines[1].get_ydata(), (2.0 * x + 1.0) ** 2)
    np.testing.assert_allclose(explorer.ax.lines[2].get_xdata(), [-0.5, -0.5])
    assert "x = -w0 / w = -0.50" in explorer.status.value
    explorer.sliders["g"].value = "cube"
    explorer.sliders["w0"].value = -2.0
    np.testing.assert_allclose(explorer.ax.lines[1].get_ydata(), (2.0 * x - 2.0) ** 3)
    assert calls[-1] == "cube"
    with pytest.raises(ValueError):
        widgets.activation_explorer({})


def test_softmax_explorer_uses_the_students_functions():
    """Do the bars and losses come from the student's softmax and softmax_cross_entropy, per true class?"""
    def fake_softmax(z):
        z = np.asarray(z, dtype=float)
        return np.abs(z) / np.abs(z).sum(axis=-1, keepdims=True)

    def fake_loss(y_onehot, z):
        return float(np.sum(y_onehot * np.asarray(z)))  # the true class's logit: easy to predict

    explorer = widgets.softmax_explorer(fake_softmax, fake_loss, logits=(1.0, 2.0, -1.0))
    np.testing.assert_allclose(explorer.probabilities, [0.25, 0.5, 0.25])
    assert explorer.losses == [1.0, 2.0, -1.0]
    assert [round(b.get_height(), 6) for b in explorer.ax.patches] == [0.25, 0.5, 0.25]
    explorer.sliders["z2"].value = 5.0
    assert explorer.losses == [1.0, 2.0, 5.0]

    def stub(*args):
        raise NotImplementedError()

    unfinished = widgets.softmax_explorer(stub, stub)
    assert unfinished.probabilities is None and "NotImplementedError" in unfinished.status.value


# --- Lab 06: overfitting explorer and dropout visualiser ---


def _noisy_sine(n, seed):
    r = np.random.default_rng(seed)
    x = r.uniform(-1.0, 1.0, size=n)
    return x, np.sin(np.pi * x) + r.normal(0.0, 0.2, size=n)


def polyfit_shrunk(x, y, capacity, lam, p):
    """Stand-in fit: numpy's polynomial least squares of the given degree, shrunk towards 0 by 1 / (1 + lam + p)."""
    coef = np.polynomial.polynomial.polyfit(x, y, capacity) / (1.0 + lam + p)
    return lambda x_new: np.polynomial.polynomial.polyval(x_new, coef)


def test_overfitting_explorer_draws_once_and_reports_both_losses():
    """Unattended, does the explorer fit every capacity once and show the current training and validation loss?"""
    x, y = _noisy_sine(30, 0)
    xv, yv = _noisy_sine(100, 1)
    calls = []

    def fit(x_, y_, capacity, lam, p):
        calls.append((x_.size, capacity, lam, p))
        return polyfit_shrunk(x_, y_, capacity, lam, p)

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

    def fit(x_, y_, capacity, lam, p):
        calls.append((x_.size, capacity, lam, p))
        return polyfit_shrunk(x_, y_, capacity, lam, p)

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


# --- Lab 05: batch-size explorer. The stand-in training run is not SGD (no answers in the tests):
# a loss curve whose length and values each test can predict.


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


def test_batch_size_explorer_in_a_real_kernel(kernel):
    """Run unattended in a Jupyter kernel, does the explorer display once and stay off stderr?"""
    outputs = kernel(
        "import numpy as np\n"
        "from course_utils.widgets import batch_size_explorer\n"
        "explorer = batch_size_explorer(lambda b, lr: np.exp(-lr * np.arange(2 * (64 // b))), lambda b: 1.0 / b)\n"
        "explorer"
    )
    assert [o["output_type"] for o in outputs] in (["execute_result"], ["display_data"])
    assert "application/vnd.jupyter.widget-view+json" in outputs[0]["data"]
    outputs = kernel("print(explorer.train_calls, explorer.losses.size)")
    assert [(o["output_type"], o.get("text")) for o in outputs] == [("stream", "1 4\n")]


# --- Lab 04: learning-rate explorer and optimizer race ------------------------------------------
# Stand-ins, not the lab's answers: gradient descent on a separable quadratic in closed form,
# w_k = (1 - lr * curvature)^k * w_0, and "optimizers" that are path generators.

RAVINE_CURVATURE = np.array([1.0, 20.0])


def ravine_loss(w1, w2):
    return 0.5 * (w1 ** 2 + 20.0 * w2 ** 2)


def closed_form_descent(lr, start, num_steps):
    factors = (1.0 - lr * RAVINE_CURVATURE)[None, :] ** np.arange(num_steps + 1)[:, None]
    return factors * np.asarray(start, dtype=float)[None, :]


def test_classify_regime_from_the_numbers():
    """Does classify_regime name each regime from losses and path alone?"""
    steps = np.arange(11)
    shrinking = 0.5 ** steps
    assert widgets.classify_regime(shrinking ** 2, np.c_[shrinking, shrinking]) == "converges"
    assert widgets.classify_regime(0.99 ** steps, np.c_[0.99 ** steps, 0 * steps]) == "too slow"
    flipping = (-0.5) ** steps
    assert widgets.classify_regime(flipping ** 2, np.c_[flipping, 0 * steps]) == "oscillates, but converges"
    assert widgets.classify_regime(0.99 ** steps, np.c_[(-0.995) ** steps, 0 * steps]) == "oscillates"
    assert widgets.classify_regime(2.0 ** steps, np.c_[2.0 ** steps, 0 * steps]) == "diverges"
    assert widgets.classify_regime([1.0, np.inf], [[1.0], [np.nan]]) == "diverges"
    with pytest.raises(ValueError, match="shape"):
        widgets.classify_regime([1.0, 0.5], [[0.0, 0.0]] * 3)


def test_lr_explorer_names_the_regime_and_redraws():
    """Does moving the learning-rate slider rerun the optimizer, redraw, and change the named regime?"""
    calls = []

    def path_fn(lr, start, n):
        calls.append((lr, tuple(start), n))
        return closed_form_descent(lr, start, n)

    explorer = widgets.lr_explorer(ravine_loss, path_fn, ((-5, 5), (-2, 2)), lr_range=(1e-3, 0.2), lr=0.05,
                                   start=(-4.0, 1.5), num_steps=60, loss_min=0.0)
    assert isinstance(explorer, ipywidgets.VBox)
    assert calls == [(0.05, (-4.0, 1.5), 60)]
    assert explorer.regime == "converges" and "<b>converges</b>" in explorer.status.value
    first_image = explorer.image.value
    assert bytes(first_image).startswith(PNG)
    for lr, regime in ((0.005, "too slow"), (0.095, "oscillates, but converges"), (0.105, "diverges")):
        explorer.lr_slider.value = lr
        assert calls[-1][0] == pytest.approx(lr, rel=0.03)
        assert explorer.regime == regime and f"<b>{regime}</b>" in explorer.status.value
    assert explorer.image.value != first_image
    explorer.start_sliders[1].value = 0.0  # on the floor of the ravine: no zig-zag left
    assert calls[-1][1][1] == 0.0 and explorer.path[0, 1] == 0.0


def test_lr_explorer_shows_later_errors_and_raises_the_first():
    """Does an optimizer that fails at creation raise (so a demo guard can catch it), and later failures show in the status?"""
    def unfinished(lr, start, n):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        widgets.lr_explorer(ravine_loss, unfinished, (-3, 3))
    state = {"fail": False}

    def flaky(lr, start, n):
        if state["fail"]:
            raise ValueError("boom")
        return closed_form_descent(lr, start, n)

    explorer = widgets.lr_explorer(ravine_loss, flaky, (-3, 3), start=(1.0, 1.0))
    state["fail"] = True
    explorer.lr_slider.value = 0.01
    assert explorer.regime is None and "ValueError: boom" in explorer.status.value


def scaled_path(speed):
    """A stand-in optimizer: walks from the start towards (0, 0) at `speed` times the learning rate per step."""
    def rule(start, lr, num_steps):
        return closed_form_descent(min(speed * lr, 0.09), start, num_steps)
    return rule


def race_run(calls):
    def run(rule, config, start, num_steps):
        calls.append(config["learning_rate"])
        return rule(start, config["learning_rate"], num_steps)
    return run


def test_optimizer_race_checkboxes_learning_rates_and_reset():
    """Does each checkbox hide its path, each slider recompute only its own path, and reset restore the start?"""
    import time

    calls = []
    rules = {"slow": (scaled_path(0.5), 0.01), "fast": (scaled_path(2.0), 0.02), "steady": (scaled_path(1.0), 0.03)}
    race = widgets.optimizer_race(ravine_loss, race_run(calls), rules, ((-5, 5), (-2, 2)), start=(-4.0, 1.5), num_steps=50,
                                  loss_min=0.0)
    assert isinstance(race, ipywidgets.VBox) and sorted(calls) == [0.01, 0.02, 0.03]
    assert race.chosen == ["slow", "fast", "steady"]
    drawn = [line.get_label() for line in race.ax_path.lines if line.get_label().split()[0] in rules]
    assert len(drawn) == 3 and "slow (η = 0.01)" in drawn
    image = race.image.value
    # CPU time of this thread (the redraw runs in it), not wall time: on a busy machine the wait for a core
    # would count too. About 0.16 s on an idle machine.
    started = time.thread_time()
    race.checkboxes["fast"].value = False
    assert time.thread_time() - started < 1.0, "a redraw must take well under a second"
    assert race.chosen == ["slow", "steady"] and race.image.value != image
    assert not any(line.get_label().startswith("fast") for line in race.ax_path.lines)
    assert len(calls) == 3, "toggling a checkbox must not rerun any optimizer"
    steady_before = race.paths["steady"]
    race.lr_sliders["slow"].value = 0.1
    assert len(calls) == 4 and calls[-1] == pytest.approx(0.1)
    assert race.paths["steady"] is steady_before
    np.testing.assert_allclose(race.paths["slow"], closed_form_descent(0.05, (-4.0, 1.5), 50), rtol=1e-2)
    race.reset()
    assert race.chosen == ["slow", "fast", "steady"] and race.lr_sliders["slow"].value == pytest.approx(0.01)
    np.testing.assert_allclose(race.paths["slow"], closed_form_descent(0.005, (-4.0, 1.5), 50))
    assert "loss after 50 steps" in race.status.value


def test_optimizer_race_unfinished_rule():
    """Does an unfinished rule raise when the race is created, and a later failure only mark that optimizer?"""
    def unfinished(start, lr, num_steps):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        widgets.optimizer_race(ravine_loss, race_run([]), {"a": (unfinished, 0.1)}, (-3, 3), start=(1.0, 1.0))
    state = {"fail": False}

    def flaky(start, lr, num_steps):
        if state["fail"]:
            raise ValueError("broken")
        return closed_form_descent(lr, start, num_steps)

    race = widgets.optimizer_race(ravine_loss, race_run([]), {"a": (flaky, 0.01), "b": (scaled_path(1.0), 0.01)}, (-3, 3),
                                  start=(1.0, 1.0), num_steps=20)
    state["fail"] = True
    race.lr_sliders["a"].value = 0.05
    assert race.chosen == ["b"] and "a raised ValueError: broken" in race.status.value
