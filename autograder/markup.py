"""Student markup made safe for an instructor's browser: Markdown, HTML and outputs, sanitised with nh3.

Everything a student wrote that an instructor opens passes through here: the autograded
notebook (autograder.autograded.autograded_notebook), the feedback HTML of ``nbgrader
generate_feedback`` and the pages of nbgrader's formgrader (both through `SanitizeMarkup`, which
nbgrader_config.py registers as a preprocessor of nbconvert's HTMLExporter). The policy:

* Markdown keeps its Markdown: text, math, lists, tables, code and links stay as written. Each
  HTML construct in it (tag, comment, declaration) is replaced by what the nh3 sanitiser makes of
  it: ordinary tags (``<details>``, ``<sup>``, ``<b>``, ``<img src>``) stay with their safe
  attributes; script, style, iframe, object, embed, svg, math, template and the like go, with
  their content; event handlers, ``style`` and unsafe URLs go. The rule holds in code spans and
  code blocks too, so it does not depend on how a renderer parses Markdown. A closing tag with
  nothing of its kind open goes, and what is left open is closed at the cell's end (a cell cannot
  close or swallow the page's own elements). A ``<`` that would still start a tag in some parser
  gets a space after it (``$a<b$`` becomes ``$a< b$``: the same math). Links keep http, https,
  mailto, relative and attachment targets; images keep http, https, attachment and data: images
  (a relative image would be fetched from the Jupyter server with the instructor's login);
  anything else (``javascript:``, ``data:text/html``) becomes ``#``.
  Then the result is checked the way nbconvert renders it (``markdown2html``, the filter of the
  feedback and formgrader templates): if anything unsafe is left, the whole cell is shown as a
  fenced code block, i.e. as plain text.
* Outputs keep ``text/plain``, ``image/png``, ``image/jpeg`` and ``application/json``;
  ``text/html`` is sanitised, ``text/markdown`` is treated as Markdown above; everything else
  (``image/svg+xml``, ``application/javascript``, widget views, ``text/latex``, unknown types) is
  dropped, with a ``text/plain`` line that says what was removed. Output metadata is dropped.
* Raw cells lose their format (never rendered as HTML); attachments keep only PNG, JPEG and GIF
  images; nbgrader metadata whose grade_id is not a plain name (letters, digits, ``_.-``) is
  dropped (nbgrader's templates write grade_id into the page unescaped); the notebook's saved
  widget state, title and signature are dropped. Nothing here signs a notebook: the
  autograded notebook stays unsigned, so JupyterLab opens it untrusted.
"""
from __future__ import annotations

import functools
import html
import re
from html.parser import HTMLParser

import nh3
from nbconvert.preprocessors import Preprocessor

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
IMAGE_DATA = re.compile(r"data:image/(?:png|jpeg|gif|webp)[;,]", re.IGNORECASE)
# Elements removed with everything inside them (their content is code, style or a document).
REMOVE_WITH_CONTENT = frozenset({
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "template",
    "noscript", "noembed", "noframes", "textarea", "title", "xmp", "plaintext", "select", "head", "meta", "link",
    "base", "form"})
TAGS = frozenset(nh3.ALLOWED_TAGS)
ATTRIBUTES = {**{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}, "details": {"open"}}
KEEP_ATTACHMENT = frozenset({"image/png", "image/jpeg", "image/gif"})
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
GRADE_ID = re.compile(r"[\w.\-]{1,200}")


def _valid(text) -> str:
    """`text` as a str that nh3 (Rust) accepts: lone surrogates replaced by U+FFFD."""
    text = text if isinstance(text, str) else "".join(t for t in text if isinstance(t, str))
    return _SURROGATE.sub("\ufffd", text)


def _url_ok(url: str, image: bool = False, attachments=None) -> bool:
    """Is `url` relative (not for an image: it would be fetched from the Jupyter server with the instructor's
    login, /logout say), an anchor, or of a safe scheme (data: only for images)? With `attachments` (names), an
    attachment: URL must name one of them (nbconvert fails on a missing one)."""
    plain = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(url)).lower()
    plain = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", plain)  # Markdown backslash escapes
    scheme = re.match(r"([a-z][a-z0-9+.\-]*):", plain)
    if scheme is None:
        return not image or plain.startswith("#") or plain == ""
    if scheme.group(1) == "attachment":
        return attachments is None or html.unescape(url).strip()[len("attachment:"):] in attachments
    if scheme.group(1) in SAFE_SCHEMES:
        return True
    return image and bool(IMAGE_DATA.match(plain))


