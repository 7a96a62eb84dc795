"""Lab 04's widgets (course_utils.widgets.lab04): classify_regime, the learning-rate explorer and the optimizer race.

Stand-ins, not the lab's answers: gradient descent on a separable quadratic in closed form,
w_k = (1 - lr * curvature)^k * w_0, and "optimizers" that are path generators.
"""
import ipywidgets
import numpy as np
import pytest

from course_utils import widgets
from tests.course_utils.widgets.conftest import PNG


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
