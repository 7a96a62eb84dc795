"""The course's small datasets: shipped files and generated data, never downloads.

Files live in the repository's ``data/`` folder, which an installed wheel
ships as the package ``course_utils.datasets``; `data_path` finds either.
"""
from __future__ import annotations

import importlib.resources
import pathlib
from typing import NamedTuple

import numpy as np

__all__ = ["data_path", "load_will_i_pass", "make_moons_data", "make_blobs_data", "load_digits_split", "DigitsSplit"]

_CHECKOUT_DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
_PACKAGE = "course_utils.datasets"


def _candidates(name: str) -> list[tuple[str, object]]:
    found = [(str(_CHECKOUT_DATA / name), _CHECKOUT_DATA / name)]
    try:
        resource = importlib.resources.files(_PACKAGE).joinpath(name)
        found.append((f"package {_PACKAGE} ({resource})", resource))
    except (ImportError, OSError, TypeError, ValueError) as exc:
        found.append((f"package {_PACKAGE} (not importable: {exc})", None))
    return found


def data_path(name: str) -> pathlib.Path:
    """Return the path of a file shipped in the course's ``data/`` folder.

    Looks in the checkout first (``course_utils/../data/``), then in the
    installed package ``course_utils.datasets``.

    Parameters
    ----------
    name : str
        File name, e.g. ``"will_i_pass.csv"``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        Saying where it looked and how to get the file.
    """
    candidates = _candidates(name)
    for _, path in candidates:
        if path is not None and path.is_file():
            return pathlib.Path(str(path))
    searched = "\n  ".join(where for where, _ in candidates)
    raise FileNotFoundError(
        f"course data file {name!r} not found. Searched:\n  {searched}\n"
        "Fix: reinstall the course package (`pip install --force-reinstall "
        "git+<course repository URL>`, as the notebook's setup cell does), or run "
        "the notebook from a full checkout of the repository; if the file is "
        "missing from data/ there, regenerate it with `python data/make_<name>.py`."
    )


def load_will_i_pass() -> tuple[np.ndarray, np.ndarray]:
    """Load the "Will I pass this class?" data of lab 1.

    Returns
    -------
    X : numpy.ndarray of shape (N, 2), float64
        Column 0: lectures attended (x1); column 1: hours spent on the final
        project (x2). N = 80.
    y : numpy.ndarray of shape (N,), int64
        1 if the student passed, 0 if they failed.
    """
    table = np.loadtxt(data_path("will_i_pass.csv"), delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    return table[:, :2].copy(), table[:, 2].astype(np.int64)


def make_moons_data(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's ``make_moons``), generated locally.

    Parameters
    ----------
    n : int
        N, the number of points.
    noise : float
        Standard deviation of the Gaussian noise added to the points.
    rng : numpy.random.Generator
        Source of randomness (e.g. the one `set_seed` returns).

    Returns
    -------
    X : numpy.ndarray of shape (N, 2), float64
    y : numpy.ndarray of shape (N,), int64
        0 or 1.
    """
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=noise, random_state=_sklearn_seed(rng))
    return X.astype(np.float64), y.astype(np.int64)


def make_blobs_data(
    n: int, centers: int = 2, std: float = 1.0, *, rng: np.random.Generator, num_features: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs (scikit-learn's ``make_blobs``), generated locally.

    Parameters
    ----------
    n : int
        N, the number of points.
    centers : int
        C, the number of blobs (classes).
    std : float
        Standard deviation of each blob.
    rng : numpy.random.Generator
        Source of randomness.
    num_features : int
        D, the number of coordinates per point.

    Returns
    -------
    X : numpy.ndarray of shape (N, D), float64
    y : numpy.ndarray of shape (N,), int64
        Values in 0..C-1.
    """
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples=n, centers=centers, cluster_std=std, n_features=num_features, random_state=_sklearn_seed(rng)
    )
    return X.astype(np.float64), y.astype(np.int64)


class DigitsSplit(NamedTuple):
    """The course's fixed split of scikit-learn's digits: train to fit, validation to choose, test to report once."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


DIGITS_SPLIT_SEED = 20240901  # fixed: every lab, every student, every run sees the same split
DIGITS_SIZES = (1077, 360, 360)  # train, validation, test: 60 %, 20 %, 20 % of the 1797 images


def load_digits_split(dtype=np.float32) -> DigitsSplit:
    """scikit-learn's bundled digits (1797 images of 8x8 pixels, classes 0-9; no download), split once for the course.

    The split is stratified by class and fixed (`DIGITS_SPLIT_SEED`), so Labs 04-06 train, choose and
    report on the same images. Pixels are scaled from 0..16 to [0, 1]; rows are flattened to 64 features.

    Returns
    -------
    DigitsSplit
        ``X_*`` of shape (N, 64) in `dtype`, ``y_*`` of shape (N,) int64; N = 1077, 360, 360.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X, y = (X / 16.0).astype(dtype), y.astype(np.int64)
    n_train, n_val, n_test = DIGITS_SIZES
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, train_size=n_train, stratify=y, random_state=DIGITS_SPLIT_SEED)
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, train_size=n_val, stratify=y_rest, random_state=DIGITS_SPLIT_SEED + 1)
    return DigitsSplit(X_train, y_train, X_val, y_val, X_test, y_test)


def _sklearn_seed(rng: np.random.Generator) -> int:
    # scikit-learn wants a legacy seed; drawing it from rng keeps one source of randomness.
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return int(rng.integers(0, 2**31 - 1))
