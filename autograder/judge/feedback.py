"""Feedback pages: what a student is shown of a graded notebook, whichever tool writes the page.

A page is made from an *autograded notebook* (the student's notebook as graded, hidden tests and
all: what nbgrader's formgrader opens; the course's CLI writes them, and so does stock
``nbgrader autograde``) in two steps, both defined here and nowhere else:

1. ``student_view``: what a student may see of it. Every hidden-test block is cut out of the cell
   sources (what is left is the release's text), a test cell's error shows only
   ``Type: message`` (a traceback would quote the hidden lines), and every output is made *inert*
   (``inert_outputs``): plain text, and PNG/JPEG pictures checked to be base64; HTML, SVG,
   Markdown, LaTeX, JavaScript and widgets a student's code displayed are shown as their text.
2. ``render``: nbgrader's feedback template through ``FeedbackExporter``: no MathJax (the TeX of
   markdown becomes MathML, which browsers draw themselves), markdown (the student's file's, and
   graders' comments) sanitised with bleach, MathML rebuilt from a short list of elements, and a
   Content-Security-Policy that forbids every script and every load from anywhere but the page
   itself (``CSP``). A page is one self-contained file: ``release_feedback`` copies only the
   ``.html``, and it makes no request to any host.

Stock ``nbgrader generate_feedback`` and the formgrader's button run the same two steps:
``autograder/course.py`` configures ``GenerateFeedback`` with ``StudentView`` and
``FeedbackExporter``, so its pages are the course's own, byte for byte when the grades are.
The same grading gives the same page, byte for byte (cell ids are fixed, nothing random).
"""
from __future__ import annotations

import copy
import hashlib
import html as _html
import os
import re
import xml.etree.ElementTree as ET

import nbformat
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from traitlets import default

#: Every feedback page's policy: no script of any kind (elements, handlers, ``javascript:`` URLs),
#: no frame, form, plugin or base change, and nothing fetched from anywhere: styles are inline
#: and pictures are ``data:`` URLs, which is all a page needs.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
       "base-uri 'none'; form-action 'none'")
_CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'

# --- step 1: the student's view of an autograded notebook --------------------------------------

_BEGIN_HIDDEN, _END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"  # nbgrader's ClearHiddenTests delimiters
#: The picture types an output keeps as pictures (after a base64 check); the rest become text.
_PICTURES = ("image/png", "image/jpeg")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")


def strip_hidden_tests(source: str) -> str:
    """``source`` without its hidden-test blocks, as nbgrader's ClearHiddenTests cuts them (the
    marker lines go too). An unclosed block is cut to the end: a malformed cell shows less, never more."""
    if _BEGIN_HIDDEN not in source:
        return source
    kept, hidden = [], False
    for line in source.split("\n"):
        if _BEGIN_HIDDEN in line:
            hidden = True
        elif _END_HIDDEN in line and hidden:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else str(value)


