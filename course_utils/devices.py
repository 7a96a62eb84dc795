"""What PyTorch and TensorFlow can compute on, and which device to use.

Every function here works whether or not torch or TensorFlow is installed:
a missing framework is reported as "not installed", never raised, except by
the torch-specific helpers (`try_gpu`, `torch_device`) which cannot return a
``torch.device`` without torch.

Example
-------
>>> from course_utils import devices
>>> devices.print_report()  # doctest: +SKIP
Python 3.11.7 (Linux-6.1-x86_64), Colab: no
PyTorch 2.13.0: CPU only
TensorFlow 2.21.0: CPU only
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import platform
import sys

__all__ = [
    "DeviceReport",
    "in_colab",
    "import_torch",
    "import_tensorflow",
    "detect",
    "report",
    "print_report",
    "num_gpus",
    "try_gpu",
    "torch_device",
]

FRAMEWORKS = ("torch", "tensorflow")


@dataclasses.dataclass
class DeviceReport:
    """What the running Python and its frameworks can compute on.

    Attributes
    ----------
    python_version : str
        e.g. ``"3.11.7"``.
    platform : str
        ``platform.platform()``, e.g. ``"Linux-6.1.0-x86_64-with-glibc2.36"``.
    in_colab : bool
        True inside Google Colab.
    torch_version : str or None
        None when torch is not installed (or was not asked for).
    torch_devices : list of str
        CUDA devices torch sees, e.g. ``["cuda:0 (NVIDIA H100)"]``; empty on CPU.
    mps_available : bool
        True when torch can use Apple's Metal (MPS) backend.
    tensorflow_version : str or None
        None when TensorFlow is not installed (or was not asked for).
    tensorflow_gpus : list of str
        GPUs TensorFlow sees, e.g. ``["GPU:0 (NVIDIA H100)"]``; empty on CPU.
    import_errors : dict of str to str
        Framework name -> error, for a framework that is installed but whose
        import failed (a broken install is reported, not raised).
    """

    python_version: str
    platform: str
    in_colab: bool
    torch_version: str | None = None
    torch_devices: list[str] = dataclasses.field(default_factory=list)
    mps_available: bool = False
    tensorflow_version: str | None = None
    tensorflow_gpus: list[str] = dataclasses.field(default_factory=list)
    import_errors: dict[str, str] = dataclasses.field(default_factory=dict)


def in_colab() -> bool:
    """Return True when running inside Google Colab."""
    # Colab sets COLAB_RELEASE_TAG in every runtime; google.colab is imported
    # by its kernel. Neither check imports anything.
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def _import_or_none(name: str, errors: dict[str, str] | None = None):
    """Import module `name`; None when it is missing or its import fails."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        # A blocked module (sys.modules[name] = None) or an absent one is
        # "not installed"; a broken dependency inside it is an error to show.
        missing = isinstance(exc, ModuleNotFoundError) and exc.name in (name, None)
        if not missing and errors is not None:
            errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    except Exception as exc:  # broken installs raise anything (OSError, ...)
        if errors is not None:
            errors[name] = f"{type(exc).__name__}: {exc}"
        return None


def import_torch():
    """Import and return the ``torch`` module, or None when it is not installed."""
    return _import_or_none("torch")


def _silence_tensorflow_loggers() -> None:
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def import_tensorflow():
    """Import TensorFlow without writing to stderr; None when it is not installed.

    TensorFlow >= 2.18 logs through absl before its log level is read, so
    even with ``TF_CPP_MIN_LOG_LEVEL=3`` ``import tensorflow`` prints
    "oneDNN custom operations are on ..." to stderr, and a graded cell that
    writes to stderr scores 0. This function sets ``TF_CPP_MIN_LOG_LEVEL=3``
    (unless already set), silences TensorFlow's Python logger and discards
    file descriptor 2 for the duration of the first import. Call it (or
    `print_report`) before a notebook's own ``import tensorflow``, which then
    reuses the module already loaded.

    Returns
    -------
    module or None
        The ``tensorflow`` module.
    """
    return _import_tensorflow()


