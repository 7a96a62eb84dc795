"""JupyterLab and Chromium for `make test-browser` (tests/browser/browser_check.py): the scratch course, the
server on 127.0.0.1, the browser, and driving a notebook page through JupyterLab's own user interface."""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LABS = sorted(p.parent.name for p in ROOT.glob("solutions/*/*.ipynb") if p.stem == p.parent.name)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
JUPYTER = Path(os.environ.get("BROWSER_JUPYTER", ROOT / ".venv" / "bin" / "jupyter"))
SHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", ROOT / "build" / "browser-screenshots"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
RUN_ALL_LIMIT_S = 90
SERVER_START_LIMIT_S = 90
VIEWPORT = {"width": 1400, "height": 1000}
PAGE_TIMEOUT_MS = 30_000
LAB_SETTINGS = {"notebook-extension/tracker": {"windowingMode": "none"},
                "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_course(root: Path) -> Path:
    """A scratch course in `root`: solutions/<lab>/ and notebooks/, and JupyterLab settings beside it (no virtual
    scrolling, no news)."""
    for lab in LABS:
        shutil.copytree(ROOT / "solutions" / lab, root / "solutions" / lab)
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    settings = root.parent / "lab-settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return root


def _wait_for_server(proc, base: str, token: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_LIMIT_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"JupyterLab did not start within {SERVER_START_LIMIT_S} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)


def _stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def running_jupyterlab(course: Path):
    """JupyterLab on 127.0.0.1 over the scratch course; yields (base URL, token); stopped at the end."""
    if not JUPYTER.exists():
        pytest.fail(f"{JUPYTER} is missing: run `make venv` first")
    port, token = free_port(), secrets.token_hex(16)
    scratch = course.parent
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(scratch / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "lab-workspaces"), "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
           "JUPYTER_CONFIG_DIR": str(scratch / "config")}
    env.pop("MPLBACKEND", None)
    log_path = scratch / "jupyterlab.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={course}", "--ServerApp.allow_root=True",
         "--LabApp.expose_app_in_browser=True"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(proc, base, token, log_path)
        yield base, token
    finally:
        _stop(proc)
        log.close()


@contextlib.contextmanager
def headless_chromium():
    """Debian's Chromium (never a downloaded browser), headless, driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (apt-get install -y chromium), "
                    "or set CHROMIUM=/path/to/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def new_page(browser):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    return page


def notebook_cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def cell_kind(cell: dict) -> str:
    meta = cell.get("metadata", {})
    grader = meta.get("nbgrader", {})
    if "setup" in meta.get("tags", []):
        return "setup"
    if grader.get("solution"):
        return "exercise"
    if grader.get("grade"):
        return "test"
    return "demo"


JS_NOTEBOOK = (HERE / "notebook_state.js").read_text().rstrip("\n")  # a function Playwright evaluates in the page


JS_DOM = (HERE / "cell_outputs.js").read_text().rstrip("\n")  # a function Playwright evaluates in the page


def notebook_state(page) -> dict:
    return page.evaluate(JS_NOTEBOOK)


def open_notebook(page, server, rel: str) -> None:
    base, token = server
    page.goto(f"{base}/lab/tree/{rel}?token={token}&reset", wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_function(f"""() => {{ const f = ({JS_NOTEBOOK})(); return f && f.status === 'idle' && f.cells.length > 0; }}""",
                           timeout=90_000, polling=500)


def executed_cells(state: dict) -> int:
    return sum(1 for c in state["cells"] if c["type"] == "code" and c["count"] is not None)


def wait_done(page, limit_s: float, code_cells: int | None = None) -> dict:
    """Wait until the kernel is idle with no queued cell (and, when given, that many cells executed)."""
    deadline = time.monotonic() + limit_s
    while True:
        state = notebook_state(page)
        if state["status"] == "idle" and not state["busy"] and (code_cells is None or executed_cells(state) >= code_cells):
            time.sleep(0.5)  # comm messages of the last outputs
            state = notebook_state(page)
            if state["status"] == "idle" and not state["busy"]:
                return state
        if time.monotonic() > deadline:
            return state
        time.sleep(0.25)


def wait_cell_ran(page, index: int, limit_s: float, message: str, previous_count=None) -> dict:
    """Wait until cell `index` has an execution count other than `previous_count` and the kernel is idle."""
    deadline = time.monotonic() + limit_s
    while True:
        state = notebook_state(page)
        if state["cells"][index]["count"] not in (None, previous_count) and state["status"] == "idle":
            return state
        assert time.monotonic() < deadline, message
        page.wait_for_timeout(150)


def menu(page, name: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{name}$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).first.click()


def output_text(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
        elif "data" in out and "text/plain" in out["data"] and not any(k.startswith(("image/", "application/vnd.jupyter.widget"))
                                                                        for k in out["data"]):
            plain = out["data"]["text/plain"]
            parts.append(plain if isinstance(plain, str) else "".join(plain))
    return "".join(parts)
