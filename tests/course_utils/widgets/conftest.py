"""Shared by the widget tests: the PNG signature every drawn widget's image starts with, and a kernel run."""
import pytest

PNG = b"\x89PNG"


@pytest.fixture
def show_in_kernel(kernel):
    """Run `source`, which ends with a widget, in the real kernel: it must display as a widget; returns the outputs."""

    def run(source: str):
        outputs = kernel(source)
        # ipywidgets 8 returns the widget as the cell's result; 7.7 (Colab's) displays it through display()
        assert [o["output_type"] for o in outputs] in (["execute_result"], ["display_data"])
        assert "application/vnd.jupyter.widget-view+json" in outputs[0]["data"]
        return outputs

    return run