def inert_outputs(outputs) -> list:
    """``outputs`` rebuilt from a short list of fields, so that none can run or load anything in a
    page: streams and errors as text; a display's ``text/plain`` and its PNG/JPEG (base64 checked);
    any other representation (HTML, SVG, Markdown, LaTeX, JavaScript, JSON, widgets) shown as its
    text when there is no plain text. Metadata (sizes, "isolated" frames) is dropped."""
    out = []
    for o in outputs or []:
        if not isinstance(o, dict):
            continue
        kind = o.get("output_type")
        if kind == "stream":
            name = o.get("name") if o.get("name") in ("stdout", "stderr") else "stdout"
            out.append(nbformat.v4.new_output("stream", name=name, text=_text(o.get("text", ""))))
        elif kind == "error":
            tb = o.get("traceback") if isinstance(o.get("traceback"), list) else []
            out.append(nbformat.v4.new_output("error", ename=_text(o.get("ename", "")), evalue=_text(o.get("evalue", "")),
                                              traceback=[_text(line) for line in tb]))
        elif kind in ("display_data", "execute_result"):
            data = o.get("data") if isinstance(o.get("data"), dict) else {}
            kept = {}
            for mime in _PICTURES:
                pic = data.get(mime)
                if isinstance(pic, str) and _BASE64.fullmatch(pic):
                    kept[mime] = pic
            plain = data.get("text/plain")
            if plain is None:  # only a rich form: show what it says, as text
                rich = next((data[m] for m in sorted(data) if m not in _PICTURES and m != "text/plain"), None)
                plain = rich if isinstance(rich, (str, list)) else (None if rich is None else repr(rich))
            if plain is not None:
                kept["text/plain"] = _text(plain)
            if not kept:
                continue
            if kind == "execute_result":
                count = o.get("execution_count") if isinstance(o.get("execution_count"), int) else None
                out.append(nbformat.v4.new_output(kind, data=kept, execution_count=count))
            else:
                out.append(nbformat.v4.new_output(kind, data=kept))
    return out


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _is_test(cell) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def student_view(nb):
    """A copy of the autograded notebook ``nb`` with only what its student may see (step 1)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.source = strip_hidden_tests(_text(cell.source))
        outputs = inert_outputs(cell.get("outputs"))
        if _is_test(cell):  # a traceback quotes the test's lines, hidden ones included
            for o in outputs:
                if o.output_type == "error":
                    o.traceback = [f"{o.ename}: {o.evalue}"]
        cell.outputs = outputs
    return nb


def with_grades(nb, scores: dict[str, float], comments: dict[str, str | None] | None = None):
    """A copy of ``nb`` carrying each graded cell's score and each answer cell's comment, where the
    template reads them (what nbgrader's GetGrades does from the gradebook)."""
    nb = copy.deepcopy(nb)
    comments = comments or {}
    for cell in nb.cells:
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if meta.get("grade") and gid in scores:
            meta["score"] = scores[gid]
        if meta.get("solution") or meta.get("task"):
            meta["comment"] = comments.get(gid)
    return nb


class StudentView(Preprocessor):
    """``student_view`` as a preprocessor of the page's exporter (``PAGE_PREPROCESSORS``)."""

    @default("enabled")
    def _enabled(self):
        return True  # nbconvert's preprocessors are off unless enabled; this one must always run

    def preprocess(self, nb, resources):
        return student_view(nb), resources


# --- step 2: the page -------------------------------------------------------------------------

# Code (fenced blocks and inline spans) is left alone: a ``$`` there is not math.
_CODE = re.compile(r"(^(?P<fence>```|~~~)[^\n]*\n.*?^(?P=fence)[ \t]*$|`+[^`]*?`+)", re.M | re.S)
# $$ display $$ (may span lines), then $ inline $ (may wrap onto the next line but not cross a
# paragraph; no space just inside the dollars and no digit after the closing one, so "costs $5
# and $6" stays text). A backslash-escaped \$ is a dollar.
_DISPLAY = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?![\s$])((?:[^$\n]|\n(?![ \t]*\n))+?)(?<![\s\\])\$(?!\d)")

#: MathML that latex2mathml writes and browsers draw. Anything else in a converted formula
#: (``\href``, ``\style``, raw markup in ``\text{}``) makes it fall back to its TeX, as text.
_MATHML = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac", "msqrt",
           "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom",
           "menclose", "merror", "mmultiscripts", "mprescripts", "none", "semantics", "annotation"}
_MATHML_ATTRS = {"display", "mathvariant", "mathsize", "stretchy", "fence", "separator", "lspace", "rspace", "accent",
                 "accentunder", "columnalign", "columnspacing", "columnlines", "rowalign", "rowspacing", "rowlines",
                 "frame", "linethickness", "minsize", "maxsize", "movablelimits", "symmetric", "largeop", "form",
                 "displaystyle", "scriptlevel", "width", "height", "depth", "voffset", "notation", "align",
                 "encoding", "columnspan", "rowspan", "equalrows", "equalcolumns"}
_NS = "{http://www.w3.org/1998/Math/MathML}"


