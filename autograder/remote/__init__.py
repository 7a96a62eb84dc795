"""A handle on a student's kernel: call its functions on inputs the grader chooses, get plain data back.

Hidden tests run in the grading process and see the notebook through a
`RemoteStudent`::

    got = student.sigmoid(z)            # z is sent, sigmoid runs in the kernel, the result comes back
    layer = student.MyDenseLayerTorch(3, 2)
    layer.W.shape, layer(X)             # objects stay in the kernel; attributes and calls go through

Wire format (JSON text both ways; the same for arguments and results)
-----------------------------------------------------------------------
``None``, bools, ints, floats (NaN and infinities included) and strings are
themselves; lists are JSON arrays; every JSON object is one of these markers:

* ``{"__ndarray__": base64, "dtype": name, "shape": [...]}`` plus optional
  ``"framework": "torch" | "tensorflow"`` and ``"scalar": true`` (a numpy
  scalar); dtypes: bool, (u)int8-64, float16-64, complex64/128, little-endian;
* ``{"__tuple__": [...]}``, ``{"__dict__": {str: value}}``, ``{"__complex__": [re, im]}``;
* ``{"__handle__": id, "type": "module.Qualname", "mro": [names]}``: an
  object kept in the kernel (functions, layers, anything that is not plain
  data); `RemoteObject.__type_names__` gives the names of its classes, which
  ``course_utils.frameworks.type_names`` reports;
* ``{"__callable__": "numpy.tanh"}`` (arguments only): a function resolved
  by name. The grader may send functions of `CALLABLE_MODULES` to the kernel;
  from the kernel, only the short allow-list of pure functions
  `PURE_FUNCTIONS` travels by name (any other function stays in the kernel
  and travels as a handle).

The grader decodes strictly: at most ``max_reply_bytes`` of JSON, nesting
depth 32, one million items, whitelisted dtypes whose byte count matches
the shape (each dimension below 2**31), no pickle, nothing evaluated; any
value it cannot accept raises `RemoteProtocolError` and nothing else, so a
crafted answer costs the student's points, never the grader. Arrays come back as `RemoteArray`
(a numpy array with a ``__framework__`` attribute: "numpy", "torch" or
"tensorflow", which ``course_utils.frameworks.framework_of`` reports).

Errors: an exception of a common builtin type raised by the student's code
is raised here as a subclass of that type and of `RemoteError` (so
``except ValueError`` works); any other exception is a `RemoteError`; a
name the notebook does not define raises `NameMissing` (an
``AssertionError`` and an ``AttributeError``, so ``hasattr`` works); a call
that does not return in time raises `RemoteTimeout`; a dead kernel raises
`KernelDied`; a call that changes one of its array arguments in place (top
level, or inside lists, tuples and dicts) raises `InPlaceChange` (an
``AssertionError``) after writing the change back, unless the test wrapped
it in ``with student.allow_in_place():``. Messages say what was called
(arrays by shape and dtype only, so hidden inputs are not revealed); text
from the kernel goes through `clean_text` (no escapes, control characters
or lone surrogates, bounded length).

References: ``student.use_reference(name, source)`` makes the kernel's
`name` a stand-in that sends each call to the grader as an
``input_request`` on the stdin channel (prompt ``REFERENCE_PREFIX`` +
``"ref <token>\n"`` + the arguments' JSON). The reference never runs in the
grader, nor in the kernel: it runs in a reference worker
(``_reference_worker.py``), a process of its own started when the
test first grants a reference (forked in milliseconds from a zygote that
this process starts with its first kernel) and killed when the test cell
ends, confined to the kernel's memory limit and CPU time, and killed when a
call runs past the time left to the call into the kernel that made it. The
grader only
relays text between the kernel and the worker (it never parses the
arguments): the worker decodes them strictly and bounded (integers at most
2**53, every list, tuple and array dimension at most 4x the largest the test
sent + 16, few levels of nesting, a million items), runs the reference, and
answers with the result, an error, or a request to call a kernel function
passed as an argument (the kernel answers ``"return\n"`` or ``"raise\n"`` +
JSON, or makes a nested reference call). Functions from the kernel are its
own (called back there) or one of `PURE_FUNCTIONS`; ``builtins.exit`` and
the like are refused with a message. Grants end with the test cell
(`_ag_restore`): a stand-in kept for later raises.

Modules: `codec` (the wire format), `errors` (what calls raise), `handle`
(`RemoteObject`), `student` (`RemoteStudent`), `reference` (checked references
and the functions allowed to travel), `relay` (reference calls, grader side),
`worker` (the reference worker, grader side); run in other processes:
``_kernel_side.py`` (in the student's kernel), ``_reference_worker.py`` (the
reference worker), and ``_wire_codec.py`` (array rules both ends share).

Trust: expected values are computed in the grader and never sent to the
kernel; reference code never enters it, and never runs in the grader on a
student's arguments. A submission that tampers with the helper can only make
its own answers wrong or missing.
"""
from __future__ import annotations

from autograder.remote._wire_codec import MAX_NESTED_REFERENCES
from autograder.remote.codec import (DTYPES, FRAMEWORKS, MAX_DEPTH, MAX_ITEMS, MIME, RemoteArray, as_framework, decode,
                                     encode)
from autograder.remote.errors import (BUILTIN_EXCEPTIONS, InPlaceChange, NameMissing, RemoteError, RemoteProtocolError,
                                      RemoteTimeout, RemoteWarning, clean_text)
from autograder.remote.handle import RemoteObject
from autograder.remote.reference import CALLABLE_MODULES, PURE_FUNCTIONS, REFERENCE_PREFIX
from autograder.remote.student import RemoteStudent, ref
from autograder.remote.worker import _ReferenceWorker, _WorkerFailed
from autograder.sandbox import KernelDied

__all__ = [
    "CALLABLE_MODULES",
    "InPlaceChange",
    "KernelDied",
    "NameMissing",
    "PURE_FUNCTIONS",
    "RemoteArray",
    "RemoteError",
    "RemoteObject",
    "RemoteProtocolError",
    "RemoteStudent",
    "RemoteTimeout",
    "as_framework",
    "decode",
    "encode",
    "ref",
]
