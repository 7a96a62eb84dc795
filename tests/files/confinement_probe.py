"""Attack the grader from a confined kernel, as whoever runs this script; print one JSON object of outcomes.

Run by tests/autograder/sandbox/test_confinement.py as root and as an unprivileged uid. The grader (this process)
sits in the repository root, so /proc/<grader pid>/cwd would lead to solutions/. Each attack reports
what it got; the test requires every one to have failed, and the grader to be alive afterwards.
Then it grades the fixture lab's solution end to end, to show the confined path grades.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from autograder.sandbox import Sandbox, confinement_mode  # noqa: E402
from tests.autograder.sandbox.test_confinement import CHANNEL_READ, CHANNEL_WRITE, NESTED, value  # noqa: E402

ATTACKS = r'''
import glob, os, signal
GRADER, ROOT = {grader}, {root!r}
def attempt(fn):
    try:
        return "WORKED: " + repr(fn())[:80]
    except OSError as exc:
        return __import__("errno").errorcode.get(exc.errno, type(exc).__name__)
    except BaseException as exc:
        return type(exc).__name__
def scan_cwds():
    found = [p for p in glob.glob("/proc/*/cwd/solutions/*/*.ipynb")]
    if not found:
        raise FileNotFoundError("no solutions through any /proc/*/cwd")
    return found
def append():
    with open(ROOT + "/course_utils/checks.py", "a") as f:
        f.write("\n# owned\n")
def create():
    with open(ROOT + "/course_utils/evil.py", "w") as f:
        f.write("owned = True\n")
outcomes = {{
    "read solutions via /proc/<grader>/cwd": attempt(lambda: open(f"/proc/{{GRADER}}/cwd/solutions/01_perceptron/01_perceptron.ipynb").read(10)),
    "read solutions via any /proc/*/cwd": attempt(scan_cwds),
    "read solutions directly": attempt(lambda: open(ROOT + "/solutions/01_perceptron/01_perceptron.ipynb").read(10)),
    "append to the grader's course_utils": attempt(append),
    "create a module in course_utils": attempt(create),
    "write the grader's autograder package": attempt(lambda: open(ROOT + "/autograder/grading.py", "a").write("#")),
    "signal the grader": attempt(lambda: os.kill(GRADER, signal.SIGKILL)),
    "signal the grader's parent": attempt(lambda: os.kill({parent}, signal.SIGKILL)),
}}
'''


def main() -> None:
    os.chdir(ROOT)
    mode, why = confinement_mode()
    out = {"uid": os.getuid(), "mode": mode, "why": why}
    with Sandbox({}, confine=True) as box:
        out["protections_uid"] = str(box.protections["uid"])
        code = ATTACKS.format(grader=os.getpid(), root=str(ROOT), parent=os.getppid())
        result = box.execute(code, timeout=30, user_expressions={"v": "outcomes"})
        entry = result.user_expressions.get("v", {})
        out["attacks"] = eval(entry["data"]["text/plain"]) if entry.get("status") == "ok" else {"error": repr(result)}
        caps = box.execute("", timeout=10, user_expressions={
            "v": "open('/proc/self/status').read().split('CapEff:')[1].split()[0]"})
        out["kernel_capabilities"] = caps.user_expressions["v"]["data"]["text/plain"].strip("'")
        out["nested"] = value(box, NESTED)
    # One grading leaves state in every shared facility; another, running at the same time, looks for it.
    with Sandbox({}, confine=True) as first:
        wrote = value(first, CHANNEL_WRITE)
        with Sandbox({}, confine=True) as second:
            out["channels"] = {"wrote": wrote, "read": value(second, CHANNEL_READ)}
    out["grader_alive"] = True
    out["course_utils_untouched"] = not (ROOT / "course_utils" / "evil.py").exists() and \
        "# owned" not in (ROOT / "course_utils" / "checks.py").read_text()
    # The fixture lab's solution graded end to end in the same confinement.
    from autograder.grading import grade_notebook
    from tests.files.fixture_lab import LAB, source_notebook, write_lab

    import nbformat

    with tempfile.TemporaryDirectory() as tmp:
        source = write_lab(Path(tmp))
        submission = Path(tmp) / "submission.ipynb"
        nbformat.write(source_notebook(), submission)
        result = grade_notebook(LAB, submission, source=source, seed=1, confine=True)
        out["fixture_score"] = [result["score"], result["max_score"]]
        out["fixture_mode"] = result["sandbox"].get("mode")
    print(json.dumps(out, default=repr))  # bytes an attack got back arrive as their repr


if __name__ == "__main__":
    main()
