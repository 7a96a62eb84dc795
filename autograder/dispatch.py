"""Dispatch a batch's jobs to the Dask workers and record each grade as it arrives (`grade_all`).

At most one task per worker thread is in flight, so when a worker dies the scheduler blames only the submission
it was grading; a task lost with its worker is resubmitted once. A watchdog gives up any task still running past
its limit (`autograder.limits.watchdog_limit`), whatever hangs, and restarts the worker that held it
(`stop_tasks`). Losing the scheduler stops the batch without recording anything more (BatchError).
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
import sys
import time
import uuid
from collections import deque
from contextlib import contextmanager

from autograder import plan
from autograder.gradebook import Graded, file_sha256, record
from autograder.ids import storable_id, student_seed, unstorable_reason
from autograder.limits import watchdog_limit
from autograder.plan import BatchError
from autograder.summary import flag_text, printable
from autograder.task import check_result, grade_task, lab_payload, zero_result

#: How often, at least, the coordinator looks for overdue tasks (s), and the shortest wait.
POLL_S, MIN_WAIT_S = 5.0, 0.05

#: How long restarting a stuck worker may take (s).
RESTART_TIMEOUT_S = 60


@contextmanager
def dask_client(workers: int, scheduler: str | None):
    """A Client on `scheduler`, or on a LocalCluster of `workers` single-threaded processes bound to 127.0.0.1."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="15s")
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); "
                             "start one (`dask scheduler`) or leave out --scheduler for local workers") from None
        with client:
            yield client
        return
    # No prefetching, and a task fails after two worker deaths (_grade_all retries it once more);
    # non-daemonic workers may start the processes that grading needs.
    settings = {"distributed.scheduler.worker-saturation": 1.0, "distributed.scheduler.allowed-failures": 1,
                "distributed.worker.daemon": False}
    with dask.config.set(settings):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client


def _cluster_failures() -> tuple:
    """Exceptions that mean the cluster itself is gone (not one task): the batch stops, nothing is recorded."""
    import asyncio
    import concurrent.futures

    from distributed.comm.core import CommClosedError

    return (asyncio.CancelledError, concurrent.futures.CancelledError, CommClosedError, OSError, TimeoutError)


def grade_all(jobs, *, client, grade_fn, secret, progress, unconfined, watchdog_s=None) -> None:
    """Keep each worker of `client` busy with one submission at a time; record each grade as it arrives.

    `jobs` are (lab, student) pairs, graded in that order. At most one task per
    worker thread is in flight, so when a worker dies the scheduler blames only
    the submission it was grading. A task lost with its worker is resubmitted
    once; lost again, the student stays ungraded.

    The watchdog: a task still running `watchdog_s` seconds after it was sent
    (default `watchdog_limit`, from the lab's number of test cells) is given up,
    whatever hangs (the submission, a reference call, the grader): the student is
    NOT GRADED with the reason, the worker that runs it is restarted (or stopped,
    when it has no nanny), and the batch goes on with the others.
    """
    _Dispatch(jobs, client, grade_fn=grade_fn, secret=secret, progress=progress, unconfined=unconfined,
              watchdog_s=watchdog_s).run()


