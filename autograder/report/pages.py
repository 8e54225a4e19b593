"""The class report's HTML: ``index.html`` and one page per assignment, each one self-contained file.

Every page works offline and asks nothing of any host: its style is inline (allowed by its hash
in the page's Content-Security-Policy, which also allows images from ``data:`` and nothing else:
no script, font, frame or request), plots are embedded SVG, and every text that came from a
student or a check is escaped (excerpts are highlighted by Pygments, which escapes them). The
layout is one column that narrows to a phone's width (wide tables scroll inside their box), in the
site's light and dark colours, chosen by the reader's ``prefers-color-scheme``.

No student id appears on a page: counts only, and excerpts that ``excerpts.anonymise`` blanked.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from html import escape

from .counts import AssignmentReport, FunctionCount, MistakeCount
from .theme import DARK, LIGHT, THEMES, Theme


@dataclass(frozen=True)
class RunFacts:
    """How the run that wrote the report went."""

    graded: int                      # submissions graded by this run
    reused: int                      # submissions whose stored results were reused
    workers: str                     # "2 local workers", "a Dask cluster", "none needed"
    seconds_graded: float | None     # mean seconds per submission on a worker, this run's
    seconds_all: float | None        # the same over every result the report counts, when each was graded
    grading_wall: float | None       # seconds of the run's grading phase


def _vars(t: Theme) -> str:
    return (f"--bg:{t.background};--surface:{t.surface};--text:{t.text};--muted:{t.muted};"
            f"--border:{t.border};--primary:{t.primary};--accent:{t.accent};")


#: Pygments' token classes (HtmlFormatter, nowrap) -> colour, per theme.
_TOKENS = {
    "light": {"k,.kn,.kc,.kd,.ow": "#8045e5", "nf,.nc,.fm": "#0a7d91", "s,.s1,.s2,.sd,.sa,.se": "#00843f",
              "c,.c1,.cm,.ch": "#48566b", "mi,.mf,.il": "#b35d00", "nb,.bp": "#c132af"},
    "dark": {"k,.kn,.kc,.kd,.ow": "#b58cff", "nf,.nc,.fm": "#3fb1c5", "s,.s1,.s2,.sd,.sa,.se": "#5fb488",
             "c,.c1,.cm,.ch": "#9ca4af", "mi,.mf,.il": "#ff9245", "nb,.bp": "#e47fd7"},
}


def _tokens(t: Theme) -> str:
    return "".join(f"pre .{sel}{{color:{colour}}}" for sel, colour in _TOKENS[t.name].items())


STYLE = (
    ":root{color-scheme:light dark;" + _vars(LIGHT) + "}"
    + _tokens(LIGHT)
    + "@media (prefers-color-scheme:dark){:root{" + _vars(DARK) + "}" + _tokens(DARK) + "}"
    + "*{box-sizing:border-box}"
    "html{-webkit-text-size-adjust:100%}"
    "body{margin:0;background:var(--bg);color:var(--text);"
    "font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}"
    "main{max-width:60rem;margin:0 auto;padding:1rem 1rem 3rem}"
    "nav{font-size:.9rem;color:var(--muted)}"
    "h1{font-size:1.7rem;margin:.3rem 0 .2rem}h2{font-size:1.3rem;margin:2rem 0 .5rem;"
    "border-bottom:1px solid var(--border);padding-bottom:.2rem}h3{font-size:1.1rem;margin:1.4rem 0 .3rem}"
    "a{color:var(--primary)}p{margin:.4rem 0}.muted{color:var(--muted)}"
    "code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:.92em;"
    "overflow-wrap:anywhere}"
    ".stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(7rem,1fr));gap:.5rem;margin:.8rem 0}"
    ".stat{background:var(--surface);border-radius:.4rem;padding:.45rem .7rem}"
    ".stat b{display:block;font-size:1.35rem;font-variant-numeric:tabular-nums}"
    ".stat span{font-size:.85rem;color:var(--muted)}"
    "picture img{display:block;width:100%;height:auto;max-width:40rem}"
    ".scroll{overflow-x:auto;margin:.5rem 0}"
    "table{border-collapse:collapse;width:100%;font-size:.95rem}"
    "th,td{border-bottom:1px solid var(--border);padding:.35rem .5rem;text-align:left;vertical-align:top}"
    "th{background:var(--surface);font-weight:600}"
    ".num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "ol.mistakes{list-style:none;padding:0;margin:.4rem 0}"
    "ol.mistakes>li{display:grid;grid-template-columns:3.2rem minmax(0,1fr);column-gap:.6rem;padding:.35rem 0;"
    "border-bottom:1px solid var(--border)}"
    # a named mistake keeps its own lines (a hint such as "in forward: zeros(...) -> zeros(..., device=...)")
    ".text{white-space:pre-wrap;overflow-wrap:anywhere}"
    ".count{font-weight:700;text-align:right;font-variant-numeric:tabular-nums}"
    "meter{display:block;width:100%;max-width:16rem;height:.7rem;margin:.15rem 0}"
    "meter::-webkit-meter-bar{background:var(--surface);border:1px solid var(--border);border-radius:.3rem}"
    "meter::-webkit-meter-optimum-value{background:var(--primary);border-radius:.3rem}"
    "details{margin:.25rem 0}summary{cursor:pointer;color:var(--primary)}"
    "pre{background:var(--surface);border:1px solid var(--border);border-radius:.4rem;padding:.6rem .75rem;"
    "overflow-x:auto;font-size:.85rem;line-height:1.4;margin:.4rem 0}"
    "pre code{overflow-wrap:normal}"
    "figure{margin:.3rem 0 .8rem}figcaption{font-size:.85rem;color:var(--muted)}"
    "footer{margin-top:2.5rem;font-size:.85rem;color:var(--muted)}"
    "@media (max-width:40rem){main{padding:.75rem .7rem 2rem}h1{font-size:1.45rem}"
    "ol.mistakes>li{grid-template-columns:2.2rem minmax(0,1fr)}pre{white-space:pre-wrap;overflow-wrap:anywhere}"
    # a table turns into one card per row: each cell on its own line, headed by its column's name
    "table.cards thead{display:none}table.cards tr{display:block;border-bottom:1px solid var(--border);"
    "padding:.35rem 0}table.cards td{display:block;border:0;padding:.05rem 0;text-align:left}"
    "table.cards td[data-label]::before{content:attr(data-label) ': ';color:var(--muted)}}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src data:; base-uri 'none'; "
       "form-action 'none'")


def _page(title: str, body: str, digest: str | None = None) -> str:
    meta = f'<meta name="report-digest" content="{escape(digest)}">' if digest else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"{meta}<title>{escape(title)}</title><style>{STYLE}</style></head>\n"
            f"<body><main>\n{body}\n</main></body></html>\n")


def _n(x: float) -> str:
    return f"{x:g}"


def _mean(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _stat(value: str, label: str) -> str:
    return f'<div class="stat"><b>{value}</b><span>{escape(label)}</span></div>'


def _students(n: int) -> str:
    return f"{n} student" + ("" if n == 1 else "s")


def page_name(assignment: str) -> str:
    return f"{assignment}.html"


# ---------------------------------------------------------------- the index

def index_page(reports: tuple[AssignmentReport, ...], run: RunFacts, digest: str) -> str:
    rows = []
    for r in reports:
        # the commonest by the students who made it in that function itself (not carried from an earlier one)
        tops = sorted(((m.students - m.carried, k, f.function, m.text) for k, f in enumerate(r.functions)
                       for m in f.mistakes), key=lambda t: (-t[0], t[1], t[3]))
        top = (f'<code>{escape(tops[0][2])}</code>: <span class="text">{escape(tops[0][3])}</span> ({_students(tops[0][0])})' if tops
               else '<span class="muted">none named</span>')
        rows.append([f'<a href="{escape(page_name(r.assignment))}">{escape(r.assignment)}</a>', str(r.students),
                     str(r.no_submission), _mean(r.mean), _n(r.median), _n(r.max_score), top,
                     str(r.faulted)])
    table = _table([("assignment", ""), ("students", "num"), ("no submission", "num"), ("mean", "num"),
                    ("median", "num"), ("out of", "num"), ("commonest named mistake", ""), ("other failures, flags", "num")],
                   rows) if reports else "<p>No assignment was graded.</p>"
    body = (
        "<nav>Class report</nav><h1>What the class got wrong</h1>"
        "<p>Written by <code>python -m autograder grade</code> from the grades of every submission in "
        "<code>cells.csv</code> and the mistakes in <code>mistakes.csv</code> (one folder up, with the student ids). "
        "These pages name no student; they quote students' answers, so keep them within the teaching team.</p>"
        f'<section id="assignments"><h2>Assignments</h2>{table}'
        '<p class="muted">Mean and median count a missing submission as 0. “Other failures, flags”: the students '
        "who lost points to something other than a mistake in the code (time-outs, memory, kernels that died, "
        "missing or invalid notebooks, own-work refusals) or were flagged (tampering, an earlier release); each "
        "assignment's page lists them.</p></section>"
        + _run_section(run)
        + _footer()
    )
    return _page("Class report", body, digest)


def _run_section(run: RunFacts) -> str:
    items = [f"<li>{run.graded + run.reused} submissions: {run.graded} graded by this run, {run.reused} unchanged "
             "since an earlier run and reused</li>",
             f"<li>workers: {escape(run.workers)}</li>"]
    if run.seconds_graded is not None:
        items.append(f"<li>{run.seconds_graded:.2f} s per submission graded by this run (on a worker)</li>")
    if run.seconds_all is not None:
        items.append(f"<li>{run.seconds_all:.2f} s per submission over all the results counted here, "
                     "when each was graded</li>")
    if run.grading_wall is not None:
        items.append(f"<li>the grading phase took {run.grading_wall:.1f} s</li>")
    return ('<section id="run"><h2>How the grading went</h2><p class="muted">The run that wrote this report; a run '
            'that changes no result leaves the report as it was.</p><ul>' + "".join(items) + "</ul></section>")


def _footer() -> str:
    return ("<footer>Counted from cells.csv and mistakes.csv. A test cell is lost when it scored below its points, "
            "whatever the reason. A student failed a function in the code when one of its test cells was lost "
            "to a wrong result or an error of the student's code; each named mistake counts the students whose "
            "failures of that function named it (one student may show two), and “no name” the students none of "
            "whose failures did. Excerpts are the commonest answers among the students who made the mistake, "
            "student ids blanked out.</footer>")


# ---------------------------------------------------------------- one assignment

def assignment_page(r: AssignmentReport, plots: dict[str, bytes]) -> str:
    """``plots``: theme name -> the score histogram as SVG."""
    body = (
        f'<nav><a href="index.html">Class report</a> › {escape(r.assignment)}</nav>'
        f"<h1>{escape(r.assignment)}</h1>"
        + _scores(r, plots)
        + _functions(r)
        + _cells(r)
        + _faults(r)
        + _footer()
    )
    return _page(f"{r.assignment}: class report", body)


def _picture(plots: dict[str, bytes], alt: str) -> str:
    def uri(svg: bytes) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()

    dark = f'<source media="(prefers-color-scheme: dark)" srcset="{uri(plots[DARK.name])}">' if DARK.name in plots else ""
    return f'<picture>{dark}<img src="{uri(plots[LIGHT.name])}" alt="{escape(alt)}"></picture>'


def _scores(r: AssignmentReport, plots: dict[str, bytes]) -> str:
    stats = (_stat(str(r.students), "students")
             + _stat(str(r.no_submission), "no submission")
             + _stat(_mean(r.mean), "mean")
             + _stat(_n(r.median), "median")
             + _stat(_n(r.max_score), "points in all"))
    sub_median = "–" if r.submitted_median is None else _n(r.submitted_median)
    alt = (f"Histogram of the scores of the {_students(r.submitted)} who submitted {r.assignment}, out of "
           f"{_n(r.max_score)}: mean {_mean(r.submitted_mean)}, median {sub_median}.")
    plot = _picture(plots, alt) if plots and r.scores else '<p class="muted">No submission to plot.</p>'
    note = (f'<p class="muted">Mean and median over all {_students(r.students)}, a missing submission counting 0. '
            f"The {_students(r.submitted)} who submitted: mean {_mean(r.submitted_mean)}, median {sub_median}; "
            "the plot shows their scores.</p>")
    return f'<section id="scores"><h2>Scores</h2><div class="stats">{stats}</div>{note}{plot}</section>'


def _functions(r: AssignmentReport) -> str:
    return ('<section id="mistakes"><h2>Mistakes by function</h2>' + "".join(_function(r, f) for f in r.functions)
            + "</section>")


def _function(r: AssignmentReport, f: FunctionCount) -> str:
    head = f"<h3><code>{escape(f.function)}</code></h3>"
    if not f.failing and not f.not_written:
        body = f'<p class="muted">No student failed it in the code (of {_students(r.students)}).</p>'
    else:
        body = (f'<p><b class="failing">{f.failing}</b> of {_students(r.students)} failed it in the code'
                + (f"; {f.not_written} did not write it" if f.not_written else "") + ".</p>")
        items = "".join(_mistake(m, f.failing) for m in f.mistakes)
        if f.failing:
            share = round(100 * f.unnamed / f.failing)
            items += (f'<li class="unnamed"><span class="count">{f.unnamed}</span><div>'
                      f'<meter min="0" max="{f.failing}" value="{f.unnamed}"></meter>'
                      f'<span class="muted">no mistake named ({share}% of the {f.failing} who failed it)</span></div></li>')
        body += f'<ol class="mistakes">{items}</ol>' if items else ""
    return f'<section class="function" id="fn-{escape(f.function)}">{head}{body}</section>'


def _mistake(m: MistakeCount, failing: int) -> str:
    excerpts = ""
    if m.excerpts:
        shown = "".join(_excerpt(e) for e in m.excerpts)
        n = len(m.excerpts)
        excerpts = f"<details><summary>{n} excerpt{'s' if n > 1 else ''} of the answers</summary>{shown}</details>"
    carried = ""
    if m.carried:
        origin = ", ".join(f"<code>{escape(fn)}</code>" for fn in m.carried_from)
        carried = (f'<br><span class="muted">{m.carried} of them made it in {origin} already, which this function '
                   "likely calls: their answers here are not excerpted.</span>")
    return (f'<li class="mistake"><span class="count">{m.students}</span><div><meter min="0" max="{max(failing, 1)}" '
            f'value="{m.students}"></meter><span class="text">{escape(m.text)}</span>{carried}{excerpts}</div></li>')


def _excerpt(e) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    code = highlight(e.text, PythonLexer(), HtmlFormatter(nowrap=True))  # escapes the text
    who = f"written so by {_students(e.students)}" + (" (cut)" if e.cut else "")
    return f"<figure><pre><code>{code}</code></pre><figcaption>{who}</figcaption></figure>"


def _table(columns: list[tuple[str, str]], rows: list[list[str]]) -> str:
    """A table that turns into one card per row on a phone. ``columns``: (heading, css class);
    ``rows``: cells as HTML."""
    head = "".join(f'<th class="{cls}">{escape(name)}</th>' if cls else f"<th>{escape(name)}</th>" for name, cls in columns)
    body = "".join("<tr>" + "".join(
        f'<td data-label="{escape(name)}"' + (f' class="{cls}"' if cls else "") + f">{cell}</td>"
        for (name, cls), cell in zip(columns, row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table class="cards"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _cells(r: AssignmentReport) -> str:
    rows = [[f"<code>{escape(c.grade_id)}</code>", _n(c.points), str(c.lost),
             " · ".join(f"{n} {escape(reason)}" for reason, n in c.reasons) or '<span class="muted">–</span>']
            for c in r.cells]
    return ('<section id="cells"><h2>Test cells</h2><p>How many of the '
            f"{_students(r.students)} lost each test cell, and why.</p>"
            + _table([("test cell", ""), ("points", "num"), ("lost by", "num"), ("why", "")], rows) + "</section>")


def _faults(r: AssignmentReport) -> str:
    head = '<section id="faults"><h2>Failures that are not mistakes in the code</h2>'
    if not r.faults:
        return head + "<p>None: every lost point was lost to the code.</p></section>"
    rows = [[escape(f.label), str(f.submissions), str(f.cells),
             ", ".join(f"<code>{escape(g)}</code>" for g in f.grade_ids) or "–"] for f in r.faults]
    return (head + "<p>Submissions (students) and test cells, with the test cells they hit; the cells.csv "
            "statuses, the grading log and each student's feedback page say more.</p>"
            + _table([("what", ""), ("submissions", "num"), ("test cells", "num"), ("test cells hit", "")], rows)
            + "</section>")


def all_pages(reports: tuple[AssignmentReport, ...], run: RunFacts, digest: str, plot) -> dict[str, str]:
    """File name -> page. ``plot(report, theme)`` draws a report's score histogram (plots.py)."""
    pages = {"index.html": index_page(reports, run, digest)}
    for r in reports:
        plots = {t.name: plot(r, t) for t in THEMES} if r.scores else {}
        pages[page_name(r.assignment)] = assignment_page(r, plots)
    return pages
