"""Every hidden test gives the reference solution full marks for every student's seed (`autograder.sweep`).

Each lab's solution is executed once, in a process of its own, and each of its hidden tests is run
against it with the generator the grader derives from seeds 0, 1, 2, ... A test that passes all n
seeds has a false-fail rate below 1 - 0.05 ** (1 / n) at 95 % confidence (`autograder.sweep.bound`).

- ``make sweep`` runs 3000 seeds of every test (below 1.0e-3; 500 for the five heavy tests below,
  below 6.0e-3); its last results are in ``benchmarks/seed-sweep.md``. It takes over an hour of CPU.
- ``make test`` keeps a share of it within the suite's 20 minutes: `SEEDS` = 300 seeds for every hidden
  test (below 1.0e-2), and `FEWER`: 50 seeds (below 5.8e-2) for the five tests that train networks or
  simulate thousands of draws for every seed (90-440 ms a seed on an idle machine, where the others take
  1-40 ms). Seeds 0-299 are among the 3000 of ``make sweep``.

The statistical checks do not rest on the sweep alone: their tolerances are derived from the
distribution of what a correct answer returns, and each states its false-fail rate beside it (Lab 05's
gradient noise: 6 standard errors of the mean of 2000 draws; Lab 06's dropout rates: 5 binomial standard
deviations; the mean of a dropout output: 6 standard deviations given x; the chance that a correct shuffle
repeats an order: below 1e-6 a comparison). Inputs where float32 cannot follow the float64 expectation
(Lab 04's Adam near a zero gradient or a ReLU kink) are drawn again, not graded.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from autograder.hidden import load_suite
from autograder.sweep import SEEDS_FOR_1_IN_1000, bound
from tests.conftest import LABS, ROOT, child_environment

SEEDS = 300
FEWER = {"02_dense_networks": {"test_sequential_models": 50},
         "04_optimizers": {"test_training_loop": 50},
         "05_minibatch_sgd": {"test_gradient_noise": 50, "test_data_pipelines": 50},
         "06_regularization": {"test_framework_dropout": 50}}
LINE = re.compile(r"^(?P<cell>\w+)/(?P<test>hidden_test_\w+): (?P<passed>\d+)/(?P<runs>\d+) seeds passed", re.M)


def test_bound_is_the_rule_of_three():
    """Is 3000 seeds the count that bounds a false-fail rate below 1 in 1000, and 300 seeds below 1 in 100?"""
    assert bound(SEEDS_FOR_1_IN_1000) < 1e-3 < bound(SEEDS_FOR_1_IN_1000 - 1) and SEEDS_FOR_1_IN_1000 <= 3000
    assert 0.99e-2 < bound(SEEDS) < 1.0e-2 and 5.8e-2 < bound(50) < 5.9e-2
    assert bound(0) == 1.0


@pytest.mark.parametrize("lab", LABS)
def test_reference_passes_every_hidden_test_for_every_seed(lab):
    """Does the lab's solution pass each of its hidden tests for every seed swept (none skipped, none failed)?"""
    fewer = FEWER.get(lab, {})
    command = [sys.executable, "-m", "autograder", "sweep", lab, "--seeds", str(SEEDS)]
    for grade_id, count in fewer.items():
        command += ["--seeds-for", f"{grade_id}={count}"]
    run = subprocess.run(command, cwd=ROOT, env=child_environment(), capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"{lab}: the reference failed some seeds:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    lines = list(LINE.finditer(run.stdout))
    suite = load_suite(ROOT / "solutions" / lab / f"{lab}.ipynb")
    want_tests = sorted(f"{cell.grade_id}/{test.name}" for cell in suite.cells for test in cell.tests)
    assert sorted(f"{m['cell']}/{m['test']}" for m in lines) == want_tests, (
        f"{lab}: the sweep did not report every hidden test once:\n{run.stdout}\n{run.stderr[-3000:]}")
    assert set(fewer) <= {cell.grade_id for cell in suite.cells}, f"{lab}: FEWER names a test cell the lab lacks"
    for line in lines:
        want = fewer.get(line["cell"], SEEDS)
        assert int(line["runs"]) == want and int(line["passed"]) == want, line.group(0)
