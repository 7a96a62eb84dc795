"""The sandbox: what a submission's kernel can see, write and reach, its limits, and that nothing outlives it."""
from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest

from autograder.sandbox import ROOT, KernelDied, Limits, Sandbox, confinement_available, confinement_mode, preload_for

CONFINED, WHY = confinement_available()
MODE = confinement_mode()[0]  # "root": the kernel is nobody, cgroups; "user": a user namespace, rlimits
needs_confinement = pytest.mark.skipif(not CONFINED, reason=f"no confinement here: {WHY}")


def evaluate(sandbox, expression, code=""):
    """Run `code`, then return the text/plain repr of `expression` evaluated in the kernel."""
    result = sandbox.execute(code, timeout=20, user_expressions={"v": expression})
    entry = result.user_expressions["v"]
    assert entry["status"] == "ok", entry
    return entry["data"]["text/plain"]


PROBE = '''
import os
def probe(path):
    """What the kernel gets when it opens `path`: its first bytes or the error's name."""
    try:
        with open(path, "rb") as f:
            return f.read(20)
    except Exception as exc:
        return type(exc).__name__

def write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except Exception as exc:
        return type(exc).__name__
'''


@pytest.fixture(scope="module")
def fake_course(tmp_path_factory):
    """A course directory with a gradebook and another student's submission, outside the repository."""
    course = tmp_path_factory.mktemp("course")
    (course / "gradebook.db").write_bytes(b"SQLite format 3\x00 secret grades")
    other = course / "submitted" / "bob" / "lab"
    other.mkdir(parents=True)
    (other / "lab.ipynb").write_text('{"secret": "bob\'s answers"}')
    return course


@pytest.fixture(scope="module")
def sandbox(fake_course):
    """One confined kernel for the read/write/network probes (hiding the fake course, a file and a folder)."""
    import pytest as pytest_package

    hide = [fake_course, Path("/etc/os-release"), Path(pytest_package.__file__).parent]
    with Sandbox({"submission.ipynb": b"{}", "data.csv": b"a,b\n1,2\n"}, limits=Limits(), hide=hide) as box:
        assert box.execute(PROBE, timeout=20).status == "ok"
        yield box


@needs_confinement
def test_protections_are_reported(sandbox):
    """Does the sandbox say which protections are active: namespaces, uid nobody, memory and task limits?"""
    p = sandbox.protections
    assert p["confined"] is True and p["seccomp"] is True
    assert p["uid"] == 65534 if MODE == "root" else "no capabilities" in p["uid"]
    assert set(p["namespaces"]) >= {"mount", "network", "pid"}
    assert p["memory"] and p["processes"]


@needs_confinement
def test_kernel_runs_as_nobody_in_its_own_directory(sandbox):
    """Is the kernel uid nobody, PID 1 of its namespace, in a directory holding only the files it was given?"""
    who = "(65534, 65534, [], 1)" if MODE == "root" else "(0, 0, [], 1)"  # as a user: root of its own namespace
    assert evaluate(sandbox, "(os.getuid(), os.getgid(), os.getgroups(), os.getpid())") == who
    assert evaluate(sandbox, "open('/proc/self/status').read().split('CapEff:')[1].split()[0]") == "'0000000000000000'"
    assert evaluate(sandbox, "sorted(os.listdir('.'))") == "['data.csv', 'submission.ipynb']"
    assert evaluate(sandbox, "len([p for p in os.listdir('/proc') if p.isdigit()]) < 5") == "True"


@needs_confinement
@pytest.mark.parametrize("path", [
    ROOT / "tests" / "files" / "fixture_lab.py",  # stands for the hidden tests kept in the repository
    ROOT / "autograder" / "grading.py",
    ROOT / ".git" / "HEAD",
    ROOT / "solutions" / "01_perceptron" / "01_perceptron.ipynb",
])
def test_repository_secrets_are_invisible(sandbox, path):
    """Can the kernel read the solutions, the tests, the grader or git history of the repository? (It must not.)"""
    assert evaluate(sandbox, f"probe({str(path)!r})") == "'FileNotFoundError'"


