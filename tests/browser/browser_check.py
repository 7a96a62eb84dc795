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
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.browser.jupyterlab import (JS_DOM, JUPYTER, LABS, ROOT, RUN_ALL_LIMIT_S, SHOTS, cell_kind, executed_cells,
                                      headless_chromium, menu, new_page, notebook_cells, open_notebook, output_text,
                                      running_jupyterlab, wait_cell_ran, wait_done, write_course)
from tests.browser.widgets import output_problems, widget_areas, widget_problems

NOTE = re.compile(r"^\(complete Exercises? .* to see this[^)]*\)$")
CELL_LIMIT_S = 120
SETTLE_MS = 1500  # widget views render after their comm messages


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """A scratch course: solutions/<lab>/ and notebooks/, and JupyterLab settings (no virtual scrolling, no news)."""
    return write_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="session")
def server(course):
    """JupyterLab on 127.0.0.1 over the scratch course; (base URL, token); stopped at the end."""
    with running_jupyterlab(course) as base_and_token:
        yield base_and_token


@pytest.fixture(scope="session")
def browser():
    with headless_chromium() as chromium:
        yield chromium


def _run_all(page, lab: str, code: int) -> dict:
    """Run > Run All Cells: every code cell ran, within RUN_ALL_LIMIT_S; the notebook's state."""
    start = time.monotonic()
    menu(page, "Run", "Run All Cells")
    state = wait_done(page, RUN_ALL_LIMIT_S + 30, code)
    elapsed = time.monotonic() - start
    print(f"{lab}: Run All took {elapsed:.1f} s in the browser")
    executed = executed_cells(state)
    assert executed == code, f"{lab}: {executed} of {code} code cells ran (kernel {state['status']})"
    assert elapsed < RUN_ALL_LIMIT_S, f"{lab}: Run All took {elapsed:.1f} s (limit {RUN_ALL_LIMIT_S} s)"
    return state


@pytest.mark.parametrize("lab", LABS)
def test_solution_runs_all_in_the_browser(lab, server, browser):
    """Run All: no errors, every figure and widget rendered, sliders respond, tqdm bars are bars, under 90 s."""
    cells = notebook_cells(ROOT / "solutions" / lab / f"{lab}.ipynb")
    page = new_page(browser)
    problems = []
    try:
        open_notebook(page, server, f"solutions/{lab}/{lab}.ipynb")
        state = _run_all(page, lab, sum(1 for c in cells if c["cell_type"] == "code"))
        page.wait_for_timeout(SETTLE_MS)

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
            where, seen = f"{lab} cell {index}", dom[index]
            problems += output_problems(where, cell["outputs"], seen, output_text(cell["outputs"]))
            uses_tqdm = uses_tqdm or seen["progress"] > 0
            counts["figures"] += seen["images"]
            counts["widgets"] += seen["widgets"]
            counts["sliders"] += seen["sliders"]
            if seen["widgets"]:
                problems += widget_problems(page, dom_cells.nth(index), where, shots / f"cell{index:03d}")
        print(f"{lab}: {counts['figures']} figures, {counts['widgets']} widgets (tqdm bars included), "
              f"{counts['sliders']} sliders moved; screenshots in {shots}")
        if any("tqdm" in "".join(c["source"]) for c in cells if c["cell_type"] == "code"):
            if not uses_tqdm:
                problems.append(f"{lab}: the notebook uses tqdm, but no progress bar widget is shown")
    finally:
        page.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lab", LABS)
def test_untouched_student_notebook_runs_cell_by_cell(lab, server, browser):
    """Every cell in turn: NotImplementedError only where an exercise is due, one-line notes in demo cells."""
    cells = notebook_cells(ROOT / "notebooks" / f"{lab}.ipynb")
    page = new_page(browser)
    problems = []
    try:
        open_notebook(page, server, f"notebooks/{lab}.ipynb")
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.keyboard.press("Escape")  # command mode on the first cell
        start = time.monotonic()
        for index, cell in enumerate(cells):
            page.keyboard.press("Shift+Enter")
            if cell["cell_type"] == "code":
                wait_cell_ran(page, index, CELL_LIMIT_S, f"{lab} cell {index} did not finish within {CELL_LIMIT_S} s")
        print(f"{lab}: every cell in turn took {time.monotonic() - start:.1f} s in the browser")
        state = wait_done(page, 30)
        shots = SHOTS / lab / "student"
        shots.mkdir(parents=True, exist_ok=True)
        dom_cells = page.locator(".jp-Notebook .jp-Cell")
        seen_errors, notes = 0, 0
        for index, (cell, seen) in enumerate(zip(cells, state["cells"])):
            if cell["cell_type"] != "code":
                continue
            kind, outputs, where = cell_kind(cell), seen["outputs"], f"{lab} cell {index} ({cell_kind(cell)})"
            errors = [o for o in outputs if o.get("output_type") == "error"]
            seen_errors += len(errors)
            for error in errors:
                if not (error["ename"] == "NotImplementedError" and kind in ("exercise", "test")):
                    problems.append(f"{where}: {error['ename']}: {error['evalue'][:200]}")
            text = output_text(outputs).strip()
            if kind == "demo" and any(NOTE.match(line) for line in text.splitlines()):
                # the note stands for what needs the exercise: one line, no figure or widget (no empty axes);
                # lines the cell prints before it from finished parts are fine
                notes += 1
                rich = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")]
                if sum(bool(NOTE.match(line)) for line in text.splitlines()) != 1 or rich:
                    problems.append(f"{where}: shows more than one note line or a display beside its note: "
                                    f"{text[:200]!r} and {len(rich)} display(s)")
            areas = widget_areas(page, dom_cells.nth(index))
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
    page = new_page(browser)
    try:
        open_notebook(page, server, "autograded-check/mallory.ipynb")
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
    page = new_page(browser)
    try:
        open_notebook(page, server, f"solved/{lab}.ipynb")
        menu(page, "Run", "Run All Cells")
        code = sum(1 for c in nb["cells"] if c["cell_type"] == "code")
        state = wait_done(page, RUN_ALL_LIMIT_S + 30, code)
        first = output_text(state["cells"][-1]["outputs"])
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
        state = wait_cell_ran(page, -1, 30, "the self-check cell did not run again within 30 s", previous_count=count)
        receipt = output_text(state["cells"][-1]["outputs"])
        print(f"{lab}: the self-check after saving:\n{receipt}")
        assert "✔ This notebook will grade" in receipt, receipt
        assert f"public checks:   {tests} of {tests} passed in the saved outputs" in receipt, receipt
        assert f"SHA-256:         {hashlib.sha256(saved).hexdigest()} (of the saved file)" in receipt, receipt
        assert f"{path.parent.name}/{path.name}" in receipt and "since the file was saved" not in receipt
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator(".jp-Notebook .jp-Cell").last.screenshot(path=str(SHOTS / f"{lab}-self-check.png"))
    finally:
        page.close()
