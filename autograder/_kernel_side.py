"""The helper the grader injects into a student's kernel (runs there, never in the grader).

`autograder.remote` sends this file's source to the kernel, where it is
executed in a private namespace and `install` puts one function, under a
random name, into the notebook's namespace. The grader then evaluates
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
takes its tools (json, base64, numpy) at install time, before the submission
runs, so honest code that rebinds ``json`` or ``print`` does not disturb it.
"""


def install(shell, name, mime, max_reply_bytes, prefix="\x00autograder-reference:", pure=()):
    """Put the call helper into ``shell.user_ns[name]`` (hidden from ``%who``)."""
    import base64
    import builtins
    import importlib
    import json
    import sys
    import warnings

    import numpy as np

    b64encode, b64decode = base64.b64encode, base64.b64decode
    dumps, loads = json.dumps, json.loads
    import_module = importlib.import_module
    ndarray, generic, asarray, frombuffer = np.ndarray, np.generic, np.asarray, np.frombuffer
    array_equal = np.array_equal
    catch_warnings, simplefilter, errstate = warnings.catch_warnings, warnings.simplefilter, np.errstate
    isinstance_, type_, str_, len_ = builtins.isinstance, builtins.type, builtins.str, builtins.len
    getattr_, callable_ = builtins.getattr, builtins.callable
    kernel = getattr_(shell, "kernel", None)
    raw_input = getattr_(kernel, "raw_input", None)  # the stdin channel: how stand-ins ask the grader

    dtypes = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64", "complex64", "complex128"}
    callable_modules = {"numpy", "math", "builtins", "torch", "torch.nn", "torch.nn.functional",
                        "tensorflow", "tensorflow.math", "tensorflow.nn", "keras.activations", "keras.ops"}
    max_depth, max_str = 32, 1_000_000
    registry = {}
    handles = {}  # id(obj) -> handle: the same object always travels as the same handle
    counter = [0]

    class TooLarge(Exception):
        pass

    class Missing(Exception):
        pass

    class Reply:
        """What the user expression evaluates to: a mime bundle holding the JSON answer."""

        def __init__(self, text):
            self.text = text

        def _repr_mimebundle_(self, include=None, exclude=None):
            return {mime: self.text}, {}

        def __repr__(self):
            return "<autograder reply>"

    def keep(obj):
        handle = handles.get(id(obj))
        if handle is None or registry.get(handle) is not obj:
            counter[0] += 1
            handle = counter[0]
            registry[handle] = obj
            handles[id(obj)] = handle
        names = [f"{getattr_(c, '__module__', '?')}.{getattr_(c, '__qualname__', '?')}" for c in type_(obj).__mro__]
        return {"__handle__": handle, "type": names[0], "mro": names[:64]}

    def encode_array(a, framework, scalar=False):
        if a.dtype.name not in dtypes:
            return None
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        if not a.flags.c_contiguous:
            a = a.copy(order="C")
        if a.nbytes > max_reply_bytes:
            raise TooLarge(f"an array of {a.nbytes} bytes")
        out = {"__ndarray__": b64encode(a.tobytes()).decode("ascii"), "dtype": a.dtype.name, "shape": list(a.shape)}
        if framework != "numpy":
            out["framework"] = framework
        if scalar:
            out["scalar"] = True
        return out

    real_mro = type.__dict__["__mro__"].__get__  # a class's own MRO (a metaclass cannot stand in for it)

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

    # Taken now, before the submission runs (the template preloaded the frameworks); a framework loaded
    # later is taken when first seen. A value's framework is decided by the identity of these classes in
    # the MRO of its type, never by a name (``__module__``, ``__qualname__``) that a class can claim.
    known_classes = tensor_classes(("torch", "tensorflow", "keras"))

    def framework_of(x):
        if len_(known_classes) < 3:
            known_classes.update(tensor_classes([m for m in ("torch", "tensorflow", "keras")
                                                 if m not in known_classes]))
        mro = real_mro(type_(x))
        for framework, classes in known_classes.values():
            for cls in classes:
                for c in mro:
                    if c is cls:
                        return framework
        return None

    def encode(x, depth=0):
        if depth > max_depth:
            raise TooLarge("a value nested too deeply")
        t = type_(x)
        if x is None or t is bool or t is int or t is float:
            return x
        if t is str:
            if len_(x) > max_str:
                raise TooLarge(f"a string of {len_(x)} characters")
            return x
        if t is complex:
            return {"__complex__": [x.real, x.imag]}
        if isinstance_(x, generic):
            return encode_array(asarray(x), "numpy", scalar=True) or keep(x)
        if isinstance_(x, ndarray):
            return encode_array(x.view(ndarray), "numpy") or keep(x)
        framework = framework_of(x)
        if framework == "torch":
            t_ = x.detach().cpu().resolve_conj().resolve_neg()
            if str_(t_.dtype) in ("torch.bfloat16", "torch.float8_e4m3fn", "torch.float8_e5m2"):
                t_ = t_.float()
            return encode_array(t_.numpy(), "torch") or keep(x)
        if framework == "tensorflow":
            return encode_array(asarray(x.numpy()), "tensorflow") or keep(x)
        if isinstance_(x, tuple):
            return {"__tuple__": [encode(v, depth + 1) for v in tuple.__iter__(x)]}
        if isinstance_(x, list):
            return [encode(v, depth + 1) for v in list.__iter__(x)]
        if isinstance_(x, dict) and all(type_(k) is str for k in dict.keys(x)):
            return {"__dict__": {k: encode(v, depth + 1) for k, v in dict.items(x)}}
        if t.__name__ == "TensorShape" and callable_(getattr_(x, "as_list", None)):
            return {"__tuple__": [encode(v, depth + 1) for v in x.as_list()]}
        return keep(x)

    def callable_marker(x):
        """{"__callable__": "numpy.tanh"} when `x` is one of the grader's pure functions, else None."""
        for qualname in pure:
            module, _, attr = qualname.rpartition(".")
            mod = sys.modules.get(module)
            if mod is not None and getattr_(mod, attr, None) is x:
                return {"__callable__": qualname}
        return None

    def encode_call_value(x, depth=0):
        """Like encode, but functions of allowed modules travel by name (the grader resolves them itself)."""
        if callable_(x) and not isinstance_(x, (ndarray, generic)) and framework_of(x) is None:
            marker = callable_marker(x)
            if marker is not None:
                return marker
        if depth < max_depth and type_(x) in (list, tuple):
            items = [encode_call_value(v, depth + 1) for v in x]
            return items if type_(x) is list else {"__tuple__": items}
        return encode(x, depth)

    def resolve_callable(qualname):
        module, _, attr = qualname.rpartition(".")
        if module not in callable_modules or not attr.isidentifier() or attr.startswith("_"):
            raise ValueError(f"callable {qualname!r} is not allowed")
        fn = getattr_(import_module(module), attr)
        if not callable_(fn):
            raise ValueError(f"{qualname!r} is not callable")
        return fn

    def decode(x, depth=0):
        if depth > max_depth:
            raise ValueError("argument nested too deeply")
        if type_(x) is list:
            return [decode(v, depth + 1) for v in x]
        if type_(x) is not dict:
            return x
        if "__ndarray__" in x:
            a = frombuffer(b64decode(x["__ndarray__"]), dtype=x["dtype"]).reshape(x["shape"]).copy()
            framework = x.get("framework", "numpy")
            if x.get("scalar"):
                return a[()]
            if framework == "torch":
                return import_module("torch").from_numpy(a)
            if framework == "tensorflow":
                return import_module("tensorflow").constant(a)
            return a
        if "__tuple__" in x:
            return tuple(decode(v, depth + 1) for v in x["__tuple__"])
        if "__dict__" in x:
            return {k: decode(v, depth + 1) for k, v in x["__dict__"].items()}
        if "__complex__" in x:
            return complex(*x["__complex__"])
        if "__handle__" in x:
            return registry[x["__handle__"]]
        if "__callable__" in x:
            return resolve_callable(x["__callable__"])
        raise ValueError(f"unknown argument marker {sorted(x)!r}")

    def describe_exception(exc):
        cls = type_(exc)
        try:
            message = str_(exc)[:500]
        except BaseException:
            message = "<the exception's message could not be read>"
        return {"type": getattr_(cls, "__name__", "?"), "module": getattr_(cls, "__module__", "?"), "message": message}

    def target(spec):
        if "handle" in spec:
            return registry[spec["handle"]]
        return lookup(spec["name"])

    missing = object()

    def lookup(name):
        value = shell.user_ns.get(name, missing)
        if value is missing:
            raise Missing(name)
        return value

    replaced = {}

    errors = {e.__name__: e for e in (ArithmeticError, AssertionError, AttributeError, FloatingPointError, IndexError,
                                      KeyError, LookupError, MemoryError, NotImplementedError, OverflowError,
                                      RecursionError, RuntimeError, TimeoutError, TypeError, ValueError,
                                      ZeroDivisionError)}

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

    def ask_grader(token, request, args=(), kwargs=None):
        """Send a reference call to the grader over stdin; serve its calls back into this kernel; return the result."""
        if raw_input is None:
            raise RuntimeError("the grader's reference functions need an IPython kernel")
        text = f"ref {token}\n" + dumps(request, allow_nan=True)
        for _ in range(100_000):
            try:
                reply = loads(raw_input(prefix + text))
            except EOFError:
                raise RuntimeError("the grader refused this reference call") from None
            kind = reply.get("kind") if type_(reply) is dict else None
            if kind == "result":
                changed = reply.get("changed") or {}
                for key, value in changed.items():
                    if key.startswith("kw:") and kwargs and key[3:] in kwargs:
                        write_back(kwargs[key[3:]], decode(value))
                    elif key.isdigit() and int(key) < len_(args):
                        write_back(args[int(key)], decode(value))
                return decode(reply["value"])
            if kind == "error":
                error = reply.get("error") or {}
                raise errors.get(error.get("type"), RuntimeError)(str_(error.get("message", "")))
            if kind != "call":
                raise RuntimeError("malformed answer from the grader")
            try:  # the reference called one of this kernel's functions (a g passed to it)
                value = registry[reply["handle"]](*decode(reply["args"]), **decode({"__dict__": reply["kwargs"]}))
                text = "return\n" + dumps(encode_call_value(value), allow_nan=True)
            except BaseException as exc:
                text = "raise\n" + dumps(describe_exception(exc))
        raise RuntimeError("too many calls between the grader and this kernel")

    def stand_in(name, token):
        """What the notebook sees instead of its `name` while a test grades another exercise on its own."""
        def reference(*args, **kwargs):
            return ask_grader(token, {"args": [encode_call_value(a) for a in args],
                                      "kwargs": {k: encode_call_value(v) for k, v in kwargs.items()}}, args, kwargs)

        reference.__name__ = reference.__qualname__ = name
        reference.__doc__ = (f"The reference `{name}`, computed by the grader; "
                             "it answers only during the test that provided it.")
        return reference

    def use_reference(name, token):
        replaced.setdefault(name, shell.user_ns.get(name, missing))
        shell.user_ns[name] = stand_in(name, token)

    def restore():
        for name, value in replaced.items():
            if value is missing:
                shell.user_ns.pop(name, None)
            else:
                shell.user_ns[name] = value
        replaced.clear()

    def collect(x, key, out, depth):
        if len_(out) >= 256 or depth > 4:
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

    def handle_request(request):
        op = request["op"]
        if op == "ping":
            return "pong"
        if op == "use_reference":
            return use_reference(request["name"], request["token"])
        if op == "restore":
            return restore()
        if op == "get":
            return lookup(request["name"])
        if op == "getattr":
            return getattr_(registry[request["handle"]], request["name"])
        if op == "call":
            fn = target(request["target"])
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
            seen[:] = [{"category": getattr_(w.category, "__name__", "Warning"), "message": str_(w.message)[:300]}
                       for w in caught[:20]]
            # Arguments the call modified in place travel back, so that a test's
            # "X is unchanged" check sees what it would see in the kernel.
            changed.clear()
            for key, a, copy in before:
                if a.shape != copy.shape or not array_equal(a, copy, equal_nan=True):
                    changed[key] = encode(a)
            return value
        raise ValueError(f"unknown operation {op!r}")

    seen = []  # warnings raised by the last call
    changed = {}  # arguments the last call modified in place

    def helper(nonce, text):
        answer = {"nonce": nonce}
        seen.clear()
        changed.clear()
        try:
            request = loads(text)
            value = handle_request(request)
            answer["value"] = keep(value) if request.get("keep") else encode(value)
            answer["ok"] = True
            if seen:
                answer["warnings"] = list(seen)
            if changed:
                answer["changed"] = dict(changed)
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
        return Reply(text)

    shell.user_ns[name] = helper
    shell.user_ns_hidden[name] = helper
