"""The helper the grader injects into a student's kernel (runs there, never in the grader).

`autograder.remote` sends this file's source to the kernel, where it is
executed in a private namespace and `install` puts one function (the bound
`Helper.__call__`), under a random name, into the notebook's namespace. The grader then evaluates
``<name>(nonce, request)`` as a Jupyter *user expression*: the answer comes
back in the shell channel's ``execute_reply`` (which ZeroMQ never drops),
not on IOPub, so prints, output floods and background threads cannot get in
its way.

Requests and answers are JSON text (see `autograder.remote` for the format).
Values that are not plain data stay here in a registry and travel as
``{"__handle__": id, "type": name}``.

``use_reference`` puts a stand-in under the notebook's name: calling it sends
the arguments to the grader as an ``input_request`` on the stdin channel
(prompt: prefix + ``"ref <token>\n"`` + JSON; see
`autograder.remote.RemoteStudent.use_reference`); the grader has the
reference run in its reference worker and answers with an ``input_reply``
(or asks this kernel to call a function passed as an argument, and waits for
the result the same way: prefix + ``"return\n"`` or ``"raise\n"`` + JSON).
Functions passed to a reference travel by name only when they are one of the
grader's pure functions (``pure``); any other stays here as a handle and is
called back here. The reference's code never enters the kernel.

Nothing here is trusted by the grader: a submission can replace or break this
helper, which can only make its own answers wrong or missing. The helper
takes its tools (json, base64, numpy, the builtins it uses) when this source
runs, at install time, before the submission runs, so honest code that
rebinds ``json`` or ``print`` does not disturb it.
"""


import base64
import builtins
import importlib
import json
import sys
import warnings

import numpy as np

# Tools taken now, before the submission runs (module-level names of this private namespace).
b64encode, b64decode = base64.b64encode, base64.b64decode
dumps, loads = json.dumps, json.loads
import_module = importlib.import_module
ndarray, generic, asarray, frombuffer = np.ndarray, np.generic, np.asarray, np.frombuffer
array_equal = np.array_equal
catch_warnings, simplefilter, errstate = warnings.catch_warnings, warnings.simplefilter, np.errstate
isinstance_, type_, str_, len_ = builtins.isinstance, builtins.type, builtins.str, builtins.len
getattr_, callable_ = builtins.getattr, builtins.callable
real_mro = type.__dict__["__mro__"].__get__  # a class's own MRO (a metaclass cannot stand in for it)

MAX_DEPTH, MAX_STR = 32, 1_000_000
MAX_TYPE_NAMES = 64  # classes of a handle's MRO sent
MAX_WARNINGS, WARNING_CHARS, MESSAGE_CHARS = 20, 300, 500
MAX_COLLECTED, COLLECT_DEPTH = 256, 4  # arrays among a call's arguments watched for in-place changes
MAX_EXCHANGES = 100_000  # messages with the grader during one reference call
FRAMEWORK_MODULES = ("torch", "tensorflow", "keras")
SMALL_FLOATS = ("torch.bfloat16", "torch.float8_e4m3fn", "torch.float8_e5m2")  # sent as float32
MISSING = object()
ERRORS = {e.__name__: e for e in (ArithmeticError, AssertionError, AttributeError, FloatingPointError, IndexError,
                                  KeyError, LookupError, MemoryError, NotImplementedError, OverflowError,
                                  RecursionError, RuntimeError, TimeoutError, TypeError, ValueError,
                                  ZeroDivisionError)}


class TooLarge(Exception):
    pass


class Missing(Exception):
    pass


class Reply:
    """What the user expression evaluates to: a mime bundle holding the JSON answer."""

    def __init__(self, text, mime):
        self.text, self.mime = text, mime

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {self.mime: self.text}, {}

    def __repr__(self):
        return "<autograder reply>"


