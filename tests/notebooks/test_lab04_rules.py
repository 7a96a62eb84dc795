"""Lab 04's solution cells against PyTorch: the update rules take torch.optim's steps (100 float64 steps, relative error < 1e-10);
momentum_steady_state is the step torch.optim.SGD(momentum) settles into; the schedules give torch.optim.lr_scheduler's rates."""
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


@pytest.fixture(scope="module")
def lab_functions():
    """The solution cells of momentum_steady_state and lr_schedules, run in a namespace of their own (numpy only)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    namespace = {"np": np}
    for grade_id in ("momentum_steady_state", "lr_schedules"):
        assert grade_id in cells, f"{NOTEBOOK}: no solution cell {grade_id!r}"
        exec(compile(cells[grade_id], f"<{grade_id} solution cell>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 0.99])
def test_momentum_steady_state_is_torch_sgds_settled_step(lab_functions, momentum):
    """Is momentum_steady_state the step torch.optim.SGD(momentum) takes once mu**t has vanished, elementwise and for floats?"""
    import torch

    grad = np.array([[1.5, -0.25], [3.0, 0.0]])
    w = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.03, momentum=momentum, foreach=False)
    for _ in range(4000):
        before = w.detach().clone()
        w.grad = torch.tensor(grad)
        optimizer.step()
    settled = (w.detach() - before).numpy()
    got = lab_functions["momentum_steady_state"](0.03, momentum, grad)
    assert got.shape == grad.shape and np.allclose(got, settled, rtol=1e-9, atol=1e-15)
    scalar = lab_functions["momentum_steady_state"](0.03, momentum, 1.5)
    assert isinstance(scalar, float) and np.isclose(scalar, settled[0, 0], rtol=1e-9)


@pytest.mark.parametrize("momentum", [1.0, 1.5, -0.1])
def test_momentum_steady_state_refuses_momentum_outside_0_1(lab_functions, momentum):
    """Does momentum_steady_state raise ValueError where the geometric series has no sum (or momentum is negative)?"""
    with pytest.raises(ValueError, match="momentum"):
        lab_functions["momentum_steady_state"](0.01, momentum, 1.0)


def torch_rates(make, lr0, num_steps):
    import warnings

    import torch

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler, rates = make(optimizer), []
        for _ in range(num_steps):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return np.array(rates)


@pytest.mark.parametrize("lr0, step_size, gamma, total, warmup, lr_min", [
    (0.1, 7, 0.5, 60, 5, 0.0), (0.37, 1, 0.9, 200, 20, 0.001), (1.3, 13, 0.25, 250, 50, 0.2)])
def test_schedules_match_torch_lr_scheduler(lab_functions, lr0, step_size, gamma, total, warmup, lr_min):
    """Do step_decay, cosine_decay and warmup_cosine give torch.optim.lr_scheduler's rates at every step, to 1e-12 of lr0,
    and stay at lr_min after total_steps (where torch's CosineAnnealingLR would climb back)?"""
    from torch.optim import lr_scheduler

    f = lab_functions
    steps = np.arange(total + 1)
    step_decay = [f["step_decay"](lr0, int(k), step_size, gamma) for k in steps]
    cosine = [f["cosine_decay"](lr0, int(k), total, lr_min) for k in steps]
    warm = [f["warmup_cosine"](lr0, int(k), warmup, total, lr_min) for k in steps]
    assert all(isinstance(r, float) for r in step_decay + cosine + warm)
    want_step = torch_rates(lambda o: lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma), lr0, total + 1)
    want_cosine = torch_rates(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=lr_min), lr0, total + 1)
    want_warm = torch_rates(lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LambdaLR(o, lambda s: s / warmup),
                            lr_scheduler.CosineAnnealingLR(o, T_max=total - warmup, eta_min=lr_min)], milestones=[warmup]), lr0, total + 1)
    for name, got, want in (("step_decay", step_decay, want_step), ("cosine_decay", cosine, want_cosine), ("warmup_cosine", warm, want_warm)):
        assert np.max(np.abs(np.array(got) - want)) <= 1e-12 * lr0, name
    assert f["cosine_decay"](lr0, total + 7, total, lr_min) == pytest.approx(lr_min, abs=1e-15)
    assert f["warmup_cosine"](lr0, total + 7, warmup, total, lr_min) == pytest.approx(lr_min, abs=1e-15)
