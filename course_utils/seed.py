"""One call that makes a notebook's randomness repeatable."""
from __future__ import annotations

import numbers
import os
import random
import sys

import numpy as np

__all__ = ["set_seed"]

_MAX_SEED = 2**32 - 1  # numpy's legacy global RandomState accepts no more


def set_seed(seed: int, frameworks=None) -> np.random.Generator:
    """Seed Python, numpy, PyTorch and TensorFlow, and return a numpy Generator.

    Seeds ``random``, numpy's legacy global state (``np.random.seed``),
    torch (``torch.manual_seed`` and ``torch.cuda.manual_seed_all``) and
    TensorFlow (``tf.random.set_seed``, and ``keras.utils.set_random_seed``
    when Keras is loaded), and sets the ``PYTHONHASHSEED`` environment
    variable (it only affects Python processes started afterwards).

    Importing a framework costs seconds, so by default only frameworks that
    are already imported are seeded: import torch / TensorFlow *before*
    calling ``set_seed``, or name them in `frameworks` to have them imported
    (when installed) and seeded. A framework that is not installed is
    skipped silently.

    Parameters
    ----------
    seed : int
        A non-negative integer below 2**32.
    frameworks : iterable of str, optional
        Any of ``"torch"`` and ``"tensorflow"``. None (default) seeds the
        ones already imported.

    Returns
    -------
    numpy.random.Generator
        ``np.random.default_rng(seed)``: pass it as the ``rng`` argument.

    Raises
    ------
    TypeError
        If `seed` is not an integer (bool and float included).
    ValueError
        If `seed` is negative or not below 2**32, or a framework name is unknown.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}: use e.g. set_seed(42)")
    seed = int(seed)
    if not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be between 0 and 2**32 - 1, got {seed}")
    if frameworks is None:
        names = [name for name in ("torch", "tensorflow") if sys.modules.get(name) is not None]
    else:
        names = list(frameworks)
        unknown = set(names) - {"torch", "tensorflow"}
        if unknown:
            raise ValueError(f"unknown framework(s) {sorted(unknown)}; choose from ('torch', 'tensorflow')")

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in names:
        _seed_torch(seed)
    if "tensorflow" in names:
        _seed_tensorflow(seed)
    return np.random.default_rng(seed)


def _seed_torch(seed: int) -> None:
    from course_utils.devices import import_torch

    torch = import_torch()
    if torch is not None:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)  # manual_seed does too; explicit for older torch


def _seed_tensorflow(seed: int) -> None:
    from course_utils.devices import import_tensorflow

    tf = import_tensorflow()
    if tf is None:
        return
    tf.random.set_seed(seed)
    # Keras 3 draws layer-initialiser seeds from its own global state;
    # set_random_seed resets it (and random/numpy again, to the same seed).
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.utils.set_random_seed(seed)
