"""Every hidden test of every lab against a recording adversary: it must score 0.

The hidden-test rule this checks: no input sent to the kernel may be the expected
value of another call, or a simple transform of one. The adversary caches every
array and number it is sent and answers a later call only from that cache, through
a simple transform (identity, sign, sigmoid, tanh, ReLU, a threshold, arctan, exp,
square, abs, of a cached array or one of its elements; a sum, a mean, a transpose). To be as strong as any such cache can
be, it computes the right answer with the solution (that is how it knows which
cached value to pick) but returns only what it built from the cache, never the
solution's own result: a call it cannot answer from the cache raises
NotImplementedError, as the untouched student notebook does. Classes of the
solution cells are stubs (an empty submission's). A test that hands the kernel
its expected value gives the adversary points; the hidden tests of every lab
present (found in solutions/) must give it none.
"""
from __future__ import annotations

import ast

import nbformat
import pytest

from autograder.grading import grade_notebook
from tests.conftest import LABS, ROOT

ADVERSARY = '''\
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


for _name in __NAMES__:
    _value = globals().get(_name)
    if isinstance(_value, _types.FunctionType):
        globals()[_name] = _adv_wrap(_name, _value)
    elif isinstance(_value, type):
        globals()[_name] = type(_name, (_AdvStub,), {})
_adv_on[0] = True
'''


def solution_names(nb) -> list[str]:
    """Names of the functions and classes the solution cells define (what a student writes)."""
    names = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.parse(code).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.append(node.name)
    return names


def adversary_notebook(source):
    """The solution notebook, without its demo cells (speed), ending with the adversary's cell."""
    nb = nbformat.read(source, as_version=4)
    names = solution_names(nb)
    assert names, f"{source}: no solution cells define a function"
    nb.cells = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id")]
    nb.cells.append(nbformat.v4.new_code_cell(ADVERSARY.replace("__NAMES__", repr(sorted(set(names))))))
    return nb


@pytest.mark.parametrize("lab", LABS)
def test_recording_adversary_scores_zero(lab, tmp_path):
    """Does a submission that answers only from what the grader sent it (cached inputs, simple transforms)
    score 0 on every test cell of this lab?"""
    source = ROOT / "solutions" / lab / f"{lab}.ipynb"
    path = tmp_path / f"{lab}.ipynb"
    nbformat.write(adversary_notebook(source), path)
    result = grade_notebook(lab, path, seed=0)
    leaked = {t["grade_id"]: t["score"] for t in result["tests"] if t["score"] > 0}
    assert not leaked, (f"{lab}: hidden tests gave points to a submission that answers from its cached inputs: "
                        f"{leaked}; a test sends the kernel the expected value of a later call (or a simple "
                        f"transform of it). Errors: {result['errors'][:3]}")
    assert result["max_score"] > 0
