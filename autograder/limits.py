"""What the grader and the batch derive from `autograder.sandbox.Limits`, each in one place.

- `DATA_LIMIT` and `data_files`: the data files released beside a lab's notebook that a kernel sees
  (`autograder.grading`) and that travel with each batch task (`autograder.task.lab_payload`);
- `kernel_budget`: the bytes a submission's kernels may send the grader (`autograder.wire.Budget`);
- `watchdog_limit`: how long the batch lets one submission grade on a worker.

Nothing here imports the sandbox at import time, so the sandbox itself can use this module.
"""
from __future__ import annotations

from pathlib import Path

from autograder.wire import Budget

#: Largest data files beside a lab's source, all together, that a kernel sees (and a batch task carries).
DATA_LIMIT = 64 << 20

#: One message may carry a reply of ``Limits.reply_mb`` MB encoded (x 3/2) plus this many MB of framing.
MESSAGE_SLACK_MB = 4

#: The watchdog's margin over the per-notebook wall limit: copying files, imports, a loaded machine.
WATCHDOG_FACTOR, WATCHDOG_EXTRA_S = 1.1, 60


def data_files(source: Path, limit: int = DATA_LIMIT) -> dict[str, Path]:
    """{name: path} of the files released beside the lab notebook `source` (data a notebook may open by relative
    path), in name order, up to `limit` bytes together: not notebooks, not hidden files."""
    out, total = {}, 0
    for path in sorted(Path(source).parent.iterdir()):
        if path.is_file() and path.suffix != ".ipynb" and not path.name.startswith("."):
            total += path.stat().st_size
            if total > limit:
                break
            out[path.name] = path
    return out


def kernel_budget(limits) -> Budget:
    """The byte budget of one submission's kernels: ``reply_mb * 3 / 2 + 4`` MB per message, ``received_mb`` MB
    in all (`autograder.wire`)."""
    return Budget(per_message=(limits.reply_mb * 3 // 2 + MESSAGE_SLACK_MB) << 20, total=limits.received_mb << 20)


def watchdog_limit(tests: int, limits=None) -> float:
    """Seconds one submission of a lab with `tests` test cells may take on its worker before the batch gives it up.

    The per-notebook wall limit is the longest grading that `Limits` allows: every kernel
    (1 + ``max_restarts``) starting, running the notebook and the locked helpers again, each with an interrupt's
    grace, plus every test cell's time; the margin adds 60 s and 10 % (copying files, imports, a loaded machine).
    """
    if limits is None:
        from autograder.sandbox import Limits

        limits = Limits()
    grace = limits.interrupt_grace_s
    kernel = limits.startup_timeout_s + limits.notebook_timeout_s + limits.cell_timeout_s + 2 * grace
    wall = (limits.max_restarts + 1) * kernel + tests * (limits.test_timeout_s + grace)
    return wall * WATCHDOG_FACTOR + WATCHDOG_EXTRA_S
