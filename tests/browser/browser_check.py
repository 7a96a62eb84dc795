"""`make test-browser`: the labs in a real browser, through JupyterLab's own user interface.

Not part of `make test` (the file name does not match test_*.py; the Makefile names it). It runs
under .venv-browser (Playwright from PyPI) and drives Debian's Chromium (never a downloaded
browser) against JupyterLab from the course's .venv, started on 127.0.0.1 over a scratch copy of
solutions/ and notebooks/ and stopped at the end. Labs are discovered, so new labs are covered.

* Each solution notebook: Run > Run All Cells, within 90 s; then no error output, every matplotlib
  figure shown as an image, every widget rendered as a widget (no text fallback, no "Error
  displaying widget"), tqdm bars as progress bars, and every slider, moved with the keyboard,
  changes its widget's plot or readout.
* Each untouched student notebook: every cell in turn (Shift+Enter; Run All would stop at the first
  error): NotImplementedError only in exercise and test cells, no other error anywhere, and a demo
  cell that waits for an exercise shows only its one-line note.

* Student markup toward the instructor: the feedback HTML (``nbgrader generate_feedback`` with the course
  config) of submissions whose Markdown and outputs carry script runs none of it in Chromium (the title stays,
  window.xss stays unset, no dialog), and their autograded notebook opens untrusted in JupyterLab.

Screenshots of every widget go to $BROWSER_SCREENSHOTS (default build/browser-screenshots).
"""
from __future__ import annotations

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
LABS = sorted(p.parent.name for p in ROOT.glob("solutions/*/*.ipynb") if p.stem == p.parent.name)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
JUPYTER = Path(os.environ.get("BROWSER_JUPYTER", ROOT / ".venv" / "bin" / "jupyter"))
SHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", ROOT / "build" / "browser-screenshots"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
RUN_ALL_LIMIT_S = 90
NOTE = re.compile(r"^\(complete Exercises? .* to see this[^)]*\)$")
TEXT_FALLBACK = re.compile(r"\b(?:[A-Z][A-Za-z]*Box|[A-Z][A-Za-z]*Progress|[A-Z][A-Za-z]*Slider)\(|Loading widget|"
                           r"Error displaying widget")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """A scratch course: solutions/<lab>/ and notebooks/, and JupyterLab settings (no virtual scrolling, no news)."""
    root = tmp_path_factory.mktemp("course")
    for lab in LABS:
        shutil.copytree(ROOT / "solutions" / lab, root / "solutions" / lab)
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    settings = root.parent / "lab-settings"
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                           "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return root


