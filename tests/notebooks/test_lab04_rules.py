"""Lab 04's update rules, taken from the solution notebook, take torch.optim's steps: 100 float64 steps, relative error < 1e-10."""
from __future__ import annotations

import nbformat
import numpy as np
import pytest

from tests.conftest import ROOT

NOTEBOOK = ROOT / "solutions" / "04_optimizers" / "04_optimizers.ipynb"
RULES = ("sgd", "sgd_momentum", "adagrad", "adadelta", "rmsprop", "adam")


@pytest.fixture(scope="module")
def rules():
    """The six solution cells, run in a namespace of their own (numpy only)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    namespace = {"np": np}
    for name in RULES:
        assert name in cells, f"{NOTEBOOK}: no solution cell {name!r}"
        exec(compile(cells[name], f"<{name} solution cell>", "exec"), namespace)
    return {name: namespace[name] for name in RULES}


def quadratic(seed: int, D: int = 5):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(D, D))
    A, b = M @ M.T / D + 0.5 * np.eye(D), rng.normal(size=D)
    return (lambda w: A @ w - b), rng.normal(0.0, 2.0, size=D)


def torch_path(torch_class, grad_fn, w0, num_steps, **kwargs):
    import torch

    w = torch.tensor(w0, requires_grad=True)
    optimizer = torch_class([w], foreach=False, **kwargs)
    path = [w0.copy()]
    for _ in range(num_steps):
        optimizer.zero_grad()
        w.grad = torch.tensor(grad_fn(path[-1]))
        optimizer.step()
        path.append(w.detach().numpy().copy())
    return np.array(path)


def rule_path(rule, grad_fn, w0, config, num_steps):
    w, path = w0.copy(), [w0.copy()]
    for _ in range(num_steps):
        w, config = rule(w, grad_fn(w), config)
        path.append(np.array(w))
    return np.array(path)


# rule, our config, torch class name, torch kwargs (None config: the rule's defaults, i.e. torch's, momentum 0.9)
CASES = [
    ("sgd", None, "SGD", {}),
    ("sgd", {"learning_rate": 0.1}, "SGD", {"lr": 0.1}),
    ("sgd_momentum", None, "SGD", {"momentum": 0.9}),
    ("sgd_momentum", {"learning_rate": 0.02, "momentum": 0.5, "nesterov": True}, "SGD", {"lr": 0.02, "momentum": 0.5, "nesterov": True}),
    ("adagrad", None, "Adagrad", {}),
    ("adagrad", {"learning_rate": 0.3, "eps": 1e-6, "initial_accumulator_value": 0.1}, "Adagrad",
     {"lr": 0.3, "eps": 1e-6, "initial_accumulator_value": 0.1}),
    ("adadelta", None, "Adadelta", {}),
    ("adadelta", {"learning_rate": 0.5, "rho": 0.95, "eps": 1e-5}, "Adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-5}),
    ("rmsprop", None, "RMSprop", {}),
    ("rmsprop", {"learning_rate": 0.05, "alpha": 0.9, "eps": 1e-6}, "RMSprop", {"lr": 0.05, "alpha": 0.9, "eps": 1e-6}),
    ("adam", None, "Adam", {}),
    ("adam", {"learning_rate": 0.05, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}, "Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}),
]


@pytest.mark.parametrize("name, config, torch_name, kwargs", CASES, ids=[f"{c[0]}-{'defaults' if c[1] is None else 'custom'}" for c in CASES])
@pytest.mark.parametrize("scale", [1.0, 1e-5], ids=["gradients~1", "gradients~1e-5"])
def test_rule_matches_torch_optim(rules, name, config, torch_name, kwargs, scale):
    """Does the solution's rule take torch.optim.<Class>(foreach=False)'s 100 float64 steps, to a relative error below 1e-10?"""
    import torch

    grad_fn, w0 = quadratic(seed=len(name) + int(config is None))
    scaled = lambda w: scale * grad_fn(w)  # noqa: E731 - small gradients make eps placement visible
    mine = rule_path(rules[name], scaled, w0, None if config is None else dict(config), 100)
    theirs = torch_path(getattr(torch.optim, torch_name), scaled, w0, 100, **kwargs)
    assert np.max(np.abs(theirs[-1] - w0)) > 1e-3 * scale or name == "sgd", "the comparison must move the weights"
    error = np.max(np.abs(mine - theirs)) / np.max(np.abs(theirs))
    assert error < 1e-10, f"{name} with config {config}: relative error {error:.2e} against torch.optim.{torch_name}"


def test_rules_do_not_modify_their_inputs(rules):
    """Do the rules leave w and dw as they were?"""
    for name, rule in rules.items():
        w, dw = np.array([1.0, -2.0]), np.array([0.5, 0.25])
        config = None
        for _ in range(3):
            _, config = rule(w, dw, config)
        assert np.array_equal(w, [1.0, -2.0]) and np.array_equal(dw, [0.5, 0.25]), f"{name} modified w or dw in place"
