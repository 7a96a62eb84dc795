"""The course's plotting style (course_utils.style)."""
import matplotlib as mpl
from matplotlib import pyplot as plt
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from course_utils import plotting, style
from course_utils.style import OKABE_ITO


def test_style_uses_okabe_ito():
    """Does the default colour cycle use only Okabe-Ito colours, and set_figsize set the size?"""
    style.use_style()
    cycle = [to_hex(c["color"]).upper() for c in mpl.rcParams["axes.prop_cycle"]]
    assert cycle[:3] == [OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["bluish_green"]]
    assert set(cycle) == {c.upper() for c in OKABE_ITO.values()}
    style.set_figsize((2.0, 1.5))
    assert tuple(plt.figure().get_size_inches()) == (2.0, 1.5)
    style.use_style()


def test_set_axes():
    """Does set_axes set labels, limits, scales and the legend, and return the Axes?"""
    _, ax = plt.subplots()
    ax.plot([1, 10], [1, 2], label="a")
    assert style.set_axes(ax, "x", "y", xlim=(1, 10), ylim=(0, 3), legend=True, xscale="log") is ax
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert ax.get_xlim() == (1, 10) and ax.get_ylim() == (0, 3)
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a"]


def test_to_png_renders_at_the_dpi_given():
    """Is the figure PNG bytes, twice as many pixels wide at twice its dpi?"""
    fig = Figure(figsize=(2.0, 1.0), dpi=50)
    data = style.to_png(fig, dpi=100)
    assert data.startswith(b"\x89PNG") and int.from_bytes(data[16:20], "big") == 200
    assert int.from_bytes(style.to_png(fig)[16:20], "big") == 100


def test_plotting_re_exports_the_style():
    """Do notebooks still find the style's names in plotting (plotting.COLORS, plotting.set_axes, ...)?"""
    for name in ("OKABE_ITO", "COLORS", "CLASS_STYLES", "BOUNDARY_COLOR", "CLASS_CMAP", "use_style", "set_figsize",
                 "set_axes", "to_png"):
        assert getattr(plotting, name) is getattr(style, name)
