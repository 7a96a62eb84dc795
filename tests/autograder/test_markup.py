"""Stored cross-site scripting toward the instructor: student markup in every file the grader writes.

A submission whose Markdown and outputs carry script (``<script>``, event handlers, ``<svg onload>``,
``javascript:`` links, iframes, ``<style>``, HTML and JavaScript outputs, widget views) is recorded by
autograder.gradebook and turned into feedback by ``nbgrader generate_feedback`` with the course's
nbgrader_config.py; neither the autograded notebook nor the feedback HTML may keep any of it, while
ordinary Markdown (the labs' own, math included) passes unchanged.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbconvert.filters.markdown import markdown2html
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell

from autograder import gradebook, markup
from tests.conftest import ROOT, child_environment
from tests.autograder.fixtures_gradebook import LAB, graded, make_course, solved

MARK = "XSS"  # every payload's script carries it: it must never reach a script, a URL or an event handler
PAYLOADS = [
    f"<script>document.title='{MARK}-script'; window.xss = 1</script>",
    f"<img src=x onerror=\"document.title='{MARK}-img'\">",
    f"<svg onload=\"document.title='{MARK}-svg'\"><circle r=5 /></svg>",
    f"[click me](javascript:document.title='{MARK}-link')",
    f"[obfuscated](java&#115;cript:document.title='{MARK}-entity')",
    f"[ref link][r]\n\n[r]: javascript:document.title='{MARK}-ref'",
    f"<a href=\"javascript:document.title='{MARK}-a'\">a link</a>",
    f"<JavaScript:document.title='{MARK}-autolink'>",
    f"<iframe src=\"javascript:parent.document.title='{MARK}-iframe'\"></iframe>",
    f"<iframe srcdoc=\"<script>parent.document.title='{MARK}-srcdoc'</script>\"></iframe>",
    f"<style>body {{ background: url('javascript:{MARK}') }} h4 {{ display: none }}</style>",
    f"<details open ontoggle=\"document.title='{MARK}-toggle'\"><summary>s</summary>x</details>",
    f"<div\nonmouseover=\"document.title='{MARK}-newline'\">hover</div>",
    f"<scr<script>ipt>document.title='{MARK}-split'</script>",
    f"<object data=\"javascript:document.title='{MARK}-object'\"></object>",
    f"<math><mtext><table><mglyph><style><img src=x onerror=\"document.title='{MARK}-mxss'\">",
    f"<form action=\"javascript:document.title='{MARK}-form'\"><button>go</button></form>",
    f"<img src=x onerror=document.title='{MARK}-unclosed'//",
    f"<!-- <img src=x onerror=\"document.title='{MARK}-comment'\"> -->",
    f"`<img src=x onerror=\"document.title='{MARK}-code'\">`",
]
ORDINARY = ("# My answer\n\nThe loss falls because $\\eta < 1$ and $$\\sum_i w_i^2$$ is bounded.\n\n"
            "| a | b |\n|:-|-:|\n| 1 | 2 |\n\n- [x] done\n- item with `code` and **bold**\n\n"
            "<details><summary>Hint</summary>\n\nA *nudge*.\n\n</details>\n\n"
            "See [the docs](https://numpy.org/doc/) and x<sup>2</sup>.")
HOSTILE_MARKDOWN = ORDINARY + "\n\n" + "\n\n".join(PAYLOADS)
HOSTILE_OUTPUTS = [
    new_output("display_data", data={"text/html": f"<b onclick=\"{MARK}()\">bold</b><script>{MARK}()</script>",
                                      "text/plain": "<IPython.core.display.HTML object>"}),
    new_output("display_data", data={"image/svg+xml": f"<svg onload=\"document.title='{MARK}-svgout'\"/>"}),
    new_output("display_data", data={"application/javascript": f"document.title='{MARK}-js'"}),
    new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": f"{MARK}",
                                                                                  "version_major": 2,
                                                                                  "version_minor": 0},
                                     "text/plain": "IntSlider(value=3)"}),
    new_output("display_data", data={"text/markdown": f"[x](javascript:{MARK})<img src=x onerror={MARK}>"}),
    new_output("display_data", data={"text/html": f"<p>isolated</p><script>{MARK}()</script>"},
               metadata={"text/html": {"isolated": True}}),
    new_output("execute_result", execution_count=1, data={"text/plain": "42", "image/png": "iVBORw0KGgo=",
                                                          "application/json": {"a": [1, 2]}}),
    new_output("stream", name="stdout", text=f"<script>{MARK}()</script>\n"),
]
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "srcdoc", "xlink:href", "background", "poster"}


class Scan(HTMLParser):
    """What of a page could run script: tags, event handlers, URL attributes, script and style text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.handlers, self.urls, self.scripts, self._in = [], [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}={value}")
            if name in URL_ATTRIBUTES:
                self.urls.append(f"{tag} {name}={value}")
        self._in = tag if tag in ("script", "style") else None

    def handle_data(self, data):
        if self._in:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in = None