def tensor_classes(modules):
    """{module: (framework, its tensor classes)} for those of `modules` loaded now (the modules' own classes)."""
    found = {}
    with catch_warnings():
        simplefilter("ignore")
        for module in modules:
            mod = sys.modules.get(module)
            try:
                if mod is None:
                    continue
                if module == "torch":
                    found[module] = ("torch", (mod.Tensor,))
                elif module == "tensorflow":
                    found[module] = ("tensorflow", (mod.Tensor, mod.Variable))
                else:  # Keras 3 variables: the backend decides
                    found[module] = ("torch" if mod.config.backend() == "torch" else "tensorflow", (mod.Variable,))
            except Exception:
                pass
    return found


def describe_exception(exc):
    cls = type_(exc)
    try:
        message = str_(exc)[:MESSAGE_CHARS]
    except BaseException:
        message = "<the exception's message could not be read>"
    return {"type": getattr_(cls, "__name__", "?"), "module": getattr_(cls, "__module__", "?"), "message": message}


def write_back(original, new):
    """Apply in place what the reference did to an argument (a config dict it filled, an array it changed)."""
    if isinstance_(original, dict) and isinstance_(new, dict):
        dict.clear(original)
        dict.update(original, new)
    elif isinstance_(original, list) and isinstance_(new, list):
        original[:] = new
    elif isinstance_(original, ndarray) and isinstance_(new, ndarray) and original.shape == new.shape \
            and original.flags.writeable:
        original[...] = new


def collect(x, key, out, depth):
    """Every array in `x` (nested ones too), with its key ("0", "1/W1/0", "kw:params/b") and a copy."""
    if len_(out) >= MAX_COLLECTED or depth > COLLECT_DEPTH:
        return
    if isinstance_(x, ndarray):
        out.append((key, x, x.copy()))
    elif type_(x) in (list, tuple):
        for i, v in enumerate(x):
            collect(v, f"{key}/{i}", out, depth + 1)
    elif type_(x) is dict:
        for k, v in dict.items(x):
            if type_(k) is str_ and "/" not in k:
                collect(v, f"{key}/{k}", out, depth + 1)


