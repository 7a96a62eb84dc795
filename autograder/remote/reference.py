"""What a reference may be and use: the checked source of ``use_reference``, and the functions allowed to travel.

The grader may send functions of `CALLABLE_MODULES` to the kernel (by name);
from the kernel, only the short allow-list `PURE_FUNCTIONS` travels by name
(any other function stays in the kernel and travels as a handle). Both lists
are handed to the kernel's helper and to the reference worker when they start.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json

from autograder.remote.errors import MESSAGE_CHARS, clean_text

CALLABLE_MODULES = ("numpy", "math", "builtins", "torch", "torch.nn", "torch.nn.functional",
                    "tensorflow", "tensorflow.math", "tensorflow.nn", "keras.activations", "keras.ops")
# The functions a kernel may pass to a reference by name (pure, elementwise, cheap); any other function
# of the kernel is called back there. Never builtins (exit, open, input) or anything with side effects.
PURE_FUNCTIONS = ("numpy.tanh", "numpy.exp", "numpy.expm1", "numpy.log", "numpy.log1p", "numpy.sqrt",
                  "numpy.square", "numpy.abs", "numpy.absolute", "numpy.sign", "numpy.negative", "numpy.positive",
                  "numpy.reciprocal", "numpy.sin", "numpy.cos", "numpy.arctan", "numpy.sinh", "numpy.cosh",
                  "numpy.maximum", "numpy.minimum", "math.tanh", "math.exp", "math.sqrt", "math.log")
REFERENCE_PREFIX = "\x00autograder-reference:"  # the prompt of a stand-in's input_request
KEY_CHARS = 32  # hex digits of a reference's key


def _defined_names(tree: ast.Module) -> set:
    """The names a module's top level defines (functions, classes, assignments, imports)."""
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).partition(".")[0] for a in node.names)
    return defined


@functools.lru_cache(maxsize=64)
def _check_reference(name: str, source: str) -> str:
    """The key of a reference source that defines `name` at its top level (checked, never run, here)."""
    if name not in _defined_names(ast.parse(source, f"<reference {name}>")):
        raise ValueError(f"the reference source does not define a function `{name}`")
    return hashlib.sha256(f"{name}\0{source}".encode()).hexdigest()[:KEY_CHARS]


def _reference_error(kind: str, message: str) -> str:
    """The answer to a stand-in's call that raises `kind` (a builtin exception's name) in the kernel."""
    return json.dumps({"kind": "error", "error": {"type": kind, "message": clean_text(message, MESSAGE_CHARS)}})
