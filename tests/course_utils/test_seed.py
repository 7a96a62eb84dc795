import os
import random

import numpy as np
import pytest

from course_utils import set_seed


def draws():
    return random.random(), np.random.rand(3).tolist()


def test_same_seed_same_numbers():
    """Does seeding twice with the same seed repeat Python's and numpy's random numbers?"""
    set_seed(7)
    first = draws()
    set_seed(7)
    assert draws() == first
    set_seed(8)
    assert draws() != first


def test_returns_generator():
    """Is the returned Generator the same stream as np.random.default_rng(seed)?"""
    rng = set_seed(123)
    assert isinstance(rng, np.random.Generator)
    assert rng.normal(size=5).tolist() == np.random.default_rng(123).normal(size=5).tolist()


def test_sets_pythonhashseed(monkeypatch):
    """Is PYTHONHASHSEED set for processes started later?"""
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    set_seed(5)
    assert os.environ["PYTHONHASHSEED"] == "5"


@pytest.mark.parametrize("seed", ["42", 4.2, True, None])
def test_rejects_non_int(seed):
    """Is a seed that is not an int rejected with a message saying what to pass?"""
    with pytest.raises(TypeError, match="seed must be an int"):
        set_seed(seed)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_rejects_out_of_range(seed):
    """Are negative seeds and seeds numpy cannot take rejected?"""
    with pytest.raises(ValueError, match=r"between 0 and 2\*\*32 - 1"):
        set_seed(seed)


def test_accepts_numpy_int():
    """Does a numpy integer work as a seed, as an int would?"""
    set_seed(np.int64(3))
    first = draws()
    set_seed(3)
    assert draws() == first


def test_rejects_unknown_framework():
    """Is a misspelt framework name an error rather than silently unseeded?"""
    with pytest.raises(ValueError, match="jax"):
        set_seed(0, frameworks=("jax",))


def test_missing_frameworks_are_skipped(block):
    """When torch and TensorFlow are not installed, does asking to seed them still work?"""
    block("torch", "tensorflow")
    rng = set_seed(1, frameworks=("torch", "tensorflow"))
    assert isinstance(rng, np.random.Generator)


def test_seeds_torch(torch):
    """Does set_seed repeat torch's random numbers once torch is imported?"""
    set_seed(11)
    first = torch.rand(4)
    set_seed(11)
    assert torch.equal(torch.rand(4), first)
    set_seed(12)
    assert not torch.equal(torch.rand(4), first)


def test_seeds_tensorflow_and_keras(tf, capfd):
    """Does set_seed repeat TensorFlow's random numbers and Keras' initial weights, silently?"""
    import keras

    def sample():
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
        return tf.random.uniform((4,)).numpy(), layer.get_weights()[0]

    set_seed(21, frameworks=("tensorflow",))
    values, kernel = sample()
    set_seed(21)  # TensorFlow is imported now, so the default seeds it too
    values_again, kernel_again = sample()
    np.testing.assert_array_equal(values_again, values)
    np.testing.assert_array_equal(kernel_again, kernel)
    set_seed(22)
    assert not np.array_equal(sample()[0], values)
    assert capfd.readouterr().err == ""
