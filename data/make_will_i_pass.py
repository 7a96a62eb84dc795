"""Make data/will_i_pass.csv, the "Will I pass this class?" data of lab 1.

Each row is one (made-up) student: lectures attended (x1, an integer 0-12),
hours spent on the final project (x2, 0-12 in steps of 0.1) and whether they
passed (1) or failed (0). Students pass when 0.5 x1 + 0.6 x2 - 4.9 plus a
little logistic noise is positive, so a straight line separates most of
them but not all: a perceptron's line is a good model that still
misclassifies a few students near the boundary. The lecture's student who
attended 4 lectures and spent 5 hours is (just) on the pass side.

Run from the repository root; the output is the same on every run:

    python data/make_will_i_pass.py
"""
from __future__ import annotations

import pathlib

import numpy as np

SEED = 6191
NUM_STUDENTS = 80
HEADER = "lectures,hours,passed"
TRUE_W0, TRUE_W = -4.9, (0.5, 0.6)
NOISE_SCALE = 0.35


def generate(seed: int = SEED, num_students: int = NUM_STUDENTS) -> tuple[np.ndarray, np.ndarray]:
    """Generate the students.

    Parameters
    ----------
    seed : int
        Seed of ``np.random.default_rng``.
    num_students : int
        N, the number of students.

    Returns
    -------
    X : numpy.ndarray of shape (N, 2), float64
        Lectures attended (whole numbers) and hours on the project (one decimal).
    y : numpy.ndarray of shape (N,), int64
        1 for pass, 0 for fail.
    """
    rng = np.random.default_rng(seed)
    # Each student has their own attendance rate; project hours skew low.
    lectures = rng.binomial(12, rng.beta(2.0, 2.0, size=num_students)).astype(np.float64)
    hours = np.round(12.0 * rng.beta(1.5, 2.0, size=num_students), 1)
    score = TRUE_W0 + TRUE_W[0] * lectures + TRUE_W[1] * hours
    noise = rng.logistic(0.0, NOISE_SCALE, size=num_students)
    y = (score + noise > 0).astype(np.int64)
    return np.column_stack([lectures, hours]), y


def to_csv(X: np.ndarray, y: np.ndarray) -> str:
    """Format the students as CSV text with the header ``lectures,hours,passed``."""
    rows = [HEADER] + [f"{int(x1)},{x2:.1f},{int(label)}" for (x1, x2), label in zip(X, y)]
    return "\n".join(rows) + "\n"


def main(path: pathlib.Path | None = None) -> pathlib.Path:
    """Write the CSV next to this script (or to `path`) and return its path."""
    path = path or pathlib.Path(__file__).with_name("will_i_pass.csv")
    path.write_text(to_csv(*generate()), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {main()}")
