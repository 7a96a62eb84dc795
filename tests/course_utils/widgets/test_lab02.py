"""Lab 02's softmax explorer (course_utils.widgets.lab02)."""
import numpy as np

from course_utils import widgets


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