@needs_confinement
def test_hidden_paths_are_invisible(sandbox, fake_course):
    """Are the gradebook, other submissions and every path the caller listed hidden (empty folder, empty file)?"""
    assert evaluate(sandbox, f"probe({str(fake_course / 'gradebook.db')!r})") == "'FileNotFoundError'"
    assert evaluate(sandbox, f"probe({str(fake_course / 'submitted/bob/lab/lab.ipynb')!r})") == "'FileNotFoundError'"
    assert evaluate(sandbox, "probe('/etc/os-release')") == "b''"  # allowed, then hidden by the caller
    assert evaluate(sandbox, "probe('/etc/hostname')") == "'FileNotFoundError'"  # never in the allow-list
    import pytest as pytest_package

    assert evaluate(sandbox, f"os.listdir({str(Path(pytest_package.__file__).parent)!r})") == "[]"
    assert evaluate(sandbox, "__import__('course_utils.checks').checks.__name__") == "'course_utils.checks'"


@needs_confinement
def test_kernel_cannot_write_outside_its_directory(sandbox, tmp_path):
    """Can the kernel write into the repository, /etc or the host's /tmp? (Only its own, private /tmp.)"""
    assert evaluate(sandbox, f"write({str(ROOT / 'course_utils' / 'pwned.py')!r})") in ("'PermissionError'",
                                                                                        "'OSError'")
    assert evaluate(sandbox, "write('/etc/pwned')") in ("'PermissionError'", "'OSError'")  # EROFS
    assert evaluate(sandbox, f"write({str(tmp_path / 'pwned')!r})") in ("'FileNotFoundError'", "'PermissionError'")
    assert evaluate(sandbox, "write('notes.txt')") == "'written'"
    assert not (ROOT / "course_utils" / "pwned.py").exists() and not (tmp_path / "pwned").exists()


@needs_confinement
def test_kernel_has_no_network(sandbox):
    """Can the kernel connect to a server listening on the host's loopback? (No network namespace access.)"""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        got = evaluate(sandbox, f"__import__('socket').create_connection(('127.0.0.1', {port}), timeout=2)",
                       code="import socket")
    except AssertionError as exc:
        got = str(exc)
    finally:
        server.close()
    assert "ConnectionRefusedError" in got or "OSError" in got or "unreachable" in got


@needs_confinement
def test_no_process_outlives_grading():
    """Is a daemon (setsid + double fork, sleeping) started by the submission gone once the sandbox closes?"""
    marker = f"agmarker-{uuid.uuid4().hex}"
    # The grandchild, once it has left the session, runs with "<marker>-daemon" in its command line.
    daemon = ("import os, sys\nif os.fork() == 0:\n    os.setsid()\n    os.execv(sys.executable, "
              "[sys.executable, '-c', 'import time; time.sleep(1000)', sys.argv[1] + '-daemon'])\n")
    code = (f"import subprocess, sys\n"
            f"subprocess.Popen([sys.executable, '-c', {daemon!r}, {marker!r}], start_new_session=True)\n")
    with Sandbox({}) as box:
        assert box.execute(code, timeout=20).status == "ok"
        deadline = time.monotonic() + 30
        while not _processes_with(f"{marker}-daemon") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_with(f"{marker}-daemon"), "the daemon should be running while the sandbox is open"
    assert not _processes_with(marker)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@needs_confinement
def test_memory_bomb_is_killed_by_the_limit():
    """Does allocating far past the memory limit kill the kernel, with a reason naming the limit (a cgroup as root,
    the grader's memory watch when the grader is not root)?"""
    with Sandbox({}, limits=Limits(memory_mb=300)) as box:
        with pytest.raises(KernelDied, match=r"out of memory.*limit 300 MB"):
            box.execute("blocks = []\nwhile True:\n    blocks.append(bytearray(50 << 20))", timeout=60)


@needs_confinement
def test_fork_storm_is_bounded():
    """Does a fork loop stop at the process limit instead of taking the machine down?"""
    code = ("import os, time\nchildren = 0\nfor _ in range(500):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n"
            "    children += 1\n")
    with Sandbox({}, limits=Limits(processes=40)) as box:
        assert int(evaluate(box, "children", code)) < 40


def test_infinite_loop_is_interrupted_and_the_kernel_survives():
    """Is a cell that never ends stopped at its time limit, leaving the kernel usable?"""
    with Sandbox({}) as box:
        start = time.monotonic()
        result = box.execute("while True:\n    pass", timeout=2)
        assert result.status == "timeout" and time.monotonic() - start < 8
        assert evaluate(box, "1 + 1") == "2"


