"""Framework checks decided from what the grader can trust, not from the names a submission's classes claim.

Lab 01's ``test_frameworks`` wants ``perceptron_tf`` to return a TensorFlow tensor and ``perceptron_torch`` a
torch tensor. A submission that computes with numpy and returns objects whose classes call themselves
``tensorflow...`` or ``torch`` (``__module__``, ``__name__``, ``__qualname__``, a ``__framework__`` attribute,
a ``__class__`` property, a metaclass whose ``__mro__`` names the real classes), or numpy subclasses renamed so,
must score no higher than the same numpy answer returned honestly. The kernel's helper decides a value's
framework by the identity of the frameworks' own classes (taken before the submission runs) in the real MRO
of the value's type; `course_utils.frameworks.framework_of` does the same in-process.
"""
from __future__ import annotations

import types

import nbformat
import numpy as np
import pytest

from autograder.grading import grade_notebook
from autograder.sandbox import confinement_available
from course_utils.checks import framework_of
from tests.conftest import ROOT

LAB = "01_perceptron"
SOURCE = ROOT / "solutions" / LAB / f"{LAB}.ipynb"

CLASSES = '''\
import numpy as np
import tensorflow as tf, torch

def _forward(x, w0, w):
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(w0 + x @ w)))

class _Holder:
    def __init__(self, a):
        self._a, self.dtype, self.shape = a, a.dtype, a.shape

    def numpy(self):
        return self._a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)

    def detach(self):
        return self

    cpu = resolve_conj = resolve_neg = detach

def _named(name, module, real, framework):
    """A class that claims to be `real` by every name it can (and whose instances' __class__ says so)."""
    return type(name, (_Holder,), {"__module__": module, "__qualname__": name, "__framework__": framework,
                                   "__class__": property(lambda self: real)})

NamedTF = _named("EagerTensor", "tensorflow.python.framework.ops", tf.Tensor, "tensorflow")
NamedTorch = _named("Tensor", "torch", torch.Tensor, "torch")
SubTF = type("EagerTensor", (np.ndarray,), {"__module__": "tensorflow.python.framework.ops",
                                            "__framework__": "tensorflow", "numpy": lambda self: np.asarray(self)})
SubTorch = type("Tensor", (np.ndarray,), {"__module__": "torch", "__framework__": "torch"})

class Claims(type):
    @property
    def __mro__(cls):
        return (cls, tf.Tensor, torch.Tensor, object)

class ClaimsMro(_Holder, metaclass=Claims):
    pass
'''

NUMPY = "_forward(x, w0, w)"
REAL = {"tf": "tf.constant(_forward(x, w0, w))", "torch": "torch.from_numpy(_forward(x, w0, w))"}
FORGED = {  # how each attack wraps the numpy answer, for each framework
    "names": {"tf": "NamedTF(_forward(x, w0, w))", "torch": "NamedTorch(_forward(x, w0, w))"},
    "numpy subclass": {"tf": "_forward(x, w0, w).view(SubTF)", "torch": "_forward(x, w0, w).view(SubTorch)"},
    "metaclass __mro__": {"tf": "ClaimsMro(_forward(x, w0, w))", "torch": "ClaimsMro(_forward(x, w0, w))"},
}


def frameworks_cell(tf_answer: str, torch_answer: str) -> str:
    return (CLASSES + f"\ndef perceptron_tf(x, w0, w):\n    return {tf_answer}\n"
            f"\ndef perceptron_torch(x, w0, w):\n    return {torch_answer}\n")


def submission(frameworks_cell: str) -> nbformat.NotebookNode:
    """Lab 01's solution (its graded cells) with the frameworks exercise's cell replaced by `frameworks_cell`."""
    nb = nbformat.read(SOURCE, as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id")]
    cell = next(c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == "frameworks")
    cell.source = frameworks_cell
    return nb


def grade(code: str, tmp_path, name: str) -> dict:
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(submission(code), path)
    result = grade_notebook(LAB, path, seed=0)
    return {t["grade_id"]: t for t in result["tests"]}


@pytest.mark.slow
@pytest.mark.skipif(not confinement_available()[0], reason="grades in a confined kernel")
@pytest.mark.parametrize("framework", ["tf", "torch"])
def test_forged_framework_names_score_no_higher_than_honest_numpy(tmp_path, framework):
    """Returned where a tf (or torch) tensor is expected (the other function honest), do numpy answers whose
    classes claim the framework's names, numpy subclasses renamed so, or a metaclass that claims its MRO, score
    no higher on test_frameworks than the honest numpy answer (0)? And do real tensors pass (the check works)?"""
    other = "torch" if framework == "tf" else "tf"
    expected = {"tf": "expected a tensorflow tensor", "torch": "expected a torch tensor"}[framework]

    def score(answer, name):
        answers = {framework: answer, other: REAL[other]}
        return grade(frameworks_cell(answers["tf"], answers["torch"]), tmp_path, name)["test_frameworks"]

    honest = score(NUMPY, "honest")
    assert honest["score"] == 0 and expected in honest["message"], honest
    for attack, answers in FORGED.items():
        forged = score(answers[framework], attack.replace(" ", "_"))
        assert forged["score"] <= honest["score"] and expected in forged["message"], (attack, forged)
    real = score(REAL[framework], "real")
    assert real["score"] == real["max_score"] > 0, real


def test_framework_of_ignores_claimed_names():
    """Does course_utils.frameworks.framework_of report what a value really is, whatever its class calls itself?"""
    claims_tf = type("EagerTensor", (), {"__module__": "tensorflow.python.framework.ops", "numpy": lambda s: 1,
                                         "dtype": np.float64})
    claims_torch = type("Tensor", (), {"__module__": "torch", "detach": lambda s: s})
    renamed_array = type("EagerTensor", (np.ndarray,), {"__module__": "tensorflow.python.framework.ops"})
    assert framework_of(claims_tf()) == framework_of(claims_torch()) == "python"
    assert framework_of(np.zeros(2).view(renamed_array)) == "numpy"

    class Claims(type):
        @property
        def __mro__(cls):
            return (cls, np.ndarray, object)

    assert Claims("Fake", (), {}).__mro__[1] is np.ndarray  # the claim is visible through the attribute …
    assert framework_of(Claims("Fake", (), {})()) == "python"  # … and ignored
    # The grader's own stand-ins (remote values) still declare theirs.
    assert framework_of(types.SimpleNamespace(__framework__="torch")) == "torch"


def test_framework_of_real_tensors_and_subclasses():
    """Are real tensors, variables and Parameters (subclasses of the frameworks' classes) recognised?"""
    import tensorflow as tf
    import torch
    assert framework_of(torch.ones(2)) == framework_of(torch.nn.Parameter(torch.ones(1))) == "torch"
    assert framework_of(tf.constant([1.0])) == framework_of(tf.Variable([1.0])) == "tensorflow"
    import keras

    expected = "torch" if keras.config.backend() == "torch" else "tensorflow"
    assert framework_of(keras.Variable(np.ones(2))) == expected