def _serialize_mathml(el) -> str:
    tag = el.tag[len(_NS):] if el.tag.startswith(_NS) else el.tag
    if tag not in _MATHML:
        raise ValueError(f"<{tag}> is not drawn as math")
    attrs = ""
    for name, value in sorted(el.attrib.items()):
        if name not in _MATHML_ATTRS:
            raise ValueError(f"attribute {name} is not drawn as math")
        attrs += f' {name}="{_html.escape(value, quote=True)}"'
    if tag == "math":
        attrs = ' xmlns="http://www.w3.org/1998/Math/MathML"' + attrs
    inner = _html.escape(el.text or "", quote=False)
    for child in el:
        inner += _serialize_mathml(child) + _html.escape(child.tail or "", quote=False)
    return f"<{tag}{attrs}>{inner}</{tag}>"


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """One formula as a ``<math>`` element rebuilt from known MathML elements and attributes with
    every text escaped; the TeX itself (escaped) when it cannot be converted or uses anything else,
    so a student still reads the formula rather than losing it."""
    from latex2mathml.converter import convert

    try:
        return _serialize_mathml(ET.fromstring(convert(tex.strip(), display="block" if display else "inline")))
    except Exception:  # noqa: BLE001 - latex2mathml and the XML parser raise many kinds; any means "keep the TeX"
        return f'<code class="tex">{_html.escape(tex)}</code>'


def _math_spans(markdown: str):
    """(start, end, tex, display) of every formula of ``markdown`` outside code, in order."""
    spans, pos = [], 0
    for m in list(_CODE.finditer(markdown)) + [None]:
        end = m.start() if m else len(markdown)
        chunk = markdown[pos:end]
        taken = [(d.start(), d.end()) for d in _DISPLAY.finditer(chunk)]
        found = [(pos + s, pos + e, chunk[s + 2:e - 2], True) for s, e in taken]
        rest, last = [], 0
        for s, e in taken + [(len(chunk), len(chunk))]:
            rest.append((last, chunk[last:s]))
            last = e
        for off, piece in rest:
            found += [(pos + off + i.start(), pos + off + i.end(), i.group(1), False) for i in _INLINE.finditer(piece)]
        spans += sorted(found)
        pos = m.end() if m else len(markdown)
    return spans


def _replace_math(markdown: str, replace) -> str:
    out, pos = [], 0
    for start, end, tex, display in _math_spans(markdown):
        out.append(markdown[pos:start])
        # A display formula becomes a block of its own (blank lines around it).
        out.append(f"\n\n{replace(tex, True)}\n\n" if display else replace(tex, False))
        pos = end
    out.append(markdown[pos:])
    return "".join(out)


def markdown_math_to_mathml(markdown: str) -> str:
    """Replace every ``$...$`` and ``$$...$$`` of a markdown text by MathML (code untouched)."""
    return _replace_math(markdown, lambda tex, display: tex_to_mathml(tex, display))


#: What a markdown text may become on a page (bleach's defaults plus the blocks markdown writes).
_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
         "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th",
         "thead", "tr", "ul", "dl", "dt", "dd"}


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name in ("title", "alt") or (name == "class" and tag in ("code", "span", "pre")):
        return True
    if tag == "a" and name == "href":
        return value.startswith(("http://", "https://", "mailto:", "#"))
    if tag == "img" and name == "src":  # a picture in the page itself; nothing is fetched
        return value.startswith(("data:image/png;base64,", "data:image/jpeg;base64,", "data:image/gif;base64,"))
    return tag in ("td", "th") and name == "align"