def _attribute_filter(tag: str, attribute: str, value: str):
    if attribute in ("href", "src", "cite") and not _url_ok(value, image=tag == "img"):
        return None
    return value


def clean_html(text) -> str:
    """An HTML fragment (an output's text/html, say) sanitised by nh3 with the course's policy."""
    return nh3.clean(_valid(text), tags=set(TAGS), attributes=ATTRIBUTES, clean_content_tags=set(REMOVE_WITH_CONTENT),
                     url_schemes=set(SAFE_SCHEMES), attribute_filter=_attribute_filter, strip_comments=True,
                     link_rel="noopener noreferrer")


# ---------------------------------------------------------------- Markdown

# [text](dest and ![alt](dest; [ref]: dest. A destination ends at a bracket (the scheme is at its start), so a link
# inside another's destination is checked on its own.
_DESTINATION = re.compile(r"(\]\(\s*)(<[^<>\[\]\n]*>|(?:[^\s()\[\]]|\([^\s()\[\]]*\))+)")
_DEFINITION = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*\n?[ \t]*)(<[^<>\n]*>|\S+)", re.MULTILINE)
_HTML = re.compile(r"""
    (?P<comment><!--.*?(?:-->|\Z))
  | (?P<cdata><!\[CDATA\[.*?(?:\]\]>|\Z))
  | (?P<declaration><![A-Za-z][^>]*(?:>|\Z))
  | (?P<instruction><\?.*?(?:\?>|\Z))
  | (?P<autolink><[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*>)
  | (?P<email><[A-Za-z0-9.!\#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?
         (?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*>)
  | (?P<close></(?P<close_name>[A-Za-z][A-Za-z0-9\-]*)\s*(?:>|\Z))
  | (?P<open><(?P<name>[A-Za-z][A-Za-z0-9\-]*)(?=[\s/>]|\Z)(?:[^>"']|"[^"]*(?:"|\Z)|'[^']*(?:'|\Z))*(?:>|\Z))
""", re.DOTALL | re.VERBOSE)
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def _destination(match: re.Match, attachments: frozenset[str]) -> str:
    dest = match.group(2)
    url = dest[1:-1] if dest.startswith("<") else dest
    # ![alt](src) is an image: its "[" is preceded by "!"; a [ref]: definition may serve an image
    image = _is_image(match.string, match.start()) if match.re is _DESTINATION else True
    return match.group(1) + (dest if _url_ok(url, image=image, attachments=attachments) else "#")


def _is_image(text: str, close: int) -> bool:
    """Is the "]" at `close` the end of an image's alt text (its "[" preceded by "!")?"""
    depth = 0
    for i in range(close - 1, max(close - 2000, 0) - 1, -1):  # bounded: a longer alt text counts as a link
        if text[i] == "]" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif text[i] == "[" and (i == 0 or text[i - 1] != "\\"):
            if depth == 0:
                return i > 0 and text[i - 1] == "!"
            depth -= 1
    return False


def _tag(match: re.Match, text: str, open_tags: list[str]) -> tuple[str, int]:
    """What replaces the HTML construct at `match`, and where scanning goes on. `open_tags`: the elements left
    open so far; a closing tag is kept only for one of them (a stray one would close the page's own)."""
    kind = next(k for k in ("comment", "cdata", "declaration", "instruction", "autolink", "email", "close", "open")
                if match.group(k) is not None)
    chunk = match.group(0)
    if kind == "autolink":
        return (chunk if _url_ok(chunk[1:-1]) else html.escape(chunk, quote=False)), match.end()
    if kind == "email":
        return chunk, match.end()
    if kind == "close":
        name = match.group("close_name").lower()
        if name not in open_tags:
            return "", match.end()
        del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name):]
        return f"</{name}>", match.end()
    if kind != "open":
        return "", match.end()
    name = match.group("name").lower()
    if name in REMOVE_WITH_CONTENT:
        end = re.compile(rf"</{name}\s*(?:>|\Z)", re.IGNORECASE).search(text, match.end())
        return "", len(text) if end is None else end.end()
    cleaned = _clean_tag(chunk)
    start = cleaned[:-len(f"</{name}>")] if cleaned.endswith(f"</{name}>") else None
    if start is not None and re.fullmatch(rf"<{name}\b[^<>]*>", start):  # one start tag: its element stays open
        open_tags.append(name)
        return start, match.end()
    return cleaned, match.end()  # void, dropped, or several tags: nh3's output is balanced


