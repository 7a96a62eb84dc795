"""autograder.dispatch: the batch's jobs on Dask workers, each grade recorded as it arrives."""
from __future__ import annotations

import io

from autograder import batch
from tests.autograder.test_batch import fake_grade, scores
from tests.autograder.fixtures_gradebook import LAB, make_course, solved


def test_existing_scheduler(tmp_path):
    """With --scheduler, does the batch run on a cluster it did not start, and leave that cluster running?"""
    from distributed import Client, LocalCluster

    root = make_course(tmp_path / "course", {"alice": solved(), "bob": solved("WRONG_test_mul")})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        summary = batch.autograde(LAB, root, scheduler=cluster.scheduler_address, grade_fn=fake_grade,
                                  progress=False, out=io.StringIO())
        with Client(cluster.scheduler_address) as client:
            assert client.submit(sum, [1, 2]).result() == 3  # still serving
    assert sorted(summary.graded) == ["alice", "bob"]
    assert scores(root) == {"alice": 5.0, "bob": 2.0}