class Codec:
    """Values to and from the grader; the objects that stay here, by handle."""

    def __init__(self, max_reply_bytes, dtypes, pure, callable_modules):
        self.max_reply_bytes, self.dtypes = max_reply_bytes, frozenset(dtypes)
        self.pure, self.callable_modules = tuple(pure), frozenset(callable_modules)
        self.registry = {}
        self.handles = {}  # id(obj) -> handle: the same object always travels as the same handle
        self.counter = 0
        # Taken now, before the submission runs (the template preloaded the frameworks); a framework loaded
        # later is taken when first seen. A value's framework is decided by the identity of these classes in
        # the MRO of its type, never by a name (``__module__``, ``__qualname__``) that a class can claim.
        self.known_classes = tensor_classes(FRAMEWORK_MODULES)

    def keep(self, obj):
        handle = self.handles.get(id(obj))
        if handle is None or self.registry.get(handle) is not obj:
            self.counter += 1
            handle = self.counter
            self.registry[handle] = obj
            self.handles[id(obj)] = handle
        names = [f"{getattr_(c, '__module__', '?')}.{getattr_(c, '__qualname__', '?')}" for c in type_(obj).__mro__]
        return {"__handle__": handle, "type": names[0], "mro": names[:MAX_TYPE_NAMES]}

    def encode_array(self, a, framework, scalar=False):
        if a.dtype.name not in self.dtypes:
            return None
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        if not a.flags.c_contiguous:
            a = a.copy(order="C")
        if a.nbytes > self.max_reply_bytes:
            raise TooLarge(f"an array of {a.nbytes} bytes")
        out = {"__ndarray__": b64encode(a.tobytes()).decode("ascii"), "dtype": a.dtype.name, "shape": list(a.shape)}
        if framework != "numpy":
            out["framework"] = framework
        if scalar:
            out["scalar"] = True
        return out

    def framework_of(self, x):
        known = self.known_classes
        if len_(known) < len_(FRAMEWORK_MODULES):
            known.update(tensor_classes([m for m in FRAMEWORK_MODULES if m not in known]))
        mro = real_mro(type_(x))
        for framework, classes in known.values():
            for cls in classes:
                for c in mro:
                    if c is cls:
                        return framework
        return None

    def encode(self, x, depth=0):
        if depth > MAX_DEPTH:
            raise TooLarge("a value nested too deeply")
        t = type_(x)
        if x is None or t is bool or t is int or t is float:
            return x
        if t is str:
            if len_(x) > MAX_STR:
                raise TooLarge(f"a string of {len_(x)} characters")
            return x
        if t is complex:
            return {"__complex__": [x.real, x.imag]}
        if isinstance_(x, generic):
            return self.encode_array(asarray(x), "numpy", scalar=True) or self.keep(x)
        if isinstance_(x, ndarray):
            return self.encode_array(x.view(ndarray), "numpy") or self.keep(x)
        framework = self.framework_of(x)
        if framework == "torch":
            t_ = x.detach().cpu().resolve_conj().resolve_neg()
            if str_(t_.dtype) in SMALL_FLOATS:
                t_ = t_.float()
            return self.encode_array(t_.numpy(), "torch") or self.keep(x)
        if framework == "tensorflow":
            return self.encode_array(asarray(x.numpy()), "tensorflow") or self.keep(x)
        return self.encode_container(x, t, depth)

    def encode_container(self, x, t, depth):
        if isinstance_(x, tuple):
            return {"__tuple__": [self.encode(v, depth + 1) for v in tuple.__iter__(x)]}
        if isinstance_(x, list):
            return [self.encode(v, depth + 1) for v in list.__iter__(x)]
        if isinstance_(x, dict) and all(type_(k) is str for k in dict.keys(x)):
            return {"__dict__": {k: self.encode(v, depth + 1) for k, v in dict.items(x)}}
        if t.__name__ == "TensorShape" and callable_(getattr_(x, "as_list", None)):
            return {"__tuple__": [self.encode(v, depth + 1) for v in x.as_list()]}
        return self.keep(x)

    def callable_marker(self, x):
        """{"__callable__": "numpy.tanh"} when `x` is one of the grader's pure functions, else None."""
        for qualname in self.pure:
            module, _, attr = qualname.rpartition(".")
            mod = sys.modules.get(module)
            if mod is not None and getattr_(mod, attr, None) is x:
                return {"__callable__": qualname}
        return None

    def encode_call_value(self, x, depth=0):
        """Like encode, but functions of allowed modules travel by name (the grader resolves them itself)."""
        if callable_(x) and not isinstance_(x, (ndarray, generic)) and self.framework_of(x) is None:
            marker = self.callable_marker(x)
            if marker is not None:
                return marker
        if depth < MAX_DEPTH and type_(x) in (list, tuple):
            items = [self.encode_call_value(v, depth + 1) for v in x]
            return items if type_(x) is list else {"__tuple__": items}
        return self.encode(x, depth)

    def resolve_callable(self, qualname):
        module, _, attr = qualname.rpartition(".")
        if module not in self.callable_modules or not attr.isidentifier() or attr.startswith("_"):
            raise ValueError(f"callable {qualname!r} is not allowed")
        fn = getattr_(import_module(module), attr)
        if not callable_(fn):
            raise ValueError(f"{qualname!r} is not callable")
        return fn

    def decode(self, x, depth=0):
        if depth > MAX_DEPTH:
            raise ValueError("argument nested too deeply")
        if type_(x) is list:
            return [self.decode(v, depth + 1) for v in x]
        if type_(x) is not dict:
            return x
        if "__ndarray__" in x:
            return self.decode_array(x)
        if "__tuple__" in x:
            return tuple(self.decode(v, depth + 1) for v in x["__tuple__"])
        if "__dict__" in x:
            return {k: self.decode(v, depth + 1) for k, v in x["__dict__"].items()}
        if "__complex__" in x:
            return complex(*x["__complex__"])
        if "__handle__" in x:
            return self.registry[x["__handle__"]]
        if "__callable__" in x:
            return self.resolve_callable(x["__callable__"])
        raise ValueError(f"unknown argument marker {sorted(x)!r}")

    def decode_array(self, x):
        a = frombuffer(b64decode(x["__ndarray__"]), dtype=x["dtype"]).reshape(x["shape"]).copy()
        framework = x.get("framework", "numpy")
        if x.get("scalar"):
            return a[()]
        if framework == "torch":
            return import_module("torch").from_numpy(a)
        if framework == "tensorflow":
            return import_module("tensorflow").constant(a)
        return a