def scan(page: str) -> Scan:
    found = Scan()
    found.feed(page)
    found.close()
    return found


RISKY = ("script", "style", "iframe", "object", "embed", "svg", "math", "form", "frame", "base", "meta", "link")


def assert_inert(page: str, where: str, baseline: str = ""):
    """No event handler, no script-bearing element or URL, and no payload inside any script or style.

    `baseline`: a page of the same template from an honest submission; its own risky elements (the
    template's MathJax script, CSS, meta) are the only ones allowed, as many times as there.
    """
    found, template = scan(page), scan(baseline)
    handlers = [h for h in found.handlers if h not in template.handlers]
    assert not handlers, f"{where}: event handlers survived: {handlers[:5]}"
    bad_tags = {t for t in RISKY if found.tags.count(t) > template.tags.count(t)}
    assert not bad_tags, f"{where}: {sorted(bad_tags)} survived"
    unsafe_urls = [u for u in found.urls if re.search(r"(?i)java\s*script|vbscript|data:text|" + MARK, u)]
    assert not unsafe_urls, f"{where}: unsafe URLs survived: {unsafe_urls[:5]}"
    assert not [s for s in found.scripts if MARK in s], f"{where}: a payload survived inside a script or style"


# ---------------------------------------------------------------- the sanitiser on its own

@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_each_payload_is_inert_once_cleaned(payload):
    """Is every payload harmless once cleaned, as nbconvert renders it, though most are not as written?"""
    cleaned = markup.clean_markdown(payload)
    assert_inert(markdown2html(cleaned), f"cleaned {payload!r}")
    assert markup.unsafe(markdown2html(cleaned)) == []


def test_the_payloads_are_dangerous_as_written():
    """Would nbconvert (the feedback's renderer) keep script from most payloads as written? (the test is real)"""
    dangerous = [p for p in PAYLOADS if markup.unsafe(markdown2html(p))]
    assert len(dangerous) >= len(PAYLOADS) - 4, [p for p in PAYLOADS if p not in dangerous]


def test_ordinary_markdown_and_math_are_kept():
    """Do headings, math, tables, task lists, code, hints and https links pass unchanged?"""
    assert markup.clean_markdown(ORDINARY) == ORDINARY
    assert markup.clean_markdown("if $a<b$ then `x<y`") == "if $a< b$ then `x< y`"  # the same math, no tag
    assert markup.clean_markdown("[ok](https://a.org/f(1)) ![p](attachment:p.png)", attachments={"p.png"}) == \
        "[ok](https://a.org/f(1)) ![p](attachment:p.png)"
    # a missing attachment would make nbconvert fail on the whole notebook: the link goes instead
    assert markup.clean_markdown("![p](attachment:gone.png)") == "![p](#)"
    assert markup.clean_markdown("<a href=x onclick=y>t</a>") == '<a href="x" rel="noopener noreferrer">t</a>'


