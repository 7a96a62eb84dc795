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

Nothing here is trusted by the grader: a submission can replace or break this
helper, which can only make its own answers wrong or missing. The helper
takes its tools (json, base64, numpy) at install time, before the submission
runs, so honest code that rebinds ``json`` or ``print`` does not disturb it.
"""


def install(shell, name, mime, max_reply_bytes):
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

    def framework_of(x):
        root = (getattr_(type_(x), "__module__", "") or "").partition(".")[0]
        if root == "torch":
            torch = sys.modules.get("torch")
            if torch is not None and isinstance_(x, torch.Tensor):
                return "torch"
        if root in ("tensorflow", "keras", "tf_keras") and callable_(getattr_(x, "numpy", None)) and hasattr(x, "dtype"):
            return "tensorflow"
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

    def use_reference(name, source):
        scope = {"__name__": "__reference__"}
        exec(compile(source, f"<reference {name}>", "exec"), scope)
        if name not in scope:
            raise ValueError(f"the reference source does not define `{name}`")
        replaced.setdefault(name, shell.user_ns.get(name, missing))
        shell.user_ns[name] = scope[name]

    def restore():
        for name, value in replaced.items():
            if value is missing:
                shell.user_ns.pop(name, None)
            else:
                shell.user_ns[name] = value
        replaced.clear()

    def handle_request(request):
        op = request["op"]
        if op == "ping":
            return "pong"
        if op == "use_reference":
            return use_reference(request["name"], request["source"])
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
            arrays = [(str_(i), a) for i, a in enumerate(args) if isinstance_(a, ndarray)]
            arrays += [("kw:" + k, a) for k, a in kwargs.items() if isinstance_(a, ndarray)]
            before = [(key, a, a.copy()) for key, a in arrays]
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
