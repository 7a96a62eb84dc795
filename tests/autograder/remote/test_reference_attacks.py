"""Attacks through `use_reference`: what a student passes to a reference costs that test, never the grader.

A small lab whose exercises build on reference functions (the grader's
stand-ins): ``forward`` on ``affine`` (takes lists), ``run_adam`` on Lab 04's
``adam`` (``beta1 ** t`` with ``t`` from a config dict), ``combine`` on
``transform(x, g)`` (a function passed in), ``total`` on ``count_up(n)`` (a
loop of ``n`` steps); ``scale`` uses no reference, and ``exit_code``'s test
raises ``SystemExit`` on what the student returns. The hostile submission
attacks every reference at once: a config with ``t = 2**255`` and one with an
integer ``beta1`` and ``t`` near 2**53 (a power that never ends), nested lists
of 200000 x 1 and 1 x 1000 (a 200000 x 1000 product), ``builtins.exit``,
``open`` and ``input`` named as ``g`` (sent by hand, past the kernel's
helper), and a loop of 2**53 steps. Graded by the real ``grade --json``
command in a process of its own, which must exit 0 with valid JSON, score
each attacked test 0 and the honest ones in full, stay well under 600 MB of
resident memory, finish in bounded time and leave no reference worker
behind.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from autograder.sandbox import confinement_available
from tests.conftest import ROOT
from tests.files.cells import nbgrader_cell

pytestmark = pytest.mark.slow

LAB = "97_reference_attacks"
CALL_S = 5  # the call limit of these gradings: a reference that never ends is stopped after about this long

ADAM = '''\
import numpy as np

def adam(w, dw, config=None):
    if config is None: config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("eps", 1e-8)
    b1, b2 = config["beta1"], config["beta2"]
    t = config.get("t", 0) + 1
    m = b1 * config.get("m", np.zeros_like(w, dtype=np.float64)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w, dtype=np.float64)) + (1 - b2) * dw * dw
    config["t"], config["m"], config["v"] = t, m, v
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["eps"]), config
'''
REFERENCES = {
    "affine": ("import numpy as np\n\ndef affine(x, w, b):\n"
               "    return np.asarray(x, float) @ np.asarray(w, float) + b\n"),
    "adam": ADAM,
    "transform": "def transform(x, g):\n    return 3.0 * g(x)\n",
    "count_up": "def count_up(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n",
}

SOLUTION = {
    "setup": "import numpy as np",
    "forward": ("def forward(x, w, b):\n    ### BEGIN SOLUTION\n    return np.tanh(affine(x, w, b))\n"
                "    ### END SOLUTION"),
    "run_adam": ("def run_adam(w, grads):\n    ### BEGIN SOLUTION\n    config = {}\n    for dw in grads:\n"
                 "        w, config = adam(w, dw, config)\n    return w\n    ### END SOLUTION"),
    "combine": ("def square(v):\n    return v * v\n\ndef combine(x):\n    ### BEGIN SOLUTION\n"
                "    return transform(x, np.tanh) + transform(x, square)\n    ### END SOLUTION"),
    "total": "def total(n):\n    ### BEGIN SOLUTION\n    return 2 * count_up(n)\n    ### END SOLUTION",
    "scale": "def scale(x):\n    ### BEGIN SOLUTION\n    return 1.5 * x\n    ### END SOLUTION",
    "exit_code": "def exit_code():\n    ### BEGIN SOLUTION\n    return 0\n    ### END SOLUTION",
}


def _hidden(name: str, body: str, reference: str | None = None) -> str:
    use = f"    student.use_reference({reference!r}, {REFERENCES[reference]!r})\n" if reference else ""
    return (f"### BEGIN HIDDEN TESTS\ndef hidden_test_{name}(student, rng):\n    import numpy as np\n{use}"
            + textwrap.indent(textwrap.dedent(body), "    ") + "### END HIDDEN TESTS")


TESTS = {
    "forward": _hidden("forward", """\
        x, w, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
        assert np.allclose(student.forward(x, w, b), np.tanh(x @ w + b), rtol=1e-12), "forward: wrong values"
        """, "affine"),
    "run_adam": _hidden("run_adam", """\
        w, grads = rng.normal(size=4), [rng.normal(size=4) for _ in range(3)]
        want, m, v = w.copy(), np.zeros(4), np.zeros(4)
        for t, dw in enumerate(grads, 1):
            m, v = 0.9 * m + 0.1 * dw, 0.999 * v + 0.001 * dw * dw
            want = want - 1e-3 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        assert np.allclose(student.run_adam(w, grads), want, rtol=1e-10), "run_adam: wrong values"
        """, "adam"),
    "combine": _hidden("combine", """\
        x = rng.normal(size=6)
        assert np.allclose(student.combine(x), 3 * np.tanh(x) + 3 * x * x, rtol=1e-12), "combine: wrong values"
        """, "transform"),
    "total": _hidden("total", """\
        n = int(rng.integers(5, 50))
        assert student.total(n) == n * (n - 1), "total: wrong value"
        """, "count_up"),
    "scale": _hidden("scale", """\
        x = rng.normal(size=3)
        assert np.allclose(student.scale(x), 1.5 * x), "scale: wrong values"
        """),
    # A test that acts on what the student returned: a SystemExit here must cost this test only.
    "exit_code": _hidden("exit_code", """\
        code = student.exit_code()
        if code:
            raise SystemExit(code)
        """),
}
POINTS = {"forward": 1.0, "run_adam": 2.0, "combine": 1.0, "total": 1.0, "scale": 1.0, "exit_code": 1.0}
USES = {"forward": "affine", "run_adam": "adam", "combine": "transform", "total": "count_up"}

# Sends a reference call by hand, as a hostile kernel can: the stand-in's token read from its closure,
# any JSON as its arguments; returns the decoded answer or raises the error it carries.
SEND = '''\
import json as _json

def _send(stand_in, args):
    token = [c.cell_contents for c in stand_in.__closure__
             if isinstance(c.cell_contents, str) and len(c.cell_contents) == 32][0]
    raw = get_ipython().kernel.raw_input
    answer = _json.loads(raw("\\x00autograder-reference:" + "ref " + token + "\\n" + _json.dumps(args)))
    if answer.get("kind") == "error":
        raise ValueError(answer["error"]["message"])
    return answer
'''
HOSTILE = {
    "forward": ("def forward(x, w, b):\n    return np.tanh(affine([[1.0]] * 200000, [[1.0] * 1000], 0.0))[:5, :2]"),
    "run_adam": ("def run_adam(w, grads):\n    errors = []\n"
                 "    for config in ({'t': 2**255}, {'beta1': 3, 'beta2': 3, 't': 2**53 - 8}):\n"
                 "        try:\n            adam(w, grads[0], config)\n        except Exception as exc:\n"
                 "            errors.append(f'{type(exc).__name__}: {exc}')\n"
                 "    raise ValueError(' | '.join(errors))"),
    "combine": ("def combine(x):\n    errors = []\n"
                "    for name in ('builtins.exit', 'builtins.open', 'builtins.input'):\n"
                "        try:\n            _send(transform, {'args': [1.0, {'__callable__': name}], 'kwargs': {}})\n"
                "        except ValueError as exc:\n            errors.append(str(exc)[:110])\n"
                "    raise ValueError(' | '.join(errors))"),
    "total": "def total(n):\n    return 2 * count_up(2**53)",
    "exit_code": "def exit_code():\n    return 3",
}


def lab_notebook(solutions: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbgrader_cell(solutions["setup"], "setup", locked=True)]
    for name, points in POINTS.items():
        nb.cells.append(nbgrader_cell(solutions[name], name, solution=True))
        nb.cells.append(nbgrader_cell(TESTS[name], f"test_{name}", grade=True, locked=True, points=points))
    return nb


def hostile_notebook() -> nbformat.NotebookNode:
    solutions = {**SOLUTION, **HOSTILE}
    nb = lab_notebook(SOLUTION)
    for cell in nb.cells:  # the submission's own solution cells
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = solutions[meta["grade_id"]]
    nb.cells.insert(1, nbformat.v4.new_code_cell(SEND))
    return nb


# The real `grade --json` command, with this lab's source and a short call limit.
DRIVER = '''\
import dataclasses, functools, json, resource, sys
from pathlib import Path
import autograder.grading as grading
from autograder.cli import main

source, submission, call_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
grading.find_source = lambda lab, root=None: Path(source)
grading.Limits = functools.partial(grading.Limits, call_timeout_s=call_s, test_timeout_s=40, cell_timeout_s=20,
                                   notebook_timeout_s=60, memory_mb=1024, max_restarts=1)
rc = main(["grade", "LAB", submission, "--json", "--seed", "0"] + sys.argv[4:])
print(f"peak-rss-kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
sys.exit(rc)
'''


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    path = tmp_path_factory.mktemp("course") / "solutions" / LAB / f"{LAB}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(lab_notebook(SOLUTION), path)
    return path


def grade_cli(lab: Path, nb, tmp_path: Path) -> tuple[dict, float, int, subprocess.CompletedProcess, int]:
    submission = tmp_path / "submission.ipynb"
    nbformat.write(nb, submission)
    extra = [] if confinement_available()[0] else ["--unconfined"]
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(lab), str(submission), str(CALL_S), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    grader_pid = proc.pid
    out, err = proc.communicate(timeout=600)
    elapsed = time.monotonic() - started
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert proc.returncode == 0, f"grade exited {proc.returncode}: {err[-3000:]}"
    result = json.loads(out)  # exactly one JSON object on stdout
    rss_kb = int(err.rsplit("peak-rss-kb", 1)[1].split()[0])
    return result, elapsed, rss_kb, done, grader_pid


def _workers_of(pid: int) -> list[int]:
    """Reference workers (still running) that the grader process `pid` started."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"_reference_worker.py" in cmdline and f'"parent": {pid}}}'.encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_honest_submission_scores_full_marks(lab, tmp_path):
    """Does the solution score every point through the stand-ins (reference worker, callbacks, np.tanh)?"""
    result, elapsed, rss_kb, _, pid = grade_cli(lab, lab_notebook(SOLUTION), tmp_path)
    scores = {t["grade_id"]: t["score"] for t in result["tests"]}
    assert scores == {f"test_{k}": v for k, v in POINTS.items()}, result
    assert result["reference_calls"] >= 6, result
    assert rss_kb < 600 * 1024, f"grader peak RSS {rss_kb // 1024} MB"
    assert not _workers_of(pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_attacks_through_references_cost_only_their_tests(lab, tmp_path):
    """Huge ints in a config, a power and a loop that never end, huge nested lists, builtins.exit/open/input
    as g, and a SystemExit in a test: is each attacked test 0 with a message that says why, the honest test
    in full, `grade --json` exit 0 with valid JSON, the grader under 600 MB, the time bounded, no worker left?"""
    result, elapsed, rss_kb, done, pid = grade_cli(lab, hostile_notebook(), tmp_path)
    tests = {t["grade_id"]: t for t in result["tests"]}
    scores = {k: t["score"] for k, t in tests.items()}
    assert scores == {"test_forward": 0.0, "test_run_adam": 0.0, "test_combine": 0.0, "test_total": 0.0,
                      "test_scale": 1.0, "test_exit_code": 0.0}, result
    assert rss_kb < 600 * 1024, f"grader peak RSS {rss_kb // 1024} MB"
    messages = {k: t["message"] for k, t in tests.items()}
    # Lists far larger than the test's own arrays are refused before the reference runs.
    assert "holds 200000 items" in messages["test_forward"], messages
    # An integer past 2**53 is refused; a power that never ends is stopped at the call's time limit.
    assert "at most 2**53" in messages["test_run_adam"], messages
    assert "TimeoutError" in messages["test_run_adam"] and "stopped" in messages["test_run_adam"], messages
    # Functions other than the kernel's own and the pure allow-list are refused, by name.
    for name in ("builtins.exit", "builtins.open", "builtins.input"):
        assert f"the function '{name}', which may not be passed to a reference" in messages["test_combine"], messages
    assert "stopped its reference worker" in messages["test_total"], messages
    assert "SystemExit: 3" in messages["test_exit_code"], messages
    # Two references stopped at the call limit (about CALL_S each), on top of an honest grading's time.
    assert elapsed < 120, f"grading took {elapsed:.0f} s"
    assert not _workers_of(pid), "a reference worker outlived the grading"


def test_nested_reference_calls_and_a_stuck_one_inside_a_callback():
    """A kernel function that the reference calls back, which itself calls a reference: is the nested call
    answered (and an input() there answered with EOF)? When the nested reference never ends, is the worker
    stopped within the call's limit, both pending calls answered with the reason, and the next call served
    by a fresh worker?"""
    import numpy as np

    from autograder.remote import RemoteError
    from autograder.sandbox import Limits
    from tests.autograder.remote.conftest import installed_student

    with installed_student(Limits(call_timeout_s=CALL_S, memory_mb=1024)) as (student, sandbox):
        sandbox.execute("def g(x):\n    try:\n        input('?')\n    except EOFError:\n        pass\n"
                        "    return inner(x)\n"
                        "def run(x):\n    return outer(x, g)\n", timeout=20)
        student.use_reference("outer", "def outer(x, g):\n    return g(x) + 1\n")
        student.use_reference("inner", "def inner(x):\n    return 2 * x if x < 100 else sum(range(x))\n")
        assert student.run(3.0) == 7.0
        started = time.monotonic()
        with pytest.raises(RemoteError, match="TimeoutError: .*stopped its reference worker") as info:
            student.run(2**53)
        assert time.monotonic() - started < CALL_S + 1, "the call was not answered within its limit"
        assert "reference inner" in str(info.value) or "reference outer" in str(info.value)
        assert student.run(4.0) == 9.0  # a fresh worker
        student._ag_restore()
        assert student._ag.worker is None
