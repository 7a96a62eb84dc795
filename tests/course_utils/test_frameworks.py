"""Which framework a value comes from, and its numbers, without importing a framework (course_utils.frameworks)."""
import types

import numpy as np
import pytest

from course_utils.checks import CheckFailed, check_close
from course_utils.frameworks import as_array, framework_of, type_names


def test_framework_of_plain_values():
    """Are numpy values "numpy" and plain Python values "python"?"""
    assert framework_of(np.zeros(2)) == "numpy"
    assert framework_of(np.float64(1.0)) == "numpy"
    assert framework_of([1.0]) == "python"
    assert framework_of(1.0) == "python"
    assert framework_of(None) == "python"


def test_framework_of_declared():
    """Does an object carrying a string __framework__ (the autograder's remote values) report it?"""
    remote = types.SimpleNamespace(__framework__="torch")
    assert framework_of(remote) == "torch"

    class NotAString:
        __framework__ = 3

    assert framework_of(NotAString()) == "python"


def test_as_array_plain_values(block):
    """Are lists and scalars converted without importing torch or TensorFlow?"""
    block("torch", "tensorflow")
    assert as_array([1, 2]).tolist() == [1, 2]
    assert as_array(2.5).shape == ()
    x = np.ones(3)
    assert as_array(x) is x


def test_torch_tensors(torch):
    """Are torch tensors (even ones that require grad) recognised and converted?"""
    t = torch.tensor([0.5, 0.25], requires_grad=True) * 2
    assert framework_of(t) == "torch"
    assert framework_of(torch.nn.Parameter(torch.ones(1))) == "torch"
    np.testing.assert_array_equal(as_array(t), [1.0, 0.5])
    check_close(t, [1.0, 0.5], call="perceptron_torch(x, w0, w)")


def test_tensorflow_tensors(tf):
    """Are TensorFlow tensors and variables recognised and converted?"""
    t = tf.constant([[1.0, 2.0]])
    v = tf.Variable([3.0])
    assert framework_of(t) == "tensorflow" and framework_of(v) == "tensorflow"
    np.testing.assert_array_equal(as_array(t), [[1.0, 2.0]])
    np.testing.assert_array_equal(as_array(v), [3.0])
    with pytest.raises(CheckFailed) as info:
        check_close(t, [[1.0, 2.5]], call="perceptron_tf(x, w0, w)", rtol=1e-6)
    assert "largest difference 0.5 at index (0, 1)" in str(info.value)


def test_keras_variables(tf):
    """Are Keras 3 variables (not tf.Variable) treated as TensorFlow values?"""
    import keras

    v = keras.Variable(np.ones((2, 1)))
    assert framework_of(v) == "tensorflow"
    assert as_array(v).shape == (2, 1)


def test_type_names_lists_the_mro_and_honours_stand_ins():
    """Does type_names name every base class, and report a stand-in's declared list?"""
    import torch

    names = type_names(torch.nn.Linear(2, 1))
    assert names[0] == "torch.nn.modules.linear.Linear" and "torch.nn.modules.module.Module" in names

    class StandIn:
        __type_names__ = ["keras.src.layers.layer.Layer"]

    assert type_names(StandIn()) == ["keras.src.layers.layer.Layer"]
    assert type_names(3)[0] == "builtins.int"
