"""The recording adversary: the last cell of a submission that answers only from what the grader sent it.

Read by tests/autograder/test_adversary.py, which appends it to a lab's solution notebook (solution and
locked cells only) followed by a call `_adv_install([...names the solution cells define...])`. From then
on every call of those functions caches the arrays and numbers it is sent and answers only from that
cache, through a simple transform; the solution's own result serves only to pick among cached values.
This file runs in the student's kernel, never imported by the tests.
"""
import numpy as _np
import types as _types


def _adv_sigmoid(a):
    return 0.5 * (1.0 + _np.tanh(0.5 * a))


_ADV_ELEMENTWISE = {
    "identity": lambda a: a, "negative": _np.negative, "sigmoid": _adv_sigmoid, "tanh": _np.tanh,
    "relu": lambda a: _np.where(a > 0, a, 0.0), "step": lambda a: (a >= 0).astype(int), "arctan": _np.arctan,
    "exp": _np.exp, "square": _np.square, "abs": _np.abs,
}
_ADV_REDUCE = {"sum": _np.sum, "mean": _np.mean}
_adv_cache = []  # every array and number the grader sent, as float64 arrays
_adv_on = [False]
_adv_depth = [0]
_adv_answered = []  # (function, transform) of each call answered from the cache


def _adv_values(x, out, depth=0):
    if depth > 6:
        return
    if isinstance(x, (bool, str)) or x is None:
        return
    if isinstance(x, (int, float, _np.number, _np.ndarray)):
        a = _np.asarray(x)
        if a.dtype.kind in "biuf" and 0 < a.size <= 1_000_000:
            out.append(_np.array(a, dtype=_np.float64))
        return
    if type(x).__module__.partition(".")[0] in ("torch", "tensorflow") and hasattr(x, "numpy"):
        try:
            _adv_values(_np.asarray(x.detach() if hasattr(x, "detach") else x), out, depth + 1)
        except Exception:
            pass
        return
    if isinstance(x, dict):
        for v in list(x.values()):
            _adv_values(v, out, depth + 1)
    elif isinstance(x, (list, tuple)):
        for v in list(x):
            _adv_values(v, out, depth + 1)


def _adv_as(value, like):
    """`value` (a numpy array) in the type of the right answer `like`."""
    root = type(like).__module__.partition(".")[0]
    if root == "torch":
        import torch
        return torch.as_tensor(_np.asarray(value)).to(like.dtype)
    if root == "tensorflow":
        import tensorflow as tf
        return tf.constant(_np.asarray(value), dtype=like.dtype)
    if isinstance(like, bool):
        return bool(value)
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    if isinstance(like, _np.generic):
        return like.dtype.type(value)
    return _np.asarray(value).astype(_np.asarray(like).dtype)


def _adv_match_one(right, own):
    if right is None or isinstance(right, str):
        return right
    if isinstance(right, (tuple, list)):
        items = [_adv_match_one(v, own) for v in right]
        return tuple(items) if isinstance(right, tuple) else items
    if isinstance(right, dict):
        return {k: _adv_match_one(v, own) for k, v in right.items()}
    try:
        target = _np.asarray(right.detach() if hasattr(right, "detach") else right)
    except Exception:
        raise LookupError("not data") from None
    if target.dtype.kind not in "biuf":
        raise LookupError("not numbers")
    target = target.astype(_np.float64)
    for a in reversed(_adv_cache):
        if any(a.shape == o.shape and _np.array_equal(a, o) for o in own):
            continue  # the call's own input: computing from it is the exercise, not a cache hit
        candidates = []
        if a.shape == target.shape:
            candidates += list(_ADV_ELEMENTWISE.items())
        if target.ndim == 0 and a.size > 1:
            candidates += list(_ADV_REDUCE.items())
        if a.ndim == 2 and a.T.shape == target.shape:
            candidates.append(("transpose", _np.transpose))
        for name, transform in candidates:
            with _np.errstate(all="ignore"):
                value = _np.asarray(transform(a), dtype=_np.float64)
            if value.shape == target.shape and _np.allclose(value, target, rtol=1e-9, atol=1e-12):
                _adv_answered.append(name)
                return _adv_as(value, right)
        if target.ndim == 0 and a.ndim > 0:  # one element of a cached array, transformed
            for name, transform in _ADV_ELEMENTWISE.items():
                with _np.errstate(all="ignore"):
                    value = _np.asarray(transform(a), dtype=_np.float64).ravel()
                hits = _np.flatnonzero(_np.isclose(value, target, rtol=1e-9, atol=1e-12))
                if hits.size:
                    _adv_answered.append(name + " of an element")
                    return _adv_as(value[hits[0]], right)
    raise LookupError("no cached value fits")


def _adv_wrap(name, real):
    def recorded(*args, **kwargs):
        if not _adv_on[0] or _adv_depth[0]:
            return real(*args, **kwargs)
        own = []
        _adv_values((args, kwargs), own)
        _adv_depth[0] += 1
        try:  # the right answer, only to choose among the cached values
            right = real(*args, **kwargs)
        except Exception:
            right = NotImplemented
        finally:
            _adv_depth[0] -= 1
        try:
            answer = _adv_match_one(right, own) if right is not NotImplemented else None
            found = right is not NotImplemented
        except LookupError:
            found = False
        _adv_cache.extend(own)
        if not found:
            raise NotImplementedError(f"{name}: the recording adversary has no cached answer")
        return answer

    recorded.__name__ = recorded.__qualname__ = name
    return recorded


class _AdvStub:
    def __init__(self, *args, **kwargs):
        own = []
        _adv_values((args, kwargs), own)
        _adv_cache.extend(own)
        raise NotImplementedError("the recording adversary implements no class")


def _adv_install(names):
    """Wrap each of the solution's functions `names` in a recorder and replace its classes by stubs, from now on."""
    for name in names:
        value = globals().get(name)
        if isinstance(value, _types.FunctionType):
            globals()[name] = _adv_wrap(name, value)
        elif isinstance(value, type):
            globals()[name] = type(name, (_AdvStub,), {})
    _adv_on[0] = True