@pytest.fixture(scope="session")
def server(course):
    """JupyterLab on 127.0.0.1 over the scratch course; (base URL, token); stopped at the end."""
    if not JUPYTER.exists():
        pytest.fail(f"{JUPYTER} is missing: run `make venv` first")
    port, token = _free_port(), secrets.token_hex(16)
    scratch = course.parent
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(scratch / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "lab-workspaces"), "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
           "JUPYTER_CONFIG_DIR": str(scratch / "config")}
    env.pop("MPLBACKEND", None)
    log = open(scratch / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={course}", "--ServerApp.allow_root=True",
         "--LabApp.expose_app_in_browser=True"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start within 90 s:\n{(scratch / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (apt-get install -y chromium), "
                    "or set CHROMIUM=/path/to/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _kind(cell: dict) -> str:
    meta = cell.get("metadata", {})
    grader = meta.get("nbgrader", {})
    if "setup" in meta.get("tags", []):
        return "setup"
    if grader.get("solution"):
        return "exercise"
    if grader.get("grade"):
        return "test"
    return "demo"


JS_NOTEBOOK = """() => {
  if (!window.jupyterapp || !window.jupyterapp.shell) return null;
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  const model = panel.content.model.cells;
  for (let i = 0; i < model.length; i++) {
    const c = model.get(i);
    cells.push(c.type === 'code' ? {type: 'code', count: c.executionCount, outputs: c.outputs.toJSON()} : {type: c.type});
  }
  const busy = [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].some(p => p.textContent.includes('*'));
  return {status: kernel ? kernel.status : 'none', busy, cells};
}"""


JS_DOM = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell => {
  const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')];
  return {
    images: [...cell.querySelectorAll('.jp-OutputArea-output img')]
      .filter(i => i.complete && i.naturalWidth > 0 && !i.closest('.jupyter-widgets')).length,
    widgets: outputs.filter(o => o.querySelector('.jupyter-widgets')).length,
    sliders: cell.querySelectorAll('.jp-OutputArea-output .widget-slider').length,
    progress: cell.querySelectorAll('.widget-progress, .widget-hprogress').length,
    text: outputs.map(o => o.innerText).join('\\n'),
  };
})"""


def _state(page) -> dict:
    return page.evaluate(JS_NOTEBOOK)


def _open(page, server, rel: str) -> None:
    base, token = server
    page.goto(f"{base}/lab/tree/{rel}?token={token}&reset", wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_function(f"""() => {{ const f = ({JS_NOTEBOOK})(); return f && f.status === 'idle' && f.cells.length > 0; }}""",
                           timeout=90_000, polling=500)


def _wait_done(page, limit_s: float, code_cells: int | None = None) -> dict:
    """Wait until the kernel is idle with no queued cell (and, when given, that many cells executed)."""
    deadline = time.monotonic() + limit_s
    while True:
        state = _state(page)
        executed = sum(1 for c in state["cells"] if c["type"] == "code" and c["count"] is not None)
        if state["status"] == "idle" and not state["busy"] and (code_cells is None or executed >= code_cells):
            time.sleep(0.5)  # comm messages of the last outputs
            state = _state(page)
            if state["status"] == "idle" and not state["busy"]:
                return state
        if time.monotonic() > deadline:
            return state
        time.sleep(0.25)


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).first.click()


def _texts(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
        elif "data" in out and "text/plain" in out["data"] and not any(k.startswith(("image/", "application/vnd.jupyter.widget"))
                                                                        for k in out["data"]):
            plain = out["data"]["text/plain"]
            parts.append(plain if isinstance(plain, str) else "".join(plain))
    return "".join(parts)


def _widget_signature(area) -> str:
    """What a widget shows besides its sliders' own readouts: images and HTML/label text."""
    return area.evaluate("""node => {
      const imgs = [...node.querySelectorAll('img')].map(i => i.src.length + ':' + i.src.slice(-64));
      const text = [...node.querySelectorAll('.widget-html, .widget-label, .widget-htmlmath, .jp-OutputArea-output pre')]
        .filter(e => !e.closest('.widget-slider')).map(e => e.textContent);
      return JSON.stringify([imgs, text]);
    }""")


@pytest.mark.parametrize("lab", LABS)
def test_solution_runs_all_in_the_browser(lab, server, browser):
    """Run All: no errors, every figure and widget rendered, sliders respond, tqdm bars are bars, under 90 s."""
    cells = _cells(ROOT / "solutions" / lab / f"{lab}.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    problems = []
    try:
        _open(page, server, f"solutions/{lab}/{lab}.ipynb")
        start = time.monotonic()
        _menu(page, "Run", "Run All Cells")
        code = sum(1 for c in cells if c["cell_type"] == "code")
        state = _wait_done(page, RUN_ALL_LIMIT_S + 30, code)
        elapsed = time.monotonic() - start
        print(f"{lab}: Run All took {elapsed:.1f} s in the browser")
        executed = sum(1 for c in state["cells"] if c["type"] == "code" and c["count"] is not None)
        assert executed == code, f"{lab}: {executed} of {code} code cells ran (kernel {state['status']})"
        assert elapsed < RUN_ALL_LIMIT_S, f"{lab}: Run All took {elapsed:.1f} s (limit {RUN_ALL_LIMIT_S} s)"
        page.wait_for_timeout(1500)  # widget views render after their comm messages

        dom_cells = page.locator(".jp-Notebook .jp-Cell")
        assert dom_cells.count() == len(cells)
        dom = page.evaluate(JS_DOM)
        shots = SHOTS / lab / "solution"
        shots.mkdir(parents=True, exist_ok=True)
        uses_tqdm = False
        counts = {"figures": 0, "widgets": 0, "sliders": 0}
        for index, cell in enumerate(state["cells"]):
            if cell["type"] != "code":
                continue
            outputs = cell["outputs"]
            where = f"{lab} cell {index}"
            for out in outputs:
                if out.get("output_type") == "error":
                    problems.append(f"{where}: {out['ename']}: {out['evalue'][:200]}")
            seen = dom[index]
            figures = sum(1 for o in outputs if "image/png" in o.get("data", {}))
            if seen["images"] != figures:
                problems.append(f"{where}: {figures} figure(s) in the outputs, {seen['images']} shown as images")
            widgets = sum(1 for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {}))
            if TEXT_FALLBACK.search(seen["text"]):
                problems.append(f"{where}: a widget shows as text: {TEXT_FALLBACK.search(seen['text']).group(0)!r}")
            if widgets and seen["widgets"] < widgets:
                problems.append(f"{where}: {widgets} widget output(s), {seen['widgets']} rendered as widgets")
            uses_tqdm = uses_tqdm or seen["progress"] > 0
            if re.search(r"\d+%\|.*\|", _texts(outputs)):
                problems.append(f"{where}: a tqdm bar printed as text instead of a widget")
            counts["figures"] += seen["images"]
            counts["widgets"] += seen["widgets"]
            counts["sliders"] += seen["sliders"]
            if not seen["widgets"]:
                continue
            areas = dom_cells.nth(index).locator(".jp-OutputArea-output").filter(has=page.locator(".jupyter-widgets"))
            for n in range(areas.count()):
                area = areas.nth(n)
                area.scroll_into_view_if_needed()
                area.screenshot(path=str(shots / f"cell{index:03d}-widget{n}.png"))
                problems += _move_sliders(page, area, f"{where} widget {n}", shots / f"cell{index:03d}-widget{n}")
        print(f"{lab}: {counts['figures']} figures, {counts['widgets']} widgets (tqdm bars included), "
              f"{counts['sliders']} sliders moved; screenshots in {shots}")
        if any("tqdm" in "".join(c["source"]) for c in cells if c["cell_type"] == "code"):
            if not uses_tqdm:
                problems.append(f"{lab}: the notebook uses tqdm, but no progress bar widget is shown")
    finally:
        page.close()
    assert not problems, "\n".join(problems)


def _drag(page, area, handle, before: str) -> bool:
    box = handle.bounding_box()
    if not box:
        return False
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx in (-40, 40):
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + dx, y, steps=5)
        page.mouse.up()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            page.wait_for_timeout(300)
            if _widget_signature(area) != before:
                return True
    return False


def _settle(page, area, quiet_s: float = 1.5, timeout_s: float = 30.0) -> None:
    """Wait until the widget's images and texts have not changed for `quiet_s` (redraws queued by several
    key presses arrive one after another), or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    last, since = _widget_signature(area), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        page.wait_for_timeout(250)
        now = _widget_signature(area)
        if now != last:
            last, since = now, time.monotonic()


def _move_sliders(page, area, where: str, shot_prefix: Path) -> list[str]:
    problems = []
    sliders = area.locator(".widget-slider")
    for k in range(sliders.count()):
        slider = sliders.nth(k)
        handle = slider.locator(".noUi-handle, .ui-slider-handle").first
        readout = slider.locator(".widget-readout").first
        before_value = readout.inner_text() if readout.count() else None
        before = _widget_signature(area)
        changed = False
        for key in ("ArrowRight", "ArrowLeft"):
            handle.focus()
            for _ in range(3 if key == "ArrowRight" else 6):
                page.keyboard.press(key)
            page.wait_for_timeout(500)
            if readout.count() and readout.inner_text() == before_value:
                continue  # at the end of its range, or the keys did not reach it: try the other way
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if _widget_signature(area) != before:
                    changed = True
                    break
                page.wait_for_timeout(300)
            if changed:
                break
        try:  # the new plot has arrived (an <img> is blank while its new PNG loads)
            area.locator("img").first.wait_for(timeout=1000) if area.locator("img").count() else None
            page.wait_for_function("node => [...node.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)",
                                   arg=area.element_handle(), timeout=15_000)
        except Exception:
            problems.append(f"{where}: after moving slider {k}, its plot did not render within 15 s")
        if not changed and readout.count() and readout.inner_text() == before_value:
            changed = _drag(page, area, handle, before)  # the keyboard did not move it: drag it with the mouse
        if changed:
            _settle(page, area)  # each key press was a change: the screenshot shows the last one's plot
        label = slider.locator(".widget-label").first.inner_text() if slider.locator(".widget-label").count() else str(k)
        moved = readout.inner_text() if readout.count() else None
        if moved == before_value:
            problems.append(f"{where}: slider {label!r} did not move with the keyboard (readout {before_value!r})")
        elif not changed:
            problems.append(f"{where}: moving slider {label!r} ({before_value} -> {moved}) changed neither plot nor readout")
        area.screenshot(path=f"{shot_prefix}-moved-{re.sub(r'[^A-Za-z0-9_]+', '_', label)[:30] or k}.png")
    return problems


@pytest.mark.parametrize("lab", LABS)
def test_untouched_student_notebook_runs_cell_by_cell(lab, server, browser):
    """Every cell in turn: NotImplementedError only where an exercise is due, one-line notes in demo cells."""
    cells = _cells(ROOT / "notebooks" / f"{lab}.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    problems = []
    try:
        _open(page, server, f"notebooks/{lab}.ipynb")
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.keyboard.press("Escape")  # command mode on the first cell
        start = time.monotonic()
        for index, cell in enumerate(cells):
            page.keyboard.press("Shift+Enter")
            if cell["cell_type"] == "code":
                deadline = time.monotonic() + 120
                while True:
                    state = _state(page)
                    if state["cells"][index]["count"] is not None and state["status"] == "idle":
                        break
                    assert time.monotonic() < deadline, f"{lab} cell {index} did not finish within 120 s"
                    page.wait_for_timeout(150)
        print(f"{lab}: every cell in turn took {time.monotonic() - start:.1f} s in the browser")
        state = _wait_done(page, 30)
        shots = SHOTS / lab / "student"
        shots.mkdir(parents=True, exist_ok=True)
        dom_cells = page.locator(".jp-Notebook .jp-Cell")
        seen_errors, notes = 0, 0
        for index, (cell, seen) in enumerate(zip(cells, state["cells"])):
            if cell["cell_type"] != "code":
                continue
            kind, outputs, where = _kind(cell), seen["outputs"], f"{lab} cell {index} ({_kind(cell)})"
            errors = [o for o in outputs if o.get("output_type") == "error"]
            seen_errors += len(errors)
            for error in errors:
                if not (error["ename"] == "NotImplementedError" and kind in ("exercise", "test")):
                    problems.append(f"{where}: {error['ename']}: {error['evalue'][:200]}")
            text = _texts(outputs).strip()
            if kind == "demo" and any(NOTE.match(line) for line in text.splitlines()):
                # the note stands for what needs the exercise: one line, no figure or widget (no empty axes);
                # lines the cell prints before it from finished parts are fine
                notes += 1
                rich = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")]
                if sum(bool(NOTE.match(line)) for line in text.splitlines()) != 1 or rich:
                    problems.append(f"{where}: shows more than one note line or a display beside its note: "
                                    f"{text[:200]!r} and {len(rich)} display(s)")
            areas = dom_cells.nth(index).locator(".jp-OutputArea-output").filter(has=page.locator(".jupyter-widgets"))
            for n in range(areas.count()):
                areas.nth(n).scroll_into_view_if_needed()
                areas.nth(n).screenshot(path=str(shots / f"cell{index:03d}-widget{n}.png"))
        print(f"{lab}: {sum(c['cell_type'] == 'code' for c in cells)} code cells run in turn, {seen_errors} error output(s), "
              f"{notes} demo cell(s) showing a one-line note")
    finally:
        page.close()
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- student markup toward the instructor

JS_PROVOKE = """() => {
  // fire what inline handlers wait for, on every element of the page body; follow javascript: links
  const events = ['mouseover', 'mouseenter', 'focus', 'click', 'toggle', 'load', 'error', 'animationstart'];
  for (const el of document.body.querySelectorAll('*')) {
    for (const name of events) {
      if (name === 'click' && el.tagName !== 'A') continue;
      if (name === 'click' && el.protocol !== 'javascript:') continue;
      el.dispatchEvent(new Event(name, {bubbles: false}));
    }
  }
  for (const d of document.querySelectorAll('details')) d.open = !d.open;
  return null;
}"""
JS_LEFT = """() => ({
  title: document.title,
  xss: window.xss === undefined ? null : String(window.xss),
  handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].filter(a => /^on/i.test(a.name))
             .map(a => e.tagName + ' ' + a.name)),
  risky: [...document.querySelectorAll('iframe, object, embed, svg, math, form, base, a[href^="javascript:" i]')]
         .map(e => e.tagName),
  text: document.body.innerText,
})"""


@pytest.fixture(scope="session")
def hostile_feedback(tmp_path_factory):
    """The course of tests/autograder/test_markup.py, built and given feedback by the course's .venv (nbgrader lives
    there): {'alice', 'mallory', 'eve': feedback HTML, 'autograded': mallory's autograded notebook}."""
    python = JUPYTER.parent / "python"
    root = tmp_path_factory.mktemp("markup") / "course"
    code = ("import json, sys; from tests.autograder.test_markup import write_feedback; "
            "print(json.dumps(write_feedback(sys.argv[1])))")
    done = subprocess.run([str(python), "-c", code, str(root)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _offline(page) -> list[str]:
    """Block every request but file:// (the feedback's MathJax comes from a CDN); returns the blocked URLs."""
    blocked = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith("file:"):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    page.route("**/*", route)
    return blocked


def test_feedback_of_hostile_markup_runs_no_script(browser, hostile_feedback):
    """Feedback pages of submissions whose Markdown and outputs carry script (<script>, onerror, <svg onload>,
    javascript: links, iframes, <style>, HTML and JavaScript outputs): in Chromium, no payload changes the page
    title or sets window.xss, even with every handler's event fired, and no dialog opens. A control page with the
    same kind of payload, unsanitised, does change the title (the check can see script run)."""
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.set_content("<title>control</title><img src=x onerror=\"document.title='XSS-control'; window.xss=1\">")
        page.wait_for_function("() => document.title === 'XSS-control'", timeout=10_000)
        blocked = _offline(page)
        for student in ("mallory", "eve"):
            path = Path(hostile_feedback[student])
            page.goto(path.as_uri(), wait_until="load", timeout=60_000)
            page.wait_for_timeout(1000)  # failed images fire their error events
            page.evaluate(JS_PROVOKE)
            page.wait_for_timeout(1000)
            left = page.evaluate(JS_LEFT)
            print(f"{student}'s feedback: title {left['title']!r}, {len(left['text'])} characters shown")
            assert left["title"] == "toy", f"{student}: a payload changed the title to {left['title']!r}"
            assert left["xss"] is None, f"{student}: a payload set window.xss"
            assert not left["handlers"], f"{student}: event handlers in the page: {left['handlers'][:5]}"
            assert not left["risky"], f"{student}: {left['risky']} in the page"
            assert "My answer" in left["text"], f"{student}: the student's Markdown text is not shown"
            if student == "eve":  # the raw notebook's outputs: a widget view leaves its text, removals are said
                assert "IntSlider(value=3)" in left["text"] and "[output removed for safety: image/svg+xml]" in left["text"]
        assert not dialogs, f"dialogs opened: {dialogs}"
        assert not [u for u in blocked if "XSS" in u], f"payload requests: {[u for u in blocked if 'XSS' in u]}"
    finally:
        page.close()


def test_autograded_hostile_notebook_opens_untrusted(server, browser, course, hostile_feedback):
    """The autograded notebook of the hostile submission, opened in JupyterLab: unsigned, so untrusted; no payload
    changes the title or sets window.xss; the student's Markdown text is shown."""
    target = course / "autograded-check" / "mallory.ipynb"
    target.parent.mkdir(exist_ok=True)
    shutil.copy(hostile_feedback["autograded"], target)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    try:
        _open(page, server, "autograded-check/mallory.ipynb")
        title = page.title()
        page.wait_for_timeout(1500)
        trusted = page.evaluate("""() => {
          const model = window.jupyterapp.shell.currentWidget.content.model.cells;
          const out = [];
          for (let i = 0; i < model.length; i++) { const c = model.get(i); if (c.type === 'code') out.push(c.trusted); }
          return out;
        }""")
        left = page.evaluate(JS_LEFT)
        assert trusted and not any(trusted), f"code cells trusted: {trusted}"
        assert left["title"] == title and "XSS" not in left["title"], f"the title became {left['title']!r}"
        assert left["xss"] is None, "a payload set window.xss"
        assert "My answer" in left["text"]
    finally:
        page.close()


def test_self_check_shows_its_receipt_after_run_all(course, server, browser):
    """A solved student notebook: after Run All its last cell ("will this notebook grade?") shows a receipt read
    from the saved file; after Ctrl-S and running that cell again, every public check passed and the SHA-256 is
    the saved file's."""
    import hashlib

    from tests.files.solved import solved_notebook

    lab = LABS[0]
    nb = solved_notebook(ROOT, lab)
    manifest = nb["cells"][-1]["metadata"]["selfcheck"]
    graded = sum(e["role"] in ("answer", "test") for e in manifest["cells"])
    tests = sum(e["role"] == "test" for e in manifest["cells"])
    path = course / "solved" / f"{lab}.ipynb"
    path.parent.mkdir(exist_ok=True)
    shutil.copytree(ROOT / "solutions" / lab, path.parent, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.ipynb"))
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    try:
        _open(page, server, f"solved/{lab}.ipynb")
        _menu(page, "Run", "Run All Cells")
        code = sum(1 for c in nb["cells"] if c["cell_type"] == "code")
        state = _wait_done(page, RUN_ALL_LIMIT_S + 30, code)
        first = _texts(state["cells"][-1]["outputs"])
        print(f"{lab}: the self-check after Run All, before saving:\n{first}")
        assert f"Self-check of Lab {lab[:2]} ({lab})" in first
        assert f"graded cells:    {graded} of {graded} found" in first
        assert "✔ This notebook will grade" in first and "none has run" in first
        assert f"this kernel has run {code - 1} cells since the file was saved" in first  # the file lags behind

        before = path.stat().st_mtime_ns
        page.locator(".jp-Notebook .jp-Cell").last.click()
        page.keyboard.press("Escape")
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while path.stat().st_mtime_ns == before:
            assert time.monotonic() < deadline, "Ctrl-S did not save the notebook within 30 s"
            time.sleep(0.25)
        time.sleep(1)
        saved = path.read_bytes()
        count = state["cells"][-1]["count"]
        page.keyboard.press("Control+Enter")  # run the self-check cell again, on the saved file
        deadline = time.monotonic() + 30
        while True:
            state = _state(page)
            if state["cells"][-1]["count"] not in (None, count) and state["status"] == "idle":
                break
            assert time.monotonic() < deadline, "the self-check cell did not run again within 30 s"
            page.wait_for_timeout(150)
        receipt = _texts(state["cells"][-1]["outputs"])
        print(f"{lab}: the self-check after saving:\n{receipt}")
        assert "✔ This notebook will grade" in receipt, receipt
        assert f"public checks:   {tests} of {tests} passed in the saved outputs" in receipt, receipt
        assert f"SHA-256:         {hashlib.sha256(saved).hexdigest()} (of the saved file)" in receipt, receipt
        assert f"{path.parent.name}/{path.name}" in receipt and "since the file was saved" not in receipt
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator(".jp-Notebook .jp-Cell").last.screenshot(path=str(SHOTS / f"{lab}-self-check.png"))
    finally:
        page.close()