class References:
    """The stand-ins ``use_reference`` puts under the notebook's names, and what they replaced."""

    def __init__(self, shell, codec, prefix):
        self.shell, self.codec, self.prefix = shell, codec, prefix
        kernel = getattr_(shell, "kernel", None)
        self.raw_input = getattr_(kernel, "raw_input", None)  # the stdin channel: how stand-ins ask the grader
        self.replaced = {}

    def ask_grader(self, token, request, args=(), kwargs=None):
        """Send a reference call to the grader over stdin; serve its calls back into this kernel; return the result."""
        if self.raw_input is None:
            raise RuntimeError("the grader's reference functions need an IPython kernel")
        text = f"ref {token}\n" + dumps(request, allow_nan=True)
        for _ in range(MAX_EXCHANGES):
            try:
                reply = loads(self.raw_input(self.prefix + text))
            except EOFError:
                raise RuntimeError("the grader refused this reference call") from None
            kind = reply.get("kind") if type_(reply) is dict else None
            if kind == "result":
                return self.result(reply, args, kwargs)
            if kind == "error":
                error = reply.get("error") or {}
                raise ERRORS.get(error.get("type"), RuntimeError)(str_(error.get("message", "")))
            if kind != "call":
                raise RuntimeError("malformed answer from the grader")
            text = self.call_back(reply)
        raise RuntimeError("too many calls between the grader and this kernel")

    def result(self, reply, args, kwargs):
        """The reference's result, after applying to the arguments what it changed in them."""
        decode = self.codec.decode
        changed = reply.get("changed") or {}
        for key, value in changed.items():
            if key.startswith("kw:") and kwargs and key[3:] in kwargs:
                write_back(kwargs[key[3:]], decode(value))
            elif key.isdigit() and int(key) < len_(args):
                write_back(args[int(key)], decode(value))
        return decode(reply["value"])

    def call_back(self, reply):
        """Call the kernel function the reference called (a g passed to it); the message that answers it."""
        codec = self.codec
        try:
            value = codec.registry[reply["handle"]](*codec.decode(reply["args"]),
                                                    **codec.decode({"__dict__": reply["kwargs"]}))
            return "return\n" + dumps(codec.encode_call_value(value), allow_nan=True)
        except BaseException as exc:
            return "raise\n" + dumps(describe_exception(exc))

    def stand_in(self, name, token):
        """What the notebook sees instead of its `name` while a test grades another exercise on its own."""
        encode = self.codec.encode_call_value
        ask_grader = self.ask_grader

        def reference(*args, **kwargs):
            return ask_grader(token, {"args": [encode(a) for a in args],
                                      "kwargs": {k: encode(v) for k, v in kwargs.items()}}, args, kwargs)

        reference.__name__ = reference.__qualname__ = name
        reference.__doc__ = (f"The reference `{name}`, computed by the grader; "
                             "it answers only during the test that provided it.")
        return reference

    def use(self, name, token):
        self.replaced.setdefault(name, self.shell.user_ns.get(name, MISSING))
        self.shell.user_ns[name] = self.stand_in(name, token)

    def restore(self):
        for name, value in self.replaced.items():
            if value is MISSING:
                self.shell.user_ns.pop(name, None)
            else:
                self.shell.user_ns[name] = value
        self.replaced.clear()


