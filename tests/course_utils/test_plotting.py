import warnings

import numpy as np
import pytest
from matplotlib import pyplot as plt
from matplotlib.colors import to_hex

from course_utils import plotting
from course_utils.plotting import OKABE_ITO


@pytest.fixture
def points():
    """Six points, three per class, split by the line x1 + x2 = 3."""
    X = np.array([[0.0, 0.0], [1.0, 0.5], [0.5, 1.0], [3.0, 3.0], [2.5, 2.0], [4.0, 1.5]])
    y = np.array([0, 0, 0, 1, 1, 1])
    return X, y


def test_plot_activations():
    """Is each function drawn solid and its derivative dashed, in the same colour, from the functions given?"""
    funcs = {"square": (np.square, lambda z: 2 * z), "abs": (np.abs, None)}
    z = np.linspace(-2, 2, 9)
    ax = plotting.plot_activations(funcs, z=z)
    square, d_square, absolute = ax.lines
    np.testing.assert_allclose(square.get_ydata(), z**2)
    np.testing.assert_allclose(d_square.get_ydata(), 2 * z)
    np.testing.assert_allclose(absolute.get_ydata(), np.abs(z))
    assert square.get_linestyle() == "-" and d_square.get_linestyle() == "--"
    assert square.get_color() == d_square.get_color() != absolute.get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["square", "square'", "abs"]


def test_plot_activations_default_range_and_tensors(torch):
    """Without z, is -5..5 used, and do functions that return torch tensors work?"""
    ax = plotting.plot_activations({"sigmoid": (lambda z: torch.sigmoid(torch.as_tensor(z)), None)})
    x = ax.lines[0].get_xdata()
    assert x[0] == -5 and x[-1] == 5
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 1 / (1 + np.exp(-x)), rtol=1e-6)


def test_plot_activations_rejects_non_elementwise():
    """Is a function that does not keep the shape (e.g. sums) reported clearly?"""
    with pytest.raises(ValueError, match="elementwise"):
        plotting.plot_activations({"total": (np.sum, None)})


def test_plot_data_2d(points):
    """Are the two classes drawn as separate groups, with different colours and markers?"""
    X, y = points
    ax = plotting.plot_data_2d(X, y, labels=("fail", "pass"), xlabel="lectures")
    fail, passed = ax.collections
    np.testing.assert_array_equal(fail.get_offsets(), X[y == 0])
    np.testing.assert_array_equal(passed.get_offsets(), X[y == 1])
    assert to_hex(fail.get_facecolor()[0]).upper() == OKABE_ITO["vermillion"]
    assert to_hex(passed.get_facecolor()[0]).upper() == OKABE_ITO["blue"]
    assert fail.get_paths()[0] != passed.get_paths()[0]  # different markers
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fail", "pass"]
    assert ax.get_xlabel() == "lectures"


def test_plot_data_2d_checks_shapes(points):
    """Are mismatched X and y rejected with their shapes?"""
    X, y = points
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plotting.plot_data_2d(X[:, :1], y)
    with pytest.raises(ValueError, match="match X"):
        plotting.plot_data_2d(X, y[:-1])


def on_line(w0, w, xs, ys):
    return np.allclose(w0 + w[0] * np.asarray(xs) + w[1] * np.asarray(ys), 0.0)


def test_plot_line_boundary(points):
    """Is the drawn segment on w0 + w.x = 0, inside the view, and does the view stay put?"""
    X, y = points
    ax = plotting.plot_data_2d(X, y)
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    plotting.plot_line_boundary(-3.0, [1.0, 1.0], ax)
    line = ax.lines[-1]
    xs, ys = line.get_xdata(), line.get_ydata()
    assert len(xs) == 2 and on_line(-3.0, [1.0, 1.0], xs, ys)
    assert all(xlim[0] - 1e-9 <= x <= xlim[1] + 1e-9 for x in xs)
    assert all(ylim[0] - 1e-9 <= v <= ylim[1] + 1e-9 for v in ys)
    assert ax.get_xlim() == xlim and ax.get_ylim() == ylim


