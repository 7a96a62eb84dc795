"""The project's promises about its own files: pins, CI entry point, README commands, the grading contract."""
from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

# SYLLABUS.md's grading contract: lab -> grade_id -> names the graded cell defines.
CONTRACT = {
    "01_perceptron": {
        "activations": ["sigmoid", "sigmoid_derivative", "tanh", "tanh_derivative", "relu", "relu_derivative"],
        "perceptron": ["perceptron_forward"],
        "decision_boundary": ["boundary_x2", "classify"],
        "linear_collapse": ["collapse_linear"],
        "frameworks": ["perceptron_tf", "perceptron_torch"],
    },
    "02_dense_networks": {
        "dense_forward": ["dense_forward"],
        "dense_layer_tf": ["MyDenseLayerTF"],
        "dense_layer_torch": ["MyDenseLayerTorch"],
        "mlp_forward": ["mlp_forward"],
        "sequential_models": ["build_tf_model", "build_torch_model"],
        "losses": ["binary_cross_entropy", "softmax", "softmax_cross_entropy", "mean_squared_error"],
    },
    "03_backprop": {
        "chain_rule": ["chain_rule_1d"],
        "gradient_check": ["numerical_gradient", "relative_error"],
        "layer_backward": ["dense_backward", "sigmoid_backward", "relu_backward"],
        "mlp_backprop": ["mlp_loss_and_grads"],
        "gradient_descent": ["gradient_descent"],
        "autodiff": ["grads_tf", "grads_torch"],
    },
    "04_optimizers": {
        "sgd": ["sgd"],
        "sgd_momentum": ["sgd_momentum"],
        "adagrad": ["adagrad"],
        "adadelta": ["adadelta"],
        "rmsprop": ["rmsprop"],
        "adam": ["adam"],
        "run_optimizer": ["run_optimizer"],
        "training_loop": ["train_step_tf", "train_step_torch"],
        "momentum_steady_state": ["momentum_steady_state"],
        "lr_schedules": ["step_decay", "cosine_decay", "warmup_cosine"],
    },
    "05_minibatch_sgd": {
        "minibatches": ["iterate_minibatches"],
        "minibatch_sgd": ["minibatch_sgd"],
        "gradient_noise": ["gradient_noise"],
        "data_pipelines": ["make_torch_loader", "make_tf_dataset"],
        "predicted_gradient_noise": ["predicted_gradient_noise"],
    },
    "06_regularization": {
        "dropout": ["dropout_forward", "dropout_backward"],
        "early_stopping": ["EarlyStopping"],
        "weight_decay": ["l2_penalty", "l2_gradient"],
        "framework_dropout": ["build_dropout_model_tf", "build_dropout_model_torch"],
        "adamw": ["adamw"],
    },
}


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        spec, _, marker = line.partition(";")
        name, version = spec.strip().split("==")
        pins[(name.strip().lower().replace("_", "-"), marker.strip())] = version.strip()
    return pins


def test_lock_pins_every_package_exactly():
    """Is every line of requirements.lock an exact == pin, with torch at 2.13.0 and TensorFlow split by platform?"""
    pins = _pins((ROOT / "requirements.lock").read_text().splitlines())
    assert pins[("torch", "")] == "2.13.0", "torch must be pinned to 2.13.0 (the CPU build on disk)"
    tf = {k: v for k, v in pins.items() if k[0] in ("tensorflow", "tensorflow-cpu")}
    assert len(tf) == 2 and len(set(tf.values())) == 1 and next(iter(tf.values())).startswith("2.21.")
    assert any("x86_64" in marker for (name, marker) in tf if name == "tensorflow-cpu")


def test_environment_yml_agrees_with_lock():
    """Does environment.yml pin each of its packages to the same version as requirements.lock?"""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any(d == "python=3.11" for d in env["dependencies"] if isinstance(d, str))
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    env_pins = _pins(pip_section)
    assert len(env_pins) >= 15
    for key, version in env_pins.items():
        assert key in lock, f"environment.yml pins {key[0]} ({key[1] or 'all platforms'}) but requirements.lock does not"
        assert lock[key] == version, f"{key[0]}: environment.yml has {version}, requirements.lock has {lock[key]}"


def test_lock_covers_pyproject_dependencies():
    """Is every dependency and extra of pyproject.toml pinned in the lock?"""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]
    locked = {name for name, _ in _pins((ROOT / "requirements.lock").read_text().splitlines())}
    for req in reqs:
        name = re.split(r"[\[<>=!;~ ]", req, maxsplit=1)[0].lower().replace("_", "-")
        if name == meta["name"]:
            continue
        assert name in locked, f"pyproject.toml requires {name} but requirements.lock does not pin it"


def test_ci_runs_the_readme_test_command():
    """Does .ci/run run `make test`, the README's test command?"""
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.MULTILINE)
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert readme.index("make lab") < 1500 and readme.index("make test") < 1500, "README opens with the two commands"


def test_every_make_target_in_readme_exists():
    """Does each `make <target>` the README mentions exist in the Makefile?"""
    readme = (ROOT / "README.md").read_text()
    targets = sorted(set(re.findall(r"\bmake ([a-z][a-z-]+)", readme)))
    assert {"lab", "test", "release"} <= set(targets)
    for target in targets:
        result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f"README mentions `make {target}` but: {result.stderr.strip()}"


@pytest.mark.parametrize("lab", sorted(CONTRACT))
@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_contract_grade_ids_have_nbgrader_metadata(lab, folder):
    """Does each contract grade_id exist as a solution cell defining its names, followed by a locked test cell with points?"""
    path = ROOT / "solutions" / lab / f"{lab}.ipynb" if folder == "solutions" else ROOT / "notebooks" / f"{lab}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: (i, c) for i, c in enumerate(nb.cells) if "nbgrader" in c.metadata}
    for grade_id, names in CONTRACT[lab].items():
        assert grade_id in cells, f"{path}: no cell with grade_id {grade_id!r}"
        index, cell = cells[grade_id]
        meta = cell.metadata["nbgrader"]
        assert meta["solution"] is True and meta["grade"] is False and meta.get("locked") is False, (path, grade_id)
        for name in names:
            assert re.search(rf"^(def|class) {name}\b", cell.source, re.MULTILINE), f"{path}: {grade_id} does not define {name}"
        test_index, test = cells[f"test_{grade_id}"]
        tmeta = test.metadata["nbgrader"]
        assert test_index > index
        assert tmeta["grade"] is True and tmeta["locked"] is True and tmeta["points"] > 0, (path, f"test_{grade_id}")
        if folder == "notebooks":
            assert "raise NotImplementedError()" in cell.source
            assert "BEGIN HIDDEN TESTS" not in test.source and "BEGIN SOLUTION" not in cell.source


def test_every_lab_in_solutions_is_under_contract():
    """Is every lab folder in solutions/ one of the syllabus' labs with its contract checked here?"""
    labs = {p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()}
    assert labs == set(CONTRACT), f"labs without a contract check: {sorted(labs - set(CONTRACT))}"
