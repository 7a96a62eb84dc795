import importlib.util
import pathlib

import numpy as np
import pytest

from course_utils import data

REPO = pathlib.Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("make_will_i_pass", REPO / "data" / "make_will_i_pass.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_will_i_pass_shapes_and_ranges():
    """Does load_will_i_pass return X (N, 2) float64 and y (N,) int64 with sensible values?"""
    X, y = data.load_will_i_pass()
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.ndim == 2 and X.shape[1] == 2 and y.shape == (X.shape[0],)
    assert 60 <= X.shape[0] <= 100
    lectures, hours = X[:, 0], X[:, 1]
    assert np.all(lectures == np.round(lectures)) and 0 <= lectures.min() and lectures.max() <= 12
    assert 0 <= hours.min() and hours.max() <= 12
    assert set(y.tolist()) == {0, 1}
    assert 0.3 < y.mean() < 0.8


def test_csv_header():
    """Does the CSV start with the header `lectures,hours,passed`?"""
    first_line = data.data_path("will_i_pass.csv").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "lectures,hours,passed"


def test_csv_matches_generator():
    """Is the shipped CSV exactly what data/make_will_i_pass.py generates (so it can be regenerated)?"""
    script = load_script()
    X, y = script.generate()
    X_loaded, y_loaded = data.load_will_i_pass()
    np.testing.assert_array_equal(X_loaded, X)
    np.testing.assert_array_equal(y_loaded, y)
    assert data.data_path("will_i_pass.csv").read_text(encoding="utf-8") == script.to_csv(X, y)


def test_script_writes_the_csv(tmp_path):
    """Does running the script's main write the same file again?"""
    script = load_script()
    written = script.main(tmp_path / "will_i_pass.csv")
    assert written.read_bytes() == data.data_path("will_i_pass.csv").read_bytes()


def test_nearly_but_not_perfectly_separable():
    """Does a line separate most students but not all (so a perceptron is a good, imperfect model)?"""
    from sklearn.linear_model import LogisticRegression

    X, y = data.load_will_i_pass()
    model = LogisticRegression(C=1e4, max_iter=10_000).fit(X, y)
    accuracy = model.score(X, y)
    assert 0.9 <= accuracy < 1.0
    # The lecture's student: 4 lectures, 5 hours on the project, who passed.
    assert model.predict([[4.0, 5.0]])[0] == 1


def test_data_path_from_installed_package(tmp_path, monkeypatch):
    """Without a checkout's data/ folder, is the file found in the installed package?"""
    package = tmp_path / "fake_datasets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "will_i_pass.csv").write_text("lectures,hours,passed\n1,2.0,0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(data, "_CHECKOUT_DATA", tmp_path / "no_checkout")
    monkeypatch.setattr(data, "_PACKAGE", "fake_datasets")
    assert data.data_path("will_i_pass.csv") == package / "will_i_pass.csv"
    X, y = data.load_will_i_pass()
    assert X.tolist() == [[1.0, 2.0]] and y.tolist() == [0]


def test_missing_file_says_where_and_how():
    """Does a missing data file name every place searched and how to fix it?"""
    with pytest.raises(FileNotFoundError) as info:
        data.data_path("no_such_file.csv")
    message = str(info.value)
    assert "'no_such_file.csv' not found" in message
    assert str(REPO / "data" / "no_such_file.csv") in message
    assert "course_utils.datasets" in message
    assert "Fix:" in message


def test_moons_are_reproducible():
    """Do the moons come out the same for the same seed and in the documented shapes?"""
    X, y = data.make_moons_data(50, 0.1, np.random.default_rng(0))
    X_again, y_again = data.make_moons_data(50, 0.1, np.random.default_rng(0))
    assert X.shape == (50, 2) and y.shape == (50,) and y.dtype == np.int64
    np.testing.assert_array_equal(X, X_again)
    np.testing.assert_array_equal(y, y_again)
    assert not np.array_equal(X, data.make_moons_data(50, 0.1, np.random.default_rng(1))[0])


def test_blobs_shapes_and_rng_type():
    """Do blobs have C classes and D features, and is a legacy seed instead of a Generator refused?"""
    X, y = data.make_blobs_data(30, centers=3, std=0.5, rng=np.random.default_rng(0), num_features=4)
    assert X.shape == (30, 4) and set(y.tolist()) == {0, 1, 2}
    with pytest.raises(TypeError, match="default_rng"):
        data.make_blobs_data(30, rng=0)


def test_digits_split_is_fixed_disjoint_and_stratified():
    """Does load_digits_split give the same 1077/360/360 split every call, with no image in two parts, every class
    in every part, pixels in [0, 1] and the requested dtype?"""
    first, second = data.load_digits_split(), data.load_digits_split(np.float64)
    sizes = tuple(len(part) for part in (first.y_train, first.y_val, first.y_test))
    assert sizes == data.DIGITS_SIZES == (1077, 360, 360)
    assert first.X_train.shape == (1077, 64) and first.X_train.dtype == np.float32 and first.y_train.dtype == np.int64
    assert second.X_test.dtype == np.float64 and np.array_equal(first.y_test, second.y_test)
    assert np.allclose(first.X_val, second.X_val) and 0.0 <= first.X_train.min() and first.X_train.max() <= 1.0
    rows = [tuple(r) for part in (second.X_train, second.X_val, second.X_test) for r in part.round(6)]
    from sklearn.datasets import load_digits
    everything = sorted(tuple(r) for r in (load_digits().data / 16.0).round(6))
    assert sorted(rows) == everything  # the three parts are the whole data set, each image once
    for part in (first.y_train, first.y_val, first.y_test):
        counts = np.bincount(part, minlength=10)
        assert counts.min() >= 0.08 * len(part) and counts.max() <= 0.12 * len(part)