def test_uninterruptible_cell_is_killed():
    """Is a cell that ignores SIGINT killed after the grace period, reported as a dead kernel?"""
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)"
    with Sandbox({}, limits=Limits(interrupt_grace_s=1)) as box:
        start = time.monotonic()
        with pytest.raises(KernelDied, match="even when interrupted"):
            box.execute(code, timeout=1)
        assert time.monotonic() - start < 8 and not box.alive()


def test_file_size_limit():
    """Does writing a file larger than the limit fail inside the kernel?"""
    with Sandbox({}, limits=Limits(file_size_mb=1)) as box:
        result = box.execute("open('big', 'wb').write(b'x' * (4 << 20))", timeout=20)
        assert result.status == "error" and "too large" in result.evalue.lower()


def test_fallback_without_confinement_still_runs_in_a_temp_dir():
    """Without namespaces (confine=False), does the kernel run in a fresh temp directory, reporting confined False?"""
    with Sandbox({"submission.ipynb": b"{}"}, confine=False) as box:
        assert box.protections["confined"] is False and box.protections["why_not_confined"]
        cwd = evaluate(box, "__import__('os').getcwd()")
        assert "ag-" in cwd and evaluate(box, "sorted(__import__('os').listdir('.'))") == "['submission.ipynb']"
        assert box.protections["memory"] and box.protections["rlimits"]["fsize"] > 0
    assert not Path(cwd.strip("'")).exists()


@needs_confinement
def test_a_lab_without_optimizers_gets_a_template_without_torch_dynamo():
    """Does a sandbox whose preload leaves out torch._dynamo (`preload_for`: a lab whose notebook imports neither
    it nor torch.optim) get a template of its own that never imported it, and can its kernel still step a
    torch.optim optimizer (which imports it then, after TensorFlow)?"""
    with Sandbox({}, preload=preload_for(["torch", "tensorflow"])) as box:
        assert "torch._dynamo" not in box.protections["preloaded"] and "tensorflow" in box.protections["preloaded"]
        assert evaluate(box, "'torch._dynamo' in sys.modules", "import sys") == "False"
        stepped = ("import torch\np = torch.nn.Parameter(torch.ones(2))\nopt = torch.optim.SGD([p], lr=0.5)\n"
                   "(p * p).sum().backward()\nopt.step()")
        assert evaluate(box, "(p.tolist(), 'torch._dynamo' in sys.modules)", stepped) == "([0.0, 0.0], True)"


@needs_confinement
def test_kernels_are_forked_from_a_template_that_imported_the_libraries():
    """Does a confined kernel start with NumPy, PyTorch and TensorFlow already imported (by the template it is
    forked from), so that a setup cell's imports cost next to nothing, while it still sees only its own processes?"""
    with Sandbox({}) as box:
        assert {"numpy", "torch", "torch._dynamo", "tensorflow"} <= set(box.protections["preloaded"])
        took = evaluate(box, "time.monotonic() - started",
                        "import time\nstarted = time.monotonic()\nimport torch, torch._dynamo, tensorflow as tf")
        assert float(took) < 1.0, took
        assert evaluate(box, "(os.getpid(), [p for p in os.listdir('/proc') if p.isdigit()])", "import os") == \
            "(1, ['1'])"
        # What decides at import whether it runs in a kernel does as in a kernel started plainly.
        assert evaluate(box, "(tqdm.__mro__[1].__module__, plt.get_backend(), plt._REPL_DISPLAYHOOK.name)",
                        "from tqdm.auto import tqdm\nimport matplotlib.pyplot as plt\nplt.figure()") == \
            "('tqdm.notebook', 'Agg', 'IPYTHON')"