@functools.lru_cache(maxsize=4096)
def _clean_tag(chunk: str) -> str:
    return clean_html(chunk)


def _rewrite(text: str, attachments: frozenset[str] = frozenset()) -> str:
    text = _DEFINITION.sub(lambda m: _destination(m, attachments), text)
    text = _DESTINATION.sub(lambda m: _destination(m, attachments), text)
    out, at, open_tags = [], 0, []
    while True:
        match = _HTML.search(text, at)
        if match is None:
            out.append(_TAG_START.sub("< ", text[at:]))
            if open_tags:  # closed where the cell ends, not somewhere in the page around it
                out.append("\n\n" + "".join(f"</{name}>" for name in reversed(open_tags)))
            return "".join(out)
        out.append(_TAG_START.sub("< ", text[at:match.start()]))
        replacement, at = _tag(match, text, open_tags)
        out.append(replacement)


def clean_markdown(source, attachments=()) -> str:
    """A Markdown cell's source with its HTML sanitised and unsafe link targets replaced (see the module).

    `attachments`: the names of the cell's attachments; an ``attachment:`` link to any other becomes ``#``.
    """
    text, names = _valid(source), frozenset(attachments)
    if len(text) <= 20_000:  # the release's cells recur in every student's notebook: clean them once
        return _clean_markdown_cached(text, names)
    return _clean_markdown(text, names)


@functools.lru_cache(maxsize=2048)
def _clean_markdown_cached(text: str, names: frozenset[str]) -> str:
    return _clean_markdown(text, names)


def _clean_markdown(text: str, names: frozenset[str]) -> str:
    cleaned = _rewrite(text, names)
    try:
        if not unsafe(_render(cleaned, names)):
            return cleaned
    except Exception:  # whatever nbconvert cannot render is shown as text
        pass
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", cleaned)), default=0))
    return f"{fence}text\n{cleaned}\n{fence}"


def _render(markdown: str, attachments=frozenset()) -> str:
    """`markdown` as nbconvert's HTMLExporter renders a Markdown cell (mistune, math kept, attachments inlined)."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    renderer = IPythonRenderer(escape=False, attachments={name: {"image/png": ""} for name in attachments})
    return MarkdownWithMath(renderer=renderer).render(markdown)


# ---------------------------------------------------------------- the check

class _Finder(HTMLParser):
    """Collects what could run script in a rendered page: a tag outside the allowed set, an event
    handler, a style attribute beyond a table's alignment, an unsafe URL, a non-checkbox input."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in TAGS and tag != "input":
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.found.append(f"{tag} {name}")
            elif name == "style" and not re.fullmatch(r"\s*text-align:\s*(?:left|right|center)\s*;?\s*", value):
                self.found.append(f"{tag} style")
            elif name in ("href", "src", "action", "formaction", "xlink:href", "background", "poster", "cite",
                          "data", "srcdoc", "srcset", "longdesc", "usemap", "ping"):
                if not _url_ok(value, image=tag == "img" and name == "src") or name in ("srcdoc", "srcset"):
                    self.found.append(f"{tag} {name}={value[:40]!r}")
        if tag == "input" and (dict(attrs).get("type") != "checkbox"
                               or {n for n, _ in attrs} - {"class", "type", "disabled", "checked"}):
            self.found.append("<input>")

    handle_startendtag = handle_starttag


def unsafe(rendered: str) -> list[str]:
    """What could run script in this rendered HTML (empty when nothing): see `_Finder`."""
    finder = _Finder()
    finder.feed(rendered)
    finder.close()
    return finder.found


# ---------------------------------------------------------------- outputs, cells, notebooks

