"""Which framework a value comes from, and its numbers as a numpy array, without importing any framework.

torch and TensorFlow tensors are recognised by the frameworks' own classes,
taken from the modules already loaded (`sys.modules`), never by a name a
class can claim. The autograder's stand-ins for remote values declare what
they stand for (``__framework__``, ``__type_names__``).
"""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["type_names", "framework_of", "as_array", "tensor_classes"]


def type_names(x) -> list[str]:
    """Qualified names of the classes `x` is an instance of, most specific first.

    Hidden tests check "is this a Keras layer / an nn.Module" with it, because
    the autograder hands them stand-ins for the student's objects, not the
    objects: ``"torch.nn.modules.module.Module" in type_names(layer)``. A
    stand-in reports its own list through the attribute ``__type_names__``.
    """
    declared = getattr(x, "__type_names__", None)
    if isinstance(declared, (list, tuple)) and all(isinstance(n, str) for n in declared):
        return list(declared)
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(x).__mro__]


_MRO = type.__dict__["__mro__"].__get__  # a class's own MRO (a metaclass cannot stand in for it)


def tensor_classes() -> list[tuple[str, type]]:
    """(framework, class) for the tensor classes of the frameworks loaded in this process (none is imported)."""
    found = []
    modules = {m: sys.modules.get(m) for m in ("torch", "tensorflow", "keras")}
    try:
        if modules["torch"] is not None:
            found.append(("torch", modules["torch"].Tensor))
        if modules["tensorflow"] is not None:
            found += [("tensorflow", modules["tensorflow"].Tensor), ("tensorflow", modules["tensorflow"].Variable)]
        if modules["keras"] is not None:  # Keras 3 variables: the backend decides
            backend = modules["keras"].config.backend()
            found.append(("torch" if backend == "torch" else "tensorflow", modules["keras"].Variable))
    except Exception:  # a framework still being imported
        pass
    return found


def framework_of(x) -> str:
    """Return which framework `x` comes from.

    Decided by the identity of the frameworks' tensor classes (``torch.Tensor``,
    ``tf.Tensor``, ``tf.Variable``, ``keras.Variable``) in the MRO of ``type(x)``:
    a class that only calls itself ``tensorflow...`` (its ``__module__`` or
    ``__name__``) is what it really is, a numpy subclass is numpy.

    Parameters
    ----------
    x : object
        Any value. An object with a string attribute ``__framework__`` (the
        autograder's stand-ins for remote values) reports that string.

    Returns
    -------
    str
        ``"tensorflow"``, ``"torch"``, ``"numpy"`` or ``"python"``.
    """
    declared = getattr(x, "__framework__", None)
    if isinstance(declared, str):
        return declared
    if isinstance(x, (np.ndarray, np.generic)):
        return "numpy"
    mro = _MRO(type(x))
    for framework, cls in tensor_classes():
        if any(c is cls for c in mro):
            return framework
    return "python"


def as_array(x) -> np.ndarray:
    """Convert `x` to a numpy array without importing any framework.

    Parameters
    ----------
    x : array_like, torch.Tensor, tf.Tensor, tf.Variable or keras.Variable
        Tensors are copied to host memory (``.detach().cpu().numpy()`` for
        torch, ``.numpy()`` for TensorFlow and Keras).

    Returns
    -------
    numpy.ndarray
        A scalar becomes a 0-d array.
    """
    if isinstance(x, np.ndarray):
        return x
    framework = framework_of(x)
    if framework == "torch" and hasattr(x, "detach"):
        return np.asarray(x.detach().cpu().numpy())
    if framework in ("tensorflow", "torch") and callable(getattr(x, "numpy", None)):
        return np.asarray(x.numpy())
    return np.asarray(x)
