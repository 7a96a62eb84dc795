"""Lab 02 (dense networks): the softmax explorer."""
from __future__ import annotations

import numpy as np

from course_utils.frameworks import as_array
from course_utils.style import COLORS
from course_utils.widgets._panel import SliderPlot, student_error

__all__ = ["SoftmaxExplorer", "softmax_explorer"]


class SoftmaxExplorer(SliderPlot):
    """Three logit sliders, the softmax probabilities and the loss for each true class (see `softmax_explorer`)."""

    def __init__(self, softmax, softmax_cross_entropy, logits=(2.0, 1.0, 0.1), class_names=("class 0", "class 1", "class 2")):
        if len(logits) != 3 or len(class_names) != 3:
            raise ValueError("softmax_explorer shows exactly three classes: give three logits and three class names")
        self.softmax, self.softmax_cross_entropy = softmax, softmax_cross_entropy
        self.class_names = list(class_names)
        self.probabilities = None
        self.losses = None
        sliders = {f"z{c}": (-6.0, 6.0, 0.1, float(v)) for c, v in enumerate(logits)}
        super().__init__(self._draw, sliders, figsize=(6.0, 3.4))

    def _draw(self, ax, z0, z1, z2) -> str:
        logits = np.array([[z0, z1, z2]])
        try:
            p = as_array(self.softmax(logits)).astype(np.float64).reshape(3)
            losses = [float(as_array(self.softmax_cross_entropy(np.eye(3)[[c]], logits))) for c in range(3)]
        except Exception as exc:
            self.probabilities = self.losses = None
            return student_error(exc, "softmax or softmax_cross_entropy")
        self.probabilities, self.losses = p, losses
        bars = ax.bar(self.class_names, p, color=[COLORS[c] for c in range(3)])
        for bar, value, loss in zip(bars, p, losses):
            ax.annotate(f"p = {value:.3f}\nloss if true: {loss:.3f}", (bar.get_x() + bar.get_width() / 2, value),
                        xytext=(0, 4), textcoords="offset points", ha="center", va="bottom", fontsize=9)
        ax.set_ylim(0.0, 1.35)
        ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
        ax.set_ylabel("softmax probability")
        return (f"probabilities sum to {p.sum():.6f}; the loss is -log p of the true class: "
                + ", ".join(f"{name}: {loss:.3f}" for name, loss in zip(self.class_names, losses)))


def softmax_explorer(softmax, softmax_cross_entropy, logits=(2.0, 1.0, 0.1),
                     class_names=("class 0", "class 1", "class 2")) -> SoftmaxExplorer:
    """Sliders for three logits; bars of the student's softmax and, per class, the loss if it were the true one.

    Parameters
    ----------
    softmax : callable
        The student's ``softmax(logits)`` for logits of shape (1, 3).
    softmax_cross_entropy : callable
        The student's ``softmax_cross_entropy(y_onehot, logits)``, called with
        each one-hot row of shape (1, 3).
    logits : (float, float, float)
        Initial slider values.
    class_names : (str, str, str)

    Returns
    -------
    SoftmaxExplorer
        ``.probabilities`` and ``.losses`` hold the values drawn.
    """
    return SoftmaxExplorer(softmax, softmax_cross_entropy, logits=logits, class_names=class_names)