def test_mixed_payloads_are_inert_without_the_fallback():
    """Random mixes of the payloads with Markdown punctuation (seeded): is each cleaned cell inert, and is the
    rewrite alone enough (the code-block fallback stays a backstop)?"""
    import random

    pieces = PAYLOADS + [ORDINARY, "`", "```", "\n\n", "<", ">", '"', "'", "](", "[", "]", "(", ")", "![", "<!--",
                         "-->", "<a ", "<img ", "onerror=", "javascript:", "$", "&#x3C;", "\\", "<details>",
                         "</details>", "\n[r]: ", "    indented <script>x</script>"]
    rng = random.Random(15)
    for _ in range(400):
        source = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        rewritten = markup._rewrite(source, frozenset())
        assert markup.unsafe(markdown2html(rewritten)) == [], source
        assert_inert(markdown2html(markup.clean_markdown(source)), repr(source))


def test_markup_cannot_reach_the_page_around_it():
    """Are stray closing tags dropped (they would close the feedback page's own elements), open ones closed at the
    cell's end, and relative image URLs dropped (fetched with the instructor's login, /logout say)?"""
    assert markup.clean_markdown("</div></div></div>text") == "text"
    assert markup.clean_markdown("<details><b>bold") == "<details><b>bold\n\n</b></details>"
    assert markup.clean_markdown("<div><b>x</div> y") == "<div><b>x</div> y"
    assert markup.clean_markdown('<img src="/logout"> ![a](/logout) ![b](https://a.org/b.png)') == \
        '<img> ![a](#) ![b](https://a.org/b.png)'


def test_every_lab_markdown_cell_is_unchanged():
    """Is every Markdown cell of every lab (solutions and student notebooks) left exactly as written?"""
    paths = sorted(ROOT.glob("solutions/*/*.ipynb")) + sorted(ROOT.glob("notebooks/*.ipynb"))
    assert paths
    changed = []
    for path in paths:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown" and markup.clean_markdown(cell.source) != cell.source:
                changed.append(f"{path.relative_to(ROOT)}: {cell.source[:60]!r}")
    assert not changed, changed[:5]


def test_markdown_that_cannot_be_proven_safe_is_shown_as_text(monkeypatch):
    """When the cleaned Markdown would still render something unsafe, is the cell shown as a code block?"""
    monkeypatch.setattr(markup, "_rewrite", lambda text, names: text)  # as if the rewrite missed everything
    markup._clean_markdown_cached.cache_clear()
    out = markup.clean_markdown("<script>x</script>\n```")
    assert out.startswith("````text\n") and out.endswith("\n````")
    assert markup.unsafe(markdown2html(out)) == []


def test_lone_surrogates_and_huge_cells_are_handled():
    """Does a lone surrogate become valid text, and a large hostile cell stay quick enough?"""
    import time

    assert markup.clean_markdown("a\ud800b<script>x</script>") == "a\ufffdb"
    start = time.monotonic()
    out = markup.clean_markdown("<img src=x onerror=y>" * 5000 + "[a](javascript:b) " * 5000)
    assert "onerror" not in out and "javascript" not in out and time.monotonic() - start < 30


def test_outputs_keep_only_inert_data():
    """Are text/plain, PNG and JSON kept, HTML sanitised, SVG, JavaScript and widget views dropped (with a note)?"""
    kept = markup.clean_outputs(HOSTILE_OUTPUTS)
    datas = [o.get("data", {}) for o in kept]
    assert datas[0] == {"text/html": "<b>bold</b>", "text/plain": "<IPython.core.display.HTML object>"}
    assert datas[1] == {"text/plain": "[output removed for safety: image/svg+xml]"}
    assert datas[2] == {"text/plain": "[output removed for safety: application/javascript]"}
    assert datas[3] == {"text/plain": "IntSlider(value=3)"}
    assert datas[5] == {"text/html": "<p>isolated</p>"} and kept[5]["metadata"] == {}
    assert datas[6] == {"text/plain": "42", "image/png": "iVBORw0KGgo=", "application/json": {"a": [1, 2]}}
    assert kept[7]["text"] == f"<script>{MARK}()</script>\n"  # stream text is always rendered escaped
    for data in datas:
        for mime in ("text/html", "text/markdown"):
            if mime in data:
                assert_inert(data[mime] if mime == "text/html" else markdown2html(data[mime]), mime)