class _Dispatch:
    """One `grade_all`: the jobs waiting, the tasks in flight (future: job) and when each was sent."""

    def __init__(self, jobs, client, *, grade_fn, secret, progress, unconfined, watchdog_s):
        from tqdm import tqdm

        self.jobs, self.client, self.grade_fn, self.secret = jobs, client, grade_fn, secret
        self.unconfined, self.watchdog_s = unconfined, watchdog_s
        self.failures = _cluster_failures()
        self.group = f"autograde-{uuid.uuid4().hex[:8]}"  # tuple keys (group, n): one task group for the scheduler
        self.queue, self.retried, self.futures, self.numbers = deque(jobs), set(), {}, itertools.count()
        self.identity, self.started = {}, {}  # started: future -> when it was sent (the watchdog's clock)
        names = sorted({lab.name for lab, _ in jobs})
        self.bar = tqdm(total=len(jobs), desc=f"autograde {names[0] if len(names) == 1 else f'{len(names)} labs'}",
                        unit="nb", file=sys.stderr, disable=not progress)

    def run(self) -> None:
        from distributed import wait

        try:
            self.launch()
            while self.futures:
                deadline = min(self.started[f] + self.limit_of(lab) for f, (lab, _) in self.futures.items())
                try:  # until a task ends, or the first deadline (checked at least every 5 s)
                    wait(list(self.futures), timeout=max(MIN_WAIT_S, min(deadline - time.monotonic(), POLL_S)),
                         return_when="FIRST_COMPLETED")
                except TimeoutError:
                    pass
                except self.failures as exc:
                    raise self.cluster_failed(exc) from None
                for future in [f for f in self.futures if f.done()]:  # in the order they were sent
                    self.finish(future)
                now = time.monotonic()
                overdue = [f for f, (lab, _) in self.futures.items() if now - self.started[f] > self.limit_of(lab)]
                if overdue:
                    self.abandon(overdue)
                self.launch()
        finally:
            self.bar.close()

    def limit_of(self, lab) -> float:
        return self.watchdog_s if self.watchdog_s is not None else watchdog_limit(len(lab.tests))

    def cluster_failed(self, exc) -> BatchError:
        """Cancel what is in flight; the error that stops the batch."""
        self.client.cancel(list(self.futures))
        return BatchError(f"the Dask cluster failed ({type(exc).__name__}: {exc}); nothing is lost: run the "
                          f"command again to grade the {len(self.jobs) - self.bar.n} remaining submission(s)")

    def done(self, job, reason: str | None = None) -> None:
        """One job over, without a task: NOT GRADED with `reason` when given."""
        if reason is not None:
            job[0].summary.ungraded[job[1]] = reason
        self.bar.update(1)

    def launch(self) -> None:
        """Send the waiting jobs until every worker thread has one."""
        slots = max(1, sum(self.client.nthreads().values()))
        while self.queue and len(self.futures) < slots:
            self.send(self.queue.popleft())

    def send(self, job) -> None:
        """Send `job` to a worker, unless it is settled here: an id the gradebook cannot store, a file that cannot
        be read, one over the size limit (graded 0 unread), one that is no notebook or another lab's."""
        lab, student = job
        if not storable_id(student):
            return self.done(job, unstorable_reason(student))
        data, problem, size = plan.read_submitted(lab.course, lab.name, student)
        if problem is not None:
            return self.done(job, printable(problem))
        timestamp = _timestamp(lab, student)
        seed = lab.summary.seeds[student] = student_seed(self.secret, student)
        if data is None:  # over the size limit: the submission's own doing, graded 0 unread
            return self.too_big(job, size, timestamp)
        self.identity[job] = (hashlib.sha256(data).hexdigest(), timestamp)
        refused = plan.refuse(lab, data)
        if refused is not None:  # not a notebook, or another lab's: NOT GRADED, no kernel run
            return self.done(job, refused)
        if lab.payload is None:  # read once, when its first submission goes out
            lab.payload = lab_payload(lab.course.source(lab.name))
        future = self.client.submit(grade_task, self.grade_fn, lab.name, data, lab.payload, seed, self.unconfined,
                                    key=(self.group, next(self.numbers)), pure=False, retries=0)
        self.futures[future] = job
        self.started[future] = time.monotonic()

    def too_big(self, job, size: int, timestamp) -> None:
        lab, student = job
        try:
            self.identity[job] = (file_sha256(lab.course.submitted(student, lab.name)), timestamp)
        except OSError as exc:
            return self.done(job, printable(f"cannot read the submission: {exc}"))
        reason = (f"the submission is {size / (1 << 20):.1f} MB, more than the limit: clear its outputs "
                  "(Kernel > Restart Kernel and Clear Outputs) and submit again")
        _record(lab.course, lab.name, student, {"result": zero_result(lab.name, lab.tests, reason)},
                self.identity[job], lab.tests, lab.release, lab.summary)
        self.done(job)

    def abandon(self, overdue) -> None:
        """The watchdog: give up the tasks past their deadline, restart the workers they hold (at once), go on."""
        seconds = {future: time.monotonic() - self.started.pop(future) for future in overdue}
        stopped = stop_tasks(self.client, overdue)
        for future in overdue:
            lab, student = job = self.futures.pop(future)
            self.done(job, f"grading did not finish within {self.limit_of(lab):g} s (the per-notebook wall limit "
                           f"plus a margin; stopped after {seconds[future]:.0f} s): the submission or the machinery "
                           f"hung, and {stopped[future]}; run again to grade this student (the same hang is stopped "
                           "the same way)")

    def finish(self, future) -> None:
        from distributed.scheduler import KilledWorker

        lab, student = job = self.futures.pop(future)
        self.started.pop(future)
        try:
            answer = future.result()
        except KilledWorker:
            if job not in self.retried:
                self.retried.add(job)
                self.queue.appendleft(job)
                return
            answer = {"error": "the grading worker died while grading this submission, again and again "
                               "(killed, or out of memory)"}
        except self.failures as exc:
            raise self.cluster_failed(exc) from None
        except Exception as exc:  # noqa: BLE001 - the worker could not run the task (a missing package ...)
            answer = {"error": f"the worker could not run the grading task: {type(exc).__name__}: {exc}"}
        _record(lab.course, lab.name, student, answer, self.identity[job], lab.tests, lab.release, lab.summary)
        self.bar.update(1)