class Helper:
    """The function the grader calls (``<name>(nonce, request)``): one request in, one `Reply` out."""

    def __init__(self, shell, codec, references, mime):
        self.shell, self.codec, self.references, self.mime = shell, codec, references, mime
        self.seen = []  # warnings raised by the last call
        self.changed = {}  # arguments the last call modified in place

    def lookup(self, name):
        value = self.shell.user_ns.get(name, MISSING)
        if value is MISSING:
            raise Missing(name)
        return value

    def handle_request(self, request):
        op = request["op"]
        if op == "ping":
            return "pong"
        if op == "use_reference":
            return self.references.use(request["name"], request["token"])
        if op == "restore":
            return self.references.restore()
        if op == "get":
            return self.lookup(request["name"])
        if op == "getattr":
            return getattr_(self.codec.registry[request["handle"]], request["name"])
        if op == "call":
            return self.call(request)
        raise ValueError(f"unknown operation {op!r}")

    def call(self, request):
        spec, decode = request["target"], self.codec.decode
        fn = self.codec.registry[spec["handle"]] if "handle" in spec else self.lookup(spec["name"])
        args = decode(request.get("args", []))
        kwargs = decode({"__dict__": request.get("kwargs", {})})
        # Warnings go back with the answer, and numpy's floating-point errors
        # warn whatever np.seterr the notebook chose, so a test that forbids
        # overflow warnings judges the call as it would in the kernel.
        before = []  # every array among the arguments, nested ones too, with a copy
        for i, a in enumerate(args):
            collect(a, str_(i), before, 0)
        for k, a in kwargs.items():
            collect(a, "kw:" + k, before, 0)
        with catch_warnings(record=True) as caught, errstate(over="warn", divide="warn", invalid="warn",
                                                             under="ignore"):
            simplefilter("always")
            value = fn(*args, **kwargs)
        self.seen[:] = [{"category": getattr_(w.category, "__name__", "Warning"),
                         "message": str_(w.message)[:WARNING_CHARS]} for w in caught[:MAX_WARNINGS]]
        # Arguments the call modified in place travel back, so that a test's
        # "X is unchanged" check sees what it would see in the kernel.
        self.changed.clear()
        for key, a, copy in before:
            if a.shape != copy.shape or not array_equal(a, copy, equal_nan=True):
                self.changed[key] = self.codec.encode(a)
        return value

    def __call__(self, nonce, text):
        answer = {"nonce": nonce}
        self.seen.clear()
        self.changed.clear()
        try:
            request = loads(text)
            value = self.handle_request(request)
            answer["value"] = self.codec.keep(value) if request.get("keep") else self.codec.encode(value)
            answer["ok"] = True
            if self.seen:
                answer["warnings"] = list(self.seen)
            if self.changed:
                answer["changed"] = dict(self.changed)
        except Missing as exc:
            answer.update(ok=False, missing=str_(exc.args[0]))
        except TooLarge as exc:
            answer.update(ok=False, error={"type": "ReplyTooLarge", "module": "autograder",
                                            "message": f"the result is too large to send to the grader ({exc})"})
        except BaseException as exc:  # a student's SystemExit or KeyboardInterrupt is an answer too
            answer.update(ok=False, error=describe_exception(exc))
        try:
            text = dumps(answer, allow_nan=True)
        except BaseException as exc:
            text = dumps({"nonce": nonce, "ok": False, "error": describe_exception(exc)})
        return Reply(text, self.mime)


def install(shell, name, mime, max_reply_bytes, prefix, pure, dtypes, callable_modules):
    """Put the call helper into ``shell.user_ns[name]`` (hidden from ``%who``)."""
    codec = Codec(max_reply_bytes, dtypes, pure, callable_modules)
    helper = Helper(shell, codec, References(shell, codec, prefix), mime).__call__
    shell.user_ns[name] = helper
    shell.user_ns_hidden[name] = helper