def test_plot_line_boundary_vertical_and_xlim():
    """When w[1] == 0 is the line vertical at x1 = -w0 / w[0]; and does xlim set the range drawn?"""
    _, ax = plt.subplots()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5)
    plotting.plot_line_boundary(-6.0, [2.0, 0.0], ax)
    np.testing.assert_allclose(ax.lines[-1].get_xdata(), [3.0, 3.0])
    np.testing.assert_allclose(sorted(ax.lines[-1].get_ydata()), [0.0, 5.0])
    plotting.plot_line_boundary(0.0, [1.0, -1.0], ax, xlim=(1, 2))
    np.testing.assert_allclose(sorted(ax.lines[-1].get_xdata()), [1.0, 2.0])


def test_plot_line_boundary_outside_view_and_zero_weights():
    """Is a line outside the view drawn empty, and w = (0, 0) refused?"""
    _, ax = plt.subplots()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    plotting.plot_line_boundary(-5.0, [1.0, 0.0], ax)
    assert len(ax.lines[-1].get_xdata()) == 0
    with pytest.raises(ValueError, match="not a line"):
        plotting.plot_line_boundary(1.0, [0.0, 0.0], ax)


def test_plot_decision_regions(points):
    """Is predict called on an (M, 2) grid, its regions filled, the 0.5 line drawn and the data on top?"""
    X, y = points
    calls = []

    def predict(G):
        calls.append(G.shape)
        return 1 / (1 + np.exp(-(G.sum(axis=1) - 3.0)))

    ax = plotting.plot_decision_regions(predict, X, y, resolution=50)
    assert calls == [(2500, 2)]
    filled, boundary, fail, passed = ax.collections
    assert filled.get_array() is not None
    assert list(boundary.levels) == [0.5]
    np.testing.assert_array_equal(passed.get_offsets(), X[y == 1])


def test_plot_decision_regions_labels_and_constant(points):
    """Do 0/1 labels of shape (M, 1) work, and a constant prediction draw without any warning?"""
    X, y = points
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plotting.plot_decision_regions(lambda G: (G[:, :1] > 2).astype(int), X, y, resolution=20)
        ax = plotting.plot_decision_regions(lambda G: np.ones(len(G)), X, y, resolution=20)
    assert len(ax.collections) == 3  # filled regions, no 0.5 line, two classes


def test_plot_decision_regions_rejects_bad_predictions(points):
    """Are predictions of the wrong shape or outside [0, 1] reported clearly?"""
    X, y = points
    with pytest.raises(ValueError, match="shape"):
        plotting.plot_decision_regions(lambda G: np.ones((len(G), 2)), X, y, resolution=10)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plotting.plot_decision_regions(lambda G: G[:, 0] * 10, X, y, resolution=10)


def test_plot_loss_curves():
    """Are train (solid) and validation (dashed) losses drawn against epochs 1..T?"""
    ax = plotting.plot_loss_curves([3.0, 2.0, 1.5], [3.5, 2.5, 2.4], ylabel="BCE")
    train, val = ax.lines
    assert train.get_xdata().tolist() == [1, 2, 3] and train.get_ydata().tolist() == [3.0, 2.0, 1.5]
    assert val.get_ydata().tolist() == [3.5, 2.5, 2.4] and val.get_linestyle() == "--"
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "BCE"
    ax = plotting.plot_loss_curves([3, 2, 1, 0.5], [3, 2.2], val_epochs=[2, 4])
    assert ax.lines[1].get_xdata().tolist() == [2, 4]


def test_live_loss_plot_quiet_outside_notebook():
    """Outside a notebook, does LiveLossPlot only record, then draw everything once at close?"""
    live = plotting.LiveLossPlot()
    assert live.interactive is False
    for epoch in range(5):
        live.update(1.0 / (epoch + 1), np.float32(1.2 / (epoch + 1)))
    assert len(live.ax.lines) == 0
    fig = live.close()
    train, val = fig.axes[0].lines
    np.testing.assert_allclose(train.get_ydata(), [1.0, 0.5, 1 / 3, 0.25, 0.2])
    np.testing.assert_allclose(val.get_ydata(), [1.2, 0.6, 0.4, 0.3, 0.24], rtol=1e-6)
    with pytest.raises(RuntimeError, match="closed"):
        live.update(0.1)