def _timestamp(lab, student):
    """The submission's timestamp.txt, or None (graded as on time) when it cannot be read."""
    try:
        return lab.course.coursedir.get_existing_timestamp(str(lab.course.submitted(student, lab.name).parent))
    except Exception:  # noqa: BLE001 - an unreadable timestamp.txt: graded as on time
        return None


def stop_tasks(client, futures: list) -> dict:
    """Cancel `futures` and restart the workers running them, all at once (a task's thread cannot be stopped
    otherwise); {future: what was done}. A worker without a nanny is stopped instead, unless it runs in this
    very process (an in-process cluster), which it would take with it."""
    try:
        processing = client.processing()
    except Exception:  # noqa: BLE001 - the scheduler will say it is gone at the next call
        processing = {}
    where = {f: [w for w, keys in processing.items() if f.key in keys] for f in futures}
    client.cancel(futures)
    workers = sorted({w for ws in where.values() for w in ws})
    status = {}
    if workers:
        try:
            status = client.restart_workers(workers, timeout=RESTART_TIMEOUT_S, raise_for_error=False)
        except Exception as exc:  # noqa: BLE001 - no nanny (a worker started by hand): stop the worker itself
            status = {w: type(exc).__name__ for w in workers}
    stuck = [w for w in workers if status.get(w) != "OK"]
    if stuck:
        try:
            here = _process()
            stopped = [w for w, at in client.run(_process, workers=stuck).items() if at != here]
            if stopped:
                client.run(os._exit, 1, workers=stopped, wait=False)
        except Exception:  # noqa: BLE001 - nothing more can be done from here
            stopped = []
        status.update({w: "stopped" for w in stopped})
    said = {}
    for future, ws in where.items():
        if not ws:
            said[future] = "its task was cancelled"
        elif all(status.get(w) == "OK" for w in ws):
            said[future] = f"its worker {', '.join(ws)} was restarted"
        elif all(status.get(w) in ("OK", "stopped") for w in ws):
            said[future] = f"its worker {', '.join(ws)} was stopped (it could not be restarted)"
        else:
            said[future] = "its worker could be neither restarted nor stopped (it may stay busy)"
    return said


def _process() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def _record(course, lab, student, answer, identity, tests, release, summary) -> None:
    """Record one grade; any failure leaves this student ungraded with the reason, and the batch goes on."""
    problem = answer.get("error") if isinstance(answer, dict) else f"the worker returned {type(answer).__name__}"
    result = answer.get("result") if problem is None else None
    problem = problem or check_result(result, tests)
    if problem is None:
        sha256, timestamp = identity
        try:
            record(course, lab, Graded(student, result, sha256, timestamp, seed=summary.seeds.get(student),
                                       seconds=answer.get("seconds")), release)
        except Exception as exc:  # noqa: BLE001 - a bad row for one student never stops the others
            problem = f"recording the grade failed: {type(exc).__name__}: {exc}"
    if problem is not None:
        summary.ungraded[student] = printable(problem)
        return
    summary.graded.append(student)
    flags = result.get("flags")
    if isinstance(flags, list) and flags:
        summary.flags[student] = [flag_text(f) for f in flags]
    if "seconds" in answer:
        summary.seconds[student] = answer["seconds"]
