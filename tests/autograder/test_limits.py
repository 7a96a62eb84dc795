"""autograder.limits: what the grader and the batch derive from the sandbox's Limits, each in one place."""
from __future__ import annotations

from autograder import batch
from autograder.limits import DATA_LIMIT, data_files, kernel_budget, watchdog_limit
from autograder.sandbox import Limits


def test_data_files_are_the_released_files_up_to_the_limit(tmp_path):
    """Are the files beside the notebook listed in name order, without notebooks, hidden files or folders, and
    does the listing stop at the first file past the limit; does a batch task carry exactly those?"""
    source = tmp_path / "lab.ipynb"
    source.write_text("{}")
    (tmp_path / "other.ipynb").write_text("{}")
    (tmp_path / ".hidden").write_text("x")
    (tmp_path / "folder").mkdir()
    for name, size in (("a.csv", 10), ("b.csv", 10), ("c.csv", 30), ("d.csv", 1)):
        (tmp_path / name).write_bytes(b"x" * size)
    assert list(data_files(source)) == ["a.csv", "b.csv", "c.csv", "d.csv"]
    assert list(data_files(source, limit=40)) == ["a.csv", "b.csv"]
    payload = batch.lab_payload(source)
    assert payload["source"] == b"{}" and payload["data"] == {n: p.read_bytes() for n, p in data_files(source).items()}
    assert DATA_LIMIT == batch.DATA_LIMIT == 64 << 20


def test_kernel_budget_follows_the_limits():
    """Is one message allowed reply_mb * 3/2 + 4 MB, and all the kernels received_mb MB?"""
    budget = kernel_budget(Limits(reply_mb=16, received_mb=100))
    assert budget.per_message == 28 << 20 and budget.total == 100 << 20


def test_watchdog_limit_is_the_batchs():
    """Is the batch's watchdog_limit this one, with the default Limits when given none?"""
    assert batch.watchdog_limit is watchdog_limit
    assert watchdog_limit(3) == watchdog_limit(3, Limits()) < watchdog_limit(3, Limits(max_restarts=5))