def clean_outputs(outputs) -> list[dict]:
    """A code cell's outputs, keeping only what cannot run script (see the module)."""
    from nbformat.v4 import new_output

    kept = []
    for output in outputs if isinstance(outputs, list) else []:
        if not isinstance(output, dict):
            continue
        kind = output.get("output_type")
        if kind == "stream":
            kept.append(new_output("stream", name="stderr" if output.get("name") == "stderr" else "stdout",
                                   text=_valid(output.get("text", ""))))
        elif kind == "error":
            traceback = output.get("traceback")
            kept.append(new_output("error", ename=_valid(str(output.get("ename", ""))),
                                   evalue=_valid(str(output.get("evalue", ""))),
                                   traceback=[_valid(str(line)) for line in traceback]
                                   if isinstance(traceback, list) else []))
        elif kind in ("display_data", "execute_result"):
            data = _clean_data(output.get("data"))
            if kind == "execute_result":
                count = output.get("execution_count")
                kept.append(new_output(kind, data=data, execution_count=count if isinstance(count, int) else None))
            else:
                kept.append(new_output(kind, data=data))
    return kept


def _clean_data(data) -> dict:
    data = data if isinstance(data, dict) else {}
    kept, removed = {}, []
    for mime, value in data.items():
        if mime in ("text/plain", "application/json"):
            kept[mime] = _valid(value) if mime == "text/plain" else _json(value)
        elif mime in ("image/png", "image/jpeg") and isinstance(value, str) and BASE64.fullmatch(value):
            kept[mime] = value
        elif mime == "text/html":
            kept[mime] = clean_html(value)
        elif mime == "text/markdown":
            kept[mime] = clean_markdown(value)
        else:
            removed.append(str(mime))
    if removed and "text/plain" not in kept:
        kept["text/plain"] = f"[output removed for safety: {', '.join(sorted(_valid(m)[:80] for m in removed))}]"
    return kept


def _json(value):
    if isinstance(value, str):
        return _valid(value)
    if isinstance(value, dict):
        return {_valid(str(k)): _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value if value is None or isinstance(value, (bool, int, float)) else _valid(str(value))


def clean_cell(cell) -> None:
    """Sanitise one notebook cell in place (see the module)."""
    kind = cell.get("cell_type")
    metadata = cell.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("trusted", None)
        grader = metadata.get("nbgrader")
        # nbgrader's feedback and formgrade templates write grade_id into the page unescaped
        if grader is not None and not (isinstance(grader, dict) and isinstance(grader.get("grade_id", ""), str)
                                       and GRADE_ID.fullmatch(grader.get("grade_id", "") or "x")):
            del metadata["nbgrader"]
    if kind == "markdown":
        attachments = cell.get("attachments")
        kept = {}
        for name, bundle in (attachments if isinstance(attachments, dict) else {}).items():
            images = {m: v for m, v in bundle.items() if m in KEEP_ATTACHMENT and isinstance(v, str)
                      and BASE64.fullmatch(v)} if isinstance(bundle, dict) else {}
            if images and isinstance(name, str) and _valid(name) == name:
                kept[name] = images
        if kept:
            cell["attachments"] = kept
        else:
            cell.pop("attachments", None)
        cell["source"] = clean_markdown(cell.get("source", ""), kept)
    elif kind == "code":
        cell["outputs"] = clean_outputs(cell.get("outputs", []))
    elif kind == "raw" and isinstance(metadata, dict):
        metadata.pop("format", None)
        metadata.pop("raw_mimetype", None)


def clean_notebook(nb):
    """Sanitise every cell of `nb` in place, drop its saved widget state; returns `nb`. Never signs it."""
    for cell in nb.get("cells", []):
        if isinstance(cell, dict):
            clean_cell(cell)
    if isinstance(nb.get("metadata"), dict):
        for key in ("widgets", "signature", "title"):
            nb["metadata"].pop(key, None)
    return nb


class SanitizeMarkup(Preprocessor):
    """nbconvert preprocessor: `clean_notebook` before a notebook becomes HTML.

    nbgrader_config.py registers it on HTMLExporter, the exporter of ``nbgrader generate_feedback``
    and of the formgrader's submission pages (whose templates render Markdown cells unsanitised,
    whatever HTMLExporter.sanitize_html says).
    """

    def preprocess(self, nb, resources):
        clean_notebook(nb)
        return nb, resources
