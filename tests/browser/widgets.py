"""What a solution cell's outputs look like in the browser (tests/browser/browser_check.py): figures shown as
images, widgets rendered as widgets, tqdm bars as progress bars, and sliders that, moved, change their widget."""
from __future__ import annotations

import re
import time
from pathlib import Path

TEXT_FALLBACK = re.compile(r"\b(?:[A-Z][A-Za-z]*Box|[A-Z][A-Za-z]*Progress|[A-Z][A-Za-z]*Slider)\(|Loading widget|"
                           r"Error displaying widget")
TQDM_AS_TEXT = re.compile(r"\d+%\|.*\|")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def output_problems(where: str, outputs: list[dict], seen: dict, text: str) -> list[str]:
    """A code cell's outputs against what the page shows of them (`seen`, from JS_DOM); `text` is their plain text."""
    problems = []
    for out in outputs:
        if out.get("output_type") == "error":
            problems.append(f"{where}: {out['ename']}: {out['evalue'][:200]}")
    figures = sum(1 for o in outputs if "image/png" in o.get("data", {}))
    if seen["images"] != figures:
        problems.append(f"{where}: {figures} figure(s) in the outputs, {seen['images']} shown as images")
    widgets = sum(1 for o in outputs if WIDGET_VIEW in o.get("data", {}))
    if TEXT_FALLBACK.search(seen["text"]):
        problems.append(f"{where}: a widget shows as text: {TEXT_FALLBACK.search(seen['text']).group(0)!r}")
    if widgets and seen["widgets"] < widgets:
        problems.append(f"{where}: {widgets} widget output(s), {seen['widgets']} rendered as widgets")
    if TQDM_AS_TEXT.search(text):
        problems.append(f"{where}: a tqdm bar printed as text instead of a widget")
    return problems


def widget_areas(page, dom_cell):
    """The output areas of a cell that hold a widget."""
    return dom_cell.locator(".jp-OutputArea-output").filter(has=page.locator(".jupyter-widgets"))


def widget_signature(area) -> str:
    """What a widget shows besides its sliders' own readouts: images and HTML/label text."""
    return area.evaluate("""node => {
      const imgs = [...node.querySelectorAll('img')].map(i => i.src.length + ':' + i.src.slice(-64));
      const text = [...node.querySelectorAll('.widget-html, .widget-label, .widget-htmlmath, .jp-OutputArea-output pre')]
        .filter(e => !e.closest('.widget-slider')).map(e => e.textContent);
      return JSON.stringify([imgs, text]);
    }""")



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
            if widget_signature(area) != before:
                return True
    return False


def _settle(page, area, quiet_s: float = 1.5, timeout_s: float = 30.0) -> None:
    """Wait until the widget's images and texts have not changed for `quiet_s` (redraws queued by several
    key presses arrive one after another), or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    last, since = widget_signature(area), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        page.wait_for_timeout(250)
        now = widget_signature(area)
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
        before = widget_signature(area)
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
                if widget_signature(area) != before:
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


def widget_problems(page, dom_cell, where: str, shot_prefix: Path) -> list[str]:
    """Screenshot every widget of a cell, then move each of its sliders (see _move_sliders)."""
    problems = []
    areas = widget_areas(page, dom_cell)
    for n in range(areas.count()):
        area = areas.nth(n)
        area.scroll_into_view_if_needed()
        area.screenshot(path=f"{shot_prefix}-widget{n}.png")
        problems += _move_sliders(page, area, f"{where} widget {n}", Path(f"{shot_prefix}-widget{n}"))
    return problems