# ---------------------------------------------------------------- the autograded notebook and the feedback

def hostile_submission() -> nbformat.NotebookNode:
    """The toy lab solved, with hostile Markdown in the graded answer and in cells of its own, hostile outputs."""
    nb = solved()
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "explain")
    answer.source = HOSTILE_MARKDOWN
    nb.cells[1].outputs = HOSTILE_OUTPUTS
    nb.cells.insert(1, new_markdown_cell(HOSTILE_MARKDOWN, metadata={"trusted": True}))
    nb.cells.append(new_code_cell("display(HTML(x))", outputs=HOSTILE_OUTPUTS, metadata={"trusted": True}))
    nb.cells.append(new_raw_cell(PAYLOADS[0], metadata={"raw_mimetype": "text/html", "format": "text/html"}))
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, MARK: f"</script>{MARK}"}}
    nb.metadata["signature"] = "sha256:" + "0" * 64
    return nb


def as_autograded_elsewhere(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A recorded autograded notebook given back the hostile submission's raw content, as stock `nbgrader
    autograde` (which keeps outputs and Markdown as submitted) would leave it on disk."""
    raw = hostile_submission()
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "explain")
    answer.source = HOSTILE_MARKDOWN
    nb.cells.insert(1, raw.cells[1])  # the extra Markdown cell
    nb.cells += raw.cells[-2:]  # the code cell with its outputs, the raw cell with its HTML format
    nb.cells.append(new_markdown_cell("answer", metadata={"nbgrader": {  # nbgrader's templates print grade_id raw
        "grade": False, "solution": True, "locked": False, "schema_version": 3,
        "grade_id": f"x\"><img src=x onerror=\"document.title='{MARK}-gradeid'\">"}}))
    nb.metadata["widgets"] = raw.metadata["widgets"]
    return nb


def build_course(root: Path) -> gradebook.Course:
    """A toy course in which alice submitted the solution and mallory the hostile one, both recorded by the
    autograder; eve's autograded notebook holds the hostile content raw (`as_autograded_elsewhere`)."""
    root = make_course(root, {"alice": solved(), "mallory": hostile_submission(), "eve": solved()})
    course = gradebook.load_course(root, LAB)
    release = gradebook.release_notebook(course, LAB)
    gradebook.ensure_assignment(course, LAB, release)
    for student in ("alice", "mallory", "eve"):
        gradebook.record(course, LAB, graded(course, student, {"test_add": 2.0, "test_mul": 3.0}), release)
    path = course.autograded("eve", LAB)
    path.write_text(nbformat.writes(as_autograded_elsewhere(nbformat.read(path, as_version=4))))
    return course


def generate_feedback(course, env) -> dict[str, Path]:
    """`nbgrader generate_feedback` with the course's nbgrader_config.py; {student: feedback HTML}."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", LAB, "--force"], cwd=course.root,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return {s: course.root / "feedback" / s / LAB / f"{LAB}.html" for s in ("alice", "mallory", "eve")}


def write_feedback(root: str) -> dict[str, str]:
    """For `make test-browser` (run with the course's .venv): the course under `root` and its feedback pages."""
    course = build_course(Path(root))
    pages = generate_feedback(course, child_environment())
    return {"autograded": str(course.autograded("mallory", LAB)), **{s: str(p) for s, p in pages.items()}}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return build_course(tmp_path_factory.mktemp("markup") / "course")


def test_autograded_notebook_keeps_no_script(recorded):
    """Does mallory's autograded notebook keep her Markdown text but no script, handler or unsafe link?"""
    nb = nbformat.read(recorded.autograded("mallory", LAB), as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    hostile = [s for s in markdown if "My answer" in s]
    assert len(hostile) == 2, "the answer and the extra cell keep their ordinary Markdown"
    for source in hostile:
        assert ORDINARY in source
        assert_inert(markdown2html(source), "autograded Markdown")
        assert not re.search(r"(?i)<\s*(script|iframe|svg|style|object|math|form)|\son\w+\s*=", source)
        assert not re.search(r"(?i)(\]\(|\]:)\s*<?\s*java|<java", source), "a javascript: link is left"
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert set(output.get("data", {})) <= {"text/plain", "image/png", "application/json", "text/html"}
        if cell.cell_type == "raw":
            assert "format" not in cell.metadata and "raw_mimetype" not in cell.metadata


def test_autograded_notebook_stays_unsigned(recorded, tmp_path):
    """Is the autograded notebook unsigned (JupyterLab opens it untrusted, sanitised), whatever the submission said?"""
    from nbformat.sign import NotebookNotary

    nb = nbformat.read(recorded.autograded("mallory", LAB), as_version=4)
    assert "signature" not in nb.metadata and "widgets" not in nb.metadata
    assert not any("trusted" in c.metadata for c in nb.cells)
    notary = NotebookNotary(data_dir=str(tmp_path), db_file=str(tmp_path / "signatures.db"))
    assert not notary.check_signature(nb)


def test_feedback_html_keeps_no_script(recorded, child_env):
    """Does `nbgrader generate_feedback` with the course config write feedback without any of the script, both from
    the autograder's notebook (mallory) and from a raw hostile one that only the config cleans (eve)?"""
    eve = nbformat.read(recorded.autograded("eve", LAB), as_version=4)
    assert any(markup.unsafe(markdown2html(c.source)) for c in eve.cells if c.cell_type == "markdown"), \
        "eve's notebook on disk is hostile"
    pages = {s: p.read_text() for s, p in generate_feedback(recorded, child_env).items()}
    for student in ("mallory", "eve"):
        page = pages[student]
        assert_inert(page, f"{student}'s feedback", baseline=pages["alice"])
        assert "My answer" in page and "$$\\sum_i w_i^2$$" in page and "<summary>Hint</summary>" in page
    assert "IntSlider(value=3)" in pages["eve"] and "iVBORw0KGgo=" in pages["eve"] and "<b>bold</b>" in pages["eve"]


def test_feedback_without_the_course_config_would_run_script(recorded, child_env, tmp_path):
    """Without the course config's lines, does stock generate_feedback keep eve's script? (the config is what works)"""
    course = gradebook.load_course(shutil.copytree(recorded.root, tmp_path / "course"), LAB)
    config = course.root / "nbgrader_config.py"
    config.write_text(re.sub(r"(?m)^c\.HTMLExporter\..*$", "", config.read_text()))
    path = course.autograded("eve", LAB)
    nb = nbformat.read(path, as_version=4)
    nb.cells = nb.cells[:-1]  # the cell with the forged grade_id: stock GetGrades stops on an unknown id
    path.write_text(nbformat.writes(nb))
    pages = {s: p.read_text() for s, p in generate_feedback(course, child_env).items()}
    with pytest.raises(AssertionError, match="event handlers survived"):
        assert_inert(pages["eve"], "eve's feedback", baseline=pages["alice"])


def test_formgrader_exporter_is_sanitised(recorded):
    """Does the HTMLExporter the formgrader builds from the course config (template formgrade) render eve's raw
    hostile submission page without any of her script?"""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config, PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(recorded.root)).load_config()
    extra = Config()
    extra.HTMLExporter.template_name = "formgrade"
    extra.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    config.merge(extra)
    exporter = HTMLExporter(config=config)
    assert any(isinstance(p, markup.SanitizeMarkup) for p in exporter._preprocessors)
    pages = {}
    for student in ("alice", "eve"):  # the resources the formgrader's SubmissionHandler passes
        resources = {"assignment_id": LAB, "notebook_id": LAB, "submission_id": "x", "index": 0, "total": 1,
                     "base_url": "", "student": student, "last_name": None, "first_name": None,
                     "notebook_path": f"autograded/{student}/{LAB}/{LAB}.ipynb"}
        pages[student], _ = exporter.from_filename(str(recorded.autograded(student, LAB)), resources=resources)
    assert_inert(pages["eve"], "formgrader page", baseline=pages["alice"])
    assert "My answer" in pages["eve"] and "<summary>Hint</summary>" in pages["eve"]
