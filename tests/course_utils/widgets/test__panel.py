"""The Panel base and the generic slider plot (course_utils.widgets._panel): setting a slider's .value is what a frontend does."""
import ipywidgets
import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils import widgets
from course_utils.widgets._panel import Panel


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


def test_panel_watches_the_controls_given_and_renders_unscaled_when_not_sharp():
    """Does a Panel lay out the controls given, redraw on the watched ones only, and render at the figure's dpi?"""

    class Counter(Panel):
        sharp = False

        def __init__(self):
            self.sliders = {"a": ipywidgets.IntSlider(value=1)}
            self.other = ipywidgets.IntSlider(value=1)
            self.fig = Figure(figsize=(2.0, 1.0), dpi=50)
            self.draws = 0
            self._assemble(controls=ipywidgets.HBox([self.other]), watched=[self.other])

        def redraw(self):
            self.draws += 1
            self._render()

    panel = Counter()
    assert panel.draws == 1 and panel.children[0].children == (panel.other,)
    panel.sliders["a"].value = 2
    assert panel.draws == 1 and panel.values == {"a": 2}
    panel.other.value = 2
    assert panel.draws == 2
    assert int.from_bytes(bytes(panel.image.value)[16:20], "big") == 100 and panel.image.layout.width is None