def safe_markdown(markdown) -> str:
    """A markdown text as HTML that cannot run or load anything: its math set aside, the rest
    rendered by nbconvert's markdown renderer with raw HTML escaped, sanitised by bleach (a tag not
    allowed is shown as text, an attribute not allowed dropped: links go to web addresses only,
    pictures only from ``data:``), then the formulas put back as MathML. The markdown filter of the
    feedback pages, and of the formgrader's view of a submission (course.py)."""
    import bleach
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    markdown = _text(markdown)
    key = "mathslot" + hashlib.sha256(markdown.encode("utf-8", "surrogatepass")).hexdigest()[:16]  # not typeable
    formulas = []

    def slot(tex, display):
        formulas.append(tex_to_mathml(tex, display))
        return f"{key}x{len(formulas) - 1}x"

    html = MarkdownWithMath(renderer=IPythonRenderer(escape=True, exclude_anchor_links=True)).render(
        _replace_math(markdown, slot))
    clean = bleach.clean(html, tags=_TAGS, attributes=_allowed_attribute, protocols={"http", "https", "mailto", "data"},
                         strip=False, strip_comments=True)
    return re.sub(f"{key}x(\\d+)x", lambda m: formulas[int(m.group(1))], clean)


#: Shadows nbconvert's ``mathjax.html.j2`` (the macro nbgrader's feedback template calls with the
#: CDN address): the page gets no MathJax script at all.
_NO_MATHJAX = {"mathjax.html.j2": "{%- macro mathjax(url=None) -%}{%- endmacro -%}"}


def _formgrader_dir() -> str:
    import nbgrader

    return os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback template, made safe and offline (step 2). Stock ``generate_feedback``
    uses it too (course.py). Its markdown filter is ``safe_markdown``; every page gets the
    ``CSP`` meta first thing in its head. (HTMLExporter's BeautifulSoup pass, alt text and tab stops
    for the JupyterLab template, is skipped: the classic template has no such elements, 0.2 s a page.)"""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.sanitize_html = False  # the course's own sanitising above; bleach's defaults would drop the MathML

    @default("template_name")
    def _template_name(self):
        return "feedback"

    @default("extra_template_basedirs")
    def _extra_template_basedirs(self):
        return [os.path.join(_formgrader_dir(), "templates")]

    @default("extra_template_paths")
    def _extra_template_paths(self):
        return [os.path.join(_formgrader_dir(), "static", "node_modules", "bootstrap", "dist", "css")]

    @default("extra_loaders")
    def _extra_loaders(self):
        from jinja2 import DictLoader

        return [DictLoader(_NO_MATHJAX)]

    def default_filters(self):
        yield from super().default_filters()
        yield ("markdown2html", safe_markdown)

    def from_notebook_node(self, nb, resources=None, **kw):
        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.highlight import Highlight2HTML
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

        self.register_filter("highlight_code", Highlight2HTML(pygments_lexer="ipython3", parent=self))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata,
                                                                       parent=self, resources=resources))
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return with_csp(page), resources


def with_csp(page: str) -> str:
    """``page`` with the course's Content-Security-Policy as the first element of its head."""
    if "<head>" not in page:
        raise ValueError("the feedback template wrote no <head>: no place for the page's security policy")
    return page.replace("<head>", "<head>\n" + _CSP_META, 1)


#: What makes a page of a graded notebook, in order: the course's CLI registers them on its
#: exporter; stock ``generate_feedback`` runs nbgrader's GetGrades, then these (course.py).
PAGE_PREPROCESSORS = ("autograder.judge.feedback.StudentView", "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor")

_EXPORTER = None


def _exporter() -> FeedbackExporter:
    global _EXPORTER
    if _EXPORTER is None:
        _EXPORTER = FeedbackExporter()
        for name in PAGE_PREPROCESSORS:  # by name, as nbgrader registers them: built with the exporter as parent
            _EXPORTER.register_preprocessor(name)
    return _EXPORTER


def render(nb, notebook: str, score: float, max_score: float) -> str:
    """The page of autograded notebook ``nb`` (grades already on its cells: ``with_grades``)."""
    resources = {"nbgrader": {"notebook": notebook, "score": score, "max_score": max_score, "late_penalty": 0}}
    page, _ = _exporter().from_notebook_node(nb, resources=resources)
    return page


def page(nb, notebook: str, scores: dict[str, float], score: float, max_score: float,
         comments: dict[str, str | None] | None = None) -> str:
    """The feedback page of an autograded notebook given its grades: steps 1 and 2."""
    return render(with_grades(nb, scores, comments), notebook, score, max_score)

