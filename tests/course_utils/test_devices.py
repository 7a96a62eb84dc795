import importlib
import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from course_utils import devices

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_report_without_frameworks(block):
    """With neither torch nor TensorFlow installed, does the report say so instead of crashing?"""
    block("torch", "tensorflow")
    found = devices.detect()
    assert found.torch_version is None and found.torch_devices == [] and not found.mps_available
    assert found.tensorflow_version is None and found.tensorflow_gpus == []
    assert found.import_errors == {}
    lines = devices.report().splitlines()
    assert lines[0].startswith(f"Python {found.python_version}")
    assert lines[1:] == ["PyTorch: not installed", "TensorFlow: not installed"]


def test_num_gpus_without_torch(block):
    """Is a missing torch zero GPUs, and does try_gpu say how to install torch?"""
    block("torch")
    assert devices.num_gpus() == 0
    with pytest.raises(ModuleNotFoundError, match="pip install torch"):
        devices.try_gpu()
    with pytest.raises(ModuleNotFoundError, match="pip install torch"):
        devices.torch_device()


def test_broken_install_is_reported(monkeypatch):
    """Does a framework whose import fails (not a missing one) show the error in the report?"""
    real_import = importlib.import_module

    def failing_import(name, *args):
        if name == "torch":
            raise OSError("libcudart.so.12: cannot open shared object file")
        return real_import(name, *args)

    monkeypatch.setattr(devices.importlib, "import_module", failing_import)
    text = devices.report(frameworks=("torch",))
    assert "PyTorch: installed but failed to import (OSError: libcudart.so.12" in text


def test_unknown_framework():
    """Is a misspelt framework name rejected with the valid choices?"""
    with pytest.raises(ValueError, match="jax"):
        devices.detect(frameworks=("torch", "jax"))


def test_cpu_only_torch(torch, monkeypatch):
    """On a machine without accelerators, is torch reported as "CPU only" and the CPU chosen?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert devices.report(frameworks=("torch",)).splitlines()[1] == f"PyTorch {torch.__version__}: CPU only"
    assert devices.num_gpus() == 0
    assert devices.torch_device() == torch.device("cpu")


def test_try_gpu_falls_back_silently(torch, monkeypatch, capfd):
    """Without a GPU, does try_gpu return the CPU without any warning or stderr output?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.try_gpu() == torch.device("cpu")
        assert devices.try_gpu(3) == torch.device("cpu")
    assert capfd.readouterr().err == ""


@pytest.fixture
def fake_cuda(torch, monkeypatch):
    """torch believes it has two NVIDIA H100s."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H100 80GB HBM3")
    return torch


def test_fake_cuda(fake_cuda):
    """With two CUDA GPUs, are both listed by name and is cuda:0 preferred?"""
    torch = fake_cuda
    found = devices.detect(frameworks=("torch",))
    assert found.torch_devices == ["cuda:0 (NVIDIA H100 80GB HBM3)", "cuda:1 (NVIDIA H100 80GB HBM3)"]
    assert "cuda:0 (NVIDIA H100 80GB HBM3), cuda:1 (NVIDIA H100 80GB HBM3)" in devices.report(("torch",))
    assert devices.num_gpus() == 2
    assert devices.try_gpu() == torch.device("cuda:0")
    assert devices.try_gpu(1) == torch.device("cuda:1")
    assert devices.try_gpu(2) == torch.device("cpu")
    assert devices.torch_device() == torch.device("cuda:0")


def test_fake_mps(torch, monkeypatch):
    """On an Apple-silicon Mac (MPS, no CUDA), is MPS reported and chosen over the CPU?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.detect(("torch",)).mps_available
    assert "mps (Apple GPU)" in devices.report(("torch",))
    assert devices.torch_device() == torch.device("mps")


def test_in_colab(monkeypatch):
    """Is Colab recognised by its environment variable, and a plain machine not?"""
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert devices.in_colab() is False
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20250101-060000_RC00")
    assert devices.in_colab() is True
    assert "Colab: yes" in devices.report(frameworks=())


def test_tensorflow_import_is_silent(tf_import):
    """Does importing TensorFlow through course_utils write nothing to stderr (which fails a graded cell)?"""
    if not tf_import.fresh:
        pytest.skip("TensorFlow was imported before this session's fixture")
    assert tf_import.stderr == ""


def test_tensorflow_report(tf, capfd):
    """Is TensorFlow's version and GPU list reported, with no stderr output?"""
    found = devices.detect(frameworks=("tensorflow",))
    assert found.tensorflow_version == tf.__version__
    assert len(found.tensorflow_gpus) == len(tf.config.list_physical_devices("GPU"))
    devices.print_report(frameworks=("tensorflow",))
    out, err = capfd.readouterr()
    assert err == ""
    if not found.tensorflow_gpus:
        assert f"TensorFlow {tf.__version__}: CPU only" in out


def test_tensorflow_fake_gpu(tf, monkeypatch):
    """When TensorFlow sees a GPU, is it listed with its name?"""
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda d: {"device_name": "NVIDIA H100"})
    assert devices.detect(frameworks=("tensorflow",)).tensorflow_gpus == ["GPU:0 (NVIDIA H100)"]


def test_import_without_frameworks_is_fast_and_lazy():
    """With torch and TensorFlow unimportable, do the modules import quickly without loading either?

    `import course_utils` may load the standard library and numpy, nothing else; what it costs on top
    of numpy (imported first: a third-party cost that the disk cache and the machine's load decide) is
    timed. Timing numpy as well measured the load: 0.4-0.5 s on a busy 2-core machine.
    """
    code = textwrap.dedent(
        """
        import json, sys, time
        sys.modules["torch"] = None
        sys.modules["tensorflow"] = None
        import numpy
        before = set(sys.modules)
        start = time.perf_counter()
        import course_utils
        elapsed = time.perf_counter() - start
        extra = sorted({m.split(".")[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names) - {"numpy"})
        import course_utils.checks, course_utils.plotting, course_utils.data
        import course_utils.devices, course_utils.seed
        course_utils.set_seed(0)
        print(course_utils.devices.report())
        loaded = [m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras") and sys.modules[m]]
        print(json.dumps([elapsed, extra, loaded]))
        """
    )
    env = {**os.environ, "PYTHONPATH": REPO}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    *report, last = done.stdout.strip().splitlines()
    elapsed, extra, loaded = json.loads(last)
    assert extra == ["course_utils"], f"import course_utils loaded more than numpy: {extra}"
    assert loaded == []
    assert report[1:] == ["PyTorch: not installed", "TensorFlow: not installed"]
    assert elapsed < 0.3


def test_plain_import_loads_no_plotting():
    """Does `import course_utils` leave matplotlib and ipywidgets unloaded until needed?"""
    code = "import sys, course_utils; print(sorted(m for m in ('matplotlib', 'ipywidgets', 'IPython') if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": REPO}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
