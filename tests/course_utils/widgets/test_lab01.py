"""Lab 01's widgets (course_utils.widgets.lab01): the boundary playground and the activation explorer.

The widgets are driven programmatically: setting a slider's .value is what a frontend does.
The stand-ins for the student's `classify` and `boundary_x2` are deliberately
not the perceptron (no answers in the repository's tests): they let each
test predict the misclassified count independently.
"""
import ipywidgets
import numpy as np
import pytest

from course_utils import widgets
from course_utils.data import load_will_i_pass
from tests.course_utils.widgets.conftest import PNG


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


def test_playground_in_a_real_kernel(kernel, show_in_kernel):
    """Run unattended in a Jupyter kernel (as nbclient/nbval do), does the playground display, count and stay off stderr?"""
    show_in_kernel(
        "import numpy as np\n"
        "from course_utils.data import load_will_i_pass\n"
        "from course_utils.widgets import boundary_playground\n"
        "X, y = load_will_i_pass()\n"
        "classify = lambda x, w0, w: (x[:, 0] > w0).astype(int)\n"
        "boundary_x2 = lambda x1, w0, w: np.full_like(x1, w[0])\n"
        "playground = boundary_playground(X, y, classify, boundary_x2)\n"
        "playground"
    )
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
