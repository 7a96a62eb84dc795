"""Interactive explorations built on ipywidgets, one module per lab.

Each widget draws once when it is created, so a notebook run top to bottom
without a human (nbclient, nbval, the autograder) executes it without
blocking or failing; with a frontend, moving a slider redraws. Plots are
rendered to PNG into an ``ipywidgets.Image``, which works in JupyterLab,
classic Notebook and Colab alike: at twice the figure's resolution and
shown at the figure's own size (never stretched), with a tight layout and
the course's plotting style. Only APIs that ipywidgets 7.7 and 8 share are
used.

Every widget is a `_panel.Panel`: controls above a status line and the
figure's image. `slider_plot` turns any plotting function into one; the
labs' own widgets are in `lab01` (perceptron), `lab02` (softmax), `lab04`
(learning rates and optimizers), `lab05` (batch size) and `lab06`
(overfitting and dropout).
"""
from __future__ import annotations

from course_utils.widgets._panel import RESOLUTION, SLIDER_WIDTH, WIDGET_FIGSIZE, SliderPlot, slider_plot  # noqa: F401
from course_utils.widgets.lab01 import ActivationExplorer, BoundaryPlayground, activation_explorer, boundary_playground
from course_utils.widgets.lab02 import SoftmaxExplorer, softmax_explorer
from course_utils.widgets.lab04 import LearningRateExplorer, OptimizerRace, classify_regime, lr_explorer, optimizer_race
from course_utils.widgets.lab05 import BatchSizeExplorer, batch_size_explorer
from course_utils.widgets.lab06 import DropoutVisualiser, OverfittingExplorer, dropout_visualiser, overfitting_explorer

__all__ = ["SliderPlot", "slider_plot", "BoundaryPlayground", "boundary_playground",
           "BatchSizeExplorer", "batch_size_explorer",
           "ActivationExplorer", "activation_explorer", "SoftmaxExplorer", "softmax_explorer",
           "OverfittingExplorer", "overfitting_explorer", "DropoutVisualiser", "dropout_visualiser",
           "classify_regime", "LearningRateExplorer", "lr_explorer", "OptimizerRace", "optimizer_race"]