def _import_tensorflow(errors: dict[str, str] | None = None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _silence_tensorflow_loggers()
    if sys.modules.get("tensorflow") is not None:
        return sys.modules["tensorflow"]
    if "tensorflow" in sys.modules:  # blocked with sys.modules["tensorflow"] = None
        return None
    tf = _with_stderr_discarded(_import_or_none, "tensorflow", errors)
    if tf is not None:
        _silence_tensorflow_loggers()
        tf.get_logger().setLevel(logging.ERROR)
    return tf


def _with_stderr_discarded(fn, *args):
    """Call fn(*args) with file descriptor 2 pointed at os.devnull."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (some embedded runtimes)
        return fn(*args)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        return fn(*args)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _torch_devices(torch) -> list[str]:
    if not torch.cuda.is_available():
        return []
    return [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _tensorflow_gpus(tf) -> list[str]:
    gpus = []
    for i, gpu in enumerate(tf.config.list_physical_devices("GPU")):
        try:
            name = tf.config.experimental.get_device_details(gpu).get("device_name", "")
        except Exception:  # details are optional and driver dependent
            name = ""
        gpus.append(f"GPU:{i} ({name})" if name else f"GPU:{i}")
    return gpus


def detect(frameworks=FRAMEWORKS) -> DeviceReport:
    """Find out what each framework is and what it can compute on.

    Importing a framework that is not imported yet takes seconds
    (TensorFlow about 5 s); pass ``frameworks=("torch",)`` in a lab that
    only uses torch.

    Parameters
    ----------
    frameworks : iterable of str
        Any of ``"torch"`` and ``"tensorflow"``.

    Returns
    -------
    DeviceReport
    """
    frameworks = tuple(frameworks)
    unknown = set(frameworks) - set(FRAMEWORKS)
    if unknown:
        raise ValueError(f"unknown framework(s) {sorted(unknown)}; choose from {FRAMEWORKS}")
    result = DeviceReport(
        python_version=platform.python_version(),
        platform=platform.platform(terse=True),
        in_colab=in_colab(),
    )
    if "torch" in frameworks:
        torch = _import_or_none("torch", result.import_errors)
        if torch is not None:
            result.torch_version = torch.__version__
            result.torch_devices = _torch_devices(torch)
            result.mps_available = _mps_available(torch)
    if "tensorflow" in frameworks:
        tf = _import_tensorflow(result.import_errors)
        if tf is not None:
            result.tensorflow_version = tf.__version__
            result.tensorflow_gpus = _tensorflow_gpus(tf)
    return result


def _describe(name, version, accelerators, error) -> str:
    if error:
        return f"{name}: installed but failed to import ({error})"
    if version is None:
        return f"{name}: not installed"
    return f"{name} {version}: " + (", ".join(accelerators) if accelerators else "CPU only")


def report(frameworks=FRAMEWORKS) -> str:
    """Return a readable multi-line report of Python, Colab and each framework.

    Parameters
    ----------
    frameworks : iterable of str
        As in `detect`.

    Returns
    -------
    str
        One line for Python, then one per framework: its version and the
        accelerators it sees, "CPU only" when none, "not installed" when
        missing.
    """
    frameworks = tuple(frameworks)
    r = detect(frameworks)
    lines = [f"Python {r.python_version} ({r.platform}), Colab: {'yes' if r.in_colab else 'no'}"]
    if "torch" in frameworks:
        accelerators = list(r.torch_devices) + (["mps (Apple GPU)"] if r.mps_available else [])
        lines.append(_describe("PyTorch", r.torch_version, accelerators, r.import_errors.get("torch")))
    if "tensorflow" in frameworks:
        lines.append(
            _describe("TensorFlow", r.tensorflow_version, r.tensorflow_gpus, r.import_errors.get("tensorflow"))
        )
    return "\n".join(lines)


def print_report(frameworks=FRAMEWORKS) -> None:
    """Print `report` (to stdout)."""
    print(report(frameworks))


def num_gpus() -> int:
    """Return the number of CUDA GPUs torch sees (0 without torch)."""
    torch = import_torch()
    return torch.cuda.device_count() if torch is not None and torch.cuda.is_available() else 0


def _require_torch():
    torch = import_torch()
    if torch is None:
        raise ModuleNotFoundError(
            "PyTorch is not installed: run `pip install torch` (or `pip install -e .[torch]` in a checkout)",
            name="torch",
        )
    return torch


def try_gpu(i: int = 0):
    """Return ``torch.device(f"cuda:{i}")`` if that GPU exists, else the CPU.

    The fallback is silent on purpose: a warning would go to stderr, and a
    notebook cell that writes to stderr fails grading. Use `report` to show
    the student what was found.

    Raises
    ------
    ModuleNotFoundError
        When torch is not installed.
    """
    torch = _require_torch()
    if num_gpus() > i:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def torch_device():
    """Return the best torch device available: CUDA, then Apple MPS, then CPU.

    Raises
    ------
    ModuleNotFoundError
        When torch is not installed.
    """
    torch = _require_torch()
    if num_gpus() > 0:
        return torch.device("cuda:0")
    if _mps_available(torch):
        return torch.device("mps")
    return torch.device("cpu")