@needs_confinement
def test_nothing_one_kernel_changes_reaches_the_next_one_forked_from_the_same_template():
    """One kernel changes what it got from the template (module attributes, the environment, files in /tmp and
    /dev/shm); does the next kernel find the template's state instead, and a random state of its own?"""
    change = ("import os, numpy, torch\nnumpy.leaked = torch.leaked = 'secret'\nos.environ['LEAKED'] = 'secret'\n"
              "open('/tmp/leaked', 'w').write('secret')\nopen('/dev/shm/leaked', 'w').write('secret')\n")
    check = ("(hasattr(numpy, 'leaked'), hasattr(torch, 'leaked'), 'LEAKED' in os.environ, "
             "os.path.exists('/tmp/leaked'), os.path.exists('/dev/shm/leaked'))")
    draw = "(float(numpy.random.random()), float(torch.rand(1)))"
    with Sandbox({}) as first:
        assert evaluate(first, check, change) == "(True, True, True, True, True)"
        first_draw = evaluate(first, draw)
    with Sandbox({}) as second:
        assert evaluate(second, check, "import os, numpy, torch") == "(False, False, False, False, False)"
        assert evaluate(second, draw) != first_draw


@needs_confinement
def test_a_template_that_died_is_started_again():
    """Killed between two sandboxes (out of memory, say), is the template replaced, and the next kernel fine?"""
    import os
    import signal

    from autograder.sandbox import template as module

    with Sandbox({}) as box:
        assert evaluate(box, "1 + 1") == "2"
    templates = [t for t in module._templates.values() if t.owner == os.getpid()]
    assert templates
    for template in templates:
        os.kill(template.proc.pid, signal.SIGKILL)
        template.proc.wait(timeout=10)
    with Sandbox({}) as box:
        assert evaluate(box, "__import__('sys').modules['torch'].__name__") == "'torch'"
    # The settings of this sandbox have a new template (others killed above are replaced when next used).
    alive = [t for t in module._templates.values() if t.owner == os.getpid() and t.alive()]
    assert alive and not any(t in templates for t in alive)


@needs_confinement
def test_what_the_kernel_writes_to_its_own_stdout_fills_at_most_a_bounded_log_on_the_host():
    """Output written straight to the kernel's descriptors 1 and 2 (past IPython): does at most LOG_BYTES of it
    reach the host's disk, the rest read and dropped, and does no descriptor of the kernel name a host file?"""
    from autograder.sandbox import LOG_BYTES

    code = ("import os\nfor _ in range(8):\n    os.write(1, b'x' * (1 << 20))\n    os.write(2, b'y' * (1 << 20))\n"
            "def files():\n    out = set()\n    for fd in os.listdir('/proc/self/fd'):\n        try:\n"
            "            out.add(os.readlink(f'/proc/self/fd/{fd}'))\n        except OSError:\n            pass\n"
            "    return sorted(t for t in out if t.startswith('/'))\n")
    with Sandbox({}) as box:
        assert evaluate(box, "files()", code) == "['/dev/null']"
        size = (box._base / "kernel.log").stat().st_size
        assert LOG_BYTES <= size <= LOG_BYTES + 200, size
        assert evaluate(box, "1 + 1") == "2"


@needs_confinement
def test_a_template_that_dies_just_before_it_forks_is_replaced_at_once(monkeypatch):
    """The template is killed after the sandbox has picked it and before it forks the kernel: does the sandbox
    start from a fresh template instead of failing?"""
    import os
    import signal

    from autograder.sandbox import client as module

    with Sandbox({}) as box:  # a live template to pick
        assert evaluate(box, "1 + 1") == "2"
    picked = []
    real = module._template

    def pick_then_kill(*args, **kwargs):
        template = real(*args, **kwargs)
        if not picked:
            os.kill(template.proc.pid, signal.SIGKILL)
            template.proc.wait(timeout=10)
        picked.append(template)
        return template

    monkeypatch.setattr(module, "_template", pick_then_kill)
    with Sandbox({}) as box:
        assert evaluate(box, "1 + 1") == "2"
    assert len(picked) == 2 and picked[0] is not picked[1] and not picked[0].alive() and picked[1].alive()


@needs_confinement
def test_an_exit_status_above_128_is_an_exit_not_a_signal():
    """Does a kernel that ends with ``os._exit(137)`` die "with status 137" (its parent reports a wait status, so a
    signal is a negative code), and one killed from outside die of SIGKILL?"""
    import os
    import signal

    with Sandbox({}) as box:
        with pytest.raises(KernelDied, match=r"exited with status 137 \(sys.exit"):
            box.execute("import os\nos._exit(137)", timeout=20)
    with Sandbox({}) as box:
        os.kill(box._kernel_pid, signal.SIGKILL)
        with pytest.raises(KernelDied, match=r"killed \(SIGKILL"):
            box.execute("1", timeout=20)
