REPOSITORY = "https://github.com/OWNER/REPOSITORY"
import importlib, importlib.metadata, importlib.util, os, subprocess, sys
if "google.colab" in sys.modules and importlib.util.find_spec("course_utils") is None:
    # On Colab: install the course package alone; every package Colab ships stays as it is.
    class CourseInstallError(RuntimeError):
        def _render_traceback_(self):  # Jupyter shows this paragraph instead of a traceback
            return [str(self)]
    def _versions(names=("numpy", "tensorflow", "tensorflow-cpu", "keras", "torch", "ipywidgets", "matplotlib")):
        found = {}
        for name in names:
            try:
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                found[name] = None
        return found
    _before, _source = _versions(), os.environ.get("COURSE_PIP_SOURCE", f"git+{REPOSITORY}")
    _pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-input",
                           f"dl-foundations-labs @ {_source}"], capture_output=True, text=True)
    if _pip.returncode != 0:
        _said = [l.strip() for l in _pip.stderr.splitlines() if l.strip().startswith(("fatal:", "ERROR:"))]
        _said = _said or _pip.stderr.strip().splitlines()[-1:] or ["no message"]
        raise CourseInstallError(
            f"The course package could not be installed from {_source} (pip: {_said[0]}). "
            "Check that this runtime is connected to the internet (Colab: the Connect button at the top right), "
            "then run this cell again. If it fails again with a connected runtime, the course's repository "
            "address above is wrong or private: tell your instructor, who fixes it and releases the labs again.")
    importlib.invalidate_caches()
    _changed = {k: f"{v} -> {w}" for (k, v), w in zip(_before.items(), _versions().values()) if v != w}
    if _changed:
        raise CourseInstallError(
            f"Installing the course package changed {_changed}, which this runtime had already loaded. "
            "Use Runtime > Disconnect and delete runtime, run the notebook again, and tell your instructor.")
# (end of the Colab install)
