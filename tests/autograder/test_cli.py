"""autograder.cli: the parser of `python -m autograder`, each command's arguments, options and defaults."""
from __future__ import annotations

import pytest

from autograder import cli


def parse(*argv: str) -> dict:
    args = vars(cli.build_parser().parse_args(argv))
    return {k: v for k, v in args.items() if k != "func"}


def test_commands_in_help_order_each_with_its_function():
    """Does the parser offer the seven commands, in this order, each running its own function?"""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert list(commands.choices) == ["release", "grade", "autograde", "sweep", "collect", "export", "report"]
    funcs = {"release": cli._release, "grade": cli._grade, "autograde": cli._autograde, "sweep": cli._sweep,
             "collect": cli._collect, "export": cli._export, "report": cli._report}
    for name, func in funcs.items():
        assert commands.choices[name].get_default("func") is func
    with pytest.raises(SystemExit):
        parser.parse_args([])


def test_release():
    assert parse("release") == {"command": "release", "labs": [], "check": False}
    assert parse("release", "a", "b", "--check") == {"command": "release", "labs": ["a", "b"], "check": True}


def test_grade():
    assert parse("grade", "lab", "s.ipynb") == {"command": "grade", "lab": "lab", "submission": "s.ipynb",
                                                "json": False, "seed": None, "timeout_cell": None,
                                                "memory_mb": None, "unconfined": False}
    args = parse("grade", "lab", "s.ipynb", "--json", "--seed", "3", "--timeout-cell", "1.5", "--memory-mb", "512",
                 "--unconfined")
    assert (args["json"], args["seed"], args["timeout_cell"], args["memory_mb"], args["unconfined"]) == (
        True, 3, 1.5, 512, True)


def test_autograde():
    assert parse("autograde", "a") == {"command": "autograde", "labs": ["a"], "course_dir": ".", "workers": None,
                                       "scheduler": None, "seed": None, "force": False, "time_limit": None,
                                       "unconfined": False, "no_preflight": False}
    args = parse("autograde", "a", "b", "--course-dir", "c", "--workers", "2", "--scheduler", "tcp://h:1",
                 "--seed", "9", "--force", "--time-limit", "60", "--unconfined", "--no-preflight")
    assert args == {"command": "autograde", "labs": ["a", "b"], "course_dir": "c", "workers": 2,
                    "scheduler": "tcp://h:1", "seed": 9, "force": True, "time_limit": 60.0, "unconfined": True,
                    "no_preflight": True}
    with pytest.raises(SystemExit):
        parse("autograde")


def test_sweep():
    assert parse("sweep", "a") == {"command": "sweep", "lab": "a", "seeds": 3000, "first": 0, "only": None,
                                   "seeds_for": [], "root": "."}
    args = parse("sweep", "a", "--seeds", "5", "--first", "2", "--only", "t", "--seeds-for", "t=1",
                 "--seeds-for", "u=2", "--root", "r")
    assert (args["seeds"], args["first"], args["only"], args["seeds_for"], args["root"]) == (
        5, 2, "t", ["t=1", "u=2"], "r")


def test_collect():
    assert parse("collect", "a", "d.zip") == {"command": "collect", "lab": "a", "source": "d.zip", "lms": "canvas",
                                              "course_dir": "."}
    assert parse("collect", "a", "d", "--lms", "moodle", "--course-dir", "c")["lms"] == "moodle"
    with pytest.raises(SystemExit):
        parse("collect", "a", "d", "--lms", "blackboard")


def test_export_and_report():
    assert parse("export", "a") == {"command": "export", "labs": ["a"], "course_dir": ".", "roster": None,
                                    "out": None, "wide": None}
    assert parse("export", "a", "--roster", "r.csv", "--out", "o.csv", "--wide", "w.csv", "--course-dir", "c") == {
        "command": "export", "labs": ["a"], "course_dir": "c", "roster": "r.csv", "out": "o.csv", "wide": "w.csv"}
    assert parse("report", "a", "b") == {"command": "report", "labs": ["a", "b"], "course_dir": ".", "out": None}
    assert parse("report", "a", "--out", "r.html")["out"] == "r.html"


def test_shared_options_keep_each_commands_help(capsys):
    """Do the options built by the shared helpers say, per command, what the course directory holds?"""
    helps = {}
    for command in ("autograde", "collect", "export", "report"):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args([command, "--help"])
        helps[command] = " ".join(capsys.readouterr().out.split())
    assert "holding nbgrader_config.py, the source and submitted/ (default: .)" in helps["autograde"]
    assert "holding nbgrader_config.py (default: .)" in helps["collect"]
    assert "holding nbgrader_config.py and gradebook.db (default: .)" in helps["export"]
    assert "holding nbgrader_config.py and gradebook.db (default: .)" in helps["report"]


def test_a_grade_call_ends_fast_and_leaves_nothing_behind(tmp_path):
    """Does `python -m autograder grade` (which ends without the interpreter's teardown) print its whole JSON, exit 0
    and leave no sandbox folder in its temporary directory?"""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "01_perceptron",
                           str(ROOT / "solutions" / "01_perceptron" / "01_perceptron.ipynb"), "--json", "--seed", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["score"] == result["max_score"] > 0
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("ag-")]


def test_end_process_runs_atexit_and_flushes_before_a_fast_exit():
    import subprocess
    import sys

    from autograder.cli import end_process
    from tests.conftest import ROOT

    with pytest.raises(SystemExit) as stop:
        end_process(4, False)
    assert stop.value.code == 4
    code = ("import atexit, sys\nfrom autograder.cli import end_process\n"
            "atexit.register(lambda: print('cleaned'))\nprint('result', end=' ')\nend_process(3, True)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (3, "result cleaned\n")