def test_live_loss_plot_updates_one_output_in_place(monkeypatch):
    """In a notebook, is one output displayed and then updated in place (throttled), ending complete?"""
    import IPython.display

    shown, updated = [], []

    class Handle:
        def update(self, obj):
            updated.append(obj)

    def fake_display(obj, display_id=False):
        shown.append(obj)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    with plotting.LiveLossPlot(interactive=True, min_interval=0.0) as live:
        live.update(2.0)
        live.update(1.0)
        live.min_interval = 3600.0  # further updates are recorded but not redrawn
        live.update(0.5)
    assert len(shown) == 1 and len(updated) == 2  # second update, then the final draw at close
    assert updated[-1].data.startswith(b"\x89PNG")
    assert live.ax.lines[0].get_ydata().tolist() == [2.0, 1.0, 0.5]


def test_live_loss_plot_accepts_tensors(torch):
    """Can a scalar torch tensor (e.g. loss) be passed without calling .item()?"""
    live = plotting.LiveLossPlot(interactive=False)
    live.update(torch.tensor(0.5, requires_grad=True) * 1)
    assert live.train == [0.5]


def test_plot_loss_landscape():
    """Are contours drawn over the weight grid and each trajectory drawn as given?"""
    path = np.array([[1.5, 1.5], [1.0, 0.5], [0.2, 0.1]])
    ax = plotting.plot_loss_landscape(
        lambda W1, W2: W1**2 + 10 * W2**2, (-2, 2), trajectories={"sgd": path, "adam": path / 2}, resolution=30
    )
    assert len(ax.collections) >= 1
    sgd, adam = ax.lines
    np.testing.assert_array_equal(sgd.get_xydata(), path)
    np.testing.assert_array_equal(adam.get_xydata(), path / 2)
    assert sgd.get_color() != adam.get_color()
    assert ax.get_xlim() == (-2, 2) and ax.get_ylim() == (-2, 2)


def test_plot_loss_landscape_pointwise_matches_vectorized():
    """Does vectorized=False (one weight vector per call) give the same contours as the vectorized form?"""
    vec = plotting.plot_loss_landscape(lambda a, b: a**2 + b**2, ((-1, 1), (-2, 2)), resolution=15)
    one = plotting.plot_loss_landscape(lambda w: w @ w, ((-1, 1), (-2, 2)), resolution=15, vectorized=False)
    np.testing.assert_allclose(vec.collections[0].levels, one.collections[0].levels)
    assert one.get_ylim() == (-2, 2)
    with pytest.raises(ValueError, match="shape"):
        plotting.plot_loss_landscape(lambda a, b: 1.0 + a[0], (-1, 1), resolution=5)


def test_plot_throughput():
    """Is throughput drawn per series on a log-2 batch-size axis labelled with the batch sizes?"""
    ax = plotting.plot_throughput([1, 8, 64], {"cpu": [100, 600, 900], "cuda:0": [50, 2000, 15000]})
    assert [line.get_label() for line in ax.lines] == ["cpu", "cuda:0"]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "8", "64"]
    ax = plotting.plot_throughput([16, 32], [1e3, 2e3])
    assert ax.lines[0].get_ydata().tolist() == [1e3, 2e3]
    with pytest.raises(ValueError, match="2 batch sizes"):
        plotting.plot_throughput([16, 32], [1e3])


def test_live_loss_plot_in_a_real_kernel(kernel):
    """In a Jupyter kernel, is the live plot one PNG output updated in place, with no stderr?"""
    outputs = kernel(
        "from course_utils.plotting import LiveLossPlot\n"
        "with LiveLossPlot(min_interval=0.0) as live:\n"
        "    for epoch in range(4):\n"
        "        live.update(1.0 / (epoch + 1), 1.5 / (epoch + 1))\n"
        "print(live.interactive)"
    )
    kinds = [o["output_type"] for o in outputs]
    assert kinds == ["display_data", "stream"]
    assert "image/png" in outputs[0]["data"]
    assert outputs[1]["name"] == "stdout" and outputs[1]["text"] == "True\n"
